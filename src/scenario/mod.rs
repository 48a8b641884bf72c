//! Scenarios: declarative programs in asyncio's vocabulary, with the claims
//! they should satisfy, written as TOML files (see `sim-scenarios/README.md`).
//!
//! A file goes through two stages — raw serde structs that mirror it, then a
//! validated [`Scenario`] — and is run by an interpreter that is a client of
//! the same public API Rust users call ([`run_variant`]).
//!
//! A map of the code: `expr/` is the expression language and `value.rs` the
//! values it computes; `model/` is the validated scenario (its steps in
//! families, its claims); `validate/` reads a file into it, `interp/` runs
//! it, `print/` writes it back ([`print()`]) and [`python`] translates it to
//! asyncio. [`VERBS`] is the table of the format's verbs: to add one, give
//! it a row there, a variant in its family's enum (`model/steps.rs`), and a
//! case in its family's file at each stage (`validate/steps/<family>.rs`,
//! `interp/exec/<family>.rs`, `print/<family>.rs`, `python/<family>.rs`),
//! then document it in `sim-scenarios/README.md` under its family.

pub mod exceptions;
pub mod expr;
mod interp;
pub mod model;
mod print;
pub mod python;
mod validate;
pub mod value;
mod verbs;
pub mod verify;

pub use interp::{ScenarioRun, run_variant};
pub use model::*;
pub use print::print;
pub use validate::parse;
pub use verbs::{Family, VERBS, Verb};

use std::fmt;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and what was expected.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file,
            self.line,
            self.col,
            elide(&self.message)
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {}", elide(h))?;
        }
        Ok(())
    }
}

/// How many problems of one file are printed; the rest are counted.
pub const MAX_DIAGNOSTICS: usize = 20;

/// A message cut to at most about 300 characters: a 5 MB string the user
/// wrote is not echoed back.
fn elide(s: &str) -> std::borrow::Cow<'_, str> {
    const KEEP: usize = 300;
    let n = s.chars().count();
    if n <= KEEP {
        return std::borrow::Cow::Borrowed(s);
    }
    let head: String = s.chars().take(200).collect();
    let tail: String = s.chars().skip(n - 60).collect();
    std::borrow::Cow::Owned(format!("{head}… ({} characters) …{tail}", n - 260))
}

/// Every problem found in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The problems, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().take(MAX_DIAGNOSTICS).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if let Some(more) = self.diagnostics.len().checked_sub(MAX_DIAGNOSTICS)
            && more > 0
        {
            write!(
                f,
                "\n{}: … and {more} more problem{} (fix these first)",
                self.diagnostics[0].file,
                if more == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// The largest scenario file read, in bytes: far beyond any real scenario,
/// small enough that loading stays quick.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// A regular file's bytes, at most [`MAX_FILE_BYTES`]. FIFOs, devices and
/// directories are refused before they are opened (a FIFO would block, a
/// device never end).
fn read_capped(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err(
            "not a regular file (a directory, FIFO or device); name a scenario file".into(),
        );
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "the file is larger than {} MiB; a scenario is a small text file",
            MAX_FILE_BYTES >> 20
        ));
    }
    Ok(bytes)
}

/// Reads and validates a scenario file.
///
/// # Errors
///
/// I/O errors and every validation problem, as diagnostics.
pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let bytes = read_capped(path).map_err(|message| ScenarioError {
        diagnostics: vec![Diagnostic {
            file: file.clone(),
            line: 0,
            col: 0,
            message,
            hint: None,
        }],
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
        let col = 1 + at
            - bytes[..at]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |p| p + 1);
        ScenarioError {
            diagnostics: vec![Diagnostic {
                file: file.clone(),
                line,
                col,
                message: "the file is not UTF-8 text".to_string(),
                hint: Some("save it as UTF-8".to_string()),
            }],
        }
    })?;
    parse(&file, &text)
}
