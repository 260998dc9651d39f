//! Sorted set commands through a real client (replies checked against
//! Redis 7.0.15, whose scores print as `%.17g`), in RESP2 and RESP3.

mod collections_common;
use collections_common::*;
use redis::Value as V;

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn zadd_flags_and_scores() {
    let s = Server::start();
    let c = &mut s.con();
    assert_eq!(q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b"]), 2);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "XX", "5", "zz"]), 0);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "NX", "9", "a", "3", "c"]), 1);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "CH", "5", "a", "2", "b"]), 1);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "GT", "CH", "4", "a"]), 0);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "LT", "CH", "4", "a"]), 1);
    assert_eq!(q::<String>(c, &["ZADD", "z", "INCR", "1.5", "a"]), "5.5");
    assert_eq!(raw(c, &["ZADD", "z", "NX", "INCR", "1", "a"]), Ok(V::Nil));
    assert_eq!(
        q::<String>(c, &["ZINCRBY", "z", "0.1", "new"]),
        "0.10000000000000001"
    );
    assert_eq!(q::<String>(c, &["ZSCORE", "z", "a"]), "5.5");
    assert_eq!(raw(c, &["ZSCORE", "z", "zz"]), Ok(V::Nil));
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["ZMSCORE", "z", "b", "zz"]),
        vec![Some("2".into()), None]
    );
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 4);
    assert_eq!(
        q_err(c, &["ZADD", "z", "nan", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        q_err(c, &["ZADD", "z", "1", "a", "x", "b"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        q_err(c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        q_err(c, &["ZADD", "z", "GT", "LT", "1", "a"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        q_err(c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(q_err(c, &["ZADD", "z", "1", "a", "2"]), "ERR syntax error");
    q::<i64>(c, &["ZADD", "inf", "inf", "x"]);
    assert_eq!(
        q_err(c, &["ZINCRBY", "inf", "-inf", "x"]),
        "ERR resulting score is not a number (NaN)"
    );
    // Nothing was partially applied by the failures above.
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 4);
    assert_eq!(q::<String>(c, &["ZSCORE", "inf", "x"]), "inf");
    assert_eq!(q::<String>(c, &["TYPE", "z"]), "zset");
    q::<String>(c, &["SET", "str", "x"]);
    assert_eq!(q_err(c, &["ZADD", "str", "1", "a"]), WRONGTYPE);
    assert_eq!(q_err(c, &["ZSCORE", "str", "a"]), WRONGTYPE);
}

#[test]
fn ranks_and_ranges() {
    let s = Server::start();
    let c = &mut s.con();
    q::<i64>(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "d", "5", "e",
        ],
    );
    assert_eq!(q::<i64>(c, &["ZRANK", "z", "c"]), 2);
    assert_eq!(q::<i64>(c, &["ZREVRANK", "z", "c"]), 2);
    assert_eq!(q::<i64>(c, &["ZREVRANK", "z", "e"]), 0);
    assert_eq!(raw(c, &["ZRANK", "z", "zz"]), Ok(V::Nil));
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "-1"]),
        strs(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        strs(&["a", "1", "b", "2"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "1", "REV"]),
        strs(&["e", "d"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZREVRANGE", "z", "-2", "-1"]),
        strs(&["b", "a"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "(1", "3", "BYSCORE"]),
        strs(&["b", "c", "d"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZRANGE", "z", "+inf", "(2", "BYSCORE", "REV", "LIMIT", "1", "2"]
        ),
        strs(&["d", "c"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &[
                "ZRANGEBYSCORE",
                "z",
                "-inf",
                "+inf",
                "WITHSCORES",
                "LIMIT",
                "3",
                "-1"
            ]
        ),
        strs(&["d", "3", "e", "5"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZREVRANGEBYSCORE", "z", "3", "2"]),
        strs(&["d", "c", "b"])
    );
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "(1", "3"]), 3);
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "4", "2"]), 0);
    assert_eq!(
        q_err(c, &["ZCOUNT", "z", "a", "2"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        q_err(c, &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    q::<i64>(c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"]);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGEBYLEX", "lex", "[b", "(d"]),
        strs(&["b", "c"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "lex", "-", "+", "BYLEX", "LIMIT", "1", "2"]),
        strs(&["b", "c"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "lex", "(c", "-", "BYLEX", "REV"]),
        strs(&["b", "a"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZREVRANGEBYLEX", "lex", "+", "[c"]),
        strs(&["d", "c"])
    );
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "lex", "-", "(c"]), 2);
    assert_eq!(
        q_err(c, &["ZRANGEBYLEX", "lex", "a", "z"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        q_err(c, &["ZRANGE", "lex", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "nokey", "0", "-1"]),
        strs(&[])
    );
}

#[test]
fn removals_and_pops() {
    let s = Server::start();
    let c = &mut s.con();
    q::<i64>(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f",
        ],
    );
    assert_eq!(q::<i64>(c, &["ZREM", "z", "a", "zz"]), 1);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "z", "0", "0"]), 1);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYSCORE", "z", "(5", "+inf"]), 1);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "0", "-1"]),
        strs(&["c", "d", "e"])
    );
    assert_eq!(q::<Vec<String>>(c, &["ZPOPMIN", "z"]), strs(&["c", "3"]));
    assert_eq!(
        q::<Vec<String>>(c, &["ZPOPMAX", "z", "5"]),
        strs(&["e", "5", "d", "4"])
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "z"]), 0);
    assert_eq!(q::<Vec<String>>(c, &["ZPOPMIN", "z"]), strs(&[]));
    assert_eq!(
        q_err(c, &["ZPOPMIN", "z", "-1"]),
        "ERR value is out of range, must be positive"
    );
    q::<i64>(c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYLEX", "lex", "[a", "[b"]), 2);
}

#[test]
fn random_members_scan_and_large_sets() {
    let s = Server::start();
    let c = &mut s.con();
    let mut cmd = redis::cmd("ZADD");
    cmd.arg("z");
    for i in 0..2000 {
        cmd.arg(i % 100).arg(format!("m{i:04}"));
    }
    assert_eq!(cmd.query::<i64>(c).unwrap(), 2000);
    // Score 0: m0000, m0100, ..., m1900 (20 members), then score 1.
    assert_eq!(q::<i64>(c, &["ZRANK", "z", "m0001"]), 20);
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "10", "(20"]), 200);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", "z", "1000", "1001"]),
        strs(&["m0050", "m0150"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANDMEMBER", "z", "5", "WITHSCORES"]).len(),
        10
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANDMEMBER", "z", "-3000"]).len(),
        3000
    );
    assert_eq!(raw(c, &["ZRANDMEMBER", "nokey"]), Ok(V::Nil));
    let (mut cursor, mut seen) = ("0".to_string(), 0);
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["ZSCAN", "z", &cursor, "COUNT", "100"]);
        seen += items.len() / 2;
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, 2000);
}

#[test]
fn union_and_inter_store_across_shards() {
    let s = Server::start();
    let c = &mut s.con();
    let (za, sa, d) = (key_on("za", 0), key_on("sa", 1), key_on("d", 0));
    q::<i64>(c, &["ZADD", &za, "1", "a", "2", "b"]);
    q::<i64>(c, &["SADD", &sa, "a", "c"]);
    assert_eq!(
        q::<i64>(c, &["ZUNIONSTORE", &d, "2", &za, &sa, "WEIGHTS", "2", "3"]),
        3
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", &d, "0", "-1", "WITHSCORES"]),
        strs(&["c", "3", "b", "4", "a", "5"])
    );
    assert_eq!(
        q::<i64>(c, &["ZINTERSTORE", &d, "2", &za, &sa, "AGGREGATE", "MAX"]),
        1
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", &d, "0", "-1", "WITHSCORES"]),
        strs(&["a", "1"])
    );
    assert_eq!(q::<i64>(c, &["ZINTERSTORE", &d, "2", &za, "nokey"]), 0);
    assert_eq!(q::<i64>(c, &["EXISTS", &d]), 0);
    q::<i64>(c, &["ZADD", "zi", "inf", "a"]);
    q::<i64>(c, &["ZADD", "zj", "-inf", "a"]);
    assert_eq!(q::<i64>(c, &["ZUNIONSTORE", &d, "2", "zi", "zj"]), 1);
    assert_eq!(q::<String>(c, &["ZSCORE", &d, "a"]), "0");
    assert_eq!(
        q_err(c, &["ZUNIONSTORE", &d, "0", &za]),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(q_err(c, &["ZUNIONSTORE", &d, "2", &za]), "ERR syntax error");
    assert_eq!(
        q_err(c, &["ZUNIONSTORE", &d, "1", &za, "WEIGHTS", "x"]),
        "ERR weight value is not a float"
    );
    assert_eq!(
        q_err(c, &["ZUNIONSTORE", &d, "1", &za, "AGGREGATE", "avg"]),
        "ERR syntax error"
    );
    q::<String>(c, &["SET", "str", "x"]);
    assert_eq!(q_err(c, &["ZUNIONSTORE", &d, "1", "str"]), WRONGTYPE);
}

/// Scores as Redis 7.0 writes them (`%.17g`), byte for byte: bulk strings in
/// RESP2; doubles in RESP3, where WITHSCORES replies become [member, score]
/// pairs. ZSCAN's scores and HINCRBYFLOAT stay bulk strings in RESP3.
#[test]
fn scores_in_resp2_and_resp3_as_redis_7_0_writes_them() {
    let s = Server::start();
    let r = &mut s.raw();
    let cases = [
        ("a", "0.1", "0.10000000000000001"),
        ("b", "1e300", "1.0000000000000001e+300"),
        ("c", "inf", "inf"),
        ("d", "-inf", "-inf"),
        ("e", "3.0", "3"),
        ("f", "-0", "0"),
        ("g", "1.5e-7", "1.4999999999999999e-07"),
    ];
    for (m, score, _) in cases {
        assert_eq!(r.cmd(&["ZADD", "z", score, m]), ":1\r\n");
    }
    for (m, _, text) in cases {
        let bulk = format!("${}\r\n{text}\r\n", text.len());
        assert_eq!(r.cmd(&["ZSCORE", "z", m]), bulk, "{m}");
    }
    assert_eq!(
        r.cmd(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        "*4\r\n$1\r\nd\r\n$4\r\n-inf\r\n$1\r\nf\r\n$1\r\n0\r\n"
    );
    assert_eq!(
        r.cmd(&["ZINCRBY", "z", "1.1", "h"]),
        "$18\r\n1.1000000000000001\r\n"
    );

    assert!(r.cmd(&["HELLO", "3"]).starts_with("%7\r\n"));
    for (m, _, text) in cases {
        assert_eq!(r.cmd(&["ZSCORE", "z", m]), format!(",{text}\r\n"), "{m}");
    }
    assert_eq!(
        r.cmd(&["ZINCRBY", "z", "-1", "h"]),
        ",0.10000000000000009\r\n"
    );
    assert_eq!(r.cmd(&["ZADD", "z", "INCR", "1", "e"]), ",4\r\n");
    assert_eq!(r.cmd(&["ZADD", "z", "XX", "INCR", "1", "nosuch"]), "_\r\n");
    assert_eq!(
        r.cmd(&["ZMSCORE", "z", "c", "nosuch"]),
        "*2\r\n,inf\r\n_\r\n"
    );
    assert_eq!(
        r.cmd(&["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        "*2\r\n*2\r\n$1\r\nd\r\n,-inf\r\n*2\r\n$1\r\nf\r\n,0\r\n"
    );
    assert_eq!(
        r.cmd(&[
            "ZREVRANGEBYSCORE",
            "z",
            "+inf",
            "4",
            "WITHSCORES",
            "LIMIT",
            "1",
            "5"
        ]),
        "*2\r\n*2\r\n$1\r\nb\r\n,1.0000000000000001e+300\r\n*2\r\n$1\r\ne\r\n,4\r\n"
    );
    assert_eq!(r.cmd(&["ZRANGE", "z", "0", "0"]), "*1\r\n$1\r\nd\r\n");
    // ZPOPMIN without a count: one flat pair; with one: nested pairs.
    assert_eq!(r.cmd(&["ZPOPMIN", "z"]), "*2\r\n$1\r\nd\r\n,-inf\r\n");
    assert_eq!(
        r.cmd(&["ZPOPMIN", "z", "1"]),
        "*1\r\n*2\r\n$1\r\nf\r\n,0\r\n"
    );
    assert_eq!(r.cmd(&["ZPOPMAX", "z", "0"]), "*0\r\n");
    assert_eq!(r.cmd(&["ZPOPMAX", "nokey", "2"]), "*0\r\n");
    assert_eq!(
        r.cmd(&["BZPOPMAX", "z", "0"]),
        "*3\r\n$1\r\nz\r\n$1\r\nc\r\n,inf\r\n"
    );
    assert_eq!(r.cmd(&["ZADD", "one", "2.5", "m"]), ":1\r\n");
    assert_eq!(
        r.cmd(&["ZRANDMEMBER", "one", "-2", "WITHSCORES"]),
        "*2\r\n*2\r\n$1\r\nm\r\n,2.5\r\n*2\r\n$1\r\nm\r\n,2.5\r\n"
    );
    assert_eq!(
        r.cmd(&["ZSCAN", "one", "0"]),
        "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nm\r\n$3\r\n2.5\r\n"
    );
    assert_eq!(r.cmd(&["HSET", "h", "f", "v"]), ":1\r\n");
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "1", "WITHVALUES"]),
        "*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h2", "n", "1.5"]), "$3\r\n1.5\r\n");
    // Back in RESP2 the pairs are flat again.
    r.cmd(&["HELLO", "2"]);
    assert_eq!(
        r.cmd(&["ZRANDMEMBER", "one", "1", "WITHSCORES"]),
        "*2\r\n$1\r\nm\r\n$3\r\n2.5\r\n"
    );
    assert_eq!(
        r.cmd(&["HRANDFIELD", "h", "-1", "WITHVALUES"]),
        "*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
}

/// A RESP3 client library sees doubles and pairs.
#[test]
fn resp3_client_sees_doubles_and_pairs() {
    let s = Server::start();
    let client = redis::Client::open(format!("{}?protocol=resp3", s.url())).unwrap();
    let c = &mut client.get_connection().unwrap();
    q::<i64>(c, &["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(raw(c, &["ZSCORE", "z", "a"]), Ok(V::Double(1.5)));
    let pair = |m: &str, s: f64| V::Array(vec![V::BulkString(m.into()), V::Double(s)]);
    assert_eq!(
        raw(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        Ok(V::Array(vec![pair("a", 1.5), pair("b", 2.0)]))
    );
    assert_eq!(
        raw(c, &["ZUNION", "2", "z", "z", "WITHSCORES"]),
        Ok(V::Array(vec![pair("a", 3.0), pair("b", 4.0)]))
    );
    assert_eq!(
        raw(c, &["ZMPOP", "1", "z", "MAX"]),
        Ok(V::Array(vec![
            V::BulkString("z".into()),
            V::Array(vec![pair("b", 2.0)])
        ]))
    );
}

/// ZUNION, ZINTER, ZDIFF (WEIGHTS, AGGREGATE, WITHSCORES), ZDIFFSTORE,
/// ZINTERCARD and ZRANGESTORE with their keys on different shards; replies
/// and errors checked against Redis 7.0.15.
#[test]
fn union_inter_diff_intercard_and_rangestore_across_shards() {
    let s = Server::start();
    let c = &mut s.con();
    let (z, y, st) = (key_on("z", 0), key_on("y", 1), key_on("s", 1));
    let (d0, d1) = (key_on("d", 0), key_on("d", 1));
    q::<i64>(c, &["ZADD", &z, "1", "a", "2", "b", "3", "c"]);
    q::<i64>(c, &["ZADD", &y, "2", "a", "5", "d"]);
    q::<i64>(c, &["SADD", &st, "a", "x"]);
    assert_eq!(
        q::<Vec<String>>(c, &["ZUNION", "2", &z, &y]),
        strs(&["b", "a", "c", "d"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZUNION", "2", &z, &y, "WITHSCORES"]),
        strs(&["b", "2", "a", "3", "c", "3", "d", "5"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZUNION", "2", &z, &st, "WITHSCORES", "WEIGHTS", "1", "2"]
        ),
        strs(&["b", "2", "x", "2", "a", "3", "c", "3"])
    );
    assert_eq!(
        q::<Vec<String>>(
            c,
            &["ZINTER", "2", &z, &y, "WITHSCORES", "AGGREGATE", "MAX"]
        ),
        strs(&["a", "2"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZINTER", "2", &z, &z, "WITHSCORES"]),
        strs(&["a", "2", "b", "4", "c", "6"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZINTER", "2", &z, "nokey", "WITHSCORES"]),
        strs(&[])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZDIFF", "2", &z, &y, "WITHSCORES"]),
        strs(&["b", "2", "c", "3"])
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZDIFF", "2", &z, &st]),
        strs(&["b", "c"])
    );
    assert_eq!(q::<i64>(c, &["ZDIFFSTORE", &d1, "2", &z, &y]), 2);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", &d1, "0", "-1", "WITHSCORES"]),
        strs(&["b", "2", "c", "3"])
    );
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", &z, &y]), 1);
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", &z, &z, "LIMIT", "2"]), 2);
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", &z, &z, "LIMIT", "0"]), 3);
    // ZRANGESTORE onto the other shard, and onto the same one.
    assert_eq!(q::<i64>(c, &["ZRANGESTORE", &d1, &z, "0", "1", "REV"]), 2);
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", &d1, "0", "-1", "WITHSCORES"]),
        strs(&["b", "2", "c", "3"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "ZRANGESTORE",
                &d0,
                &z,
                "(1",
                "+inf",
                "BYSCORE",
                "LIMIT",
                "0",
                "1"
            ]
        ),
        1
    );
    assert_eq!(
        q::<Vec<String>>(c, &["ZRANGE", &d0, "0", "-1"]),
        strs(&["b"])
    );
    // An empty result deletes the destination, whatever it held.
    q::<String>(c, &["SET", &d1, "v"]);
    assert_eq!(q::<i64>(c, &["ZRANGESTORE", &d1, &z, "5", "6"]), 0);
    assert_eq!(q::<i64>(c, &["EXISTS", &d1]), 0);
    // A STORE form replaces a key of another type.
    q::<String>(c, &["SET", &d0, "v"]);
    assert_eq!(q::<i64>(c, &["ZUNIONSTORE", &d0, "1", &y]), 2);
    assert_eq!(q::<String>(c, &["TYPE", &d0]), "zset");

    q::<String>(c, &["SET", "str", "x"]);
    for (args, e) in [
        (
            &["ZUNION", "0", &z][..],
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            &["ZDIFFSTORE", &d0, "0", &z],
            "ERR at least 1 input key is needed for 'zdiffstore' command",
        ),
        (
            &["ZINTERCARD", "0", &z],
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        (
            &["ZUNION", "x", &z],
            "ERR value is not an integer or out of range",
        ),
        (&["ZUNION", "3", &z, &y], "ERR syntax error"),
        (&["ZDIFF", "1", &z, "WEIGHTS", "1"], "ERR syntax error"),
        (
            &["ZDIFFSTORE", &d0, "1", &z, "AGGREGATE", "MAX"],
            "ERR syntax error",
        ),
        (
            &["ZUNIONSTORE", &d0, "1", &z, "WITHSCORES"],
            "ERR syntax error",
        ),
        (&["ZINTERCARD", "1", &z, "WEIGHTS", "2"], "ERR syntax error"),
        (
            &["ZINTERCARD", "1", &z, "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (
            &["ZINTERCARD", "1", &z, "LIMIT", "x"],
            "ERR LIMIT can't be negative",
        ),
        (&["ZINTER", "1", &z, "LIMIT", "1"], "ERR syntax error"),
        (
            &["ZUNION", "1", &z, "WEIGHTS", "nan"],
            "ERR weight value is not a float",
        ),
        // The wrong type is reported before a bad option.
        (&["ZUNION", "1", "str", "WEIGHTS", "x"], WRONGTYPE),
        (&["ZDIFF", "2", &z, "str"], WRONGTYPE),
        (&["ZINTERCARD", "1", "str"], WRONGTYPE),
        (
            &["ZRANGESTORE", &d0, &z, "0", "-1", "WITHSCORES"],
            "ERR syntax error",
        ),
        (&["ZRANGESTORE", &d1, "str", "0", "1"], WRONGTYPE),
    ] {
        assert_eq!(q_err(c, args), e, "{args:?}");
    }
}

/// ZMPOP pops from the first non-empty key, in argument order, across shards.
#[test]
fn zmpop_and_lmpop() {
    let s = Server::start();
    let c = &mut s.con();
    let (z, l) = (key_on("z", 1), key_on("l", 1));
    q::<i64>(c, &["ZADD", &z, "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        raw(c, &["ZMPOP", "2", "nokey", &z, "MAX", "COUNT", "2"]),
        Ok(V::Array(vec![
            V::BulkString(z.clone().into()),
            V::Array(vec![
                V::Array(vec![V::BulkString("c".into()), V::BulkString("3".into())]),
                V::Array(vec![V::BulkString("b".into()), V::BulkString("2".into())]),
            ])
        ]))
    );
    assert_eq!(raw(c, &["ZMPOP", "1", "nokey", "MIN"]), Ok(V::Nil));
    q::<i64>(c, &["RPUSH", &l, "a", "b", "c"]);
    assert_eq!(
        raw(c, &["LMPOP", "2", "nokey", &l, "RIGHT", "COUNT", "5"]),
        Ok(V::Array(vec![
            V::BulkString(l.clone().into()),
            V::Array(vec![
                V::BulkString("c".into()),
                V::BulkString("b".into()),
                V::BulkString("a".into())
            ])
        ]))
    );
    assert_eq!(q::<i64>(c, &["EXISTS", &l]), 0);
    assert_eq!(raw(c, &["LMPOP", "1", &l, "LEFT"]), Ok(V::Nil));
    q::<String>(c, &["SET", "str", "x"]);
    for (args, e) in [
        (
            &["ZMPOP", "0", &z, "MIN"][..],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["LMPOP", "x", &l, "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (&["ZMPOP", "3", &z, "MIN"], "ERR syntax error"),
        (&["ZMPOP", "1", &z, "LEFT"], "ERR syntax error"),
        (&["LMPOP", "1", &l, "MIN"], "ERR syntax error"),
        (
            &["ZMPOP", "1", &z, "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["LMPOP", "1", &l, "LEFT", "COUNT", "-1"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", &z, "MIN", "COUNT", "1", "COUNT", "2"],
            "ERR syntax error",
        ),
        (&["ZMPOP", "1", &z, "MIN", "COUNT"], "ERR syntax error"),
        (&["ZMPOP", "2", "nokey", "str", "MIN"], WRONGTYPE),
        (&["LMPOP", "1", &z, "LEFT"], WRONGTYPE),
    ] {
        assert_eq!(q_err(c, args), e, "{args:?}");
    }
    // A key of the wrong type after the one popped is not looked at.
    assert_eq!(
        q::<(String, Vec<(String, String)>)>(c, &["ZMPOP", "2", &z, "str", "MIN"]),
        (z.clone(), vec![("a".into(), "1".into())])
    );
}

fn encoding(c: &mut redis::Connection, key: &str) -> String {
    q(c, &["OBJECT", "ENCODING", key])
}

/// Adds `n` members `m000`.. with scores i % 7 to `key`.
fn add_members(c: &mut redis::Connection, key: &str, n: usize) {
    let mut add = redis::cmd("ZADD");
    add.arg(key);
    for i in 0..n {
        add.arg(i % 7).arg(format!("m{i:03}"));
    }
    add.query::<i64>(c).unwrap();
}

/// A sorted set stays compact up to 128 members of at most 64 bytes (Redis's
/// zset-max-listpack-entries / -value), converts once past either, and
/// never converts back.
#[test]
fn compact_form_converts_at_its_limits_and_never_back() {
    let s = Server::start();
    let c = &mut s.con();
    add_members(c, "count", 128);
    assert_eq!(encoding(c, "count"), "listpack");
    // Rescoring a member of a full compact set keeps it compact.
    assert_eq!(q::<i64>(c, &["ZADD", "count", "CH", "50", "m000"]), 1);
    assert_eq!(encoding(c, "count"), "listpack");
    assert_eq!(q::<i64>(c, &["ZADD", "count", "1", "one-more"]), 1);
    assert_eq!(encoding(c, "count"), "skiplist");
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "count", "0", "-3"]), 127);
    assert_eq!(q::<i64>(c, &["ZCARD", "count"]), 2);
    assert_eq!(encoding(c, "count"), "skiplist");
    // Emptied, the key goes; recreated, it starts compact again.
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "count", "0", "-1"]), 2);
    assert_eq!(raw(c, &["OBJECT", "ENCODING", "count"]), Ok(V::Nil));
    add_members(c, "count", 1);
    assert_eq!(encoding(c, "count"), "listpack");

    let (max, over) = ("x".repeat(64), "y".repeat(65));
    assert_eq!(q::<i64>(c, &["ZADD", "len", "1", &max]), 1);
    assert_eq!(encoding(c, "len"), "listpack");
    assert_eq!(q::<String>(c, &["ZINCRBY", "len", "1", &over]), "1");
    assert_eq!(encoding(c, "len"), "skiplist");
    assert_eq!(q::<i64>(c, &["ZREM", "len", &over]), 1);
    assert_eq!(encoding(c, "len"), "skiplist");
    // A store builds its destination compact when it fits.
    assert_eq!(q::<i64>(c, &["ZUNIONSTORE", "len2", "1", "len"]), 1);
    assert_eq!(encoding(c, "len2"), "listpack");
}

/// The reply to `command` with its `K` argument replaced by `key`.
fn on(c: &mut redis::Connection, command: &[&str], key: &str) -> Result<V, String> {
    let args: Vec<&str> = command
        .iter()
        .map(|a| if *a == "K" { key } else { a })
        .collect();
    raw(c, &args)
}

/// Every read gives the same reply on the same elements in either form: the
/// same set is built compact in one key and converted (by a long member
/// added, then removed) in another.
#[test]
fn replies_are_the_same_in_both_forms() {
    let s = Server::start();
    let c = &mut s.con();
    let long = "l".repeat(65);
    for (key, convert) in [("{z}compact", false), ("{z}full", true)] {
        if convert {
            q::<i64>(c, &["ZADD", key, "0", &long]);
        }
        add_members(c, key, 100);
        q::<i64>(
            c,
            &["ZADD", key, "-inf", "ninf", "+inf", "pinf", "2.5", "half"],
        );
        if convert {
            q::<i64>(c, &["ZREM", key, &long]);
        }
    }
    assert_eq!(encoding(c, "{z}compact"), "listpack");
    assert_eq!(encoding(c, "{z}full"), "skiplist");
    let reads: &[&[&str]] = &[
        &["ZRANGE", "K", "0", "-1", "WITHSCORES"],
        &["ZRANGE", "K", "-20", "-5", "REV"],
        &["ZRANGE", "K", "(1", "3", "BYSCORE", "LIMIT", "3", "10"],
        &["ZRANGE", "K", "+inf", "(2", "BYSCORE", "REV", "WITHSCORES"],
        &["ZCOUNT", "K", "2", "(4"],
        &["ZRANK", "K", "half"],
        &["ZREVRANK", "K", "m042"],
        &["ZRANK", "K", "absent"],
        &["ZSCORE", "K", "pinf"],
        &["ZMSCORE", "K", "ninf", "absent", "m099"],
        &["ZCARD", "K"],
        &["ZRANDMEMBER", "K", "-3"],
    ];
    for read in reads {
        let (ra, rb) = (on(c, read, "{z}compact"), on(c, read, "{z}full"));
        if read[0] == "ZRANDMEMBER" {
            // Random picks: the same shape, not the same members.
            let len = |r: &Result<V, String>| match r {
                Ok(V::Array(v)) => v.len(),
                other => panic!("{other:?}"),
            };
            assert_eq!(len(&ra), len(&rb));
        } else {
            assert_eq!(ra, rb, "{read:?}");
        }
    }
    // Writes too: the same replies and the same resulting sets.
    let writes: &[&[&str]] = &[
        &["ZPOPMIN", "K", "3"],
        &["ZPOPMAX", "K"],
        &["ZREMRANGEBYSCORE", "K", "(5", "6"],
        &["ZREMRANGEBYRANK", "K", "10", "20"],
        &["ZADD", "K", "GT", "CH", "100", "m001", "-5", "m002"],
        &["ZINCRBY", "K", "-7", "m003"],
        &["ZREM", "K", "m004", "absent"],
        &["ZRANGE", "K", "0", "-1", "WITHSCORES"],
    ];
    for write in writes {
        let compact = on(c, write, "{z}compact");
        assert_eq!(compact, on(c, write, "{z}full"), "{write:?}");
    }
    assert_eq!(encoding(c, "{z}compact"), "listpack");
    // Lex ranges, on sets whose scores are all equal (as they require).
    for (key, convert) in [("{z}compact", false), ("{z}full", true)] {
        q::<i64>(c, &["DEL", key]);
        if convert {
            q::<i64>(c, &["ZADD", key, "0", &long]);
        }
        let mut add = redis::cmd("ZADD");
        add.arg(key);
        for i in 0..100 {
            add.arg(0).arg(format!("m{i:03}"));
        }
        add.query::<i64>(c).unwrap();
        if convert {
            q::<i64>(c, &["ZREM", key, &long]);
        }
    }
    let lex: &[&[&str]] = &[
        &["ZRANGEBYLEX", "K", "[m010", "(m020"],
        &["ZREVRANGEBYLEX", "K", "+", "[m090", "LIMIT", "2", "3"],
        &["ZLEXCOUNT", "K", "-", "[m050"],
        &["ZRANGE", "K", "[m095", "+", "BYLEX"],
        &["ZREMRANGEBYLEX", "K", "[m030", "[m039"],
        &["ZRANGE", "K", "0", "-1"],
    ];
    for command in lex {
        let compact = on(c, command, "{z}compact");
        assert_eq!(compact, on(c, command, "{z}full"), "{command:?}");
    }
    assert_eq!(encoding(c, "{z}full"), "skiplist");
    // ZSCAN: a compact set comes back whole; both give the same pairs.
    let (next, mut items): (String, Vec<String>) =
        q(c, &["ZSCAN", "{z}compact", "0", "COUNT", "5"]);
    assert_eq!(next, "0");
    let mut all = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, part): (String, Vec<String>) =
            q(c, &["ZSCAN", "{z}full", &cursor, "COUNT", "5"]);
        all.extend(part);
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    let pairs = |v: &mut Vec<String>| {
        let mut p: Vec<(String, String)> =
            v.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
        p.sort();
        p
    };
    assert_eq!(pairs(&mut items), pairs(&mut all));
}
