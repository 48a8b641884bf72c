//! Translates a scenario into a real, self-contained asyncio program (Python
//! 3.11+), so that CPython can judge the `asyncio` model: the same program
//! run by CPython on a virtual clock must print the same lines at the same
//! times. `loopsim run FILE --format python` prints it.
//!
//! The program prints `"<nanoseconds> <text>"` per line. Durations are a
//! `float` subclass that prints like loopsim (`1.5s`), so printed values
//! compare as text. Scenarios that draw random numbers (the generators
//! differ) or use a step overhead are not translatable.

use super::expr::{Expr, Piece};
use super::model::{Call, ControlStep, Each, IoStep, Primitive, Scenario, Step, StepKind, Target};
use crate::model::PythonVersion;
use crate::sync::QueueKind;

mod control;
mod futures;
mod io;
mod output;
mod sync;
mod tasks;

/// Why a scenario cannot be translated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot translate to Python: {0}")]
pub struct Unsupported(pub String);

/// The judge's virtual clock (also used as a module by the hand-written
/// differential tests), then the helpers the translation calls.
const PRELUDE: &str = concat!(
    include_str!("../../../tools/vclock.py"),
    r#"
import contextlib, sys
sys.setrecursionlimit(10000)

def _fmt_ns(ns):
    if ns == 0:
        return "0s"
    for unit, scale, width in (("s", 10**9, 9), ("ms", 10**6, 6), ("us", 10**3, 3)):
        if ns >= scale:
            whole, frac = divmod(ns, scale)
            return f"{whole}{unit}" if frac == 0 else f"{whole}." + f"{frac:0{width}d}".rstrip("0") + unit
    return f"{ns}ns"

class Dur(float):
    def _ns(self):
        return max(0, round(float(self) * 1e9))
    def __str__(self):
        return _fmt_ns(self._ns())
    __repr__ = __str__
    def __add__(self, o):
        return Dur(float(self) + float(o)) if isinstance(o, Dur) else float(self) + o
    def __sub__(self, o):
        return Dur(float(self) - float(o)) if isinstance(o, Dur) else float(self) - o
    def __mul__(self, o):
        return Dur(float(self) * o)
    __rmul__ = __mul__
    def __truediv__(self, o):
        return float(self) / float(o) if isinstance(o, Dur) else Dur(float(self) / o)

def _spread(x):
    return x if isinstance(x, list) else [x]

def now():
    return Dur(asyncio.get_running_loop().time())

def say(text):
    t = asyncio.get_running_loop().time()
    print(f"{round(t * 1e9)} {text}", flush=True)

_classes = {}
def exc(name, msg=""):
    if name == "CancelledError":
        return asyncio.CancelledError(msg) if msg else asyncio.CancelledError()
    if name == "TimeoutError":
        return TimeoutError(msg)
    cls = getattr(__builtins__, name, None) if not isinstance(__builtins__, dict) else __builtins__.get(name)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = getattr(asyncio, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        cls = _classes.setdefault(name, type(name, (Exception,), {}))
    return cls(msg)

def catches(kinds):
    out = []
    for k in kinds:
        if k in ("BaseException", "*"):
            out.append(BaseException)
        elif k == "Exception":
            out.append(Exception)
        elif k == "CancelledError":
            out.append(asyncio.CancelledError)
        elif k == "ExceptionGroup":
            out.append(BaseExceptionGroup)
        else:
            out.append(type(exc(k)))
    return tuple(out)
"#
);

/// The Python program for one variant of a scenario.
///
/// # Errors
///
/// [`Unsupported`] for scenarios that use random draws or a step overhead.
pub fn to_python(s: &Scenario, variant: &str) -> Result<String, Unsupported> {
    let v = s
        .variant(variant)
        .ok_or_else(|| Unsupported(format!("no variant `{variant}`")))?;
    if !s.settings_of(v).step_overhead.is_zero() {
        return Err(Unsupported("a step overhead".into()));
    }
    let mut w = Writer {
        out: format!(
            "# {} [{}], translated by loopsim into asyncio on a virtual clock.\n\
             # Run it with python3.11+; each line prints as \"<virtual ns> <text>\".\n{PRELUDE}",
            s.name, v.name
        ),
        depth: 0,
        tmp: 0,
        callback: false,
        prims: s.primitives.keys().cloned().collect(),
        thread_pools: s
            .pools
            .iter()
            .filter(|(_, p)| matches!(p, crate::scenario::model::Pool::Threads { .. }))
            .map(|(n, _)| n.clone())
            .collect(),
    };
    w.line("");
    for (name, p) in &s.primitives {
        let ctor = match p {
            Primitive::Lock => "asyncio.Lock()".to_string(),
            Primitive::Semaphore(n) => format!("asyncio.Semaphore({n})"),
            Primitive::BoundedSemaphore(n) => format!("asyncio.BoundedSemaphore({n})"),
            Primitive::Event => "asyncio.Event()".to_string(),
            Primitive::Condition => "asyncio.Condition()".to_string(),
            Primitive::Barrier(n) => format!("asyncio.Barrier({n})"),
            Primitive::Queue { kind, maxsize } => match kind {
                QueueKind::Fifo => format!("asyncio.Queue({maxsize})"),
                QueueKind::Lifo => format!("asyncio.LifoQueue({maxsize})"),
                QueueKind::Priority => format!("asyncio.PriorityQueue({maxsize})"),
            },
        };
        // Primitives bind to the running loop on first use (3.10+).
        w.line(&format!("{} = {ctor}", prim(name)));
    }
    let reachable = reachable(s, &v.main);
    for c in s
        .coroutines
        .values()
        .filter(|c| reachable.contains(c.name.as_str()))
    {
        w.line("");
        w.line(&format!(
            "async def {}({}):",
            fname(&c.name),
            c.params.join(", ")
        ));
        w.depth += 1;
        w.line("pass");
        w.steps(&c.body)?;
        w.depth -= 1;
    }
    for c in s
        .contexts
        .values()
        .filter(|c| reachable.contains(c.name.as_str()))
    {
        w.line("");
        w.line("@contextlib.asynccontextmanager");
        w.line(&format!(
            "async def {}({}):",
            fname(&c.name),
            c.params.join(", ")
        ));
        w.depth += 1;
        w.line("_value = None");
        let (enter, ret) = match c.enter.last().map(|s| &s.kind) {
            Some(StepKind::Control(ControlStep::Return(e))) => {
                (&c.enter[..c.enter.len() - 1], e.clone())
            }
            _ => (&c.enter[..], None),
        };
        if enter
            .iter()
            .any(|s| matches!(s.kind, StepKind::Control(ControlStep::Return(_))))
        {
            return Err(Unsupported(
                "a `return` before the end of a context manager's enter".into(),
            ));
        }
        w.steps(enter)?;
        if let Some(e) = ret {
            let e = w.expr(&e)?;
            w.line(&format!("_value = {e}"));
        }
        w.line("try:");
        w.depth += 1;
        w.line("yield _value");
        w.depth -= 1;
        w.line("finally:");
        w.depth += 1;
        w.line("pass");
        w.steps(&c.exit)?;
        w.depth -= 2;
    }
    w.line("");
    w.line("async def __main():");
    w.depth += 1;
    let st = s.settings_of(v);
    if st.eager_tasks && st.python >= PythonVersion::Py312 {
        w.line("asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)");
    }
    if uses_pools(s) {
        // The default executor and the declared thread pools, on the
        // virtual clock.
        let machine = &st.machine;
        w.line("_loop = asyncio.get_running_loop()");
        w.line(&format!(
            "_loop.set_default_executor(VirtualThreadPool(_loop, {}))",
            (machine.cpus + 4).min(32)
        ));
        for (name, p) in &s.pools {
            if let crate::scenario::model::Pool::Threads { .. } = p {
                w.line(&format!("global pool_{name}"));
                w.line(&format!(
                    "pool_{name} = VirtualThreadPool(_loop, {})",
                    p.workers(machine)
                ));
            }
        }
    }
    let args = v
        .args
        .iter()
        .map(|a| w.expr(a))
        .collect::<Result<Vec<_>, _>>()?;
    w.line(&format!(
        "return await {}({})",
        fname(&v.main),
        args.join(", ")
    ));
    w.depth -= 1;
    w.line("");
    w.line("try:");
    w.line("    run_like_asyncio_run(__main())");
    w.line("except BaseException as e:");
    w.line("    if isinstance(e, RuntimeError) and str(e).startswith('deadlock'):");
    w.line("        print('deadlock', flush=True)");
    w.line("    else:");
    w.line("        print(f\"raised {type(e).__name__}\", flush=True)");
    Ok(w.out)
}

/// The coroutines and context managers the variant's main may reach (a
/// coroutine another scenario variant needs, and that cannot be
/// translated, must not stop this one). Over-approximated: a name is
/// reached when it appears as a string anywhere in a reached body.
fn reachable<'a>(s: &'a Scenario, main: &'a str) -> std::collections::BTreeSet<&'a str> {
    let mut seen = std::collections::BTreeSet::from([main]);
    let mut todo = vec![main];
    while let Some(name) = todo.pop() {
        let text = match (s.coroutines.get(name), s.contexts.get(name)) {
            (Some(c), _) => format!("{:?}", c.body),
            (None, Some(c)) => format!("{:?}{:?}", c.enter, c.exit),
            (None, None) => continue,
        };
        for other in s.coroutines.keys().chain(s.contexts.keys()) {
            if !seen.contains(other.as_str()) && text.contains(&format!("{other:?}")) {
                seen.insert(other.as_str());
                todo.push(other.as_str());
            }
        }
    }
    seen
}

/// Whether any coroutine runs work in a pool (the translation then sets up
/// the judge's virtual pools).
fn uses_pools(s: &Scenario) -> bool {
    fn any(steps: &[Step]) -> bool {
        steps.iter().any(|st| {
            matches!(
                st.kind,
                StepKind::Io(IoStep::ToThread { .. } | IoStep::RunInExecutor { .. })
            ) || st.kind.bodies().iter().any(|b| any(b))
        })
    }
    s.coroutines.values().any(|c| any(&c.body))
        || s.contexts.values().any(|c| any(&c.enter) || any(&c.exit))
}

/// A Python string literal for `s`: printable characters as they are,
/// everything else (control characters, line and paragraph separators,
/// unassigned or private-use code points) as `\xHH`, `\uHHHH` or
/// `\UHHHHHHHH` escapes, which Python reads back to the same string.
fn py_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if needs_escape(c) && (c as u32) <= 0xffff => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if needs_escape(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters a source file should not hold raw: separators, format
/// characters (zero-width, bidirectional controls), private use,
/// non-characters and the BOM.
fn needs_escape(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0x2028 | 0x2029 | 0xad | 0xfeff | 0xfffe | 0xffff)
        || (0x200b..=0x200f).contains(&u)
        || (0x202a..=0x202e).contains(&u)
        || (0x2060..=0x206f).contains(&u)
        || (0xe000..=0xf8ff).contains(&u)
        || (0xfdd0..=0xfdef).contains(&u)
        || u >= 0xf0000
        || (u & 0xfffe) == 0xfffe
}

fn fname(name: &str) -> String {
    format!("co_{name}")
}

fn prim(name: &str) -> String {
    format!("prim_{name}")
}

struct Writer {
    out: String,
    depth: usize,
    tmp: usize,
    /// Inside a callback's body: variables live in its snapshot dict `__v`.
    callback: bool,
    /// The primitives' names (a method's receiver may name one).
    prims: std::collections::BTreeSet<String>,
    /// The thread pools' names (the judge runs those).
    thread_pools: std::collections::BTreeSet<String>,
}

impl Writer {
    fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn fresh(&mut self) -> String {
        self.tmp += 1;
        format!("_t{}", self.tmp)
    }

    fn block(&mut self, steps: &[Step]) -> Result<(), Unsupported> {
        self.depth += 1;
        self.line("pass");
        self.steps(steps)?;
        self.depth -= 1;
        Ok(())
    }

    fn steps(&mut self, steps: &[Step]) -> Result<(), Unsupported> {
        for s in steps {
            self.step(s)?;
        }
        Ok(())
    }

    fn assign(&mut self, into: &Option<String>, value: &str) {
        match into {
            Some(v) => {
                let v = self.var(v);
                self.line(&format!("{v} = {value}"))
            }
            None => self.line(value),
        }
    }

    /// A variable as Python names it: in a callback, an entry of the
    /// callback's snapshot of the scheduling coroutine's variables.
    fn var(&self, name: &str) -> String {
        if self.callback {
            format!("__v[{}]", py_str(name))
        } else {
            name.to_string()
        }
    }

    fn call(&mut self, c: &Call) -> Result<String, Unsupported> {
        let args = c
            .args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(format!("{}({})", fname(&c.name), args.join(", ")))
    }

    fn target(&mut self, t: &Target) -> Result<String, Unsupported> {
        match t {
            Target::Call(c) => self.call(c),
            Target::Value(e) => self.expr(e),
        }
    }

    fn targets(&mut self, items: &[Target], each: &Option<Each>) -> Result<String, Unsupported> {
        let parts = items
            .iter()
            .map(|t| self.target(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(match each {
            Some(e) => {
                let iter = self.expr(&e.iter)?;
                format!("*({} for {} in {iter})", parts.join(", "), e.var)
            }
            None => parts.join(", "),
        })
    }

    fn step(&mut self, s: &Step) -> Result<(), Unsupported> {
        match &s.kind {
            StepKind::Control(c) => self.control(c),
            StepKind::Tasks(t) => self.tasks(t),
            StepKind::Sync(y) => self.sync(y),
            StepKind::Futures(f) => self.futures(f),
            StepKind::Output(o) => self.output(o),
            StepKind::Io(i) => self.io(i),
            StepKind::Net(_) => Err(Unsupported(
                "the network (the judge has no simulated network)".into(),
            )),
        }
    }

    fn template(&mut self, pieces: &[Piece]) -> Result<String, Unsupported> {
        let mut parts = Vec::new();
        for p in pieces {
            match p {
                Piece::Text(t) => parts.push(py_str(t)),
                Piece::Value(e, None) => parts.push(format!("str({})", self.expr(e)?)),
                Piece::Value(e, Some(spec)) => {
                    parts.push(format!("format({}, {})", self.expr(e)?, py_str(spec)))
                }
            }
        }
        Ok(if parts.is_empty() {
            "\"\"".into()
        } else {
            parts.join(" + ")
        })
    }

    fn expr(&mut self, e: &Expr) -> Result<String, Unsupported> {
        Ok(match e {
            Expr::None => "None".into(),
            Expr::Bool(b) => if *b { "True" } else { "False" }.into(),
            Expr::Int(i) => i.to_string(),
            Expr::Float(f) => format!("{f:?}"),
            Expr::Str(s) => py_str(s),
            Expr::Duration(d) => format!("Dur({:?})", crate::time::duration_to_secs_f64(*d)),
            Expr::Var(v) => match v.as_str() {
                "now" => "now()".into(),
                "task" => "asyncio.current_task().get_name()".into(),
                other => self.var(other),
            },
            Expr::List(items) => {
                let items = items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<Vec<_>, _>>()?;
                format!("[{}]", items.join(", "))
            }
            Expr::Index(a, i) => format!("{}[{}]", self.expr(a)?, self.expr(i)?),
            Expr::Neg(a) => format!("(-{})", self.expr(a)?),
            Expr::Bin(a, op, b) => {
                format!("({} {op} {})", self.expr(a)?, self.expr(b)?)
            }
            Expr::Cmp(a, op, b) => {
                format!("({} {op} {})", self.expr(a)?, self.expr(b)?)
            }
            Expr::Logic(a, and, b) => {
                format!(
                    "({} {} {})",
                    self.expr(a)?,
                    if *and { "and" } else { "or" },
                    self.expr(b)?
                )
            }
            Expr::Not(a) => format!("(not {})", self.expr(a)?),
            Expr::Dict(pairs) => {
                let mut items = Vec::new();
                for (k, v) in pairs {
                    items.push(format!("{}: {}", self.expr(k)?, self.expr(v)?));
                }
                format!("{{{}}}", items.join(", "))
            }
            Expr::Method(a, m, args) => {
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let receiver = match &**a {
                    Expr::Var(n) if self.prims.contains(n) => prim(n),
                    other => self.expr(other)?,
                };
                format!("({receiver}).{m}({})", args.join(", "))
            }
            Expr::Call(name, args) => {
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                match name.as_str() {
                    "uniform" | "normal" | "exponential" | "lognormal" | "choice" => {
                        return Err(Unsupported(format!("a random draw (`{name}`)")));
                    }
                    "range" => format!("list(range({}))", args.join(", ")),
                    "is_error" => format!("isinstance({}, BaseException)", args.join(", ")),
                    "current_task" => "asyncio.current_task()".into(),
                    other => format!("{other}({})", args.join(", ")),
                }
            }
        })
    }
}
