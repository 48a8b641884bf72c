//! Hostile input never crashes the binary: expressions thousands of levels
//! deep, TOML nested a thousand levels, absurd format widths, a reader that
//! goes away. Each is refused when the scenario loads (exit 2) with the
//! problem's line, or ends quietly.

use loopsim::scenario::expr::MAX_DEPTH;
use std::io::Read;
use std::process::{Command, Output, Stdio};

fn loopsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loopsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("loopsim runs")
}

/// A scenario whose fourth line is `step`.
fn scenario_with_step(step: &str) -> String {
    format!("[coroutines.main]\nsteps = [\n  {{ set = \"x\", to = \"[[[1]]]\" }},\n  {step},\n]\n")
}

/// Runs `loopsim run` on `text`; returns the exit code and stderr.
fn run_text(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.toml");
    std::fs::write(&file, text).unwrap();
    let out = loopsim(&["run", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("overflow"), "{stderr}");
    (out.status.code(), stderr)
}

fn assert_refused_at_line(text: &str, line: usize, words: &[&str]) {
    let (code, stderr) = run_text(text);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("hostile.toml:{line}:")),
        "line {line}: {stderr}"
    );
    for w in words {
        assert!(stderr.contains(w), "`{w}` missing: {stderr}");
    }
}

fn too_deep() -> String {
    format!("more than {MAX_DEPTH} levels")
}

#[test]
fn long_expressions_are_refused_with_their_line_not_a_stack_overflow() {
    let long = [
        vec!["1"; 5000].join("+"),
        vec!["True"; 5000].join(" and "),
        format!("x{}", "[0]".repeat(3000)),
        format!("{}1{}", "(".repeat(5000), ")".repeat(5000)),
        format!("{}x", "not ".repeat(5000)),
        format!("{}1{}", "[".repeat(3000), "]".repeat(3000)),
    ];
    for e in &long {
        let words = ["nested too deeply", &too_deep(), "split it into steps"];
        assert_refused_at_line(
            &scenario_with_step(&format!("{{ print = \"{{{e}}}\" }}")),
            4,
            &words,
        );
        assert_refused_at_line(
            &scenario_with_step(&format!("{{ set = \"y\", to = \"{e}\" }}")),
            4,
            &words,
        );
    }
}

#[test]
fn an_expression_at_the_depth_limit_runs_and_translates_to_python() {
    let sum = vec!["1"; MAX_DEPTH].join("+");
    let text = scenario_with_step(&format!("{{ print = \"{{{sum}}}\" }}"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("limit.toml");
    std::fs::write(&file, text).unwrap();
    let out = loopsim(&["run", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!(" {MAX_DEPTH}\n")), "{stdout}");
    let py = loopsim(&["run", file.to_str().unwrap(), "--format", "python"]);
    assert_eq!(py.status.code(), Some(0));
}

#[test]
fn toml_nested_a_thousand_levels_is_refused() {
    let tail = scenario_with_step("{ print = \"hi\" }");
    let arrays = format!("a = {}{}\n{tail}", "[".repeat(1000), "]".repeat(1000));
    assert_refused_at_line(&arrays, 1, &["nested too deeply"]);
    let inline = format!("a = {}1{}\n{tail}", "{b=".repeat(1000), "}".repeat(1000));
    assert_refused_at_line(&inline, 1, &["nested too deeply"]);
    let tables = format!("{tail}[{}]\n", vec!["a"; 1000].join("."));
    let (code, stderr) = run_text(&tables);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nested too deeply"), "{stderr}");
}

#[test]
fn huge_format_widths_and_precisions_are_refused_with_their_line() {
    for spec in [
        ".99999f",
        ">1000000000",
        "99999999999999999999999",
        "^70000",
    ] {
        let text = scenario_with_step(&format!("{{ print = \"{{1.5:{spec}}}\" }}"));
        assert_refused_at_line(&text, 4, &["too large", "at most 10000"]);
    }
    // At the limit, it prints.
    let (code, stderr) = run_text(&scenario_with_step("{ print = \"{1.5:>10000.3f}\" }"));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    for args in [
        &["check"][..],
        &[
            "run",
            "sim-scenarios/as_completed.toml",
            "--format",
            "trace",
        ],
        &["run", "sim-scenarios/as_completed.toml"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loopsim"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("loopsim starts");
        // Close the reading end before anything is written: every write fails.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            matches!(status.code(), Some(0) | Some(141)),
            "{args:?}: {status:?} {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("internal error"), "{args:?}: {stderr}");
    }
}

/// `loopsim check FILE` under a 1 GiB address-space limit (where `sh` has
/// `ulimit`), timed by the harness's wall clock.
#[allow(clippy::disallowed_methods)]
fn check_bounded(file: &std::path::Path) -> (Output, std::time::Duration) {
    let start = std::time::Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 2>/dev/null; exec \"$0\" check \"$1\"")
        .arg(env!("CARGO_BIN_EXE_loopsim"))
        .arg(file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("loopsim runs");
    (out, start.elapsed())
}

/// The corpus in `tests/hostile/`: each file's first line says
/// `# expect: EXIT LINE: fragment | fragment` (`LINE` is `-` for run-time
/// stops). Each run ends with that exit code, the fragments and
/// `FILE:LINE:` in its output, within 5 s (release build) and 1 GiB, without
/// a panic.
#[test]
fn every_hostile_file_ends_with_its_exit_code_message_and_line() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 100, "only {} hostile files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        let _ = std::fs::File::open(f)
            .unwrap()
            .take(2000)
            .read_to_end(&mut bytes);
        let head = String::from_utf8_lossy(&bytes).into_owned();
        let spec = head
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name}: no `# expect:` line"))
            .to_string();
        let (code, rest) = spec.split_once(' ').unwrap_or((&spec, ""));
        let (line, fragments) = rest
            .split_once(": ")
            .unwrap_or((rest.trim_end_matches(':'), ""));
        let (out, took) = check_bounded(f);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut problems = Vec::new();
        if out.status.code().map(|c| c.to_string()).as_deref() != Some(code) {
            problems.push(format!("exit {:?}, expected {code}", out.status.code()));
        }
        if line != "-" && !text.contains(&format!("{name}:{line}:")) {
            problems.push(format!("no `{name}:{line}:`"));
        }
        for frag in fragments
            .split(" | ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if !text.contains(frag) {
                problems.push(format!("no {frag:?}"));
            }
        }
        if text.contains("panicked") || text.contains("internal error") {
            problems.push("a panic".into());
        }
        // The budget is 5 s for the release build (CI runs this test on it
        // too); an unoptimised build is allowed more.
        let budget = if cfg!(debug_assertions) { 60 } else { 5 };
        if took > std::time::Duration::from_secs(budget) {
            problems.push(format!("took {took:?}"));
        }
        if !problems.is_empty() {
            let shown: String = text.chars().take(600).collect();
            failures.push(format!("{name}: {}\n{shown}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Services and pools with impossible settings are refused at their line,
/// with what to write instead; extreme but valid ones run and end.
#[test]
fn bad_services_and_pools_are_refused_at_their_line() {
    let main = "[coroutines.main]\nsteps = [{ call = \"api\" }]\n";
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "[services.api]\nlatency = \"1s\"\ncapacity = 0\n",
            3,
            &["capacity", "between 1"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\ncapacity = -5\n",
            3,
            &["capacity"],
        ),
        (
            "[services.api]\nlatency = \"fast\"\n",
            2,
            &["latency", "uniform"],
        ),
        (
            "[services.api]\nlatency = \"uniform(2s, 1s)\"\n",
            2,
            &["a <= b"],
        ),
        (
            "[services.api]\nlatency = \"lognormal(1s, 99)\"\n",
            2,
            &["sigma"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\nerror_rate = 1.5\n",
            3,
            &["error_rate", "between 0 and 1"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\nslowdown = -1\n",
            3,
            &["slowdown"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\nqueue_limit = -1\n",
            3,
            &["queue_limit"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\nrate_limit = { per_second = 0 }\n",
            3,
            &["per_second"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\nrate_limit = { per_second = 5, on_excess = \"drop\" }\n",
            3,
            &["on_excess"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\nlatncy = \"2s\"\n",
            3,
            &["latncy"],
        ),
        ("cpus = 0\n[services.api]\nlatency = \"1s\"\n", 1, &["cpus"]),
        (
            "switch_interval = \"0s\"\n[services.api]\nlatency = \"1s\"\n",
            1,
            &["switch_interval"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\n[pools.p]\nkind = \"fiber\"\n",
            4,
            &["kind", "process"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\n[pools.p]\nkind = \"thread\"\nstartup = \"1s\"\n",
            5,
            &["startup"],
        ),
        (
            "[services.api]\nlatency = \"1s\"\n[pools.p]\nkind = \"process\"\nworkers = 100000\n",
            5,
            &["workers"],
        ),
    ];
    for (decl, line, words) in cases {
        let text = format!("{decl}{main}");
        assert_refused_at_line(&text, *line, words);
    }
    // A call to a service that is not declared, a pool that is not.
    assert_refused_at_line(
        "[services.api]\nlatency = \"1s\"\n[coroutines.main]\nsteps = [{ call = \"apj\" }]\n",
        4,
        &["unknown service", "api"],
    );
    assert_refused_at_line(
        "[coroutines.main]\nsteps = [{ run_in_executor = \"procs\", duration = \"1s\" }]\n",
        2,
        &["unknown pool", "[pools.procs]"],
    );
    assert_refused_at_line(
        "[coroutines.main]\nsteps = [{ to_thread = \"1s\", work = \"gpu\" }]\n",
        2,
        &["work", "cpu"],
    );
    // Extreme but valid: a rate limit of one call a year, delayed, ends at
    // the time limit, not in a hang.
    let (code, stderr) = run_text(
        "[services.api]\nlatency = \"1s\"\nrate_limit = { per_second = 1e-9, burst = 1, on_excess = \"delay\" }\n\
         [coroutines.main]\nsteps = [{ call = \"api\" }, { call = \"api\" }]\n",
    );
    assert!(matches!(code, Some(0) | Some(3)), "{code:?} {stderr}");
}

/// A network with impossible links, and network steps that cannot work,
/// are refused at their line.
#[test]
fn bad_networks_and_network_steps_are_refused_at_their_line() {
    let main = "[coroutines.main]\nsteps = [{ sleep = \"1s\" }]\n";
    let cases: &[(&str, usize, &[&str])] = &[
        (
            "[network]\nlatency = \"soon\"\n",
            2,
            &["latency", "uniform"],
        ),
        ("[network]\nbandwidth = 0\n", 2, &["bandwidth"]),
        ("[network]\nloss = 1.0\n", 2, &["loss"]),
        (
            "[network]\n[[network.links]]\nbetween = [\"a\", \"a\"]\n",
            3,
            &["between", "two different"],
        ),
        (
            "[network]\n[[network.links]]\nbetween = [\"a\", \"b\"]\nlatency = \"-1s\"\n",
            4,
            &["latency"],
        ),
    ];
    for (decl, line, words) in cases {
        assert_refused_at_line(&format!("{decl}{main}"), *line, words);
    }
    assert_refused_at_line(
        "[coroutines.main]\nsteps = [{ open_connection = \"server\", from = \"'c'\" }]\n",
        2,
        &["host:port"],
    );
    assert_refused_at_line(
        "[coroutines.main]\nsteps = [{ open_connection = \"server:99999\", from = \"'c'\" }]\n",
        2,
        &["0 to 65535"],
    );
    assert_refused_at_line(
        "[coroutines.h]\nparams = [\"a\", \"b\"]\nsteps = []\n[coroutines.main]\nsteps = [{ start_server = \"h\", host = \"s\", port = 1 }]\n",
        5,
        &["takes 2 parameters"],
    );
    assert_refused_at_line(
        "[coroutines.main]\nsteps = [{ partition = [\"a\"] }]\n",
        2,
        &["partition", "from"],
    );
    // Sending on something that is not a connection is a TypeError at run
    // time (exit 3 for the failed run), not a crash.
    let (code, stderr) =
        run_text("[coroutines.main]\nsteps = [{ send = \"1\", value = \"'x'\" }]\n");
    assert!(matches!(code, Some(0) | Some(3)), "{code:?} {stderr}");
}
