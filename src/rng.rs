//! The one seeded random source, split into independent named streams.
//!
//! Every random choice in a run comes from a ChaCha8 generator seeded with
//! the run's seed. Each purpose gets its own ChaCha *stream* of that seed
//! (scheduling choices of the `random` model, latency draws, fault
//! injection, the program's own draws), so that adding a latency draw never
//! shifts a scheduling choice: the streams are independent sequences.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The named random streams of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    /// Choices among ready handles (`random` loop model).
    Scheduling,
    /// Latency and duration draws (scenario distributions, simulated I/O).
    Latency,
    /// Fault injection (error rates, loss).
    Faults,
    /// Draws made by the program itself through [`with_rng`].
    User,
    /// A stream of its own for one named thing (a service's latencies and
    /// errors): see [`Stream::named`]. Adding a service never shifts the
    /// draws of another.
    Named(u64),
}

impl Stream {
    fn id(self) -> u64 {
        match self {
            Stream::Scheduling => 1,
            Stream::Latency => 2,
            Stream::Faults => 3,
            Stream::User => 4,
            Stream::Named(id) => id,
        }
    }

    /// The stream of the thing called `name` (`service:api`): its number is
    /// a fixed hash of the name (64-bit FNV-1a, top bit set so that it never
    /// meets the four fixed streams), the same in every run and build.
    pub fn named(name: &str) -> Stream {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Stream::Named(h | (1 << 63))
    }
}

/// One generator per [`Stream`], all derived from one seed.
pub(crate) struct Streams {
    seed: u64,
    /// The four fixed streams; one is `None` while [`with_stream`] lends it
    /// to user code (boxed, so lending it moves a pointer, not its state).
    gens: [Option<Box<ChaCha8Rng>>; 4],
    /// Named streams, made on first use.
    named: std::collections::BTreeMap<u64, Box<ChaCha8Rng>>,
}

fn stream_of(seed: u64, id: u64) -> ChaCha8Rng {
    let mut g = ChaCha8Rng::seed_from_u64(seed);
    g.set_stream(id);
    g
}

pub(crate) fn nested() -> ! {
    panic!(
        "loopsim: `with_rng`/`with_stream` of a stream cannot be nested in a call on the same stream"
    )
}

/// The core's streams never hold the user stream: [`with_stream`] sends it
/// to the runtime's.
fn user_elsewhere() -> ! {
    unreachable!("the user stream is the runtime's (`with_user_rng`), not the core's")
}

/// The program's own stream ([`with_rng`]), kept by the runtime apart from
/// the others: drawing from it borrows nothing else.
pub(crate) fn user_stream(seed: u64) -> ChaCha8Rng {
    stream_of(seed, Stream::User.id())
}

impl Streams {
    pub fn new(seed: u64) -> Streams {
        let make = |s: Stream| Some(Box::new(stream_of(seed, s.id())));
        Streams {
            seed,
            named: std::collections::BTreeMap::new(),
            gens: [
                make(Stream::Scheduling),
                make(Stream::Latency),
                make(Stream::Faults),
                // The user stream is the runtime's (`user_stream`).
                None,
            ],
        }
    }

    pub fn get(&mut self, s: Stream) -> &mut ChaCha8Rng {
        match s {
            Stream::Named(id) => {
                let seed = self.seed;
                self.named
                    .entry(id)
                    .or_insert_with(|| Box::new(stream_of(seed, id)))
            }
            Stream::User => user_elsewhere(),
            _ => self.gens[(s.id() - 1) as usize]
                .as_deref_mut()
                .unwrap_or_else(|| nested()),
        }
    }

    /// Lends stream `s` out (see [`with_stream`]); [`give_back`](Self::give_back) returns it.
    fn lend(&mut self, s: Stream) -> Box<ChaCha8Rng> {
        match s {
            Stream::Named(id) => {
                let seed = self.seed;
                self.named
                    .remove(&id)
                    .unwrap_or_else(|| Box::new(stream_of(seed, id)))
            }
            Stream::User => user_elsewhere(),
            _ => self.gens[(s.id() - 1) as usize]
                .take()
                .unwrap_or_else(|| nested()),
        }
    }

    fn give_back(&mut self, s: Stream, g: Box<ChaCha8Rng>) {
        match s {
            Stream::Named(id) => {
                self.named.insert(id, g);
            }
            _ => self.gens[(s.id() - 1) as usize] = Some(g),
        }
    }

    /// A uniform index in `0..n` from the scheduling stream.
    /// The scheduling stream (the exploring loop models' choices).
    pub fn scheduling(&mut self) -> &mut ChaCha8Rng {
        self.get(Stream::Scheduling)
    }

    pub fn pick(&mut self, n: usize) -> usize {
        self.get(Stream::Scheduling).random_range(0..n)
    }
}

/// The generator type handed to [`with_rng`].
pub type SimRng = ChaCha8Rng;

#[allow(dead_code)]
fn _assert_rng<R: Rng>() {}

/// Runs `f` with one of the run's named random streams (e.g.
/// [`Stream::Latency`] for latency draws).
///
/// # Panics
///
/// Outside a running simulation, or inside another `with_stream` of the
/// same stream.
pub fn with_stream<R>(stream: Stream, f: impl FnOnce(&mut SimRng) -> R) -> R {
    if stream == Stream::User {
        return crate::engine::with_user_rng(f);
    }
    /// Gives the stream back even if `f` panics (a task's panic is caught
    /// and the run goes on).
    struct Lent(Stream, Option<Box<SimRng>>);
    impl Drop for Lent {
        fn drop(&mut self) {
            if let Some(g) = self.1.take() {
                crate::engine::try_with_core(|c| c.rng().give_back(self.0, g));
            }
        }
    }
    let mut lent = Lent(
        stream,
        Some(crate::engine::with_core("with_stream", |c| {
            c.rng().lend(stream)
        })),
    );
    f(lent.1.as_deref_mut().expect("lent until dropped"))
}

/// Runs `f` with the program's own random stream (seeded by the run's seed,
/// independent of scheduling and latency draws).
pub fn with_rng<R>(f: impl FnOnce(&mut SimRng) -> R) -> R {
    with_stream(Stream::User, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_stream_draws_the_same_from_the_runtime_and_nests_only_across_streams() {
        let draws = || {
            crate::Sim::builder().seed(11).build().run(async {
                let a: Vec<u64> = (0..3).map(|_| with_rng(|r| r.random())).collect();
                // Another stream inside a user draw is fine.
                let l: u64 = with_rng(|_| with_stream(Stream::Latency, |r| r.random()));
                // The same stream inside itself is refused (the task panics,
                // the run goes on).
                let nested = crate::spawn(async {
                    with_rng(|_| with_rng(|r| r.random::<u64>()));
                });
                let refused = nested.await.is_err();
                (a, l, refused)
            })
        };
        let (a, l, refused) = draws().value().cloned().expect("completes");
        assert!(refused, "a nested draw from one stream panics");
        assert_eq!(
            a[0],
            user_stream(11).random::<u64>(),
            "the user stream of seed 11"
        );
        assert_eq!(
            draws().value().cloned(),
            Some((a, l, true)),
            "same seed, same draws"
        );
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let mut a = Streams::new(7);
        let mut b = Streams::new(7);
        let x: Vec<u64> = (0..4).map(|_| a.get(Stream::Latency).random()).collect();
        // Drawing from another stream first must not change the latency draws.
        let _: u64 = b.get(Stream::Scheduling).random();
        let y: Vec<u64> = (0..4).map(|_| b.get(Stream::Latency).random()).collect();
        assert_eq!(x, y);
        let z: u64 = Streams::new(8).get(Stream::Latency).random();
        assert_ne!(x[0], z, "another seed gives other draws");
    }

    #[test]
    fn a_named_stream_is_its_own_and_the_same_whatever_else_is_drawn() {
        let (api, db) = (Stream::named("service:api"), Stream::named("service:db"));
        assert_ne!(api, db);
        let mut a = Streams::new(7);
        let x: Vec<u64> = (0..4).map(|_| a.get(api).random()).collect();
        let mut b = Streams::new(7);
        let _: u64 = b.get(db).random();
        let _: u64 = b.get(Stream::Latency).random();
        let y: Vec<u64> = (0..4).map(|_| b.get(api).random()).collect();
        assert_eq!(x, y, "draws of another stream do not shift api's");
        let l: u64 = Streams::new(7).get(Stream::Latency).random();
        assert_ne!(x[0], l, "a named stream is not the latency stream");
    }
}
