//! The machinery: the loop's state, the ready queue, timers, task slots, and
//! the thread-local context through which the user-facing API reaches them.
//!
//! Nothing here is public. The face (`sleep`, `spawn`, `gather`, …) lives in
//! the crate's other modules and calls in through [`with_core`] and the
//! helpers below. The core is borrowed only for short, non-reentrant
//! operations: user code (task polls, callbacks, destructors) always runs with
//! the core released.
//!
//! The loop's phases (`run_once`) follow CPython's `BaseEventLoop._run_once`
//! (`Lib/asyncio/base_events.py`): purge cancelled timers, advance the clock
//! to the earliest timer when nothing is ready, move due timers to the *end*
//! of the ready queue, then run exactly the handles that were ready at the
//! snapshot.

pub(crate) mod heapq;
mod step;
pub(crate) mod timers;

pub(crate) use step::{LoopEnd, cancel_task, cancel_task_with, run_loop};

use crate::error::Error;
use crate::model::{Limits, LoopModel, PythonVersion};
use crate::rng::Streams;
use crate::time::{Duration, Instant, duration_to_secs_f64, nanos_to_secs_f64, secs_f64_to_nanos};
use crate::trace::{Actor, Event, EventKind, Recorder, Sym, TaskId, WaitOn};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Wake, Waker};
use timers::{HeapKind, TimerAction, TimerKey, Timers};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`: the loop never sleeps longer than a day
/// at once.
const MAXIMUM_SELECT_TIMEOUT: f64 = 24.0 * 3600.0;
/// `time.get_clock_info('monotonic').resolution` on Linux.
const CLOCK_RESOLUTION: f64 = 1e-9;

/// The settings a run was built with.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub model: LoopModel,
    pub python: PythonVersion,
    pub seed: u64,
    pub limits: Limits,
    pub trace: bool,
    pub step_overhead: Duration,
    /// 3.12's `eager_task_factory`: a new task's first step runs at once,
    /// inside `create_task`.
    pub eager_tasks: bool,
}

/// One entry of the ready queue (an asyncio `Handle`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Handle {
    /// A task's `__step` / `__wakeup`.
    Step(TaskId),
    /// A timer popped from the heap.
    Timer(TimerKey),
    /// A `call_soon` callback.
    Callback { index: u32, generation: u32 },
}

struct CallbackSlot {
    f: Option<Box<dyn FnOnce()>>,
    label: Sym,
    generation: u32,
}

/// Which limit a run exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// The virtual clock would pass `Limits::max_time`, or cannot advance.
    Time,
    /// More than `Limits::max_steps` handles ran.
    Steps,
    /// More than `Limits::max_tasks` tasks were created.
    Tasks,
    /// The trace grew past `Limits::max_trace_events`.
    TraceEvents,
    /// A program exceeded a limit of its own, named by its key
    /// (`max_output_lines`, …): see [`stop_at_limit`](crate::stop_at_limit).
    Program(&'static str),
}

impl LimitKind {
    /// The limit's key, as in a scenario's `[limits]` and the CLI's
    /// `--limit KEY=VALUE`: `max_time`, `max_steps`, `max_tasks`,
    /// `max_trace_events`, or a program's own key.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Time => "max_time",
            LimitKind::Steps => "max_steps",
            LimitKind::Tasks => "max_tasks",
            LimitKind::TraceEvents => "max_trace_events",
            LimitKind::Program(key) => key,
        }
    }
}

/// Why and where a run stopped at a limit.
#[derive(Clone, Debug)]
pub(crate) struct Stop {
    pub limit: LimitKind,
    /// The task running when it was hit.
    pub task: Option<TaskId>,
    /// What exceeded it, in the program's words.
    pub detail: Option<String>,
}

/// How a task ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum End {
    Returned,
    Raised(String),
    Cancelled,
}

/// Where a cancellation request goes when the task is suspended
/// (asyncio's `Task._fut_waiter`).
#[derive(Clone)]
pub(crate) enum CancelTarget {
    /// A sleep's timer: cancelling it wakes the task, which raises at the await.
    Timer,
    /// Another task the suspended task awaits: the request is forwarded.
    Task(TaskId),
    /// A low-level future: it is cancelled (and so are all its awaiters).
    Future(Rc<dyn CancelFuture>),
    /// Nothing to cancel: the task is woken and raises at its await.
    Wake,
}

/// A future that a task can be suspended on and that `Task.cancel()` cancels.
pub(crate) trait CancelFuture {
    /// `Future.cancel()`: true if the future was pending and is now cancelled.
    fn cancel_future(&self) -> bool;
    /// After a refused [`cancel_future`](Self::cancel_future): whether the
    /// future's result, once it resolves, is a `CancelledError` (which is then
    /// what the awaiting task raises, with that error's message).
    fn ends_cancelled(&self) -> bool {
        false
    }
}

/// What a suspended task waits on.
#[derive(Clone)]
pub(crate) struct Wait {
    pub on: WaitOn,
    pub target: CancelTarget,
    /// The primitive's state, read if the run deadlocks.
    pub probe: Option<crate::deadlock::Probe>,
}

/// A done-callback of a task.
pub(crate) enum DoneCallback {
    /// Wake a task (an awaiter's `__wakeup`).
    Wake(Waker),
    /// Run a callback via `call_soon`, with a label for the trace.
    Call(Box<dyn FnOnce()>, Sym),
}

/// Receives the error of a task that raised or was cancelled.
pub(crate) trait FailSlot {
    fn fail(&self, error: Error);
}

pub(crate) struct TaskSlot {
    /// The name given to `spawn`, if any (`Task-N` otherwise, made only
    /// when needed).
    pub name: Option<Sym>,
    fut: Option<Pin<Box<dyn Future<Output = ()>>>>,
    fail: Option<Rc<dyn FailSlot>>,
    pub end: Option<End>,
    /// When the task ended.
    pub ended_at: Option<Instant>,
    scheduled: bool,
    running: bool,
    /// `Task._must_cancel`: throw `CancelledError` at the next step.
    pub must_cancel: bool,
    /// `must_cancel` stands for a cancelled sleep future (asyncio's
    /// `_must_cancel` is false then): `uncancel()` cannot take it back.
    pub cancel_via_waiter: bool,
    /// A cancellation is being thrown into the task during this step.
    delivering: bool,
    /// `Task._num_cancels_requested` (`cancelling()`).
    pub num_cancels: u32,
    /// `Task._cancel_message`: the message of the `CancelledError` raised in
    /// the task (its last `cancel(msg)`, or that of a cancelled task it
    /// awaited).
    pub cancel_msg: Option<Rc<str>>,
    /// Cancellation catchers on the task's await chain, innermost last.
    catchers: Vec<u64>,
    pub waiting: Option<Wait>,
    done_callbacks: Vec<(u64, DoneCallback)>,
    waker: Waker,
    /// Set by fallible task wrappers: the error the task's output carries.
    pub raised: Option<String>,
}

/// A printed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLine {
    /// When it was printed.
    pub at: Instant,
    /// The task that printed it (`None` from a callback).
    pub task: Option<TaskId>,
    /// The text, without a newline.
    pub text: String,
}

pub(crate) struct Core {
    pub cfg: Config,
    /// asyncio's float clock (authoritative under the `asyncio` model).
    now_f: f64,
    /// The clock in nanoseconds (authoritative under `fifo` and `random`).
    now_ns: u64,
    ready: VecDeque<Handle>,
    pub timers: Timers,
    callbacks: Vec<CallbackSlot>,
    callbacks_free: Vec<u32>,
    pub tasks: Vec<TaskSlot>,
    pub current: Option<TaskId>,
    pub actor: Actor,
    pub iteration: u64,
    pub steps: u64,
    pub rec: Recorder,
    pub rng: Streams,
    pub abort: Option<Stop>,
    pub stopping: bool,
    pub output: Vec<OutputLine>,
    run_id: u64,
    next_id: u64,
    pub live_tasks: usize,
    /// Labels interned once.
    pub sym: Syms,
}

/// Labels used by the engine, interned at start.
pub(crate) struct Syms {
    pub sleep: Sym,
    pub call_soon: Sym,
    pub call_later: Sym,
    pub done: Sym,
    pub stop: Sym,
}

impl Core {
    fn new(cfg: Config, run_id: u64) -> Core {
        let kind = match cfg.model {
            LoopModel::Asyncio => HeapKind::Python,
            LoopModel::Fifo | LoopModel::Random => HeapKind::Fifo,
        };
        let mut rec = Recorder::new(cfg.trace);
        let sym = Syms {
            sleep: rec.intern("sleep"),
            call_soon: rec.intern("call_soon"),
            call_later: rec.intern("call_later"),
            done: rec.intern("done callback"),
            stop: rec.intern("run_until_complete stop"),
        };
        Core {
            rng: Streams::new(cfg.seed),
            cfg,
            now_f: 0.0,
            now_ns: 0,
            ready: VecDeque::new(),
            timers: Timers::new(kind),
            callbacks: Vec::new(),
            callbacks_free: Vec::new(),
            tasks: Vec::new(),
            current: None,
            actor: Actor::Loop,
            iteration: 0,
            steps: 0,
            rec,
            abort: None,
            stopping: false,
            output: Vec::new(),
            run_id,
            next_id: 1,
            live_tasks: 0,
            sym,
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now_ns)
    }

    /// asyncio's `loop.time()`.
    pub fn time_f(&self) -> f64 {
        self.now_f
    }

    pub fn is_asyncio(&self) -> bool {
        self.cfg.model == LoopModel::Asyncio
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        self.rec.intern(s)
    }

    /// Stops the run at the end of the current handle (the first limit hit
    /// wins), remembering the task running and what exceeded it.
    pub fn hit_limit(&mut self, limit: LimitKind, detail: Option<String>) {
        if self.abort.is_none() {
            self.abort = Some(Stop {
                limit,
                task: self.current,
                detail,
            });
        }
    }

    pub fn record(&mut self, task: Option<TaskId>, kind: EventKind) {
        if self.rec.enabled {
            if self.rec.events.len() as u64 >= self.cfg.limits.max_trace_events {
                // Keep the closing events (loop stopped, run ended) once the
                // limit is hit; drop everything else.
                let closing = matches!(
                    kind,
                    EventKind::LoopStopped
                        | EventKind::RunEnded { .. }
                        | EventKind::Stuck { .. }
                        | EventKind::WaitsFor { .. }
                        | EventKind::InCycle { .. }
                );
                if self.abort.is_none() {
                    self.hit_limit(LimitKind::TraceEvents, None);
                }
                if !closing {
                    return;
                }
            }
            self.rec.events.push(Event {
                at: self.now(),
                iteration: self.iteration,
                task,
                kind,
            });
        }
    }

    fn task(&self, id: TaskId) -> &TaskSlot {
        &self.tasks[id.0 as usize - 1]
    }

    pub fn task_mut(&mut self, id: TaskId) -> &mut TaskSlot {
        &mut self.tasks[id.0 as usize - 1]
    }

    pub fn task_name(&self, id: TaskId) -> std::borrow::Cow<'_, str> {
        match self.task(id).name {
            Some(sym) => std::borrow::Cow::Borrowed(self.rec.str(sym)),
            None => std::borrow::Cow::Owned(format!("Task-{}", id.0)),
        }
    }

    pub fn is_done(&self, id: TaskId) -> bool {
        self.task(id).end.is_some()
    }

    pub fn end_of(&self, id: TaskId) -> Option<&End> {
        self.task(id).end.as_ref()
    }

    /// Advances the clock by `d` (a blocking call or step overhead).
    pub fn advance_by(&mut self, d: Duration) {
        if self.is_asyncio() {
            self.now_f += duration_to_secs_f64(d);
            self.set_ns(secs_f64_to_nanos(self.now_f));
        } else {
            let ns = self
                .now_ns
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            self.set_ns(ns);
            self.now_f = nanos_to_secs_f64(self.now_ns);
        }
    }

    fn set_ns(&mut self, ns: u64) {
        assert!(
            ns >= self.now_ns,
            "virtual clock went backwards: {} -> {ns}",
            self.now_ns
        );
        self.now_ns = ns;
        if Duration::from_nanos(ns) > self.cfg.limits.max_time {
            self.hit_limit(LimitKind::Time, None);
        }
    }

    /// `loop.call_soon(step)`: appends the task's step to the ready queue
    /// unless it is already there or the task is done.
    pub fn wake(&mut self, id: TaskId) {
        let by = self.actor;
        let t = self.task_mut(id);
        if t.scheduled || t.end.is_some() {
            return;
        }
        t.scheduled = true;
        self.ready.push_back(Handle::Step(id));
        self.record(Some(id), EventKind::Woken { by });
    }

    /// `loop.call_soon(f)`.
    pub fn call_soon(&mut self, f: Box<dyn FnOnce()>, label: Sym) -> (u32, u32) {
        let slot = CallbackSlot {
            f: Some(f),
            label,
            generation: 0,
        };
        let index = match self.callbacks_free.pop() {
            Some(i) => {
                let generation = self.callbacks[i as usize].generation.wrapping_add(1);
                self.callbacks[i as usize] = CallbackSlot { generation, ..slot };
                i
            }
            None => {
                self.callbacks.push(slot);
                (self.callbacks.len() - 1) as u32
            }
        };
        let generation = self.callbacks[index as usize].generation;
        self.ready.push_back(Handle::Callback { index, generation });
        (index, generation)
    }

    /// `Handle.cancel()` for a `call_soon` callback; returns the closure for
    /// dropping outside the borrow.
    pub fn cancel_callback(&mut self, index: u32, generation: u32) -> Option<Box<dyn FnOnce()>> {
        let slot = self.callbacks.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        slot.f.take()
    }

    /// The float and nanosecond deadline `delay` from now.
    pub fn deadline_after(&self, delay: Duration) -> (f64, u64) {
        if self.is_asyncio() {
            let when = self.now_f + duration_to_secs_f64(delay);
            (when, secs_f64_to_nanos(when))
        } else {
            let ns = self
                .now_ns
                .saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
            (nanos_to_secs_f64(ns), ns)
        }
    }

    /// The deadline `secs` float seconds from now (`loop.time() + secs`).
    pub fn deadline_after_secs(&self, secs: f64) -> (f64, u64) {
        if self.is_asyncio() {
            let when = self.now_f + secs;
            (when, secs_f64_to_nanos(when))
        } else {
            let ns = self.now_ns.saturating_add(secs_f64_to_nanos(secs));
            (nanos_to_secs_f64(ns), ns)
        }
    }

    /// The float and nanosecond form of an absolute instant.
    pub fn deadline_at(&self, at: Instant) -> (f64, u64) {
        (at.as_secs_f64(), at.as_nanos())
    }

    pub fn schedule_timer(
        &mut self,
        when: (f64, u64),
        action: TimerAction,
        label: Sym,
        owned: bool,
    ) -> TimerKey {
        self.timers.schedule(when.0, when.1, action, label.0, owned)
    }

    /// Registers a done-callback on a task. If the task is already done the
    /// callback is handed back: the caller schedules it with
    /// [`fire_done_callback`] once the core is released (asyncio schedules it
    /// at once, never synchronously).
    pub fn add_done_callback(&mut self, id: TaskId, cb: DoneCallback) -> Result<u64, DoneCallback> {
        if self.is_done(id) {
            return Err(cb);
        }
        let key = self.next_id();
        self.task_mut(id).done_callbacks.push((key, cb));
        Ok(key)
    }

    pub fn remove_done_callback(&mut self, id: TaskId, key: u64) -> Option<DoneCallback> {
        let cbs = &mut self.task_mut(id).done_callbacks;
        let i = cbs.iter().position(|(k, _)| *k == key)?;
        Some(cbs.remove(i).1)
    }

    /// Sets what the current task is suspended on.
    pub fn set_waiting(&mut self, on: WaitOn, target: CancelTarget) {
        self.set_waiting_probed(on, target, None);
    }

    /// Sets what the current task is suspended on, with a probe that tells a
    /// deadlock report why that wait cannot end.
    pub fn set_waiting_probed(
        &mut self,
        on: WaitOn,
        target: CancelTarget,
        probe: Option<crate::deadlock::Probe>,
    ) {
        if let Some(id) = self.current {
            self.task_mut(id).waiting = Some(Wait { on, target, probe });
        }
    }

    /// Asks the executor to throw `CancelledError` into the current task at
    /// the await being polled (the awaited future or task was cancelled).
    pub fn raise_cancelled(&mut self) {
        if let Some(id) = self.current {
            self.task_mut(id).delivering = true;
        }
    }

    /// Creates a task slot and schedules its first step (unless `eager`: the
    /// caller then runs it at once with [`run_eager`]).
    pub fn create_task(
        &mut self,
        fut: Pin<Box<dyn Future<Output = ()>>>,
        fail: Rc<dyn FailSlot>,
        name: Option<&str>,
        label: Option<&str>,
        eager: bool,
    ) -> TaskId {
        let id = TaskId(self.tasks.len() as u32 + 1);
        let name = name.map(|n| self.intern(n));
        let waker = Waker::from(Arc::new(TaskWaker {
            run: self.run_id,
            task: id.0,
        }));
        let parent = self.current;
        self.tasks.push(TaskSlot {
            name,
            fut: Some(fut),
            fail: Some(fail),
            end: None,
            ended_at: None,
            scheduled: false,
            running: false,
            must_cancel: false,
            cancel_via_waiter: false,
            delivering: false,
            num_cancels: 0,
            cancel_msg: None,
            catchers: Vec::new(),
            waiting: None,
            done_callbacks: Vec::new(),
            waker,
            raised: None,
        });
        self.live_tasks += 1;
        if self.rec.enabled {
            let label = label.map(|l| self.intern(l));
            self.record(
                Some(id),
                EventKind::TaskCreated {
                    parent,
                    name,
                    label,
                },
            );
        }
        if self.tasks.len() as u64 > self.cfg.limits.max_tasks {
            self.hit_limit(LimitKind::Tasks, None);
        }
        if !eager {
            let t = self.task_mut(id);
            t.scheduled = true;
            self.ready.push_back(Handle::Step(id));
        }
        id
    }

    /// Records a printed line.
    pub fn print(&mut self, text: String) {
        let task = self.current;
        if self.rec.enabled {
            let sym = self.intern(&text);
            self.record(task, EventKind::Output { text: sym });
        }
        self.output.push(OutputLine {
            at: self.now(),
            task,
            text,
        });
    }

    /// Registers a cancellation catcher on the current task.
    pub fn catcher_enter(&mut self) -> Option<u64> {
        let id = self.current?;
        let key = self.next_id();
        self.task_mut(id).catchers.push(key);
        Some(key)
    }

    /// True when a cancellation is being thrown and `key` is the innermost
    /// catcher: it must handle it now.
    pub fn catcher_is_target(&self, key: u64) -> bool {
        let Some(id) = self.current else { return false };
        let t = self.task(id);
        t.delivering && t.catchers.last() == Some(&key)
    }

    /// The catcher handled the cancellation (`except CancelledError:`).
    pub fn catcher_consume(&mut self, key: u64) {
        if let Some(id) = self.current {
            let t = self.task_mut(id);
            t.delivering = false;
            t.catchers.retain(|k| *k != key);
        }
    }

    /// The catcher lets the cancellation through to the next one out
    /// (`except CancelledError: ...; raise`).
    pub fn catcher_pass(&mut self, key: u64) {
        if let Some(id) = self.current {
            self.task_mut(id).catchers.retain(|k| *k != key);
        }
    }

    /// The catcher's scope ended normally or was dropped.
    pub fn catcher_exit(&mut self, task: TaskId, key: u64) {
        if let Some(t) = self.tasks.get_mut(task.0 as usize - 1) {
            t.catchers.retain(|k| *k != key);
        }
    }
}

/// The runtime of one simulation: installed in a thread-local while it runs.
pub(crate) struct Runtime {
    pub core: RefCell<Core>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Runtime>>> = const { RefCell::new(None) };
    static RUN_IDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Runtime {
    pub fn new(cfg: Config) -> Rc<Runtime> {
        let run_id = RUN_IDS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        Rc::new(Runtime {
            core: RefCell::new(Core::new(cfg, run_id)),
        })
    }
}

/// Installs a runtime as the thread's current simulation until dropped.
pub(crate) struct Enter {
    prev: Option<Rc<Runtime>>,
}

pub(crate) fn enter(rt: &Rc<Runtime>) -> Enter {
    let busy = CURRENT.with(|c| c.borrow().is_some());
    assert!(
        !busy,
        "loopsim: a simulation is already running on this thread; `Sim::run` cannot be nested"
    );
    let prev = CURRENT.with(|c| c.borrow_mut().replace(rt.clone()));
    Enter { prev }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

fn outside(what: &str) -> ! {
    panic!(
        "loopsim: `{what}` was used outside a running simulation; \
         call it from a future run by `Sim::run` (or a task it spawned)"
    )
}

/// Runs `f` on the current simulation's core.
///
/// # Panics
///
/// Outside a running simulation, with a message naming `what`.
pub(crate) fn with_core<R>(what: &str, f: impl FnOnce(&mut Core) -> R) -> R {
    CURRENT.with(|c| {
        let rt = c.borrow();
        let Some(rt) = rt.as_ref() else { outside(what) };
        let mut core = rt.core.try_borrow_mut().unwrap_or_else(|_| {
            panic!("loopsim: `{what}` re-entered the loop core (internal error)")
        });
        f(&mut core)
    })
}

/// Like [`with_core`] but does nothing outside a simulation (for destructors
/// that may run after the run ended).
pub(crate) fn try_with_core<R>(f: impl FnOnce(&mut Core) -> R) -> Option<R> {
    CURRENT.with(|c| {
        let rt = c.borrow();
        let rt = rt.as_ref()?;
        let mut core = rt.core.try_borrow_mut().ok()?;
        Some(f(&mut core))
    })
}

/// Stops the run at the end of the current handle with
/// [`Outcome::LimitExceeded`](crate::Outcome::LimitExceeded): a program's
/// own limit (an interpreter's step count, output size, …), named by its
/// key, with what exceeded it in the program's words. The first limit hit
/// wins.
///
/// # Panics
///
/// Outside a running simulation.
pub fn stop_at_limit(key: &'static str, detail: impl Into<String>) {
    let detail = detail.into();
    with_core("stop_at_limit", |c| {
        c.hit_limit(LimitKind::Program(key), Some(detail))
    });
}

/// The limit this run has hit, if any: the run stops at the end of the
/// current handle, so a step that loops without awaiting (spawning, printing)
/// can check this and stop early.
///
/// # Panics
///
/// Outside a running simulation.
pub fn limit_hit() -> Option<LimitKind> {
    with_core("limit_hit", |c| c.abort.as_ref().map(|s| s.limit))
}

/// Runs a new task's first step at once (`Task.__eager_start`).
pub(crate) fn run_eager(id: TaskId) {
    let rt = CURRENT
        .with(|c| c.borrow().clone())
        .unwrap_or_else(|| outside("spawn"));
    step::run_step(&rt, id);
}

/// The waker of a task: waking it appends the task's step to the ready queue.
struct TaskWaker {
    run: u64,
    task: u32,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let (run, task) = (self.run, TaskId(self.task));
        try_with_core(|core| {
            if core.run_id == run {
                core.wake(task);
            }
        });
    }
}

/// Schedules a task's done-callback (`call_soon`); call with the core released.
pub(crate) fn fire_done_callback(cb: DoneCallback) {
    match cb {
        DoneCallback::Wake(w) => w.wake(),
        DoneCallback::Call(f, label) => {
            with_core("call_soon", |c| c.call_soon(f, label));
        }
    }
}

impl TaskSlot {
    /// Takes the task's future out (for teardown).
    pub fn take_future(&mut self) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
        self.fut.take()
    }
}

impl Core {
    /// Takes every callback and timer action still queued (for teardown).
    pub fn take_pending_callbacks(&mut self) -> Vec<Box<dyn FnOnce()>> {
        self.ready.clear();
        self.callbacks
            .iter_mut()
            .filter_map(|s| s.f.take())
            .collect()
    }
}
