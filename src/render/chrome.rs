//! Chrome trace JSON (the Trace Event Format), which Perfetto
//! (ui.perfetto.dev) and `chrome://tracing` open: one thread track per task
//! plus one for the loop, complete events for steps and waits, instant events
//! for printed lines, and flow arrows for wake-ups. Timestamps are integer
//! microseconds of virtual time.

use super::Renderer;
use super::lanes::{LaneState, lanes};
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
        LaneState::Blocked => "blocked",
        LaneState::Idle => "idle",
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
