//! The FIFO of waiter futures every primitive keeps (asyncio's
//! `self._waiters = collections.deque()`), and the ways asyncio wakes from
//! it.
//!
//! A waiter is a [`SimFuture`] appended at the tail; a waiter that leaves
//! (cancelled, timed out) removes itself, as asyncio's `finally:
//! self._waiters.remove(fut)` does. Waking sets a waiter's result: its task
//! resumes one iteration later.
//!
//! A waiter whose wait ended normally, and that nothing else holds any more
//! (no handle, no task's wait, no callback), is kept and made pending again
//! for the primitive's next wait ([`Waiters::recycle`], [`Waiters::push_new`]):
//! a blocked `Queue.put`, `Lock` or `Semaphore` wait then allocates nothing.
//! Nothing can tell a reused waiter from a new one.

use crate::future::SimFuture;
use std::collections::VecDeque;

#[derive(Default)]
pub(crate) struct Waiters {
    /// The waiters, oldest first.
    queue: VecDeque<SimFuture<()>>,
    /// Finished waiters kept for reuse (at most [`SPARE`]).
    spare: Vec<SimFuture<()>>,
}

/// Finished waiters a [`Waiters`] keeps for reuse, at most.
const SPARE: usize = 8;

impl Waiters {
    pub fn new() -> Waiters {
        Waiters {
            queue: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// Appends a waiter at the tail.
    pub fn push(&mut self, fut: &SimFuture<()>) {
        self.queue.push_back(fut.clone());
    }

    /// `fut = loop.create_future(); self._waiters.append(fut)`: a new
    /// pending waiter labelled `label`, appended at the tail. It reuses the
    /// allocation of a waiter given back with [`recycle`](Self::recycle).
    pub fn push_new(&mut self, label: &'static str) -> SimFuture<()> {
        let fut = match self.spare.pop() {
            Some(f) if f.has_static_label(label) => f,
            _ => SimFuture::with_static_label(label),
        };
        self.queue.push_back(fut.clone());
        fut
    }

    /// A waiter's wait is over: kept for [`push_new`](Self::push_new) if
    /// nothing else holds it (it is then made pending again), dropped
    /// otherwise.
    pub fn recycle(&mut self, fut: SimFuture<()>) {
        if self.spare.len() < SPARE
            && let Some(f) = fut.recycled()
        {
            self.spare.push(f);
        }
    }

    /// Finished waiters kept for reuse.
    #[cfg(test)]
    pub fn spare_len(&self) -> usize {
        self.spare.len()
    }

    /// `self._waiters.remove(fut)`: a waiter leaves (no-op if it is gone).
    pub fn remove(&mut self, fut: &SimFuture<()>) {
        if let Some(i) = self.queue.iter().position(|w| w.same(fut)) {
            self.queue.remove(i);
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// The waiter at the head, done or not.
    pub fn front(&self) -> Option<SimFuture<()>> {
        self.queue.front().cloned()
    }

    /// `_wakeup_next`'s loop: pops waiters until one that is not done, and
    /// returns it (for its result to be set).
    pub fn pop_pending(&mut self) -> Option<SimFuture<()>> {
        while let Some(w) = self.queue.pop_front() {
            if !w.done() {
                return Some(w);
            }
        }
        None
    }

    /// `_wake_up_first` / `_wakeup_next` helper: the first waiter that is
    /// not done.
    pub fn first_pending(&self) -> Option<SimFuture<()>> {
        self.queue.iter().find(|w| !w.done()).cloned()
    }

    /// The first `n` waiters that are not done, in order (`Condition._notify`).
    pub fn pending(&self, n: usize) -> Vec<SimFuture<()>> {
        self.queue
            .iter()
            .filter(|w| !w.done())
            .take(n)
            .cloned()
            .collect()
    }

    /// Every waiter, in order (`Event.set` wakes them all).
    pub fn all(&self) -> Vec<SimFuture<()>> {
        self.queue.iter().cloned().collect()
    }

    /// Whether every waiter was cancelled (none at all counts).
    pub fn all_cancelled(&self) -> bool {
        self.queue.iter().all(|w| w.cancelled())
    }
}

#[cfg(test)]
mod tests {
    use super::Waiters;

    /// A waiter whose wait is over is the next waiter, pending again: the
    /// same allocation.
    #[test]
    fn a_recycled_waiter_is_reused_pending() {
        let mut w = Waiters::new();
        let a = w.push_new("Queue.get");
        let popped = w.pop_pending().expect("a pending waiter");
        assert!(popped.same(&a));
        popped.set_result(()).expect("pending");
        drop(popped);
        assert!(a.done());
        let addr = a.addr();
        w.recycle(a);
        assert_eq!(w.spare.len(), 1, "kept for the next waiter");
        let b = w.push_new("Queue.get");
        assert!(w.spare.is_empty());
        assert_eq!(b.addr(), addr, "the finished waiter's allocation is reused");
        assert!(
            !b.done() && !b.cancelled(),
            "a reused waiter is pending again"
        );
        assert_eq!(w.len(), 1);
        assert!(w.pop_pending().expect("queued").same(&b));
    }

    /// A waiter someone else still holds keeps its result and is not reused.
    #[test]
    fn a_held_waiter_is_not_reused() {
        let mut w = Waiters::new();
        let a = w.push_new("Queue.put");
        w.remove(&a);
        a.cancel();
        let keep = a.clone();
        w.recycle(a);
        assert!(w.spare.is_empty(), "not kept: another handle holds it");
        let b = w.push_new("Queue.put");
        assert!(!b.same(&keep));
        assert!(keep.done() && keep.cancelled());
    }

    /// A cancelled waiter nothing else holds is reused, pending and not
    /// cancelled any more.
    #[test]
    fn a_cancelled_waiter_comes_back_uncancelled() {
        let mut w = Waiters::new();
        let a = w.push_new("Lock");
        w.remove(&a);
        assert!(a.cancel());
        w.recycle(a);
        assert_eq!(w.spare.len(), 1);
        let b = w.push_new("Lock");
        assert!(!b.done() && !b.cancelled());
        assert_eq!(b.exception(), None);
    }

    /// A waiter with a done-callback still registered is not reused.
    #[test]
    fn a_waiter_with_a_callback_is_not_reused() {
        let mut w = Waiters::new();
        let a = w.push_new("Lock");
        w.remove(&a);
        a.add_done_callback(|_| {});
        w.recycle(a);
        assert!(w.spare.is_empty());
    }

    /// A waiter made with another label is not reused for this one.
    #[test]
    fn a_waiter_is_reused_only_under_its_own_label() {
        let mut w = Waiters::new();
        let a = w.push_new("Lock");
        w.remove(&a);
        a.set_result(()).expect("pending");
        let addr = a.addr();
        w.recycle(a);
        assert_eq!(w.spare.len(), 1);
        let b = w.push_new("Semaphore");
        assert!(b.has_static_label("Semaphore"));
        assert_ne!(b.addr(), addr);
        assert!(!b.done());
    }
}
