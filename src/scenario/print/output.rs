//! Writing output steps back to step tables.

use super::{steps, template};
use crate::scenario::model::OutputStep;
use toml::Value;

/// The keys of a OutputStep's table.
pub(super) fn step(k: &OutputStep, mut set: impl FnMut(&str, Value)) {
    match k {
        OutputStep::Print(p) => set("print", Value::String(template(p))),
        OutputStep::Section { name, body } => {
            set("section", Value::String(name.clone()));
            set("steps", steps(body));
        }
    }
}
