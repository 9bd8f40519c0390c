//! The box's allocator: the system one, with large blocks aligned to 64
//! bytes.
//!
//! Record buffers are copied between each other by `memory.copy`, which
//! wasmtime hands to the host's `memmove`. glibc's `memmove` (as of 2.36,
//! on AMD Zen) copies 16 KiB thirty times slower when the destination
//! lies 1 to 15 bytes past the source modulo 4096 (`rep movsb` on 4K
//! aliasing), and rustls copies each received record's plaintext from 5
//! bytes into its input buffer to the start of a fresh one: the two
//! buffers' placement alone decided whether that copy cost 0.5 or 5 µs.
//! With both on 64-byte boundaries the distance is 59 modulo 64.
//!
//! std's `System` resizes a block aligned above 8 bytes by allocating,
//! copying and freeing, never in place; and rustls' input buffer shrinks
//! to 4 KiB whenever it empties and grows 4 KiB at a time while a record
//! arrives: 40 KiB copied for each 16 KiB record received. So a large
//! block of a caller that needs no more than 8-byte alignment is resized
//! by libc's `realloc` itself, which grows or shrinks it in place when the
//! memory after it is free; only when that moves the block off a 64-byte
//! boundary is it moved once more.
#![allow(unsafe_code, reason = "a global allocator is an unsafe trait")]

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks from this size on are aligned to [`ALIGN`].
const LARGE: usize = 1024;
/// A cache line.
const ALIGN: usize = 64;
/// The alignment every block of libc's `malloc` and `realloc` has, at
/// least (dlmalloc's chunks are aligned to twice the pointer size).
const LIBC_ALIGN: usize = 8;

extern "C" {
    /// wasi-libc's (dlmalloc's) `realloc`, behind std's `System` here.
    fn realloc(ptr: *mut u8, size: usize) -> *mut u8;
    /// Its `free`.
    fn free(ptr: *mut u8);
}

/// Resize a large block with libc's `realloc`, in place when it can; then
/// make sure it starts on an [`ALIGN`] boundary.
///
/// # Safety
/// `ptr` must be a live block of libc's allocator, of `old_size` bytes;
/// `new` is its new layout, with a non-zero size and an alignment of
/// [`ALIGN`].
unsafe fn resize_in_libc(ptr: *mut u8, old_size: usize, new: Layout) -> *mut u8 {
    // SAFETY: per this function's contract.
    let resized = unsafe { realloc(ptr, new.size()) };
    if resized.is_null() || (resized as usize).is_multiple_of(ALIGN) {
        return resized;
    }
    // `realloc` moved it to a block of libc's own alignment: move it once
    // more, to a cache-line boundary. Should that fail, the block it gave
    // is kept: it has all the alignment the caller asked for (at most
    // `LIBC_ALIGN`), only not the one asked for speed, and `free` takes it
    // whatever its alignment.
    // SAFETY: `new` has a non-zero size; both blocks hold at least the
    // bytes copied, and are distinct.
    unsafe {
        let aligned = System.alloc(new);
        if aligned.is_null() {
            return resized;
        }
        std::ptr::copy_nonoverlapping(resized, aligned, old_size.min(new.size()));
        free(resized);
        aligned
    }
}

pub(crate) struct BoxAllocator;

/// The layout the system allocator sees for `layout`.
fn adjusted(layout: Layout) -> Layout {
    if layout.size() >= LARGE {
        layout.align_to(ALIGN).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call goes to `System` with the adjusted layout, a pure
// function of the caller's layout: a block is always freed or resized with
// the layout it was allocated with, and its alignment is at least the one
// asked for.
unsafe impl GlobalAlloc for BoxAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above; `adjusted` keeps the size, which is non-zero.
        unsafe { System.alloc(adjusted(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(adjusted(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this `layout`, so from
        // `System` with `adjusted(layout)`.
        unsafe { System.dealloc(ptr, adjusted(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = adjusted(layout);
        let Ok(new) = Layout::from_size_align(new_size, layout.align()).map(adjusted) else {
            return std::ptr::null_mut();
        };
        if old.align() == new.align() {
            if old.align() == ALIGN && layout.align() <= LIBC_ALIGN {
                // SAFETY: `ptr` is a live block of `System`, which is libc's
                // allocator on this target; `new_size` is non-zero.
                return unsafe { resize_in_libc(ptr, layout.size(), new) };
            }
            // SAFETY: `ptr` is `System`'s block with layout `old`, and the
            // new layout keeps its alignment.
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // Crossing `LARGE`: a new block with the other alignment.
        // SAFETY: `new` has a non-zero size (`new_size` ≥ 1 per the
        // contract); both blocks are valid for the bytes copied.
        unsafe {
            let moved = System.alloc(new);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                System.dealloc(ptr, old);
            }
            moved
        }
    }
}
