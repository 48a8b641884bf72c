//! The scenario interpreter: each task runs one [`Vm`] future that executes
//! steps from an explicit stack of frames — no native recursion per call, so
//! deep (or runaway) call chains hit `max_call_depth` with a `RecursionError`
//! instead of overflowing the stack.
//!
//! The VM is a client of the public API: `sleep`, `spawn`, `gather_tasks`,
//! `wait_for`, `shield`, `as_completed`, `TaskGroup`, the `sync` primitives,
//! cancellation through a [`CancelScope`](crate::CancelScope), `asyncio.timeout` through a
//! [`TimeoutScope`](crate::TimeoutScope). An
//! inline `await coro()` pushes a frame (no yield to the loop, as in
//! asyncio); everything that makes a task in asyncio makes a task here.
//!
//! Cancellation: the VM registers as the innermost cancellation catcher of
//! its task, turns a delivered cancellation into a `CancelledError` raised at
//! the current step, unwinds frames (running `except`, `finally` and
//! `async with` exits), and, if nothing catches it, lets the task end
//! cancelled.
//!
//! The parts: `vm.rs` (the VM and its frames), `exec/` (one file per family
//! of steps), `eval.rs` (expressions), `unwind.rs` (leaving frames),
//! `limits.rs` (program limits) and `ops.rs` (arithmetic and builtins).

use super::model::{Primitive, Scenario};
use super::value::{Value, VmResult};
use crate::error::Error;
use crate::model::{LoopModel, PythonVersion};
use crate::sim::{Run, Sim};
use crate::sync::{BoundedSemaphore, Event, Lock, Queue, Semaphore};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use vm::{Frame, Kind, Ret, Vm};

mod eval;
mod exec;
mod limits;
mod ops;
mod unwind;
mod vm;

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
        .variant(variant)
        .unwrap_or_else(|| panic!("unknown variant `{variant}`"));
    let st = s.settings_of(v);
    let seed = seed.unwrap_or(st.seed);
    let model = model.unwrap_or(st.model);
    let python = st.python;
    let label = if s.variants.len() > 1 {
        format!("{}/{}", s.name, v.name)
    } else {
        s.name.clone()
    };
    let sim = Sim::builder()
        .seed(seed)
        .model(model)
        .python(python)
        .eager_tasks(st.eager_tasks)
        .step_overhead(st.step_overhead)
        .machine(st.machine)
        .slow_callback_duration(st.slow_callback_duration)
        .limits(st.limits)
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

/// A pool instance of one run.
#[derive(Clone)]
enum PoolInst {
    Threads(crate::io::ThreadPool),
    Processes(crate::io::ProcessPool),
}

/// What every VM of a run shares.
struct Program {
    scenario: Scenario,
    prims: BTreeMap<String, Prim>,
    services: BTreeMap<String, crate::io::Service>,
    /// The run's network.
    net: crate::net::Net,
    pools: BTreeMap<String, PoolInst>,
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
        let services = scenario
            .services
            .iter()
            .map(|(name, cfg)| (name.clone(), crate::io::Service::named(name, cfg.clone())))
            .collect();
        let machine = scenario.settings.machine;
        let pools = scenario
            .pools
            .iter()
            .map(|(name, p)| {
                let workers = p.workers(&machine);
                let inst = match *p {
                    crate::scenario::model::Pool::Threads { .. } => {
                        PoolInst::Threads(crate::io::ThreadPool::named(name, workers))
                    }
                    crate::scenario::model::Pool::Processes {
                        startup, transfer, ..
                    } => PoolInst::Processes(crate::io::ProcessPool::named(
                        name, workers, startup, transfer,
                    )),
                };
                (name.clone(), inst)
            })
            .collect();
        let net = crate::net::Net::new();
        net.default_link(scenario.network.default);
        for (a, b, cfg) in &scenario.network.links {
            net.link(a, b, *cfg);
        }
        Program {
            scenario,
            prims,
            net,
            services,
            pools,
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

fn type_error(msg: impl Into<String>) -> Error {
    Error::raised("TypeError", msg)
}

fn value_error(msg: impl Into<String>) -> Error {
    Error::raised("ValueError", msg)
}

/// The error a `raise Kind(msg)` step raises.
fn exception(kind: &str, message: String) -> Error {
    match crate::scenario::exceptions::canonical(kind) {
        "CancelledError" => cancelled_error((!message.is_empty()).then_some(&*message)),
        // A message is kept (`str(e)` shows it); a bare one is the
        // TimeoutError asyncio raises.
        "TimeoutError" if message.is_empty() => Error::Timeout,
        k => Error::raised(k, message),
    }
}

/// A `CancelledError` in the interpreter, carrying its message: the message
/// belongs to the error, not to the task it is raised in, so that a
/// `finally` or a handler that meets another one in between does not change
/// it. [`Error::Cancelled`] is `CancelledError()`, without one; one with a
/// message is an [`Error::Raised`] of kind `CancelledError`. Either ends the
/// task cancelled, with its message, when it leaves the coroutine.
fn cancelled_error(msg: Option<&str>) -> Error {
    match msg {
        None => Error::Cancelled,
        Some(m) => Error::raised("CancelledError", m),
    }
}

/// Whether `e` is a `CancelledError`, as the engine delivers it or as the
/// interpreter carries it ([`cancelled_error`]).
fn is_cancelled_error(e: &Error) -> bool {
    e.kind() == "CancelledError"
}

/// The message of a `CancelledError` the interpreter carries (`None` for
/// none), or `None` for any other error.
fn cancelled_message(e: &Error) -> Option<&str> {
    match e {
        Error::Raised { kind, message } if kind == "CancelledError" && !message.is_empty() => {
            Some(message)
        }
        _ => None,
    }
}

/// An error an await raised (the engine delivered it, or the awaited
/// operation returned it): a `CancelledError` ([`Error::Cancelled`]) takes
/// the message it was raised with, which the engine keeps on the task only
/// until the next one.
fn entering(e: Error) -> Error {
    match e {
        Error::Cancelled => cancelled_error(
            crate::task::try_current_task()
                .and_then(|t| t.cancel_message())
                .as_deref(),
        ),
        e => e,
    }
}

/// Whether an `except` clause with `kinds` catches `e`.
fn catches(kinds: &[String], e: &Error) -> bool {
    kinds
        .iter()
        .any(|k| k == "*" || crate::scenario::exceptions::is_subclass(e.kind(), k))
}

fn flatten(r: Result<VmResult, Error>) -> VmResult {
    r.and_then(|x| x)
}
