//! Differential checks against real CPython: the same program run by
//! asyncio under a virtual clock (`tools/vclock.py`) and by loopsim's
//! `asyncio` model must print the same lines at the same virtual times.
//! Skipped (with a message) when the Python interpreter is missing.

use crate::support::python;
use crate::support::*;
use loopsim::{
    Error, PythonVersion, Sim, TaskGroup, as_completed, catch_cancel, current_task, gather,
    gather_tasks, gather_tasks_return_exceptions, print, raise_cancelled, sleep, spawn, yield_now,
};
use std::process::Command;

/// Runs `body` (the inside of `async def main():`, with `say(text)` printing
/// `"<loop.time()> <text>"`) under CPython's asyncio on the virtual clock.
fn cpython(py: &str, body: &str) -> Vec<String> {
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/tools");
    let program = format!(
        "import sys; sys.path.insert(0, {tools:?})\nimport asyncio, vclock\n\
         def say(text):\n    t = asyncio.get_running_loop().time()\n    print(f'{{round(t * 1e9)}} {{text}}')\n\
         async def main():\n{body}\nvclock.run_like_asyncio_run(main())\n"
    );
    let out = Command::new(py)
        .arg("-c")
        .arg(&program)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{program}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn ns_lines(run: &loopsim::Run<impl Sized>) -> Vec<String> {
    run.output
        .iter()
        .map(|l| format!("{} {}", l.at.as_nanos(), l.text))
        .collect()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

fn compare<F>(versions: &[(&str, PythonVersion)], py_body: &str, program: impl Fn() -> F)
where
    F: std::future::Future + 'static,
    F::Output: 'static,
{
    for (v, pv) in versions {
        let Some(py) = python(v) else {
            eprintln!("fidelity: python {v} not found, skipped");
            continue;
        };
        let expected = cpython(&py, &indent(py_body));
        let run = run_twice(&Sim::builder().python(*pv).build(), &program);
        assert_eq!(ns_lines(&run), expected, "loopsim vs CPython {v}");
    }
}

/// Every modelled version: 3.11, 3.12 and 3.13.
const ALL: &[(&str, PythonVersion)] = &[
    ("3.11.7", PythonVersion::Py311),
    ("3.12.1", PythonVersion::Py312),
    ("3.13.0", PythonVersion::Py313),
];

/// The CPython release each modelled version is checked against.
fn release(v: PythonVersion) -> &'static str {
    match v {
        PythonVersion::Py311 => "3.11.7",
        PythonVersion::Py312 => "3.12.1",
        PythonVersion::Py313 => "3.13.0",
    }
}

/// A ticker printing once per loop iteration reveals hop counts.
const TICKER_PY: &str = "
async def ticker(n):
    for i in range(n):
        say(f'tick {i}')
        await asyncio.sleep(0)
";

async fn ticker(n: u32) {
    for i in 0..n {
        print(format!("tick {i}"));
        yield_now().await;
    }
}

#[test]
fn gather_hops_match_cpython() {
    let body = format!(
        "{TICKER_PY}
async def child(name, d):
    await asyncio.sleep(d)
    say(f'{{name}} done')
    return name
t = asyncio.create_task(ticker(8))
r = await asyncio.gather(child('a', 0), child('b', 0))
say(f'gather -> {{r}}')
await t"
    );
    compare(ALL, &body, || async {
        let t = spawn(ticker(8));
        async fn child(name: &'static str) -> Result<&'static str, Error> {
            yield_now().await;
            print(format!("{name} done"));
            Ok(name)
        }
        let r = gather(vec![child("a"), child("b")]).await.unwrap();
        print(format!("gather -> {}", py_list(&r)));
        t.await.unwrap();
    });
}

fn py_list(v: &[&str]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[test]
fn wait_for_timeout_hops_match_cpython_per_version() {
    let body = format!(
        "{TICKER_PY}
t = asyncio.create_task(ticker(12))
await asyncio.sleep(0)
try:
    await asyncio.wait_for(asyncio.sleep(1), 0.5)
except TimeoutError:
    say('timeout')
await t"
    );
    compare(ALL, &body, || async {
        let t = spawn(ticker(12));
        yield_now().await;
        if loopsim::wait_for(sleep(ms(1000)), ms(500)).await.is_err() {
            print("timeout");
        }
        t.await.unwrap();
    });
}

#[test]
fn equal_deadline_ties_match_cpython() {
    let body = "
async def t(i):
    await asyncio.sleep(0.01)
    say(i)
await asyncio.gather(*(t(i) for i in range(13)))";
    compare(ALL, body, || async {
        let tasks = (0..13).map(|i| async move {
            sleep(ms(10)).await;
            print(i);
            Ok::<_, Error>(())
        });
        gather(tasks).await.unwrap();
    });
}

#[test]
fn cancelled_timer_purge_and_reheapify_match_cpython() {
    // 150 timers, most cancelled, then ties: exercises the purge rule and heapify.
    let body = "
async def t(i, d):
    await asyncio.sleep(d)
    say(i)
tasks = [asyncio.create_task(t(i, 5 if i % 3 else 1)) for i in range(150)]
await asyncio.sleep(0.5)
for i, task in enumerate(tasks):
    if i % 5 != 0:
        task.cancel()
await asyncio.sleep(0)
more = [asyncio.create_task(t(1000 + i, 4.5)) for i in range(7)]
await asyncio.gather(*tasks, *more, return_exceptions=True)";
    compare(ALL, body, || async {
        let tasks: Vec<_> = (0..150)
            .map(|i| {
                spawn(async move {
                    sleep(secs(if i % 3 != 0 { 5 } else { 1 })).await;
                    print(i);
                    Ok::<_, Error>(())
                })
            })
            .collect();
        sleep(ms(500)).await;
        for (i, h) in tasks.iter().enumerate() {
            if i % 5 != 0 {
                h.cancel();
            }
        }
        yield_now().await;
        let more: Vec<_> = (0..7)
            .map(|i| {
                spawn(async move {
                    sleep(ms(4500)).await;
                    print(1000 + i);
                    Ok::<_, Error>(())
                })
            })
            .collect();
        let all: Vec<_> = tasks.into_iter().chain(more).collect();
        let _ = loopsim::gather_tasks_return_exceptions(all).await;
    });
}

#[test]
fn blocking_call_and_overdue_timers_match_cpython() {
    let body = "
async def s(i, d):
    await asyncio.sleep(d)
    say(f's{i}')
ts = [asyncio.create_task(s(i, d)) for i, d in enumerate([0.3, 0.1, 0.2])]
await asyncio.sleep(0)
vclock.block(1.0)
say('unblocked')
await asyncio.gather(*ts)";
    compare(ALL, body, || async {
        let ts: Vec<_> = [300u64, 100, 200]
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                spawn(async move {
                    sleep(ms(d)).await;
                    print(format!("s{i}"));
                })
            })
            .collect();
        yield_now().await;
        loopsim::block(secs(1));
        print("unblocked");
        for t in ts {
            t.await.unwrap();
        }
    });
}

#[test]
fn eager_tasks_run_their_first_step_inside_create_task_as_in_cpython_312() {
    for pv in [PythonVersion::Py312, PythonVersion::Py313] {
        eager_tasks_match(pv);
    }
}

fn eager_tasks_match(pv: PythonVersion) {
    let Some(py) = python(release(pv)) else {
        eprintln!("fidelity: python {} not found, skipped", release(pv));
        return;
    };
    let body = "
asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
async def quick(i):
    say(f'quick {i} runs')
    return i
async def slow(i):
    say(f'slow {i} starts')
    await asyncio.sleep(0)
    say(f'slow {i} resumes')
    return i
t = asyncio.create_task(slow(0))
say('created slow')
r = await asyncio.gather(quick(1), slow(2), quick(3))
say(f'gather -> {r}')
await t";
    let expected = cpython(&py, &indent(body));
    let sim = Sim::builder().python(pv).eager_tasks(true).build();
    let run = run_twice(&sim, || async {
        async fn quick(i: u32) -> Result<u32, Error> {
            print(format!("quick {i} runs"));
            Ok(i)
        }
        async fn slow(i: u32) -> Result<u32, Error> {
            print(format!("slow {i} starts"));
            yield_now().await;
            print(format!("slow {i} resumes"));
            Ok(i)
        }
        let t = spawn(slow(0));
        print("created slow");
        let children: Vec<futures::future::LocalBoxFuture<'static, Result<u32, Error>>> =
            vec![Box::pin(quick(1)), Box::pin(slow(2)), Box::pin(quick(3))];
        let r = gather(children).await.unwrap();
        print(format!("gather -> {r:?}"));
        t.await.unwrap().unwrap();
    });
    assert_eq!(
        ns_lines(&run),
        expected,
        "loopsim vs CPython {}",
        release(pv)
    );
}

/// Scenarios whose output depends on the iteration order of a `set` of
/// tasks (`TaskGroup._abort` cancels `self._tasks`), which follows object
/// addresses: loopsim uses creation order, which 3.12.1 happens to match
/// here but 3.13.0 does not (`b` is cancelled before `a`). Not a version
/// property (3.11.7 gives either order from run to run), so these are not
/// compared under 3.13.
const SET_ORDER: &[&str] = &["task_group_failure"];

/// Every scenario that can be translated to Python (no random draws) is run
/// by CPython on a virtual clock and must print the same lines at the same
/// times as loopsim's `asyncio` model, for each of its variants. Variants
/// that follow 3.12 (the default) run under 3.13 as well.
#[test]
fn every_scenario_prints_what_cpython_prints() {
    let mut compared = 0;
    let mut compared_313 = 0;
    for s in crate::scenarios::all_scenarios() {
        for v in &s.variants {
            let model = v.model.unwrap_or(s.settings.model);
            if model != loopsim::LoopModel::Asyncio {
                continue;
            }
            let pyv = v.python.unwrap_or(s.settings.python);
            let mut runs = vec![(s.clone(), pyv)];
            if pyv == PythonVersion::Py312 && !SET_ORDER.contains(&s.name.as_str()) {
                let mut s313 = s.clone();
                for w in &mut s313.variants {
                    if w.name == v.name {
                        w.python = Some(PythonVersion::Py313);
                    }
                }
                runs.push((s313, PythonVersion::Py313));
            }
            for (s, pyv) in runs {
                if compare_scenario(&s, &v.name, pyv) {
                    compared += 1;
                    if pyv == PythonVersion::Py313 {
                        compared_313 += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "fidelity: {compared} scenario variants compared with CPython ({compared_313} under 3.13)"
    );
    if python("3.12.1").is_some() {
        assert!(
            compared - compared_313 >= 40,
            "only {compared} variants compared with CPython"
        );
    }
    if python("3.13.0").is_some() {
        assert!(
            compared_313 >= 30,
            "only {compared_313} variants compared with CPython 3.13"
        );
    }
}

/// Runs variant `v` of `s` in loopsim and in CPython `pyv`; false when it
/// cannot be translated or the interpreter is missing.
fn compare_scenario(s: &loopsim::scenario::Scenario, v: &str, pyv: PythonVersion) -> bool {
    use loopsim::scenario::{self, python::to_python};
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/tools");
    let program = match to_python(s, v) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fidelity: {} [{v}] skipped: {e}", s.name);
            return false;
        }
    };
    let version = release(pyv);
    let Some(py) = python(version) else {
        eprintln!("fidelity: python {version} not found, skipped");
        return false;
    };
    let out = Command::new(&py)
        .arg("-c")
        .arg(&program)
        .arg(tools)
        .output()
        .expect("python runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} [{v}]: python failed:\n{stderr}\n{program}",
        s.name,
    );
    let expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let r = scenario::run_variant(s, v, None, None, false);
    let mut got = ns_lines(&r.run);
    match &r.run.outcome {
        loopsim::Outcome::Failed(e) => got.push(format!("raised {}", e.kind())),
        loopsim::Outcome::Deadlock { .. } => got.push("deadlock".into()),
        _ => {}
    }
    assert_eq!(
        got, expected,
        "{} [{v}]: loopsim vs CPython {version}\n{program}",
        s.name,
    );
    true
}

#[test]
fn wait_first_completed_and_timeout_match_cpython() {
    let body = format!(
        "{TICKER_PY}
async def job(d):
    await asyncio.sleep(d)
    return d
t = asyncio.create_task(ticker(10))
a = asyncio.create_task(job(1))
b = asyncio.create_task(job(3))
done, pending = await asyncio.wait([a, b], return_when=asyncio.FIRST_COMPLETED)
say(f'first: {{len(done)}} done, {{len(pending)}} pending')
done, pending = await asyncio.wait([b], timeout=0.5)
say(f'timeout: {{len(done)}} done, {{len(pending)}} pending')
done, pending = await asyncio.wait([b])
say(f'all: {{len(done)}} done')
await t"
    );
    compare(ALL, &body, || async {
        let t = spawn(ticker(10));
        let a = spawn(async {
            sleep(secs(1)).await;
        });
        let b = spawn(async {
            sleep(secs(3)).await;
        });
        let (done, pending) =
            loopsim::wait(vec![a, b], loopsim::ReturnWhen::FirstCompleted, None).await;
        print(format!(
            "first: {} done, {} pending",
            done.len(),
            pending.len()
        ));
        let (done, pending) =
            loopsim::wait(pending, loopsim::ReturnWhen::AllCompleted, Some(ms(500))).await;
        print(format!(
            "timeout: {} done, {} pending",
            done.len(),
            pending.len()
        ));
        let (done, _) = loopsim::wait(pending, loopsim::ReturnWhen::AllCompleted, None).await;
        print(format!("all: {} done", done.len()));
        t.await.unwrap();
    });
}

#[test]
fn lock_semaphore_and_event_hops_match_cpython() {
    let body = format!(
        "{TICKER_PY}
lock = asyncio.Lock()
sem = asyncio.Semaphore(1)
ev = asyncio.Event()
async def user(name):
    async with lock:
        say(f'{{name}} has the lock')
        await asyncio.sleep(0)
    async with sem:
        say(f'{{name}} has the semaphore')
        await asyncio.sleep(0)
    await ev.wait()
    say(f'{{name}} saw the event')
t = asyncio.create_task(ticker(12))
us = [asyncio.create_task(user(n)) for n in 'abc']
await asyncio.sleep(0)
await asyncio.sleep(0)
ev.set()
await asyncio.gather(*us)
await t"
    );
    compare(ALL, &body, || async {
        use loopsim::sync::{Event, Lock, Semaphore};
        let t = spawn(ticker(12));
        let (lock, sem, ev) = (Lock::new(), Semaphore::new(1), Event::new());
        let us: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let (lock, sem, ev) = (lock.clone(), sem.clone(), ev.clone());
                spawn(async move {
                    {
                        let _g = lock.acquire().await;
                        print(format!("{name} has the lock"));
                        yield_now().await;
                    }
                    {
                        let _p = sem.acquire().await;
                        print(format!("{name} has the semaphore"));
                        yield_now().await;
                    }
                    ev.wait().await;
                    print(format!("{name} saw the event"));
                })
            })
            .collect();
        yield_now().await;
        yield_now().await;
        ev.set();
        for u in us {
            u.await.unwrap();
        }
        t.await.unwrap();
    });
}

// Python 3.13's differences (see /work/notes/py313.md): each program runs
// under 3.11, 3.12 and 3.13 and must agree with each real CPython.

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// 3.13: a successful `Semaphore.acquire` wakes every waiter that can now
/// proceed (c3 is woken together with c2); 3.12 wakes one per acquire
/// (CPython's `test_acquire_fifo_order_4`).
#[test]
fn semaphore_acquire_wakes_every_admissible_waiter_on_313() {
    let body = format!(
        "{TICKER_PY}
sem = asyncio.Semaphore(0)
async def c1():
    await sem.acquire()
    say(f'c1 acquired, value {{sem._value}}')
    asyncio.create_task(c4())
async def c2():
    sem.release(); sem.release(); sem.release()
    await sem.acquire()
    say('c2 acquired')
async def c3():
    await sem.acquire()
    say('c3 acquired')
async def c4():
    say('c4 ran')
t = asyncio.create_task(ticker(6))
ts = [asyncio.create_task(c()) for c in (c1, c2, c3)]
await asyncio.gather(*ts)
await asyncio.sleep(0)
await t"
    );
    compare(ALL, &body, || async {
        use loopsim::sync::Semaphore;
        let t = spawn(ticker(6));
        let sem = Semaphore::new(0);
        let s1 = sem.clone();
        let c1 = spawn(async move {
            s1.acquire().await.forget();
            print(format!("c1 acquired, value {}", s1.available()));
            drop(spawn(async { print("c4 ran") }));
            Ok::<_, Error>(())
        });
        let s2 = sem.clone();
        let c2 = spawn(async move {
            for _ in 0..3 {
                s2.release().unwrap();
            }
            s2.acquire().await.forget();
            print("c2 acquired");
            Ok::<_, Error>(())
        });
        let s3 = sem.clone();
        let c3 = spawn(async move {
            s3.acquire().await.forget();
            print("c3 acquired");
            Ok::<_, Error>(())
        });
        gather_tasks(vec![c1, c2, c3]).await.unwrap();
        yield_now().await;
        t.await.unwrap();
    });
}

/// A waiter that was handed a permit and is cancelled before it runs gives
/// the permit back: 3.12 then wakes one waiter (the next one waits for that
/// one's acquire), 3.13 every one that can proceed.
#[test]
fn semaphore_cancelled_waiter_passes_permits_on_per_version() {
    let body = format!(
        "{TICKER_PY}
sem = asyncio.Semaphore(0)
async def w(name):
    try:
        async with sem:
            say(f'{{name}} acquired')
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        say(f'{{name}} cancelled')
async def releaser(a):
    sem.release()
    sem.release()
    sem.release()
    a.cancel()
t = asyncio.create_task(ticker(6))
a = asyncio.create_task(w('a'))
await asyncio.sleep(0)
ws = [asyncio.create_task(releaser(a)), asyncio.create_task(w('b')), asyncio.create_task(w('c'))]
await asyncio.gather(a, *ws)
await t"
    );
    compare(ALL, &body, || async {
        use loopsim::sync::Semaphore;
        let t = spawn(ticker(6));
        let sem = Semaphore::new(0);
        let w = |name: &'static str| {
            let sem = sem.clone();
            spawn(async move {
                let r = catch_cancel(async {
                    let _p = sem.acquire().await;
                    print(format!("{name} acquired"));
                    yield_now().await;
                })
                .await;
                if r.is_err() {
                    print(format!("{name} cancelled"));
                }
                Ok::<_, Error>(())
            })
        };
        let a = w("a");
        yield_now().await;
        let (s, ar) = (sem.clone(), a.task());
        let releaser = spawn(async move {
            for _ in 0..3 {
                s.release().unwrap();
            }
            ar.cancel();
            Ok::<_, Error>(())
        });
        let ws = vec![a, releaser, w("b"), w("c")];
        gather_tasks(ws).await.unwrap();
        t.await.unwrap();
    });
}

async fn cond_consumer(cond: loopsim::sync::Condition, name: &'static str) -> Result<(), Error> {
    let g = cond.acquire().await;
    print(format!("{name} waiting"));
    match catch_cancel(g.wait()).await {
        Ok(_g) => {
            print(format!("{name} woken"));
            Ok(())
        }
        Err(_) => {
            print(format!("{name} cancelled"));
            match raise_cancelled().await {}
        }
    }
}

const COND_CONSUMER_PY: &str = "
async def consumer(cond, name):
    async with cond:
        try:
            say(f'{name} waiting')
            await cond.wait()
            say(f'{name} woken')
        except asyncio.CancelledError:
            say(f'{name} cancelled')
            raise
";

/// 3.13: a notified waiter that is cancelled passes the notification on
/// (3.12 loses it: B is never woken).
#[test]
fn condition_cancelled_after_notify_passes_the_wakeup_on_313() {
    let body = format!(
        "{COND_CONSUMER_PY}
cond = asyncio.Condition()
a = asyncio.create_task(consumer(cond, 'A'))
b = asyncio.create_task(consumer(cond, 'B'))
await asyncio.sleep(0)
async with cond:
    cond.notify(1)
    a.cancel()
try:
    async with asyncio.timeout(1):
        await b
    say('B finished')
except TimeoutError:
    say('B never woken (lost wakeup)')
for t in (a, b):
    t.cancel()"
    );
    compare(ALL, &body, || async {
        use loopsim::sync::Condition;
        let cond = Condition::new();
        let a = spawn(cond_consumer(cond.clone(), "A"));
        let b = spawn(cond_consumer(cond.clone(), "B"));
        let (ar, br) = (a.task(), b.task());
        yield_now().await;
        {
            let g = cond.acquire().await;
            g.notify(1);
            a.cancel();
        }
        match loopsim::timeout(secs(1), b).await {
            Ok(_) => print("B finished"),
            Err(_) => print("B never woken (lost wakeup)"),
        }
        ar.cancel();
        br.cancel();
    });
}

/// 3.13: cancelling a waiter that was never notified wakes another one (a
/// spurious wakeup); 3.12 leaves it waiting.
#[test]
fn condition_cancelled_waiter_wakes_another_on_313() {
    let body = "
async def waiter(cond, name):
    async with cond:
        try:
            say(f'{name} waiting')
            r = await cond.wait()
            say(f'{name} wait() returned {r}')
        except asyncio.CancelledError:
            say(f'{name} cancelled')
            raise
cond = asyncio.Condition()
a = asyncio.create_task(waiter(cond, 'A'))
b = asyncio.create_task(waiter(cond, 'B'))
await asyncio.sleep(0)
a.cancel()
await asyncio.sleep(1)
say(f'main: b.done() = {b.done()}')
b.cancel()
await asyncio.gather(a, b, return_exceptions=True)";
    compare(ALL, body, || async {
        use loopsim::sync::Condition;
        async fn waiter(cond: Condition, name: &'static str) -> Result<(), Error> {
            let g = cond.acquire().await;
            print(format!("{name} waiting"));
            match catch_cancel(g.wait()).await {
                Ok(_g) => {
                    print(format!("{name} wait() returned True"));
                    Ok(())
                }
                Err(_) => {
                    print(format!("{name} cancelled"));
                    match raise_cancelled().await {}
                }
            }
        }
        let cond = Condition::new();
        let a = spawn(waiter(cond.clone(), "A"));
        let b = spawn(waiter(cond.clone(), "B"));
        yield_now().await;
        a.cancel();
        sleep(secs(1)).await;
        print(format!("main: b.done() = {}", py_bool(b.is_done())));
        b.cancel();
        let _ = gather_tasks_return_exceptions(vec![a, b]).await;
    });
}

/// 3.13's `as_completed` adds its callbacks and starts its timeout at the
/// call; 3.11/3.12's generator does so at the first `next()`.
#[test]
fn as_completed_sets_up_at_the_call_on_313_and_at_first_next_before() {
    let body = format!(
        "{TICKER_PY}
async def job(name, d):
    say(f'{{name}} started')
    await asyncio.sleep(d)
    say(f'{{name}} finished')
    return name
a = asyncio.create_task(job('a', 3))
b = asyncio.create_task(job('b', 0.5))
it = asyncio.as_completed([a, b], timeout=2.5)
say('as_completed() returned')
await asyncio.sleep(1)
say('main slept 1')
t = asyncio.create_task(ticker(4))
for f in it:
    try:
        say(f'got {{await f}}')
    except TimeoutError:
        say('timeout')
await t"
    );
    compare(ALL, &body, || async {
        fn job(name: &'static str, d: u64) -> loopsim::JoinHandle<&'static str> {
            spawn(async move {
                print(format!("{name} started"));
                sleep(ms(d)).await;
                print(format!("{name} finished"));
                name
            })
        }
        let a = job("a", 3000);
        let b = job("b", 500);
        let mut it = as_completed(vec![a, b], Some(ms(2500)));
        print("as_completed() returned");
        sleep(secs(1)).await;
        print("main slept 1");
        let t = spawn(ticker(4));
        while let Some(r) = it.next().await {
            match r {
                Ok(v) => print(format!("got {v}")),
                Err(Error::Timeout) => print("timeout"),
                Err(e) => panic!("unexpected {e}"),
            }
        }
        t.await.unwrap();
    });
}

/// 3.13: `uncancel()` bringing the count to 0 withdraws a cancellation not
/// yet delivered (a task not started, or ready after a bare yield); a task
/// whose sleep future was cancelled stays cancelled in every version.
#[test]
fn uncancel_before_delivery_matches_cpython_per_version() {
    let body = "
async def child(name):
    say(f'{name} start')
    await asyncio.sleep(0)
    say(f'{name} yielded')
    await asyncio.sleep(1)
    say(f'{name} done')
    return 'ok'
async def outcome(t, name):
    try:
        say(f'{name} result: {await t}')
    except asyncio.CancelledError:
        say(f'{name} cancelled')
t = asyncio.create_task(child('fresh'))
t.cancel()
say(f'cancelling after cancel: {t.cancelling()}')
t.uncancel()
say(f'cancelling after uncancel: {t.cancelling()}')
await outcome(t, 'fresh')
t = asyncio.create_task(child('yielding'))
await asyncio.sleep(0)
t.cancel()
t.uncancel()
await outcome(t, 'yielding')
t = asyncio.create_task(child('sleeping'))
await asyncio.sleep(0)
await asyncio.sleep(0)
t.cancel()
t.uncancel()
await outcome(t, 'sleeping')";
    compare(ALL, body, || async {
        fn child(name: &'static str) -> loopsim::JoinHandle<&'static str> {
            spawn(async move {
                print(format!("{name} start"));
                yield_now().await;
                print(format!("{name} yielded"));
                sleep(secs(1)).await;
                print(format!("{name} done"));
                "ok"
            })
        }
        async fn outcome(t: loopsim::JoinHandle<&'static str>, name: &str) {
            match catch_cancel(t).await {
                Ok(Ok(v)) => print(format!("{name} result: {v}")),
                _ => print(format!("{name} cancelled")),
            }
        }
        let t = child("fresh");
        t.cancel();
        print(format!(
            "cancelling after cancel: {}",
            t.task().cancelling()
        ));
        t.task().uncancel();
        print(format!(
            "cancelling after uncancel: {}",
            t.task().cancelling()
        ));
        outcome(t, "fresh").await;
        let t = child("yielding");
        yield_now().await;
        t.cancel();
        t.task().uncancel();
        outcome(t, "yielding").await;
        let t = child("sleeping");
        yield_now().await;
        yield_now().await;
        t.cancel();
        t.task().uncancel();
        outcome(t, "sleeping").await;
    });
}

async fn raise_after(d: std::time::Duration, kind: &'static str) -> Result<(), Error> {
    sleep(d).await;
    Err(Error::raised(kind, ""))
}

fn is_group(r: &Result<(), Error>) -> bool {
    matches!(r, Err(e) if e.kind() == "ExceptionGroup")
}

/// 3.13's `TaskGroup.__aexit__` uncancels the parent after the children are
/// done, so `cancelling()` goes back to 0, and nested groups failing
/// together no longer swallow the outer group's cancellation.
#[test]
fn task_group_cancel_bookkeeping_matches_cpython_per_version() {
    let body = "
async def raise_after(t, e):
    await asyncio.sleep(t)
    raise e()
try:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(raise_after(0.0, RuntimeError))
except* RuntimeError:
    pass
say(f'A cancelling = {asyncio.current_task().cancelling()}')
try:
    async with asyncio.TaskGroup() as outer_tg:
        try:
            async with asyncio.TaskGroup() as inner_tg:
                inner_tg.create_task(raise_after(0, RuntimeError))
                outer_tg.create_task(raise_after(0, ValueError))
        except* RuntimeError:
            say('B inner RuntimeError caught')
        say(f'B after inner, cancelling = {asyncio.current_task().cancelling()}')
        await asyncio.sleep(0.5)
        say('B slept in outer')
except* ValueError:
    say('B outer ValueError caught')
say(f'B cancelling = {asyncio.current_task().cancelling()}')
await asyncio.sleep(1)
say('C slept')";
    compare(ALL, body, || async {
        let zero = std::time::Duration::ZERO;
        let r = TaskGroup::run(|tg| async move {
            tg.spawn(raise_after(zero, "RuntimeError"));
        })
        .await;
        assert!(is_group(&r));
        print(format!("A cancelling = {}", current_task().cancelling()));
        let r = TaskGroup::run(|outer| async move {
            let o = outer.clone();
            let r = TaskGroup::run(|inner| async move {
                inner.spawn(raise_after(zero, "RuntimeError"));
                o.spawn(raise_after(zero, "ValueError"));
            })
            .await;
            if is_group(&r) {
                print("B inner RuntimeError caught");
            }
            print(format!(
                "B after inner, cancelling = {}",
                current_task().cancelling()
            ));
            sleep(ms(500)).await;
            print("B slept in outer");
        })
        .await;
        if is_group(&r) {
            print("B outer ValueError caught");
        }
        print(format!("B cancelling = {}", current_task().cancelling()));
        sleep(secs(1)).await;
        print("C slept");
    });
}

/// A child fails while the parent task is cancelled from outside: 3.12
/// loses the outside cancellation, 3.13 delivers it at the next await.
#[test]
fn task_group_error_with_outside_cancel_matches_cpython_per_version() {
    let body = "
async def raise_error(ev):
    ev.set()
    await asyncio.sleep(0)
    raise RuntimeError('boom')
async def inner(ev):
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(raise_error(ev))
            await asyncio.sleep(1)
    except* RuntimeError:
        say(f'inner: except* RuntimeError, cancelling = {asyncio.current_task().cancelling()}')
    say(f'inner: after group, cancelling = {asyncio.current_task().cancelling()}')
    try:
        await asyncio.sleep(1)
        say('inner: slept 1s')
    except asyncio.CancelledError:
        say('inner: CancelledError at sleep')
        raise
    return 'inner-ok'
ev = asyncio.Event()
t = asyncio.create_task(inner(ev))
await ev.wait()
t.cancel()
try:
    say(f'main: result {await t}')
except asyncio.CancelledError:
    say('main: t cancelled')";
    compare(ALL, body, || async {
        use loopsim::sync::Event;
        async fn inner(ev: Event) -> &'static str {
            let r = TaskGroup::run(|tg| async move {
                tg.spawn(async move {
                    ev.set();
                    yield_now().await;
                    Err::<(), _>(Error::raised("RuntimeError", "boom"))
                });
                sleep(secs(1)).await;
            })
            .await;
            if is_group(&r) {
                print(format!(
                    "inner: except* RuntimeError, cancelling = {}",
                    current_task().cancelling()
                ));
            }
            print(format!(
                "inner: after group, cancelling = {}",
                current_task().cancelling()
            ));
            match catch_cancel(sleep(secs(1))).await {
                Ok(()) => print("inner: slept 1s"),
                Err(_) => {
                    print("inner: CancelledError at sleep");
                    match raise_cancelled().await {}
                }
            }
            "inner-ok"
        }
        let ev = Event::new();
        let t = spawn(inner(ev.clone()));
        ev.wait().await;
        t.cancel();
        match catch_cancel(t).await {
            Ok(Ok(v)) => print(format!("main: result {v}")),
            _ => print("main: t cancelled"),
        }
    });
}
