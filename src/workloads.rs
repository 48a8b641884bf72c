//! The standard benchmark workloads, shared by `cargo bench` and
//! `loopsim bench` so both measure the same programs.
//!
//! | name | program |
//! |---|---|
//! | `sleepers` | N tasks, each sleeping a seeded random 1..=1000 ms |
//! | `yields` | T tasks × Y `yield_now` each |
//! | `sequential_sleeps` | T tasks × S sequential sleeps of a seeded random 1..=100 ms |
//! | `pipeline` | P producers × M messages through a bounded queue of capacity Q to C consumers |
//! | `chat` | C clients × M lines to an echo server over the simulated network (links of 1–10 ms) |
//! | `churn` | N short tasks one after another, each awaited before the next is spawned |

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
    /// `producers` tasks each putting `messages` items into one bounded
    /// queue (`capacity`), drained by `consumers` tasks.
    Pipeline {
        /// Producer tasks.
        producers: u32,
        /// Messages per producer.
        messages: u32,
        /// Consumer tasks (each takes an equal share).
        consumers: u32,
        /// The queue's `maxsize`.
        capacity: u32,
    },
    /// `clients` connections to an echo server, each sending `lines` lines
    /// and reading each echo before the next (links of 1–10 ms).
    Chat {
        /// Number of clients (connections).
        clients: u32,
        /// Lines per client.
        lines: u32,
    },
    /// `tasks` short tasks one after another: each yields once and returns,
    /// and is awaited before the next is spawned (what a run keeps of a
    /// finished task).
    Churn {
        /// Number of tasks.
        tasks: u32,
    },
}

impl Workload {
    /// The four workloads at the sizes of the engine's baseline (W1–W4).
    pub const BASELINE: [Workload; 4] = [
        Workload::Sleepers { tasks: 100_000 },
        Workload::Yields {
            tasks: 1_000,
            yields: 1_000,
        },
        Workload::SequentialSleeps {
            tasks: 10_000,
            sleeps: 100,
        },
        Workload::Pipeline {
            producers: 100,
            messages: 1_000,
            consumers: 10,
            capacity: 100,
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
            Workload::Pipeline {
                producers,
                messages,
                consumers,
                capacity,
            } => format!("pipeline({producers}x{messages}->{consumers},q={capacity})"),
            Workload::Chat { clients, lines } => format!("chat({clients}x{lines})"),
            Workload::Churn { tasks } => format!("churn({tasks})"),
        }
    }

    /// Runs the workload on `sim` and returns the run.
    pub fn run(self, sim: &Sim) -> Run<()> {
        sim.run(self.program())
    }

    /// Runs the workload on `sim`, its trace streamed to `out` in
    /// `format`; returns the run and the number of events written.
    pub fn run_streaming(
        self,
        sim: &Sim,
        out: impl std::io::Write + 'static,
        format: crate::trace::TraceFormat,
    ) -> (Run<()>, std::io::Result<u64>) {
        sim.run_streaming_as(self.program(), out, format)
    }

    /// The workload's main future.
    fn program(self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        match self {
            Workload::Sleepers { tasks } => Box::pin(async move {
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
            Workload::Yields { tasks, yields } => Box::pin(async move {
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
            Workload::SequentialSleeps { tasks, sleeps } => Box::pin(async move {
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
            Workload::Pipeline {
                producers,
                messages,
                consumers,
                capacity,
            } => Box::pin(pipeline(producers, messages, consumers, capacity)),
            Workload::Chat { clients, lines } => Box::pin(chat(clients, lines)),
            Workload::Churn { tasks } => Box::pin(async move {
                for _ in 0..tasks {
                    spawn(yield_now()).await.expect("a short task finishes");
                }
            }),
        }
    }

    /// Messages the workload sends (writes), for a messages-per-second rate.
    pub fn messages(&self) -> u64 {
        match self {
            Workload::Chat { clients, lines } => 2 * u64::from(*clients) * u64::from(*lines),
            _ => 0,
        }
    }
}

/// The `pipeline` workload. The messages are split evenly among the
/// consumers (the remainder to the first), so each knows when to stop.
async fn pipeline(producers: u32, messages: u32, consumers: u32, capacity: u32) {
    let q: crate::sync::Queue<u64> = crate::sync::Queue::new(capacity as usize);
    let total = u64::from(producers) * u64::from(messages);
    let share =
        |i: u32| total / u64::from(consumers) + u64::from(i == 0) * (total % u64::from(consumers));
    let cs: Vec<_> = (0..consumers)
        .map(|i| {
            let q = q.clone();
            let n = share(i);
            spawn(async move {
                let mut sum = 0u64;
                for _ in 0..n {
                    sum = sum.wrapping_add(q.get().await);
                }
                sum
            })
        })
        .collect();
    let ps: Vec<_> = (0..producers)
        .map(|p| {
            let q = q.clone();
            spawn(async move {
                for m in 0..messages {
                    q.put(u64::from(p) * 1_000_003 + u64::from(m)).await;
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
}

/// The `chat` workload: an echo server and `clients` clients.
async fn chat(clients: u32, lines: u32) {
    use crate::io::Latency;
    use crate::net::{LinkConfig, Net};
    use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let net = Net::new();
    net.default_link(LinkConfig::new(Latency::Uniform(
        Duration::from_millis(1),
        Duration::from_millis(10),
    )));
    let listener = net.bind("server", 7).expect("a fresh network");
    let server = spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            spawn(async move {
                let (r, mut w) = futures::io::AsyncReadExt::split(stream);
                let mut r = BufReader::new(r);
                let mut line = String::new();
                while r.read_line(&mut line).await.unwrap_or(0) > 0 {
                    if w.write_all(line.as_bytes()).await.is_err() {
                        break;
                    }
                    line.clear();
                }
            });
        }
    });
    let hs: Vec<_> = (0..clients)
        .map(|i| {
            let net = net.clone();
            spawn(async move {
                let from = format!("client-{i}");
                let stream = net
                    .connect(&from, "server", 7)
                    .await
                    .expect("the server listens");
                let (r, mut w) = futures::io::AsyncReadExt::split(stream);
                let mut r = BufReader::new(r);
                let mut line = String::new();
                for n in 0..lines {
                    w.write_all(format!("{from} {n}\n").as_bytes())
                        .await
                        .expect("no faults");
                    line.clear();
                    r.read_line(&mut line).await.expect("no faults");
                }
            })
        })
        .collect();
    for h in hs {
        h.await.expect("client finishes");
    }
    server.cancel();
}
