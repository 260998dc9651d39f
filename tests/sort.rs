//! SORT and SORT_RO against the real binary, with the sorted key, the keys
//! BY and GET patterns make and the STORE destination spread over two
//! shards (and, with hash tags, all on one): orders, LIMIT, BY, GET, STORE,
//! errors, ACL, MULTI/EXEC and scripts, and a stored result across kill -9.
//! tests/differential_commands.rs compares the replies with redis-server's.

mod common;

use common::{keys_on, q, q_err, shard_of, Server};
use redis::Connection;

fn strings(con: &mut Connection, args: &[&str]) -> Vec<String> {
    q(con, args)
}

fn rpush(con: &mut Connection, key: &str, items: &[&str]) {
    let mut args = vec!["RPUSH", key];
    args.extend_from_slice(items);
    let _: i64 = q(con, &args);
}

#[test]
fn sorts_lists_sets_and_sorted_sets() {
    let s = Server::start();
    let mut c = s.con();
    rpush(&mut c, "l", &["3", "10", "1", "2", "-0.5", "1e1"]);
    assert_eq!(
        strings(&mut c, &["SORT", "l"]),
        ["-0.5", "1", "2", "3", "10", "1e1"]
    );
    assert_eq!(
        strings(&mut c, &["SORT", "l", "DESC"]),
        ["1e1", "10", "3", "2", "1", "-0.5"]
    );
    assert_eq!(
        strings(&mut c, &["SORT", "l", "ALPHA"]),
        ["-0.5", "1", "10", "1e1", "2", "3"]
    );
    assert_eq!(
        strings(&mut c, &["SORT", "l", "LIMIT", "1", "2"]),
        ["1", "2"]
    );
    assert_eq!(
        strings(&mut c, &["SORT_RO", "l", "LIMIT", "-5", "1"]),
        ["-0.5"]
    );
    assert!(strings(&mut c, &["SORT", "l", "LIMIT", "6", "1"]).is_empty());
    assert!(strings(&mut c, &["SORT", "l", "LIMIT", "0", "0"]).is_empty());
    // Nothing to sort: the list's own order, reversed by DESC, LIMIT applied.
    assert_eq!(
        strings(
            &mut c,
            &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]
        ),
        ["-0.5", "2"]
    );
    let _: i64 = q(&mut c, &["SADD", "s", "b", "c", "a"]);
    assert_eq!(strings(&mut c, &["SORT", "s", "ALPHA"]), ["a", "b", "c"]);
    assert_eq!(
        q_err(&mut c, &["SORT", "s"]),
        "ERR One or more scores can't be converted into double"
    );
    let _: i64 = q(&mut c, &["ZADD", "z", "3", "a", "1", "b", "2", "c"]);
    assert_eq!(
        strings(&mut c, &["SORT", "z", "BY", "nosort"]),
        ["b", "c", "a"]
    );
    assert_eq!(
        strings(
            &mut c,
            &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]
        ),
        ["a", "c"]
    );
    assert_eq!(
        strings(&mut c, &["SORT", "z", "ALPHA", "DESC"]),
        ["c", "b", "a"]
    );
    assert!(strings(&mut c, &["SORT", "nokey"]).is_empty());
    let _: () = q(&mut c, &["SET", "str", "x"]);
    assert_eq!(
        q_err(&mut c, &["SORT", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(q_err(&mut c, &["SORT", "l", "FOO"]), "ERR syntax error");
    assert_eq!(
        q_err(&mut c, &["SORT_RO", "l", "STORE", "d"]),
        "ERR syntax error"
    );
    assert_eq!(
        q_err(&mut c, &["SORT", "l", "LIMIT", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
}

/// Keys named `prefix` + element that land on both shards, for elements
/// `e0`, `e1`, ...: the first element whose key is on shard 0, then one on
/// shard 1, and so on.
fn elements_over_shards(prefix: &str, n: usize) -> Vec<String> {
    let mut picked = Vec::new();
    let mut want = 0;
    for i in 0.. {
        let e = format!("e{i}");
        if shard_of(&format!("{prefix}{e}"), 2) == want {
            picked.push(e);
            want = 1 - want;
            if picked.len() == n {
                break;
            }
        }
    }
    picked
}

#[test]
fn by_and_get_read_keys_on_every_shard() {
    let s = Server::start();
    let mut c = s.con();
    let els = elements_over_shards("w_", 6);
    let mut shards_seen = [false; 2];
    for e in &els {
        shards_seen[shard_of(&format!("w_{e}"), 2)] = true;
        shards_seen[shard_of(&format!("o_{e}"), 2)] = true;
    }
    assert_eq!(shards_seen, [true, true]);
    let list = keys_on("src", 0, 2, 1).remove(0);
    let refs: Vec<&str> = els.iter().map(String::as_str).collect();
    rpush(&mut c, &list, &refs);
    // Weights in reverse order of the elements, the last one missing
    // (weight 0: first); hash fields in their order (1..), the last missing.
    for (i, e) in els.iter().enumerate().take(5) {
        let _: () = q(&mut c, &["SET", &format!("w_{e}"), &(10 - i).to_string()]);
        let _: () = q(&mut c, &["SET", &format!("o_{e}"), &format!("obj-{e}")]);
        let _: i64 = q(
            &mut c,
            &["HSET", &format!("h_{e}"), "f", &format!("{}", i + 1)],
        );
    }
    let mut by_weight: Vec<String> = vec![els[5].clone()];
    by_weight.extend(els[..5].iter().rev().cloned());
    assert_eq!(strings(&mut c, &["SORT", &list, "BY", "w_*"]), by_weight);
    assert_eq!(
        strings(
            &mut c,
            &["SORT", &list, "BY", "h_*->f", "DESC", "LIMIT", "0", "5"]
        ),
        {
            let mut v: Vec<String> = els[..5].iter().rev().cloned().collect();
            v.truncate(5);
            v
        }
    );
    let got: Vec<Option<String>> = q(
        &mut c,
        &[
            "SORT", &list, "BY", "w_*", "LIMIT", "0", "2", "GET", "#", "GET", "o_*", "GET",
            "h_*->f", "GET", "nostar",
        ],
    );
    assert_eq!(
        got,
        [
            Some(els[5].clone()),
            None,
            None,
            None,
            Some(els[4].clone()),
            Some(format!("obj-{}", els[4])),
            Some("5".into()),
            None,
        ]
    );
    // ALPHA by a pattern: a missing value first, then byte order.
    assert_eq!(
        strings(
            &mut c,
            &["SORT", &list, "BY", "o_*", "ALPHA", "LIMIT", "0", "1"]
        ),
        [els[5].clone()]
    );
    // A wrong type behind a pattern is nothing, not an error.
    let _: i64 = q(&mut c, &["RPUSH", &format!("o_{}", els[5]), "x"]);
    let got: Vec<Option<String>> = q(
        &mut c,
        &["SORT", &list, "BY", "w_*", "LIMIT", "0", "1", "GET", "o_*"],
    );
    assert_eq!(got, [None]);
    // A BY value that is not a number.
    let _: () = q(&mut c, &["SET", &format!("w_{}", els[0]), "heavy"]);
    assert_eq!(
        q_err(&mut c, &["SORT", &list, "BY", "w_*"]),
        "ERR One or more scores can't be converted into double"
    );
}

#[test]
fn store_replaces_the_destination_on_another_shard() {
    let s = Server::start();
    let mut c = s.con();
    let src = keys_on("ssrc", 0, 2, 1).remove(0);
    let dst = keys_on("sdst", 1, 2, 1).remove(0);
    rpush(&mut c, &src, &["c", "a", "b"]);
    let _: i64 = q(&mut c, &["SADD", &dst, "old"]);
    let _: i64 = q(&mut c, &["EXPIRE", &dst, "100"]);
    assert_eq!(q::<i64>(&mut c, &["SORT", &src, "ALPHA", "STORE", &dst]), 3);
    assert_eq!(
        strings(&mut c, &["LRANGE", &dst, "0", "-1"]),
        ["a", "b", "c"]
    );
    assert_eq!(q::<i64>(&mut c, &["TTL", &dst]), -1);
    // GET values that are missing are stored as empty strings.
    let _: () = q(&mut c, &["SET", "v_a", "A"]);
    assert_eq!(
        q::<i64>(
            &mut c,
            &["SORT", &src, "ALPHA", "GET", "v_*", "GET", "#", "STORE", &dst]
        ),
        6
    );
    assert_eq!(
        strings(&mut c, &["LRANGE", &dst, "0", "-1"]),
        ["A", "a", "", "b", "", "c"]
    );
    // An empty result deletes the destination.
    assert_eq!(
        q::<i64>(
            &mut c,
            &["SORT", &src, "ALPHA", "LIMIT", "5", "5", "STORE", &dst]
        ),
        0
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", &dst]), 0);
    assert_eq!(q::<i64>(&mut c, &["SORT", "nokey", "STORE", &src]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", &src]), 0);
    // A set with nothing to sort is stored sorted (ALPHA), as Redis does.
    let _: i64 = q(&mut c, &["SADD", &src, "3", "1", "20"]);
    assert_eq!(
        q::<i64>(&mut c, &["SORT", &src, "BY", "nosort", "STORE", &dst]),
        3
    );
    assert_eq!(
        strings(&mut c, &["LRANGE", &dst, "0", "-1"]),
        ["1", "20", "3"]
    );
    // A failed sort stores nothing.
    let _: i64 = q(&mut c, &["SADD", &src, "x"]);
    let _: () = q(&mut c, &["SET", &dst, "kept"]);
    assert_eq!(
        q_err(&mut c, &["SORT", &src, "STORE", &dst]),
        "ERR One or more scores can't be converted into double"
    );
    assert_eq!(q::<String>(&mut c, &["GET", &dst]), "kept");
}

/// Keys that share a hash tag: the whole command is one step on their shard.
#[test]
fn hash_tagged_keys_sort_on_one_shard() {
    let s = Server::start();
    let mut c = s.con();
    rpush(&mut c, "{u}l", &["x", "y", "z"]);
    for (e, w) in [("x", "3"), ("y", "1"), ("z", "2")] {
        let _: () = q(&mut c, &["SET", &format!("{{u}}w_{e}"), w]);
        let _: i64 = q(
            &mut c,
            &["HSET", &format!("{{u}}h_{e}"), "n", &format!("N{e}")],
        );
    }
    assert_eq!(
        strings(&mut c, &["SORT", "{u}l", "BY", "{u}w_*"]),
        ["y", "z", "x"]
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &[
                "SORT",
                "{u}l",
                "BY",
                "{u}w_*",
                "GET",
                "{u}h_*->n",
                "STORE",
                "{u}d"
            ]
        ),
        3
    );
    assert_eq!(
        strings(&mut c, &["LRANGE", "{u}d", "0", "-1"]),
        ["Ny", "Nz", "Nx"]
    );
}

#[test]
fn patterns_need_a_user_who_reads_every_key() {
    let s = Server::start();
    let mut c = s.con();
    rpush(&mut c, "l1", &["2", "1"]);
    let _: () = q(
        &mut c,
        &["ACL", "SETUSER", "some", "on", "nopass", "~l*", "+@all"],
    );
    let _: () = q(
        &mut c,
        &[
            "ACL", "SETUSER", "reader", "on", "nopass", "%R~*", "~d*", "+@all",
        ],
    );
    let mut u = s.con();
    let _: () = q(&mut u, &["AUTH", "some", "x"]);
    assert_eq!(strings(&mut u, &["SORT", "l1", "BY", "nosort"]), ["2", "1"]);
    assert_eq!(
        q_err(&mut u, &["SORT", "l1", "BY", "w_*"]),
        "ERR BY option of SORT denied due to insufficient ACL permissions."
    );
    assert_eq!(
        q_err(&mut u, &["SORT", "l1", "GET", "#"]),
        "ERR GET option of SORT denied due to insufficient ACL permissions."
    );
    // Options are read in order: a bad LIMIT before the BY answers first.
    assert_eq!(
        q_err(&mut u, &["SORT", "l1", "LIMIT", "x", "1", "BY", "w_*"]),
        "ERR value is not an integer or out of range"
    );
    let _: () = q(&mut u, &["AUTH", "reader", "x"]);
    assert_eq!(
        strings(&mut u, &["SORT", "l1", "BY", "w_*", "GET", "#"]),
        ["1", "2"]
    );
    assert_eq!(
        q::<i64>(&mut u, &["SORT", "l1", "BY", "w_*", "STORE", "d1"]),
        2
    );
}

#[test]
fn sort_in_multi_and_in_scripts() {
    let s = Server::start();
    let mut c = s.con();
    let src = keys_on("msrc", 0, 2, 1).remove(0);
    let dst = keys_on("mdst", 1, 2, 1).remove(0);
    rpush(&mut c, &src, &["2", "3", "1"]);
    let replies: (Vec<String>, i64, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("SORT")
        .arg(&src)
        .cmd("SORT")
        .arg(&src)
        .arg("DESC")
        .arg("STORE")
        .arg(&dst)
        .cmd("LRANGE")
        .arg(&dst)
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .expect("MULTI/EXEC");
    assert_eq!(
        replies,
        (
            vec!["1".into(), "2".into(), "3".into()],
            3,
            vec!["3".into(), "2".into(), "1".into()]
        )
    );
    // In a script a set with nothing to sort comes sorted (ALPHA).
    let _: i64 = q(&mut c, &["SADD", "sset", "b", "a", "c", "10"]);
    let got: Vec<String> = q(
        &mut c,
        &[
            "EVAL",
            "return redis.call('SORT', KEYS[1], 'BY', 'nosort')",
            "1",
            "sset",
        ],
    );
    assert_eq!(got, ["10", "a", "b", "c"]);
    let n: i64 = q(
        &mut c,
        &[
            "EVAL",
            "return redis.call('SORT', KEYS[1], 'STORE', KEYS[2])",
            "2",
            &src,
            &dst,
        ],
    );
    assert_eq!(n, 3);
    assert_eq!(
        strings(&mut c, &["LRANGE", &dst, "0", "-1"]),
        ["1", "2", "3"]
    );
    assert!(q_err(
        &mut c,
        &["EVAL_RO", "return redis.call('SORT', KEYS[1])", "1", &src]
    )
    .contains("Write commands are not allowed from read-only scripts"));
    let ro: Vec<String> = q(
        &mut c,
        &[
            "EVAL_RO",
            "return redis.call('SORT_RO', KEYS[1])",
            "1",
            &src,
        ],
    );
    assert_eq!(ro, ["1", "2", "3"]);
}

/// What STORE wrote is logged on the destination's shard as effects (DEL +
/// RPUSH): after kill -9 each shard's log rebuilds it on its own.
#[test]
fn a_stored_sort_survives_kill9() {
    let mut s = Server::with(2, &["--appendonly", "yes", "--appendfsync", "always"]);
    let mut c = s.con();
    let src = keys_on("ksrc", 0, 2, 1).remove(0);
    let dst = keys_on("kdst", 1, 2, 1).remove(0);
    let items: Vec<String> = (0..3000)
        .map(|i| format!("{}", (i * 7919) % 3001))
        .collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    rpush(&mut c, &src, &refs);
    for i in 0..50 {
        let _: () = q(&mut c, &["SET", &format!("g_{i}"), &format!("G{i}")]);
    }
    let _: () = q(&mut c, &["SET", &dst, "replaced"]);
    assert_eq!(
        q::<i64>(&mut c, &["SORT", &src, "DESC", "STORE", &dst]),
        3000
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["SORT", &src, "LIMIT", "0", "100", "GET", "g_*", "STORE", "{t}d"]
        ),
        100
    );
    let _: () = q(&mut c, &["SET", "{t}gone", "x"]);
    assert_eq!(q::<i64>(&mut c, &["SORT", "nokey", "STORE", "{t}gone"]), 0);
    let want: Vec<String> = strings(&mut c, &["LRANGE", &dst, "0", "-1"]);
    let want_tagged: Vec<String> = strings(&mut c, &["LRANGE", "{t}d", "0", "-1"]);
    let mut sorted: Vec<i64> = items.iter().map(|i| i.parse().unwrap()).collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(want, sorted.iter().map(i64::to_string).collect::<Vec<_>>());
    s.kill9_and_restart();
    let mut c = s.con();
    assert_eq!(strings(&mut c, &["LRANGE", &dst, "0", "-1"]), want);
    assert_eq!(strings(&mut c, &["LRANGE", "{t}d", "0", "-1"]), want_tagged);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "{t}gone"]), 0);
    assert_eq!(q::<String>(&mut c, &["TYPE", &dst]), "list");
}

/// More BY and GET keys than one job reads on a shard (4096): the reads go
/// in several rounds, and every element still finds its own values.
#[test]
fn a_large_sort_reads_its_pattern_keys_in_rounds() {
    let s = Server::start();
    let mut c = s.con();
    let n = 12_000u64;
    let items: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    for chunk in items.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        rpush(&mut c, "big", &refs);
        let mut mset = vec!["MSET".to_string()];
        for e in chunk {
            let i: u64 = e[1..].parse().unwrap();
            // Weights with ties (broken by the element's bytes).
            mset.push(format!("w_{e}"));
            mset.push(((i * 7919) % 1000).to_string());
            mset.push(format!("v_{e}"));
            mset.push(format!("V{i}"));
        }
        let refs: Vec<&str> = mset.iter().map(String::as_str).collect();
        let _: () = q(&mut c, &refs);
    }
    let mut want: Vec<(u64, String)> = items
        .iter()
        .map(|e| ((e[1..].parse::<u64>().unwrap() * 7919) % 1000, e.clone()))
        .collect();
    want.sort();
    let want_values: Vec<String> = want.iter().map(|(_, e)| format!("V{}", &e[1..])).collect();
    assert_eq!(
        strings(&mut c, &["SORT", "big", "BY", "w_*", "GET", "v_*"]),
        want_values
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["SORT", "big", "BY", "w_*", "DESC", "GET", "#", "STORE", "bigout"]
        ),
        n as i64
    );
    let stored = strings(&mut c, &["LRANGE", "bigout", "0", "-1"]);
    let want_desc: Vec<String> = want.iter().rev().map(|(_, e)| e.clone()).collect();
    assert_eq!(stored, want_desc);
}
