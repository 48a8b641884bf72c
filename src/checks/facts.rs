//! [`Facts`]: one fold over a trace's events that every checker reads.

use super::outcome::Ending;
use super::tasks::TaskEnd;
use crate::time::Instant;
use crate::trace::{EventKind, RunEnd, StepEnd, TaskId, Trace};
use std::collections::BTreeMap;

/// A printed line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'t> {
    /// Its event's index in the trace.
    pub seq: usize,
    /// When it was printed.
    pub at: Instant,
    /// The task that printed it.
    pub task: Option<TaskId>,
    /// The text.
    pub text: &'t str,
}

/// What the trace says of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFacts {
    /// Its name (`Task-N` by default).
    pub name: String,
    /// The index of its `TaskCreated` event.
    pub created: usize,
    /// When and how it ended, with the index of that event, if it did.
    pub ended: Option<(usize, Instant, TaskEnd)>,
}

/// What a trace says, read once for all the checkers of that trace.
#[derive(Clone, Debug)]
pub struct Facts<'t> {
    /// The trace itself, for checkers that read events.
    pub trace: &'t Trace,
    /// When the main task (`Task-1`) ended, if it did.
    pub main_end: Option<Instant>,
    /// Printed lines, in order.
    pub output: Vec<Line<'t>>,
    /// Every task, by id.
    pub tasks: BTreeMap<TaskId, TaskFacts>,
    /// The largest number of tasks at once inside each section, by name.
    pub max_in_section: BTreeMap<String, u64>,
    /// How the run ended (`None` for a trace cut short).
    pub run_end: Option<Ending>,
}

impl<'t> Facts<'t> {
    /// Folds a trace.
    pub fn of(trace: &'t Trace) -> Facts<'t> {
        let mut f = Facts {
            trace,
            main_end: None,
            output: Vec::new(),
            tasks: BTreeMap::new(),
            max_in_section: BTreeMap::new(),
            run_end: None,
        };
        let mut inside: BTreeMap<&str, u64> = BTreeMap::new();
        for (seq, e) in trace.events.iter().enumerate() {
            match e.kind {
                EventKind::TaskCreated { name, .. } => {
                    if let Some(t) = e.task {
                        f.tasks.insert(
                            t,
                            TaskFacts {
                                name: trace.name_of(t, name).into_owned(),
                                created: seq,
                                ended: None,
                            },
                        );
                    }
                }
                EventKind::StepEnded { end } => {
                    let end = match end {
                        StepEnd::Suspended { .. } => continue,
                        StepEnd::Returned => TaskEnd::Returned,
                        StepEnd::Cancelled => TaskEnd::Cancelled,
                        StepEnd::Raised { error } => TaskEnd::Raised(error_kind(trace.str(error))),
                    };
                    if let Some(t) = e.task {
                        if t == TaskId(1) {
                            f.main_end = Some(e.at);
                        }
                        if let Some(slot) = f.tasks.get_mut(&t) {
                            slot.ended = Some((seq, e.at, end));
                        }
                    }
                }
                EventKind::Output { text } => f.output.push(Line {
                    seq,
                    at: e.at,
                    task: e.task,
                    text: trace.str(text),
                }),
                EventKind::SectionEntered { name } => {
                    let name = trace.str(name);
                    let n = inside.entry(name).or_default();
                    *n += 1;
                    let n = *n;
                    let m = f.max_in_section.entry(name.to_string()).or_default();
                    *m = (*m).max(n);
                }
                EventKind::SectionExited { name } => {
                    if let Some(n) = inside.get_mut(trace.str(name)) {
                        *n = n.saturating_sub(1);
                    }
                }
                EventKind::RunEnded { end } => {
                    f.run_end = Some(match end {
                        RunEnd::Completed => Ending::Completed,
                        RunEnd::Failed { error } => {
                            Ending::Failed(Some(error_kind(trace.str(error))))
                        }
                        RunEnd::Deadlock => Ending::Deadlock,
                        RunEnd::LimitExceeded { .. } => Ending::LimitExceeded,
                    })
                }
                _ => {}
            }
        }
        f
    }

    /// The printed lines' texts, in order.
    pub fn lines(&self) -> Vec<&'t str> {
        self.output.iter().map(|l| l.text).collect()
    }

    /// The task with this name (the first created, if several share it).
    pub fn task_named(&self, name: &str) -> Option<(TaskId, &TaskFacts)> {
        self.tasks
            .iter()
            .find(|(_, t)| t.name == name)
            .map(|(id, t)| (*id, t))
    }
}

/// `ValueError: bad` → `ValueError`.
fn error_kind(s: &str) -> String {
    s.split(':').next().unwrap_or(s).trim().to_string()
}
