//! The limits of the compact forms, Redis's encoding settings: how many
//! elements, and how long each, a hash, a set or a sorted set keeps in its
//! compact form before it converts (`hash-max-listpack-entries`,
//! `set-max-intset-entries`…), how a list is cut into nodes when it is
//! dumped (`list-max-listpack-size`), and how large a stream's blocks grow
//! (`stream-node-max-*`).
//!
//! Process-wide, as in Redis: CONFIG SET changes them for every shard at
//! once (the node layer calls `set`), and a value converts when a change
//! passes the limit in force then. A value never converts back, so values
//! made under other limits keep their form, as in Redis. Reading a limit is
//! one relaxed load.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};

/// The settings, with Redis 7.0's built-in defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encodings {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// Negative: a node's size (-1 = 4 KiB … -5 = 64 KiB); positive: its
    /// entries (within 8 KiB).
    pub list_max_listpack_size: i64,
    /// 0: no byte limit.
    pub stream_node_max_bytes: usize,
    /// 0: no entry limit.
    pub stream_node_max_entries: usize,
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static INTSET_ENTRIES: AtomicUsize = AtomicUsize::new(512);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);
static LIST_NODE: AtomicI64 = AtomicI64::new(-2);
static STREAM_BYTES: AtomicUsize = AtomicUsize::new(4096);
static STREAM_ENTRIES: AtomicUsize = AtomicUsize::new(100);

/// Puts `e` in force for every shard.
pub fn set(e: &Encodings) {
    HASH_ENTRIES.store(e.hash_max_listpack_entries, Relaxed);
    HASH_VALUE.store(e.hash_max_listpack_value, Relaxed);
    INTSET_ENTRIES.store(e.set_max_intset_entries, Relaxed);
    ZSET_ENTRIES.store(e.zset_max_listpack_entries, Relaxed);
    ZSET_VALUE.store(e.zset_max_listpack_value, Relaxed);
    LIST_NODE.store(e.list_max_listpack_size, Relaxed);
    STREAM_BYTES.store(e.stream_node_max_bytes, Relaxed);
    STREAM_ENTRIES.store(e.stream_node_max_entries, Relaxed);
}

/// The settings in force.
pub fn get() -> Encodings {
    Encodings {
        hash_max_listpack_entries: HASH_ENTRIES.load(Relaxed),
        hash_max_listpack_value: HASH_VALUE.load(Relaxed),
        set_max_intset_entries: INTSET_ENTRIES.load(Relaxed),
        zset_max_listpack_entries: ZSET_ENTRIES.load(Relaxed),
        zset_max_listpack_value: ZSET_VALUE.load(Relaxed),
        list_max_listpack_size: LIST_NODE.load(Relaxed),
        stream_node_max_bytes: STREAM_BYTES.load(Relaxed),
        stream_node_max_entries: STREAM_ENTRIES.load(Relaxed),
    }
}

/// `(entries, value bytes)` a compact hash may hold.
#[inline]
pub fn hash_limits() -> (usize, usize) {
    (HASH_ENTRIES.load(Relaxed), HASH_VALUE.load(Relaxed))
}

/// Members a set of integers keeps as an intset.
#[inline]
pub fn intset_entries() -> usize {
    INTSET_ENTRIES.load(Relaxed)
}

/// `(entries, member bytes)` a compact sorted set may hold.
#[inline]
pub fn zset_limits() -> (usize, usize) {
    (ZSET_ENTRIES.load(Relaxed), ZSET_VALUE.load(Relaxed))
}

/// Redis's `list-max-listpack-size`.
#[inline]
pub fn list_node_fill() -> i64 {
    LIST_NODE.load(Relaxed)
}

/// `(bytes, entries)` of a stream block; 0: no limit.
#[inline]
pub fn stream_node_limits() -> (usize, usize) {
    (STREAM_BYTES.load(Relaxed), STREAM_ENTRIES.load(Relaxed))
}
