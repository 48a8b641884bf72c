//! The faces of the socket table: [`TcpListener`] and [`TcpStream`], each
//! poll one call into `socket.rs`.

use super::socket::{self, Acceptor, Conn, Kernel, Listener};
use futures::io::{AsyncRead, AsyncWrite};
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A listening socket (`asyncio.start_server`'s): [`accept`](Self::accept)
/// takes the next connection from its backlog. Tasks that wait in
/// `accept` at once get the connections in the order they began to wait.
/// Dropping it stops listening.
pub struct TcpListener {
    kernel: Rc<RefCell<Kernel>>,
    listener: Rc<Listener>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TcpListener({}:{})",
            self.listener.host, self.listener.port
        )
    }
}

impl TcpListener {
    pub(super) fn new(kernel: Rc<RefCell<Kernel>>, listener: Rc<Listener>) -> TcpListener {
        TcpListener { kernel, listener }
    }

    /// Waits for the next connection: the stream and the peer's host.
    ///
    /// # Errors
    ///
    /// `ConnectionAborted` once its host crashed.
    ///
    /// # Panics
    ///
    /// Outside a running simulation.
    pub async fn accept(&self) -> io::Result<(TcpStream, String)> {
        let conn = Accept {
            listener: &self.listener,
            waiting: None,
        }
        .await?;
        let peer = conn.hosts[0].clone();
        Ok((TcpStream::new(self.kernel.clone(), conn, 1), peer))
    }
}

/// One `accept`'s wait for a connection. Several tasks may wait on one
/// listener: they queue, and each connection is handed to the one that
/// began waiting first. Dropped before it took the connection handed to
/// it, it passes that connection on (see `Listener::leave`).
struct Accept<'a> {
    listener: &'a Listener,
    /// Its place among the listener's acceptors, once it waits.
    waiting: Option<Rc<Acceptor>>,
}

impl Future for Accept<'_> {
    type Output = io::Result<Rc<Conn>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let l = this.listener;
        if l.closed.get() {
            this.leave();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("{} crashed", l.host),
            )));
        }
        let conn = match &this.waiting {
            Some(a) => a.take(),
            None => l.pop_backlog(),
        };
        if let Some(c) = conn {
            this.leave();
            return Poll::Ready(Ok(c));
        }
        match &this.waiting {
            Some(a) => a.rewait(cx.waker()),
            None => this.waiting = Some(l.enqueue(cx.waker().clone())),
        }
        socket::wait_on(&format!("accept {}:{}", l.host, l.port));
        Poll::Pending
    }
}

impl Accept<'_> {
    /// Stops waiting: out of the listener's acceptors.
    fn leave(&mut self) {
        if let Some(a) = self.waiting.take() {
            self.listener.leave(&a);
        }
    }
}

impl Drop for Accept<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        socket::unbind(&self.kernel, &self.listener);
    }
}

/// One end of a connection. Reads wait for bytes from the link (EOF once
/// the peer closed and everything was read; `ConnectionReset` after a
/// partition); writes are sent at once and arrive after the link's
/// bandwidth and latency, unless more than 64 KiB this end wrote are not
/// on the wire yet (a slow link): the write then waits, as asyncio's
/// `drain()` does. `close` (or dropping the stream) sends a FIN.
pub struct TcpStream {
    kernel: Rc<RefCell<Kernel>>,
    conn: Rc<Conn>,
    side: usize,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TcpStream(#{} {} -> {})",
            self.conn.id,
            self.conn.hosts[self.side],
            self.conn.hosts[1 - self.side]
        )
    }
}

impl TcpStream {
    pub(super) fn new(kernel: Rc<RefCell<Kernel>>, conn: Rc<Conn>, side: usize) -> TcpStream {
        TcpStream { kernel, conn, side }
    }

    /// This end's host.
    pub fn local_host(&self) -> &str {
        &self.conn.hosts[self.side]
    }

    /// The other end's host.
    pub fn peer_host(&self) -> &str {
        &self.conn.hosts[1 - self.side]
    }

    /// The connection's number in the trace.
    pub fn id(&self) -> u32 {
        self.conn.id
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut end = this.conn.ends[this.side].borrow_mut();
        if !end.inbox.is_empty() {
            let n = buf.len().min(end.inbox.len());
            for (dst, src) in buf.iter_mut().zip(end.inbox.drain(..n)) {
                *dst = src;
            }
            return Poll::Ready(Ok(n));
        }
        if this.conn.reset.get() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("connection {} was reset", this.conn.id),
            )));
        }
        if end.eof || buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        end.read_waker = Some(cx.waker().clone());
        drop(end);
        socket::wait_on(&format!(
            "recv #{} from {}",
            this.conn.id,
            this.conn.hosts[1 - this.side]
        ));
        Poll::Pending
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Flow control: more than the high-water mark not yet on the wire
        // (a slow link) and the writer waits, as in `drain()`.
        if let Some(at) = socket::write_blocked_until(&this.conn, this.side) {
            let what = format!("send #{} (buffer full)", this.conn.id);
            let label = format!("conn {} writable", this.conn.id);
            socket::wake_at(at, label, cx.waker().clone());
            socket::wait_on(&what);
            return Poll::Pending;
        }
        if this.conn.ends[this.side].borrow().write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after close",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        Poll::Ready(
            socket::send(&this.kernel, &this.conn, this.side, buf.to_vec(), false)
                .map(|()| buf.len()),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        Poll::Ready(this.fin())
    }
}

impl TcpStream {
    /// Sends the FIN once.
    fn fin(&mut self) -> io::Result<()> {
        let mut end = self.conn.ends[self.side].borrow_mut();
        if end.write_closed || self.conn.reset.get() {
            return Ok(());
        }
        end.write_closed = true;
        drop(end);
        if crate::engine::try_with_core(|_| ()).is_none() {
            return Ok(());
        }
        socket::send(&self.kernel, &self.conn, self.side, Vec::new(), true)
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let _ = self.fin();
    }
}
