//! Translating futures steps to Python.

use super::{Unsupported, Writer};
use crate::scenario::model::FutureStep;

impl Writer {
    /// Writes a FutureStep as Python lines.
    pub(super) fn futures(&mut self, step: &FutureStep) -> Result<(), Unsupported> {
        match step {
            FutureStep::NewFuture(var) => {
                let var = self.var(var);
                self.line(&format!(
                    "{var} = asyncio.get_running_loop().create_future()"
                ))
            }
            FutureStep::SetResult { future, value } => {
                let v = self.expr(value)?;
                let future = self.var(future);
                self.line(&format!("{future}.set_result({v})"));
            }
            FutureStep::CallLater {
                delay,
                future,
                value,
            } => {
                let (d, v) = (self.expr(delay)?, self.expr(value)?);
                let future = self.var(future);
                self.line(&format!(
                    "asyncio.get_running_loop().call_later({d}, {future}.set_result, {v})"
                ));
            }
            FutureStep::Callback { delay, body } => {
                self.tmp += 1;
                let name = format!("__cb{}", self.tmp);
                // The callback sees a copy of the variables now (as loopsim
                // does): a default argument, evaluated here.
                let snapshot = if self.callback {
                    "dict(__v)"
                } else {
                    "dict(locals())"
                };
                self.line(&format!("def {name}(__v={snapshot}):"));
                let outer = std::mem::replace(&mut self.callback, true);
                self.block(body)?;
                self.callback = outer;
                match delay {
                    Some(d) => {
                        let d = self.expr(d)?;
                        self.line(&format!(
                            "asyncio.get_running_loop().call_later({d}, {name})"
                        ));
                    }
                    None => self.line(&format!("asyncio.get_running_loop().call_soon({name})")),
                }
            }
        }
        Ok(())
    }
}
