//! asyncio's combinators over tasks and futures: [`gather`], [`wait_for`] and
//! [`timeout`], [`wait`], [`as_completed`], [`shield`] and [`TaskGroup`].
//! Each follows the CPython implementation's callback structure, so the
//! number of loop iterations between a child finishing and the caller
//! resuming is asyncio's.

mod as_completed;
mod gather;
mod shield;
mod task_group;
mod timeout;
mod wait;

pub use as_completed::{AsCompleted, as_completed};
pub use gather::{
    Gather, GatherSettled, gather, gather_return_exceptions, gather_tasks,
    gather_tasks_return_exceptions,
};
pub use shield::{shield, shield_task};
pub use task_group::TaskGroup;
pub use timeout::{Timeout, TimeoutScope, timeout, wait_for, wait_for_task};
pub use wait::{ReturnWhen, wait};

use crate::engine::{self, DoneCallback};
use crate::trace::TaskId;

/// `task.add_done_callback(f)` with a trace label; on a done task the
/// callback is scheduled at once. Returns the key to remove it.
pub(crate) fn add_task_callback(
    id: TaskId,
    label: &str,
    f: impl FnOnce() + 'static,
) -> Option<u64> {
    let r = engine::with_core("add_done_callback", |c| {
        let label = c.intern(label);
        c.add_done_callback(id, DoneCallback::Call(Box::new(f), label))
    });
    match r {
        Ok(key) => Some(key),
        Err(cb) => {
            engine::fire_done_callback(cb);
            None
        }
    }
}

/// `task.remove_done_callback(f)`.
pub(crate) fn remove_task_callback(id: TaskId, key: u64) {
    let cb = engine::with_core("remove_done_callback", |c| c.remove_done_callback(id, key));
    drop(cb);
}
