//! Claims about the schedule itself: in which order timers fire, ready
//! tasks run, and waiters are handed a primitive; how long a ready task
//! waits; when a timeout's cancellation arrives.
//!
//! Each reads the events only. A sleep's deadline is the one its task was
//! suspended on (`step_ended … wait: timer, deadline`); its timer fired when
//! the task is woken by a timer; a task is *ready* from its wake-up (or its
//! creation) until its next step starts.

use super::{Check, Evidence, Facts, Verdict};
use crate::time::Instant;
use crate::trace::{Actor, EventKind, StepEnd, TaskId, Trace, WaitOn};
use std::collections::BTreeMap;

/// One sleep: who, its deadline, and the event that scheduled it.
#[derive(Clone, Copy, Debug)]
struct Sleeper {
    task: TaskId,
    deadline: Instant,
    scheduled: usize,
}

/// Calls `on_fire(pending, fired, seq)` at each sleep timer firing, with the
/// sleeps still pending at that moment (in scheduling order). A sleep whose
/// task is cancelled is no longer pending: its timer is cancelled.
fn sleeps(t: &Trace, mut on_fire: impl FnMut(&[Sleeper], Sleeper, usize)) {
    let mut pending: Vec<Sleeper> = Vec::new();
    for (seq, e) in t.events.iter().enumerate() {
        let Some(task) = e.task else { continue };
        match e.kind {
            EventKind::StepEnded {
                end:
                    StepEnd::Suspended {
                        on: WaitOn::Timer { deadline },
                    },
            } => pending.push(Sleeper {
                task,
                deadline,
                scheduled: seq,
            }),
            EventKind::Woken { by } => {
                let Some(i) = pending.iter().position(|s| s.task == task) else {
                    continue;
                };
                let s = pending.remove(i);
                if matches!(by, Actor::Timer(_)) {
                    on_fire(&pending, s, seq);
                }
            }
            EventKind::StepStarted { .. } | EventKind::CancelRequested { .. } => {
                // Cancelled (its sleep's timer is cancelled: the wake-up
                // that follows is the cancellation's, even from a timeout's
                // timer), or woken some other way.
                pending.retain(|s| s.task != task);
            }
            _ => {}
        }
    }
}

/// No sleep's timer fires while a sleep with an earlier deadline is still
/// pending: timers fire in deadline order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadlineOrder;

impl Check for DeadlineOrder {
    fn as_claim(&self) -> Option<String> {
        Some("holds = \"deadline_order\"".into())
    }

    fn describe(&self) -> String {
        "timers fire in deadline order".into()
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let mut bad = None;
        let mut fired = 0;
        sleeps(f.trace, |pending, s, seq| {
            fired += 1;
            if bad.is_none()
                && let Some(early) = pending.iter().find(|p| p.deadline < s.deadline)
            {
                bad = Some((*early, s, seq));
            }
        });
        match bad {
            None => Verdict::new(true, self.describe(), format!("{fired} timers in order")),
            Some((early, late, seq)) => Verdict::new(
                false,
                self.describe(),
                format!(
                    "task {} (deadline {}) woke while task {} (deadline {}) still waited",
                    late.task, late.deadline, early.task, early.deadline
                ),
            )
            .with(Evidence::at(
                f.trace,
                seq,
                format!("woken, deadline {}", late.deadline),
            ))
            .with(Evidence::at(
                f.trace,
                early.scheduled,
                format!("asleep until {}, earlier", early.deadline),
            )),
        }
    }
}

/// Among sleeps with equal deadlines, timers fire first-come first-served
/// (in the order the sleeps began). True under `fifo`; false under
/// `asyncio`, whose heap orders ties as `heapq` does (five equal sleeps wake
/// 0, 2, 4, 1, 3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EqualDeadlineFifo;

impl Check for EqualDeadlineFifo {
    fn as_claim(&self) -> Option<String> {
        Some("holds = \"equal_deadline_fifo\"".into())
    }

    fn describe(&self) -> String {
        "equal deadlines fire first-come first-served".into()
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let mut bad = None;
        let mut ties = 0;
        sleeps(f.trace, |pending, s, seq| {
            if let Some(first) = pending
                .iter()
                .find(|p| p.deadline == s.deadline && p.scheduled < s.scheduled)
            {
                if bad.is_none() {
                    bad = Some((*first, s, seq));
                }
            } else if pending.iter().any(|p| p.deadline == s.deadline) {
                ties += 1;
            }
        });
        match bad {
            None => Verdict::new(
                true,
                self.describe(),
                format!("{ties} tied timers fired in order"),
            ),
            Some((first, late, seq)) => Verdict::new(
                false,
                self.describe(),
                format!(
                    "task {} woke before task {}, which began the same {} sleep earlier",
                    late.task, first.task, first.deadline
                ),
            )
            .with(Evidence::at(f.trace, seq, "woken first"))
            .with(Evidence::at(f.trace, first.scheduled, "asleep first")),
        }
    }
}

/// Ready tasks run in the order they became ready (the ready queue is a
/// FIFO): no task's step overtakes one made ready before it. True under
/// `asyncio` and `fifo`, not under `random`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadyFifo;

/// Each time a task became ready, and the step that took it.
fn ready_spans(t: &Trace) -> Vec<(TaskId, usize, Option<usize>)> {
    let mut spans: Vec<(TaskId, usize, Option<usize>)> = Vec::new();
    let mut open: BTreeMap<TaskId, usize> = BTreeMap::new();
    for (seq, e) in t.events.iter().enumerate() {
        let Some(task) = e.task else { continue };
        match e.kind {
            EventKind::TaskCreated { .. } => {
                // An eager task starts its first step at once, inside its
                // creator's: never queued.
                let eager = matches!(
                    t.events.get(seq + 1),
                    Some(n) if n.task == Some(task) && matches!(n.kind, EventKind::StepStarted { .. })
                );
                if !eager {
                    open.insert(task, spans.len());
                    spans.push((task, seq, None));
                }
            }
            EventKind::Woken { .. } => {
                open.entry(task).or_insert_with(|| {
                    spans.push((task, seq, None));
                    spans.len() - 1
                });
            }
            EventKind::StepStarted { .. } => {
                if let Some(i) = open.remove(&task) {
                    spans[i].2 = Some(seq);
                }
            }
            _ => {}
        }
    }
    spans
}

impl Check for ReadyFifo {
    fn as_claim(&self) -> Option<String> {
        Some("holds = \"ready_fifo\"".into())
    }

    fn describe(&self) -> String {
        "ready tasks run in the order they became ready".into()
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let spans = ready_spans(f.trace);
        // Spans are in order of becoming ready; their starts must increase.
        let mut last: Option<(TaskId, usize, usize)> = None;
        for &(task, ready, start) in &spans {
            let Some(start) = start else { continue };
            if let Some((prev, prev_ready, prev_start)) = last
                && start < prev_start
            {
                return Verdict::new(
                    false,
                    self.describe(),
                    format!("task {task} ran before task {prev}, which was ready first"),
                )
                .with(Evidence::at(f.trace, prev_ready, "ready first"))
                .with(Evidence::at(f.trace, ready, "ready second"))
                .with(Evidence::at(f.trace, start, "ran first"));
            }
            if last.is_none_or(|(_, _, s)| start > s) {
                last = Some((task, ready, start));
            }
        }
        Verdict::new(
            true,
            self.describe(),
            format!("{} wake-ups served in order", spans.len()),
        )
    }
}

/// Every ready task starts its step within `k` loop iterations of
/// becoming ready (`k = 1` under `asyncio` and `fifo`: what is made ready
/// in one iteration runs in the next).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundedWait(pub u64);

impl Check for BoundedWait {
    fn as_claim(&self) -> Option<String> {
        Some(format!("holds = \"bounded_wait\"\nk = {}", self.0))
    }

    fn describe(&self) -> String {
        format!("every ready task runs within {}", iterations(self.0))
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let ev = &f.trace.events;
        let mut worst = 0;
        for (task, ready, start) in ready_spans(f.trace) {
            let Some(start) = start else { continue };
            let waited = ev[start].iteration.saturating_sub(ev[ready].iteration);
            worst = worst.max(waited);
            if waited > self.0 {
                return Verdict::new(
                    false,
                    self.describe(),
                    format!("task {task} waited {}", iterations(waited)),
                )
                .with(Evidence::at(f.trace, ready, "ready"))
                .with(Evidence::at(
                    f.trace,
                    start,
                    format!("ran {} later", iterations(waited)),
                ));
            }
        }
        Verdict::new(
            true,
            self.describe(),
            format!("the longest wait was {}", iterations(worst)),
        )
    }
}

/// The waiters of the primitive `name` (a Lock, Semaphore, Condition or
/// Queue, by the name it was given) are woken in the order they began to
/// wait: first come, first served. A waiter that leaves because it was
/// cancelled is not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstComeFirstServed(pub String);

impl Check for FirstComeFirstServed {
    fn as_claim(&self) -> Option<String> {
        Some(format!(
            "holds = \"first_come_first_served\"\nname = {:?}",
            self.0
        ))
    }

    fn describe(&self) -> String {
        format!(
            "waiters on {:?} are served first come, first served",
            self.0
        )
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let t = f.trace;
        // Waiting tasks in the order they began: (task, seq, cancelled).
        let mut waiting: Vec<(TaskId, usize, bool)> = Vec::new();
        let mut served = 0;
        for (seq, e) in t.events.iter().enumerate() {
            let Some(task) = e.task else { continue };
            match e.kind {
                EventKind::StepEnded {
                    end:
                        StepEnd::Suspended {
                            on: WaitOn::Primitive { name, .. },
                        },
                } if t.str(name) == self.0 && !waiting.iter().any(|w| w.0 == task) => {
                    waiting.push((task, seq, false));
                }
                EventKind::CancelRequested { .. } => {
                    if let Some(w) = waiting.iter_mut().find(|w| w.0 == task) {
                        w.2 = true;
                    }
                }
                EventKind::Woken { .. } => {
                    let Some(i) = waiting.iter().position(|w| w.0 == task) else {
                        continue;
                    };
                    let (_, began, cancelled) = waiting.remove(i);
                    if cancelled {
                        continue;
                    }
                    if let Some(first) = waiting[..i].iter().find(|w| !w.2) {
                        return Verdict::new(
                            false,
                            self.describe(),
                            format!(
                                "task {task} was served before task {}, which waited first",
                                first.0
                            ),
                        )
                        .with(Evidence::at(t, first.1, "began to wait first"))
                        .with(Evidence::at(t, began, "began to wait second"))
                        .with(Evidence::at(t, seq, "served first"));
                    }
                    served += 1;
                }
                _ => {}
            }
        }
        if served == 0 && !t.strings.contains(&self.0) {
            // Nothing of that name in the run: most likely a misspelt name.
            let waited: std::collections::BTreeSet<&str> = t
                .events
                .iter()
                .filter_map(|e| match e.kind {
                    EventKind::StepEnded {
                        end:
                            StepEnd::Suspended {
                                on: WaitOn::Primitive { name, .. },
                            },
                    } => Some(t.str(name)),
                    _ => None,
                })
                .collect();
            let known: Vec<&str> = waited.into_iter().collect();
            return Verdict::new(
                false,
                self.describe(),
                format!(
                    "no primitive named {:?} in the run (waited on: {})",
                    self.0,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        Verdict::new(
            true,
            self.describe(),
            format!("{served} waiters served in order"),
        )
    }
}

/// A timeout's cancellation (`asyncio.timeout`, `wait_for`: any timer
/// callback that cancels a task) is delivered to its task within `k`
/// iterations of the timer firing: one iteration later when the task awaits
/// a sleep or a future (it raises at its next step), one more for each task
/// the cancellation is forwarded through (the awaited task must end first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutDelivered(pub u64);

impl Check for TimeoutDelivered {
    fn as_claim(&self) -> Option<String> {
        Some(format!("holds = \"timeout_delivered\"\nk = {}", self.0))
    }

    fn describe(&self) -> String {
        format!(
            "a timeout's cancellation arrives within {}",
            iterations(self.0)
        )
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let t = f.trace;
        let mut delivered = 0;
        for (seq, e) in t.events.iter().enumerate() {
            let (
                EventKind::CancelRequested {
                    by: Actor::Timer(label),
                },
                Some(task),
            ) = (e.kind, e.task)
            else {
                continue;
            };
            // A timer's callback that cancels a task: `asyncio.timeout`,
            // `wait_for`, or a scenario's `timeout` block (whatever its label).
            let _ = label;
            // Delivered at the task's next step (which begins by throwing
            // `CancelledError`, or resumes at an await that raises it).
            let arrival = t.events[seq + 1..].iter().position(|n| {
                n.task == Some(task) && matches!(n.kind, EventKind::StepStarted { .. })
            });
            let Some(k) = arrival.map(|i| seq + 1 + i) else {
                continue; // the run ended first
            };
            let waited = t.events[k].iteration.saturating_sub(e.iteration);
            if waited > self.0 {
                return Verdict::new(
                    false,
                    self.describe(),
                    format!(
                        "task {task}'s timeout arrived {} after its timer",
                        iterations(waited)
                    ),
                )
                .with(Evidence::at(t, seq, "timeout fired"))
                .with(Evidence::at(t, k, "delivered"));
            }
            delivered += 1;
        }
        Verdict::new(
            true,
            self.describe(),
            format!("{delivered} timeouts delivered in time"),
        )
    }
}

/// Every task created has ended by the end of the run (none left pending,
/// even after `asyncio.run`'s shutdown cancelled the leftovers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NothingPending;

impl Check for NothingPending {
    fn as_claim(&self) -> Option<String> {
        Some("holds = \"nothing_pending\"".into())
    }

    fn describe(&self) -> String {
        "no task is left pending".into()
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        match f.tasks.iter().find(|(_, t)| t.ended.is_none()) {
            None => Verdict::new(
                true,
                self.describe(),
                format!("all {} tasks ended", f.tasks.len()),
            ),
            Some((id, t)) => {
                let left = f.tasks.values().filter(|t| t.ended.is_none()).count();
                Verdict::new(
                    false,
                    self.describe(),
                    format!("{left} task(s) never ended, the first {} ({id})", t.name),
                )
                .with(Evidence::at(f.trace, t.created, "created, never ended"))
            }
        }
    }
}

/// `1 iteration`, `2 iterations`.
fn iterations(n: u64) -> String {
    if n == 1 {
        "1 iteration".to_string()
    } else {
        format!("{n} iterations")
    }
}
