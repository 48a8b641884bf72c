//! What was printed instead: the short diff under a failed claim about the
//! printed output (`output`, `order`, `printed`).
//!
//! `output` and `order` compare two lists of lines with a longest common
//! subsequence (positional beyond [`MAX_LCS_CELLS`], where a table would be
//! too large) and show each difference with up to [`CONTEXT`] equal lines
//! around it, `-` for an expected line, `+` for a printed one, the first
//! difference marked. `printed` shows, for a line never printed, the lines
//! printed instead with the closest one marked.

use crate::scenario::ClaimKind;

/// Equal lines shown around a difference.
const CONTEXT: usize = 2;
/// The most diff lines shown; the rest are counted.
const MAX_SHOWN: usize = 16;
/// Above this many expected × printed lines the lists are compared line
/// by line instead of by longest common subsequence.
const MAX_LCS_CELLS: usize = 4_000_000;
/// Characters of one line shown.
const MAX_LINE: usize = 120;

/// For a failed claim about the printed output, what was printed instead,
/// as lines indented by `indent`; `None` for other claims, and when there
/// is nothing to add to the verdict (a line printed, at the wrong time).
///
/// # Examples
///
/// ```
/// use loopsim::report::output_diff;
/// use loopsim::scenario::ClaimKind;
///
/// let claim = ClaimKind::Output(vec!["Hello".into(), "World".into()]);
/// let diff = output_diff(&claim, &["Hello", "world"], "").unwrap();
/// assert_eq!(
///     diff,
///     "printed instead (- expected, + printed):\n  \"Hello\"\n- \"World\"    ← first difference, line 2\n+ \"world\""
/// );
/// ```
pub fn output_diff(kind: &ClaimKind, printed: &[&str], indent: &str) -> Option<String> {
    let lines = match kind {
        ClaimKind::Output(want) => {
            if printed.is_empty() {
                vec!["nothing was printed".to_string()]
            } else {
                let mut l = vec!["printed instead (- expected, + printed):".to_string()];
                l.extend(diff_lines(want, printed, "line"));
                l
            }
        }
        ClaimKind::Order(want) => {
            // Each claimed line's first print, in the order printed.
            let mut seen: Vec<(usize, &str)> = want
                .iter()
                .filter_map(|w| printed.iter().position(|p| p == w).map(|i| (i, w.as_str())))
                .collect();
            seen.sort();
            seen.dedup();
            let seen: Vec<&str> = seen.into_iter().map(|(_, l)| l).collect();
            let mut l = vec!["printed in this order (- expected, + printed):".to_string()];
            l.extend(diff_lines(want, &seen, "item"));
            for w in want.iter().filter(|w| !printed.contains(&w.as_str())) {
                l.push(format!("{} was never printed", shown(w)));
            }
            l
        }
        ClaimKind::PrintedAt { line, .. } => {
            if printed.contains(&line.as_str()) {
                return None;
            }
            printed_instead(line, printed)
        }
        _ => return None,
    };
    Some(
        lines
            .iter()
            .map(|l| format!("{indent}{l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// A line as the diff shows it: quoted, control characters escaped, cut
/// to [`MAX_LINE`] characters.
fn shown(line: &str) -> String {
    let n = line.chars().count();
    if n <= MAX_LINE {
        format!("{line:?}")
    } else {
        let head: String = line.chars().take(MAX_LINE).collect();
        format!("{head:?}… ({} more characters)", n - MAX_LINE)
    }
}

/// One step of an edit script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edit {
    /// Expected line `i` equals printed line `j`.
    Same(usize, usize),
    /// Expected line `i` is missing.
    Expected(usize),
    /// Printed line `j` was not expected.
    Printed(usize),
}

/// The edit script from `want` to `got`.
fn edits<W: AsRef<str>>(want: &[W], got: &[&str]) -> Vec<Edit> {
    let (n, m) = (want.len(), got.len());
    let eq = |i: usize, j: usize| want[i].as_ref() == got[j];
    let mut out = Vec::new();
    if n.saturating_mul(m) > MAX_LCS_CELLS {
        for k in 0..n.max(m) {
            match (k < n, k < m) {
                (true, true) if eq(k, k) => out.push(Edit::Same(k, k)),
                (true, true) => out.extend([Edit::Expected(k), Edit::Printed(k)]),
                (true, false) => out.push(Edit::Expected(k)),
                (false, _) => out.push(Edit::Printed(k)),
            }
        }
        return out;
    }
    // lcs[i][j]: the longest common subsequence of want[i..] and got[j..].
    let w = m + 1;
    let mut lcs = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * w + j] = if eq(i, j) {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && eq(i, j) {
            out.push(Edit::Same(i, j));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j]) {
            out.push(Edit::Printed(j));
            j += 1;
        } else {
            out.push(Edit::Expected(i));
            i += 1;
        }
    }
    // Within a run of changes, the expected lines before the printed ones.
    let mut k = 0;
    while k < out.len() {
        let end = (k..out.len())
            .find(|&e| matches!(out[e], Edit::Same(..)))
            .unwrap_or(out.len());
        out[k..end].sort_by_key(|e| matches!(e, Edit::Printed(_)));
        k = end + 1;
    }
    out
}

/// The diff of `want` and `got` as lines: `  ` equal, `- ` expected, `+ `
/// printed; equal lines far from any change elided; the first change marked
/// with its position (`line 2`, or `item 2` of a list).
fn diff_lines<W: AsRef<str>>(want: &[W], got: &[&str], unit: &str) -> Vec<String> {
    let script = edits(want, got);
    let changed: Vec<usize> = (0..script.len())
        .filter(|&k| !matches!(script[k], Edit::Same(..)))
        .collect();
    let near = |k: usize| changed.iter().any(|&c| c.abs_diff(k) <= CONTEXT);
    let mut out = Vec::new();
    let mut skipped = false;
    let mut marked = false;
    for (k, e) in script.iter().enumerate() {
        if !near(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push("…".to_string());
        }
        skipped = false;
        let mut line = match *e {
            Edit::Same(_, j) => format!("  {}", shown(got[j])),
            Edit::Expected(i) => format!("- {}", shown(want[i].as_ref())),
            Edit::Printed(j) => format!("+ {}", shown(got[j])),
        };
        if !marked && !matches!(e, Edit::Same(..)) {
            marked = true;
            let at = match *e {
                Edit::Expected(i) => i + 1,
                Edit::Printed(j) => j + 1,
                Edit::Same(..) => unreachable!(),
            };
            line.push_str(&format!("    ← first difference, {unit} {at}"));
        }
        out.push(line);
    }
    if skipped {
        out.push("…".to_string());
    }
    if out.len() > MAX_SHOWN {
        let more = out.len() - MAX_SHOWN;
        out.truncate(MAX_SHOWN);
        out.push(format!("… ({} more)", lines(more)));
    }
    out
}

/// For a line never printed: the lines printed instead, around the one
/// closest to it (by edit distance), marked.
fn printed_instead(line: &str, printed: &[&str]) -> Vec<String> {
    if printed.is_empty() {
        return vec!["nothing was printed".to_string()];
    }
    let closest = printed
        .iter()
        .enumerate()
        .map(|(i, p)| (distance(line, p), i))
        .min()
        .filter(|(d, _)| *d <= line.chars().count().max(1) / 2)
        .map(|(_, i)| i);
    let window = 6;
    let start = closest
        .map_or(0, |c| c.saturating_sub(window / 2))
        .min(printed.len().saturating_sub(window));
    let end = (start + window).min(printed.len());
    let mut out = vec!["printed instead:".to_string()];
    if start > 0 {
        out.push(format!("… ({} before)", lines(start)));
    }
    for (i, p) in printed.iter().enumerate().take(end).skip(start) {
        let mark = if Some(i) == closest {
            format!("    ← closest to {}", shown(line))
        } else {
            String::new()
        };
        out.push(format!("  {}{mark}", shown(p)));
    }
    if end < printed.len() {
        out.push(format!("… ({} after)", lines(printed.len() - end)));
    }
    out
}

/// `1 line`, `2 lines`.
fn lines(n: usize) -> String {
    if n == 1 {
        "1 line".to_string()
    } else {
        format!("{n} lines")
    }
}

/// Levenshtein distance on characters, of the first [`MAX_LINE`] of each.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(MAX_LINE).collect();
    let b: Vec<char> = b.chars().take(MAX_LINE).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(want: &[&str], got: &[&str]) -> String {
        let kind = ClaimKind::Output(want.iter().map(|s| s.to_string()).collect());
        output_diff(&kind, got, "").unwrap()
    }

    #[test]
    fn a_changed_line_shows_expected_then_printed_with_the_first_marked() {
        assert_eq!(
            output(&["a", "b", "c"], &["a", "x", "c"]),
            "printed instead (- expected, + printed):\n  \"a\"\n- \"b\"    ← first difference, line 2\n+ \"x\"\n  \"c\""
        );
    }

    #[test]
    fn a_missing_line_and_an_extra_line_are_told_apart() {
        let d = output(&["a", "b", "c"], &["a", "c", "d"]);
        assert_eq!(
            d,
            "printed instead (- expected, + printed):\n  \"a\"\n- \"b\"    ← first difference, line 2\n  \"c\"\n+ \"d\""
        );
    }

    #[test]
    fn equal_lines_far_from_a_change_are_elided() {
        let want: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut got: Vec<&str> = want.iter().map(String::as_str).collect();
        got[10] = "ten";
        let d = output(&want.iter().map(String::as_str).collect::<Vec<_>>(), &got);
        assert!(d.contains(":\n…\n  \"8\"\n  \"9\"\n- \"10\""), "{d}");
        assert!(d.ends_with("  \"11\"\n  \"12\"\n…"), "{d}");
    }

    #[test]
    fn nothing_printed_says_so() {
        assert_eq!(output(&["a"], &[]), "nothing was printed");
    }

    #[test]
    fn an_order_claim_shows_the_order_printed_and_what_never_was() {
        let kind = ClaimKind::Order(vec!["a".into(), "b".into(), "z".into()]);
        let d = output_diff(&kind, &["b", "x", "a"], "  ").unwrap();
        assert!(d.starts_with("  printed in this order"), "{d}");
        assert!(d.contains("\"z\" was never printed"), "{d}");
        assert!(d.contains("first difference"), "{d}");
    }

    #[test]
    fn a_printed_claim_marks_the_closest_line() {
        let kind = ClaimKind::PrintedAt {
            line: "World".into(),
            at: crate::scenario::Bound::AtMost(std::time::Duration::from_secs(1)),
        };
        let d = output_diff(&kind, &["Hello", "world!"], "").unwrap();
        assert_eq!(
            d,
            "printed instead:\n  \"Hello\"\n  \"world!\"    ← closest to \"World\""
        );
        assert_eq!(output_diff(&kind, &["World"], ""), None);
    }

    #[test]
    fn a_changed_line_is_one_expected_and_one_printed_edit() {
        assert_eq!(
            edits(&["a", "b"], &["a", "c"]),
            [Edit::Same(0, 0), Edit::Expected(1), Edit::Printed(1)]
        );
    }
}
