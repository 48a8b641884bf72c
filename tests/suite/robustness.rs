//! Bad input never crashes: scenario files with random edits parse to a
//! scenario or to diagnostics, and whatever parses runs to an outcome under
//! tight limits — no panic, no hang.

use crate::scenarios::all_scenarios;
use loopsim::scenario;
use proptest::prelude::*;
use std::time::Duration;

fn sources() -> Vec<(String, String)> {
    all_scenarios()
        .into_iter()
        .map(|s| {
            let text = std::fs::read_to_string(&s.file).unwrap();
            (s.file, text)
        })
        .collect()
}

/// One random edit: delete, duplicate or replace a span of characters.
fn edit(text: &str, at: usize, len: usize, kind: u8, with: char) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = at % chars.len().max(1);
    let end = (at + len).min(chars.len());
    let mut out: Vec<char> = chars[..at].to_vec();
    match kind % 3 {
        0 => {}
        1 => {
            out.extend_from_slice(&chars[at..end]);
            out.extend_from_slice(&chars[at..end]);
        }
        _ => out.push(with),
    }
    out.extend_from_slice(&chars[end..]);
    out.into_iter().collect()
}

fn tight(mut s: scenario::Scenario) -> scenario::Scenario {
    s.settings.limits.max_steps = 20_000;
    s.settings.limits.max_tasks = 2_000;
    s.settings.limits.max_time = Duration::from_secs(3600);
    s.settings.max_output_lines = 2_000;
    s
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("LOOPSIM_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).map(|n: u32| n * 8).unwrap_or(300),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn edited_scenarios_parse_or_report_never_panic(
        file in 0usize..1000,
        at in 0usize..10_000,
        len in 0usize..12,
        kind in any::<u8>(),
        with in prop::sample::select(vec!['"', '[', ']', '{', '}', '=', ',', '\n', '-', '0', 'x', '(', ')', '\'', '#']),
    ) {
        let srcs = sources();
        let (name, text) = &srcs[file % srcs.len()];
        let edited = edit(text, at, len, kind, with);
        match scenario::parse(name, &edited) {
            Ok(s) => {
                // Whatever parses prints back to a file that parses to the same scenario.
                let printed = scenario::print(&s);
                match scenario::parse(name, &printed) {
                    Ok(back) => prop_assert_eq!(back.without_positions(), s.without_positions(), "round trip of an edit of {}", name),
                    Err(e) => prop_assert!(false, "printed edit of {} does not parse: {}\n{}", name, e, printed),
                }
                let s = tight(s);
                for v in &s.variants {
                    let r = scenario::run_variant(&s, &v.name, None, None, false);
                    if let loopsim::Outcome::Failed(loopsim::Error::Panic(p)) = &r.run.outcome {
                        prop_assert!(false, "interpreter panicked on an edit of {}: {}", name, p);
                    }
                }
            }
            Err(e) => {
                prop_assert!(!e.diagnostics.is_empty(), "an error without diagnostics for {}", name);
                for d in &e.diagnostics {
                    prop_assert!(d.line >= 1, "diagnostic without a line: {}", d);
                }
            }
        }
    }
}
