//! The FIFO of waiters every primitive keeps (asyncio's `self._waiters =
//! collections.deque()`), the waiters themselves, and the ways asyncio
//! wakes from it.
//!
//! A waiter is asyncio's `fut = loop.create_future()`, appended at the
//! tail; a waiter that leaves (cancelled, timed out) removes itself, as
//! asyncio's `finally: self._waiters.remove(fut)` does. Waking sets a
//! waiter's result: its task resumes one iteration later.
//!
//! A primitive's waiter only ever gets `set_result(None)` or `cancel()`, and
//! only the task that made it awaits it, so it is not a general
//! [`SimFuture`](crate::SimFuture): a [`Waiter`] (its shared part is the
//! engine's `WaiterCell`, which a waiting task's slot holds) keeps its
//! state, the waker of its task, its primitive's probe and the key of its
//! wait's catcher: no result, no list of done-callbacks, no label. (A
//! `SimFuture<()>` per wait cost W4 29 % more instructions, 86.4 M against 67.2 M (66.5 M
//! once the wait borrowed its primitive's name and probe): a
//! `RefCell` borrow on every question, a keyed callback list, a label.)
//!
//! A waiter whose wait ended, and that nothing else holds any more (no task's
//! wait, no list), is kept and made pending again for the primitive's next
//! wait ([`Waiters::recycle`], [`Waiters::push_new`]): a blocked `Queue.put`,
//! `Queue.get`, `Lock` or `Semaphore` wait then allocates nothing (`Event`
//! and `Condition` waits make a new waiter each time). Nothing can tell a
//! reused waiter from a new one.

use crate::deadlock::Probe;
use crate::engine::{self, WaiterCell, WaiterState as State};
use crate::error::Error;
use crate::trace::{Sym, TaskId};
use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A primitive's waiter (see the module's doc). Cloning gives another
/// handle to the same waiter.
#[derive(Clone)]
pub(crate) struct Waiter(Rc<WaiterCell>);

impl Waiter {
    fn new() -> Waiter {
        Waiter(Rc::new(WaiterCell::new()))
    }

    /// `fut.done()`.
    pub fn done(&self) -> bool {
        self.0.state.get() != State::Pending
    }

    /// `fut.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.0.state.get() == State::Cancelled
    }

    /// `fut.set_result(None)`: the waiting task resumes one iteration later
    /// (its wake-up is scheduled now, as asyncio schedules a done-callback).
    /// False (asyncio's `InvalidStateError`) if it is done already.
    pub fn set_result(&self) -> bool {
        self.0.complete(State::Done)
    }

    /// `fut.cancel()` by the task that waits on it, giving the wait up
    /// (its wait cancelled, or dropped): it does not wake that task. False
    /// if it is done already.
    pub fn abandon(&self) -> bool {
        if self.0.state.get() != State::Pending {
            return false;
        }
        self.0.state.set(State::Cancelled);
        drop(self.0.waker.take());
        true
    }

    /// Whether both handles are the same waiter.
    pub fn same(&self, other: &Waiter) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// The waiter made pending again, if nothing else holds it.
    fn recycled(self) -> Option<Waiter> {
        if Rc::strong_count(&self.0) != 1 || Rc::weak_count(&self.0) != 0 {
            return None;
        }
        self.0.state.set(State::Pending);
        self.0.catcher.set(0);
        drop(self.0.waker.take());
        Some(self)
    }

    /// `try: await fut except CancelledError: …`: the task waits on `site`
    /// (what the trace and a deadlock report say, with its probe's account
    /// of the primitive) until the waiter is done. `Ok(())` once
    /// it is; `Err(Error::Cancelled)` when the task's cancellation is thrown
    /// at this wait (the waiter cancelled, or the task cancelled while
    /// ready), caught here as [`catch_cancel`](crate::catch_cancel) would.
    pub fn wait<'a>(&self, site: &'a WaitSite) -> Wait<'a> {
        Wait {
            waiter: self.clone(),
            registered: false,
            site,
            scope: Scope::Unentered,
        }
    }

    /// `await fut` with nothing to catch a cancellation: it goes on to the
    /// next catcher out, or ends the task (`Event.wait`).
    pub fn wait_uncaught<'a>(&self, site: &'a WaitSite) -> Wait<'a> {
        let mut w = self.wait(site);
        w.scope = Scope::Never;
        w
    }

    #[cfg(test)]
    pub fn addr(&self) -> usize {
        Rc::as_ptr(&self.0).addr()
    }
}

/// What a primitive's waits say they wait on, in traces and deadlock
/// reports (`Queue.get 'jobs'`, with the probe that reads the queue's
/// state): made once per primitive (per side of a queue), shared by its
/// waits. The two strings are interned at the first wait of each run and
/// kept: a wait then names what it waits on (`WaitOn::Primitive`) without
/// looking them up.
pub(crate) struct WaitSite {
    kind: &'static str,
    name: Rc<str>,
    probe: Probe,
    /// The run (its tag) the symbols were interned in, and the symbols.
    syms: Cell<Option<(u32, Sym, Sym)>>,
}

impl WaitSite {
    pub fn new(kind: &'static str, name: Rc<str>, probe: Probe) -> WaitSite {
        WaitSite {
            kind,
            name,
            probe,
            syms: Cell::new(None),
        }
    }

    /// The primitive's name.
    pub fn name(&self) -> &Rc<str> {
        &self.name
    }

    /// `Primitive { kind, name }`'s symbols in this run.
    #[inline(always)]
    fn syms(&self, c: &mut engine::Core) -> (Sym, Sym) {
        let run = c.run_tag();
        match self.syms.get() {
            Some((r, kind, name)) if r == run => (kind, name),
            _ => self.intern(c, run),
        }
    }

    /// The first wait of a run on this site: its symbols interned.
    #[cold]
    #[inline(never)]
    fn intern(&self, c: &mut engine::Core, run: u32) -> (Sym, Sym) {
        let kind = c.intern_static(self.kind);
        let name = c.intern_shared(&self.name);
        self.syms.set(Some((run, kind, name)));
        (kind, name)
    }
}

/// The future of [`Waiter::wait`]: an await of the waiter, inside a
/// cancellation catcher (a [`CancelScope`](crate::task::CancelScope)) unless
/// made by [`Waiter::wait_uncaught`]. The catcher and the wait are
/// registered together, in one entry into the loop's core per poll.
/// It borrows the primitive's [`WaitSite`]: nothing is cloned or interned
/// when the wait is made. One wait per waiter: the waiter has room for one waker.
#[must_use = "futures do nothing unless awaited"]
pub(crate) struct Wait<'a> {
    waiter: Waiter,
    /// Whether this wait's waker is in the waiter.
    registered: bool,
    site: &'a WaitSite,
    scope: Scope,
}

/// A [`Wait`]'s cancellation catcher (a `CancelScope`'s task and key).
#[derive(Clone, Copy)]
enum Scope {
    /// Not entered yet (or polled outside a task: entered at the next poll).
    Unentered,
    In(TaskId, u64),
    /// An uncaught wait: no catcher.
    Never,
    /// The wait is over.
    Over,
}

/// What a [`Wait`]'s poll found, decided inside the core and acted on
/// outside it.
enum Found {
    /// The task's cancellation is thrown here: caught.
    Caught,
    /// The waiter is done.
    Ready,
    /// The waiter was cancelled: `CancelledError` is raised at this await
    /// (delivered to this wait's catcher at the task's next poll).
    Raised,
    Pending,
}

impl Future for Wait<'_> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if matches!(this.scope, Scope::Over) {
            panic!("loopsim: a primitive's wait polled after completion");
        }
        let state = this.waiter.0.state.get();
        // Answered, with no catcher to leave (an uncaught wait's, or one
        // the loop left at the start of this step: see
        // `WaiterCell::leave_catcher`): nothing to ask the loop.
        if state == State::Done
            && match this.scope {
                Scope::Never => true,
                Scope::In(..) => {
                    this.waiter.0.catcher.get() == 0
                        && this.waiter.0.left_at.get() == engine::raised_count()
                }
                Scope::Unentered | Scope::Over => false,
            }
        {
            this.scope = Scope::Over;
            // Its completion took the waker.
            this.registered = false;
            return Poll::Ready(Ok(()));
        }
        // The first poll of a wait that must wait (the common one): in one
        // entry into the core, with one look-up of the task's slot.
        if state == State::Pending && matches!(this.scope, Scope::Unentered) {
            let site = this.site;
            let cell = &this.waiter.0;
            let entered = engine::with_core("wait", |c| {
                let (kind, name) = site.syms(c);
                c.enter_primitive_wait(kind, name, cell)
            });
            match entered {
                Some((_, _, true)) => {
                    this.scope = Scope::Over;
                    return Poll::Ready(Err(Error::Cancelled));
                }
                Some((task, key, false)) => {
                    this.scope = Scope::In(task, key);
                    cell.catcher.set(key);
                }
                // Outside a task: entered at the next poll.
                None => {}
            }
            cell.probe_for(&site.probe);
            this.register(cx);
            return Poll::Pending;
        }
        let found = engine::with_core("wait", |c| {
            if matches!(this.scope, Scope::Unentered)
                && let Some(task) = c.current()
                && let Some(key) = c.catcher_enter()
            {
                this.scope = Scope::In(task, key);
            }
            let scope = match this.scope {
                Scope::In(task, key) => Some((task, key)),
                _ => None,
            };
            // Its catcher, or the one the loop left for it (innermost when
            // no catcher entered since stands above).
            let left = this.waiter.0.catcher.get() == 0;
            if let Some((task, key)) = scope
                && c.current() == Some(task)
                && (c.catcher_is_target(key) || left && c.delivering_uncaught())
            {
                c.catcher_consume(key);
                return Found::Caught;
            }
            match state {
                State::Cancelled => {
                    c.raise_cancelled();
                    Found::Raised
                }
                State::Done => {
                    if let Some((task, key)) = scope {
                        c.catcher_exit(task, key);
                    }
                    Found::Ready
                }
                State::Pending => {
                    if let Some((_, key)) = scope {
                        this.waiter.0.catcher.set(key);
                    }
                    let (kind, name) = this.site.syms(c);
                    this.waiter.0.probe_for(&this.site.probe);
                    c.set_waiting_on_primitive(kind, name, this.waiter.0.clone());
                    Found::Pending
                }
            }
        });
        match found {
            Found::Caught => {
                this.scope = Scope::Over;
                this.unregister();
                Poll::Ready(Err(Error::Cancelled))
            }
            Found::Ready => {
                this.scope = Scope::Over;
                // Its completion took the waker.
                this.registered = false;
                Poll::Ready(Ok(()))
            }
            Found::Raised => {
                this.registered = false;
                Poll::Pending
            }
            Found::Pending => {
                this.register(cx);
                Poll::Pending
            }
        }
    }
}

impl Wait<'_> {
    /// Keeps the waker of this poll in the waiter (the last poll's wakes).
    #[inline(always)]
    fn register(&mut self, cx: &Context<'_>) {
        let cell = &self.waiter.0;
        let kept = cell.waker.take();
        debug_assert!(self.registered || kept.is_none(), "one wait per waiter");
        let kept = kept.filter(|w| w.will_wake(cx.waker()));
        cell.waker
            .set(Some(kept.unwrap_or_else(|| cx.waker().clone())));
        self.registered = true;
    }

    /// Takes this wait's waker out of the waiter (the wait is gone: a later
    /// `set_result` wakes nobody, as a removed done-callback would).
    fn unregister(&mut self) {
        if std::mem::take(&mut self.registered) {
            drop(self.waiter.0.waker.take());
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.unregister();
        // A wait given up before it had its answer (its future dropped by
        // a `select`, say, which asyncio has no way to do: it cancels)
        // leaves its waiter cancelled, as a cancelled wait does, so that
        // `_wakeup_next` passes over it to a waiter that is still there. Left
        // pending, it took the next wake-up to a task that was gone.
        if !matches!(self.scope, Scope::Over) {
            self.waiter.abandon();
        }
        if let Scope::In(task, key) = self.scope {
            engine::try_with_core(|c| c.catcher_exit(task, key));
        }
    }
}

/// A primitive's clean-up for a wait that is given up: asyncio's `except
/// CancelledError:` clause around `await fut`, which passes on a wake-up
/// the waiter got but will not use (the next getter woken, the lock's next
/// waiter, the permit given back).
///
/// In asyncio that clause runs when the wait is cancelled, and a primitive
/// runs it in line then. A Rust future can also be *dropped* at its await
/// (a `select` drops the branch that lost), with no exception to catch:
/// the guard, made before the wait and [disarmed](Self::disarm) once its
/// outcome is handled in line, runs the same clean-up from the drop. A
/// dropped wait then acts as a wait cancelled at that point, whether its
/// waiter was still pending (the wait cancels it) or already woken (the
/// wake-up goes to the next waiter instead of being lost).
#[must_use = "the clean-up runs when the guard drops"]
pub(crate) struct GiveUp<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> GiveUp<F> {
    pub fn new(clean_up: F) -> GiveUp<F> {
        GiveUp(Some(clean_up))
    }

    /// The wait's outcome is handled in line: nothing to run on drop.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce()> Drop for GiveUp<F> {
    fn drop(&mut self) {
        if let Some(clean_up) = self.0.take() {
            clean_up();
        }
    }
}

pin_project_lite::pin_project! {
    /// A primitive's operation (a queue's `get` or `put`) tried at its
    /// first poll, as the coroutine's first line would be, that becomes a
    /// wait only when it must: `try_op(args)` gives the result, or the
    /// wait (an `async fn`'s future) that is then polled in its place.
    ///
    /// Not an `async fn` for the whole operation: an operation that does
    /// not wait (most of a pipeline's) would end in the state machine's
    /// drop glue, a call (W4: 26 instructions a message, 4.7 %); this
    /// enum's is a test of its variant.
    #[project = AttemptProj]
    #[project_replace = AttemptReplace]
    pub(crate) enum Attempt<A, F, S> {
        /// Not polled yet.
        Start { args: A, try_op: F },
        /// It had to wait.
        Waiting { #[pin] wait: S },
        /// Polled to completion (or being replaced).
        Over,
    }
}

impl<A, F, S, T> Attempt<A, F, S>
where
    F: FnOnce(A) -> Result<T, S>,
    S: Future<Output = T>,
{
    pub fn new(args: A, try_op: F) -> Attempt<A, F, S> {
        Attempt::Start { args, try_op }
    }
}

impl<A, F, S, T> Future for Attempt<A, F, S>
where
    F: FnOnce(A) -> Result<T, S>,
    S: Future<Output = T>,
{
    type Output = T;

    #[inline(always)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let AttemptProj::Start { .. } = self.as_mut().project() {
            let AttemptReplace::Start { args, try_op } =
                self.as_mut().project_replace(Attempt::Over)
            else {
                unreachable!("matched above")
            };
            match try_op(args) {
                Ok(out) => return Poll::Ready(out),
                Err(wait) => {
                    self.as_mut().project_replace(Attempt::Waiting { wait });
                }
            }
        }
        let AttemptProj::Waiting { wait } = self.as_mut().project() else {
            panic!("loopsim: a primitive's operation polled after completion")
        };
        let out = std::task::ready!(wait.poll(cx));
        self.project_replace(Attempt::Over);
        Poll::Ready(out)
    }
}

#[derive(Default)]
pub(crate) struct Waiters {
    /// The waiters, oldest first.
    queue: VecDeque<Waiter>,
    /// Finished waiters kept for reuse (at most [`SPARE`]).
    spare: Vec<Waiter>,
}

/// Finished waiters a [`Waiters`] keeps for reuse, at most.
const SPARE: usize = 8;

impl Waiters {
    pub fn new() -> Waiters {
        Waiters {
            queue: VecDeque::new(),
            spare: Vec::new(),
        }
    }

    /// `fut = loop.create_future(); self._waiters.append(fut)`: a new
    /// pending waiter, appended at the tail. It reuses the allocation of a
    /// waiter given back with [`recycle`](Self::recycle).
    pub fn push_new(&mut self) -> Waiter {
        let w = self.spare.pop().unwrap_or_else(Waiter::new);
        self.queue.push_back(w.clone());
        w
    }

    /// A waiter's wait is over: kept for [`push_new`](Self::push_new) if
    /// nothing else holds it (it is then made pending again), dropped
    /// otherwise.
    #[inline(always)]
    pub fn recycle(&mut self, w: Waiter) {
        if self.spare.len() < SPARE
            && let Some(w) = w.recycled()
        {
            self.spare.push(w);
        }
    }

    /// Finished waiters kept for reuse.
    #[cfg(test)]
    pub fn spare_len(&self) -> usize {
        self.spare.len()
    }

    /// `self._waiters.remove(fut)`: a waiter leaves (no-op if it is gone).
    pub fn remove(&mut self, w: &Waiter) {
        if let Some(i) = self.queue.iter().position(|x| x.same(w)) {
            self.queue.remove(i);
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// The waiter at the head, done or not.
    pub fn front(&self) -> Option<Waiter> {
        self.queue.front().cloned()
    }

    /// `_wakeup_next`'s loop: pops waiters until one that is not done, and
    /// returns it (for its result to be set).
    pub fn pop_pending(&mut self) -> Option<Waiter> {
        while let Some(w) = self.queue.pop_front() {
            if !w.done() {
                return Some(w);
            }
        }
        None
    }

    /// `_wake_up_first` / `_wakeup_next` helper: the first waiter that is
    /// not done.
    pub fn first_pending(&self) -> Option<Waiter> {
        self.queue.iter().find(|w| !w.done()).cloned()
    }

    /// The first `n` waiters that are not done, in order (`Condition._notify`).
    pub fn pending(&self, n: usize) -> Vec<Waiter> {
        self.queue
            .iter()
            .filter(|w| !w.done())
            .take(n)
            .cloned()
            .collect()
    }

    /// Every waiter, in order (`Event.set` wakes them all).
    pub fn all(&self) -> Vec<Waiter> {
        self.queue.iter().cloned().collect()
    }

    /// Whether every waiter was cancelled (none at all counts).
    pub fn all_cancelled(&self) -> bool {
        self.queue.iter().all(Waiter::cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::Waiters;

    /// A waiter whose wait is over is the next waiter, pending again: the
    /// same allocation.
    #[test]
    fn a_recycled_waiter_is_reused_pending() {
        let mut w = Waiters::new();
        let a = w.push_new();
        let popped = w.pop_pending().expect("a pending waiter");
        assert!(popped.same(&a));
        assert!(popped.set_result());
        assert!(!popped.set_result(), "done already");
        drop(popped);
        assert!(a.done());
        let addr = a.addr();
        w.recycle(a);
        assert_eq!(w.spare.len(), 1, "kept for the next waiter");
        let b = w.push_new();
        assert!(w.spare.is_empty());
        assert_eq!(b.addr(), addr, "the finished waiter's allocation is reused");
        assert!(
            !b.done() && !b.cancelled(),
            "a reused waiter is pending again"
        );
        assert_eq!(w.len(), 1);
        assert!(w.pop_pending().expect("queued").same(&b));
    }

    /// A waiter someone else still holds keeps its state and is not reused.
    #[test]
    fn a_held_waiter_is_not_reused() {
        let mut w = Waiters::new();
        let a = w.push_new();
        w.remove(&a);
        assert!(a.abandon());
        assert!(!a.abandon(), "cancelled already");
        let keep = a.clone();
        w.recycle(a);
        assert!(w.spare.is_empty(), "not kept: another handle holds it");
        let b = w.push_new();
        assert!(!b.same(&keep));
        assert!(keep.done() && keep.cancelled());
    }

    /// A cancelled waiter nothing else holds is reused, pending and not
    /// cancelled any more.
    #[test]
    fn a_cancelled_waiter_comes_back_uncancelled() {
        let mut w = Waiters::new();
        let a = w.push_new();
        w.remove(&a);
        assert!(a.abandon());
        w.recycle(a);
        assert_eq!(w.spare.len(), 1);
        let b = w.push_new();
        assert!(!b.done() && !b.cancelled());
        assert!(b.set_result(), "pending again");
    }

    /// A waiter still queued (the list holds it) is not reused.
    #[test]
    fn a_queued_waiter_is_not_reused() {
        let mut w = Waiters::new();
        let a = w.push_new();
        w.recycle(a);
        assert!(w.spare.is_empty());
        assert_eq!(w.len(), 1);
    }

    /// `_wakeup_next` skips waiters that are done (cancelled ones), in
    /// order.
    #[test]
    fn pop_pending_skips_done_waiters() {
        let mut w = Waiters::new();
        let a = w.push_new();
        let b = w.push_new();
        let c = w.push_new();
        assert!(a.abandon());
        assert!(b.set_result());
        assert!(w.pop_pending().expect("c is pending").same(&c));
        assert!(w.pop_pending().is_none());
    }
}
