//! Bitmaps over TCP: SETBIT, GETBIT, BITCOUNT, BITPOS, BITFIELD(_RO) and
//! BITOP with keys on every shard, the 512 MB offset limit, maxmemory, and
//! the log across a kill -9. The expected replies are redis-server 7.0's
//! (`RINGCACHE_TEST_SERVER=redis-server` checks them against it).

mod common;

use common::{keys_on, q, q_err, Server};

const AOF_ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

fn bytes(con: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

#[test]
fn setbit_getbit_and_limits() {
    let s = Server::start();
    let c = &mut s.con();
    assert_eq!(q::<i64>(c, &["SETBIT", "b", "7", "1"]), 0);
    assert_eq!(q::<i64>(c, &["SETBIT", "b", "7", "1"]), 1);
    assert_eq!(q::<i64>(c, &["SETBIT", "b", "100", "1"]), 0);
    assert_eq!(q::<i64>(c, &["STRLEN", "b"]), 13);
    assert_eq!(q::<i64>(c, &["GETBIT", "b", "7"]), 1);
    assert_eq!(q::<i64>(c, &["GETBIT", "b", "6"]), 0);
    assert_eq!(q::<i64>(c, &["GETBIT", "b", "4294967295"]), 0);
    assert_eq!(q::<i64>(c, &["GETBIT", "nokey", "3"]), 0);
    let offset_err = "ERR bit offset is not an integer or out of range";
    for args in [
        &["GETBIT", "b", "4294967296"][..],
        &["GETBIT", "b", "-1"],
        &["SETBIT", "b", "4294967296", "1"],
        &["SETBIT", "b", "x", "1"],
        &["SETBIT", "b", "9223372036854775807", "1"],
    ] {
        assert_eq!(q_err(c, args), offset_err, "{args:?}");
    }
    assert_eq!(
        q_err(c, &["SETBIT", "b", "1", "2"]),
        "ERR bit is not an integer or out of range"
    );
    q::<i64>(c, &["RPUSH", "l", "x"]);
    assert!(q_err(c, &["SETBIT", "l", "1", "1"]).starts_with("WRONGTYPE"));
    assert!(q_err(c, &["GETBIT", "l", "1"]).starts_with("WRONGTYPE"));
    // A TTL survives a SETBIT, as the value is changed in place.
    q::<i64>(c, &["EXPIRE", "b", "1000"]);
    q::<i64>(c, &["SETBIT", "b", "200", "1"]);
    assert!(q::<i64>(c, &["TTL", "b"]) > 0);
}

#[test]
fn bitcount_and_bitpos_ranges() {
    let s = Server::start();
    let c = &mut s.con();
    q::<String>(c, &["SET", "s", "foobar"]);
    for (args, want) in [
        (&["BITCOUNT", "s"][..], 26),
        (&["BITCOUNT", "s", "1", "1"], 6),
        (&["BITCOUNT", "s", "0", "-1", "BIT"], 26),
        (&["BITCOUNT", "s", "5", "30", "BIT"], 17),
        (&["BITCOUNT", "s", "-1", "-2", "nonsense"], 0),
        (&["BITCOUNT", "nokey", "a", "b"], 0),
        (&["BITPOS", "s", "1", "2"], 17),
        (&["BITPOS", "s", "0", "2", "-1"], 16),
        (&["BITPOS", "s", "1", "7", "15", "BIT"], 9),
        (&["BITPOS", "nokey", "1"], -1),
        (&["BITPOS", "nokey", "0"], 0),
    ] {
        assert_eq!(q::<i64>(c, args), want, "{args:?}");
    }
    q::<String>(c, &["SET", "ones", "\u{7f}"]);
    // Looking for a 0 past the end: the string counts as zero-padded only
    // when no end is given.
    redis::cmd("SET")
        .arg("ff")
        .arg(&[0xffu8, 0xff][..])
        .query::<()>(c)
        .unwrap();
    assert_eq!(q::<i64>(c, &["BITPOS", "ff", "0"]), 16);
    assert_eq!(q::<i64>(c, &["BITPOS", "ff", "0", "0"]), 16);
    assert_eq!(q::<i64>(c, &["BITPOS", "ff", "0", "0", "-1"]), -1);
    assert_eq!(q::<i64>(c, &["BITPOS", "ff", "0", "3", "11", "BIT"]), -1);
    assert_eq!(q_err(c, &["BITCOUNT", "s", "1"]), "ERR syntax error");
    assert_eq!(
        q_err(c, &["BITCOUNT", "s", "0", "1", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(c, &["BITPOS", "s", "2"]),
        "ERR The bit argument must be 1 or 0."
    );
    assert_eq!(
        q_err(c, &["BITPOS", "s", "1", "a"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn bitfield_operations_and_errors() {
    let s = Server::start();
    let c = &mut s.con();
    let got: Vec<Option<i64>> = q(
        c,
        &[
            "BITFIELD", "bf", "SET", "i5", "3", "100", "GET", "i5", "3", "OVERFLOW", "SAT",
            "INCRBY", "i5", "3", "100", "OVERFLOW", "FAIL", "INCRBY", "i5", "3", "1", "OVERFLOW",
            "WRAP", "INCRBY", "u3", "0", "9", "SET", "u63", "1", "-1", "GET", "i64", "0", "SET",
            "u8", "#3", "255", "GET", "u8", "#3",
        ],
    );
    assert_eq!(
        got,
        vec![
            Some(0),
            Some(4),
            Some(15),
            None,
            Some(1),
            Some(3386706919782612992),
            Some(9223372036854775807),
            Some(255),
            Some(255)
        ]
    );
    assert_eq!(
        bytes(c, "bf"),
        Some(vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    );
    let got: Vec<i64> = q(
        c,
        &["BITFIELD_RO", "bf", "GET", "i8", "0", "GET", "u4", "60"],
    );
    assert_eq!(got, vec![127, 15]);
    let got: Vec<i64> = q(c, &["BITFIELD", "nokey", "GET", "u8", "0"]);
    assert_eq!(got, vec![0]);
    assert_eq!(q::<i64>(c, &["EXISTS", "nokey"]), 0);
    let bad_type = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    for (args, want) in [
        (&["BITFIELD", "bf", "GET", "u64", "0"][..], bad_type),
        (&["BITFIELD", "bf", "GET", "i65", "0"], bad_type),
        (&["BITFIELD", "bf", "GET", "u0", "0"], bad_type),
        (
            &["BITFIELD", "bf", "OVERFLOW", "bad", "GET", "i8", "0"],
            "ERR Invalid OVERFLOW type specified",
        ),
        (&["BITFIELD", "bf", "GET", "i8"], "ERR syntax error"),
        (
            &["BITFIELD", "bf", "GET", "i8", "#536870912"],
            "ERR bit offset is not an integer or out of range",
        ),
        (
            &["BITFIELD", "bf", "SET", "i8", "0", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["BITFIELD_RO", "bf", "SET", "i8", "0", "1"],
            "ERR BITFIELD_RO only supports the GET subcommand",
        ),
    ] {
        assert_eq!(q_err(c, args), want, "{args:?}");
    }
}

/// BITOP with its keys on every shard, and on one shard: the same results.
#[test]
fn bitop_across_shards() {
    let s = Server::with(3, &[]);
    let c = &mut s.con();
    let keys: Vec<String> = (0..3).flat_map(|sh| keys_on("bk", sh, 3, 1)).collect();
    let tagged = ["{t}a", "{t}b", "{t}c"];
    for group in [
        keys.iter().map(String::as_str).collect::<Vec<_>>(),
        tagged.to_vec(),
    ] {
        let (a, b, dst) = (group[0], group[1], group[2]);
        q::<String>(c, &["SET", a, "foobar"]);
        q::<String>(c, &["SET", b, "abc"]);
        q::<i64>(c, &["RPUSH", dst, "x"]);
        assert_eq!(q::<i64>(c, &["BITOP", "AND", dst, a, b]), 6);
        assert_eq!(bytes(c, dst), Some(b"`bc\0\0\0".to_vec()));
        assert_eq!(q::<i64>(c, &["BITOP", "OR", dst, a, b, "nokey"]), 6);
        assert_eq!(bytes(c, dst), Some(b"goobar".to_vec()));
        q::<i64>(c, &["EXPIRE", dst, "100"]);
        assert_eq!(q::<i64>(c, &["BITOP", "XOR", dst, a, b]), 6);
        assert_eq!(bytes(c, dst), Some(vec![7, 13, 12, 98, 97, 114]));
        assert_eq!(q::<i64>(c, &["TTL", dst]), -1, "BITOP replaces the TTL");
        assert_eq!(q::<i64>(c, &["BITOP", "NOT", dst, b]), 3);
        assert_eq!(bytes(c, dst), Some(vec![0x9e, 0x9d, 0x9c]));
        // An empty result deletes the destination.
        assert_eq!(q::<i64>(c, &["BITOP", "AND", dst, "nokey"]), 0);
        assert_eq!(q::<i64>(c, &["EXISTS", dst]), 0);
        q::<i64>(c, &["DEL", b]);
        q::<i64>(c, &["RPUSH", b, "x"]);
        assert!(q_err(c, &["BITOP", "AND", dst, a, b]).starts_with("WRONGTYPE"));
        q::<i64>(c, &["DEL", a, b, dst]);
    }
    assert_eq!(q_err(c, &["BITOP", "NAND", "d", "a"]), "ERR syntax error");
    assert_eq!(
        q_err(c, &["BITOP", "NOT", "d", "a", "b"]),
        "ERR BITOP NOT must be called with a single source key."
    );
}

/// SETBIT at the last offset makes a 512 MB string under the normal write
/// checks: refused with -OOM once over maxmemory.
#[test]
fn big_offsets_and_maxmemory() {
    let s = Server::with(
        2,
        &["--maxmemory", "8mb", "--maxmemory-policy", "noeviction"],
    );
    let c = &mut s.con();
    // 16 MB: allowed (under the budget before it runs, as in Redis)...
    assert_eq!(q::<i64>(c, &["SETBIT", "{m}big", "134217727", "1"]), 0);
    assert_eq!(q::<i64>(c, &["STRLEN", "{m}big"]), 16 * 1024 * 1024);
    // ...after which the shard is over budget: writes that may grow memory
    // are refused.
    let oom = "OOM command not allowed when used memory > 'maxmemory'.";
    assert_eq!(q_err(c, &["SETBIT", "{m}other", "1", "1"]), oom);
    assert_eq!(
        q_err(c, &["BITFIELD", "{m}other", "SET", "u8", "0", "1"]),
        oom
    );
    assert_eq!(q_err(c, &["BITOP", "NOT", "{m}other", "{m}big"]), oom);
    // Reads and deletes still work.
    assert_eq!(q::<i64>(c, &["BITCOUNT", "{m}big"]), 1);
    assert_eq!(q::<i64>(c, &["BITPOS", "{m}big", "1"]), 134217727);
    assert_eq!(q::<i64>(c, &["DEL", "{m}big"]), 1);
    assert_eq!(q::<i64>(c, &["SETBIT", "{m}other", "1", "1"]), 0);
}

/// Every bitmap write survives a kill -9: SETBIT and BITFIELD replay their
/// text, BITOP across shards its SET / DEL.
#[test]
fn bitmaps_survive_kill9() {
    let mut s = Server::with(3, AOF_ALWAYS);
    let keys: Vec<String> = (0..3).flat_map(|sh| keys_on("bk", sh, 3, 2)).collect();
    let c = &mut s.con();
    for (i, k) in keys.iter().enumerate() {
        q::<i64>(c, &["SETBIT", k, &(i * 37 + 5).to_string(), "1"]);
        q::<Vec<i64>>(
            c,
            &[
                "BITFIELD", k, "OVERFLOW", "SAT", "INCRBY", "u7", "#3", "200",
            ],
        );
    }
    q::<i64>(c, &["BITOP", "XOR", &keys[0], &keys[1], &keys[2], &keys[3]]);
    q::<i64>(c, &["BITOP", "NOT", &keys[4], &keys[5]]);
    q::<i64>(c, &["SETBIT", &keys[5], "1000", "1"]);
    let before: Vec<Option<Vec<u8>>> = keys.iter().map(|k| bytes(c, k)).collect();
    s.kill9_and_restart();
    let c = &mut s.con();
    let after: Vec<Option<Vec<u8>>> = keys.iter().map(|k| bytes(c, k)).collect();
    assert_eq!(before, after);
}
