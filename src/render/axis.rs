//! The timeline's horizontal axis: where an event, or a moment of virtual
//! time, goes on the page.
//!
//! Three axes ([`Axis`]):
//! - **time and order** (the default): virtual time, but an instant at
//!   which several events happen is opened up into one slot per event, in
//!   the trace's order — five timers due at 10 ms show as five wake-ups
//!   side by side, in the order the loop ran them, under one bracket
//!   labelled `10ms`. Between instants, time is linear (one rate for the
//!   whole picture, so ticks stay truthful), except that a long idle gap
//!   (every panel's loop idle, or its run over) is compressed to a fixed
//!   width, drawn with a break mark and labelled with its length. How the
//!   width is shared: slots get at most [`SLOT_MAX`] pixels each and at most
//!   half of the width; the rest goes to the gaps. Longest first, an idle
//!   gap lasting more than [`LONG`] times every other gap left linear
//!   together gets [`GAP_CAP`] of the gaps' width, and the gaps left linear
//!   share the rest at one rate.
//! - **time**: virtual time, linear; what happens at one instant is one
//!   pixel wide.
//! - **steps**: every event gets the same width; time is lost.
//!
//! The instants and their slots are shared by every panel of a picture, so
//! stacked variants keep one axis: an instant is as wide as the panel with
//! the most events there needs.

use super::lanes::{LaneState, Lanes};
use crate::time::Instant;
use crate::trace::Trace;

/// What the horizontal axis measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Axis {
    /// Virtual time with every busy instant opened up into ordered slots
    /// and long idle gaps compressed (see the module's notes).
    #[default]
    TimeAndOrder,
    /// Virtual time, linear.
    Time,
    /// Event order: every event gets the same width, so what happens at one
    /// instant is spread out in order.
    Steps,
}

/// The widest a slot (one event at a busy instant) gets, in pixels.
pub const SLOT_MAX: f64 = 12.0;
/// The share of the gaps' width a compressed gap gets.
pub const GAP_CAP: f64 = 1.0 / 7.0;
/// A gap is long when it lasts more than this many times every other gap
/// left linear together (it would take more than three quarters of the
/// width).
pub const LONG: f64 = 3.0;

/// Where each instant and gap of a picture goes (the time-and-order axis).
#[derive(Clone, Debug)]
pub(super) struct Layout {
    /// Every instant at which some panel has an event, in order (ns).
    pub instants: Vec<u64>,
    /// The most events any panel has at each instant.
    pub slots: Vec<usize>,
    /// The x of each instant's first slot.
    pub base: Vec<f64>,
    /// A slot's width.
    pub slot: f64,
    /// The width of the gap after each instant (one fewer than instants).
    pub gap: Vec<f64>,
    /// Whether that gap is compressed.
    pub compressed: Vec<bool>,
    /// Pixels per nanosecond in the gaps left linear (0: none).
    pub rate: f64,
    /// Per panel: (time, first event index, events) of each of its instants.
    panels: Vec<Vec<(u64, usize, usize)>>,
}

impl Layout {
    /// Lays out the panels' traces between `x0` and `x1`.
    pub fn new(runs: &[(&Trace, &Lanes)], x0: i32, x1: i32) -> Layout {
        let mut panels = Vec::new();
        let mut counts: std::collections::BTreeMap<u64, usize> = Default::default();
        for (trace, _) in runs {
            let mut own: Vec<(u64, usize, usize)> = Vec::new();
            for (seq, e) in trace.events.iter().enumerate() {
                let t = e.at.as_nanos();
                match own.last_mut() {
                    Some(last) if last.0 == t => last.2 += 1,
                    _ => own.push((t, seq, 1)),
                }
            }
            for &(t, _, n) in &own {
                let c = counts.entry(t).or_insert(0);
                *c = (*c).max(n);
            }
            panels.push(own);
        }
        if counts.is_empty() {
            counts.insert(0, 1);
        }
        let instants: Vec<u64> = counts.keys().copied().collect();
        let slots: Vec<usize> = counts.values().copied().collect();
        let width = f64::from((x1 - x0).max(1));
        let total_slots = slots.iter().sum::<usize>().max(1) as f64;
        let gaps: Vec<u64> = instants.windows(2).map(|w| w[1] - w[0]).collect();
        let share = if gaps.is_empty() { 1.0 } else { 0.5 };
        let slot = (width * share / total_slots).min(SLOT_MAX);
        let room = width - slot * total_slots;
        // Which gaps may be compressed: every panel idle through it, or over.
        let idle: Vec<bool> = instants
            .windows(2)
            .map(|w| {
                runs.iter().all(|(_, l)| {
                    l.end.as_nanos() <= w[0]
                        || l.loop_spans.iter().any(|s| {
                            s.state == LaneState::Idle
                                && s.from.as_nanos() <= w[0]
                                && s.to.as_nanos() >= w[1]
                        })
                })
            })
            .collect();
        let total: f64 = gaps.iter().map(|g| *g as f64).sum();
        let cap = room * GAP_CAP;
        let mut order: Vec<usize> = (0..gaps.len()).filter(|i| idle[*i]).collect();
        order.sort_by(|a, b| gaps[*b].cmp(&gaps[*a]).then(a.cmp(b)));
        // Longest first: a gap longer than LONG times every other gap left
        // linear together is compressed, while some time stays linear.
        let mut compressed = vec![false; gaps.len()];
        let (mut linear, mut k) = (total, 0.0);
        for i in order {
            let g = gaps[i] as f64;
            let others = linear - g;
            if others <= 0.0 || g <= LONG * others || (k + 1.0) * cap >= room {
                break;
            }
            compressed[i] = true;
            linear = others;
            k += 1.0;
        }
        let rate = if linear > 0.0 {
            (room - k * cap) / linear
        } else {
            0.0
        };
        let gap: Vec<f64> = gaps
            .iter()
            .zip(&compressed)
            .map(|(g, c)| if *c { cap } else { *g as f64 * rate })
            .collect();
        let mut base = Vec::with_capacity(instants.len());
        let mut x = f64::from(x0);
        for (i, n) in slots.iter().enumerate() {
            base.push(x);
            x += *n as f64 * slot + gap.get(i).copied().unwrap_or(0.0);
        }
        Layout {
            instants,
            slots,
            base,
            slot,
            gap,
            compressed,
            rate,
            panels,
        }
    }

    /// The x of event `seq` at `t` in panel `panel` (a time between
    /// instants: its place in the gap).
    pub fn x(&self, panel: usize, t: Instant, seq: usize) -> f64 {
        let t = t.as_nanos();
        match self.instants.binary_search(&t) {
            Ok(i) => {
                let own = self.panels.get(panel).and_then(|p| {
                    p.binary_search_by_key(&t, |s| s.0)
                        .ok()
                        .map(|k| (p[k].1, p[k].2))
                });
                let slot = match own {
                    Some((first, n)) => seq.saturating_sub(first).min(n),
                    None => 0,
                };
                self.base[i] + slot as f64 * self.slot
            }
            Err(0) => self.base[0],
            Err(i) if i >= self.instants.len() => self.end(),
            Err(i) => {
                let a = i - 1;
                let from = self.gap_start(a);
                let span = (self.instants[i] - self.instants[a]) as f64;
                from + self.gap[a] * (t - self.instants[a]) as f64 / span
            }
        }
    }

    /// Where the gap after instant `i` starts (its slots' end).
    pub fn gap_start(&self, i: usize) -> f64 {
        self.base[i] + self.slots[i] as f64 * self.slot
    }

    /// The right end of the last instant's slots.
    pub fn end(&self) -> f64 {
        let last = self.instants.len() - 1;
        self.gap_start(last)
    }

    /// The x of virtual time `t` on the axis, or `None` when `t` falls
    /// inside a compressed gap (ticks are drawn only where they are true).
    pub fn time_x(&self, t: u64) -> Option<f64> {
        match self.instants.binary_search(&t) {
            Ok(i) => Some(self.base[i]),
            Err(0) => None,
            Err(i) if i >= self.instants.len() => None,
            Err(i) if self.compressed[i - 1] => None,
            Err(_) => Some(self.x(usize::MAX, Instant::from_nanos(t), 0)),
        }
    }

    /// The multiples of `step` where a tick can go, in order: the instants
    /// that fall on one, and those inside the gaps left linear. The
    /// compressed gaps are skipped, not stepped through: a 1 ns gap drawn
    /// wide (a small `step`) beside a compressed gap of an hour would
    /// otherwise take trillions of steps. Inside a linear gap the times
    /// are at least `step` apart, which the caller chose as 90 pixels.
    pub fn round_times(&self, step: u64) -> Vec<u64> {
        let step = step.max(1);
        let mut out = Vec::new();
        for (i, &at) in self.instants.iter().enumerate() {
            if at.is_multiple_of(step) {
                out.push(at);
            }
            let Some(&next) = self.instants.get(i + 1) else {
                break;
            };
            if self.compressed[i] {
                continue;
            }
            let mut v = (at / step).saturating_add(1).saturating_mul(step);
            while v < next {
                out.push(v);
                match v.checked_add(step) {
                    Some(n) => v = n,
                    None => break,
                }
            }
        }
        out
    }
}

/// A tick step of 1, 2 or 5 × 10^k nanoseconds giving about `want` ticks.
pub(super) fn tick_step(span_ns: u64, want: u64) -> u64 {
    let raw = (span_ns / want.max(1)).max(1);
    let mut p = 1u64;
    while p.saturating_mul(10) <= raw {
        p = p.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        if p.saturating_mul(m) >= raw {
            return p.saturating_mul(m);
        }
    }
    p.saturating_mul(10)
}

/// Maps one panel's events and times to x.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scale<'a> {
    pub axis: Axis,
    pub x0: i32,
    pub x1: i32,
    /// The axis' length in its unit (ns, or events) for the linear axes.
    pub max: u64,
    /// The time-and-order layout, with this panel's index.
    pub layout: Option<(&'a Layout, usize)>,
}

impl Scale<'_> {
    /// The x of event `seq`, at `t`.
    pub fn x(&self, t: Instant, seq: usize) -> i32 {
        if let Some((l, p)) = self.layout {
            return l.x(p, t, seq).round() as i32;
        }
        let v = match self.axis {
            Axis::Time | Axis::TimeAndOrder => t.as_nanos(),
            Axis::Steps => seq as u64,
        };
        let w = (self.x1 - self.x0) as f64;
        self.x0 + ((v as f64 / self.max.max(1) as f64) * w).round() as i32
    }

    /// This scale for panel `p`.
    pub fn for_panel(&self, p: usize) -> Self {
        Scale {
            layout: self.layout.map(|(l, _)| (l, p)),
            ..*self
        }
    }

    /// Whether x measures time (a bar of elapsed time fits this axis).
    pub fn is_time(&self) -> bool {
        self.axis != Axis::Steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::lanes;
    use crate::{Sim, sleep};
    use std::time::Duration;

    fn run(steps: &'static [u64]) -> Trace {
        Sim::builder()
            .build()
            .run(async move {
                for ms in steps {
                    sleep(Duration::from_millis(*ms)).await;
                }
            })
            .trace
    }

    #[test]
    fn a_long_idle_gap_is_compressed_and_time_stays_linear_elsewhere() {
        let t = run(&[1, 10_000, 1, 2]);
        let l = lanes(&t);
        let layout = Layout::new(&[(&t, &l)], 0, 1000);
        // Instants 0, 1ms, 10.001s, 10.002s, 10.004s: the 10 s gap alone.
        assert_eq!(layout.compressed, [false, true, false, false]);
        assert!((layout.gap[1] - layout.gap.iter().sum::<f64>() * GAP_CAP).abs() < 1.0);
        assert_eq!(layout.time_x(5_000_000_000), None, "no tick in a break");
        // Truthful ticks: between instants, x grows at one rate in every
        // gap left linear.
        let at = |us: u64| layout.time_x(us * 1_000).unwrap();
        let a = at(200) - at(100);
        let b = at(10_003_500) - at(10_002_500);
        assert!(
            a > 0.0 && (b - 10.0 * a).abs() < 1e-6,
            "0.1 ms is {a} px but 1 ms is {b} px"
        );
        assert!(layout.end() <= 1000.0 + 1e-6);
    }

    #[test]
    fn gaps_that_are_all_long_are_not_compressed() {
        let t = run(&[3_000, 2_000]);
        let l = lanes(&t);
        let layout = Layout::new(&[(&t, &l)], 0, 1000);
        assert!(layout.compressed.iter().all(|c| !c));
        let (g0, g1) = (layout.gap[0], layout.gap[1]);
        assert!((g0 / g1 - 1.5).abs() < 1e-9, "3 s and 2 s keep their ratio");
    }

    #[test]
    fn events_at_one_instant_get_a_slot_each_in_order() {
        let t = run(&[]);
        let l = lanes(&t);
        let layout = Layout::new(&[(&t, &l)], 0, 1000);
        let n = t.events.len();
        let xs: Vec<f64> = (0..n).map(|s| layout.x(0, Instant::ZERO, s)).collect();
        assert!(n >= 2 && xs.windows(2).all(|w| w[1] - w[0] == layout.slot));
    }

    /// A 1 ns gap beside an hour-long one (found by the scenario fuzzer,
    /// where a 1 ns and a 2 s sleep took 5 s to draw): the hour is
    /// compressed, and the round times where ticks go are those of the
    /// linear stretches only, however small the step their scale asks for.
    #[test]
    fn round_times_skip_compressed_gaps() {
        let t = Sim::builder()
            .build()
            .run(async {
                let short = crate::spawn(sleep(Duration::from_nanos(1)));
                sleep(Duration::from_secs(3600)).await;
                short.await.unwrap();
            })
            .trace;
        let l = lanes(&t);
        let layout = Layout::new(&[(&t, &l)], 0, 1000);
        assert!(layout.compressed.contains(&true), "{:?}", layout.compressed);
        let times = layout.round_times(1);
        assert!(times.len() <= 4, "{} round times", times.len());
        assert!(times.iter().all(|v| layout.time_x(*v).is_some()));
        // In a linear gap, every multiple of the step is there.
        let linear = run(&[1, 2]);
        let ll = lanes(&linear);
        let lay = Layout::new(&[(&linear, &ll)], 0, 1000);
        assert_eq!(
            lay.round_times(500_000),
            (0..=6).map(|k| k * 500_000).collect::<Vec<_>>()
        );
    }

    #[test]
    fn ticks_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(tick_step(5_000_000_000, 10), 500_000_000);
        assert_eq!(tick_step(2_000_000_000, 10), 200_000_000);
        assert_eq!(tick_step(79_900_000_000, 10), 10_000_000_000);
    }
}
