//! The socket table: listeners, connections and their buffers, and the
//! delivery of bytes over links as world events. No futures here: the
//! streams' polls call in.

use super::LinkConfig;
use super::stream::{TcpListener, TcpStream};
use crate::engine::{self, CancelTarget};
use crate::future::SimFuture;
use crate::rng::{Stream, with_stream};
use crate::time::{Duration, Instant};
use crate::trace::{EventKind, NetEvent, WaitOn};
use rand::RngExt;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::rc::Rc;
use std::task::Waker;

/// A retransmission timeout: a lost segment is sent again this much later.
const RTO: Duration = Duration::from_millis(200);
/// At most this many losses in a row for one segment.
const MAX_RETRIES: u32 = 8;

/// The network's configuration and its per-run state.
#[derive(Default)]
pub(crate) struct Kernel {
    pub(super) default_link: LinkConfig,
    links: BTreeMap<(String, String), LinkConfig>,
    partitions: Vec<Partition>,
    st: State,
}

/// Two sets of hosts cut apart, and what happens to their traffic.
struct Partition {
    a: BTreeSet<String>,
    b: BTreeSet<String>,
    hold: bool,
}

impl Partition {
    fn splits(&self, x: &str, y: &str) -> bool {
        (self.a.contains(x) && self.b.contains(y)) || (self.a.contains(y) && self.b.contains(x))
    }
}

/// What a partition does to the traffic it cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Nothing in the way.
    Open,
    /// Connections are reset, connects refused.
    Reset,
    /// Traffic waits for the heal.
    Hold,
}

#[derive(Default)]
struct State {
    run: u64,
    next_conn: u32,
    listeners: BTreeMap<(String, u16), Rc<Listener>>,
    conns: Vec<Rc<Conn>>,
    /// When each direction of each link is free of earlier bytes.
    free_at: BTreeMap<(String, String), Instant>,
    /// Traffic a holding partition stopped, to send at the heal, in order.
    held: Vec<Box<dyn FnOnce()>>,
    /// Hosts that crashed and did not restart.
    down: BTreeSet<String>,
}

pub(super) struct Listener {
    pub(super) host: String,
    pub(super) port: u16,
    /// Connections no acceptor was waiting for, oldest first. Never
    /// non-empty while an acceptor waits: an arriving connection goes
    /// straight to the first one.
    backlog: RefCell<VecDeque<Rc<Conn>>>,
    /// The tasks waiting in `accept`, in the order they began to wait
    /// (asyncio's FIFO of waiters): each connection is handed to the first.
    acceptors: RefCell<VecDeque<Rc<Acceptor>>>,
    /// Its host crashed: `accept` fails.
    pub(super) closed: Cell<bool>,
}

/// A task waiting in `accept`: the waker of its wait, and the connection
/// handed to it, until it takes it.
pub(super) struct Acceptor {
    waker: RefCell<Option<Waker>>,
    conn: RefCell<Option<Rc<Conn>>>,
}

impl Acceptor {
    /// Takes the connection handed to it, if any.
    pub(super) fn take(&self) -> Option<Rc<Conn>> {
        self.conn.borrow_mut().take()
    }

    /// Polled again while waiting: it keeps its place, with the waker of
    /// this poll.
    pub(super) fn rewait(&self, waker: &Waker) {
        let mut w = self.waker.borrow_mut();
        if !w.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *w = Some(waker.clone());
        }
    }
}

impl Listener {
    /// The next connection for an `accept` that is not waiting yet: the
    /// oldest in the backlog.
    pub(super) fn pop_backlog(&self) -> Option<Rc<Conn>> {
        self.backlog.borrow_mut().pop_front()
    }

    /// An `accept` begins to wait: at the tail of the acceptors.
    pub(super) fn enqueue(&self, waker: Waker) -> Rc<Acceptor> {
        let a = Rc::new(Acceptor {
            waker: RefCell::new(Some(waker)),
            conn: RefCell::new(None),
        });
        self.acceptors.borrow_mut().push_back(a.clone());
        a
    }

    /// An `accept` stops waiting (it got its answer, or was given up): out
    /// of the acceptors. A connection handed to it and not taken goes to
    /// the next acceptor, or back to the head of the backlog: a given-up
    /// accept swallows no connection.
    pub(super) fn leave(&self, a: &Rc<Acceptor>) {
        {
            let mut q = self.acceptors.borrow_mut();
            if let Some(i) = q.iter().position(|x| Rc::ptr_eq(x, a)) {
                q.remove(i);
            }
        }
        drop(a.waker.borrow_mut().take());
        if let Some(c) = a.take() {
            self.hand_out(c, true);
        }
    }

    /// A connection for the listener: handed to the first waiting
    /// acceptor, whose task wakes through the loop (a readable listening
    /// socket), else kept in the backlog (at its head with `first`: it
    /// came before those there).
    fn hand_out(&self, conn: Rc<Conn>, first: bool) {
        let next = self.acceptors.borrow_mut().pop_front();
        let Some(a) = next else {
            let mut b = self.backlog.borrow_mut();
            if first {
                b.push_front(conn);
            } else {
                b.push_back(conn);
            }
            return;
        };
        *a.conn.borrow_mut() = Some(conn);
        if let Some(w) = a.waker.borrow_mut().take() {
            to_loop(
                &format!("{}:{} accept", self.host, self.port),
                Box::new(move || w.wake()),
            );
        }
    }

    /// The host crashed: every waiting acceptor wakes (to fail), in order.
    fn close(&self) {
        self.closed.set(true);
        let waiting = std::mem::take(&mut *self.acceptors.borrow_mut());
        for a in waiting {
            if let Some(w) = a.waker.borrow_mut().take() {
                to_loop(
                    &format!("{}:{} closed", self.host, self.port),
                    Box::new(move || w.wake()),
                );
            }
        }
    }
}

pub(super) struct Conn {
    pub(super) id: u32,
    /// The connecting host (side 0) and the listening host (side 1).
    pub(super) hosts: [String; 2],
    pub(super) ends: [RefCell<End>; 2],
    pub(super) reset: Cell<bool>,
}

#[derive(Default)]
pub(super) struct End {
    /// Bytes delivered to this end, not read yet.
    pub(super) inbox: VecDeque<u8>,
    /// The peer's FIN arrived: reads end with EOF once the inbox is empty.
    pub(super) eof: bool,
    /// This end closed its writing half.
    pub(super) write_closed: bool,
    pub(super) read_waker: Option<Waker>,
    /// The latest arrival scheduled at this end: segments stay in order.
    last_arrival: Instant,
    /// Bytes this end wrote that have not left the link yet: when each
    /// write's last byte leaves, and its size (flow control).
    unsent: VecDeque<(Instant, usize)>,
}

/// asyncio's default write-buffer high-water mark: a writer whose bytes not
/// yet on the wire exceed it waits in `drain()`.
pub(super) const HIGH_WATER: usize = 64 * 1024;

/// When `side` of `conn` may write again: `None` now, else when its
/// oldest write leaves the link.
pub(super) fn write_blocked_until(conn: &Conn, side: usize) -> Option<Instant> {
    let now = engine::try_with_core(|c| c.now())?;
    let mut end = conn.ends[side].borrow_mut();
    while end.unsent.front().is_some_and(|(done, _)| *done <= now) {
        end.unsent.pop_front();
    }
    let queued: usize = end.unsent.iter().map(|(_, n)| n).sum();
    if queued >= HIGH_WATER {
        end.unsent.front().map(|(done, _)| *done)
    } else {
        None
    }
}

/// Wakes `waker` (through the loop, as a writable socket does) at `at`.
pub(super) fn wake_at(at: Instant, label: String, waker: Waker) {
    engine::try_with_core(|c| {
        let after = at.saturating_duration_since(c.now());
        c.schedule_world(
            after,
            Box::new(move || to_loop(&label, Box::new(move || waker.wake()))),
        );
    });
}

impl Kernel {
    pub(super) fn set_link(&mut self, a: &str, b: &str, cfg: LinkConfig) {
        self.links.insert(pair(a, b), cfg);
    }

    fn link(&self, a: &str, b: &str) -> LinkConfig {
        self.links
            .get(&pair(a, b))
            .copied()
            .unwrap_or(self.default_link)
    }

    /// What stands between hosts `a` and `b`: a resetting partition wins
    /// over a holding one.
    pub(super) fn cut(&self, a: &str, b: &str) -> Cut {
        let mut cut = Cut::Open;
        for p in self.partitions.iter().filter(|p| p.splits(a, b)) {
            if !p.hold {
                return Cut::Reset;
            }
            cut = Cut::Hold;
        }
        cut
    }

    /// The state of this run (made afresh when a new run uses the network).
    fn state(&mut self) -> &mut State {
        let run = engine::try_with_core(|c| c.run_id()).unwrap_or(0);
        if self.st.run != run {
            self.st = State {
                run,
                ..State::default()
            };
        }
        &mut self.st
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn record(conn: u32, bytes: usize, what: NetEvent) {
    engine::try_with_core(|c| {
        let task = c.current();
        c.record(
            task,
            EventKind::Net {
                conn,
                bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
                what,
            },
        );
    });
}

/// Queues `f` as a loop callback (a socket became readable: the selector's
/// reader callback), labelled `label`.
fn to_loop(label: &str, f: Box<dyn FnOnce()>) {
    engine::try_with_core(|c| {
        let label = c.intern(label);
        c.call_soon(f, label);
    });
}

/// Marks the current task as waiting on `what` (a socket).
pub(super) fn wait_on(what: &str) {
    engine::try_with_core(|c| {
        let what = c.intern(what);
        c.set_waiting(WaitOn::Io { what }, CancelTarget::Wake);
    });
}

fn now() -> Instant {
    engine::with_core("net", |c| c.now())
}

/// One-way time for `bytes` from `from` to `to`: waiting for the link,
/// transmitting, the drawn latency, and 200 ms per loss.
fn transit(kernel: &Rc<RefCell<Kernel>>, from: &str, to: &str, bytes: usize) -> Duration {
    transit_and_departure(kernel, from, to, bytes).0
}

/// [`transit`], and when the last byte leaves the sender onto the link.
fn transit_and_departure(
    kernel: &Rc<RefCell<Kernel>>,
    from: &str,
    to: &str,
    bytes: usize,
) -> (Duration, Instant) {
    let mut k = kernel.borrow_mut();
    let cfg = k.link(from, to);
    let now = now();
    let tx = cfg.bandwidth.map_or(Duration::ZERO, |bw| {
        Duration::from_secs_f64((bytes as f64 / bw as f64).min(365.0 * 86400.0))
    });
    let dir = (from.to_string(), to.to_string());
    let st = k.state();
    let free = st.free_at.get(&dir).copied().unwrap_or(now).max(now);
    let done = free.saturating_add(tx);
    st.free_at.insert(dir, done);
    let (a, b) = pair(from, to);
    let (latency, losses) = with_stream(Stream::named(&format!("link:{a}-{b}")), |r| {
        let latency = cfg.latency.sample(r);
        let mut losses = 0;
        while cfg.loss > 0.0 && losses < MAX_RETRIES && r.random::<f64>() < cfg.loss {
            losses += 1;
        }
        (latency, losses)
    });
    let total = done
        .saturating_duration_since(now)
        .saturating_add(latency)
        .saturating_add(RTO * losses);
    (total, done)
}

pub(super) fn bind(kernel: &Rc<RefCell<Kernel>>, host: &str, port: u16) -> io::Result<TcpListener> {
    let mut k = kernel.borrow_mut();
    let st = k.state();
    let key = (host.to_string(), port);
    if st.listeners.contains_key(&key) {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{host}:{port} is already in use"),
        ));
    }
    let l = Rc::new(Listener {
        host: host.to_string(),
        port,
        backlog: RefCell::new(VecDeque::new()),
        acceptors: RefCell::new(VecDeque::new()),
        closed: Cell::new(false),
    });
    st.listeners.insert(key, l.clone());
    Ok(TcpListener::new(kernel.clone(), l))
}

/// Stops listening (a dropped listener).
pub(super) fn unbind(kernel: &Rc<RefCell<Kernel>>, l: &Listener) {
    if let Ok(mut k) = kernel.try_borrow_mut() {
        let st = k.state();
        let key = (l.host.clone(), l.port);
        if st
            .listeners
            .get(&key)
            .is_some_and(|x| std::ptr::eq(&**x, l))
        {
            st.listeners.remove(&key);
        }
    }
}

pub(super) async fn connect(
    kernel: &Rc<RefCell<Kernel>>,
    from: &str,
    to: &str,
    port: u16,
) -> io::Result<TcpStream> {
    let id = {
        let mut k = kernel.borrow_mut();
        let st = k.state();
        st.next_conn += 1;
        st.next_conn
    };
    engine::with_core("connect", |c| {
        let task = c.current();
        let (f, t) = (c.intern(from), c.intern(&format!("{to}:{port}")));
        c.record(
            task,
            EventKind::Net {
                conn: id,
                bytes: 0,
                what: NetEvent::Connecting { from: f, to: t },
            },
        );
    });
    let conn = Rc::new(Conn {
        id,
        hosts: [from.to_string(), to.to_string()],
        ends: [RefCell::new(End::default()), RefCell::new(End::default())],
        reset: Cell::new(false),
    });
    let done: SimFuture<bool> = SimFuture::with_label(format!("connect {to}:{port}"));
    let there = transit(kernel, from, to, 0);
    let syn = Syn {
        kernel: kernel.clone(),
        conn: conn.clone(),
        done: done.clone(),
        port,
    };
    let arrive = Box::new(move || syn.arrives());
    engine::with_core("connect", |c| c.schedule_world(there, arrive));
    done.wait_io(format!("connect {to}:{port}").into())
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
    match done.result() {
        Some(Ok(true)) => Ok(TcpStream::new(kernel.clone(), conn, 0)),
        _ => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("{to}:{port} refused the connection from {from}"),
        )),
    }
}

/// A connection request on its way to the listening host.
struct Syn {
    kernel: Rc<RefCell<Kernel>>,
    conn: Rc<Conn>,
    done: SimFuture<bool>,
    port: u16,
}

impl Syn {
    /// The SYN reaches the server: into the listener's backlog, or
    /// refused (nobody listens, a partition resets, a host is down), or
    /// held until the heal; the answer goes back to the client.
    fn arrives(self) {
        let (from, to) = (&self.conn.hosts[0], &self.conn.hosts[1]);
        let cut = self.kernel.borrow().cut(from, to);
        if cut == Cut::Hold {
            let k = self.kernel.clone();
            k.borrow_mut()
                .state()
                .held
                .push(Box::new(move || self.arrives()));
            return;
        }
        let port = self.port;
        let listener = {
            let mut k = self.kernel.borrow_mut();
            let st = k.state();
            let down = st.down.contains(to) || st.down.contains(from);
            let l = st.listeners.get(&(to.clone(), port)).cloned();
            l.filter(|_| cut == Cut::Open && !down)
        };
        let accepted = listener.is_some();
        if let Some(l) = &listener {
            self.kernel
                .borrow_mut()
                .state()
                .conns
                .push(self.conn.clone());
            l.hand_out(self.conn.clone(), false);
        }
        // The SYN-ACK (or RST) comes back.
        let back = transit(&self.kernel, to, from, 0);
        let (id, done) = (self.conn.id, self.done);
        let label = format!("connect {to}:{port}");
        let reply = Box::new(move || {
            let what = if accepted {
                NetEvent::Connected
            } else {
                NetEvent::Refused
            };
            record(id, 0, what);
            to_loop(
                &label,
                Box::new(move || {
                    let _ = done.set_result(accepted);
                }),
            );
        });
        engine::try_with_core(|c| c.schedule_world(back, reply));
    }
}

/// Sends `bytes` (or, with `fin`, the end of the stream) from `side` of
/// `conn` to the other side.
pub(super) fn send(
    kernel: &Rc<RefCell<Kernel>>,
    conn: &Rc<Conn>,
    side: usize,
    bytes: Vec<u8>,
    fin: bool,
) -> io::Result<()> {
    if conn.reset.get() {
        return Err(reset_error(conn));
    }
    let (from, to) = (&conn.hosts[side], &conn.hosts[1 - side]);
    let n = bytes.len();
    let what = if fin {
        NetEvent::Closed
    } else {
        NetEvent::Sent { forward: side == 0 }
    };
    let cut = kernel.borrow().cut(from, to);
    match cut {
        Cut::Open => {
            record(conn.id, n, what);
            deliver_later(kernel, conn, side, bytes, fin);
        }
        Cut::Reset => {
            reset(conn, Some(n));
            return Err(reset_error(conn));
        }
        Cut::Hold => {
            // Written now, sent at the heal.
            record(conn.id, n, what);
            let (k, c) = (kernel.clone(), conn.clone());
            let later = Box::new(move || deliver_later(&k, &c, side, bytes, fin));
            kernel.borrow_mut().state().held.push(later);
        }
    }
    Ok(())
}

/// Schedules the arrival of `bytes` (or the FIN) at the other end, in
/// order after what was sent before.
fn deliver_later(
    kernel: &Rc<RefCell<Kernel>>,
    conn: &Rc<Conn>,
    side: usize,
    bytes: Vec<u8>,
    fin: bool,
) {
    if conn.reset.get() {
        return;
    }
    let (from, to) = (&conn.hosts[side], &conn.hosts[1 - side]);
    let n = bytes.len();
    let Some(now) = engine::try_with_core(|c| c.now()) else {
        return;
    };
    let arrive = {
        let (t, departed) = transit_and_departure(kernel, from, to, n);
        if n > 0 {
            conn.ends[side].borrow_mut().unsent.push_back((departed, n));
        }
        let mut end = conn.ends[1 - side].borrow_mut();
        let at = now.saturating_add(t).max(end.last_arrival);
        end.last_arrival = at;
        at
    };
    let (c, k) = (conn.clone(), kernel.clone());
    let deliver = Box::new(move || {
        if c.reset.get() {
            return;
        }
        // A holding partition that began while these bytes flew keeps them.
        if k.borrow().cut(&c.hosts[side], &c.hosts[1 - side]) == Cut::Hold {
            let (k2, c2) = (k.clone(), c.clone());
            let later = Box::new(move || deliver_later(&k2, &c2, side, bytes, fin));
            k.borrow_mut().state().held.push(later);
            return;
        }
        let waker = {
            let mut end = c.ends[1 - side].borrow_mut();
            end.inbox.extend(bytes);
            if fin {
                end.eof = true;
            }
            end.read_waker.take()
        };
        if !fin {
            record(c.id, n, NetEvent::Delivered { forward: side == 0 });
        }
        if let Some(w) = waker {
            let label = format!("conn {} readable", c.id);
            to_loop(&label, Box::new(move || w.wake()));
        }
    });
    engine::try_with_core(|c| c.schedule_world(arrive.saturating_duration_since(now), deliver));
}

fn reset_error(conn: &Conn) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!(
            "connection {} between {} and {} was reset",
            conn.id, conn.hosts[0], conn.hosts[1]
        ),
    )
}

/// Resets `conn` on both ends (a partition): bytes in flight are dropped,
/// waiting readers wake to an error.
fn reset(conn: &Rc<Conn>, dropped: Option<usize>) {
    if conn.reset.replace(true) {
        return;
    }
    if let Some(n) = dropped {
        record(conn.id, n, NetEvent::Dropped);
    }
    record(conn.id, 0, NetEvent::Reset);
    for end in &conn.ends {
        if let Some(w) = end.borrow_mut().read_waker.take() {
            to_loop(
                &format!("conn {} reset", conn.id),
                Box::new(move || w.wake()),
            );
        }
    }
}

pub(super) fn partition(kernel: &Rc<RefCell<Kernel>>, a: &[&str], b: &[&str], hold: bool) {
    let conns = {
        let mut k = kernel.borrow_mut();
        let set = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        k.partitions.push(Partition {
            a: set(a),
            b: set(b),
            hold,
        });
        engine::try_with_core(|c| {
            let task = c.current();
            let (a, b) = (c.intern(&a.join(" ")), c.intern(&b.join(" ")));
            c.record(
                task,
                EventKind::Net {
                    conn: 0,
                    bytes: 0,
                    what: NetEvent::Partitioned { a, b, hold },
                },
            );
        });
        let conns = k.state().conns.clone();
        conns
            .into_iter()
            .filter(|c| !c.reset.get() && k.cut(&c.hosts[0], &c.hosts[1]) == Cut::Reset)
            .collect::<Vec<_>>()
    };
    for c in conns {
        reset(&c, None);
    }
}

/// Ends every partition; held traffic is sent, in order.
pub(super) fn heal(kernel: &Rc<RefCell<Kernel>>) {
    let held = {
        let mut k = kernel.borrow_mut();
        k.partitions.clear();
        std::mem::take(&mut k.state().held)
    };
    record(0, 0, NetEvent::Healed);
    for f in held {
        f();
    }
}

/// `host` crashes: its connections are reset, its listeners closed, and
/// connections to or from it refused until [`restart`].
pub(super) fn crash(kernel: &Rc<RefCell<Kernel>>, host: &str) {
    let (conns, listeners) = {
        let mut k = kernel.borrow_mut();
        let st = k.state();
        st.down.insert(host.to_string());
        let conns: Vec<Rc<Conn>> = st
            .conns
            .iter()
            .filter(|c| !c.reset.get() && c.hosts.iter().any(|h| h == host))
            .cloned()
            .collect();
        let keys: Vec<(String, u16)> = st
            .listeners
            .keys()
            .filter(|(h, _)| h == host)
            .cloned()
            .collect();
        let listeners: Vec<Rc<Listener>> =
            keys.iter().filter_map(|k| st.listeners.remove(k)).collect();
        (conns, listeners)
    };
    for c in conns {
        reset(&c, None);
    }
    for l in listeners {
        l.close();
    }
}

/// `host` is up again: it can listen and connect.
pub(super) fn restart(kernel: &Rc<RefCell<Kernel>>, host: &str) {
    kernel.borrow_mut().state().down.remove(host);
}
