//! The simulated network: protocol code written against `futures::io` only
//! runs over simulated sockets, with latency, partitions and reconnects.

use crate::support::*;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use loopsim::io::Latency;
use loopsim::net::{LinkConfig, Net, TcpStream};
use loopsim::trace::{EventKind, NetEvent};
use loopsim::{Sim, print, sleep, spawn};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// A line-based server: for each line `client n` it records the message
/// and answers `ack client n`. Generic over the stream: it only knows
/// `futures::io`.
async fn serve_connection<S>(stream: S, seen: Rc<RefCell<BTreeSet<String>>>)
where
    S: futures::io::AsyncRead + futures::io::AsyncWrite + Unpin,
{
    let (r, mut w) = stream.split();
    let mut lines = BufReader::new(r).lines();
    while let Some(Ok(line)) = futures::StreamExt::next(&mut lines).await {
        seen.borrow_mut().insert(line.clone());
        if w.write_all(format!("ack {line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A client that sends `n` messages, one a second, each only after the
/// previous one's ack; on any error it reconnects (once a second) and
/// sends again from the first message not acked.
async fn client(net: Net, name: &'static str, n: u32) -> (u32, u32) {
    let mut next = 0;
    let mut connects = 0;
    while next < n {
        let Ok(stream) = net.connect(name, "server", 6000).await else {
            sleep(Duration::from_secs(1)).await;
            continue;
        };
        connects += 1;
        print(format!("{name} connected"));
        let (r, mut w) = stream.split();
        let mut reader = BufReader::new(r);
        while next < n {
            let msg = format!("{name} {next}");
            if w.write_all(format!("{msg}\n").as_bytes()).await.is_err() {
                break;
            }
            let mut ack = String::new();
            match reader.read_line(&mut ack).await {
                Ok(k) if k > 0 && ack.trim_end() == format!("ack {msg}") => next += 1,
                _ => break,
            }
            sleep(Duration::from_secs(1)).await;
        }
        if next < n {
            print(format!("{name} lost its connection at message {next}"));
            sleep(Duration::from_secs(1)).await;
        }
    }
    (next, connects)
}

async fn chat(seed_latency: bool) -> (BTreeSet<String>, Vec<(u32, u32)>) {
    let net = Net::new();
    let latency = if seed_latency {
        Latency::Uniform(Duration::from_millis(5), Duration::from_millis(50))
    } else {
        Latency::fixed(Duration::from_millis(10))
    };
    net.default_link(LinkConfig::new(latency).bandwidth(1_000_000));
    let listener = net.bind("server", 6000).unwrap();
    let seen = Rc::new(RefCell::new(BTreeSet::new()));
    let s = seen.clone();
    let server = spawn(async move {
        loop {
            let (stream, _peer) = listener.accept().await.unwrap();
            spawn(serve_connection::<TcpStream>(stream, s.clone()));
        }
    });
    let clients: Vec<_> = ["c1", "c2", "c3"]
        .into_iter()
        .map(|name| spawn(client(net.clone(), name, 10)))
        .collect();
    // c3 is cut off from the server from 2.5 s to 7.5 s.
    sleep(Duration::from_millis(2500)).await;
    net.partition(&["c3"], &["server"]);
    print("partition");
    sleep(Duration::from_secs(5)).await;
    net.heal();
    print("heal");
    let mut results = Vec::new();
    for c in clients {
        results.push(c.await.unwrap());
    }
    server.cancel();
    let seen = seen.borrow().clone();
    (seen, results)
}

#[test]
fn a_line_chat_survives_a_partition_and_accounts_for_every_message() {
    for seed in [0, 1] {
        let sim = Sim::builder().seed(seed).build();
        let run = run_twice(&sim, || chat(true));
        let (seen, results) = run.value().cloned().unwrap();
        let expected: BTreeSet<String> = ["c1", "c2", "c3"]
            .iter()
            .flat_map(|c| (0..10).map(move |i| format!("{c} {i}")))
            .collect();
        assert_eq!(
            seen, expected,
            "seed {seed}: every message reached the server once"
        );
        assert_eq!(results[0], (10, 1), "c1 never lost its connection");
        assert_eq!(results[1], (10, 1), "c2 never lost its connection");
        assert_eq!(results[2].0, 10);
        assert!(results[2].1 >= 2, "c3 reconnected: {:?}", results[2]);
        // c3's connection was reset at 2.5 s, and it got back only after
        // the heal at 7.5 s.
        let lines = run.output_lines();
        let lost = lines.iter().position(|l| l.starts_with("c3 lost")).unwrap();
        let back = lines.iter().rposition(|l| *l == "c3 connected").unwrap();
        assert!(lost < back);
        let reconnect_at = run
            .output
            .iter()
            .rev()
            .find(|l| l.text == "c3 connected")
            .unwrap()
            .at;
        assert!(reconnect_at.as_nanos() >= 7_500_000_000, "{reconnect_at}");
        let resets = run
            .trace
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Net {
                        what: NetEvent::Reset,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(resets, 1, "one connection crossed the partition");
    }
    // Another seed draws other latencies: other times, the same accounting.
    let a = Sim::builder().seed(0).build().run(chat(true));
    let b = Sim::builder().seed(1).build().run(chat(true));
    assert_ne!(a.elapsed(), b.elapsed());
    assert_eq!(a.value(), b.value());
}

#[test]
fn a_large_transfer_takes_its_size_over_the_bandwidth_and_two_share_the_link() {
    let transfer = |parallel: usize| {
        Sim::builder().build().run(async move {
            let net = Net::new();
            net.link(
                "a",
                "b",
                LinkConfig::new(Latency::fixed(Duration::from_millis(50))).bandwidth(1_000_000),
            );
            let listener = net.bind("b", 9).unwrap();
            let sink = spawn(async move {
                let mut total = 0;
                let mut readers = Vec::new();
                for _ in 0..parallel {
                    let (mut s, _) = listener.accept().await.unwrap();
                    readers.push(spawn(async move {
                        let mut buf = Vec::new();
                        s.read_to_end(&mut buf).await.unwrap();
                        (buf.len(), loopsim::now())
                    }));
                }
                let mut first_done = None;
                for r in readers {
                    let (n, at) = r.await.unwrap();
                    total += n;
                    first_done = Some(first_done.map_or(at, |f: loopsim::Instant| f.min(at)));
                }
                (total, first_done.unwrap())
            });
            let mut senders = Vec::new();
            for _ in 0..parallel {
                let net = net.clone();
                senders.push(spawn(async move {
                    let mut s = net.connect("a", "b", 9).await.unwrap();
                    let chunk = vec![7u8; 100_000];
                    for _ in 0..100 {
                        s.write_all(&chunk).await.unwrap();
                    }
                    s.close().await.unwrap();
                }));
            }
            for s in senders {
                s.await.unwrap();
            }
            sink.await.unwrap()
        })
    };
    let one = transfer(1);
    assert_eq!(one.value().map(|v| v.0), Some(10_000_000));
    // 10 MB at 1 MB/s, after a 100 ms handshake, plus 50 ms of latency.
    assert_eq!(one.elapsed(), Duration::from_millis(10_150));
    let two = transfer(2);
    assert_eq!(two.value().map(|v| v.0), Some(20_000_000));
    assert_eq!(two.elapsed(), Duration::from_millis(20_150));
    // They share the link: the first to end ends near the end too (each
    // writer may be only 64 KiB ahead of the wire).
    let first = two.value().unwrap().1.as_nanos();
    assert!(
        first >= 19_900_000_000,
        "the first transfer ended at {first} ns"
    );
}

#[test]
fn connecting_to_nobody_is_refused_after_a_round_trip_and_a_second_bind_is_in_use() {
    let run = run_twice(&asyncio(), || async {
        let net = Net::new();
        let _l = net.bind("server", 80).unwrap();
        let again = net.bind("server", 80).unwrap_err().kind();
        let refused = net
            .connect("client", "server", 81)
            .await
            .unwrap_err()
            .kind();
        (again, refused)
    });
    assert_eq!(
        run.value(),
        Some(&(
            std::io::ErrorKind::AddrInUse,
            std::io::ErrorKind::ConnectionRefused
        ))
    );
    assert_eq!(
        run.elapsed(),
        ms(2),
        "one round trip on the default 1 ms link"
    );
}

/// A holding partition delays traffic to the heal, in order, and resets
/// nothing; a crash resets the host's connections and refuses new ones
/// until the restart.
#[test]
fn a_holding_partition_delays_and_a_crash_resets_until_the_restart() {
    let run = run_twice(&asyncio(), || async {
        let net = Net::new();
        let listener = net.bind("server", 1).unwrap();
        let server = spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        got.extend_from_slice(&buf[..n]);
                        print(format!("server got {}", String::from_utf8_lossy(&buf[..n])));
                    }
                    Err(e) => {
                        print(format!("server: {:?}", e.kind()));
                        break;
                    }
                }
            }
            got
        });
        let mut c = net.connect("client", "server", 1).await.unwrap();
        net.partition_holding(&["client"], &["server"]);
        c.write_all(b"a").await.unwrap();
        c.write_all(b"b").await.unwrap();
        sleep(secs(3)).await;
        net.heal();
        sleep(secs(1)).await;
        net.crash("server");
        let after = c.write_all(b"c").await.map_err(|e| e.kind());
        let got = server.await.unwrap();
        let refused = net
            .connect("client", "server", 1)
            .await
            .map(|_| ())
            .map_err(|e| e.kind());
        net.restart("server");
        let rebound = net.bind("server", 1).is_ok();
        (got, after, refused, rebound)
    });
    let (got, after, refused, rebound) = run.value().cloned().unwrap();
    assert_eq!(got, b"ab", "held bytes arrive after the heal, in order");
    assert_eq!(after, Err(std::io::ErrorKind::ConnectionReset));
    assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
    assert!(rebound);
    let lines = timed(&run);
    assert_eq!(
        lines[0], "3.003s server got ab",
        "the heal at 3.002s, then 1 ms"
    );
    assert!(
        lines.iter().any(|l| l.ends_with("server: ConnectionReset")),
        "{lines:?}"
    );
}

/// Fails with the stuck tasks when the run deadlocked.
fn assert_no_deadlock<T>(run: &loopsim::Run<T>) {
    if let loopsim::Outcome::Deadlock { .. } = &run.outcome {
        panic!(
            "the run deadlocked: {}",
            run.outcome.deadlock_report().expect("a deadlock")
        );
    }
}

/// Three tasks wait in `accept` on one listener, then three connections
/// arrive: each acceptor gets one, in the order they started waiting (as
/// asyncio hands each connection to one waiter). With one waker slot, only
/// the last acceptor to poll was woken and the other two hung.
#[test]
fn concurrent_acceptors_each_get_a_connection_in_the_order_they_waited() {
    let run = run_twice(&asyncio(), || async {
        let net = Net::new();
        let listener = Rc::new(net.bind("server", 80).unwrap());
        let acceptors: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let l = listener.clone();
                spawn(async move {
                    let (s, peer) = l.accept().await.unwrap();
                    print(format!("{name} accepted #{} from {peer}", s.id()));
                    (name, s.id(), peer)
                })
            })
            .collect();
        // Every acceptor is waiting before the first connection arrives.
        sleep(ms(5)).await;
        let clients: Vec<_> = ["c1", "c2", "c3"]
            .into_iter()
            .map(|from| {
                let net = net.clone();
                spawn(async move { net.connect(from, "server", 80).await.unwrap().id() })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let mut got = Vec::new();
        for a in acceptors {
            got.push(a.await.unwrap());
        }
        got
    });
    assert_no_deadlock(&run);
    let got = run.value().cloned().unwrap();
    let expected = vec![
        ("a", 1, "c1".to_string()),
        ("b", 2, "c2".to_string()),
        ("c", 3, "c3".to_string()),
    ];
    assert_eq!(got, expected, "first to wait, first served");
}

/// Polls `fut` once (registering its waker), whatever it answers.
async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> bool {
    futures::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx).is_ready())
    })
    .await
}

/// An accept given up after the connection came for it (its future
/// dropped, as a `select` drops the branch that lost) does not swallow the
/// connection: the next waiting acceptor gets it, or, with nobody waiting,
/// the next `accept`. With one waker slot, the wake-up went to the task
/// that gave up and the other acceptor hung.
#[test]
fn a_dropped_accept_leaves_its_connection_to_the_next_acceptor() {
    let run = run_twice(&asyncio(), || async {
        let net = Net::new();
        let listener = Rc::new(net.bind("server", 80).unwrap());
        let l = listener.clone();
        let b_waits = Rc::new(loopsim::sync::Event::new());
        let b_waiting = b_waits.clone();
        // `a` waits first, then stops polling its accept while it sleeps
        // (polled once more after `b` began waiting: the last to poll).
        let a = spawn(async move {
            let mut acc = Box::pin(l.accept());
            assert!(!poll_once(&mut acc).await);
            b_waiting.wait().await;
            assert!(!poll_once(&mut acc).await);
            sleep(ms(10)).await;
            drop(acc);
            print("a gave up");
        });
        let l = listener.clone();
        let b = spawn(async move {
            let accept = l.accept();
            b_waits.set();
            let (s, _) = accept.await.unwrap();
            print(format!("b accepted #{}", s.id()));
            s.id()
        });
        sleep(ms(1)).await;
        let _c1 = net.connect("c1", "server", 80).await.unwrap();
        a.await.unwrap();
        let got_b = b.await.unwrap();
        // Nobody waits now: a given-up accept leaves the connection in the
        // backlog for the next `accept`.
        let mut acc = Box::pin(listener.accept());
        assert!(!poll_once(&mut acc).await);
        let _c2 = net.connect("c2", "server", 80).await.unwrap();
        drop(acc);
        let (s, peer) = listener.accept().await.unwrap();
        (got_b, s.id(), peer)
    });
    assert_no_deadlock(&run);
    assert_eq!(run.value().cloned(), Some((1, 2, "c2".to_string())));
    let lines = timed(&run);
    assert_eq!(
        lines,
        ["10ms a gave up", "10ms b accepted #1"],
        "b is handed the connection when a gives up"
    );
}

/// A crash closes the listener for every waiting acceptor, not only the
/// last one to poll.
#[test]
fn a_crash_fails_every_waiting_accept() {
    let run = run_twice(&asyncio(), || async {
        let net = Net::new();
        let listener = Rc::new(net.bind("server", 80).unwrap());
        let acceptors: Vec<_> = (0..2)
            .map(|_| {
                let l = listener.clone();
                spawn(async move { l.accept().await.map(|_| ()).map_err(|e| e.kind()) })
            })
            .collect();
        sleep(ms(1)).await;
        net.crash("server");
        let mut got = Vec::new();
        for a in acceptors {
            got.push(a.await.unwrap());
        }
        got
    });
    assert_no_deadlock(&run);
    assert_eq!(
        run.value().cloned(),
        Some(vec![Err(std::io::ErrorKind::ConnectionAborted); 2])
    );
}
