//! The timeline model: for the loop and for each task, the intervals of
//! virtual time spent in each state, and the wake-ups between them — derived
//! from the trace alone. The SVG timeline and the Chrome trace draw it.

use crate::time::Instant;
use crate::trace::{Actor, EventKind, StepEnd, TaskId, Trace, WaitOn};

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
    /// Waiting on a lock, semaphore, event, condition or queue.
    Primitive,
    /// Waiting on I/O or a pool.
    Io,
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

fn wait_state(on: &WaitOn) -> LaneState {
    match on {
        WaitOn::Timer { .. } => LaneState::Timer,
        WaitOn::Task(_) => LaneState::Task,
        WaitOn::Future { .. } => LaneState::Future,
        WaitOn::Primitive { .. } => LaneState::Primitive,
        WaitOn::Io { .. } => LaneState::Io,
        WaitOn::Yield => LaneState::Ready,
        WaitOn::Foreign => LaneState::Future,
    }
}

struct Open {
    from: Instant,
    from_seq: usize,
    state: LaneState,
    label: String,
    deadline: Option<Instant>,
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
                });
                open.push(Some(Open {
                    from: at,
                    from_seq: seq,
                    state: LaneState::Ready,
                    label: String::new(),
                    deadline: None,
                }));
                woke_while_running.push(false);
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
                        let (state, label) = if woke_while_running[i] {
                            (LaneState::Ready, String::new())
                        } else {
                            (wait_state(&on), wait_label(trace, &on, at))
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
    Lanes {
        loop_spans,
        tasks,
        wakes,
        end,
        events: n,
        deadlock,
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
