//! `ringcache calibrate --dir D`: measures the machine the way Seastar's
//! iotune does — fdatasync latency, O_DIRECT sequential write and read
//! bandwidth, 4 KiB random-read IOPS on D's device, the CPUs and their
//! topology — prints the figures, and writes a profile tuned from them.
//!
//! Plain std + libc: O_DIRECT files, 4 KiB-aligned buffers, positional
//! reads and writes; random reads from several threads to keep the device's
//! queue full. The scratch files are removed afterwards.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Alignment (and size) of an O_DIRECT block.
const ALIGN: usize = 4096;
/// Block of the sequential passes.
const SEQ_BLOCK_BYTES: usize = 1 << 20;
/// Threads issuing random reads: the queue depth of that pass.
const RANDOM_READ_THREADS: usize = 16;
/// fdatasync p99 at or below which `appendfsync always` is proposed: a
/// group-committed reply then waits about two syncs at worst.
const ALWAYS_MAX_P99_US: u64 = 1000;

/// What to measure, and how much.
#[derive(Clone, Debug)]
pub struct Options {
    pub dir: PathBuf,
    /// Bytes written then read by the sequential passes.
    pub size_bytes: u64,
    /// Write + fdatasync rounds of the latency pass.
    pub fsyncs: usize,
    /// Length of the random-read pass.
    pub random: Duration,
}

/// The figures, as printed and as the profile is tuned from.
#[derive(Clone, Debug)]
pub struct Figures {
    pub fsync_p50_us: u64,
    pub fsync_p99_us: u64,
    pub fsync_max_us: u64,
    pub write_bytes_per_s: f64,
    pub read_bytes_per_s: f64,
    pub random_read_iops: f64,
    pub cpus: Topology,
}

#[derive(Clone, Debug, Default)]
pub struct Topology {
    /// CPUs online (/sys/devices/system/cpu/online).
    pub online: Vec<usize>,
    /// CPUs this process may run on.
    pub allowed: Vec<usize>,
    /// Distinct (package, core) pairs among the online CPUs.
    pub physical_cores: usize,
    pub packages: usize,
    pub numa_nodes: usize,
}

/// A zeroed buffer aligned for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = Layout::from_size_align(len, ALIGN).expect("aligned layout");
        // SAFETY: the layout has a non-zero size (callers pass >= ALIGN).
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory for a {len}-byte buffer");
        Aligned { ptr, layout }
    }
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: ptr points to layout.size() bytes we own.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Refuses a directory where O_DIRECT measurements would lie.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    // Look at the filesystem before creating anything.
    if crate::util::on_memory_fs(dir)? {
        return Err(format!(
            "{} is on tmpfs/ramfs (memory): O_DIRECT is silently ignored there and its figures would say nothing about a disk; give a directory on the device the data will live on",
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn open_direct(path: &Path, create: bool) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(create)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                format!(
                    "{}: this filesystem does not support O_DIRECT, which ringcache's log needs",
                    path.display()
                )
            } else {
                format!("cannot open {}: {e}", path.display())
            }
        })
}

fn preallocate(file: &File, len: u64) -> Result<(), String> {
    // SAFETY: fallocate on a file descriptor we own.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if r != 0 {
        // Not every filesystem can: growing the file as it is written is
        // only slower, not wrong.
        file.set_len(len)
            .map_err(|e| format!("cannot size the scratch file: {e}"))?;
    }
    Ok(())
}

fn io_err(what: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs every measurement. Scratch files live in `dir` and are removed.
pub fn measure(opts: &Options) -> Result<Figures, String> {
    check_dir(&opts.dir)?;
    let size = (opts.size_bytes.max(SEQ_BLOCK_BYTES as u64) / SEQ_BLOCK_BYTES as u64)
        * SEQ_BLOCK_BYTES as u64;
    let sync_path = opts.dir.join(".ringcache-calibrate-sync.tmp");
    let seq_path = opts.dir.join(".ringcache-calibrate-seq.tmp");
    let result = (|| {
        let (p50, p99, max) = fsync_latency(&sync_path, opts.fsyncs.max(1))?;
        let write = sequential_write(&seq_path, size)?;
        let read = sequential_read(&seq_path, size)?;
        let iops = random_reads(&seq_path, size, opts.random)?;
        Ok(Figures {
            fsync_p50_us: p50,
            fsync_p99_us: p99,
            fsync_max_us: max,
            write_bytes_per_s: write,
            read_bytes_per_s: read,
            random_read_iops: iops,
            cpus: topology(),
        })
    })();
    let _ = std::fs::remove_file(&sync_path);
    let _ = std::fs::remove_file(&seq_path);
    result
}

/// `n` rounds of one 4 KiB O_DIRECT write + fdatasync into a preallocated
/// file, as the log's group commit does: p50, p99 and max in µs.
fn fsync_latency(path: &Path, n: usize) -> Result<(u64, u64, u64), String> {
    let file = open_direct(path, true)?;
    preallocate(&file, (n * ALIGN) as u64)?;
    let mut buf = Aligned::new(ALIGN);
    buf.bytes().fill(0x5a);
    let mut us = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        file.write_all_at(buf.bytes(), (i * ALIGN) as u64)
            .map_err(io_err("fdatasync pass: write"))?;
        file.sync_data()
            .map_err(io_err("fdatasync pass: fdatasync"))?;
        us.push(t.elapsed().as_micros() as u64);
    }
    us.sort_unstable();
    let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.50), at(0.99), us[us.len() - 1]))
}

/// Writes `size` bytes in 1 MiB O_DIRECT blocks, then fdatasync: bytes/s.
fn sequential_write(path: &Path, size: u64) -> Result<f64, String> {
    let file = open_direct(path, true)?;
    preallocate(&file, size)?;
    let mut buf = Aligned::new(SEQ_BLOCK_BYTES);
    for (i, b) in buf.bytes().iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    let t = Instant::now();
    let mut pos = 0;
    while pos < size {
        file.write_all_at(buf.bytes(), pos)
            .map_err(io_err("sequential write"))?;
        pos += SEQ_BLOCK_BYTES as u64;
    }
    file.sync_data()
        .map_err(io_err("sequential write: fdatasync"))?;
    Ok(size as f64 / t.elapsed().as_secs_f64())
}

/// Reads the file back in 1 MiB O_DIRECT blocks: bytes/s.
fn sequential_read(path: &Path, size: u64) -> Result<f64, String> {
    let file = open_direct(path, false)?;
    let mut buf = Aligned::new(SEQ_BLOCK_BYTES);
    let t = Instant::now();
    let mut pos = 0;
    while pos < size {
        file.read_exact_at(buf.bytes(), pos)
            .map_err(io_err("sequential read"))?;
        pos += SEQ_BLOCK_BYTES as u64;
    }
    Ok(size as f64 / t.elapsed().as_secs_f64())
}

/// 4 KiB O_DIRECT reads at random aligned offsets from 16 threads for
/// `length`: reads per second.
fn random_reads(path: &Path, size: u64, length: Duration) -> Result<f64, String> {
    let blocks = size / ALIGN as u64;
    let start = Instant::now();
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RANDOM_READ_THREADS)
            .map(|t| {
                s.spawn(move || -> Result<u64, String> {
                    let file = open_direct(path, false)?;
                    let mut buf = Aligned::new(ALIGN);
                    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1);
                    let mut reads = 0u64;
                    while start.elapsed() < length {
                        // xorshift64: cheap, good enough to defeat readahead.
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let off = (x % blocks) * ALIGN as u64;
                        file.read_exact_at(buf.bytes(), off)
                            .map_err(io_err("random read"))?;
                        reads += 1;
                    }
                    Ok(reads)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a reader thread panicked".into()))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = 0;
    for r in results {
        total += r?;
    }
    Ok(total as f64 / elapsed)
}

/// A CPU list as /sys writes it ("0-3,8,10-11").
fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

fn read_sys(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The CPUs and their topology, from /sys.
pub fn topology() -> Topology {
    let online = read_sys("/sys/devices/system/cpu/online")
        .map(|s| parse_cpu_list(&s))
        .unwrap_or_default();
    let mut cores = std::collections::BTreeSet::new();
    let mut packages = std::collections::BTreeSet::new();
    for cpu in &online {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let pkg = read_sys(&format!("{base}/physical_package_id"))
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let core = read_sys(&format!("{base}/core_id"))
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or(*cpu as i64);
        cores.insert((pkg, core));
        packages.insert(pkg);
    }
    let numa_nodes = std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("node") && n[4..].chars().all(|c| c.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0);
    Topology {
        physical_cores: cores.len(),
        packages: packages.len(),
        numa_nodes: numa_nodes.max(1),
        allowed: super::allowed_cpus(),
        online,
    }
}

fn mib(bytes_per_s: f64) -> f64 {
    bytes_per_s / (1024.0 * 1024.0)
}

/// The figures as a table.
pub fn table(f: &Figures, opts: &Options) -> String {
    let t = &f.cpus;
    let rows = [
        ("directory", format!("{}", opts.dir.display())),
        (
            "fdatasync latency (4 KiB O_DIRECT write + fdatasync)",
            format!(
                "p50 {} µs, p99 {} µs, max {} µs ({} rounds)",
                f.fsync_p50_us, f.fsync_p99_us, f.fsync_max_us, opts.fsyncs
            ),
        ),
        (
            "sequential write (O_DIRECT, 1 MiB blocks)",
            format!("{:.0} MiB/s", mib(f.write_bytes_per_s)),
        ),
        (
            "sequential read (O_DIRECT, 1 MiB blocks)",
            format!("{:.0} MiB/s", mib(f.read_bytes_per_s)),
        ),
        (
            "random read (O_DIRECT 4 KiB, 16 threads)",
            format!("{:.0} IOPS", f.random_read_iops),
        ),
        (
            "CPUs online / allowed",
            format!(
                "{} / {} ({})",
                t.online.len(),
                t.allowed.len(),
                super::cpu_list(&t.allowed)
            ),
        ),
        (
            "physical cores / packages / NUMA nodes",
            format!("{} / {} / {}", t.physical_cores, t.packages, t.numa_nodes),
        ),
    ];
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

/// The largest power of two <= `n`, within `lo..=hi`.
fn pow2_within(n: f64, lo: u64, hi: u64) -> u64 {
    let n = n.clamp(lo as f64, hi as f64) as u64;
    (1u64 << (63 - n.leading_zeros())).clamp(lo, hi)
}

/// A profile tuned from the figures: balanced's choices, with the fsync
/// policy, the log's write sizes and the ring depth set from the device.
pub fn profile(f: &Figures, opts: &Options) -> String {
    let always = f.fsync_p99_us <= ALWAYS_MAX_P99_US;
    // Sync early once ~20 ms of the device's sequential bandwidth is
    // written but unsynced: the sync stays short, and the bytes kept in
    // memory for a retry stay bounded.
    let threshold = pow2_within(f.write_bytes_per_s / 50.0, 1 << 20, 16 << 20);
    // Reserve ~100 ms of bandwidth at a time: the file grows at most ~10
    // times a second at full speed.
    let extent = pow2_within(f.write_bytes_per_s / 10.0, 4 << 20, 256 << 20);
    // Room for a few group commits of ~1 ms of bandwidth in flight.
    let io_memory = pow2_within(f.write_bytes_per_s / 250.0, 2 << 20, 64 << 20);
    // A device that sustains many random reads at depth 16 has queue to spare.
    let ring_depth = if f.random_read_iops >= 100_000.0 {
        256
    } else {
        128
    };
    let t = &f.cpus;
    // Half the device's sequential bandwidth, shared by one writer per CPU
    // (the default: a shard per CPU), in whole MiB/s.
    let snapshot_rate =
        ((f.write_bytes_per_s / 2.0 / t.allowed.len().max(1) as f64) as u64 >> 20).max(1) << 20;
    let smt = t.physical_cores > 0 && t.online.len() > t.physical_cores;
    format!(
        r#"# ringcache profile written by `ringcache calibrate` on this machine.
#
# Figures measured in {dir}:
#   fdatasync (4 KiB O_DIRECT write + fdatasync): p50 {p50} µs, p99 {p99} µs, max {max} µs
#   sequential O_DIRECT write {w:.0} MiB/s, read {r:.0} MiB/s (1 MiB blocks)
#   random 4 KiB O_DIRECT reads: {iops:.0} IOPS at 16 threads
#   CPUs: {online} online, {allowed} allowed, {phys} physical cores, {pkgs} package(s), {numa} NUMA node(s)
#
# Everything not set here takes ringcache's built-in default; flags override
# this file: `ringcache --profile <this file> --port 7000`.

# Data directory (path): the directory measured.
dir = "{dir}"
# Log every write (yes/no).
appendonly = true
# When the log is synced (always / everysec / no): {why_fsync}
appendfsync = "{fsync}"
# Snapshot points ("<seconds> <changes>" pairs; "" = none): redis-server's
# defaults. With the log on, each save is also the log's rewrite (hybrid),
# which keeps restarts fast; this device writes {w:.0} MiB/s sequentially.
save = ["3600 1", "300 100", "60 10000"]
# Snapshots are the log's base (yes/no): the hybrid.
aof-use-rdb-preamble = true
# Most bytes a second each shard's snapshot writer writes (bytes): all shards
# together at most half of this device's {w:.0} MiB/s, the rest left to the
# logs and to reads.
snapshot-write-rate = {snapshot_rate}
# Percent of a busy core's CPU time each shard's snapshot writer takes (1-100;
# 100 = no limit): under load a snapshot takes longer and the clients keep
# the rest; on an idle core it runs flat out (docs/snapshots.md).
snapshot-cpu-share = {cpu_share}
# Shards (count; 0 = one per CPU in `cpus`).
shards = 0
# CPUs to pin ("all" or a list). {why_cpus}
cpus = "all"

[executor]
# Memory registered with io_uring (bytes): ~4 ms of sequential writes.
io-memory = {io_memory}
# io_uring entries: {why_ring}
ring-depth = {ring_depth}
# Timeslice before other tasks get the core (ms).
preempt-timer-ms = {preempt}
# Spin before parking (µs; 0 = sleep at once).
spin-before-park-us = 0

[aof]
# Segment space reserved at a time (bytes): ~100 ms of sequential writes.
extent-bytes = {extent}
# Bytes written but not yet synced that make `everysec` sync early (bytes):
# ~20 ms of sequential writes.
write-threshold-bytes = {threshold}

[shares]
# Task-queue shares (1..1000) when several kinds of work are ready on a core.
network = 1000
# The log's writes and syncs: {why_shares}
persistence = {persistence_shares}
# Active expiry: background work.
expiry = 100
"#,
        dir = std::path::absolute(&opts.dir)
            .unwrap_or_else(|_| opts.dir.clone())
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
        p50 = f.fsync_p50_us,
        p99 = f.fsync_p99_us,
        max = f.fsync_max_us,
        w = mib(f.write_bytes_per_s),
        r = mib(f.read_bytes_per_s),
        snapshot_rate = snapshot_rate,
        cpu_share = super::DEFAULT_SNAPSHOT_CPU_SHARE,
        iops = f.random_read_iops,
        online = t.online.len(),
        allowed = t.allowed.len(),
        phys = t.physical_cores,
        pkgs = t.packages,
        numa = t.numa_nodes,
        fsync = if always { "always" } else { "everysec" },
        persistence_shares = if always { 1000 } else { 500 },
        why_shares = if always {
            "with `always` they are on every write's\n# reply path, so they weigh as much as the clients."
        } else {
            "off the reply path with everysec: half\n# the clients' weight keeps them from falling behind."
        },
        why_fsync = if always {
            format!("always — fdatasync p99 is {} µs (<= {ALWAYS_MAX_P99_US} µs),\n# so a group-committed reply waits about two syncs at worst.", f.fsync_p99_us)
        } else {
            format!("everysec — fdatasync p99 is {} µs (> {ALWAYS_MAX_P99_US} µs):\n# `always` would put that wait in every write's reply.", f.fsync_p99_us)
        },
        why_cpus = if smt {
            "This machine has SMT siblings: list one\n# CPU per physical core if the network threads compete for a core."
        } else {
            "One shard per allowed CPU."
        },
        why_ring = if ring_depth > 128 {
            "the device sustains >= 100k random IOPS, so a deeper\n# queue keeps it busy."
        } else {
            "glommio's default; the device gains little from a deeper queue."
        },
        preempt = if always { 2 } else { 5 },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("0"), vec![0]);
    }

    #[test]
    fn written_profiles_load() {
        for (p99, bw) in [(50, 2e9), (5000, 1e8)] {
            let f = Figures {
                fsync_p50_us: p99 / 2,
                fsync_p99_us: p99,
                fsync_max_us: p99 * 2,
                write_bytes_per_s: bw,
                read_bytes_per_s: bw,
                random_read_iops: 1e5,
                cpus: Topology::default(),
            };
            let opts = Options {
                dir: "/var/lib/ring \"cache\"".into(),
                size_bytes: 1 << 20,
                fsyncs: 10,
                random: Duration::from_millis(1),
            };
            let text = profile(&f, &opts);
            let mut c = crate::config::Config::default();
            let src = super::super::profile::Source {
                label: "calibrated".into(),
                text,
            };
            super::super::profile::apply(&mut c, &src).unwrap();
            assert_eq!(
                c.appendfsync.name(),
                if p99 < 1000 { "always" } else { "everysec" }
            );
            assert_eq!(c.dir, PathBuf::from("/var/lib/ring \"cache\""));
            assert_eq!(c.shares.persistence, if p99 < 1000 { 1000 } else { 500 });
        }
    }
}
