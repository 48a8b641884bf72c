//! How long a service takes: a fixed time or a seeded distribution, drawn
//! from the service's own random stream.

use crate::rng::SimRng;
use crate::time::{Duration, duration_to_secs_f64};
use rand::RngExt;

/// A service time: fixed, or drawn from a distribution (the same ones a
/// scenario's `uniform(…)`, `normal(…)`, `exponential(…)` and
/// `lognormal(…)` draw from).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always this long.
    Fixed(Duration),
    /// Uniform between the two bounds.
    Uniform(Duration, Duration),
    /// Normal with this mean and standard deviation, truncated at zero.
    Normal {
        /// The mean.
        mean: Duration,
        /// The standard deviation.
        std: Duration,
    },
    /// Exponential with this mean.
    Exponential {
        /// The mean.
        mean: Duration,
    },
    /// Log-normal: `median × e^(sigma·N(0,1))`, the usual shape of web
    /// latencies (a long right tail).
    LogNormal {
        /// The median.
        median: Duration,
        /// The spread of the logarithm.
        sigma: f64,
    },
}

impl Latency {
    /// A fixed service time.
    pub fn fixed(d: Duration) -> Latency {
        Latency::Fixed(d)
    }

    /// Draws one service time from `rng`.
    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        let secs = |d: Duration| duration_to_secs_f64(d);
        let mut unit = || rng.random::<f64>();
        let s = match *self {
            Latency::Fixed(d) => return d,
            Latency::Uniform(a, b) => secs(a) + (secs(b) - secs(a)) * unit(),
            Latency::Normal { mean, std } => secs(mean) + secs(std) * std_normal(&mut unit),
            Latency::Exponential { mean } => -secs(mean) * (1.0 - unit()).ln(),
            Latency::LogNormal { median, sigma } => {
                secs(median) * (sigma * std_normal(&mut unit)).exp()
            }
        };
        if s.is_finite() && s > 0.0 {
            // At most a year: a draw from a long tail stays a time.
            Duration::from_secs_f64(s.min(365.0 * 24.0 * 3600.0))
        } else {
            Duration::ZERO
        }
    }
}

/// A standard normal draw (Box–Muller), as the scenario builtins draw.
fn std_normal(unit: &mut impl FnMut() -> f64) -> f64 {
    let u1 = 1.0 - unit();
    let u2 = unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = |d: &Duration| crate::time::format_nanos(d.as_nanos() as u64);
        match self {
            Latency::Fixed(x) => write!(f, "{}", d(x)),
            Latency::Uniform(a, b) => write!(f, "uniform({}, {})", d(a), d(b)),
            Latency::Normal { mean, std } => write!(f, "normal({}, {})", d(mean), d(std)),
            Latency::Exponential { mean } => write!(f, "exponential({})", d(mean)),
            Latency::LogNormal { median, sigma } => write!(f, "lognormal({}, {sigma})", d(median)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_are_reproducible_and_never_negative() {
        let l = Latency::Normal {
            mean: Duration::from_millis(10),
            std: Duration::from_millis(50),
        };
        let draw = |seed| {
            let mut r = SimRng::seed_from_u64(seed);
            (0..200).map(|_| l.sample(&mut r)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).contains(&Duration::ZERO), "truncated at zero");
    }

    #[test]
    fn a_lognormal_median_is_its_median() {
        let l = Latency::LogNormal {
            median: Duration::from_millis(200),
            sigma: 0.5,
        };
        let mut r = SimRng::seed_from_u64(1);
        let mut v: Vec<Duration> = (0..4001).map(|_| l.sample(&mut r)).collect();
        v.sort();
        let m = v[2000].as_secs_f64();
        assert!((0.18..0.22).contains(&m), "median {m}");
    }
}
