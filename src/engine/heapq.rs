//! An exact port of CPython's `heapq` (`Modules/_heapqmodule.c`).
//!
//! asyncio keeps its timers in a plain list managed by `heapq`, ordered by
//! `TimerHandle.__lt__`, which compares `when` only. Equal deadlines are
//! therefore *not* first-come first-served: they leave the heap in whatever
//! order the sift algorithm produces for the exact history of pushes, pops and
//! re-heapifies. To reproduce asyncio's tie order, loopsim runs the same
//! algorithm, comparison for comparison, including the C module's
//! cache-friendly `heapify` for lists longer than 2500 items.
//!
//! The timers' heap is a [`KeyHeap`] (keys apart from their payloads); a
//! `PriorityQueue`'s items, which are not `Copy`, use [`push_any`] and
//! [`pop_any`]. Every comparison is a strict "less than", exactly as
//! CPython only ever calls `<` on heap items.

/// `a < b`, the one comparison CPython makes of heap items: "not less"
/// (`!lt`) is not "greater or equal" for keys that do not compare.
#[inline(always)]
fn lt<K: PartialOrd>(a: &K, b: &K) -> bool {
    a < b
}

/// `heapq.heapify` as the C module does it: the simple bottom-up loop for
/// lists of up to 2500 items, the cache-friendly order beyond that.
fn heapify<K: Copy + PartialOrd>(keys: &mut [K], vals: &mut [u32]) {
    let n = keys.len();
    if n > 2500 {
        cache_friendly_heapify(keys, vals);
        return;
    }
    for i in (0..n / 2).rev() {
        sift_up(keys, vals, i);
    }
}

/// A timer heap: CPython's `heapq` over keys, each with a `u32` payload (a
/// timer slot), compared by key only, on two vectors: the walk to a leaf
/// reads keys alone. asyncio's is a [`FloatHeap`]; the FIFO models' keys
/// are (deadline, sequence) pairs, all distinct, so that this heap pops them
/// in order as any priority queue would.
pub struct KeyHeap<K> {
    keys: Vec<K>,
    vals: Vec<u32>,
}

/// asyncio's timer heap: `f64` deadlines compared with `<` only.
pub type FloatHeap = KeyHeap<f64>;

impl<K> Default for KeyHeap<K> {
    fn default() -> Self {
        KeyHeap {
            keys: Vec::new(),
            vals: Vec::new(),
        }
    }
}

impl<K: Copy + PartialOrd> KeyHeap<K> {
    /// Items in the heap.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The root: the smallest key (of equal keys, the one heap order puts
    /// first).
    pub fn first(&self) -> Option<(K, u32)> {
        Some((*self.keys.first()?, self.vals[0]))
    }

    /// `heapq.heappush`.
    pub fn push(&mut self, key: K, val: u32) {
        self.keys.push(key);
        self.vals.push(val);
        let last = self.keys.len() - 1;
        sift_down(&mut self.keys, &mut self.vals, 0, last);
    }

    /// `heapq.heappop`.
    pub fn pop(&mut self) -> Option<(K, u32)> {
        let last = (self.keys.pop()?, self.vals.pop()?);
        if self.keys.is_empty() {
            return Some(last);
        }
        let root = (
            std::mem::replace(&mut self.keys[0], last.0),
            std::mem::replace(&mut self.vals[0], last.1),
        );
        sift_up(&mut self.keys, &mut self.vals, 0);
        Some(root)
    }

    /// Keeps the items whose payload `keep` accepts, in their order, then
    /// `heapq.heapify` (the purge of cancelled timers).
    pub fn retain_and_heapify(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let mut n = 0;
        for i in 0..self.keys.len() {
            if keep(self.vals[i]) {
                lift(&mut self.keys, &mut self.vals, i, n);
                n += 1;
            }
        }
        self.keys.truncate(n);
        self.vals.truncate(n);
        heapify(&mut self.keys, &mut self.vals);
    }
}

/// `_heapqmodule.c: siftdown(heap, startpos, pos)`: move the item at `pos`
/// up towards `startpos` while it is less than its parent. The item is held
/// aside and parents move down into the hole: the same comparisons as the C
/// module's swaps, half the moves.
fn sift_down<K: Copy + PartialOrd>(keys: &mut [K], vals: &mut [u32], start: usize, mut pos: usize) {
    let vals = &mut vals[..keys.len()];
    let item = (keys[pos], vals[pos]);
    while pos > start {
        let parent = (pos - 1) >> 1;
        if !lt(&item.0, &keys[parent]) {
            break;
        }
        lift(keys, vals, parent, pos);
        pos = parent;
    }
    keys[pos] = item.0;
    vals[pos] = item.1;
}

/// Below this index (the first eleven levels, 16 KiB of `f64` keys) the
/// walk to a leaf goes two levels at a time; deeper, three.
const DEEP: usize = 2047;

/// `keys[to] = keys[from]`, and the payload with it.
#[inline(always)]
fn lift<K: Copy>(keys: &mut [K], vals: &mut [u32], from: usize, to: usize) {
    keys[to] = keys[from];
    vals[to] = vals[from];
}

/// One two-level move of [`sift_up`]'s walk: the smaller child moves up into
/// `pos`, the smaller of its children into its place; returns the hole.
/// The caller checked `4 * pos + 6 < keys.len()`.
#[inline(always)]
fn two_levels<K: Copy + PartialOrd>(keys: &mut [K], vals: &mut [u32], pos: usize) -> usize {
    let child = 2 * pos + 1;
    let grand = 4 * pos + 3;
    // The four grandchildren in one range check.
    let g = &keys[grand..grand + 4];
    let (c0, c1) = (keys[child], keys[child + 1]);
    let right = usize::from(!lt(&c0, &c1));
    let under_left = usize::from(!lt(&g[0], &g[1]));
    let under_right = usize::from(!lt(&g[2], &g[3]));
    let child = child + right;
    let grand = grand + 2 * right + [under_left, under_right][right];
    lift(keys, vals, child, pos);
    lift(keys, vals, grand, child);
    grand
}

/// The walk of [`sift_up`] in a heap too large for the cache: two levels
/// at a time down to `DEEP`, then three.
#[inline(always)]
fn walk_deep<K: Copy + PartialOrd>(keys: &mut [K], vals: &mut [u32], mut pos: usize) -> usize {
    let end = keys.len();
    while 4 * pos + 6 < end && pos < DEEP {
        pos = two_levels(keys, vals, pos);
    }
    // Deeper, where each level is a cache miss in a large heap, three
    // levels at a time: the children, the four grandchildren and the eight
    // great-grandchildren are read at once (14 keys, their addresses known
    // from `pos`); the three comparisons C makes pick the path, the four
    // others are discarded. (Near the root, in the cache, the discarded
    // comparisons would cost more than they save.)
    while 8 * pos + 14 < end {
        let child = 2 * pos + 1;
        let grand = 4 * pos + 3;
        let great = 8 * pos + 7;
        let right_of = |i: usize| usize::from(!lt(&keys[i], &keys[i + 1]));
        let c = right_of(child);
        let g = [right_of(grand), right_of(grand + 2)];
        let gg = [
            right_of(great),
            right_of(great + 2),
            right_of(great + 4),
            right_of(great + 6),
        ];
        // The path: child `c`, grandchild `g[c]` under it, then the
        // great-grandchild under that.
        let gpos = 2 * c + g[c];
        let child = child + c;
        let grand = grand + gpos;
        let great = great + 2 * gpos + gg[gpos];
        lift(keys, vals, child, pos);
        lift(keys, vals, grand, child);
        lift(keys, vals, great, grand);
        pos = great;
    }
    pos
}

/// `_heapqmodule.c: siftup(heap, pos)`: bubble the smaller child up until a
/// leaf is reached (the right child on ties), then sift the item down. The
/// item itself is never compared on the way to the leaf, so it is held
/// aside and written once at the leaf.
fn sift_up<K: Copy + PartialOrd>(keys: &mut [K], vals: &mut [u32], mut pos: usize) {
    let end = keys.len();
    // The payloads are as many as the keys: an index checked against one
    // is in bounds for the other.
    let vals = &mut vals[..end];
    let start = pos;
    let limit = end >> 1;
    let item = (keys[pos], vals[pos]);
    if end > 8 * DEEP + 14 {
        pos = walk_deep(keys, vals, pos);
    }
    // Two levels at a time while both exist below `pos`: the children and
    // all four grandchildren are read at once (their addresses depend on
    // `pos` only), so that the walk waits for memory once every two levels.
    // The comparisons C makes are the first and one of the other two; the
    // other is made and discarded (comparing keys has no side effect).
    while 4 * pos + 6 < end {
        pos = two_levels(keys, vals, pos);
    }
    while pos < limit {
        let child = 2 * pos + 1;
        // C's `childpos += ((unsigned)cmp ^ 1)`: the right child unless the
        // left is less. Computed, not branched on: which child is smaller
        // is a coin toss the branch predictor loses half the time, and the
        // walk to the leaf is one long chain of dependent loads.
        let right = child + 1;
        let child = child + usize::from(right < end && !lt(&keys[child], &keys[right]));
        lift(keys, vals, child, pos);
        pos = child;
    }
    keys[pos] = item.0;
    vals[pos] = item.1;
    sift_down(keys, vals, start, pos);
}

/// `heapq.heappush` for items that are not `Copy` (a `PriorityQueue`'s):
/// the comparisons of [`FloatHeap::push`], with swaps.
pub fn push_any<T>(heap: &mut Vec<T>, item: T, lt: impl Fn(&T, &T) -> bool) {
    heap.push(item);
    let last = heap.len() - 1;
    sift_down_swapping(heap, last, &lt);
}

/// [`sift_down`] from `pos` to the root, with swaps.
fn sift_down_swapping<T>(heap: &mut [T], mut pos: usize, lt: &impl Fn(&T, &T) -> bool) {
    while pos > 0 {
        let parent = (pos - 1) >> 1;
        if !lt(&heap[pos], &heap[parent]) {
            break;
        }
        heap.swap(pos, parent);
        pos = parent;
    }
}

/// `heapq.heappop` for items that are not `Copy`: the comparisons of
/// [`FloatHeap::pop`], with swaps.
pub fn pop_any<T>(heap: &mut Vec<T>, lt: impl Fn(&T, &T) -> bool) -> Option<T> {
    let last = heap.pop()?;
    if heap.is_empty() {
        return Some(last);
    }
    let root = std::mem::replace(&mut heap[0], last);
    let end = heap.len();
    let mut pos = 0;
    while pos < end >> 1 {
        let mut child = 2 * pos + 1;
        if child + 1 < end && !lt(&heap[child], &heap[child + 1]) {
            child += 1;
        }
        heap.swap(pos, child);
        pos = child;
    }
    sift_down_swapping(heap, pos, &lt);
    Some(root)
}

/// `_heapqmodule.c: keep_top_bit`.
fn keep_top_bit(mut n: usize) -> usize {
    let mut i = 0;
    while n > 1 {
        n >>= 1;
        i += 1;
    }
    n << i
}

/// `_heapqmodule.c: cache_friendly_heapify`.
fn cache_friendly_heapify<K: Copy + PartialOrd>(keys: &mut [K], vals: &mut [u32]) {
    let m = keys.len() >> 1;
    let leftmost = keep_top_bit(m + 1) - 1;
    let mhalf = m >> 1;
    let mut sweep = |from: usize, to_inclusive: usize| {
        let mut i = from;
        while i > to_inclusive {
            i -= 1;
            let mut j = i;
            loop {
                sift_up(keys, vals, j);
                if j & 1 == 0 {
                    break;
                }
                j >>= 1;
            }
        }
    };
    // for (i = leftmost - 1; i >= mhalf; i--)
    sweep(leftmost, mhalf);
    // for (i = m - 1; i >= leftmost; i--)
    sweep(m, leftmost);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items that tie on their key and carry their insertion index, so that
    /// the order ties come out in is visible.
    fn lt(a: &(f64, u32), b: &(f64, u32)) -> bool {
        a.0 < b.0
    }

    fn drain(mut h: FloatHeap) -> Vec<u32> {
        let mut out = vec![];
        while let Some((_, i)) = h.pop() {
            out.push(i);
        }
        out
    }

    #[test]
    fn equal_keys_pop_in_cpython_heapq_order_not_fifo() {
        // python3 -c "import heapq; ..." with a class whose __lt__ compares a
        // constant key: n=5 gives [0,2,4,1,3], n=8 [0,2,6,5,7,4,1,3].
        for (n, want) in [
            (5, vec![0, 2, 4, 1, 3]),
            (8, vec![0, 2, 6, 5, 7, 4, 1, 3]),
            (10, vec![0, 2, 6, 9, 8, 5, 7, 4, 1, 3]),
        ] {
            let mut h = FloatHeap::default();
            for i in 0..n {
                h.push(7.0, i);
            }
            assert_eq!(drain(h), want, "n={n}");
        }
    }

    #[test]
    fn the_swapping_and_the_hole_versions_agree_on_ties() {
        // Small and large heaps (the walk two levels at a time runs only
        // where four grandchildren exist, three levels at a time only below
        // `DEEP` in a heap of over 16k items), few and many distinct keys.
        for (n, distinct, pop_every) in [
            (500, 13, 3),
            (20_000, 7, 2),
            (20_000, 1000, 5),
            (60_000, 50, 4),
            (60_000, 60_000, 7),
        ] {
            agree_on_ties(n, distinct, pop_every);
        }
    }

    fn agree_on_ties(n: u32, distinct: u32, pop_every: u32) {
        let mut a = FloatHeap::default();
        let mut b = vec![];
        let mut out = (vec![], vec![]);
        for i in 0..n {
            let key = f64::from((i.wrapping_mul(7919)) % distinct);
            a.push(key, i);
            push_any(&mut b, (key, i), lt);
            if i % pop_every == 0 {
                out.0.push(a.pop());
                out.1.push(pop_any(&mut b, lt));
            }
        }
        assert_eq!(out.0, out.1);
        assert_eq!(drain(a), {
            let mut v = vec![];
            while let Some((_, i)) = pop_any(&mut b, lt) {
                v.push(i);
            }
            v
        });
    }

    #[test]
    fn distinct_keys_pop_sorted() {
        let keys = [5.0, 3.0, 9.0, 1.0, 1.0, 8.0, 2.0, 7.0, 3.0, 0.0];
        let mut h = FloatHeap::default();
        for (i, k) in keys.iter().enumerate() {
            h.push(*k, i as u32);
        }
        let mut got = vec![];
        while let Some((k, _)) = h.pop() {
            got.push(k);
        }
        let mut want = keys.to_vec();
        want.sort_by(f64::total_cmp);
        assert_eq!(got, want);
    }

    #[test]
    fn heapify_makes_a_valid_heap_for_small_and_cache_friendly_sizes() {
        for n in [0u32, 1, 2, 3, 10, 100, 2500, 2501, 5000, 9001] {
            let mut h = FloatHeap {
                keys: (0..n).map(|i| f64::from((i * 7919) % 97)).collect(),
                vals: (0..n).collect(),
            };
            // Every other item dropped, then the rest heapified (the purge).
            h.retain_and_heapify(|v| v % 2 == 0);
            assert_eq!(h.len(), n.div_ceil(2) as usize);
            assert!(h.vals.iter().all(|v| v % 2 == 0));
            for i in 1..h.len() {
                assert!(
                    !super::lt(&h.keys[i], &h.keys[(i - 1) / 2]),
                    "n={n}: child {i} < parent"
                );
            }
        }
    }

    /// The order CPython's own `heapq` pops a long history of pushes and
    /// pops with many ties in, then a purge-sized `heapify` (cache-friendly:
    /// over 2500 items): `python3 tools/heapq_order.py` runs the same
    /// history on CPython and prints the FNV-1a digest of the popped
    /// payloads, which is the constant here.
    #[test]
    fn matches_cpython_heapq_on_a_long_history_with_ties() {
        let mut out = vec![];
        let mut h = FloatHeap::default();
        let mut x: u64 = 12345;
        for i in 0..30_000u32 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            h.push(((x >> 33) % 50) as f64, i);
            if (x >> 20).is_multiple_of(3) {
                out.push(h.pop().expect("just pushed").1);
            }
        }
        out.extend(std::iter::from_fn(|| h.pop().map(|e| e.1)));
        let n = 7000u32;
        let mut g = FloatHeap {
            keys: (0..n).map(|i| f64::from((i * 7919) % 31)).collect(),
            vals: (0..n).collect(),
        };
        g.retain_and_heapify(|v| v % 3 != 0);
        out.extend(std::iter::from_fn(|| g.pop().map(|e| e.1)));
        assert_eq!(out.len(), 34_666);
        let digest = out.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
            v.to_le_bytes()
                .iter()
                .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
        });
        assert_eq!(
            digest, CPYTHON_DIGEST,
            "popped order differs from CPython's heapq"
        );
    }

    /// `python3 tools/heapq_order.py`.
    const CPYTHON_DIGEST: u64 = 0x89fd_91eb_a180_cb93;

    #[test]
    fn keep_top_bit_matches_c() {
        assert_eq!(keep_top_bit(1), 1);
        assert_eq!(keep_top_bit(2), 2);
        assert_eq!(keep_top_bit(3), 2);
        assert_eq!(keep_top_bit(1251), 1024);
    }
}
