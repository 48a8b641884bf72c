//! The claims of the tutorials in `shared/seeds/`, replayed under the
//! `asyncio` model. Every run is made twice and its trace compared byte for
//! byte.

use crate::support::*;
use loopsim::{
    Error, SimFuture, block, gather, gather_return_exceptions, now, print, sleep, spawn, wait_for,
};

async fn fetch(name: &'static str, delay: u64) -> Result<&'static str, Error> {
    print(format!("{name} start"));
    sleep(secs(delay)).await;
    print(format!("{name} done"));
    Ok(name)
}

#[test]
fn two_fetches_awaited_in_sequence_take_the_sum() {
    let run = run_twice(&asyncio(), || async {
        let a = fetch("A", 3).await?;
        let b = fetch("B", 2).await?;
        Ok::<_, Error>(vec![a, b])
    });
    assert_eq!(run.elapsed(), secs(5));
    assert_eq!(
        run.output_lines(),
        ["A start", "A done", "B start", "B done"]
    );
}

#[test]
fn gather_takes_the_slowest_not_the_sum() {
    let run = run_twice(&asyncio(), || async {
        gather(vec![fetch("A", 3), fetch("B", 2)]).await
    });
    assert_eq!(run.elapsed(), secs(3));
    assert_eq!(
        run.output_lines(),
        ["A start", "B start", "B done", "A done"]
    );
    assert_eq!(
        run.value(),
        Some(&Ok(vec!["A", "B"])),
        "results in argument order"
    );
    assert_eq!(
        timed(&run),
        ["0s A start", "0s B start", "2s B done", "3s A done"]
    );
}

async fn coro_a() {
    print("A");
}

async fn coro_b() {
    print("B (hopefully nobody is hogging the event loop...)");
}

#[test]
fn awaiting_a_coroutine_does_not_yield_to_the_loop() {
    let run = run_twice(&asyncio(), || async {
        let task_b = spawn(coro_b());
        for _ in 0..3 {
            coro_a().await;
        }
        task_b.await.unwrap();
    });
    let first: Vec<_> = run.output_lines().iter().map(|l| &l[..1]).collect();
    assert_eq!(first.join(" "), "A A A B");
}

#[test]
fn awaiting_a_task_yields_to_the_loop() {
    let run = run_twice(&asyncio(), || async {
        let task_b = spawn(coro_b());
        for _ in 0..3 {
            spawn(coro_a()).await.unwrap();
        }
        task_b.await.unwrap();
    });
    let first: Vec<_> = run.output_lines().iter().map(|l| &l[..1]).collect();
    assert_eq!(first.join(" "), "B A A A");
}

async fn request(i: u32) -> Result<u32, Error> {
    sleep(secs(1)).await;
    Ok(i)
}

#[test]
fn ten_one_second_requests_take_ten_seconds_in_sequence() {
    let run = run_twice(&asyncio(), || async {
        for i in 0..10 {
            request(i).await.unwrap();
        }
    });
    assert_eq!(run.elapsed(), secs(10));
}

#[test]
fn ten_one_second_requests_take_one_second_concurrently() {
    let run = run_twice(&asyncio(), || async { gather((0..10).map(request)).await });
    assert_eq!(run.elapsed(), secs(1));
    assert_eq!(run.value(), Some(&Ok((0..10).collect::<Vec<_>>())));
}

#[test]
fn wait_for_gives_up_at_exactly_the_timeout() {
    for sim in [asyncio(), asyncio_311()] {
        let run = run_twice(&sim, || async {
            let slow = spawn(async {
                sleep(secs(5)).await;
                "finished"
            });
            let r = wait_for(slow, secs(2)).await;
            print(format!("{r:?} at {}", now()));
            r
        });
        assert_eq!(run.value(), Some(&Err(Error::Timeout)));
        assert_eq!(run.elapsed(), secs(2));
        assert_eq!(run.output_lines(), ["Err(Timeout) at 2s"]);
    }
}

#[test]
fn a_blocking_call_delays_another_tasks_sleep() {
    let run = run_twice(&asyncio(), || async {
        let sleeper = spawn(async {
            sleep(secs(1)).await;
            print(format!("sleeper woke at {}", now()));
        });
        let blocker = spawn(async {
            block(secs(2)); // time.sleep(2) inside a coroutine
            print(format!("blocker done at {}", now()));
        });
        sleeper.await.unwrap();
        blocker.await.unwrap();
    });
    assert_eq!(
        run.output_lines(),
        ["blocker done at 2s", "sleeper woke at 2s"]
    );
}

async fn job(name: &'static str, delay: u64, fail: bool) -> Result<&'static str, Error> {
    sleep(secs(delay)).await;
    if fail {
        print(format!("{name} raises at {}", now()));
        return Err(Error::raised("ValueError", format!("{name} failed")));
    }
    print(format!("{name} finished at {}", now()));
    Ok(name)
}

#[test]
fn gather_fails_fast_and_the_siblings_keep_running() {
    let run = run_twice(&asyncio(), || async {
        let r = gather(vec![
            job("a", 2, false),
            job("b", 1, true),
            job("c", 3, false),
        ])
        .await;
        print(format!("caller got {r:?} at {}", now()));
        sleep(secs(5)).await;
        r
    });
    assert_eq!(
        run.output_lines(),
        [
            "b raises at 1s",
            "caller got Err(Raised { kind: \"ValueError\", message: \"b failed\" }) at 1s",
            "a finished at 2s",
            "c finished at 3s",
        ]
    );
}

#[test]
fn gather_with_return_exceptions_returns_results_and_the_error() {
    let run = run_twice(&asyncio(), || async {
        gather_return_exceptions(vec![
            job("a", 2, false),
            job("b", 1, true),
            job("c", 3, false),
        ])
        .await
    });
    assert_eq!(run.elapsed(), secs(3));
    assert_eq!(
        run.value(),
        Some(&vec![
            Ok("a"),
            Err(Error::raised("ValueError", "b failed")),
            Ok("c")
        ])
    );
}

#[test]
fn a_future_set_by_call_later_is_awaited_at_exactly_one_second() {
    let run = run_twice(&asyncio(), || async {
        let fut = SimFuture::new();
        let f = fut.clone();
        loopsim::call_later(secs(1), move || f.set_result("hello").unwrap());
        let v = fut.await.unwrap();
        print(format!("{v} at {}", now()));
    });
    assert_eq!(run.output_lines(), ["hello at 1s"]);
    assert_eq!(run.elapsed(), secs(1));
}

fn wake_order(sim: &loopsim::Sim, n: u32) -> Vec<u32> {
    let run = run_twice(sim, || async move {
        let tasks = (0..n).map(|i| async move {
            sleep(ms(10)).await;
            print(i);
            Ok::<_, Error>(())
        });
        gather(tasks).await.unwrap();
    });
    run.output_lines()
        .iter()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn equal_deadlines_wake_in_heap_order_under_asyncio() {
    // Checked against CPython 3.11 and 3.12 under a virtual clock
    // (tools/vclock.py; see the fidelity module).
    assert_eq!(wake_order(&asyncio(), 5), [0, 2, 4, 1, 3]);
    assert_eq!(wake_order(&asyncio(), 8), [0, 2, 6, 5, 7, 4, 1, 3]);
    assert_eq!(wake_order(&asyncio(), 10), [0, 2, 6, 9, 8, 5, 7, 4, 1, 3]);
}

#[test]
fn equal_deadlines_wake_in_creation_order_under_fifo() {
    for n in [5, 8, 10] {
        assert_eq!(wake_order(&fifo(), n), (0..n).collect::<Vec<_>>());
    }
}

#[test]
fn float_deadlines_make_point_one_plus_point_two_later_than_point_three() {
    let run = run_twice(&asyncio(), || async {
        let a = spawn(async {
            sleep(ms(100)).await;
            sleep(ms(200)).await;
            print("0.1+0.2");
        });
        let b = spawn(async {
            sleep(ms(300)).await;
            print("0.3");
        });
        a.await.unwrap();
        b.await.unwrap();
    });
    assert_eq!(run.output_lines(), ["0.3", "0.1+0.2"]);
}
