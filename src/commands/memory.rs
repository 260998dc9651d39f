//! Memory introspection: INFO's memory section, MEMORY USAGE/STATS/DOCTOR,
//! and OBJECT ENCODING/FREQ/IDLETIME/REFCOUNT. A key is looked at on its shard
//! without being counted or stamped as used (Redis's LOOKUP_NOTOUCH).
//! Figures are the shards' own accounts (see docs/memory.md), summed.

use super::observe::help;
use super::{subcommand, syntax_error, unknown_subcommand, Command};
use crate::config::Config;
use crate::keyspace::Eviction;
use crate::node::Node;
use crate::protocol::Frame;
use crate::util::{now_ms, parse_i64};
use bytes::Bytes;

/// One shard's memory figures.
#[derive(Default, Clone, Copy)]
pub struct ShardMemory {
    pub used: usize,
    pub peak: usize,
    pub keys: usize,
    pub evicted: u64,
    /// Memory the shard's AOF buffer holds (outside `maxmemory`, as Redis's
    /// AOF buffer is outside what eviction counts).
    pub aof_buffer: usize,
}

pub fn shard_memory(node: &Node) -> ShardMemory {
    let mut sh = node.shard.borrow_mut();
    let used = sh.used_memory();
    let ks = &sh.keyspace;
    ShardMemory {
        used,
        peak: sh.peak,
        keys: (0..ks.databases()).map(|db| ks.len(db)).sum(),
        evicted: ks.stats.evicted,
        aof_buffer: sh.aof.as_ref().map_or(0, |a| a.borrow().buffer_capacity()),
    }
}

/// The process's figures next to the shards' sum.
struct Totals {
    used: u64,
    peak: u64,
    keys: u64,
    aof_buffer: u64,
    rss: u64,
    /// Heap handed out by the allocator (`crate::alloc`).
    allocated: u64,
}

fn totals(shards: &[ShardMemory]) -> Totals {
    let used = shards.iter().map(|s| s.used as u64).sum();
    Totals {
        used,
        peak: shards.iter().map(|s| s.peak as u64).sum::<u64>().max(used),
        keys: shards.iter().map(|s| s.keys as u64).sum(),
        aof_buffer: shards.iter().map(|s| s.aof_buffer as u64).sum(),
        rss: crate::process::rss_bytes(),
        allocated: crate::alloc::allocated_bytes(),
    }
}

fn fragmentation(t: &Totals) -> f64 {
    t.rss as f64 / t.used.max(1) as f64
}

/// INFO's memory section, with Redis's field names. `used_memory` is the
/// data the shards account for (what `maxmemory` limits); the allocator's
/// own figure is `allocator_allocated`; the AOF buffers are apart, in
/// `mem_aof_buffer`. `used_memory_peak` sums each shard's peak, so it is at
/// least the process's true peak.
pub fn info_section(shards: &[ShardMemory], cfg: &Config) -> String {
    let t = totals(shards);
    format!(
        "used_memory:{}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_dataset:{}\r\nallocator_allocated:{}\r\nmem_aof_buffer:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\n",
        t.used,
        human_bytes(t.used),
        t.rss,
        human_bytes(t.rss),
        t.peak,
        human_bytes(t.peak),
        t.used,
        t.allocated,
        t.aof_buffer,
        cfg.maxmemory,
        human_bytes(cfg.maxmemory),
        cfg.maxmemory_policy,
        fragmentation(&t),
    )
}

/// Bytes as Redis's `bytesToHuman` writes them (`1.50M`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[unit])
    }
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the real access frequency.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the value.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the key.",
    "HELP",
    "    Prints this help.",
];

const NOT_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// What OBJECT and MEMORY USAGE read of a key: its access word and size.
pub(super) struct KeyFigures {
    pub encoding: &'static str,
    pub access: u32,
    bytes: usize,
    lfu: bool,
    frequency: u32,
}

/// Looks at `key` on its shard without using it; None if it is absent.
pub(super) async fn key_figures(
    node: &Node,
    db: usize,
    key: &Bytes,
) -> Result<Option<KeyFigures>, Frame> {
    let key = key.clone();
    let shard = super::cross::shard_of(node, &key);
    node.run_on(shard, move |n: &Node| {
        let mut sh = n.shard.borrow_mut();
        let now = now_ms();
        let figures = sh.keyspace.peek(db, &key, now);
        let figures = figures.map(|e| (e.access(), e.memory_usage(), e.encoding()));
        // A read as Redis counts it (its `objectCommandLookup`): a hit or a
        // miss, though no `keymiss` and no touch.
        let stats = &mut sh.keyspace.stats;
        match figures {
            Some(_) => stats.hits += 1,
            None => stats.misses += 1,
        }
        let (access, bytes, encoding) = figures?;
        let eviction = &sh.keyspace.eviction;
        Some(KeyFigures {
            encoding,
            access,
            bytes,
            lfu: eviction.policy.is_lfu(),
            frequency: eviction.frequency(access, now),
        })
    })
    .await
    .ok_or_else(super::unavailable)
}

pub async fn object(node: &Node, db: usize, cmd: &Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    let keyed = match sub.as_str() {
        "help" => return help(OBJECT_HELP),
        "encoding" | "freq" | "idletime" | "refcount" => key_figures(node, db, &args[2]).await,
        _ => return unknown_subcommand(cmd.name, &args[1]),
    };
    let k = match keyed {
        Ok(Some(k)) => k,
        Ok(None) => return Frame::Null,
        Err(e) => return e,
    };
    match sub.as_str() {
        "encoding" => Frame::bulk_str(k.encoding),
        "freq" if !k.lfu => Frame::error(NOT_LFU),
        "freq" => Frame::Integer(k.frequency as i64),
        "idletime" if k.lfu => Frame::error(LFU_SELECTED),
        "idletime" => Frame::Integer((Eviction::idle_ms(k.access, now_ms()) / 1000) as i64),
        _ => Frame::Integer(1),
    }
}

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Below this much data MEMORY DOCTOR has nothing to say (as Redis).
const DOCTOR_MIN_BYTES: u64 = 5 * 1024 * 1024;
/// RSS over used memory beyond which MEMORY DOCTOR reports it, when the
/// excess is also over `DOCTOR_MIN_EXCESS_BYTES` (as Redis).
const DOCTOR_MAX_FRAGMENTATION: f64 = 1.4;
const DOCTOR_MIN_EXCESS_BYTES: u64 = 10 << 20;
/// A peak over this many times the memory used now is reported (as Redis).
const DOCTOR_MAX_PEAK_RATIO: f64 = 1.5;

/// MEMORY DOCTOR's report, worded as Redis 7.0's (`getMemoryDoctorReport`)
/// for the conditions ringcache can see: an almost empty instance, a past
/// peak, a high RSS over the data. (Redis's allocator, replica, client
/// buffer and script checks have no figure here.)
fn doctor(t: &Totals) -> String {
    if t.used < DOCTOR_MIN_BYTES {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let big_peak = t.peak as f64 / t.used as f64 > DOCTOR_MAX_PEAK_RATIO;
    let high_frag = fragmentation(t) > DOCTOR_MAX_FRAGMENTATION
        && t.rss.saturating_sub(t.used) > DOCTOR_MIN_EXCESS_BYTES;
    if !big_peak && !high_frag {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut s =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    if big_peak {
        s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    if high_frag {
        s.push_str(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"libc\".\n\n");
    }
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// MEMORY STATS in Redis 7.0's shape (`memoryCommand`): its fields, in its
/// order and types, a `db.N` map for each database that holds keys. The
/// figures are ringcache's (docs/memory.md): `total.allocated` is the
/// shards' account of their data (INFO's `used_memory`), the allocator's
/// figures are the counting allocator's heap and the process's RSS (glibc
/// says nothing of active or resident pages), and what ringcache has no
/// counterpart or no separate account for (start-up memory, replication,
/// cluster links, client buffers, script caches, tables' overhead) is 0.
async fn stats(node: &Node) -> Frame {
    let shards = node
        .run_on_all(|n: &Node| {
            let memory = shard_memory(n);
            let sh = n.shard.borrow();
            let ks = &sh.keyspace;
            let keys: Vec<usize> = (0..ks.databases()).map(|db| ks.len(db)).collect();
            (memory, keys)
        })
        .await
        .unwrap_or_default();
    let memory: Vec<ShardMemory> = shards.iter().map(|(m, _)| *m).collect();
    let t = totals(&memory);
    let databases = shards.iter().map(|(_, k)| k.len()).max().unwrap_or(0);
    let keys_in = |db: usize| -> usize { shards.iter().filter_map(|(_, k)| k.get(db)).sum() };
    let int = |n: u64| Frame::Integer(n as i64);
    let ratio = |a: u64, b: u64| Frame::Double(a as f64 / b.max(1) as f64);
    let overhead = t.aof_buffer;
    let dataset = t.used;
    let mut fields: Vec<(&str, Frame)> = vec![
        ("peak.allocated", int(t.peak)),
        ("total.allocated", int(t.used)),
        ("startup.allocated", int(0)),
        ("replication.backlog", int(0)),
        ("clients.slaves", int(0)),
        ("clients.normal", int(0)),
        ("cluster.links", int(0)),
        ("aof.buffer", int(t.aof_buffer)),
        ("lua.caches", int(0)),
        ("functions.caches", int(0)),
    ];
    let db_names: Vec<String> = (0..databases)
        .filter(|&db| keys_in(db) > 0)
        .map(|db| format!("db.{db}"))
        .collect();
    for name in &db_names {
        let table = [
            "overhead.hashtable.main",
            "overhead.hashtable.expires",
            "overhead.hashtable.slot-to-keys",
        ]
        .map(|f| (Frame::bulk_str(f), int(0)));
        fields.push((name, Frame::Map(Vec::from(table))));
    }
    let allocated = t.allocated;
    fields.extend([
        ("overhead.total", int(overhead)),
        ("keys.count", int(t.keys)),
        (
            "keys.bytes-per-key",
            int(dataset.checked_div(t.keys).unwrap_or(0)),
        ),
        ("dataset.bytes", int(dataset)),
        (
            "dataset.percentage",
            Frame::Double(100.0 * dataset as f64 / t.used.max(1) as f64),
        ),
        (
            "peak.percentage",
            Frame::Double(100.0 * t.used as f64 / t.peak.max(1) as f64),
        ),
        ("allocator.allocated", int(allocated)),
        ("allocator.active", int(allocated)),
        ("allocator.resident", int(t.rss)),
        ("allocator-fragmentation.ratio", ratio(allocated, allocated)),
        ("allocator-fragmentation.bytes", int(0)),
        ("allocator-rss.ratio", ratio(t.rss, allocated)),
        ("allocator-rss.bytes", int(t.rss.saturating_sub(allocated))),
        ("rss-overhead.ratio", ratio(t.rss, t.rss)),
        ("rss-overhead.bytes", int(0)),
        ("fragmentation", Frame::Double(fragmentation(&t))),
        ("fragmentation.bytes", int(t.rss.saturating_sub(t.used))),
    ]);
    Frame::Map(
        fields
            .into_iter()
            .map(|(name, v)| (Frame::bulk_str(name), v))
            .collect(),
    )
}

pub async fn memory(node: &Node, db: usize, cmd: &Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    match sub.as_str() {
        "help" => help(MEMORY_HELP),
        "usage" => usage(node, db, args).await,
        "stats" => stats(node).await,
        "doctor" => Frame::Verbatim(doctor(&totals(&gather(node).await))),
        "malloc-stats" => Frame::Verbatim("Stats not supported for the current allocator".into()),
        "purge" => Frame::OK,
        _ => unknown_subcommand(cmd.name, &args[1]),
    }
}

async fn gather(node: &Node) -> Vec<ShardMemory> {
    node.run_on_all(shard_memory).await.unwrap_or_default()
}

/// MEMORY USAGE key [SAMPLES count]: the key's bucket, key, value and index
/// entry. Collections are measured exactly (their sizes are kept as they
/// change), so SAMPLES is checked and then has nothing to do.
async fn usage(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let mut rest = args[3..].chunks(2);
    for opt in rest.by_ref() {
        let samples = match opt {
            [name, n] if name.eq_ignore_ascii_case(b"samples") => parse_i64(n),
            _ => return syntax_error(),
        };
        match samples {
            None => return super::not_integer(),
            Some(n) if n < 0 => return syntax_error(),
            Some(_) => {}
        }
    }
    match key_figures(node, db, &args[2]).await {
        Ok(Some(k)) => Frame::Integer(k.bytes as i64),
        Ok(None) => Frame::Null,
        Err(e) => e,
    }
}
