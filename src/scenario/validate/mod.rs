//! From TOML text to a validated [`Scenario`], in two stages: raw serde
//! structs that mirror the file (`deny_unknown_fields`, with spans), then
//! checks that resolve every name and value. Every problem becomes a
//! [`Diagnostic`] with file, line, column, what was expected and, where a
//! name is close to a known one, a "did you mean".

use super::model::{ContextManager, Coroutine, Primitive, Scenario, Settings, Variant};
use super::{Diagnostic, ScenarioError};
use crate::model::{LoopModel, PythonVersion};
use crate::sync::QueueKind;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use toml::Spanned;

mod checks;
mod claims;
mod fields;
mod names;
mod raw;
mod steps;

use checks::{check_generators, check_handlers, check_recursion, contains_yield};
use claims::claim;
use fields::{duration_field, value_expr};
use names::{IMPLICIT_VARS, Names, Scope};
use raw::{RawPrimitive, RawScenario};
use steps::steps;

/// Maps byte offsets to 1-based lines and columns, in time independent of
/// the line's length (a file may put thousands of steps on one line).
struct Lines {
    starts: Vec<usize>,
    /// Every [`Lines::STRIDE`] bytes (at a character boundary): the number of
    /// characters before that byte.
    marks: Vec<(usize, usize)>,
    text: String,
}

impl Lines {
    const STRIDE: usize = 4096;

    fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut marks = vec![(0, 0)];
        let (mut byte, mut chars) = (0, 0);
        while byte + Lines::STRIDE < text.len() {
            let mut next = byte + Lines::STRIDE;
            while !text.is_char_boundary(next) {
                next += 1;
            }
            chars += text[byte..next].chars().count();
            byte = next;
            marks.push((byte, chars));
        }
        Lines {
            starts,
            marks,
            text: text.to_string(),
        }
    }

    /// Characters before byte `offset` (a character boundary).
    fn chars_before(&self, offset: usize) -> usize {
        let i = self.marks.partition_point(|(b, _)| *b <= offset) - 1;
        let (b, c) = self.marks[i];
        c + self.text[b..offset].chars().count()
    }

    fn pos(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        let col = self.chars_before(offset) - self.chars_before(start) + 1;
        (line, col)
    }
}

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
    let odd = unusual_chars(got);
    if got.chars().count() > 64 {
        return odd;
    }
    let limit = (got.chars().count() / 3).clamp(1, 3);
    let close = known
        .into_iter()
        .map(|k| (distance(got, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| format!("did you mean `{k}`?"));
    match (close, odd) {
        (Some(c), Some(o)) => Some(format!("{c} {o}")),
        (c, o) => c.or(o),
    }
}

/// Names the characters of `s` that are not plain ASCII — look-alikes
/// (`U+0430 CYRILLIC SMALL LETTER A`) and invisible ones — which make a
/// name differ from the one it looks like.
pub(crate) fn unusual_chars(s: &str) -> Option<String> {
    let mut seen = Vec::new();
    for (i, c) in s.chars().enumerate() {
        if !c.is_ascii() || c.is_ascii_control() {
            if seen.len() == 3 {
                break;
            }
            let name = unicode_names2::name(c)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "an unnamed character".into());
            seen.push(format!("U+{:04X} {name} at character {}", c as u32, i + 1));
        }
    }
    (!seen.is_empty()).then(|| format!("`{}` contains {}", s.escape_debug(), seen.join(", ")))
}

struct Ctx<'a> {
    file: &'a str,
    lines: Lines,
    diags: Vec<Diagnostic>,
    /// The primitives' names (`q` in `q.qsize()` names one).
    prims: BTreeSet<String>,
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
        prims: BTreeSet::new(),
    };
    let raw: RawScenario = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let mut msg = e.message().trim().to_string();
            if msg.contains("recurs") {
                // The toml crate stops at its own nesting limit (about 80 levels).
                msg = format!("arrays or tables nested too deeply ({msg}); flatten them");
            }
            // serde names our own types ("expected struct RawLimits"): say
            // what the file should hold instead.
            if let Some(i) = msg.find("expected struct Raw") {
                msg = format!("{}expected a table", &msg[..i]);
            }
            let type_hint = (msg.contains("invalid type: integer")
                || msg.contains("invalid type: floating point"))
            .then(|| msg.contains("expected a string"))
            .filter(|s| *s)
            .map(|_| {
                "write it as a string: a duration like \"3600s\" or \"1h\", a text in quotes"
                    .to_string()
            });
            let hint = type_hint.or_else(|| unknown_field_hint(&msg)).or_else(|| {
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
    if let Some(n) = &raw.name
        && !is_path_part(n.get_ref())
    {
        cx.err(
            n.span().start,
            format!(
                "scenario name {} cannot name a report directory: use ASCII letters, digits, `_`, `-` and `.` (not first), at most 100",
                elide(n.get_ref())
            ),
            None,
        );
    }
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

    // Names first, so that bodies can refer to each other.
    let coroutine_names: BTreeSet<String> = raw.coroutines.keys().cloned().collect();
    let context_names: BTreeSet<String> = raw.contexts.keys().cloned().collect();
    let at = |name: &String| {
        raw.coroutines
            .get(name)
            .map(|c| c.span().start)
            .or_else(|| raw.contexts.get(name).map(|c| c.span().start))
            .unwrap_or(0)
    };
    for name in coroutine_names.iter().chain(&context_names) {
        if !is_ident(name) {
            cx.err(
                at(name),
                format!("`{name}` is not a valid name: use letters, digits and `_`"),
                unusual_chars(name),
            );
        }
    }
    for dup in coroutine_names.intersection(&context_names) {
        cx.err(
            at(dup),
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
    cx.prims = primitives.keys().cloned().collect();
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
            eager_tasks: rv.eager_tasks.as_ref().map(|e| *e.get_ref()),
            step_overhead: rv
                .step_overhead
                .as_ref()
                .and_then(|o| duration_field(cx, o)),
        });
    }
    check_recursion(cx, &coroutines, &contexts);
    check_handlers(cx, &coroutines, &contexts);
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
        // A name from the file's name is made safe to use as a directory name.
        name: raw
            .name
            .map(|n| n.into_inner())
            .unwrap_or_else(|| path_part(&stem)),
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

/// The most variants a scenario may declare: each is a run of its own.
pub const MAX_VARIANTS: usize = 200;

/// A name that can be a file or directory name in a report: ASCII letters,
/// digits, `_`, `-` and `.`, not first, at most 100 characters.
fn is_path_part(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// `s` made a safe file name: other characters become `_`, a leading `.`
/// becomes `_`, at most 100 characters.
fn path_part(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// A user's value quoted for a message, elided past 60 characters.
fn elide(s: &str) -> String {
    let mut q = format!("{:?}", s.chars().take(60).collect::<String>());
    if s.chars().count() > 60 {
        q.insert(q.len() - 1, '…');
    }
    q
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_alphabetic() || f == '_')
        && c.all(|c| c.is_alphanumeric() || c == '_')
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
