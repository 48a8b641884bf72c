//! `loopsim report [PATH…] --out reports/`: the gallery. For every scenario a
//! folder with the timeline SVG (all variants stacked), and per variant the
//! sequence diagram, the Mermaid file and the trace; a summary of the claims;
//! and `reports/README.md` showing every timeline. `--check` compares instead
//! of writing and fails when the committed gallery is out of date.

use super::common::{self, EXIT_CLAIM_FAILED, EXIT_OK, EXIT_USAGE};
use super::output::{OutDir, Protected, UsageError};
use anyhow::Result;
use loopsim::render::{Mermaid, Renderer, SequenceText, Timeline};
use loopsim::scenario::verify::{check_scenario, describe};
use loopsim::scenario::{Scenario, run_variant};
use std::collections::BTreeMap;
use std::fmt::Write;
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
}

/// The files of the gallery, by path relative to the output directory.
type Files = BTreeMap<String, Vec<u8>>;

pub fn run(args: Args) -> Result<i32> {
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
    let mut index = String::new();
    let _ = writeln!(index, "# loopsim gallery\n");
    let _ = writeln!(
        index,
        "Every scenario of `sim-scenarios/`, replayed on loopsim's virtual clock. Regenerate with \
         `cargo run --release -- report`; CI fails when this gallery is out of date.\n"
    );
    let _ = writeln!(
        index,
        "Legend: each timeline has a lane for the event loop (busy, idle, blocked by a blocking call) and one per task; colours say what a task waits on, arrows show who woke whom, small labels are printed lines.\n"
    );
    let mut failed = 0;
    for s in &scenarios {
        failed += scenario_files_for(s, &mut out, &mut index)?;
    }
    out.insert("README.md".into(), index.into_bytes());
    if args.check {
        return check(&args.out, &out);
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
    outdir.write_all(&out)?;
    println!(
        "{} files for {} scenarios written to {}",
        out.len(),
        scenarios.len(),
        args.out.display()
    );
    Ok(if failed > 0 {
        EXIT_CLAIM_FAILED
    } else {
        EXIT_OK
    })
}

fn check(dir: &Path, files: &Files) -> Result<i32> {
    let mut stale = Vec::new();
    for (rel, bytes) in files {
        if std::fs::read(dir.join(rel)).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(rel.clone());
        }
    }
    if stale.is_empty() {
        println!(
            "the gallery in {} is up to date ({} files)",
            dir.display(),
            files.len()
        );
        return Ok(EXIT_OK);
    }
    println!(
        "the gallery in {} is out of date: {} file(s) differ or are missing:",
        dir.display(),
        stale.len()
    );
    for s in stale.iter().take(20) {
        println!("  {s}");
    }
    println!("regenerate it with: loopsim report --out {}", dir.display());
    Ok(EXIT_CLAIM_FAILED)
}

fn rel_source(s: &Scenario) -> String {
    Path::new(&s.file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| s.file.clone())
}

/// Adds one scenario's files; returns the number of failed claims.
fn scenario_files_for(s: &Scenario, out: &mut Files, index: &mut String) -> Result<usize> {
    let dir = s.name.clone();
    let mut traces = Vec::new();
    for v in &s.variants {
        let r = run_variant(s, &v.name, None, None, true);
        let t = r.run.trace;
        out.insert(
            format!("{dir}/{}.sequence.txt", v.name),
            SequenceText { detail: false }.render(&t),
        );
        out.insert(
            format!("{dir}/{}.mmd", v.name),
            Mermaid::default().render(&t),
        );
        out.insert(format!("{dir}/{}.trace.jsonl", v.name), t.to_jsonl());
        traces.push((v.name.clone(), t));
    }
    let panels = common::panels(&traces);
    let svg = Timeline::default().render_panels(&format!("{} — {}", s.name, s.title), &panels);
    out.insert(format!("{dir}/timeline.svg"), common::mark_svg(svg));

    let verdicts = check_scenario(s, None, None);
    let failed = verdicts.iter().filter(|v| !v.verdict.holds).count();
    for v in verdicts.iter().filter(|v| !v.verdict.holds) {
        let variant = v.variant.split(" vs ").next().unwrap_or(&v.variant);
        println!(
            "FAIL  {}:{} [{}] {}\n      observed (seed {}): {}\n      replay: {}",
            s.file,
            v.claim.line,
            v.variant,
            v.verdict.expected,
            v.seed,
            v.verdict.observed,
            common::replay(&s.file, variant, v.seed, None)
        );
    }
    let mut md = String::new();
    let _ = writeln!(md, "# {} — {}\n", s.name, s.title);
    if let Some(src) = &s.source {
        let _ = writeln!(md, "Source: {src}\n");
    }
    if let Some(d) = &s.description {
        let _ = writeln!(md, "{}\n", d.trim());
    }
    let _ = writeln!(
        md,
        "Replay: `loopsim run sim-scenarios/{}`\n",
        rel_source(s)
    );
    let _ = writeln!(md, "![timeline](timeline.svg)\n");
    let _ = writeln!(md, "## Claims\n");
    for v in &verdicts {
        let mark = if v.verdict.holds { "✅" } else { "❌" };
        let seeds = if v.seeds_checked > 1 {
            format!(" (over {} seeds)", v.seeds_checked)
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "- {mark} [{}] {}{seeds} — observed: {}",
            v.variant,
            describe(&v.claim.kind),
            v.verdict.observed
        );
        if let Some(n) = &v.claim.note {
            let _ = writeln!(md, "  - {n}");
        }
    }
    for (v, t) in &traces {
        let _ = writeln!(md, "\n## Variant `{v}`: the event loop, step by step\n");
        let _ = writeln!(
            md,
            "```text\n{}```\n",
            String::from_utf8_lossy(&SequenceText { detail: false }.render(t))
        );
        let _ = writeln!(
            md,
            "Files: [sequence]({v}.sequence.txt) · [Mermaid]({v}.mmd) · [trace]({v}.trace.jsonl)\n"
        );
        let _ = writeln!(
            md,
            "```mermaid\n{}```",
            String::from_utf8_lossy(&Mermaid::default().render(t))
        );
    }
    out.insert(format!("{dir}/README.md"), md.into_bytes());

    let passed = verdicts.len() - failed;
    let _ = writeln!(index, "## [{}]({dir}/README.md) — {}\n", s.name, s.title);
    if let Some(src) = &s.source {
        let _ = writeln!(index, "Source: {src}\n");
    }
    let _ = writeln!(index, "![{} timeline]({dir}/timeline.svg)\n", s.name);
    let _ = writeln!(index, "Claims: {passed} of {} hold.\n", verdicts.len());
    for v in verdicts.iter().take(8) {
        let mark = if v.verdict.holds { "✅" } else { "❌" };
        let _ = writeln!(
            index,
            "- {mark} [{}] {}",
            v.variant,
            describe(&v.claim.kind)
        );
    }
    if verdicts.len() > 8 {
        let _ = writeln!(
            index,
            "- … and {} more in [the scenario's page]({dir}/README.md)",
            verdicts.len() - 8
        );
    }
    let _ = writeln!(index);
    Ok(failed)
}
