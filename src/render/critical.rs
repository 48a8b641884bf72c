//! The critical path: the chain of waits that set the main task's end time
//! — the beginning of an answer to "why did this take 3 s".
//!
//! Read backwards from the main task's end, on the lanes alone:
//! 1. in the current task, take its last span before the current point
//!    that takes virtual time and is not the task running or ready: a wait,
//!    or a blocking call that held the loop;
//! 2. a blocking call is a link; go on in the same task from its start;
//! 3. a wait is a link; if a task woke it, go on in that task from the
//!    wake-up (what it did until then is what the waiter waited for) — a
//!    wake by a callback (a done-callback of `gather`, `wait_for`, …) is
//!    credited to the task that finished last during the wait, whose end
//!    scheduled that callback;
//!    if the loop woke it (a timer, a callback, I/O), the wait's own length
//!    is the reason: go on in the same task from the wait's start;
//! 4. a task with nothing left before the current point goes on in the task
//!    that created it, from its creation; the main task stops there.
//!
//! Time spent running or ready is on the loop, not a wait, so it is not a
//! link; a wait that takes no time is skipped. Each step moves strictly
//! back in the trace, so the walk ends.

use super::lanes::{LaneState, Lanes, Span, lanes};
use crate::time::{Instant, format_nanos};
use crate::trace::{Actor, EventKind, StepEnd, TaskId, Trace};
use std::fmt::Write;

/// One link of the critical path: a task's wait or blocking call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The task.
    pub task: TaskId,
    /// Its name.
    pub name: String,
    /// The span: a wait, or `Blocked`.
    pub span: Span,
    /// Who ended the wait: a task's name, or `None` for the loop (a timer,
    /// a callback, I/O) and for blocking calls.
    pub woken_by: Option<String>,
    /// Where the link's share of the path begins: its start, or the end of
    /// the link before it when they overlap (a waiter waits while the task
    /// it waits for does what the path already counts). Its share ends
    /// with the span.
    pub from: Instant,
    /// [`Link::from`] as an event index.
    pub from_seq: usize,
}

/// The critical path of a run, in time order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CriticalPath {
    /// The links, earliest first.
    pub links: Vec<Link>,
    /// When the main task ended (or the run, if it did not).
    pub end: Instant,
}

impl CriticalPath {
    /// The virtual time the links' shares take together (they do not
    /// overlap): what of the end time the chain of waits explains.
    pub fn total(&self) -> u64 {
        self.links.iter().map(Link::share).sum()
    }

    /// The path as text: a line per link, then the total against the end.
    pub fn text(&self, title: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "critical path of {title}: {} {} {} of the end at {}",
            self.links.len(),
            if self.links.len() == 1 {
                "link explains"
            } else {
                "links explain"
            },
            format_nanos(self.total()),
            self.end
        );
        for l in &self.links {
            let _ = writeln!(
                s,
                "  {:>10} → {:<10} {:>10}  {}",
                l.from.to_string(),
                l.span.to.to_string(),
                format_nanos(l.share()),
                l.words()
            );
        }
        s
    }
}

impl Link {
    /// The link's share of the path (from [`Link::from`] to its end).
    pub fn share(&self) -> u64 {
        self.span.to.as_nanos().saturating_sub(self.from.as_nanos())
    }

    /// `fetch('A', 3) waits on a timer: sleep(3s), woken by the loop`.
    pub fn words(&self) -> String {
        if self.span.state == LaneState::Blocked {
            return format!("{} held the loop in a blocking call", self.name);
        }
        let what = if self.span.label.is_empty() {
            self.span.state.words().to_string()
        } else {
            format!("{}: {}", self.span.state.words(), self.span.label)
        };
        let by = match (&self.woken_by, &self.span.state) {
            (_, LaneState::Blocked) => String::new(),
            (Some(t), _) => format!(", woken by {t}"),
            (None, _) => ", woken by the loop".to_string(),
        };
        let whole = if self.from != self.span.from {
            format!(" (waiting since {})", self.span.from)
        } else {
            String::new()
        };
        format!("{} {what}{whole}{by}", self.name)
    }
}

/// The critical path of `trace` (see the module's notes).
pub fn critical_path(trace: &Trace) -> CriticalPath {
    critical_path_of(trace, &lanes(trace))
}

/// The same, from lanes already built from `trace`.
pub fn critical_path_of(trace: &Trace, l: &Lanes) -> CriticalPath {
    let parents: Vec<Option<TaskId>> = l
        .tasks
        .iter()
        .map(
            |lane| match trace.events.get(lane.created_seq).map(|e| e.kind) {
                Some(EventKind::TaskCreated { parent, .. }) => parent,
                _ => None,
            },
        )
        .collect();
    let Some(main) = l.tasks.first() else {
        return CriticalPath::default();
    };
    let (end, end_seq) = main
        .ended
        .map(|(at, seq, _)| (at, seq))
        .unwrap_or((l.end, l.events));
    let index = |t: TaskId| (t.0 as usize).checked_sub(1).filter(|i| *i < l.tasks.len());
    let mut links = Vec::new();
    let (mut task, mut seq) = (main.task, end_seq);
    for _ in 0..=l.events + l.tasks.len() {
        let Some(i) = index(task) else { break };
        let lane = &l.tasks[i];
        let last = lane.spans.iter().rev().find(|s| {
            s.to_seq <= seq
                && s.from_seq < seq
                && s.to > s.from
                && !matches!(s.state, LaneState::Running | LaneState::Ready)
        });
        let Some(s) = last else {
            // Nothing left in this task: on in its creator, from the
            // creation.
            match parents[i] {
                Some(p) if lane.created_seq < seq => {
                    task = p;
                    seq = lane.created_seq;
                    continue;
                }
                _ => break,
            }
        };
        let waker = (s.state != LaneState::Blocked)
            .then(|| waker_of(trace, task, s))
            .flatten();
        links.push(Link {
            task,
            name: lane.name.clone(),
            span: s.clone(),
            woken_by: waker.and_then(index).map(|k| l.tasks[k].name.clone()),
            from: s.from,
            from_seq: s.from_seq,
        });
        match waker {
            Some(w) if index(w).is_some() && s.to_seq <= seq => {
                task = w;
                seq = s.to_seq;
            }
            _ => seq = s.from_seq,
        }
        if seq == 0 {
            break;
        }
    }
    links.reverse();
    let mut before = (Instant::ZERO, 0);
    for link in &mut links {
        if before.0 > link.span.from {
            link.from = before.0.min(link.span.to);
            link.from_seq = before.1.min(link.span.to_seq);
        }
        before = (link.span.to, link.span.to_seq);
    }
    CriticalPath { links, end }
}

/// The task that ended wait `s` of `task`: the task whose step woke it, or
/// for a wake by a callback (a done-callback of `gather`, `wait_for`, …)
/// the task that finished last during the wait, whose end scheduled it.
/// `None`: a timer, I/O, or the loop.
fn waker_of(trace: &Trace, task: TaskId, s: &Span) -> Option<TaskId> {
    let e = trace.events.get(s.to_seq)?;
    let EventKind::Woken { by } = e.kind else {
        return None;
    };
    match by {
        Actor::Task(w) if w != task => Some(w),
        Actor::Callback(_) => trace.events[s.from_seq..s.to_seq]
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.kind,
                    EventKind::StepEnded {
                        end: StepEnd::Returned | StepEnd::Raised { .. } | StepEnd::Cancelled
                    }
                ) && e.task.is_some_and(|t| t != task)
            })
            .and_then(|e| e.task),
        _ => None,
    }
}
