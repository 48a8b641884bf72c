//! Chrome trace JSON (the Trace Event Format), which Perfetto
//! (ui.perfetto.dev) and `chrome://tracing` open: one thread track per task
//! plus one for the loop, complete events for steps and waits, instant events
//! for printed lines, and flow arrows for wake-ups. Timestamps are integer
//! microseconds of virtual time.
//!
//! A run that used services or pools also gets, after the tasks' threads:
//! for each service or pool a thread named after it (its load as complete
//! events, `2 busy, 1 waiting`, and its marks: rejected, failed, withdrawn,
//! abandoned), a counter track of the same load (`db load`), and a thread
//! per server slot or worker (`db · worker 0`) with the jobs it ran (`#3
//! handler-2`, and for CPU-bound work the time on the CPU apart from the
//! time waiting for it). Callers' lanes split their waits into `waiting:
//! I/O queued` and `waiting: I/O served`, and carry their marks.

use super::Renderer;
use super::lanes::{LaneState, Lanes, WorkState, lanes};
use crate::trace::Trace;
use serde_json::{Value, json};

/// Renders a trace as Chrome trace JSON.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChromeTrace;

fn us(t: crate::time::Instant) -> u64 {
    t.as_nanos() / 1000
}

fn state_name(s: &LaneState) -> &'static str {
    match s {
        LaneState::Running => "running",
        LaneState::Ready => "ready",
        LaneState::Timer => "waiting: timer",
        LaneState::Task => "waiting: task",
        LaneState::Future => "waiting: future",
        LaneState::Primitive => "waiting: lock/queue",
        LaneState::Io => "waiting: I/O",
        LaneState::IoQueued => "waiting: I/O queued",
        LaneState::IoServed => "waiting: I/O served",
        LaneState::Blocked => "blocked",
        LaneState::Idle => "idle",
    }
}

fn work_name(s: WorkState) -> &'static str {
    match s {
        WorkState::Starting => "starting a process",
        WorkState::Serving => "serving",
        WorkState::OnCpu => "on the CPU",
        WorkState::WaitingForCpu => "waiting for the CPU",
    }
}

/// The I/O marks on the callers' threads, then the resources' threads and
/// load counters (nothing for a run without I/O).
fn resources(l: &Lanes, ev: &mut Vec<Value>) {
    for lane in &l.tasks {
        for (at, seq, w) in &lane.warnings {
            ev.push(
                json!({"ph": "i", "pid": 1, "tid": lane.task.0, "ts": us(*at), "s": "t",
                "name": format!("warning: {w}"), "cat": "warning", "args": {"event": seq}}),
            );
        }
    }
    for (at, seq, w) in &l.loop_warnings {
        ev.push(
            json!({"ph": "i", "pid": 1, "tid": 0, "ts": us(*at), "s": "t",
            "name": format!("warning: {w}"), "cat": "warning", "args": {"event": seq}}),
        );
    }
    for lane in &l.tasks {
        for m in &lane.io_marks {
            ev.push(
                json!({"ph": "i", "pid": 1, "tid": lane.task.0, "ts": us(m.at), "s": "t",
                "name": m.label(), "cat": "io", "args": {"event": m.seq}}),
            );
        }
    }
    let caller_name = |t: Option<crate::trace::TaskId>| {
        t.and_then(|t| l.tasks.get((t.0 as usize).wrapping_sub(1)))
            .map(|lane| lane.name.clone())
    };
    let mut tid = l.tasks.iter().map(|t| t.task.0).max().unwrap_or(0) + 1;
    for r in &l.resources {
        let own = tid;
        tid += 1;
        ev.push(json!({"ph": "M", "pid": 1, "tid": own, "name": "thread_name", "args": {"name": r.name}}));
        ev.push(json!({"ph": "M", "pid": 1, "tid": own, "name": "thread_sort_index", "args": {"sort_index": own}}));
        let counter = format!("{} load", r.name);
        let mut last_to = None;
        for ld in &r.load {
            if ld.to > ld.from {
                ev.push(json!({"ph": "X", "pid": 1, "tid": own, "ts": us(ld.from), "dur": us(ld.to) - us(ld.from),
                "name": format!("{} busy, {} waiting", ld.busy, ld.waiting), "cat": "load",
                "args": {"busy": ld.busy, "waiting": ld.waiting, "from_event": ld.from_seq, "to_event": ld.to_seq}}));
            }
            if let Some(to) = last_to.filter(|to| *to != ld.from) {
                ev.push(json!({"ph": "C", "pid": 1, "ts": us(to), "name": counter, "args": {"busy": 0, "waiting": 0}}));
            }
            ev.push(
                json!({"ph": "C", "pid": 1, "ts": us(ld.from), "name": counter,
                "args": {"busy": ld.busy, "waiting": ld.waiting}}),
            );
            last_to = Some(ld.to);
        }
        if let Some(to) = last_to {
            ev.push(json!({"ph": "C", "pid": 1, "ts": us(to), "name": counter, "args": {"busy": 0, "waiting": 0}}));
        }
        for m in &r.marks {
            ev.push(json!({"ph": "i", "pid": 1, "tid": own, "ts": us(m.at), "s": "t",
                "name": m.label(), "cat": "io", "args": {"event": m.seq, "caller": caller_name(m.caller)}}));
        }
        for w in &r.workers {
            let wt = tid;
            tid += 1;
            ev.push(
                json!({"ph": "M", "pid": 1, "tid": wt, "name": "thread_name",
                "args": {"name": format!("{} · worker {}", r.name, w.worker)}}),
            );
            ev.push(json!({"ph": "M", "pid": 1, "tid": wt, "name": "thread_sort_index", "args": {"sort_index": wt}}));
            for s in w.spans.iter().filter(|s| s.to > s.from) {
                let caller = caller_name(s.caller);
                let mut name = match &caller {
                    Some(c) => format!("#{} {c}", s.id),
                    None => format!("#{}", s.id),
                };
                if s.state != WorkState::Serving {
                    name = format!("{name}: {}", work_name(s.state));
                }
                if s.abandoned {
                    name.push_str(" (abandoned)");
                }
                ev.push(json!({"ph": "X", "pid": 1, "tid": wt, "ts": us(s.from), "dur": us(s.to) - us(s.from),
                    "name": name, "cat": work_name(s.state),
                    "args": {"job": s.id, "caller": caller, "abandoned": s.abandoned,
                        "from_event": s.from_seq, "to_event": s.to_seq}}));
            }
        }
    }
}

impl Renderer for ChromeTrace {
    fn render(&self, trace: &Trace) -> Vec<u8> {
        let l = lanes(trace);
        let mut ev: Vec<Value> = Vec::new();
        let h = &trace.header;
        ev.push(
            json!({"ph": "M", "pid": 1, "tid": 0, "name": "process_name",
            "args": {"name": format!("loopsim: {} (seed {}, {})", h.label, h.seed, h.model)}}),
        );
        ev.push(json!({"ph": "M", "pid": 1, "tid": 0, "name": "thread_name", "args": {"name": "event loop"}}));
        ev.push(json!({"ph": "M", "pid": 1, "tid": 0, "name": "thread_sort_index", "args": {"sort_index": 0}}));
        let names = trace.task_names();
        for lane in &l.tasks {
            let tid = lane.task.0;
            ev.push(json!({"ph": "M", "pid": 1, "tid": tid, "name": "thread_name",
                "args": {"name": format!("{} ({})", lane.name, names.get(&lane.task).map(String::as_str).unwrap_or(""))}}));
            ev.push(json!({"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}}));
        }
        for s in &l.loop_spans {
            ev.push(json!({"ph": "X", "pid": 1, "tid": 0, "ts": us(s.from), "dur": us(s.to) - us(s.from),
                "name": if s.state == LaneState::Running { format!("step: {}", s.label) } else { state_name(&s.state).to_string() },
                "cat": state_name(&s.state)}));
        }
        for lane in &l.tasks {
            let tid = lane.task.0;
            for s in &lane.spans {
                let name = if s.label.is_empty() {
                    state_name(&s.state).to_string()
                } else {
                    format!("{}: {}", state_name(&s.state), s.label)
                };
                ev.push(json!({"ph": "X", "pid": 1, "tid": tid, "ts": us(s.from), "dur": us(s.to) - us(s.from),
                    "name": name, "cat": state_name(&s.state), "args": {"from_event": s.from_seq, "to_event": s.to_seq}}));
            }
            for (at, seq, text) in &lane.outputs {
                ev.push(json!({"ph": "i", "pid": 1, "tid": tid, "ts": us(*at), "s": "t", "name": text, "cat": "print", "args": {"event": seq}}));
            }
            if let Some((at, _, how)) = lane.ended {
                ev.push(json!({"ph": "i", "pid": 1, "tid": tid, "ts": us(at), "s": "t", "name": how, "cat": "end"}));
            }
        }
        resources(&l, &mut ev);
        for (i, w) in l.wakes.iter().enumerate() {
            let from = w.from.map(|t| t.0).unwrap_or(0);
            ev.push(json!({"ph": "s", "pid": 1, "tid": from, "ts": us(w.at), "id": i + 1, "name": "wake", "cat": "wake"}));
            ev.push(json!({"ph": "f", "pid": 1, "tid": w.to.0, "ts": us(w.at), "id": i + 1, "name": "wake", "cat": "wake", "bp": "e"}));
        }
        let doc = json!({"traceEvents": ev, "displayTimeUnit": "ms",
            "otherData": {"schema": h.schema, "label": h.label, "seed": h.seed, "model": h.model}});
        let mut out = serde_json::to_vec_pretty(&doc).expect("json serialises");
        out.push(b'\n');
        out
    }

    fn extension(&self) -> &'static str {
        "json"
    }
}
