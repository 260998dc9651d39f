//! The randomized crash test on the simulated disk (docs/simulated-disk.md).
//!
//! Each seed runs a server on the faulty disk (`RINGCACHE_TEST_DISK`:
//! writes and syncs fail now and then, failed writes tear) and drives it
//! with one client through a random history: every type, TTLs short
//! enough to pass while the server is down, cross-shard moves, snapshots
//! and log rewrites. At random moments, sometimes with a command in
//! flight, the server is killed, the disk is turned into what a power cut
//! could have left (unsynced writes lost, kept or torn), and the server is
//! started again, sometimes with another shard count. It must start, and
//! what it holds must be the state after some prefix of the history that
//! contains every acknowledged write (`always`) or every write acknowledged
//! before each shard's last completed sync (`everysec`).
//!
//! The client keeps a model of the data; every reply is checked against it
//! as well, so a restart that brings back wrong data is caught by the next
//! command too.
//!
//! - `RINGCACHE_SIMDISK_SECS` (default 45): how long to run seeds.
//! - `RINGCACHE_SIMDISK_FIRST_SEED` (default 1): seeds run from there up.
//! - `RINGCACHE_SIMDISK_SEED=<n>`: replays that one seed (what a failure
//!   prints).
//! - `RINGCACHE_SIMDISK_KEEP_GOING=1`: a long run lists every failing seed
//!   instead of stopping at the first. The history is the seed's; the moments of the kills and the
//!   server's own timing are not, so a failure may need a few replays.
//! - `RINGCACHE_SIMDISK_KEEP=<dir>`: a copy of the data directory before each
//!   restart of a seed that fails (a passing seed's copies are removed).

mod common;

use common::{shard_of, xorshift, Raw, Server};
use ringcache::persistence::disk::faults;
use ringcache::persistence::manifest::{parse_name, FileKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TYPES: [&str; 6] = ["str", "int", "list", "set", "hash", "zset"];
const KEYS_PER_TYPE: usize = 4;
/// Short TTLs: they pass between commands or while the server is down.
const SHORT_TTL_MS: u64 = 250;
const LONG_TTL_MS: u64 = 600_000;
/// A key whose deadline is this close to a command's time is not touched
/// (the model could not tell whether the server saw it expired).
const TTL_MARGIN_MS: u64 = 60;
/// The machine's boot as the server sees it (`disk::faults::boot_id`).
const BOOT_ENV: &str = "RINGCACHE_TEST_BOOT_ID";

#[test]
fn recovered_state_is_a_prefix_of_the_acknowledged_history() {
    let secs: u64 = env_u64("RINGCACHE_SIMDISK_SECS").unwrap_or(45);
    let seeds: Vec<u64> = match env_u64("RINGCACHE_SIMDISK_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env_u64("RINGCACHE_SIMDISK_FIRST_SEED").unwrap_or(1);
            (first..).take(1_000_000).collect()
        }
    };
    let start = Instant::now();
    dump_threads_on_hang();
    let mut totals = Totals::default();
    // A long run notes every failing seed and goes on.
    let keep_going = std::env::var_os("RINGCACHE_SIMDISK_KEEP_GOING").is_some();
    let mut failures = Vec::new();
    for seed in seeds {
        if start.elapsed() >= Duration::from_secs(secs) && totals.seeds > 0 {
            break;
        }
        let ran =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(seed, &mut totals)));
        let failed = match ran {
            Ok(Ok(())) => {
                forget_kept(seed);
                None
            }
            Ok(Err(e)) => Some(e),
            Err(p) => Some(format!(
                "{}\nlast commands sent: {:?}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
                LAST_SENT.with(|l| l.borrow().clone())
            )),
        };
        if let Some(e) = failed {
            if keep_going {
                eprintln!("FAILED seed {seed}: {e}");
                failures.push(seed);
                totals.seeds += 1;
                continue;
            }
            panic!(
                "seed {seed}: {e}\nreplay: RINGCACHE_SIMDISK_SEED={seed} cargo test --release --test simulated_disk -- --nocapture"
            );
        }
        totals.seeds += 1;
    }
    eprintln!("simulated disk: {totals:?} in {:?}", start.elapsed());
    assert!(failures.is_empty(), "failed seeds: {failures:?}");
    assert!(totals.crashes > 0, "no crash was simulated");
}

/// How many times a cycle tries to start the server on the faulty disk.
const START_ATTEMPTS: u64 = 6;

/// A boot as the server reads it: it keeps the first 8 characters.
fn boot_id(boot: u64) -> String {
    format!("{:08}", boot % 100_000_000)
}

thread_local! {
    /// The last commands sent, for a failure that is a panic (a reply that
    /// never came) rather than a wrong state.
    static LAST_SENT: std::cell::RefCell<std::collections::VecDeque<String>> =
        Default::default();
}

thread_local! {
    /// The server a command was last sent to: a reply that never comes
    /// dumps its threads (`dump_threads_on_hang`).
    static SERVER_PID: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A reply that never came is a hang to explain: the panic hook (run before
/// the server is dropped and killed) prints every server thread's stack
/// with gdb, when gdb is installed.
fn dump_threads_on_hang() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let hung = info.to_string().contains("no complete reply");
        let pid = SERVER_PID.with(|p| p.get());
        if hung && pid != 0 {
            eprintln!("server threads:\n{}", common::thread_dump(pid));
        }
    }));
}

fn note_sent(command: String) {
    LAST_SENT.with(|l| {
        let mut l = l.borrow_mut();
        if l.len() == 5 {
            l.pop_front();
        }
        l.push_back(command);
    });
}

/// `RINGCACHE_SIMDISK_KEEP`: a seed that passed leaves no copies behind, so
/// a long run keeps only what its failures need.
fn forget_kept(seed: u64) {
    let Some(dir) = std::env::var_os("RINGCACHE_SIMDISK_KEEP") else {
        return;
    };
    let prefix = format!("seed-{seed}-cycle-");
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[derive(Debug, Default)]
struct Totals {
    seeds: u64,
    crashes: u64,
    commands: u64,
    in_flight_kills: u64,
    reshards: u64,
    refused_writes: u64,
    /// Starts that exited on an injected write failure.
    failed_starts: u64,
    unsynced_writes: u64,
    torn_writes: u64,
    lost_writes: u64,
}

fn pick<'a, T>(rng: &mut u64, from: &'a [T]) -> &'a T {
    &from[(xorshift(rng) % from.len() as u64) as usize]
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One key's value in the model.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    List(Vec<String>),
    Set(BTreeSet<String>),
    Hash(BTreeMap<String, String>),
    ZSet(BTreeMap<String, i64>),
}

#[derive(Clone, Debug, PartialEq)]
struct Item {
    val: Val,
    /// Absolute deadline, ms since the epoch.
    deadline: Option<u64>,
}

type State = HashMap<String, Item>;

/// What the server answered to a command of the history.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Acked,
    /// An error reply: nothing changed.
    Refused,
    /// The server was killed before it answered.
    InFlight,
}

struct Step {
    args: Vec<String>,
    outcome: Outcome,
    sent_ms: u64,
    /// When the reply came.
    acked_ms: u64,
}

/// The keys a command touches (to place it on shards and to avoid keys
/// about to expire).
fn keys_of(args: &[String]) -> Vec<String> {
    let name = args[0].to_ascii_uppercase();
    match name.as_str() {
        "BGSAVE" | "BGREWRITEAOF" => vec![],
        "MSET" | "MSETNX" => args[1..].iter().step_by(2).cloned().collect(),
        "RENAME" | "LMOVE" | "SMOVE" => args[1..3].to_vec(),
        "SUNIONSTORE" => args[1..].to_vec(),
        "DEL" => args[1..].to_vec(),
        _ => vec![args[1].clone()],
    }
}

/// Applies `args` to `state` at time `at_ms` as Redis would; returns
/// the reply as `Raw` prints it (`None`: not checked).
fn apply(state: &mut State, args: &[String], at_ms: u64) -> Option<String> {
    // Keys past their deadline are gone.
    for k in keys_of(args) {
        if state
            .get(&k)
            .is_some_and(|i| i.deadline.is_some_and(|d| d <= at_ms))
        {
            state.remove(&k);
        }
    }
    let a = |i: usize| args[i].clone();
    let int = |s: &str| s.parse::<i64>().unwrap_or(0);
    let name = args[0].to_ascii_uppercase();
    let r = |n: i64| Some(format!(":{n}\r\n"));
    let bulk = |s: &str| Some(format!("${}\r\n{s}\r\n", s.len()));
    let ok = Some("+OK\r\n".to_string());
    let nil = Some("$-1\r\n".to_string());
    match name.as_str() {
        "SET" => {
            let deadline = (args.len() == 5).then(|| at_ms + int(&args[4]) as u64);
            state.insert(
                a(1),
                Item {
                    val: Val::Str(a(2)),
                    deadline,
                },
            );
            ok
        }
        "APPEND" => {
            let item = state.entry(a(1)).or_insert(Item {
                val: Val::Str(String::new()),
                deadline: None,
            });
            let Val::Str(s) = &mut item.val else {
                return None;
            };
            s.push_str(&args[2]);
            r(s.len() as i64)
        }
        "INCRBY" => {
            let item = state.entry(a(1)).or_insert(Item {
                val: Val::Str("0".into()),
                deadline: None,
            });
            let Val::Str(s) = &mut item.val else {
                return None;
            };
            let n = int(s) + int(&args[2]);
            *s = n.to_string();
            r(n)
        }
        "DEL" => {
            let n = args[1..]
                .iter()
                .filter(|k| state.remove(*k).is_some())
                .count();
            r(n as i64)
        }
        "RPUSH" => {
            let item = state.entry(a(1)).or_insert(Item {
                val: Val::List(vec![]),
                deadline: None,
            });
            let Val::List(l) = &mut item.val else {
                return None;
            };
            l.push(a(2));
            r(l.len() as i64)
        }
        "LPOP" => {
            let Some(Item {
                val: Val::List(l), ..
            }) = state.get_mut(&args[1])
            else {
                return nil;
            };
            let v = l.remove(0);
            if l.is_empty() {
                state.remove(&args[1]);
            }
            bulk(&v)
        }
        "LSET" => {
            let Some(Item {
                val: Val::List(l), ..
            }) = state.get_mut(&args[1])
            else {
                return Some("-ERR no such key\r\n".into());
            };
            l[0] = a(3);
            ok
        }
        "SADD" | "SREM" => {
            let add = name == "SADD";
            if !add && !state.contains_key(&args[1]) {
                return r(0);
            }
            let item = state.entry(a(1)).or_insert(Item {
                val: Val::Set(BTreeSet::new()),
                deadline: None,
            });
            let Val::Set(s) = &mut item.val else {
                return None;
            };
            let changed = if add {
                s.insert(a(2))
            } else {
                s.remove(&args[2])
            };
            if s.is_empty() {
                state.remove(&args[1]);
            }
            r(changed as i64)
        }
        "HSET" => {
            let item = state.entry(a(1)).or_insert(Item {
                val: Val::Hash(BTreeMap::new()),
                deadline: None,
            });
            let Val::Hash(h) = &mut item.val else {
                return None;
            };
            r(h.insert(a(2), a(3)).is_none() as i64)
        }
        "HDEL" => {
            let Some(Item {
                val: Val::Hash(h), ..
            }) = state.get_mut(&args[1])
            else {
                return r(0);
            };
            let n = h.remove(&args[2]).is_some() as i64;
            if h.is_empty() {
                state.remove(&args[1]);
            }
            r(n)
        }
        "ZINCRBY" => {
            let item = state.entry(a(1)).or_insert(Item {
                val: Val::ZSet(BTreeMap::new()),
                deadline: None,
            });
            let Val::ZSet(z) = &mut item.val else {
                return None;
            };
            let s = z.entry(a(3)).or_insert(0);
            *s += int(&args[2]);
            bulk(&s.to_string())
        }
        "ZREM" => {
            let Some(Item {
                val: Val::ZSet(z), ..
            }) = state.get_mut(&args[1])
            else {
                return r(0);
            };
            let n = z.remove(&args[2]).is_some() as i64;
            if z.is_empty() {
                state.remove(&args[1]);
            }
            r(n)
        }
        "PEXPIRE" => match state.get_mut(&args[1]) {
            Some(item) => {
                item.deadline = Some(at_ms + int(&args[2]) as u64);
                r(1)
            }
            None => r(0),
        },
        "PERSIST" => match state.get_mut(&args[1]) {
            Some(item) if item.deadline.is_some() => {
                item.deadline = None;
                r(1)
            }
            _ => r(0),
        },
        "RENAME" => match state.remove(&args[1]) {
            Some(item) => {
                state.insert(a(2), item);
                ok
            }
            None => Some("-ERR no such key\r\n".into()),
        },
        "LMOVE" => {
            let Some(Item {
                val: Val::List(l), ..
            }) = state.get_mut(&args[1])
            else {
                return nil;
            };
            let v = l.remove(0);
            if args[1] == args[2] {
                // Rotated in place: Redis never deletes the key between the
                // pop and the push, so it keeps its TTL.
                l.push(v.clone());
                return bulk(&v);
            }
            if l.is_empty() {
                state.remove(&args[1]);
            }
            let item = state.entry(a(2)).or_insert(Item {
                val: Val::List(vec![]),
                deadline: None,
            });
            if let Val::List(d) = &mut item.val {
                d.push(v.clone());
            }
            bulk(&v)
        }
        "SMOVE" => {
            let Some(Item {
                val: Val::Set(s), ..
            }) = state.get_mut(&args[1])
            else {
                return r(0);
            };
            if args[1] == args[2] {
                // Redis changes nothing (the key keeps its TTL).
                return r(s.contains(&args[3]) as i64);
            }
            if !s.remove(&args[3]) {
                return r(0);
            }
            if s.is_empty() {
                state.remove(&args[1]);
            }
            let item = state.entry(a(2)).or_insert(Item {
                val: Val::Set(BTreeSet::new()),
                deadline: None,
            });
            if let Val::Set(d) = &mut item.val {
                d.insert(a(3));
            }
            r(1)
        }
        "SUNIONSTORE" => {
            let mut u = BTreeSet::new();
            for k in &args[2..] {
                if let Some(Item {
                    val: Val::Set(s), ..
                }) = state.get(k)
                {
                    u.extend(s.iter().cloned());
                }
            }
            let n = u.len() as i64;
            if u.is_empty() {
                state.remove(&args[1]);
            } else {
                state.insert(
                    a(1),
                    Item {
                        val: Val::Set(u),
                        deadline: None,
                    },
                );
            }
            r(n)
        }
        "MSET" | "MSETNX" => {
            let pairs: Vec<(String, String)> = args[1..]
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            if name == "MSETNX" && pairs.iter().any(|(k, _)| state.contains_key(k)) {
                return r(0);
            }
            for (k, v) in pairs {
                state.insert(
                    k,
                    Item {
                        val: Val::Str(v),
                        deadline: None,
                    },
                );
            }
            if name == "MSET" {
                ok
            } else {
                r(1)
            }
        }
        // Checkpoints: no change to the data, replies vary.
        _ => None,
    }
}

/// A random command over the key universe.
fn random_command(rng: &mut u64) -> Vec<String> {
    let key = |rng: &mut u64, t: &str| format!("{t}:{}", xorshift(rng) % KEYS_PER_TYPE as u64);
    let val = |rng: &mut u64| format!("v{}", xorshift(rng) % 1000);
    let small = |rng: &mut u64| (xorshift(rng) % 8).to_string();
    let ttl = |rng: &mut u64| {
        if xorshift(rng).is_multiple_of(2) {
            (1 + xorshift(rng) % SHORT_TTL_MS).to_string()
        } else {
            LONG_TTL_MS.to_string()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    if xorshift(rng).is_multiple_of(60) {
        // Checkpoints: rare enough that the log has unsynced writes to lose.
        let name = if xorshift(rng).is_multiple_of(2) {
            "BGSAVE"
        } else {
            "BGREWRITEAOF"
        };
        return s(&[name]);
    }
    match xorshift(rng) % 24 {
        0 | 1 => {
            let (k, v) = (key(rng, "str"), val(rng));
            if xorshift(rng).is_multiple_of(3) {
                let t = ttl(rng);
                s(&["SET", &k, &v, "PX", &t])
            } else {
                s(&["SET", &k, &v])
            }
        }
        2 => s(&["APPEND", &key(rng, "str"), &val(rng)]),
        3 | 4 => s(&["INCRBY", &key(rng, "int"), &small(rng)]),
        5 => {
            // Two keys, often on two shards: a split write.
            let (t, u) = (*pick(rng, &TYPES), *pick(rng, &TYPES));
            s(&["DEL", &key(rng, t), &key(rng, u)])
        }
        6 | 7 => s(&["RPUSH", &key(rng, "list"), &val(rng)]),
        8 => s(&["LPOP", &key(rng, "list")]),
        9 => s(&["LSET", &key(rng, "list"), "0", &val(rng)]),
        10 | 11 => s(&["SADD", &key(rng, "set"), &small(rng)]),
        12 => s(&["SREM", &key(rng, "set"), &small(rng)]),
        13 => s(&["HSET", &key(rng, "hash"), &small(rng), &val(rng)]),
        14 => s(&["HDEL", &key(rng, "hash"), &small(rng)]),
        15 => s(&["ZINCRBY", &key(rng, "zset"), &small(rng), &small(rng)]),
        16 => s(&["ZREM", &key(rng, "zset"), &small(rng)]),
        17 => {
            let t = *pick(rng, &TYPES);
            s(&["PEXPIRE", &key(rng, t), &ttl(rng)])
        }
        18 => {
            let t = *pick(rng, &TYPES);
            s(&["PERSIST", &key(rng, t)])
        }
        19 => {
            let t = *pick(rng, &TYPES);
            let (a, b) = (key(rng, t), key(rng, t));
            s(&["RENAME", &a, &b])
        }
        20 => {
            let (a, b) = (key(rng, "list"), key(rng, "list"));
            s(&["LMOVE", &a, &b, "LEFT", "RIGHT"])
        }
        21 => {
            let (a, b) = (key(rng, "set"), key(rng, "set"));
            s(&["SMOVE", &a, &b, &small(rng)])
        }
        22 => {
            let (d, a, b) = (key(rng, "set"), key(rng, "set"), key(rng, "set"));
            s(&["SUNIONSTORE", &d, &a, &b])
        }
        _ if xorshift(rng).is_multiple_of(2) => {
            // Two or three keys, often on several shards: a split write
            // (docs/aof.md, "Split writes").
            let mut argv = vec!["MSET".to_string()];
            for _ in 0..2 + xorshift(rng) % 2 {
                argv.push(key(rng, "str"));
                argv.push(val(rng));
            }
            argv
        }
        _ => {
            let (a, b) = (key(rng, "str"), key(rng, "str"));
            s(&["MSETNX", &a, &val(rng), &b, &val(rng)])
        }
    }
}

/// True when a command on `state` at `at_ms` could race an expiry.
/// `late_ms`: how much later than the model the server may have set a
/// deadline (the model counts a TTL from when the command was sent; the
/// server, from when it ran it: on a loaded machine that can be well after).
fn near_deadline(state: &State, args: &[String], at_ms: u64, late_ms: u64) -> bool {
    let margin = TTL_MARGIN_MS + late_ms;
    keys_of(args).iter().any(|k| {
        state
            .get(k)
            .and_then(|i| i.deadline)
            .is_some_and(|d| d + margin > at_ms && d < at_ms + margin + SHORT_TTL_MS * 4)
    })
}

/// The server's data for the key universe, as the model would hold it.
/// Keys within the TTL margin of `now` are left out (either is right).
fn read_state(raw: &mut Raw, model_keys: &[String]) -> Result<State, String> {
    let mut state = State::new();
    for k in model_keys {
        let t = raw.cmd(&["TYPE", k]);
        let val = match t.trim_end() {
            "+none" => continue,
            "+string" => Val::Str(bulk_str(&raw.cmd(&["GET", k]))?),
            "+list" => Val::List(array(&raw.cmd(&["LRANGE", k, "0", "-1"]))?),
            "+set" => Val::Set(array(&raw.cmd(&["SMEMBERS", k]))?.into_iter().collect()),
            "+hash" => {
                let flat = array(&raw.cmd(&["HGETALL", k]))?;
                Val::Hash(
                    flat.chunks(2)
                        .map(|p| (p[0].clone(), p[1].clone()))
                        .collect(),
                )
            }
            "+zset" => {
                let flat = array(&raw.cmd(&["ZRANGE", k, "0", "-1", "WITHSCORES"]))?;
                Val::ZSet(
                    flat.chunks(2)
                        .map(|p| (p[0].clone(), p[1].parse().unwrap_or(i64::MIN)))
                        .collect(),
                )
            }
            other => return Err(format!("TYPE {k}: {other:?}")),
        };
        // The server's own deadline: `now + PTTL` would be late by the
        // reply's latency, which a loaded machine makes long.
        let at: i64 = raw
            .cmd(&["PEXPIRETIME", k])
            .trim_start_matches(':')
            .trim_end()
            .parse()
            .map_err(|_| format!("PEXPIRETIME {k}: not a number"))?;
        // -2: the key expired while it was read (seeds 1900466, 2000249
        // took it for a key without a deadline, and later missed it).
        if at == -2 {
            continue;
        }
        let deadline = (at >= 0).then_some(at as u64);
        state.insert(k.clone(), Item { val, deadline });
    }
    Ok(state)
}

fn bulk_str(reply: &str) -> Result<String, String> {
    let (_, rest) = reply
        .split_once("\r\n")
        .ok_or_else(|| format!("not a bulk string: {reply:?}"))?;
    Ok(rest.trim_end_matches("\r\n").to_string())
}

fn array(reply: &str) -> Result<Vec<String>, String> {
    let mut lines = reply.split("\r\n");
    let head = lines.next().unwrap_or("");
    if !head.starts_with('*') {
        return Err(format!("not an array: {reply:?}"));
    }
    let mut out = Vec::new();
    while let Some(l) = lines.next() {
        if l.starts_with('$') {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    Ok(out)
}

/// Whether `got` (read at `read_ms`) is `want`, on the keys `on` accepts:
/// a deadline may differ by the time the reads took; a key whose deadline
/// is within the margin of the read may be there or not.
fn same_state(want: &State, got: &State, read_ms: (u64, u64), on: &dyn Fn(&str) -> bool) -> bool {
    let keys: BTreeSet<&String> = want.keys().chain(got.keys()).filter(|k| on(k)).collect();
    keys.into_iter().all(|k| {
        let w = want
            .get(k)
            .filter(|i| i.deadline.is_none_or(|d| d + TTL_MARGIN_MS > read_ms.0));
        let close = want
            .get(k)
            .and_then(|i| i.deadline)
            .is_some_and(|d| d + TTL_MARGIN_MS > read_ms.0 && d < read_ms.1 + TTL_MARGIN_MS);
        match (w, got.get(k)) {
            _ if close => true,
            (None, None) => true,
            (Some(w), Some(g)) => {
                w.val == g.val
                    && match (w.deadline, g.deadline) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.abs_diff(b) < 2_000 + read_ms.1 - read_ms.0,
                        _ => false,
                    }
            }
            _ => false,
        }
    })
}

fn run_seed(seed: u64, totals: &mut Totals) -> Result<(), String> {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..4 {
        xorshift(&mut rng);
    }
    let policy = *pick(&mut rng, &["always", "always", "everysec"]);
    let preamble = *pick(&mut rng, &["yes", "no"]);
    let mut shards = 1 + (xorshift(&mut rng) % 3) as usize;
    let fail = *pick(&mut rng, &[0u64, 0, 400, 2000]);
    let flags = [
        "--appendonly",
        "yes",
        "--appendfsync",
        policy,
        "--save",
        "",
        "--set",
        &format!("aof-use-rdb-preamble={preamble}"),
    ];
    let mut server = Server::with(shards, &flags);
    let journal = server
        .dir()
        .parent()
        .expect("data dir has a parent")
        .join(format!("simdisk-{}-{seed}.journal", std::process::id()));
    let keys: Vec<String> = TYPES
        .iter()
        .flat_map(|t| (0..KEYS_PER_TYPE).map(move |i| format!("{t}:{i}")))
        .collect();
    let mut state = State::new();
    let mut boot = seed * 1000;
    let cycles = 2 + xorshift(&mut rng) % 4;
    let what = format!("{policy}, preamble {preamble}, fail 1/{fail}");
    let trace = std::env::var_os("RINGCACHE_SIMDISK_TRACE").is_some();
    for cycle in 0..cycles {
        // Start on the simulated disk. A start whose writes fail exits
        // with the error (as Redis does when it cannot open its AOF); the
        // disk is then what that crash left, and the next start must work.
        // A start does a few hundred writes and syncs: at a high fault rate
        // several in a row can fail by chance (seeds 600058, 700050), so the
        // last attempt injects none; what the failed ones left is still
        // what it must recover.
        server.kill9();
        let _ = std::fs::remove_file(&journal);
        for attempt in 0.. {
            let disk_seed = xorshift(&mut rng);
            let fail = if attempt == START_ATTEMPTS - 1 {
                0
            } else {
                fail
            };
            server.set_env(&[
                (
                    faults::ENV,
                    &format!("journal={},seed={disk_seed},fail={fail}", journal.display()),
                ),
                (BOOT_ENV, &boot_id(boot)),
            ]);
            let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                server.start_again();
            }));
            if started.is_ok() {
                break;
            }
            let log = server.log_text();
            if attempt == START_ATTEMPTS - 1 || !log.contains("(os error") {
                return Err(format!(
                    "[{what}] cycle {cycle}: no start on the simulated disk; log:\n{}",
                    tail(&log, 30)
                ));
            }
            totals.failed_starts += 1;
            server.kill9();
            faults::power_cut(&journal, xorshift(&mut rng))?;
        }
        let mut raw = server.raw();
        let at_start = state.clone();
        let mut history: Vec<Step> = Vec::new();
        // The longest a command took to answer in this cycle so far.
        let mut late_ms = 0;
        let ops = 20 + xorshift(&mut rng) % 600;
        let in_flight = xorshift(&mut rng).is_multiple_of(3);
        let mut i = 0;
        while i < ops {
            let args = random_command(&mut rng);
            if near_deadline(&state, &args, now_ms(), late_ms) {
                continue;
            }
            i += 1;
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let sent_ms = now_ms();
            if i == ops && in_flight {
                raw.send(&common::encode(&refs));
                std::thread::sleep(Duration::from_micros(xorshift(&mut rng) % 3000));
                history.push(Step {
                    args,
                    outcome: Outcome::InFlight,
                    sent_ms,
                    acked_ms: u64::MAX,
                });
                totals.in_flight_kills += 1;
                break;
            }
            if trace {
                eprintln!("cycle {cycle} command {i}: {}", args.join(" "));
            }
            note_sent(format!("cycle {cycle} command {i}: {}", args.join(" ")));
            SERVER_PID.with(|p| p.set(server.pid()));
            let reply = raw.cmd(&refs);
            let acked_ms = now_ms();
            late_ms = late_ms.max(acked_ms - sent_ms);
            if trace {
                eprintln!("  -> {reply:?}");
            }
            totals.commands += 1;
            let outcome = if reply.starts_with('-') && !reply.starts_with("-ERR no such key") {
                if !keys_of(&args).is_empty() {
                    totals.refused_writes += 1;
                }
                Outcome::Refused
            } else {
                Outcome::Acked
            };
            if outcome == Outcome::Acked {
                let expected = apply(&mut state, &args, sent_ms);
                if let Some(e) = expected {
                    if e != reply {
                        return Err(format!(
                            "[{what}] cycle {cycle}, command {i} {args:?}: replied {reply:?}, the model says {e:?}"
                        ));
                    }
                }
            } else if !reply.starts_with("-MISCONF") && !reply.starts_with("-ERR Background") {
                return Err(format!(
                    "[{what}] cycle {cycle}, command {i} {args:?}: unexpected error {reply:?}"
                ));
            }
            history.push(Step {
                args,
                outcome,
                sent_ms,
                acked_ms,
            });
            if xorshift(&mut rng).is_multiple_of(40) {
                // Let checkpoints and syncs run.
                std::thread::sleep(Duration::from_millis(xorshift(&mut rng) % 300));
            }
        }
        // The crash, and what the disk kept.
        server.kill9();
        totals.crashes += 1;
        let cut = faults::power_cut(&journal, xorshift(&mut rng))?;
        totals.unsynced_writes += cut.unsynced as u64;
        totals.torn_writes += cut.torn as u64;
        totals.lost_writes += cut.lost as u64;
        let old_shards = shards;
        if xorshift(&mut rng).is_multiple_of(4) {
            shards = 1 + (xorshift(&mut rng) % 3) as usize;
            totals.reshards += 1;
        }
        // What the disk held at the restart, for a failure to show.
        let before_restart = std::env::var_os("RINGCACHE_SIMDISK_KEEP").map(|d| {
            let d = std::path::PathBuf::from(d).join(format!("seed-{seed}-cycle-{cycle}"));
            let _ = std::fs::remove_dir_all(&d);
            let _ = std::process::Command::new("cp")
                .arg("-a")
                .arg(server.dir())
                .arg(&d)
                .status();
            d
        });
        let _ = &before_restart;
        // Downtime: short TTLs pass meanwhile.
        std::thread::sleep(Duration::from_millis(xorshift(&mut rng) % 200));
        // A power cut is a reboot; keeping every write is what a killed
        // process leaves, in the same boot.
        if !cut.kept_all {
            boot += 1;
        }
        server.set_env(&[(BOOT_ENV, &boot_id(boot))]);
        server.shards = shards;
        let restarted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            server.start_again();
        }));
        if let Err(p) = restarted {
            // The panic says why (a hung start carries its threads' stacks).
            let why = p
                .downcast_ref::<String>()
                .map(|s| tail(s, 400))
                .unwrap_or_default();
            return Err(format!(
                "[{what}] cycle {cycle}: the server did not come back after the power cut ({cut:?}): {why}"
            ));
        }
        let mut raw = server.raw();
        let read_from = now_ms();
        let got = read_state(&mut raw, &keys)?;
        let read_ms = (read_from, now_ms());
        state = match_prefix(
            &at_start,
            &history,
            &got,
            read_ms,
            if cut.kept_all { "killed" } else { policy },
            old_shards,
            &cut.last_sync_started_us,
            server.dir(),
        )
        .map_err(|e| {
            // The cycle's commands, so that a state no prefix explains can
            // be read against the log (seed 2100024 had only the diffs).
            let steps: Vec<String> = history
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let when = (s.sent_ms, s.acked_ms);
                    format!("{} {:?} {:?} {when:?}", i + 1, s.outcome, s.args)
                })
                .collect();
            format!(
                "[{what}] cycle {cycle}: {e}\nthe cycle's commands:\n{}\nserver log:\n{}",
                steps.join("\n"),
                tail(&server.log_text(), 60)
            )
        })?;
    }
    let _ = std::fs::remove_file(&journal);
    Ok(())
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Finds the prefix of `history` (run from `start`) whose state the
/// server holds (`got`). Every acknowledged command must be in it under
/// `always`; under `everysec`, those acknowledged before their shard's
/// last completed sync.
#[allow(clippy::too_many_arguments)]
fn match_prefix(
    start: &State,
    history: &[Step],
    got: &State,
    read_ms: (u64, u64),
    policy: &str,
    shards: usize,
    synced: &HashMap<std::path::PathBuf, u64>,
    dir: &Path,
) -> Result<State, String> {
    let acked = history
        .iter()
        .filter(|s| s.outcome != Outcome::InFlight)
        .count();
    // Per shard, the shortest prefix the rules allow: under `everysec`,
    // up to the last command acknowledged before the shard's last completed
    // sync started.
    let mut synced_ms = vec![0u64; shards];
    for (path, us) in synced {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let sub = path.parent().and_then(|p| p.file_name());
        let sub = sub.map(|n| n.to_string_lossy().into_owned());
        if let (Some(name), Some(sub), true) = (name, sub, path.starts_with(dir)) {
            if let Some((FileKind::Segment, shard, _)) = parse_name(&sub, &name) {
                if shard < shards {
                    synced_ms[shard] = synced_ms[shard].max(us / 1000);
                }
            }
        }
    }
    // Under `everysec`, after a power cut, the shards are cut at one
    // moment that every shard's log reaches (docs/aof.md): what was
    // acknowledged before every shard's last sync started is kept. A killed
    // process (or `always`) keeps every acknowledged write.
    let everyone_synced = synced_ms.iter().copied().min().unwrap_or(0);
    let must = if policy == "everysec" {
        history
            .iter()
            .rposition(|s| s.outcome == Outcome::Acked && s.acked_ms < everyone_synced)
            .map_or(0, |i| i + 1)
    } else {
        acked
    };
    // Per shard (of the shard count the history ran with), the prefixes
    // whose state that shard holds.
    let on = |k: &str, sh: usize| shard_of(k, shards) == sh;
    let mut fits: Vec<Vec<usize>> = vec![Vec::new(); shards];
    let mut state = start.clone();
    for j in 0..=history.len() {
        for (sh, f) in fits.iter_mut().enumerate() {
            if j >= must && same_state(&state, got, read_ms, &|k| on(k, sh)) {
                f.push(j);
            }
        }
        if j < history.len() {
            let step = &history[j];
            if step.outcome != Outcome::Refused {
                apply(&mut state, &step.args, step.sent_ms);
            }
        }
    }
    let common = (0..=history.len()).find(|j| fits.iter().all(|f| f.contains(j)));
    if common.is_some() {
        return Ok(got.clone());
    }
    // Explain: the first keys where the server differs from the full
    // history's state, and from the start (a key whose deadline passed by
    // the read counts as gone there: compare with `read_ms`).
    let differences = |model: &State, when: &str| -> Vec<String> {
        model
            .keys()
            .chain(got.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| model.get(*k) != got.get(*k))
            .take(6)
            .map(|k| {
                format!(
                    "{k}: model {when} {:?}, server {:?}",
                    model.get(k),
                    got.get(k)
                )
            })
            .collect()
    };
    let (diff, from_start) = (
        differences(&state, "after all"),
        differences(start, "at the start"),
    );
    Err(format!(
        "the recovered state is no prefix of the history that holds, per shard, its first {must} commands ({} commands, {acked} answered, policy {policy}, {shards} shards); per shard, the prefixes it holds: {fits:?}; differences from the whole history: {diff:?}; from the start (read at {read_ms:?}): {from_start:?}\nhistory: {:?}",
        history.len(),
        history.iter().map(|s| (s.args.join(" "), format!("{:?}", s.outcome))).collect::<Vec<_>>()
    ))
}
