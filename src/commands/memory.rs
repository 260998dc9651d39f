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
        let e = sh.keyspace.peek(db, &key, now)?;
        let (access, bytes, encoding) = (e.access(), e.memory_usage(), e.encoding());
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
/// RSS over used memory beyond which MEMORY DOCTOR reports it (as Redis).
const DOCTOR_MAX_FRAGMENTATION: f64 = 1.4;

pub async fn memory(node: &Node, db: usize, cmd: &Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    match sub.as_str() {
        "help" => help(MEMORY_HELP),
        "usage" => usage(node, db, args).await,
        "stats" => {
            let t = totals(&gather(node).await);
            let per_key = t.used.checked_div(t.keys).unwrap_or(0);
            Frame::Array(vec![
                Frame::bulk_str("peak.allocated"),
                Frame::Integer(t.peak as i64),
                Frame::bulk_str("total.allocated"),
                Frame::Integer(t.used as i64),
                Frame::bulk_str("allocator.allocated"),
                Frame::Integer(t.allocated as i64),
                Frame::bulk_str("keys.count"),
                Frame::Integer(t.keys as i64),
                Frame::bulk_str("keys.bytes-per-key"),
                Frame::Integer(per_key as i64),
                Frame::bulk_str("dataset.bytes"),
                Frame::Integer(t.used as i64),
                Frame::bulk_str("rss.bytes"),
                Frame::Integer(t.rss as i64),
                Frame::bulk_str("fragmentation"),
                Frame::bulk_str(&format!("{:.2}", fragmentation(&t))),
            ])
        }
        "doctor" => {
            let t = totals(&gather(node).await);
            let report = if t.used < DOCTOR_MIN_BYTES {
                "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".to_string()
            } else if fragmentation(&t) > DOCTOR_MAX_FRAGMENTATION {
                format!("Sam, I detected a few issues in this Redis instance memory implants:\n\n * High total RSS: This instance has a memory fragmentation and RSS overhead greater than {DOCTOR_MAX_FRAGMENTATION} ({:.2}): the process's resident memory is much larger than the data it holds.\n\nI'm here to keep you safe, Sam. I want to help you.\n", fragmentation(&t))
            } else {
                "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.".to_string()
            };
            Frame::Verbatim(report)
        }
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
