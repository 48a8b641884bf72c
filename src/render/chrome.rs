//! Chrome trace JSON (the Trace Event Format), which Perfetto
//! (ui.perfetto.dev), `chrome://tracing` and speedscope open: one process
//! per run (per variant, when several go in one file), in it one thread
//! track for the loop and one per task, complete events (`X`) for what
//! takes virtual time, instant events (`i`) for what takes none, and flow
//! arrows for wake-ups.
//!
//! The file is built to load cleanly in viewers that check its structure:
//!
//! - **Timestamps are microseconds with nanosecond precision**: a number
//!   with up to three decimals (`1234.567`), whole microseconds without. A
//!   duration is chosen so that start plus duration, added in floating
//!   point as JavaScript viewers do, is exactly the end's timestamp: where
//!   the three-decimal figure would miss it by a rounding step, the figure
//!   carries the correction (`256429.14899999998`); rounded to nanoseconds,
//!   as Perfetto reads it, it is the same ([`Process::settle_durations`]).
//! - **No slice lasts zero time.** Virtual time stands still while a step
//!   runs, so most steps, and the ready and waiting spans between steps of
//!   one instant, take none: they are instant events with the span's name.
//! - **Slices on a thread nest.** Each task's thread has one slice for the
//!   task's life (named after it, from its creation to its end) holding its
//!   states — waiting, ready, a running step that blocked the loop, and the
//!   blocking call inside it; the loop's thread has one slice for the run
//!   holding its steps that take time, the blocking calls inside them, and
//!   idle spans. So that what happens at the last instant is inside them,
//!   these two end one nanosecond after it. Among slices starting together,
//!   the longer comes first, the parent before the child.
//! - **Flow arrows are bound to slices** (`bp: "e"`): a wake-up leaves the
//!   waker's thread (the loop's, for a timer or callback) and reaches the
//!   woken task's at the same instant, each inside the thread's enclosing
//!   slice (at least the run's or the task's life).
//!
//! A run that used services or pools also gets, after the tasks' threads:
//! for each service or pool a thread named after it (its load as complete
//! events, `2 busy, 1 waiting`, and its marks: rejected, failed, withdrawn,
//! abandoned), a counter track of the same load (`db load`), and a thread
//! per server slot or worker (`db · worker 0`) with the jobs it ran (`#3
//! handler-2`, and for CPU-bound work the time on the CPU apart from the
//! time waiting for it). Callers' lanes split their waits into `waiting:
//! I/O queued` and `waiting: I/O served`, and carry their marks.
//!
//! A run that used the simulated network also gets a flow arrow per
//! delivered message (`message`, category `net`): it leaves the writer's
//! thread when the bytes are sent and reaches the reader's thread when they
//! are delivered (the loop's thread, when the reader is unknown or not alive
//! then), bound to the enclosing slices as wake-ups are; and on the loop's
//! thread an instant event where each partition begins (`partition c3 |
//! server`) and where it heals.

use super::Renderer;
use super::lanes::{LaneState, Lanes, Span, WorkState, lanes};
use crate::time::Instant;
use crate::trace::Trace;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Renders a trace as Chrome trace JSON.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChromeTrace;

impl ChromeTrace {
    /// Several runs in one file, one process each (`pid` 1, 2, … in the
    /// order given), named by the variant.
    ///
    /// # Examples
    ///
    /// ```
    /// use loopsim::render::ChromeTrace;
    /// use loopsim::{Sim, sleep};
    /// use std::time::Duration;
    ///
    /// let run = |s| Sim::builder().build().run(async move { sleep(Duration::from_secs(s)).await });
    /// let (a, b) = (run(1), run(2));
    /// let json = ChromeTrace.render_variants(&[("one", &a.trace), ("two", &b.trace)]);
    /// let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    /// let processes = v["traceEvents"]
    ///     .as_array()
    ///     .unwrap()
    ///     .iter()
    ///     .filter(|e| e["name"] == "process_name")
    ///     .count();
    /// assert_eq!(processes, 2);
    /// ```
    pub fn render_variants(&self, runs: &[(&str, &Trace)]) -> Vec<u8> {
        let mut events = Vec::new();
        let mut flows = 0;
        for (i, (variant, trace)) in runs.iter().enumerate() {
            let pid = i as u64 + 1;
            let h = &trace.header;
            let about = format!("loopsim: {} (seed {}, {})", h.label, h.seed, h.model);
            let name = if runs.len() > 1 {
                format!("{variant} — {about}")
            } else {
                about
            };
            events.extend(process(pid, &name, trace, &mut flows));
        }
        // Each process's events in time order (metadata first), parents
        // before their children.
        events.sort_by_key(|e| e.key());
        let other = match runs {
            [(_, t)] => {
                let h = &t.header;
                json!({"schema": h.schema, "label": h.label, "seed": h.seed, "model": h.model})
            }
            _ => json!({
                "schema": runs.first().map(|(_, t)| t.header.schema.clone()),
                "variants": runs.iter().map(|(v, t)| json!({"variant": v, "label": t.header.label,
                    "seed": t.header.seed, "model": t.header.model})).collect::<Vec<_>>(),
            }),
        };
        let doc = json!({
            "traceEvents": events.into_iter().map(|e| e.json).collect::<Vec<_>>(),
            "displayTimeUnit": "ms",
            "otherData": other,
        });
        let mut out = serde_json::to_vec_pretty(&doc).expect("json serialises");
        out.push(b'\n');
        out
    }
}

impl Renderer for ChromeTrace {
    fn render(&self, trace: &Trace) -> Vec<u8> {
        self.render_variants(&[("", trace)])
    }

    fn extension(&self) -> &'static str {
        "json"
    }
}

/// One event, with what orders it in the file.
struct Event {
    pid: u64,
    /// Metadata (`M`) comes first.
    meta: bool,
    ts: u64,
    dur: u64,
    /// Among equal extents: containers, then spans, then what is drawn
    /// inside a span (a blocking call), then instants and flows.
    rank: u8,
    json: Value,
}

impl Event {
    fn key(&self) -> (u64, bool, u64, std::cmp::Reverse<u64>, u8) {
        (
            self.pid,
            !self.meta,
            self.ts,
            std::cmp::Reverse(self.dur),
            self.rank,
        )
    }
}

/// Microseconds with nanosecond precision: whole microseconds as an integer,
/// others with three decimals.
fn micros(nanos: u64) -> Value {
    if nanos.is_multiple_of(1000) {
        json!(nanos / 1000)
    } else {
        json!(nanos as f64 / 1000.0)
    }
}

/// The microseconds of a timestamp as a viewer reads them back.
fn micros_f64(nanos: u64) -> f64 {
    nanos as f64 / 1000.0
}

/// A duration that, added to `start` in floating point, gives exactly
/// `end`: `plain` when it does, else the nearest double that does; `None`
/// when none does (the sum rounds to even past `end`).
fn landing(start: f64, end: f64, plain: f64) -> Option<f64> {
    if start + plain == end {
        return Some(plain);
    }
    let (mut up, mut down) = (end - start, end - start);
    for _ in 0..8 {
        for d in [up, down] {
            if d > 0.0 && start + d == end {
                return Some(d);
            }
        }
        (up, down) = (up.next_up(), down.next_down());
    }
    None
}

/// The events of one process: a thread for the loop, one per task, and
/// those of the services and pools.
struct Process<'a> {
    pid: u64,
    out: Vec<Event>,
    flows: &'a mut u64,
    /// The slices' places in `out`, with their thread and bounds (ns): their
    /// `dur` is set last, by [`Process::settle_durations`].
    slices: Vec<(usize, u32, u64, u64)>,
}

impl Process<'_> {
    fn meta(&mut self, tid: u32, name: &str, args: Value) {
        self.out.push(Event {
            pid: self.pid,
            meta: true,
            ts: 0,
            dur: 0,
            rank: 0,
            json: json!({"ph": "M", "pid": self.pid, "tid": tid, "name": name, "args": args}),
        });
    }

    /// A thread's name and place.
    fn thread(&mut self, tid: u32, name: &str) {
        self.meta(tid, "thread_name", json!({ "name": name }));
        self.meta(tid, "thread_sort_index", json!({ "sort_index": tid }));
    }

    /// A slice `[from, to)`, or an instant event at `from` when it takes no
    /// time; `fields` adds `name`, `cat`, `args`.
    fn span(&mut self, tid: u32, from: Instant, to: Instant, rank: u8, fields: Value) {
        let (ts, dur) = (
            from.as_nanos(),
            to.as_nanos().saturating_sub(from.as_nanos()),
        );
        let mut e = Map::new();
        if dur > 0 {
            e.insert("ph".into(), json!("X"));
            e.insert("pid".into(), json!(self.pid));
            e.insert("tid".into(), json!(tid));
            e.insert("ts".into(), micros(ts));
            self.slices.push((self.out.len(), tid, ts, ts + dur));
        } else {
            e.insert("ph".into(), json!("i"));
            e.insert("pid".into(), json!(self.pid));
            e.insert("tid".into(), json!(tid));
            e.insert("ts".into(), micros(ts));
            e.insert("s".into(), json!("t"));
        }
        if let Value::Object(f) = fields {
            e.extend(f);
        }
        self.out.push(Event {
            pid: self.pid,
            meta: false,
            ts,
            dur,
            rank: if dur > 0 { rank } else { 3 },
            json: Value::Object(e),
        });
    }

    /// An instant event on a thread.
    fn instant(&mut self, tid: u32, at: Instant, fields: Value) {
        self.span(tid, at, at, 3, fields);
    }

    /// A counter's value from `at` on.
    fn counter(&mut self, at: Instant, name: &str, busy: u32, waiting: u32) {
        self.out.push(Event {
            pid: self.pid,
            meta: false,
            ts: at.as_nanos(),
            dur: 0,
            rank: 3,
            json: json!({"ph": "C", "pid": self.pid, "ts": micros(at.as_nanos()), "name": name,
                "args": {"busy": busy, "waiting": waiting}}),
        });
    }

    /// A wake-up's arrow, from thread `from` to thread `to` at `at`.
    fn flow(&mut self, from: u32, to: u32, at: Instant, seq: usize) {
        let args = json!({ "event": seq });
        self.arrow("wake", "wake", (from, at), (to, at), &args);
    }

    /// A flow arrow from a thread at one instant to a thread at another,
    /// each end bound to its enclosing slice.
    fn arrow(
        &mut self,
        name: &str,
        cat: &str,
        from: (u32, Instant),
        to: (u32, Instant),
        args: &Value,
    ) {
        *self.flows += 1;
        let id = *self.flows;
        for (ph, (tid, at)) in [("s", from), ("f", to)] {
            self.out.push(Event {
                pid: self.pid,
                meta: false,
                ts: at.as_nanos(),
                dur: 0,
                rank: 4,
                json: json!({"ph": ph, "pid": self.pid, "tid": tid, "ts": micros(at.as_nanos()),
                    "id": id, "name": name, "cat": cat, "bp": "e", "args": args}),
            });
        }
    }
}

impl Process<'_> {
    /// Sets every slice's `dur`: its length in [`micros`], unless a viewer
    /// adding it to the start in floating point (as JavaScript viewers do)
    /// would miss the end's own timestamp by a rounding step; then the
    /// nearest double that lands on it. Where a start's rounding makes the
    /// end's timestamp unreachable (a tie rounding to even), every slice of
    /// the thread ending at that instant lands on the same double just
    /// below it, so that they still nest and none overlaps what starts
    /// there. Rounded to nanoseconds, as Perfetto reads it, each is the
    /// slice's exact length.
    ///
    /// A slice that ends exactly where another slice of its thread starts
    /// ends one nanosecond early (with every slice of the thread ending
    /// there, when each lasts more than a nanosecond): viewers that rebase
    /// timestamps per thread in floating point (speedscope) would otherwise
    /// see the end after the next start and the stack out of order.
    fn settle_durations(&mut self) {
        let mut ends: BTreeMap<(u32, u64), Vec<(usize, u64)>> = BTreeMap::new();
        let mut starts: std::collections::BTreeSet<(u32, u64)> = Default::default();
        for &(at, tid, from, to) in &self.slices {
            ends.entry((tid, to)).or_default().push((at, from));
            starts.insert((tid, from));
        }
        for ((tid, to), slices) in ends {
            let to = if starts.contains(&(tid, to)) && slices.iter().all(|&(_, from)| to - from > 1)
            {
                to - 1
            } else {
                to
            };
            let mut end = micros_f64(to);
            let mut durs = None;
            for _ in 0..8 {
                durs = slices
                    .iter()
                    .map(|&(_, from)| {
                        let plain = micros(to - from).as_f64().unwrap_or(0.0);
                        landing(micros_f64(from), end, plain).map(|d| (d, d == plain))
                    })
                    .collect::<Option<Vec<_>>>();
                if durs.is_some() {
                    break;
                }
                end = end.next_down();
            }
            for (k, &(at, from)) in slices.iter().enumerate() {
                let dur = match &durs {
                    Some(d) if !d[k].1 => json!(d[k].0),
                    _ => micros(to - from),
                };
                if let Value::Object(e) = &mut self.out[at].json {
                    e.insert("dur".into(), dur);
                }
            }
        }
    }
}

/// One nanosecond after `t`: the end of a slice that must hold `t`.
fn just_after(t: Instant) -> Instant {
    Instant::from_nanos(t.as_nanos().saturating_add(1))
}

fn process(pid: u64, name: &str, trace: &Trace, flows: &mut u64) -> Vec<Event> {
    let l = lanes(trace);
    let mut p = Process {
        pid,
        out: Vec::new(),
        flows,
        slices: Vec::new(),
    };
    p.meta(0, "process_name", json!({ "name": name }));
    p.meta(0, "process_sort_index", json!({ "sort_index": pid }));
    p.thread(0, "event loop");
    let names = trace.task_names();
    for lane in &l.tasks {
        let id = names.get(&lane.task).map(String::as_str).unwrap_or("");
        p.thread(lane.task.0, &format!("{} ({id})", lane.name));
    }
    // The loop: the run, holding its steps, blocking calls and idle spans.
    let last = l
        .loop_spans
        .iter()
        .map(|s| s.to)
        .chain(l.tasks.iter().flat_map(|t| t.spans.iter().map(|s| s.to)))
        .fold(l.end, Instant::max);
    p.span(
        0,
        Instant::from_nanos(0),
        just_after(last),
        0,
        json!({"name": "run", "cat": "loop", "args": {"events": l.events}}),
    );
    for s in &l.loop_spans {
        let name = if s.state == LaneState::Running {
            format!("step: {}", s.label)
        } else {
            state_name(&s.state).to_string()
        };
        p.span(
            0,
            s.from,
            s.to,
            inner_rank(s),
            json!({"name": name, "cat": state_name(&s.state),
                "args": {"from_event": s.from_seq, "to_event": s.to_seq}}),
        );
    }
    // Each task: its life, holding its states.
    for lane in &l.tasks {
        let tid = lane.task.0;
        let end = match lane.ended {
            Some((at, _, _)) => at,
            None => last,
        };
        let end = lane.spans.iter().map(|s| s.to).fold(end, Instant::max);
        p.span(
            tid,
            lane.created,
            just_after(end),
            0,
            json!({"name": lane.name, "cat": "task",
                "args": {"created_event": lane.created_seq, "ended": lane.ended.map(|e| e.2)}}),
        );
        for s in &lane.spans {
            let name = if s.label.is_empty() {
                state_name(&s.state).to_string()
            } else {
                format!("{}: {}", state_name(&s.state), s.label)
            };
            p.span(
                tid,
                s.from,
                s.to,
                inner_rank(s),
                json!({"name": name, "cat": state_name(&s.state),
                    "args": {"from_event": s.from_seq, "to_event": s.to_seq}}),
            );
        }
        for (at, seq, text) in &lane.outputs {
            p.instant(
                tid,
                *at,
                json!({"name": text, "cat": "print", "args": {"event": seq}}),
            );
        }
        if let Some((at, seq, how)) = lane.ended {
            p.instant(
                tid,
                at,
                json!({"name": how, "cat": "end", "args": {"event": seq}}),
            );
        }
    }
    resources(&l, &mut p);
    for w in &l.wakes {
        p.flow(w.from.map_or(0, |t| t.0), w.to.0, w.at, w.seq);
    }
    network(&l, last, &mut p);
    p.settle_durations();
    p.out
}

/// Messages as flow arrows from writer to reader, partitions as instant
/// events on the loop's thread (nothing for a run without network events).
fn network(l: &Lanes, last: Instant, p: &mut Process<'_>) {
    // A task's thread holds a flow end only within its life's slice.
    let alive = |t: Option<crate::trace::TaskId>, at: Instant| -> u32 {
        let Some(lane) = t.and_then(|t| l.tasks.iter().find(|x| x.task == t)) else {
            return 0;
        };
        let end = match lane.ended {
            Some((e, _, _)) => e,
            None => last,
        };
        let end = lane.spans.iter().map(|s| s.to).fold(end, Instant::max);
        if lane.created <= at && at <= end {
            lane.task.0
        } else {
            0
        }
    };
    for m in &l.messages {
        let Some((at, seq)) = m.delivered else {
            continue;
        };
        let from = alive(m.from_task, m.sent.0);
        let to = alive(m.to_task, at);
        let dir = if m.forward { "→" } else { "←" };
        let args = json!({"conn": m.conn, "bytes": m.bytes, "direction": dir,
            "sent_event": m.sent.1, "delivered_event": seq});
        p.arrow("message", "net", (from, m.sent.0), (to, at), &args);
    }
    for part in &l.partitions {
        p.instant(
            0,
            part.from.0,
            json!({"name": part.label(), "cat": "net", "args": {"event": part.from.1}}),
        );
        if part.to.1 < l.events {
            p.instant(
                0,
                part.to.0,
                json!({"name": "network healed", "cat": "net", "args": {"event": part.to.1}}),
            );
        }
    }
}

/// A blocking call is drawn inside the step it holds up.
fn inner_rank(s: &Span) -> u8 {
    if s.state == LaneState::Blocked { 2 } else { 1 }
}

fn state_name(s: &LaneState) -> &'static str {
    match s {
        LaneState::Running => "running",
        LaneState::Ready => "ready",
        LaneState::Timer => "waiting: timer",
        LaneState::Task => "waiting: task",
        LaneState::Future => "waiting: future",
        LaneState::Event => "waiting: event",
        LaneState::Queue => "waiting: queue",
        LaneState::Lock => "waiting: lock",
        LaneState::Semaphore => "waiting: semaphore",
        LaneState::Primitive => "waiting: primitive",
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

/// The warnings and I/O marks on the callers' threads, then the resources'
/// threads and load counters (nothing for a run without I/O).
fn resources(l: &Lanes, p: &mut Process<'_>) {
    for lane in &l.tasks {
        for (at, seq, w) in &lane.warnings {
            p.instant(
                lane.task.0,
                *at,
                json!({"name": format!("warning: {w}"), "cat": "warning", "args": {"event": seq}}),
            );
        }
    }
    for (at, seq, w) in &l.loop_warnings {
        p.instant(
            0,
            *at,
            json!({"name": format!("warning: {w}"), "cat": "warning", "args": {"event": seq}}),
        );
    }
    for lane in &l.tasks {
        for m in &lane.io_marks {
            p.instant(
                lane.task.0,
                m.at,
                json!({"name": m.label(), "cat": "io", "args": {"event": m.seq}}),
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
        p.thread(own, &r.name);
        let counter = format!("{} load", r.name);
        let mut last_to = None;
        for ld in &r.load {
            // A load that lasts no time is no part of the counter's story.
            if ld.to > ld.from {
                p.span(
                own,
                ld.from,
                ld.to,
                1,
                    json!({"name": format!("{} busy, {} waiting", ld.busy, ld.waiting), "cat": "load",
                        "args": {"busy": ld.busy, "waiting": ld.waiting, "from_event": ld.from_seq,
                            "to_event": ld.to_seq}}),
                );
            }
            if let Some(to) = last_to.filter(|to| *to != ld.from) {
                p.counter(to, &counter, 0, 0);
            }
            p.counter(ld.from, &counter, ld.busy, ld.waiting);
            last_to = Some(ld.to);
        }
        if let Some(to) = last_to {
            p.counter(to, &counter, 0, 0);
        }
        for m in &r.marks {
            p.instant(
                own,
                m.at,
                json!({"name": m.label(), "cat": "io",
                    "args": {"event": m.seq, "caller": caller_name(m.caller)}}),
            );
        }
        for w in &r.workers {
            let wt = tid;
            tid += 1;
            p.thread(wt, &format!("{} · worker {}", r.name, w.worker));
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
                p.span(
                    wt,
                    s.from,
                    s.to,
                    1,
                    json!({"name": name, "cat": work_name(s.state),
                        "args": {"job": s.id, "caller": caller, "abandoned": s.abandoned,
                            "from_event": s.from_seq, "to_event": s.to_seq}}),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The durations of slices `(from, to)` on one thread, as written.
    fn settled(slices: &[(u64, u64)]) -> Vec<f64> {
        let mut flows = 0;
        let mut p = Process {
            pid: 1,
            out: Vec::new(),
            flows: &mut flows,
            slices: Vec::new(),
        };
        for &(from, to) in slices {
            let (from, to) = (Instant::from_nanos(from), Instant::from_nanos(to));
            p.span(1, from, to, 1, json!({"name": "s"}));
        }
        p.settle_durations();
        p.out
            .iter()
            .map(|e| e.json["dur"].as_f64().unwrap())
            .collect()
    }

    #[test]
    fn a_duration_added_in_floating_point_lands_on_the_end() {
        let mut corrected = 0;
        for from in (0..3_000_000_000u64).step_by(7_777_777) {
            for len in [1, 999, 1_001, 123_457, 98_765_431] {
                let to = from + len;
                let d = settled(&[(from, to)])[0];
                let landed = micros_f64(from) + d;
                assert!(
                    landed == micros_f64(to) || landed == micros_f64(to).next_down(),
                    "{from} + {len}"
                );
                assert_eq!((d * 1000.0).round() as u64, len, "{from} + {len}");
                corrected += usize::from(json!(d) != micros(len));
            }
        }
        assert!(corrected > 0, "the correction is exercised");
    }

    #[test]
    fn slices_ending_together_land_on_the_same_double() {
        // 23333.331 + 98765.431 cannot land on 122098.762 (a tie rounds
        // to even): both slices land just below it, the child inside.
        let (from, to) = (23_333_331, 23_333_331 + 98_765_431);
        let d = settled(&[(0, to), (from, to)]);
        let ends = [d[0], micros_f64(from) + d[1]];
        assert_eq!(ends[0], ends[1]);
        assert_eq!(ends[0], micros_f64(to).next_down());
    }
}
