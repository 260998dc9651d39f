//! DEBUG: the subcommands that tools and client test suites use and that
//! cannot harm the data (SLEEP, OBJECT, SET-ACTIVE-EXPIRE, POPULATE, ERROR,
//! LOG, PROTOCOL), allowed by `enable-debug-command` as in Redis (`no` by
//! default). The others (crashes, RELOAD, replication ones) answer Redis's
//! unknown-subcommand error; docs/compatibility.md lists them.

use super::memory::key_figures;
use super::observe::help;
use super::{int_arg, Session};
use crate::keyspace::{Eviction, Value};
use crate::node::Node;
use crate::protocol::Frame;
use crate::util::now_ms;
use bytes::Bytes;
use std::time::Duration;

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas, nor written to the log (as in Redis).",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, null, array, set, map, verbatim, true, false.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// The most keys one DEBUG POPULATE creates: it runs in one go per shard.
const POPULATE_MAX_KEYS: i64 = 100_000_000;

/// DEBUG <subcommand> [args...]
pub(super) async fn debug(node: &Node, session: &Session, args: &[Bytes]) -> Frame {
    if !super::server::allowed(&node.config.borrow().enable_debug_command, session) {
        return Frame::error(NOT_ALLOWED);
    }
    let sub = String::from_utf8_lossy(&args[1]).to_lowercase();
    match (sub.as_str(), args.len()) {
        ("help", 2) => help(DEBUG_HELP),
        ("sleep", 3) => {
            // Redis reads it with atof: what is not a number sleeps 0 s.
            let secs = crate::util::parse_f64(&args[2]).unwrap_or(0.0);
            if secs.is_finite() && secs > 0.0 {
                // The whole core stops, as the whole of Redis does.
                std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
            }
            Frame::OK
        }
        ("set-active-expire", 3) => {
            // atoi, as Redis: anything but a non-zero number turns it off.
            let on = crate::util::parse_i64(&args[2]).is_some_and(|n| n != 0);
            let done = node.run_on_all(move |n: &Node| n.active_expire.set(on));
            match done.await {
                Some(_) => Frame::OK,
                None => super::unavailable(),
            }
        }
        ("error", 3) => Frame::error(String::from_utf8_lossy(&args[2]).into_owned()),
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&args[2]));
            Frame::OK
        }
        ("object", 3) => object(node, session.db, &args[2]).await,
        ("populate", 3..=5) => populate(node, session.db, args).await,
        ("protocol", 3) => protocol(&args[2]),
        _ => Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// DEBUG OBJECT key: Redis's line, from what OBJECT and DUMP know.
async fn object(node: &Node, db: usize, key: &Bytes) -> Frame {
    let figures = match key_figures(node, db, key).await {
        Ok(Some(f)) => f,
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return e,
    };
    // Redis's serializedlength is the value's RDB encoding: a DUMP
    // payload without its type byte, version and checksum.
    let shard = super::cross::shard_of(node, key);
    let dumped = super::cross::run_shard_cmd_as(
        node,
        shard,
        super::dump::dump,
        db,
        vec![Bytes::from_static(b"DUMP"), key.clone()],
        crate::shard::Access::Read,
    )
    .await;
    let serialized = match dumped {
        Frame::Bulk(b) => b.len().saturating_sub(11),
        _ => 0,
    };
    let idle = Eviction::idle_ms(figures.access, now_ms()) / 1000;
    Frame::simple(format!(
        "Value at:0x0 refcount:1 encoding:{} serializedlength:{serialized} lru:{} lru_seconds_idle:{idle}",
        figures.encoding,
        figures.access & 0xff_ffff,
    ))
}

/// DEBUG POPULATE count [prefix] [size]: `prefix:<n>` = `value:<n>` (cut
/// or zero-padded to `size`), for every n below count whose key does not
/// exist. Each shard makes its own keys; as in Redis nothing is logged.
async fn populate(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let count = match int_arg(&args[2]) {
        Ok(n) if n < 0 => return Frame::error("ERR value is out of range, must be positive"),
        Ok(n) if n > POPULATE_MAX_KEYS => {
            return Frame::error(format!(
                "ERR DEBUG POPULATE makes at most {POPULATE_MAX_KEYS} keys at once"
            ))
        }
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    let prefix = args.get(3).cloned().unwrap_or(Bytes::from_static(b"key"));
    let size = match args.get(4).map(int_arg) {
        None => None,
        Some(Ok(n)) if n < 0 => return Frame::error("ERR value is out of range, must be positive"),
        Some(Ok(n)) if n as usize > node.config.borrow().proto_max_bulk_len => {
            return Frame::error("ERR string exceeds maximum allowed size")
        }
        Some(Ok(n)) => Some(n as usize),
        Some(Err(e)) => return e,
    };
    let shards = node.shard_count;
    let done = node.run_on_all(move |n: &Node| {
        let mut sh = n.shard.borrow_mut();
        let now = now_ms();
        for i in 0..count {
            let key = [&prefix[..], format!(":{i}").as_bytes()].concat();
            if crate::router::shard_of(&key, shards) != n.id || sh.keyspace.contains(db, &key, now)
            {
                continue;
            }
            let mut value = format!("value:{i}").into_bytes();
            if let Some(size) = size {
                value.resize(size, 0);
            }
            sh.keyspace.insert(db, &key, Value::Str(value.into()), None);
        }
    });
    match done.await {
        Some(_) => Frame::OK,
        None => super::unavailable(),
    }
}

/// DEBUG PROTOCOL type: a sample reply of each type RESP3 has.
fn protocol(kind: &[u8]) -> Frame {
    let kind = String::from_utf8_lossy(kind).to_lowercase();
    let ints = || (0..3).map(Frame::Integer).collect::<Vec<_>>();
    match kind.as_str() {
        "string" => Frame::bulk_str("Hello World"),
        "integer" => Frame::Integer(12345),
        // Redis's own sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => Frame::Double(3.141),
        "null" => Frame::Null,
        "array" => Frame::Array(ints()),
        "set" => Frame::Set(ints()),
        "map" => Frame::Map(
            (0..3)
                .map(|i| (Frame::Integer(i), Frame::Bool(i == 1)))
                .collect(),
        ),
        "verbatim" => Frame::Verbatim("This is a verbatim\nstring".into()),
        "true" => Frame::Bool(true),
        "false" => Frame::Bool(false),
        _ => Frame::error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|null|array|set|map|verbatim|true|false",
        ),
    }
}
