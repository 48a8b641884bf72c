//! Reports: one model of what a scenario's replay showed — its runs'
//! traces and its claims' verdicts — and thin formats over it. The
//! Markdown gallery (`loopsim report`) is [`markdown`]; the interactive HTML
//! page and index (`loopsim report --html`, `loopsim run --html`) are
//! [`html`].
//!
//! A [`ScenarioReport`] is pure data once built: formats read it and never
//! run anything, so every format of one report shows the same runs.

mod diff;
pub mod html;
pub mod markdown;

pub use diff::output_diff;

use crate::render::{Panel, Timeline};
use crate::scenario::verify::{ClaimVerdict, check_scenario};
use crate::scenario::{ClaimKind, Scenario, run_variant};
use crate::trace::Trace;

/// What one scenario's replay showed.
#[derive(Clone, Debug)]
pub struct ScenarioReport {
    /// The scenario's name (its gallery folder).
    pub name: String,
    /// Its title.
    pub title: String,
    /// Where its claims come from, if it says.
    pub source: Option<String>,
    /// Its description, if any.
    pub description: Option<String>,
    /// The file it was read from.
    pub file: String,
    /// Each variant's run on its own seed, in the file's order.
    pub runs: Vec<VariantRun>,
    /// Every claim's verdict.
    pub verdicts: Vec<ClaimVerdict>,
}

/// One variant's run.
#[derive(Clone, Debug)]
pub struct VariantRun {
    /// The variant's name.
    pub variant: String,
    /// Its trace.
    pub trace: Trace,
}

impl ScenarioReport {
    /// Replays every variant of `s` and judges every claim.
    pub fn build(s: &Scenario) -> ScenarioReport {
        let runs = s
            .variants
            .iter()
            .map(|v| VariantRun {
                variant: v.name.clone(),
                trace: run_variant(s, &v.name, None, None, true).run.trace,
            })
            .collect();
        ScenarioReport {
            name: s.name.clone(),
            title: s.title.clone(),
            source: s.source.clone(),
            description: s.description.clone(),
            file: s.file.clone(),
            runs,
            verdicts: check_scenario(s, None, None),
        }
    }

    /// The verdicts that fail.
    pub fn failures(&self) -> impl Iterator<Item = &ClaimVerdict> {
        self.verdicts.iter().filter(|v| !v.verdict.holds)
    }

    /// The timeline of every run, stacked (one panel per variant, titled when
    /// there are several), marked as loopsim's.
    pub fn timeline_svg(&self) -> Vec<u8> {
        let traces: Vec<(String, &Trace)> = self
            .runs
            .iter()
            .map(|r| (r.variant.clone(), &r.trace))
            .collect();
        mark_svg(
            Timeline::default()
                .render_panels(&format!("{} — {}", self.name, self.title), &panels(&traces)),
        )
    }
}

impl ScenarioReport {
    /// The timeline of run `i` alone (on an axis of its own), titled by its
    /// variant.
    pub fn variant_svg(&self, i: usize) -> Vec<u8> {
        let run = &self.runs[i];
        mark_svg(Timeline::default().render_panels(
            &format!("{} — {}", self.name, self.title),
            &[Panel {
                title: run.variant.clone(),
                trace: &run.trace,
            }],
        ))
    }
}

/// The timeline panels of a scenario's runs: titled by variant when there
/// are several.
pub fn panels<'t>(traces: &[(String, &'t Trace)]) -> Vec<Panel<'t>> {
    traces
        .iter()
        .map(|(v, t)| Panel {
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
/// replace a file is decided by the CLI's output rules, never by this mark).
pub fn mark_svg(svg: Vec<u8>) -> Vec<u8> {
    let s = String::from_utf8(svg).expect("SVG is text");
    match s.find("<svg") {
        Some(i) => format!("{}{SVG_MARK}\n{}", &s[..i], &s[i..]).into_bytes(),
        None => s.into_bytes(),
    }
}

const SVG_MARK: &str = "<!-- loopsim timeline -->";

/// The command that replays a run: `loopsim run FILE --variant V --seed S`.
pub fn replay(file: &str, variant: &str, seed: u64, model: Option<&str>) -> String {
    let mut cmd = format!("loopsim run {file} --variant {variant} --seed {seed}");
    if let Some(m) = model {
        cmd.push_str(&format!(" --model {m}"));
    }
    cmd
}

/// A failing claim in words, as `check` and `report` print it:
/// `FAIL  file:line [variant] expected (over n seeds)`, what was observed on
/// which seed, for a claim about the printed output what was printed
/// instead ([`output_diff`]: the failing run is replayed for it), the
/// claim's note if any, and the command that replays it (under `model`,
/// when one was forced).
pub fn failure_text(s: &Scenario, v: &ClaimVerdict, model: Option<&str>) -> String {
    let file = &s.file;
    let seeds = if v.seeds_checked > 1 {
        format!(" over {} seeds", v.seeds_checked)
    } else {
        String::new()
    };
    let mut text = format!(
        "FAIL  {}:{} [{}] {}{seeds}\n      observed (seed {}): {}",
        file, v.claim.line, v.variant, v.verdict.expected, v.seed, v.verdict.observed
    );
    let variant = v.variant.split(" vs ").next().unwrap_or(&v.variant);
    if is_about_output(&v.claim.kind) && s.variant(variant).is_some() {
        let run = run_variant(s, variant, Some(v.seed), Some(v.model), false).run;
        let printed: Vec<&str> = run.output.iter().map(|l| l.text.as_str()).collect();
        if let Some(d) = output_diff(&v.claim.kind, &printed, "      ") {
            text.push('\n');
            text.push_str(&d);
        }
    }
    if let Some(n) = &v.claim.note {
        text.push_str(&format!("\n      note: {n}"));
    }
    text.push_str(&format!(
        "\n      replay: {}",
        replay(file, variant, v.seed, model)
    ));
    text
}

/// Whether a claim is about the printed lines (`output`, `order`, `printed`).
fn is_about_output(kind: &ClaimKind) -> bool {
    matches!(
        kind,
        ClaimKind::Output(_) | ClaimKind::Order(_) | ClaimKind::PrintedAt { .. }
    )
}
