//! Simulated I/O: services, thread and process pools, as futures on the
//! virtual clock.

use crate::support::*;
use loopsim::io::{
    Latency, Machine, OnExcess, ProcessPool, RateLimit, Service, ServiceConfig, ThreadPool, Work,
    to_thread,
};
use loopsim::trace::{EventKind, IoPhase};
use loopsim::{Error, Sim, gather, print, sleep, spawn, wait_for};
use std::time::Duration;

fn fixed(d: Duration) -> Latency {
    Latency::fixed(d)
}

async fn ten_calls(api: Service) -> Result<usize, Error> {
    let calls = (0..10).map(|_| {
        let api = api.clone();
        async move { api.call().await }
    });
    gather(calls).await.map(|v| v.len())
}

#[test]
fn ten_one_second_requests_take_one_two_and_ten_seconds_at_capacity_ten_five_and_one() {
    for (capacity, expected) in [(10, 1), (5, 2), (1, 10)] {
        let run = run_twice(&asyncio(), move || {
            let api = Service::named("api", ServiceConfig::new(fixed(secs(1))).capacity(capacity));
            ten_calls(api)
        });
        assert_eq!(run.value(), Some(&Ok(10)), "capacity {capacity}");
        assert_eq!(run.elapsed(), secs(expected), "capacity {capacity}");
    }
}

fn phases(run: &loopsim::Run<impl Sized>) -> Vec<(u64, u32, &'static str)> {
    run.trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Io { id, phase, .. } => {
                Some((e.at.as_nanos() / 1_000_000, id, phase.name()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_request_waits_in_the_queue_then_is_served_and_its_response_takes_two_hops() {
    let run = run_twice(&asyncio(), || async {
        let api = Service::named("api", ServiceConfig::new(fixed(secs(1))));
        let a = api.clone();
        let first = spawn(async move { a.call().await });
        api.call().await.unwrap();
        print("main served");
        first.await.unwrap().unwrap();
    });
    assert_eq!(
        phases(&run),
        [
            (0, 1, "arrived"),
            (0, 1, "started"),
            (0, 2, "arrived"),
            (0, 2, "queued"),
            (1000, 1, "finished"),
            (1000, 2, "started"),
            (1000, 1, "delivered"),
            (2000, 2, "finished"),
            (2000, 2, "delivered"),
        ],
        "main's call arrives first: the spawned task runs on the next iteration"
    );
    assert_eq!(timed(&run), ["1s main served"]);
    assert_eq!(run.elapsed(), secs(2));
    // The response is one callback, which wakes the task for the next
    // iteration: finished at iteration k, callback at k, step at k + 1.
    let ev = &run.trace.events;
    let fin = ev
        .iter()
        .position(|e| {
            matches!(
                e.kind,
                EventKind::Io {
                    id: 1,
                    phase: IoPhase::Finished,
                    ..
                }
            )
        })
        .unwrap();
    let cb = ev[fin..]
        .iter()
        .find(|e| matches!(e.kind, EventKind::CallbackRun { .. }))
        .unwrap();
    let step = ev[fin..]
        .iter()
        .find(|e| {
            e.task == Some(loopsim::TaskId(1)) && matches!(e.kind, EventKind::StepStarted { .. })
        })
        .unwrap();
    assert_eq!(cb.iteration, ev[fin].iteration);
    assert_eq!(step.iteration, cb.iteration + 1);
}

#[test]
fn a_timeout_withdraws_a_queued_request_and_abandons_one_in_service() {
    let run = run_twice(&asyncio(), || async {
        let api = Service::named("slow", ServiceConfig::new(fixed(secs(5))));
        let a = api.clone();
        let served = spawn(async move { wait_for(async move { a.call().await }, secs(1)).await });
        let b = api.clone();
        let queued = spawn(async move { wait_for(async move { b.call().await }, secs(2)).await });
        let r1 = served.await.unwrap();
        let r2 = queued.await.unwrap();
        print(format!("{} {}", r1.is_err(), r2.is_err()));
        // The abandoned request still occupies the server until 5 s.
        api.call().await.unwrap();
    });
    let p = phases(&run);
    assert!(p.contains(&(1000, 1, "abandoned")), "{p:?}");
    assert!(p.contains(&(2000, 2, "withdrawn")), "{p:?}");
    assert!(p.contains(&(5000, 1, "finished")), "{p:?}");
    assert!(!p.iter().any(|(_, id, ph)| *id == 1 && *ph == "delivered"));
    assert!(!p.iter().any(|(_, id, ph)| *id == 2 && *ph == "started"));
    assert_eq!(timed(&run), ["2s true true"]);
    assert_eq!(
        run.elapsed(),
        secs(10),
        "the third waits for the abandoned one"
    );
}

#[test]
fn a_full_queue_rejects_and_a_rate_limit_rejects_or_delays() {
    let run = run_twice(&asyncio(), || async {
        let api = Service::named("api", ServiceConfig::new(fixed(secs(1))).queue_limit(2));
        let results = loopsim::gather_return_exceptions((0..4).map(|_| {
            let api = api.clone();
            async move { api.call().await }
        }))
        .await;
        let kinds: Vec<String> = results
            .iter()
            .map(|r| match r {
                Ok(()) => "ok".to_string(),
                Err(e) => e.kind().to_string(),
            })
            .collect();
        print(kinds.join(" "));
    });
    assert_eq!(timed(&run), ["3s ok ok ok ServiceUnavailable"]);

    let limited = |on_excess| {
        move || async move {
            let limit = RateLimit {
                per_second: 2.0,
                burst: 2,
                on_excess,
            };
            let api = Service::named(
                "api",
                ServiceConfig::new(fixed(ms(10)))
                    .capacity(10)
                    .rate_limit(limit),
            );
            let results = loopsim::gather_return_exceptions((0..4).map(|_| {
                let api = api.clone();
                async move { api.call().await }
            }))
            .await;
            let ok = results.iter().filter(|r| r.is_ok()).count();
            let rejected = results
                .iter()
                .filter(|r| matches!(r, Err(e) if e.kind() == "TooManyRequests"))
                .count();
            print(format!("{ok} ok, {rejected} rate limited"));
        }
    };
    let run = run_twice(&asyncio(), limited(OnExcess::Reject));
    assert_eq!(timed(&run), ["10ms 2 ok, 2 rate limited"]);
    let run = run_twice(&asyncio(), limited(OnExcess::Delay));
    assert_eq!(
        timed(&run),
        ["1.01s 4 ok, 0 rate limited"],
        "tokens at 0.5 s and 1 s"
    );
}

#[test]
fn slowdown_makes_unbounded_concurrency_slower_per_request() {
    let run = run_twice(&asyncio(), || async {
        let api = Service::named(
            "api",
            ServiceConfig::new(fixed(secs(1)))
                .capacity(100)
                .slowdown(0.1),
        );
        ten_calls(api).await
    });
    // The tenth starts with nine in service: 1 s × (1 + 0.9).
    assert_eq!(run.elapsed(), ms(1900));
}

#[test]
fn errors_come_from_the_services_own_stream() {
    let outcome = |seed: u64, with_other: bool| {
        let sim = Sim::builder().seed(seed).build();
        let run = run_twice(&sim, move || async move {
            let api = Service::named(
                "api",
                ServiceConfig::new(Latency::Uniform(ms(100), ms(900)))
                    .capacity(100)
                    .error_rate(0.3, "ConnectionResetError"),
            );
            if with_other {
                let db = Service::named("db", ServiceConfig::new(Latency::Uniform(ms(1), ms(9))));
                db.call().await.unwrap();
            }
            let results = loopsim::gather_return_exceptions((0..20).map(|_| {
                let api = api.clone();
                async move { api.call().await }
            }))
            .await;
            results
                .iter()
                .map(|r| match r {
                    Ok(()) => '.',
                    Err(e) => {
                        assert_eq!(e.kind(), "ConnectionResetError");
                        'x'
                    }
                })
                .collect::<String>()
        });
        run.value().cloned().unwrap()
    };
    let a = outcome(1, false);
    assert!(a.contains('x') && a.contains('.'), "{a}");
    assert_eq!(
        a,
        outcome(1, true),
        "another service does not shift api's draws"
    );
    assert_ne!(a, outcome(2, false), "another seed, other draws");
}

#[test]
fn to_thread_keeps_the_loop_ticking_where_a_blocking_call_freezes_it() {
    let program = |offload: bool| {
        move || async move {
            let ticker = spawn(async {
                for i in 0..4 {
                    print(format!("tick {i}"));
                    sleep(ms(500)).await;
                }
            });
            if offload {
                to_thread(Work::Io(secs(2))).await.unwrap();
            } else {
                loopsim::block(secs(2));
            }
            print("work done");
            ticker.await.unwrap();
        }
    };
    let run = run_twice(&asyncio(), program(true));
    assert_eq!(
        timed(&run),
        [
            "0s tick 0",
            "500ms tick 1",
            "1s tick 2",
            "1.5s tick 3",
            "2s work done"
        ]
    );
    let run = run_twice(&asyncio(), program(false));
    assert_eq!(
        timed(&run),
        [
            "2s work done",
            "2s tick 0",
            "2.5s tick 1",
            "3s tick 2",
            "3.5s tick 3"
        ]
    );
}

async fn four_jobs(work: Work, pool: Option<ProcessPool>) -> Result<usize, Error> {
    let jobs = (0..4).map(move |_| {
        let pool = pool.clone();
        async move {
            match pool {
                Some(p) => p.run(work).await,
                None => to_thread(work).await,
            }
        }
    });
    gather(jobs).await.map(|v| v.len())
}

#[test]
fn the_gil_serialises_cpu_bound_threads_not_io_bound_ones_and_processes_run_in_parallel() {
    let elapsed = |sim: Sim, work: Work, procs: bool| {
        let run = run_twice(&sim, move || {
            let pool = procs.then(|| ProcessPool::named("processes", 4, ms(50), ms(1)));
            four_jobs(work, pool)
        });
        assert_eq!(run.value(), Some(&Ok(4)));
        run.elapsed()
    };
    let gil = || asyncio();
    let no_gil = || {
        Sim::builder()
            .machine(Machine {
                gil: false,
                ..Machine::default()
            })
            .build()
    };
    assert_eq!(elapsed(gil(), Work::Io(secs(1)), false), secs(1));
    assert_eq!(elapsed(gil(), Work::Cpu(secs(1)), false), secs(4));
    assert_eq!(elapsed(no_gil(), Work::Cpu(secs(1)), false), secs(1));
    assert_eq!(elapsed(gil(), Work::Cpu(secs(1)), true), ms(1051));
}

#[test]
fn cpu_bound_threads_take_turns_at_the_switch_interval() {
    let run = run_twice(&asyncio(), || async {
        let pool = ThreadPool::named("workers", 2);
        let p = pool.clone();
        let a = spawn(async move { p.run(Work::Cpu(ms(12))).await });
        pool.run(Work::Cpu(ms(12))).await.unwrap();
        a.await.unwrap().unwrap();
    });
    let cpu: Vec<(u64, u32, &str)> = phases(&run)
        .into_iter()
        .filter(|(_, _, p)| p.starts_with("cpu") || *p == "finished")
        .collect();
    // Main's job first (its task runs first); they alternate every 5 ms.
    assert_eq!(
        cpu,
        [
            (0, 1, "cpu_taken"),
            (5, 1, "cpu_released"),
            (5, 2, "cpu_taken"),
            (10, 2, "cpu_released"),
            (10, 1, "cpu_taken"),
            (15, 1, "cpu_released"),
            (15, 2, "cpu_taken"),
            (20, 2, "cpu_released"),
            (20, 1, "cpu_taken"),
            (22, 2, "cpu_taken"),
            (22, 1, "finished"),
            (24, 2, "finished"),
        ]
    );
}

#[test]
fn a_pool_is_a_fifo_of_jobs_with_at_most_its_workers_running() {
    let run = run_twice(&asyncio(), || async {
        let pool = ThreadPool::named("pool", 2);
        let jobs = (0..5).map(|_| {
            let pool = pool.clone();
            async move { pool.run(Work::Io(secs(1))).await }
        });
        gather(jobs).await.map(|v| v.len())
    });
    assert_eq!(run.elapsed(), secs(3));
    let started: Vec<(u64, u32)> = run
        .trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Io {
                id,
                phase: IoPhase::Started { worker },
                ..
            } => Some((e.at.as_nanos() / 1_000_000_000 * 10 + u64::from(worker), id)),
            _ => None,
        })
        .collect();
    // (second × 10 + worker, job): FIFO, two at a time, the longest-idle
    // worker first.
    assert_eq!(started, [(0, 1), (1, 2), (10, 3), (11, 4), (20, 5)]);
}

/// The health warnings of each variant of `health_warnings.toml` are the
/// ones CPython gives (run in asyncio's debug mode on the virtual clock):
/// the same kinds, as many of each.
#[test]
fn health_warnings_are_cpythons() {
    warnings_are_cpythons(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sim-scenarios/health_warnings.toml"
    ));
}

/// A `TaskGroup` retrieves the exception of a child that raised (its
/// `_on_task_done` calls `task.exception()`): no "Task exception was never
/// retrieved" for it, as in CPython.
#[test]
fn a_task_group_retrieves_its_childrens_exceptions() {
    warnings_are_cpythons(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/sim-scenarios/task_group_failure.toml"
    ));
}

/// A shield whose outer future was cancelled leaves its inner task's
/// exception unretrieved; `cancel()` of a task that raised retrieves it;
/// a leftover that raises while `asyncio.run` cancels it is reported as
/// unhandled at shutdown: the warnings CPython gives.
#[test]
fn retrieval_and_shutdown_warnings_are_cpythons() {
    warnings_are_cpythons(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scenarios/retrieval_and_shutdown_warnings.toml"
    ));
}

/// A handle's duration is measured in `loop.time()` floats: CPython's
/// slow-callback warnings, to the last bit.
#[test]
fn slow_steps_are_measured_in_floats_as_cpython_does() {
    warnings_are_cpythons(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scenarios/slow_step_measured_in_floats.toml"
    ));
}

/// The health warnings of every variant of the scenario at `path` are those
/// CPython gives with `PYTHONASYNCIODEBUG=1`.
fn warnings_are_cpythons(path: &str) {
    use loopsim::scenario::{self, python::to_python};
    let s = scenario::parse(path, &std::fs::read_to_string(path).unwrap()).unwrap();
    for version in ["3.11.7", "3.12.1", "3.13.0"] {
        let Some(py) = python(version) else {
            eprintln!("python {version} not found, skipped");
            continue;
        };
        for v in &s.variants {
            let program = to_python(&s, &v.name).unwrap();
            let out = std::process::Command::new(&py)
                .arg("-c")
                .arg(&program)
                .env("PYTHONASYNCIODEBUG", "1")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut theirs: Vec<&str> = stderr
                .lines()
                .filter_map(|l| {
                    if l.starts_with("Executing <") && l.contains(" took ") {
                        Some("slow_step")
                    } else if l.contains("was never awaited") && l.contains("RuntimeWarning") {
                        Some("never_awaited")
                    } else if l.starts_with("Task exception was never retrieved") {
                        Some("exception_never_retrieved")
                    } else if l.starts_with("Task was destroyed but it is pending") {
                        Some("pending_at_exit")
                    } else if l.starts_with("unhandled exception during asyncio.run() shutdown") {
                        Some("unhandled_at_shutdown")
                    } else {
                        None
                    }
                })
                .collect();
            let run = scenario::run_variant(&s, &v.name, None, None, true);
            let mut ours: Vec<&str> = run
                .run
                .trace
                .events
                .iter()
                .filter_map(|e| match e.kind {
                    EventKind::Warning { warning } => Some(warning.name()),
                    _ => None,
                })
                .collect();
            theirs.sort();
            ours.sort();
            assert_eq!(ours, theirs, "{} on CPython {version}:\n{stderr}", v.name);
        }
    }
}

/// A thread that starts waiting for the GIL gets it one switch interval
/// later, wherever the holder is in its work; a thread alone on the CPU
/// runs to its end in one go (a million seconds of it is one world event,
/// not 2·10^8 slices).
#[test]
fn a_waiting_thread_gets_the_gil_one_switch_interval_after_it_asked() {
    let run = run_twice(&asyncio(), || async {
        let pool = ThreadPool::named("workers", 2);
        let p = pool.clone();
        let a = spawn(async move { p.run(Work::Cpu(secs(2))).await });
        sleep(ms(1002)).await;
        pool.run(Work::Cpu(ms(10))).await.unwrap();
        print("short job done");
        a.await.unwrap().unwrap();
    });
    let cpu: Vec<(u64, u32, &str)> = phases(&run)
        .into_iter()
        .filter(|(_, _, p)| p.starts_with("cpu"))
        .take(4)
        .collect();
    assert_eq!(
        cpu,
        [
            (0, 1, "cpu_taken"),
            (1007, 1, "cpu_released"),
            (1007, 2, "cpu_taken"),
            (1012, 2, "cpu_released"),
        ]
    );
    assert_eq!(run.elapsed(), ms(2010));
    let run = run_twice(&asyncio(), || async {
        to_thread(Work::Cpu(secs(1_000_000))).await.unwrap();
    });
    assert_eq!(run.elapsed(), secs(1_000_000));
}

/// The README's example, as written there.
#[test]
fn the_readme_example_runs_as_written() {
    let run = Sim::builder().build().run(async {
        // A server that serves 5 requests at once, 1 s each; the rest wait in its FIFO queue.
        let api = Service::named(
            "api",
            ServiceConfig::new(Latency::fixed(Duration::from_secs(1))).capacity(5),
        );
        let calls = (0..10).map(|_| {
            let api = api.clone();
            async move { api.call().await }
        });
        gather(calls).await.unwrap();
        // Blocking work on the default thread pool keeps the loop free.
        to_thread(Work::Io(Duration::from_secs(2))).await.unwrap();
    });
    assert_eq!(run.elapsed(), Duration::from_secs(4)); // 2 rounds of 5, then 2 s in a thread
}
