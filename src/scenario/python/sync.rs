//! Translating sync steps to Python.

use super::{Unsupported, Writer, prim};
use crate::scenario::model::SyncStep;

impl Writer {
    /// Writes a SyncStep as Python lines.
    pub(super) fn sync(&mut self, step: &SyncStep) -> Result<(), Unsupported> {
        match step {
            SyncStep::Lock { name, body } | SyncStep::Semaphore { name, body } => {
                self.line(&format!("async with {}:", prim(name)));
                self.block(body)?;
            }
            SyncStep::Acquire(n) => self.line(&format!("await {}.acquire()", prim(n))),
            SyncStep::Release(n) => self.line(&format!("{}.release()", prim(n))),
            SyncStep::Condition { name, body } => {
                self.line(&format!("async with {}:", prim(name)));
                self.block(body)?;
            }
            SyncStep::CondWait(n) => self.line(&format!("await {}.wait()", prim(n))),
            SyncStep::Notify { name, n } => {
                let n = self.expr(n)?;
                self.line(&format!("{}.notify({n})", prim(name)));
            }
            SyncStep::NotifyAll(n) => self.line(&format!("{}.notify_all()", prim(n))),
            SyncStep::BarrierWait { name, into } => {
                self.assign(into, &format!("await {}.wait()", prim(name)))
            }
            SyncStep::BarrierAbort(n) => self.line(&format!("await {}.abort()", prim(n))),
            SyncStep::BarrierReset(n) => self.line(&format!("await {}.reset()", prim(n))),
            SyncStep::EventSet(n) => self.line(&format!("{}.set()", prim(n))),
            SyncStep::EventWait(n) => self.line(&format!("await {}.wait()", prim(n))),
            SyncStep::EventClear(n) => self.line(&format!("{}.clear()", prim(n))),
            SyncStep::Put {
                queue,
                value,
                nowait,
            } => {
                let v = self.expr(value)?;
                if *nowait {
                    self.line(&format!("{}.put_nowait({v})", prim(queue)));
                } else {
                    self.line(&format!("await {}.put({v})", prim(queue)));
                }
            }
            SyncStep::Get {
                queue,
                into,
                nowait,
            } => {
                let call = if *nowait {
                    format!("{}.get_nowait()", prim(queue))
                } else {
                    format!("await {}.get()", prim(queue))
                };
                self.assign(into, &call);
            }
            SyncStep::TaskDone(n) => self.line(&format!("{}.task_done()", prim(n))),
            SyncStep::Join(n) => self.line(&format!("await {}.join()", prim(n))),
        }
        Ok(())
    }
}
