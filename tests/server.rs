//! Connection and server commands against the real binary: PING, ECHO, QUIT,
//! SELECT, HELLO, CLIENT, COMMAND, INFO, CONFIG, DBSIZE, FLUSHDB, FLUSHALL,
//! TIME, with Redis's replies, field names and error strings.

mod common;

use common::{info_field, q, q_err, Server};
use redis::{Connection, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A RESP2 map reply (a flat array of pairs) as a map of strings to values.
fn pairs(v: Value) -> HashMap<String, Value> {
    let Value::Array(items) = v else {
        panic!("not an array: {v:?}")
    };
    assert!(items.len() % 2 == 0, "odd number of items: {items:?}");
    items
        .chunks(2)
        .map(|p| (redis::from_redis_value(&p[0]).unwrap(), p[1].clone()))
        .collect()
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn ping_echo() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q::<Value>(&mut con, &["PING"]),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(
        q::<Value>(&mut con, &["PING", "hi there"]),
        bulk("hi there")
    );
    assert_eq!(q::<Value>(&mut con, &["ECHO", "a\r\nb"]), bulk("a\r\nb"));
    assert_eq!(q::<Value>(&mut con, &["ECHO", ""]), bulk(""));
    assert_eq!(
        q_err(&mut con, &["PING", "a", "b"]),
        "ERR wrong number of arguments for 'ping' command"
    );
    assert_eq!(
        q_err(&mut con, &["ECHO"]),
        "ERR wrong number of arguments for 'echo' command"
    );
}

#[test]
fn quit_replies_ok_then_closes() {
    let s = Server::start();
    let mut raw = s.raw();
    // Nothing after QUIT is executed.
    assert_eq!(raw.call(b"QUIT\r\nSET after quit\r\n"), "+OK\r\n");
    assert!(raw.closed_by_server());
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "after"]), 0);
    assert_eq!(s.roundtrip(b"*1\r\n$4\r\nquit\r\n"), "+OK\r\n");
}

#[test]
fn select_databases() {
    let s = Server::start();
    let mut c0 = s.con();
    let mut c1 = s.con_db(1);
    let mut c15 = s.con_db(15);
    assert_eq!(q::<String>(&mut c1, &["SET", "k", "one"]), "OK");
    assert_eq!(q::<String>(&mut c15, &["SET", "k", "fifteen"]), "OK");
    assert_eq!(q::<Option<String>>(&mut c0, &["GET", "k"]), None);
    assert_eq!(q::<String>(&mut c1, &["GET", "k"]), "one");
    // Switching back and forth on one connection.
    assert_eq!(q::<String>(&mut c0, &["SELECT", "15"]), "OK");
    assert_eq!(q::<String>(&mut c0, &["GET", "k"]), "fifteen");
    assert_eq!(q::<String>(&mut c0, &["SELECT", "0"]), "OK");
    assert_eq!(q::<Option<String>>(&mut c0, &["GET", "k"]), None);
    assert_eq!(
        q_err(&mut c0, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        q_err(&mut c0, &["SELECT", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        q_err(&mut c0, &["SELECT", "abc"]),
        "ERR value is not an integer or out of range"
    );
    // A failed SELECT keeps the database.
    assert_eq!(q::<Option<String>>(&mut c0, &["GET", "k"]), None);
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 0);
    assert_eq!(q::<i64>(&mut c1, &["DBSIZE"]), 1);
}

#[test]
fn command_line_flags() {
    let s = Server::with(2, &["--databases", "4", "--hz", "50"]);
    let mut con = s.con();
    assert_eq!(q::<String>(&mut con, &["SELECT", "3"]), "OK");
    assert_eq!(
        q_err(&mut con, &["SELECT", "4"]),
        "ERR DB index is out of range"
    );
    let cfg: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "databases", "hz"]);
    assert_eq!(cfg["databases"], "4");
    assert_eq!(cfg["hz"], "50");
}

#[test]
fn maxclients_rejects_the_connection_over_the_limit() {
    let s = Server::with(1, &["--maxclients", "2"]);
    let mut a = s.raw();
    assert_eq!(a.cmd(&["PING"]), "+PONG\r\n");
    // The server may not have seen the start-up probe's connection close yet.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !a
        .cmd(&["INFO", "clients"])
        .contains("connected_clients:1\r\n")
    {
        assert!(Instant::now() < deadline, "stale connections still counted");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut b = s.raw();
    assert_eq!(b.cmd(&["PING"]), "+PONG\r\n");
    let mut c = s.raw();
    assert_eq!(c.read_reply(), "-ERR max number of clients reached\r\n");
    assert!(c.closed_by_server());
    drop(c);
    // The others keep working; a freed place can be taken again.
    assert_eq!(a.cmd(&["PING"]), "+PONG\r\n");
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = s.raw();
        d.send(&common::encode(&["PING"]));
        let reply = d.read_reply();
        if reply == "+PONG\r\n" {
            break;
        }
        assert_eq!(reply, "-ERR max number of clients reached\r\n");
        assert!(
            Instant::now() < deadline,
            "the closed connection's place was not freed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hello() {
    let s = Server::start();
    let mut con = s.con();
    let id: i64 = q(&mut con, &["CLIENT", "ID"]);
    let reply = pairs(q(&mut con, &["HELLO"]));
    assert_eq!(reply["server"], bulk("redis"));
    assert!(matches!(&reply["version"], Value::BulkString(v) if v.starts_with(b"7.")));
    assert_eq!(reply["proto"], Value::Int(2));
    assert_eq!(reply["id"], Value::Int(id));
    assert_eq!(reply["mode"], bulk("standalone"));
    assert_eq!(reply["role"], bulk("master"));
    assert_eq!(reply["modules"], Value::Array(Vec::new()));
    assert_eq!(reply.len(), 7);
    let reply = pairs(q(&mut con, &["HELLO", "2", "SETNAME", "myname"]));
    assert_eq!(reply["proto"], Value::Int(2));
    assert_eq!(q::<String>(&mut con, &["CLIENT", "GETNAME"]), "myname");
    // AUTH with any password works for the default user without a password.
    let reply = pairs(q(&mut con, &["HELLO", "2", "AUTH", "default", "pw"]));
    assert_eq!(reply["proto"], Value::Int(2));

    for (args, msg) in [
        (&["HELLO", "4"][..], "NOPROTO unsupported protocol version"),
        (&["HELLO", "1"], "NOPROTO unsupported protocol version"),
        (
            &["HELLO", "abc"],
            "ERR Protocol version is not an integer or out of range",
        ),
        (
            &["HELLO", "2", "foo"],
            "ERR Syntax error in HELLO option 'foo'",
        ),
        (
            &["HELLO", "2", "SETNAME"],
            "ERR Syntax error in HELLO option 'SETNAME'",
        ),
        (
            &["HELLO", "2", "SETNAME", "a b"],
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
    // A failed HELLO changed nothing.
    assert_eq!(q::<String>(&mut con, &["CLIENT", "GETNAME"]), "myname");

    // HELLO 3 switches the protocol (the bytes are checked in protocol.rs).
    let mut raw = s.raw();
    let r = raw.cmd(&["HELLO", "3", "SETNAME", "three"]);
    assert!(
        r.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{r:?}"
    );
    assert!(r.contains("$5\r\nproto\r\n:3\r\n"), "{r:?}");
    assert_eq!(raw.cmd(&["CLIENT", "GETNAME"]), "$5\r\nthree\r\n");
}

#[test]
fn client_id_name_list_info() {
    let s = Server::start();
    let mut a = s.con();
    let mut b = s.con();
    let id_a: i64 = q(&mut a, &["CLIENT", "ID"]);
    let id_b: i64 = q(&mut b, &["CLIENT", "ID"]);
    assert!(id_a > 0 && id_b > 0);
    assert_ne!(id_a, id_b);
    // Ids are unique across all shards: many connections, no repeats.
    let mut ids: Vec<i64> = (0..20)
        .map(|_| q(&mut s.con(), &["CLIENT", "ID"]))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);

    assert_eq!(q::<Value>(&mut a, &["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(q::<String>(&mut a, &["CLIENT", "SETNAME", "conn-a"]), "OK");
    assert_eq!(q::<String>(&mut a, &["CLIENT", "GETNAME"]), "conn-a");
    assert_eq!(
        q_err(&mut a, &["CLIENT", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    assert_eq!(q::<String>(&mut a, &["CLIENT", "GETNAME"]), "conn-a");
    assert_eq!(q::<String>(&mut b, &["SELECT", "2"]), "OK");

    // CLIENT LIST: one line per connection, Redis's field names.
    let list: String = q(&mut a, &["CLIENT", "LIST"]);
    let lines: Vec<&str> = list.lines().collect();
    let line_a = lines
        .iter()
        .find(|l| l.starts_with(&format!("id={id_a} ")))
        .unwrap_or_else(|| panic!("no line for id {id_a} in {list:?}"));
    let line_b = lines
        .iter()
        .find(|l| l.starts_with(&format!("id={id_b} ")))
        .unwrap_or_else(|| panic!("no line for id {id_b} in {list:?}"));
    let fields = |line: &str| -> HashMap<String, String> {
        line.split(' ')
            .filter_map(|f| f.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let fa = fields(line_a);
    let fb = fields(line_b);
    assert_eq!(fa["name"], "conn-a");
    assert_eq!(fa["db"], "0");
    assert_eq!(fb["db"], "2");
    assert_eq!(fb["name"], "");
    assert_eq!(fa["cmd"], "client|list");
    assert_eq!(fa["laddr"], format!("127.0.0.1:{}", s.port));
    assert!(fa["addr"].starts_with("127.0.0.1:"));
    for f in ["age", "idle", "flags", "resp", "user"] {
        assert!(fa.contains_key(f), "no {f} in {line_a}");
    }
    assert!(list.ends_with('\n'));

    // CLIENT INFO: this connection's line.
    let info: String = q(&mut b, &["CLIENT", "INFO"]);
    assert!(info.starts_with(&format!("id={id_b} ")), "{info:?}");
    assert!(
        info.ends_with('\n') && info.lines().count() == 1,
        "{info:?}"
    );
    assert_eq!(fields(info.trim_end())["cmd"], "client|info");

    assert_eq!(
        q_err(&mut a, &["CLIENT", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    );
    assert_eq!(
        q_err(&mut a, &["CLIENT", "SETNAME"]),
        "ERR wrong number of arguments for 'client|setname' command"
    );
    assert_eq!(
        q_err(&mut a, &["CLIENT"]),
        "ERR wrong number of arguments for 'client' command"
    );
}

/// CLIENT SETINFO is Redis 7.2's; the redis crate sends it on connect.
#[test]
fn client_setinfo() {
    let s = Server::start();
    if s.is_redis() {
        return; // redis-server 7.0 has no CLIENT SETINFO
    }
    let mut con = s.con();
    let info: String = q(&mut con, &["CLIENT", "INFO"]);
    assert!(info.contains(" lib-name=redis-rs "), "{info:?}");
    assert_eq!(
        q::<String>(&mut con, &["CLIENT", "SETINFO", "LIB-NAME", "mylib"]),
        "OK"
    );
    assert_eq!(
        q::<String>(&mut con, &["CLIENT", "SETINFO", "lib-ver", "1.2.3"]),
        "OK"
    );
    let info: String = q(&mut con, &["CLIENT", "INFO"]);
    assert!(info.contains(" lib-name=mylib lib-ver=1.2.3"), "{info:?}");
    assert_eq!(
        q_err(&mut con, &["CLIENT", "SETINFO", "foo", "bar"]),
        "ERR Unrecognized option 'foo'"
    );
    assert_eq!(
        q_err(&mut con, &["CLIENT", "SETINFO", "lib-name", "a b"]),
        "ERR lib-name cannot contain spaces, newlines or special characters."
    );
}

#[test]
fn command_count_info_docs() {
    let s = Server::start();
    let mut con = s.con();
    let count: i64 = q(&mut con, &["COMMAND", "COUNT"]);
    let all: Vec<Value> = q(&mut con, &["COMMAND"]);
    assert_eq!(count as usize, all.len());
    // Every command of the feature list is known, with Redis's metadata.
    let listed = "ping echo quit select hello client command info config dbsize flushdb \
        flushall time get set setnx setex psetex getset getdel getex mget mset msetnx incr \
        decr incrby decrby incrbyfloat append strlen getrange setrange del unlink exists \
        touch type expire pexpire expireat pexpireat ttl pttl expiretime pexpiretime persist \
        keys scan randomkey rename renamenx";
    let names: Vec<&str> = listed.split_whitespace().collect();
    let mut args = vec!["COMMAND", "INFO"];
    args.extend(&names);
    let infos: Vec<Value> = q(&mut con, &args);
    assert_eq!(infos.len(), names.len());
    for (name, info) in names.iter().zip(&infos) {
        let Value::Array(fields) = info else {
            panic!("COMMAND INFO {name}: {info:?}")
        };
        assert_eq!(fields.len(), 10, "COMMAND INFO {name}");
        assert_eq!(fields[0], bulk(name));
    }
    let get: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "get"]);
    let Value::Array(get) = &get[0] else {
        panic!("{get:?}")
    };
    let strings = |v: &Value| -> Vec<String> { redis::from_redis_value(v).unwrap() };
    assert_eq!(get[1], Value::Int(2));
    assert_eq!(strings(&get[2]), ["readonly", "fast"]);
    assert_eq!(&get[3..6], &[Value::Int(1), Value::Int(1), Value::Int(1)]);
    assert_eq!(strings(&get[6]), ["@read", "@string", "@fast"]);
    let mset: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "MSET"]);
    let Value::Array(mset) = &mset[0] else {
        panic!("{mset:?}")
    };
    assert_eq!(mset[1], Value::Int(-3));
    assert_eq!(&mset[3..6], &[Value::Int(1), Value::Int(-1), Value::Int(2)]);
    // Subcommands are listed as container|sub.
    let client: Vec<Value> = q(&mut con, &["COMMAND", "INFO", "client"]);
    let Value::Array(client) = &client[0] else {
        panic!("{client:?}")
    };
    let Value::Array(subs) = &client[9] else {
        panic!("{client:?}")
    };
    let sub_names: Vec<String> = subs
        .iter()
        .map(|s| match s {
            Value::Array(f) => redis::from_redis_value(&f[0]).unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    for sub in [
        "client|id",
        "client|list",
        "client|setname",
        "client|getname",
    ] {
        assert!(sub_names.iter().any(|n| n == sub), "{sub} in {sub_names:?}");
    }
    assert_eq!(
        q::<Vec<Value>>(&mut con, &["COMMAND", "INFO", "nosuchcommand"]),
        vec![Value::Nil]
    );
    // COMMAND DOCS: a map from name to its docs.
    let docs = pairs(q(&mut con, &["COMMAND", "DOCS", "get"]));
    assert_eq!(docs.len(), 1);
    let get_docs = pairs(docs["get"].clone());
    assert_eq!(get_docs["group"], bulk("string"));
    assert_eq!(get_docs["since"], bulk("1.0.0"));
    assert!(get_docs.contains_key("summary"));
    let all_docs = pairs(q(&mut con, &["COMMAND", "DOCS"]));
    assert_eq!(all_docs.len(), all.len());
    assert_eq!(
        q_err(&mut con, &["COMMAND", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try COMMAND HELP."
    );
}

#[test]
fn info_sections_and_fields() {
    let s = Server::start();
    let mut con = s.con();
    let all: String = q(&mut con, &["INFO"]);
    let headers: Vec<&str> = all.lines().filter(|l| l.starts_with('#')).collect();
    for h in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(headers.contains(&h), "{h} missing from {headers:?}");
    }
    assert!(all.starts_with("# Server\r\n"));
    assert!(all.contains("\r\n\r\n# Clients\r\n"));
    let port = s.port.to_string();
    assert_eq!(info_field(&mut con, "server", "tcp_port"), Some(port));
    let version = info_field(&mut con, "server", "redis_version").unwrap();
    assert!(version.starts_with("7."), "{version}");
    assert_eq!(
        info_field(&mut con, "server", "redis_mode").as_deref(),
        Some("standalone")
    );
    for (section, field) in [
        ("server", "process_id"),
        ("server", "uptime_in_seconds"),
        ("server", "hz"),
        ("clients", "connected_clients"),
        ("clients", "maxclients"),
        ("memory", "used_memory"),
        ("stats", "total_connections_received"),
        ("stats", "total_commands_processed"),
        ("stats", "expired_keys"),
        ("stats", "keyspace_hits"),
        ("stats", "keyspace_misses"),
    ] {
        let v = info_field(&mut con, section, field)
            .unwrap_or_else(|| panic!("INFO {section} has no {field}"));
        assert!(v.parse::<u64>().is_ok(), "{field}:{v}");
    }
    assert_eq!(
        info_field(&mut con, "memory", "maxmemory_policy").as_deref(),
        Some("noeviction")
    );
    assert_eq!(
        info_field(&mut con, "replication", "role").as_deref(),
        Some("master")
    );
    // One section only.
    let stats: String = q(&mut con, &["INFO", "stats"]);
    assert!(stats.starts_with("# Stats\r\n"), "{stats:?}");
    assert!(!stats.contains("# Server"));
    let two: String = q(&mut con, &["INFO", "server", "KEYSPACE"]);
    let h: Vec<&str> = two.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(h, ["# Server", "# Keyspace"]);
    let none: String = q(&mut con, &["INFO", "nosuchsection"]);
    assert_eq!(none, "");

    // Keyspace: per database, keys with a TTL counted.
    assert_eq!(info_field(&mut con, "keyspace", "db0"), None);
    assert_eq!(
        q::<String>(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]),
        "OK"
    );
    assert_eq!(q::<i64>(&mut con, &["EXPIRE", "a", "1000"]), 1);
    let mut c7 = s.con_db(7);
    assert_eq!(q::<String>(&mut c7, &["SET", "x", "1"]), "OK");
    let db0 = info_field(&mut con, "keyspace", "db0").unwrap();
    assert!(db0.starts_with("keys=3,expires=1,avg_ttl="), "{db0}");
    assert_eq!(
        info_field(&mut con, "keyspace", "db7").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );

    // Hits and misses count key lookups.
    let hits = |con: &mut Connection| -> u64 {
        info_field(con, "stats", "keyspace_hits")
            .unwrap()
            .parse()
            .unwrap()
    };
    let misses = |con: &mut Connection| -> u64 {
        info_field(con, "stats", "keyspace_misses")
            .unwrap()
            .parse()
            .unwrap()
    };
    let (h0, m0) = (hits(&mut con), misses(&mut con));
    let _: Vec<Option<String>> = q(&mut con, &["MGET", "a", "b", "nokey"]);
    assert_eq!(hits(&mut con), h0 + 2);
    assert_eq!(misses(&mut con), m0 + 1);

    // Clients: exactly the connections open now.
    let _extra = (s.con(), s.con());
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut clients = String::new();
    while Instant::now() < deadline {
        clients = info_field(&mut con, "clients", "connected_clients").unwrap();
        if clients == "4" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(clients, "4");

    // Commands processed go up.
    let before: u64 = info_field(&mut con, "stats", "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..10 {
        let _: String = q(&mut con, &["PING"]);
    }
    let after: u64 = info_field(&mut con, "stats", "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(after >= before + 11, "{before} -> {after}");
}

#[test]
fn config_get_set() {
    let s = Server::start();
    let mut con = s.con();
    let get = |con: &mut Connection, pats: &[&str]| -> HashMap<String, String> {
        let mut args = vec!["CONFIG", "GET"];
        args.extend_from_slice(pats);
        q(con, &args)
    };
    let port = get(&mut con, &["port"]);
    assert_eq!(port, HashMap::from([("port".into(), s.port.to_string())]));
    let two = get(&mut con, &["port", "hz"]);
    assert_eq!(two.len(), 2);
    assert_eq!(two["hz"], "10");
    // Glob patterns.
    let max = get(&mut con, &["maxmemory*"]);
    assert_eq!(max["maxmemory"], "0");
    assert_eq!(max["maxmemory-policy"], "noeviction");
    assert!(max.keys().all(|k| k.starts_with("maxmemory")), "{max:?}");
    // Patterns match names regardless of case, and reply with the real name.
    let q_mark = get(&mut con, &["H?"]);
    assert_eq!(q_mark, HashMap::from([("hz".into(), "10".into())]));
    assert!(get(&mut con, &["*"]).contains_key("maxclients"));
    assert!(get(&mut con, &["nosuchparam"]).is_empty());
    let dir = get(&mut con, &["dir"]);
    assert_eq!(
        std::fs::canonicalize(&dir["dir"]).unwrap(),
        std::fs::canonicalize(s.dir()).unwrap()
    );
    let persistence = get(&mut con, &["save", "appendonly"]);
    // Save points are "<seconds> <changes>" pairs (none: "").
    let points: Vec<&str> = persistence["save"].split_whitespace().collect();
    assert!(
        points.len().is_multiple_of(2) && points.iter().all(|n| n.parse::<u64>().is_ok()),
        "{persistence:?}"
    );
    // Whether the log is on by default is ringcache's choice; it is a yes/no.
    assert!(
        ["yes", "no"].contains(&persistence["appendonly"].as_str()),
        "{persistence:?}"
    );

    // SET, seen by every connection (whichever core it is on).
    assert_eq!(
        q::<String>(
            &mut con,
            &["CONFIG", "SET", "hz", "20", "maxmemory", "100mb"]
        ),
        "OK"
    );
    for _ in 0..4 {
        let mut other = s.con();
        let now = get(&mut other, &["hz", "maxmemory"]);
        assert_eq!(now["hz"], "20");
        assert_eq!(now["maxmemory"], "104857600");
    }
    assert_eq!(info_field(&mut con, "server", "hz").as_deref(), Some("20"));
    assert_eq!(
        q::<String>(
            &mut con,
            &["CONFIG", "SET", "MAXMEMORY-POLICY", "allkeys-lru"]
        ),
        "OK"
    );
    assert_eq!(
        get(&mut con, &["maxmemory-policy"])["maxmemory-policy"],
        "allkeys-lru"
    );

    for (args, msg) in [
        (
            &["CONFIG", "SET", "databases", "1"][..],
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config",
        ),
        (
            &["CONFIG", "SET", "nosuchparam", "1"],
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuchparam'",
        ),
        (
            &["CONFIG", "SET", "hz", "abc"],
            "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer",
        ),
        (
            &["CONFIG", "SET", "maxmemory", "abc"],
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
        ),
        (
            &["CONFIG", "SET", "hz"],
            "ERR wrong number of arguments for 'config|set' command",
        ),
        (
            &["CONFIG", "GET"],
            "ERR wrong number of arguments for 'config|get' command",
        ),
        (
            &["CONFIG", "FOO"],
            "ERR unknown subcommand 'FOO'. Try CONFIG HELP.",
        ),
    ] {
        assert_eq!(q_err(&mut con, args), msg, "{args:?}");
    }
    // All or nothing: a bad pair leaves the good one unapplied.
    assert_eq!(
        q_err(&mut con, &["CONFIG", "SET", "hz", "30", "maxmemory", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(get(&mut con, &["hz"])["hz"], "20");
    // Last, as it reads long: the policies in Redis's order.
    assert_eq!(
        q_err(&mut con, &["CONFIG", "SET", "maxmemory-policy", "bad"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
    );
}

#[test]
fn dbsize_flushdb_flushall() {
    let s = Server::start();
    let mut c0 = s.con();
    let mut c1 = s.con_db(1);
    let mut c2 = s.con_db(2);
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 0);
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut c0).unwrap();
    pipe.query::<()>(&mut c1).unwrap();
    assert_eq!(q::<String>(&mut c2, &["SET", "x", "1"]), "OK");
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 300);
    assert_eq!(q::<i64>(&mut c1, &["DBSIZE"]), 300);
    assert_eq!(q::<i64>(&mut c2, &["DBSIZE"]), 1);
    assert_eq!(q::<String>(&mut c1, &["FLUSHDB"]), "OK");
    assert_eq!(q::<i64>(&mut c1, &["DBSIZE"]), 0);
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 300);
    assert_eq!(q::<String>(&mut c0, &["FLUSHDB", "ASYNC"]), "OK");
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 0);
    assert_eq!(q::<Option<String>>(&mut c0, &["GET", "k1"]), None);
    assert_eq!(q::<i64>(&mut c2, &["DBSIZE"]), 1);
    assert_eq!(q::<String>(&mut c0, &["SET", "k", "v"]), "OK");
    assert_eq!(q::<String>(&mut c0, &["FLUSHALL", "SYNC"]), "OK");
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 0);
    assert_eq!(q::<i64>(&mut c2, &["DBSIZE"]), 0);
    assert_eq!(q::<Option<String>>(&mut c2, &["GET", "x"]), None);
    // TTLs are flushed too: a key set again has none.
    assert_eq!(q::<String>(&mut c0, &["SETEX", "t", "100", "v"]), "OK");
    assert_eq!(q::<String>(&mut c0, &["FLUSHALL"]), "OK");
    assert_eq!(q::<String>(&mut c0, &["SET", "t", "v"]), "OK");
    assert_eq!(q::<i64>(&mut c0, &["TTL", "t"]), -1);
    assert_eq!(
        info_field(&mut c0, "keyspace", "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    assert_eq!(q_err(&mut c0, &["FLUSHDB", "foo"]), "ERR syntax error");
    assert_eq!(q_err(&mut c0, &["FLUSHALL", "foo"]), "ERR syntax error");
    assert_eq!(
        q_err(&mut c0, &["DBSIZE", "x"]),
        "ERR wrong number of arguments for 'dbsize' command"
    );
    assert_eq!(q::<i64>(&mut c0, &["DBSIZE"]), 1);
}

#[test]
fn time() {
    let s = Server::start();
    let mut con = s.con();
    let (secs, micros): (String, String) = q(&mut con, &["TIME"]);
    let secs: u64 = secs.parse().unwrap();
    let micros: u64 = micros.parse().unwrap();
    assert!(micros < 1_000_000);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 2, "TIME {secs} vs {now}");
    assert_eq!(
        q_err(&mut con, &["TIME", "x"]),
        "ERR wrong number of arguments for 'time' command"
    );
}

#[test]
fn auth_without_password() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q_err(&mut con, &["AUTH", "secret"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
}

/// Starting the server must always work: many starts in a row, each must be
/// listening within a few seconds (a normal start takes milliseconds). More
/// shards than CPUs is allowed (several shards then share a core), so that
/// is tried too.
/// An executor that sleeps through its wakes and its timer (seen in the
/// simulated disk's long runs, glommio asleep in `io_uring_enter`) is woken
/// by the unparker's signal: the start-up goes on within a second.
#[test]
fn an_executor_asleep_through_its_wakes_is_woken() {
    let mut server = Server::shards(2);
    server.set_env(&[(
        "RINGCACHE_TEST_CRASH_AT",
        "executor-sleeps-through-its-wakes",
    )]);
    let started = Instant::now();
    server.kill9_and_restart();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "the start took {took:?}");
    assert!(
        server.log_text().contains("sending it a signal"),
        "{}",
        server.log_text()
    );
    let mut con = server.con();
    let _: () = q(&mut con, &["SET", "k", "v"]);
    assert_eq!(q::<String>(&mut con, &["GET", "k"]), "v");
}

#[test]
fn startup_never_hangs() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut exited = 0;
    for (shards, starts) in [(4 * cpus, 10), (3, 100), (2, 200)] {
        for i in 0..starts {
            match Server::start_once(shards, &[], Duration::from_secs(3)) {
                Ok(server) => drop(server),
                // The port was taken between probe and bind: not a hang.
                Err((common::Start::Exited, _)) if exited < 3 => exited += 1,
                Err((how, log)) => {
                    panic!("--shards {shards}, start #{i} of {starts}: {how:?}; server log:\n{log}")
                }
            }
        }
    }
}
