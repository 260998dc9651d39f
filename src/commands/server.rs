//! Server commands: INFO, CONFIG, TIME and MODULE, run on the
//! connection's core and answered from every core's figures (INFO) or
//! settings (CONFIG).

use super::{subcommand, wrong_arity, Command, Session};
use crate::config::{self, redis_params};
use crate::node::Node;
use crate::protocol::Frame;
use crate::util::{glob_match, now_ms};
use bytes::Bytes;

/// The Redis version ringcache answers as: its command table is Redis 7.0's.
pub const REDIS_VERSION: &str = "7.0.15";

/// TIME: seconds and microseconds of the wall clock.
pub(super) fn time() -> Frame {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    Frame::Array(vec![
        Frame::bulk_str(&(us / 1_000_000).to_string()),
        Frame::bulk_str(&(us % 1_000_000).to_string()),
    ])
}

/// Per-core figures gathered for INFO.
struct CoreReport {
    blocked: u64,
    keys: Vec<(usize, usize)>,
    hits: u64,
    misses: u64,
    expired: u64,
    clients: usize,
    commands: u64,
    connections: u64,
    rejected: u64,
    net_in: u64,
    net_out: u64,
    acl_denied: [u64; 3],
    persist: super::saves::PersistReport,
    observed: super::observe::CoreFigures,
    memory: super::memory::ShardMemory,
    /// Client-side caching: this core's tracking clients, and its shard's
    /// keys, items and prefixes (`keyspace::tracking`).
    tracking_clients: usize,
    tracking: (usize, usize, usize),
}

pub(super) async fn info(node: &Node, args: &[Bytes]) -> Frame {
    let reports = node
        .run_on_all(|n: &Node| {
            // Measured first: it settles the keyspace's account (a borrow
            // of its own).
            let memory = super::memory::shard_memory(n);
            let sh = n.shard.borrow();
            let ks = &sh.keyspace;
            CoreReport {
                keys: (0..ks.databases())
                    .map(|db| (ks.len(db), ks.volatile_len(db)))
                    .collect(),
                hits: ks.stats.hits,
                misses: ks.stats.misses,
                expired: ks.stats.expired,
                clients: n.clients.borrow().connected.len(),
                blocked: n.stats.blocked_clients.get(),
                commands: n.stats.commands_processed.get(),
                connections: n.stats.connections_received.get(),
                rejected: n.stats.rejected_connections.get(),
                net_in: n.stats.net_input_bytes.get(),
                net_out: n.stats.net_output_bytes.get(),
                acl_denied: n.stats.acl_denied.each_ref().map(|c| c.get()),
                persist: super::saves::report(n),
                observed: super::observe::gather(n),
                memory,
                tracking_clients: crate::node::tracking::local_clients(n),
                tracking: ks.tracked.counts(),
            }
        })
        .await
        .unwrap_or_default();
    let sum = |f: fn(&CoreReport) -> u64| reports.iter().map(f).sum::<u64>();
    let wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_lowercase())
        .collect();
    let all = wanted.iter().any(|w| w == "all" || w == "everything");
    let show = |section: &str| {
        let default = !super::observe::NOT_IN_DEFAULT.contains(&section)
            && (wanted.is_empty() || wanted.iter().any(|w| w == "default"));
        default || all || wanted.iter().any(|w| w == section)
    };
    let cfg = node.config.borrow().clone();
    let now = now_ms();
    let mut out = String::new();
    let mut section = |name: &str, body: String| {
        if show(&name.to_lowercase()) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            out.push_str(&format!("# {name}\r\n{body}"));
        }
    };
    let uptime = now.saturating_sub(node.started_ms) / 1000;
    // Distinct names on any core: this core's view of them all.
    let pubsub_counts = node.pubsub.borrow().counts();
    section(
        "Server",
        format!(
            "redis_version:{REDIS_VERSION}\r\nringcache_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nshards:{}\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            crate::process::run_id(),
            cfg.port,
            now * 1000,
            uptime / 86400,
            cfg.hz,
            node.shard_count,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            cfg.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        ),
    );
    section(
        "Clients",
        format!(
            "connected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n",
            reports.iter().map(|r| r.clients).sum::<usize>(),
            cfg.maxclients,
            sum(|r| r.blocked),
            reports.iter().map(|r| r.tracking_clients).sum::<usize>(),
        ),
    );
    let memory: Vec<_> = reports.iter().map(|r| r.memory).collect();
    section("Memory", super::memory::info_section(&memory, &cfg));
    section(
        "Persistence",
        super::saves::info(&reports.iter().map(|r| &r.persist).collect::<Vec<_>>(), now),
    );
    section(
        "Stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nacl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\n",
            sum(|r| r.connections),
            sum(|r| r.commands),
            sum(|r| r.net_in),
            sum(|r| r.net_out),
            sum(|r| r.rejected),
            sum(|r| r.expired),
            sum(|r| r.memory.evicted),
            sum(|r| r.hits),
            sum(|r| r.misses),
            pubsub_counts[0],
            pubsub_counts[1],
            pubsub_counts[2],
            reports.iter().map(|r| r.tracking.0).sum::<usize>(),
            reports.iter().map(|r| r.tracking.1).sum::<usize>(),
            // Every shard holds every core's prefixes.
            reports.first().map_or(0, |r| r.tracking.2),
            sum(|r| r.acl_denied[crate::node::DENIED_AUTH]),
            sum(|r| r.acl_denied[crate::node::DENIED_CMD]),
            sum(|r| r.acl_denied[crate::node::DENIED_KEY]),
        ),
    );
    section(
        "Replication",
        "role:master\r\nconnected_slaves:0\r\n".into(),
    );
    let (user, sys) = crate::process::cpu_seconds();
    section(
        "CPU",
        format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"),
    );
    // No modules are loaded; tools read `cluster_enabled` to decide how
    // to connect.
    section("Modules", String::new());
    let observed: Vec<_> = reports.iter().map(|r| &r.observed).collect();
    section("Commandstats", super::observe::commandstats(&observed));
    section("Errorstats", super::observe::errorstats(&observed));
    section("Latencystats", super::observe::latencystats(&observed));
    section("Cluster", "cluster_enabled:0\r\n".into());
    let mut keyspace = String::new();
    for db in 0..cfg.databases {
        let (keys, expires) = reports
            .iter()
            .filter_map(|r| r.keys.get(db))
            .fold((0, 0), |(k, e), &(k2, e2)| (k + k2, e + e2));
        if keys > 0 {
            keyspace.push_str(&format!(
                "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"
            ));
        }
    }
    section("Keyspace", keyspace);
    section("Shards", super::observe::shards(&observed));
    Frame::Verbatim(out)
}

pub(super) async fn config_cmd(
    node: &Node,
    session: &mut Session,
    cmd: &Command,
    args: &[Bytes],
) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match sub.as_str() {
        "get" => {
            let cfg = node.config.borrow();
            let mut pairs = Vec::new();
            for p in config::PARAMS {
                if args[2..]
                    .iter()
                    .any(|pat| glob_match(pat, p.name.as_bytes(), true))
                {
                    pairs.push((Frame::bulk_str(p.name), Frame::bulk((p.get)(&cfg))));
                }
            }
            // Redis's aliases of settings ringcache honours, and Redis's
            // settings ringcache does not use, as they were set.
            for p in redis_params::all() {
                let wanted = args[2..]
                    .iter()
                    .any(|pat| glob_match(pat, p.name.as_bytes(), true));
                if !wanted {
                    continue;
                }
                if config::param(p.name).is_some_and(|h| h.name == p.name) {
                    continue; // listed above
                }
                let value = cfg.redis_value(p).unwrap_or_else(|| p.default.to_string());
                pairs.push((Frame::bulk_str(p.name), Frame::bulk(value)));
            }
            Frame::Map(pairs)
        }
        "set" => {
            if !(args.len() - 2).is_multiple_of(2) {
                return wrong_arity("config|set");
            }
            // Validate every pair on a copy first: all or nothing, like Redis.
            let mut next = node.config.borrow().clone();
            for pair in args[2..].chunks_exact(2) {
                let name = String::from_utf8_lossy(&pair[0]).to_lowercase();
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                let Some(param) = config::param(&name) else {
                    if let Err(e) = set_unused(&mut next, session, &name, &value) {
                        return e;
                    }
                    continue;
                };
                if config::PROTECTED.contains(&param.name)
                    && !allowed(&next.enable_protected_configs, session)
                {
                    return config_set_failed(&name, "can't set protected config");
                }
                let Some(set) = param.set else {
                    return config_set_failed(&name, "can't set immutable config");
                };
                if let Err(why) = set(&mut next, &value) {
                    return config_set_failed(&name, &why);
                }
            }
            // Changed TLS settings take effect together, once all are set,
            // as Redis applies them: a new certificate with its new key.
            if next.tls != node.config.borrow().tls && next.tls.port != 0 {
                if let Err(why) = config::tls::install(&next.tls) {
                    tracing::warn!("CONFIG SET: cannot use the new TLS settings: {why}");
                    let name = args[2..]
                        .iter()
                        .step_by(2)
                        .map(|n| String::from_utf8_lossy(n).to_lowercase())
                        .find(|n| n.starts_with("tls-"))
                        .unwrap_or_default();
                    return config_set_failed(&name, config::tls::UPDATE_FAILED);
                }
            }
            let level =
                (next.loglevel != node.config.borrow().loglevel).then(|| next.loglevel.clone());
            // The default user's password goes the ACL commands' way.
            let pass = (next.requirepass != node.config.borrow().requirepass)
                .then(|| next.requirepass.clone());
            node.run_on_all(move |n: &Node| n.apply_config(next.clone()))
                .await;
            if let Some(pass) = pass {
                super::acl::set_default_password(node, session, pass).await;
            }
            if let Some(level) = level {
                crate::logging::set_level(&level);
            }
            Frame::OK
        }
        "resetstat" => {
            node.run_on_all(|n: &Node| {
                n.shard.borrow_mut().keyspace.stats = Default::default();
                n.stats.commands_processed.set(0);
                n.stats.connections_received.set(0);
                n.stats.rejected_connections.set(0);
                n.stats.net_input_bytes.set(0);
                n.stats.net_output_bytes.set(0);
                n.stats.acl_denied.iter().for_each(|c| c.set(0));
                super::observe::reset(n);
            })
            .await;
            Frame::OK
        }
        // Redis writes the file it started from, synchronously, as here.
        "rewrite" => {
            let cfg = node.config.borrow().clone();
            let Some(path) = cfg.config_file.clone() else {
                return Frame::error("ERR The server is running without a config file");
            };
            let written = match path.extension().is_some_and(|e| e == "conf") {
                true => config::redis_conf::rewrite(&cfg, &path),
                false => config::profile::rewrite(&cfg, &path),
            };
            match written {
                Ok(()) => Frame::OK,
                Err(e) => Frame::error(format!("ERR Rewriting config file: {e}")),
            }
        }
        "help" => super::observe::help(CONFIG_HELP),
        _ => Frame::error(format!(
            "ERR CONFIG {} is not supported by ringcache",
            sub.to_uppercase()
        )),
    }
}

/// Redis's reply to a CONFIG SET that failed on setting `name`.
fn config_set_failed(name: &str, why: &str) -> Frame {
    Frame::error(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

/// CONFIG SET of a Redis setting ringcache does not use: checked as Redis
/// checks it, kept, and reported by CONFIG GET.
fn set_unused(
    next: &mut config::Config,
    session: &Session,
    name: &str,
    value: &str,
) -> Result<(), Frame> {
    let failed = |why: &str| config_set_failed(name, why);
    let Some(p) = redis_params::find(name) else {
        return Err(Frame::error(format!(
            "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
        )));
    };
    match p.change {
        redis_params::Change::Immutable => return Err(failed("can't set immutable config")),
        redis_params::Change::Protected if !allowed(&next.enable_protected_configs, session) => {
            return Err(failed("can't set protected config"))
        }
        _ => {}
    }
    let value = redis_params::check(p, value).map_err(|why| failed(&why))?;
    redis_params::warn_unused([p.name]);
    next.accepted.insert(redis_params::canonical(p.name), value);
    Ok(())
}

/// Whether an `enable-*` setting (`no`, `yes`, or `local` for a client on
/// loopback) lets this client act.
pub(super) fn allowed(setting: &str, session: &Session) -> bool {
    match setting {
        "yes" => true,
        "local" => crate::util::is_loopback(&session.info.borrow().addr),
        _ => false,
    }
}

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

const MODULE_HELP: &[&str] = &[
    "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
    "HELP",
    "    Prints this help.",
];

/// MODULE: ringcache loads no modules. LIST is empty; LOAD and UNLOAD fail
/// as Redis's do, behind `enable-module-command` as in Redis.
pub(super) fn module(node: &Node, session: &Session, cmd: &Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    let allowed = || allowed(&node.config.borrow().enable_module_command, session);
    match sub.as_str() {
        "help" => super::observe::help(MODULE_HELP),
        "list" => Frame::Array(Vec::new()),
        _ if !allowed() => Frame::error("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."),
        "unload" => Frame::error("ERR Error unloading module: no such module with that name"),
        _ => Frame::error("ERR Error loading the extension. Please check the server logs."),
    }
}
