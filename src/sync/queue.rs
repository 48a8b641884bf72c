//! `asyncio.Queue`, `LifoQueue` and `PriorityQueue`.

use super::waiters::{Attempt, GiveUp, WaitSite, Waiter};
use super::{Event, Waiters};
use crate::deadlock::{Blocker, Probe};
use crate::engine::heapq;
use crate::task::raise_cancelled;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;

/// The order a [`Queue`] hands items out in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// First in, first out (`asyncio.Queue`).
    Fifo,
    /// Last in, first out (`asyncio.LifoQueue`).
    Lifo,
    /// Smallest first, by CPython's `heapq` (`asyncio.PriorityQueue`); equal
    /// items come out in heap order, not insertion order.
    Priority,
}

/// `put_nowait` on a full queue; gives the item back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("QueueFull")]
pub struct QueueFull<T>(pub T);

/// `get_nowait` on an empty queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("QueueEmpty")]
pub struct QueueEmpty;

/// `asyncio.Queue` (and its LIFO and priority variants), with asyncio's
/// exact wake-up rules: `put` wakes the first waiting getter, but the item is
/// not reserved for it — a getter that wakes up to an empty queue goes back
/// to the tail of the getters.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, print, sync::Queue};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let q: Queue<u32> = Queue::new(1);
///     let consumer = { let q = q.clone(); spawn(async move {
///         for _ in 0..3 { let x = q.get().await; print(format!("got {x}")); sleep(Duration::from_secs(1)).await; }
///     })};
///     for i in 0..3 { q.put(i).await; print(format!("put {i}")); }
///     consumer.await.unwrap();
/// });
/// assert_eq!(run.output_lines(), ["put 0", "got 0", "put 1", "got 1", "put 2", "got 2"]);
/// ```
pub struct Queue<T> {
    inner: Rc<Inner<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<T> {
    name: Rc<str>,
    kind: QueueKind,
    maxsize: usize,
    /// What a getter's wait and a putter's say they wait on (with what a
    /// deadlock report says of them): made once, shared by every wait.
    get_site: WaitSite,
    put_site: WaitSite,
    st: RefCell<State<T>>,
    finished: Event,
}

struct State<T> {
    items: VecDeque<T>,
    heap: Vec<T>,
    getters: Waiters,
    putters: Waiters,
    unfinished: usize,
}

impl<T> State<T> {
    fn len(&self, kind: QueueKind) -> usize {
        match kind {
            QueueKind::Priority => self.heap.len(),
            _ => self.items.len(),
        }
    }

    fn full(&self, inner: &Inner<T>) -> bool {
        inner.maxsize > 0 && self.len(inner.kind) >= inner.maxsize
    }
}

impl<T: PartialOrd + 'static> Queue<T> {
    /// A FIFO queue holding at most `maxsize` items (0: unbounded).
    pub fn new(maxsize: usize) -> Queue<T> {
        Queue::with_kind("Queue", QueueKind::Fifo, maxsize)
    }

    /// A FIFO queue named `name` in traces and deadlock reports.
    pub fn named(name: &str, maxsize: usize) -> Queue<T> {
        Queue::with_kind(name, QueueKind::Fifo, maxsize)
    }

    /// `asyncio.LifoQueue(maxsize)`: the last item put is the first got.
    pub fn lifo(maxsize: usize) -> Queue<T> {
        Queue::with_kind("LifoQueue", QueueKind::Lifo, maxsize)
    }

    /// `asyncio.PriorityQueue(maxsize)`: the smallest item is got first
    /// (`heapq` order, so equal items come out in heap order, not FIFO).
    pub fn priority(maxsize: usize) -> Queue<T> {
        Queue::with_kind("PriorityQueue", QueueKind::Priority, maxsize)
    }

    /// A queue of the given kind, named `name`.
    pub fn with_kind(name: &str, kind: QueueKind, maxsize: usize) -> Queue<T> {
        let finished = Event::named(name);
        let name: Rc<str> = name.into();
        finished.set();
        Queue {
            inner: Rc::new(Inner {
                get_site: WaitSite::new(
                    "Queue.get",
                    name.clone(),
                    Rc::new(|_| Blocker::QueueEmpty),
                ),
                put_site: WaitSite::new(
                    "Queue.put",
                    name.clone(),
                    Rc::new(move |_| Blocker::QueueFull { maxsize }),
                ),
                name,
                kind,
                maxsize,
                st: RefCell::new(State {
                    items: VecDeque::new(),
                    heap: Vec::new(),
                    getters: Waiters::new(),
                    putters: Waiters::new(),
                    unfinished: 0,
                }),
                finished,
            }),
        }
    }

    /// Items in the queue.
    pub fn qsize(&self) -> usize {
        self.inner.st.borrow().len(self.inner.kind)
    }

    /// True when empty.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// True when bounded and at capacity.
    pub fn full(&self) -> bool {
        self.inner.st.borrow().full(&self.inner)
    }

    /// `_wakeup_next`: pops waiters until one that is not done, and wakes it.
    fn wakeup_next(&self, getters: bool) {
        let w = {
            let mut st = self.inner.st.borrow_mut();
            if getters {
                st.getters.pop_pending()
            } else {
                st.putters.pop_pending()
            }
        };
        if let Some(w) = w {
            w.set_result();
        }
    }

    /// Puts an item without waiting; wakes the first getter.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] (with the item) if the queue is at capacity.
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        self.try_put(item, None, false)
            .map_err(|(item, _)| QueueFull(item))
    }

    /// `put_nowait`, or, when the queue is full, the item back and a new
    /// putter at the tail if `wait`; in one borrow of the queue, which also
    /// recycles the waiter of the wait just over (`spent`).
    // Inlined into `put`'s first poll (called from two places, it would
    // not be: W4 51.2 -> 57.2 M instructions).
    #[inline(always)]
    fn try_put(
        &self,
        item: T,
        spent: Option<Waiter>,
        wait: bool,
    ) -> Result<(), (T, Option<Waiter>)> {
        let getter = {
            let mut st = self.inner.st.borrow_mut();
            if let Some(w) = spent {
                st.putters.recycle(w);
            }
            if st.full(&self.inner) {
                return Err((item, wait.then(|| st.putters.push_new())));
            }
            match self.inner.kind {
                QueueKind::Priority => heapq::push_any(&mut st.heap, item, |a, b| a < b),
                _ => st.items.push_back(item),
            }
            st.unfinished += 1;
            st.getters.pop_pending()
        };
        self.inner.finished.clear();
        if let Some(w) = getter {
            w.set_result();
        }
        Ok(())
    }

    /// Takes an item without waiting; wakes the first putter.
    ///
    /// # Errors
    ///
    /// [`QueueEmpty`] if there is nothing to take.
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        self.try_get(None, false).map_err(|_| QueueEmpty)
    }

    /// `get_nowait`, or, when the queue is empty, a new getter at the tail
    /// if `wait`; in one borrow of the queue, which also recycles the
    /// waiter of the wait just over (`spent`).
    // Inlined into `get`'s first poll, as `try_put` is.
    #[inline(always)]
    fn try_get(&self, spent: Option<Waiter>, wait: bool) -> Result<T, Option<Waiter>> {
        let (item, putter) = {
            let mut st = self.inner.st.borrow_mut();
            if let Some(w) = spent {
                st.getters.recycle(w);
            }
            let item = match self.inner.kind {
                QueueKind::Fifo => st.items.pop_front(),
                QueueKind::Lifo => st.items.pop_back(),
                QueueKind::Priority => heapq::pop_any(&mut st.heap, |a, b| a < b),
            };
            let Some(item) = item else {
                return Err(wait.then(|| st.getters.push_new()));
            };
            (item, st.putters.pop_pending())
        };
        if let Some(w) = putter {
            w.set_result();
        }
        Ok(item)
    }

    /// Puts an item, waiting while the queue is full.
    // The attempt's `Err` is the wait itself, made in place (inlined).
    #[allow(clippy::result_large_err)]
    pub fn put(&self, item: T) -> impl Future<Output = ()> + '_ {
        Attempt::new((self, item), |(q, item): (&Self, T)| {
            // `while self.full(): putter = …; self._putters.append(putter)`.
            match q.try_put(item, None, true) {
                Ok(()) => Ok(()),
                Err((item, putter)) => Err(q.put_waiting(item, putter.expect("a new putter"))),
            }
        })
    }

    /// The rest of a `put` that found the queue full: waits as `putter`,
    /// then tries again.
    async fn put_waiting(&self, item: T, putter: Waiter) {
        let (mut item, mut putter) = (item, putter);
        loop {
            let give_up = GiveUp::new(|| self.give_up_put(&putter));
            let r = putter.wait(&self.inner.put_site).await;
            give_up.disarm();
            if r.is_err() {
                self.give_up_put(&putter);
                match raise_cancelled().await {}
            }
            match self.try_put(item, Some(putter), true) {
                Ok(()) => return,
                Err((back, next)) => {
                    item = back;
                    putter = next.expect("a new putter");
                }
            }
        }
    }

    /// Takes an item, waiting while the queue is empty.
    // The attempt's `Err` is the wait itself, made in place (inlined).
    #[allow(clippy::result_large_err)]
    pub fn get(&self) -> impl Future<Output = T> + '_ {
        Attempt::new(self, |q: &Self| {
            // `while self.empty(): getter = …; self._getters.append(getter)`.
            q.try_get(None, true)
                .map_err(|getter| q.get_waiting(getter.expect("a new getter")))
        })
    }

    /// The rest of a `get` that found the queue empty: waits as `getter`,
    /// then tries again.
    async fn get_waiting(&self, getter: Waiter) -> T {
        let mut getter = getter;
        loop {
            let give_up = GiveUp::new(|| self.give_up_get(&getter));
            let r = getter.wait(&self.inner.get_site).await;
            give_up.disarm();
            if r.is_err() {
                self.give_up_get(&getter);
                match raise_cancelled().await {}
            }
            match self.try_get(Some(getter), true) {
                Ok(item) => return item,
                Err(next) => getter = next.expect("a new getter"),
            }
        }
    }

    /// `put`'s `except:` clause (a cancelled or dropped wait): the putter
    /// leaves, and a free slot it was woken for goes to the next putter.
    fn give_up_put(&self, putter: &Waiter) {
        putter.abandon();
        self.inner.st.borrow_mut().putters.remove(putter);
        if !self.full() && !putter.cancelled() {
            self.wakeup_next(false);
        }
    }

    /// `get`'s `except:` clause (a cancelled or dropped wait): the getter
    /// leaves, and an item it was woken for goes to the next getter.
    fn give_up_get(&self, getter: &Waiter) {
        getter.abandon();
        self.inner.st.borrow_mut().getters.remove(getter);
        if !self.empty() && !getter.cancelled() {
            self.wakeup_next(true);
        }
    }

    /// Marks one item processed; `join` returns when every put item is.
    ///
    /// # Errors
    ///
    /// `ValueError` if called more times than items were put.
    pub fn task_done(&self) -> Result<(), crate::Error> {
        let mut st = self.inner.st.borrow_mut();
        if st.unfinished == 0 {
            return Err(crate::Error::raised(
                "ValueError",
                "task_done() called too many times",
            ));
        }
        st.unfinished -= 1;
        let done = st.unfinished == 0;
        drop(st);
        if done {
            self.inner.finished.set();
        }
        Ok(())
    }

    /// Waits until every item put has been marked done; traces and
    /// deadlock reports show it as a wait on `Queue.join`.
    pub async fn join(&self) {
        if self.inner.st.borrow().unfinished > 0 {
            let inner = Rc::downgrade(&self.inner);
            let probe: Probe = Rc::new(move |_| match inner.upgrade() {
                Some(i) => Blocker::QueueJoin {
                    unfinished: i.st.borrow().unfinished,
                },
                None => Blocker::Unknown,
            });
            let site = WaitSite::new("Queue.join", self.inner.name.clone(), probe);
            self.inner.finished.wait_as(&site).await;
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Queue");
        d.field("name", &self.inner.name)
            .field("kind", &self.inner.kind)
            .field("maxsize", &self.inner.maxsize);
        if let Ok(st) = self.inner.st.try_borrow() {
            d.field("items", &(st.items.len() + st.heap.len()))
                .field("getters", &st.getters.len())
                .field("putters", &st.putters.len())
                .field("unfinished", &st.unfinished);
        }
        d.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::Queue;
    use crate::{Sim, sleep, spawn};
    use std::time::Duration;

    /// A wait first polled with a waker that wakes nothing (a `select`'s
    /// own, say), then awaited by its task, is woken through the task's:
    /// the waiter keeps the waker of the last poll.
    #[test]
    fn a_wait_polled_with_another_waker_wakes_the_last_one() {
        use std::future::Future;
        use std::task::{Context, Waker};
        let run = Sim::builder().build().run(async {
            let q: Queue<u32> = Queue::new(0);
            let c = q.clone();
            spawn(async move {
                sleep(Duration::from_secs(1)).await;
                c.put(7).await;
            });
            let mut get = std::pin::pin!(q.get());
            let pending = get.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            assert!(pending.is_pending());
            get.await
        });
        assert_eq!(run.value(), Some(&7), "{:?}", run.outcome);
        assert_eq!(run.elapsed(), Duration::from_secs(1));
    }

    /// A get given up while it waits (its future dropped, as a `select`
    /// drops the branch that lost) does not take the next put's wake-up
    /// with it: the getter behind it gets the item.
    #[test]
    fn a_dropped_get_does_not_swallow_a_put() {
        use std::future::Future;
        use std::task::{Context, Waker};
        let run = Sim::builder().build().run(async {
            let q: Queue<u32> = Queue::new(0);
            {
                let mut get = std::pin::pin!(q.get());
                let pending = get.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                assert!(pending.is_pending());
            }
            let c = q.clone();
            let getter = spawn(async move { c.get().await });
            crate::yield_now().await;
            q.put(1).await;
            getter.await.expect("the getter ends")
        });
        assert_eq!(run.value(), Some(&1), "{:?}", run.outcome);
    }

    /// A getter that waited, once its wait is over, leaves its waiter for
    /// the next wait (nothing else holds it: not the task's wait, not the
    /// queue); and a second blocked get reuses it.
    #[test]
    fn a_blocked_get_leaves_its_waiter_for_the_next() {
        let run = Sim::builder().build().run(async {
            let q: Queue<u32> = Queue::new(0);
            let c = q.clone();
            let consumer = spawn(async move { c.get().await + c.get().await });
            for i in 1..=2 {
                sleep(Duration::from_secs(1)).await;
                q.put(i).await;
            }
            let sum = consumer.await.expect("the consumer ends");
            let spare = q.inner.st.borrow().getters.spare_len();
            (sum, spare)
        });
        assert_eq!(run.value(), Some(&(3, 1)));
    }
}
