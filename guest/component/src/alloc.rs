//! The box's allocator: libc's (wasi-libc's dlmalloc), with large blocks
//! aligned to 64 bytes and resized in place where libc can.
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
//! to 4 KiB whenever it empties and grows again as a record arrives: 32
//! KiB copied for each 16 KiB record received. So the blocks of callers
//! that need no more than libc's own alignment (byte buffers, most of all)
//! are libc's throughout: allocated, resized and freed by libc itself,
//! whose `realloc` grows or shrinks a block in place when the memory after
//! it is free. A large block that `realloc` moves off a 64-byte boundary is
//! moved once more. Blocks of callers needing more go to `System`,
//! unchanged.
#![allow(unsafe_code, reason = "a global allocator is an unsafe trait")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;

/// Blocks from this size on are aligned to [`ALIGN`].
const LARGE: usize = 1024;
/// A cache line.
const ALIGN: usize = 64;
/// The alignment callers of libc's allocator may rely on (wasi-libc's
/// dlmalloc aligns its chunks to 16 bytes; 8 is all this module assumes).
const LIBC_ALIGN: usize = 8;

// wasi-libc's allocator, which std links into every wasm32-wasip2 program.
extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn calloc(count: usize, size: usize) -> *mut c_void;
    fn posix_memalign(block: *mut *mut c_void, align: usize, size: usize) -> i32;
    fn realloc(block: *mut c_void, size: usize) -> *mut c_void;
    fn free(block: *mut c_void);
}

pub(crate) struct BoxAllocator;

/// A new libc block of `size` bytes: from [`LARGE`] on, on a cache line.
///
/// # Safety
/// `size` is non-zero.
unsafe fn allocate(size: usize) -> *mut u8 {
    if size < LARGE {
        // SAFETY: libc's malloc takes any size.
        return unsafe { malloc(size) }.cast();
    }
    let mut block = std::ptr::null_mut();
    // SAFETY: `ALIGN` is a power of two and a multiple of the pointer size.
    match unsafe { posix_memalign(&mut block, ALIGN, size) } {
        0 => block.cast(),
        _ => std::ptr::null_mut(),
    }
}

// SAFETY: a caller's block is libc's when the caller asks for at most
// `LIBC_ALIGN` (libc's blocks have that alignment) and `System`'s
// otherwise; the alignment of a layout never changes over the block's
// life, so every block is resized and freed by the allocator that made it.
unsafe impl GlobalAlloc for BoxAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > LIBC_ALIGN {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: the layout's size is non-zero, per the contract.
        unsafe { allocate(layout.size()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() > LIBC_ALIGN {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc_zeroed(layout) };
        }
        if layout.size() < LARGE {
            // SAFETY: calloc takes any size and zeroes the block.
            return unsafe { calloc(1, layout.size()) }.cast();
        }
        // SAFETY: a non-null block holds `layout.size()` bytes.
        unsafe {
            let block = allocate(layout.size());
            if !block.is_null() {
                block.write_bytes(0, layout.size());
            }
            block
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() > LIBC_ALIGN {
            // SAFETY: `ptr` is `System`'s block of this layout.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: `ptr` is a live libc block (see the impl's SAFETY).
        unsafe { free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() > LIBC_ALIGN {
            // SAFETY: `ptr` is `System`'s block of this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `ptr` is a live libc block; `new_size` is non-zero.
        let resized: *mut u8 = unsafe { realloc(ptr.cast(), new_size) }.cast();
        if resized.is_null() || new_size < LARGE || (resized as usize).is_multiple_of(ALIGN) {
            return resized;
        }
        // `realloc` moved it to a block of libc's own alignment: move it
        // once more, to a cache line. Should that fail, the block it gave
        // is kept; it has all the alignment the caller asked for.
        // SAFETY: both blocks hold at least the bytes copied (the old
        // contents, up to the new size) and are distinct; `resized` is a
        // live libc block.
        unsafe {
            let aligned = allocate(new_size);
            if aligned.is_null() {
                return resized;
            }
            std::ptr::copy_nonoverlapping(resized, aligned, layout.size().min(new_size));
            free(resized.cast());
            aligned
        }
    }
}
