//! Steps: each step table has one verb and the verb's modifiers; values are
//! expressions whose names are resolved against the coroutine's scope.

use super::*;
use crate::scenario::value::FormatSpec;

/// The step verbs and the modifiers each accepts.
pub(super) const VERBS: &[(&str, &[&str])] = &[
    ("print", &[]),
    ("sleep", &[]),
    ("block", &[]),
    ("await", &["into"]),
    ("spawn", &["as", "name"]),
    // `asyncio.create_task`: the name people type first, the same step.
    ("create_task", &["as", "name"]),
    ("cancel", &["message"]),
    ("gather", &["into", "return_exceptions", "for", "in"]),
    ("wait_for", &["timeout", "into"]),
    ("timeout", &["steps"]),
    ("as_completed", &["as", "steps", "timeout", "for", "in"]),
    ("task_group", &["into", "for", "in"]),
    ("shield", &["into"]),
    ("raise", &["message"]),
    ("try", &["except", "as", "handler", "finally"]),
    ("return", &[]),
    ("if", &["then", "else"]),
    ("repeat", &["steps", "index"]),
    ("for", &["in", "steps"]),
    ("async_for", &["in", "steps"]),
    ("async_with", &["as", "steps"]),
    ("yield", &[]),
    ("set", &["to"]),
    ("future", &[]),
    ("call_later", &["set_result", "value", "steps"]),
    ("call_soon", &[]),
    ("set_result", &["value"]),
    ("lock", &["steps"]),
    ("semaphore", &["steps"]),
    ("section", &["steps"]),
    ("event_set", &[]),
    ("event_wait", &[]),
    ("event_clear", &[]),
    ("put", &["value"]),
    ("put_nowait", &["value"]),
    ("get", &["into"]),
    ("get_nowait", &["into"]),
    ("task_done", &[]),
    ("join", &[]),
    ("while", &["steps"]),
    ("break", &[]),
    ("continue", &[]),
    ("acquire", &[]),
    ("release", &[]),
    ("condition", &["steps"]),
    ("wait", &["until"]),
    ("notify", &["n"]),
    ("notify_all", &[]),
    ("barrier_wait", &["into"]),
    ("barrier_abort", &[]),
    ("barrier_reset", &[]),
];

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

pub(super) struct Names {
    pub(super) coroutines: BTreeSet<String>,
    pub(super) contexts: BTreeSet<String>,
    pub(super) primitives: BTreeMap<String, Primitive>,
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
    let mut verbs: Vec<&String> = map
        .keys()
        .filter(|k| VERBS.iter().any(|(v, _)| v == k))
        .collect();
    // Some verbs are also modifiers of others (`for` of `gather`, `timeout`
    // of `wait_for`, `set_result` of `call_later`): drop those.
    if verbs.len() > 1 {
        let all = verbs.clone();
        verbs.retain(|k| {
            !all.iter().any(|v| {
                v != k
                    && VERBS
                        .iter()
                        .any(|(verb, m)| verb == v && m.contains(&k.as_str()))
            })
        });
    }
    let verb = match verbs.as_slice() {
        [v] => v.as_str(),
        [] => {
            let unknown = map
                .keys()
                .find(|k| !VERBS.iter().any(|(_, m)| m.contains(&k.as_str())));
            let (msg, hint) = match unknown {
                Some(k) => (
                    format!("unknown step `{k}`"),
                    did_you_mean(k, VERBS.iter().map(|(v, _)| *v))
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
    let allowed = VERBS
        .iter()
        .find(|(v, _)| *v == verb)
        .map(|(_, m)| *m)
        .unwrap_or(&[]);
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
    let get = |k: &str| map.get(k);
    let kind = match verb {
        "print" => StepKind::Print(template(cx, scope, v)?),
        "sleep" | "block" => {
            let e = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &e, v.span().start);
            if verb == "sleep" {
                StepKind::Sleep(e)
            } else {
                StepKind::Block(e)
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
            StepKind::Await {
                target,
                into: var_def(cx, scope, get("into")),
            }
        }
        "spawn" | "create_task" => StepKind::Spawn {
            call: coroutine_call(cx, names, scope, v, false)?,
            bind: var_def(cx, scope, get("as")),
            name: match get("name") {
                Some(n) => Some(template(cx, scope, n)?),
                None => None,
            },
        },
        "cancel" => match get("message") {
            Some(m) => StepKind::CancelWith {
                task: value_expr(cx, names, scope, v)?,
                message: template(cx, scope, m)?,
            },
            None => StepKind::Cancel(value_expr(cx, names, scope, v)?),
        },
        "gather" => StepKind::Gather {
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
            StepKind::WaitFor {
                target: target(cx, names, scope, v)?,
                timeout,
                into: var_def(cx, scope, get("into")),
            }
        }
        "timeout" => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &delay, v.span().start);
            StepKind::Timeout {
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
            StepKind::AsCompleted {
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
            StepKind::TaskGroup {
                calls,
                each,
                into: var_def(cx, scope, get("into")),
            }
        }
        "shield" => StepKind::Shield {
            target: target(cx, names, scope, v)?,
            into: var_def(cx, scope, get("into")),
        },
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
            StepKind::Reraise
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
            StepKind::Raise {
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
            StepKind::Try {
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
            StepKind::If {
                cond,
                then,
                otherwise,
            }
        }
        "while" => StepKind::While {
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
                StepKind::Break
            } else {
                StepKind::Continue
            }
        }
        "return" => StepKind::Return(match v.get_ref() {
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
            StepKind::Repeat {
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
            StepKind::For {
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
            StepKind::AsyncFor {
                var,
                generator,
                body: no_loop_body(cx, names, scope, get("steps"), verb, at)?,
            }
        }
        "async_with" => StepKind::AsyncWith {
            ctx: coroutine_call(cx, names, scope, v, true)?,
            bind: var_def(cx, scope, get("as")),
            body: body(cx, names, scope, get("steps"), verb, at)?,
        },
        "yield" => StepKind::Yield(value_expr(cx, names, scope, v)?),
        "set" => {
            let var = var_def(cx, scope, Some(v))?;
            let Some(to) = get("to") else {
                cx.err(at, "`set` needs `to = \"value\"`", None);
                return None;
            };
            StepKind::Set {
                var,
                value: value_expr(cx, names, scope, to)?,
            }
        }
        "future" => StepKind::NewFuture(var_def(cx, scope, Some(v))?),
        "call_soon" => StepKind::Callback {
            delay: None,
            body: callback_body(cx, names, scope, v)?,
        },
        "call_later" if get("steps").is_some() => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &delay, v.span().start);
            if get("set_result").is_some() {
                cx.err(
                    at,
                    "`call_later` takes `steps` or `set_result`, not both",
                    None,
                );
            }
            StepKind::Callback {
                delay: Some(delay),
                body: callback_body(cx, names, scope, get("steps").expect("checked"))?,
            }
        }
        "call_later" => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &delay, v.span().start);
            let Some(f) = get("set_result") else {
                cx.err(
                    at,
                    "`call_later` needs `steps = [ … ]` (a callback) or `set_result = \"future\"`",
                    None,
                );
                return None;
            };
            let future = var_use(cx, scope, f)?;
            StepKind::CallLater {
                delay,
                future,
                value: opt_value(cx, names, scope, get("value"))?,
            }
        }
        "set_result" => StepKind::SetResult {
            future: var_use(cx, scope, v)?,
            value: opt_value(cx, names, scope, get("value"))?,
        },
        "lock" | "semaphore" => {
            let name = primitive_ref(cx, names, v, verb)?;
            let body = body(cx, names, scope, get("steps"), verb, at)?;
            if verb == "lock" {
                StepKind::Lock { name, body }
            } else {
                StepKind::Semaphore { name, body }
            }
        }
        "section" => StepKind::Section {
            name: string(cx, v, "a section name")?,
            body: body(cx, names, scope, get("steps"), verb, at)?,
        },
        "condition" => StepKind::Condition {
            name: primitive_ref(cx, names, v, "condition")?,
            body: body(cx, names, scope, get("steps"), verb, at)?,
        },
        "wait" => {
            let name = primitive_ref(cx, names, v, "condition")?;
            let wait = Step {
                line: cx.line(at),
                kind: StepKind::CondWait(name),
            };
            match get("until") {
                // `await cond.wait_for(pred)` is CPython's `while not pred:
                // await cond.wait()`, hop for hop.
                Some(u) => StepKind::While {
                    cond: Expr::Not(Box::new(value_expr(cx, names, scope, u)?)),
                    body: Rc::from(vec![wait]),
                },
                None => wait.kind,
            }
        }
        "notify" => StepKind::Notify {
            name: primitive_ref(cx, names, v, "condition")?,
            n: match get("n") {
                Some(n) => value_expr(cx, names, scope, n)?,
                None => Expr::Int(1),
            },
        },
        "barrier_wait" => StepKind::BarrierWait {
            name: primitive_ref(cx, names, v, "barrier")?,
            into: var_def(cx, scope, get("into")),
        },
        "barrier_abort" => StepKind::BarrierAbort(primitive_ref(cx, names, v, "barrier")?),
        "barrier_reset" => StepKind::BarrierReset(primitive_ref(cx, names, v, "barrier")?),
        "notify_all" => StepKind::NotifyAll(primitive_ref(cx, names, v, "condition")?),
        "acquire" => StepKind::Acquire(primitive_ref(cx, names, v, "lock or semaphore")?),
        "release" => StepKind::Release(primitive_ref(cx, names, v, "lock or semaphore")?),
        "event_set" => StepKind::EventSet(primitive_ref(cx, names, v, "event")?),
        "event_wait" => StepKind::EventWait(primitive_ref(cx, names, v, "event")?),
        "event_clear" => StepKind::EventClear(primitive_ref(cx, names, v, "event")?),
        "put" | "put_nowait" => StepKind::Put {
            queue: primitive_ref(cx, names, v, "queue")?,
            value: opt_value(cx, names, scope, get("value"))?,
            nowait: verb == "put_nowait",
        },
        "get" | "get_nowait" => StepKind::Get {
            queue: primitive_ref(cx, names, v, "queue")?,
            into: var_def(cx, scope, get("into")),
            nowait: verb == "get_nowait",
        },
        "task_done" => StepKind::TaskDone(primitive_ref(cx, names, v, "queue")?),
        "join" => StepKind::Join(primitive_ref(cx, names, v, "queue")?),
        _ => unreachable!("verb table and match agree"),
    };
    Some(Step { line, kind })
}

/// `for = "x", in = "xs"` on `gather`, `as_completed` and `task_group`.
pub(super) fn each(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    var: Option<&Spanned<RValue>>,
    iter: Option<&Spanned<RValue>>,
    at: usize,
) -> Option<Option<Each>> {
    match (var, iter) {
        (None, None) => Some(None),
        (Some(v), Some(i)) => {
            let var = var_def(cx, scope, Some(v))?;
            let iter = value_expr(cx, names, scope, i)?;
            Some(Some(Each { var, iter }))
        }
        _ => {
            cx.err(
                at,
                "`for` and `in` go together: `for = \"x\", in = \"a list\"`",
                None,
            );
            None
        }
    }
}

pub(super) fn verb_list() -> String {
    VERBS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
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
        let ok = matches!(
            s.kind,
            StepKind::Print(_)
                | StepKind::Set { .. }
                | StepKind::If { .. }
                | StepKind::Repeat { .. }
                | StepKind::For { .. }
                | StepKind::While { .. }
                | StepKind::Break
                | StepKind::Continue
                | StepKind::Try { .. }
                | StepKind::Raise { .. }
                | StepKind::Reraise
                | StepKind::SetResult { .. }
                | StepKind::NewFuture(_)
                | StepKind::EventSet(_)
                | StepKind::EventClear(_)
                | StepKind::Cancel(_)
                | StepKind::CancelWith { .. }
                | StepKind::Put { nowait: true, .. }
                | StepKind::Get { nowait: true, .. }
                | StepKind::TaskDone(_)
                | StepKind::Spawn { .. }
                | StepKind::Callback { .. }
                | StepKind::CallLater { .. }
                | StepKind::Block(_)
        );
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

pub(super) fn type_of(v: &RValue) -> &'static str {
    match v {
        RValue::Str(_) => "a string",
        RValue::Int(_) => "an integer",
        RValue::Float(_) => "a float",
        RValue::Bool(_) => "a boolean",
        RValue::Date => "a date",
        RValue::Array(_) => "a list",
        RValue::Table(_) => "a table",
    }
}

pub(super) fn string(cx: &mut Ctx<'_>, v: &Spanned<RValue>, what: &str) -> Option<String> {
    match v.get_ref() {
        RValue::Str(s) => Some(s.clone()),
        other => {
            cx.err(
                v.span().start,
                format!("expected {what} (a string), found {}", type_of(other)),
                None,
            );
            None
        }
    }
}

pub(super) fn string_list(cx: &mut Ctx<'_>, v: &Spanned<RValue>) -> Option<Vec<String>> {
    strings(cx, v, "exception names", true)
}

/// A list of strings (`what` names them in messages); with `single_ok`, one
/// string alone counts as a list of one.
pub(super) fn strings(
    cx: &mut Ctx<'_>,
    v: &Spanned<RValue>,
    what: &str,
    single_ok: bool,
) -> Option<Vec<String>> {
    match v.get_ref() {
        RValue::Str(s) if single_ok => Some(vec![s.clone()]),
        RValue::Array(items) => items
            .iter()
            .map(|i| match i.get_ref() {
                RValue::Str(s) => Some(s.clone()),
                other => {
                    cx.err(
                        i.span().start,
                        format!("expected {what}, found {}", type_of(other)),
                        None,
                    );
                    None
                }
            })
            .collect(),
        other => {
            cx.err(
                v.span().start,
                format!("expected a list of {what}, found {}", type_of(other)),
                None,
            );
            None
        }
    }
}

pub(super) fn bool_field(cx: &mut Ctx<'_>, v: Option<&Spanned<RValue>>) -> bool {
    match v.map(|v| (v.get_ref(), v.span().start)) {
        None => false,
        Some((RValue::Bool(b), _)) => *b,
        Some((other, at)) => {
            cx.err(
                at,
                format!("expected true or false, found {}", type_of(other)),
                None,
            );
            false
        }
    }
}

/// Defines a variable (`into`, `as`, loop variables).
pub(super) fn var_def(
    cx: &mut Ctx<'_>,
    scope: &mut Scope,
    v: Option<&Spanned<RValue>>,
) -> Option<String> {
    let v = v?;
    let name = string(cx, v, "a variable name")?;
    if !is_ident(&name) {
        cx.err(
            v.span().start,
            format!("`{name}` is not a valid variable name"),
            None,
        );
        return None;
    }
    if IMPLICIT_VARS.contains(&name.as_str()) {
        cx.err(
            v.span().start,
            format!("`{name}` is a built-in name: choose another variable name"),
            None,
        );
        return None;
    }
    scope.define(&name);
    Some(name)
}

/// Uses a variable by name (`set_result = "fut"`).
pub(super) fn var_use(cx: &mut Ctx<'_>, scope: &mut Scope, v: &Spanned<RValue>) -> Option<String> {
    let name = string(cx, v, "a variable name")?;
    scope.reads.push((name.clone(), v.span().start));
    Some(name)
}

pub(super) fn primitive_ref(
    cx: &mut Ctx<'_>,
    names: &Names,
    v: &Spanned<RValue>,
    want: &str,
) -> Option<String> {
    let name = string(cx, v, "a primitive name")?;
    let ok = |p: &Primitive| match want {
        "lock" => matches!(p, Primitive::Lock),
        "semaphore" => matches!(p, Primitive::Semaphore(_) | Primitive::BoundedSemaphore(_)),
        "lock or semaphore" => matches!(
            p,
            Primitive::Lock | Primitive::Semaphore(_) | Primitive::BoundedSemaphore(_)
        ),
        "event" => matches!(p, Primitive::Event),
        "condition" => matches!(p, Primitive::Condition),
        "barrier" => matches!(p, Primitive::Barrier(_)),
        _ => matches!(p, Primitive::Queue { .. }),
    };
    match names.primitives.get(&name) {
        Some(p) if ok(p) => Some(name),
        Some(p) => {
            cx.err(
                v.span().start,
                format!("`{name}` is a {}, not a {want}", p.kind_name()),
                None,
            );
            None
        }
        None => {
            let hint =
                did_you_mean(&name, names.primitives.keys().map(String::as_str)).or_else(|| {
                    Some(format!(
                        "declare it: `[primitives.{name}]` with `kind = \"{want}\"`"
                    ))
                });
            cx.err(v.span().start, format!("unknown {want} `{name}`"), hint);
            None
        }
    }
}

pub(super) fn opt_value(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: Option<&Spanned<RValue>>,
) -> Option<Expr> {
    match v {
        Some(v) => value_expr(cx, names, scope, v),
        None => Some(Expr::None),
    }
}

/// Converts a TOML value to an expression: strings are parsed, numbers and
/// booleans are literals, arrays are lists.
pub(super) fn toml_expr(cx: &mut Ctx<'_>, v: &RValue, at: usize) -> Option<Expr> {
    toml_expr_in(cx, v, at, 0)
}

/// [`toml_expr`] for a value nested in `outer` TOML arrays.
fn toml_expr_in(cx: &mut Ctx<'_>, v: &RValue, at: usize, outer: usize) -> Option<Expr> {
    Some(match v {
        RValue::Str(s) => match expr::parse_nested(s, outer) {
            Ok(e) => e,
            Err(e) => {
                cx.err(
                    at + 1 + e.offset,
                    format!("in `{}`: {}", shorten(s), e.message),
                    None,
                );
                return None;
            }
        },
        RValue::Int(i) => Expr::Int(*i),
        RValue::Float(f) => Expr::Float(*f),
        RValue::Bool(b) => Expr::Bool(*b),
        RValue::Array(_) if outer + 1 >= expr::MAX_DEPTH => {
            cx.err(at, expr::too_deep_message(), None);
            return None;
        }
        RValue::Array(items) => Expr::List(
            items
                .iter()
                .map(|i| toml_expr_in(cx, i.get_ref(), i.span().start, outer + 1))
                .collect::<Option<Vec<_>>>()?,
        ),
        other => {
            cx.err(
                at,
                format!("expected a value, found {}", type_of(other)),
                None,
            );
            return None;
        }
    })
}

/// Source text quoted in a message, cut short when long.
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// A value expression: calls must be builtins; variables are recorded.
pub(super) fn value_expr(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Expr> {
    let at = v.span().start;
    let e = toml_expr(cx, v.get_ref(), at)?;
    check_value(cx, names, scope, &e, at);
    Some(e)
}

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

/// Records the variables `e` reads. A primitive named as a method's
/// receiver (`ev.is_set()`) is not a variable read, unless a variable of
/// that name hides it.
fn record_reads(cx: &Ctx<'_>, scope: &mut Scope, e: &Expr, at: usize) {
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

/// A coroutine (or context manager) call such as `fetch('A', 3s)`.
pub(super) fn coroutine_call(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
    context: bool,
) -> Option<Call> {
    let at = v.span().start;
    let e = toml_expr(cx, v.get_ref(), at)?;
    call_of(cx, names, scope, e, at, context)
}

pub(super) fn call_of(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    e: Expr,
    at: usize,
    context: bool,
) -> Option<Call> {
    let (kind, known) = if context {
        ("context manager", &names.contexts)
    } else {
        ("coroutine", &names.coroutines)
    };
    let Expr::Call(name, args) = e else {
        cx.err(
            at,
            format!("expected a {kind} call like \"name(args)\""),
            None,
        );
        return None;
    };
    if !known.contains(&name) {
        let hint = did_you_mean(&name, known.iter().map(String::as_str)).or_else(|| {
            Some(if context {
                format!("define it as `[contexts.{name}]` with `enter` and `exit` steps")
            } else {
                format!("define it as `[coroutines.{name}]` with `steps = [...]`")
            })
        });
        cx.err(at, format!("unknown {kind} `{name}`"), hint);
        return None;
    }
    let want = names.params.get(&name).copied().unwrap_or(0);
    if want != args.len() {
        cx.err(
            at,
            format!(
                "`{name}` takes {want} argument(s), the call gives {}",
                args.len()
            ),
            None,
        );
        return None;
    }
    for a in &args {
        check_value(cx, names, scope, a, at);
    }
    Some(Call { name, args })
}

/// A call (`fetch(1)`) or a value (`t`, a task or future variable).
pub(super) fn target(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Target> {
    let at = v.span().start;
    let e = toml_expr(cx, v.get_ref(), at)?;
    target_of(cx, names, scope, e, at)
}

pub(super) fn target_of(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    e: Expr,
    at: usize,
) -> Option<Target> {
    match &e {
        Expr::Call(name, _) if names.coroutines.contains(name) => {
            call_of(cx, names, scope, e, at, false).map(Target::Call)
        }
        Expr::Call(name, _) if !BUILTINS.iter().any(|(b, _, _)| b == name) => {
            let hint = did_you_mean(name, names.coroutines.iter().map(String::as_str))
                .or_else(|| Some(format!("define it as `[coroutines.{name}]`")));
            cx.err(at, format!("unknown coroutine `{name}`"), hint);
            None
        }
        _ => {
            check_value(cx, names, scope, &e, at);
            Some(Target::Value(e))
        }
    }
}

/// A list of targets (`gather = ["a()", "b()"]`) or one value holding a list.
pub(super) fn targets(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Vec<Target>> {
    let at = v.span().start;
    match v.get_ref() {
        RValue::Array(items) => {
            let mut out = Vec::new();
            for i in items {
                let e = toml_expr(cx, i.get_ref(), i.span().start)?;
                out.push(target_of(cx, names, scope, e, i.span().start)?);
            }
            Some(out)
        }
        other => {
            let e = toml_expr(cx, other, at)?;
            Some(vec![target_of(cx, names, scope, e, at)?])
        }
    }
}

pub(super) fn template(
    cx: &mut Ctx<'_>,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Vec<Piece>> {
    let at = v.span().start;
    let text = match v.get_ref() {
        RValue::Str(s) => s.clone(),
        RValue::Int(i) => i.to_string(),
        RValue::Float(f) => f.to_string(),
        RValue::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => {
            cx.err(at, format!("expected text, found {}", type_of(other)), None);
            return None;
        }
    };
    match expr::parse_template(&text) {
        Ok(pieces) => {
            for p in &pieces {
                if let Piece::Value(_, Some(spec)) = p
                    && let Err(m) = FormatSpec::parse(spec)
                {
                    cx.err(at, format!("in text `{}`: {m}", shorten(&text)), None);
                }
                if let Piece::Value(e, _) = p {
                    record_reads(cx, scope, e, at);
                    check_calls(cx, None, e, at);
                }
            }
            Some(pieces)
        }
        Err(e) => {
            cx.err(
                at + 1 + e.offset,
                format!("in text `{}`: {}", shorten(&text), e.message),
                None,
            );
            None
        }
    }
}

pub(super) fn duration_field(cx: &mut Ctx<'_>, v: &Spanned<String>) -> Option<Duration> {
    match expr::parse_duration(v.get_ref()) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.err(v.span().start, format!("bad duration: {e}"), None);
            None
        }
    }
}

/// Constant durations are checked now: negative ones are a mistake.
pub(super) fn check_const_duration(cx: &mut Ctx<'_>, e: &Expr, at: usize) {
    let negative = match e {
        Expr::Int(i) => *i < 0,
        Expr::Float(f) => *f < 0.0 || !f.is_finite(),
        Expr::Neg(inner) => matches!(**inner, Expr::Duration(_)),
        Expr::Str(_) | Expr::List(_) | Expr::Bool(_) | Expr::None => {
            cx.err(at, "expected a duration like \"2s\" or \"250ms\"", None);
            return;
        }
        _ => false,
    };
    if negative {
        cx.err(
            at,
            "a duration cannot be negative (or infinite)",
            Some("use 0s for a bare yield".into()),
        );
    }
}

#[cfg(test)]
mod verb_docs {
    use super::VERBS;

    /// Every verb is documented in the scenario format's reference, as a
    /// step (`{ verb = …`).
    #[test]
    fn every_verb_is_documented_in_the_scenario_readme() {
        let readme = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/sim-scenarios/README.md"
        ));
        let missing: Vec<&str> = VERBS
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| {
                !readme.contains(&format!("{{ {v} =")) && !readme.contains(&format!("`{v} = "))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "verbs missing from sim-scenarios/README.md: {missing:?}"
        );
    }
}
