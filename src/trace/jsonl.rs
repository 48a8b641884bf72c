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
use std::fmt::Write;

pub(super) fn write(trace: &Trace) -> Vec<u8> {
    let mut out = header_line(&trace.header);
    for (seq, e) in trace.events.iter().enumerate() {
        write_event(&mut out, &trace.strings, seq, e);
        out.push('\n');
    }
    out.into_bytes()
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

fn q(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings serialise"));
}

pub(super) fn write_event(out: &mut String, strings: &[String], seq: usize, e: &Event) {
    let trace = Strings(strings);
    let _ = write!(
        out,
        "{{\"seq\":{seq},\"t\":{},\"iter\":{}",
        e.at.as_nanos(),
        e.iteration
    );
    if let Some(t) = e.task {
        let _ = write!(out, ",\"task\":{}", t.0);
    }
    let s = |sym| trace.str(sym);
    match e.kind {
        EventKind::TaskCreated {
            parent,
            name,
            label,
        } => {
            out.push_str(",\"event\":\"task_created\",\"parent\":");
            match parent {
                Some(p) => {
                    let _ = write!(out, "{}", p.0);
                }
                None => out.push_str("null"),
            }
            out.push_str(",\"name\":");
            let task = e.task.unwrap_or(super::TaskId(0));
            q(out, &trace.name_of(task, name));
            if let Some(l) = label {
                out.push_str(",\"label\":");
                q(out, s(l));
            }
        }
        EventKind::StepStarted { cancelling } => {
            let _ = write!(
                out,
                ",\"event\":\"step_started\",\"cancelling\":{cancelling}"
            );
        }
        EventKind::StepEnded { end } => {
            out.push_str(",\"event\":\"step_ended\",\"outcome\":");
            match end {
                StepEnd::Suspended { on } => {
                    out.push_str("\"suspended\"");
                    write_wait(out, &trace, on);
                }
                StepEnd::Returned => out.push_str("\"returned\""),
                StepEnd::Raised { error } => {
                    out.push_str("\"raised\",\"error\":");
                    q(out, s(error));
                }
                StepEnd::Cancelled => out.push_str("\"cancelled\""),
            }
        }
        EventKind::CallbackRun { label, timer } => {
            out.push_str(",\"event\":\"callback_run\",\"label\":");
            q(out, s(label));
            let _ = write!(out, ",\"timer\":{timer}");
        }
        EventKind::Woken { by } => {
            out.push_str(",\"event\":\"woken\"");
            write_actor(out, &trace, by);
        }
        EventKind::CancelRequested { by } => {
            out.push_str(",\"event\":\"cancel_requested\"");
            write_actor(out, &trace, by);
        }
        EventKind::Blocked { nanos } => {
            let _ = write!(out, ",\"event\":\"blocked\",\"nanos\":{nanos}");
        }
        EventKind::ClockAdvanced { from } => {
            let _ = write!(
                out,
                ",\"event\":\"clock_advanced\",\"from\":{}",
                from.as_nanos()
            );
        }
        EventKind::Output { text } => {
            out.push_str(",\"event\":\"output\",\"text\":");
            q(out, s(text));
        }
        EventKind::LoopStopped => out.push_str(",\"event\":\"loop_stopped\""),
        EventKind::SectionEntered { name } => {
            out.push_str(",\"event\":\"section_entered\",\"name\":");
            q(out, s(name));
        }
        EventKind::SectionExited { name } => {
            out.push_str(",\"event\":\"section_exited\",\"name\":");
            q(out, s(name));
        }
        EventKind::Stuck { what, why } => {
            out.push_str(",\"event\":\"stuck\",\"what\":");
            q(out, s(what));
            if let Some(why) = why {
                out.push_str(",\"why\":");
                q(out, s(why));
            }
        }
        EventKind::WaitsFor { other } => {
            let _ = write!(out, ",\"event\":\"waits_for\",\"other\":{}", other.0);
        }
        EventKind::InCycle { next } => {
            let _ = write!(out, ",\"event\":\"in_cycle\",\"next\":{}", next.0);
        }
        EventKind::Io {
            resource,
            id,
            phase,
        } => {
            out.push_str(",\"event\":\"io\",\"resource\":");
            q(out, s(resource));
            let _ = write!(out, ",\"id\":{id},\"phase\":\"{}\"", phase.name());
            match phase {
                IoPhase::Spawning { worker } | IoPhase::Started { worker } => {
                    let _ = write!(out, ",\"worker\":{worker}");
                }
                IoPhase::Failed { error } | IoPhase::Rejected { error } => {
                    out.push_str(",\"error\":");
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
                    out.push_str(",\"from\":");
                    q(out, s(from));
                    out.push_str(",\"to\":");
                    q(out, s(to));
                }
                NetEvent::Sent { forward } | NetEvent::Delivered { forward } => {
                    let _ = write!(out, ",\"forward\":{forward}");
                }
                NetEvent::Partitioned { a, b, hold } => {
                    out.push_str(",\"a\":");
                    q(out, s(a));
                    out.push_str(",\"b\":");
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
                    out.push_str(",\"what\":");
                    q(out, s(what));
                }
                Warning::ExceptionNeverRetrieved { error } => {
                    out.push_str(",\"error\":");
                    q(out, s(error));
                }
                Warning::PendingAtExit => {}
            }
        }
        EventKind::RunEnded { end } => {
            out.push_str(",\"event\":\"run_ended\",\"outcome\":");
            match end {
                RunEnd::Completed => out.push_str("\"completed\""),
                RunEnd::Failed { error } => {
                    out.push_str("\"failed\",\"error\":");
                    q(out, s(error));
                }
                RunEnd::Deadlock => out.push_str("\"deadlock\""),
                RunEnd::LimitExceeded { limit } => {
                    out.push_str("\"limit_exceeded\",\"limit\":");
                    q(out, s(limit));
                }
            }
        }
    }
    out.push('}');
}

fn write_wait(out: &mut String, trace: &Strings<'_>, on: WaitOn) {
    match on {
        WaitOn::Timer { deadline } => {
            let _ = write!(
                out,
                ",\"wait\":\"timer\",\"deadline\":{}",
                deadline.as_nanos()
            );
        }
        WaitOn::Task(t) => {
            let _ = write!(out, ",\"wait\":\"task\",\"on_task\":{}", t.0);
        }
        WaitOn::Future { what } => {
            out.push_str(",\"wait\":\"future\",\"what\":");
            q(out, trace.str(what));
        }
        WaitOn::Primitive { kind, name } => {
            out.push_str(",\"wait\":\"primitive\",\"kind\":");
            q(out, trace.str(kind));
            out.push_str(",\"name\":");
            q(out, trace.str(name));
        }
        WaitOn::Io { what } => {
            out.push_str(",\"wait\":\"io\",\"what\":");
            q(out, trace.str(what));
        }
        WaitOn::Yield => out.push_str(",\"wait\":\"yield\""),
        WaitOn::Foreign => out.push_str(",\"wait\":\"foreign\""),
    }
}

fn write_actor(out: &mut String, trace: &Strings<'_>, by: Actor) {
    match by {
        Actor::Loop => out.push_str(",\"by\":\"loop\""),
        Actor::Task(t) => {
            let _ = write!(out, ",\"by\":\"task\",\"by_task\":{}", t.0);
        }
        Actor::Timer(label) => {
            out.push_str(",\"by\":\"timer\",\"by_label\":");
            q(out, trace.str(label));
        }
        Actor::Callback(label) => {
            out.push_str(",\"by\":\"callback\",\"by_label\":");
            q(out, trace.str(label));
        }
    }
}

/// A JSON Lines trace that cannot be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
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
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        message: "not UTF-8 text".into(),
    })?;
    let mut lines = text.split_terminator('\n');
    let first = lines.next().ok_or_else(|| ReadError {
        line: 1,
        message: "empty: a trace starts with its header line".into(),
    })?;
    let header: TraceHeader = serde_json::from_str(first).map_err(|e| ReadError {
        line: 1,
        message: format!("not a trace header: {e}"),
    })?;
    if header.schema != super::SCHEMA {
        return Err(ReadError {
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
            line,
            message: format!("not JSON: {e}"),
        })?;
        let Some(map) = v.as_object() else {
            return Err(ReadError {
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
