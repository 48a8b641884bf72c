//! The trace checkers against the loop models: each holds where the model
//! promises it (on every scenario's runs, under every model that should
//! keep it) and fails where it should not, with evidence.

use crate::scenarios::all_scenarios;
use loopsim::checks::{
    self, BoundedWait, Check, DeadlineOrder, EqualDeadlineFifo, Facts, FirstComeFirstServed,
    NothingPending, ReadyFifo, TimeoutDelivered, WellFormed,
};
use loopsim::scenario::run_variant;
use loopsim::sync::Lock;
use loopsim::{LoopModel, Sim, gather_tasks, sleep, spawn, timeout};
use std::time::Duration;

fn runs(model: Option<LoopModel>) -> Vec<(String, loopsim::Trace)> {
    let mut out = Vec::new();
    for s in all_scenarios() {
        for v in &s.variants {
            let r = run_variant(&s, &v.name, None, model, true);
            out.push((
                format!("{}/{} ({:?})", s.name, v.name, r.model),
                r.run.trace,
            ));
        }
    }
    out
}

fn holds_on_all(c: &dyn Check, runs: &[(String, loopsim::Trace)]) {
    for (name, t) in runs {
        let v = c.check(&Facts::of(t));
        assert!(v.holds, "{name}: {v}");
    }
}

#[test]
fn every_trace_is_well_formed_under_every_model() {
    for model in [
        None,
        Some(LoopModel::Fifo),
        Some(LoopModel::Random),
        Some(LoopModel::Pct),
    ] {
        holds_on_all(&WellFormed, &runs(model));
    }
}

#[test]
fn asyncio_and_fifo_keep_deadline_order_ready_fifo_and_one_iteration_waits() {
    for model in [Some(LoopModel::Asyncio), Some(LoopModel::Fifo)] {
        let runs = runs(model);
        holds_on_all(&DeadlineOrder, &runs);
        holds_on_all(&ReadyFifo, &runs);
        holds_on_all(&BoundedWait(1), &runs);
        // Delivered at the task's next step: one iteration after the timer
        // when it awaits a sleep or a future, one more for each task the
        // cancellation is forwarded through (`wait_for` of a task).
        holds_on_all(&TimeoutDelivered(3), &runs);
    }
}

#[test]
fn fifo_wakes_equal_deadlines_first_come_first_served() {
    holds_on_all(&EqualDeadlineFifo, &runs(Some(LoopModel::Fifo)));
}

async fn equal_sleeps(n: u64) {
    let hs = (0..n)
        .map(|_| {
            spawn(async {
                sleep(Duration::from_millis(10)).await;
                Ok::<(), loopsim::Error>(())
            })
        })
        .collect();
    let _ = gather_tasks(hs).await;
}

#[test]
fn asyncio_breaks_equal_deadline_fifo_at_four_sleeps_not_three() {
    let sim = Sim::builder().model(LoopModel::Asyncio).build();
    let three = sim.run(equal_sleeps(3));
    assert!(checks::check(&EqualDeadlineFifo, &three.trace).holds);
    let four = sim.run(equal_sleeps(4));
    let v = checks::check(&EqualDeadlineFifo, &four.trace);
    assert!(!v.holds, "{v}");
    // Task-4 (the third sleeper) wakes before Task-3 (the second).
    assert!(v.observed.contains("task #4 woke before task #3"), "{v}");
    assert_eq!(v.evidence.len(), 2);
    assert!(checks::check(&DeadlineOrder, &four.trace).holds);
}

#[test]
fn the_random_model_breaks_ready_fifo_on_some_seed() {
    let failing = (0..50).find(|seed| {
        let run = Sim::builder()
            .model(LoopModel::Random)
            .seed(*seed)
            .build()
            .run(equal_sleeps(4));
        !checks::check(&ReadyFifo, &run.trace).holds
    });
    assert!(failing.is_some(), "no seed of 50 reordered the ready queue");
}

#[test]
fn a_lock_serves_its_waiters_first_come_first_served() {
    let run = Sim::builder().build().run(async {
        let lock = Lock::named("db");
        let hs = (0..4)
            .map(|i| {
                let lock = lock.clone();
                spawn(async move {
                    sleep(Duration::from_millis(i)).await;
                    let _g = lock.acquire().await;
                    sleep(Duration::from_millis(10)).await;
                    Ok::<(), loopsim::Error>(())
                })
            })
            .collect();
        let _ = gather_tasks(hs).await;
    });
    let v = checks::check(&FirstComeFirstServed("db".into()), &run.trace);
    assert!(v.holds, "{v}");
    assert!(v.observed.starts_with("3 waiters"), "{v}");
}

#[test]
fn a_timeout_arrives_one_iteration_after_its_timer() {
    let run = Sim::builder().build().run(async {
        let _ = timeout(Duration::from_secs(1), sleep(Duration::from_secs(5))).await;
    });
    let v = checks::check(&TimeoutDelivered(1), &run.trace);
    assert!(v.holds && v.observed.starts_with("1 timeouts"), "{v}");
    assert!(!checks::check(&TimeoutDelivered(0), &run.trace).holds);
}

#[test]
fn nothing_pending_fails_when_a_task_outlives_shutdown() {
    let ok = Sim::builder().build().run(equal_sleeps(2));
    assert!(checks::check(&NothingPending, &ok.trace).holds);
    // A task that swallows every cancellation survives shutdown.
    let stubborn = Sim::builder().build().run(async {
        spawn(async {
            loop {
                let _ = loopsim::catch_cancel(sleep(Duration::from_secs(1))).await;
            }
        });
        sleep(Duration::ZERO).await;
    });
    let v = checks::check(&NothingPending, &stubborn.trace);
    assert!(!v.holds, "{v}");
    assert_eq!(v.evidence.len(), 1);
}

#[test]
fn the_random_model_makes_ready_tasks_wait_more_than_one_iteration() {
    let run = Sim::builder()
        .model(LoopModel::Random)
        .seed(3)
        .build()
        .run(equal_sleeps(6));
    let v = checks::check(&BoundedWait(1), &run.trace);
    assert!(!v.holds, "{v}");
    assert_eq!(v.evidence.len(), 2);
}

#[test]
fn a_trace_edited_out_of_order_is_caught() {
    let run = Sim::builder().build().run(equal_sleeps(3));
    // The clock going back.
    let mut t = run.trace.clone();
    let last = t.events.len() - 2;
    t.events[last].at = loopsim::Instant::ZERO;
    let v = checks::check(&WellFormed, &t);
    assert!(!v.holds && v.observed.contains("clock went back"), "{v}");
    // A step started twice.
    let mut t = run.trace.clone();
    let i = t
        .events
        .iter()
        .position(|e| matches!(e.kind, loopsim::trace::EventKind::StepStarted { .. }))
        .unwrap();
    let dup = t.events[i];
    t.events.insert(i + 1, dup);
    assert!(!checks::check(&WellFormed, &t).holds);
    // A later deadline woken first: the last sleeper made the earliest.
    let mut t = run.trace.clone();
    let wakes: Vec<usize> = t
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            matches!(
                e.kind,
                loopsim::trace::EventKind::StepEnded {
                    end: loopsim::trace::StepEnd::Suspended {
                        on: loopsim::trace::WaitOn::Timer { .. }
                    }
                }
            )
        })
        .map(|(i, _)| i)
        .collect();
    if let loopsim::trace::EventKind::StepEnded {
        end:
            loopsim::trace::StepEnd::Suspended {
                on: loopsim::trace::WaitOn::Timer { deadline },
            },
    } = &mut t.events[wakes[2]].kind
    {
        *deadline = loopsim::Instant::from_nanos(1);
    }
    let v = checks::check(&DeadlineOrder, &t);
    assert!(!v.holds, "{v}");
}

/// The starter runs `steps` awaits then sets a flag; the checker yields
/// once and reads it. Seeing it set needs the starter to run all its steps
/// first: a depth-1 ordering that PCT finds on about half the seeds.
async fn ordering(steps: u32) -> bool {
    let ready = std::rc::Rc::new(std::cell::Cell::new(false));
    let r = ready.clone();
    let starter = spawn(async move {
        for _ in 0..steps {
            loopsim::yield_now().await;
        }
        r.set(true);
    });
    let checker = spawn(async move {
        loopsim::yield_now().await;
        ready.get()
    });
    starter.await.unwrap();
    checker.await.unwrap()
}

#[test]
fn pct_finds_an_ordering_bug_random_schedules_miss() {
    let found = |model: LoopModel| {
        (0..200u64)
            .filter(|s| {
                Sim::builder()
                    .model(model)
                    .seed(*s)
                    .build()
                    .run(ordering(20))
                    .value()
                    == Some(&true)
            })
            .count()
    };
    let (random, pct) = (found(LoopModel::Random), found(LoopModel::Pct));
    assert_eq!(random, 0, "random found it on {random} seeds");
    assert!(pct >= 40, "pct found it on only {pct} of 200 seeds");
}

#[test]
fn pct_schedules_replay_from_their_seed_and_keep_the_traces_well_formed() {
    for seed in 0..20 {
        let sim = Sim::builder().model(LoopModel::Pct).seed(seed).build();
        let a = sim.run(ordering(5));
        let b = sim.run(ordering(5));
        assert_eq!(a.trace.to_jsonl(), b.trace.to_jsonl(), "seed {seed}");
        assert!(checks::check(&WellFormed, &a.trace).holds);
        assert!(checks::check(&DeadlineOrder, &a.trace).holds);
    }
}
