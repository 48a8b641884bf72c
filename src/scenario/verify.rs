//! Verifying a scenario's claims: runs each variant (and seed) the claims
//! need once, folds each trace's [`Facts`] once, and judges every claim with
//! its checker from [`crate::checks`].
//!
//! A claim about one run is a checker ([`checker`]); a `faster` claim
//! compares two runs; a claim over a seed range is judged on each seed and
//! reports the first that breaks it.

use super::{ClaimKind, Ending, Property, Scenario, run_variant};
use crate::LoopModel;
use crate::checks::{
    BoundedWait, Check, DeadlineOrder, Elapsed, EqualDeadlineFifo, Errors, Facts, Faster,
    FirstComeFirstServed, InOrder, LatencyPercentile, MaxInSection, NothingPending, OutputIs,
    PrintedAt, ReadyFifo, RunEnds, TaskEnds, TimeoutDelivered, Verdict, Warnings, WellFormed,
};
use crate::trace::Trace;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The checker of a claim about one run (`None` for `faster`, which
/// compares two: [`faster`]).
pub fn checker(kind: &ClaimKind) -> Option<Box<dyn Check>> {
    Some(match kind {
        ClaimKind::Elapsed(b) => Box::new(Elapsed(*b)),
        ClaimKind::Output(l) => Box::new(OutputIs(l.clone())),
        ClaimKind::Order(l) => Box::new(InOrder(l.clone())),
        ClaimKind::PrintedAt { line, at } => Box::new(PrintedAt {
            line: line.clone(),
            at: *at,
        }),
        ClaimKind::TaskEnds { task, at, how } => Box::new(TaskEnds {
            task: task.clone(),
            at: *at,
            how: how.clone(),
        }),
        ClaimKind::MaxConcurrent { section, count } => Box::new(MaxInSection {
            section: section.clone(),
            count: *count,
        }),
        ClaimKind::RunEnds(o) => Box::new(RunEnds(o.clone())),
        ClaimKind::Holds(p) => match p {
            Property::DeadlineOrder => Box::new(DeadlineOrder),
            Property::EqualDeadlineFifo => Box::new(EqualDeadlineFifo),
            Property::ReadyFifo => Box::new(ReadyFifo),
            Property::BoundedWait(k) => Box::new(BoundedWait(*k)),
            Property::FirstComeFirstServed(n) => Box::new(FirstComeFirstServed(n.clone())),
            Property::TimeoutDelivered(k) => Box::new(TimeoutDelivered(*k)),
            Property::NothingPending => Box::new(NothingPending),
            Property::WellFormed => Box::new(WellFormed),
            Property::NoDeliveryAcrossPartition => {
                Box::new(crate::checks::NoDeliveryAcrossPartition)
            }
        },
        ClaimKind::Latency {
            resource,
            percentile,
            bound,
        } => Box::new(LatencyPercentile {
            resource: resource.clone(),
            percentile: *percentile,
            bound: *bound,
        }),
        ClaimKind::Errors {
            resource,
            kind,
            count,
        } => Box::new(Errors {
            resource: resource.clone(),
            kind: kind.clone(),
            count: *count,
        }),
        ClaimKind::Messages { fate, count } => Box::new(crate::checks::MessageCount {
            fate: *fate,
            count: *count,
        }),
        ClaimKind::ReconnectsWithin(d) => Box::new(crate::checks::ReconnectsWithin(*d)),
        ClaimKind::MessageLatency { percentile, bound } => {
            Box::new(crate::checks::MessageLatency {
                percentile: *percentile,
                bound: *bound,
            })
        }
        ClaimKind::Warns { kind, count } => Box::new(Warnings {
            kind: kind.clone(),
            count: *count,
        }),
        ClaimKind::Faster { .. } => return None,
    })
}

/// The comparison of a `faster` claim (`None` for the others).
pub fn faster(kind: &ClaimKind) -> Option<Faster> {
    match kind {
        ClaimKind::Faster {
            faster,
            slower,
            ratio_at_least,
            latency,
        } => Some(Faster {
            faster: faster.clone(),
            slower: slower.clone(),
            ratio_at_least: *ratio_at_least,
            latency: latency.clone(),
        }),
        _ => None,
    }
}

/// What a claim says, in words (for reports).
pub fn describe(kind: &ClaimKind) -> String {
    match (checker(kind), faster(kind)) {
        (Some(c), _) => c.describe(),
        (None, Some(f)) => f.describe(),
        (None, None) => unreachable!("every claim is a checker or a comparison"),
    }
}

/// Judges a claim about one run on one trace.
///
/// # Panics
///
/// For a `faster` claim, which needs two traces ([`check_faster`]).
pub fn check(kind: &ClaimKind, trace: &Trace) -> Verdict {
    let c = checker(kind).expect("`faster` compares two runs: use check_faster");
    c.check(&Facts::of(trace))
}

/// Judges a `faster` claim on its two runs' traces.
///
/// # Panics
///
/// For any other claim.
pub fn check_faster(kind: &ClaimKind, faster_run: &Trace, slower_run: &Trace) -> Verdict {
    let f = faster(kind).expect("check_faster takes a `faster` claim");
    f.check(&Facts::of(faster_run), &Facts::of(slower_run))
}

/// The verdict on one claim of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimVerdict {
    /// The claim.
    pub claim: super::Claim,
    /// The variant it was checked on (`a vs b` for comparisons).
    pub variant: String,
    /// The seed it was checked on (the first failing one for seed ranges).
    pub seed: u64,
    /// The model used.
    pub model: LoopModel,
    /// The verdict on that run.
    pub verdict: Verdict,
    /// Seeds checked.
    pub seeds_checked: u64,
}

/// How one run that [`check_scenario_runs`] made ended.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The variant.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub end: Option<Ending>,
}

/// Runs what `s`'s claims need and judges every claim. `model` and `seed`
/// override the scenario's settings.
pub fn check_scenario(
    s: &Scenario,
    seed: Option<u64>,
    model: Option<LoopModel>,
) -> Vec<ClaimVerdict> {
    check_scenario_runs(s, seed, model).0
}

/// One run, its trace shared by every claim that needs it, and what its
/// trace says folded once ([`Facts`]) for all of them: the verdict of every
/// single-run claim judged on this run, by claim index, and how it ended.
struct Cached {
    trace: Rc<Trace>,
    model: LoopModel,
    verdicts: BTreeMap<usize, Verdict>,
    end: Option<Ending>,
}

/// The runs of one scenario, each made once.
struct Runs<'s> {
    s: &'s Scenario,
    seed: Option<u64>,
    model: Option<LoopModel>,
    cache: BTreeMap<(String, u64), Cached>,
}

impl Runs<'_> {
    /// The run of `variant` on seed `sd` (else the override, else the
    /// variant's or scenario's seed): its trace, the seed used, the model.
    fn get(&mut self, variant: &str, sd: Option<u64>) -> (Rc<Trace>, u64, LoopModel) {
        let seed = self.seed_for(variant, sd);
        let c = self.cached(variant, seed);
        (c.trace.clone(), seed, c.model)
    }

    /// The verdict of single-run claim `i` on `variant`'s run on seed `sd`
    /// (as [`get`](Self::get) picks it), with the seed used and the model.
    fn verdict(&mut self, i: usize, variant: &str, sd: Option<u64>) -> (Verdict, u64, LoopModel) {
        let seed = self.seed_for(variant, sd);
        let s = self.s;
        let c = self.cached(variant, seed);
        let v = c.verdicts.get(&i).cloned().unwrap_or_else(|| {
            let checker = checker(&s.claims[i].kind).expect("a single-run claim");
            checker.check(&Facts::of(&c.trace))
        });
        (v, seed, c.model)
    }

    /// The seed `variant`'s run uses for claim seed `sd`.
    fn seed_for(&self, variant: &str, sd: Option<u64>) -> u64 {
        seed_for(self.s, self.seed, variant, sd)
    }

    /// The run of `variant` on `seed`, made (and folded, and judged by every
    /// single-run claim that looks at it) on first use.
    fn cached(&mut self, variant: &str, seed: u64) -> &Cached {
        let (s, model, over) = (self.s, self.model, self.seed);
        self.cache
            .entry((variant.to_string(), seed))
            .or_insert_with(|| {
                let r = run_variant(s, variant, Some(seed), model, true);
                let trace = Rc::new(r.run.trace);
                let facts = Facts::of(&trace);
                let default = seed_for(s, over, variant, None);
                let verdicts = s
                    .claims
                    .iter()
                    .enumerate()
                    .filter(|(_, claim)| claim.variant.as_deref().is_none_or(|v| v == variant))
                    .filter(|(_, claim)| match claim.seeds {
                        Some((a, b)) => (a..b).contains(&seed),
                        None => seed == default,
                    })
                    .filter_map(|(i, claim)| Some((i, checker(&claim.kind)?.check(&facts))))
                    .collect();
                Cached {
                    end: facts.run_end.clone(),
                    verdicts,
                    trace,
                    model: r.model,
                }
            })
    }
}

/// Judges a claim on each seed in turn and keeps the first failure (or the
/// first verdict, if none fails).
fn over_seeds(
    seeds: &[Option<u64>],
    mut judge: impl FnMut(Option<u64>) -> (Verdict, u64, LoopModel),
) -> (Verdict, u64, LoopModel) {
    let mut kept = None;
    for sd in seeds {
        let (v, seed, m) = judge(*sd);
        let fail = !v.holds;
        if kept.is_none() || fail {
            kept = Some((v, seed, m));
        }
        if fail {
            break;
        }
    }
    kept.expect("at least one seed")
}

/// [`check_scenario`], plus how every run ended — each run the claims
/// needed, and each variant's run with its own seed (so that a scenario
/// without claims still runs): `check` fails a run that deadlocks or hits a
/// limit when no claim expects it.
pub fn check_scenario_runs(
    s: &Scenario,
    seed: Option<u64>,
    model: Option<LoopModel>,
) -> (Vec<ClaimVerdict>, Vec<RunSummary>) {
    let mut runs = Runs {
        s,
        seed,
        model,
        cache: BTreeMap::new(),
    };
    let mut out = Vec::new();
    for (i, claim) in s.claims.iter().enumerate() {
        let seeds: Vec<Option<u64>> = match claim.seeds {
            Some((a, b)) => (a..b).map(Some).collect(),
            None => vec![None],
        };
        let mut push = |variant: String, (verdict, seed, model): (Verdict, u64, LoopModel)| {
            out.push(ClaimVerdict {
                claim: claim.clone(),
                variant,
                seed,
                model,
                verdict,
                seeds_checked: seeds.len() as u64,
            });
        };
        if let Some(cmp) = faster(&claim.kind) {
            let kept = over_seeds(&seeds, |sd| {
                let (fa, seed_used, m) = runs.get(&cmp.faster, sd);
                let (sl, _, _) = runs.get(&cmp.slower, sd);
                (cmp.check(&Facts::of(&fa), &Facts::of(&sl)), seed_used, m)
            });
            push(format!("{} vs {}", cmp.faster, cmp.slower), kept);
            continue;
        }
        let variants: Vec<String> = match &claim.variant {
            Some(v) => vec![v.clone()],
            None => s.variants.iter().map(|v| v.name.clone()).collect(),
        };
        for v in variants {
            let kept = over_seeds(&seeds, |sd| runs.verdict(i, &v, sd));
            push(v, kept);
        }
    }
    for v in &s.variants {
        runs.get(&v.name, None);
    }
    let summaries = runs
        .cache
        .iter()
        .map(|((variant, seed), c)| RunSummary {
            variant: variant.clone(),
            seed: *seed,
            end: c.end.clone(),
        })
        .collect();
    (out, summaries)
}

/// The seed a run uses: the claim's (`sd`), else the override, else the
/// variant's or scenario's own.
fn seed_for(s: &Scenario, over: Option<u64>, variant: &str, sd: Option<u64>) -> u64 {
    sd.or(over).unwrap_or_else(|| default_seed(s, variant))
}

fn default_seed(s: &Scenario, variant: &str) -> u64 {
    s.variant(variant)
        .map_or(s.settings.seed, |v| s.settings_of(v).seed)
}
