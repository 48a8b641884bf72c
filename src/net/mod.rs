//! A simulated network on the virtual clock: named hosts, links with
//! latency, bandwidth and loss, TCP-like streams whose halves implement
//! `futures::io::AsyncRead` and `AsyncWrite` (so ordinary protocol code runs
//! unchanged), and partitions.
//!
//! # A map of the code
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Net`]: hosts, links, partitions; [`LinkConfig`] |
//! | `socket.rs` | the socket table ("kernel"): connections, buffers, delivery |
//! | `stream.rs` | [`TcpStream`] and [`TcpListener`]: each poll is one call into `socket.rs` |
//!
//! # The rules
//!
//! - **Delivery.** Bytes written to a stream travel over the link between
//!   the two hosts. They first wait for the link to be free of earlier bytes
//!   in the same direction: `bytes / bandwidth`, so a large write takes
//!   time. Then they take the link's latency, drawn from the link's own
//!   random stream (`link:a-b`). They arrive in order: a segment never
//!   overtakes an earlier one. A lost segment (`loss`) is sent again after
//!   a retransmission timeout of 200 ms, as TCP does.
//! - **Reaching the loop.** Arriving bytes reach the loop as a readable
//!   socket does in asyncio. One callback is queued (the selector's reader
//!   callback), and it wakes the reading task for the next iteration.
//! - **Connections.** `connect` takes one round trip (SYN, then SYN-ACK).
//!   It fails with `ConnectionRefused` when nobody listens at the address,
//!   or when a partition separates the hosts. `close` sends a FIN behind
//!   the bytes already written: the peer reads them, then EOF.
//! - **Accepting.** Tasks waiting in `accept` on one listener queue, as
//!   asyncio's waiters do: each arriving connection is handed to the one
//!   that began waiting first, the others keep waiting. An accept given up
//!   (its future dropped) before it took the connection handed to it
//!   passes it to the next in the queue, or back to the backlog.
//! - **Partitions.** [`Net::partition`] resets every connection that
//!   crosses it, on both ends at once. Reads and writes then fail with
//!   `ConnectionReset`, bytes in flight are dropped, and connects across it
//!   are refused until [`Net::heal`]. [`Net::partition_holding`] holds the
//!   traffic instead: it arrives, in order, after the heal.
//! - **Crashes.** [`Net::crash`] resets the host's connections and closes
//!   its listeners; it refuses connections until [`Net::restart`].
//!
//! Modelled on turmoil-net (a socket table behind futures that are thin)
//! and madsim; unlike them, it shares the virtual clock and the trace with
//! the loop, its services and pools.

mod socket;
mod stream;

pub use stream::{TcpListener, TcpStream};

use crate::io::Latency;
use crate::time::Duration;
use socket::Kernel;
use std::cell::RefCell;
use std::rc::Rc;

/// How a link between two hosts carries bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way latency of a segment.
    pub latency: Latency,
    /// Bytes per second (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// The chance that a segment is lost (and sent again 200 ms later).
    pub loss: f64,
}

impl LinkConfig {
    /// A link with this latency, unlimited bandwidth and no loss.
    pub fn new(latency: Latency) -> LinkConfig {
        LinkConfig {
            latency,
            bandwidth: None,
            loss: 0.0,
        }
    }

    /// Limits the link to `bytes_per_second` in each direction.
    pub fn bandwidth(mut self, bytes_per_second: u64) -> LinkConfig {
        self.bandwidth = Some(bytes_per_second.max(1));
        self
    }

    /// Loses each segment with chance `rate` (0 to 1).
    pub fn loss(mut self, rate: f64) -> LinkConfig {
        self.loss = if rate.is_finite() {
            rate.clamp(0.0, 0.99)
        } else {
            0.0
        };
        self
    }
}

impl Default for LinkConfig {
    /// 1 ms, unlimited, lossless.
    fn default() -> Self {
        LinkConfig::new(Latency::Fixed(Duration::from_millis(1)))
    }
}

/// A simulated network: hosts are names, links join pairs of them (a
/// default link joins the others). Clone it to share it; its state starts
/// afresh in each run.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use loopsim::net::{LinkConfig, Net};
/// use loopsim::io::Latency;
/// use loopsim::{Sim, spawn};
/// use std::time::Duration;
///
/// let run = Sim::builder().build().run(async {
///     let net = Net::new();
///     net.link("client", "server", LinkConfig::new(Latency::fixed(Duration::from_millis(10))));
///     let listener = net.bind("server", 7).unwrap();
///     let echo = spawn(async move {
///         let (mut s, _) = listener.accept().await.unwrap();
///         let mut buf = [0u8; 5];
///         s.read_exact(&mut buf).await.unwrap();
///         s.write_all(&buf).await.unwrap();
///     });
///     let mut c = net.connect("client", "server", 7).await.unwrap();
///     c.write_all(b"hello").await.unwrap();
///     let mut buf = [0u8; 5];
///     c.read_exact(&mut buf).await.unwrap();
///     echo.await.unwrap();
///     buf
/// });
/// assert_eq!(run.value(), Some(b"hello"));
/// // A round trip to connect, then one for the echo: 40 ms.
/// assert_eq!(run.elapsed(), Duration::from_millis(40));
/// ```
#[derive(Clone, Default)]
pub struct Net {
    kernel: Rc<RefCell<Kernel>>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net").finish_non_exhaustive()
    }
}

impl Net {
    /// A network whose links are all the default (1 ms, unlimited).
    pub fn new() -> Net {
        Net::default()
    }

    /// The link between hosts `a` and `b` (both directions).
    pub fn link(&self, a: &str, b: &str, cfg: LinkConfig) {
        self.kernel.borrow_mut().set_link(a, b, cfg);
    }

    /// The link between any two hosts without a link of their own.
    pub fn default_link(&self, cfg: LinkConfig) {
        self.kernel.borrow_mut().default_link = cfg;
    }

    /// Listens on `host:port`: `AddrInUse` if something already does.
    ///
    /// # Errors
    ///
    /// `AddrInUse` when the address has a listener.
    pub fn bind(&self, host: &str, port: u16) -> std::io::Result<TcpListener> {
        socket::bind(&self.kernel, host, port)
    }

    /// Opens a connection from `from` to `to:port` (one round trip).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when nobody listens there or a partition
    /// separates the hosts.
    ///
    /// # Panics
    ///
    /// Outside a running simulation.
    pub async fn connect(&self, from: &str, to: &str, port: u16) -> std::io::Result<TcpStream> {
        socket::connect(&self.kernel, from, to, port).await
    }

    /// Separates the hosts of `a` from those of `b`: their connections are
    /// reset, new ones refused, until [`heal`](Self::heal).
    pub fn partition(&self, a: &[&str], b: &[&str]) {
        socket::partition(&self.kernel, a, b, false);
    }

    /// Separates the hosts of `a` from those of `b` by holding their
    /// traffic: bytes written across wait and arrive, in order, after the
    /// heal (as TCP's retransmissions would over a short outage); connects
    /// wait too.
    pub fn partition_holding(&self, a: &[&str], b: &[&str]) {
        socket::partition(&self.kernel, a, b, true);
    }

    /// Ends every partition; held traffic goes on, in order.
    pub fn heal(&self) {
        socket::heal(&self.kernel);
    }

    /// `host` crashes: its connections are reset (on both ends), its
    /// listeners closed (`accept` fails), and connections to or from it are
    /// refused until [`restart`](Self::restart).
    pub fn crash(&self, host: &str) {
        socket::crash(&self.kernel, host);
    }

    /// `host` is up again: it can listen and connect.
    pub fn restart(&self, host: &str) {
        socket::restart(&self.kernel, host);
    }
}
