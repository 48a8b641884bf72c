//! Claim checkers: each reads only a [`Trace`] (never the executor) and
//! returns a [`Check`] with what was expected and what was observed.
//!
//! [`check_scenario`] runs every variant a scenario's claims need (on every
//! seed they ask for) and returns one [`Verdict`] per claim.

use crate::LoopModel;
use crate::scenario::{Bound, Claim, ClaimKind, Count, RunOutcome, Scenario, TaskEnd, run_variant};
use crate::time::{Duration, Instant, format_nanos};
use crate::trace::{EventKind, RunEnd, StepOutcome, TaskId, Trace};
use std::collections::BTreeMap;

/// The result of checking one claim on one trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Whether the claim holds.
    pub passed: bool,
    /// What the claim expects, in words.
    pub expected: String,
    /// What the trace shows, in words.
    pub observed: String,
}

/// What a trace says, extracted once for all claims.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// When the main task ended, if it did.
    pub main_end: Option<Instant>,
    /// Printed lines with their time.
    pub output: Vec<(Instant, String)>,
    /// Each task's name, end time and ending, by task.
    pub tasks: BTreeMap<TaskId, (String, Option<(Instant, TaskEnd)>)>,
    /// The largest number of tasks at once inside each section.
    pub max_in_section: BTreeMap<String, u64>,
    /// How the run ended.
    pub run_end: Option<RunOutcome>,
}

impl Facts {
    /// Reads a trace.
    pub fn of(trace: &Trace) -> Facts {
        let mut f = Facts::default();
        let mut inside: BTreeMap<String, u64> = BTreeMap::new();
        for e in &trace.events {
            match e.kind {
                EventKind::TaskCreated { name, .. } => {
                    if let Some(t) = e.task {
                        f.tasks
                            .insert(t, (trace.name_of(t, name).into_owned(), None));
                    }
                }
                EventKind::StepEnded { outcome } => {
                    let end = match outcome {
                        StepOutcome::Suspended { .. } => continue,
                        StepOutcome::Returned => TaskEnd::Returned,
                        StepOutcome::Cancelled => TaskEnd::Cancelled,
                        StepOutcome::Raised { error } => {
                            TaskEnd::Raised(error_kind(trace.str(error)))
                        }
                    };
                    if let Some(t) = e.task {
                        if t == TaskId(1) {
                            f.main_end = Some(e.at);
                        }
                        if let Some(slot) = f.tasks.get_mut(&t) {
                            slot.1 = Some((e.at, end));
                        }
                    }
                }
                EventKind::Output { text } => f.output.push((e.at, trace.str(text).to_string())),
                EventKind::SectionEntered { name } => {
                    let n = inside.entry(trace.str(name).to_string()).or_default();
                    *n += 1;
                    let n = *n;
                    let m = f
                        .max_in_section
                        .entry(trace.str(name).to_string())
                        .or_default();
                    *m = (*m).max(n);
                }
                EventKind::SectionExited { name } => {
                    if let Some(n) = inside.get_mut(trace.str(name)) {
                        *n = n.saturating_sub(1);
                    }
                }
                EventKind::RunEnded { outcome } => {
                    f.run_end = Some(match outcome {
                        RunEnd::Completed => RunOutcome::Completed,
                        RunEnd::Failed { error } => {
                            RunOutcome::Failed(Some(error_kind(trace.str(error))))
                        }
                        RunEnd::Deadlock => RunOutcome::Deadlock,
                        RunEnd::LimitExceeded { .. } => RunOutcome::LimitExceeded,
                    })
                }
                _ => {}
            }
        }
        f
    }
}

/// `ValueError: bad` → `ValueError`.
fn error_kind(s: &str) -> String {
    s.split(':').next().unwrap_or(s).trim().to_string()
}

fn t(d: Duration) -> String {
    format_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn bound_text(b: &Bound) -> String {
    match b {
        Bound::Exact(d) => t(*d),
        Bound::AtMost(d) => format!("at most {}", t(*d)),
        Bound::AtLeast(d) => format!("at least {}", t(*d)),
        Bound::Between(a, b) => format!("between {} and {}", t(*a), t(*b)),
    }
}

fn within(b: &Bound, x: Duration) -> bool {
    match b {
        Bound::Exact(d) => x == *d,
        Bound::AtMost(d) => x <= *d,
        Bound::AtLeast(d) => x >= *d,
        Bound::Between(a, b) => *a <= x && x <= *b,
    }
}

fn end_text(e: &TaskEnd) -> String {
    match e {
        TaskEnd::Returned => "returned".into(),
        TaskEnd::Cancelled => "cancelled".into(),
        TaskEnd::Raised(k) => format!("raised {k}"),
    }
}

fn outcome_text(o: &RunOutcome) -> String {
    match o {
        RunOutcome::Completed => "completed".into(),
        RunOutcome::Failed(Some(k)) => format!("failed with {k}"),
        RunOutcome::Failed(None) => "failed".into(),
        RunOutcome::Deadlock => "deadlock".into(),
        RunOutcome::LimitExceeded => "limit exceeded".into(),
    }
}

fn quote_lines(lines: &[String]) -> String {
    format!(
        "[{}]",
        lines
            .iter()
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// What a claim says, in words (for reports).
pub fn describe(kind: &ClaimKind) -> String {
    match kind {
        ClaimKind::Elapsed(b) => format!("elapsed {}", bound_text(b)),
        ClaimKind::Output(l) => format!("output is {}", quote_lines(l)),
        ClaimKind::Order(l) => format!("lines in order {}", quote_lines(l)),
        ClaimKind::PrintedAt { line, at } => format!("{line:?} printed at {}", bound_text(at)),
        ClaimKind::TaskEnds { task, at, how } => {
            let mut s = format!("task {task}");
            if let Some(h) = how {
                s.push_str(&format!(" {}", end_text(h)));
            } else {
                s.push_str(" ends");
            }
            if let Some(a) = at {
                s.push_str(&format!(" at {}", bound_text(a)));
            }
            s
        }
        ClaimKind::MaxConcurrent { section, count } => format!(
            "tasks at once in {section:?}: {}",
            match count {
                Count::Exact(n) => n.to_string(),
                Count::AtMost(n) => format!("at most {n}"),
                Count::AtLeast(n) => format!("at least {n}"),
            }
        ),
        ClaimKind::Outcome(o) => format!("run {}", outcome_text(o)),
        ClaimKind::Faster {
            faster,
            slower,
            ratio_at_least,
        } => match ratio_at_least {
            Some(r) => format!("{faster} at least {r}x faster than {slower}"),
            None => format!("{faster} faster than {slower}"),
        },
    }
}

/// Checks a single-run claim against one trace.
///
/// # Panics
///
/// For [`ClaimKind::Faster`], which needs two traces ([`check_faster`]).
pub fn check(kind: &ClaimKind, trace: &Trace) -> Check {
    let f = Facts::of(trace);
    let expected = describe(kind);
    let (passed, observed) = match kind {
        ClaimKind::Elapsed(b) => match f.main_end {
            Some(at) => (within(b, at.since_start()), format!("elapsed {at}")),
            None => (
                false,
                format!(
                    "main did not finish ({})",
                    f.run_end.as_ref().map(outcome_text).unwrap_or_default()
                ),
            ),
        },
        ClaimKind::Output(lines) => {
            let got: Vec<String> = f.output.iter().map(|(_, l)| l.clone()).collect();
            let passed = &got == lines;
            let observed = if passed {
                quote_lines(&got)
            } else {
                first_output_difference(lines, &got)
            };
            (passed, observed)
        }
        ClaimKind::Order(lines) => {
            let mut pos = Vec::new();
            let mut missing = None;
            for l in lines {
                match f.output.iter().position(|(_, o)| o == l) {
                    Some(p) => pos.push(p),
                    None => {
                        missing = Some(l.clone());
                        break;
                    }
                }
            }
            match missing {
                Some(l) => (false, format!("{l:?} was never printed")),
                None => {
                    let ok = pos.windows(2).all(|w| w[0] < w[1]);
                    let mut order: Vec<(usize, &String)> = pos.iter().copied().zip(lines).collect();
                    order.sort();
                    let seen: Vec<String> = order.into_iter().map(|(_, l)| l.clone()).collect();
                    (ok, format!("printed in order {}", quote_lines(&seen)))
                }
            }
        }
        ClaimKind::PrintedAt { line, at } => match f.output.iter().find(|(_, o)| o == line) {
            Some((when, _)) => (within(at, when.since_start()), format!("printed at {when}")),
            None => (false, "never printed".into()),
        },
        ClaimKind::TaskEnds { task, at, how } => {
            let found = f.tasks.values().find(|(n, _)| n == task);
            match found {
                None => {
                    let names: Vec<&str> = f.tasks.values().map(|(n, _)| n.as_str()).collect();
                    let hint = crate::scenario::did_you_mean(task, names.iter().copied())
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default();
                    (
                        false,
                        format!("no task named {task:?}{hint} (tasks: {})", names.join(", ")),
                    )
                }
                Some((_, None)) => (false, "the task never ended".into()),
                Some((_, Some((when, end)))) => {
                    let ok_how = how.as_ref().is_none_or(|h| h == end);
                    let ok_at = at.as_ref().is_none_or(|b| within(b, when.since_start()));
                    (ok_how && ok_at, format!("{} at {when}", end_text(end)))
                }
            }
        }
        ClaimKind::MaxConcurrent { section, count } => {
            let n = f.max_in_section.get(section).copied().unwrap_or(0);
            let ok = match count {
                Count::Exact(c) => n == *c,
                Count::AtMost(c) => n <= *c,
                Count::AtLeast(c) => n >= *c,
            };
            (ok, format!("at most {n} at once"))
        }
        ClaimKind::Outcome(want) => match &f.run_end {
            Some(got) => {
                let ok = match (want, got) {
                    (RunOutcome::Failed(None), RunOutcome::Failed(_)) => true,
                    (w, g) => w == g,
                };
                (ok, format!("run {}", outcome_text(got)))
            }
            None => (false, "the trace has no end".into()),
        },
        ClaimKind::Faster { .. } => panic!("`faster` compares two runs: use check_faster"),
    };
    Check {
        passed,
        expected,
        observed,
    }
}

fn first_output_difference(want: &[String], got: &[String]) -> String {
    for i in 0..want.len().max(got.len()) {
        match (want.get(i), got.get(i)) {
            (Some(w), Some(g)) if w == g => continue,
            (Some(w), Some(g)) => {
                return format!(
                    "line {} is {g:?}, expected {w:?}; output {}",
                    i + 1,
                    quote_lines(got)
                );
            }
            (Some(w), None) => {
                return format!(
                    "output stops before line {} ({w:?}); output {}",
                    i + 1,
                    quote_lines(got)
                );
            }
            (None, Some(g)) => {
                return format!("extra line {} {g:?}; output {}", i + 1, quote_lines(got));
            }
            (None, None) => break,
        }
    }
    quote_lines(got)
}

/// Checks "`faster` is faster than `slower`" from their traces.
pub fn check_faster(kind: &ClaimKind, faster: &Trace, slower: &Trace) -> Check {
    let ClaimKind::Faster {
        faster: fname,
        slower: sname,
        ratio_at_least,
    } = kind
    else {
        panic!("check_faster takes a `faster` claim");
    };
    let a = Facts::of(faster).main_end;
    let b = Facts::of(slower).main_end;
    let (passed, observed) = match (a, b) {
        (Some(a), Some(b)) => {
            let (a, b) = (a.as_secs_f64(), b.as_secs_f64());
            let ratio = if a > 0.0 { b / a } else { f64::INFINITY };
            let ok = a < b && ratio_at_least.is_none_or(|r| ratio >= r);
            (
                ok,
                format!(
                    "{fname} {}, {sname} {} (ratio {ratio:.2})",
                    t(Duration::from_secs_f64(a)),
                    t(Duration::from_secs_f64(b))
                ),
            )
        }
        _ => (false, "a variant's main task did not finish".into()),
    };
    Check {
        passed,
        expected: describe(kind),
        observed,
    }
}

/// The verdict on one claim of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The claim.
    pub claim: Claim,
    /// The variant it was checked on (`a vs b` for comparisons).
    pub variant: String,
    /// The seed it was checked on (the first failing one for seed ranges).
    pub seed: u64,
    /// The model used.
    pub model: LoopModel,
    /// The check.
    pub check: Check,
    /// Seeds checked.
    pub seeds_checked: u64,
}

/// Runs what `s`'s claims need and checks every claim. `model` and `seed`
/// override the scenario's settings.
pub fn check_scenario(s: &Scenario, seed: Option<u64>, model: Option<LoopModel>) -> Vec<Verdict> {
    check_scenario_runs(s, seed, model).0
}

/// How one run that [`check_scenario_runs`] made ended.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The variant.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub end: Option<RunOutcome>,
}

/// [`check_scenario`], plus how every run ended — each run the claims
/// needed, and each variant's run with its own seed (so that a scenario
/// without claims still runs): `check` fails a run that deadlocks or hits a
/// limit when no claim expects it.
pub fn check_scenario_runs(
    s: &Scenario,
    seed: Option<u64>,
    model: Option<LoopModel>,
) -> (Vec<Verdict>, Vec<RunSummary>) {
    // Each run once; claims share its trace.
    let mut cache: BTreeMap<(String, u64), (std::rc::Rc<Trace>, LoopModel)> = BTreeMap::new();
    let mut get = |variant: &str, sd: Option<u64>| -> (std::rc::Rc<Trace>, u64, LoopModel) {
        let r_seed = sd.or(seed);
        let key_seed = r_seed.unwrap_or_else(|| default_seed(s, variant));
        let key = (variant.to_string(), key_seed);
        let (trace, m) = cache.entry(key).or_insert_with(|| {
            let r = run_variant(s, variant, Some(key_seed), model, true);
            (std::rc::Rc::new(r.run.trace), r.model)
        });
        (trace.clone(), key_seed, *m)
    };
    let mut out = Vec::new();
    for claim in &s.claims {
        let seeds: Vec<Option<u64>> = match claim.seeds {
            Some((a, b)) => (a..b).map(Some).collect(),
            None => vec![None],
        };
        match &claim.kind {
            ClaimKind::Faster { faster, slower, .. } => {
                let mut verdict = None;
                for sd in &seeds {
                    let (fa, seed_used, m) = get(faster, *sd);
                    let (sl, _, _) = get(slower, *sd);
                    let c = check_faster(&claim.kind, &fa, &sl);
                    let fail = !c.passed;
                    if verdict.is_none() || fail {
                        verdict = Some((c, seed_used, m));
                    }
                    if fail {
                        break;
                    }
                }
                let (check, seed_used, m) = verdict.expect("at least one seed");
                out.push(Verdict {
                    claim: claim.clone(),
                    variant: format!("{faster} vs {slower}"),
                    seed: seed_used,
                    model: m,
                    check,
                    seeds_checked: seeds.len() as u64,
                });
            }
            kind => {
                let variants: Vec<String> = match &claim.variant {
                    Some(v) => vec![v.clone()],
                    None => s.variants.iter().map(|v| v.name.clone()).collect(),
                };
                for v in variants {
                    let mut verdict = None;
                    for sd in &seeds {
                        let (trace, seed_used, m) = get(&v, *sd);
                        let c = check(kind, &trace);
                        let fail = !c.passed;
                        if verdict.is_none() || fail {
                            verdict = Some((c, seed_used, m));
                        }
                        if fail {
                            break;
                        }
                    }
                    let (check, seed_used, m) = verdict.expect("at least one seed");
                    out.push(Verdict {
                        claim: claim.clone(),
                        variant: v,
                        seed: seed_used,
                        model: m,
                        check,
                        seeds_checked: seeds.len() as u64,
                    });
                }
            }
        }
    }
    for v in &s.variants {
        get(&v.name, None);
    }
    let runs = cache
        .iter()
        .map(|((variant, seed), (trace, _))| RunSummary {
            variant: variant.clone(),
            seed: *seed,
            end: Facts::of(trace).run_end,
        })
        .collect();
    (out, runs)
}

fn default_seed(s: &Scenario, variant: &str) -> u64 {
    s.variants
        .iter()
        .find(|v| v.name == variant)
        .and_then(|v| v.seed)
        .unwrap_or(s.settings.seed)
}
