//! Writing tasks steps back to step tables.

use super::{call, ex, opt, put_each, steps, target, targets, template};
use crate::scenario::model::{Target, TaskStep};
use toml::Value;

/// The keys of a TaskStep's table.
pub(super) fn step(k: &TaskStep, mut set: impl FnMut(&str, Value)) {
    match k {
        TaskStep::Sleep(e) => set("sleep", ex(e)),
        TaskStep::Block(e) => set("block", ex(e)),
        TaskStep::Unawaited(c) => set("unawaited", Value::String(call(c))),
        TaskStep::Spawn {
            call: c,
            bind,
            name,
        } => {
            set("spawn", Value::String(call(c)));
            if let Some(v) = opt(bind) {
                set("as", v);
            }
            if let Some(n) = name {
                set("name", Value::String(template(n)));
            }
        }
        TaskStep::Await { target: tg, into } => {
            set("await", Value::String(target(tg)));
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
        TaskStep::Cancel(e) => set("cancel", ex(e)),
        TaskStep::CancelWith { task, message } => {
            set("cancel", ex(task));
            set("message", Value::String(template(message)));
        }
        TaskStep::Gather {
            items,
            each,
            return_exceptions,
            into,
        } => {
            set("gather", targets(items, each));
            put_each(&mut set, each);
            if *return_exceptions {
                set("return_exceptions", Value::Boolean(true));
            }
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
        TaskStep::WaitFor {
            target: tg,
            timeout,
            into,
        } => {
            set("wait_for", Value::String(target(tg)));
            set("timeout", ex(timeout));
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
        TaskStep::Timeout { delay, body } => {
            set("timeout", ex(delay));
            set("steps", steps(body));
        }
        TaskStep::AsCompleted {
            items,
            each,
            bind,
            body,
            timeout,
        } => {
            set("as_completed", targets(items, each));
            put_each(&mut set, each);
            set("as", Value::String(bind.clone()));
            set("steps", steps(body));
            if let Some(t) = timeout {
                set("timeout", ex(t));
            }
        }
        TaskStep::TaskGroup { calls, each, into } => {
            let ts: Vec<Target> = calls.iter().cloned().map(Target::Call).collect();
            set("task_group", targets(&ts, each));
            put_each(&mut set, each);
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
        TaskStep::Shield { target: tg, into } => {
            set("shield", Value::String(target(tg)));
            if let Some(v) = opt(into) {
                set("into", v);
            }
        }
    }
}
