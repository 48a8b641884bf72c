//! Virtual time: our own [`Instant`] (integer nanoseconds since the start of
//! the run) and the named conversions between it, [`Duration`] and asyncio's
//! float seconds.
//!
//! The `asyncio` model keeps its clock as an IEEE `f64` of seconds, as
//! CPython's `loop.time()` does, because deadlines computed as
//! `now + delay` in floating point do not always tie where integer
//! arithmetic would (`0.1 + 0.2` sleeps end *after* one `0.3` sleep). The
//! trace and the public API speak integer nanoseconds: the float clock is
//! rounded to the nearest nanosecond whenever it is reported.

use serde::{Deserialize, Serialize};
use std::fmt;
pub use std::time::Duration;

/// A point in virtual time: nanoseconds since the simulation started.
///
/// # Examples
///
/// ```
/// use loopsim::Instant;
/// use std::time::Duration;
/// let t = Instant::from_nanos(1_500_000_000);
/// assert_eq!(t - Instant::ZERO, Duration::from_millis(1500));
/// assert_eq!(t.to_string(), "1.5s");
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(u64);

impl Instant {
    /// The start of every simulation.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant (about 584 years).
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The instant nearest to `secs` float seconds (how asyncio's `loop.time()`
    /// values are reported). Negative and NaN values map to zero.
    pub fn from_secs_f64(secs: f64) -> Instant {
        Instant(secs_f64_to_nanos(secs))
    }

    /// Seconds since the start as a float (the value asyncio's `loop.time()`
    /// would show for this instant).
    pub fn as_secs_f64(self) -> f64 {
        nanos_to_secs_f64(self.0)
    }

    /// The time elapsed since [`Instant::ZERO`].
    pub fn since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Instant> {
        let d = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(d).map(Instant)
    }

    /// `self + d`, saturating at [`Instant::MAX`].
    pub fn saturating_add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant::MAX)
    }

    /// The duration from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).expect("virtual instant overflow")
    }
}

impl std::ops::Sub for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        assert!(
            earlier <= self,
            "virtual time went backwards: {earlier} > {self}"
        );
        Duration::from_nanos(self.0 - earlier.0)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_nanos(self.0))
    }
}

/// Formats nanoseconds the way loopsim prints times: `0s`, `1.5s`, `250ms`,
/// `12.5us`, `42ns`, with no trailing zeros.
///
/// # Examples
///
/// ```
/// assert_eq!(loopsim::time::format_nanos(3_000_000_000), "3s");
/// assert_eq!(loopsim::time::format_nanos(250_000_000), "250ms");
/// assert_eq!(loopsim::time::format_nanos(1_000_500), "1.0005ms");
/// ```
pub fn format_nanos(ns: u64) -> String {
    fn trim(whole: u64, frac: u64, width: usize, unit: &str) -> String {
        if frac == 0 {
            return format!("{whole}{unit}");
        }
        let f = format!("{frac:0width$}");
        format!("{whole}.{}{unit}", f.trim_end_matches('0'))
    }
    if ns == 0 {
        "0s".to_string()
    } else if ns >= 1_000_000_000 {
        trim(ns / 1_000_000_000, ns % 1_000_000_000, 9, "s")
    } else if ns >= 1_000_000 {
        trim(ns / 1_000_000, ns % 1_000_000, 6, "ms")
    } else if ns >= 1_000 {
        trim(ns / 1_000, ns % 1_000, 3, "us")
    } else {
        format!("{ns}ns")
    }
}

/// A time rounded for display (labels, summaries): at most 4 significant
/// digits (`1.488s`, `80.57s`, `12ms`).
pub fn format_short(ns: u64) -> String {
    let unit = [1_000_000_000u64, 1_000_000, 1_000, 1]
        .into_iter()
        .find(|u| ns >= *u)
        .unwrap_or(1);
    let whole = ns / unit;
    let digits = whole.to_string().len() as u32;
    let keep = 4u32.saturating_sub(digits);
    let scale = 10u64.pow(keep.min(9));
    let rounded = ((ns as u128 * scale as u128 + unit as u128 / 2) / unit as u128) as u64;
    let ns_rounded = rounded.saturating_mul(unit) / scale;
    format_nanos(ns_rounded)
}

/// Converts a duration to float seconds exactly as Python parses the same
/// decimal literal: `ns / 1e9` is one correctly rounded division, so
/// `Duration::from_millis(100)` becomes the same `f64` as Python's `0.1`.
/// (`Duration::as_secs_f64` rounds twice and can differ in the last bit.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// assert_eq!(loopsim::time::duration_to_secs_f64(Duration::from_millis(100)), 0.1);
/// assert_eq!(loopsim::time::duration_to_secs_f64(Duration::from_millis(2300)), 2.3);
/// ```
pub fn duration_to_secs_f64(d: Duration) -> f64 {
    // Below 2^53 ns (104 days) the count fits a u64 and converts exactly;
    // this avoids a u128 conversion on every sleep.
    if d.as_secs() < (1u64 << 53) / 1_000_000_000 {
        let ns = d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos());
        ns as f64 / 1e9
    } else if d.as_nanos() < (1u128 << 53) {
        d.as_nanos() as f64 / 1e9
    } else {
        d.as_secs_f64()
    }
}

/// Nanoseconds to float seconds, with the same single rounding as
/// [`duration_to_secs_f64`].
pub fn nanos_to_secs_f64(ns: u64) -> f64 {
    if ns < (1u64 << 53) {
        ns as f64 / 1e9
    } else {
        Duration::from_nanos(ns).as_secs_f64()
    }
}

/// Float seconds to the nearest nanosecond; negative and NaN give zero,
/// values past `u64::MAX` nanoseconds saturate.
pub fn secs_f64_to_nanos(secs: f64) -> u64 {
    if secs.is_nan() || secs <= 0.0 {
        return 0;
    }
    let x = secs * 1e9;
    if x >= u64::MAX as f64 {
        return u64::MAX;
    }
    // `x.round()` (half away from zero) without a libm call: `x - floor(x)`
    // is exact for a double, and past 2^53 every double is an integer.
    let whole = x as u64;
    if x - whole as f64 >= 0.5 {
        whole + 1
    } else {
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_conversions_agree_with_the_plain_ones() {
        use rand::{RngExt, SeedableRng};
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let edges = [
            0u64,
            1,
            999_999_999,
            1_000_000_000,
            (1 << 53) - 1,
            1 << 53,
            u64::MAX,
        ];
        let ns = edges.into_iter().chain((0..20_000).map(|_| {
            let shift = r.random_range(0..64u32);
            r.random_range(0..u64::MAX >> shift)
        }));
        for n in ns {
            let d = Duration::from_nanos(n);
            let plain = if d.as_nanos() < (1u128 << 53) {
                d.as_nanos() as f64 / 1e9
            } else {
                d.as_secs_f64()
            };
            assert_eq!(duration_to_secs_f64(d).to_bits(), plain.to_bits(), "{n} ns");
        }
        let secs = [
            0.0,
            0.5e-9,
            1.5e-9,
            2.5e-9,
            0.499_999_999_999_999_9e-9,
            0.1,
            0.3,
            1e10,
            1.8e10,
            1e300,
            -1.0,
            f64::NAN,
        ]
        .into_iter()
        .chain((0..20_000).map(|_| {
            let e = r.random_range(-9..12i32);
            r.random::<f64>() * 10f64.powi(e)
        }));
        for x in secs {
            let plain = if x.is_nan() || x <= 0.0 {
                0
            } else if (x * 1e9).round() >= u64::MAX as f64 {
                u64::MAX
            } else {
                (x * 1e9).round() as u64
            };
            assert_eq!(secs_f64_to_nanos(x), plain, "{x:e} s");
        }
    }

    #[test]
    fn python_literals_convert_to_the_same_float() {
        assert_eq!(duration_to_secs_f64(Duration::from_millis(300)), 0.3);
        assert_eq!(duration_to_secs_f64(Duration::from_millis(10)), 0.01);
        assert_eq!(duration_to_secs_f64(Duration::from_millis(1500)), 1.5);
        assert!(0.1 + 0.2 > duration_to_secs_f64(Duration::from_millis(300)));
    }

    #[test]
    fn float_seconds_round_to_nearest_nanosecond() {
        assert_eq!(secs_f64_to_nanos(0.1 + 0.2), 300_000_000);
        assert_eq!(secs_f64_to_nanos(-1.0), 0);
        assert_eq!(secs_f64_to_nanos(f64::NAN), 0);
        assert_eq!(secs_f64_to_nanos(1e30), u64::MAX);
    }

    #[test]
    fn format_trims_zeros_and_picks_units() {
        assert_eq!(format_nanos(0), "0s");
        assert_eq!(format_nanos(1_500_000_000), "1.5s");
        assert_eq!(format_nanos(10_000_000), "10ms");
        assert_eq!(format_nanos(1_500), "1.5us");
        assert_eq!(format_nanos(7), "7ns");
    }
}
