//! The timeline model: for the loop and for each task, the intervals of
//! virtual time spent in each state, and the wake-ups between them — derived
//! from the trace alone. The SVG timeline and the Chrome trace draw it.
//!
//! Simulated I/O ([`EventKind::Io`]) adds two things:
//! - a caller's wait on a service or pool is split in two: waiting for a
//!   server or worker ([`LaneState::IoQueued`]: queued, rate limited, or
//!   waiting for a process to start) and being served
//!   ([`LaneState::IoServed`]); requests turned away, failed, withdrawn
//!   or abandoned are marks on the caller's lane ([`Lane::io_marks`]);
//! - a [`ResourceLane`] per service or pool, in order of first use: its
//!   load over time ([`Load`]: how many requests hold a server or worker,
//!   how many wait) and one row per server slot or pool worker
//!   ([`WorkerRow`]) with what it does ([`WorkSpan`]: serving a request,
//!   holding the CPU or waiting for it, starting a process).
//!
//! A trace without I/O events gives no resource lanes and no I/O marks.
//!
//! The simulated network ([`EventKind::Net`]) adds three more:
//! - each task's host ([`Lane::host`]): the first host the trace shows it
//!   acting on — the host it connects from, the end of a connection it
//!   writes to, closes or reads from, or the host whose port it accepts on;
//! - message flights ([`Flight`], from `Sent` to `Delivered`, paired FIFO
//!   per connection and direction as `checks::messages` pairs them), with
//!   the writer and the reader;
//! - partition intervals ([`Partition`]), from `Partitioned` to `Healed`.
//!
//! A trace without network events gives no hosts, flights or partitions.

use crate::time::Instant;
use crate::trace::{Actor, EventKind, IoPhase, NetEvent, StepEnd, Sym, TaskId, Trace, WaitOn};
use std::collections::BTreeMap;

/// What a lane is doing during a span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaneState {
    /// A task's step runs (the loop is busy with it).
    Running,
    /// A task is ready, waiting for the loop to pick it (also: its timer is
    /// overdue because the loop is blocked).
    Ready,
    /// Waiting on a timer (`sleep`).
    Timer,
    /// Waiting on another task.
    Task,
    /// Waiting on a future (`gather`, `wait_for`, …).
    Future,
    /// Waiting on an `Event` or a `Condition`.
    Event,
    /// Waiting on a `Queue` (to get an item, or for room to put one).
    Queue,
    /// Waiting on a `Lock`.
    Lock,
    /// Waiting on a `Semaphore`.
    Semaphore,
    /// Waiting on another synchronisation primitive.
    Primitive,
    /// Waiting on I/O or a pool, neither queued nor served (the result is
    /// on its way to the loop; or the trace does not say).
    Io,
    /// Waiting on a service or pool for a server or worker: in its queue,
    /// held back by its rate limit, or while a worker process starts.
    IoQueued,
    /// Waiting on a service or pool while a server or worker serves the
    /// request (from its `started` to its `finished` or `failed`).
    IoServed,
    /// A blocking call holds the loop.
    Blocked,
    /// The loop is idle (the clock jumps).
    Idle,
}

/// An interval of a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Start (virtual time).
    pub from: Instant,
    /// End (virtual time).
    pub to: Instant,
    /// Start, as an index in the trace's events (for the ordinal axis).
    pub from_seq: usize,
    /// End, as an index in the trace's events.
    pub to_seq: usize,
    /// The state.
    pub state: LaneState,
    /// What is awaited, for waits.
    pub label: String,
}

/// A task's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lane {
    /// The task.
    pub task: TaskId,
    /// Its display name (label, or name).
    pub name: String,
    /// When it was created.
    pub created: Instant,
    /// Event index of its creation.
    pub created_seq: usize,
    /// When and how it ended: `returned`, `raised`, `cancelled`.
    pub ended: Option<(Instant, usize, &'static str)>,
    /// Its spans, in order.
    pub spans: Vec<Span>,
    /// Lines it printed: time, event index, text.
    pub outputs: Vec<(Instant, usize, String)>,
    /// If the run deadlocked with this task unfinished: what it waits on and
    /// why that cannot end (`Lock 'b' (held by right)`).
    pub stuck: Option<String>,
    /// What went wrong with its I/O requests and jobs, in order: turned
    /// away, failed, withdrawn, abandoned.
    pub io_marks: Vec<IoMark>,
    /// Its health warnings (a slow step, a coroutine never awaited, an
    /// exception never retrieved, pending at the end): time, event index,
    /// asyncio's words.
    pub warnings: Vec<(Instant, usize, String)>,
    /// The simulated host it acts on, when the trace shows one (see
    /// [`Flight`] for how connection ends are told apart).
    pub host: Option<String>,
}

/// One message (one write) on a simulated connection and its flight.
///
/// The reader (`to_task`) is the task that reads on the receiving end of
/// the connection: of the tasks that acted on that end (connected from it,
/// wrote to it, closed it, or waited to read from it), the last one to act
/// at or before the delivery, or else the first one to act after it. The
/// connecting end is the host named by `Connecting`'s `from`; the listening
/// end is the host of its `to` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flight {
    /// The connection.
    pub conn: u32,
    /// From the connecting end to the listening end.
    pub forward: bool,
    /// Its size.
    pub bytes: u32,
    /// The writer.
    pub from_task: Option<TaskId>,
    /// When it was sent, and the event's index.
    pub sent: (Instant, usize),
    /// When it reached the other end, and the event's index (`None`: lost,
    /// or in flight when the run ended).
    pub delivered: Option<(Instant, usize)>,
    /// The reader (see above), if any task acted on the receiving end.
    pub to_task: Option<TaskId>,
}

/// A partition of the simulated network, from `Partitioned` to the heal
/// (or the run's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// When it began, and the event's index.
    pub from: (Instant, usize),
    /// When it ended (the heal, or the run's end), and the event's index.
    pub to: (Instant, usize),
    /// One side's hosts, joined by spaces.
    pub a: String,
    /// The other side's hosts.
    pub b: String,
    /// Traffic is held until the heal rather than connections reset.
    pub hold: bool,
}

impl Partition {
    /// `partition c3 | server` (`… (held)` when traffic waits).
    pub fn label(&self) -> String {
        let held = if self.hold { " (held)" } else { "" };
        format!("partition {} | {}{held}", self.a, self.b)
    }
}

/// Something that happened to a request or job at one instant, drawn as a
/// mark: on its caller's lane and on its resource's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoMark {
    /// When.
    pub at: Instant,
    /// Event index.
    pub seq: usize,
    /// The service or pool.
    pub resource: String,
    /// The request's or job's number at the resource.
    pub id: u32,
    /// The caller, if any.
    pub caller: Option<TaskId>,
    /// What happened.
    pub kind: IoMarkKind,
}

/// What an [`IoMark`] shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoMarkKind {
    /// Turned away without service (queue full, rate limited), with the
    /// error.
    Rejected(String),
    /// Served, but ended with an error, with the error.
    Failed(String),
    /// The caller stopped waiting while it was queued: it left the queue.
    Withdrawn,
    /// The caller stopped waiting while it was served: the work goes on,
    /// its result dropped.
    Abandoned,
}

impl IoMark {
    /// True for a rejection or a failure (an error reaches the caller).
    pub fn is_error(&self) -> bool {
        matches!(self.kind, IoMarkKind::Rejected(_) | IoMarkKind::Failed(_))
    }

    /// A short label: `api #3 rejected: TooManyRequests`, `api #1
    /// abandoned`.
    pub fn label(&self) -> String {
        // The error's class: what comes before its first colon.
        let class = |e: &str| e.split(':').next().unwrap_or(e).trim().to_string();
        let (r, id) = (&self.resource, self.id);
        match &self.kind {
            IoMarkKind::Rejected(e) => format!("{r} #{id} rejected: {}", class(e)),
            IoMarkKind::Failed(e) => format!("{r} #{id} failed: {}", class(e)),
            IoMarkKind::Withdrawn => format!("{r} #{id} withdrawn"),
            IoMarkKind::Abandoned => format!("{r} #{id} abandoned"),
        }
    }
}

/// A service or pool: its load over time and what each server slot or
/// worker does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceLane {
    /// The service's or pool's name (`api`, `threads`).
    pub name: String,
    /// How many requests or jobs reached it.
    pub requests: u32,
    /// Its load, as a step function: the intervals during which some
    /// request holds a server or worker or waits for one, in order, each
    /// with its counts (equal neighbours merged; idle intervals left out).
    pub load: Vec<Load>,
    /// One row per server slot or worker that served something, in order
    /// of number (in a run's own trace, 0 to the highest one used).
    pub workers: Vec<WorkerRow>,
    /// Marks for its requests' and jobs' mishaps, in order.
    pub marks: Vec<IoMark>,
}

impl ResourceLane {
    /// The most requests that held a server or worker at once.
    pub fn max_busy(&self) -> u32 {
        self.load.iter().map(|l| l.busy).max().unwrap_or(0)
    }

    /// The most requests that waited at once.
    pub fn max_waiting(&self) -> u32 {
        self.load.iter().map(|l| l.waiting).max().unwrap_or(0)
    }
}

/// An interval of constant load at a resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    /// Start (virtual time).
    pub from: Instant,
    /// End (virtual time).
    pub to: Instant,
    /// Start, as an event index.
    pub from_seq: usize,
    /// End, as an event index.
    pub to_seq: usize,
    /// Requests or jobs holding a server or worker (served, or starting
    /// its process).
    pub busy: u32,
    /// Requests or jobs waiting for one (queued, or held back by the rate
    /// limit).
    pub waiting: u32,
}

/// A server slot's or pool worker's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerRow {
    /// The slot's or worker's number, from 0.
    pub worker: u32,
    /// What it did, in order (idle time is left out).
    pub spans: Vec<WorkSpan>,
}

/// An interval during which a worker (or server slot) does one thing for
/// one request or job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkSpan {
    /// Start (virtual time).
    pub from: Instant,
    /// End (virtual time).
    pub to: Instant,
    /// Start, as an event index.
    pub from_seq: usize,
    /// End, as an event index.
    pub to_seq: usize,
    /// What the worker does.
    pub state: WorkState,
    /// The request's or job's number at the resource.
    pub id: u32,
    /// The task that waits for it, if any.
    pub caller: Option<TaskId>,
    /// Its caller had stopped waiting: the result will be dropped.
    pub abandoned: bool,
}

/// What a worker or server slot does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkState {
    /// A worker process starts for the job (a process pool's start-up).
    Starting,
    /// Serving a request, or running a job that needs no CPU (blocking
    /// I/O).
    Serving,
    /// CPU-bound work holds the CPU (the GIL, or a core).
    OnCpu,
    /// CPU-bound work waits for the CPU (the GIL, or a core).
    WaitingForCpu,
}

/// A wake-up: who made the task ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wake {
    /// When.
    pub at: Instant,
    /// Event index.
    pub seq: usize,
    /// The waker: a task, or `None` for the loop (a timer or callback).
    pub from: Option<TaskId>,
    /// The woken task.
    pub to: TaskId,
}

/// Every lane of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lanes {
    /// The loop's lane: `Running` (a handle runs), `Blocked`, `Idle`.
    pub loop_spans: Vec<Span>,
    /// One lane per task, in creation order.
    pub tasks: Vec<Lane>,
    /// Wake-ups, in order.
    pub wakes: Vec<Wake>,
    /// The time of the last event.
    pub end: Instant,
    /// The number of events (the ordinal axis' length).
    pub events: usize,
    /// The deadlock, if the run ended in one.
    pub deadlock: Option<Deadlock>,
    /// One lane per service or pool, in order of first use; empty when
    /// the run used none.
    pub resources: Vec<ResourceLane>,
    /// Health warnings about no task (a slow callback): drawn on the loop's
    /// lane.
    pub loop_warnings: Vec<(Instant, usize, String)>,
    /// Messages on simulated connections, in the order they were sent;
    /// empty when the run used no network.
    pub messages: Vec<Flight>,
    /// Network partitions, in order.
    pub partitions: Vec<Partition>,
}

/// How a run's deadlock is drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadlock {
    /// Tasks left stuck.
    pub stuck: usize,
    /// The wait-for cycle's task names, in order, the first repeated at the
    /// end (`left`, `right`, `left`); empty when there is no cycle.
    pub cycle: Vec<String>,
}

impl std::fmt::Display for Deadlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.cycle.is_empty() {
            let s = if self.stuck == 1 { "" } else { "s" };
            write!(
                f,
                "deadlock: {} task{s} stuck, no wait-for cycle",
                self.stuck
            )
        } else {
            write!(f, "deadlock: {}", self.cycle.join(" → "))
        }
    }
}

fn wait_state(trace: &Trace, on: &WaitOn) -> LaneState {
    match on {
        WaitOn::Primitive { kind, .. } => primitive_state(trace.str(*kind)),
        WaitOn::Timer { .. } => LaneState::Timer,
        WaitOn::Task(_) => LaneState::Task,
        WaitOn::Future { .. } => LaneState::Future,
        WaitOn::Io { .. } => LaneState::Io,
        WaitOn::Yield => LaneState::Ready,
        WaitOn::Foreign => LaneState::Future,
    }
}

/// The state of a wait on a primitive of `kind` (`Lock`, `Queue.get`, …).
fn primitive_state(kind: &str) -> LaneState {
    match kind.split('.').next().unwrap_or(kind) {
        "Event" | "Condition" => LaneState::Event,
        "Queue" => LaneState::Queue,
        "Lock" => LaneState::Lock,
        "Semaphore" | "BoundedSemaphore" => LaneState::Semaphore,
        _ => LaneState::Primitive,
    }
}

impl LaneState {
    /// What a lane in this state does, in words (`waiting on a lock`).
    pub fn words(&self) -> &'static str {
        match self {
            LaneState::Running => "running",
            LaneState::Ready => "ready, waiting for the loop",
            LaneState::Timer => "waiting on a timer",
            LaneState::Task => "waiting on a task",
            LaneState::Future => "waiting on a future",
            LaneState::Event => "waiting on an event",
            LaneState::Queue => "waiting on a queue",
            LaneState::Lock => "waiting on a lock",
            LaneState::Semaphore => "waiting on a semaphore",
            LaneState::Primitive => "waiting on a primitive",
            LaneState::Io => "waiting on I/O",
            LaneState::IoQueued => "I/O: queued",
            LaneState::IoServed => "I/O: served",
            LaneState::Blocked => "blocked: a blocking call holds the loop",
            LaneState::Idle => "loop idle",
        }
    }
}

struct Open {
    from: Instant,
    from_seq: usize,
    state: LaneState,
    label: String,
    deadline: Option<Instant>,
    /// For a wait on I/O: the awaited service or pool.
    io: Option<Sym>,
}

/// Builds the lanes of a trace.
pub fn lanes(trace: &Trace) -> Lanes {
    let mut tasks: Vec<Lane> = Vec::new();
    let mut open: Vec<Option<Open>> = Vec::new();
    let mut woke_while_running: Vec<bool> = Vec::new();
    let mut loop_spans = Vec::new();
    let mut wakes = Vec::new();
    let mut step_start: Option<(Instant, usize)> = None;
    let mut deadlock: Option<Deadlock> = None;
    let mut loop_warnings = Vec::new();
    let mut reqs: Vec<Vec<CallerReq>> = Vec::new();
    let mut resources: Vec<ResBuild> = Vec::new();
    let mut resource_of: BTreeMap<Sym, usize> = BTreeMap::new();
    let idx = |t: TaskId| t.0 as usize - 1;
    let close = |lane: &mut Lane, o: Option<Open>, at: Instant, seq: usize| {
        if let Some(o) = o {
            // A timer that fired late (the loop was blocked): waiting until
            // the deadline, then ready but waiting for the loop.
            if let Some(d) = o.deadline.filter(|d| *d < at && *d >= o.from) {
                lane.spans.push(Span {
                    from: o.from,
                    to: d,
                    from_seq: o.from_seq,
                    to_seq: seq,
                    state: o.state,
                    label: o.label,
                });
                lane.spans.push(Span {
                    from: d,
                    to: at,
                    from_seq: seq,
                    to_seq: seq,
                    state: LaneState::Ready,
                    label: "overdue: the loop was blocked".into(),
                });
            } else {
                lane.spans.push(Span {
                    from: o.from,
                    to: at,
                    from_seq: o.from_seq,
                    to_seq: seq,
                    state: o.state,
                    label: o.label,
                });
            }
        }
    };
    for (seq, e) in trace.events.iter().enumerate() {
        let at = e.at;
        match e.kind {
            EventKind::TaskCreated { name, label, .. } => {
                let Some(t) = e.task else { continue };
                let name = match label {
                    Some(l) => trace.str(l).to_string(),
                    None => trace.name_of(t, name).into_owned(),
                };
                tasks.push(Lane {
                    task: t,
                    name,
                    created: at,
                    created_seq: seq,
                    ended: None,
                    spans: Vec::new(),
                    outputs: Vec::new(),
                    stuck: None,
                    io_marks: Vec::new(),
                    warnings: Vec::new(),
                    host: None,
                });
                open.push(Some(Open {
                    from: at,
                    from_seq: seq,
                    state: LaneState::Ready,
                    label: String::new(),
                    deadline: None,
                    io: None,
                }));
                woke_while_running.push(false);
                reqs.push(Vec::new());
            }
            EventKind::StepStarted { .. } => {
                let Some(t) = e.task else { continue };
                let i = idx(t);
                let o = open[i].take();
                close(&mut tasks[i], o, at, seq);
                open[i] = Some(Open {
                    from: at,
                    from_seq: seq,
                    state: LaneState::Running,
                    label: String::new(),
                    deadline: None,
                    io: None,
                });
                woke_while_running[i] = false;
                step_start = Some((at, seq));
            }
            EventKind::StepEnded { end } => {
                let Some(t) = e.task else { continue };
                let i = idx(t);
                let o = open[i].take();
                close(&mut tasks[i], o, at, seq);
                if let Some((from, from_seq)) = step_start.take() {
                    loop_spans.push(Span {
                        from,
                        to: at,
                        from_seq,
                        to_seq: seq,
                        state: LaneState::Running,
                        label: tasks[i].name.clone(),
                    });
                }
                match end {
                    StepEnd::Suspended { on } => {
                        let io = match on {
                            WaitOn::Io { what } => Some(what),
                            _ => None,
                        };
                        let (state, label) = if woke_while_running[i] {
                            (LaneState::Ready, String::new())
                        } else {
                            match on {
                                WaitOn::Io { what } => io_wait(trace, &reqs[i], what)
                                    .unwrap_or_else(|| {
                                        (wait_state(trace, &on), wait_label(trace, &on, at))
                                    }),
                                // A rate-limited call sleeps for its token.
                                WaitOn::Timer { .. } => {
                                    throttled(trace, &reqs[i]).unwrap_or_else(|| {
                                        (wait_state(trace, &on), wait_label(trace, &on, at))
                                    })
                                }
                                _ => (wait_state(trace, &on), wait_label(trace, &on, at)),
                            }
                        };
                        let deadline = match on {
                            WaitOn::Timer { deadline } => Some(deadline),
                            _ => None,
                        };
                        open[i] = Some(Open {
                            from: at,
                            from_seq: seq,
                            state,
                            label,
                            deadline,
                            io,
                        });
                    }
                    StepEnd::Returned => tasks[i].ended = Some((at, seq, "returned")),
                    StepEnd::Raised { .. } => tasks[i].ended = Some((at, seq, "raised")),
                    StepEnd::Cancelled => tasks[i].ended = Some((at, seq, "cancelled")),
                }
            }
            EventKind::Woken { by } => {
                let Some(t) = e.task else { continue };
                let i = idx(t);
                let running = open[i]
                    .as_ref()
                    .is_some_and(|o| o.state == LaneState::Running);
                if running {
                    woke_while_running[i] = true;
                } else {
                    let o = open[i].take();
                    close(&mut tasks[i], o, at, seq);
                    open[i] = Some(Open {
                        from: at,
                        from_seq: seq,
                        state: LaneState::Ready,
                        label: String::new(),
                        deadline: None,
                        io: None,
                    });
                }
                let from = match by {
                    Actor::Task(w) if w != t => Some(w),
                    _ => None,
                };
                if !(running && from.is_none()) {
                    wakes.push(Wake {
                        at,
                        seq,
                        from,
                        to: t,
                    });
                }
            }
            EventKind::Blocked { nanos } => {
                let to = Instant::from_nanos(at.as_nanos().saturating_add(nanos));
                loop_spans.push(Span {
                    from: at,
                    to,
                    from_seq: seq,
                    to_seq: seq + 1,
                    state: LaneState::Blocked,
                    label: "blocking call".into(),
                });
                if let Some(t) = e.task {
                    // Inside the task's running step: drawn over it.
                    tasks[idx(t)].spans.push(Span {
                        from: at,
                        to,
                        from_seq: seq,
                        to_seq: seq + 1,
                        state: LaneState::Blocked,
                        label: "blocking call".into(),
                    });
                }
            }
            EventKind::ClockAdvanced { from } => loop_spans.push(Span {
                from,
                to: at,
                from_seq: seq,
                to_seq: seq,
                state: LaneState::Idle,
                label: "idle".into(),
            }),
            EventKind::Warning { warning } => {
                let lane = e
                    .task
                    .and_then(|t| (t.0 as usize).checked_sub(1))
                    .filter(|i| *i < tasks.len());
                let name = lane.map(|i| tasks[i].name.clone());
                let text = warning.message(trace, name.as_deref());
                match lane {
                    Some(i) => tasks[i].warnings.push((at, seq, text)),
                    None => loop_warnings.push((at, seq, text)),
                }
            }
            EventKind::Output { text } => {
                if let Some(t) = e.task {
                    tasks[idx(t)]
                        .outputs
                        .push((at, seq, trace.str(text).to_string()));
                }
            }
            EventKind::Stuck { what, why } => {
                if let Some(t) = e.task {
                    let what = trace.str(what);
                    tasks[idx(t)].stuck = Some(match why {
                        Some(why) => format!("{what} ({})", trace.str(why)),
                        None => what.to_string(),
                    });
                    let d = deadlock.get_or_insert_with(|| Deadlock {
                        stuck: 0,
                        cycle: Vec::new(),
                    });
                    d.stuck += 1;
                }
            }
            EventKind::InCycle { .. } => {
                if let (Some(t), Some(d)) = (e.task, deadlock.as_mut()) {
                    d.cycle.push(tasks[idx(t)].name.clone());
                }
            }
            EventKind::Io {
                resource,
                id,
                phase,
            } => {
                let r = *resource_of.entry(resource).or_insert_with(|| {
                    resources.push(ResBuild::new(trace.str(resource)));
                    resources.len() - 1
                });
                let mark = resources[r].event(e.task, id, phase, at, seq, trace);
                let Some(i) = e
                    .task
                    .and_then(|t| (t.0 as usize).checked_sub(1))
                    .filter(|i| *i < tasks.len() && *i < reqs.len())
                else {
                    continue;
                };
                if let Some(m) = mark {
                    tasks[i].io_marks.push(m);
                }
                caller_event(&mut reqs[i], resource, id, phase);
                // A wait on I/O follows its request: queued, then served.
                let Some(o) = open[i].as_ref() else { continue };
                let Some(what) = o.io else { continue };
                if !matches!(
                    o.state,
                    LaneState::Io | LaneState::IoQueued | LaneState::IoServed
                ) {
                    continue;
                }
                if let Some((state, label)) = io_wait(trace, &reqs[i], what)
                    && (state != o.state || label != o.label)
                {
                    let o = open[i].take();
                    close(&mut tasks[i], o, at, seq);
                    open[i] = Some(Open {
                        from: at,
                        from_seq: seq,
                        state,
                        label,
                        deadline: None,
                        io: Some(what),
                    });
                }
            }
            _ => {}
        }
    }
    if let Some(d) = deadlock.as_mut()
        && let Some(first) = d.cycle.first().cloned()
    {
        d.cycle.push(first);
    }
    let end = trace.events.last().map(|e| e.at).unwrap_or(Instant::ZERO);
    let n = trace.events.len();
    for (i, o) in open.into_iter().enumerate() {
        close(&mut tasks[i], o, end, n);
    }
    let (messages, partitions) = network(trace, &mut tasks, end, n);
    Lanes {
        loop_spans,
        tasks,
        wakes,
        end,
        events: n,
        deadlock,
        resources: resources.into_iter().map(|r| r.finish(end, n)).collect(),
        loop_warnings,
        messages,
        partitions,
    }
}

/// A connection as its `Connecting` event names it.
struct ConnEnds {
    /// The connecting host.
    from: String,
    /// The listening host.
    to: String,
    /// The connecting task.
    connector: Option<TaskId>,
}

/// The host of an address `host:port`.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr)
}

/// Hosts, message flights and partitions (see the module's notes).
fn network(
    trace: &Trace,
    tasks: &mut [Lane],
    end: Instant,
    n: usize,
) -> (Vec<Flight>, Vec<Partition>) {
    let mut conns: BTreeMap<u32, ConnEnds> = BTreeMap::new();
    // Per connection end (conn, connecting end?): who acted there, in order.
    let mut acts: BTreeMap<(u32, bool), Vec<(usize, TaskId)>> = BTreeMap::new();
    let mut flights: Vec<Flight> = Vec::new();
    let mut waiting: BTreeMap<(u32, bool), std::collections::VecDeque<usize>> = BTreeMap::new();
    let mut partitions: Vec<Partition> = Vec::new();
    let mut open_parts: Vec<usize> = Vec::new();
    let set_host = |tasks: &mut [Lane], t: TaskId, host: &str| {
        let lane = (t.0 as usize).checked_sub(1).filter(|i| *i < tasks.len());
        if let Some(i) = lane
            && tasks[i].host.is_none()
        {
            tasks[i].host = Some(host.to_string());
        }
    };
    // Which end of `conn` a task acts on when the event does not say: the
    // one it acted on before, else the connecting end if it connected.
    let side_of = |acts: &BTreeMap<(u32, bool), Vec<(usize, TaskId)>>,
                   conns: &BTreeMap<u32, ConnEnds>,
                   conn: u32,
                   t: TaskId|
     -> Option<bool> {
        for side in [true, false] {
            if acts
                .get(&(conn, side))
                .is_some_and(|v| v.iter().any(|(_, x)| *x == t))
            {
                return Some(side);
            }
        }
        match conns.get(&conn) {
            Some(c) if c.connector == Some(t) => Some(true),
            Some(_) => Some(false),
            None => None,
        }
    };
    for (seq, e) in trace.events.iter().enumerate() {
        match e.kind {
            EventKind::Net { conn, bytes, what } => match what {
                NetEvent::Connecting { from, to } => {
                    let (from, to) = (trace.str(from), host_of(trace.str(to)));
                    conns.insert(
                        conn,
                        ConnEnds {
                            from: from.to_string(),
                            to: to.to_string(),
                            connector: e.task,
                        },
                    );
                    if let Some(t) = e.task {
                        set_host(tasks, t, from);
                        acts.entry((conn, true)).or_default().push((seq, t));
                    }
                }
                NetEvent::Sent { forward } => {
                    if let Some(t) = e.task {
                        if let Some(c) = conns.get(&conn) {
                            set_host(tasks, t, if forward { &c.from } else { &c.to });
                        }
                        acts.entry((conn, forward)).or_default().push((seq, t));
                    }
                    waiting
                        .entry((conn, forward))
                        .or_default()
                        .push_back(flights.len());
                    flights.push(Flight {
                        conn,
                        forward,
                        bytes,
                        from_task: e.task,
                        sent: (e.at, seq),
                        delivered: None,
                        to_task: None,
                    });
                }
                NetEvent::Delivered { forward } => {
                    if let Some(i) = waiting
                        .get_mut(&(conn, forward))
                        .and_then(std::collections::VecDeque::pop_front)
                    {
                        flights[i].delivered = Some((e.at, seq));
                    }
                }
                NetEvent::Closed => {
                    if let Some(t) = e.task
                        && let Some(side) = side_of(&acts, &conns, conn, t)
                    {
                        if let Some(c) = conns.get(&conn) {
                            set_host(tasks, t, if side { &c.from } else { &c.to });
                        }
                        acts.entry((conn, side)).or_default().push((seq, t));
                    }
                }
                NetEvent::Partitioned { a, b, hold } => {
                    open_parts.push(partitions.len());
                    partitions.push(Partition {
                        from: (e.at, seq),
                        to: (end, n),
                        a: trace.str(a).to_string(),
                        b: trace.str(b).to_string(),
                        hold,
                    });
                }
                NetEvent::Healed => {
                    for i in open_parts.drain(..) {
                        partitions[i].to = (e.at, seq);
                    }
                }
                _ => {}
            },
            EventKind::StepEnded {
                end:
                    StepEnd::Suspended {
                        on: WaitOn::Io { what },
                    },
            } => {
                let Some(t) = e.task else { continue };
                let what = trace.str(what);
                if let Some(addr) = what.strip_prefix("accept ") {
                    set_host(tasks, t, host_of(addr));
                    continue;
                }
                // `recv #3 from server`, `send #3 (buffer full)`.
                let Some(rest) = what
                    .strip_prefix("recv #")
                    .or_else(|| what.strip_prefix("send #"))
                else {
                    continue;
                };
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let Ok(conn) = digits.parse::<u32>() else {
                    continue;
                };
                let Some(c) = conns.get(&conn) else { continue };
                let peer = rest.split_once(" from ").map(|(_, p)| p);
                let side = match peer {
                    Some(p) if p == c.to && p != c.from => Some(true),
                    Some(p) if p == c.from && p != c.to => Some(false),
                    _ => side_of(&acts, &conns, conn, t),
                };
                if let Some(side) = side {
                    let host = if side { c.from.clone() } else { c.to.clone() };
                    set_host(tasks, t, &host);
                    acts.entry((conn, side)).or_default().push((seq, t));
                }
            }
            _ => {}
        }
    }
    for f in &mut flights {
        let Some((_, at)) = f.delivered else { continue };
        // The receiving end: the listening one for forward messages.
        let Some(v) = acts.get(&(f.conn, !f.forward)) else {
            continue;
        };
        f.to_task = v
            .iter()
            .rev()
            .find(|(s, _)| *s <= at)
            .or_else(|| v.iter().find(|(s, _)| *s > at))
            .map(|(_, t)| *t);
    }
    (flights, partitions)
}

/// Where a caller's request or job is, as its lane sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReqPhase {
    /// Arrived, queued, or waiting for its worker process to start.
    Waiting,
    /// Held back by the rate limit.
    Throttled,
    /// A server or worker serves it.
    Served,
    /// Served; its result is on its way to the loop.
    Done,
}

/// A request or job whose caller still waits for it.
struct CallerReq {
    resource: Sym,
    id: u32,
    phase: ReqPhase,
}

/// Follows a caller's requests: those it still waits for, and where each is.
fn caller_event(reqs: &mut Vec<CallerReq>, resource: Sym, id: u32, phase: IoPhase) {
    let pos = reqs
        .iter()
        .position(|r| r.resource == resource && r.id == id);
    let set = |reqs: &mut Vec<CallerReq>, p: ReqPhase| match pos {
        Some(k) => reqs[k].phase = p,
        None => reqs.push(CallerReq {
            resource,
            id,
            phase: p,
        }),
    };
    match phase {
        IoPhase::Arrived | IoPhase::Queued | IoPhase::Spawning { .. } => {
            set(reqs, ReqPhase::Waiting)
        }
        IoPhase::Throttled => set(reqs, ReqPhase::Throttled),
        IoPhase::Started { .. } => set(reqs, ReqPhase::Served),
        IoPhase::CpuTaken | IoPhase::CpuReleased => {}
        IoPhase::Finished | IoPhase::Failed { .. } => {
            if let Some(k) = pos {
                reqs[k].phase = ReqPhase::Done;
            }
        }
        IoPhase::Rejected { .. } | IoPhase::Withdrawn | IoPhase::Abandoned | IoPhase::Delivered => {
            if let Some(k) = pos {
                reqs.remove(k);
            }
        }
    }
}

/// The state and label of a wait on the service or pool `what`, from the
/// caller's requests there (any request, if none is there): served,
/// waiting, or with its result on the way. `None` when it has none.
fn io_wait(trace: &Trace, reqs: &[CallerReq], what: Sym) -> Option<(LaneState, String)> {
    let name = trace.str(what);
    let at_what = reqs.iter().any(|r| trace.str(r.resource) == name);
    let pick = |p: ReqPhase| {
        reqs.iter()
            .filter(|r| !at_what || trace.str(r.resource) == name)
            .find(|r| r.phase == p)
            .map(|r| format!("{} #{}", trace.str(r.resource), r.id))
    };
    if let Some(l) = pick(ReqPhase::Served) {
        Some((LaneState::IoServed, l))
    } else if let Some(l) = pick(ReqPhase::Waiting) {
        Some((LaneState::IoQueued, l))
    } else if let Some(l) = pick(ReqPhase::Throttled) {
        Some((LaneState::IoQueued, format!("{l} (rate limited)")))
    } else {
        pick(ReqPhase::Done).map(|l| (LaneState::Io, format!("{l}: result on its way")))
    }
}

/// A sleep that waits for a rate limit's token: queued at its service.
fn throttled(trace: &Trace, reqs: &[CallerReq]) -> Option<(LaneState, String)> {
    reqs.iter()
        .rev()
        .find(|r| r.phase == ReqPhase::Throttled)
        .map(|r| {
            (
                LaneState::IoQueued,
                format!("{} #{} (rate limited)", trace.str(r.resource), r.id),
            )
        })
}

/// A request or job, as its resource's lane sees it.
struct JobBuild {
    caller: Option<TaskId>,
    /// Counted as waiting.
    waiting: bool,
    /// Counted as busy (it holds a server or worker).
    holds: bool,
    worker: u32,
    /// The open work span: start, event index, state.
    open: Option<(Instant, usize, WorkState)>,
    abandoned: bool,
}

/// A resource's lane while the trace is read.
struct ResBuild {
    lane: ResourceLane,
    jobs: BTreeMap<u32, JobBuild>,
    busy: u32,
    waiting: u32,
    /// When the counts last changed.
    since: (Instant, usize),
}

impl ResBuild {
    fn new(name: &str) -> ResBuild {
        ResBuild {
            lane: ResourceLane {
                name: name.to_string(),
                requests: 0,
                load: Vec::new(),
                workers: Vec::new(),
                marks: Vec::new(),
            },
            jobs: BTreeMap::new(),
            busy: 0,
            waiting: 0,
            since: (Instant::ZERO, 0),
        }
    }

    /// Ends the current load interval at `at`; call before changing the
    /// counts.
    fn load_changes(&mut self, at: Instant, seq: usize) {
        let (from, from_seq) = self.since;
        if (self.busy > 0 || self.waiting > 0) && from_seq < seq {
            match self.lane.load.last_mut() {
                Some(l)
                    if l.to_seq == from_seq && l.busy == self.busy && l.waiting == self.waiting =>
                {
                    l.to = at;
                    l.to_seq = seq;
                }
                _ => self.lane.load.push(Load {
                    from,
                    to: at,
                    from_seq,
                    to_seq: seq,
                    busy: self.busy,
                    waiting: self.waiting,
                }),
            }
        }
        self.since = (at, seq);
    }

    /// Closes job `id`'s open work span at `at`, as `state` if given.
    fn close(&mut self, id: u32, at: Instant, seq: usize, state: Option<WorkState>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        let Some((from, from_seq, open)) = job.open.take() else {
            return;
        };
        // A row per worker that served something, in worker order: found
        // by search, not indexed by number (a trace read from a file may
        // name worker 4,000,000,000; a row for every number below it would
        // exhaust memory).
        let rows = &mut self.lane.workers;
        let w = match rows.binary_search_by_key(&job.worker, |r| r.worker) {
            Ok(w) => w,
            Err(w) => {
                rows.insert(
                    w,
                    WorkerRow {
                        worker: job.worker,
                        spans: Vec::new(),
                    },
                );
                w
            }
        };
        rows[w].spans.push(WorkSpan {
            from,
            to: at,
            from_seq,
            to_seq: seq,
            state: state.unwrap_or(open),
            id,
            caller: job.caller,
            abandoned: job.abandoned,
        });
    }

    fn open(&mut self, id: u32, at: Instant, seq: usize, state: WorkState) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.open = Some((at, seq, state));
        }
    }

    /// Stops counting job `id` as waiting and as busy.
    fn leave(&mut self, id: u32, at: Instant, seq: usize) {
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let (waiting, holds) = (job.waiting, job.holds);
        if waiting || holds {
            self.load_changes(at, seq);
            self.waiting -= u32::from(waiting);
            self.busy -= u32::from(holds);
        }
        if let Some(job) = self.jobs.get_mut(&id) {
            job.waiting = false;
            job.holds = false;
        }
    }

    /// Reads one of its events; returns the mark it makes, if any.
    fn event(
        &mut self,
        caller: Option<TaskId>,
        id: u32,
        phase: IoPhase,
        at: Instant,
        seq: usize,
        trace: &Trace,
    ) -> Option<IoMark> {
        match phase {
            IoPhase::Arrived => self.lane.requests += 1,
            // After its end: nothing left to draw.
            IoPhase::Delivered => return None,
            _ => {}
        }
        let job = self.jobs.entry(id).or_insert(JobBuild {
            caller,
            waiting: false,
            holds: false,
            worker: 0,
            open: None,
            abandoned: false,
        });
        let (waiting, holds, open) = (job.waiting, job.holds, job.open.map(|(_, _, s)| s));
        let kind = match phase {
            IoPhase::Arrived | IoPhase::Delivered => None,
            IoPhase::Throttled | IoPhase::Queued => {
                if !waiting {
                    job.waiting = true;
                    self.load_changes(at, seq);
                    self.waiting += 1;
                }
                None
            }
            IoPhase::Spawning { worker } | IoPhase::Started { worker } => {
                job.waiting = false;
                job.holds = true;
                if waiting || !holds {
                    self.load_changes(at, seq);
                    self.waiting -= u32::from(waiting);
                    self.busy += u32::from(!holds);
                }
                self.close(id, at, seq, None);
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.worker = worker;
                }
                let state = match phase {
                    IoPhase::Spawning { .. } => WorkState::Starting,
                    _ => WorkState::Serving,
                };
                self.open(id, at, seq, state);
                None
            }
            IoPhase::CpuTaken => {
                // Until then, CPU-bound work waited for the CPU.
                self.close(id, at, seq, Some(WorkState::WaitingForCpu));
                self.open(id, at, seq, WorkState::OnCpu);
                None
            }
            IoPhase::CpuReleased => {
                self.close(id, at, seq, None);
                self.open(id, at, seq, WorkState::WaitingForCpu);
                None
            }
            IoPhase::Finished | IoPhase::Failed { .. } => {
                self.close(id, at, seq, None);
                self.leave(id, at, seq);
                self.jobs.remove(&id);
                match phase {
                    IoPhase::Failed { error } => {
                        Some(IoMarkKind::Failed(trace.str(error).to_string()))
                    }
                    _ => None,
                }
            }
            IoPhase::Rejected { error } => {
                self.leave(id, at, seq);
                self.jobs.remove(&id);
                Some(IoMarkKind::Rejected(trace.str(error).to_string()))
            }
            IoPhase::Withdrawn => {
                self.close(id, at, seq, None);
                self.leave(id, at, seq);
                self.jobs.remove(&id);
                Some(IoMarkKind::Withdrawn)
            }
            IoPhase::Abandoned => {
                // The work goes on; what follows is drawn as abandoned.
                self.close(id, at, seq, None);
                if let Some(job) = self.jobs.get_mut(&id) {
                    job.abandoned = true;
                }
                if let Some(s) = open {
                    self.open(id, at, seq, s);
                }
                Some(IoMarkKind::Abandoned)
            }
        };
        let m = kind.map(|kind| IoMark {
            at,
            seq,
            resource: self.lane.name.clone(),
            id,
            caller,
            kind,
        })?;
        self.lane.marks.push(m.clone());
        Some(m)
    }

    /// The lane, with what is still open closed at the trace's end.
    fn finish(mut self, end: Instant, n: usize) -> ResourceLane {
        let ids: Vec<u32> = self.jobs.keys().copied().collect();
        for id in ids {
            self.close(id, end, n, None);
        }
        self.load_changes(end, n);
        self.lane
    }
}

fn wait_label(trace: &Trace, on: &WaitOn, at: Instant) -> String {
    match on {
        WaitOn::Timer { deadline } => format!(
            "sleep({})",
            crate::time::format_nanos(deadline.as_nanos().saturating_sub(at.as_nanos()))
        ),
        WaitOn::Task(t) => format!("task #{}", t.0),
        WaitOn::Future { what } => trace.str(*what).to_string(),
        WaitOn::Primitive { kind, name } => format!("{} {}", trace.str(*kind), trace.str(*name)),
        WaitOn::Io { what } => trace.str(*what).to_string(),
        WaitOn::Yield => "yield".into(),
        WaitOn::Foreign => "foreign future".into(),
    }
}
