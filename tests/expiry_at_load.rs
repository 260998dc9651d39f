//! Keys whose deadline passes while the server is down: loading (snapshot,
//! log, re-sharding) never expires anything, so later records of such a key
//! replay as they ran; once loaded, the ordinary expiry paths remove the key
//! and log its removal (issue 16, item 1).

mod common;

use common::{q, Server};
use std::time::Duration;

const AOF_ALWAYS: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
];
const AOF_EVERYSEC: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "",
];
const AOF_ONLY_ALWAYS: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--aof-use-rdb-preamble",
    "no",
    "--save",
    "",
];

/// Every log segment and log base of the data directory, concatenated.
fn all_log_bytes(server: &Server) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(dir) = std::fs::read_dir(server.dir().join("aof")) {
        for e in dir.flatten() {
            bytes.extend(std::fs::read(e.path()).unwrap_or_default());
        }
    }
    bytes
}

/// Whether the log holds a `DEL key` record (the argument part of its
/// payload: argc 2, "DEL", the key).
fn log_has_del(server: &Server, key: &str) -> bool {
    let mut needle = Vec::new();
    needle.extend_from_slice(&2u32.to_le_bytes());
    needle.extend_from_slice(&3u32.to_le_bytes());
    needle.extend_from_slice(b"DEL");
    needle.extend_from_slice(&(key.len() as u32).to_le_bytes());
    needle.extend_from_slice(key.as_bytes());
    all_log_bytes(server)
        .windows(needle.len())
        .any(|w| w == needle.as_slice())
}

/// The reproduction: a list given a TTL then changed with LSET, a
/// counter set with EX then INCR'd; killed, restarted after the TTLs passed.
#[test]
fn a_restart_after_the_ttls_passed_replays_and_then_expires() {
    let mut server = Server::with(2, AOF_ALWAYS);
    let mut con = server.con();
    let _: i64 = q(&mut con, &["RPUSH", "l", "a"]);
    let _: i64 = q(&mut con, &["PEXPIRE", "l", "1500"]);
    let _: String = q(&mut con, &["LSET", "l", "0", "b"]);
    let _: String = q(&mut con, &["SET", "k", "5", "PX", "1500"]);
    let _: i64 = q(&mut con, &["INCR", "k"]);
    // A key whose TTL has not passed keeps it.
    let _: String = q(&mut con, &["SET", "later", "x", "EX", "3600"]);
    let _: i64 = q(&mut con, &["INCR", "c"]);
    server.kill9();
    std::thread::sleep(Duration::from_millis(1700));
    server.start_again();
    let mut con = server.con();
    let l: i64 = q(&mut con, &["EXISTS", "l"]);
    let k: Option<String> = q(&mut con, &["GET", "k"]);
    assert_eq!((l, k), (0, None), "expired keys came back");
    let ttl: i64 = q(&mut con, &["TTL", "later"]);
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");
    let c: i64 = q(&mut con, &["GET", "c"]);
    assert_eq!(c, 1);
    // Their removal was logged, as any expiry: a second restart keeps them
    // gone, and the log says why.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !(log_has_del(&server, "k") && log_has_del(&server, "l")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the expiries were not logged as DEL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9_and_restart();
    let mut con = server.con();
    let n: i64 = q(&mut con, &["EXISTS", "l", "k"]);
    assert_eq!(n, 0);
}

/// Sets `key` with a TTL of `ttl_ms` through one of the command families,
/// then changes it with a command that keeps the TTL (or recreates the key
/// without one if the key was found gone).
fn set_then_change(con: &mut redis::Connection, family: usize, key: &str, ttl_ms: u64) {
    let ttl = ttl_ms.to_string();
    match family % 6 {
        0 => {
            let _: String = q(con, &["SET", key, "5", "PX", &ttl]);
            let _: i64 = q(con, &["INCR", key]);
        }
        1 => {
            let _: String = q(con, &["SET", key, "ab", "PX", &ttl]);
            let _: i64 = q(con, &["APPEND", key, "cd"]);
        }
        2 => {
            let _: i64 = q(con, &["LPUSH", key, "a"]);
            let _: i64 = q(con, &["PEXPIRE", key, &ttl]);
            let _: i64 = q(con, &["LPUSH", key, "b"]);
        }
        3 => {
            let _: i64 = q(con, &["HSET", key, "f", "1"]);
            let _: i64 = q(con, &["PEXPIRE", key, &ttl]);
            let _: i64 = q(con, &["HSET", key, "g", "2"]);
        }
        4 => {
            let _: i64 = q(con, &["SADD", key, "a"]);
            let _: i64 = q(con, &["PEXPIRE", key, &ttl]);
            let _: i64 = q(con, &["SADD", key, "b"]);
        }
        _ => {
            let _: i64 = q(con, &["RPUSH", key, "a"]);
            let _: i64 = q(con, &["PEXPIRE", key, &ttl]);
            let _: String = q(con, &["LSET", key, "0", "b"]);
        }
    }
}

#[test]
fn each_family_changed_after_its_ttl_stays_expired_after_a_restart() {
    let mut server = Server::with(2, AOF_ALWAYS);
    let mut con = server.con();
    for family in 0..6 {
        set_then_change(&mut con, family, &format!("short{family}"), 1000);
        set_then_change(&mut con, family, &format!("long{family}"), 3_600_000);
    }
    server.kill9();
    std::thread::sleep(Duration::from_millis(1200));
    server.start_again();
    let mut con = server.con();
    for family in 0..6 {
        let short = format!("short{family}");
        let t: String = q(&mut con, &["TYPE", &short]);
        assert_eq!(t, "none", "{short} came back (family {family})");
        let long = format!("long{family}");
        let ttl: i64 = q(&mut con, &["PTTL", &long]);
        assert!(ttl > 3_500_000, "{long}: PTTL {ttl}");
    }
}

/// How a kill -9 loop runs.
struct Plan {
    flags: &'static [&'static str],
    /// The shard count of each run, in turn (a change re-shards).
    shards: &'static [usize],
    /// Take a snapshot halfway through each run's writes (the hybrid).
    snapshot: bool,
    /// Wait this long before the kill, so that an `everysec` log is durable.
    settle: Duration,
}

const SHORT_TTL_MS: u64 = 600;
const KEYS_PER_RUN: usize = 24;

/// Each run writes keys without a TTL, keys whose TTL passes while the
/// server is down and keys with a long TTL (every family), is killed, and
/// the next run starts after the short TTLs passed. Every run checks every
/// earlier run's keys: present, gone, or present with their TTL.
fn kill_loop_with_passing_ttls(plan: Plan) {
    let runs = plan.shards.len();
    let mut server = Server::with(plan.shards[0], plan.flags);
    for run in 0..runs {
        let mut con = server.con();
        for i in 0..KEYS_PER_RUN {
            if plan.snapshot && i == KEYS_PER_RUN / 2 {
                let _: String = q(&mut con, &["SAVE"]);
            }
            let _: String = q(
                &mut con,
                &["SET", &format!("r{run}:plain:{i}"), &i.to_string()],
            );
            set_then_change(&mut con, i, &format!("r{run}:short:{i}"), SHORT_TTL_MS);
            set_then_change(&mut con, i, &format!("r{run}:long:{i}"), 3_600_000);
        }
        std::thread::sleep(plan.settle);
        server.kill9();
        std::thread::sleep(Duration::from_millis(SHORT_TTL_MS + 200));
        let next = plan.shards[(run + 1) % runs];
        server.restart_with(next, plan.flags);
        let mut con = server.con();
        for earlier in 0..=run {
            for i in 0..KEYS_PER_RUN {
                let plain: Option<usize> = q(&mut con, &["GET", &format!("r{earlier}:plain:{i}")]);
                assert_eq!(plain, Some(i), "run {run}: r{earlier}:plain:{i}");
                let short = format!("r{earlier}:short:{i}");
                let t: String = q(&mut con, &["TYPE", &short]);
                assert_eq!(t, "none", "run {run}: {short} came back");
                let long = format!("r{earlier}:long:{i}");
                let ttl: i64 = q(&mut con, &["PTTL", &long]);
                assert!(ttl > 3_000_000, "run {run}: {long}: PTTL {ttl}");
            }
        }
    }
}

#[test]
fn kill_loop_always_two_shards() {
    kill_loop_with_passing_ttls(Plan {
        flags: AOF_ALWAYS,
        shards: &[2, 2, 2],
        snapshot: false,
        settle: Duration::ZERO,
    });
}

#[test]
fn kill_loop_everysec_two_shards() {
    kill_loop_with_passing_ttls(Plan {
        flags: AOF_EVERYSEC,
        shards: &[2, 2, 2],
        snapshot: false,
        settle: Duration::from_millis(2200),
    });
}

#[test]
fn kill_loop_hybrid_snapshot_then_log() {
    kill_loop_with_passing_ttls(Plan {
        flags: AOF_ALWAYS,
        shards: &[2, 2, 2],
        snapshot: true,
        settle: Duration::ZERO,
    });
}

#[test]
fn kill_loop_aof_only_with_log_base() {
    kill_loop_with_passing_ttls(Plan {
        flags: AOF_ONLY_ALWAYS,
        shards: &[2, 2],
        snapshot: true,
        settle: Duration::ZERO,
    });
}

#[test]
fn kill_loop_with_a_reshard_between_runs() {
    kill_loop_with_passing_ttls(Plan {
        flags: AOF_ALWAYS,
        shards: &[2, 1, 2, 1],
        snapshot: true,
        settle: Duration::ZERO,
    });
}
