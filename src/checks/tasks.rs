//! How tasks end, and how many are inside a section at once.

use super::{Bound, Check, Evidence, Facts, Verdict};

/// How a task ends, as a claim states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskEnd {
    /// Returned normally.
    Returned,
    /// Raised an exception of this class.
    Raised(String),
    /// Was cancelled.
    Cancelled,
}

impl TaskEnd {
    /// In words: `returned`, `cancelled`, `raised ValueError`.
    pub fn describe(&self) -> String {
        match self {
            TaskEnd::Returned => "returned".into(),
            TaskEnd::Cancelled => "cancelled".into(),
            TaskEnd::Raised(k) => format!("raised {k}"),
        }
    }
}

/// A bound on a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Exactly.
    Exact(u64),
    /// At most.
    AtMost(u64),
    /// At least.
    AtLeast(u64),
}

impl Count {
    /// Whether `n` is within the bound.
    pub fn contains(&self, n: u64) -> bool {
        match self {
            Count::Exact(c) => n == *c,
            Count::AtMost(c) => n <= *c,
            Count::AtLeast(c) => n >= *c,
        }
    }

    /// The count as a claim's keys: `is = 3`, `at_most = 3`, `at_least = 3`.
    pub fn as_claim_keys(&self) -> String {
        match self {
            Count::Exact(n) => format!("is = {n}"),
            Count::AtMost(n) => format!("at_most = {n}"),
            Count::AtLeast(n) => format!("at_least = {n}"),
        }
    }

    /// In words: `3`, `at most 3`, `at least 3`.
    pub fn describe(&self) -> String {
        match self {
            Count::Exact(n) => n.to_string(),
            Count::AtMost(n) => format!("at most {n}"),
            Count::AtLeast(n) => format!("at least {n}"),
        }
    }
}

/// A named task ends (this way, within this bound, if given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEnds {
    /// The task's name.
    pub task: String,
    /// When, since the start.
    pub at: Option<Bound>,
    /// How.
    pub how: Option<TaskEnd>,
}

impl Check for TaskEnds {
    fn describe(&self) -> String {
        let mut s = format!("task {}", self.task);
        match &self.how {
            Some(h) => s.push_str(&format!(" {}", h.describe())),
            None => s.push_str(" ends"),
        }
        if let Some(a) = &self.at {
            s.push_str(&format!(" at {}", a.describe()));
        }
        s
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let Some((_, task)) = f.task_named(&self.task) else {
            let names: Vec<&str> = f.tasks.values().map(|t| t.name.as_str()).collect();
            let hint = crate::hint::did_you_mean(&self.task, names.iter().copied())
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            return Verdict::new(
                false,
                self.describe(),
                format!(
                    "no task named {:?}{hint} (tasks: {})",
                    self.task,
                    names.join(", ")
                ),
            );
        };
        match &task.ended {
            None => Verdict::new(false, self.describe(), "the task never ended".into())
                .with(Evidence::at(f.trace, task.created, "created here")),
            Some((seq, when, end)) => {
                let ok_how = self.how.as_ref().is_none_or(|h| h == end);
                let ok_at = self
                    .at
                    .as_ref()
                    .is_none_or(|b| b.contains(when.since_start()));
                Verdict::new(
                    ok_how && ok_at,
                    self.describe(),
                    format!("{} at {when}", end.describe()),
                )
                .with(Evidence::at(f.trace, *seq, end.describe()))
            }
        }
    }
}

/// The largest number of tasks inside a section at once (a scenario
/// `section`, or a block holding a Lock or Semaphore of that name) is
/// within a count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxInSection {
    /// The section's name.
    pub section: String,
    /// The bound.
    pub count: Count,
}

impl Check for MaxInSection {
    fn as_claim(&self) -> Option<String> {
        let (k, n) = match self.count {
            Count::Exact(n) => ("is", n),
            Count::AtMost(n) => ("at_most", n),
            Count::AtLeast(n) => ("at_least", n),
        };
        Some(format!("max_concurrent = {:?}\n{k} = {n}", self.section))
    }

    fn describe(&self) -> String {
        format!(
            "tasks at once in {:?}: {}",
            self.section,
            self.count.describe()
        )
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let n = f.max_in_section.get(&self.section).copied().unwrap_or(0);
        Verdict::new(
            self.count.contains(n),
            self.describe(),
            format!("at most {n} at once"),
        )
    }
}
