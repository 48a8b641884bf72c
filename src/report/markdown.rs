//! The Markdown gallery: a page per scenario (timeline, claims, and per
//! variant the step-by-step sequence, Mermaid diagram and trace files) and
//! an index showing every timeline.

use super::ScenarioReport;
use crate::render::{Mermaid, Renderer, SequenceText};
use crate::scenario::verify::describe;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The files of one scenario's folder, by path relative to the gallery:
/// `NAME/timeline.svg`, `NAME/README.md`, and per variant
/// `NAME/V.sequence.txt`, `NAME/V.mmd`, `NAME/V.trace.jsonl`.
pub fn scenario_files(r: &ScenarioReport) -> BTreeMap<String, Vec<u8>> {
    let dir = &r.name;
    let mut out = BTreeMap::new();
    for run in &r.runs {
        let (v, t) = (&run.variant, &run.trace);
        out.insert(
            format!("{dir}/{v}.sequence.txt"),
            SequenceText { detail: false }.render(t),
        );
        out.insert(format!("{dir}/{v}.mmd"), Mermaid::default().render(t));
        out.insert(format!("{dir}/{v}.trace.jsonl"), t.to_jsonl());
    }
    out.insert(format!("{dir}/timeline.svg"), r.timeline_svg());
    out.insert(format!("{dir}/README.md"), page(r).into_bytes());
    out
}

/// The scenario's page.
pub fn page(r: &ScenarioReport) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {} — {}\n", r.name, r.title);
    if let Some(src) = &r.source {
        let _ = writeln!(md, "Source: {src}\n");
    }
    if let Some(d) = &r.description {
        let _ = writeln!(md, "{}\n", d.trim());
    }
    let _ = writeln!(
        md,
        "Replay: `loopsim run sim-scenarios/{}`\n",
        file_name(&r.file)
    );
    let _ = writeln!(md, "![timeline](timeline.svg)\n");
    let _ = writeln!(md, "## Claims\n");
    for v in &r.verdicts {
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
    for run in &r.runs {
        let (v, t) = (&run.variant, &run.trace);
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
    md
}

/// The gallery's index (`README.md`): every scenario's timeline and its
/// first claims.
pub fn index(reports: &[ScenarioReport]) -> String {
    let mut index = String::new();
    let _ = writeln!(index, "# loopsim gallery\n");
    let _ = writeln!(
        index,
        "Every scenario of `sim-scenarios/`, replayed on loopsim's virtual clock. Regenerate with \
         `cargo run --release -- report --html` (each scenario also has an interactive `report.html`; start at `index.html`); CI fails when this gallery is out of date.\n"
    );
    let _ = writeln!(
        index,
        "Legend: each timeline has a lane for the event loop (busy, idle, blocked by a blocking call) and one per task; colours say what a task waits on, arrows show who woke whom, small labels are printed lines.\n"
    );
    for r in reports {
        index_entry(&mut index, r);
    }
    index
}

fn index_entry(index: &mut String, r: &ScenarioReport) {
    let dir = &r.name;
    let failed = r.failures().count();
    let passed = r.verdicts.len() - failed;
    let _ = writeln!(index, "## [{}]({dir}/README.md) — {}\n", r.name, r.title);
    if let Some(src) = &r.source {
        let _ = writeln!(index, "Source: {src}\n");
    }
    let _ = writeln!(index, "![{} timeline]({dir}/timeline.svg)\n", r.name);
    let _ = writeln!(index, "Claims: {passed} of {} hold.\n", r.verdicts.len());
    for v in r.verdicts.iter().take(8) {
        let mark = if v.verdict.holds { "✅" } else { "❌" };
        let _ = writeln!(
            index,
            "- {mark} [{}] {}",
            v.variant,
            describe(&v.claim.kind)
        );
    }
    if r.verdicts.len() > 8 {
        let _ = writeln!(
            index,
            "- … and {} more in [the scenario's page]({dir}/README.md)",
            r.verdicts.len() - 8
        );
    }
    let _ = writeln!(index);
}

fn file_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string())
}
