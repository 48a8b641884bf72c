//! Thread and process pools: `loop.run_in_executor` and `asyncio.to_thread`.
//! See the [module docs](super) for the rules.

use crate::Error;
use crate::engine;
use crate::future::SimFuture;
use crate::time::Duration;
use crate::trace::{EventKind, IoPhase, TaskId};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// What a job does in its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Blocking I/O (`requests.get`, `time.sleep`, a file read): the thread
    /// waits this long and holds no CPU (it releases the GIL).
    Io(Duration),
    /// CPU-bound Python code: this much CPU time. In threads under the GIL
    /// only one runs at a time; in processes, as many as there are cores.
    Cpu(Duration),
}

impl Work {
    /// How long the work takes on a CPU of its own.
    pub fn duration(self) -> Duration {
        match self {
            Work::Io(d) | Work::Cpu(d) => d,
        }
    }
}

/// The machine the pools run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Machine {
    /// Cores (`os.cpu_count()`).
    pub cpus: usize,
    /// Whether threads share one interpreter lock (CPython's GIL; off for
    /// a free-threaded build).
    pub gil: bool,
    /// How long a thread holds the GIL while another wants it
    /// (`sys.getswitchinterval()`, 5 ms).
    pub switch_interval: Duration,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            cpus: 4,
            gil: true,
            switch_interval: Duration::from_millis(5),
        }
    }
}

/// The time slice cores are shared in when more CPU-bound processes run
/// than there are cores (Linux's scheduler slices a few milliseconds).
const CORE_SLICE: Duration = Duration::from_millis(5);

/// A pool of threads (`concurrent.futures.ThreadPoolExecutor`): a FIFO of
/// jobs, a thread per job up to `workers`, threads kept once started.
#[derive(Clone)]
pub struct ThreadPool {
    pool: Rc<Pool>,
}

/// A pool of worker processes (`concurrent.futures.ProcessPoolExecutor`):
/// like a [`ThreadPool`], but each worker costs `startup` when it is first
/// started, each call `transfer` (pickling the call and its result), and
/// CPU-bound work runs in parallel on the machine's cores.
#[derive(Clone)]
pub struct ProcessPool {
    pool: Rc<Pool>,
}

struct Pool {
    name: Rc<str>,
    workers: usize,
    kind: Kind,
    st: RefCell<State>,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Threads,
    Processes {
        startup: Duration,
        transfer: Duration,
    },
}

#[derive(Default)]
struct State {
    run: u64,
    next_id: u32,
    /// Workers started so far; which are idle, longest idle first.
    started: usize,
    idle: VecDeque<usize>,
    queue: VecDeque<Rc<Job>>,
    cpu: Cpu,
}

/// The CPU the pool's CPU-bound work competes for: the GIL (one slot) for
/// threads, the cores for processes and GIL-free threads.
#[derive(Default)]
struct Cpu {
    slots: usize,
    slice: Duration,
    /// The jobs on the CPU now.
    holders: Vec<Rc<Job>>,
    waiting: VecDeque<Rc<Job>>,
}

struct Job {
    id: u32,
    caller: Option<TaskId>,
    fut: SimFuture<()>,
    work: Work,
    /// CPU time still to run (CPU-bound work), as of `slice_start`.
    left: Cell<Duration>,
    /// When its current slice on the CPU began.
    slice_start: Cell<crate::time::Instant>,
    /// The current slice's number: a slice end scheduled for an earlier
    /// one is void.
    slice_gen: Cell<u64>,
    worker: Cell<usize>,
    phase: Cell<Phase>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Queued,
    Running,
    Done,
    Left,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.pool.name)
            .field("workers", &self.pool.workers)
            .finish()
    }
}

impl std::fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("name", &self.pool.name)
            .field("workers", &self.pool.workers)
            .field("kind", &self.pool.kind)
            .finish()
    }
}

impl ThreadPool {
    /// A pool of at most `workers` threads (at least 1), called `name` in
    /// traces and pictures.
    pub fn named(name: &str, workers: usize) -> ThreadPool {
        ThreadPool {
            pool: Pool::new(name, workers, Kind::Threads),
        }
    }

    /// `loop.run_in_executor(pool, work)`: runs `work` on a thread of this
    /// pool and waits for it. The result reaches the task as CPython's
    /// does: the thread's `call_soon_threadsafe` is a callback on the
    /// loop's next iteration, which wakes the task for the one after.
    /// Cancelling the caller takes a queued job out of the queue; a running
    /// job runs to its end (a thread cannot be stopped) and its result is
    /// dropped.
    ///
    /// # Panics
    ///
    /// Outside a running simulation.
    pub async fn run(&self, work: Work) -> Result<(), Error> {
        self.pool.run(work).await
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.pool.name
    }
}

impl ProcessPool {
    /// A pool of at most `workers` processes (at least 1): each costs
    /// `startup` when first started, each call `transfer`.
    pub fn named(name: &str, workers: usize, startup: Duration, transfer: Duration) -> ProcessPool {
        ProcessPool {
            pool: Pool::new(name, workers, Kind::Processes { startup, transfer }),
        }
    }

    /// `loop.run_in_executor(pool, work)` on a worker process; see
    /// [`ThreadPool::run`].
    ///
    /// # Panics
    ///
    /// Outside a running simulation.
    pub async fn run(&self, work: Work) -> Result<(), Error> {
        self.pool.run(work).await
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.pool.name
    }
}

/// `asyncio.to_thread(work)`: runs `work` on the loop's default executor,
/// a thread pool of `min(32, cpus + 4)` threads called `threads`, made on
/// first use in each run.
///
/// # Panics
///
/// Outside a running simulation.
pub async fn to_thread(work: Work) -> Result<(), Error> {
    let pool = engine::with_core("to_thread", |c| {
        let machine = c.machine();
        c.ext::<DefaultExecutor>()
            .0
            .get_or_insert_with(|| ThreadPool::named("threads", (machine.cpus + 4).min(32)))
            .clone()
    });
    pool.run(work).await
}

/// The run's default executor (`loop._default_executor`).
#[derive(Default)]
struct DefaultExecutor(Option<ThreadPool>);

impl Pool {
    fn new(name: &str, workers: usize, kind: Kind) -> Rc<Pool> {
        Rc::new(Pool {
            name: name.into(),
            workers: workers.max(1),
            kind,
            st: RefCell::new(State::default()),
        })
    }

    async fn run(self: &Rc<Pool>, work: Work) -> Result<(), Error> {
        let (id, caller) = self.arrive();
        let left = match (work, self.kind) {
            (Work::Cpu(d), Kind::Processes { transfer, .. }) => d.saturating_add(transfer),
            (Work::Cpu(d), Kind::Threads) => d,
            (Work::Io(_), _) => Duration::ZERO,
        };
        let job = Rc::new(Job {
            id,
            caller,
            fut: SimFuture::with_label(format!("{} job", self.name)),
            work,
            left: Cell::new(left),
            slice_start: Cell::new(crate::time::Instant::ZERO),
            slice_gen: Cell::new(0),
            worker: Cell::new(0),
            phase: Cell::new(Phase::Queued),
        });
        self.st.borrow_mut().queue.push_back(job.clone());
        self.adjust();
        if job.phase.get() == Phase::Queued {
            self.record(&job, IoPhase::Queued);
        }
        let leave = Leave {
            pool: self.clone(),
            job: job.clone(),
        };
        let r = job.fut.wait_io(self.name.clone()).await;
        drop(leave);
        r
    }

    /// A new job's number, with the pool's state reset if this is a new
    /// run; records its arrival.
    fn arrive(&self) -> (u32, Option<TaskId>) {
        let (run, caller, machine) = engine::with_core("run_in_executor", |c| {
            (c.run_id(), c.current(), c.machine())
        });
        let id = {
            let mut st = self.st.borrow_mut();
            if st.run != run {
                let (slots, slice) = match self.kind {
                    Kind::Threads if machine.gil => (1, machine.switch_interval),
                    _ => (machine.cpus.max(1), CORE_SLICE),
                };
                *st = State {
                    run,
                    cpu: Cpu {
                        slots,
                        slice: slice.max(Duration::from_micros(1)),
                        ..Cpu::default()
                    },
                    ..State::default()
                };
            }
            st.next_id += 1;
            st.next_id
        };
        let job_id = id;
        engine::with_core("run_in_executor", |c| {
            let resource = c.intern(&self.name);
            c.record(
                caller,
                EventKind::Io {
                    resource,
                    id: job_id,
                    phase: IoPhase::Arrived,
                },
            );
        });
        (id, caller)
    }

    fn record(&self, job: &Job, phase: IoPhase) {
        engine::try_with_core(|c| {
            let resource = c.intern(&self.name);
            c.record(
                job.caller,
                EventKind::Io {
                    resource,
                    id: job.id,
                    phase,
                },
            );
        });
    }

    /// Gives queued jobs to idle workers, starting new workers while there
    /// are fewer than `workers` (`_adjust_thread_count`).
    fn adjust(self: &Rc<Pool>) {
        loop {
            let next = {
                let mut st = self.st.borrow_mut();
                if st.queue.is_empty() {
                    return;
                }
                let worker = if let Some(w) = st.idle.pop_front() {
                    Some((w, false))
                } else if st.started < self.workers {
                    st.started += 1;
                    Some((st.started - 1, true))
                } else {
                    None
                };
                match worker {
                    Some((w, new)) => {
                        let job = st.queue.pop_front().expect("queue is not empty");
                        Some((w, new, job))
                    }
                    None => return,
                }
            };
            let Some((worker, new, job)) = next else {
                return;
            };
            job.worker.set(worker);
            job.phase.set(Phase::Running);
            match (self.kind, new) {
                (Kind::Processes { startup, .. }, true) if !startup.is_zero() => {
                    self.record(
                        &job,
                        IoPhase::Spawning {
                            worker: worker as u32,
                        },
                    );
                    let (pool, job) = (self.clone(), job.clone());
                    engine::with_core("run_in_executor", |c| {
                        c.schedule_world(startup, Box::new(move || pool.begin(job)))
                    });
                }
                _ => self.begin(job),
            }
        }
    }

    /// The worker begins the job.
    fn begin(self: &Rc<Pool>, job: Rc<Job>) {
        self.record(
            &job,
            IoPhase::Started {
                worker: job.worker.get() as u32,
            },
        );
        match job.work {
            Work::Io(d) => {
                let d = match self.kind {
                    Kind::Processes { transfer, .. } => d.saturating_add(transfer),
                    Kind::Threads => d,
                };
                let pool = self.clone();
                engine::with_core("run_in_executor", |c| {
                    c.schedule_world(d, Box::new(move || pool.end(job)))
                });
            }
            Work::Cpu(_) => self.want_cpu(job),
        }
    }

    /// CPU-bound work asks for the CPU: it runs at once if a slot is free,
    /// else waits in FIFO order, and the job that has held a slot longest
    /// is asked to give it up one switch interval from now (CPython's
    /// forced switching: a thread that waited the interval for the GIL
    /// makes its holder drop it).
    fn want_cpu(self: &Rc<Pool>, job: Rc<Job>) {
        let holder = {
            let mut st = self.st.borrow_mut();
            if st.cpu.holders.len() < st.cpu.slots {
                st.cpu.holders.push(job.clone());
                None
            } else {
                st.cpu.waiting.push_back(job.clone());
                st.cpu
                    .holders
                    .iter()
                    .min_by_key(|h| (h.slice_start.get(), h.id))
                    .cloned()
            }
        };
        match holder {
            None => {
                self.record(&job, IoPhase::CpuTaken);
                self.run_slice(job);
            }
            Some(h) => {
                // Its slice ends at the next switch, or when its work does.
                let now = engine::with_core("run_in_executor", |c| c.now());
                let ran = now.saturating_duration_since(h.slice_start.get());
                let left = h.left.get().saturating_sub(ran);
                let interval = self.st.borrow().cpu.slice;
                if left > interval {
                    self.schedule_slice_end(h, interval);
                }
            }
        }
    }

    /// Runs `job` on the CPU: to the end of its work while nobody waits
    /// for the CPU, else for one switch interval.
    fn run_slice(self: &Rc<Pool>, job: Rc<Job>) {
        let slice = {
            let st = self.st.borrow();
            if st.cpu.waiting.is_empty() {
                job.left.get()
            } else {
                st.cpu.slice.min(job.left.get())
            }
        };
        let now = engine::with_core("run_in_executor", |c| c.now());
        job.slice_start.set(now);
        self.schedule_slice_end(job, slice);
    }

    /// (Re)schedules the end of `job`'s current slice `after` from now; an
    /// end scheduled before is void.
    fn schedule_slice_end(self: &Rc<Pool>, job: Rc<Job>, after: Duration) {
        job.slice_gen.set(job.slice_gen.get() + 1);
        let generation = job.slice_gen.get();
        let pool = self.clone();
        engine::with_core("run_in_executor", |c| {
            c.schedule_world(after, Box::new(move || pool.slice_ended(job, generation)))
        });
    }

    /// A slice ended: the job ends, goes on, or hands the CPU to the first
    /// job waiting for it.
    fn slice_ended(self: &Rc<Pool>, job: Rc<Job>, generation: u64) {
        if job.slice_gen.get() != generation {
            return;
        }
        let now = engine::with_core("run_in_executor", |c| c.now());
        let ran = now.saturating_duration_since(job.slice_start.get());
        job.left.set(job.left.get().saturating_sub(ran));
        let done = job.left.get().is_zero();
        let next = {
            let mut st = self.st.borrow_mut();
            if done || !st.cpu.waiting.is_empty() {
                st.cpu.waiting.pop_front()
            } else {
                None
            }
        };
        let leave = |pool: &Pool, job: &Rc<Job>| {
            let mut st = pool.st.borrow_mut();
            st.cpu.holders.retain(|h| !Rc::ptr_eq(h, job));
        };
        if done {
            leave(self, &job);
            if let Some(n) = next {
                self.st.borrow_mut().cpu.holders.push(n.clone());
                self.record(&n, IoPhase::CpuTaken);
                self.run_slice(n);
            }
            self.end(job);
        } else if let Some(n) = next {
            leave(self, &job);
            self.record(&job, IoPhase::CpuReleased);
            self.st.borrow_mut().cpu.waiting.push_back(job);
            self.st.borrow_mut().cpu.holders.push(n.clone());
            self.record(&n, IoPhase::CpuTaken);
            self.run_slice(n);
        } else {
            self.run_slice(job);
        }
    }

    /// The job's work is done: its result goes to the loop through
    /// `call_soon_threadsafe` (unless its caller left), and the worker takes
    /// the next job or goes idle.
    fn end(self: &Rc<Pool>, job: Rc<Job>) {
        self.record(&job, IoPhase::Finished);
        if job.phase.get() == Phase::Running {
            job.phase.set(Phase::Done);
            let (pool, job2) = (self.clone(), job.clone());
            let deliver = Box::new(move || {
                if job2.fut.done() {
                    return;
                }
                pool.record(&job2, IoPhase::Delivered);
                let _ = job2.fut.set_result(());
            });
            engine::with_core("run_in_executor", |c| {
                let label = c.intern("_set_state");
                c.call_soon(deliver, label);
            });
        }
        self.st.borrow_mut().idle.push_back(job.worker.get());
        self.adjust();
    }
}

/// Leaves the pool when the caller stops waiting: a queued job is
/// cancelled (`Future.cancel()` succeeds on a pending job); a running one
/// runs on, abandoned.
struct Leave {
    pool: Rc<Pool>,
    job: Rc<Job>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let job = &self.job;
        match job.phase.get() {
            Phase::Queued => {
                job.phase.set(Phase::Left);
                let mut st = self.pool.st.borrow_mut();
                if let Some(i) = st.queue.iter().position(|j| Rc::ptr_eq(j, job)) {
                    st.queue.remove(i);
                }
                drop(st);
                self.pool.record(job, IoPhase::Withdrawn);
            }
            Phase::Running => {
                job.phase.set(Phase::Left);
                self.pool.record(job, IoPhase::Abandoned);
            }
            Phase::Done | Phase::Left => {}
        }
    }
}
