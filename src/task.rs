//! Tasks: `spawn` (asyncio's `create_task`), [`JoinHandle`], [`TaskRef`],
//! and catching cancellation.
//!
//! A task's first step runs in the loop iteration after the one that created
//! it. Awaiting a [`JoinHandle`] of a task that is already done does not
//! yield; awaiting a pending one suspends the awaiter until one iteration
//! after the task finishes (its done-callback wakes the awaiter).
//!
//! Cancellation follows asyncio: [`TaskRef::cancel`] is delivered at the
//! task's next step, at the await it is suspended on. Delivery drops the
//! task's future there (its destructors run), unless the await is wrapped in
//! [`catch_cancel`], which returns `Err(Error::Cancelled)` instead — the
//! `try: … except CancelledError:` of Rust code. Awaiting a task that ended
//! cancelled cancels the awaiter too, as in asyncio.

use crate::engine::{self, CancelTarget, DoneCallback, End, FailSlot};
use crate::error::Error;
use crate::trace::{TaskId, WaitOn};
use std::cell::{Cell, RefCell};
use std::fmt::Display;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Spawns a task (`asyncio.create_task`) named `Task-N`.
///
/// # Panics
///
/// Outside a running simulation.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let h = spawn(async { sleep(Duration::from_secs(1)).await; 7 });
///     h.await.unwrap()
/// });
/// assert_eq!(run.value(), Some(&7));
/// assert_eq!(run.elapsed(), Duration::from_secs(1));
/// ```
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Builder::new().spawn(fut)
}

/// Spawns a named task.
pub fn spawn_named<F>(name: impl Into<String>, fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Builder::new().name(name).spawn(fut)
}

/// Options for a new task.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<String>,
    label: Option<String>,
}

impl Builder {
    /// A builder with the default name (`Task-N`).
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown in the trace, timelines and deadlock reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Describes what the task runs (`fetch('A', 3)`), for timelines and
    /// sequence diagrams; the name stays `Task-N` unless set.
    pub fn label(mut self, label: impl Into<String>) -> Builder {
        self.label = Some(label.into());
        self
    }

    /// Spawns the task.
    pub fn spawn<F>(self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_inner(
            self.name.as_deref(),
            self.label.as_deref(),
            fut,
            |_: &F::Output| None,
        )
    }

    /// Spawns a task whose `Err` output counts as an exception: the trace
    /// records the task as having raised, and combinators that take futures
    /// (`gather`, `wait_for`) treat it so.
    pub fn spawn_fallible<F, T, E>(self, fut: F) -> JoinHandle<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Display + 'static,
    {
        spawn_inner(
            self.name.as_deref(),
            self.label.as_deref(),
            fut,
            |out: &Result<T, E>| out.as_ref().err().map(raised),
        )
    }
}

/// The message of a fallible task's error; an error that is a
/// [`crate::Error`] is also kept as a value (a `TaskGroup`'s
/// `ExceptionGroup` holds its children's).
fn raised<E: Display + 'static>(e: &E) -> String {
    if let Some(err) = (e as &dyn std::any::Any).downcast_ref::<Error>() {
        engine::with_core("spawn", |c| c.set_raised_error(err.clone()));
    }
    e.to_string()
}

/// [`Builder::spawn_fallible`] with a borrowed name and label (the
/// scenario interpreter's spawn: no string allocated per task when the
/// label is interned already).
pub(crate) fn spawn_fallible_with<F, T, E>(
    name: Option<&str>,
    label: Option<&str>,
    fut: F,
) -> JoinHandle<Result<T, E>>
where
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: Display + 'static,
{
    spawn_inner(name, label, fut, |out: &Result<T, E>| {
        out.as_ref().err().map(raised)
    })
}

/// Clones a task's output out of its cell.
type CloneOut<T> = fn(&Result<T, Box<Error>>) -> Result<T, Error>;

/// [`CloneOut`] for an output that is `Clone`.
fn clone_out<T: Clone>(out: &Result<T, Box<Error>>) -> Result<T, Error> {
    match out {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err(Error::clone(e)),
    }
}

/// A task's output, shared by the task and its handles. Kept small (a
/// million tasks have a million cells): the error is boxed, the flag of
/// whether it was retrieved lives in [`Out`], and there is no `RefCell`
/// (the output is lent out with [`TaskCell::with_out`]).
pub(crate) struct TaskCell<T> {
    out: Cell<Out<T>>,
    /// Set once a handle is cloned: the output is then cloned out, never
    /// moved, so that every handle can await the task, any number of times.
    shared: Cell<Option<CloneOut<T>>>,
}

/// Where a task's output is.
enum Out<T> {
    /// The task has not ended.
    Pending,
    /// The output, and whether someone looked at it (awaited the task, took
    /// or peeked at its result): an exception in it was then retrieved.
    Ready(Result<T, Box<Error>>, bool),
    /// Moved out to a handle (so it was retrieved).
    Taken,
}

impl<T> TaskCell<T> {
    fn new() -> TaskCell<T> {
        TaskCell {
            out: Cell::new(Out::Pending),
            shared: Cell::new(None),
        }
    }

    /// Lends the output to `f`, and puts it back afterwards, even if `f`
    /// panics (a user's `Clone` may).
    fn with_out<R>(&self, f: impl FnOnce(&mut Out<T>) -> R) -> R {
        struct Lent<'a, T>(&'a Cell<Out<T>>, Out<T>);
        impl<T> Drop for Lent<'_, T> {
            fn drop(&mut self) {
                self.0.set(std::mem::replace(&mut self.1, Out::Taken));
            }
        }
        let mut lent = Lent(&self.out, self.out.replace(Out::Taken));
        f(&mut lent.1)
    }

    /// The task's output, once it returned.
    fn set(&self, v: T) {
        // The old value is `Pending` (a task's output is set once, when its
        // future returns): nothing to drop. Forgotten rather than dropped,
        // it is never read, and the write to a cell that is often not in
        // the cache any more does not wait for the cell to arrive.
        let old = self.out.replace(Out::Ready(Ok(v), false));
        debug_assert!(matches!(old, Out::Pending), "a task's output is set once");
        std::mem::forget(old);
    }

    /// The output: moved out, or cloned out once the handle is shared.
    fn take_out(&self) -> Option<Result<T, Error>> {
        let clone = self.shared.get();
        self.with_out(|out| match out {
            Out::Ready(r, seen) => match clone {
                Some(clone) => {
                    *seen = true;
                    Some(clone(r))
                }
                None => match std::mem::replace(out, Out::Taken) {
                    Out::Ready(r, _) => Some(r.map_err(|e| *e)),
                    _ => unreachable!("matched above"),
                },
            },
            Out::Pending | Out::Taken => None,
        })
    }

    /// Looks at the output without taking it (and so retrieves it).
    fn peek<R>(&self, f: impl FnOnce(Option<Result<&T, &Error>>) -> R) -> R {
        self.with_out(|out| match out {
            Out::Ready(r, seen) => {
                *seen = true;
                f(Some(r.as_ref().map_err(|e| &**e)))
            }
            Out::Pending | Out::Taken => f(None),
        })
    }
}

impl<T> FailSlot for TaskCell<T> {
    fn fail(&self, error: Error) {
        let seen = self.retrieved();
        self.out.set(Out::Ready(Err(Box::new(error)), seen));
    }

    fn retrieved(&self) -> bool {
        self.with_out(|out| matches!(out, Out::Ready(_, true) | Out::Taken))
    }

    fn mark_retrieved(&self) {
        self.with_out(|out| {
            if let Out::Ready(_, seen) = out {
                *seen = true;
            }
        });
    }
}

/// Spawns `fut` as a task whose output goes to the handle's cell; `raised`
/// says whether that output carries an error (a fallible task's `Err`).
fn spawn_inner<F, R>(
    name: Option<&str>,
    label: Option<&str>,
    fut: F,
    raised: R,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
    R: Fn(&F::Output) -> Option<String> + 'static,
{
    let task = Rc::pin(TaskBox {
        cell: TaskCell::new(),
        raised,
        fut: RefCell::new(Some(fut)),
    });
    // 3.12's eager tasks start at once, but only while the loop runs (the
    // main task of `asyncio.run` is created before it does).
    let (id, eager) = engine::with_core("spawn", |c| {
        let eager = c.eager_now();
        let fut = engine::TaskFut::new(task.clone());
        (c.create_task(fut, name, label, eager), eager)
    });
    if eager {
        engine::run_eager(id);
    }
    JoinHandle {
        task: TaskRef { id },
        boxed: task,
        registered: None,
    }
}

/// A spawned task in one allocation: the cell its output goes to, and its
/// future. The engine polls it ([`engine::TaskFuture`]); its handles read
/// the cell ([`HasCell`]). One allocation where there were two (the boxed
/// future and the shared cell): a program that spawns a hundred thousand
/// tasks before any ends made as many more calls to the allocator, each
/// carving a block off the top of the heap (see the closing notes of issue
/// 11). Not an async block, which would hold `fut` twice (as its capture
/// and as the awaited value), doubling what every task keeps.
///
/// The price: a finished task's handle (or the record of a task that
/// raised, kept for the run's end to ask whether its exception was
/// retrieved) keeps the future's bytes allocated, though the future itself
/// was dropped, until the handle goes; the boxed future was freed when the
/// task ended.
///
/// `fut` first (`repr(C)`): the engine prefetches the start of the
/// allocation before a batch of steps, and a step reads the borrow flag and
/// the future's first bytes.
#[repr(C)]
struct TaskBox<F: Future, R> {
    /// The user's future until it is ready: dropped then, in place, before
    /// its output is stored (as `futures`' `Fuse` would), or when the task
    /// ends otherwise ([`engine::TaskFuture::drop_future`]); with the
    /// allocation only if the engine never took the task (`spawn` failed).
    fut: RefCell<Option<F>>,
    cell: TaskCell<F::Output>,
    raised: R,
}

impl<F: Future, R> TaskBox<F, R> {
    /// Runs `f` on the future, pinned where it lies; `None` if the future
    /// is borrowed already (reached from inside its own poll or drop, which
    /// nothing does: only the engine's one `TaskFut` of the task reaches
    /// it, and the engine holds that out of the task's slot while it
    /// polls).
    ///
    /// The crate's third `unsafe` block, allowed here by name. The measured
    /// need: one allocation per task instead of two took W1 from 296.9 to
    /// 273.9 M instructions (the closing note of issue 11).
    #[allow(unsafe_code)]
    fn with_fut<X>(self: Pin<&Self>, f: impl FnOnce(Pin<&mut Option<F>>) -> X) -> Option<X> {
        let mut slot = self.get_ref().fut.try_borrow_mut().ok()?;
        // SAFETY: structural pinning of `fut`. `self` is pinned (a
        // `TaskBox` is only ever made by `Rc::pin` and reached through
        // `Pin<Rc<_>>`), and `fut` is never moved out of it: this function
        // is the only place that reaches into it, it hands out only a
        // pinned reference, and the future is dropped in place (`Pin::set`,
        // or with the allocation). `TaskBox` has no `Drop` of its own and
        // implements `Unpin` only when `F` does.
        Some(f(unsafe { Pin::new_unchecked(&mut *slot) }))
    }
}

/// A task's output cell, reached by its handles without knowing the
/// task's future type.
trait HasCell<T> {
    fn cell(&self) -> &TaskCell<T>;
}

impl<F: Future, R> HasCell<F::Output> for TaskBox<F, R> {
    fn cell(&self) -> &TaskCell<F::Output> {
        &self.cell
    }
}

impl<F: Future, R> FailSlot for TaskBox<F, R> {
    fn fail(&self, error: Error) {
        self.cell.fail(error);
    }

    fn retrieved(&self) -> bool {
        self.cell.retrieved()
    }

    fn mark_retrieved(&self) {
        self.cell.mark_retrieved();
    }
}

impl<F, R> engine::TaskFuture for TaskBox<F, R>
where
    F: Future,
    R: Fn(&F::Output) -> Option<String>,
{
    fn poll_task(self: Pin<&Self>, cx: &mut Context<'_>) -> Poll<()> {
        let polled = self.with_fut(|mut slot| {
            let Some(fut) = slot.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            let v = std::task::ready!(fut.poll(cx));
            slot.set(None);
            Poll::Ready(v)
        });
        let v = match polled {
            Some(Poll::Ready(v)) => v,
            Some(Poll::Pending) => return Poll::Pending,
            None => {
                panic!("loopsim: a task's future was polled from inside itself (internal error)")
            }
        };
        let this = self.get_ref();
        if let Some(msg) = (this.raised)(&v) {
            engine::with_core("spawn", |c| c.set_raised(msg));
        }
        this.cell.set(v);
        Poll::Ready(())
    }

    fn drop_future(self: Pin<&Self>) {
        // Not a panic if it fails (a destructor may run while unwinding):
        // the future is then dropped with the allocation.
        let dropped = self.with_fut(|mut slot| slot.set(None));
        debug_assert!(
            dropped.is_some(),
            "a task's future dropped from inside itself"
        );
    }
}

/// A cheap, copyable reference to a task: query it, cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskRef {
    id: TaskId,
}

impl TaskRef {
    /// The task's id in this run (1 is the main task).
    pub fn id(self) -> TaskId {
        self.id
    }

    /// The task's name.
    pub fn name(self) -> String {
        engine::with_core("TaskRef::name", |c| c.task_name(self.id).to_string())
    }

    /// The name given at creation, if any (`None`: the default `Task-N`).
    pub(crate) fn given_name(self) -> Option<String> {
        engine::with_core("TaskRef::given_name", |c| {
            c.given_name(self.id).map(str::to_string)
        })
    }

    /// True once the task returned, raised or was cancelled.
    pub fn is_done(self) -> bool {
        engine::with_core("TaskRef::is_done", |c| c.is_done(self.id))
    }

    /// True if the task ended cancelled.
    pub fn is_cancelled(self) -> bool {
        engine::with_core("TaskRef::is_cancelled", |c| {
            c.end_of(self.id) == Some(End::Cancelled)
        })
    }

    /// `Task.cancel()`: requests cancellation; false if the task is done.
    pub fn cancel(self) -> bool {
        engine::cancel_task(self.id)
    }

    /// `Task.cancel(msg)`: the `CancelledError` raised in the task (and in
    /// the tasks awaiting it) carries `msg`.
    pub fn cancel_with_message(self, msg: &str) -> bool {
        engine::cancel_task_with(self.id, Some(msg.into()))
    }

    /// `Task._cancel_message`: the message of the last cancellation request
    /// that was not forwarded (kept by a task cancelled "right before coro
    /// stops"; `None` once it ended cancelled otherwise).
    pub(crate) fn request_message(self) -> Option<String> {
        engine::with_core("TaskRef::request_message", |c| {
            c.request_message(self.id).as_deref().map(String::from)
        })
    }

    /// `t.result()` of this cancelled task, in the current task: the
    /// `CancelledError` it raises there ([`Error::Cancelled`]) carries this
    /// task's `_make_cancelled_error()` message.
    pub(crate) fn result_cancelled(self) -> Error {
        engine::with_core("TaskRef::result_cancelled", |c| {
            let msg = c.make_cancelled_error(self.id);
            if let Some(me) = c.current() {
                c.task_mut(me).replace_cancel_msg(msg);
            }
        });
        Error::Cancelled
    }

    /// `_make_cancelled_error()` of a cancelled task, as `t.result()` and
    /// `t.exception()` raise it: the message of the `CancelledError` it
    /// ended with, handed out once (later ones have none).
    pub(crate) fn take_cancelled_error(self) -> Option<String> {
        engine::with_core("TaskRef::take_cancelled_error", |c| {
            c.make_cancelled_error(self.id).as_deref().map(String::from)
        })
    }

    /// The message of the last cancellation requested or received (`None`
    /// when it had none).
    pub fn cancel_message(self) -> Option<String> {
        engine::with_core("TaskRef::cancel_message", |c| {
            c.cancel_message(self.id).as_deref().map(String::from)
        })
    }

    /// `Task.cancelling()`: the number of pending cancellation requests.
    pub fn cancelling(self) -> u32 {
        engine::with_core("TaskRef::cancelling", |c| c.cancelling(self.id))
    }

    /// `Task.uncancel()`: decrements the pending cancellation requests and
    /// returns the new count.
    ///
    /// Under Python 3.13, reaching 0 also withdraws a cancellation not yet
    /// delivered to a task that is not waiting on a future (one that has not
    /// started, is ready, or is running): `if self._num_cancels_requested ==
    /// 0: self._must_cancel = False` (3.13.0 `Lib/asyncio/tasks.py` lines
    /// 256-260, and `_asyncio_Task_uncancel_impl` in the C module,
    /// gh-116720). A sleep whose future was already cancelled still raises.
    /// 3.11 and 3.12 only decrement the count.
    pub fn uncancel(self) -> u32 {
        engine::with_core("TaskRef::uncancel", |c| c.uncancel(self.id))
    }
}

/// The task running now, if any (`None` in a callback or outside a run).
pub fn try_current_task() -> Option<TaskRef> {
    engine::try_with_core(|c| c.current())
        .flatten()
        .map(|id| TaskRef { id })
}

/// The task running now (`asyncio.current_task()`).
///
/// # Panics
///
/// Outside a running simulation or outside a task.
pub fn current_task() -> TaskRef {
    let id = engine::with_core("current_task", |c| c.current());
    TaskRef {
        id: id.expect("loopsim: `current_task` called from a callback, not a task"),
    }
}

/// An owned handle to a spawned task. Await it for the task's output:
/// `Ok(value)`, or `Err(Error::Panic)` if the task panicked. Dropping the
/// handle detaches the task (it keeps running), as in asyncio.
///
/// When the output is `Clone`, so is the handle: like an asyncio `Task`
/// object, every clone can await the task, as often as it likes, and each
/// gets a clone of the output (or the same cancellation). Once a handle has
/// been cloned, its output is cloned out rather than moved.
pub struct JoinHandle<T> {
    task: TaskRef,
    /// The task's allocation, for its output cell.
    boxed: Pin<Rc<dyn HasCell<T>>>,
    /// The key of the done-callback that wakes the awaiter, while one is
    /// registered (the waker itself is in the task's slot).
    registered: Option<NonZeroU64>,
}

impl<T> JoinHandle<T> {
    /// A copyable reference to the task.
    pub fn task(&self) -> TaskRef {
        self.task
    }

    /// Requests cancellation (`Task.cancel()`); false if the task is done.
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }

    /// The task's output cell.
    fn cell(&self) -> &TaskCell<T> {
        self.boxed.cell()
    }

    /// True once the task ended.
    pub fn is_done(&self) -> bool {
        self.task.is_done()
    }

    /// The task's output if it is done and was not taken yet (a shared
    /// handle's output is cloned, never taken).
    pub fn try_take(&mut self) -> Option<Result<T, Error>> {
        self.cell().take_out()
    }

    /// Looks at the output without taking it.
    pub(crate) fn peek<R>(&self, f: impl FnOnce(Option<Result<&T, &Error>>) -> R) -> R {
        self.cell().peek(f)
    }

    fn unregister(&mut self) {
        if let Some(key) = self.registered.take() {
            let id = self.task.id;
            let cb = engine::try_with_core(|c| c.remove_done_callback(id, key.get()));
            drop(cb);
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let id = this.task.id;
        enum S {
            Done,
            Cancelled,
            SelfAwait,
            /// `stale`: the registered done-callback wakes another waker.
            Pending {
                stale: bool,
            },
        }
        let registered = this.registered;
        let s = engine::with_core("JoinHandle", |c| {
            if c.current() == Some(id) {
                return S::SelfAwait;
            }
            match c.end_of(id) {
                Some(End::Cancelled) => {
                    c.receive_cancellation_of(id);
                    S::Cancelled
                }
                Some(_) => S::Done,
                None => S::Pending {
                    stale: registered
                        .is_some_and(|key| !c.done_callback_will_wake(id, key.get(), cx.waker())),
                },
            }
        });
        match s {
            S::SelfAwait => Poll::Ready(Err(Error::InvalidState(
                "a task cannot await itself".into(),
            ))),
            S::Cancelled => Poll::Pending,
            S::Done => {
                this.registered = None;
                let out = this.cell().take_out();
                Poll::Ready(
                    out.expect("loopsim: JoinHandle polled after it returned the task's output"),
                )
            }
            S::Pending { stale } => {
                if stale {
                    this.unregister();
                }
                let fresh = this.registered.is_none();
                let key = engine::with_core("JoinHandle", |c| {
                    let key = if fresh {
                        c.add_done_callback(id, DoneCallback::Wake(cx.waker().clone()))
                            .ok()
                    } else {
                        None
                    };
                    c.set_waiting(WaitOn::Task(id), CancelTarget::Task(id));
                    key
                });
                if let Some(key) = key {
                    // Keys start at 2 (`Core::next_id`).
                    this.registered = NonZeroU64::new(key);
                }
                Poll::Pending
            }
        }
    }
}

impl<T: Clone> JoinHandle<T> {
    /// The task's output without awaiting it (asyncio's `Task.result()` /
    /// `Task.exception()`): a clone, once the task is done; `None` while it
    /// runs, or when a handle that was never cloned has already taken it.
    /// Looking at an exception so retrieves it (no "Task exception was
    /// never retrieved").
    pub fn output(&self) -> Option<Result<T, Error>> {
        self.cell().with_out(|out| match out {
            Out::Ready(r, seen) => {
                *seen = true;
                Some(clone_out(r))
            }
            Out::Pending | Out::Taken => None,
        })
    }
}

impl<T: Clone> Clone for JoinHandle<T> {
    fn clone(&self) -> JoinHandle<T> {
        self.cell().shared.set(Some(clone_out::<T>));
        JoinHandle {
            task: self.task,
            boxed: self.boxed.clone(),
            registered: None,
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.task.id)
            .finish()
    }
}

/// Runs `fut`, turning a cancellation delivered to the current task while
/// it is suspended inside `fut` into `Err(Error::Cancelled)` (asyncio's
/// `try: await … except CancelledError:`). `fut` is dropped at that point.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, catch_cancel, print, Error};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let h = spawn(async {
///         match catch_cancel(sleep(Duration::from_secs(10))).await {
///             Err(Error::Cancelled) => print("cleaning up"),
///             _ => print("slept"),
///         }
///         42
///     });
///     sleep(Duration::from_secs(1)).await;
///     h.cancel();
///     h.await.unwrap()
/// });
/// assert_eq!(run.value(), Some(&42));
/// assert_eq!(run.output_lines(), vec!["cleaning up"]);
/// ```
pub fn catch_cancel<F: Future>(fut: F) -> CatchCancel<F> {
    CatchCancel {
        inner: Some(fut),
        scope: None,
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`catch_cancel`]. It holds the awaited future
    /// inline (no allocation: every blocked `Lock`, `Queue` or `Event` wait
    /// is one), and drops it as soon as it is ready or cancelled.
    #[must_use = "futures do nothing unless awaited: `catch_cancel(f).await` catches the cancellation of this task while it awaits `f`"]
    pub struct CatchCancel<F> {
        #[pin]
        inner: Option<F>,
        scope: Option<CancelScope>,
    }
}

impl<F: Future> Future for CatchCancel<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.inner.is_none() {
            panic!("loopsim: CatchCancel polled after completion");
        }
        if this.scope.is_none() {
            *this.scope = CancelScope::enter();
        }
        if this.scope.as_ref().is_some_and(CancelScope::is_delivering) {
            this.inner.set(None);
            if let Some(scope) = this.scope.take() {
                scope.catch();
            }
            return Poll::Ready(Err(Error::Cancelled));
        }
        let inner = this.inner.as_mut().as_pin_mut().expect("checked above");
        match inner.poll(cx) {
            Poll::Ready(v) => {
                this.inner.set(None);
                *this.scope = None;
                Poll::Ready(Ok(v))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A part of the current task that catches its cancellation, as a `try:
/// … except CancelledError:` around some awaits does: what [`catch_cancel`]
/// is built on, for futures that hold other futures (an interpreter, a
/// context manager such as [`TimeoutScope`](crate::TimeoutScope)'s users).
///
/// Rust futures cannot have an exception thrown into them: while a
/// cancellation is delivered, the task is polled with the innermost scope
/// on its await chain *delivering* ([`is_delivering`](Self::is_delivering));
/// that scope then either handles it ([`catch`](Self::catch)) or passes it
/// to the next scope out ([`pass`](Self::pass)) — or, if it does neither
/// and is dropped, the scope simply ends. A delivery that no scope takes
/// ends the task cancelled. Scopes nest as `try` blocks do: the latest
/// entered is the innermost.
#[derive(Debug)]
pub struct CancelScope {
    task: TaskId,
    key: u64,
}

impl CancelScope {
    /// Opens a scope on the current task; `None` outside a task (in a
    /// callback).
    ///
    /// # Panics
    ///
    /// Outside a running simulation.
    pub fn enter() -> Option<CancelScope> {
        engine::with_core("CancelScope::enter", |c| {
            let task = c.current()?;
            c.catcher_enter().map(|key| CancelScope { task, key })
        })
    }

    /// Whether a `CancelledError` is being thrown at this scope now: the
    /// task's cancellation is being delivered and this is the innermost
    /// scope. The owner must then [`catch`](Self::catch) or
    /// [`pass`](Self::pass) it before returning from its poll.
    pub fn is_delivering(&self) -> bool {
        engine::with_core("CancelScope::is_delivering", |c| {
            c.current() == Some(self.task) && c.catcher_is_target(self.key)
        })
    }

    /// `except CancelledError:` — the cancellation is handled here and the
    /// task goes on.
    pub fn catch(self) {
        engine::with_core("CancelScope::catch", |c| c.catcher_consume(self.key));
    }

    /// `except CancelledError: …; raise` — the cancellation goes on to the
    /// next scope out (or ends the task).
    pub fn pass(self) {
        engine::with_core("CancelScope::pass", |c| c.catcher_pass(self.key));
    }
}

impl Drop for CancelScope {
    fn drop(&mut self) {
        let (task, key) = (self.task, self.key);
        engine::try_with_core(|c| c.catcher_exit(task, key));
    }
}

/// Raises `CancelledError` in the current task at this await (`raise` inside
/// an `except CancelledError:` block): it propagates to the next
/// [`catch_cancel`] out, or cancels the task.
pub fn raise_cancelled() -> RaiseCancelled {
    RaiseCancelled { msg: None }
}

/// Raises a new `CancelledError(msg)` in the current task at this await
/// (`raise asyncio.CancelledError(msg)`): as [`raise_cancelled`], and the
/// error carries `msg` (an empty one: no message). A task it ends
/// cancelled hands `msg` on to the tasks awaiting it.
pub fn raise_cancelled_with_message(msg: &str) -> RaiseCancelled {
    RaiseCancelled {
        msg: Some((!msg.is_empty()).then(|| msg.into())),
    }
}

/// The future returned by [`raise_cancelled`]; it never completes.
#[derive(Debug)]
pub struct RaiseCancelled {
    /// A new error's message, or (`None`) the error being handled again.
    msg: Option<Option<Rc<str>>>,
}

impl Future for RaiseCancelled {
    type Output = std::convert::Infallible;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let msg = self.msg.clone();
        engine::with_core("raise_cancelled", |c| match msg {
            Some(m) => c.raise_cancelled_with(m),
            None => c.raise_cancelled(),
        });
        Poll::Pending
    }
}

impl<F> std::fmt::Debug for CatchCancel<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchCancel")
            .field("done", &self.inner.is_none())
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Records that a coroutine `what` (`fetch(1)`) was called and never
/// awaited, as CPython's `RuntimeWarning: coroutine 'fetch' was never
/// awaited` (a health warning in the trace, for the current task). A Rust
/// future that is never polled is the same mistake; the compiler's
/// `unused_must_use` catches most, this records the ones a program makes
/// on purpose (a scenario's `unawaited` step).
///
/// # Panics
///
/// Outside a running simulation.
pub fn never_awaited(what: &str) {
    engine::with_core("never_awaited", |c| {
        let task = c.current();
        let what = c.intern(what);
        c.record(
            task,
            crate::trace::EventKind::Warning {
                warning: crate::trace::Warning::NeverAwaited { what },
            },
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_cell_stays_small() {
        // One per task, a million at a time in `loopsim bench`: with the
        // reference counts, 40 bytes are one 48-byte block of the allocator.
        let size = std::mem::size_of::<TaskCell<()>>();
        assert!(size <= 24, "a TaskCell<()> is {size} bytes");
    }

    #[test]
    fn a_join_handle_stays_small() {
        // A program holds one per task (`bench` keeps a million in a Vec).
        // 32: the task's id, the key of its done-callback, and a pointer
        // to the task's allocation that knows the future's type (the
        // output cell lives there, beside the future: one allocation per
        // task, where a thin pointer to a cell of its own took a second).
        let size = std::mem::size_of::<JoinHandle<()>>();
        assert!(size <= 32, "a JoinHandle<()> is {size} bytes");
    }

    /// A task's future lives in the same allocation as its output cell,
    /// which its handles keep; yet the future (and what it holds) is
    /// dropped when the task ends — returned, cancelled, or unfinished at
    /// the run's end — not when the last handle goes.
    #[test]
    fn a_task_future_is_dropped_when_the_task_ends_not_with_its_handle() {
        use std::time::Duration;
        struct Guard(Rc<Cell<bool>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let guard = || {
            let dropped = Rc::new(Cell::new(false));
            (Guard(dropped.clone()), dropped)
        };
        let (g3, unfinished_dropped) = guard();
        let run = crate::Sim::builder().build().run(async move {
            let (g1, cancelled_dropped) = guard();
            let h1 = spawn(async move {
                let _g = g1;
                crate::sleep(Duration::from_secs(10)).await;
            });
            crate::sleep(Duration::from_secs(1)).await;
            let before = cancelled_dropped.get();
            h1.cancel();
            while !h1.is_done() {
                crate::yield_now().await;
            }
            let (g2, returned_dropped) = guard();
            let h2 = spawn(async move {
                let _g = g2;
                5
            });
            while !h2.is_done() {
                crate::yield_now().await;
            }
            let returned = returned_dropped.get();
            // Still pending when the run ends: its handle is the run's value.
            let h3 = spawn(async move {
                let _g = g3;
                crate::sleep(Duration::from_secs(100)).await;
            });
            crate::yield_now().await;
            (
                before,
                cancelled_dropped.get(),
                returned,
                h2.await.ok(),
                h1,
                h3,
            )
        });
        let (before, cancelled, returned, out, h1, h3) = run.value().expect("main returns");
        assert!(!before, "not dropped while the task runs");
        assert!(cancelled, "dropped when the cancelled task ended");
        assert!(returned, "dropped when the task returned");
        assert_eq!(*out, Some(5));
        assert!(
            unfinished_dropped.get(),
            "an unfinished task's future is dropped at the run's end"
        );
        // The handles outlive the run (they are its value), with the
        // allocations they keep.
        assert_ne!(h1.task().id(), h3.task().id());
    }

    #[test]
    fn a_handle_polled_with_another_waker_wakes_that_one() {
        use std::time::Duration;
        let run = crate::Sim::builder().build().run(async {
            let mut h = spawn(crate::sleep(Duration::from_secs(1)));
            // Registered with a waker that wakes nothing, then awaited.
            let noop = std::task::Waker::noop();
            let pending = Pin::new(&mut h).poll(&mut Context::from_waker(noop));
            assert!(pending.is_pending());
            h.await.unwrap();
        });
        assert!(run.is_completed(), "{:?}", run.outcome);
        assert_eq!(run.elapsed(), std::time::Duration::from_secs(1));
    }

    /// A finished task keeps what a done task is asked for (name, end,
    /// cancel message and count), and a clone of its waker kept by the
    /// program and woken later wakes nothing: the task takes no further
    /// step, and the run goes on. The 6000 tasks are all created before any
    /// ends, some cancelled, some not; the wakers kept are spread over them.
    #[test]
    fn a_finished_task_keeps_what_it_is_asked_for_and_its_waker_wakes_nothing() {
        use std::cell::RefCell;
        use std::task::Waker;
        let run = crate::Sim::builder().build().run(async {
            let mut kept: Vec<(TaskRef, Rc<RefCell<Option<Waker>>>)> = vec![];
            let mut handles = vec![];
            for i in 0..6000u32 {
                let slot = Rc::new(RefCell::new(None));
                let s = slot.clone();
                let h = Builder::new().name(format!("t{i}")).spawn(async move {
                    std::future::poll_fn(|cx| {
                        *s.borrow_mut() = Some(cx.waker().clone());
                        Poll::Ready(())
                    })
                    .await;
                    crate::yield_now().await;
                });
                if i % 1000 < 2 || i % 1000 == 999 {
                    kept.push((h.task(), slot));
                }
                handles.push((i, h));
            }
            // Every third task cancelled after its first step, and not
            // awaited (the first awaiter would take the message).
            crate::yield_now().await;
            for (i, h) in &handles {
                if i.is_multiple_of(3) {
                    h.task().cancel_with_message(&format!("bye {i}"));
                }
            }
            for (i, h) in handles {
                if i.is_multiple_of(3) {
                    while !h.is_done() {
                        crate::yield_now().await;
                    }
                } else {
                    h.await.expect("the task returns");
                }
            }
            let mut woken = 0;
            for (t, waker) in &kept {
                assert!(t.is_done());
                let i: u32 = t.name()[1..].parse().expect("named t<i>");
                assert_eq!(t.is_cancelled(), i.is_multiple_of(3), "{}", t.name());
                if i.is_multiple_of(3) {
                    assert_eq!(t.cancel_message().as_deref(), Some(&*format!("bye {i}")));
                    assert_eq!(t.cancelling(), 1);
                }
                // A task cancelled before its first step never polled.
                if let Some(w) = waker.borrow_mut().take() {
                    w.wake();
                    woken += 1;
                }
            }
            assert!(woken >= 6, "{woken} wakers of finished tasks woken");
            crate::yield_now().await;
            kept.iter().map(|(t, _)| t.id()).collect::<Vec<_>>()
        });
        use crate::trace::{EventKind, StepEnd};
        let ids = run.value().expect("the run completes").clone();
        for id in ids {
            let mine: Vec<_> = run
                .trace
                .events
                .iter()
                .filter(|e| e.task == Some(id))
                .collect();
            let end = mine
                .iter()
                .position(|e| {
                    matches!(e.kind, EventKind::StepEnded { end } if !matches!(end, StepEnd::Suspended { .. }))
                })
                .expect("the task ended");
            assert!(
                !mine[end..].iter().any(|e| matches!(
                    e.kind,
                    EventKind::Woken { .. } | EventKind::StepStarted { .. }
                )),
                "task {id:?} woken after it ended"
            );
        }
    }

    #[test]
    fn a_shared_output_survives_a_panicking_clone() {
        #[derive(Debug)]
        struct Bomb;
        impl Clone for Bomb {
            fn clone(&self) -> Bomb {
                panic!("no clones")
            }
        }
        let cell = TaskCell::new();
        cell.set(Bomb);
        cell.shared.set(Some(clone_out::<Bomb>));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell.take_out()));
        assert!(r.is_err(), "the clone panicked");
        assert!(cell.retrieved(), "it was looked at");
        cell.shared.set(None);
        assert!(matches!(cell.take_out(), Some(Ok(Bomb))), "still there");
        assert!(cell.take_out().is_none(), "moved out once");
    }
}
