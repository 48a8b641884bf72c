//! Writing futures steps back to step tables.

use super::{ex, steps};
use crate::scenario::model::FutureStep;
use toml::Value;

/// The keys of a FutureStep's table.
pub(super) fn step(k: &FutureStep, mut set: impl FnMut(&str, Value)) {
    match k {
        FutureStep::NewFuture(v) => set("future", Value::String(v.clone())),
        FutureStep::SetResult { future, value } => {
            set("set_result", Value::String(future.clone()));
            set("value", ex(value));
        }
        FutureStep::CallLater {
            delay,
            future,
            value,
        } => {
            set("call_later", ex(delay));
            set("set_result", Value::String(future.clone()));
            set("value", ex(value));
        }
        FutureStep::Callback { delay, body } => match delay {
            Some(d) => {
                set("call_later", ex(d));
                set("steps", steps(body));
            }
            None => set("call_soon", steps(body)),
        },
    }
}
