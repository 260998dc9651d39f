//! Edge cases of issue 20 where ringcache answered differently from
//! redis-server 7.0: random-member commands with huge negative counts, and
//! INCRBYFLOAT / HINCRBYFLOAT printing `-0`. Run against a real Redis with
//! `RINGCACHE_TEST_SERVER=redis-server` (the ringcache-only checks are
//! skipped then: Redis builds those giant replies).

mod common;

use common::{encode, Server};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// The first line of the reply to `args`, without reading the rest: a
/// server that wrongly starts a giant reply fails the test instead of
/// filling the test's memory.
fn first_line(server: &Server, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .set_read_timeout(Some(common::REPLY_TIMEOUT))
        .unwrap();
    stream.write_all(&encode(args)).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

fn fill(server: &Server) {
    let mut r = server.raw();
    assert_eq!(r.cmd(&["HSET", "h", "a", "1", "b", "2"]), ":2\r\n");
    assert_eq!(r.cmd(&["SADD", "s", "a", "b"]), ":2\r\n");
    assert_eq!(r.cmd(&["ZADD", "z", "1", "a", "2", "b"]), ":2\r\n");
}

/// With WITHVALUES / WITHSCORES, Redis 7.0 refuses a count below
/// -LONG_MAX/2 (or above LONG_MAX/2) before it looks at the key.
#[test]
fn random_pairs_with_huge_counts_are_out_of_range() {
    let server = Server::start();
    fill(&server);
    let out_of_range = "-ERR value is out of range";
    for args in [
        &["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"][..],
        &["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"],
        &["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"],
        &["HRANDFIELD", "nokey", "-9223372036854770000", "WITHVALUES"],
        &["ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"],
        &["ZRANDMEMBER", "z", "-4611686018427387904", "WITHSCORES"],
        &["ZRANDMEMBER", "nokey", "4611686018427387904", "WITHSCORES"],
    ] {
        assert_eq!(first_line(&server, args), out_of_range, "{args:?}");
    }
    // LONG_MIN is refused by the range every count has.
    let range = "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    for args in [
        &["HRANDFIELD", "h", "-9223372036854775808"][..],
        &["SRANDMEMBER", "s", "-9223372036854775808"],
        &["ZRANDMEMBER", "z", "-9223372036854775808"],
    ] {
        assert_eq!(first_line(&server, args), range, "{args:?}");
    }
    // Within the bounds, a missing key is still an empty array.
    assert_eq!(
        first_line(&server, &["HRANDFIELD", "nokey", "-5", "WITHVALUES"]),
        "*0"
    );
    assert_eq!(first_line(&server, &["SRANDMEMBER", "s", "-3"]), "*3");
}

/// Where Redis would build a reply of up to 2^63 elements (and run out of
/// memory doing it), ringcache refuses a negative count past
/// `MAX_RANDOM_PICKS` with the same words, instead of building it or
/// silently answering fewer elements than asked.
#[test]
fn giant_random_replies_are_refused() {
    let server = Server::start();
    if server.is_redis() {
        return;
    }
    fill(&server);
    for args in [
        &["HRANDFIELD", "h", "-9223372036854770000"][..],
        &["HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES"],
        &["SRANDMEMBER", "s", "-9223372036854775807"],
        &["ZRANDMEMBER", "z", "-9223372036854770000"],
        &["ZRANDMEMBER", "z", "-4611686018427387903", "WITHSCORES"],
        &["SRANDMEMBER", "s", "-16777217"],
    ] {
        assert_eq!(
            first_line(&server, args),
            "-ERR value is out of range",
            "{args:?}"
        );
    }
    // At the limit the reply is whole.
    assert_eq!(
        first_line(&server, &["SRANDMEMBER", "s", "-16777216"]),
        "*16777216"
    );
}

/// Redis prints a float result with at most 17 decimals and never as `-0`
/// (its `ld2string` in human mode).
#[test]
fn float_increments_never_print_minus_zero() {
    let server = Server::start();
    let mut r = server.raw();
    let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len());
    assert_eq!(r.cmd(&["SET", "g", "-0"]), "+OK\r\n");
    assert_eq!(r.cmd(&["INCRBYFLOAT", "g", "-0"]), bulk("0"));
    assert_eq!(r.cmd(&["GET", "g"]), bulk("0"));
    assert_eq!(r.cmd(&["HSET", "h", "f", "-0"]), ":1\r\n");
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "f", "-0"]), bulk("0"));
    assert_eq!(r.cmd(&["HINCRBYFLOAT", "h", "f", "-1e-30"]), bulk("0"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "-1e-20"]), bulk("0"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "q", "-4e-18"]), bulk("0"));
    assert_eq!(
        r.cmd(&["INCRBYFLOAT", "p", "1e-17"]),
        bulk("0.00000000000000001")
    );
    assert_eq!(
        r.cmd(&["INCRBYFLOAT", "x", "-0.00000000000000001"]),
        bulk("-0.00000000000000001")
    );
    assert_eq!(
        r.cmd(&["INCRBYFLOAT", "y", "1.23456789012345678e-5"]),
        bulk("0.00001234567890123")
    );
    assert_eq!(r.cmd(&["INCRBYFLOAT", "v", "0.1"]), bulk("0.1"));
    assert_eq!(r.cmd(&["INCRBYFLOAT", "v", "0.2"]), bulk("0.3"));
}
