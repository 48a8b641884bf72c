//! `loopsim bench`: the engine's baseline on the standard workloads. `-q`
//! prints the table alone; `-v` adds each repetition's wall time.
//! `--compare tokio` measures the same workloads against tokio's paused
//! clock by paired runs (and by instruction counts with `--instructions`).

use super::output::UsageError;
use super::ui::Ui;
use anyhow::{Result, bail};
use loopsim::render::{Renderer, Timeline};
use loopsim::trace::TraceFormat;
use loopsim::workloads::Workload;
use loopsim::{LoopModel, Run, Sim};
use std::io::Write;
use std::path::Path;

mod compare;
#[cfg(feature = "compare-tokio")]
mod tokio;
use compare::compare;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Loop model to measure.
    #[arg(long, default_value = "asyncio")]
    model: LoopModel,
    /// Divide every workload's size by this factor (for a quick smoke run).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    scale_down: u32,
    /// Repetitions per measurement; the best time is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Measure the workloads W1–W4 against another executor by paired runs:
    /// alternating runs, the ratio of each pair, the median ratio. `tokio`
    /// needs a build with `--features compare-tokio`; `cpython` a Python 3.11+.
    #[arg(long, value_enum)]
    compare: Option<Against>,
    /// Pairs per workload with --compare.
    #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pairs: u32,
    /// With --compare or --trace-cost: only workload N (1–4; repeatable);
    /// the memory rows are then left out.
    #[arg(long = "workload", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=4))]
    workloads: Vec<u32>,
    /// Measure what a trace streamed to a file costs on W1–W4, by paired
    /// runs in this process: trace off, then streamed in the binary form
    /// and as JSON Lines, each written by the run's thread and by a writer
    /// thread, in alternating order; the median of each pair's ratio
    /// streamed / off.
    #[arg(long, conflicts_with = "compare")]
    trace_cost: bool,
    /// With --compare: also count instructions under valgrind's callgrind
    /// (exact and repeatable; skipped with a note when valgrind is missing).
    #[arg(long, requires = "compare", conflicts_with = "trace_cost")]
    instructions: bool,
    /// Runs one workload once and exits (what --instructions measures):
    /// `ENGINE:N`, ENGINE `loopsim` or `tokio`, N 1–4 (0: nothing), or
    /// `ENGINE:million` / `ENGINE:churn` (prints the peak RSS in KiB).
    #[arg(long, hide = true)]
    one: Option<String>,
}

impl Args {
    /// Whether workload W`n` is among those `--workload` chose (all if none).
    fn measures(&self, n: usize) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|&w| w as usize == n)
    }
}

/// The executor `--compare` measures against.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Against {
    /// tokio's current-thread runtime with a paused clock (`start_paused`).
    Tokio,
    /// CPython's own asyncio on a virtual clock (`tools/vclock.py`), run by
    /// `python3` (or `$LOOPSIM_PYTHON`).
    Cpython,
}

fn scaled(w: Workload, f: u32) -> Workload {
    let s = |n: u32| (n / f).max(1);
    match w {
        Workload::Sleepers { tasks } => Workload::Sleepers { tasks: s(tasks) },
        Workload::Yields { tasks, yields } => Workload::Yields {
            tasks: s(tasks),
            yields,
        },
        Workload::SequentialSleeps { tasks, sleeps } => Workload::SequentialSleeps {
            tasks: s(tasks),
            sleeps,
        },
        Workload::Pipeline {
            producers,
            messages,
            consumers,
            capacity,
        } => Workload::Pipeline {
            producers: s(producers),
            messages,
            consumers: consumers.min(s(producers)),
            capacity,
        },
        Workload::Chat { clients, lines } => Workload::Chat {
            clients: s(clients),
            lines,
        },
        Workload::Churn { tasks } => Workload::Churn { tasks: s(tasks) },
    }
}

/// Wall-clock timing of the simulator itself; never reaches a simulated output.
#[allow(clippy::disallowed_methods)]
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

/// The process's peak resident memory so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    Some(peak_rss_kib()? as f64 / 1024.0)
}

/// The process's peak resident memory so far (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A million tasks asleep at once (W1 at 10×), or (`churn`) a million
/// short tasks one after another, measured at its peak: the run's memory
/// per task. Prints the peak RSS in KiB.
fn one_million(engine: &str, w: Workload, args: &Args) -> Result<()> {
    run_on(engine, w, args)?;
    println!("{}", peak_rss_kib().unwrap_or(0));
    Ok(())
}

/// Bytes per task of a million sleeping tasks on `engine` (`million`), or
/// of a million finished ones (`churn`): the peak RSS of a process running
/// them less that of one running nothing.
fn memory_per_task(engine: &str, which: &str, args: &Args) -> Result<Option<f64>> {
    let exe = std::env::current_exe()?;
    let peak = |spec: &str| -> Result<Option<u64>> {
        let out = std::process::Command::new(&exe)
            .args(["bench", "--model", &args.model.to_string(), "--one", spec])
            .output()?;
        if !out.status.success() {
            bail!(
                "`bench --one {spec}` failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .ok()
            .filter(|k| *k > 0))
    };
    let (Some(base), Some(full)) = (peak("loopsim:0")?, peak(&format!("{engine}:{which}"))?) else {
        return Ok(None);
    };
    Ok(Some(full.saturating_sub(base) as f64 * 1024.0 / 1e6))
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    if let Some(spec) = &args.one {
        return run_one(spec, &args);
    }
    if let Some(against) = args.compare {
        return compare(&args, against, ui);
    }
    if args.trace_cost {
        return trace_cost(&args, ui);
    }
    if !args.workloads.is_empty() {
        return Err(UsageError(
            "--workload chooses the workloads of --compare or --trace-cost".to_string(),
        )
        .into());
    }
    // The network first, so that the peak memory is its own.
    let chat = scaled(
        Workload::Chat {
            clients: 1_000,
            lines: 100,
        },
        args.scale_down,
    );
    let sim = Sim::builder()
        .model(args.model)
        .trace(false)
        .seed(1)
        .build();
    let mut best = f64::INFINITY;
    for _ in 0..args.repeat {
        let t0 = wall();
        let run = chat.run(&sim);
        best = best.min(t0.elapsed().as_secs_f64());
        if !run.is_completed() {
            bail!(
                "workload {} did not complete: {:?}",
                chat.name(),
                run.outcome
            );
        }
    }
    if !ui.quiet() {
        writeln!(
            ui,
            "network: {} (trace off): {:.1} ms, {:.0} messages/s of wall time, peak RSS {}",
            chat.name(),
            best * 1e3,
            chat.messages() as f64 / best,
            peak_rss_mib().map_or("unknown".to_string(), |m| format!("{m:.1} MiB")),
        )?;
        writeln!(ui)?;
    }
    writeln!(
        ui,
        "{:<32} {:>6} {:>10} {:>12} {:>14} {:>12} {:>14} {:>10}",
        "workload", "trace", "wall ms", "steps", "steps/s", "events", "events/s", "virtual"
    )?;
    for w in Workload::BASELINE {
        let w = scaled(w, args.scale_down);
        let dir = tempfile::tempdir()?;
        for trace in [Trace::Off, Trace::Memory, Trace::File, Trace::Binary] {
            let sim = Sim::builder()
                .model(args.model)
                .trace(trace != Trace::Off)
                .seed(1)
                .build();
            let mut best = f64::INFINITY;
            let mut last = None;
            let mut times = Vec::new();
            for _ in 0..args.repeat {
                let (took, run, events) = time_run(w, &sim, trace, dir.path())?;
                best = best.min(took);
                times.push(format!("{:.1}", took * 1e3));
                last = Some((run, events));
            }
            let (run, events) = last.expect("at least one repetition");
            if !run.is_completed() {
                bail!("workload {} did not complete: {:?}", w.name(), run.outcome);
            }
            writeln!(
                ui,
                "{:<32} {:>6} {:>10.1} {:>12} {:>14.0} {:>12} {:>14} {:>10}",
                w.name(),
                trace.name(),
                best * 1e3,
                run.stats.steps,
                run.stats.steps as f64 / best,
                events,
                if trace == Trace::Off {
                    "-".to_string()
                } else {
                    format!("{:.0}", events as f64 / best)
                },
                run.ended_at.to_string(),
            )?;
            if ui.verbose() {
                writeln!(ui, "{:<32} each repetition, ms: {}", "", times.join(", "))?;
            }
        }
    }
    if ui.quiet() {
        return Ok(super::EXIT_OK);
    }
    interpreter(&args, ui)?;
    if args.scale_down == 1 {
        writeln!(ui)?;
        for (spec, form) in [("stream", "JSON Lines"), ("streambin", "binary")] {
            if let Some((events, mib)) = streamed_trace_peak(&args, spec)? {
                writeln!(
                    ui,
                    "memory: a trace of {events} events streamed to a file ({form}): peak RSS {mib:.1} MiB"
                )?;
            }
        }
    }
    let rows = [
        ("million", "\nmemory: a million sleeping tasks", "per task"),
        (
            "churn",
            "memory: a million short tasks one after another",
            "kept per finished task",
        ),
    ];
    for (which, what, per) in rows {
        if args.scale_down == 1
            && let Some(b) = memory_per_task("loopsim", which, &args)?
        {
            writeln!(
                ui,
                "{what} (trace off): {:.0} MiB, {b:.0} B {per}",
                b * 1e6 / 1048576.0
            )?;
        }
    }
    // Rendering: the SVG timeline of a 10k-task run.
    let tasks = (10_000 / args.scale_down).max(1);
    let run = Workload::Sleepers { tasks }.run(&Sim::builder().seed(1).build());
    let mut best = f64::INFINITY;
    let mut bytes = 0;
    for _ in 0..args.repeat {
        let t0 = wall();
        let svg = Timeline::default().render(&run.trace);
        best = best.min(t0.elapsed().as_secs_f64());
        bytes = svg.len();
    }
    writeln!(ui)?;
    writeln!(
        ui,
        "timeline SVG of sleepers({tasks}): {:.1} ms, {:.2} MB ({} events in the trace)",
        best * 1e3,
        bytes as f64 / 1e6,
        run.trace.events.len()
    )?;
    Ok(super::EXIT_OK)
}

/// W1 as a scenario file: a `gather` of N coroutines with seeded random
/// sleeps (`{n}` is N).
const W1_SCENARIO: &str = r#"title = "W1 as a scenario"

[limits]
max_tasks = 2000000

[coroutines.sleeper]
steps = [{ sleep = "uniform(1ms, 1000ms)" }]

[coroutines.main]
steps = [{ gather = "sleeper()", for = "i", in = "range({n})" }]
"#;

/// The scenario interpreter against Rust: W1 as a scenario and the same
/// `gather` shape in Rust, both with the trace on (the CLI's default).
/// W1 as a scenario file, run by the interpreter with the CLI's default
/// trace on.
fn w1_scenario(n: u32, model: LoopModel) -> Result<()> {
    let text = W1_SCENARIO.replace("{n}", &n.to_string());
    let scenario = loopsim::scenario::parse("w1.toml", &text)
        .map_err(|e| anyhow::anyhow!("the W1 scenario does not parse: {e:?}"))?;
    let run = loopsim::scenario::run_variant(&scenario, "main", Some(1), Some(model), true);
    if !run.run.is_completed() {
        bail!("the W1 scenario did not complete: {:?}", run.run.outcome);
    }
    Ok(())
}

/// The same shape as [`w1_scenario`] written in Rust: a `gather` of `n`
/// coroutines with seeded random sleeps, the trace on.
fn w1_rust(n: u32, model: LoopModel) -> Result<()> {
    let sim = Sim::builder().model(model).trace(true).seed(1).build();
    let run = sim.run(async move {
        let sleepers = (0..n).map(|_| {
            let ms = loopsim::with_rng(|r| rand::RngExt::random_range(r, 1..=1000u64));
            async move {
                loopsim::sleep(loopsim::Duration::from_millis(ms)).await;
                Ok::<(), loopsim::Error>(())
            }
        });
        loopsim::gather(sleepers).await
    });
    if !run.is_completed() {
        bail!("the W1 gather did not complete: {:?}", run.outcome);
    }
    Ok(())
}

fn interpreter(args: &Args, ui: &mut Ui) -> Result<()> {
    let n = (100_000 / args.scale_down).max(1);
    let (mut best_s, mut best_r) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..args.repeat {
        let t0 = wall();
        w1_scenario(n, args.model)?;
        best_s = best_s.min(t0.elapsed().as_secs_f64());
        let t0 = wall();
        w1_rust(n, args.model)?;
        best_r = best_r.min(t0.elapsed().as_secs_f64());
    }
    writeln!(ui)?;
    writeln!(
        ui,
        "interpreter: W1 as a scenario (gather of {n}, trace on): {:.1} ms; the same shape in Rust: {:.1} ms ({:.2}x)",
        best_s * 1e3,
        best_r * 1e3,
        best_s / best_r
    )?;
    Ok(())
}

/// Where a row's trace goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trace {
    Off,
    /// Kept in memory (`run.trace`).
    Memory,
    /// Streamed to a file as JSON Lines as the run goes.
    File,
    /// Streamed to a file in the binary form as the run goes.
    Binary,
    /// As `File`, written by a [`WriterThread`](loopsim::trace::WriterThread).
    FileThread,
    /// As `Binary`, written by a [`WriterThread`](loopsim::trace::WriterThread).
    BinaryThread,
}

impl Trace {
    fn name(self) -> &'static str {
        match self {
            Trace::Off => "off",
            Trace::Memory => "on",
            Trace::File => "jsonl",
            Trace::Binary => "binary",
            Trace::FileThread => "jsonl, writer thread",
            Trace::BinaryThread => "binary, writer thread",
        }
    }

    fn format(self) -> TraceFormat {
        match self {
            Trace::Binary | Trace::BinaryThread => TraceFormat::Binary,
            _ => TraceFormat::Jsonl,
        }
    }
}

/// Runs `w` once on `sim` with its trace as `trace` says; returns the
/// seconds the run took, the run, and the events it recorded. A streamed
/// trace goes to a new file in `dir`, removed after the run is timed:
/// writing over the last repetition's file would time the kernel dropping
/// its pages too (2 ms of W2's 25 with the binary form; more with JSON
/// Lines), which a run writing its trace to a new file does not pay.
fn time_run(w: Workload, sim: &Sim, trace: Trace, dir: &Path) -> Result<(f64, Run<()>, u64)> {
    match trace {
        Trace::File | Trace::Binary | Trace::FileThread | Trace::BinaryThread => {
            let format = trace.format();
            let path = dir.join(match format {
                TraceFormat::Binary => "trace.lstrace",
                TraceFormat::Jsonl => "trace.jsonl",
            });
            // Left by a repetition that failed; not timed.
            let _ = std::fs::remove_file(&path);
            let out = std::fs::File::create_new(&path)?;
            let t0 = wall();
            // The writer thread is joined when the run ends, within the time.
            let (run, written) = if matches!(trace, Trace::FileThread | Trace::BinaryThread) {
                w.run_streaming(sim, loopsim::trace::WriterThread::new(out), format)
            } else {
                w.run_streaming(sim, out, format)
            };
            let took = t0.elapsed().as_secs_f64();
            std::fs::remove_file(&path)?;
            Ok((took, run, written?))
        }
        _ => {
            let t0 = wall();
            let run = w.run(sim);
            let took = t0.elapsed().as_secs_f64();
            let n = run.trace.events.len() as u64;
            Ok((took, run, n))
        }
    }
}

/// `--trace-cost`: per workload, `pairs` rounds of a run with the trace off
/// and runs with it streamed (binary and JSON Lines, each written by the
/// run's thread and by a [`WriterThread`](loopsim::trace::WriterThread)),
/// the order alternating; the median of each round's ratio streamed / off.
fn trace_cost(args: &Args, ui: &mut Ui) -> Result<i32> {
    const STREAMED: [Trace; 4] = [
        Trace::Binary,
        Trace::BinaryThread,
        Trace::File,
        Trace::FileThread,
    ];
    writeln!(
        ui,
        "loopsim `{}`: a trace streamed to a new file ÷ the trace off, {} each: the median of the ratios (their range); lower is better",
        args.model,
        if args.pairs == 1 {
            "1 pair".to_string()
        } else {
            format!("{} pairs", args.pairs)
        }
    )?;
    write!(ui, "{:<4} {:<34} {:>8}", "", "workload", "off ms")?;
    for t in STREAMED {
        write!(ui, " {:>22}", t.name())?;
    }
    writeln!(ui)?;
    let dir = tempfile::tempdir()?;
    let sims = [false, true].map(|on| Sim::builder().model(args.model).trace(on).seed(1).build());
    for n in 1..=Workload::BASELINE.len() {
        if !args.measures(n) {
            continue;
        }
        let w = baseline(n, args.scale_down).expect("in range");
        let mut off = Vec::new();
        let mut ratios: [Vec<f64>; STREAMED.len()] = Default::default();
        for pair in 0..args.pairs {
            let mut order = [
                Trace::Off,
                STREAMED[0],
                STREAMED[1],
                STREAMED[2],
                STREAMED[3],
            ];
            if pair % 2 == 1 {
                order.reverse();
            }
            let mut took = [0.0; 5];
            for trace in order {
                let sim = &sims[usize::from(trace != Trace::Off)];
                let (t, run, _) = time_run(w, sim, trace, dir.path())?;
                if !run.is_completed() {
                    bail!("workload {} did not complete: {:?}", w.name(), run.outcome);
                }
                let at = STREAMED
                    .iter()
                    .position(|s| *s == trace)
                    .map_or(0, |i| i + 1);
                took[at] = t;
            }
            off.push(took[0]);
            for (r, t) in ratios.iter_mut().zip(&took[1..]) {
                r.push(t / took[0]);
            }
        }
        write!(
            ui,
            "W{n:<3} {:<34} {:>8.1}",
            w.name(),
            compare::median(&mut off) * 1e3
        )?;
        for r in &mut ratios {
            let (lo, hi) = compare::span(r);
            let cell = format!("{:.2} ({lo:.2}..{hi:.2})", compare::median(r));
            write!(ui, " {cell:>22}")?;
        }
        writeln!(ui)?;
    }
    Ok(super::EXIT_OK)
}

/// The workload whose streamed trace has ten million events (W2 at 3.4×).
const TEN_MILLION_EVENTS: Workload = Workload::Yields {
    tasks: 1_000,
    yields: 3_400,
};

/// Runs [`TEN_MILLION_EVENTS`] in a process of its own with its trace
/// streamed to a file (`spec`: `stream` JSON Lines, `streambin` binary):
/// the events written and the process's peak RSS (MiB).
fn streamed_trace_peak(args: &Args, spec: &str) -> Result<Option<(u64, f64)>> {
    let spec = format!("loopsim:{spec}");
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "--model", &args.model.to_string(), "--one", &spec])
        .output()?;
    if !out.status.success() {
        bail!(
            "`bench --one {spec}` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|x| x.parse::<u64>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(events), Some(kib)) if kib > 0 => Ok(Some((events, kib as f64 / 1024.0))),
        _ => Ok(None),
    }
}

/// The workload W`n` (1–4) of the baseline, scaled.
fn baseline(n: usize, scale_down: u32) -> Option<Workload> {
    let w = *Workload::BASELINE.get(n.checked_sub(1)?)?;
    Some(scaled(w, scale_down))
}

/// What one unit of a workload is, and how many there are: instructions
/// are reported per unit.
fn units(w: Workload) -> (&'static str, u64) {
    match w {
        Workload::Sleepers { tasks } => ("task", u64::from(tasks)),
        Workload::Yields { tasks, yields } => ("yield", u64::from(tasks) * u64::from(yields)),
        Workload::SequentialSleeps { tasks, sleeps } => {
            ("timer", u64::from(tasks) * u64::from(sleeps))
        }
        Workload::Pipeline {
            producers,
            messages,
            ..
        } => ("message", u64::from(producers) * u64::from(messages)),
        Workload::Chat { clients, lines } => ("message", 2 * u64::from(clients) * u64::from(lines)),
        Workload::Churn { tasks } => ("task", u64::from(tasks)),
    }
}

/// `--one ENGINE:N`: one run, nothing printed (measured from outside).
fn run_one(spec: &str, args: &Args) -> Result<i32> {
    let Some((engine, n)) = spec.split_once(':') else {
        return Err(UsageError("--one takes ENGINE:N, e.g. loopsim:1".to_string()).into());
    };
    if let Some(format) = match n {
        "stream" => Some(TraceFormat::Jsonl),
        "streambin" => Some(TraceFormat::Binary),
        _ => None,
    } && engine == "loopsim"
    {
        // Prints the events written and the peak RSS in KiB.
        let sim = Sim::builder()
            .model(args.model)
            .trace(true)
            .seed(1)
            .limits(loopsim::Limits {
                max_trace_events: u64::MAX,
                ..loopsim::Limits::default()
            })
            .build();
        let dir = tempfile::tempdir()?;
        let out = std::fs::File::create(dir.path().join("t.trace"))?;
        let (run, written) = TEN_MILLION_EVENTS.run_streaming(&sim, out, format);
        if !run.is_completed() {
            bail!("the streamed run did not complete: {:?}", run.outcome);
        }
        println!("{} {}", written?, peak_rss_kib().unwrap_or(0));
        return Ok(super::EXIT_OK);
    }
    if let Some((format, k)) = n
        .strip_prefix("file")
        .map(|k| (TraceFormat::Jsonl, k))
        .or_else(|| n.strip_prefix("bin").map(|k| (TraceFormat::Binary, k)))
        && engine == "loopsim"
    {
        // Workload k with its trace streamed to a file (for callgrind).
        let w = baseline(k.parse()?, args.scale_down)
            .ok_or_else(|| anyhow::anyhow!("--one loopsim:fileN and binN take N in 1..=4"))?;
        let sim = Sim::builder().model(args.model).trace(true).seed(1).build();
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("t.trace");
        let out = std::fs::File::create(&path)?;
        let (run, written) = w.run_streaming(&sim, out, format);
        if !run.is_completed() {
            bail!("the streamed run did not complete: {:?}", run.outcome);
        }
        // The events written and the file's bytes.
        println!("{} {}", written?, std::fs::metadata(&path)?.len());
        return Ok(super::EXIT_OK);
    }
    if n == "scenario" || n == "gather" {
        // W1 as a scenario, or the same shape in Rust (the interpreter's
        // row, measured from outside).
        let tasks = (100_000 / args.scale_down).max(1);
        if n == "scenario" {
            w1_scenario(tasks, args.model)?;
        } else {
            w1_rust(tasks, args.model)?;
        }
        return Ok(super::EXIT_OK);
    }
    if n == "million" || n == "churn" {
        // A million sleeping tasks, or a million short ones in turn; prints
        // the peak RSS in KiB (what `memory_per_task` reads).
        let w = if n == "million" {
            Workload::Sleepers { tasks: 1_000_000 }
        } else {
            Workload::Churn { tasks: 1_000_000 }
        };
        one_million(engine, w, args)?;
        return Ok(super::EXIT_OK);
    }
    let n: usize = n.parse()?;
    let Some(w) = baseline(n, args.scale_down) else {
        // W0: the cost of starting the process.
        if engine == "loopsim" {
            println!("{}", peak_rss_kib().unwrap_or(0));
        }
        return Ok(super::EXIT_OK);
    };
    run_on(engine, w, args)?;
    Ok(super::EXIT_OK)
}

/// Runs `w` once on `engine` (`loopsim`, trace off, or `tokio`).
fn run_on(engine: &str, w: Workload, args: &Args) -> Result<()> {
    match engine {
        "loopsim" => {
            let sim = Sim::builder()
                .model(args.model)
                .trace(false)
                .seed(1)
                .build();
            let run = w.run(&sim);
            if !run.is_completed() {
                bail!("workload {} did not complete: {:?}", w.name(), run.outcome);
            }
            Ok(())
        }
        "tokio" => tokio_run(w),
        other => Err(UsageError(format!(
            "--one: unknown engine `{other}` (loopsim or tokio)"
        ))
        .into()),
    }
}

#[cfg(feature = "compare-tokio")]
fn tokio_run(w: Workload) -> Result<()> {
    tokio::run(w);
    Ok(())
}

#[cfg(not(feature = "compare-tokio"))]
fn tokio_run(_: Workload) -> Result<()> {
    Err(UsageError(
        "this loopsim was built without tokio; build it with \
         `cargo run --release --features compare-tokio -- bench --compare tokio`"
            .to_string(),
    )
    .into())
}
