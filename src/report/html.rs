//! The HTML report: one self-contained page per scenario (inline SVG
//! timelines, the run's events as JSON, a small inline script, no network),
//! and an index page for the gallery.
//!
//! What the page lets a reader do, all in the small script at its end:
//! - **hover** a span, marker, label or arrow: the box at the bottom shows
//!   its tooltip and the trace's events it covers (a task's span: that
//!   task's events from the span's first event to its last);
//! - **click** a task (its name or any of its spans): its wake-up chain is
//!   highlighted — who woke it, who woke that one, and so on back to the
//!   loop, and whom it woke — and the other lanes fade;
//! - **zoom**: double-click a point to zoom in four times there, pick an
//!   instant from the list to zoom into it, or use the buttons; the
//!   picture stretches sideways while its text keeps its shape;
//! - **switch variants**: all panels stacked on one axis, or one variant
//!   alone on an axis of its own.
//!
//! The page is byte-stable: the same report gives the same bytes.

use super::ScenarioReport;
use crate::render::{Renderer, SequenceText};
use crate::scenario::verify::describe;
use std::fmt::Write;

/// Events embedded per run at most; past that, the page says where the
/// rest is (the trace file).
pub const MAX_EVENTS: usize = 5000;
/// Sequence diagrams longer than this many bytes are left out of the page.
const MAX_SEQUENCE: usize = 200_000;

/// `s` escaped for HTML text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A run's events as a JSON array of the trace's event objects (the JSON
/// Lines trace without its header), at most [`MAX_EVENTS`], safe inside a
/// `<script>` element.
fn events_json(trace: &crate::trace::Trace) -> String {
    let jsonl = String::from_utf8_lossy(&trace.to_jsonl()).into_owned();
    let lines: Vec<&str> = jsonl.lines().skip(1).take(MAX_EVENTS).collect();
    // `<`, `>` and `&` appear only inside JSON strings: as escapes there,
    // no printed text can end or confuse the `<script>` element.
    format!("[{}]", lines.join(",\n"))
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The scenario's page. `links` says whether the gallery's files sit beside
/// it (the sequence and trace files are then linked).
pub fn page(r: &ScenarioReport, links: bool) -> String {
    let mut h = String::new();
    let title = format!("{} — {}", r.name, r.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"loopsim\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{PAGE_STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(h, "<header>\n<h1>{}</h1>", esc(&title));
    if let Some(src) = &r.source {
        let _ = writeln!(h, "<p class=\"source\">Source: {}</p>", esc(src));
    }
    if let Some(d) = &r.description {
        let _ = writeln!(h, "<p class=\"description\">{}</p>", esc(d.trim()));
    }
    let _ = writeln!(
        h,
        "<p class=\"replay\">Replay: <code>loopsim run {}</code></p>\n</header>",
        esc(&r.file)
    );
    // The controls.
    let _ = writeln!(h, "<nav id=\"controls\">");
    if r.runs.len() > 1 {
        let _ = write!(
            h,
            "<span class=\"group\">variant: <button type=\"button\" class=\"variant on\" data-view=\"all\">all, on one axis</button>"
        );
        for (i, run) in r.runs.iter().enumerate() {
            let _ = write!(
                h,
                " <button type=\"button\" class=\"variant\" data-view=\"{i}\">{}</button>",
                esc(&run.variant)
            );
        }
        let _ = writeln!(h, "</span>");
    }
    let _ = writeln!(
        h,
        "<span class=\"group\">zoom: <button type=\"button\" id=\"zoom-in\">+</button> \
         <button type=\"button\" id=\"zoom-out\">−</button> \
         <button type=\"button\" id=\"zoom-reset\">reset</button> \
         <select id=\"instants\"><option value=\"\">zoom into an instant…</option></select></span>\n\
         <span class=\"group\"><button type=\"button\" id=\"critical\" class=\"on\">critical path</button> \
         <button type=\"button\" id=\"clear\">clear highlight</button></span>\n</nav>"
    );
    // The pictures: all variants on one axis, then each alone.
    let all: Vec<String> = (0..r.runs.len()).map(|i| i.to_string()).collect();
    let _ = writeln!(
        h,
        "<main>\n<section class=\"view\" data-view=\"all\" data-runs=\"{}\">\n<div class=\"scroll\">\n{}</div>\n</section>",
        all.join(","),
        svg_body(&r.timeline_svg())
    );
    if r.runs.len() > 1 {
        for i in 0..r.runs.len() {
            let _ = writeln!(
                h,
                "<section class=\"view\" data-view=\"{i}\" data-runs=\"{i}\" hidden>\n<div class=\"scroll\">\n{}</div>\n</section>",
                svg_body(&r.variant_svg(i))
            );
        }
    }
    let _ = writeln!(h, "</main>");
    let _ = writeln!(
        h,
        "<aside id=\"info\" aria-live=\"polite\"><p class=\"hint\">Hover a span, marker, label or arrow to see its events; \
         click a task to highlight its wake-up chain; double-click the picture to zoom in there.</p></aside>"
    );
    // Claims.
    let _ = writeln!(h, "<section id=\"claims\">\n<h2>Claims</h2>");
    if r.verdicts.is_empty() {
        let _ = writeln!(h, "<p>No claims were checked.</p>");
    } else {
        let _ = writeln!(h, "<ul>");
        for v in &r.verdicts {
            let (mark, class) = if v.verdict.holds {
                ("✔", "ok")
            } else {
                ("✘", "fail")
            };
            let seeds = if v.seeds_checked > 1 {
                format!(" (over {} seeds)", v.seeds_checked)
            } else {
                String::new()
            };
            let _ = writeln!(
                h,
                "<li class=\"{class}\">{mark} [{}] {}{seeds} — observed: {}</li>",
                esc(&v.variant),
                esc(&describe(&v.claim.kind)),
                esc(&v.verdict.observed)
            );
        }
        let _ = writeln!(h, "</ul>");
    }
    let _ = writeln!(h, "</section>");
    // Each variant's sequence diagram, and its files.
    for run in &r.runs {
        let seq = SequenceText { detail: false }.render(&run.trace);
        let _ = writeln!(
            h,
            "<section class=\"sequence\">\n<h2>Variant <code>{}</code>: the event loop, step by step</h2>",
            esc(&run.variant)
        );
        if seq.len() <= MAX_SEQUENCE {
            let _ = writeln!(
                h,
                "<details><summary>the sequence diagram</summary>\n<pre>{}</pre>\n</details>",
                esc(&String::from_utf8_lossy(&seq))
            );
        } else {
            let _ = writeln!(
                h,
                "<p>The sequence diagram is long ({} KiB): see <code>loopsim run {} --variant {} --format sequence</code>.</p>",
                seq.len() / 1024,
                esc(&r.file),
                esc(&run.variant)
            );
        }
        if links {
            let v = esc(&run.variant);
            let _ = writeln!(
                h,
                "<p>Files: <a href=\"{v}.sequence.txt\">sequence</a> · <a href=\"{v}.mmd\">Mermaid</a> · <a href=\"{v}.trace.jsonl\">trace</a></p>"
            );
        }
        let _ = writeln!(h, "</section>");
    }
    for (i, run) in r.runs.iter().enumerate() {
        let n = run.trace.events.len();
        let _ = writeln!(
            h,
            "<script type=\"application/json\" class=\"events\" data-run=\"{i}\" data-total=\"{n}\">{}</script>",
            events_json(&run.trace)
        );
    }
    let _ = write!(h, "<script>\n{PAGE_SCRIPT}</script>\n</body>\n</html>\n");
    h
}

/// The gallery's index page: every scenario, its claims' tally, its
/// timeline (the file beside its page) and a link to its page.
pub fn index(reports: &[ScenarioReport]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"generator\" content=\"loopsim\">\n<title>loopsim gallery</title>\n<style>\n{PAGE_STYLE}{INDEX_STYLE}</style>\n</head>\n<body>\n\
         <header><h1>loopsim gallery</h1>\n<p>Every scenario of <code>sim-scenarios/</code>, replayed on loopsim's virtual clock. \
         Each page is interactive: hover, click a task, zoom into an instant, switch variants.</p></header>\n<main class=\"index\">\n"
    );
    for r in reports {
        let failed = r.failures().count();
        let passed = r.verdicts.len() - failed;
        let class = if failed > 0 { "fail" } else { "ok" };
        let _ = writeln!(
            h,
            "<article>\n<h2><a href=\"{n}/report.html\">{n}</a> — {}</h2>\n<p class=\"{class}\">Claims: {passed} of {} hold.</p>\n\
             <a class=\"thumb\" href=\"{n}/report.html\"><img src=\"{n}/timeline.svg\" alt=\"{n} timeline\" loading=\"lazy\"></a>\n</article>",
            esc(&r.title),
            r.verdicts.len(),
            n = esc(&r.name)
        );
    }
    let _ = write!(h, "</main>\n</body>\n</html>\n");
    h
}

/// An SVG file's text from its `<svg` on (the XML prolog and marks left
/// out), for inlining.
fn svg_body(svg: &[u8]) -> String {
    let s = String::from_utf8_lossy(svg);
    match s.find("<svg") {
        Some(i) => s[i..].to_string(),
        None => s.into_owned(),
    }
}

const PAGE_STYLE: &str = r#"body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 0 0 34vh 0; color: #111; }
header, #claims, .sequence, nav { margin: 0 16px; }
h1 { font-size: 20px; margin: 14px 0 6px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
.description { white-space: pre-wrap; color: #333; max-width: 70em; }
.source, .replay { color: #444; font-size: 13px; }
nav { position: sticky; top: 0; background: #fff; padding: 6px 0; border-bottom: 1px solid #ddd; z-index: 2; font-size: 13px; }
nav .group { margin-right: 18px; }
nav button.on { background: #1f4e9c; color: #fff; }
.scroll { overflow-x: auto; margin: 6px 16px; border: 1px solid #eee; }
.scroll svg { display: block; }
svg line, svg polygon, svg rect { vector-effect: non-scaling-stroke; }
svg g.instant rect, svg g.break rect, svg g.partition rect, svg g.partition line { pointer-events: none; }
svg g.lane { cursor: pointer; transition: opacity 0.15s; }
svg.selecting g.lane { opacity: 0.25; }
svg.selecting g.lane.chain { opacity: 1; }
svg.selecting g.wake { opacity: 0.15; }
svg.selecting g.wake.chain { opacity: 1; }
svg g.wake.chain line { stroke: #d62728; stroke-width: 2.5; opacity: 1; }
svg g.wake.chain polygon { fill: #d62728; opacity: 1; }
svg g.hover rect, svg g.hover polygon { stroke: #000; stroke-width: 1.5; }
svg.hide-critical g.critical { display: none; }
#info { position: fixed; left: 0; right: 0; bottom: 0; max-height: 32vh; overflow: auto; background: #fbfbfb; border-top: 2px solid #1f4e9c; padding: 6px 16px; font-size: 12.5px; z-index: 3; }
#info pre { margin: 2px 0; white-space: pre-wrap; }
#info pre.title { font-weight: bold; font-size: 13px; }
#info ol { margin: 4px 0; padding-left: 1.5em; font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
#claims li.fail { color: #a00; }
.sequence pre { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; overflow-x: auto; }
"#;

const INDEX_STYLE: &str = r#".index { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 16px; }
.index article { width: 560px; border: 1px solid #ddd; padding: 4px 10px 10px; }
.index a.thumb { display: block; max-height: 380px; overflow: hidden; border: 1px solid #eee; }
.index img { width: 100%; display: block; }
.index p.fail { color: #a00; }
"#;

/// The page's script: hover, chains, zoom, variants (see the module's notes).
const PAGE_SCRIPT: &str = r#"(function () {
  'use strict';
  const runs = Array.from(document.querySelectorAll('script.events')).map(s => ({
    events: JSON.parse(s.textContent), total: Number(s.dataset.total) }));
  const info = document.getElementById('info');
  const HOVER = 'g.span,g.marker,g.label,g.wake,g.loop,g.work,g.load,g.message,g.partition,' +
    'g.deadlock,g.legend,g.name,g.bar,g.density,g.break,g.critical,g.caption';
  function visible() { return document.querySelector('section.view:not([hidden])'); }
  function runOf(g) {
    const panel = g.closest('g.panel');
    const section = g.closest('section.view');
    if (!panel || !section) return null;
    const map = section.dataset.runs.split(',').map(Number);
    const r = map[Number(panel.dataset.panel)];
    return r === undefined ? null : r;
  }
  function time(ns) {
    if (ns === 0) return '0s';
    const units = [[1e9, 's'], [1e6, 'ms'], [1e3, 'us'], [1, 'ns']];
    for (const [u, name] of units) {
      if (ns >= u || u === 1) return (Math.round(ns / u * 1e6) / 1e6) + name;
    }
    return ns + 'ns';
  }
  function describe(e) {
    const skip = ['seq', 't', 'iter', 'task', 'event'];
    const rest = Object.keys(e).filter(k => !skip.includes(k)).map(k => {
      const v = e[k];
      return k + '=' + (typeof v === 'string' ? v : JSON.stringify(v));
    }).join(' ');
    const who = e.task ? ' task ' + e.task : '';
    return '#' + e.seq + ' ' + time(e.t) + who + ' ' + e.event + (rest ? ' ' + rest : '');
  }
  function eventsOf(g) {
    const r = runOf(g);
    if (r === null || g.dataset.seqFrom === undefined) return null;
    const a = Number(g.dataset.seqFrom), b = Number(g.dataset.seqTo);
    const task = g.dataset.task ? Number(g.dataset.task) : null;
    const run = runs[r];
    const list = run.events.filter(e => e.seq >= a && e.seq <= b && (task === null || e.task === task));
    return { list: list, cut: b >= run.events.length && run.total > run.events.length };
  }
  let hovered = null;
  function show(g) {
    if (hovered) hovered.classList.remove('hover');
    hovered = g;
    g.classList.add('hover');
    const title = g.querySelector(':scope > title');
    info.textContent = '';
    const head = document.createElement('pre');
    head.className = 'title';
    head.textContent = title ? title.textContent : '';
    info.appendChild(head);
    const ev = eventsOf(g);
    if (ev && ev.list.length) {
      const ol = document.createElement('ol');
      ol.start = ev.list[0].seq;
      ev.list.slice(0, 300).forEach(e => {
        const li = document.createElement('li');
        li.value = e.seq;
        li.textContent = describe(e);
        ol.appendChild(li);
      });
      info.appendChild(ol);
      if (ev.list.length > 300) {
        const p = document.createElement('p');
        p.textContent = '… and ' + (ev.list.length - 300) + ' more events';
        info.appendChild(p);
      }
    }
    if (ev && ev.cut) {
      const p = document.createElement('p');
      p.textContent = 'The page holds the first ' + runs[runOf(g)].events.length +
        ' events of this run; the trace file has all of them.';
      info.appendChild(p);
    }
  }
  document.addEventListener('mouseover', e => {
    const g = e.target.closest ? e.target.closest(HOVER) : null;
    if (g) show(g);
  });
  // Wake-up chains.
  function clear(svg) {
    svg.classList.remove('selecting');
    svg.querySelectorAll('.chain').forEach(x => x.classList.remove('chain'));
  }
  function select(panel, task) {
    const svg = panel.ownerSVGElement;
    clear(svg);
    svg.classList.add('selecting');
    const wakes = Array.from(panel.querySelectorAll('g.wake'));
    const tasks = new Set([task]);
    wakes.forEach(w => {
      if (Number(w.dataset.from) === task) { w.classList.add('chain'); tasks.add(Number(w.dataset.to)); }
    });
    const todo = [task], seen = new Set([task]);
    while (todo.length) {
      const t = todo.pop();
      wakes.forEach(w => {
        if (Number(w.dataset.to) !== t) return;
        w.classList.add('chain');
        const f = Number(w.dataset.from);
        if (f && !seen.has(f)) { seen.add(f); tasks.add(f); todo.push(f); }
      });
    }
    panel.querySelectorAll('g.lane').forEach(l => {
      if (tasks.has(Number(l.dataset.task))) l.classList.add('chain');
    });
    const names = Array.from(panel.querySelectorAll('g.lane.chain')).map(l => l.dataset.name);
    info.textContent = '';
    const head = document.createElement('pre');
    head.className = 'title';
    const n = panel.querySelectorAll('g.wake.chain').length;
    head.textContent = 'wake-up chain of task #' + task + ': ' + n + ' wake-ups between ' + names.join(', ');
    info.appendChild(head);
  }
  document.addEventListener('click', e => {
    const lane = e.target.closest ? e.target.closest('g.lane') : null;
    if (!lane) return;
    select(lane.closest('g.panel'), Number(lane.dataset.task));
  });
  document.getElementById('clear').addEventListener('click', () => {
    document.querySelectorAll('section.view svg').forEach(clear);
  });
  document.getElementById('critical').addEventListener('click', e => {
    const on = !e.currentTarget.classList.contains('on');
    e.currentTarget.classList.toggle('on', on);
    document.querySelectorAll('section.view svg').forEach(s => s.classList.toggle('hide-critical', !on));
  });
  // Zoom: the picture stretches sideways; its text keeps its shape.
  function zoom(section, k, at) {
    const svg = section.querySelector('svg');
    const scroll = section.querySelector('.scroll');
    if (!svg.dataset.w0) svg.dataset.w0 = svg.getAttribute('width');
    const w0 = Number(svg.dataset.w0);
    k = Math.max(1, Math.min(128, k));
    svg.dataset.k = k;
    svg.setAttribute('width', w0 * k);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.querySelectorAll('text').forEach(t => {
      const x = t.getAttribute('x');
      if (k === 1) t.removeAttribute('transform');
      else t.setAttribute('transform', 'translate(' + x + ' 0) scale(' + (1 / k) + ' 1) translate(' + (-x) + ' 0)');
    });
    scroll.scrollLeft = at * w0 * k - scroll.clientWidth / 2;
  }
  function factor(section) { return Number(section.querySelector('svg').dataset.k || 1); }
  function centre(section) {
    const svg = section.querySelector('svg'), scroll = section.querySelector('.scroll');
    return (scroll.scrollLeft + scroll.clientWidth / 2) / svg.getBoundingClientRect().width;
  }
  document.getElementById('zoom-in').addEventListener('click', () => {
    const s = visible(); zoom(s, factor(s) * 2, centre(s));
  });
  document.getElementById('zoom-out').addEventListener('click', () => {
    const s = visible(); zoom(s, factor(s) / 2, centre(s));
  });
  document.getElementById('zoom-reset').addEventListener('click', () => zoom(visible(), 1, 0));
  document.addEventListener('dblclick', e => {
    const section = e.target.closest ? e.target.closest('section.view') : null;
    if (!section) return;
    const r = section.querySelector('svg').getBoundingClientRect();
    zoom(section, factor(section) * 4, (e.clientX - r.left) / r.width);
  });
  const picker = document.getElementById('instants');
  function fillInstants() {
    while (picker.options.length > 1) picker.remove(1);
    const s = visible();
    s.querySelectorAll('g.instant').forEach((g, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = g.querySelector('title').textContent.split(':')[0] + ' (' +
        g.querySelector('title').textContent.split(': ')[1].split(' ')[0] + ' events)';
      picker.appendChild(o);
    });
  }
  picker.addEventListener('change', () => {
    if (picker.value === '') return;
    const s = visible();
    const g = s.querySelectorAll('g.instant')[Number(picker.value)];
    const r = g.querySelector('rect');
    const svg = s.querySelector('svg');
    const w0 = Number(svg.dataset.w0 || svg.getAttribute('width'));
    const x = Number(r.getAttribute('x')), w = Math.max(1, Number(r.getAttribute('width')));
    zoom(s, 0.6 * w0 / w, (x + w / 2) / w0);
  });
  // Variants.
  document.querySelectorAll('button.variant').forEach(b => b.addEventListener('click', () => {
    document.querySelectorAll('button.variant').forEach(x => x.classList.toggle('on', x === b));
    document.querySelectorAll('section.view').forEach(s => { s.hidden = s.dataset.view !== b.dataset.view; });
    fillInstants();
  }));
  fillInstants();
  document.body.dataset.ready = 'yes';
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ScenarioReport, VariantRun};
    use crate::{Sim, print, sleep};
    use std::time::Duration;

    fn report(line: &'static str) -> ScenarioReport {
        let trace = Sim::builder()
            .build()
            .run(async move {
                sleep(Duration::from_millis(5)).await;
                print(line);
            })
            .trace;
        ScenarioReport {
            name: "t<1>".into(),
            title: "a & b".into(),
            source: None,
            description: None,
            file: "t.toml".into(),
            runs: vec![VariantRun {
                variant: "main".into(),
                trace,
            }],
            verdicts: Vec::new(),
        }
    }

    #[test]
    fn printed_text_cannot_end_the_pages_scripts_or_open_a_tag() {
        let line = "</script><script>alert(1)</script><b>";
        let page = page(&report(line), false);
        // The page's own scripts: one for the events, one for the code.
        assert_eq!(page.matches("</script>").count(), 2, "{page}");
        assert!(!page.contains("<b>") && !page.contains("<script>alert"));
        assert!(page.contains("<title>t&lt;1&gt; — a &amp; b</title>"));
        // The line is still there, as text.
        assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(1)"));
    }

    #[test]
    fn a_page_is_byte_stable_and_fetches_nothing() {
        let (a, b) = (page(&report("x"), true), page(&report("x"), true));
        assert_eq!(a, b);
        for bad in ["src=\"http", "href=\"http", "@import", "url("] {
            assert!(!a.contains(bad), "{bad}");
        }
    }
}
