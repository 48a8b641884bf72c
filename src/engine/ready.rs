//! The ready queue (asyncio's `loop._ready` deque): a ring of handles whose
//! capacity is a power of two, so that a position wraps with a mask. Every
//! yield and every wake-up pushes one handle and the loop pops it: the
//! general `VecDeque`'s wrap arithmetic was a few percent of a yield.

use super::Handle;

pub(crate) struct Ready {
    /// The ring's slots, written in order the first time round: only
    /// `buf.len()` of the `cap` are initialised (memory reserved, not yet
    /// touched), and the next new one is always `buf.len()`.
    buf: Vec<Handle>,
    /// A power of two, or zero.
    cap: usize,
    head: usize,
    len: usize,
}

impl Ready {
    pub fn new() -> Ready {
        Ready {
            buf: Vec::new(),
            cap: 0,
            head: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.cap.wrapping_sub(1)
    }

    /// Appends `h` (`call_soon`).
    #[inline(always)]
    pub fn push_back(&mut self, h: Handle) {
        if self.len == self.cap {
            self.grow();
        }
        let at = (self.head + self.len) & self.mask();
        if at == self.buf.len() {
            self.buf.push(h);
        } else {
            self.buf[at] = h;
        }
        self.len += 1;
    }

    /// Takes the first handle.
    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<Handle> {
        if self.len == 0 {
            return None;
        }
        let h = self.buf[self.head];
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        Some(h)
    }

    /// Takes the handle at position `i` (the exploring models' choice),
    /// keeping the others in order.
    pub fn remove(&mut self, i: usize) -> Option<Handle> {
        if i >= self.len {
            return None;
        }
        let mask = self.mask();
        let h = self.buf[(self.head + i) & mask];
        for j in i..self.len - 1 {
            self.buf[(self.head + j) & mask] = self.buf[(self.head + j + 1) & mask];
        }
        self.len -= 1;
        Some(h)
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The handle at position `i`.
    pub fn get(&self, i: usize) -> Option<Handle> {
        (i < self.len).then(|| self.buf[(self.head + i) & self.mask()])
    }

    /// The handles, first to last.
    pub fn iter(&self) -> impl Iterator<Item = &Handle> {
        let mask = self.mask();
        (0..self.len).map(move |i| &self.buf[(self.head + i) & mask])
    }

    /// Doubles the capacity (at least 64) of a full ring, in place (a
    /// `realloc`, no second buffer alive at once): the handles run from
    /// `head` to the old end, then from 0 to `head`; that second part is
    /// copied to just past the old end, where the wider mask looks for it.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        debug_assert_eq!(self.len, self.cap);
        let cap = (self.cap * 2).max(64);
        self.buf.reserve_exact(cap - self.buf.len());
        self.buf.extend_from_within(..self.head);
        self.cap = cap;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TaskId;
    use std::collections::VecDeque;

    fn id(h: Handle) -> u32 {
        match h {
            Handle::Step(t) => t.0,
            _ => unreachable!("only steps here"),
        }
    }

    /// The ring against std's deque, through growth and wrap-around, with
    /// removals from the middle.
    #[test]
    fn the_ring_keeps_the_order_a_deque_keeps() {
        let mut ring = Ready::new();
        let mut deque = VecDeque::new();
        let mut x: u64 = 7;
        for n in 0..20_000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            match (x >> 33) % 7 {
                0..=2 => {
                    ring.push_back(Handle::Step(TaskId(n)));
                    deque.push_back(n);
                }
                3..=4 => assert_eq!(ring.pop_front().map(id), deque.pop_front()),
                5 if !deque.is_empty() => {
                    let i = (x >> 40) as usize % deque.len();
                    assert_eq!(ring.remove(i).map(id), deque.remove(i));
                }
                _ => {
                    for k in 0..(x >> 50) % 200 {
                        ring.push_back(Handle::Step(TaskId(k as u32)));
                        deque.push_back(k as u32);
                    }
                }
            }
            assert_eq!(ring.len(), deque.len());
        }
        assert!(ring.iter().map(|h| id(*h)).eq(deque.iter().copied()));
        assert_eq!(ring.remove(ring.len()).map(id), None);
        ring.clear();
        assert!(ring.is_empty() && ring.pop_front().is_none());
        // After a clear the ring starts over in slots written before.
        for k in 0..100 {
            ring.push_back(Handle::Step(TaskId(k)));
        }
        assert!(ring.iter().map(|h| id(*h)).eq(0..100));
    }
}
