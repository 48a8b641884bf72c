//! `asyncio.wait`, ported from `Lib/asyncio/tasks.py` (`_wait`).

use super::add_task_callback;
use crate::engine::{self, End};
use crate::future::{SimFuture, call_later_labelled};
use crate::task::JoinHandle;
use crate::time::Duration;
use std::cell::Cell;
use std::rc::Rc;

/// When [`wait`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// `FIRST_COMPLETED`: as soon as any task is done.
    FirstCompleted,
    /// `FIRST_EXCEPTION`: as soon as any task raises, or all are done.
    FirstException,
    /// `ALL_COMPLETED`: when all are done.
    AllCompleted,
}

/// `asyncio.wait(tasks, timeout=…, return_when=…)`: waits, then returns
/// `(done, pending)`. CPython returns sets; loopsim keeps the tasks'
/// argument order in both lists. A timeout does not cancel anything.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, wait, spawn, sleep, ReturnWhen};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let a = spawn(sleep(Duration::from_secs(1)));
///     let b = spawn(sleep(Duration::from_secs(3)));
///     let (done, pending) = wait(vec![a, b], ReturnWhen::FirstCompleted, None).await;
///     (done.len(), pending.len())
/// });
/// assert_eq!(run.value(), Some(&(1, 1)));
/// assert_eq!(run.main_done_at.unwrap().to_string(), "1s");
/// ```
pub async fn wait<T: 'static>(
    tasks: Vec<JoinHandle<T>>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
    let waiter: SimFuture<()> = SimFuture::with_static_label("wait");
    let timeout_handle = timeout.map(|d| {
        let w = waiter.clone();
        call_later_labelled(d, "wait", move || {
            if !w.done() {
                let _ = w.set_result(());
            }
        })
    });
    let counter = Rc::new(Cell::new(tasks.len()));
    let mut keys = Vec::with_capacity(tasks.len());
    for h in &tasks {
        let id = h.task().id();
        let (w, counter) = (waiter.clone(), counter.clone());
        let key = add_task_callback(id, "wait", move || {
            counter.set(counter.get().saturating_sub(1));
            let raised = engine::with_core("wait", |c| c.end_of(id) == Some(End::Raised));
            if counter.get() == 0
                || return_when == ReturnWhen::FirstCompleted
                || (return_when == ReturnWhen::FirstException && raised)
            {
                if let Some(t) = timeout_handle {
                    t.cancel();
                }
                if !w.done() {
                    let _ = w.set_result(());
                }
            }
        });
        keys.push((id, key));
    }
    // `finally:` — also when the waiting task is cancelled (the future is
    // dropped then): cancel the timer, remove the callbacks.
    let cleanup = Cleanup {
        timeout_handle,
        keys,
    };
    let _ = waiter.wait_done().await;
    drop(cleanup);
    tasks.into_iter().partition(|h| h.is_done())
}

struct Cleanup {
    timeout_handle: Option<crate::TimerHandle>,
    keys: Vec<(crate::trace::TaskId, Option<u64>)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(t) = self.timeout_handle.take() {
            t.cancel();
        }
        for (id, key) in self.keys.drain(..) {
            if let Some(k) = key {
                let cb = crate::engine::try_with_core(|c| c.remove_done_callback(id, k));
                drop(cb);
            }
        }
    }
}
