//! The task table: every task of a run by id, its slot while it may still
//! change, a 16-byte record once it has finished and its slot was given up.
//!
//! Ids are the trace's (`Task-N`): 1, 2, 3, … in creation order, never
//! reused. Slots are. They form a *window*: one vector holding the slots of
//! ids `first..first + len`, indexed by `id - first`, so reaching a task on
//! the hot path costs what a plain vector did (the subtraction reads
//! `first` instead of the constant 1). Ids below the window have *retired*:
//!
//! - the window's front retires a block of 4096 ids at a time, once every
//!   id of the block has been given out and at most 64 of its tasks are
//!   unfinished (at most half of them once the window is 8 blocks long, so
//!   that a few long-lived tasks made early do not hold every later block);
//! - its finished tasks become [`Record`]s (when and how each ended, its
//!   name; the few with a cancellation count, an error or a cancellation
//!   message keep a [`Rare`] beside it, in a map);
//! - its unfinished ones keep their slots among the *survivors*, and their
//!   records say where (reaching one is two indexings more).
//!
//! The front retires when a new block starts: slots are given up when new
//! tasks need room, and a run whose tasks all end at once (W1) spends
//! nothing on it. Retiring moves the rest of the window down, so it also
//! waits until the retirable front is at least half the window: each slot
//! is moved at most once per slot retired. A run of a million short tasks
//! one after another then holds a block or two of slots, not a million.
//!
//! Questions about a finished task read its record ([`TaskView`]).
//! `uncancel()` and handing its cancellation message to an awaiter change
//! the record in place; any other change brings its slot back whole among
//! the survivors, and it is folded back into its record when the next task
//! ends.

use super::tasks::{Rare, Record, TaskSlot, TaskView};
use crate::trace::TaskId;
use std::cell::Cell;
use std::collections::BTreeMap;

/// Ids per block: `1 << BLOCK_BITS` (4096 slots of 104 bytes).
const BLOCK_BITS: u32 = 12;
/// A full block may retire once at most this many of its tasks are
/// unfinished (and at most half of them, for the small blocks of tests).
const MAX_LOOSE: u32 = 64;
/// Once the window holds this many full blocks, a block may retire with up
/// to half its tasks unfinished.
const LONG_WINDOW: usize = 8;
/// Finished tasks brought back at once before the earlier ones are folded
/// back into their records.
const MAX_REVIVED: usize = 64;

thread_local! {
    static BITS_HERE: Cell<u32> = const { Cell::new(BLOCK_BITS) };
}

/// For tests: runs this thread starts afterwards retire `1 << bits` ids at
/// a time (`bits` at most 12; `None`: the default), so that tasks retire in
/// small programs too. Nothing a run shows may depend on it.
pub fn task_block_bits_on_this_thread(bits: Option<u32>) {
    BITS_HERE.with(|b| b.set(bits.unwrap_or(BLOCK_BITS).min(BLOCK_BITS)));
}

pub(crate) struct TaskTable {
    /// The window: the slots of ids `first..first + slots.len()`.
    slots: Vec<TaskSlot>,
    /// The window's first id (ids below it have retired).
    first: usize,
    /// Tasks created (ids `1..=len`).
    len: u32,
    /// Ids per block: `1 << bits`.
    bits: u32,
    /// A full block may retire once at most this many of its tasks are
    /// unfinished.
    max_loose: u32,
    /// Full blocks at the window's front known to have at most `max_loose`
    /// unfinished tasks (a full block gets no new task: it stays so).
    ready: usize,
    /// Tasks ended so far.
    ends: u64,
    /// After a long window's front failed to retire (a look may read half a
    /// block): `ends` when to look again.
    next_look: u64,
    /// The records of retired ids (`1..first`), by id − 1.
    records: Vec<Record>,
    /// The rest of the few records that have one, by id.
    rare: BTreeMap<u32, Rare>,
    /// The slots of retired ids that have one (their records say which),
    /// with their ids; `None` where a slot was given up.
    survivors: Vec<Option<(u32, TaskSlot)>>,
    /// Survivor places given up, for the next.
    free: Vec<u32>,
    /// Finished tasks brought back among the survivors, to fold back into
    /// their records.
    revived: Vec<u32>,
}

#[cold]
#[inline(never)]
fn no_task(id: TaskId) -> ! {
    panic!("no task {}", id.0)
}

impl TaskTable {
    pub fn new() -> TaskTable {
        let bits = BITS_HERE.with(Cell::get);
        TaskTable {
            slots: Vec::new(),
            first: 1,
            len: 0,
            bits,
            max_loose: MAX_LOOSE.min((1u32 << bits) / 2),
            ready: 0,
            ends: 0,
            next_look: 0,
            records: Vec::new(),
            rare: BTreeMap::new(),
            survivors: Vec::new(),
            free: Vec::new(),
            revived: Vec::new(),
        }
    }

    fn block(&self) -> usize {
        1 << self.bits
    }

    /// Tasks created so far.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Adds a new task's slot: its id is the next.
    pub fn push(&mut self, slot: TaskSlot) -> TaskId {
        let in_window = self.slots.len();
        if in_window > 0 && in_window & (self.block() - 1) == 0 {
            // The new task starts a block: the front may make room.
            self.retire_front();
        }
        self.slots.push(slot);
        self.len += 1;
        TaskId(self.len)
    }

    /// Task `id`'s slot, if it has one (every unfinished task has).
    #[inline(always)]
    pub fn get(&self, id: TaskId) -> Option<&TaskSlot> {
        match self.slots.get((id.0 as usize).wrapping_sub(self.first)) {
            Some(slot) => Some(slot),
            None => self.survivor(id),
        }
    }

    /// Where retired task `id`'s slot is among the survivors, if it has one.
    #[inline(always)]
    fn survivor_place(&self, id: TaskId) -> Option<usize> {
        self.records
            .get((id.0 as usize).wrapping_sub(1))?
            .slot_index()
    }

    #[cold]
    #[inline(never)]
    fn survivor(&self, id: TaskId) -> Option<&TaskSlot> {
        let (owner, slot) = self.survivors[self.survivor_place(id)?].as_ref()?;
        debug_assert_eq!(*owner, id.0, "a record points at another task's slot");
        Some(slot)
    }

    /// Task `id`'s slot, if it has one (every unfinished task has).
    #[inline(always)]
    pub fn get_mut(&mut self, id: TaskId) -> Option<&mut TaskSlot> {
        let i = (id.0 as usize).wrapping_sub(self.first);
        if i < self.slots.len() {
            return Some(&mut self.slots[i]);
        }
        self.survivor_mut(id)
    }

    #[cold]
    #[inline(never)]
    fn survivor_mut(&mut self, id: TaskId) -> Option<&mut TaskSlot> {
        let k = self.survivor_place(id)?;
        let (owner, slot) = self.survivors[k].as_mut()?;
        debug_assert_eq!(*owner, id.0, "a record points at another task's slot");
        Some(slot)
    }

    /// Task `id`'s slot, brought back whole if the task finished and
    /// retired. Panics if there is no task `id`.
    #[inline(always)]
    pub fn slot_mut(&mut self, id: TaskId) -> &mut TaskSlot {
        let i = (id.0 as usize).wrapping_sub(self.first);
        if i < self.slots.len() {
            return &mut self.slots[i];
        }
        self.survivor_or_revive(id)
    }

    /// A retired task's slot: a survivor's, or one brought back.
    #[inline(never)]
    fn survivor_or_revive(&mut self, id: TaskId) -> &mut TaskSlot {
        let k = match self.survivor_place(id) {
            Some(k) => k,
            None if id.0 >= 1 && id.0 <= self.len => self.revive(id),
            None => no_task(id),
        };
        let (owner, slot) = self.survivors[k].as_mut().expect("a survivor's place");
        debug_assert_eq!(*owner, id.0, "a record points at another task's slot");
        slot
    }

    /// Brings a finished task's slot back from its record; returns its place.
    #[cold]
    #[inline(never)]
    fn revive(&mut self, id: TaskId) -> usize {
        if self.revived.len() >= MAX_REVIVED {
            self.fold_revived();
        }
        let record = self.records[id.0 as usize - 1];
        let rare = self.rare.remove(&id.0);
        let k = self.place(id.0, TaskSlot::revive(record, rare));
        self.revived.push(id.0);
        k
    }

    /// Puts the slot of retired task `id` among the survivors and its record
    /// says where; returns the place.
    fn place(&mut self, id: u32, slot: TaskSlot) -> usize {
        let k = match self.free.pop() {
            Some(k) => {
                self.survivors[k as usize] = Some((id, slot));
                k
            }
            None => {
                self.survivors.push(Some((id, slot)));
                u32::try_from(self.survivors.len() - 1).expect("fewer than 2^32 tasks")
            }
        };
        self.records[id as usize - 1] = Record::elsewhere(k);
        k as usize
    }

    /// Takes task `id`'s cancellation message out (`Task._cancel_message`
    /// handed to the awaiter of a cancelled task), in place even when the
    /// task has retired.
    pub fn take_cancel_msg(&mut self, id: TaskId) -> Option<std::rc::Rc<str>> {
        match self.get_mut(id) {
            Some(slot) => slot.take_cancel_msg(),
            None => self.rare.get_mut(&id.0)?.take_cancel_msg(),
        }
    }

    /// `uncancel()` of a retired task: one request fewer; the requests left.
    /// (A finished task has no cancellation pending to withdraw.) `None`
    /// if the task has a slot.
    pub fn uncancel_retired(&mut self, id: TaskId) -> Option<u32> {
        if self.get(id).is_some() {
            return None;
        }
        match self.rare.get_mut(&id.0) {
            Some(rare) => Some(rare.uncancel()),
            None => {
                // Validates the id (panics on one that was never made).
                let _ = self.record(id);
                Some(0)
            }
        }
    }

    /// What questions about task `id` read. Panics if there is no task `id`.
    #[inline]
    pub fn view(&self, id: TaskId) -> TaskView<'_> {
        match self.get(id) {
            Some(slot) => TaskView::Slot(slot),
            None => self.record(id),
        }
    }

    #[cold]
    fn record(&self, id: TaskId) -> TaskView<'_> {
        match self.records.get((id.0 as usize).wrapping_sub(1)) {
            Some(r) => TaskView::Retired(r, self.rare.get(&id.0)),
            None => no_task(id),
        }
    }

    /// Task `id` has just finished (its block may retire when a new block
    /// needs room); finished tasks brought back whole go back to their
    /// records.
    pub fn ended(&mut self, id: TaskId) {
        self.ends += 1;
        if (id.0 as usize) < self.first {
            // A survivor: its record takes its place.
            self.put_back(id.0);
        }
        if !self.revived.is_empty() {
            self.fold_revived();
        }
    }

    /// A survivor's slot back into its record, if its task is finished.
    fn put_back(&mut self, id: u32) {
        let Some(k) = self.records[id as usize - 1].slot_index() else {
            return;
        };
        let Some((_, slot)) = self.survivors[k].take() else {
            return;
        };
        match slot.retire() {
            Ok((record, rare)) => {
                self.records[id as usize - 1] = record;
                if let Some(rare) = rare {
                    self.rare.insert(id, rare);
                }
                self.free.push(k as u32);
            }
            Err(slot) => self.survivors[k] = Some((id, slot)),
        }
    }

    /// Finished tasks brought back whole go back to their records.
    #[cold]
    fn fold_revived(&mut self) {
        for id in std::mem::take(&mut self.revived) {
            self.put_back(id);
        }
    }

    /// Retires the window's front blocks that may retire, once they are at
    /// least half the window.
    fn retire_front(&mut self) {
        let full_blocks = self.slots.len() >> self.bits;
        // A long window lets a block with up to half its tasks unfinished
        // retire too: a few long-lived tasks created early (a server's
        // workers) must not hold every later block in the window.
        let long = full_blocks >= LONG_WINDOW;
        if long && self.ends < self.next_look {
            return;
        }
        let allowed = if long {
            (self.block() / 2).max(self.max_loose as usize)
        } else {
            self.max_loose as usize
        };
        while self.ready < full_blocks {
            let block = &self.slots[self.ready << self.bits..(self.ready + 1) << self.bits];
            let unfinished = block
                .iter()
                .filter(|t| !t.is_done())
                .take(allowed + 1)
                .count();
            if unfinished > allowed {
                break;
            }
            self.ready += 1;
        }
        let n = self.ready << self.bits;
        if n == 0 || 2 * n < self.slots.len() {
            if long {
                // The front can become ready only as tasks end: tasks that
                // all live long (W1) are not looked at again until half a
                // block's worth has.
                self.next_look = self.ends + (self.block() / 2) as u64;
            }
            return;
        }
        self.ready = 0;
        self.next_look = 0;
        self.records.reserve(n);
        let first = self.first as u32;
        let mut slots = std::mem::take(&mut self.slots);
        for (k, slot) in slots.drain(..n).enumerate() {
            let id = first + k as u32;
            match slot.retire() {
                Ok((record, rare)) => {
                    self.records.push(record);
                    if let Some(rare) = rare {
                        self.rare.insert(id, rare);
                    }
                }
                Err(slot) => {
                    self.records.push(Record::elsewhere(0));
                    self.place(id, slot);
                }
            }
        }
        self.slots = slots;
        self.first += n;
        let keep = self.slots.len().max(self.block());
        if self.slots.capacity() > 4 * keep {
            self.slots.shrink_to(2 * keep);
        }
    }

    /// Every task that has a slot or a rare record (the others returned or
    /// were cancelled, and have nothing more to say), in id order.
    pub fn for_each_notable(&self, mut f: impl FnMut(TaskId, TaskView<'_>)) {
        let mut survivors: Vec<u32> = self.survivors.iter().flatten().map(|s| s.0).collect();
        survivors.sort_unstable();
        let mut survivors = survivors.into_iter().peekable();
        let mut rare = self.rare.keys().copied().peekable();
        loop {
            let id = match (survivors.peek(), rare.peek()) {
                (Some(&a), Some(&b)) => a.min(b),
                (Some(&a), None) => a,
                (None, Some(&b)) => b,
                (None, None) => break,
            };
            survivors.next_if_eq(&id);
            rare.next_if_eq(&id);
            f(TaskId(id), self.view(TaskId(id)));
        }
        for (i, slot) in self.slots.iter().enumerate() {
            f(TaskId((self.first + i) as u32), TaskView::Slot(slot));
        }
    }

    /// Slots held now (the window's and the survivors'), for tests.
    #[cfg(test)]
    pub fn slots_held(&self) -> usize {
        self.slots.len() + self.survivors.iter().flatten().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::End;
    use crate::engine::tasks::test_slot;
    use crate::time::Instant;
    use crate::trace::Sym;

    /// A table with blocks of `1 << bits` ids.
    fn table(bits: u32) -> TaskTable {
        task_block_bits_on_this_thread(Some(bits));
        let t = TaskTable::new();
        task_block_bits_on_this_thread(None);
        t
    }

    fn finish(t: &mut TaskTable, id: TaskId, end: End) {
        t.slot_mut(id)
            .finish_for_test(Instant::from_nanos(u64::from(id.0)), end);
        t.ended(id);
    }

    #[test]
    fn short_tasks_one_after_another_keep_a_few_blocks_of_slots() {
        let mut t = table(3);
        for i in 1..=10_000u32 {
            let id = t.push(test_slot(None));
            assert_eq!(id, TaskId(i));
            finish(&mut t, id, End::Returned);
            assert!(
                t.slots_held() <= 2 * 8,
                "{} slots held at {i}",
                t.slots_held()
            );
        }
        for i in [1, 2, 4_999, 9_999, 10_000] {
            let v = t.view(TaskId(i));
            assert_eq!(v.end(), Some(End::Returned));
            assert_eq!(v.ended_at(), Some(Instant::from_nanos(u64::from(i))));
        }
    }

    #[test]
    fn an_unfinished_task_survives_its_block_and_ends_into_a_record() {
        let mut t = table(3);
        let first = t.push(test_slot(Some(Sym(7))));
        for _ in 0..1_000 {
            let id = t.push(test_slot(None));
            finish(&mut t, id, End::Cancelled);
        }
        assert!(t.slots_held() <= 17, "{} slots held", t.slots_held());
        let s = t.get_mut(first).expect("a survivor has its slot");
        s.num_cancels = 3;
        assert_eq!(t.view(first).name(), Some(Sym(7)));
        assert!(!t.view(first).is_done());
        finish(&mut t, first, End::Raised);
        assert!(t.get(first).is_none(), "its slot is given up");
        let v = t.view(first);
        assert_eq!(
            (v.end(), v.name(), v.num_cancels(), v.raised_message()),
            (Some(End::Raised), Some(Sym(7)), 3, Some("boom"))
        );
    }

    #[test]
    fn a_finished_task_brought_back_is_folded_into_its_record() {
        let mut t = table(2);
        let ids: Vec<TaskId> = (0..100).map(|_| t.push(test_slot(None))).collect();
        for &id in &ids {
            finish(&mut t, id, End::Returned);
        }
        let more = t.push(test_slot(None));
        assert!(t.get(ids[3]).is_none(), "retired");
        // A change to a finished task brings its slot back.
        t.slot_mut(ids[3]).num_cancels = 5;
        assert!(t.get(ids[3]).is_some(), "brought back");
        assert_eq!(t.view(ids[3]).num_cancels(), 5);
        finish(&mut t, more, End::Returned);
        assert!(
            t.get(ids[3]).is_none(),
            "folded back when the next task ends"
        );
        assert_eq!(t.view(ids[3]).num_cancels(), 5);
        assert_eq!(t.view(ids[3]).end(), Some(End::Returned));
    }

    #[test]
    fn tasks_that_all_end_at_once_keep_their_slots_until_new_ones_need_room() {
        let mut t = table(3);
        let ids: Vec<TaskId> = (0..100).map(|_| t.push(test_slot(None))).collect();
        for &id in &ids {
            finish(&mut t, id, End::Returned);
        }
        assert_eq!(t.slots_held(), 100, "nothing moved without a new task");
        // New tasks fill the last block (a block retires only when a new
        // one starts).
        let busy: Vec<TaskId> = (0..4).map(|_| t.push(test_slot(None))).collect();
        assert_eq!(t.slots_held(), 104);
        t.push(test_slot(None));
        // All 13 full blocks retire; the 4 unfinished tasks survive.
        assert_eq!(t.slots_held(), 1 + 4);
        assert!(busy.iter().all(|&id| t.get(id).is_some()));
        assert!(ids.iter().all(|&id| t.get(id).is_none()));
    }

    #[test]
    fn long_lived_tasks_made_first_do_not_hold_the_window() {
        let mut t = table(8);
        // More than 64 unfinished tasks in the first block (a server's
        // workers), then short tasks one after another.
        let workers: Vec<TaskId> = (0..100).map(|_| t.push(test_slot(None))).collect();
        for _ in 0..256 * 40 {
            let id = t.push(test_slot(None));
            finish(&mut t, id, End::Returned);
        }
        assert!(
            t.slots_held() <= 100 + 16 * 256,
            "{} slots held",
            t.slots_held()
        );
        assert!(
            workers
                .iter()
                .all(|&w| t.get(w).is_some_and(|s| !s.is_done()))
        );
    }

    #[test]
    fn a_retired_task_is_changed_in_place() {
        let mut t = table(1);
        let id = t.push(test_slot(None));
        let s = t.slot_mut(id);
        s.num_cancels = 2;
        s.replace_cancel_msg(Some("bye".into()));
        finish(&mut t, id, End::Cancelled);
        for _ in 0..8 {
            let other = t.push(test_slot(None));
            finish(&mut t, other, End::Returned);
        }
        assert!(t.get(id).is_none(), "retired");
        let held = t.slots_held();
        assert_eq!(t.take_cancel_msg(id).as_deref(), Some("bye"));
        assert_eq!(t.take_cancel_msg(id), None, "handed out once");
        assert_eq!(t.uncancel_retired(id), Some(1));
        assert_eq!(t.uncancel_retired(id), Some(0));
        assert_eq!(t.uncancel_retired(id), Some(0));
        assert_eq!(t.slots_held(), held, "no slot brought back");
        assert_eq!(t.view(id).num_cancels(), 0);
        assert_eq!(t.view(id).end(), Some(End::Cancelled));
    }

    #[test]
    fn a_front_busy_with_unfinished_tasks_does_not_retire() {
        let mut t = table(3);
        // Every block keeps more than half its tasks unfinished.
        for i in 0..200u32 {
            let id = t.push(test_slot(None));
            if i % 8 < 3 {
                finish(&mut t, id, End::Returned);
            }
        }
        assert_eq!(t.slots_held(), 200);
    }

    #[test]
    fn notable_tasks_are_visited_in_id_order() {
        let mut t = table(1);
        let ids: Vec<TaskId> = (0..40).map(|_| t.push(test_slot(None))).collect();
        for (i, &id) in ids.iter().enumerate() {
            match i % 4 {
                0 => finish(&mut t, id, End::Returned),
                1 => finish(&mut t, id, End::Raised),
                2 => {}
                _ => finish(&mut t, id, End::Cancelled),
            }
        }
        for _ in 0..10 {
            let id = t.push(test_slot(None));
            finish(&mut t, id, End::Returned);
        }
        assert!(t.slots_held() < 50, "some retired");
        let mut seen = Vec::new();
        t.for_each_notable(|id, v| {
            if id.0 <= 40 {
                seen.push((id.0, v.end()));
            }
        });
        let want: Vec<(u32, Option<End>)> = (1..=40u32)
            .filter_map(|id| match (id - 1) % 4 {
                1 => Some((id, Some(End::Raised))),
                2 => Some((id, None)),
                _ => None,
            })
            .collect();
        // Tasks that returned or were cancelled may be left out once retired.
        let seen: Vec<_> = seen
            .into_iter()
            .filter(|(_, e)| matches!(e, Some(End::Raised) | None))
            .collect();
        assert_eq!(seen, want);
    }
}
