//! `loopsim bench`: the engine's baseline on the standard workloads. `-q`
//! prints the table alone; `-v` adds each repetition's wall time.

use super::ui::Ui;
use anyhow::{Result, bail};
use loopsim::render::{Renderer, Timeline};
use loopsim::workloads::Workload;
use loopsim::{LoopModel, Sim};
use std::io::Write;

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
        Workload::Chat { clients, lines } => Workload::Chat {
            clients: s(clients),
            lines,
        },
    }
}

/// Wall-clock timing of the simulator itself; never reaches a simulated output.
#[allow(clippy::disallowed_methods)]
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}

/// The process's peak resident memory so far (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
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
        for trace in [false, true] {
            let sim = Sim::builder()
                .model(args.model)
                .trace(trace)
                .seed(1)
                .build();
            let mut best = f64::INFINITY;
            let mut last = None;
            let mut times = Vec::new();
            for _ in 0..args.repeat {
                let t0 = wall();
                let run = w.run(&sim);
                let took = t0.elapsed().as_secs_f64();
                best = best.min(took);
                times.push(format!("{:.1}", took * 1e3));
                last = Some(run);
            }
            let run = last.expect("at least one repetition");
            if !run.is_completed() {
                bail!("workload {} did not complete: {:?}", w.name(), run.outcome);
            }
            let events = run.trace.events.len() as u64;
            writeln!(
                ui,
                "{:<32} {:>6} {:>10.1} {:>12} {:>14.0} {:>12} {:>14} {:>10}",
                w.name(),
                if trace { "on" } else { "off" },
                best * 1e3,
                run.stats.steps,
                run.stats.steps as f64 / best,
                events,
                if trace {
                    format!("{:.0}", events as f64 / best)
                } else {
                    "-".to_string()
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
