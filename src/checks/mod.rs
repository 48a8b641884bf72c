//! Trace checkers: claims about what an event loop did, judged from a
//! [`Trace`] alone — never from the executor — so they hold for a trace
//! read back from a file as well as for a run just made.
//!
//! Each checker is a small value that implements [`Check`]: it says what it
//! expects in words ([`Check::describe`]) and judges one trace through its
//! [`Facts`] (one fold over the events, shared by every checker that reads
//! the same trace), returning a [`Verdict`]: whether it holds, what was
//! observed, and the events that show it ([`Evidence`], with their sequence
//! numbers, times and tasks).
//!
//! ```
//! use loopsim::checks::{self, Check, Elapsed, Bound};
//! use loopsim::{Sim, sleep};
//! use std::time::Duration;
//!
//! let run = Sim::builder().build().run(async { sleep(Duration::from_secs(2)).await });
//! let v = checks::check(&Elapsed(Bound::AtMost(Duration::from_secs(3))), &run.trace);
//! assert!(v.holds, "{v}");
//! ```
//!
//! The scenario file's `[[expect]]` claims about one run are these checkers
//! (`scenario::verify` maps each claim to one); claims that compare runs,
//! such as [`Faster`], take two traces.
//!
//! | checker | holds when |
//! |---|---|
//! | [`Elapsed`] | the main task ends within a time [`Bound`] |
//! | [`OutputIs`] | the printed lines are exactly these |
//! | [`InOrder`] | these lines are printed in this relative order |
//! | [`PrintedAt`] | a line is printed within a time bound |
//! | [`TaskEnds`] | a named task ends (how, when) |
//! | [`MaxInSection`] | at most/at least/exactly n tasks are inside a section at once |
//! | [`RunEnds`] | the run ends this way ([`Ending`]) |
//! | [`Faster`] | one run's main task ends sooner than another's (or its requests' latency percentile is lower) |
//! | [`LatencyPercentile`] | a percentile of a service's request latency is within a bound |
//! | [`Errors`] | how many requests to a service failed or were turned away |
//! | [`MessageCount`] | how many network messages were sent, delivered or lost |
//! | [`MessageLatency`] | a percentile of network messages' latency is within a bound |
//! | [`ReconnectsWithin`] | every client a partition cut off connects again within a time of the heal |
//! | [`NoDeliveryAcrossPartition`] | nothing is delivered between hosts a partition separates |
//! | [`Warnings`] | how many health warnings (slow step, never awaited, pending at exit, exception never retrieved) a run gave |
//! | [`DeadlineOrder`] | timers fire in deadline order |
//! | [`EqualDeadlineFifo`] | equal deadlines fire first-come first-served (`fifo` yes, `asyncio` no) |
//! | [`ReadyFifo`] | ready tasks run in the order they became ready |
//! | [`BoundedWait`] | every ready task runs within k iterations |
//! | [`FirstComeFirstServed`] | a primitive's waiters are served in the order they came |
//! | [`TimeoutDelivered`] | a timeout's cancellation arrives within k iterations of its timer |
//! | [`NothingPending`] | no task is left pending at the end |
//! | [`WellFormed`] | the trace's invariants: clock monotonic, steps paired, wakes before steps, no step after the end |
//!
//! A capacity claim ("a `Semaphore(3)` never lets more than 3 in") is
//! [`MaxInSection`] with [`Count::AtMost`].

mod facts;
mod io;
mod net;
mod outcome;
mod output;
mod schedule;
mod tasks;
mod timing;
mod wellformed;
mod words;

pub use facts::{Facts, Line, TaskFacts};
pub use io::{Errors, LatencyPercentile, Request, Warnings, percentile, requests};
pub use net::{
    Message, MessageCount, MessageFate, MessageLatency, NoDeliveryAcrossPartition,
    ReconnectsWithin, messages,
};
pub use outcome::{Ending, RunEnds};
pub use output::{InOrder, OutputIs, PrintedAt};
pub use schedule::{
    BoundedWait, DeadlineOrder, EqualDeadlineFifo, FirstComeFirstServed, NothingPending, ReadyFifo,
    TimeoutDelivered,
};
pub use tasks::{Count, MaxInSection, TaskEnd, TaskEnds};
pub use timing::{Bound, Elapsed, Faster};
pub use wellformed::WellFormed;

use crate::time::Instant;
use crate::trace::{TaskId, Trace};
use std::fmt;

/// A claim about one trace.
pub trait Check {
    /// What the claim expects, in words (`elapsed at most 3s`).
    fn describe(&self) -> String;

    /// Judges the trace behind `facts`.
    fn check(&self, facts: &Facts<'_>) -> Verdict;

    /// The claim as a scenario file states it (the body of an `[[expect]]`
    /// table: `holds = "bounded_wait"\nk = 1`), when the file format has it.
    fn as_claim(&self) -> Option<String> {
        None
    }
}

/// Judges one trace (folding its facts for this one checker; to judge
/// several claims on one trace, fold [`Facts::of`] once and call
/// [`Check::check`] on each).
pub fn check<C: Check + ?Sized>(checker: &C, trace: &Trace) -> Verdict {
    checker.check(&Facts::of(trace))
}

/// What a checker concluded about a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the claim holds.
    pub holds: bool,
    /// What the claim expects, in words.
    pub expected: String,
    /// What the trace shows, in words.
    pub observed: String,
    /// The events that show it: for a failure, those that break the claim.
    pub evidence: Vec<Evidence>,
}

impl Verdict {
    /// A verdict without evidence.
    pub fn new(holds: bool, expected: String, observed: String) -> Verdict {
        Verdict {
            holds,
            expected,
            observed,
            evidence: Vec::new(),
        }
    }

    /// Adds an event as evidence.
    #[must_use]
    pub fn with(mut self, e: Evidence) -> Verdict {
        self.evidence.push(e);
        self
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.holds {
            write!(f, "holds: {} — observed: {}", self.expected, self.observed)?;
        } else {
            write!(f, "fails: {} — observed: {}", self.expected, self.observed)?;
        }
        for e in &self.evidence {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// One event that a verdict rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The event's index in [`Trace::events`].
    pub seq: usize,
    /// Its virtual time.
    pub at: Instant,
    /// Its loop iteration.
    pub iteration: u64,
    /// The task it concerns, if any.
    pub task: Option<TaskId>,
    /// What it shows, in words.
    pub note: String,
}

impl Evidence {
    /// The event at `seq` of `trace`, with a note.
    pub fn at(trace: &Trace, seq: usize, note: impl Into<String>) -> Evidence {
        let e = &trace.events[seq];
        Evidence {
            seq,
            at: e.at,
            iteration: e.iteration,
            task: e.task,
            note: note.into(),
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "event {} at {} (iteration {})",
            self.seq, self.at, self.iteration
        )?;
        if let Some(t) = self.task {
            write!(f, " task {t}")?;
        }
        write!(f, ": {}", self.note)
    }
}
