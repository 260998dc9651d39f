//! Pub/sub through real clients (docs/pubsub.md): the replies byte for byte
//! against redis-server 7.0, publish counts with subscribers on every core,
//! order per publisher, a slow subscriber cut off while another goes on,
//! clean-up when a client goes away, redis-py's PubSub in RESP2 and RESP3.

mod common;

use common::{con_on, encode, q, raw_on, run_python, Raw, Server};
use std::time::{Duration, Instant};

/// Sends `commands` one at a time and returns everything the server wrote
/// back within a short wait after each, as one string (CRLF shown as ' ').
fn transcript(s: &Server, commands: &[&[&str]]) -> String {
    let mut r = s.raw();
    r.stream
        .set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let mut all = Vec::new();
    for cmd in commands {
        r.send(&encode(cmd));
        let mut chunk = [0u8; 65536];
        loop {
            use std::io::Read;
            match r.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(_) => break,
            }
        }
    }
    String::from_utf8_lossy(&all).replace("\r\n", " ")
}

const RESP2_SESSION: &[&[&str]] = &[
    &["SUBSCRIBE", "a", "b"],
    &["GET", "x"],
    &["CLIENT", "LIST"],
    &["PING"],
    &["PING", "hi"],
    &["PSUBSCRIBE", "p*"],
    &["SSUBSCRIBE", "s"],
    &["UNSUBSCRIBE", "zz"],
    &["UNSUBSCRIBE"],
    &["PUNSUBSCRIBE"],
    &["SUNSUBSCRIBE"],
    &["UNSUBSCRIBE"],
    &["PUNSUBSCRIBE"],
    &["SUNSUBSCRIBE"],
    &["GET", "x"],
    &["PING"],
];

const RESP3_SESSION: &[&[&str]] = &[
    &["HELLO", "3"],
    &["SUBSCRIBE", "a"],
    &["GET", "x"],
    &["PING"],
    &["PUBLISH", "a", "hello"],
    &["PSUBSCRIBE", "a*"],
    &["PUBLISH", "a", "hi"],
    &["SSUBSCRIBE", "a"],
    &["SPUBLISH", "a", "yo"],
    &["UNSUBSCRIBE", "x"],
    &["PUBSUB", "NUMSUB", "a", "b"],
    &["PUBSUB", "NUMPAT"],
    &["PUBSUB", "CHANNELS"],
    &["PUBSUB", "CHANNELS", "z*"],
    &["PUBSUB", "SHARDCHANNELS"],
    &["PUBSUB", "SHARDNUMSUB", "a"],
    &["PUBSUB", "NOSUCH"],
];

/// Redis 7.0's own bytes for the two sessions above (checked against the
/// oracle below when redis-server is installed).
const RESP2_EXPECTED: &str = "*3 $9 subscribe $1 a :1 *3 $9 subscribe $1 b :2 -ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context -ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context *2 $4 pong $0  *2 $4 pong $2 hi *3 $10 psubscribe $2 p* :3 *3 $10 ssubscribe $1 s :1 *3 $11 unsubscribe $2 zz :3 ";
const RESP2_EXPECTED_TAIL: &str = "*3 $12 punsubscribe $2 p* :0 *3 $12 sunsubscribe $1 s :0 *3 $11 unsubscribe $-1 :0 *3 $12 punsubscribe $-1 :0 *3 $12 sunsubscribe $-1 :0 $-1 +PONG ";
const RESP3_EXPECTED_AFTER_HELLO: &str = ">3 $9 subscribe $1 a :1 _ +PONG >3 $7 message $1 a $5 hello :1 >3 $10 psubscribe $2 a* :2 >3 $7 message $1 a $2 hi >4 $8 pmessage $2 a* $1 a $2 hi :2 >3 $10 ssubscribe $1 a :1 >3 $8 smessage $1 a $2 yo :1 >3 $11 unsubscribe $1 x :2 *4 $1 a :1 $1 b :0 :1 *1 $1 a *0 *1 $1 a *2 $1 a :1 -ERR unknown subcommand 'NOSUCH'. Try PUBSUB HELP. ";

fn check_sessions(s: &Server) {
    let t = transcript(s, RESP2_SESSION);
    // UNSUBSCRIBE with no name goes through the channels in no set order.
    assert!(t.starts_with(RESP2_EXPECTED), "{t}");
    assert!(t.ends_with(RESP2_EXPECTED_TAIL), "{t}");
    let middle = &t[RESP2_EXPECTED.len()..t.len() - RESP2_EXPECTED_TAIL.len()];
    let parts: Vec<&str> = middle.split("*3 ").filter(|p| !p.is_empty()).collect();
    assert_eq!(parts.len(), 2, "{middle}");
    assert!(
        parts[0].ends_with(":2 ") && parts[1].ends_with(":1 "),
        "{middle}"
    );
    let mut names: Vec<&str> = parts.iter().map(|p| p[..p.len() - 3].trim_end()).collect();
    names.sort();
    assert_eq!(
        names,
        ["$11 unsubscribe $1 a", "$11 unsubscribe $1 b"],
        "{middle}"
    );
    let t = transcript(s, RESP3_SESSION);
    let after_hello = &t[t.find(">3").expect("a push")..];
    assert_eq!(after_hello, RESP3_EXPECTED_AFTER_HELLO);
}

#[test]
fn subscribe_replies_and_subscribed_mode_match_redis() {
    if let Some(redis) = Server::redis_oracle() {
        check_sessions(&redis);
    } else {
        eprintln!("redis-server not installed: expectations not rechecked against it");
    }
    let s = Server::with(2, &[]);
    check_sessions(&s);
}

/// Reads one RESP2 pub/sub message `*3 message <channel> <payload>` (or
/// pmessage), returning (kind, channel, payload).
fn read_message(r: &mut Raw) -> (String, String, String) {
    let reply = r.read_reply();
    let parts: Vec<&str> = reply.split("\r\n").collect();
    match parts[0] {
        "*3" => (parts[2].into(), parts[4].into(), parts[6].into()),
        "*4" => (parts[2].into(), parts[6].into(), parts[8].into()),
        _ => panic!("not a message: {reply:?}"),
    }
}

#[test]
fn publish_counts_subscribers_on_every_core_and_keeps_each_publishers_order() {
    let s = Server::with(2, &[]);
    let mut subs: Vec<Raw> = Vec::new();
    for core in [0, 1, 0, 1] {
        let mut r = raw_on(&s, core);
        assert_eq!(
            r.cmd(&["SUBSCRIBE", "news"]),
            "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
        );
        subs.push(r);
    }
    // A pattern subscriber on core 1 counts too (once per matching pattern).
    let mut pat = raw_on(&s, 1);
    assert_eq!(
        pat.cmd(&["PSUBSCRIBE", "n*s"]),
        "*3\r\n$10\r\npsubscribe\r\n$3\r\nn*s\r\n:1\r\n"
    );
    let mut publishers = [con_on(&s, 0), con_on(&s, 1)];
    for p in publishers.iter_mut() {
        let n: i64 = q(p, &["PUBLISH", "news", "hello"]);
        assert_eq!(n, 5, "receivers on both cores");
        let n: i64 = q(p, &["PUBLISH", "nobody", "x"]);
        assert_eq!(n, 0);
        let numsub: Vec<redis::Value> = q(p, &["PUBSUB", "NUMSUB", "news"]);
        assert_eq!(numsub[1], redis::Value::Int(4));
        let numpat: i64 = q(p, &["PUBSUB", "NUMPAT"]);
        assert_eq!(numpat, 1);
    }
    for r in subs.iter_mut() {
        for _ in 0..2 {
            assert_eq!(
                read_message(r),
                ("message".into(), "news".into(), "hello".into())
            );
        }
    }
    for _ in 0..2 {
        assert_eq!(
            read_message(&mut pat),
            ("pmessage".into(), "news".into(), "hello".into())
        );
    }
    // Two publishers, one per core, pipelining numbered messages: every
    // subscriber sees each publisher's messages in its order.
    const N: usize = 2000;
    let threads: Vec<_> = [0usize, 1]
        .into_iter()
        .map(|core| {
            let mut p = raw_on(&s, core);
            std::thread::spawn(move || {
                let mut batch = Vec::new();
                for i in 0..N {
                    batch.extend(encode(&["PUBLISH", "news", &format!("{core}:{i}")]));
                }
                p.send(&batch);
                for _ in 0..N {
                    assert_eq!(p.read_reply(), ":5\r\n");
                }
            })
        })
        .collect();
    for r in subs.iter_mut().chain(std::iter::once(&mut pat)) {
        let mut next = [0usize, 0];
        for _ in 0..2 * N {
            let (_, _, payload) = read_message(r);
            let (core, i) = payload.split_once(':').unwrap();
            let (core, i): (usize, usize) = (core.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[core], "publisher {core}'s messages out of order");
            next[core] += 1;
        }
    }
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_slow_subscriber_is_cut_off_and_the_others_go_on() {
    let s = Server::with(2, &[]);
    let mut admin = s.con();
    let _: () = q(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 256kb 60",
        ],
    );
    let limits: Vec<String> = q(&mut admin, &["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(limits[1].contains("pubsub 1048576 262144 60"), "{limits:?}");
    assert!(
        limits[1].contains("slave 268435456 67108864 60"),
        "{limits:?}"
    );
    // The slow one is on the other core than the publisher, the good one on
    // the same: both paths of delivery.
    let mut slow = raw_on(&s, 1);
    slow.cmd(&["SUBSCRIBE", "feed"]);
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut good = raw_on(&s, 0);
    good.cmd(&["SUBSCRIBE", "feed"]);
    let mut publisher = con_on(&s, 0);
    let payload = "x".repeat(16 * 1024);
    const N: usize = 2000; // 32 MB in all: far more than the socket buffers
    let reader = std::thread::spawn(move || {
        for i in 0..N {
            let (_, _, p) = read_message(&mut good);
            assert_eq!(p.len(), 16 * 1024 + i.to_string().len() + 1, "message {i}");
        }
        good
    });
    let mut counts = Vec::new();
    for i in 0..N {
        let n: i64 = q(
            &mut publisher,
            &["PUBLISH", "feed", &format!("{i}:{payload}")],
        );
        counts.push(n);
    }
    let mut good = reader
        .join()
        .expect("the good subscriber got every message");
    assert_eq!(counts[0], 2);
    assert_eq!(
        *counts.last().unwrap(),
        1,
        "the slow subscriber still counted"
    );
    assert!(
        slow.closed_by_server(),
        "the slow subscriber was not disconnected"
    );
    let numsub: Vec<redis::Value> = q(&mut publisher, &["PUBSUB", "NUMSUB", "feed"]);
    assert_eq!(numsub[1], redis::Value::Int(1));
    // The good one still works.
    assert_eq!(good.cmd(&["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert!(
        s.log_text().contains("pubsub output buffer"),
        "no log of the cut-off"
    );
}

#[test]
fn subscriptions_go_when_their_clients_do() {
    let s = Server::with(2, &[]);
    let mut admin = s.con();
    let mut clients = Vec::new();
    for core in [0, 1, 0, 1] {
        let mut r = raw_on(&s, core);
        r.cmd(&["SUBSCRIBE", "c1", "c2"]);
        r.read_reply();
        r.cmd(&["PSUBSCRIBE", "p*"]);
        r.cmd(&["SSUBSCRIBE", "s1"]);
        clients.push(r);
    }
    let numsub: Vec<redis::Value> = q(&mut admin, &["PUBSUB", "NUMSUB", "c1", "c2"]);
    assert_eq!(numsub[1], redis::Value::Int(4));
    assert_eq!(numsub[3], redis::Value::Int(4));
    let n: i64 = q(&mut admin, &["PUBSUB", "NUMPAT"]);
    assert_eq!(n, 1);
    let list: String = q(&mut admin, &["CLIENT", "LIST"]);
    assert_eq!(list.matches("sub=2 psub=1 ssub=1").count(), 4, "{list}");
    assert_eq!(
        common::info_field(&mut admin, "stats", "pubsub_channels").as_deref(),
        Some("2")
    );
    assert_eq!(
        common::info_field(&mut admin, "stats", "pubsubshard_channels").as_deref(),
        Some("1")
    );
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let numsub: Vec<redis::Value> = q(&mut admin, &["PUBSUB", "NUMSUB", "c1", "c2"]);
        let shard: Vec<redis::Value> = q(&mut admin, &["PUBSUB", "SHARDNUMSUB", "s1"]);
        let pat: i64 = q(&mut admin, &["PUBSUB", "NUMPAT"]);
        let published: i64 = q(&mut admin, &["PUBLISH", "c1", "x"]);
        let gone = numsub[1] == redis::Value::Int(0)
            && numsub[3] == redis::Value::Int(0)
            && shard[1] == redis::Value::Int(0)
            && pat == 0
            && published == 0;
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "subscriptions left: {numsub:?} {shard:?} {pat}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for field in ["pubsub_channels", "pubsub_patterns", "pubsubshard_channels"] {
        assert_eq!(
            common::info_field(&mut admin, "stats", field).as_deref(),
            Some("0"),
            "{field}"
        );
    }
}

#[test]
fn the_redis_crate_pubsub_receives_from_any_core() {
    let s = Server::with(2, &[]);
    for core in [0, 1] {
        let mut con = con_on(&s, core);
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe("rc").unwrap();
        pubsub.psubscribe("r?").unwrap();
        pubsub
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for from in [0, 1] {
            let mut p = con_on(&s, from);
            let n: i64 = q(&mut p, &["PUBLISH", "rc", &format!("from {from}")]);
            assert_eq!(n, 2);
            let m = pubsub.get_message().unwrap();
            assert_eq!(m.get_channel_name(), "rc");
            assert_eq!(m.get_payload::<String>().unwrap(), format!("from {from}"));
            let m = pubsub.get_message().unwrap();
            assert_eq!(m.get_pattern::<String>().unwrap(), "r?");
        }
        pubsub.unsubscribe("rc").unwrap();
        pubsub.punsubscribe("r?").unwrap();
    }
}

#[test]
fn redis_py_pubsub_in_resp2_and_resp3() {
    let s = Server::with(2, &[]);
    let script = r#"
import sys, time, redis
port = int(sys.argv[1])
for proto in (2, 3):
    pubs = [redis.Redis(port=port, protocol=proto, decode_responses=True) for _ in range(4)]
    subs = []
    for i in range(4):
        r = redis.Redis(port=port, protocol=proto, decode_responses=True)
        p = r.pubsub(ignore_subscribe_messages=True)
        p.subscribe("jobs")
        p.psubscribe("job*")
        subs.append(p)
    # Wait for the four subscriptions (the confirmations are read lazily).
    for p in subs:
        while p.get_message(timeout=0.2) is not None:
            pass
    assert pubs[0].pubsub_numsub("jobs") == [("jobs", 4)], pubs[0].pubsub_numsub("jobs")
    assert pubs[0].pubsub_numpat() == 1
    for k, pub in enumerate(pubs):
        assert pub.publish("jobs", f"m{k}") == 8
    for p in subs:
        got = []
        deadline = time.time() + 10
        while len(got) < 8 and time.time() < deadline:
            m = p.get_message(timeout=1.0)
            if m is not None:
                got.append((m["type"], m.get("pattern"), m["data"]))
        direct = [d for t, _, d in got if t == "message"]
        by_pattern = [d for t, pat, d in got if t == "pmessage" and pat == "job*"]
        assert direct == [f"m{k}" for k in range(4)], got
        assert by_pattern == direct, got
    # listen() on a fresh subscriber, with a normal command beside it in RESP3.
    p = pubs[1].pubsub()
    p.subscribe("once")
    it = p.listen()
    assert next(it)["type"] == "subscribe"
    assert pubs[2].publish("once", "payload") == 1
    m = next(it)
    assert (m["type"], m["channel"], m["data"]) == ("message", "once", "payload"), m
    p.unsubscribe("once")
    assert next(it)["type"] == "unsubscribe"
    for q in subs + [p]:
        q.close()
    deadline = time.time() + 5
    while pubs[0].pubsub_numsub("jobs") != [("jobs", 0)] and time.time() < deadline:
        time.sleep(0.05)
    assert pubs[0].pubsub_numsub("jobs") == [("jobs", 0)]
    print(f"resp{proto} ok")
"#;
    let out = run_python(&s, script, Duration::from_secs(90));
    assert_eq!(out, "resp2 ok\nresp3 ok\n");
}

/// Commands and the keyspace events Redis 7.0 raises for them (every event
/// class, `KEA`), compared with redis-server's own when it is installed.
const EVENT_COMMANDS: &str = "SET s 1
SET s 2 EX 100
SETNX s 3
SETNX s2 3
SETEX s3 10 v
PSETEX s4 10000 v
GETSET s 5
MSET m1 1 m2 2
INCR n
INCRBY n 5
DECRBY n 2
INCRBYFLOAT f 1.5
APPEND s x
SETRANGE s 1 yy
GETDEL s2
GETEX s3 EX 100
GETEX s3 PERSIST
SETBIT b 1 1
PFADD h1 a b
DEL m1 m2 nosuch
EXPIRE n 100
PERSIST n
EXPIRE n 0
LPUSH l a b c
RPUSHX l f
LPOP l
RPOP l
LSET l 0 z
LINSERT l BEFORE z y
LREM l 1 y
LTRIM l 0 1
RPOP l 5
HSET h f v g w
HSETNX h x y
HINCRBY h n 1
HINCRBYFLOAT h fl 1.5
HDEL h f
HDEL h g x n fl
SADD st a b c
SREM st a
SPOP st
SPOP st 5
ZADD z 1 a 2 b 3 c 4 d
ZINCRBY z 1 a
ZREM z a
ZREMRANGEBYSCORE z 0 2
ZPOPMIN z
ZPOPMAX z
ZADD z 0 a 0 b
ZREMRANGEBYLEX z - +
RPUSH a1 x y
LMOVE a1 b1 LEFT RIGHT
LMOVE b1 b1 LEFT LEFT
LMOVE a1 b1 RIGHT LEFT
SADD s1 a b
SADD s2 b c
SUNIONSTORE d s1 s2
SINTERSTORE d s1 s2
SDIFFSTORE d s1 s1
SDIFFSTORE d s1 s1
ZADD z1 1 a
ZUNIONSTORE zd 1 z1
ZINTERSTORE zd 1 z1
ZDIFFSTORE zd 2 z1 z1
ZRANGESTORE zd z1 0 -1
ZRANGESTORE zd z1 5 6
SET r1 v
RENAME r1 r2
SET r3 w
RENAME r2 r3
RENAMENX r3 r4
RENAMENX r4 r4
SET r6 x
RENAMENX r4 r6
COPY r4 r5
COPY r4 r5 REPLACE
COPY r4 r5
COPY r4 r6 REPLACE
MOVE r5 1
MOVE r4 1
MSETNX m3 a m4 b
MSETNX m4 a m5 b
SET exp v PX 100";

const EVENTS_SCRIPT: &str = r#"
import sys, time, redis
port = int(sys.argv[1])
r = redis.Redis(port=port, decode_responses=True)
r.flushall()
r.config_set("notify-keyspace-events", FLAGS)
p = r.pubsub()
p.psubscribe("__keyevent@*__:*")
p.psubscribe("__keyspace@0__:s")
p.subscribe("marker")
for _ in range(3):
    p.get_message(timeout=5)
def events_until_marker():
    # A marker published after the command's reply comes after its events.
    r.publish("marker", "end")
    evs = []
    while True:
        m = p.get_message(timeout=5)
        assert m is not None, "no marker"
        if m["type"] == "message" and m["channel"] == "marker":
            return evs
        if m["type"] == "pmessage":
            evs.append(m["channel"] + " " + m["data"])
for line in COMMANDS.strip().split("\n"):
    try:
        r.execute_command(*line.split())
    except redis.ResponseError:
        pass
    print(line, "=>", ", ".join(events_until_marker()))
# The key set with PX 100 expires: active expiry raises `expired`.
time.sleep(1.0)
print("after 1s =>", ", ".join(events_until_marker()))
# Reads count keyspace hits and misses; a write's lookup counts neither.
stats = r.info("stats")
print("hits", stats["keyspace_hits"], "misses", stats["keyspace_misses"])
"#;

/// The events of a command whose keys span shards (MSET, MSETNX, DEL,
/// RENAME, MOVE's two databases, MGET's and EXISTS's misses) come from the shards in parallel or one
/// after the other, to a subscriber in no set order: sorted on those lines
/// (Redis's own order is the sorted one for these lines).
fn shard_order_aside(transcript: &str) -> String {
    transcript
        .lines()
        .map(|line| match line.split_once(" => ") {
            Some((cmd, events))
                if [
                    "MSET ", "MSETNX ", "DEL ", "RENAME", "MOVE ", "MGET ", "EXISTS ", "SUNION ",
                ]
                .iter()
                .any(|c| cmd.starts_with(c)) =>
            {
                let mut events: Vec<&str> = events.split(", ").collect();
                events.sort();
                format!("{cmd} => {}\n", events.join(", "))
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// The events script's transcript under `notify-keyspace-events` `flags`
/// on a 2-shard server, checked line for line against redis-server's when
/// one is installed.
fn events_as_redis(flags: &str) -> String {
    commands_events_as_redis(EVENT_COMMANDS, flags)
}

/// `events_as_redis` for other `commands`.
fn commands_events_as_redis(commands: &str, flags: &str) -> String {
    let script = EVENTS_SCRIPT
        .replace("COMMANDS.strip()", &format!("{commands:?}.strip()"))
        .replace("FLAGS", &format!("{flags:?}"));
    let s = Server::with(2, &[]);
    let ours = shard_order_aside(&run_python(&s, &script, Duration::from_secs(60)));
    if let Some(redis) = Server::redis_oracle() {
        let theirs = shard_order_aside(&run_python(&redis, &script, Duration::from_secs(60)));
        assert_eq!(
            ours, theirs,
            "ringcache (left) and redis-server (right) differ"
        );
    }
    ours
}

#[test]
fn keyspace_events_are_the_ones_redis_raises() {
    let ours = events_as_redis("KEA");
    // The expectations hold with or without the oracle.
    for expected in [
        "SET s 2 EX 100 => __keyspace@0__:s set, __keyevent@0__:set s, __keyspace@0__:s expire, __keyevent@0__:expire s",
        "RPOP l 5 => __keyevent@0__:rpop l, __keyevent@0__:del l",
        "HDEL h g x n fl => __keyevent@0__:hdel h, __keyevent@0__:del h",
        "ZINCRBY z 1 a => __keyevent@0__:zincr z",
        "SUNIONSTORE d s1 s2 => __keyevent@0__:sunionstore d",
        "SDIFFSTORE d s1 s1 => __keyevent@0__:del d",
        "ZRANGESTORE zd z1 0 -1 => __keyevent@0__:zrangestore zd",
        "after 1s => __keyevent@0__:expired exp",
    ] {
        assert!(ours.contains(expected), "missing {expected:?} in:\n{ours}");
    }
}

/// Class `n` (not part of `A`): `new` when a command creates a key,
/// before the command's own event on it, as Redis raises it where the key
/// is added; on every shard, also for a key a cross-shard move creates. It
/// raised nothing before.
#[test]
fn new_key_events_are_the_ones_redis_raises() {
    let ours = events_as_redis("KEAn");
    for expected in [
        "SET s 1 => __keyspace@0__:s new, __keyevent@0__:new s, __keyspace@0__:s set, __keyevent@0__:set s\n",
        "RPUSH a1 x y => __keyevent@0__:new a1, __keyevent@0__:rpush a1",
    ] {
        assert!(ours.contains(expected), "missing {expected:?} in:\n{ours}");
    }
}

/// Class `m`: `keymiss` when a read finds no key, as Redis raises it (in
/// its read lookup: a write's lookup raises none, EXISTS, TYPE and TTL
/// do). The events transcript, then reads of every kind, line by line
/// against redis-server. It was never raised before.
#[test]
fn keymiss_events_are_the_ones_redis_raises() {
    events_as_redis("Em");
    let reads = "GET nosuch
SET k v
GET k
MGET k nosuch1 nosuch2
EXISTS nosuch k
TYPE nosuch
STRLEN nosuch
GETRANGE nosuch 0 1
HGET nosuch f
HGETALL nosuch
LRANGE nosuch 0 -1
LINDEX nosuch 0
SMEMBERS nosuch
SISMEMBER nosuch m
ZSCORE nosuch m
ZRANGE nosuch 0 -1
TTL nosuch
PTTL nosuch
OBJECT ENCODING nosuch
DUMP nosuch
SUNION nosuch1 nosuch2
BITCOUNT nosuch
PFCOUNT nosuch
XRANGE nosuch - +
SORT nosuch";
    let ours = commands_events_as_redis(reads, "Em");
    for expected in [
        "GET nosuch => __keyevent@0__:keymiss nosuch\n",
        "GET k => \n",
        "EXISTS nosuch k => __keyevent@0__:keymiss nosuch\n",
    ] {
        assert!(ours.contains(expected), "missing {expected:?} in:\n{ours}");
    }
}

#[test]
fn notify_keyspace_events_setting_as_redis_normalizes_it() {
    let s = Server::with(2, &[]);
    let mut con = s.con();
    for (set, get) in [
        ("KEA", "AKE"),
        ("gK$Elsmnhzxetd", "AKEm"),
        ("Elg", "glE"),
        ("", ""),
    ] {
        let _: () = q(&mut con, &["CONFIG", "SET", "notify-keyspace-events", set]);
        let got: Vec<String> = q(&mut con, &["CONFIG", "GET", "notify-keyspace-events"]);
        assert_eq!(got[1], get, "after setting {set:?}");
    }
    assert_eq!(
        common::q_err(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Kq"]),
        "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
    );
    // Off (the default) publishes nothing; `K` alone (no class) neither.
    let mut sub = raw_on(&s, 1);
    sub.cmd(&["PSUBSCRIBE", "__key*"]);
    sub.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _: () = q(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "K"]);
    for key in common::keys_on("k", 0, 2, 3)
        .iter()
        .chain(&common::keys_on("k", 1, 2, 3))
    {
        let _: () = q(&mut con, &["SET", key, "v"]);
    }
    let mut chunk = [0u8; 256];
    use std::io::Read;
    assert!(
        sub.stream.read(&mut chunk).is_err(),
        "an event was published"
    );
    // Started with the setting (a profile key), and through a connection
    // on the other core than the key's shard.
    let s = Server::with(2, &["--set", "notify-keyspace-events=Eg"]);
    let mut sub = raw_on(&s, 0);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:expire"]);
    let key = &common::keys_on("t", 1, 2, 1)[0];
    let mut con = con_on(&s, 1);
    let _: () = q(&mut con, &["SET", key, "v", "EX", "100"]);
    assert_eq!(
        read_message(&mut sub),
        (
            "message".into(),
            "__keyevent@0__:expire".into(),
            key.clone()
        )
    );
}

#[test]
fn evicted_keys_raise_evicted_events() {
    let s = Server::with(
        2,
        &["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-random"],
    );
    let mut sub = raw_on(&s, 0);
    let mut con = s.con();
    let _: () = q(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ee"]);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let value = "v".repeat(10_000);
    for i in 0..2000 {
        let _: () = q(&mut con, &["SET", &format!("key:{i}"), &value]);
    }
    let evicted: u64 = common::info_field(&mut con, "stats", "evicted_keys")
        .unwrap()
        .parse()
        .unwrap();
    assert!(evicted > 100, "only {evicted} keys evicted");
    for _ in 0..evicted {
        let (_, channel, key) = read_message(&mut sub);
        assert_eq!(channel, "__keyevent@0__:evicted");
        assert!(key.starts_with("key:"), "{key}");
    }
}

/// A pipelined write followed by a PUBLISH: the write's keyspace event
/// reaches a subscriber of both before the message does (the publish waits
/// for the batch's earlier commands, on every shard, before it leaves).
#[test]
fn a_message_never_overtakes_the_write_before_it() {
    let s = Server::with(2, &["--set", "notify-keyspace-events=E$"]);
    let mut sub = raw_on(&s, 1);
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:set"]);
    sub.cmd(&["SUBSCRIBE", "done"]);
    let keys = [common::keys_on("w", 0, 2, 1), common::keys_on("w", 1, 2, 1)].concat();
    let mut publisher = raw_on(&s, 0);
    const N: usize = 300;
    let mut batch = Vec::new();
    for i in 0..N {
        let key = &keys[i % 2];
        batch.extend(encode(&["SET", key, &i.to_string()]));
        batch.extend(encode(&["PUBLISH", "done", &format!("{key} {i}")]));
    }
    publisher.send(&batch);
    for i in 0..N {
        let key = &keys[i % 2];
        let (_, channel, payload) = read_message(&mut sub);
        assert_eq!(
            (channel.as_str(), payload.as_str()),
            ("__keyevent@0__:set", key.as_str()),
            "write {i}"
        );
        let (_, channel, payload) = read_message(&mut sub);
        assert_eq!(
            (channel.as_str(), payload),
            ("done", format!("{key} {i}")),
            "message {i}"
        );
    }
    for _ in 0..2 * N {
        publisher.read_reply();
    }
}

/// RESET ends a client's subscriptions (Redis's `clearClientConnectionState`),
/// CLIENT LIST flags a subscriber `P`, and CLIENT KILL TYPE pubsub takes the
/// subscribers and no one else (TYPE normal, the others).
#[test]
fn reset_unsubscribes_and_client_kill_tells_subscribers_apart() {
    let s = Server::with(2, &[]);
    let mut admin = s.con();
    let mut sub = raw_on(&s, 1);
    sub.cmd(&["SUBSCRIBE", "r1"]);
    let list: String = q(&mut admin, &["CLIENT", "LIST"]);
    assert!(list.contains("flags=P db=0 sub=1"), "{list}");
    assert_eq!(sub.cmd(&["RESET"]), "+RESET\r\n");
    let published: i64 = q(&mut admin, &["PUBLISH", "r1", "x"]);
    assert_eq!(published, 0, "RESET left the subscription");
    let list: String = q(&mut admin, &["CLIENT", "LIST"]);
    assert!(!list.contains("flags=P"), "{list}");
    sub.cmd(&["SUBSCRIBE", "r2"]);
    let mut plain = raw_on(&s, 0);
    assert_eq!(plain.cmd(&["PING"]), "+PONG\r\n");
    let killed: i64 = q(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(killed, 1);
    assert!(sub.closed_by_server());
    assert_eq!(plain.cmd(&["PING"]), "+PONG\r\n");
    let killed: i64 = q(&mut admin, &["CLIENT", "KILL", "TYPE", "normal"]);
    assert_eq!(
        killed, 1,
        "TYPE normal takes the plain client (not the caller: SKIPME yes)"
    );
}
