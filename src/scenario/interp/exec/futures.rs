//! Futures and callbacks: `loop.create_future()`, `set_result`, and
//! callbacks the loop runs outside any task (`call_soon`, `call_later`).

use crate::error::Error;
use crate::future::{SimFuture, call_later, call_later_secs, call_soon};
use crate::scenario::expr::Expr;
use crate::scenario::interp::Program;
use crate::scenario::interp::type_error;
use crate::scenario::interp::vm::{Ret, Vm};
use crate::scenario::model::{FutureStep, Step};
use crate::scenario::value::Value;
use std::future::Future;
use std::rc::Rc;

impl Vm {
    /// Executes a future or callback step.
    pub(super) fn exec_future(&mut self, step: &FutureStep) -> Result<(), Error> {
        match step {
            FutureStep::NewFuture(var) => self.assign(
                &Some(var.clone()),
                Value::Future(SimFuture::with_label(var)),
            ),
            FutureStep::SetResult { future, value } => {
                let f = self.future(future)?;
                let v = self.eval(value)?;
                f.set_result(v)?;
            }
            FutureStep::CallLater {
                delay,
                future,
                value,
            } => {
                let f = self.future(future)?;
                let v = self.eval(value)?;
                self.call_later(delay, move || {
                    let _ = f.set_result(v);
                })?;
            }
            FutureStep::Callback { delay, body } => {
                let vars = self.snapshot();
                let vm = Vm::for_callback(self.prog.clone(), body.clone(), vars)?;
                match delay {
                    Some(d) => self.call_later(d, move || run_callback(vm))?,
                    None => {
                        call_soon(move || run_callback(vm));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Vm {
    /// `loop.call_later(delay, f)`, a negative delay kept (`Vm::delay`).
    fn call_later(&self, delay: &Expr, f: impl FnOnce() + 'static) -> Result<(), Error> {
        match self.delay(delay)? {
            Ok(d) => drop(call_later(d.as_duration(), f)),
            Err(secs) => drop(call_later_secs(secs, f)),
        }
        Ok(())
    }

    fn future(&self, name: &str) -> Result<SimFuture<Value>, Error> {
        match self.lookup(name)? {
            Value::Future(f) => Ok(f),
            other => Err(type_error(format!(
                "`{name}` is a {}, not a future",
                other.type_name()
            ))),
        }
    }
}

/// Runs a callback's steps to the end, in the loop, outside any task. An
/// exception in it goes to asyncio's exception handler (a log line on
/// stderr in CPython): the run goes on.
fn run_callback(mut vm: Vm) {
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    // Plain steps never wait, so one poll runs them all.
    let _ = std::pin::Pin::new(&mut vm).poll(&mut cx);
}

impl Vm {
    /// A copy of the variables the current step sees.
    fn snapshot(&self) -> Vec<(String, Value)> {
        let s = self.frames.last().map(|f| f.scope).unwrap_or(0);
        self.frames
            .get(s)
            .and_then(|f| f.vars.as_ref())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// A VM running a callback's body on `vars`.
    fn for_callback(
        prog: Rc<Program>,
        body: Rc<[Step]>,
        vars: Vec<(String, Value)>,
    ) -> Result<Vm, Error> {
        let mut vm = Vm::new(prog);
        let (names, values): (Vec<String>, Vec<Value>) = vars.into_iter().unzip();
        vm.push_frame_call(names, body, values, Ret::Main, None)?;
        Ok(vm)
    }
}
