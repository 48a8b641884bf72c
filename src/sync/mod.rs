//! asyncio's synchronisation primitives with its exact wake-up semantics,
//! ported from `Lib/asyncio/locks.py` and `Lib/asyncio/queues.py`.
//!
//! Every waiter is a future appended to a FIFO of waiters; releasing sets
//! the result of the first one, and the waiting task resumes one iteration
//! later. So a [`Lock`] hands over strictly in FIFO order with one iteration
//! per hand-over and no barging, a [`Semaphore`] hands permits to the first
//! waiter, [`Event::set`] wakes every waiter in order, and a [`Queue`] getter
//! that is woken but finds the item already taken goes back to the *tail* of
//! the getters.
//!
//! The primitives are cheap handles: clone one to share it between tasks.
//! Give one a name ([`Lock::named`], …) to see it in traces and deadlock
//! reports. A Lock and a Semaphore remember which tasks hold them (the task
//! running when a permit was taken; a permit released by a task that does
//! not hold one frees the oldest holder), so a deadlock report can say who
//! holds what; every waiter leaves a probe that reads the primitive's state.
//!
//! A wait whose future is dropped (a `select` drops the branch that lost;
//! asyncio has no such thing and cancels instead) acts as a wait cancelled
//! at that point: the primitive's `except CancelledError:` clause runs from
//! the drop. A waiter still pending leaves cancelled, so the next wake-up
//! goes to a waiter that is still there; one already woken passes its
//! wake-up on (the item to the next getter, the lock or the permit to the
//! next waiter, under 3.13 the notification to the next waiter), where it
//! was lost before. What a dropped `Condition.wait` cannot do is re-acquire
//! the lock. A run's leftovers dropped after it ended wake nothing.

mod barrier;
mod condition;
mod event;
mod lock;
mod queue;
mod semaphore;
mod waiters;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use queue::{Queue, QueueEmpty, QueueFull, QueueKind};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};

use crate::trace::TaskId;
use waiters::Waiters;

/// The task running now, if any: who acquires a Lock or a permit.
fn current() -> Option<TaskId> {
    crate::engine::try_with_core(|c| c.current()).flatten()
}

/// Whether the run models Python 3.13 or later (where a cancelled
/// `Semaphore.acquire` wakes every waiter a free permit admits, and a
/// cancelled `Condition.wait` passes a notification on). False outside a
/// run (a wait's future dropped after it).
fn py313() -> bool {
    crate::engine::try_with_core(|c| c.python() >= crate::settings::PythonVersion::Py313)
        .unwrap_or(false)
}
