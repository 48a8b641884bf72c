//! `loopsim run FILE`: replay a scenario, print its output with virtual
//! times, then a summary and every claim's verdict.

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_SIM_FAILED, EXIT_USAGE};
use super::output::{OutDir, Protected};
use anyhow::Result;
use loopsim::render::{Axis, ChromeTrace, Mermaid, Renderer, SequenceText, Timeline};
use loopsim::scenario::verify::{check, check_faster, describe};
use loopsim::scenario::{ClaimKind, run_variant};
use loopsim::{LoopModel, Outcome};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    limits: common::LimitArgs,
    /// The scenario file.
    file: PathBuf,
    /// Seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Loop model: asyncio, fifo, random (default: the scenario's).
    #[arg(long)]
    model: Option<common::ModelArg>,
    /// Run only this variant (default: every variant).
    #[arg(long)]
    variant: Option<String>,
    /// Write the trace of the (last) run as JSON Lines to this file.
    #[arg(long, value_name = "PATH")]
    trace_out: Option<PathBuf>,
    /// What to print: the output and verdicts (text), the event loop's
    /// sequence diagram, Mermaid, a Chrome/Perfetto trace, or the JSON Lines trace.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// With --format sequence or mermaid: show every handle the loop runs
    /// (done-callbacks, timer callbacks, wake-ups).
    #[arg(long)]
    detail: bool,
    /// Write an SVG timeline of the run (every variant, stacked) to this file.
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// The timeline's horizontal axis: virtual time, or events in order.
    #[arg(long, value_enum, default_value = "time")]
    axis: AxisArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Sequence,
    Mermaid,
    Chrome,
    Trace,
    /// The scenario as a real asyncio program (Python 3.11+, virtual clock).
    Python,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisArg {
    Time,
    Steps,
}

pub fn run(args: Args) -> Result<i32> {
    // Output paths are checked before anything runs.
    let input = std::slice::from_ref(&args.file);
    let protected = Protected::new(input, input);
    for path in [&args.svg, &args.trace_out].into_iter().flatten() {
        let (dir, name) = OutDir::for_file(path, &protected)?;
        dir.check_writable(&name)?;
    }
    let Some(mut s) = common::load(&args.file, &args.limits) else {
        return Ok(EXIT_USAGE);
    };
    if let Some(py) = args.model.and_then(|m| m.python) {
        common::set_python(&mut s, py);
    }
    let variants: Vec<String> = match &args.variant {
        Some(v) if s.variants.iter().any(|x| &x.name == v) => vec![v.clone()],
        Some(v) => {
            let names: Vec<&str> = s.variants.iter().map(|x| x.name.as_str()).collect();
            eprintln!(
                "{}: unknown variant `{v}`; the scenario has: {}",
                args.file.display(),
                names.join(", ")
            );
            return Ok(EXIT_USAGE);
        }
        None => s.variants.iter().map(|v| v.name.clone()).collect(),
    };
    let file = args.file.display().to_string();
    if args.format != Format::Text {
        return render_only(&s, &variants, &args, &protected);
    }
    println!("{} — {}", s.name, s.title);
    if let Some(src) = &s.source {
        println!("source: {src}");
    }
    let mut failed_claims = 0;
    let mut sim_failed = false;
    let mut traces = Vec::new();
    for v in &variants {
        let r = run_variant(&s, v, args.seed, args.model.map(|m| m.model), true);
        println!();
        println!(
            "[{}] seed {} · model {}{}",
            r.variant,
            r.seed,
            r.model,
            if r.model == LoopModel::Asyncio {
                format!(" (Python {})", r.python)
            } else {
                String::new()
            }
        );
        let names = r.run.trace.task_names();
        for line in &r.run.output {
            let task = line
                .task
                .and_then(|t| names.get(&t).map(String::as_str))
                .unwrap_or("-");
            println!(
                "  {:>10}  {:<12} {}",
                line.at.to_string(),
                loopsim::render::visible(task, false),
                loopsim::render::visible(&line.text, false)
            );
        }
        let outcome = match &r.run.outcome {
            Outcome::Completed(v) => format!("completed, main returned {}", v.repr()),
            Outcome::Failed(e) => format!("failed: main raised {e}"),
            Outcome::Deadlock { .. } => r
                .run
                .outcome
                .deadlock_report()
                .map(|d| loopsim::render::visible(&d.to_string(), false).into_owned())
                .unwrap_or_default(),
            Outcome::LimitExceeded { .. } => {
                common::limit_message(&s, &r.run.outcome, &r.run.trace).unwrap_or_default()
            }
        };
        println!(
            "  elapsed {} · {} tasks · {} steps · {} iterations · {outcome}",
            r.run.main_done_at.unwrap_or(r.run.ended_at),
            r.run.stats.tasks,
            r.run.stats.steps,
            r.run.stats.iterations
        );
        for (at, w) in r.run.trace.warnings() {
            println!("  warning at {at}: {}", loopsim::render::visible(&w, false));
        }
        let expects_outcome = s.claims.iter().any(|c| {
            matches!(c.kind, ClaimKind::RunEnds(_)) && c.variant.as_ref().is_none_or(|x| x == v)
        });
        if !r.run.is_completed() && !expects_outcome {
            sim_failed = true;
            println!(
                "  the simulation did not complete; replay: {}",
                common::replay(&file, v, r.seed, args.model.map(|m| m.name()).as_deref())
            );
        }
        for c in s.claims.iter().filter(|c| c.seeds.is_none()) {
            if matches!(c.kind, ClaimKind::Faster { .. })
                || c.variant.as_ref().is_some_and(|x| x != v)
            {
                continue;
            }
            let chk = check(&c.kind, &r.run.trace);
            print_verdict(chk.holds, &describe(&c.kind), &chk.observed, c.line);
            if !chk.holds {
                failed_claims += 1;
            }
        }
        traces.push((v.clone(), r.run.trace));
    }
    for c in &s.claims {
        if let ClaimKind::Faster { faster, slower, .. } = &c.kind {
            let find = |n: &str| traces.iter().find(|(v, _)| v == n).map(|(_, t)| t);
            if let (Some(a), Some(b)) = (find(faster), find(slower)) {
                println!();
                let chk = check_faster(&c.kind, a, b);
                print_verdict(chk.holds, &describe(&c.kind), &chk.observed, c.line);
                if !chk.holds {
                    failed_claims += 1;
                }
            }
        }
    }
    if s.claims.iter().any(|c| c.seeds.is_some()) {
        println!("\n(claims over seed ranges are checked by `loopsim check {file}`)");
    }
    if let (Some(path), Some((_, trace))) = (&args.trace_out, traces.last()) {
        common::write_output(path, &trace.to_jsonl(), &protected)?;
        println!("trace written to {}", path.display());
    }
    if let Some(path) = &args.svg {
        write_svg(
            &format!("{} — {}", s.name, s.title),
            path,
            &traces,
            args.axis,
            &protected,
        )?;
        println!("timeline written to {}", path.display());
    }
    Ok(if failed_claims > 0 {
        EXIT_CLAIM_FAILED
    } else if sim_failed {
        EXIT_SIM_FAILED
    } else {
        EXIT_OK
    })
}

fn write_svg(
    title: &str,
    path: &std::path::Path,
    traces: &[(String, loopsim::Trace)],
    axis: AxisArg,
    protected: &Protected,
) -> Result<()> {
    let timeline = Timeline {
        axis: match axis {
            AxisArg::Time => Axis::Time,
            AxisArg::Steps => Axis::Steps,
        },
        ..Timeline::default()
    };
    let traces: Vec<(String, &loopsim::Trace)> =
        traces.iter().map(|(v, t)| (v.clone(), t)).collect();
    let panels = common::panels(&traces);
    let svg = common::mark_svg(timeline.render_panels(title, &panels));
    common::write_output(path, &svg, protected)
}

/// `--format sequence|mermaid|chrome|trace`: print the rendering only.
fn render_only(
    s: &loopsim::scenario::Scenario,
    variants: &[String],
    args: &Args,
    protected: &Protected,
) -> Result<i32> {
    if matches!(args.format, Format::Chrome | Format::Trace | Format::Python) && variants.len() > 1
    {
        eprintln!(
            "{}: the scenario has {} variants; choose one with --variant for --format {:?}",
            args.file.display(),
            variants.len(),
            args.format
        );
        return Ok(EXIT_USAGE);
    }
    let mut traces = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let r = run_variant(s, v, args.seed, args.model.map(|m| m.model), true);
        let bytes = match args.format {
            Format::Sequence => SequenceText {
                detail: args.detail,
            }
            .render(&r.run.trace),
            Format::Mermaid => Mermaid {
                detail: args.detail,
                ..Mermaid::default()
            }
            .render(&r.run.trace),
            Format::Chrome => ChromeTrace.render(&r.run.trace),
            Format::Trace => r.run.trace.to_jsonl(),
            Format::Python => match loopsim::scenario::python::to_python(s, v) {
                Ok(p) => p.into_bytes(),
                Err(e) => {
                    eprintln!("{}: {e}", args.file.display());
                    return Ok(EXIT_USAGE);
                }
            },
            Format::Text => unreachable!("handled by run"),
        };
        if i > 0 {
            println!();
        }
        use std::io::Write;
        std::io::stdout().write_all(&bytes)?;
        traces.push((v.clone(), r.run.trace));
    }
    if let Some(path) = &args.svg {
        write_svg(
            &format!("{} — {}", s.name, s.title),
            path,
            &traces,
            args.axis,
            protected,
        )?;
        eprintln!("timeline written to {}", path.display());
    }
    Ok(EXIT_OK)
}

fn print_verdict(passed: bool, expected: &str, observed: &str, line: usize) {
    if passed {
        println!("  ok    {expected}");
    } else {
        println!("  FAIL  {expected} (line {line}) — observed: {observed}");
    }
}
