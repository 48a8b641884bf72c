//! The terminal side of every subcommand: one writer for stdout, colour
//! for verdicts, and how much to say.
//!
//! - **Every byte for stdout goes through [`Ui`]**, which implements
//!   [`std::io::Write`] and returns errors instead of panicking as `println!`
//!   does. A reader that goes away (`loopsim check | head -1`) is a
//!   `BrokenPipe` error, which `cli::main` turns into a quiet exit 0.
//! - **Colour** paints the verdict words (`ok` green, `FAIL` red, `warning`
//!   yellow) only when stdout is a terminal and `NO_COLOR` is unset or
//!   empty (<https://no-color.org>). Nothing else is coloured, so a piped
//!   output is plain text.
//! - **Verbosity** is one of quiet (`-q`: failures and summaries only),
//!   normal, verbose (`-v`: more detail where a subcommand has any); each
//!   subcommand says what it leaves out or adds.

use std::io::{IsTerminal, Write};

/// `-q/--quiet` and `-v/--verbose`, accepted by every subcommand.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct VerbosityArgs {
    /// Print only failures and summaries.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more detail: every claim over seed ranges (run), the seeds
    /// checked (check), each file written (report), every failing seed
    /// (sweep, explore), each repetition (bench).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// How much a subcommand prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Failures and summaries only.
    Quiet,
    /// The default.
    Normal,
    /// More detail.
    Verbose,
}

impl VerbosityArgs {
    /// The level the flags ask for.
    pub fn level(self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// The colour of a verdict word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// A claim holds: green.
    Good,
    /// A claim fails, a run breaks: red.
    Bad,
    /// A health warning: yellow.
    Warn,
}

impl Tone {
    fn ansi(self) -> &'static str {
        match self {
            Tone::Good => "\x1b[32m",
            Tone::Bad => "\x1b[1;31m",
            Tone::Warn => "\x1b[33m",
        }
    }
}

/// Whether words are coloured (decided once, copied freely).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint(bool);

impl Paint {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn for_stdout() -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Paint(!no_color && std::io::stdout().is_terminal())
    }

    /// `word` in `tone`'s colour, or as it is.
    pub fn word(self, tone: Tone, word: &str) -> String {
        if self.0 {
            format!("{}{word}\x1b[0m", tone.ansi())
        } else {
            word.to_string()
        }
    }

    /// `text` with its leading verdict word (`ok`, `FAIL`, `warning`, after
    /// any indentation) painted; the rest as it is.
    pub fn verdict_line(self, text: &str) -> String {
        let body = text.trim_start();
        let indent = &text[..text.len() - body.len()];
        for (word, tone) in [
            ("ok", Tone::Good),
            ("FAIL", Tone::Bad),
            ("BROKEN", Tone::Bad),
            ("holds", Tone::Good),
            ("warning", Tone::Warn),
        ] {
            if let Some(rest) = body.strip_prefix(word)
                && rest.starts_with([' ', ':'])
            {
                return format!("{indent}{}{rest}", self.word(tone, word));
            }
        }
        text.to_string()
    }
}

/// Stdout, colour and verbosity for one subcommand.
pub struct Ui {
    out: std::io::Stdout,
    /// Whether verdict words are coloured.
    pub paint: Paint,
    /// How much to print.
    pub level: Verbosity,
}

impl Ui {
    /// Stdout, coloured as [`Paint::for_stdout`] decides.
    pub fn new(level: Verbosity) -> Ui {
        Ui {
            out: std::io::stdout(),
            paint: Paint::for_stdout(),
            level,
        }
    }

    /// `-q`: failures and summaries only.
    pub fn quiet(&self) -> bool {
        self.level == Verbosity::Quiet
    }

    /// `-v`: more detail.
    pub fn verbose(&self) -> bool {
        self.level == Verbosity::Verbose
    }

    /// Writes `text` and a newline, its verdict word painted.
    pub fn verdict(&mut self, text: &str) -> std::io::Result<()> {
        let line = self.paint.verdict_line(text);
        writeln!(self.out, "{line}")
    }
}

impl Write for Ui {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.out.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// `n` and `noun`, plural unless `n` is 1: `1 task`, `2 tasks`, `0 tasks`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_singular_for_one_only() {
        assert_eq!(count(1, "task"), "1 task");
        assert_eq!(count(0, "task"), "0 tasks");
        assert_eq!(count(2, "iteration"), "2 iterations");
    }

    #[test]
    fn verdict_words_are_painted_only_when_colour_is_on() {
        let on = Paint(true);
        assert_eq!(
            on.verdict_line("  FAIL  elapsed 3s"),
            "  \x1b[1;31mFAIL\x1b[0m  elapsed 3s"
        );
        assert_eq!(on.verdict_line("ok    x"), "\x1b[32mok\x1b[0m    x");
        assert_eq!(
            on.verdict_line("  warning at 1s: slow"),
            "  \x1b[33mwarning\x1b[0m at 1s: slow"
        );
        // A line that merely starts with the letters is left alone.
        assert_eq!(on.verdict_line("okay then"), "okay then");
        let off = Paint(false);
        assert_eq!(off.verdict_line("  FAIL  elapsed 3s"), "  FAIL  elapsed 3s");
    }
}
