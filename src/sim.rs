//! [`Sim`]: build a simulation, run a future on it, get a [`Run`] back.

use crate::deadlock::{self, Blocker, DeadlockReport, NamedTask, StuckTask};
use crate::engine::{self, Config, End, LimitKind, LoopEnd, OutputLine, Runtime};
use crate::error::Error;
use crate::settings::{Limits, LoopModel, PythonVersion};
use crate::task::JoinHandle;
use crate::time::{Duration, Instant};
use crate::trace::{EventKind, RunEnd, SCHEMA, TaskId, Trace, TraceFormat, TraceHeader, WaitOn};
use std::future::Future;
use std::rc::Rc;

/// A configured simulation. Build one with [`Sim::builder`], then
/// [`run`](Sim::run) a future on it; the same settings and seed give the
/// same run, byte for byte.
#[derive(Clone, Debug)]
pub struct Sim {
    cfg: Config,
    label: String,
    main_label: Option<String>,
}

/// Settings of a [`Sim`].
#[derive(Clone, Debug)]
pub struct SimBuilder {
    cfg: Config,
    label: String,
    main_label: Option<String>,
}

impl Default for SimBuilder {
    fn default() -> Self {
        SimBuilder {
            cfg: Config {
                model: LoopModel::Asyncio,
                python: PythonVersion::Py312,
                seed: 0,
                limits: Limits::default(),
                trace: true,
                step_overhead: Duration::ZERO,
                eager_tasks: false,
                machine: crate::io::Machine::default(),
                slow_callback_duration: Duration::from_millis(100),
                pct: crate::engine::PctConfig::default(),
                mutation: None,
            },
            label: "run".to_string(),
            main_label: None,
        }
    }
}

impl SimBuilder {
    /// The seed of every random choice (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.cfg.seed = seed;
        self
    }

    /// The loop model (default `asyncio`).
    pub fn model(mut self, model: LoopModel) -> Self {
        self.cfg.model = model;
        self
    }

    /// The `pct` model's parameters (default: depth 3 over the first 100
    /// scheduling decisions).
    pub fn pct(mut self, pct: crate::engine::PctConfig) -> Self {
        self.cfg.pct = pct;
        self
    }

    /// Plants a bug in the loop (tests of the tests only).
    #[doc(hidden)]
    pub fn mutation(mut self, m: crate::engine::mutation::Mutation) -> Self {
        self.cfg.mutation = Some(m);
        self
    }

    /// The Python version the `asyncio` model follows (default 3.12).
    pub fn python(mut self, python: PythonVersion) -> Self {
        self.cfg.python = python;
        self
    }

    /// Limits against runaway programs.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.cfg.limits = limits;
        self
    }

    /// Records the trace (default on). Off, a run keeps only its output and
    /// counters: the fastest mode, for benchmarks and sweeps.
    pub fn trace(mut self, on: bool) -> Self {
        self.cfg.trace = on;
        self
    }

    /// Virtual time every task step takes (default zero): models "one
    /// second plus overhead".
    pub fn step_overhead(mut self, d: Duration) -> Self {
        self.cfg.step_overhead = d;
        self
    }

    /// A step (or callback) that holds the loop at least this long is
    /// warned about in the trace (`loop.slow_callback_duration`, 100 ms).
    pub fn slow_callback_duration(mut self, d: Duration) -> Self {
        self.cfg.slow_callback_duration = d;
        self
    }

    /// The machine thread and process pools run on: cores, the GIL, the
    /// switch interval (default: 4 cores, GIL on, 5 ms).
    pub fn machine(mut self, machine: crate::io::Machine) -> Self {
        self.cfg.machine = machine;
        self
    }

    /// Python 3.12's eager task factory (`loop.set_task_factory(
    /// asyncio.eager_task_factory)`): a task's first step runs inside
    /// `spawn`, before `spawn` returns (default off).
    pub fn eager_tasks(mut self, on: bool) -> Self {
        self.cfg.eager_tasks = on;
        self
    }

    /// A label written in the trace header (a scenario and variant name).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Describes the main task (`main()`) in timelines and diagrams.
    pub fn main_label(mut self, label: impl Into<String>) -> Self {
        self.main_label = Some(label.into());
        self
    }

    /// The simulation.
    pub fn build(self) -> Sim {
        Sim {
            cfg: self.cfg,
            label: self.label,
            main_label: self.main_label,
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The main future returned this value.
    Completed(T),
    /// The main task raised (panicked) or was cancelled.
    Failed(Error),
    /// Nothing could ever happen again while tasks were unfinished.
    Deadlock {
        /// Every unfinished task, what it waits on and who holds that, in
        /// creation order.
        stuck: Vec<StuckTask>,
        /// The wait-for cycle, each task once, starting at its smallest id
        /// (see [`find_cycle`](crate::find_cycle)); empty when there is none.
        cycle: Vec<TaskId>,
    },
    /// A limit was exceeded.
    LimitExceeded {
        /// Which limit.
        limit: LimitKind,
        /// The virtual time when the run stopped.
        at: Instant,
        /// Handles run until then.
        steps: u64,
        /// The task running when the limit was hit.
        task: Option<TaskId>,
        /// What exceeded it, where the program said (`print` at line 12 …).
        detail: Option<String>,
    },
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Loop iterations (`_run_once` calls).
    pub iterations: u64,
    /// Handles run (task steps and callbacks).
    pub steps: u64,
    /// Tasks created.
    pub tasks: u64,
}

/// The result of [`Sim::run`]: outcome, virtual time, output and trace.
#[derive(Debug)]
pub struct Run<T> {
    /// How the run ended.
    pub outcome: Outcome<T>,
    /// When the main task finished (`None` if it did not).
    pub main_done_at: Option<Instant>,
    /// The virtual time when the run ended (after shutdown).
    pub ended_at: Instant,
    /// Lines printed with [`print`](fn@crate::print), in order.
    pub output: Vec<OutputLine>,
    /// The trace (empty events when tracing was off).
    pub trace: Trace,
    /// Counters.
    pub stats: Stats,
    /// Tasks still unfinished after shutdown cancelled them: `asyncio.run`
    /// would wait for them for ever, and the outcome is a deadlock.
    pub pending_at_exit: Vec<StuckTask>,
}

impl<T> Outcome<T> {
    /// The deadlock in words, if the run deadlocked: `deadlock: left waits
    /// on Lock 'b' held by right; right waits on Lock 'a' held by left;
    /// cycle: left → right → left`.
    pub fn deadlock_report(&self) -> Option<DeadlockReport<'_>> {
        match self {
            Outcome::Deadlock { stuck, cycle } => Some(DeadlockReport { stuck, cycle }),
            _ => None,
        }
    }
}

impl<T> Run<T> {
    /// The main future's value, if the run completed.
    pub fn value(&self) -> Option<&T> {
        match &self.outcome {
            Outcome::Completed(v) => Some(v),
            _ => None,
        }
    }

    /// The virtual time the main task took (or the run's end if it never
    /// finished).
    pub fn elapsed(&self) -> Duration {
        self.main_done_at.unwrap_or(self.ended_at).since_start()
    }

    /// The printed lines' texts.
    pub fn output_lines(&self) -> Vec<&str> {
        self.output.iter().map(|l| l.text.as_str()).collect()
    }

    /// True if the run completed.
    pub fn is_completed(&self) -> bool {
        matches!(self.outcome, Outcome::Completed(_))
    }
}

impl Sim {
    /// A builder with the defaults: `asyncio` model (Python 3.12), seed 0,
    /// trace on, default limits.
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.cfg.seed
    }

    /// The loop model.
    pub fn model(&self) -> LoopModel {
        self.cfg.model
    }

    /// Runs `main` as the main task (`asyncio.run(main())`): the loop runs
    /// until the main task finishes and stops one iteration later; then every
    /// task still unfinished is cancelled (in creation order) and the loop
    /// runs until they end.
    ///
    /// # Panics
    ///
    /// If called from inside a running simulation.
    pub fn run<F>(&self, main: F) -> Run<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let label = self.main_label.clone();
        self.run_with(
            main,
            move |m| match label {
                Some(l) => crate::task::Builder::new().label(l).spawn(m),
                None => crate::task::spawn(m),
            },
            Ok,
            None,
        )
        .0
    }

    /// Like [`run`](Sim::run), writing the trace to `out` as JSON Lines while
    /// the run goes (the bytes [`Trace::to_jsonl`] would give) instead of
    /// keeping it: for runs whose trace would not fit in memory. The
    /// returned run's trace has the header and strings but no events; the
    /// second value is the number of events written, or the first write
    /// error (events after it are dropped; the run itself goes on).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopsim::{Sim, sleep};
    /// use std::time::Duration;
    /// let sim = Sim::builder().build();
    /// let kept = sim.run(async { sleep(Duration::from_secs(1)).await });
    /// let (_, written) = sim.run_streaming(async { sleep(Duration::from_secs(1)).await }, Vec::new());
    /// assert_eq!(written.unwrap() as usize, kept.trace.events.len());
    /// ```
    pub fn run_streaming<F>(
        &self,
        main: F,
        out: impl std::io::Write + 'static,
    ) -> (Run<F::Output>, std::io::Result<u64>)
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.run_streaming_as(main, out, TraceFormat::Jsonl)
    }

    /// Like [`run_streaming`](Sim::run_streaming), in `format`: the binary
    /// form ([`Trace::to_binary`](crate::trace::Trace::to_binary)) costs a
    /// few bytes an event, where JSON Lines costs about a hundred; read it
    /// back with [`Trace::read`](crate::trace::Trace::read) or one event at a
    /// time with [`trace::Reader`](crate::trace::Reader).
    ///
    /// # Examples
    ///
    /// ```
    /// use loopsim::{Sim, sleep, trace::{Trace, TraceFormat}};
    /// use std::time::Duration;
    /// let sim = Sim::builder().build();
    /// let kept = sim.run(async { sleep(Duration::from_secs(1)).await });
    /// let file = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    /// struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    /// impl std::io::Write for Shared {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.borrow_mut().write(b) }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    /// let (_, written) = sim.run_streaming_as(
    ///     async { sleep(Duration::from_secs(1)).await },
    ///     Shared(file.clone()),
    ///     TraceFormat::Binary,
    /// );
    /// assert_eq!(written.unwrap() as usize, kept.trace.events.len());
    /// assert_eq!(Trace::read(&file.borrow()).unwrap(), kept.trace);
    /// ```
    pub fn run_streaming_as<F>(
        &self,
        main: F,
        out: impl std::io::Write + 'static,
        format: TraceFormat,
    ) -> (Run<F::Output>, std::io::Result<u64>)
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let label = self.main_label.clone();
        let (run, written) = self.run_with(
            main,
            move |m| match label {
                Some(l) => crate::task::Builder::new().label(l).spawn(m),
                None => crate::task::spawn(m),
            },
            Ok,
            Some((Box::new(out), format)),
        );
        (run, written.unwrap_or(Ok(0)))
    }

    /// Like [`run`](Sim::run) for a main future that returns
    /// `Result<T, Error>`: an `Err` is the main task raising, so the run
    /// ends as [`Outcome::Failed`] and the trace records the task as raised.
    pub fn run_fallible<F, T>(&self, main: F) -> Run<T>
    where
        F: Future<Output = Result<T, Error>> + 'static,
        T: 'static,
    {
        let mut b = crate::task::Builder::new();
        if let Some(l) = &self.main_label {
            b = b.label(l.clone());
        }
        self.run_with(main, move |m| b.spawn_fallible(m), |r| r, None)
            .0
    }

    fn run_with<F, T>(
        &self,
        main: F,
        spawn: impl FnOnce(F) -> JoinHandle<F::Output>,
        flatten: impl FnOnce(F::Output) -> Result<T, Error>,
        stream: Option<(Box<dyn std::io::Write>, TraceFormat)>,
    ) -> (Run<T>, Option<std::io::Result<u64>>)
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let header = TraceHeader {
            schema: SCHEMA.to_string(),
            label: self.label.clone(),
            seed: self.cfg.seed,
            model: self.cfg.model.name().to_string(),
            python: (self.cfg.model == LoopModel::Asyncio)
                .then(|| self.cfg.python.name().to_string()),
        };
        let rec =
            stream.map(|(out, format)| crate::trace::Recorder::streaming(&header, out, format));
        let rt = Runtime::new(self.cfg.clone(), rec);
        let guard = engine::enter(&rt);
        let handle: JoinHandle<F::Output> = spawn(main);
        let main_id = handle.task().id();
        engine::with_core("run", |c| {
            let label = c.syms().stop;
            let stop = Box::new(|| {
                engine::with_core("stop", |c| {
                    c.stop_loop();
                    c.record(None, EventKind::LoopStopped);
                })
            });
            let _ = c.add_done_callback(main_id, engine::DoneCallback::Call(stop, label));
        });
        let end = engine::run_loop(&rt);
        let main_done_at = engine::with_core("run", |c| c.ended_at(main_id));
        let mut handle = handle;
        let stopped = matches!(end, LoopEnd::Stopped);
        let outcome = match end {
            LoopEnd::Limit(stop) => limit_exceeded(stop),
            LoopEnd::Deadlock => deadlocked(&rt),
            LoopEnd::Stopped => {
                let end = engine::with_core("run", |c| c.end_of(main_id));
                match (end, handle.try_take()) {
                    (Some(End::Cancelled), _) => Outcome::Failed(Error::Cancelled),
                    (_, Some(Ok(v))) => match flatten(v) {
                        Ok(v) => Outcome::Completed(v),
                        Err(e) => Outcome::Failed(e),
                    },
                    (_, Some(Err(e))) => Outcome::Failed(e),
                    (_, None) => {
                        Outcome::Failed(Error::InvalidState("main task has no result".into()))
                    }
                }
            }
        };
        drop(handle);
        // `asyncio.run` returns only once the cancelled leftovers have
        // ended: a shutdown that cannot finish is the run's deadlock (CPython
        // hangs there), one that runs past a limit is the run's limit.
        let (outcome, pending_at_exit) = match (stopped, outcome) {
            (false, outcome) => (outcome, Vec::new()),
            (true, outcome) => match shutdown(&rt) {
                LoopEnd::Stopped => (outcome, Vec::new()),
                LoopEnd::Limit(stop) => (limit_exceeded(stop), Vec::new()),
                LoopEnd::Deadlock => {
                    let outcome = deadlocked(&rt);
                    let stuck = match &outcome {
                        Outcome::Deadlock { stuck, .. } => stuck.clone(),
                        _ => Vec::new(),
                    };
                    (outcome, stuck)
                }
            },
        };
        engine::with_core("run", |c| c.record_end_warnings());
        teardown(&rt);
        engine::with_core("run", |c| {
            let end = match &outcome {
                Outcome::Completed(_) => RunEnd::Completed,
                Outcome::Failed(e) => RunEnd::Failed {
                    error: c.intern(&e.to_string()),
                },
                Outcome::Deadlock { .. } => RunEnd::Deadlock,
                Outcome::LimitExceeded { limit, .. } => RunEnd::LimitExceeded {
                    limit: c.intern(limit.name()),
                },
            };
            c.record(None, EventKind::RunEnded { end });
        });
        drop(guard);
        let rt = Rc::try_unwrap(rt)
            .unwrap_or_else(|_| panic!("loopsim: runtime still referenced after the run"));
        let (counts, output, rec) = rt.core.into_inner().finish();
        let stats = Stats {
            iterations: counts.iterations,
            steps: counts.steps,
            tasks: counts.tasks,
        };
        let ended_at = counts.ended_at;
        let (trace, written) = rec.finish(header);
        let run = Run {
            outcome,
            main_done_at,
            ended_at,
            output,
            trace,
            stats,
            pending_at_exit,
        };
        (run, written)
    }
}

fn limit_exceeded<T>(stop: engine::Stop) -> Outcome<T> {
    engine::with_core("run", |c| Outcome::LimitExceeded {
        limit: stop.limit,
        at: c.now(),
        steps: c.steps(),
        task: stop.task,
        detail: stop.detail,
    })
}

fn deadlocked<T>(rt: &Runtime) -> Outcome<T> {
    let stuck = stuck_tasks(rt);
    let cycle = deadlock::find_cycle(&deadlock::wait_for_graph(&stuck));
    record_deadlock(&stuck, &cycle);
    Outcome::Deadlock { stuck, cycle }
}

/// `asyncio.run`'s `_cancel_all_tasks`: cancel every unfinished task (in
/// creation order: CPython iterates a set here) and run until they end.
fn shutdown(rt: &Runtime) -> LoopEnd {
    let pending: Vec<TaskId> = engine::with_core("shutdown", |c| {
        c.restart_loop();
        c.unfinished_ids()
    });
    let pending = shutdown_order::apply(pending);
    if pending.is_empty() {
        return LoopEnd::Stopped;
    }
    for t in &pending {
        engine::cancel_task(*t);
    }
    let remaining = Rc::new(std::cell::Cell::new(pending.len()));
    for t in &pending {
        let remaining = remaining.clone();
        let cb = Box::new(move || {
            remaining.set(remaining.get() - 1);
            if remaining.get() == 0 {
                engine::with_core("shutdown", |c| c.stop_loop());
            }
        });
        let r = engine::with_core("shutdown", |c| {
            let label = c.intern("shutdown gather");
            c.add_done_callback(*t, engine::DoneCallback::Call(cb, label))
        });
        if let Err(cb) = r {
            engine::fire_done_callback(cb);
        }
    }
    let end = engine::run_loop(rt);
    if let LoopEnd::Stopped = end {
        engine::with_core("shutdown", |c| c.record_unhandled_at_shutdown(&pending));
    }
    end
}

/// The order `asyncio.run`'s shutdown cancels the leftover tasks in.
/// CPython iterates a set of tasks, ordered by their addresses, so any
/// order is CPython's; loopsim uses creation order. The differential tests
/// set another to ask "does CPython's output match loopsim's under *some*
/// shutdown order?". Not part of the documented API.
#[doc(hidden)]
pub mod shutdown_order {
    use super::TaskId;
    use std::cell::{Cell, RefCell};

    thread_local! {
        static ORDER: RefCell<Option<Vec<usize>>> = const { RefCell::new(None) };
        static LAST_COUNT: Cell<usize> = const { Cell::new(0) };
        static LAST_PENDING: RefCell<Vec<TaskId>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs this thread starts cancel their leftover tasks in `order` (a
    /// permutation of `0..n`, indices into creation order), or in creation
    /// order with `None` or when `order` is not a permutation of `0..n`.
    pub fn set_on_this_thread(order: Option<Vec<usize>>) {
        ORDER.with(|o| *o.borrow_mut() = order);
    }

    /// How many tasks the last shutdown on this thread cancelled.
    pub fn last_count() -> usize {
        LAST_COUNT.with(Cell::get)
    }

    /// The tasks the last shutdown on this thread cancelled, in creation
    /// order (what the indices of an order refer to).
    pub fn last_pending() -> Vec<TaskId> {
        LAST_PENDING.with(|p| p.borrow().clone())
    }

    pub(super) fn apply(pending: Vec<TaskId>) -> Vec<TaskId> {
        LAST_COUNT.with(|c| c.set(pending.len()));
        LAST_PENDING.with(|p| p.borrow_mut().clone_from(&pending));
        ORDER.with(|o| match &*o.borrow() {
            Some(order) if is_permutation(order, pending.len()) => {
                order.iter().map(|&i| pending[i]).collect()
            }
            _ => pending,
        })
    }

    fn is_permutation(order: &[usize], n: usize) -> bool {
        let mut seen = vec![false; n];
        order.len() == n
            && order
                .iter()
                .all(|&i| i < n && !std::mem::replace(&mut seen[i], true))
    }
}

/// Drops every unfinished task's future with the runtime still installed, so
/// their destructors can reach the loop.
fn teardown(rt: &Runtime) {
    rt.core.borrow_mut().close();
    // Only unfinished tasks have futures (in creation order).
    let unfinished = rt.core.borrow().unfinished_ids();
    for id in unfinished {
        let fut = rt.core.borrow_mut().take_future(id);
        drop(fut);
    }
    let leftovers = rt.core.borrow_mut().take_pending_callbacks();
    drop(leftovers);
    let world = rt.core.borrow_mut().take_world();
    drop(world);
    // The I/O and network layers' state, in registration order.
    let extensions = rt.core.borrow_mut().take_extensions();
    drop(extensions);
}

fn stuck_tasks(rt: &Runtime) -> Vec<StuckTask> {
    let c = rt.core.borrow();
    let named = |id: TaskId| NamedTask {
        id,
        name: c.task_name(id).into_owned(),
    };
    c.unfinished_tasks()
        .into_iter()
        .map(|(id, waiting)| {
            let (waiting_on, blocker) = match waiting {
                None => (
                    "nothing loopsim knows (a foreign future)".to_string(),
                    Blocker::Unknown,
                ),
                Some(w) => {
                    let blocker = match (w.on, &w.probe) {
                        (WaitOn::Task(other), _) => Blocker::Task(named(other)),
                        (_, Some(probe)) => probe(&named),
                        (_, None) => Blocker::Unknown,
                    };
                    (describe_wait(&c, w.on), blocker)
                }
            };
            StuckTask {
                id,
                name: c.task_name(id).to_string(),
                waiting_on,
                blocker,
            }
        })
        .collect()
}

/// Writes the deadlock into the trace, for renderers: each stuck task with
/// what it waits on and its wait-for edges, then the cycle.
fn record_deadlock(stuck: &[StuckTask], cycle: &[TaskId]) {
    engine::with_core("deadlock", |c| {
        for s in stuck {
            let what = c.intern(&s.waiting_on);
            let why = s.blocker.state().map(|w| c.intern(&w));
            c.record(Some(s.id), EventKind::Stuck { what, why });
            for other in s.blocker.waits_for() {
                c.record(Some(s.id), EventKind::WaitsFor { other });
            }
        }
        for (i, t) in cycle.iter().enumerate() {
            let next = cycle[(i + 1) % cycle.len()];
            c.record(Some(*t), EventKind::InCycle { next });
        }
    });
}

fn describe_wait(c: &engine::Core, on: WaitOn) -> String {
    match on {
        WaitOn::Timer { deadline } => format!("a timer at {deadline}"),
        WaitOn::Task(t) => format!("task {}", c.task_name(t)),
        WaitOn::Future { what } => format!("future '{}'", c.str(what)),
        WaitOn::Primitive { kind, name } => {
            // `Queue.join` on `q` reads `Queue 'q' join`.
            let (kind, name) = (c.str(kind), c.str(name));
            match kind.split_once('.') {
                Some((ty, op)) => format!("{ty} '{name}' {op}"),
                None => format!("{kind} '{name}'"),
            }
        }
        WaitOn::Io { what } => format!("I/O '{}'", c.str(what)),
        WaitOn::Yield => "a yield".to_string(),
        WaitOn::Foreign => "a foreign future".to_string(),
    }
}
