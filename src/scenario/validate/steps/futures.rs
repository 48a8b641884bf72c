//! Futures and the loop's callbacks.

use super::{StepTable, callback_body};
use crate::scenario::model::{FutureStep, StepKind};
use crate::scenario::validate::Ctx;
use crate::scenario::validate::fields::{
    check_const_delay, opt_value, value_expr, var_def, var_use,
};
use crate::scenario::validate::names::{Names, Scope};

/// Reads a step table whose verb is of this family into a [`FutureStep`].
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    let (verb, v, at) = (t.verb, t.value, t.at);
    let get = |k: &str| t.get(k);
    let step = match verb {
        "future" => FutureStep::NewFuture(var_def(cx, scope, Some(v))?),
        "call_soon" => FutureStep::Callback {
            delay: None,
            body: callback_body(cx, names, scope, v)?,
        },
        "call_later" if get("steps").is_some() => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_delay(cx, &delay, v.span().start);
            if get("set_result").is_some() {
                cx.err(
                    at,
                    "`call_later` takes `steps` or `set_result`, not both",
                    None,
                );
            }
            FutureStep::Callback {
                delay: Some(delay),
                body: callback_body(cx, names, scope, get("steps").expect("checked"))?,
            }
        }
        "call_later" => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_delay(cx, &delay, v.span().start);
            let Some(f) = get("set_result") else {
                cx.err(
                    at,
                    "`call_later` needs `steps = [ … ]` (a callback) or `set_result = \"future\"`",
                    None,
                );
                return None;
            };
            let future = var_use(cx, scope, f)?;
            FutureStep::CallLater {
                delay,
                future,
                value: opt_value(cx, names, scope, get("value"))?,
            }
        }
        "set_result" => FutureStep::SetResult {
            future: var_use(cx, scope, v)?,
            value: opt_value(cx, names, scope, get("value"))?,
        },
        _ => unreachable!("the verb table puts `{verb}` in the futures family"),
    };
    Some(StepKind::Futures(step))
}

/// Whether a callback may run this step: a callback is a plain function the
/// loop calls, so its steps never await.
pub(super) fn is_plain(s: &FutureStep) -> bool {
    match s {
        FutureStep::NewFuture(_)
        | FutureStep::SetResult { .. }
        | FutureStep::CallLater { .. }
        | FutureStep::Callback { .. } => true,
    }
}
