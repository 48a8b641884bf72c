//! What was printed, and in which order.

use super::words::{quote_lines, t};
use super::{Bound, Check, Evidence, Facts, Verdict};

/// The printed lines are exactly these, in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputIs(pub Vec<String>);

impl Check for OutputIs {
    fn describe(&self) -> String {
        format!("output is {}", quote_lines(&self.0))
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let got = f.lines();
        if got.len() == self.0.len() && got.iter().zip(&self.0).all(|(g, w)| g == w) {
            return Verdict::new(true, self.describe(), quote_lines(&got));
        }
        let (observed, at) = first_output_difference(&self.0, &got);
        let v = Verdict::new(false, self.describe(), observed);
        match at.and_then(|i| f.output.get(i)) {
            Some(l) => v.with(Evidence::at(
                f.trace,
                l.seq,
                format!("printed {:?}", l.text),
            )),
            None => v,
        }
    }
}

/// The observed text of a difference and the index of the first printed
/// line that differs (none when the output stops short).
fn first_output_difference(want: &[String], got: &[&str]) -> (String, Option<usize>) {
    for i in 0..want.len().max(got.len()) {
        match (want.get(i), got.get(i)) {
            (Some(w), Some(g)) if w == g => continue,
            (Some(w), Some(g)) => {
                return (
                    format!(
                        "line {} is {g:?}, expected {w:?}; output {}",
                        i + 1,
                        quote_lines(got)
                    ),
                    Some(i),
                );
            }
            (Some(w), None) => {
                return (
                    format!(
                        "output stops before line {} ({w:?}); output {}",
                        i + 1,
                        quote_lines(got)
                    ),
                    None,
                );
            }
            (None, Some(g)) => {
                return (
                    format!("extra line {} {g:?}; output {}", i + 1, quote_lines(got)),
                    Some(i),
                );
            }
            (None, None) => break,
        }
    }
    (quote_lines(got), None)
}

/// These lines are printed in this relative order (each line's first print).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InOrder(pub Vec<String>);

impl Check for InOrder {
    fn describe(&self) -> String {
        format!("lines in order {}", quote_lines(&self.0))
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        let mut pos = Vec::new();
        for l in &self.0 {
            match f.output.iter().position(|o| o.text == l) {
                Some(p) => pos.push(p),
                None => {
                    return Verdict::new(
                        false,
                        self.describe(),
                        format!("{l:?} was never printed"),
                    );
                }
            }
        }
        let ok = pos.windows(2).all(|w| w[0] < w[1]);
        let mut order: Vec<(usize, &String)> = pos.iter().copied().zip(&self.0).collect();
        order.sort();
        let seen: Vec<&String> = order.into_iter().map(|(_, l)| l).collect();
        let mut v = Verdict::new(
            ok,
            self.describe(),
            format!("printed in order {}", quote_lines(&seen)),
        );
        if !ok {
            // The first pair out of order: the later-listed line printed first.
            if let Some(w) = pos.windows(2).find(|w| w[0] > w[1]) {
                for &p in &[w[1], w[0]] {
                    let l = &f.output[p];
                    v = v.with(Evidence::at(
                        f.trace,
                        l.seq,
                        format!("printed {:?}", l.text),
                    ));
                }
            }
        }
        v
    }
}

/// A line is printed (its first print) within a time bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrintedAt {
    /// The line.
    pub line: String,
    /// When, since the start.
    pub at: Bound,
}

impl Check for PrintedAt {
    fn describe(&self) -> String {
        format!("{:?} printed at {}", self.line, self.at.describe())
    }

    fn check(&self, f: &Facts<'_>) -> Verdict {
        match f.output.iter().find(|o| o.text == self.line) {
            Some(l) => Verdict::new(
                self.at.contains(l.at.since_start()),
                self.describe(),
                format!("printed at {}", l.at),
            )
            .with(Evidence::at(
                f.trace,
                l.seq,
                format!("printed at {}", t(l.at.since_start())),
            )),
            None => Verdict::new(false, self.describe(), "never printed".into()),
        }
    }
}
