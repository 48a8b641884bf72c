//! Argument parsing and dispatch to the subcommands.

mod bench;

use clap::{Parser, Subcommand};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: bad input or usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the simulation itself failed.
pub const EXIT_SIM_FAILED: i32 = 3;

/// loopsim: a deterministic simulator of event loops.
#[derive(Parser, Debug)]
#[command(name = "loopsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_SIM_FAILED
        }
    }
}
