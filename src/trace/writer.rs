//! [`WriterThread`]: a streamed trace written by a thread of its own.

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Bytes handed over at a time.
const BLOCK: usize = 64 * 1024;

/// Blocks waiting for the thread at most; a run that writes faster than
/// the disk takes waits for it, so memory stays bounded: with the block
/// being filled, the one being written and two kept for reuse, eight
/// buffers of at most two blocks each (the recorder hands over a little
/// more than a block at a time), 1 MiB.
const DEPTH: usize = 4;

/// A new buffer's capacity: what the recorder writes at once fits.
const CAPACITY: usize = 2 * BLOCK;

enum Msg {
    Data(Vec<u8>),
    Flush(SyncSender<io::Result<()>>),
}

/// A writer that hands what is written to it to a thread of its own, which
/// writes it to `inner`: the kernel's work of writing a streamed trace to a
/// file (about half of what streaming costs a run) is done on another core
/// while the run goes on. The bytes and their order are the same.
///
/// Memory is bounded: at most a few 64 KiB blocks wait for the thread, and
/// a run that outpaces the disk waits for it. An error writing to `inner`
/// is returned by the next [`flush`](Write::flush) and every one after (a
/// flush waits until every byte given so far is written and `inner` is
/// flushed; nothing is written after an error), so that
/// [`Sim::run_streaming_as`](crate::Sim::run_streaming_as), which flushes
/// at the end, reports it. Dropping the writer writes what is left and waits
/// for the thread.
///
/// # Examples
///
/// ```
/// use loopsim::{Sim, sleep, trace::{Trace, TraceFormat, WriterThread}};
/// use std::time::Duration;
/// let program = || async { sleep(Duration::from_secs(1)).await };
/// let sim = Sim::builder().build();
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("run.lstrace");
/// let file = std::fs::File::create(&path).unwrap();
/// let (run, written) = sim.run_streaming_as(program(), WriterThread::new(file), TraceFormat::Binary);
/// assert!(run.is_completed());
/// // The same trace as the run kept in memory.
/// let kept = sim.run(program()).trace;
/// assert_eq!(written.unwrap(), kept.events.len() as u64);
/// assert_eq!(Trace::from_binary(&std::fs::read(&path).unwrap()).unwrap(), kept);
/// ```
pub struct WriterThread {
    to: Option<SyncSender<Msg>>,
    /// Emptied blocks coming back from the thread, for reuse.
    back: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    thread: Option<JoinHandle<()>>,
}

impl WriterThread {
    /// Starts the thread that writes to `inner`.
    ///
    /// # Panics
    ///
    /// If the operating system cannot start a thread.
    pub fn new<W: Write + Send + 'static>(inner: W) -> WriterThread {
        let (to, from) = sync_channel::<Msg>(DEPTH);
        let (give_back, back) = sync_channel::<Vec<u8>>(2);
        let thread = std::thread::Builder::new()
            .name("loopsim-trace-writer".into())
            .spawn(move || write_all_of(inner, &from, &give_back))
            .expect("a thread for the trace writer");
        WriterThread {
            to: Some(to),
            back,
            buf: Vec::with_capacity(CAPACITY),
            thread: Some(thread),
        }
    }

    /// Sends the block being filled to the thread.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let fresh = self
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CAPACITY));
        let full = std::mem::replace(&mut self.buf, fresh);
        self.send(Msg::Data(full))
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        match &self.to {
            Some(to) if to.send(msg).is_ok() => Ok(()),
            _ => Err(io::Error::other("the trace writer's thread has ended")),
        }
    }
}

/// The thread: writes each block, keeps the first error (and writes nothing
/// after it), and answers every flush with that error or `inner`'s flush.
fn write_all_of<W: Write>(mut inner: W, from: &Receiver<Msg>, give_back: &SyncSender<Vec<u8>>) {
    let mut error: Option<io::Error> = None;
    for msg in from {
        match msg {
            Msg::Data(mut block) => {
                if error.is_none()
                    && let Err(e) = inner.write_all(&block)
                {
                    error = Some(e);
                }
                block.clear();
                let _ = give_back.try_send(block);
            }
            Msg::Flush(ack) => {
                let result = match &error {
                    Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    None => inner.flush(),
                };
                let _ = ack.send(result);
            }
        }
    }
    if error.is_none() {
        let _ = inner.flush();
    }
}

impl Write for WriterThread {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BLOCK {
            self.hand_over()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        let (ack, answer) = sync_channel(1);
        self.send(Msg::Flush(ack))?;
        answer
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the trace writer's thread has ended")))
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        let _ = self.hand_over();
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for WriterThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterThread")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `Write` into shared bytes, failing after `fail_after` bytes.
    #[derive(Clone)]
    struct Shared {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail_after: usize,
    }

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut v = self.bytes.lock().unwrap();
            if v.len() + b.len() > self.fail_after {
                return Err(io::Error::other("disk full"));
            }
            v.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_byte_arrives_in_order() {
        let s = Shared {
            bytes: Arc::default(),
            fail_after: usize::MAX,
        };
        let mut w = WriterThread::new(s.clone());
        let mut expect = Vec::new();
        for i in 0..50_000u32 {
            let piece = i.to_le_bytes().repeat(1 + (i % 7) as usize);
            w.write_all(&piece).unwrap();
            expect.extend_from_slice(&piece);
        }
        w.flush().unwrap();
        assert_eq!(*s.bytes.lock().unwrap(), expect);
        // And what is written after a flush, on drop.
        w.write_all(b"tail").unwrap();
        drop(w);
        expect.extend_from_slice(b"tail");
        assert_eq!(*s.bytes.lock().unwrap(), expect);
    }

    #[test]
    fn an_error_is_returned_by_the_next_flush() {
        let s = Shared {
            bytes: Arc::default(),
            fail_after: 100_000,
        };
        let mut w = WriterThread::new(s.clone());
        for _ in 0..300 {
            w.write_all(&[7u8; 1000]).unwrap();
        }
        let e = w.flush().unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        let kept = s.bytes.lock().unwrap().len();
        assert!(kept <= 100_000);
        // Nothing after the error, and every later flush says so.
        for _ in 0..300 {
            w.write_all(&[8u8; 1000]).unwrap();
        }
        assert_eq!(w.flush().unwrap_err().to_string(), "disk full");
        assert_eq!(s.bytes.lock().unwrap().len(), kept);
    }
}
