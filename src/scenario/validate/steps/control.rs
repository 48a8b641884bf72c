//! Control flow: variables, branches, loops, exceptions, `return`, `yield`,
//! `async_for` and `async_with`.

use super::{StepTable, body, loop_body, no_loop_body, step_list};
use crate::scenario::expr::Expr;
use crate::scenario::model::{ControlStep, Handler, StepKind};
use crate::scenario::validate::Ctx;
use crate::scenario::validate::fields::{
    coroutine_call, string, string_list, template, value_expr, var_def,
};
use crate::scenario::validate::names::{Names, Scope};
use crate::scenario::validate::raw::RValue;
use crate::scenario::validate::text::is_ident;
use std::rc::Rc;

/// Reads a step table whose verb is of this family into a [`ControlStep`].
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    let (verb, v, at) = (t.verb, t.value, t.at);
    let get = |k: &str| t.get(k);
    let step = match verb {
        "raise" if matches!(v.get_ref(), RValue::Bool(true)) => {
            if get("message").is_some() {
                cx.err(
                    at,
                    "a bare `raise = true` re-raises: it takes no `message`",
                    None,
                );
            }
            if scope.handlers == 0 {
                cx.err(
                    at,
                    "a bare `raise = true` outside an `except` handler: there is nothing to re-raise",
                    Some("name a class: `{ raise = \"ValueError\" }`".into()),
                );
            }
            ControlStep::Reraise
        }
        "raise" => {
            let kind = string(cx, v, "an exception class name like \"ValueError\"")?;
            let kind = crate::scenario::exceptions::canonical(&kind).to_string();
            if !is_ident(&kind) {
                cx.err(
                    v.span().start,
                    format!("`{kind}` is not an exception class name"),
                    None,
                );
            }
            ControlStep::Raise {
                kind,
                message: match get("message") {
                    Some(m) => Some(template(cx, scope, m)?),
                    None => None,
                },
            }
        }
        "try" => {
            let body_steps = step_list(cx, names, scope, v)?;
            let handler = match get("except") {
                Some(e) => {
                    let kinds: Vec<String> = string_list(cx, e)?
                        .iter()
                        .map(|k| crate::scenario::exceptions::canonical(k).to_string())
                        .collect();
                    let bind = var_def(cx, scope, get("as"));
                    let Some(h) = get("handler") else {
                        cx.err(
                            e.span().start,
                            "`except` needs `handler = [ … ]` (use [] to ignore the error)",
                            None,
                        );
                        return None;
                    };
                    scope.handlers += 1;
                    let body = step_list(cx, names, scope, h);
                    scope.handlers -= 1;
                    Some(Handler {
                        kinds,
                        bind,
                        body: body?,
                    })
                }
                None => {
                    if let Some(h) = get("handler") {
                        cx.err(
                            h.span().start,
                            "`handler` needs `except = \"ErrorKind\"`",
                            None,
                        );
                    }
                    None
                }
            };
            let finally = match get("finally") {
                Some(f) => step_list(cx, names, scope, f)?,
                None => Rc::from(Vec::new()),
            };
            if handler.is_none() && finally.is_empty() {
                cx.err(
                    at,
                    "`try` needs `except` (with `handler`) or `finally`",
                    None,
                );
            }
            ControlStep::Try {
                body: body_steps,
                handler,
                finally,
            }
        }
        "if" => {
            let cond = value_expr(cx, names, scope, v)?;
            let Some(t) = get("then") else {
                cx.err(at, "`if` needs `then = [ … ]`", None);
                return None;
            };
            let then = step_list(cx, names, scope, t)?;
            let otherwise = match get("else") {
                Some(e) => step_list(cx, names, scope, e)?,
                None => Rc::from(Vec::new()),
            };
            ControlStep::If {
                cond,
                then,
                otherwise,
            }
        }
        "while" => ControlStep::While {
            cond: value_expr(cx, names, scope, v)?,
            body: loop_body(cx, names, scope, get("steps"), verb, at)?,
        },
        "break" | "continue" => {
            if !matches!(v.get_ref(), RValue::Bool(true)) {
                cx.err(v.span().start, format!("write `{{ {verb} = true }}`"), None);
            }
            if scope.loops == 0 {
                cx.err(
                    at,
                    format!("`{verb}` outside a loop: it belongs inside the steps of a `repeat`, `for` or `while`"),
                    None,
                );
            }
            if verb == "break" {
                ControlStep::Break
            } else {
                ControlStep::Continue
            }
        }
        "return" => ControlStep::Return(match v.get_ref() {
            RValue::Str(s) if s.is_empty() => None,
            _ => Some(value_expr(cx, names, scope, v)?),
        }),
        "repeat" => {
            let times = value_expr(cx, names, scope, v)?;
            if matches!(
                times,
                Expr::Float(_) | Expr::Str(_) | Expr::Duration(_) | Expr::List(_)
            ) {
                cx.err(
                    v.span().start,
                    "`repeat` count must be an integer (a count of rounds)",
                    None,
                );
            }
            if let Expr::Int(n) = times
                && n < 0
            {
                cx.err(
                    v.span().start,
                    format!("`repeat` count must be 0 or more, not {n}"),
                    None,
                );
            }
            let index = var_def(cx, scope, get("index"));
            ControlStep::Repeat {
                times,
                index,
                body: loop_body(cx, names, scope, get("steps"), verb, at)?,
            }
        }
        "for" => {
            let var = var_def(cx, scope, Some(v))?;
            let Some(i) = get("in") else {
                cx.err(at, "`for` needs `in = \"a list\"`", None);
                return None;
            };
            ControlStep::For {
                var,
                iter: value_expr(cx, names, scope, i)?,
                body: loop_body(cx, names, scope, get("steps"), verb, at)?,
            }
        }
        "async_for" => {
            let var = var_def(cx, scope, Some(v))?;
            let Some(i) = get("in") else {
                cx.err(at, "`async_for` needs `in = \"generator(args)\"`", None);
                return None;
            };
            let generator = coroutine_call(cx, names, scope, i, false)?;
            ControlStep::AsyncFor {
                var,
                generator,
                body: no_loop_body(cx, names, scope, get("steps"), verb, at)?,
            }
        }
        "async_with" => ControlStep::AsyncWith {
            ctx: coroutine_call(cx, names, scope, v, true)?,
            bind: var_def(cx, scope, get("as")),
            body: body(cx, names, scope, get("steps"), verb, at)?,
        },
        "yield" => ControlStep::Yield(value_expr(cx, names, scope, v)?),
        "set" => {
            let var = var_def(cx, scope, Some(v))?;
            let Some(to) = get("to") else {
                cx.err(at, "`set` needs `to = \"value\"`", None);
                return None;
            };
            ControlStep::Set {
                var,
                value: value_expr(cx, names, scope, to)?,
            }
        }
        _ => unreachable!("the verb table puts `{verb}` in the control family"),
    };
    Some(StepKind::Control(step))
}

/// Whether a callback may run this step: a callback is a plain function the
/// loop calls, so its steps never await.
pub(super) fn is_plain(s: &ControlStep) -> bool {
    matches!(
        s,
        ControlStep::Set { .. }
            | ControlStep::If { .. }
            | ControlStep::Repeat { .. }
            | ControlStep::For { .. }
            | ControlStep::While { .. }
            | ControlStep::Break
            | ControlStep::Continue
            | ControlStep::Try { .. }
            | ControlStep::Raise { .. }
            | ControlStep::Reraise
    )
}
