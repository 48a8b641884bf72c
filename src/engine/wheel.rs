//! The FIFO models' timer queue: a hierarchical timing wheel over `u64`
//! nanosecond deadlines, exact to the nanosecond, equal deadlines first-come
//! first-served.
//!
//! `fifo`, `random` and `pct` need no heapq tie order, only (deadline,
//! sequence) order. A binary heap pays a dependent walk of `log2 n` levels
//! for every pop (13 levels at 10k timers). A wheel in tokio's shape pays a
//! few list moves instead, whatever the deadlines: distinct or tied.
//!
//! # Shape
//!
//! Eleven levels of 64 slots cover every `u64`: level `L` sorts deadlines by
//! bits `6L..6L+6`. A deadline `d >= elapsed` (the wheel's time) goes to the
//! level of the highest bit in which it differs from `elapsed`, and to the
//! slot its bits there name. So:
//! - a level-0 slot holds one deadline exactly;
//! - every deadline at level `L` is smaller than every deadline above it, and
//!   at a level above 0 its slot is after `elapsed`'s slot there;
//! - all timers of one deadline are in one slot (placed earlier, a timer sat
//!   at a level at least as high; higher would break the previous rule), so a
//!   list per slot, appended to, keeps them first-come first-served.
//!
//! The front is the head of the lowest level-0 slot. When level 0 is empty,
//! the lowest slot of the lowest level is cascaded: `elapsed` moves to the
//! slot's start and its timers move down a level or more, in list order
//! (ties keep their order), until level 0 has a timer. Taking the front
//! moves `elapsed` to its deadline.
//!
//! `elapsed` may so pass the loop's clock (the front is looked at before it
//! is due, and the purge drops a cancelled front early). A deadline before
//! `elapsed` then goes to `early`, a binary heap of (deadline, sequence):
//! every deadline there is before every deadline in the wheel, so the early
//! ones come out first. Each is a deadline before the next timer's (or a
//! `call_at` in the past), and the loop reaches it before any other. Once
//! the early heap holds more than the wheel, the wheel is rewound to the
//! earliest early deadline and takes them all in
//! ([`TimerWheel::rewind`]): a far timer at the front does not leave the
//! wheel's time ahead for good.
//!
//! The planted `reverse_ties` bug (`lifo`) puts a timer first in its slot
//! rather than last, and reverses the early heap's sequence.

use super::heapq::KeyHeap;

/// No timer: the end of a list, an empty slot.
const NIL: u32 = u32::MAX;
/// Levels of the wheel: `6 * 11 = 66` bits cover a `u64` deadline.
const LEVELS: usize = 11;
/// Slots a level (six bits of the deadline).
const SLOTS: usize = 64;
/// The early heap's size from which the wheel may be rewound
/// ([`TimerWheel::rewind`]); small in the tests, so that their random
/// histories rewind often.
const REWIND_AT: usize = if cfg!(test) { 4 } else { 64 };

/// A slot's list: its first and last timers ([`NIL`] when empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// A priority queue of `u32` payloads (each in the queue at most once, and
/// small: they index the queue's per-timer arrays) by `u64` deadline, equal
/// deadlines in the order they came (see the module's doc).
pub struct TimerWheel {
    elapsed: u64,
    /// `slots[level * SLOTS + slot]`.
    slots: Vec<List>,
    /// Bit `s` of `occupied[level]`: that slot is not empty.
    occupied: [u64; LEVELS],
    /// Bit `level`: that level is not empty.
    levels: u16,
    /// By payload: the next payload in its list, or [`NIL`].
    next: Vec<u32>,
    /// By payload: its deadline.
    when: Vec<u64>,
    /// Payloads in the wheel (not counting `early`).
    len: usize,
    /// Deadlines before `elapsed`: keys `deadline << 64 | sequence`.
    early: KeyHeap<u128>,
    early_seq: u64,
    lifo: bool,
}

impl TimerWheel {
    /// A queue whose equal deadlines come out first-come first-served, or
    /// last-come first-served if `lifo`.
    pub fn new(lifo: bool) -> TimerWheel {
        TimerWheel {
            elapsed: 0,
            slots: vec![EMPTY; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            levels: 0,
            next: Vec::new(),
            when: Vec::new(),
            len: 0,
            early: KeyHeap::default(),
            early_seq: 0,
            lifo,
        }
    }

    /// Payloads in the queue.
    pub fn len(&self) -> usize {
        self.len + self.early.len()
    }

    /// Adds `val` (not in the queue) at `deadline`, after the payloads
    /// already there (before them if `lifo`).
    #[inline]
    pub fn push(&mut self, deadline: u64, val: u32) {
        debug_assert!(val != NIL, "payload u32::MAX is the end-of-list mark");
        if deadline < self.elapsed {
            self.push_early(deadline, val);
            return;
        }
        let i = val as usize;
        if i >= self.next.len() {
            self.grow(i);
        }
        self.when[i] = deadline;
        self.len += 1;
        self.place(deadline, val, self.lifo);
    }

    #[cold]
    #[inline(never)]
    fn push_early(&mut self, deadline: u64, val: u32) {
        self.early_seq += 1;
        let order = if self.lifo {
            u64::MAX - self.early_seq
        } else {
            self.early_seq
        };
        self.early
            .push(u128::from(deadline) << 64 | u128::from(order), val);
        if self.early.len() >= REWIND_AT && self.early.len() > self.len {
            self.rewind();
        }
    }

    /// Sets the wheel's time back to the earliest early deadline and moves
    /// every timer in again: the wheel's, each slot's list in order (ties
    /// keep their order), then the early ones in the order they come out.
    /// `elapsed` can run far ahead of the clock (a timer an hour or for
    /// ever away looked at as the front, or dropped by the purge); without
    /// this, every timer after it would go to the early heap until the
    /// clock caught up. It runs once the early heap holds more than the
    /// wheel: its O(n) cost is paid by the pushes since the last time.
    #[cold]
    #[inline(never)]
    fn rewind(&mut self) {
        let Some((key, _)) = self.early.first() else {
            return;
        };
        let mut lists = Vec::new();
        for level in 0..LEVELS {
            let mut bits = self.occupied[level];
            while bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                lists.push(std::mem::replace(
                    &mut self.slots[level * SLOTS + slot],
                    EMPTY,
                ));
            }
            self.occupied[level] = 0;
        }
        self.levels = 0;
        self.elapsed = (key >> 64) as u64;
        for list in lists {
            let mut at = list.head;
            while at != NIL {
                let next = self.next[at as usize];
                self.place(self.when[at as usize], at, false);
                at = next;
            }
        }
        while let Some((key, val)) = self.early.pop() {
            let deadline = (key >> 64) as u64;
            let i = val as usize;
            if i >= self.next.len() {
                self.grow(i);
            }
            self.when[i] = deadline;
            self.len += 1;
            self.place(deadline, val, false);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) {
        let n = (i + 1).max(self.next.len() * 2);
        self.next.resize(n, NIL);
        self.when.resize(n, 0);
    }

    /// Links `val` (deadline `d >= elapsed`) into its slot: last, or first
    /// if `first`.
    #[inline(always)]
    fn place(&mut self, d: u64, val: u32, first: bool) {
        let level = level_of(d, self.elapsed);
        let slot = ((d >> (6 * level)) & 63) as usize;
        let list = &mut self.slots[level * SLOTS + slot];
        if list.head == NIL {
            self.next[val as usize] = NIL;
            *list = List {
                head: val,
                tail: val,
            };
            self.occupied[level] |= 1 << slot;
            self.levels |= 1 << level;
        } else if first {
            self.next[val as usize] = list.head;
            list.head = val;
        } else {
            self.next[val as usize] = NIL;
            self.next[list.tail as usize] = val;
            list.tail = val;
        }
    }

    /// The smallest deadline and the payload that comes out first. Brings
    /// it to level 0 first: the lowest slot of the lowest level is
    /// cascaded, and again, until level 0 has a timer.
    #[inline]
    pub fn first(&mut self) -> Option<(u64, u32)> {
        if self.early.len() > 0 {
            return self.early.first().map(|(k, v)| ((k >> 64) as u64, v));
        }
        if self.levels & 1 == 0 {
            if self.levels == 0 {
                return None;
            }
            self.cascade();
        }
        let slot = self.occupied[0].trailing_zeros() as usize;
        Some((self.elapsed & !63 | slot as u64, self.slots[slot].head))
    }

    /// Takes the front, with its deadline.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, u32)> {
        let (deadline, val) = self.first()?;
        if self.early.len() > 0 {
            return self.early.pop().map(|(k, v)| ((k >> 64) as u64, v));
        }
        self.len -= 1;
        let slot = (deadline & 63) as usize;
        let list = &mut self.slots[slot];
        if list.tail == val {
            *list = EMPTY;
            self.occupied[0] &= !(1 << slot);
            if self.occupied[0] == 0 {
                self.levels &= !1;
            }
        } else {
            list.head = self.next[val as usize];
        }
        // Later deadlines land on lower levels.
        self.elapsed = deadline;
        Some((deadline, val))
    }

    /// Moves the timers of the lowest slot of the lowest level down, into
    /// lower levels, until level 0 has a timer: `elapsed` moves to each
    /// slot's start. Ties keep their order (the lists are walked in order
    /// and appended to).
    #[inline(never)]
    fn cascade(&mut self) {
        while self.levels & 1 == 0 {
            let level = self.levels.trailing_zeros() as usize;
            let slot = self.occupied[level].trailing_zeros() as usize;
            let list = std::mem::replace(&mut self.slots[level * SLOTS + slot], EMPTY);
            self.occupied[level] &= !(1 << slot);
            if self.occupied[level] == 0 {
                self.levels &= !(1 << level);
            }
            // The slot's start: `elapsed`'s bits above this level, the
            // slot's number at it, zeros below.
            let shift = 6 * level;
            let above = if shift + 6 >= 64 {
                0
            } else {
                self.elapsed >> (shift + 6) << (shift + 6)
            };
            self.elapsed = above | (slot as u64) << shift;
            let mut at = list.head;
            while at != NIL {
                let next = self.next[at as usize];
                self.place(self.when[at as usize], at, false);
                at = next;
            }
        }
    }

    /// Keeps the payloads `keep` accepts, in their order (the purge of
    /// cancelled timers). `keep` sees the early ones in their heap's order,
    /// then the wheel's level by level, slot by slot, each list in order.
    pub fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.early.retain_and_heapify(&mut keep);
        for level in 0..LEVELS {
            let mut bits = self.occupied[level];
            while bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let list = std::mem::replace(&mut self.slots[level * SLOTS + slot], EMPTY);
                let mut kept = EMPTY;
                let mut at = list.head;
                while at != NIL {
                    let next = self.next[at as usize];
                    if keep(at) {
                        self.next[at as usize] = NIL;
                        if kept.head == NIL {
                            kept.head = at;
                        } else {
                            self.next[kept.tail as usize] = at;
                        }
                        kept.tail = at;
                    } else {
                        self.len -= 1;
                    }
                    at = next;
                }
                self.slots[level * SLOTS + slot] = kept;
                if kept.head == NIL {
                    self.occupied[level] &= !(1 << slot);
                }
            }
            if self.occupied[level] == 0 {
                self.levels &= !(1 << level);
            }
        }
    }
}

/// The level of deadline `d` (`>= elapsed`): that of the highest bit in
/// which it differs from `elapsed` (level 0 if none).
#[inline(always)]
fn level_of(d: u64, elapsed: u64) -> usize {
    (63 - ((d ^ elapsed) | 1).leading_zeros() as usize) / 6
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// A random history of pushes (at, after and before the loop's clock,
    /// with many ties and spreads from a few ns to 2^62), pops of due
    /// timers, pops of fronts not yet due (the purge's), looks at the front
    /// and purges, run on the wheel and on a binary heap of `deadline << 64
    /// | sequence` keys (the order the FIFO models define): every answer is
    /// the same. The sequence is reversed for `lifo`.
    #[test]
    fn pops_what_a_heap_of_deadline_and_sequence_pops() {
        for seed in 0..400u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            // Independent of the spread (`seed % 5`): lifo with dense ties too.
            let lifo = (seed / 5) % 4 == 3;
            let mut q = TimerWheel::new(lifo);
            let mut heap = KeyHeap::<u128>::default();
            let mut free: Vec<u32> = (0..400).rev().collect();
            let mut now: u64 = [0, 1 << 40, u64::MAX - (1 << 20)][seed as usize % 3];
            let mut seq: u64 = 0;
            let spread: u64 = [3, 64, 5000, 1 << 30, 1 << 62][seed as usize % 5];
            let key = |d: u64, s: u64| {
                let order = if lifo { u64::MAX - s } else { s };
                u128::from(d) << 64 | u128::from(order)
            };
            for _ in 0..3_000 {
                match rng.random_range(0..100) {
                    0..45 => {
                        let Some(val) = free.pop() else { continue };
                        seq += 1;
                        let deadline = match rng.random_range(0..20) {
                            0 => now.saturating_sub(rng.random_range(0..spread)),
                            1 => now,
                            _ => now.saturating_add(rng.random_range(0..spread)),
                        };
                        q.push(deadline, val);
                        heap.push(key(deadline, seq), val);
                    }
                    45..75 => {
                        // The loop's step: the clock moves to the front if
                        // nothing is due, then due timers leave.
                        if let Some((k, _)) = heap.first() {
                            now = now.max((k >> 64) as u64);
                        }
                        while heap.first().is_some_and(|(k, _)| (k >> 64) as u64 <= now) {
                            let want = heap.pop().map(|(k, v)| ((k >> 64) as u64, v));
                            assert_eq!(q.first(), want, "seed {seed}");
                            let got = q.pop();
                            assert_eq!(got, want, "seed {seed}");
                            free.push(got.expect("due").1);
                            if rng.random_range(0..4) == 0 {
                                break;
                            }
                        }
                    }
                    75..80 => {
                        // The purge drops a cancelled front, due or not.
                        let want = heap.pop().map(|(k, v)| ((k >> 64) as u64, v));
                        assert_eq!(q.pop(), want, "seed {seed}");
                        free.extend(want.map(|w| w.1));
                    }
                    80..97 => {
                        let want = heap.first().map(|(k, v)| ((k >> 64) as u64, v));
                        assert_eq!(q.first(), want, "seed {seed}");
                    }
                    _ => {
                        let m = rng.random_range(2..5u32);
                        let before = q.len();
                        let mut seen = vec![];
                        q.retain(|v| {
                            seen.push(v);
                            v % m != 0
                        });
                        heap.retain_and_heapify(|v| v % m != 0);
                        assert_eq!(seen.len(), before, "the purge sees each payload once");
                        free.extend(seen.iter().filter(|v| *v % m == 0));
                    }
                }
                assert_eq!(q.len(), heap.len(), "seed {seed}");
            }
            while let Some((k, v)) = heap.pop() {
                let d = (k >> 64) as u64;
                now = now.max(d);
                assert_eq!(q.pop(), Some((d, v)), "seed {seed}");
            }
            assert_eq!(q.pop(), None);
            assert_eq!(q.len(), 0);
        }
    }

    #[test]
    fn ties_placed_at_different_levels_keep_their_order() {
        // Three timers for 1000 ns scheduled at 0, 900 and 990 ns: the first
        // goes to level 1, the others lower; they come out in order.
        let mut q = TimerWheel::new(false);
        q.push(1000, 0);
        q.push(900, 9);
        assert_eq!(q.pop(), Some((900, 9)));
        q.push(1000, 1);
        q.push(990, 8);
        assert_eq!(q.pop(), Some((990, 8)));
        q.push(1000, 2);
        q.push(u64::MAX, 3);
        let out: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(out, vec![(1000, 0), (1000, 1), (1000, 2), (u64::MAX, 3)]);
        assert_eq!(q.early.len(), 0, "no deadline was before the wheel's time");
    }

    #[test]
    fn a_far_front_does_not_keep_later_timers_in_the_early_heap() {
        // A timer for ever away looked at as the front moves the wheel's
        // time near it; the timers scheduled after it, earlier, go to the
        // early heap until it holds more than the wheel, then the wheel is
        // rewound and takes them in. Ties keep their order (reversed under
        // `lifo`) through the rewind.
        for lifo in [false, true] {
            let mut q = TimerWheel::new(lifo);
            q.push(u64::MAX, 0);
            assert_eq!(q.first(), Some((u64::MAX, 0)));
            let mut want = vec![];
            // Ten timers a deadline, deadlines a microsecond apart.
            for i in 1..=300u32 {
                let d = 1_000 * u64::from(1 + i / 10);
                q.push(d, i);
                want.push((d, i));
            }
            assert_eq!(q.early.len(), 0, "rewound, and the rest in the wheel");
            want.sort_by_key(|&(d, i)| (d, if lifo { u32::MAX - i } else { i }));
            want.push((u64::MAX, 0));
            let got: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
            assert_eq!(got, want, "lifo {lifo}");
        }
    }

    #[test]
    fn a_deadline_before_the_wheels_time_comes_out_first() {
        // Looking at a front far ahead moves the wheel's time near it; two
        // timers scheduled then for earlier go to the early heap, and come
        // out first, in order.
        let mut q = TimerWheel::new(false);
        q.push(1 << 40, 0);
        assert_eq!(q.first(), Some((1 << 40, 0)));
        q.push(20, 1);
        q.push(20, 2);
        q.push(15, 3);
        assert_eq!(q.early.len(), 3);
        let out: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(out, vec![(15, 3), (20, 1), (20, 2), (1 << 40, 0)]);
    }
}
