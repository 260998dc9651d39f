//! Client-side caching (CLIENT TRACKING, docs/pubsub.md) through real
//! connections: invalidations of keys read on one shard and written from
//! another core, REDIRECT to a RESP2 subscriber and its breaking, BCAST
//! with prefixes, OPTIN / OPTOUT with CLIENT CACHING, NOLOOP, expiry,
//! eviction, FLUSHALL's null, the table's bound and clean-up, and the
//! errors and replies compared with redis-server 7.0, and redis-py's PubSub
//! as the redirect client.
//!
//! A check that something is *not* sent uses a sentinel: a key the client
//! reads and another client then writes, whose invalidation travels the
//! same way (same shard, same cores) after the change that must not be
//! reported; the next message must be the sentinel's.

mod common;

use common::{con_on, encode, id_of, info_field, keys_on, q, raw_on, Raw, Server};
use std::time::Duration;

/// A RESP3 connection on core `core`.
fn resp3_on(s: &Server, core: usize) -> Raw {
    let mut r = raw_on(s, core);
    let hello = r.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with('%'), "{hello}");
    r
}

fn ok(r: &mut Raw, args: &[&str]) {
    assert_eq!(r.cmd(args), "+OK\r\n", "{args:?}");
}

/// What an invalidation says: `Some(keys)`, or `None` for a flush's null.
#[derive(Debug, PartialEq)]
enum Inval {
    Keys(Vec<String>),
    Flush,
}

/// Parses an invalidation: a RESP3 push `invalidate`, or a RESP2 message
/// on `__redis__:invalidate`; panics on anything else.
fn parse_inval(reply: &str) -> Inval {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    let rest = match lines.as_slice() {
        [">2", "$10", "invalidate", rest @ ..] => rest,
        ["*3", "$7", "message", "$20", "__redis__:invalidate", rest @ ..] => rest,
        _ => panic!("not an invalidation: {reply:?}"),
    };
    if rest[0] == "_" || rest[0] == "$-1" {
        return Inval::Flush;
    }
    let n: usize = rest[0].trim_start_matches('*').parse().unwrap();
    Inval::Keys((0..n).map(|i| rest[2 + 2 * i].to_string()).collect())
}

/// The keys of the next invalidation on `r`.
fn next_keys(r: &mut Raw) -> Vec<String> {
    match parse_inval(&r.read_reply()) {
        Inval::Keys(k) => k,
        Inval::Flush => panic!("a flush's null, keys expected"),
    }
}

/// Invalidations until one names `sentinel`: every key they named, in order.
fn keys_until(r: &mut Raw, sentinel: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let keys = next_keys(r);
        let done = keys.iter().any(|k| k == sentinel);
        seen.extend(keys);
        if done {
            return seen;
        }
    }
}

#[test]
fn a_read_is_invalidated_once_by_a_write_on_any_shard() {
    let s = Server::start();
    let mut a = resp3_on(&s, 0);
    let mut w = con_on(&s, 1);
    let near = keys_on("dm-near", 0, 2, 2);
    let far = keys_on("dm-far", 1, 2, 2);
    let _: () = redis::cmd("MSET")
        .arg(&near[0])
        .arg("1")
        .arg(&far[0])
        .arg("1")
        .query(&mut w)
        .unwrap();
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    assert_eq!(a.cmd(&["GET", &near[0]]), "$1\r\n1\r\n");
    // MGET's keys are split by shard: each part remembers its own.
    a.cmd(&["MGET", &far[0], &far[1]]);
    // A write from the other core, on each shard.
    let _: () = q(&mut w, &["SET", &far[0], "2"]);
    assert_eq!(next_keys(&mut a), vec![far[0].clone()]);
    let _: () = q(&mut w, &["SET", &near[0], "2"]);
    assert_eq!(next_keys(&mut a), vec![near[0].clone()]);
    let _: () = q(&mut w, &["SET", &far[1], "x"]);
    assert_eq!(next_keys(&mut a), vec![far[1].clone()]);
    // Once: a second change of a key not read again says nothing; the
    // sentinel on the same shard comes next.
    let _: () = q(&mut w, &["SET", &far[0], "3"]);
    a.cmd(&["GET", &far[1]]);
    let _: () = q(&mut w, &["DEL", &far[1]]);
    assert_eq!(next_keys(&mut a), vec![far[1].clone()]);
    // A read that runs on the connection's core (SUNION of keys on both
    // shards) remembers its keys too; a move across shards (RENAME)
    // changes both of its keys.
    let sets = [keys_on("dm-set", 0, 2, 1), keys_on("dm-set", 1, 2, 1)].concat();
    let _: () = q(&mut w, &["SADD", &sets[0], "m"]);
    let _: () = q(&mut w, &["SADD", &sets[1], "n"]);
    let union = a.cmd(&["SUNION", &sets[0], &sets[1]]);
    assert!(
        union.starts_with("~2") || union.starts_with("*2"),
        "{union}"
    );
    let _: () = q(&mut w, &["RENAME", &sets[0], &sets[1]]);
    let mut got = [next_keys(&mut a), next_keys(&mut a)].concat();
    got.sort();
    let mut want = sets.clone();
    want.sort();
    assert_eq!(got, want);
    // A write is no read: the writer's own keys are not remembered.
    let _: () = q(&mut w, &["SET", &near[1], "1"]);
    let tracked: usize = info_field(&mut w, "stats", "tracking_total_keys")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(tracked, 0);
}

#[test]
fn redirect_goes_to_a_resp2_subscriber_and_breaks_when_it_leaves() {
    let s = Server::start();
    let mut sub = raw_on(&s, 1);
    let sub_id = id_of(&mut sub);
    let reply = sub.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    assert!(reply.contains("__redis__:invalidate"), "{reply}");
    let mut a = raw_on(&s, 0);
    let a_id = id_of(&mut a);
    ok(
        &mut a,
        &["CLIENT", "TRACKING", "ON", "REDIRECT", &sub_id.to_string()],
    );
    assert_eq!(a.cmd(&["CLIENT", "GETREDIR"]), format!(":{sub_id}\r\n"));
    let info = a.cmd(&["CLIENT", "INFO"]);
    assert!(info.contains(" flags=t "), "{info}");
    assert!(info.contains(&format!(" redir={sub_id} ")), "{info}");
    let key = keys_on("redir", 1, 2, 1).remove(0);
    let mut w = con_on(&s, 0);
    a.cmd(&["GET", &key]);
    let _: () = q(&mut w, &["SET", &key, "v"]);
    let msg = sub.read_reply();
    assert_eq!(
        msg,
        format!(
            "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n${}\r\n{key}\r\n",
            key.len()
        )
    );
    // The subscriber goes: the tracking client (in RESP3) hears of it at
    // the next invalidation, and CLIENT LIST shows `R`.
    drop(sub);
    std::thread::sleep(Duration::from_millis(200));
    a.cmd(&["HELLO", "3"]);
    a.cmd(&["GET", &key]);
    let _: () = q(&mut w, &["SET", &key, "w"]);
    assert_eq!(
        a.read_reply(),
        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{sub_id}\r\n")
    );
    let list: String = q(&mut w, &["CLIENT", "LIST", "ID", &a_id.to_string()]);
    assert!(list.contains(" flags=tR "), "{list}");
    let trackinginfo = a.cmd(&["CLIENT", "TRACKINGINFO"]);
    assert!(trackinginfo.contains("broken_redirect"), "{trackinginfo}");
}

#[test]
fn bcast_reports_every_change_under_the_prefixes() {
    let s = Server::start();
    let mut a = resp3_on(&s, 0);
    ok(
        &mut a,
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "item:",
        ],
    );
    let info = a.cmd(&["CLIENT", "INFO"]);
    assert!(info.contains(" flags=tB "), "{info}");
    let mut w = con_on(&s, 1);
    let users = [keys_on("user:", 0, 2, 1), keys_on("user:", 1, 2, 1)].concat();
    let _: () = q(&mut w, &["SET", &users[0], "1"]);
    let _: () = q(&mut w, &["SET", "other:1", "1"]);
    let _: () = q(&mut w, &["SET", &users[1], "1"]);
    let mut seen = keys_until(&mut a, &users[1]);
    // Every time, without a read in between (a change seen before the
    // last send is named once: wait for that one first).
    let _: () = q(&mut w, &["SET", &users[1], "2"]);
    seen.extend(keys_until(&mut a, &users[1]));
    while !seen.contains(&users[0]) {
        seen.extend(next_keys(&mut a));
    }
    // The sentinel lives on other:1's shard: had other:1 been reported,
    // it would have come first.
    let sentinel = keys_on("item:sentinel", common::shard_of("other:1", 2), 2, 1).remove(0);
    let _: () = q(&mut w, &["SET", &sentinel, "1"]);
    seen.extend(keys_until(&mut a, &sentinel));
    assert!(!seen.iter().any(|k| k == "other:1"), "{seen:?}");
    let prefixes: usize = info_field(&mut w, "stats", "tracking_total_prefixes")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(prefixes, 2);
    // Off: the prefixes go from every shard.
    ok(&mut a, &["CLIENT", "TRACKING", "OFF"]);
    let prefixes = info_field(&mut w, "stats", "tracking_total_prefixes").unwrap();
    assert_eq!(prefixes, "0");
}

#[test]
fn optin_and_optout_follow_client_caching() {
    let s = Server::start();
    let mut w = con_on(&s, 1);
    let k = keys_on("opt", 1, 2, 4);
    let mut a = resp3_on(&s, 0);
    ok(&mut a, &["CLIENT", "TRACKING", "ON", "OPTIN"]);
    a.cmd(&["GET", &k[0]]);
    ok(&mut a, &["CLIENT", "CACHING", "YES"]);
    a.cmd(&["GET", &k[1]]);
    // Used up by that one command.
    a.cmd(&["GET", &k[2]]);
    let _: () = q(&mut w, &["MSET", &k[0], "1", &k[2], "1"]);
    let _: () = q(&mut w, &["SET", &k[1], "1"]);
    assert_eq!(next_keys(&mut a), vec![k[1].clone()]);
    // For a whole transaction.
    ok(&mut a, &["CLIENT", "CACHING", "YES"]);
    ok(&mut a, &["MULTI"]);
    a.cmd(&["GET", &k[2]]);
    a.cmd(&["GET", &k[3]]);
    a.cmd(&["EXEC"]);
    let _: () = q(&mut w, &["SET", &k[3], "1"]);
    let _: () = q(&mut w, &["SET", &k[2], "2"]);
    let mut got = [next_keys(&mut a), next_keys(&mut a)].concat();
    got.sort();
    let mut want = vec![k[2].clone(), k[3].clone()];
    want.sort();
    assert_eq!(got, want);

    let mut b = resp3_on(&s, 0);
    ok(&mut b, &["CLIENT", "TRACKING", "ON", "OPTOUT"]);
    ok(&mut b, &["CLIENT", "CACHING", "NO"]);
    let flags = b.cmd(&["CLIENT", "TRACKINGINFO"]);
    assert!(flags.contains("caching-no"), "{flags}");
    b.cmd(&["GET", &k[0]]);
    b.cmd(&["GET", &k[1]]);
    let _: () = q(&mut w, &["SET", &k[0], "3"]);
    let _: () = q(&mut w, &["SET", &k[1], "3"]);
    assert_eq!(next_keys(&mut b), vec![k[1].clone()]);
}

#[test]
fn noloop_skips_the_clients_own_changes() {
    let s = Server::start();
    let mut w = con_on(&s, 1);
    let k = keys_on("noloop", 1, 2, 2);
    // Without NOLOOP, a client's own write invalidates, after its reply.
    let mut a = resp3_on(&s, 0);
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    a.cmd(&["GET", &k[0]]);
    ok(&mut a, &["SET", &k[0], "mine"]);
    assert_eq!(next_keys(&mut a), vec![k[0].clone()]);

    let mut b = resp3_on(&s, 0);
    ok(&mut b, &["CLIENT", "TRACKING", "ON", "NOLOOP"]);
    b.cmd(&["GET", &k[0]]);
    ok(&mut b, &["SET", &k[0], "mine"]);
    b.cmd(&["GET", &k[1]]);
    let _: () = q(&mut w, &["SET", &k[1], "theirs"]);
    assert_eq!(next_keys(&mut b), vec![k[1].clone()]);

    // BCAST too.
    let mut c = resp3_on(&s, 0);
    ok(
        &mut c,
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP", "PREFIX", "noloop",
        ],
    );
    ok(&mut c, &["SET", &k[0], "mine"]);
    let _: () = q(&mut w, &["SET", &k[1], "theirs"]);
    assert_eq!(keys_until(&mut c, &k[1]), vec![k[1].clone()]);
}

#[test]
fn expiry_and_eviction_invalidate() {
    let s = Server::start();
    let mut w = con_on(&s, 1);
    let k = keys_on("gone", 1, 2, 2);
    let mut a = resp3_on(&s, 0);
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    let _: () = q(&mut w, &["SET", &k[0], "v", "PX", "500"]);
    a.cmd(&["GET", &k[0]]);
    // Active expiry removes it, nobody touching it.
    assert_eq!(next_keys(&mut a), vec![k[0].clone()]);

    let _: () = q(&mut w, &["SET", &k[1], "v"]);
    a.cmd(&["GET", &k[1]]);
    let _: () = q(
        &mut w,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"],
    );
    let _: () = q(&mut w, &["CONFIG", "SET", "maxmemory", "1"]);
    // Over the budget: this write evicts what there is, then is refused.
    let _ = redis::cmd("SET").arg(&k[1]).arg("x").query::<()>(&mut w);
    assert_eq!(next_keys(&mut a), vec![k[1].clone()]);
}

#[test]
fn flushall_sends_a_null_to_every_tracking_client() {
    let s = Server::start();
    let mut sub = raw_on(&s, 1);
    let sub_id = id_of(&mut sub).to_string();
    sub.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    let mut a = resp3_on(&s, 0);
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    let mut b = raw_on(&s, 1);
    ok(&mut b, &["CLIENT", "TRACKING", "ON", "REDIRECT", &sub_id]);
    let mut c = resp3_on(&s, 1);
    ok(&mut c, &["CLIENT", "TRACKING", "ON", "BCAST"]);
    a.cmd(&["GET", "x"]);
    b.cmd(&["GET", "y"]);
    let mut w = con_on(&s, 0);
    let _: () = q(&mut w, &["FLUSHALL"]);
    assert_eq!(a.read_reply(), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(c.read_reply(), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
    assert_eq!(
        sub.read_reply(),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    // The reads were forgotten with the data.
    assert_eq!(
        info_field(&mut w, "stats", "tracking_total_keys").unwrap(),
        "0"
    );
}

#[test]
fn the_table_is_bounded_and_cleaned_up() {
    let s = Server::start();
    let mut w = s.con();
    let _: () = q(&mut w, &["CONFIG", "SET", "tracking-table-max-keys", "10"]);
    let mut a = resp3_on(&s, 0);
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    let keys: Vec<String> = (0..40).map(|i| format!("bound:{i}")).collect();
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    a.cmd(&mget);
    let total: usize = info_field(&mut w, "stats", "tracking_total_keys")
        .unwrap()
        .parse()
        .unwrap();
    assert!(total <= 10, "{total} keys remembered");
    // Those let go were invalidated.
    let mut let_go = 0;
    while let_go < 40 - total {
        let_go += next_keys(&mut a).len();
    }
    assert_eq!(
        info_field(&mut w, "clients", "tracking_clients").unwrap(),
        "1"
    );
    if s.is_redis() {
        // Redis leaves a client's entries in its table until the keys
        // change or the table is over its bound; ringcache drops them.
        return;
    }
    // Off, or gone: nothing of the client stays.
    ok(&mut a, &["CLIENT", "TRACKING", "OFF"]);
    let wait_for_zero = |w: &mut redis::Connection| {
        for _ in 0..100 {
            if info_field(w, "stats", "tracking_total_items").unwrap() == "0" {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("tracking items left behind");
    };
    wait_for_zero(&mut w);
    assert_eq!(
        info_field(&mut w, "clients", "tracking_clients").unwrap(),
        "0"
    );
    let mut b = resp3_on(&s, 1);
    ok(&mut b, &["CLIENT", "TRACKING", "ON"]);
    b.cmd(&mget);
    assert_ne!(
        info_field(&mut w, "stats", "tracking_total_items").unwrap(),
        "0"
    );
    drop(b);
    wait_for_zero(&mut w);
    assert_eq!(
        info_field(&mut w, "clients", "tracking_clients").unwrap(),
        "0"
    );
}

/// The replies of one connection to `commands`, one by one.
fn replies(r: &mut Raw, commands: &[&[&str]]) -> Vec<String> {
    commands
        .iter()
        .map(|c| {
            r.send(&encode(c));
            r.read_reply()
        })
        .collect()
}

#[test]
fn errors_and_replies_match_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!(
            "SKIPPED: redis-server is not installed; the tracking differential test needs it"
        );
        return;
    };
    let server = Server::start();
    let session: &[&[&str]] = &[
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "TRACKING", "ON", "PREFIX", "a"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"],
        &["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"],
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "ab",
        ],
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"],
        &["CLIENT", "TRACKING", "ON", "REDIRECT", "x"],
        &["CLIENT", "TRACKING", "ON", "REDIRECT"],
        &["CLIENT", "TRACKING", "MAYBE"],
        &["CLIENT", "TRACKING", "ON", "FOO"],
        &["CLIENT", "TRACKING"],
        &["CLIENT", "CACHING"],
        &["CLIENT", "TRACKING", "ON"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKING", "ON", "OPTIN"],
        &["CLIENT", "CACHING", "NO"],
        &["CLIENT", "CACHING", "MAYBE"],
        &["CLIENT", "CACHING", "YES"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "TRACKING", "ON", "OPTOUT"],
        &["CLIENT", "TRACKING", "ON", "BCAST"],
        &["CLIENT", "TRACKING", "OFF"],
        &[
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "a", "PREFIX", "b", "NOLOOP",
        ],
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "ab"],
        &["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "c"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "TRACKING", "OFF"],
        &["CLIENT", "TRACKINGINFO"],
        &["CLIENT", "GETREDIR"],
    ];
    for proto in ["2", "3"] {
        let (mut r, mut o) = (redis.raw(), server.raw());
        // (HELLO's reply holds the client id: not compared.)
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        let (want, got) = (replies(&mut r, session), replies(&mut o, session));
        for ((cmd, want), got) in session.iter().zip(want).zip(got) {
            assert_eq!(got, want, "RESP{proto} {cmd:?}");
        }
    }
}

#[test]
fn a_scripts_reads_are_remembered_for_its_caller() {
    let s = Server::start();
    let mut w = con_on(&s, 1);
    let mut a = resp3_on(&s, 0);
    ok(&mut a, &["CLIENT", "TRACKING", "ON"]);
    // A key of the caller's own shard (the script runs here), then one of
    // the other shard (the script runs there); EVAL_RO too.
    let here = keys_on("script", 0, 2, 1).remove(0);
    let there = keys_on("script", 1, 2, 2);
    let get = "return redis.call('GET', KEYS[1])";
    for (eval, key) in [("EVAL", &here), ("EVAL", &there[0]), ("EVAL_RO", &there[1])] {
        a.cmd(&[eval, get, "1", key]);
        let _: () = q(&mut w, &["SET", key, "new"]);
        assert_eq!(next_keys(&mut a), vec![key.clone()], "{eval} {key}");
    }
}

/// redis-py's PubSub as the redirect client: RESP2 messages on
/// `__redis__:invalidate`, RESP3 pushes through its push handler.
const REDIS_PY_REDIRECT: &str = r#"
import redis, sys, time
port = int(sys.argv[1])
out = []
for proto in (2, 3):
    r = redis.Redis(port=port, protocol=proto)
    got = []
    p = r.pubsub(push_handler_func=got.append) if proto == 3 else r.pubsub()
    p.subscribe('__redis__:invalidate')
    sub_id = next(c['id'] for c in r.client_list() if c['cmd'] == 'subscribe')
    t = redis.Redis(port=port, single_connection_client=True)
    t.client_tracking_on(clientid=int(sub_id))
    out.append(t.client_getredir() == int(sub_id))
    key = f'py:{proto}'
    t.get(key)
    r.set(key, 'v')
    deadline = time.time() + 10
    while time.time() < deadline and not any('py:' in repr(g) for g in got):
        m = p.get_message(timeout=0.2)
        if m:
            got.append(m)
    out.append([g for g in got if 'py:' in repr(g)])
    p.close(); t.close()
print(out)
"#;

#[test]
fn redis_py_receives_invalidations_through_its_pubsub() {
    let s = Server::start();
    let out = common::run_python(&s, REDIS_PY_REDIRECT, Duration::from_secs(60));
    assert_eq!(
        out.trim(),
        "[True, [{'type': 'message', 'pattern': None, 'channel': b'__redis__:invalidate', 'data': [b'py:2']}], True, [[b'invalidate', [b'py:3']]]]"
    );
}
