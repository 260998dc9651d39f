//! Set commands through a real client, multi-key forms with keys on
//! different shards (replies checked against Redis 7.0).

mod collections_common;
use collections_common::*;
use redis::Value as V;

#[test]
fn members() {
    let s = Server::start();
    let c = &mut s.con();
    assert_eq!(q::<i64>(c, &["SADD", "s", "a", "b", "c", "a"]), 3);
    assert_eq!(q::<i64>(c, &["SREM", "s", "a", "zz"]), 1);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "s", "b"]), 1);
    assert_eq!(q::<Vec<i64>>(c, &["SMISMEMBER", "s", "b", "a"]), vec![1, 0]);
    assert_eq!(q::<i64>(c, &["SCARD", "s"]), 2);
    assert_eq!(sorted(q(c, &["SMEMBERS", "s"])), ["b", "c"]);
    assert_eq!(q::<String>(c, &["TYPE", "s"]), "set");
    assert_eq!(q::<i64>(c, &["SREM", "s", "b", "c"]), 2);
    assert_eq!(q::<i64>(c, &["EXISTS", "s"]), 0);
    q::<String>(c, &["SET", "str", "x"]);
    assert_eq!(q_err(c, &["SADD", "str", "a"]), WRONGTYPE);
    assert_eq!(q_err(c, &["SCARD", "str"]), WRONGTYPE);
}

#[test]
fn random_pops_and_picks() {
    let s = Server::start();
    let c = &mut s.con();
    let mut cmd = redis::cmd("SADD");
    cmd.arg("s");
    for i in 0..300 {
        cmd.arg(i);
    }
    assert_eq!(cmd.query::<i64>(c).unwrap(), 300);
    let popped: Vec<String> = q(c, &["SPOP", "s", "10"]);
    assert_eq!(popped.len(), 10);
    assert_eq!(q::<i64>(c, &["SCARD", "s"]), 290);
    for p in &popped {
        assert_eq!(q::<i64>(c, &["SISMEMBER", "s", p]), 0);
    }
    let one: String = q(c, &["SPOP", "s"]);
    assert_eq!(q::<i64>(c, &["SISMEMBER", "s", &one]), 0);
    assert_eq!(
        q::<Vec<String>>(c, &["SRANDMEMBER", "s", "-500"]).len(),
        500
    );
    let picks: Vec<String> = q(c, &["SRANDMEMBER", "s", "20"]);
    assert_eq!(
        sorted(picks.clone())
            .windows(2)
            .filter(|w| w[0] == w[1])
            .count(),
        0
    );
    assert_eq!(
        q::<Vec<String>>(c, &["SRANDMEMBER", "s", "1000"]).len(),
        289
    );
    assert_eq!(raw(c, &["SPOP", "nokey"]), Ok(V::Nil));
    assert_eq!(raw(c, &["SRANDMEMBER", "nokey"]), Ok(V::Nil));
    assert_eq!(
        q_err(c, &["SPOP", "s", "-1"]),
        "ERR value is out of range, must be positive"
    );
    // Popping everything removes the key.
    assert_eq!(q::<Vec<String>>(c, &["SPOP", "s", "1000"]).len(), 289);
    assert_eq!(q::<i64>(c, &["EXISTS", "s"]), 0);
}

#[test]
fn scan() {
    let s = Server::start();
    let c = &mut s.con();
    let mut cmd = redis::cmd("SADD");
    cmd.arg("s");
    for i in 0..1000 {
        cmd.arg(format!("m{i}"));
    }
    cmd.query::<i64>(c).unwrap();
    let (mut cursor, mut seen) = ("0".to_string(), Vec::new());
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["SSCAN", "s", &cursor]);
        seen.extend(items);
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(sorted(seen).len(), 1000);
    let (_, items): (String, Vec<String>) = q(c, &["SSCAN", "nokey", "0"]);
    assert!(items.is_empty());
}

#[test]
fn algebra_across_shards() {
    let s = Server::start();
    let c = &mut s.con();
    let (a, b, d) = (key_on("a", 0), key_on("b", 1), key_on("dst", 1));
    q::<i64>(c, &["SADD", &a, "1", "2", "3", "4"]);
    q::<i64>(c, &["SADD", &b, "3", "4", "5"]);
    assert_eq!(sorted(q(c, &["SINTER", &a, &b])), ["3", "4"]);
    assert_eq!(sorted(q(c, &["SUNION", &a, &b])), ["1", "2", "3", "4", "5"]);
    assert_eq!(sorted(q(c, &["SDIFF", &a, &b])), ["1", "2"]);
    assert_eq!(sorted(q(c, &["SINTER", &a, "nokey"])), Vec::<String>::new());
    assert_eq!(q::<i64>(c, &["SINTERSTORE", &d, &a, &b]), 2);
    assert_eq!(sorted(q(c, &["SMEMBERS", &d])), ["3", "4"]);
    assert_eq!(q::<i64>(c, &["SUNIONSTORE", &d, &a, &b]), 5);
    assert_eq!(q::<i64>(c, &["SDIFFSTORE", &d, &b, &a]), 1);
    assert_eq!(sorted(q(c, &["SMEMBERS", &d])), ["5"]);
    // An empty result deletes the destination.
    assert_eq!(q::<i64>(c, &["SINTERSTORE", &d, &a, "nokey"]), 0);
    assert_eq!(q::<i64>(c, &["EXISTS", &d]), 0);
    assert_eq!(q::<i64>(c, &["SINTERCARD", "2", &a, &b]), 2);
    assert_eq!(q::<i64>(c, &["SINTERCARD", "2", &a, &b, "LIMIT", "1"]), 1);
    assert_eq!(
        q_err(c, &["SINTERCARD", "0", &a]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        q_err(c, &["SINTERCARD", "3", &a]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        q_err(c, &["SINTERCARD", "1", &a, "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    let str1 = key_on("str", 1);
    q::<String>(c, &["SET", &str1, "x"]);
    assert_eq!(q_err(c, &["SINTER", "nokey", &str1]), WRONGTYPE);
    assert_eq!(q_err(c, &["SUNIONSTORE", &d, &a, &str1]), WRONGTYPE);
}

#[test]
fn smove_across_shards() {
    let s = Server::start();
    let c = &mut s.con();
    let (a, b, a2) = (key_on("a", 0), key_on("b", 1), key_on("a2", 0));
    q::<i64>(c, &["SADD", &a, "x", "y"]);
    assert_eq!(q::<i64>(c, &["SMOVE", &a, &b, "x"]), 1);
    assert_eq!(q::<i64>(c, &["SMOVE", &a, &b, "zz"]), 0);
    assert_eq!(q::<i64>(c, &["SMOVE", "nokey", &b, "x"]), 0);
    assert_eq!(q::<i64>(c, &["SMOVE", &a, &a2, "y"]), 1);
    assert_eq!(q::<i64>(c, &["EXISTS", &a]), 0);
    assert_eq!(sorted(q(c, &["SMEMBERS", &b])), ["x"]);
    assert_eq!(sorted(q(c, &["SMEMBERS", &a2])), ["y"]);
    assert_eq!(q::<i64>(c, &["SMOVE", &a2, &a2, "y"]), 1);
    let str1 = key_on("str", 1);
    q::<String>(c, &["SET", &str1, "v"]);
    assert_eq!(q_err(c, &["SMOVE", &a2, &str1, "y"]), WRONGTYPE);
    assert_eq!(q::<i64>(c, &["SCARD", &a2]), 1);
}
