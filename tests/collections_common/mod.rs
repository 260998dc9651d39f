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
