//! `loopsim check [PATH…]`: run every scenario and variant, check every
//! claim, one line per claim; exit 0 if all hold, 1 if any fails, 2 if a
//! file is malformed. `-q` prints only failures and the summary; `-v` adds
//! the seeds each claim was checked on.

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_USAGE};
use super::ui::{Ui, count};
use anyhow::Result;
use loopsim::report::failure_text;
use loopsim::scenario::verify::{check_scenario_runs, describe};
use loopsim::scenario::{ClaimKind, Ending};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    limits: common::LimitArgs,
    /// Scenario files or directories (default: sim-scenarios/).
    paths: Vec<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Override every scenario's loop model.
    #[arg(long)]
    model: Option<common::ModelArg>,
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("sim-scenarios")]
    } else {
        args.paths
    };
    let files = match common::scenario_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let (mut passed, mut failed, mut bad, mut scenarios) = (0u64, 0u64, 0u64, 0u64);
    let mut sim_failed = 0u64;
    for f in &files {
        let Some(mut s) = common::load(f, &args.limits) else {
            bad += 1;
            continue;
        };
        if let Some(py) = args.model.and_then(|m| m.python) {
            common::set_python(&mut s, py);
        }
        scenarios += 1;
        if s.claims.is_empty() && !ui.quiet() {
            writeln!(ui, "--    {} makes no claims", s.name)?;
        }
        let (verdicts, runs) = check_scenario_runs(&s, args.seed, args.model.map(|m| m.model));
        for v in verdicts {
            let seeds = match (v.claim.seeds, ui.verbose()) {
                (Some((a, b)), true) => format!(" over seeds {a}..{b}"),
                (None, true) => format!(" (seed {})", v.seed),
                _ if v.seeds_checked > 1 => format!(" over {} seeds", v.seeds_checked),
                _ => String::new(),
            };
            if v.verdict.holds {
                passed += 1;
                if !ui.quiet() {
                    ui.verdict(&format!(
                        "ok    {} [{}] {}{seeds}",
                        s.name,
                        v.variant,
                        describe(&v.claim.kind)
                    ))?;
                }
            } else {
                failed += 1;
                let model = args.model.map(|m| m.name());
                ui.verdict(&failure_text(&s, &v, model.as_deref()))?;
            }
        }
        // A run that deadlocks or hits a limit fails `check` unless a claim
        // says how the run ends.
        for r in runs {
            let expected = s.claims.iter().any(|c| {
                matches!(c.kind, ClaimKind::RunEnds(_))
                    && c.variant.as_ref().is_none_or(|v| *v == r.variant)
            });
            let what = match r.end {
                Some(Ending::Deadlock) => "deadlocked",
                Some(Ending::LimitExceeded) => "hit a limit",
                _ => continue,
            };
            if expected {
                continue;
            }
            sim_failed += 1;
            // The run again, for what stopped it (which limit, where).
            let again = loopsim::scenario::run_variant(
                &s,
                &r.variant,
                Some(r.seed),
                args.model.map(|m| m.model),
                true,
            );
            let why = match &again.run.outcome {
                loopsim::Outcome::Deadlock { .. } => {
                    again.run.outcome.deadlock_report().map(|d| d.to_string())
                }
                _ => common::limit_message(&s, &again.run.outcome, &again.run.trace),
            }
            .map(|w| {
                format!(
                    "\n      {}",
                    loopsim::render::visible(&common::elide(&w, 2000), false)
                )
            })
            .unwrap_or_default();
            ui.verdict(&format!(
                "FAIL  {} [{}] the run {what} (seed {}), and no `outcome` claim expects it{why}\n      replay: {}",
                s.file,
                r.variant,
                r.seed,
                common::replay(
                    &s.file,
                    &r.variant,
                    r.seed,
                    args.model.map(|m| m.name()).as_deref()
                )
            ))?;
        }
    }
    // A blank line after the claims, when some were printed.
    if !ui.quiet() || failed + sim_failed > 0 {
        writeln!(ui)?;
    }
    writeln!(
        ui,
        "{}, {}: {passed} passed, {failed} failed",
        count(scenarios, "scenario"),
        count(passed + failed, "claim")
    )?;
    if sim_failed > 0 {
        let runs = count(sim_failed, "run");
        writeln!(ui, "{runs} deadlocked or hit a limit (see above)")?;
    }
    if bad > 0 {
        let files = count(bad, "file");
        writeln!(ui, "{files} could not be loaded (see the messages above)")?;
        return Ok(EXIT_USAGE);
    }
    Ok(if failed > 0 {
        EXIT_CLAIM_FAILED
    } else if sim_failed > 0 {
        super::EXIT_SIM_FAILED
    } else {
        EXIT_OK
    })
}
