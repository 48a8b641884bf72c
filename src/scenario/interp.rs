//! The scenario interpreter: each task runs one [`Vm`] future that executes
//! steps from an explicit stack of frames — no native recursion per call, so
//! deep (or runaway) call chains hit `max_call_depth` with a `RecursionError`
//! instead of overflowing the stack.
//!
//! The VM is a client of the public API: `sleep`, `spawn`, `gather_tasks`,
//! `wait_for`, `shield`, `as_completed`, `TaskGroup`, the `sync` primitives,
//! `catch`-style cancellation through the engine's catcher protocol. An
//! inline `await coro()` pushes a frame (no yield to the loop, as in
//! asyncio); everything that makes a task in asyncio makes a task here.
//!
//! Cancellation: the VM registers as the innermost cancellation catcher of
//! its task, turns a delivered cancellation into a `CancelledError` raised at
//! the current step, unwinds frames (running `except`, `finally` and
//! `async with` exits), and, if nothing catches it, lets the task end
//! cancelled.

use super::expr::{BinOp, CmpOp, Expr, Piece};
use super::model::*;
use super::value::{Outcome, TaskCell, Value};
use crate::combinators::TaskGroup;
use crate::engine::{self, LimitKind};
use crate::error::Error;
use crate::future::{SimFuture, call_later, call_soon};
use crate::model::{LoopModel, PythonVersion};
use crate::rng::Stream;
use crate::sim::{Run, Sim};
use crate::sync::{BoundedSemaphore, Event, Lock, LockGuard, Queue, Semaphore, SemaphorePermit};
use crate::task::{Builder, TaskRef, current_task};
use crate::trace::TaskId;
use crate::{
    AsCompleted, SectionGuard, as_completed, block, gather_tasks, gather_tasks_return_exceptions,
    loop_time, print, section, shield, shield_task, sleep, sleep_secs, wait_for, wait_for_task,
    with_stream,
};
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use rand::RngExt;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// One run of one variant of a scenario.
#[derive(Debug)]
pub struct ScenarioRun {
    /// The variant.
    pub variant: String,
    /// The seed used.
    pub seed: u64,
    /// The loop model used.
    pub model: LoopModel,
    /// The Python version followed (asyncio model).
    pub python: PythonVersion,
    /// The run: outcome (the main coroutine's return value), output, trace.
    pub run: Run<Value>,
}

/// Runs one variant of a scenario, optionally overriding its seed and model.
///
/// # Panics
///
/// If `variant` is not one of the scenario's variants (callers check).
pub fn run_variant(
    s: &Scenario,
    variant: &str,
    seed: Option<u64>,
    model: Option<LoopModel>,
    trace: bool,
) -> ScenarioRun {
    let v = s
        .variants
        .iter()
        .find(|v| v.name == variant)
        .unwrap_or_else(|| panic!("unknown variant `{variant}`"));
    let seed = seed.or(v.seed).unwrap_or(s.settings.seed);
    let model = model.or(v.model).unwrap_or(s.settings.model);
    let python = v.python.unwrap_or(s.settings.python);
    let label = if s.variants.len() > 1 {
        format!("{}/{}", s.name, v.name)
    } else {
        s.name.clone()
    };
    let sim = Sim::builder()
        .seed(seed)
        .model(model)
        .python(python)
        .eager_tasks(s.settings.eager_tasks)
        .step_overhead(s.settings.step_overhead)
        .limits(s.settings.limits)
        .trace(trace)
        .label(label)
        .main_label(format!("{}()", v.main))
        .build();
    let prog = Rc::new(Program::new(s.clone()));
    let main = prog.scenario.coroutines[&v.main].clone();
    let args = v.args.clone();
    let run = sim.run_fallible(async move {
        let mut vm = Vm::new(prog.clone());
        let empty = Frame {
            steps: Rc::from(Vec::new()),
            pc: 0,
            scope: 0,
            vars: Some(BTreeMap::new()),
            kind: Kind::Block,
        };
        vm.frames.push(empty);
        let args = args
            .iter()
            .map(|a| vm.eval(a))
            .collect::<Result<Vec<_>, _>>()?;
        vm.frames.clear();
        vm.push_call(&main, args, Ret::Main)?;
        vm.await
    });
    ScenarioRun {
        variant: v.name.clone(),
        seed,
        model,
        python,
        run,
    }
}

/// A primitive instance of one run.
enum Prim {
    Lock(Lock),
    Semaphore(Semaphore),
    Bounded(BoundedSemaphore),
    Event(Event),
    Queue(Queue<Value>),
}

/// What every VM of a run shares.
struct Program {
    scenario: Scenario,
    prims: BTreeMap<String, Prim>,
    steps: Cell<u64>,
    lines: Cell<usize>,
}

impl Program {
    fn new(scenario: Scenario) -> Program {
        let prims = scenario
            .primitives
            .iter()
            .map(|(name, p)| {
                let inst = match p {
                    Primitive::Lock => Prim::Lock(Lock::named(name)),
                    Primitive::Semaphore(n) => Prim::Semaphore(Semaphore::named(name, *n)),
                    Primitive::BoundedSemaphore(n) => {
                        Prim::Bounded(BoundedSemaphore::named(name, *n))
                    }
                    Primitive::Event => Prim::Event(Event::named(name)),
                    Primitive::Queue { kind, maxsize } => {
                        Prim::Queue(Queue::with_kind(name, *kind, *maxsize))
                    }
                };
                (name.clone(), inst)
            })
            .collect();
        Program {
            scenario,
            prims,
            steps: Cell::new(0),
            lines: Cell::new(0),
        }
    }

    fn semaphore(&self, name: &str) -> Semaphore {
        match &self.prims[name] {
            Prim::Semaphore(s) => s.clone(),
            Prim::Bounded(b) => (**b).clone(),
            _ => unreachable!("validated as a semaphore"),
        }
    }

    fn lock(&self, name: &str) -> Lock {
        match &self.prims[name] {
            Prim::Lock(l) => l.clone(),
            _ => unreachable!("validated as a lock"),
        }
    }

    fn event(&self, name: &str) -> Event {
        match &self.prims[name] {
            Prim::Event(e) => e.clone(),
            _ => unreachable!("validated as an event"),
        }
    }

    fn queue(&self, name: &str) -> Queue<Value> {
        match &self.prims[name] {
            Prim::Queue(q) => q.clone(),
            _ => unreachable!("validated as a queue"),
        }
    }
}

/// Where a call's return value goes.
#[derive(Clone, Debug)]
enum Ret {
    /// Into a variable of the caller (or nowhere).
    Var(Option<String>),
    /// The main coroutine: the VM's result.
    Main,
    /// An async generator driven by the `GenFor` frame below.
    Gen,
    /// A context manager's `enter`: bind `as`, then run the body.
    WithEnter,
    /// A context manager's `exit`: finish the `async with`.
    WithExit,
}

enum Completion {
    Return(Value),
    Raise(Error),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TryPhase {
    Body,
    Handler,
    Finally,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WithPhase {
    Enter,
    Body,
    Exit,
}

struct TimeoutGuard {
    timer: Option<crate::TimerHandle>,
    soon: Option<crate::CallbackHandle>,
    expired: Rc<Cell<bool>>,
    cancelling: u32,
    task: TaskRef,
}

impl TimeoutGuard {
    fn enter(delay: Duration) -> TimeoutGuard {
        let task = current_task();
        let expired = Rc::new(Cell::new(false));
        let fire = {
            let expired = expired.clone();
            move || {
                expired.set(true);
                task.cancel();
            }
        };
        let (timer, soon) = if delay.is_zero() {
            (None, Some(call_soon(fire)))
        } else {
            (Some(call_later(delay, fire)), None)
        };
        TimeoutGuard {
            timer,
            soon,
            expired,
            cancelling: task.cancelling(),
            task,
        }
    }

    /// `__aexit__`: cancel the timer; if it fired, take back its cancel
    /// request and turn the cancellation it caused into `TimeoutError`.
    fn exit(mut self, c: Option<Completion>) -> Option<Completion> {
        self.disarm();
        if !self.expired.get() {
            return c;
        }
        let left = self.task.uncancel();
        match c {
            Some(Completion::Raise(Error::Cancelled)) if left <= self.cancelling => {
                Some(Completion::Raise(Error::Timeout))
            }
            other => other,
        }
    }

    fn disarm(&mut self) {
        if let Some(t) = self.timer.take() {
            t.cancel();
        }
        if let Some(s) = self.soon.take() {
            s.cancel();
        }
    }
}

impl Drop for TimeoutGuard {
    fn drop(&mut self) {
        self.disarm();
    }
}

enum Guard {
    Lock(
        #[allow(dead_code)] SectionGuard,
        #[allow(dead_code)] LockGuard,
    ),
    Permit(
        #[allow(dead_code)] SectionGuard,
        #[allow(dead_code)] SemaphorePermit,
    ),
    Section(#[allow(dead_code)] SectionGuard),
    Timeout(TimeoutGuard),
}

enum Kind {
    Call {
        ret: Ret,
        gen_for: Option<usize>,
    },
    Block,
    GenBody {
        gen_for: usize,
    },
    GenFor {
        var: String,
        body: Rc<[Step]>,
    },
    Repeat {
        i: i64,
        n: i64,
        index: Option<String>,
    },
    For {
        items: Rc<Vec<Value>>,
        i: usize,
        var: String,
    },
    AsCompleted {
        it: Rc<RefCell<Option<AsCompleted<Outcome>>>>,
        var: String,
    },
    Try {
        handler: Option<Handler>,
        finally: Rc<[Step]>,
        phase: TryPhase,
        pending: Option<Completion>,
    },
    Guard(Option<Guard>),
    With {
        ctx: Rc<ContextManager>,
        bind: Option<String>,
        body: Rc<[Step]>,
        phase: WithPhase,
        pending: Option<Completion>,
        ctx_vars: Option<BTreeMap<String, Value>>,
    },
}

struct Frame {
    steps: Rc<[Step]>,
    pc: usize,
    /// Index of the frame that holds this frame's variables.
    scope: usize,
    vars: Option<BTreeMap<String, Value>>,
    kind: Kind,
}

enum OpOut {
    Val(Outcome),
    Lock(LockGuard),
    Permit(SemaphorePermit),
}

enum Then {
    Assign(Option<String>),
    Discard,
    TaskResult(Rc<TaskCell>, Option<String>),
    PushLock(String, Rc<[Step]>),
    PushPermit(String, Rc<[Step]>),
    AsCompletedNext,
}

struct Op {
    fut: LocalBoxFuture<'static, OpOut>,
    then: Then,
}

/// A scenario coroutine running as (part of) a task.
struct Vm {
    prog: Rc<Program>,
    frames: Vec<Frame>,
    op: Option<Op>,
    catcher: Option<(TaskId, u64)>,
    result: Option<Outcome>,
    calls: usize,
}

fn type_error(msg: impl Into<String>) -> Error {
    Error::raised("TypeError", msg)
}

fn value_error(msg: impl Into<String>) -> Error {
    Error::raised("ValueError", msg)
}

/// The error a `raise Kind(msg)` step raises.
fn exception(kind: &str, message: String) -> Error {
    match kind {
        "CancelledError" => Error::Cancelled,
        "TimeoutError" => Error::Timeout,
        _ => Error::raised(kind, message),
    }
}

/// Whether an `except` clause with `kinds` catches `e`.
fn catches(kinds: &[String], e: &Error) -> bool {
    kinds.iter().any(|k| match k.as_str() {
        "BaseException" | "*" => true,
        "Exception" => !e.is_cancelled(),
        // TimeoutError is an OSError subclass in Python.
        "OSError" => matches!(e, Error::Timeout),
        k => k == e.kind(),
    })
}

impl Vm {
    fn new(prog: Rc<Program>) -> Vm {
        Vm {
            prog,
            frames: Vec::new(),
            op: None,
            catcher: None,
            result: None,
            calls: 0,
        }
    }

    /// A VM that returns `r` at once.
    fn done(prog: Rc<Program>, r: Outcome) -> Vm {
        let mut vm = Vm::new(prog);
        vm.result = Some(r);
        vm
    }

    /// A VM that runs `call` (a new task's body).
    fn for_call(prog: Rc<Program>, co: &Rc<Coroutine>, args: Vec<Value>) -> Vm {
        let mut vm = Vm::new(prog);
        if let Err(e) = vm.push_call(co, args, Ret::Main) {
            vm.result = Some(Err(e));
        }
        vm
    }

    fn push_call(&mut self, co: &Rc<Coroutine>, args: Vec<Value>, ret: Ret) -> Result<(), Error> {
        self.push_frame_call(
            co.name.clone(),
            co.params.clone(),
            co.body.clone(),
            args,
            ret,
            None,
        )
    }

    fn push_frame_call(
        &mut self,
        _name: String,
        params: Vec<String>,
        body: Rc<[Step]>,
        args: Vec<Value>,
        ret: Ret,
        gen_for: Option<usize>,
    ) -> Result<(), Error> {
        if self.calls >= self.prog.scenario.settings.max_call_depth {
            return Err(Error::raised(
                "RecursionError",
                "maximum recursion depth exceeded",
            ));
        }
        self.calls += 1;
        let vars: BTreeMap<String, Value> = params.into_iter().zip(args).collect();
        let index = self.frames.len();
        self.frames.push(Frame {
            steps: body,
            pc: 0,
            scope: index,
            vars: Some(vars),
            kind: Kind::Call { ret, gen_for },
        });
        Ok(())
    }

    fn push_block(&mut self, steps: Rc<[Step]>, kind: Kind) {
        let scope = self.frames.last().map(|f| f.scope).unwrap_or(0);
        self.frames.push(Frame {
            steps,
            pc: 0,
            scope,
            vars: None,
            kind,
        });
    }

    fn scope_mut(&mut self) -> &mut BTreeMap<String, Value> {
        let s = self.frames.last().expect("a frame").scope;
        self.frames[s]
            .vars
            .as_mut()
            .expect("scope frames hold variables")
    }

    fn assign(&mut self, var: &Option<String>, v: Value) {
        if let Some(name) = var {
            self.scope_mut().insert(name.clone(), v);
        }
    }

    fn lookup(&self, name: &str) -> Result<Value, Error> {
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
            "task" => Ok(Value::str(&current_task().name())),
            _ => Err(Error::raised(
                "NameError",
                format!("name '{name}' is not defined"),
            )),
        }
    }

    fn eval(&self, e: &Expr) -> Result<Value, Error> {
        Ok(match e {
            Expr::None => Value::None,
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Int(i) => Value::Int(*i),
            Expr::Float(f) => Value::Float(*f),
            Expr::Str(s) => Value::str(s),
            Expr::Duration(d) => Value::Duration(crate::time::duration_to_secs_f64(*d)),
            Expr::Var(v) => self.lookup(v)?,
            Expr::List(items) => Value::List(Rc::new(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            )),
            Expr::Index(a, i) => {
                let a = self.eval(a)?;
                let i = self.eval(i)?;
                match (&a, &i) {
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
                other => {
                    return Err(type_error(format!(
                        "bad operand type for unary -: '{}'",
                        other.type_name()
                    )));
                }
            },
            Expr::Bin(a, op, b) => arith(self.eval(a)?, *op, self.eval(b)?)?,
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
                let args = args
                    .iter()
                    .map(|a| self.eval(a))
                    .collect::<Result<Vec<_>, _>>()?;
                builtin(name, args)?
            }
        })
    }

    fn render(&self, pieces: &[Piece]) -> Result<String, Error> {
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Value(e, None) => out.push_str(&self.eval(e)?.to_str()),
                Piece::Value(e, Some(spec)) => {
                    out.push_str(&self.eval(e)?.format(spec).map_err(value_error)?)
                }
            }
        }
        Ok(out)
    }

    fn duration(&self, e: &Expr) -> Result<DurationValue, Error> {
        match self.eval(e)? {
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

    fn call_args(&self, c: &Call) -> Result<Vec<Value>, Error> {
        c.args.iter().map(|a| self.eval(a)).collect()
    }

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
        let co = self.prog.scenario.coroutines[&c.name].clone();
        if co.is_generator {
            return Err(type_error(format!(
                "a coroutine was expected, got the async generator `{}`",
                c.name
            )));
        }
        let label = call_label(&c.name, &args);
        let vm = Vm::for_call(self.prog.clone(), &co, args);
        let mut b = Builder::new().label(label);
        if let Some(n) = name {
            b = b.name(n);
        }
        let h = b.spawn_fallible(vm);
        let task = h.task();
        Ok(Rc::new(TaskCell {
            task,
            name: task.name(),
            handle: RefCell::new(Some(h)),
            result: RefCell::new(None),
        }))
    }

    /// A future awaiting a task (its handle, or its cached result).
    fn await_task(cell: Rc<TaskCell>) -> LocalBoxFuture<'static, OpOut> {
        async move {
            if let Some(r) = cell.result.borrow().clone() {
                return OpOut::Val(r);
            }
            let h = cell.handle.borrow_mut().take();
            let r = match h {
                Some(h) => flatten(h.await),
                None => Err(Error::raised("RuntimeError", "a task cannot await itself")),
            };
            OpOut::Val(r)
        }
        .boxed_local()
    }

    /// What a target is, for combinators that make a task of a coroutine
    /// themselves (`ensure_future`): the coroutine (not yet a task), an
    /// existing task's handle, or a future.
    fn awaitable(&self, t: &Target) -> Result<Awaitable, Error> {
        match t {
            Target::Call(c) => {
                let co = self.prog.scenario.coroutines[&c.name].clone();
                let args = self.call_args(c)?;
                Ok(Awaitable::Coro(Vm::for_call(self.prog.clone(), &co, args)))
            }
            Target::Value(e) => match self.eval(e)? {
                Value::Task(cell) => {
                    let h = cell.handle.borrow_mut().take();
                    Ok(match h {
                        Some(h) => Awaitable::Task(cell, h),
                        // Already awaited: its result, from a trivial task.
                        None => {
                            let r = cell.result.borrow().clone().unwrap_or(Ok(Value::None));
                            Awaitable::Coro(Vm::done(self.prog.clone(), r))
                        }
                    })
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
            self.scope_mut().insert(each.var.clone(), item.clone());
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

    /// Task handles for `gather` / `as_completed`, with `each` applied.
    fn cells_each(
        &mut self,
        items: &[Target],
        each: &Option<Each>,
    ) -> Result<Vec<Rc<TaskCell>>, Error> {
        if each.is_none() {
            return self.task_cells(items);
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
            out.push(self.spawn_with(c, args, None)?);
        }
        Ok(out)
    }

    fn start(&mut self, fut: LocalBoxFuture<'static, OpOut>, then: Then) {
        self.op = Some(Op { fut, then });
    }

    fn start_val(&mut self, fut: impl Future<Output = Outcome> + 'static, then: Then) {
        self.start(async move { OpOut::Val(fut.await) }.boxed_local(), then);
    }

    /// Executes one step.
    fn exec(&mut self, step: &Step) -> Result<(), Error> {
        let n = self.prog.steps.get() + 1;
        self.prog.steps.set(n);
        if n > self.prog.scenario.settings.limits.max_steps {
            engine::abort(LimitKind::Program);
            return Err(Error::raised(
                "LimitExceeded",
                "the scenario ran more steps than `max_steps`",
            ));
        }
        match &step.kind {
            StepKind::Print(t) => {
                let text = self.render(t)?;
                let lines = self.prog.lines.get() + 1;
                self.prog.lines.set(lines);
                if lines > self.prog.scenario.settings.max_output_lines {
                    engine::abort(LimitKind::Program);
                    return Err(Error::raised(
                        "LimitExceeded",
                        "the scenario printed more than `max_output_lines`",
                    ));
                }
                print(text);
            }
            StepKind::Sleep(e) => match self.duration(e)? {
                DurationValue::Exact(d) => self.start_val(
                    async move {
                        sleep(d).await;
                        Ok(Value::None)
                    },
                    Then::Discard,
                ),
                DurationValue::Secs(s) => self.start_val(
                    async move {
                        sleep_secs(s).await;
                        Ok(Value::None)
                    },
                    Then::Discard,
                ),
            },
            StepKind::Block(e) => block(self.duration(e)?.as_duration()),
            StepKind::Await { target, into } => match target {
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
                        self.start(fut, Then::TaskResult(cell, into.clone()));
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
            StepKind::Spawn { call, bind, name } => {
                let name = match name {
                    Some(t) => Some(self.render(t)?),
                    None => None,
                };
                let cell = self.spawn(call, name)?;
                self.assign(bind, Value::Task(cell));
            }
            StepKind::Cancel(e) => match self.eval(e)? {
                Value::Task(cell) => {
                    cell.task.cancel();
                }
                Value::Future(f) => {
                    f.cancel();
                }
                other => return Err(type_error(format!("cannot cancel {}", other.type_name()))),
            },
            StepKind::Gather {
                items,
                each,
                return_exceptions,
                into,
            } => {
                let cells = self.cells_each(items, each)?;
                let mut handles = Vec::new();
                for cell in &cells {
                    let h = cell.handle.borrow_mut().take();
                    match h {
                        Some(h) => handles.push(h),
                        None => {
                            // Already awaited: a task that hands back its result.
                            let r = cell.result.borrow().clone().unwrap_or(Ok(Value::None));
                            handles.push(Builder::new().spawn_fallible(async move { r }));
                        }
                    }
                }
                let re = *return_exceptions;
                self.start_val(
                    async move {
                        if re {
                            let rs = gather_tasks_return_exceptions(handles).await;
                            for (cell, r) in cells.iter().zip(&rs) {
                                *cell.result.borrow_mut() = Some(r.clone());
                            }
                            Ok(Value::List(Rc::new(
                                rs.into_iter()
                                    .map(|r| r.unwrap_or_else(Value::Error))
                                    .collect(),
                            )))
                        } else {
                            let vs = gather_tasks(handles).await?;
                            for (cell, v) in cells.iter().zip(&vs) {
                                *cell.result.borrow_mut() = Some(Ok(v.clone()));
                            }
                            Ok(Value::List(Rc::new(vs)))
                        }
                    },
                    Then::Assign(into.clone()),
                );
            }
            StepKind::WaitFor {
                target,
                timeout,
                into,
            } => {
                let d = self.duration(timeout)?.as_duration();
                let py = engine::with_core("wait_for", |c| c.cfg.python);
                match (py, target) {
                    (PythonVersion::Py312, Target::Call(c)) => {
                        // `async with timeout(d): return await coro` — inline.
                        let co = self.prog.scenario.coroutines[&c.name].clone();
                        let args = self.call_args(c)?;
                        self.push_block(
                            Rc::from(Vec::new()),
                            Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                        );
                        self.push_call(&co, args, Ret::Var(into.clone()))?;
                    }
                    (PythonVersion::Py312, Target::Value(_)) => {
                        let fut: LocalBoxFuture<'static, Outcome> = match self.awaitable(target)? {
                            Awaitable::Coro(vm) => vm.boxed_local(),
                            Awaitable::Task(cell, h) => {
                                async move { cell.settle(h.await) }.boxed_local()
                            }
                            Awaitable::Fut(f) => async move { f.await }.boxed_local(),
                        };
                        self.push_block(
                            Rc::from(Vec::new()),
                            Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                        );
                        self.start_val(fut, Then::Assign(into.clone()));
                    }
                    (PythonVersion::Py311, _) => {
                        let fut: LocalBoxFuture<'static, Outcome> = match self.awaitable(target)? {
                            Awaitable::Coro(vm) => {
                                async move { flatten(wait_for(vm, d).await) }.boxed_local()
                            }
                            Awaitable::Task(cell, h) => {
                                async move { cell.settle(wait_for_task(h, d).await) }.boxed_local()
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
            StepKind::Timeout { delay, body } => {
                let d = self.duration(delay)?.as_duration();
                self.push_block(
                    body.clone(),
                    Kind::Guard(Some(Guard::Timeout(TimeoutGuard::enter(d)))),
                );
            }
            StepKind::AsCompleted {
                items,
                each,
                bind,
                body,
                timeout,
            } => {
                let cells = self.cells_each(items, each)?;
                let t = match timeout {
                    Some(t) => Some(self.duration(t)?.as_duration()),
                    None => None,
                };
                let handles: Vec<_> = cells
                    .iter()
                    .map(|c| c.handle.borrow_mut().take())
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        Error::raised(
                            "RuntimeError",
                            "as_completed of a task that was already awaited",
                        )
                    })?;
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
            StepKind::TaskGroup { calls, each, into } => {
                let mut vms = Vec::new();
                for (c, args) in self.calls_each(calls, each)? {
                    let co = self.prog.scenario.coroutines[&c.name].clone();
                    vms.push(Vm::for_call(self.prog.clone(), &co, args));
                }
                self.start_val(
                    async move {
                        let handles = TaskGroup::run(|tg| {
                            let hs: Vec<_> = vms.into_iter().map(|vm| tg.spawn(vm)).collect();
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
            StepKind::Shield { target, into } => {
                let fut: LocalBoxFuture<'static, Outcome> = match self.awaitable(target)? {
                    Awaitable::Coro(vm) => async move { flatten(shield(vm).await) }.boxed_local(),
                    Awaitable::Task(cell, h) => {
                        async move { cell.settle(shield_task(h).await) }.boxed_local()
                    }
                    Awaitable::Fut(f) => {
                        async move { flatten(shield(f.into_future()).await) }.boxed_local()
                    }
                };
                self.start_val(fut, Then::Assign(into.clone()));
            }
            StepKind::Raise { kind, message } => {
                let msg = match message {
                    Some(t) => self.render(t)?,
                    None => String::new(),
                };
                return Err(exception(kind, msg));
            }
            StepKind::Try {
                body,
                handler,
                finally,
            } => self.push_block(
                body.clone(),
                Kind::Try {
                    handler: handler.clone(),
                    finally: finally.clone(),
                    phase: TryPhase::Body,
                    pending: None,
                },
            ),
            StepKind::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if self.eval(cond)?.truthy() {
                    then
                } else {
                    otherwise
                };
                if !branch.is_empty() {
                    self.push_block(branch.clone(), Kind::Block);
                }
            }
            StepKind::Return(e) => {
                let v = match e {
                    Some(e) => self.eval(e)?,
                    None => Value::None,
                };
                self.unwind(Completion::Return(v));
            }
            StepKind::Repeat { times, index, body } => {
                let n = match self.eval(times)? {
                    Value::Int(n) => n,
                    other => {
                        return Err(type_error(format!(
                            "`repeat` needs an int, got {}",
                            other.type_name()
                        )));
                    }
                };
                if n > 0 {
                    self.push_block(
                        body.clone(),
                        Kind::Repeat {
                            i: 0,
                            n,
                            index: index.clone(),
                        },
                    );
                    self.assign(index, Value::Int(0));
                }
            }
            StepKind::For { var, iter, body } => {
                let items = match self.eval(iter)? {
                    Value::List(l) => l,
                    Value::Str(s) => {
                        Rc::new(s.chars().map(|c| Value::str(&c.to_string())).collect())
                    }
                    other => {
                        return Err(type_error(format!(
                            "'{}' object is not iterable",
                            other.type_name()
                        )));
                    }
                };
                if !items.is_empty() {
                    let first = items[0].clone();
                    self.push_block(
                        body.clone(),
                        Kind::For {
                            items,
                            i: 0,
                            var: var.clone(),
                        },
                    );
                    self.assign(&Some(var.clone()), first);
                }
            }
            StepKind::AsyncFor {
                var,
                generator,
                body,
            } => {
                let co = self.prog.scenario.coroutines[&generator.name].clone();
                if !co.is_generator {
                    return Err(type_error(format!(
                        "'async for' requires an async generator; `{}` has no `yield`",
                        generator.name
                    )));
                }
                let args = self.call_args(generator)?;
                self.push_block(
                    Rc::from(Vec::new()),
                    Kind::GenFor {
                        var: var.clone(),
                        body: body.clone(),
                    },
                );
                let gen_for = self.frames.len() - 1;
                self.push_frame_call(
                    co.name.clone(),
                    co.params.clone(),
                    co.body.clone(),
                    args,
                    Ret::Gen,
                    Some(gen_for),
                )?;
            }
            StepKind::AsyncWith { ctx, bind, body } => {
                let cm = self.prog.scenario.contexts[&ctx.name].clone();
                let args = self.call_args(ctx)?;
                self.push_block(
                    Rc::from(Vec::new()),
                    Kind::With {
                        ctx: cm.clone(),
                        bind: bind.clone(),
                        body: body.clone(),
                        phase: WithPhase::Enter,
                        pending: None,
                        ctx_vars: None,
                    },
                );
                self.push_frame_call(
                    cm.name.clone(),
                    cm.params.clone(),
                    cm.enter.clone(),
                    args,
                    Ret::WithEnter,
                    None,
                )?;
            }
            StepKind::Yield(e) => {
                let v = self.eval(e)?;
                let scope = self.frames.last().expect("a frame").scope;
                let gen_for = match &self.frames[scope].kind {
                    Kind::Call {
                        gen_for: Some(g), ..
                    } => *g,
                    _ => {
                        return Err(Error::raised(
                            "RuntimeError",
                            "`yield` outside an `async_for`",
                        ));
                    }
                };
                let (var, body) = match &self.frames[gen_for].kind {
                    Kind::GenFor { var, body } => (var.clone(), body.clone()),
                    _ => unreachable!("gen_for points at a GenFor frame"),
                };
                let consumer = self.frames[gen_for].scope;
                self.frames.push(Frame {
                    steps: body,
                    pc: 0,
                    scope: consumer,
                    vars: None,
                    kind: Kind::GenBody { gen_for },
                });
                self.assign(&Some(var), v);
            }
            StepKind::Set { var, value } => {
                let v = self.eval(value)?;
                self.assign(&Some(var.clone()), v);
            }
            StepKind::NewFuture(var) => self.assign(
                &Some(var.clone()),
                Value::Future(SimFuture::with_label(var)),
            ),
            StepKind::CallLater {
                delay,
                future,
                value,
            } => {
                let f = self.future(future)?;
                let v = self.eval(value)?;
                let d = self.duration(delay)?.as_duration();
                call_later(d, move || {
                    let _ = f.set_result(v);
                });
            }
            StepKind::SetResult { future, value } => {
                let f = self.future(future)?;
                let v = self.eval(value)?;
                f.set_result(v)?;
            }
            StepKind::Lock { name, body } => {
                let lock = self.prog.lock(name);
                self.start(
                    async move { OpOut::Lock(lock.acquire().await) }.boxed_local(),
                    Then::PushLock(name.clone(), body.clone()),
                );
            }
            StepKind::Semaphore { name, body } => {
                let sem = self.prog.semaphore(name);
                self.start(
                    async move { OpOut::Permit(sem.acquire().await) }.boxed_local(),
                    Then::PushPermit(name.clone(), body.clone()),
                );
            }
            StepKind::Section { name, body } => {
                let g = section(name);
                self.push_block(body.clone(), Kind::Guard(Some(Guard::Section(g))));
            }
            StepKind::EventSet(n) => self.prog.event(n).set(),
            StepKind::EventClear(n) => self.prog.event(n).clear(),
            StepKind::EventWait(n) => {
                let ev = self.prog.event(n);
                self.start_val(
                    async move {
                        ev.wait().await;
                        Ok(Value::Bool(true))
                    },
                    Then::Discard,
                );
            }
            StepKind::Put {
                queue,
                value,
                nowait,
            } => {
                let q = self.prog.queue(queue);
                let v = self.eval(value)?;
                if *nowait {
                    q.put_nowait(v)
                        .map_err(|_| Error::raised("QueueFull", ""))?;
                } else {
                    self.start_val(
                        async move {
                            q.put(v).await;
                            Ok(Value::None)
                        },
                        Then::Discard,
                    );
                }
            }
            StepKind::Get {
                queue,
                into,
                nowait,
            } => {
                let q = self.prog.queue(queue);
                if *nowait {
                    let v = q
                        .get_nowait()
                        .map_err(|_| Error::raised("QueueEmpty", ""))?;
                    self.assign(into, v);
                } else {
                    self.start_val(async move { Ok(q.get().await) }, Then::Assign(into.clone()));
                }
            }
            StepKind::TaskDone(n) => self.prog.queue(n).task_done()?,
            StepKind::Join(n) => {
                let q = self.prog.queue(n);
                self.start_val(
                    async move {
                        q.join().await;
                        Ok(Value::None)
                    },
                    Then::Discard,
                );
            }
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

    /// An operation finished: deliver its result.
    fn complete(&mut self, then: Then, out: OpOut) {
        let r = match (then, out) {
            (Then::Assign(into), OpOut::Val(r)) => r.map(|v| self.assign(&into, v)),
            (Then::Discard, OpOut::Val(r)) => r.map(|_| ()),
            (Then::TaskResult(cell, into), OpOut::Val(r)) => {
                *cell.result.borrow_mut() = Some(r.clone());
                r.map(|v| self.assign(&into, v))
            }
            (Then::PushLock(name, body), OpOut::Lock(g)) => {
                let s = section(&name);
                self.push_block(body, Kind::Guard(Some(Guard::Lock(s, g))));
                Ok(())
            }
            (Then::PushPermit(name, body), OpOut::Permit(p)) => {
                let s = section(&name);
                self.push_block(body, Kind::Guard(Some(Guard::Permit(s, p))));
                Ok(())
            }
            (Then::AsCompletedNext, OpOut::Val(r)) => match r {
                Ok(v) => {
                    let top = self.frames.last_mut().expect("the as_completed frame");
                    top.pc = 0;
                    let Kind::AsCompleted { var, .. } = &top.kind else {
                        unreachable!("AsCompletedNext runs on its frame")
                    };
                    let var = var.clone();
                    self.assign(&Some(var), v);
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => unreachable!("operations produce what their continuation expects"),
        };
        if let Err(e) = r {
            self.unwind(Completion::Raise(e));
        }
    }

    /// The top frame ran out of steps.
    fn finish_frame(&mut self) {
        let top = self.frames.last_mut().expect("a frame");
        match &mut top.kind {
            Kind::Call { .. } => self.unwind(Completion::Return(Value::None)),
            Kind::Block | Kind::GenBody { .. } | Kind::GenFor { .. } => {
                self.frames.pop();
            }
            Kind::Repeat { i, n, index } => {
                *i += 1;
                if *i < *n {
                    let (i, index) = (*i, index.clone());
                    top.pc = 0;
                    self.assign(&index, Value::Int(i));
                } else {
                    self.frames.pop();
                }
            }
            Kind::For { items, i, var } => {
                *i += 1;
                if *i < items.len() {
                    let (v, var) = (items[*i].clone(), var.clone());
                    top.pc = 0;
                    self.assign(&Some(var), v);
                } else {
                    self.frames.pop();
                }
            }
            Kind::AsCompleted { it, .. } => {
                if it.borrow().as_ref().is_some_and(|i| i.remaining() > 0) {
                    let slot = it.clone();
                    self.start(
                        async move {
                            // Taken out for the await, put back after.
                            let Some(mut it) = slot.borrow_mut().take() else {
                                return OpOut::Val(Err(Error::raised(
                                    "RuntimeError",
                                    "as_completed iterator lost",
                                )));
                            };
                            let r = it.next().await;
                            *slot.borrow_mut() = Some(it);
                            OpOut::Val(r.unwrap_or(Ok(Ok(Value::None))).and_then(|v| v))
                        }
                        .boxed_local(),
                        Then::AsCompletedNext,
                    );
                } else {
                    self.frames.pop();
                }
            }
            Kind::Try {
                phase,
                finally,
                pending,
                ..
            } => {
                if *phase != TryPhase::Finally && !finally.is_empty() {
                    *phase = TryPhase::Finally;
                    *pending = None;
                    top.steps = finally.clone();
                    top.pc = 0;
                } else {
                    let pending = pending.take();
                    self.frames.pop();
                    if let Some(c) = pending {
                        self.unwind(c);
                    }
                }
            }
            Kind::Guard(g) => {
                let g = g.take();
                self.frames.pop();
                if let Some(Guard::Timeout(t)) = g
                    && let Some(c) = t.exit(None)
                {
                    self.unwind(c);
                }
            }
            Kind::With { phase, .. } => {
                if *phase == WithPhase::Body {
                    *phase = WithPhase::Exit;
                    self.push_exit();
                } else {
                    self.frames.pop();
                }
            }
        }
    }

    /// Pushes the `exit` call of the `async with` frame on top.
    fn push_exit(&mut self) {
        let top = self.frames.last_mut().expect("the with frame");
        let Kind::With { ctx, ctx_vars, .. } = &mut top.kind else {
            unreachable!("push_exit on a with frame")
        };
        let ctx = ctx.clone();
        let vars = ctx_vars.take().unwrap_or_default();
        let index = self.frames.len();
        self.calls += 1;
        self.frames.push(Frame {
            steps: ctx.exit.clone(),
            pc: 0,
            scope: index,
            vars: Some(vars),
            kind: Kind::Call {
                ret: Ret::WithExit,
                gen_for: None,
            },
        });
    }

    /// Propagates a `return` or an exception down the frames, running the
    /// handlers on the way; stops where execution resumes.
    fn unwind(&mut self, mut c: Completion) {
        loop {
            let Some(top) = self.frames.last_mut() else {
                self.result = Some(match c {
                    Completion::Return(v) => Ok(v),
                    Completion::Raise(e) => Err(e),
                });
                return;
            };
            match &mut top.kind {
                Kind::Call { ret, .. } => {
                    let ret = ret.clone();
                    let frame = self.frames.pop().expect("top");
                    self.calls -= 1;
                    match c {
                        Completion::Return(v) => {
                            self.deliver(ret, v, frame);
                            return;
                        }
                        Completion::Raise(e) => {
                            if let Ret::WithExit = ret {
                                // An exception in `exit` replaces the pending one.
                                self.frames.pop();
                            }
                            c = Completion::Raise(e);
                        }
                    }
                }
                Kind::GenBody { gen_for } => {
                    // Leaving an `async for` body abandons the generator.
                    let g = *gen_for;
                    while self.frames.len() > g {
                        if let Some(Frame {
                            kind: Kind::Call { .. },
                            ..
                        }) = self.frames.last()
                        {
                            self.calls -= 1;
                        }
                        self.frames.pop();
                    }
                }
                Kind::Try {
                    handler,
                    finally,
                    phase,
                    pending,
                } => {
                    if let (TryPhase::Body, Completion::Raise(e), Some(h)) =
                        (*phase, &c, handler.as_ref())
                        && catches(&h.kinds, e)
                    {
                        let (body, bind) = (h.body.clone(), h.bind.clone());
                        let err = e.clone();
                        *phase = TryPhase::Handler;
                        top.steps = body;
                        top.pc = 0;
                        self.assign(&bind, Value::Error(err));
                        return;
                    }
                    if *phase != TryPhase::Finally && !finally.is_empty() {
                        *phase = TryPhase::Finally;
                        *pending = Some(c);
                        top.steps = finally.clone();
                        top.pc = 0;
                        return;
                    }
                    self.frames.pop();
                }
                Kind::Guard(g) => {
                    let g = g.take();
                    self.frames.pop();
                    if let Some(Guard::Timeout(t)) = g {
                        match t.exit(Some(c)) {
                            Some(next) => c = next,
                            None => return,
                        }
                    }
                }
                Kind::With { phase, pending, .. } => {
                    if *phase == WithPhase::Body {
                        *phase = WithPhase::Exit;
                        *pending = Some(c);
                        self.push_exit();
                        return;
                    }
                    self.frames.pop();
                }
                Kind::Block
                | Kind::GenFor { .. }
                | Kind::Repeat { .. }
                | Kind::For { .. }
                | Kind::AsCompleted { .. } => {
                    self.frames.pop();
                }
            }
        }
    }

    /// A call returned `v`.
    fn deliver(&mut self, ret: Ret, v: Value, frame: Frame) {
        match ret {
            Ret::Var(into) => self.assign(&into, v),
            Ret::Main => {
                if self.frames.is_empty() {
                    self.result = Some(Ok(v));
                }
            }
            Ret::Gen => {
                // The generator finished: so does the `async for`.
                self.frames.pop();
            }
            Ret::WithEnter => {
                let top = self.frames.last_mut().expect("the with frame");
                let Kind::With {
                    bind,
                    body,
                    phase,
                    ctx_vars,
                    ..
                } = &mut top.kind
                else {
                    unreachable!("enter returns to its with frame")
                };
                *phase = WithPhase::Body;
                *ctx_vars = frame.vars;
                let bind = bind.clone();
                top.steps = body.clone();
                top.pc = 0;
                self.assign(&bind, v);
            }
            Ret::WithExit => {
                let top = self.frames.pop().expect("the with frame");
                if let Kind::With {
                    pending: Some(c), ..
                } = top.kind
                {
                    self.unwind(c);
                }
            }
        }
    }

    fn ensure_catcher(&mut self) {
        if self.catcher.is_none() {
            self.catcher = engine::with_core("scenario", |c| {
                let task = c.current?;
                c.catcher_enter().map(|k| (task, k))
            });
        }
    }

    fn release_catcher(&mut self) {
        if let Some((task, key)) = self.catcher.take() {
            engine::try_with_core(|c| c.catcher_exit(task, key));
        }
    }
}

/// `fetch('A', 3)`: a call as Python would write it.
fn call_label(name: &str, args: &[Value]) -> String {
    let args: Vec<String> = args.iter().map(Value::repr).collect();
    format!("{name}({})", args.join(", "))
}

/// A target for `wait_for` and `shield`.
enum Awaitable {
    Coro(Vm),
    Task(Rc<TaskCell>, crate::task::JoinHandle<Outcome>),
    Fut(SimFuture<Value>),
}

impl TaskCell {
    /// Records a task's result (reached through a combinator) and returns it.
    fn settle(&self, r: Result<Outcome, Error>) -> Outcome {
        let r = flatten(r);
        *self.result.borrow_mut() = Some(r.clone());
        r
    }
}

/// A duration as the program wrote it: exact, or float seconds (asyncio
/// arithmetic).
enum DurationValue {
    Exact(Duration),
    Secs(f64),
}

impl DurationValue {
    fn as_duration(&self) -> Duration {
        match self {
            DurationValue::Exact(d) => *d,
            DurationValue::Secs(s) => Duration::from_nanos(crate::time::secs_f64_to_nanos(*s)),
        }
    }
}

fn flatten(r: Result<Outcome, Error>) -> Outcome {
    r.and_then(|x| x)
}

impl Future for Vm {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.get_mut();
        loop {
            this.ensure_catcher();
            if let Some((_, key)) = this.catcher
                && engine::with_core("scenario", |c| c.catcher_is_target(key))
            {
                engine::with_core("scenario", |c| c.catcher_consume(key));
                this.catcher = None;
                this.op = None;
                this.unwind(Completion::Raise(Error::Cancelled));
                continue;
            }
            if let Some(op) = this.op.as_mut() {
                match op.fut.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(out) => {
                        let op = this.op.take().expect("polled above");
                        this.complete(op.then, out);
                        continue;
                    }
                }
            }
            if let Some(result) = this.result.take() {
                this.release_catcher();
                if matches!(result, Err(Error::Cancelled)) {
                    // Uncaught CancelledError: the task ends cancelled.
                    engine::with_core("scenario", |c| c.raise_cancelled());
                    return Poll::Pending;
                }
                return Poll::Ready(result);
            }
            let Some(top) = this.frames.last_mut() else {
                this.result = Some(Ok(Value::None));
                continue;
            };
            if top.pc < top.steps.len() {
                let steps = top.steps.clone();
                let step = &steps[top.pc];
                top.pc += 1;
                if let Err(e) = this.exec(step) {
                    if engine::with_core("scenario", |c| c.abort.is_some()) {
                        return Poll::Pending;
                    }
                    this.unwind(Completion::Raise(e));
                }
            } else {
                this.finish_frame();
            }
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // Release guards (locks, permits, sections) before the catcher.
        self.op = None;
        self.frames.clear();
        self.release_catcher();
    }
}

fn arith(a: Value, op: BinOp, b: Value) -> Result<Value, crate::error::Error> {
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

fn builtin(name: &str, args: Vec<Value>) -> Result<Value, Error> {
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
            let (a, b) = match args.as_slice() {
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
                name: task.name(),
                handle: RefCell::new(None),
                result: RefCell::new(None),
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
