//! Helpers shared by the test modules.

use loopsim::{LoopModel, PythonVersion, Run, Sim};
use std::future::Future;
use std::time::Duration;

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn asyncio() -> Sim {
    Sim::builder().build()
}

pub fn asyncio_311() -> Sim {
    Sim::builder().python(PythonVersion::Py311).build()
}

pub fn fifo() -> Sim {
    Sim::builder().model(LoopModel::Fifo).build()
}

/// Runs the program twice on `sim`, asserts both traces are byte-identical,
/// and returns the first run.
pub fn run_twice<P, F>(sim: &Sim, program: P) -> Run<F::Output>
where
    P: Fn() -> F,
    F: Future + 'static,
    F::Output: 'static,
{
    match loopsim::check_determinism(sim, program) {
        Ok(run) => run,
        Err(d) => panic!("non-deterministic run: {d}"),
    }
}

/// Output lines as `"<time> <text>"`.
pub fn timed(run: &Run<impl Sized>) -> Vec<String> {
    run.output
        .iter()
        .map(|l| format!("{} {}", l.at, l.text))
        .collect()
}
