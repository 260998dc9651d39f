//! DUMP and RESTORE against redis-server 7.0: replies and errors compared
//! byte for byte; values of every type and both encodings (small: listpack
//! or intset; large: quicklist, hashtable, skiplist) dumped by redis-server
//! and restored here, and the reverse, then compared element by element
//! (and OBJECT ENCODING on the Redis side); payloads of Redis 6 (ziplists)
//! and of a Redis with other encoding settings (compressed quicklist nodes,
//! bigger listpacks); corrupt payloads (every truncation, byte flips, lying
//! counts) refused without a crash; the side effects Redis has (keyspace
//! event, WATCH, blocked BLPOP/BZPOPMIN/XREAD woken, OOM, ACL key
//! patterns); and RESTOREd keys that come back from the log after kill -9.
//! MIGRATE (DUMP + RESTORE over a connection to the target) both ways,
//! with its replies and errors beside Redis's.
//! Skipped, with a message, when redis-server is not installed
//! (`tests/run.sh` installs it).

mod common;

use common::{keys_on, Raw, Server};
use redis::Value as V;
use std::time::Duration;

/// RESP request of binary arguments.
fn enc(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn call(raw: &mut Raw, args: &[&[u8]]) -> String {
    raw.call(&enc(args))
}

/// Sends `args` to both and checks the replies are the same; returns it.
fn both(r: &mut Raw, o: &mut Raw, args: &[&[u8]]) -> String {
    let (want, got) = (call(r, args), call(o, args));
    assert_eq!(
        got,
        want,
        "{:?}",
        args.iter()
            .map(|a| String::from_utf8_lossy(&a[..a.len().min(40)]).into_owned())
            .collect::<Vec<_>>()
    );
    got
}

fn dump(con: &mut redis::Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query(con).expect("DUMP")
}

fn words(con: &mut redis::Connection, args: &[&str]) -> V {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// CRC-64/Jones, bit by bit (the server's is table-driven): to sign
/// payloads whose object is wrong on purpose.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `body` with a version-10 footer and its checksum.
fn signed(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// The commands that build each value compared, by name.
fn values() -> Vec<(&'static str, Vec<Vec<String>>)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let many = |cmd: &str, n: usize, f: &dyn Fn(usize) -> Vec<String>| {
        let mut c = vec![cmd.to_string(), "K".to_string()];
        (0..n).for_each(|i| c.extend(f(i)));
        vec![c]
    };
    vec![
        ("string", vec![s(&["SET", "K", "hello world"])]),
        ("string-empty", vec![s(&["SET", "K", ""])]),
        ("string-int", vec![s(&["SET", "K", "-12345"])]),
        (
            "string-int64",
            vec![s(&["SET", "K", "9223372036854775807"])],
        ),
        ("string-not-canonical-int", vec![s(&["SET", "K", "007"])]),
        (
            "string-compressible",
            vec![s(&["SET", "K", &"abcd".repeat(5000)])],
        ),
        (
            "string-binary",
            vec![s(&["SET", "K", "\u{0}\u{1}\u{ff}\r\n\u{7f}"])],
        ),
        (
            "list-listpack",
            vec![s(&[
                "RPUSH",
                "K",
                "a",
                "1",
                "-7",
                "300",
                "x".repeat(100).as_str(),
                "",
            ])],
        ),
        (
            "list-quicklist",
            many("RPUSH", 3000, &|i| {
                vec![if i % 2 == 0 {
                    i.to_string()
                } else {
                    format!("element-{i}")
                }]
            }),
        ),
        (
            "list-big-element",
            vec![s(&["RPUSH", "K", "a", &"z".repeat(20000), "b"])],
        ),
        (
            "set-intset",
            vec![s(&["SADD", "K", "1", "-2", "70000", "5000000000"])],
        ),
        ("set-strings", vec![s(&["SADD", "K", "a", "b", "c", "1"])]),
        (
            "set-big-intset",
            many("SADD", 400, &|i| vec![(i * 13).to_string()]),
        ),
        (
            "set-hashtable",
            many("SADD", 600, &|i| vec![(i * 13).to_string()]),
        ),
        (
            "hash-listpack",
            vec![s(&["HSET", "K", "f", "v", "n", "12", "e", ""])],
        ),
        (
            "hash-hashtable",
            many("HSET", 300, &|i| vec![format!("field{i}"), i.to_string()]),
        ),
        (
            "hash-long-value",
            vec![s(&["HSET", "K", "f", &"v".repeat(100), "g", "1"])],
        ),
        (
            "zset-listpack",
            vec![s(&[
                "ZADD",
                "K",
                "1.5",
                "a",
                "2",
                "b",
                "-inf",
                "c",
                "inf",
                "d",
                "1e20",
                "e",
                "0.1",
                "f",
                "-3",
                "g",
                "4503599627370496",
                "h",
            ])],
        ),
        (
            "zset-skiplist",
            many("ZADD", 300, &|i| {
                vec![format!("{}", i as f64 / 7.0), format!("member{i}")]
            }),
        ),
        (
            "stream",
            vec![
                s(&["XADD", "K", "1-1", "f", "v", "g", "w"]),
                s(&["XADD", "K", "1-2", "f", "v2", "g", "w2"]),
                s(&["XADD", "K", "2-0", "other", "x"]),
                s(&["XADD", "K", "3-0", "f", "1", "g", "2"]),
                s(&["XDEL", "K", "1-2"]),
                s(&["XGROUP", "CREATE", "K", "g1", "0"]),
                s(&["XGROUP", "CREATE", "K", "g2", "$"]),
                s(&[
                    "XREADGROUP",
                    "GROUP",
                    "g1",
                    "alice",
                    "COUNT",
                    "2",
                    "STREAMS",
                    "K",
                    ">",
                ]),
                s(&[
                    "XREADGROUP",
                    "GROUP",
                    "g1",
                    "bob",
                    "COUNT",
                    "1",
                    "STREAMS",
                    "K",
                    ">",
                ]),
                s(&["XGROUP", "CREATECONSUMER", "K", "g2", "carol"]),
            ],
        ),
        (
            "stream-big",
            (0..700)
                .map(|i| {
                    s(&[
                        "XADD",
                        "K",
                        &format!("{}-{}", 1000 + i / 3, i % 3),
                        "field",
                        &i.to_string(),
                        "text",
                        "some words",
                    ])
                })
                .collect(),
        ),
        (
            "stream-empty",
            vec![s(&["XADD", "K", "5-5", "a", "b"]), s(&["XDEL", "K", "5-5"])],
        ),
    ]
}

/// A value as both servers print it (unordered collections sorted).
fn content(con: &mut redis::Connection, key: &str) -> String {
    let t: String = redis::cmd("TYPE").arg(key).query(con).expect("TYPE");
    let sorted = |v: V| {
        let mut items: Vec<String> = match v {
            V::Array(a) => a.iter().map(|x| format!("{x:?}")).collect(),
            other => vec![format!("{other:?}")],
        };
        items.sort();
        items.join(",")
    };
    let body = match t.as_str() {
        "string" => format!("{:?}", words(con, &["GET", key])),
        "list" => format!("{:?}", words(con, &["LRANGE", key, "0", "-1"])),
        "set" => sorted(words(con, &["SMEMBERS", key])),
        "hash" => {
            // Pairs kept together, then sorted.
            let V::Array(a) = words(con, &["HGETALL", key]) else {
                panic!("HGETALL")
            };
            let mut pairs: Vec<String> = a.chunks(2).map(|p| format!("{p:?}")).collect();
            pairs.sort();
            pairs.join(",")
        }
        "zset" => format!(
            "{:?}",
            words(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"])
        ),
        "stream" => {
            // Everything but times: entries, counters, groups, PELs.
            let info = words(con, &["XINFO", "STREAM", key]);
            let V::Array(info) = info else {
                panic!("XINFO")
            };
            let mut fields = Vec::new();
            for kv in info.chunks(2) {
                let name = text(&kv[0]);
                if [
                    "length",
                    "last-generated-id",
                    "max-deleted-entry-id",
                    "entries-added",
                    "recorded-first-entry-id",
                    "groups",
                ]
                .iter()
                .any(|f| name.contains(f))
                {
                    fields.push(format!("{name}={:?}", kv[1]));
                }
            }
            let groups = words(con, &["XINFO", "GROUPS", key]);
            let mut pending = Vec::new();
            if let V::Array(gs) = &groups {
                for g in gs {
                    let V::Array(kv) = g else { continue };
                    let name = text(&kv[1]);
                    // Id, consumer and delivery count; idle times differ.
                    if let V::Array(rows) = words(con, &["XPENDING", key, &name, "-", "+", "100"]) {
                        for row in rows {
                            if let V::Array(r) = row {
                                pending.push(format!("{name}:{:?}:{:?}:{:?}", r[0], r[1], r[3]));
                            }
                        }
                    }
                    if let V::Array(cs) = words(con, &["XINFO", "CONSUMERS", key, &name]) {
                        for c in cs {
                            if let V::Array(kv) = c {
                                pending.push(format!("{name}:consumer:{:?}:{:?}", kv[1], kv[3]));
                            }
                        }
                    }
                }
            }
            format!(
                "{fields:?} {:?} {groups:?} {pending:?}",
                words(con, &["XRANGE", key, "-", "+"])
            )
        }
        other => other.to_string(),
    };
    format!("{t}: {body}")
}

fn text(v: &V) -> String {
    match v {
        V::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        V::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn run(con: &mut redis::Connection, cmd: &[String], key: &str) {
    let mut c = redis::cmd(&cmd[0]);
    for a in &cmd[1..] {
        c.arg(if a == "K" { key } else { a.as_str() });
    }
    c.query::<V>(con).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
}

fn encoding(con: &mut redis::Connection, key: &str) -> String {
    redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key)
        .query(con)
        .expect("OBJECT ENCODING")
}

#[test]
fn values_move_between_redis_and_ringcache_both_ways() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the DUMP/RESTORE test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.con(), server.con());
    for (name, commands) in values() {
        let key = format!("orig:{name}");
        for c in &commands {
            run(&mut r, c, &key);
            run(&mut o, c, &key);
        }
        let want = content(&mut r, &key);
        assert_eq!(content(&mut o, &key), want, "{name}: built alike");
        // Redis → ringcache.
        let from_redis = dump(&mut r, &key).expect("redis DUMP");
        let copy = format!("from-redis:{name}");
        let reply: V = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(&from_redis)
            .query(&mut o)
            .unwrap_or_else(|e| panic!("{name}: RESTORE of Redis's payload here: {e}"));
        assert_eq!(reply, V::Okay);
        assert_eq!(content(&mut o, &copy), want, "{name}: Redis → ringcache");
        assert_eq!(
            encoding(&mut o, &copy),
            encoding(&mut o, &key),
            "{name}: encoding here after RESTORE"
        );
        // ringcache → Redis, which keeps the encoding it had made itself.
        let from_us = dump(&mut o, &key).expect("our DUMP");
        let copy = format!("from-ringcache:{name}");
        let reply: V = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(&from_us)
            .query(&mut r)
            .unwrap_or_else(|e| panic!("{name}: RESTORE of our payload in Redis: {e}"));
        assert_eq!(reply, V::Okay);
        assert_eq!(content(&mut r, &copy), want, "{name}: ringcache → Redis");
        assert_eq!(
            encoding(&mut r, &copy),
            encoding(&mut r, &key),
            "{name}: Redis's encoding of our payload"
        );
        // And our payload back here.
        let back = format!("back:{name}");
        let reply: V = redis::cmd("RESTORE")
            .arg(&back)
            .arg(0)
            .arg(&from_us)
            .query(&mut o)
            .expect("RESTORE of our own payload");
        assert_eq!(reply, V::Okay);
        assert_eq!(
            content(&mut o, &back),
            want,
            "{name}: ringcache → ringcache"
        );
    }
}

#[test]
fn replies_and_errors_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the DUMP/RESTORE test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.raw(), server.raw());
    let mut rc = redis.con();
    both(&mut r, &mut o, &[b"RPUSH", b"src", b"a", b"b"]);
    let payload = dump(&mut rc, "src").unwrap();
    let p = payload.as_slice();
    let far = (common_now_ms() + 3_600_000).to_string();
    let past = (common_now_ms() - 1000).to_string();
    let mut later = payload.clone();
    let n = later.len();
    later[n - 10] = 11;
    let mut flipped = payload.clone();
    flipped[3] ^= 0x10;
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"DUMP", b"nokey"],
        vec![b"DUMP"],
        vec![b"DUMP", b"a", b"b"],
        vec![b"RESTORE", b"k", b"0"],
        vec![b"RESTORE", b"k", b"0", p],
        vec![b"RESTORE", b"k", b"0", p],
        vec![b"RESTORE", b"k", b"0", b"garbage"],
        vec![b"RESTORE", b"k", b"x", p],
        vec![b"RESTORE", b"k", b"-1", p, b"REPLACE"],
        vec![b"RESTORE", b"k", b"x", p, b"REPLACE"],
        vec![b"RESTORE", b"k", b"0", p, b"REPLACE"],
        vec![b"RESTORE", b"k", b"0", p, b"replace", b"FOO"],
        vec![b"RESTORE", b"k", b"0", p, b"IDLETIME"],
        vec![b"RESTORE", b"k", b"0", p, b"IDLETIME", b"-1"],
        vec![b"RESTORE", b"k", b"0", p, b"IDLETIME", b"x"],
        vec![b"RESTORE", b"k", b"0", p, b"FREQ", b"256"],
        vec![b"RESTORE", b"k", b"0", p, b"FREQ", b"-1"],
        vec![b"RESTORE", b"k", b"0", p, b"FREQ", b"x"],
        vec![b"RESTORE", b"k", b"0", p, b"IDLETIME", b"10", b"FREQ", b"5"],
        vec![b"RESTORE", b"k", b"0", p, b"FREQ", b"5", b"IDLETIME", b"10"],
        vec![b"RESTORE", b"k2", b"0", p, b"IDLETIME", b"1000"],
        vec![b"OBJECT", b"FREQ", b"k2"],
        vec![b"RESTORE", b"k3", b"0", p, b"FREQ", b"100"],
        vec![b"LRANGE", b"k3", b"0", b"-1"],
        vec![b"RESTORE", b"k", b"0", &later, b"REPLACE"],
        vec![b"RESTORE", b"k", b"0", &flipped, b"REPLACE"],
        vec![b"RESTORE", b"k", b"0", &p[..p.len() - 1], b"REPLACE"],
        vec![b"RESTORE", b"k", b"0", b"", b"REPLACE"],
        vec![b"RESTORE", b"t1", b"100000", p],
        vec![b"TTL", b"t1"],
        vec![b"RESTORE", b"t2", far.as_bytes(), p, b"ABSTTL"],
        vec![b"TTL", b"t2"],
        vec![b"RESTORE", b"t3", past.as_bytes(), p, b"ABSTTL"],
        vec![b"EXISTS", b"t3"],
        vec![b"RESTORE", b"t2", past.as_bytes(), p, b"ABSTTL", b"REPLACE"],
        vec![b"EXISTS", b"t2"],
        vec![b"RESTORE", b"t2", b"1", p, b"ABSTTL"],
        vec![b"EXISTS", b"t2"],
        vec![b"SET", b"str", b"v"],
        vec![b"RESTORE", b"str", b"0", p, b"REPLACE", b"ABSTTL"],
        vec![b"TYPE", b"str"],
        vec![b"TTL", b"str"],
        vec![b"LRANGE", b"str", b"0", b"-1"],
        vec![b"COMMAND", b"INFO", b"dump", b"restore"],
        vec![
            b"COMMAND", b"GETKEYS", b"RESTORE", b"k", b"0", b"x", b"REPLACE",
        ],
        vec![b"COMMAND", b"GETKEYSANDFLAGS", b"RESTORE", b"k", b"0", b"x"],
        vec![b"COMMAND", b"GETKEYS", b"DUMP", b"k"],
    ];
    for args in &cases {
        both(&mut r, &mut o, args);
    }
    // Objects that are wrong inside a good footer.
    for body in [
        &[0u8, 0x80, 0xff, 0xff, 0xff, 0xff][..],
        &[1, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[2, 0],
        &[2, 2, 1, b'a', 1, b'a'],
        &[5, 1, 1, b'a', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
        &[7, 0],
        &[42],
        &[0, 0xc3, 1, 0x80, 0x7f, 0xff, 0xff, 0xff, 0],
    ] {
        let payload = signed(body);
        both(
            &mut r,
            &mut o,
            &[b"RESTORE", b"bad", b"0", &payload, b"REPLACE"],
        );
    }
    both(&mut r, &mut o, &[b"EXISTS", b"bad"]);
    // FREQ counts under an LFU policy (and IDLETIME does not).
    for args in [
        &[&b"CONFIG"[..], b"SET", b"maxmemory-policy", b"allkeys-lfu"][..],
        &[b"RESTORE", b"f1", b"0", p, b"FREQ", b"100"],
        &[b"OBJECT", b"FREQ", b"f1"],
        &[b"RESTORE", b"f2", b"0", p, b"IDLETIME", b"100"],
        &[b"OBJECT", b"IDLETIME", b"f2"],
        &[b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"],
    ] {
        both(&mut r, &mut o, args);
    }
    // IDLETIME: the key looks idle that long (Redis's clock is in whole
    // seconds: a second may tick between).
    for raw in [&mut r, &mut o] {
        let idle = call(raw, &[b"OBJECT", b"IDLETIME", b"k2"]);
        assert!(idle == ":1000\r\n" || idle == ":1001\r\n", "{idle}");
    }
}

fn common_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Every truncation of payloads of every type, and flipped bytes (with
/// the checksum both kept, which must fail, and made right again, which
/// must fail or restore something, never crash), and lying counts.
#[test]
fn corrupt_payloads_are_refused_never_a_crash() {
    let mut server = Server::start();
    let mut o = server.con();
    let mut raw = server.raw();
    let mut payloads = Vec::new();
    for (name, commands) in values() {
        let key = format!("p:{name}");
        for c in &commands {
            run(&mut o, c, &key);
        }
        payloads.push((name, dump(&mut o, &key).unwrap()));
    }
    let mut restored = 0;
    let mut sent = 0;
    for (name, p) in &payloads {
        let body = &p[..p.len() - 10];
        // Long payloads: a sample of cut points and flips.
        let step = (body.len() / 300).max(1);
        for cut in (0..body.len()).step_by(step) {
            let reply = call(
                &mut raw,
                &[b"RESTORE", b"x", b"0", &signed(&body[..cut]), b"REPLACE"],
            );
            assert_eq!(reply, "-ERR Bad data format\r\n", "{name} cut at {cut}");
            let reply = call(
                &mut raw,
                &[b"RESTORE", b"x", b"0", &p[..cut + 10], b"REPLACE"],
            );
            assert!(reply.starts_with("-ERR"), "{name} cut at {cut}: {reply}");
            sent += 2;
        }
        for i in (0..body.len()).step_by(step) {
            for flip in [0x01u8, 0x40, 0x80, 0xff] {
                let mut b = p.clone();
                b[i] ^= flip;
                let reply = call(&mut raw, &[b"RESTORE", b"x", b"0", &b, b"REPLACE"]);
                assert_eq!(reply, "-ERR DUMP payload version or checksum are wrong\r\n");
                let reply = call(
                    &mut raw,
                    &[
                        b"RESTORE",
                        b"x",
                        b"0",
                        &signed(&b[..b.len() - 10]),
                        b"REPLACE",
                    ],
                );
                assert!(
                    reply == "+OK\r\n" || reply == "-ERR Bad data format\r\n",
                    "{name} flip {i}: {reply}"
                );
                restored += (reply == "+OK\r\n") as usize;
                sent += 2;
            }
        }
    }
    eprintln!("{sent} corrupt payloads sent, {restored} re-signed flips still restored");
    // Counts and lengths that claim far more than the payload holds are
    // refused at once, without allocating for them.
    let lies: Vec<Vec<u8>> = vec![
        vec![1, 0x81, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 1, b'a'],
        vec![2, 0x80, 0xff, 0xff, 0xff, 0xff, 1, b'a'],
        vec![4, 0x80, 0x10, 0, 0, 0, 1, b'a', 1, b'b'],
        // LZF: 4 GB claimed from 3 bytes.
        vec![0, 0xc3, 3, 0x80, 0xff, 0xff, 0xff, 0xff, 0, b'a', 0],
        // A quicklist of a million nodes.
        vec![18, 0x80, 0, 0x0f, 0x42, 0x40, 2, 0],
        // A stream of 2^40 nodes, and a stream group with 2^32 PEL entries.
        vec![19, 0x81, 0, 0, 1, 0, 0, 0, 0, 0],
    ];
    for body in lies {
        let t = std::time::Instant::now();
        let reply = call(
            &mut raw,
            &[b"RESTORE", b"x", b"0", &signed(&body), b"REPLACE"],
        );
        assert_eq!(reply, "-ERR Bad data format\r\n", "{body:?}");
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    assert!(server.alive());
    assert_eq!(call(&mut raw, &[b"PING"]), "+PONG\r\n");
}

/// What Redis does around a RESTORE: the `restore` keyspace event, WATCH
/// invalidated, a client blocked on the list woken, OOM refused, and ACL
/// key patterns checked; on both servers, the same.
#[test]
fn side_effects_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the DUMP/RESTORE test needs it");
        return;
    };
    let server = Server::start();
    for s in [&redis, &server] {
        let mut c = s.raw();
        let mut con = s.con();
        call(&mut c, &[b"RPUSH", b"src", b"x", b"y"]);
        let p = dump(&mut con, "src").unwrap();
        // Keyspace event.
        call(
            &mut c,
            &[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"],
        );
        let mut sub = s.raw();
        let sub_reply = call(
            &mut sub,
            &[
                b"SUBSCRIBE",
                b"__keyevent@0__:restore",
                b"__keyevent@0__:del",
            ],
        );
        assert!(sub_reply.contains("subscribe"));
        let _ = sub.read_reply();
        assert_eq!(call(&mut c, &[b"RESTORE", b"ev", b"0", &p]), "+OK\r\n");
        let msg = sub.read_reply();
        assert!(
            msg.contains("__keyevent@0__:restore") && msg.contains("ev"),
            "{msg}"
        );
        // WATCH: a RESTORE of the watched key fails the transaction.
        let mut w = s.raw();
        call(&mut w, &[b"WATCH", b"wk"]);
        assert_eq!(call(&mut c, &[b"RESTORE", b"wk", b"0", &p]), "+OK\r\n");
        call(&mut w, &[b"MULTI"]);
        call(&mut w, &[b"GET", b"x"]);
        assert_eq!(call(&mut w, &[b"EXEC"]), "*-1\r\n");
        // A client blocked on the key is woken by the list RESTORE makes.
        let mut b = s.raw();
        b.send(&enc(&[b"BLPOP", b"bk", b"10"]));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(call(&mut c, &[b"RESTORE", b"bk", b"0", &p]), "+OK\r\n");
        assert_eq!(b.read_reply(), "*2\r\n$2\r\nbk\r\n$1\r\nx\r\n");
        // So are clients blocked on a sorted set or a stream.
        call(&mut c, &[b"ZADD", b"zsrc", b"1.5", b"m"]);
        call(&mut c, &[b"XADD", b"xsrc", b"7-1", b"f", b"v"]);
        let zp = dump(&mut con, "zsrc").unwrap();
        let xp = dump(&mut con, "xsrc").unwrap();
        b.send(&enc(&[b"BZPOPMIN", b"bz", b"10"]));
        let mut bx = s.raw();
        bx.send(&enc(&[
            b"XREAD", b"BLOCK", b"10000", b"STREAMS", b"bx", b"$",
        ]));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(call(&mut c, &[b"RESTORE", b"bz", b"0", &zp]), "+OK\r\n");
        assert_eq!(call(&mut c, &[b"RESTORE", b"bx", b"0", &xp]), "+OK\r\n");
        assert_eq!(b.read_reply(), "*3\r\n$2\r\nbz\r\n$1\r\nm\r\n$3\r\n1.5\r\n");
        assert_eq!(
            bx.read_reply(),
            "*1\r\n*2\r\n$2\r\nbx\r\n*1\r\n*2\r\n$3\r\n7-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
        // ACL: a user allowed only `allowed:*` keys.
        call(
            &mut c,
            &[
                b"ACL",
                b"SETUSER",
                b"dumper",
                b"on",
                b">pw",
                b"~allowed:*",
                b"+@all",
            ],
        );
        let mut u = s.raw();
        assert_eq!(call(&mut u, &[b"AUTH", b"dumper", b"pw"]), "+OK\r\n");
        assert_eq!(
            call(&mut u, &[b"RESTORE", b"allowed:1", b"0", &p]),
            "+OK\r\n"
        );
        assert_eq!(
            call(&mut u, &[b"RESTORE", b"other", b"0", &p]),
            "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        );
        assert_eq!(
            call(&mut u, &[b"DUMP", b"other"]),
            "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
        );
        // maxmemory: RESTORE is `denyoom`.
        call(&mut c, &[b"CONFIG", b"SET", b"maxmemory", b"1"]);
        assert_eq!(
            call(&mut c, &[b"RESTORE", b"oom", b"0", &p]),
            "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        );
        call(&mut c, &[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    }
}

/// A RESTOREd key (a big list, a key with a TTL, one replaced) comes back
/// from the log after kill -9, the TTL as an absolute time.
#[test]
fn restored_keys_survive_kill9() {
    let mut server = Server::with(2, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut o = server.con();
    let keys: Vec<String> = (0..2).flat_map(|sh| keys_on("rk", sh, 2, 2)).collect();
    let items: Vec<String> = (0..5000).map(|i| format!("item{i}")).collect();
    let mut push = vec!["RPUSH", "src"];
    push.extend(items.iter().map(String::as_str));
    words(&mut o, &push);
    words(&mut o, &["HSET", "hsrc", "a", "1", "b", "2"]);
    let list = dump(&mut o, "src").unwrap();
    let hash = dump(&mut o, "hsrc").unwrap();
    let restore = |o: &mut redis::Connection, key: &str, ttl: &str, p: &[u8], extra: &[&str]| {
        let mut c = redis::cmd("RESTORE");
        c.arg(key).arg(ttl).arg(p);
        for e in extra {
            c.arg(*e);
        }
        assert_eq!(c.query::<V>(o).unwrap(), V::Okay);
    };
    restore(&mut o, &keys[0], "0", &list, &[]);
    restore(&mut o, &keys[1], "600000", &hash, &[]);
    restore(&mut o, &keys[2], "0", &hash, &[]);
    restore(&mut o, &keys[2], "0", &list, &["REPLACE"]);
    words(&mut o, &["SET", &keys[3], "gone soon"]);
    let past = (common_now_ms() - 5000).to_string();
    restore(&mut o, &keys[3], &past, &hash, &["REPLACE", "ABSTTL"]);
    let before: Vec<String> = keys.iter().map(|k| content(&mut o, k)).collect();
    server.kill9_and_restart();
    let mut o = server.con();
    let after: Vec<String> = keys.iter().map(|k| content(&mut o, k)).collect();
    assert_eq!(after, before);
    assert!(before[0].contains("item4999") && before[2].contains("item0"));
    assert_eq!(before[3], "none: none");
    let ttl: i64 = redis::cmd("TTL").arg(&keys[1]).query(&mut o).unwrap();
    assert!((590..=600).contains(&ttl), "TTL after restart: {ttl}");
}

/// A ziplist element, for the payloads of Redis before 7.0.
enum Zl<'a> {
    S(&'a [u8]),
    I(i64),
}

/// A ziplist as Redis 6 wrote it.
fn ziplist(items: &[Zl]) -> Vec<u8> {
    let mut body = Vec::new();
    let (mut prev, mut tail) = (0usize, 10usize);
    for it in items {
        let start = body.len();
        tail = 10 + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xfe);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match it {
            Zl::S(s) => {
                let n = s.len();
                if n < 64 {
                    body.push(n as u8);
                } else if n < 16384 {
                    body.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
                } else {
                    body.push(0x80);
                    body.extend_from_slice(&(n as u32).to_be_bytes());
                }
                body.extend_from_slice(s);
            }
            Zl::I(i) => {
                let i = *i;
                if (0..=12).contains(&i) {
                    body.push(0xf1 + i as u8);
                } else if let Ok(v) = i8::try_from(i) {
                    body.extend_from_slice(&[0xfe, v as u8]);
                } else if let Ok(v) = i16::try_from(i) {
                    body.push(0xc0);
                    body.extend_from_slice(&v.to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&i) {
                    body.push(0xf0);
                    body.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
                } else if let Ok(v) = i32::try_from(i) {
                    body.push(0xd0);
                    body.extend_from_slice(&v.to_le_bytes());
                } else {
                    body.push(0xe0);
                    body.extend_from_slice(&i.to_le_bytes());
                }
            }
        }
        prev = body.len() - start;
    }
    let mut zl = Vec::new();
    zl.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
    zl.extend_from_slice(&(tail as u32).to_le_bytes());
    zl.extend_from_slice(&(items.len() as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(0xff);
    zl
}

/// An RDB string of plain bytes.
fn rdb_str(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = s.len();
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
    out
}

/// The encodings of Redis before 7.0 (ziplists, quicklists of ziplists,
/// the plain list, text scores, streams v1), in payloads of RDB version 9
/// as Redis 6 made them: restored by both servers, the values compared.
#[test]
fn older_encodings_restore_as_in_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the DUMP/RESTORE test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.con(), server.con());
    let long = vec![b'q'; 300];
    let elems = [
        Zl::S(b"a"),
        Zl::I(5),
        Zl::I(-2),
        Zl::I(300),
        Zl::I(70000),
        Zl::I(1 << 30),
        Zl::I(1 << 40),
        Zl::S(&long),
        Zl::S(b""),
        Zl::I(12),
        Zl::I(13),
    ];
    let v9 = |body: Vec<u8>| {
        let mut p = body;
        p.extend_from_slice(&9u16.to_le_bytes());
        let crc = crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = vec![10];
    b.extend(rdb_str(&ziplist(&elems)));
    cases.push(("list ziplist", b));
    let mut b = vec![14, 2];
    b.extend(rdb_str(&ziplist(&elems[..4])));
    b.extend(rdb_str(&ziplist(&elems[4..])));
    cases.push(("list quicklist", b));
    let mut b = vec![1, 3];
    for e in [&b"x"[..], b"12", &long] {
        b.extend(rdb_str(e));
    }
    cases.push(("list linked", b));
    let mut b = vec![13];
    b.extend(rdb_str(&ziplist(&[
        Zl::S(b"f1"),
        Zl::S(b"v1"),
        Zl::S(b"f2"),
        Zl::I(12),
        Zl::I(7),
        Zl::S(&long),
    ])));
    cases.push(("hash ziplist", b));
    let mut b = vec![12];
    b.extend(rdb_str(&ziplist(&[
        Zl::S(b"a"),
        Zl::S(b"-1.5"),
        Zl::S(b"b"),
        Zl::I(2),
        Zl::I(77),
        Zl::S(b"1e300"),
    ])));
    cases.push(("zset ziplist", b));
    let mut b = vec![3, 3];
    b.extend(rdb_str(b"a"));
    b.extend([3, b'1', b'.', b'5']);
    b.extend(rdb_str(b"b"));
    b.push(254);
    b.extend(rdb_str(b"c"));
    b.push(255);
    cases.push(("zset text scores", b));
    // A stream of Redis 6: one node (the listpack of `XADD x 1-1 f v`),
    // length, last ID, and a group without the 7.0 counters.
    let node = "0110000000000000000100000000000000011d1d0000000a0001010001010181660200010201000100018176020401ff";
    let mut b = vec![15];
    b.extend(
        (0..node.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&node[i..i + 2], 16).unwrap()),
    );
    b.extend([1, 1, 1, 1, 1, b'g', 1, 1, 0, 0]);
    cases.push(("stream v1", b));
    for (name, body) in cases {
        let payload = v9(body);
        let key = format!("old:{name}");
        for con in [&mut r, &mut o] {
            let reply: redis::RedisResult<V> = redis::cmd("RESTORE")
                .arg(&key)
                .arg(0)
                .arg(&payload)
                .query(con);
            assert_eq!(reply.map_err(|e| e.to_string()), Ok(V::Okay), "{name}");
        }
        assert_eq!(content(&mut o, &key), content(&mut r, &key), "{name}");
    }
}

/// Payloads of a redis-server with other encoding settings: compressed
/// quicklist nodes (`list-compress-depth`), and listpacks and intsets past
/// ringcache's own limits. Restored here, the values are the same.
#[test]
fn payloads_of_redis_with_other_settings_restore() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the DUMP/RESTORE test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.con(), server.con());
    for (name, value) in [
        ("list-compress-depth", "1"),
        ("list-max-listpack-size", "1000"),
        ("hash-max-listpack-entries", "1000"),
        ("hash-max-listpack-value", "1000"),
        ("zset-max-listpack-entries", "1000"),
        ("zset-max-listpack-value", "1000"),
        ("set-max-intset-entries", "5000"),
    ] {
        words(&mut r, &["CONFIG", "SET", name, value]);
    }
    let long = "w".repeat(300);
    let mut push = vec!["RPUSH".to_string(), "l".to_string()];
    let mut hset = vec!["HSET".to_string(), "h".to_string()];
    let mut zadd = vec!["ZADD".to_string(), "z".to_string()];
    let mut sadd = vec!["SADD".to_string(), "s".to_string()];
    for i in 0..900 {
        push.push(format!("{i}-{}", &long[..i % 300]));
        hset.extend([format!("f{i}"), format!("{i}{}", &long[..i % 200])]);
        zadd.extend([
            format!("{}", i as f64 * 1.25),
            format!("m{i}{}", &long[..i % 150]),
        ]);
        sadd.push((i as i64 * 7919 - 3_000_000).to_string());
    }
    for (key, cmd, encoding_wanted) in [
        ("l", &push, "quicklist"),
        ("h", &hset, "listpack"),
        ("z", &zadd, "listpack"),
        ("s", &sadd, "intset"),
    ] {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        words(&mut r, &args);
        assert_eq!(encoding(&mut r, key), encoding_wanted, "{key}");
        let payload = dump(&mut r, key).unwrap();
        let reply: V = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(&payload)
            .query(&mut o)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(reply, V::Okay);
        assert_eq!(content(&mut o, key), content(&mut r, key), "{key}");
    }
}

/// MIGRATE: values of every type go from ringcache (keys on both shards,
/// one with a TTL) to redis-server, from redis-server to ringcache, and
/// between two ringcache servers with COPY, REPLACE, AUTH and AUTH2; the
/// keys MIGRATE moved stay gone after kill -9, the copies stay.
#[test]
fn migrate_moves_every_type_both_ways() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the MIGRATE test needs it");
        return;
    };
    let mut server = Server::start();
    let target = Server::with(1, &["--requirepass", "pw"]);
    let mut o = server.con();
    let mut keys = Vec::new();
    let mut want = Vec::new();
    for (name, commands) in values() {
        let key = format!("m:{name}");
        for c in &commands {
            run(&mut o, c, &key);
        }
        want.push(content(&mut o, &key));
        keys.push(key);
    }
    let shards: std::collections::HashSet<usize> =
        keys.iter().map(|k| common::shard_of(k, 2)).collect();
    assert_eq!(shards.len(), 2, "keys on both shards");
    words(&mut o, &["PEXPIRE", &keys[0], "100000"]);
    let migrate =
        |con: &mut redis::Connection, port: u16, db: &str, opts: &[&str], keys: &[String]| {
            let mut c = redis::cmd("MIGRATE");
            c.arg("127.0.0.1").arg(port).arg("").arg(db).arg(5000);
            c.arg(opts).arg("KEYS").arg(keys);
            c.query::<V>(con)
                .unwrap_or_else(|e| panic!("MIGRATE {opts:?}: {e}"))
        };
    // ringcache → Redis (database 1).
    assert_eq!(migrate(&mut o, redis.port, "1", &[], &keys), V::Okay);
    let mut r1 = redis.con_db(1);
    for (key, want) in keys.iter().zip(&want) {
        assert_eq!(&content(&mut r1, key), want, "{key} in Redis");
        assert_eq!(content(&mut o, key), "none: none", "{key} moved away");
    }
    let pttl: i64 = redis::cmd("PTTL").arg(&keys[0]).query(&mut r1).unwrap();
    assert!((1..=100_000).contains(&pttl), "TTL kept: {pttl}");
    // Redis → ringcache (database 2).
    assert_eq!(migrate(&mut r1, server.port, "2", &[], &keys), V::Okay);
    let mut o2 = server.con_db(2);
    for (key, want) in keys.iter().zip(&want) {
        assert_eq!(&content(&mut o2, key), want, "{key} back from Redis");
        assert_eq!(content(&mut r1, key), "none: none");
    }
    // ringcache → ringcache: copies, then replaced, with both AUTH forms.
    let mut t = target.con();
    let _: () = redis::cmd("AUTH").arg("pw").query(&mut t).unwrap();
    let copy = &["COPY", "AUTH", "pw"];
    assert_eq!(migrate(&mut o2, target.port, "0", copy, &keys), V::Okay);
    words(&mut o2, &["SET", &keys[1], "changed"]);
    let replace = &["COPY", "REPLACE", "AUTH2", "default", "pw"];
    assert_eq!(
        migrate(&mut o2, target.port, "0", replace, &keys[1..2]),
        V::Okay
    );
    let changed = format!("{:?}", words(&mut t, &["GET", &keys[1]]));
    assert!(changed.contains("changed"), "{changed}");
    for (key, want) in keys.iter().zip(&want).skip(2) {
        assert_eq!(&content(&mut t, key), want, "{key} copied");
        assert_eq!(&content(&mut o2, key), want, "{key} kept by COPY");
    }
    server.kill9_and_restart();
    let (mut o, mut o2) = (server.con(), server.con_db(2));
    for (key, want) in keys.iter().zip(&want).skip(2) {
        assert_eq!(content(&mut o, key), "none: none", "{key} stays moved");
        assert_eq!(&content(&mut o2, key), want, "{key} stays");
    }
}

/// MIGRATE's replies and errors, from redis-server and from ringcache to
/// the same target: NOKEY, option and number errors, the target's errors
/// (BUSYKEY, AUTH, SELECT), a target that is not there; COMMAND GETKEYS of
/// its forms; its AUTH arguments hidden from the slow log.
#[test]
fn migrate_replies_and_errors_as_redis() {
    let (Some(redis), Some(target)) = (Server::redis_oracle(), Server::redis_oracle()) else {
        eprintln!("SKIPPED: redis-server is not installed; the MIGRATE test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o, mut t) = (redis.raw(), server.raw(), target.raw());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let tp = target.port.to_string();
    for raw in [&mut r, &mut o] {
        for k in ["k0", "k1", "k2", "busy"] {
            raw.cmd(&["SET", k, "v"]);
        }
    }
    for db in ["3", "4"] {
        t.cmd(&["SELECT", db]);
        t.cmd(&["SET", "busy", "there"]);
    }
    // `{db}`: 3 for Redis, 4 for ringcache, so that both meet the same target.
    let cases: &[&[&str]] = &[
        &[
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "",
            "{db}",
            "1000",
            "KEYS",
            "no1",
            "no2",
        ],
        &["MIGRATE", "127.0.0.1", &tp, "nokey", "{db}", "1000"],
        &[
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "k0",
            "{db}",
            "1000",
            "KEYS",
            "k1",
        ],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "{db}", "abc"],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "abc", "1000"],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "{db}", "1000", "BOGUS"],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "{db}", "1000", "AUTH"],
        &[
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "k0",
            "{db}",
            "1000",
            "AUTH2",
            "u",
        ],
        &["MIGRATE", "127.0.0.1", &tp, "k0"],
        &[
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "k0",
            "{db}",
            "1000",
            "AUTH",
            "pw",
        ],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "99", "1000"],
        &["MIGRATE", "127.0.0.1", &tp, "busy", "{db}", "1000"],
        &["MIGRATE", "127.0.0.1", &closed, "k0", "{db}", "100"],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "{db}", "0", "COPY"],
        &["EXISTS", "k0"],
        &["MIGRATE", "127.0.0.1", &tp, "k0", "{db}", "1000"],
        &[
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "",
            "{db}",
            "1000",
            "REPLACE",
            "KEYS",
            "k0",
            "busy",
            "k1",
        ],
        &["EXISTS", "k0", "busy", "k1"],
        &[
            "MIGRATE",
            "127.0.0.1",
            &tp,
            "",
            "{db}",
            "1000",
            "KEYS",
            "k1",
            "k2",
        ],
        &["EXISTS", "k1", "k2"],
        &["COMMAND", "GETKEYS", "MIGRATE", "h", "1", "k", "0", "1"],
        &[
            "COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "1", "COPY", "AUTH", "keys",
            "KEYS", "a", "b",
        ],
        &[
            "COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "1", "AUTH2", "u", "keys",
            "REPLACE", "KEYS", "c",
        ],
    ];
    for case in cases {
        let args = |db: &'static str| -> Vec<&str> {
            case.iter()
                .map(|a| if *a == "{db}" { db } else { *a })
                .collect()
        };
        let (want, got) = (r.cmd(&args("3")), o.cmd(&args("4")));
        assert_eq!(got, want, "{case:?}");
    }
    // Both targets got the same keys.
    for db in ["3", "4"] {
        t.cmd(&["SELECT", db]);
        assert_eq!(
            t.cmd(&["MGET", "k0", "k1", "k2", "busy"]),
            "*4\r\n$1\r\nv\r\n$1\r\nv\r\n$1\r\nv\r\n$1\r\nv\r\n",
            "db {db}"
        );
    }
    // The slow log hides AUTH2's username and password, as Redis's does.
    let mut slow_args = Vec::new();
    for server in [&redis, &server] {
        let mut con = server.con();
        words(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        words(&mut con, &["SET", "k9", "v"]);
        let mut c = redis::cmd("MIGRATE");
        c.arg(&[
            "127.0.0.1",
            &tp,
            "k9",
            "5",
            "1000",
            "COPY",
            "AUTH2",
            "u",
            "secret",
        ]);
        let refused = c.query::<V>(&mut con).unwrap_err().to_string();
        assert!(
            refused.contains("Target instance replied with error"),
            "{refused}"
        );
        let V::Array(entries) = words(&mut con, &["SLOWLOG", "GET", "1"]) else {
            panic!("SLOWLOG GET")
        };
        let V::Array(entry) = &entries[0] else {
            panic!("entry")
        };
        slow_args.push(format!("{:?}", entry[3]));
    }
    assert_eq!(slow_args[1], slow_args[0]);
    assert!(!slow_args[0].contains("secret"));
}
