//! Proptest strategies for scheduling properties: programs as values that
//! run on loopsim, durations that collide, seeds and loop models — and a
//! helper that turns a failing case into a scenario file `loopsim run`
//! replays and `loopsim report` draws.
//!
//! ```
//! use loopsim::checks::EqualDeadlineFifo;
//! use loopsim::strategies::{self, ProgramConfig};
//! use loopsim::LoopModel;
//! use proptest::prelude::*;
//! use proptest::test_runner::TestRunner;
//!
//! // Under `fifo`, equal deadlines wake first come, first served: true for
//! // every generated program.
//! let mut runner = TestRunner::default();
//! runner
//!     .run(&strategies::program(ProgramConfig::default()), |p| {
//!         strategies::check(&p, LoopModel::Fifo, 0, &EqualDeadlineFifo, "fifo_ties")
//!     })
//!     .unwrap();
//! ```
//!
//! # Distributions, and how they shrink
//!
//! - [`colliding`] durations come from a small palette: zero, round
//!   values that many sleeps share (so deadlines tie), and decimal values
//!   whose float sums round (`0.1 + 0.2`). They shrink toward the front of
//!   the palette: zero, then 1 ms, 10 ms.
//! - A [`program`] is 1 to `max_tasks` tasks started together by `main`,
//!   each a list of 1 to `max_ops` operations ([`Op`]): sleeps, bare
//!   yields, prints, blocking calls, and (if enabled) critical sections
//!   under a lock or a semaphore and sleeps under `asyncio.timeout`; `main`
//!   may cancel one task after a while. It never deadlocks: sections do not
//!   nest and every task is awaited (a cancelled one inside `try`). It
//!   shrinks toward fewer tasks, fewer operations, no cancellation, and
//!   shorter, rounder durations.
//! - [`counterexample`] writes a program as a scenario file, its model and
//!   seed in it, under `target/loopsim-counterexamples/` (or
//!   `$LOOPSIM_COUNTEREXAMPLES`); [`check`] does it when a checker fails
//!   and names the file and the `loopsim run` command in the failure.

use crate::checks::{Check, Facts};
use crate::scenario::{self, Scenario};
use crate::settings::LoopModel;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The palette [`colliding`] draws from, in shrinking order.
pub const PALETTE: &[Duration] = &[
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(300),
    Duration::from_secs(1),
    Duration::from_millis(1500),
];

/// Durations that collide: equal values, zero, and decimal values whose
/// float sums round differently (`0.1 + 0.2 != 0.3`). Shrinks toward zero.
pub fn colliding() -> impl Strategy<Value = Duration> {
    prop::sample::select(PALETTE)
}

/// Seeds, for models and programs that draw.
pub fn seeds() -> impl Strategy<Value = u64> {
    0u64..1_000_000
}

/// Every loop model (shrinks toward `asyncio`).
pub fn models() -> impl Strategy<Value = LoopModel> {
    prop::sample::select(&LoopModel::ALL[..])
}

/// What a generated program may contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramConfig {
    /// At most this many tasks (at least 1).
    pub max_tasks: usize,
    /// At most this many operations per task (at least 1).
    pub max_ops: usize,
    /// Critical sections under a shared lock.
    pub locks: bool,
    /// Critical sections under a shared semaphore of this many permits.
    pub semaphore: Option<u32>,
    /// Blocking calls (`time.sleep` in a coroutine).
    pub blocking: bool,
    /// Sleeps under `asyncio.timeout` (the `TimeoutError` caught and printed).
    pub timeouts: bool,
    /// `main` cancels one task after a while (awaiting it then raises
    /// `CancelledError`, caught and printed).
    pub cancellation: bool,
}

impl Default for ProgramConfig {
    fn default() -> ProgramConfig {
        ProgramConfig {
            max_tasks: 5,
            max_ops: 4,
            locks: true,
            semaphore: Some(2),
            blocking: true,
            timeouts: true,
            cancellation: true,
        }
    }
}

/// One operation of a generated task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `await asyncio.sleep(d)`.
    Sleep(Duration),
    /// `await asyncio.sleep(0)`.
    Yield,
    /// `print(…)` naming the task and the step.
    Print,
    /// `time.sleep(d)`: blocks the loop.
    Block(Duration),
    /// `async with lock: await asyncio.sleep(d)`.
    Locked(Duration),
    /// `async with sem: await asyncio.sleep(d)`.
    Permitted(Duration),
    /// `async with asyncio.timeout(limit): await asyncio.sleep(d)`, the
    /// `TimeoutError` caught.
    TimedSleep {
        /// The timeout.
        limit: Duration,
        /// The sleep under it.
        sleep: Duration,
    },
}

/// A generated program: its tasks' operations, and the scenario they make.
#[derive(Clone, Debug)]
pub struct Program {
    /// Each task's operations, in task order.
    pub tasks: Vec<Vec<Op>>,
    /// The semaphore's permits, if the program uses one.
    pub permits: Option<u32>,
    /// `main` cancels task `.0` after sleeping `.1`, if set.
    pub cancel: Option<(usize, Duration)>,
    /// The scenario file's text.
    pub toml: String,
    /// The scenario.
    pub scenario: Scenario,
}

impl Program {
    /// Operations in all, a measure of size.
    pub fn ops(&self) -> usize {
        self.tasks.iter().map(Vec::len).sum()
    }
}

fn op(cfg: &ProgramConfig) -> BoxedStrategy<Op> {
    let mut choices: Vec<BoxedStrategy<Op>> = vec![
        colliding().prop_map(Op::Sleep).boxed(),
        Just(Op::Yield).boxed(),
        Just(Op::Print).boxed(),
    ];
    if cfg.blocking {
        choices.push(colliding().prop_map(Op::Block).boxed());
    }
    if cfg.locks {
        choices.push(colliding().prop_map(Op::Locked).boxed());
    }
    if cfg.semaphore.is_some() {
        choices.push(colliding().prop_map(Op::Permitted).boxed());
    }
    if cfg.timeouts {
        choices.push(
            (colliding(), colliding())
                .prop_map(|(limit, sleep)| Op::TimedSleep { limit, sleep })
                .boxed(),
        );
    }
    prop::strategy::Union::new(choices).boxed()
}

/// Programs under `cfg` (see the module's documentation).
pub fn program(cfg: ProgramConfig) -> impl Strategy<Value = Program> {
    let task = prop::collection::vec(op(&cfg), 1..=cfg.max_ops.max(1));
    let tasks = prop::collection::vec(task, 1..=cfg.max_tasks.max(1));
    let cancel = if cfg.cancellation {
        prop::option::of((0..cfg.max_tasks.max(1), colliding())).boxed()
    } else {
        Just(None).boxed()
    };
    (tasks, cancel).prop_map(move |(tasks, cancel)| {
        let cancel = cancel.filter(|(i, _)| *i < tasks.len());
        build(tasks, cfg.semaphore, cancel)
    })
}

fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The scenario text of a program.
fn build(tasks: Vec<Vec<Op>>, permits: Option<u32>, cancel: Option<(usize, Duration)>) -> Program {
    let uses = |f: fn(&Op) -> bool| tasks.iter().flatten().any(f);
    let locks = uses(|o| matches!(o, Op::Locked(_)));
    let sems = uses(|o| matches!(o, Op::Permitted(_)));
    let mut t = String::from("title = \"a generated program\"\n");
    if locks {
        t.push_str("\n[primitives.lock]\nkind = \"lock\"\n");
    }
    if sems {
        let _ = write!(
            t,
            "\n[primitives.sem]\nkind = \"semaphore\"\nvalue = {}\n",
            permits.unwrap_or(1)
        );
    }
    for (i, ops) in tasks.iter().enumerate() {
        let _ = write!(t, "\n[coroutines.t{i}]\nsteps = [\n");
        for (j, o) in ops.iter().enumerate() {
            let step = match o {
                Op::Sleep(d) => format!("{{ sleep = \"{}\" }}", dur(*d)),
                Op::Yield => "{ sleep = \"0s\" }".to_string(),
                Op::Print => format!("{{ print = \"t{i} step {j}\" }}"),
                Op::Block(d) => format!("{{ block = \"{}\" }}", dur(*d)),
                Op::Locked(d) => format!(
                    "{{ lock = \"lock\", steps = [{{ sleep = \"{}\" }}] }}",
                    dur(*d)
                ),
                Op::Permitted(d) => format!(
                    "{{ semaphore = \"sem\", steps = [{{ sleep = \"{}\" }}] }}",
                    dur(*d)
                ),
                Op::TimedSleep { limit, sleep } => format!(
                    "{{ try = [{{ timeout = \"{}\", steps = [{{ sleep = \"{}\" }}] }}], except = \"TimeoutError\", handler = [{{ print = \"t{i} step {j} timed out\" }}] }}",
                    dur(*limit),
                    dur(*sleep)
                ),
            };
            let _ = writeln!(t, "  {step},");
        }
        t.push_str("]\n");
    }
    t.push_str("\n[coroutines.main]\nsteps = [\n");
    for i in 0..tasks.len() {
        let _ = writeln!(t, "  {{ spawn = \"t{i}()\", as = \"h{i}\" }},");
    }
    if let Some((k, after)) = cancel {
        let _ = writeln!(t, "  {{ sleep = \"{}\" }},", dur(after));
        let _ = writeln!(t, "  {{ cancel = \"h{k}\" }},");
    }
    for i in 0..tasks.len() {
        if cancel.is_some_and(|(k, _)| k == i) {
            let _ = writeln!(
                t,
                "  {{ try = [{{ await = \"h{i}\" }}], except = \"CancelledError\", handler = [{{ print = \"t{i} cancelled\" }}] }},"
            );
        } else {
            let _ = writeln!(t, "  {{ await = \"h{i}\" }},");
        }
    }
    t.push_str("]\n");
    let scenario = scenario::parse("generated.toml", &t)
        .unwrap_or_else(|e| panic!("a generated program must be valid: {e}\n{t}"));
    Program {
        tasks,
        permits,
        cancel,
        toml: t,
        scenario,
    }
}

/// Shrinks a failing program further than proptest's greedy shrinking
/// can (which stops at a local minimum): removes whole tasks, then single
/// operations, then the cancellation, while `fails` still says it fails,
/// until nothing more can go. Each candidate is rebuilt, so it is a valid
/// program.
pub fn minimize(p: Program, fails: impl Fn(&Program) -> bool) -> Program {
    let mut best = p;
    loop {
        let mut smaller = None;
        let (tasks, permits, cancel) = (&best.tasks, best.permits, best.cancel);
        // Whole tasks first, then single operations.
        for i in 0..tasks.len() {
            if tasks.len() == 1 {
                break;
            }
            let mut t = tasks.clone();
            t.remove(i);
            let c = cancel.and_then(|(k, d)| match k.cmp(&i) {
                std::cmp::Ordering::Less => Some((k, d)),
                std::cmp::Ordering::Equal => None,
                std::cmp::Ordering::Greater => Some((k - 1, d)),
            });
            let cand = build(t, permits, c);
            if fails(&cand) {
                smaller = Some(cand);
                break;
            }
        }
        if smaller.is_none() {
            'ops: for i in 0..tasks.len() {
                for j in 0..tasks[i].len() {
                    if tasks[i].len() == 1 {
                        continue;
                    }
                    let mut t = tasks.clone();
                    t[i].remove(j);
                    let cand = build(t, permits, cancel);
                    if fails(&cand) {
                        smaller = Some(cand);
                        break 'ops;
                    }
                }
            }
        }
        if smaller.is_none() && cancel.is_some() {
            let cand = build(tasks.clone(), permits, None);
            if fails(&cand) {
                smaller = Some(cand);
            }
        }
        match smaller {
            Some(c) => best = c,
            None => return best,
        }
    }
}

/// Searches `cases` generated programs for one that breaks `checker`
/// under `model` and `seed`; shrinks it (proptest, then [`minimize`]),
/// writes it as a counterexample file named `name`, and returns it with the
/// verdict and the file's path. `None` if the property held on every case.
///
/// The search is deterministic: `seed` also seeds the generation of
/// programs (unless `PROPTEST_RNG_SEED` names another seed), so the same
/// call finds the same counterexample.
pub fn find_counterexample(
    cfg: ProgramConfig,
    model: LoopModel,
    seed: u64,
    checker: &dyn Check,
    name: &str,
    cases: u32,
) -> Option<(Program, crate::checks::Verdict, std::io::Result<PathBuf>)> {
    use proptest::test_runner::{Config, RngSeed, TestError, TestRunner};
    let judge = |p: &Program| {
        let run = scenario::run_variant(&p.scenario, "main", Some(seed), Some(model), true);
        checker.check(&Facts::of(&run.run.trace))
    };
    let default = Config::default();
    let rng_seed = match default.rng_seed {
        RngSeed::Random => RngSeed::Fixed(seed),
        chosen => chosen,
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed,
        ..default
    });
    let found = match runner.run(&program(cfg), |p| {
        if judge(&p).holds {
            Ok(())
        } else {
            Err(TestCaseError::fail("the property fails"))
        }
    }) {
        Ok(()) => return None,
        Err(TestError::Fail(_, p)) => p,
        Err(TestError::Abort(why)) => panic!("the search stopped: {why}"),
    };
    let small = minimize(found, |p| !judge(p).holds);
    let verdict = judge(&small);
    let path = counterexample(name, &small, model, seed, checker.as_claim().as_deref());
    Some((small, verdict, path))
}

/// Where [`counterexample`] writes: `$LOOPSIM_COUNTEREXAMPLES`, else
/// `target/loopsim-counterexamples`.
pub fn counterexample_dir() -> PathBuf {
    std::env::var_os("LOOPSIM_COUNTEREXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/loopsim-counterexamples"))
}

/// Writes `p` as the scenario file `NAME.toml` in [`counterexample_dir`],
/// with `model` and `seed` in it (and `claim`, the body of an `[[expect]]`
/// table, if given), and returns its path. The file is
/// written whole or not at all (a temporary file renamed into place).
///
/// # Errors
///
/// The directory cannot be created or written.
pub fn counterexample(
    name: &str,
    p: &Program,
    model: LoopModel,
    seed: u64,
    claim: Option<&str>,
) -> std::io::Result<PathBuf> {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let dir = counterexample_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{safe}.toml"));
    let text = format!(
        "# A counterexample found by a property test ({name}); replay: loopsim run {}\nname = \"{safe}\"\nmodel = \"{}\"\nseed = {seed}\n{}",
        path.display(),
        model.name(),
        p.toml.replacen(
            "title = \"a generated program\"",
            &format!("title = \"counterexample: {safe}\""),
            1
        )
    );
    let text = match claim {
        Some(c) => format!("{text}\n[[expect]]\n{c}\n"),
        None => text,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// Runs `p` under `model` and `seed` and judges its trace with `checker`.
/// On failure, writes the program as a counterexample file named `name`
/// and fails the case with the verdict and the command that replays it —
/// as proptest shrinks, the file ends as the smallest failing program.
///
/// # Errors
///
/// The test-case failure, for proptest.
pub fn check(
    p: &Program,
    model: LoopModel,
    seed: u64,
    checker: &dyn Check,
    name: &str,
) -> Result<(), TestCaseError> {
    let s = &p.scenario;
    let v = &s.variants[0].name;
    let run = scenario::run_variant(s, v, Some(seed), Some(model), true);
    let verdict = checker.check(&Facts::of(&run.run.trace));
    if verdict.holds {
        return Ok(());
    }
    let claim = checker.as_claim();
    let file = match counterexample(name, p, model, seed, claim.as_deref()) {
        Ok(path) => format!(
            "\ncounterexample: {0}\nreplay: loopsim run {0}",
            path.display()
        ),
        Err(e) => format!("\n(could not write the counterexample: {e})"),
    };
    Err(TestCaseError::fail(format!("{verdict}{file}")))
}
