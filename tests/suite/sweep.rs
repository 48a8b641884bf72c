//! `loopsim sweep` and `loopsim explore`: summaries that do not depend on
//! how the seeds were run, shards that merge back, replay commands that
//! replay, and bad arguments refused with exit 2.

use std::path::Path;
use std::process::Output;

fn loopsim(args: &[&str]) -> Output {
    crate::support::loopsim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const FILE: &str = "sim-scenarios/hundred_urls.toml";

#[test]
fn the_summary_is_the_same_whatever_the_jobs_and_shards() {
    let one = loopsim(&["sweep", FILE, "--seeds", "0..300", "--jobs", "1"]);
    assert_eq!(one.status.code(), Some(0), "{}", stdout(&one));
    let two = loopsim(&["sweep", FILE, "--seeds", "0..300", "--jobs", "2"]);
    assert_eq!(stdout(&one), stdout(&two));
    let dir = tempfile::tempdir().unwrap();
    let mut parts = Vec::new();
    for i in 0..3 {
        let o = loopsim(&[
            "sweep",
            FILE,
            "--seeds",
            "0..300",
            "--shard",
            &format!("{i}/3"),
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0));
        let p = dir.path().join(format!("shard{i}.json"));
        std::fs::write(&p, &o.stdout).unwrap();
        parts.push(p.to_str().unwrap().to_string());
    }
    // Merged in any order.
    let merged = loopsim(&["sweep", "--merge", &parts[2], &parts[0], &parts[1]]);
    assert_eq!(stdout(&one), stdout(&merged));
    let s = stdout(&one);
    assert!(s.contains("300 seeds (0..300)"), "{s}");
    assert!(
        s.contains("ok   100.00 %  [sync] elapsed between 10s and 100s"),
        "{s}"
    );
}

#[test]
fn the_percentiles_are_those_of_the_runs() {
    let o = loopsim(&["sweep", FILE, "--seeds", "0..40", "--json"]);
    let sweep: loopsim::explore::Sweep = serde_json::from_slice(&o.stdout).unwrap();
    let summary = sweep.summary();
    // Recompute the async variant's median from independent runs.
    let s = loopsim::scenario::load(Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE).as_path())
        .unwrap();
    let mut elapsed: Vec<u64> = (0..40)
        .map(|seed| {
            loopsim::scenario::run_variant(&s, "async", Some(seed), None, false)
                .run
                .main_done_at
                .unwrap()
                .as_nanos()
        })
        .collect();
    elapsed.sort_unstable();
    let v = summary
        .variants
        .iter()
        .find(|v| v.variant == "async")
        .unwrap();
    assert_eq!(v.elapsed, elapsed);
    assert_eq!(v.percentile(50.0), Some(elapsed[19]));
    assert_eq!(v.percentile(100.0), Some(elapsed[39]));
    assert_eq!(v.percentile(90.0), Some(elapsed[35]));
}

#[test]
fn explore_finds_the_race_and_its_replay_reproduces_it() {
    let o = loopsim(&[
        "explore",
        "sim-scenarios/find_a_race.toml",
        "--seeds",
        "0..200",
    ]);
    let s = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{s}");
    let replay = s
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: loopsim "))
        .expect("a replay command");
    let args: Vec<&str> = replay.split(' ').collect();
    let again = loopsim(&args);
    let again_out = stdout(&again);
    assert_eq!(again.status.code(), Some(1), "{again_out}");
    assert!(again_out.contains("init by late"), "{again_out}");
    // Under its own (asyncio) schedule the claim holds.
    let plain = loopsim(&["run", "sim-scenarios/find_a_race.toml"]);
    assert_eq!(plain.status.code(), Some(0), "{}", stdout(&plain));
}

#[test]
fn bad_sweep_arguments_exit_2() {
    for args in [
        &["sweep", FILE, "--seeds", "5..5"][..],
        &["sweep", FILE, "--seeds", "x..9"],
        &["sweep", FILE, "--shard", "3/3"],
        &["sweep", FILE, "--shard", "1"],
        &["explore", FILE, "--models", "asyncio"],
        &["sweep", "--merge", "Cargo.toml"],
        // More seeds than one process keeps: refused with the way to shard.
        &["sweep", FILE, "--seeds", "0..18446744073709551615"],
        &["explore", FILE, "--seeds", "0..99999999999"],
    ] {
        let o = loopsim(args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}{}",
            stdout(&o),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn shards_of_different_files_do_not_merge() {
    let dir = tempfile::tempdir().unwrap();
    let a = loopsim(&["sweep", FILE, "--seeds", "0..3", "--json"]);
    let b = loopsim(&[
        "sweep",
        "sim-scenarios/find_a_race.toml",
        "--seeds",
        "3..6",
        "--json",
    ]);
    let (pa, pb) = (dir.path().join("a.json"), dir.path().join("b.json"));
    std::fs::write(&pa, &a.stdout).unwrap();
    std::fs::write(&pb, &b.stdout).unwrap();
    let o = loopsim(&[
        "sweep",
        "--merge",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot merge"));
}
