//! `asyncio.as_completed`, ported from `Lib/asyncio/tasks.py` (3.11/3.12):
//! a `Queue` of finished tasks filled by done-callbacks.

use super::add_task_callback;
use crate::error::Error;
use crate::future::{TimerHandle, call_later_labelled};
use crate::sync::Queue;
use crate::task::JoinHandle;
use crate::time::Duration;
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
    let n = tasks.len();
    let done: Queue<Option<usize>> = Queue::new(0);
    let todo = Rc::new(RefCell::new(vec![true; n]));
    let remaining = Rc::new(RefCell::new(n));
    let handles = Rc::new(RefCell::new(
        tasks.into_iter().map(Some).collect::<Vec<_>>(),
    ));
    let timeout_handle: Rc<RefCell<Option<TimerHandle>>> = Rc::new(RefCell::new(None));
    let ids: Vec<_> = handles
        .borrow()
        .iter()
        .map(|h| h.as_ref().expect("fresh").task().id())
        .collect();
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
    AsCompleted {
        done,
        handles,
        left: n,
    }
}

/// The iterator returned by [`as_completed`].
pub struct AsCompleted<T> {
    done: Queue<Option<usize>>,
    handles: Rc<RefCell<Vec<Option<JoinHandle<T>>>>>,
    left: usize,
}

impl<T: 'static> AsCompleted<T> {
    /// The next finished task's output; `Err(Error::Timeout)` once the
    /// timeout passed; `None` when every task has been yielded.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
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
            return Some(Err(Error::Cancelled));
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
