//! Server commands of issue 20 through the real binary: SWAPDB, WAIT (no
//! replicas), MODULE, LOLWUT, DEBUG, PFDEBUG and PFSELFTEST. Their replies
//! are compared with redis-server 7.0's byte for byte where both give the
//! same (skipped, with a message, when redis-server is not installed); what
//! only ringcache can show (shards, timing, blocking) is checked on its own.

mod common;

use common::{both, keys_on, q, q_err, Raw, Server};
use std::time::{Duration, Instant};

#[test]
fn server_commands_answer_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this differential test needs it");
        return;
    };
    let server = Server::start();
    let on = |shard| keys_on("swap", shard, 2, 1).remove(0);
    let (a, b) = (on(0), on(1));
    for proto in ["2", "3"] {
        let (mut r, mut o) = (redis.raw(), server.raw());
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        for args in [
            &["WAIT", "0", "0"][..],
            &["WAIT", "-1", "100"],
            &["WAIT", "1", "10"],
            &["WAIT", "x", "0"],
            &["WAIT", "0", "-1"],
            &["WAIT", "0", "1.5"],
            &["WAIT", "0"],
            &["MODULE", "LIST"],
            &["MODULE", "HELP"],
            &["MODULE", "LOAD", "/nowhere.so"],
            &["MODULE", "UNLOAD", "x"],
            &["MODULE", "LIST", "x"],
            &["MODULE", "FOO"],
            &["LOLWUT"],
            &["LOLWUT", "VERSION", "1"],
            &["LOLWUT", "VERSION", "x"],
            &["LOLWUT", "foo"],
            // Refused by the default `enable-debug-command no`.
            &["DEBUG", "SLEEP", "0"],
            &["PFSELFTEST"],
            &["PFSELFTEST", "x"],
        ] {
            both(&mut r, &mut o, args);
        }
        // PFDEBUG: sparse, decoded, turned dense by GETREG and TODENSE.
        both(&mut r, &mut o, &["DEL", &a, &b]);
        both(&mut r, &mut o, &["PFDEBUG", "ENCODING", &a]);
        both(&mut r, &mut o, &["PFADD", &a, "x", "y", "z"]);
        both(&mut r, &mut o, &["PFADD", &b, "x"]);
        for sub in [
            "ENCODING", "DECODE", "GETREG", "ENCODING", "DECODE", "TODENSE",
        ] {
            both(&mut r, &mut o, &["PFDEBUG", sub, &a]);
        }
        for sub in ["TODENSE", "TODENSE", "FOO"] {
            both(&mut r, &mut o, &["PFDEBUG", sub, &b]);
        }
        both(&mut r, &mut o, &["GET", &a]);
        both(&mut r, &mut o, &["SET", &a, "not an hll"]);
        both(&mut r, &mut o, &["PFDEBUG", "ENCODING", &a]);
        both(&mut r, &mut o, &["PFDEBUG", "GETREG"]);
        // SWAPDB: errors, then keys of both shards trade databases.
        for args in [
            &["SWAPDB", "x", "y"][..],
            &["SWAPDB", "0", "y"],
            &["SWAPDB", "99", "y"],
            &["SWAPDB", "1", "99"],
            &["SWAPDB", "-1", "0"],
            &["SWAPDB", "0"],
            &["SWAPDB", "0", "0"],
        ] {
            both(&mut r, &mut o, args);
        }
        both(&mut r, &mut o, &["FLUSHALL"]);
        both(&mut r, &mut o, &["MSET", &a, "in-0", &b, "in-0"]);
        both(&mut r, &mut o, &["SELECT", "1"]);
        both(&mut r, &mut o, &["SET", &a, "in-1", "PX", "100000"]);
        both(&mut r, &mut o, &["SWAPDB", "1", "0"]);
        both(&mut r, &mut o, &["MGET", &a, &b]);
        both(&mut r, &mut o, &["SELECT", "0"]);
        both(&mut r, &mut o, &["MGET", &a, &b]);
        both(&mut r, &mut o, &["DBSIZE"]);
        // The TTL went with its key (within the same second of each other).
        let (want, got) = (r.cmd(&["TTL", &a]), o.cmd(&["TTL", &a]));
        for ttl in [&want, &got] {
            assert!(
                [":99\r\n", ":100\r\n"].contains(&ttl.as_str()),
                "{want} {got}"
            );
        }
        both(&mut r, &mut o, &["FLUSHALL"]);
    }
}

#[test]
fn lolwut_version_5_draws_schotter() {
    let server = Server::start();
    let mut con = server.con();
    let art: String = q(&mut con, &["LOLWUT", "VERSION", "5", "20", "4", "3"]);
    let lines: Vec<&str> = art.lines().collect();
    assert_eq!(
        lines.last().copied(),
        Some("Georg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15")
    );
    // Braille rows 20 characters wide, with squares drawn on them.
    let rows = &lines[..lines.len() - 2];
    assert!(rows.iter().all(|l| l.chars().count() == 20), "{art}");
    assert!(
        rows.iter().flat_map(|l| l.chars()).any(|c| c != '\u{2800}'),
        "{art}"
    );
}

#[test]
fn wait_without_replicas_blocks_until_its_timeout_or_client_unblock() {
    let server = Server::start();
    let mut con = server.con();
    let started = Instant::now();
    let n: i64 = q(&mut con, &["WAIT", "1", "300"]);
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Inside MULTI it answers at once.
    let mut raw = server.raw();
    raw.cmd(&["MULTI"]);
    raw.cmd(&["WAIT", "1", "0"]);
    assert_eq!(raw.cmd(&["EXEC"]), "*1\r\n:0\r\n");
    // Blocked for ever, until CLIENT UNBLOCK (as a timeout, then an error).
    for (how, reply) in [("TIMEOUT", ":0\r\n"), ("ERROR", "-UNBLOCKED")] {
        let mut waiting = server.raw();
        let id = waiting.cmd(&["CLIENT", "ID"]);
        let id = id.trim_start_matches(':').trim();
        waiting.send(&common::encode(&["WAIT", "1", "0"]));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n: i64 = q(&mut con, &["CLIENT", "UNBLOCK", id, how]);
            if n == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "WAIT never blocked");
            std::thread::sleep(Duration::from_millis(10));
        }
        let got = waiting.read_reply();
        assert!(got.starts_with(reply), "{how}: {got}");
    }
}

#[test]
fn debug_runs_when_enable_debug_command_allows_it() {
    let server = Server::with(2, &["--set", "enable-debug-command=local"]);
    let mut con = server.con();
    let started = Instant::now();
    let _: () = q(&mut con, &["DEBUG", "SLEEP", "0.2"]);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // POPULATE spreads over both shards and keeps what exists.
    let _: () = q(&mut con, &["SET", "key:7", "mine"]);
    let _: () = q(&mut con, &["DEBUG", "POPULATE", "1000"]);
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 1000);
    let v: String = q(&mut con, &["GET", "key:7"]);
    assert_eq!(v, "mine");
    let v: String = q(&mut con, &["GET", "key:999"]);
    assert_eq!(v, "value:999");
    let _: () = q(&mut con, &["DEBUG", "POPULATE", "2", "p", "8"]);
    let v: Vec<u8> = q(&mut con, &["GET", "p:1"]);
    assert_eq!(v, b"value:1\0");
    assert_eq!(
        q_err(&mut con, &["DEBUG", "POPULATE", "-1"]),
        "ERR value is out of range, must be positive"
    );
    let line: String = q(&mut con, &["DEBUG", "OBJECT", "key:7"]);
    assert!(
        line.contains(" encoding:embstr serializedlength:5 lru:"),
        "{line}"
    );
    assert_eq!(
        q_err(&mut con, &["DEBUG", "OBJECT", "nokey"]),
        "ERR no such key"
    );
    assert_eq!(
        q_err(&mut con, &["DEBUG", "ERROR", "BOOM it broke"]),
        "BOOM it broke"
    );
    // SET-ACTIVE-EXPIRE 0: expired keys stay until read; 1: they go.
    let _: () = q(&mut con, &["FLUSHALL"]);
    let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let _: () = q(&mut con, &["SET", "short", "x", "PX", "20"]);
    std::thread::sleep(Duration::from_millis(500));
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 1, "no active expiry");
    let _: () = q(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while q::<i64>(&mut con, &["DBSIZE"]) != 0 {
        assert!(Instant::now() < deadline, "active expiry never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut raw = server.raw();
    raw.cmd(&["HELLO", "3"]);
    assert_eq!(
        raw.cmd(&["DEBUG", "PROTOCOL", "map"]),
        "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n"
    );
}

#[test]
fn swapdb_touches_watched_keys_wakes_blocked_clients_and_survives_a_restart() {
    let mut server = Server::with(2, &["--appendonly", "yes"]);
    let (a, b) = (
        keys_on("sw", 0, 2, 1).remove(0),
        keys_on("sw", 1, 2, 1).remove(0),
    );
    let mut db1 = server.con_db(1);
    let _: () = q(&mut db1, &["SET", &a, "from-1"]);
    // WATCH of a key that only exists in the other database: changed.
    let mut watcher = server.raw();
    watcher.cmd(&["WATCH", &a]);
    let mut con = server.con();
    let _: () = q(&mut con, &["SWAPDB", "0", "1"]);
    watcher.cmd(&["MULTI"]);
    watcher.cmd(&["SET", &a, "tx"]);
    assert_eq!(watcher.cmd(&["EXEC"]), "*-1\r\n", "the watched key changed");
    // A client blocked on database 0 is served by the list SWAPDB brings.
    let _: i64 = q(&mut db1, &["RPUSH", &b, "x"]);
    let mut blocked = server.raw();
    blocked.send(&common::encode(&["BLPOP", &b, "0"]));
    std::thread::sleep(Duration::from_millis(200));
    let _: () = q(&mut con, &["SWAPDB", "0", "1"]);
    let got = blocked.read_reply();
    assert!(got.contains("x"), "{got}");
    // Both shards' swaps replay, also into another number of shards.
    server.kill9_and_restart();
    let mut db1 = server.con_db(1);
    let v: String = q(&mut db1, &["GET", &a]);
    assert_eq!(v, "from-1");
    server.restart_with(1, &["--appendonly", "yes"]);
    let mut db1 = server.con_db(1);
    let v: String = q(&mut db1, &["GET", &a]);
    assert_eq!(v, "from-1");
    let n: i64 = q(&mut server.con(), &["DBSIZE"]);
    assert_eq!(n, 0);
}

/// A MONITOR line without its time and client port, which differ:
/// `[3 client] "SET" "a" "1"`, `[3 lua] "get" "a"`.
fn monitor_line(raw: &mut Raw) -> String {
    let line = raw.read_reply();
    let (_, rest) = line.split_once(' ').expect("+<time> [<db> <source>] ...");
    let (db_and_source, command) = rest.split_once("] ").expect("[<db> <source>]");
    let (db, source) = db_and_source
        .trim_start_matches('[')
        .split_once(' ')
        .unwrap();
    let source = if source == "lua" { "lua" } else { "client" };
    format!("[{db} {source}] {}", command.trim_end())
}

#[test]
fn monitor_shows_commands_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this differential test needs it");
        return;
    };
    let server = Server::start();
    let script = "return redis.call('get','a')";
    let commands: &[&[&str]] = &[
        &["SELECT", "3"],
        &["SET", "a", "1"],
        &["MULTI"],
        &["SET", "b", "x\ny\u{1}\"q\""],
        &["EXEC"],
        &["AUTH", "secret"],
        &["EVAL", script, "0"],
        &["CONFIG", "GET", "maxmemory"],
        &["CLIENT", "LIST"],
        &["HELLO", "2", "AUTH", "default", "pw"],
        &["SELECT", "0"],
        &["PING"],
    ];
    let mut shown = Vec::new();
    for s in [&redis, &server] {
        let mut monitor = s.raw();
        assert_eq!(monitor.cmd(&["MONITOR"]), "+OK\r\n");
        let mut client = s.raw();
        for c in commands {
            client.cmd(c);
        }
        // Everything but the admin commands (CONFIG, CLIENT LIST), and the
        // script's command: 11 lines.
        shown.push(
            (0..11)
                .map(|_| monitor_line(&mut monitor))
                .collect::<Vec<_>>(),
        );
        // A monitor may not touch keys; RESET ends it.
        assert_eq!(
            monitor.cmd(&["GET", "a"]),
            "-ERR Replica can't interact with the keyspace\r\n"
        );
        assert_eq!(monitor.cmd(&["RESET"]), "+RESET\r\n");
        // Inside EXEC it is refused (a client that wants a reply per command).
        monitor.cmd(&["MULTI"]);
        monitor.cmd(&["MONITOR"]);
        assert_eq!(
            monitor.cmd(&["EXEC"]),
            "*1\r\n-ERR MONITOR isn't allowed for DENY BLOCKING client\r\n"
        );
        client.cmd(&["SET", "c", "3"]);
        assert_eq!(monitor.cmd(&["PING"]), "+PONG\r\n");
    }
    assert_eq!(shown[1], shown[0]);
    assert_eq!(shown[1][3], r#"[3 client] "SET" "b" "x\ny\x01\"q\"""#);
    assert_eq!(shown[1][7], r#"[3 lua] "get" "a""#);
}

#[test]
fn monitor_sees_every_core_and_stops_when_its_client_goes() {
    let server = Server::start();
    let mut monitor = server.raw();
    assert_eq!(monitor.cmd(&["MONITOR"]), "+OK\r\n");
    // Connections land on either core: each one's command is seen.
    for i in 0..8 {
        let mut con = server.raw();
        con.cmd(&["SET", &format!("seen:{i}"), "v"]);
        let line = monitor_line(&mut monitor);
        assert_eq!(line, format!(r#"[0 client] "SET" "seen:{i}" "v""#));
    }
    drop(monitor);
    let mut con = server.con();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let list: String = q(&mut con, &["CLIENT", "LIST"]);
        if !list.contains("flags=O") {
            break;
        }
        assert!(Instant::now() < deadline, "the monitor never went: {list}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Redis settings ringcache does not use are accepted, checked and reported
/// as Redis reports them; immutable ones refused, unknown ones unknown.
#[test]
fn redis_settings_are_accepted_and_reported_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this differential test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.raw(), server.raw());
    for (name, value) in [
        ("hash-max-ziplist-value", "10"),
        ("hash-max-listpack-entries", "200"),
        ("list-max-ziplist-size", "-3"),
        ("list-compress-depth", "1"),
        ("set-max-intset-entries", "100"),
        ("zset-max-ziplist-entries", "64"),
        ("lazyfree-lazy-server-del", "YES"),
        ("lazyfree-lazy-server-del", "maybe"),
        ("lazyfree-lazy-eviction", "yes"),
        ("repl-backlog-size", "2mb"),
        ("repl-backlog-size", "x"),
        ("slave-read-only", "no"),
        ("daemonize", "no"),
        ("no-such-setting", "1"),
    ] {
        both(&mut r, &mut o, &["CONFIG", "SET", name, value]);
    }
    // CONFIG GET answers in no set order (Redis's is its hash table's).
    let settings = |server: &Server, patterns: &[&str]| {
        let mut args = vec!["CONFIG", "GET"];
        args.extend_from_slice(patterns);
        let flat: Vec<String> = q(&mut server.con(), &args);
        let mut pairs: Vec<_> = flat.chunks(2).map(|p| p.to_vec()).collect();
        pairs.sort();
        pairs
    };
    for patterns in [
        &["hash-max-*"][..],
        &["*ziplist*"],
        &["list-*"],
        &["lazyfree-*"],
        &["repl-backlog-size"],
        &["replica-read-only", "slave-read-only"],
    ] {
        assert_eq!(settings(&server, patterns), settings(&redis, patterns));
    }
    let info = o.cmd(&["INFO", "cluster"]);
    assert!(
        info.contains("# Cluster\r\ncluster_enabled:0\r\n"),
        "{info}"
    );
}

/// The encoding settings are honoured as Redis honours them: the compact
/// forms convert past the limits in force (OBJECT ENCODING), aliases share
/// one value, bad values get Redis's errors, a list is dumped in nodes of
/// `list-max-listpack-size`, and an approximate XADD trim removes whole
/// blocks of `stream-node-max-entries`. Keys on both shards.
#[test]
fn encoding_settings_are_honoured_as_redis_honours_them() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this differential test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.raw(), server.raw());
    let mut same = |args: &[&str]| both(&mut r, &mut o, args);
    for (name, value) in [
        ("hash-max-listpack-entries", "-1"),
        ("hash-max-listpack-entries", "x"),
        ("hash-max-listpack-value", "-1"),
        ("list-max-listpack-size", "99999999999"),
        ("set-max-intset-entries", "1kb"),
        ("hash-max-ziplist-entries", "4"),
        ("hash-max-listpack-value", "1k"),
        ("zset-max-ziplist-entries", "3"),
        ("zset-max-listpack-value", "8"),
        ("set-max-intset-entries", "3"),
        ("list-max-ziplist-size", "2"),
        ("stream-node-max-entries", "2"),
    ] {
        same(&["CONFIG", "SET", name, value]);
    }
    for name in [
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        "hash-max-ziplist-value",
        "zset-max-ziplist-value",
        "list-max-listpack-size",
    ] {
        same(&["CONFIG", "GET", name]);
    }
    for shard in 0..2 {
        let key = |name: &str| keys_on(name, shard, 2, 1).remove(0);
        let (h, z, s, t, l, st) = (key("h"), key("z"), key("s"), key("t"), key("l"), key("st"));
        for i in 1..=5 {
            let (f, n) = (format!("f{i}"), i.to_string());
            same(&["HSET", &h, &f, &"v".repeat(200 * i)]);
            same(&["OBJECT", "ENCODING", &h]);
            same(&["ZADD", &z, &n, &f]);
            same(&["OBJECT", "ENCODING", &z]);
            same(&["SADD", &s, &n]);
            same(&["OBJECT", "ENCODING", &s]);
        }
        same(&["HSET", &t, "f", &"v".repeat(1001)]);
        same(&["OBJECT", "ENCODING", &t]);
        same(&["ZADD", &t, "1", "a-long-member"]);
        same(&["DEL", &t]);
        same(&["ZADD", &t, "1", "a-long-member"]);
        same(&["OBJECT", "ENCODING", &t]);
        same(&["DEL", &t]);
        same(&["SADD", &t, "1", "x"]);
        same(&["OBJECT", "ENCODING", &t]);
        same(&["RPUSH", &l, "a", "b", "c", "d", "e"]);
        same(&["DUMP", &l]);
        for i in 1..=5 {
            same(&["XADD", &st, &format!("1-{i}"), "a", "1"]);
        }
        same(&["XADD", &st, "MAXLEN", "~", "2", "2-1", "a", "1"]);
        same(&["XLEN", &st]);
        same(&["XRANGE", &st, "-", "+"]);
    }
}
