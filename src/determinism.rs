//! Determinism, tested rather than hoped for: run a program twice with the
//! same settings and compare the traces byte for byte.

use crate::sim::{Run, Sim};
use std::future::Future;

/// Where two runs of the same program diverged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The line of the JSON Lines trace where they first differ (0 is the header).
    pub line: usize,
    /// That line in the first run.
    pub first: String,
    /// That line in the second run.
    pub second: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "runs diverge at trace line {}:\n  first:  {}\n  second: {}",
            self.line, self.first, self.second
        )
    }
}

/// Runs `program()` twice on `sim` and compares the traces' bytes.
///
/// # Errors
///
/// The first event where the two runs differ.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, check_determinism, spawn, sleep};
/// use std::time::Duration;
/// let sim = Sim::builder().seed(3).build();
/// let run = check_determinism(&sim, || async {
///     spawn(sleep(Duration::from_secs(1))).await.unwrap();
/// }).unwrap();
/// assert!(run.is_completed());
/// ```
pub fn check_determinism<P, F>(sim: &Sim, program: P) -> Result<Run<F::Output>, Divergence>
where
    P: Fn() -> F,
    F: Future + 'static,
    F::Output: 'static,
{
    let a = sim.run(program());
    let b = sim.run(program());
    match a.trace.first_difference(&b.trace) {
        None => Ok(a),
        Some((line, first, second)) => Err(Divergence {
            line,
            first,
            second,
        }),
    }
}
