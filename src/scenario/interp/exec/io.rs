//! Simulated I/O: a service call, work in a thread or process pool,
//! through the public API (`loopsim::io`).

use crate::error::Error;
use crate::io::{Work, to_thread};
use crate::scenario::interp::PoolInst;
use crate::scenario::interp::vm::{Then, Vm};
use crate::scenario::model::IoStep;
use crate::scenario::value::Value;

impl Vm {
    /// Executes an I/O step: one request, or one job in a pool.
    pub(super) fn exec_io(&mut self, step: &IoStep) -> Result<(), Error> {
        let work = |d, cpu: bool| if cpu { Work::Cpu(d) } else { Work::Io(d) };
        match step {
            IoStep::Call { service } => {
                let api = self.prog.services[service].clone();
                self.start_val(
                    async move {
                        api.call().await?;
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
            IoStep::ToThread { duration, cpu } => {
                let w = work(self.duration(duration)?.as_duration(), *cpu);
                self.start_val(
                    async move {
                        to_thread(w).await?;
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
            IoStep::RunInExecutor {
                pool,
                duration,
                cpu,
            } => {
                let w = work(self.duration(duration)?.as_duration(), *cpu);
                let pool = self.prog.pools[pool].clone();
                self.start_val(
                    async move {
                        match pool {
                            PoolInst::Threads(p) => p.run(w).await?,
                            PoolInst::Processes(p) => p.run(w).await?,
                        }
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
        }
        Ok(())
    }
}
