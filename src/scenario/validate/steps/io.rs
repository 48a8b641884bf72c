//! Simulated I/O: `call` a service, `to_thread` and `run_in_executor`.

use super::StepTable;
use crate::scenario::model::{IoStep, StepKind};
use crate::scenario::validate::fields::{check_const_duration, string, value_expr};
use crate::scenario::validate::names::{Names, Scope};
use crate::scenario::validate::{Ctx, did_you_mean};

/// Reads a step table whose verb is of this family into an [`IoStep`].
pub(super) fn read(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    t: &StepTable<'_>,
) -> Option<StepKind> {
    let (verb, v, at) = (t.verb, t.value, t.at);
    let cpu = |cx: &mut Ctx<'_>| match t.get("work") {
        None => Some(false),
        Some(w) => match string(cx, w, "the kind of work")?.as_str() {
            "io" => Some(false),
            "cpu" => Some(true),
            other => {
                cx.err(
                    w.span().start,
                    format!("`work = {other:?}`: the work is \"io\" (blocking I/O, the default) or \"cpu\" (CPU-bound)"),
                    None,
                );
                None
            }
        },
    };
    let step = match verb {
        "call" => {
            let service = string(cx, v, "a service name")?;
            if !names.services.contains(&service) {
                let hint = did_you_mean(&service, names.services.iter().map(String::as_str))
                    .or_else(|| {
                        Some(format!(
                            "declare it: [services.{service}] with `latency = \"200ms\"` (and `capacity`, …)"
                        ))
                    });
                cx.err(v.span().start, format!("unknown service `{service}`"), hint);
                return None;
            }
            IoStep::Call { service }
        }
        "to_thread" => {
            let duration = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &duration, v.span().start);
            IoStep::ToThread {
                duration,
                cpu: cpu(cx)?,
            }
        }
        "run_in_executor" => {
            let pool = string(cx, v, "a pool name")?;
            if !names.pools.contains(&pool) {
                let hint = did_you_mean(&pool, names.pools.iter().map(String::as_str)).or_else(|| {
                    Some(format!(
                        "declare it: [pools.{pool}] with `kind = \"process\"` or `kind = \"thread\"`; `to_thread` uses the default thread pool"
                    ))
                });
                cx.err(v.span().start, format!("unknown pool `{pool}`"), hint);
                return None;
            }
            let Some(d) = t.get("duration") else {
                cx.err(
                    at,
                    "`run_in_executor` needs `duration = \"…\"`: how long the work takes",
                    None,
                );
                return None;
            };
            let duration = value_expr(cx, names, scope, d)?;
            check_const_duration(cx, &duration, d.span().start);
            IoStep::RunInExecutor {
                pool,
                duration,
                cpu: cpu(cx)?,
            }
        }
        _ => unreachable!("the verb table puts `{verb}` in the I/O family"),
    };
    Some(StepKind::Io(step))
}

/// A callback cannot await: no I/O step is plain.
pub(super) fn is_plain(_: &IoStep) -> bool {
    false
}
