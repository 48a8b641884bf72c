//! Runtime values of the scenario interpreter, printed the way Python
//! prints them (`str()` for `{x}`, `repr()` inside lists).

use crate::error::Error;
use crate::future::SimFuture;
use crate::task::{JoinHandle, TaskRef};
use crate::time::{format_nanos, secs_f64_to_nanos};
use std::cmp::Ordering;
use std::fmt::Write;
use std::rc::Rc;

/// A value in a running scenario.
#[derive(Clone, Debug)]
pub enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// A duration, in float seconds: arithmetic on durations is Python's
    /// float arithmetic (`3 * 100ms` is `3 * 0.1`), as the `asyncio` model
    /// requires; it prints to the nearest nanosecond (`1.5s`).
    Duration(f64),
    /// A list.
    List(Rc<Vec<Value>>),
    /// A dict: its pairs in insertion order, keys unique.
    Dict(Rc<Vec<(Value, Value)>>),
    /// A task handle (from `spawn`).
    Task(Rc<TaskCell>),
    /// A future (from `future`).
    Future(SimFuture<Value>),
    /// An exception (bound by `except … as e`, or in `return_exceptions` lists).
    Error(Error),
    /// A connection of the simulated network (`open_connection`, or a
    /// server handler's argument): asyncio's reader and writer in one.
    Conn(Rc<ConnCell>),
}

/// A connection's reader (taken while a task reads a line) and writer.
pub struct ConnCell {
    /// `client -> server:8888 #3`.
    pub(crate) name: String,
    pub(crate) reader: std::cell::RefCell<
        Option<futures::io::BufReader<futures::io::ReadHalf<crate::net::TcpStream>>>,
    >,
    pub(crate) writer: std::cell::RefCell<Option<futures::io::WriteHalf<crate::net::TcpStream>>>,
}

impl ConnCell {
    /// Wraps a stream: `name` as shown in `repr`.
    pub(crate) fn new(name: String, stream: crate::net::TcpStream) -> ConnCell {
        use futures::io::AsyncReadExt;
        let (r, w) = stream.split();
        ConnCell {
            name,
            reader: std::cell::RefCell::new(Some(futures::io::BufReader::new(r))),
            writer: std::cell::RefCell::new(Some(w)),
        }
    }
}

impl std::fmt::Debug for ConnCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection({})", self.name)
    }
}

/// What a scenario coroutine ends with: its return value or the exception
/// it raised ("Outcome" is the API's word for how a run ends).
pub type VmResult = Result<Value, Error>;

/// A spawned task: its handle until awaited, then its result.
#[derive(Debug)]
pub struct TaskCell {
    /// The task.
    pub task: TaskRef,
    /// The name it was given (`create_task(…, name=…)`); `None` for the
    /// default `Task-N`, made only when asked for (see [`TaskCell::name`]).
    pub given_name: Option<String>,
    /// The handle; each await takes a clone of it (a task can be awaited
    /// by many tasks, many times, as in asyncio). `None` for a task named by
    /// `current_task()`, which has no handle.
    pub handle: Option<JoinHandle<VmResult>>,
}

impl TaskCell {
    /// The task's name: the one given, or `Task-N`.
    pub fn name(&self) -> std::borrow::Cow<'_, str> {
        match &self.given_name {
            Some(n) => std::borrow::Cow::Borrowed(n),
            None => std::borrow::Cow::Owned(format!("Task-{}", self.task.id().0)),
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::None, Value::None) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            // Equal pairs, whatever their order.
            (Value::Dict(a), Value::Dict(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
            }
            (Value::Task(a), Value::Task(b)) => Rc::ptr_eq(a, b),
            (Value::Future(a), Value::Future(b)) => a.same(b),
            (Value::Error(a), Value::Error(b)) => a == b,
            (Value::Conn(a), Value::Conn(b)) => Rc::ptr_eq(a, b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x == y && a.is_duration() == b.is_duration(),
                _ => false,
            },
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a.partial_cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.partial_cmp(b),
            (Value::List(a), Value::List(b)) => a.as_slice().partial_cmp(b.as_slice()),
            (Value::Duration(a), Value::Duration(b)) => a.partial_cmp(b),
            (Value::Int(a), Value::Int(b)) => a.partial_cmp(b),
            (a, b) if !a.is_duration() && !b.is_duration() => a.as_f64()?.partial_cmp(&b.as_f64()?),
            _ => None,
        }
    }
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    fn is_duration(&self) -> bool {
        matches!(self, Value::Duration(_))
    }

    /// Numbers and durations (in seconds) as a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Duration(d) => Some(*d),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// Python's type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Duration(_) => "duration",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Task(_) => "Task",
            Value::Future(_) => "Future",
            Value::Error(_) => "exception",
            Value::Conn(_) => "Connection",
        }
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Duration(d) => *d != 0.0,
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
            _ => true,
        }
    }

    /// `str(value)`.
    pub fn to_str(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Error(e) => match e {
                // `str(KeyError('k'))` is the key's repr.
                Error::Raised { kind, message } if kind == "KeyError" && !message.is_empty() => {
                    py_str_repr(message)
                }
                Error::Raised { message, .. } => message.clone(),
                Error::Panic(m) | Error::InvalidState(m) => m.clone(),
                Error::Cancelled | Error::Timeout => String::new(),
                Error::Group { .. } => e.group_str().unwrap_or_default(),
            },
            other => other.repr(),
        }
    }

    /// `repr(value)`.
    pub fn repr(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => float_repr(*f),
            Value::Str(s) => py_str_repr(s),
            Value::Duration(d) if *d < 0.0 => format!("-{}", format_nanos(secs_f64_to_nanos(-d))),
            Value::Duration(d) => format_nanos(secs_f64_to_nanos(*d)),
            Value::Dict(pairs) => {
                let mut out = String::from("{");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&k.repr());
                    out.push_str(": ");
                    out.push_str(&v.repr());
                }
                out.push('}');
                out
            }
            Value::List(items) => {
                let mut out = String::from("[");
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&v.repr());
                }
                out.push(']');
                out
            }
            Value::Task(t) => format!("<Task {}>", t.name()),
            Value::Future(f) => format!("<Future done={}>", f.done()),
            Value::Conn(c) => format!("<Connection {}>", c.name),
            Value::Error(e) => match e {
                Error::Raised { kind, message } => format!("{kind}({})", py_str_repr(message)),
                Error::InvalidState(m) => format!("InvalidStateError({})", py_str_repr(m)),
                Error::Group { message, errors } => group_repr(message, errors, usize::MAX),
                other => format!("{}()", other.kind()),
            },
        }
    }

    /// [`repr`](Self::repr) cut to about `max` characters (`'aaa…'`,
    /// `[1, 2, …]`), in time bounded by `max` whatever the value holds: task
    /// labels stay small and cheap.
    pub fn repr_short(&self, max: usize) -> String {
        match self {
            Value::Str(s) if s.len() > max => {
                let head: String = s.chars().take(max).collect();
                let r = py_str_repr(&head);
                format!("{}…{}", &r[..r.len() - 1], &r[r.len() - 1..])
            }
            Value::List(items) => {
                let mut out = String::from("[");
                for (i, v) in items.iter().enumerate() {
                    if out.len() >= max {
                        out.push('…');
                        break;
                    }
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&v.repr_short(max.saturating_sub(out.len()).max(8)));
                }
                out.push(']');
                out
            }
            Value::Dict(pairs) if pairs.len() > 4 || self.repr().len() > max => {
                let mut out = String::from("{");
                for (k, v) in pairs.iter().take(4) {
                    out.push_str(&k.repr_short(16));
                    out.push_str(": ");
                    out.push_str(&v.repr_short(16));
                    out.push_str(", ");
                }
                out.push_str("…}");
                out
            }
            Value::Error(Error::Raised { kind, message }) if message.len() > max => {
                format!("{kind}({})", Value::str(message).repr_short(max))
            }
            Value::Error(Error::Group { message, errors }) => group_repr(message, errors, max),
            other => other.repr(),
        }
    }

    /// Formats with a Python format spec (`.2f`, `5`, `>8`, `<6`, `d`, `%`).
    ///
    /// # Errors
    ///
    /// A message when the spec is malformed, asks for more than
    /// [`MAX_FORMAT_WIDTH`] characters, or does not apply to the value.
    pub fn format(&self, spec: &str) -> Result<String, String> {
        let parsed = FormatSpec::parse(spec)?;
        let body = match parsed.kind {
            FormatKind::Fixed(p) => {
                let x = self.as_f64().ok_or_else(|| {
                    format!("format `{spec}` needs a number, got {}", self.type_name())
                })?;
                format!("{x:.p$}")
            }
            FormatKind::Int => match self {
                Value::Int(i) => i.to_string(),
                other => {
                    return Err(format!(
                        "format `d` needs an int, got {}",
                        other.type_name()
                    ));
                }
            },
            FormatKind::Str => self.to_str(),
        };
        let numeric = matches!(self, Value::Int(_) | Value::Float(_) | Value::Duration(_));
        Ok(pad(
            &body,
            parsed.width,
            parsed.align.unwrap_or(if numeric { '>' } else { '<' }),
        ))
    }
}

/// The widest field and the most decimals a format spec may ask for: enough
/// for any table, small enough that a typo cannot allocate gigabytes.
pub const MAX_FORMAT_WIDTH: usize = 10_000;

/// A parsed format spec: `[<>^][width][.Nf | d | s]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatSpec {
    align: Option<char>,
    width: usize,
    kind: FormatKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FormatKind {
    /// `.Nf`: fixed point with N decimals.
    Fixed(usize),
    /// `d`: an integer.
    Int,
    /// `s` or nothing: `str()`.
    Str,
}

impl FormatSpec {
    /// Parses a spec, refusing widths and precisions above [`MAX_FORMAT_WIDTH`].
    ///
    /// # Errors
    ///
    /// A message naming the spec and what is wrong with it.
    pub fn parse(spec: &str) -> Result<FormatSpec, String> {
        let (align, rest) = match spec.chars().next() {
            Some(c @ ('<' | '>' | '^')) => (Some(c), &spec[1..]),
            _ => (None, spec),
        };
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let width = if digits == 0 {
            0
        } else {
            bounded(&rest[..digits], "width", spec)?
        };
        let rest = &rest[digits..];
        let kind = if let Some(prec) = rest.strip_prefix('.').and_then(|r| r.strip_suffix('f')) {
            if prec.is_empty() || !prec.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("bad precision in `{spec}`"));
            }
            FormatKind::Fixed(bounded(prec, "precision", spec)?)
        } else if rest == "d" {
            FormatKind::Int
        } else if rest.is_empty() || rest == "s" {
            FormatKind::Str
        } else {
            return Err(format!(
                "unsupported format spec `{spec}` (use .Nf, d, s, a width, < or >)"
            ));
        };
        Ok(FormatSpec { align, width, kind })
    }
}

/// A width or precision written in `spec`, at most [`MAX_FORMAT_WIDTH`].
fn bounded(digits: &str, what: &str, spec: &str) -> Result<usize, String> {
    match digits.parse::<usize>() {
        Ok(n) if n <= MAX_FORMAT_WIDTH => Ok(n),
        _ => Err(format!(
            "format {what} `{digits}` in `{spec}` is too large (at most {MAX_FORMAT_WIDTH})"
        )),
    }
}

fn pad(s: &str, width: usize, align: char) -> String {
    let n = s.chars().count();
    if n >= width {
        return s.to_string();
    }
    let fill = width - n;
    match align {
        '>' => format!("{}{s}", " ".repeat(fill)),
        '^' => format!("{}{s}{}", " ".repeat(fill / 2), " ".repeat(fill - fill / 2)),
        _ => format!("{s}{}", " ".repeat(fill)),
    }
}

/// Python's `repr` of a float: shortest round-trip digits, `.0` on whole numbers.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python switches to exponent notation: 1e-05, 1e+16.
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').expect("exponent form");
        let e: i32 = e.parse().expect("exponent");
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => {
                let _ = write!(out, "{c}");
            }
        }
    }
    out.push(q);
    out
}

/// `repr(ExceptionGroup(message, errors))`: `ExceptionGroup('unhandled
/// errors in a TaskGroup', [ValueError('x')])`; past about `max` characters
/// the list ends in `…` (a group of many errors stays cheap to show).
fn group_repr(message: &str, errors: &[Error], max: usize) -> String {
    let mut out = format!("ExceptionGroup({}, [", py_str_repr(message));
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if out.len() > max {
            out.push('…');
            break;
        }
        out.push_str(&Value::Error(e.clone()).repr_short(max));
    }
    out.push_str("])");
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_like_python() {
        assert_eq!(Value::Float(3.0).to_str(), "3.0");
        assert_eq!(Value::Float(0.1 + 0.2).to_str(), "0.30000000000000004");
        assert_eq!(Value::Float(1e-5).to_str(), "1e-05");
        let l = Value::List(Rc::new(vec![Value::str("A"), Value::Int(2), Value::None]));
        assert_eq!(l.to_str(), "['A', 2, None]");
        assert_eq!(Value::str("it's").repr(), "\"it's\"");
        assert_eq!(
            Value::Error(Error::raised("ValueError", "bad")).repr(),
            "ValueError('bad')"
        );
        assert_eq!(Value::Duration(1.5).to_str(), "1.5s");
    }

    #[test]
    fn format_specs_follow_python() {
        assert_eq!(Value::Float(1.23456).format(".2f").unwrap(), "1.23");
        assert_eq!(Value::Duration(2.5).format(".1f").unwrap(), "2.5");
        assert_eq!(Value::Int(7).format("3").unwrap(), "  7");
        assert_eq!(Value::str("ab").format(">4").unwrap(), "  ab");
        assert!(Value::str("ab").format(".2f").is_err());
    }

    #[test]
    fn huge_widths_and_precisions_are_errors_not_panics() {
        assert_eq!(Value::Float(1.5).format(".10000f").unwrap().len(), 10_002);
        let e = Value::Float(1.5).format(".99999f").unwrap_err();
        assert!(
            e.contains("precision `99999`") && e.contains("too large"),
            "{e}"
        );
        let e = Value::Int(1).format(">1000000000").unwrap_err();
        assert!(e.contains("width `1000000000`"), "{e}");
        let e = Value::Int(1)
            .format("99999999999999999999999d")
            .unwrap_err();
        assert!(e.contains("too large"), "{e}");
        assert!(
            Value::Float(1.5)
                .format(".f")
                .unwrap_err()
                .contains("bad precision")
        );
    }
}
