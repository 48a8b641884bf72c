//! How the run ends.

use super::{Check, Evidence, Facts, Verdict};

/// How a run ends, as a claim states it: the trace's `RunEnd` with the
/// error named by its class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The main task returned.
    Completed,
    /// The main task raised (an exception of this class, if given) or was
    /// cancelled (`CancelledError`).
    Failed(Option<String>),
    /// Nothing could happen any more while tasks were unfinished.
    Deadlock,
    /// A limit stopped the run.
    LimitExceeded,
}

impl Ending {
    /// In words: `completed`, `failed with ValueError`, `deadlock`, …
    pub fn describe(&self) -> String {
        match self {
            Ending::Completed => "completed".into(),
            Ending::Failed(Some(k)) => format!("failed with {k}"),
            Ending::Failed(None) => "failed".into(),
            Ending::Deadlock => "deadlock".into(),
            Ending::LimitExceeded => "limit exceeded".into(),
        }
    }

    /// Whether an observed ending is this one (`Failed(None)` matches any failure).
    pub fn matches(&self, observed: &Ending) -> bool {
        match (self, observed) {
            (Ending::Failed(None), Ending::Failed(_)) => true,
            (w, g) => w == g,
        }
    }
}

/// The run ends this way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEnds(pub Ending);

impl Check for RunEnds {
    fn describe(&self) -> String {
        format!("run {}", self.0.describe())
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        match &f.run_end {
            Some(got) => {
                let v = Verdict::new(
                    self.0.matches(got),
                    self.describe(),
                    format!("run {}", got.describe()),
                );
                match f.trace.events.len().checked_sub(1) {
                    Some(last) => v.with(Evidence::at(f.trace, last, "the run's end")),
                    None => v,
                }
            }
            None => Verdict::new(false, self.describe(), "the trace has no end".into()),
        }
    }
}
