//! The trace's JSON Lines form read back: every trace loopsim writes reads
//! back to a trace that writes the same bytes; a trace streamed while the
//! run goes is byte-identical to the one kept in memory; and broken input
//! gets an error naming its line, never a panic.

use crate::scenarios::all_scenarios;
use loopsim::scenario::run_variant;
use loopsim::trace::Trace;
use loopsim::{LoopModel, Sim, sleep, spawn};
use proptest::prelude::*;
use std::time::Duration;

fn round_trips(t: &Trace) {
    let bytes = t.to_jsonl();
    let back = Trace::from_jsonl(&bytes).unwrap_or_else(|e| panic!("{}: {e}", t.header.label));
    assert_eq!(back.to_jsonl(), bytes, "{}", t.header.label);
    assert_eq!(back.header, t.header);
    assert_eq!(back.events.len(), t.events.len());
}

#[test]
fn every_scenario_trace_reads_back_to_the_same_bytes() {
    let mut n = 0;
    for s in all_scenarios() {
        for v in &s.variants {
            let r = run_variant(&s, &v.name, None, None, true);
            round_trips(&r.run.trace);
            n += 1;
        }
    }
    assert!(n > 100, "only {n} runs");
}

/// A program whose trace has every kind of wait and ending: tasks that
/// sleep for seeded times, one cancelled, under each loop model.
fn busy(seed: u64, model: LoopModel) -> Sim {
    Sim::builder().seed(seed).model(model).label("busy").build()
}

async fn busy_main(tasks: u32) {
    let mut hs = Vec::new();
    for i in 0..tasks {
        hs.push(spawn(async move {
            sleep(Duration::from_millis(u64::from(i % 3) * 10)).await;
            loopsim::print(format!("task {i} \"done\"\n ok"));
        }));
    }
    if let Some(h) = hs.first() {
        h.task().cancel();
    }
    for h in hs {
        let _ = h.await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_run_reads_back_to_the_same_bytes(seed in 0u64..1000, tasks in 0u32..12, m in 0usize..3) {
        let model = [LoopModel::Asyncio, LoopModel::Fifo, LoopModel::Random][m];
        let run = busy(seed, model).run(busy_main(tasks));
        round_trips(&run.trace);
    }

    #[test]
    fn a_streamed_trace_is_the_kept_trace(seed in 0u64..1000, tasks in 0u32..12, m in 0usize..3) {
        let model = [LoopModel::Asyncio, LoopModel::Fifo, LoopModel::Random][m];
        let sim = busy(seed, model);
        let kept = sim.run(busy_main(tasks));
        let buf = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let (streamed, written) = sim.run_streaming(busy_main(tasks), Shared(buf.clone()));
        prop_assert_eq!(written.unwrap() as usize, kept.trace.events.len());
        prop_assert!(streamed.trace.events.is_empty());
        prop_assert_eq!(&*buf.borrow(), &kept.trace.to_jsonl());
    }

    #[test]
    fn broken_traces_are_refused_by_line(seed in 0u64..100, cut in 0usize..4000, byte in any::<u8>()) {
        let run = busy(seed, LoopModel::Asyncio).run(busy_main(5));
        let mut bytes = run.trace.to_jsonl();
        let i = cut % bytes.len();
        bytes[i] = byte;
        match Trace::from_jsonl(&bytes) {
            Ok(t) => prop_assert!(t.to_jsonl().len() <= bytes.len() + 64),
            Err(e) => {
                let lines = bytes.split(|b| *b == b'\n').count();
                prop_assert!(e.line >= 1 && e.line <= lines, "{}", e);
            }
        }
    }
}

/// A writer the test can read after the run.
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_write_error_is_reported_and_the_run_goes_on() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sim = busy(1, LoopModel::Asyncio);
    let kept = sim.run(busy_main(3));
    let (run, written) = sim.run_streaming(busy_main(3), Full);
    assert_eq!(
        run.output, kept.output,
        "the run goes on as without a trace"
    );
    assert_eq!(run.stats.steps, kept.stats.steps);
    assert_eq!(written.unwrap_err().kind(), std::io::ErrorKind::StorageFull);
}

#[test]
fn traces_of_another_schema_or_with_gaps_are_refused() {
    let run = busy(1, LoopModel::Asyncio).run(busy_main(2));
    let text = String::from_utf8(run.trace.to_jsonl()).unwrap();
    let other = text.replacen("loopsim-trace/1", "loopsim-trace/9", 1);
    let e = Trace::from_jsonl(other.as_bytes()).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(e.message.contains("loopsim-trace/9"), "{e}");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    let e = Trace::from_jsonl(lines.join("\n").as_bytes()).unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.message.contains("`seq` must be 1"), "{e}");
    let e = Trace::from_jsonl(b"").unwrap_err();
    assert_eq!(e.line, 1);
}

// The binary form (`.lstrace`).

fn binary_round_trips(t: &Trace) {
    let bytes = t.to_binary();
    let back = Trace::from_binary(&bytes).unwrap_or_else(|e| panic!("{}: {e}", t.header.label));
    assert_eq!(&back, t, "{}", t.header.label);
    assert_eq!(
        Trace::read(&bytes).as_ref(),
        Ok(t),
        "read tells the forms apart"
    );
    assert_eq!(
        Trace::read(&t.to_jsonl()).map(|b| b.to_jsonl()),
        Ok(t.to_jsonl())
    );
}

#[test]
fn every_scenario_trace_reads_back_from_binary_unchanged() {
    let mut n = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for s in all_scenarios() {
        for v in &s.variants {
            let r = run_variant(&s, &v.name, None, None, true);
            binary_round_trips(&r.run.trace);
            for e in &r.run.trace.events {
                let debug = format!("{:?}", e.kind);
                kinds.insert(
                    debug
                        .split([' ', '{', '('])
                        .next()
                        .unwrap_or("")
                        .to_string(),
                );
            }
            n += 1;
        }
    }
    assert!(n > 100, "only {n} runs");
    assert!(kinds.len() >= 15, "the gallery shows {} kinds", kinds.len());
}

/// A trace of one task that returns at once, in binary of `version` 1, 2
/// or 3 (written by hand, byte by byte, as the module doc specifies).
pub(crate) fn one_task_trace(version: u8) -> Vec<u8> {
    let run = Sim::builder().build().run(async {});
    let header = serde_json::to_vec(&run.trace.header).unwrap();
    let mut b = format!("LSTRACE{version}").into_bytes();
    let mut n = header.len();
    while n >= 0x80 {
        b.push(n as u8 | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    b.extend_from_slice(&header);
    // TaskCreated of task 1 (no parent, name or label); from version 3 the
    // task is the zigzag of 1 - 0 (2).
    let first = if version >= 3 { 2 } else { 1 };
    b.extend_from_slice(&[0x80, first, 0, 0, 0]);
    match version {
        // StepStarted (not cancelling), StepEnded (returned): task 1 each.
        1 => b.extend_from_slice(&[0x81, 1, 0, 0x82, 1, 1]),
        // The same, each with "the task of the event before" (0x20), and
        // "returned" as the one byte of a step's end and wait (7).
        2 => b.extend_from_slice(&[0xA1, 0, 0xA2, 7]),
        // A step that starts with no cancellation is code 29, no field.
        _ => b.extend_from_slice(&[0xBD, 0xA2, 7]),
    }
    b.extend_from_slice(&[0xFE, 3]);
    b
}

#[test]
fn a_trace_of_the_first_binary_version_still_reads() {
    let v1 = Trace::from_binary(&one_task_trace(1)).unwrap();
    let v2 = Trace::from_binary(&one_task_trace(2)).unwrap();
    let v3 = Trace::from_binary(&one_task_trace(3)).unwrap();
    assert_eq!(v1, v2);
    assert_eq!(v1, v3);
    assert_eq!(v1.events.len(), 3);
    assert!(v1.events.iter().all(|e| e.task.map(|t| t.0) == Some(1)));
    // What this loopsim writes is version 3, byte for byte as written by
    // hand, and reads back the same.
    assert_eq!(v2.to_binary(), one_task_trace(3));
    assert_eq!(Trace::from_binary(&v2.to_binary()).unwrap(), v2);
    // Code 29 is not a kind before version 3.
    let mut bad = one_task_trace(2);
    let at = bad.iter().position(|&b| b == 0xA1).unwrap();
    bad[at] = 0xBD;
    bad.remove(at + 1);
    let e = Trace::from_binary(&bad).unwrap_err();
    assert!(e.message.contains("unknown event kind 29"), "{e}");
    // A task id that a difference takes out of range is refused.
    let mut bad = one_task_trace(3);
    let at = bad.iter().position(|&b| b == 0x80).unwrap();
    bad[at + 1] = 1; // zigzag 1: -1
    let e = Trace::from_binary(&bad).unwrap_err();
    assert!(e.message.contains("out of range"), "{e}");
    // Version 1 has no "same task" bit: 0xA1 is an unknown kind there.
    let mut bad = one_task_trace(1);
    let at = bad.iter().position(|&b| b == 0x81).unwrap();
    bad[at] = 0xA1;
    let e = Trace::from_binary(&bad).unwrap_err();
    assert!(e.message.contains("unknown event kind 33"), "{e}");
    // "The same task" before any event had one is refused.
    let mut bad = one_task_trace(2);
    let at = bad.iter().position(|&b| b == 0x80).unwrap();
    bad[at] = 0xA0;
    let e = Trace::from_binary(&bad).unwrap_err();
    assert!(e.message.contains("no event had one"), "{e}");
}

/// Streams `main`'s trace in binary and reads it back.
fn stream_binary<F: std::future::Future + 'static>(sim: &Sim, main: F) -> (Vec<u8>, u64) {
    let buf = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (run, written) = sim.run_streaming_as(
        main,
        Shared(buf.clone()),
        loopsim::trace::TraceFormat::Binary,
    );
    assert!(run.trace.events.is_empty());
    let bytes = buf.borrow().clone();
    (bytes, written.unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_streamed_binary_trace_is_the_kept_trace(seed in 0u64..1000, tasks in 0u32..12, m in 0usize..3) {
        let model = [LoopModel::Asyncio, LoopModel::Fifo, LoopModel::Random][m];
        let sim = busy(seed, model);
        let kept = sim.run(busy_main(tasks));
        let (bytes, written) = stream_binary(&sim, busy_main(tasks));
        prop_assert_eq!(written as usize, kept.trace.events.len());
        prop_assert_eq!(Trace::read(&bytes), Ok(kept.trace.clone()));
        let (again, _) = stream_binary(&sim, busy_main(tasks));
        prop_assert_eq!(again, bytes, "the same seed streams the same bytes");
    }

    #[test]
    fn broken_binary_traces_are_refused_by_byte(seed in 0u64..100, cut in 0usize..4000, byte in any::<u8>(), truncate in any::<bool>()) {
        let run = busy(seed, LoopModel::Asyncio).run(busy_main(5));
        let mut bytes = run.trace.to_binary();
        let i = cut % bytes.len();
        if truncate {
            bytes.truncate(i);
        } else {
            bytes[i] = byte;
        }
        match Trace::from_binary(&bytes) {
            // A changed number can still make a trace; it must be whole
            // (every symbol defined), or writing it would panic.
            Ok(t) => {
                prop_assert!(!truncate);
                let _ = t.to_jsonl();
            }
            Err(e) => {
                let b = e.byte.expect("a binary error names its byte");
                prop_assert!(b as usize <= bytes.len(), "{}", e);
                // A changed byte can make more events than there were, but
                // each takes at least a byte.
                prop_assert!(e.line <= bytes.len() + 1, "{}", e);
            }
        }
    }
}

#[test]
fn a_binary_trace_cut_short_says_so() {
    let run = busy(1, LoopModel::Asyncio).run(busy_main(4));
    let bytes = run.trace.to_binary();
    let e = Trace::from_binary(&bytes[..bytes.len() - 2]).unwrap_err();
    assert!(e.to_string().contains("cut short"), "{e}");
    let e = Trace::from_binary(b"LSTRACE9rest").unwrap_err();
    assert!(e.message.contains("another version"), "{e}");
    let e = Trace::from_binary(b"{\"schema\":1}").unwrap_err();
    assert!(e.message.contains("not a binary loopsim trace"), "{e}");
    let mut extra = bytes.clone();
    extra.push(0);
    let e = Trace::from_binary(&extra).unwrap_err();
    assert!(e.message.contains("after the end"), "{e}");
}

#[test]
fn a_streamed_binary_trace_holds_strings_longer_than_a_block() {
    let sim = busy(1, LoopModel::Asyncio);
    let long = "x".repeat(200_000);
    let main = {
        let long = long.clone();
        async move {
            loopsim::print(&long);
            sleep(Duration::from_millis(1)).await;
            loopsim::print("after");
        }
    };
    let (bytes, _) = stream_binary(&sim, main);
    let t = Trace::from_binary(&bytes).unwrap();
    let out: Vec<&str> = t.output().into_iter().map(|(_, _, s)| s).collect();
    assert_eq!(out, [long.as_str(), "after"]);
}

#[test]
fn a_binary_write_error_is_reported() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sim = busy(1, LoopModel::Asyncio);
    let kept = sim.run(busy_main(3));
    let (run, written) =
        sim.run_streaming_as(busy_main(3), Full, loopsim::trace::TraceFormat::Binary);
    assert_eq!(
        run.output, kept.output,
        "the run goes on as without a trace"
    );
    assert_eq!(run.stats.steps, kept.stats.steps);
    assert_eq!(written.unwrap_err().to_string(), "disk full");
}

#[test]
fn every_cut_and_every_changed_byte_of_a_binary_trace_is_read_or_refused() {
    let run = busy(3, LoopModel::Asyncio).run(busy_main(3));
    let bytes = run.trace.to_binary();
    for i in 0..bytes.len() {
        let e = Trace::from_binary(&bytes[..i]).expect_err("a cut trace is refused");
        assert!(e.byte.is_some_and(|b| b as usize <= i), "cut at {i}: {e}");
        for b in [0u8, 1, 0x7F, 0x80, 0xFE, 0xFF, bytes[i] ^ 0x40] {
            let mut changed = bytes.clone();
            changed[i] = b;
            if let Ok(t) = Trace::from_binary(&changed) {
                let _ = t.to_jsonl();
            }
        }
    }
}

#[test]
fn streams_of_many_lines_longer_than_a_block_are_the_kept_trace() {
    let program = || async {
        for i in 0..20u64 {
            loopsim::print(format!("{i}{}", "y".repeat(70_000)));
            sleep(Duration::from_millis(i)).await;
        }
    };
    let sim = busy(2, LoopModel::Asyncio);
    let kept = sim.run(program());
    let buf = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (_, written) = sim.run_streaming(program(), Shared(buf.clone()));
    assert_eq!(written.unwrap() as usize, kept.trace.events.len());
    assert!(*buf.borrow() == kept.trace.to_jsonl(), "JSON Lines differ");
    let (bytes, _) = stream_binary(&sim, program());
    assert_eq!(Trace::read(&bytes), Ok(kept.trace));
}

/// Every renderer `loopsim trace` offers, on a trace read from a file.
fn render_all(t: &Trace) {
    use loopsim::render::{ChromeTrace, Mermaid, Renderer, SequenceText, Timeline};
    let _ = SequenceText { detail: true }.render(t);
    let _ = Mermaid::default().render(t);
    let _ = ChromeTrace.render(t);
    let _ = Timeline::default().render(t);
    let _ = loopsim::render::critical_path(t).text("t");
}

#[test]
fn a_changed_binary_trace_that_is_well_formed_draws_without_a_panic() {
    use loopsim::checks::{WellFormed, check};
    let mut drawn = 0;
    // Every fifth scenario with a short trace; in each, 60 bytes changed
    // one at a time to values drawn from a fixed sequence (the same cases
    // every run). A campaign: LOOPSIM_TRACE_FUZZ=N changes N bytes in
    // every scenario's trace, LOOPSIM_TRACE_FUZZ_SEED=S draws other ones.
    let env = |k: &str| std::env::var(k).ok().and_then(|n| n.parse::<u64>().ok());
    let campaign = env("LOOPSIM_TRACE_FUZZ").map(|n| n as usize);
    let mut x: u64 = env("LOOPSIM_TRACE_FUZZ_SEED").map_or(0x9e37_79b9_7f4a_7c15, |s| s | 1);
    for s in all_scenarios()
        .iter()
        .step_by(if campaign.is_some() { 1 } else { 5 })
    {
        let v = &s.variants[0];
        let r = run_variant(s, &v.name, None, None, true);
        if campaign.is_none() && r.run.trace.events.len() > 300 {
            continue;
        }
        let bytes = r.run.trace.to_binary();
        for _ in 0..campaign.unwrap_or(60) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut changed = bytes.clone();
            changed[(x >> 8) as usize % bytes.len()] = x as u8;
            if let Ok(t) = Trace::from_binary(&changed)
                && check(&WellFormed, &t).holds
            {
                render_all(&t);
                drawn += 1;
            }
        }
    }
    assert!(drawn > 30, "only {drawn} changed traces were well formed");
}

/// A trace read from a file may name any worker number: one naming worker
/// 4,000,000,000 is drawn with a row for each worker that served (not one
/// for every number below it, which would exhaust memory).
#[test]
fn a_read_trace_naming_a_huge_worker_is_drawn_in_bounded_memory() {
    let s = all_scenarios()
        .into_iter()
        .find(|s| s.file.ends_with("async_threads_processes.toml"))
        .expect("the pools scenario");
    let spawn = "\"phase\":\"spawning\",\"worker\":1}";
    let jsonl = s
        .variants
        .iter()
        .map(|v| {
            String::from_utf8(
                run_variant(&s, &v.name, None, None, true)
                    .run
                    .trace
                    .to_jsonl(),
            )
            .expect("JSON Lines are UTF-8")
        })
        .find(|j| j.contains(spawn))
        .expect("a variant that starts a second worker process");
    let evil = jsonl.replacen(spawn, "\"phase\":\"spawning\",\"worker\":4000000000}", 1);
    let t = Trace::from_jsonl(evil.as_bytes()).expect("the edited trace reads");
    let svg = loopsim::render::Renderer::render(&loopsim::render::Timeline::default(), &t);
    assert!(String::from_utf8_lossy(&svg).contains("</svg>"));
}
