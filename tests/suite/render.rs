//! Renderers: golden files for the text formats, and the SVG timeline's
//! guarantees (well-formed, deterministic, one lane per task).

use crate::scenarios::scenario_dir;
use loopsim::Trace;
use loopsim::render::{ChromeTrace, Mermaid, Panel, Renderer, SequenceText, Timeline, circled};
use loopsim::scenario::{self, run_variant};
use std::path::Path;

fn trace_of(file: &str, variant: &str) -> Trace {
    let s = scenario::load(&scenario_dir().join(file)).unwrap();
    run_variant(&s, variant, None, None, true).run.trace
}

/// Compares with `tests/golden/NAME`; `UPDATE_GOLDEN=1` rewrites it.
fn golden(name: &str, bytes: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {}: run with UPDATE_GOLDEN=1",
            path.display()
        )
    });
    if want != bytes {
        let got = String::from_utf8_lossy(bytes);
        let want = String::from_utf8_lossy(&want);
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from its golden file at line {}:\n  got:  {}\n  want: {}\n(review, then UPDATE_GOLDEN=1 cargo test)",
            line + 1,
            got.lines().nth(line).unwrap_or(""),
            want.lines().nth(line).unwrap_or("")
        );
    }
}

const GOLDEN: &[(&str, &str, &str)] = &[
    (
        "sync_vs_async_two_fetches.toml",
        "async",
        "two_fetches_async",
    ),
    ("await_coroutine_vs_task.toml", "await-task", "await_task"),
    ("cancel_with_cleanup.toml", "main", "cancel_with_cleanup"),
    ("blocking_call_delays_timers.toml", "main", "blocking_call"),
];

#[test]
fn sequence_mermaid_and_chrome_match_their_golden_files() {
    for (file, variant, name) in GOLDEN {
        let t = trace_of(file, variant);
        golden(
            &format!("{name}.sequence.txt"),
            &SequenceText { detail: false }.render(&t),
        );
        golden(
            &format!("{name}.detail.sequence.txt"),
            &SequenceText { detail: true }.render(&t),
        );
        golden(&format!("{name}.mmd"), &Mermaid::default().render(&t));
        golden(&format!("{name}.chrome.json"), &ChromeTrace.render(&t));
    }
}

#[test]
fn the_gather_sequence_diagram_has_the_tutorials_eleven_steps_in_order() {
    // 002_7b3955dd17d21e52.txt § Sequence diagram: ① asyncio.run(main()) …
    // ⑪ shut the loop down.
    let t = trace_of("sync_vs_async_two_fetches.toml", "async");
    let text = String::from_utf8(SequenceText { detail: false }.render(&t)).unwrap();
    let steps: Vec<&str> = text
        .lines()
        .filter(|l| (1..=12).any(|n| l.contains(&circled(n))))
        .collect();
    let expect = [
        "① asyncio.run(main_async())",
        "② start the event loop, run the main task",
        "③ main_async() waits on gather, hands control back",
        "④ pick fetch('A', 3) from the queue and run it",
        "⑤ fetch('A', 3) waits on sleep(3s), hands control back",
        "⑥ pick fetch('B', 2) from the queue and run it",
        "⑦ fetch('B', 2) waits on sleep(2s), hands control back",
        "⑧ fetch('B', 2)'s sleep(2s) expires, wake it",
        "⑨ fetch('A', 3)'s sleep(3s) expires, wake it",
        "⑩ wake main_async()",
        "⑪ asyncio.run(main_async()) shuts the event loop down",
    ];
    assert_eq!(steps.len(), 11, "{text}");
    for (line, want) in steps.iter().zip(expect) {
        assert!(line.contains(want), "wanted {want:?} in {line:?}\n{text}");
    }
    assert!(text.contains(
        "** every task is waiting: the loop is idle from 0s until the earliest timer, at 2s **"
    ));
    assert!(
        text.contains("fetch('B', 2) and fetch('A', 3) done, gather releases main_async()'s wait")
    );
}

#[test]
fn detail_mode_shows_every_handle() {
    let t = trace_of("sync_vs_async_two_fetches.toml", "async");
    let brief = String::from_utf8(SequenceText { detail: false }.render(&t)).unwrap();
    let detail = String::from_utf8(SequenceText { detail: true }.render(&t)).unwrap();
    assert!(detail.contains("timer callback `sleep` fires"));
    assert!(detail.contains("callback `gather` runs"));
    assert!(detail.lines().count() > brief.lines().count());
}

#[test]
fn svg_timelines_are_well_formed_deterministic_and_have_a_lane_per_task() {
    for entry in std::fs::read_dir(scenario_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let s = scenario::load(&path).unwrap();
        let runs: Vec<Trace> = s
            .variants
            .iter()
            .map(|v| run_variant(&s, &v.name, None, None, true).run.trace)
            .collect();
        let panels: Vec<Panel<'_>> = s
            .variants
            .iter()
            .zip(&runs)
            .map(|(v, t)| Panel {
                title: v.name.clone(),
                trace: t,
            })
            .collect();
        let a = Timeline::default().render_panels(&s.name, &panels);
        let b = Timeline::default().render_panels(&s.name, &panels);
        assert_eq!(a, b, "{}: SVG differs between two renders", s.name);
        let text = String::from_utf8(a).unwrap();
        let doc = roxmltree::Document::parse(&text)
            .unwrap_or_else(|e| panic!("{}: not well-formed XML: {e}", s.name));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let labels: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for t in &runs {
            let lanes = loopsim::render::lanes(t);
            for lane in lanes.tasks.iter().take(Timeline::default().max_lanes) {
                if let Some(host) = &lane.host {
                    // A host's tag takes room from the name: it may be
                    // shortened further (`receive(<Connectio…`).
                    assert!(
                        labels
                            .iter()
                            .any(|l| l.starts_with(host.as_str()) && l.ends_with('·')),
                        "{}: no host tag for {:?}",
                        s.name,
                        lane.name
                    );
                    assert!(
                        labels.iter().any(|l| {
                            let p = l.trim_end_matches('…');
                            p.chars().count() >= 4 && lane.name.starts_with(p)
                        }),
                        "{}: no lane labelled {:?}",
                        s.name,
                        lane.name
                    );
                    continue;
                }
                let shown = if lane.name.chars().count() > 30 {
                    lane.name.chars().take(29).collect::<String>()
                } else {
                    lane.name.clone()
                };
                assert!(
                    labels.iter().any(|l| l.starts_with(&shown)),
                    "{}: no lane labelled {:?}",
                    s.name,
                    lane.name
                );
            }
            if lanes.tasks.len() > Timeline::default().max_lanes {
                let more = format!(
                    "+ {} more tasks",
                    lanes.tasks.len() - Timeline::default().max_lanes
                );
                assert!(
                    labels.contains(&more.as_str()),
                    "{}: no density lane",
                    s.name
                );
            }
        }
        assert!(
            !text.contains("font-face") && !text.contains("@import"),
            "no embedded or fetched fonts"
        );
    }
}

#[test]
fn chrome_trace_has_nanosecond_timestamps_thread_names_and_flows() {
    let t = trace_of("sync_vs_async_two_fetches.toml", "async");
    let bytes = ChromeTrace.render(&t);
    chrome::validate(&bytes).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"event loop") && names.iter().any(|n| n.starts_with("fetch('A', 3)")));
    let starts = events.iter().filter(|e| e["ph"] == "s").count();
    let ends = events.iter().filter(|e| e["ph"] == "f").count();
    assert!(starts > 0 && starts == ends, "flow arrows come in pairs");
    // The loop's run and each task's life hold what happens at their last
    // instant: they end a nanosecond after it.
    let run = events
        .iter()
        .find(|e| e["name"] == "run" && e["ph"] == "X")
        .unwrap();
    assert_eq!(run["dur"].as_f64(), Some(3_000_000.001));
}

#[test]
fn chrome_timestamps_keep_nanoseconds() {
    let t = run_twice(&asyncio(), || async {
        loopsim::sleep(std::time::Duration::from_nanos(1_234_567)).await;
    })
    .trace;
    let bytes = ChromeTrace.render(&t);
    chrome::validate(&bytes).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let wait = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ph"] == "X" && e["cat"] == "waiting: timer")
        .unwrap();
    assert_eq!(wait["ts"], 0);
    assert_eq!(wait["dur"].as_f64(), Some(1234.567));
    assert!(
        String::from_utf8(bytes)
            .unwrap()
            .contains("\"dur\": 1234.567")
    );
}

/// Every scenario, gallery and tests', every variant alone and all variants
/// in one file: the Chrome trace passes the structural checks of strict
/// viewers ([`chrome::validate`]).
#[test]
fn chrome_traces_of_every_scenario_load_cleanly() {
    let mut checked = 0;
    for s in crate::scenarios::all_scenarios() {
        let mut traces = Vec::new();
        for v in &s.variants {
            let t = run_variant(&s, &v.name, None, None, true).run.trace;
            chrome::validate(&ChromeTrace.render(&t))
                .unwrap_or_else(|e| panic!("{} [{}]: {e}", s.file, v.name));
            checked += 1;
            traces.push((v.name.clone(), t));
        }
        let runs: Vec<(&str, &Trace)> = traces.iter().map(|(v, t)| (v.as_str(), t)).collect();
        let bytes = ChromeTrace.render_variants(&runs);
        chrome::validate(&bytes).unwrap_or_else(|e| panic!("{} (all variants): {e}", s.file));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let processes: Vec<(u64, String)> = v["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| {
                (
                    e["pid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            processes.len(),
            runs.len(),
            "{}: a process per variant",
            s.file
        );
        if runs.len() > 1 {
            for ((pid, name), (i, (variant, _))) in processes.iter().zip(runs.iter().enumerate()) {
                assert_eq!(*pid, i as u64 + 1);
                assert!(name.starts_with(&format!("{variant} — ")), "{name}");
            }
        }
    }
    assert!(checked >= 60, "only {checked} variants checked");
}

#[test]
fn the_validator_catches_what_viewers_reject() {
    let doc = |events: &str| format!("{{\"traceEvents\": [{events}]}}").into_bytes();
    let thread = r#"{"ph":"M","pid":1,"tid":1,"name":"thread_name","args":{"name":"t"}},
        {"ph":"M","pid":1,"tid":0,"name":"process_name","args":{"name":"p"}}"#;
    let zero = format!(r#"{thread},{{"ph":"X","pid":1,"tid":1,"ts":5,"dur":0,"name":"a"}}"#);
    assert!(chrome::validate(&doc(&zero)).unwrap_err().contains("dur"));
    let overlap = format!(
        r#"{thread},{{"ph":"X","pid":1,"tid":1,"ts":0,"dur":10,"name":"a"}},
        {{"ph":"X","pid":1,"tid":1,"ts":5,"dur":10,"name":"b"}}"#
    );
    assert!(
        chrome::validate(&doc(&overlap))
            .unwrap_err()
            .contains("overlap")
    );
    let unbound = format!(
        r#"{thread},{{"ph":"X","pid":1,"tid":1,"ts":0,"dur":10,"name":"a"}},
        {{"ph":"s","pid":1,"tid":1,"ts":10,"id":1,"name":"w","cat":"w","bp":"e"}},
        {{"ph":"f","pid":1,"tid":1,"ts":5,"id":1,"name":"w","cat":"w","bp":"e"}}"#
    );
    assert!(
        chrome::validate(&doc(&unbound))
            .unwrap_err()
            .contains("no slice")
    );
    // Disjoint in nanoseconds, overlapping once JavaScript adds 0.1 + 0.2.
    let float = format!(
        r#"{thread},{{"ph":"X","pid":1,"tid":1,"ts":0.1,"dur":0.2,"name":"a"}},
        {{"ph":"X","pid":1,"tid":1,"ts":0.3,"dur":1,"name":"b"}}"#
    );
    assert!(
        chrome::validate(&doc(&float))
            .unwrap_err()
            .contains("overlap")
    );
    let fine = format!(
        r#"{thread},{{"ph":"X","pid":1,"tid":1,"ts":0,"dur":10,"name":"a"}},
        {{"ph":"X","pid":1,"tid":1,"ts":2.5,"dur":5,"name":"b"}},
        {{"ph":"s","pid":1,"tid":1,"ts":9.999,"id":1,"name":"w","cat":"w","bp":"e"}},
        {{"ph":"f","pid":1,"tid":1,"ts":0,"id":1,"name":"w","cat":"w","bp":"e"}}"#
    );
    chrome::validate(&doc(&fine)).unwrap();
}

/// The structure strict viewers (speedscope, Perfetto's importer) need from
/// a Chrome trace.
mod chrome {
    use serde_json::Value;
    use std::collections::BTreeMap;

    /// A thread: pid, tid.
    type Thread = (u64, u64);

    /// A slice's bounds as a viewer reads them: Perfetto rounds `ts` and
    /// `dur` to nanoseconds and adds integers; JavaScript viewers (speedscope,
    /// chrome://tracing) add the two doubles.
    #[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
    struct Bounds<T> {
        from: T,
        to: T,
    }

    /// Nanoseconds of a timestamp in microseconds with at most three
    /// decimals.
    fn nanos(v: &Value, what: &str) -> Result<u64, String> {
        let us = v
            .as_f64()
            .filter(|f| *f >= 0.0)
            .ok_or_else(|| format!("{what} is not a non-negative number: {v}"))?;
        let ns = (us * 1000.0).round();
        if (us * 1000.0 - ns).abs() > 1e-3 {
            return Err(format!("{what} {v} is finer than a nanosecond"));
        }
        Ok(ns as u64)
    }

    /// Whether the slices (each with its name) nest: each contains or is
    /// disjoint from every other, the stack check of speedscope's importer.
    fn nest<T: PartialOrd + Copy + std::fmt::Debug>(
        thread: Thread,
        mut list: Vec<(Bounds<T>, &str)>,
    ) -> Result<(), String> {
        // Longer first among those starting together: parents first.
        list.sort_by(|a, b| {
            (a.0.from.partial_cmp(&b.0.from).unwrap()).then(b.0.to.partial_cmp(&a.0.to).unwrap())
        });
        let mut stack: Vec<(Bounds<T>, &str)> = Vec::new();
        for s in list {
            while stack.last().is_some_and(|top| top.0.to <= s.0.from) {
                stack.pop();
            }
            if let Some(top) = stack.last()
                && s.0.to > top.0.to
            {
                return Err(format!(
                    "slices overlap on thread {thread:?}: {:?} {:?} and {:?} {:?}",
                    top.1, top.0, s.1, s.0
                ));
            }
            stack.push(s);
        }
        Ok(())
    }

    /// Checks: the file parses; every event has a phase and a pid; every
    /// `X` has `dur > 0`; on each thread, each `X` slice `[ts, ts+dur)`
    /// contains or is disjoint from every other (they nest: a stack check);
    /// every flow event is bound (`bp: "e"`) inside a slice of its thread
    /// (`ts ≤ t < ts+dur`), and each flow id has one start and one end;
    /// every process and every thread with events is named. Slice bounds are
    /// checked both as integer nanoseconds and as JavaScript's sums.
    pub fn validate(bytes: &[u8]) -> Result<(), String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let events = doc["traceEvents"]
            .as_array()
            .ok_or("no traceEvents array")?;
        type Slice = (Bounds<u64>, Bounds<f64>, String);
        let mut slices: BTreeMap<Thread, Vec<Slice>> = BTreeMap::new();
        let mut flows = Vec::new();
        let mut named_threads = Vec::new();
        let mut named_processes = Vec::new();
        let mut used = Vec::new();
        for e in events {
            let ph = e["ph"].as_str().ok_or_else(|| format!("no phase: {e}"))?;
            let pid = e["pid"].as_u64().ok_or_else(|| format!("no pid: {e}"))?;
            let tid = e["tid"].as_u64();
            let name = e["name"].as_str().unwrap_or("").to_string();
            match ph {
                "M" if name == "thread_name" => named_threads.push((pid, tid.unwrap_or(0))),
                "M" if name == "process_name" => named_processes.push(pid),
                "M" => {}
                "X" => {
                    let ts = nanos(&e["ts"], "ts")?;
                    let dur = nanos(&e["dur"], "dur")?;
                    if dur == 0 {
                        return Err(format!("a slice with dur 0: {e}"));
                    }
                    let tid = tid.ok_or_else(|| format!("no tid: {e}"))?;
                    let (ts_f, dur_f) = (e["ts"].as_f64().unwrap(), e["dur"].as_f64().unwrap());
                    slices.entry((pid, tid)).or_default().push((
                        Bounds {
                            from: ts,
                            to: ts + dur,
                        },
                        Bounds {
                            from: ts_f,
                            to: ts_f + dur_f,
                        },
                        name,
                    ));
                    used.push((pid, tid));
                }
                "s" | "f" => {
                    if e["bp"] != "e" {
                        return Err(format!(
                            "a flow event not bound to its enclosing slice: {e}"
                        ));
                    }
                    let tid = tid.ok_or_else(|| format!("no tid: {e}"))?;
                    let id = e["id"].as_u64().ok_or_else(|| format!("no flow id: {e}"))?;
                    let ts = nanos(&e["ts"], "ts")?;
                    let ts_f = e["ts"].as_f64().unwrap();
                    flows.push((ph == "s", id, (pid, tid), ts, ts_f, name));
                    used.push((pid, tid));
                }
                "i" | "I" => {
                    nanos(&e["ts"], "ts")?;
                    used.push((pid, tid.ok_or_else(|| format!("no tid: {e}"))?));
                }
                "C" => {
                    nanos(&e["ts"], "ts")?;
                }
                other => return Err(format!("unexpected phase {other:?}: {e}")),
            }
        }
        for (pid, tid) in &used {
            if !named_threads.contains(&(*pid, *tid)) {
                return Err(format!("thread {pid}/{tid} has events but no name"));
            }
            if !named_processes.contains(pid) {
                return Err(format!("process {pid} has events but no name"));
            }
        }
        for (thread, list) in &slices {
            nest(*thread, list.iter().map(|s| (s.0, s.2.as_str())).collect())?;
            nest(*thread, list.iter().map(|s| (s.1, s.2.as_str())).collect())?;
        }
        let mut ids: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
        for (start, id, thread, ts, ts_f, name) in &flows {
            let inside = slices.get(thread).is_some_and(|l| {
                l.iter()
                    .any(|(n, f, _)| n.from <= *ts && *ts < n.to && f.from <= *ts_f && *ts_f < f.to)
            });
            if !inside {
                return Err(format!(
                    "flow {name:?} #{id} at {ts} ns on thread {thread:?}: no slice there to bind to"
                ));
            }
            let n = ids.entry(*id).or_default();
            if *start { n.0 += 1 } else { n.1 += 1 }
        }
        if let Some((id, n)) = ids.iter().find(|(_, n)| **n != (1, 1)) {
            return Err(format!("flow #{id} has {} starts and {} ends", n.0, n.1));
        }
        Ok(())
    }
}

// Simulated I/O on the timeline, the Chrome trace and the Mermaid diagram.

use crate::support::{asyncio, ms, run_twice, secs};
use loopsim::io::{
    Latency, OnExcess, ProcessPool, RateLimit, Service, ServiceConfig, ThreadPool, Work,
};
use loopsim::render::{IoMarkKind, LaneState, Lanes, WorkState, lanes};
use loopsim::{spawn, spawn_named, wait_for};

/// Two callers of a service of capacity 1 serving in 1 s: `main` is served
/// at once, `second` waits for it.
fn two_callers() -> Trace {
    run_twice(&asyncio(), || async {
        let api = Service::named("api", ServiceConfig::new(Latency::fixed(secs(1))));
        let a = api.clone();
        let second = spawn_named("second", async move { a.call().await });
        api.call().await.unwrap();
        second.await.unwrap().unwrap();
    })
    .trace
}

/// The spans of the lane named `name`: (from ms, to ms, state, label),
/// zero-length ones left out.
fn spans_of(l: &Lanes, name: &str) -> Vec<(u64, u64, LaneState, String)> {
    let lane = l.tasks.iter().find(|t| t.name == name).unwrap();
    lane.spans
        .iter()
        .filter(|s| s.to > s.from)
        .map(|s| {
            (
                s.from.as_nanos() / 1_000_000,
                s.to.as_nanos() / 1_000_000,
                s.state.clone(),
                s.label.clone(),
            )
        })
        .collect()
}

#[test]
fn a_caller_waits_queued_then_served_and_the_service_lane_shows_its_load() {
    let t = two_callers();
    let l = lanes(&t);
    assert_eq!(
        spans_of(&l, "second"),
        [
            (0, 1000, LaneState::IoQueued, "api #2".to_string()),
            (1000, 2000, LaneState::IoServed, "api #2".to_string()),
        ]
    );
    assert_eq!(
        spans_of(&l, "Task-1")[0],
        (0, 1000, LaneState::IoServed, "api #1".to_string()),
        "a free server serves at once: no queued span"
    );
    assert_eq!(l.resources.len(), 1);
    let api = &l.resources[0];
    assert_eq!((api.name.as_str(), api.requests), ("api", 2));
    let load: Vec<(u64, u64, u32, u32)> = api
        .load
        .iter()
        .filter(|ld| ld.to > ld.from)
        .map(|ld| {
            (
                ld.from.as_nanos() / 1_000_000,
                ld.to.as_nanos() / 1_000_000,
                ld.busy,
                ld.waiting,
            )
        })
        .collect();
    assert_eq!(load, [(0, 1000, 1, 1), (1000, 2000, 1, 0)]);
    assert_eq!((api.max_busy(), api.max_waiting()), (1, 1));
    assert_eq!(api.workers.len(), 1, "capacity 1: one server slot");
    let served: Vec<(u32, u32, WorkState, u64)> = api.workers[0]
        .spans
        .iter()
        .map(|s| {
            (
                s.id,
                s.caller.unwrap().0,
                s.state,
                s.from.as_nanos() / 1_000_000,
            )
        })
        .collect();
    assert_eq!(
        served,
        [
            (1, 1, WorkState::Serving, 0),
            (2, 2, WorkState::Serving, 1000)
        ]
    );
    assert!(api.marks.is_empty() && l.tasks.iter().all(|t| t.io_marks.is_empty()));
}

#[test]
fn pool_workers_show_their_jobs_the_cpu_and_the_gil_and_process_start_up() {
    let t = run_twice(&asyncio(), || async {
        let pool = ThreadPool::named("workers", 2);
        let p = pool.clone();
        let a = spawn(async move { p.run(Work::Cpu(ms(12))).await });
        pool.run(Work::Cpu(ms(12))).await.unwrap();
        a.await.unwrap().unwrap();
        let procs = ProcessPool::named("procs", 1, ms(50), ms(0));
        procs.run(Work::Cpu(ms(20))).await.unwrap();
    })
    .trace;
    let l = lanes(&t);
    let names: Vec<&str> = l.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["workers", "procs"], "in order of first use");
    let threads = &l.resources[0];
    assert_eq!(threads.workers.len(), 2);
    // Job 1 (main's) on worker 0, job 2 on worker 1; they take turns at
    // the GIL every 5 ms (see tests/suite/io.rs).
    let turns = |w: usize| -> Vec<(WorkState, u64, u64)> {
        threads.workers[w]
            .spans
            .iter()
            .filter(|s| s.to > s.from)
            .map(|s| {
                (
                    s.state,
                    s.from.as_nanos() / 1_000_000,
                    s.to.as_nanos() / 1_000_000,
                )
            })
            .collect()
    };
    use WorkState::{OnCpu, WaitingForCpu};
    assert_eq!(
        turns(0),
        [
            (OnCpu, 0, 5),
            (WaitingForCpu, 5, 10),
            (OnCpu, 10, 15),
            (WaitingForCpu, 15, 20),
            (OnCpu, 20, 22)
        ]
    );
    assert_eq!(
        turns(1),
        [
            (WaitingForCpu, 0, 5),
            (OnCpu, 5, 10),
            (WaitingForCpu, 10, 15),
            (OnCpu, 15, 20),
            (WaitingForCpu, 20, 22),
            (OnCpu, 22, 24)
        ]
    );
    assert!(threads.workers[0].spans.iter().all(|s| s.id == 1));
    assert!(threads.workers[1].spans.iter().all(|s| s.id == 2));
    assert_eq!(threads.max_busy(), 2, "both threads busy, one on the CPU");
    let procs = &l.resources[1];
    let states: Vec<(WorkState, u64)> = procs.workers[0]
        .spans
        .iter()
        .filter(|s| s.to > s.from)
        .map(|s| (s.state, (s.to.as_nanos() - s.from.as_nanos()) / 1_000_000))
        .collect();
    assert_eq!(
        states,
        [(WorkState::Starting, 50), (WorkState::OnCpu, 20)],
        "the process starts, then runs the job"
    );
    // The caller waits for the process to start (queued), then is served.
    let main: Vec<(LaneState, u64)> = spans_of(&l, "Task-1")
        .into_iter()
        .filter(|s| s.3.starts_with("procs"))
        .map(|s| (s.2, s.1 - s.0))
        .collect();
    assert_eq!(main, [(LaneState::IoQueued, 50), (LaneState::IoServed, 20)]);
}

#[test]
fn rejected_withdrawn_and_abandoned_requests_are_marked_on_their_callers() {
    let t = run_twice(&asyncio(), || async {
        let api = Service::named(
            "slow",
            ServiceConfig::new(Latency::fixed(secs(5)))
                .queue_limit(1)
                .rate_limit(RateLimit {
                    per_second: 1.0,
                    burst: 3,
                    on_excess: OnExcess::Reject,
                }),
        );
        let call = |name: &str, timeout| {
            let api = api.clone();
            spawn_named(name, async move {
                let _ = wait_for(async move { api.call().await }, timeout).await;
            })
        };
        let served = call("served", secs(1));
        let queued = call("queued", secs(2));
        let full = call("full", secs(9));
        let limited = call("limited", secs(9));
        for h in [served, queued, full, limited] {
            h.await.unwrap();
        }
        // The abandoned request's service ends at 5 s.
        loopsim::sleep(secs(4)).await;
    })
    .trace;
    let l = lanes(&t);
    let marks = |name: &str| -> Vec<(u64, String)> {
        let lane = l.tasks.iter().find(|t| t.name == name).unwrap();
        lane.io_marks
            .iter()
            .map(|m| (m.at.as_nanos() / 1_000_000, m.label()))
            .collect()
    };
    assert_eq!(marks("served"), [(1000, "slow #1 abandoned".to_string())]);
    assert_eq!(marks("queued"), [(2000, "slow #2 withdrawn".to_string())]);
    assert_eq!(
        marks("full"),
        [(0, "slow #3 rejected: ServiceUnavailable".to_string())]
    );
    assert_eq!(
        marks("limited"),
        [(0, "slow #4 rejected: TooManyRequests".to_string())]
    );
    let slow = &l.resources[0];
    assert_eq!(slow.marks.len(), 4);
    assert!(matches!(&slow.marks[0].kind, IoMarkKind::Rejected(e) if e.contains("503")));
    // The abandoned request is served to its end, drawn as abandoned.
    let worker: Vec<(u64, u64, bool)> = slow.workers[0]
        .spans
        .iter()
        .map(|s| {
            (
                s.from.as_nanos() / 1_000_000,
                s.to.as_nanos() / 1_000_000,
                s.abandoned,
            )
        })
        .collect();
    assert_eq!(worker, [(0, 1000, false), (1000, 5000, true)]);
    let svg = String::from_utf8(Timeline::default().render(&t)).unwrap();
    for label in [
        "slow #1 abandoned",
        "slow #2 withdrawn",
        "slow #3 rejected: ServiceUn…",
        "#1 served (abandoned)",
    ] {
        assert!(svg.contains(label), "no {label:?} in the SVG");
    }
}

/// The text of the SVG's `<text>` elements.
fn svg_labels(svg: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(svg).unwrap();
    let doc = roxmltree::Document::parse(text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn io_timelines_are_well_formed_deterministic_and_draw_the_resource_lanes() {
    let a = Timeline::default().render(&two_callers());
    assert_eq!(a, Timeline::default().render(&two_callers()));
    let labels = svg_labels(&a);
    for want in [
        "services & pools",
        "api",
        "2 requests",
        "worker 0",
        "I/O: queued",
        "I/O: served",
        "worker on the CPU",
        "waiting for the GIL / a core",
        "1 + 1 queued",
        "#2 second",
    ] {
        assert!(
            labels.iter().any(|l| l == want),
            "no label {want:?} in {labels:?}"
        );
    }
    // On the ordinal axis too.
    let steps = Timeline {
        axis: loopsim::render::Axis::Steps,
        ..Timeline::default()
    };
    assert!(svg_labels(&steps.render(&two_callers())).contains(&"services & pools".to_string()));
    // A run without I/O has neither resource lanes nor their legend.
    let t = trace_of("sync_vs_async_two_fetches.toml", "async");
    assert!(lanes(&t).resources.is_empty());
    let labels = svg_labels(&Timeline::default().render(&t));
    assert!(
        !labels
            .iter()
            .any(|l| l == "services & pools" || l == "I/O: queued")
    );
}

#[test]
fn a_service_with_many_slots_is_drawn_as_its_load_alone() {
    let t = run_twice(&asyncio(), || async {
        let api = Service::named(
            "wide",
            ServiceConfig::new(Latency::fixed(ms(100))).capacity(20),
        );
        let calls = (0..12).map(|_| {
            let api = api.clone();
            async move { api.call().await }
        });
        loopsim::gather(calls).await.unwrap();
    })
    .trace;
    let l = lanes(&t);
    assert_eq!(l.resources[0].workers.len(), 12);
    assert_eq!(l.resources[0].max_busy(), 12);
    let labels = svg_labels(&Timeline::default().render(&t));
    assert!(labels.iter().any(|l| l == "12 requests, 12 workers"));
    assert!(!labels.iter().any(|l| l == "worker 0"), "no worker rows");
    assert!(labels.iter().any(|l| l == "12"), "the load's count");
}

#[test]
fn chrome_trace_has_a_thread_per_resource_and_worker_and_a_load_counter() {
    let t = two_callers();
    let bytes = ChromeTrace.render(&t);
    assert_eq!(bytes, ChromeTrace.render(&two_callers()));
    chrome::validate(&bytes).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let thread = |name: &str| {
        events
            .iter()
            .find(|e| e["name"] == "thread_name" && e["args"]["name"] == name)
            .and_then(|e| e["tid"].as_u64())
            .unwrap_or_else(|| panic!("no thread {name:?}"))
    };
    let (api, worker) = (thread("api"), thread("api · worker 0"));
    let tasks = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["tid"].as_u64())
        .filter(|tid| *tid != api && *tid != worker)
        .max()
        .unwrap();
    assert!(
        api > tasks && worker > api,
        "resource threads after the tasks'"
    );
    // Start and length in nanoseconds. A slice that ends where the next
    // one of its thread starts ends a nanosecond early, so that viewers
    // rebasing timestamps in floating point never see them overlap.
    let ns = |v: &serde_json::Value| (v.as_f64().unwrap() * 1000.0).round() as u64;
    let slices = |tid: u64| -> Vec<(u64, u64, String)> {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["tid"] == tid && e["cat"] != "task")
            .map(|e| {
                (
                    ns(&e["ts"]),
                    ns(&e["dur"]),
                    e["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        slices(worker),
        [
            (0, 999_999_999, "#1 Task-1".to_string()),
            (1_000_000_000, 1_000_000_000, "#2 second".to_string())
        ]
    );
    assert_eq!(
        slices(api),
        [
            (0, 999_999_999, "1 busy, 1 waiting".to_string()),
            (
                1_000_000_000,
                1_000_000_000,
                "1 busy, 0 waiting".to_string()
            )
        ]
    );
    let counters: Vec<(u64, u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "C" && e["name"] == "api load")
        .map(|e| {
            (
                e["ts"].as_u64().unwrap(),
                e["args"]["busy"].as_u64().unwrap(),
                e["args"]["waiting"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counters.last(), Some(&(2_000_000, 0, 0)), "{counters:?}");
    let second = thread("second (second)");
    let waits: Vec<String> = slices(second)
        .into_iter()
        .filter(|s| s.1 > 0)
        .map(|s| s.2)
        .collect();
    assert_eq!(
        waits,
        ["waiting: I/O queued: api #2", "waiting: I/O served: api #2"]
    );
}

#[test]
fn mermaid_shows_io_notes_and_keeps_names_from_breaking_it() {
    let t = run_twice(&asyncio(), || async {
        let api = Service::named(
            "api;#1 %%x",
            ServiceConfig::new(Latency::fixed(ms(10))).error_rate(1.0, "Bad;Error#2"),
        );
        let _ = api.call().await;
    })
    .trace;
    for detail in [false, true] {
        let text = String::from_utf8(
            Mermaid {
                detail,
                ..Mermaid::default()
            }
            .render(&t),
        )
        .unwrap();
        assert!(text.starts_with("sequenceDiagram\n"));
        // The text kept, its `;` and `#` written as Mermaid's entity codes.
        assert!(
            text.contains("Note over L: api#59;#35;1 %%x #35;1 (Task-1) fails: Bad#59;Error#35;2"),
            "{text}"
        );
        for line in text.lines().skip(1) {
            let body = line.split_once(':').map_or("", |(_, b)| b);
            let bare = body
                .replace("#59;", "")
                .replace("#35;", "")
                .replace("#60;", "")
                .replace("#62;", "");
            assert!(
                !bare.contains(';') && !bare.contains('#'),
                "breaks Mermaid: {line:?}"
            );
        }
    }
}

#[test]
fn a_rate_limited_call_waits_queued_for_its_token() {
    let t = run_twice(&asyncio(), || async {
        let api = Service::named(
            "api",
            ServiceConfig::new(Latency::fixed(ms(100))).rate_limit(RateLimit {
                per_second: 2.0,
                burst: 1,
                on_excess: OnExcess::Delay,
            }),
        );
        let a = api.clone();
        let first = spawn_named("first", async move { a.call().await });
        let b = api.clone();
        let second = spawn_named("second", async move { b.call().await });
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
    })
    .trace;
    let l = lanes(&t);
    assert_eq!(
        spans_of(&l, "second"),
        [
            (
                0,
                500,
                LaneState::IoQueued,
                "api #2 (rate limited)".to_string()
            ),
            (500, 600, LaneState::IoServed, "api #2".to_string()),
        ],
        "a token every 500 ms"
    );
    let waiting: Vec<(u64, u32, u32)> = l.resources[0]
        .load
        .iter()
        .filter(|ld| ld.to > ld.from)
        .map(|ld| (ld.from.as_nanos() / 1_000_000, ld.busy, ld.waiting))
        .collect();
    assert_eq!(waiting, [(0, 1, 1), (100, 0, 1), (500, 1, 0)]);
}

#[test]
fn lanes_survive_io_events_out_of_order_or_for_unknown_tasks() {
    use loopsim::time::Instant;
    use loopsim::trace::{Event, EventKind, IoPhase, Sym, TaskId};
    let mut t = two_callers();
    let end = t.events.pop().unwrap();
    let api = Sym(t.strings.iter().position(|s| s == "api").unwrap() as u32);
    let io = |task: Option<u32>, id, phase| Event {
        at: Instant::from_nanos(3_000_000_000),
        iteration: 99,
        task: task.map(TaskId),
        kind: EventKind::Io {
            resource: api,
            id,
            phase,
        },
    };
    t.events.extend([
        io(Some(0), 7, IoPhase::Started { worker: 3 }),
        io(Some(99), 7, IoPhase::CpuTaken),
        io(None, 8, IoPhase::Finished),
        io(Some(1), 9, IoPhase::Delivered),
        io(Some(2), 2, IoPhase::Abandoned),
        io(Some(1), 10, IoPhase::Withdrawn),
    ]);
    t.events.push(end);
    let l = lanes(&t);
    assert_eq!(l.resources.len(), 1);
    // A row for each worker that served, in order: worker 3 has one, the
    // numbers no job used have none.
    let rows: Vec<u32> = l.resources[0].workers.iter().map(|w| w.worker).collect();
    assert_eq!(rows.last(), Some(&3), "{rows:?}");
    assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
    let _ = Timeline::default().render(&t);
    let _ = ChromeTrace.render(&t);
    let _ = Mermaid::default().render(&t);
}

#[test]
fn the_sequence_diagram_tells_one_idle_period_until_the_pools_next_event() {
    let t = run_twice(&asyncio(), || async {
        ThreadPool::named("workers", 1)
            .run(Work::Cpu(ms(12)))
            .await
            .unwrap();
    })
    .trace;
    let text = String::from_utf8(SequenceText { detail: false }.render(&t)).unwrap();
    let idle: Vec<&str> = text.lines().filter(|l| l.contains("idle")).collect();
    assert_eq!(idle.len(), 1, "{text}");
    assert!(
        idle[0].contains("the loop is idle from 0s until the next event at workers, at 12ms"),
        "{text}"
    );
}

// The simulated network on the timeline and in the Chrome trace.

#[test]
fn message_flights_go_from_the_writer_to_the_reader_and_hosts_are_known() {
    let t = trace_of("bandwidth.toml", "one");
    let l = loopsim::render::lanes(&t);
    let by_name = |p: &str| {
        l.tasks
            .iter()
            .find(|x| x.name.starts_with(p))
            .unwrap_or_else(|| panic!("no lane {p}"))
    };
    let (client, server) = (by_name("one"), by_name("receive"));
    assert_eq!(client.host.as_deref(), Some("client"));
    assert_eq!(server.host.as_deref(), Some("server"));
    assert_eq!(by_name("start_server").host.as_deref(), Some("server"));
    let all = loopsim::checks::messages(&t);
    assert_eq!(l.messages.len(), all.len());
    assert!(!l.messages.is_empty());
    for (f, m) in l.messages.iter().zip(&all) {
        assert_eq!((f.conn, f.forward, f.bytes), (m.conn, m.forward, m.bytes));
        assert_eq!((f.sent, f.delivered), (m.sent, m.delivered));
        if f.forward {
            assert_eq!(f.from_task, Some(client.task));
            assert_eq!(f.to_task, Some(server.task));
        } else {
            assert_eq!(f.from_task, Some(server.task));
            assert_eq!(f.to_task, Some(client.task));
        }
        if let Some(d) = f.delivered {
            assert!(d.1 > f.sent.1, "delivered after sent");
        }
    }
    assert!(l.partitions.is_empty());
}

#[test]
fn chat_flights_pair_each_client_with_its_handler_and_the_partition_is_an_interval() {
    let t = trace_of("chat_partition.toml", "main");
    let l = loopsim::render::lanes(&t);
    assert_eq!(l.partitions.len(), 1);
    let p = &l.partitions[0];
    assert_eq!(p.label(), "partition c3 | server");
    assert_eq!(p.from.0.as_nanos(), 2_500_000_000);
    assert!(p.to.0.as_nanos() >= 7_500_000_000 && p.to.1 < l.events);
    let host = |t: Option<loopsim::TaskId>| {
        let t = t.expect("a task at each end");
        l.tasks.iter().find(|x| x.task == t).unwrap().host.clone()
    };
    let delivered: Vec<_> = l
        .messages
        .iter()
        .filter(|f| f.delivered.is_some())
        .collect();
    assert!(delivered.len() >= 2 * 24, "{} delivered", delivered.len());
    for f in &delivered {
        let (from, to) = (host(f.from_task), host(f.to_task));
        let (client, server) = if f.forward { (from, to) } else { (to, from) };
        assert_eq!(server.as_deref(), Some("server"), "{f:?}");
        assert!(
            client.as_deref().is_some_and(|c| c.starts_with('c')),
            "{f:?}"
        );
        // Nothing crosses the partition.
        let (at, _) = f.delivered.unwrap();
        let cut = client.as_deref() == Some("c3") && at > p.from.0 && at < p.to.0;
        assert!(!cut, "{f:?} delivered across the partition");
    }
}

#[test]
fn a_timeline_with_a_partition_is_well_formed_deterministic_and_labelled() {
    let t = trace_of("chat_partition.toml", "main");
    let a = Timeline::default().render(&t);
    assert_eq!(a, Timeline::default().render(&t), "deterministic");
    let text = String::from_utf8(a).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let labels = svg_labels(text.as_bytes());
    for want in [
        "partition c3 | server",
        "message",
        "network partition",
        "c3 ·",
        "server ·",
    ] {
        assert!(
            labels.iter().any(|l| l == want),
            "no label {want:?}: {labels:?}"
        );
    }
    assert!(
        doc.descendants()
            .filter(|n| n.has_tag_name("polygon"))
            .count()
            > 24
    );
    // A run without network events draws none of it.
    let plain = Timeline::default().render(&trace_of("hello_world.toml", "main"));
    let plain = String::from_utf8(plain).unwrap();
    assert!(!plain.contains("network partition") && !plain.contains(">message<"));
}

#[test]
fn chrome_traces_of_network_runs_carry_a_flow_per_delivered_message() {
    for (file, variant) in [
        ("chat_partition.toml", "main"),
        ("bandwidth.toml", "two"),
        ("chat_server.toml", "main"),
    ] {
        let t = trace_of(file, variant);
        let bytes = ChromeTrace.render(&t);
        chrome::validate(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let events = v["traceEvents"].as_array().unwrap();
        let flows = |ph: &str| {
            events
                .iter()
                .filter(|e| e["ph"] == ph && e["name"] == "message" && e["cat"] == "net")
                .count()
        };
        let delivered = loopsim::checks::messages(&t)
            .iter()
            .filter(|m| m.delivered.is_some())
            .count();
        assert!(delivered > 0);
        assert_eq!((flows("s"), flows("f")), (delivered, delivered), "{file}");
        if file == "chat_partition.toml" {
            let names: Vec<&str> = events
                .iter()
                .filter(|e| e["cat"] == "net" && e["ph"] == "i")
                .filter_map(|e| e["name"].as_str())
                .collect();
            assert_eq!(names, ["partition c3 | server", "network healed"]);
        }
    }
}

#[test]
fn mermaid_folds_the_tasks_past_its_limit_and_names_them_in_their_messages() {
    let t = run_twice(&asyncio(), || async {
        let mut handles = Vec::new();
        for i in 0..50u64 {
            handles.push(loopsim::spawn(async move {
                loopsim::sleep(ms(10 + i)).await;
                loopsim::print(format!("done {i}; #{i} <ok>"));
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    })
    .trace;
    let m = Mermaid::default();
    let text = String::from_utf8(
        Mermaid {
            max_items: 100_000,
            ..m
        }
        .render(&t),
    )
    .unwrap();
    let participants: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("participant"))
        .collect();
    // The loop, the first tasks, and one for the rest.
    assert_eq!(participants.len(), 1 + m.max_lanes + 1, "{participants:?}");
    assert!(participants.last().unwrap().contains("as +39 more tasks"));
    // Every task is still named: as a participant or in its messages.
    for (id, name) in t.task_names() {
        assert!(
            text.contains(&format!("as {name}\n")) || text.contains(&format!(". {name}: ")),
            "task #{} ({name}) is not in the diagram",
            id.0
        );
    }
    // Printed text is kept: `;`, `#`, `<` and `>` as entity codes.
    assert!(text.contains("done 7#59; #35;7 #60;ok#62;"), "{text}");
}
