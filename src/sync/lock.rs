//! `asyncio.Lock`.

use super::waiters::{GiveUp, WaitSite, Waiter};
use super::{Waiters, current};
use crate::deadlock::{Blocker, Probe};
use crate::error::Error;
use crate::task::raise_cancelled;
use crate::trace::TaskId;
use std::cell::RefCell;
use std::rc::Rc;

/// `asyncio.Lock`: strict FIFO, one iteration per hand-over, no barging.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, print, sync::Lock};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let lock = Lock::named("db");
///     let mut hs = vec![];
///     for i in 0..3 {
///         let lock = lock.clone();
///         hs.push(spawn(async move {
///             let _g = lock.acquire().await;
///             print(format!("{i} has it"));
///             sleep(Duration::from_secs(1)).await;
///         }));
///     }
///     for h in hs { h.await.unwrap(); }
/// });
/// assert_eq!(run.output_lines(), ["0 has it", "1 has it", "2 has it"]);
/// assert_eq!(run.elapsed(), Duration::from_secs(3));
/// ```
#[derive(Clone)]
pub struct Lock {
    inner: Rc<Inner>,
}

struct Inner {
    name: Rc<str>,
    st: RefCell<State>,
    /// What a deadlock report says of a wait on it: made at the first
    /// wait, shared by the others.
    site: std::cell::OnceCell<WaitSite>,
}

struct State {
    locked: bool,
    /// The task that acquired it, while locked.
    holder: Option<TaskId>,
    waiters: Waiters,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        Lock::named("Lock")
    }

    /// An unlocked lock with a name for traces.
    pub fn named(name: &str) -> Lock {
        Lock {
            inner: Rc::new(Inner {
                name: name.into(),
                st: RefCell::new(State {
                    locked: false,
                    holder: None,
                    waiters: Waiters::new(),
                }),
                site: std::cell::OnceCell::new(),
            }),
        }
    }

    /// True while held.
    pub fn locked(&self) -> bool {
        self.inner.st.borrow().locked
    }

    /// `await lock.acquire()`: returns a guard that releases on drop
    /// (`async with lock:`).
    pub async fn acquire(&self) -> LockGuard {
        self.acquire_raw().await;
        LockGuard {
            lock: Some(self.clone()),
        }
    }

    pub(crate) async fn acquire_raw(&self) {
        let fut = {
            let mut st = self.inner.st.borrow_mut();
            if !st.locked && st.waiters.all_cancelled() {
                st.locked = true;
                st.holder = current();
                return;
            }
            st.waiters.push_new()
        };
        let give_up = GiveUp::new(|| self.give_up(&fut));
        let r = fut.wait(self.site()).await;
        give_up.disarm();
        if r.is_err() {
            self.give_up(&fut);
            match raise_cancelled().await {}
        }
        let mut st = self.inner.st.borrow_mut();
        st.waiters.remove(&fut);
        st.locked = true;
        st.holder = current();
        st.waiters.recycle(fut);
    }

    /// `acquire`'s `finally:` and `except CancelledError:` clauses (a
    /// cancelled or dropped wait): the waiter leaves, and a lock it was
    /// woken for wakes the next waiter.
    fn give_up(&self, fut: &Waiter) {
        fut.abandon();
        self.inner.st.borrow_mut().waiters.remove(fut);
        if !self.locked() {
            self.wake_up_first();
        }
    }

    /// What a wait on it says it waits on, and (its probe) who holds the lock,
    /// for a deadlock report: made at the first wait, shared by the others.
    fn site(&self) -> &WaitSite {
        let make = || -> WaitSite {
            let inner = Rc::downgrade(&self.inner);
            let probe: Probe = Rc::new(move |named| match inner.upgrade() {
                Some(i) => Blocker::Held {
                    holders: i.st.borrow().holder.into_iter().map(named).collect(),
                },
                None => Blocker::Unknown,
            });
            WaitSite::new("Lock", self.inner.name.clone(), probe)
        };
        self.inner.site.get_or_init(make)
    }

    /// `lock.release()`: unlocks and wakes the first waiter. Any task may
    /// release a lock, as in asyncio (it has no owner).
    ///
    /// # Errors
    ///
    /// `RuntimeError("Lock is not acquired.")` when the lock is not held.
    pub fn release(&self) -> Result<(), Error> {
        if !self.locked() {
            return Err(Error::raised("RuntimeError", "Lock is not acquired."));
        }
        self.release_held();
        Ok(())
    }

    /// Releases a lock known to be held (a guard's drop).
    pub(crate) fn release_held(&self) {
        let mut st = self.inner.st.borrow_mut();
        assert!(st.locked, "loopsim: Lock released while not acquired");
        st.locked = false;
        st.holder = None;
        drop(st);
        self.wake_up_first();
    }

    fn wake_up_first(&self) {
        let first = {
            let st = self.inner.st.borrow();
            st.waiters.front()
        };
        if let Some(f) = first
            && !f.done()
        {
            f.set_result();
        }
    }
}

/// Holds a [`Lock`]; releases it when dropped.
#[must_use = "dropping the guard releases the lock at once"]
#[derive(Debug)]
pub struct LockGuard {
    lock: Option<Lock>,
}

impl LockGuard {
    /// Keeps the lock held after the guard is gone (asyncio's bare
    /// `await lock.acquire()`); release it later with [`Lock::release`].
    pub fn forget(mut self) {
        self.lock = None;
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release_held();
        }
    }
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Lock");
        d.field("name", &self.inner.name);
        if let Ok(st) = self.inner.st.try_borrow() {
            d.field("locked", &st.locked)
                .field("holder", &st.holder)
                .field("waiters", &st.waiters.len());
        }
        d.finish_non_exhaustive()
    }
}
