//! Property tests over generated programs with the public strategies and
//! checkers: each checker holds where its loop model promises it, fails
//! where the model does not (with a small shrunk counterexample written as
//! a scenario file that `loopsim run` replays), and catches each planted
//! bug. `PROPTEST_CASES` sets the depth (CI: the default 256; the campaign:
//! `.ci/campaign`).

use loopsim::LoopModel;
use loopsim::checks::{
    BoundedWait, Check, Count, DeadlineOrder, EqualDeadlineFifo, MaxInSection, NothingPending,
    ReadyFifo, TimeoutDelivered, WellFormed,
};
use loopsim::mutation::{Mutation, plant_on_this_thread};
use loopsim::strategies::{self, Program, ProgramConfig};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256)
}

fn sleeps_only() -> ProgramConfig {
    ProgramConfig {
        max_tasks: 6,
        max_ops: 3,
        locks: false,
        semaphore: None,
        blocking: false,
        timeouts: false,
        cancellation: false,
    }
}

/// Runs the property; `Ok` if it held on every case, else the shrunk
/// program and the failure message (the verdict and the counterexample's
/// path). Counterexamples go to the documented directory,
/// target/loopsim-counterexamples.
fn property(
    cfg: ProgramConfig,
    model: LoopModel,
    checker: &dyn Check,
    name: &str,
) -> Result<(), Box<(Program, String)>> {
    match strategies::find_counterexample(cfg, model, 0, checker, name, cases()) {
        None => Ok(()),
        Some((p, verdict, path)) => {
            let path = path.expect("the counterexample is written");
            Err(Box::new((
                p,
                format!("{verdict}\ncounterexample: {}", path.display()),
            )))
        }
    }
}

#[test]
fn asyncio_and_fifo_keep_their_promises_on_generated_programs() {
    for model in [LoopModel::Asyncio, LoopModel::Fifo] {
        for c in [
            &WellFormed as &dyn Check,
            &DeadlineOrder,
            &ReadyFifo,
            &BoundedWait(1),
            &NothingPending,
            &TimeoutDelivered(1),
        ] {
            if let Err(e) = property(ProgramConfig::default(), model, c, "promise") {
                let (p, why) = *e;
                panic!("{model}: {why}\n{}", p.toml);
            }
        }
    }
    let sem = MaxInSection {
        section: "sem".into(),
        count: Count::AtMost(2),
    };
    assert!(property(ProgramConfig::default(), LoopModel::Asyncio, &sem, "sem").is_ok());
}

#[test]
fn fifo_wakes_equal_deadlines_in_order_and_asyncio_does_not_from_four_sleeps() {
    assert!(
        property(
            sleeps_only(),
            LoopModel::Fifo,
            &EqualDeadlineFifo,
            "fifo_ties"
        )
        .is_ok()
    );
    let (p, why) = *property(
        sleeps_only(),
        LoopModel::Asyncio,
        &EqualDeadlineFifo,
        "asyncio_equal_deadlines",
    )
    .expect_err("asyncio's heap breaks ties out of order");
    assert!(
        p.tasks.len() <= 4,
        "not shrunk: {} tasks\n{}",
        p.tasks.len(),
        p.toml
    );
    assert!(p.ops() <= 6, "not shrunk: {} ops\n{}", p.ops(), p.toml);
    // The counterexample file replays the failure.
    let file = why
        .lines()
        .find_map(|l| l.strip_prefix("counterexample: "))
        .expect("the failure names its file");
    let out = crate::support::loopsim_in(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        &["run", file],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  equal deadlines fire first-come first-served"),
        "{text}"
    );
}

#[test]
fn planted_bugs_are_caught_with_small_counterexamples() {
    struct Case {
        bug: Mutation,
        model: LoopModel,
        cfg: ProgramConfig,
        checker: Box<dyn Check>,
        max_ops: usize,
    }
    let cases = [
        Case {
            bug: Mutation::ReverseEqualDeadlines,
            model: LoopModel::Fifo,
            cfg: sleeps_only(),
            checker: Box::new(EqualDeadlineFifo),
            max_ops: 2,
        },
        Case {
            bug: Mutation::SemaphoreOverAdmits,
            model: LoopModel::Asyncio,
            cfg: ProgramConfig {
                semaphore: Some(1),
                ..ProgramConfig::default()
            },
            checker: Box::new(MaxInSection {
                section: "sem".into(),
                count: Count::AtMost(1),
            }),
            max_ops: 3,
        },
        Case {
            bug: Mutation::LoseOneWakeup,
            model: LoopModel::Asyncio,
            cfg: ProgramConfig::default(),
            checker: Box::new(NothingPending),
            max_ops: 2,
        },
    ];
    for c in cases {
        plant_on_this_thread(Some(c.bug));
        let r = property(c.cfg, c.model, c.checker.as_ref(), &format!("{:?}", c.bug));
        plant_on_this_thread(None);
        let (p, _) = *r.expect_err(&format!("{:?} was not caught", c.bug));
        assert!(
            p.ops() <= c.max_ops,
            "{:?}: counterexample of {} ops\n{}",
            c.bug,
            p.ops(),
            p.toml
        );
    }
}

// The README's example, as written there: under `asyncio` it fails (and
// writes target/loopsim-counterexamples/equal_deadlines.toml).
mod readme_example {
    use loopsim::LoopModel;
    use loopsim::checks::EqualDeadlineFifo;
    use loopsim::strategies::{self, ProgramConfig};
    use proptest::prelude::*;

    proptest! {
        #[test]
        #[should_panic(expected = "replay: loopsim run")]
        fn equal_deadlines_wake_first_come_first_served(p in strategies::program(ProgramConfig::default())) {
            strategies::check(&p, LoopModel::Asyncio, 0, &EqualDeadlineFifo, "equal_deadlines")?;
        }
    }
}

/// A search for a counterexample is deterministic: the same call finds the
/// same program, byte for byte.
#[test]
fn a_counterexample_search_finds_the_same_program_twice() {
    let search = || {
        plant_on_this_thread(Some(Mutation::LoseOneWakeup));
        let r = property(
            ProgramConfig::default(),
            LoopModel::Asyncio,
            &NothingPending,
            "twice",
        );
        plant_on_this_thread(None);
        r.expect_err("the planted bug is caught").0.toml
    };
    assert_eq!(search(), search());
}
