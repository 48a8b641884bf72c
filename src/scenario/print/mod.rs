//! Printing a scenario back to a file: `parse(print(s))` gives `s` again
//! (up to line numbers), so scenarios built from code — by a property test
//! that shrank a counterexample, say — can be written out and replayed with
//! `loopsim run`.

use super::expr::{Expr, Piece};
use super::model::{
    Bound, Call, Claim, ClaimKind, Count, Each, Ending, Primitive, Property, Scenario, Settings,
    Step, StepKind, Target, TaskEnd, Variant,
};
use crate::time::format_nanos;
use std::fmt::Write;
use toml::{Table, Value};

mod control;
mod futures;
mod io;
mod net;
mod output;
mod sync;
mod tasks;

/// The scenario as TOML text.
pub fn print(s: &Scenario) -> String {
    let mut doc = Table::new();
    let mut put = |k: &str, v: Value| {
        doc.insert(k.to_string(), v);
    };
    put("name", Value::String(s.name.clone()));
    put("title", Value::String(s.title.clone()));
    if let Some(src) = &s.source {
        put("source", Value::String(src.clone()));
    }
    if let Some(d) = &s.description {
        put("description", Value::String(d.clone()));
    }
    let st = &s.settings;
    let d = Settings::default();
    if st.seed != d.seed {
        put("seed", Value::Integer(st.seed as i64));
    }
    if st.model != d.model {
        put("model", Value::String(st.model.name().to_string()));
    }
    if st.python != d.python {
        put("python", Value::String(st.python.name().to_string()));
    }
    if st.eager_tasks {
        put("eager_tasks", Value::Boolean(true));
    }
    if !st.step_overhead.is_zero() {
        put("step_overhead", Value::String(dur(st.step_overhead)));
    }
    let mut limits = Table::new();
    if st.limits.max_time != d.limits.max_time {
        limits.insert("max_time".into(), Value::String(dur(st.limits.max_time)));
    }
    for (k, _) in crate::scenario::model::COUNT_LIMITS {
        let (v, dv) = (st.count_limit(k), d.count_limit(k));
        if v != dv {
            let v = v.expect("a counting limit");
            limits.insert((*k).into(), Value::Integer(v.min(i64::MAX as u64) as i64));
        }
    }
    if !limits.is_empty() {
        put("limits", Value::Table(limits));
    }
    let mut prims = Table::new();
    for (name, p) in &s.primitives {
        let mut t = Table::new();
        t.insert("kind".into(), Value::String(p.kind_name().into()));
        match p {
            Primitive::Semaphore(n) | Primitive::BoundedSemaphore(n) | Primitive::Barrier(n) => {
                t.insert("value".into(), Value::Integer(*n as i64));
            }
            Primitive::Queue { maxsize, .. } if *maxsize > 0 => {
                t.insert("maxsize".into(), Value::Integer(*maxsize as i64));
            }
            _ => {}
        }
        prims.insert(name.clone(), Value::Table(t));
    }
    if !prims.is_empty() {
        put("primitives", Value::Table(prims));
    }
    io::declarations(s, &mut put);
    let mut cos = Table::new();
    for (name, c) in &s.coroutines {
        let mut t = Table::new();
        if !c.params.is_empty() {
            t.insert("params".into(), strings(&c.params));
        }
        t.insert("steps".into(), steps(&c.body));
        cos.insert(name.clone(), Value::Table(t));
    }
    put("coroutines", Value::Table(cos));
    let mut ctxs = Table::new();
    for (name, c) in &s.contexts {
        let mut t = Table::new();
        if !c.params.is_empty() {
            t.insert("params".into(), strings(&c.params));
        }
        t.insert("enter".into(), steps(&c.enter));
        t.insert("exit".into(), steps(&c.exit));
        ctxs.insert(name.clone(), Value::Table(t));
    }
    if !ctxs.is_empty() {
        put("contexts", Value::Table(ctxs));
    }
    let default_only =
        s.variants.len() == 1 && s.variants[0].name == "main" && is_plain(&s.variants[0]);
    if default_only {
        if s.variants[0].main != "main" {
            put("main", Value::String(s.variants[0].main.clone()));
        }
    } else {
        let vs = s.variants.iter().map(variant).collect();
        put("variants", Value::Array(vs));
    }
    if !s.claims.is_empty() {
        put("expect", Value::Array(s.claims.iter().map(claim).collect()));
    }
    toml::to_string(&doc).expect("a TOML table always serialises")
}

fn is_plain(v: &Variant) -> bool {
    v.args.is_empty()
        && v.description.is_none()
        && v.seed.is_none()
        && v.model.is_none()
        && v.python.is_none()
        && v.eager_tasks.is_none()
        && v.step_overhead.is_none()
}

fn variant(v: &Variant) -> Value {
    let mut t = Table::new();
    t.insert("name".into(), Value::String(v.name.clone()));
    t.insert("main".into(), Value::String(v.main.clone()));
    if !v.args.is_empty() {
        t.insert(
            "args".into(),
            Value::Array(v.args.iter().map(|a| Value::String(expr(a))).collect()),
        );
    }
    if let Some(d) = &v.description {
        t.insert("description".into(), Value::String(d.clone()));
    }
    if let Some(s) = v.seed {
        t.insert("seed".into(), Value::Integer(s as i64));
    }
    if let Some(m) = v.model {
        t.insert("model".into(), Value::String(m.name().into()));
    }
    if let Some(p) = v.python {
        t.insert("python".into(), Value::String(p.name().into()));
    }
    if let Some(e) = v.eager_tasks {
        t.insert("eager_tasks".into(), Value::Boolean(e));
    }
    if let Some(o) = v.step_overhead {
        t.insert("step_overhead".into(), Value::String(dur(o)));
    }
    Value::Table(t)
}

fn dur(d: std::time::Duration) -> String {
    format_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

fn steps(steps: &[Step]) -> Value {
    Value::Array(steps.iter().map(|s| Value::Table(step(&s.kind))).collect())
}

fn ex(e: &Expr) -> Value {
    Value::String(expr(e))
}

fn call(c: &Call) -> String {
    let args: Vec<String> = c.args.iter().map(expr).collect();
    format!("{}({})", c.name, args.join(", "))
}

fn target(t: &Target) -> String {
    match t {
        Target::Call(c) => call(c),
        Target::Value(e) => expr(e),
    }
}

fn step(k: &StepKind) -> Table {
    let mut t = Table::new();
    let set = |key: &str, v: Value| {
        t.insert(key.to_string(), v);
    };
    match k {
        StepKind::Control(s) => control::step(s, set),
        StepKind::Tasks(s) => tasks::step(s, set),
        StepKind::Sync(s) => sync::step(s, set),
        StepKind::Futures(s) => futures::step(s, set),
        StepKind::Output(s) => output::step(s, set),
        StepKind::Io(s) => io::step(s, set),
        StepKind::Net(s) => net::step(s, set),
    }
    t
}

/// `Some` variable name as a TOML string.
fn opt(v: &Option<String>) -> Option<Value> {
    v.clone().map(Value::String)
}

fn targets(items: &[Target], each: &Option<Each>) -> Value {
    match (each, items) {
        // `gather = "f(x)", for = "x", in = "xs"`: one call, as a string.
        (Some(_), [one]) => Value::String(target(one)),
        _ => Value::Array(items.iter().map(|t| Value::String(target(t))).collect()),
    }
}

fn put_each(set: &mut impl FnMut(&str, Value), each: &Option<Each>) {
    if let Some(e) = each {
        set("for", Value::String(e.var.clone()));
        set("in", ex(&e.iter));
    }
}

/// An expression as text that parses back to the same tree.
pub fn expr(e: &Expr) -> String {
    match e {
        Expr::None => "None".into(),
        Expr::Bool(b) => if *b { "True" } else { "False" }.into(),
        Expr::Int(i) => i.to_string(),
        Expr::Float(f) => {
            // Plain decimal (the language has no exponents), always with a point.
            let s = format!("{f}");
            if s.contains('.') || !f.is_finite() {
                s
            } else {
                format!("{s}.0")
            }
        }
        Expr::Str(s) => {
            let mut out = String::from("'");
            for c in s.chars() {
                match c {
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Expr::Duration(d) => dur(*d),
        Expr::Var(v) => v.clone(),
        Expr::List(items) => format!(
            "[{}]",
            items.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Index(a, i) => format!("{}[{}]", atom(a), expr(i)),
        Expr::Neg(a) => format!("-{}", atom(a)),
        Expr::Bin(a, op, b) => {
            format!("({} {op} {})", expr(a), expr(b))
        }
        Expr::Cmp(a, op, b) => {
            format!("({} {op} {})", expr(a), expr(b))
        }
        Expr::Logic(a, and, b) => format!(
            "({} {} {})",
            expr(a),
            if *and { "and" } else { "or" },
            expr(b)
        ),
        Expr::Not(a) => format!("(not {})", expr(a)),
        Expr::Call(n, args) => format!(
            "{n}({})",
            args.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Dict(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", expr(k), expr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expr::Method(a, m, args) => format!(
            "{}.{m}({})",
            atom(a),
            args.iter().map(expr).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// An expression that binds tighter than any operator.
fn atom(e: &Expr) -> String {
    match e {
        Expr::Var(_)
        | Expr::Call(..)
        | Expr::Method(..)
        | Expr::List(_)
        | Expr::Index(..)
        | Expr::Str(_) => expr(e),
        _ => format!("({})", expr(e)),
    }
}

fn template(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(&t.replace('{', "{{").replace('}', "}}")),
            Piece::Value(e, spec) => {
                let _ = write!(out, "{{{}", expr(e));
                if let Some(s) = spec {
                    let _ = write!(out, ":{s}");
                }
                out.push('}');
            }
        }
    }
    out
}

fn bound(t: &mut Table, b: &Bound, exact: &str) {
    match b {
        Bound::Exact(d) => t.insert(exact.into(), Value::String(dur(*d))),
        Bound::AtMost(d) => t.insert("at_most".into(), Value::String(dur(*d))),
        Bound::AtLeast(d) => t.insert("at_least".into(), Value::String(dur(*d))),
        Bound::Between(..) => None,
    };
}

/// A count bound as its claim key: `is`, `at_most` or `at_least`.
fn count_keys(t: &mut Table, count: &Count) {
    let (k, n) = match count {
        Count::Exact(n) => ("is", n),
        Count::AtMost(n) => ("at_most", n),
        Count::AtLeast(n) => ("at_least", n),
    };
    t.insert(k.into(), Value::Integer(*n as i64));
}

/// A duration bound as `is`, `at_most`, `at_least` or `between`.
fn bound_or_between(t: &mut Table, b: &Bound) {
    match b {
        Bound::Between(lo, hi) => {
            t.insert(
                "between".into(),
                Value::Array(vec![Value::String(dur(*lo)), Value::String(dur(*hi))]),
            );
        }
        _ => bound(t, b, "is"),
    }
}

fn claim(c: &Claim) -> Value {
    let mut t = Table::new();
    match &c.kind {
        ClaimKind::Elapsed(b) => match b {
            Bound::Exact(d) => {
                t.insert("elapsed".into(), Value::String(dur(*d)));
            }
            Bound::AtMost(d) => {
                t.insert("elapsed_at_most".into(), Value::String(dur(*d)));
            }
            Bound::AtLeast(d) => {
                t.insert("elapsed_at_least".into(), Value::String(dur(*d)));
            }
            Bound::Between(a, b) => {
                t.insert(
                    "elapsed_between".into(),
                    Value::Array(vec![Value::String(dur(*a)), Value::String(dur(*b))]),
                );
            }
        },
        ClaimKind::Output(l) => {
            t.insert("output".into(), strings(l));
        }
        ClaimKind::Order(l) => {
            t.insert("order".into(), strings(l));
        }
        ClaimKind::PrintedAt { line, at } => {
            t.insert("printed".into(), Value::String(line.clone()));
            bound(&mut t, at, "at");
        }
        ClaimKind::TaskEnds { task, at, how } => {
            t.insert("task".into(), Value::String(task.clone()));
            if let Some(a) = at {
                bound(&mut t, a, "at");
            }
            match how {
                Some(TaskEnd::Returned) => {
                    t.insert("ends".into(), Value::String("returned".into()));
                }
                Some(TaskEnd::Cancelled) => {
                    t.insert("ends".into(), Value::String("cancelled".into()));
                }
                Some(TaskEnd::Raised(k)) => {
                    t.insert("ends".into(), Value::String("raised".into()));
                    t.insert("error".into(), Value::String(k.clone()));
                }
                None => {}
            }
        }
        ClaimKind::MaxConcurrent { section, count } => {
            t.insert("max_concurrent".into(), Value::String(section.clone()));
            count_keys(&mut t, count);
        }
        ClaimKind::RunEnds(o) => {
            let (name, err) = match o {
                Ending::Completed => ("completed", None),
                Ending::Failed(e) => ("failed", e.clone()),
                Ending::Deadlock => ("deadlock", None),
                Ending::LimitExceeded => ("limit_exceeded", None),
            };
            t.insert("outcome".into(), Value::String(name.into()));
            if let Some(e) = err {
                t.insert("error".into(), Value::String(e));
            }
        }
        ClaimKind::Faster {
            faster,
            slower,
            ratio_at_least,
            latency,
        } => {
            t.insert("faster".into(), Value::String(faster.clone()));
            t.insert("than".into(), Value::String(slower.clone()));
            if let Some(r) = ratio_at_least {
                t.insert("ratio_at_least".into(), Value::Float(*r));
            }
            if let Some((r, p)) = latency {
                t.insert("latency".into(), Value::String(r.clone()));
                t.insert("percentile".into(), Value::Float(*p));
            }
        }
        ClaimKind::Latency {
            resource,
            percentile,
            bound: b,
        } => {
            t.insert("latency".into(), Value::String(resource.clone()));
            t.insert("percentile".into(), Value::Float(*percentile));
            bound_or_between(&mut t, b);
        }
        ClaimKind::Messages { fate, count } => {
            t.insert("messages".into(), Value::String(fate.name().into()));
            count_keys(&mut t, count);
        }
        ClaimKind::ReconnectsWithin(d) => {
            t.insert("reconnects_within".into(), Value::String(dur(*d)));
        }
        ClaimKind::MessageLatency {
            percentile,
            bound: b,
        } => {
            t.insert("message_latency".into(), Value::Float(*percentile));
            bound_or_between(&mut t, b);
        }
        ClaimKind::Warns { kind: None, .. } => {
            t.insert("no_warnings".into(), Value::Boolean(true));
        }
        ClaimKind::Warns {
            kind: Some(k),
            count,
        } => {
            t.insert("warns".into(), Value::String(k.clone()));
            if *count != Count::AtLeast(1) {
                count_keys(&mut t, count);
            }
        }
        ClaimKind::Errors {
            resource,
            kind,
            count,
        } => {
            t.insert("errors".into(), Value::String(resource.clone()));
            if let Some(k) = kind {
                t.insert("kind".into(), Value::String(k.clone()));
            }
            count_keys(&mut t, count);
        }
        ClaimKind::Holds(p) => {
            let (name, arg) = p.name();
            t.insert("holds".into(), Value::String(name.into()));
            match p {
                Property::BoundedWait(k) | Property::TimeoutDelivered(k) => {
                    t.insert("k".into(), Value::Integer(*k as i64));
                }
                Property::FirstComeFirstServed(n) => {
                    t.insert("name".into(), Value::String(n.clone()));
                }
                _ => debug_assert!(arg.is_none()),
            }
        }
    }
    if let Some(v) = &c.variant {
        t.insert("variant".into(), Value::String(v.clone()));
    }
    if let Some((a, b)) = c.seeds {
        t.insert("seeds".into(), Value::String(format!("{a}..{b}")));
    }
    if let Some(n) = &c.note {
        t.insert("note".into(), Value::String(n.clone()));
    }
    Value::Table(t)
}

impl Scenario {
    /// The scenario without positions (file, lines): what `parse(print(s))`
    /// preserves.
    pub fn without_positions(&self) -> Scenario {
        fn clear(steps: &[Step]) -> std::rc::Rc<[Step]> {
            steps
                .iter()
                .map(|s| Step {
                    line: 0,
                    kind: clear_kind(&s.kind),
                })
                .collect::<Vec<_>>()
                .into()
        }
        fn clear_kind(k: &StepKind) -> StepKind {
            let mut k = k.clone();
            for body in k.bodies_mut() {
                *body = clear(body);
            }
            k
        }
        let mut s = self.clone();
        s.file = String::new();
        for c in s.coroutines.values_mut() {
            let mut co = (**c).clone();
            co.line = 0;
            co.body = clear(&co.body);
            *c = std::rc::Rc::new(co);
        }
        for c in s.contexts.values_mut() {
            let mut cm = (**c).clone();
            cm.enter = clear(&cm.enter);
            cm.exit = clear(&cm.exit);
            *c = std::rc::Rc::new(cm);
        }
        for c in &mut s.claims {
            c.line = 0;
        }
        s
    }
}
