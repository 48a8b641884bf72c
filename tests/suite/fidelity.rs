//! Differential checks against real CPython: the same program run by
//! asyncio under a virtual clock (`tools/vclock.py`) and by loopsim's
//! `asyncio` model must print the same lines at the same virtual times.
//! Skipped (with a message) when the Python interpreter is missing.

use crate::support::python;
use crate::support::*;
use loopsim::{Error, PythonVersion, Sim, gather, print, sleep, spawn, yield_now};
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

const BOTH: &[(&str, PythonVersion)] = &[
    ("3.11.7", PythonVersion::Py311),
    ("3.12.1", PythonVersion::Py312),
];

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
    compare(BOTH, &body, || async {
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
    compare(BOTH, &body, || async {
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
    compare(BOTH, body, || async {
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
    compare(BOTH, body, || async {
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
    compare(BOTH, body, || async {
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
    let Some(py) = python("3.12.1") else {
        eprintln!("fidelity: python 3.12 not found, skipped");
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
    let sim = Sim::builder()
        .python(PythonVersion::Py312)
        .eager_tasks(true)
        .build();
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
    assert_eq!(ns_lines(&run), expected);
}

/// Every scenario that can be translated to Python (no random draws) is run
/// by CPython on a virtual clock and must print the same lines at the same
/// times as loopsim's `asyncio` model, for each of its variants.
#[test]
fn every_scenario_prints_what_cpython_prints() {
    use loopsim::scenario::{self, python::to_python};
    let tools = concat!(env!("CARGO_MANIFEST_DIR"), "/tools");
    let mut compared = 0;
    for s in crate::scenarios::all_scenarios() {
        for v in &s.variants {
            let model = v.model.unwrap_or(s.settings.model);
            if model != loopsim::LoopModel::Asyncio {
                continue;
            }
            let program = match to_python(&s, &v.name) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("fidelity: {} [{}] skipped: {e}", s.name, v.name);
                    continue;
                }
            };
            let pyv = v.python.unwrap_or(s.settings.python);
            let version = match pyv {
                PythonVersion::Py311 => "3.11.7",
                PythonVersion::Py312 => "3.12.1",
            };
            let Some(py) = python(version) else {
                eprintln!("fidelity: python {version} not found, skipped");
                continue;
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
                "{} [{}]: python failed:\n{stderr}\n{program}",
                s.name,
                v.name
            );
            let expected: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            let r = scenario::run_variant(&s, &v.name, None, None, false);
            let mut got = ns_lines(&r.run);
            match &r.run.outcome {
                loopsim::Outcome::Failed(e) => got.push(format!("raised {}", e.kind())),
                loopsim::Outcome::Deadlock { .. } => got.push("deadlock".into()),
                _ => {}
            }
            assert_eq!(
                got, expected,
                "{} [{}]: loopsim vs CPython {version}\n{program}",
                s.name, v.name
            );
            compared += 1;
        }
    }
    eprintln!("fidelity: {compared} scenario variants compared with CPython");
    if python("3.12.1").is_some() {
        assert!(
            compared >= 40,
            "only {compared} variants compared with CPython"
        );
    }
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
    compare(BOTH, &body, || async {
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
    compare(BOTH, &body, || async {
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
