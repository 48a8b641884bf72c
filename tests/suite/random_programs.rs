//! Differential testing on random programs: scenarios generated from code
//! (biased to equal deadlines, float sums and zero-length sleeps) run in
//! loopsim's `asyncio` model and in real CPython on a virtual clock must print
//! the same lines at the same nanosecond. A failure shrinks to a minimal
//! program, printed as a scenario file.
//!
//! Besides sleeps, locks, queues, gathers and timeouts, programs cancel a
//! task in the iteration its gather's children finish (directly and
//! through `wait_for`), await a task twice or from two tasks or after a
//! `wait_for` timed it out, query tasks (`done()`, `cancelled()`,
//! `result()`, `exception()`, `cancelling()`), loop with `while`, `break`
//! (out of a `try` whose `finally` prints) and `continue`, and re-raise
//! exceptions caught by a handler naming a base class. Every task a program
//! spawns is awaited: tasks left at `asyncio.run`'s end are cancelled in set
//! order, which CPython leaves unspecified.
//!
//! Programs also hand a lock or semaphore from an acquiring task to a
//! releasing one (with takers queued behind and over-releases caught),
//! wait on a condition (bare and `wait until` a task is done; a waiter
//! cancelled while waiting), run barrier rounds (and aborts and resets, in
//! main only) and cancel tasks with a message printed by everyone that
//! catches it.
//!
//! Each program runs under 3.11, 3.12 and 3.13 (one test per version).
//!
//! `LOOPSIM_FUZZ_CASES=N` sets the number of programs per Python version
//! (default 40 here, the same 40 on every run; a campaign runs thousands,
//! fresh each time; `PROPTEST_RNG_SEED=N` picks a set of its own).

use crate::support::python;
use loopsim::scenario::expr::{BinOp, CmpOp, Expr, Piece};
use loopsim::scenario::{
    self, Call, ControlStep, Coroutine, FutureStep, Handler, OutputStep, Primitive, Scenario,
    Settings, Step, StepKind, SyncStep, Target, TaskStep, Variant, python::to_python,
};
use loopsim::{PythonVersion, shutdown_order};
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

/// What a kid sleeps before its yields: mostly nothing, so that yields
/// count iterations.
fn kid_sleep() -> impl Strategy<Value = Expr> {
    prop_oneof![3 => Just(ms(0)), 1 => Just(ms(1))]
}

fn step(line: usize, kind: impl Into<StepKind>) -> Step {
    Step {
        line,
        kind: kind.into(),
    }
}

fn say(text: &str) -> OutputStep {
    OutputStep::Print(vec![
        Piece::Text(format!("{text} ")),
        Piece::Value(Expr::Var("task".into()), None),
    ])
}

fn var(v: &str) -> Expr {
    Expr::Var(v.into())
}

/// `v.m()`.
fn meth(v: &str, m: &str) -> Expr {
    Expr::Method(Box::new(var(v)), m.into(), vec![])
}

fn txt(s: &str) -> Piece {
    Piece::Text(s.into())
}

fn val(e: Expr) -> Piece {
    Piece::Value(e, None)
}

/// Prints the pieces and the current task's name.
fn sayp(line: usize, mut pieces: Vec<Piece>) -> Step {
    pieces.push(txt(" "));
    pieces.push(val(var("task")));
    step(line, OutputStep::Print(pieces))
}

fn steps(v: Vec<Step>) -> Rc<[Step]> {
    Rc::from(v)
}

fn try_except(
    line: usize,
    body: Vec<Step>,
    kinds: &[&str],
    bind: Option<&str>,
    handler: Vec<Step>,
    finally: Vec<Step>,
) -> Step {
    step(
        line,
        ControlStep::Try {
            body: steps(body),
            handler: Some(Handler {
                kinds: kinds.iter().map(|k| k.to_string()).collect(),
                bind: bind.map(String::from),
                body: steps(handler),
            }),
            finally: steps(finally),
        },
    )
}

fn if_then(line: usize, cond: Expr, then: Vec<Step>, otherwise: Vec<Step>) -> Step {
    step(
        line,
        ControlStep::If {
            cond,
            then: steps(then),
            otherwise: steps(otherwise),
        },
    )
}

fn set(line: usize, v: &str, value: Expr) -> Step {
    step(
        line,
        ControlStep::Set {
            var: v.into(),
            value,
        },
    )
}

fn yields(line: usize, j: u8) -> Vec<Step> {
    (0..j).map(|_| step(line, TaskStep::Sleep(ms(0)))).collect()
}

fn spawn(line: usize, name: &str, args: Vec<Expr>, bind: &str) -> Step {
    step(
        line,
        TaskStep::Spawn {
            call: Call {
                name: name.into(),
                args,
            },
            bind: Some(bind.into()),
            name: None,
        },
    )
}

fn await_var(line: usize, t: &str, into: Option<&str>) -> Step {
    step(
        line,
        TaskStep::Await {
            target: Target::Value(var(t)),
            into: into.map(String::from),
        },
    )
}

/// `body` (whose last step may bind `r`), reporting a cancellation and any
/// error (`Exception as e`) it ends with.
fn reporting(line: usize, body: Vec<Step>, tag: &Piece) -> Step {
    let inner = try_except(
        line,
        body,
        &["CancelledError"],
        None,
        vec![sayp(line, vec![tag.clone(), txt(" saw a cancellation")])],
        vec![],
    );
    try_except(
        line,
        vec![inner],
        &["Exception"],
        Some("e"),
        vec![sayp(
            line,
            vec![tag.clone(), txt(" saw error "), val(var("e"))],
        )],
        vec![],
    )
}

/// `r = await t`, printing `r`, or the cancellation or error it raised.
fn await_reporting(line: usize, t: &str, tag: &Piece) -> Step {
    reporting(
        line,
        vec![
            await_var(line, t, Some("r")),
            sayp(line, vec![tag.clone(), txt(" got "), val(var("r"))]),
        ],
        tag,
    )
}

/// [`reporting`], printing the `CancelledError` too (`{e}`: its message).
fn reporting_e(line: usize, body: Vec<Step>, tag: &Piece) -> Step {
    let inner = try_except(
        line,
        body,
        &["CancelledError"],
        Some("e"),
        vec![sayp(
            line,
            vec![
                tag.clone(),
                txt(" saw a cancellation '"),
                val(var("e")),
                txt("'"),
            ],
        )],
        vec![],
    );
    try_except(
        line,
        vec![inner],
        &["Exception"],
        Some("e"),
        vec![sayp(
            line,
            vec![tag.clone(), txt(" saw error "), val(var("e"))],
        )],
        vec![],
    )
}

/// [`await_reporting`] with the cancellation's message.
fn await_reporting_e(line: usize, t: &str, tag: &Piece) -> Step {
    reporting_e(
        line,
        vec![
            await_var(line, t, Some("r")),
            sayp(line, vec![tag.clone(), txt(" got "), val(var("r"))]),
        ],
        tag,
    )
}

/// `r = await asyncio.shield(t)`, reporting: a cancellation of this task
/// does not reach `t` (a holder cancelled so would keep its lock, a
/// condition waiter would never be woken).
///
fn shield_reporting_e(line: usize, t: &str, tag: &Piece) -> Step {
    reporting_e(
        line,
        vec![
            step(
                line,
                TaskStep::Shield {
                    target: Target::Value(var(t)),
                    into: Some("r".into()),
                },
            ),
            sayp(line, vec![tag.clone(), txt(" got "), val(var("r"))]),
        ],
        tag,
    )
}

/// `p.release()`, printing the `RuntimeError` (a free lock) or the
/// `ValueError` (a bounded semaphore at its bound) it raises.
fn safe_release(line: usize, p: &str, tag: &Piece) -> Step {
    let inner = try_except(
        line,
        vec![
            step(line, SyncStep::Release(p.into())),
            sayp(line, vec![tag.clone(), txt(&format!(" released {p}"))]),
        ],
        &["ValueError"],
        Some("e"),
        vec![sayp(
            line,
            vec![tag.clone(), txt(" ValueError "), val(var("e"))],
        )],
        vec![],
    );
    try_except(
        line,
        vec![inner],
        &["RuntimeError"],
        Some("e"),
        vec![sayp(
            line,
            vec![tag.clone(), txt(" RuntimeError "), val(var("e"))],
        )],
        vec![],
    )
}

/// `i = await b.wait()`, printing the index or the `BrokenBarrierError`.
fn barrier_try(line: usize, b: &str, tag: &Piece) -> Step {
    try_except(
        line,
        vec![
            step(
                line,
                SyncStep::BarrierWait {
                    name: b.into(),
                    into: Some("i".into()),
                },
            ),
            sayp(
                line,
                vec![tag.clone(), txt(" passed with index "), val(var("i"))],
            ),
        ],
        &["BrokenBarrierError"],
        Some("e"),
        vec![sayp(
            line,
            vec![tag.clone(), txt(" broken: "), val(var("e"))],
        )],
        vec![],
    )
}

/// Prints what task `t` says of itself: `done()`, `cancelled()`, then
/// (when done) `result()` or `exception()`.
fn probe(line: usize, t: &str, tag: &str) -> Vec<Step> {
    vec![
        sayp(
            line,
            vec![
                txt(&format!("{tag} done=")),
                val(meth(t, "done")),
                txt(" cancelled="),
                val(meth(t, "cancelled")),
            ],
        ),
        if_then(
            line,
            meth(t, "done"),
            vec![if_then(
                line,
                meth(t, "cancelled"),
                vec![sayp(line, vec![txt(&format!("{tag} was cancelled"))])],
                vec![if_then(
                    line,
                    Expr::Cmp(
                        Box::new(meth(t, "exception")),
                        CmpOp::Eq,
                        Box::new(Expr::None),
                    ),
                    vec![sayp(
                        line,
                        vec![txt(&format!("{tag} result ")), val(meth(t, "result"))],
                    )],
                    vec![sayp(
                        line,
                        vec![txt(&format!("{tag} exception ")), val(meth(t, "exception"))],
                    )],
                )],
            )],
            vec![],
        ),
    ]
}

/// `kid(d, k, tag)`, or a failing one raising `RAISED[fail]`.
fn kid_args(d: &Expr, k: u8, tag: &str, fail: Option<usize>) -> (String, Vec<Expr>) {
    match fail {
        None => (
            "kid".into(),
            vec![d.clone(), Expr::Int(k.into()), Expr::Str(tag.into())],
        ),
        Some(f) => (
            format!("fail_{}", RAISED[f].0),
            vec![d.clone(), Expr::Int(k.into())],
        ),
    }
}

/// A raised exception's message: half the `TimeoutError`s are bare (as
/// asyncio raises them), the others carry one.
fn message(class: &str, text: &str) -> Option<Vec<Piece>> {
    (class != "TimeoutError" || text.len().is_multiple_of(2)).then(|| vec![txt(text)])
}

fn print_cancel(line: usize, t: &str, tag: &str) -> Step {
    sayp(
        line,
        vec![
            txt(&format!("{tag} cancel ")),
            val(meth(t, "cancel")),
            txt(" cancelling "),
            val(meth(t, "cancelling")),
        ],
    )
}

/// One step of coroutine `me`, which may call coroutines below it.
#[derive(Clone, Debug)]
enum Gen {
    /// `current_task().cancel(msg)` (with a message or not), then `then`:
    /// 0 a 2 ms sleep, 1 a bare yield, 2 awaiting a future already
    /// cancelled with a message of its own and then a sleep; the
    /// `CancelledError`s printed, and `uncancel()` after.
    SelfCancel {
        msg: bool,
        then: u8,
    },
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
    /// A task gathering two kids (done after a sleep of `d` and `k` yields)
    /// cancelled by this one after `j` yields: `j` near the iteration where
    /// the kids finish. `mode` picks how the gatherer handles the
    /// cancellation (see [`GATHERERS`]).
    CancelGather {
        j: u8,
        k: u8,
        d: Expr,
        mode: usize,
    },
    /// `wait_for` on a gatherer (a coroutine, or a task awaited again after)
    /// whose timeout falls when its kids finish; `catch` names the class
    /// the timeout is caught as.
    WaitForGather {
        k: u8,
        d: Expr,
        timeout: Expr,
        mode: usize,
        as_task: bool,
        catch: usize,
    },
    /// A task awaited twice; by two other tasks; or by `wait_for` with a
    /// short timeout and then again.
    Reawait {
        how: u8,
        k: u8,
        d: Expr,
        short: Expr,
        cancel_after: Option<u8>,
        fail: Option<usize>,
    },
    /// Queries of a task (`done()`, `cancelled()`, `result()`,
    /// `exception()`, `cancelling()`) before, while and after it runs.
    Query {
        j: u8,
        k: u8,
        cancel: bool,
        fail: Option<usize>,
    },
    /// A counted `while` loop with `continue` and `break` (out of a `try`
    /// whose `finally` prints).
    Loop {
        n: u8,
        forever: bool,
        brk: Option<u8>,
        cont: Option<u8>,
        cont_in_try: bool,
        pause: Option<Expr>,
    },
    /// `while not t.done(): await asyncio.sleep(pause)`, counting the
    /// rounds. The pause is not zero when the kid sleeps: the virtual clock
    /// does not move while a task is always ready.
    Poll {
        k: u8,
        d: Expr,
        pause: Expr,
    },
    /// An exception caught by a handler naming a base class, printed and
    /// re-raised, caught again outside.
    Raising {
        kind: usize,
        inner: usize,
        outer: usize,
        source: u8,
        finally: bool,
    },
    /// A lock or semaphore (`HANDOFF[prim]`) acquired by a holder task that
    /// never releases it, released for it by a releaser task once the
    /// holder is done; `takers` tasks queue behind (each releasing in a
    /// `finally`), the first one cancelled after `cancel` yields. `extra`
    /// releases once more at the end (`RuntimeError` for a free lock,
    /// `ValueError` for a bounded semaphore at its bound).
    Handoff {
        prim: usize,
        d: Expr,
        d2: Expr,
        takers: u8,
        k: u8,
        cancel: Option<u8>,
        extra: bool,
    },
    /// Waiters on the condition (`true`: `wait until job.done()`, `false`:
    /// a bare `wait`), a driver task that notifies `n` after `j` yields
    /// (cancelling the first waiter, with a message or not, before or after
    /// the notify or later, per `cancel`), awaits the job, then
    /// `notify_all`s until every waiter is done.
    CondRound {
        until: Vec<bool>,
        j: u8,
        n: u8,
        k: u8,
        cancel: Option<(u8, bool)>,
    },
    /// `parties` workers (sleeping `ds[i]`) through `rounds` rounds of the
    /// barrier `bar{parties}`. Only in main: main's steps never overlap.
    BarrierRound {
        ds: Vec<Expr>,
        rounds: u8,
    },
    /// `m < parties` waiters on `bar{parties}` released by an abort (then a
    /// late waiter, then a reset) or a reset, after `j` yields. Only in main.
    BarrierBreak {
        parties: usize,
        m: usize,
        j: u8,
        abort: bool,
        late: bool,
    },
    /// `t.cancel(msg)` after `j` yields on a task of `CANCELLED[target]`
    /// (asleep 5 ms first if `asleep`, then done after `k` yields), once or
    /// twice (another message; `twice`: 1 after a yield, 2 at once: the
    /// first request alone cancels a sleep's future), its `CancelledError`
    /// printed (`{e}`) in it, in this task and in an awaiter.
    CancelMsg {
        target: usize,
        j: u8,
        k: u8,
        twice: u8,
        awaiter: bool,
        empty: bool,
        asleep: bool,
    },
}

/// The locks and semaphores of [`Gen::Handoff`].
const HANDOFF: &[&str] = &["lk", "sem1", "sem2", "bsem1", "bsem2"];

/// What [`Gen::CancelMsg`] cancels: kids printing their `CancelledError`
/// and re-raising it or returning, a plain kid, and the gatherers (which
/// forward the message to their children).
const CANCELLED: &[&str] = &[
    "msg_kid_reraise",
    "msg_kid_swallow",
    "kid",
    "gatherer_plain",
    "gatherer_reraise",
];

/// Gatherer coroutines, named for what they do on `CancelledError`: let
/// it through, print and re-raise, print and return `"swallowed"`.
const GATHERERS: &[&str] = &["gatherer_plain", "gatherer_reraise", "gatherer_swallow"];

/// What `wait_for`'s timeout is caught as (`TimeoutError` derives from
/// `OSError`; `asyncio.TimeoutError` is an alias of it).
const TIMEOUT_CATCHES: &[&str] = &[
    "TimeoutError",
    "asyncio.TimeoutError",
    "OSError",
    "Exception",
];

/// Classes raised, each with the classes that catch it (itself first, then
/// its bases) and one that does not. (`str(KeyError('k'))` is `'k'`,
/// quoted; a `TimeoutError` keeps its message.)
const RAISED: &[(&str, &[&str], &str)] = &[
    (
        "ZeroDivisionError",
        &["ZeroDivisionError", "ArithmeticError", "Exception"],
        "LookupError",
    ),
    (
        "OverflowError",
        &["OverflowError", "ArithmeticError", "Exception"],
        "OSError",
    ),
    (
        "IndexError",
        &["IndexError", "LookupError", "Exception"],
        "ArithmeticError",
    ),
    (
        "ConnectionResetError",
        &[
            "ConnectionResetError",
            "ConnectionError",
            "OSError",
            "Exception",
        ],
        "ValueError",
    ),
    (
        "TimeoutError",
        &["TimeoutError", "OSError", "Exception"],
        "ArithmeticError",
    ),
    ("ValueError", &["ValueError", "Exception"], "TypeError"),
    (
        "KeyError",
        &["KeyError", "LookupError", "Exception"],
        "IndexError",
    ),
    ("AppError", &["AppError", "Exception"], "RuntimeError"),
];

fn gen_step(below: usize, main: bool) -> BoxedStrategy<Gen> {
    let mut options: Vec<BoxedStrategy<Gen>> = vec![
        (
            0..HANDOFF.len(),
            duration(),
            prop_oneof![Just(ms(0)), Just(ms(1)), Just(Expr::Float(0.1))],
            0u8..3,
            0u8..3,
            proptest::option::of(0u8..4),
            any::<bool>(),
        )
            .prop_map(|(prim, d, d2, takers, k, cancel, extra)| Gen::Handoff {
                prim,
                d,
                d2,
                takers,
                k,
                cancel,
                extra,
            })
            .boxed(),
        (
            proptest::collection::vec(any::<bool>(), 1..4),
            0u8..4,
            0u8..3,
            0u8..4,
            proptest::option::of((0u8..3, any::<bool>())),
        )
            .prop_map(|(until, j, n, k, cancel)| Gen::CondRound {
                until,
                j,
                n,
                k,
                cancel,
            })
            .boxed(),
        (
            0..CANCELLED.len(),
            0u8..5,
            0u8..4,
            0u8..3,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(target, j, k, twice, awaiter, empty, asleep)| Gen::CancelMsg {
                    target,
                    j,
                    k,
                    twice,
                    awaiter,
                    empty,
                    asleep,
                },
            )
            .boxed(),
        Just(Gen::Print).boxed(),
        (any::<bool>(), 0u8..3)
            .prop_map(|(msg, then)| Gen::SelfCancel { msg, then })
            .boxed(),
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
        (0u8..3, 0u8..8, kid_sleep(), 0..GATHERERS.len())
            .prop_map(|(k, off, d, mode)| Gen::CancelGather {
                j: (k + off).saturating_sub(1),
                k,
                d,
                mode,
            })
            .boxed(),
        (
            0u8..3,
            prop_oneof![Just(ms(1)), Just(ms(2)), Just(Expr::Float(0.1))],
            prop_oneof![
                Just(ms(1)),
                Just(ms(2)),
                Just(ms(3)),
                Just(Expr::Float(0.1)),
                Just(Expr::Float(0.2))
            ],
            0..GATHERERS.len(),
            any::<bool>(),
            0..TIMEOUT_CATCHES.len(),
        )
            .prop_map(|(k, d, timeout, mode, as_task, catch)| Gen::WaitForGather {
                k,
                d,
                timeout,
                mode,
                as_task,
                catch,
            })
            .boxed(),
        (
            0u8..3,
            0u8..3,
            kid_sleep(),
            prop_oneof![Just(ms(0)), Just(ms(1)), Just(ms(2)), Just(ms(3))],
            proptest::option::of(0u8..5),
            proptest::option::of(0..RAISED.len()),
        )
            .prop_map(|(how, k, d, short, cancel_after, fail)| Gen::Reawait {
                how,
                k,
                d,
                short,
                cancel_after,
                fail,
            })
            .boxed(),
        (
            0u8..5,
            0u8..4,
            any::<bool>(),
            proptest::option::of(0..RAISED.len()),
        )
            .prop_map(|(j, k, cancel, fail)| Gen::Query { j, k, cancel, fail })
            .boxed(),
        (
            1u8..5,
            any::<bool>(),
            proptest::option::of(1u8..5),
            proptest::option::of(1u8..5),
            any::<bool>(),
            proptest::option::of(prop_oneof![Just(ms(0)), Just(ms(1))]),
        )
            .prop_map(|(n, forever, brk, cont, cont_in_try, pause)| Gen::Loop {
                n,
                forever,
                brk,
                cont,
                cont_in_try,
                pause,
            })
            .boxed(),
        (0u8..4, any::<bool>(), any::<bool>())
            .prop_map(|(k, sleeps, zero)| {
                let (d, pause) = match (sleeps, zero) {
                    (true, _) => (ms(1), ms(1)),
                    (false, true) => (ms(0), ms(0)),
                    (false, false) => (ms(0), ms(1)),
                };
                Gen::Poll { k, d, pause }
            })
            .boxed(),
        (0..RAISED.len(), 0usize..5, 0usize..4, 0u8..3, any::<bool>())
            .prop_map(|(kind, inner, outer, source, finally)| Gen::Raising {
                kind,
                inner,
                outer,
                source,
                finally,
            })
            .boxed(),
    ];
    if main {
        options.push(
            (1usize..4)
                .prop_flat_map(|parties| {
                    (
                        proptest::collection::vec(
                            prop_oneof![Just(ms(0)), Just(ms(1)), Just(Expr::Float(0.1))],
                            parties,
                        ),
                        1u8..3,
                    )
                })
                .prop_map(|(ds, rounds)| Gen::BarrierRound { ds, rounds })
                .boxed(),
        );
        options.push(
            (2usize..4)
                .prop_flat_map(|parties| {
                    (
                        Just(parties),
                        1..parties,
                        0u8..3,
                        any::<bool>(),
                        any::<bool>(),
                    )
                })
                .prop_map(|(parties, m, j, abort, late)| Gen::BarrierBreak {
                    parties,
                    m,
                    // A reset with nobody waiting would leave the waiters
                    // short of parties: they must be waiting first.
                    j: if abort { j } else { j.max(1) },
                    abort,
                    late: abort && late,
                })
                .boxed(),
        );
    }
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

/// The steps of coroutine `me`, and the coroutines they spawn of their own
/// (the condition drivers).
fn build(me: &str, gens: &[Gen]) -> (Vec<Step>, Vec<(String, Coroutine)>) {
    let mut out = Vec::new();
    let mut extra = Vec::new();
    for (n, g) in gens.iter().enumerate() {
        let line = n + 1;
        let tag = format!("{me}.{n}");
        match g {
            Gen::Print => out.push(step(line, say(&tag))),
            Gen::SelfCancel { msg, then } => {
                let me = Expr::Call("current_task".into(), vec![]);
                let args = if *msg {
                    vec![Expr::Str(format!("self {tag}"))]
                } else {
                    vec![]
                };
                out.push(set(
                    line,
                    &format!("sc{n}"),
                    Expr::Method(Box::new(me.clone()), "cancel".into(), args),
                ));
                let caught = |what: &str| {
                    vec![sayp(
                        line,
                        vec![
                            txt(&format!("{tag} {what} raised '")),
                            val(var("e")),
                            txt("'"),
                        ],
                    )]
                };
                let sleep_caught = |d: Expr, what: &str| {
                    try_except(
                        line,
                        vec![step(line, TaskStep::Sleep(d))],
                        &["CancelledError"],
                        Some("e"),
                        caught(what),
                        vec![],
                    )
                };
                match then {
                    0 => out.push(sleep_caught(ms(2), "sleep")),
                    1 => out.push(sleep_caught(ms(0), "yield")),
                    _ => {
                        let f = format!("sf{n}");
                        out.push(step(line, FutureStep::NewFuture(f.clone())));
                        out.push(set(
                            line,
                            &format!("sfc{n}"),
                            Expr::Method(
                                Box::new(var(&f)),
                                "cancel".into(),
                                vec![Expr::Str(format!("fut {tag}"))],
                            ),
                        ));
                        out.push(try_except(
                            line,
                            vec![await_var(line, &f, None)],
                            &["CancelledError"],
                            Some("e"),
                            caught("future"),
                            vec![],
                        ));
                        out.push(sleep_caught(ms(1), "then sleep"));
                    }
                }
                out.push(set(
                    line,
                    &format!("su{n}"),
                    Expr::Method(Box::new(me), "uncancel".into(), vec![]),
                ));
            }
            Gen::Sleep(d) => out.push(step(line, TaskStep::Sleep(d.clone()))),
            Gen::Block(d) => out.push(step(line, TaskStep::Block(d.clone()))),
            Gen::Inline(c) => out.push(step(
                line,
                TaskStep::Await {
                    target: Target::Call(call(*c)),
                    into: None,
                },
            )),
            Gen::Yields(k) => {
                for _ in 0..*k {
                    out.push(step(line, TaskStep::Sleep(ms(0))));
                }
                out.push(step(line, say(&tag)));
            }
            Gen::SpawnAwait(c, cancel) => {
                let var = format!("t{n}");
                out.push(step(
                    line,
                    TaskStep::Spawn {
                        call: call(*c),
                        bind: Some(var.clone()),
                        name: None,
                    },
                ));
                out.push(step(line, TaskStep::Sleep(ms(0))));
                if *cancel {
                    out.push(step(line, TaskStep::Cancel(Expr::Var(var.clone()))));
                }
                out.push(step(
                    line,
                    ControlStep::Try {
                        body: Rc::from(vec![step(
                            line,
                            TaskStep::Await {
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
                    TaskStep::Gather {
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
                ControlStep::Try {
                    body: Rc::from(vec![
                        step(
                            line,
                            TaskStep::WaitFor {
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
                out.push(step(line, TaskStep::Sleep(a.clone())));
                out.push(step(line, TaskStep::Sleep(b.clone())));
                out.push(step(line, say(&tag)));
            }
            Gen::TimeoutBlock(limit, d) => out.push(step(
                line,
                ControlStep::Try {
                    body: Rc::from(vec![step(
                        line,
                        TaskStep::Timeout {
                            delay: limit.clone(),
                            body: Rc::from(vec![
                                step(line, TaskStep::Sleep(d.clone())),
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
                    TaskStep::Shield {
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
                        TaskStep::Spawn {
                            call: call(*c),
                            bind: Some(format!("a{n}_{k}")),
                            name: None,
                        },
                    ));
                }
                out.push(step(
                    line,
                    TaskStep::AsCompleted {
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
                SyncStep::Semaphore {
                    name: "pool".into(),
                    body: Rc::from(vec![
                        step(line, say(&format!("{tag} in pool"))),
                        step(line, TaskStep::Sleep(d.clone())),
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
                    TaskStep::Spawn {
                        call: call(*c),
                        bind: Some(other.clone()),
                        name: None,
                    },
                ));
                out.push(step(
                    line,
                    TaskStep::Spawn {
                        call: Call {
                            name: "waiter".into(),
                            args: vec![],
                        },
                        bind: Some(var.clone()),
                        name: None,
                    },
                ));
                out.push(step(line, TaskStep::Sleep(ms(0))));
                out.push(step(line, SyncStep::EventSet("ev".into())));
                out.push(step(
                    line,
                    TaskStep::Await {
                        target: Target::Value(Expr::Var(var)),
                        into: None,
                    },
                ));
                out.push(step(
                    line,
                    TaskStep::Await {
                        target: Target::Value(Expr::Var(other)),
                        into: None,
                    },
                ));
                out.push(step(line, say(&tag)));
            }
            Gen::QueueRound => {
                out.push(step(
                    line,
                    SyncStep::Put {
                        queue: "q".into(),
                        value: Expr::Str(tag.clone()),
                        nowait: true,
                    },
                ));
                out.push(step(
                    line,
                    SyncStep::Get {
                        queue: "q".into(),
                        into: Some("item".into()),
                        nowait: false,
                    },
                ));
                out.push(step(
                    line,
                    OutputStep::Print(vec![
                        Piece::Text(format!("{tag} got ")),
                        Piece::Value(Expr::Var("item".into()), None),
                    ]),
                ));
            }
            Gen::CancelGather { j, k, d, mode } => {
                let t = format!("g{n}");
                out.push(spawn(
                    line,
                    GATHERERS[*mode],
                    vec![d.clone(), Expr::Int((*k).into()), Expr::Str(tag.clone())],
                    &t,
                ));
                out.extend(yields(line, *j));
                out.push(print_cancel(line, &t, &tag));
                out.push(await_reporting(line, &t, &txt(&tag)));
                out.extend(probe(line, &t, &tag));
            }
            Gen::WaitForGather {
                k,
                d,
                timeout,
                mode,
                as_task,
                catch,
            } => {
                let t = format!("g{n}");
                let args = vec![d.clone(), Expr::Int((*k).into()), Expr::Str(tag.clone())];
                let target = if *as_task {
                    out.push(spawn(line, GATHERERS[*mode], args, &t));
                    Target::Value(var(&t))
                } else {
                    Target::Call(Call {
                        name: GATHERERS[*mode].into(),
                        args,
                    })
                };
                out.push(try_except(
                    line,
                    vec![
                        step(
                            line,
                            TaskStep::WaitFor {
                                target,
                                timeout: timeout.clone(),
                                into: Some("r".into()),
                            },
                        ),
                        sayp(line, vec![txt(&format!("{tag} in time ")), val(var("r"))]),
                    ],
                    &[TIMEOUT_CATCHES[*catch]],
                    None,
                    vec![sayp(
                        line,
                        vec![txt(&format!(
                            "{tag} timed out ({})",
                            TIMEOUT_CATCHES[*catch]
                        ))],
                    )],
                    vec![],
                ));
                if *as_task {
                    out.extend(probe(line, &t, &tag));
                    out.push(await_reporting(line, &t, &txt(&format!("{tag} again"))));
                }
            }
            Gen::Reawait {
                how,
                k,
                d,
                short,
                cancel_after,
                fail,
            } => {
                let t = format!("r{n}");
                let (name, args) = kid_args(d, *k, &tag, *fail);
                out.push(spawn(line, &name, args, &t));
                let cancel = |out: &mut Vec<Step>| {
                    if let Some(c) = cancel_after {
                        out.extend(yields(line, *c));
                        out.push(print_cancel(line, &t, &tag));
                    }
                };
                match how {
                    0 => {
                        cancel(&mut out);
                        out.push(await_reporting(line, &t, &txt(&format!("{tag} first"))));
                        out.push(await_reporting(line, &t, &txt(&format!("{tag} second"))));
                    }
                    1 => {
                        let (w1, w2) = (format!("w{n}_1"), format!("w{n}_2"));
                        for w in [&w1, &w2] {
                            out.push(spawn(
                                line,
                                "awaiter",
                                vec![var(&t), Expr::Str(format!("{tag} {w}"))],
                                w,
                            ));
                        }
                        cancel(&mut out);
                        out.push(await_var(line, &w1, None));
                        out.push(await_var(line, &w2, None));
                        out.push(await_reporting(line, &t, &txt(&format!("{tag} itself"))));
                    }
                    _ => {
                        let wf = try_except(
                            line,
                            vec![
                                step(
                                    line,
                                    TaskStep::WaitFor {
                                        target: Target::Value(var(&t)),
                                        timeout: short.clone(),
                                        into: Some("r".into()),
                                    },
                                ),
                                sayp(line, vec![txt(&format!("{tag} in time ")), val(var("r"))]),
                            ],
                            &["TimeoutError"],
                            None,
                            vec![sayp(line, vec![txt(&format!("{tag} timed out"))])],
                            vec![],
                        );
                        out.push(reporting(line, vec![wf], &txt(&format!("{tag} wait_for"))));
                        out.extend(probe(line, &t, &tag));
                        out.push(await_reporting(line, &t, &txt(&format!("{tag} again"))));
                    }
                }
                out.extend(probe(line, &t, &tag));
            }
            Gen::Query { j, k, cancel, fail } => {
                let t = format!("q{n}");
                let (name, args) = kid_args(&ms(0), *k, &tag, *fail);
                out.push(spawn(line, &name, args, &t));
                out.extend(probe(line, &t, &format!("{tag} at start")));
                out.extend(yields(line, *j));
                out.extend(probe(line, &t, &format!("{tag} after {j}")));
                if *cancel {
                    out.push(print_cancel(line, &t, &tag));
                }
                out.push(await_reporting(line, &t, &txt(&tag)));
                out.extend(probe(line, &t, &format!("{tag} at end")));
                out.push(sayp(
                    line,
                    vec![
                        txt(&format!("{tag} cancelling at end ")),
                        val(meth(&t, "cancelling")),
                    ],
                ));
            }
            Gen::Loop {
                n: times,
                forever,
                brk,
                cont,
                cont_in_try,
                pause,
            } => {
                let i = format!("i{n}");
                let ivar = || var(&i);
                let is = |op: CmpOp, x: u8| {
                    Expr::Cmp(Box::new(var(&i)), op, Box::new(Expr::Int(x.into())))
                };
                // A loop without a condition breaks at the latest after `times`
                // rounds (`>=`: a `continue` on that round does not skip it).
                let brk = if *forever {
                    Some(brk.unwrap_or(*times))
                } else {
                    *brk
                };
                let cont_step = cont.map(|c| {
                    if_then(
                        line,
                        is(CmpOp::Eq, c),
                        vec![
                            sayp(line, vec![txt(&format!("{tag} continue at ")), val(ivar())]),
                            step(line, ControlStep::Continue),
                        ],
                        vec![],
                    )
                });
                let mut inner = Vec::new();
                if *cont_in_try {
                    inner.extend(cont_step.clone());
                }
                if let Some(p) = pause {
                    inner.push(step(line, TaskStep::Sleep(p.clone())));
                }
                if let Some(b) = brk {
                    inner.push(if_then(
                        line,
                        is(CmpOp::Ge, b),
                        vec![
                            sayp(line, vec![txt(&format!("{tag} break at ")), val(ivar())]),
                            step(line, ControlStep::Break),
                        ],
                        vec![],
                    ));
                }
                inner.push(sayp(line, vec![txt(&format!("{tag} round ")), val(ivar())]));
                let mut body = vec![set(
                    line,
                    &i,
                    Expr::Bin(Box::new(ivar()), BinOp::Add, Box::new(Expr::Int(1))),
                )];
                if !*cont_in_try {
                    body.extend(cont_step);
                }
                body.push(step(
                    line,
                    ControlStep::Try {
                        body: steps(inner),
                        handler: None,
                        finally: steps(vec![sayp(
                            line,
                            vec![txt(&format!("{tag} finally ")), val(ivar())],
                        )]),
                    },
                ));
                out.push(set(line, &i, Expr::Int(0)));
                out.push(step(
                    line,
                    ControlStep::While {
                        cond: if *forever {
                            Expr::Bool(true)
                        } else {
                            is(CmpOp::Lt, *times)
                        },
                        body: steps(body),
                    },
                ));
                out.push(sayp(
                    line,
                    vec![txt(&format!("{tag} after the loop ")), val(ivar())],
                ));
            }
            Gen::Poll { k, d, pause } => {
                let (t, polls) = (format!("p{n}"), format!("polls{n}"));
                out.push(spawn(
                    line,
                    "kid",
                    vec![d.clone(), Expr::Int((*k).into()), Expr::Str(tag.clone())],
                    &t,
                ));
                out.push(set(line, &polls, Expr::Int(0)));
                out.push(step(
                    line,
                    ControlStep::While {
                        cond: Expr::Not(Box::new(meth(&t, "done"))),
                        body: steps(vec![
                            step(line, TaskStep::Sleep(pause.clone())),
                            set(
                                line,
                                &polls,
                                Expr::Bin(
                                    Box::new(var(&polls)),
                                    BinOp::Add,
                                    Box::new(Expr::Int(1)),
                                ),
                            ),
                        ]),
                    },
                ));
                out.push(sayp(
                    line,
                    vec![txt(&format!("{tag} polled ")), val(var(&polls))],
                ));
                out.push(await_reporting(line, &t, &txt(&tag)));
            }
            Gen::Raising {
                kind,
                inner,
                outer,
                source,
                finally,
            } => {
                let (class, catchers, unrelated) = RAISED[*kind];
                let inner_kind = catchers.get(*inner).copied().unwrap_or(unrelated);
                let outer_kind = catchers[*outer % catchers.len()];
                let mut body = Vec::new();
                match source {
                    0 => body.push(step(
                        line,
                        ControlStep::Raise {
                            kind: class.into(),
                            message: message(class, &format!("boom {tag}")),
                        },
                    )),
                    1 => {
                        let t = format!("f{n}");
                        out.push(spawn(
                            line,
                            &format!("fail_{class}"),
                            vec![ms(0), Expr::Int(1)],
                            &t,
                        ));
                        body.push(await_var(line, &t, None));
                    }
                    _ => body.push(step(
                        line,
                        TaskStep::Await {
                            target: Target::Call(Call {
                                name: format!("fail_{class}"),
                                args: vec![ms(0), Expr::Int(0)],
                            }),
                            into: None,
                        },
                    )),
                }
                body.push(sayp(line, vec![txt(&format!("{tag} not reached"))]));
                let fin = if *finally {
                    vec![sayp(line, vec![txt(&format!("{tag} inner finally"))])]
                } else {
                    vec![]
                };
                let inner_try = try_except(
                    line,
                    body,
                    &[inner_kind],
                    Some("e"),
                    vec![
                        sayp(
                            line,
                            vec![txt(&format!("{tag} {inner_kind} caught ")), val(var("e"))],
                        ),
                        step(line, ControlStep::Reraise),
                    ],
                    fin,
                );
                out.push(try_except(
                    line,
                    vec![inner_try],
                    &[outer_kind],
                    Some("e"),
                    vec![sayp(
                        line,
                        vec![
                            txt(&format!("{tag} {outer_kind} caught again ")),
                            val(var("e")),
                        ],
                    )],
                    vec![],
                ));
            }
            Gen::Locked(d) => out.push(step(
                line,
                SyncStep::Lock {
                    name: "lock".into(),
                    body: Rc::from(vec![
                        step(line, say(&format!("{tag} locked"))),
                        step(line, TaskStep::Sleep(d.clone())),
                    ]),
                },
            )),
            Gen::Handoff {
                prim,
                d,
                d2,
                takers,
                k,
                cancel,
                extra: again,
            } => {
                let p = HANDOFF[*prim];
                let (h, r) = (format!("h{n}"), format!("rl{n}"));
                out.push(spawn(
                    line,
                    &format!("hold_{p}"),
                    vec![d.clone(), Expr::Str(format!("{tag} holder"))],
                    &h,
                ));
                out.push(spawn(
                    line,
                    &format!("release_{p}"),
                    vec![var(&h), d2.clone(), Expr::Str(format!("{tag} releaser"))],
                    &r,
                ));
                let ts: Vec<String> = (0..*takers).map(|i| format!("tk{n}_{i}")).collect();
                for (i, t) in ts.iter().enumerate() {
                    out.push(spawn(
                        line,
                        &format!("take_{p}"),
                        vec![Expr::Int((*k).into()), Expr::Str(format!("{tag} taker{i}"))],
                        t,
                    ));
                }
                if let (Some(c), Some(t)) = (cancel, ts.first()) {
                    out.extend(yields(line, *c));
                    out.push(print_cancel(line, t, &tag));
                }
                for t in [&h, &r].into_iter().chain(&ts) {
                    out.push(shield_reporting_e(line, t, &txt(&format!("{tag} {t}"))));
                }
                if *again {
                    out.push(safe_release(line, p, &txt(&format!("{tag} again"))));
                }
            }
            Gen::CondRound {
                until,
                j,
                n: notify,
                k,
                cancel,
            } => {
                let job = format!("job{n}");
                out.push(spawn(
                    line,
                    "kid",
                    vec![
                        ms(0),
                        Expr::Int((*k).into()),
                        Expr::Str(format!("{tag} job")),
                    ],
                    &job,
                ));
                let ws: Vec<String> = (0..until.len()).map(|i| format!("cw{n}_{i}")).collect();
                for (i, (w, u)) in ws.iter().zip(until).enumerate() {
                    let tag = Expr::Str(format!("{tag} waiter{i}"));
                    if *u {
                        out.push(spawn(line, "cond_until", vec![var(&job), tag], w));
                    } else {
                        out.push(spawn(line, "cond_wait", vec![tag], w));
                    }
                }
                let name = format!("drive_{me}_{n}");
                let first = Expr::Index(Box::new(var("ws")), Box::new(Expr::Int(0)));
                let cancel_step = |with: bool| {
                    if with {
                        step(
                            line,
                            TaskStep::CancelWith {
                                task: first.clone(),
                                message: vec![txt("stop "), val(var("task"))],
                            },
                        )
                    } else {
                        step(line, TaskStep::Cancel(first.clone()))
                    }
                };
                let mut block = Vec::new();
                if let Some((0, with)) = cancel {
                    block.push(cancel_step(*with));
                }
                block.push(step(
                    line,
                    SyncStep::Notify {
                        name: "cond".into(),
                        n: Expr::Int((*notify).into()),
                    },
                ));
                if let Some((1, with)) = cancel {
                    block.push(cancel_step(*with));
                }
                let mut body = yields(line, *j);
                body.push(step(
                    line,
                    SyncStep::Condition {
                        name: "cond".into(),
                        body: steps(block),
                    },
                ));
                if let Some((2, with)) = cancel {
                    body.extend(yields(line, 1));
                    body.push(cancel_step(*with));
                }
                body.push(sayp(line, vec![txt(&format!("{tag} notified {notify}"))]));
                body.push(await_var(line, "job", None));
                // Every waiter is woken: notify_all until it is done.
                body.push(step(
                    line,
                    ControlStep::For {
                        var: "w".into(),
                        iter: var("ws"),
                        body: steps(vec![step(
                            line,
                            ControlStep::While {
                                cond: Expr::Not(Box::new(meth("w", "done"))),
                                body: steps(vec![
                                    step(
                                        line,
                                        SyncStep::Condition {
                                            name: "cond".into(),
                                            body: steps(vec![step(
                                                line,
                                                SyncStep::NotifyAll("cond".into()),
                                            )]),
                                        },
                                    ),
                                    step(line, TaskStep::Sleep(ms(0))),
                                ]),
                            },
                        )]),
                    },
                ));
                body.push(sayp(line, vec![txt(&format!("{tag} driver done"))]));
                extra.push(coroutine(&name, &["job", "ws"], body));
                let dv = format!("dv{n}");
                out.push(spawn(
                    line,
                    &name,
                    vec![var(&job), Expr::List(ws.iter().map(|w| var(w)).collect())],
                    &dv,
                ));
                for t in std::iter::once(&dv).chain(&ws).chain([&job]) {
                    out.push(shield_reporting_e(line, t, &txt(&format!("{tag} {t}"))));
                }
            }
            Gen::BarrierRound { ds, rounds } => {
                let ws: Vec<String> = (0..ds.len()).map(|i| format!("bw{n}_{i}")).collect();
                for (i, (w, d)) in ws.iter().zip(ds).enumerate() {
                    out.push(spawn(
                        line,
                        &format!("bar_worker_{}", ds.len()),
                        vec![
                            d.clone(),
                            Expr::Int((*rounds).into()),
                            Expr::Str(format!("{tag} worker{i}")),
                        ],
                        w,
                    ));
                }
                for w in &ws {
                    out.push(await_reporting_e(line, w, &txt(&format!("{tag} {w}"))));
                }
            }
            Gen::BarrierBreak {
                parties,
                m,
                j,
                abort,
                late,
            } => {
                let b = format!("bar{parties}");
                let vs: Vec<String> = (0..*m).map(|i| format!("bv{n}_{i}")).collect();
                for (i, v) in vs.iter().enumerate() {
                    out.push(spawn(
                        line,
                        &format!("bar_victim_{parties}"),
                        vec![Expr::Str(format!("{tag} victim{i}"))],
                        v,
                    ));
                }
                out.extend(yields(line, *j));
                out.push(sayp(
                    line,
                    vec![txt(&format!(
                        "{tag} {}",
                        if *abort { "aborts" } else { "resets" }
                    ))],
                ));
                out.push(step(
                    line,
                    if *abort {
                        SyncStep::BarrierAbort(b.clone())
                    } else {
                        SyncStep::BarrierReset(b.clone())
                    },
                ));
                for v in &vs {
                    out.push(await_reporting_e(line, v, &txt(&format!("{tag} {v}"))));
                }
                if *late {
                    out.push(barrier_try(line, &b, &txt(&format!("{tag} late"))));
                }
                if *abort {
                    // Mended for the next round.
                    out.push(step(line, SyncStep::BarrierReset(b)));
                }
            }
            Gen::CancelMsg {
                target,
                j,
                k,
                twice,
                awaiter,
                empty,
                asleep,
            } => {
                let t = format!("m{n}");
                let d = if *asleep { ms(5) } else { ms(0) };
                out.push(spawn(
                    line,
                    CANCELLED[*target],
                    vec![d, Expr::Int((*k).into()), Expr::Str(tag.clone())],
                    &t,
                ));
                let aw = format!("ma{n}");
                if *awaiter {
                    out.push(spawn(
                        line,
                        "awaiter",
                        vec![var(&t), Expr::Str(format!("{tag} awaiter"))],
                        &aw,
                    ));
                }
                out.extend(yields(line, *j));
                let message = if *empty {
                    vec![]
                } else {
                    vec![txt("stop "), val(var("task")), txt(&format!(" at {tag}"))]
                };
                out.push(step(
                    line,
                    TaskStep::CancelWith {
                        task: var(&t),
                        message,
                    },
                ));
                if *twice > 0 {
                    if *twice == 1 {
                        out.push(yields(line, 1).remove(0));
                    }
                    out.push(step(
                        line,
                        TaskStep::CancelWith {
                            task: var(&t),
                            message: vec![txt(&format!("again {tag}"))],
                        },
                    ));
                }
                // Awaited by the awaiter and then by this task, or by this
                // task alone: only the first to retrieve a cancelled task's
                // CancelledError gets its message, later ones a bare one.
                if *awaiter {
                    out.push(await_var(line, &aw, None));
                }
                out.push(await_reporting_e(line, &t, &txt(&tag)));
                out.extend(probe(line, &t, &tag));
            }
        }
    }
    (out, extra)
}

fn program() -> impl Strategy<Value = Vec<Vec<Gen>>> {
    (1usize..4).prop_flat_map(|k| {
        // Coroutine i may call coroutines 0..i; the last one is main.
        (0..=k)
            .map(|i| proptest::collection::vec(gen_step(i, i == k), 1..6))
            .collect::<Vec<_>>()
    })
}

fn scenario(gens: &[Vec<Gen>], python: PythonVersion) -> Scenario {
    let main = gens.len() - 1;
    let mut coroutines = BTreeMap::new();
    let mut extras = Vec::new();
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
                    let (mut body, extra) = build(&name, g);
                    extras.extend(extra);
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
                step(1, SyncStep::EventWait("ev".into())),
                step(2, say("waiter saw the event")),
            ]),
            is_generator: false,
            line: 0,
        }),
    );
    for (name, c) in helpers().into_iter().chain(extras) {
        coroutines.insert(name, Rc::new(c));
    }
    let mut primitives = BTreeMap::new();
    primitives.insert("lock".to_string(), Primitive::Lock);
    primitives.insert("pool".to_string(), Primitive::Semaphore(2));
    primitives.insert("ev".to_string(), Primitive::Event);
    primitives.insert("lk".to_string(), Primitive::Lock);
    primitives.insert("sem1".to_string(), Primitive::Semaphore(1));
    primitives.insert("sem2".to_string(), Primitive::Semaphore(2));
    primitives.insert("bsem1".to_string(), Primitive::BoundedSemaphore(1));
    primitives.insert("bsem2".to_string(), Primitive::BoundedSemaphore(2));
    primitives.insert("cond".to_string(), Primitive::Condition);
    for parties in 1..4 {
        primitives.insert(format!("bar{parties}"), Primitive::Barrier(parties));
    }
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
        services: BTreeMap::new(),
        pools: BTreeMap::new(),
        network: Default::default(),
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

fn coroutine(name: &str, params: &[&str], body: Vec<Step>) -> (String, Coroutine) {
    (
        name.to_string(),
        Coroutine {
            name: name.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
            body: steps(body),
            is_generator: false,
            line: 0,
        },
    )
}

/// The coroutines the new steps spawn: `kid(d, k, tag)` sleeps `d`, yields
/// `k` times and returns its tag; `fail_<Class>(d, k)` raises instead; the
/// gatherers gather two kids (and react to a cancellation as their name
/// says); `awaiter(t, tag)` awaits a task another task also awaits.
fn helpers() -> Vec<(String, Coroutine)> {
    let wait = |line| {
        vec![
            step(line, TaskStep::Sleep(var("d"))),
            step(
                line,
                ControlStep::Repeat {
                    times: var("k"),
                    index: None,
                    body: steps(vec![step(line, TaskStep::Sleep(ms(0)))]),
                },
            ),
        ]
    };
    let mut out = Vec::new();
    let mut kid = wait(1);
    kid.push(sayp(3, vec![val(var("tag")), txt(" done")]));
    kid.push(step(4, ControlStep::Return(Some(var("tag")))));
    out.push(coroutine("kid", &["d", "k", "tag"], kid));
    for (class, _, _) in RAISED {
        let mut body = wait(1);
        body.push(sayp(3, vec![txt(&format!("failing with {class}"))]));
        body.push(step(
            4,
            ControlStep::Raise {
                kind: class.to_string(),
                message: message(class, "boom"),
            },
        ));
        out.push(coroutine(&format!("fail_{class}"), &["d", "k"], body));
    }
    let kid_call = |suffix: &str| {
        Target::Call(Call {
            name: "kid".into(),
            args: vec![
                var("d"),
                var("k"),
                Expr::Bin(
                    Box::new(var("tag")),
                    BinOp::Add,
                    Box::new(Expr::Str(suffix.into())),
                ),
            ],
        })
    };
    let gather = vec![
        step(
            2,
            TaskStep::Gather {
                items: vec![kid_call("a"), kid_call("b")],
                each: None,
                return_exceptions: false,
                into: Some("r".into()),
            },
        ),
        sayp(3, vec![val(var("tag")), txt(" gathered "), val(var("r"))]),
        step(4, ControlStep::Return(Some(var("r")))),
    ];
    let start = sayp(1, vec![val(var("tag")), txt(" gathers")]);
    let on_cancel = |last: Step| {
        vec![
            sayp(
                5,
                vec![
                    val(var("tag")),
                    txt(" gatherer cancelled, cancelling "),
                    val(Expr::Method(
                        Box::new(Expr::Call("current_task".into(), vec![])),
                        "cancelling".into(),
                        vec![],
                    )),
                ],
            ),
            last,
        ]
    };
    for (name, handler) in GATHERERS.iter().zip([
        None,
        Some(on_cancel(step(6, ControlStep::Reraise))),
        Some(on_cancel(step(
            6,
            ControlStep::Return(Some(Expr::Str("swallowed".into()))),
        ))),
    ]) {
        let body = match handler {
            None => gather.clone(),
            Some(h) => vec![try_except(
                2,
                gather.clone(),
                &["CancelledError"],
                None,
                h,
                vec![],
            )],
        };
        let mut full = vec![start.clone()];
        full.extend(body);
        out.push(coroutine(name, &["d", "k", "tag"], full));
    }
    out.push(coroutine(
        "awaiter",
        &["t", "tag"],
        vec![await_reporting_e(1, "t", &val(var("tag")))],
    ));
    let tag = || val(var("tag"));
    // Explicit acquire and release (see `Gen::Handoff`).
    for p in HANDOFF {
        out.push(coroutine(
            &format!("hold_{p}"),
            &["d", "tag"],
            vec![
                step(1, SyncStep::Acquire(p.to_string())),
                sayp(2, vec![tag(), txt(&format!(" holds {p}"))]),
                step(3, TaskStep::Sleep(var("d"))),
                sayp(4, vec![tag(), txt(" done, not releasing")]),
                step(5, ControlStep::Return(Some(var("tag")))),
            ],
        ));
        out.push(coroutine(
            &format!("release_{p}"),
            &["h", "d", "tag"],
            vec![
                await_var(1, "h", None),
                step(2, TaskStep::Sleep(var("d"))),
                safe_release(3, p, &tag()),
                step(4, ControlStep::Return(Some(var("tag")))),
            ],
        ));
        out.push(coroutine(
            &format!("take_{p}"),
            &["k", "tag"],
            vec![
                step(1, SyncStep::Acquire(p.to_string())),
                step(
                    2,
                    ControlStep::Try {
                        body: steps(vec![
                            sayp(2, vec![tag(), txt(&format!(" got {p}"))]),
                            step(
                                3,
                                ControlStep::Repeat {
                                    times: var("k"),
                                    index: None,
                                    body: steps(vec![step(3, TaskStep::Sleep(ms(0)))]),
                                },
                            ),
                        ]),
                        handler: None,
                        finally: steps(vec![safe_release(4, p, &tag())]),
                    },
                ),
                step(5, ControlStep::Return(Some(var("tag")))),
            ],
        ));
    }
    // Condition waiters (see `Gen::CondRound`): a bare wait, and the
    // desugared `wait until j.done()`.
    for (name, wait) in [
        ("cond_wait", step(2, SyncStep::CondWait("cond".into()))),
        (
            "cond_until",
            step(
                2,
                ControlStep::While {
                    cond: Expr::Not(Box::new(meth("j", "done"))),
                    body: steps(vec![step(2, SyncStep::CondWait("cond".into()))]),
                },
            ),
        ),
    ] {
        let params: &[&str] = if name == "cond_wait" {
            &["tag"]
        } else {
            &["j", "tag"]
        };
        out.push(coroutine(
            name,
            params,
            vec![
                try_except(
                    1,
                    vec![step(
                        1,
                        SyncStep::Condition {
                            name: "cond".into(),
                            body: steps(vec![
                                sayp(1, vec![tag(), txt(" waits")]),
                                wait,
                                sayp(3, vec![tag(), txt(" woke")]),
                            ]),
                        },
                    )],
                    &["CancelledError"],
                    Some("e"),
                    vec![
                        sayp(
                            4,
                            vec![tag(), txt(" cancelled waiting '"), val(var("e")), txt("'")],
                        ),
                        step(4, ControlStep::Reraise),
                    ],
                    vec![],
                ),
                step(5, ControlStep::Return(Some(var("tag")))),
            ],
        ));
    }
    // Barrier workers and victims (see `Gen::BarrierRound`, `Gen::BarrierBreak`).
    for parties in 1..4 {
        let b = format!("bar{parties}");
        out.push(coroutine(
            &format!("bar_worker_{parties}"),
            &["d", "rounds", "tag"],
            vec![
                step(
                    1,
                    ControlStep::Repeat {
                        times: var("rounds"),
                        index: None,
                        body: steps(vec![
                            step(1, TaskStep::Sleep(var("d"))),
                            sayp(2, vec![tag(), txt(" arrives")]),
                            barrier_try(3, &b, &tag()),
                        ]),
                    },
                ),
                step(4, ControlStep::Return(Some(var("tag")))),
            ],
        ));
        out.push(coroutine(
            &format!("bar_victim_{parties}"),
            &["tag"],
            vec![barrier_try(1, &b, &tag())],
        ));
    }
    // Kids printing the CancelledError they get (see `Gen::CancelMsg`).
    let mut body = wait(1);
    body.push(sayp(3, vec![tag(), txt(" done")]));
    body.push(step(4, ControlStep::Return(Some(var("tag")))));
    for (name, last) in [
        ("msg_kid_reraise", step(6, ControlStep::Reraise)),
        (
            "msg_kid_swallow",
            step(
                6,
                ControlStep::Return(Some(Expr::Bin(
                    Box::new(Expr::Str("swallowed ".into())),
                    BinOp::Add,
                    Box::new(var("tag")),
                ))),
            ),
        ),
    ] {
        out.push(coroutine(
            name,
            &["d", "k", "tag"],
            vec![try_except(
                1,
                body.clone(),
                &["CancelledError"],
                Some("e"),
                vec![
                    sayp(
                        5,
                        vec![tag(), txt(" cancelled with '"), val(var("e")), txt("'")],
                    ),
                    last,
                ],
                vec![],
            )],
        ));
    }
    out
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
/// order, which CPython leaves unspecified (a set of tasks ordered by their
/// addresses), and which task does what then can depend on that order (the
/// first to release a bounded semaphore succeeds and the second gets
/// `ValueError`, found by the 10,000-program campaign on 3.12; a lock
/// handed between leftover tasks ends in a deadlock in one order and not in
/// another, found on 3.13). So a program whose output differs from
/// CPython's under loopsim's creation order is run again under every other
/// order (up to 7 leftover tasks; beyond, 5,040 orders drawn from a fixed
/// seed), and agrees when one of them gives CPython's output exactly: every
/// line, its time and its task. Returns that order.
fn some_shutdown_order_agrees(s: &Scenario, theirs: &[String]) -> Option<Vec<usize>> {
    let n = shutdown_order::last_count();
    let guided = guided_orders(&shutdown_order::last_pending(), theirs);
    guided.into_iter().chain(shutdown_orders(n)).find(|order| {
        shutdown_order::set_on_this_thread(Some(order.clone()));
        let lines = loopsim_lines(s);
        shutdown_order::set_on_this_thread(None);
        lines == theirs
    })
}

/// Orders read from CPython's own output: the leftover tasks in the order
/// they first print after shutdown began (a task's cancellation wakes it in
/// the order `cancel()` was called), the silent ones after them, then before
/// them, then every order one swap away from the first. Tried before the
/// blind search, which cannot cover 12! orders.
fn guided_orders(pending: &[loopsim::TaskId], theirs: &[String]) -> Vec<Vec<usize>> {
    let index_of = |name: &str| {
        let id: u32 = name.strip_prefix("Task-")?.parse().ok()?;
        pending.iter().position(|t| t.0 == id)
    };
    let start = theirs
        .iter()
        .position(|l| l.contains("main ends"))
        .map_or(0, |i| i + 1);
    let mut seen = Vec::new();
    for line in &theirs[start..] {
        if let Some(i) = line.rsplit(' ').next().and_then(index_of)
            && !seen.contains(&i)
        {
            seen.push(i);
        }
    }
    let silent: Vec<usize> = (0..pending.len()).filter(|i| !seen.contains(i)).collect();
    let first: Vec<usize> = seen.iter().chain(&silent).copied().collect();
    let mut orders = vec![first.clone(), silent.iter().chain(&seen).copied().collect()];
    for i in 0..first.len() {
        for j in i + 1..first.len() {
            let mut o = first.clone();
            o.swap(i, j);
            orders.push(o);
        }
    }
    orders
}

/// Every permutation of `0..n` in lexicographic order for `n <= 7`; 5,040
/// seeded random ones beyond.
fn shutdown_orders(n: usize) -> Box<dyn Iterator<Item = Vec<usize>>> {
    const ALL_UP_TO: usize = 7;
    if n <= ALL_UP_TO {
        let mut next = Some((0..n).collect::<Vec<usize>>());
        Box::new(std::iter::from_fn(move || {
            let current = next.take()?;
            next = next_permutation(&current);
            Some(current)
        }))
    } else {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(n as u64);
        Box::new((0..5040).map(move |_| {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            order
        }))
    }
}

fn next_permutation(p: &[usize]) -> Option<Vec<usize>> {
    let mut p = p.to_vec();
    let i = (1..p.len()).rev().find(|&i| p[i - 1] < p[i])?;
    let j = (i..p.len()).rev().find(|&j| p[j] > p[i - 1])?;
    p.swap(i - 1, j);
    p[i..].reverse();
    Some(p)
}

#[test]
fn shutdown_orders_are_every_permutation_once() {
    for n in 0..=5 {
        let all: Vec<Vec<usize>> = shutdown_orders(n).collect();
        let unique: std::collections::BTreeSet<_> = all.iter().cloned().collect();
        assert_eq!(all.len(), (1..=n).product::<usize>().max(1), "n = {n}");
        assert_eq!(unique.len(), all.len(), "n = {n}");
        assert!(all.iter().all(|p| {
            let mut q = p.clone();
            q.sort();
            q == (0..n).collect::<Vec<_>>()
        }));
    }
}

/// The test's 40 programs are the same on every run (CI must not fail on
/// a program no one chose); `PROPTEST_RNG_SEED=N` picks another set, and a
/// campaign (`LOOPSIM_FUZZ_CASES`) draws fresh programs each time.
fn programs_seed(from_env: proptest::test_runner::RngSeed) -> proptest::test_runner::RngSeed {
    use proptest::test_runner::RngSeed;
    match from_env {
        RngSeed::Random if std::env::var_os("LOOPSIM_FUZZ_CASES").is_none() => RngSeed::Fixed(2026),
        seed => seed,
    }
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
    let default = ProptestConfig::default();
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        rng_seed: programs_seed(default.rng_seed),
        ..default
    };
    proptest!(config, |(gens in program())| {
        let s = scenario(&gens, pv);
        // The generated model is a valid scenario: it prints to a file that parses.
        let text = scenario::print(&s);
        prop_assert!(scenario::parse("random.toml", &text).is_ok(), "generated scenario does not parse:\n{}", text);
        let theirs = cpython_lines(&py, &s);
        let ours = loopsim_lines(&s);
        if ours != theirs {
            let order = some_shutdown_order_agrees(&s, &theirs);
            prop_assert!(
                order.is_some(),
                "loopsim vs CPython {} (under no order of shutdown's cancellations of {} leftover tasks):\n  loopsim: {:?}\n  CPython: {:?}\non:\n{}",
                version, shutdown_order::last_count(), ours, theirs, text
            );
        }
        // Finished tasks giving up their slots at once changes nothing.
        let trace = |bits| {
            loopsim::task_block_bits_on_this_thread(bits);
            let t = scenario::run_variant(&s, "main", None, None, true).run.trace.to_jsonl();
            loopsim::task_block_bits_on_this_thread(None);
            t
        };
        prop_assert!(trace(None) == trace(Some(0)), "the trace changes when slots are given up:\n{}", text);
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

/// The program the 3,000-program run on 3.13 found: two pairs of leftover
/// tasks hand a lock between them while shutdown cancels them, and whether
/// that ends in a deadlock depends on the order shutdown cancels them in.
/// CPython's output must be loopsim's under some order, and the order must
/// matter (else this program would not test the search).
#[test]
fn a_program_whose_shutdown_depends_on_cancellation_order() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/programs/shutdown_order_lock_handoff.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut s = scenario::parse(path, &text).unwrap();
    let _ = loopsim_lines(&s);
    let n = shutdown_order::last_count();
    let outputs: std::collections::BTreeSet<Vec<String>> = shutdown_orders(n)
        .map(|order| {
            shutdown_order::set_on_this_thread(Some(order));
            let lines = loopsim_lines(&s);
            shutdown_order::set_on_this_thread(None);
            lines
        })
        .collect();
    assert!(
        outputs.len() > 1,
        "{n} leftover tasks, one output under every order"
    );
    for (version, pv) in [
        ("3.11.7", PythonVersion::Py311),
        ("3.12.1", PythonVersion::Py312),
        ("3.13.0", PythonVersion::Py313),
    ] {
        let Some(py) = python(version) else {
            eprintln!("python {version} not found, skipped");
            continue;
        };
        s.settings.python = pv;
        let theirs = cpython_lines(&py, &s);
        assert!(
            loopsim_lines(&s) == theirs || some_shutdown_order_agrees(&s, &theirs).is_some(),
            "no shutdown order gives CPython {version}'s {theirs:?}"
        );
    }
}

/// A program a CI run found: twelve tasks left at shutdown, too many for the
/// blind search of orders; the order read from CPython's own output finds
/// the one that agrees.
#[test]
fn twelve_leftover_tasks_agree_under_the_order_cpython_printed() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/programs/shutdown_order_twelve_leftovers.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut s = scenario::parse(path, &text).unwrap();
    for (version, pv) in [
        ("3.11.7", PythonVersion::Py311),
        ("3.12.1", PythonVersion::Py312),
        ("3.13.0", PythonVersion::Py313),
    ] {
        let Some(py) = python(version) else {
            eprintln!("python {version} not found, skipped");
            continue;
        };
        s.settings.python = pv;
        let theirs = cpython_lines(&py, &s);
        let ours = loopsim_lines(&s);
        assert!(
            shutdown_order::last_count() >= 8,
            "past the blind search's reach"
        );
        let pending = shutdown_order::last_pending();
        assert!(
            ours == theirs
                || guided_orders(&pending, &theirs).into_iter().any(|order| {
                    shutdown_order::set_on_this_thread(Some(order));
                    let lines = loopsim_lines(&s);
                    shutdown_order::set_on_this_thread(None);
                    lines == theirs
                }),
            "no order read from CPython {version}'s output agrees: {theirs:?}"
        );
    }
}
