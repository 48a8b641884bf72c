//! The loop spelled out as named phases: run a task's step, run a handle,
//! one iteration (`_run_once`), and the loop until it stops, deadlocks or hits
//! a limit.

use super::cancel::cancel_task_with;
use super::timers::TimerAction;
use super::{CancelTarget, End, Handle, LimitKind, Runtime};
use crate::trace::{Actor, EventKind, StepEnd, Sym, TaskId, WaitOn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::{Context, Poll};

/// Why [`run_loop`] returned.
#[derive(Clone, Debug)]
pub(crate) enum LoopEnd {
    /// `loop.stop()` was called (the awaited task finished).
    Stopped,
    /// Nothing ready, no timer pending: nothing can ever happen again.
    Deadlock,
    /// A limit was exceeded.
    Limit(super::Stop),
}

/// Runs iterations until the loop is stopped, deadlocks or exceeds a limit.
pub(crate) fn run_loop(rt: &Runtime) -> LoopEnd {
    loop {
        {
            let c = rt.core.borrow();
            if let Some(stop) = &c.abort {
                return LoopEnd::Limit(stop.clone());
            }
            if c.stopping {
                return LoopEnd::Stopped;
            }
        }
        if !run_once(rt) {
            return LoopEnd::Deadlock;
        }
    }
}

/// One iteration of the loop (`BaseEventLoop._run_once`). Returns false when
/// the loop is idle for ever: nothing ready and no timer scheduled.
fn run_once(rt: &Runtime) -> bool {
    {
        let mut c = rt.core.borrow_mut();
        c.iteration += 1;
        // 1. Drop cancelled timers (purge rule, or from the head only).
        c.timers.purge_cancelled();
    }
    // 2a. The world outside the loop: what is due by now, then, while
    //     nothing is ready, what is due before the earliest timer; the first
    //     world event that makes something ready ends the wait (`world.rs`).
    super::world::run_world_due(rt);
    loop {
        let action = {
            let mut c = rt.core.borrow_mut();
            if !c.ready.is_empty() || c.stopping || c.abort.is_some() {
                break;
            }
            let due_first = match (c.world_head(), c.timers.head_deadline()) {
                (Some(_), None) => true,
                (Some(_), Some(timer)) => c.world_due_by(timer),
                (None, _) => false,
            };
            if !due_first {
                break;
            }
            c.take_world_head()
        };
        if let Some(f) = action {
            f();
        }
    }
    let n = {
        let mut guard = rt.core.borrow_mut();
        let c = &mut *guard;
        if c.abort.is_some() {
            return true;
        }
        // 2b. "Poll I/O" with a timeout: with nothing ready, the virtual
        //     clock jumps to the earliest timer (at most a day at a time).
        if c.ready.is_empty() && !c.stopping {
            let Some((when_f, when_ns)) = c.timers.head_deadline() else {
                c.iteration -= 1;
                return false;
            };
            let from = c.now();
            c.advance_to_timer(when_f, when_ns);
            if c.now() != from {
                c.record(None, EventKind::ClockAdvanced { from });
            }
            if c.abort.is_some() {
                return true;
            }
        }
        // 3. Move every due timer to the end of the ready queue, in heap order.
        //    (The float clock goes with CPython's heap, the ns clock with the
        //    FIFO one: `Core::new`.)
        let (end_time, now) = c.clock.due_limit();
        while let Some(k) = c.timers.pop_due(end_time, now) {
            c.ready.push_back(Handle::Timer(k));
        }
        // 4. Run what was ready at this point (one chosen handle under the
        //    exploring models).
        if c.chooser.one_per_iteration() {
            c.ready.len().min(1)
        } else {
            c.warm_ready();
            c.ready.len()
        }
    };
    let one = rt.core.borrow().chooser.one_per_iteration();
    // The handle run last and when it started: what it took is looked at
    // in the next handle's borrow of the core (or after the last).
    let mut last: Option<(Handle, crate::time::Instant)> = None;
    for _ in 0..n {
        let handle = {
            let mut c = rt.core.borrow_mut();
            if let Some((h, started)) = last.take() {
                c.after_handle(h, started);
            }
            if c.abort.is_some() {
                return true;
            }
            let h = if one {
                let c = &mut *c;
                let i = c.chooser.pick(&c.ready, &mut c.rng);
                c.ready.remove(i)
            } else {
                c.ready.pop_front()
            };
            if c.steps >= c.cfg.limits.max_steps {
                c.hit_limit(LimitKind::Steps, None);
                return true;
            }
            c.steps += 1;
            (h.expect("ready queue shorter than its snapshot"), c.now())
        };
        run_handle(rt, handle.0);
        last = Some(handle);
    }
    if let Some((h, started)) = last {
        rt.core.borrow_mut().after_handle(h, started);
    }
    true
}

impl super::Core {
    /// After handle `h`, taken from the ready queue at `started`: one that
    /// held the loop at least `slow_callback_duration` is warned about
    /// (`BaseEventLoop._run_once` in debug mode: `Executing <Task …> took
    /// 2.000 seconds`), before anything else happens.
    #[inline(always)]
    fn after_handle(&mut self, h: Handle, started: crate::time::Instant) {
        if self.now() != started {
            self.slow_handle(h, started);
        }
    }

    #[inline(never)]
    fn slow_handle(&mut self, h: Handle, started: crate::time::Instant) {
        let took = self.now().saturating_duration_since(started);
        // `dt = self.time() - t0; if dt >= self.slow_callback_duration`, in
        // floats under the float clock: 0.8 - 0.7 is 0.0999…, not slow.
        let slow = if self.clock.is_float() {
            self.time_f() - self.handle_start_f()
                >= crate::time::duration_to_secs_f64(self.cfg.slow_callback_duration)
        } else {
            took >= self.cfg.slow_callback_duration
        };
        if slow {
            let task = match h {
                Handle::Step(id) => Some(id),
                _ => None,
            };
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
            self.record(
                task,
                EventKind::Warning {
                    warning: crate::trace::Warning::SlowStep { nanos },
                },
            );
        }
    }
}

/// Runs one handle from the ready queue.
fn run_handle(rt: &Runtime, h: Handle) {
    match h {
        Handle::Step(id) => run_step(rt, id),
        Handle::Timer(index) => {
            let action = {
                let mut c = rt.core.borrow_mut();
                let Some((action, label, _)) = c.timers.take_for_run(index) else {
                    return; // cancelled: skipped, as CPython skips `_cancelled` handles
                };
                let label = Sym(label);
                c.record(None, EventKind::CallbackRun { label, timer: true });
                if let TimerAction::WakeTask(id) = action {
                    c.actor = Actor::Timer(label);
                    c.wake(id);
                    c.actor = Actor::Loop;
                    return;
                }
                c.actor = Actor::Timer(label);
                action
            };
            match action {
                TimerAction::Wake(w) => w.wake(),
                TimerAction::Call(f) => run_callback(f),
                TimerAction::WakeTask(_) => unreachable!("run above"),
            }
            rt.core.borrow_mut().actor = Actor::Loop;
        }
        Handle::Callback(key) => {
            let f = {
                let mut c = rt.core.borrow_mut();
                let Some(slot) = c.callbacks.get_mut(key) else {
                    return;
                };
                let f = slot.f.take();
                let label = slot.label;
                c.callbacks.free(key.index);
                let Some(f) = f else { return };
                c.record(
                    None,
                    EventKind::CallbackRun {
                        label,
                        timer: false,
                    },
                );
                c.actor = Actor::Callback(label);
                f
            };
            run_callback(f);
            rt.core.borrow_mut().actor = Actor::Loop;
        }
    }
}

/// Runs a callback. asyncio logs an exception raised by a callback and goes
/// on; a panicking callback is likewise contained here.
fn run_callback(f: Box<dyn FnOnce()>) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Runs one step of a task (`Task.__step`), delivering a pending
/// cancellation first: the task's future is dropped where it is suspended,
/// unless a cancellation catcher on its await chain takes it.
pub(crate) fn run_step(rt: &Runtime, id: TaskId) {
    // Eager tasks nest one step inside another: the outer step's current
    // task and actor are saved and restored around this one.
    let (fut, waker, prev, first) = {
        let mut c = rt.core.borrow_mut();
        debug_assert!(id.0 >= 1 && id.0 <= c.tasks.len(), "no task {}", id.0);
        // A task without a slot has finished (and retired).
        let Some(t) = c.tasks.get_mut(id) else {
            return;
        };
        t.scheduled = false;
        if t.is_done() || t.fut.is_none() {
            return;
        }
        let fut = t.fut.take();
        let cancelling = t.must_cancel;
        // The error to deliver is found from what the task waits on: before
        // the wait is cleared.
        let t = if cancelling {
            c.start_delivery(id);
            c.tasks.slot_mut(id)
        } else {
            t
        };
        t.clear_wait();
        t.running = true;
        t.cancel_via_waiter = false;
        // The catcher matters only to a delivered cancellation (and is
        // read from the slot's second cache line).
        let first = (
            t.delivering,
            t.delivering.then(|| t.catcher_top()).flatten(),
        );
        // Made for the step: a word, no allocation, nothing to drop
        // (`waker.rs`): not dropped, which saves a call through its vtable.
        let waker = std::mem::ManuallyDrop::new(c.task_waker(id));
        // The task is the actor, and so the current task.
        let prev = std::mem::replace(&mut c.actor, Actor::Task(id));
        c.record(Some(id), EventKind::StepStarted { cancelling });
        (fut, waker, prev, first)
    };
    let fut = fut.expect("checked above");
    let mut cx = Context::from_waker(&waker);
    let mut first = Some(first);
    let end: Option<Ending> = loop {
        let (delivering, target) = match first.take() {
            Some(first) => first,
            None => {
                let c = rt.core.borrow();
                let t = c.live(id);
                (t.delivering, t.catcher_top())
            }
        };
        if delivering && target.is_none() {
            break Some(Ending::Cancelled);
        }
        match catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx))) {
            Ok(Poll::Ready(())) => break Some(Ending::Returned),
            Err(payload) => break Some(Ending::Panicked(panic_message(payload))),
            Ok(Poll::Pending) => {
                let mut guard = rt.core.borrow_mut();
                let c = &mut *guard;
                let t = c.tasks.slot_mut(id);
                if !t.delivering {
                    if !t.must_cancel && c.cfg.step_overhead.is_zero() {
                        // The common suspension, in this one borrow: what
                        // `finish_suspended` does when there is no
                        // cancellation to forward and no overhead to add.
                        // The future is out of the slot for the step: put
                        // back with no old value to drop (forgotten, not
                        // dropped: it is `None`, and a drop would call
                        // `TaskFut`'s destructor's glue).
                        let old = t.fut.replace(fut);
                        assert!(
                            old.is_none(),
                            "a task's future is out of its slot for its step"
                        );
                        std::mem::forget(old);
                        t.running = false;
                        record_suspended(c, id);
                        restore_outer_step(c, prev);
                        return;
                    }
                    break None;
                }
                if delivering && t.catcher_top() == target {
                    // The targeted catcher was not on the await chain: deliver
                    // to the task itself.
                    t.clear_catchers();
                }
            }
        }
    };
    // The step's own cost in virtual time ("one second plus overhead"): it
    // ends `step_overhead` after it started.
    {
        let mut c = rt.core.borrow_mut();
        let overhead = c.cfg.step_overhead;
        if !overhead.is_zero() {
            c.advance_by(overhead);
            drop(c);
            super::world::run_world_due(rt);
        }
    }
    match end {
        None => finish_suspended(rt, id, fut),
        Some(end) => {
            // Drop the future (its destructors may call into the loop) with
            // the task still current.
            let fail = fut.finish();
            finish_done(rt, id, end, fail);
        }
    }
    restore_outer_step(&mut rt.core.borrow_mut(), prev);
}

/// What a step saves of the step it interrupts (an eager task's first step
/// runs inside its creator's): the actor, whose task is the current one.
type OuterStep = Actor;

/// Ends a step: what it interrupted is current again.
fn restore_outer_step(c: &mut super::Core, prev: OuterStep) {
    c.actor = prev;
}

fn finish_suspended(rt: &Runtime, id: TaskId, fut: super::TaskFut) {
    // `_must_cancel` set during the step (the task cancelled itself): cancel
    // what it now waits on, as `Task.__step` does after a yield, with the
    // task's message (`self._fut_waiter.cancel(msg=self._cancel_message)`).
    let forward = {
        let mut c = rt.core.borrow_mut();
        let t = c.task_mut(id);
        t.fut = Some(fut);
        t.running = false;
        if t.must_cancel {
            t.cancel_target()
        } else {
            None
        }
    };
    let msg = || rt.core.borrow().request_message(id);
    // As in `cancel_task`: only a timer or a bare yield is woken here; a
    // task or future that refuses the request wakes the task when it ends.
    // (forwarded, woken here, the error raised is the future's own)
    let (forwarded, wake, own) = match forward {
        Some(CancelTarget::Task(inner)) => (cancel_task_with(inner, msg()), false, false),
        Some(CancelTarget::Future(f)) => {
            let forwarded = f.clone().cancel_future(msg());
            (forwarded, false, !forwarded && f.ends_cancelled())
        }
        Some(CancelTarget::Timer | CancelTarget::Wake) | None => (false, true, false),
    };
    let mut c = rt.core.borrow_mut();
    if forwarded {
        let t = c.task_mut(id);
        t.must_cancel = false;
        t.set_own_error(false);
        // A future cancelled with the message raises it (a primitive's
        // waiter raises the task's own error).
        t.error_from_request();
    } else if wake && c.task_mut(id).must_cancel {
        // A sleep's future is cancelled with the message (asyncio clears
        // `_must_cancel`); a bare yield keeps `_must_cancel`.
        let t = c.task_mut(id);
        t.cancel_via_waiter = t.waits_on_timer();
        if t.cancel_via_waiter {
            t.error_from_request();
            t.set_own_error(true);
        }
        c.wake(id);
    } else if own {
        c.task_mut(id).set_own_error(true);
    }
    record_suspended(&mut c, id);
}

/// Records the end of a step that suspended, with what the task waits on
/// (a bare yield if it is scheduled again and set no wait).
#[inline(always)]
fn record_suspended(c: &mut super::Core, id: TaskId) {
    if c.tracing() {
        record_suspended_traced(c, id);
    }
}

/// [`record_suspended`] when the run is traced (inlined: a streamed trace
/// records it on every step).
#[inline(always)]
fn record_suspended_traced(c: &mut super::Core, id: TaskId) {
    let t = c.task_mut(id);
    let on = match t.wait_on() {
        Some(on) => on,
        None if t.scheduled => WaitOn::Yield,
        None => WaitOn::Foreign,
    };
    c.record(
        Some(id),
        EventKind::StepEnded {
            end: StepEnd::Suspended { on },
        },
    );
}

/// How a step ended its task.
enum Ending {
    Returned,
    /// The future panicked, with this message.
    Panicked(String),
    Cancelled,
}

fn finish_done(rt: &Runtime, id: TaskId, ending: Ending, fail: super::FailRef) {
    let (fail, callbacks) = {
        let mut c = rt.core.borrow_mut();
        let now = c.now();
        let t = c.task_mut(id);
        // Ended cancelled by `super().cancel(msg=self._cancel_message)`:
        // no `_cancelled_exc`, every reader's error is made from
        // `_cancel_message`, which stays.
        let mut before_stop = false;
        let (end, raised, error) = match ending {
            Ending::Returned => match t.take_raised() {
                // A task that raises ends raised, a cancellation pending or
                // not (`except BaseException: super().set_exception(exc)`).
                Some(msg) => (End::Raised, Some(msg), None),
                // "Task is cancelled right before coro stops."
                None if t.must_cancel => {
                    before_stop = true;
                    t.replace_cancel_msg(None);
                    (End::Cancelled, None, Some(crate::Error::Cancelled))
                }
                None => (End::Returned, None, None),
            },
            Ending::Panicked(msg) => (
                End::Raised,
                Some(msg.clone()),
                Some(crate::Error::Panic(msg)),
            ),
            Ending::Cancelled => (End::Cancelled, None, Some(crate::Error::Cancelled)),
        };
        t.running = false;
        t.must_cancel = false;
        t.cancel_via_waiter = false;
        t.delivering = false;
        t.set_own_error(false);
        if end == End::Cancelled && !before_stop {
            // `Future.cancel(self)`: `_cancel_message` is `None` now; the
            // error the task ended with is its `_cancelled_exc`.
            t.set_request_msg(None);
        }
        t.clear_wait();
        t.clear_catchers();
        // A task that raised keeps its output cell (in its record once its
        // slot is given up): the run's end asks whether its exception was
        // retrieved.
        if end == End::Raised {
            t.keep_fail_slot(fail.clone());
        }
        let fail = error.map(|e| (fail, e));
        let callbacks = t.take_done_callbacks();
        let step_end = match (end, &raised) {
            (End::Returned, _) => StepEnd::Returned,
            (End::Cancelled, _) => StepEnd::Cancelled,
            (End::Raised, msg) => StepEnd::Raised {
                error: c.intern(msg.as_deref().unwrap_or_default()),
            },
        };
        let t = c.task_mut(id);
        t.set_done(now, end, raised);
        t.trim_cold();
        c.live_tasks -= 1;
        c.tasks.ended(id);
        c.record(Some(id), EventKind::StepEnded { end: step_end });
        (fail, callbacks)
    };
    if let Some((slot, err)) = fail {
        slot.fail(err);
    }
    for cb in callbacks.into_callbacks() {
        super::fire_done_callback(cb);
    }
}
