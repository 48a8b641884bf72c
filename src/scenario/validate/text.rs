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

/// Damerau-Levenshtein-ish edit distance for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// The closest known name, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    got: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let odd = unusual_chars(got);
    if got.chars().count() > 64 {
        return odd;
    }
    let limit = (got.chars().count() / 3).clamp(1, 3);
    let close = known
        .into_iter()
        .map(|k| (distance(got, k), k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| format!("did you mean `{k}`?"));
    match (close, odd) {
        (Some(c), Some(o)) => Some(format!("{c} {o}")),
        (c, o) => c.or(o),
    }
}

/// Names the characters of `s` that are not plain ASCII — look-alikes
/// (`U+0430 CYRILLIC SMALL LETTER A`) and invisible ones — which make a
/// name differ from the one it looks like.
pub(crate) fn unusual_chars(s: &str) -> Option<String> {
    let mut seen = Vec::new();
    for (i, c) in s.chars().enumerate() {
        if !c.is_ascii() || c.is_ascii_control() {
            if seen.len() == 3 {
                break;
            }
            let name = unicode_names2::name(c)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "an unnamed character".into());
            seen.push(format!("U+{:04X} {name} at character {}", c as u32, i + 1));
        }
    }
    (!seen.is_empty()).then(|| format!("`{}` contains {}", s.escape_debug(), seen.join(", ")))
}

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
