//! The timer store: slots for scheduled callbacks plus the heap that orders
//! them, with asyncio's rules for cancelled timers.
//!
//! Under the `asyncio` model the heap is CPython's `heapq` over `f64`
//! deadlines compared with `<` only (see [`super::heapq`]), and cancelled
//! timers stay in it until they reach the head or until the purge rule of
//! `BaseEventLoop._run_once` fires: more than 100 timers scheduled and more
//! than half of them cancelled ⇒ drop every cancelled one and re-heapify.
//! Under `fifo`, `random` and `pct` the queue orders by (integer deadline,
//! sequence number): equal deadlines fire first-come first-served, in a
//! timing wheel ([`super::wheel`]) rather than a heap.

use super::heapq;
use super::slab::{Key, Slab};
use super::wheel::TimerWheel;
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

/// What a timer runs, and when: read when it runs.
pub(crate) struct TimerSlot {
    pub when_f: f64,
    pub when_ns: u64,
    pub action: Option<TimerAction>,
    /// A label for the trace (`sleep`, `call_later`, `wait_for`, …).
    pub label: u32,
}

/// Where a timer is: read and written as it moves through the heap and the
/// ready queue. Kept apart from [`TimerSlot`], four bytes a timer in one
/// dense vector, so that popping a due timer touches no slot: the slots of
/// a batch of due timers are brought into the cache together before the
/// batch runs (`Core::warm_ready`).
#[derive(Clone, Copy)]
struct Flags {
    state: TimerState,
    /// The timer is in the heap (CPython's `handle._scheduled`).
    in_heap: bool,
    /// The timer was popped as due and waits in the ready queue (its slot
    /// is not freed meanwhile: the queue holds its index).
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
    /// Each slot's [`Flags`], by slot index.
    flags: Vec<Flags>,
    /// Heap of (float deadline, slot) for `Python`, managed by the heapq
    /// port (its tie order is the point).
    py: heapq::FloatHeap,
    /// Timer slots by ns deadline for `Fifo`, equal deadlines in the order
    /// they were scheduled (the reverse under the planted bug `reverse_ties`:
    /// equal deadlines last-come first-served).
    fifo: TimerWheel,
    /// `_timer_cancelled_count`: cancelled timers still in the heap.
    cancelled_in_heap: usize,
}

impl Timers {
    pub fn new(kind: HeapKind, reverse_ties: bool) -> Timers {
        Timers {
            kind,
            slots: Slab::new(),
            flags: Vec::new(),
            py: heapq::FloatHeap::default(),
            fifo: TimerWheel::new(reverse_ties),
            cancelled_in_heap: 0,
        }
    }

    /// Number of timers in the heap, cancelled ones included.
    pub fn len(&self) -> usize {
        match self.kind {
            HeapKind::Python => self.py.len(),
            HeapKind::Fifo => self.fifo.len(),
        }
    }

    /// The timer's state and its deadline in ns, unless its slot was
    /// reused since.
    pub fn state(&self, key: TimerKey) -> Option<(TimerState, u64)> {
        let slot = self.slots.get(key)?;
        Some((self.flags[key.index as usize].state, slot.when_ns))
    }

    fn flags_mut(&mut self, key: TimerKey) -> Option<&mut Flags> {
        self.slots.get(key)?;
        Some(&mut self.flags[key.index as usize])
    }

    /// Schedules a timer and pushes it on the heap (`loop.call_at`).
    /// Inlined for the reason given at `Core::schedule_timer`.
    #[inline(always)]
    pub fn schedule(
        &mut self,
        when_f: f64,
        when_ns: u64,
        action: TimerAction,
        label: u32,
        owned: bool,
    ) -> TimerKey {
        self.schedule_with(when_f, when_ns, move || action, label, owned)
    }

    /// [`schedule`](Self::schedule) with the action made where it is
    /// stored: a direct wake (a task id) is written straight into the slot
    /// instead of through the stack, where its wide read-back stalled on
    /// store forwarding (a fifth of `Sleep::start`).
    #[inline(always)]
    pub fn schedule_with(
        &mut self,
        when_f: f64,
        when_ns: u64,
        make: impl FnOnce() -> TimerAction,
        label: u32,
        owned: bool,
    ) -> TimerKey {
        let key = match self.slots.reuse() {
            Some((key, slot)) => {
                // The old action (none, as a rule: a timer's action is taken
                // when it fires or is cancelled) is taken out before the new
                // one is written, and dropped after: with a destructor to
                // run between, the new action went through the stack.
                // Every field named: a field added to `TimerSlot` must be
                // written here too.
                let TimerSlot {
                    when_f: slot_when_f,
                    when_ns: slot_when_ns,
                    action: slot_action,
                    label: slot_label,
                } = slot;
                let old = slot_action.take();
                *slot_when_f = when_f;
                *slot_when_ns = when_ns;
                *slot_action = Some(make());
                *slot_label = label;
                drop(old);
                key
            }
            None => self.slots.insert(TimerSlot {
                when_f,
                when_ns,
                action: Some(make()),
                label,
            }),
        };
        let index = key.index;
        let flags = Flags {
            state: TimerState::Scheduled,
            in_heap: true,
            in_ready: false,
            owned,
        };
        match self.flags.get_mut(index as usize) {
            Some(f) => *f = flags,
            None => self.flags.push(flags),
        }
        match self.kind {
            HeapKind::Python => self.py.push(when_f, index),
            HeapKind::Fifo => self.fifo.push(when_ns, index),
        }
        key
    }

    /// `TimerHandle.cancel()`: marks the timer cancelled; it stays in the heap
    /// (counted in `_timer_cancelled_count`) or in the ready queue (skipped
    /// when its turn comes). Returns the action so the caller can drop it
    /// outside any borrow. Returns `None` if the timer already fired or was
    /// cancelled.
    pub fn cancel(&mut self, key: TimerKey) -> Option<TimerAction> {
        let flags = self.flags_mut(key)?;
        if flags.state != TimerState::Scheduled {
            return None;
        }
        flags.state = TimerState::Cancelled;
        if flags.in_heap {
            self.cancelled_in_heap += 1;
        }
        self.slots.at_mut(key.index).action.take()
    }

    /// Prefetches slot `index` (see `Core::warm_ready`).
    pub fn prefetch(&self, index: u32) {
        super::prefetch::prefetch(self.slots.at(index));
    }

    /// The task that slot `index` wakes directly, if that is its action.
    pub fn wakes(&self, index: u32) -> Option<crate::trace::TaskId> {
        match self.slots.at(index).action {
            Some(TimerAction::WakeTask(id)) => Some(id),
            _ => None,
        }
    }

    /// Releases an owner's claim on a slot (a `Sleep` being dropped).
    pub fn release_owner(&mut self, key: TimerKey) {
        if let Some(flags) = self.flags_mut(key) {
            flags.owned = false;
            if !flags.in_heap && !flags.in_ready {
                self.slots.free(key.index);
            }
        }
    }

    /// Step 1 of `_run_once`: the purge rule for cancelled timers.
    pub fn purge_cancelled(&mut self) {
        let count = self.len();
        if count > MIN_SCHEDULED_TIMER_HANDLES && self.cancelled_in_heap * 2 > count {
            // `self._timer_cancelled_count / sched_count > 0.5`
            let (flags, slots) = (&mut self.flags, &mut self.slots);
            let keep = |index| keep_in_purge(flags, slots, index);
            match self.kind {
                HeapKind::Python => self.py.retain_and_heapify(keep),
                HeapKind::Fifo => self.fifo.retain(keep),
            }
            self.cancelled_in_heap = 0;
        } else {
            while let Some(index) = self.head() {
                if self.flags[index as usize].state != TimerState::Cancelled {
                    break;
                }
                self.cancelled_in_heap -= 1;
                self.pop_head();
                unqueue(&mut self.flags, &mut self.slots, index);
            }
        }
    }

    fn head(&mut self) -> Option<u32> {
        match self.kind {
            HeapKind::Python => self.py.first().map(|e| e.1),
            HeapKind::Fifo => self.fifo.first().map(|e| e.1),
        }
    }

    fn pop_head(&mut self) -> Option<u32> {
        match self.kind {
            HeapKind::Python => self.py.pop().map(|e| e.1),
            HeapKind::Fifo => self.fifo.pop().map(|e| e.1),
        }
    }

    /// The deadline of the head of the heap: `(float seconds, ns)`.
    pub fn head_deadline(&mut self) -> Option<(f64, u64)> {
        self.head().map(|i| {
            let s = self.slots.at(i);
            (s.when_f, s.when_ns)
        })
    }

    /// Step 3 of `_run_once`: pops the head if it is due, for appending to
    /// the ready queue: under CPython's heap if its float deadline is before
    /// `end_time` (`handle._when >= end_time` stops the loop), under the
    /// FIFO heap if its ns deadline is at most `now_ns`. The deadline is
    /// read from the heap entry, not from the slot: a popped timer's slot is
    /// first touched when it runs (the slots of a large batch are brought
    /// into the cache together, see `Core::warm_ready`).
    /// Returns the slot's index: the ready queue holds it, and the slot is
    /// not freed until [`take_for_run`](Self::take_for_run).
    pub fn pop_due(&mut self, end_time: f64, now_ns: u64) -> Option<u32> {
        let index = match self.kind {
            HeapKind::Python => {
                let (when, index) = self.py.first()?;
                if when >= end_time || when.is_nan() {
                    return None;
                }
                self.py.pop();
                index
            }
            HeapKind::Fifo => {
                let (deadline, index) = self.fifo.first()?;
                if deadline > now_ns {
                    return None;
                }
                self.fifo.pop();
                index
            }
        };
        let flags = &mut self.flags[index as usize];
        if flags.state == TimerState::Cancelled {
            // A cancelled timer popped as due still goes to the ready queue in
            // CPython (it is skipped when run); it no longer counts as
            // scheduled.
            self.cancelled_in_heap -= 1;
        }
        flags.in_heap = false;
        flags.in_ready = true;
        Some(index)
    }

    /// The ready queue reached the popped timer in slot `index`: take its
    /// action if it is still live, mark it fired, and free the slot if
    /// nobody owns it.
    pub fn take_for_run(&mut self, index: u32) -> Option<(TimerAction, u32, u64)> {
        let flags = &mut self.flags[index as usize];
        debug_assert!(flags.in_ready, "a timer runs once, from the ready queue");
        flags.in_ready = false;
        let live = flags.state == TimerState::Scheduled;
        if live {
            flags.state = TimerState::Fired;
        }
        let owned = flags.owned;
        let slot = self.slots.at_mut(index);
        let out = if live {
            slot.action.take().map(|a| (a, slot.label, slot.when_ns))
        } else {
            None
        };
        if !owned {
            slot.action = None;
            self.slots.free(index);
        }
        out
    }
}

/// The purge keeps a live timer; a cancelled one leaves the heap.
fn keep_in_purge(flags: &mut [Flags], slots: &mut Slab<TimerSlot>, index: u32) -> bool {
    if flags[index as usize].state == TimerState::Cancelled {
        unqueue(flags, slots, index);
        false
    } else {
        true
    }
}

/// Slot `index` left the heap and will not enter the ready queue: freed
/// unless a `Sleep` owns it.
fn unqueue(flags: &mut [Flags], slots: &mut Slab<TimerSlot>, index: u32) {
    let flags = &mut flags[index as usize];
    flags.in_heap = false;
    if !flags.owned {
        slots.at_mut(index).action = None;
        slots.free(index);
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
        while let Some(i) = t.pop_due(now + 1e-9, (now * 1e9).round() as u64) {
            if let Some((_, label, _)) = t.take_for_run(i) {
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
    fn fifo_purge_keeps_the_order_of_what_is_left() {
        // 150 timers over three deadlines (ties), 90 of them cancelled: the
        // purge rule fires, and the rest fire by deadline, ties in order.
        let mut t = Timers::new(HeapKind::Fifo, false);
        let keys: Vec<_> = (0..150u32)
            .map(|i| {
                let ns = 1_000_000 * u64::from(3 - i % 3);
                t.schedule(ns as f64 / 1e9, ns, call(), i, false)
            })
            .collect();
        for (i, k) in keys.iter().enumerate() {
            if i % 5 != 0 {
                t.cancel(*k);
            }
        }
        t.purge_cancelled();
        assert_eq!(t.len(), 30, "the purge dropped every cancelled timer");
        let got = drain_due(&mut t, 0.003);
        let mut want: Vec<u64> = (0..150).filter(|i| i % 5 == 0).collect();
        want.sort_by_key(|i| (3 - i % 3, *i));
        assert_eq!(got, want);
    }

    #[test]
    fn reverse_ties_fire_last_come_first_served() {
        let mut t = Timers::new(HeapKind::Fifo, true);
        for i in 0..4 {
            t.schedule(0.01, 10_000_000, call(), i, false);
        }
        t.schedule(0.005, 5_000_000, call(), 9, false);
        assert_eq!(drain_due(&mut t, 0.01), vec![9, 3, 2, 1, 0]);
    }

    #[test]
    fn a_cancelled_front_dropped_early_leaves_earlier_timers_in_order() {
        // The purge drops a cancelled far timer from the front before it is
        // due; timers scheduled after that, earlier than it, fire in order.
        let mut t = Timers::new(HeapKind::Fifo, false);
        let far = t.schedule(3600.0, 3_600_000_000_000, call(), 0, false);
        t.cancel(far);
        t.purge_cancelled();
        assert_eq!(t.len(), 0);
        for (i, ms) in [(1, 20u64), (2, 10), (3, 20), (4, 10)] {
            t.schedule(ms as f64 / 1e3, ms * 1_000_000, call(), i, false);
        }
        assert_eq!(drain_due(&mut t, 0.02), vec![2, 4, 1, 3]);
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
