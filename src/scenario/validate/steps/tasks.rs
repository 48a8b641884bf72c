//! Tasks: `sleep` and `block`, and creating, awaiting, cancelling and
//! combining tasks.

use super::{StepTable, body, no_loop_body};
use crate::scenario::expr::Expr;
use crate::scenario::model::{StepKind, Target, TaskStep};
use crate::scenario::validate::Ctx;
use crate::scenario::validate::fields::{
    bool_field, check_const_duration, coroutine_call, each, target, targets, template, value_expr,
    var_def,
};
use crate::scenario::validate::names::{Names, Scope};

/// Reads a step table whose verb is of this family into a [`TaskStep`].
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    let (verb, v, at) = (t.verb, t.value, t.at);
    let get = |k: &str| t.get(k);
    let step = match verb {
        "sleep" | "block" => {
            let e = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &e, v.span().start);
            if verb == "sleep" {
                TaskStep::Sleep(e)
            } else {
                TaskStep::Block(e)
            }
        }
        "await" => {
            let target = target(cx, names, scope, v)?;
            if let Target::Value(Expr::Call(n, _)) = &target
                && n == "current_task"
            {
                cx.err(
                    v.span().start,
                    "a task cannot await itself",
                    Some("await another task's handle".into()),
                );
            }
            TaskStep::Await {
                target,
                into: var_def(cx, scope, get("into")),
            }
        }
        "unawaited" => TaskStep::Unawaited(coroutine_call(cx, names, scope, v, false)?),
        "spawn" | "create_task" => TaskStep::Spawn {
            call: coroutine_call(cx, names, scope, v, false)?,
            bind: var_def(cx, scope, get("as")),
            name: match get("name") {
                Some(n) => Some(template(cx, scope, n)?),
                None => None,
            },
        },
        "cancel" => match get("message") {
            Some(m) => TaskStep::CancelWith {
                task: value_expr(cx, names, scope, v)?,
                message: template(cx, scope, m)?,
            },
            None => TaskStep::Cancel(value_expr(cx, names, scope, v)?),
        },
        "gather" => TaskStep::Gather {
            each: each(cx, names, scope, get("for"), get("in"), at)?,
            items: targets(cx, names, scope, v)?,
            return_exceptions: bool_field(cx, get("return_exceptions")),
            into: var_def(cx, scope, get("into")),
        },
        "wait_for" => {
            let Some(t) = get("timeout") else {
                cx.err(at, "`wait_for` needs `timeout = \"…\"`", None);
                return None;
            };
            let timeout = value_expr(cx, names, scope, t)?;
            check_const_duration(cx, &timeout, t.span().start);
            TaskStep::WaitFor {
                target: target(cx, names, scope, v)?,
                timeout,
                into: var_def(cx, scope, get("into")),
            }
        }
        "timeout" => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &delay, v.span().start);
            TaskStep::Timeout {
                delay,
                body: body(cx, names, scope, get("steps"), verb, at)?,
            }
        }
        "as_completed" => {
            let each = each(cx, names, scope, get("for"), get("in"), at)?;
            let items = targets(cx, names, scope, v)?;
            let Some(bind) = var_def(cx, scope, get("as")) else {
                cx.err(
                    at,
                    "`as_completed` needs `as = \"result\"` to name each result",
                    None,
                );
                return None;
            };
            let timeout = match get("timeout") {
                Some(t) => Some(value_expr(cx, names, scope, t)?),
                None => None,
            };
            TaskStep::AsCompleted {
                items,
                each,
                bind,
                body: no_loop_body(cx, names, scope, get("steps"), verb, at)?,
                timeout,
            }
        }
        "task_group" => {
            let each = each(cx, names, scope, get("for"), get("in"), at)?;
            let items = targets(cx, names, scope, v)?;
            let mut calls = Vec::new();
            for t in items {
                match t {
                    Target::Call(c) => calls.push(c),
                    Target::Value(_) => {
                        cx.err(
                            v.span().start,
                            "`task_group` takes coroutine calls like \"fetch(1)\"",
                            None,
                        );
                        return None;
                    }
                }
            }
            TaskStep::TaskGroup {
                calls,
                each,
                into: var_def(cx, scope, get("into")),
            }
        }
        "shield" => TaskStep::Shield {
            target: target(cx, names, scope, v)?,
            into: var_def(cx, scope, get("into")),
        },
        _ => unreachable!("the verb table puts `{verb}` in the tasks family"),
    };
    Some(StepKind::Tasks(step))
}

/// Whether a callback may run this step: a callback is a plain function the
/// loop calls, so its steps never await.
pub(super) fn is_plain(s: &TaskStep) -> bool {
    matches!(
        s,
        TaskStep::Cancel(_)
            | TaskStep::CancelWith { .. }
            | TaskStep::Spawn { .. }
            | TaskStep::Unawaited(_)
            | TaskStep::Block(_)
    )
}
