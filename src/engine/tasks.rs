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
    /// `Task._cancel_message`: the message of the `CancelledError` raised in
    /// the task (its last `cancel(msg)`, or that of a cancelled task it
    /// awaited).
    pub(super) cancel_msg: Option<Rc<str>>,
    /// Cancellation catchers on the task's await chain, innermost last.
    pub(super) catchers: Vec<u64>,
    pub(super) waiting: Option<Wait>,
    pub(super) done_callbacks: Vec<(u64, DoneCallback)>,
    pub(super) waker: Waker,
    /// Set by fallible task wrappers: the error the task's output carries.
    pub(super) raised: Option<String>,
}

impl TaskSlot {
    /// Takes the task's future out (for teardown).
    pub fn take_future(&mut self) -> Option<Pin<Box<dyn Future<Output = ()>>>> {
        self.fut.take()
    }
}
