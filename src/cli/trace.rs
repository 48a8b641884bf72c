//! `loopsim trace FILE`: read a saved trace back — in either form, JSON
//! Lines or binary (`.lstrace`) — and summarise it, print it as a diagram,
//! draw its timeline, or write it in the other form.
//!
//! The summary reads a binary trace one event at a time, keeping only its
//! strings and counters: a trace streamed from a run of any length is
//! summarised in the memory of its file's bytes. Everything else needs the
//! events whole.

use super::common::{self, EXIT_OK, EXIT_USAGE};
use super::output::{OutDir, Protected};
use super::run::AxisArg;
use super::ui::Ui;
use anyhow::Result;
use loopsim::Trace;
use loopsim::render::{Axis, ChromeTrace, Mermaid, Renderer, SequenceText, Timeline};
use loopsim::trace::{
    Event, EventKind, ReadError, Reader, RunEnd, StepEnd, TraceFormat, TraceHeader,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A trace written by `run --trace-out`, `report`, or `Sim::run_streaming`:
    /// JSON Lines, or binary (`.lstrace`), told apart by its first bytes.
    file: PathBuf,
    /// What to print: a summary (counts, tasks, time, how the run ended),
    /// the sequence diagram, Mermaid, a Chrome/Perfetto trace, the critical
    /// path, or the trace as JSON Lines. Default: the summary, unless
    /// --svg or --trace-out is given.
    #[arg(long, value_enum)]
    format: Option<View>,
    /// With --format sequence or mermaid: show every handle the loop runs.
    #[arg(long)]
    detail: bool,
    /// Write the trace to this file: binary if the name ends in `.lstrace`,
    /// JSON Lines otherwise (converts between the forms).
    #[arg(long, value_name = "PATH")]
    trace_out: Option<PathBuf>,
    /// Write an SVG timeline of the trace to this file.
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
    /// The --svg timeline's horizontal axis (as for `run`).
    #[arg(long, value_enum)]
    axis: Option<AxisArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum View {
    Summary,
    Sequence,
    Mermaid,
    Chrome,
    CriticalPath,
    Jsonl,
    /// Print nothing (the default when writing files).
    #[value(skip)]
    None,
}

/// The largest trace file read; a larger one is refused, not read into
/// memory.
const MAX_FILE: u64 = 1 << 30;

/// The most events held in memory at once (about 1 GiB of them): past
/// this, only the summary (which keeps none) reads a trace.
const MAX_EVENTS: usize = 20_000_000;

pub fn run(args: Args, ui: &mut Ui) -> Result<i32> {
    let protected = Protected::new(std::slice::from_ref(&args.file), &[]);
    for path in [&args.svg, &args.trace_out].into_iter().flatten() {
        let (dir, name) = OutDir::for_file(path, &protected)?;
        dir.check_writable(&name)?;
    }
    let Some(bytes) = read_file(&args.file) else {
        return Ok(EXIT_USAGE);
    };
    let binary = loopsim::trace::is_binary(&bytes);
    let writes = args.svg.is_some() || args.trace_out.is_some();
    let format = args
        .format
        .unwrap_or(if writes { View::None } else { View::Summary });
    let needs_events = format != View::Summary || writes;
    if !needs_events && binary {
        // One pass, the events not kept.
        let mut s = Summary::default();
        let (header, _) = match read_binary(&bytes, |e, strings| {
            s.add(&e, strings);
            true
        }) {
            Ok(Some(parts)) => parts,
            Ok(None) => unreachable!("the summary reads to the end"),
            Err(e) => return bad(&args.file, &e),
        };
        s.print(&header, "binary", bytes.len(), ui)?;
        return Ok(EXIT_OK);
    }
    let trace = if binary {
        // Stopped at the cap, before holding more.
        let mut events = Vec::new();
        match read_binary(&bytes, |e, _| {
            events.push(e);
            events.len() <= MAX_EVENTS
        }) {
            Ok(Some((header, strings))) => Trace {
                header,
                strings,
                events,
            },
            Ok(None) => {
                eprintln!(
                    "{}: more than {MAX_EVENTS} events, more than loopsim holds in memory to draw or convert; `loopsim trace {}` alone summarises a trace of any length",
                    args.file.display(),
                    args.file.display()
                );
                return Ok(EXIT_USAGE);
            }
            Err(e) => return bad(&args.file, &e),
        }
    } else {
        match Trace::from_jsonl(&bytes) {
            Ok(t) => t,
            Err(e) => return bad(&args.file, &e),
        }
    };
    // The renderers read traces loopsim records: a file changed by hand
    // (or by a fault) is drawn only if it is one such trace could be.
    let draws = args.svg.is_some()
        || matches!(
            format,
            View::Sequence | View::Mermaid | View::Chrome | View::CriticalPath
        );
    if draws {
        let v = loopsim::checks::check(&loopsim::checks::WellFormed, &trace);
        if !v.holds {
            let at = v
                .evidence
                .first()
                .map(|e| format!(" (event {})", e.seq))
                .unwrap_or_default();
            eprintln!(
                "{}: not a trace loopsim records: {}{at}; it can be summarised or converted, not drawn",
                args.file.display(),
                v.observed
            );
            return Ok(EXIT_USAGE);
        }
    }
    let out: Vec<u8> = match format {
        View::None => Vec::new(),
        View::Summary => {
            let mut s = Summary::default();
            for e in &trace.events {
                s.add(e, &trace.strings);
            }
            let form = if binary { "binary" } else { "JSON Lines" };
            s.print(&trace.header, form, bytes.len(), ui)?;
            Vec::new()
        }
        View::Sequence => SequenceText {
            detail: args.detail,
        }
        .render(&trace),
        View::Mermaid => Mermaid {
            detail: args.detail,
            ..Mermaid::default()
        }
        .render(&trace),
        View::Chrome => ChromeTrace.render(&trace),
        View::CriticalPath => loopsim::render::critical_path(&trace)
            .text(&trace.header.label)
            .into_bytes(),
        View::Jsonl => trace.to_jsonl(),
    };
    ui.write_all(&out)?;
    if let Some(path) = &args.trace_out {
        common::write_output(path, &TraceFormat::for_path(path).write(&trace), &protected)?;
        if !ui.quiet() {
            eprintln!("trace written to {}", path.display());
        }
    }
    if let Some(path) = &args.svg {
        let timeline = Timeline {
            axis: match args.axis.unwrap_or(AxisArg::Mixed) {
                AxisArg::Mixed => Axis::TimeAndOrder,
                AxisArg::Time => Axis::Time,
                AxisArg::Steps => Axis::Steps,
            },
            ..Timeline::default()
        };
        let label = trace.header.label.clone();
        let panels = common::panels(&[(label.clone(), &trace)]);
        let svg = common::mark_svg(timeline.render_panels(&label, &panels));
        common::write_output(path, &svg, &protected)?;
        if !ui.quiet() {
            eprintln!("timeline written to {}", path.display());
        }
    }
    Ok(EXIT_OK)
}

/// Reads a binary trace one event at a time, handing each to `each` with
/// the strings defined so far: its header and strings at the end, or
/// `None` if `each` asked to stop.
fn read_binary(
    bytes: &[u8],
    mut each: impl FnMut(Event, &[String]) -> bool,
) -> Result<Option<(TraceHeader, Vec<String>)>, ReadError> {
    let mut reader = Reader::new(bytes)?;
    while let Some(e) = reader.next_event()? {
        if !each(e, reader.strings()) {
            return Ok(None);
        }
    }
    Ok(Some(reader.into_parts()))
}

/// The file's bytes, or `None` after saying why not.
fn read_file(path: &Path) -> Option<Vec<u8>> {
    let size = match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            eprintln!(
                "{}: a directory; give a trace file (JSON Lines or .lstrace)",
                path.display()
            );
            return None;
        }
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return None;
        }
    };
    if size > MAX_FILE {
        eprintln!(
            "{}: {size} bytes, more than the {} GiB loopsim reads as one trace (stream a long run's trace in the binary form, .lstrace: a few bytes an event)",
            path.display(),
            MAX_FILE >> 30
        );
        return None;
    }
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            None
        }
    }
}

fn bad(path: &Path, e: &ReadError) -> Result<i32> {
    eprintln!(
        "{}: {e}\n(a trace is what `loopsim run FILE --trace-out T` writes: JSON Lines, or binary when T ends in .lstrace)",
        path.display()
    );
    Ok(EXIT_USAGE)
}

/// What a summary counts, event by event.
#[derive(Default)]
struct Summary {
    events: u64,
    kinds: BTreeMap<&'static str, u64>,
    first: Option<u64>,
    last: u64,
    iterations: u64,
    tasks: u64,
    returned: u64,
    raised: u64,
    cancelled: u64,
    steps: u64,
    output: u64,
    warnings: BTreeMap<&'static str, u64>,
    end: Option<String>,
}

impl Summary {
    fn add(&mut self, e: &Event, strings: &[String]) {
        self.events += 1;
        *self.kinds.entry(e.kind.name()).or_default() += 1;
        let at = e.at.as_nanos();
        self.first.get_or_insert(at);
        self.last = self.last.max(at);
        self.iterations = self.iterations.max(e.iteration);
        let s = |sym: loopsim::trace::Sym| strings.get(sym.0 as usize).map_or("?", String::as_str);
        match e.kind {
            EventKind::TaskCreated { .. } => self.tasks += 1,
            EventKind::StepStarted { .. } => self.steps += 1,
            EventKind::StepEnded { end } => match end {
                StepEnd::Returned => self.returned += 1,
                StepEnd::Raised { .. } => self.raised += 1,
                StepEnd::Cancelled => self.cancelled += 1,
                StepEnd::Suspended { .. } => {}
            },
            EventKind::Output { .. } => self.output += 1,
            EventKind::Warning { warning } => {
                *self.warnings.entry(warning.name()).or_default() += 1
            }
            EventKind::RunEnded { end } => {
                self.end = Some(match end {
                    RunEnd::Completed => "completed".to_string(),
                    RunEnd::Failed { error } => format!("failed: {}", s(error)),
                    RunEnd::Deadlock => "deadlocked".to_string(),
                    RunEnd::LimitExceeded { limit } => {
                        format!("stopped by the `{}` limit", s(limit))
                    }
                })
            }
            _ => {}
        }
    }

    fn print(&self, h: &TraceHeader, form: &str, bytes: usize, ui: &mut Ui) -> std::io::Result<()> {
        let time = |ns: u64| loopsim::Instant::from_nanos(ns).to_string();
        let python = h
            .python
            .as_deref()
            .map(|p| format!(", Python {p}"))
            .unwrap_or_default();
        writeln!(
            ui,
            "trace of {} (seed {}, {}{python})",
            h.label, h.seed, h.model
        )?;
        writeln!(
            ui,
            "  {} events in {bytes} bytes ({form}, {:.1} bytes an event)",
            self.events,
            bytes as f64 / self.events.max(1) as f64
        )?;
        writeln!(
            ui,
            "  virtual time {} to {}, {} loop iterations",
            time(self.first.unwrap_or(0)),
            time(self.last),
            self.iterations
        )?;
        writeln!(
            ui,
            "  {} tasks: {} returned, {} raised, {} cancelled; {} steps; {} printed lines",
            self.tasks, self.returned, self.raised, self.cancelled, self.steps, self.output
        )?;
        writeln!(
            ui,
            "  the run {}",
            self.end
                .as_deref()
                .unwrap_or("has no end event (cut short?)")
        )?;
        if !self.warnings.is_empty() {
            let w: Vec<String> = self
                .warnings
                .iter()
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect();
            writeln!(ui, "  warnings: {}", w.join(", "))?;
        }
        writeln!(ui, "  events by kind:")?;
        for (k, n) in &self.kinds {
            writeln!(ui, "    {k:<18} {n:>12}")?;
        }
        Ok(())
    }
}
