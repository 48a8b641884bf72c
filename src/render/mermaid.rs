//! The sequence diagram as Mermaid (`sequenceDiagram`), which GitHub
//! renders. Long runs are summarised: the first and last steps are kept and
//! the middle is replaced by a note, so the text stays well under Mermaid's
//! size limit; past [`Mermaid::max_lanes`] tasks, the rest share one
//! participant, so a run of fifty tasks stays readable. Text is kept as
//! printed: Mermaid's special characters are written as its entity codes.

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
    /// Task participants drawn at most; the tasks past them (in order of
    /// appearance) share one participant, `+N more tasks`, and its messages
    /// and notes start with the task's name.
    pub max_lanes: usize,
}

impl Default for Mermaid {
    fn default() -> Self {
        Mermaid {
            detail: false,
            max_items: 160,
            max_lanes: 12,
        }
    }
}

/// Text for a Mermaid message, note or name: `;` and `#` (which Mermaid
/// reads as a statement's end and an entity's start) and `<`, `>` (which its
/// HTML sanitiser would eat) written as Mermaid's entity codes (`#59;`,
/// `#35;`, `#60;`, `#62;`), so they render as themselves; newlines as spaces;
/// control characters as their pictures.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in super::visible(s, true).chars() {
        match c {
            ';' => out.push_str("#59;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A long note broken into lines of about 80 characters (`<br/>` after a
/// comma or a space), so the diagram does not grow as wide as the text.
fn wrap(s: String) -> String {
    if s.chars().count() <= 100 {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut line = 0;
    for c in s.chars() {
        out.push(c);
        line += 1;
        if line >= 80 && c == ' ' {
            out.push_str("<br/>");
            line = 0;
        }
    }
    out
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
        // Tasks in order of appearance; past `max_lanes`, folded.
        let mut order: Vec<TaskId> = Vec::new();
        for item in &kept {
            let t = match item {
                Item::ToTask { task, .. } | Item::TaskNote { task, .. } => Some(*task),
                Item::ToLoop { task, .. } => *task,
                Item::LoopNote { .. } => None,
            };
            if let Some(t) = t
                && !order.contains(&t)
            {
                order.push(t);
            }
        }
        let shown = order.len().min(self.max_lanes);
        for t in &order[..shown] {
            // A long name makes a wide column: cut, the whole name is in
            // the messages.
            let name = st.name(*t);
            let name = if name.chars().count() > 32 {
                format!("{}…", name.chars().take(31).collect::<String>())
            } else {
                name.to_string()
            };
            let _ = writeln!(out, "    participant {} as {}", alias(*t), clean(&name));
        }
        let folded = &order[shown..];
        if !folded.is_empty() {
            let _ = writeln!(out, "    participant F as +{} more tasks", folded.len());
        }
        // Who a task is in the diagram, and what its texts start with.
        let who = |t: TaskId| -> (String, String) {
            if folded.contains(&t) {
                ("F".to_string(), format!("{}: ", clean(st.name(t))))
            } else {
                (alias(t), String::new())
            }
        };
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
                    let (to, prefix) = who(*task);
                    let _ = writeln!(out, "    L->>{to}: {num}. {prefix}{} ({at})", clean(text));
                }
                Item::ToLoop {
                    num,
                    at,
                    task,
                    text,
                } => match task {
                    Some(t) => {
                        let (from, prefix) = who(*t);
                        let _ = writeln!(
                            out,
                            "    {from}-->>L: {num}. {prefix}{} ({at})",
                            clean(text)
                        );
                    }
                    None => {
                        let _ = writeln!(out, "    Note over L: {num}. {} ({at})", clean(text));
                    }
                },
                Item::LoopNote { text, .. } => {
                    let _ = writeln!(
                        out,
                        "    Note over L: {}",
                        wrap(clean(text.trim_matches('*').trim()))
                    );
                }
                Item::TaskNote { task, text, .. } => {
                    let (on, prefix) = who(*task);
                    let _ = writeln!(
                        out,
                        "    Note right of {on}: {}",
                        wrap(format!("{prefix}{}", clean(text)))
                    );
                }
            }
        }
        out.into_bytes()
    }

    fn extension(&self) -> &'static str {
        "mmd"
    }
}
