//! Hash commands through a real client (replies checked against Redis 7.0).

mod collections_common;
use collections_common::*;
use redis::Value as V;
use std::collections::HashMap;

#[test]
fn set_get_delete() {
    let s = Server::start();
    let c = &mut s.con();
    assert_eq!(q::<i64>(c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(q::<i64>(c, &["HSET", "h", "a", "3", "c", "4"]), 1);
    assert_eq!(q::<String>(c, &["HMSET", "h", "d", "5"]), "OK");
    assert_eq!(
        q_err(c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        q_err(c, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(q::<i64>(c, &["HSETNX", "h", "a", "9"]), 0);
    assert_eq!(q::<i64>(c, &["HSETNX", "h", "e", "9"]), 1);
    assert_eq!(q::<String>(c, &["HGET", "h", "a"]), "3");
    assert_eq!(raw(c, &["HGET", "h", "zz"]), Ok(V::Nil));
    assert_eq!(raw(c, &["HGET", "nokey", "a"]), Ok(V::Nil));
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["HMGET", "h", "a", "zz", "b"]),
        vec![Some("3".into()), None, Some("2".into())]
    );
    assert_eq!(q::<i64>(c, &["HLEN", "h"]), 5);
    assert_eq!(q::<i64>(c, &["HEXISTS", "h", "e"]), 1);
    assert_eq!(q::<i64>(c, &["HEXISTS", "h", "zz"]), 0);
    assert_eq!(q::<i64>(c, &["HSTRLEN", "h", "a"]), 1);
    assert_eq!(q::<i64>(c, &["HSTRLEN", "h", "zz"]), 0);
    assert_eq!(sorted(q(c, &["HKEYS", "h"])), ["a", "b", "c", "d", "e"]);
    assert_eq!(sorted(q(c, &["HVALS", "h"])), ["2", "3", "4", "5", "9"]);
    let all: HashMap<String, String> = q(c, &["HGETALL", "h"]);
    assert_eq!(all.len(), 5);
    assert_eq!(all["d"], "5");
    assert_eq!(q::<i64>(c, &["HDEL", "h", "a", "b", "zz"]), 2);
    assert_eq!(q::<i64>(c, &["HDEL", "h", "c", "d", "e"]), 3);
    assert_eq!(q::<i64>(c, &["EXISTS", "h"]), 0);
    assert_eq!(q::<Vec<String>>(c, &["HGETALL", "h"]), Vec::<String>::new());
}

#[test]
fn counters() {
    let s = Server::start();
    let c = &mut s.con();
    assert_eq!(q::<i64>(c, &["HINCRBY", "h", "n", "5"]), 5);
    assert_eq!(q::<i64>(c, &["HINCRBY", "h", "n", "-7"]), -2);
    assert_eq!(
        q_err(c, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    q::<i64>(c, &["HSET", "h", "big", "9223372036854775800", "s", "abc"]);
    assert_eq!(
        q_err(c, &["HINCRBY", "h", "big", "100"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        q_err(c, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(q::<String>(c, &["HINCRBYFLOAT", "h", "f", "1.5"]), "1.5");
    assert_eq!(q::<String>(c, &["HINCRBYFLOAT", "h", "f", "0.25"]), "1.75");
    assert_eq!(
        q_err(c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        q_err(c, &["HINCRBYFLOAT", "h", "f", "nan"]),
        "ERR value is not a valid float"
    );
    // A failed counter on a missing key leaves no key behind.
    assert_eq!(
        q_err(c, &["HINCRBYFLOAT", "h2", "f", "x"]),
        "ERR value is not a valid float"
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "h2"]), 0);
}

#[test]
fn random_fields_and_scan_of_a_large_hash() {
    let s = Server::start();
    let c = &mut s.con();
    // Past the compact limit: the hash turns into a table.
    let mut cmd = redis::cmd("HSET");
    cmd.arg("h");
    for i in 0..500 {
        cmd.arg(format!("f{i}")).arg(i);
    }
    assert_eq!(cmd.query::<i64>(c).unwrap(), 500);
    assert_eq!(q::<i64>(c, &["HLEN", "h"]), 500);
    assert_eq!(q::<String>(c, &["HGET", "h", "f499"]), "499");
    let one: String = q(c, &["HRANDFIELD", "h"]);
    assert!(one.starts_with('f'));
    let five: Vec<String> = q(c, &["HRANDFIELD", "h", "5"]);
    let mut distinct = five.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 5);
    assert_eq!(q::<Vec<String>>(c, &["HRANDFIELD", "h", "-700"]).len(), 700);
    assert_eq!(
        q::<Vec<String>>(c, &["HRANDFIELD", "h", "3", "WITHVALUES"]).len(),
        6
    );
    assert_eq!(raw(c, &["HRANDFIELD", "nokey"]), Ok(V::Nil));
    assert_eq!(q::<Vec<String>>(c, &["HRANDFIELD", "nokey", "3"]).len(), 0);
    assert_eq!(
        q_err(c, &["HRANDFIELD", "h", "3", "WITHSCORES"]),
        "ERR syntax error"
    );
    // HSCAN visits every field exactly once when nothing changes.
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["HSCAN", "h", &cursor, "COUNT", "37"]);
        seen.extend(items.chunks(2).map(|p| p[0].clone()));
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 500);
    let (_, matched): (String, Vec<String>) =
        q(c, &["HSCAN", "h", "0", "MATCH", "f49?", "COUNT", "10000"]);
    assert_eq!(matched.len(), 20);
    assert_eq!(q_err(c, &["HSCAN", "h", "x"]), "ERR invalid cursor");
    q::<String>(c, &["SET", "str", "x"]);
    assert_eq!(q_err(c, &["HGET", "str", "a"]), WRONGTYPE);
    assert_eq!(q_err(c, &["HSET", "str", "a", "1"]), WRONGTYPE);
    assert_eq!(q::<String>(c, &["TYPE", "h"]), "hash");
}

/// HSCAN, SSCAN and ZSCAN return every element present for the whole scan at
/// least once, even when the collection grows (its table doubling several
/// times) and shrinks again between the calls.
#[test]
fn scans_see_every_element_while_the_collection_grows_and_shrinks() {
    // More than Redis 7.0's hash-max-listpack-entries (512): a compact
    // collection is scanned whole in one call.
    const BASE: usize = 600;
    const GROW: usize = 4800;
    let s = Server::start();
    let c = &mut s.con();
    let fill = |c: &mut redis::Connection, cmd: &str, key: &str, from: usize, n: usize| {
        let mut add = redis::cmd(cmd);
        add.arg(key);
        for i in from..from + n {
            match cmd {
                "SADD" => add.arg(format!("m{i}")),
                "HSET" => add.arg(format!("m{i}")).arg(i),
                _ => add.arg(i).arg(format!("m{i}")),
            };
        }
        add.query::<i64>(c).unwrap();
    };
    for (add, remove, scan, key) in [
        ("HSET", "HDEL", "HSCAN", "h"),
        ("SADD", "SREM", "SSCAN", "s"),
        ("ZADD", "ZREM", "ZSCAN", "z"),
    ] {
        fill(c, add, key, 0, BASE);
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut round) = ("0".to_string(), 0);
        loop {
            let (next, items): (String, Vec<String>) = q(c, &[scan, key, &cursor, "COUNT", "10"]);
            let step = if scan == "SSCAN" { 1 } else { 2 };
            seen.extend(items.into_iter().step_by(step));
            cursor = next;
            if cursor == "0" {
                break;
            }
            round += 1;
            // Grow by 8x, then shrink back, while the scan goes on.
            let extra = 100_000 + round * 10_000;
            if round % 2 == 1 {
                fill(c, add, key, extra, GROW);
            } else {
                let mut del = redis::cmd(remove);
                del.arg(key);
                for i in extra - 10_000..extra - 10_000 + GROW {
                    del.arg(format!("m{i}"));
                }
                assert_eq!(del.query::<i64>(c).unwrap(), GROW as i64);
            }
        }
        assert!(round > 10, "{scan}: {round} calls");
        let missed: Vec<usize> = (0..BASE)
            .filter(|i| !seen.contains(&format!("m{i}")))
            .collect();
        assert!(missed.is_empty(), "{scan} missed {missed:?}");
    }
}
