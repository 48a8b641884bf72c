//! Sleeping, yielding, blocking, and reading the virtual clock.
//!
//! `sleep(d)` with `d > 0` is asyncio's `sleep`: a timer whose callback
//! completes a future; the timer runs in iteration *j*, the task resumes in
//! *j + 1*. `sleep(0)` ([`yield_now`]) is a bare yield: the task's step goes
//! back to the tail of the ready queue. [`block`] is `time.sleep` inside a
//! coroutine: it advances the clock while holding the loop, so nothing else
//! runs meanwhile.

use crate::engine::{self, CancelTarget, timers::TimerKey};
use crate::time::{Duration, Instant};
use crate::trace::{EventKind, WaitOn};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Suspends the current task for `delay` of virtual time
/// (`await asyncio.sleep(delay)`); zero is a bare yield.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, sleep, now};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     sleep(Duration::from_millis(1500)).await;
///     now()
/// });
/// assert_eq!(run.value().unwrap().to_string(), "1.5s");
/// ```
pub fn sleep(delay: Duration) -> Sleep {
    Sleep {
        state: State::Init(When::Delay(delay)),
    }
}

/// `await asyncio.sleep(seconds)` with a float, exactly: under the
/// `asyncio` model the deadline is `loop.time() + seconds` in `f64`
/// arithmetic (`sleep_secs(0.1 + 0.2)` ends after `sleep_secs(0.3)`).
/// Zero, negative and NaN values are a bare yield, as in asyncio.
pub fn sleep_secs(seconds: f64) -> Sleep {
    if seconds.is_nan() || seconds <= 0.0 {
        return yield_now();
    }
    Sleep {
        state: State::Init(When::Secs(seconds)),
    }
}

/// Suspends the current task until the virtual clock reaches `deadline`
/// (a timer at `deadline`; if it has passed, the timer fires in the next
/// iteration).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        state: State::Init(When::At(deadline)),
    }
}

/// Yields to the loop once (`await asyncio.sleep(0)`): every handle already
/// ready runs before this task continues.
pub fn yield_now() -> Sleep {
    sleep(Duration::ZERO)
}

#[derive(Clone, Copy, Debug)]
enum When {
    Delay(Duration),
    Secs(f64),
    At(Instant),
}

/// Where a sleep is: its deadline is needed only until its timer is
/// scheduled, so the two share one place (a `Sleep` is 16 bytes, and every
/// future that awaits one holds it).
#[derive(Clone, Copy, Debug)]
enum State {
    Init(When),
    Yielded,
    Waiting(TimerKey),
    Done,
}

/// The future returned by [`sleep`], [`sleep_until`] and [`yield_now`].
/// Dropping it cancels its timer (the `finally: h.cancel()` of asyncio's
/// `sleep`).
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    state: State,
}

impl Future for Sleep {
    type Output = ();

    /// Inlined where it is awaited: a yield's second poll is a store; the
    /// first poll and a wait's check are calls of their own.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.state {
            State::Done | State::Yielded => {
                this.state = State::Done;
                Poll::Ready(())
            }
            State::Init(When::Delay(d)) if d.is_zero() => this.start_yield(cx),
            State::Init(when) => this.start(when, cx),
            State::Waiting(key) => this.check(key),
        }
    }
}

impl Sleep {
    /// A yield's first poll (a function of its own, small: every yield
    /// calls it).
    #[inline(never)]
    fn start_yield(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let woken = engine::with_core("yield_now", |c| c.yield_current(cx.waker()));
        if !woken {
            engine::with_core("yield_now", |c| {
                c.set_waiting(WaitOn::Yield, CancelTarget::Wake);
            });
            cx.waker().wake_by_ref();
        }
        self.state = State::Yielded;
        Poll::Pending
    }

    /// The first poll of a sleep that is not a bare yield: a timer
    /// scheduled.
    #[inline(never)]
    fn start(&mut self, when: When, cx: &mut Context<'_>) -> Poll<()> {
        if matches!(when, When::Delay(d) if d.is_zero()) {
            return self.start_yield(cx);
        }
        let waker = cx.waker();
        let key = engine::with_core("sleep", |c| {
            let deadline = match when {
                When::Delay(d) => c.deadline_after(d),
                When::Secs(s) => c.deadline_after_secs(s),
                When::At(t) => c.deadline_at(t),
            };
            // A positive delay too small to move the clock (`now +
            // d == now` in float seconds): a loop of such sleeps
            // would never let time pass.
            let stalled = if c.is_asyncio() {
                deadline.0 <= c.time_f()
            } else {
                deadline.1 <= c.now().as_nanos()
            };
            if stalled && !matches!(when, When::At(_)) {
                let d = match when {
                    When::Delay(d) => crate::time::duration_to_secs_f64(d),
                    When::Secs(s) => s,
                    When::At(_) => 0.0,
                };
                c.hit_limit(
                    engine::LimitKind::Time,
                    Some(format!(
                        "sleep({d:?}) at {} cannot move the clock: now + delay == now at this time's float precision",
                        c.now()
                    )),
                );
            }
            let label = c.syms().sleep;
            let key = c.schedule_wake_timer(deadline, waker, label, true);
            c.set_waiting(
                WaitOn::Timer {
                    deadline: Instant::from_nanos(deadline.1),
                },
                CancelTarget::Timer,
            );
            key
        });
        self.state = State::Waiting(key);
        Poll::Pending
    }

    /// A later poll while the timer is pending: has it fired?
    #[inline(never)]
    fn check(&mut self, key: TimerKey) -> Poll<()> {
        let fired = engine::with_core("sleep", |c| match c.sleep_timer_pending(key) {
            None => true,
            Some(deadline) => {
                c.set_waiting(WaitOn::Timer { deadline }, CancelTarget::Timer);
                false
            }
        });
        if fired {
            self.state = State::Done;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    #[inline]
    fn drop(&mut self) {
        if let State::Waiting(key) = self.state {
            cancel_pending(key);
        }
    }
}

/// A sleep dropped while its timer is pending cancels it.
#[inline(never)]
fn cancel_pending(key: TimerKey) {
    let action = engine::try_with_core(|c| c.cancel_timer(key, true));
    drop(action);
}

/// A blocking call inside the current step (`time.sleep(d)` in a coroutine,
/// or CPU work): the virtual clock advances by `d` while the loop is held,
/// so no other task or timer runs meanwhile. Timers that fall due run
/// afterwards, each once, in deadline order.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, spawn, sleep, block, now, print};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let sleeper = spawn(async { sleep(Duration::from_secs(1)).await; print(now()) });
///     sleep(Duration::ZERO).await;
///     block(Duration::from_secs(2));
///     sleeper.await.unwrap();
/// });
/// assert_eq!(run.output_lines(), vec!["2s"]); // woke late: the loop was blocked
/// ```
pub fn block(d: Duration) {
    engine::with_core("block", |c| {
        let task = c.current();
        c.record(
            task,
            EventKind::Blocked {
                nanos: u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            },
        );
        c.advance_by(d);
    });
    engine::run_world_due_now();
}

/// The Python version the running simulation's `asyncio` model follows
/// (where asyncio's versions differ: `wait_for`, eager tasks, semaphores).
///
/// # Panics
///
/// Outside a running simulation.
pub fn python_version() -> crate::PythonVersion {
    engine::with_core("python_version", |c| c.python())
}

/// Whether the running simulation records a trace: a program can skip
/// building labels nobody will read.
///
/// # Panics
///
/// Outside a running simulation.
pub fn tracing() -> bool {
    engine::with_core("tracing", |c| c.tracing())
}

/// The virtual time now.
pub fn now() -> Instant {
    engine::with_core("now", |c| c.now())
}

/// asyncio's `loop.time()`: the float clock (seconds), exactly as the
/// `asyncio` model computes it.
pub fn loop_time() -> f64 {
    engine::with_core("loop_time", |c| c.time_f())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sleep_stays_small() {
        // Every task that sleeps holds one, a million at a time in `bench`.
        let size = std::mem::size_of::<super::Sleep>();
        assert!(size <= 16, "a Sleep is {size} bytes");
    }
}
