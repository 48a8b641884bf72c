//! The file's text: offsets to lines and columns, "did you mean" for
//! misspelt names, look-alike characters, and which names are valid.

/// Maps byte offsets to 1-based lines and columns, in time independent of
/// the line's length (a file may put thousands of steps on one line).
pub(super) struct Lines {
    starts: Vec<usize>,
    /// Every [`Lines::STRIDE`] bytes (at a character boundary): the number of
    /// characters before that byte.
    marks: Vec<(usize, usize)>,
    text: String,
}

impl Lines {
    const STRIDE: usize = 4096;

    pub(super) fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut marks = vec![(0, 0)];
        let (mut byte, mut chars) = (0, 0);
        while byte + Lines::STRIDE < text.len() {
            let mut next = byte + Lines::STRIDE;
            while !text.is_char_boundary(next) {
                next += 1;
            }
            chars += text[byte..next].chars().count();
            byte = next;
            marks.push((byte, chars));
        }
        Lines {
            starts,
            marks,
            text: text.to_string(),
        }
    }

    /// Characters before byte `offset` (a character boundary).
    fn chars_before(&self, offset: usize) -> usize {
        let i = self.marks.partition_point(|(b, _)| *b <= offset) - 1;
        let (b, c) = self.marks[i];
        c + self.text[b..offset].chars().count()
    }

    pub(super) fn pos(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|s| *s <= offset);
        let start = self.starts[line - 1];
        let col = self.chars_before(offset) - self.chars_before(start) + 1;
        (line, col)
    }
}

pub(crate) use crate::hint::{did_you_mean, unusual_chars};

/// A name that can be a file or directory name in a report: ASCII letters,
/// digits, `_`, `-` and `.`, not first, at most 100 characters.
pub(super) fn is_path_part(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// `s` made a safe file name: other characters become `_`, a leading `.`
/// becomes `_`, at most 100 characters.
pub(super) fn path_part(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// A user's value quoted for a message, elided past 60 characters.
pub(super) fn elide(s: &str) -> String {
    let mut q = format!("{:?}", s.chars().take(60).collect::<String>());
    if s.chars().count() > 60 {
        q.insert(q.len() - 1, '…');
    }
    q
}

pub(super) fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_alphabetic() || f == '_')
        && c.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_names() {
        assert_eq!(
            did_you_mean("slep", ["sleep", "spawn"]),
            Some("did you mean `sleep`?".into())
        );
        assert_eq!(
            did_you_mean("fetch_dat", ["fetch_data"]),
            Some("did you mean `fetch_data`?".into())
        );
        assert_eq!(did_you_mean("zzz", ["sleep"]), None);
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        let l = Lines::new("ab\ncd\n");
        assert_eq!(l.pos(0), (1, 1));
        assert_eq!(l.pos(4), (2, 2));
    }
}
