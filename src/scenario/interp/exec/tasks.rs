//! Tasks: `sleep`, `block`, and making, awaiting, cancelling and combining
//! tasks through the public API (`spawn`, `gather_tasks`, `wait_for`,
//! `shield`, `as_completed`, `TaskGroup`).

use crate::combinators::TaskGroup;
use crate::error::Error;
use crate::future::SimFuture;
use crate::model::PythonVersion;
use crate::scenario::interp::eval::DurationValue;
use crate::scenario::interp::unwind::TimeoutGuard;
use crate::scenario::interp::vm::{Guard, Kind, OpOut, Ret, Then, Vm};
use crate::scenario::interp::{flatten, type_error};
use crate::scenario::model::{Call, Each, Target, TaskStep};
use crate::scenario::value::{TaskCell, Value, VmResult};
use crate::task::Builder;
use crate::{
    as_completed, block, gather_tasks, gather_tasks_return_exceptions, shield, shield_task, sleep,
    sleep_secs, wait_for, wait_for_task,
};
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use std::cell::RefCell;
use std::rc::Rc;

impl Vm {
    /// Executes a task step: sleeping, blocking, and creating, awaiting, cancelling or combining tasks.
    pub(super) fn exec_task(&mut self, step: &TaskStep) -> Result<(), Error> {
        match step {
            TaskStep::Sleep(e) => match self.duration(e)? {
                DurationValue::Exact(d) => self.start_sleep(sleep(d), Then::Discard),
                DurationValue::Secs(s) => self.start_sleep(sleep_secs(s), Then::Discard),
            },
            TaskStep::Block(e) => block(self.duration(e)?.as_duration()),
            TaskStep::Unawaited(c) => {
                // Python evaluates the arguments and makes the coroutine.
                let args = self.call_args(c)?;
                let shown: Vec<String> = args.iter().map(|a| a.repr()).collect();
                crate::task::never_awaited(&format!("{}({})", c.name, shown.join(", ")));
            }
            TaskStep::Spawn { call, bind, name } => {
                let name = match name {
                    Some(t) => Some(self.render(t)?),
                    None => None,
                };
                let cell = self.spawn(call, name)?;
                self.assign(bind, Value::Task(cell));
            }
            TaskStep::Await { target, into } => match target {
                Target::Call(c) => {
                    let co = self.prog.scenario.coroutines[&c.name].clone();
                    if co.is_generator {
                        return Err(type_error(format!(
                            "object async_generator `{}` can't be used in 'await' expression",
                            c.name
                        )));
                    }
                    let args = self.call_args(c)?;
                    self.push_call(&co, args, Ret::Var(into.clone()))?;
                }
                Target::Value(e) => match self.eval(e)? {
                    Value::Task(cell) => {
                        let fut = Vm::await_task(cell.clone());
                        self.start(fut, Then::TaskResult(into.clone()));
                    }
                    Value::Future(f) => {
                        self.start_val(async move { f.await }, Then::Assign(into.clone()))
                    }
                    other => {
                        return Err(type_error(format!(
                            "object {} can't be used in 'await' expression",
                            other.type_name()
                        )));
                    }
                },
            },
            TaskStep::Cancel(e) => match self.eval(e)? {
                Value::Task(cell) => {
                    cell.task.cancel();
                }
                Value::Future(f) => {
                    f.cancel();
                }
                other => return Err(type_error(format!("cannot cancel {}", other.type_name()))),
            },
            TaskStep::CancelWith { task, message } => {
                let msg = self.render(message)?;
                match self.eval(task)? {
                    Value::Task(cell) => {
                        cell.task.cancel_with_message(&msg);
                    }
                    Value::Future(f) => {
                        f.cancel_with_message(&msg);
                    }
                    other => {
                        return Err(type_error(format!("cannot cancel {}", other.type_name())));
                    }
                }
            }
            TaskStep::Gather {
                items,
                each,
                return_exceptions,
                into,
            } => {
                let handles = self.handles_each(items, each)?;
                let re = *return_exceptions;
                self.start_val(
                    async move {
                        if re {
                            let tasks: Vec<_> = handles.iter().map(|h| h.task()).collect();
                            let rs = gather_tasks_return_exceptions(handles).await;
                            // A cancelled child's result is a new
                            // `CancelledError('' if fut._cancel_message is
                            // None else fut._cancel_message)`: '' unless it
                            // was cancelled right before it stopped.
                            Ok(Value::List(Rc::new(
                                rs.into_iter()
                                    .zip(tasks)
                                    .map(|(r, t)| match r {
                                        Ok(v) => v,
                                        Err(Error::Cancelled) => Value::Error(Error::raised(
                                            "CancelledError",
                                            t.request_message().unwrap_or_default(),
                                        )),
                                        Err(e) => Value::Error(e),
                                    })
                                    .collect(),
                            )))
                        } else {
                            let vs = gather_tasks(handles).await?;
                            Ok(Value::List(Rc::new(vs)))
                        }
                    },
                    Then::Assign(into.clone()),
                );
            }
            TaskStep::WaitFor {
                target,
                timeout,
                into,
            } => {
                let d = self.duration(timeout)?.as_duration();
                let py = crate::python_version();
                match (py, target) {
                    (PythonVersion::Py312 | PythonVersion::Py313, Target::Call(c))
                        if !d.is_zero() =>
                    {
                        // `async with timeout(d): return await coro` — inline.
                        let co = self.prog.scenario.coroutines[&c.name].clone();
                        let args = self.call_args(c)?;
                        self.push_block(
                            Rc::from(Vec::new()),
                            Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                        );
                        self.push_call(&co, args, Ret::Var(into.clone()))?;
                    }
                    (PythonVersion::Py312 | PythonVersion::Py313, Target::Value(_))
                        if !d.is_zero() =>
                    {
                        let fut: LocalBoxFuture<'static, VmResult> = match self.awaitable(target)? {
                            Awaitable::Task(h) => async move { flatten(h.await) }.boxed_local(),
                            Awaitable::Fut(f) => async move { f.await }.boxed_local(),
                        };
                        self.push_block(
                            Rc::from(Vec::new()),
                            Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                        );
                        self.start_val(fut, Then::Assign(into.clone()));
                    }
                    _ => {
                        // `fut = ensure_future(fut)`: a call becomes a task
                        // of its own, labelled, whose exception is its own.
                        let fut: LocalBoxFuture<'static, VmResult> = match self.awaitable(target)? {
                            Awaitable::Task(h) => {
                                async move { flatten(wait_for_task(h, d).await) }.boxed_local()
                            }
                            Awaitable::Fut(f) => {
                                async move { flatten(wait_for(f.into_future(), d).await) }
                                    .boxed_local()
                            }
                        };
                        self.start_val(fut, Then::Assign(into.clone()));
                    }
                }
            }
            TaskStep::Timeout { delay, body } => {
                let d = self.duration(delay)?.as_duration();
                self.push_block(
                    body.clone(),
                    Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                );
            }
            TaskStep::AsCompleted {
                items,
                each,
                bind,
                body,
                timeout,
            } => {
                let handles = self.handles_each(items, each)?;
                let t = match timeout {
                    Some(t) => Some(self.duration(t)?.as_duration()),
                    None => None,
                };
                let it = Rc::new(RefCell::new(Some(as_completed(handles, t))));
                self.push_block(
                    body.clone(),
                    Kind::AsCompleted {
                        it,
                        var: bind.clone(),
                    },
                );
                let top = self.frames.last_mut().expect("pushed");
                top.pc = top.steps.len(); // the first result comes from the loop head
            }
            TaskStep::TaskGroup { calls, each, into } => {
                let mut vms = Vec::new();
                for (c, args) in self.calls_each(calls, each)? {
                    let co = self.prog.scenario.coroutines[&c.name].clone();
                    let label = call_label(&c.name, &args);
                    vms.push((label, Vm::for_call(self.prog.clone(), &co, args)));
                }
                self.start_val(
                    async move {
                        let handles = TaskGroup::run(|tg| {
                            let hs: Vec<_> = vms
                                .into_iter()
                                .map(|(label, vm)| tg.spawn_with(Builder::new().label(label), vm))
                                .collect();
                            async move { hs }
                        })
                        .await?;
                        let mut out = Vec::new();
                        for h in handles {
                            out.push(flatten(h.await)?);
                        }
                        Ok(Value::List(Rc::new(out)))
                    },
                    Then::Assign(into.clone()),
                );
            }
            TaskStep::Shield { target, into } => {
                // `inner = ensure_future(arg)`, as for `wait_for`.
                let fut: LocalBoxFuture<'static, VmResult> = match self.awaitable(target)? {
                    Awaitable::Task(h) => {
                        async move { flatten(shield_task(h).await) }.boxed_local()
                    }
                    Awaitable::Fut(f) => {
                        async move { flatten(shield(f.into_future()).await) }.boxed_local()
                    }
                };
                self.start_val(fut, Then::Assign(into.clone()));
            }
        }
        Ok(())
    }
}

/// A target for `wait_for` and `shield`, as `ensure_future` gives it: a
/// task, or a future.
enum Awaitable {
    Task(crate::task::JoinHandle<VmResult>),
    Fut(SimFuture<Value>),
}

impl Vm {
    /// Spawns `call` as a new task running its own VM.
    fn spawn(&self, c: &Call, name: Option<String>) -> Result<Rc<TaskCell>, Error> {
        let args = self.call_args(c)?;
        self.spawn_with(c, args, name)
    }

    fn spawn_with(
        &self,
        c: &Call,
        args: Vec<Value>,
        name: Option<String>,
    ) -> Result<Rc<TaskCell>, Error> {
        let h = self.spawn_handle(c, args, name.as_deref())?;
        Ok(Rc::new(TaskCell {
            task: h.task(),
            given_name: name,
            handle: Some(h),
        }))
    }

    /// Spawns `call` with `args` as a new task; its handle.
    fn spawn_handle(
        &self,
        c: &Call,
        args: Vec<Value>,
        name: Option<&str>,
    ) -> Result<crate::JoinHandle<VmResult>, Error> {
        let co = self.prog.scenario.coroutines[&c.name].clone();
        if co.is_generator {
            return Err(type_error(format!(
                "a coroutine was expected, got the async generator `{}`",
                c.name
            )));
        }
        // The label is for the trace: not built when nothing records it,
        // and built in a buffer kept for the next spawn.
        let mut label = if crate::tracing() {
            let mut buf = LABEL.take();
            buf.clear();
            write_call_label(&mut buf, &c.name, &args);
            Some(buf)
        } else {
            None
        };
        let vm = Vm::for_call(self.prog.clone(), &co, args);
        let h = crate::task::spawn_fallible_with(name, label.as_deref(), vm);
        if let Some(buf) = label.take() {
            LABEL.set(buf);
        }
        if let Some(limit) = crate::limit_hit() {
            return Err(Error::raised(
                "LimitExceeded",
                format!("the run exceeded `{}`", limit.name()),
            ));
        }
        Ok(h)
    }

    /// A future awaiting a task (its handle, or its cached result).
    fn await_task(cell: Rc<TaskCell>) -> LocalBoxFuture<'static, OpOut> {
        async move {
            let r = match cell.handle.clone() {
                Some(h) => flatten(h.await),
                None => Err(no_handle()),
            };
            OpOut::Val(r)
        }
        .boxed_local()
    }

    /// What `ensure_future(t)` gives, for `wait_for` and `shield`: a call
    /// becomes a task, made as `spawn` makes one (labelled, ending raised if
    /// its coroutine raises: a task a combinator made of a bare VM ended
    /// returned, and its unretrieved exception went unwarned); a task or a
    /// future is itself.
    fn awaitable(&self, t: &Target) -> Result<Awaitable, Error> {
        match t {
            Target::Call(c) => {
                let cell = self.spawn(c, None)?;
                Ok(Awaitable::Task(cell.handle.clone().ok_or_else(no_handle)?))
            }
            Target::Value(e) => match self.eval(e)? {
                Value::Task(cell) => {
                    Ok(Awaitable::Task(cell.handle.clone().ok_or_else(no_handle)?))
                }
                Value::Future(f) => Ok(Awaitable::Fut(f)),
                other => Err(type_error(format!(
                    "object {} can't be used in 'await' expression",
                    other.type_name()
                ))),
            },
        }
    }

    /// Task handles for `gather` / `as_completed`: calls become new tasks.
    fn task_cells(&self, items: &[Target]) -> Result<Vec<Rc<TaskCell>>, Error> {
        let mut out = Vec::new();
        for t in items {
            match t {
                Target::Call(c) => out.push(self.spawn(c, None)?),
                Target::Value(e) => match self.eval(e)? {
                    Value::Task(cell) => out.push(cell),
                    Value::List(l) => {
                        for v in l.iter() {
                            match v {
                                Value::Task(cell) => out.push(cell.clone()),
                                other => {
                                    return Err(type_error(format!(
                                        "expected tasks, got {}",
                                        other.type_name()
                                    )));
                                }
                            }
                        }
                    }
                    other => {
                        return Err(type_error(format!(
                            "expected a task, got {}",
                            other.type_name()
                        )));
                    }
                },
            }
        }
        Ok(out)
    }

    /// The calls of a step with their evaluated arguments, repeated over
    /// `each` (the loop variable is visible while the arguments are
    /// evaluated, then removed again).
    fn calls_each<'c>(
        &mut self,
        calls: &'c [Call],
        each: &Option<Each>,
    ) -> Result<Vec<(&'c Call, Vec<Value>)>, Error> {
        let Some(each) = each else {
            return calls.iter().map(|c| Ok((c, self.call_args(c)?))).collect();
        };
        let items = match self.eval(&each.iter)? {
            Value::List(l) => l,
            other => {
                return Err(type_error(format!(
                    "'{}' object is not iterable",
                    other.type_name()
                )));
            }
        };
        let saved = self.scope_mut().remove(&each.var);
        let mut out = Vec::new();
        let mut failure = None;
        for item in items.iter() {
            // The loop variable's key is cloned once, not per item.
            match self.scope_mut().get_mut(&each.var) {
                Some(slot) => *slot = item.clone(),
                None => {
                    self.scope_mut().insert(each.var.clone(), item.clone());
                }
            }
            for c in calls {
                match self.call_args(c) {
                    Ok(a) => out.push((c, a)),
                    Err(e) => failure = Some(e),
                }
            }
            if failure.is_some() {
                break;
            }
        }
        self.scope_mut().remove(&each.var);
        if let Some(v) = saved {
            self.scope_mut().insert(each.var.clone(), v);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Task handles for `gather` / `as_completed`, with `each` applied (the
    /// tasks of calls made here are never values: no cell for them).
    fn handles_each(
        &mut self,
        items: &[Target],
        each: &Option<Each>,
    ) -> Result<Vec<crate::JoinHandle<VmResult>>, Error> {
        if each.is_none() {
            return task_handles(&self.task_cells(items)?);
        }
        let calls: Vec<Call> = items
            .iter()
            .filter_map(|t| match t {
                Target::Call(c) => Some(c.clone()),
                Target::Value(_) => None,
            })
            .collect();
        let mut out = Vec::new();
        for (c, args) in self.calls_each(&calls, each)? {
            out.push(self.spawn_handle(c, args, None)?);
        }
        Ok(out)
    }
}

/// A handle of each task for a combinator (`gather`, `as_completed`).
fn task_handles(cells: &[Rc<TaskCell>]) -> Result<Vec<crate::JoinHandle<VmResult>>, Error> {
    cells
        .iter()
        .map(|c| c.handle.clone().ok_or_else(no_handle))
        .collect()
}

/// `fetch('A', 3)`: a call as Python would write it.
fn call_label(name: &str, args: &[Value]) -> String {
    let mut label = String::with_capacity(name.len() + 2 + 8 * args.len());
    write_call_label(&mut label, name, args);
    label
}

fn write_call_label(label: &mut String, name: &str, args: &[Value]) {
    label.push_str(name);
    label.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            label.push_str(", ");
        }
        label.push_str(&a.repr_short(40));
    }
    label.push(')');
}

thread_local! {
    /// The buffer a spawned task's label is written in (taken while in
    /// use: a spawn inside a spawn, an eager task's, makes its own).
    static LABEL: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
}

/// Awaiting the task `current_task()` named, from itself (the only task
/// that can name it so).
fn no_handle() -> Error {
    Error::raised("RuntimeError", "Task cannot await on itself")
}
