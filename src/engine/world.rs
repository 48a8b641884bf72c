//! The world outside the loop: what happens at a virtual time without the
//! loop running it — a server finishing a request, a pool thread finishing
//! its job, a process starting. Each is a *world event*: an action due at an
//! instant, kept in its own queue beside the timer heap.
//!
//! # When world events run
//!
//! Not as handles: a world event is never in the ready queue, never counts
//! as a step or an iteration, and runs with no task current. It stands for
//! another thread (a pool worker, the kernel delivering a response) and
//! reaches the loop only as such a thread does, through
//! `call_soon_threadsafe`: its action typically calls
//! [`Core::call_soon`](super::Core::call_soon), waking the loop's `select`.
//!
//! - **While the loop waits** (step 2 of `_run_once`, nothing ready), the
//!   clock moves to the earliest of the next timer and the next world event.
//!   World events due first run one by one, in (time, scheduling order); as
//!   soon as one leaves something ready, `select` returns at that instant.
//!   A world event due at the same instant as a timer runs first: a thread's
//!   `call_soon_threadsafe` appends to the ready queue during `select`,
//!   before `_run_once` moves the due timers.
//! - **While a step holds the loop** (a blocking call advances the clock),
//!   the world events due by the end of the block run at its end, before
//!   anything the step does afterwards: the thread appended its callback
//!   while the step was blocking.
//! - At the start of every iteration, world events due by now run (none, if
//!   the rules above ran them all).

use super::Core;
use crate::time::Duration;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry {
    when_f: f64,
    when_ns: u64,
    seq: u64,
    action: Box<dyn FnOnce()>,
}

impl Entry {
    fn key(&self) -> (f64, u64, u64) {
        (self.when_f, self.when_ns, self.seq)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.key(), other.key());
        b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2))
    }
}

/// The queue of world events of one run.
#[derive(Default)]
pub(crate) struct World {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl World {
    /// The earliest event's time `(float, ns)`.
    pub fn head(&self) -> Option<(f64, u64)> {
        self.heap.peek().map(|e| (e.when_f, e.when_ns))
    }

    fn push(&mut self, when: (f64, u64), action: Box<dyn FnOnce()>) {
        self.seq += 1;
        self.heap.push(Entry {
            when_f: when.0,
            when_ns: when.1,
            seq: self.seq,
            action,
        });
    }

    fn pop(&mut self) -> Option<Box<dyn FnOnce()>> {
        self.heap.pop().map(|e| e.action)
    }

    /// Every action still queued (for teardown).
    pub fn take_all(&mut self) -> Vec<Box<dyn FnOnce()>> {
        std::mem::take(&mut self.heap)
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

impl Core {
    /// Schedules `action` to happen in the world `after` from now.
    pub fn schedule_world(&mut self, after: Duration, action: Box<dyn FnOnce()>) {
        let when = self.clock.deadline_after(after);
        self.world.push(when, action);
    }

    /// Whether the earliest world event is due by `(float, ns)` (the
    /// timer's deadline, or now).
    pub(super) fn world_due_by(&self, by: (f64, u64)) -> bool {
        match self.world.head() {
            None => false,
            Some((f, _)) if self.clock.is_float() => f <= by.0,
            Some((_, ns)) => ns <= by.1,
        }
    }

    /// The earliest world event's time, if any.
    pub(super) fn world_head(&self) -> Option<(f64, u64)> {
        self.world.head()
    }

    /// Moves the clock to the earliest world event and takes its action.
    pub(super) fn take_world_head(&mut self) -> Option<Box<dyn FnOnce()>> {
        let (f, ns) = self.world.head()?;
        let from = self.now();
        self.advance_to_timer(f, ns);
        if self.now() != from {
            self.record(None, crate::trace::EventKind::ClockAdvanced { from });
        }
        self.world.pop()
    }

    /// The world's queued actions (for teardown).
    pub fn take_world(&mut self) -> Vec<Box<dyn FnOnce()>> {
        self.world.take_all()
    }
}

/// Runs the world events due by now, in order, with the core released.
pub(crate) fn run_world_due(rt: &super::Runtime) {
    loop {
        let action = {
            let mut c = rt.core.borrow_mut();
            let now = (c.clock.time_f(), c.clock.now().as_nanos());
            if !c.world_due_by(now) {
                return;
            }
            c.world.pop()
        };
        match action {
            Some(f) => f(),
            None => return,
        }
    }
}

/// Runs the world events due by now (after a blocking call advanced the
/// clock inside a step).
pub(crate) fn run_world_due_now() {
    if let Some(rt) = super::context::current() {
        run_world_due(&rt);
    }
}
