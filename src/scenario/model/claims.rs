//! Claims: what a scenario states about its runs, checked after them.

/// How a run ends, in a claim.
pub use crate::checks::Ending;
pub use crate::checks::{Bound, Count, TaskEnd};

/// What a claim asserts.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimKind {
    /// The main task's elapsed virtual time.
    Elapsed(Bound),
    /// The exact printed lines, in order.
    Output(Vec<String>),
    /// These lines are printed in this relative order.
    Order(Vec<String>),
    /// When a line is printed.
    PrintedAt {
        /// The line.
        line: String,
        /// When.
        at: Bound,
    },
    /// When / how a task ends.
    TaskEnds {
        /// Task name.
        task: String,
        /// When.
        at: Option<Bound>,
        /// How.
        how: Option<TaskEnd>,
    },
    /// Tasks concurrently inside a section (or holding a Lock/Semaphore).
    MaxConcurrent {
        /// The section or primitive name.
        section: String,
        /// The bound.
        count: Count,
    },
    /// How the run ends.
    RunEnds(Ending),
    /// One variant is faster than another.
    Faster {
        /// The faster variant.
        faster: String,
        /// The slower variant.
        slower: String,
        /// `slower / faster >= ratio`.
        ratio_at_least: Option<f64>,
    },
}

/// A claim with where it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// Line in the file.
    pub line: usize,
    /// What it asserts.
    pub kind: ClaimKind,
    /// The variant it is about (`None`: every variant).
    pub variant: Option<String>,
    /// Seeds to check it on (`None`: the scenario's seed).
    pub seeds: Option<(u64, u64)>,
    /// How the tutorial put it, when the claim states the exact figure.
    pub note: Option<String>,
}
