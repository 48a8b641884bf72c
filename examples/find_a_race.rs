//! Exploring interleavings with the `random` loop model: a check-then-act
//! race on a shared counter shows up on some seeds and never on others; the
//! seed replays the failing schedule exactly.
//!
//! ```sh
//! cargo run --example find_a_race
//! ```

use loopsim::{LoopModel, Sim, spawn, yield_now};
use std::cell::Cell;
use std::rc::Rc;

/// Two tasks each read the counter, yield (an await in between), then write
/// read + 1. Without a lock, an interleaving loses an update.
async fn program() -> u32 {
    let counter = Rc::new(Cell::new(0u32));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let c = counter.clone();
            spawn(async move {
                let seen = c.get();
                yield_now().await;
                c.set(seen + 1);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("no panic");
    }
    counter.get()
}

fn main() {
    let mut lost = Vec::new();
    for seed in 0..20 {
        let run = Sim::builder()
            .model(LoopModel::Random)
            .seed(seed)
            .build()
            .run(program());
        if run.value() != Some(&2) {
            lost.push(seed);
        }
    }
    println!("seeds that lose an update under the random model: {lost:?}");
    // asyncio's FIFO order interleaves the two reads before the writes: the
    // update is lost every time.
    let asyncio = Sim::builder().build().run(program());
    println!("under asyncio the counter ends at {:?}", asyncio.value());
    if let Some(seed) = lost.first() {
        let again = Sim::builder()
            .model(LoopModel::Random)
            .seed(*seed)
            .build()
            .run(program());
        println!(
            "seed {seed} replays the same schedule: counter = {:?}",
            again.value()
        );
    }
}
