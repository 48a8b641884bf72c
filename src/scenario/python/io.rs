//! Translating simulated I/O steps to Python: work in thread pools runs on
//! the judge's `VirtualThreadPool` (its jobs are world events of the virtual
//! clock) through asyncio's own `to_thread` and `run_in_executor`.

use super::{Unsupported, Writer};
use crate::scenario::model::IoStep;

impl Writer {
    /// Writes an IoStep as Python lines.
    pub(super) fn io(&mut self, step: &IoStep) -> Result<(), Unsupported> {
        match step {
            IoStep::Call { service } => {
                return Err(Unsupported(format!(
                    "a call to service `{service}` (the judge has no simulated services)"
                )));
            }
            IoStep::ToThread { cpu: true, .. } | IoStep::RunInExecutor { cpu: true, .. } => {
                return Err(Unsupported(
                    "CPU-bound work in a pool (the judge has no model of the GIL or of cores)"
                        .into(),
                ));
            }
            IoStep::ToThread { duration, .. } => {
                let d = self.expr(duration)?;
                self.line(&format!("await asyncio.to_thread(io_work, {d})"));
            }
            IoStep::RunInExecutor { pool, duration, .. } => {
                if !self.thread_pools.contains(pool) {
                    return Err(Unsupported(format!(
                        "process pool `{pool}` (the judge runs thread pools only)"
                    )));
                }
                let d = self.expr(duration)?;
                self.line(&format!(
                    "await asyncio.get_running_loop().run_in_executor(pool_{pool}, io_work, {d})"
                ));
            }
        }
        Ok(())
    }
}
