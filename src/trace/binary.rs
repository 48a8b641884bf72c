//! The compact binary form of a [`Trace`] (`.lstrace`): what a long run
//! streams to a file when JSON Lines would cost more than the run.
//!
//! ```text
//! "LSTRACE3"                 magic: the format and its version
//! varint n, n bytes          the header, as the JSON of a JSON Lines trace's first line
//! records, each one of:
//!   0xFF varint n, n bytes   a string: the next symbol (0, 1, 2, … in order)
//!   0xFE varint count        the end: the number of events written
//!   op [Δt Δiter] [task] …   an event: op = kind (0..=18, 29) | 0x40 time or
//!                            iteration moved (two varints follow: the
//!                            nanoseconds and iterations since the last
//!                            event) | 0x80 it has a task (a varint follows:
//!                            the zigzag of its id less the last event's task
//!                            id, or of the id itself if none had one; unless
//!                            | 0x20: the same task as the last event that
//!                            had one); then the kind's fields
//! ```
//!
//! A kind's code is its place in [`EventKind`]'s declaration (so a new
//! kind goes last, or the version changes), but for code 29: a step that
//! starts with no cancellation (`StepStarted` with no field; 30 and 31 are
//! never kinds, so that no op is 0xFE or 0xFF). Its fields follow in
//! declaration order, and a nested enum (`StepEnd`, `WaitOn`, `Actor`,
//! `IoPhase`, `NetEvent`, `Warning`, `RunEnd`) writes its variant's place as
//! one byte before that variant's fields, with two exceptions: an actor
//! (who woke a task, who cancelled it) that is the event's own task is
//! written as place 4, with no id; and a step's end and its wait share one
//! byte (the wait's place 0..=6 if suspended, else 7 + the end's place
//! after `Suspended`). Numbers are unsigned LEB128 varints; an `Option` is
//! 0 for none and the value plus one otherwise; a `bool` is one byte; times
//! inside an event (a deadline, the `from` of a clock jump) are written
//! relative to the event's own time. A string is defined before the first
//! event that uses it, so a streamed trace is read front to back in one
//! pass ([`Reader`]). A trace that lacks the end record was cut short (the
//! run was killed): reading it says so.
//!
//! Version 2 (`LSTRACE2`) is the same with an event's task id written
//! whole and without code 29. Version 1 (`LSTRACE1`, loopsim's first binary
//! form) is version 2 without the 0x20 bit (its kind took six bits),
//! without actor 4, and with a step's end and its wait in a byte each. Both
//! are still read.
//!
//! `from_binary(to_binary(t)) == t` for every trace, symbols included.

use super::{
    Actor, Event, EventKind, IoPhase, NetEvent, ReadError, RunEnd, StepEnd, Sym, TaskId, Trace,
    TraceHeader, WaitOn, Warning,
};
use crate::time::Instant;

/// The first bytes of every binary trace this loopsim writes.
pub const MAGIC: &[u8; 8] = b"LSTRACE3";

/// The first bytes of a trace of the second version (read, not written).
const MAGIC_V2: &[u8; 8] = b"LSTRACE2";

/// The first bytes of a trace of the first version (read, not written).
const MAGIC_V1: &[u8; 8] = b"LSTRACE1";

const OP_STRING: u8 = 0xFF;
const OP_END: u8 = 0xFE;
const MOVED: u8 = 0x40;
const HAS_TASK: u8 = 0x80;
/// With [`HAS_TASK`]: the task of the last event that had one.
const SAME_TASK: u8 = 0x20;
const KIND: u8 = 0x1F;
/// A version 1 op's kind.
const KIND_V1: u8 = 0x3F;
/// The kind code of a step that starts with no cancellation (version 3):
/// the highest a kind can take, since an op of kind 30 or 31 with all three
/// flags would be a record's (0xFE, 0xFF); new kinds take the codes below.
const STEP_STARTED_PLAIN: u8 = 29;
const _: () = assert!(STEP_STARTED_PLAIN | MOVED | HAS_TASK | SAME_TASK < OP_END);

/// A header longer than this is not a header.
const MAX_HEADER: u64 = 1 << 20;

/// The most bytes one event takes (an op, two 10-byte varints, a task and
/// the largest kind's fields: 48).
pub(super) const ROOM: usize = 64;

/// The whole trace in binary form.
pub(super) fn write(trace: &Trace) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + trace.events.len() * 4);
    write_header(&mut out, &trace.header);
    for s in &trace.strings {
        write_string(&mut out, s);
    }
    let mut enc = Encoder::default();
    let mut room = [0u8; ROOM];
    for e in &trace.events {
        let n = enc.event(&mut room, e.at, e.iteration, e.task, &e.kind);
        out.extend_from_slice(&room[..n]);
    }
    write_end(&mut out, trace.events.len() as u64);
    out
}

/// The magic and the header.
pub(super) fn write_header(out: &mut Vec<u8>, header: &TraceHeader) {
    out.extend_from_slice(MAGIC);
    let json = serde_json::to_vec(header).expect("header serialises");
    varint(out, json.len() as u64);
    out.extend_from_slice(&json);
}

/// Defines the next symbol.
pub(super) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(OP_STRING);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The end record.
pub(super) fn write_end(out: &mut Vec<u8>, events: u64) {
    out.push(OP_END);
    varint(out, events);
}

/// A signed difference as an unsigned number, small for small differences
/// either way (0, -1, 1, -2, … as 0, 1, 2, 3, …).
#[inline(always)]
fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

/// [`zigzag`] undone.
fn unzigzag(n: u64) -> i64 {
    (n >> 1) as i64 ^ -((n & 1) as i64)
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Bytes being written into a window of [`ROOM`] bytes: no capacity
/// checks, one bound known at compile time (the hot path of a streamed
/// trace).
struct Cursor<'a> {
    w: &'a mut [u8; ROOM],
    n: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.w[self.n] = b;
        self.n += 1;
    }

    #[inline(always)]
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.byte(n as u8 | 0x80);
            n >>= 7;
        }
        self.byte(n as u8);
    }

    #[inline(always)]
    fn u32(&mut self, n: u32) {
        self.varint(u64::from(n));
    }

    #[inline(always)]
    fn sym(&mut self, s: Sym) {
        self.u32(s.0);
    }

    #[inline(always)]
    fn task(&mut self, t: TaskId) {
        self.u32(t.0);
    }

    #[inline(always)]
    fn opt(&mut self, n: Option<u32>) {
        self.varint(n.map_or(0, |n| u64::from(n) + 1));
    }

    #[inline(always)]
    fn bool(&mut self, b: bool) {
        self.byte(u8::from(b));
    }
}

/// Writes events, each relative to the one before.
#[derive(Default)]
pub(super) struct Encoder {
    at: u64,
    iteration: u64,
    /// The task of the last event that had one.
    task: Option<u32>,
}

impl Encoder {
    /// Writes an event at the start of `w`; returns how many bytes it
    /// took. Takes the event's parts, not an [`Event`]: the fields are read
    /// as they were written (no wide copy of a freshly built event).
    #[inline(always)]
    pub fn event(
        &mut self,
        w: &mut [u8; ROOM],
        at: Instant,
        iteration: u64,
        task: Option<TaskId>,
        kind: &EventKind,
    ) -> usize {
        let mut c = Cursor { w, n: 1 };
        let at = at.as_nanos();
        let mut op = 0;
        if at != self.at || iteration != self.iteration {
            op |= MOVED;
            c.varint(at.wrapping_sub(self.at));
            c.varint(iteration.wrapping_sub(self.iteration));
            self.at = at;
            self.iteration = iteration;
        }
        if let Some(t) = task {
            if self.task == Some(t.0) {
                op |= HAS_TASK | SAME_TASK;
            } else {
                op |= HAS_TASK;
                c.varint(zigzag(i64::from(t.0) - i64::from(self.task.unwrap_or(0))));
                self.task = Some(t.0);
            }
        }
        let code = fields(&mut c, at, task, kind);
        c.w[0] = op | code;
        c.n
    }
}

/// Writes the kind's fields; returns its code.
#[inline(always)]
fn fields(c: &mut Cursor<'_>, at: u64, task: Option<TaskId>, kind: &EventKind) -> u8 {
    match *kind {
        EventKind::TaskCreated {
            parent,
            name,
            label,
        } => {
            c.opt(parent.map(|t| t.0));
            c.opt(name.map(|s| s.0));
            c.opt(label.map(|s| s.0));
            0
        }
        EventKind::StepStarted { cancelling } => {
            if cancelling {
                c.bool(true);
                1
            } else {
                STEP_STARTED_PLAIN
            }
        }
        EventKind::StepEnded { end } => {
            // One byte for the end and, if suspended, the wait: the wait's
            // place (0..=6), or 7 + the end's place after `Suspended`.
            match end {
                StepEnd::Suspended { on } => match on {
                    WaitOn::Timer { deadline } => {
                        c.byte(0);
                        c.varint(deadline.as_nanos().wrapping_sub(at));
                    }
                    WaitOn::Task(t) => {
                        c.byte(1);
                        c.task(t);
                    }
                    WaitOn::Future { what } => {
                        c.byte(2);
                        c.sym(what);
                    }
                    WaitOn::Primitive { kind, name } => {
                        c.byte(3);
                        c.sym(kind);
                        c.sym(name);
                    }
                    WaitOn::Io { what } => {
                        c.byte(4);
                        c.sym(what);
                    }
                    WaitOn::Yield => c.byte(5),
                    WaitOn::Foreign => c.byte(6),
                },
                StepEnd::Returned => c.byte(7),
                StepEnd::Raised { error } => {
                    c.byte(8);
                    c.sym(error);
                }
                StepEnd::Cancelled => c.byte(9),
            }
            2
        }
        EventKind::CallbackRun { label, timer } => {
            c.sym(label);
            c.bool(timer);
            3
        }
        EventKind::Woken { by } => {
            actor(c, by, task);
            4
        }
        EventKind::CancelRequested { by } => {
            actor(c, by, task);
            5
        }
        EventKind::Blocked { nanos } => {
            c.varint(nanos);
            6
        }
        EventKind::ClockAdvanced { from } => {
            c.varint(at.wrapping_sub(from.as_nanos()));
            7
        }
        EventKind::Output { text } => {
            c.sym(text);
            8
        }
        EventKind::LoopStopped => 9,
        EventKind::SectionEntered { name } => {
            c.sym(name);
            10
        }
        EventKind::SectionExited { name } => {
            c.sym(name);
            11
        }
        EventKind::Stuck { what, why } => {
            c.sym(what);
            c.opt(why.map(|s| s.0));
            12
        }
        EventKind::WaitsFor { other } => {
            c.task(other);
            13
        }
        EventKind::InCycle { next } => {
            c.task(next);
            14
        }
        EventKind::Io {
            resource,
            id,
            phase,
        } => {
            c.sym(resource);
            c.u32(id);
            match phase {
                IoPhase::Arrived => c.byte(0),
                IoPhase::Throttled => c.byte(1),
                IoPhase::Queued => c.byte(2),
                IoPhase::Spawning { worker } => {
                    c.byte(3);
                    c.u32(worker);
                }
                IoPhase::Started { worker } => {
                    c.byte(4);
                    c.u32(worker);
                }
                IoPhase::CpuTaken => c.byte(5),
                IoPhase::CpuReleased => c.byte(6),
                IoPhase::Finished => c.byte(7),
                IoPhase::Failed { error } => {
                    c.byte(8);
                    c.sym(error);
                }
                IoPhase::Rejected { error } => {
                    c.byte(9);
                    c.sym(error);
                }
                IoPhase::Withdrawn => c.byte(10),
                IoPhase::Abandoned => c.byte(11),
                IoPhase::Delivered => c.byte(12),
            }
            15
        }
        EventKind::Net { conn, bytes, what } => {
            c.u32(conn);
            c.u32(bytes);
            match what {
                NetEvent::Connecting { from, to } => {
                    c.byte(0);
                    c.sym(from);
                    c.sym(to);
                }
                NetEvent::Connected => c.byte(1),
                NetEvent::Refused => c.byte(2),
                NetEvent::Sent { forward } => {
                    c.byte(3);
                    c.bool(forward);
                }
                NetEvent::Delivered { forward } => {
                    c.byte(4);
                    c.bool(forward);
                }
                NetEvent::Dropped => c.byte(5),
                NetEvent::Closed => c.byte(6),
                NetEvent::Reset => c.byte(7),
                NetEvent::Partitioned { a, b, hold } => {
                    c.byte(8);
                    c.sym(a);
                    c.sym(b);
                    c.bool(hold);
                }
                NetEvent::Healed => c.byte(9),
            }
            16
        }
        EventKind::Warning { warning } => {
            match warning {
                Warning::SlowStep { nanos } => {
                    c.byte(0);
                    c.varint(nanos);
                }
                Warning::NeverAwaited { what } => {
                    c.byte(1);
                    c.sym(what);
                }
                Warning::PendingAtExit => c.byte(2),
                Warning::ExceptionNeverRetrieved { error } => {
                    c.byte(3);
                    c.sym(error);
                }
                Warning::UnhandledAtShutdown { error } => {
                    c.byte(4);
                    c.sym(error);
                }
            }
            17
        }
        EventKind::RunEnded { end } => {
            match end {
                RunEnd::Completed => c.byte(0),
                RunEnd::Failed { error } => {
                    c.byte(1);
                    c.sym(error);
                }
                RunEnd::Deadlock => c.byte(2),
                RunEnd::LimitExceeded { limit } => {
                    c.byte(3);
                    c.sym(limit);
                }
            }
            18
        }
    }
}

#[inline(always)]
fn actor(c: &mut Cursor<'_>, by: Actor, task: Option<TaskId>) {
    match by {
        Actor::Loop => c.byte(0),
        // A task that wakes itself (a bare yield).
        Actor::Task(t) if Some(t) == task => c.byte(4),
        Actor::Task(t) => {
            c.byte(1);
            c.task(t);
        }
        Actor::Timer(s) => {
            c.byte(2);
            c.sym(s);
        }
        Actor::Callback(s) => {
            c.byte(3);
            c.sym(s);
        }
    }
}

/// Whether `bytes` start like a binary trace, of any version (the reader
/// then reads it, or says which versions it reads).
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes.starts_with(b"LSTRACE")
}

/// Reads a whole binary trace.
pub(super) fn read(bytes: &[u8]) -> Result<Trace, ReadError> {
    let mut r = Reader::new(bytes)?;
    let mut events = Vec::new();
    while let Some(e) = r.next_event()? {
        events.push(e);
    }
    let (header, strings) = r.into_parts();
    Ok(Trace {
        header,
        strings,
        events,
    })
}

/// Reads a binary trace one event at a time, in one pass: what a summary
/// of a trace too large to hold needs (only the strings are kept).
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, sleep, trace::{Reader, Trace}};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async { sleep(Duration::from_secs(1)).await });
/// let bytes = run.trace.to_binary();
/// let mut r = Reader::new(&bytes).unwrap();
/// let mut n = 0;
/// while let Some(_event) = r.next_event().unwrap() {
///     n += 1;
/// }
/// assert_eq!(n, run.trace.events.len());
/// assert_eq!(Trace::from_binary(&bytes).unwrap(), run.trace);
/// ```
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    header: TraceHeader,
    strings: Vec<String>,
    at: u64,
    iteration: u64,
    /// The task of the last event that had one.
    task: Option<TaskId>,
    /// The format's version (1, 2 or 3).
    version: u8,
    events: u64,
    ended: bool,
}

impl<'a> Reader<'a> {
    /// Reads the magic and the header.
    ///
    /// # Errors
    ///
    /// Not a binary trace, another version, or a bad header.
    pub fn new(bytes: &'a [u8]) -> Result<Reader<'a>, ReadError> {
        let version = if bytes.starts_with(MAGIC) {
            3
        } else if bytes.starts_with(MAGIC_V2) {
            2
        } else if bytes.starts_with(MAGIC_V1) {
            1
        } else {
            let what = if bytes.starts_with(b"LSTRACE") {
                "a binary trace of another version; this loopsim reads LSTRACE1, LSTRACE2 and LSTRACE3"
            } else {
                "not a binary loopsim trace (it starts with LSTRACE3)"
            };
            return Err(ReadError::at_byte(0, 0, what.to_string()));
        };
        let mut r = Reader {
            bytes,
            pos: MAGIC.len(),
            header: TraceHeader {
                schema: String::new(),
                label: String::new(),
                seed: 0,
                model: String::new(),
                python: None,
            },
            strings: Vec::new(),
            at: 0,
            iteration: 0,
            task: None,
            version,
            events: 0,
            ended: false,
        };
        let n = r.varint()?;
        if n > MAX_HEADER {
            return Err(r.err(format!("a header of {n} bytes (at most {MAX_HEADER})")));
        }
        let json = r.take(n as usize)?;
        r.header = serde_json::from_slice(json).map_err(|e| {
            ReadError::at_byte(1, MAGIC.len() as u64, format!("not a trace header: {e}"))
        })?;
        if r.header.schema != super::SCHEMA {
            return Err(ReadError::at_byte(
                1,
                MAGIC.len() as u64,
                format!(
                    "schema {:?}; this loopsim reads {:?}",
                    r.header.schema,
                    super::SCHEMA
                ),
            ));
        }
        Ok(r)
    }

    /// The header.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// The strings defined so far, indexed by [`Sym`].
    pub fn strings(&self) -> &[String] {
        &self.strings
    }

    /// The header and every string (once the events are read).
    pub fn into_parts(self) -> (TraceHeader, Vec<String>) {
        (self.header, self.strings)
    }

    /// The next event; `None` at the end record.
    ///
    /// # Errors
    ///
    /// A [`ReadError`] naming the event (its index) and byte where the bytes
    /// stop making sense, or saying the trace was cut short.
    pub fn next_event(&mut self) -> Result<Option<Event>, ReadError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let Some(&op) = self.bytes.get(self.pos) else {
                return Err(self.err(format!(
                    "cut short after {} events: no end record (was the run stopped?)",
                    self.events
                )));
            };
            self.pos += 1;
            match op {
                OP_STRING => {
                    let n = self.varint()?;
                    let s = self.take(usize::try_from(n).unwrap_or(usize::MAX))?;
                    let s = std::str::from_utf8(s)
                        .map_err(|_| self.err("a string that is not UTF-8".into()))?;
                    self.strings.push(s.to_owned());
                }
                OP_END => {
                    let n = self.varint()?;
                    if n != self.events {
                        return Err(self.err(format!(
                            "the end record counts {n} events, but {} were read",
                            self.events
                        )));
                    }
                    if self.pos != self.bytes.len() {
                        return Err(self.err("bytes after the end record".into()));
                    }
                    self.ended = true;
                }
                op => {
                    let e = self.event(op)?;
                    self.events += 1;
                    return Ok(Some(e));
                }
            }
        }
    }

    fn err(&self, message: String) -> ReadError {
        ReadError::at_byte(self.events as usize + 1, self.pos as u64, message)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.err(format!(
                "cut short: {n} bytes wanted, {} left",
                self.bytes.len() - self.pos
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, ReadError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, ReadError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7F);
            if shift == 63 && bits > 1 {
                return Err(self.err("a number too large for 64 bits".into()));
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(self.err("a number too large for 64 bits".into()))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ReadError> {
        let n = self.varint()?;
        u32::try_from(n).map_err(|_| self.err(format!("{what} {n} is too large")))
    }

    fn task(&mut self) -> Result<TaskId, ReadError> {
        self.u32("a task id").map(TaskId)
    }

    /// An `Option<u32>`: 0 for none, the value plus one otherwise.
    fn opt_u32(&mut self, what: &str) -> Result<Option<u32>, ReadError> {
        match self.varint()? {
            0 => Ok(None),
            n => u32::try_from(n - 1)
                .map(Some)
                .map_err(|_| self.err(format!("{what} {} is too large", n - 1))),
        }
    }

    /// Symbol `n`, if it was defined.
    fn defined(&self, n: u32) -> Result<Sym, ReadError> {
        if n as usize >= self.strings.len() {
            return Err(self.err(format!(
                "string {n} used before it is defined ({} so far)",
                self.strings.len()
            )));
        }
        Ok(Sym(n))
    }

    fn sym(&mut self) -> Result<Sym, ReadError> {
        let n = self.u32("a string number")?;
        self.defined(n)
    }

    fn opt_sym(&mut self) -> Result<Option<Sym>, ReadError> {
        self.opt_u32("a string number")?
            .map(|n| self.defined(n))
            .transpose()
    }

    fn bool(&mut self) -> Result<bool, ReadError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(self.err(format!("{b} where a true or false was due"))),
        }
    }

    fn tag(&mut self, what: &str, max: u8) -> Result<u8, ReadError> {
        let b = self.byte()?;
        if b > max {
            return Err(self.err(format!("unknown {what} {b}")));
        }
        Ok(b)
    }

    /// A suspended step's wait, by its place in [`WaitOn`] (0..=6).
    fn wait_on(&mut self, place: u8, at: u64) -> Result<WaitOn, ReadError> {
        Ok(match place {
            0 => WaitOn::Timer {
                deadline: Instant::from_nanos(at.wrapping_add(self.varint()?)),
            },
            1 => WaitOn::Task(self.task()?),
            2 => WaitOn::Future { what: self.sym()? },
            3 => WaitOn::Primitive {
                kind: self.sym()?,
                name: self.sym()?,
            },
            4 => WaitOn::Io { what: self.sym()? },
            5 => WaitOn::Yield,
            _ => WaitOn::Foreign,
        })
    }

    fn event(&mut self, op: u8) -> Result<Event, ReadError> {
        if op & MOVED != 0 {
            self.at = self.at.wrapping_add(self.varint()?);
            self.iteration = self.iteration.wrapping_add(self.varint()?);
        }
        let (kind_mask, same) = match self.version {
            1 => (KIND_V1, false),
            _ => (KIND, op & SAME_TASK != 0),
        };
        let task = match (op & HAS_TASK != 0, same) {
            (true, true) => Some(self.task.ok_or_else(|| {
                self.err("the task of the event before, where no event had one".into())
            })?),
            (true, false) => {
                let t = if self.version >= 3 {
                    let d = unzigzag(self.varint()?);
                    let base = i64::from(self.task.map_or(0, |t| t.0));
                    match base.checked_add(d).map(u32::try_from) {
                        Some(Ok(id)) => TaskId(id),
                        _ => {
                            return Err(self.err(format!("a task id {base} {d:+} out of range")));
                        }
                    }
                } else {
                    self.task()?
                };
                self.task = Some(t);
                Some(t)
            }
            (false, true) => {
                return Err(self.err(format!("op {op:#04x}: the same task, and no task")));
            }
            (false, false) => None,
        };
        let at = self.at;
        let kind = match op & kind_mask {
            0 => {
                let parent = self.opt_u32("a task id")?.map(TaskId);
                EventKind::TaskCreated {
                    parent,
                    name: self.opt_sym()?,
                    label: self.opt_sym()?,
                }
            }
            1 => EventKind::StepStarted {
                cancelling: self.bool()?,
            },
            STEP_STARTED_PLAIN if self.version >= 3 => EventKind::StepStarted { cancelling: false },
            2 => EventKind::StepEnded {
                end: if self.version == 1 {
                    match self.tag("step end", 3)? {
                        0 => {
                            let wait = self.tag("wait", 6)?;
                            StepEnd::Suspended {
                                on: self.wait_on(wait, at)?,
                            }
                        }
                        1 => StepEnd::Returned,
                        2 => StepEnd::Raised { error: self.sym()? },
                        _ => StepEnd::Cancelled,
                    }
                } else {
                    match self.tag("step end", 9)? {
                        7 => StepEnd::Returned,
                        8 => StepEnd::Raised { error: self.sym()? },
                        9 => StepEnd::Cancelled,
                        wait => StepEnd::Suspended {
                            on: self.wait_on(wait, at)?,
                        },
                    }
                },
            },
            3 => EventKind::CallbackRun {
                label: self.sym()?,
                timer: self.bool()?,
            },
            4 | 5 => {
                let by = match self.tag("actor", if self.version == 1 { 3 } else { 4 })? {
                    0 => Actor::Loop,
                    1 => Actor::Task(self.task()?),
                    2 => Actor::Timer(self.sym()?),
                    3 => Actor::Callback(self.sym()?),
                    _ => Actor::Task(task.ok_or_else(|| {
                        self.err("an actor that is the event's own task, and no task".into())
                    })?),
                };
                if op & kind_mask == 4 {
                    EventKind::Woken { by }
                } else {
                    EventKind::CancelRequested { by }
                }
            }
            6 => EventKind::Blocked {
                nanos: self.varint()?,
            },
            7 => EventKind::ClockAdvanced {
                from: Instant::from_nanos(at.wrapping_sub(self.varint()?)),
            },
            8 => EventKind::Output { text: self.sym()? },
            9 => EventKind::LoopStopped,
            10 => EventKind::SectionEntered { name: self.sym()? },
            11 => EventKind::SectionExited { name: self.sym()? },
            12 => EventKind::Stuck {
                what: self.sym()?,
                why: self.opt_sym()?,
            },
            13 => EventKind::WaitsFor {
                other: self.task()?,
            },
            14 => EventKind::InCycle { next: self.task()? },
            15 => EventKind::Io {
                resource: self.sym()?,
                id: self.u32("a request number")?,
                phase: match self.tag("I/O phase", 12)? {
                    0 => IoPhase::Arrived,
                    1 => IoPhase::Throttled,
                    2 => IoPhase::Queued,
                    3 => IoPhase::Spawning {
                        worker: self.u32("a worker")?,
                    },
                    4 => IoPhase::Started {
                        worker: self.u32("a worker")?,
                    },
                    5 => IoPhase::CpuTaken,
                    6 => IoPhase::CpuReleased,
                    7 => IoPhase::Finished,
                    8 => IoPhase::Failed { error: self.sym()? },
                    9 => IoPhase::Rejected { error: self.sym()? },
                    10 => IoPhase::Withdrawn,
                    11 => IoPhase::Abandoned,
                    _ => IoPhase::Delivered,
                },
            },
            16 => EventKind::Net {
                conn: self.u32("a connection number")?,
                bytes: self.u32("a byte count")?,
                what: match self.tag("network event", 9)? {
                    0 => NetEvent::Connecting {
                        from: self.sym()?,
                        to: self.sym()?,
                    },
                    1 => NetEvent::Connected,
                    2 => NetEvent::Refused,
                    3 => NetEvent::Sent {
                        forward: self.bool()?,
                    },
                    4 => NetEvent::Delivered {
                        forward: self.bool()?,
                    },
                    5 => NetEvent::Dropped,
                    6 => NetEvent::Closed,
                    7 => NetEvent::Reset,
                    8 => NetEvent::Partitioned {
                        a: self.sym()?,
                        b: self.sym()?,
                        hold: self.bool()?,
                    },
                    _ => NetEvent::Healed,
                },
            },
            17 => EventKind::Warning {
                warning: match self.tag("warning", 4)? {
                    0 => Warning::SlowStep {
                        nanos: self.varint()?,
                    },
                    1 => Warning::NeverAwaited { what: self.sym()? },
                    2 => Warning::PendingAtExit,
                    3 => Warning::ExceptionNeverRetrieved { error: self.sym()? },
                    _ => Warning::UnhandledAtShutdown { error: self.sym()? },
                },
            },
            18 => EventKind::RunEnded {
                end: match self.tag("run end", 3)? {
                    0 => RunEnd::Completed,
                    1 => RunEnd::Failed { error: self.sym()? },
                    2 => RunEnd::Deadlock,
                    _ => RunEnd::LimitExceeded { limit: self.sym()? },
                },
            },
            k => return Err(self.err(format!("unknown event kind {k}"))),
        };
        Ok(Event {
            at: Instant::from_nanos(at),
            iteration: self.iteration,
            task,
            kind,
        })
    }
}
