//! The `loopsim` binary: exit codes, messages, replay commands.

use crate::scenarios::scenario_dir;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary in the crate's directory.
fn loopsim(args: &[&str]) -> Output {
    crate::support::loopsim_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_passes_on_every_scenario() {
    let out = loopsim(&["check", "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(" 0 failed"));
}

#[test]
fn check_on_a_copy_with_a_changed_figure_exits_1_and_names_the_claim() {
    let dir = tempfile::tempdir().unwrap();
    let src =
        std::fs::read_to_string(scenario_dir().join("sync_vs_async_two_fetches.toml")).unwrap();
    let changed = src.replacen("elapsed = \"3s\"", "elapsed = \"2.9s\"", 1);
    assert_ne!(src, changed);
    let copy = dir.path().join("copy.toml");
    std::fs::write(&copy, &changed).unwrap();
    let line = changed.lines().position(|l| l.contains("2.9s")).unwrap() + 1;
    let out = loopsim(&["check", copy.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // The claim's line is the `[[expect]]` header just above the figure.
    let header = changed
        .lines()
        .take(line)
        .collect::<Vec<_>>()
        .iter()
        .rposition(|l| l.starts_with("[[expect]]"))
        .unwrap()
        + 1;
    assert!(
        stdout.contains(&format!("copy.toml:{header} [async] elapsed 2.9s")),
        "{stdout}"
    );
    assert!(stdout.contains("observed (seed 0): elapsed 3s"), "{stdout}");
    assert!(stdout.contains("replay: loopsim run"), "{stdout}");
}

#[test]
fn every_broken_file_exits_2_with_file_line_and_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "only {} broken files", files.len());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let first = text(&bytes).lines().next().unwrap().to_string();
        let spec = first
            .strip_prefix("# expect: ")
            .unwrap_or_else(|| panic!("{}: no expect line", f.display()));
        let out = loopsim(&["check", f.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", f.display());
        assert!(!stderr.contains("panicked"), "{}: {stderr}", f.display());
        let (line, fragments) = match spec.split_once(": ") {
            Some((l, rest)) if l.chars().all(|c| c.is_ascii_digit()) => (Some(l), rest),
            _ => (None, spec),
        };
        let name = f.file_name().unwrap().to_str().unwrap();
        match line {
            Some(l) => assert!(
                stderr.contains(&format!("{name}:{l}:")),
                "{}: wanted line {l} in\n{stderr}",
                f.display()
            ),
            None => assert!(
                stderr.contains(&format!("{name}:")),
                "{}: no file name in\n{stderr}",
                f.display()
            ),
        }
        for frag in fragments
            .split(" | ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            assert!(
                stderr.contains(frag),
                "{}: wanted {frag:?} in\n{stderr}",
                f.display()
            );
        }
    }
}

#[test]
fn run_prints_output_with_times_tasks_and_verdicts() {
    let out = loopsim(&[
        "run",
        "sim-scenarios/sync_vs_async_two_fetches.toml",
        "--variant",
        "async",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2s  Task-3       B done"), "{stdout}");
    assert!(stdout.contains("3s  Task-2       A done"), "{stdout}");
    assert!(stdout.contains("ok    elapsed 3s"), "{stdout}");
}

#[test]
fn run_of_a_deadlock_without_an_outcome_claim_exits_3_with_a_replay_command() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("stuck.toml");
    std::fs::write(
        &f,
        "[primitives.e]\nkind = \"event\"\n[coroutines.main]\nsteps = [{ event_wait = \"e\" }]\n",
    )
    .unwrap();
    let out = loopsim(&["run", f.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("deadlock: Task-1 waits on Event 'e'"),
        "{stdout}"
    );
    assert!(stdout.contains("replay: loopsim run"), "{stdout}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(loopsim(&["run"]).status.code(), Some(2));
    assert_eq!(
        loopsim(&["run", "no/such/file.toml"]).status.code(),
        Some(2)
    );
    assert_eq!(loopsim(&["check", "no/such/dir"]).status.code(), Some(2));
    assert_eq!(
        loopsim(&["run", "sim-scenarios/hello_world.toml", "--model", "nope"])
            .status
            .code(),
        Some(2)
    );
    let out = loopsim(&["run", "sim-scenarios/hello_world.toml", "--variant", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown variant `nope`; the scenario has: main"));
}

#[test]
fn trace_out_is_written_atomically_and_never_over_a_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.jsonl");
    let args = |p: &Path| {
        vec![
            "run".to_string(),
            "sim-scenarios/hello_world.toml".into(),
            "--trace-out".into(),
            p.display().to_string(),
        ]
    };
    let a: Vec<String> = args(&t);
    let out = loopsim(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = std::fs::read(&t).unwrap();
    assert!(first.starts_with(b"{\"schema\":\"loopsim-trace/1\""));
    // A second run replaces its own trace with identical bytes.
    loopsim(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(std::fs::read(&t).unwrap(), first);
    // A file loopsim did not write is left alone.
    let mine = dir.path().join("notes.txt");
    std::fs::write(&mine, "my notes").unwrap();
    let b: Vec<String> = args(&mine);
    let out = loopsim(&b.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("refusing to overwrite"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my notes");
}

#[test]
fn format_python_prints_a_program_cpython_runs_to_the_same_output() {
    let out = loopsim(&[
        "run",
        "sim-scenarios/sync_vs_async_two_fetches.toml",
        "--variant",
        "async",
        "--format",
        "python",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let program = text(&out.stdout);
    assert!(
        program.contains("async def co_fetch(name, delay):"),
        "{program}"
    );
    for py in ["python3.11", "python3"] {
        let Ok(run) = Command::new(py).arg("-c").arg(&program).output() else {
            continue;
        };
        if !run.status.success() {
            continue; // too old a Python (no asyncio.Runner)
        }
        assert_eq!(
            text(&run.stdout),
            "0 A start\n0 B start\n2000000000 B done\n3000000000 A done\n3000000000 ['A', 'B']\n"
        );
        return;
    }
    eprintln!("no python3.11+ found: the program was not run");
}
