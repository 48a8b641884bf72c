//! What the subcommands share: loading scenarios, exit codes, replay
//! commands, atomic writes.

use loopsim::scenario::{self, Scenario};
use std::path::{Path, PathBuf};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: a claim failed.
pub const EXIT_CLAIM_FAILED: i32 = 1;
/// Exit code: bad input or usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: the simulation itself failed.
pub const EXIT_SIM_FAILED: i32 = 3;

/// Every scenario file under `paths` (directories are searched for `*.toml`,
/// sorted by path), or the error of a path that does not exist.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            collect(p, &mut found)
                .map_err(|e| format!("{}: cannot read the directory: {e}", p.display()))?;
            if found.is_empty() {
                return Err(format!(
                    "{}: no scenario files (*.toml) in this directory",
                    p.display()
                ));
            }
            found.sort();
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// The `*.toml` regular files under `dir`, without recursion (an explicit
/// stack), skipping FIFOs and devices, and entering each directory once even
/// when symlinks lead back to it.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        if !seen.insert(d.canonicalize()?) {
            continue;
        }
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            // Follows links: a link to a directory is walked (once), a
            // dangling link is skipped.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                todo.push(path);
            } else if meta.is_file() && path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// Loads one scenario, printing its diagnostics on failure.
pub fn load(path: &Path) -> Option<Scenario> {
    match scenario::load(path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// The command that replays a run.
pub fn replay(file: &str, variant: &str, seed: u64, model: Option<&str>) -> String {
    let mut cmd = format!("loopsim run {file} --variant {variant} --seed {seed}");
    if let Some(m) = model {
        cmd.push_str(&format!(" --model {m}"));
    }
    cmd
}

/// The timeline panels of a scenario's runs: titled by variant when there
/// are several.
pub fn panels(traces: &[(String, loopsim::Trace)]) -> Vec<loopsim::render::Panel<'_>> {
    traces
        .iter()
        .map(|(v, t)| loopsim::render::Panel {
            title: if traces.len() > 1 {
                v.clone()
            } else {
                String::new()
            },
            trace: t,
        })
        .collect()
}

/// Marks an SVG as loopsim's timeline (a comment; whether loopsim may
/// replace a file is decided by [`super::output`], never by this mark).
pub fn mark_svg(svg: Vec<u8>) -> Vec<u8> {
    let s = String::from_utf8(svg).expect("SVG is text");
    match s.find("<svg") {
        Some(i) => format!("{}{SVG_MARK}\n{}", &s[..i], &s[i..]).into_bytes(),
        None => s.into_bytes(),
    }
}

const SVG_MARK: &str = "<!-- loopsim timeline -->";
