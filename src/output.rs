//! What a program shows: printed lines and named sections, both recorded in
//! the trace with the current time and task.

use crate::engine;
use crate::trace::EventKind;
use std::fmt::Display;

/// Prints a line (Python's `print` in a coroutine): recorded with the
/// current time and task, returned in [`Run::output`](crate::Run::output).
pub fn print(line: impl Display) {
    let text = line.to_string();
    engine::with_core("print", |c| c.print(text));
}

/// Marks the current task as inside the section `name` until the guard is
/// dropped (recorded in the trace; claims such as "at most 3 tasks at once
/// inside `download`" read it).
pub fn section(name: &str) -> SectionGuard {
    let name = name.to_string();
    engine::with_core("section", |c| {
        let sym = c.intern(&name);
        let task = c.current();
        c.record(task, EventKind::SectionEntered { name: sym });
    });
    SectionGuard { name }
}

/// Returned by [`section`]; leaves the section when dropped.
#[must_use = "dropping the guard leaves the section at once"]
#[derive(Debug)]
pub struct SectionGuard {
    name: String,
}

impl Drop for SectionGuard {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        engine::try_with_core(|c| {
            let sym = c.intern(&name);
            let task = c.current();
            c.record(task, EventKind::SectionExited { name: sym });
        });
    }
}
