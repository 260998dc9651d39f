//! A value as the commands that rebuild it: how a key moved between shards is
//! logged on its new shard, and what a log rewrite writes for each live key
//! (the log base of AOF-only mode). Large collections are split into several
//! commands of bounded size.

use super::record;
use crate::keyspace::{Entry, Value};
use crate::protocol::format_double;
use bytes::Bytes;

/// Most elements one rebuilding command carries (Redis's AOF rewrite uses 64).
const ITEMS_PER_COMMAND: usize = 64;

/// The commands that recreate `key` holding `value`, expiring at `expire_at`.
pub fn commands_for(key: &Bytes, value: &Value, expire_at: Option<u64>) -> Vec<Vec<Bytes>> {
    let word = Bytes::from_static;
    let mut out = Vec::new();
    let mut batched = |cmd: &'static [u8], items: &mut dyn Iterator<Item = Vec<Bytes>>| loop {
        let mut argv = vec![word(cmd), key.clone()];
        for item in (&mut *items).take(ITEMS_PER_COMMAND) {
            argv.extend(item);
        }
        if argv.len() == 2 {
            break;
        }
        out.push(argv);
    };
    match value {
        Value::Str(s) => batched(b"SET", &mut std::iter::once(vec![s.clone()])),
        Value::List(l) => batched(b"RPUSH", &mut l.iter().map(|e| vec![e.clone()])),
        Value::Hash(h) => batched(
            b"HSET",
            &mut h.iter().map(|(f, v)| vec![f.clone(), v.clone()]),
        ),
        Value::Set(s) => batched(b"SADD", &mut s.iter().map(|m| vec![m.clone()])),
        Value::ZSet(z) => batched(
            b"ZADD",
            &mut z
                .iter()
                .map(|(m, score)| vec![Bytes::from(format_double(score)), m.clone()]),
        ),
    }
    if let Some(at) = expire_at {
        out.push(vec![
            word(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(at.to_string()),
        ]);
    }
    out
}

/// Appends the log records that rebuild one entry of database `db`: the
/// `EncodeFn` a cut uses to write a log base.
pub fn encode_entry(out: &mut Vec<u8>, db: usize, e: &Entry) {
    for argv in commands_for(e.key(), &e.value, e.expire_at()) {
        record::encode(out, db, &argv);
    }
}
