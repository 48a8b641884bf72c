//! Deliberately broken loops, for testing the tests: a checker or a
//! property that does not catch these would not catch the real bug either.
//! Not part of the documented API; never set outside tests.

use std::cell::Cell;

/// A bug planted in the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Under `fifo` (and the exploring models), timers with equal deadlines
    /// fire last-come first-served.
    ReverseEqualDeadlines,
    /// A semaphore with no permit left admits one more task (once).
    SemaphoreOverAdmits,
    /// The first wake-up a timer gives a task is lost: the task sleeps for
    /// ever.
    LoseOneWakeup,
}

thread_local! {
    static THREAD_DEFAULT: Cell<Option<Mutation>> = const { Cell::new(None) };
}

/// Plants `m` in every run this thread starts without one of its own
/// (for runs built indirectly, such as a scenario's).
pub fn plant_on_this_thread(m: Option<Mutation>) {
    THREAD_DEFAULT.with(|c| c.set(m));
}

pub(crate) fn thread_default() -> Option<Mutation> {
    THREAD_DEFAULT.with(Cell::get)
}
