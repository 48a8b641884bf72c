//! The baseline workloads written for tokio's current-thread runtime with a
//! paused clock: what a Rust user would reach for instead of loopsim. The
//! programs have the same shape as `loopsim::workloads` (same task counts,
//! same sleep distributions from a seeded generator, a bounded MPMC channel
//! where loopsim has `Queue`), so `loopsim bench --compare tokio` measures
//! one executor against the other. Built with the `compare-tokio` feature.

use loopsim::workloads::Workload;
use rand::{RngExt, SeedableRng};
use std::time::Duration;

/// Runs `w` once on a fresh paused-clock runtime.
pub fn run(w: Workload) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    match w {
        Workload::Sleepers { tasks } => rt.block_on(async move {
            let hs: Vec<_> = (0..tasks)
                .map(|_| {
                    let ms = rng.random_range(1..=1000u64);
                    tokio::spawn(tokio::time::sleep(Duration::from_millis(ms)))
                })
                .collect();
            for h in hs {
                h.await.expect("sleeper finishes");
            }
        }),
        Workload::Yields { tasks, yields } => rt.block_on(async move {
            let hs: Vec<_> = (0..tasks)
                .map(|_| {
                    tokio::spawn(async move {
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.expect("yielder finishes");
            }
        }),
        Workload::SequentialSleeps { tasks, sleeps } => rt.block_on(async move {
            let hs: Vec<_> = (0..tasks)
                .map(|i| {
                    // One generator per task (a shared one would need a lock).
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(i));
                    tokio::spawn(async move {
                        for _ in 0..sleeps {
                            let ms = rng.random_range(1..=100u64);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.expect("sleeper finishes");
            }
        }),
        Workload::Pipeline {
            producers,
            messages,
            consumers,
            capacity,
        } => rt.block_on(async move {
            let (tx, rx) = async_channel::bounded::<u64>(capacity.max(1) as usize);
            let total = u64::from(producers) * u64::from(messages);
            let cs: Vec<_> = (0..consumers)
                .map(|i| {
                    let rx = rx.clone();
                    let n = total / u64::from(consumers)
                        + u64::from(i == 0) * (total % u64::from(consumers));
                    tokio::spawn(async move {
                        let mut sum = 0u64;
                        for _ in 0..n {
                            sum = sum.wrapping_add(rx.recv().await.expect("open"));
                        }
                        sum
                    })
                })
                .collect();
            let ps: Vec<_> = (0..producers)
                .map(|p| {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        for m in 0..messages {
                            tx.send(u64::from(p) * 1_000_003 + u64::from(m))
                                .await
                                .expect("open");
                        }
                    })
                })
                .collect();
            for h in ps {
                h.await.expect("producer finishes");
            }
            for h in cs {
                h.await.expect("consumer finishes");
            }
        }),
        Workload::Churn { tasks } => rt.block_on(async move {
            for _ in 0..tasks {
                tokio::spawn(tokio::task::yield_now())
                    .await
                    .expect("a short task finishes");
            }
        }),
        Workload::Chat { .. } => {
            unreachable!(
                "the chat workload has no tokio counterpart (it needs the simulated network)"
            )
        }
    }
}
