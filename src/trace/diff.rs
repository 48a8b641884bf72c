//! Where two traces first differ: what a determinism check reports.

use super::Trace;

impl Trace {
    /// The first event at which two traces differ, as `(index, line in self,
    /// line in other)` of their JSON Lines forms (index 0 is the header).
    /// `None` when they are byte-identical.
    pub fn first_difference(&self, other: &Trace) -> Option<(usize, String, String)> {
        let a = self.to_jsonl();
        let b = other.to_jsonl();
        if a == b {
            return None;
        }
        let la: Vec<&[u8]> = a.split(|c| *c == b'\n').collect();
        let lb: Vec<&[u8]> = b.split(|c| *c == b'\n').collect();
        let n = la.len().max(lb.len());
        (0..n).find_map(|i| {
            let x = la.get(i).copied().unwrap_or(b"<end of trace>");
            let y = lb.get(i).copied().unwrap_or(b"<end of trace>");
            (x != y).then(|| {
                (
                    i,
                    String::from_utf8_lossy(x).into_owned(),
                    String::from_utf8_lossy(y).into_owned(),
                )
            })
        })
    }
}
