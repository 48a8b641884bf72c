//! The validated scenario: what a file means once every name is resolved
//! and every value checked. It can also be built from code (the property
//! tests generate it) and is what the interpreter runs.

use super::expr::{Expr, Piece};
use crate::model::{Limits, LoopModel, PythonVersion};
use crate::sync::QueueKind;
use crate::time::Duration;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A scenario: programs in asyncio's vocabulary plus the claims they make.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it came from (for messages and replay commands).
    pub file: String,
    /// Short identifier (defaults to the file stem).
    pub name: String,
    /// One-line title.
    pub title: String,
    /// Where the example comes from (tutorial file and section).
    pub source: Option<String>,
    /// Longer description.
    pub description: Option<String>,
    /// Run settings.
    pub settings: Settings,
    /// Coroutine functions by name.
    pub coroutines: BTreeMap<String, Rc<Coroutine>>,
    /// Async context managers by name.
    pub contexts: BTreeMap<String, Rc<ContextManager>>,
    /// Shared primitives (locks, semaphores, events, queues) by name.
    pub primitives: BTreeMap<String, Primitive>,
    /// The variants (at least one).
    pub variants: Vec<Variant>,
    /// The claims.
    pub claims: Vec<Claim>,
}

/// Settings of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Seed (default 0).
    pub seed: u64,
    /// Loop model (default `asyncio`).
    pub model: LoopModel,
    /// Python version for the `asyncio` model (default 3.12).
    pub python: PythonVersion,
    /// 3.12 eager tasks (default off).
    pub eager_tasks: bool,
    /// Virtual time each task step takes (default 0).
    pub step_overhead: Duration,
    /// Engine limits.
    pub limits: Limits,
    /// Inline call depth (Python's recursion limit; default 1000).
    pub max_call_depth: u64,
    /// Lines a run may print (default 100 000).
    pub max_output_lines: u64,
    /// Bytes a run may print (default 16 MiB).
    pub max_output_bytes: u64,
    /// Length of a string (bytes) or list (items) a program may build
    /// (default 1 000 000).
    pub max_value_len: u64,
}

/// The highest value each counting limit may be raised to: beyond these a
/// run could exhaust memory (a value of 10^12 items) before any limit
/// stops it. CPU time alone is bounded by `max_steps`.
pub const LIMIT_CEILINGS: &[(&str, u64)] = &[
    ("max_steps", 10_000_000_000),
    ("max_tasks", 2_000_000),
    ("max_trace_events", 20_000_000),
    ("max_call_depth", 100_000),
    ("max_output_lines", 10_000_000),
    ("max_output_bytes", 256 << 20),
    ("max_value_len", 20_000_000),
];

/// The ceiling of the counting limit `key` (see [`LIMIT_CEILINGS`]).
pub fn limit_ceiling(key: &str) -> u64 {
    LIMIT_CEILINGS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(u64::MAX, |(_, c)| *c)
}

/// The counting limits of `[limits]` (and of the CLI's `--limit KEY=N`),
/// with what each counts; `max_time`, a duration, is the other key.
pub const COUNT_LIMITS: &[(&str, &str)] = &[
    ("max_steps", "loop steps and interpreted steps"),
    ("max_tasks", "tasks created"),
    ("max_trace_events", "trace events recorded"),
    (
        "max_call_depth",
        "inline `await` depth (Python's recursion limit)",
    ),
    ("max_output_lines", "printed lines"),
    ("max_output_bytes", "printed bytes"),
    (
        "max_value_len",
        "characters of a string or items of a list a program builds",
    ),
];

impl Settings {
    /// The counting limit named `key` (one of [`COUNT_LIMITS`]).
    pub fn count_limit_mut(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "max_steps" => &mut self.limits.max_steps,
            "max_tasks" => &mut self.limits.max_tasks,
            "max_trace_events" => &mut self.limits.max_trace_events,
            "max_call_depth" => &mut self.max_call_depth,
            "max_output_lines" => &mut self.max_output_lines,
            "max_output_bytes" => &mut self.max_output_bytes,
            "max_value_len" => &mut self.max_value_len,
            _ => return None,
        })
    }

    /// The counting limit named `key`.
    pub fn count_limit(&self, key: &str) -> Option<u64> {
        self.clone().count_limit_mut(key).map(|v| *v)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 0,
            model: LoopModel::Asyncio,
            python: PythonVersion::Py312,
            eager_tasks: false,
            step_overhead: Duration::ZERO,
            limits: Limits {
                max_time: Duration::from_secs(30 * 24 * 3600),
                max_steps: 4_000_000,
                max_tasks: 200_000,
                max_trace_events: 8_000_000,
            },
            max_call_depth: 1000,
            max_output_lines: 100_000,
            max_output_bytes: 16 << 20,
            max_value_len: 1_000_000,
        }
    }
}

/// One version of the program (sync vs async, with or without a limit).
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its name (`main` when the file declares none).
    pub name: String,
    /// What it shows.
    pub description: Option<String>,
    /// The coroutine run as the main task.
    pub main: String,
    /// Arguments passed to it.
    pub args: Vec<Expr>,
    /// Settings that differ from the scenario's.
    pub seed: Option<u64>,
    /// Model override.
    pub model: Option<LoopModel>,
    /// Python version override.
    pub python: Option<PythonVersion>,
    /// Eager-tasks override.
    pub eager_tasks: Option<bool>,
    /// Step-overhead override.
    pub step_overhead: Option<Duration>,
}

/// `async def name(params): steps`. A coroutine containing `yield` is an
/// async generator (iterate it with `async_for`).
#[derive(Clone, Debug, PartialEq)]
pub struct Coroutine {
    /// Name.
    pub name: String,
    /// Parameter names.
    pub params: Vec<String>,
    /// Body.
    pub body: Rc<[Step]>,
    /// Contains `yield`.
    pub is_generator: bool,
    /// Line of its table in the file.
    pub line: usize,
}

/// An async context manager: `enter` steps (their return value is bound by
/// `as`), then the body, then `exit` steps (always, even on errors).
#[derive(Clone, Debug, PartialEq)]
pub struct ContextManager {
    /// Name.
    pub name: String,
    /// Parameter names.
    pub params: Vec<String>,
    /// `__aenter__`.
    pub enter: Rc<[Step]>,
    /// `__aexit__`.
    pub exit: Rc<[Step]>,
}

/// A shared primitive.
#[derive(Clone, Debug, PartialEq)]
pub enum Primitive {
    /// `asyncio.Lock()`.
    Lock,
    /// `asyncio.Semaphore(n)`.
    Semaphore(usize),
    /// `asyncio.BoundedSemaphore(n)`.
    BoundedSemaphore(usize),
    /// `asyncio.Event()`.
    Event,
    /// `asyncio.Condition()` (with a lock of its own).
    Condition,
    /// `asyncio.Barrier(parties)`.
    Barrier(usize),
    /// `asyncio.Queue(maxsize)` and variants.
    Queue {
        /// FIFO, LIFO or priority.
        kind: QueueKind,
        /// 0 for unbounded.
        maxsize: usize,
    },
}

impl StepKind {
    /// The step lists nested in this step (loop bodies, `try` parts, `if`
    /// branches, …), in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            StepKind::Timeout { body, .. }
            | StepKind::AsCompleted { body, .. }
            | StepKind::Repeat { body, .. }
            | StepKind::While { body, .. }
            | StepKind::For { body, .. }
            | StepKind::AsyncFor { body, .. }
            | StepKind::AsyncWith { body, .. }
            | StepKind::Lock { body, .. }
            | StepKind::Callback { body, .. }
            | StepKind::Condition { body, .. }
            | StepKind::Semaphore { body, .. }
            | StepKind::Section { body, .. } => vec![body],
            StepKind::Try {
                body,
                handler,
                finally,
            } => {
                let mut v = vec![body];
                v.extend(handler.as_ref().map(|h| &h.body));
                v.push(finally);
                v
            }
            StepKind::If {
                then, otherwise, ..
            } => vec![then, otherwise],
            _ => Vec::new(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            StepKind::Timeout { body, .. }
            | StepKind::AsCompleted { body, .. }
            | StepKind::Repeat { body, .. }
            | StepKind::While { body, .. }
            | StepKind::For { body, .. }
            | StepKind::AsyncFor { body, .. }
            | StepKind::AsyncWith { body, .. }
            | StepKind::Lock { body, .. }
            | StepKind::Callback { body, .. }
            | StepKind::Condition { body, .. }
            | StepKind::Semaphore { body, .. }
            | StepKind::Section { body, .. } => vec![body],
            StepKind::Try {
                body,
                handler,
                finally,
            } => {
                let mut v = vec![body];
                v.extend(handler.as_mut().map(|h| &mut h.body));
                v.push(finally);
                v
            }
            StepKind::If {
                then, otherwise, ..
            } => vec![then, otherwise],
            _ => Vec::new(),
        }
    }

    /// The coroutine calls this step runs as a coroutine or a task (not the
    /// generator of `async_for` nor the manager of `async_with`).
    pub fn coroutine_calls(&self) -> Vec<&Call> {
        fn call(t: &Target) -> Option<&Call> {
            match t {
                Target::Call(c) => Some(c),
                Target::Value(_) => None,
            }
        }
        match self {
            StepKind::Await { target, .. }
            | StepKind::WaitFor { target, .. }
            | StepKind::Shield { target, .. } => call(target).into_iter().collect(),
            StepKind::Spawn { call: c, .. } => vec![c],
            StepKind::Gather { items, .. } | StepKind::AsCompleted { items, .. } => {
                items.iter().filter_map(call).collect()
            }
            StepKind::TaskGroup { calls, .. } => calls.iter().collect(),
            _ => Vec::new(),
        }
    }
}

impl Primitive {
    /// The `kind` written in files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Primitive::Lock => "lock",
            Primitive::Semaphore(_) => "semaphore",
            Primitive::BoundedSemaphore(_) => "bounded_semaphore",
            Primitive::Event => "event",
            Primitive::Condition => "condition",
            Primitive::Barrier(_) => "barrier",
            Primitive::Queue {
                kind: QueueKind::Fifo,
                ..
            } => "queue",
            Primitive::Queue {
                kind: QueueKind::Lifo,
                ..
            } => "lifo_queue",
            Primitive::Queue {
                kind: QueueKind::Priority,
                ..
            } => "priority_queue",
        }
    }
}

/// A call of a coroutine or context manager: `fetch('A', 3s)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The coroutine's name.
    pub name: String,
    /// Argument expressions.
    pub args: Vec<Expr>,
}

/// What `gather` / `await` / `cancel` operate on.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A coroutine call (a new task where asyncio would make one).
    Call(Call),
    /// A value: a task handle, a future, or a list of them.
    Value(Expr),
}

/// `for var in iter`: repeats a call for each item (`gather(*(f(x) for x in xs))`).
#[derive(Clone, Debug, PartialEq)]
pub struct Each {
    /// The loop variable, visible in the call's arguments.
    pub var: String,
    /// The list.
    pub iter: Expr,
}

/// A step with its line in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Line in the file (1-based).
    pub line: usize,
    /// What it does.
    pub kind: StepKind,
}

/// Which exceptions an `except` clause catches.
#[derive(Clone, Debug, PartialEq)]
pub struct Handler {
    /// Exception class names; `Exception` catches everything but
    /// `CancelledError`, `BaseException` catches everything.
    pub kinds: Vec<String>,
    /// `as e`.
    pub bind: Option<String>,
    /// The handler's steps.
    pub body: Rc<[Step]>,
}

/// Every kind of step.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// `print(f"…")`.
    Print(Vec<Piece>),
    /// `await asyncio.sleep(d)`.
    Sleep(Expr),
    /// `time.sleep(d)` inside a coroutine: blocks the loop.
    Block(Expr),
    /// `x = await target`: a coroutine call runs inline; a task or future is awaited.
    Await {
        /// What is awaited.
        target: Target,
        /// Where the result goes.
        into: Option<String>,
    },
    /// `t = asyncio.create_task(call, name=…)`.
    Spawn {
        /// The coroutine.
        call: Call,
        /// Variable for the handle.
        bind: Option<String>,
        /// Task name template.
        name: Option<Vec<Piece>>,
    },
    /// `t.cancel()`.
    Cancel(Expr),
    /// `t.cancel(msg)`.
    CancelWith {
        /// The task (or future).
        task: Expr,
        /// The message.
        message: Vec<crate::scenario::expr::Piece>,
    },
    /// `x = await asyncio.gather(…)`.
    Gather {
        /// Children.
        items: Vec<Target>,
        /// Repeat the (single) call for each item of a list.
        each: Option<Each>,
        /// `return_exceptions=True`.
        return_exceptions: bool,
        /// Where the list goes.
        into: Option<String>,
    },
    /// `x = await asyncio.wait_for(target, timeout)`.
    WaitFor {
        /// What is awaited.
        target: Target,
        /// The timeout.
        timeout: Expr,
        /// Where the result goes.
        into: Option<String>,
    },
    /// `async with asyncio.timeout(d): steps`.
    Timeout {
        /// The delay.
        delay: Expr,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `for f in asyncio.as_completed(calls, timeout=…): x = await f; steps`.
    AsCompleted {
        /// The children.
        items: Vec<Target>,
        /// Repeat the (single) call for each item of a list.
        each: Option<Each>,
        /// Variable for each result.
        bind: String,
        /// Loop body.
        body: Rc<[Step]>,
        /// Optional timeout.
        timeout: Option<Expr>,
    },
    /// `async with asyncio.TaskGroup() as tg: tg.create_task(…) …`.
    TaskGroup {
        /// The tasks.
        calls: Vec<Call>,
        /// Repeat the (single) call for each item of a list.
        each: Option<Each>,
        /// Where the list of results goes.
        into: Option<String>,
    },
    /// `x = await asyncio.shield(target)`.
    Shield {
        /// What is shielded.
        target: Target,
        /// Where the result goes.
        into: Option<String>,
    },
    /// `raise Kind(message)`.
    Raise {
        /// Exception class.
        kind: String,
        /// Message template.
        message: Option<Vec<Piece>>,
    },
    /// `try: … except …: … finally: …`.
    Try {
        /// The body.
        body: Rc<[Step]>,
        /// The `except` clause, if any.
        handler: Option<Handler>,
        /// The `finally` steps.
        finally: Rc<[Step]>,
    },
    /// `if cond: then else: otherwise`.
    If {
        /// The condition (Python truthiness).
        cond: Expr,
        /// Steps when true.
        then: Rc<[Step]>,
        /// Steps when false.
        otherwise: Rc<[Step]>,
    },
    /// `return value`.
    Return(Option<Expr>),
    /// A bare `raise` in an `except` handler: re-raises what it handles.
    Reraise,
    /// `while cond: steps`.
    While {
        /// The condition, evaluated before each round.
        cond: Expr,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `break`: leaves the innermost `repeat`, `for` or `while`.
    Break,
    /// `continue`: the innermost `repeat`, `for` or `while`'s next round.
    Continue,
    /// `for i in range(n): steps`.
    Repeat {
        /// How many times.
        times: Expr,
        /// Variable for the index.
        index: Option<String>,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `for x in list: steps`.
    For {
        /// Loop variable.
        var: String,
        /// The list.
        iter: Expr,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `async for x in generator(args): steps`.
    AsyncFor {
        /// Loop variable.
        var: String,
        /// The generator call.
        generator: Call,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `async with manager(args) as x: steps`.
    AsyncWith {
        /// The context manager call.
        ctx: Call,
        /// `as x`.
        bind: Option<String>,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `yield value` (in an async generator).
    Yield(Expr),
    /// `x = value`.
    Set {
        /// Variable.
        var: String,
        /// Value.
        value: Expr,
    },
    /// `fut = loop.create_future()`.
    NewFuture(String),
    /// `loop.call_later(d, fut.set_result, value)`.
    CallLater {
        /// The delay.
        delay: Expr,
        /// The future variable.
        future: String,
        /// The value.
        value: Expr,
    },
    /// `loop.call_soon(cb)` / `loop.call_later(delay, cb)` of a callback
    /// whose body is `body`: plain steps (no awaits) that run in the loop,
    /// outside any task, on a copy of the variables at the scheduling step.
    Callback {
        /// `None` for `call_soon`.
        delay: Option<Expr>,
        /// The callback's steps.
        body: Rc<[Step]>,
    },
    /// `fut.set_result(value)`.
    SetResult {
        /// The future variable.
        future: String,
        /// The value.
        value: Expr,
    },
    /// `await lock.acquire()` (or a semaphore's), held until a `release`
    /// step — by this task or another.
    Acquire(String),
    /// `lock.release()` / `sem.release()`.
    Release(String),
    /// `async with cond: steps`.
    Condition {
        /// The primitive.
        name: String,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `x = await barrier.wait()`.
    BarrierWait {
        /// The primitive.
        name: String,
        /// Where the arrival index goes.
        into: Option<String>,
    },
    /// `await barrier.abort()`.
    BarrierAbort(String),
    /// `await barrier.reset()`.
    BarrierReset(String),
    /// `await cond.wait()` (inside the condition's block).
    CondWait(String),
    /// `cond.notify(n)` (inside the condition's block).
    Notify {
        /// The primitive.
        name: String,
        /// How many waiters.
        n: Expr,
    },
    /// `cond.notify_all()` (inside the condition's block).
    NotifyAll(String),
    /// `async with lock: steps`.
    Lock {
        /// The primitive.
        name: String,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `async with sem: steps`.
    Semaphore {
        /// The primitive.
        name: String,
        /// The body.
        body: Rc<[Step]>,
    },
    /// A named section, for concurrency claims.
    Section {
        /// Its name.
        name: String,
        /// The body.
        body: Rc<[Step]>,
    },
    /// `event.set()`.
    EventSet(String),
    /// `await event.wait()`.
    EventWait(String),
    /// `event.clear()`.
    EventClear(String),
    /// `await q.put(v)` / `q.put_nowait(v)`.
    Put {
        /// The queue.
        queue: String,
        /// The value.
        value: Expr,
        /// `put_nowait` (raises `QueueFull`).
        nowait: bool,
    },
    /// `x = await q.get()` / `q.get_nowait()`.
    Get {
        /// The queue.
        queue: String,
        /// Where the item goes.
        into: Option<String>,
        /// `get_nowait` (raises `QueueEmpty`).
        nowait: bool,
    },
    /// `q.task_done()`.
    TaskDone(String),
    /// `await q.join()`.
    Join(String),
}

/// How a run ends, in a claim.
pub use crate::checks::Ending as RunOutcome;
pub use crate::checks::{Bound, Count, TaskEnd};

/// What a claim asserts.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimKind {
    /// The main task's elapsed virtual time.
    Elapsed(Bound),
    /// The exact printed lines, in order.
    Output(Vec<String>),
    /// These lines are printed in this relative order.
    Order(Vec<String>),
    /// When a line is printed.
    PrintedAt {
        /// The line.
        line: String,
        /// When.
        at: Bound,
    },
    /// When / how a task ends.
    TaskEnds {
        /// Task name.
        task: String,
        /// When.
        at: Option<Bound>,
        /// How.
        how: Option<TaskEnd>,
    },
    /// Tasks concurrently inside a section (or holding a Lock/Semaphore).
    MaxConcurrent {
        /// The section or primitive name.
        section: String,
        /// The bound.
        count: Count,
    },
    /// How the run ends.
    Outcome(RunOutcome),
    /// One variant is faster than another.
    Faster {
        /// The faster variant.
        faster: String,
        /// The slower variant.
        slower: String,
        /// `slower / faster >= ratio`.
        ratio_at_least: Option<f64>,
    },
}

/// A claim with where it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// Line in the file.
    pub line: usize,
    /// What it asserts.
    pub kind: ClaimKind,
    /// The variant it is about (`None`: every variant).
    pub variant: Option<String>,
    /// Seeds to check it on (`None`: the scenario's seed).
    pub seeds: Option<(u64, u64)>,
    /// How the tutorial put it, when the claim states the exact figure.
    pub note: Option<String>,
}
