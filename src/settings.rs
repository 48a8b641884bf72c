//! Loop models, Python versions and limits: the named settings of a run.
//!
//! | model | ready queue | equal deadlines | clock |
//! |---|---|---|---|
//! | `asyncio` | FIFO, one snapshot per iteration (`_run_once`) | CPython `heapq` order (not FIFO) | `f64` seconds, as `loop.time()` |
//! | `fifo` | FIFO, one snapshot per iteration | first-come first-served | integer nanoseconds |
//! | `random` | one handle per iteration, chosen by the seeded scheduling stream | first-come first-served | integer nanoseconds |
//! | `pct` | one handle per iteration: the highest-priority task's, priorities seeded, with change points (probabilistic concurrency testing) | first-come first-served | integer nanoseconds |
//!
//! The `asyncio` model follows a Python version: 3.11 and 3.12+ differ in
//! `wait_for` (3.11 wraps the awaitable in a task and raises four iterations
//! after the timer; 3.12+ is `timeout()` and raises one iteration after) and
//! in how `gather` treats children that are already done. 3.13 differs from
//! 3.12 in `Semaphore` (a successful acquire wakes every waiter that can
//! proceed), `Condition.wait` (a waiter leaving with an exception notifies
//! another), `as_completed` (set up at the call, not at the first `next()`),
//! `Task.uncancel` (reaching 0 clears a pending cancellation) and
//! `TaskGroup.__aexit__` (uncancels the parent at the end, re-cancels it when
//! it is cancelled from outside and a child failed); see those modules.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the loop orders ready handles and timers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum LoopModel {
    /// CPython's asyncio reproduced exactly.
    #[default]
    Asyncio,
    /// FIFO ready queue; timers by (deadline, sequence).
    Fifo,
    /// A seeded random choice among ready handles.
    Random,
    /// Probabilistic concurrency testing: seeded task priorities with
    /// `depth - 1` priority change points (see [`PctConfig`](crate::PctConfig)).
    Pct,
}

impl LoopModel {
    /// Every model, in documentation order.
    pub const ALL: [LoopModel; 4] = [
        LoopModel::Asyncio,
        LoopModel::Fifo,
        LoopModel::Random,
        LoopModel::Pct,
    ];

    /// The model's name as written in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LoopModel::Asyncio => "asyncio",
            LoopModel::Fifo => "fifo",
            LoopModel::Random => "random",
            LoopModel::Pct => "pct",
        }
    }
}

impl fmt::Display for LoopModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown loop model or Python version name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{got}`: expected one of {expected}")]
pub struct UnknownName {
    what: &'static str,
    got: String,
    expected: &'static str,
}

impl FromStr for LoopModel {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LoopModel::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownName {
                what: "loop model",
                got: s.to_string(),
                expected: "asyncio, fifo, random, pct",
            })
    }
}

/// The CPython version whose asyncio the `asyncio` model follows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
pub enum PythonVersion {
    /// Python 3.11.
    #[serde(rename = "3.11")]
    Py311,
    /// Python 3.12.
    #[default]
    #[serde(rename = "3.12")]
    Py312,
    /// Python 3.13 (checked against 3.13.0).
    #[serde(rename = "3.13")]
    Py313,
}

impl PythonVersion {
    /// Every version, oldest first.
    pub const ALL: [PythonVersion; 3] = [
        PythonVersion::Py311,
        PythonVersion::Py312,
        PythonVersion::Py313,
    ];

    /// `3.11`, `3.12` or `3.13`.
    pub fn name(self) -> &'static str {
        match self {
            PythonVersion::Py311 => "3.11",
            PythonVersion::Py312 => "3.12",
            PythonVersion::Py313 => "3.13",
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PythonVersion {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "3.11" => Ok(PythonVersion::Py311),
            "3.12" | "3.12+" => Ok(PythonVersion::Py312),
            "3.13" => Ok(PythonVersion::Py313),
            _ => Err(UnknownName {
                what: "Python version",
                got: s.to_string(),
                expected: "3.11, 3.12, 3.13",
            }),
        }
    }
}

/// Limits that stop a runaway program. Exceeding one ends the run with
/// [`Outcome::LimitExceeded`](crate::Outcome::LimitExceeded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Virtual time the clock may not pass (default: 366 days).
    pub max_time: Duration,
    /// Handles (task steps and callbacks) the loop may run (default: 50 million).
    pub max_steps: u64,
    /// Tasks that may be created (default: 5 million).
    pub max_tasks: u64,
    /// Trace events that may be recorded (default: 8 million, about 400 MB
    /// held in memory); past it the run stops.
    pub max_trace_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_time: Duration::from_secs(366 * 24 * 3600),
            max_steps: 50_000_000,
            max_tasks: 5_000_000,
            max_trace_events: 8_000_000,
        }
    }
}
