//! HyperLogLog over TCP: PFADD, PFCOUNT (one key and unions across shards)
//! and PFMERGE, the sparse → dense promotion, Redis's exact counts and
//! bytes, corrupt values, and the log across a kill -9. Expected numbers
//! are redis-server 7.0's (`RINGCACHE_TEST_SERVER=redis-server` checks
//! them against it).

mod common;

use common::{keys_on, q, q_err, Server};

const AOF_ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

fn bytes(con: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn set_bytes(con: &mut redis::Connection, key: &str, value: &[u8]) {
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query::<()>(con)
        .unwrap();
}

/// PFADDs `e1`..`e<n>` to `key`, 10,000 at a time.
fn add_elements(con: &mut redis::Connection, key: &str, n: usize) {
    for chunk in (1..=n).collect::<Vec<_>>().chunks(10_000) {
        let mut cmd = redis::cmd("PFADD");
        cmd.arg(key);
        for i in chunk {
            cmd.arg(format!("e{i}"));
        }
        cmd.query::<i64>(con).unwrap();
    }
}

/// The header of an HLL whose cached cardinality is stale.
fn stale_header(encoding: u8) -> Vec<u8> {
    let mut h = b"HYLL".to_vec();
    h.extend_from_slice(&[encoding, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    h
}

#[test]
fn counts_and_encodings_match_redis() {
    let s = Server::start();
    let c = &mut s.con();
    // A new HLL: sparse, one XZERO run, cache marked stale by PFADD.
    assert_eq!(q::<i64>(c, &["PFADD", "empty"]), 1);
    let mut want = stale_header(1);
    want.extend_from_slice(&[0x7f, 0xff]);
    assert_eq!(bytes(c, "empty"), Some(want));
    assert_eq!(q::<i64>(c, &["PFCOUNT", "empty"]), 0);
    assert_eq!(q::<i64>(c, &["PFADD", "empty"]), 0);
    for (n, count, len) in [
        (100, 100, 285),
        (1000, 1008, 1906),
        (10_000, 9972, 12304),
        (100_000, 100853, 12304),
    ] {
        let key = format!("h{n}");
        add_elements(c, &key, n);
        assert_eq!(q::<i64>(c, &["PFCOUNT", &key]), count, "{n} elements");
        assert_eq!(q::<i64>(c, &["STRLEN", &key]), len, "{n} elements");
        // The count is cached in the header (a valid cache: top bit clear).
        let h = bytes(c, &key).unwrap();
        assert_eq!(
            u64::from_le_bytes(h[8..16].try_into().unwrap()),
            count as u64
        );
    }
    assert_eq!(q::<i64>(c, &["PFADD", "h100", "e1", "e2"]), 0);
    assert_eq!(q::<i64>(c, &["PFADD", "h100", "new"]), 1);
}

#[test]
fn unions_across_shards() {
    let s = Server::with(3, &[]);
    let c = &mut s.con();
    let keys: Vec<String> = (0..3).flat_map(|sh| keys_on("hk", sh, 3, 2)).collect();
    add_elements(c, &keys[0], 100);
    add_elements(c, &keys[2], 1000);
    add_elements(c, &keys[4], 10_000);
    assert_eq!(
        q::<i64>(c, &["PFCOUNT", &keys[0], &keys[2], &keys[4]]),
        9972
    );
    assert_eq!(q::<i64>(c, &["PFCOUNT", &keys[0], &keys[2], "nokey"]), 1008);
    // PFMERGE into a key on another shard, then onto an existing sparse one.
    assert_eq!(
        q::<String>(c, &["PFMERGE", &keys[1], &keys[0], &keys[2]]),
        "OK"
    );
    assert_eq!(q::<i64>(c, &["PFCOUNT", &keys[1]]), 1008);
    assert_eq!(q::<i64>(c, &["STRLEN", &keys[1]]), 1906);
    assert_eq!(q::<String>(c, &["PFMERGE", &keys[0], &keys[4]]), "OK");
    assert_eq!(q::<i64>(c, &["STRLEN", &keys[0]]), 12304);
    assert_eq!(q::<i64>(c, &["PFCOUNT", &keys[0]]), 9972);
    // All on one shard (hash tags): one step there, same answers.
    add_elements(c, "{t}a", 1000);
    assert_eq!(
        q::<String>(c, &["PFMERGE", "{t}d", "{t}a", "{t}none"]),
        "OK"
    );
    assert_eq!(
        bytes(c, "{t}d").map(|b| b[16..].to_vec()),
        bytes(c, &keys[1]).map(|b| b[16..].to_vec())
    );
    // Errors come in key order.
    q::<i64>(c, &["RPUSH", &keys[3], "x"]);
    q::<String>(c, &["SET", &keys[5], "not an hll"]);
    assert!(q_err(c, &["PFCOUNT", &keys[0], &keys[3], &keys[5]]).starts_with("WRONGTYPE Operation"));
    assert_eq!(
        q_err(c, &["PFCOUNT", &keys[0], &keys[5], &keys[3]]),
        NOT_HLL
    );
    assert_eq!(q_err(c, &["PFMERGE", &keys[0], &keys[5]]), NOT_HLL);
    assert_eq!(q_err(c, &["PFMERGE", &keys[5], &keys[0]]), NOT_HLL);
    assert!(q_err(c, &["PFMERGE", &keys[3], &keys[0]]).starts_with("WRONGTYPE Operation"));
}

#[test]
fn invalid_values() {
    let s = Server::start();
    let c = &mut s.con();
    q::<i64>(c, &["RPUSH", "l", "x"]);
    assert!(q_err(c, &["PFADD", "l", "a"]).starts_with("WRONGTYPE Operation"));
    assert!(q_err(c, &["PFCOUNT", "l"]).starts_with("WRONGTYPE Operation"));
    for bad in [
        &b"HYLL"[..],
        b"12345",
        b"HYLLxxxxxxxxxxxxxxxx",
        &stale_header(2),
    ] {
        set_bytes(c, "bad", bad);
        assert_eq!(q_err(c, &["PFADD", "bad", "a"]), NOT_HLL);
        assert_eq!(q_err(c, &["PFCOUNT", "bad"]), NOT_HLL);
    }
    // A dense HLL must be exactly 12304 bytes.
    let mut dense = stale_header(0);
    dense.resize(12303, 0);
    set_bytes(c, "bad", &dense);
    assert_eq!(q_err(c, &["PFCOUNT", "bad"]), NOT_HLL);
    dense.push(0);
    set_bytes(c, "bad", &dense);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "bad"]), 0);
    // Sparse opcodes that do not cover the 16384 registers.
    let mut short = stale_header(1);
    short.extend_from_slice(&[0x7f, 0xfe]);
    set_bytes(c, "short", &short);
    let corrupt = "INVALIDOBJ Corrupted HLL object detected";
    assert_eq!(q_err(c, &["PFCOUNT", "short"]), corrupt);
    assert_eq!(q_err(c, &["PFCOUNT", "short", "bad"]), corrupt);
    assert_eq!(q_err(c, &["PFMERGE", "x", "short"]), corrupt);
    // PFADD only walks the opcodes up to each element's register (these
    // three fall inside the short run), as Redis does.
    assert_eq!(q::<i64>(c, &["PFADD", "short", "a", "b", "c"]), 1);
}

/// PFADD, PFCOUNT's cached count and PFMERGE across shards survive a
/// kill -9 byte for byte.
#[test]
fn hll_survives_kill9() {
    let mut s = Server::with(3, AOF_ALWAYS);
    let keys: Vec<String> = (0..3).flat_map(|sh| keys_on("hk", sh, 3, 2)).collect();
    let c = &mut s.con();
    add_elements(c, &keys[0], 300);
    add_elements(c, &keys[1], 5000);
    q::<i64>(c, &["PFCOUNT", &keys[0]]);
    q::<String>(c, &["PFMERGE", &keys[2], &keys[0], &keys[1]]);
    q::<String>(c, &["PFMERGE", &keys[3], &keys[0]]);
    q::<i64>(c, &["PFCOUNT", &keys[3]]);
    q::<i64>(c, &["EXPIRE", &keys[3], "1000"]);
    q::<String>(c, &["PFMERGE", &keys[3], &keys[4]]);
    let before: Vec<Option<Vec<u8>>> = keys.iter().map(|k| bytes(c, k)).collect();
    s.kill9_and_restart();
    let c = &mut s.con();
    let after: Vec<Option<Vec<u8>>> = keys.iter().map(|k| bytes(c, k)).collect();
    assert_eq!(before, after);
    assert!(q::<i64>(c, &["TTL", &keys[3]]) > 0, "PFMERGE keeps the TTL");
}
