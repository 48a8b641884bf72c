//! `asyncio.timeout` and `asyncio.wait_for`.
//!
//! [`timeout`] (and 3.12+ `wait_for`) runs the awaitable inline in the
//! current task under a timer whose callback cancels the task; the
//! cancellation is delivered at the task's next step and turned into
//! [`Error::Timeout`] there — one iteration after the timer. A cancellation
//! from anyone else passes through unchanged (`Lib/asyncio/timeouts.py`).
//!
//! Python 3.11's `wait_for` wraps the awaitable in a new task, waits on a
//! waiter future released by the timer or by the task's completion, then
//! cancels the task and waits for it to end: the caller sees the timeout four
//! iterations after the timer (`Lib/asyncio/tasks.py`, 3.11).

use crate::engine;
use crate::error::Error;
use crate::future::{SimFuture, TimerHandle, call_later_labelled};
use crate::model::PythonVersion;
use crate::task::{JoinHandle, TaskRef, catch_cancel, current_task, raise_cancelled, spawn};
use crate::time::Duration;
use crate::trace::TaskId;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// `async with asyncio.timeout(delay): return await fut` — `Err(Error::Timeout)`
/// if `fut` is not done within `delay` of virtual time (it is dropped then).
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, timeout, sleep, Error};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     timeout(Duration::from_secs(2), sleep(Duration::from_secs(5))).await
/// });
/// assert_eq!(run.value(), Some(&Err(Error::Timeout)));
/// assert_eq!(run.elapsed(), Duration::from_secs(2));
/// ```
pub fn timeout<F: Future>(delay: Duration, fut: F) -> Timeout<F> {
    Timeout {
        inner: Some(Box::pin(fut)),
        delay,
        entered: None,
    }
}

struct Entered {
    task: TaskId,
    catcher: u64,
    cancelling: u32,
    expired: Rc<Cell<bool>>,
    timer: Option<Scheduled>,
}

enum Scheduled {
    Timer(TimerHandle),
    Soon(crate::future::CallbackHandle),
}

impl Entered {
    fn cancel_timer(&mut self) {
        match self.timer.take() {
            Some(Scheduled::Timer(h)) => h.cancel(),
            Some(Scheduled::Soon(h)) => h.cancel(),
            None => {}
        }
    }
}

/// The future returned by [`timeout`].
pub struct Timeout<F> {
    inner: Option<Pin<Box<F>>>,
    delay: Duration,
    entered: Option<Entered>,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.inner.is_none() {
            panic!("loopsim: Timeout polled after completion");
        }
        if this.entered.is_none() {
            // `__aenter__`: remember the task and its cancel count, arm the timer.
            let task = current_task();
            let (catcher, cancelling) = engine::with_core("timeout", |c| {
                let k = c.catcher_enter().expect("inside a task");
                (k, c.cancelling(task.id()))
            });
            let expired = Rc::new(Cell::new(false));
            let on_timeout = {
                let expired = expired.clone();
                move || {
                    expired.set(true);
                    task.cancel();
                }
            };
            let timer = if this.delay.is_zero() {
                // `when <= loop.time()`: `call_soon(self._on_timeout)`.
                Scheduled::Soon(crate::future::call_soon(on_timeout))
            } else {
                Scheduled::Timer(call_later_labelled(this.delay, "timeout", on_timeout))
            };
            this.entered = Some(Entered {
                task: task.id(),
                catcher,
                cancelling,
                expired,
                timer: Some(timer),
            });
        }
        let ent = this.entered.as_mut().expect("entered above");
        if engine::with_core("timeout", |c| c.catcher_is_target(ent.catcher)) {
            // A cancellation is being thrown at the inner await: `__aexit__`
            // with CancelledError.
            this.inner = None;
            ent.cancel_timer();
            let task = TaskRef::from_id(ent.task);
            let ours = ent.expired.get() && task.uncancel() <= ent.cancelling;
            let key = ent.catcher;
            engine::with_core("timeout", |c| {
                if ours {
                    c.catcher_consume(key);
                } else {
                    c.catcher_pass(key);
                }
            });
            this.entered = None;
            return if ours {
                Poll::Ready(Err(Error::Timeout))
            } else {
                Poll::Pending
            };
        }
        let inner = this.inner.as_mut().expect("checked above");
        match inner.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(v) => {
                this.inner = None;
                let mut ent = this.entered.take().expect("entered above");
                ent.cancel_timer();
                if ent.expired.get() {
                    TaskRef::from_id(ent.task).uncancel();
                }
                let (task, key) = (ent.task, ent.catcher);
                engine::with_core("timeout", |c| c.catcher_exit(task, key));
                Poll::Ready(Ok(v))
            }
        }
    }
}

impl<F> Drop for Timeout<F> {
    fn drop(&mut self) {
        if let Some(mut ent) = self.entered.take() {
            ent.cancel_timer();
            let (task, key) = (ent.task, ent.catcher);
            engine::try_with_core(|c| c.catcher_exit(task, key));
        }
    }
}

/// `asyncio.wait_for(fut, timeout)`: `Err(Error::Timeout)` if `fut` does not
/// finish within `delay`. Under Python 3.12+ this is [`timeout`]; under 3.11
/// `fut` runs as its own task, as CPython 3.11 does.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, wait_for, sleep, spawn, Error};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let slow = spawn(sleep(Duration::from_secs(5)));
///     wait_for(slow, Duration::from_secs(2)).await
/// });
/// assert_eq!(run.value(), Some(&Err(Error::Timeout)));
/// assert_eq!(run.elapsed(), Duration::from_secs(2));
/// ```
pub async fn wait_for<F>(fut: F, delay: Duration) -> Result<F::Output, Error>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let py = engine::with_core("wait_for", |c| c.python());
    match py {
        // `timeout <= 0` is the same in every version: a task, cancelled at once.
        _ if delay.is_zero() => wait_for_zero(spawn(fut)).await,
        PythonVersion::Py312 | PythonVersion::Py313 => timeout(delay, fut).await,
        PythonVersion::Py311 => wait_for_311(move || spawn(fut), delay).await,
    }
}

/// `asyncio.wait_for(task, timeout)` for a task that already exists: no new
/// task is made (asyncio's `ensure_future` returns the task itself). On
/// timeout the task is cancelled.
pub async fn wait_for_task<T: 'static>(task: JoinHandle<T>, delay: Duration) -> Result<T, Error> {
    let py = engine::with_core("wait_for", |c| c.python());
    match py {
        _ if delay.is_zero() => wait_for_zero(task).await,
        PythonVersion::Py312 | PythonVersion::Py313 => flatten(timeout(delay, task).await),
        PythonVersion::Py311 => wait_for_311(move || task, delay).await,
    }
}

/// `wait_for(fut, 0)`: `fut = ensure_future(fut)`; if it is not done yet it
/// is cancelled and awaited, and its cancellation becomes `TimeoutError`
/// (3.11 and 3.12 alike).
async fn wait_for_zero<T: 'static>(mut inner: JoinHandle<T>) -> Result<T, Error> {
    if inner.is_done() {
        return take_result(&mut inner);
    }
    cancel_and_wait(&inner).await;
    match inner.try_take() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) if !e.is_cancelled() => Err(e),
        _ => Err(Error::Timeout),
    }
}

fn flatten<T>(r: Result<Result<T, Error>, Error>) -> Result<T, Error> {
    r.and_then(|x| x)
}

/// CPython 3.11's `wait_for`, step for step. `task` makes (or hands over)
/// the inner task, after the timer is scheduled, as `ensure_future` runs
/// after `call_later` there.
async fn wait_for_311<T: 'static>(
    task: impl FnOnce() -> JoinHandle<T>,
    delay: Duration,
) -> Result<T, Error> {
    if delay.is_zero() {
        return wait_for_zero(task()).await;
    }
    let waiter: SimFuture<()> = SimFuture::with_label("wait_for");
    let release = {
        let w = waiter.clone();
        move || {
            if !w.done() {
                let _ = w.set_result(());
            }
        }
    };
    let timeout_handle = call_later_labelled(delay, "wait_for", release.clone());
    let mut inner = task();
    let id = inner.task().id();
    let cb = super::add_task_callback(id, "wait_for", release);
    let _guard = CancelOnDrop(Some(timeout_handle));

    match catch_cancel(waiter.wait_done()).await {
        Err(_) => {
            // Cancelled while waiting.
            if inner.is_done() {
                return take_result(&mut inner);
            }
            if let Some(k) = cb {
                super::remove_task_callback(id, k);
            }
            cancel_and_wait(&inner).await;
            match raise_cancelled().await {}
        }
        Ok(_) => {
            if inner.is_done() {
                return take_result(&mut inner);
            }
            if let Some(k) = cb {
                super::remove_task_callback(id, k);
            }
            cancel_and_wait(&inner).await;
            match inner.try_take() {
                Some(Ok(v)) => Ok(v),
                Some(Err(Error::Cancelled)) | None => Err(Error::Timeout),
                Some(Err(e)) => Err(e),
            }
        }
    }
}

fn take_result<T>(inner: &mut crate::task::JoinHandle<T>) -> Result<T, Error> {
    if inner.task().is_cancelled() {
        // `fut.result()` of a cancelled task raises CancelledError.
        return Err(Error::Cancelled);
    }
    inner
        .try_take()
        .unwrap_or_else(|| Err(Error::InvalidState("result already taken".into())))
}

/// `_cancel_and_wait(fut)`: cancel the task and wait until it is done, via a
/// waiter future released by its done-callback.
async fn cancel_and_wait<T>(inner: &crate::task::JoinHandle<T>) {
    let waiter: SimFuture<()> = SimFuture::with_label("wait_for cancel");
    let w = waiter.clone();
    let id = inner.task().id();
    let key = super::add_task_callback(id, "wait_for", move || {
        if !w.done() {
            let _ = w.set_result(());
        }
    });
    inner.cancel();
    let r = waiter.wait_done().await;
    if let Some(k) = key
        && !inner.is_done()
    {
        super::remove_task_callback(id, k);
    }
    let _ = r;
}

struct CancelOnDrop(Option<TimerHandle>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.cancel();
        }
    }
}
