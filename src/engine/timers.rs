//! The timer store: slots for scheduled callbacks plus the heap that orders
//! them, with asyncio's rules for cancelled timers.
//!
//! Under the `asyncio` model the heap is CPython's `heapq` over `f64`
//! deadlines compared with `<` only (see [`super::heapq`]), and cancelled
//! timers stay in it until they reach the head or until the purge rule of
//! `BaseEventLoop._run_once` fires: more than 100 timers scheduled and more
//! than half of them cancelled ⇒ drop every cancelled one and re-heapify.
//! Under `fifo` and `random` the heap orders by (integer deadline, sequence
//! number): equal deadlines fire first-come first-served.

use super::heapq;
use super::slab::{Key, Slab};
use std::task::Waker;

/// `_MIN_SCHEDULED_TIMER_HANDLES` in `base_events.py`.
const MIN_SCHEDULED_TIMER_HANDLES: usize = 100;

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    /// Wake a task (what `sleep` and `sleep_until` use: the timer handle
    /// completes the sleep's future, which schedules the task's wake-up).
    Wake(Waker),
    /// Wake a task of this run directly (a `sleep` polled by the task
    /// itself: no waker to clone, no trip through the thread-local).
    WakeTask(crate::trace::TaskId),
    /// Run a callback (`call_later`, timeouts).
    Call(Box<dyn FnOnce()>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerState {
    Scheduled,
    Fired,
    Cancelled,
}

pub(crate) struct TimerSlot {
    pub when_f: f64,
    pub when_ns: u64,
    pub state: TimerState,
    pub action: Option<TimerAction>,
    /// A label for the trace (`sleep`, `call_later`, `wait_for`, …).
    pub label: u32,
    /// The slot is in the heap (CPython's `handle._scheduled`).
    in_heap: bool,
    /// The slot was popped as due and waits in the ready queue.
    in_ready: bool,
    /// The slot is referenced by a live owner (a `Sleep`), which frees it.
    owned: bool,
}

/// A reference to a timer slot that survives slot reuse.
pub(crate) type TimerKey = Key;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeapKind {
    /// CPython `heapq` over float deadlines, ties in heap order.
    Python,
    /// Ordered by (deadline ns, sequence): ties first-come first-served.
    Fifo,
}

pub(crate) struct Timers {
    kind: HeapKind,
    slots: Slab<TimerSlot>,
    /// Heap of (float deadline, slot) for `Python`, a plain vector managed
    /// by the heapq port (its tie order is the point).
    py: Vec<(f64, u32)>,
    /// (ns deadline, seq, slot) for `Fifo`: the keys are unique, so any
    /// priority queue pops them in the same order; the standard library's
    /// is the fastest at hand.
    fifo: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u64, u32)>>,
    /// `_timer_cancelled_count`: cancelled timers still in the heap.
    cancelled_in_heap: usize,
    next_seq: u64,
    /// A planted bug: equal deadlines last-come first-served.
    reverse_ties: bool,
}

impl Timers {
    pub fn new(kind: HeapKind, reverse_ties: bool) -> Timers {
        Timers {
            kind,
            slots: Slab::new(),
            py: Vec::new(),
            fifo: std::collections::BinaryHeap::new(),
            cancelled_in_heap: 0,
            next_seq: 0,
            reverse_ties,
        }
    }

    /// Number of timers in the heap, cancelled ones included.
    pub fn len(&self) -> usize {
        match self.kind {
            HeapKind::Python => self.py.len(),
            HeapKind::Fifo => self.fifo.len(),
        }
    }

    pub fn slot(&self, key: TimerKey) -> Option<&TimerSlot> {
        self.slots.get(key)
    }

    pub fn slot_mut(&mut self, key: TimerKey) -> Option<&mut TimerSlot> {
        self.slots.get_mut(key)
    }

    /// Schedules a timer and pushes it on the heap (`loop.call_at`).
    pub fn schedule(
        &mut self,
        when_f: f64,
        when_ns: u64,
        action: TimerAction,
        label: u32,
        owned: bool,
    ) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = TimerSlot {
            when_f,
            when_ns,
            state: TimerState::Scheduled,
            action: Some(action),
            label,
            in_heap: true,
            in_ready: false,
            owned,
        };
        let key = self.slots.insert(slot);
        let index = key.index;
        match self.kind {
            HeapKind::Python => heapq::push(&mut self.py, (when_f, index), |a, b| a.0 < b.0),
            HeapKind::Fifo => {
                let order = if self.reverse_ties {
                    u64::MAX - seq
                } else {
                    seq
                };
                self.fifo.push(std::cmp::Reverse((when_ns, order, index)))
            }
        }
        key
    }

    /// `TimerHandle.cancel()`: marks the timer cancelled; it stays in the heap
    /// (counted in `_timer_cancelled_count`) or in the ready queue (skipped
    /// when its turn comes). Returns the action so the caller can drop it
    /// outside any borrow. Returns `None` if the timer already fired or was
    /// cancelled.
    pub fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        let slot = self.slot_mut(key)?;
        if slot.state != TimerState::Scheduled {
            return None;
        }
        slot.state = TimerState::Cancelled;
        let action = slot.action.take();
        if slot.in_heap {
            self.cancelled_in_heap += 1;
        }
        action
    }

    /// Releases an owner's claim on a slot (a `Sleep` being dropped).
    pub fn release_owner(&mut self, key: TimerKey) {
        if let Some(slot) = self.slot_mut(key) {
            slot.owned = false;
            if !slot.in_heap && !slot.in_ready {
                self.slots.free(key.index);
            }
        }
    }

    /// Step 1 of `_run_once`: the purge rule for cancelled timers.
    pub fn purge_cancelled(&mut self) {
        let count = self.len();
        if count > MIN_SCHEDULED_TIMER_HANDLES && self.cancelled_in_heap * 2 > count {
            // `self._timer_cancelled_count / sched_count > 0.5`
            match self.kind {
                HeapKind::Python => {
                    let old = std::mem::take(&mut self.py);
                    let mut kept = Vec::with_capacity(old.len() - self.cancelled_in_heap);
                    for entry in old {
                        if self.slots.at(entry.1).state == TimerState::Cancelled {
                            self.unqueue(entry.1);
                        } else {
                            kept.push(entry);
                        }
                    }
                    heapq::heapify(&mut kept, |a, b| a.0 < b.0);
                    self.py = kept;
                }
                HeapKind::Fifo => {
                    let old = std::mem::take(&mut self.fifo).into_vec();
                    let mut kept = Vec::with_capacity(old.len() - self.cancelled_in_heap);
                    for entry in old {
                        if self.slots.at(entry.0.2).state == TimerState::Cancelled {
                            self.unqueue(entry.0.2);
                        } else {
                            kept.push(entry);
                        }
                    }
                    self.fifo = kept.into();
                }
            }
            self.cancelled_in_heap = 0;
        } else {
            while let Some(index) = self.head() {
                if self.slots.at(index).state != TimerState::Cancelled {
                    break;
                }
                self.cancelled_in_heap -= 1;
                self.pop_head();
                self.unqueue(index);
            }
        }
    }

    fn head(&self) -> Option<u32> {
        match self.kind {
            HeapKind::Python => self.py.first().map(|e| e.1),
            HeapKind::Fifo => self.fifo.peek().map(|e| e.0.2),
        }
    }

    fn pop_head(&mut self) -> Option<u32> {
        match self.kind {
            HeapKind::Python => heapq::pop(&mut self.py, |a, b| a.0 < b.0).map(|e| e.1),
            HeapKind::Fifo => self.fifo.pop().map(|e| e.0.2),
        }
    }

    /// The slot left the heap and will not enter the ready queue.
    fn unqueue(&mut self, index: u32) {
        let slot = self.slots.at_mut(index);
        slot.in_heap = false;
        if !slot.owned {
            slot.action = None;
            self.slots.free(index);
        }
    }

    /// The deadline of the head of the heap: `(float seconds, ns)`.
    pub fn head_deadline(&self) -> Option<(f64, u64)> {
        self.head().map(|i| {
            let s = self.slots.at(i);
            (s.when_f, s.when_ns)
        })
    }

    /// Step 3 of `_run_once`: pops the head if it is due, for appending to
    /// the ready queue. `due` decides from the head's (float, ns) deadline.
    pub fn pop_due(&mut self, due: impl Fn(f64, u64) -> bool) -> Option<TimerKey> {
        let (f, ns) = self.head_deadline()?;
        if !due(f, ns) {
            return None;
        }
        let index = self.pop_head()?;
        let slot = self.slots.at_mut(index);
        if slot.state == TimerState::Cancelled {
            // A cancelled timer popped as due still goes to the ready queue in
            // CPython (it is skipped when run); it no longer counts as
            // scheduled.
            self.cancelled_in_heap -= 1;
        }
        slot.in_heap = false;
        slot.in_ready = true;
        Some(self.slots.key_of(index))
    }

    /// The ready queue reached a popped timer: take its action if it is still
    /// live, mark it fired, and free the slot if nobody owns it.
    pub fn take_for_run(&mut self, key: TimerKey) -> Option<(TimerAction, u32, u64)> {
        let slot = self.slot_mut(key)?;
        slot.in_ready = false;
        let out = if slot.state == TimerState::Scheduled {
            slot.state = TimerState::Fired;
            slot.action.take().map(|a| (a, slot.label, slot.when_ns))
        } else {
            None
        };
        if !slot.owned {
            slot.action = None;
            self.slots.free(key.index);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> TimerAction {
        TimerAction::Call(Box::new(|| {}))
    }

    /// The labels of the timers due by `now`, in the order they run (the
    /// tests label each timer with its scheduling order).
    fn drain_due(t: &mut Timers, now: f64) -> Vec<u64> {
        let mut out = vec![];
        t.purge_cancelled();
        while let Some(k) = t.pop_due(|f, _| f < now + 1e-9) {
            if let Some((_, label, _)) = t.take_for_run(k) {
                out.push(u64::from(label));
            }
        }
        out
    }

    #[test]
    fn python_heap_ties_follow_heapq_not_insertion() {
        let mut t = Timers::new(HeapKind::Python, false);
        for i in 0..5 {
            t.schedule(0.01, 10_000_000, call(), i, false);
        }
        assert_eq!(drain_due(&mut t, 0.01), vec![0, 2, 4, 1, 3]);
    }

    #[test]
    fn fifo_heap_ties_are_first_come_first_served() {
        let mut t = Timers::new(HeapKind::Fifo, false);
        for i in 0..5 {
            t.schedule(0.01, 10_000_000, call(), i, false);
        }
        assert_eq!(drain_due(&mut t, 0.01), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn cancelled_timers_stay_until_head_or_purge() {
        let mut t = Timers::new(HeapKind::Python, false);
        let keys: Vec<_> = (0..150)
            .map(|i| t.schedule(1.0 + i as f64, 0, call(), 0, false))
            .collect();
        // Cancel 60 of 150 (not more than half): stays, only head pops.
        for k in &keys[1..61] {
            assert!(t.cancel(*k).is_some());
        }
        assert_eq!(t.cancelled_in_heap, 60);
        t.purge_cancelled();
        assert_eq!(t.len(), 150, "head is live, nothing purged");
        // Cancel the head and 20 more: 81 of 150 > half ⇒ purge and heapify.
        for k in keys[0..1].iter().chain(&keys[61..81]) {
            t.cancel(*k);
        }
        t.purge_cancelled();
        assert_eq!(t.len(), 69);
        assert_eq!(t.cancelled_in_heap, 0);
        assert!(t.cancel(keys[0]).is_none(), "already cancelled");
    }

    #[test]
    fn a_timer_slot_stays_small() {
        // One per sleeping task, a million at a time in `loopsim bench`
        // (56 bytes in the slab, with its generation).
        let size = std::mem::size_of::<TimerSlot>();
        assert!(size <= 48, "a TimerSlot is {size} bytes");
    }

    #[test]
    fn slots_are_reused_and_stale_keys_do_nothing() {
        let mut t = Timers::new(HeapKind::Fifo, false);
        let k = t.schedule(0.0, 0, call(), 0, false);
        assert_eq!(drain_due(&mut t, 0.0).len(), 1);
        let k2 = t.schedule(0.0, 0, call(), 0, false);
        assert_eq!(k.index, k2.index);
        assert_ne!(k.generation, k2.generation);
        assert!(
            t.cancel(k).is_none(),
            "stale key must not cancel the new timer"
        );
        assert!(t.cancel(k2).is_some());
    }
}
