//! The sequence diagram as text: the event loop's lane on the left, the
//! coroutines on the right, numbered steps — the diagram asyncio tutorials
//! draw by hand, generated from a trace.

use super::Renderer;
use super::story::{Item, Story, story};
use crate::trace::Trace;
use std::fmt::Write;

/// Renders [`story`] as a two-lane text diagram.
#[derive(Clone, Copy, Debug, Default)]
pub struct SequenceText {
    /// Number every handle (done-callbacks, timer callbacks, wake-ups).
    pub detail: bool,
}

/// Where the coroutines' lane starts.
const TASK_COL: usize = 66;

/// `①`…`⑳`, `㉑`…`㊿`, then `(51)`.
pub fn circled(n: u32) -> String {
    match n {
        1..=20 => char::from_u32(0x2460 + n - 1).map(String::from),
        21..=35 => char::from_u32(0x3251 + n - 21).map(String::from),
        36..=50 => char::from_u32(0x32B1 + n - 36).map(String::from),
        _ => None,
    }
    .unwrap_or_else(|| format!("({n})"))
}

fn width(s: &str) -> usize {
    s.chars().count()
}

impl Renderer for SequenceText {
    fn render(&self, trace: &Trace) -> Vec<u8> {
        // Names and printed text may hold control characters: shown, not obeyed.
        super::visible(&render_story(trace, &story(trace, self.detail)), true)
            .into_owned()
            .into_bytes()
    }

    fn extension(&self) -> &'static str {
        "txt"
    }
}

fn render_story(trace: &Trace, st: &Story) -> String {
    let mut out = String::new();
    let h = &trace.header;
    let python = h
        .python
        .as_ref()
        .map(|p| format!(" (Python {p})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} · seed {} · model {}{python}",
        h.label, h.seed, h.model
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>8}  {:<w$}Coroutines",
        "time",
        "Event loop",
        w = TASK_COL - 2
    );
    let blank = format!("{:>8}  │", "");
    let _ = writeln!(out, "{blank}");
    let mut last_time = None;
    let mut time_col = |at: crate::time::Instant| {
        let s = at.to_string();
        if last_time == Some(at) {
            format!("{:>8}", "")
        } else {
            last_time = Some(at);
            format!("{s:>8}")
        }
    };
    for item in &st.items {
        match item {
            Item::ToTask {
                num,
                at,
                text,
                task_text,
                ..
            } => {
                let head = format!("{}  │ ── {} {text} ", time_col(*at), circled(*num));
                let pad = (TASK_COL + 10).saturating_sub(width(&head)).max(3);
                let _ = writeln!(out, "{head}{}▶ {task_text}", "─".repeat(pad));
            }
            Item::ToLoop {
                num,
                at,
                text,
                task,
            } => {
                let head = format!("{}  │ ◀── {} {text}", time_col(*at), circled(*num));
                if task.is_some() {
                    let pad = (TASK_COL + 10).saturating_sub(width(&head) + 1).max(3);
                    let _ = writeln!(out, "{head} {}", "─".repeat(pad));
                } else {
                    let _ = writeln!(out, "{head}");
                }
                let _ = writeln!(out, "{blank}");
            }
            Item::LoopNote { at, text } => {
                let _ = writeln!(out, "{}  │ {text}", time_col(*at));
            }
            Item::TaskNote { at, task, text } => {
                let lead = format!("{}  │", time_col(*at));
                let pad = (TASK_COL + 12).saturating_sub(width(&lead));
                let _ = writeln!(out, "{lead}{}│ {}: {text}", " ".repeat(pad), st.name(*task));
            }
        }
    }
    out
}
