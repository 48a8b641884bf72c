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
//! The eight flags, and when each is set (`end` and `waiting` are one
//! field, [`Phase`]: a task that is done waits on nothing):
//!
//! | field | meaning | set | cleared |
//! |---|---|---|---|
//! | `scheduled` | its step is in the ready queue | `wake`, creation | the step starts |
//! | `running` | its step is being polled | the step starts | the step ends |
//! | `must_cancel` | `Task._must_cancel`: throw at the next step | a cancel that cannot be forwarded | the step starts (becomes `delivering`) |
//! | `cancel_via_waiter` | the pending cancellation is a cancelled sleep future, not `_must_cancel` (`uncancel()` cannot take it back) | a cancel of a task asleep | the step starts |
//! | `delivering` | a `CancelledError` is being thrown during this step | the step starts with `must_cancel`, or an awaited future/task was cancelled | a catcher consumes it, or the task ends |
//! | `num_cancels` | `Task._num_cancels_requested` (`cancelling()`) | every request | `uncancel()` |
//! | `end` | how it ended (and when) | the task is done | never |
//! | `waiting` | what it is suspended on | a suspending poll | the step starts |
//!
//! # Size
//!
//! A run keeps every unfinished task's slot, and `loopsim bench` holds a
//! million at once, so the slot keeps inline only what most tasks use: one
//! done-callback, one cancellation catcher, a wait on a timer, a yield or a
//! task. A wait on a future is boxed (with its target and probe); the
//! message of a raised error, further done-callbacks and nested catchers
//! are in `cold`, boxed on first use. A task that ends drops `cold` unless
//! it holds what a done task is still asked for (its error, its output
//! cell — which keeps the task's whole allocation, `task.rs`'s `TaskBox`
//! —, its cancel message: [`TaskSlot::trim_cold`]); once new tasks need
//! room, a finished task gives its 104-byte slot up for a 16-byte
//! [`Record`] (`table.rs`). A task's waker is not kept at all: it is a
//! word made for each step (`waker.rs`).

use super::WaiterCell;
use super::cancel::{CancelFuture, CancelTarget};
use crate::error::Error;
use crate::time::Instant;
use crate::trace::{Sym, TaskId, WaitOn};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// How a task ended (the message of an error it raised is kept apart:
/// [`TaskSlot::raised_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Returned,
    Raised,
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

/// Where a cancellation of a task suspended on anything but a future goes:
/// a [`CancelTarget`] without the `Future` case, in eight bytes.
#[derive(Clone, Copy)]
enum PlainTarget {
    Timer,
    Task(TaskId),
    Wake,
}

/// A task's phase: live (suspended on something or not), or done.
enum Phase {
    /// Not done, and suspended on nothing the loop knows: not started yet,
    /// ready, running, or suspended on a foreign future. It may keep the
    /// emptied box of its last wait on a future for the next one (a task
    /// that waits on a queue in a loop allocates it once).
    Live(Option<Box<Wait>>),
    /// Suspended on a timer, a yield, a task or I/O.
    Waiting { on: WaitOn, target: PlainTarget },
    /// Suspended on a future: its target is the future itself, and a probe
    /// may say why it cannot end.
    WaitingOnFuture(Box<Wait>),
    /// Done at `at`.
    Done { at: Instant, end: End },
    /// Suspended on a primitive (`WaitOn::Primitive { kind, name }`)'s
    /// waiter, its own cancellation target and probe: in the slot, no box,
    /// one reference count. (Through the box, with the probe cloned and
    /// dropped at every wait, a blocked `Queue.put` cost W4 2.5 % more
    /// time.)
    WaitingOnPrimitive {
        kind: Sym,
        name: Sym,
        target: Rc<WaiterCell>,
    },
}

/// A done-callback of a task.
pub(crate) enum DoneCallback {
    /// Wake a task (an awaiter's `__wakeup`).
    Wake(Waker),
    /// Run a callback via `call_soon`, with a label for the trace.
    Call(Box<dyn FnOnce()>, Sym),
}

/// A task's done-callbacks once it is done, in registration order: the
/// first from the slot, the others from its `cold` part.
pub(crate) struct DoneCallbacks {
    first: Option<(u64, DoneCallback)>,
    rest: Vec<(u64, DoneCallback)>,
}

impl DoneCallbacks {
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
    /// `task.exception()` looked at the exception: it was retrieved.
    fn mark_retrieved(&self);
}

/// A task's given name: its symbol in four bytes (`Option<Sym>` takes
/// eight).
#[derive(Clone, Copy)]
struct Name(NonZeroU32);

impl Name {
    fn new(sym: Sym) -> Name {
        Name(
            NonZeroU32::MIN
                .checked_add(sym.0)
                .expect("fewer than u32::MAX symbols"),
        )
    }

    fn sym(self) -> Sym {
        Sym(self.0.get() - 1)
    }
}

/// A task's slot, 104 bytes: the fields every step and wake-up reads (its
/// future, phase and flags) in the first 64, the rest after. (Not
/// aligned to a cache line: a 128-byte stride made the task vector copy
/// itself on every growth, an over-aligned `realloc` cannot move pages.)
#[repr(C)]
pub(crate) struct TaskSlot {
    pub(super) fut: Option<TaskFut>,
    phase: Phase,
    pub(super) scheduled: bool,
    pub(super) running: bool,
    /// `Task._must_cancel`: throw `CancelledError` at the next step.
    pub(super) must_cancel: bool,
    /// `must_cancel` stands for a cancelled sleep future (asyncio's
    /// `_must_cancel` is false then): `uncancel()` cannot take it back.
    pub(super) cancel_via_waiter: bool,
    /// A cancellation is being thrown into the task during this step.
    pub(super) delivering: bool,
    /// The outermost cancellation catcher on the task's await chain (0:
    /// none); the ones nested inside it are in `cold`.
    pub(super) catcher0: u64,
    /// The first done-callback (most tasks have at most one awaiter, and
    /// need no allocation); the others are in `cold`.
    first_callback: Option<(u64, DoneCallback)>,
    /// What few tasks need (a cancellation message, nested catchers, a
    /// raised error, more than one done-callback), boxed on first use to
    /// keep the slot small.
    cold: Option<Box<Cold>>,
    /// `Task._num_cancels_requested` (`cancelling()`).
    pub(super) num_cancels: u32,
    /// The name given to `spawn`, if any (`Task-N` otherwise, made only
    /// when needed).
    name: Option<Name>,
}

/// A task as the engine holds it: its future, polled in place until it is
/// ready (its output goes to the task's cell, beside it in the same
/// allocation), and that cell, which receives the task's error when it
/// raises, panics or is cancelled.
pub(crate) trait TaskFuture: FailSlot {
    /// Polls the future where it lies.
    fn poll_task(self: Pin<&Self>, cx: &mut Context<'_>) -> Poll<()>;
    /// Drops the future in place, if it is still there: the task has ended
    /// (its handles may keep the allocation, for the output, long after).
    fn drop_future(self: Pin<&Self>);
}

/// The engine's reference to a task's allocation ([`TaskFuture`]).
/// Dropping it drops the task's future, whoever else holds the allocation:
/// the engine drops it where a task's future must be dropped (the step
/// that ends it, the run's teardown).
pub(crate) struct TaskFut(Pin<Rc<dyn TaskFuture>>);

impl TaskFut {
    pub fn new(task: Pin<Rc<dyn TaskFuture>>) -> TaskFut {
        TaskFut(task)
    }

    /// Polls the task's future.
    #[inline(always)]
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_ref().poll_task(cx)
    }

    /// The task ended: drops its future and gives its output cell, for the
    /// task's error.
    pub fn finish(self) -> FailRef {
        let task = self.0.clone();
        drop(self);
        task
    }

    /// The start of the task's allocation past its reference counts (what
    /// a prefetch asks for).
    pub fn data(&self) -> &dyn TaskFuture {
        &*self.0
    }
}

impl Drop for TaskFut {
    fn drop(&mut self) {
        self.0.as_ref().drop_future();
    }
}

/// A task's output cell, for its error (see [`FailSlot`]).
pub(crate) type FailRef = Pin<Rc<dyn FailSlot>>;

/// The rarely used part of a task slot.
#[derive(Default)]
pub(crate) struct Cold {
    /// The message of the `CancelledError` raised in the task last (or to
    /// be delivered at its next step): the awaited future's, a cancelled
    /// task's it awaited, one made from `request_msg`. Once the task has
    /// ended cancelled, that of the error it ended with (`_cancelled_exc`),
    /// handed to the first that asks for it.
    cancel_msg: Option<Rc<str>>,
    /// `Task._cancel_message`: the message of the last `cancel(msg)` that
    /// was not forwarded to what the task awaits (only `_must_cancel` set),
    /// from which `__step` makes the error it throws (`None` once the task
    /// ended cancelled).
    request_msg: Option<Rc<str>>,
    /// The cancellation to be delivered at the next step throws the awaited
    /// future's (or task's) own `CancelledError`, whose message
    /// `cancel_msg` already is: `__step` keeps an exception that is a
    /// `CancelledError` rather than make one from `_cancel_message`.
    own_error: bool,
    /// Cancellation catchers on the task's await chain inside `catcher0`,
    /// innermost last.
    catchers: Vec<u64>,
    /// The error the task raised: set by a fallible task's wrapper before
    /// it returns (the error its output carries), or by a panic; kept once
    /// the task is done.
    raised: Option<String>,
    /// The error itself, when the task's error type is [`crate::Error`]
    /// (a `TaskGroup` gathers its children's into its `ExceptionGroup`).
    raised_error: Option<Box<crate::Error>>,
    /// The done-callbacks after the first, in registration order.
    callbacks: Vec<(u64, DoneCallback)>,
    /// Where a task that raised keeps its output cell, for the run's end
    /// to ask whether its exception was retrieved.
    fail: Option<FailRef>,
}

impl Cold {
    /// Whether it holds what a done task is still asked for (its error,
    /// its output cell, the message it was cancelled with).
    fn asked_when_done(&self) -> bool {
        self.raised.is_some()
            || self.fail.is_some()
            || self.cancel_msg.is_some()
            || self.request_msg.is_some()
    }
}

impl TaskSlot {
    /// A new task's slot: live, not scheduled.
    pub fn new(fut: TaskFut, name: Option<Sym>) -> TaskSlot {
        TaskSlot {
            fut: Some(fut),
            first_callback: None,
            phase: Phase::Live(None),
            catcher0: 0,
            cold: None,
            num_cancels: 0,
            name: name.map(Name::new),
            scheduled: false,
            running: false,
            must_cancel: false,
            cancel_via_waiter: false,
            delivering: false,
        }
    }

    fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Default::default)
    }

    /// The name given at creation, if any.
    pub fn name(&self) -> Option<Sym> {
        self.name.map(Name::sym)
    }

    /// How the task ended, if it did.
    pub fn end(&self) -> Option<End> {
        match self.phase {
            Phase::Done { end, .. } => Some(end),
            _ => None,
        }
    }

    /// When the task ended, if it did.
    pub fn ended_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done { at, .. } => Some(at),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done { .. })
    }

    /// The task is done: it ended `end` at `at`, having raised `raised`.
    pub fn set_done(&mut self, at: Instant, end: End, raised: Option<String>) {
        debug_assert_eq!(end == End::Raised, raised.is_some());
        self.phase = Phase::Done { at, end };
        if raised.is_some() {
            self.cold().raised = raised;
        }
    }

    /// What the task is suspended on.
    pub fn wait_on(&self) -> Option<WaitOn> {
        match &self.phase {
            Phase::Waiting { on, .. } => Some(*on),
            &Phase::WaitingOnPrimitive { kind, name, .. } => Some(WaitOn::Primitive { kind, name }),
            Phase::WaitingOnFuture(w) => Some(w.on),
            Phase::Live(_) | Phase::Done { .. } => None,
        }
    }

    /// Where a cancellation of the suspended task goes.
    pub fn cancel_target(&self) -> Option<CancelTarget> {
        match &self.phase {
            Phase::Waiting { target, .. } => Some(match *target {
                PlainTarget::Timer => CancelTarget::Timer,
                PlainTarget::Task(id) => CancelTarget::Task(id),
                PlainTarget::Wake => CancelTarget::Wake,
            }),
            Phase::WaitingOnFuture(w) => Some(w.target.clone()),
            Phase::WaitingOnPrimitive { target, .. } => Some(CancelTarget::Future(target.clone())),
            Phase::Live(_) | Phase::Done { .. } => None,
        }
    }

    /// Whether the task is suspended on a sleep's timer.
    pub fn waits_on_timer(&self) -> bool {
        matches!(
            self.phase,
            Phase::Waiting {
                target: PlainTarget::Timer,
                ..
            }
        )
    }

    /// What the task is suspended on, in full (for deadlock reports).
    pub fn wait(&self) -> Option<Wait> {
        match &self.phase {
            Phase::WaitingOnFuture(w) => Some(Wait::clone(w)),
            Phase::WaitingOnPrimitive { kind, name, target } => Some(Wait {
                on: WaitOn::Primitive {
                    kind: *kind,
                    name: *name,
                },
                target: CancelTarget::Future(target.clone()),
                probe: target.probe(),
            }),
            _ => Some(Wait {
                on: self.wait_on()?,
                target: self.cancel_target()?,
                probe: None,
            }),
        }
    }

    /// The task is suspended on `on`; a cancellation goes to `target`.
    /// Inlined into its callers: `on` is then written where it is built,
    /// not read back from a copy (a store-forwarding stall per step).
    #[inline(always)]
    pub fn set_wait(
        &mut self,
        on: WaitOn,
        target: CancelTarget,
        probe: Option<crate::deadlock::Probe>,
    ) {
        let plain = match target {
            CancelTarget::Timer => PlainTarget::Timer,
            CancelTarget::Task(id) => PlainTarget::Task(id),
            CancelTarget::Wake => PlainTarget::Wake,
            CancelTarget::Future(_) => {
                let wait = Wait { on, target, probe };
                let boxed = match std::mem::replace(&mut self.phase, Phase::Live(None)) {
                    Phase::Live(Some(mut b)) | Phase::WaitingOnFuture(mut b) => {
                        *b = wait;
                        b
                    }
                    _ => Box::new(wait),
                };
                self.phase = Phase::WaitingOnFuture(boxed);
                return;
            }
        };
        debug_assert!(probe.is_none(), "a probe comes with a future");
        match &mut self.phase {
            // Overwrite in place when nothing in the old wait needs a
            // destructor (the common case: a timer, a yield, a task).
            Phase::Waiting { on: o, target: t } => {
                *o = on;
                *t = plain;
            }
            // Nothing to drop either (a step's first wait): no call to the
            // phase's destructor.
            Phase::Live(None) => std::mem::forget(std::mem::replace(
                &mut self.phase,
                Phase::Waiting { on, target: plain },
            )),
            phase => *phase = Phase::Waiting { on, target: plain },
        }
    }

    /// The task is suspended on primitive `kind` `name`'s waiter `target`,
    /// its own cancellation target and probe.
    #[inline(always)]
    pub fn set_wait_on_primitive(&mut self, kind: Sym, name: Sym, target: Rc<WaiterCell>) {
        let wait = Phase::WaitingOnPrimitive { kind, name, target };
        match self.phase {
            // Nothing to drop (the wait follows the step's start): no call
            // to the phase's destructor.
            Phase::Live(None) => std::mem::forget(std::mem::replace(&mut self.phase, wait)),
            _ => self.phase = wait,
        }
    }

    /// The task's step starts (or it ends): it no longer waits on anything.
    #[inline(always)]
    pub fn clear_wait(&mut self) {
        match &mut self.phase {
            // Nothing to drop: no call to the phase's destructor (one per
            // step otherwise).
            Phase::Waiting { .. } => {
                std::mem::forget(std::mem::replace(&mut self.phase, Phase::Live(None)))
            }
            Phase::WaitingOnFuture(wait) => {
                // The target and probe are dropped now, the box is kept.
                **wait = Wait {
                    on: WaitOn::Foreign,
                    target: CancelTarget::Wake,
                    probe: None,
                };
                if let Phase::WaitingOnFuture(b) =
                    std::mem::replace(&mut self.phase, Phase::Live(None))
                {
                    self.phase = Phase::Live(Some(b));
                }
            }
            Phase::WaitingOnPrimitive { target, .. } => {
                // A wait that resumes answered leaves its catcher now, if
                // it is the task's only one and no cancellation is coming.
                let only = if self.cold.is_none() {
                    self.catcher0
                } else {
                    0
                };
                if target.leave_catcher(only, self.must_cancel || self.delivering) {
                    self.catcher0 = 0;
                }
                // Only the waiter to let go of.
                if let Phase::WaitingOnPrimitive { target, .. } =
                    std::mem::replace(&mut self.phase, Phase::Live(None))
                {
                    drop(target);
                }
            }
            Phase::Live(_) | Phase::Done { .. } => {}
        }
    }

    /// Registers done-callback `cb` under `key`, after the others.
    pub fn push_done_callback(&mut self, key: u64, cb: DoneCallback) {
        let others = self.cold.as_ref().is_some_and(|c| !c.callbacks.is_empty());
        if self.first_callback.is_none() && !others {
            self.first_callback = Some((key, cb));
        } else {
            self.cold().callbacks.push((key, cb));
        }
    }

    /// The done-callback registered under `key`.
    pub fn done_callback(&self, key: u64) -> Option<&DoneCallback> {
        match &self.first_callback {
            Some((k, cb)) if *k == key => Some(cb),
            _ => {
                let rest = self.cold.as_ref().map_or(&[][..], |c| &c.callbacks);
                rest.iter().find(|(k, _)| *k == key).map(|(_, cb)| cb)
            }
        }
    }

    /// Takes the done-callback registered under `key` out.
    pub fn remove_done_callback(&mut self, key: u64) -> Option<DoneCallback> {
        if self.first_callback.as_ref().is_some_and(|(k, _)| *k == key) {
            return self.first_callback.take().map(|(_, cb)| cb);
        }
        let rest = &mut self.cold.as_mut()?.callbacks;
        let i = rest.iter().position(|(k, _)| *k == key)?;
        Some(rest.remove(i).1)
    }

    /// Takes every done-callback out (the task is done).
    pub fn take_done_callbacks(&mut self) -> DoneCallbacks {
        DoneCallbacks {
            first: self.first_callback.take(),
            rest: self
                .cold
                .as_mut()
                .map(|c| std::mem::take(&mut c.callbacks))
                .unwrap_or_default(),
        }
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

    /// Sets `Task._cancel_message`.
    pub fn set_request_msg(&mut self, msg: Option<Rc<str>>) {
        if msg.is_none() && self.cold.is_none() {
            return;
        }
        self.cold().request_msg = msg;
    }

    /// The error to raise is one made from `_cancel_message`
    /// (`_make_cancelled_error()`), or the future cancelled with it.
    pub fn error_from_request(&mut self) {
        if let Some(c) = self.cold.as_mut() {
            c.cancel_msg = c.request_msg.clone();
        }
    }

    /// Marks whether the cancellation to be delivered at the next step is
    /// the awaited future's own error (see `Cold::own_error`).
    pub fn set_own_error(&mut self, own: bool) {
        if !own && self.cold.is_none() {
            return;
        }
        self.cold().own_error = own;
    }

    /// Whether the cancellation to deliver is the awaited future's own
    /// error (cleared).
    pub fn take_own_error(&mut self) -> bool {
        self.cold
            .as_mut()
            .is_some_and(|c| std::mem::take(&mut c.own_error))
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
    #[inline(always)]
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

    /// The error a fallible task's output carries, as a value.
    pub fn set_raised_error(&mut self, e: crate::Error) {
        self.cold().raised_error = Some(Box::new(e));
    }

    /// Keeps the output cell of a task that raised (see
    /// [`Core::record_end_warnings`](super::Core::record_end_warnings)).
    pub fn keep_fail_slot(&mut self, fail: FailRef) {
        self.cold().fail = Some(fail);
    }

    /// Drops the cold part of a task that is done, unless it holds what a
    /// done task is still asked for (its error, its output cell, the
    /// message it was cancelled with).
    pub fn trim_cold(&mut self) {
        if self.cold.as_ref().is_some_and(|c| !c.asked_when_done()) {
            self.cold = None;
        }
    }

    pub fn take_raised(&mut self) -> Option<String> {
        self.cold.as_mut().and_then(|c| c.raised.take())
    }

    /// Takes the task's future out (for teardown).
    pub fn take_future(&mut self) -> Option<TaskFut> {
        self.fut.take()
    }
}

/// What a finished task keeps once its block of the task table has retired
/// (`table.rs`): when it ended and how, and its given name, in 16 bytes.
/// The few tasks with more to keep (a cancellation count, an error, a
/// cancellation message) have a [`Rare`] beside it. A task whose slot lives
/// on (it had not finished when its block retired, it was brought back for
/// a change, or it finished holding what a record has no place for) has a
/// record that says where the slot is instead.
#[derive(Clone, Copy)]
pub(crate) struct Record {
    /// When it ended; the slot's index when `end` is `None`.
    at: Instant,
    name: Option<Name>,
    end: Option<End>,
}

impl Record {
    /// The record of a task whose slot is `index` in the table's
    /// survivors.
    pub fn elsewhere(index: u32) -> Record {
        Record {
            at: Instant::from_nanos(u64::from(index)),
            name: None,
            end: None,
        }
    }

    /// Where the task's slot is, if it has one.
    #[inline(always)]
    pub fn slot_index(&self) -> Option<usize> {
        match self.end {
            None => Some(self.at.as_nanos() as usize),
            Some(_) => None,
        }
    }
}

/// The rest of a retired task's record, for the few that have a rest.
pub(crate) struct Rare {
    num_cancels: u32,
    cold: Option<Box<Cold>>,
}

impl Rare {
    /// Takes the cancellation message out.
    pub fn take_cancel_msg(&mut self) -> Option<Rc<str>> {
        self.cold.as_mut()?.cancel_msg.take()
    }

    /// `uncancel()`: one request fewer; the requests left.
    pub fn uncancel(&mut self) -> u32 {
        self.num_cancels = self.num_cancels.saturating_sub(1);
        self.num_cancels
    }
}

impl TaskSlot {
    /// The slot of a finished task in its compact form; the slot back if it
    /// is not done or still holds what the compact form has no place for
    /// (which a finished task never does: then it stays whole).
    pub fn retire(self) -> Result<(Record, Option<Rare>), TaskSlot> {
        let Phase::Done { at, end } = self.phase else {
            return Err(self);
        };
        let cold_is_plain = self
            .cold
            .as_ref()
            .is_none_or(|c| c.callbacks.is_empty() && c.catchers.is_empty());
        if self.fut.is_some()
            || self.first_callback.is_some()
            || self.catcher0 != 0
            || self.running
            || self.must_cancel
            || self.cancel_via_waiter
            || self.delivering
            || !cold_is_plain
        {
            return Err(self);
        }
        let record = Record {
            at,
            name: self.name,
            end: Some(end),
        };
        // A cold part left empty (its message handed on) is not kept.
        let cold = self.cold.filter(|c| c.asked_when_done());
        let rare = (self.num_cancels != 0 || cold.is_some()).then(|| Rare {
            num_cancels: self.num_cancels,
            cold,
        });
        Ok((record, rare))
    }

    /// A finished task's slot made whole again from its compact form.
    pub fn revive(record: Record, rare: Option<Rare>) -> TaskSlot {
        let (num_cancels, cold) = rare.map_or((0, None), |r| (r.num_cancels, r.cold));
        TaskSlot {
            fut: None,
            first_callback: None,
            phase: Phase::Done {
                at: record.at,
                end: record.end.expect("the record of a finished task"),
            },
            catcher0: 0,
            cold,
            num_cancels,
            name: record.name,
            scheduled: false,
            running: false,
            must_cancel: false,
            cancel_via_waiter: false,
            delivering: false,
        }
    }
}

/// What a question about a task reads: its slot, or the record it left
/// when its block retired (`table.rs`).
#[derive(Clone, Copy)]
pub(crate) enum TaskView<'a> {
    Slot(&'a TaskSlot),
    Retired(&'a Record, Option<&'a Rare>),
}

impl<'a> TaskView<'a> {
    fn cold(self) -> Option<&'a Cold> {
        match self {
            TaskView::Slot(t) => t.cold.as_deref(),
            TaskView::Retired(_, rare) => rare?.cold.as_deref(),
        }
    }

    /// The name given at creation, if any.
    pub fn name(self) -> Option<Sym> {
        match self {
            TaskView::Slot(t) => t.name(),
            TaskView::Retired(r, _) => r.name.map(Name::sym),
        }
    }

    /// How the task ended, if it did.
    pub fn end(self) -> Option<End> {
        match self {
            TaskView::Slot(t) => t.end(),
            TaskView::Retired(r, _) => r.end,
        }
    }

    /// When the task ended, if it did.
    pub fn ended_at(self) -> Option<Instant> {
        match self {
            TaskView::Slot(t) => t.ended_at(),
            TaskView::Retired(r, _) => r.end.map(|_| r.at),
        }
    }

    pub fn is_done(self) -> bool {
        self.end().is_some()
    }

    /// The message of the error the task raised, once it is done raising.
    pub fn raised_message(self) -> Option<&'a str> {
        match self.end() {
            Some(End::Raised) => self.cold()?.raised.as_deref(),
            _ => None,
        }
    }

    /// The error the task raised, once it is done raising, if its error
    /// type is [`crate::Error`].
    pub fn raised_error(self) -> Option<&'a crate::Error> {
        match self.end() {
            Some(End::Raised) => self.cold()?.raised_error.as_deref(),
            _ => None,
        }
    }

    /// `Task._num_cancels_requested`.
    pub fn num_cancels(self) -> u32 {
        match self {
            TaskView::Slot(t) => t.num_cancels,
            TaskView::Retired(_, rare) => rare.map_or(0, |r| r.num_cancels),
        }
    }

    /// The message of the `CancelledError` raised in the task last.
    pub fn cancel_msg(self) -> Option<Rc<str>> {
        self.cold()?.cancel_msg.clone()
    }

    /// `Task._cancel_message`.
    pub fn request_msg(self) -> Option<Rc<str>> {
        self.cold()?.request_msg.clone()
    }

    /// The done-callback registered under `key` (a finished task has none).
    pub fn done_callback(self, key: u64) -> Option<&'a DoneCallback> {
        match self {
            TaskView::Slot(t) => t.done_callback(key),
            TaskView::Retired(..) => None,
        }
    }

    /// The output cell of a task that raised.
    pub fn fail_slot(self) -> Option<&'a FailRef> {
        self.cold()?.fail.as_ref()
    }

    /// What the task is suspended on, in full.
    pub fn wait(self) -> Option<Wait> {
        match self {
            TaskView::Slot(t) => t.wait(),
            TaskView::Retired(..) => None,
        }
    }
}

/// A task slot for tests, with a future that ends at once.
#[cfg(test)]
pub(crate) fn test_slot(name: Option<Sym>) -> TaskSlot {
    TaskSlot::new(TaskFut::new(Rc::pin(tests::Done)), name)
}

#[cfg(test)]
impl TaskSlot {
    /// Ends the task as a step would (its future dropped).
    pub fn finish_for_test(&mut self, at: Instant, end: End) {
        self.fut = None;
        let raised = (end == End::Raised).then(|| "boom".to_string());
        self.set_done(at, end, raised);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> TaskSlot {
        test_slot(None)
    }

    /// A task future that is done at once.
    pub(super) struct Done;
    impl TaskFuture for Done {
        fn poll_task(self: Pin<&Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
        fn drop_future(self: Pin<&Self>) {}
    }

    impl FailSlot for Done {
        fn fail(&self, _: Error) {}
        fn retrieved(&self) -> bool {
            false
        }
        fn mark_retrieved(&self) {}
    }

    fn call(log: &std::rc::Rc<std::cell::RefCell<Vec<u64>>>, n: u64) -> DoneCallback {
        let log = log.clone();
        DoneCallback::Call(Box::new(move || log.borrow_mut().push(n)), Sym(0))
    }

    #[test]
    fn done_callbacks_keep_registration_order_through_removals() {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut t = slot();
        for k in 1..=4 {
            t.push_done_callback(k, call(&log, k));
        }
        assert!(t.remove_done_callback(1).is_some(), "the inline one");
        assert!(t.remove_done_callback(3).is_some());
        assert!(t.remove_done_callback(3).is_none(), "removed once");
        t.push_done_callback(5, call(&log, 5)); // after 2 and 4, though the inline place is free
        assert!(t.done_callback(5).is_some());
        for cb in t.take_done_callbacks().into_callbacks() {
            if let DoneCallback::Call(f, _) = cb {
                f();
            }
        }
        assert_eq!(*log.borrow(), [2, 4, 5]);
    }

    #[test]
    fn catchers_are_a_stack_whether_inline_or_nested() {
        let mut t = slot();
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
    fn a_wait_is_overwritten_cleared_and_ends_with_the_task() {
        let mut t = slot();
        assert!(t.wait().is_none());
        t.set_wait(WaitOn::Yield, CancelTarget::Wake, None);
        t.set_wait(WaitOn::Task(TaskId(3)), CancelTarget::Task(TaskId(3)), None);
        assert!(matches!(t.wait_on(), Some(WaitOn::Task(TaskId(3)))));
        assert!(matches!(
            t.cancel_target(),
            Some(CancelTarget::Task(TaskId(3)))
        ));
        t.clear_wait();
        assert!(t.wait().is_none() && !t.is_done());
        t.set_wait(WaitOn::Yield, CancelTarget::Timer, None);
        assert!(t.waits_on_timer());
        let at = Instant::from_nanos(5);
        t.set_done(at, End::Raised, Some("boom".into()));
        assert!(t.wait().is_none(), "a task that is done waits on nothing");
        assert_eq!((t.end(), t.ended_at()), (Some(End::Raised), Some(at)));
        assert_eq!(TaskView::Slot(&t).raised_message(), Some("boom"));
    }

    #[test]
    fn a_wait_on_a_future_lets_go_of_it_when_cleared() {
        struct Fut;
        impl super::super::CancelFuture for Fut {
            fn cancel_future(self: Rc<Self>, _: Option<Rc<str>>) -> bool {
                true
            }
        }
        let fut: Rc<dyn super::super::CancelFuture> = Rc::new(Fut);
        let on = WaitOn::Future { what: Sym(1) };
        let mut t = slot();
        for _ in 0..2 {
            t.set_wait(on, CancelTarget::Future(fut.clone()), None);
            assert!(matches!(t.cancel_target(), Some(CancelTarget::Future(_))));
            assert_eq!(Rc::strong_count(&fut), 2, "ours and the slot's");
            t.clear_wait();
            assert!(t.wait().is_none());
            assert_eq!(Rc::strong_count(&fut), 1, "dropped at the step's start");
        }
    }

    #[test]
    fn a_given_name_survives_its_compact_form() {
        for sym in [0, 1, u32::MAX - 1] {
            assert_eq!(Name::new(Sym(sym)).sym().0, sym);
        }
    }

    #[test]
    fn a_task_slot_stays_small() {
        // Memory per task matters at a million tasks: see `loopsim bench`.
        let size = std::mem::size_of::<TaskSlot>();
        assert!(size <= 104, "a TaskSlot is {size} bytes");
    }
}
