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

/// `--limit KEY=VALUE` and `--python VERSION`, shared by `run`, `check` and
/// `report`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct LimitArgs {
    /// Run every variant under this Python version's asyncio (3.11, 3.12,
    /// 3.13), whatever the scenario says.
    #[arg(long, value_name = "VERSION")]
    pub python: Option<loopsim::PythonVersion>,
    /// Override a limit of every scenario (repeatable): max_time (a duration,
    /// e.g. 1h), max_steps, max_tasks, max_trace_events, max_call_depth,
    /// max_output_lines, max_output_bytes, max_value_len (positive integers).
    /// The same keys as a scenario's [limits].
    #[arg(long = "limit", value_name = "KEY=VALUE", value_parser = parse_limit)]
    pub limits: Vec<(String, String)>,
}

fn parse_limit(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write KEY=VALUE, e.g. max_steps=1000000"))?;
    let (k, v) = (k.trim(), v.trim());
    let mut probe = scenario::Settings::default();
    if k == "max_time" {
        scenario::expr::parse_duration(v).map_err(|e| format!("max_time: {e}"))?;
    } else {
        let slot = probe.count_limit_mut(k).ok_or_else(|| {
            let keys: Vec<&str> = std::iter::once("max_time")
                .chain(scenario::model::COUNT_LIMITS.iter().map(|(k, _)| *k))
                .collect();
            format!("unknown limit `{k}`; the limits are {}", keys.join(", "))
        })?;
        *slot = v
            .replace('_', "")
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{k}: `{v}` is not a positive integer"))?;
        if *slot > scenario::limit_ceiling(k) {
            return Err(format!("{k} is at most {}", scenario::limit_ceiling(k)));
        }
    }
    Ok((k.to_string(), v.to_string()))
}

impl LimitArgs {
    /// Applies the overrides (already checked by the parser).
    pub fn apply(&self, s: &mut Scenario) {
        if let Some(py) = self.python {
            set_python(s, py);
        }
        for (k, v) in &self.limits {
            if k == "max_time" {
                if let Ok(d) = scenario::expr::parse_duration(v) {
                    s.settings.limits.max_time = d;
                }
            } else if let (Some(slot), Ok(n)) =
                (s.settings.count_limit_mut(k), v.replace('_', "").parse())
            {
                *slot = n;
            }
        }
    }
}

/// `s` cut to about `max` characters, the rest counted.
pub fn elide(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… ({} more characters)", n - max)
}

/// Every variant of `s` under Python `py`.
pub fn set_python(s: &mut Scenario, py: loopsim::PythonVersion) {
    s.settings.python = py;
    for v in &mut s.variants {
        v.python = None;
    }
}

/// `--model`: a loop model, or `asyncio-3.11` (the `asyncio` model under a
/// Python version), as a scenario's `model` may say.
#[derive(Clone, Copy, Debug)]
pub struct ModelArg {
    /// The loop model.
    pub model: loopsim::LoopModel,
    /// The Python version, when named.
    pub python: Option<loopsim::PythonVersion>,
}

impl std::str::FromStr for ModelArg {
    type Err = String;
    fn from_str(s: &str) -> Result<ModelArg, String> {
        let (m, py) = match s.split_once('-') {
            Some((m, v)) => (
                m,
                Some(
                    v.parse::<loopsim::PythonVersion>()
                        .map_err(|e| e.to_string())?,
                ),
            ),
            None => (s, None),
        };
        let model: loopsim::LoopModel = m
            .parse()
            .map_err(|e: loopsim::model::UnknownName| e.to_string())?;
        if py.is_some() && model != loopsim::LoopModel::Asyncio {
            return Err(format!(
                "`{s}`: only the asyncio model has a Python version"
            ));
        }
        Ok(ModelArg { model, python: py })
    }
}

impl ModelArg {
    /// The name to replay it with.
    pub fn name(self) -> String {
        match self.python {
            Some(py) => format!("{}-{}", self.model.name(), py.name()),
            None => self.model.name().to_string(),
        }
    }
}

/// What a run that stopped at a limit says: which limit (its key), what
/// exceeded it and where, and how to raise it.
pub fn limit_message(
    s: &Scenario,
    outcome: &loopsim::Outcome<impl Sized>,
    trace: &loopsim::Trace,
) -> Option<String> {
    let loopsim::Outcome::LimitExceeded {
        limit,
        at,
        steps,
        task,
        detail,
    } = outcome
    else {
        return None;
    };
    let key = limit.name();
    let what = match (detail, limit) {
        (Some(d), _) => d.clone(),
        (None, loopsim::LimitKind::Time) => format!(
            "the virtual clock would pass {}",
            loopsim::Instant::from_nanos(
                u64::try_from(s.settings.limits.max_time.as_nanos()).unwrap_or(u64::MAX)
            )
        ),
        (None, _) => format!(
            "more than {} {}",
            s.settings.count_limit(key).unwrap_or(0),
            scenario::model::COUNT_LIMITS
                .iter()
                .find(|(k, _)| *k == key)
                .map_or("", |(_, w)| w)
        ),
    };
    let in_task = task
        .and_then(|t| trace.names_of([t]).remove(&t))
        .map(|n| format!(" in {n}"))
        .unwrap_or_default();
    Some(format!(
        "limit exceeded: `{key}` — {what}{in_task}, at {at} after {steps} steps; raise it with `[limits] {key} = …` in the scenario or `--limit {key}=…`"
    ))
}

/// Loads one scenario, printing its diagnostics on failure.
pub fn load(path: &Path, limits: &LimitArgs) -> Option<Scenario> {
    match scenario::load(path) {
        Ok(mut s) => {
            limits.apply(&mut s);
            Some(s)
        }
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

pub use loopsim::report::{mark_svg, panels, replay};

/// Writes one output file under the rules of [`super::output`].
pub fn write_output(
    path: &Path,
    bytes: &[u8],
    protected: &super::output::Protected,
) -> anyhow::Result<()> {
    let (dir, name) = super::output::OutDir::for_file(path, protected)?;
    dir.write_all([(&name, &bytes.to_vec())])
}

/// The most seeds one process sweeps or explores: their results are kept
/// (a few hundred bytes each); more goes in shards.
pub const MAX_SEEDS_PER_PROCESS: u64 = 10_000_000;

/// A range of seeds, `A..B` (B excluded) or a single seed `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedRange(pub u64, pub u64);

impl std::str::FromStr for SeedRange {
    type Err = String;
    fn from_str(s: &str) -> Result<SeedRange, String> {
        let num = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{t}` is not a seed (a whole number)"))
        };
        let r = match s.split_once("..") {
            Some((a, b)) => SeedRange(num(a)?, num(b)?),
            None => {
                let a = num(s)?;
                SeedRange(a, a.saturating_add(1))
            }
        };
        if r.0 >= r.1 {
            return Err(format!(
                "`{s}` is empty: write A..B with A < B (B excluded)"
            ));
        }
        Ok(r)
    }
}
