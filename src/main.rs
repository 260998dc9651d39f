//! ringcache: a Redis-compatible, thread-per-core cache engine.
//! This file is the command line and start-up only.
//!
//! Settings are layered: built-in defaults < the profile (`--profile`,
//! default `balanced`) < flags. Every flag is optional so that "not given"
//! leaves the profile's value alone.

use clap::Parser;
use ringcache::config::{self, calibrate, profile, Config};
use std::path::PathBuf;
use std::time::Duration;

/// A Redis-compatible, thread-per-core cache engine.
///
/// Settings come from a profile (--profile; default: balanced = append-only
/// log synced every second), then from the flags below, which override it.
/// Flag names follow redis-server's; `--set KEY=VALUE` reaches any profile
/// setting, e.g. `--set cores.1.accept=no`, and any other Redis setting can
/// be given as redis-server takes it: `--hash-max-listpack-entries 64`.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Option<Tool>,

    /// Profile: a built-in name (cache, snapshot, balanced, durable) or a
    /// path to a TOML file (or to a redis.conf, as --config). [default:
    /// balanced, or none with --config]
    #[arg(long, value_name = "NAME|FILE", help_heading = "Profile")]
    profile: Option<String>,
    /// A redis.conf in Redis's syntax, over the profile (if one is given):
    /// every directive of Redis 7.0 is honoured or accepted and reported;
    /// CONFIG REWRITE writes it back.
    #[arg(long, value_name = "FILE", help_heading = "Profile")]
    config: Option<PathBuf>,
    /// Any profile setting by its profile name (repeatable), e.g.
    /// `--set executor.ring-depth=256` or `--set cores.0.accept=no`.
    #[arg(long = "set", value_name = "KEY=VALUE", help_heading = "Profile")]
    set: Vec<String>,

    /// TCP port to listen on.
    #[arg(long, help_heading = "Network")]
    port: Option<u16>,
    /// Addresses to listen on, space-separated.
    #[arg(long, help_heading = "Network")]
    bind: Option<String>,
    /// Most simultaneous client connections.
    #[arg(long, help_heading = "Network")]
    maxclients: Option<String>,
    /// Close clients idle this many seconds (0 = never).
    #[arg(long, value_name = "SECONDS", help_heading = "Network")]
    timeout: Option<String>,
    /// TCP keepalive interval in seconds (0 = off).
    #[arg(long, value_name = "SECONDS", help_heading = "Network")]
    tcp_keepalive: Option<String>,
    /// Largest bulk string a client may send (bytes; 512mb, 1gb, ...).
    #[arg(long, value_name = "BYTES", help_heading = "Network")]
    proto_max_bulk_len: Option<String>,
    /// Largest unparsed input buffered per client (bytes).
    #[arg(long, value_name = "BYTES", help_heading = "Network")]
    client_query_buffer_limit: Option<String>,
    /// Bytes asked of a client socket per read.
    #[arg(long, value_name = "BYTES", help_heading = "Network")]
    read_chunk_bytes: Option<String>,
    /// Most pipelined requests run as one batch before replies are written.
    #[arg(long, value_name = "N", help_heading = "Network")]
    max_batch_requests: Option<String>,

    /// Data directory (snapshots, append-only logs, the manifest).
    #[arg(long, help_heading = "Persistence")]
    dir: Option<PathBuf>,
    /// Log every write to a per-shard append-only file: yes or no.
    #[arg(long, value_name = "yes|no", help_heading = "Persistence")]
    appendonly: Option<String>,
    /// When the append-only file is synced: always (before replying),
    /// everysec, no.
    #[arg(long, value_name = "always|everysec|no", help_heading = "Persistence")]
    appendfsync: Option<String>,
    /// Snapshot points, "<seconds> <changes> ..." ("" = none): snapshot
    /// when that many changes happened within that many seconds.
    #[arg(long, value_name = "POINTS", help_heading = "Persistence")]
    save: Option<String>,
    /// With the log on, snapshots are its base (hybrid): yes or no (the log
    /// alone).
    #[arg(long, value_name = "yes|no", help_heading = "Persistence")]
    aof_use_rdb_preamble: Option<String>,
    /// Snapshot a shard (and trim its log) when its log beyond the snapshot
    /// reaches this percentage of the snapshot's size (0 = never).
    #[arg(long, value_name = "PERCENT", help_heading = "Persistence")]
    auto_aof_rewrite_percentage: Option<String>,
    /// ...and at least this many bytes.
    #[arg(long, value_name = "BYTES", help_heading = "Persistence")]
    auto_aof_rewrite_min_size: Option<String>,
    /// Most bytes a second each shard's snapshot writer writes (0 = no limit;
    /// 100mb, ...): a slower snapshot leaves more of the disk and the cores
    /// to clients.
    #[arg(long, value_name = "BYTES", help_heading = "Persistence")]
    snapshot_write_rate: Option<String>,
    /// Percent of a busy core's time a shard's snapshot writer takes (1-100;
    /// 100 = no limit): under load a snapshot takes longer and the clients
    /// keep the rest. An idle core writes it at full speed.
    #[arg(long, value_name = "PERCENT", help_heading = "Persistence")]
    snapshot_cpu_share: Option<String>,
    /// A snapshot failing its checks at start-up: stop (refuse to start) or
    /// start-empty (that shard starts with no data).
    #[arg(long, value_name = "stop|start-empty", help_heading = "Persistence")]
    snapshot_load_corrupt: Option<String>,
    /// A bad record in the middle of the log: stop (refuse to start) or
    /// skip-tail (keep the valid records before it, drop the rest).
    #[arg(long, value_name = "stop|skip-tail", help_heading = "Persistence")]
    aof_load_corrupt: Option<String>,
    /// AOF segment space reserved at a time (bytes; recorded, not yet applied).
    #[arg(long, value_name = "BYTES", help_heading = "Persistence")]
    aof_extent_bytes: Option<String>,
    /// AOF bytes written but not yet synced that make `everysec` sync before
    /// its second is up (bytes).
    #[arg(long, value_name = "BYTES", help_heading = "Persistence")]
    aof_write_threshold_bytes: Option<String>,

    /// Memory budget in bytes (0 = none; reported, not enforced yet).
    #[arg(long, value_name = "BYTES", help_heading = "Memory")]
    maxmemory: Option<String>,
    /// What to evict at the budget (noeviction, allkeys-lru, ...).
    #[arg(long, value_name = "POLICY", help_heading = "Memory")]
    maxmemory_policy: Option<String>,

    /// Number of shards, one pinned core each (0 = one per CPU of --cpus).
    #[arg(long, help_heading = "Executor")]
    shards: Option<String>,
    /// CPUs to pin shards to: all, or ids and ranges ("0-3,8").
    #[arg(long, value_name = "all|LIST", help_heading = "Executor")]
    cpus: Option<String>,
    /// Memory each core registers with io_uring (bytes, >= 512kb).
    #[arg(long, value_name = "BYTES", help_heading = "Executor")]
    io_memory: Option<String>,
    /// io_uring queue depth per core (entries).
    #[arg(long, value_name = "N", help_heading = "Executor")]
    ring_depth: Option<String>,
    /// How long a task runs before others get the core (ms).
    #[arg(long, value_name = "MS", help_heading = "Executor")]
    preempt_timer_ms: Option<String>,
    /// How long an idle core spins before sleeping (µs).
    #[arg(long, value_name = "US", help_heading = "Executor")]
    spin_before_park_us: Option<String>,

    /// Number of logical databases (SELECT 0..N-1).
    #[arg(long, help_heading = "Keyspace")]
    databases: Option<String>,
    /// Active-expiry passes per second.
    #[arg(long, help_heading = "Keyspace")]
    hz: Option<String>,

    /// Password of the default user; clients must AUTH before anything else.
    #[arg(long, value_name = "PASSWORD", help_heading = "Security")]
    requirepass: Option<String>,
    /// Users file (Redis's ACL file format): read at start-up, ACL LOAD
    /// reads it again, ACL SAVE writes it.
    #[arg(long, value_name = "PATH", help_heading = "Security")]
    aclfile: Option<String>,
    /// Without a password, refuse clients not on loopback: yes or no.
    #[arg(long, value_name = "yes|no", help_heading = "Security")]
    protected_mode: Option<String>,
    /// Largest pending output of a client: "normal <hard> <soft> <seconds>".
    #[arg(long, value_name = "LIMITS", help_heading = "Security")]
    client_output_buffer_limit: Option<String>,

    /// Log level: debug, verbose, notice, warning.
    #[arg(long, help_heading = "Logging")]
    loglevel: Option<String>,
}

impl Args {
    /// The flags given, as `(setting name, value)`, in a fixed order; `--set`
    /// pairs last, so they win.
    fn overrides(
        &self,
        redis_flags: Vec<profile::Override>,
    ) -> Result<Vec<profile::Override>, String> {
        let given: Vec<(&str, Option<String>)> = vec![
            ("port", self.port.map(|p| p.to_string())),
            ("bind", self.bind.clone()),
            ("maxclients", self.maxclients.clone()),
            ("timeout", self.timeout.clone()),
            ("tcp-keepalive", self.tcp_keepalive.clone()),
            ("proto-max-bulk-len", self.proto_max_bulk_len.clone()),
            (
                "client-query-buffer-limit",
                self.client_query_buffer_limit.clone(),
            ),
            ("network.read-chunk-bytes", self.read_chunk_bytes.clone()),
            (
                "network.max-batch-requests",
                self.max_batch_requests.clone(),
            ),
            ("dir", self.dir.as_ref().map(|d| d.display().to_string())),
            ("appendonly", self.appendonly.clone()),
            ("appendfsync", self.appendfsync.clone()),
            ("save", self.save.clone()),
            ("aof-use-rdb-preamble", self.aof_use_rdb_preamble.clone()),
            (
                "auto-aof-rewrite-percentage",
                self.auto_aof_rewrite_percentage.clone(),
            ),
            (
                "auto-aof-rewrite-min-size",
                self.auto_aof_rewrite_min_size.clone(),
            ),
            ("snapshot-write-rate", self.snapshot_write_rate.clone()),
            ("snapshot-cpu-share", self.snapshot_cpu_share.clone()),
            ("snapshot-load-corrupt", self.snapshot_load_corrupt.clone()),
            ("aof-load-corrupt", self.aof_load_corrupt.clone()),
            ("aof.extent-bytes", self.aof_extent_bytes.clone()),
            (
                "aof.write-threshold-bytes",
                self.aof_write_threshold_bytes.clone(),
            ),
            ("maxmemory", self.maxmemory.clone()),
            ("maxmemory-policy", self.maxmemory_policy.clone()),
            ("shards", self.shards.clone()),
            ("cpus", self.cpus.clone()),
            ("executor.io-memory", self.io_memory.clone()),
            ("executor.ring-depth", self.ring_depth.clone()),
            ("executor.preempt-timer-ms", self.preempt_timer_ms.clone()),
            (
                "executor.spin-before-park-us",
                self.spin_before_park_us.clone(),
            ),
            ("databases", self.databases.clone()),
            ("hz", self.hz.clone()),
            ("loglevel", self.loglevel.clone()),
            ("requirepass", self.requirepass.clone()),
            ("aclfile", self.aclfile.clone()),
            ("protected-mode", self.protected_mode.clone()),
            (
                "client-output-buffer-limit",
                self.client_output_buffer_limit.clone(),
            ),
        ];
        let mut out: Vec<profile::Override> = given
            .into_iter()
            .filter_map(|(k, v)| {
                // The flag is the setting's name without its table.
                let flag = match k.rsplit_once('.') {
                    Some(("aof", name)) => format!("--aof-{name}"),
                    Some((_, name)) => format!("--{name}"),
                    None => format!("--{k}"),
                };
                v.map(|v| (flag, k.to_string(), v))
            })
            .collect();
        out.extend(redis_flags);
        for pair in &self.set {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("--set {pair}: expected KEY=VALUE"))?;
            out.push((format!("--set {k}"), k.trim().to_string(), v.to_string()));
        }
        Ok(out)
    }
}

#[derive(clap::Subcommand, Debug)]
enum Tool {
    /// Verify the data under DIR (like redis-check-rdb and redis-check-aof):
    /// the manifest, every snapshot it names, and the first bad record of
    /// each log segment; exits 1 if anything is damaged.
    Check {
        /// The data directory (the server's --dir).
        dir: PathBuf,
        /// Truncate each shard's log at its first bad record.
        #[arg(long)]
        fix: bool,
    },
    /// Load a profile (a built-in name or a file) and print the effective
    /// settings on this machine, or the first error (file, line, key); exits 1
    /// on an error.
    CheckProfile {
        /// Built-in profile name or path to a TOML file.
        #[arg(value_name = "NAME|FILE")]
        profile: String,
    },
    /// Measure this machine (fdatasync latency, O_DIRECT bandwidth, random-read
    /// IOPS, CPU topology) on DIR's device, print the figures, and write a
    /// profile tuned from them.
    Calibrate {
        /// A directory on the device the data will live on (not tmpfs).
        #[arg(long)]
        dir: PathBuf,
        /// Where to write the tuned profile (default: print it).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Bytes written then read by the sequential passes.
        #[arg(long, value_name = "BYTES", default_value = "256mb")]
        size: String,
        /// Write + fdatasync rounds of the latency pass.
        #[arg(long, value_name = "N", default_value_t = 200)]
        fsyncs: usize,
        /// Length of the random-read pass, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
        random_seconds: f64,
    },
}

/// Prints a configuration error and exits 2 (a usage error, as clap's).
fn refuse(e: impl std::fmt::Display) -> ! {
    eprintln!("ringcache: {e}");
    std::process::exit(2);
}

fn print_settings(c: &Config) {
    let width = c
        .effective()
        .iter()
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(0);
    for (k, v) in c.effective() {
        println!("{k:<width$}  {v}");
    }
}

/// Takes out of the command line the flags that name a Redis setting, as
/// redis-server takes them: `--name` and its values up to the next `--`
/// word (`--save 900 1 --save 300 10`, `--save ""`, `--bind 127.0.0.1
/// ::1`). They come back as overrides, in order; clap parses the rest (its
/// flags of the same names are there for `--help`).
fn redis_style_flags(
    argv: Vec<std::ffi::OsString>,
) -> (Vec<std::ffi::OsString>, Vec<profile::Override>) {
    let mut rest = Vec::new();
    let mut taken: Vec<profile::Override> = Vec::new();
    // A tool's own flags (`calibrate --dir`) are not settings.
    let tool = argv
        .get(1)
        .is_some_and(|w| !w.to_str().is_some_and(|w| w.starts_with('-')));
    if tool {
        return (argv, taken);
    }
    let mut words = argv.into_iter().peekable();
    while let Some(word) = words.next() {
        let name = word
            .to_str()
            .and_then(|w| w.strip_prefix("--"))
            .filter(|n| !n.is_empty() && !n.contains('='))
            .map(str::to_ascii_lowercase);
        let Some(name) = name.filter(|n| config::redis_params::find(n).is_some()) else {
            rest.push(word);
            continue;
        };
        let mut values = Vec::new();
        while let Some(v) = words.next_if(|v| !v.to_str().is_some_and(|v| v.starts_with("--"))) {
            values.push(v.to_string_lossy().into_owned());
        }
        let value = values.join(" ");
        // Snapshot points add up, as in Redis (`--save ""` clears them).
        let earlier = taken.iter_mut().rev().find(|(_, n, _)| n == "save");
        if let Some((_, _, points)) = earlier.filter(|_| name == "save" && !value.is_empty()) {
            if !points.is_empty() {
                points.push(' ');
                points.push_str(&value);
                continue;
            }
        }
        taken.push((format!("--{name}"), name, value));
    }
    (rest, taken)
}

fn main() {
    let (argv, redis_flags) = redis_style_flags(std::env::args_os().collect());
    let args = Args::parse_from(argv);
    match &args.command {
        Some(Tool::Check { dir, fix }) => match ringcache::persistence::check(dir, *fix) {
            Ok((lines, healthy)) => {
                lines.iter().for_each(|l| println!("{l}"));
                std::process::exit(if healthy { 0 } else { 1 });
            }
            Err(e) => {
                eprintln!("ringcache check: {e}");
                std::process::exit(2);
            }
        },
        Some(Tool::CheckProfile { profile: p }) => {
            let result = profile::layered(Some(p), None, &[])
                .and_then(|mut c| c.finish(&config::allowed_cpus()).map(|()| c));
            match result {
                Ok(c) => {
                    print_settings(&c);
                    std::process::exit(0);
                }
                Err(e) => {
                    eprintln!("ringcache check-profile: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some(Tool::Calibrate {
            dir,
            out,
            size,
            fsyncs,
            random_seconds,
        }) => {
            let Some(size_bytes) = ringcache::util::parse_memory(size) else {
                refuse(format!(
                    "calibrate --size {size}: expected bytes (e.g. 256mb)"
                ));
            };
            if !(0.0..=600.0).contains(random_seconds) {
                refuse("calibrate --random-seconds: expected 0 to 600");
            }
            let opts = calibrate::Options {
                dir: dir.clone(),
                size_bytes,
                fsyncs: *fsyncs,
                random: Duration::from_secs_f64(*random_seconds),
            };
            let figures = match calibrate::measure(&opts) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("ringcache calibrate: {e}");
                    std::process::exit(1);
                }
            };
            print!("{}", calibrate::table(&figures, &opts));
            let text = calibrate::profile(&figures, &opts);
            match out {
                Some(path) => {
                    if let Err(e) = std::fs::write(path, &text) {
                        eprintln!("ringcache calibrate: cannot write {}: {e}", path.display());
                        std::process::exit(1);
                    }
                    println!("profile written to {}", path.display());
                }
                None => print!("\n{text}"),
            }
            std::process::exit(0);
        }
        None => {}
    }

    let overrides = args.overrides(redis_flags).unwrap_or_else(|e| refuse(e));
    let mut config = profile::layered(args.profile.as_deref(), args.config.as_deref(), &overrides)
        .unwrap_or_else(|e| refuse(e));
    config
        .finish(&config::allowed_cpus())
        .unwrap_or_else(|e| refuse(e));

    ringcache::logging::init(&config.loglevel);
    tracing::info!("effective config: {}", config.one_line());
    config::redis_params::warn_unused(config.accepted.keys().map(String::as_str));
    if let Err(e) = ringcache::runtime::run(config) {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}
