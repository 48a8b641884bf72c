//! Synchronisation primitives follow asyncio's exact wake-up rules.

use crate::support::*;
use loopsim::sync::{BoundedSemaphore, Condition, Event, Lock, Queue, QueueKind, Semaphore};
use loopsim::{now, print, sleep, spawn, yield_now};

fn queue_scenario(with_sleep0: bool) -> Vec<String> {
    let run = run_twice(&asyncio(), move || async move {
        let q: Queue<&'static str> = Queue::new(0);
        let getters: Vec<_> = ["g1", "g2", "g3"]
            .into_iter()
            .map(|name| {
                let q = q.clone();
                spawn(async move {
                    let item = q.get().await;
                    print(format!("{name}<-{item}"));
                })
            })
            .collect();
        yield_now().await; // let the three getters start waiting
        q.put_nowait("x").unwrap();
        assert_eq!(q.get_nowait().unwrap(), "x");
        if with_sleep0 {
            yield_now().await;
        }
        for item in ["a", "b", "c"] {
            q.put_nowait(item).unwrap();
        }
        for g in getters {
            g.await.unwrap();
        }
    });
    run.output_lines().into_iter().map(String::from).collect()
}

#[test]
fn a_woken_queue_getter_that_lost_its_item_requeues_at_the_tail() {
    assert_eq!(queue_scenario(true), ["g2<-a", "g3<-b", "g1<-c"]);
}

#[test]
fn without_the_yield_the_woken_getter_finds_the_next_item() {
    assert_eq!(queue_scenario(false), ["g1<-a", "g2<-b", "g3<-c"]);
}

#[test]
fn semaphore_hands_permits_first_come_first_served() {
    let run = run_twice(&asyncio(), || async {
        let sem = Semaphore::named("pool", 2);
        let hs: Vec<_> = (0..6)
            .map(|i| {
                let sem = sem.clone();
                spawn(async move {
                    let _p = sem.acquire().await;
                    print(format!("{i} in at {}", now()));
                    sleep(secs(1)).await;
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(
        timed(&run),
        [
            "0s 0 in at 0s",
            "0s 1 in at 0s",
            "1s 2 in at 1s",
            "1s 3 in at 1s",
            "2s 4 in at 2s",
            "2s 5 in at 2s"
        ]
    );
    assert_eq!(run.elapsed(), secs(3));
}

#[test]
fn a_released_semaphore_permit_cannot_be_barged() {
    // t1 holds the only permit; t2 waits; t1 releases and, in the same
    // step, a newcomer t3 tries to acquire: the permit already belongs to t2.
    let run = run_twice(&asyncio(), || async {
        let sem = Semaphore::new(1);
        let s1 = sem.clone();
        let p = sem.acquire().await;
        let t2 = spawn(async move {
            let _p = s1.acquire().await;
            print("t2 got it");
        });
        yield_now().await;
        drop(p);
        assert!(sem.locked(), "handed to t2, not free");
        let s3 = sem.clone();
        let t3 = spawn(async move {
            let _p = s3.acquire().await;
            print("t3 got it");
        });
        t2.await.unwrap();
        t3.await.unwrap();
    });
    assert_eq!(run.output_lines(), ["t2 got it", "t3 got it"]);
}

#[test]
fn bounded_semaphore_refuses_an_extra_release() {
    let run = run_twice(&asyncio(), || async {
        let s = BoundedSemaphore::new(1);
        s.release()
    });
    assert_eq!(
        run.value().unwrap().as_ref().unwrap_err().kind(),
        "ValueError"
    );
}

#[test]
fn lock_hands_over_in_fifo_order_one_iteration_each() {
    let run = run_twice(&asyncio(), || async {
        let lock = Lock::new();
        let g = lock.acquire().await;
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let lock = lock.clone();
                spawn(async move {
                    let _g = lock.acquire().await;
                    print(format!("w{i}"));
                })
            })
            .collect();
        yield_now().await;
        drop(g);
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(run.output_lines(), ["w0", "w1", "w2"]);
    // Each hand-over costs iterations: the last waiter runs later than the first.
    let iters: Vec<u64> = run
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, loopsim::trace::EventKind::Output { .. }))
        .map(|e| e.iteration)
        .collect();
    assert!(
        iters.windows(2).all(|w| w[1] > w[0]),
        "one hand-over per iteration: {iters:?}"
    );
}

#[test]
fn event_set_wakes_every_waiter_in_order() {
    let run = run_twice(&asyncio(), || async {
        let ev = Event::named("go");
        let hs: Vec<_> = (0..3)
            .map(|i| {
                let ev = ev.clone();
                spawn(async move {
                    ev.wait().await;
                    print(format!("{i} at {}", now()));
                })
            })
            .collect();
        sleep(secs(1)).await;
        ev.set();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(run.output_lines(), ["0 at 1s", "1 at 1s", "2 at 1s"]);
}

#[test]
fn condition_notify_wakes_waiters_one_at_a_time() {
    let run = run_twice(&asyncio(), || async {
        let cond = Condition::new();
        let hs: Vec<_> = (0..2)
            .map(|i| {
                let c = cond.clone();
                spawn(async move {
                    let g = c.acquire().await;
                    let _g = g.wait().await;
                    print(format!("{i} at {}", now()));
                })
            })
            .collect();
        sleep(secs(1)).await;
        cond.acquire().await.notify(1);
        sleep(secs(1)).await;
        cond.acquire().await.notify_all();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(run.output_lines(), ["0 at 1s", "1 at 2s"]);
}

#[test]
fn bounded_queue_blocks_the_producer() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::new(2);
        let consumer = {
            let q = q.clone();
            spawn(async move {
                for _ in 0..4 {
                    sleep(secs(1)).await;
                    let x = q.get().await;
                    print(format!("got {x} at {}", now()));
                    q.task_done().unwrap();
                }
            })
        };
        for i in 0..4 {
            q.put(i).await;
            print(format!("put {i} at {}", now()));
        }
        q.join().await;
        consumer.await.unwrap();
    });
    assert_eq!(
        run.output_lines(),
        [
            "put 0 at 0s",
            "put 1 at 0s",
            "got 0 at 1s",
            "put 2 at 1s",
            "got 1 at 2s",
            "put 3 at 2s",
            "got 2 at 3s",
            "got 3 at 4s"
        ]
    );
}

#[test]
fn lifo_and_priority_queues_order_items() {
    let run = run_twice(&asyncio(), || async {
        let lifo: Queue<u32> = Queue::with_kind("lifo", QueueKind::Lifo, 0);
        let prio: Queue<u32> = Queue::with_kind("prio", QueueKind::Priority, 0);
        for x in [3, 1, 2] {
            lifo.put_nowait(x).unwrap();
            prio.put_nowait(x).unwrap();
        }
        let a: Vec<u32> = (0..3).map(|_| lifo.get_nowait().unwrap()).collect();
        let b: Vec<u32> = (0..3).map(|_| prio.get_nowait().unwrap()).collect();
        (a, b)
    });
    assert_eq!(run.value(), Some(&(vec![2, 1, 3], vec![1, 2, 3])));
}

/// Starts `wait` (one poll, with its task's waker), sleeps `d` while the
/// wait may be woken, then drops it unpolled: a `select` whose other branch
/// won in the iteration after the wait's wake-up. Whether the first poll
/// finished the wait.
async fn start_then_drop<F: std::future::Future>(wait: F, d: std::time::Duration) -> bool {
    let mut wait = Box::pin(wait);
    let first =
        std::future::poll_fn(|cx| std::task::Poll::Ready(wait.as_mut().poll(cx).is_ready())).await;
    sleep(d).await;
    first
}

/// A wait woken and then dropped passes its wake-up on, as asyncio's
/// `except CancelledError:` clause does for a wait cancelled then: `b`, the
/// next waiter, gets what `a` was woken for once `a` gives it up at 2 s.
/// Before, the wake-up was lost and `b` waited for ever (a deadlock).
#[test]
fn a_woken_queue_get_dropped_before_it_runs_passes_the_item_on() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::new(0);
        let a = {
            let q = q.clone();
            spawn(async move { assert!(!start_then_drop(q.get(), secs(2)).await) })
        };
        let b = {
            let q = q.clone();
            spawn(async move { print(format!("b got {} at {}", q.get().await, now())) })
        };
        sleep(secs(1)).await;
        q.put_nowait(7).unwrap();
        a.await.unwrap();
        b.await.unwrap();
    });
    assert!(run.is_completed(), "{:?}", run.outcome);
    assert_eq!(run.output_lines(), ["b got 7 at 2s"]);
}

#[test]
fn a_woken_queue_put_dropped_before_it_runs_passes_the_slot_on() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::new(1);
        q.put_nowait(0).unwrap();
        let a = {
            let q = q.clone();
            spawn(async move { assert!(!start_then_drop(q.put(1), secs(2)).await) })
        };
        let b = {
            let q = q.clone();
            spawn(async move {
                q.put(2).await;
                print(format!("b put at {}", now()));
            })
        };
        sleep(secs(1)).await;
        assert_eq!(q.get_nowait().unwrap(), 0);
        a.await.unwrap();
        b.await.unwrap();
        print(format!("then {}", q.get_nowait().unwrap()));
    });
    assert!(run.is_completed(), "{:?}", run.outcome);
    assert_eq!(run.output_lines(), ["b put at 2s", "then 2"]);
}

/// A `Lock` or a `Semaphore(1)`, to the tests of a dropped acquire.
trait Acquire: Clone + 'static {
    type Held: 'static;
    fn take(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Self::Held> + '_>>;
    /// Nobody holds it.
    fn free(&self) -> bool;
}

impl Acquire for Lock {
    type Held = loopsim::sync::LockGuard;
    fn take(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Self::Held> + '_>> {
        Box::pin(self.acquire())
    }
    fn free(&self) -> bool {
        !self.locked()
    }
}

impl Acquire for Semaphore {
    type Held = loopsim::sync::SemaphorePermit;
    fn take(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = Self::Held> + '_>> {
        Box::pin(self.acquire())
    }
    fn free(&self) -> bool {
        !self.locked()
    }
}

/// Main holds `it`; `a` waits to acquire it, is handed it at 1 s and
/// drops its wait unrun at 2 s; `b`, queued behind `a`, must get it then.
/// What `b` printed.
fn handed_on_after_a_dropped_acquire<P: Acquire>(sim: &loopsim::Sim, it: fn() -> P) -> Vec<String> {
    let run = run_twice(sim, move || async move {
        let it = it();
        let held = it.take().await;
        let a = {
            let it = it.clone();
            spawn(async move { assert!(!start_then_drop(it.take(), secs(2)).await) })
        };
        let b = {
            let it = it.clone();
            spawn(async move {
                let _held = it.take().await;
                print(format!("b has it at {}", now()));
            })
        };
        sleep(secs(1)).await;
        drop(held);
        a.await.unwrap();
        b.await.unwrap();
        assert!(it.free(), "given back");
    });
    assert!(run.is_completed(), "{:?}", run.outcome);
    run.output_lines().into_iter().map(String::from).collect()
}

#[test]
fn a_woken_lock_acquire_dropped_before_it_runs_hands_the_lock_on() {
    assert_eq!(
        handed_on_after_a_dropped_acquire(&asyncio(), || Lock::named("l")),
        ["b has it at 2s"]
    );
}

#[test]
fn a_woken_semaphore_acquire_dropped_before_it_runs_gives_the_permit_back() {
    for python in ["3.11", "3.13"] {
        let sim = loopsim::Sim::builder()
            .python(python.parse().unwrap())
            .build();
        assert_eq!(
            handed_on_after_a_dropped_acquire(&sim, || Semaphore::new(1)),
            ["b has it at 2s"],
            "{python}"
        );
    }
}

/// Under 3.13 (gh-112202) a notified `Condition` wait that leaves passes
/// its notification on; dropped, it does the same. `a` waits and gives its
/// wait up as `give_up` says; main notifies one waiter at 1 s and holds the
/// lock `hold` longer; `b`, waiting behind `a`, must be notified. What `b`
/// printed.
fn notified_behind_a_dropped_wait(
    give_up: fn(
        loopsim::sync::ConditionGuard,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    hold: std::time::Duration,
) -> Vec<String> {
    let sim = loopsim::Sim::builder()
        .python("3.13".parse().unwrap())
        .build();
    let run = run_twice(&sim, move || async move {
        let cond = Condition::new();
        let a = {
            let cond = cond.clone();
            spawn(async move { give_up(cond.acquire().await).await })
        };
        let b = {
            let cond = cond.clone();
            spawn(async move {
                let g = cond.acquire().await;
                let _g = g.wait().await;
                print(format!("b notified by {}", now()));
            })
        };
        sleep(secs(1)).await;
        let g = cond.acquire().await;
        g.notify(1);
        if !hold.is_zero() {
            sleep(hold).await;
        }
        drop(g);
        a.await.unwrap();
        b.await.unwrap();
    });
    assert!(run.is_completed(), "{:?}", run.outcome);
    run.output_lines().into_iter().map(String::from).collect()
}

/// `a`'s wait, notified at 1 s, is dropped unrun at 2 s.
#[test]
fn a_notified_condition_wait_dropped_before_it_runs_passes_the_notification_on_in_313() {
    let give_up = |g: loopsim::sync::ConditionGuard| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        Box::pin(async move { assert!(!start_then_drop(g.wait(), secs(2)).await) })
    };
    assert_eq!(
        notified_behind_a_dropped_wait(give_up, std::time::Duration::ZERO),
        ["b notified by 2s"]
    );
}

/// A run that stops at a limit drops its unfinished tasks' futures; their
/// clean-up (a held lock released, a woken wait passing its wake-up on)
/// wakes nobody and records nothing. Before, the holder's guard, dropped,
/// woke the waiter, and the trace had a `Woken` the run never did, between
/// its end-of-run warnings and `RunEnded`.
#[test]
fn the_clean_up_of_a_stopped_runs_leftovers_leaves_no_trace() {
    let sim = loopsim::Sim::builder()
        .limits(loopsim::Limits {
            max_time: secs(5),
            ..Default::default()
        })
        .build();
    let run = run_twice(&sim, || async {
        let lock = Lock::named("l");
        let holder = {
            let lock = lock.clone();
            spawn(async move {
                let _g = lock.acquire().await;
                sleep(secs(10)).await;
            })
        };
        let waiter = {
            let lock = lock.clone();
            spawn(async move { drop(lock.acquire().await) })
        };
        holder.await.unwrap();
        waiter.await.unwrap();
    });
    assert!(!run.is_completed(), "stopped by the time limit");
    let woken = run
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, loopsim::trace::EventKind::Woken { .. }))
        .count();
    assert_eq!(woken, 0, "nothing was woken: {:#?}", run.trace.events);
}

/// `a`'s wait is polled at every wake-up: notified at 1 s, it waits for
/// the lock main still holds, and is dropped at 2 s. Under 3.13 the whole
/// of `wait()` is in `except BaseException: self._notify(1)`, the
/// re-acquire too.
#[test]
fn a_condition_wait_dropped_while_it_reacquires_passes_the_notification_on_in_313() {
    let give_up = |g: loopsim::sync::ConditionGuard| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        Box::pin(async move {
            let wait = Box::pin(g.wait());
            let timeout = Box::pin(sleep(secs(2)));
            match futures::future::select(wait, timeout).await {
                futures::future::Either::Left(_) => panic!("a has the lock before 2 s"),
                futures::future::Either::Right(_) => {}
            }
        })
    };
    assert_eq!(
        notified_behind_a_dropped_wait(give_up, secs(3)),
        ["b notified by 4s"]
    );
}

/// A wait whose waiter was answered, polled in the same step right after
/// a sibling of a `select` raised a cancellation at the task (the task it
/// awaits ended cancelled): the wait, the task's innermost catcher, takes
/// the cancellation as before; its item stays in the queue for the next
/// getter, and the task ends cancelled.
#[test]
fn an_answered_wait_polled_after_a_cancellation_was_raised_still_catches_it() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::new(0);
        let doomed = spawn(async { sleep(secs(1)).await });
        let doomed_ref = doomed.task();
        let x = {
            let q = q.clone();
            spawn(async move {
                let get = Box::pin(q.get());
                match futures::future::select(doomed, get).await {
                    futures::future::Either::Left(_) => print("x: doomed ended"),
                    futures::future::Either::Right((v, _)) => print(format!("x got {v}")),
                }
                print("x went on");
            })
        };
        let y = {
            let q = q.clone();
            spawn(async move { print(format!("y got {}", q.get().await)) })
        };
        sleep(ms(500)).await;
        // In one iteration: `doomed` ends cancelled and the item arrives.
        doomed_ref.cancel();
        q.put_nowait(7).unwrap();
        let x = x.task();
        y.await.unwrap();
        print(format!("x cancelled: {}", x.is_cancelled()));
    });
    assert_eq!(
        run.output_lines(),
        ["y got 7", "x cancelled: true"],
        "{:?}",
        run.outcome
    );
}
