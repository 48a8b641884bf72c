//! `asyncio.as_completed`, ported from `Lib/asyncio/tasks.py`: a `Queue` of
//! finished tasks filled by done-callbacks.
//!
//! When the done-callbacks are added and the timeout timer starts depends on
//! the Python version. In 3.11 and 3.12 `as_completed` is a generator
//! (3.12.1 lines 584-638, 3.11.7 lines 568-622): `add_done_callback` and
//! `call_later(timeout, _on_timeout)` run at its first `next()` (3.12.1
//! lines 633-636), i.e. at the first [`AsCompleted::next`]. In 3.13 it
//! returns an `_AsCompletedIterator` whose `__init__` does both at the call
//! (3.13.0 lines 577-590, `as_completed` at lines 637-688). The two agree
//! when iteration starts at once (`for f in as_completed(…)`); when the
//! caller awaits something in between, 3.13 counts the timeout from the
//! call, and results of tasks that finished meanwhile are already queued.

use super::add_task_callback;
use crate::engine;
use crate::error::Error;
use crate::future::{TimerHandle, call_later_labelled};
use crate::settings::PythonVersion;
use crate::sync::Queue;
use crate::task::JoinHandle;
use crate::time::Duration;
use crate::trace::TaskId;
use std::cell::RefCell;
use std::rc::Rc;

/// `asyncio.as_completed(tasks, timeout=…)`: yields the tasks' outputs in
/// the order they finish. Each result reaches the caller one iteration after
/// the task's done-callback ran (the callback puts it on an internal queue).
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, as_completed, spawn, sleep};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let hs = [3u64, 1, 2].map(|s| spawn(async move { sleep(Duration::from_secs(s)).await; s }));
///     let mut it = as_completed(hs.into(), None);
///     let mut order = vec![];
///     while let Some(r) = it.next().await { order.push(r.unwrap()); }
///     order
/// });
/// assert_eq!(run.value(), Some(&vec![1, 2, 3]));
/// ```
pub fn as_completed<T: 'static>(
    tasks: Vec<JoinHandle<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    // `todo = {ensure_future(f) for f in set(fs)}`: a task given twice is
    // yielded once.
    let mut seen = std::collections::BTreeSet::new();
    let tasks: Vec<_> = tasks
        .into_iter()
        .filter(|h| seen.insert(h.task().id()))
        .collect();
    let n = tasks.len();
    let done: Queue<Option<usize>> = Queue::new(0);
    let handles = Rc::new(RefCell::new(
        tasks.into_iter().map(Some).collect::<Vec<_>>(),
    ));
    let ids: Vec<_> = handles
        .borrow()
        .iter()
        .map(|h| h.as_ref().expect("fresh").task().id())
        .collect();
    let setup = {
        let done = done.clone();
        Box::new(move || set_up(ids, done, timeout)) as Box<dyn FnOnce()>
    };
    let eager = engine::with_core("as_completed", |c| c.python() >= PythonVersion::Py313);
    let setup = if eager {
        setup();
        None
    } else {
        Some(setup)
    };
    AsCompleted {
        done,
        handles,
        left: n,
        setup,
    }
}

/// Adds the done-callbacks and starts the timeout timer.
fn set_up(ids: Vec<TaskId>, done: Queue<Option<usize>>, timeout: Option<Duration>) {
    let n = ids.len();
    let todo = Rc::new(RefCell::new(vec![true; n]));
    let remaining = Rc::new(RefCell::new(n));
    let timeout_handle: Rc<RefCell<Option<TimerHandle>>> = Rc::new(RefCell::new(None));
    for (i, id) in ids.into_iter().enumerate() {
        let (done, todo, remaining, th) = (
            done.clone(),
            todo.clone(),
            remaining.clone(),
            timeout_handle.clone(),
        );
        add_task_callback(id, "as_completed", move || {
            if *remaining.borrow() == 0 {
                return; // _on_timeout() was here first.
            }
            todo.borrow_mut()[i] = false;
            *remaining.borrow_mut() -= 1;
            let _ = done.put_nowait(Some(i));
            if *remaining.borrow() == 0
                && let Some(t) = th.borrow_mut().take()
            {
                t.cancel();
            }
        });
    }
    if n > 0
        && let Some(d) = timeout
    {
        let (done, remaining) = (done.clone(), remaining.clone());
        let h = call_later_labelled(d, "as_completed", move || {
            let left = std::mem::take(&mut *remaining.borrow_mut());
            for _ in 0..left {
                let _ = done.put_nowait(None);
            }
        });
        *timeout_handle.borrow_mut() = Some(h);
    }
}

/// The iterator returned by [`as_completed`].
pub struct AsCompleted<T> {
    done: Queue<Option<usize>>,
    handles: Rc<RefCell<Vec<Option<JoinHandle<T>>>>>,
    left: usize,
    /// 3.11/3.12: the generator's set-up, run at the first `next()`.
    setup: Option<Box<dyn FnOnce()>>,
}

impl<T: 'static> AsCompleted<T> {
    /// The next finished task's output; `Err(Error::Timeout)` once the
    /// timeout passed; `None` when every task has been yielded.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        if let Some(setup) = self.setup.take() {
            setup();
        }
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let i = self.done.get().await;
        let Some(i) = i else {
            return Some(Err(Error::Timeout));
        };
        let h = self.handles.borrow_mut()[i].take();
        let mut h = h.expect("each task is yielded once");
        if h.task().is_cancelled() {
            return Some(Err(h.task().result_cancelled()));
        }
        Some(
            h.try_take()
                .unwrap_or_else(|| Err(Error::InvalidState("result already taken".into()))),
        )
    }

    /// Tasks not yielded yet.
    pub fn remaining(&self) -> usize {
        self.left
    }
}

impl<T> std::fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}
