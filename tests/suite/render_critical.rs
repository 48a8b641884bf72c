//! The critical path: the chain of waits that set the main task's end.

use crate::scenarios::scenario_dir;
use loopsim::render::{LaneState, critical_path};
use loopsim::scenario::{self, run_variant};
use loopsim::trace::{EventKind, Trace};
use std::process::Command;

fn trace_of(file: &str, variant: &str) -> Trace {
    let s = scenario::load(&scenario_dir().join(file)).unwrap();
    run_variant(&s, variant, None, None, true).run.trace
}

const S: u64 = 1_000_000_000;

#[test]
fn a_gathers_critical_path_is_its_slowest_child() {
    let t = trace_of("sync_vs_async_two_fetches.toml", "async");
    let p = critical_path(&t);
    let chain: Vec<(&str, LaneState, Option<&str>, u64)> = p
        .links
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.span.state.clone(),
                l.woken_by.as_deref(),
                l.share(),
            )
        })
        .collect();
    assert_eq!(
        chain,
        [
            ("fetch('A', 3)", LaneState::Timer, None, 3 * S),
            ("main_async()", LaneState::Future, Some("fetch('A', 3)"), 0),
        ],
        "the 3 s fetch, not the 2 s one, sets the end"
    );
    assert_eq!(p.total(), 3 * S);
    assert_eq!(p.end.as_nanos(), 3 * S);
}

#[test]
fn a_lock_handed_over_puts_every_holder_on_the_critical_path() {
    let t = trace_of("lock_fifo_handover.toml", "main");
    let p = critical_path(&t);
    let chain: Vec<(&str, LaneState, Option<&str>)> = p
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.span.state.clone(), l.woken_by.as_deref()))
        .collect();
    assert_eq!(
        chain,
        [
            ("worker('w1')", LaneState::Timer, None),
            ("worker('w2')", LaneState::Lock, Some("worker('w1')")),
            ("worker('w2')", LaneState::Timer, None),
            ("worker('w3')", LaneState::Lock, Some("worker('w2')")),
            ("worker('w3')", LaneState::Timer, None),
            ("main()", LaneState::Future, Some("worker('w3')")),
        ]
    );
    assert_eq!(p.total(), 3 * S, "three holders of 1 s each");
}

#[test]
fn a_blocking_call_is_on_the_critical_path() {
    let t = trace_of("sync_vs_async_two_fetches.toml", "sync");
    let p = critical_path(&t);
    assert!(p.links.iter().all(|l| l.span.state == LaneState::Blocked));
    assert_eq!(p.total(), 5 * S, "3 s then 2 s, in sequence");
}

/// On every scenario: the links' shares follow each other without
/// overlapping, each is a span of its task that takes time, each passes
/// to the next task through a real wake-up, and they never explain more
/// than the end.
#[test]
fn critical_paths_are_chains_of_real_waits_on_every_scenario() {
    for entry in std::fs::read_dir(scenario_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let s = scenario::load(&path).unwrap();
        for v in &s.variants {
            let t = run_variant(&s, &v.name, None, None, true).run.trace;
            let p = critical_path(&t);
            let what = format!("{} [{}]", s.name, v.name);
            assert!(
                p.total() <= p.end.as_nanos(),
                "{what}: explains more than the end"
            );
            for pair in p.links.windows(2) {
                assert!(pair[0].span.to <= pair[1].span.to, "{what}: out of order");
                assert!(pair[1].from >= pair[0].span.to, "{what}: shares overlap");
            }
            for l in &p.links {
                assert!(l.span.to > l.span.from, "{what}: a link takes no time");
                assert!(
                    !matches!(l.span.state, LaneState::Running | LaneState::Ready),
                    "{what}: running is not a wait"
                );
                if let Some(waker) = &l.woken_by {
                    // The trace's event at the wait's end wakes this task.
                    let e = &t.events[l.span.to_seq];
                    assert!(
                        matches!(e.kind, EventKind::Woken { .. }) && e.task == Some(l.task),
                        "{what}: {} was not woken at event #{}",
                        l.name,
                        l.span.to_seq
                    );
                    assert!(
                        p.links.iter().any(|k| &k.name == waker),
                        "{what}: the waker {waker} is not on the path"
                    );
                }
            }
        }
    }
}

#[test]
fn run_lists_the_critical_path() {
    let file = scenario_dir().join("sync_vs_async_two_fetches.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_loopsim"))
        .args(["run", file.to_str().unwrap(), "--variant", "async"])
        .args(["--format", "critical-path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("2 links explain 3s of the end at 3s"),
        "{text}"
    );
    assert!(lines[1].contains("fetch('A', 3) waiting on a timer: sleep(3s)"));
    assert!(lines[2].contains("main_async() waiting on a future: gather"));
    assert!(lines[2].ends_with("woken by fetch('A', 3)"));
}
