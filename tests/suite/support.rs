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

/// A CPython interpreter of `version` (`3.12.1`): the pyenv build, else
/// `python3.12` on the PATH; `None` when neither runs asyncio.
pub fn python(version: &str) -> Option<String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [
        format!("{home}/.pyenv/versions/{version}/bin/python3"),
        format!(
            "python{}",
            &version[..version.rfind('.').unwrap_or(version.len())]
        ),
    ];
    candidates.into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("-c")
            .arg("import asyncio")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// Runs the `loopsim` binary in `dir`; a run that takes a minute counts as
/// a hang. (The wall clock here times the test harness, not the simulator.)
#[allow(clippy::disallowed_methods)]
pub fn loopsim_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let start = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loopsim"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("loopsim runs");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "loopsim {args:?} took {:?}",
        start.elapsed()
    );
    out
}
