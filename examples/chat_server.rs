//! A chat server on the simulated network: every line a client sends is
//! broadcast to the other clients. The protocol code knows only
//! `futures::io`; the network, its latencies and its clock are loopsim's.
//!
//! ```sh
//! cargo run --release --example chat_server -- 1000 [timeline.svg]
//! ```
//!
//! Prints the elapsed virtual time, the messages the network carried and
//! their latency percentiles (write to arrival), the same for any seed.

use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, WriteHalf};
use loopsim::checks::messages;
use loopsim::io::Latency;
use loopsim::net::{LinkConfig, Net, TcpStream};
use loopsim::render::{Renderer, Timeline};
use loopsim::{Sim, sleep, spawn};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

type Writers = Rc<RefCell<Vec<(u32, WriteHalf<TcpStream>)>>>;

/// One connection on the server: each line goes to every other client.
async fn serve(stream: TcpStream, writers: Writers) {
    let id = stream.id();
    let (r, w) = stream.split();
    writers.borrow_mut().push((id, w));
    let mut lines = BufReader::new(r).lines();
    while let Some(Ok(line)) = futures::StreamExt::next(&mut lines).await {
        // Take the other writers out while writing (no borrow across an await).
        let others: Vec<(u32, WriteHalf<TcpStream>)> = {
            let mut all = writers.borrow_mut();
            let (others, mine): (Vec<_>, Vec<_>) = all.drain(..).partition(|(c, _)| *c != id);
            all.extend(mine);
            others
        };
        let mut back = Vec::new();
        for (c, mut w) in others {
            if w.write_all(format!("{line}\n").as_bytes()).await.is_ok() {
                back.push((c, w));
            }
        }
        writers.borrow_mut().extend(back);
    }
}

/// A client: says hello, reads what the others say for a while, leaves.
async fn client(net: Net, i: u32, clients: u32) -> usize {
    let stream = net
        .connect(&format!("client-{i}"), "server", 6667)
        .await
        .expect("the server listens");
    let (r, mut w) = stream.split();
    sleep(Duration::from_millis(u64::from(i % 100))).await;
    w.write_all(format!("hello from {i}\n").as_bytes())
        .await
        .expect("no faults");
    let mut r = BufReader::new(r);
    let heard = Rc::new(std::cell::Cell::new(0usize));
    let count = heard.clone();
    // Each client hears the others' hellos (those said after it joined),
    // for two seconds.
    let listen = async move {
        let mut line = String::new();
        while count.get() + 1 < clients as usize {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                break;
            }
            count.set(count.get() + 1);
        }
    };
    let _ = loopsim::wait_for(listen, Duration::from_secs(2)).await;
    heard.get()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let clients: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let svg = args.next();
    for seed in [1, 2] {
        let run = Sim::builder().seed(seed).build().run(async move {
            let net = Net::new();
            net.default_link(LinkConfig::new(Latency::Uniform(
                Duration::from_millis(5),
                Duration::from_millis(50),
            )));
            let listener = net.bind("server", 6667).expect("a fresh network");
            let writers: Writers = Rc::new(RefCell::new(Vec::new()));
            let w = writers.clone();
            let server = spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    spawn(serve(stream, w.clone()));
                }
            });
            let hs: Vec<_> = (0..clients)
                .map(|i| spawn(client(net.clone(), i, clients)))
                .collect();
            let mut heard = 0;
            for h in hs {
                heard += h.await.expect("a client ends");
            }
            server.cancel();
            heard
        });
        let msgs = messages(&run.trace);
        let mut lat: Vec<Duration> = msgs.iter().filter_map(|m| m.latency()).collect();
        lat.sort();
        let pct =
            |p: f64| lat[((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
        println!(
            "seed {seed}: {clients} clients, elapsed {}, {} messages ({} delivered), heard {} hellos, latency p50 {:?} p99 {:?}",
            run.main_done_at.map(|t| t.to_string()).unwrap_or_default(),
            msgs.len(),
            lat.len(),
            run.value().copied().unwrap_or(0),
            pct(50.0),
            pct(99.0),
        );
        if let (Some(path), 1) = (&svg, seed) {
            std::fs::write(path, Timeline::default().render(&run.trace))
                .expect("the SVG is written");
            println!("timeline written to {path}");
        }
    }
}
