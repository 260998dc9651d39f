//! What the keyspace's data costs in heap bytes, as the allocator sees it.
//! The shard adds these figures up as entries change (see `Keyspace`'s
//! accounting) instead of asking the allocator: a per-shard figure is what
//! the memory budget needs, and the allocator only knows the process.
//!
//! The process uses the system allocator (glibc malloc; see docs/memory.md
//! for the measurement behind that choice): a block costs its request plus
//! an 8-byte header, rounded up to 16, and at least 32 bytes.

use bytes::Bytes;

/// glibc's chunk header, alignment and smallest chunk.
const MALLOC_HEADER_BYTES: usize = 8;
const MALLOC_ALIGN_BYTES: usize = 16;
const MALLOC_MIN_CHUNK_BYTES: usize = 32;

/// The heap bytes one allocation of `n` bytes takes (0 for none).
pub fn alloc_size(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let chunk = (n + MALLOC_HEADER_BYTES).next_multiple_of(MALLOC_ALIGN_BYTES);
    chunk.max(MALLOC_MIN_CHUNK_BYTES)
}

/// The heap bytes of a vector's buffer of `capacity` elements of `T`.
pub fn vec_bytes<T>(capacity: usize) -> usize {
    alloc_size(capacity * std::mem::size_of::<T>())
}

/// What a `Bytes` that has been cloned costs besides its buffer: the shared
/// header its first clone allocates (a sorted set's two structures hold
/// clones of its members).
pub const SHARED_HEADER_BYTES: usize = 32;

/// One key in the expiry index: its `(when, db, key)` tuple in a B-tree
/// node (nodes hold 11 and are about two thirds full on average), plus its
/// own copy of the `key_len`-byte key.
pub fn expiry_index_bytes(key_len: usize) -> usize {
    48 * 3 / 2 + alloc_size(key_len)
}

/// Heap bytes a value owns beyond its inline size, by type.
pub trait HeapSize {
    fn heap_size(&self) -> usize;
}

impl HeapSize for Bytes {
    fn heap_size(&self) -> usize {
        alloc_size(self.len())
    }
}

impl HeapSize for () {
    fn heap_size(&self) -> usize {
        0
    }
}

impl HeapSize for f64 {
    fn heap_size(&self) -> usize {
        0
    }
}

/// The heap bytes of a hash table of `buckets` buckets of `entry` bytes
/// each (hashbrown: the buckets, one control byte each, and one group of
/// trailing control bytes; nothing while it has no buckets).
pub fn table_bytes(buckets: usize, entry: usize) -> usize {
    const GROUP_WIDTH: usize = 16;
    if buckets == 0 {
        return 0;
    }
    alloc_size(buckets * (entry + 1) + GROUP_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_chunk_sizes() {
        assert_eq!(alloc_size(0), 0);
        assert_eq!(alloc_size(1), 32);
        assert_eq!(alloc_size(24), 32);
        assert_eq!(alloc_size(25), 48);
        assert_eq!(alloc_size(100), 112);
    }
}
