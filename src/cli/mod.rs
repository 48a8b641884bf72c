//! Argument parsing and dispatch to the subcommands.

mod bench;
mod check;
mod common;
mod output;
mod report;
mod run;

use clap::{Parser, Subcommand};

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
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay one scenario: its output with virtual times, a summary, every claim's verdict.
    Run(run::Args),
    /// Check every claim of every scenario (default: sim-scenarios/). Exit 1 if any fails.
    Check(check::Args),
    /// Write the gallery: timelines, sequence diagrams, Mermaid and traces of every scenario.
    Report(report::Args),
    /// Measure the engine on the standard workloads (wall time, steps/s, events/s).
    Bench(bench::Args),
}

/// Parses the arguments, runs the subcommand, returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::run(args),
        Command::Report(args) => report::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
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
