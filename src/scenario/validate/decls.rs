//! The declarations around the steps: settings and limits, primitives,
//! parameters and variants (each naming a main coroutine).

use super::fields::{duration_field, value_expr};
use super::names::{IMPLICIT_VARS, Names, Scope};
use super::raw::{RawPrimitive, RawScenario};
use super::text::{elide, is_ident, is_path_part};
use super::{Ctx, did_you_mean};
use crate::model::{LoopModel, PythonVersion};
use crate::scenario::model::{Coroutine, Primitive, Settings, Variant};
use crate::sync::QueueKind;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use toml::Spanned;

/// The most variants a scenario may declare: each is a run of its own.
pub const MAX_VARIANTS: usize = 200;

/// The top-level settings and `[limits]`.
pub(super) fn settings(cx: &mut Ctx<'_>, raw: &RawScenario) -> Settings {
    let mut settings = Settings::default();
    if let Some(s) = &raw.seed {
        match u64::try_from(*s.get_ref()) {
            Ok(v) => settings.seed = v,
            Err(_) => cx.err(
                s.span().start,
                "`seed` must be a non-negative integer",
                None,
            ),
        }
    }
    if let Some(m) = &raw.model {
        settings.model = parse_model(cx, m, &mut settings.python);
    }
    if let Some(p) = &raw.python {
        match p.get_ref().parse::<PythonVersion>() {
            Ok(v) => settings.python = v,
            Err(e) => cx.err(p.span().start, e.to_string(), None),
        }
    }
    if let Some(e) = &raw.eager_tasks {
        settings.eager_tasks = *e.get_ref();
    }
    if let Some(o) = &raw.step_overhead
        && let Some(d) = duration_field(cx, o)
    {
        settings.step_overhead = d;
    }
    if let Some(o) = &raw.slow_callback_duration
        && let Some(d) = duration_field(cx, o)
    {
        if d.is_zero() {
            cx.err(
                o.span().start,
                "`slow_callback_duration` must be more than zero",
                None,
            );
        }
        settings.slow_callback_duration = d;
    }
    if let Some(l) = &raw.limits {
        let l = l.get_ref();
        if let Some(t) = &l.max_time
            && let Some(d) = duration_field(cx, t)
        {
            if d.is_zero() {
                cx.err(t.span().start, "`max_time` must be more than zero", None);
            }
            settings.limits.max_time = d;
        }
        for (key, v) in l.counts() {
            let Some(v) = v else { continue };
            match u64::try_from(*v.get_ref()) {
                Ok(n) if n > crate::scenario::limit_ceiling(key) => cx.err(
                    v.span().start,
                    format!(
                        "`{key}` is at most {} (beyond it a run could exhaust memory first)",
                        crate::scenario::limit_ceiling(key)
                    ),
                    None,
                ),
                Ok(n) if n > 0 => {
                    *settings.count_limit_mut(key).expect("a counting limit") = n;
                }
                _ => cx.err(
                    v.span().start,
                    format!("`{key}` must be a positive integer"),
                    None,
                ),
            }
        }
    }
    settings
}

/// The variants (or the one default variant), each checked against its
/// main coroutine.
pub(super) fn variants(
    cx: &mut Ctx<'_>,
    raw: &RawScenario,
    names: &Names,
    coroutines: &BTreeMap<String, Rc<Coroutine>>,
    settings: &Settings,
) -> Vec<Variant> {
    let main_default = raw
        .main
        .as_ref()
        .map(|m| (m.get_ref().clone(), m.span().start));
    let mut variants = Vec::new();
    if raw.variants.is_empty() {
        let (main, at) = main_default.clone().unwrap_or(("main".to_string(), 0));
        check_main(cx, coroutines, &main, 0, at);
        variants.push(Variant {
            name: "main".to_string(),
            description: None,
            main,
            args: Vec::new(),
            seed: None,
            model: None,
            python: None,
            eager_tasks: None,
            step_overhead: None,
        });
    }
    let mut seen = BTreeSet::new();
    if raw.variants.len() > MAX_VARIANTS {
        cx.err(
            raw.variants[MAX_VARIANTS].span().start,
            format!(
                "{} variants: a scenario has at most {MAX_VARIANTS} (split it into several files)",
                raw.variants.len()
            ),
            None,
        );
    }
    for v in raw.variants.iter().take(MAX_VARIANTS) {
        let at = v.span().start;
        let rv = v.get_ref();
        let name = rv.name.get_ref().clone();
        if !is_path_part(&name) {
            cx.err(
                rv.name.span().start,
                format!(
                    "variant name {} cannot name output files: use ASCII letters, digits, `_`, `-` and `.` (not first), at most 100",
                    elide(&name)
                ),
                None,
            );
        }
        if !seen.insert(name.clone()) {
            cx.err(
                rv.name.span().start,
                format!("variant `{name}` is declared twice"),
                None,
            );
        }
        let (main, main_at) = match (&rv.main, &main_default) {
            (Some(m), _) => (m.get_ref().clone(), m.span().start),
            (None, Some((m, a))) => (m.clone(), *a),
            (None, None) => ("main".to_string(), at),
        };
        let mut args = Vec::new();
        let mut scope = Scope::new(&[]);
        for a in &rv.args {
            if let Some(e) = value_expr(cx, names, &mut scope, a) {
                args.push(e);
            }
        }
        scope.check(cx);
        check_main(cx, coroutines, &main, args.len(), main_at);
        let mut python = None;
        let model = rv.model.as_ref().map(|m| {
            let mut p = settings.python;
            let model = parse_model(cx, m, &mut p);
            if p != settings.python {
                python = Some(p);
            }
            model
        });
        if let Some(p) = &rv.python {
            match p.get_ref().parse::<PythonVersion>() {
                Ok(v) => python = Some(v),
                Err(e) => cx.err(p.span().start, e.to_string(), None),
            }
        }
        let seed = rv
            .seed
            .as_ref()
            .and_then(|s| match u64::try_from(*s.get_ref()) {
                Ok(v) => Some(v),
                Err(_) => {
                    cx.err(
                        s.span().start,
                        "`seed` must be a non-negative integer",
                        None,
                    );
                    None
                }
            });
        variants.push(Variant {
            name,
            description: rv.description.as_ref().map(|d| d.get_ref().clone()),
            main,
            args,
            seed,
            model,
            python,
            eager_tasks: rv.eager_tasks.as_ref().map(|e| *e.get_ref()),
            step_overhead: rv
                .step_overhead
                .as_ref()
                .and_then(|o| duration_field(cx, o)),
        });
    }
    variants
}

pub(super) fn parse_model(
    cx: &mut Ctx<'_>,
    m: &Spanned<String>,
    python: &mut PythonVersion,
) -> LoopModel {
    let s = m.get_ref().as_str();
    let (model, version) = match s.split_once('-') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let parsed = match model.parse::<LoopModel>() {
        Ok(m) => m,
        Err(e) => {
            let hint = did_you_mean(model, LoopModel::ALL.iter().map(|m| m.name()));
            cx.err(m.span().start, e.to_string(), hint);
            LoopModel::Asyncio
        }
    };
    if let Some(v) = version {
        if parsed != LoopModel::Asyncio {
            cx.err(
                m.span().start,
                format!("only the asyncio model takes a Python version, not `{model}`"),
                None,
            );
        }
        match v.parse::<PythonVersion>() {
            Ok(p) => *python = p,
            Err(e) => cx.err(m.span().start, e.to_string(), None),
        }
    }
    parsed
}

fn check_main(
    cx: &mut Ctx<'_>,
    coroutines: &BTreeMap<String, Rc<Coroutine>>,
    main: &str,
    nargs: usize,
    at: usize,
) {
    match coroutines.get(main) {
        None => {
            let hint = did_you_mean(main, coroutines.keys().map(String::as_str)).or_else(|| {
                Some(format!(
                    "define it as a table `[coroutines.{main}]` with `steps = [...]`"
                ))
            });
            cx.err(
                at,
                format!("the main coroutine `{main}` is not defined"),
                hint,
            );
        }
        Some(c) if c.params.len() != nargs => cx.err(
            at,
            format!(
                "the main coroutine `{main}` takes {} argument(s), the variant gives {nargs}",
                c.params.len()
            ),
            Some("set them with `args = [...]` in the variant".into()),
        ),
        Some(c) if c.is_generator => cx.err(
            at,
            format!("the main coroutine `{main}` is an async generator (it has `yield`)"),
            None,
        ),
        _ => {}
    }
}

pub(super) fn primitive(
    cx: &mut Ctx<'_>,
    name: &str,
    p: &Spanned<RawPrimitive>,
) -> Option<Primitive> {
    let r = p.get_ref();
    let kind = r.kind.get_ref().as_str();
    let at = r.kind.span().start;
    let count = |cx: &mut Ctx<'_>,
                 v: &Option<Spanned<i64>>,
                 what: &str,
                 default: Option<i64>|
     -> Option<usize> {
        match v
            .as_ref()
            .map(|v| (*v.get_ref(), v.span().start))
            .or(default.map(|d| (d, at)))
        {
            None => {
                cx.err(
                    at,
                    format!("primitive `{name}`: `{kind}` needs `{what} = N`"),
                    None,
                );
                None
            }
            Some((n, off)) => match usize::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    cx.err(
                        off,
                        format!("primitive `{name}`: `{what}` must be 0 or more, not {n}"),
                        None,
                    );
                    None
                }
            },
        }
    };
    let known = [
        "lock",
        "semaphore",
        "bounded_semaphore",
        "event",
        "condition",
        "barrier",
        "queue",
        "lifo_queue",
        "priority_queue",
    ];
    let extra = |cx: &mut Ctx<'_>, v: &Option<Spanned<i64>>, what: &str| {
        if let Some(v) = v {
            cx.err(
                v.span().start,
                format!("primitive `{name}`: a `{kind}` has no `{what}`"),
                None,
            );
        }
    };
    Some(match kind {
        "lock" => {
            extra(cx, &r.value, "value");
            extra(cx, &r.maxsize, "maxsize");
            Primitive::Lock
        }
        "event" => {
            extra(cx, &r.value, "value");
            extra(cx, &r.maxsize, "maxsize");
            Primitive::Event
        }
        "condition" => {
            extra(cx, &r.value, "value");
            extra(cx, &r.maxsize, "maxsize");
            Primitive::Condition
        }
        "barrier" => {
            extra(cx, &r.maxsize, "maxsize");
            let n = count(cx, &r.value, "value", None)?;
            if n == 0 {
                cx.err(
                    at,
                    format!(
                        "primitive `{name}`: a barrier needs `value` (its parties) of 1 or more"
                    ),
                    None,
                );
            }
            Primitive::Barrier(n.max(1))
        }
        "semaphore" | "bounded_semaphore" => {
            extra(cx, &r.maxsize, "maxsize");
            let n = count(cx, &r.value, "value", Some(1))?;
            if kind == "semaphore" {
                Primitive::Semaphore(n)
            } else {
                Primitive::BoundedSemaphore(n)
            }
        }
        "queue" | "lifo_queue" | "priority_queue" => {
            extra(cx, &r.value, "value");
            let maxsize = count(cx, &r.maxsize, "maxsize", Some(0))?;
            let kind = match kind {
                "queue" => QueueKind::Fifo,
                "lifo_queue" => QueueKind::Lifo,
                _ => QueueKind::Priority,
            };
            Primitive::Queue { kind, maxsize }
        }
        other => {
            let hint = did_you_mean(other, known);
            cx.err(
                at,
                format!(
                    "primitive `{name}`: unknown kind `{other}`; expected one of {}",
                    known.join(", ")
                ),
                hint,
            );
            return None;
        }
    })
}

pub(super) fn params(cx: &mut Ctx<'_>, raw: &[Spanned<String>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in raw {
        let name = p.get_ref();
        if !is_ident(name) {
            cx.err(
                p.span().start,
                format!("parameter `{name}` is not a valid name"),
                None,
            );
        } else if out.contains(name) {
            cx.err(
                p.span().start,
                format!("parameter `{name}` appears twice"),
                None,
            );
        } else if IMPLICIT_VARS.contains(&name.as_str()) {
            cx.err(
                p.span().start,
                format!("`{name}` is a built-in name: choose another parameter name"),
                None,
            );
        }
        out.push(name.clone());
    }
    out
}
