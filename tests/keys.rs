//! Generic key commands against the real binary: DEL/EXISTS/TOUCH/TYPE, the
//! EXPIRE family with NX/XX/GT/LT, TTL reads, PERSIST, KEYS, SCAN, RANDOMKEY,
//! RENAME, and expiry (lazy on access, and the active cycle that removes keys
//! nobody touches).

mod common;

use common::{info_field, q, q_err, Server};
use redis::{Connection, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn ttl(con: &mut Connection, key: &str) -> i64 {
    q(con, &["TTL", key])
}

fn set(con: &mut Connection, key: &str, value: &str) {
    assert_eq!(q::<String>(con, &["SET", key, value]), "OK");
}

/// Every key a full SCAN returns, with the extra arguments (MATCH, COUNT...),
/// as a list (duplicates kept, so callers can check for them).
fn scan_all(con: &mut Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", &cursor];
        args.extend_from_slice(extra);
        let (next, batch): (String, Vec<String>) = q(con, &args);
        keys.extend(batch);
        calls += 1;
        assert!(calls < 1_000_000, "SCAN does not terminate");
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

#[test]
fn del_unlink_exists_touch_type() {
    let s = Server::start();
    let mut con = s.con();
    for k in ["a", "b", "c", "d"] {
        set(&mut con, k, "v");
    }
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "a"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "nokey"]), 0);
    // A key named twice counts twice.
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "a", "a", "b", "nokey"]), 3);
    assert_eq!(q::<i64>(&mut con, &["TOUCH", "a", "a", "nokey"]), 2);
    assert_eq!(q::<String>(&mut con, &["TYPE", "a"]), "string");
    assert_eq!(q::<String>(&mut con, &["TYPE", "nokey"]), "none");
    assert_eq!(q::<i64>(&mut con, &["DEL", "a", "b", "nokey"]), 2);
    assert_eq!(q::<i64>(&mut con, &["DEL", "a"]), 0);
    // Deleting the same key twice in one call counts it once.
    assert_eq!(q::<i64>(&mut con, &["UNLINK", "c", "c"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "a", "b", "c", "d"]), 1);
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 1);
    for cmd in ["del", "unlink", "exists", "touch", "type"] {
        assert_eq!(
            q_err(&mut con, &[cmd]),
            format!("ERR wrong number of arguments for '{cmd}' command")
        );
    }
}

#[test]
fn expire_pexpire_ttl_pttl() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "nokey", "100"]), 0);
    assert_eq!(ttl(&mut con, "nokey"), -2);
    assert_eq!(q::<i64>(&mut con, &["PTTL", "nokey"]), -2);
    set(&mut con, "k", "v");
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(q::<i64>(&mut con, &["PTTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(ttl(&mut con, "k"), 100);
    let p: i64 = q(&mut con, &["PTTL", "k"]);
    assert!((99_000..=100_000).contains(&p), "PTTL {p}");
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "k", "5500"]), 1);
    // TTL rounds to the nearest second.
    let t = ttl(&mut con, "k");
    assert!(t == 5 || t == 6, "TTL {t}");
    let p: i64 = q(&mut con, &["PTTL", "k"]);
    assert!((5_000..=5_500).contains(&p), "PTTL {p}");
    // A zero or negative time deletes the key, and counts as done.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "0"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    set(&mut con, "k", "v");
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "k", "-1000"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);

    set(&mut con, "k", "v");
    for (args, msg) in [
        (
            &["EXPIRE", "k", "abc"][..],
            "ERR value is not an integer or out of range",
        ),
        (
            &["EXPIRE", "k", "1.5"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["EXPIRE", "k", "9223372036854775807"],
            "ERR invalid expire time in 'expire' command",
        ),
        (
            &["PEXPIRE", "k", "9223372036854775807"],
            "ERR invalid expire time in 'pexpire' command",
        ),
        (
            &["EXPIREAT", "k", "9223372036854775807"],
            "ERR invalid expire time in 'expireat' command",
        ),
        (
            &["EXPIRE", "k"],
            "ERR wrong number of arguments for 'expire' command",
        ),
        (&["TTL"], "ERR wrong number of arguments for 'ttl' command"),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
    assert_eq!(ttl(&mut con, "k"), -1);
}

#[test]
fn expireat_pexpireat_expiretime() {
    let s = Server::start();
    let mut con = s.con();
    set(&mut con, "k", "v");
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "nokey"]), -2);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "nokey"]), -2);
    let at = now_ms() / 1000 + 1000;
    assert_eq!(q::<i64>(&mut con, &["EXPIREAT", "k", &at.to_string()]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "k"]), at);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "k"]), at * 1000);
    let t = ttl(&mut con, "k");
    assert!((998..=1000).contains(&t), "TTL {t}");
    let pat = now_ms() + 2_000_000;
    assert_eq!(q::<i64>(&mut con, &["PEXPIREAT", "k", &pat.to_string()]), 1);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "k"]), pat);
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "k"]), pat / 1000);
    // The largest time there is, in ms, is accepted.
    assert_eq!(
        q::<i64>(&mut con, &["PEXPIREAT", "k", "9223372036854775807"]),
        1
    );
    assert_eq!(
        q::<i64>(&mut con, &["PEXPIRETIME", "k"]),
        9223372036854775807
    );
    // In the past: deleted.
    assert_eq!(q::<i64>(&mut con, &["EXPIREAT", "k", "1"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIREAT", "k", &at.to_string()]), 0);
}

#[test]
fn expire_nx_xx_gt_lt() {
    let s = Server::start();
    let mut con = s.con();
    set(&mut con, "k", "v");
    // No TTL yet: XX and GT refuse (no TTL counts as infinite), NX and LT set.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100", "xx", "gt"]), 0);
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100", "LT"]), 1);
    assert_eq!(ttl(&mut con, "k"), 100);
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(ttl(&mut con, "k"), 100);
    // With a TTL of 100.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "200", "GT"]), 1);
    assert_eq!(ttl(&mut con, "k"), 200);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "300", "LT"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "50", "LT"]), 1);
    assert_eq!(ttl(&mut con, "k"), 50);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "60", "XX"]), 1);
    assert_eq!(ttl(&mut con, "k"), 60);
    assert_eq!(
        q::<i64>(&mut con, &["PEXPIRE", "k", "70000", "XX", "GT"]),
        1
    );
    assert_eq!(ttl(&mut con, "k"), 70);
    let later = (now_ms() / 1000 + 1000).to_string();
    assert_eq!(q::<i64>(&mut con, &["EXPIREAT", "k", &later, "LT"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIREAT", "k", &later, "GT"]), 1);
    // LT with a negative time on a key without TTL deletes it.
    set(&mut con, "n", "v");
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "n", "-5", "LT"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "n"]), 0);
    // Missing key: 0 whatever the flags.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "nokey", "10", "NX"]), 0);

    for (args, msg) in [
        (
            &["EXPIRE", "k", "100", "NX", "XX"][..],
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ),
        (
            &["EXPIRE", "k", "100", "NX", "GT"],
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ),
        (
            &["PEXPIRE", "k", "100", "GT", "LT"],
            "ERR GT and LT options at the same time are not compatible",
        ),
        (&["EXPIRE", "k", "100", "foo"], "ERR Unsupported option foo"),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
}

#[test]
fn persist() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "nokey"]), 0);
    set(&mut con, "k", "v");
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "k"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(q::<i64>(&mut con, &["PERSIST", "k"]), 0);
    // Gone from the expiry index too: INFO keyspace no longer counts it.
    assert_eq!(
        info_field(&mut con, "keyspace", "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
}

#[test]
fn keys_patterns() {
    let s = Server::start();
    let mut con = s.con();
    let none: Vec<String> = q(&mut con, &["KEYS", "*"]);
    assert!(none.is_empty());
    for k in [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "a*b", "a-b", "k1", "k2", "k10",
    ] {
        set(&mut con, k, "v");
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let keys = |con: &mut Connection, p: &str| sorted(q::<Vec<String>>(con, &["KEYS", p]));
    assert_eq!(keys(&mut con, "*").len(), 10);
    assert_eq!(keys(&mut con, "h?llo"), ["hallo", "hello", "hxllo"]);
    assert_eq!(
        keys(&mut con, "h*llo"),
        ["hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys(&mut con, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut con, "h[^e]llo"), ["hallo", "hxllo"]);
    assert_eq!(keys(&mut con, "h[a-b]llo"), ["hallo"]);
    assert_eq!(keys(&mut con, "a\\*b"), ["a*b"]);
    assert_eq!(keys(&mut con, "k?"), ["k1", "k2"]);
    assert_eq!(keys(&mut con, "nomatch*"), Vec::<String>::new());
    // Expired keys are not listed.
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "k10", "1"]), 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(keys(&mut con, "k*"), ["k1", "k2"]);
}

#[test]
fn scan_match_count_type() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q::<(String, Vec<String>)>(&mut con, &["SCAN", "0"]),
        ("0".to_string(), Vec::new())
    );
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET").arg(format!("user:{i}")).arg(i).ignore();
        pipe.cmd("SET").arg(format!("item:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let all = scan_all(&mut con, &[]);
    assert_eq!(all.len(), 1000);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 1000);
    let users = scan_all(&mut con, &["MATCH", "user:*", "COUNT", "50"]);
    assert_eq!(users.len(), 500);
    assert!(users.iter().all(|k| k.starts_with("user:")));
    let few = scan_all(&mut con, &["MATCH", "item:1?"]);
    let mut few_sorted = few.clone();
    few_sorted.sort();
    let want: Vec<String> = (10..20).map(|i| format!("item:{i}")).collect();
    assert_eq!(few_sorted, want);
    assert_eq!(scan_all(&mut con, &["TYPE", "string"]).len(), 1000);
    assert_eq!(
        scan_all(&mut con, &["TYPE", "STRING", "COUNT", "1000"]).len(),
        1000
    );
    assert!(scan_all(&mut con, &["TYPE", "list"]).is_empty());
    assert_eq!(
        scan_all(
            &mut con,
            &["COUNT", "7", "MATCH", "*:42*", "TYPE", "string"]
        )
        .len(),
        22
    );

    for (args, msg) in [
        (&["SCAN", "abc"][..], "ERR invalid cursor"),
        (&["SCAN", "18446744073709551616"], "ERR invalid cursor"),
        (&["SCAN", "0", "COUNT", "0"], "ERR syntax error"),
        (
            &["SCAN", "0", "COUNT", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (&["SCAN", "0", "MATCH"], "ERR syntax error"),
        (&["SCAN", "0", "FOO", "bar"], "ERR syntax error"),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
    // The largest cursor is valid: the scan is over.
    let (next, _): (String, Vec<String>) = q(&mut con, &["SCAN", "18446744073709551615"]);
    assert_eq!(next, "0");
}

#[test]
fn randomkey() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<Value>(&mut con, &["RANDOMKEY"]), Value::Nil);
    set(&mut con, "only", "v");
    for _ in 0..20 {
        assert_eq!(q::<String>(&mut con, &["RANDOMKEY"]), "only");
    }
    // One key on each shard: both come up.
    let other = common::keys_on("rk", 1 - common::shard_of("only", 2), 2, 1);
    set(&mut con, &other[0], "v");
    let mut seen = HashSet::new();
    for _ in 0..200 {
        seen.insert(q::<String>(&mut con, &["RANDOMKEY"]));
    }
    assert_eq!(seen, HashSet::from(["only".to_string(), other[0].clone()]));
    // Expired keys are never returned.
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "only", "1"]), 1);
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..50 {
        assert_eq!(q::<String>(&mut con, &["RANDOMKEY"]), other[0]);
    }
    assert_eq!(q::<i64>(&mut con, &["DEL", &other[0]]), 1);
    assert_eq!(q::<Value>(&mut con, &["RANDOMKEY"]), Value::Nil);
}

#[test]
fn rename_renamenx() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q_err(&mut con, &["RENAME", "nokey", "x"]),
        "ERR no such key"
    );
    assert_eq!(
        q_err(&mut con, &["RENAMENX", "nokey", "x"]),
        "ERR no such key"
    );
    set(&mut con, "{t}a", "1");
    assert_eq!(q::<String>(&mut con, &["RENAME", "{t}a", "{t}a"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["RENAMENX", "{t}a", "{t}a"]), 0);
    // Same shard (one hash tag): moves the value and the TTL.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "{t}a", "100"]), 1);
    assert_eq!(q::<String>(&mut con, &["RENAME", "{t}a", "{t}b"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "{t}a"]), 0);
    assert_eq!(q::<String>(&mut con, &["GET", "{t}b"]), "1");
    assert_eq!(ttl(&mut con, "{t}b"), 100);
    // Over an existing key: replaced, its TTL too.
    set(&mut con, "{t}c", "2");
    assert_eq!(q::<String>(&mut con, &["RENAME", "{t}c", "{t}b"]), "OK");
    assert_eq!(q::<String>(&mut con, &["GET", "{t}b"]), "2");
    assert_eq!(ttl(&mut con, "{t}b"), -1);
    set(&mut con, "{t}d", "3");
    assert_eq!(q::<i64>(&mut con, &["RENAMENX", "{t}d", "{t}b"]), 0);
    assert_eq!(q::<String>(&mut con, &["GET", "{t}b"]), "2");
    assert_eq!(q::<String>(&mut con, &["GET", "{t}d"]), "3");
    assert_eq!(q::<i64>(&mut con, &["RENAMENX", "{t}d", "{t}e"]), 1);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "{t}d", "{t}e"]), 1);
    // An expired source is no key.
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "{t}e", "1"]), 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        q_err(&mut con, &["RENAME", "{t}e", "{t}f"]),
        "ERR no such key"
    );
    assert_eq!(
        q_err(&mut con, &["RENAME", "a"]),
        "ERR wrong number of arguments for 'rename' command"
    );
}

#[test]
fn lazy_expiry() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v", "PX", "50"]), "OK");
    assert_eq!(q::<String>(&mut con, &["GET", "k"]), "v");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(q::<Value>(&mut con, &["GET", "k"]), Value::Nil);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(ttl(&mut con, "k"), -2);
    // Each read path treats an expired key as missing.
    for (cmd, want) in [
        (&["STRLEN", "e"][..], Value::Int(0)),
        (&["TYPE", "e"], Value::SimpleString("none".into())),
        (&["GETDEL", "e"], Value::Nil),
        (&["INCR", "e"], Value::Int(1)),
    ] {
        assert_eq!(q::<String>(&mut con, &["SET", "e", "5", "PX", "20"]), "OK");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(q::<Value>(&mut con, cmd), want, "{cmd:?}");
    }
    // SET NX sees an expired key as absent.
    assert_eq!(
        q::<String>(&mut con, &["SET", "n", "old", "PX", "20"]),
        "OK"
    );
    std::thread::sleep(Duration::from_millis(40));
    assert_eq!(
        q::<Value>(&mut con, &["SET", "n", "new", "NX"]),
        Value::Okay
    );
    assert_eq!(q::<String>(&mut con, &["GET", "n"]), "new");
    assert_eq!(ttl(&mut con, "n"), -1);
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let s = Server::start();
    let mut con = s.con();
    let mut pipe = redis::pipe();
    for i in 0..1000 {
        pipe.cmd("SET")
            .arg(format!("gone:{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    // Some in another database, and keys that stay.
    for i in 0..100 {
        pipe.cmd("SET").arg(format!("stays:{i}")).arg("v").ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    let mut con3 = s.con_db(3);
    let mut pipe = redis::pipe();
    for i in 0..200 {
        pipe.cmd("SET")
            .arg(format!("gone3:{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    pipe.query::<()>(&mut con3).unwrap();
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 1100);
    // Without touching the keys: DBSIZE counts what is stored, so it only
    // drops if the server removed them by itself.
    let deadline = Instant::now() + Duration::from_millis(1500);
    std::thread::sleep(Duration::from_millis(1000));
    while q::<i64>(&mut con, &["DBSIZE"]) != 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 100);
    assert_eq!(q::<i64>(&mut con3, &["DBSIZE"]), 0);
    let expired: i64 = info_field(&mut con, "stats", "expired_keys")
        .expect("INFO stats has expired_keys")
        .parse()
        .unwrap();
    assert!(expired >= 1200, "expired_keys {expired}");
    assert_eq!(
        info_field(&mut con, "keyspace", "db0").as_deref(),
        Some("keys=100,expires=0,avg_ttl=0")
    );
    assert_eq!(info_field(&mut con, "keyspace", "db3"), None);
}

#[test]
fn generic_commands_on_every_type() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<String>(&mut con, &["SET", "str", "v"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["RPUSH", "list", "a"]), 1);
    assert_eq!(q::<i64>(&mut con, &["HSET", "hash", "f", "v"]), 1);
    assert_eq!(q::<i64>(&mut con, &["SADD", "set", "m"]), 1);
    assert_eq!(q::<i64>(&mut con, &["ZADD", "zset", "1", "m"]), 1);
    for (key, kind) in [
        ("str", "string"),
        ("list", "list"),
        ("hash", "hash"),
        ("set", "set"),
        ("zset", "zset"),
    ] {
        assert_eq!(q::<String>(&mut con, &["TYPE", key]), kind);
        assert_eq!(scan_all(&mut con, &["TYPE", kind]), [key]);
        assert_eq!(q::<i64>(&mut con, &["EXPIRE", key, "100"]), 1);
        assert_eq!(ttl(&mut con, key), 100);
        assert_eq!(q::<i64>(&mut con, &["PERSIST", key]), 1);
    }
    assert_eq!(
        q::<i64>(&mut con, &["EXISTS", "str", "list", "hash", "set", "zset"]),
        5
    );
    let mut keys: Vec<String> = q(&mut con, &["KEYS", "*"]);
    keys.sort();
    assert_eq!(keys, ["hash", "list", "set", "str", "zset"]);
    assert_eq!(q::<i64>(&mut con, &["PEXPIRE", "list", "1"]), 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(q::<String>(&mut con, &["TYPE", "list"]), "none");
    assert_eq!(
        q::<i64>(&mut con, &["DEL", "str", "list", "hash", "set", "zset"]),
        4
    );
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
}

/// OBJECT ENCODING names each value's form as Redis 7.0 does (sets: see
/// docs/collections.md); OBJECT HELP, and Redis's errors for the rest.
#[test]
fn object_encoding_names_each_form() {
    let s = Server::start();
    let c = &mut s.con();
    let enc =
        |c: &mut Connection, key: &str| -> Option<String> { q(c, &["OBJECT", "ENCODING", key]) };
    for (value, want) in [
        ("123", "int"),
        ("-9223372036854775808", "int"),
        ("9223372036854775808", "embstr"),
        ("0123", "embstr"),
        ("+1", "embstr"),
        (&"e".repeat(44)[..], "embstr"),
        (&"r".repeat(45)[..], "raw"),
    ] {
        set(c, "str", value);
        assert_eq!(enc(c, "str").as_deref(), Some(want), "{value}");
    }
    q::<i64>(c, &["RPUSH", "list", "a"]);
    assert_eq!(enc(c, "list").as_deref(), Some("quicklist"));

    q::<i64>(c, &["HSET", "hash", "f", "v"]);
    assert_eq!(enc(c, "hash").as_deref(), Some("listpack"));
    q::<i64>(c, &["HSET", "hash", "long", &"v".repeat(65)]);
    assert_eq!(enc(c, "hash").as_deref(), Some("hashtable"));
    // A field already there given a long value converts too (as Redis),
    // and the value comes back whole.
    q::<i64>(c, &["HSET", "hash2", "f", "v"]);
    q::<i64>(c, &["HSET", "hash2", "f", &"w".repeat(300)]);
    assert_eq!(enc(c, "hash2").as_deref(), Some("hashtable"));
    let back: String = q(c, &["HGET", "hash2", "f"]);
    assert_eq!(back, "w".repeat(300));

    q::<i64>(c, &["SADD", "set", "1", "-2", "30"]);
    assert_eq!(enc(c, "set").as_deref(), Some("intset"));
    q::<i64>(c, &["SADD", "set", "word"]);
    assert_eq!(enc(c, "set").as_deref(), Some("hashtable"));
    let mut many = redis::cmd("SADD");
    many.arg("set");
    for i in 0..200 {
        many.arg(i);
    }
    many.query::<i64>(c).unwrap();
    assert_eq!(enc(c, "set").as_deref(), Some("hashtable"));

    q::<i64>(c, &["ZADD", "zset", "1", "a"]);
    assert_eq!(enc(c, "zset").as_deref(), Some("listpack"));
    assert_eq!(enc(c, "missing"), None);

    let help: Vec<String> = q(c, &["OBJECT", "help"]);
    assert_eq!(
        help.first().map(String::as_str),
        Some("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    );
    assert!(help.iter().any(|l| l == "ENCODING <key>"), "{help:?}");
    assert_eq!(
        q_err(c, &["OBJECT", "nosuch", "str"]),
        "ERR unknown subcommand 'nosuch'. Try OBJECT HELP."
    );
    assert_eq!(
        q_err(c, &["OBJECT", "ENCODING"]),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
    assert_eq!(
        q_err(c, &["OBJECT"]),
        "ERR wrong number of arguments for 'object' command"
    );
}
