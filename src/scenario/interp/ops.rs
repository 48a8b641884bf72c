//! Values' arithmetic and the builtin functions (including the seeded
//! distributions, drawn from the run's latency stream).

use super::{flatten, type_error, value_error};
use crate::error::Error;
use crate::rng::Stream;
use crate::scenario::expr::BinOp;
use crate::scenario::value::{TaskCell, Value};
use crate::task::current_task;
use crate::with_stream;
use rand::RngExt;
use std::rc::Rc;

/// The length of `a * b` when it repeats a string or a list (`'x' * 3`,
/// `[0] * 3`), saturating: known before the value is built.
pub(super) fn repeated_len(a: &Value, b: &Value) -> Option<usize> {
    let (len, n) = match (a, b) {
        (Value::Str(s), Value::Int(n)) | (Value::Int(n), Value::Str(s)) => (s.len(), *n),
        (Value::List(l), Value::Int(n)) | (Value::Int(n), Value::List(l)) => (l.len(), *n),
        _ => return None,
    };
    Some(len.saturating_mul(usize::try_from(n).unwrap_or(0)))
}

pub(super) fn arith(a: Value, op: BinOp, b: Value) -> Result<Value, crate::error::Error> {
    use Value::*;
    let bad = || {
        type_error(format!(
            "unsupported operand type(s) for {op}: '{}' and '{}'",
            a.type_name(),
            b.type_name()
        ))
    };
    Ok(match (&a, op, &b) {
        (Int(x), _, Int(y)) => match op {
            BinOp::Add => Int(x.checked_add(*y).ok_or_else(overflow)?),
            BinOp::Sub => Int(x.checked_sub(*y).ok_or_else(overflow)?),
            BinOp::Mul => Int(x.checked_mul(*y).ok_or_else(overflow)?),
            BinOp::Div => {
                if *y == 0 {
                    return Err(crate::error::Error::raised(
                        "ZeroDivisionError",
                        "division by zero",
                    ));
                }
                Float(*x as f64 / *y as f64)
            }
        },
        (Str(x), BinOp::Add, Str(y)) => Value::str(&format!("{x}{y}")),
        (Str(x), BinOp::Mul, Int(n)) | (Int(n), BinOp::Mul, Str(x)) => {
            Value::str(&x.repeat(usize::try_from(*n).unwrap_or(0)))
        }
        (List(x), BinOp::Mul, Int(n)) | (Int(n), BinOp::Mul, List(x)) => {
            let n = usize::try_from(*n).unwrap_or(0);
            List(Rc::new(
                std::iter::repeat_n(x.iter().cloned(), n)
                    .flatten()
                    .collect(),
            ))
        }
        (List(x), BinOp::Add, List(y)) => {
            List(Rc::new(x.iter().chain(y.iter()).cloned().collect()))
        }
        (Duration(x), BinOp::Add, Duration(y)) => Duration(x + y),
        (Duration(x), BinOp::Sub, Duration(y)) => Duration(x - y),
        (Duration(x), BinOp::Mul, Int(k)) | (Int(k), BinOp::Mul, Duration(x)) => {
            Duration(x * *k as f64)
        }
        (Duration(x), BinOp::Mul, Float(k)) | (Float(k), BinOp::Mul, Duration(x)) => {
            Duration(x * k)
        }
        (Duration(x), BinOp::Div, Int(k)) => {
            if *k == 0 {
                return Err(crate::error::Error::raised(
                    "ZeroDivisionError",
                    "float division by zero",
                ));
            }
            Duration(x / *k as f64)
        }
        (Duration(x), BinOp::Div, Float(k)) => {
            if *k == 0.0 {
                return Err(crate::error::Error::raised(
                    "ZeroDivisionError",
                    "float division by zero",
                ));
            }
            Duration(x / k)
        }
        (Duration(x), BinOp::Div, Duration(y)) => {
            if *y == 0.0 {
                return Err(crate::error::Error::raised(
                    "ZeroDivisionError",
                    "float division by zero",
                ));
            }
            Float(x / y)
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) if !matches!(a, Duration(_)) && !matches!(b, Duration(_)) => {
                match op {
                    BinOp::Add => Float(x + y),
                    BinOp::Sub => Float(x - y),
                    BinOp::Mul => Float(x * y),
                    BinOp::Div => {
                        if y == 0.0 {
                            return Err(crate::error::Error::raised(
                                "ZeroDivisionError",
                                "float division by zero",
                            ));
                        }
                        Float(x / y)
                    }
                }
            }
            _ => return Err(bad()),
        },
    })
}

fn overflow() -> Error {
    Error::raised("OverflowError", "value too large")
}

/// A uniform draw in [0, 1) from the latency stream.
fn unit() -> f64 {
    with_stream(Stream::Latency, |r| r.random::<f64>())
}

/// A standard normal draw (Box–Muller) from the latency stream.
fn std_normal() -> f64 {
    let u1 = 1.0 - unit();
    let u2 = unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Builds a value of the same kind as `like` (duration or number) from float seconds.
fn like(like: &Value, secs: f64) -> Value {
    let secs = secs.max(0.0);
    match like {
        Value::Duration(_) => Value::Duration(secs),
        _ => Value::Float(secs),
    }
}

fn num(v: &Value, f: &str) -> Result<f64, Error> {
    v.as_f64().ok_or_else(|| {
        type_error(format!(
            "{f}() needs numbers or durations, got {}",
            v.type_name()
        ))
    })
}

pub(super) fn builtin(name: &str, args: &[Value]) -> Result<Value, Error> {
    Ok(match name {
        "uniform" => {
            let (a, b) = (num(&args[0], name)?, num(&args[1], name)?);
            if b < a {
                return Err(value_error("uniform(a, b) needs a <= b"));
            }
            like(&args[0], a + (b - a) * unit())
        }
        "normal" => {
            let (m, s) = (num(&args[0], name)?, num(&args[1], name)?);
            if s < 0.0 {
                return Err(value_error("normal(mean, std) needs std >= 0"));
            }
            // Truncated at zero: a latency is never negative.
            like(&args[0], m + s * std_normal())
        }
        "exponential" => {
            let m = num(&args[0], name)?;
            like(&args[0], -m * (1.0 - unit()).ln())
        }
        "lognormal" => {
            let (median, sigma) = (num(&args[0], name)?, num(&args[1], name)?);
            like(&args[0], median * (sigma * std_normal()).exp())
        }
        "choice" => {
            let Value::List(items) = &args[0] else {
                return Err(type_error("choice() needs a list"));
            };
            if items.is_empty() {
                return Err(Error::raised(
                    "IndexError",
                    "cannot choose from an empty list",
                ));
            }
            let weights: Vec<f64> = match args.get(1) {
                Some(Value::List(w)) if w.len() == items.len() => {
                    w.iter().map(|x| num(x, name)).collect::<Result<_, _>>()?
                }
                Some(_) => {
                    return Err(value_error(
                        "choice(items, weights) needs one weight per item",
                    ));
                }
                None => vec![1.0; items.len()],
            };
            let total: f64 = weights.iter().sum();
            if total.is_nan() || total <= 0.0 || weights.iter().any(|w| *w < 0.0) {
                return Err(value_error(
                    "choice() weights must be >= 0 with a positive sum",
                ));
            }
            let mut x = unit() * total;
            let mut pick = items.len() - 1;
            for (i, w) in weights.iter().enumerate() {
                if x < *w {
                    pick = i;
                    break;
                }
                x -= w;
            }
            items[pick].clone()
        }
        "range" => {
            let int = |v: &Value| match v {
                Value::Int(i) => Ok(*i),
                other => Err(type_error(format!(
                    "range() needs ints, got {}",
                    other.type_name()
                ))),
            };
            let (a, b) = match args {
                [n] => (0, int(n)?),
                [a, b] => (int(a)?, int(b)?),
                _ => unreachable!("arity checked"),
            };
            if b.saturating_sub(a) > 10_000_000 {
                return Err(Error::raised("MemoryError", "range() too long"));
            }
            Value::List(Rc::new((a..b).map(Value::Int).collect()))
        }
        "len" => match &args[0] {
            Value::List(l) => Value::Int(l.len() as i64),
            Value::Dict(d) => Value::Int(d.len() as i64),
            Value::Str(s) => Value::Int(s.chars().count() as i64),
            other => {
                return Err(type_error(format!(
                    "object of type '{}' has no len()",
                    other.type_name()
                )));
            }
        },
        "str" => Value::str(&args[0].to_str()),
        "is_error" => Value::Bool(matches!(args[0], Value::Error(_))),
        "int" => match &args[0] {
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) if f.is_finite() => Value::Int(f.trunc() as i64),
            Value::Str(s) => Value::Int(
                s.trim()
                    .parse()
                    .map_err(|_| value_error(format!("invalid literal for int(): '{s}'")))?,
            ),
            other => {
                return Err(type_error(format!(
                    "int() can't convert {}",
                    other.type_name()
                )));
            }
        },
        "float" => Value::Float(
            args[0]
                .as_f64()
                .ok_or_else(|| type_error("float() needs a number"))?,
        ),
        "current_task" => {
            let task = current_task();
            Value::Task(Rc::new(TaskCell {
                task,
                given_name: task.given_name(),
                handle: None,
            }))
        }
        other => {
            return Err(Error::raised(
                "NameError",
                format!("name '{other}' is not defined"),
            ));
        }
    })
}

/// `value.m(args)`: the queries of a task (`Task.done()`, `result()`, …)
/// and a future, as asyncio answers them.
pub(super) fn method(target: &Value, m: &str, args: &[Value]) -> Result<Value, Error> {
    let not_done = |what: &str| Error::raised("InvalidStateError", format!("{what} is not set."));
    match target {
        Value::Task(cell) => {
            let task = cell.task;
            let output = || cell.handle.as_ref().and_then(|h| h.output()).map(flatten);
            Ok(match m {
                "done" => Value::Bool(task.is_done()),
                "cancelled" => Value::Bool(task.is_cancelled()),
                "cancelling" => Value::Int(i64::from(task.cancelling())),
                "uncancel" => Value::Int(i64::from(task.uncancel())),
                "get_name" => Value::str(&cell.name()),
                // `cancel(msg=None)` is `cancel()`.
                "cancel" => Value::Bool(match args.first() {
                    Some(Value::None) | None => task.cancel(),
                    Some(m) => task.cancel_with_message(&m.to_str()),
                }),
                "result" | "exception" if !task.is_done() => {
                    return Err(not_done(if m == "result" { "Result" } else { "Exception" }));
                }
                "result" | "exception" if task.is_cancelled() => {
                    return Err(super::cancelled_error(
                        task.take_cancelled_error().as_deref(),
                    ));
                }
                "result" => match output() {
                    Some(r) => r?,
                    None => Value::None,
                },
                "exception" => match output() {
                    Some(Err(e)) => Value::Error(e),
                    _ => Value::None,
                },
                _ => return Err(no_attribute(target, m)),
            })
        }
        Value::Dict(d) => match (m, args) {
            ("get", [k]) | ("get", [k, _]) => Ok(d
                .iter()
                .find(|(k2, _)| k2 == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::None))),
            _ => Err(no_attribute(target, m)),
        },
        Value::Future(f) => Ok(match m {
            "done" => Value::Bool(f.done()),
            "cancelled" => Value::Bool(f.cancelled()),
            "cancel" => Value::Bool(match args.first() {
                Some(Value::None) | None => f.cancel(),
                Some(m) => f.cancel_with_message(&m.to_str()),
            }),
            "result" | "exception" if !f.done() => {
                return Err(not_done(if m == "result" { "Result" } else { "Exception" }));
            }
            "result" | "exception" if f.cancelled() => {
                return Err(super::cancelled_error(f.cancel_message().as_deref()));
            }
            "result" => f.result().expect("a done future has a result")?,
            "exception" => match f.result() {
                Some(Err(e)) => Value::Error(e),
                _ => Value::None,
            },
            _ => return Err(no_attribute(target, m)),
        }),
        _ => {
            let _ = args;
            Err(no_attribute(target, m))
        }
    }
}

fn no_attribute(target: &Value, m: &str) -> Error {
    Error::raised(
        "AttributeError",
        format!("'{}' object has no attribute '{m}'", target.type_name()),
    )
}
