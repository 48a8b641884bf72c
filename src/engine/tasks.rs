//! Task slots: what the loop knows of each task, and how that changes.
//!
//! # Task state
//!
//! A task is created *scheduled* (its first step in the ready queue) unless
//! it starts eagerly (3.12's `eager_task_factory`: the first step runs inside
//! `create_task`). A step takes the future out of the slot and polls it with
//! the task *running*; when the poll returns pending the task is
//! *suspended* on what it awaits ([`Wait`]: a timer, another task, a future,
//! a primitive — the `WaitOn` the trace records, and the `CancelTarget` a
//! cancellation goes to), and a wake-up makes it scheduled again (`wake` is
//! idempotent: a task is in the ready queue at most once). When the poll
//! returns ready, or a cancellation reaches the task's top, the task is
//! *done* with an [`End`]; its done-callbacks are scheduled (`call_soon`)
//! in registration order, never run synchronously.
//!
//! The eight flags, and when each is set:
//!
//! | field | meaning | set | cleared |
//! |---|---|---|---|
//! | `scheduled` | its step is in the ready queue | `wake`, creation | the step starts |
//! | `running` | its step is being polled | the step starts | the step ends |
//! | `must_cancel` | `Task._must_cancel`: throw at the next step | a cancel that cannot be forwarded | the step starts (becomes `delivering`) |
//! | `cancel_via_waiter` | the pending cancellation is a cancelled sleep future, not `_must_cancel` (`uncancel()` cannot take it back) | a cancel of a task asleep | the step starts |
//! | `delivering` | a `CancelledError` is being thrown during this step | the step starts with `must_cancel`, or an awaited future/task was cancelled | a catcher consumes it, or the task ends |
//! | `num_cancels` | `Task._num_cancels_requested` (`cancelling()`) | every request | `uncancel()` |
//! | `end` | how it ended | the task is done | never |
//! | `waiting` | what it is suspended on | a suspending poll | the step starts |

use super::cancel::CancelTarget;
use crate::error::Error;
use crate::time::Instant;
use crate::trace::{Sym, WaitOn};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Waker;

/// How a task ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum End {
    Returned,
    Raised(String),
    Cancelled,
}

/// What a suspended task waits on.
#[derive(Clone)]
pub(crate) struct Wait {
    pub on: WaitOn,
    pub target: CancelTarget,
    /// The primitive's state, read if the run deadlocks.
    pub probe: Option<crate::deadlock::Probe>,
}

/// A done-callback of a task.
pub(crate) enum DoneCallback {
    /// Wake a task (an awaiter's `__wakeup`).
    Wake(Waker),
    /// Run a callback via `call_soon`, with a label for the trace.
    Call(Box<dyn FnOnce()>, Sym),
}

/// A task's done-callbacks, in registration order: the first one inline
/// (most tasks have at most one awaiter, and need no allocation), the
/// others in a vector.
#[derive(Default)]
pub(crate) struct DoneCallbacks {
    first: Option<(u64, DoneCallback)>,
    rest: Vec<(u64, DoneCallback)>,
}

impl DoneCallbacks {
    pub fn push(&mut self, key: u64, cb: DoneCallback) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some((key, cb));
        } else {
            self.rest.push((key, cb));
        }
    }

    /// The callback registered under `key`.
    pub fn get(&self, key: u64) -> Option<&DoneCallback> {
        match &self.first {
            Some((k, cb)) if *k == key => Some(cb),
            _ => self.rest.iter().find(|(k, _)| *k == key).map(|(_, cb)| cb),
        }
    }

    /// Takes the callback registered under `key` out.
    pub fn remove(&mut self, key: u64) -> Option<DoneCallback> {
        if self.first.as_ref().is_some_and(|(k, _)| *k == key) {
            return self.first.take().map(|(_, cb)| cb);
        }
        let i = self.rest.iter().position(|(k, _)| *k == key)?;
        Some(self.rest.remove(i).1)
    }

    /// Every callback, in registration order.
    pub fn into_callbacks(self) -> impl Iterator<Item = DoneCallback> {
        self.first.into_iter().chain(self.rest).map(|(_, cb)| cb)
    }
}

/// Receives the error of a task that raised or was cancelled.
pub(crate) trait FailSlot {
    fn fail(&self, error: Error);
    /// Whether the task's output (its exception) was retrieved.
    fn retrieved(&self) -> bool;
}

pub(crate) struct TaskSlot {
    /// The name given to `spawn`, if any (`Task-N` otherwise, made only
    /// when needed).
    pub(super) name: Option<Sym>,
    pub(super) fut: Option<Pin<Box<dyn Future<Output = ()>>>>,
    pub(super) fail: Option<Rc<dyn FailSlot>>,
    pub(super) end: Option<End>,
    /// When the task ended.
    pub(super) ended_at: Option<Instant>,
    pub(super) scheduled: bool,
    pub(super) running: bool,
    /// `Task._must_cancel`: throw `CancelledError` at the next step.
    pub(super) must_cancel: bool,
    /// `must_cancel` stands for a cancelled sleep future (asyncio's
    /// `_must_cancel` is false then): `uncancel()` cannot take it back.
    pub(super) cancel_via_waiter: bool,
    /// A cancellation is being thrown into the task during this step.
    pub(super) delivering: bool,
    /// `Task._num_cancels_requested` (`cancelling()`).
    pub(super) num_cancels: u32,
    /// The outermost cancellation catcher on the task's await chain (0:
    /// none); the ones nested inside it are in `cold`.
    pub(super) catcher0: u64,
    /// What few tasks need (a cancellation message, nested catchers, a
    /// raised error), boxed on first use to keep the slot small.
    pub(super) cold: Option<Box<Cold>>,
    pub(super) waiting: Option<Wait>,
    pub(super) done_callbacks: DoneCallbacks,
    /// Out of the slot while its step runs.
    pub(super) waker: Option<Waker>,
}

/// The rarely used part of a task slot.
#[derive(Default)]
pub(crate) struct Cold {
    /// `Task._cancel_message`: the message of the `CancelledError` raised in
    /// the task (its last `cancel(msg)`, or that of a cancelled task it
    /// awaited).
    cancel_msg: Option<Rc<str>>,
    /// Cancellation catchers on the task's await chain inside `catcher0`,
    /// innermost last.
    catchers: Vec<u64>,
    /// Set by fallible task wrappers: the error the task's output carries.
    raised: Option<String>,
}

impl TaskSlot {
    fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Default::default)
    }

    /// `Task._cancel_message`.
    pub fn cancel_msg(&self) -> Option<Rc<str>> {
        self.cold.as_ref().and_then(|c| c.cancel_msg.clone())
    }

    pub fn take_cancel_msg(&mut self) -> Option<Rc<str>> {
        self.cold.as_mut().and_then(|c| c.cancel_msg.take())
    }

    /// Sets the cancellation message; returns the previous one.
    pub fn replace_cancel_msg(&mut self, msg: Option<Rc<str>>) -> Option<Rc<str>> {
        if msg.is_none() && self.cold.is_none() {
            return None;
        }
        std::mem::replace(&mut self.cold().cancel_msg, msg)
    }

    fn nested_catchers(&self) -> &[u64] {
        self.cold.as_ref().map_or(&[], |c| &c.catchers)
    }

    /// The innermost cancellation catcher on the await chain.
    pub fn catcher_top(&self) -> Option<u64> {
        match self.nested_catchers().last() {
            Some(&k) => Some(k),
            None => (self.catcher0 != 0).then_some(self.catcher0),
        }
    }

    /// Enters catcher `key` (never 0) innermost: in the slot itself when it
    /// is the only one (most tasks), boxed when nested.
    pub fn push_catcher(&mut self, key: u64) {
        debug_assert_ne!(key, 0);
        if self.catcher0 == 0 && self.nested_catchers().is_empty() {
            self.catcher0 = key;
        } else {
            self.cold().catchers.push(key);
        }
    }

    pub fn remove_catcher(&mut self, key: u64) {
        if self.catcher0 == key {
            self.catcher0 = 0;
        } else if let Some(c) = self.cold.as_mut() {
            c.catchers.retain(|k| *k != key);
        }
    }

    pub fn clear_catchers(&mut self) {
        self.catcher0 = 0;
        if let Some(c) = self.cold.as_mut() {
            c.catchers.clear();
        }
    }

    /// The error a fallible task's output carries.
    pub fn set_raised(&mut self, msg: String) {
        self.cold().raised = Some(msg);
    }

    pub fn take_raised(&mut self) -> Option<String> {
        self.cold.as_mut().and_then(|c| c.raised.take())
    }

    /// Takes the task's future out (for teardown).
    pub fn take_future(&mut self) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
        self.fut.take()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn call(log: &std::rc::Rc<std::cell::RefCell<Vec<u64>>>, n: u64) -> DoneCallback {
        let log = log.clone();
        DoneCallback::Call(Box::new(move || log.borrow_mut().push(n)), Sym(0))
    }

    #[test]
    fn done_callbacks_keep_registration_order_through_removals() {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut cbs = DoneCallbacks::default();
        for k in 1..=4 {
            cbs.push(k, call(&log, k));
        }
        assert!(cbs.remove(1).is_some(), "the inline one");
        assert!(cbs.remove(3).is_some());
        assert!(cbs.remove(3).is_none(), "removed once");
        cbs.push(5, call(&log, 5)); // after 2 and 4, though the inline place is free
        for cb in cbs.into_callbacks() {
            if let DoneCallback::Call(f, _) = cb {
                f();
            }
        }
        assert_eq!(*log.borrow(), [2, 4, 5]);
    }

    #[test]
    fn catchers_are_a_stack_whether_inline_or_nested() {
        let waker = std::task::Waker::noop().clone();
        let mut t = TaskSlot {
            name: None,
            fut: None,
            fail: None,
            end: None,
            ended_at: None,
            scheduled: false,
            running: false,
            must_cancel: false,
            cancel_via_waiter: false,
            delivering: false,
            num_cancels: 0,
            catcher0: 0,
            cold: None,
            waiting: None,
            done_callbacks: DoneCallbacks::default(),
            waker: Some(waker),
        };
        assert_eq!(t.catcher_top(), None);
        t.push_catcher(7);
        assert!(t.cold.is_none(), "one catcher needs no box");
        t.push_catcher(9);
        t.push_catcher(11);
        assert_eq!(t.catcher_top(), Some(11));
        t.remove_catcher(11);
        assert_eq!(t.catcher_top(), Some(9));
        t.remove_catcher(7); // the outermost, under a nested one
        assert_eq!(t.catcher_top(), Some(9));
        t.push_catcher(13); // nested still: order kept
        assert_eq!(t.catcher_top(), Some(13));
        t.remove_catcher(13);
        t.remove_catcher(9);
        assert_eq!(t.catcher_top(), None);
        t.push_catcher(15);
        assert_eq!(t.catcher_top(), Some(15));
        t.clear_catchers();
        assert_eq!(t.catcher_top(), None);
    }

    #[test]
    fn a_task_slot_stays_small() {
        // Memory per task matters at a million tasks: see `loopsim bench`.
        assert!(
            std::mem::size_of::<TaskSlot>() <= 240,
            "{}",
            std::mem::size_of::<TaskSlot>()
        );
    }
}
