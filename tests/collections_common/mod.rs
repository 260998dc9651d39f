//! Helpers for the collection tests: the shared `common` helpers (the real
//! server, `q`, `q_err`, Redis Cluster slots) with the two-shard defaults
//! these tests use.

#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

#[allow(unused_imports)]
pub use common::{q, q_err, Server};

/// The collection tests run two shards, to cross shards.
pub const SHARDS: usize = 2;

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The raw reply (errors included, as `Err(text)`), for exact comparisons.
pub fn raw(con: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query::<redis::Value>(con)
        .map_err(|e| common::err::<()>(Err(e)))
}

pub fn shard_of(key: &str) -> usize {
    common::shard_of(key, SHARDS)
}

/// A key named `prefix:<i>` that lives on `shard`.
pub fn key_on(prefix: &str, shard: usize) -> String {
    common::keys_on(prefix, shard, SHARDS, 1).remove(0)
}

/// Sorted copy, for replies whose order Redis leaves unspecified.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A reply, simplified for comparison with an in-test model (property tests).
#[derive(Debug, Clone, PartialEq)]
pub enum R {
    Nil,
    Int(i64),
    Str(String),
    Arr(Vec<R>),
    Err(String),
}

pub fn conv(v: redis::Value) -> R {
    use redis::Value as V;
    match v {
        V::Nil => R::Nil,
        V::Int(n) => R::Int(n),
        V::BulkString(b) => R::Str(String::from_utf8_lossy(&b).into_owned()),
        V::SimpleString(s) => R::Str(s),
        V::Okay => R::Str("OK".into()),
        V::Array(a) | V::Set(a) => R::Arr(a.into_iter().map(conv).collect()),
        other => R::Str(format!("{other:?}")),
    }
}

/// Runs a command and returns its reply, errors included, as an `R`.
pub fn run(con: &mut redis::Connection, args: &[String]) -> R {
    let mut c = redis::cmd(&args[0]);
    for a in &args[1..] {
        c.arg(a);
    }
    match c.query::<redis::Value>(con) {
        Ok(v) => conv(v),
        Err(e) => R::Err(format!(
            "{} {}",
            e.code().unwrap_or(""),
            e.detail().unwrap_or("")
        )),
    }
}
