//! `loopsim completions SHELL`: the shell's completion script, generated
//! from the command line's own definition by `clap_complete`.

use super::ui::Ui;
use anyhow::Result;
use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell: bash, zsh, fish, powershell, elvish.
    shell: clap_complete::Shell,
}

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    let mut cmd = super::Cli::command();
    // `generate` panics when its writer fails: it writes to a buffer, and
    // the buffer goes through `Ui`, where a closed pipe is an error.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "loopsim", &mut script);
    std::io::Write::write_all(ui, &script)?;
    Ok(super::EXIT_OK)
}
