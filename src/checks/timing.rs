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
}

impl Faster {
    /// In words.
    pub fn describe(&self) -> String {
        match self.ratio_at_least {
            Some(r) => format!("{} at least {r}x faster than {}", self.faster, self.slower),
            None => format!("{} faster than {}", self.faster, self.slower),
        }
    }

    /// Judges two runs: `faster`'s facts and `slower`'s.
    pub fn check(&self, faster: &Facts<'_>, slower: &Facts<'_>) -> Verdict {
        let (fname, sname) = (&self.faster, &self.slower);
        let observed = match (faster.main_end, slower.main_end) {
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
            _ => "a variant's main task did not finish".to_string(),
        };
        Verdict::new(false, self.describe(), observed)
    }
}
