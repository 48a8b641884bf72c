//! The `loopsim` command line: thin `main`, one file per subcommand in `cli/`.
//!
//! Exit codes: 0 success; 1 a claim failed; 2 bad input or usage; 3 the
//! simulation itself failed (deadlock, limit, unexpected error).

mod cli;

fn main() -> std::process::ExitCode {
    // Returning (rather than `process::exit`) lets stdout flush and
    // destructors run; a broken pipe is handled inside `cli::main`.
    std::process::ExitCode::from(u8::try_from(cli::main()).unwrap_or(3))
}
