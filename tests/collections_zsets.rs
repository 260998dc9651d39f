//! Sorted set commands through a real client (replies checked against
//! Redis 7.0.15, whose scores print as `%.17g`).

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
