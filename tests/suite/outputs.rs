//! Outputs never destroy or escape: nothing is written into a scenarios
//! directory or over an input, nothing outside `--out`, nothing over a file
//! loopsim did not write, names with control characters still give
//! well-formed SVG and JSON, and a full disk leaves no temporary file.

use crate::support::loopsim_in;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

const HELLO: &str = r#"
[coroutines.main]
steps = [{ print = "hello" }, { sleep = "1s" }]

[[expect]]
elapsed = "1s"
"#;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `dir` (following no links) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = p.symlink_metadata().unwrap();
            if meta.is_dir() {
                todo.push(p);
            } else if meta.is_file() {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            } else {
                out.insert(p, b"<link>".to_vec());
            }
        }
    }
    out
}

/// A scratch directory with `scenarios/hello.toml` and `scenarios/README.md`.
fn workspace() -> tempfile::TempDir {
    let w = tempfile::tempdir().unwrap();
    std::fs::create_dir(w.path().join("scenarios")).unwrap();
    std::fs::write(w.path().join("scenarios/hello.toml"), HELLO).unwrap();
    std::fs::write(w.path().join("scenarios/README.md"), "my notes\n").unwrap();
    w
}

fn assert_refused(w: &Path, args: &[&str], words: &str) {
    let before = snapshot(w);
    let out = loopsim_in(w, args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    assert!(
        text(&out).contains(words),
        "{args:?}: expected {words:?} in: {}",
        text(&out)
    );
    assert!(!text(&out).contains("panicked"), "{}", text(&out));
    assert_eq!(snapshot(w), before, "{args:?} changed the files");
}

#[test]
fn report_never_writes_into_the_scenarios_directory() {
    let w = workspace();
    let p = w.path();
    assert_refused(
        p,
        &["report", "scenarios", "--out", "scenarios"],
        "inside the scenarios directory",
    );
    assert_refused(
        p,
        &["report", "scenarios", "--out", "scenarios/gallery"],
        "inside the scenarios directory",
    );
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(p.join("scenarios"), p.join("alias")).unwrap();
        assert_refused(
            p,
            &["report", "scenarios", "--out", "alias/x"],
            "inside the scenarios directory",
        );
    }
}

#[test]
fn run_never_writes_over_its_input_or_beside_it() {
    let w = workspace();
    let p = w.path();
    let f = "scenarios/hello.toml";
    assert_refused(p, &["run", f, "--svg", f], "is an input file");
    assert_refused(p, &["run", f, "--trace-out", f], "is an input file");
    assert_refused(
        p,
        &["run", f, "--svg", "scenarios/t.svg"],
        "inside the scenarios directory",
    );
    // A marker string anyone can write does not make a file loopsim's.
    std::fs::write(
        p.join("mine.svg"),
        "<!-- loopsim timeline -->\n<svg>my drawing</svg>\n",
    )
    .unwrap();
    assert_refused(
        p,
        &["run", f, "--svg", "mine.svg"],
        "was not written by loopsim",
    );
    std::fs::write(p.join("notes.jsonl"), "{\"schema\":\"loopsim-trace/1\"}\n").unwrap();
    assert_refused(
        p,
        &["run", f, "--trace-out", "notes.jsonl"],
        "was not written by loopsim",
    );
}

#[test]
fn loopsim_replaces_its_own_outputs_but_not_edited_ones() {
    let w = workspace();
    let p = w.path();
    let f = "scenarios/hello.toml";
    for _ in 0..2 {
        let out = loopsim_in(
            p,
            &["run", f, "--svg", "out/t.svg", "--trace-out", "out/t.jsonl"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let out = loopsim_in(p, &["report", "scenarios", "--out", "gallery"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = loopsim_in(p, &["report", "scenarios", "--out", "gallery"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::write(p.join("gallery/README.md"), "edited by hand\n").unwrap();
    assert_refused(
        p,
        &["report", "scenarios", "--out", "gallery"],
        "changed since loopsim wrote it",
    );
    std::fs::write(p.join("out/t.svg"), "edited").unwrap();
    assert_refused(
        p,
        &["run", f, "--svg", "out/t.svg"],
        "changed since loopsim wrote it",
    );
    // A directory of the user's own: its README is not the gallery's.
    std::fs::write(p.join("README.md"), "the project\n").unwrap();
    assert_refused(
        p,
        &["report", "scenarios", "--out", "."],
        "was not written by loopsim",
    );
}

#[test]
fn names_that_would_escape_the_output_directory_are_refused_at_load() {
    let w = workspace();
    let p = w.path();
    for (name, toml) in [
        ("scenario", format!("name = \"../../x\"\n{HELLO}")),
        ("scenario", format!("name = \"/etc/x\"\n{HELLO}")),
        ("variant", format!("{HELLO}\n[[variants]]\nname = \"..\"\n")),
        (
            "variant",
            format!("{HELLO}\n[[variants]]\nname = \"a/b\"\n"),
        ),
    ] {
        let dir = tempfile::tempdir_in(p).unwrap();
        std::fs::write(dir.path().join("evil.toml"), &toml).unwrap();
        let out = loopsim_in(
            p,
            &["report", dir.path().to_str().unwrap(), "--out", "gallery"],
        );
        assert_eq!(out.status.code(), Some(2), "{toml}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("{name} name")) && text(&out).contains("evil.toml:"),
            "{}",
            text(&out)
        );
        assert!(!p.join("gallery").exists());
    }
    // A file name is made a safe directory name.
    let dir = tempfile::tempdir_in(p).unwrap();
    std::fs::write(dir.path().join("..odd name!.toml"), HELLO).unwrap();
    let out = loopsim_in(
        p,
        &["report", dir.path().to_str().unwrap(), "--out", "gallery"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(p.join("gallery/_..odd_name_/timeline.svg").exists());
    for f in snapshot(p).keys() {
        assert!(f.starts_with(p), "{} written outside", f.display());
    }
}

#[test]
fn hostile_names_and_text_give_well_formed_svg_and_json() {
    let w = workspace();
    let p = w.path();
    let evil = r#"
title = "evil <&> \u0007 \u001b[31m -- title"
[coroutines.main]
steps = [
  { spawn = "w()", name = "n\u0001<x>&\"'", as = "t" },
  { print = "bell\u0007 esc\u001b[2J ls\u2028ps\u2029 nul\u0000 <tag>&amp; ; # -->" },
  { await = "t" },
]
[coroutines.w]
steps = [{ print = "\u000b\u000c\ud7ff" }]
"#;
    let dir = p.join("evil");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("evil.toml"), evil).unwrap();
    let out = loopsim_in(p, &["report", "evil", "--out", "gallery"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let svg = std::fs::read_to_string(p.join("gallery/evil/timeline.svg")).unwrap();
    roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    assert!(
        svg.contains("bell␇"),
        "control characters are shown as pictures"
    );
    for line in std::fs::read_to_string(p.join("gallery/evil/main.trace.jsonl"))
        .unwrap()
        .lines()
    {
        serde_json::from_str::<serde_json::Value>(line).expect("each trace line is JSON");
    }
    let chrome = loopsim_in(p, &["run", "evil/evil.toml", "--format", "chrome"]);
    serde_json::from_slice::<serde_json::Value>(&chrome.stdout).expect("Chrome JSON parses");
    let seq = loopsim_in(p, &["run", "evil/evil.toml", "--format", "sequence"]);
    assert!(
        !seq.stdout.contains(&0x1b) && !seq.stdout.contains(&0x07),
        "no raw control characters reach a terminal"
    );
    let py = loopsim_in(p, &["run", "evil/evil.toml", "--format", "python"]);
    let py = String::from_utf8(py.stdout).unwrap();
    assert!(py.contains("\\u2028") && !py.contains("\\u{2028}"), "{py}");
    assert!(!py.contains('\u{2028}') && !py.contains('\u{7}'));
}

/// A tmpfs of 12 KiB (root only; skipped elsewhere): the gallery does not
/// fit, the write fails with exit 2 naming the output, and no temporary
/// file is left.
#[test]
fn a_full_disk_leaves_no_temporary_file() {
    let w = workspace();
    let p = w.path();
    let mnt = p.join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12k", "tmpfs"])
        .arg(&mnt)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !mounted {
        eprintln!("outputs: cannot mount a small tmpfs here (needs root), skipped");
        return;
    }
    let out = loopsim_in(p, &["report", "scenarios", "--out", "small/g"]);
    let listing = snapshot(&mnt);
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("small/g/") && text(&out).contains("No space left"),
        "{}",
        text(&out)
    );
    for f in listing.keys() {
        let n = f.file_name().unwrap().to_string_lossy();
        assert!(!n.ends_with(".tmp"), "temporary file left: {}", f.display());
    }
}

#[test]
fn run_html_writes_one_self_contained_page_under_the_output_rules() {
    let w = workspace();
    let p = w.path();
    let f = "scenarios/hello.toml";
    assert_refused(p, &["run", f, "--html", f], "is an input file");
    std::fs::write(p.join("mine.html"), "<html>my page</html>\n").unwrap();
    assert_refused(
        p,
        &["run", f, "--html", "mine.html"],
        "was not written by loopsim",
    );
    for _ in 0..2 {
        let out = loopsim_in(p, &["run", f, "--html", "out/run.html"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let page = std::fs::read_to_string(p.join("out/run.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
    // Nothing to fetch: no script or style from elsewhere, no link out but
    // the SVG namespace.
    for bad in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!page.contains(bad), "the page fetches something: {bad:?}");
    }
    let outside: Vec<&str> = page
        .match_indices("http")
        .map(|(i, _)| &page[i..(i + 40).min(page.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(outside.is_empty(), "links out: {outside:?}");
    let out = loopsim_in(p, &["report", "scenarios", "--out", "gallery", "--html"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(p.join("gallery/index.html").exists());
    assert!(
        p.join("gallery/hello/report.html").exists() || {
            let names: Vec<_> = std::fs::read_dir(p.join("gallery")).unwrap().collect();
            panic!("no report.html in {names:?}")
        }
    );
    let out = loopsim_in(
        p,
        &[
            "report",
            "scenarios",
            "--out",
            "gallery",
            "--html",
            "--check",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
