//! Output: printed lines and named sections.

use super::{StepTable, body};
use crate::scenario::model::{OutputStep, StepKind};
use crate::scenario::validate::Ctx;
use crate::scenario::validate::fields::{string, template};
use crate::scenario::validate::names::{Names, Scope};

/// Reads a step table whose verb is of this family into a [`OutputStep`].
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    let (verb, v, at) = (t.verb, t.value, t.at);
    let get = |k: &str| t.get(k);
    let step = match verb {
        "print" => OutputStep::Print(template(cx, scope, v)?),
        "section" => OutputStep::Section {
            name: string(cx, v, "a section name")?,
            body: body(cx, names, scope, get("steps"), verb, at)?,
        },
        _ => unreachable!("the verb table puts `{verb}` in the output family"),
    };
    Some(StepKind::Output(step))
}

/// Whether a callback may run this step: a callback is a plain function the
/// loop calls, so its steps never await.
pub(super) fn is_plain(s: &OutputStep) -> bool {
    match s {
        OutputStep::Print(_) => true,
        OutputStep::Section { .. } => false,
    }
}
