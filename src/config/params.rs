//! The table of every setting: its name (the same in a profile, on CONFIG
//! GET/SET and, for most, as a flag), how to read it, and how to change it at
//! start-up and, where that is possible, at run time.

use super::{
    Config, CoreOverride, Fsync, OnCorruption, OutputLimit, SetError, SnapshotOnCorruption,
};
use crate::util::parse_memory;

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// A parameter CONFIG knows: its name, how to read it, and how to change it.
pub struct Param {
    pub name: &'static str,
    pub get: Getter,
    /// Changes it at run time (CONFIG SET); `None`: immutable, as `port` is
    /// in Redis.
    pub set: Option<Setter>,
    /// Sets it at start-up (profile, flags) when it cannot change at run
    /// time; `None` with a `set`: start-up uses `set`; `None` with no `set`:
    /// read-only (reported, never set).
    pub load: Option<Setter>,
}

fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".into())
}

/// An integer within `lo..=hi`. Out of range, the error names `unit`; the
/// unit `inclusive` gives Redis's own words, for Redis's settings.
fn ranged<T>(v: &str, lo: T, hi: T, unit: &str) -> Result<T, String>
where
    T: Copy + std::fmt::Display + TryFrom<i64>,
    i128: TryFrom<T>,
{
    // Parsed as Redis parses (a 64-bit integer), then checked: `-1` for an
    // unsigned setting is out of range, not unreadable.
    let n: i64 = num(v)?;
    let wide = |x: T| i128::try_from(x).unwrap_or(i128::MAX);
    match T::try_from(n) {
        Ok(x) if (wide(lo)..=wide(hi)).contains(&(n as i128)) => Ok(x),
        _ if unit == "inclusive" => {
            Err(format!("argument must be between {lo} and {hi} inclusive"))
        }
        _ => Err(format!("must be between {lo} and {hi} {unit}")),
    }
}

fn memory(v: &str) -> Result<u64, String> {
    parse_memory(v).ok_or_else(|| "argument must be a memory value".into())
}

/// A memory value within `lo..=hi` bytes.
fn memory_in(v: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let n = memory(v)?;
    if n < lo || n > hi {
        return Err(format!("must be between {lo} and {hi} bytes"));
    }
    Ok(n)
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Who may use a protected action, as Redis's `enable-*` settings.
fn no_yes_local(v: &str) -> Result<String, String> {
    let v = v.trim().to_ascii_lowercase();
    if !["no", "yes", "local"].contains(&v.as_str()) {
        return Err("argument(s) must be one of the following: no, yes, local".into());
    }
    Ok(v)
}

fn yes_no_str(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// `save`: "" (no snapshots) or pairs "<seconds> <changes> ...", as Redis.
fn parse_save(v: &str) -> Result<Vec<(u64, u64)>, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return Err("save points are pairs: <seconds> <changes> ...".into());
    }
    words
        .chunks_exact(2)
        .map(|p| {
            let secs: u64 = num(p[0])?;
            let changes: u64 = num(p[1])?;
            if secs == 0 {
                return Err("a save point's seconds must be at least 1".into());
            }
            Ok((secs, changes))
        })
        .collect()
}

/// `cpus`: "all", or CPU ids and ranges separated by commas or spaces
/// ("0-3,8").
fn parse_cpus(v: &str) -> Result<Option<Vec<usize>>, String> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    let mut cpus = Vec::new();
    for part in v.split([',', ' ']).filter(|s| !s.is_empty()) {
        let bad = || format!("'{part}' is not a CPU id or range (e.g. 0-3,8 or all)");
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.parse::<usize>().map_err(|_| bad())?,
                b.parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<usize>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if lo > hi || hi >= 4096 {
            return Err(bad());
        }
        for c in lo..=hi {
            if cpus.contains(&c) {
                return Err(format!("CPU {c} is listed twice"));
            }
            cpus.push(c);
        }
    }
    if cpus.is_empty() {
        return Err("give at least one CPU id, or all".into());
    }
    Ok(Some(cpus))
}

fn loglevel(v: &str) -> Result<String, String> {
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "debug" | "verbose" | "notice" | "warning" => Ok(v),
        _ => {
            Err("argument(s) must be one of the following: debug, verbose, notice, warning".into())
        }
    }
}

// The executor settings, shared by `[executor]` and `[cores.N]`.
fn io_memory(v: &str) -> Result<usize, String> {
    // glommio cannot register less than 512 KiB with io_uring.
    Ok(memory_in(v, 512 << 10, 1 << 30)? as usize)
}
fn ring_depth(v: &str) -> Result<usize, String> {
    // io_uring refuses more than 32768 entries.
    ranged(v, 1, 32768, "entries")
}
fn preempt_timer_ms(v: &str) -> Result<u64, String> {
    ranged(v, 1, 1000, "ms")
}
fn spin_before_park_us(v: &str) -> Result<u64, String> {
    ranged(v, 0, 1_000_000, "µs")
}

fn shares(v: &str) -> Result<usize, String> {
    // glommio's range.
    ranged(v, 1, 1000, "shares")
}

/// `cores.<N>.<key>` from a profile (`[cores.N]`) or `--set`.
pub(super) fn set_core(c: &mut Config, rest: &str, value: &str) -> Result<(), SetError> {
    let (id, key) = rest.split_once('.').ok_or(SetError::Unknown)?;
    let id: usize = id.parse().map_err(|_| SetError::Unknown)?;
    if id >= super::MAX_SHARDS {
        return Err(SetError::Invalid(format!(
            "core {id} is past the largest shard count ({})",
            super::MAX_SHARDS
        )));
    }
    let mut o = c.cores.get(&id).cloned().unwrap_or_default();
    let r = match key {
        "accept" => yes_no(value).map(|v| o.accept = Some(v)),
        "io-memory" => io_memory(value).map(|v| o.io_memory_bytes = Some(v)),
        "ring-depth" => ring_depth(value).map(|v| o.ring_depth = Some(v)),
        "preempt-timer-ms" => preempt_timer_ms(value).map(|v| o.preempt_timer_ms = Some(v)),
        "spin-before-park-us" => {
            spin_before_park_us(value).map(|v| o.spin_before_park_us = Some(v))
        }
        "shares.network" => shares(value).map(|v| o.shares_network = Some(v)),
        "shares.persistence" => shares(value).map(|v| o.shares_persistence = Some(v)),
        "shares.expiry" => shares(value).map(|v| o.shares_expiry = Some(v)),
        _ => return Err(SetError::Unknown),
    };
    r.map_err(SetError::Invalid)?;
    c.cores.insert(id, o);
    Ok(())
}

/// `cores` as CONFIG GET shows it: `1:accept=no,ring-depth=64 2:...`.
fn cores_summary(c: &Config) -> String {
    c.cores
        .iter()
        .map(|(id, o): (&usize, &CoreOverride)| {
            let mut parts = Vec::new();
            if let Some(a) = o.accept {
                parts.push(format!("accept={}", yes_no_str(a)));
            }
            if let Some(v) = o.io_memory_bytes {
                parts.push(format!("io-memory={v}"));
            }
            if let Some(v) = o.ring_depth {
                parts.push(format!("ring-depth={v}"));
            }
            if let Some(v) = o.preempt_timer_ms {
                parts.push(format!("preempt-timer-ms={v}"));
            }
            if let Some(v) = o.spin_before_park_us {
                parts.push(format!("spin-before-park-us={v}"));
            }
            for (name, v) in [
                ("network", o.shares_network),
                ("persistence", o.shares_persistence),
                ("expiry", o.shares_expiry),
            ] {
                if let Some(v) = v {
                    parts.push(format!("shares.{name}={v}"));
                }
            }
            format!("{id}:{}", parts.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

pub const PARAMS: &[Param] = &[
    Param {
        name: "profile",
        get: |c| c.profile.clone(),
        set: None,
        load: None,
    },
    Param {
        name: "port",
        get: |c| c.port.to_string(),
        set: None,
        load: Some(|c, v| {
            c.port = num(v)?;
            Ok(())
        }),
    },
    Param {
        name: "tls-port",
        get: |c| c.tls.port.to_string(),
        set: None,
        load: Some(|c, v| {
            c.tls.port = ranged(v, 0, 65535, "inclusive")?;
            Ok(())
        }),
    },
    Param {
        name: "tls-cert-file",
        get: |c| c.tls.cert_file.clone(),
        set: Some(|c, v| {
            c.tls.cert_file = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-key-file",
        get: |c| c.tls.key_file.clone(),
        set: Some(|c, v| {
            c.tls.key_file = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-ca-cert-file",
        get: |c| c.tls.ca_cert_file.clone(),
        set: Some(|c, v| {
            c.tls.ca_cert_file = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-ca-cert-dir",
        get: |c| c.tls.ca_cert_dir.clone(),
        set: Some(|c, v| {
            c.tls.ca_cert_dir = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-auth-clients",
        get: |c| c.tls.auth_clients.clone(),
        set: Some(|c, v| {
            let v = v.to_ascii_lowercase();
            if !matches!(v.as_str(), "yes" | "no" | "optional") {
                return Err("argument(s) must be one of the following: no, yes, optional".into());
            }
            c.tls.auth_clients = v;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-protocols",
        get: |c| c.tls.protocols.clone(),
        set: Some(|c, v| {
            c.tls.protocols = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-ciphersuites",
        get: |c| c.tls.ciphersuites.clone(),
        set: Some(|c, v| {
            c.tls.ciphersuites = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tls-ciphers",
        get: |c| c.tls.ciphers.clone(),
        set: Some(|c, v| {
            c.tls.ciphers = v.into();
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "bind",
        get: |c| c.bind.clone(),
        set: None,
        load: Some(|c, v| {
            if v.split_whitespace().next().is_none() {
                return Err("give at least one address".into());
            }
            c.bind = v.trim().into();
            Ok(())
        }),
    },
    Param {
        name: "dir",
        get: |c| absolute(&c.dir),
        set: None,
        load: Some(|c, v| {
            if v.trim().is_empty() {
                return Err("give a directory".into());
            }
            c.dir = v.into();
            Ok(())
        }),
    },
    Param {
        name: "shards",
        get: |c| c.shards.to_string(),
        set: None,
        load: Some(|c, v| {
            c.shards = ranged(v, 0, super::MAX_SHARDS, "(0 = one per CPU of cpus)")?;
            Ok(())
        }),
    },
    Param {
        name: "cpus",
        get: |c| match &c.cpus {
            None => "all".into(),
            Some(list) => super::cpu_list(list),
        },
        set: None,
        load: Some(|c, v| {
            c.cpus = parse_cpus(v)?;
            Ok(())
        }),
    },
    Param {
        name: "pinned-cpus",
        get: |c| super::cpu_list(&c.pinned),
        set: None,
        load: None,
    },
    Param {
        name: "cores",
        get: cores_summary,
        set: None,
        load: None,
    },
    Param {
        name: "databases",
        get: |c| c.databases.to_string(),
        set: None,
        load: Some(|c, v| {
            c.databases = ranged(v, 1, 256, "databases")?;
            Ok(())
        }),
    },
    Param {
        name: "hz",
        get: |c| c.hz.to_string(),
        set: Some(|c, v| {
            c.hz = num::<u32>(v)?.clamp(1, 500);
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "maxclients",
        get: |c| c.maxclients.to_string(),
        set: Some(|c, v| {
            c.maxclients = ranged(v, 1, 10_000_000, "clients")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "proto-max-bulk-len",
        get: |c| c.proto_max_bulk_len.to_string(),
        set: Some(|c, v| {
            // An element's length is a u32 in the persistence formats.
            let most = super::MAX_ELEMENT_BYTES as u64;
            c.proto_max_bulk_len = memory_in(v, 1024, most)? as usize;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "client-query-buffer-limit",
        get: |c| c.client_query_buffer_limit.to_string(),
        set: Some(|c, v| {
            c.client_query_buffer_limit = memory_in(v, 1024 * 1024, 1 << 40)? as usize;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "timeout",
        get: |c| c.timeout.to_string(),
        set: Some(|c, v| {
            c.timeout = num(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tcp-keepalive",
        get: |c| c.tcp_keepalive.to_string(),
        set: Some(|c, v| {
            c.tcp_keepalive = num(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "maxmemory",
        get: |c| c.maxmemory.to_string(),
        set: Some(|c, v| {
            c.maxmemory = memory(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "maxmemory-policy",
        get: |c| c.maxmemory_policy.clone(),
        set: Some(|c, v| {
            let v = v.trim().to_ascii_lowercase();
            if !POLICIES.contains(&v.as_str()) {
                return Err("argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction".into());
            }
            c.maxmemory_policy = v;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "notify-keyspace-events",
        get: |c| super::events::format(c.notify_keyspace_events),
        set: Some(|c, v| {
            c.notify_keyspace_events = super::events::parse(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "tracking-table-max-keys",
        get: |c| c.tracking_table_max_keys.to_string(),
        set: Some(|c, v| {
            c.tracking_table_max_keys = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "hash-max-listpack-entries",
        get: |c| c.hash_max_listpack_entries.to_string(),
        set: Some(|c, v| {
            c.hash_max_listpack_entries = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "hash-max-listpack-value",
        get: |c| c.hash_max_listpack_value.to_string(),
        set: Some(|c, v| {
            c.hash_max_listpack_value = memory_in(v, 0, i64::MAX as u64)? as usize;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "set-max-intset-entries",
        get: |c| c.set_max_intset_entries.to_string(),
        set: Some(|c, v| {
            c.set_max_intset_entries = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "zset-max-listpack-entries",
        get: |c| c.zset_max_listpack_entries.to_string(),
        set: Some(|c, v| {
            c.zset_max_listpack_entries = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "zset-max-listpack-value",
        get: |c| c.zset_max_listpack_value.to_string(),
        set: Some(|c, v| {
            c.zset_max_listpack_value = memory_in(v, 0, i64::MAX as u64)? as usize;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "list-max-listpack-size",
        get: |c| c.list_max_listpack_size.to_string(),
        set: Some(|c, v| {
            c.list_max_listpack_size = ranged(v, i32::MIN as i64, i32::MAX as i64, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "stream-node-max-bytes",
        get: |c| c.stream_node_max_bytes.to_string(),
        set: Some(|c, v| {
            c.stream_node_max_bytes = memory_in(v, 0, i64::MAX as u64)? as usize;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "stream-node-max-entries",
        get: |c| c.stream_node_max_entries.to_string(),
        set: Some(|c, v| {
            c.stream_node_max_entries = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "maxmemory-samples",
        get: |c| c.maxmemory_samples.to_string(),
        set: Some(|c, v| {
            c.maxmemory_samples = ranged(v, 1, 64, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "lfu-log-factor",
        get: |c| c.lfu_log_factor.to_string(),
        set: Some(|c, v| {
            c.lfu_log_factor = ranged(v, 0, i32::MAX as u32, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "lfu-decay-time",
        get: |c| c.lfu_decay_time.to_string(),
        set: Some(|c, v| {
            c.lfu_decay_time = ranged(v, 0, i32::MAX as u32, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "loglevel",
        get: |c| c.loglevel.clone(),
        // Applied to the running log filter by CONFIG SET.
        set: Some(|c, v| {
            c.loglevel = loglevel(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "slowlog-log-slower-than",
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: Some(|c, v| {
            c.slowlog_log_slower_than = ranged(v, -1, i64::MAX, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "slowlog-max-len",
        get: |c| c.slowlog_max_len.to_string(),
        set: Some(|c, v| {
            c.slowlog_max_len = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "latency-monitor-threshold",
        get: |c| c.latency_monitor_threshold.to_string(),
        set: Some(|c, v| {
            c.latency_monitor_threshold = ranged(v, 0, i64::MAX as u64, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "busy-reply-threshold",
        get: |c| c.busy_reply_threshold.to_string(),
        set: Some(|c, v| {
            c.busy_reply_threshold = ranged(v, 0, i64::MAX as u64, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "save",
        get: |c| {
            c.save
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect::<Vec<_>>()
                .join(" ")
        },
        set: Some(|c, v| {
            c.save = parse_save(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "appendonly",
        get: |c| yes_no_str(c.appendonly),
        set: None,
        load: Some(|c, v| {
            c.appendonly = yes_no(v)?;
            Ok(())
        }),
    },
    Param {
        name: "appendfsync",
        get: |c| c.appendfsync.name().into(),
        // Every shard's log switches at once (Node::apply_config).
        set: Some(|c, v| {
            c.appendfsync = Fsync::parse(v.trim())
                .ok_or("argument(s) must be one of the following: always, everysec, no")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "aof-load-corrupt",
        get: |c| match c.aof_load_corrupt {
            OnCorruption::Stop => "stop".into(),
            OnCorruption::SkipTail => "skip-tail".into(),
        },
        set: None,
        load: Some(|c, v| {
            c.aof_load_corrupt = match v.trim().to_ascii_lowercase().as_str() {
                "stop" => OnCorruption::Stop,
                "skip-tail" => OnCorruption::SkipTail,
                _ => return Err("argument must be 'stop' or 'skip-tail'".into()),
            };
            Ok(())
        }),
    },
    Param {
        name: "aof-use-rdb-preamble",
        get: |c| yes_no_str(c.aof_use_rdb_preamble),
        set: None,
        load: Some(|c, v| {
            c.aof_use_rdb_preamble = yes_no(v)?;
            Ok(())
        }),
    },
    Param {
        name: "auto-aof-rewrite-percentage",
        get: |c| c.auto_aof_rewrite_percentage.to_string(),
        set: Some(|c, v| {
            c.auto_aof_rewrite_percentage = ranged(v, 0, i32::MAX as u64, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "auto-aof-rewrite-min-size",
        get: |c| c.auto_aof_rewrite_min_size.to_string(),
        set: Some(|c, v| {
            c.auto_aof_rewrite_min_size = memory(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "snapshot-write-rate",
        get: |c| c.snapshot_write_rate.to_string(),
        set: Some(|c, v| {
            c.snapshot_write_rate = memory(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "snapshot-cpu-share",
        get: |c| c.snapshot_cpu_share.to_string(),
        set: Some(|c, v| {
            c.snapshot_cpu_share = ranged(v, 1, 100, "percent")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "snapshot-load-corrupt",
        get: |c| match c.snapshot_load_corrupt {
            SnapshotOnCorruption::Stop => "stop".into(),
            SnapshotOnCorruption::StartEmpty => "start-empty".into(),
        },
        set: None,
        load: Some(|c, v| {
            c.snapshot_load_corrupt = match v.trim().to_ascii_lowercase().as_str() {
                "stop" => SnapshotOnCorruption::Stop,
                "start-empty" => SnapshotOnCorruption::StartEmpty,
                _ => return Err("argument must be 'stop' or 'start-empty'".into()),
            };
            Ok(())
        }),
    },
    Param {
        name: "aof.extent-bytes",
        get: |c| c.aof_extent_bytes.to_string(),
        set: None,
        load: Some(|c, v| {
            let n = memory_in(v, 1 << 20, 1 << 30)?;
            if !n.is_multiple_of(4096) {
                return Err("must be a multiple of 4096 bytes".into());
            }
            c.aof_extent_bytes = n;
            Ok(())
        }),
    },
    Param {
        name: "aof.write-threshold-bytes",
        get: |c| c.aof_write_threshold_bytes.to_string(),
        set: None,
        load: Some(|c, v| {
            c.aof_write_threshold_bytes = memory_in(v, 4096, 64 << 20)? as usize;
            Ok(())
        }),
    },
    Param {
        name: "network.read-chunk-bytes",
        get: |c| c.read_chunk_bytes.to_string(),
        set: None,
        load: Some(|c, v| {
            c.read_chunk_bytes = memory_in(v, 512, 16 << 20)? as usize;
            Ok(())
        }),
    },
    Param {
        name: "network.max-batch-requests",
        get: |c| c.max_batch_requests.to_string(),
        set: None,
        load: Some(|c, v| {
            c.max_batch_requests = ranged(v, 1, 1 << 20, "requests")?;
            Ok(())
        }),
    },
    Param {
        name: "executor.io-memory",
        get: |c| c.executor.io_memory_bytes.to_string(),
        set: None,
        load: Some(|c, v| {
            c.executor.io_memory_bytes = io_memory(v)?;
            Ok(())
        }),
    },
    Param {
        name: "executor.ring-depth",
        get: |c| c.executor.ring_depth.to_string(),
        set: None,
        load: Some(|c, v| {
            c.executor.ring_depth = ring_depth(v)?;
            Ok(())
        }),
    },
    Param {
        name: "executor.preempt-timer-ms",
        get: |c| c.executor.preempt_timer_ms.to_string(),
        set: None,
        load: Some(|c, v| {
            c.executor.preempt_timer_ms = preempt_timer_ms(v)?;
            Ok(())
        }),
    },
    Param {
        name: "executor.spin-before-park-us",
        get: |c| c.executor.spin_before_park_us.to_string(),
        set: None,
        load: Some(|c, v| {
            c.executor.spin_before_park_us = spin_before_park_us(v)?;
            Ok(())
        }),
    },
    // --- security (docs/security.md) ---
    Param {
        name: "requirepass",
        // CONFIG GET shows it, as Redis does; logs show it masked.
        get: |c| c.requirepass.clone().unwrap_or_default(),
        set: Some(|c, v| {
            c.set_requirepass((!v.is_empty()).then(|| v.to_string()));
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "aclfile",
        get: |c| {
            c.aclfile
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: None,
        load: Some(|c, v| {
            c.aclfile = (!v.is_empty()).then(|| std::path::PathBuf::from(v));
            Ok(())
        }),
    },
    Param {
        name: "acllog-max-len",
        get: |c| c.acllog_max_len.to_string(),
        set: Some(|c, v| {
            c.acllog_max_len = ranged(v, 0, i64::MAX as usize, "inclusive")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "protected-mode",
        get: |c| yes_no_str(c.protected_mode),
        set: Some(|c, v| {
            c.protected_mode = yes_no(v)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "enable-protected-configs",
        get: |c| c.enable_protected_configs.clone(),
        set: None,
        load: Some(|c, v| {
            c.enable_protected_configs = no_yes_local(v)?;
            Ok(())
        }),
    },
    Param {
        name: "enable-debug-command",
        get: |c| c.enable_debug_command.clone(),
        set: None,
        load: Some(|c, v| {
            c.enable_debug_command = no_yes_local(v)?;
            Ok(())
        }),
    },
    Param {
        name: "enable-module-command",
        get: |c| c.enable_module_command.clone(),
        set: None,
        load: Some(|c, v| {
            c.enable_module_command = no_yes_local(v)?;
            Ok(())
        }),
    },
    Param {
        name: "proto-max-multibulk-len",
        get: |c| c.max_args.to_string(),
        set: Some(|c, v| {
            c.max_args = ranged(v, 1, i32::MAX as usize, "arguments")?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "client-output-buffer-limit",
        get: |c| {
            let l = &c.output_limit;
            format!(
                "normal {} {} {} {}",
                l.hard_bytes, l.soft_bytes, l.soft_seconds, l.other_classes
            )
        },
        set: Some(|c, v| {
            c.output_limit = output_limit(v, &c.output_limit)?;
            Ok(())
        }),
        load: None,
    },
    Param {
        name: "shares.network",
        get: |c| c.shares.network.to_string(),
        set: None,
        load: Some(|c, v| {
            c.shares.network = shares(v)?;
            Ok(())
        }),
    },
    Param {
        name: "shares.persistence",
        get: |c| c.shares.persistence.to_string(),
        set: None,
        load: Some(|c, v| {
            c.shares.persistence = shares(v)?;
            Ok(())
        }),
    },
    Param {
        name: "shares.expiry",
        get: |c| c.shares.expiry.to_string(),
        set: None,
        load: Some(|c, v| {
            c.shares.expiry = shares(v)?;
            Ok(())
        }),
    },
];

/// Settings CONFIG SET refuses unless `enable-protected-configs` allows
/// it: where files are written (Redis's PROTECTED_CONFIG flag).
pub const PROTECTED: &[&str] = &["dir"];

/// `client-output-buffer-limit`: `<class> <hard> <soft> <soft-seconds>`
/// groups, as Redis; the `normal` and `pubsub` classes apply here (no
/// replicas); a class not given keeps its limits, as in Redis.
fn output_limit(v: &str, current: &OutputLimit) -> Result<OutputLimit, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut next = current.clone();
    let mut others = Vec::new();
    for g in words.chunks_exact(4) {
        let class = g[0].to_ascii_lowercase();
        if !["normal", "replica", "slave", "pubsub"].contains(&class.as_str()) {
            return Err("Invalid client class specified in buffer limit configuration.".into());
        }
        let (Ok(hard), Ok(soft), Ok(secs)) = (memory(g[1]), memory(g[2]), num::<u64>(g[3])) else {
            return Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into(),
            );
        };
        if class == "normal" {
            next.hard_bytes = hard as usize;
            next.soft_bytes = soft as usize;
            next.soft_seconds = secs;
        } else {
            if class == "pubsub" {
                next.pubsub = super::ClassLimit {
                    hard_bytes: hard as usize,
                    soft_bytes: soft as usize,
                    soft_seconds: secs,
                };
            }
            let class = if class == "replica" { "slave" } else { &class };
            others.push((class.to_string(), format!("{class} {hard} {soft} {secs}")));
        }
    }
    // The classes given replace theirs; the others stay (slave before pubsub).
    let mut kept: Vec<(String, String)> = current
        .other_classes
        .split_whitespace()
        .collect::<Vec<_>>()
        .chunks_exact(4)
        .map(|g| (g[0].to_string(), g.join(" ")))
        .collect();
    for (class, group) in others {
        match kept.iter_mut().find(|(c, _)| *c == class) {
            Some(slot) => slot.1 = group,
            None => kept.push((class, group)),
        }
    }
    next.other_classes = kept
        .into_iter()
        .map(|(_, g)| g)
        .collect::<Vec<_>>()
        .join(" ");
    Ok(next)
}

/// `users.<name>` from a profile's `[users]` table: the user's rules in ACL
/// SETUSER syntax.
pub(super) fn set_user(c: &mut Config, name: &str, rules: &str) -> Result<(), SetError> {
    if name == "default" {
        return Err(SetError::Invalid(
            "the default user is configured by requirepass".into(),
        ));
    }
    if name.is_empty() || name.contains(|ch: char| ch.is_whitespace() || ch == '.') {
        return Err(SetError::Invalid(
            "a user name has no spaces or dots".into(),
        ));
    }
    let user = crate::acl::User::parse(name, rules).map_err(SetError::Invalid)?;
    c.users.insert(name.to_string(), std::sync::Arc::new(user));
    Ok(())
}

fn absolute(dir: &std::path::Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

/// The parameter CONFIG knows by `name` (any case).
/// The parameter `name` (any case) or its Redis alias (`hash-max-ziplist-
/// entries`) stands for.
pub fn param(name: &str) -> Option<&'static Param> {
    let canonical = super::redis_params::canonical(name);
    PARAMS.iter().find(|p| p.name == canonical)
}

/// The parameter a profile or flag names; profile keys are exact.
pub(super) fn param_exact(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name)
}
