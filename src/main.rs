//! The `loopsim` command line: thin `main`, one file per subcommand in `cli/`.
//!
//! Exit codes: 0 success; 1 a claim failed; 2 bad input or usage; 3 the
//! simulation itself failed (deadlock, limit, unexpected error).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
