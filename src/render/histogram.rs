//! The SVG histogram of a sweep's elapsed times: one row per variant on a
//! shared time axis, so that variants compare at a glance.

use super::axis::tick_step;
use super::svg::{Svg, rect, rgb, short, text};
use crate::time::Instant;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const WIDTH: i32 = 900;
const LEFT: i32 = 170;
const RIGHT: i32 = 40;
const ROW_H: i32 = 90;
const BINS: usize = 40;

/// Histograms of `rows` (a label and its values in nanoseconds) under
/// `title`; every row shares one axis from 0 to the largest value.
pub fn elapsed_histogram(title: &str, rows: &[(String, Vec<u64>)]) -> Vec<u8> {
    let height = 70 + rows.len() as i32 * ROW_H + 40;
    let mut out = String::new();
    {
        let mut b = SVGBackend::with_string(&mut out, (WIDTH as u32, height as u32));
        draw(&mut b, title, rows, height);
        let _ = b.present();
    }
    out.into_bytes()
}

fn draw(b: &mut Svg<'_>, title: &str, rows: &[(String, Vec<u64>)], height: i32) {
    rect(b, 0, 0, WIDTH, height, &WHITE, true);
    text(b, title, 14, 14, 16.0, BLACK, (HPos::Left, VPos::Top), true);
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let x = |ns: u64| x0 + ((ns as f64 / max as f64) * f64::from(x1 - x0)).round() as i32;
    let bin_of = |ns: u64| ((ns as u128 * BINS as u128) / (max as u128 + 1)) as usize;
    for (r, (label, values)) in rows.iter().enumerate() {
        let top = 50 + r as i32 * ROW_H;
        let base = top + ROW_H - 24;
        let mut counts = [0u64; BINS];
        for v in values {
            counts[bin_of(*v).min(BINS - 1)] += 1;
        }
        let peak = counts.iter().copied().max().unwrap_or(0).max(1);
        text(
            b,
            label,
            LEFT - 10,
            top + 18,
            12.0,
            BLACK,
            (HPos::Right, VPos::Center),
            true,
        );
        text(
            b,
            &format!("{} runs", values.len()),
            LEFT - 10,
            top + 34,
            11.0,
            rgb(0x555555),
            (HPos::Right, VPos::Center),
            false,
        );
        rect(b, x0, base, x1, base, &rgb(0x999999), false);
        let bin_w = f64::from(x1 - x0) / BINS as f64;
        for (i, c) in counts.iter().enumerate() {
            if *c == 0 {
                continue;
            }
            let h = ((*c as f64 / peak as f64) * f64::from(ROW_H - 34)).round() as i32;
            let bx0 = x0 + (i as f64 * bin_w).round() as i32;
            let bx1 = x0 + ((i + 1) as f64 * bin_w).round() as i32 - 1;
            rect(
                b,
                bx0,
                base - h.max(1),
                bx1.max(bx0 + 1),
                base,
                &rgb(0x4a78c2),
                true,
            );
        }
        if !values.is_empty() {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let p50 = sorted[(sorted.len() - 1) / 2];
            let px = x(p50);
            rect(b, px, top + 6, px + 1, base, &rgb(0xd62728), true);
            text(
                b,
                &format!("p50 {}", short(Instant::from_nanos(p50))),
                px + 4,
                top + 8,
                11.0,
                rgb(0xd62728),
                (HPos::Left, VPos::Top),
                false,
            );
        }
    }
    let axis_y = 50 + rows.len() as i32 * ROW_H;
    let step = tick_step(max, 8);
    let mut t = 0;
    while t <= max {
        let tx = x(t);
        rect(b, tx, axis_y - 4, tx, axis_y + 2, &rgb(0x999999), false);
        text(
            b,
            &short(Instant::from_nanos(t)),
            tx,
            axis_y + 6,
            11.0,
            rgb(0x555555),
            (HPos::Center, VPos::Top),
            false,
        );
        t = match t.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    text(
        b,
        "elapsed (main task), virtual time",
        x1,
        axis_y + 22,
        11.0,
        rgb(0x555555),
        (HPos::Right, VPos::Top),
        false,
    );
}
