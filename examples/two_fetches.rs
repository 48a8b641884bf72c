//! The tutorial's first example from Rust: two fetches of 3 s and 2 s, in
//! sequence and with `gather`; prints the output with virtual times, the
//! event loop's sequence diagram, and writes the trace and an SVG timeline.
//!
//! ```sh
//! cargo run --example two_fetches
//! ```

use loopsim::render::{Panel, Renderer, SequenceText, Timeline};
use loopsim::{Error, Sim, gather, print, sleep};
use std::time::Duration;

async fn fetch(name: &'static str, secs: u64) -> Result<&'static str, Error> {
    print(format!("{name} start"));
    sleep(Duration::from_secs(secs)).await;
    print(format!("{name} done"));
    Ok(name)
}

fn main() -> std::io::Result<()> {
    let sim = Sim::builder().seed(1).label("two fetches").build();

    let sequential = sim.run(async {
        let a = fetch("A", 3).await?;
        let b = fetch("B", 2).await?;
        Ok::<_, Error>(vec![a, b])
    });
    let concurrent = sim.run(async { gather(vec![fetch("A", 3), fetch("B", 2)]).await });

    for (name, run) in [
        ("sequential", &sequential.output),
        ("gather", &concurrent.output),
    ] {
        println!("{name}:");
        for line in run {
            println!("  {:>4}  {}", line.at.to_string(), line.text);
        }
    }
    println!(
        "sequential took {:?}, gather took {:?}\n",
        sequential.elapsed(),
        concurrent.elapsed()
    );

    print!(
        "{}",
        String::from_utf8_lossy(&SequenceText::default().render(&concurrent.trace))
    );

    let out = std::env::temp_dir();
    std::fs::write(
        out.join("two_fetches.trace.jsonl"),
        concurrent.trace.to_jsonl(),
    )?;
    let panels = [
        Panel {
            title: "sequential".into(),
            trace: &sequential.trace,
        },
        Panel {
            title: "gather".into(),
            trace: &concurrent.trace,
        },
    ];
    std::fs::write(
        out.join("two_fetches.svg"),
        Timeline::default().render_panels("two fetches", &panels),
    )?;
    println!(
        "\nwrote {} and {}",
        out.join("two_fetches.trace.jsonl").display(),
        out.join("two_fetches.svg").display()
    );
    Ok(())
}
