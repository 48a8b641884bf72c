//! What the subcommands share: loading scenarios, exit codes, replay
//! commands, atomic writes.

use anyhow::{Context, Result, bail};
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
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
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

/// Writes `bytes` to `path` atomically (a temporary file in the same
/// directory, then a rename). Refuses to replace a file that `is_ours` does
/// not recognise as loopsim's own output.
pub fn write_atomic(path: &Path, bytes: &[u8], is_ours: impl Fn(&[u8]) -> bool) -> Result<()> {
    if path.exists() {
        let old = std::fs::read(path)
            .with_context(|| format!("{}: cannot read the existing file", path.display()))?;
        if !is_ours(&old) {
            bail!(
                "{}: exists and was not written by loopsim; refusing to overwrite it (choose another path or remove it)",
                path.display()
            );
        }
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot replace", path.display()))?;
    Ok(())
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

/// Marks an SVG as loopsim's own (so a later run may replace it).
pub fn mark_svg(svg: Vec<u8>) -> Vec<u8> {
    let s = String::from_utf8(svg).expect("SVG is text");
    match s.find("<svg") {
        Some(i) => format!("{}{SVG_MARK}\n{}", &s[..i], &s[i..]).into_bytes(),
        None => s.into_bytes(),
    }
}

const SVG_MARK: &str = "<!-- loopsim timeline -->";

/// True for an SVG written by loopsim.
pub fn is_our_svg(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).contains(SVG_MARK)
}

/// True for a JSON Lines trace written by loopsim.
pub fn is_trace(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\"schema\":\"loopsim-trace/")
}
