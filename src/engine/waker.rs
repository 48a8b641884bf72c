//! A task's waker, with no allocation and no reference count.
//!
//! A waker names its task by the run's number and the task's id, packed into
//! its data word; cloning it copies the word, dropping it does nothing, and
//! waking it asks the simulation running on this thread to wake that task if
//! the run is the waker's own (task ids restart with every run, so a waker
//! kept from an earlier run, or woken on another thread, wakes nothing).
//!
//! One of the crate's three `unsafe` blocks (the others are in `prefetch.rs`
//! and `task.rs`):
//! [`Waker::new`] is `unsafe` only
//! because a vtable's functions may trust the data pointer; these never
//! dereference it (it is an integer, made with
//! [`std::ptr::without_provenance`]), so any data word is sound. The measured
//! need: an `Arc`-backed waker (`std::task::Wake`) cost one allocation per
//! task, its free at the task's end, and a 16-byte field in every task slot
//! (see the closing note of issue 11 and `loopsim bench`).
#![allow(unsafe_code)]

use super::context::try_with_core;
use crate::trace::TaskId;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{RawWaker, RawWakerVTable, Waker};

/// The bits of the data word below the run's number: a task id.
#[cfg(target_pointer_width = "64")]
const RUN_SHIFT: u32 = 32;

/// A run number for a new run: unique across threads (so that a waker sent
/// to another thread's simulation wakes nothing there) until it wraps after
/// 2³² runs. Zero is never given out.
pub(super) fn next_run_tag() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let tag = NEXT.fetch_add(1, Ordering::Relaxed);
        if tag != 0 {
            return tag;
        }
    }
}

/// The data word of the waker of task `id` in the run tagged `run`.
#[cfg(target_pointer_width = "64")]
fn pack(run: u32, id: TaskId) -> usize {
    ((run as usize) << RUN_SHIFT) | id.0 as usize
}

/// On a 32-bit target the word holds the task id only: a waker kept from an
/// earlier run, or sent from another thread's, would wake the task of the
/// same number (the tests of that guarantee run on 64-bit targets only).
#[cfg(not(target_pointer_width = "64"))]
fn pack(_run: u32, id: TaskId) -> usize {
    id.0 as usize
}

/// The run and task a data word names (on a 32-bit target, any run).
#[cfg(target_pointer_width = "64")]
fn unpack(data: usize) -> (Option<u32>, TaskId) {
    (Some((data >> RUN_SHIFT) as u32), TaskId(data as u32))
}

#[cfg(not(target_pointer_width = "64"))]
fn unpack(data: usize) -> (Option<u32>, TaskId) {
    (None, TaskId(data as u32))
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);

fn clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    let (run, id) = unpack(data.addr());
    try_with_core(|core| core.wake_by_task_waker(run, id));
}

fn drop(_: *const ()) {}

/// `waker.wake()`, with a loopsim task waker's wake-up inlined at the call
/// (a primitive's waiter wakes its task so: no call through the vtable to
/// drop it, none to wake it, no saving of registers for a call).
#[inline(always)]
pub(crate) fn wake_inline(waker: Waker) {
    if std::ptr::eq(waker.vtable(), &VTABLE) {
        let (run, id) = unpack(waker.data().addr());
        // Its drop does nothing: not called.
        std::mem::forget(waker);
        try_with_core(|core| core.wake_by_task_waker(run, id));
    } else {
        waker.wake();
    }
}

/// The waker of task `id` in the run tagged `run`.
pub(super) fn task_waker(run: u32, id: TaskId) -> Waker {
    let data = std::ptr::without_provenance::<()>(pack(run, id));
    // SAFETY: the vtable's functions never dereference `data` (see the
    // module's doc); they are sound for any data word, from any thread.
    unsafe { Waker::new(data, &VTABLE) }
}

/// The task `waker` wakes, if it is the waker of a task of the run tagged
/// `run`.
pub(super) fn task_of(waker: &Waker, run: u32) -> Option<TaskId> {
    if !std::ptr::eq(waker.vtable(), &VTABLE) {
        return None;
    }
    match unpack(waker.data().addr()) {
        (Some(r), _) if r != run => None,
        (_, id) => Some(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waker_names_its_run_and_task_and_clones_to_the_same() {
        let w = task_waker(7, TaskId(3));
        let c = w.clone();
        assert!(w.will_wake(&c));
        assert_eq!(task_of(&c, 7), Some(TaskId(3)));
        #[cfg(target_pointer_width = "64")]
        assert_eq!(task_of(&c, 8), None);
        assert_eq!(task_of(Waker::noop(), 7), None);
        assert!(!w.will_wake(&task_waker(7, TaskId(4))));
    }

    #[test]
    fn run_tags_are_distinct_and_never_zero() {
        let a = next_run_tag();
        let b = next_run_tag();
        assert_ne!(a, b);
        assert_ne!(a, 0);
        assert_ne!(b, 0);
    }
}
