//! `asyncio.Semaphore` and `asyncio.BoundedSemaphore`, after
//! `Lib/asyncio/locks.py`.
//!
//! Python 3.13 changed what `acquire()` does once its waiter future is done
//! (3.13.0 `Lib/asyncio/locks.py` lines 386-426, `Semaphore.acquire`): its
//! `finally:` clause (line 423) runs `while self._value > 0: if not
//! self._wake_up_next(): break`, so a successful acquire wakes *every*
//! waiter that can now proceed, and a cancelled one that had been handed a
//! permit gives it back first (`_value += 1` only `if fut.done() and not
//! fut.cancelled()`, line 412) and then runs the same loop.
//! `_wake_up_next` (lines 437-448) returns whether it woke anyone.
//! 3.11 and 3.12 wake at most one waiter (3.12.1 lines 363-397): `if
//! self._value > 0: self._wake_up_next()` after a success (line 395), and
//! `self._value += 1; self._wake_up_next()` after a cancellation that found
//! the future not cancelled (line 390).

use super::waiters::{GiveUp, WaitSite, Waiter};
use super::{Waiters, current, py313};
use crate::deadlock::{Blocker, Probe};
use crate::engine;
use crate::error::Error;
use crate::task::raise_cancelled;
use crate::trace::TaskId;
use std::cell::RefCell;
use std::rc::Rc;

/// `asyncio.Semaphore`: strict FIFO; `release` hands the permit to the first
/// waiter (it is counted as taken at once, so nobody can barge in).
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, sync::Semaphore};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let sem = Semaphore::new(2);
///     let hs: Vec<_> = (0..6).map(|_| {
///         let sem = sem.clone();
///         spawn(async move { let _p = sem.acquire().await; sleep(Duration::from_secs(1)).await; })
///     }).collect();
///     for h in hs { h.await.unwrap(); }
/// });
/// assert_eq!(run.elapsed(), Duration::from_secs(3)); // 6 jobs, 2 at a time
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<Inner>,
}

struct Inner {
    name: Rc<str>,
    bound: Option<usize>,
    st: RefCell<State>,
    /// What a deadlock report says of a wait on it: made at the first
    /// wait, shared by the others.
    site: std::cell::OnceCell<WaitSite>,
}

struct State {
    value: usize,
    /// The tasks holding permits, oldest first, once per permit.
    holders: Vec<TaskId>,
    waiters: Waiters,
}

impl Semaphore {
    /// A semaphore with `value` permits.
    pub fn new(value: usize) -> Semaphore {
        Semaphore::named("Semaphore", value)
    }

    /// A named semaphore (for traces).
    pub fn named(name: &str, value: usize) -> Semaphore {
        Semaphore::make(name, value, None)
    }

    fn make(name: &str, value: usize, bound: Option<usize>) -> Semaphore {
        Semaphore {
            inner: Rc::new(Inner {
                name: name.into(),
                bound,
                st: RefCell::new(State {
                    value,
                    holders: Vec::new(),
                    waiters: Waiters::new(),
                }),
                site: std::cell::OnceCell::new(),
            }),
        }
    }

    /// Permits available now.
    pub fn available(&self) -> usize {
        self.inner.st.borrow().value
    }

    /// `locked()`: true if `acquire` would wait (no permit, or earlier
    /// waiters that are not cancelled).
    pub fn locked(&self) -> bool {
        let st = self.inner.st.borrow();
        st.value == 0 || !st.waiters.all_cancelled()
    }

    /// Takes a permit, waiting in FIFO order if none is free; the permit is
    /// returned when the guard drops (`async with sem:`).
    pub async fn acquire(&self) -> SemaphorePermit {
        self.acquire_raw().await;
        SemaphorePermit {
            sem: Some(self.clone()),
        }
    }

    async fn acquire_raw(&self) {
        let over_admit = self.locked()
            && self.inner.st.borrow().value == 0
            && engine::with_core("Semaphore", |c| {
                c.take_mutation(crate::engine::mutation::Mutation::SemaphoreOverAdmits)
            });
        if over_admit {
            // A planted bug (tests of the tests): in without a permit.
            self.inner.st.borrow_mut().holders.extend(current());
            return;
        }
        if !self.locked() {
            let mut st = self.inner.st.borrow_mut();
            st.value -= 1;
            st.holders.extend(current());
            return;
        }
        let fut = self.inner.st.borrow_mut().waiters.push_new();
        let give_up = GiveUp::new(|| self.give_up(&fut));
        let r = fut.wait(self.site()).await;
        give_up.disarm();
        if r.is_err() {
            self.give_up(&fut);
            match raise_cancelled().await {}
        }
        let py313 = py313();
        {
            let mut st = self.inner.st.borrow_mut();
            st.waiters.remove(&fut);
            st.holders.extend(current());
            st.waiters.recycle(fut);
        }
        if py313 {
            self.wake_up_all_admissible();
        } else if self.inner.st.borrow().value > 0 {
            self.wake_up_next();
        }
    }

    /// `acquire`'s `finally:` and `except CancelledError:` clauses (a
    /// cancelled or dropped wait): the waiter leaves; a permit handed to it
    /// goes back, to the next waiter.
    fn give_up(&self, fut: &Waiter) {
        fut.abandon();
        self.inner.st.borrow_mut().waiters.remove(fut);
        let py313 = py313();
        if fut.done() && !fut.cancelled() {
            // Our permit was handed over but we are not taking it.
            self.inner.st.borrow_mut().value += 1;
            if !py313 {
                self.wake_up_next();
            }
        }
        if py313 {
            self.wake_up_all_admissible();
        }
    }

    /// 3.13's `finally:` clause of `acquire`: `while self._value > 0: if not
    /// self._wake_up_next(): break`.
    fn wake_up_all_admissible(&self) {
        while self.inner.st.borrow().value > 0 {
            if !self.wake_up_next() {
                break;
            }
        }
    }

    /// Returns a permit and wakes the first waiter.
    ///
    /// # Errors
    ///
    /// For a [`BoundedSemaphore`], `ValueError` when released more times
    /// than acquired.
    pub fn release(&self) -> Result<(), Error> {
        {
            let mut st = self.inner.st.borrow_mut();
            if let Some(bound) = self.inner.bound
                && st.value >= bound
            {
                return Err(Error::raised(
                    "ValueError",
                    "BoundedSemaphore released too many times",
                ));
            }
            st.value += 1;
            // The releasing task's own permit, else the oldest holder's.
            let me = current();
            let i = st.holders.iter().position(|h| Some(*h) == me).unwrap_or(0);
            if i < st.holders.len() {
                st.holders.remove(i);
            }
        }
        self.wake_up_next();
        Ok(())
    }

    /// What a wait on it says it waits on, and (its probe) who holds the permits,
    /// for a deadlock report: made at the first wait, shared by the others.
    fn site(&self) -> &WaitSite {
        let make = || -> WaitSite {
            let inner = Rc::downgrade(&self.inner);
            let probe: Probe = Rc::new(move |named| match inner.upgrade() {
                Some(i) => Blocker::Held {
                    holders: i.st.borrow().holders.iter().copied().map(named).collect(),
                },
                None => Blocker::Unknown,
            });
            WaitSite::new("Semaphore", self.inner.name.clone(), probe)
        };
        self.inner.site.get_or_init(make)
    }

    /// `_wake_up_next`: hands a permit to the first waiter that is not done;
    /// false if there was none.
    fn wake_up_next(&self) -> bool {
        let next = {
            let mut st = self.inner.st.borrow_mut();
            let next = st.waiters.first_pending();
            if next.is_some() {
                st.value -= 1;
            }
            next
        };
        match next {
            Some(f) => {
                f.set_result();
                true
            }
            None => false,
        }
    }
}

/// `asyncio.BoundedSemaphore`: a [`Semaphore`] whose `release` fails when
/// it would exceed the initial value.
#[derive(Clone, Debug)]
pub struct BoundedSemaphore(Semaphore);

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits.
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore(Semaphore::make("BoundedSemaphore", value, Some(value)))
    }

    /// A named bounded semaphore.
    pub fn named(name: &str, value: usize) -> BoundedSemaphore {
        BoundedSemaphore(Semaphore::make(name, value, Some(value)))
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;
    fn deref(&self) -> &Semaphore {
        &self.0
    }
}

/// A permit of a [`Semaphore`]; released when dropped unless
/// [`forget`](SemaphorePermit::forget) is called.
#[must_use = "dropping the permit releases it at once"]
#[derive(Debug)]
pub struct SemaphorePermit {
    sem: Option<Semaphore>,
}

impl SemaphorePermit {
    /// Keeps the permit taken (release it later with [`Semaphore::release`]).
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if let Some(s) = self.sem.take() {
            let _ = s.release();
        }
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Semaphore");
        d.field("name", &self.inner.name)
            .field("bound", &self.inner.bound);
        if let Ok(st) = self.inner.st.try_borrow() {
            d.field("value", &st.value)
                .field("holders", &st.holders)
                .field("waiters", &st.waiters.len());
        }
        d.finish_non_exhaustive()
    }
}
