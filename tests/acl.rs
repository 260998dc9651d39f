//! ACL at run time against the real binary, each reply compared with
//! redis-server 7.0's where Redis's is deterministic: ACL SETUSER's grammar
//! and errors, GETUSER and LIST, DRYRUN, permission changes reaching open
//! connections on every core, deleted users' connections dropped, channel
//! permissions, scripts checked as their caller, ACL LOG, and the ACL file
//! (SAVE, LOAD, kill -9 and restart).
//!
//! Redis lists single-command rules (`-keys -sort`) in its command
//! dictionary's order, which its hash seed changes from run to run; the
//! cases compared here have at most one such rule.

mod common;

use common::{Raw, Server};
use std::collections::BTreeSet;
use std::time::Duration;

/// SHA-256 of "pw".
const PW_SHA: &str = "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4";

/// redis-server and ringcache (2 shards, `extra` flags), or `None` (with a
/// note) if redis-server is not installed.
fn pair(extra: &[&str]) -> Option<(Server, Server)> {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this test compares with it");
        return None;
    };
    Some((redis, Server::with(2, extra)))
}

/// Sends `args` to both servers and asserts the same reply.
fn same(r: &mut Raw, o: &mut Raw, args: &[&str]) -> String {
    let (want, got) = (r.cmd(args), o.cmd(args));
    assert_eq!(
        got, want,
        "{args:?}: redis-server {want:?}, ringcache {got:?}"
    );
    got
}

/// Runs `args` on both servers (each its own admin connection).
fn on_both(servers: &(Server, Server), args: &[&str]) {
    let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
    same(&mut r, &mut o, args);
}

#[test]
fn setuser_grammar_getuser_and_list_as_redis() {
    let Some(servers) = pair(&[]) else { return };
    let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
    let remove_pw = format!("!{PW_SHA}");
    let add_pw = format!("#{PW_SHA}");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "alice", "on", ">pw", "~k*", "%R~r*", "%W~w*", "%RW~rw*", "&ch*",
        ],
        vec!["alice", "+get", "+config|get", "-@dangerous"],
        vec!["alice", "<pw", &add_pw, ">other"],
        vec!["alice", &remove_pw],
        vec!["bob", "(~x* +set)", "(", "+get", "~y*", ")"],
        vec!["bob", "clearselectors", "+select|0"],
        vec![
            "carol",
            "on",
            "nopass",
            "allkeys",
            "allchannels",
            "allcommands",
        ],
        vec!["carol", "-@write"],
        vec!["carol", "reset"],
        vec!["dave", "on", "+@all", "-@all", "+@admin"],
        vec!["erin", "+@hash", "+@set", "-hgetall"],
        vec!["frank", "+client", "-client|kill"],
        vec![
            "grace",
            "skip-sanitize-payload",
            "~a",
            "~a",
            "%R~a",
            "%W~b",
            "%R~b",
        ],
        vec!["heidi", "on", "+@all", "-@dangerous", "-get"],
        vec!["ivan", "(&c* %R~r +@read)", "resetchannels", "&x"],
    ];
    for case in &cases {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend(case);
        assert_eq!(same(&mut r, &mut o, &args), "+OK\r\n");
        same(&mut r, &mut o, &["ACL", "GETUSER", case[0]]);
    }
    let refused: Vec<Vec<&str>> = vec![
        vec!["e", "bogus"],
        vec!["e", "+nosuch"],
        vec!["e", "+@nosuch"],
        vec!["e", "allkeys", "~x"],
        vec!["e", "&*", "&x"],
        vec!["e", "#abc"],
        vec!["e", "%X~a"],
        vec!["e", "-get|x"],
        vec!["e", "+config|nosuch"],
        vec!["e", "+config|"],
        vec!["e", "+acl|cat|x"],
        vec!["e", "(~a", "+get"],
        vec!["e", "(~a bogus)"],
        vec!["e", "<nosuch"],
        vec!["e", "on", "~ok", "bogus"],
        vec!["a b", "on"],
    ];
    for case in &refused {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend(case);
        assert!(same(&mut r, &mut o, &args).starts_with("-ERR"), "{case:?}");
    }
    // All or nothing: the refused rules created no user `e`.
    assert_eq!(same(&mut r, &mut o, &["ACL", "GETUSER", "e"]), "$-1\r\n");
    same(&mut r, &mut o, &["ACL", "GETUSER", "default"]);
    same(&mut r, &mut o, &["ACL", "LIST"]);
    same(&mut r, &mut o, &["ACL", "USERS"]);
    same(&mut r, &mut o, &["ACL", "DELUSER", "default"]);
    assert_eq!(
        same(&mut r, &mut o, &["ACL", "DELUSER", "bob", "nosuch"]),
        ":1\r\n"
    );
    same(&mut r, &mut o, &["ACL", "USERS"]);
    same(&mut r, &mut o, &["ACL", "HELP"]);
    for bad in [
        &["ACL", "GENPASS", "0"][..],
        &["ACL", "GENPASS", "x"],
        &["ACL", "GENPASS", "4097"],
    ] {
        same(&mut r, &mut o, bad);
    }
    for (bits, len) in [
        (None, 64),
        (Some("1"), 1),
        (Some("9"), 3),
        (Some("4096"), 1024),
    ] {
        let mut args = vec!["ACL", "GENPASS"];
        args.extend(bits);
        let reply = o.cmd(&args);
        let pass = reply.lines().nth(1).unwrap_or_default();
        assert_eq!(pass.len(), len, "{args:?}: {reply:?}");
        assert!(pass.bytes().all(|b| b.is_ascii_hexdigit()), "{reply:?}");
    }
    // RESP3: GETUSER's flags are a set, the reply a map, as Redis's.
    r.cmd(&["HELLO", "3"]);
    o.cmd(&["HELLO", "3"]);
    same(&mut r, &mut o, &["ACL", "GETUSER", "ivan"]);
}

#[test]
fn dryrun_as_redis() {
    let Some(servers) = pair(&[]) else { return };
    on_both(
        &servers,
        &[
            "ACL",
            "SETUSER",
            "d",
            "on",
            "nopass",
            "~k*",
            "%R~r*",
            "&ch*",
            "+get",
            "+set",
            "+publish",
            "+subscribe",
            "+psubscribe",
            "+config|get",
            "+select|0",
            "(~sel* +del)",
        ],
    );
    let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
    for call in [
        &["get", "k1"][..],
        &["get", "z"],
        &["get", "r1"],
        &["set", "r1", "v"],
        &["set", "k1", "v"],
        &["del", "sel1"],
        &["del", "k1"],
        &["lpush", "k1", "v"],
        &["publish", "ch1", "m"],
        &["publish", "x", "m"],
        &["subscribe", "ch1", "x"],
        &["psubscribe", "ch*"],
        &["psubscribe", "c*"],
        &["config", "get", "x"],
        &["config", "set", "a", "b"],
        &["select", "0"],
        &["select", "1"],
        &["nosuch"],
        &["config", "nosuch"],
        &["config"],
        &["get"],
    ] {
        let mut args = vec!["ACL", "DRYRUN", "d"];
        args.extend(call);
        same(&mut r, &mut o, &args);
    }
    same(&mut r, &mut o, &["ACL", "DRYRUN", "nosuch", "get", "x"]);
    same(&mut r, &mut o, &["ACL", "DRYRUN", "d"]);
}

/// Opens connections until both cores of a 2-shard server accepted one
/// (core `i` hands out client ids `i + 1 + 2k`), each logged in with
/// `auth`: the connections and their ids.
fn on_both_cores(s: &Server, first: &[&str]) -> Vec<Raw> {
    let mut cores = BTreeSet::new();
    let mut out = Vec::new();
    for _ in 0..64 {
        let mut c = s.raw();
        let reply = c.cmd(first);
        assert!(reply == "+OK\r\n" || reply == "+PONG\r\n", "{reply}");
        let id: u64 = c.cmd(&["CLIENT", "ID"])[1..]
            .trim()
            .parse()
            .expect("client id");
        cores.insert((id - 1) % 2);
        out.push(c);
        if cores.len() == 2 && out.len() >= 4 {
            return out;
        }
    }
    panic!("64 connections, all accepted by one core");
}

#[test]
fn changed_and_deleted_users_reach_open_connections_on_every_core() {
    let Some(servers) = pair(&[]) else { return };
    on_both(
        &servers,
        &["ACL", "SETUSER", "u", "on", ">pw", "~*", "+@all"],
    );
    let (redis, ours) = (&servers.0, &servers.1);
    let mut r_client = redis.raw();
    assert_eq!(r_client.cmd(&["AUTH", "u", "pw"]), "+OK\r\n");
    let mut o_clients = on_both_cores(ours, &["AUTH", "u", "pw"]);
    let (mut r_admin, mut o_admin) = (redis.raw(), ours.raw());
    let denied = "-NOPERM this user has no permissions to run the 'get' command\r\n";
    for (change, want) in [
        (&["ACL", "SETUSER", "u", "-get"][..], denied),
        // Off: no new logins, but open connections go on, as in Redis.
        (&["ACL", "SETUSER", "u", "off", "+get"], "$-1\r\n"),
        (&["ACL", "SETUSER", "u", "on", "resetkeys", "~k"], "$-1\r\n"),
    ] {
        same(&mut r_admin, &mut o_admin, change);
        assert_eq!(r_client.cmd(&["GET", "k"]), want, "redis after {change:?}");
        for c in o_clients.iter_mut() {
            assert_eq!(c.cmd(&["GET", "k"]), want, "after {change:?}");
        }
    }
    let key_denied =
        "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
    assert_eq!(r_client.cmd(&["GET", "other"]), key_denied);
    assert_eq!(o_clients[0].cmd(&["GET", "other"]), key_denied);
    // Deleted: every connection of the user is closed, on every core.
    same(&mut r_admin, &mut o_admin, &["ACL", "DELUSER", "u"]);
    assert!(r_client.closed_by_server());
    for c in o_clients.iter_mut() {
        assert!(
            c.closed_by_server(),
            "a connection of a deleted user stayed open"
        );
    }
    assert_eq!(o_admin.cmd(&["PING"]), "+PONG\r\n");
    // A user deleting itself gets its reply, then is closed.
    same(
        &mut r_admin,
        &mut o_admin,
        &["ACL", "SETUSER", "self", "on", "nopass", "+@all"],
    );
    let (mut r_self, mut o_self) = (redis.raw(), ours.raw());
    same(&mut r_self, &mut o_self, &["AUTH", "self", "x"]);
    same(&mut r_self, &mut o_self, &["ACL", "DELUSER", "self"]);
    assert!(o_self.closed_by_server());
}

#[test]
fn channels_are_checked_and_profile_users_take_channel_rules() {
    let rules = "on nopass ~* &news.* +@all";
    let flag = format!("users.reader={rules}");
    let Some(servers) = pair(&["--set", &flag]) else {
        return;
    };
    let mut setup: Vec<&str> = vec!["ACL", "SETUSER", "reader"];
    setup.extend(rules.split(' '));
    servers.0.raw().cmd(&setup);
    on_both(
        &servers,
        &["ACL", "SETUSER", "fresh", "on", "nopass", "~*", "+@all"],
    );
    let (mut ra, mut oa) = (servers.0.raw(), servers.1.raw());
    same(&mut ra, &mut oa, &["ACL", "GETUSER", "reader"]);
    for (user, call) in [
        ("reader", &["PUBLISH", "news.a", "m"][..]),
        ("reader", &["PUBLISH", "sports", "m"]),
        ("reader", &["SPUBLISH", "sports", "m"]),
        ("reader", &["SUBSCRIBE", "news.a", "sports"]),
        ("reader", &["SUBSCRIBE", "news.a"]),
        ("reader", &["SSUBSCRIBE", "news.a"]),
        ("reader", &["PSUBSCRIBE", "news.*"]),
        ("reader", &["PSUBSCRIBE", "news.a*"]),
        ("reader", &["PSUBSCRIBE", "*"]),
        // Redis 7.0's acl-pubsub-default: a new user has no channels.
        ("fresh", &["PUBLISH", "news.a", "m"]),
        ("fresh", &["SUBSCRIBE", "x"]),
    ] {
        let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
        same(&mut r, &mut o, &["AUTH", user, "x"]);
        same(&mut r, &mut o, call);
    }
    same(
        &mut ra,
        &mut oa,
        &["ACL", "DRYRUN", "reader", "PUBLISH", "sports", "m"],
    );
    // Channels taken away: a subscriber that loses one of its
    // subscriptions is closed, the others stay, as in Redis 7.0.
    let mut kept = Vec::new();
    let mut lost = Vec::new();
    for s in [&servers.0, &servers.1] {
        let (mut a, mut b) = (s.raw(), s.raw());
        assert_eq!(a.cmd(&["AUTH", "reader", "x"]), "+OK\r\n");
        assert_eq!(b.cmd(&["AUTH", "reader", "x"]), "+OK\r\n");
        a.cmd(&["SUBSCRIBE", "news.a"]);
        b.cmd(&["PSUBSCRIBE", "news.*"]);
        kept.push(a);
        lost.push(b);
    }
    same(
        &mut ra,
        &mut oa,
        &["ACL", "SETUSER", "reader", "resetchannels", "&news.a"],
    );
    for (a, b) in kept.iter_mut().zip(lost.iter_mut()) {
        assert_eq!(a.cmd(&["PING"]), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        assert!(b.closed_by_server(), "a subscriber kept a pattern it lost");
    }
}

/// ACL LOG's entries without what differs by run (age, client details):
/// count, reason, context, object, username.
fn log_entries(s: &Server, count: Option<&str>) -> Vec<Vec<String>> {
    let mut con = s.con();
    let mut cmd = redis::cmd("ACL");
    cmd.arg("LOG");
    if let Some(n) = count {
        cmd.arg(n);
    }
    let entries: Vec<Vec<redis::Value>> = cmd.query(&mut con).expect("ACL LOG");
    let text = |v: &redis::Value| match v {
        redis::Value::Int(n) => n.to_string(),
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    entries
        .iter()
        .map(|e| {
            let fields: Vec<String> = e.iter().map(text).collect();
            let names: Vec<&str> = fields.iter().step_by(2).map(String::as_str).collect();
            assert_eq!(
                names,
                [
                    "count",
                    "reason",
                    "context",
                    "object",
                    "username",
                    "age-seconds",
                    "client-info"
                ]
            );
            assert!(
                fields[11].parse::<f64>().is_ok(),
                "age-seconds {}",
                fields[11]
            );
            assert!(fields[13].starts_with("id="), "client-info {}", fields[13]);
            fields[..10].iter().skip(1).step_by(2).cloned().collect()
        })
        .collect()
}

/// A user limited to `a*` (authenticated on `r` and `o`) runs scripts
/// that touch a key it may not, by redis.call and by redis.pcall, and one
/// it may: the same replies as Redis.
fn same_script_key_checks(r: &mut Raw, o: &mut Raw) {
    for script in [
        "return redis.call('get','zz')",
        "return redis.pcall('get','zz')",
        "return redis.pcall('get','a1')",
    ] {
        same(r, o, &["EVAL", script, "0"]);
    }
}

#[test]
fn scripts_are_checked_as_their_caller_and_denials_are_logged() {
    let Some(servers) = pair(&[]) else { return };
    on_both(
        &servers,
        &["ACL", "SETUSER", "s", "on", ">pw", "~a*", "+@all"],
    );
    on_both(
        &servers,
        &[
            "ACL", "SETUSER", "t", "on", ">pw", "~*", "-@all", "+eval", "+get", "+multi",
            "+discard",
        ],
    );
    let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
    same(&mut r, &mut o, &["AUTH", "s", "pw"]);
    same_script_key_checks(&mut r, &mut o);
    same(
        &mut r,
        &mut o,
        &["EVAL", "return redis.pcall('publish','ch','m')", "0"],
    );
    same(&mut r, &mut o, &["GET", "zz"]);
    same(&mut r, &mut o, &["PUBLISH", "ch", "m"]);
    let (mut r2, mut o2) = (servers.0.raw(), servers.1.raw());
    same(&mut r2, &mut o2, &["AUTH", "t", "pw"]);
    same(
        &mut r2,
        &mut o2,
        &["EVAL", "return redis.pcall('set','a','b')", "0"],
    );
    same(&mut r2, &mut o2, &["MULTI"]);
    same(&mut r2, &mut o2, &["SET", "a", "b"]);
    same(&mut r2, &mut o2, &["DISCARD"]);
    same(&mut r2, &mut o2, &["AUTH", "t", "wrong"]);
    same(&mut r2, &mut o2, &["AUTH", "nosuch", "wrong"]);
    let want = log_entries(&servers.0, None);
    assert_eq!(log_entries(&servers.1, None), want);
    assert_eq!(
        log_entries(&servers.1, Some("2")),
        log_entries(&servers.0, Some("2"))
    );
    assert_eq!(want.len(), 8, "{want:?}");
    // Bounded by acllog-max-len; RESET empties it.
    on_both(&servers, &["CONFIG", "SET", "acllog-max-len", "3"]);
    on_both(&servers, &["CONFIG", "GET", "acllog-max-len"]);
    same(&mut r, &mut o, &["GET", "zz2"]);
    assert_eq!(log_entries(&servers.1, None), log_entries(&servers.0, None));
    assert_eq!(log_entries(&servers.1, None).len(), 3);
    on_both(&servers, &["ACL", "LOG", "RESET"]);
    on_both(&servers, &["ACL", "LOG"]);
    on_both(&servers, &["ACL", "LOG", "x"]);
    on_both(&servers, &["ACL", "LOG", "-1"]);
}

#[test]
fn acl_file_save_load_and_kill9_restart() {
    let dir = common::scratch("aclfile");
    let file = dir.join("users.acl");
    std::fs::write(&file, "user default on nopass ~* &* +@all\n").expect("write aclfile");
    let path = file.display().to_string();
    let mut s = Server::with(2, &["--aclfile", &path]);
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">pw",
            "~app:*",
            "&events",
            "-@all",
            "+@read",
            "(~x +set)"
        ]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd(&["ACL", "SAVE"]), "+OK\r\n");
    let saved = std::fs::read_to_string(&file).expect("read aclfile");
    assert_eq!(
        saved,
        format!(
            "user app on #{PW_SHA} ~app:* resetchannels &events -@all +@read (~x resetchannels -@all +set)\n\
             user default on nopass ~* &* +@all\n"
        )
    );
    let list = c.cmd(&["ACL", "LIST"]);
    // Not saved: gone after LOAD, which also closes app's connections.
    let mut app = s.raw();
    assert_eq!(app.cmd(&["AUTH", "app", "pw"]), "+OK\r\n");
    assert_eq!(c.cmd(&["ACL", "SETUSER", "temp", "on"]), "+OK\r\n");
    assert_eq!(c.cmd(&["ACL", "LOAD"]), "+OK\r\n");
    assert_eq!(c.cmd(&["ACL", "LIST"]), list);
    assert!(
        app.closed_by_server(),
        "ACL LOAD left app's connection open"
    );
    // A bad file changes nothing, and says why, as Redis.
    std::fs::write(&file, "user a on nopass +nosuch\nbogus\nuser c on #abc\n").expect("write");
    assert_eq!(
        c.cmd(&["ACL", "LOAD"]),
        format!(
            "-ERR {path}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. \
             {path}:2 should start with user keyword followed by the username. \
             {path}:3: The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters. \
             WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n"
        )
    );
    assert_eq!(c.cmd(&["ACL", "LIST"]), list);
    // Saved again, then killed: the restarted server has the file's users.
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "late", "on", "nopass", "+ping"]),
        "+OK\r\n"
    );
    assert_eq!(c.cmd(&["ACL", "SAVE"]), "+OK\r\n");
    let list = c.cmd(&["ACL", "LIST"]);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, ["users.acl"], "temporary files left");
    drop(c);
    s.kill9_and_restart();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["ACL", "LIST"]), list);
    let mut late = s.raw();
    assert_eq!(late.cmd(&["AUTH", "late", "x"]), "+OK\r\n");
    assert_eq!(late.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(
        late.cmd(&["GET", "k"]),
        "-NOPERM this user has no permissions to run the 'get' command\r\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn save_and_load_without_an_aclfile_are_refused_as_redis() {
    let Some(servers) = pair(&[]) else { return };
    on_both(&servers, &["ACL", "SAVE"]);
    on_both(&servers, &["ACL", "LOAD"]);
    on_both(&servers, &["CONFIG", "SET", "aclfile", "/tmp/x"]);
}

#[test]
fn a_missing_aclfile_stops_start_up() {
    let missing = common::scratch("no-aclfile").join("nope.acl");
    let flag = format!("aclfile={}", missing.display());
    let started = Server::start_once(1, &["--set", &flag], Duration::from_secs(10));
    let Err((_, log)) = started else {
        panic!("started without its ACL file");
    };
    assert!(log.contains("Error loading ACLs"), "{log}");
}

/// A profile user (no ACL SETUSER needed, so this runs on the code before
/// run-time ACL too) whose script touches a key it may not: Redis refuses
/// the call with its script wording, not the client's NOPERM.
#[test]
fn a_script_is_denied_a_key_as_redis_denies_it() {
    let rules = format!("on #{PW_SHA} ~a* +@all");
    let flag = format!("users.s={rules}");
    let Some(servers) = pair(&["--set", &flag]) else {
        return;
    };
    let mut setup: Vec<&str> = vec!["ACL", "SETUSER", "s"];
    setup.extend(rules.split(' '));
    assert_eq!(servers.0.raw().cmd(&setup), "+OK\r\n");
    let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
    same(&mut r, &mut o, &["AUTH", "s", "pw"]);
    same_script_key_checks(&mut r, &mut o);
}

/// ACL SETUSER's rules may carry passwords in clear: the slow log shows
/// none of its arguments after SETUSER, as Redis's.
#[test]
fn setuser_arguments_are_redacted_in_the_slow_log() {
    let Some(servers) = pair(&[]) else { return };
    on_both(&servers, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    on_both(&servers, &["ACL", "SETUSER", "x", "on", ">s3cret"]);
    for s in [&servers.0, &servers.1] {
        let log = s.raw().cmd(&["SLOWLOG", "GET", "2"]);
        assert!(!log.contains("s3cret"), "{log}");
        assert_eq!(log.matches("$10\r\n(redacted)\r\n").count(), 3, "{log}");
    }
}

/// ACL SETUSER from connections on both cores at once: every user made
/// is kept (changes are ordered by one core, and a core never takes an
/// older table over a newer one).
#[test]
fn concurrent_setusers_from_both_cores_are_all_kept() {
    let s = Server::with(2, &[]);
    let conns = on_both_cores(&s, &["PING"]);
    const PER_CONNECTION: usize = 50;
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            std::thread::spawn(move || {
                let mut pipeline = Vec::new();
                for j in 0..PER_CONNECTION {
                    let name = format!("u{i}-{j}");
                    pipeline.extend(common::encode(&["ACL", "SETUSER", &name, "on", "nopass"]));
                }
                c.send(&pipeline);
                for _ in 0..PER_CONNECTION {
                    assert_eq!(c.read_reply(), "+OK\r\n");
                }
                i
            })
        })
        .collect();
    let mut made = 0;
    for t in threads {
        t.join().expect("a SETUSER thread failed");
        made += PER_CONNECTION;
    }
    let users = s.raw().cmd(&["ACL", "USERS"]);
    assert_eq!(
        users.lines().next(),
        Some(format!("*{}", made + 1).as_str()),
        "lost users"
    );
}

/// CONFIG SET requirepass is the default user's password (RESET, new
/// connections and GETUSER see it), and CONFIG SET of other settings
/// leaves the users as they are.
#[test]
fn requirepass_sets_the_default_user_and_config_set_keeps_users() {
    let Some(servers) = pair(&[]) else { return };
    let (mut r, mut o) = (servers.0.raw(), servers.1.raw());
    same(
        &mut r,
        &mut o,
        &["ACL", "SETUSER", "k", "on", "nopass", "+@all"],
    );
    same(
        &mut r,
        &mut o,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    same(&mut r, &mut o, &["ACL", "GETUSER", "k"]);
    same(&mut r, &mut o, &["CONFIG", "SET", "requirepass", "pw"]);
    same(&mut r, &mut o, &["ACL", "GETUSER", "default"]);
    let (mut r2, mut o2) = (servers.0.raw(), servers.1.raw());
    same(&mut r2, &mut o2, &["GET", "x"]);
    same(&mut r2, &mut o2, &["AUTH", "pw"]);
    same(&mut r2, &mut o2, &["GET", "x"]);
    same(&mut r, &mut o, &["CONFIG", "SET", "requirepass", ""]);
    same(&mut r, &mut o, &["ACL", "GETUSER", "default"]);
    same(&mut r, &mut o, &["ACL", "LIST"]);
}

/// redis-cli, as an operator uses it: each rule kind set with ACL SETUSER,
/// then the user's commands through `--user/--pass`, and ACL LOG; what
/// redis-cli prints is compared with what it prints for redis-server
/// (ACL LOG's age and client-info fields apart).
#[test]
fn redis_cli_sees_the_same_users_rules_and_log_as_redis() {
    let Some(servers) = pair(&[]) else { return };
    let cli = |s: &Server, auth: Option<&str>, args: &[&str]| -> String {
        let mut cmd = std::process::Command::new(common::tool("redis-cli"));
        cmd.args(["-p", &s.port.to_string()]);
        if let Some(user) = auth {
            cmd.args(["--user", user, "--pass", "pw", "--no-auth-warning"]);
        }
        let out = cmd.args(args).output().expect("redis-cli");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let both = |auth: Option<&str>, args: &[&str]| {
        let (want, got) = (cli(&servers.0, auth, args), cli(&servers.1, auth, args));
        assert_eq!(got, want, "redis-cli {auth:?} {args:?}");
        got
    };
    let rules: &[&[&str]] = &[
        // keys by pattern, read-only and write-only patterns
        &[
            "ACL",
            "SETUSER",
            "keys",
            "on",
            ">pw",
            "~public:*",
            "%R~ro:*",
            "%W~wo:*",
            "+@all",
        ],
        // categories and a single command; a subcommand (one single-command
        // rule a user: Redis lists several in its hash seed's order)
        &[
            "ACL", "SETUSER", "cmds", "on", ">pw", "allkeys", "+@read", "-get",
        ],
        &[
            "ACL",
            "SETUSER",
            "sub",
            "on",
            ">pw",
            "allkeys",
            "+config|get",
        ],
        // channels
        &[
            "ACL",
            "SETUSER",
            "chans",
            "on",
            ">pw",
            "allkeys",
            "+@all",
            "resetchannels",
            "&news*",
        ],
        // off, and a password hash
        &[
            "ACL",
            "SETUSER",
            "gone",
            "off",
            &format!("#{PW_SHA}"),
            "+@all",
            "allkeys",
        ],
        // a selector
        &[
            "ACL",
            "SETUSER",
            "sel",
            "on",
            ">pw",
            "+get",
            "~a*",
            "(+set ~b*)",
        ],
    ];
    for rule in rules {
        assert_eq!(both(None, rule), "OK\n");
    }
    for user in ["keys", "cmds", "sub", "chans", "sel"] {
        both(None, &["ACL", "GETUSER", user]);
    }
    let tries: &[(&str, &[&str])] = &[
        ("keys", &["SET", "public:1", "v"]),
        ("keys", &["GET", "secret"]),
        ("keys", &["GET", "ro:1"]),
        ("keys", &["SET", "ro:1", "v"]),
        ("keys", &["SET", "wo:1", "v"]),
        ("keys", &["GET", "wo:1"]),
        ("keys", &["ZUNION", "1", "secret"]),
        ("cmds", &["GET", "k"]),
        ("cmds", &["MGET", "k"]),
        ("cmds", &["SET", "k", "v"]),
        ("sub", &["CONFIG", "GET", "maxmemory"]),
        ("sub", &["CONFIG", "SET", "maxmemory", "0"]),
        ("chans", &["PUBLISH", "news1", "m"]),
        ("chans", &["PUBLISH", "sports", "m"]),
        ("gone", &["PING"]),
        ("sel", &["GET", "a1"]),
        ("sel", &["SET", "b1", "v"]),
        ("sel", &["SET", "a1", "v"]),
        ("sel", &["GET", "b1"]),
    ];
    for (user, args) in tries {
        both(Some(user), args);
    }
    // The denials, newest first, as redis-cli prints them (the fields that
    // tell time and the client's address apart).
    let log = |s: &Server| -> Vec<String> {
        let text = cli(s, None, &["ACL", "LOG"]);
        let lines: Vec<&str> = text.lines().collect();
        let mut kept = Vec::new();
        let mut skip_next = false;
        for line in lines {
            if skip_next {
                skip_next = false;
                continue;
            }
            if line == "age-seconds" || line == "client-info" {
                skip_next = true;
                continue;
            }
            kept.push(line.to_string());
        }
        kept
    };
    let (want, got) = (log(&servers.0), log(&servers.1));
    assert!(want.len() > 20, "redis-server's ACL LOG: {want:?}");
    assert_eq!(got, want);
    assert_eq!(both(None, &["ACL", "LOG", "RESET"]), "OK\n");
    // (redis-cli prints an empty array as an empty line.)
    assert_eq!(both(None, &["ACL", "LOG"]), "\n");
}
