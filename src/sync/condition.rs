//! `asyncio.Condition`, after `Lib/asyncio/locks.py`.
//!
//! Python 3.13 (gh-112202) wraps all of `Condition.wait()` in `except
//! BaseException: self._notify(1); raise` (3.13.0 `Lib/asyncio/locks.py`
//! lines 294-301): a waiter that leaves `wait()` with an exception — here, a
//! cancellation, whether it arrived while waiting or while re-acquiring the
//! lock — passes one notification on to the first waiter not yet notified,
//! after re-acquiring the lock. So a notified waiter that is cancelled no
//! longer loses the wakeup, and cancelling a waiter that was never notified
//! wakes another one (a "spurious wakeup", which the source comment allows).
//! `_notify` (lines 333-341) is `notify` without the lock check. 3.11 and 3.12
//! (3.12.1 lines 247-282) re-acquire and raise without notifying anyone.
//! A cancellation while re-acquiring the lock raises, under 3.11 and 3.12,
//! a new `CancelledError` without a message (`raise
//! exceptions.CancelledError`); 3.13 re-raises the last one caught, with
//! its message (line 291).

use super::waiters::{GiveUp, WaitSite};
use super::{Lock, Waiters, py313};
use crate::task::{catch_cancel, raise_cancelled, raise_cancelled_with_message};
use std::cell::RefCell;
use std::rc::Rc;

/// `asyncio.Condition` over its own [`Lock`].
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, print, sync::Condition};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let cond = Condition::new();
///     let c = cond.clone();
///     let waiter = spawn(async move {
///         let g = c.acquire().await;
///         let _g = g.wait().await;
///         print("notified");
///     });
///     sleep(Duration::from_secs(1)).await;
///     cond.acquire().await.notify(1);
///     waiter.await.unwrap();
/// });
/// assert_eq!(run.output_lines(), ["notified"]);
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: Lock,
    inner: Rc<Inner>,
}

struct Inner {
    name: Rc<str>,
    /// What a wait says it waits on, and a deadlock report of it.
    site: WaitSite,
    waiters: RefCell<Waiters>,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl Condition {
    /// A condition with a new lock.
    pub fn new() -> Condition {
        Condition::named("Condition")
    }

    /// A named condition (for traces).
    pub fn named(name: &str) -> Condition {
        let lock = Lock::named(name);
        let name: Rc<str> = name.into();
        Condition {
            lock,
            inner: Rc::new(Inner {
                name: name.clone(),
                site: WaitSite::new(
                    "Condition",
                    name,
                    Rc::new(|_| crate::deadlock::Blocker::NotNotified),
                ),
                waiters: RefCell::new(Waiters::new()),
            }),
        }
    }

    /// True while the underlying lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Acquires the underlying lock (`async with cond:`).
    pub async fn acquire(&self) -> ConditionGuard {
        self.lock.acquire_raw().await;
        ConditionGuard {
            cond: self.clone(),
            held: true,
        }
    }
}

/// Holds a [`Condition`]'s lock; releases it when dropped.
#[must_use = "dropping the guard releases the lock at once"]
#[derive(Debug)]
pub struct ConditionGuard {
    cond: Condition,
    held: bool,
}

impl ConditionGuard {
    /// `cond.wait()`: releases the lock, waits to be notified, re-acquires
    /// the lock (even if cancelled meanwhile; the cancellation is raised
    /// after re-acquiring, and under Python 3.13 after notifying one other
    /// waiter).
    pub async fn wait(mut self) -> ConditionGuard {
        let cond = self.cond.clone();
        self.held = false;
        cond.lock.release_held();
        let fut = cond.inner.waiters.borrow_mut().push_new();
        // A wait dropped before it has the lock again (waiting to be
        // notified, or notified and waiting for the lock) acts as one
        // cancelled there, without the lock re-acquired (a dropped future
        // cannot wait): under 3.13 its `except BaseException:` passes a
        // notification on.
        let give_up = GiveUp::new(|| {
            fut.abandon();
            cond.inner.waiters.borrow_mut().remove(&fut);
            if py313() {
                cond.notify_raw(1);
            }
        });
        let r = fut.wait(&cond.inner.site).await;
        cond.inner.waiters.borrow_mut().remove(&fut);
        let mut reacquire_cancelled = false;
        loop {
            match catch_cancel(cond.lock.acquire_raw()).await {
                Ok(()) => break,
                Err(_) => reacquire_cancelled = true,
            }
        }
        let cancelled = r.is_err() || reacquire_cancelled;
        give_up.disarm();
        self.held = true;
        if cancelled {
            if py313() {
                // 3.13: `except BaseException: self._notify(1); raise`.
                self.notify(1);
            }
            drop(self);
            if reacquire_cancelled && !py313() {
                // 3.11, 3.12: `if cancelled: raise exceptions.CancelledError`.
                match raise_cancelled_with_message("").await {}
            }
            match raise_cancelled().await {}
        }
        self
    }

    /// `cond.wait_for(predicate)`: waits until `predicate()` is true.
    pub async fn wait_for(mut self, mut predicate: impl FnMut() -> bool) -> ConditionGuard {
        while !predicate() {
            self = self.wait().await;
        }
        self
    }

    /// Wakes up to `n` waiters (they resume once they re-acquire the lock).
    pub fn notify(&self, n: usize) {
        self.cond.notify_raw(n);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.cond.notify_all_unlocked();
    }
}

impl Condition {
    /// `_notify(n)` whoever holds the lock (for a primitive built on this
    /// condition, such as a barrier leaving on cancellation).
    fn notify_raw(&self, n: usize) {
        let targets = self.inner.waiters.borrow().pending(n);
        for w in targets {
            w.set_result();
        }
    }

    /// `notify_all`, whoever holds the lock.
    pub(crate) fn notify_all_unlocked(&self) {
        let n = self.inner.waiters.borrow().len();
        self.notify_raw(n);
    }
}

impl Drop for ConditionGuard {
    fn drop(&mut self) {
        if self.held {
            self.held = false;
            self.cond.lock.release_held();
        }
    }
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Condition");
        d.field("name", &self.inner.name).field("lock", &self.lock);
        if let Ok(w) = self.inner.waiters.try_borrow() {
            d.field("waiters", &w.len());
        }
        d.finish_non_exhaustive()
    }
}
