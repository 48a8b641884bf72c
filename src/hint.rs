//! "Did you mean": the closest known name to a mistyped one, and the
//! look-alike or invisible characters that make two names differ.

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
