//! How checkers put times and lists into words.

use crate::time::{Duration, format_nanos};

pub(super) fn t(d: Duration) -> String {
    format_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

pub(super) fn quote_lines<S: AsRef<str>>(lines: &[S]) -> String {
    format!(
        "[{}]",
        lines
            .iter()
            .map(|l| format!("{:?}", l.as_ref()))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
