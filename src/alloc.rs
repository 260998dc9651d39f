//! The process's allocator: the system's (glibc malloc), counted, so INFO and
//! MEMORY STATS can say how much heap is handed out without asking glibc.
//! `mallinfo2` walks every free chunk of every arena, each under its lock:
//! measured 60 ms with 5M keys, a stall of the core that asked and of any
//! thread allocating from the locked arena meanwhile (a monitoring client
//! polling INFO took most of both cores during a snapshot).
//!
//! Each thread counts in a slot of its own (a plain load and store: no locked
//! instruction, no cache line shared with another thread); a reader sums the
//! slots. A block freed by another thread than the one that allocated it
//! moves bytes from one slot to another: only the sum means anything.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

pub struct Counted;

#[global_allocator]
static ALLOCATOR: Counted = Counted;

/// Threads with a slot of their own; later ones share the last slot (with
/// locked adds). The cores, the runtime's and the signal threads come first.
const SLOTS: usize = 64;
const SHARED_SLOT: usize = SLOTS - 1;
/// glibc's chunk sizes (x86-64 and aarch64): the request plus an 8-byte
/// header, rounded up to 16, at least 32. Computed from the layout, not asked
/// of glibc (`malloc_usable_size` cost 0.5% of a request-path profile), and
/// the same at allocation and free, so the count never drifts. (Blocks big
/// enough for glibc to mmap are counted a page-rounding short.)
const fn chunk_bytes(size: usize) -> i64 {
    let chunk = (size + 8 + 15) & !15;
    (if chunk < 32 { 32 } else { chunk }) as i64
}

#[repr(align(64))]
struct Slot(AtomicI64);

static SLOT_BYTES: [Slot; SLOTS] = [const { Slot(AtomicI64::new(0)) }; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates,
    // and works while the thread exits.
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Heap handed out by the allocator, in bytes (chunks in use, as glibc
/// counts them).
pub fn allocated_bytes() -> u64 {
    SLOT_BYTES
        .iter()
        .map(|s| s.0.load(Relaxed))
        .sum::<i64>()
        .max(0) as u64
}

fn count(delta: i64) {
    let slot = MY_SLOT
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT_SLOT.fetch_add(1, Relaxed).min(SHARED_SLOT));
            }
            s.get()
        })
        .unwrap_or(SHARED_SLOT);
    let bytes = &SLOT_BYTES[slot].0;
    if slot == SHARED_SLOT {
        bytes.fetch_add(delta, Relaxed);
    } else {
        // Only this thread writes this slot.
        bytes.store(bytes.load(Relaxed) + delta, Relaxed);
    }
}

// SAFETY: every call is forwarded to System unchanged.
unsafe impl GlobalAlloc for Counted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(chunk_bytes(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(chunk_bytes(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-chunk_bytes(layout.size()));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(chunk_bytes(new_size) - chunk_bytes(layout.size()));
        }
        new
    }
}
