//! `asyncio.gather`, ported from `Lib/asyncio/tasks.py`.
//!
//! Children are created as tasks in argument order when `gather` is called.
//! Each child's done-callback runs one iteration after it finishes; the
//! callback of the last one (or of the first failure) completes the outer
//! future, and the awaiting task resumes one iteration after that. The first
//! error completes the gather without cancelling the siblings, which keep
//! running. Cancelling the task awaiting a gather cancels the children in
//! argument order.

use super::add_task_callback;
use crate::engine::{self, CancelFuture, End};
use crate::error::Error;
use crate::future::{Await, SimFuture};
use crate::settings::PythonVersion;
use crate::task::{Builder, JoinHandle};
use std::cell::RefCell;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// `asyncio.gather(*futs)`: runs the futures as concurrent tasks and returns
/// their results in argument order, or the first error as soon as it
/// happens (the others keep running).
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, gather, sleep, Error};
/// use std::time::Duration;
/// async fn after(secs: u64, v: u32) -> Result<u32, Error> {
///     sleep(Duration::from_secs(secs)).await;
///     Ok(v)
/// }
/// let run = Sim::builder().build().run(async { gather(vec![after(2, 1), after(1, 2), after(3, 3)]).await });
/// assert_eq!(run.value(), Some(&Ok(vec![1, 2, 3])));
/// assert_eq!(run.elapsed(), Duration::from_secs(3));
/// ```
pub fn gather<I, F, T, E>(futs: I) -> Gather<T, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: From<Error> + Display + 'static,
{
    let handles = futs
        .into_iter()
        .map(|f| Builder::new().spawn_fallible(f))
        .collect();
    Gather::new(handles, false)
}

/// `asyncio.gather(*futs, return_exceptions=True)`: every child's result or
/// error, in argument order, once all are done.
pub fn gather_return_exceptions<I, F, T, E>(futs: I) -> GatherSettled<T, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + 'static,
    T: 'static,
    E: From<Error> + Display + 'static,
{
    let handles = futs
        .into_iter()
        .map(|f| Builder::new().spawn_fallible(f))
        .collect();
    GatherSettled(Gather::new(handles, true))
}

/// `asyncio.gather(*tasks)` over tasks that already exist (no new tasks are
/// created).
pub fn gather_tasks<T, E>(tasks: Vec<JoinHandle<Result<T, E>>>) -> Gather<T, E>
where
    T: 'static,
    E: From<Error> + Display + 'static,
{
    Gather::new(tasks, false)
}

/// `asyncio.gather(*tasks, return_exceptions=True)` over tasks that
/// already exist.
pub fn gather_tasks_return_exceptions<T, E>(
    tasks: Vec<JoinHandle<Result<T, E>>>,
) -> GatherSettled<T, E>
where
    T: 'static,
    E: From<Error> + Display + 'static,
{
    GatherSettled(Gather::new(tasks, true))
}

struct State<T, E> {
    children: Vec<JoinHandle<Result<T, E>>>,
    nfinished: usize,
    first_error: Option<E>,
    cancel_requested: bool,
    return_exceptions: bool,
}

/// The future returned by [`gather`] and [`gather_tasks`].
#[must_use = "futures do nothing unless awaited: the children run anyway (they are tasks), but `gather(…).await` is what waits for them and collects their results"]
pub struct Gather<T, E> {
    st: Rc<RefCell<State<T, E>>>,
    outer: SimFuture<()>,
    waiting: Option<Await<()>>,
}

/// The future returned by [`gather_return_exceptions`].
pub struct GatherSettled<T, E>(Gather<T, E>);

/// `_GatheringFuture.cancel()`: cancels the children, in argument order.
struct CancelChildren<T, E> {
    st: Rc<RefCell<State<T, E>>>,
    outer: SimFuture<()>,
}

impl<T: 'static, E: 'static> CancelFuture for CancelChildren<T, E> {
    fn cancel_future(self: Rc<Self>, msg: Option<Rc<str>>) -> bool {
        if self.outer.done() {
            return false;
        }
        let tasks: Vec<_> = self.st.borrow().children.iter().map(|h| h.task()).collect();
        let mut any = false;
        for t in tasks {
            if engine::cancel_task_with(t.id(), msg.clone()) {
                any = true;
            }
        }
        if any {
            self.st.borrow_mut().cancel_requested = true;
        }
        any
    }

    /// Known once the callbacks resolved the outer future.
    fn error_message(&self) -> Option<Option<Rc<str>>> {
        self.outer.error_message()
    }

    /// Refused because the outer future is done, or because every child is
    /// done and their done-callbacks (which resolve it) are still queued:
    /// the callbacks' first cancelled child, or an earlier request that
    /// cancelled the children, makes it a `CancelledError`.
    fn ends_cancelled(&self) -> bool {
        if self.outer.done() {
            return self.outer.ends_cancelled();
        }
        let s = self.st.borrow();
        let ids: Vec<_> = s.children.iter().map(|h| h.task().id()).collect();
        let ends: Vec<Option<End>> =
            engine::with_core("gather", |c| ids.iter().map(|id| c.end_of(*id)).collect());
        if ends.iter().any(Option::is_none) {
            return false;
        }
        if !s.return_exceptions {
            for (h, e) in s.children.iter().zip(&ends) {
                if *e == Some(End::Cancelled) {
                    return true;
                }
                if h.peek(|r| matches!(r, Some(Ok(Err(_))) | Some(Err(_)))) {
                    return false;
                }
            }
        }
        s.cancel_requested
    }
}

impl<T: 'static, E: From<Error> + 'static> Gather<T, E> {
    fn new(children: Vec<JoinHandle<Result<T, E>>>, return_exceptions: bool) -> Gather<T, E> {
        let outer = SimFuture::with_static_label("gather");
        let n = children.len();
        let ids: Vec<_> = children.iter().map(|h| h.task().id()).collect();
        let st = Rc::new(RefCell::new(State {
            children,
            nfinished: 0,
            first_error: None,
            cancel_requested: false,
            return_exceptions,
        }));
        if n == 0 {
            let _ = outer.set_result(());
        }
        let py312 = engine::with_core("gather", |c| c.python() >= PythonVersion::Py312);
        let mut done_now = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            let cb = done_callback(st.clone(), outer.clone(), i, n, return_exceptions);
            let already_done = engine::with_core("gather", |c| c.is_done(id));
            if already_done && py312 {
                // 3.12+: children already done are handled synchronously,
                // after the outer future exists.
                done_now.push(cb);
            } else {
                add_task_callback(id, "gather", cb);
            }
        }
        for cb in done_now {
            cb();
        }
        Gather {
            st,
            outer,
            waiting: None,
        }
    }

    fn poll_outer(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.waiting.is_none() {
            let target: Rc<dyn CancelFuture> = Rc::new(CancelChildren {
                st: self.st.clone(),
                outer: self.outer.clone(),
            });
            self.waiting = Some(self.outer.await_with_target(target));
        }
        Pin::new(self.waiting.as_mut().expect("set above")).poll(cx)
    }
}

fn done_callback<T: 'static, E: From<Error> + 'static>(
    st: Rc<RefCell<State<T, E>>>,
    outer: SimFuture<()>,
    i: usize,
    n: usize,
    return_exceptions: bool,
) -> impl FnOnce() + 'static {
    move || {
        let mut s = st.borrow_mut();
        s.nfinished += 1;
        if outer.done() {
            // `fut.exception()`: a later child's exception is retrieved.
            let id = s.children[i].task().id();
            engine::with_core("gather", |c| c.mark_exception_retrieved(id));
            return;
        }
        if !return_exceptions {
            let id = s.children[i].task().id();
            let cancelled = engine::with_core("gather", |c| c.end_of(id) == Some(End::Cancelled));
            if cancelled {
                drop(s);
                let _ = outer.set_cancelled_error(cancelled_error_of(id));
                return;
            }
            let failed = s.children[i].peek(|r| matches!(r, Some(Ok(Err(_))) | Some(Err(_))));
            if failed {
                let e = match s.children[i].try_take() {
                    Some(Ok(Err(e))) => e,
                    Some(Err(e)) => E::from(e),
                    _ => unreachable!("checked by peek"),
                };
                s.first_error = Some(e);
                drop(s);
                let _ = outer.set_exception(Error::raised("GatherError", "a child raised"));
                return;
            }
        }
        if s.nfinished == n {
            let cancel = s.cancel_requested;
            // `fut._make_cancelled_error()` after `for fut in children:`
            // built the results: the *last* child's error, not the one
            // that finished (a child that returned gives a bare one).
            let id = s.children[n - 1].task().id();
            // The results are built (`fut.exception()` of every child), even
            // when the gather then ends cancelled.
            let ids: Vec<_> = s.children.iter().map(|h| h.task().id()).collect();
            engine::with_core("gather", |c| {
                for id in ids {
                    c.mark_exception_retrieved(id);
                }
            });
            drop(s);
            if cancel {
                let _ = outer.set_cancelled_error(cancelled_error_of(id));
            } else {
                let _ = outer.set_result(());
            }
        }
    }
}

/// The message of child `id`'s `_make_cancelled_error()`.
fn cancelled_error_of(id: crate::trace::TaskId) -> Option<Rc<str>> {
    engine::with_core("gather", |c| c.make_cancelled_error(id))
}

impl<T: 'static, E: From<Error> + 'static> Future for Gather<T, E> {
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.poll_outer(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                let mut s = this.st.borrow_mut();
                if let Some(e) = s.first_error.take() {
                    return Poll::Ready(Err(e));
                }
                if let Err(e) = r {
                    return Poll::Ready(Err(E::from(e)));
                }
                let mut out = Vec::with_capacity(s.children.len());
                for h in s.children.iter_mut() {
                    match h.try_take() {
                        Some(Ok(Ok(v))) => out.push(v),
                        Some(Ok(Err(e))) => return Poll::Ready(Err(e)),
                        Some(Err(e)) => return Poll::Ready(Err(E::from(e))),
                        None => {
                            return Poll::Ready(Err(E::from(Error::InvalidState(
                                "a gathered task's result was already taken".into(),
                            ))));
                        }
                    }
                }
                Poll::Ready(Ok(out))
            }
        }
    }
}

impl<T: 'static, E: From<Error> + 'static> Future for GatherSettled<T, E> {
    type Output = Vec<Result<T, E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut self.get_mut().0;
        match this.poll_outer(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                let mut s = this.st.borrow_mut();
                let out = s
                    .children
                    .iter_mut()
                    .map(|h| match h.try_take() {
                        Some(Ok(r)) => r,
                        Some(Err(e)) => Err(E::from(e)),
                        None => Err(E::from(Error::InvalidState(
                            "a gathered task's result was already taken".into(),
                        ))),
                    })
                    .collect();
                Poll::Ready(out)
            }
        }
    }
}

impl<T, E> std::fmt::Debug for Gather<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Gather");
        if let Ok(st) = self.st.try_borrow() {
            d.field("children", &st.children.len())
                .field("finished", &st.nfinished);
        }
        d.field("done", &self.outer.done()).finish_non_exhaustive()
    }
}

impl<T, E> std::fmt::Debug for GatherSettled<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GatherSettled").field(&self.0).finish()
    }
}
