//! The validated scenario: what a file means once every name is resolved
//! and every value checked. It can also be built from code (the property
//! tests generate it) and is what the interpreter runs.
//!
//! `steps.rs` holds what a coroutine does ([`Step`], [`StepKind`]),
//! `claims.rs` what a scenario claims about its runs ([`Claim`]).

use super::expr::Expr;
use crate::model::{Limits, LoopModel, PythonVersion};
use crate::sync::QueueKind;
use crate::time::Duration;
use std::collections::BTreeMap;
use std::rc::Rc;

mod claims;
mod steps;

pub use claims::{Bound, Claim, ClaimKind, Count, Ending, Property, TaskEnd};
pub use steps::{
    Call, ControlStep, Each, FutureStep, Handler, IoStep, NetStep, OutputStep, Step, StepKind,
    SyncStep, Target, TaskStep,
};

/// A scenario: programs in asyncio's vocabulary plus the claims they make.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file it came from (for messages and replay commands).
    pub file: String,
    /// Short identifier (defaults to the file stem).
    pub name: String,
    /// One-line title.
    pub title: String,
    /// Where the example comes from (tutorial file and section).
    pub source: Option<String>,
    /// Longer description.
    pub description: Option<String>,
    /// Run settings.
    pub settings: Settings,
    /// Coroutine functions by name.
    pub coroutines: BTreeMap<String, Rc<Coroutine>>,
    /// Async context managers by name.
    pub contexts: BTreeMap<String, Rc<ContextManager>>,
    /// Shared primitives (locks, semaphores, events, queues) by name.
    pub primitives: BTreeMap<String, Primitive>,
    /// Simulated services (`[services.api]`) by name.
    pub services: BTreeMap<String, crate::io::ServiceConfig>,
    /// Thread and process pools (`[pools.procs]`) by name.
    pub pools: BTreeMap<String, Pool>,
    /// The simulated network (`[network]`): the default link and the
    /// links between named hosts.
    pub network: Network,
    /// The variants (at least one).
    pub variants: Vec<Variant>,
    /// The claims.
    pub claims: Vec<Claim>,
}

impl Scenario {
    /// The variant named `name`, if the scenario has it.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The settings variant `v` runs with: the scenario's, overridden by
    /// the variant's own (seed, model, Python version, eager tasks, step
    /// overhead).
    pub fn settings_of(&self, v: &Variant) -> Settings {
        let mut st = self.settings.clone();
        st.seed = v.seed.unwrap_or(st.seed);
        st.model = v.model.unwrap_or(st.model);
        st.python = v.python.unwrap_or(st.python);
        st.eager_tasks = v.eager_tasks.unwrap_or(st.eager_tasks);
        st.step_overhead = v.step_overhead.unwrap_or(st.step_overhead);
        st
    }
}

/// Settings of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Seed (default 0).
    pub seed: u64,
    /// Loop model (default `asyncio`).
    pub model: LoopModel,
    /// Python version for the `asyncio` model (default 3.12).
    pub python: PythonVersion,
    /// 3.12 eager tasks (default off).
    pub eager_tasks: bool,
    /// Virtual time each task step takes (default 0).
    pub step_overhead: Duration,
    /// Engine limits.
    pub limits: Limits,
    /// Inline call depth (Python's recursion limit; default 1000).
    pub max_call_depth: u64,
    /// Lines a run may print (default 100 000).
    pub max_output_lines: u64,
    /// Bytes a run may print (default 16 MiB).
    pub max_output_bytes: u64,
    /// Length of a string (bytes) or list (items) a program may build
    /// (default 1 000 000).
    pub max_value_len: u64,
    /// The machine pools run on: `cpus`, `gil`, `switch_interval`.
    pub machine: crate::io::Machine,
    /// A step that holds the loop this long is warned about (default
    /// 100 ms, asyncio's `slow_callback_duration`).
    pub slow_callback_duration: Duration,
}

/// The highest value each counting limit may be raised to: beyond these a
/// run could exhaust memory (a value of 10^12 items) before any limit
/// stops it. CPU time alone is bounded by `max_steps`.
pub const LIMIT_CEILINGS: &[(&str, u64)] = &[
    ("max_steps", 10_000_000_000),
    ("max_tasks", 2_000_000),
    ("max_trace_events", 20_000_000),
    ("max_call_depth", 100_000),
    ("max_output_lines", 10_000_000),
    ("max_output_bytes", 256 << 20),
    ("max_value_len", 20_000_000),
];

/// The ceiling of the counting limit `key` (see [`LIMIT_CEILINGS`]).
pub fn limit_ceiling(key: &str) -> u64 {
    LIMIT_CEILINGS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(u64::MAX, |(_, c)| *c)
}

/// The counting limits of `[limits]` (and of the CLI's `--limit KEY=N`),
/// with what each counts; `max_time`, a duration, is the other key.
pub const COUNT_LIMITS: &[(&str, &str)] = &[
    ("max_steps", "loop steps and interpreted steps"),
    ("max_tasks", "tasks created"),
    ("max_trace_events", "trace events recorded"),
    (
        "max_call_depth",
        "inline `await` depth (Python's recursion limit)",
    ),
    ("max_output_lines", "printed lines"),
    ("max_output_bytes", "printed bytes"),
    (
        "max_value_len",
        "characters of a string or items of a list a program builds",
    ),
];

impl Settings {
    /// The counting limit named `key` (one of [`COUNT_LIMITS`]).
    pub fn count_limit_mut(&mut self, key: &str) -> Option<&mut u64> {
        Some(match key {
            "max_steps" => &mut self.limits.max_steps,
            "max_tasks" => &mut self.limits.max_tasks,
            "max_trace_events" => &mut self.limits.max_trace_events,
            "max_call_depth" => &mut self.max_call_depth,
            "max_output_lines" => &mut self.max_output_lines,
            "max_output_bytes" => &mut self.max_output_bytes,
            "max_value_len" => &mut self.max_value_len,
            _ => return None,
        })
    }

    /// The counting limit named `key`.
    pub fn count_limit(&self, key: &str) -> Option<u64> {
        self.clone().count_limit_mut(key).map(|v| *v)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 0,
            model: LoopModel::Asyncio,
            python: PythonVersion::Py312,
            eager_tasks: false,
            step_overhead: Duration::ZERO,
            limits: Limits {
                max_time: Duration::from_secs(30 * 24 * 3600),
                max_steps: 4_000_000,
                max_tasks: 200_000,
                max_trace_events: 8_000_000,
            },
            max_call_depth: 1000,
            max_output_lines: 100_000,
            max_output_bytes: 16 << 20,
            max_value_len: 1_000_000,
            machine: crate::io::Machine::default(),
            slow_callback_duration: Duration::from_millis(100),
        }
    }
}

/// A pool declared in `[pools]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pool {
    /// `ThreadPoolExecutor(max_workers=workers)`.
    Threads {
        /// At most this many threads (0: the default, `min(32, cpus + 4)`).
        workers: usize,
    },
    /// `ProcessPoolExecutor(max_workers=workers)`.
    Processes {
        /// At most this many processes (0: the default, `cpus`).
        workers: usize,
        /// What starting a worker process costs.
        startup: Duration,
        /// What each call costs in pickling.
        transfer: Duration,
    },
}

/// One version of the program (sync vs async, with or without a limit).
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its name (`main` when the file declares none).
    pub name: String,
    /// What it shows.
    pub description: Option<String>,
    /// The coroutine run as the main task.
    pub main: String,
    /// Arguments passed to it.
    pub args: Vec<Expr>,
    /// Settings that differ from the scenario's.
    pub seed: Option<u64>,
    /// Model override.
    pub model: Option<LoopModel>,
    /// Python version override.
    pub python: Option<PythonVersion>,
    /// Eager-tasks override.
    pub eager_tasks: Option<bool>,
    /// Step-overhead override.
    pub step_overhead: Option<Duration>,
}

/// `async def name(params): steps`. A coroutine containing `yield` is an
/// async generator (iterate it with `async_for`).
#[derive(Clone, Debug, PartialEq)]
pub struct Coroutine {
    /// Name.
    pub name: String,
    /// Parameter names.
    pub params: Vec<String>,
    /// Body.
    pub body: Rc<[Step]>,
    /// Contains `yield`.
    pub is_generator: bool,
    /// Line of its table in the file.
    pub line: usize,
}

/// An async context manager: `enter` steps (their return value is bound by
/// `as`), then the body, then `exit` steps (always, even on errors).
#[derive(Clone, Debug, PartialEq)]
pub struct ContextManager {
    /// Name.
    pub name: String,
    /// Parameter names.
    pub params: Vec<String>,
    /// `__aenter__`.
    pub enter: Rc<[Step]>,
    /// `__aexit__`.
    pub exit: Rc<[Step]>,
}

/// A shared primitive.
#[derive(Clone, Debug, PartialEq)]
pub enum Primitive {
    /// `asyncio.Lock()`.
    Lock,
    /// `asyncio.Semaphore(n)`.
    Semaphore(usize),
    /// `asyncio.BoundedSemaphore(n)`.
    BoundedSemaphore(usize),
    /// `asyncio.Event()`.
    Event,
    /// `asyncio.Condition()` (with a lock of its own).
    Condition,
    /// `asyncio.Barrier(parties)`.
    Barrier(usize),
    /// `asyncio.Queue(maxsize)` and variants.
    Queue {
        /// FIFO, LIFO or priority.
        kind: QueueKind,
        /// 0 for unbounded.
        maxsize: usize,
    },
}

impl Primitive {
    /// The `kind` written in files.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Primitive::Lock => "lock",
            Primitive::Semaphore(_) => "semaphore",
            Primitive::BoundedSemaphore(_) => "bounded_semaphore",
            Primitive::Event => "event",
            Primitive::Condition => "condition",
            Primitive::Barrier(_) => "barrier",
            Primitive::Queue {
                kind: QueueKind::Fifo,
                ..
            } => "queue",
            Primitive::Queue {
                kind: QueueKind::Lifo,
                ..
            } => "lifo_queue",
            Primitive::Queue {
                kind: QueueKind::Priority,
                ..
            } => "priority_queue",
        }
    }
}

impl Pool {
    /// Its workers on `machine` (the executor's default when 0).
    pub fn workers(&self, machine: &crate::io::Machine) -> usize {
        match *self {
            Pool::Threads { workers: 0 } => (machine.cpus + 4).min(32),
            Pool::Processes { workers: 0, .. } => machine.cpus,
            Pool::Threads { workers } | Pool::Processes { workers, .. } => workers,
        }
    }
}

/// The links of the simulated network (`[network]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Network {
    /// The link between hosts without a link of their own.
    pub default: crate::net::LinkConfig,
    /// Links between two named hosts (both directions).
    pub links: Vec<(String, String, crate::net::LinkConfig)>,
}
