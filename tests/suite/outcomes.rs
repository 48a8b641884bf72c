//! Runs end as values: completed, failed, deadlocked, limit exceeded.

use crate::support::*;
use loopsim::sync::Event;
use loopsim::{
    Error, LimitKind, Limits, Outcome, Sim, print, sleep, spawn, spawn_named, yield_now,
};

#[test]
fn two_tasks_waiting_on_each_others_event_deadlock_and_are_named() {
    let run = run_twice(&asyncio(), || async {
        let (ea, eb) = (Event::named("a-ready"), Event::named("b-ready"));
        let a = {
            let (ea, eb) = (ea.clone(), eb.clone());
            spawn_named("alice", async move {
                eb.wait().await;
                ea.set();
            })
        };
        let b = spawn_named("bob", async move {
            ea.wait().await;
            eb.set();
        });
        a.await.unwrap();
        b.await.unwrap();
    });
    let Outcome::Deadlock { stuck, cycle } = &run.outcome else {
        panic!("expected a deadlock, got {:?}", run.outcome)
    };
    let described: Vec<String> = stuck.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        described,
        [
            "Task-1 waits on task alice",
            "alice waits on Event 'b-ready': not set",
            "bob waits on Event 'a-ready': not set"
        ]
    );
    assert!(cycle.is_empty(), "events have no holders: {cycle:?}");
}

#[test]
fn a_panic_in_a_task_becomes_that_tasks_error() {
    let run = run_twice(&asyncio(), || async {
        let h = spawn(async {
            sleep(secs(1)).await;
            if loopsim::now() > loopsim::Instant::ZERO {
                panic!("boom");
            }
        });
        let r = h.await;
        print(format!("{r:?}"));
        "main survived"
    });
    assert_eq!(run.value(), Some(&"main survived"));
    assert_eq!(run.output_lines(), ["Err(Panic(\"boom\"))"]);
}

#[test]
fn a_panicking_main_task_fails_the_run() {
    let run = asyncio().run(async {
        if loopsim::now() == loopsim::Instant::ZERO {
            panic!("main broke");
        }
    });
    assert!(matches!(&run.outcome, Outcome::Failed(Error::Panic(m)) if m == "main broke"));
}

#[test]
fn a_task_that_yields_for_ever_hits_the_step_limit() {
    let sim = Sim::builder()
        .limits(Limits {
            max_steps: 1000,
            ..Limits::default()
        })
        .build();
    let run = sim.run(async {
        loop {
            yield_now().await;
        }
    });
    assert!(
        matches!(
            run.outcome,
            Outcome::LimitExceeded {
                limit: LimitKind::Steps,
                steps: 1000,
                ..
            }
        ),
        "{:?}",
        run.outcome
    );
}

#[test]
fn a_program_that_sleeps_past_the_time_limit_stops_there() {
    let sim = Sim::builder()
        .limits(Limits {
            max_time: secs(60),
            ..Limits::default()
        })
        .build();
    let run = sim.run(async {
        loop {
            sleep(secs(7)).await;
        }
    });
    let Outcome::LimitExceeded { limit, at, .. } = run.outcome else {
        panic!("{:?}", run.outcome)
    };
    assert_eq!(limit, LimitKind::Time);
    // 9 sleeps of 7 s: the ninth would end at 63 s, past the 60 s limit.
    assert_eq!(at.to_string(), "63s");
}

#[test]
fn spawning_past_the_task_limit_stops_the_run() {
    let sim = Sim::builder()
        .limits(Limits {
            max_tasks: 10,
            ..Limits::default()
        })
        .build();
    let run = sim.run(async {
        loop {
            spawn(async {});
            yield_now().await;
        }
    });
    assert!(matches!(
        run.outcome,
        Outcome::LimitExceeded {
            limit: LimitKind::Tasks,
            ..
        }
    ));
}

#[test]
fn leftover_tasks_are_cancelled_when_main_returns() {
    let run = run_twice(&asyncio(), || async {
        spawn(async {
            if loopsim::catch_cancel(sleep(secs(100))).await.is_err() {
                print("cleanup at shutdown");
            }
        });
        sleep(secs(1)).await;
        "main done"
    });
    assert_eq!(run.value(), Some(&"main done"));
    assert_eq!(run.output_lines(), ["cleanup at shutdown"]);
    assert_eq!(run.elapsed(), secs(1));
    assert!(run.pending_at_exit.is_empty());
}

/// CPython's `asyncio.run` waits for the cancelled leftovers to end; a
/// leftover that catches the cancellation and then waits on what nobody will
/// ever set keeps it waiting for ever: that run is a deadlock, not a
/// completion, even though main returned.
#[test]
fn a_shutdown_that_cannot_finish_is_a_deadlock() {
    let run = run_twice(&asyncio(), || async {
        let never = Event::named("never");
        spawn_named("stubborn", async move {
            if loopsim::catch_cancel(sleep(secs(100))).await.is_err() {
                print("cancelled at shutdown, waiting on");
                never.wait().await;
            }
        });
        sleep(secs(1)).await;
        "main done"
    });
    let Outcome::Deadlock { stuck, .. } = &run.outcome else {
        panic!("expected a deadlock, got {:?}", run.outcome)
    };
    assert_eq!(run.output_lines(), ["cancelled at shutdown, waiting on"]);
    let described: Vec<String> = stuck.iter().map(|s| s.to_string()).collect();
    assert_eq!(described, ["stubborn waits on Event 'never': not set"]);
    assert_eq!(run.pending_at_exit.len(), 1);
    assert!(run.main_done_at.is_some());
}

#[test]
#[should_panic(expected = "used outside a running simulation")]
fn using_the_api_outside_a_simulation_fails_with_a_clear_message() {
    let _ = loopsim::now();
}

#[test]
fn nesting_runs_fails_the_outer_task_with_a_clear_message() {
    let run = asyncio().run(async {
        asyncio().run(async {});
    });
    assert!(
        matches!(&run.outcome, Outcome::Failed(Error::Panic(m)) if m.contains("cannot be nested")),
        "{:?}",
        run.outcome
    );
}

#[test]
fn step_overhead_adds_virtual_time_to_every_task_step() {
    // "One second plus overhead": each of main's steps costs 10 ms.
    let sim = Sim::builder().step_overhead(ms(10)).build();
    let run = sim.run(async {
        sleep(secs(1)).await; // two steps of main: before and after the sleep
    });
    // The sleep is scheduled during the first step (deadline 1 s), which
    // ends at 10 ms; the second step starts at 1 s and ends at 1.01 s.
    assert_eq!(run.elapsed(), secs(1) + ms(10));
    let ends: Vec<u64> = run
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, loopsim::trace::EventKind::StepEnded { .. }))
        .map(|e| e.at.as_nanos())
        .collect();
    assert_eq!(ends, [10_000_000, 1_010_000_000]);
}
