//! Steps: what a coroutine does, one verb each.

use crate::scenario::expr::{Expr, Piece};
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
