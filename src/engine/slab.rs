//! One generational slot table for everything the loop hands out handles to
//! (timers, `call_soon` callbacks; sockets and pool jobs in the I/O layer):
//! a freed slot is reused, and a [`Key`] from before the reuse no longer
//! reaches it (`TimerHandle.cancel()` on a fired timer does nothing).
//!
//! Freed slots are reused last-freed first, so a run reuses the same
//! indices on every replay.

/// A handle to a slot that survives its reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub index: u32,
    pub generation: u32,
}

struct Slot<T> {
    value: T,
    generation: u32,
}

pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
}

impl<T> Slab<T> {
    pub fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Stores `value` in a freed slot (a new generation) or a new one.
    #[inline(always)]
    pub fn insert(&mut self, value: T) -> Key {
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.value = value;
                Key {
                    index,
                    generation: slot.generation,
                }
            }
            None => self.push_new(value),
        }
    }

    /// A freed slot made live again (a new generation), for the caller to
    /// write field by field: no value built on the stack and copied in (its
    /// wide loads straddle the narrower stores that built it, and stall on
    /// store forwarding). `None` if no slot is free: then [`insert`](Self::insert).
    #[inline(always)]
    pub fn reuse(&mut self) -> Option<(Key, &mut T)> {
        let index = self.free.pop()?;
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        let key = Key {
            index,
            generation: slot.generation,
        };
        Some((key, &mut slot.value))
    }

    /// Stores `value` in a new slot.
    #[inline(always)]
    fn push_new(&mut self, value: T) -> Key {
        self.slots.push(Slot {
            value,
            generation: 0,
        });
        // The free list never holds more than every slot: grown with the
        // slots, it does not grow later, when a run frees what it made. (A
        // large allocation then would make the allocator merge every small
        // block freed so far: 5 % of a run that frees 100k tasks.)
        if self.free.capacity() < self.slots.capacity() {
            self.free
                .reserve_exact(self.slots.capacity().saturating_sub(self.free.len()));
        }
        Key {
            index: (self.slots.len() - 1) as u32,
            generation: 0,
        }
    }

    /// The value behind `key`, unless its slot was reused since.
    pub fn get(&self, key: Key) -> Option<&T> {
        self.slots
            .get(key.index as usize)
            .filter(|s| s.generation == key.generation)
            .map(|s| &s.value)
    }

    /// The value behind `key`, mutably, unless its slot was reused since.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation)
            .map(|s| &mut s.value)
    }

    /// The value in slot `index`, whatever its generation (for structures
    /// that hold indices only while the slot is theirs, like the timer heap).
    pub fn at(&self, index: u32) -> &T {
        &self.slots[index as usize].value
    }

    /// [`at`](Self::at), mutably.
    pub fn at_mut(&mut self, index: u32) -> &mut T {
        &mut self.slots[index as usize].value
    }

    /// Makes slot `index` reusable; its value stays until then.
    pub fn free(&mut self, index: u32) {
        self.free.push(index);
    }

    /// Every slot's value, live or freed (for teardown).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.iter_mut().map(|s| &mut s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_slot_is_reused_and_its_old_key_reaches_nothing() {
        let mut s = Slab::new();
        let a = s.insert("a");
        s.free(a.index);
        let b = s.insert("b");
        assert_eq!(a.index, b.index);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&"b"));
    }

    #[test]
    fn reuse_gives_a_freed_slot_a_new_generation_or_nothing() {
        let mut s = Slab::new();
        assert!(s.reuse().is_none(), "nothing freed yet");
        let a = s.insert(1);
        s.free(a.index);
        let (b, v) = s.reuse().expect("a freed slot");
        *v = 2;
        assert_eq!(b.index, a.index);
        assert_ne!(b.generation, a.generation);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&2));
        assert!(s.reuse().is_none());
    }

    #[test]
    fn slots_are_reused_last_freed_first() {
        let mut s = Slab::new();
        let k: Vec<Key> = (0..3).map(|i| s.insert(i)).collect();
        s.free(k[0].index);
        s.free(k[2].index);
        assert_eq!(s.insert(9).index, k[2].index);
        assert_eq!(s.insert(9).index, k[0].index);
        assert_eq!(s.insert(9).index, 3);
    }
}
