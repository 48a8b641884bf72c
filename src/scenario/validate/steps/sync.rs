//! Synchronisation: locks, semaphores, conditions, barriers, events and
//! queues, each named by a declared primitive.

use super::{StepTable, body};
use crate::scenario::expr::Expr;
use crate::scenario::model::{ControlStep, Step, StepKind, SyncStep};
use crate::scenario::validate::Ctx;
use crate::scenario::validate::fields::{opt_value, primitive_ref, value_expr, var_def};
use crate::scenario::validate::names::{Names, Scope};
use std::rc::Rc;

/// Reads a step table whose verb is of this family into a [`SyncStep`] (`wait` with `until` reads as a `while` loop).
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    if t.verb == "wait" {
        return wait(cx, names, scope, t);
    }
    let (verb, v, at) = (t.verb, t.value, t.at);
    let get = |k: &str| t.get(k);
    let step = match verb {
        "lock" | "semaphore" => {
            let name = primitive_ref(cx, names, v, verb)?;
            let body = body(cx, names, scope, get("steps"), verb, at)?;
            if verb == "lock" {
                SyncStep::Lock { name, body }
            } else {
                SyncStep::Semaphore { name, body }
            }
        }
        "condition" => SyncStep::Condition {
            name: primitive_ref(cx, names, v, "condition")?,
            body: body(cx, names, scope, get("steps"), verb, at)?,
        },
        "notify" => SyncStep::Notify {
            name: primitive_ref(cx, names, v, "condition")?,
            n: match get("n") {
                Some(n) => value_expr(cx, names, scope, n)?,
                None => Expr::Int(1),
            },
        },
        "barrier_wait" => SyncStep::BarrierWait {
            name: primitive_ref(cx, names, v, "barrier")?,
            into: var_def(cx, scope, get("into")),
        },
        "barrier_abort" => SyncStep::BarrierAbort(primitive_ref(cx, names, v, "barrier")?),
        "barrier_reset" => SyncStep::BarrierReset(primitive_ref(cx, names, v, "barrier")?),
        "notify_all" => SyncStep::NotifyAll(primitive_ref(cx, names, v, "condition")?),
        "acquire" => SyncStep::Acquire(primitive_ref(cx, names, v, "lock or semaphore")?),
        "release" => SyncStep::Release(primitive_ref(cx, names, v, "lock or semaphore")?),
        "event_set" => SyncStep::EventSet(primitive_ref(cx, names, v, "event")?),
        "event_wait" => SyncStep::EventWait(primitive_ref(cx, names, v, "event")?),
        "event_clear" => SyncStep::EventClear(primitive_ref(cx, names, v, "event")?),
        "put" | "put_nowait" => SyncStep::Put {
            queue: primitive_ref(cx, names, v, "queue")?,
            value: opt_value(cx, names, scope, get("value"))?,
            nowait: verb == "put_nowait",
        },
        "get" | "get_nowait" => SyncStep::Get {
            queue: primitive_ref(cx, names, v, "queue")?,
            into: var_def(cx, scope, get("into")),
            nowait: verb == "get_nowait",
        },
        "task_done" => SyncStep::TaskDone(primitive_ref(cx, names, v, "queue")?),
        "join" => SyncStep::Join(primitive_ref(cx, names, v, "queue")?),
        _ => unreachable!("the verb table puts `{verb}` in the sync family"),
    };
    Some(StepKind::Sync(step))
}

/// `wait = "c"`: `await c.wait()`; with `until`, `await c.wait_for(pred)`.
fn wait(cx: &mut Ctx<'_>, names: &Names, scope: &mut Scope, t: &StepTable<'_>) -> Option<StepKind> {
    let name = primitive_ref(cx, names, t.value, "condition")?;
    let wait = Step {
        line: cx.line(t.at),
        kind: StepKind::Sync(SyncStep::CondWait(name)),
    };
    match t.get("until") {
        // `await cond.wait_for(pred)` is CPython's `while not pred:
        // await cond.wait()`, hop for hop.
        Some(u) => Some(StepKind::Control(ControlStep::While {
            cond: Expr::Not(Box::new(value_expr(cx, names, scope, u)?)),
            body: Rc::from(vec![wait]),
        })),
        None => Some(wait.kind),
    }
}

/// Whether a callback may run this step: a callback is a plain function the
/// loop calls, so its steps never await.
pub(super) fn is_plain(s: &SyncStep) -> bool {
    matches!(
        s,
        SyncStep::EventSet(_)
            | SyncStep::EventClear(_)
            | SyncStep::Put { nowait: true, .. }
            | SyncStep::Get { nowait: true, .. }
            | SyncStep::TaskDone(_)
    )
}
