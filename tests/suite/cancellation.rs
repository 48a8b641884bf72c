//! Cancellation and timeouts follow asyncio's timing.

use crate::support::*;
use loopsim::trace::{EventKind, StepEnd};
use loopsim::{Error, Outcome, catch_cancel, now, print, sleep, spawn, timeout, yield_now};

#[test]
fn a_task_cancelled_before_its_first_step_never_runs_its_body() {
    let run = run_twice(&asyncio(), || async {
        let h = spawn(async { print("body ran") });
        assert!(h.cancel());
        let r = catch_cancel(h).await;
        print(format!("{r:?}"));
    });
    assert_eq!(run.output_lines(), ["Err(Cancelled)"]);
}

#[test]
fn cancelling_a_sleeping_task_drops_its_future_at_the_next_iteration() {
    struct Noisy;
    impl Drop for Noisy {
        fn drop(&mut self) {
            print(format!("dropped at {}", now()));
        }
    }
    let run = run_twice(&asyncio(), || async {
        let h = spawn(async {
            let _n = Noisy;
            sleep(secs(10)).await;
            print("woke");
        });
        sleep(secs(1)).await;
        h.cancel();
        let r = catch_cancel(h).await;
        print(format!("awaiter saw {r:?}"));
    });
    assert_eq!(
        run.output_lines(),
        ["dropped at 1s", "awaiter saw Err(Cancelled)"]
    );
    assert_eq!(run.elapsed(), secs(1));
}

#[test]
fn cancellation_can_be_caught_and_the_task_goes_on() {
    let run = run_twice(&asyncio(), || async {
        let h = spawn(async {
            if catch_cancel(sleep(secs(10))).await.is_err() {
                print(format!("caught at {}", now()));
            }
            sleep(secs(1)).await;
            "finished anyway"
        });
        sleep(secs(1)).await;
        h.cancel();
        h.await
    });
    assert_eq!(run.value(), Some(&Ok("finished anyway")));
    assert_eq!(run.elapsed(), secs(2));
}

#[test]
fn awaiting_a_cancelled_task_cancels_the_awaiter() {
    let run = run_twice(&asyncio(), || async {
        let inner = spawn(sleep(secs(10)));
        let outer = spawn(async move {
            let _ = inner.await;
            print("not reached");
        });
        sleep(secs(1)).await;
        outer.cancel(); // forwarded to `inner`, which ends cancelled
        let r = catch_cancel(outer).await;
        print(format!("{r:?}"));
    });
    assert_eq!(run.output_lines(), ["Err(Cancelled)"]);
}

#[test]
fn timeout_raises_one_iteration_after_its_timer() {
    let run = run_twice(&asyncio(), || async {
        let r = timeout(secs(2), sleep(secs(5))).await;
        print(format!("{r:?} at {}", now()));
    });
    assert_eq!(run.output_lines(), ["Err(Timeout) at 2s"]);
    let timer = iteration_of(&run, |k| {
        matches!(k, EventKind::CallbackRun { timer: true, .. })
    });
    let raised = iteration_of(&run, |k| matches!(k, EventKind::Output { .. }));
    assert_eq!(raised, timer + 1);
}

#[test]
fn wait_for_under_311_raises_four_iterations_after_its_timer() {
    let run = run_twice(&asyncio_311(), || async {
        let r = loopsim::wait_for(sleep(secs(5)), secs(2)).await;
        print(format!("{r:?} at {}", now()));
    });
    assert_eq!(run.output_lines(), ["Err(Timeout) at 2s"]);
    let timer = iteration_of(&run, |k| {
        matches!(k, EventKind::CallbackRun { timer: true, .. })
    });
    let raised = iteration_of(&run, |k| matches!(k, EventKind::Output { .. }));
    assert_eq!(raised, timer + 4);
}

#[test]
fn wait_for_loses_an_exact_tie_with_its_inner_sleep() {
    // Both timers are due at 2 s; the wait_for timer was pushed first and
    // pops first, so the cancellation wins.
    let run = run_twice(&asyncio(), || async {
        loopsim::wait_for(sleep(secs(2)), secs(2)).await
    });
    assert_eq!(run.value(), Some(&Err(Error::Timeout)));
}

#[test]
fn an_outside_cancel_passes_through_a_timeout() {
    let run = run_twice(&asyncio(), || async {
        let h = spawn(async { timeout(secs(5), sleep(secs(10))).await });
        sleep(secs(1)).await;
        h.cancel();
        catch_cancel(h).await.map(|_| ())
    });
    assert_eq!(run.value(), Some(&Err(Error::Cancelled)));
}

#[test]
fn a_task_that_cancels_itself_ends_cancelled() {
    let run = run_twice(&asyncio(), || async {
        let h = spawn(async {
            loopsim::current_task().cancel();
            yield_now().await;
            print("not reached");
        });
        catch_cancel(h).await.map(|_| ())
    });
    assert_eq!(run.value(), Some(&Err(Error::Cancelled)));
    assert!(run.output.is_empty());
}

#[test]
fn a_cancelled_main_task_fails_the_run() {
    let run = asyncio().run(async {
        loopsim::current_task().cancel();
        sleep(secs(1)).await;
    });
    assert!(
        matches!(run.outcome, Outcome::Failed(Error::Cancelled)),
        "{:?}",
        run.outcome
    );
    let cancelled = run.trace.events.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::StepEnded {
                end: StepEnd::Cancelled
            }
        )
    });
    assert!(cancelled);
}

fn iteration_of(run: &loopsim::Run<impl Sized>, pred: impl Fn(&EventKind) -> bool) -> u64 {
    run.trace
        .events
        .iter()
        .find(|e| pred(&e.kind))
        .map(|e| e.iteration)
        .expect("event present")
}
