//! Facts about this process, shared by every core and read from any layer:
//! its run id, its resource use (RSS, CPU time), whether a shutdown has
//! begun, and how far start-up loading has got (`loading`). Nothing here
//! knows of shards, clients or files, so the lowest layers (the persistence
//! files stamp the run id) may use it.

pub mod loading;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// A random id for this process's lifetime, as Redis's run_id.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let s = ahash::RandomState::new();
        format!(
            "{:016x}{:016x}{:08x}",
            s.hash_one(1u8),
            s.hash_one(2u8),
            s.hash_one(3u8) as u32
        )
    })
}

/// Resident set size of the process, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0);
    pages * 4096
}

/// User and system CPU seconds used by the process.
pub fn cpu_seconds() -> (f64, f64) {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// Set once a shutdown has begun: no new connections are served.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);

/// Whether a shutdown has begun.
pub fn shutting_down() -> bool {
    SHUTTING_DOWN.load(Ordering::Relaxed)
}

/// A shutdown begins (`true`), or was aborted (`false`).
pub fn set_shutting_down(on: bool) {
    SHUTTING_DOWN.store(on, Ordering::SeqCst);
}
