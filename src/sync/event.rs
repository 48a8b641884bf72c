//! `asyncio.Event`.

use super::Waiters;
use super::waiters::{WaitSite, Waiter};
use crate::deadlock::Blocker;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// `asyncio.Event`: `set()` wakes every waiter, in the order they waited.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, print, sync::Event};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let ev = Event::named("ready");
///     let waiter = { let ev = ev.clone(); spawn(async move { ev.wait().await; print("go") }) };
///     sleep(Duration::from_secs(1)).await;
///     ev.set();
///     waiter.await.unwrap();
/// });
/// assert_eq!(run.output[0].at.to_string(), "1s");
/// ```
#[derive(Clone)]
pub struct Event {
    inner: Rc<Inner>,
}

struct Inner {
    /// What a wait says it waits on (and a deadlock report of it): made
    /// once, shared.
    site: WaitSite,
    /// The flag, apart from the waiters: a `Queue.put` clears its queue's
    /// `join` event at every item without a borrow.
    value: Cell<bool>,
    st: RefCell<State>,
}

struct State {
    waiters: Waiters,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Event {
        Event::named("Event")
    }

    /// An event with a name for traces.
    pub fn named(name: &str) -> Event {
        Event {
            inner: Rc::new(Inner {
                site: WaitSite::new("Event", name.into(), Rc::new(|_| Blocker::EventNotSet)),
                value: Cell::new(false),
                st: RefCell::new(State {
                    waiters: Waiters::new(),
                }),
            }),
        }
    }

    /// True once set (until cleared).
    pub fn is_set(&self) -> bool {
        self.inner.value.get()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let waiters: Vec<_> = {
            if self.inner.value.replace(true) {
                return;
            }
            self.inner.st.borrow().waiters.all()
        };
        for w in waiters {
            if !w.done() {
                w.set_result();
            }
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.inner.value.set(false);
    }

    /// Waits until the flag is set (no yield if it already is).
    pub async fn wait(&self) {
        self.wait_as(&self.inner.site).await;
    }

    /// [`wait`](Event::wait), seen in traces and deadlock reports as a wait
    /// on `site` (`Queue.join` waits on the queue's event).
    pub(crate) async fn wait_as(&self, site: &WaitSite) {
        if self.inner.value.get() {
            return;
        }
        let fut = self.inner.st.borrow_mut().waiters.push_new();
        let _remove = RemoveOnDrop {
            ev: self,
            fut: &fut,
        };
        let _ = fut.wait_uncaught(site).await;
    }
}

/// `finally: self._waiters.remove(fut)`.
struct RemoveOnDrop<'a> {
    ev: &'a Event,
    fut: &'a Waiter,
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        self.ev.inner.st.borrow_mut().waiters.remove(self.fut);
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("name", self.inner.site.name());
        d.field("set", &self.inner.value.get());
        if let Ok(st) = self.inner.st.try_borrow() {
            d.field("waiters", &st.waiters.len());
        }
        d.finish_non_exhaustive()
    }
}
