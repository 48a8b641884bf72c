//! The SVG timeline (plotters, `svg_backend` only: no system fonts, text is
//! written as SVG `<text>`): a lane for the loop (busy / idle / blocked) and
//! one per task (running, ready, waiting on a timer / task / future /
//! primitive / I/O — each its own colour), markers for spawn and for how each
//! task ended, wake-up arrows from the waker to the woken task, printed lines
//! as small labels, a virtual-time axis with sensible units, a legend, and a
//! title. Several panels (the variants of a scenario) stack on one shared time
//! axis, with a bar chart of their elapsed times.
//!
//! A run that uses simulated services or pools also splits a caller's wait
//! into waiting for a server or worker (queued) and being served, marks
//! requests turned away, failed, withdrawn or abandoned, and draws, below
//! the tasks under "services & pools", each resource's load (a stacked
//! step chart of requests in service and waiting, with their counts) and a
//! row per server slot or pool worker (the job served, its caller, and for
//! CPU-bound work the time on the CPU apart from the time waiting for the
//! GIL or a core). A run without them is drawn as before, byte for byte.
//!
//! Zero-length spans (a step takes no virtual time) get a minimum width; the
//! A run on the simulated network tags each task's lane with its host (a
//! coloured `host ·` before the name, one colour per host), draws each
//! message as a thin blue arrow from the writer's lane when it was sent to
//! the reader's lane when it was delivered (to the folded lane when a task
//! is folded; at most [`MAX_FLIGHTS`] per panel, the rest counted as `+N
//! messages`), and shades each partition across the panel, labelled
//! `partition c3 | server`. A run without network events is drawn as
//! before, byte for byte.
//!
//! Zero-length spans (a step takes no virtual time) get a minimum width; the
//! ordinal axis ([`Axis::Steps`]) spreads the events that happen at the same
//! instant so their order is visible. Runs with many tasks keep the first
//! lanes and fold the rest into a density lane, so the file stays small.

use super::Renderer;
pub use super::axis::Axis;
use super::axis::{Layout, Scale, tick_step};
use super::lanes::{
    Deadlock, IoMark, Lane, LaneState, Lanes, ResourceLane, Span, WorkSpan, WorkState, lanes,
};
use crate::time::{Instant, format_nanos};
use crate::trace::Trace;
use plotters::prelude::DrawingBackend;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One panel: a titled run.
#[derive(Clone, Debug)]
pub struct Panel<'a> {
    /// The panel's title (a variant name).
    pub title: String,
    /// The run.
    pub trace: &'a Trace,
}

/// Renders timelines.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    /// The horizontal axis.
    pub axis: Axis,
    /// Task lanes drawn per panel before the rest fold into a density lane.
    pub max_lanes: usize,
    /// Width in pixels.
    pub width: u32,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            axis: Axis::TimeAndOrder,
            max_lanes: 30,
            width: 1200,
        }
    }
}

impl Renderer for Timeline {
    fn render(&self, trace: &Trace) -> Vec<u8> {
        self.render_panels(
            &trace.header.label,
            &[Panel {
                title: String::new(),
                trace,
            }],
        )
    }

    fn extension(&self) -> &'static str {
        "svg"
    }
}

const LEFT: i32 = 230;
const RIGHT: i32 = 24;
const LANE: i32 = 20;
const GAP: i32 = 6;
const TITLE_H: i32 = 58;
const LEGEND_H: i32 = 26;
const AXIS_H: i32 = 34;
const PANEL_HEAD: i32 = 22;
/// The "services & pools" header above the resource lanes.
const RES_HEAD: i32 = 22;
/// A resource's load row (taller than a lane: a strip for the counts, then
/// a step chart).
const LOAD_H: i32 = 32;
/// The load row's strip for the counts.
const COUNTS_H: i32 = 12;
/// Resources with more server slots or workers than this get no worker
/// rows: their load row says it all.
const MAX_WORKER_ROWS: usize = 8;
/// Message arrows drawn per panel at most; the rest are counted.
pub const MAX_FLIGHTS: usize = 300;
/// The colour of message arrows.
const MESSAGE: RGBColor = RGBColor(0x1f, 0x6f, 0xd1);
/// The colour of partition bands.
const PARTITION: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
/// Host tags' colours, by the host's order of first appearance.
const HOSTS: [u32; 8] = [
    0x6a3d9a, 0x1b7837, 0xb35806, 0x2166ac, 0x8c510a, 0x762a83, 0x01665e, 0x9e0142,
];
const FONT: &str = "DejaVu Sans, Verdana, Arial, sans-serif";

pub(super) fn rgb(hex: u32) -> RGBColor {
    RGBColor((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
}

/// The colour of each state.
fn color(s: &LaneState) -> RGBColor {
    rgb(match s {
        LaneState::Running => 0x1f4e9c,
        LaneState::Ready => 0xf2a93b,
        LaneState::Timer => 0x9cc3f5,
        LaneState::Task => 0xc6b3e6,
        LaneState::Future => 0x8fd3c4,
        LaneState::Event => 0xf6c1d8,
        LaneState::Queue => 0xc8a27a,
        LaneState::Lock => 0xe7969c,
        LaneState::Semaphore => 0xba68c8,
        LaneState::Primitive => 0xbdbdbd,
        LaneState::Io => 0xb5dd95,
        LaneState::IoQueued => 0xefe08a,
        LaneState::IoServed => 0x3f9b46,
        LaneState::Blocked => 0xd62728,
        LaneState::Idle => 0xe4e4e4,
    })
}

/// The colour of what a worker or server slot does (serving is the colour
/// of its caller being served).
fn work_color(s: WorkState) -> RGBColor {
    match s {
        WorkState::Serving => color(&LaneState::IoServed),
        WorkState::OnCpu => rgb(0x6a3d9a),
        WorkState::WaitingForCpu => rgb(0xf7b6d2),
        WorkState::Starting => rgb(0xa6a6a6),
    }
}

/// The colour of a mark: red for an error, dark grey for a caller that
/// stopped waiting.
fn mark_color(m: &IoMark) -> RGBColor {
    if m.is_error() {
        rgb(0xc0001a)
    } else {
        rgb(0x555555)
    }
}

/// What the second legend row shows when a run used services or pools.
enum IoKey {
    State(LaneState),
    Work(WorkState),
    Mark(bool),
}

const IO_LEGEND: [(&str, IoKey); 7] = [
    ("I/O: queued", IoKey::State(LaneState::IoQueued)),
    ("I/O: served", IoKey::State(LaneState::IoServed)),
    ("worker on the CPU", IoKey::Work(WorkState::OnCpu)),
    (
        "waiting for the GIL / a core",
        IoKey::Work(WorkState::WaitingForCpu),
    ),
    ("process starting", IoKey::Work(WorkState::Starting)),
    ("rejected / failed", IoKey::Mark(true)),
    ("withdrawn / abandoned", IoKey::Mark(false)),
];

const LEGEND: [(&str, LaneState); 4] = [
    ("running", LaneState::Running),
    ("ready (for the loop)", LaneState::Ready),
    ("blocked (time.sleep)", LaneState::Blocked),
    ("loop idle", LaneState::Idle),
];

/// What a waiting task waits on, each its own colour.
const WAITS: [(&str, LaneState); 8] = [
    ("timer", LaneState::Timer),
    ("task", LaneState::Task),
    ("future", LaneState::Future),
    ("event", LaneState::Event),
    ("queue", LaneState::Queue),
    ("lock", LaneState::Lock),
    ("semaphore", LaneState::Semaphore),
    ("I/O", LaneState::Io),
];

pub(super) type Svg<'a> = SVGBackend<'a>;

/// Marks, in the backend's output, where a group opens (followed by its
/// number) and closes; [`Canvas::finish`] turns them into `<g>` tags. They
/// are private-use characters that [`text`] never lets through.
const GROUP_OPEN: char = '\u{e000}';
const GROUP_CLOSE: char = '\u{e001}';

/// The SVG backend, and the groups that wrap what is drawn between
/// [`Canvas::open`] and [`Canvas::close`]: a `<g>` with a class, data
/// attributes (for the HTML report's script) and a `<title>` (the tooltip).
pub(super) struct Canvas<'a> {
    b: Svg<'a>,
    groups: Vec<String>,
}

impl<'a> std::ops::Deref for Canvas<'a> {
    type Target = Svg<'a>;
    fn deref(&self) -> &Svg<'a> {
        &self.b
    }
}

impl<'a> std::ops::DerefMut for Canvas<'a> {
    fn deref_mut(&mut self) -> &mut Svg<'a> {
        &mut self.b
    }
}

impl<'a> Canvas<'a> {
    fn new(b: Svg<'a>) -> Self {
        Canvas {
            b,
            groups: Vec::new(),
        }
    }

    /// Opens a group of class `class` with `attrs` (`data-task`, …) and the
    /// tooltip `title`.
    fn open(&mut self, class: &str, attrs: &[(&str, String)], title: &str) {
        let mut tag = format!("<g class=\"{class}\"");
        for (k, v) in attrs {
            tag.push_str(&format!(" {k}=\"{}\"", xml_escape(v)));
        }
        tag.push_str(&format!(
            "><title>{}</title>",
            xml_escape(&super::visible(&no_marks(title), true))
        ));
        let k = self.groups.len();
        self.groups.push(tag);
        let style = TextStyle::from((FONT, 1.0).into_font()).color(&BLACK);
        let _ = self
            .b
            .draw_text(&format!("{GROUP_OPEN}{k}"), &style, (0, 0));
    }

    /// Closes the group opened last.
    fn close(&mut self) {
        let style = TextStyle::from((FONT, 1.0).into_font()).color(&BLACK);
        let _ = self.b.draw_text(&GROUP_CLOSE.to_string(), &style, (0, 0));
    }

    /// Ends the drawing; returns the groups to apply to the output with
    /// [`apply_groups`].
    fn finish(mut self) -> Vec<String> {
        let _ = self.b.present();
        self.groups
    }
}

/// The backend's output with each group's marks replaced by its tags.
fn apply_groups(svg: &str, groups: &[String]) -> String {
    let lines: Vec<&str> = svg.split_inclusive('\n').collect();
    let mut out = String::with_capacity(svg.len() + groups.iter().map(String::len).sum::<usize>());
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with("<text") && i + 2 < lines.len() && lines[i + 2] == "</text>\n" {
            let mark = lines[i + 1].trim_end_matches('\n');
            if let Some(k) = mark.strip_prefix(GROUP_OPEN)
                && let Some(tag) = k.parse::<usize>().ok().and_then(|k| groups.get(k))
            {
                out.push_str(tag);
                out.push('\n');
                i += 3;
                continue;
            }
            if mark.len() == GROUP_CLOSE.len_utf8() && mark.starts_with(GROUP_CLOSE) {
                out.push_str("</g>\n");
                i += 3;
                continue;
            }
        }
        out.push_str(lines[i]);
        i += 1;
    }
    out
}

/// `s` with the group marks made harmless.
fn no_marks(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([GROUP_OPEN, GROUP_CLOSE]) {
        s.replace([GROUP_OPEN, GROUP_CLOSE], "\u{fffd}").into()
    } else {
        s.into()
    }
}

/// `s` escaped for XML text and attribute values.
pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
pub(super) fn text(
    b: &mut Svg<'_>,
    s: &str,
    x: i32,
    y: i32,
    size: f64,
    c: RGBColor,
    anchor: (HPos, VPos),
    bold: bool,
) {
    let font = if bold {
        (FONT, size).into_font().style(FontStyle::Bold)
    } else {
        (FONT, size).into_font()
    };
    let style = TextStyle::from(font)
        .color(&c)
        .pos(Pos::new(anchor.0, anchor.1));
    let _ = b.draw_text(&no_marks(&super::visible(s, false)), &style, (x, y));
}

pub(super) fn rect<C: Color>(
    b: &mut Svg<'_>,
    x0: i32,
    y0: i32,
    x1: i32,
    y1: i32,
    c: &C,
    fill: bool,
) {
    let style = ShapeStyle {
        color: c.to_rgba(),
        filled: fill,
        stroke_width: 1,
    };
    let _ = b.draw_rect((x0, y0), (x1, y1), &style, fill);
}

/// Rough width of a label in pixels (no font metrics in an SVG backend).
fn text_width(s: &str, size: f64) -> i32 {
    (s.chars().count() as f64 * size * 0.62).ceil() as i32
}

fn shorten(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

impl Timeline {
    /// Renders panels (variants) stacked on one shared axis, with a bar chart
    /// of their elapsed times when there are several.
    pub fn render_panels(&self, title: &str, panels: &[Panel<'_>]) -> Vec<u8> {
        let laned: Vec<(&Panel<'_>, Lanes)> = panels.iter().map(|p| (p, lanes(p.trace))).collect();
        // A run that takes no virtual time at all is drawn in event order.
        if self.axis == Axis::Time && laned.iter().all(|(_, l)| l.end == Instant::ZERO) {
            let steps = Timeline {
                axis: Axis::Steps,
                ..*self
            };
            return steps.render_panels(title, panels);
        }
        let max = laned
            .iter()
            .map(|(_, l)| match self.axis {
                Axis::Time | Axis::TimeAndOrder => l.end.as_nanos(),
                Axis::Steps => l.events as u64,
            })
            .max()
            .unwrap_or(1)
            .max(1);
        let lanes_in = |l: &Lanes| {
            let shown = l.tasks.len().min(self.max_lanes) as i32;
            let folded = i32::from(l.tasks.len() > self.max_lanes);
            PANEL_HEAD + (1 + shown + folded) * (LANE + GAP) + GAP + resources_height(l)
        };
        let io = laned.iter().any(|(_, l)| !l.resources.is_empty());
        let warned = laned.iter().any(|(_, l)| {
            !l.loop_warnings.is_empty() || l.tasks.iter().any(|t| !t.warnings.is_empty())
        });
        let net = laned
            .iter()
            .any(|(_, l)| !l.messages.is_empty() || !l.partitions.is_empty());
        let legend_h = if io || warned || net {
            3 * LEGEND_H
        } else {
            2 * LEGEND_H
        };
        let bars = if panels.len() > 1 {
            28 + panels.len() as i32 * 24
        } else {
            0
        };
        let height = TITLE_H
            + legend_h
            + laned.iter().map(|(_, l)| lanes_in(l)).sum::<i32>()
            + AXIS_H
            + bars
            + 10;
        let width = self.width as i32;
        let mut buf = String::new();
        let groups = {
            let mut b = Canvas::new(SVGBackend::with_string(
                &mut buf,
                (self.width, height as u32),
            ));
            rect(&mut b, 0, 0, width, height, &WHITE, true);
            text(
                &mut b,
                title,
                14,
                10,
                19.0,
                BLACK,
                (HPos::Left, VPos::Top),
                true,
            );
            let sub = if laned.len() == 1 {
                let (p, l) = &laned[0];
                run_words(p.trace, l)
            } else {
                let elapsed: Vec<String> = laned
                    .iter()
                    .map(|(p, l)| format!("{} {}", p.title, short(main_end(l).unwrap_or(l.end))))
                    .collect();
                format!(
                    "{} variants on one axis · elapsed: {}",
                    laned.len(),
                    elapsed.join(" · ")
                )
            };
            text(
                &mut b,
                &sub,
                14,
                34,
                13.0,
                rgb(0x444444),
                (HPos::Left, VPos::Top),
                false,
            );
            self.legend(&mut b, TITLE_H);
            self.glyph_legend(&mut b, TITLE_H + LEGEND_H);
            if io || warned || net {
                self.io_legend(&mut b, TITLE_H + 2 * LEGEND_H, io, warned, net);
            }
            let runs: Vec<(&Trace, &Lanes)> = laned.iter().map(|(p, l)| (p.trace, l)).collect();
            let layout =
                (self.axis == Axis::TimeAndOrder).then(|| Layout::new(&runs, LEFT, width - RIGHT));
            let scale = Scale {
                axis: self.axis,
                x0: LEFT,
                x1: width - RIGHT,
                max,
                layout: layout.as_ref().map(|l| (l, 0)),
            };
            let mut y = TITLE_H + legend_h;
            // Hosts in order of first appearance over every panel, each with
            // its colour.
            let mut hosts: Vec<&str> = Vec::new();
            for (_, l) in &laned {
                for h in l.tasks.iter().filter_map(|t| t.host.as_deref()) {
                    if !hosts.contains(&h) {
                        hosts.push(h);
                    }
                }
            }
            for (i, (p, l)) in laned.iter().enumerate() {
                let h = lanes_in(l);
                let several = laned.len() > 1;
                self.panel(&mut b, &scale.for_panel(i), i, p, l, &hosts, y, several);
                y += h;
            }
            self.axis_ticks(&mut b, &scale, y, TITLE_H + legend_h, max);
            if bars > 0 {
                self.bar_chart(&mut b, &laned, &scale, y + AXIS_H + 8, width);
            }
            b.finish()
        };
        apply_groups(&buf, &groups).into_bytes()
    }

    /// The first legend row: the loop's and a task's states, then what a
    /// waiting task waits on.
    fn legend(&self, b: &mut Canvas<'_>, y: i32) {
        let mut x = 14;
        let key = |b: &mut Canvas<'_>, x: i32, state: &LaneState| {
            rect(b, x, y + 5, x + 14, y + 17, &color(state), true);
            rect(b, x, y + 5, x + 14, y + 17, &rgb(0x777777), false);
        };
        for (name, state) in &LEGEND {
            b.open("legend", &[], state.words());
            key(b, x, state);
            x = legend_label(b, name, x, y);
            b.close();
        }
        text(
            b,
            "waiting on:",
            x + 4,
            y + 11,
            11.5,
            rgb(0x222222),
            (HPos::Left, VPos::Center),
            true,
        );
        x += 14 + text_width("waiting on:", 11.5);
        for (name, state) in &WAITS {
            b.open("legend", &[], state.words());
            key(b, x, state);
            x = legend_label(b, name, x, y);
            b.close();
        }
    }

    /// The second legend row: the glyphs on a task's lane.
    fn glyph_legend(&self, b: &mut Canvas<'_>, y: i32) {
        let mut x = 14;
        let lane_y = y + 2;
        let h = 18;
        let entries: [(&str, &str); 7] = [
            (
                "created",
                "the task was created (a green triangle where its lane begins)",
            ),
            (
                "returned",
                "the task returned (a black bar where its lane ends)",
            ),
            ("raised", "the task raised an exception (a red cross)"),
            ("cancelled", "the task was cancelled (a hatched grey box)"),
            (
                "wake-up",
                "who woke whom: an arrow from the waker's lane (the loop's, for a timer or callback) to the task it made ready",
            ),
            (
                "(+2)",
                "two more labels at this spot, hidden under the first: hover the label, or open the HTML report",
            ),
            (
                "critical path",
                "the chain of waits that set the main task's end time (loopsim run FILE --format critical-path lists it)",
            ),
        ];
        for (name, what) in entries {
            b.open("legend", &[], what);
            match name {
                "created" => spawn_glyph(b, x + 6, lane_y, h),
                "returned" | "raised" | "cancelled" => end_glyph(b, name, x + 2, lane_y, h),
                "critical path" => {
                    let red = rgb(0xd62728);
                    rect(b, x, y + 5, x + 14, y + 17, &red, false);
                    rect(b, x + 1, y + 6, x + 13, y + 16, &red, false);
                }
                "wake-up" => {
                    let style = rgb(0x555555).mix(0.8);
                    let _ = b.draw_line((x + 7, y + 3), (x + 7, y + 18), &style);
                    let _ = b.fill_polygon(
                        vec![(x + 4, y + 13), (x + 10, y + 13), (x + 7, y + 18)],
                        &style,
                    );
                }
                _ => {}
            }
            x = if name == "(+2)" {
                text(
                    b,
                    "label (+2)",
                    x,
                    y + 11,
                    10.0,
                    rgb(0x222222),
                    (HPos::Left, VPos::Center),
                    false,
                );
                let x = x + text_width("label (+2)", 10.0) - 18;
                legend_label(b, "2 more labels there (hover)", x, y)
            } else {
                legend_label(b, name, x, y)
            };
            b.close();
        }
        let _ = x;
    }

    /// The second legend row: the I/O states and marks (when the run used
    /// services or pools), then the health warning's glyph (when it warned).
    fn io_legend(&self, b: &mut Canvas<'_>, y: i32, io: bool, warned: bool, net: bool) {
        let mut x = 14;
        let entries = if io { &IO_LEGEND[..] } else { &[] };
        for (name, key) in entries {
            b.open("legend", &[], name);
            match key {
                IoKey::State(s) => rect(b, x, y + 5, x + 14, y + 17, &color(s), true),
                IoKey::Work(w) => rect(b, x, y + 5, x + 14, y + 17, &work_color(*w), true),
                IoKey::Mark(_) => {}
            }
            match key {
                IoKey::Mark(error) => {
                    let c = if *error { rgb(0xc0001a) } else { rgb(0x555555) };
                    mark_glyph(b, x + 7, y + 5, &c);
                }
                _ => rect(b, x, y + 5, x + 14, y + 17, &rgb(0x777777), false),
            }
            x = legend_label(b, name, x, y);
            b.close();
        }
        if warned {
            warning_glyph(b, x + 7, y + 17);
            x = legend_label(b, "health warning", x, y);
        }
        if net {
            flight_arrow(b, (x, y + 15), (x + 14, y + 7), &MESSAGE.mix(0.9));
            x = legend_label(b, "message", x, y);
            rect(b, x, y + 5, x + 14, y + 17, &PARTITION.mix(0.12), true);
            rect(b, x, y + 5, x + 1, y + 17, &PARTITION.mix(0.7), true);
            rect(b, x + 13, y + 5, x + 14, y + 17, &PARTITION.mix(0.7), true);
            legend_label(b, "network partition", x, y);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn panel(
        &self,
        b: &mut Canvas<'_>,
        sc: &Scale,
        index: usize,
        p: &Panel<'_>,
        l: &Lanes,
        hosts: &[&str],
        top: i32,
        several: bool,
    ) {
        let width = sc.x1 + RIGHT;
        let panel_title = if p.title.is_empty() {
            run_words(p.trace, l)
        } else {
            format!("{}: {}", p.title, run_words(p.trace, l))
        };
        b.open(
            "panel",
            &[
                ("data-panel", index.to_string()),
                ("data-variant", p.title.clone()),
            ],
            &panel_title,
        );
        rect(b, 0, top, width, top + 1, &rgb(0xbbbbbb), true);
        if !p.title.is_empty() {
            text(
                b,
                &p.title,
                14,
                top + 5,
                13.5,
                rgb(0x1a1a1a),
                (HPos::Left, VPos::Top),
                true,
            );
            if several {
                // The panel's own run: its seed, model and elapsed time.
                text(
                    b,
                    &run_words(p.trace, l),
                    14 + text_width(&p.title, 13.5) + 12,
                    top + 6,
                    11.5,
                    rgb(0x555555),
                    (HPos::Left, VPos::Top),
                    false,
                );
            }
        }
        let mut y = top + PANEL_HEAD;
        // The loop's lane.
        text(
            b,
            "event loop",
            LEFT - 10,
            y + LANE / 2,
            12.5,
            BLACK,
            (HPos::Right, VPos::Center),
            true,
        );
        rect(b, sc.x0, y, sc.x1, y + LANE, &rgb(0xf7f7f7), true);
        // Idle first, then busy steps, then blocking calls on top.
        // Spans that touch in pixels are merged: thousands of steps at one
        // instant make one rectangle, not thousands.
        for pass in [LaneState::Idle, LaneState::Running, LaneState::Blocked] {
            let (t0, t1) = if pass == LaneState::Running {
                (y + 3, y + LANE - 3)
            } else {
                (y, y + LANE)
            };
            // A run of merged spans: its pixels, and its first and last span.
            let mut run: Option<(i32, i32, &Span, &Span, usize)> = None;
            let draw =
                |b: &mut Canvas<'_>, (a, z, first, last, n): (i32, i32, &Span, &Span, usize)| {
                    let title = loop_title(&pass, first, last, n);
                    b.open(
                        "loop",
                        &[
                            ("data-from", first.from.as_nanos().to_string()),
                            ("data-to", last.to.as_nanos().to_string()),
                            ("data-seq-from", first.from_seq.to_string()),
                            ("data-seq-to", last.to_seq.to_string()),
                        ],
                        &title,
                    );
                    rect(b, a, t0, z, t1, &color(&pass), true);
                    b.close();
                };
            for s in l.loop_spans.iter().filter(|s| s.state == pass) {
                let (x0, x1) = (sc.x(s.from, s.from_seq), sc.x(s.to, s.to_seq));
                let (x0, x1) = if x1 - x0 < 2 { (x0, x0 + 2) } else { (x0, x1) };
                run = match run {
                    Some((a, z, f, _, n)) if x0 <= z => Some((a, z.max(x1), f, s, n + 1)),
                    Some(r) => {
                        draw(b, r);
                        Some((x0, x1, s, s, 1))
                    }
                    None => Some((x0, x1, s, s, 1)),
                };
            }
            if let Some(r) = run {
                draw(b, r);
            }
        }
        for (at, seq, w) in &l.loop_warnings {
            b.open(
                "warning",
                &[],
                &format!("{} · health warning: {w}", short(*at)),
            );
            warning_glyph(b, sc.x(*at, *seq), y + LANE);
            b.close();
        }
        let loop_y = y + LANE / 2;
        y += LANE + GAP;
        let mut lane_y: Vec<Option<i32>> = Vec::new();
        for (i, lane) in l.tasks.iter().enumerate() {
            if i >= self.max_lanes {
                lane_y.push(None);
                continue;
            }
            let host = lane.host.as_deref().map(|h| {
                let k = hosts.iter().position(|x| *x == h).unwrap_or(0);
                (h, rgb(HOSTS[k % HOSTS.len()]))
            });
            self.task_lane(b, sc, l, lane, host, y);
            lane_y.push(Some(y + LANE / 2));
            y += LANE + GAP;
        }
        let folded = l.tasks.len() > self.max_lanes;
        if folded {
            self.density_lane(b, sc, &l.tasks[self.max_lanes..], y);
        }
        if let Some(d) = &l.deadlock {
            self.deadlock_marker(b, sc, l, d, top, y);
        }
        if !l.resources.is_empty() {
            let below = y + i32::from(folded) * (LANE + GAP) + GAP;
            self.resources(b, sc, l, below);
        }
        if !l.partitions.is_empty() {
            let bottom = y + i32::from(folded) * (LANE + GAP);
            self.partitions(b, sc, l, top, bottom);
        }
        // Wake-up arrows, from the waker's lane to the woken one (fainter when
        // there are many, so they do not hide the lanes).
        let faint = l.wakes.len() > 60;
        let name = |t: crate::trace::TaskId| {
            l.tasks
                .get((t.0 as usize).wrapping_sub(1))
                .map_or_else(|| format!("task #{}", t.0), |x| x.name.clone())
        };
        for w in &l.wakes {
            let Some(Some(to)) = lane_y.get(w.to.0 as usize - 1).copied() else {
                continue;
            };
            let from = match w.from {
                Some(t) => match lane_y.get(t.0 as usize - 1).copied().flatten() {
                    Some(y) => y,
                    None => continue,
                },
                None => loop_y,
            };
            if from == to {
                continue;
            }
            let x = sc.x(w.at, w.seq);
            let dir = if to > from { 1 } else { -1 };
            let tip = to - dir * (LANE / 2);
            let style = rgb(0x555555).mix(if faint { 0.18 } else { 0.55 });
            let waker = w
                .from
                .map_or_else(|| "the loop (a timer or callback)".to_string(), name);
            b.open(
                "wake",
                &[
                    ("data-to", w.to.0.to_string()),
                    ("data-from", w.from.map_or(0, |t| t.0).to_string()),
                    ("data-seq", w.seq.to_string()),
                    ("data-seq-from", w.seq.to_string()),
                    ("data-seq-to", w.seq.to_string()),
                ],
                &format!(
                    "{} · {} woken by {waker} (event #{})",
                    short(w.at),
                    name(w.to),
                    w.seq
                ),
            );
            let _ = b.draw_line((x, from), (x, tip), &style);
            let _ = b.fill_polygon(
                vec![(x - 3, tip - dir * 5), (x + 3, tip - dir * 5), (x, tip)],
                &style,
            );
            b.close();
        }
        if !l.messages.is_empty() {
            let folded_y = folded.then_some(y + LANE / 2);
            self.flights(b, sc, l, &lane_y, folded_y, top);
        }
        self.critical(b, sc, p.trace, l, &lane_y);
        b.close();
    }

    /// The critical path: each link's share outlined in red on its lane,
    /// and a red line where the path passes from one task to another.
    fn critical(
        &self,
        b: &mut Canvas<'_>,
        sc: &Scale,
        trace: &Trace,
        l: &Lanes,
        lane_y: &[Option<i32>],
    ) {
        let path = super::critical_path_of(trace, l);
        let n = path.links.len();
        let y_of = |t: crate::trace::TaskId| {
            (t.0 as usize)
                .checked_sub(1)
                .and_then(|i| lane_y.get(i).copied().flatten())
        };
        let mut prev: Option<(i32, i32)> = None;
        for (k, link) in path.links.iter().enumerate() {
            let Some(y) = y_of(link.task) else {
                prev = None;
                continue;
            };
            let x0 = sc.x(link.from, link.from_seq);
            let x1 = sc.x(link.span.to, link.span.to_seq).max(x0 + 2);
            b.open(
                "critical",
                &[("data-task", link.task.0.to_string())],
                &format!(
                    "critical path, link {} of {n}: {}\n{} → {} ({} of the end time)",
                    k + 1,
                    link.words(),
                    link.from,
                    link.span.to,
                    format_nanos(link.share())
                ),
            );
            let red = rgb(0xd62728);
            rect(b, x0, y - LANE / 2 + 1, x1, y + LANE / 2 - 1, &red, false);
            rect(
                b,
                x0 + 1,
                y - LANE / 2 + 2,
                x1 - 1,
                y + LANE / 2 - 2,
                &red,
                false,
            );
            if let Some((px, py)) = prev
                && py != y
            {
                let _ = b.draw_line((px, py), (px, y), &red);
                let _ = b.draw_line((px + 1, py), (px + 1, y), &red);
            }
            b.close();
            prev = Some((x1, y));
        }
    }

    /// A red line where the run deadlocked, and the wait-for cycle named at
    /// the panel's top right (the whole cycle in its tooltip).
    fn deadlock_marker(
        &self,
        b: &mut Canvas<'_>,
        sc: &Scale,
        l: &Lanes,
        d: &Deadlock,
        top: i32,
        bottom: i32,
    ) {
        let red = rgb(0xc0001a);
        let x = sc.x(l.end, l.events);
        let stuck: Vec<String> = l
            .tasks
            .iter()
            .filter_map(|t| t.stuck.as_ref().map(|w| format!("{} waits on {w}", t.name)))
            .collect();
        b.open(
            "deadlock",
            &[],
            &format!("{} at {}\n{}", d, short(l.end), stuck.join("\n")),
        );
        rect(b, x, top + PANEL_HEAD - 2, x + 2, bottom, &red, true);
        // Without a wait-for cycle in the trace (an event or a future has
        // no owner to wait for), the marker names what each task waits on.
        let label = if d.cycle.is_empty() {
            let waits: Vec<String> = l
                .tasks
                .iter()
                .filter_map(|t| {
                    let w = t.stuck.as_ref()?;
                    Some(format!(
                        "{} on {}",
                        t.name,
                        w.split(" (").next().unwrap_or(w)
                    ))
                })
                .collect();
            format!("deadlock at {}: {}", short(l.end), waits.join(" · "))
        } else {
            format!("{d} at {}", short(l.end))
        };
        let label = shorten(&label, 110);
        let w = text_width(&label, 12.0);
        rect(
            b,
            sc.x1 - w - 4,
            top + 3,
            sc.x1 + 2,
            top + PANEL_HEAD - 3,
            &WHITE,
            true,
        );
        text(
            b,
            &label,
            sc.x1,
            top + PANEL_HEAD / 2,
            12.0,
            red,
            (HPos::Right, VPos::Center),
            true,
        );
        b.close();
    }

    fn task_lane(
        &self,
        b: &mut Canvas<'_>,
        sc: &Scale,
        l: &Lanes,
        lane: &Lane,
        host: Option<(&str, RGBColor)>,
        y: i32,
    ) {
        let task = lane.task.0.to_string();
        b.open(
            "lane",
            &[
                ("data-task", task.clone()),
                ("data-name", lane.name.clone()),
            ],
            &lane.name,
        );
        // The host, in its colour, in a column at the left; the name fills
        // what is left.
        let tag = host.map(|(h, _)| format!("{} ·", shorten(h, 12)));
        let name = match &tag {
            Some(tag) => {
                let room = LEFT - 10 - 14 - text_width(tag, 11.0) - 8;
                shorten(
                    &lane.name,
                    (room as f64 / (12.0 * 0.62)).floor().max(4.0) as usize,
                )
            }
            None => shorten(&lane.name, 30),
        };
        let host_words = host
            .map(|(h, _)| format!(" on host {h}"))
            .unwrap_or_default();
        b.open(
            "name",
            &[("data-task", task.clone())],
            &format!(
                "{} (task #{}){host_words}: {}",
                lane.name,
                lane.task.0,
                lane_summary(lane)
            ),
        );
        text(
            b,
            &name,
            LEFT - 10,
            y + LANE / 2,
            12.0,
            rgb(0x111111),
            (HPos::Right, VPos::Center),
            false,
        );
        if let (Some((_, c)), Some(tag)) = (host, &tag) {
            // A bar of the host's colour at the lane's start groups a
            // host's lanes.
            text(
                b,
                tag,
                14,
                y + LANE / 2,
                11.0,
                c,
                (HPos::Left, VPos::Center),
                true,
            );
            rect(b, LEFT - 6, y + 1, LEFT - 3, y + LANE - 1, &c, true);
        }
        b.close();
        rect(
            b,
            sc.x0,
            y + LANE / 2,
            sc.x1,
            y + LANE / 2 + 1,
            &rgb(0xeeeeee),
            true,
        );
        let span_group = |b: &mut Canvas<'_>, s: &Span| {
            b.open(
                "span",
                &[
                    ("data-task", task.clone()),
                    ("data-from", s.from.as_nanos().to_string()),
                    ("data-to", s.to.as_nanos().to_string()),
                    ("data-state", format!("{:?}", s.state).to_lowercase()),
                    ("data-seq-from", s.from_seq.to_string()),
                    ("data-seq-to", s.to_seq.to_string()),
                ],
                &span_title(l, lane, s),
            );
        };
        // Merge spans thinner than a pixel into their neighbours' state.
        let mut last_x1 = i32::MIN;
        for s in &lane.spans {
            let (x0, x1) = (sc.x(s.from, s.from_seq), sc.x(s.to, s.to_seq));
            if matches!(s.state, LaneState::Running | LaneState::Blocked) {
                continue; // drawn on top, below
            }
            if x1 <= x0 || (x1 - x0 < 1 && x0 <= last_x1) {
                continue;
            }
            span_group(b, s);
            rect(b, x0, y + 3, x1, y + LANE - 3, &color(&s.state), true);
            b.close();
            last_x1 = x1;
        }
        for state in [LaneState::Running, LaneState::Blocked] {
            for s in lane.spans.iter().filter(|s| s.state == state) {
                let (x0, x1) = (sc.x(s.from, s.from_seq), sc.x(s.to, s.to_seq));
                let x1 = x1.max(x0 + 3);
                span_group(b, s);
                rect(b, x0, y + 1, x1, y + LANE - 1, &color(&s.state), true);
                b.close();
            }
        }
        // I/O mishaps: a small triangle on the lane's top edge, and a label.
        for m in &lane.io_marks {
            b.open(
                "marker",
                &[("data-task", task.clone())],
                &format!("{} · {}", short(m.at), io_mark_words(m)),
            );
            mark_glyph(b, sc.x(m.at, m.seq), y, &mark_color(m));
            b.close();
        }
        // Health warnings: a triangle pointing up from the bottom edge.
        for (at, seq, w) in &lane.warnings {
            b.open(
                "marker",
                &[("data-task", task.clone())],
                &format!("{} · health warning: {w}", short(*at)),
            );
            warning_glyph(b, sc.x(*at, *seq), y + LANE);
            b.close();
        }
        // Printed lines (and I/O marks), as labels that do not overlap:
        // labels that would land on an earlier one are counted on it
        // ("(+2)"), and named in its tooltip.
        let mut items: Vec<(usize, Instant, String, RGBColor, String)> = lane
            .outputs
            .iter()
            .map(|(at, seq, line)| {
                let full = format!(
                    "{} · {} printed {line:?} (event #{seq})",
                    short(*at),
                    lane.name
                );
                (*seq, *at, line.clone(), rgb(0x222222), full)
            })
            .collect();
        if !lane.io_marks.is_empty() || !lane.warnings.is_empty() {
            items.extend(lane.io_marks.iter().map(|m| {
                (
                    m.seq,
                    m.at,
                    m.label(),
                    mark_color(m),
                    format!("{} · {}", short(m.at), io_mark_words(m)),
                )
            }));
            items.extend(lane.warnings.iter().map(|(at, seq, w)| {
                (
                    *seq,
                    *at,
                    format!("⚠ {w}"),
                    WARNING,
                    format!("{} · health warning: {w}", short(*at)),
                )
            }));
            items.sort_by_key(|i| i.0);
        }
        // Each group: x, label, how many more, colour, the full texts.
        let mut groups: Vec<(i32, String, usize, RGBColor, Vec<String>)> = Vec::new();
        let mut free_from = i32::MIN;
        for (seq, at, line, c, full) in &items {
            let x = sc.x(*at, *seq) + 6;
            if x < free_from {
                if let Some(last) = groups.last_mut() {
                    last.2 += 1;
                    last.4.push(full.clone());
                }
                continue;
            }
            let label = shorten(line, 28);
            free_from = x + text_width(&label, 10.0) + 6;
            groups.push((x, label, 0, *c, vec![full.clone()]));
        }
        for (x, label, more, c, full) in groups {
            let label = if more > 0 {
                format!("{label} (+{more})")
            } else {
                label
            };
            let w = text_width(&label, 10.0);
            // Near the right edge, the label goes to the left of its point.
            let left = x + w > sc.x1 + RIGHT - 2;
            let (x, anchor) = if left {
                (x - 12, HPos::Right)
            } else {
                (x, HPos::Left)
            };
            // A light plate keeps the label legible over any colour.
            let (bx0, bx1) = if left {
                (x - w - 2, x + 2)
            } else {
                (x - 2, x + w + 2)
            };
            b.open("label", &[("data-task", task.clone())], &full.join("\n"));
            rect(b, bx0, y + 4, bx1, y + LANE - 4, &WHITE.mix(0.82), true);
            text(
                b,
                &label,
                x,
                y + LANE / 2,
                10.0,
                c,
                (anchor, VPos::Center),
                false,
            );
            b.close();
        }
        // Spawn and end markers, over the labels.
        let sx = sc.x(lane.created, lane.created_seq);
        b.open(
            "marker",
            &[("data-task", task.clone())],
            &format!(
                "{} · {} created (event #{})",
                short(lane.created),
                lane.name,
                lane.created_seq
            ),
        );
        spawn_glyph(b, sx, y, LANE);
        b.close();
        // End marker.
        if let Some((at, seq, how)) = lane.ended {
            let ex = sc.x(at, seq) + 3;
            b.open(
                "marker",
                &[("data-task", task.clone())],
                &format!(
                    "{} · {} {how} (event #{seq}) after {}",
                    short(at),
                    lane.name,
                    short(Instant::from_nanos(
                        at.as_nanos().saturating_sub(lane.created.as_nanos())
                    ))
                ),
            );
            end_glyph(b, how, ex, y, LANE);
            b.close();
        }
        if let Some(what) = &lane.stuck {
            b.open(
                "label",
                &[("data-task", task.clone())],
                &format!("{} is stuck: it waits on {what}", lane.name),
            );
            self.stuck_label(b, sc, what, y);
            b.close();
        }
        b.close();
    }

    /// Message arrows: from the writer's lane (or the folded lane) at the
    /// send to the reader's at the delivery; at most [`MAX_FLIGHTS`], the
    /// rest (lost, unknown ends, over the cap) counted at the panel's top.
    fn flights(
        &self,
        b: &mut Canvas<'_>,
        sc: &Scale,
        l: &Lanes,
        lane_y: &[Option<i32>],
        folded_y: Option<i32>,
        top: i32,
    ) {
        let y_of = |t: Option<crate::trace::TaskId>| -> Option<i32> {
            let i = (t?.0 as usize).checked_sub(1)?;
            match lane_y.get(i)? {
                Some(y) => Some(*y),
                None => folded_y,
            }
        };
        let mut drawn = 0usize;
        let mut skipped = 0usize;
        let many = l.messages.len() > 60;
        let style = MESSAGE.mix(if many { 0.35 } else { 0.8 });
        for m in &l.messages {
            let ends = m
                .delivered
                .and_then(|d| Some((y_of(m.from_task)?, y_of(m.to_task)?, d)));
            let Some((y0, y1, (at, seq))) = ends else {
                skipped += 1;
                continue;
            };
            if drawn >= MAX_FLIGHTS || y0 == y1 {
                skipped += 1;
                continue;
            }
            let dir = if y1 > y0 { 1 } else { -1 };
            let x0 = sc.x(m.sent.0, m.sent.1);
            let x1 = sc.x(at, seq);
            b.open(
                "message",
                &[],
                &format!(
                    "message on connection #{} ({} bytes): sent at {}, delivered at {at}",
                    m.conn, m.bytes, m.sent.0
                ),
            );
            flight_arrow(b, (x0, y0 + dir * 4), (x1, y1 - dir * 4), &style);
            b.close();
            drawn += 1;
        }
        if skipped > 0 {
            let s = if skipped == 1 { "" } else { "s" };
            let label =
                format!("+{skipped} message{s} not drawn (lost, folded, or past {MAX_FLIGHTS})");
            text(
                b,
                &label,
                sc.x1,
                top + PANEL_HEAD / 2,
                11.0,
                MESSAGE,
                (HPos::Right, VPos::Center),
                false,
            );
        }
    }

    /// Partitions: a tinted band across the panel, edged, labelled at its
    /// top.
    fn partitions(&self, b: &mut Canvas<'_>, sc: &Scale, l: &Lanes, top: i32, bottom: i32) {
        let y0 = top + PANEL_HEAD;
        for p in &l.partitions {
            let x0 = sc.x(p.from.0, p.from.1);
            let x1 = sc.x(p.to.0, p.to.1).max(x0 + 2);
            b.open(
                "partition",
                &[],
                &format!("{}\n{} → {}", p.label(), p.from.0, p.to.0),
            );
            rect(b, x0, y0, x1, bottom, &PARTITION.mix(0.08), true);
            // Sparse diagonal hatching, clipped to the band.
            let h = (bottom - y0).max(1);
            let mut hx = x0 - h;
            while hx < x1 {
                let t0 = ((x0 - hx) as f64 / h as f64).max(0.0);
                let t1 = ((x1 - hx) as f64 / h as f64).min(1.0);
                if t0 < t1 {
                    let at = |t: f64| {
                        (
                            hx + (t * h as f64).round() as i32,
                            bottom - (t * h as f64).round() as i32,
                        )
                    };
                    let _ = b.draw_line(at(t0), at(t1), &PARTITION.mix(0.15));
                }
                hx += 12;
            }
            rect(b, x0, y0 - 2, x0 + 1, bottom, &PARTITION.mix(0.8), true);
            rect(b, x1 - 1, y0 - 2, x1, bottom, &PARTITION.mix(0.8), true);
            let label = shorten(&p.label(), 60);
            text(
                b,
                &label,
                x0 + 4,
                top + PANEL_HEAD / 2 + 1,
                11.5,
                PARTITION,
                (HPos::Left, VPos::Center),
                true,
            );
            b.close();
        }
    }

    /// A stuck task's wait, in red at the end of its lane.
    fn stuck_label(&self, b: &mut Canvas<'_>, sc: &Scale, what: &str, y: i32) {
        let label = shorten(&format!("waits on {what}"), 60);
        let w = text_width(&label, 10.0);
        let x = sc.x1 - 4;
        rect(
            b,
            x - w - 2,
            y + 3,
            x + 2,
            y + LANE - 3,
            &WHITE.mix(0.9),
            true,
        );
        rect(
            b,
            x - w - 2,
            y + 3,
            x + 2,
            y + LANE - 3,
            &rgb(0xc0001a),
            false,
        );
        text(
            b,
            &label,
            x,
            y + LANE / 2,
            10.0,
            rgb(0xc0001a),
            (HPos::Right, VPos::Center),
            false,
        );
    }

    /// The tasks beyond `max_lanes`, as one lane whose shade says how many of
    /// them are waiting (blue) or ready/running (amber) over time.
    fn density_lane(&self, b: &mut Canvas<'_>, sc: &Scale, rest: &[Lane], y: i32) {
        let label = format!("+ {} more tasks", rest.len());
        b.open(
            "density",
            &[],
            &format!(
                "{} more tasks, folded: the shade says how many wait (blue, top) or are ready or running (amber, bottom)",
                rest.len()
            ),
        );
        text(
            b,
            &label,
            LEFT - 10,
            y + LANE / 2,
            12.0,
            rgb(0x111111),
            (HPos::Right, VPos::Center),
            true,
        );
        let cols = ((sc.x1 - sc.x0).max(1)) as usize;
        let mut waiting = vec![0u32; cols + 1];
        let mut active = vec![0u32; cols + 1];
        for lane in rest {
            for s in &lane.spans {
                let c0 = (sc.x(s.from, s.from_seq) - sc.x0).clamp(0, cols as i32) as usize;
                let c1 = (sc.x(s.to, s.to_seq) - sc.x0).clamp(0, cols as i32) as usize;
                let target = match s.state {
                    LaneState::Running | LaneState::Ready => &mut active,
                    _ => &mut waiting,
                };
                for cell in &mut target[c0..=c1.max(c0)] {
                    *cell += 1;
                }
            }
        }
        let n = rest.len().max(1) as f64;
        // Runs of equal shade become one rectangle.
        let mut c = 0;
        while c < cols {
            let key = |i: usize| {
                (
                    (waiting[i] as f64 / n * 8.0).round() as u32,
                    (active[i] as f64 / n * 8.0).round() as u32,
                )
            };
            let k = key(c);
            let mut e = c + 1;
            while e < cols && key(e) == k {
                e += 1;
            }
            let (w, a) = k;
            if w > 0 {
                let blue = color(&LaneState::Timer).mix(0.15 + 0.85 * w as f64 / 8.0);
                rect(
                    b,
                    sc.x0 + c as i32,
                    y + 3,
                    sc.x0 + e as i32,
                    y + LANE / 2,
                    &blue,
                    true,
                );
            }
            if a > 0 {
                let amber = color(&LaneState::Ready).mix(0.15 + 0.85 * a as f64 / 8.0);
                rect(
                    b,
                    sc.x0 + c as i32,
                    y + LANE / 2,
                    sc.x0 + e as i32,
                    y + LANE - 3,
                    &amber,
                    true,
                );
            }
            c = e;
        }
        b.close();
    }

    /// The resource lanes, from `y` down: a header, then for each service
    /// or pool its load row and a row per server slot or worker.
    fn resources(&self, b: &mut Canvas<'_>, sc: &Scale, l: &Lanes, y: i32) {
        let width = sc.x1 + RIGHT;
        rect(b, 0, y, width, y + 1, &rgb(0xdddddd), true);
        text(
            b,
            "services & pools",
            LEFT - 10,
            y + RES_HEAD / 2 + 1,
            12.5,
            BLACK,
            (HPos::Right, VPos::Center),
            true,
        );
        let mut y = y + RES_HEAD;
        for r in &l.resources {
            self.load_row(b, sc, r, y);
            y += LOAD_H + GAP;
            if r.workers.len() <= MAX_WORKER_ROWS {
                for w in &r.workers {
                    self.worker_row(b, sc, l, &w.spans, w.worker, y);
                    y += LANE + GAP;
                }
            }
        }
    }

    /// A resource's load: requests in service (bottom) and waiting (on
    /// top), as a stacked step chart scaled to the most at once, with the
    /// counts written where they fit; its marks on the top edge.
    fn load_row(&self, b: &mut Canvas<'_>, sc: &Scale, r: &ResourceLane, y: i32) {
        let workers = r.workers.len();
        text(
            b,
            &shorten(&r.name, 24),
            LEFT - 10,
            y + LOAD_H / 2 - 6,
            12.0,
            rgb(0x111111),
            (HPos::Right, VPos::Center),
            true,
        );
        let s = if r.requests == 1 { "" } else { "s" };
        let what = if workers > MAX_WORKER_ROWS {
            format!("{} request{s}, {workers} workers", r.requests)
        } else {
            format!("{} request{s}", r.requests)
        };
        text(
            b,
            &what,
            LEFT - 10,
            y + LOAD_H / 2 + 7,
            10.0,
            rgb(0x555555),
            (HPos::Right, VPos::Center),
            false,
        );
        rect(b, sc.x0, y, sc.x1, y + LOAD_H, &rgb(0xf7f7f7), true);
        let most = r
            .load
            .iter()
            .map(|ld| ld.busy + ld.waiting)
            .max()
            .unwrap_or(0)
            .max(1);
        let (bottom, room) = (y + LOAD_H - 1, LOAD_H - COUNTS_H - 2);
        let h = |n: u32| (f64::from(n) / f64::from(most) * f64::from(room)).round() as i32;
        let mut free_from = i32::MIN;
        for ld in &r.load {
            let (x0, x1) = (sc.x(ld.from, ld.from_seq), sc.x(ld.to, ld.to_seq));
            if x1 <= x0 {
                continue;
            }
            let (hb, hw) = (h(ld.busy), h(ld.busy + ld.waiting));
            b.open(
                "load",
                &[
                    ("data-from", ld.from.as_nanos().to_string()),
                    ("data-to", ld.to.as_nanos().to_string()),
                ],
                &format!(
                    "{}: {} in service, {} waiting\n{} → {}",
                    r.name, ld.busy, ld.waiting, ld.from, ld.to
                ),
            );
            if ld.busy > 0 {
                rect(
                    b,
                    x0,
                    bottom - hb,
                    x1,
                    bottom,
                    &color(&LaneState::IoServed),
                    true,
                );
            }
            if ld.waiting > 0 {
                rect(
                    b,
                    x0,
                    bottom - hw,
                    x1,
                    bottom - hb,
                    &color(&LaneState::IoQueued),
                    true,
                );
            }
            b.close();
            // The counts: "2" in service, "2 + 3 queued", or "2+3".
            let long = if ld.waiting > 0 {
                format!("{} + {} queued", ld.busy, ld.waiting)
            } else {
                ld.busy.to_string()
            };
            let brief = format!("{}+{}", ld.busy, ld.waiting);
            let label = [long, brief]
                .into_iter()
                .find(|t| text_width(t, 10.0) + 6 <= x1 - x0);
            if let Some(label) = label {
                let w = text_width(&label, 10.0);
                let cx = (x0 + x1) / 2;
                if cx - w / 2 - 2 < free_from {
                    continue;
                }
                free_from = cx + w / 2 + 4;
                text(
                    b,
                    &label,
                    cx,
                    y + COUNTS_H / 2 + 1,
                    10.0,
                    rgb(0x333333),
                    (HPos::Center, VPos::Center),
                    false,
                );
            }
        }
        // Above the row, in the gap, clear of the counts.
        for m in &r.marks {
            b.open(
                "marker",
                &[],
                &format!("{} · {}", short(m.at), io_mark_words(m)),
            );
            mark_glyph(b, sc.x(m.at, m.seq), y - 7, &mark_color(m));
            b.close();
        }
    }

    /// A server slot's or worker's row: its spans, each job labelled with
    /// its number and caller where it fits; abandoned work faded.
    fn worker_row(
        &self,
        b: &mut Canvas<'_>,
        sc: &Scale,
        l: &Lanes,
        spans: &[WorkSpan],
        worker: u32,
        y: i32,
    ) {
        text(
            b,
            &format!("worker {worker}"),
            LEFT - 10,
            y + LANE / 2,
            11.0,
            rgb(0x444444),
            (HPos::Right, VPos::Center),
            false,
        );
        rect(
            b,
            sc.x0,
            y + LANE / 2,
            sc.x1,
            y + LANE / 2 + 1,
            &rgb(0xeeeeee),
            true,
        );
        for s in spans {
            let (x0, x1) = (sc.x(s.from, s.from_seq), sc.x(s.to, s.to_seq));
            if x1 <= x0 {
                continue;
            }
            let c = work_color(s.state);
            let caller = s
                .caller
                .and_then(|t| l.tasks.get((t.0 as usize).wrapping_sub(1)))
                .map_or(String::new(), |lane| format!(" for {}", lane.name));
            let abandoned = if s.abandoned {
                " (abandoned: its result will be dropped)"
            } else {
                ""
            };
            b.open(
                "work",
                &[
                    ("data-from", s.from.as_nanos().to_string()),
                    ("data-to", s.to.as_nanos().to_string()),
                ],
                &format!(
                    "worker {worker}: #{}{caller}, {}{abandoned}\n{} → {} ({})",
                    s.id,
                    work_words(s.state),
                    s.from,
                    s.to,
                    format_nanos(s.to.as_nanos().saturating_sub(s.from.as_nanos()))
                ),
            );
            if s.abandoned {
                rect(b, x0, y + 3, x1, y + LANE - 3, &c.mix(0.35), true);
                rect(b, x0, y + 3, x1, y + LANE - 3, &rgb(0x777777), false);
            } else {
                rect(b, x0, y + 3, x1, y + LANE - 3, &c, true);
            }
            b.close();
        }
        // One label per job (its spans are consecutive), and a thin white
        // line between jobs that follow each other without a gap.
        let mut k = 0;
        let mut last_end: Option<i32> = None;
        while k < spans.len() {
            let first = &spans[k];
            let mut e = k + 1;
            while e < spans.len() && spans[e].id == first.id {
                e += 1;
            }
            let last = &spans[e - 1];
            let (x0, x1) = (sc.x(first.from, first.from_seq), sc.x(last.to, last.to_seq));
            if last_end == Some(x0) && x1 > x0 {
                rect(b, x0, y + 2, x0 + 1, y + LANE - 2, &WHITE, true);
            }
            last_end = Some(x1);
            let caller = first
                .caller
                .and_then(|t| l.tasks.get((t.0 as usize).wrapping_sub(1)))
                .map(|lane| lane.name.as_str());
            let mut label = match caller {
                Some(c) => format!("#{} {c}", first.id),
                None => format!("#{}", first.id),
            };
            if spans[k..e].iter().any(|s| s.abandoned) {
                label.push_str(" (abandoned)");
            }
            // The label covers at most 60% of the job, so its colours show.
            let room = ((f64::from(x1 - x0) * 0.6 - 4.0) / (10.0 * 0.62)).floor();
            let id = format!("#{}", first.id);
            let room = room.max(0.0) as usize;
            let label = if label.chars().count() <= room {
                Some(label)
            } else if room >= id.chars().count() + 4 {
                Some(shorten(&label, room))
            } else if room >= id.chars().count() {
                Some(id)
            } else {
                None
            };
            if let Some(label) = label {
                let w = text_width(&label, 10.0);
                rect(
                    b,
                    x0 + 2,
                    y + 5,
                    x0 + w + 6,
                    y + LANE - 5,
                    &WHITE.mix(0.78),
                    true,
                );
                text(
                    b,
                    &label,
                    x0 + 4,
                    y + LANE / 2,
                    10.0,
                    rgb(0x111111),
                    (HPos::Left, VPos::Center),
                    false,
                );
            }
            k = e;
        }
    }

    fn axis_ticks(&self, b: &mut Canvas<'_>, sc: &Scale, y: i32, top: i32, max: u64) {
        let grey = rgb(0x888888);
        let _ = b.draw_line((sc.x0, y + 2), (sc.x1, y + 2), &grey);
        let (caption, why) = match self.axis {
            Axis::TimeAndOrder => (
                "virtual time, instants opened",
                "virtual time, linear between instants; an instant at which several events happen is opened up into one slot per event, in the order they happened (under a bracket); a long idle gap is drawn shorter, with a break mark and its length",
            ),
            Axis::Time => ("virtual time", "virtual time, linear"),
            Axis::Steps => (
                "events, in order",
                "events in the order they happened, each the same width: time is not to scale",
            ),
        };
        b.open("caption", &[], why);
        text(
            b,
            caption,
            sc.x0 - 10,
            y + 9,
            10.0,
            rgb(0x555555),
            (HPos::Right, VPos::Top),
            false,
        );
        b.close();
        if let Some((layout, _)) = sc.layout {
            self.mixed_ticks(b, layout, y, top);
            return;
        }
        let step = match self.axis {
            Axis::Time | Axis::TimeAndOrder => tick_step(max, 10),
            Axis::Steps => tick_step(max, 10).max(1),
        };
        let mut v = 0u64;
        while v <= max {
            let x = sc.x0 + ((v as f64 / max as f64) * (sc.x1 - sc.x0) as f64).round() as i32;
            let _ = b.draw_line((x, top), (x, y + 2), &rgb(0xdddddd).mix(0.6));
            let _ = b.draw_line((x, y + 2), (x, y + 7), &grey);
            let label = match self.axis {
                Axis::Time | Axis::TimeAndOrder => format_nanos(v),
                Axis::Steps => v.to_string(),
            };
            text(
                b,
                &label,
                x,
                y + 9,
                11.0,
                rgb(0x333333),
                (HPos::Center, VPos::Top),
                false,
            );
            match v.checked_add(step) {
                Some(n) => v = n,
                None => break,
            }
        }
    }

    /// The time-and-order axis: ticks where time is linear, a bracket
    /// under each instant opened into slots (labelled with its time), and
    /// a break mark with its length over each compressed gap.
    fn mixed_ticks(&self, b: &mut Canvas<'_>, l: &Layout, y: i32, top: i32) {
        let grey = rgb(0x888888);
        // Candidate labels: (priority, x, text); placed when they do not
        // overlap one placed before.
        let mut labels: Vec<(u8, i32, String)> = Vec::new();
        // Brackets under opened instants.
        for (i, t) in l.instants.iter().enumerate() {
            let w = l.slots[i] as f64 * l.slot;
            let x0 = l.base[i].round() as i32;
            let x1 = (l.base[i] + w).round() as i32;
            if l.slots[i] < 2 || x1 - x0 < 6 {
                continue;
            }
            // Rounded, unless that would read like a neighbour's time.
            let round = |k: usize| l.instants.get(k).map(|t| short(Instant::from_nanos(*t)));
            let label = short(Instant::from_nanos(*t));
            let label = if (i > 0 && round(i - 1).as_ref() == Some(&label))
                || round(i + 1).as_ref() == Some(&label)
            {
                format_nanos(*t)
            } else {
                label
            };
            b.open(
                "instant",
                &[("data-at", t.to_string())],
                &format!(
                    "{}: {} events at this instant, drawn side by side in the order they happened",
                    format_nanos(*t),
                    l.slots[i]
                ),
            );
            rect(b, x0, top, x1, y + 2, &rgb(0x9cc3f5).mix(0.08), true);
            let _ = b.draw_line((x0, y + 4), (x1, y + 4), &rgb(0x1f4e9c));
            let _ = b.draw_line((x0, y + 2), (x0, y + 7), &rgb(0x1f4e9c));
            let _ = b.draw_line((x1, y + 2), (x1, y + 7), &rgb(0x1f4e9c));
            b.close();
            labels.push((0, (x0 + x1) / 2, label));
        }
        // Ticks at round times where time is linear.
        if l.rate > 0.0 {
            let step = tick_step((90.0 / l.rate).ceil() as u64, 1);
            for v in l.round_times(step) {
                let opened = l
                    .instants
                    .binary_search(&v)
                    .is_ok_and(|i| l.slots[i] > 1 && l.slots[i] as f64 * l.slot >= 6.0);
                if let Some(x) = l.time_x(v).filter(|_| !opened) {
                    let x = x.round() as i32;
                    let _ = b.draw_line((x, top), (x, y + 2), &rgb(0xdddddd).mix(0.6));
                    let _ = b.draw_line((x, y + 2), (x, y + 7), &grey);
                    labels.push((1, x, format_nanos(v)));
                }
            }
        }
        // Compressed gaps: a break across the panels, and the gap's length.
        for (i, c) in l.compressed.iter().enumerate() {
            if !*c {
                continue;
            }
            let (from, to) = (l.instants[i], l.instants[i + 1]);
            let mid = (l.gap_start(i) + l.gap[i] / 2.0).round() as i32;
            let len = format_nanos(to - from);
            b.open(
                "break",
                &[("data-from", from.to_string()), ("data-to", to.to_string())],
                &format!(
                    "{len} of idle time, from {} to {}, drawn shorter than the rest of the axis",
                    format_nanos(from),
                    format_nanos(to)
                ),
            );
            rect(b, mid - 4, top, mid + 4, y + 8, &WHITE.mix(0.85), true);
            let _ = b.draw_line((mid - 7, y + 9), (mid - 1, y - 5), &grey);
            let _ = b.draw_line((mid + 1, y + 9), (mid + 7, y - 5), &grey);
            let mut yy = top;
            while yy < y {
                let _ = b.draw_line((mid - 4, yy), (mid + 4, yy + 6), &rgb(0xaaaaaa));
                let _ = b.draw_line((mid + 4, yy + 6), (mid - 4, yy + 12), &rgb(0xaaaaaa));
                yy += 12;
            }
            b.close();
            labels.push((0, mid, format!("{len} idle")));
        }
        labels.sort_by_key(|(p, x, _)| (*p, *x));
        let mut placed: Vec<(i32, i32)> = Vec::new();
        for (_, x, label) in labels {
            let w = text_width(&label, 11.0);
            let (a, z) = (x - w / 2 - 3, x + w / 2 + 3);
            if placed.iter().any(|(pa, pz)| a < *pz && z > *pa) {
                continue;
            }
            placed.push((a, z));
            text(
                b,
                &label,
                x,
                y + 9,
                11.0,
                rgb(0x333333),
                (HPos::Center, VPos::Top),
                false,
            );
        }
    }

    /// The main task's elapsed time per panel: bars on the axis above when
    /// it measures time (each bar ends where the panel's main task ended),
    /// on a scale of their own for the ordinal axis (and said so).
    fn bar_chart(
        &self,
        b: &mut Canvas<'_>,
        laned: &[(&Panel<'_>, Lanes)],
        sc: &Scale,
        y: i32,
        width: i32,
    ) {
        let heading = if sc.is_time() {
            "elapsed (main task), on the axis above"
        } else {
            "elapsed (main task), to scale with each other (not with the axis above)"
        };
        text(
            b,
            heading,
            14,
            y,
            13.0,
            BLACK,
            (HPos::Left, VPos::Top),
            true,
        );
        let max = laned
            .iter()
            .map(|(_, l)| main_end(l).unwrap_or(l.end).as_nanos())
            .max()
            .unwrap_or(1)
            .max(1);
        let x1 = width - RIGHT - 70;
        for (i, (p, l)) in laned.iter().enumerate() {
            let (t, seq) = l
                .tasks
                .first()
                .and_then(|m| m.ended.map(|(at, seq, _)| (at, seq)))
                .unwrap_or((l.end, l.events));
            let by = y + 22 + i as i32 * 24;
            text(
                b,
                &p.title,
                LEFT - 10,
                by + 9,
                12.0,
                BLACK,
                (HPos::Right, VPos::Center),
                false,
            );
            let w = if sc.is_time() {
                sc.for_panel(i).x(t, seq) - LEFT
            } else {
                ((t.as_nanos() as f64 / max as f64) * (x1 - LEFT) as f64).round() as i32
            };
            b.open(
                "bar",
                &[("data-panel", i.to_string())],
                &format!("{}: the main task ended at {t}", p.title),
            );
            rect(b, LEFT, by, LEFT + w.max(2), by + 18, &rgb(0x4a78c2), true);
            let label = short(t);
            let lw = text_width(&label, 12.0);
            if LEFT + w.max(2) + 6 + lw > width - 4 {
                text(
                    b,
                    &label,
                    LEFT + w.max(2) - 6,
                    by + 9,
                    12.0,
                    WHITE,
                    (HPos::Right, VPos::Center),
                    true,
                );
            } else {
                text(
                    b,
                    &label,
                    LEFT + w.max(2) + 6,
                    by + 9,
                    12.0,
                    BLACK,
                    (HPos::Left, VPos::Center),
                    false,
                );
            }
            b.close();
        }
    }
}

/// A run in words: `seed 0 · model asyncio (Python 3.12) · elapsed 10ms`.
fn run_words(trace: &Trace, l: &Lanes) -> String {
    let h = &trace.header;
    let python = h
        .python
        .as_ref()
        .map(|p| format!(" (Python {p})"))
        .unwrap_or_default();
    let end = match (&l.deadlock, main_end(l)) {
        (Some(_), None) => format!("deadlocked at {}", short(l.end)),
        (_, t) => format!("elapsed {}", short(t.unwrap_or(l.end))),
    };
    format!("seed {} · model {}{python} · {end}", h.seed, h.model)
}

/// A span's tooltip: whose, what state and what it waited on, when, and
/// (for a ready span) who woke it.
fn span_title(l: &Lanes, lane: &Lane, s: &Span) -> String {
    let what = if s.label.is_empty() {
        s.state.words().to_string()
    } else {
        format!("{}: {}", s.state.words(), s.label)
    };
    let len = s.to.as_nanos().saturating_sub(s.from.as_nanos());
    let mut t = format!(
        "{}: {what}\n{} → {} ({}), events #{}–#{}",
        lane.name,
        s.from,
        s.to,
        format_nanos(len),
        s.from_seq,
        s.to_seq
    );
    if s.state == LaneState::Ready
        && let Some(w) = l
            .wakes
            .iter()
            .find(|w| w.seq == s.from_seq && w.to == lane.task)
    {
        let by = w
            .from
            .and_then(|f| l.tasks.get((f.0 as usize).wrapping_sub(1)))
            .map_or("the loop (a timer or callback)", |x| x.name.as_str());
        t.push_str(&format!("\nwoken by {by}"));
    }
    t
}

/// A run of the loop's merged spans, in words.
fn loop_title(state: &LaneState, first: &Span, last: &Span, n: usize) -> String {
    let (from, to) = (first.from, last.to);
    match state {
        LaneState::Running if n == 1 => format!("loop runs a step of {} at {from}", first.label),
        LaneState::Running => format!("loop runs {n} steps, {from} → {to}"),
        LaneState::Blocked => format!(
            "loop blocked by a blocking call: {from} → {to} ({})",
            format_nanos(to.as_nanos().saturating_sub(from.as_nanos()))
        ),
        _ => format!(
            "loop idle: {from} → {to} ({})",
            format_nanos(to.as_nanos().saturating_sub(from.as_nanos()))
        ),
    }
}

/// A task's life in a line: created, ended, what it printed.
fn lane_summary(lane: &Lane) -> String {
    let end = match lane.ended {
        Some((at, _, how)) => format!("{how} at {at}"),
        None => "never ended".to_string(),
    };
    let printed = match lane.outputs.len() {
        0 => String::new(),
        1 => ", printed 1 line".to_string(),
        n => format!(", printed {n} lines"),
    };
    format!("created at {}, {end}{printed}", lane.created)
}

/// An I/O mark in words, with its full error.
fn io_mark_words(m: &IoMark) -> String {
    use super::lanes::IoMarkKind;
    let (r, id) = (&m.resource, m.id);
    match &m.kind {
        IoMarkKind::Rejected(e) => format!("{r} #{id} rejected: {e}"),
        IoMarkKind::Failed(e) => format!("{r} #{id} failed: {e}"),
        IoMarkKind::Withdrawn => {
            format!("{r} #{id} withdrawn: its caller stopped waiting while it was queued")
        }
        IoMarkKind::Abandoned => {
            format!("{r} #{id} abandoned: its caller stopped waiting while it was served")
        }
    }
}

/// What a worker does, in words.
fn work_words(s: WorkState) -> &'static str {
    match s {
        WorkState::Starting => "starting a worker process",
        WorkState::Serving => "serving",
        WorkState::OnCpu => "on the CPU",
        WorkState::WaitingForCpu => "waiting for the GIL or a core",
    }
}

/// A task's creation: a green triangle at `x` on the lane at `y`.
fn spawn_glyph(b: &mut Svg<'_>, x: i32, y: i32, h: i32) {
    let _ = b.fill_polygon(
        vec![(x - 4, y + 1), (x - 4, y + h - 1), (x + 1, y + h / 2)],
        &rgb(0x2a9d4b),
    );
}

/// How a task ended, at `ex`: a black bar (returned), a red cross
/// (raised), a hatched grey box (cancelled).
fn end_glyph(b: &mut Svg<'_>, how: &str, ex: i32, y: i32, h: i32) {
    match how {
        "returned" => rect(b, ex, y + 1, ex + 3, y + h - 1, &BLACK, true),
        "raised" => {
            let red = rgb(0xc0001a);
            let _ = b.draw_line((ex - 1, y + 3), (ex + 7, y + h - 3), &red);
            let _ = b.draw_line((ex - 1, y + h - 3), (ex + 7, y + 3), &red);
            let _ = b.draw_line((ex, y + 3), (ex + 8, y + h - 3), &red);
            let _ = b.draw_line((ex, y + h - 3), (ex + 8, y + 3), &red);
        }
        _ => {
            let grey = rgb(0x666666);
            rect(b, ex, y + 2, ex + 8, y + h - 2, &grey, false);
            let _ = b.draw_line((ex, y + h - 2), (ex + 8, y + 2), &grey);
        }
    }
}

/// A legend entry's label right of its key at `x`; returns where the next
/// entry's key goes.
fn legend_label(b: &mut Canvas<'_>, name: &str, x: i32, y: i32) -> i32 {
    text(
        b,
        name,
        x + 18,
        y + 11,
        11.5,
        rgb(0x222222),
        (HPos::Left, VPos::Center),
        false,
    );
    x + 24 + text_width(name, 11.5)
}

/// The colour of health warnings.
const WARNING: RGBColor = RGBColor(0xd4, 0x6b, 0x00);

/// A small triangle pointing up from `y` at `x`: a health warning.
fn warning_glyph(b: &mut Svg<'_>, x: i32, y: i32) {
    let _ = b.fill_polygon(vec![(x - 5, y), (x + 5, y), (x, y - 9)], &WARNING);
}

/// A thin arrow from `a` to `b` with a small head at `b`: a message.
fn flight_arrow(bk: &mut Svg<'_>, a: (i32, i32), b: (i32, i32), c: &RGBAColor) {
    let _ = bk.draw_line(a, b, c);
    let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let back = (b.0 as f64 - ux * 6.0, b.1 as f64 - uy * 6.0);
    let p = |x: f64, y: f64| (x.round() as i32, y.round() as i32);
    let _ = bk.fill_polygon(
        vec![
            b,
            p(back.0 - uy * 3.0, back.1 + ux * 3.0),
            p(back.0 + uy * 3.0, back.1 - ux * 3.0),
        ],
        c,
    );
}

/// A small triangle pointing down from `y` at `x`: an I/O mark.
fn mark_glyph(b: &mut Svg<'_>, x: i32, y: i32, c: &RGBColor) {
    let _ = b.fill_polygon(vec![(x - 4, y), (x + 4, y), (x, y + 7)], c);
}

/// The height of a panel's resource lanes (none: 0).
fn resources_height(l: &Lanes) -> i32 {
    if l.resources.is_empty() {
        return 0;
    }
    let rows: i32 = l
        .resources
        .iter()
        .map(|r| {
            let workers = if r.workers.len() <= MAX_WORKER_ROWS {
                r.workers.len() as i32
            } else {
                0
            };
            LOAD_H + GAP + workers * (LANE + GAP)
        })
        .sum();
    RES_HEAD + rows
}

/// A time rounded for display (labels, bars): at most 4 significant digits.
pub(super) fn short(t: Instant) -> String {
    crate::time::format_short(t.as_nanos())
}

/// When the main task (the first lane) ended.
fn main_end(l: &Lanes) -> Option<Instant> {
    l.tasks.first().and_then(|t| t.ended.map(|(at, _, _)| at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_times_keep_four_significant_digits() {
        assert_eq!(short(Instant::from_nanos(79_899_423_121)), "79.9s");
        assert_eq!(short(Instant::from_nanos(1_495_429_304)), "1.495s");
        assert_eq!(short(Instant::from_nanos(3_000_000_000)), "3s");
        assert_eq!(short(Instant::from_nanos(250_000_000)), "250ms");
    }
}
