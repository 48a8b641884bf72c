//! Simulated I/O on the timeline: a small web backend whose handlers query
//! a database service of capacity 2 (so some wait in its queue), hash
//! passwords on the default thread pool (CPU-bound: they take turns at the
//! GIL), render reports on a process pool (start-up cost, then parallel),
//! and call a slow API under a timeout (one request is abandoned in
//! service, one withdrawn from the queue) behind a rate limit (one is
//! turned away). Writes the SVG timeline and the Chrome trace.
//!
//! ```sh
//! cargo run --example io_timeline [OUT_DIR]
//! ```

use loopsim::io::{
    Latency, OnExcess, ProcessPool, RateLimit, Service, ServiceConfig, Work, to_thread,
};
use loopsim::render::{ChromeTrace, Renderer, Timeline};
use loopsim::{Sim, gather_return_exceptions, print, spawn_named, wait_for};
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn main() -> std::io::Result<()> {
    let sim = Sim::builder().seed(7).label("a web backend's I/O").build();
    let run = sim.run(async {
        let db = Service::named(
            "db",
            ServiceConfig::new(Latency::Uniform(ms(60), ms(140))).capacity(2),
        );
        let api = Service::named(
            "slow-api",
            ServiceConfig::new(Latency::fixed(ms(300)))
                .capacity(1)
                .rate_limit(RateLimit {
                    per_second: 5.0,
                    burst: 3,
                    on_excess: OnExcess::Reject,
                }),
        );
        let reports = ProcessPool::named("reports", 2, ms(120), ms(10));
        let handlers: Vec<_> = (1..=4)
            .map(|n| {
                let (db, reports) = (db.clone(), reports.clone());
                spawn_named(format!("handler-{n}"), async move {
                    db.call().await?;
                    to_thread(Work::Cpu(ms(30))).await?;
                    if n % 2 == 0 {
                        reports.run(Work::Cpu(ms(150))).await?;
                    }
                    db.call().await?;
                    Ok::<_, loopsim::Error>(())
                })
            })
            .collect();
        let calls = gather_return_exceptions((0..4).map(move |_| {
            let api = api.clone();
            async move { wait_for(async move { api.call().await }, ms(450)).await? }
        }));
        let outcomes: Vec<String> = calls
            .await
            .iter()
            .map(|r| match r {
                Ok(()) => "ok".to_string(),
                Err(e) => e.kind().to_string(),
            })
            .collect();
        print(format!("api: {}", outcomes.join(", ")));
        for h in handlers {
            let _ = h.await;
        }
        print("all handlers done");
    });
    for line in &run.output {
        println!("{:>8}  {}", line.at.to_string(), line.text);
    }
    let out = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let svg = out.join("io_timeline.svg");
    let chrome = out.join("io_timeline.chrome.json");
    std::fs::write(&svg, Timeline::default().render(&run.trace))?;
    std::fs::write(&chrome, ChromeTrace.render(&run.trace))?;
    std::fs::write(out.join("io_timeline.trace.jsonl"), run.trace.to_jsonl())?;
    println!("wrote {} and {}", svg.display(), chrome.display());
    Ok(())
}
