//! `asyncio.shield`, ported from `Lib/asyncio/tasks.py`.

use super::add_task_callback;
use crate::engine::{self, End};
use crate::error::Error;
use crate::future::SimFuture;
use crate::task::{JoinHandle, spawn};
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

/// `asyncio.shield(fut)`: runs `fut` as a task that a cancellation of the
/// awaiting task does not reach. Cancelling the awaiter cancels only the
/// outer future (the awaiter raises `CancelledError`); the inner task runs
/// on.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, shield, sleep, spawn, print, catch_cancel};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let waiter = spawn(async {
///         let r = catch_cancel(shield(async {
///             sleep(Duration::from_secs(2)).await;
///             print("inner finished");
///         }))
///         .await;
///         print(format!("waiter cancelled: {}", r.is_err()));
///     });
///     sleep(Duration::from_secs(1)).await;
///     waiter.cancel();
///     sleep(Duration::from_secs(2)).await;
/// });
/// assert_eq!(run.output_lines(), ["waiter cancelled: true", "inner finished"]);
/// ```
pub fn shield<F>(fut: F) -> impl Future<Output = Result<F::Output, Error>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    shield_task(spawn(fut))
}

/// `asyncio.shield(task)` for a task that already exists (no new task).
/// A task already done is its own result: awaiting it does not yield
/// (`shield` returns the task itself when `inner.done()`).
pub fn shield_task<T: 'static>(
    task: JoinHandle<T>,
) -> futures::future::Either<JoinHandle<T>, impl Future<Output = Result<T, Error>>> {
    if task.is_done() {
        return futures::future::Either::Left(task);
    }
    futures::future::Either::Right(shield_pending(task))
}

fn shield_pending<T: 'static>(task: JoinHandle<T>) -> impl Future<Output = Result<T, Error>> {
    let inner = Rc::new(RefCell::new(task));
    let id = inner.borrow().task().id();
    let outer: SimFuture<()> = SimFuture::with_static_label("shield");
    let key = {
        let outer = outer.clone();
        add_task_callback(id, "shield", move || {
            if outer.cancelled() {
                return;
            }
            let end = engine::with_core("shield", |c| {
                (c.end_of(id), c.raised_message(id).map(str::to_string))
            });
            match end {
                (Some(End::Cancelled), _) => {
                    outer.cancel();
                }
                (Some(End::Raised), Some(msg)) => {
                    let _ = outer.set_exception(Error::raised("Error", msg));
                }
                _ => {
                    let _ = outer.set_result(());
                }
            }
        })
    };
    {
        outer.add_done_callback(move |_| {
            let done = engine::with_core("shield", |c| c.is_done(id));
            if !done && let Some(k) = key {
                super::remove_task_callback(id, k);
            }
        });
    }
    async move {
        // Awaiting the outer future raises CancelledError in the awaiter if
        // it is cancelled; otherwise the inner task is done.
        let _ = outer.wait_done().await;
        let mut h = inner.borrow_mut();
        h.try_take()
            .unwrap_or_else(|| Err(Error::InvalidState("shielded result already taken".into())))
    }
}
