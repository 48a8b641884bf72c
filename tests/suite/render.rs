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
fn chrome_trace_has_integer_microseconds_thread_names_and_flows() {
    let t = trace_of("sync_vs_async_two_fetches.toml", "async");
    let v: serde_json::Value = serde_json::from_slice(&ChromeTrace.render(&t)).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.get("ts").is_none_or(|ts| ts.is_u64()))
    );
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"event loop") && names.iter().any(|n| n.starts_with("fetch('A', 3)")));
    let starts = events.iter().filter(|e| e["ph"] == "s").count();
    let ends = events.iter().filter(|e| e["ph"] == "f").count();
    assert!(starts > 0 && starts == ends, "flow arrows come in pairs");
}
