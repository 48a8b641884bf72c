//! Renderers: each turns a [`Trace`] into bytes in one format. They read
//! only the trace; the command line decides where the bytes go.
//!
//! | renderer | format |
//! |---|---|
//! | [`SequenceText`] | the event loop's sequence diagram as text (`①` … numbered steps) |
//! | [`Mermaid`] | the same diagram as a Mermaid `sequenceDiagram` |
//! | [`ChromeTrace`] | Chrome trace JSON, for Perfetto and `chrome://tracing` |
//! | [`Timeline`] | an SVG timeline: a lane for the loop and one per task |

mod chrome;
mod lanes;
mod mermaid;
mod sequence;
pub mod story;
mod svg;

pub use chrome::ChromeTrace;
pub use lanes::{Lane, LaneState, Lanes, Span, Wake, lanes};
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
