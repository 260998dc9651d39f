//! Server settings: their built-in defaults, the names profiles, flags and
//! CONFIG GET/SET know them by (redis-server's names wherever one exists), and
//! how they are layered at start-up: built-in defaults < profile < a
//! redis.conf < flags.
//!
//! - `params.rs`: the table of every setting (name, getter, setters);
//! - `profile.rs`: the `tuning/*.toml` profiles (embedded) and their loader;
//! - `redis_conf.rs`: a redis.conf in Redis's syntax, and CONFIG REWRITE;
//! - `redis_params.rs`: Redis's settings ringcache accepts but does not use;
//! - `calibrate.rs`: `ringcache calibrate`, which measures the machine and
//!   writes a profile tuned from the figures.

pub mod calibrate;
pub mod events;
mod params;
pub mod profile;
pub mod redis_conf;
pub mod redis_params;
pub mod tls;

pub use params::{param, Param, PARAMS, PROTECTED};

use crate::acl::User;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Most shards (and so pinned cores) one server runs.
pub const MAX_SHARDS: usize = 1024;

/// Default of `snapshot-cpu-share` (percent of a busy core). On the 2-core
/// VM clients kept 0.84-0.91x (medians) of their throughput while a
/// snapshot ran at 2, and 0.82x at 10 for a snapshot a third as long: the
/// loss is not in proportion to the share (docs/snapshots.md).
pub const DEFAULT_SNAPSHOT_CPU_SHARE: u64 = 2;

/// Default of `aof.extent-bytes`: segment space reserved at a time, so a
/// sync rarely has to grow the file.
pub const EXTENT_BYTES: u64 = 16 << 20;
/// Default of `aof.write-threshold-bytes`: bytes written but not yet synced
/// that make `everysec` sync before its second is up: they are kept in memory
/// for a retry until the sync, so this bounds that memory (Redis syncs a
/// rewritten AOF every 4 MB likewise).
pub const WRITE_THRESHOLD_BYTES: usize = 4 << 20;
/// Default of `executor.preempt-timer-ms`: how long a busy task may run
/// before glommio lets others in (its default, 100 ms, would let one task
/// stall a core's clients that long).
pub const PREEMPT_TIMER: Duration = Duration::from_millis(5);
/// Default of `executor.io-memory`: memory each executor registers with
/// io_uring (glommio needs >= 512 KiB).
pub const IO_MEMORY_BYTES: usize = 2 << 20;
/// Default of `executor.ring-depth`: io_uring entries (glommio's default).
pub const RING_DEPTH: usize = 128;
/// Default of `network.read-chunk-bytes`: bytes asked of the socket per read.
pub const READ_CHUNK_BYTES: usize = 32 * 1024;
/// Default of `network.max-batch-requests`: most requests of one pipeline run
/// as one batch before replies are written; bounds the reply memory one batch
/// can hold.
pub const MAX_BATCH_REQUESTS: usize = 1024;
/// The most bytes one element (a value, a member, an argument) may have: its
/// length is a u32 in the persistence formats' payloads.
/// `proto-max-bulk-len` cannot go above it.
pub const MAX_ELEMENT_BYTES: usize = u32::MAX as usize;

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    /// TLS: its port (0: none) and how connections are secured (`net::tls`).
    pub tls: TlsSettings,
    pub dir: PathBuf,
    /// Shard count; 0 until `finish` means one per CPU of `cpus`.
    pub shards: usize,
    /// CPUs to pin the shards to, in shard order; `None`: every CPU this
    /// process may run on.
    pub cpus: Option<Vec<usize>>,
    /// The CPU each shard runs on, set by `finish`.
    pub pinned: Vec<usize>,
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
    /// Keys sampled per eviction, at least (see keyspace::evict).
    pub maxmemory_samples: usize,
    /// How slowly the LFU counter grows, and the minutes per decrement of
    /// an unused key's counter (Redis's `lfu-log-factor`, `lfu-decay-time`).
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    pub loglevel: String,
    /// Commands running at least this long (µs) go to the slow log; negative:
    /// none, 0: all (Redis's `slowlog-log-slower-than`).
    pub slowlog_log_slower_than: i64,
    /// Most entries the slow log keeps.
    pub slowlog_max_len: usize,
    /// Persistence events at least this long (ms) are kept for LATENCY; 0:
    /// off (Redis's `latency-monitor-threshold`).
    pub latency_monitor_threshold: u64,
    /// How long (ms) a script or function runs before other clients get
    /// `-BUSY` and SCRIPT KILL may stop it (Redis's `busy-reply-threshold`,
    /// alias `lua-time-limit`; 0: at once).
    pub busy_reply_threshold: u64,
    /// Snapshot points `(seconds, changes)`, as Redis's `save`.
    pub save: Vec<(u64, u64)>,
    /// Log every write to the shard's append-only log.
    pub appendonly: bool,
    /// With the log on: a snapshot is the log's base (hybrid), and a rewrite
    /// is a snapshot. Off: the log alone, never trimmed by a snapshot.
    pub aof_use_rdb_preamble: bool,
    /// A shard's log beyond its snapshot, in percent of the snapshot's size,
    /// that starts a rewrite (0 = never), once it is at least `min_size`.
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    /// Most bytes a second each shard's snapshot writer writes (0 = as fast
    /// as the disk goes): spreads a snapshot's disk and CPU use over time.
    pub snapshot_write_rate: u64,
    /// Percent of its core's time a shard's snapshot writer takes while
    /// clients keep the core busy (1..=100; 100 = no limit): the rest of
    /// the snapshot waits. On an idle core it runs flat out.
    pub snapshot_cpu_share: u64,
    /// A snapshot that fails its checks at start-up: refuse to start, or
    /// start that shard empty.
    pub snapshot_load_corrupt: SnapshotOnCorruption,
    pub appendfsync: Fsync,
    pub aof_load_corrupt: OnCorruption,
    /// Segment space the AOF reserves at a time.
    pub aof_extent_bytes: u64,
    /// Buffered AOF bytes that make `everysec`/`no` write full blocks early.
    pub aof_write_threshold_bytes: usize,
    /// Bytes asked of a client socket per read.
    pub read_chunk_bytes: usize,
    /// Most pipelined requests run as one batch before replies are written.
    pub max_batch_requests: usize,
    /// Executor settings of every core, unless `cores` overrides them.
    pub executor: ExecutorSettings,
    /// How each core's time is split between its kinds of work, unless
    /// `cores` overrides it.
    pub shares: QueueShares,
    /// Per-core overrides, by shard index (`[cores.N]` in a profile).
    pub cores: BTreeMap<usize, CoreOverride>,
    /// The profile the settings came from: a built-in name or a file path.
    pub profile: String,
    /// The default user's password (`None`: `nopass`).
    pub requirepass: Option<String>,
    /// Every user, `default` included (its password is `requirepass`):
    /// the profile's `[users]` table or the ACL file, then ACL SETUSER,
    /// DELUSER and LOAD (sent to every core).
    pub users: BTreeMap<String, Arc<User>>,
    /// Changes with every change of `users`: a connection whose copy of its
    /// user is older looks it up again before its next command.
    pub acl_epoch: u64,
    /// Redis's `aclfile`: where ACL SAVE writes and ACL LOAD reads users.
    pub aclfile: Option<PathBuf>,
    /// Most entries ACL LOG keeps (`acllog-max-len`).
    pub acllog_max_len: usize,
    /// Without a password, refuse clients that do not come from loopback.
    pub protected_mode: bool,
    /// Who may CONFIG SET a protected setting (`dir`): no, yes, local.
    pub enable_protected_configs: String,
    /// The redis.conf the server started from (`--config`): INFO's
    /// `config_file`, and what CONFIG REWRITE writes.
    pub config_file: Option<PathBuf>,
    /// Redis settings set and not used (`redis_params`), by their canonical
    /// names; CONFIG GET reports Redis's default for the others.
    pub accepted: std::collections::BTreeMap<String, String>,
    /// Who may run DEBUG (`enable-debug-command`): no, yes, local.
    pub enable_debug_command: String,
    /// Who may run MODULE LOAD/UNLOAD (`enable-module-command`): no, yes,
    /// local. There are no modules: the setting only changes the error.
    pub enable_module_command: String,
    /// Pending-output limits of a normal client, and the other classes'
    /// (`replica`, `pubsub`) as given, kept for CONFIG GET only.
    pub output_limit: OutputLimit,
    /// `notify-keyspace-events`: which keyspace events are published
    /// (`events::*` bits; 0, the default, costs nothing).
    pub notify_keyspace_events: u32,
    /// The compact forms' limits (Redis's encoding settings; the keyspace's
    /// `encodings` has their meaning and defaults).
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub list_max_listpack_size: i64,
    pub stream_node_max_bytes: usize,
    pub stream_node_max_entries: usize,
    /// `tracking-table-max-keys`: most keys remembered for client-side
    /// caching, all shards together (0: no limit); each shard keeps its
    /// share.
    pub tracking_table_max_keys: usize,
}

/// `client-output-buffer-limit` for normal clients: disconnect when the
/// pending output passes `hard_bytes`, or stays above `soft_bytes` for
/// `soft_seconds` (0 = no such limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: usize,
    pub soft_bytes: usize,
    pub soft_seconds: u64,
    /// The `pubsub` class's limits: a subscribed client's unwritten
    /// messages (docs/pubsub.md).
    pub pubsub: ClassLimit,
    pub other_classes: String,
}

/// Redis's `tls-*` settings that ringcache honours (docs/security.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// `tls-port`: 0 serves no TLS.
    pub port: u16,
    pub cert_file: String,
    pub key_file: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    /// `tls-auth-clients`: `yes` (a client certificate signed by the CA is
    /// required, Redis's default), `optional` or `no`.
    pub auth_clients: String,
    /// `tls-protocols`: e.g. `TLSv1.2 TLSv1.3` (empty: both).
    pub protocols: String,
    /// `tls-ciphersuites` (TLS 1.3) and `tls-ciphers` (TLS 1.2): names of
    /// the suites allowed (empty: the defaults).
    pub ciphersuites: String,
    pub ciphers: String,
}

impl Default for TlsSettings {
    fn default() -> TlsSettings {
        TlsSettings {
            port: 0,
            cert_file: String::new(),
            key_file: String::new(),
            ca_cert_file: String::new(),
            ca_cert_dir: String::new(),
            auth_clients: "yes".into(),
            protocols: String::new(),
            ciphersuites: String::new(),
            ciphers: String::new(),
        }
    }
}

impl OutputLimit {
    /// The `normal` class's limits.
    pub fn normal(&self) -> ClassLimit {
        ClassLimit {
            hard_bytes: self.hard_bytes,
            soft_bytes: self.soft_bytes,
            soft_seconds: self.soft_seconds,
        }
    }
}

/// One class's `client-output-buffer-limit` (0 = no such limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard_bytes: usize,
    pub soft_bytes: usize,
    pub soft_seconds: u64,
}

/// When a shard's log is synced (`appendfsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    Everysec,
    No,
}

impl Fsync {
    pub fn parse(s: &str) -> Option<Fsync> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::Everysec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// What to do with a log record that fails its checks and is not a torn
/// tail (`aof-load-corrupt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnCorruption {
    /// Refuse to start, naming the file and offset.
    Stop,
    /// Keep the valid prefix, drop the rest (`--aof-load-corrupt skip-tail`).
    SkipTail,
}

/// What to do with a snapshot that fails its checks at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotOnCorruption {
    /// Refuse to start, naming the file and what is wrong.
    Stop,
    /// Start the shard without it (empty, plus nothing of its log: the log
    /// only makes sense on top of its snapshot).
    StartEmpty,
}

/// What glommio's `LocalExecutorBuilder` is given for one core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorSettings {
    /// Memory registered with io_uring for storage I/O, in bytes.
    pub io_memory_bytes: usize,
    /// io_uring submission-queue entries.
    pub ring_depth: usize,
    /// How long a task may run before the executor lets others in.
    pub preempt_timer_ms: u64,
    /// How long an idle executor spins before it sleeps (0 = sleep at once).
    pub spin_before_park_us: u64,
}

impl Default for ExecutorSettings {
    fn default() -> ExecutorSettings {
        ExecutorSettings {
            io_memory_bytes: IO_MEMORY_BYTES,
            ring_depth: RING_DEPTH,
            preempt_timer_ms: PREEMPT_TIMER.as_millis() as u64,
            spin_before_park_us: 0,
        }
    }
}

/// glommio task-queue shares (1..=1000) of a core's three kinds of work.
/// They only matter when more than one kind has work ready: then each gets
/// CPU time in proportion to its shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueShares {
    /// Client connections and the jobs other cores send (running commands).
    pub network: usize,
    /// The append-only log's writes and syncs.
    pub persistence: usize,
    /// Active expiry.
    pub expiry: usize,
}

impl Default for QueueShares {
    fn default() -> QueueShares {
        QueueShares {
            network: 1000,
            persistence: 500,
            expiry: 100,
        }
    }
}

/// `[cores.N]`: what differs on one core. `None` keeps the global value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreOverride {
    /// Whether this core binds the port. A core that does not still owns its
    /// shard and serves its peers' jobs.
    pub accept: Option<bool>,
    pub io_memory_bytes: Option<usize>,
    pub ring_depth: Option<usize>,
    pub preempt_timer_ms: Option<u64>,
    pub spin_before_park_us: Option<u64>,
    pub shares_network: Option<usize>,
    pub shares_persistence: Option<usize>,
    pub shares_expiry: Option<usize>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: 6379,
            bind: "127.0.0.1".into(),
            tls: TlsSettings::default(),
            dir: PathBuf::from("./data"),
            shards: 0,
            cpus: None,
            pinned: Vec::new(),
            databases: 16,
            hz: 10,
            maxclients: 10000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            // Redis 6's fixed cap; 7.0 allows up to 2^31-1.
            max_args: 1024 * 1024,
            timeout: 0,
            tcp_keepalive: 300,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            loglevel: "notice".into(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            busy_reply_threshold: 5000,
            save: Vec::new(),
            appendonly: false,
            aof_use_rdb_preamble: true,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 << 20,
            snapshot_write_rate: 0,
            snapshot_cpu_share: DEFAULT_SNAPSHOT_CPU_SHARE,
            snapshot_load_corrupt: SnapshotOnCorruption::Stop,
            appendfsync: Fsync::Everysec,
            aof_load_corrupt: OnCorruption::Stop,
            aof_extent_bytes: EXTENT_BYTES,
            aof_write_threshold_bytes: WRITE_THRESHOLD_BYTES,
            read_chunk_bytes: READ_CHUNK_BYTES,
            max_batch_requests: MAX_BATCH_REQUESTS,
            executor: ExecutorSettings::default(),
            shares: QueueShares::default(),
            cores: BTreeMap::new(),
            profile: String::new(),
            requirepass: None,
            users: BTreeMap::from([("default".to_string(), Arc::new(User::default_user(None)))]),
            acl_epoch: 1,
            aclfile: None,
            acllog_max_len: crate::acl::ACL_LOG_MAX_LEN_DEFAULT,
            protected_mode: true,
            enable_protected_configs: "no".into(),
            config_file: None,
            accepted: Default::default(),
            enable_debug_command: "no".into(),
            enable_module_command: "no".into(),
            // Redis's default is `normal 0 0 0`; a client that leaves more
            // than 64 MB unread for a minute is dropped here (see
            // docs/security.md).
            output_limit: OutputLimit {
                hard_bytes: 0,
                soft_bytes: 64 << 20,
                soft_seconds: 60,
                // Redis's default for the pubsub class: 32mb 8mb 60.
                pubsub: ClassLimit {
                    hard_bytes: 32 << 20,
                    soft_bytes: 8 << 20,
                    soft_seconds: 60,
                },
                other_classes: "slave 268435456 67108864 60 pubsub 33554432 8388608 60".into(),
            },
            notify_keyspace_events: 0,
            tracking_table_max_keys: 1_000_000,
            // Redis 7.0's defaults (redis-server's own, not its redis.conf's).
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

impl Config {
    /// The executor settings of core `id`, overrides applied.
    pub fn executor_of(&self, id: usize) -> ExecutorSettings {
        let mut e = self.executor.clone();
        if let Some(o) = self.cores.get(&id) {
            e.io_memory_bytes = o.io_memory_bytes.unwrap_or(e.io_memory_bytes);
            e.ring_depth = o.ring_depth.unwrap_or(e.ring_depth);
            e.preempt_timer_ms = o.preempt_timer_ms.unwrap_or(e.preempt_timer_ms);
            e.spin_before_park_us = o.spin_before_park_us.unwrap_or(e.spin_before_park_us);
        }
        e
    }

    /// The task-queue shares of core `id`, overrides applied.
    pub fn shares_of(&self, id: usize) -> QueueShares {
        let mut s = self.shares;
        if let Some(o) = self.cores.get(&id) {
            s.network = o.shares_network.unwrap_or(s.network);
            s.persistence = o.shares_persistence.unwrap_or(s.persistence);
            s.expiry = o.shares_expiry.unwrap_or(s.expiry);
        }
        s
    }

    /// Whether core `id` binds the port and accepts clients.
    pub fn accepts(&self, id: usize) -> bool {
        self.cores.get(&id).and_then(|o| o.accept).unwrap_or(true)
    }

    /// How many cores accept clients (they share `maxclients`).
    pub fn accepting_cores(&self) -> usize {
        let idle = self
            .cores
            .range(..self.shards)
            .filter(|(_, o)| o.accept == Some(false))
            .count();
        self.shards - idle
    }

    /// Resolves what depends on the machine and checks what no single
    /// setting can: the shard count (0 = one per CPU of `cpus`), the CPU of
    /// each shard (every listed CPU must be one this process may run on),
    /// per-core overrides naming existing cores, and at least one core
    /// accepting connections. `allowed` is the process's CPU set.
    pub fn finish(&mut self, allowed: &[usize]) -> Result<(), String> {
        let allowed: Vec<usize> = if allowed.is_empty() {
            vec![0]
        } else {
            allowed.to_vec()
        };
        let cpus = match &self.cpus {
            None => allowed.clone(),
            Some(list) => {
                if let Some(bad) = list.iter().find(|c| !allowed.contains(c)) {
                    return Err(format!(
                        "cpus: CPU {bad} is not online or not in this process's allowed set ({}); change `cpus` or the process's affinity",
                        cpu_list(&allowed)
                    ));
                }
                list.clone()
            }
        };
        if self.shards == 0 {
            self.shards = cpus.len();
        }
        if self.shards == 0 || self.shards > MAX_SHARDS {
            return Err(format!("shards: must be between 1 and {MAX_SHARDS}"));
        }
        self.pinned = (0..self.shards).map(|i| cpus[i % cpus.len()]).collect();
        if let Some((&id, _)) = self.cores.range(self.shards..).next() {
            return Err(format!(
                "cores.{id}: there is no core {id}: cores are numbered by shard, 0 to {}",
                self.shards - 1
            ));
        }
        if self.accepting_cores() == 0 {
            return Err(
                "cores: every core has accept = false: at least one must accept connections".into(),
            );
        }
        if let Some(path) = &self.aclfile {
            if self.users.len() > 1 {
                return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
            }
            // The file's users, its default one included, win over
            // requirepass, as in Redis (the file is loaded after the config).
            self.users = load_acl_file(path)?;
            self.acl_epoch += 1;
        }
        Ok(())
    }

    /// Every setting as `(name, value)`, in CONFIG GET's names and format.
    /// Secrets are masked: this is what logs and `check-profile` print.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        PARAMS
            .iter()
            .map(|p| match p.name {
                "requirepass" if self.requirepass.is_some() => (p.name, "(set)".into()),
                _ => (p.name, (p.get)(self)),
            })
            .collect()
    }

    /// The value of Redis's setting `p` as it runs: a setting ringcache
    /// honours from its getter, one it only accepts as set (`None`: never
    /// set). CONFIG GET and CONFIG REWRITE both read it.
    pub fn redis_value(&self, p: &redis_params::RedisParam) -> Option<String> {
        match param(p.name) {
            Some(honoured) => Some((honoured.get)(self)),
            None => self.accepted.get(&redis_params::canonical(p.name)).cloned(),
        }
    }

    /// The user `name` as configured now.
    pub fn user(&self, name: &str) -> Option<Arc<User>> {
        self.users.get(name).cloned()
    }

    /// Whether a new connection must authenticate before anything else:
    /// the default user is off or has passwords (Redis's `authRequired`).
    pub fn auth_required(&self) -> bool {
        !self
            .users
            .get("default")
            .is_some_and(|u| u.needs_no_password())
    }

    /// `requirepass` and the default user's passwords with it, as Redis's
    /// CONFIG SET requirepass.
    pub fn set_requirepass(&mut self, pass: Option<String>) {
        let mut default = self
            .users
            .get("default")
            .map(|u| (**u).clone())
            .unwrap_or_else(|| User::default_user(None));
        default.set_requirepass(pass.as_deref());
        self.users.insert("default".into(), Arc::new(default));
        self.requirepass = pass;
        self.acl_epoch += 1;
    }

    /// The effective settings on one line, `name=value` (quoted when the
    /// value has spaces or is empty), for the start-up log.
    pub fn one_line(&self) -> String {
        self.effective()
            .into_iter()
            .map(|(k, v)| {
                if v.is_empty() || v.contains(' ') {
                    format!("{k}=\"{v}\"")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Applies one setting by its profile name (`maxmemory`,
    /// `executor.ring-depth`, `cores.1.accept`, …) at start-up.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SetError> {
        if let Some(rest) = key.strip_prefix("cores.") {
            return params::set_core(self, rest, value);
        }
        if let Some(name) = key.strip_prefix("users.") {
            return params::set_user(self, name, value);
        }
        // Exact names, and Redis's aliases of them (`hash-max-ziplist-*`).
        let honoured = params::param_exact(key)
            .or_else(|| params::param(key).filter(|_| key == key.to_ascii_lowercase()));
        if let Some(p) = honoured {
            let load = p.load.or(p.set).ok_or(SetError::Unknown)?;
            return load(self, value).map_err(SetError::Invalid);
        }
        // Any other of Redis's settings: checked, kept and reported.
        let p = redis_params::find(key)
            .filter(|p| p.name == key)
            .ok_or(SetError::Unknown)?;
        let value = redis_params::check(p, value).map_err(SetError::Invalid)?;
        self.accepted.insert(redis_params::canonical(p.name), value);
        Ok(())
    }
}

/// Largest ACL file read (bytes): users are lines of rules, far smaller.
pub const MAX_ACL_FILE_BYTES: u64 = 64 << 20;

/// Reads and parses an ACL file (start-up, ACL LOAD): every user, or the
/// errors of every bad line.
pub fn load_acl_file(path: &std::path::Path) -> Result<BTreeMap<String, Arc<User>>, String> {
    let opened =
        |e: std::io::Error| format!("Error loading ACLs, opening file '{}': {e}", path.display());
    let len = std::fs::metadata(path).map_err(opened)?.len();
    if len > MAX_ACL_FILE_BYTES {
        return Err(format!(
            "Error loading ACLs: '{}' is larger than {MAX_ACL_FILE_BYTES} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(opened)?;
    crate::acl::parse_acl_file(&text, &path.display().to_string())
}

/// Why a setting was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SetError {
    /// No setting has that name.
    Unknown,
    /// The value is not valid for it; the reason.
    Invalid(String),
}

/// The CPUs this process may run on (its affinity mask).
pub fn allowed_cpus() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// `0,1,2` for a list of CPU ids.
pub fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// CONFIG REWRITE's write: `lines` to a temporary file beside `path`,
/// synced, renamed over it, the directory synced.
fn write_lines_atomically(path: &Path, lines: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let mut body = lines.join("\n");
    body.push('\n');
    let tmp = path.with_extension("rewrite.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_resolves_shards_and_pinning() {
        let mut c = Config::default();
        c.finish(&[0, 1, 2]).unwrap();
        assert_eq!((c.shards, c.pinned.clone()), (3, vec![0, 1, 2]));

        let mut c = Config::default();
        c.set("cpus", "2").unwrap();
        c.set("shards", "2").unwrap();
        c.finish(&[0, 1, 2]).unwrap();
        assert_eq!(c.pinned, vec![2, 2]);

        let mut c = Config::default();
        c.set("cpus", "7").unwrap();
        assert!(c.finish(&[0, 1]).unwrap_err().contains("CPU 7"));
    }

    #[test]
    fn cores_are_checked_against_the_shard_count() {
        let mut c = Config::default();
        c.set("shards", "2").unwrap();
        c.set("cores.1.accept", "no").unwrap();
        c.set("cores.1.ring-depth", "64").unwrap();
        c.finish(&[0, 1]).unwrap();
        assert!(c.accepts(0) && !c.accepts(1));
        assert_eq!(c.executor_of(1).ring_depth, 64);
        assert_eq!(c.executor_of(0).ring_depth, c.executor.ring_depth);
        c.set("shares.expiry", "300").unwrap();
        c.set("cores.1.shares.expiry", "20").unwrap();
        assert_eq!((c.shares_of(0).expiry, c.shares_of(1).expiry), (300, 20));
        assert_eq!(c.shares_of(1).network, c.shares.network);
        assert!(matches!(
            c.set("shares.network", "0"),
            Err(SetError::Invalid(_))
        ));
        assert!(matches!(
            c.set("cores.1.shares.network", "1001"),
            Err(SetError::Invalid(_))
        ));

        c.set("cores.0.accept", "no").unwrap();
        assert!(c.finish(&[0, 1]).unwrap_err().contains("at least one"));

        let mut c = Config::default();
        c.set("shards", "2").unwrap();
        c.set("cores.5.accept", "yes").unwrap();
        assert!(c.finish(&[0, 1]).unwrap_err().contains("cores.5"));
    }

    #[test]
    fn unknown_and_invalid_settings_are_told_apart() {
        let mut c = Config::default();
        assert_eq!(c.set("maxmemroy", "1"), Err(SetError::Unknown));
        assert_eq!(c.set("cores.1.bogus", "1"), Err(SetError::Unknown));
        assert!(matches!(c.set("port", "http"), Err(SetError::Invalid(_))));
        assert!(matches!(
            c.set("executor.ring-depth", "0"),
            Err(SetError::Invalid(_))
        ));
        assert!(matches!(c.set("save", "60"), Err(SetError::Invalid(_))));
        c.set("save", "3600 1 300 100").unwrap();
        assert_eq!(c.save, vec![(3600, 1), (300, 100)]);
    }
}
