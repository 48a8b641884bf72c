//! Evaluating expressions and templates to values, against the frame's
//! variables, the implicit names (`now`, `task`) and the primitives.

use super::ops::{arith, builtin, method};
use super::vm::Vm;
use super::{prim_method, type_error, value_error};
use crate::error::Error;
use crate::loop_time;
use crate::scenario::expr::{CmpOp, Expr, Piece};
use crate::scenario::model::Call;
use crate::scenario::value::Value;
use std::rc::Rc;
use std::time::Duration;

/// A duration as the program wrote it: exact, or float seconds (asyncio
/// arithmetic).
pub(super) enum DurationValue {
    Exact(Duration),
    Secs(f64),
}

impl DurationValue {
    pub(super) fn as_duration(&self) -> Duration {
        match self {
            DurationValue::Exact(d) => *d,
            DurationValue::Secs(s) => Duration::from_nanos(crate::time::secs_f64_to_nanos(*s)),
        }
    }
}

impl Vm {
    /// True if a variable `name` is visible here.
    pub(super) fn has_var(&self, name: &str) -> bool {
        let s = self.frames.last().map(|f| f.scope).unwrap_or(0);
        self.frames
            .get(s)
            .and_then(|f| f.vars.as_ref())
            .is_some_and(|m| m.contains_key(name))
    }

    pub(super) fn lookup(&self, name: &str) -> Result<Value, Error> {
        let s = self.frames.last().map(|f| f.scope).unwrap_or(0);
        if let Some(v) = self
            .frames
            .get(s)
            .and_then(|f| f.vars.as_ref())
            .and_then(|m| m.get(name))
        {
            return Ok(v.clone());
        }
        match name {
            "now" => Ok(Value::Duration(loop_time())),
            // A callback runs outside any task.
            "task" => match crate::task::try_current_task() {
                Some(t) => Ok(Value::str(&t.name())),
                None => Err(Error::raised(
                    "AttributeError",
                    "'NoneType' object has no attribute 'get_name'",
                )),
            },
            _ => Err(Error::raised(
                "NameError",
                format!("name '{name}' is not defined"),
            )),
        }
    }

    pub(super) fn eval(&self, e: &Expr) -> Result<Value, Error> {
        Ok(match e {
            Expr::None => Value::None,
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::str(s),
            Expr::Duration(d) => Value::Duration(crate::time::duration_to_secs_f64(*d)),
            Expr::Var(v) => self.lookup(v)?,
            Expr::Dict(pairs) => {
                let mut out: Vec<(Value, Value)> = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let (k, v) = (self.eval(k)?, self.eval(v)?);
                    if matches!(k, Value::List(_) | Value::Dict(_)) {
                        return Err(type_error(format!("unhashable type: '{}'", k.type_name())));
                    }
                    // A repeated key keeps its first place and takes the last value.
                    match out.iter_mut().find(|(k2, _)| *k2 == k) {
                        Some(slot) => slot.1 = v,
                        None => out.push((k, v)),
                    }
                    // The key comparisons, charged as they are made (every
                    // 256 keys), so a huge literal stops instead of hanging.
                    if out.len().is_multiple_of(256) {
                        self.charge((out.len() * 4) as u64)?;
                    }
                }
                let values: Vec<Value> = out.iter().map(|(_, v)| v.clone()).collect();
                self.check_nesting(&values)?;
                self.check_len(out.len())?;
                Value::Dict(Rc::new(out))
            }
            Expr::List(items) => {
                let items: Vec<Value> = items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?;
                self.check_nesting(&items)?;
                self.sized(Value::List(Rc::new(items)))?
            }
            Expr::Index(a, i) => {
                let a = self.eval(a)?;
                let i = self.eval(i)?;
                match (&a, &i) {
                    (Value::Dict(d), key) => match d.iter().find(|(k, _)| k == key) {
                        Some((_, v)) => v.clone(),
                        None => return Err(Error::raised("KeyError", key.to_str())),
                    },
                    (Value::List(l), Value::Int(i)) => {
                        let n = l.len() as i64;
                        let k = if *i < 0 { n + i } else { *i };
                        if k < 0 || k >= n {
                            return Err(Error::raised("IndexError", "list index out of range"));
                        }
                        l[k as usize].clone()
                    }
                    _ => {
                        return Err(type_error(format!(
                            "cannot index {} with {}",
                            a.type_name(),
                            i.type_name()
                        )));
                    }
                }
            }
            Expr::Neg(a) => match self.eval(a)? {
                Value::Int(i) => Value::Int(
                    i.checked_neg()
                        .ok_or_else(|| Error::raised("OverflowError", "integer overflow"))?,
                ),
                Value::Float(f) => Value::Float(-f),
                // A duration is a float of seconds in Python.
                Value::Duration(d) => Value::Duration(-d),
                other => {
                    return Err(type_error(format!(
                        "bad operand type for unary -: '{}'",
                        other.type_name()
                    )));
                }
            },
            Expr::Bin(a, op, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                // `'x' * n` and `[0] * n`: the size is checked before the
                // value is built.
                if *op == crate::scenario::expr::BinOp::Mul
                    && let Some(len) = super::ops::repeated_len(&a, &b)
                {
                    self.check_len(len)?;
                }
                self.sized(arith(a, *op, b)?)?
            }
            Expr::Cmp(a, op, b) => {
                let (a, b) = (self.eval(a)?, self.eval(b)?);
                let ord = a.partial_cmp(&b);
                Value::Bool(match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                    _ => {
                        let Some(o) = ord else {
                            return Err(type_error(format!(
                                "'{op:?}' not supported between instances of '{}' and '{}'",
                                a.type_name(),
                                b.type_name()
                            )));
                        };
                        match op {
                            CmpOp::Lt => o.is_lt(),
                            CmpOp::Le => o.is_le(),
                            CmpOp::Gt => o.is_gt(),
                            _ => o.is_ge(),
                        }
                    }
                })
            }
            Expr::Logic(a, is_and, b) => {
                let a = self.eval(a)?;
                if a.truthy() == *is_and {
                    self.eval(b)?
                } else {
                    a
                }
            }
            Expr::Not(a) => Value::Bool(!self.eval(a)?.truthy()),
            Expr::Call(name, args) => {
                // Up to three arguments on the stack (`uniform(1ms, 2s)`
                // per task of a large gather needs no allocation).
                let mut small = [Value::None, Value::None, Value::None];
                let big: Vec<Value>;
                let args: &[Value] = if args.len() <= small.len() {
                    for (slot, a) in small.iter_mut().zip(args) {
                        *slot = self.eval(a)?;
                    }
                    &small[..args.len()]
                } else {
                    big = args
                        .iter()
                        .map(|a| self.eval(a))
                        .collect::<Result<Vec<_>, _>>()?;
                    &big
                };
                if name == "range" {
                    // Checked before the list is built, not after.
                    let (a, b) = match args {
                        [Value::Int(n)] => (0, *n),
                        [Value::Int(a), Value::Int(b)] => (*a, *b),
                        _ => (0, 0),
                    };
                    self.check_len(usize::try_from(b.saturating_sub(a)).unwrap_or(0))?;
                }
                self.sized(builtin(name, args)?)?
            }
            Expr::Method(a, m, args) => {
                if let Expr::Var(n) = &**a
                    && !self.has_var(n)
                    && let Some(p) = self.prog.prims.get(n)
                {
                    return prim_method(p, m);
                }
                let target = self.eval(a)?;
                let args = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                method(&target, m, &args)?
            }
        })
    }

    pub(super) fn render(&self, pieces: &[Piece]) -> Result<String, Error> {
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(e, None) => out.push_str(&self.eval(e)?.to_str()),
                Piece::Value(e, Some(spec)) => {
                    out.push_str(&self.eval(e)?.format(spec).map_err(value_error)?)
                }
            }
            self.check_len(out.len())?;
        }
        Ok(out)
    }

    /// A `call_later` delay: a duration, or (`Err`) a negative number of
    /// seconds, which asyncio keeps (`call_at(self.time() + delay)`: the
    /// timer is due before those scheduled for now).
    pub(super) fn delay(&self, e: &Expr) -> Result<Result<DurationValue, f64>, Error> {
        match self.eval(e)? {
            Value::Duration(d) | Value::Float(d) if d.is_finite() && d < 0.0 => Ok(Err(d)),
            Value::Int(i) if i < 0 => Ok(Err(i as f64)),
            v => duration_of(v).map(Ok),
        }
    }

    pub(super) fn duration(&self, e: &Expr) -> Result<DurationValue, Error> {
        duration_of(self.eval(e)?)
    }

    pub(super) fn call_args(&self, c: &Call) -> Result<Vec<Value>, Error> {
        c.args.iter().map(|a| self.eval(a)).collect()
    }
}

/// A value used as a duration: negative ones are 0 (a bare yield).
fn duration_of(v: Value) -> Result<DurationValue, Error> {
    match v {
        Value::Duration(d) if d.is_finite() => Ok(DurationValue::Secs(d.max(0.0))),
        Value::Int(i) => Ok(if i <= 0 {
            DurationValue::Exact(Duration::ZERO)
        } else {
            DurationValue::Exact(Duration::from_secs(i as u64))
        }),
        Value::Float(f) if f.is_finite() => Ok(DurationValue::Secs(f.max(0.0))),
        other => Err(type_error(format!(
            "expected a duration, got {}",
            other.type_name()
        ))),
    }
}
