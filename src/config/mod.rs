//! Server settings: their defaults, and the names CONFIG GET/SET know them by
//! (redis-server's names wherever one exists).

use crate::persistence::aof::{Fsync, OnCorruption};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub dir: PathBuf,
    pub shards: usize,
    pub databases: usize,
    /// Active-expiry passes per second, as Redis's `hz`.
    pub hz: u32,
    pub maxclients: usize,
    pub proto_max_bulk_len: usize,
    pub client_query_buffer_limit: usize,
    /// Most arguments one command may carry.
    pub max_args: usize,
    /// Close connections idle this many seconds (0 = never).
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub loglevel: String,
    /// Log every write to the shard's append-only log.
    pub appendonly: bool,
    pub appendfsync: Fsync,
    pub aof_load_corrupt: OnCorruption,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 6379,
            bind: "127.0.0.1".into(),
            dir: PathBuf::from("./data"),
            shards: 0,
            databases: 16,
            hz: 10,
            maxclients: 10000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            max_args: 1024 * 1024,
            timeout: 0,
            tcp_keepalive: 300,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            loglevel: "notice".into(),
            appendonly: false,
            appendfsync: Fsync::Everysec,
            aof_load_corrupt: OnCorruption::Stop,
        }
    }
}

type Getter = fn(&Config) -> String;
type Setter = fn(&mut Config, &str) -> Result<(), &'static str>;

/// A parameter CONFIG knows: its name, how to read it, and how to change it at
/// run time (`None`: immutable, as `port` is in Redis).
pub struct Param {
    pub name: &'static str,
    pub get: Getter,
    pub set: Option<Setter>,
}

fn num<T: std::str::FromStr>(v: &str) -> Result<T, &'static str> {
    v.parse()
        .map_err(|_| "argument couldn't be parsed into an integer")
}

pub const PARAMS: &[Param] = &[
    Param {
        name: "port",
        get: |c| c.port.to_string(),
        set: None,
    },
    Param {
        name: "bind",
        get: |c| c.bind.clone(),
        set: None,
    },
    Param {
        name: "dir",
        get: |c| absolute(&c.dir),
        set: None,
    },
    Param {
        name: "databases",
        get: |c| c.databases.to_string(),
        set: None,
    },
    Param {
        name: "hz",
        get: |c| c.hz.to_string(),
        set: Some(|c, v| {
            c.hz = num::<u32>(v)?.clamp(1, 500);
            Ok(())
        }),
    },
    Param {
        name: "maxclients",
        get: |c| c.maxclients.to_string(),
        set: Some(|c, v| {
            c.maxclients = num(v)?;
            Ok(())
        }),
    },
    Param {
        name: "proto-max-bulk-len",
        get: |c| c.proto_max_bulk_len.to_string(),
        set: Some(|c, v| {
            c.proto_max_bulk_len =
                crate::util::parse_memory(v).ok_or("argument must be a memory value")? as usize;
            Ok(())
        }),
    },
    Param {
        name: "client-query-buffer-limit",
        get: |c| c.client_query_buffer_limit.to_string(),
        set: Some(|c, v| {
            c.client_query_buffer_limit =
                crate::util::parse_memory(v).ok_or("argument must be a memory value")? as usize;
            Ok(())
        }),
    },
    Param {
        name: "timeout",
        get: |c| c.timeout.to_string(),
        set: Some(|c, v| {
            c.timeout = num(v)?;
            Ok(())
        }),
    },
    Param {
        name: "tcp-keepalive",
        get: |c| c.tcp_keepalive.to_string(),
        set: Some(|c, v| {
            c.tcp_keepalive = num(v)?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory",
        get: |c| c.maxmemory.to_string(),
        set: Some(|c, v| {
            c.maxmemory = crate::util::parse_memory(v).ok_or("argument must be a memory value")?;
            Ok(())
        }),
    },
    Param {
        name: "maxmemory-policy",
        get: |c| c.maxmemory_policy.clone(),
        set: Some(|c, v| {
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
            let v = v.to_ascii_lowercase();
            if !POLICIES.contains(&v.as_str()) {
                return Err("argument(s) must be one of the following: volatile-lru, allkeys-lru, volatile-lfu, allkeys-lfu, volatile-random, allkeys-random, volatile-ttl, noeviction");
            }
            c.maxmemory_policy = v;
            Ok(())
        }),
    },
    Param {
        name: "loglevel",
        get: |c| c.loglevel.clone(),
        set: None,
    },
    Param {
        name: "save",
        get: |_| String::new(),
        set: None,
    },
    Param {
        name: "appendonly",
        get: |c| if c.appendonly { "yes" } else { "no" }.into(),
        set: None,
    },
    Param {
        name: "appendfsync",
        get: |c| c.appendfsync.name().into(),
        set: None,
    },
];

fn absolute(dir: &std::path::Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}

pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}
