//! A global allocator that makes huge allocations lazy instead of fatal.
//!
//! Why: the protocol crate's decoders call `Vec::with_capacity(n)` with `n` read off the
//! wire before decoding a single element. A 4-byte array count of two billion in a tiny
//! request asks for hundreds of gigabytes; the system allocator refuses, and Rust aborts the
//! process — one malformed request would take the broker down.
//!
//! This allocator serves allocations of at least [`LAZY_THRESHOLD_BYTES`] with an anonymous
//! `mmap(MAP_NORESERVE)`: address space is reserved, memory is committed only when touched.
//! The decoder then fails at the end of the frame, having touched no more than the elements
//! the frame actually held (bounded by `max_request_bytes`), and the mapping is returned.
//! Everything smaller goes to the system allocator unchanged.
//!
//! The broker binary installs it; so do test binaries that feed hostile frames to a broker.

// Unsafe code here: a GlobalAlloc implementation for tests; each block says why it is sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Allocations this large are mapped lazily.
pub const LAZY_THRESHOLD_BYTES: usize = 1 << 30;
/// mmap returns page-aligned memory; stricter alignments stay with the system allocator.
const PAGE_BYTES: usize = 4096;

pub struct GuardedAlloc;

fn is_lazy(size: usize, align: usize) -> bool {
    size >= LAZY_THRESHOLD_BYTES && align <= PAGE_BYTES
}

unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no address hint has no preconditions.
    let mapped = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        mapped.cast()
    }
}

// SAFETY: every pointer handed out is either from `System` (and returned to it) or from
// `map` (and returned by munmap with the same size, which `Layout` carries back to us).
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_lazy(layout.size(), layout.align()) {
            // SAFETY: `map` has no preconditions beyond a size, which `layout` gives.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller's layout contract is passed on unchanged.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_lazy(layout.size(), layout.align()) {
            // SAFETY: as in `alloc`; anonymous mappings are zero-filled.
            unsafe { map(layout.size()) }
        } else {
            // SAFETY: the caller's layout contract is passed on unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_lazy(layout.size(), layout.align()) {
            // SAFETY: a lazy layout's pointer came from `map` with this same size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: a small layout's pointer came from `System` with this same layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !is_lazy(layout.size(), layout.align()) && !is_lazy(new_size, layout.align()) {
            // SAFETY: both sizes are `System`'s, and the caller's contract is passed on.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with this alignment is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` is valid (above) and has a non-zero size, as `realloc`'s does.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live and distinct, each at least the copied length;
            // `ptr` was allocated by this allocator with `layout`.
            unsafe {
                ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_absurd_capacity_is_reserved_not_fatal() {
        // 1 TiB of address space: far beyond this machine's memory.
        let mut huge: Vec<u64> = Vec::with_capacity(1 << 37);
        huge.push(1);
        assert_eq!(huge[0], 1);
    }

    #[test]
    fn growing_across_the_threshold_keeps_the_contents() {
        let mut v: Vec<u8> = vec![7; 1024];
        v.reserve(super::LAZY_THRESHOLD_BYTES);
        assert!(v.iter().all(|&b| b == 7));
        v.shrink_to_fit();
        assert_eq!(v.len(), 1024);
    }
}
