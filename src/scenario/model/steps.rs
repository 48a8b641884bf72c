//! Steps: what a coroutine does, one verb each, in families.
//!
//! A [`StepKind`] names its family first (`StepKind::Tasks(TaskStep::Gather
//! { … })`): each family's verbs are read, run, printed and translated to
//! Python by one file per stage (`validate/steps/<family>.rs`,
//! `interp/exec/<family>.rs`, `print/<family>.rs`, `python/<family>.rs`),
//! and the verb table (`scenario/verbs.rs`) says which family each verb of
//! the file format belongs to.

use crate::scenario::expr::{Expr, Piece};
use crate::scenario::verbs::Family;
use std::rc::Rc;

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

/// Every kind of step, by family.
#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    /// Control flow: variables, branches, loops, exceptions, `return`, and the
    /// Python statements that drive a generator or a context manager.
    Control(ControlStep),
    /// Tasks: what a task does with the loop (sleeps, or holds it), and creating,
    /// awaiting, cancelling and combining tasks.
    Tasks(TaskStep),
    /// Synchronisation: the shared primitives (locks, semaphores, conditions,
    /// barriers, events, queues), named by the scenario's `[primitives]`.
    Sync(SyncStep),
    /// Futures and the loop's callbacks: `loop.create_future()`, `set_result`,
    /// `call_soon` and `call_later`.
    Futures(FutureStep),
    /// Output: what a run shows, printed lines and named sections (which
    /// concurrency claims count).
    Output(OutputStep),
    /// Simulated I/O: calls to the scenario's `[services]`, work in thread
    /// and process pools.
    Io(IoStep),
    /// The simulated network: servers, connections, lines sent and
    /// received, and faults.
    Net(NetStep),
}

/// The simulated network, in asyncio's streams vocabulary.
#[derive(Clone, Debug, PartialEq)]
pub enum NetStep {
    /// `await asyncio.start_server(handle, host, port)`: each connection
    /// runs `handle(conn)` in a task of its own.
    StartServer {
        /// The coroutine each connection runs (one parameter: the connection).
        handler: String,
        /// The listening host.
        host: String,
        /// The port.
        port: u16,
    },
    /// `conn = await asyncio.open_connection(host, port)` from host `from`.
    OpenConnection {
        /// The host connected to.
        host: String,
        /// Its port.
        port: u16,
        /// The connecting host.
        from: Expr,
        /// Where the connection goes.
        into: Option<String>,
    },
    /// `writer.write(value); await writer.drain()`.
    Send {
        /// The connection.
        conn: Expr,
        /// What is sent (its `str()`).
        value: Expr,
    },
    /// `line = await reader.readline()`: the line without its newline,
    /// `None` at the end of the stream.
    ReceiveLine {
        /// The connection.
        conn: Expr,
        /// Where the line goes.
        into: Option<String>,
    },
    /// `writer.close()`.
    Close(Expr),
    /// Cuts the hosts of `a` from those of `b` (resetting their
    /// connections, or holding their traffic with `hold`).
    Partition {
        /// One side.
        a: Vec<String>,
        /// The other side.
        b: Vec<String>,
        /// Hold the traffic until the heal instead of resetting.
        hold: bool,
    },
    /// Ends every partition.
    Heal,
    /// The host crashes (its connections reset, its servers closed).
    Crash(String),
    /// The host is up again.
    Restart(String),
}

impl NetStep {
    fn bodies(&self) -> Vec<&Rc<[Step]>> {
        Vec::new()
    }
}

/// Simulated I/O: calls to the scenario's `[services]`, work in thread and
/// process pools.
#[derive(Clone, Debug, PartialEq)]
pub enum IoStep {
    /// `await api.call()`: one request to a service; raises what the
    /// service answers with (`ServiceError`, `ServiceUnavailable`,
    /// `TooManyRequests`).
    Call {
        /// The service.
        service: String,
    },
    /// `await asyncio.to_thread(work, d)`: `d` of blocking I/O (or of CPU,
    /// `cpu`) on the loop's default thread pool.
    ToThread {
        /// How long the work takes.
        duration: Expr,
        /// CPU-bound work (needs the GIL) rather than blocking I/O.
        cpu: bool,
    },
    /// `await loop.run_in_executor(pool, work, d)` on one of the scenario's
    /// `[pools]`.
    RunInExecutor {
        /// The pool.
        pool: String,
        /// How long the work takes.
        duration: Expr,
        /// CPU-bound work rather than blocking I/O.
        cpu: bool,
    },
}

impl IoStep {
    fn bodies(&self) -> Vec<&Rc<[Step]>> {
        Vec::new()
    }
}

/// Control flow: variables, branches, loops, exceptions, `return`, and the
/// Python statements that drive a generator or a context manager.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlStep {
    /// `x = value`.
    Set {
        /// Variable.
        var: String,
        /// Value.
        value: Expr,
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
    /// `while cond: steps`.
    While {
        /// The condition, evaluated before each round.
        cond: Expr,
        /// The body.
        body: Rc<[Step]>,
    },
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
    /// `break`: leaves the innermost `repeat`, `for` or `while`.
    Break,
    /// `continue`: the innermost `repeat`, `for` or `while`'s next round.
    Continue,
    /// `try: … except …: … finally: …`.
    Try {
        /// The body.
        body: Rc<[Step]>,
        /// The `except` clause, if any.
        handler: Option<Handler>,
        /// The `finally` steps.
        finally: Rc<[Step]>,
    },
    /// `raise Kind(message)`.
    Raise {
        /// Exception class.
        kind: String,
        /// Message template.
        message: Option<Vec<Piece>>,
    },
    /// A bare `raise` in an `except` handler: re-raises what it handles.
    Reraise,
    /// `return value`.
    Return(Option<Expr>),
    /// `yield value` (in an async generator).
    Yield(Expr),
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
}

/// Tasks: what a task does with the loop (sleeps, or holds it), and creating,
/// awaiting, cancelling and combining tasks.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskStep {
    /// `await asyncio.sleep(d)`.
    Sleep(Expr),
    /// `time.sleep(d)` inside a coroutine: blocks the loop.
    Block(Expr),
    /// `fetch(x)` without `await`: the coroutine object is made and dropped,
    /// never run (`RuntimeWarning: coroutine 'fetch' was never awaited`).
    Unawaited(Call),
    /// `t = asyncio.create_task(call, name=…)`.
    Spawn {
        /// The coroutine.
        call: Call,
        /// Variable for the handle.
        bind: Option<String>,
        /// Task name template.
        name: Option<Vec<Piece>>,
    },
    /// `x = await target`: a coroutine call runs inline; a task or future is awaited.
    Await {
        /// What is awaited.
        target: Target,
        /// Where the result goes.
        into: Option<String>,
    },
    /// `t.cancel()`.
    Cancel(Expr),
    /// `t.cancel(msg)`.
    CancelWith {
        /// The task (or future).
        task: Expr,
        /// The message.
        message: Vec<Piece>,
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
}

/// Synchronisation: the shared primitives (locks, semaphores, conditions,
/// barriers, events, queues), named by the scenario's `[primitives]`.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncStep {
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

/// Futures and the loop's callbacks: `loop.create_future()`, `set_result`,
/// `call_soon` and `call_later`.
#[derive(Clone, Debug, PartialEq)]
pub enum FutureStep {
    /// `fut = loop.create_future()`.
    NewFuture(String),
    /// `fut.set_result(value)`.
    SetResult {
        /// The future variable.
        future: String,
        /// The value.
        value: Expr,
    },
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
}

/// Output: what a run shows, printed lines and named sections (which
/// concurrency claims count).
#[derive(Clone, Debug, PartialEq)]
pub enum OutputStep {
    /// `print(f"…")`.
    Print(Vec<Piece>),
    /// A named section, for concurrency claims.
    Section {
        /// Its name.
        name: String,
        /// The body.
        body: Rc<[Step]>,
    },
}

/// `ControlStep::Break.into()` is `StepKind::Control(ControlStep::Break)`.
macro_rules! into_step_kind {
    ($($step:ident => $family:ident),* $(,)?) => {
        $(impl From<$step> for StepKind {
            fn from(s: $step) -> StepKind {
                StepKind::$family(s)
            }
        })*
    };
}

into_step_kind! {
    ControlStep => Control,
    TaskStep => Tasks,
    SyncStep => Sync,
    FutureStep => Futures,
    OutputStep => Output,
    IoStep => Io,
    NetStep => Net,
}

impl StepKind {
    /// The family of this step.
    pub fn family(&self) -> Family {
        match self {
            StepKind::Control(_) => Family::Control,
            StepKind::Tasks(_) => Family::Tasks,
            StepKind::Sync(_) => Family::Sync,
            StepKind::Futures(_) => Family::Futures,
            StepKind::Output(_) => Family::Output,
            StepKind::Io(_) => Family::Io,
            StepKind::Net(_) => Family::Net,
        }
    }

    /// The step lists nested in this step (loop bodies, `try` parts, `if`
    /// branches, …), in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            StepKind::Control(s) => s.bodies(),
            StepKind::Tasks(s) => s.bodies(),
            StepKind::Sync(s) => s.bodies(),
            StepKind::Futures(s) => s.bodies(),
            StepKind::Output(s) => s.bodies(),
            StepKind::Io(s) => s.bodies(),
            StepKind::Net(s) => s.bodies(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            StepKind::Control(s) => s.bodies_mut(),
            StepKind::Tasks(s) => s.bodies_mut(),
            StepKind::Sync(s) => s.bodies_mut(),
            StepKind::Futures(s) => s.bodies_mut(),
            StepKind::Output(s) => s.bodies_mut(),
            StepKind::Io(_) | StepKind::Net(_) => Vec::new(),
        }
    }

    /// The coroutine calls this step runs as a coroutine or a task (not the
    /// generator of `async_for` nor the manager of `async_with`).
    pub fn coroutine_calls(&self) -> Vec<&Call> {
        match self {
            StepKind::Tasks(s) => s.coroutine_calls(),
            _ => Vec::new(),
        }
    }
}

impl ControlStep {
    /// The step lists nested in this step, in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            ControlStep::Repeat { body, .. }
            | ControlStep::While { body, .. }
            | ControlStep::For { body, .. }
            | ControlStep::AsyncFor { body, .. }
            | ControlStep::AsyncWith { body, .. } => vec![body],
            ControlStep::Try {
                body,
                handler,
                finally,
            } => {
                let mut v = vec![body];
                v.extend(handler.as_ref().map(|h| &h.body));
                v.push(finally);
                v
            }
            ControlStep::If {
                then, otherwise, ..
            } => vec![then, otherwise],
            _ => Vec::new(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            ControlStep::Repeat { body, .. }
            | ControlStep::While { body, .. }
            | ControlStep::For { body, .. }
            | ControlStep::AsyncFor { body, .. }
            | ControlStep::AsyncWith { body, .. } => vec![body],
            ControlStep::Try {
                body,
                handler,
                finally,
            } => {
                let mut v = vec![body];
                v.extend(handler.as_mut().map(|h| &mut h.body));
                v.push(finally);
                v
            }
            ControlStep::If {
                then, otherwise, ..
            } => vec![then, otherwise],
            _ => Vec::new(),
        }
    }
}

impl TaskStep {
    /// The step lists nested in this step, in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            TaskStep::Timeout { body, .. } | TaskStep::AsCompleted { body, .. } => vec![body],
            _ => Vec::new(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            TaskStep::Timeout { body, .. } | TaskStep::AsCompleted { body, .. } => vec![body],
            _ => Vec::new(),
        }
    }

    /// The coroutine calls this step runs as a coroutine or a task.
    pub fn coroutine_calls(&self) -> Vec<&Call> {
        fn call(t: &Target) -> Option<&Call> {
            match t {
                Target::Call(c) => Some(c),
                Target::Value(_) => None,
            }
        }
        match self {
            TaskStep::Await { target, .. }
            | TaskStep::WaitFor { target, .. }
            | TaskStep::Shield { target, .. } => call(target).into_iter().collect(),
            TaskStep::Spawn { call: c, .. } => vec![c],
            TaskStep::Gather { items, .. } | TaskStep::AsCompleted { items, .. } => {
                items.iter().filter_map(call).collect()
            }
            TaskStep::TaskGroup { calls, .. } => calls.iter().collect(),
            _ => Vec::new(),
        }
    }
}

impl SyncStep {
    /// The step lists nested in this step, in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            SyncStep::Lock { body, .. }
            | SyncStep::Semaphore { body, .. }
            | SyncStep::Condition { body, .. } => vec![body],
            _ => Vec::new(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            SyncStep::Lock { body, .. }
            | SyncStep::Semaphore { body, .. }
            | SyncStep::Condition { body, .. } => vec![body],
            _ => Vec::new(),
        }
    }
}

impl FutureStep {
    /// The step lists nested in this step, in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            FutureStep::Callback { body, .. } => vec![body],
            _ => Vec::new(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            FutureStep::Callback { body, .. } => vec![body],
            _ => Vec::new(),
        }
    }
}

impl OutputStep {
    /// The step lists nested in this step, in file order.
    pub fn bodies(&self) -> Vec<&Rc<[Step]>> {
        match self {
            OutputStep::Section { body, .. } => vec![body],
            OutputStep::Print(_) => Vec::new(),
        }
    }

    /// [`bodies`](Self::bodies), mutable.
    pub fn bodies_mut(&mut self) -> Vec<&mut Rc<[Step]>> {
        match self {
            OutputStep::Section { body, .. } => vec![body],
            OutputStep::Print(_) => Vec::new(),
        }
    }
}
