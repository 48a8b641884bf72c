//! Deadlocks explained: every stuck task, what it waits on, who holds what,
//! and the wait-for cycle — in the typed report, its words, the trace and
//! the timeline.

use crate::support::*;
use loopsim::render::{Renderer, SequenceText, Timeline};
use loopsim::sync::{Event, Lock, Queue, Semaphore};
use loopsim::{
    Blocker, JoinHandle, NamedTask, Outcome, Run, StuckTask, TaskId, spawn_named, yield_now,
};
use std::cell::RefCell;
use std::rc::Rc;

fn deadlock<T: std::fmt::Debug>(run: &Run<T>) -> (&[StuckTask], &[TaskId]) {
    match &run.outcome {
        Outcome::Deadlock { stuck, cycle } => (stuck, cycle),
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

fn report<T>(run: &Run<T>) -> String {
    run.outcome
        .deadlock_report()
        .expect("the run deadlocked")
        .to_string()
}

fn named(id: u32, name: &str) -> NamedTask {
    NamedTask {
        id: TaskId(id),
        name: name.into(),
    }
}

fn trace_text<T>(run: &Run<T>) -> String {
    String::from_utf8(run.trace.to_jsonl()).unwrap()
}

/// `left` takes `a` then wants `b`; `right` takes `b` then wants `a`.
fn ab_ba() -> Run<()> {
    run_twice(&asyncio(), || async {
        let (a, b) = (Lock::named("a"), Lock::named("b"));
        let left = {
            let (a, b) = (a.clone(), b.clone());
            spawn_named("left", async move {
                let _a = a.acquire().await;
                loopsim::sleep(secs(1)).await;
                let _b = b.acquire().await;
            })
        };
        let right = spawn_named("right", async move {
            let _b = b.acquire().await;
            loopsim::sleep(secs(1)).await;
            let _a = a.acquire().await;
        });
        left.await.unwrap();
        right.await.unwrap();
    })
}

#[test]
fn an_ab_ba_lock_deadlock_names_both_holders_and_the_cycle() {
    let run = ab_ba();
    let (stuck, cycle) = deadlock(&run);
    assert_eq!(stuck[1].waiting_on, "Lock 'b'");
    assert_eq!(
        stuck[1].blocker,
        Blocker::Held {
            holders: vec![named(3, "right")]
        }
    );
    assert_eq!(
        stuck[2].blocker,
        Blocker::Held {
            holders: vec![named(2, "left")]
        }
    );
    assert_eq!(stuck[0].blocker, Blocker::Task(named(2, "left")));
    assert_eq!(cycle, [TaskId(2), TaskId(3)]);
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on task left; left waits on Lock 'b' held by right; \
         right waits on Lock 'a' held by left; cycle: left → right → left"
    );
}

#[test]
fn an_ab_ba_deadlock_is_in_the_trace_the_sequence_and_the_timeline() {
    let run = ab_ba();
    let jsonl = trace_text(&run);
    assert!(
        jsonl.contains(r#""task":2,"event":"stuck","what":"Lock 'b'","why":"held by right"}"#),
        "{jsonl}"
    );
    assert!(jsonl.contains(r#""task":2,"event":"waits_for","other":3}"#));
    assert!(jsonl.contains(r#""task":2,"event":"in_cycle","next":3}"#));
    assert!(jsonl.contains(r#""task":3,"event":"in_cycle","next":2}"#));
    let last = jsonl.lines().last().unwrap();
    assert!(last.contains(r#""event":"run_ended","outcome":"deadlock""#));

    let seq = String::from_utf8(SequenceText { detail: false }.render(&run.trace)).unwrap();
    assert!(
        seq.contains("stuck: waits on Lock 'a' (held by left)"),
        "{seq}"
    );
    assert!(seq.contains("deadlock cycle: left → right → left"), "{seq}");

    let svg = String::from_utf8(Timeline::default().render(&run.trace)).unwrap();
    assert!(svg.contains("deadlock: left → right → left"), "{svg}");
    assert!(
        svg.contains("waits on Lock &apos;b&apos; (held by right)"),
        "{svg}"
    );
}

#[test]
fn a_task_taking_a_lock_it_holds_waits_on_itself() {
    let run = run_twice(&asyncio(), || async {
        let lock = Lock::named("once");
        let _g = lock.acquire().await;
        let _again = lock.acquire().await;
    });
    let (_, cycle) = deadlock(&run);
    assert_eq!(cycle, [TaskId(1)]);
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on Lock 'once' held by Task-1; cycle: Task-1 → Task-1"
    );
}

#[test]
fn a_semaphore_exhausted_by_a_task_waiting_forever_names_its_holder() {
    let run = run_twice(&asyncio(), || async {
        let (pool, go) = (Semaphore::named("pool", 1), Event::named("go"));
        let _hog = {
            let pool = pool.clone();
            spawn_named("hog", async move {
                let _p = pool.acquire().await;
                go.wait().await;
            })
        };
        let worker = spawn_named("worker", async move {
            loopsim::sleep(secs(1)).await;
            let _p = pool.acquire().await;
        });
        worker.await.unwrap();
    });
    let (stuck, cycle) = deadlock(&run);
    assert_eq!(stuck[1].blocker, Blocker::EventNotSet);
    assert_eq!(
        stuck[2].blocker,
        Blocker::Held {
            holders: vec![named(2, "hog")]
        }
    );
    assert!(cycle.is_empty());
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on task worker; hog waits on Event 'go': not set; \
         worker waits on Semaphore 'pool' held by hog"
    );
}

#[test]
fn semaphore_holders_are_kept_per_permit_and_a_foreign_release_frees_the_oldest() {
    let run = run_twice(&asyncio(), || async {
        let pool = Semaphore::named("pool", 3);
        for name in ["first", "second", "third"] {
            let pool = pool.clone();
            spawn_named(name, async move {
                pool.acquire().await.forget();
            });
        }
        yield_now().await;
        pool.release().unwrap(); // by main, which holds none: frees `first`'s
        let _mine = pool.acquire().await;
        let _more = pool.acquire().await;
    });
    let (stuck, _) = deadlock(&run);
    assert_eq!(stuck.len(), 1);
    assert_eq!(
        stuck[0].blocker,
        Blocker::Held {
            holders: vec![named(3, "second"), named(4, "third"), named(1, "Task-1")]
        }
    );
    assert_eq!(
        stuck[0].to_string(),
        "Task-1 waits on Semaphore 'pool' held by second, third, Task-1"
    );
}

#[test]
fn a_queue_get_with_no_producer_says_the_queue_is_empty() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::with_kind("jobs", loopsim::sync::QueueKind::Fifo, 0);
        q.get().await
    });
    let (stuck, cycle) = deadlock(&run);
    assert_eq!(stuck[0].waiting_on, "Queue 'jobs' get");
    assert_eq!(stuck[0].blocker, Blocker::QueueEmpty);
    assert!(cycle.is_empty());
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on Queue 'jobs' get: empty, no task can put"
    );
}

#[test]
fn a_queue_put_on_a_full_queue_with_no_consumer_says_it_is_full() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::with_kind("jobs", loopsim::sync::QueueKind::Fifo, 2);
        for i in 0..3 {
            q.put(i).await;
        }
    });
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on Queue 'jobs' put: full (2 of 2), no task can get"
    );
}

#[test]
fn a_queue_join_with_unfinished_work_is_a_join_not_an_event() {
    let run = run_twice(&asyncio(), || async {
        let q: Queue<u32> = Queue::with_kind("jobs", loopsim::sync::QueueKind::Fifo, 0);
        for i in 0..4 {
            q.put_nowait(i).unwrap();
        }
        let worker = {
            let q = q.clone();
            spawn_named("worker", async move {
                q.get().await;
                q.task_done().unwrap();
                Event::named("never").wait().await;
            })
        };
        q.join().await;
        worker.await.unwrap();
    });
    let (stuck, _) = deadlock(&run);
    assert_eq!(stuck[0].waiting_on, "Queue 'jobs' join");
    assert_eq!(stuck[0].blocker, Blocker::QueueJoin { unfinished: 3 });
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on Queue 'jobs' join: 3 unfinished items; \
         worker waits on Event 'never': not set"
    );
    let jsonl = trace_text(&run);
    assert!(
        jsonl.contains(r#""kind":"Queue.join","name":"jobs""#),
        "{jsonl}"
    );
}

#[test]
fn an_event_never_set_is_reported_as_not_set() {
    let run = run_twice(&asyncio(), || async {
        Event::named("ready").wait().await;
    });
    let (stuck, cycle) = deadlock(&run);
    assert_eq!(stuck[0].blocker, Blocker::EventNotSet);
    assert!(cycle.is_empty());
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on Event 'ready': not set"
    );
    let svg = String::from_utf8(Timeline::default().render(&run.trace)).unwrap();
    assert!(
        svg.contains("deadlock: 1 task stuck, no wait-for cycle"),
        "{svg}"
    );
}

#[test]
fn two_tasks_awaiting_each_other_form_a_cycle() {
    let run = run_twice(&asyncio(), || async {
        let handles: Rc<RefCell<Vec<JoinHandle<()>>>> = Rc::default();
        let awaiting = |other: usize| {
            let handles = handles.clone();
            async move {
                yield_now().await;
                let h = handles.borrow()[other].clone();
                let _ = h.await;
            }
        };
        let left = spawn_named("left", awaiting(1));
        let right = spawn_named("right", awaiting(0));
        handles.borrow_mut().extend([left.clone(), right]);
        let _ = left.await;
    });
    let (stuck, cycle) = deadlock(&run);
    assert_eq!(stuck[1].blocker, Blocker::Task(named(3, "right")));
    assert_eq!(stuck[2].blocker, Blocker::Task(named(2, "left")));
    assert_eq!(cycle, [TaskId(2), TaskId(3)]);
    assert_eq!(
        report(&run),
        "deadlock: Task-1 waits on task left; left waits on task right; \
         right waits on task left; cycle: left → right → left"
    );
}

#[test]
fn runs_that_complete_record_no_deadlock_events() {
    let run = run_twice(&asyncio(), || async {
        let lock = Lock::named("a");
        let _g = lock.acquire().await;
    });
    assert!(run.outcome.deadlock_report().is_none());
    let jsonl = trace_text(&run);
    assert!(!jsonl.contains("\"stuck\"") && !jsonl.contains("in_cycle"));
}
