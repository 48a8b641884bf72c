//! `cargo bench`: the engine's baseline workloads (see `loopsim::workloads`),
//! trace off and on. `loopsim bench` prints the same workloads as a table with
//! steps/s and events/s.

use criterion::{Criterion, criterion_group, criterion_main};
use loopsim::Sim;
use loopsim::workloads::Workload;

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    for w in Workload::BASELINE {
        for trace in [false, true] {
            let sim = Sim::builder().seed(1).trace(trace).build();
            let name = format!("{}/trace-{}", w.name(), if trace { "on" } else { "off" });
            g.bench_function(name, |b| b.iter(|| w.run(&sim)));
        }
    }
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
