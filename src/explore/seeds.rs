//! Seed sweeps.

use crate::checks::Facts;
use crate::report::replay;
use crate::scenario::verify::{checker, describe, faster};
use crate::scenario::{Scenario, run_variant};
use crate::settings::LoopModel;
use crate::time::format_short;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The schema written in a sweep's JSON.
pub const SCHEMA: &str = "loopsim-sweep/1";

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The seeds, `start..end`.
    pub seeds: std::ops::Range<u64>,
    /// Run only every `n`-th seed starting at the `i`-th: `(i, n)`, `i < n`.
    pub shard: Option<(u64, u64)>,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Every variant under this loop model instead of its own.
    pub model: Option<LoopModel>,
}

/// One claim of the swept scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimInfo {
    /// Its line in the file.
    pub line: usize,
    /// The variant it is about (`a vs b` for comparisons; empty: every variant).
    pub variant: String,
    /// What it says.
    pub text: String,
}

/// One variant's run on one seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The variant.
    pub variant: String,
    /// When its main task ended, in nanoseconds (`None`: it did not).
    pub elapsed_ns: Option<u64>,
    /// How the run ended: `completed`, `failed with ValueError`, `deadlock`, …
    pub end: String,
}

/// Everything one seed gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Each variant's run, in the file's order.
    pub runs: Vec<RunResult>,
    /// The claims that fail on this seed.
    pub failed: Vec<Failure>,
}

/// A claim failing on a seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The claim's index in [`Sweep::claims`].
    pub claim: usize,
    /// The variant it failed on (the faster one, for comparisons).
    pub variant: String,
}

/// A sweep: the scenario, its claims, and each seed's result, by seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The scenario file.
    pub file: String,
    /// The forced loop model, if any.
    pub model: Option<String>,
    /// The scenario's claims.
    pub claims: Vec<ClaimInfo>,
    /// The results, ordered by seed.
    pub results: Vec<SeedResult>,
}

/// Runs every variant of the scenario `make` builds on every seed of
/// `opts`, on `opts.jobs` threads (each builds its own copy of the
/// scenario), calling `progress` after each seed.
pub fn sweep(
    make: &(dyn Fn() -> Scenario + Sync),
    opts: &SweepOptions,
    progress: &(dyn Fn() + Sync),
) -> Sweep {
    let s = make();
    let claims = claim_infos(&s);
    let seeds: Vec<u64> = match opts.shard {
        None => opts.seeds.clone().collect(),
        Some((i, n)) => match shard_first(opts.seeds.start, i, n) {
            Some(first) if first < opts.seeds.end => (first..opts.seeds.end)
                .step_by(usize::try_from(n).unwrap_or(usize::MAX))
                .collect(),
            _ => Vec::new(),
        },
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .expect("a thread pool");
    let results: Vec<SeedResult> = pool.install(|| {
        seeds
            .par_iter()
            .map_init(make, |s, &seed| {
                let r = run_seed(s, seed, opts.model);
                progress();
                r
            })
            .collect()
    });
    Sweep {
        schema: SCHEMA.to_string(),
        file: s.file.clone(),
        model: opts.model.map(|m| m.name().to_string()),
        claims,
        results,
    }
}

/// The first seed at or after `start` in shard `i` of `n` (seeds `≡ i mod n`).
pub fn shard_first(start: u64, i: u64, n: u64) -> Option<u64> {
    let (start, i, n) = (u128::from(start), u128::from(i), u128::from(n.max(1)));
    u64::try_from(start + (i + n - start % n) % n).ok()
}

/// How many seeds of `seeds` shard `i` of `n` runs.
pub fn shard_len(seeds: &std::ops::Range<u64>, shard: Option<(u64, u64)>) -> u64 {
    match shard {
        None => seeds.end.saturating_sub(seeds.start),
        Some((i, n)) => match shard_first(seeds.start, i, n) {
            Some(first) if first < seeds.end => (seeds.end - first).div_ceil(n.max(1)),
            _ => 0,
        },
    }
}

fn claim_infos(s: &Scenario) -> Vec<ClaimInfo> {
    s.claims
        .iter()
        .map(|c| ClaimInfo {
            line: c.line,
            variant: match faster(&c.kind) {
                Some(f) => format!("{} vs {}", f.faster, f.slower),
                None => c.variant.clone().unwrap_or_default(),
            },
            text: describe(&c.kind),
        })
        .collect()
}

fn run_seed(s: &Scenario, seed: u64, model: Option<LoopModel>) -> SeedResult {
    let runs: Vec<_> = s
        .variants
        .iter()
        .map(|v| run_variant(s, &v.name, Some(seed), model, true))
        .collect();
    let facts: BTreeMap<&str, Facts<'_>> = runs
        .iter()
        .map(|r| (r.variant.as_str(), Facts::of(&r.run.trace)))
        .collect();
    let mut failed = Vec::new();
    for (i, c) in s.claims.iter().enumerate() {
        let failing_variant = match (checker(&c.kind), faster(&c.kind)) {
            (Some(chk), _) => runs
                .iter()
                .map(|r| r.variant.as_str())
                .filter(|v| c.variant.as_deref().is_none_or(|cv| cv == *v))
                .find(|v| !chk.check(&facts[v]).holds)
                .map(str::to_string),
            (None, Some(cmp)) => {
                let holds = match (
                    facts.get(cmp.faster.as_str()),
                    facts.get(cmp.slower.as_str()),
                ) {
                    (Some(a), Some(b)) => cmp.check(a, b).holds,
                    _ => false,
                };
                (!holds).then(|| cmp.faster.clone())
            }
            (None, None) => None,
        };
        if let Some(v) = failing_variant {
            failed.push(Failure {
                claim: i,
                variant: v,
            });
        }
    }
    let runs = runs
        .iter()
        .map(|r| {
            let f = &facts[r.variant.as_str()];
            RunResult {
                variant: r.variant.clone(),
                elapsed_ns: r.run.main_done_at.map(|t| t.as_nanos()),
                end: f
                    .run_end
                    .as_ref()
                    .map(|e| e.describe())
                    .unwrap_or_else(|| "no end".into()),
            }
        })
        .collect();
    SeedResult { seed, runs, failed }
}

/// One variant's elapsed times over the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantSummary {
    /// The variant.
    pub variant: String,
    /// Runs whose main task ended, and their elapsed times, sorted.
    pub elapsed: Vec<u64>,
    /// Runs whose main task did not end (deadlock, limit, failure before it).
    pub unfinished: u64,
}

impl VariantSummary {
    /// The `p`-th percentile (nearest rank) of the elapsed times.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.elapsed.is_empty() {
            return None;
        }
        let n = self.elapsed.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        Some(self.elapsed[rank.clamp(1, n) - 1])
    }
}

/// One claim over the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimSummary {
    /// The claim.
    pub claim: ClaimInfo,
    /// Seeds on which it held.
    pub passed: u64,
    /// Seeds on which it failed, in order.
    pub failing: Vec<u64>,
}

/// What a sweep shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Each variant's elapsed times.
    pub variants: Vec<VariantSummary>,
    /// Each claim's pass rate.
    pub claims: Vec<ClaimSummary>,
}

impl Sweep {
    /// Combines shards of one sweep (same file, model and claims) into the
    /// sweep a single run over all their seeds would give.
    ///
    /// # Errors
    ///
    /// When the parts are of different sweeps, or overlap.
    pub fn merge(parts: Vec<Sweep>) -> Result<Sweep, String> {
        let mut it = parts.into_iter();
        let Some(mut all) = it.next() else {
            return Err("nothing to merge".into());
        };
        for p in it {
            if p.schema != all.schema || p.file != all.file || p.model != all.model {
                return Err(format!(
                    "cannot merge a sweep of {} (model {:?}) into one of {} (model {:?})",
                    p.file, p.model, all.file, all.model
                ));
            }
            if p.claims != all.claims {
                return Err(format!(
                    "the sweeps of {} were made from different versions of the file (their claims differ)",
                    p.file
                ));
            }
            all.results.extend(p.results);
        }
        if let Some((r, f)) = all
            .results
            .iter()
            .flat_map(|r| r.failed.iter().map(move |f| (r, f)))
            .find(|(_, f)| f.claim >= all.claims.len())
        {
            return Err(format!(
                "seed {} names claim {} of {} (the file has {} claims): not the output of `loopsim sweep --json`",
                r.seed,
                f.claim,
                all.file,
                all.claims.len()
            ));
        }
        all.results.sort_by_key(|r| r.seed);
        if let Some(w) = all.results.windows(2).find(|w| w[0].seed == w[1].seed) {
            return Err(format!("seed {} is in two of the merged sweeps", w[0].seed));
        }
        Ok(all)
    }

    /// Elapsed percentiles per variant and pass rates per claim.
    pub fn summary(&self) -> Summary {
        let mut variants: Vec<VariantSummary> = Vec::new();
        for r in &self.results {
            for run in &r.runs {
                let i = match variants.iter().position(|v| v.variant == run.variant) {
                    Some(i) => i,
                    None => {
                        variants.push(VariantSummary {
                            variant: run.variant.clone(),
                            elapsed: Vec::new(),
                            unfinished: 0,
                        });
                        variants.len() - 1
                    }
                };
                match run.elapsed_ns {
                    Some(e) => variants[i].elapsed.push(e),
                    None => variants[i].unfinished += 1,
                }
            }
        }
        for v in &mut variants {
            v.elapsed.sort_unstable();
        }
        let claims = self
            .claims
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let failing: Vec<u64> = self
                    .results
                    .iter()
                    .filter(|r| r.failed.iter().any(|f| f.claim == i))
                    .map(|r| r.seed)
                    .collect();
                ClaimSummary {
                    claim: c.clone(),
                    passed: self.results.len() as u64 - failing.len() as u64,
                    failing,
                }
            })
            .collect();
        Summary {
            seeds: self.results.len() as u64,
            variants,
            claims,
        }
    }

    /// The summary in words, as `loopsim sweep` prints it.
    pub fn summary_text(&self) -> String {
        let s = self.summary();
        let mut out = String::new();
        let range = match (self.results.first(), self.results.last()) {
            (Some(a), Some(b)) => format!(" ({}..{})", a.seed, b.seed + 1),
            _ => String::new(),
        };
        let model = self
            .model
            .as_deref()
            .map(|m| format!(", model {m}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "sweep of {}: {} seed{}{range}{model}",
            self.file,
            s.seeds,
            if s.seeds == 1 { "" } else { "s" }
        );
        let _ = writeln!(out, "\nelapsed (main task)");
        let _ = writeln!(
            out,
            "  {:<24} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "variant", "runs", "p50", "p90", "p99", "max", "unfinished"
        );
        for v in &s.variants {
            let p = |q| {
                v.percentile(q)
                    .map(format_short)
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                out,
                "  {:<24} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}",
                v.variant,
                v.elapsed.len() as u64 + v.unfinished,
                p(50.0),
                p(90.0),
                p(99.0),
                p(100.0),
                v.unfinished
            );
        }
        if s.claims.is_empty() {
            let _ = writeln!(out, "\nno claims");
            return out;
        }
        let _ = writeln!(out, "\nclaims");
        for (i, c) in s.claims.iter().enumerate() {
            let rate = if s.seeds == 0 {
                100.0
            } else {
                100.0 * c.passed as f64 / s.seeds as f64
            };
            let variant = if c.claim.variant.is_empty() {
                String::new()
            } else {
                format!("[{}] ", c.claim.variant)
            };
            let mark = if c.failing.is_empty() { "ok  " } else { "FAIL" };
            let _ = writeln!(
                out,
                "  {mark} {rate:>6.2} %  {variant}{} (line {})",
                c.claim.text, c.claim.line
            );
            if let Some(first) = c.failing.first() {
                let shown: Vec<String> = c.failing.iter().take(10).map(u64::to_string).collect();
                let more = if c.failing.len() > 10 {
                    format!(", … ({} in all)", c.failing.len())
                } else {
                    String::new()
                };
                let _ = writeln!(out, "         fails on seeds {}{more}", shown.join(", "));
                let variant = self.failing_variant(i, *first).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "         replay: {}",
                    replay(&self.file, &variant, *first, self.model.as_deref())
                );
            }
        }
        out
    }

    fn failing_variant(&self, claim: usize, seed: u64) -> Option<String> {
        self.results
            .iter()
            .find(|r| r.seed == seed)?
            .failed
            .iter()
            .find(|f| f.claim == claim)
            .map(|f| f.variant.clone())
    }
}
