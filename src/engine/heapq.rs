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
//! The functions take a strict "less than" predicate, exactly as CPython only
//! ever calls `<` on heap items.

/// `heapq.heappush`: append, then sift the new item towards the root.
pub fn push<T: Copy>(heap: &mut Vec<T>, item: T, lt: impl Fn(&T, &T) -> bool) {
    heap.push(item);
    let last = heap.len() - 1;
    sift_down(heap, 0, last, &lt);
}

/// `heapq.heappop`: take the last item, and if the heap is not empty put it
/// at the root and sift it up; return the old root.
pub fn pop<T: Copy>(heap: &mut Vec<T>, lt: impl Fn(&T, &T) -> bool) -> Option<T> {
    let last = heap.pop()?;
    if heap.is_empty() {
        return Some(last);
    }
    let root = std::mem::replace(&mut heap[0], last);
    sift_up(heap, 0, &lt);
    Some(root)
}

/// `heapq.heapify` as the C module does it: the simple bottom-up loop for
/// lists of up to 2500 items, the cache-friendly order beyond that.
pub fn heapify<T: Copy>(heap: &mut [T], lt: impl Fn(&T, &T) -> bool) {
    let n = heap.len();
    if n > 2500 {
        cache_friendly_heapify(heap, &lt);
        return;
    }
    for i in (0..n / 2).rev() {
        sift_up(heap, i, &lt);
    }
}

/// `_heapqmodule.c: siftdown(heap, startpos, pos)`: move the item at `pos`
/// up towards `startpos` while it is less than its parent. The item is held
/// aside and parents move down into the hole: the same comparisons as the C
/// module's swaps, half the moves.
fn sift_down<T: Copy>(heap: &mut [T], start: usize, mut pos: usize, lt: &impl Fn(&T, &T) -> bool) {
    let item = heap[pos];
    while pos > start {
        let parent = (pos - 1) >> 1;
        let p = heap[parent];
        if !lt(&item, &p) {
            break;
        }
        heap[pos] = p;
        pos = parent;
    }
    heap[pos] = item;
}

/// `_heapqmodule.c: siftup(heap, pos)`: bubble the smaller child up until a
/// leaf is reached (the right child on ties), then sift the item down. The
/// item itself is never compared on the way to the leaf, so it is held
/// aside and written once at the leaf.
fn sift_up<T: Copy>(heap: &mut [T], mut pos: usize, lt: &impl Fn(&T, &T) -> bool) {
    let end = heap.len();
    let start = pos;
    let limit = end >> 1;
    let item = heap[pos];
    while pos < limit {
        let child = 2 * pos + 1;
        // Both children at once: one bounds check, the comparison of C.
        let child = match heap.get(child..child + 2) {
            Some([l, r]) if !lt(l, r) => child + 1,
            _ => child,
        };
        heap[pos] = heap[child];
        pos = child;
    }
    heap[pos] = item;
    sift_down(heap, start, pos, lt);
}

/// [`push`] for items that are not `Copy` (a `PriorityQueue`'s): the same
/// comparisons, with swaps.
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

/// [`pop`] for items that are not `Copy`: the same comparisons, with swaps.
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
fn cache_friendly_heapify<T: Copy>(heap: &mut [T], lt: &impl Fn(&T, &T) -> bool) {
    let m = heap.len() >> 1;
    let leftmost = keep_top_bit(m + 1) - 1;
    let mhalf = m >> 1;
    let sweep = |from: usize, to_inclusive: usize, heap: &mut [T]| {
        let mut i = from;
        while i > to_inclusive {
            i -= 1;
            let mut j = i;
            loop {
                sift_up(heap, j, lt);
                if j & 1 == 0 {
                    break;
                }
                j >>= 1;
            }
        }
    };
    // for (i = leftmost - 1; i >= mhalf; i--)
    sweep(leftmost, mhalf, heap);
    // for (i = m - 1; i >= leftmost; i--)
    sweep(m, leftmost, heap);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items that tie on `key` and carry their insertion index, so that the
    /// order ties come out in is visible.
    fn lt(a: &(u32, usize), b: &(u32, usize)) -> bool {
        a.0 < b.0
    }

    fn drain(mut h: Vec<(u32, usize)>) -> Vec<usize> {
        let mut out = vec![];
        while let Some((_, i)) = pop(&mut h, lt) {
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
            let mut h = vec![];
            for i in 0..n {
                push(&mut h, (7, i), lt);
            }
            assert_eq!(drain(h), want, "n={n}");
        }
    }

    #[test]
    fn the_swapping_and_the_hole_versions_agree_on_ties() {
        let mut a = vec![];
        let mut b = vec![];
        let mut out = (vec![], vec![]);
        for i in 0..500usize {
            let key = ((i * 7919) % 13) as u32;
            push(&mut a, (key, i), lt);
            push_any(&mut b, (key, i), lt);
            if i % 3 == 0 {
                out.0.push(pop(&mut a, lt));
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
        let keys = [5u32, 3, 9, 1, 1, 8, 2, 7, 3, 0];
        let mut h = vec![];
        for (i, k) in keys.iter().enumerate() {
            push(&mut h, (*k, i), lt);
        }
        let mut got = vec![];
        while let Some((k, _)) = pop(&mut h, lt) {
            got.push(k);
        }
        let mut want = keys.to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn heapify_makes_a_valid_heap_for_small_and_cache_friendly_sizes() {
        for n in [0usize, 1, 2, 3, 10, 100, 2500, 2501, 5000, 9001] {
            let mut v: Vec<(u32, usize)> = (0..n).map(|i| (((i * 7919) % 97) as u32, i)).collect();
            heapify(&mut v, lt);
            for i in 1..v.len() {
                assert!(!lt(&v[i], &v[(i - 1) / 2]), "n={n}: child {i} < parent");
            }
        }
    }

    #[test]
    fn keep_top_bit_matches_c() {
        assert_eq!(keep_top_bit(1), 1);
        assert_eq!(keep_top_bit(2), 2);
        assert_eq!(keep_top_bit(3), 2);
        assert_eq!(keep_top_bit(1251), 1024);
    }
}
