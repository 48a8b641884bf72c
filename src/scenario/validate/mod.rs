//! From TOML text to a validated [`Scenario`], in two stages: raw serde
//! structs that mirror the file (`deny_unknown_fields`, with spans), then
//! checks that resolve every name and value. Every problem becomes a
//! [`Diagnostic`] with file, line, column, what was expected and, where a
//! name is close to a known one, a "did you mean".

use super::model::{ContextManager, Coroutine, Scenario};
use super::{Diagnostic, ScenarioError};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

mod checks;
mod claims;
mod decls;
mod fields;
mod io;
mod names;
mod raw;
mod steps;
mod text;

use checks::{check_generators, check_handlers, check_recursion, contains_yield};
use claims::claim;
use decls::{params, primitive};
use names::{Names, Scope};
use raw::RawScenario;
use steps::steps;
use text::{Lines, elide, is_ident, is_path_part, path_part, unusual_chars};

pub(crate) use text::did_you_mean;

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
    let settings = decls::settings(cx, &raw);

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
    let services = io::services(cx, &raw.services);
    let pools = io::pools(cx, &raw.pools);
    let network = io::network(cx, &raw.network);
    let mut settings = settings;
    settings.machine = io::machine(cx, &raw);
    let names = Names {
        coroutines: coroutine_names,
        contexts: context_names,
        primitives: primitives.clone(),
        services: services.keys().cloned().collect(),
        pools: pools.keys().cloned().collect(),
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
    let variants = decls::variants(cx, &raw, &names, &coroutines, &settings);
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
    let resources: Vec<String> = services
        .keys()
        .chain(pools.keys())
        .cloned()
        .chain(["threads".to_string()])
        .collect();
    let claims = raw
        .expect
        .iter()
        .filter_map(|c| claim(cx, c, &variant_names, &resources))
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
        services,
        pools,
        network,
        variants,
        claims,
    })
}
