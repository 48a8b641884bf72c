//! Renderers: each turns a [`Trace`] into bytes in one format. They read
//! only the trace; the command line decides where the bytes go.
//!
//! | renderer | format |
//! |---|---|
//! | [`SequenceText`] | the event loop's sequence diagram as text (`①` … numbered steps) |
//! | [`Mermaid`] | the same diagram as a Mermaid `sequenceDiagram` |
//! | [`ChromeTrace`] | Chrome trace JSON, for Perfetto and `chrome://tracing` |
//! | [`Timeline`] | an SVG timeline: a lane for the loop, one per task, and one per service or pool ([`ResourceLane`]) |
//! | [`critical_path`] | the chain of waits that set the main task's end (text; highlighted in the timeline) |
//! | [`elapsed_histogram`] | a sweep's elapsed times per variant, as SVG (not a trace renderer) |

mod axis;
mod chrome;
mod critical;
mod histogram;
mod lanes;
mod mermaid;
mod sequence;
pub mod story;
mod svg;

pub use chrome::ChromeTrace;
pub use critical::{CriticalPath, Link, critical_path, critical_path_of};
pub use histogram::elapsed_histogram;
pub use lanes::{
    Deadlock, Flight, IoMark, IoMarkKind, Lane, LaneState, Lanes, Load, Partition, ResourceLane,
    Span, Wake, WorkSpan, WorkState, WorkerRow, lanes,
};
pub use mermaid::Mermaid;
pub use sequence::{SequenceText, circled};
pub use svg::{Axis, Panel, Timeline};

use crate::trace::Trace;

/// Turns a trace into bytes of one format.
pub trait Renderer {
    /// The rendered bytes.
    fn render(&self, trace: &Trace) -> Vec<u8>;
    /// The file extension of the format (`txt`, `mmd`, `json`, `svg`).
    fn extension(&self) -> &'static str;
}

/// `s` with every control character shown as its Unicode control picture
/// (`\u{7}` as `␇`, escape as `␛`), so that printed text and names can
/// reach neither an XML parser (which rejects them) nor a terminal (which
/// obeys them). Newlines are kept when `keep_newlines`.
pub fn visible(s: &str, keep_newlines: bool) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    s.chars()
        .map(|c| match c as u32 {
            _ if !hidden(c) => c,
            u @ 0..0x20 => char::from_u32(0x2400 + u).unwrap_or('\u{fffd}'),
            0x7f => '\u{2421}',
            _ => '\u{fffd}',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_become_pictures() {
        assert_eq!(super::visible("a\u{1b}[31mb\u{7}", false), "a␛[31mb␇");
        assert_eq!(super::visible("x\ny", true), "x\ny");
        assert_eq!(super::visible("x\ny", false), "x␊y");
        assert_eq!(super::visible("\u{85}", false), "\u{fffd}");
    }
}
