//! The command table: every command ringcache serves, with Redis 7.0's own
//! metadata (arity, flags, key positions and key specs, ACL categories: the
//! embedded `redis-7.0-command-info.jsonl`, redis-server 7.0.15's own COMMAND
//! output) and how it is routed. The handlers live in one
//! file per family: `strings`, `keys`, `lists`, `hashes`, `sets`, `zsets`,
//! `bitmaps`, `hyperloglog`, `geo`, `dump` (run on the shard that owns the key);
//! `connection` (PING, SELECT, HELLO, CLIENT), `meta` (COMMAND), `server`
//! (INFO, CONFIG), `cross_keys` (MSETNX, RENAME, SCAN, RANDOMKEY), `cross`
//! (collection commands whose keys may live on several shards; BITOP,
//! PFCOUNT, PFMERGE gather through it too), `sort` (SORT, SORT_RO, whose
//! patterns read keys on any shard), `blocking`, `saves` (SAVE,
//! SHUTDOWN, ...), `memory`, `observe`, `acl` (AUTH, ACL, and the permission
//! check before every command), `pubsub`, `scripting` (EVAL, SCRIPT; the Lua
//! environment in `lua`), `functions` (FUNCTION, FCALL), all run on the connection's core through
//! `front`; `dispatch` runs a client's pipelined batch across the shards.

pub mod acl;
mod bitmaps;
mod blocking;
mod client_control;
mod connection;
mod cross;
mod cross_keys;
mod debug;
pub mod dispatch;
mod dump;
mod exec;
mod front;
mod functions;
mod geo;
mod geohash;
mod hashes;
mod hyperloglog;
pub mod key_specs;
mod keys;
mod lcs;
mod lists;
mod lolwut;
mod lua;
mod lua_msgpack;
mod lua_struct;
mod memory;
mod meta;
mod migrate;
mod monitor;
mod observe;
mod pubsub;
mod qsort;
mod replication;
mod saves;
mod scripting;
pub mod server;
mod session;
mod sets;
mod sort;
mod stream_reads;
mod streams;
mod strings;
mod tracking;
pub mod tx;
mod watch;
mod zsets;

pub use front::FrontCmd;
pub use session::{Session, Transaction};

use crate::protocol::Frame;
use crate::shard::{Access, ShardFn};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::OnceLock;

/// How a command's reply is assembled from the shards' parts.
#[derive(Clone, Copy, Debug)]
pub enum Merge {
    /// Integers added up (DEL, EXISTS, DBSIZE).
    Sum,
    /// `OK` if every part said OK (MSET, FLUSHDB).
    AllOk,
    /// Per-key replies put back in the client's key order (MGET).
    PerKey,
    /// Arrays joined in shard order (KEYS).
    Concat,
}

/// Where a command runs.
#[derive(Clone, Copy)]
pub enum Route {
    /// On the connection's own core, with the connection's state, through
    /// the handler named (`front`): connection and server commands, and the
    /// ones that coordinate several shards.
    Front(FrontCmd),
    /// On the shard that owns its (first) key.
    Key(ShardFn),
    /// Split by key across the owning shards; `stride` arguments per key.
    Keys {
        run: ShardFn,
        stride: usize,
        merge: Merge,
    },
    /// On every shard.
    All { run: ShardFn, merge: Merge },
}

/// Redis's metadata for a command, as COMMAND INFO reports it.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub arity: i64,
    pub flags: Vec<String>,
    pub first_key: i64,
    pub last_key: i64,
    pub step: i64,
    pub acl_categories: Vec<String>,
    pub tips: Vec<String>,
    /// Where its keys are (`key_specs`): ACL and COMMAND GETKEYS read them.
    pub key_specs: Vec<key_specs::KeySpec>,
}

pub struct Command {
    pub name: &'static str,
    /// Its index in the table (ROUTES order): where its statistics live.
    pub id: usize,
    pub spec: Spec,
    /// Changes data (Redis's `write` flag): refused while the log is failing.
    pub write: bool,
    /// What it may do to the data: `write`, and `denyoom` (may grow memory).
    pub access: Access,
    /// Served while the data is loading (Redis's `loading` flag).
    pub ok_loading: bool,
    pub route: Route,
    /// Subcommands (`client|list` → "list"), with their metadata.
    pub subcommands: Vec<(String, Spec)>,
}

impl Command {
    /// Checks the argument count against the arity (negative: at least).
    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_ok(self.spec.arity, argc)
    }

    /// What this call may do to the data: a container's (XGROUP CREATE,
    /// OBJECT ENCODING) is its subcommand's, whose flags say `write`.
    pub fn access_for(&self, args: &[Bytes]) -> Access {
        match args.get(1).and_then(|sub| self.subcommand(sub)) {
            Some(spec) => access_of(spec),
            _ => self.access,
        }
    }

    /// Whether ringcache serves subcommand `sub` (lowercase) of this
    /// command: every one in Redis's table but those in `NOT_SERVED`.
    pub fn serves(&self, sub: &str) -> bool {
        !NOT_SERVED
            .iter()
            .any(|full| full.split_once('|') == Some((self.name, sub)))
    }

    /// The subcommands ringcache serves, with their metadata: what COMMAND
    /// INFO, DOCS and LIST show.
    pub fn served_subcommands(&self) -> impl Iterator<Item = &(String, Spec)> {
        self.subcommands.iter().filter(|(sub, _)| self.serves(sub))
    }

    pub fn subcommand(&self, name: &[u8]) -> Option<&Spec> {
        self.subcommand_index(name).map(|i| &self.subcommands[i].1)
    }

    /// The index of subcommand `name` in `subcommands`.
    pub fn subcommand_index(&self, name: &[u8]) -> Option<usize> {
        self.subcommands
            .iter()
            .position(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The full name of subcommand `sub`: `config|get`.
    pub fn full_name_of(&self, sub: &str) -> String {
        format!("{}|{sub}", self.name)
    }

    /// The name statistics show: `get`, or `config|get` for a subcommand.
    pub fn full_name(&self, sub: Option<usize>) -> String {
        match sub.and_then(|i| self.subcommands.get(i)) {
            Some((s, _)) => format!("{}|{s}", self.name),
            None => self.name.to_string(),
        }
    }
}

/// What a command with these flags may do to the data: `write`, and
/// `denyoom` (may grow memory).
fn access_of(spec: &Spec) -> Access {
    let has = |flag: &str| spec.flags.iter().any(|f| f == flag);
    match (has("write"), has("denyoom")) {
        (false, _) => Access::Read,
        (true, false) => Access::Write,
        (true, true) => Access::Grow,
    }
}

pub fn arity_ok(arity: i64, argc: usize) -> bool {
    let argc = argc as i64;
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

use FrontCmd as F;
use Merge::*;
use Route::*;

/// Every command served, and its route.
const ROUTES: &[(&str, Route)] = &[
    // connection and server
    ("ping", Front(F::Ping)),
    ("echo", Front(F::Echo)),
    ("quit", Front(F::Quit)),
    ("select", Front(F::Select)),
    ("hello", Front(F::Hello)),
    ("auth", Front(F::Auth)),
    ("acl", Front(F::Acl)),
    ("client", Front(F::Client)),
    ("command", Front(F::Command)),
    ("info", Front(F::Info)),
    ("object", Front(F::Object)),
    ("memory", Front(F::Memory)),
    ("config", Front(F::Config)),
    ("time", Front(F::Time)),
    ("multi", Front(F::Multi)),
    ("exec", Front(F::Exec)),
    ("discard", Front(F::Discard)),
    ("watch", Front(F::Watch)),
    ("unwatch", Front(F::Unwatch)),
    ("reset", Front(F::Reset)),
    ("save", Front(F::Save)),
    ("bgsave", Front(F::Bgsave)),
    ("bgrewriteaof", Front(F::Bgrewriteaof)),
    ("lastsave", Front(F::Lastsave)),
    ("shutdown", Front(F::Shutdown)),
    ("slowlog", Front(F::Slowlog)),
    ("latency", Front(F::Latency)),
    ("debug", Front(F::Debug)),
    ("lolwut", Front(F::Lolwut)),
    ("module", Front(F::Module)),
    ("wait", Front(F::Wait)),
    ("monitor", Front(F::Monitor)),
    (
        "dbsize",
        All {
            run: keys::dbsize,
            merge: Sum,
        },
    ),
    (
        "flushdb",
        All {
            run: keys::flushdb,
            merge: AllOk,
        },
    ),
    (
        "flushall",
        All {
            run: keys::flushall,
            merge: AllOk,
        },
    ),
    (
        "swapdb",
        All {
            run: keys::swapdb,
            merge: AllOk,
        },
    ),
    // strings
    ("get", Key(strings::get)),
    ("set", Key(strings::set)),
    ("setnx", Key(strings::setnx)),
    ("setex", Key(strings::setex)),
    ("psetex", Key(strings::psetex)),
    ("getset", Key(strings::getset)),
    ("getdel", Key(strings::getdel)),
    ("getex", Key(strings::getex)),
    (
        "mget",
        Keys {
            run: strings::mget,
            stride: 1,
            merge: PerKey,
        },
    ),
    (
        "mset",
        Keys {
            run: strings::mset,
            stride: 2,
            merge: AllOk,
        },
    ),
    ("msetnx", Front(F::Msetnx)),
    ("incr", Key(strings::incr)),
    ("decr", Key(strings::decr)),
    ("incrby", Key(strings::incrby)),
    ("decrby", Key(strings::decrby)),
    ("incrbyfloat", Key(strings::incrbyfloat)),
    ("append", Key(strings::append)),
    ("strlen", Key(strings::strlen)),
    ("getrange", Key(strings::getrange)),
    ("substr", Key(strings::getrange)),
    ("setrange", Key(strings::setrange)),
    // bitmaps and HyperLogLog (strings)
    ("setbit", Key(bitmaps::setbit)),
    ("getbit", Key(bitmaps::getbit)),
    ("bitcount", Key(bitmaps::bitcount)),
    ("bitpos", Key(bitmaps::bitpos)),
    ("bitfield", Key(bitmaps::bitfield)),
    ("bitfield_ro", Key(bitmaps::bitfield_ro)),
    ("bitop", Front(F::Bitop)),
    ("lcs", Front(F::Lcs)),
    ("pfadd", Key(hyperloglog::pfadd)),
    ("pfcount", Front(F::Pfcount)),
    ("pfmerge", Front(F::Pfmerge)),
    ("pfdebug", Key(hyperloglog::pfdebug)),
    ("pfselftest", Front(F::Pfselftest)),
    // keys
    (
        "del",
        Keys {
            run: keys::del,
            stride: 1,
            merge: Sum,
        },
    ),
    (
        "unlink",
        Keys {
            run: keys::del,
            stride: 1,
            merge: Sum,
        },
    ),
    (
        "exists",
        Keys {
            run: keys::exists,
            stride: 1,
            merge: Sum,
        },
    ),
    (
        "touch",
        Keys {
            run: keys::exists,
            stride: 1,
            merge: Sum,
        },
    ),
    ("type", Key(keys::type_)),
    ("expire", Key(keys::expire)),
    ("pexpire", Key(keys::expire)),
    ("expireat", Key(keys::expire)),
    ("pexpireat", Key(keys::expire)),
    ("ttl", Key(keys::ttl)),
    ("pttl", Key(keys::ttl)),
    ("expiretime", Key(keys::ttl)),
    ("pexpiretime", Key(keys::ttl)),
    ("persist", Key(keys::persist)),
    ("move", Key(keys::move_)),
    (
        "keys",
        All {
            run: keys::keys,
            merge: Concat,
        },
    ),
    ("scan", Front(F::Scan)),
    ("randomkey", Front(F::Randomkey)),
    ("sort", Front(F::Sort)),
    ("sort_ro", Front(F::Sort_ro)),
    ("rename", Front(F::Rename)),
    ("renamenx", Front(F::Renamenx)),
    ("copy", Front(F::Copy)),
    ("migrate", Front(F::Migrate)),
    ("dump", Key(dump::dump)),
    ("restore", Key(dump::restore)),
    // lists
    ("lpush", Key(lists::lpush)),
    ("rpush", Key(lists::rpush)),
    ("lpushx", Key(lists::lpushx)),
    ("rpushx", Key(lists::rpushx)),
    ("lpop", Key(lists::lpop)),
    ("rpop", Key(lists::rpop)),
    ("llen", Key(lists::llen)),
    ("lrange", Key(lists::lrange)),
    ("lindex", Key(lists::lindex)),
    ("lset", Key(lists::lset)),
    ("linsert", Key(lists::linsert)),
    ("lrem", Key(lists::lrem)),
    ("ltrim", Key(lists::ltrim)),
    ("lpos", Key(lists::lpos)),
    ("lmove", Front(F::Lmove)),
    ("rpoplpush", Front(F::Rpoplpush)),
    ("blpop", Front(F::Blpop)),
    ("brpop", Front(F::Brpop)),
    ("blmove", Front(F::Blmove)),
    ("brpoplpush", Front(F::Brpoplpush)),
    ("lmpop", Front(F::Lmpop)),
    ("blmpop", Front(F::Blmpop)),
    // hashes
    ("hset", Key(hashes::hset)),
    ("hmset", Key(hashes::hset)),
    ("hsetnx", Key(hashes::hsetnx)),
    ("hget", Key(hashes::hget)),
    ("hmget", Key(hashes::hmget)),
    ("hdel", Key(hashes::hdel)),
    ("hexists", Key(hashes::hexists)),
    ("hlen", Key(hashes::hlen)),
    ("hkeys", Key(hashes::hkeys)),
    ("hvals", Key(hashes::hvals)),
    ("hgetall", Key(hashes::hgetall)),
    ("hincrby", Key(hashes::hincrby)),
    ("hincrbyfloat", Key(hashes::hincrbyfloat)),
    ("hstrlen", Key(hashes::hstrlen)),
    ("hrandfield", Key(hashes::hrandfield)),
    ("hscan", Key(hashes::hscan)),
    // sets
    ("sadd", Key(sets::sadd)),
    ("srem", Key(sets::srem)),
    ("sismember", Key(sets::sismember)),
    ("smismember", Key(sets::smismember)),
    ("scard", Key(sets::scard)),
    ("smembers", Key(sets::smembers)),
    ("spop", Key(sets::spop)),
    ("srandmember", Key(sets::srandmember)),
    ("sscan", Key(sets::sscan)),
    ("smove", Front(F::Smove)),
    ("sinter", Front(F::Sinter)),
    ("sunion", Front(F::Sunion)),
    ("sdiff", Front(F::Sdiff)),
    ("sinterstore", Front(F::Sinterstore)),
    ("sunionstore", Front(F::Sunionstore)),
    ("sdiffstore", Front(F::Sdiffstore)),
    ("sintercard", Front(F::Sintercard)),
    // sorted sets
    ("zadd", Key(zsets::zadd)),
    ("zincrby", Key(zsets::zincrby)),
    ("zscore", Key(zsets::zscore)),
    ("zmscore", Key(zsets::zmscore)),
    ("zcard", Key(zsets::zcard)),
    ("zcount", Key(zsets::zcount)),
    ("zlexcount", Key(zsets::zlexcount)),
    ("zrank", Key(zsets::zrank)),
    ("zrevrank", Key(zsets::zrank)),
    ("zrange", Key(zsets::zrange)),
    ("zrevrange", Key(zsets::zrevrange)),
    ("zrangebyscore", Key(zsets::zrangebyscore)),
    ("zrevrangebyscore", Key(zsets::zrevrangebyscore)),
    ("zrangebylex", Key(zsets::zrangebylex)),
    ("zrevrangebylex", Key(zsets::zrevrangebylex)),
    ("zrem", Key(zsets::zrem)),
    ("zremrangebyrank", Key(zsets::zremrangebyrank)),
    ("zremrangebyscore", Key(zsets::zremrangebyscore)),
    ("zremrangebylex", Key(zsets::zremrangebylex)),
    ("zpopmin", Key(zsets::zpop)),
    ("zpopmax", Key(zsets::zpop)),
    ("zrandmember", Key(zsets::zrandmember)),
    ("zscan", Key(zsets::zscan)),
    ("zunionstore", Front(F::Zunionstore)),
    ("zinterstore", Front(F::Zinterstore)),
    ("zdiffstore", Front(F::Zdiffstore)),
    ("zunion", Front(F::Zunion)),
    ("zinter", Front(F::Zinter)),
    ("zdiff", Front(F::Zdiff)),
    ("zintercard", Front(F::Zintercard)),
    ("zrangestore", Front(F::Zrangestore)),
    ("zmpop", Front(F::Zmpop)),
    ("bzmpop", Front(F::Bzmpop)),
    ("bzpopmin", Front(F::Bzpopmin)),
    ("bzpopmax", Front(F::Bzpopmax)),
    // geo (sorted sets of geohash scores)
    ("geoadd", Key(geo::geoadd)),
    ("geodist", Key(geo::geodist)),
    ("geohash", Key(geo::geohash_cmd)),
    ("geopos", Key(geo::geopos)),
    ("geosearch", Key(geo::geosearch)),
    ("georadius_ro", Key(geo::geosearch)),
    ("georadiusbymember_ro", Key(geo::geosearch)),
    ("georadius", Front(F::Georadius)),
    ("georadiusbymember", Front(F::Georadiusbymember)),
    ("geosearchstore", Front(F::Geosearchstore)),
    // pub/sub
    ("subscribe", Front(F::Subscribe)),
    ("unsubscribe", Front(F::Unsubscribe)),
    ("psubscribe", Front(F::Psubscribe)),
    ("punsubscribe", Front(F::Punsubscribe)),
    ("ssubscribe", Front(F::Ssubscribe)),
    ("sunsubscribe", Front(F::Sunsubscribe)),
    ("publish", Front(F::Publish)),
    ("spublish", Front(F::Spublish)),
    ("pubsub", Front(F::Pubsub)),
    // streams (XGROUP and XINFO name their key after the subcommand: `key_of`)
    ("xadd", Key(streams::xadd)),
    ("xlen", Key(streams::xlen)),
    ("xrange", Key(streams::xrange)),
    ("xrevrange", Key(streams::xrange)),
    ("xdel", Key(streams::xdel)),
    ("xtrim", Key(streams::xtrim)),
    ("xsetid", Key(streams::xsetid)),
    ("xgroup", Key(streams::xgroup)),
    ("xack", Key(streams::xack)),
    ("xpending", Key(streams::xpending)),
    ("xclaim", Key(streams::xclaim)),
    ("xautoclaim", Key(streams::xautoclaim)),
    ("xinfo", Key(streams::xinfo)),
    ("xread", Front(F::Xread)),
    ("xreadgroup", Front(F::Xreadgroup)),
    // scripting
    ("eval", Front(F::Eval)),
    ("evalsha", Front(F::Evalsha)),
    ("eval_ro", Front(F::Eval_ro)),
    ("evalsha_ro", Front(F::Evalsha_ro)),
    ("script", Front(F::Script)),
    ("function", Front(F::Function)),
    ("fcall", Front(F::Fcall)),
    ("fcall_ro", Front(F::Fcall_ro)),
];

/// Subcommands of Redis 7.0's table that ringcache does not serve: left out
/// of COMMAND's replies (and so of docs/compatibility.md, generated from
/// them), refused by `subcommand` before their handler runs. Every other
/// subcommand of a command in `ROUTES` is served by its handler (tests/
/// compatibility.rs calls each one and checks it is not refused).
const NOT_SERVED: &[&str] = &["latency|doctor", "latency|graph", "script|debug"];

/// The key a `Route::Key` command runs on: its first argument, but for
/// XGROUP and XINFO, whose key follows the subcommand.
pub fn key_of(args: &[Bytes]) -> &Bytes {
    let name = &args[0];
    let after_sub = (5..=7).contains(&name.len())
        && (arg_is(name, "xinfo") || arg_is(name, "xgroup") || arg_is(name, "pfdebug"))
        && args.len() > 2;
    &args[if after_sub { 2 } else { 1 }]
}

pub struct Table {
    commands: HashMap<&'static str, Command, ahash::RandomState>,
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// The command table, built once from the embedded Redis metadata.
pub fn table() -> &'static Table {
    TABLE.get_or_init(|| {
        let mut specs = parse_specs(include_str!("redis-7.0-command-info.jsonl"));
        specs.extend(parse_specs(NEWER_THAN_7_0));
        let commands = ROUTES
            .iter()
            .enumerate()
            .map(|(id, &(name, route))| {
                let prefix = format!("{name}|");
                let mut subcommands: Vec<(String, Spec)> = specs
                    .iter()
                    .filter_map(|(n, s)| {
                        n.strip_prefix(&prefix)
                            .map(|sub| (sub.to_string(), s.clone()))
                    })
                    .collect();
                subcommands.sort_by(|a, b| a.0.cmp(&b.0));
                let spec = specs
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("no Redis metadata for {name}"));
                {
                    let write = spec.flags.iter().any(|f| f == "write");
                    let ok_loading = spec.flags.iter().any(|f| f == "loading");
                    let access = access_of(&spec);
                    (
                        name,
                        Command {
                            name,
                            id,
                            spec,
                            write,
                            access,
                            ok_loading,
                            route,
                            subcommands,
                        },
                    )
                }
            })
            .collect();
        Table { commands }
    })
}

/// Commands clients send that Redis 7.0's table lacks: CLIENT SETINFO (7.2)
/// is sent by redis-py and redis-rs on connect. Same shape as the table.
const NEWER_THAN_7_0: &str = r#"["client|setinfo", 4, ["noscript", "loading", "stale"], 0, 0, 0, ["@slow", "@connection"], ["request_policy:all_nodes", "response_policy:all_succeeded"], [], []]"#;

/// COMMAND INFO's entries, one JSON array per line (`[name, arity, flags,
/// first, last, step, categories, tips, key specs, subcommands]`), as a
/// map from `name` or `container|sub` to its metadata.
fn parse_specs(jsonl: &str) -> HashMap<String, Spec> {
    fn strings(v: &serde_json::Value) -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn add(v: &serde_json::Value, into: &mut HashMap<String, Spec>) {
        let int = |i: usize| v[i].as_i64().unwrap_or(0);
        let spec = Spec {
            arity: int(1),
            flags: strings(&v[2]),
            first_key: int(3),
            last_key: int(4),
            step: int(5),
            acl_categories: strings(&v[6]),
            tips: strings(&v[7]),
            key_specs: v[8]
                .as_array()
                .map(|a| a.iter().filter_map(key_specs::KeySpec::from_json).collect())
                .unwrap_or_default(),
        };
        into.insert(v[0].as_str().unwrap_or_default().to_string(), spec);
        for sub in v[9].as_array().into_iter().flatten() {
            add(sub, into);
        }
    }
    let mut specs = HashMap::new();
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let v = serde_json::from_str(line).expect("embedded command table is valid JSON");
        add(&v, &mut specs);
    }
    specs
}

impl Table {
    /// Finds a command by name, ignoring case.
    pub fn get(&self, name: &[u8]) -> Option<&Command> {
        let mut lower = [0u8; 32];
        let lower = lower.get_mut(..name.len())?;
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.commands.get(std::str::from_utf8(lower).ok()?)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Command> {
        self.commands.values()
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

/// Applies one command read back from the append-only log to `shard`, through
/// the same handler that ran it live.
pub fn apply_logged(
    shard: &mut crate::shard::Shard,
    db: usize,
    argv: &[Bytes],
    now: u64,
) -> Result<(), String> {
    if crate::shard::tx::is_tx_record(&argv[0]) {
        return tx::replay(shard, argv, now);
    }
    // Named in errors only: no allocation on the replay path.
    let name = || String::from_utf8_lossy(&argv[0]).into_owned();
    let cmd = table()
        .get(&argv[0])
        .ok_or_else(|| format!("unknown command '{}' in the log", name()))?;
    let run = match cmd.route {
        Route::Key(f) | Route::Keys { run: f, .. } | Route::All { run: f, .. } => f,
        Route::Front(_) => return Err(format!("'{}' cannot appear in the log", name())),
    };
    if db >= shard.keyspace.databases() || !cmd.arity_ok(argv.len()) {
        return Err(format!(
            "malformed '{}' record (db {db}, {} arguments)",
            name(),
            argv.len()
        ));
    }
    match shard.run(run, db, argv, now, Access::Read) {
        Frame::Error(e) => Err(format!("'{}' failed on replay: {e}", name())),
        _ => Ok(()),
    }
}

// Replies shared by the handlers, worded as Redis words them.

/// A database number as Redis reads one (`getIntFromObjectOrReply`, then
/// `selectDb`): an integer, within a C int, then one of the `databases`.
pub fn db_index(arg: &[u8], databases: usize) -> Result<usize, Frame> {
    let n = crate::util::parse_i64(arg).ok_or_else(not_integer)?;
    if i32::try_from(n).is_err() {
        return Err(Frame::error(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ));
    }
    usize::try_from(n)
        .ok()
        .filter(|&n| n < databases)
        .ok_or_else(|| Frame::error("ERR DB index is out of range"))
}

pub fn wrong_type() -> Frame {
    Frame::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

pub fn not_integer() -> Frame {
    Frame::error("ERR value is not an integer or out of range")
}

pub fn syntax_error() -> Frame {
    Frame::error("ERR syntax error")
}

pub fn wrong_arity(name: &str) -> Frame {
    Frame::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// A container command's subcommand that does not exist (or that ringcache
/// does not serve), as Redis words it.
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Frame {
    Frame::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub)
            .chars()
            .take(128)
            .collect::<String>(),
        command.to_uppercase()
    ))
}

pub fn invalid_expire(cmd: &[u8]) -> Frame {
    Frame::error(format!(
        "ERR invalid expire time in '{}' command",
        String::from_utf8_lossy(cmd).to_lowercase()
    ))
}

/// A shard that did not answer (its core is gone).
pub fn unavailable() -> Frame {
    Frame::error("ERR shard unavailable")
}

/// Checks a container command's subcommand and its arity; returns its
/// lowercase name.
pub fn subcommand(cmd: &Command, args: &[Bytes]) -> Result<String, Frame> {
    let sub = String::from_utf8_lossy(&args[1]).to_lowercase();
    let Some(spec) = cmd.subcommand(sub.as_bytes()) else {
        return Err(unknown_subcommand(cmd.name, &args[1]));
    };
    if !cmd.serves(&sub) {
        return Err(Frame::error(format!(
            "ERR {} {} is not supported by ringcache",
            cmd.name.to_uppercase(),
            sub.to_uppercase()
        )));
    }
    if !arity_ok(spec.arity, args.len()) {
        return Err(wrong_arity(&format!("{}|{}", cmd.name, sub)));
    }
    Ok(sub)
}

/// Parses an integer argument, or the Redis error for one that is not.
pub fn int_arg(arg: &Bytes) -> Result<i64, Frame> {
    crate::util::parse_i64(arg).ok_or_else(not_integer)
}

/// Whether argument `arg` is the keyword `word` (`word` in lowercase; case
/// is ignored, as Redis does for options).
pub fn arg_is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::{Route, ROUTES};

    /// One registration per command: `ROUTES` names each command once, and a
    /// front command's handler is the `FrontCmd` named after it (the match in
    /// `front::execute` has no catch-all arm, so every `FrontCmd` has one);
    /// the other routes carry their handler.
    #[test]
    fn every_table_entry_has_its_own_handler() {
        let mut seen = std::collections::HashSet::new();
        for (name, route) in ROUTES {
            assert!(seen.insert(*name), "'{name}' is registered twice");
            if let Route::Front(front) = route {
                let handler = format!("{front:?}").to_lowercase();
                assert_eq!(&handler, name, "'{name}' runs the handler of '{handler}'");
            }
        }
        assert_eq!(super::table().len(), ROUTES.len());
    }

    #[test]
    fn every_routed_command_has_redis_metadata() {
        let t = super::table();
        assert!(t.get(b"GET").is_some());
        assert!(t.get(b"nosuchcommand").is_none());
        assert!(t.get(b"client").unwrap().subcommand(b"LIST").is_some());
    }
}
