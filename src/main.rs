//! ringcache: a Redis-compatible, thread-per-core cache engine.
//! This file is the command line and start-up only.

use clap::Parser;
use ringcache::config::Config;
use ringcache::persistence::aof::{Fsync, OnCorruption};
use std::path::PathBuf;

/// A Redis-compatible, thread-per-core cache engine.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Tool>,
    /// TCP port to listen on.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Addresses to listen on, space-separated.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Data directory (snapshots and logs).
    #[arg(long, default_value = "./data")]
    dir: PathBuf,
    /// Number of shards, one pinned core each (default: one per online core).
    #[arg(long)]
    shards: Option<usize>,
    /// Number of logical databases (SELECT 0..N-1).
    #[arg(long, default_value_t = 16)]
    databases: usize,
    /// Active-expiry passes per second.
    #[arg(long, default_value_t = 10)]
    hz: u32,
    /// Most simultaneous client connections.
    #[arg(long, default_value_t = 10000)]
    maxclients: usize,
    /// Log level: debug, verbose, notice, warning.
    #[arg(long, default_value = "notice")]
    loglevel: String,
    /// Log every write to a per-shard append-only file: yes or no.
    #[arg(long, default_value = "no", value_parser = ["yes", "no"])]
    appendonly: String,
    /// When the append-only file is synced: always (before replying), everysec, no.
    #[arg(long, default_value = "everysec", value_parser = ["always", "everysec", "no"])]
    appendfsync: String,
    /// A bad record in the middle of the log: stop (refuse to start) or
    /// skip-tail (keep the valid records before it, drop the rest).
    #[arg(long, default_value = "stop", value_parser = ["stop", "skip-tail"])]
    aof_load_corrupt: String,
}

#[derive(clap::Subcommand, Debug)]
enum Tool {
    /// Verify the append-only log under DIR (like redis-check-aof): report the
    /// first bad record of each segment; exits 1 if any is damaged.
    Check {
        /// The data directory (the server's --dir).
        dir: PathBuf,
        /// Truncate each shard's log at its first bad record.
        #[arg(long)]
        fix: bool,
    },
}

fn main() {
    let args = Args::parse();
    if let Some(Tool::Check { dir, fix }) = &args.command {
        match ringcache::persistence::aof::check(dir, *fix) {
            Ok((lines, healthy)) => {
                lines.iter().for_each(|l| println!("{l}"));
                std::process::exit(if healthy { 0 } else { 1 });
            }
            Err(e) => {
                eprintln!("ringcache check: {e}");
                std::process::exit(2);
            }
        }
    }
    let level = match args.loglevel.as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    let online = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shards = args.shards.unwrap_or(online);
    if shards == 0 || shards > 1024 {
        eprintln!("ringcache: --shards must be between 1 and 1024");
        std::process::exit(2);
    }
    if args.databases == 0 || args.databases > 256 {
        eprintln!("ringcache: --databases must be between 1 and 256");
        std::process::exit(2);
    }
    let config = Config {
        port: args.port,
        bind: args.bind,
        dir: args.dir,
        shards,
        databases: args.databases,
        hz: args.hz.clamp(1, 500),
        maxclients: args.maxclients,
        loglevel: args.loglevel,
        appendonly: args.appendonly == "yes",
        appendfsync: Fsync::parse(&args.appendfsync).unwrap_or(Fsync::Everysec),
        aof_load_corrupt: if args.aof_load_corrupt == "skip-tail" {
            OnCorruption::SkipTail
        } else {
            OnCorruption::Stop
        },
        ..Config::default()
    };
    if let Err(e) = std::fs::create_dir_all(&config.dir) {
        eprintln!(
            "ringcache: cannot create data directory {}: {e}",
            config.dir.display()
        );
        std::process::exit(1);
    }
    if let Err(e) = ringcache::runtime::run(config) {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}
