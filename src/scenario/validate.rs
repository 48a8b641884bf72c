//! From TOML text to a validated [`Scenario`], in two stages: raw serde
//! structs that mirror the file (`deny_unknown_fields`, with spans), then
//! checks that resolve every name and value. Every problem becomes a
//! [`Diagnostic`] with file, line, column, what was expected and, where a
//! name is close to a known one, a "did you mean".

use super::expr::{self, Expr, Piece};
use super::model::*;
use super::{Diagnostic, ScenarioError};
use crate::model::{LoopModel, PythonVersion};
use crate::sync::QueueKind;
use crate::time::Duration;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use toml::Spanned;

type RawMap = Spanned<BTreeMap<String, Spanned<RValue>>>;

/// A TOML value that keeps the span of every nested value (`toml::Value`
/// drops them), so messages point at the exact nested step.
#[derive(Clone, Debug)]
pub(crate) enum RValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Date,
    Array(Vec<Spanned<RValue>>),
    Table(BTreeMap<String, Spanned<RValue>>),
}

impl<'de> Deserialize<'de> for RValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a TOML value")
            }
            fn visit_str<E>(self, v: &str) -> Result<RValue, E> {
                Ok(RValue::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<RValue, E> {
                Ok(RValue::Str(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RValue, E> {
                Ok(RValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RValue, E> {
                i64::try_from(v)
                    .map(RValue::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RValue, E> {
                Ok(RValue::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<RValue, E> {
                Ok(RValue::Bool(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RValue, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Spanned<RValue>>()? {
                    out.push(v);
                }
                Ok(RValue::Array(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RValue, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = map.next_key::<String>()? {
                    if k.starts_with("$__toml_private") {
                        let _ = map.next_value::<serde::de::IgnoredAny>()?;
                        return Ok(RValue::Date);
                    }
                    let v = map.next_value::<Spanned<RValue>>()?;
                    out.insert(k, v);
                }
                Ok(RValue::Table(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    title: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    description: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
    model: Option<Spanned<String>>,
    python: Option<Spanned<String>>,
    eager_tasks: Option<Spanned<bool>>,
    step_overhead: Option<Spanned<String>>,
    main: Option<Spanned<String>>,
    limits: Option<Spanned<RawLimits>>,
    #[serde(default)]
    coroutines: BTreeMap<String, Spanned<RawCoroutine>>,
    #[serde(default)]
    contexts: BTreeMap<String, Spanned<RawContext>>,
    #[serde(default)]
    primitives: BTreeMap<String, Spanned<RawPrimitive>>,
    #[serde(default)]
    variants: Vec<Spanned<RawVariant>>,
    #[serde(default)]
    expect: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_time: Option<Spanned<String>>,
    max_steps: Option<Spanned<i64>>,
    max_tasks: Option<Spanned<i64>>,
    max_call_depth: Option<Spanned<i64>>,
    max_output_lines: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoroutine {
    #[serde(default)]
    params: Vec<Spanned<String>>,
    #[serde(default)]
    steps: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    #[serde(default)]
    params: Vec<Spanned<String>>,
    #[serde(default)]
    enter: Vec<RawMap>,
    #[serde(default)]
    exit: Vec<RawMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrimitive {
    kind: Spanned<String>,
    value: Option<Spanned<i64>>,
    maxsize: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: Spanned<String>,
    main: Option<Spanned<String>>,
    #[serde(default)]
    args: Vec<Spanned<RValue>>,
    description: Option<Spanned<String>>,
    seed: Option<Spanned<i64>>,
    model: Option<Spanned<String>>,
    python: Option<Spanned<String>>,
}

/// Maps byte offsets to 1-based lines and columns.
struct Lines {
    starts: Vec<usize>,
    text: String,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines {
            starts,
            text: text.to_string(),
        }
    }

    fn pos(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        (line, col)
    }
}

/// The step verbs and the modifiers each accepts.
const VERBS: &[(&str, &[&str])] = &[
    ("print", &[]),
    ("sleep", &[]),
    ("block", &[]),
    ("await", &["into"]),
    ("spawn", &["as", "name"]),
    ("cancel", &[]),
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
    ("call_later", &["set_result", "value"]),
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
];

/// Claim keys: the main key of each claim kind, then modifiers.
const CLAIM_KEYS: &[&str] = &[
    "elapsed",
    "elapsed_at_most",
    "elapsed_at_least",
    "elapsed_between",
    "output",
    "order",
    "printed",
    "task",
    "max_concurrent",
    "outcome",
    "faster",
];
const CLAIM_MODIFIERS: &[&str] = &[
    "variant",
    "seeds",
    "note",
    "at",
    "at_most",
    "at_least",
    "ends",
    "error",
    "is",
    "than",
    "ratio_at_least",
];

/// Builtin functions usable in values.
const BUILTINS: &[(&str, usize, usize)] = &[
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
const IMPLICIT_VARS: &[&str] = &["now", "task"];

/// Damerau-Levenshtein-ish edit distance for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The closest known name, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    got: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (got.chars().count() / 3).clamp(1, 3);
    known
        .into_iter()
        .map(|k| (distance(got, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| format!("did you mean `{k}`?"))
}

struct Ctx<'a> {
    file: &'a str,
    lines: Lines,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, offset: usize, message: impl Into<String>, hint: Option<String>) {
        let (line, col) = self.lines.pos(offset);
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
            hint,
        });
    }

    fn line(&self, offset: usize) -> usize {
        self.lines.pos(offset).0
    }
}

/// Parses and validates a scenario file's text.
///
/// # Errors
///
/// Every problem found, each with file, line, column and a message.
pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let mut cx = Ctx {
        file,
        lines: Lines::new(text),
        diags: Vec::new(),
    };
    let raw: RawScenario = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let msg = e.message().trim().to_string();
            let hint = unknown_field_hint(&msg).or_else(|| {
                msg.contains("expected a map")
                    .then(|| "a step is a table like `{ print = \"hello\" }`, a claim a table like `elapsed = \"3s\"`".to_string())
            });
            cx.err(offset, msg, hint);
            return Err(ScenarioError {
                diagnostics: cx.diags,
            });
        }
    };
    let scenario = build(&mut cx, raw);
    if cx.diags.is_empty() {
        Ok(scenario.expect("no diagnostics means a scenario"))
    } else {
        Err(ScenarioError {
            diagnostics: cx.diags,
        })
    }
}

/// serde says "unknown field `x`, expected one of `a`, `b`": suggest the closest.
fn unknown_field_hint(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (got, rest) = rest.split_once('`')?;
    let known: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    did_you_mean(got, known)
}

fn build(cx: &mut Ctx<'_>, raw: RawScenario) -> Option<Scenario> {
    let stem = std::path::Path::new(cx.file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
        .to_string();
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
        let mut count = |v: &Option<Spanned<i64>>, name: &str, slot: &mut u64| {
            if let Some(v) = v {
                match u64::try_from(*v.get_ref()) {
                    Ok(n) if n > 0 => *slot = n,
                    _ => cx.err(
                        v.span().start,
                        format!("`{name}` must be a positive integer"),
                        None,
                    ),
                }
            }
        };
        count(&l.max_steps, "max_steps", &mut settings.limits.max_steps);
        count(&l.max_tasks, "max_tasks", &mut settings.limits.max_tasks);
        let mut depth = settings.max_call_depth as u64;
        count(&l.max_call_depth, "max_call_depth", &mut depth);
        settings.max_call_depth = depth as usize;
        let mut lines = settings.max_output_lines as u64;
        count(&l.max_output_lines, "max_output_lines", &mut lines);
        settings.max_output_lines = lines as usize;
    }

    // Names first, so that bodies can refer to each other.
    let coroutine_names: BTreeSet<String> = raw.coroutines.keys().cloned().collect();
    let context_names: BTreeSet<String> = raw.contexts.keys().cloned().collect();
    for name in coroutine_names.iter().chain(&context_names) {
        if !is_ident(name) {
            cx.err(
                0,
                format!("`{name}` is not a valid name: use letters, digits and `_`"),
                None,
            );
        }
    }
    for dup in coroutine_names.intersection(&context_names) {
        cx.err(
            0,
            format!("`{dup}` is both a coroutine and a context manager: rename one"),
            None,
        );
    }
    let mut primitives = BTreeMap::new();
    for (name, p) in &raw.primitives {
        if let Some(prim) = primitive(cx, name, p) {
            primitives.insert(name.clone(), prim);
        }
    }
    let names = Names {
        coroutines: coroutine_names,
        contexts: context_names,
        primitives: primitives.clone(),
        params: raw
            .coroutines
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().params.len()))
            .chain(
                raw.contexts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.get_ref().params.len())),
            )
            .collect(),
    };

    let mut coroutines = BTreeMap::new();
    for (name, c) in &raw.coroutines {
        let params = params(cx, &c.get_ref().params);
        let mut scope = Scope::new(&params);
        let body = steps(cx, &names, &mut scope, &c.get_ref().steps);
        scope.check(cx);
        let is_generator = contains_yield(&body);
        coroutines.insert(
            name.clone(),
            Rc::new(Coroutine {
                name: name.clone(),
                params,
                body,
                is_generator,
                line: cx.line(c.span().start),
            }),
        );
    }
    let mut contexts = BTreeMap::new();
    for (name, c) in &raw.contexts {
        let params = params(cx, &c.get_ref().params);
        let mut scope = Scope::new(&params);
        let enter = steps(cx, &names, &mut scope, &c.get_ref().enter);
        let exit = steps(cx, &names, &mut scope, &c.get_ref().exit);
        scope.check(cx);
        if contains_yield(&enter) || contains_yield(&exit) {
            cx.err(
                c.span().start,
                format!("context manager `{name}` cannot `yield`"),
                None,
            );
        }
        contexts.insert(
            name.clone(),
            Rc::new(ContextManager {
                name: name.clone(),
                params,
                enter,
                exit,
            }),
        );
    }

    let main_default = raw
        .main
        .as_ref()
        .map(|m| (m.get_ref().clone(), m.span().start));
    let mut variants = Vec::new();
    if raw.variants.is_empty() {
        let (main, at) = main_default.clone().unwrap_or(("main".to_string(), 0));
        check_main(cx, &coroutines, &main, 0, at);
        variants.push(Variant {
            name: "main".to_string(),
            description: None,
            main,
            args: Vec::new(),
            seed: None,
            model: None,
            python: None,
        });
    }
    let mut seen = BTreeSet::new();
    for v in &raw.variants {
        let at = v.span().start;
        let rv = v.get_ref();
        let name = rv.name.get_ref().clone();
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
            if let Some(e) = value_expr(cx, &names, &mut scope, a) {
                args.push(e);
            }
        }
        scope.check(cx);
        check_main(cx, &coroutines, &main, args.len(), main_at);
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
        });
    }
    check_recursion(cx, &coroutines, &contexts);
    let generators: BTreeSet<&str> = coroutines
        .values()
        .filter(|c| c.is_generator)
        .map(|c| c.name.as_str())
        .collect();
    for c in coroutines.values() {
        check_generators(cx, &generators, &c.body);
    }
    for c in contexts.values() {
        check_generators(cx, &generators, &c.enter);
        check_generators(cx, &generators, &c.exit);
    }

    let variant_names: Vec<String> = variants.iter().map(|v| v.name.clone()).collect();
    let claims = raw
        .expect
        .iter()
        .filter_map(|c| claim(cx, c, &variant_names))
        .collect();

    Some(Scenario {
        file: cx.file.to_string(),
        name: raw.name.map(|n| n.into_inner()).unwrap_or(stem.clone()),
        title: raw.title.map(|n| n.into_inner()).unwrap_or(stem),
        source: raw.source.map(|s| s.into_inner()),
        description: raw.description.map(|s| s.into_inner()),
        settings,
        coroutines,
        contexts,
        primitives,
        variants,
        claims,
    })
}

fn parse_model(cx: &mut Ctx<'_>, m: &Spanned<String>, python: &mut PythonVersion) -> LoopModel {
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

fn primitive(cx: &mut Ctx<'_>, name: &str, p: &Spanned<RawPrimitive>) -> Option<Primitive> {
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

fn params(cx: &mut Ctx<'_>, raw: &[Spanned<String>]) -> Vec<String> {
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

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_alphabetic() || f == '_')
        && c.all(|c| c.is_alphanumeric() || c == '_')
}

struct Names {
    coroutines: BTreeSet<String>,
    contexts: BTreeSet<String>,
    primitives: BTreeMap<String, Primitive>,
    params: BTreeMap<String, usize>,
}

/// Variables of one coroutine: defined names, and the reads to check once
/// the whole body is known (Python resolves names at run time, but a name
/// that is never assigned anywhere is certainly a mistake).
struct Scope {
    defined: BTreeSet<String>,
    reads: Vec<(String, usize)>,
}

impl Scope {
    fn new(params: &[String]) -> Scope {
        Scope {
            defined: params.iter().cloned().collect(),
            reads: Vec::new(),
        }
    }

    fn define(&mut self, name: &str) {
        self.defined.insert(name.to_string());
    }

    fn check(self, cx: &mut Ctx<'_>) {
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

fn steps(cx: &mut Ctx<'_>, names: &Names, scope: &mut Scope, raw: &[RawMap]) -> Rc<[Step]> {
    raw.iter()
        .filter_map(|s| step(cx, names, scope, s))
        .collect::<Vec<_>>()
        .into()
}

/// Reads the keys of one step: exactly one verb, and only its modifiers.
fn step(cx: &mut Ctx<'_>, names: &Names, scope: &mut Scope, raw: &RawMap) -> Option<Step> {
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
        "spawn" => StepKind::Spawn {
            call: coroutine_call(cx, names, scope, v, false)?,
            bind: var_def(cx, scope, get("as")),
            name: match get("name") {
                Some(n) => Some(template(cx, scope, n)?),
                None => None,
            },
        },
        "cancel" => StepKind::Cancel(value_expr(cx, names, scope, v)?),
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
                body: body(cx, names, scope, get("steps"), verb, at)?,
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
        "raise" => {
            let kind = string(cx, v, "an exception class name like \"ValueError\"")?;
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
                    let kinds = string_list(cx, e)?;
                    let bind = var_def(cx, scope, get("as"));
                    let Some(h) = get("handler") else {
                        cx.err(
                            e.span().start,
                            "`except` needs `handler = [ … ]` (use [] to ignore the error)",
                            None,
                        );
                        return None;
                    };
                    Some(Handler {
                        kinds,
                        bind,
                        body: step_list(cx, names, scope, h)?,
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
        "return" => StepKind::Return(match v.get_ref() {
            RValue::Str(s) if s.is_empty() => None,
            _ => Some(value_expr(cx, names, scope, v)?),
        }),
        "repeat" => {
            let times = value_expr(cx, names, scope, v)?;
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
                body: body(cx, names, scope, get("steps"), verb, at)?,
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
                body: body(cx, names, scope, get("steps"), verb, at)?,
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
                body: body(cx, names, scope, get("steps"), verb, at)?,
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
        "call_later" => {
            let delay = value_expr(cx, names, scope, v)?;
            check_const_duration(cx, &delay, v.span().start);
            let Some(f) = get("set_result") else {
                cx.err(at, "`call_later` needs `set_result = \"future\"`", None);
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
fn each(
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

fn verb_list() -> String {
    VERBS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
}

fn body(
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

/// A TOML array of step tables.
fn step_list(
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

fn type_of(v: &RValue) -> &'static str {
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

fn string(cx: &mut Ctx<'_>, v: &Spanned<RValue>, what: &str) -> Option<String> {
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

fn string_list(cx: &mut Ctx<'_>, v: &Spanned<RValue>) -> Option<Vec<String>> {
    match v.get_ref() {
        RValue::Str(s) => Some(vec![s.clone()]),
        RValue::Array(items) => items
            .iter()
            .map(|i| match i.get_ref() {
                RValue::Str(s) => Some(s.clone()),
                other => {
                    cx.err(
                        i.span().start,
                        format!("expected exception names, found {}", type_of(other)),
                        None,
                    );
                    None
                }
            })
            .collect(),
        other => {
            cx.err(
                v.span().start,
                format!(
                    "expected an exception name or a list of them, found {}",
                    type_of(other)
                ),
                None,
            );
            None
        }
    }
}

fn bool_field(cx: &mut Ctx<'_>, v: Option<&Spanned<RValue>>) -> bool {
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
fn var_def(cx: &mut Ctx<'_>, scope: &mut Scope, v: Option<&Spanned<RValue>>) -> Option<String> {
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
fn var_use(cx: &mut Ctx<'_>, scope: &mut Scope, v: &Spanned<RValue>) -> Option<String> {
    let name = string(cx, v, "a variable name")?;
    scope.reads.push((name.clone(), v.span().start));
    Some(name)
}

fn primitive_ref(
    cx: &mut Ctx<'_>,
    names: &Names,
    v: &Spanned<RValue>,
    want: &str,
) -> Option<String> {
    let name = string(cx, v, "a primitive name")?;
    let ok = |p: &Primitive| match want {
        "lock" => matches!(p, Primitive::Lock),
        "semaphore" => matches!(p, Primitive::Semaphore(_) | Primitive::BoundedSemaphore(_)),
        "event" => matches!(p, Primitive::Event),
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

fn opt_value(
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
fn toml_expr(cx: &mut Ctx<'_>, v: &RValue, at: usize) -> Option<Expr> {
    Some(match v {
        RValue::Str(s) => match expr::parse(s) {
            Ok(e) => e,
            Err(e) => {
                cx.err(at + 1 + e.offset, format!("in `{s}`: {}", e.message), None);
                return None;
            }
        },
        RValue::Int(i) => Expr::Int(*i),
        RValue::Float(f) => Expr::Float(*f),
        RValue::Bool(b) => Expr::Bool(*b),
        RValue::Array(items) => Expr::List(
            items
                .iter()
                .map(|i| toml_expr(cx, i.get_ref(), i.span().start))
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

/// A value expression: calls must be builtins; variables are recorded.
fn value_expr(
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

fn check_value(cx: &mut Ctx<'_>, names: &Names, scope: &mut Scope, e: &Expr, at: usize) {
    let mut vars = Vec::new();
    expr::vars(e, &mut vars);
    for v in vars {
        scope.reads.push((v.to_string(), at));
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
            None if names.coroutines.contains(name) => cx.err(
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
                    .chain(names.coroutines.iter().map(String::as_str));
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
fn coroutine_call(
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

fn call_of(
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
fn target(
    cx: &mut Ctx<'_>,
    names: &Names,
    scope: &mut Scope,
    v: &Spanned<RValue>,
) -> Option<Target> {
    let at = v.span().start;
    let e = toml_expr(cx, v.get_ref(), at)?;
    target_of(cx, names, scope, e, at)
}

fn target_of(
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
fn targets(
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

fn template(cx: &mut Ctx<'_>, scope: &mut Scope, v: &Spanned<RValue>) -> Option<Vec<Piece>> {
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
                if let Piece::Value(e, _) = p {
                    let mut vars = Vec::new();
                    expr::vars(e, &mut vars);
                    for name in vars {
                        scope.reads.push((name.to_string(), at));
                    }
                    let mut calls = Vec::new();
                    expr::calls(e, &mut calls);
                    for (name, _) in calls {
                        if !BUILTINS.iter().any(|(b, _, _)| *b == name) {
                            cx.err(at, format!("unknown function `{name}` in text"), None);
                        }
                    }
                }
            }
            Some(pieces)
        }
        Err(e) => {
            cx.err(
                at + 1 + e.offset,
                format!("in text `{text}`: {}", e.message),
                None,
            );
            None
        }
    }
}

fn duration_field(cx: &mut Ctx<'_>, v: &Spanned<String>) -> Option<Duration> {
    match expr::parse_duration(v.get_ref()) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.err(v.span().start, format!("bad duration: {e}"), None);
            None
        }
    }
}

/// Constant durations are checked now: negative ones are a mistake.
fn check_const_duration(cx: &mut Ctx<'_>, e: &Expr, at: usize) {
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

fn contains_yield(steps: &[Step]) -> bool {
    steps.iter().any(|s| match &s.kind {
        StepKind::Yield(_) => true,
        StepKind::Timeout { body, .. }
        | StepKind::AsCompleted { body, .. }
        | StepKind::Repeat { body, .. }
        | StepKind::For { body, .. }
        | StepKind::AsyncFor { body, .. }
        | StepKind::AsyncWith { body, .. }
        | StepKind::Lock { body, .. }
        | StepKind::Semaphore { body, .. }
        | StepKind::Section { body, .. } => contains_yield(body),
        StepKind::Try {
            body,
            handler,
            finally,
        } => {
            contains_yield(body)
                || contains_yield(finally)
                || handler.as_ref().is_some_and(|h| contains_yield(&h.body))
        }
        StepKind::If {
            then, otherwise, ..
        } => contains_yield(then) || contains_yield(otherwise),
        _ => false,
    })
}

/// Calls a body makes for sure (not inside a loop or a handler): an inline
/// or spawned call cycle made only of such calls never ends.
fn unconditional_calls(steps: &[Step], out: &mut Vec<(String, usize)>) {
    for s in steps {
        match &s.kind {
            StepKind::Await {
                target: Target::Call(c),
                ..
            }
            | StepKind::WaitFor {
                target: Target::Call(c),
                ..
            }
            | StepKind::Shield {
                target: Target::Call(c),
                ..
            }
            | StepKind::Spawn { call: c, .. }
            | StepKind::AsyncWith { ctx: c, .. }
            | StepKind::AsyncFor { generator: c, .. } => out.push((c.name.clone(), s.line)),
            StepKind::Gather { items, .. } => {
                for t in items {
                    if let Target::Call(c) = t {
                        out.push((c.name.clone(), s.line));
                    }
                }
            }
            StepKind::TaskGroup { calls, .. } => {
                out.extend(calls.iter().map(|c| (c.name.clone(), s.line)))
            }
            _ => {}
        }
        match &s.kind {
            StepKind::Timeout { body, .. }
            | StepKind::AsyncWith { body, .. }
            | StepKind::Lock { body, .. }
            | StepKind::Semaphore { body, .. }
            | StepKind::Section { body, .. } => unconditional_calls(body, out),
            StepKind::Try { body, finally, .. } => {
                unconditional_calls(body, out);
                unconditional_calls(finally, out);
            }
            StepKind::Raise { .. } | StepKind::Return(_) => return,
            _ => {}
        }
    }
}

/// Async generators go with `async_for` and nothing else.
fn check_generators(cx: &mut Ctx<'_>, generators: &BTreeSet<&str>, steps: &[Step]) {
    let report = |cx: &mut Ctx<'_>, line: usize, msg: String, hint: &str| {
        cx.diags.push(Diagnostic {
            file: cx.file.to_string(),
            line,
            col: 1,
            message: msg,
            hint: Some(hint.to_string()),
        });
    };
    for s in steps {
        let mut calls: Vec<&Call> = Vec::new();
        match &s.kind {
            StepKind::AsyncFor { generator, .. }
                if !generators.contains(generator.name.as_str()) =>
            {
                report(
                    cx,
                    s.line,
                    format!(
                        "`async_for` needs an async generator, and `{}` has no `yield`",
                        generator.name
                    ),
                    "add `{ yield = \"value\" }` steps to it",
                )
            }
            StepKind::Await {
                target: Target::Call(c),
                ..
            }
            | StepKind::WaitFor {
                target: Target::Call(c),
                ..
            }
            | StepKind::Shield {
                target: Target::Call(c),
                ..
            }
            | StepKind::Spawn { call: c, .. } => calls.push(c),
            StepKind::Gather { items, .. } | StepKind::AsCompleted { items, .. } => {
                calls.extend(items.iter().filter_map(|t| match t {
                    Target::Call(c) => Some(c),
                    Target::Value(_) => None,
                }))
            }
            StepKind::TaskGroup { calls: cs, .. } => calls.extend(cs),
            _ => {}
        }
        for c in calls {
            if generators.contains(c.name.as_str()) {
                report(
                    cx,
                    s.line,
                    format!(
                        "`{}` is an async generator (it has `yield`): it cannot be awaited or run as a task",
                        c.name
                    ),
                    "iterate it with `{ async_for = \"x\", in = \"gen()\", steps = [...] }`",
                );
            }
        }
        match &s.kind {
            StepKind::Timeout { body, .. }
            | StepKind::AsCompleted { body, .. }
            | StepKind::Repeat { body, .. }
            | StepKind::For { body, .. }
            | StepKind::AsyncFor { body, .. }
            | StepKind::AsyncWith { body, .. }
            | StepKind::Lock { body, .. }
            | StepKind::Semaphore { body, .. }
            | StepKind::Section { body, .. } => check_generators(cx, generators, body),
            StepKind::Try {
                body,
                handler,
                finally,
            } => {
                check_generators(cx, generators, body);
                check_generators(cx, generators, finally);
                if let Some(h) = handler {
                    check_generators(cx, generators, &h.body);
                }
            }
            StepKind::If {
                then, otherwise, ..
            } => {
                check_generators(cx, generators, then);
                check_generators(cx, generators, otherwise);
            }
            _ => {}
        }
    }
}

fn check_recursion(
    cx: &mut Ctx<'_>,
    coroutines: &BTreeMap<String, Rc<Coroutine>>,
    contexts: &BTreeMap<String, Rc<ContextManager>>,
) {
    let mut edges: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    for (name, c) in coroutines {
        let mut out = Vec::new();
        unconditional_calls(&c.body, &mut out);
        edges.insert(name.clone(), out);
    }
    for (name, c) in contexts {
        let mut out = Vec::new();
        unconditional_calls(&c.enter, &mut out);
        unconditional_calls(&c.exit, &mut out);
        edges.insert(name.clone(), out);
    }
    // Depth-first search for a cycle; report each cycle once.
    let mut reported = BTreeSet::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()], 0usize)];
        let mut seen = BTreeSet::new();
        while let Some((node, path, line)) = stack.pop() {
            for (next, l) in edges.get(&node).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(next.clone());
                    let mut key: Vec<String> = cycle[..cycle.len() - 1].to_vec();
                    key.sort();
                    if reported.insert(key) {
                        let at_line = if line == 0 { *l } else { line };
                        cx.diags.push(Diagnostic {
                            file: cx.file.to_string(),
                            line: at_line,
                            col: 1,
                            message: format!("unbounded recursion: {} calls itself for ever", cycle.join(" → ")),
                            hint: Some(
                                "nothing stops the recursion: put the call inside a `repeat` with a count that reaches 0, or remove it".into(),
                            ),
                        });
                    }
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p, if line == 0 { *l } else { line }));
                }
            }
        }
    }
}

fn claim(cx: &mut Ctx<'_>, raw: &RawMap, variants: &[String]) -> Option<Claim> {
    let at = raw.span().start;
    let map = raw.get_ref();
    let line = cx.line(at);
    for (k, v) in map {
        if !CLAIM_KEYS.contains(&k.as_str()) && !CLAIM_MODIFIERS.contains(&k.as_str()) {
            let hint = did_you_mean(k, CLAIM_KEYS.iter().chain(CLAIM_MODIFIERS).copied());
            cx.err(v.span().start, format!("unknown claim key `{k}`"), hint);
            return None;
        }
    }
    let mains: Vec<&String> = map
        .keys()
        .filter(|k| CLAIM_KEYS.contains(&k.as_str()))
        .collect();
    let main = match mains.as_slice() {
        [m] => m.as_str(),
        [] => {
            cx.err(
                at,
                format!("a claim needs one of: {}", CLAIM_KEYS.join(", ")),
                None,
            );
            return None;
        }
        many => {
            let list: Vec<String> = many.iter().map(|m| format!("`{m}`")).collect();
            cx.err(
                at,
                format!(
                    "one claim per `[[expect]]`, this one has {}",
                    list.join(" and ")
                ),
                None,
            );
            return None;
        }
    };
    let get = |k: &str| map.get(k);
    let dur = |cx: &mut Ctx<'_>, v: &Spanned<RValue>| -> Option<Duration> {
        let s = string(cx, v, "a duration like \"3s\"")?;
        match expr::parse_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.err(v.span().start, format!("bad duration: {e}"), None);
                None
            }
        }
    };
    let bound = |cx: &mut Ctx<'_>| -> Option<Option<Bound>> {
        Some(match (get("at"), get("at_most"), get("at_least")) {
            (None, None, None) => None,
            (Some(a), None, None) => Some(Bound::Exact(dur(cx, a)?)),
            (None, Some(a), None) => Some(Bound::AtMost(dur(cx, a)?)),
            (None, None, Some(a)) => Some(Bound::AtLeast(dur(cx, a)?)),
            _ => {
                cx.err(at, "give one of `at`, `at_most`, `at_least`", None);
                return None;
            }
        })
    };
    let lines = |cx: &mut Ctx<'_>, v: &Spanned<RValue>| -> Option<Vec<String>> {
        match v.get_ref() {
            RValue::Array(items) => items
                .iter()
                .map(|i| match i.get_ref() {
                    RValue::Str(s) => Some(s.clone()),
                    other => {
                        cx.err(
                            i.span().start,
                            format!("expected lines of text, found {}", type_of(other)),
                            None,
                        );
                        None
                    }
                })
                .collect(),
            other => {
                cx.err(
                    v.span().start,
                    format!("expected a list of lines, found {}", type_of(other)),
                    None,
                );
                None
            }
        }
    };
    let v = &map[main];
    let kind = match main {
        "elapsed" => ClaimKind::Elapsed(Bound::Exact(dur(cx, v)?)),
        "elapsed_at_most" => ClaimKind::Elapsed(Bound::AtMost(dur(cx, v)?)),
        "elapsed_at_least" => ClaimKind::Elapsed(Bound::AtLeast(dur(cx, v)?)),
        "elapsed_between" => {
            let RValue::Array(items) = v.get_ref() else {
                cx.err(v.span().start, "expected [\"low\", \"high\"]", None);
                return None;
            };
            let ds: Vec<Duration> = items
                .iter()
                .filter_map(|i| match i.get_ref() {
                    RValue::Str(s) => expr::parse_duration(s).ok(),
                    _ => None,
                })
                .collect();
            match ds.as_slice() {
                [lo, hi] if lo <= hi => ClaimKind::Elapsed(Bound::Between(*lo, *hi)),
                _ => {
                    cx.err(
                        v.span().start,
                        "expected [\"low\", \"high\"] durations with low <= high",
                        None,
                    );
                    return None;
                }
            }
        }
        "output" => ClaimKind::Output(lines(cx, v)?),
        "order" => {
            let l = lines(cx, v)?;
            if l.len() < 2 {
                cx.err(v.span().start, "`order` needs at least two lines", None);
                return None;
            }
            ClaimKind::Order(l)
        }
        "printed" => {
            let line = string(cx, v, "a printed line")?;
            let Some(at) = bound(cx)? else {
                cx.err(
                    v.span().start,
                    "`printed` needs `at`, `at_most` or `at_least`",
                    None,
                );
                return None;
            };
            ClaimKind::PrintedAt { line, at }
        }
        "task" => {
            let task = string(cx, v, "a task name")?;
            let how = match get("ends") {
                None => None,
                Some(e) => match string(cx, e, "returned, raised or cancelled")?.as_str() {
                    "returned" => Some(TaskEnd::Returned),
                    "cancelled" => Some(TaskEnd::Cancelled),
                    "raised" => {
                        let Some(k) = get("error") else {
                            cx.err(
                                e.span().start,
                                "`ends = \"raised\"` needs `error = \"Kind\"`",
                                None,
                            );
                            return None;
                        };
                        Some(TaskEnd::Raised(string(cx, k, "an exception class")?))
                    }
                    other => {
                        let hint = did_you_mean(other, ["returned", "raised", "cancelled"]);
                        cx.err(
                            e.span().start,
                            format!("unknown ending `{other}`: returned, raised or cancelled"),
                            hint,
                        );
                        return None;
                    }
                },
            };
            let at = bound(cx)?;
            if how.is_none() && at.is_none() {
                cx.err(
                    v.span().start,
                    "a `task` claim needs `ends` and/or `at`",
                    None,
                );
                return None;
            }
            ClaimKind::TaskEnds { task, at, how }
        }
        "max_concurrent" => {
            let section = string(cx, v, "a section or primitive name")?;
            let n = |cx: &mut Ctx<'_>, v: &Spanned<RValue>| match v.get_ref() {
                RValue::Int(i) if *i >= 0 => Some(*i as u64),
                other => {
                    cx.err(
                        v.span().start,
                        format!("expected a count (0 or more), found {}", type_of(other)),
                        None,
                    );
                    None
                }
            };
            let count = match (get("is"), get("at_most"), get("at_least")) {
                (Some(x), None, None) => Count::Exact(n(cx, x)?),
                (None, Some(x), None) => Count::AtMost(n(cx, x)?),
                (None, None, Some(x)) => Count::AtLeast(n(cx, x)?),
                _ => {
                    cx.err(
                        v.span().start,
                        "`max_concurrent` needs one of `is`, `at_most`, `at_least`",
                        None,
                    );
                    return None;
                }
            };
            ClaimKind::MaxConcurrent { section, count }
        }
        "outcome" => {
            let o = string(cx, v, "an outcome")?;
            ClaimKind::Outcome(match o.as_str() {
                "completed" => RunOutcome::Completed,
                "failed" => RunOutcome::Failed(match get("error") {
                    Some(e) => Some(string(cx, e, "an exception class")?),
                    None => None,
                }),
                "deadlock" => RunOutcome::Deadlock,
                "limit_exceeded" => RunOutcome::LimitExceeded,
                other => {
                    let known = ["completed", "failed", "deadlock", "limit_exceeded"];
                    cx.err(
                        v.span().start,
                        format!("unknown outcome `{other}`: {}", known.join(", ")),
                        did_you_mean(other, known),
                    );
                    return None;
                }
            })
        }
        "faster" => {
            let faster = string(cx, v, "a variant name")?;
            let Some(than) = get("than") else {
                cx.err(v.span().start, "`faster` needs `than = \"variant\"`", None);
                return None;
            };
            let slower = string(cx, than, "a variant name")?;
            for (name, sp) in [(&faster, v), (&slower, than)] {
                if !variants.contains(name) {
                    cx.err(
                        sp.span().start,
                        format!("unknown variant `{name}`"),
                        did_you_mean(name, variants.iter().map(String::as_str)),
                    );
                    return None;
                }
            }
            let ratio = match get("ratio_at_least") {
                None => None,
                Some(r) => match r.get_ref() {
                    RValue::Float(f) if *f > 0.0 => Some(*f),
                    RValue::Int(i) if *i > 0 => Some(*i as f64),
                    other => {
                        cx.err(
                            r.span().start,
                            format!("expected a positive number, found {}", type_of(other)),
                            None,
                        );
                        return None;
                    }
                },
            };
            ClaimKind::Faster {
                faster,
                slower,
                ratio_at_least: ratio,
            }
        }
        _ => unreachable!("claim keys and match agree"),
    };
    let variant = match get("variant") {
        None => None,
        Some(v) => {
            let name = string(cx, v, "a variant name")?;
            if !variants.contains(&name) {
                let hint = did_you_mean(&name, variants.iter().map(String::as_str));
                cx.err(v.span().start, format!("unknown variant `{name}`"), hint);
                return None;
            }
            Some(name)
        }
    };
    let seeds = match get("seeds") {
        None => None,
        Some(s) => {
            let text = string(cx, s, "a seed range like \"0..100\"")?;
            let parsed = text.split_once("..").and_then(|(a, b)| {
                Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
            });
            match parsed {
                Some((a, b)) if a < b && b - a <= 100_000 => Some((a, b)),
                _ => {
                    cx.err(s.span().start, format!("bad seed range `{text}`: write \"start..end\" with start < end (at most 100000 seeds)"), None);
                    return None;
                }
            }
        }
    };
    // Modifiers that do not belong to this claim kind.
    let allowed: &[&str] = match main {
        "printed" => &["at", "at_most", "at_least"],
        "task" => &["at", "at_most", "at_least", "ends", "error"],
        "max_concurrent" => &["is", "at_most", "at_least"],
        "outcome" => &["error"],
        "faster" => &["than", "ratio_at_least"],
        _ => &[],
    };
    for (k, v) in map {
        let k = k.as_str();
        if k != main && !["variant", "seeds", "note"].contains(&k) && !allowed.contains(&k) {
            cx.err(
                v.span().start,
                format!("`{k}` does not go with `{main}`"),
                None,
            );
            return None;
        }
    }
    if matches!(kind, ClaimKind::Faster { .. }) && variant.is_some() {
        cx.err(
            at,
            "a `faster` claim compares variants: drop `variant`",
            None,
        );
        return None;
    }
    Some(Claim {
        line,
        kind,
        variant,
        seeds,
        note: match get("note") {
            Some(n) => Some(string(cx, n, "a note")?),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_names() {
        assert_eq!(
            did_you_mean("slep", ["sleep", "spawn"]),
            Some("did you mean `sleep`?".into())
        );
        assert_eq!(
            did_you_mean("fetch_dat", ["fetch_data"]),
            Some("did you mean `fetch_data`?".into())
        );
        assert_eq!(did_you_mean("zzz", ["sleep"]), None);
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        let l = Lines::new("ab\ncd\n");
        assert_eq!(l.pos(0), (1, 1));
        assert_eq!(l.pos(4), (2, 2));
    }
}
