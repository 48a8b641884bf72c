//! Writing control steps back to step tables.

use super::{call, ex, expr, opt, steps, strings, template};
use crate::scenario::model::ControlStep;
use toml::Value;

/// The keys of a ControlStep's table.
pub(super) fn step(k: &ControlStep, mut set: impl FnMut(&str, Value)) {
    match k {
        ControlStep::Set { var, value } => {
            set("set", Value::String(var.clone()));
            set("to", ex(value));
        }
        ControlStep::If {
            cond,
            then,
            otherwise,
        } => {
            set("if", ex(cond));
            set("then", steps(then));
            if !otherwise.is_empty() {
                set("else", steps(otherwise));
            }
        }
        ControlStep::While { cond, body } => {
            set("while", ex(cond));
            set("steps", steps(body));
        }
        ControlStep::Repeat { times, index, body } => {
            set("repeat", ex(times));
            if let Some(v) = opt(index) {
                set("index", v);
            }
            set("steps", steps(body));
        }
        ControlStep::For { var, iter, body } => {
            set("for", Value::String(var.clone()));
            set("in", ex(iter));
            set("steps", steps(body));
        }
        ControlStep::Break => set("break", Value::Boolean(true)),
        ControlStep::Continue => set("continue", Value::Boolean(true)),
        ControlStep::Try {
            body,
            handler,
            finally,
        } => {
            set("try", steps(body));
            if let Some(h) = handler {
                set("except", strings(&h.kinds));
                if let Some(b) = &h.bind {
                    set("as", Value::String(b.clone()));
                }
                set("handler", steps(&h.body));
            }
            if !finally.is_empty() {
                set("finally", steps(finally));
            }
        }
        ControlStep::Raise { kind, message } => {
            set("raise", Value::String(kind.clone()));
            if let Some(m) = message {
                set("message", Value::String(template(m)));
            }
        }
        ControlStep::Reraise => set("raise", Value::Boolean(true)),
        ControlStep::Return(e) => set(
            "return",
            Value::String(e.as_ref().map(expr).unwrap_or_default()),
        ),
        ControlStep::Yield(e) => set("yield", ex(e)),
        ControlStep::AsyncFor {
            var,
            generator,
            body,
        } => {
            set("async_for", Value::String(var.clone()));
            set("in", Value::String(call(generator)));
            set("steps", steps(body));
        }
        ControlStep::AsyncWith { ctx, bind, body } => {
            set("async_with", Value::String(call(ctx)));
            if let Some(v) = opt(bind) {
                set("as", v);
            }
            set("steps", steps(body));
        }
    }
}
