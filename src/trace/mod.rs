//! The trace: a typed, serialisable record of everything the event loop did.
//!
//! Each [`Event`] carries its virtual time (integer nanoseconds), the loop
//! iteration it happened in, the task it concerns and a fixed-size
//! [`EventKind`]; strings (task names, printed lines, labels) are interned
//! once in [`Trace::strings`] and referenced by [`Sym`]. Renderers and claim
//! checkers read only this, never the executor.
//!
//! The on-disk form is JSON Lines ([`Trace::to_jsonl`]): one header line
//! ([`TraceHeader`]: schema version, label, seed, loop model) and one line
//! per event, with symbols resolved to strings. The same seed gives the same
//! bytes. A long run's trace is better written in the compact binary form
//! ([`Trace::to_binary`], [`Reader`]): the same events in a few bytes each.

mod binary;
mod diff;
mod jsonl;
mod recorder;
mod writer;

pub(crate) use recorder::Recorder;

pub use binary::{MAGIC as BINARY_MAGIC, Reader, is_binary};

pub use jsonl::ReadError;
pub use writer::WriterThread;

use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies a task within one run: tasks are numbered from 1 in creation
/// order (`Task-1` is the main task).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub u32);

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An interned string in [`Trace::strings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub u32);

/// The schema version written in every trace header.
pub const SCHEMA: &str = "loopsim-trace/1";

/// The first line of a JSON Lines trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceHeader {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// What ran (a scenario and variant name, or a label given to the builder).
    pub label: String,
    /// The seed of the run.
    pub seed: u64,
    /// The loop model (`asyncio`, `fifo`, `random`).
    pub model: String,
    /// The Python version the `asyncio` model follows (`3.11`, `3.12`, `3.13`), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub python: Option<String>,
}

/// One thing the loop did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// Virtual time, in nanoseconds since the start.
    pub at: Instant,
    /// The loop iteration (`_run_once` call) this happened in; 0 before the first.
    pub iteration: u64,
    /// The task the event concerns, if any.
    pub task: Option<TaskId>,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, in a fixed-size form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// A task was created (`create_task`), by `parent` (`None` for the main task).
    TaskCreated {
        /// The creating task (`None` for the main task).
        parent: Option<TaskId>,
        /// The name given to the task; `None` for the default `Task-N`
        /// (see [`Trace::name_of`]).
        name: Option<Sym>,
        /// What it runs, for display (`fetch('A', 3)`), if known.
        label: Option<Sym>,
    },
    /// The loop took the task's step from the ready queue and started running
    /// it; `cancelling` when the step begins by delivering a cancellation.
    StepStarted {
        /// The step starts by throwing `CancelledError` into the task.
        cancelling: bool,
    },
    /// The task's step ended, and why.
    StepEnded {
        /// Why it ended.
        end: StepEnd,
    },
    /// A handle that is not a task step ran: a timer's callback or a callback
    /// scheduled with `call_soon` (done-callbacks, `gather`, user callbacks).
    CallbackRun {
        /// What the callback is (`sleep`, `gather`, `timeout`, `call_soon`, …).
        label: Sym,
        /// True for a timer's callback, false for a `call_soon` callback.
        timer: bool,
    },
    /// The task was made ready (its step appended to the ready queue) by `by`.
    Woken {
        /// Who woke it.
        by: Actor,
    },
    /// `cancel()` was requested on the task by `by`.
    CancelRequested {
        /// Who asked.
        by: Actor,
    },
    /// A blocking call held the loop (and advanced the clock) for `nanos`.
    Blocked {
        /// How long, in nanoseconds.
        nanos: u64,
    },
    /// The loop was idle: the clock jumped from `from` to the event's time.
    ClockAdvanced {
        /// The time before the jump.
        from: Instant,
    },
    /// The task printed a line.
    Output {
        /// The line, without a newline.
        text: Sym,
    },
    /// The loop stopped (`asyncio.run`'s main task finished); what follows is
    /// the shutdown that cancels leftover tasks.
    LoopStopped,
    /// The task entered a named section (a scenario `section`, or a block
    /// holding a Lock or Semaphore).
    SectionEntered {
        /// The section's name.
        name: Sym,
    },
    /// The task left a named section.
    SectionExited {
        /// The section's name.
        name: Sym,
    },
    /// The run deadlocked and the task is stuck: it waits on `what` (`Lock
    /// 'b'`, `Queue 'q' join`) and cannot go on because of `why` (`held by
    /// right`, `3 unfinished items`, `not set`). One per unfinished task, in
    /// creation order, each followed by its [`WaitsFor`](EventKind::WaitsFor)
    /// edges, just before [`RunEnded`](EventKind::RunEnded).
    Stuck {
        /// What the task waits on, in words.
        what: Sym,
        /// Why that wait cannot end, in words, if known.
        why: Option<Sym>,
    },
    /// An edge of a deadlock's wait-for graph: the stuck task waits for
    /// `other` (awaits it, or wants a Lock or Semaphore it holds).
    WaitsFor {
        /// The task waited for.
        other: TaskId,
    },
    /// The stuck task is on the deadlock's wait-for cycle and waits for
    /// `next`; one per task on the cycle, in cycle order, after every
    /// [`Stuck`](EventKind::Stuck).
    InCycle {
        /// The next task on the cycle.
        next: TaskId,
    },
    /// Simulated I/O: one request to a service, or one job of a thread or
    /// process pool, reached `phase`. The event's task is the caller (the
    /// task that awaits the request or job), when there is one.
    Io {
        /// The service or pool (`api`, `threads`, `processes`).
        resource: Sym,
        /// The request's or job's number at that resource, from 1.
        id: u32,
        /// What happened to it.
        phase: IoPhase,
    },
    /// The simulated network: a connection opened, bytes sent and
    /// delivered, a segment dropped, a close or a reset. The event's task is
    /// the one that acted (writer, reader, connecting task), if any.
    Net {
        /// The connection's number in the run, from 1.
        conn: u32,
        /// Bytes concerned (0 for connection events).
        bytes: u32,
        /// What happened.
        what: NetEvent,
    },
    /// A health warning, as asyncio's debug mode logs it (the event's task
    /// is the one it concerns, if any).
    Warning {
        /// Which.
        warning: Warning,
    },
    /// The run ended; always the last event.
    RunEnded {
        /// How.
        end: RunEnd,
    },
}

impl EventKind {
    /// The kind's name, as the JSON Lines trace's `event` field says it.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::TaskCreated { .. } => "task_created",
            EventKind::StepStarted { .. } => "step_started",
            EventKind::StepEnded { .. } => "step_ended",
            EventKind::CallbackRun { .. } => "callback_run",
            EventKind::Woken { .. } => "woken",
            EventKind::CancelRequested { .. } => "cancel_requested",
            EventKind::Blocked { .. } => "blocked",
            EventKind::ClockAdvanced { .. } => "clock_advanced",
            EventKind::Output { .. } => "output",
            EventKind::LoopStopped => "loop_stopped",
            EventKind::SectionEntered { .. } => "section_entered",
            EventKind::SectionExited { .. } => "section_exited",
            EventKind::Stuck { .. } => "stuck",
            EventKind::WaitsFor { .. } => "waits_for",
            EventKind::InCycle { .. } => "in_cycle",
            EventKind::Io { .. } => "io",
            EventKind::Net { .. } => "net",
            EventKind::Warning { .. } => "warning",
            EventKind::RunEnded { .. } => "run_ended",
        }
    }
}

/// What happened to a request or a job (see [`EventKind::Io`]). A request
/// arrives, may wait in the queue, is served (started, then finished or
/// failed), or is turned away (rejected); its caller may stop waiting
/// (withdrawn from the queue, or abandoned in service: the work goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoPhase {
    /// The call was made (the request reached the service, the job the pool).
    Arrived,
    /// The client-side rate limit makes it wait for a token (until its
    /// next phase).
    Throttled,
    /// No capacity or worker free: it waits in the FIFO queue.
    Queued,
    /// A worker process is being started for it (a process pool's start-up).
    Spawning {
        /// The worker, from 0.
        worker: u32,
    },
    /// Service began (a server slot, a pool worker).
    Started {
        /// The server slot or pool worker, from 0.
        worker: u32,
    },
    /// CPU-bound work took the CPU (the GIL, or a core) and runs.
    CpuTaken,
    /// CPU-bound work gave the CPU up (switch interval) and waits for it.
    CpuReleased,
    /// Service ended with a result.
    Finished,
    /// Service ended with an error (the error in words).
    Failed {
        /// The error, `ServiceError: api: 500`.
        error: Sym,
    },
    /// Turned away without service (queue full, rate limited).
    Rejected {
        /// The error, `TooManyRequests: api: 429`.
        error: Sym,
    },
    /// The caller stopped waiting while it was queued: it leaves the queue.
    Withdrawn,
    /// The caller stopped waiting while it was served: the work goes on and
    /// its result is dropped.
    Abandoned,
    /// The result reached the loop (`call_soon_threadsafe`, a readable
    /// socket): the caller wakes on the next iteration.
    Delivered,
}

impl IoPhase {
    /// The phase's name in the JSON Lines trace.
    pub fn name(self) -> &'static str {
        match self {
            IoPhase::Arrived => "arrived",
            IoPhase::Throttled => "throttled",
            IoPhase::Queued => "queued",
            IoPhase::Spawning { .. } => "spawning",
            IoPhase::Started { .. } => "started",
            IoPhase::CpuTaken => "cpu_taken",
            IoPhase::CpuReleased => "cpu_released",
            IoPhase::Finished => "finished",
            IoPhase::Failed { .. } => "failed",
            IoPhase::Rejected { .. } => "rejected",
            IoPhase::Withdrawn => "withdrawn",
            IoPhase::Abandoned => "abandoned",
            IoPhase::Delivered => "delivered",
        }
    }
}

/// What happened on a simulated connection (see [`EventKind::Net`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// A connection is being opened from host `from` to `to` (`server:80`).
    Connecting {
        /// The connecting host.
        from: Sym,
        /// The listening address.
        to: Sym,
    },
    /// The handshake completed: both ends can send.
    Connected,
    /// Nobody listens at the address (or a partition is in the way):
    /// `ConnectionRefusedError`.
    Refused,
    /// Bytes left the writer: `forward` from the connecting side to the
    /// listening side, else back.
    Sent {
        /// From the connecting side.
        forward: bool,
    },
    /// Bytes reached the other end's receive buffer (`forward`: the
    /// listening side's).
    Delivered {
        /// To the listening side.
        forward: bool,
    },
    /// Bytes were lost (a partition) and the connection reset.
    Dropped,
    /// One end closed its writing half (FIN): the other end reads EOF.
    Closed,
    /// The connection was reset: reads and writes fail.
    Reset,
    /// Hosts `a` were cut from hosts `b` (their names joined by spaces);
    /// `hold`: their traffic waits for the heal (conn 0).
    Partitioned {
        /// One side.
        a: Sym,
        /// The other side.
        b: Sym,
        /// Traffic held rather than connections reset.
        hold: bool,
    },
    /// Every partition ended (conn 0).
    Healed,
}

impl NetEvent {
    /// The event's name in the JSON Lines trace.
    pub fn name(self) -> &'static str {
        match self {
            NetEvent::Connecting { .. } => "connecting",
            NetEvent::Connected => "connected",
            NetEvent::Refused => "refused",
            NetEvent::Sent { .. } => "sent",
            NetEvent::Delivered { .. } => "delivered",
            NetEvent::Dropped => "dropped",
            NetEvent::Closed => "closed",
            NetEvent::Reset => "reset",
            NetEvent::Partitioned { .. } => "partitioned",
            NetEvent::Healed => "healed",
        }
    }
}

/// The loop's health warnings, as asyncio reports them (in debug mode, or
/// when an object is destroyed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A handle held the loop at least `slow_callback_duration` (100 ms by
    /// default): `Executing <Task …> took 2.000 seconds`.
    SlowStep {
        /// How long, in nanoseconds.
        nanos: u64,
    },
    /// A coroutine was called and never awaited: `RuntimeWarning: coroutine
    /// 'fetch' was never awaited`.
    NeverAwaited {
        /// The call (`fetch(1)`).
        what: Sym,
    },
    /// The task was still pending when the run ended: `Task was destroyed
    /// but it is pending!`.
    PendingAtExit,
    /// The task raised and nobody retrieved its exception (awaited it,
    /// asked `result()` or `exception()`): `Task exception was never
    /// retrieved`.
    ExceptionNeverRetrieved {
        /// The exception, in words.
        error: Sym,
    },
    /// A task left over when the main task ended raised while `asyncio.run`
    /// cancelled it (its `_cancel_all_tasks` asks each for its
    /// `exception()`, so it is not "never retrieved"): `unhandled exception
    /// during asyncio.run() shutdown`.
    UnhandledAtShutdown {
        /// The exception, in words.
        error: Sym,
    },
}

impl Warning {
    /// Its name in the JSON Lines trace and in claims (`warns = "slow_step"`).
    pub fn name(self) -> &'static str {
        match self {
            Warning::SlowStep { .. } => "slow_step",
            Warning::NeverAwaited { .. } => "never_awaited",
            Warning::PendingAtExit => "pending_at_exit",
            Warning::ExceptionNeverRetrieved { .. } => "exception_never_retrieved",
            Warning::UnhandledAtShutdown { .. } => "unhandled_at_shutdown",
        }
    }

    /// The warning in asyncio's words, for the task called `task` (its
    /// display name, `Task-2` or `fetch('A')`), if any.
    pub fn message(self, trace: &Trace, task: Option<&str>) -> String {
        let task = task.unwrap_or("a callback");
        match self {
            Warning::SlowStep { nanos } => format!(
                "Executing <Task {task}> took {:.3} seconds",
                nanos as f64 / 1e9
            ),
            Warning::NeverAwaited { what } => {
                let call = trace.str(what);
                let name = call.split('(').next().unwrap_or(call);
                format!("RuntimeWarning: coroutine '{name}' was never awaited ({call})")
            }
            Warning::PendingAtExit => format!("Task was destroyed but it is pending! ({task})"),
            Warning::ExceptionNeverRetrieved { error } => format!(
                "Task exception was never retrieved ({task}): {}",
                trace.str(error)
            ),
            Warning::UnhandledAtShutdown { error } => format!(
                "unhandled exception during asyncio.run() shutdown ({task}): {}",
                trace.str(error)
            ),
        }
    }

    /// Every warning's name.
    pub const NAMES: [&'static str; 5] = [
        "slow_step",
        "never_awaited",
        "pending_at_exit",
        "exception_never_retrieved",
        "unhandled_at_shutdown",
    ];
}

/// How a run ended, as recorded in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The main task returned.
    Completed,
    /// The main task raised or was cancelled; the error in words.
    Failed {
        /// The error (`ValueError: bad`, `CancelledError`).
        error: Sym,
    },
    /// Nothing could happen any more while tasks were unfinished.
    Deadlock,
    /// A limit was exceeded; which one (`time`, `steps`, `tasks`).
    LimitExceeded {
        /// The limit's name.
        limit: Sym,
    },
}

/// How a task's step ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepEnd {
    /// The task handed control back to the loop, waiting on `on`.
    Suspended {
        /// What it waits on.
        on: WaitOn,
    },
    /// The task's coroutine returned.
    Returned,
    /// The task ended with an error (a panic, or an error result of a
    /// fallible task).
    Raised {
        /// The error, in words.
        error: Sym,
    },
    /// The task ended cancelled.
    Cancelled,
}

/// What a suspended task waits on. Open-ended: primitives, I/O and pools
/// name themselves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WaitOn {
    /// A timer (`sleep`) due at `deadline`.
    Timer {
        /// When the timer is due.
        deadline: Instant,
    },
    /// Another task.
    Task(TaskId),
    /// A low-level future (`SimFuture`, `gather`, `shield`, `wait`, …), named.
    Future {
        /// The future's label.
        what: Sym,
    },
    /// A synchronisation primitive: `kind` is `Lock`, `Semaphore`, `Event`,
    /// `Condition`, `Queue.get`, `Queue.put`, …; `name` says which one.
    Primitive {
        /// `Lock`, `Semaphore`, `Event`, `Condition`, `Queue.get`, `Queue.put`, …
        kind: Sym,
        /// The primitive's name.
        name: Sym,
    },
    /// Simulated I/O or a pool.
    Io {
        /// What is awaited.
        what: Sym,
    },
    /// A bare yield (`sleep(0)`): the step is already back in the ready queue.
    Yield,
    /// A future loopsim does not know (a foreign Rust future).
    Foreign,
}

/// Who caused a wake-up or a cancellation request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Actor {
    /// The loop itself (task creation, shutdown).
    Loop,
    /// A task's step.
    Task(TaskId),
    /// A timer's callback, with its label.
    Timer(Sym),
    /// A `call_soon` callback, with its label.
    Callback(Sym),
}

/// A recorded run: header, interned strings and events.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The header line.
    pub header: TraceHeader,
    /// Interned strings, indexed by [`Sym`].
    pub strings: Vec<String>,
    /// The events in the order they happened.
    pub events: Vec<Event>,
}

impl Trace {
    /// The string behind a symbol.
    pub fn str(&self, sym: Sym) -> &str {
        &self.strings[sym.0 as usize]
    }

    /// A task's name from its `TaskCreated` event: the given name, or the
    /// default `Task-N`.
    pub fn name_of(&self, task: TaskId, name: Option<Sym>) -> std::borrow::Cow<'_, str> {
        match name {
            Some(s) => std::borrow::Cow::Borrowed(self.str(s)),
            None => std::borrow::Cow::Owned(format!("Task-{}", task.0)),
        }
    }

    /// Task names in creation order, read from the `TaskCreated` events.
    pub fn task_names(&self) -> BTreeMap<TaskId, String> {
        self.names_where(|_| true)
    }

    /// The names of the tasks `ids` (a run's few, without naming its
    /// million).
    pub fn names_of(&self, ids: impl IntoIterator<Item = TaskId>) -> BTreeMap<TaskId, String> {
        let wanted: std::collections::BTreeSet<TaskId> = ids.into_iter().collect();
        if wanted.is_empty() {
            return BTreeMap::new();
        }
        self.names_where(|t| wanted.contains(&t))
    }

    /// The names of the tasks `keep` accepts, from their `TaskCreated`
    /// events.
    fn names_where(&self, keep: impl Fn(TaskId) -> bool) -> BTreeMap<TaskId, String> {
        self.events
            .iter()
            .filter_map(|e| match (e.task, e.kind) {
                (Some(t), EventKind::TaskCreated { name, .. }) if keep(t) => {
                    Some((t, self.name_of(t, name).into_owned()))
                }
                _ => None,
            })
            .collect()
    }

    /// The health warnings, in order, each in asyncio's words with its
    /// time (`Executing <Task Task-3> took 2.000 seconds`).
    pub fn warnings(&self) -> Vec<(Instant, String)> {
        let names = self.names_of(self.events.iter().filter_map(|e| match e.kind {
            EventKind::Warning { .. } => e.task,
            _ => None,
        }));
        self.events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Warning { warning } => {
                    let name = e.task.and_then(|t| names.get(&t)).map(String::as_str);
                    Some((e.at, warning.message(self, name)))
                }
                _ => None,
            })
            .collect()
    }

    /// The printed lines, in order, with their time and task.
    pub fn output(&self) -> Vec<(Instant, Option<TaskId>, &str)> {
        self.events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Output { text } => Some((e.at, e.task, self.str(text))),
                _ => None,
            })
            .collect()
    }

    /// The JSON Lines form: header line, then one line per event.
    pub fn to_jsonl(&self) -> Vec<u8> {
        jsonl::write(self)
    }

    /// Reads the JSON Lines form back: `Trace::from_jsonl(&t.to_jsonl())`
    /// writes the same bytes again (strings are interned in the order they
    /// are read, so symbols may be numbered differently).
    ///
    /// # Errors
    ///
    /// A [`ReadError`] naming the line that is not a trace line (another
    /// schema, a missing field, an unknown event).
    pub fn from_jsonl(bytes: &[u8]) -> Result<Trace, ReadError> {
        jsonl::read(bytes)
    }

    /// The compact binary form (`.lstrace`, described in [`Reader`]): a
    /// few bytes an event, what a long run streams to a file.
    pub fn to_binary(&self) -> Vec<u8> {
        binary::write(self)
    }

    /// Reads the binary form back: `Trace::from_binary(&t.to_binary()) == t`.
    ///
    /// # Errors
    ///
    /// A [`ReadError`] naming the event and byte where the bytes stop
    /// making sense, or saying the trace was cut short.
    pub fn from_binary(bytes: &[u8]) -> Result<Trace, ReadError> {
        binary::read(bytes)
    }

    /// Reads either form, told apart by the binary form's magic bytes.
    ///
    /// # Errors
    ///
    /// As [`from_binary`](Trace::from_binary) or
    /// [`from_jsonl`](Trace::from_jsonl).
    pub fn read(bytes: &[u8]) -> Result<Trace, ReadError> {
        if binary::is_binary(bytes) {
            binary::read(bytes)
        } else {
            jsonl::read(bytes)
        }
    }
}

/// The forms a trace is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceFormat {
    /// JSON Lines: a header line, then one JSON object per event
    /// ([`Trace::to_jsonl`]).
    #[default]
    Jsonl,
    /// The compact binary form ([`Trace::to_binary`]).
    Binary,
}

impl TraceFormat {
    /// The form a file's name asks for: `.lstrace` is binary, anything
    /// else JSON Lines.
    pub fn for_path(path: &std::path::Path) -> TraceFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some("lstrace") => TraceFormat::Binary,
            _ => TraceFormat::Jsonl,
        }
    }

    /// The trace in this form.
    pub fn write(self, trace: &Trace) -> Vec<u8> {
        match self {
            TraceFormat::Jsonl => trace.to_jsonl(),
            TraceFormat::Binary => trace.to_binary(),
        }
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn events_stay_compact() {
        assert!(std::mem::size_of::<super::Event>() <= 48);
    }
}
