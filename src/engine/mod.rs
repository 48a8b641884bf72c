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
//!
//! # A map of the code
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Core`]: the subsystems of one run, and the named operations the face calls |
//! | `context.rs` | the runtime, the thread-local, [`with_core`], program limits |
//! | `clock.rs` | the virtual clock: asyncio's float `loop.time()` and integer nanoseconds |
//! | `step.rs` | the loop: `_run_once`, running a handle, a task's step and its end |
//! | `tasks.rs` | task slots; **# Task state** (the flags and when they change) |
//! | `table.rs` | the task table: a window of slots by id; finished tasks give theirs up for a 16-byte record |
//! | `cancel.rs` | `Task.cancel` and the catcher protocol; **# Cancellation delivery** |
//! | `timers.rs`, `heapq.rs` | the timers: CPython's `heapq`, its tie order and purge rule (`asyncio`) |
//! | `wheel.rs` | the timer wheel of the other models (`fifo`, `random`, `pct`): (deadline, sequence) order, exact to the ns |
//! | `waker.rs` | a task's waker: a word naming the run and the task, no allocation (`unsafe`, allowed there) |
//! | `prefetch.rs` | a cache hint for a batch of ready handles (`unsafe`, allowed there) |
//! | `slab.rs` | the one generational slot table (timers, callbacks; sockets and jobs) |
//! | `ready.rs` | the ready queue (`loop._ready`), a ring of handles |
//! | `ext.rs` | per-run state of the I/O and network layers, which the engine never names |
//! | `world.rs` | world events: what happens outside the loop at a virtual time (a server answering, a pool thread finishing) and how it reaches the loop |

pub(crate) mod heapq;
mod prefetch;
mod ready;
mod slab;
mod step;
mod table;
pub(crate) mod timers;
mod waker;
mod wheel;

mod cancel;
mod choice;
mod clock;
#[doc(hidden)]
pub mod mutation;
use choice::Chooser;
pub use choice::PctConfig;
mod tasks;
pub(crate) use cancel::{CancelFuture, CancelTarget};
pub(crate) use tasks::{
    DoneCallback, End, FailRef, FailSlot, TaskFut, TaskFuture, TaskSlot, TaskView, Wait,
};
mod context;
mod ext;
mod waiter;
mod world;
pub(crate) use cancel::{cancel_task, cancel_task_with, raised_count};
use clock::Clock;
pub(crate) use context::{
    Runtime, enter, fire_done_callback, run_eager, try_with_core, with_core, with_user_rng,
};
pub use context::{limit_hit, stop_at_limit};
use ext::Extensions;
pub(crate) use step::{LoopEnd, run_loop};
pub use table::task_block_bits_on_this_thread;
pub(crate) use waiter::{WaiterCell, WaiterState};
pub(crate) use world::run_world_due_now;

use crate::rng::Streams;
use crate::settings::{Limits, LoopModel, PythonVersion};
use crate::time::{Duration, Instant};
use crate::trace::{Actor, EventKind, Recorder, Sym, TaskId, WaitOn};
pub(crate) use slab::Key;
use slab::Slab;
use std::rc::Rc;
use std::task::Waker;
use timers::{HeapKind, TimerAction, TimerKey, Timers};

/// The settings a run was built with.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub model: LoopModel,
    pub python: PythonVersion,
    pub seed: u64,
    pub limits: Limits,
    pub trace: bool,
    pub step_overhead: Duration,
    /// The `pct` model's parameters.
    pub pct: PctConfig,
    /// A planted bug (tests of the tests only).
    pub mutation: Option<mutation::Mutation>,
    /// 3.12's `eager_task_factory`: a new task's first step runs at once,
    /// inside `create_task`.
    pub eager_tasks: bool,
    /// The machine thread and process pools run on.
    pub machine: crate::io::Machine,
    /// A handle that holds the loop this long is warned about
    /// (`loop.slow_callback_duration`).
    pub slow_callback_duration: Duration,
}

/// The smallest batch of ready handles that [`Core::warm_ready`] warms.
const WARM_BATCH: usize = 16;

/// The fewest tasks for which [`Core::warm_ready`] warms a batch: a task
/// and its timer take some 250 bytes, and 4k of them (1 MiB) no longer stay
/// in a core's own cache. With 10k tasks (W3) prefetching took 2 % off the
/// run; loads in its place had cost 4 %. With 1k (W2) all stays cached.
const WARM_TASKS: usize = 4_096;

/// One entry of the ready queue (an asyncio `Handle`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Handle {
    /// A task's `__step` / `__wakeup`.
    Step(TaskId),
    /// A timer popped from the heap: its slot's index (the slot stays its
    /// own until it runs, `Timers::take_for_run`).
    Timer(u32),
    /// A `call_soon` callback.
    Callback(Key),
}

struct CallbackSlot {
    f: Option<Box<dyn FnOnce()>>,
    label: Sym,
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
    cfg: Config,
    clock: Clock,
    ready: ready::Ready,
    chooser: Chooser,
    /// `Mutation::LoseOneWakeup` is planted (one test on the hot path).
    lose_wakeup: bool,
    /// The planted bug (if any) has struck.
    mutation_struck: bool,
    timers: Timers,
    callbacks: Slab<CallbackSlot>,
    tasks: table::TaskTable,
    /// What this run's task wakers carry to tell them from those of other
    /// runs (`waker.rs`).
    run_tag: u32,
    /// The run is over and its leftovers are being dropped: a task waker
    /// wakes nothing (a destructor's clean-up schedules no step, and traces
    /// no wake-up the run never did).
    closed: bool,
    actor: Actor,
    iteration: u64,
    steps: u64,
    /// The handle (by `steps`) that last moved the clock, and
    /// `loop.time()` before it first did (`mark_handle_start`).
    handle_mark: u64,
    handle_start_f: f64,
    rec: Recorder,
    rng: Streams,
    abort: Option<Stop>,
    stopping: bool,
    output: Vec<OutputLine>,
    run_id: u64,
    next_id: u64,
    live_tasks: usize,
    /// Labels interned once.
    sym: Syms,
    /// The per-run state of the I/O and network layers.
    ext: Extensions,
    /// What happens outside the loop at virtual times (`world.rs`).
    world: world::World,
}

/// What a finished run counted.
pub(crate) struct RunCounts {
    pub iterations: u64,
    pub steps: u64,
    pub tasks: u64,
    pub ended_at: Instant,
}

/// Labels used by the engine, interned at start.
#[derive(Clone, Copy)]
pub(crate) struct Syms {
    pub sleep: Sym,
    pub call_soon: Sym,
    pub call_later: Sym,
    pub done: Sym,
    pub stop: Sym,
}

impl Core {
    fn new(cfg: Config, run_id: u64, rec: Option<Recorder>) -> Core {
        let kind = match cfg.model {
            LoopModel::Asyncio => HeapKind::Python,
            LoopModel::Fifo | LoopModel::Random | LoopModel::Pct => HeapKind::Fifo,
        };
        let mut rec = rec.unwrap_or_else(|| Recorder::new(cfg.trace));
        let sym = Syms {
            sleep: rec.intern("sleep"),
            call_soon: rec.intern("call_soon"),
            call_later: rec.intern("call_later"),
            done: rec.intern("done callback"),
            stop: rec.intern("run_until_complete stop"),
        };
        let mut cfg = cfg;
        cfg.mutation = cfg.mutation.or_else(mutation::thread_default);
        let reverse_ties = cfg.mutation == Some(mutation::Mutation::ReverseEqualDeadlines);
        let lose_wakeup = cfg.mutation == Some(mutation::Mutation::LoseOneWakeup);
        let mut rng = Streams::new(cfg.seed);
        let chooser = Chooser::new(cfg.model, cfg.pct, &mut rng);
        Core {
            rng,
            chooser,
            mutation_struck: false,
            lose_wakeup,
            clock: Clock::new(cfg.model == LoopModel::Asyncio),
            cfg,
            ready: ready::Ready::new(),
            timers: Timers::new(kind, reverse_ties),
            callbacks: Slab::new(),
            tasks: table::TaskTable::new(),
            run_tag: waker::next_run_tag(),
            closed: false,
            actor: Actor::Loop,
            iteration: 0,
            steps: 0,
            handle_mark: u64::MAX,
            handle_start_f: 0.0,
            rec,
            abort: None,
            stopping: false,
            output: Vec::new(),
            run_id,
            next_id: 1,
            live_tasks: 0,
            sym,
            ext: Extensions::default(),
            world: world::World::default(),
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// This run's number on this thread (state kept outside a run, such as
    /// a service's, starts afresh in each).
    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// asyncio's `loop.time()`.
    pub fn time_f(&self) -> f64 {
        self.clock.time_f()
    }

    /// The Python version the `asyncio` model follows.
    pub fn python(&self) -> PythonVersion {
        self.cfg.python
    }

    /// The machine thread and process pools run on.
    pub fn machine(&self) -> crate::io::Machine {
        self.cfg.machine
    }

    /// Whether the bug `m` is planted in this run and has not struck yet;
    /// it strikes now.
    pub fn take_mutation(&mut self, m: mutation::Mutation) -> bool {
        if self.cfg.mutation == Some(m) && !self.mutation_struck {
            self.mutation_struck = true;
            true
        } else {
            false
        }
    }

    /// Whether a task created after the loop started runs its first step at
    /// once (3.12's `eager_task_factory`).
    pub fn eager_now(&self) -> bool {
        self.cfg.eager_tasks && self.iteration > 0
    }

    /// Whether the run records a trace.
    pub fn tracing(&self) -> bool {
        self.rec.enabled
    }

    /// The task whose step is running, if any.
    ///
    /// It is the actor's task: a step makes its task the actor, and
    /// nothing else runs a task's code.
    #[inline(always)]
    pub fn current(&self) -> Option<TaskId> {
        match self.actor {
            Actor::Task(id) => Some(id),
            _ => None,
        }
    }

    /// A bare yield (`await asyncio.sleep(0)`) of the running task, polled
    /// with its own `waker`: it waits on the yield and is scheduled again
    /// (`set_waiting`, then `waker.wake_by_ref()` done directly, with one
    /// look-up of its slot: W2 355.2 → 348.2 M instructions). False,
    /// having done nothing, when `waker` is not the running task's (the
    /// caller then wakes `waker` itself).
    #[inline(always)]
    pub fn yield_current(&mut self, waker: &Waker) -> bool {
        let Some(id) = self.own_task(waker) else {
            return false;
        };
        if self.lose_wakeup && matches!(self.actor, Actor::Timer(_)) {
            // A mutation that may lose a timer's wake-up: the long way.
            self.set_waiting(WaitOn::Yield, CancelTarget::Wake);
            self.wake(id);
            return true;
        }
        let by = self.actor;
        let t = self.task_mut(id);
        t.set_wait(WaitOn::Yield, CancelTarget::Wake, None);
        if t.scheduled || t.is_done() {
            return true;
        }
        t.scheduled = true;
        self.ready.push_back(Handle::Step(id));
        self.record(Some(id), EventKind::Woken { by });
        true
    }

    /// Wakes task `id` for its waker (`waker.rs`), if the waker is of this
    /// run (`run`; `None`: it cannot tell): task ids restart with every run.
    #[inline(always)]
    pub(super) fn wake_by_task_waker(&mut self, run: Option<u32>, id: TaskId) {
        if self.closed || run.is_some_and(|r| r != self.run_tag) {
            return;
        }
        if id.0 >= 1 && id.0 <= self.tasks.len() {
            self.wake(id);
        }
    }

    /// What tells this run from the others of the process (what its task
    /// wakers carry; what a cache of this run's symbols is keyed by).
    #[inline(always)]
    pub fn run_tag(&self) -> u32 {
        self.run_tag
    }

    /// The waker of task `id` (no allocation: see `waker.rs`).
    pub(super) fn task_waker(&self, id: TaskId) -> Waker {
        waker::task_waker(self.run_tag, id)
    }

    /// The running task, if `waker` is its own.
    fn own_task(&self, waker: &Waker) -> Option<TaskId> {
        self.current()
            .filter(|&id| waker::task_of(waker, self.run_tag) == Some(id))
    }

    /// The name given to task `id` at its creation, if any (not `Task-N`).
    pub fn given_name(&self, id: TaskId) -> Option<&str> {
        self.task(id).name().map(|sym| self.rec.str(sym))
    }

    /// Labels interned at start.
    pub fn syms(&self) -> Syms {
        self.sym
    }

    /// The run's named random streams.
    pub fn rng(&mut self) -> &mut Streams {
        &mut self.rng
    }

    /// The string behind a trace symbol.
    pub fn str(&self, sym: Sym) -> &str {
        self.rec.str(sym)
    }

    /// `loop.stop()`: the loop ends after this iteration's handles.
    pub fn stop_loop(&mut self) {
        self.stopping = true;
    }

    /// Before shutdown runs the loop again: not stopping, the loop acting.
    pub fn restart_loop(&mut self) {
        self.stopping = false;
        self.actor = Actor::Loop;
    }

    /// Handles run so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The tasks not done yet, in creation order.
    pub fn unfinished_ids(&self) -> Vec<TaskId> {
        let mut found = Vec::new();
        self.tasks.for_each_notable(|id, t| {
            if !t.is_done() {
                found.push(id);
            }
        });
        found
    }

    /// The tasks not done yet, in creation order, with what each waits on.
    pub fn unfinished_tasks(&self) -> Vec<(TaskId, Option<Wait>)> {
        let mut found = Vec::new();
        self.tasks.for_each_notable(|id, t| {
            if !t.is_done() {
                found.push((id, t.wait()));
            }
        });
        found
    }

    /// A sleep's owned timer: `Some(deadline)` while it is pending, `None`
    /// once it fired (the slot is then released).
    pub fn sleep_timer_pending(&mut self, key: TimerKey) -> Option<Instant> {
        let (state, when_ns) = self.timers.state(key).expect("sleep's timer slot is owned");
        if state == timers::TimerState::Fired {
            self.timers.release_owner(key);
            None
        } else {
            Some(Instant::from_nanos(when_ns))
        }
    }

    /// `TimerHandle.cancel()`; returns the action for dropping outside the
    /// borrow. `release` also gives up an owner's claim on the slot.
    pub fn cancel_timer(&mut self, key: TimerKey, release: bool) -> Option<TimerAction> {
        let a = self.timers.cancel(key);
        if release {
            self.timers.release_owner(key);
        }
        a
    }

    /// What the run leaves behind: statistics, output, and the recorder.
    pub fn finish(self) -> (RunCounts, Vec<OutputLine>, Recorder) {
        (
            RunCounts {
                iterations: self.iteration,
                steps: self.steps,
                tasks: u64::from(self.tasks.len()),
                ended_at: self.now(),
            },
            self.output,
            self.rec,
        )
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

    /// [`intern`](Self::intern), by address (see `Recorder::intern_static`).
    pub fn intern_static(&mut self, s: &'static str) -> Sym {
        self.rec.intern_static(s)
    }

    /// [`intern`](Self::intern), by identity (see `Recorder::intern_shared`).
    pub fn intern_shared(&mut self, s: &Rc<str>) -> Sym {
        self.rec.intern_shared(s)
    }

    /// Stops the run at the end of the current handle (the first limit hit
    /// wins), remembering the task running and what exceeded it.
    pub fn hit_limit(&mut self, limit: LimitKind, detail: Option<String>) {
        if self.abort.is_none() {
            self.abort = Some(Stop {
                limit,
                task: self.current(),
                detail,
            });
        }
    }

    /// Records an event (if the trace is on). Inlined whole into each
    /// caller: the kind is then known where it is written out, and its
    /// fields are read from registers, not from a copy in memory.
    #[inline(always)]
    pub fn record(&mut self, task: Option<TaskId>, kind: EventKind) {
        if self.rec.enabled {
            if self.rec.len() >= self.cfg.limits.max_trace_events {
                self.record_past_limit(task, kind);
                return;
            }
            self.rec.push(self.now(), self.iteration, task, &kind);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_past_limit(&mut self, task: Option<TaskId>, kind: EventKind) {
        // Keep the closing events (loop stopped, run ended) once the limit
        // is hit; drop everything else.
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
        if closing {
            self.rec.push(self.now(), self.iteration, task, &kind);
        }
    }

    /// The current task's output carries an error (a fallible task
    /// returned `Err`): its end is "raised" with this message.
    pub fn set_raised(&mut self, msg: String) {
        if let Some(id) = self.current() {
            self.task_mut(id).set_raised(msg);
        }
    }

    /// The current task's output carries this [`crate::Error`].
    pub fn set_raised_error(&mut self, e: crate::Error) {
        if let Some(id) = self.current() {
            self.task_mut(id).set_raised_error(e);
        }
    }

    /// The error task `id` raised, if it did and its error type is
    /// [`crate::Error`].
    pub fn raised_error(&self, id: TaskId) -> Option<&crate::Error> {
        self.task(id).raised_error()
    }

    /// When the task ended, if it did.
    pub fn ended_at(&self, id: TaskId) -> Option<Instant> {
        self.task(id).ended_at()
    }

    /// What questions about task `id` read (its slot, or its record once
    /// it finished and retired: `table.rs`).
    fn task(&self, id: TaskId) -> TaskView<'_> {
        self.tasks.view(id)
    }

    /// Task `id`'s slot (brought back whole if it finished and
    /// retired).
    #[inline(always)]
    pub fn task_mut(&mut self, id: TaskId) -> &mut TaskSlot {
        self.tasks.slot_mut(id)
    }

    /// The slot of a task that has not finished (the current one).
    #[inline(always)]
    fn live(&self, id: TaskId) -> &TaskSlot {
        self.tasks.get(id).expect("an unfinished task has its slot")
    }

    /// Ends the run for good, before its leftovers are dropped: from now on
    /// a task waker wakes nothing.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Takes an unfinished task's future out (for teardown).
    pub fn take_future(&mut self, id: TaskId) -> Option<TaskFut> {
        self.tasks.get_mut(id)?.take_future()
    }

    pub fn task_name(&self, id: TaskId) -> std::borrow::Cow<'_, str> {
        match self.given_name(id) {
            Some(name) => std::borrow::Cow::Borrowed(name),
            None => std::borrow::Cow::Owned(format!("Task-{}", id.0)),
        }
    }

    pub fn is_done(&self, id: TaskId) -> bool {
        self.task(id).is_done()
    }

    /// How task `id` ended, if it did.
    pub fn end_of(&self, id: TaskId) -> Option<End> {
        self.task(id).end()
    }

    /// The message of the error task `id` raised, if it ended raising.
    pub fn raised_message(&self, id: TaskId) -> Option<&str> {
        self.task(id).raised_message()
    }

    /// Advances the clock by `d` (a blocking call or step overhead).
    pub fn advance_by(&mut self, d: Duration) {
        self.mark_handle_start();
        self.clock.advance_by(d);
        self.check_time();
    }

    /// Step 2 of `_run_once` with nothing ready: the clock jumps to the
    /// earliest timer's deadline.
    pub fn advance_to_timer(&mut self, when_f: f64, when_ns: u64) {
        self.mark_handle_start();
        self.clock.advance_to_timer(when_f, when_ns);
        self.check_time();
    }

    /// Before the clock moves: the first move in handle number `steps`
    /// keeps `loop.time()` as it was (the handle's `t0`), so that a handle
    /// that held the loop is measured as CPython measures it, in floats,
    /// at no cost to the handles that move no clock.
    fn mark_handle_start(&mut self) {
        if self.handle_mark != self.steps {
            self.handle_mark = self.steps;
            self.handle_start_f = self.clock.time_f();
        }
    }

    /// `loop.time()` when the handle running (or just run) started, if it
    /// moved the clock (`mark_handle_start`); now otherwise.
    fn handle_start_f(&self) -> f64 {
        if self.handle_mark == self.steps {
            self.handle_start_f
        } else {
            self.clock.time_f()
        }
    }

    /// Stops the run once the clock passes `max_time`.
    fn check_time(&mut self) {
        if Duration::from_nanos(self.clock.now().as_nanos()) > self.cfg.limits.max_time {
            self.hit_limit(LimitKind::Time, None);
        }
    }

    /// `loop.call_soon(step)`: appends the task's step to the ready queue
    /// unless it is already there or the task is done. Inlined into its
    /// callers: a call saved and restored more registers than the wake-up
    /// itself takes (a yield: 368.6 → 351.6 M instructions on W2).
    #[inline(always)]
    pub fn wake(&mut self, id: TaskId) {
        let by = self.actor;
        if self.lose_wakeup
            && matches!(by, Actor::Timer(_))
            && !std::mem::replace(&mut self.mutation_struck, true)
        {
            return;
        }
        debug_assert!(id.0 >= 1 && id.0 <= self.tasks.len(), "no task {}", id.0);
        // A task without a slot has finished (and retired).
        let Some(t) = self.tasks.get_mut(id) else {
            return;
        };
        if t.scheduled || t.is_done() {
            return;
        }
        t.scheduled = true;
        self.ready.push_back(Handle::Step(id));
        self.record(Some(id), EventKind::Woken { by });
    }

    /// Brings the memory of a large batch of ready handles into the cache
    /// before the batch runs, so that their cache misses overlap instead of
    /// stalling one handle after another. A hundred thousand tasks woken in
    /// deadline order touch memory in no order the hardware can predict:
    /// without this, each step waits for its task's slot, its future and
    /// its timer in turn. Two passes of prefetches (`prefetch.rs`): the
    /// handles' own slots, then what they lead to (a task's future; the
    /// task a timer wakes). It changes nothing.
    pub fn warm_ready(&self) {
        if self.ready.len() < WARM_BATCH || (self.tasks.len() as usize) < WARM_TASKS {
            return;
        }
        for h in self.ready.iter() {
            match *h {
                Handle::Step(id) => {
                    if let Some(t) = self.tasks.get(id) {
                        prefetch::prefetch(t);
                    }
                }
                Handle::Timer(index) => self.timers.prefetch(index),
                Handle::Callback(_) => {}
            }
        }
        for h in self.ready.iter() {
            match *h {
                Handle::Step(id) => {
                    if let Some(f) = self.tasks.get(id).and_then(|t| t.fut.as_ref()) {
                        prefetch::prefetch_dyn(f.data());
                    }
                }
                Handle::Timer(index) => {
                    if let Some(t) = self.timers.wakes(index).and_then(|id| self.tasks.get(id)) {
                        prefetch::prefetch(t);
                    }
                }
                Handle::Callback(_) => {}
            }
        }
    }

    /// `loop.call_soon(f)`.
    pub fn call_soon(&mut self, f: Box<dyn FnOnce()>, label: Sym) -> Key {
        let key = self.callbacks.insert(CallbackSlot { f: Some(f), label });
        self.ready.push_back(Handle::Callback(key));
        key
    }

    /// `Handle.cancel()` for a `call_soon` callback; returns the closure for
    /// dropping outside the borrow.
    pub fn cancel_callback(&mut self, key: Key) -> Option<Box<dyn FnOnce()>> {
        self.callbacks.get_mut(key)?.f.take()
    }

    /// The float and nanosecond deadline `delay` from now.
    pub fn deadline_after(&self, delay: Duration) -> (f64, u64) {
        self.clock.deadline_after(delay)
    }

    /// The deadline `secs` float seconds from now (`loop.time() + secs`).
    pub fn deadline_after_secs(&self, secs: f64) -> (f64, u64) {
        self.clock.deadline_after_secs(secs)
    }

    /// The float and nanosecond form of an absolute instant.
    pub fn deadline_at(&self, at: Instant) -> (f64, u64) {
        (at.as_secs_f64(), at.as_nanos())
    }

    /// Inlined into its callers: the action is built where it is stored (a
    /// 24-byte enum built on the stack and read back at once by a call stalls
    /// on store forwarding).
    #[inline(always)]
    pub fn schedule_timer(
        &mut self,
        when: (f64, u64),
        action: TimerAction,
        label: Sym,
        owned: bool,
    ) -> TimerKey {
        self.timers.schedule(when.0, when.1, action, label.0, owned)
    }

    /// A timer that wakes whoever `waker` wakes: the task directly when
    /// `waker` is the running task's own (the common case of a task awaiting
    /// its own sleep), through the waker otherwise. The direct wake's task id
    /// is written straight into the timer's slot, not built on the stack and
    /// copied (a store-forwarding stall on every sleep).
    #[inline(always)]
    pub fn schedule_wake_timer(
        &mut self,
        when: (f64, u64),
        waker: &Waker,
        label: Sym,
        owned: bool,
    ) -> TimerKey {
        match self.own_task(waker) {
            Some(id) => self.timers.schedule_with(
                when.0,
                when.1,
                || TimerAction::WakeTask(id),
                label.0,
                owned,
            ),
            None => self.timers.schedule(
                when.0,
                when.1,
                TimerAction::Wake(waker.clone()),
                label.0,
                owned,
            ),
        }
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
        self.task_mut(id).push_done_callback(key, cb);
        Ok(key)
    }

    /// Whether task `id`'s done-callback `key` wakes what `waker` wakes
    /// (`Waker::will_wake`); false if there is no such callback.
    pub fn done_callback_will_wake(&self, id: TaskId, key: u64, waker: &Waker) -> bool {
        match self.task(id).done_callback(key) {
            Some(DoneCallback::Wake(w)) => w.will_wake(waker),
            _ => false,
        }
    }

    /// Takes task `id`'s done-callback `key` out (a task without a slot
    /// has finished: its callbacks are gone).
    pub fn remove_done_callback(&mut self, id: TaskId, key: u64) -> Option<DoneCallback> {
        self.tasks.get_mut(id)?.remove_done_callback(key)
    }

    /// Sets what the current task is suspended on.
    #[inline(always)]
    pub fn set_waiting(&mut self, on: WaitOn, target: CancelTarget) {
        if let Some(id) = self.current() {
            self.task_mut(id).set_wait(on, target, None);
        }
    }

    /// The current task is suspended on primitive `kind` `name`
    /// (`WaitOn::Primitive`): on its waiter `target`, which is its own
    /// cancellation target and probe.
    #[inline(always)]
    pub fn set_waiting_on_primitive(&mut self, kind: Sym, name: Sym, target: Rc<WaiterCell>) {
        if let Some(id) = self.current() {
            self.task_mut(id).set_wait_on_primitive(kind, name, target);
        }
    }

    /// Sets what the current task is suspended on, with a probe that tells a
    /// deadlock report why that wait cannot end. Inlined, as
    /// [`set_waiting`](Self::set_waiting): the wait is then built where it is
    /// stored (copied from the caller's stack, its 16-byte loads straddled
    /// narrower stores and stalled on store forwarding: 8 % of W4).
    #[inline(always)]
    pub fn set_waiting_probed(
        &mut self,
        on: WaitOn,
        target: CancelTarget,
        probe: Option<crate::deadlock::Probe>,
    ) {
        if let Some(id) = self.current() {
            self.task_mut(id).set_wait(on, target, probe);
        }
    }

    /// Asks the executor to throw `CancelledError` into the current task at
    /// the await being polled (the awaited future or task was cancelled).
    pub fn raise_cancelled(&mut self) {
        if let Some(id) = self.current() {
            self.task_mut(id).delivering = true;
            cancel::count_raised();
        }
    }

    /// [`raise_cancelled`](Self::raise_cancelled) of a `CancelledError`
    /// carrying `msg` (an awaited future's), not the task's own message.
    pub fn raise_cancelled_with(&mut self, msg: Option<Rc<str>>) {
        if let Some(id) = self.current() {
            self.task_mut(id).replace_cancel_msg(msg);
        }
        self.raise_cancelled();
    }

    /// Creates a task slot and schedules its first step (unless `eager`: the
    /// caller then runs it at once with [`run_eager`]).
    pub fn create_task(
        &mut self,
        fut: TaskFut,
        name: Option<&str>,
        label: Option<&str>,
        eager: bool,
    ) -> TaskId {
        let name = name.map(|n| self.intern(n));
        let parent = self.current();
        let id = self.tasks.push(TaskSlot::new(fut, name));
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
        if u64::from(self.tasks.len()) > self.cfg.limits.max_tasks {
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
        let task = self.current();
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
}

impl Core {
    /// `task.exception()` of a task that raised (a `TaskGroup`'s
    /// `_on_task_done`): its exception counts as retrieved.
    pub fn mark_exception_retrieved(&self, id: TaskId) {
        if let Some(f) = self.task(id).fail_slot() {
            f.mark_retrieved();
        }
    }

    /// The warnings a run's end gives (`Task was destroyed but it is
    /// pending!`, `Task exception was never retrieved`), recorded per task
    /// in creation order.
    pub fn record_end_warnings(&mut self) {
        use crate::trace::Warning;
        let mut found = Vec::new();
        // A task that is not notable returned or was cancelled.
        self.tasks.for_each_notable(|id, t| match t.end() {
            None => found.push((id, None)),
            Some(End::Raised) if t.fail_slot().is_some_and(|f| !f.retrieved()) => {
                let msg = t
                    .raised_message()
                    .expect("a task that raised keeps its message");
                found.push((id, Some(msg.to_string())));
            }
            _ => {}
        });
        for (id, raised) in found {
            let warning = match raised {
                None => Warning::PendingAtExit,
                Some(msg) => Warning::ExceptionNeverRetrieved {
                    error: self.intern(&msg),
                },
            };
            self.record(Some(id), EventKind::Warning { warning });
        }
    }

    /// After `asyncio.run`'s shutdown cancelled the leftover tasks `ids`
    /// and they ended: `gather(*to_cancel, return_exceptions=True)` has
    /// retrieved every exception, and each task that ended raised is
    /// reported (`unhandled exception during asyncio.run() shutdown`), in
    /// the order they were cancelled in.
    pub fn record_unhandled_at_shutdown(&mut self, ids: &[TaskId]) {
        use crate::trace::Warning;
        for &id in ids {
            self.mark_exception_retrieved(id);
            if self.end_of(id) != Some(End::Raised) {
                continue;
            }
            let Some(msg) = self.raised_message(id).map(str::to_string) else {
                continue;
            };
            let error = self.intern(&msg);
            self.record(
                Some(id),
                EventKind::Warning {
                    warning: Warning::UnhandledAtShutdown { error },
                },
            );
        }
    }

    /// Takes the I/O and network layers' state out (for teardown).
    pub fn take_extensions(&mut self) -> Vec<Box<dyn ext::Extension>> {
        self.ext.take_all()
    }

    /// Takes every callback and timer action still queued (for teardown).
    pub fn take_pending_callbacks(&mut self) -> Vec<Box<dyn FnOnce()>> {
        self.ready.clear();
        self.callbacks
            .values_mut()
            .filter_map(|s| s.f.take())
            .collect()
    }
}
