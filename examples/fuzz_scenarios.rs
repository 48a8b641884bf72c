//! A structure-aware mutation fuzzer over loopsim's scenario pipeline:
//! parse → validate → print → run every variant (small limits; again with
//! every finished task giving up its slot at once, which must not change
//! the trace) → render every format. Any panic (anywhere, also inside a
//! simulated task), any input that takes longer than `--hang-secs`, and
//! peak memory past `--max-rss-mib` is a finding; each finding's input is
//! saved.
//!
//! ```sh
//! cargo run --release --example fuzz_scenarios -- --cases 1000000          # the campaign
//! cargo run --release --example fuzz_scenarios -- --seconds 60             # CI's smoke
//! ```
//!
//! Options: `--cases N`, `--seconds S` (whichever ends first), `--seed S`
//! (the run is deterministic given it), `--out DIR` (findings, and
//! `current.toml`: the input being run, left behind if the process dies of
//! a stack overflow or is killed), `--hang-secs S` (default 5),
//! `--max-rss-mib M` (default 1024). Exit 1 when anything was found.
//!
//! The seed corpus is every scenario the repository has (`sim-scenarios/`,
//! `tests/scenarios/`, `tests/fixtures/broken/`, `tests/hostile/`). Each
//! case applies one to four mutations: character edits with TOML
//! punctuation, numbers and durations swapped for edge values, names swapped
//! for other names of the corpus, lines duplicated, dropped, swapped or
//! spliced from another file, hostile text inserted (control characters,
//! look-alikes, format specs, deep brackets).

use loopsim::render::{ChromeTrace, Mermaid, Renderer, SequenceText, Timeline};
use loopsim::scenario::{self, Scenario};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static PANICS: AtomicUsize = AtomicUsize::new(0);

struct Options {
    cases: u64,
    seconds: u64,
    seed: u64,
    out: PathBuf,
    hang: Duration,
    max_rss_mib: u64,
}

fn options() -> Options {
    let mut o = Options {
        cases: u64::MAX,
        seconds: u64::MAX,
        seed: 0,
        out: PathBuf::from("target/fuzz"),
        hang: Duration::from_secs(5),
        max_rss_mib: 1024,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
                .clone()
        };
        let num = |v: String| {
            v.parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("{a}: not a number")))
        };
        match a.as_str() {
            "--cases" => o.cases = num(value()),
            "--seconds" => o.seconds = num(value()),
            "--seed" => o.seed = num(value()),
            "--out" => o.out = PathBuf::from(value()),
            "--hang-secs" => o.hang = Duration::from_secs(num(value())),
            "--max-rss-mib" => o.max_rss_mib = num(value()),
            _ => usage(&format!("unknown option {a}")),
        }
    }
    if o.cases == u64::MAX && o.seconds == u64::MAX {
        o.seconds = 60;
    }
    o
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "fuzz_scenarios: {msg}\nusage: fuzz_scenarios [--cases N] [--seconds S] [--seed S] [--out DIR] [--hang-secs S] [--max-rss-mib M]"
    );
    std::process::exit(2)
}

fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        "sim-scenarios",
        "tests/scenarios",
        "tests/fixtures/broken",
        "tests/hostile",
    ] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "toml")
                && let Ok(text) = std::fs::read_to_string(&f)
            {
                out.push((f.file_name().unwrap().to_string_lossy().into_owned(), text));
            }
        }
    }
    assert!(!out.is_empty(), "no seed corpus found");
    out
}

const PUNCT: &[&str] = &[
    "\"",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "-",
    "0",
    "x",
    "(",
    ")",
    "'",
    "#",
    ".",
    ":",
    "\\",
    "{x:.99999f}",
    "{",
    "}}",
    "[[",
    "]]",
    "\"\"\"",
    "'''",
];
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "255",
    "65536",
    "1000000000",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "1e-11",
    "0.1",
    "nan",
    "inf",
    "-0.0",
    "3.0",
];
const DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1ns\"",
    "\"0.00000000001\"",
    "\"1e9s\"",
    "\"100000h\"",
    "\"-1s\"",
    "\"1.5ms\"",
    "\"0.1\"",
    "\"1s\"",
    "\"9999999999999999s\"",
];
const HOSTILE: &[&str] = &[
    "\\u0007",
    "\\u001b[2J",
    "\\u2028",
    "\\u200b",
    "m\u{430}in",
    "\\u0000",
    "{x}",
    "{now}",
    "{x!r}",
    "{x:>100000}",
    "((((((((((((((((((((1))))))))))))))))))))",
    "[[[[[[[[[[]]]]]]]]]]",
    "1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1",
    "../../x",
    "\u{fffd}",
    "\u{1f600}",
    "\"\"",
    "''",
];

/// Identifier-like words of the corpus, to swap names with.
fn words(corpus: &[(String, String)]) -> Vec<String> {
    let mut w: Vec<String> = corpus
        .iter()
        .flat_map(|(_, t)| {
            t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|s| {
                    s.len() >= 2
                        && s.len() <= 24
                        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                })
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    w.sort();
    w.dedup();
    w
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, v: &'a [T]) -> &'a T {
    &v[rng.random_range(0..v.len())]
}

/// One mutation of `text`.
fn mutate(
    rng: &mut ChaCha8Rng,
    text: &str,
    corpus: &[(String, String)],
    words: &[String],
) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len().max(1);
    let at = rng.random_range(0..n);
    let span = |rng: &mut ChaCha8Rng| {
        let len = rng.random_range(0..12usize);
        (at.min(chars.len()), (at + len).min(chars.len()))
    };
    let splice = |a: usize, b: usize, with: &str| -> String {
        let mut s: String = chars[..a].iter().collect();
        s.push_str(with);
        s.extend(&chars[b..]);
        s
    };
    let lines: Vec<&str> = text.lines().collect();
    match rng.random_range(0..10u8) {
        0 => {
            let (a, b) = span(rng);
            splice(a, b, "")
        }
        1 => {
            let (a, b) = span(rng);
            let dup: String = chars[a..b].iter().collect();
            splice(a, a, &dup)
        }
        2 => {
            let (a, b) = span(rng);
            let with = *pick::<&str>(rng, PUNCT);
            splice(a, b, with)
        }
        3 => replace_token(
            rng,
            text,
            |c| c.is_ascii_digit() || c == '.' || c == '-',
            NUMBERS,
        ),
        4 => {
            // A quoted duration or string swapped for an edge duration.
            match find_quoted(rng, text) {
                Some((a, b)) => format!("{}{}{}", &text[..a], pick(rng, DURATIONS), &text[b..]),
                None => text.to_string(),
            }
        }
        5 => {
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            replace_token(rng, text, |c| c.is_ascii_alphanumeric() || c == '_', &w)
        }
        6 if !lines.is_empty() => {
            // Duplicate, drop or swap lines.
            let mut l: Vec<&str> = lines.clone();
            let i = rng.random_range(0..l.len());
            let j = rng.random_range(0..l.len());
            match rng.random_range(0..3u8) {
                0 => l.insert(j, lines[i]),
                1 => {
                    l.remove(i);
                }
                _ => l.swap(i, j),
            }
            l.join("\n")
        }
        7 if !lines.is_empty() => {
            // A line from another file.
            let (_, other) = pick(rng, corpus);
            let ol: Vec<&str> = other.lines().collect();
            let mut l: Vec<&str> = lines.clone();
            if !ol.is_empty() {
                let line = ol[rng.random_range(0..ol.len())];
                l.insert(rng.random_range(0..=l.len()), line);
            }
            l.join("\n")
        }
        8 => {
            let (a, b) = span(rng);
            let with = *pick::<&str>(rng, HOSTILE);
            splice(a, b, with)
        }
        _ => {
            // Deep nesting at a random place.
            let depth = rng.random_range(1..200usize);
            let (open, close) = *pick(rng, &[("[", "]"), ("(", ")"), ("{", "}")]);
            let inner = format!("{}1{}", open.repeat(depth), close.repeat(depth));
            splice(at.min(chars.len()), at.min(chars.len()), &inner)
        }
    }
}

/// Replaces one maximal run of characters matching `class` (chosen at
/// random) with a value of `with`.
fn replace_token(
    rng: &mut ChaCha8Rng,
    text: &str,
    class: impl Fn(char) -> bool,
    with: &[&str],
) -> String {
    let starts: Vec<usize> = text
        .char_indices()
        .filter(|&(i, c)| {
            class(c) && (i == 0 || !text[..i].chars().next_back().is_some_and(&class))
        })
        .map(|(i, _)| i)
        .collect();
    if starts.is_empty() || with.is_empty() {
        return text.to_string();
    }
    let a = *pick(rng, &starts);
    let b = text[a..]
        .find(|c: char| !class(c))
        .map_or(text.len(), |k| a + k);
    format!("{}{}{}", &text[..a], pick(rng, with), &text[b..])
}

/// The byte range of a random `"…"` string (quotes included).
fn find_quoted(rng: &mut ChaCha8Rng, text: &str) -> Option<(usize, usize)> {
    let quotes: Vec<usize> = text.match_indices('"').map(|(i, _)| i).collect();
    if quotes.len() < 2 {
        return None;
    }
    let k = rng.random_range(0..quotes.len() - 1);
    Some((quotes[k], quotes[k + 1] + 1))
}

/// Small limits: every run ends quickly whatever the input says.
fn tight(mut s: Scenario) -> Scenario {
    let st = &mut s.settings;
    st.limits.max_steps = st.limits.max_steps.min(20_000);
    st.limits.max_tasks = st.limits.max_tasks.min(2_000);
    st.limits.max_trace_events = st.limits.max_trace_events.min(100_000);
    st.limits.max_time = st.limits.max_time.min(Duration::from_secs(3600));
    st.max_output_lines = st.max_output_lines.min(2_000);
    st.max_output_bytes = st.max_output_bytes.min(1 << 20);
    st.max_value_len = st.max_value_len.min(100_000);
    st.max_call_depth = st.max_call_depth.min(200);
    s
}

/// Everything a user can do with an input, in process; true if it loaded.
fn exercise(name: &str, text: &str) -> bool {
    let s = match scenario::parse(name, text) {
        Ok(s) => s,
        Err(e) => {
            let _ = e.to_string();
            return false;
        }
    };
    let printed = scenario::print(&s);
    let _ = scenario::parse(name, &printed);
    let s = tight(s);
    let mut traces = Vec::new();
    for v in s.variants.iter().take(4) {
        let r = scenario::run_variant(&s, &v.name, None, None, true);
        // Again with blocks of one task id, so every finished task gives its
        // slot up at once: nothing the run shows may change.
        loopsim::task_block_bits_on_this_thread(Some(0));
        let retiring = scenario::run_variant(&s, &v.name, None, None, true);
        loopsim::task_block_bits_on_this_thread(None);
        assert!(
            retiring.run.trace.to_jsonl() == r.run.trace.to_jsonl(),
            "{name} [{}]: the trace changes when finished tasks give up their slots",
            v.name
        );
        let t = r.run.trace;
        let _ = SequenceText { detail: true }.render(&t);
        let _ = Mermaid::default().render(&t);
        let _ = ChromeTrace.render(&t);
        let _ = t.to_jsonl();
        let _ = scenario::python::to_python(&s, &v.name);
        traces.push((v.name.clone(), t));
    }
    let panels: Vec<loopsim::render::Panel<'_>> = traces
        .iter()
        .map(|(v, t)| loopsim::render::Panel {
            title: v.clone(),
            trace: t,
        })
        .collect();
    let _ = Timeline::default().render_panels(name, &panels);
    let _ = loopsim::scenario::verify::check_scenario(&s, None, None);
    true
}

/// Peak resident memory of this process, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

// The wall clock times the fuzzer itself (hang detection, --seconds), never
// a simulation.
#[allow(clippy::disallowed_methods)]
fn main() {
    let o = options();
    std::fs::create_dir_all(&o.out).expect("the output directory");
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let corpus = corpus();
    let words = words(&corpus);
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let start = std::time::Instant::now();
    let (mut cases, mut findings, mut slowest) = (0u64, 0u64, Duration::ZERO);
    let mut loaded = 0u64;
    let current = o.out.join("current.toml");
    while cases < o.cases && start.elapsed().as_secs() < o.seconds {
        let (name, base) = pick(&mut rng, &corpus).clone();
        let mut text = base;
        for _ in 0..*pick(&mut rng, &[1u8, 1, 1, 1, 2, 2, 3, 4]) {
            text = mutate(&mut rng, &text, &corpus, &words);
        }
        // Left behind if a stack overflow or the OOM killer ends the process.
        let _ = std::fs::write(&current, &text);
        let before = PANICS.load(Ordering::SeqCst);
        let t0 = std::time::Instant::now();
        let caught = std::panic::catch_unwind(|| exercise(&name, &text));
        let took = t0.elapsed();
        slowest = slowest.max(took);
        loaded += u64::from(matches!(caught, Ok(true)));
        let panicked = caught.is_err() || PANICS.load(Ordering::SeqCst) != before;
        let hung = took > o.hang;
        if panicked || hung {
            findings += 1;
            let kind = if panicked { "panic" } else { "hang" };
            let path = o.out.join(format!("{kind}-{cases}-{name}"));
            let _ = std::fs::write(&path, &text);
            eprintln!(
                "finding: {kind} on case {cases} ({took:?}), input saved to {}",
                path.display()
            );
        }
        cases += 1;
        if cases.is_multiple_of(100_000) {
            eprintln!(
                "{cases} cases, {findings} findings, {:.0} s, slowest {slowest:?}, peak {} MiB",
                start.elapsed().as_secs_f64(),
                peak_rss_mib()
            );
        }
    }
    let _ = std::fs::remove_file(&current);
    let rss = peak_rss_mib();
    let over = rss > o.max_rss_mib;
    println!(
        "fuzz_scenarios: {cases} cases ({loaded} loaded and ran) from {} seed files in {:.1} s (seed {}): {findings} panics or hangs, slowest case {slowest:?}, peak memory {rss} MiB{}",
        corpus.len(),
        start.elapsed().as_secs_f64(),
        o.seed,
        if over { " (over the limit)" } else { "" }
    );
    if findings > 0 || over {
        std::process::exit(1);
    }
}
