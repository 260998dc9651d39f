//! Random command sequences against redis-server 7.0 and ringcache, reply
//! by reply (issue 20's differential harness; docs/differential.md).
//!
//! Each call is built from Redis's own documentation of the command's
//! arguments (COMMAND DOCS, embedded): optional arguments taken or not,
//! repeated ones 1-3 times, one alternative of each choice, and values drawn
//! from pools of edge cases (negative and huge counts, overflowing and
//! malformed numbers, float formats, empty strings) and a few keys on every
//! shard, so that wrong types, missing keys and cross-shard keys come up. A
//! call now and then loses or gains an argument (arity errors).
//!
//! Normalised, and only this (each listed in docs/differential.md): the
//! order of replies Redis documents as unordered (its
//! `nondeterministic_output_order` tip); commands whose output Redis
//! documents as nondeterministic, that read the clock or the server's
//! state, block, or change the connection are not sent.
//!
//! Seeded and reproducible: `RINGCACHE_DIFF_SEED=N` replays one sequence
//! (and prints all of it on a difference),
//! `RINGCACHE_DIFF_SEQUENCES` sets how many CI runs (default 200, half of
//! them in RESP3), and
//! `RINGCACHE_DIFF_SECS=3600` runs for that long instead.

mod common;

use common::{parsed, Raw, Server};
use redis::Value as V;
use serde_json::Value as Json;
use std::time::{Duration, Instant};

/// Commands per sequence; each sequence starts from empty databases.
const COMMANDS_PER_SEQUENCE: usize = 150;

/// Not sent, and why (docs/differential.md lists the same).
const NOT_SENT: &[(&str, &str)] = &[
    // The clock, the server's own state and figures.
    ("ttl", "relative time"),
    (
        "expiretime",
        "a relative deadline lands a millisecond apart",
    ),
    ("pexpiretime", "as expiretime"),
    ("pttl", "relative time"),
    (
        "object",
        "idle time, frequency and encodings are the server's",
    ),
    ("memory", "sizes are the server's"),
    (
        "dump",
        "checked by tests/dump.rs (encodings differ in documented ways)",
    ),
    ("restore", "needs payloads; tests/dump.rs"),
    (
        "sort",
        "BY nosort order of a set (documented in collections.md)",
    ),
    ("sort_ro", "as sort"),
    ("scan", "cursors"),
    ("sscan", "cursors"),
    ("hscan", "cursors"),
    ("zscan", "cursors"),
    (
        "keys",
        "order of its reply normalised, but patterns of the pools are cheap; kept out",
    ),
    ("dbsize", "kept"),
    ("randomkey", "random"),
    ("lastsave", "clock"),
    ("time", "clock"),
    ("info", "server state"),
    ("command", "tests/compatibility.rs"),
    ("config", "server state; tests/server_commands.rs"),
    ("debug", "server state"),
    ("lolwut", "version line"),
    ("pfdebug", "tests/server_commands.rs"),
    ("pfselftest", "slow"),
    ("latency", "server state"),
    ("slowlog", "server state"),
    ("client", "connection state"),
    ("hello", "connection state"),
    ("auth", "connection state"),
    ("reset", "connection state"),
    ("quit", "closes the connection"),
    ("select", "connection state"),
    ("readonly", "cluster"),
    ("readwrite", "cluster"),
    ("monitor", "connection state"),
    ("subscribe", "connection state"),
    ("psubscribe", "connection state"),
    ("ssubscribe", "connection state"),
    ("unsubscribe", "connection state"),
    ("punsubscribe", "connection state"),
    ("sunsubscribe", "connection state"),
    ("publish", "subscriber counts are the server's"),
    ("spublish", "as publish"),
    ("pubsub", "server state"),
    ("multi", "tests/transactions.rs"),
    ("exec", "tests/transactions.rs"),
    ("discard", "tests/transactions.rs"),
    ("watch", "tests/transactions.rs"),
    ("unwatch", "tests/transactions.rs"),
    ("eval", "tests/scripting.rs"),
    ("evalsha", "tests/scripting.rs"),
    ("eval_ro", "tests/scripting.rs"),
    ("evalsha_ro", "tests/scripting.rs"),
    ("fcall", "tests/scripting.rs"),
    ("fcall_ro", "tests/scripting.rs"),
    ("script", "tests/scripting.rs"),
    ("function", "tests/scripting.rs"),
    ("acl", "server state; tests/acl.rs"),
    ("save", "disk"),
    ("bgsave", "disk"),
    ("bgrewriteaof", "disk"),
    ("shutdown", "stops the server"),
    ("failover", "replication"),
    ("wait", "blocks"),
    ("module", "server state"),
    ("swapdb", "kept to database 0"),
    ("flushall", "kept; every sequence starts with one"),
    ("xread", "blocking form"),
    ("xreadgroup", "blocking form"),
    ("xautoclaim", "idle times"),
    ("xclaim", "idle times"),
    ("xpending", "idle times"),
    ("xinfo", "idle times and seen-times"),
    ("xadd", "generated IDs read the clock"),
    ("srandmember", "random"),
    ("spop", "random"),
    ("hrandfield", "random"),
    ("zrandmember", "random"),
    ("georadius", "stores"),
    ("georadiusbymember", "stores"),
];

/// Keys: a few names on every shard, of every type, some sharing a tag.
const KEYS: &[&str] = &["a", "b", "c", "{t}x", "{t}y", "n", "s", "z"];
const INTS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "-1",
    "-2",
    "10",
    "100",
    "-100",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1.5",
    "x",
    "",
    "4611686018427387904",
];
const DOUBLES: &[&str] = &[
    "0", "1", "-1", "1.5", "-0", "2.5e3", "inf", "-inf", "+inf", "nan", "0x10", "1e", "abc", "0.1",
    "", "17",
];
const STRINGS: &[&str] = &[
    "", "v", "hello", "1", "-5", "3.14", "a b", "xyzxyz", "0", "m1", "m2", "f1", "f2", "LEFT",
    "RIGHT",
];
const PATTERNS: &[&str] = &["*", "a*", "?", "[ab]*", "\\*", "h*llo", ""];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        common::xorshift(&mut self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// The value of an argument of documented `type` named `name`.
fn value(rng: &mut Rng, kind: &str, name: &str) -> String {
    // Times are far from now (or past, or bad): a deadline that falls
    // while the two servers run the sequence would race. (A relative one
    // lands a millisecond apart on the two: EXPIRETIME is not sent.)
    let timed = name.contains("seconds") || name.contains("milliseconds") || kind == "unix-time";
    if timed {
        return rng
            .pick(&["100000", "0", "-1", "99999999999", "x", "4000000000000"])
            .to_string();
    }
    match kind {
        "key" => rng.pick(KEYS).to_string(),
        "integer" => rng.pick(INTS).to_string(),
        "double" => rng.pick(DOUBLES).to_string(),
        "pattern" => rng.pick(PATTERNS).to_string(),
        _ => rng.pick(STRINGS).to_string(),
    }
}

fn add_args(rng: &mut Rng, args: &[Json], out: &mut Vec<String>) {
    for a in args {
        let flags = a["flags"].to_string();
        if flags.contains("optional") && rng.one_in(2) {
            continue;
        }
        let times = if flags.contains("multiple") {
            1 + rng.below(3)
        } else {
            1
        };
        for time in 0..times {
            if let Some(t) = a["token"].as_str() {
                if time == 0 || flags.contains("multiple_token") {
                    out.push(t.to_string());
                }
            }
            let kind = a["type"].as_str().unwrap_or("string");
            match kind {
                "pure-token" => {}
                "block" => add_args(rng, a["arguments"].as_array().unwrap(), out),
                "oneof" => {
                    let alts = a["arguments"].as_array().unwrap();
                    let pick = &alts[rng.below(alts.len())];
                    add_args(rng, std::slice::from_ref(pick), out);
                }
                _ => out.push(value(rng, kind, a["name"].as_str().unwrap_or(""))),
            }
        }
    }
}

/// What is known about each command sent: its documented arguments, and
/// whether its reply's order is left to the server.
struct Sendable {
    name: String,
    doc: Json,
    unordered: bool,
}

fn sendable(served: &[String]) -> Vec<Sendable> {
    let mut unordered = std::collections::HashSet::new();
    let mut skipped = std::collections::HashSet::new();
    for line in include_str!("../src/commands/redis-7.0-command-info.jsonl").lines() {
        let info: Json = serde_json::from_str(line).unwrap();
        let name = info[0].as_str().unwrap().to_string();
        let flags = info[2].to_string();
        let tips = info[7].to_string();
        if tips.contains("nondeterministic_output_order") {
            unordered.insert(name.clone());
        }
        if tips.contains("\"nondeterministic_output\"") || flags.contains("blocking") {
            skipped.insert(name);
        }
    }
    let mut out = Vec::new();
    for line in include_str!("../src/commands/redis-7.0-command-docs.jsonl").lines() {
        let entry: Json = serde_json::from_str(line).unwrap();
        for (name, doc) in entry.as_object().unwrap() {
            let not_sent = NOT_SENT.iter().any(|(n, _)| n == name);
            if not_sent || skipped.contains(name) || !served.contains(name) {
                continue;
            }
            // Containers (OBJECT, XGROUP…): one of their subcommands.
            if let Some(subs) = doc["subcommands"].as_object() {
                for (sub, d) in subs {
                    let not_sent = NOT_SENT.iter().any(|(n, _)| n == sub);
                    if !sub.ends_with("|help") && !not_sent {
                        out.push(Sendable {
                            name: sub.clone(),
                            doc: d.clone(),
                            unordered: unordered.contains(name),
                        });
                    }
                }
                continue;
            }
            out.push(Sendable {
                name: name.clone(),
                doc: doc.clone(),
                unordered: unordered.contains(name),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn call(rng: &mut Rng, cmd: &Sendable) -> Vec<String> {
    let mut out: Vec<String> = cmd.name.split('|').map(String::from).collect();
    let args = cmd.doc["arguments"].as_array().cloned().unwrap_or_default();
    add_args(rng, &args, &mut out);
    if rng.one_in(25) {
        if rng.one_in(2) && out.len() > 1 {
            out.pop();
        } else {
            out.push(rng.pick(STRINGS).to_string());
        }
    }
    out
}

/// A reply with the order of its arrays' items made canonical.
fn sorted(v: V) -> V {
    match v {
        V::Array(items) => {
            let mut items: Vec<V> = items.into_iter().map(sorted).collect();
            items.sort_by_key(|i| format!("{i:?}"));
            V::Array(items)
        }
        V::Set(items) => {
            let mut items: Vec<V> = items.into_iter().map(sorted).collect();
            items.sort_by_key(|i| format!("{i:?}"));
            V::Set(items)
        }
        V::Map(pairs) => {
            let mut pairs: Vec<(V, V)> = pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            pairs.sort_by_key(|p| format!("{p:?}"));
            V::Map(pairs)
        }
        other => other,
    }
}

fn as_bulk(reply: &str) -> Option<Vec<u8>> {
    match parsed(reply) {
        V::BulkString(b) => Some(b),
        _ => None,
    }
}

/// INCRBYFLOAT / HINCRBYFLOAT replies that are the same number at f64's
/// precision (Redis's long double keeps 64 bits of mantissa).
fn same_at_f64(args: &[&str], want: &str, got: &str) -> bool {
    if !matches!(args[0], "incrbyfloat" | "hincrbyfloat") {
        return false;
    }
    let number = |r: &str| -> Option<f64> { String::from_utf8(as_bulk(r)?).ok()?.parse().ok() };
    match (number(want), number(got)) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= a.abs() * 1e-15,
        _ => false,
    }
}

/// EXPIRE/PEXPIRE with GT or LT, whose answer (0 or 1) compares a new
/// relative deadline with one set by an earlier relative command: the two
/// land in the same millisecond on one server and not on the other (seed
/// 121161: `SETEX k 4000000000000 v` then `EXPIRE k 4000000000000 GT`,
/// Redis 0, ringcache 1 a millisecond later). The TTLs then differ by
/// milliseconds, which no command the test sends can see.
fn same_but_for_the_clock(args: &[&str], want: &str, got: &str) -> bool {
    let relative = matches!(args[0], "expire" | "pexpire");
    let compares = args
        .iter()
        .any(|a| a.eq_ignore_ascii_case("gt") || a.eq_ignore_ascii_case("lt"));
    let bit = |r: &str| r == ":0\r\n" || r == ":1\r\n";
    relative && compares && bit(want) && bit(got)
}

/// Runs sequence `seed` on both; the first difference, with the calls
/// that led to it.
fn run_sequence(
    seed: u64,
    cmds: &[Sendable],
    redis: &mut Raw,
    ours: &mut Raw,
) -> Result<(), String> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Odd seeds speak RESP3.
    let proto = if seed % 2 == 1 { "3" } else { "2" };
    for r in [&mut *redis, &mut *ours] {
        r.cmd(&["HELLO", proto]);
        r.cmd(&["FLUSHALL"]);
    }
    let mut sent: Vec<String> = Vec::new();
    for _ in 0..COMMANDS_PER_SEQUENCE {
        let cmd = &cmds[rng.below(cmds.len())];
        let args = call(&mut rng, cmd);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sent.push(format!("{refs:?}"));
        let (want, got) = (redis.cmd(&refs), ours.cmd(&refs));
        let same = want == got
            || (cmd.unordered
                && !want.starts_with('-')
                && sorted(parsed(&want)) == sorted(parsed(&got)))
            || same_but_for_the_clock(&refs, &want, &got);
        if !same && same_at_f64(&refs, &want, &got) {
            // Redis adds in long double, ringcache in f64 (strings.md): the
            // same sum to f64's precision. Redis's text is put in ringcache
            // so that the two go on alike.
            let text = String::from_utf8_lossy(&as_bulk(&want).unwrap_or_default()).into_owned();
            let fix: Vec<&str> = match refs[0] {
                "incrbyfloat" => vec!["SET", refs[1], &text, "KEEPTTL"],
                _ => vec!["HSET", refs[1], refs[2], &text],
            };
            ours.cmd(&fix);
            continue;
        }
        if !same {
            // A replayed seed shows its whole sequence.
            let replay = std::env::var_os("RINGCACHE_DIFF_SEED").is_some();
            let from = if replay {
                0
            } else {
                sent.len().saturating_sub(12)
            };
            return Err(format!(
                "seed {seed}: {refs:?}\n  redis-server: {want:?}\n  ringcache:    {got:?}\n  after:\n    {}",
                sent[from..sent.len() - 1].join("\n    ")
            ));
        }
    }
    Ok(())
}

#[test]
fn random_sequences_answer_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this differential test needs it");
        return;
    };
    let server = Server::start();
    let served: Vec<String> = common::q(&mut server.con(), &["COMMAND", "LIST"]);
    let cmds = sendable(&served);
    assert!(cmds.len() > 100, "only {} commands to send", cmds.len());
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let (mut r, mut o) = (redis.raw(), server.raw());
    if let Some(seed) = env("RINGCACHE_DIFF_SEED") {
        run_sequence(seed, &cmds, &mut r, &mut o).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let until = env("RINGCACHE_DIFF_SECS").map(|s| Instant::now() + Duration::from_secs(s));
    let count = env("RINGCACHE_DIFF_SEQUENCES").unwrap_or(200);
    let first = env("RINGCACHE_DIFF_FIRST_SEED").unwrap_or(1);
    let mut failures = Vec::new();
    let mut seed = first;
    loop {
        let done = match until {
            Some(t) => Instant::now() >= t,
            None => seed >= first + count,
        };
        if done || failures.len() >= 20 {
            break;
        }
        if let Err(e) = run_sequence(seed, &cmds, &mut r, &mut o) {
            eprintln!("{e}\n");
            failures.push(seed);
            // A difference may leave the two apart: start both afresh.
            (r, o) = (redis.raw(), server.raw());
        }
        seed += 1;
    }
    eprintln!(
        "random differential: {} sequences of {COMMANDS_PER_SEQUENCE} commands over {} commands",
        seed - first,
        cmds.len()
    );
    assert!(failures.is_empty(), "sequences that differ: {failures:?}");
}
