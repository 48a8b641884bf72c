//! Differential testing on random programs: scenarios generated from code
//! (biased to equal deadlines, float sums and zero-length sleeps) run in
//! loopsim's `asyncio` model and in real CPython on a virtual clock must print
//! the same lines at the same nanosecond. A failure shrinks to a minimal
//! program, printed as a scenario file.
//!
//! Each program runs under 3.11, 3.12 and 3.13 (one test per version).
//!
//! `LOOPSIM_FUZZ_CASES=N` sets the number of programs per Python version
//! (default 40 here; a campaign runs thousands).

use crate::support::python;
use loopsim::PythonVersion;
use loopsim::scenario::expr::{Expr, Piece};
use loopsim::scenario::{
    self, Call, Coroutine, Handler, Primitive, Scenario, Settings, Step, StepKind, Target, Variant,
    python::to_python,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

fn ms(n: u64) -> Expr {
    Expr::Duration(Duration::from_millis(n))
}

/// Durations that collide: equal deadlines, zero-length sleeps, and float
/// sums (0.1 + 0.2 > 0.3).
fn duration() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(ms(0)),
        Just(ms(1)),
        Just(ms(2)),
        Just(ms(3)),
        Just(ms(100)),
        Just(ms(200)),
        Just(ms(300)),
        Just(Expr::Float(0.1)),
        Just(Expr::Float(0.2)),
    ]
}

fn step(line: usize, kind: StepKind) -> Step {
    Step { line, kind }
}

fn say(text: &str) -> StepKind {
    StepKind::Print(vec![
        Piece::Text(format!("{text} ")),
        Piece::Value(Expr::Var("task".into()), None),
    ])
}

/// One step of coroutine `me`, which may call coroutines below it.
#[derive(Clone, Debug)]
enum Gen {
    Print,
    Sleep(Expr),
    Block(Expr),
    Inline(usize),
    SpawnAwait(usize, bool),
    Gather(usize, usize),
    WaitFor(usize, Expr),
    Locked(Expr),
    Yields(u8),
    TwoSleeps(Expr, Expr),
    TimeoutBlock(Expr, Expr),
    Shield(usize),
    AsCompleted(usize, usize),
    Limited(Expr),
    EventRound(usize),
    QueueRound,
}

fn gen_step(below: usize) -> BoxedStrategy<Gen> {
    let mut options: Vec<BoxedStrategy<Gen>> = vec![
        Just(Gen::Print).boxed(),
        duration().prop_map(Gen::Sleep).boxed(),
        prop_oneof![Just(ms(1)), Just(ms(2))]
            .prop_map(Gen::Block)
            .boxed(),
        duration().prop_map(Gen::Locked).boxed(),
        (1u8..3).prop_map(Gen::Yields).boxed(),
        (duration(), duration())
            .prop_map(|(a, b)| Gen::TwoSleeps(a, b))
            .boxed(),
        (duration(), duration())
            .prop_map(|(a, b)| Gen::TimeoutBlock(a, b))
            .boxed(),
        duration().prop_map(Gen::Limited).boxed(),
        Just(Gen::QueueRound).boxed(),
    ];
    if below > 0 {
        options.push((0..below).prop_map(Gen::Inline).boxed());
        options.push(
            (0..below, any::<bool>())
                .prop_map(|(c, cancel)| Gen::SpawnAwait(c, cancel))
                .boxed(),
        );
        options.push(
            (0..below, 0..below)
                .prop_map(|(a, b)| Gen::Gather(a, b))
                .boxed(),
        );
        options.push(
            (0..below, duration())
                .prop_map(|(c, d)| Gen::WaitFor(c, d))
                .boxed(),
        );
        options.push((0..below).prop_map(Gen::Shield).boxed());
        options.push(
            (0..below, 0..below)
                .prop_map(|(a, b)| Gen::AsCompleted(a, b))
                .boxed(),
        );
        options.push((0..below).prop_map(Gen::EventRound).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn call(i: usize) -> Call {
    Call {
        name: format!("c{i}"),
        args: vec![],
    }
}

fn build(me: &str, gens: &[Gen]) -> Vec<Step> {
    let mut out = Vec::new();
    for (n, g) in gens.iter().enumerate() {
        let line = n + 1;
        let tag = format!("{me}.{n}");
        match g {
            Gen::Print => out.push(step(line, say(&tag))),
            Gen::Sleep(d) => out.push(step(line, StepKind::Sleep(d.clone()))),
            Gen::Block(d) => out.push(step(line, StepKind::Block(d.clone()))),
            Gen::Inline(c) => out.push(step(
                line,
                StepKind::Await {
                    target: Target::Call(call(*c)),
                    into: None,
                },
            )),
            Gen::Yields(k) => {
                for _ in 0..*k {
                    out.push(step(line, StepKind::Sleep(ms(0))));
                }
                out.push(step(line, say(&tag)));
            }
            Gen::SpawnAwait(c, cancel) => {
                let var = format!("t{n}");
                out.push(step(
                    line,
                    StepKind::Spawn {
                        call: call(*c),
                        bind: Some(var.clone()),
                        name: None,
                    },
                ));
                out.push(step(line, StepKind::Sleep(ms(0))));
                if *cancel {
                    out.push(step(line, StepKind::Cancel(Expr::Var(var.clone()))));
                }
                out.push(step(
                    line,
                    StepKind::Try {
                        body: Rc::from(vec![step(
                            line,
                            StepKind::Await {
                                target: Target::Value(Expr::Var(var)),
                                into: None,
                            },
                        )]),
                        handler: Some(Handler {
                            kinds: vec!["CancelledError".into()],
                            bind: None,
                            body: Rc::from(vec![step(
                                line,
                                say(&format!("{tag} saw a cancellation")),
                            )]),
                        }),
                        finally: Rc::from(vec![]),
                    },
                ));
            }
            Gen::Gather(a, b) => {
                out.push(step(
                    line,
                    StepKind::Gather {
                        items: vec![Target::Call(call(*a)), Target::Call(call(*b))],
                        each: None,
                        return_exceptions: true,
                        into: None,
                    },
                ));
                out.push(step(line, say(&tag)));
            }
            Gen::WaitFor(c, d) => out.push(step(
                line,
                StepKind::Try {
                    body: Rc::from(vec![
                        step(
                            line,
                            StepKind::WaitFor {
                                target: Target::Call(call(*c)),
                                timeout: d.clone(),
                                into: None,
                            },
                        ),
                        step(line, say(&format!("{tag} in time"))),
                    ]),
                    handler: Some(Handler {
                        kinds: vec!["TimeoutError".into()],
                        bind: None,
                        body: Rc::from(vec![step(line, say(&format!("{tag} timed out")))]),
                    }),
                    finally: Rc::from(vec![]),
                },
            )),
            Gen::TwoSleeps(a, b) => {
                out.push(step(line, StepKind::Sleep(a.clone())));
                out.push(step(line, StepKind::Sleep(b.clone())));
                out.push(step(line, say(&tag)));
            }
            Gen::TimeoutBlock(limit, d) => out.push(step(
                line,
                StepKind::Try {
                    body: Rc::from(vec![step(
                        line,
                        StepKind::Timeout {
                            delay: limit.clone(),
                            body: Rc::from(vec![
                                step(line, StepKind::Sleep(d.clone())),
                                step(line, say(&format!("{tag} in time"))),
                            ]),
                        },
                    )]),
                    handler: Some(Handler {
                        kinds: vec!["TimeoutError".into()],
                        bind: None,
                        body: Rc::from(vec![step(line, say(&format!("{tag} timed out")))]),
                    }),
                    finally: Rc::from(vec![]),
                },
            )),
            Gen::Shield(c) => {
                out.push(step(
                    line,
                    StepKind::Shield {
                        target: Target::Call(call(*c)),
                        into: None,
                    },
                ));
                out.push(step(line, say(&tag)));
            }
            // Over existing tasks: asyncio.as_completed makes tasks of bare
            // coroutines in set order, which CPython leaves unspecified.
            Gen::AsCompleted(a, b) => {
                for (k, c) in [a, b].into_iter().enumerate() {
                    out.push(step(
                        line,
                        StepKind::Spawn {
                            call: call(*c),
                            bind: Some(format!("a{n}_{k}")),
                            name: None,
                        },
                    ));
                }
                out.push(step(
                    line,
                    StepKind::AsCompleted {
                        items: vec![
                            Target::Value(Expr::Var(format!("a{n}_0"))),
                            Target::Value(Expr::Var(format!("a{n}_1"))),
                        ],
                        each: None,
                        bind: "r".into(),
                        body: Rc::from(vec![step(line, say(&format!("{tag} got one")))]),
                        timeout: None,
                    },
                ));
            }
            Gen::Limited(d) => out.push(step(
                line,
                StepKind::Semaphore {
                    name: "pool".into(),
                    body: Rc::from(vec![
                        step(line, say(&format!("{tag} in pool"))),
                        step(line, StepKind::Sleep(d.clone())),
                    ]),
                },
            )),
            Gen::EventRound(c) => {
                // A waiter on the event, released by this task after a call
                // runs beside it. Every task is awaited: tasks left at exit are
                // cancelled by asyncio.run in set order, which CPython leaves
                // unspecified.
                let (var, other) = (format!("w{n}"), format!("o{n}"));
                out.push(step(
                    line,
                    StepKind::Spawn {
                        call: call(*c),
                        bind: Some(other.clone()),
                        name: None,
                    },
                ));
                out.push(step(
                    line,
                    StepKind::Spawn {
                        call: Call {
                            name: "waiter".into(),
                            args: vec![],
                        },
                        bind: Some(var.clone()),
                        name: None,
                    },
                ));
                out.push(step(line, StepKind::Sleep(ms(0))));
                out.push(step(line, StepKind::EventSet("ev".into())));
                out.push(step(
                    line,
                    StepKind::Await {
                        target: Target::Value(Expr::Var(var)),
                        into: None,
                    },
                ));
                out.push(step(
                    line,
                    StepKind::Await {
                        target: Target::Value(Expr::Var(other)),
                        into: None,
                    },
                ));
                out.push(step(line, say(&tag)));
            }
            Gen::QueueRound => {
                out.push(step(
                    line,
                    StepKind::Put {
                        queue: "q".into(),
                        value: Expr::Str(tag.clone()),
                        nowait: true,
                    },
                ));
                out.push(step(
                    line,
                    StepKind::Get {
                        queue: "q".into(),
                        into: Some("item".into()),
                        nowait: false,
                    },
                ));
                out.push(step(
                    line,
                    StepKind::Print(vec![
                        Piece::Text(format!("{tag} got ")),
                        Piece::Value(Expr::Var("item".into()), None),
                    ]),
                ));
            }
            Gen::Locked(d) => out.push(step(
                line,
                StepKind::Lock {
                    name: "lock".into(),
                    body: Rc::from(vec![
                        step(line, say(&format!("{tag} locked"))),
                        step(line, StepKind::Sleep(d.clone())),
                    ]),
                },
            )),
        }
    }
    out
}

fn program() -> impl Strategy<Value = Vec<Vec<Gen>>> {
    (1usize..4).prop_flat_map(|k| {
        // Coroutine i may call coroutines 0..i; the last one is main.
        (0..=k)
            .map(|i| proptest::collection::vec(gen_step(i), 1..6))
            .collect::<Vec<_>>()
    })
}

fn scenario(gens: &[Vec<Gen>], python: PythonVersion) -> Scenario {
    let main = gens.len() - 1;
    let mut coroutines = BTreeMap::new();
    for (i, g) in gens.iter().enumerate() {
        let name = if i == main {
            "main".to_string()
        } else {
            format!("c{i}")
        };
        coroutines.insert(
            name.clone(),
            Rc::new(Coroutine {
                name: name.clone(),
                params: vec![],
                body: Rc::from({
                    let mut body = build(&name, g);
                    if i == main {
                        // Marks where shutdown begins (see `compare`).
                        body.push(step(99, say(MAIN_ENDS)));
                    }
                    body
                }),
                is_generator: false,
                line: 0,
            }),
        );
    }
    coroutines.insert(
        "waiter".to_string(),
        Rc::new(Coroutine {
            name: "waiter".into(),
            params: vec![],
            body: Rc::from(vec![
                step(1, StepKind::EventWait("ev".into())),
                step(2, say("waiter saw the event")),
            ]),
            is_generator: false,
            line: 0,
        }),
    );
    let mut primitives = BTreeMap::new();
    primitives.insert("lock".to_string(), Primitive::Lock);
    primitives.insert("pool".to_string(), Primitive::Semaphore(2));
    primitives.insert("ev".to_string(), Primitive::Event);
    primitives.insert(
        "q".to_string(),
        Primitive::Queue {
            kind: loopsim::sync::QueueKind::Fifo,
            maxsize: 0,
        },
    );
    let mut settings = Settings {
        python,
        ..Settings::default()
    };
    settings.limits.max_steps = 200_000;
    Scenario {
        file: "random.toml".into(),
        name: "random".into(),
        title: "a random program".into(),
        source: None,
        description: None,
        settings,
        coroutines,
        contexts: BTreeMap::new(),
        primitives,
        variants: vec![Variant {
            name: "main".into(),
            description: None,
            main: "main".into(),
            args: vec![],
            seed: None,
            model: None,
            python: None,
            eager_tasks: None,
            step_overhead: None,
        }],
        claims: vec![],
    }
}

fn loopsim_lines(s: &Scenario) -> Vec<String> {
    let r = scenario::run_variant(s, "main", None, None, false);
    let mut lines: Vec<String> = r
        .run
        .output
        .iter()
        .map(|l| format!("{} {}", l.at.as_nanos(), l.text))
        .collect();
    match &r.run.outcome {
        loopsim::Outcome::Failed(e) => lines.push(format!("raised {}", e.kind())),
        loopsim::Outcome::Deadlock { .. } => lines.push("deadlock".into()),
        _ => {}
    }
    lines
}

fn cpython_lines(py: &str, s: &Scenario) -> Vec<String> {
    let program = to_python(s, "main").expect("translatable");
    let out = Command::new(py)
        .arg("-c")
        .arg(&program)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

const MAIN_ENDS: &str = "main ends";

/// After main ends, `asyncio.run` cancels the tasks still running in set
/// order, which CPython leaves unspecified: what they print then is compared
/// as a sorted list, everything before exactly.
fn normalise(mut lines: Vec<String>) -> Vec<String> {
    if let Some(i) = lines.iter().position(|l| l.contains(MAIN_ENDS)) {
        lines[i + 1..].sort();
    }
    lines
}

fn cases() -> u32 {
    std::env::var("LOOPSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

fn differential(version: &str, pv: PythonVersion) {
    let Some(py) = python(version) else {
        eprintln!("random programs: python {version} not found, skipped");
        return;
    };
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(gens in program())| {
        let s = scenario(&gens, pv);
        // The generated model is a valid scenario: it prints to a file that parses.
        let text = scenario::print(&s);
        prop_assert!(scenario::parse("random.toml", &text).is_ok(), "generated scenario does not parse:\n{}", text);
        let ours = normalise(loopsim_lines(&s));
        let theirs = normalise(cpython_lines(&py, &s));
        prop_assert_eq!(ours, theirs, "loopsim vs CPython {} on:\n{}", version, text);
    });
}

#[test]
fn random_programs_print_what_cpython_312_prints() {
    differential("3.12.1", PythonVersion::Py312);
}

#[test]
fn random_programs_print_what_cpython_311_prints() {
    differential("3.11.7", PythonVersion::Py311);
}

#[test]
fn random_programs_print_what_cpython_313_prints() {
    differential("3.13.0", PythonVersion::Py313);
}
