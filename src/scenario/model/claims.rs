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
        /// Compare this percentile of a service's request latency
        /// (`latency = "api"`, `percentile = 99`) instead of elapsed times.
        latency: Option<(String, f64)>,
    },
    /// `latency = "api"`, `percentile = 99`, `at_most = "2s"`: a percentile
    /// of a service's (or pool's) request latency, arrival to answer.
    Latency {
        /// The service or pool.
        resource: String,
        /// Which percentile.
        percentile: f64,
        /// The bound.
        bound: Bound,
    },
    /// `messages = "lost"`, `is = 0`: how many network messages were
    /// sent, delivered or lost.
    Messages {
        /// Which.
        fate: crate::checks::MessageFate,
        /// How many.
        count: Count,
    },
    /// `reconnects_within = "2s"`: after each heal, every host whose
    /// connection the partition reset connects again within the time.
    ReconnectsWithin(crate::time::Duration),
    /// `message_latency = 99`, `at_most = "100ms"`: a percentile of the
    /// delivered messages' latency.
    MessageLatency {
        /// Which percentile.
        percentile: f64,
        /// The bound.
        bound: Bound,
    },
    /// `warns = "slow_step"` (at least one such warning), or
    /// `no_warnings = true`: the run's health warnings.
    Warns {
        /// The warning's kind, or any.
        kind: Option<String>,
        /// How many.
        count: Count,
    },
    /// `errors = "api"`, `is = 0`: how many requests failed or were turned
    /// away (of one class, with `kind`).
    Errors {
        /// The service or pool.
        resource: String,
        /// Only errors of this class.
        kind: Option<String>,
        /// How many.
        count: Count,
    },
    /// A property of the schedule holds (`holds = "bounded_wait"`): one of
    /// the trace checkers of [`crate::checks`].
    Holds(Property),
}

/// A schedule property a claim can state (`holds = "…"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Property {
    /// `deadline_order`: timers fire in deadline order.
    DeadlineOrder,
    /// `equal_deadline_fifo`: equal deadlines fire first-come first-served.
    EqualDeadlineFifo,
    /// `ready_fifo`: ready tasks run in the order they became ready.
    ReadyFifo,
    /// `bounded_wait` with `k`: every ready task runs within k iterations.
    BoundedWait(u64),
    /// `first_come_first_served` with `name`: a primitive's waiters are
    /// served in the order they came.
    FirstComeFirstServed(String),
    /// `timeout_delivered` with `k`: a timeout's cancellation arrives
    /// within k iterations of its timer.
    TimeoutDelivered(u64),
    /// `nothing_pending`: no task is left pending at the end.
    NothingPending,
    /// `well_formed`: the trace's invariants hold.
    WellFormed,
    /// `no_delivery_across_partition`: nothing is delivered between hosts
    /// a partition separates.
    NoDeliveryAcrossPartition,
}

impl Property {
    /// Every property's name in the file, with the modifier it needs.
    pub const NAMES: &[(&str, Option<&str>)] = &[
        ("deadline_order", None),
        ("equal_deadline_fifo", None),
        ("ready_fifo", None),
        ("bounded_wait", Some("k")),
        ("first_come_first_served", Some("name")),
        ("timeout_delivered", Some("k")),
        ("nothing_pending", None),
        ("well_formed", None),
        ("no_delivery_across_partition", None),
    ];

    /// The property's name and its modifier's value, as the file writes them.
    pub fn name(&self) -> (&'static str, Option<String>) {
        match self {
            Property::DeadlineOrder => ("deadline_order", None),
            Property::EqualDeadlineFifo => ("equal_deadline_fifo", None),
            Property::ReadyFifo => ("ready_fifo", None),
            Property::BoundedWait(k) => ("bounded_wait", Some(k.to_string())),
            Property::FirstComeFirstServed(n) => ("first_come_first_served", Some(n.clone())),
            Property::TimeoutDelivered(k) => ("timeout_delivered", Some(k.to_string())),
            Property::NothingPending => ("nothing_pending", None),
            Property::WellFormed => ("well_formed", None),
            Property::NoDeliveryAcrossPartition => ("no_delivery_across_partition", None),
        }
    }
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
