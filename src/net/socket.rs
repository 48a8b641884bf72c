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
    pub(super) partitions: Vec<(BTreeSet<String>, BTreeSet<String>)>,
    st: State,
}

#[derive(Default)]
struct State {
    run: u64,
    next_conn: u32,
    listeners: BTreeMap<(String, u16), Rc<Listener>>,
    conns: Vec<Rc<Conn>>,
    /// When each direction of each link is free of earlier bytes.
    free_at: BTreeMap<(String, String), Instant>,
}

pub(super) struct Listener {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) backlog: RefCell<VecDeque<Rc<Conn>>>,
    pub(super) waker: RefCell<Option<Waker>>,
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

    pub(super) fn partitioned(&self, a: &str, b: &str) -> bool {
        self.partitions
            .iter()
            .any(|(x, y)| (x.contains(a) && y.contains(b)) || (x.contains(b) && y.contains(a)))
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
    done.saturating_duration_since(now)
        .saturating_add(latency)
        .saturating_add(RTO * losses)
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
        waker: RefCell::new(None),
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
    let (k2, c2, d2) = (kernel.clone(), conn.clone(), done.clone());
    let (to_s, from_s) = (to.to_string(), from.to_string());
    // The SYN reaches the server: into the listener's backlog, or refused.
    let syn = Box::new(move || {
        let listener = {
            let mut k = k2.borrow_mut();
            let blocked = k.partitioned(&from_s, &to_s);
            let l = k.state().listeners.get(&(to_s.clone(), port)).cloned();
            l.filter(|_| !blocked)
        };
        let accepted = listener.is_some();
        if let Some(l) = &listener {
            k2.borrow_mut().state().conns.push(c2.clone());
            l.backlog.borrow_mut().push_back(c2.clone());
            if let Some(w) = l.waker.borrow_mut().take() {
                to_loop(&format!("{to_s}:{port} accept"), Box::new(move || w.wake()));
            }
        }
        // The SYN-ACK (or RST) comes back.
        let back = transit(&k2, &to_s, &from_s, 0);
        let reply = Box::new(move || {
            record(
                c2.id,
                0,
                if accepted {
                    NetEvent::Connected
                } else {
                    NetEvent::Refused
                },
            );
            to_loop(
                &format!("connect {to_s}:{port}"),
                Box::new(move || {
                    let _ = d2.set_result(accepted);
                }),
            );
        });
        engine::try_with_core(|c| c.schedule_world(back, reply));
    });
    engine::with_core("connect", |c| c.schedule_world(there, syn));
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
    if kernel.borrow().partitioned(from, to) {
        reset(conn, Some(bytes.len()));
        return Err(reset_error(conn));
    }
    let n = bytes.len();
    record(
        conn.id,
        n,
        if fin {
            NetEvent::Closed
        } else {
            NetEvent::Sent
        },
    );
    let now = now();
    let arrive = {
        let t = transit(kernel, from, to, n);
        let mut end = conn.ends[1 - side].borrow_mut();
        let at = now.saturating_add(t).max(end.last_arrival);
        end.last_arrival = at;
        at
    };
    let c = conn.clone();
    let deliver = Box::new(move || {
        if c.reset.get() {
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
            record(c.id, n, NetEvent::Delivered);
        }
        if let Some(w) = waker {
            let label = format!("conn {} readable", c.id);
            to_loop(&label, Box::new(move || w.wake()));
        }
    });
    engine::with_core("send", |c| {
        c.schedule_world(arrive.saturating_duration_since(now), deliver)
    });
    Ok(())
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

pub(super) fn partition(kernel: &Rc<RefCell<Kernel>>, a: &[&str], b: &[&str]) {
    let conns = {
        let mut k = kernel.borrow_mut();
        let set = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        k.partitions.push((set(a), set(b)));
        let conns = k.state().conns.clone();
        conns
            .into_iter()
            .filter(|c| !c.reset.get() && k.partitioned(&c.hosts[0], &c.hosts[1]))
            .collect::<Vec<_>>()
    };
    for c in conns {
        reset(&c, None);
    }
}
