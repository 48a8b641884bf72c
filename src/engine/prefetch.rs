//! A hint to the processor to bring memory into the cache, for
//! [`Core::warm_ready`](super::Core::warm_ready): a batch of ready handles
//! touches task slots, futures and timer slots in no order the hardware
//! predicts, and a prefetch lets their misses overlap without stalling on
//! any of them (a load that misses holds up the instructions behind it;
//! a prefetch does not).
//!
//! The crate's second `unsafe` block: `_mm_prefetch` is `unsafe` only for
//! its target feature (`sse`, which every x86-64 processor has); it reads
//! nothing the program sees and cannot fault, whatever the address. The
//! measured need is in the closing note of issue 11. On other processors it
//! does nothing.
#![allow(unsafe_code)]

/// Asks for the cache line holding the start of `r`, and the next line
/// if `r` reaches into it.
#[inline(always)]
pub(super) fn prefetch<T>(r: &T) {
    let start = std::ptr::from_ref(r).cast::<u8>();
    line(start);
    if std::mem::size_of::<T>() > 1 {
        line(start.wrapping_add(std::mem::size_of::<T>() - 1));
    }
}

/// Asks for the cache line holding the start of `r` (a future behind a
/// `dyn` pointer: its first line is what a poll reads first).
#[inline(always)]
pub(super) fn prefetch_dyn<T: ?Sized>(r: &T) {
    line(std::ptr::from_ref(r).cast::<u8>());
}

#[inline(always)]
fn line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing the program sees and does not fault
    // on any address; `sse` is part of the x86-64 baseline.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
