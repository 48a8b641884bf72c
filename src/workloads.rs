//! The standard benchmark workloads, shared by `cargo bench` and
//! `loopsim bench` so both measure the same programs.
//!
//! | name | program |
//! |---|---|
//! | `sleepers` | N tasks, each sleeping a seeded random 1..=1000 ms |
//! | `yields` | T tasks × Y `yield_now` each |
//! | `sequential_sleeps` | T tasks × S sequential sleeps of a seeded random 1..=100 ms |

use crate::{Duration, Run, Sim, sleep, spawn, with_rng, yield_now};
use rand::RngExt;

/// One benchmark workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `tasks` tasks, each sleeping a seeded random 1..=1000 ms.
    Sleepers {
        /// Number of tasks.
        tasks: u32,
    },
    /// `tasks` tasks, each yielding `yields` times.
    Yields {
        /// Number of tasks.
        tasks: u32,
        /// Yields per task.
        yields: u32,
    },
    /// `tasks` tasks, each sleeping `sleeps` times in sequence (1..=100 ms).
    SequentialSleeps {
        /// Number of tasks.
        tasks: u32,
        /// Sleeps per task.
        sleeps: u32,
    },
}

impl Workload {
    /// The three workloads at the sizes of the engine's baseline.
    pub const BASELINE: [Workload; 3] = [
        Workload::Sleepers { tasks: 100_000 },
        Workload::Yields {
            tasks: 1_000,
            yields: 1_000,
        },
        Workload::SequentialSleeps {
            tasks: 10_000,
            sleeps: 100,
        },
    ];

    /// A short name with the sizes, e.g. `sleepers(100000)`.
    pub fn name(&self) -> String {
        match self {
            Workload::Sleepers { tasks } => format!("sleepers({tasks})"),
            Workload::Yields { tasks, yields } => format!("yields({tasks}x{yields})"),
            Workload::SequentialSleeps { tasks, sleeps } => {
                format!("sequential_sleeps({tasks}x{sleeps})")
            }
        }
    }

    /// Runs the workload on `sim` and returns the run.
    pub fn run(self, sim: &Sim) -> Run<()> {
        match self {
            Workload::Sleepers { tasks } => sim.run(async move {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        let ms = with_rng(|r| r.random_range(1..=1000u64));
                        spawn(sleep(Duration::from_millis(ms)))
                    })
                    .collect();
                for h in hs {
                    h.await.expect("sleeper finishes");
                }
            }),
            Workload::Yields { tasks, yields } => sim.run(async move {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        spawn(async move {
                            for _ in 0..yields {
                                yield_now().await;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.expect("yielder finishes");
                }
            }),
            Workload::SequentialSleeps { tasks, sleeps } => sim.run(async move {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        spawn(async move {
                            for _ in 0..sleeps {
                                let ms = with_rng(|r| r.random_range(1..=100u64));
                                sleep(Duration::from_millis(ms)).await;
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.expect("sleeper finishes");
                }
            }),
        }
    }
}
