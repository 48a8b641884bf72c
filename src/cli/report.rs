//! `loopsim report [PATH…] --out reports/`: the gallery. For every scenario a
//! folder with the timeline SVG (all variants stacked), and per variant the
//! sequence diagram, the Mermaid file and the trace; a summary of the claims;
//! and `reports/README.md` showing every timeline; with `--html`, an
//! interactive page per scenario (`NAME/report.html`) and `index.html`. `--check` compares instead
//! of writing and fails when the committed gallery is out of date. `-v`
//! names each file that changes (or, with `--check`, every stale file).

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_USAGE};
use super::output::{OutDir, Protected, UsageError};
use super::ui::{Ui, count};
use anyhow::Result;
use loopsim::report::{ScenarioReport, failure_text, html, markdown};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    limits: common::LimitArgs,
    /// Scenario files or directories (default: sim-scenarios/).
    paths: Vec<PathBuf>,
    /// The gallery's directory.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Compare with the files on disk instead of writing; exit 1 if any differs.
    #[arg(long)]
    check: bool,
    /// Also write an interactive HTML page per scenario (`NAME/report.html`:
    /// self-contained, no network) and an HTML index (`index.html`).
    #[arg(long)]
    html: bool,
}

/// The files of the gallery, by path relative to the output directory.
type Files = BTreeMap<String, Vec<u8>>;

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("sim-scenarios")]
    } else {
        args.paths.clone()
    };
    let files = match common::scenario_files(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let protected = Protected::new(&paths, &files);
    let outdir = OutDir::open(&args.out, &protected)?;
    let mut scenarios = Vec::new();
    for f in &files {
        match common::load(f, &args.limits) {
            Some(s) => scenarios.push(s),
            None => return Ok(EXIT_USAGE),
        }
    }
    let mut out = Files::new();
    let mut reports = Vec::new();
    let mut failed = 0;
    for s in &scenarios {
        let r = ScenarioReport::build(s);
        for v in r.failures() {
            ui.verdict(&failure_text(s, v, None))?;
            failed += 1;
        }
        out.extend(markdown::scenario_files(&r));
        if args.html {
            out.insert(
                format!("{}/report.html", r.name),
                html::page(&r, true).into_bytes(),
            );
        }
        reports.push(r);
    }
    out.insert("README.md".into(), markdown::index(&reports).into_bytes());
    if args.html {
        out.insert("index.html".into(), html::index(&reports).into_bytes());
    }
    if args.check {
        return check(&args.out, &out, args.html, ui);
    }
    let mut names = std::collections::BTreeSet::new();
    for s in &scenarios {
        if !names.insert(&s.name) {
            return Err(UsageError(format!(
                "{}: another scenario is also named `{}`; their gallery folders would collide (rename one)",
                s.file, s.name
            ))
            .into());
        }
    }
    for rel in out.keys() {
        outdir.check_writable(rel)?;
    }
    let changed = stale(&args.out, &out);
    outdir.write_all(&out)?;
    if ui.verbose() {
        for rel in &changed {
            writeln!(ui, "  wrote {}", args.out.join(rel).display())?;
        }
    }
    writeln!(
        ui,
        "{} for {} written to {} ({} changed)",
        count(out.len() as u64, "file"),
        count(scenarios.len() as u64, "scenario"),
        args.out.display(),
        changed.len()
    )?;
    Ok(if failed > 0 {
        EXIT_CLAIM_FAILED
    } else {
        EXIT_OK
    })
}

/// The files of `files` that differ from those in `dir`, or are missing.
fn stale(dir: &Path, files: &Files) -> Vec<String> {
    files
        .iter()
        .filter(|(rel, bytes)| {
            std::fs::read(dir.join(rel)).ok().as_deref() != Some(bytes.as_slice())
        })
        .map(|(rel, _)| rel.clone())
        .collect()
}

fn check(dir: &Path, files: &Files, html: bool, ui: &mut Ui) -> Result<i32> {
    let stale = stale(dir, files);
    if stale.is_empty() {
        writeln!(
            ui,
            "the gallery in {} is up to date ({})",
            dir.display(),
            count(files.len() as u64, "file")
        )?;
        return Ok(EXIT_OK);
    }
    let n = stale.len();
    writeln!(
        ui,
        "the gallery in {} is out of date: {} {} or {} missing:",
        dir.display(),
        count(n as u64, "file"),
        if n == 1 { "differs" } else { "differ" },
        if n == 1 { "is" } else { "are" }
    )?;
    let shown = if ui.verbose() { n } else { 20 };
    for s in stale.iter().take(shown) {
        writeln!(ui, "  {s}")?;
    }
    if n > shown {
        writeln!(ui, "  … and {} more (all of them with -v)", n - shown)?;
    }
    writeln!(
        ui,
        "regenerate it with: loopsim report{} --out {}",
        if html { " --html" } else { "" },
        dir.display()
    )?;
    Ok(EXIT_CLAIM_FAILED)
}
