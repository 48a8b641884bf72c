//! JSON Lines writer and reader for [`Trace`]: a header line, then one
//! object per event with a fixed key order (`seq`, `t`, `iter`, `task`,
//! `event`, then the kind's fields), symbols resolved to strings. Reading
//! interns the strings again: `write(read(bytes)) == bytes` for every trace
//! loopsim writes.

use super::recorder::Interner;
use super::{
    Actor, Event, EventKind, IoPhase, NetEvent, RunEnd, StepEnd, Sym, TaskId, Trace, TraceHeader,
    WaitOn, Warning,
};
use crate::time::Instant;
use serde_json::{Map, Value};
use std::io::Write;

pub(super) fn write(trace: &Trace) -> Vec<u8> {
    let mut out = header_line(&trace.header).into_bytes();
    let mut scratch = Scratch::default();
    for (seq, e) in trace.events.iter().enumerate() {
        write_event(&mut out, &mut scratch, &trace.strings, seq, e);
        if scratch.n >= FLUSH_AT {
            flush(&mut out, &mut scratch);
        }
    }
    flush(&mut out, &mut scratch);
    out
}

/// Lines being written: they are built here, where each piece is a copy
/// of known length (no capacity check, no call), and go to the output a
/// half-scratch at a time.
pub(super) struct Scratch {
    buf: Box<[u8; SCRATCH]>,
    n: usize,
}

/// The scratch's size.
const SCRATCH: usize = 64 * 1024;

/// Writers move the scratch on once it holds this much (long before a
/// line could not fit).
pub(super) const FLUSH_AT: usize = SCRATCH / 2;

/// Moves what the scratch holds to `out`.
pub(super) fn flush(out: &mut Vec<u8>, scratch: &mut Scratch) {
    out.extend_from_slice(&scratch.buf[..scratch.n]);
    scratch.n = 0;
}

impl Scratch {
    /// The lines written so far (after what was spilled to the output).
    pub fn filled(&self) -> &[u8] {
        &self.buf[..self.n]
    }

    pub fn clear(&mut self) {
        self.n = 0;
    }
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            buf: vec![0; SCRATCH]
                .into_boxed_slice()
                .try_into()
                .expect("SCRATCH bytes"),
            n: 0,
        }
    }
}

/// A line being written to `out` through its scratch.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    s: &'a mut Scratch,
}

impl Line<'_> {
    /// Makes room for `k` bytes (`k <= SCRATCH`).
    #[inline(always)]
    fn room(&mut self, k: usize) {
        if self.s.n + k > SCRATCH {
            self.spill();
        }
    }

    #[cold]
    fn spill(&mut self) {
        flush(self.out, self.s);
    }

    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        if b.len() > SCRATCH {
            self.spill();
            self.out.extend_from_slice(b);
            return;
        }
        self.room(b.len());
        let n = self.s.n;
        self.s.buf[n..n + b.len()].copy_from_slice(b);
        self.s.n = n + b.len();
    }

    #[inline(always)]
    fn push(&mut self, b: u8) {
        self.room(1);
        self.s.buf[self.s.n] = b;
        self.s.n += 1;
    }

    /// The line is done: its object closed and its newline written (it
    /// stays in the scratch: the caller moves the scratch on when it likes).
    #[inline(always)]
    fn end(mut self) {
        self.bytes(b"}\n");
    }

    /// `write!` onto the line (the rare fields that need formatting).
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
        self.spill();
        self.out.write_fmt(args)
    }
}

/// The header line, newline included.
pub(super) fn header_line(header: &TraceHeader) -> String {
    let mut out = serde_json::to_string(header).expect("header serialises");
    out.push('\n');
    out
}

/// Strings by symbol, as the writer resolves them.
struct Strings<'a>(&'a [String]);

impl Strings<'_> {
    fn str(&self, sym: Sym) -> &str {
        &self.0[sym.0 as usize]
    }

    fn name_of(&self, task: TaskId, name: Option<Sym>) -> std::borrow::Cow<'_, str> {
        match name {
            Some(s) => std::borrow::Cow::Borrowed(self.str(s)),
            None => std::borrow::Cow::Owned(format!("Task-{}", task.0)),
        }
    }
}

fn q(out: &mut Line<'_>, s: &str) {
    // Most labels need no escape (the rules are serde_json's: `"`, `\`
    // and control characters).
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        push_str(out, s);
        out.push(b'"');
    } else {
        out.bytes(
            serde_json::to_string(s)
                .expect("strings serialise")
                .as_bytes(),
        );
    }
}

/// Appends `n` in decimal (the hot path of a streamed trace: no
/// formatting machinery).
#[inline(always)]
fn num(out: &mut Line<'_>, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    out.room(20);
    // Digits: from the bit length (log10(2) ≈ 1233 / 4096), corrected by
    // one comparison.
    const POW10: [u64; 20] = {
        let mut p = [1u64; 20];
        let mut i = 1;
        while i < 20 {
            p[i] = p[i - 1] * 10;
            i += 1;
        }
        p
    };
    let bits = 64 - n.leading_zeros() as usize;
    let t = (bits * 1233) >> 12;
    let len = t + usize::from(n >= POW10[t]);
    let start = out.s.n;
    let digits = &mut out.s.buf[start..start + len];
    let mut i = len;
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        digits[..2].copy_from_slice(&PAIRS[d..d + 2]);
    } else {
        digits[0] = b'0' + n as u8;
    }
    out.s.n = start + len;
}

/// Appends `s` (the writer's buffer is bytes, always valid UTF-8).
#[inline(always)]
fn push_str(out: &mut Line<'_>, s: &str) {
    out.bytes(s.as_bytes());
}

/// Writes event number `seq` as one line, its newline included, into the
/// scratch (and, only if the scratch fills up, `out`).
pub(super) fn write_event(
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    strings: &[String],
    seq: usize,
    e: &Event,
) {
    let mut line = Line { out, s: scratch };
    event_fields(&mut line, strings, seq, e);
    line.end();
}

#[inline(always)]
fn event_fields(out: &mut Line<'_>, strings: &[String], seq: usize, e: &Event) {
    let trace = Strings(strings);
    push_str(out, "{\"seq\":");
    num(out, seq as u64);
    push_str(out, ",\"t\":");
    num(out, e.at.as_nanos());
    push_str(out, ",\"iter\":");
    num(out, e.iteration);
    if let Some(t) = e.task {
        push_str(out, ",\"task\":");
        num(out, u64::from(t.0));
    }
    let s = |sym| trace.str(sym);
    match e.kind {
        EventKind::TaskCreated {
            parent,
            name,
            label,
        } => {
            push_str(out, ",\"event\":\"task_created\",\"parent\":");
            match parent {
                Some(p) => {
                    num(out, u64::from(p.0));
                }
                None => push_str(out, "null"),
            }
            push_str(out, ",\"name\":");
            let task = e.task.unwrap_or(super::TaskId(0));
            q(out, &trace.name_of(task, name));
            if let Some(l) = label {
                push_str(out, ",\"label\":");
                q(out, s(l));
            }
        }
        EventKind::StepStarted { cancelling } => {
            push_str(out, ",\"event\":\"step_started\",\"cancelling\":");
            push_str(out, if cancelling { "true" } else { "false" });
        }
        EventKind::StepEnded { end } => {
            push_str(out, ",\"event\":\"step_ended\",\"outcome\":");
            match end {
                StepEnd::Suspended { on } => {
                    push_str(out, "\"suspended\"");
                    write_wait(out, &trace, on);
                }
                StepEnd::Returned => push_str(out, "\"returned\""),
                StepEnd::Raised { error } => {
                    push_str(out, "\"raised\",\"error\":");
                    q(out, s(error));
                }
                StepEnd::Cancelled => push_str(out, "\"cancelled\""),
            }
        }
        EventKind::CallbackRun { label, timer } => {
            push_str(out, ",\"event\":\"callback_run\",\"label\":");
            q(out, s(label));
            push_str(
                out,
                if timer {
                    ",\"timer\":true"
                } else {
                    ",\"timer\":false"
                },
            );
        }
        EventKind::Woken { by } => {
            push_str(out, ",\"event\":\"woken\"");
            write_actor(out, &trace, by);
        }
        EventKind::CancelRequested { by } => {
            push_str(out, ",\"event\":\"cancel_requested\"");
            write_actor(out, &trace, by);
        }
        EventKind::Blocked { nanos } => {
            push_str(out, ",\"event\":\"blocked\",\"nanos\":");
            num(out, nanos);
        }
        EventKind::ClockAdvanced { from } => {
            push_str(out, ",\"event\":\"clock_advanced\",\"from\":");
            num(out, from.as_nanos());
        }
        EventKind::Output { text } => {
            push_str(out, ",\"event\":\"output\",\"text\":");
            q(out, s(text));
        }
        EventKind::LoopStopped => push_str(out, ",\"event\":\"loop_stopped\""),
        EventKind::SectionEntered { name } => {
            push_str(out, ",\"event\":\"section_entered\",\"name\":");
            q(out, s(name));
        }
        EventKind::SectionExited { name } => {
            push_str(out, ",\"event\":\"section_exited\",\"name\":");
            q(out, s(name));
        }
        EventKind::Stuck { what, why } => {
            push_str(out, ",\"event\":\"stuck\",\"what\":");
            q(out, s(what));
            if let Some(why) = why {
                push_str(out, ",\"why\":");
                q(out, s(why));
            }
        }
        EventKind::WaitsFor { other } => {
            push_str(out, ",\"event\":\"waits_for\",\"other\":");
            num(out, u64::from(other.0));
        }
        EventKind::InCycle { next } => {
            push_str(out, ",\"event\":\"in_cycle\",\"next\":");
            num(out, u64::from(next.0));
        }
        EventKind::Io {
            resource,
            id,
            phase,
        } => {
            push_str(out, ",\"event\":\"io\",\"resource\":");
            q(out, s(resource));
            let _ = write!(out, ",\"id\":{id},\"phase\":\"{}\"", phase.name());
            match phase {
                IoPhase::Spawning { worker } | IoPhase::Started { worker } => {
                    let _ = write!(out, ",\"worker\":{worker}");
                }
                IoPhase::Failed { error } | IoPhase::Rejected { error } => {
                    push_str(out, ",\"error\":");
                    q(out, s(error));
                }
                _ => {}
            }
        }
        EventKind::Net { conn, bytes, what } => {
            let _ = write!(
                out,
                ",\"event\":\"net\",\"conn\":{conn},\"bytes\":{bytes},\"what\":\"{}\"",
                what.name()
            );
            match what {
                NetEvent::Connecting { from, to } => {
                    push_str(out, ",\"from\":");
                    q(out, s(from));
                    push_str(out, ",\"to\":");
                    q(out, s(to));
                }
                NetEvent::Sent { forward } | NetEvent::Delivered { forward } => {
                    let _ = write!(out, ",\"forward\":{forward}");
                }
                NetEvent::Partitioned { a, b, hold } => {
                    push_str(out, ",\"a\":");
                    q(out, s(a));
                    push_str(out, ",\"b\":");
                    q(out, s(b));
                    let _ = write!(out, ",\"hold\":{hold}");
                }
                _ => {}
            }
        }
        EventKind::Warning { warning } => {
            let _ = write!(
                out,
                ",\"event\":\"warning\",\"warning\":\"{}\"",
                warning.name()
            );
            match warning {
                Warning::SlowStep { nanos } => {
                    let _ = write!(out, ",\"nanos\":{nanos}");
                }
                Warning::NeverAwaited { what } => {
                    push_str(out, ",\"what\":");
                    q(out, s(what));
                }
                Warning::ExceptionNeverRetrieved { error }
                | Warning::UnhandledAtShutdown { error } => {
                    push_str(out, ",\"error\":");
                    q(out, s(error));
                }
                Warning::PendingAtExit => {}
            }
        }
        EventKind::RunEnded { end } => {
            push_str(out, ",\"event\":\"run_ended\",\"outcome\":");
            match end {
                RunEnd::Completed => push_str(out, "\"completed\""),
                RunEnd::Failed { error } => {
                    push_str(out, "\"failed\",\"error\":");
                    q(out, s(error));
                }
                RunEnd::Deadlock => push_str(out, "\"deadlock\""),
                RunEnd::LimitExceeded { limit } => {
                    push_str(out, "\"limit_exceeded\",\"limit\":");
                    q(out, s(limit));
                }
            }
        }
    }
}

#[inline(always)]
fn write_wait(out: &mut Line<'_>, trace: &Strings<'_>, on: WaitOn) {
    match on {
        WaitOn::Timer { deadline } => {
            push_str(out, ",\"wait\":\"timer\",\"deadline\":");
            num(out, deadline.as_nanos());
        }
        WaitOn::Task(t) => {
            push_str(out, ",\"wait\":\"task\",\"on_task\":");
            num(out, u64::from(t.0));
        }
        WaitOn::Future { what } => {
            push_str(out, ",\"wait\":\"future\",\"what\":");
            q(out, trace.str(what));
        }
        WaitOn::Primitive { kind, name } => {
            push_str(out, ",\"wait\":\"primitive\",\"kind\":");
            q(out, trace.str(kind));
            push_str(out, ",\"name\":");
            q(out, trace.str(name));
        }
        WaitOn::Io { what } => {
            push_str(out, ",\"wait\":\"io\",\"what\":");
            q(out, trace.str(what));
        }
        WaitOn::Yield => push_str(out, ",\"wait\":\"yield\""),
        WaitOn::Foreign => push_str(out, ",\"wait\":\"foreign\""),
    }
}

#[inline(always)]
fn write_actor(out: &mut Line<'_>, trace: &Strings<'_>, by: Actor) {
    match by {
        Actor::Loop => push_str(out, ",\"by\":\"loop\""),
        Actor::Task(t) => {
            push_str(out, ",\"by\":\"task\",\"by_task\":");
            num(out, u64::from(t.0));
        }
        Actor::Timer(label) => {
            push_str(out, ",\"by\":\"timer\",\"by_label\":");
            q(out, trace.str(label));
        }
        Actor::Callback(label) => {
            push_str(out, ",\"by\":\"callback\",\"by_label\":");
            q(out, trace.str(label));
        }
    }
}

/// A trace that cannot be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The 1-based line of a JSON Lines trace; in a binary trace, the
    /// 1-based number of the event being read.
    pub line: usize,
    /// In a binary trace, the byte offset where reading stopped.
    pub byte: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl ReadError {
    pub(super) fn at_byte(event: usize, byte: u64, message: String) -> ReadError {
        ReadError {
            line: event,
            byte: Some(byte),
            message,
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.byte {
            Some(b) => write!(f, "byte {b} (event {}): {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for ReadError {}

/// One event line being read.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    line: usize,
}

impl Fields<'_> {
    fn err(&self, message: String) -> ReadError {
        ReadError {
            byte: None,
            line: self.line,
            message,
        }
    }

    fn get(&self, key: &str) -> Result<&Value, ReadError> {
        self.map
            .get(key)
            .ok_or_else(|| self.err(format!("missing field `{key}`")))
    }

    fn u64(&self, key: &str) -> Result<u64, ReadError> {
        self.get(key)?
            .as_u64()
            .ok_or_else(|| self.err(format!("`{key}` must be a non-negative integer")))
    }

    fn u32(&self, key: &str) -> Result<u32, ReadError> {
        u32::try_from(self.u64(key)?)
            .map_err(|_| self.err(format!("`{key}` is too large for a task id")))
    }

    fn bool(&self, key: &str) -> Result<bool, ReadError> {
        self.get(key)?
            .as_bool()
            .ok_or_else(|| self.err(format!("`{key}` must be true or false")))
    }

    fn str(&self, key: &str) -> Result<&str, ReadError> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| self.err(format!("`{key}` must be a string")))
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>, ReadError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(_) => self.str(key).map(Some),
        }
    }

    fn sym(&self, key: &str, i: &mut Interner) -> Result<Sym, ReadError> {
        Ok(i.intern(self.str(key)?))
    }

    fn unknown(&self, key: &str, value: &str) -> ReadError {
        self.err(format!("unknown `{key}` {value:?}"))
    }
}

/// Reads a JSON Lines trace written by [`Trace::to_jsonl`].
pub(super) fn read(bytes: &[u8]) -> Result<Trace, ReadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ReadError {
        byte: None,
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        message: "not UTF-8 text".into(),
    })?;
    let mut lines = text.split_terminator('\n');
    let first = lines.next().ok_or_else(|| ReadError {
        byte: None,
        line: 1,
        message: "empty: a trace starts with its header line".into(),
    })?;
    let header: TraceHeader = serde_json::from_str(first).map_err(|e| ReadError {
        byte: None,
        line: 1,
        message: format!("not a trace header: {e}"),
    })?;
    if header.schema != super::SCHEMA {
        return Err(ReadError {
            byte: None,
            line: 1,
            message: format!(
                "schema {:?}; this loopsim reads {:?}",
                header.schema,
                super::SCHEMA
            ),
        });
    }
    let mut interner = Interner::default();
    let mut events = Vec::new();
    for (n, l) in lines.enumerate() {
        let line = n + 2;
        let v: Value = serde_json::from_str(l).map_err(|e| ReadError {
            byte: None,
            line,
            message: format!("not JSON: {e}"),
        })?;
        let Some(map) = v.as_object() else {
            return Err(ReadError {
                byte: None,
                line,
                message: "an event must be a JSON object".into(),
            });
        };
        let f = Fields { map, line };
        if f.u64("seq")? != n as u64 {
            return Err(f.err(format!("`seq` must be {n} (events in order, from 0)")));
        }
        events.push(read_event(&f, &mut interner)?);
    }
    Ok(Trace {
        header,
        strings: interner.into_strings(),
        events,
    })
}

fn read_event(f: &Fields<'_>, i: &mut Interner) -> Result<Event, ReadError> {
    let task = match f.map.get("task") {
        None => None,
        Some(_) => Some(TaskId(f.u32("task")?)),
    };
    let event = f.str("event")?;
    let kind = match event {
        "task_created" => {
            let parent = match f.get("parent")? {
                Value::Null => None,
                _ => Some(TaskId(f.u32("parent")?)),
            };
            let name = f.str("name")?;
            // The default name `Task-N` is written, not stored.
            let default = task.is_some_and(|t| name == format!("Task-{}", t.0));
            EventKind::TaskCreated {
                parent,
                name: (!default).then(|| i.intern(name)),
                label: f.opt_str("label")?.map(|l| i.intern(l)),
            }
        }
        "step_started" => EventKind::StepStarted {
            cancelling: f.bool("cancelling")?,
        },
        "step_ended" => EventKind::StepEnded {
            end: match f.str("outcome")? {
                "suspended" => StepEnd::Suspended {
                    on: read_wait(f, i)?,
                },
                "returned" => StepEnd::Returned,
                "raised" => StepEnd::Raised {
                    error: f.sym("error", i)?,
                },
                "cancelled" => StepEnd::Cancelled,
                other => return Err(f.unknown("outcome", other)),
            },
        },
        "callback_run" => EventKind::CallbackRun {
            label: f.sym("label", i)?,
            timer: f.bool("timer")?,
        },
        "woken" => EventKind::Woken {
            by: read_actor(f, i)?,
        },
        "cancel_requested" => EventKind::CancelRequested {
            by: read_actor(f, i)?,
        },
        "blocked" => EventKind::Blocked {
            nanos: f.u64("nanos")?,
        },
        "clock_advanced" => EventKind::ClockAdvanced {
            from: Instant::from_nanos(f.u64("from")?),
        },
        "output" => EventKind::Output {
            text: f.sym("text", i)?,
        },
        "loop_stopped" => EventKind::LoopStopped,
        "section_entered" => EventKind::SectionEntered {
            name: f.sym("name", i)?,
        },
        "section_exited" => EventKind::SectionExited {
            name: f.sym("name", i)?,
        },
        "stuck" => EventKind::Stuck {
            what: f.sym("what", i)?,
            why: f.opt_str("why")?.map(|w| i.intern(w)),
        },
        "waits_for" => EventKind::WaitsFor {
            other: TaskId(f.u32("other")?),
        },
        "in_cycle" => EventKind::InCycle {
            next: TaskId(f.u32("next")?),
        },
        "io" => EventKind::Io {
            resource: f.sym("resource", i)?,
            id: f.u32("id")?,
            phase: match f.str("phase")? {
                "arrived" => IoPhase::Arrived,
                "throttled" => IoPhase::Throttled,
                "queued" => IoPhase::Queued,
                "spawning" => IoPhase::Spawning {
                    worker: f.u32("worker")?,
                },
                "started" => IoPhase::Started {
                    worker: f.u32("worker")?,
                },
                "cpu_taken" => IoPhase::CpuTaken,
                "cpu_released" => IoPhase::CpuReleased,
                "finished" => IoPhase::Finished,
                "failed" => IoPhase::Failed {
                    error: f.sym("error", i)?,
                },
                "rejected" => IoPhase::Rejected {
                    error: f.sym("error", i)?,
                },
                "withdrawn" => IoPhase::Withdrawn,
                "abandoned" => IoPhase::Abandoned,
                "delivered" => IoPhase::Delivered,
                other => return Err(f.unknown("phase", other)),
            },
        },
        "net" => EventKind::Net {
            conn: f.u32("conn")?,
            bytes: f.u32("bytes")?,
            what: match f.str("what")? {
                "connecting" => NetEvent::Connecting {
                    from: f.sym("from", i)?,
                    to: f.sym("to", i)?,
                },
                "connected" => NetEvent::Connected,
                "refused" => NetEvent::Refused,
                "sent" => NetEvent::Sent {
                    forward: f.bool("forward")?,
                },
                "delivered" => NetEvent::Delivered {
                    forward: f.bool("forward")?,
                },
                "dropped" => NetEvent::Dropped,
                "closed" => NetEvent::Closed,
                "reset" => NetEvent::Reset,
                "partitioned" => NetEvent::Partitioned {
                    a: f.sym("a", i)?,
                    b: f.sym("b", i)?,
                    hold: f.bool("hold")?,
                },
                "healed" => NetEvent::Healed,
                other => return Err(f.unknown("what", other)),
            },
        },
        "warning" => EventKind::Warning {
            warning: match f.str("warning")? {
                "slow_step" => Warning::SlowStep {
                    nanos: f.u64("nanos")?,
                },
                "never_awaited" => Warning::NeverAwaited {
                    what: f.sym("what", i)?,
                },
                "pending_at_exit" => Warning::PendingAtExit,
                "exception_never_retrieved" => Warning::ExceptionNeverRetrieved {
                    error: f.sym("error", i)?,
                },
                "unhandled_at_shutdown" => Warning::UnhandledAtShutdown {
                    error: f.sym("error", i)?,
                },
                other => return Err(f.unknown("warning", other)),
            },
        },
        "run_ended" => EventKind::RunEnded {
            end: match f.str("outcome")? {
                "completed" => RunEnd::Completed,
                "failed" => RunEnd::Failed {
                    error: f.sym("error", i)?,
                },
                "deadlock" => RunEnd::Deadlock,
                "limit_exceeded" => RunEnd::LimitExceeded {
                    limit: f.sym("limit", i)?,
                },
                other => return Err(f.unknown("outcome", other)),
            },
        },
        other => return Err(f.unknown("event", other)),
    };
    Ok(Event {
        at: Instant::from_nanos(f.u64("t")?),
        iteration: f.u64("iter")?,
        task,
        kind,
    })
}

fn read_wait(f: &Fields<'_>, i: &mut Interner) -> Result<WaitOn, ReadError> {
    Ok(match f.str("wait")? {
        "timer" => WaitOn::Timer {
            deadline: Instant::from_nanos(f.u64("deadline")?),
        },
        "task" => WaitOn::Task(TaskId(f.u32("on_task")?)),
        "future" => WaitOn::Future {
            what: f.sym("what", i)?,
        },
        "primitive" => WaitOn::Primitive {
            kind: f.sym("kind", i)?,
            name: f.sym("name", i)?,
        },
        "io" => WaitOn::Io {
            what: f.sym("what", i)?,
        },
        "yield" => WaitOn::Yield,
        "foreign" => WaitOn::Foreign,
        other => return Err(f.unknown("wait", other)),
    })
}

fn read_actor(f: &Fields<'_>, i: &mut Interner) -> Result<Actor, ReadError> {
    Ok(match f.str("by")? {
        "loop" => Actor::Loop,
        "task" => Actor::Task(TaskId(f.u32("by_task")?)),
        "timer" => Actor::Timer(f.sym("by_label", i)?),
        "callback" => Actor::Callback(f.sym("by_label", i)?),
        other => return Err(f.unknown("by", other)),
    })
}

#[cfg(test)]
mod num_tests {
    #[test]
    fn num_writes_decimal_like_display() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            123_456_789,
            u64::MAX,
        ]
        .into_iter()
        .chain((0..64).map(|s| 1u64 << s))
        .chain((0..64).map(|s| (1u64 << s) - 1))
        {
            let mut out = b"x".to_vec();
            let mut scratch = super::Scratch::default();
            let mut line = super::Line {
                out: &mut out,
                s: &mut scratch,
            };
            super::num(&mut line, n);
            line.spill();
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }
}
