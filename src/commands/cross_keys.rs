//! Commands that run on the connection's own core: connection state (PING,
//! SELECT, HELLO, CLIENT), introspection (COMMAND, INFO, CONFIG, TIME), and the
//! key commands that coordinate several shards (MSETNX, RENAME, SCAN,
//! RANDOMKEY).

use super::tx::{self, HolderPart, HolderStep};
use super::{
    int_arg, is, not_integer, subcommand, syntax_error, table, wrong_arity, Command, Session, Spec,
    Transaction,
};
use crate::config;
use crate::keyspace::Value;
use crate::node::Node;
use crate::persistence::rewrite;
use crate::protocol::{Frame, Proto};
use crate::router;
use crate::shard::tx::{Effects, Follower, Guard};
use crate::shard::Access;
use crate::util::{glob_match, now_ms};
use bytes::Bytes;
use futures_channel::oneshot;

/// The Redis version ringcache answers as: its command table is Redis 7.0's.
pub const REDIS_VERSION: &str = "7.0.15";

pub async fn execute(node: &Node, session: &mut Session, cmd: &Command, args: &[Bytes]) -> Frame {
    match cmd.name {
        "ping" => ping(session, args),
        "echo" => Frame::Bulk(args[1].clone()),
        "quit" => {
            session.closing = true;
            Frame::OK
        }
        "select" => select(node, session, args),
        "hello" => hello(node, session, args),
        "auth" => super::acl::auth(node, session, args),
        "acl" => match subcommand(cmd, args) {
            Ok(sub) => super::acl::acl(node, session, &sub, args),
            Err(e) => e,
        },
        "client" => client(node, session, cmd, args).await,
        "command" => command(cmd, args),
        "info" => info(node, args).await,
        "object" => super::memory::object(node, session.db, cmd, args).await,
        "memory" => super::memory::memory(node, session.db, cmd, args).await,
        "config" => config_cmd(node, session, cmd, args).await,
        "slowlog" | "latency" => match subcommand(cmd, args) {
            Ok(sub) if cmd.name == "slowlog" => super::observe::slowlog(node, &sub, args).await,
            Ok(sub) => super::observe::latency(node, &sub, args).await,
            Err(e) => e,
        },
        "time" => {
            let us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0);
            Frame::Array(vec![
                Frame::bulk_str(&(us / 1_000_000).to_string()),
                Frame::bulk_str(&(us % 1_000_000).to_string()),
            ])
        }
        "multi" if session.multi.is_some() => Frame::error("ERR MULTI calls can not be nested"),
        "multi" => {
            session.multi = Some(Transaction::default());
            Frame::OK
        }
        "discard" => match session.multi.take() {
            Some(_) => Frame::OK,
            None => Frame::error("ERR DISCARD without MULTI"),
        },
        "msetnx" => msetnx(node, session.db, args).await,
        "rename" => rename(node, session.db, args, false).await,
        "renamenx" => rename(node, session.db, args, true).await,
        "scan" => scan(node, session.db, args).await,
        "randomkey" => randomkey(node, session.db).await,
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "bzpopmin" | "bzpopmax" | "lmpop"
        | "blmpop" | "zmpop" | "bzmpop" => super::blocking::execute(node, session, cmd, args).await,
        "save" | "bgsave" | "bgrewriteaof" | "lastsave" | "shutdown" => {
            super::persistence::execute(node, cmd.name, args).await
        }
        _ => super::cross::execute(node, session.db, cmd, args).await,
    }
}

fn ping(session: &Session, args: &[Bytes]) -> Frame {
    match args.len() {
        1 if session.proto == Proto::Resp3 => Frame::simple("PONG"),
        1 => Frame::simple("PONG"),
        2 => Frame::Bulk(args[1].clone()),
        _ => wrong_arity("ping"),
    }
}

fn select(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let Some(db) = crate::util::parse_i64(&args[1]) else {
        return not_integer();
    };
    if db < 0 || db as usize >= node.config.borrow().databases {
        return Frame::error("ERR DB index is out of range");
    }
    session.select(db as usize);
    Frame::OK
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let mut proto = session.proto;
    if let Some(v) = args.get(1) {
        proto = match crate::util::parse_i64(v) {
            Some(2) => Proto::Resp2,
            Some(3) => Proto::Resp3,
            Some(_) => return Frame::error("NOPROTO unsupported protocol version"),
            None => return Frame::error("ERR Protocol version is not an integer or out of range"),
        };
    }
    let (mut name, mut credentials) = (None, None);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "auth") && more >= 2 {
            credentials = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Frame::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if let Some((user, password)) = credentials {
        if let Err(e) = super::acl::authenticate(node, session, user, password) {
            return e;
        }
    }
    if super::acl::needs_auth(node, session) {
        return Frame::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = name {
        if let Err(e) = valid_client_name(name) {
            return e;
        }
        session.info.borrow_mut().name = String::from_utf8_lossy(name).into_owned();
    }
    session.set_proto(proto);
    let p = if proto == Proto::Resp3 { 3 } else { 2 };
    Frame::Map(vec![
        (Frame::bulk_str("server"), Frame::bulk_str("redis")),
        (Frame::bulk_str("version"), Frame::bulk_str(REDIS_VERSION)),
        (Frame::bulk_str("proto"), Frame::Integer(p)),
        (Frame::bulk_str("id"), Frame::Integer(session.id as i64)),
        (Frame::bulk_str("mode"), Frame::bulk_str("standalone")),
        (Frame::bulk_str("role"), Frame::bulk_str("master")),
        (Frame::bulk_str("modules"), Frame::Array(Vec::new())),
    ])
}

fn valid_client_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err(Frame::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

async fn client(node: &Node, session: &mut Session, cmd: &Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match sub.as_str() {
        "id" => Frame::Integer(session.id as i64),
        "getname" => {
            let name = session.info.borrow().name.clone();
            if name.is_empty() {
                Frame::Null
            } else {
                Frame::bulk(name)
            }
        }
        "setname" => match valid_client_name(&args[2]) {
            Ok(()) => {
                session.info.borrow_mut().name = String::from_utf8_lossy(&args[2]).into_owned();
                Frame::OK
            }
            Err(e) => e,
        },
        "setinfo" => {
            let value = String::from_utf8_lossy(&args[3]).into_owned();
            if value.contains(|c: char| !('!'..='~').contains(&c)) {
                return Frame::error(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&args[2]).to_lowercase()
                ));
            }
            let mut info = session.info.borrow_mut();
            if is(&args[2], "lib-name") {
                info.lib_name = value;
            } else if is(&args[2], "lib-ver") {
                info.lib_ver = value;
            } else {
                return Frame::error(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&args[2])
                ));
            }
            Frame::OK
        }
        "info" => Frame::Verbatim(format!("{}\n", session.info.borrow().line(now_ms()))),
        "list" => {
            let now = now_ms();
            let lines = node
                .run_on_all(move |n: &Node| {
                    n.clients
                        .borrow()
                        .connected
                        .values()
                        .map(|c| c.borrow().line(now))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            let mut text: String = lines.into_iter().flatten().map(|l| l + "\n").collect();
            if text.is_empty() {
                text.push('\n');
            }
            Frame::Verbatim(text)
        }
        "no-evict" | "no-touch" => {
            if is(&args[2], "on") || is(&args[2], "off") {
                Frame::OK
            } else {
                syntax_error()
            }
        }
        "help" => Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "    Set client library name or version.",
                "INFO",
                "    Return information about the current client connection.",
                "LIST",
                "    Return information about client connections.",
            ]
            .iter()
            .map(|s| Frame::simple(*s))
            .collect(),
        ),
        _ => Frame::error(format!(
            "ERR CLIENT {} is not supported by ringcache",
            sub.to_uppercase()
        )),
    }
}

/// One entry of COMMAND / COMMAND INFO, in Redis 7's layout.
fn command_info(name: &str, spec: &Spec, subs: &[(String, Spec)]) -> Frame {
    let statuses = |v: &[String]| Frame::Set(v.iter().map(|s| Frame::simple(s.clone())).collect());
    Frame::Array(vec![
        Frame::bulk_str(name),
        Frame::Integer(spec.arity),
        statuses(&spec.flags),
        Frame::Integer(spec.first_key),
        Frame::Integer(spec.last_key),
        Frame::Integer(spec.step),
        statuses(&spec.acl_categories),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(
            subs.iter()
                .map(|(sub, s)| command_info(&format!("{name}|{sub}"), s, &[]))
                .collect(),
        ),
    ])
}

fn command(cmd: &Command, args: &[Bytes]) -> Frame {
    let info = |c: &Command| command_info(c.name, &c.spec, &c.subcommands);
    if args.len() == 1 {
        return Frame::Array(table().iter().map(info).collect());
    }
    let sub = match subcommand(cmd, args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match sub.as_str() {
        "count" => Frame::Integer(table().len() as i64),
        "list" => Frame::Array(table().iter().map(|c| Frame::bulk_str(c.name)).collect()),
        "info" if args.len() == 2 => Frame::Array(table().iter().map(info).collect()),
        "info" => Frame::Array(
            args[2..]
                .iter()
                .map(|n| table().get(n).map_or(Frame::Null, info))
                .collect(),
        ),
        "docs" => {
            let docs = |c: &Command| {
                let group = c
                    .spec
                    .acl_categories
                    .iter()
                    .find(|g| {
                        !matches!(
                            g.as_str(),
                            "@read" | "@write" | "@fast" | "@slow" | "@dangerous"
                        )
                    })
                    .map_or("generic", |g| g.trim_start_matches('@'));
                (
                    Frame::bulk_str(c.name),
                    Frame::Map(vec![
                        (Frame::bulk_str("summary"), Frame::bulk_str("")),
                        (Frame::bulk_str("since"), Frame::bulk_str("1.0.0")),
                        (Frame::bulk_str("group"), Frame::bulk_str(group)),
                    ]),
                )
            };
            let wanted: Vec<&Command> = if args.len() == 2 {
                table().iter().collect()
            } else {
                args[2..].iter().filter_map(|n| table().get(n)).collect()
            };
            Frame::Map(wanted.into_iter().map(docs).collect())
        }
        "getkeys" => Frame::error("ERR COMMAND GETKEYS is not supported by ringcache"),
        "help" => Frame::Array(
            [
                "COMMAND [<subcommand>]",
                "COUNT",
                "INFO [<command-name> ...]",
                "DOCS [<command-name> ...]",
                "LIST",
            ]
            .iter()
            .map(|s| Frame::simple(*s))
            .collect(),
        ),
        _ => Frame::error(format!(
            "ERR COMMAND {} is not supported by ringcache",
            sub.to_uppercase()
        )),
    }
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
    persist: super::persistence::PersistReport,
    observed: super::observe::CoreFigures,
    memory: super::memory::ShardMemory,
}

async fn info(node: &Node, args: &[Bytes]) -> Frame {
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
                persist: super::persistence::report(n),
                observed: super::observe::gather(n),
                memory,
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
    section(
        "Server",
        format!(
            "redis_version:{REDIS_VERSION}\r\nringcache_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:io_uring\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\nshards:{}\r\nexecutable:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            crate::process::run_id(),
            cfg.port,
            now * 1000,
            uptime / 86400,
            cfg.hz,
            node.shards,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        ),
    );
    section(
        "Clients",
        format!(
            "connected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n",
            reports.iter().map(|r| r.clients).sum::<usize>(),
            cfg.maxclients,
            sum(|r| r.blocked),
        ),
    );
    let memory: Vec<_> = reports.iter().map(|r| r.memory).collect();
    section("Memory", super::memory::info_section(&memory, &cfg));
    section(
        "Persistence",
        super::persistence::info(&reports.iter().map(|r| &r.persist).collect::<Vec<_>>(), now),
    );
    section(
        "Stats",
        format!(
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\nacl_access_denied_auth:{}\r\nacl_access_denied_cmd:{}\r\nacl_access_denied_key:{}\r\n",
            sum(|r| r.connections),
            sum(|r| r.commands),
            sum(|r| r.net_in),
            sum(|r| r.net_out),
            sum(|r| r.rejected),
            sum(|r| r.expired),
            sum(|r| r.memory.evicted),
            sum(|r| r.hits),
            sum(|r| r.misses),
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
    let observed: Vec<_> = reports.iter().map(|r| &r.observed).collect();
    section("Commandstats", super::observe::commandstats(&observed));
    section("Errorstats", super::observe::errorstats(&observed));
    section("Latencystats", super::observe::latencystats(&observed));
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

async fn config_cmd(node: &Node, session: &Session, cmd: &Command, args: &[Bytes]) -> Frame {
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
                    return Frame::error(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ));
                };
                if config::PROTECTED.contains(&param.name) && !protected_allowed(&next, session) {
                    return Frame::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set protected config"
                    ));
                }
                let Some(set) = param.set else {
                    return Frame::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                    ));
                };
                if let Err(why) = set(&mut next, &value) {
                    return Frame::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
                    ));
                }
            }
            let level =
                (next.loglevel != node.config.borrow().loglevel).then(|| next.loglevel.clone());
            node.run_on_all(move |n: &Node| n.apply_config(next.clone()))
                .await;
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
        "rewrite" => Frame::error("ERR The server is running without a config file"),
        _ => Frame::error(format!(
            "ERR CONFIG {} is not supported by ringcache",
            sub.to_uppercase()
        )),
    }
}

/// Whether `enable-protected-configs` lets this client change a protected
/// setting: `yes`, or `local` for a client on loopback.
fn protected_allowed(cfg: &config::Config, session: &Session) -> bool {
    match cfg.enable_protected_configs.as_str() {
        "yes" => true,
        "local" => crate::util::is_loopback(&session.info.borrow().addr),
        _ => false,
    }
}

/// Groups keys (every `stride`-th argument from `args[1]`) by owning shard.
fn group_by_shard(args: &[Bytes], stride: usize, shards: usize) -> Vec<(usize, Vec<Bytes>)> {
    let mut groups: Vec<Vec<Bytes>> = vec![Vec::new(); shards];
    for chunk in args[1..].chunks_exact(stride) {
        groups[router::shard_of(&chunk[0], shards)].extend_from_slice(chunk);
    }
    groups
        .into_iter()
        .enumerate()
        .filter(|(_, g)| !g.is_empty())
        .collect()
}

/// MSETNX: all keys are set, or none. On one shard this is one atomic step.
/// Across shards it is one cross-shard write (`commands::tx`): the lowest
/// shard holds it and sets its keys if all are absent, then each other shard
/// in order does the same; if one finds a key present (written meanwhile by
/// another command) every part done is undone. The lowest shard decides
/// races between MSETNXs sharing keys: a loser fails there before changing
/// anything, so exactly one wins, as in Redis. A reader may see the partial
/// state in that narrow window; a crash never leaves it.
async fn msetnx(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    if !(args.len() - 1).is_multiple_of(2) {
        return wrong_arity("msetnx");
    }
    // `denyoom` in Redis.
    let access = Access::Grow;
    let mut groups = group_by_shard(args, 2, node.shards);
    let set = |kv: &[Bytes]| -> Effects {
        kv.chunks_exact(2)
            .map(|p| {
                (
                    db,
                    vec![Bytes::from_static(b"SET"), p[0].clone(), p[1].clone()],
                )
            })
            .collect()
    };
    // Undone: the keys that still hold MSETNX's values.
    let del = |kv: &[Bytes]| -> Effects {
        kv.chunks_exact(2)
            .map(|p| {
                let op = Bytes::from_static(tx::DEL_IF_HOLDS);
                (db, vec![op, p[0].clone(), p[1].clone()])
            })
            .collect()
    };
    let keys = |kv: &[Bytes]| -> Vec<Bytes> { kv.chunks_exact(2).map(|p| p[0].clone()).collect() };
    let (holder, kv) = groups.remove(0);
    let involved: Vec<usize> = std::iter::once(holder)
        .chain(groups.iter().map(|(s, _)| *s))
        .collect();
    let followers: Vec<Follower> = groups
        .iter()
        .map(|(shard, kv)| Follower {
            shard: *shard,
            guard: Guard::Absent(keys(kv)),
            effects: set(kv),
            undo: del(kv),
        })
        .collect();
    let undo = del(&kv);
    let step: HolderStep = Box::new(move |sh, now| {
        if kv
            .chunks_exact(2)
            .any(|p| sh.keyspace.contains(db, &p[0], now))
        {
            return Err(Frame::Integer(0));
        }
        for p in kv.chunks_exact(2) {
            sh.put(db, &p[0], Value::Str(Bytes::copy_from_slice(&p[1])), None);
        }
        Ok(HolderPart {
            reply: Frame::Integer(1),
            undo,
            followers,
        })
    });
    if involved.len() == 1 {
        // One shard: one step there, with the checks of any write.
        let done = node
            .run_on(holder, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                let position = sh.log_position();
                let now = now_ms();
                let reply = match sh.admit(access, now) {
                    Err(refused) => refused,
                    Ok(()) => step(&mut sh, now).map_or_else(|e| e, |part| part.reply),
                };
                (reply, sh.durable(position))
            })
            .await;
        return shown_when_safe(done).await;
    }
    tx::run(node, db, holder, involved, access, Frame::Integer(0), step).await
}

/// A shard step's reply, once what the shard logged may be shown (durable
/// under `always`, in the kernel otherwise: `Shard::durable`).
async fn shown_when_safe(done: Option<(Frame, Option<oneshot::Receiver<()>>)>) -> Frame {
    let Some((reply, durable)) = done else {
        return Frame::error("ERR shard unavailable");
    };
    if let Some(d) = durable {
        let _ = d.await;
    }
    reply
}

/// RENAME / RENAMENX src dst. When both keys live on one shard this is one
/// step there; otherwise the value (with its TTL) moves from the source shard
/// to the destination shard.
async fn rename(node: &Node, db: usize, args: &[Bytes], nx: bool) -> Frame {
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (from, to) = (
        router::shard_of(&src, node.shards),
        router::shard_of(&dst, node.shards),
    );
    let no_such_key = || Frame::error("ERR no such key");
    let done = if nx { Frame::Integer(1) } else { Frame::OK };
    if from == to {
        let renamed = node
            .run_on(from, move |n: &Node| {
                let now = now_ms();
                let mut sh = n.shard.borrow_mut();
                let position = sh.log_position();
                let reply = (|| {
                    if let Err(refused) = sh.admit(Access::Write, now) {
                        return refused;
                    }
                    if !sh.keyspace.contains(db, &src, now) {
                        return no_such_key();
                    }
                    if src == dst {
                        return if nx { Frame::Integer(0) } else { Frame::OK };
                    }
                    if nx && sh.keyspace.contains(db, &dst, now) {
                        return Frame::Integer(0);
                    }
                    let (value, at) = sh.take(db, &src, now).expect("looked up above");
                    sh.put(db, &dst, value, at);
                    done
                })();
                (reply, sh.durable(position))
            })
            .await;
        return shown_when_safe(renamed).await;
    }
    if nx {
        let d = dst.clone();
        // A write is refused (MISCONF) before anything is looked at.
        let exists = node
            .run_on(to, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                let now = now_ms();
                sh.admit(Access::Write, now)
                    .map(|()| sh.keyspace.contains(db, &d, now))
            })
            .await;
        let exists = match exists {
            Some(Err(refused)) => return refused,
            Some(Ok(e)) => Some(e),
            None => None,
        };
        if exists != Some(false) {
            let s = src.clone();
            let src_exists = node
                .run_on(from, move |n: &Node| {
                    n.shard.borrow_mut().keyspace.contains(db, &s, now_ms())
                })
                .await;
            return if src_exists == Some(true) {
                Frame::Integer(0)
            } else {
                no_such_key()
            };
        }
    }
    // One cross-shard write (`commands::tx`): the source shard takes the
    // value (and TTL), the destination puts it; with NX a key created there
    // in the meantime wins and the value goes back where it came from.
    let step: HolderStep = Box::new(move |sh, now| {
        let Some((value, at)) = sh.take(db, &src, now) else {
            return Err(no_such_key());
        };
        let rebuild = |key: &Bytes| -> Effects {
            std::iter::once(vec![Bytes::from_static(b"DEL"), key.clone()])
                .chain(rewrite::commands_for(key, &value, at))
                .map(|argv| (db, argv))
                .collect()
        };
        Ok(HolderPart {
            reply: done,
            undo: rebuild(&src),
            followers: vec![Follower {
                shard: to,
                guard: if nx {
                    Guard::Absent(vec![dst.clone()])
                } else {
                    Guard::Always
                },
                effects: rebuild(&dst),
                undo: Vec::new(),
            }],
        })
    });
    // RENAME and RENAMENX are `write` without `denyoom` in Redis.
    tx::run(
        node,
        db,
        from,
        vec![from, to],
        Access::Write,
        Frame::Integer(0),
        step,
    )
    .await
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor is the
/// next hash slot to visit: slots are walked in order, shard after shard, so a
/// key that exists for the whole scan is returned exactly once, whatever the
/// tables do meanwhile.
async fn scan(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Frame::error("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut type_name) = (None, 10usize, None);
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return syntax_error();
        };
        if is(&args[i], "match") {
            pattern = Some(value.clone());
        } else if is(&args[i], "count") {
            match int_arg(value) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return syntax_error(),
                Err(e) => return e,
            }
        } else if is(&args[i], "type") {
            type_name = Some(String::from_utf8_lossy(value).to_lowercase());
        } else {
            return syntax_error();
        }
        i += 2;
    }
    if cursor >= router::SLOTS as u64 {
        return Frame::Array(vec![Frame::bulk_str("0"), Frame::Array(Vec::new())]);
    }
    // Walk shard after shard until COUNT keys were visited (COUNT is work,
    // as in Redis: with MATCH, fewer may be returned) or the slots ran out.
    let (mut cursor, mut budget, mut keys) = (cursor as usize, count, Vec::new());
    while cursor < router::SLOTS && budget > 0 {
        let shard = router::shard_of_slot(cursor as u16, node.shards);
        let (pattern, type_name) = (pattern.clone(), type_name.clone());
        let step = node
            .run_on(shard, move |n: &Node| {
                let (mut found, mut visited) = (Vec::new(), 0);
                let next = n
                    .shard
                    .borrow_mut()
                    .keyspace
                    .scan(db, cursor, budget, now_ms(), |e| {
                        visited += 1;
                        let type_ok = type_name.as_deref().is_none_or(|t| e.type_name() == t);
                        let match_ok = pattern
                            .as_deref()
                            .is_none_or(|p| glob_match(p, e.key(), false));
                        if type_ok && match_ok {
                            found.push(Frame::bulk_copy(e.key()));
                        }
                    });
                (next, found, visited)
            })
            .await;
        let Some((next, found, visited)) = step else {
            return Frame::error("ERR shard unavailable");
        };
        cursor = next;
        budget = budget.saturating_sub(visited);
        keys.extend(found);
    }
    let next = if cursor >= router::SLOTS { 0 } else { cursor };
    Frame::Array(vec![Frame::bulk_str(&next.to_string()), Frame::Array(keys)])
}

async fn randomkey(node: &Node, db: usize) -> Frame {
    let start = crate::util::fastrand_u64() as usize % node.shards;
    for i in 0..node.shards {
        let shard = (start + i) % node.shards;
        let key = node
            .run_on(shard, move |n: &Node| {
                n.shard
                    .borrow_mut()
                    .keyspace
                    .random_key(db, now_ms(), crate::util::fastrand_u64)
            })
            .await
            .flatten();
        if let Some(k) = key {
            return Frame::Bulk(k);
        }
    }
    Frame::Null
}
