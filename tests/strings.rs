//! String commands against the real binary: GET/SET and every SET option, the
//! SET variants, counters, ranges, and their Redis error replies. Each test
//! starts its own server (start-up takes milliseconds), so tests run in
//! parallel without sharing keys.

mod common;

use common::{err, q, q_err, Server};
use redis::{Connection, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn get(con: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn ttl(con: &mut Connection, key: &str) -> i64 {
    q(con, &["TTL", key])
}

fn pttl(con: &mut Connection, key: &str) -> i64 {
    q(con, &["PTTL", key])
}

#[test]
fn get_and_set() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(get(&mut con, "k"), None);
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v"]), "OK");
    assert_eq!(get(&mut con, "k"), Some(b"v".to_vec()));
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v2"]), "OK");
    assert_eq!(get(&mut con, "k"), Some(b"v2".to_vec()));
    // Binary-safe, empty and large values.
    let binary = b"a\0b\r\nc\xff".to_vec();
    let ok: String = redis::cmd("SET")
        .arg("bin")
        .arg(&binary)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(get(&mut con, "bin"), Some(binary));
    assert_eq!(q::<String>(&mut con, &["SET", "empty", ""]), "OK");
    assert_eq!(get(&mut con, "empty"), Some(Vec::new()));
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let ok: String = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(get(&mut con, "big"), Some(big));
    // Command names are case-insensitive.
    assert_eq!(q::<String>(&mut con, &["sEt", "k", "lower"]), "OK");
    assert_eq!(q::<String>(&mut con, &["get", "k"]), "lower");
    // Arity.
    assert_eq!(
        q_err(&mut con, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        q_err(&mut con, &["GET", "a", "b"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        q_err(&mut con, &["SET", "a"]),
        "ERR wrong number of arguments for 'set' command"
    );
}

#[test]
fn set_expiry_options() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q::<String>(&mut con, &["SET", "ex", "v", "EX", "100"]),
        "OK"
    );
    assert_eq!(ttl(&mut con, "ex"), 100);
    assert_eq!(
        q::<String>(&mut con, &["SET", "px", "v", "px", "100000"]),
        "OK"
    );
    let p = pttl(&mut con, "px");
    assert!((99_000..=100_000).contains(&p), "PTTL {p}");
    let at = now_ms() / 1000 + 200;
    assert_eq!(
        q::<String>(&mut con, &["SET", "exat", "v", "EXAT", &at.to_string()]),
        "OK"
    );
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "exat"]), at);
    let t = ttl(&mut con, "exat");
    assert!((198..=200).contains(&t), "TTL {t}");
    let pat = now_ms() + 300_000;
    assert_eq!(
        q::<String>(&mut con, &["SET", "pxat", "v", "PXAT", &pat.to_string()]),
        "OK"
    );
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "pxat"]), pat);
    // The same option may be repeated: the last time wins.
    assert_eq!(
        q::<String>(&mut con, &["SET", "rep", "v", "EX", "10", "ex", "20"]),
        "OK"
    );
    assert_eq!(ttl(&mut con, "rep"), 20);
    assert_eq!(
        q::<String>(
            &mut con,
            &["SET", "rep", "v", "KEEPTTL", "keepttl", "GET", "GET"]
        ),
        "v"
    );
    assert_eq!(ttl(&mut con, "rep"), 20);
    // A plain SET clears the TTL.
    assert_eq!(q::<String>(&mut con, &["SET", "ex", "v2"]), "OK");
    assert_eq!(ttl(&mut con, "ex"), -1);
    // A time already in the past: OK, and the key is gone.
    assert_eq!(
        q::<String>(&mut con, &["SET", "past", "v", "PXAT", "1"]),
        "OK"
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "past"]), 0);
    assert_eq!(
        q::<String>(&mut con, &["SET", "px", "v", "EXAT", "1"]),
        "OK"
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "px"]), 0);

    // Errors.
    for (args, msg) in [
        (
            &["SET", "k", "v", "EX", "0"][..],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "PX", "-5"],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "EX", "9223372036854775807"],
            "ERR invalid expire time in 'set' command",
        ),
        (
            &["SET", "k", "v", "EX", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (&["SET", "k", "v", "EX"], "ERR syntax error"),
        (
            &["SET", "k", "v", "EX", "10", "PX", "10"],
            "ERR syntax error",
        ),
        (
            &["SET", "k", "v", "KEEPTTL", "EX", "10"],
            "ERR syntax error",
        ),
        (
            &["SET", "k", "v", "PX", "100", "KEEPTTL"],
            "ERR syntax error",
        ),
        (
            &["SET", "k", "v", "EXAT", "100", "PXAT", "100"],
            "ERR syntax error",
        ),
        (&["SET", "k", "v", "NX", "XX"], "ERR syntax error"),
        (&["SET", "k", "v", "FOO"], "ERR syntax error"),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
    // A failed SET changed nothing.
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
}

#[test]
fn set_nx_xx_keepttl_get() {
    let s = Server::start();
    let mut con = s.con();
    // NX / XX.
    assert_eq!(q::<Value>(&mut con, &["SET", "k", "v1", "NX"]), Value::Okay);
    assert_eq!(q::<Value>(&mut con, &["SET", "k", "v2", "NX"]), Value::Nil);
    assert_eq!(get(&mut con, "k"), Some(b"v1".to_vec()));
    assert_eq!(
        q::<Value>(&mut con, &["SET", "nokey", "v", "XX"]),
        Value::Nil
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "nokey"]), 0);
    assert_eq!(q::<Value>(&mut con, &["SET", "k", "v3", "xx"]), Value::Okay);
    assert_eq!(get(&mut con, "k"), Some(b"v3".to_vec()));

    // KEEPTTL keeps it; a plain SET drops it.
    assert_eq!(q::<String>(&mut con, &["SET", "t", "v", "EX", "100"]), "OK");
    assert_eq!(q::<String>(&mut con, &["SET", "t", "v2", "KEEPTTL"]), "OK");
    assert_eq!(ttl(&mut con, "t"), 100);
    assert_eq!(get(&mut con, "t"), Some(b"v2".to_vec()));

    // GET returns the old value.
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "g", "a", "GET"]),
        None
    );
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "g", "b", "GET", "EX", "100"]),
        Some("a".into())
    );
    assert_eq!(ttl(&mut con, "g"), 100);
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "g", "c", "KEEPTTL", "GET"]),
        Some("b".into())
    );
    assert_eq!(ttl(&mut con, "g"), 100);
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "g", "d", "GET"]),
        Some("c".into())
    );
    assert_eq!(ttl(&mut con, "g"), -1);
    // NX GET (allowed since Redis 7.0): returns the old value, sets nothing.
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "g", "e", "NX", "GET"]),
        Some("d".into())
    );
    assert_eq!(get(&mut con, "g"), Some(b"d".to_vec()));
    // XX GET on a missing key: nil, nothing set.
    assert_eq!(
        q::<Option<String>>(&mut con, &["SET", "nokey", "e", "XX", "GET"]),
        None
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "nokey"]), 0);
}

#[test]
fn setnx_setex_psetex() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["SETNX", "k", "a"]), 1);
    assert_eq!(q::<i64>(&mut con, &["SETNX", "k", "b"]), 0);
    assert_eq!(get(&mut con, "k"), Some(b"a".to_vec()));

    assert_eq!(q::<String>(&mut con, &["SETEX", "k", "100", "v"]), "OK");
    assert_eq!(ttl(&mut con, "k"), 100);
    assert_eq!(get(&mut con, "k"), Some(b"v".to_vec()));
    assert_eq!(q::<String>(&mut con, &["PSETEX", "p", "100000", "v"]), "OK");
    let p = pttl(&mut con, "p");
    assert!((99_000..=100_000).contains(&p), "PTTL {p}");
    assert_eq!(
        q_err(&mut con, &["SETEX", "k", "0", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        q_err(&mut con, &["PSETEX", "k", "-1", "v"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        q_err(&mut con, &["SETEX", "k", "abc", "v"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        q_err(&mut con, &["SETEX", "k", "10"]),
        "ERR wrong number of arguments for 'setex' command"
    );
    // The failed SETEX left the key as it was.
    assert_eq!(ttl(&mut con, "k"), 100);
}

#[test]
fn getset_getdel() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<Option<String>>(&mut con, &["GETSET", "k", "a"]), None);
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(
        q::<Option<String>>(&mut con, &["GETSET", "k", "b"]),
        Some("a".into())
    );
    // GETSET drops the TTL, as SET does.
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(get(&mut con, "k"), Some(b"b".to_vec()));

    assert_eq!(
        q::<Option<String>>(&mut con, &["GETDEL", "k"]),
        Some("b".into())
    );
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(q::<Option<String>>(&mut con, &["GETDEL", "k"]), None);
}

#[test]
fn getex() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<String>(&mut con, &["SET", "k", "v"]), "OK");
    assert_eq!(q::<String>(&mut con, &["GETEX", "k"]), "v");
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(q::<String>(&mut con, &["GETEX", "k", "EX", "100"]), "v");
    assert_eq!(ttl(&mut con, "k"), 100);
    assert_eq!(q::<String>(&mut con, &["GETEX", "k", "PERSIST"]), "v");
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(q::<String>(&mut con, &["GETEX", "k", "PX", "50000"]), "v");
    let p = pttl(&mut con, "k");
    assert!((49_000..=50_000).contains(&p), "PTTL {p}");
    let at = now_ms() / 1000 + 500;
    assert_eq!(
        q::<String>(&mut con, &["GETEX", "k", "EXAT", &at.to_string()]),
        "v"
    );
    assert_eq!(q::<i64>(&mut con, &["EXPIRETIME", "k"]), at);
    let pat = now_ms() + 600_000;
    assert_eq!(
        q::<String>(&mut con, &["GETEX", "k", "PXAT", &pat.to_string()]),
        "v"
    );
    assert_eq!(q::<i64>(&mut con, &["PEXPIRETIME", "k"]), pat);
    assert_eq!(
        q::<String>(&mut con, &["GETEX", "k", "EX", "10", "EX", "30"]),
        "v"
    );
    assert_eq!(ttl(&mut con, "k"), 30);
    assert_eq!(
        q::<String>(&mut con, &["GETEX", "k", "PERSIST", "persist"]),
        "v"
    );
    assert_eq!(ttl(&mut con, "k"), -1);
    // A time in the past: the value is returned and the key deleted.
    assert_eq!(q::<String>(&mut con, &["GETEX", "k", "PXAT", "1"]), "v");
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    // Missing key: nil, whatever the expire value (Redis looks the key up
    // before it validates the time).
    assert_eq!(q::<Value>(&mut con, &["GETEX", "nokey"]), Value::Nil);
    assert_eq!(
        q::<Value>(&mut con, &["GETEX", "nokey", "EX", "10"]),
        Value::Nil
    );
    assert_eq!(
        q::<Value>(&mut con, &["GETEX", "nokey", "EX", "0"]),
        Value::Nil
    );

    assert_eq!(q::<String>(&mut con, &["SET", "k", "v"]), "OK");
    for (args, msg) in [
        (
            &["GETEX", "k", "EX", "0"][..],
            "ERR invalid expire time in 'getex' command",
        ),
        (
            &["GETEX", "k", "EX", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (&["GETEX", "k", "EX"], "ERR syntax error"),
        (&["GETEX", "k", "PERSIST", "EX", "10"], "ERR syntax error"),
        (&["GETEX", "k", "EX", "10", "PERSIST"], "ERR syntax error"),
        (&["GETEX", "k", "EX", "10", "PX", "10"], "ERR syntax error"),
        (&["GETEX", "k", "KEEPTTL"], "ERR syntax error"),
        (&["GETEX", "k", "FOO"], "ERR syntax error"),
        (
            &["GETEX"],
            "ERR wrong number of arguments for 'getex' command",
        ),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
    assert_eq!(ttl(&mut con, "k"), -1);
}

#[test]
fn mget_mset_msetnx_one_shard() {
    let s = Server::shards(1);
    let mut con = s.con();
    assert_eq!(
        q::<String>(&mut con, &["MSET", "a", "1", "b", "2", "a", "3"]),
        "OK"
    );
    assert_eq!(
        q::<Vec<Option<String>>>(&mut con, &["MGET", "a", "nokey", "b", "a"]),
        vec![Some("3".into()), None, Some("2".into()), Some("3".into())]
    );
    assert_eq!(
        q_err(&mut con, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        q_err(&mut con, &["MGET"]),
        "ERR wrong number of arguments for 'mget' command"
    );
    assert_eq!(q::<i64>(&mut con, &["MSETNX", "x", "1", "y", "2"]), 1);
    assert_eq!(q::<i64>(&mut con, &["MSETNX", "z", "1", "y", "3"]), 0);
    assert_eq!(
        q::<Vec<Option<String>>>(&mut con, &["MGET", "x", "y", "z"]),
        vec![Some("1".into()), Some("2".into()), None]
    );
    assert_eq!(
        q_err(&mut con, &["MSETNX", "a", "1", "b"]),
        "ERR wrong number of arguments for 'msetnx' command"
    );
    // MSET drops TTLs.
    assert_eq!(q::<String>(&mut con, &["SETEX", "a", "100", "v"]), "OK");
    assert_eq!(q::<String>(&mut con, &["MSET", "a", "w"]), "OK");
    assert_eq!(ttl(&mut con, "a"), -1);
}

#[test]
fn incr_decr() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut con, &["INCRBY", "n", "10"]), 11);
    assert_eq!(q::<i64>(&mut con, &["DECR", "n"]), 10);
    assert_eq!(q::<i64>(&mut con, &["DECRBY", "n", "15"]), -5);
    assert_eq!(q::<i64>(&mut con, &["INCRBY", "n", "-5"]), -10);
    assert_eq!(get(&mut con, "n"), Some(b"-10".to_vec()));
    assert_eq!(q::<i64>(&mut con, &["DECR", "fresh"]), -1);

    // Counters keep the key's TTL.
    assert_eq!(q::<String>(&mut con, &["SETEX", "t", "100", "5"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["INCR", "t"]), 6);
    assert_eq!(ttl(&mut con, "t"), 100);

    let not_int = "ERR value is not an integer or out of range";
    for bad in ["abc", " 1", "1 ", "01", "1.5", "", "12345678901234567890"] {
        assert_eq!(q::<String>(&mut con, &["SET", "bad", bad]), "OK");
        assert_eq!(q_err(&mut con, &["INCR", "bad"]), not_int, "{bad:?}");
    }
    assert_eq!(q_err(&mut con, &["INCRBY", "n", "abc"]), not_int);
    assert_eq!(q_err(&mut con, &["INCRBY", "n", "1.0"]), not_int);
    assert_eq!(
        q_err(&mut con, &["DECRBY", "n", "9223372036854775808"]),
        not_int
    );
    // Overflow.
    assert_eq!(
        q::<String>(&mut con, &["SET", "max", "9223372036854775807"]),
        "OK"
    );
    assert_eq!(
        q_err(&mut con, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        q_err(&mut con, &["DECRBY", "max", "-1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        q_err(&mut con, &["DECRBY", "max", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    assert_eq!(
        q::<String>(&mut con, &["SET", "min", "-9223372036854775808"]),
        "OK"
    );
    assert_eq!(
        q_err(&mut con, &["DECR", "min"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(get(&mut con, "max"), Some(b"9223372036854775807".to_vec()));
    assert_eq!(
        q_err(&mut con, &["INCR"]),
        "ERR wrong number of arguments for 'incr' command"
    );
}

#[test]
fn incrbyfloat() {
    let s = Server::start();
    let mut con = s.con();
    // The examples of Redis's documentation.
    assert_eq!(q::<String>(&mut con, &["SET", "f", "10.50"]), "OK");
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "f", "-5"]), "5.6");
    assert_eq!(q::<String>(&mut con, &["SET", "f", "5.0e3"]), "OK");
    assert_eq!(
        q::<String>(&mut con, &["INCRBYFLOAT", "f", "2.0e2"]),
        "5200"
    );
    assert_eq!(get(&mut con, "f"), Some(b"5200".to_vec()));
    // Redis adds in long double and prints 17 decimals: 0.1 three times is 0.3.
    for want in ["0.1", "0.2", "0.3"] {
        assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "g", "0.1"]), want);
    }
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "g", "3"]), "3.3");
    for want in ["1.1", "3.3"] {
        let by = if want == "1.1" { "1.1" } else { "2.2" };
        assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "h", by]), want);
    }
    for (by, want) in [
        ("-0.1", "-0.1"),
        ("-0.1", "-0.2"),
        ("-0.1", "-0.3"),
        ("0.1", "-0.2"),
        ("0.1", "-0.1"),
        ("0.1", "0"),
        ("1e-5", "0.00001"),
        ("1e20", "100000000000000000000"),
    ] {
        assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "z", by]), want);
    }
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "i", "5"]), "5");
    // Keeps the TTL.
    assert_eq!(q::<String>(&mut con, &["SETEX", "t", "100", "1.5"]), "OK");
    assert_eq!(q::<String>(&mut con, &["INCRBYFLOAT", "t", "1"]), "2.5");
    assert_eq!(ttl(&mut con, "t"), 100);

    let not_float = "ERR value is not a valid float";
    assert_eq!(q_err(&mut con, &["INCRBYFLOAT", "f", "abc"]), not_float);
    assert_eq!(q_err(&mut con, &["INCRBYFLOAT", "f", "nan"]), not_float);
    assert_eq!(q_err(&mut con, &["INCRBYFLOAT", "f", " 1"]), not_float);
    assert_eq!(q::<String>(&mut con, &["SET", "s", "1 "]), "OK");
    assert_eq!(q_err(&mut con, &["INCRBYFLOAT", "s", "1"]), not_float);
    assert_eq!(
        q_err(&mut con, &["INCRBYFLOAT", "f", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(get(&mut con, "f"), Some(b"5200".to_vec()));
}

#[test]
fn append_strlen() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["STRLEN", "k"]), 0);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "k", "Hello"]), 5);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "k", " World"]), 11);
    assert_eq!(get(&mut con, "k"), Some(b"Hello World".to_vec()));
    assert_eq!(q::<i64>(&mut con, &["STRLEN", "k"]), 11);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "k", ""]), 11);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "e", ""]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "e"]), 1);
    // APPEND keeps the TTL.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "k", "!"]), 12);
    assert_eq!(ttl(&mut con, "k"), 100);
    assert_eq!(q::<i64>(&mut con, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut con, &["APPEND", "n", "0"]), 2);
    assert_eq!(q::<i64>(&mut con, &["INCR", "n"]), 11);
}

#[test]
fn getrange_substr() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q::<String>(&mut con, &["SET", "s", "This is a string"]),
        "OK"
    );
    for (start, end, want) in [
        ("0", "3", "This"),
        ("-3", "-1", "ing"),
        ("0", "-1", "This is a string"),
        ("10", "100", "string"),
        ("5", "3", ""),
        ("-100", "-50", "T"),
        ("-1", "-5", ""),
        ("100", "200", ""),
        ("-100", "3", "This"),
    ] {
        assert_eq!(
            q::<String>(&mut con, &["GETRANGE", "s", start, end]),
            want,
            "GETRANGE s {start} {end}"
        );
    }
    assert_eq!(q::<String>(&mut con, &["SUBSTR", "s", "0", "3"]), "This");
    assert_eq!(q::<String>(&mut con, &["GETRANGE", "nokey", "0", "-1"]), "");
    assert_eq!(
        q_err(&mut con, &["GETRANGE", "s", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn setrange() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<String>(&mut con, &["SET", "k", "Hello World"]), "OK");
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "k", "6", "Redis"]), 11);
    assert_eq!(get(&mut con, "k"), Some(b"Hello Redis".to_vec()));
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "k", "11", "!!"]), 13);
    assert_eq!(get(&mut con, "k"), Some(b"Hello Redis!!".to_vec()));
    // Padding with zero bytes.
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "z", "3", "x"]), 4);
    assert_eq!(get(&mut con, "z"), Some(b"\0\0\0x".to_vec()));
    // An empty patch on a missing key creates nothing.
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "e", "5", ""]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "e"]), 0);
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "k", "100", ""]), 13);
    // Keeps the TTL.
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "k", "100"]), 1);
    assert_eq!(q::<i64>(&mut con, &["SETRANGE", "k", "0", "J"]), 13);
    assert_eq!(ttl(&mut con, "k"), 100);
    assert_eq!(get(&mut con, "k"), Some(b"Jello Redis!!".to_vec()));
    assert_eq!(
        q_err(&mut con, &["SETRANGE", "k", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(
        q_err(&mut con, &["SETRANGE", "k", "536870912", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        q_err(&mut con, &["SETRANGE", "k", "x", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(get(&mut con, "k"), Some(b"Jello Redis!!".to_vec()));
}

#[test]
fn strings_in_other_databases_are_separate() {
    let s = Server::start();
    let mut c0 = s.con();
    let mut c5 = s.con_db(5);
    assert_eq!(q::<String>(&mut c0, &["SET", "k", "zero"]), "OK");
    assert_eq!(q::<String>(&mut c5, &["SET", "k", "five"]), "OK");
    assert_eq!(get(&mut c0, "k"), Some(b"zero".to_vec()));
    assert_eq!(get(&mut c5, "k"), Some(b"five".to_vec()));
    assert_eq!(q::<i64>(&mut c5, &["INCR", "n"]), 1);
    assert_eq!(get(&mut c0, "n"), None);
    let e = err(redis::cmd("INCR").arg("k").query::<i64>(&mut c5));
    assert_eq!(e, "ERR value is not an integer or out of range");
}

#[test]
fn string_commands_on_other_types_reply_wrongtype() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["RPUSH", "l", "a", "b"]), 2);
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for args in [
        &["GET", "l"][..],
        &["GETSET", "l", "x"],
        &["GETDEL", "l"],
        &["GETEX", "l", "EX", "10"],
        &["APPEND", "l", "x"],
        &["STRLEN", "l"],
        &["GETRANGE", "l", "0", "1"],
        &["SETRANGE", "l", "0", "x"],
        &["INCR", "l"],
        &["DECRBY", "l", "1"],
        &["INCRBYFLOAT", "l", "1"],
        &["SET", "l", "v", "GET"],
        &["SET", "l", "v", "NX", "GET"],
    ] {
        assert_eq!(q_err(&mut con, args), wrongtype, "{args:?}");
    }
    // None of those touched the list.
    assert_eq!(
        q::<Vec<String>>(&mut con, &["LRANGE", "l", "0", "-1"]),
        ["a", "b"]
    );
    assert_eq!(q::<i64>(&mut con, &["TTL", "l"]), -1);
    // MGET gives nil for it; MSETNX sees it as existing; SET replaces it.
    assert_eq!(
        q::<Vec<Option<String>>>(&mut con, &["MGET", "l", "nokey"]),
        vec![None, None]
    );
    assert_eq!(q::<i64>(&mut con, &["MSETNX", "l", "1", "k", "2"]), 0);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(q::<Value>(&mut con, &["SET", "l", "v", "NX"]), Value::Nil);
    assert_eq!(q::<String>(&mut con, &["SET", "l", "v"]), "OK");
    assert_eq!(q::<String>(&mut con, &["TYPE", "l"]), "string");
    assert_eq!(get(&mut con, "l"), Some(b"v".to_vec()));
}
