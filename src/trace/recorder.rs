//! The recorder: interns strings and sends each event to a sink — kept in
//! memory (the [`Trace`] a run returns) or written out as a JSON line as it
//! happens, so that a long run's trace costs no memory.

use super::{Event, Sym, Trace, TraceHeader, jsonl};
use std::collections::BTreeMap;
use std::io::Write;

/// A streamed trace is written in blocks of about this many bytes.
const STREAM_BLOCK: usize = 64 * 1024;

/// Where recorded events go.
enum Sink {
    /// Kept, for the run's [`Trace`].
    Memory(Vec<Event>),
    /// Written as JSON Lines (the header line first) and dropped.
    Jsonl {
        out: Box<dyn Write>,
        /// Lines not written out yet (less than a block).
        block: Vec<u8>,
        error: Option<std::io::Error>,
    },
}

/// Strings numbered in the order they are first seen.
#[derive(Default)]
pub(super) struct Interner {
    strings: Vec<String>,
    index: BTreeMap<String, u32>,
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        if let Some(&i) = self.index.get(s) {
            return Sym(i);
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        Sym(i)
    }

    pub fn strings(&self) -> &[String] {
        &self.strings
    }

    pub fn into_strings(self) -> Vec<String> {
        self.strings
    }
}

/// Interns strings and records events during a run.
pub(crate) struct Recorder {
    pub enabled: bool,
    strings: Interner,
    sink: Sink,
    count: u64,
}

impl Recorder {
    /// A recorder that keeps its events in memory.
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            strings: Interner::default(),
            sink: Sink::Memory(Vec::new()),
            count: 0,
        }
    }

    /// A recorder that writes `header` and then each event to `out`.
    pub fn streaming(header: &TraceHeader, mut out: Box<dyn Write>) -> Recorder {
        let error = out.write_all(jsonl::header_line(header).as_bytes()).err();
        Recorder {
            enabled: true,
            strings: Interner::default(),
            sink: Sink::Jsonl {
                out,
                block: Vec::with_capacity(STREAM_BLOCK + 4096),
                error,
            },
            count: 0,
        }
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        self.strings.intern(s)
    }

    pub fn str(&self, sym: Sym) -> &str {
        &self.strings.strings()[sym.0 as usize]
    }

    /// Events recorded so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Records an event.
    pub fn push(&mut self, e: Event) {
        let seq = self.count;
        self.count += 1;
        match &mut self.sink {
            Sink::Memory(events) => events.push(e),
            Sink::Jsonl { out, block, error } => {
                if error.is_some() {
                    return;
                }
                jsonl::write_event(block, self.strings.strings(), seq as usize, &e);
                block.push(b'\n');
                if block.len() >= STREAM_BLOCK {
                    if let Err(err) = out.write_all(block) {
                        *error = Some(err);
                    }
                    block.clear();
                }
            }
        }
    }

    /// The trace: its events if they were kept, none if they were written
    /// out; and for a written trace, how the writing went.
    pub fn finish(self, header: TraceHeader) -> (Trace, Option<std::io::Result<u64>>) {
        let (events, written) = match self.sink {
            Sink::Memory(events) => (events, None),
            Sink::Jsonl {
                mut out,
                error,
                block,
            } => {
                let r = match error {
                    Some(e) => Err(e),
                    None => out
                        .write_all(&block)
                        .and_then(|()| out.flush())
                        .map(|()| self.count),
                };
                (Vec::new(), Some(r))
            }
        };
        let trace = Trace {
            header,
            strings: self.strings.into_strings(),
            events,
        };
        (trace, written)
    }
}
