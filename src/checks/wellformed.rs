//! Invariants every trace loopsim records must satisfy, whatever the
//! program and the loop model: a property to check on every run.

use super::{Check, Evidence, Facts, Verdict};
use crate::trace::{Actor, EventKind, StepEnd, TaskId, WaitOn};
use std::collections::BTreeMap;

/// The trace is well formed:
///
/// - the clock and the iteration count never go backwards;
/// - a task is created once, before anything else happens to it, and
///   tasks are numbered 1, 2, 3, … in the order they are created;
/// - every task an event names (its own, a parent, who woke or cancelled
///   it, what it waits on, a deadlock's edges) is one created before;
/// - every step that starts ends, and steps nest only as eager tasks do
///   (a task's first step inside its creator's);
/// - a task's step starts only after it was made ready (created or woken);
/// - nothing happens to a task's steps after it ended (a task cancelled is
///   never stepped again);
/// - the run's end is the last event, and there is exactly one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WellFormed;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    Suspended,
    Ended,
}

impl Check for WellFormed {
    fn as_claim(&self) -> Option<String> {
        Some("holds = \"well_formed\"".into())
    }

    fn describe(&self) -> String {
        "the trace is well formed".into()
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let t = f.trace;
        let fail = |seq: usize, what: String| {
            Verdict::new(false, self.describe(), what.clone()).with(Evidence::at(t, seq, what))
        };
        let mut state: BTreeMap<TaskId, State> = BTreeMap::new();
        let mut running: Vec<TaskId> = Vec::new();
        let mut ended_run = None;
        for (seq, e) in t.events.iter().enumerate() {
            if seq > 0 {
                let prev = &t.events[seq - 1];
                if e.at < prev.at {
                    return fail(
                        seq,
                        format!("the clock went back from {} to {}", prev.at, e.at),
                    );
                }
                if e.iteration < prev.iteration {
                    return fail(seq, "the iteration count went back".into());
                }
            }
            if let Some(end) = ended_run {
                return fail(seq, format!("an event after the run ended (event {end})"));
            }
            if let Some(other) = named_tasks(&e.kind).find(|t| !state.contains_key(t)) {
                return fail(seq, format!("names task {other}, which was never created"));
            }
            match (e.kind, e.task) {
                (EventKind::TaskCreated { .. }, Some(task)) if state.contains_key(&task) => {
                    return fail(seq, format!("task {task} created twice"));
                }
                (EventKind::TaskCreated { .. }, Some(task))
                    if task.0 as usize != state.len() + 1 =>
                {
                    return fail(
                        seq,
                        format!(
                            "task {task} created as the task number {} (tasks are numbered in creation order)",
                            state.len() + 1
                        ),
                    );
                }
                (EventKind::TaskCreated { .. }, Some(task)) => {
                    state.insert(task, State::Ready);
                }
                (EventKind::TaskCreated { .. }, None) => {
                    return fail(seq, "a task created without an id".into());
                }
                (_, Some(task)) if !state.contains_key(&task) => {
                    return fail(
                        seq,
                        format!("an event of task {task}, which was never created"),
                    );
                }
                (EventKind::Woken { .. }, Some(task)) => match state.get(&task) {
                    None => return fail(seq, format!("task {task} woken before it was created")),
                    Some(State::Ended) => {
                        return fail(seq, format!("task {task} woken after it ended"));
                    }
                    Some(State::Suspended) => {
                        state.insert(task, State::Ready);
                    }
                    Some(_) => {}
                },
                (EventKind::StepStarted { .. }, Some(task)) => {
                    match state.get(&task) {
                        Some(State::Ready) => {}
                        Some(State::Ended) => {
                            return fail(seq, format!("task {task} stepped after it ended"));
                        }
                        Some(_) => {
                            return fail(
                                seq,
                                format!("task {task} stepped without being made ready"),
                            );
                        }
                        None => {
                            return fail(seq, format!("task {task} stepped before it was created"));
                        }
                    }
                    state.insert(task, State::Running);
                    running.push(task);
                }
                (EventKind::StepEnded { end }, Some(task)) => {
                    if running.pop() != Some(task) {
                        return fail(
                            seq,
                            format!("task {task}'s step ended but was not the step running"),
                        );
                    }
                    let next = match end {
                        StepEnd::Suspended { .. } => {
                            // Woken during its own step (a bare yield): ready.
                            if state.get(&task) == Some(&State::Ready) {
                                State::Ready
                            } else {
                                State::Suspended
                            }
                        }
                        _ => State::Ended,
                    };
                    state.insert(task, next);
                }
                (EventKind::RunEnded { .. }, _) => ended_run = Some(seq),
                _ => {}
            }
            // A wake-up during the task's own step leaves it ready after.
            if let (EventKind::Woken { .. }, Some(task)) = (e.kind, e.task)
                && state.get(&task) == Some(&State::Running)
            {
                state.insert(task, State::Ready);
            }
        }
        if let Some(task) = running.last() {
            return fail(
                t.events.len().saturating_sub(1),
                format!("task {task}'s step never ended"),
            );
        }
        if ended_run.is_none() && !t.events.is_empty() {
            return fail(t.events.len() - 1, "the trace has no end".into());
        }
        Verdict::new(
            true,
            self.describe(),
            format!("{} events, {} tasks", t.events.len(), state.len()),
        )
    }
}

/// The other tasks an event names.
fn named_tasks(kind: &EventKind) -> impl Iterator<Item = TaskId> {
    let one = match *kind {
        EventKind::TaskCreated { parent, .. } => parent,
        EventKind::Woken { by: Actor::Task(t) }
        | EventKind::CancelRequested { by: Actor::Task(t) }
        | EventKind::StepEnded {
            end: StepEnd::Suspended {
                on: WaitOn::Task(t),
            },
        }
        | EventKind::WaitsFor { other: t }
        | EventKind::InCycle { next: t } => Some(t),
        _ => None,
    };
    one.into_iter()
}
