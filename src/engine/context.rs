//! The thread-local context through which the face reaches the running
//! simulation: [`with_core`] borrows the core for one short, non-reentrant
//! operation; user code (task polls, callbacks, destructors) always runs
//! with the core released.

use super::step;
use super::{Config, Core, DoneCallback, LimitKind};
use crate::trace::TaskId;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Wake;

/// The runtime of one simulation: installed in a thread-local while it runs.
pub(crate) struct Runtime {
    pub core: RefCell<Core>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Runtime>>> = const { RefCell::new(None) };
    static RUN_IDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Runtime {
    /// A runtime recording into `rec` (`None`: in memory, if `cfg.trace`).
    pub fn new(cfg: Config, rec: Option<crate::trace::Recorder>) -> Rc<Runtime> {
        let run_id = RUN_IDS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        Rc::new(Runtime {
            core: RefCell::new(Core::new(cfg, run_id, rec)),
        })
    }
}

/// Installs a runtime as the thread's current simulation until dropped.
pub(crate) struct Enter {
    prev: Option<Rc<Runtime>>,
}

pub(crate) fn enter(rt: &Rc<Runtime>) -> Enter {
    let busy = CURRENT.with(|c| c.borrow().is_some());
    assert!(
        !busy,
        "loopsim: a simulation is already running on this thread; `Sim::run` cannot be nested"
    );
    let prev = CURRENT.with(|c| c.borrow_mut().replace(rt.clone()));
    Enter { prev }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

fn outside(what: &str) -> ! {
    panic!(
        "loopsim: `{what}` was used outside a running simulation; \
         call it from a future run by `Sim::run` (or a task it spawned)"
    )
}

/// Runs `f` on the current simulation's core.
///
/// # Panics
///
/// Outside a running simulation, with a message naming `what`.
pub(crate) fn with_core<R>(what: &str, f: impl FnOnce(&mut Core) -> R) -> R {
    CURRENT.with(|c| {
        let rt = c.borrow();
        let Some(rt) = rt.as_ref() else { outside(what) };
        let mut core = rt.core.try_borrow_mut().unwrap_or_else(|_| {
            panic!("loopsim: `{what}` re-entered the loop core (internal error)")
        });
        f(&mut core)
    })
}

/// Like [`with_core`] but does nothing outside a simulation (for destructors
/// that may run after the run ended).
pub(crate) fn try_with_core<R>(f: impl FnOnce(&mut Core) -> R) -> Option<R> {
    CURRENT.with(|c| {
        let rt = c.borrow();
        let rt = rt.as_ref()?;
        let mut core = rt.core.try_borrow_mut().ok()?;
        Some(f(&mut core))
    })
}

/// Stops the run at the end of the current handle with
/// [`Outcome::LimitExceeded`](crate::Outcome::LimitExceeded): a program's
/// own limit (an interpreter's step count, output size, …), named by its
/// key, with what exceeded it in the program's words. The first limit hit
/// wins.
///
/// # Panics
///
/// Outside a running simulation.
pub fn stop_at_limit(key: &'static str, detail: impl Into<String>) {
    let detail = detail.into();
    with_core("stop_at_limit", |c| {
        c.hit_limit(LimitKind::Program(key), Some(detail))
    });
}

/// The limit this run has hit, if any: the run stops at the end of the
/// current handle, so a step that loops without awaiting (spawning, printing)
/// can check this and stop early.
///
/// # Panics
///
/// Outside a running simulation.
pub fn limit_hit() -> Option<LimitKind> {
    with_core("limit_hit", |c| c.abort.as_ref().map(|s| s.limit))
}

/// The running simulation, if any.
pub(super) fn current() -> Option<Rc<Runtime>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs a new task's first step at once (`Task.__eager_start`).
pub(crate) fn run_eager(id: TaskId) {
    let rt = CURRENT
        .with(|c| c.borrow().clone())
        .unwrap_or_else(|| outside("spawn"));
    step::run_step(&rt, id);
}

/// The waker of a task: waking it appends the task's step to the ready queue.
pub(super) struct TaskWaker {
    pub(super) run: u64,
    pub(super) task: u32,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let (run, task) = (self.run, TaskId(self.task));
        try_with_core(|core| {
            if core.run_id == run {
                core.wake(task);
            }
        });
    }
}

/// Schedules a task's done-callback (`call_soon`); call with the core released.
pub(crate) fn fire_done_callback(cb: DoneCallback) {
    match cb {
        DoneCallback::Wake(w) => w.wake(),
        DoneCallback::Call(f, label) => {
            with_core("call_soon", |c| c.call_soon(f, label));
        }
    }
}
