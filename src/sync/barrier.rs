//! `asyncio.Barrier` (Python 3.11+), ported from `Lib/asyncio/locks.py`
//! over a [`Condition`]: tasks wait until `parties` of them have called
//! [`Barrier::wait`], then all are released together; the last to arrive
//! releases the others (`_release` notifies every waiter) and each gets its
//! arrival index. The barrier then drains (late arrivals block until every
//! released task has left) and fills again. [`Barrier::abort`] breaks it and
//! [`Barrier::reset`] breaks the current round: waiting tasks and later
//! callers get `BrokenBarrierError`.
//!
//! # States
//!
//! `Filling` (tasks arrive), `Draining` (released tasks leave; arrivals
//! block), `Resetting` (waiters leave with an error; arrivals block),
//! `Broken` (every wait fails). The last task to leave a drain or a reset
//! returns the barrier to `Filling` (`_exit`).
//!
//! A waiter cancelled while it waits leaves as CPython's `finally:` clause
//! does (its count is taken back and the others are notified when it was
//! the last), though the notification comes just after, not just before,
//! the condition's lock is released.

use super::{Condition, ConditionGuard};
use crate::error::Error;
use std::cell::Cell;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Filling,
    Draining,
    Resetting,
    Broken,
}

/// `asyncio.Barrier(parties)`.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, print, sync::Barrier};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let b = Barrier::new(2);
///     let b2 = b.clone();
///     let t = spawn(async move {
///         sleep(Duration::from_secs(1)).await;
///         b2.wait().await.unwrap()
///     });
///     let mine = b.wait().await.unwrap();
///     print(format!("released at index {mine}"));
///     t.await.unwrap()
/// });
/// assert_eq!(run.value(), Some(&1)); // the sleeper arrived last
/// assert_eq!(run.elapsed(), Duration::from_secs(1));
/// ```
#[derive(Clone)]
pub struct Barrier {
    cond: Condition,
    inner: Rc<Inner>,
}

struct Inner {
    parties: usize,
    state: Cell<State>,
    count: Cell<usize>,
}

impl Barrier {
    /// A barrier for `parties` tasks (at least 1).
    ///
    /// # Panics
    ///
    /// When `parties` is 0 (asyncio raises `ValueError`).
    pub fn new(parties: usize) -> Barrier {
        Barrier::named("Barrier", parties)
    }

    /// A named barrier (for traces and deadlock reports).
    ///
    /// # Panics
    ///
    /// When `parties` is 0.
    pub fn named(name: &str, parties: usize) -> Barrier {
        assert!(parties > 0, "loopsim: Barrier parties must be > 0");
        Barrier {
            cond: Condition::named(name),
            inner: Rc::new(Inner {
                parties,
                state: Cell::new(State::Filling),
                count: Cell::new(0),
            }),
        }
    }

    /// The number of tasks needed to trip the barrier.
    pub fn parties(&self) -> usize {
        self.inner.parties
    }

    /// Tasks waiting now (0 unless filling).
    pub fn n_waiting(&self) -> usize {
        if self.inner.state.get() == State::Filling {
            self.inner.count.get()
        } else {
            0
        }
    }

    /// True once [`abort`](Barrier::abort) broke it.
    pub fn broken(&self) -> bool {
        self.inner.state.get() == State::Broken
    }

    /// `await barrier.wait()`: this task's arrival index (0 to
    /// `parties - 1`) once `parties` tasks have arrived.
    ///
    /// # Errors
    ///
    /// `BrokenBarrierError` when the barrier is aborted or reset.
    pub async fn wait(&self) -> Result<usize, Error> {
        let mut g = self.cond.acquire().await;
        // `_block`: while draining or resetting.
        while matches!(self.inner.state.get(), State::Draining | State::Resetting) {
            g = g.wait().await;
        }
        if self.inner.state.get() == State::Broken {
            return Err(broken("Barrier aborted"));
        }
        let index = self.inner.count.get();
        self.inner.count.set(index + 1);
        // The `finally:` clause, also when the wait is cancelled.
        let leave = Leave {
            barrier: Some(self.clone()),
        };
        let result = if index + 1 == self.inner.parties {
            // `_release`.
            self.inner.state.set(State::Draining);
            g.notify_all();
            Ok(index)
        } else {
            // `_wait`.
            while self.inner.state.get() == State::Filling {
                g = g.wait().await;
            }
            match self.inner.state.get() {
                State::Broken | State::Resetting => Err(broken("Abort or reset of barrier")),
                _ => Ok(index),
            }
        };
        leave.exit(&g);
        drop(g);
        result
    }

    /// `await barrier.reset()`: waiting tasks get `BrokenBarrierError`; the
    /// barrier fills again once they have left.
    pub async fn reset(&self) {
        let g = self.cond.acquire().await;
        if self.inner.count.get() > 0 {
            self.inner.state.set(State::Resetting);
        } else {
            self.inner.state.set(State::Filling);
        }
        g.notify_all();
    }

    /// `await barrier.abort()`: breaks the barrier for good.
    pub async fn abort(&self) {
        let g = self.cond.acquire().await;
        self.inner.state.set(State::Broken);
        g.notify_all();
    }
}

fn broken(msg: &str) -> Error {
    Error::raised("BrokenBarrierError", msg)
}

/// `count -= 1; self._exit()`, run once however `wait` ends.
struct Leave {
    barrier: Option<Barrier>,
}

impl Leave {
    /// The normal way out, under the lock.
    fn exit(mut self, g: &ConditionGuard) {
        if let Some(b) = self.barrier.take()
            && leave(&b)
        {
            g.notify_all();
        }
    }
}

/// Takes the count back; true if the others must be notified.
fn leave(b: &Barrier) -> bool {
    let inner = &b.inner;
    inner.count.set(inner.count.get() - 1);
    if inner.count.get() == 0 {
        if matches!(inner.state.get(), State::Resetting | State::Draining) {
            inner.state.set(State::Filling);
        }
        return true;
    }
    false
}

impl Drop for Leave {
    /// A cancelled wait: leave, and notify without the guard.
    fn drop(&mut self) {
        if let Some(b) = self.barrier.take()
            && leave(&b)
        {
            b.cond.notify_all_unlocked();
        }
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.inner.parties)
            .field("condition", &self.cond)
            .finish_non_exhaustive()
    }
}
