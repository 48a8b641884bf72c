//! Exploring interleavings: a race shows up on some seeds and never on
//! others; the seed replays the failing schedule exactly. Compares how many
//! seeds the `random` and `pct` (probabilistic concurrency testing) models
//! need on two races:
//!
//! - a lost update (a read, an await, a write) that any interleaving of
//!   another increment into the gap breaks: shallow, so a uniformly random
//!   schedule finds it often, and PCT (which preempts a task only at its
//!   few change points) less often;
//! - an ordering bug that shows only when one task runs twenty steps before
//!   another runs one: a random schedule almost never does that (2^-20),
//!   PCT does whenever it gives that task the higher priority (about half
//!   the seeds) — the bug of depth 1 PCT is built to find.
//!
//! ```sh
//! cargo run --release --example find_a_race
//! ```

use loopsim::{LoopModel, PctConfig, Sim, spawn, yield_now};
use std::cell::Cell;
use std::rc::Rc;

/// `workers` tasks each do `busy` awaits of unrelated work, then one of
/// them — the writer — reads the counter, yields (an await in between) and
/// writes read + 1, while every other task increments it atomically once.
/// The update is lost only if another task's increment lands between the
/// writer's read and its write.
async fn program(workers: u32, busy: u32) -> u32 {
    let counter = Rc::new(Cell::new(0u32));
    let tasks: Vec<_> = (0..workers)
        .map(|i| {
            let c = counter.clone();
            spawn(async move {
                for _ in 0..busy {
                    yield_now().await;
                }
                if i == 0 {
                    let seen = c.get();
                    yield_now().await;
                    c.set(seen + 1);
                } else {
                    for _ in 0..i {
                        yield_now().await;
                    }
                    c.set(c.get() + 1);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("no panic");
    }
    counter.get()
}

/// A "ready" flag a starter sets after `steps` awaits of set-up; a checker
/// yields once and reports whether the starter had already finished — the
/// bug is the checker seeing the flag set.
async fn ordering(steps: u32) -> bool {
    let ready = Rc::new(Cell::new(false));
    let r = ready.clone();
    let starter = spawn(async move {
        for _ in 0..steps {
            yield_now().await;
        }
        r.set(true);
    });
    let checker = spawn(async move {
        yield_now().await;
        ready.get()
    });
    starter.await.expect("no panic");
    checker.await.expect("no panic")
}

fn sim(model: LoopModel, seed: u64) -> Sim {
    Sim::builder()
        .model(model)
        .pct(PctConfig {
            depth: 2,
            steps: 60,
        })
        .seed(seed)
        .trace(false)
        .build()
}

/// Seeds `0..n` that lose an update.
fn losing(model: LoopModel, workers: u32, busy: u32, n: u64) -> Vec<u64> {
    (0..n)
        .filter(|s| sim(model, *s).run(program(workers, busy)).value() != Some(&workers))
        .collect()
}

fn main() {
    let (workers, busy, n) = (8, 4, 2000);
    println!("{workers} tasks, {busy} awaits of other work each, seeds 0..{n}:");
    for model in [LoopModel::Random, LoopModel::Pct] {
        let lost = losing(model, workers, busy, n);
        println!(
            "  {:>6}: {} of {n} seeds lose the update ({:.1} %); first failing seed: {:?}",
            model.name(),
            lost.len(),
            100.0 * lost.len() as f64 / n as f64,
            lost.first()
        );
        if let Some(seed) = lost.first() {
            let again = sim(model, *seed).run(program(workers, busy));
            println!(
                "          seed {seed} replays the same schedule: counter = {:?}",
                again.value()
            );
        }
    }
    let asyncio = Sim::builder().build().run(program(workers, busy));
    println!(
        "  asyncio: the counter ends at {:?} (FIFO order is one fixed schedule)",
        asyncio.value()
    );
    let steps = 20;
    println!("\nthe checker sees a starter of {steps} steps finished, seeds 0..{n}:");
    for model in [LoopModel::Random, LoopModel::Pct] {
        let found: Vec<u64> = (0..n)
            .filter(|s| sim(model, *s).run(ordering(steps)).value() == Some(&true))
            .collect();
        println!(
            "  {:>6}: {} of {n} seeds show it; first: {:?}",
            model.name(),
            found.len(),
            found.first()
        );
    }
}
