//! Claims about simulated I/O: how long requests take (percentiles) and how
//! many fail, per service or pool, read from the trace's `Io` events.

use super::words::t;
use super::{Bound, Check, Count, Evidence, Facts, Verdict};
use crate::time::{Duration, Instant};
use crate::trace::{EventKind, IoPhase, Trace};
use std::collections::BTreeMap;

/// One request or job as the trace tells it: when it arrived, when and how
/// it ended (`None` while it had no answer: withdrawn, abandoned, or cut
/// short by the run's end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Its number at the resource.
    pub id: u32,
    /// Event index of its arrival.
    pub arrived_seq: usize,
    /// When it arrived.
    pub arrived: Instant,
    /// When it was answered (finished, failed or rejected), with the event
    /// index and the error, if it failed.
    pub answered: Option<(Instant, usize, Option<String>)>,
    /// It was turned away without service (queue full, rate limited).
    pub rejected: bool,
}

impl Request {
    /// Arrival to answer: queueing, service and any rate-limit wait.
    pub fn latency(&self) -> Option<Duration> {
        self.answered
            .as_ref()
            .map(|(at, _, _)| at.saturating_duration_since(self.arrived))
    }
}

/// Every request to `resource` in `trace`, in arrival order.
pub fn requests(trace: &Trace, resource: &str) -> Vec<Request> {
    let mut out: Vec<Request> = Vec::new();
    let mut index: BTreeMap<u32, usize> = BTreeMap::new();
    for (seq, e) in trace.events.iter().enumerate() {
        let EventKind::Io {
            resource: r,
            id,
            phase,
        } = e.kind
        else {
            continue;
        };
        if trace.str(r) != resource {
            continue;
        }
        match phase {
            IoPhase::Arrived => {
                index.insert(id, out.len());
                out.push(Request {
                    id,
                    arrived_seq: seq,
                    arrived: e.at,
                    answered: None,
                    rejected: false,
                });
            }
            IoPhase::Finished | IoPhase::Failed { .. } | IoPhase::Rejected { .. } => {
                let error = match phase {
                    IoPhase::Failed { error } | IoPhase::Rejected { error } => {
                        Some(trace.str(error).to_string())
                    }
                    _ => None,
                };
                if let Some(r) = index.get(&id).and_then(|i| out.get_mut(*i))
                    && r.answered.is_none()
                {
                    r.answered = Some((e.at, seq, error));
                    r.rejected = matches!(phase, IoPhase::Rejected { .. });
                }
            }
            _ => {}
        }
    }
    out
}

/// The `p`-th percentile (nearest rank) of the latencies of the requests
/// that were served (answered, not turned away: a rejection's instant "no"
/// is counted by [`Errors`], not as a fast answer), with the request it
/// comes from; `None` when none was served.
pub fn percentile(requests: &[Request], p: f64) -> Option<(Duration, &Request)> {
    let mut answered: Vec<(Duration, &Request)> = requests
        .iter()
        .filter(|r| !r.rejected)
        .filter_map(|r| r.latency().map(|l| (l, r)))
        .collect();
    if answered.is_empty() {
        return None;
    }
    answered.sort_by_key(|(l, r)| (*l, r.arrived_seq));
    Some(answered[nearest_rank(answered.len(), p) - 1])
}

/// The nearest rank (from 1) of the `p`-th percentile among `n` sorted
/// values (`n` at least 1).
pub(super) fn nearest_rank(n: usize, p: f64) -> usize {
    ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as usize
}

/// The `percentile`-th percentile of the latency of a service's (or pool's)
/// answered requests, arrival to answer, is within a bound.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyPercentile {
    /// The service or pool.
    pub resource: String,
    /// Which percentile (50 for the median, 99 for the tail).
    pub percentile: f64,
    /// The bound.
    pub bound: Bound,
}

impl Check for LatencyPercentile {
    fn describe(&self) -> String {
        format!(
            "p{} latency of {:?} {}",
            self.percentile,
            self.resource,
            self.bound.describe()
        )
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let reqs = requests(f.trace, &self.resource);
        match percentile(&reqs, self.percentile) {
            Some((l, r)) => {
                let (_, seq, _) = r.answered.as_ref().expect("an answered request");
                Verdict::new(
                    self.bound.contains(l),
                    self.describe(),
                    format!(
                        "p{} {} over {} served of {} requests",
                        self.percentile,
                        t(l),
                        reqs.iter()
                            .filter(|r| r.answered.is_some() && !r.rejected)
                            .count(),
                        reqs.len()
                    ),
                )
                .with(Evidence::at(
                    f.trace,
                    *seq,
                    format!("#{} answered after {}", r.id, t(l)),
                ))
            }
            None => Verdict::new(
                false,
                self.describe(),
                format!("no request to {:?} was served", self.resource),
            ),
        }
    }

    fn as_claim(&self) -> Option<String> {
        Some(format!(
            "latency = {:?}\npercentile = {}\n{}",
            self.resource,
            self.percentile,
            self.bound.as_claim_keys()
        ))
    }
}

/// How many requests to a service failed or were turned away (optionally:
/// with errors of one class).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Errors {
    /// The service or pool.
    pub resource: String,
    /// Only errors of this class (`TooManyRequests`), if given.
    pub kind: Option<String>,
    /// How many.
    pub count: Count,
}

impl Check for Errors {
    fn describe(&self) -> String {
        let what = match &self.kind {
            Some(k) => format!("{k} errors"),
            None => "errors".to_string(),
        };
        format!("{what} from {:?}: {}", self.resource, self.count.describe())
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let reqs = requests(f.trace, &self.resource);
        let failed: Vec<&Request> = reqs
            .iter()
            .filter(|r| match &r.answered {
                Some((_, _, Some(e))) => self
                    .kind
                    .as_ref()
                    .is_none_or(|k| e.split(':').next() == Some(k.as_str())),
                _ => false,
            })
            .collect();
        let n = failed.len() as u64;
        let mut v = Verdict::new(
            self.count.contains(n),
            self.describe(),
            format!("{n} of {} requests", reqs.len()),
        );
        for r in failed.iter().take(3) {
            let (_, seq, e) = r.answered.as_ref().expect("a failed request");
            v = v.with(Evidence::at(
                f.trace,
                *seq,
                format!("#{}: {}", r.id, e.as_deref().unwrap_or("")),
            ));
        }
        v
    }

    fn as_claim(&self) -> Option<String> {
        let kind = self
            .kind
            .as_ref()
            .map(|k| format!("\nkind = {k:?}"))
            .unwrap_or_default();
        Some(format!(
            "errors = {:?}{kind}\n{}",
            self.resource,
            self.count.as_claim_keys()
        ))
    }
}

/// How many health warnings a run gave (of one kind: `slow_step`,
/// `never_awaited`, `pending_at_exit`, `exception_never_retrieved`,
/// `unhandled_at_shutdown`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warnings {
    /// Only warnings of this kind, if given.
    pub kind: Option<String>,
    /// How many.
    pub count: Count,
}

impl Check for Warnings {
    fn describe(&self) -> String {
        match (&self.kind, self.count) {
            (None, Count::Exact(0)) => "no warnings".to_string(),
            (Some(k), Count::AtLeast(1)) => format!("warns {k}"),
            (Some(k), c) => format!("{k} warnings: {}", c.describe()),
            (None, c) => format!("warnings: {}", c.describe()),
        }
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let names = f.trace.task_names();
        let found: Vec<(usize, String)> = f
            .trace
            .events
            .iter()
            .enumerate()
            .filter_map(|(seq, e)| match e.kind {
                EventKind::Warning { warning }
                    if self.kind.as_deref().is_none_or(|k| k == warning.name()) =>
                {
                    let name = e.task.and_then(|t| names.get(&t)).map(String::as_str);
                    Some((seq, warning.message(f.trace, name)))
                }
                _ => None,
            })
            .collect();
        let n = found.len() as u64;
        let observed = match found.first() {
            None => "no warnings".to_string(),
            Some((_, first)) => format!("{n} warning(s), first: {first}"),
        };
        let mut v = Verdict::new(self.count.contains(n), self.describe(), observed);
        for (seq, text) in found.iter().take(3) {
            v = v.with(Evidence::at(f.trace, *seq, text.clone()));
        }
        v
    }

    fn as_claim(&self) -> Option<String> {
        Some(match (&self.kind, self.count) {
            (None, Count::Exact(0)) => "no_warnings = true".to_string(),
            (Some(k), Count::AtLeast(1)) => format!("warns = {k:?}"),
            (Some(k), c) => format!("warns = {k:?}\n{}", c.as_claim_keys()),
            (None, _) => return None,
        })
    }
}
