//! Output: printed lines (counted against the output limits) and sections.

use crate::error::Error;
use crate::print;
use crate::scenario::interp::vm::{Guard, Kind, Vm};
use crate::scenario::model::OutputStep;
use crate::section;

impl Vm {
    /// Executes an output step.
    pub(super) fn exec_output(&mut self, step: &OutputStep) -> Result<(), Error> {
        match step {
            OutputStep::Print(t) => {
                let text = self.render(t)?;
                let lines = self.prog.lines.get() + 1;
                self.prog.lines.set(lines);
                if lines > self.prog.scenario.settings.max_output_lines {
                    return Err(self.over_limit(
                        "max_output_lines",
                        self.prog.scenario.settings.max_output_lines,
                        self.line,
                        "printed lines",
                    ));
                }
                let bytes = self.prog.output_bytes.get() + text.len() as u64;
                self.prog.output_bytes.set(bytes);
                if bytes > self.prog.scenario.settings.max_output_bytes {
                    return Err(self.over_limit(
                        "max_output_bytes",
                        self.prog.scenario.settings.max_output_bytes,
                        self.line,
                        "printed bytes",
                    ));
                }
                print(text);
            }
            OutputStep::Section { name, body } => {
                let g = section(name);
                self.push_block(body.clone(), Kind::Guard(Some(Guard::Section(g))));
            }
        }
        Ok(())
    }
}
