//! The thread-local context through which the face reaches the running
//! simulation: [`with_core`] borrows the core for one short, non-reentrant
//! operation; user code (task polls, callbacks, destructors) always runs
//! with the core released.

use super::step;
use super::{Config, Core, DoneCallback, LimitKind};
use crate::trace::TaskId;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// The runtime of one simulation: installed in a thread-local while it runs.
pub(crate) struct Runtime {
    pub core: RefCell<Core>,
    /// The program's own random stream ([`crate::with_rng`]), apart from the
    /// core: a draw borrows only this (one look-up, where lending a stream
    /// out of the core and back took two).
    user_rng: RefCell<crate::rng::SimRng>,
}

thread_local! {
    /// The running simulation's runtime, or null. A plain pointer, not an
    /// `Rc` in a `RefCell`: every call into the engine reads it, and a
    /// thread-local without a destructor is read without first checking
    /// that it is alive, and without a borrow flag. The [`Enter`] guard
    /// that sets it holds the `Rc`, so the runtime outlives the pointer.
    static CURRENT: Cell<*const Runtime> = const { Cell::new(std::ptr::null()) };
    static RUN_IDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Runtime {
    /// A runtime recording into `rec` (`None`: in memory, if `cfg.trace`).
    pub fn new(cfg: Config, rec: Option<crate::trace::Recorder>) -> Rc<Runtime> {
        let run_id = RUN_IDS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let user_rng = RefCell::new(crate::rng::user_stream(cfg.seed));
        Rc::new(Runtime {
            core: RefCell::new(Core::new(cfg, run_id, rec)),
            user_rng,
        })
    }
}

/// Installs a runtime as the thread's current simulation until dropped.
pub(crate) struct Enter {
    /// Keeps the runtime `CURRENT` points to alive.
    rt: Rc<Runtime>,
}

pub(crate) fn enter(rt: &Rc<Runtime>) -> Enter {
    let busy = !CURRENT.with(Cell::get).is_null();
    assert!(
        !busy,
        "loopsim: a simulation is already running on this thread; `Sim::run` cannot be nested"
    );
    CURRENT.with(|c| c.set(Rc::as_ptr(rt)));
    Enter { rt: rt.clone() }
}

impl Drop for Enter {
    fn drop(&mut self) {
        // Only one simulation runs on a thread at a time (`enter` checks):
        // none was current before this one.
        debug_assert!(std::ptr::eq(CURRENT.with(Cell::get), Rc::as_ptr(&self.rt)));
        CURRENT.with(|c| c.set(std::ptr::null()));
    }
}

/// The current runtime, borrowed for the length of `f`.
#[inline(always)]
#[allow(unsafe_code)]
fn with_runtime<R>(f: impl FnOnce(Option<&Runtime>) -> R) -> R {
    let p = CURRENT.with(Cell::get);
    // SAFETY: a non-null `CURRENT` points to the runtime the live `Enter`
    // guard holds an `Rc` of; the guard is dropped (and the pointer
    // cleared) only when the run that installed it returns, never while
    // engine code called from inside the run is still running.
    f(unsafe { p.as_ref() })
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
    with_runtime(|rt| {
        let Some(rt) = rt else { outside(what) };
        let mut core = rt.core.try_borrow_mut().unwrap_or_else(|_| {
            panic!("loopsim: `{what}` re-entered the loop core (internal error)")
        });
        f(&mut core)
    })
}

/// Runs `f` with the current run's own random stream (see
/// [`crate::with_rng`]).
///
/// # Panics
///
/// Outside a running simulation, or inside another draw from the stream.
pub(crate) fn with_user_rng<R>(f: impl FnOnce(&mut crate::rng::SimRng) -> R) -> R {
    with_runtime(|rt| {
        let Some(rt) = rt else { outside("with_rng") };
        let mut g = rt
            .user_rng
            .try_borrow_mut()
            .unwrap_or_else(|_| crate::rng::nested());
        f(&mut g)
    })
}

/// Like [`with_core`] but does nothing outside a simulation (for destructors
/// that may run after the run ended).
pub(crate) fn try_with_core<R>(f: impl FnOnce(&mut Core) -> R) -> Option<R> {
    with_runtime(|rt| {
        let mut core = rt?.core.try_borrow_mut().ok()?;
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
#[allow(unsafe_code)]
pub(super) fn current() -> Option<Rc<Runtime>> {
    let p = CURRENT.with(Cell::get);
    if p.is_null() {
        return None;
    }
    // SAFETY: as in `with_runtime`; the `Enter` guard's `Rc` has a count
    // of at least one, and the new `Rc` takes a count of its own.
    unsafe {
        Rc::increment_strong_count(p);
        Some(Rc::from_raw(p))
    }
}

/// Runs a new task's first step at once (`Task.__eager_start`).
pub(crate) fn run_eager(id: TaskId) {
    let rt = current().unwrap_or_else(|| outside("spawn"));
    step::run_step(&rt, id);
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

#[cfg(test)]
mod tests {
    use crate::trace::{Actor, EventKind, TaskId};
    use crate::{PythonVersion, Sim, sleep, spawn};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{Poll, Waker};
    use std::time::Duration;

    /// Keeps the waker of the task that awaits it.
    async fn keep_waker(into: Rc<RefCell<Option<Waker>>>) {
        std::future::poll_fn(|cx| {
            *into.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await
    }

    fn woken(run: &crate::Run<()>, task: u32) -> Vec<Actor> {
        let events = run.trace.events.iter();
        events
            .filter(|e| e.task == Some(TaskId(task)))
            .filter_map(|e| match e.kind {
                EventKind::Woken { by } => Some(by),
                _ => None,
            })
            .collect()
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_waker_of_an_earlier_run_wakes_nothing_in_a_later_one() {
        let kept = Rc::new(RefCell::new(None));
        let sim = Sim::builder().trace(true).build();
        let k = kept.clone();
        sim.run(async move { spawn(keep_waker(k)).await.unwrap() });
        // Task 2 again, asleep while the old task 2's waker is woken.
        let k = kept.clone();
        let run = sim.run(async move {
            let sleeper = spawn(sleep(Duration::from_secs(10)));
            sleep(Duration::from_secs(1)).await;
            k.borrow().as_ref().expect("kept").wake_by_ref();
            sleeper.await.unwrap();
        });
        assert!(run.is_completed());
        assert_eq!(woken(&run, 2).len(), 1, "by its timer only");
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_waker_sent_to_another_threads_run_wakes_nothing_there() {
        // Task 2 of a run on this thread; its waker is woken inside a run on
        // another thread whose task 2 sleeps.
        let kept = Rc::new(RefCell::new(None));
        let k = kept.clone();
        let sim = Sim::builder().trace(true).build();
        sim.run(async move { spawn(keep_waker(k)).await.unwrap() });
        let waker: Waker = kept.borrow_mut().take().expect("kept");
        let woken_there = std::thread::spawn(move || {
            let run = Sim::builder().trace(true).build().run(async move {
                let sleeper = spawn(sleep(Duration::from_secs(10)));
                sleep(Duration::from_secs(1)).await;
                waker.wake_by_ref();
                sleeper.await.unwrap();
            });
            assert!(run.is_completed());
            woken(&run, 2)
        })
        .join()
        .expect("the other thread's run");
        assert_eq!(woken_there.len(), 1, "by its timer only");
    }

    #[test]
    fn a_task_woken_by_its_kept_waker_runs_again_once() {
        // The waker kept by a task wakes it in the same run, however many
        // clones of it are woken.
        let run = Sim::builder().trace(true).build().run(async {
            let kept = Rc::new(RefCell::new(None));
            let k = kept.clone();
            let waiter = spawn(std::future::poll_fn(move |cx| {
                if k.borrow().is_some() {
                    return Poll::Ready(());
                }
                *k.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }));
            sleep(Duration::from_secs(1)).await;
            let w = kept.borrow().clone().expect("kept");
            // The vtable's clone, its wake by value, and its wake by reference.
            #[allow(clippy::waker_clone_wake)]
            w.clone().wake();
            w.wake_by_ref();
            waiter.await.unwrap();
        });
        assert!(run.is_completed());
        assert_eq!(woken(&run, 2), [Actor::Task(TaskId(1))]);
    }

    #[test]
    fn an_eager_step_can_wake_the_step_it_interrupted() {
        let sim = Sim::builder()
            .python(PythonVersion::Py312)
            .eager_tasks(true)
            .trace(true)
            .build();
        let run = sim.run(async {
            let kept = Rc::new(RefCell::new(None));
            keep_waker(kept.clone()).await;
            // Main's waker is out of its slot while its step runs the
            // eager child's first step.
            let child = spawn(async move { kept.borrow().as_ref().expect("kept").wake_by_ref() });
            child.await.unwrap();
        });
        assert!(run.is_completed());
        assert_eq!(woken(&run, 1), [Actor::Task(TaskId(2))]);
    }
}
