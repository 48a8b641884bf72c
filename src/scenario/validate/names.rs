//! What a step may name: the coroutines, context managers and primitives
//! of the file, the variables of a coroutine's scope, the builtin functions
//! and the methods of values. Reads are recorded and checked once the whole
//! body is known.

use super::{Ctx, did_you_mean};
use crate::scenario::expr::{self, Expr};
use crate::scenario::model::Primitive;
use std::collections::{BTreeMap, BTreeSet};

/// Builtin functions usable in values.
pub(super) const BUILTINS: &[(&str, usize, usize)] = &[
    ("uniform", 2, 2),
    ("normal", 2, 2),
    ("exponential", 1, 1),
    ("lognormal", 2, 2),
    ("choice", 1, 2),
    ("range", 1, 2),
    ("len", 1, 1),
    ("str", 1, 1),
    ("int", 1, 1),
    ("float", 1, 1),
    ("current_task", 0, 0),
    ("is_error", 1, 1),
];

/// Names every coroutine can read.
pub(super) const IMPLICIT_VARS: &[&str] = &["now", "task"];

/// The methods of task and future values (`t.done()`), with their least
/// and most argument counts.
pub(super) const METHODS: &[(&str, usize, usize)] = &[
    ("done", 0, 0),
    ("cancelled", 0, 0),
    ("result", 0, 0),
    ("exception", 0, 0),
    ("cancel", 0, 1),
    ("cancelling", 0, 0),
    ("uncancel", 0, 0),
    ("get_name", 0, 0),
    // Of dicts: `d.get(k)`, `d.get(k, default)`.
    ("get", 1, 2),
    // Of primitives (named bare: `ev.is_set()`, `q.qsize()`).
    ("is_set", 0, 0),
    ("locked", 0, 0),
    ("qsize", 0, 0),
    ("empty", 0, 0),
    ("full", 0, 0),
];

pub(super) struct Names {
    pub(super) coroutines: BTreeSet<String>,
    pub(super) contexts: BTreeSet<String>,
    pub(super) primitives: BTreeMap<String, Primitive>,
    pub(super) services: BTreeSet<String>,
    pub(super) pools: BTreeSet<String>,
    pub(super) params: BTreeMap<String, usize>,
}

/// Variables of one coroutine: defined names, and the reads to check once
/// the whole body is known (Python resolves names at run time, but a name
/// that is never assigned anywhere is certainly a mistake).
pub(super) struct Scope {
    pub(super) defined: BTreeSet<String>,
    pub(super) reads: Vec<(String, usize)>,
    /// Loops (`repeat`, `for`, `while`) around the step being read, in
    /// this coroutine: `break` and `continue` need one.
    pub(super) loops: usize,
    /// `except` handlers around the step being read: a bare `raise` needs one.
    pub(super) handlers: usize,
}

impl Scope {
    pub(super) fn new(params: &[String]) -> Scope {
        Scope {
            defined: params.iter().cloned().collect(),
            reads: Vec::new(),
            loops: 0,
            handlers: 0,
        }
    }

    pub(super) fn define(&mut self, name: &str) {
        self.defined.insert(name.to_string());
    }

    pub(super) fn check(self, cx: &mut Ctx<'_>) {
        for (name, at) in self.reads {
            if self.defined.contains(&name) || IMPLICIT_VARS.contains(&name.as_str()) {
                continue;
            }
            let known = self
                .defined
                .iter()
                .map(String::as_str)
                .chain(IMPLICIT_VARS.iter().copied());
            let hint = did_you_mean(&name, known).or_else(|| {
                Some(format!(
                    "assign it first (a parameter, `into = \"{name}\"`, `set = \"{name}\"`), or quote it to mean the text: \"'{name}'\""
                ))
            });
            cx.err(at, format!("unknown variable `{name}`"), hint);
        }
    }
}

/// Records the variables `e` reads. A primitive named as a method's
/// receiver (`ev.is_set()`) is not a variable read, unless a variable of
/// that name hides it.
pub(super) fn record_reads(cx: &Ctx<'_>, scope: &mut Scope, e: &Expr, at: usize) {
    let mut vars = Vec::new();
    expr::vars(e, &mut vars);
    let mut receivers = Vec::new();
    expr::method_receivers(e, &mut receivers);
    for v in vars {
        if receivers.contains(&v) && cx.prims.contains(v) && !scope.defined.contains(v) {
            continue;
        }
        scope.reads.push((v.to_string(), at));
    }
}

pub(super) fn check_value(cx: &mut Ctx<'_>, names: &Names, scope: &mut Scope, e: &Expr, at: usize) {
    record_reads(cx, scope, e, at);
    check_calls(cx, Some(&names.coroutines), e, at);
}

/// The functions and methods an expression calls exist and get as many
/// arguments as they take. `coroutines` (absent in text templates) lets a
/// misplaced coroutine call be named as such.
pub(super) fn check_calls(
    cx: &mut Ctx<'_>,
    coroutines: Option<&BTreeSet<String>>,
    e: &Expr,
    at: usize,
) {
    let mut methods = Vec::new();
    expr::methods(e, &mut methods);
    for (name, n) in methods {
        match METHODS.iter().find(|(m, _, _)| *m == name) {
            Some((_, lo, hi)) if n < *lo || n > *hi => cx.err(
                at,
                format!("`.{name}()` takes {lo} to {hi} argument(s), not {n}"),
                None,
            ),
            Some(_) => {}
            None => cx.err(
                at,
                format!("unknown method `.{name}()`"),
                did_you_mean(name, METHODS.iter().map(|(m, _, _)| *m)).or_else(|| {
                    Some(format!(
                        "a task or future has: {}",
                        METHODS
                            .iter()
                            .map(|(m, _, _)| format!(".{m}()"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
            ),
        }
    }
    let mut calls = Vec::new();
    expr::calls(e, &mut calls);
    for (name, n) in calls {
        match BUILTINS.iter().find(|(b, _, _)| *b == name) {
            Some((_, lo, hi)) if n < *lo || n > *hi => {
                let want = if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo} or {hi}")
                };
                cx.err(
                    at,
                    format!("`{name}` takes {want} argument(s), not {n}"),
                    None,
                );
            }
            Some(_) => {}
            None if coroutines.is_some_and(|c| c.contains(name)) => cx.err(
                at,
                format!("`{name}(…)` is a coroutine call inside a value"),
                Some(format!(
                    "await it in its own step: `{{ await = \"{name}(…)\", into = \"x\" }}`"
                )),
            ),
            None => {
                let known = BUILTINS
                    .iter()
                    .map(|(b, _, _)| *b)
                    .chain(coroutines.into_iter().flatten().map(String::as_str));
                cx.err(
                    at,
                    format!("unknown function `{name}`"),
                    did_you_mean(name, known),
                );
            }
        }
    }
}
