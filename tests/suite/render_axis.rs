//! The timeline's default axis, time and order together: on the scenarios
//! whose point is an order at one instant (equal deadlines, float
//! deadlines, an exact `wait_for` tie), the wake-ups and printed lines read
//! left to right in the order the trace has them. The gallery's committed
//! timelines are the golden files.

use crate::scenarios::scenario_dir;
use loopsim::report::ScenarioReport;
use loopsim::scenario;
use loopsim::trace::{EventKind, Trace};
use roxmltree::{Document, Node};
use std::collections::BTreeMap;
use std::path::Path;

const TIES: [&str; 3] = [
    "equal_deadline_ties",
    "float_deadlines",
    "wait_for_exact_tie",
];

fn report(name: &str) -> ScenarioReport {
    let s = scenario::load(&scenario_dir().join(format!("{name}.toml"))).unwrap();
    ScenarioReport::build(&s)
}

/// The x where a group's first line, polygon, rect or text sits.
fn x_of(g: Node<'_, '_>) -> f64 {
    let shape = g
        .descendants()
        .find(|n| n.has_tag_name("line") || n.has_tag_name("text") || n.has_tag_name("rect"))
        .unwrap_or_else(|| panic!("an empty group: {g:?}"));
    let attr = if shape.has_tag_name("line") {
        "x1"
    } else {
        "x"
    };
    shape.attribute(attr).unwrap().parse().unwrap()
}

fn class<'a, 'i>(root: Node<'a, 'i>, class: &str) -> Vec<Node<'a, 'i>> {
    root.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("class") == Some(class))
        .collect()
}

/// The text a label shows (its `<text>`, trimmed).
fn shown(g: Node<'_, '_>) -> String {
    g.descendants()
        .find(|n| n.has_tag_name("text"))
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Per instant (ns) with at least two wake-ups in `trace`: the woken tasks,
/// in the trace's order.
fn wake_order(trace: &Trace) -> BTreeMap<u64, Vec<u32>> {
    let mut at: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for e in &trace.events {
        if let (EventKind::Woken { .. }, Some(t)) = (&e.kind, e.task) {
            at.entry(e.at.as_nanos()).or_default().push(t.0);
        }
    }
    at.retain(|_, v| v.len() >= 2);
    at
}

/// The lines printed at instant `t`, in the trace's order.
fn printed_at(trace: &Trace, t: u64) -> Vec<String> {
    trace
        .events
        .iter()
        .filter(|e| e.at.as_nanos() == t)
        .filter_map(|e| match e.kind {
            EventKind::Output { text } => Some(trace.str(text).to_string()),
            _ => None,
        })
        .collect()
}

/// The x range of the bracket that opens instant `t`.
fn bracket(doc: &Document<'_>, t: u64) -> (f64, f64) {
    let g = class(doc.root(), "instant")
        .into_iter()
        .find(|g| g.attribute("data-at") == Some(t.to_string().as_str()))
        .unwrap_or_else(|| panic!("no bracket opens the instant {t} ns"));
    let r = g.descendants().find(|n| n.has_tag_name("rect")).unwrap();
    let x: f64 = r.attribute("x").unwrap().parse().unwrap();
    let w: f64 = r.attribute("width").unwrap().parse().unwrap();
    (x, x + w)
}

#[test]
fn tie_scenarios_timelines_match_the_committed_gallery() {
    for name in TIES {
        let svg = report(name).timeline_svg();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("reports")
            .join(name)
            .join("timeline.svg");
        let want = std::fs::read(&path).unwrap();
        assert!(
            svg == want,
            "{name}: the timeline differs from {} (regenerate the gallery with `loopsim report`, and look at it)",
            path.display()
        );
    }
}

#[test]
fn tie_wake_ups_and_prints_read_left_to_right_in_the_traces_order() {
    for name in TIES {
        let r = report(name);
        let svg = String::from_utf8(r.timeline_svg()).unwrap();
        let doc = Document::parse(&svg).unwrap();
        let panels = class(doc.root(), "panel");
        assert_eq!(panels.len(), r.runs.len(), "{name}: a panel per variant");
        let mut orders = Vec::new();
        for (panel, run) in panels.iter().zip(&r.runs) {
            let ties = wake_order(&run.trace);
            for (t, want) in ties {
                let (x0, x1) = bracket(&doc, t);
                let mut drawn: Vec<(f64, u32)> = class(*panel, "wake")
                    .into_iter()
                    .map(|g| (x_of(g), g.attribute("data-to").unwrap().parse().unwrap()))
                    .filter(|(x, _)| (x0..=x1).contains(x))
                    .collect();
                drawn.sort_by(|a, b| a.0.total_cmp(&b.0));
                let got: Vec<u32> = drawn.iter().map(|d| d.1).collect();
                // A wake-up of a task by itself, or while it runs, has no
                // arrow: compare with the ones drawn, which must be most.
                let want: Vec<u32> = want.into_iter().filter(|t| got.contains(t)).collect();
                assert!(
                    got.len() >= 2,
                    "{name}/{}: arrows at {t} ns: {got:?}",
                    run.variant
                );
                assert_eq!(
                    got, want,
                    "{name}/{}: wake-ups at {t} ns, left to right vs the trace",
                    run.variant
                );
                // No two wake-ups of one instant share an x.
                assert!(
                    drawn.windows(2).all(|w| w[0].0 < w[1].0),
                    "{name}/{}: wake-ups at {t} ns overlap: {drawn:?}",
                    run.variant
                );
                let printed = printed_at(&run.trace, t);
                let mut labels: Vec<(f64, String)> = class(*panel, "label")
                    .into_iter()
                    .map(|g| (x_of(g), shown(g)))
                    .filter(|(x, l)| (x0..=x1).contains(x) && printed.contains(l))
                    .collect();
                labels.sort_by(|a, b| a.0.total_cmp(&b.0));
                let labels: Vec<String> = labels.into_iter().map(|l| l.1).collect();
                let printed: Vec<String> =
                    printed.into_iter().filter(|p| labels.contains(p)).collect();
                assert_eq!(
                    labels, printed,
                    "{name}/{}: printed lines at {t} ns, left to right vs the trace",
                    run.variant
                );
                orders.push(got);
            }
        }
        assert!(!orders.is_empty(), "{name}: no tie to show");
        if name != "wait_for_exact_tie" {
            // The point of the picture: the two models' orders differ.
            assert!(
                orders.windows(2).any(|w| w[0] != w[1]),
                "{name}: every panel shows the same order: {orders:?}"
            );
        }
    }
}

/// Every gallery timeline (`report --check` keeps them current), by name.
fn gallery() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path().join("timeline.svg");
        if let Ok(svg) = std::fs::read_to_string(&path) {
            out.push((path.display().to_string(), svg));
        }
    }
    out.sort();
    assert!(out.len() >= 40, "the gallery has {} timelines", out.len());
    out
}

#[test]
fn every_span_marker_and_label_has_a_tooltip() {
    for (name, svg) in gallery() {
        let doc = Document::parse(&svg).unwrap();
        let mut seen = BTreeMap::new();
        for g in doc.descendants().filter(|n| n.has_tag_name("g")) {
            let c = g.attribute("class").unwrap_or("");
            let title = g
                .first_element_child()
                .filter(|t| t.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or("");
            assert!(
                !title.trim().is_empty(),
                "{name}: a {c:?} group without a title"
            );
            *seen.entry(c.to_string()).or_insert(0) += 1;
        }
        for c in ["span", "marker", "loop", "legend", "name"] {
            assert!(
                seen.get(c).is_some_and(|n| *n > 0),
                "{name}: no {c} group: {seen:?}"
            );
        }
        // Nothing drawn for a task or a resource outside a titled group:
        // every shape in a panel is inside some group below the panel's.
        for panel in class(doc.root(), "panel") {
            for shape in panel.descendants().filter(|n| {
                n.has_tag_name("polygon") || n.has_tag_name("line") || n.has_tag_name("text")
            }) {
                let inner = shape
                    .ancestors()
                    .filter(|a| a.has_tag_name("g"))
                    .take_while(|a| *a != panel)
                    .count();
                let what = shape.text().unwrap_or("").trim();
                let structural = ["event loop", "services & pools"].contains(&what)
                    || panel.children().any(|c| c == shape);
                assert!(
                    inner > 0 || structural,
                    "{name}: an untitled {:?} {what:?}",
                    shape.tag_name().name()
                );
            }
        }
        // Every label's tooltip holds its full text (labels are shortened).
        for g in class(doc.root(), "label") {
            let title = g.first_element_child().and_then(|t| t.text()).unwrap();
            let text = shown(g);
            let stem = text
                .split(" (+")
                .next()
                .unwrap()
                .trim_start_matches("⚠ ")
                .trim_end_matches('…');
            assert!(
                title.contains(stem),
                "{name}: label {text:?} vs its title {title:?}"
            );
        }
    }
}

#[test]
fn a_long_idle_gap_is_drawn_short_with_a_break_mark_and_its_length() {
    use loopsim::render::{Renderer, Timeline};
    let run = loopsim::Sim::builder().build().run(async {
        for ms in [1, 10_000, 2] {
            loopsim::sleep(std::time::Duration::from_millis(ms)).await;
            loopsim::print(format!("after {ms} ms"));
        }
    });
    let svg = String::from_utf8(Timeline::default().render(&run.trace)).unwrap();
    let doc = Document::parse(&svg).unwrap();
    let breaks = class(doc.root(), "break");
    assert_eq!(breaks.len(), 1, "one long gap");
    let title = breaks[0].first_element_child().unwrap().text().unwrap();
    assert!(
        title.starts_with("10s of idle time, from 1ms to 10.001s"),
        "{title}"
    );
    // Its label sits under the axis; the time on each side keeps its ticks.
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(labels.contains(&"10s idle"), "{labels:?}");
    // The 10 s gap takes less room than the 2 ms after it.
    let x = |label: &str| -> f64 {
        let g = class(doc.root(), "label")
            .into_iter()
            .find(|g| shown(*g).starts_with(label))
            .unwrap_or_else(|| panic!("no label {label:?}"));
        x_of(g)
    };
    let (a, b, c) = (x("after 1 ms"), x("after 10000 ms"), x("after 2 ms"));
    assert!(b - a < c - b, "10 s drawn {} px, 2 ms {} px", b - a, c - b);
}
