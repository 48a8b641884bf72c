//! The virtual clock, kept in two forms that never disagree by more than
//! a rounding: asyncio's float `loop.time()` (authoritative under the
//! `asyncio` model, so that deadlines add and compare exactly as CPython's
//! floats do) and integer nanoseconds (authoritative under `fifo` and
//! `random`, and what the trace records).

use crate::time::{Duration, Instant, duration_to_secs_f64, nanos_to_secs_f64, secs_f64_to_nanos};

/// asyncio's `MAXIMUM_SELECT_TIMEOUT`: the loop never sleeps longer than a day
/// at once.
const MAXIMUM_SELECT_TIMEOUT: f64 = 24.0 * 3600.0;

pub(crate) struct Clock {
    /// The float clock leads (the `asyncio` model).
    float: bool,
    now_f: f64,
    now_ns: u64,
}

impl Clock {
    pub fn new(float: bool) -> Clock {
        Clock {
            float,
            now_f: 0.0,
            now_ns: 0,
        }
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.now_ns)
    }

    /// asyncio's `loop.time()`.
    pub fn time_f(&self) -> f64 {
        self.now_f
    }

    /// Advances by `d` (a blocking call or a step's overhead).
    pub fn advance_by(&mut self, d: Duration) {
        if self.float {
            self.now_f += duration_to_secs_f64(d);
            self.set_ns(secs_f64_to_nanos(self.now_f));
        } else {
            let ns = self
                .now_ns
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            self.set_ns(ns);
            self.now_f = nanos_to_secs_f64(self.now_ns);
        }
    }

    /// Step 2 of `_run_once` with nothing ready: jumps to the earliest
    /// timer's deadline `(float, ns)` — under the float clock by
    /// `select`'s timeout, at most a day at a time.
    pub fn advance_to_timer(&mut self, when_f: f64, when_ns: u64) {
        if self.float {
            let timeout = (when_f - self.now_f).clamp(0.0, MAXIMUM_SELECT_TIMEOUT);
            if timeout > 0.0 {
                self.now_f += timeout;
                let ns = secs_f64_to_nanos(self.now_f).max(self.now_ns);
                self.set_ns(ns);
            }
        } else if when_ns > self.now_ns {
            self.set_ns(when_ns);
            self.now_f = nanos_to_secs_f64(when_ns);
        }
    }

    fn set_ns(&mut self, ns: u64) {
        assert!(
            ns >= self.now_ns,
            "virtual clock went backwards: {} -> {ns}",
            self.now_ns
        );
        self.now_ns = ns;
    }

    /// The float and nanosecond deadline `delay` from now.
    pub fn deadline_after(&self, delay: Duration) -> (f64, u64) {
        if self.float {
            let when = self.now_f + duration_to_secs_f64(delay);
            (when, secs_f64_to_nanos(when))
        } else {
            let ns = self
                .now_ns
                .saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
            (nanos_to_secs_f64(ns), ns)
        }
    }

    /// The deadline `secs` float seconds from now (`loop.time() + secs`).
    pub fn deadline_after_secs(&self, secs: f64) -> (f64, u64) {
        if self.float {
            let when = self.now_f + secs;
            (when, secs_f64_to_nanos(when))
        } else {
            let ns = if secs < 0.0 {
                self.now_ns.saturating_sub(secs_f64_to_nanos(-secs))
            } else {
                self.now_ns.saturating_add(secs_f64_to_nanos(secs))
            };
            (nanos_to_secs_f64(ns), ns)
        }
    }

    /// Whether a timer due at `(float, ns)` is due now (step 3 of
    /// `_run_once`: `when < loop.time() + clock_resolution` under the float
    /// clock).
    pub fn due_limit(&self) -> (f64, u64) {
        (self.now_f + CLOCK_RESOLUTION, self.now_ns)
    }

    pub fn is_float(&self) -> bool {
        self.float
    }
}

/// `time.get_clock_info('monotonic').resolution` on Linux.
const CLOCK_RESOLUTION: f64 = 1e-9;
