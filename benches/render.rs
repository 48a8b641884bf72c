//! `cargo bench --bench render`: the SVG timeline of a 10 000-task run
//! (target: under 1 s and under 5 MB; `loopsim bench` prints the size).

use criterion::{Criterion, criterion_group, criterion_main};
use loopsim::Sim;
use loopsim::render::{Renderer, SequenceText, Timeline};
use loopsim::workloads::Workload;

fn render(c: &mut Criterion) {
    let run = Workload::Sleepers { tasks: 10_000 }.run(&Sim::builder().seed(1).build());
    let svg = Timeline::default().render(&run.trace);
    assert!(svg.len() < 5_000_000, "10k-task SVG is {} bytes", svg.len());
    let mut g = c.benchmark_group("render");
    g.sample_size(10);
    g.bench_function("timeline_svg/10k_tasks", |b| {
        b.iter(|| Timeline::default().render(&run.trace))
    });
    g.bench_function("sequence_text/10k_tasks", |b| {
        b.iter(|| SequenceText::default().render(&run.trace))
    });
    g.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
