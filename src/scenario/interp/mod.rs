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
use super::value::{TaskCell, Value, VmResult};
use crate::combinators::TaskGroup;
use crate::engine;
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

mod exec;
mod ops;

use ops::{arith, builtin, method};

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
        .eager_tasks(v.eager_tasks.unwrap_or(s.settings.eager_tasks))
        .step_overhead(v.step_overhead.unwrap_or(s.settings.step_overhead))
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
    Condition(crate::sync::Condition),
    Barrier(crate::sync::Barrier),
    Semaphore(Semaphore),
    Bounded(BoundedSemaphore),
    Event(Event),
    Queue(Queue<Value>),
}

/// What every VM of a run shares.
struct Program {
    scenario: Scenario,
    prims: BTreeMap<String, Prim>,
    /// Sections of locks and semaphores held by `acquire` steps (left by
    /// `release`, oldest first).
    held: RefCell<BTreeMap<String, std::collections::VecDeque<crate::SectionGuard>>>,
    steps: Cell<u64>,
    lines: Cell<u64>,
    output_bytes: Cell<u64>,
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
                    Primitive::Condition => Prim::Condition(crate::sync::Condition::named(name)),
                    Primitive::Barrier(n) => Prim::Barrier(crate::sync::Barrier::named(name, *n)),
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
            held: RefCell::new(BTreeMap::new()),
            steps: Cell::new(0),
            lines: Cell::new(0),
            output_bytes: Cell::new(0),
        }
    }

    fn semaphore(&self, name: &str) -> Semaphore {
        match &self.prims[name] {
            Prim::Semaphore(s) => s.clone(),
            Prim::Bounded(b) => (**b).clone(),
            _ => unreachable!("validated as a semaphore"),
        }
    }

    fn barrier(&self, name: &str) -> crate::sync::Barrier {
        match &self.prims[name] {
            Prim::Barrier(b) => b.clone(),
            _ => unreachable!("validated as a barrier"),
        }
    }

    fn condition(&self, name: &str) -> crate::sync::Condition {
        match &self.prims[name] {
            Prim::Condition(c) => c.clone(),
            _ => unreachable!("validated as a condition"),
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
    /// `break` / `continue`: unwinds to the innermost loop frame (running
    /// `finally` steps and leaving guards on the way).
    Break,
    Continue,
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
    /// `async with cond:` — the guard is taken out while `wait` waits.
    Condition(String, Option<crate::sync::ConditionGuard>),
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
    While {
        cond: Expr,
    },
    AsCompleted {
        it: Rc<RefCell<Option<AsCompleted<VmResult>>>>,
        var: String,
    },
    Try {
        handler: Option<Handler>,
        finally: Rc<[Step]>,
        phase: TryPhase,
        pending: Option<Completion>,
        /// The exception the handler is handling (a bare `raise` raises it).
        caught: Option<Error>,
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
    Val(VmResult),
    Cond(crate::sync::ConditionGuard),
    Lock(LockGuard),
    Permit(SemaphorePermit),
}

enum Then {
    Assign(Option<String>),
    Discard,
    TaskResult(Option<String>),
    PushLock(String, Rc<[Step]>),
    PushCondition(String, Rc<[Step]>),
    /// A `wait` is over: the guard goes back to the frame at this index.
    PutCondition(usize),
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
    result: Option<VmResult>,
    calls: usize,
    /// The line of the step executing, for limit messages.
    line: usize,
}

fn type_error(msg: impl Into<String>) -> Error {
    Error::raised("TypeError", msg)
}

fn value_error(msg: impl Into<String>) -> Error {
    Error::raised("ValueError", msg)
}

/// The error a `raise Kind(msg)` step raises.
fn exception(kind: &str, message: String) -> Error {
    match crate::scenario::exceptions::canonical(kind) {
        "CancelledError" => Error::Cancelled,
        // A message is kept (`str(e)` shows it); a bare one is the
        // TimeoutError asyncio raises.
        "TimeoutError" if message.is_empty() => Error::Timeout,
        k => Error::raised(k, message),
    }
}

/// Whether an `except` clause with `kinds` catches `e`.
fn catches(kinds: &[String], e: &Error) -> bool {
    kinds
        .iter()
        .any(|k| k == "*" || crate::scenario::exceptions::is_subclass(e.kind(), k))
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
            line: 0,
        }
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
        if self.calls as u64 >= self.prog.scenario.settings.max_call_depth {
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

    /// True if a variable `name` is visible here.
    fn has_var(&self, name: &str) -> bool {
        let s = self.frames.last().map(|f| f.scope).unwrap_or(0);
        self.frames
            .get(s)
            .and_then(|f| f.vars.as_ref())
            .is_some_and(|m| m.contains_key(name))
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

    fn eval(&self, e: &Expr) -> Result<Value, Error> {
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
                other => {
                    return Err(type_error(format!(
                        "bad operand type for unary -: '{}'",
                        other.type_name()
                    )));
                }
            },
            Expr::Bin(a, op, b) => self.sized(arith(self.eval(a)?, *op, self.eval(b)?)?)?,
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
                if name == "range" {
                    // Checked before the list is built, not after.
                    let (a, b) = match args.as_slice() {
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
            self.check_len(out.len())?;
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
        if let Some(limit) = crate::limit_hit() {
            return Err(Error::raised(
                "LimitExceeded",
                format!("the run exceeded `{}`", limit.name()),
            ));
        }
        let task = h.task();
        Ok(Rc::new(TaskCell {
            task,
            name: task.name(),
            handle: Some(h),
        }))
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

    fn start_val(&mut self, fut: impl Future<Output = VmResult> + 'static, then: Then) {
        self.start(async move { OpOut::Val(fut.await) }.boxed_local(), then);
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
            (Then::TaskResult(into), OpOut::Val(r)) => r.map(|v| self.assign(&into, v)),
            (Then::PushCondition(name, body), OpOut::Cond(g)) => {
                self.push_block(body, Kind::Guard(Some(Guard::Condition(name, Some(g)))));
                Ok(())
            }
            (Then::PutCondition(i), OpOut::Cond(g)) => {
                if let Some(Frame {
                    kind: Kind::Guard(Some(Guard::Condition(_, slot))),
                    ..
                }) = self.frames.get_mut(i)
                {
                    *slot = Some(g);
                }
                Ok(())
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
            Kind::Repeat { i, n, .. } => {
                *i += 1;
                if *i < *n
                    && let Err(e) = self.count_step(None)
                {
                    return self.unwind(Completion::Raise(e));
                }
                let top = self.frames.last_mut().expect("a frame");
                let Kind::Repeat { i, n, index } = &mut top.kind else {
                    unreachable!("the loop's frame")
                };
                if *i < *n {
                    let (i, index) = (*i, index.clone());
                    top.pc = 0;
                    self.assign(&index, Value::Int(i));
                } else {
                    self.frames.pop();
                }
            }
            Kind::For { items, i, .. } => {
                *i += 1;
                if *i < items.len()
                    && let Err(e) = self.count_step(None)
                {
                    return self.unwind(Completion::Raise(e));
                }
                let top = self.frames.last_mut().expect("a frame");
                let Kind::For { items, i, var } = &mut top.kind else {
                    unreachable!("the loop's frame")
                };
                if *i < items.len() {
                    let (v, var) = (items[*i].clone(), var.clone());
                    top.pc = 0;
                    self.assign(&Some(var), v);
                } else {
                    self.frames.pop();
                }
            }
            Kind::While { cond } => {
                let cond = cond.clone();
                let more = self.count_step(None).and_then(|()| self.eval(&cond));
                match more {
                    Ok(v) if v.truthy() => {
                        self.frames.last_mut().expect("the loop").pc = 0;
                    }
                    Ok(_) => {
                        self.frames.pop();
                    }
                    Err(e) => {
                        self.frames.pop();
                        self.unwind(Completion::Raise(e));
                    }
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
                    Completion::Break | Completion::Continue => {
                        unreachable!("validation puts break/continue inside a loop")
                    }
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
                        Completion::Break | Completion::Continue => {
                            unreachable!("validation keeps break/continue inside their coroutine")
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
                    caught,
                } => {
                    if let (TryPhase::Body, Completion::Raise(e), Some(h)) =
                        (*phase, &c, handler.as_ref())
                        && catches(&h.kinds, e)
                    {
                        let (body, bind) = (h.body.clone(), h.bind.clone());
                        let err = e.clone();
                        *caught = Some(err.clone());
                        *phase = TryPhase::Handler;
                        top.steps = body;
                        top.pc = 0;
                        // `except CancelledError as e`: `str(e)` is the
                        // cancel message.
                        let shown = match &err {
                            Error::Cancelled if bind.is_some() => {
                                match crate::task::try_current_task()
                                    .and_then(|t| t.cancel_message())
                                {
                                    Some(m) => Error::raised("CancelledError", m),
                                    None => err,
                                }
                            }
                            _ => err,
                        };
                        self.assign(&bind, Value::Error(shown));
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
                Kind::Repeat { .. } | Kind::For { .. } | Kind::While { .. }
                    if matches!(c, Completion::Break | Completion::Continue) =>
                {
                    if matches!(c, Completion::Break) {
                        self.frames.pop();
                    } else {
                        let top = self.frames.last_mut().expect("the loop");
                        top.pc = top.steps.len();
                    }
                    return;
                }
                Kind::Block
                | Kind::GenFor { .. }
                | Kind::Repeat { .. }
                | Kind::For { .. }
                | Kind::While { .. }
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
    let args: Vec<String> = args.iter().map(|a| a.repr_short(40)).collect();
    format!("{name}({})", args.join(", "))
}

/// Awaiting the task `current_task()` named, from itself (the only task
/// that can name it so).
pub(super) fn no_handle() -> Error {
    Error::raised("RuntimeError", "Task cannot await on itself")
}

/// A target for `wait_for` and `shield`.
enum Awaitable {
    Coro(Vm),
    Task(crate::task::JoinHandle<VmResult>),
    Fut(SimFuture<Value>),
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

fn flatten(r: Result<VmResult, Error>) -> VmResult {
    r.and_then(|x| x)
}

impl Future for Vm {
    type Output = VmResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<VmResult> {
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

/// A primitive's queries: `ev.is_set()`, `lock.locked()`, `sem.locked()`,
/// `cond.locked()`, `q.qsize()`, `q.empty()`, `q.full()`.
fn prim_method(p: &Prim, m: &str) -> Result<Value, Error> {
    Ok(match (p, m) {
        (Prim::Event(e), "is_set") => Value::Bool(e.is_set()),
        (Prim::Lock(l), "locked") => Value::Bool(l.locked()),
        (Prim::Semaphore(s), "locked") => Value::Bool(s.locked()),
        (Prim::Bounded(s), "locked") => Value::Bool(s.locked()),
        (Prim::Condition(c), "locked") => Value::Bool(c.locked()),
        (Prim::Queue(q), "qsize") => Value::Int(q.qsize() as i64),
        (Prim::Queue(q), "empty") => Value::Bool(q.empty()),
        (Prim::Queue(q), "full") => Value::Bool(q.full()),
        _ => {
            return Err(Error::raised(
                "AttributeError",
                format!("this primitive has no method '{m}'"),
            ));
        }
    })
}
