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
use crate::settings::PythonVersion;
use crate::task::{
    CancelScope, JoinHandle, TaskRef, catch_cancel, current_task, raise_cancelled, spawn,
};
use crate::time::Duration;
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

/// asyncio's `Timeout` context manager as a value (`Lib/asyncio/timeouts.py`):
/// [`enter`](Self::enter) is `__aenter__` (arm a timer whose callback cancels
/// the current task), [`exit`](Self::exit) is `__aexit__` (disarm it; if it
/// fired, take back its cancellation request, and say whether the body's
/// `CancelledError` is the timeout's, to be raised as `TimeoutError`).
/// [`timeout`] is a future over one; an interpreter that runs
/// `async with asyncio.timeout(d):` around its own steps uses it directly,
/// with a [`CancelScope`](crate::CancelScope) to see the cancellation.
///
/// Dropping a scope disarms its timer.
#[derive(Debug)]
pub struct TimeoutScope {
    task: TaskRef,
    cancelling: u32,
    expired: Rc<Cell<bool>>,
    timer: Option<Scheduled>,
}

#[derive(Debug)]
enum Scheduled {
    Timer(TimerHandle),
    Soon(crate::future::CallbackHandle),
}

impl TimeoutScope {
    /// `async with asyncio.timeout(delay):` — arms the timer (labelled
    /// `timeout` in the trace); a zero delay expires at the next iteration
    /// (`call_soon`).
    ///
    /// # Panics
    ///
    /// Outside a task.
    pub fn enter(delay: Duration) -> TimeoutScope {
        TimeoutScope::named("timeout", delay)
    }

    /// [`enter`](Self::enter) with the timer labelled `name` in the trace.
    ///
    /// # Panics
    ///
    /// Outside a task.
    pub fn named(name: &str, delay: Duration) -> TimeoutScope {
        let task = current_task();
        let cancelling = task.cancelling();
        let expired = Rc::new(Cell::new(false));
        let on_timeout = {
            let expired = expired.clone();
            move || {
                expired.set(true);
                task.cancel();
            }
        };
        let timer = if delay.is_zero() {
            // `when <= loop.time()`: `call_soon(self._on_timeout)`.
            Scheduled::Soon(crate::future::call_soon(on_timeout))
        } else {
            Scheduled::Timer(call_later_labelled(delay, name, on_timeout))
        };
        TimeoutScope {
            task,
            cancelling,
            expired,
            timer: Some(timer),
        }
    }

    /// Whether the timer has fired (the task was cancelled by it).
    pub fn expired(&self) -> bool {
        self.expired.get()
    }

    /// `__aexit__`, told whether the body ended with `CancelledError`:
    /// disarms the timer and, if it fired, withdraws its cancellation
    /// request (`uncancel()`). True when that `CancelledError` is the
    /// timeout's — no other cancellation is pending — and must be raised as
    /// `TimeoutError`.
    pub fn exit(mut self, cancelled: bool) -> bool {
        self.disarm();
        if !self.expired.get() {
            return false;
        }
        let left = self.task.uncancel();
        cancelled && left <= self.cancelling
    }

    fn disarm(&mut self) {
        match self.timer.take() {
            Some(Scheduled::Timer(h)) => h.cancel(),
            Some(Scheduled::Soon(h)) => h.cancel(),
            None => {}
        }
    }
}

impl Drop for TimeoutScope {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// The future returned by [`timeout`].
#[must_use = "futures do nothing unless awaited: `timeout(d, f).await` runs `f` under a deadline"]
pub struct Timeout<F> {
    inner: Option<Pin<Box<F>>>,
    delay: Duration,
    entered: Option<(TimeoutScope, Option<CancelScope>)>,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.inner.is_none() {
            panic!("loopsim: Timeout polled after completion");
        }
        if this.entered.is_none() {
            // `__aenter__`: the catcher first, then the timer.
            let catcher = CancelScope::enter();
            assert!(
                catcher.is_some(),
                "loopsim: `timeout` awaited outside a task"
            );
            this.entered = Some((TimeoutScope::enter(this.delay), catcher));
        }
        let (_, catcher) = this.entered.as_ref().expect("entered above");
        if catcher.as_ref().is_some_and(CancelScope::is_delivering) {
            // A cancellation is being thrown at the inner await: `__aexit__`
            // with CancelledError.
            this.inner = None;
            let (scope, catcher) = this.entered.take().expect("entered above");
            let ours = scope.exit(true);
            let catcher = catcher.expect("checked above");
            return if ours {
                catcher.catch();
                Poll::Ready(Err(Error::Timeout))
            } else {
                catcher.pass();
                Poll::Pending
            };
        }
        let inner = this.inner.as_mut().expect("checked above");
        match inner.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(v) => {
                this.inner = None;
                let (scope, catcher) = this.entered.take().expect("entered above");
                scope.exit(false);
                drop(catcher);
                Poll::Ready(Ok(v))
            }
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
    let waiter: SimFuture<()> = SimFuture::with_static_label("wait_for");
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
        // `fut.result()` of a cancelled task raises its CancelledError.
        return Err(inner.task().result_cancelled());
    }
    inner
        .try_take()
        .unwrap_or_else(|| Err(Error::InvalidState("result already taken".into())))
}

/// `_cancel_and_wait(fut)`: cancel the task and wait until it is done, via a
/// waiter future released by its done-callback.
async fn cancel_and_wait<T>(inner: &crate::task::JoinHandle<T>) {
    let waiter: SimFuture<()> = SimFuture::with_static_label("wait_for cancel");
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

impl<F> std::fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout")
            .field("delay", &self.delay)
            .field("done", &self.inner.is_none())
            .field("entered", &self.entered.as_ref().map(|(s, _)| s))
            .finish_non_exhaustive()
    }
}
