//! The low-level future ([`SimFuture`], asyncio's `Future`) and callbacks
//! scheduled on the loop ([`call_soon`], [`call_later`], [`call_at`]).
//!
//! Completing a future (`set_result`, `set_exception`, `cancel`) schedules
//! every done-callback with `call_soon`, in registration order; a task
//! awaiting the future resumes one iteration later. Adding a callback to a
//! future that is already done schedules it at once, never synchronously.
//! Awaiting a done future does not yield; awaiting a cancelled one raises
//! `CancelledError` in the awaiting task (see [`catch_cancel`](crate::catch_cancel)).

use crate::engine::{self, CancelFuture, CancelTarget, timers::TimerAction, timers::TimerKey};
use crate::error::Error;
use crate::time::{Duration, Instant};
use crate::trace::WaitOn;
use std::borrow::Cow;
use std::cell::RefCell;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// asyncio's `Future`: a result that will be set later, awaited by any
/// number of tasks. Cloning gives another handle to the same future.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, SimFuture, call_later};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let fut = SimFuture::new();
///     let f = fut.clone();
///     call_later(Duration::from_secs(1), move || { f.set_result("done").unwrap(); });
///     fut.await.unwrap()
/// });
/// assert_eq!(run.value(), Some(&"done"));
/// assert_eq!(run.elapsed(), Duration::from_secs(1));
/// ```
pub struct SimFuture<T> {
    inner: Rc<Inner<T>>,
}

struct Inner<T> {
    label: Cow<'static, str>,
    st: RefCell<State<T>>,
}

struct State<T> {
    result: Option<Result<T, Error>>,
    cancelled: bool,
    /// The message of the `CancelledError` the future raises, when it is
    /// cancelled (`Future.cancel(msg)`) or its exception is one (a gather's
    /// cancelled child's): every awaiter's error carries it.
    cancel_msg: Option<Rc<str>>,
    callbacks: Callbacks<T>,
    next_key: u64,
}

/// A future's done-callbacks in registration order, each with its key.
/// Most futures (one awaiter) have one, kept without an allocation.
struct Callbacks<T> {
    first: Option<(u64, Callback<T>)>,
    rest: Vec<(u64, Callback<T>)>,
}

impl<T> Callbacks<T> {
    /// Takes the callback with `key` out, if it is there.
    fn remove(&mut self, key: u64) -> Option<Callback<T>> {
        if self.first.as_ref().is_some_and(|(k, _)| *k == key) {
            return self.first.take().map(|(_, cb)| cb);
        }
        let i = self.rest.iter().position(|(k, _)| *k == key)?;
        Some(self.rest.remove(i).1)
    }

    /// Every callback: the first, then the rest in registration order (the
    /// first one was registered before the rest: it is only set while
    /// `rest` is empty). Apart, so that the common case (one callback, no
    /// `rest`) drops no iterator over an empty vector.
    #[allow(clippy::type_complexity)]
    fn take_all(&mut self) -> (Option<(u64, Callback<T>)>, Vec<(u64, Callback<T>)>) {
        let first = self.first.take();
        let rest = if self.rest.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut self.rest)
        };
        (first, rest)
    }
}

/// A done-callback that receives the future.
type DoneFn<T> = Box<dyn FnOnce(&SimFuture<T>)>;

enum Callback<T> {
    Wake(Waker),
    Call(DoneFn<T>),
}

impl<T> Clone for SimFuture<T> {
    fn clone(&self) -> Self {
        SimFuture {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Default for SimFuture<T> {
    fn default() -> Self {
        SimFuture::new()
    }
}

impl<T> std::fmt::Debug for SimFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.st.borrow();
        f.debug_struct("SimFuture")
            .field("label", &self.inner.label)
            .field("done", &st.result.is_some())
            .field("cancelled", &st.cancelled)
            .finish()
    }
}

impl<T: 'static> SimFuture<T> {
    /// A pending future (`loop.create_future()`).
    pub fn new() -> SimFuture<T> {
        SimFuture::with_static_label("future")
    }

    /// A pending future with a label shown in the trace when a task waits on it.
    pub fn with_label(label: impl Into<String>) -> SimFuture<T> {
        SimFuture::labelled(Cow::Owned(label.into()))
    }

    /// [`with_label`](Self::with_label) for a label known at compile time (a
    /// combinator's future): no allocation for it.
    pub(crate) fn with_static_label(label: &'static str) -> SimFuture<T> {
        SimFuture::labelled(Cow::Borrowed(label))
    }

    fn labelled(label: Cow<'static, str>) -> SimFuture<T> {
        SimFuture {
            inner: Rc::new(Inner {
                label,
                st: RefCell::new(State {
                    result: None,
                    cancelled: false,
                    cancel_msg: None,
                    callbacks: Callbacks {
                        first: None,
                        rest: Vec::new(),
                    },
                    next_key: 0,
                }),
            }),
        }
    }

    /// True if both handles refer to the same future.
    pub fn same(&self, other: &SimFuture<T>) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// True once a result, an exception or a cancellation is set.
    pub fn done(&self) -> bool {
        self.inner.st.borrow().result.is_some()
    }

    /// True if the future was cancelled.
    pub fn cancelled(&self) -> bool {
        self.inner.st.borrow().cancelled
    }

    /// Sets the result and schedules the done-callbacks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the future is already done.
    pub fn set_result(&self, value: T) -> Result<(), Error> {
        self.complete_with(false, move || Ok(value))
    }

    /// Sets an exception and schedules the done-callbacks.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the future is already done.
    pub fn set_exception(&self, error: Error) -> Result<(), Error> {
        self.complete(Err(error), false)
    }

    /// `Future.cancel()`: false if already done; otherwise cancels the
    /// future and schedules its done-callbacks.
    pub fn cancel(&self) -> bool {
        self.cancel_with(None)
    }

    /// `Future.cancel(msg)`: as [`cancel`](Self::cancel), and the
    /// `CancelledError` raised in every task awaiting the future carries
    /// `msg`.
    pub fn cancel_with_message(&self, msg: &str) -> bool {
        self.cancel_with(Some(msg.into()))
    }

    fn cancel_with(&self, msg: Option<Rc<str>>) -> bool {
        let ok = self.complete(Err(Error::Cancelled), true).is_ok();
        if ok {
            self.inner.st.borrow_mut().cancel_msg = msg;
        }
        ok
    }

    /// Sets a `CancelledError` carrying `msg` as the future's exception (a
    /// gather's outer future, given its cancelled child's error).
    pub(crate) fn set_cancelled_error(&self, msg: Option<Rc<str>>) -> Result<(), Error> {
        self.complete(Err(Error::Cancelled), false)?;
        self.inner.st.borrow_mut().cancel_msg = msg;
        Ok(())
    }

    /// The message of the `CancelledError` the future raises, if it is
    /// cancelled or its exception is one (`None` when it has none).
    pub fn cancel_message(&self) -> Option<String> {
        self.inner
            .st
            .borrow()
            .cancel_msg
            .as_deref()
            .map(String::from)
    }

    fn complete(&self, result: Result<T, Error>, cancel: bool) -> Result<(), Error> {
        self.complete_with(cancel, move || result)
    }

    /// Sets the result `make` makes and schedules the done-callbacks. The
    /// result is made where it is stored: passed in as a `Result`, it went
    /// through the stack, and its read-back stalled on store forwarding
    /// (`set_result` is one of these).
    #[inline(always)]
    fn complete_with(
        &self,
        cancel: bool,
        make: impl FnOnce() -> Result<T, Error>,
    ) -> Result<(), Error> {
        let callbacks = {
            let mut st = self.inner.st.borrow_mut();
            if st.result.is_some() {
                drop(st);
                return Err(self.already_done());
            }
            st.result = Some(make());
            st.cancelled = cancel;
            st.callbacks.take_all()
        };
        self.schedule_all(callbacks);
        Ok(())
    }

    /// `InvalidStateError('invalid state')`: the message of CPython's C
    /// `Future` (the default one) for any completion of a done future.
    #[cold]
    fn already_done(&self) -> Error {
        Error::InvalidState("invalid state".to_string())
    }

    /// Schedules the callbacks a completion took, the first one first
    /// (inlined: the callbacks are not copied through the stack).
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn schedule_all(&self, (first, rest): (Option<(u64, Callback<T>)>, Vec<(u64, Callback<T>)>)) {
        if let Some((_, cb)) = first {
            self.schedule(cb);
        }
        if !rest.is_empty() {
            for (_, cb) in rest {
                self.schedule(cb);
            }
        }
    }

    fn schedule(&self, cb: Callback<T>) {
        match cb {
            Callback::Wake(w) => w.wake(),
            Callback::Call(f) => {
                let me = self.clone();
                engine::with_core("SimFuture callback", |c| {
                    let label = c.syms().done;
                    c.call_soon(Box::new(move || f(&me)), label)
                });
            }
        }
    }

    /// Adds a done-callback; returns a key for [`remove_done_callback`](Self::remove_done_callback).
    /// On a done future the callback is scheduled at once.
    pub fn add_done_callback(&self, f: impl FnOnce(&SimFuture<T>) + 'static) -> u64 {
        self.add(Callback::Call(Box::new(f)))
    }

    fn add(&self, cb: Callback<T>) -> u64 {
        self.add_with(move || cb)
    }

    /// [`add`](Self::add) with the callback made where it is stored, in each
    /// branch: made before the branch, it was kept on the stack for either,
    /// and its 16-byte read-back straddled two 8-byte stores and stalled on
    /// store forwarding (a task's wait on a future: 4 % of W4, then 3 %
    /// more once inlined).
    #[inline(always)]
    fn add_with(&self, make: impl FnOnce() -> Callback<T>) -> u64 {
        let mut st = self.inner.st.borrow_mut();
        let key = st.next_key;
        st.next_key += 1;
        if st.result.is_some() {
            drop(st);
            self.schedule(make());
        } else if st.callbacks.first.is_none() && st.callbacks.rest.is_empty() {
            st.callbacks.first = Some((key, make()));
        } else {
            st.callbacks.rest.push((key, make()));
        }
        key
    }

    /// Removes a done-callback that has not been scheduled yet; true if it was there.
    pub fn remove_done_callback(&self, key: u64) -> bool {
        let removed = self.inner.st.borrow_mut().callbacks.remove(key);
        removed.is_some()
    }

    /// Whether the future is done with an exception other than cancellation.
    pub fn exception(&self) -> Option<Error> {
        match &self.inner.st.borrow().result {
            Some(Err(e)) if !e.is_cancelled() => Some(e.clone()),
            _ => None,
        }
    }

    /// A future that completes when this one is done, without producing its
    /// value: `Ok(())`, or the exception. Cancellation raises in the awaiter.
    pub fn wait_done(&self) -> Await<T> {
        Await::new(self.clone(), None)
    }

    pub(crate) fn await_with_target(&self, target: Rc<dyn CancelFuture>) -> Await<T> {
        Await::new(self.clone(), Some(target))
    }

    /// Awaits this future as simulated I/O: the trace says the task waits
    /// on `what` (a service's response, a pool's job).
    pub(crate) fn wait_io(&self, what: Rc<str>) -> Await<T> {
        let mut a = Await::new(self.clone(), None);
        a.io = Some(what);
        a
    }
}

impl<T: Clone + 'static> SimFuture<T> {
    /// The result if done: `Ok(value)` or the exception.
    pub fn result(&self) -> Option<Result<T, Error>> {
        self.inner.st.borrow().result.clone()
    }
}

impl<T: 'static> SimFuture<T> {
    /// Whether the future ended, or will end, in a `CancelledError`.
    pub(crate) fn ends_cancelled(&self) -> bool {
        self.inner.ends_cancelled()
    }

    /// The message of the `CancelledError` the future ended with, if it did.
    pub(crate) fn error_message(&self) -> Option<Option<Rc<str>>> {
        self.inner.error_message()
    }
}

/// A task suspended on a future cancels it through its shared part: the
/// wait's cancel target is the future's own `Rc`, not a new one.
impl<T: 'static> CancelFuture for Inner<T> {
    fn cancel_future(self: Rc<Self>, msg: Option<Rc<str>>) -> bool {
        SimFuture { inner: self }.cancel_with(msg)
    }
    fn ends_cancelled(&self) -> bool {
        self.error_message().is_some()
    }
    fn error_message(&self) -> Option<Option<Rc<str>>> {
        let st = self.st.borrow();
        let cancelled = st.cancelled || matches!(st.result, Some(Err(Error::Cancelled)));
        cancelled.then(|| st.cancel_msg.clone())
    }
}

/// Awaiting a [`SimFuture`] (by value or by reference) yields its result.
impl<T: Clone + 'static> IntoFuture for SimFuture<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Value<T>;
    fn into_future(self) -> Value<T> {
        Value(Await::new(self, None))
    }
}

impl<T: Clone + 'static> IntoFuture for &SimFuture<T> {
    type Output = Result<T, Error>;
    type IntoFuture = Value<T>;
    fn into_future(self) -> Value<T> {
        Value(Await::new(self.clone(), None))
    }
}

/// Awaits a [`SimFuture`] and clones its result.
pub struct Value<T>(Await<T>);

impl<T: Clone + 'static> Future for Value<T> {
    type Output = Result<T, Error>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(Ok(())) => {
                Poll::Ready(self.0.fut.result().expect("a done future has a result"))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Waits until a [`SimFuture`] is done (`Ok(())` or its exception).
pub struct Await<T> {
    fut: SimFuture<T>,
    key: Option<(u64, Waker)>,
    target: Option<Rc<dyn CancelFuture>>,
    /// What the trace says the task waits on when this is simulated I/O (a
    /// service's response, a pool's job); the future's label otherwise.
    io: Option<Rc<str>>,
}

impl<T: 'static> Await<T> {
    fn new(fut: SimFuture<T>, target: Option<Rc<dyn CancelFuture>>) -> Await<T> {
        Await {
            fut,
            key: None,
            target,
            io: None,
        }
    }
}

impl<T: 'static> Future for Await<T> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        {
            let st = this.fut.inner.st.borrow();
            if let Some(r) = &st.result {
                this.key = None;
                return Poll::Ready(match r {
                    Ok(_) => Ok(()),
                    // Cancelled, or an exception that *is* CancelledError (a
                    // gather's cancelled child's): raised, like a
                    // cancellation, with the future's message, not the
                    // awaiting task's.
                    Err(Error::Cancelled) => {
                        let msg = st.cancel_msg.clone();
                        drop(st);
                        engine::with_core("await", |c| c.raise_cancelled_with(msg));
                        return Poll::Pending;
                    }
                    Err(e) => Err(e.clone()),
                });
            }
        }
        if let Some((k, w)) = &this.key
            && !w.will_wake(cx.waker())
        {
            this.fut.remove_done_callback(*k);
            this.key = None;
        }
        if this.key.is_none() {
            let w = cx.waker().clone();
            let cb = w.clone();
            let k = this.fut.add_with(move || Callback::Wake(cb));
            this.key = Some((k, w));
        }
        let target: Rc<dyn CancelFuture> = match &this.target {
            Some(t) => t.clone(),
            None => this.fut.inner.clone(),
        };
        let label = &this.fut.inner.label;
        let io = &this.io;
        engine::with_core("await", |c| {
            let on = match io {
                Some(what) => WaitOn::Io {
                    what: c.intern_shared(what),
                },
                None => WaitOn::Future {
                    what: match label {
                        Cow::Borrowed(l) => c.intern_static(l),
                        Cow::Owned(l) => c.intern(l),
                    },
                },
            };
            c.set_waiting_probed(on, CancelTarget::Future(target), None);
        });
        Poll::Pending
    }
}

impl<T> Drop for Await<T> {
    fn drop(&mut self) {
        if let Some((k, _)) = self.key.take() {
            let removed = self.fut.inner.st.borrow_mut().callbacks.remove(k);
            drop(removed);
        }
    }
}

/// A callback scheduled with [`call_soon`]; cancel it before it runs.
#[derive(Clone, Copy, Debug)]
pub struct CallbackHandle {
    key: engine::Key,
}

impl CallbackHandle {
    /// `Handle.cancel()`: the callback will be skipped.
    pub fn cancel(self) {
        let f = engine::try_with_core(|c| c.cancel_callback(self.key));
        drop(f);
    }
}

/// `loop.call_soon(f)`: runs `f` in the next iteration, after every handle
/// already ready.
pub fn call_soon(f: impl FnOnce() + 'static) -> CallbackHandle {
    let key = engine::with_core("call_soon", |c| {
        let label = c.syms().call_soon;
        c.call_soon(Box::new(f), label)
    });
    CallbackHandle { key }
}

/// A callback scheduled with [`call_later`] or [`call_at`].
#[derive(Clone, Copy, Debug)]
pub struct TimerHandle {
    key: TimerKey,
    when: Instant,
}

impl TimerHandle {
    /// `TimerHandle.cancel()`: the timer stays in the heap, cancelled, until
    /// it reaches the head or the loop purges cancelled timers.
    pub fn cancel(self) {
        let a = engine::try_with_core(|c| c.cancel_timer(self.key, false));
        drop(a);
    }

    /// When the timer is due.
    pub fn when(self) -> Instant {
        self.when
    }
}

/// `loop.call_later(delay, f)`: a timer at `now + delay` (float arithmetic
/// under the `asyncio` model).
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    call_later_when(|c| c.deadline_after(delay), f)
}

/// `loop.call_later(secs, f)` with a delay in float seconds that may be
/// negative: the timer is due at `loop.time() + secs`, before those due now
/// (asyncio does not clamp it).
pub(crate) fn call_later_secs(secs: f64, f: impl FnOnce() + 'static) -> TimerHandle {
    call_later_when(|c| c.deadline_after_secs(secs), f)
}

/// A `call_later` timer due at the deadline `when` gives.
fn call_later_when(
    when: impl FnOnce(&engine::Core) -> (f64, u64),
    f: impl FnOnce() + 'static,
) -> TimerHandle {
    engine::with_core("call_later", |c| {
        let when = when(c);
        let label = c.syms().call_later;
        let key = c.schedule_timer(when, TimerAction::Call(Box::new(f)), label, false);
        TimerHandle {
            key,
            when: Instant::from_nanos(when.1),
        }
    })
}

/// `loop.call_at(when, f)`: a timer at an absolute virtual time.
pub fn call_at(when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
    engine::with_core("call_at", |c| {
        let w = c.deadline_at(when);
        let label = c.syms().call_later;
        let key = c.schedule_timer(w, TimerAction::Call(Box::new(f)), label, false);
        TimerHandle { key, when }
    })
}

/// Schedules `f` as a labelled callback after `delay`; used by combinators
/// so the trace names what fired (`wait_for`, `timeout`).
pub(crate) fn call_later_labelled(
    delay: Duration,
    label: &str,
    f: impl FnOnce() + 'static,
) -> TimerHandle {
    engine::with_core("call_later", |c| {
        let when = c.deadline_after(delay);
        let label = c.intern(label);
        let key = c.schedule_timer(when, TimerAction::Call(Box::new(f)), label, false);
        TimerHandle {
            key,
            when: Instant::from_nanos(when.1),
        }
    })
}

impl<T> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Value").field(&self.0).finish()
    }
}

impl<T> std::fmt::Debug for Await<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Await")
            .field("future", &self.fut.inner.label)
            .field("registered", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
