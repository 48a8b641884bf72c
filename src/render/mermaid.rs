//! The sequence diagram as Mermaid (`sequenceDiagram`), which GitHub
//! renders. Long runs are summarised: the first and last steps are kept and
//! the middle is replaced by a note, so the text stays well under Mermaid's
//! size limit.

use super::Renderer;
use super::story::{Item, story};
use crate::trace::{TaskId, Trace};
use std::fmt::Write;

/// Renders the story of a run as Mermaid.
#[derive(Clone, Copy, Debug)]
pub struct Mermaid {
    /// Number every handle (as [`SequenceText::detail`](super::SequenceText)).
    pub detail: bool,
    /// Items kept at most (the first three quarters from the start, the rest
    /// from the end).
    pub max_items: usize,
}

impl Default for Mermaid {
    fn default() -> Self {
        Mermaid {
            detail: false,
            max_items: 160,
        }
    }
}

/// Mermaid's text must not contain `;`, `#` or newlines in messages.
fn clean(s: &str) -> String {
    super::visible(s, true)
        .chars()
        .map(|c| match c {
            ';' => ',',
            '#' => '♯',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

fn alias(t: TaskId) -> String {
    format!("T{}", t.0)
}

impl Renderer for Mermaid {
    fn render(&self, trace: &Trace) -> Vec<u8> {
        let st = story(trace, self.detail);
        let mut out = String::new();
        let _ = writeln!(out, "sequenceDiagram");
        let _ = writeln!(out, "    participant L as Event loop");
        // Participants only for tasks that appear in the kept items.
        let n = st.items.len();
        let (head, tail) = if n > self.max_items {
            (
                self.max_items * 3 / 4,
                self.max_items - self.max_items * 3 / 4,
            )
        } else {
            (n, 0)
        };
        let kept: Vec<&Item> = st.items[..head]
            .iter()
            .chain(&st.items[n - tail..])
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for item in &kept {
            let t = match item {
                Item::ToTask { task, .. } | Item::TaskNote { task, .. } => Some(*task),
                Item::ToLoop { task, .. } => *task,
                Item::LoopNote { .. } => None,
            };
            if let Some(t) = t
                && seen.insert(t)
            {
                let _ = writeln!(out, "    participant {} as {}", alias(t), clean(st.name(t)));
            }
        }
        for (i, item) in kept.iter().enumerate() {
            if tail > 0 && i == head {
                let _ = writeln!(
                    out,
                    "    Note over L: … {} steps omitted …",
                    n - head - tail
                );
            }
            match item {
                Item::ToTask {
                    num,
                    at,
                    task,
                    text,
                    ..
                } => {
                    let _ = writeln!(
                        out,
                        "    L->>{}: {num}. {} ({at})",
                        alias(*task),
                        clean(text)
                    );
                }
                Item::ToLoop {
                    num,
                    at,
                    task,
                    text,
                } => match task {
                    Some(t) => {
                        let _ =
                            writeln!(out, "    {}-->>L: {num}. {} ({at})", alias(*t), clean(text));
                    }
                    None => {
                        let _ = writeln!(out, "    Note over L: {num}. {} ({at})", clean(text));
                    }
                },
                Item::LoopNote { text, .. } => {
                    let _ = writeln!(
                        out,
                        "    Note over L: {}",
                        clean(text.trim_matches('*').trim())
                    );
                }
                Item::TaskNote { task, text, .. } => {
                    let _ = writeln!(out, "    Note right of {}: {}", alias(*task), clean(text));
                }
            }
        }
        out.into_bytes()
    }

    fn extension(&self) -> &'static str {
        "mmd"
    }
}
