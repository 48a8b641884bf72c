//! A synchronisation primitive's waiter, as the loop sees it: asyncio's
//! `fut = loop.create_future()` that only ever gets `set_result(None)` or
//! `cancel()`, awaited by the one task that made it. `sync::waiters` builds
//! the primitives' FIFOs of waiters and their waits on it; the loop keeps
//! a task suspended on one in the task's slot (`Phase::WaitingOnPrimitive`:
//! a thin pointer, no box), cancels it through it, and asks it why it
//! cannot resolve when the run deadlocks.

use super::CancelFuture;
use crate::deadlock::Probe;
use std::cell::Cell;
use std::rc::Rc;
use std::task::Waker;

pub(crate) struct WaiterCell {
    pub state: Cell<WaiterState>,
    /// The waker of the task awaiting the waiter, once its wait was polled.
    pub waker: Cell<Option<Waker>>,
    /// What a deadlock report says of the wait: its primitive's probe, set
    /// at the wait (a reused waiter keeps it: its next wait is most often
    /// on the same primitive).
    probe: Cell<Option<Probe>>,
    /// The key of the cancellation catcher its wait entered, while the
    /// task is suspended on it; 0 once the loop has left that catcher for
    /// the wait (see [`leave_catcher`](Self::leave_catcher)).
    pub catcher: Cell<u64>,
    /// [`raised_count`](super::raised_count) when the loop left the
    /// catcher: while it reads the same, no cancellation was raised at the
    /// task since, and the wait may return without asking the core.
    pub left_at: Cell<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum WaiterState {
    Pending,
    /// `set_result(None)`.
    Done,
    Cancelled,
}

impl WaiterCell {
    pub fn new() -> WaiterCell {
        WaiterCell {
            state: Cell::new(WaiterState::Pending),
            waker: Cell::new(None),
            probe: Cell::new(None),
            catcher: Cell::new(0),
            left_at: Cell::new(0),
        }
    }

    /// At the start of the step its task resumes in: if its wait was
    /// answered (done, not cancelled), no cancellation is on its way to the
    /// task (`delivering`) and the wait's catcher is the task's only one
    /// (`only_catcher`), leaves that catcher for the wait and says so (the
    /// catcher is then 0): the wait's next poll returns without entering
    /// the loop's core, unless a cancellation was raised at an await since
    /// (a `select`'s other branch, polled first, awaited a cancelled task):
    /// it then asks the core, and catches the cancellation if no catcher
    /// entered since stands between. (Its own way out — into the core, the
    /// task's slot looked up twice, to ask whether a cancellation targets
    /// it and then to leave — cost W4 1.74 M instructions, 59.30 against
    /// 61.04 M.) Returns whether the task's catcher was left.
    #[inline(always)]
    pub fn leave_catcher(&self, only_catcher: u64, delivering: bool) -> bool {
        let key = self.catcher.get();
        if key != 0 && key == only_catcher && !delivering && self.state.get() == WaiterState::Done {
            self.catcher.set(0);
            self.left_at.set(super::raised_count());
            true
        } else {
            false
        }
    }

    /// Resolves the waiter (`to`: done or cancelled) and wakes its task;
    /// false if it was resolved already. Inlined where a primitive wakes a
    /// waiter, with the wake-up.
    #[inline(always)]
    pub fn complete(&self, to: WaiterState) -> bool {
        if self.state.get() != WaiterState::Pending {
            return false;
        }
        self.state.set(to);
        if let Some(w) = self.waker.take() {
            super::waker::wake_inline(w);
        }
        true
    }

    /// The waiter's probe is `probe` (set only if it was another: a reused
    /// waiter's is most often the same, and then no count changes).
    #[inline(always)]
    pub fn probe_for(&self, probe: &Probe) {
        match self.probe.take() {
            Some(p) if Rc::ptr_eq(&p, probe) => self.probe.set(Some(p)),
            _ => self.probe.set(Some(probe.clone())),
        }
    }
}

/// A task suspended on a waiter cancels it through its shared part.
impl CancelFuture for WaiterCell {
    /// The waiter raises the task's own `CancelledError`, which already
    /// carries `msg`.
    fn cancel_future(self: Rc<Self>, _msg: Option<Rc<str>>) -> bool {
        self.complete(WaiterState::Cancelled)
    }
    fn ends_cancelled(&self) -> bool {
        self.state.get() == WaiterState::Cancelled
    }
    fn probe(&self) -> Option<Probe> {
        let probe = self.probe.take();
        self.probe.set(probe.clone());
        probe
    }
}
