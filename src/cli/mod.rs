//! Argument parsing and dispatch to the subcommands.

mod bench;
mod check;
mod common;
mod completions;
mod explore;
mod output;
mod report;
mod run;
mod sweep;
mod trace;
mod ui;

use clap::{Parser, Subcommand};
use std::io::Write;

pub use common::{EXIT_OK, EXIT_SIM_FAILED, EXIT_USAGE};

/// loopsim: a deterministic simulator of event loops.
#[derive(Parser, Debug)]
#[command(
    name = "loopsim",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 success · 1 a claim failed · 2 bad input or usage · 3 the simulation \
                  itself failed (deadlock, limit). Scenario format: sim-scenarios/README.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: ui::VerbosityArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay one scenario: its output with virtual times, a summary, every claim's verdict.
    Run(run::Args),
    /// Check every claim of every scenario (default: sim-scenarios/). Exit 1 if any fails.
    Check(check::Args),
    /// Write the gallery: timelines, sequence diagrams, Mermaid and traces of every scenario.
    Report(report::Args),
    /// Explore schedules (random, pct models): the first seed that breaks each claim, and its replay.
    Explore(explore::Args),
    /// Run a scenario over many seeds in parallel: elapsed percentiles, claim pass rates, failing seeds.
    Sweep(sweep::Args),
    /// Read a saved trace (JSON Lines or binary .lstrace): summarise, print, draw or convert it.
    Trace(trace::Args),
    /// Measure the engine on the standard workloads (wall time, steps/s, events/s).
    Bench(bench::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    Completions(completions::Args),
}

/// Parses the arguments, runs the subcommand, returns the exit code.
///
/// A panic is a bug in loopsim: it ends as an "internal error" message with
/// the command to report, exit 3. A reader that goes away (`loopsim check |
/// head -1`) is not an error: the run ends quietly, exit 0. Every write to
/// stdout goes through [`ui::Ui`], which returns the broken pipe as an error
/// instead of panicking.
pub fn main() -> i32 {
    std::panic::set_hook(Box::new(|info| {
        // Printed, if at all, by `main` below: a panic caught inside the
        // simulation (a failing task) is an outcome, not a crash.
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        LAST_PANIC
            .with(|p| *p.borrow_mut() = Some(format!("{}{at}", payload_text(info.payload()))));
    }));
    match std::panic::catch_unwind(run) {
        Ok(code) => code,
        Err(payload) => {
            let text = payload_text(payload.as_ref());
            if text.contains("Broken pipe") {
                return EXIT_OK;
            }
            let detail = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or(text);
            let command: Vec<String> = std::env::args().skip(1).collect();
            eprintln!(
                "internal error: {detail}\nthis is a bug in loopsim; please report it with the command: loopsim {}",
                command.join(" ")
            );
            EXIT_SIM_FAILED
        }
    }
}

thread_local! {
    /// The message and place of the last panic, for the internal-error report.
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let mut ui = ui::Ui::new(cli.verbosity.level());
    let result = match cli.command {
        Command::Run(args) => run::run(args, &mut ui),
        Command::Check(args) => check::run(args, &mut ui),
        Command::Report(args) => report::run(args, &mut ui),
        Command::Sweep(args) => sweep::run(args, &mut ui),
        Command::Explore(args) => explore::run(args, &mut ui),
        Command::Trace(args) => trace::run(args, &mut ui),
        Command::Bench(args) => bench::run(args, &mut ui),
        Command::Completions(args) => completions::run(args, &mut ui),
    }
    .and_then(|code| {
        ui.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<output::UsageError>().is_some() {
                EXIT_USAGE
            } else {
                EXIT_SIM_FAILED
            }
        }
    }
}

/// Whether the error is stdout's reader having gone away.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
