//! A value as the commands that rebuild it: how a key moved between shards is
//! logged on its new shard, and what a log rewrite writes for each live key
//! (the log base of AOF-only mode), and what a *STORE logs. Large
//! collections are split into several commands of about
//! `record::MAX_RECORD_PAYLOAD_BYTES` each (the size rule; an element is
//! never split: a command holding a big one is a record of several
//! fragments, as is a big string's SET).

use super::record::{self, MAX_RECORD_PAYLOAD_BYTES};
use crate::keyspace::{Entry, Stream, Value};
use crate::protocol::format_double;
use bytes::Bytes;

/// The commands that recreate `key` holding `value`, expiring at `expire_at`.
pub fn commands_for(key: &Bytes, value: &Value, expire_at: Option<u64>) -> Vec<Vec<Bytes>> {
    let mut out = Vec::new();
    commands_from(key, value, expire_at, 0, |argv| {
        out.push(argv);
        true
    });
    out
}

/// Hands `emit` the commands that recreate `key` from its value's item
/// `from` on, until it says stop (then returns the item to go on from) or
/// they end with the TTL's PEXPIREAT (`None`).
fn commands_from(
    key: &Bytes,
    value: &Value,
    expire_at: Option<u64>,
    from: usize,
    mut emit: impl FnMut(Vec<Bytes>) -> bool,
) -> Option<usize> {
    let word = Bytes::from_static;
    // The last command, whatever the type.
    let expiry =
        expire_at.map(|at| vec![word(b"PEXPIREAT"), key.clone(), Bytes::from(at.to_string())]);
    if let Value::Stream(s) = value {
        let mut commands = stream_commands(key, s, from).peekable();
        let mut at = from;
        while let Some(argv) = commands.next() {
            at += 1;
            if !emit(argv) && commands.peek().is_some() {
                return Some(at);
            }
        }
        if let Some(expiry) = expiry {
            emit(expiry);
        }
        return None;
    }
    let (cmd, items): (&'static [u8], Box<dyn Iterator<Item = Vec<Bytes>> + '_>) = match value {
        Value::Str(s) => (b"SET", Box::new(std::iter::once(vec![s.clone()]))),
        Value::List(l) => (
            b"RPUSH",
            Box::new(l.range(from.min(l.len())..).map(|e| vec![e.clone()])),
        ),
        Value::Hash(h) => (
            b"HSET",
            Box::new(
                h.iter_from(from)
                    .map(|(f, v)| vec![Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)]),
            ),
        ),
        Value::Set(s) => (
            b"SADD",
            Box::new(s.iter_from(from).map(|m| vec![m.clone()])),
        ),
        Value::Stream(_) => return None,
        Value::ZSet(z) => (
            b"ZADD",
            Box::new(
                z.iter_from(from)
                    .map(|(m, score)| vec![Bytes::from(format_double(score)), m.clone()]),
            ),
        ),
    };
    let mut items = items.peekable();
    let mut at = from;
    while items.peek().is_some() {
        let mut argv = vec![word(cmd), key.clone()];
        let mut bytes = record::command_bytes(&argv);
        while bytes < MAX_RECORD_PAYLOAD_BYTES {
            let Some(item) = items.next() else { break };
            bytes += record::command_bytes(&item) - 5;
            argv.extend(item);
            at += 1;
        }
        if !emit(argv) && items.peek().is_some() {
            return Some(at);
        }
    }
    if let Some(expiry) = expiry {
        emit(expiry);
    }
    None
}

/// The commands that rebuild a stream, from the `from`th on, as Redis's
/// AOF rewrite writes them: one XADD per entry (an empty stream is made by
/// `XADD key MAXLEN 0 0-1 x y`), XSETID with the counters, then per group
/// XGROUP CREATE ... ENTRIESREAD, XGROUP CREATECONSUMER per consumer, and
/// an XCLAIM ... FORCE JUSTID per pending entry.
fn stream_commands<'a>(
    key: &'a Bytes,
    s: &'a Stream,
    from: usize,
) -> impl Iterator<Item = Vec<Bytes>> + 'a {
    let word = Bytes::from_static;
    let num = |n: u64| Bytes::from(n.to_string());
    let entry_count = s.len().max(1) as usize;
    let entries: Box<dyn Iterator<Item = Vec<Bytes>>> = if from >= entry_count {
        Box::new(std::iter::empty())
    } else if s.is_empty() {
        Box::new(std::iter::once(vec![
            word(b"XADD"),
            key.clone(),
            word(b"MAXLEN"),
            word(b"0"),
            word(b"0-1"),
            word(b"x"),
            word(b"y"),
        ]))
    } else {
        Box::new(s.entries_from(from).map(move |e| {
            let mut argv = vec![word(b"XADD"), key.clone(), e.id.to_bytes()];
            argv.extend(e.fields);
            argv
        }))
    };
    let mut tail = vec![vec![
        word(b"XSETID"),
        key.clone(),
        s.last_id.to_bytes(),
        word(b"ENTRIESADDED"),
        num(s.entries_added),
        word(b"MAXDELETEDID"),
        s.max_deleted_id.to_bytes(),
    ]];
    for (name, g) in &s.groups {
        tail.push(vec![
            word(b"XGROUP"),
            word(b"CREATE"),
            key.clone(),
            name.clone(),
            g.last_id.to_bytes(),
            word(b"ENTRIESREAD"),
            Bytes::from(g.entries_read.to_string()),
        ]);
        for cname in g.consumers.keys() {
            tail.push(vec![
                word(b"XGROUP"),
                word(b"CREATECONSUMER"),
                key.clone(),
                name.clone(),
                cname.clone(),
            ]);
        }
        for (id, p) in &g.pel {
            tail.push(vec![
                word(b"XCLAIM"),
                key.clone(),
                name.clone(),
                p.consumer.clone(),
                word(b"0"),
                id.to_bytes(),
                word(b"TIME"),
                num(p.delivery_time),
                word(b"RETRYCOUNT"),
                num(p.delivery_count),
                word(b"FORCE"),
                word(b"JUSTID"),
            ]);
        }
    }
    let skip_tail = from.saturating_sub(entry_count);
    entries.chain(tail.into_iter().skip(skip_tail))
}

/// Appends the log records that rebuild one entry of database `db` from its
/// item `from` on, stopping between commands once `out` holds `stop_at`
/// bytes: the `EncodeFn` a cut uses to write a log base. (Commands of other
/// keys between a big value's commands replay the same.)
pub fn encode_entry_from(
    out: &mut Vec<u8>,
    db: usize,
    e: &Entry,
    from: usize,
    stop_at: usize,
) -> Option<usize> {
    let key = Bytes::copy_from_slice(e.key());
    let short;
    let value = match e.value() {
        Some(v) => v,
        None => {
            short = Value::Str(e.str_bytes().unwrap_or_default());
            &short
        }
    };
    commands_from(&key, value, e.expire_at(), from, |argv| {
        record::encode(out, db, &argv);
        out.len() < stop_at
    })
}
