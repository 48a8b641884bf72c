//! The scenario files in `sim-scenarios/`: every claim holds, every claim
//! is load-bearing (changing its figure makes it fail), and every run is
//! deterministic.

use loopsim::scenario::verify::check_scenario;
use loopsim::scenario::{self, Bound, ClaimKind, Count, Ending, Property, Scenario};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios")
}

/// Regression and translated-CPython-test scenarios: run like the gallery's,
/// but kept out of it.
pub fn test_scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

fn load_dir(dir: &Path) -> Vec<Scenario> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| scenario::load(f).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// The gallery's scenarios (`sim-scenarios/`).
pub fn gallery_scenarios() -> Vec<Scenario> {
    load_dir(&scenario_dir())
}

/// Every scenario: the gallery's and `tests/scenarios/`.
pub fn all_scenarios() -> Vec<Scenario> {
    let mut all = gallery_scenarios();
    all.extend(load_dir(&test_scenario_dir()));
    all
}

#[test]
fn every_claim_of_every_scenario_holds() {
    let scenarios = all_scenarios();
    assert!(scenarios.len() >= 25, "only {} scenarios", scenarios.len());
    let mut claims = 0;
    for s in &scenarios {
        assert!(!s.claims.is_empty(), "{} makes no claims", s.name);
        for v in check_scenario(s, None, None) {
            claims += 1;
            assert!(
                v.verdict.holds,
                "{}:{} [{}] {}: observed {}",
                s.file, v.claim.line, v.variant, v.verdict.expected, v.verdict.observed
            );
        }
    }
    assert!(claims >= 100, "only {claims} claims");
}

#[test]
fn every_tutorial_scenario_names_its_source() {
    let with_source = gallery_scenarios()
        .iter()
        .filter(|s| s.source.is_some())
        .count();
    assert!(
        with_source >= 20,
        "only {with_source} scenarios cite a tutorial"
    );
    for s in gallery_scenarios() {
        if let Some(src) = &s.source {
            let file = src.split(' ').next().unwrap();
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/seeds")
                .join(file);
            if Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/seeds")
                .exists()
            {
                assert!(
                    path.exists(),
                    "{}: source {file} not found in shared/seeds",
                    s.name
                );
            }
        }
    }
}

const MS: Duration = Duration::from_millis(1);

/// A version of the claim with its figure changed so that it must fail
/// (`None` for a property without a figure: the planted-bug tests of
/// `checks.rs` show those checkers can fail).
fn mutate(kind: &ClaimKind) -> Option<ClaimKind> {
    let bound = |b: &Bound| match b {
        Bound::Exact(d) => Bound::Exact(*d + MS),
        Bound::AtMost(d) => Bound::Exact(*d + MS * 1000),
        Bound::AtLeast(d) => Bound::AtMost(d.saturating_sub(MS * 1000)),
        Bound::Between(_, hi) => Bound::Between(*hi + MS, *hi + MS * 2),
    };
    Some(match kind {
        ClaimKind::Elapsed(b) => ClaimKind::Elapsed(bound(b)),
        ClaimKind::Output(lines) => {
            let mut l = lines.clone();
            match l.last_mut() {
                Some(last) => last.push('!'),
                None => l.push("an extra line".into()),
            }
            ClaimKind::Output(l)
        }
        ClaimKind::Order(lines) => ClaimKind::Order(lines.iter().rev().cloned().collect()),
        ClaimKind::PrintedAt { line, at } => ClaimKind::PrintedAt {
            line: line.clone(),
            at: bound(at),
        },
        ClaimKind::TaskEnds { task, at, how } => ClaimKind::TaskEnds {
            task: task.clone(),
            at: Some(
                at.as_ref()
                    .map(bound)
                    .unwrap_or(Bound::Exact(Duration::from_secs(10_000))),
            ),
            how: how.clone(),
        },
        ClaimKind::MaxConcurrent { section, count } => ClaimKind::MaxConcurrent {
            section: section.clone(),
            count: match count {
                Count::Exact(n) => Count::Exact(n + 1),
                Count::AtMost(n) => Count::AtMost(n.saturating_sub(1)),
                Count::AtLeast(n) => Count::AtLeast(n + 1000),
            },
        },
        ClaimKind::RunEnds(o) => ClaimKind::RunEnds(match o {
            Ending::Deadlock => Ending::Completed,
            _ => Ending::Deadlock,
        }),
        ClaimKind::Faster {
            faster,
            slower,
            ratio_at_least,
            latency,
        } => ClaimKind::Faster {
            faster: slower.clone(),
            slower: faster.clone(),
            ratio_at_least: *ratio_at_least,
            latency: latency.clone(),
        },
        ClaimKind::Latency {
            resource,
            percentile,
            bound: b,
        } => ClaimKind::Latency {
            resource: resource.clone(),
            percentile: *percentile,
            bound: bound(b),
        },
        ClaimKind::Messages { fate, count } => ClaimKind::Messages {
            fate: *fate,
            count: match count {
                Count::Exact(n) => Count::Exact(n + 1),
                Count::AtMost(n) => Count::Exact(n + 1),
                Count::AtLeast(n) => Count::AtMost(n.saturating_sub(1)),
            },
        },
        ClaimKind::ReconnectsWithin(_) => ClaimKind::ReconnectsWithin(MS),
        ClaimKind::MessageLatency {
            percentile,
            bound: b,
        } => ClaimKind::MessageLatency {
            percentile: *percentile,
            bound: bound(b),
        },
        ClaimKind::Warns { kind, count } => ClaimKind::Warns {
            kind: kind.clone(),
            count: match count {
                Count::Exact(n) => Count::Exact(n + 1),
                Count::AtMost(n) => Count::Exact(n + 1),
                Count::AtLeast(n) => Count::AtMost(n.saturating_sub(1)),
            },
        },
        ClaimKind::Errors {
            resource,
            kind,
            count,
        } => ClaimKind::Errors {
            resource: resource.clone(),
            kind: kind.clone(),
            count: match count {
                Count::Exact(n) => Count::Exact(n + 1),
                Count::AtMost(n) => Count::Exact(n + 1),
                Count::AtLeast(n) => Count::AtMost(n.saturating_sub(1)),
            },
        },
        ClaimKind::Holds(p) => ClaimKind::Holds(match p {
            Property::BoundedWait(k) if *k > 0 => Property::BoundedWait(k - 1),
            Property::TimeoutDelivered(k) if *k > 0 => Property::TimeoutDelivered(k - 1),
            Property::FirstComeFirstServed(n) => Property::FirstComeFirstServed(format!("{n}2")),
            _ => return None,
        }),
    })
}

#[test]
fn changing_any_expected_figure_makes_its_claim_fail() {
    for s in all_scenarios() {
        for i in 0..s.claims.len() {
            let mut copy = s.clone();
            copy.claims = vec![copy.claims[i].clone()];
            let Some(changed) = mutate(&copy.claims[0].kind) else {
                continue;
            };
            copy.claims[0].kind = changed;
            // One seed is enough to show a figure is load-bearing.
            if let Some((a, _)) = copy.claims[0].seeds {
                copy.claims[0].seeds = Some((a, a + 1));
            }
            let verdicts = check_scenario(&copy, None, None);
            assert!(
                verdicts.iter().any(|v| !v.verdict.holds),
                "{}:{}: the claim still holds after changing its figure to {:?}",
                s.file,
                s.claims[i].line,
                copy.claims[0].kind
            );
        }
    }
}

#[test]
fn every_scenario_run_is_deterministic() {
    for s in all_scenarios() {
        for v in &s.variants {
            let a = scenario::run_variant(&s, &v.name, None, None, true);
            let b = scenario::run_variant(&s, &v.name, None, None, true);
            if let Some((line, x, y)) = a.run.trace.first_difference(&b.run.trace) {
                panic!(
                    "{} [{}] differs at trace line {line}:\n{x}\n{y}",
                    s.name, v.name
                );
            }
        }
    }
}

#[test]
fn scenario_runs_under_every_model_end_without_panics() {
    for s in all_scenarios() {
        for v in &s.variants {
            for model in loopsim::LoopModel::ALL {
                let r = scenario::run_variant(&s, &v.name, Some(3), Some(model), false);
                if let loopsim::Outcome::Failed(loopsim::Error::Panic(p)) = &r.run.outcome {
                    panic!(
                        "{} [{}] under {model}: interpreter panicked: {p}",
                        s.name, v.name
                    );
                }
            }
        }
    }
}

#[test]
fn printing_a_scenario_and_parsing_it_back_gives_the_same_scenario() {
    for s in all_scenarios() {
        let text = scenario::print(&s);
        let back = scenario::parse(&s.file, &text)
            .unwrap_or_else(|e| panic!("{}: printed text does not parse: {e}\n{text}", s.name));
        assert_eq!(
            back.without_positions(),
            s.without_positions(),
            "{}: round trip changed the scenario\n{text}",
            s.name
        );
        // And it runs the same.
        for v in &s.variants {
            let a = scenario::run_variant(&s, &v.name, None, None, true)
                .run
                .trace
                .to_jsonl();
            let b = scenario::run_variant(&back, &v.name, None, None, true)
                .run
                .trace
                .to_jsonl();
            assert_eq!(
                a, b,
                "{} [{}]: the printed scenario runs differently",
                s.name, v.name
            );
        }
    }
}

#[test]
fn python_313_is_named_in_settings_models_and_printed_files() {
    use loopsim::PythonVersion;
    for v in PythonVersion::ALL {
        assert_eq!(v.name().parse::<PythonVersion>(), Ok(v));
    }
    let text = r#"
title = "t"
python = "3.13"
[coroutines.main]
steps = [{ print = "x" }]
[[variants]]
name = "a"
[[variants]]
name = "b"
model = "asyncio-3.13"
python = "3.13"
"#;
    let s = scenario::parse("v.toml", text).expect("parses");
    assert_eq!(s.settings.python, PythonVersion::Py313);
    let printed = scenario::print(&s);
    assert!(printed.contains("python = \"3.13\""), "{printed}");
    let again = scenario::parse("v.toml", &printed).expect("round trip");
    assert_eq!(again.settings.python, PythonVersion::Py313);
    let text = text.replace("python = \"3.13\"\n[coroutines", "[coroutines");
    let s = scenario::parse("v.toml", &text).expect("parses");
    assert_eq!(s.settings.python, PythonVersion::Py312);
    assert_eq!(s.variants[1].python, Some(PythonVersion::Py313));
}
