//! Start-up loading progress, shared by every core: while any shard loads,
//! commands get `-LOADING` and INFO reports how far loading has got.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Shards still loading.
static SHARDS_LOADING: AtomicUsize = AtomicUsize::new(0);
/// Shards whose data is not yet in their core (loaded and handed over):
/// cross-shard writes a crash interrupted are finished once none is left.
static SHARDS_UNATTACHED: AtomicUsize = AtomicUsize::new(0);
static TOTAL_BYTES: AtomicU64 = AtomicU64::new(0);
static LOADED_BYTES: AtomicU64 = AtomicU64::new(0);
static STARTED_MS: AtomicU64 = AtomicU64::new(0);

/// Loading begins: `shards` shards, `total_bytes` of files to read.
pub fn begin(shards: usize, total_bytes: u64) {
    STARTED_MS.store(crate::util::now_ms(), Relaxed);
    TOTAL_BYTES.store(total_bytes, Relaxed);
    LOADED_BYTES.store(0, Relaxed);
    SHARDS_LOADING.store(shards, Relaxed);
    SHARDS_UNATTACHED.store(shards, Relaxed);
}

/// One shard's data is in its core.
pub fn shard_attached() {
    let _ = SHARDS_UNATTACHED.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
}

/// Every shard's data is in its core.
pub fn all_attached() -> bool {
    SHARDS_UNATTACHED.load(Relaxed) == 0
}

pub fn add_loaded(bytes: u64) {
    LOADED_BYTES.fetch_add(bytes, Relaxed);
}

/// One shard is done loading; true for the last one.
pub fn shard_done() -> bool {
    SHARDS_LOADING.fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1)) == Ok(1)
}

pub fn in_progress() -> bool {
    SHARDS_LOADING.load(Relaxed) > 0
}

/// What INFO persistence shows while loading.
pub struct Progress {
    pub started_s: u64,
    pub total_bytes: u64,
    pub loaded_bytes: u64,
    pub percent: f64,
    pub eta_s: u64,
}

pub fn progress() -> Progress {
    let started = STARTED_MS.load(Relaxed);
    let total = TOTAL_BYTES.load(Relaxed);
    let loaded = LOADED_BYTES.load(Relaxed).min(total);
    let elapsed_ms = crate::util::now_ms().saturating_sub(started).max(1);
    let percent = if total == 0 {
        100.0
    } else {
        loaded as f64 * 100.0 / total as f64
    };
    let eta_s = ((total - loaded) * elapsed_ms)
        .checked_div(loaded)
        .map_or(1, |ms| ms / 1000);
    Progress {
        started_s: started / 1000,
        total_bytes: total,
        loaded_bytes: loaded,
        percent,
        eta_s,
    }
}
