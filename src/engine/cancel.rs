//! Cancellation: where a request goes, and how it is delivered.
//!
//! # Cancellation delivery
//!
//! `Task.cancel(msg)` ([`cancel_task_with`]) follows CPython's
//! `Task.cancel`: a task suspended on something it can forward the request
//! to (its `_fut_waiter`: a task it awaits, a future such as a gather, a
//! sleep's timer) forwards it, and the awaited thing's cancellation wakes
//! the task, which raises at its await. A request that cannot be forwarded
//! (the awaited future is already done, or refuses, like a gather whose
//! children have all finished) only sets `_must_cancel`: the task raises at
//! its next step, whenever that is scheduled — `Task.cancel` never
//! schedules the task itself, except for a sleep or a bare yield, whose
//! future's cancellation does. A chain of awaiting tasks is walked as a
//! loop, stopping at a cycle.
//!
//! Inside a task, a cancellation is *delivered* by polling the task's future
//! with `delivering` set: Rust futures cannot be thrown into, so a future
//! that would catch `CancelledError` (`catch_cancel`, `TaskGroup`, `timeout`,
//! a lock's acquire) registers a *catcher* on the task for as long as it is
//! on the await chain. The innermost catcher sees
//! [`Core::catcher_is_target`] during the delivering poll and either handles
//! the error ([`Core::catcher_consume`]) or passes it outward
//! ([`Core::catcher_pass`]). A delivery that no catcher takes ends the task
//! cancelled.
//!
//! The message a task's `CancelledError` carries is the one CPython would
//! throw: the request's when it is forwarded or set on `_must_cancel`; the
//! awaited future's own when that future ends in a `CancelledError` of its
//! own (`Task.__step` keeps an exception that already is one).

use super::{Core, End, TaskId, WaiterCell};
use crate::settings::PythonVersion;
use crate::trace::{EventKind, Sym};
use std::rc::Rc;

/// Where a cancellation request goes when the task is suspended
/// (asyncio's `Task._fut_waiter`).
#[derive(Clone)]
pub(crate) enum CancelTarget {
    /// A sleep's timer: cancelling it wakes the task, which raises at the await.
    Timer,
    /// Another task the suspended task awaits: the request is forwarded.
    Task(TaskId),
    /// A low-level future: it is cancelled (and so are all its awaiters).
    Future(Rc<dyn CancelFuture>),
    /// Nothing to cancel: the task is woken and raises at its await.
    Wake,
}

/// A future that a task can be suspended on and that `Task.cancel()` cancels.
pub(crate) trait CancelFuture {
    /// `Future.cancel(msg)`: true if the future was pending and is now
    /// cancelled. `msg` is the cancelling task's `_cancel_message`, which
    /// the `CancelledError` the future raises in its awaiters carries.
    fn cancel_future(self: Rc<Self>, msg: Option<Rc<str>>) -> bool;
    /// After a refused [`cancel_future`](Self::cancel_future): whether the
    /// future's result, once it resolves, is a `CancelledError` (which is then
    /// what the awaiting task raises, with that error's message).
    fn ends_cancelled(&self) -> bool {
        false
    }
    /// The message of the `CancelledError` the future ends with, once it
    /// is known (`None`: not known yet, or not this future's to give).
    fn error_message(&self) -> Option<Option<Rc<str>>> {
        None
    }
    /// Why the future cannot resolve, for a deadlock report (a primitive's
    /// waiter: the primitive's state), if it can tell.
    fn probe(&self) -> Option<crate::deadlock::Probe> {
        None
    }
}

impl Core {
    /// `Task.cancelling()`: pending cancellation requests.
    pub fn cancelling(&self, id: TaskId) -> u32 {
        self.task(id).num_cancels()
    }

    /// The message of the task's last cancellation (requested or received).
    pub fn cancel_message(&self, id: TaskId) -> Option<Rc<str>> {
        self.task(id).cancel_msg()
    }

    /// `Task.uncancel()`: one request fewer. Under Python 3.13, reaching 0
    /// also withdraws a cancellation not yet delivered (`_must_cancel`),
    /// unless it is a sleep's future already cancelled.
    pub fn uncancel(&mut self, id: TaskId) -> u32 {
        let py313 = self.python() >= PythonVersion::Py313;
        // A finished task's record is changed in place, not brought back.
        if let Some(left) = self.tasks.uncancel_retired(id) {
            return left;
        }
        let t = self.task_mut(id);
        if t.num_cancels > 0 {
            t.num_cancels -= 1;
            if t.num_cancels == 0 && py313 && !t.cancel_via_waiter {
                t.must_cancel = false;
                t.set_own_error(false);
            }
        }
        t.num_cancels
    }

    /// The message of task `id`'s `_make_cancelled_error()` (a gather's
    /// exception when `id` is its cancelled child, `t.result()` of a
    /// cancelled task): a task that ended cancelled hands out the
    /// `CancelledError` it ended with, once (later ones have no message);
    /// any other makes one from its `_cancel_message`.
    pub fn make_cancelled_error(&mut self, id: TaskId) -> Option<Rc<str>> {
        if self.end_of(id) == Some(End::Cancelled) {
            // A task cancelled "right before coro stops" has no
            // `_cancelled_exc`: each error is made from `_cancel_message`.
            self.tasks
                .take_cancel_msg(id)
                .or_else(|| self.task(id).request_msg())
        } else {
            self.task(id).request_msg()
        }
    }

    /// The step of task `id` starts delivering a cancellation
    /// (`_must_cancel`), as `__step` does after `__wakeup`: the awaited
    /// task's or future's own `CancelledError` is kept (its message read
    /// now, as `future.result()` would raise it); any other error (or
    /// none) becomes one made from `_cancel_message`. An awaited task that
    /// raised has its exception retrieved by that `result()`. Out of line:
    /// the step that delivers nothing pays nothing for it.
    #[cold]
    #[inline(never)]
    pub(super) fn start_delivery(&mut self, id: TaskId) {
        let t = self.task_mut(id);
        t.must_cancel = false;
        t.delivering = true;
        let own = t.take_own_error();
        let target = t.cancel_target();
        let msg = match target {
            Some(CancelTarget::Task(inner)) => match self.end_of(inner) {
                Some(End::Cancelled) if own => Some(self.make_cancelled_error(inner)),
                Some(End::Raised) => {
                    self.mark_exception_retrieved(inner);
                    None
                }
                _ => None,
            },
            Some(CancelTarget::Future(f)) if own => f.error_message(),
            _ => None,
        };
        let t = self.task_mut(id);
        match msg {
            Some(m) => {
                t.replace_cancel_msg(m);
            }
            // A sleep's future cancelled by the request: its message was set
            // then.
            None if own => {}
            None => t.error_from_request(),
        }
    }

    /// `Task._cancel_message` of task `id`: the message of its last
    /// cancellation request that was not forwarded.
    pub fn request_message(&self, id: TaskId) -> Option<Rc<str>> {
        self.task(id).request_msg()
    }

    /// Awaiting a cancelled task: the awaiter's `CancelledError` is the
    /// task's own, so it carries the task's message — for the first to
    /// retrieve it only (`_make_cancelled_error` hands its stored exception
    /// out once; later ones are new, without a message).
    pub fn receive_cancellation_of(&mut self, id: TaskId) {
        let msg = self.make_cancelled_error(id);
        if let Some(me) = self.current() {
            self.task_mut(me).replace_cancel_msg(msg);
        }
        self.raise_cancelled();
    }

    /// Registers a cancellation catcher on the current task.
    /// Inlined into a primitive's wait (W4 −1.4 % instructions).
    #[inline(always)]
    pub fn catcher_enter(&mut self) -> Option<u64> {
        let id = self.current()?;
        let key = self.next_id();
        self.task_mut(id).push_catcher(key);
        Some(key)
    }

    /// A primitive's wait, first polled while its waiter is pending, by the
    /// running task: enters a catcher for it and — unless a cancellation is
    /// being thrown at the task now, which that catcher, innermost, catches
    /// at once (`true`) — suspends the task on the waiter (`kind` `name`).
    /// What `catcher_enter`, `catcher_is_target` and
    /// `set_waiting_on_primitive` do in turn, with one look-up of the
    /// task's slot. `None` outside a task.
    #[inline(always)]
    pub fn enter_primitive_wait(
        &mut self,
        kind: Sym,
        name: Sym,
        waiter: &Rc<WaiterCell>,
    ) -> Option<(TaskId, u64, bool)> {
        let id = self.current()?;
        let key = self.next_id();
        let t = self.task_mut(id);
        if t.delivering {
            // Entered and, innermost, consumed at once.
            t.delivering = false;
            return Some((id, key, true));
        }
        t.push_catcher(key);
        t.set_wait_on_primitive(kind, name, waiter.clone());
        Some((id, key, false))
    }

    /// True when a cancellation is being thrown at the running task and it
    /// has no catcher left: a primitive's wait whose catcher the loop left
    /// at the start of the step (see `WaiterCell::leave_catcher`) catches
    /// it, as that catcher, the innermost, would have.
    pub fn delivering_uncaught(&self) -> bool {
        let Some(id) = self.current() else {
            return false;
        };
        let t = self.live(id);
        t.delivering && t.catcher_top().is_none()
    }

    /// True when a cancellation is being thrown and `key` is the innermost
    /// catcher: it must handle it now.
    pub fn catcher_is_target(&self, key: u64) -> bool {
        let Some(id) = self.current() else {
            return false;
        };
        let t = self.live(id);
        t.delivering && t.catcher_top() == Some(key)
    }

    /// The catcher handled the cancellation (`except CancelledError:`).
    pub fn catcher_consume(&mut self, key: u64) {
        if let Some(id) = self.current() {
            let t = self.task_mut(id);
            t.delivering = false;
            t.remove_catcher(key);
        }
    }

    /// The catcher lets the cancellation through to the next one out
    /// (`except CancelledError: ...; raise`).
    pub fn catcher_pass(&mut self, key: u64) {
        if let Some(id) = self.current() {
            self.task_mut(id).remove_catcher(key);
        }
    }

    /// The catcher's scope ended normally or was dropped.
    pub fn catcher_exit(&mut self, task: TaskId, key: u64) {
        // A task without a slot has finished: it has no catchers.
        if let Some(t) = self.tasks.get_mut(task) {
            t.remove_catcher(key);
        }
    }
}

/// `Task.cancel()`: requests cancellation of a task. Returns false if the
/// task is already done.
///
/// A suspended task has what it waits on cancelled: its sleep (it wakes and
/// raises at the await), the future it awaits (which cancels that future for
/// every awaiter), or the task it awaits (the request is forwarded, and the
/// awaiter raises only if that task ends cancelled). A task that is ready or
/// running raises at its next step.
pub(crate) fn cancel_task(id: TaskId) -> bool {
    cancel_task_with(id, None)
}

/// How deeply cancellations may nest through futures (a gather cancels its
/// children, each of which cancels the gather it awaits, …) before a
/// request stops being forwarded. CPython's `_GatheringFuture.cancel` is
/// Python code and would hit its recursion limit first.
const MAX_CANCEL_NESTING: usize = 500;

thread_local! {
    /// Cancellations raised at an await on this thread so far (see
    /// [`raised_count`]).
    static RAISED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static CANCEL_NESTING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The message of the cancellation being forwarded.
    static CANCEL_MSG: std::cell::RefCell<Option<Rc<str>>> = const { std::cell::RefCell::new(None) };
}

/// The message of the request being forwarded (`Task.cancel(msg)` passes
/// `msg` on to the future or task it waits on).
fn request_msg() -> Option<Rc<str>> {
    CANCEL_MSG.with(|m| m.borrow().clone())
}

/// How many times a cancellation was raised at an await on this thread
/// (`Core::raise_cancelled`): a wait that knew no cancellation was being
/// delivered to its task when this count read `n` knows it still is not
/// while the count reads `n`, without asking the loop's core.
#[inline(always)]
pub(crate) fn raised_count() -> u64 {
    RAISED.with(std::cell::Cell::get)
}

/// One more cancellation raised at an await.
pub(super) fn count_raised() {
    RAISED.with(|r| r.set(r.get().wrapping_add(1)));
}

/// `Task.cancel(msg)`: the message reaches the `CancelledError` raised in
/// the task and in every task the request is forwarded to.
pub(crate) fn cancel_task_with(id: TaskId, msg: Option<Rc<str>>) -> bool {
    // A request forwarded through a future (a gather cancelling its
    // children) keeps the outer request's message, as `cancel(msg=msg)`.
    if CANCEL_NESTING.with(std::cell::Cell::get) == 0 {
        CANCEL_MSG.with(|m| *m.borrow_mut() = msg);
    }
    let depth = CANCEL_NESTING.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let r = if depth > MAX_CANCEL_NESTING {
        // Too deep to forward: the request is kept (`_must_cancel`) and
        // delivered at the task's next step.
        super::with_core("cancel", |c| {
            if c.is_done(id) {
                // `self._log_traceback = False` comes first.
                c.mark_exception_retrieved(id);
                return false;
            }
            let t = c.task_mut(id);
            t.num_cancels += 1;
            t.must_cancel = true;
            true
        })
    } else {
        cancel_chain(id)
    };
    CANCEL_NESTING.with(|d| d.set(d.get() - 1));
    r
}

fn cancel_chain(id: TaskId) -> bool {
    // `Task.cancel` forwards to the task it awaits, which forwards to the one
    // it awaits, …: walked as a loop, since a chain of awaits can be long and
    // can close on itself (two tasks awaiting each other).
    let mut chain: Vec<TaskId> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut cur = id;
    let deepest = loop {
        if !seen.insert(cur) {
            // A cycle of awaits: the request has reached every task in it
            // (CPython recurses until RecursionError); nothing more to do.
            break true;
        }
        let target = super::with_core("cancel", |c| {
            if c.is_done(cur) {
                // `Task.cancel` clears `_log_traceback` before it looks at
                // `done()`: a task that raised and is cancelled afterwards
                // is not warned about (its exception counts as retrieved).
                c.mark_exception_retrieved(cur);
                return None;
            }
            let by = c.actor;
            c.record(Some(cur), EventKind::CancelRequested { by });
            let t = c.task_mut(cur);
            t.num_cancels += 1;
            if t.running {
                t.must_cancel = true;
                t.set_request_msg(request_msg());
                return Some(None);
            }
            Some(t.cancel_target())
        });
        match target {
            None => break false,
            Some(Some(CancelTarget::Task(inner))) => {
                chain.push(cur);
                cur = inner;
            }
            Some(target) => break cancel_at(cur, target),
        }
    };
    // Back up the chain: a task whose inner task was already done is not
    // forwarded to; it only sets `_must_cancel` and `_cancel_message` (its
    // wake-up is queued). If that inner task ended cancelled, its wake-up
    // throws the inner task's own `CancelledError` (`__step` keeps an
    // exception that already is one), so the message is the inner task's,
    // not this request's.
    let mut forwarded = deepest;
    for t in chain.iter().rev() {
        if !forwarded {
            let inner = cur;
            super::with_core("cancel", |c| {
                // Its message is read when the error is delivered.
                let own = c.end_of(inner) == Some(End::Cancelled);
                let t = c.task_mut(*t);
                t.set_own_error(own);
                t.set_request_msg(request_msg());
                t.must_cancel = true;
            });
        }
        forwarded = true;
    }
    forwarded
}

/// `Task.cancel` of a task suspended on something other than a task.
fn cancel_at(id: TaskId, target: Option<CancelTarget>) -> bool {
    let via_timer = matches!(target, Some(CancelTarget::Timer));
    let wake = match target {
        // Forwarded: the future now ends cancelled (with this request's
        // message) and its done-callback wakes this task, which raises at
        // its await.
        Some(CancelTarget::Future(f)) if f.clone().cancel_future(request_msg()) => {
            super::with_core("cancel", |c| {
                c.task_mut(id).replace_cancel_msg(request_msg());
            });
            return true;
        }
        // Refused by a future that ends in a `CancelledError` of its own (a
        // gather whose children an earlier request cancelled, a waiter an
        // earlier request cancelled): `__step` throws that exception, not
        // one made from this request's message (`if not isinstance(exc,
        // CancelledError): exc = self._make_cancelled_error()`), so the
        // message stays the earlier one; this one is `_cancel_message`.
        Some(CancelTarget::Future(f)) if f.ends_cancelled() => {
            super::with_core("cancel", |c| {
                let t = c.task_mut(id);
                t.must_cancel = true;
                t.set_own_error(true);
                t.set_request_msg(request_msg());
            });
            return true;
        }
        // Not forwarded: the future is already done (its wake-up is queued)
        // or refused (a gather whose children have all finished resolves
        // later and wakes it then). `Task.cancel` never schedules the task
        // itself, it only sets `_must_cancel`.
        Some(CancelTarget::Task(_) | CancelTarget::Future(_)) => false,
        // A sleep's timer or a bare yield: asyncio's future is cancelled,
        // which schedules the task's wake-up.
        Some(CancelTarget::Timer | CancelTarget::Wake) => true,
        // Ready or running: its step is already scheduled.
        None => true,
    };
    super::with_core("cancel", |c| {
        let t = c.task_mut(id);
        t.must_cancel = true;
        // The sleep's future is cancelled, not `_must_cancel` set, unless the
        // timer already fired or an earlier request cancelled it (the task
        // is scheduled, its future done): the error it raises carries this
        // request's message, which later requests do not change.
        if via_timer && !t.scheduled {
            t.cancel_via_waiter = true;
            t.replace_cancel_msg(request_msg());
            t.set_own_error(true);
        } else {
            t.set_request_msg(request_msg());
        }
        if wake && !t.running {
            c.wake(id);
        }
    });
    true
}
