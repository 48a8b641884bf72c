//! Executing one step: each family of steps runs in a file of its own,
//! through the public API.

use super::vm::Vm;
use crate::error::Error;
use crate::scenario::model::{Step, StepKind};

mod control;
mod futures;
mod io;
mod net;
mod output;
mod sync;
mod tasks;

impl Vm {
    /// Executes one step.
    pub(super) fn exec(&mut self, step: &Step) -> Result<(), Error> {
        self.line = step.line;
        self.count_step(Some(step.line))?;
        match &step.kind {
            StepKind::Control(s) => self.exec_control(s),
            StepKind::Tasks(s) => self.exec_task(s),
            StepKind::Sync(s) => self.exec_sync(s),
            StepKind::Futures(s) => self.exec_future(s),
            StepKind::Output(s) => self.exec_output(s),
            StepKind::Io(s) => self.exec_io(s),
            StepKind::Net(s) => self.exec_net(s),
        }
    }
}
