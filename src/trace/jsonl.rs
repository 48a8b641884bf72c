//! JSON Lines writer for [`Trace`]: a header line, then one object per event
//! with a fixed key order (`seq`, `t`, `iter`, `task`, `event`, then the
//! kind's fields), symbols resolved to strings.

use super::{Actor, Event, EventKind, RunEnd, StepOutcome, Trace, WaitOn};
use std::fmt::Write;

pub(super) fn write(trace: &Trace) -> Vec<u8> {
    let mut out = serde_json::to_string(&trace.header).expect("header serialises");
    out.push('\n');
    for (seq, e) in trace.events.iter().enumerate() {
        write_event(&mut out, trace, seq, e);
        out.push('\n');
    }
    out.into_bytes()
}

fn q(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("strings serialise"));
}

fn write_event(out: &mut String, trace: &Trace, seq: usize, e: &Event) {
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
        EventKind::StepEnded { outcome } => {
            out.push_str(",\"event\":\"step_ended\",\"outcome\":");
            match outcome {
                StepOutcome::Suspended { on } => {
                    out.push_str("\"suspended\"");
                    write_wait(out, trace, on);
                }
                StepOutcome::Returned => out.push_str("\"returned\""),
                StepOutcome::Raised { error } => {
                    out.push_str("\"raised\",\"error\":");
                    q(out, s(error));
                }
                StepOutcome::Cancelled => out.push_str("\"cancelled\""),
            }
        }
        EventKind::CallbackRun { label, timer } => {
            out.push_str(",\"event\":\"callback_run\",\"label\":");
            q(out, s(label));
            let _ = write!(out, ",\"timer\":{timer}");
        }
        EventKind::Woken { by } => {
            out.push_str(",\"event\":\"woken\"");
            write_actor(out, trace, by);
        }
        EventKind::CancelRequested { by } => {
            out.push_str(",\"event\":\"cancel_requested\"");
            write_actor(out, trace, by);
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
        EventKind::RunEnded { outcome } => {
            out.push_str(",\"event\":\"run_ended\",\"outcome\":");
            match outcome {
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

fn write_wait(out: &mut String, trace: &Trace, on: WaitOn) {
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

fn write_actor(out: &mut String, trace: &Trace, by: Actor) {
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
