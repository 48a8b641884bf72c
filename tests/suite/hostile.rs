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
