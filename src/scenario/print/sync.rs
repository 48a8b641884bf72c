//! Writing sync steps back to step tables.

use super::{ex, opt, steps};
use crate::scenario::model::SyncStep;
use toml::Value;

/// The keys of a SyncStep's table.
pub(super) fn step(k: &SyncStep, mut set: impl FnMut(&str, Value)) {
    match k {
        SyncStep::Lock { name, body } => {
            set("lock", Value::String(name.clone()));
            set("steps", steps(body));
        }
        SyncStep::Semaphore { name, body } => {
            set("semaphore", Value::String(name.clone()));
            set("steps", steps(body));
        }
        SyncStep::Acquire(n) => set("acquire", Value::String(n.clone())),
        SyncStep::Release(n) => set("release", Value::String(n.clone())),
        SyncStep::Condition { name, body } => {
            set("condition", Value::String(name.clone()));
            set("steps", steps(body));
        }
        SyncStep::CondWait(n) => set("wait", Value::String(n.clone())),
        SyncStep::Notify { name, n } => {
            set("notify", Value::String(name.clone()));
            set("n", ex(n));
        }
        SyncStep::NotifyAll(n) => set("notify_all", Value::String(n.clone())),
        SyncStep::BarrierWait { name, into } => {
            set("barrier_wait", Value::String(name.clone()));
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
        SyncStep::BarrierAbort(n) => set("barrier_abort", Value::String(n.clone())),
        SyncStep::BarrierReset(n) => set("barrier_reset", Value::String(n.clone())),
        SyncStep::EventSet(n) => set("event_set", Value::String(n.clone())),
        SyncStep::EventWait(n) => set("event_wait", Value::String(n.clone())),
        SyncStep::EventClear(n) => set("event_clear", Value::String(n.clone())),
        SyncStep::Put {
            queue,
            value,
            nowait,
        } => {
            set(
                if *nowait { "put_nowait" } else { "put" },
                Value::String(queue.clone()),
            );
            set("value", ex(value));
        }
        SyncStep::Get {
            queue,
            into,
            nowait,
        } => {
            set(
                if *nowait { "get_nowait" } else { "get" },
                Value::String(queue.clone()),
            );
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
        SyncStep::TaskDone(n) => set("task_done", Value::String(n.clone())),
        SyncStep::Join(n) => set("join", Value::String(n.clone())),
    }
}
