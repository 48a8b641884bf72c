//! The FIFO of waiter futures every primitive keeps (asyncio's
//! `self._waiters = collections.deque()`), and the ways asyncio wakes from
//! it. Services and pools queue their callers on the same structure.
//!
//! A waiter is a [`SimFuture`] appended at the tail; a waiter that leaves
//! (cancelled, timed out) removes itself, as asyncio's `finally:
//! self._waiters.remove(fut)` does. Waking sets a waiter's result: its task
//! resumes one iteration later.

use crate::future::SimFuture;
use std::collections::VecDeque;

#[derive(Default)]
pub(crate) struct Waiters(VecDeque<SimFuture<()>>);

impl Waiters {
    pub fn new() -> Waiters {
        Waiters(VecDeque::new())
    }

    /// Appends a waiter at the tail.
    pub fn push(&mut self, fut: &SimFuture<()>) {
        self.0.push_back(fut.clone());
    }

    /// `self._waiters.remove(fut)`: a waiter leaves (no-op if it is gone).
    pub fn remove(&mut self, fut: &SimFuture<()>) {
        if let Some(i) = self.0.iter().position(|w| w.same(fut)) {
            self.0.remove(i);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The waiter at the head, done or not.
    pub fn front(&self) -> Option<SimFuture<()>> {
        self.0.front().cloned()
    }

    /// Pops the head.
    pub fn pop_front(&mut self) -> Option<SimFuture<()>> {
        self.0.pop_front()
    }

    /// `_wake_up_first` / `_wakeup_next` helper: the first waiter that is
    /// not done.
    pub fn first_pending(&self) -> Option<SimFuture<()>> {
        self.0.iter().find(|w| !w.done()).cloned()
    }

    /// The first `n` waiters that are not done, in order (`Condition._notify`).
    pub fn pending(&self, n: usize) -> Vec<SimFuture<()>> {
        self.0
            .iter()
            .filter(|w| !w.done())
            .take(n)
            .cloned()
            .collect()
    }

    /// Every waiter, in order (`Event.set` wakes them all).
    pub fn all(&self) -> Vec<SimFuture<()>> {
        self.0.iter().cloned().collect()
    }

    /// Whether every waiter was cancelled (none at all counts).
    pub fn all_cancelled(&self) -> bool {
        self.0.iter().all(|w| w.cancelled())
    }
}
