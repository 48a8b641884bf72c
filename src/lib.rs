//! # loopsim
//!
//! A discrete-event, deterministic simulator of event loops. It runs real
//! Rust futures on a single-threaded executor whose clock is virtual: sleeps,
//! simulated I/O and blocking calls move the virtual clock, never the wall
//! clock, so an hour of virtual time takes milliseconds. One seed gives one
//! run — the same trace, byte for byte, on any machine.
//!
//! Its first loop model, `asyncio`, reproduces CPython's event loop exactly
//! (iteration snapshots, `heapq` tie order, float deadlines, the `call_soon`
//! hops of done-callbacks), so that what an asyncio tutorial claims can be
//! replayed and checked.
//!
//! ```
//! use loopsim::{Sim, gather, sleep, print, Error};
//! use std::time::Duration;
//!
//! async fn fetch(name: &'static str, secs: u64) -> Result<&'static str, Error> {
//!     print(format!("{name} start"));
//!     sleep(Duration::from_secs(secs)).await;
//!     print(format!("{name} done"));
//!     Ok(name)
//! }
//!
//! let run = Sim::builder().seed(1).build().run(async {
//!     gather(vec![fetch("A", 3), fetch("B", 2)]).await
//! });
//! assert_eq!(run.elapsed(), Duration::from_secs(3));
//! assert_eq!(run.output_lines(), ["A start", "B start", "B done", "A done"]);
//! assert_eq!(run.value(), Some(&Ok(vec!["A", "B"])));
//! ```
//!
//! ## Map
//!
//! - [`Sim`], [`Run`], [`Outcome`] — build a simulation, run a future, read the result.
//! - [`StuckTask`], [`Blocker`], [`DeadlockReport`], [`find_cycle`] — a deadlock explained:
//!   who waits on what, who holds what, the wait-for cycle.
//! - [`model`] — loop models ([`LoopModel`]), Python versions, [`Limits`].
//! - [`spawn`], [`JoinHandle`], [`TaskRef`], [`catch_cancel`] — tasks (`create_task`).
//! - [`sleep`], [`yield_now`], [`block`], [`now`], [`print`](fn@print) — time and output.
//! - [`SimFuture`], [`call_soon`], [`call_later`], [`call_at`] — asyncio's low-level future and callbacks.
//! - [`gather`], [`wait_for`], [`timeout`], [`wait`], [`as_completed`], [`shield`], [`TaskGroup`] — combinators.
//! - [`sync`] — `Lock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Queue`.
//! - [`trace`] — the typed trace and its JSON Lines form.
//! - [`check_determinism`] — run twice, compare the traces byte for byte.

// No `unsafe` but the one block of `engine/waker.rs` (a task's waker with no
// allocation), that of `engine/prefetch.rs` (a cache hint), that of
// `task.rs`'s `TaskBox::with_fut` (a task's future pinned inside the
// allocation it shares with its output cell) and the two of
// `engine/context.rs` (the running simulation as a plain pointer in a
// thread-local: 2.3-2.8 % of every workload's instructions), each of which
// allows it by name.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod checks;
mod combinators;
mod deadlock;
mod determinism;
mod engine;
pub mod error;
pub mod explore;
mod future;
mod hint;
pub mod io;
pub mod net;
mod output;
pub mod settings;
/// The old name of [`settings`].
#[doc(hidden)]
pub use settings as model;
pub mod render;
pub mod report;
pub mod rng;
pub mod scenario;
mod sim;
mod sleep;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod sync;
mod task;
pub mod time;
pub mod trace;
#[doc(hidden)]
pub mod workloads;

pub use combinators::{
    AsCompleted, Gather, GatherSettled, ReturnWhen, TaskGroup, Timeout, TimeoutScope, as_completed,
    gather, gather_return_exceptions, gather_tasks, gather_tasks_return_exceptions, shield,
    shield_task, timeout, wait, wait_for, wait_for_task,
};
pub use deadlock::{Blocker, DeadlockReport, NamedTask, StuckTask, find_cycle, wait_for_graph};
pub use determinism::{Divergence, check_determinism};
#[doc(hidden)]
pub use engine::mutation;
#[doc(hidden)]
pub use engine::task_block_bits_on_this_thread;
pub use engine::{LimitKind, OutputLine, PctConfig, limit_hit, stop_at_limit};
pub use error::Error;
pub use future::{CallbackHandle, SimFuture, TimerHandle, call_at, call_later, call_soon};
pub use output::{SectionGuard, print, section};
pub use rng::{with_rng, with_stream};
pub use settings::{Limits, LoopModel, PythonVersion};
#[doc(hidden)]
pub use sim::shutdown_order;
pub use sim::{Outcome, Run, Sim, SimBuilder, Stats};
pub use sleep::{
    Sleep, block, loop_time, now, python_version, sleep, sleep_secs, sleep_until, tracing,
    yield_now,
};
pub use task::{
    Builder, CancelScope, CatchCancel, JoinHandle, TaskRef, catch_cancel, current_task,
    never_awaited, raise_cancelled, raise_cancelled_with_message, spawn, spawn_named,
    try_current_task,
};
pub use time::{Duration, Instant};
pub use trace::{TaskId, Trace};
