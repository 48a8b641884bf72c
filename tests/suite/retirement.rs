//! Finished tasks give up their slots (`engine/table.rs`): nothing a run
//! shows may change when they do. Each test runs the same program with the
//! default blocks of 4096 ids and with blocks of one or two ids (which
//! retire all the time) and compares the trace bytes.

use crate::support::*;
use loopsim::trace::EventKind;
use loopsim::{Builder, Error, JoinHandle, LoopModel, Sim, TaskRef, catch_cancel, print, sleep};
use loopsim::{task_block_bits_on_this_thread, yield_now};

/// Runs `f` with blocks of `1 << bits` ids on this thread.
fn with_blocks<T>(bits: Option<u32>, f: impl FnOnce() -> T) -> T {
    task_block_bits_on_this_thread(bits);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    task_block_bits_on_this_thread(None);
    out.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// How task `i` ends.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Returns,
    Named,
    /// Raises; awaited (its exception retrieved) if `i` is even.
    Raises,
    /// Cancelled with a message while asleep.
    Cancelled,
    /// Lives to the end of `main`: it survives its block's retirement.
    Survives,
}

fn kind(i: u32) -> Kind {
    if i % 500 == 499 {
        return Kind::Survives;
    }
    match i % 4 {
        0 => Kind::Returns,
        1 => Kind::Named,
        2 => Kind::Raises,
        _ => Kind::Cancelled,
    }
}

const TASKS: u32 = 12_000;

/// Spawns `TASKS` tasks in waves of 100 that end in every way, then asks
/// every one of them what a finished task is asked; returns what answered
/// wrong.
async fn every_ending() -> Vec<String> {
    let mut refs: Vec<TaskRef> = Vec::new();
    let mut cancelled: Vec<(u32, JoinHandle<Result<u32, String>>)> = Vec::new();
    let mut survivors = Vec::new();
    let mut unretrieved = Vec::new();
    let mut wrong = Vec::new();
    for wave in 0..TASKS / 100 {
        let mut awaited = Vec::new();
        for i in wave * 100..(wave + 1) * 100 {
            let h = match kind(i) {
                Kind::Returns => Builder::new().spawn_fallible(async move {
                    yield_now().await;
                    Ok::<u32, String>(i)
                }),
                Kind::Named => Builder::new()
                    .name(format!("t{i}"))
                    .spawn_fallible(async move { Ok(i) }),
                Kind::Raises => Builder::new().spawn_fallible(async move {
                    yield_now().await;
                    Err(format!("e{i}"))
                }),
                Kind::Cancelled | Kind::Survives => Builder::new().spawn_fallible(async move {
                    sleep(secs(1_000)).await;
                    Ok(i)
                }),
            };
            refs.push(h.task());
            match kind(i) {
                Kind::Cancelled => {
                    h.task().cancel_with_message(&format!("m{i}"));
                    cancelled.push((i, h));
                }
                Kind::Survives => survivors.push(h),
                Kind::Raises if i % 8 == 6 => unretrieved.push(h),
                _ => awaited.push((i, h)),
            }
        }
        sleep(ms(1)).await;
        for (i, h) in awaited {
            let r = h.await;
            let want = match kind(i) {
                Kind::Raises => Err(format!("e{i}")),
                _ => Ok(i),
            };
            let got = r.unwrap_or_else(|e| Err(format!("loop error {e}")));
            if got != want {
                wrong.push(format!("task {i}: {got:?}, not {want:?}"));
            }
        }
    }
    print(format!("{} tasks", refs.len()));
    for (i, t) in (0..).zip(&refs) {
        let k = kind(i);
        let name = match k {
            Kind::Named => format!("t{i}"),
            _ => format!("Task-{}", t.id().0),
        };
        let answers = (
            t.is_done(),
            t.is_cancelled(),
            t.name(),
            t.cancel_message(),
            t.cancelling(),
        );
        let want = (
            k != Kind::Survives,
            k == Kind::Cancelled,
            name,
            (k == Kind::Cancelled).then(|| format!("m{i}")),
            u32::from(k == Kind::Cancelled),
        );
        if answers != want {
            wrong.push(format!("task {i}: {answers:?}, not {want:?}"));
        }
    }
    // A change to a finished task: `uncancel()` takes a request back.
    for (i, h) in cancelled.iter().step_by(7) {
        let t = h.task();
        let left = (t.uncancel(), t.cancelling(), t.uncancel());
        if left != (0, 0, 0) {
            wrong.push(format!("uncancel of task {i}: {left:?}"));
        }
    }
    // Awaiting a cancelled task hands its message on, once.
    for (i, h) in cancelled {
        let t = h.task();
        let r = catch_cancel(h).await;
        if !matches!(r, Err(Error::Cancelled)) || t.cancel_message().is_some() {
            wrong.push(format!("awaiting cancelled task {i}: {r:?}"));
        }
    }
    for h in &survivors {
        h.cancel();
    }
    for h in survivors {
        let _ = catch_cancel(h).await;
    }
    drop(unretrieved);
    wrong
}

fn run_on(sim: &Sim, bits: Option<u32>) -> (Vec<String>, Vec<u8>, usize) {
    with_blocks(bits, || {
        let run = sim.run(every_ending());
        let wrong = match &run.outcome {
            loopsim::Outcome::Completed(w) => w.clone(),
            other => vec![format!("main did not complete: {other:?}")],
        };
        let never_retrieved = run
            .trace
            .events
            .iter()
            .filter(|e| {
                matches!(e.kind, EventKind::Warning { warning } if warning.name() == "exception_never_retrieved")
            })
            .count();
        (wrong, run.trace.to_jsonl(), never_retrieved)
    })
}

#[test]
fn finished_tasks_answer_the_same_after_their_slots_are_given_up() {
    let raised_unretrieved = (0..TASKS)
        .filter(|i| i % 8 == 6 && kind(*i) == Kind::Raises)
        .count();
    for model in [LoopModel::Asyncio, LoopModel::Fifo] {
        let sim = Sim::builder().model(model).trace(true).build();
        let (wrong, trace, warned) = run_on(&sim, None);
        assert!(wrong.is_empty(), "{model}: {wrong:#?}");
        assert_eq!(
            warned, raised_unretrieved,
            "{model}: exceptions never retrieved"
        );
        for bits in [0, 1, 3] {
            let (wrong_small, trace_small, _) = run_on(&sim, Some(bits));
            assert!(
                wrong_small.is_empty(),
                "{model}, blocks of {}: {wrong_small:#?}",
                1 << bits
            );
            assert!(
                trace == trace_small,
                "{model}: the trace changes with blocks of {} ids",
                1 << bits
            );
        }
    }
}

/// Every scenario, under every model, gives the same trace bytes whether
/// its tasks' slots are given up at once or not at all.
#[test]
fn every_scenario_gives_the_same_trace_whatever_the_block_size() {
    let mut n = 0;
    for s in crate::scenarios::all_scenarios() {
        for v in &s.variants {
            for model in LoopModel::ALL {
                let run = |bits| {
                    with_blocks(bits, || {
                        loopsim::scenario::run_variant(&s, &v.name, Some(5), Some(model), true)
                    })
                };
                let a = run(None);
                let b = run(Some(0));
                assert!(
                    a.run.trace.to_jsonl() == b.run.trace.to_jsonl(),
                    "{} [{}] under {model}: the trace changes when slots are given up",
                    s.name,
                    v.name
                );
                n += 1;
            }
        }
    }
    assert!(n > 100, "only {n} runs");
}
