//! The recorder: interns strings and sends each event to a sink — kept in
//! memory (the [`Trace`] a run returns) or written out as it happens, as
//! JSON Lines or in the binary form, so that a long run's trace costs no
//! memory.

use super::{Event, EventKind, Sym, TaskId, Trace, TraceFormat, TraceHeader, binary, jsonl};
use crate::time::Instant;
use std::collections::BTreeMap;
use std::io::Write;

/// A streamed trace is written in blocks of about this many bytes.
const STREAM_BLOCK: usize = 64 * 1024;

/// Where recorded events go.
enum Sink {
    /// Kept, for the run's [`Trace`].
    Memory(Vec<Event>),
    /// Written out as the run goes (the header first) and dropped.
    Stream(Stream),
}

/// A trace being written out in blocks.
struct Stream {
    out: Box<dyn Write>,
    /// The first write error; nothing is written after it.
    error: Option<std::io::Error>,
    form: Form,
}

enum Form {
    /// JSON Lines not written out yet (less than a block), and the line
    /// being written.
    Jsonl(Vec<u8>, jsonl::Scratch),
    /// The binary form: `buf[..pos]` is not written out yet; an event is
    /// encoded straight into the [`binary::ROOM`] bytes after `pos`.
    Binary {
        buf: Box<[u8]>,
        pos: usize,
        enc: binary::Encoder,
    },
}

/// Writes `bytes` unless an earlier write failed; keeps the first error.
fn write_to(out: &mut Box<dyn Write>, error: &mut Option<std::io::Error>, bytes: &[u8]) {
    if error.is_none()
        && let Err(e) = out.write_all(bytes)
    {
        *error = Some(e);
    }
}

impl Stream {
    fn write(&mut self, bytes: &[u8]) {
        write_to(&mut self.out, &mut self.error, bytes);
    }

    /// Appends bytes that are not an event (the header, a string).
    fn put(&mut self, bytes: &[u8]) {
        match &mut self.form {
            Form::Jsonl(block, scratch) => {
                jsonl::flush(block, scratch);
                block.extend_from_slice(bytes);
            }
            Form::Binary { buf, pos, .. } => {
                if *pos + bytes.len() + binary::ROOM > buf.len() {
                    write_to(&mut self.out, &mut self.error, &buf[..*pos]);
                    *pos = 0;
                    if bytes.len() + binary::ROOM > buf.len() {
                        write_to(&mut self.out, &mut self.error, bytes);
                        return;
                    }
                }
                buf[*pos..*pos + bytes.len()].copy_from_slice(bytes);
                *pos += bytes.len();
            }
        }
    }

    #[inline(always)]
    fn event(
        &mut self,
        strings: &[String],
        seq: u64,
        at: Instant,
        iteration: u64,
        task: Option<TaskId>,
        kind: &EventKind,
    ) {
        match &mut self.form {
            Form::Jsonl(block, scratch) => {
                let e = Event {
                    at,
                    iteration,
                    task,
                    kind: *kind,
                };
                jsonl::write_event(block, scratch, strings, seq as usize, &e);
                if scratch.filled().len() >= jsonl::FLUSH_AT || block.len() >= STREAM_BLOCK {
                    // What a long line spilled comes first.
                    if !block.is_empty() {
                        write_to(&mut self.out, &mut self.error, block);
                        block.clear();
                    }
                    write_to(&mut self.out, &mut self.error, scratch.filled());
                    scratch.clear();
                }
            }
            Form::Binary { buf, pos, enc } => {
                let room: &mut [u8; binary::ROOM] = (&mut buf[*pos..*pos + binary::ROOM])
                    .try_into()
                    .expect("ROOM bytes");
                *pos += enc.event(room, at, iteration, task, kind);
                if *pos >= STREAM_BLOCK {
                    write_to(&mut self.out, &mut self.error, &buf[..*pos]);
                    *pos = 0;
                }
            }
        }
    }

    /// Writes what is left (and the binary form's end record); the events
    /// written, or the first error.
    fn finish(mut self, events: u64) -> std::io::Result<u64> {
        let rest = match &mut self.form {
            Form::Jsonl(block, scratch) => {
                jsonl::flush(block, scratch);
                std::mem::take(block)
            }
            Form::Binary { buf, pos, .. } => {
                let mut rest = buf[..*pos].to_vec();
                binary::write_end(&mut rest, events);
                rest
            }
        };
        self.write(&rest);
        match self.error {
            Some(e) => Err(e),
            None => self.out.flush().map(|()| events),
        }
    }
}

/// Strings numbered in the order they are first seen.
pub(super) struct Interner {
    strings: Vec<String>,
    index: BTreeMap<String, u32>,
    /// The symbol last seen for each of a few hashes of strings: a run
    /// interns the same few labels again and again (`sleep`, `fetch()`),
    /// and a hit costs one hash and one comparison, not a walk of the map.
    recent: Box<[u32; RECENT]>,
}

const RECENT: usize = 256;

impl Default for Interner {
    fn default() -> Interner {
        Interner {
            strings: Vec::new(),
            index: BTreeMap::new(),
            recent: Box::new([u32::MAX; RECENT]),
        }
    }
}

/// The slot of the recent-symbol cache for `s`: a hash of its length and
/// of its first and last eight bytes (two loads and one multiplication,
/// where a hash of every byte is a chain of as many). A collision only
/// sends the lookup on to the index.
fn recent_slot(s: &[u8]) -> usize {
    fn word(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    }
    let n = s.len();
    let (head, tail) = match s.split_first_chunk::<8>() {
        Some((head, _)) => (
            u64::from_le_bytes(*head),
            u64::from_le_bytes(*s.last_chunk::<8>().expect("8 bytes or more")).rotate_left(29),
        ),
        None => (word(s), 0),
    };
    let h = (head ^ tail ^ n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize % RECENT
}

impl Interner {
    pub fn intern(&mut self, s: &str) -> Sym {
        let slot = recent_slot(s.as_bytes());
        let cached = self.recent[slot];
        if let Some(c) = self.strings.get(cached as usize)
            && c == s
        {
            return Sym(cached);
        }
        let i = match self.index.get(s) {
            Some(&i) => i,
            None => {
                let i = self.strings.len() as u32;
                self.strings.push(s.to_owned());
                self.index.insert(s.to_owned(), i);
                i
            }
        };
        self.recent[slot] = i;
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
    /// Strings interned by identity (see [`Recorder::intern_shared`]).
    by_identity: IdentityCache,
    sink: Sink,
    count: u64,
}

/// The symbols of strings the loop names again and again (a primitive's
/// kind and name on every wait), found by the string's address instead of
/// its contents: a `&'static str` at the same address and length is the
/// same string; a shared `Rc<str>` is the same while the cache holds it.
#[derive(Default)]
struct IdentityCache {
    statics: [Option<(usize, usize, Sym)>; 8],
    shared: [Option<(std::rc::Rc<str>, Sym)>; 8],
}

/// The cache line of a string at `addr` (direct-mapped, eight lines).
fn identity_line(addr: usize) -> usize {
    ((addr >> 4) ^ (addr >> 10)) & 7
}

impl Recorder {
    /// A recorder that keeps its events in memory.
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            strings: Interner::default(),
            by_identity: IdentityCache::default(),
            sink: Sink::Memory(Vec::new()),
            count: 0,
        }
    }

    /// A recorder that writes `header` and then each event to `out`, in
    /// `format`.
    pub fn streaming(header: &TraceHeader, out: Box<dyn Write>, format: TraceFormat) -> Recorder {
        let mut head = Vec::new();
        let form = match format {
            TraceFormat::Jsonl => {
                head.extend_from_slice(jsonl::header_line(header).as_bytes());
                Form::Jsonl(
                    Vec::with_capacity(STREAM_BLOCK + 4096),
                    jsonl::Scratch::default(),
                )
            }
            TraceFormat::Binary => {
                binary::write_header(&mut head, header);
                Form::Binary {
                    buf: vec![0; STREAM_BLOCK + binary::ROOM].into_boxed_slice(),
                    pos: 0,
                    enc: binary::Encoder::default(),
                }
            }
        };
        let mut stream = Stream {
            out,
            error: None,
            form,
        };
        stream.put(&head);
        Recorder {
            enabled: true,
            strings: Interner::default(),
            by_identity: IdentityCache::default(),
            sink: Sink::Stream(stream),
            count: 0,
        }
    }

    /// [`intern`](Self::intern) for a string with a static address (a
    /// primitive's kind, a future's fixed label): by address first.
    pub fn intern_static(&mut self, s: &'static str) -> Sym {
        let addr = s.as_ptr() as usize;
        let line = identity_line(addr);
        if let Some((a, len, sym)) = self.by_identity.statics[line]
            && a == addr
            && len == s.len()
        {
            return sym;
        }
        let sym = self.intern(s);
        self.by_identity.statics[line] = Some((addr, s.len(), sym));
        sym
    }

    /// [`intern`](Self::intern) for a shared string (a primitive's name):
    /// by identity first. The cache keeps the strings it holds alive, so an
    /// address it knows is never another string's.
    pub fn intern_shared(&mut self, s: &std::rc::Rc<str>) -> Sym {
        let line = identity_line(s.as_ptr() as usize);
        if let Some((held, sym)) = &self.by_identity.shared[line]
            && std::rc::Rc::ptr_eq(held, s)
        {
            return *sym;
        }
        let sym = self.intern(s);
        self.by_identity.shared[line] = Some((s.clone(), sym));
        sym
    }

    pub fn intern(&mut self, s: &str) -> Sym {
        let before = self.strings.strings().len();
        let sym = self.strings.intern(s);
        if let Sink::Stream(stream) = &mut self.sink
            && matches!(stream.form, Form::Binary { .. })
            && sym.0 as usize == before
        {
            // A new string: the binary form defines it before its first use.
            let mut def = Vec::with_capacity(s.len() + 6);
            binary::write_string(&mut def, s);
            stream.put(&def);
        }
        sym
    }

    pub fn str(&self, sym: Sym) -> &str {
        &self.strings.strings()[sym.0 as usize]
    }

    /// Events recorded so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Records an event (given in parts: a stream reads them where they
    /// are).
    #[inline(always)]
    pub fn push(&mut self, at: Instant, iteration: u64, task: Option<TaskId>, kind: &EventKind) {
        let seq = self.count;
        self.count += 1;
        match &mut self.sink {
            Sink::Memory(events) => events.push(Event {
                at,
                iteration,
                task,
                kind: *kind,
            }),
            Sink::Stream(stream) => {
                stream.event(self.strings.strings(), seq, at, iteration, task, kind)
            }
        }
    }

    /// The trace: its events if they were kept, none if they were written
    /// out; and for a written trace, how the writing went.
    pub fn finish(self, header: TraceHeader) -> (Trace, Option<std::io::Result<u64>>) {
        let (events, written) = match self.sink {
            Sink::Memory(events) => (events, None),
            Sink::Stream(stream) => (Vec::new(), Some(stream.finish(self.count))),
        };
        let trace = Trace {
            header,
            strings: self.strings.into_strings(),
            events,
        };
        (trace, written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn strings_interned_by_identity_get_the_symbol_their_contents_get() {
        let mut r = Recorder::new(true);
        let plain = r.intern("Queue");
        assert_eq!(r.intern_static("Queue"), plain);
        assert_eq!(r.intern_static("Queue"), plain, "a cached static");
        let a: Rc<str> = Rc::from("q1");
        let b: Rc<str> = Rc::from("q1");
        let c: Rc<str> = Rc::from("q2");
        let sa = r.intern_shared(&a);
        assert_eq!(r.intern_shared(&a), sa, "a cached shared string");
        assert_eq!(r.intern_shared(&b), sa, "other string, same contents");
        assert_ne!(r.intern_shared(&c), sa);
        assert_eq!(r.str(sa), "q1");
        // Many strings through the eight lines: each still gets its own
        // symbol, the same as by contents.
        let many: Vec<Rc<str>> = (0..100).map(|i| Rc::from(format!("n{i}"))).collect();
        for s in many.iter().chain(many.iter().rev()) {
            let sym = r.intern_shared(s);
            assert_eq!(r.str(sym), &**s);
            assert_eq!(r.intern(s), sym);
        }
        // A string dropped and another made (perhaps at its address): the
        // cache held the first alive, so the second is not taken for it.
        for i in 0..50 {
            let s: Rc<str> = Rc::from(format!("t{i}"));
            let sym = r.intern_shared(&s);
            drop(s);
            let t: Rc<str> = Rc::from(format!("u{i}"));
            assert_ne!(r.intern_shared(&t), sym);
            let again = r.intern_shared(&t);
            assert_eq!(r.str(again), &*t);
        }
    }
}
