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
fn a_saved_trace_is_read_back_in_either_form_summarised_drawn_and_converted() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let (bin, json) = (p("t.lstrace"), p("t.jsonl"));
    for t in [&bin, &json] {
        let out = loopsim(&[
            "run",
            "sim-scenarios/five_fetches_gather.toml",
            "--trace-out",
            t,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert!(std::fs::read(&bin).unwrap().starts_with(b"LSTRACE3"));
    assert!(std::fs::read(&json).unwrap().starts_with(b"{\"schema\""));
    // The summary reads the same from either form.
    let sum = |t: &str| {
        let out = loopsim(&["trace", t]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        s.lines()
            .filter(|l| !l.contains("bytes"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let s = sum(&bin);
    assert_eq!(s, sum(&json));
    assert!(
        s.contains("the run completed") && s.contains("step_started"),
        "{s}"
    );
    // Converting binary to JSON Lines gives the bytes `run` wrote.
    let back = p("back.jsonl");
    let out = loopsim(&["trace", &bin, "--trace-out", &back, "--svg", &p("t.svg")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "writing files prints no summary");
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&json).unwrap());
    assert!(
        std::fs::read_to_string(p("t.svg"))
            .unwrap()
            .contains("<svg")
    );
    // The diagrams are those of `run`.
    let seq = |args: &[&str]| text(&loopsim(args).stdout);
    assert_eq!(
        seq(&["trace", &bin, "--format", "sequence"]),
        seq(&[
            "run",
            "sim-scenarios/five_fetches_gather.toml",
            "--format",
            "sequence"
        ])
    );
    // A trace of the first binary version reads as one of this version;
    // one of a version to come is refused with what this loopsim reads.
    let (v1, v2, v9) = (p("v1.lstrace"), p("v2.lstrace"), p("v9.lstrace"));
    std::fs::write(&v1, crate::trace_io::one_task_trace(1)).unwrap();
    std::fs::write(&v2, crate::trace_io::one_task_trace(2)).unwrap();
    let mut future = crate::trace_io::one_task_trace(2);
    future[7] = b'9';
    std::fs::write(&v9, future).unwrap();
    let jsonl = |t: &str| {
        let out = loopsim(&["trace", t, "--format", "jsonl"]);
        assert_eq!(out.status.code(), Some(0), "{t}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(jsonl(&v1), jsonl(&v2));
    let out = loopsim(&["trace", &v9]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("LSTRACE1, LSTRACE2 and LSTRACE3"),
        "{}",
        text(&out.stderr)
    );
    // Bad input: exit 2 with the file and what is wrong; the input is never
    // written over.
    let cut = p("cut.lstrace");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    // A trace that reads but that no run records is summarised, not drawn.
    let odd = p("odd.jsonl");
    let lines = std::fs::read_to_string(&json).unwrap();
    assert!(lines.contains("\"task\":2,"));
    std::fs::write(&odd, lines.replacen("\"task\":2,", "\"task\":99,", 1)).unwrap();
    assert_eq!(loopsim(&["trace", &odd]).status.code(), Some(0));
    for (args, says) in [
        (
            vec!["trace", odd.as_str(), "--format", "sequence"],
            "not a trace loopsim records: task #99 created as the task number 2",
        ),
        (vec!["trace", cut.as_str()], "cut short"),
        (vec!["trace", "Cargo.toml"], "not a trace header"),
        (vec!["trace", "no-such-file"], "no-such-file"),
        (
            vec!["trace", &bin, "--trace-out", &bin],
            "refusing to write over it",
        ),
    ] {
        let out = loopsim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&bin).unwrap(), bytes);
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

/// Runs the binary in the crate's directory with extra environment.
fn loopsim_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loopsim"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("loopsim runs")
}

/// A copy of `hello_world.toml` whose output claim expects `world` and a
/// `!`, whose `printed` claim has a typo, and with an order claim reversed.
fn hello_with_wrong_claims(dir: &Path) -> std::path::PathBuf {
    let src = std::fs::read_to_string(scenario_dir().join("hello_world.toml")).unwrap();
    let changed = src
        .replacen(
            r#"output = ["Hello", "World"]"#,
            r#"output = ["Hello", "world", "!"]"#,
            1,
        )
        .replacen(r#"printed = "World""#, r#"printed = "Wordl""#, 1)
        + "\n[[expect]]\norder = [\"World\", \"Hello\"]\n";
    assert_ne!(src, changed);
    let f = dir.join("hello.toml");
    std::fs::write(&f, changed).unwrap();
    f
}

#[test]
fn completions_are_generated_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = loopsim(&["completions", shell]);
        let script = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        for word in ["loopsim", "sweep", "explore", "--format"] {
            assert!(script.contains(word), "{shell}: no {word:?} in\n{script}");
        }
    }
    let out = loopsim(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn piped_output_and_no_color_have_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let f = hello_with_wrong_claims(dir.path());
    let f = f.to_str().unwrap();
    // The test's stdout is a pipe: no colour, with or without NO_COLOR.
    for env in [&[][..], &[("NO_COLOR", "1")][..]] {
        for args in [
            vec!["check", f],
            vec!["run", f],
            vec!["run", "sim-scenarios/health_warnings.toml"],
            vec!["explore", f, "--seeds", "0..2"],
        ] {
            let out = loopsim_env(&args, env);
            let stdout = text(&out.stdout);
            assert!(
                stdout.contains("FAIL") || stdout.contains("warning") || stdout.contains("BROKEN"),
                "{args:?}: {stdout}"
            );
            assert!(!stdout.contains('\u{1b}'), "{args:?} {env:?}: {stdout:?}");
        }
    }
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    use std::io::BufRead;
    for args in [
        &["check", "sim-scenarios"][..],
        &[
            "run",
            "sim-scenarios/hundred_urls.toml",
            "--variant",
            "async",
            "--format",
            "trace",
        ][..],
        &[
            "run",
            "sim-scenarios/hundred_urls.toml",
            "--format",
            "chrome",
        ][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loopsim"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped: the pipe is closed after one line.
        assert!(!first.is_empty(), "{args:?}: no first line");
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        #[cfg(unix)]
        let by_sigpipe = std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(13);
        #[cfg(not(unix))]
        let by_sigpipe = false;
        assert!(
            matches!(out.status.code(), Some(0 | 141)) || by_sigpipe,
            "{args:?}: {:?}\n{stderr}",
            out.status
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("internal error"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_failed_output_claim_shows_what_was_printed_instead() {
    let dir = tempfile::tempdir().unwrap();
    let f = hello_with_wrong_claims(dir.path());
    let out = loopsim(&["check", f.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "      printed instead (- expected, + printed):\n        \"Hello\"\n      - \"world\"    ← first difference, line 2\n      - \"!\"\n      + \"World\"\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "      printed instead:\n        \"Hello\"\n        \"World\"    ← closest to \"Wordl\""
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("printed in this order (- expected, + printed):"),
        "{stdout}"
    );
    // `run` shows the same diff under its verdict.
    let out = loopsim(&["run", f.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("        - \"world\"    ← first difference, line 2\n"),
        "{stdout}"
    );
}

#[test]
fn counts_of_one_are_singular() {
    let out = loopsim(&["run", "sim-scenarios/hello_world.toml"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("elapsed 1s · 1 task · 4 steps · 4 iterations"),
        "{stdout}"
    );
    let out = loopsim(&["check", "sim-scenarios/hello_world.toml"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\n1 scenario, 3 claims: 3 passed, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn quiet_and_verbose_are_accepted_by_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("gallery");
    let gallery = gallery.to_str().unwrap();
    let hello = "sim-scenarios/hello_world.toml";
    let commands: [&[&str]; 7] = [
        &["run", hello],
        &["check", hello],
        &["report", hello, "--out", gallery],
        &["sweep", hello, "--seeds", "0..2", "--jobs", "1"],
        &["explore", hello, "--seeds", "0..2", "--jobs", "1"],
        &["bench", "--scale-down", "1000", "--repeat", "1"],
        &["completions", "bash"],
    ];
    for cmd in commands {
        for flag in ["-q", "--quiet", "-v", "--verbose"] {
            let mut args = cmd.to_vec();
            args.push(flag);
            let out = loopsim(&args);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{args:?}: {}{}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
    }
    assert_eq!(
        loopsim(&["check", hello, "-q", "-v"]).status.code(),
        Some(2)
    );
}

#[test]
fn quiet_prints_only_failures_and_summaries_and_verbose_adds_detail() {
    let hello = "sim-scenarios/hello_world.toml";
    let quiet = text(&loopsim(&["run", hello, "-q"]).stdout);
    assert!(
        !quiet.contains("Hello") && !quiet.contains("ok "),
        "{quiet}"
    );
    assert!(quiet.contains("elapsed 1s · 1 task"), "{quiet}");
    let quiet = text(&loopsim(&["check", hello, "-q"]).stdout);
    assert!(!quiet.contains("ok "), "{quiet}");
    let verbose = text(&loopsim(&["check", hello, "-v"]).stdout);
    assert!(
        verbose.contains("ok    hello_world [main] elapsed 1s (seed 0)"),
        "{verbose}"
    );
    // `run -v` judges the claims over seed ranges too.
    let urls = "sim-scenarios/hundred_urls.toml";
    let normal = text(&loopsim(&["run", urls]).stdout);
    assert!(normal.contains("or here with -v"), "{normal}");
    let verbose = text(&loopsim(&["run", urls, "-v"]).stdout);
    assert!(
        verbose.contains("ok    [async] elapsed between 1s and 2s over seeds 0..50"),
        "{verbose}"
    );
    assert!(
        verbose.contains("async at least 20x faster than sync over seeds 0..50"),
        "{verbose}"
    );
}

#[test]
fn options_the_format_ignores_are_named_on_stderr() {
    let out = loopsim(&[
        "run",
        "sim-scenarios/hello_world.toml",
        "--format",
        "chrome",
        "--detail",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains(
            "--detail applies to --format sequence and mermaid; --format chrome ignores it"
        ),
        "{}",
        text(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.jsonl");
    let out = loopsim(&[
        "run",
        "sim-scenarios/sync_vs_async_two_fetches.toml",
        "--trace-out",
        t.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("--trace-out writes one trace, of the last variant (`async`), not of all 2"),
        "{stderr}"
    );
    let out = loopsim(&["run", "sim-scenarios/hello_world.toml", "--axis", "steps"]);
    assert!(text(&out.stderr).contains("without --svg it does nothing"));
    // Used options say nothing.
    let out = loopsim(&[
        "run",
        "sim-scenarios/hello_world.toml",
        "--format",
        "sequence",
        "--detail",
    ]);
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn format_chrome_puts_every_variant_in_one_file_a_process_each() {
    let out = loopsim(&[
        "run",
        "sim-scenarios/sync_vs_async_two_fetches.toml",
        "--format",
        "chrome",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let processes: Vec<String> = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(processes.len(), 2, "{processes:?}");
    assert!(processes[0].starts_with("sync — ") && processes[1].starts_with("async — "));
}

#[test]
fn bench_trace_cost_pairs_the_chosen_workloads_and_leaves_no_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loopsim"))
        .args([
            "bench",
            "--trace-cost",
            "--workload",
            "2",
            "--workload",
            "4",
            "--scale-down",
            "100",
            "--pairs",
            "3",
        ])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('W')).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows[0].starts_with("W2") && rows[1].starts_with("W4"),
        "{table}"
    );
    for row in rows {
        // The time off, then four ratios, each with its range.
        let ratios: Vec<f64> = row
            .split_whitespace()
            .filter(|c| !c.starts_with('('))
            .skip(2)
            .map(|c| c.parse().unwrap_or_else(|_| panic!("{c} in {row}")))
            .collect();
        assert_eq!(ratios.len(), 5, "{row}");
        assert!(ratios.iter().all(|r| *r > 0.0), "{row}");
    }
    // The streamed files went with the run's temporary directory.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // --workload belongs to --compare and --trace-cost.
    let out = loopsim(&["bench", "--workload", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--trace-cost"),
        "{}",
        text(&out.stderr)
    );
    let out = loopsim(&["bench", "--trace-cost", "--workload", "5"]);
    assert_eq!(out.status.code(), Some(2));
    // Instructions are counted for --compare only.
    let out = loopsim(&["bench", "--trace-cost", "--instructions"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bench_compare_pairs_every_workload_or_says_what_it_needs() {
    // tokio: built in only with the `compare-tokio` feature; without it the
    // command says how to build it, and exits 2.
    let out = loopsim(&[
        "bench",
        "--compare",
        "tokio",
        "--scale-down",
        "1000",
        "--pairs",
        "1",
    ]);
    if cfg!(feature = "compare-tokio") {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("--features compare-tokio"));
    }
    // CPython: a Python that cannot run is a usage error, said before any
    // measuring.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loopsim"))
        .args([
            "bench",
            "--compare",
            "cpython",
            "--scale-down",
            "1000",
            "--pairs",
            "1",
        ])
        .env("LOOPSIM_PYTHON", "/nonexistent/python")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("LOOPSIM_PYTHON"));
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
    // CPython: every workload's row, with a ratio, when a python3 is there.
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no python3");
        return;
    }
    let out = loopsim(&[
        "bench",
        "--compare",
        "cpython",
        "--scale-down",
        "1000",
        "--pairs",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for w in ["W1", "W2", "W3", "W4"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(w))
            .unwrap_or_else(|| panic!("no {w} row in:\n{table}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        let (ours, theirs): (f64, f64) = (cols[2].parse().unwrap(), cols[3].parse().unwrap());
        assert!(ours >= 0.0 && theirs > 0.0, "{row}");
    }
}
