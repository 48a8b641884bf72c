//! The program limits the interpreter enforces itself: interpreted steps,
//! value sizes and nesting, and stopping the run with a message that says
//! which limit, where, and how to raise it.

use super::vm::Vm;
use crate::error::Error;
use crate::scenario::value::Value;

impl Vm {
    /// Stops the run at a program limit, saying which, where and how to
    /// raise it; the error unwinds the task.
    pub(super) fn over_limit(
        &self,
        key: &'static str,
        value: u64,
        line: impl Into<Option<usize>>,
        what: &str,
    ) -> Error {
        let file = &self.prog.scenario.file;
        let at = match line.into() {
            Some(line) => format!("{file}:{line}"),
            // A loop's next round: the loop's last step ran at this line.
            None => format!("{file}:{} (a loop's next round)", self.line),
        };
        crate::stop_at_limit(key, format!("more than {value} {what}, at {at}"));
        Error::raised(
            "LimitExceeded",
            format!("more than {value} {what} (`{key}`)"),
        )
    }
}

impl Vm {
    /// Counts an interpreted step (a step, or a loop's next round) against
    /// `max_steps`; stops too once the run has hit any other limit (a step
    /// that spawns or prints in a loop never yields to the loop that would
    /// stop it).
    pub(super) fn count_step(&self, line: Option<usize>) -> Result<(), Error> {
        let n = self.prog.steps.get() + 1;
        self.prog.steps.set(n);
        let max = self.prog.scenario.settings.limits.max_steps;
        if n > max {
            return Err(self.over_limit("max_steps", max, line, "interpreted steps"));
        }
        if n.is_multiple_of(1024)
            && let Some(limit) = crate::limit_hit()
        {
            return Err(Error::raised(
                "LimitExceeded",
                format!("the run exceeded `{}`", limit.name()),
            ));
        }
        Ok(())
    }
}

/// How deeply lists may nest inside each other (as expressions may): deeper
/// values could not be printed, compared or dropped without deep recursion.
pub(super) const MAX_VALUE_NESTING: usize = 64;

impl Vm {
    /// Charges building a value of `len` items against `max_steps` (one step
    /// per 8 items, so that quadratic accumulation stops instead of
    /// hanging) and checks it against `max_value_len`.
    pub(super) fn check_len(&self, len: usize) -> Result<(), Error> {
        let len = len as u64;
        let settings = &self.prog.scenario.settings;
        if len > settings.max_value_len {
            return Err(self.over_limit(
                "max_value_len",
                settings.max_value_len,
                self.line,
                "characters or items in one value",
            ));
        }
        self.charge(len / 8)
    }

    /// Charges `steps` interpreted steps of work against `max_steps`.
    pub(super) fn charge(&self, steps: u64) -> Result<(), Error> {
        let settings = &self.prog.scenario.settings;
        let n = self.prog.steps.get() + steps;
        self.prog.steps.set(n);
        if n > settings.limits.max_steps {
            return Err(self.over_limit(
                "max_steps",
                settings.limits.max_steps,
                self.line,
                "interpreted steps (building values counts one per 8 items)",
            ));
        }
        Ok(())
    }

    /// `v`, after [`Vm::check_len`] on a string or list.
    pub(super) fn sized(&self, v: Value) -> Result<Value, Error> {
        match &v {
            Value::Str(s) => self.check_len(s.len())?,
            Value::List(l) => self.check_len(l.len())?,
            _ => {}
        }
        Ok(v)
    }

    /// Refuses a list whose items nest lists deeper than
    /// [`MAX_VALUE_NESTING`] (walked without recursion; the walk is charged
    /// as building).
    pub(super) fn check_nesting(&self, items: &[Value]) -> Result<(), Error> {
        let mut todo: Vec<(&Value, usize)> = items.iter().map(|v| (v, 1)).collect();
        let mut visited = 0;
        while let Some((v, depth)) = todo.pop() {
            visited += 1;
            let inner: Option<Vec<&Value>> = match v {
                Value::List(l) => Some(l.iter().collect()),
                Value::Dict(d) => Some(d.iter().flat_map(|(k, x)| [k, x]).collect()),
                _ => None,
            };
            if let Some(inner) = inner {
                if depth >= MAX_VALUE_NESTING {
                    return Err(Error::raised(
                        "RecursionError",
                        format!(
                            "a list nested more than {MAX_VALUE_NESTING} levels deep (line {}); keep values flatter",
                            self.line
                        ),
                    ));
                }
                todo.extend(inner.into_iter().map(|x| (x, depth + 1)));
            }
        }
        self.check_len(visited)
    }
}
