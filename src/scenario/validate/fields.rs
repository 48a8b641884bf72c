//! Field readers: one TOML value of a step table to a typed part of the
//! model (a variable, a primitive, an expression, a call, a template, a
//! duration), each reporting its own problems.

use super::names::{BUILTINS, IMPLICIT_VARS, Names, Scope, check_calls, check_value, record_reads};
use super::raw::RValue;
use super::text::is_ident;
use super::{Ctx, did_you_mean};
use crate::scenario::expr::{self, Expr, Piece};
use crate::scenario::model::{Call, Each, Primitive, Target};
use crate::scenario::value::FormatSpec;
use crate::time::Duration;
use toml::Spanned;

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

/// A constant `call_later` delay: a duration, which may be negative (the
/// timer is due before those due now, as in asyncio), but finite.
pub(super) fn check_const_delay(cx: &mut Ctx<'_>, e: &Expr, at: usize) {
    match e {
        Expr::Float(f) if !f.is_finite() => {
            cx.err(at, "a delay cannot be infinite", None);
        }
        Expr::Str(_) | Expr::List(_) | Expr::Bool(_) | Expr::None => {
            cx.err(
                at,
                "expected a delay like \"2s\", \"250ms\" or \"-1s\"",
                None,
            );
        }
        _ => {}
    }
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
