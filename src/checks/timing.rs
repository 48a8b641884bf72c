//! How long things take.

use super::words::t;
use super::{Check, Evidence, Facts, Verdict};
use crate::time::Duration;

/// A bound on a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Exactly.
    Exact(Duration),
    /// At most.
    AtMost(Duration),
    /// At least.
    AtLeast(Duration),
    /// Within `[lo, hi]`.
    Between(Duration, Duration),
}

impl Bound {
    /// Whether `d` is within the bound.
    pub fn contains(&self, x: Duration) -> bool {
        match self {
            Bound::Exact(d) => x == *d,
            Bound::AtMost(d) => x <= *d,
            Bound::AtLeast(d) => x >= *d,
            Bound::Between(a, b) => *a <= x && x <= *b,
        }
    }

    /// The bound as a claim's keys: `is = "3s"`, `at_most = "3s"`,
    /// `at_least = "1s"`, `between = ["1s", "2s"]`.
    pub fn as_claim_keys(&self) -> String {
        let q = |d: &Duration| format!("{:?}", t(*d));
        match self {
            Bound::Exact(d) => format!("is = {}", q(d)),
            Bound::AtMost(d) => format!("at_most = {}", q(d)),
            Bound::AtLeast(d) => format!("at_least = {}", q(d)),
            Bound::Between(a, b) => format!("between = [{}, {}]", q(a), q(b)),
        }
    }

    /// In words: `3s`, `at most 3s`, `between 1s and 2s`.
    pub fn describe(&self) -> String {
        match self {
            Bound::Exact(d) => t(*d),
            Bound::AtMost(d) => format!("at most {}", t(*d)),
            Bound::AtLeast(d) => format!("at least {}", t(*d)),
            Bound::Between(a, b) => format!("between {} and {}", t(*a), t(*b)),
        }
    }
}

/// The main task ends within a bound of virtual time ("gather takes as long
/// as the slowest child").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(pub Bound);

impl Check for Elapsed {
    fn describe(&self) -> String {
        format!("elapsed {}", self.0.describe())
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        match f
            .tasks
            .get(&crate::trace::TaskId(1))
            .and_then(|m| m.ended.clone())
        {
            Some((seq, at, _)) => Verdict::new(
                self.0.contains(at.since_start()),
                self.describe(),
                format!("elapsed {at}"),
            )
            .with(Evidence::at(f.trace, seq, "the main task ends")),
            None => Verdict::new(
                false,
                self.describe(),
                format!(
                    "main did not finish ({})",
                    f.run_end.as_ref().map(|e| e.describe()).unwrap_or_default()
                ),
            ),
        }
    }
}

/// One run's main task ends sooner than another's (by a ratio, if given).
#[derive(Clone, Debug, PartialEq)]
pub struct Faster {
    /// The run expected to be faster (a variant's name).
    pub faster: String,
    /// The run expected to be slower.
    pub slower: String,
    /// `slower / faster >= ratio`.
    pub ratio_at_least: Option<f64>,
    /// Compare this percentile of a service's (or pool's) request latency
    /// (`("api", 99.0)`) instead of the main task's end.
    pub latency: Option<(String, f64)>,
}

impl Faster {
    /// In words.
    pub fn describe(&self) -> String {
        let what = match &self.latency {
            Some((r, p)) => format!(" (p{p} latency of {r:?})"),
            None => String::new(),
        };
        match self.ratio_at_least {
            Some(r) => format!(
                "{} at least {r}x faster than {}{what}",
                self.faster, self.slower
            ),
            None => format!("{} faster than {}{what}", self.faster, self.slower),
        }
    }

    /// Judges two runs: `faster`'s facts and `slower`'s.
    pub fn check(&self, faster: &Facts<'_>, slower: &Facts<'_>) -> Verdict {
        let (fname, sname) = (&self.faster, &self.slower);
        let measure = |f: &Facts<'_>| match &self.latency {
            Some((r, p)) => {
                let reqs = super::io::requests(f.trace, r);
                super::io::percentile(&reqs, *p).map(|(l, _)| l)
            }
            None => f.main_end.map(|e| e.since_start()),
        };
        let observed = match (measure(faster), measure(slower)) {
            (Some(a), Some(b)) => {
                let (a, b) = (a.as_secs_f64(), b.as_secs_f64());
                let ratio = if a > 0.0 { b / a } else { f64::INFINITY };
                let ok = a < b && self.ratio_at_least.is_none_or(|r| ratio >= r);
                return Verdict::new(
                    ok,
                    self.describe(),
                    format!(
                        "{fname} {}, {sname} {} (ratio {ratio:.2})",
                        t(Duration::from_secs_f64(a)),
                        t(Duration::from_secs_f64(b))
                    ),
                );
            }
            _ if self.latency.is_some() => "a variant has no answered request".to_string(),
            _ => "a variant's main task did not finish".to_string(),
        };
        Verdict::new(false, self.describe(), observed)
    }
}
