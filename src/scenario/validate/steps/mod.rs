//! Steps: each step table has one verb and the verb's modifiers; values are
//! expressions whose names are resolved against the coroutine's scope.
//!
//! [`step`] checks the keys of a table against the verb table, then hands
//! it to the reader of the verb's family, one file each.

use super::fields::type_of;
use super::names::{Names, Scope};
use super::raw::{RValue, RawMap};
use super::{Ctx, did_you_mean};
use crate::scenario::Diagnostic;
use crate::scenario::expr::{self, Expr};
use crate::scenario::model::{Step, StepKind};
use crate::scenario::verbs::{self, Family, VERBS};
use std::collections::BTreeMap;
use std::rc::Rc;
use toml::Spanned;

mod control;
mod futures;
mod io;
mod net;
mod output;
mod sync;
mod tasks;

/// One step table being read: its verb, the verb's value and the other keys.
struct StepTable<'a> {
    verb: &'a str,
    value: &'a Spanned<RValue>,
    map: &'a BTreeMap<String, Spanned<RValue>>,
    /// Where the table starts.
    at: usize,
}

impl StepTable<'_> {
    /// The modifier `key`, if the table has it.
    fn get(&self, key: &str) -> Option<&Spanned<RValue>> {
        self.map.get(key)
    }
}

pub(super) fn steps(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    raw: &[RawMap],
) -> Rc<[Step]> {
    raw.iter()
        .filter_map(|s| step(cx, names, scope, s))
        .collect::<Vec<_>>()
        .into()
}

/// Reads the keys of one step: exactly one verb, and only its modifiers.
pub(super) fn step(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    raw: &RawMap,
) -> Option<Step> {
    let at = raw.span().start;
    let map = raw.get_ref();
    let mut verbs: Vec<&String> = map.keys().filter(|k| verbs::find(k).is_some()).collect();
    // Some verbs are also modifiers of others (`for` of `gather`, `timeout`
    // of `wait_for`, `set_result` of `call_later`): drop those.
    if verbs.len() > 1 {
        let all = verbs.clone();
        verbs.retain(|k| {
            !all.iter().any(|v| {
                v != k && verbs::find(v).is_some_and(|verb| verb.modifiers.contains(&k.as_str()))
            })
        });
    }
    let verb = match verbs.as_slice() {
        [v] => v.as_str(),
        [] => {
            let unknown = map
                .keys()
                .find(|k| !VERBS.iter().any(|v| v.modifiers.contains(&k.as_str())));
            let (msg, hint) = match unknown {
                Some(k) => (
                    format!("unknown step `{k}`"),
                    did_you_mean(k, VERBS.iter().map(|v| v.name))
                        .or_else(|| Some(format!("a step is one of: {}", verb_list()))),
                ),
                None => (
                    "a step needs a verb".to_string(),
                    Some(format!("a step is one of: {}", verb_list())),
                ),
            };
            let off = unknown
                .and_then(|k| map.get(k))
                .map(|v| v.span().start)
                .unwrap_or(at);
            cx.err(off, msg, hint);
            return None;
        }
        many => {
            let list: Vec<String> = many.iter().map(|v| format!("`{v}`")).collect();
            cx.err(
                at,
                format!("a step has one verb, this one has {}", list.join(" and ")),
                Some("split it into two steps".into()),
            );
            return None;
        }
    };
    let entry = verbs::find(verb).expect("a verb of the table");
    let allowed = entry.modifiers;
    for (k, v) in map {
        if k != verb && !allowed.contains(&k.as_str()) {
            let hint = did_you_mean(k, allowed.iter().copied()).or_else(|| {
                Some(if allowed.is_empty() {
                    format!("`{verb}` takes no other keys")
                } else {
                    format!("`{verb}` accepts: {}", allowed.join(", "))
                })
            });
            cx.err(
                v.span().start,
                format!("`{k}` does not go with `{verb}`"),
                hint,
            );
        }
    }
    let line = cx.line(at);
    let v = &map[verb];
    if map.contains_key("for") && verb != "for" {
        let single_call =
            matches!(v.get_ref(), RValue::Str(s) if matches!(expr::parse(s), Ok(Expr::Call(..))));
        if !single_call {
            cx.err(
                v.span().start,
                format!("with `for`/`in`, `{verb}` takes one call like \"fetch(url)\""),
                None,
            );
            return None;
        }
    }
    let t = StepTable {
        verb,
        value: v,
        map,
        at,
    };
    let kind = match entry.family {
        Family::Control => control::read(cx, names, scope, &t),
        Family::Tasks => tasks::read(cx, names, scope, &t),
        Family::Sync => sync::read(cx, names, scope, &t),
        Family::Futures => futures::read(cx, names, scope, &t),
        Family::Output => output::read(cx, names, scope, &t),
        Family::Io => io::read(cx, names, scope, &t),
        Family::Net => net::read(cx, names, scope, &t),
    }?;
    Some(Step { line, kind })
}

pub(super) fn verb_list() -> String {
    VERBS.iter().map(|v| v.name).collect::<Vec<_>>().join(", ")
}

pub(super) fn body(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: Option<&Spanned<RValue>>,
    verb: &str,
    at: usize,
) -> Option<Rc<[Step]>> {
    match v {
        Some(v) => step_list(cx, names, scope, v),
        None => {
            cx.err(at, format!("`{verb}` needs `steps = [ … ]`"), None);
            None
        }
    }
}

/// A loop's body: `break` and `continue` are allowed in it (not in the
/// bodies of other coroutines it calls, nor of an `async_for`).
pub(super) fn loop_body(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: Option<&Spanned<RValue>>,
    verb: &str,
    at: usize,
) -> Option<Rc<[Step]>> {
    let loops = scope.loops + 1;
    body_with_loops(cx, names, scope, v, verb, at, loops)
}

/// The body of an `async_for` or `as_completed`: `break` and `continue`
/// are not supported there (not even for a loop around it).
pub(super) fn no_loop_body(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: Option<&Spanned<RValue>>,
    verb: &str,
    at: usize,
) -> Option<Rc<[Step]>> {
    body_with_loops(cx, names, scope, v, verb, at, 0)
}

/// A body read with `loops` loops around it, restored after.
fn body_with_loops(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: Option<&Spanned<RValue>>,
    verb: &str,
    at: usize,
    loops: usize,
) -> Option<Rc<[Step]>> {
    let outer = std::mem::replace(&mut scope.loops, loops);
    let b = body(cx, names, scope, v, verb, at);
    scope.loops = outer;
    b
}

/// A callback's body: plain steps that cannot await (a callback is a
/// function the loop calls, not a coroutine), read with a copy of the
/// scope (what it assigns stays its own).
pub(super) fn callback_body(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Rc<[Step]>> {
    let mut own = Scope {
        defined: scope.defined.clone(),
        reads: Vec::new(),
        loops: 0,
        handlers: 0,
    };
    let body = step_list(cx, names, &mut own, v)?;
    scope.reads.extend(
        own.reads
            .into_iter()
            .filter(|(n, _)| !own.defined.contains(n) || scope.defined.contains(n)),
    );
    let mut todo: Vec<&Step> = body.iter().collect();
    while let Some(s) = todo.pop() {
        let ok = match &s.kind {
            StepKind::Control(c) => control::is_plain(c),
            StepKind::Tasks(t) => tasks::is_plain(t),
            StepKind::Sync(y) => sync::is_plain(y),
            StepKind::Futures(f) => futures::is_plain(f),
            StepKind::Output(o) => output::is_plain(o),
            StepKind::Io(i) => io::is_plain(i),
            StepKind::Net(n) => net::is_plain(n),
        };
        if !ok {
            cx.diags.push(Diagnostic {
                file: cx.file.to_string(),
                line: s.line,
                col: 1,
                message: "a callback cannot await: it is a plain function the loop calls".into(),
                hint: Some(
                    "use plain steps (print, set, if, loops, set_result, event_set, cancel, put_nowait, spawn, call_soon); spawn a task to await".into(),
                ),
            });
        }
        for b in s.kind.bodies() {
            todo.extend(b.iter());
        }
    }
    Some(body)
}

/// A TOML array of step tables.
pub(super) fn step_list(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Rc<[Step]>> {
    let at = v.span().start;
    let RValue::Array(items) = v.get_ref() else {
        cx.err(
            at,
            format!(
                "expected a list of steps `[ {{ … }}, … ]`, found {}",
                type_of(v.get_ref())
            ),
            None,
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let RValue::Table(t) = item.get_ref() else {
            cx.err(
                item.span().start,
                format!(
                    "expected a step table `{{ verb = … }}`, found {}",
                    type_of(item.get_ref())
                ),
                None,
            );
            return None;
        };
        let raw = Spanned::new(item.span(), t.clone());
        if let Some(s) = step(cx, names, scope, &raw) {
            out.push(s);
        }
    }
    Some(out.into())
}
