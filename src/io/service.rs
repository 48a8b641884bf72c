//! A simulated service: a web API, a database, a server seen from its
//! clients. See the [module docs](super) for the rules.

use super::Latency;
use crate::Error;
use crate::engine;
use crate::future::SimFuture;
use crate::rng::{Stream, with_stream};
use crate::time::{Duration, Instant, duration_to_secs_f64};
use crate::trace::{EventKind, IoPhase, TaskId};
use rand::RngExt;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// What a client-side rate limiter does with a call beyond its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnExcess {
    /// The call fails at once with `TooManyRequests` (HTTP 429).
    Reject,
    /// The call waits (an `asyncio.sleep` in the client) until a token is
    /// free.
    Delay,
}

/// A token bucket: `per_second` tokens a second, at most `burst` saved up
/// (full at the start); each call takes one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// The bucket's size (and its content at the start).
    pub burst: u32,
    /// What happens to a call that finds the bucket empty.
    pub on_excess: OnExcess,
}

/// How a [`Service`] behaves. Build one with [`ServiceConfig::new`] and the
/// methods that follow it.
///
/// ```
/// use loopsim::io::{Latency, OnExcess, RateLimit, ServiceConfig};
/// use std::time::Duration;
/// let cfg = ServiceConfig::new(Latency::fixed(Duration::from_millis(200)))
///     .capacity(10)
///     .queue_limit(50)
///     .error_rate(0.01, "ServiceError")
///     .slowdown(0.1)
///     .rate_limit(RateLimit { per_second: 20.0, burst: 20, on_excess: OnExcess::Reject });
/// assert_eq!(cfg.capacity, 10);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// Requests served at once (at least 1).
    pub capacity: usize,
    /// The service time of one request with nothing else in service.
    pub latency: Latency,
    /// At most this many requests wait for a slot; one more is rejected with
    /// `ServiceUnavailable` (HTTP 503). `None`: the queue has no limit.
    pub queue_limit: Option<usize>,
    /// The chance that a served request fails.
    pub error_rate: f64,
    /// The class of those failures (`ServiceError`, `ConnectionResetError`).
    pub error_kind: String,
    /// Extra service time per other request in service, as a fraction of
    /// the drawn time: with `slowdown = 0.1`, a request that starts with 9
    /// others in service takes 1.9 times its drawn time.
    pub slowdown: f64,
    /// A client-side rate limit, if any.
    pub rate_limit: Option<RateLimit>,
}

impl ServiceConfig {
    /// One request at a time, served in `latency`, no errors, no limits.
    pub fn new(latency: Latency) -> ServiceConfig {
        ServiceConfig {
            capacity: 1,
            latency,
            queue_limit: None,
            error_rate: 0.0,
            error_kind: "ServiceError".to_string(),
            slowdown: 0.0,
            rate_limit: None,
        }
    }

    /// Serves `n` requests at once (at least 1).
    pub fn capacity(mut self, n: usize) -> ServiceConfig {
        self.capacity = n.max(1);
        self
    }

    /// Rejects a request when `n` already wait.
    pub fn queue_limit(mut self, n: usize) -> ServiceConfig {
        self.queue_limit = Some(n);
        self
    }

    /// Fails a served request with chance `rate` (0 to 1), as `kind`.
    pub fn error_rate(mut self, rate: f64, kind: &str) -> ServiceConfig {
        self.error_rate = if rate.is_finite() {
            rate.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.error_kind = kind.to_string();
        self
    }

    /// Service time grows by `fraction` per other request in service.
    pub fn slowdown(mut self, fraction: f64) -> ServiceConfig {
        self.slowdown = if fraction.is_finite() {
            fraction.max(0.0)
        } else {
            0.0
        };
        self
    }

    /// Puts a token bucket in front of the service.
    pub fn rate_limit(mut self, limit: RateLimit) -> ServiceConfig {
        self.rate_limit = Some(limit);
        self
    }
}

/// A named endpoint that serves requests: `capacity` at once, the rest in a
/// FIFO queue. Clone it to share it between tasks.
///
/// ```
/// use loopsim::io::{Latency, Service, ServiceConfig};
/// use loopsim::{Sim, gather};
/// use std::time::Duration;
/// let run = Sim::builder().build().run(async {
///     let one_second = Latency::fixed(Duration::from_secs(1));
///     let api = Service::named("api", ServiceConfig::new(one_second).capacity(5));
///     let calls = (0..10).map(|_| {
///         let api = api.clone();
///         async move { api.call().await }
///     });
///     gather(calls).await.map(|done| done.len())
/// });
/// assert_eq!(run.value(), Some(&Ok(10)));
/// assert_eq!(run.elapsed(), Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Rc<Inner>,
}

struct Inner {
    name: Rc<str>,
    cfg: ServiceConfig,
    stream: Stream,
    st: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// The run this state belongs to: a service used by a later run starts
    /// afresh.
    run: u64,
    next_id: u32,
    slots: Vec<bool>,
    queue: VecDeque<Rc<Request>>,
    tokens: f64,
    refilled: Instant,
}

struct Request {
    id: u32,
    caller: Option<TaskId>,
    fut: SimFuture<()>,
    phase: Cell<Phase>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Queued,
    Serving,
    Done,
    Left,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.inner.name)
            .field("config", &self.inner.cfg)
            .finish()
    }
}

impl Service {
    /// A service called `name` in traces and pictures, behaving as `cfg`.
    /// Its draws come from a random stream of its own (`service:<name>`).
    pub fn named(name: &str, cfg: ServiceConfig) -> Service {
        Service {
            inner: Rc::new(Inner {
                name: name.into(),
                stream: Stream::named(&format!("service:{name}")),
                cfg,
                st: RefCell::new(State::default()),
            }),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How it behaves.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.cfg
    }

    /// Requests in service now.
    pub fn in_service(&self) -> usize {
        self.inner.st.borrow().slots.iter().filter(|b| **b).count()
    }

    /// Requests waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.inner.st.borrow().queue.len()
    }

    /// Sends one request and waits for its response: `Ok(())`, or the
    /// error it failed or was turned away with (`ServiceError`,
    /// `ServiceUnavailable`, `TooManyRequests`). Cancelling the caller (a
    /// timeout) takes a queued request out of the queue, or abandons one in
    /// service: the server finishes it anyway.
    ///
    /// # Panics
    ///
    /// Outside a running simulation.
    pub async fn call(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let (id, caller) = inner.arrive();
        if let Some(limit) = inner.cfg.rate_limit {
            match inner.take_token(limit) {
                Ok(None) => {}
                Ok(Some(wait)) => {
                    inner.record(caller, id, IoPhase::Throttled);
                    crate::sleep(wait).await;
                }
                Err(()) => {
                    let e = Error::raised(
                        "TooManyRequests",
                        format!(
                            "{}: 429 Too Many Requests (limit {}/s)",
                            inner.name, limit.per_second
                        ),
                    );
                    inner.record_error(caller, id, &e, true);
                    return Err(e);
                }
            }
        }
        let req = Rc::new(Request {
            id,
            caller,
            fut: SimFuture::with_label(format!("{} response", inner.name)),
            phase: Cell::new(Phase::Queued),
        });
        let free = {
            let st = inner.st.borrow();
            st.queue.is_empty() && st.slots.iter().filter(|b| **b).count() < inner.cfg.capacity
        };
        if free {
            start(inner.clone(), req.clone());
        } else {
            let full = inner
                .cfg
                .queue_limit
                .is_some_and(|n| inner.st.borrow().queue.len() >= n);
            if full {
                let e = Error::raised(
                    "ServiceUnavailable",
                    format!(
                        "{}: 503 Service Unavailable ({} waiting)",
                        inner.name,
                        inner.st.borrow().queue.len()
                    ),
                );
                inner.record_error(caller, id, &e, true);
                return Err(e);
            }
            inner.st.borrow_mut().queue.push_back(req.clone());
            inner.record(caller, id, IoPhase::Queued);
        }
        let leave = Leave {
            inner: inner.clone(),
            req: req.clone(),
        };
        let r = req.fut.wait_io(inner.name.clone()).await;
        drop(leave);
        r
    }
}

impl Inner {
    /// A new request's number, with the service's state reset if this is a
    /// new run; records its arrival.
    fn arrive(&self) -> (u32, Option<TaskId>) {
        let (run, now, caller) =
            engine::with_core("Service::call", |c| (c.run_id(), c.now(), c.current()));
        let id = {
            let mut st = self.st.borrow_mut();
            if st.run != run {
                *st = State {
                    run,
                    slots: vec![false; self.cfg.capacity.max(1)],
                    tokens: self.cfg.rate_limit.map_or(0.0, |l| f64::from(l.burst)),
                    refilled: now,
                    ..State::default()
                };
            }
            st.next_id += 1;
            st.next_id
        };
        self.record(caller, id, IoPhase::Arrived);
        (id, caller)
    }

    /// Takes a token: `Ok(None)` at once, `Ok(Some(wait))` after a wait
    /// (`Delay`), `Err` when rejected.
    fn take_token(&self, limit: RateLimit) -> Result<Option<Duration>, ()> {
        let now = engine::with_core("Service::call", |c| c.now());
        let mut st = self.st.borrow_mut();
        let rate = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            limit.per_second
        } else {
            f64::MIN_POSITIVE
        };
        let elapsed = duration_to_secs_f64(now.saturating_duration_since(st.refilled));
        st.tokens = (st.tokens + rate * elapsed).min(f64::from(limit.burst));
        st.refilled = now;
        if st.tokens >= 1.0 {
            st.tokens -= 1.0;
            return Ok(None);
        }
        match limit.on_excess {
            OnExcess::Reject => Err(()),
            OnExcess::Delay => {
                let wait = (1.0 - st.tokens) / rate;
                st.tokens -= 1.0;
                Ok(Some(Duration::from_secs_f64(wait.min(365.0 * 86400.0))))
            }
        }
    }

    fn record(&self, caller: Option<TaskId>, id: u32, phase: IoPhase) {
        engine::try_with_core(|c| {
            let resource = c.intern(&self.name);
            c.record(
                caller,
                EventKind::Io {
                    resource,
                    id,
                    phase,
                },
            );
        });
    }

    fn record_error(&self, caller: Option<TaskId>, id: u32, e: &Error, rejected: bool) {
        let Some(error) = engine::try_with_core(|c| c.intern(&e.to_string())) else {
            return;
        };
        let phase = if rejected {
            IoPhase::Rejected { error }
        } else {
            IoPhase::Failed { error }
        };
        self.record(caller, id, phase);
    }
}

/// Serves `req` in a free slot: draws its time (slowed by the others in
/// service) and whether it fails, and schedules its end in the world.
fn start(inner: Rc<Inner>, req: Rc<Request>) {
    let (slot, others) = {
        let mut st = inner.st.borrow_mut();
        let others = st.slots.iter().filter(|b| **b).count();
        let slot = st.slots.iter().position(|b| !*b).unwrap_or(0);
        if let Some(s) = st.slots.get_mut(slot) {
            *s = true;
        }
        (slot, others)
    };
    req.phase.set(Phase::Serving);
    let cfg = &inner.cfg;
    let (base, fails) = with_stream(inner.stream, |r| {
        let base = cfg.latency.sample(r);
        let fails = cfg.error_rate > 0.0 && r.random::<f64>() < cfg.error_rate;
        (base, fails)
    });
    let factor = 1.0 + cfg.slowdown * others as f64;
    let time = Duration::from_secs_f64((base.as_secs_f64() * factor).min(365.0 * 86400.0));
    inner.record(
        req.caller,
        req.id,
        IoPhase::Started {
            worker: slot as u32,
        },
    );
    let action = Box::new(move || finish(inner, req, slot, fails));
    engine::with_core("Service::call", |c| c.schedule_world(time, action));
}

/// The world event that ends a request's service: frees its slot, sends
/// the response to the loop (unless its caller left), admits the next.
fn finish(inner: Rc<Inner>, req: Rc<Request>, slot: usize, fails: bool) {
    if let Some(s) = inner.st.borrow_mut().slots.get_mut(slot) {
        *s = false;
    }
    let result = if fails {
        let e = Error::raised(
            inner.cfg.error_kind.clone(),
            format!("{}: 500 Internal Server Error", inner.name),
        );
        inner.record_error(req.caller, req.id, &e, false);
        Err(e)
    } else {
        inner.record(req.caller, req.id, IoPhase::Finished);
        Ok(())
    };
    if req.phase.get() == Phase::Serving {
        req.phase.set(Phase::Done);
        let (inner2, req2) = (inner.clone(), req.clone());
        let deliver = Box::new(move || {
            if req2.fut.done() {
                return;
            }
            inner2.record(req2.caller, req2.id, IoPhase::Delivered);
            let _ = match result {
                Ok(()) => req2.fut.set_result(()),
                Err(e) => req2.fut.set_exception(e),
            };
        });
        engine::with_core("Service", |c| {
            let label = c.intern(&format!("{} response", inner.name));
            c.call_soon(deliver, label);
        });
    }
    let next = inner.st.borrow_mut().queue.pop_front();
    if let Some(next) = next {
        start(inner, next);
    }
}

/// Leaves the service when the caller stops waiting before its response:
/// out of the queue, or abandoned in service.
struct Leave {
    inner: Rc<Inner>,
    req: Rc<Request>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let req = &self.req;
        match req.phase.get() {
            Phase::Queued => {
                req.phase.set(Phase::Left);
                let mut st = self.inner.st.borrow_mut();
                if let Some(i) = st.queue.iter().position(|r| Rc::ptr_eq(r, req)) {
                    st.queue.remove(i);
                }
                drop(st);
                self.inner.record(req.caller, req.id, IoPhase::Withdrawn);
            }
            Phase::Serving => {
                req.phase.set(Phase::Left);
                self.inner.record(req.caller, req.id, IoPhase::Abandoned);
            }
            Phase::Done | Phase::Left => {}
        }
    }
}
