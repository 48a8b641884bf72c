//! What a run leaves for the next run on the same thread: its task vector
//! and its timer table, emptied, with their capacity. A sweep or a property test runs thousands
//! of simulations one after another on a thread; each used to grow a new
//! task vector and touch its pages afresh (the kernel zeroing and mapping
//! them: a tenth of a 100k-task run). The next run starts with the memory
//! the last one used, already mapped. Nothing of a run's state is kept: the
//! vector is emptied (its tasks dropped) before it is kept, and a run's
//! behaviour does not depend on a vector's capacity.

use super::TaskSlot;
use super::timers::TimerMemory;
use std::cell::{Cell, RefCell};

/// The largest task vector (and timer table) kept between runs, in bytes:
/// a run with more tasks (timers) gives its memory back.
const KEEP_AT_MOST: usize = 64 << 20;

thread_local! {
    static TASKS: Cell<Vec<TaskSlot>> = const { Cell::new(Vec::new()) };
    static TIMERS: RefCell<Option<TimerMemory>> = const { RefCell::new(None) };
}

/// An empty task vector: the last run's on this thread, if it kept one.
pub(super) fn take_tasks() -> Vec<TaskSlot> {
    TASKS.with(Cell::take)
}

/// Keeps `tasks`' memory for the next run on this thread, emptied (its
/// tasks are dropped here), unless it is larger than [`KEEP_AT_MOST`].
pub(super) fn keep_tasks(mut tasks: Vec<TaskSlot>) {
    tasks.clear();
    if tasks.capacity() * std::mem::size_of::<TaskSlot>() <= KEEP_AT_MOST {
        // Replaces (and frees) what an overlapping run kept, if any.
        TASKS.with(|t| t.set(tasks));
    }
}

/// The last run's timer table memory on this thread, or a new one.
pub(super) fn take_timers() -> TimerMemory {
    TIMERS
        .with(|t| t.borrow_mut().take())
        .unwrap_or_else(TimerMemory::new)
}

/// Keeps a timer table's memory for the next run on this thread, unless it
/// is larger than [`KEEP_AT_MOST`].
pub(super) fn keep_timers(memory: TimerMemory) {
    if memory.bytes() <= KEEP_AT_MOST {
        TIMERS.with(|t| *t.borrow_mut() = Some(memory));
    }
}

#[cfg(test)]
mod tests {
    use super::{TASKS, TIMERS};
    use crate::{Sim, sleep, spawn};
    use std::time::Duration;

    fn run(tasks: u64) -> Vec<u8> {
        let run = Sim::builder().seed(7).build().run(async move {
            let hs: Vec<_> = (0..tasks)
                .map(|i| spawn(async move { sleep(Duration::from_millis(i % 13)).await }))
                .collect();
            for h in hs {
                h.await.expect("a sleeper ends");
            }
        });
        run.trace.to_jsonl()
    }

    /// A run leaves its task vector and timer table, emptied, to the next
    /// run on the thread, which takes them; the next run's trace is the
    /// same as the first's.
    #[test]
    fn a_run_leaves_its_memory_to_the_next_and_the_next_run_is_the_same() {
        let first = run(2000);
        let kept = TASKS.with(|t| {
            let v = t.take();
            let kept = (v.len(), v.capacity());
            t.set(v);
            kept
        });
        assert_eq!(kept.0, 0, "kept empty");
        assert!(kept.1 > 2000, "with the run's capacity: {kept:?}");
        assert!(TIMERS.with(|t| t.borrow().as_ref().is_some_and(|m| m.bytes() > 0)));
        let second = run(2000);
        assert_eq!(first, second);
    }
}
