//! `asyncio.TaskGroup` (3.11+), after `Lib/asyncio/taskgroups.py`.
//!
//! Python 3.13 (gh-116720) moved the parent's `uncancel()` in `__aexit__`
//! from the top (3.12.1 `Lib/asyncio/taskgroups.py` lines 78-83, before
//! waiting for the children) to after the children have finished (3.13.0
//! lines 127-132), so a cancellation the group requested while the parent
//! was already waiting in `__aexit__` is undone too; and when the group
//! fails with errors while the parent is being cancelled (`cancelling() >
//! 0`), it uncancels and re-cancels the parent (3.13.0 lines 142-148), which
//! keeps an outside cancellation pending: it is delivered at the parent's
//! next await instead of being lost. Together with 3.13's `uncancel()`
//! (see [`TaskRef::uncancel`]) this changes what `cancelling()` reports after
//! a failed group, and nested groups failing together no longer swallow the
//! outer group's cancellation.

use super::add_task_callback;
use crate::engine;
use crate::error::Error;
use crate::future::SimFuture;
use crate::settings::PythonVersion;
use crate::task::{Builder, JoinHandle, TaskRef, catch_cancel, current_task, raise_cancelled};
use std::cell::RefCell;
use std::fmt::Display;
use std::future::Future;
use std::rc::Rc;

/// `async with asyncio.TaskGroup() as tg:` — run a body that spawns tasks
/// into the group; the group waits for all of them. The first task that
/// raises cancels the others and the body; the group then fails with an
/// `ExceptionGroup` listing every error. loopsim cancels the remaining tasks
/// in creation order (CPython iterates a set).
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, TaskGroup, sleep, Error};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     TaskGroup::run(|tg| async move {
///         tg.spawn(async { sleep(Duration::from_secs(2)).await; Ok::<_, Error>(()) });
///         tg.spawn(async { sleep(Duration::from_secs(1)).await; Ok::<_, Error>(()) });
///     })
///     .await
/// });
/// assert!(run.value().unwrap().is_ok());
/// assert_eq!(run.elapsed(), Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    st: Rc<RefCell<State>>,
}

struct State {
    parent: TaskRef,
    /// The children not done yet, in creation order (asyncio's
    /// `self._tasks` set: one leaves in O(log n), not by a scan of all, so
    /// a group of 65,536 children does not take seconds to finish).
    tasks: std::collections::BTreeMap<crate::trace::TaskId, TaskRef>,
    errors: Vec<Error>,
    aborting: bool,
    parent_cancel_requested: bool,
    on_completed: Option<SimFuture<()>>,
}

impl TaskGroup {
    /// Runs `body` with a new group and waits for every task spawned into it.
    ///
    /// # Errors
    ///
    /// An `ExceptionGroup` error when any task raised.
    pub async fn run<B, Fut, R>(body: B) -> Result<R, Error>
    where
        B: FnOnce(TaskGroup) -> Fut,
        Fut: Future<Output = R>,
    {
        let tg = TaskGroup {
            st: Rc::new(RefCell::new(State {
                parent: current_task(),
                tasks: std::collections::BTreeMap::new(),
                errors: Vec::new(),
                aborting: false,
                parent_cancel_requested: false,
                on_completed: None,
            })),
        };
        let r = catch_cancel(body(tg.clone())).await;
        let et_cancelled = r.is_err();
        tg.exit(et_cancelled).await?;
        match r {
            Ok(v) => Ok(v),
            Err(_) => Err(Error::Cancelled),
        }
    }

    /// `tg.create_task(coro)`: spawns a fallible task into the group.
    pub fn spawn<F, T, E>(&self, fut: F) -> JoinHandle<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Display + 'static,
    {
        self.spawn_with(Builder::new(), fut)
    }

    /// `tg.create_task(coro, name=…)`: spawns into the group with a name or
    /// label from `builder`.
    pub fn spawn_with<F, T, E>(&self, builder: Builder, fut: F) -> JoinHandle<Result<T, E>>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Display + 'static,
    {
        let h = builder.spawn_fallible(fut);
        let task = h.task();
        self.st.borrow_mut().tasks.insert(task.id(), task);
        let st = self.st.clone();
        add_task_callback(task.id(), "TaskGroup", move || on_task_done(&st, task));
        h
    }

    fn abort(&self) {
        abort(&self.st);
    }

    /// `__aexit__`.
    async fn exit(&self, et_cancelled: bool) -> Result<(), Error> {
        let py313 = engine::with_core("TaskGroup", |c| c.python() >= PythonVersion::Py313);
        let mut propagate_cancel = et_cancelled;
        if !py313 {
            // 3.11/3.12: uncancel before waiting for the children.
            let st = self.st.borrow();
            if st.parent_cancel_requested && st.parent.uncancel() == 0 {
                propagate_cancel = false;
            }
        }
        if et_cancelled && !self.st.borrow().aborting {
            self.abort();
        }
        while !self.st.borrow().tasks.is_empty() {
            let fut: SimFuture<()> = SimFuture::with_static_label("TaskGroup");
            self.st.borrow_mut().on_completed = Some(fut.clone());
            if catch_cancel(fut.wait_done()).await.is_err() && !self.st.borrow().aborting {
                propagate_cancel = true;
                self.abort();
            }
            self.st.borrow_mut().on_completed = None;
        }
        let errors = std::mem::take(&mut self.st.borrow_mut().errors);
        let parent = self.st.borrow().parent;
        if py313 && self.st.borrow().parent_cancel_requested && parent.uncancel() == 0 {
            // 3.13: uncancel once the children are done.
            propagate_cancel = false;
        }
        if propagate_cancel && errors.is_empty() {
            match raise_cancelled().await {}
        }
        if !errors.is_empty() {
            if py313 && parent.cancelling() > 0 {
                // 3.13: keep an outside cancellation pending.
                parent.uncancel();
                parent.cancel();
            }
            return Err(Error::Group {
                message: "unhandled errors in a TaskGroup".into(),
                errors,
            });
        }
        Ok(())
    }
}

fn abort(st: &Rc<RefCell<State>>) {
    let tasks = {
        let mut s = st.borrow_mut();
        s.aborting = true;
        s.tasks.values().copied().collect::<Vec<_>>()
    };
    for t in tasks {
        if !t.is_done() {
            t.cancel();
        }
    }
}

fn on_task_done(st: &Rc<RefCell<State>>, task: TaskRef) {
    let completed = {
        let mut s = st.borrow_mut();
        s.tasks.remove(&task.id());
        if s.tasks.is_empty() {
            s.on_completed.clone()
        } else {
            None
        }
    };
    if let Some(f) = completed
        && !f.done()
    {
        let _ = f.set_result(());
    }
    // `exc = task.exception()`, which marks it retrieved. (An error of a
    // type of the program's own is kept by its message.)
    let raised = engine::with_core("TaskGroup", |c| {
        let msg = c.raised_message(task.id())?;
        let e = match c.raised_error(task.id()) {
            Some(e) => e.clone(),
            None => Error::raised("Exception", msg),
        };
        c.mark_exception_retrieved(task.id());
        Some(e)
    });
    let Some(msg) = raised else { return };
    let (abort_now, parent) = {
        let mut s = st.borrow_mut();
        s.errors.push(msg);
        if s.parent.is_done() {
            return;
        }
        let now = !s.aborting && !s.parent_cancel_requested;
        if now {
            s.parent_cancel_requested = true;
        }
        (now, s.parent)
    };
    if abort_now {
        abort(st);
        parent.cancel();
    }
}

impl std::fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("TaskGroup");
        if let Ok(st) = self.st.try_borrow() {
            d.field("parent", &st.parent).field("tasks", &st.tasks);
        }
        d.finish_non_exhaustive()
    }
}
