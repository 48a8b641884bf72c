//! The simulated world tasks talk to: services, thread pools and process
//! pools, on the virtual clock.
//!
//! Each is a real future (`api.call().await`, `to_thread(work).await`)
//! whose work happens *outside the loop*, as a world event of the engine
//! (another thread, a server, the kernel): it costs the loop nothing, and
//! its result reaches the loop the way CPython's does. A thread's
//! `call_soon_threadsafe` (or a socket becoming readable) puts one callback
//! in the ready queue. That callback sets the awaited future, and the task
//! resumes on the iteration after: two hops, as in
//! `concurrent/futures/thread.py` with `asyncio.futures._chain_future`.
//!
//! # Services
//!
//! A [`Service`] serves `capacity` requests at once, in arrival order, the
//! rest waiting in a FIFO queue. When a queue limit is set, a request that
//! finds the queue full is rejected at once (`ServiceUnavailable`, 503).
//! Each service time is drawn from the service's [`Latency`], from a random
//! stream of the service's own (`service:<name>`). So adding a service never
//! shifts another's draws. The time grows by `slowdown` per other request in
//! service, so unbounded concurrency really costs. A served request fails
//! with chance `error_rate`, as an error of the configured class. An
//! optional client-side token bucket rejects a call beyond its rate
//! (`TooManyRequests`, 429) or delays it. A caller that stops waiting (a
//! timeout, a cancellation) takes its request out of the queue. If the
//! request is already in service, the server finishes it anyway and the
//! response is dropped (*abandoned*).
//!
//! # Pools
//!
//! A [`ThreadPool`] is `concurrent.futures.ThreadPoolExecutor`:
//! - a FIFO job queue;
//! - a new thread per job while fewer than `workers` exist and none is
//!   idle (`_adjust_thread_count`); the longest-idle thread takes the next
//!   job;
//! - [`to_thread`] uses the run's default pool of `min(32, cpus + 4)`
//!   threads.
//!
//! The two kinds of [`Work`] differ:
//! - **Blocking I/O** ([`Work::Io`]) releases the GIL and overlaps freely.
//! - **CPU-bound work** ([`Work::Cpu`]) needs the CPU. Under the GIL
//!   ([`Machine::gil`]) one thread runs at a time; a thread that others wait
//!   for hands the GIL to the longest waiter after the switch interval
//!   (`sys.getswitchinterval()`, 5 ms; CPython's forced switching in
//!   `Python/ceval_gil.c`).
//!
//! A [`ProcessPool`] is `ProcessPoolExecutor`:
//! - each worker process costs `startup` the first time it is needed;
//! - each call costs `transfer` (pickling);
//! - CPU-bound work runs in parallel on [`Machine::cpus`] cores, shared in
//!   5 ms slices when more processes run than there are cores.
//!
//! A cancelled caller withdraws a queued job (`Future.cancel()` succeeds on
//! a pending job). A running job runs to its end, abandoned.
//!
//! **Not modelled:** the loop's own thread competing for the GIL. Its steps
//! take no virtual time, so a CPU-bound thread does not delay them.
//!
//! # In the trace
//!
//! Every request and job is a sequence of [`EventKind::Io`] events, with
//! the caller as their task:
//! - arrived, then throttled or queued if it must wait;
//! - started (with its slot or worker), with CPU taken or released under
//!   contention;
//! - finished, failed, rejected, withdrawn or abandoned;
//! - delivered when the result reaches the loop.
//!
//! The caller waits on [`WaitOn::Io`] meanwhile. The timeline draws
//! "waiting for the server" apart from "being served", and a lane per
//! service and per pool worker.
//!
//! [`EventKind::Io`]: crate::trace::EventKind::Io
//! [`WaitOn::Io`]: crate::trace::WaitOn::Io

mod latency;
mod pool;
mod service;

pub use latency::Latency;
pub use pool::{Machine, ProcessPool, ThreadPool, Work, to_thread};
pub use service::{OnExcess, RateLimit, Service, ServiceConfig};
