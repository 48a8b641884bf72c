//! Same seed ⇒ same bytes; the determinism helper names the first difference.

use crate::support::*;
use loopsim::{LoopModel, Sim, print, sleep, spawn, with_rng};
use rand::RngExt;

async fn jittery() {
    let hs: Vec<_> = (0..20)
        .map(|i| {
            spawn(async move {
                let d = with_rng(|r| r.random_range(1..=1000u64));
                sleep(ms(d)).await;
                print(format!("{i} after {d}ms"));
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
}

#[test]
fn same_seed_gives_identical_trace_bytes_under_every_model() {
    for model in LoopModel::ALL {
        let sim = Sim::builder().seed(42).model(model).build();
        let a = sim.run(jittery()).trace.to_jsonl();
        let b = sim.run(jittery()).trace.to_jsonl();
        assert_eq!(a, b, "model {model}");
        assert!(a.len() > 1000);
    }
}

#[test]
fn different_seeds_give_different_runs_and_the_difference_is_named() {
    let a = Sim::builder().seed(1).build().run(jittery());
    let b = Sim::builder().seed(2).build().run(jittery());
    let (line, first, second) = a.trace.first_difference(&b.trace).expect("seeds differ");
    assert_eq!(line, 0, "the header names the seed");
    assert!(first.contains("\"seed\":1") && second.contains("\"seed\":2"));
    assert_ne!(a.output_lines(), b.output_lines());
}

#[test]
fn the_random_model_explores_different_interleavings_per_seed() {
    let order = |seed| {
        let run = Sim::builder()
            .seed(seed)
            .model(LoopModel::Random)
            .build()
            .run(async {
                let hs: Vec<_> = (0..6).map(|i| spawn(async move { print(i) })).collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
        run.output_lines().join(",")
    };
    let orders: std::collections::BTreeSet<String> = (0..20).map(order).collect();
    assert!(orders.len() > 5, "20 seeds gave only {orders:?}");
    assert_eq!(order(7), order(7));
}

#[test]
fn trace_header_names_schema_seed_and_model() {
    let run = Sim::builder().seed(9).label("demo").build().run(async {});
    let bytes = run.trace.to_jsonl();
    let header = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        header,
        r#"{"schema":"loopsim-trace/1","label":"demo","seed":9,"model":"asyncio","python":"3.12"}"#
    );
}

#[test]
fn trace_lines_are_valid_json_with_sequence_numbers() {
    let run = Sim::builder().build().run(jittery());
    let text = String::from_utf8(run.trace.to_jsonl()).unwrap();
    for (i, line) in text.lines().skip(1).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], i as u64);
        assert!(v["event"].is_string());
    }
}

/// Every scenario of the gallery and of `tests/scenarios/` (services with
/// seeded latencies and errors, pools, the GIL) gives the same trace bytes
/// twice from one seed, on two seeds each.
#[test]
fn every_scenario_gives_the_same_trace_bytes_twice() {
    use loopsim::scenario::run_variant;
    let mut n = 0;
    for s in crate::scenarios::all_scenarios() {
        for v in &s.variants {
            for seed in [0, 7] {
                let a = run_variant(&s, &v.name, Some(seed), None, true)
                    .run
                    .trace
                    .to_jsonl();
                let b = run_variant(&s, &v.name, Some(seed), None, true)
                    .run
                    .trace
                    .to_jsonl();
                assert!(
                    a == b,
                    "{} [{}] seed {seed}: two runs differ",
                    s.name,
                    v.name
                );
                n += 1;
            }
        }
    }
    assert!(n > 200, "only {n} runs");
}
