//! `loopsim run FILE`: replay a scenario, print its output with virtual
//! times, then a summary and every claim's verdict.
//!
//! `-q` leaves out the title, the printed lines and the claims that hold;
//! `-v` also checks the claims over seed ranges (otherwise left to `loopsim
//! check`). An option that the chosen format ignores is named on stderr.

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_SIM_FAILED, EXIT_USAGE};
use super::output::{OutDir, Protected};
use super::ui::{Ui, count};
use anyhow::Result;
use clap::ValueEnum;
use loopsim::render::{Axis, ChromeTrace, Mermaid, Renderer, SequenceText, Timeline};
use loopsim::report::{ScenarioReport, VariantRun, failure_text, html, output_diff};
use loopsim::scenario::verify::{ClaimVerdict, check, check_faster, check_scenario, describe};
use loopsim::scenario::{ClaimKind, Scenario, run_variant};
use loopsim::trace::TraceFormat;
use loopsim::{LoopModel, Outcome};
use std::io::Write;
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
    /// Write the trace of the run to this file: JSON Lines, or the compact
    /// binary form if the name ends in `.lstrace` (of the last variant run:
    /// choose one with --variant). `loopsim trace` reads either back.
    #[arg(long, value_name = "PATH")]
    trace_out: Option<PathBuf>,
    /// What to print: the output and verdicts (text), the event loop's
    /// sequence diagram, Mermaid, a Chrome/Perfetto trace (one process per
    /// variant), or the JSON Lines trace.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// With --format sequence or mermaid: show every handle the loop runs
    /// (done-callbacks, timer callbacks, wake-ups).
    #[arg(long)]
    detail: bool,
    /// Write an SVG timeline of the run (every variant, stacked) to this file.
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// The --svg timeline's horizontal axis: virtual time with every busy
    /// instant opened into its events in order and long idle gaps
    /// compressed (mixed, the default), virtual time alone, or events in
    /// order.
    #[arg(long, value_enum)]
    axis: Option<AxisArg>,
    /// Write an interactive HTML report of the run (every variant; one
    /// self-contained file, no network) to this file.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
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
    /// The critical path: the chain of waits that set the main task's end
    /// time, per variant.
    CriticalPath,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AxisArg {
    Mixed,
    Time,
    Steps,
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    // Output paths are checked before anything runs.
    let input = std::slice::from_ref(&args.file);
    let protected = Protected::new(input, input);
    for path in [&args.svg, &args.trace_out, &args.html]
        .into_iter()
        .flatten()
    {
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
    for note in ignored_options(&args, &variants) {
        eprintln!("note: {note}");
    }
    if args.format != Format::Text {
        return render_only(&s, &variants, &args, &protected, ui);
    }
    let file = args.file.display().to_string();
    if !ui.quiet() {
        writeln!(ui, "{} — {}", s.name, s.title)?;
        if let Some(src) = &s.source {
            writeln!(ui, "source: {src}")?;
        }
    }
    let mut failed_claims = 0;
    let mut sim_failed = false;
    let mut traces = Vec::new();
    let mut verdicts = Vec::new();
    for v in &variants {
        let r = run_variant(&s, v, args.seed, args.model.map(|m| m.model), true);
        if !ui.quiet() {
            writeln!(ui)?;
        }
        writeln!(
            ui,
            "[{}] seed {} · model {}{}",
            r.variant,
            r.seed,
            r.model,
            if r.model == LoopModel::Asyncio {
                format!(" (Python {})", r.python)
            } else {
                String::new()
            }
        )?;
        let names = r
            .run
            .trace
            .names_of(r.run.output.iter().filter_map(|l| l.task));
        if !ui.quiet() {
            for line in &r.run.output {
                let task = line
                    .task
                    .and_then(|t| names.get(&t).map(String::as_str))
                    .unwrap_or("-");
                writeln!(
                    ui,
                    "  {:>10}  {:<12} {}",
                    line.at.to_string(),
                    loopsim::render::visible(task, false),
                    loopsim::render::visible(&line.text, false)
                )?;
            }
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
        let stats = r.run.stats;
        writeln!(
            ui,
            "  elapsed {} · {} · {} · {} · {outcome}",
            r.run.main_done_at.unwrap_or(r.run.ended_at),
            count(stats.tasks, "task"),
            count(stats.steps, "step"),
            count(stats.iterations, "iteration"),
        )?;
        for (at, w) in r.run.trace.warnings() {
            ui.verdict(&format!(
                "  warning at {at}: {}",
                loopsim::render::visible(&w, false)
            ))?;
        }
        let expects_outcome = s.claims.iter().any(|c| {
            matches!(c.kind, ClaimKind::RunEnds(_)) && c.variant.as_ref().is_none_or(|x| x == v)
        });
        if !r.run.is_completed() && !expects_outcome {
            sim_failed = true;
            writeln!(
                ui,
                "  the simulation did not complete; replay: {}",
                common::replay(&file, v, r.seed, args.model.map(|m| m.name()).as_deref())
            )?;
        }
        let printed: Vec<&str> = r.run.output.iter().map(|l| l.text.as_str()).collect();
        for c in s.claims.iter().filter(|c| c.seeds.is_none()) {
            if matches!(c.kind, ClaimKind::Faster { .. })
                || c.variant.as_ref().is_some_and(|x| x != v)
            {
                continue;
            }
            let chk = check(&c.kind, &r.run.trace);
            print_verdict(ui, chk.holds, &describe(&c.kind), &chk.observed, c.line)?;
            if !chk.holds {
                failed_claims += 1;
                if let Some(d) = output_diff(&c.kind, &printed, "        ") {
                    writeln!(ui, "{d}")?;
                }
            }
            verdicts.push(ClaimVerdict {
                claim: c.clone(),
                variant: v.clone(),
                seed: r.seed,
                model: r.model,
                verdict: chk,
                seeds_checked: 1,
            });
        }
        traces.push((v.clone(), r.run.trace));
    }
    for c in &s.claims {
        if let ClaimKind::Faster { faster, slower, .. } = &c.kind
            && c.seeds.is_none()
        {
            let find = |n: &str| traces.iter().find(|(v, _)| v == n).map(|(_, t)| t);
            if let (Some(a), Some(b)) = (find(faster), find(slower)) {
                if !ui.quiet() {
                    writeln!(ui)?;
                }
                let chk = check_faster(&c.kind, a, b);
                print_verdict(ui, chk.holds, &describe(&c.kind), &chk.observed, c.line)?;
                if !chk.holds {
                    failed_claims += 1;
                }
            }
        }
    }
    if s.claims.iter().any(|c| c.seeds.is_some()) {
        if ui.verbose() {
            failed_claims += seed_range_claims(&s, &variants, &args, ui)?;
        } else if !ui.quiet() {
            writeln!(
                ui,
                "\n(claims over seed ranges are checked by `loopsim check {file}`, or here with -v)"
            )?;
        }
    }
    if let (Some(path), Some((_, trace))) = (&args.trace_out, traces.last()) {
        common::write_output(path, &TraceFormat::for_path(path).write(trace), &protected)?;
        if !ui.quiet() {
            writeln!(ui, "trace written to {}", path.display())?;
        }
    }
    if let Some(path) = &args.svg {
        write_svg(
            &format!("{} — {}", s.name, s.title),
            path,
            &traces,
            args.axis,
            &protected,
        )?;
        if !ui.quiet() {
            writeln!(ui, "timeline written to {}", path.display())?;
        }
    }
    if let Some(path) = &args.html {
        write_html(&s, path, traces, verdicts, &protected)?;
        if !ui.quiet() {
            writeln!(ui, "HTML report written to {}", path.display())?;
        }
    }
    Ok(if failed_claims > 0 {
        EXIT_CLAIM_FAILED
    } else if sim_failed {
        EXIT_SIM_FAILED
    } else {
        EXIT_OK
    })
}

/// `-v`: the claims over seed ranges about the variants run, each judged on
/// every seed of its range; returns how many fail.
fn seed_range_claims(s: &Scenario, variants: &[String], args: &Args, ui: &mut Ui) -> Result<u32> {
    let about = |v: &Option<String>| v.as_ref().is_none_or(|v| variants.contains(v));
    let mut only = s.clone();
    only.claims.retain(|c| {
        c.seeds.is_some()
            && match &c.kind {
                ClaimKind::Faster { faster, slower, .. } => {
                    variants.contains(faster) && variants.contains(slower)
                }
                _ => about(&c.variant),
            }
    });
    let mut failed = 0;
    writeln!(ui, "\nclaims over seed ranges:")?;
    for v in check_scenario(&only, None, args.model.map(|m| m.model)) {
        // A claim about every variant is judged on each: keep those run.
        if v.claim.variant.is_none()
            && !v.variant.contains(" vs ")
            && !variants.contains(&v.variant)
        {
            continue;
        }
        if v.verdict.holds {
            let (a, b) = v.claim.seeds.expect("only claims over seed ranges");
            ui.verdict(&format!(
                "  ok    [{}] {} over seeds {a}..{b}",
                v.variant, v.verdict.expected
            ))?;
        } else {
            failed += 1;
            let model = args.model.map(|m| m.name());
            let text = failure_text(&only, &v, model.as_deref());
            let indented: Vec<String> = text.lines().map(|l| format!("  {l}")).collect();
            ui.verdict(&indented.join("\n"))?;
        }
    }
    Ok(failed)
}

/// The options given that this run will not use, in words.
fn ignored_options(args: &Args, variants: &[String]) -> Vec<String> {
    let mut notes = Vec::new();
    let format = format_name(args.format);
    if args.detail && !matches!(args.format, Format::Sequence | Format::Mermaid) {
        notes.push(format!(
            "--detail applies to --format sequence and mermaid; --format {format} ignores it"
        ));
    }
    if args.trace_out.is_some() && variants.len() > 1 {
        notes.push(format!(
            "--trace-out writes one trace, of the last variant (`{}`), not of all {}; choose one with --variant",
            variants.last().map_or("", String::as_str),
            variants.len()
        ));
    }
    if args.axis.is_some() && args.svg.is_none() {
        notes.push(
            "--axis sets the axis of the --svg timeline; without --svg it does nothing".to_string(),
        );
    }
    notes
}

/// A format's name as the command line spells it.
fn format_name(f: Format) -> String {
    f.to_possible_value()
        .map_or_else(|| format!("{f:?}"), |v| v.get_name().to_string())
}

fn write_svg(
    title: &str,
    path: &std::path::Path,
    traces: &[(String, loopsim::Trace)],
    axis: Option<AxisArg>,
    protected: &Protected,
) -> Result<()> {
    let timeline = Timeline {
        axis: match axis.unwrap_or(AxisArg::Mixed) {
            AxisArg::Mixed => Axis::TimeAndOrder,
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

/// The interactive HTML report of the runs (and the verdicts of the
/// claims checked on them, if any), written to `path`.
fn write_html(
    s: &Scenario,
    path: &std::path::Path,
    traces: Vec<(String, loopsim::Trace)>,
    verdicts: Vec<ClaimVerdict>,
    protected: &Protected,
) -> Result<()> {
    let report = ScenarioReport {
        name: s.name.clone(),
        title: s.title.clone(),
        source: s.source.clone(),
        description: s.description.clone(),
        file: s.file.clone(),
        runs: traces
            .into_iter()
            .map(|(variant, trace)| VariantRun { variant, trace })
            .collect(),
        verdicts,
    };
    common::write_output(path, html::page(&report, false).as_bytes(), protected)
}

/// `--format sequence|mermaid|chrome|trace|python`: print the rendering
/// only (the Chrome trace of several variants as one file, a process each).
fn render_only(
    s: &Scenario,
    variants: &[String],
    args: &Args,
    protected: &Protected,
    ui: &mut Ui,
) -> Result<i32> {
    if matches!(args.format, Format::Trace | Format::Python) && variants.len() > 1 {
        eprintln!(
            "{}: the scenario has {} variants; choose one with --variant for --format {}",
            args.file.display(),
            variants.len(),
            format_name(args.format)
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
            // Written once, after every variant has run.
            Format::Chrome => Vec::new(),
            Format::CriticalPath => loopsim::render::critical_path(&r.run.trace)
                .text(&format!("{} [{v}]", s.name))
                .into_bytes(),
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
        if i > 0 && !bytes.is_empty() {
            writeln!(ui)?;
        }
        ui.write_all(&bytes)?;
        traces.push((v.clone(), r.run.trace));
    }
    if args.format == Format::Chrome {
        let runs: Vec<(&str, &loopsim::Trace)> =
            traces.iter().map(|(v, t)| (v.as_str(), t)).collect();
        ui.write_all(&ChromeTrace.render_variants(&runs))?;
    }
    if let (Some(path), Some((_, trace))) = (&args.trace_out, traces.last()) {
        common::write_output(path, &TraceFormat::for_path(path).write(trace), protected)?;
        if !ui.quiet() {
            eprintln!("trace written to {}", path.display());
        }
    }
    if let Some(path) = &args.svg {
        write_svg(
            &format!("{} — {}", s.name, s.title),
            path,
            &traces,
            args.axis,
            protected,
        )?;
        if !ui.quiet() {
            eprintln!("timeline written to {}", path.display());
        }
    }
    if let Some(path) = &args.html {
        write_html(s, path, traces, Vec::new(), protected)?;
        if !ui.quiet() {
            eprintln!("HTML report written to {}", path.display());
        }
    }
    Ok(EXIT_OK)
}

fn print_verdict(
    ui: &mut Ui,
    passed: bool,
    expected: &str,
    observed: &str,
    line: usize,
) -> std::io::Result<()> {
    if passed {
        if ui.quiet() {
            return Ok(());
        }
        ui.verdict(&format!("  ok    {expected}"))
    } else {
        ui.verdict(&format!(
            "  FAIL  {expected} (line {line}) — observed: {observed}"
        ))
    }
}
