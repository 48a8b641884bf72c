//! Translating output steps to Python.

use super::{Unsupported, Writer};
use crate::scenario::model::OutputStep;

impl Writer {
    /// Writes a OutputStep as Python lines.
    pub(super) fn output(&mut self, step: &OutputStep) -> Result<(), Unsupported> {
        match step {
            OutputStep::Print(t) => {
                let f = self.template(t)?;
                self.line(&format!("say({f})"));
            }
            OutputStep::Section { body, .. } => {
                self.line("if True:");
                self.block(body)?;
            }
        }
        Ok(())
    }
}
