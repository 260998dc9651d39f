//! Key commands whose keys may live on several shards, coordinated from the
//! connection's core: MSETNX and RENAME/RENAMENX (one cross-shard write each,
//! `commands::tx`), SCAN and RANDOMKEY (shard after shard). Collection
//! commands across shards are in `cross`.

use super::tx::{self, HolderPart, HolderStep};
use super::{arg_is, int_arg, syntax_error, wrong_arity};
use crate::config::events;
use crate::keyspace::Value;
use crate::node::Node;
use crate::persistence::rewrite;
use crate::protocol::Frame;
use crate::router;
use crate::shard::tx::{Effects, Follower, Guard};
use crate::shard::Access;
use crate::util::{glob_match, now_ms};
use bytes::Bytes;

/// Groups keys (every `stride`-th argument from `args[1]`) by owning shard.
fn group_by_shard(args: &[Bytes], stride: usize, shards: usize) -> Vec<(usize, Vec<Bytes>)> {
    let mut groups: Vec<Vec<Bytes>> = vec![Vec::new(); shards];
    for chunk in args[1..].chunks_exact(stride) {
        groups[router::shard_of(&chunk[0], shards)].extend_from_slice(chunk);
    }
    groups
        .into_iter()
        .enumerate()
        .filter(|(_, g)| !g.is_empty())
        .collect()
}

/// MSETNX: all keys are set, or none. On one shard this is one atomic step.
/// Across shards it is one cross-shard write (`commands::tx`): the lowest
/// shard holds it and sets its keys if all are absent, then each other shard
/// in order does the same; if one finds a key present (written meanwhile by
/// another command) every part done is undone. The lowest shard decides
/// races between MSETNXs sharing keys: a loser fails there before changing
/// anything, so exactly one wins, as in Redis. A reader may see the partial
/// state in that narrow window; a crash never leaves it.
pub(super) async fn msetnx(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    if !(args.len() - 1).is_multiple_of(2) {
        return wrong_arity("msetnx");
    }
    // `denyoom` in Redis.
    let access = Access::Grow;
    let mut groups = group_by_shard(args, 2, node.shard_count);
    let set = |kv: &[Bytes]| -> Effects {
        kv.chunks_exact(2)
            .map(|p| {
                (
                    db,
                    vec![Bytes::from_static(b"SET"), p[0].clone(), p[1].clone()],
                )
            })
            .collect()
    };
    // Undone: the keys that still hold MSETNX's values.
    let del = |kv: &[Bytes]| -> Effects {
        kv.chunks_exact(2)
            .map(|p| {
                let op = Bytes::from_static(tx::DEL_IF_HOLDS);
                (db, vec![op, p[0].clone(), p[1].clone()])
            })
            .collect()
    };
    let keys = |kv: &[Bytes]| -> Vec<Bytes> { kv.chunks_exact(2).map(|p| p[0].clone()).collect() };
    let (holder, kv) = groups.remove(0);
    let involved: Vec<usize> = std::iter::once(holder)
        .chain(groups.iter().map(|(s, _)| *s))
        .collect();
    let followers: Vec<Follower> = groups
        .iter()
        .map(|(shard, kv)| Follower {
            shard: *shard,
            guard: Guard::Absent(keys(kv)),
            effects: set(kv),
            undo: del(kv),
            raises: None,
        })
        .collect();
    let undo = del(&kv);
    let step: HolderStep = Box::new(move |sh, now| {
        if kv
            .chunks_exact(2)
            .any(|p| sh.keyspace.contains(db, &p[0], now))
        {
            return Err(Frame::Integer(0));
        }
        for p in kv.chunks_exact(2) {
            sh.put(db, &p[0], Value::Str(Bytes::copy_from_slice(&p[1])), None);
            sh.raise(events::STRING, "set", db, &p[0]);
        }
        Ok(HolderPart {
            reply: Frame::Integer(1),
            undo,
            followers,
        })
    });
    if involved.len() == 1 {
        // One shard: one step there, with the checks of any write.
        let done = node
            .run_durably(holder, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                let position = sh.log_position();
                let now = now_ms();
                let reply = match sh.admit(access, now) {
                    Err(refused) => refused,
                    Ok(()) => sh
                        .as_one_write(|sh| step(sh, now))
                        .map_or_else(|e| e, |part| part.reply),
                };
                (reply, position)
            })
            .await;
        return done.unwrap_or_else(super::unavailable);
    }
    tx::run(node, db, holder, involved, access, Frame::Integer(0), step).await
}

/// COPY source destination [DB db] [REPLACE]. Only the destination's shard
/// changes: the source is read (on its shard), then the destination is
/// rebuilt from it on its own shard as one logged record, a single-shard
/// write like a *STORE's. With both keys on one shard, both steps are one.
pub(super) async fn copy(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (mut dst_db, mut replace) = (db, false);
    let mut i = 3;
    while i < args.len() {
        if arg_is(&args[i], "replace") {
            replace = true;
        } else if arg_is(&args[i], "db") && i + 1 < args.len() {
            match super::db_index(&args[i + 1], node.config.borrow().databases) {
                Ok(n) => dst_db = n,
                Err(e) => return e,
            }
            i += 1;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    if dst_db == db && src == dst {
        return Frame::error("ERR source and destination objects are the same");
    }
    let (from, to) = (
        router::shard_of(&src, node.shard_count),
        router::shard_of(&dst, node.shard_count),
    );
    // The source's rebuild under the destination's name (`None`: no source).
    let read = {
        let (src, dst) = (src.clone(), dst.clone());
        move |sh: &mut crate::shard::Shard, now: u64| -> Option<Vec<Vec<Bytes>>> {
            let e = sh.keyspace.read(db, &src, now)?;
            let at = e.expire_at();
            Some(match (e.value(), e.str_bytes()) {
                (Some(v), _) => rewrite::commands_for(&dst, v, at),
                (None, Some(s)) => rewrite::commands_for(&dst, &Value::Str(s), at),
                (None, None) => Vec::new(),
            })
        }
    };
    let rebuild = if from == to {
        None
    } else {
        let read = read.clone();
        match node
            .run_on(from, move |n: &Node| {
                read(&mut n.shard.borrow_mut(), now_ms())
            })
            .await
        {
            None => return super::unavailable(),
            Some(None) => return Frame::Integer(0),
            Some(Some(commands)) => Some(commands),
        }
    };
    let done = node
        .run_durably(to, move |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            let position = sh.log_position();
            let now = now_ms();
            let reply = (|| {
                sh.admit(Access::Grow, now)?;
                let Some(commands) = rebuild.or_else(|| read(&mut sh, now)) else {
                    return Ok(Frame::Integer(0));
                };
                if sh.keyspace.contains(dst_db, &dst, now) && !replace {
                    return Ok(Frame::Integer(0));
                }
                let mut all = vec![vec![Bytes::from_static(b"DEL"), dst.clone()]];
                all.extend(commands);
                sh.quietly(|sh| rebuild_as_one_record(sh, dst_db, &all, now))
                    .map_err(|e| Frame::error(format!("ERR {e}")))?;
                sh.raise(events::GENERIC, "copy_to", dst_db, &dst);
                Ok(Frame::Integer(1))
            })()
            .unwrap_or_else(|e: Frame| e);
            (reply, position)
        })
        .await;
    done.unwrap_or_else(super::unavailable)
}

/// Runs `commands` (a key's rebuild: `DEL` and the commands that make its
/// value) on `sh` through the ordinary handlers, logged as one record: a
/// crash never leaves the key half built.
fn rebuild_as_one_record(
    sh: &mut crate::shard::Shard,
    db: usize,
    commands: &[Vec<Bytes>],
    now: u64,
) -> Result<(), String> {
    sh.capture = Some(Vec::new());
    let applied = commands
        .iter()
        .try_for_each(|argv| super::apply_logged(sh, db, argv, now));
    let captured: Vec<Vec<Bytes>> = sh
        .capture
        .take()
        .unwrap_or_default()
        .into_iter()
        .map(|(_, argv)| argv)
        .collect();
    sh.log_all(db, captured);
    applied
}

/// RENAME / RENAMENX src dst. When both keys live on one shard this is one
/// step there; otherwise the value (with its TTL) moves from the source shard
/// to the destination shard.
pub(super) async fn rename(node: &Node, db: usize, args: &[Bytes], nx: bool) -> Frame {
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (from, to) = (
        router::shard_of(&src, node.shard_count),
        router::shard_of(&dst, node.shard_count),
    );
    let no_such_key = || Frame::error("ERR no such key");
    let done = if nx { Frame::Integer(1) } else { Frame::OK };
    if from == to {
        let renamed = node
            .run_durably(from, move |n: &Node| {
                let now = now_ms();
                let mut sh = n.shard.borrow_mut();
                let position = sh.log_position();
                let reply = (|| {
                    if let Err(refused) = sh.admit(Access::Write, now) {
                        return refused;
                    }
                    if !sh.keyspace.contains(db, &src, now) {
                        return no_such_key();
                    }
                    if src == dst {
                        return if nx { Frame::Integer(0) } else { Frame::OK };
                    }
                    if nx && sh.keyspace.contains(db, &dst, now) {
                        return Frame::Integer(0);
                    }
                    sh.as_one_write(|sh| {
                        let (value, at) = sh.take(db, &src, now).expect("looked up above");
                        // Redis deletes the destination and adds the key anew
                        // (its `new` event too).
                        sh.keyspace.remove(db, &dst);
                        sh.put(db, &dst, value, at);
                    });
                    sh.raise(events::GENERIC, "rename_from", db, &src);
                    sh.raise(events::GENERIC, "rename_to", db, &dst);
                    done
                })();
                (reply, position)
            })
            .await;
        return renamed.unwrap_or_else(super::unavailable);
    }
    if nx {
        let d = dst.clone();
        // A write is refused (MISCONF) before anything is looked at.
        let exists = node
            .run_on(to, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                let now = now_ms();
                sh.admit(Access::Write, now)
                    .map(|()| sh.keyspace.contains(db, &d, now))
            })
            .await;
        let exists = match exists {
            Some(Err(refused)) => return refused,
            Some(Ok(e)) => Some(e),
            None => None,
        };
        if exists != Some(false) {
            let s = src.clone();
            let src_exists = node
                .run_on(from, move |n: &Node| {
                    n.shard.borrow_mut().keyspace.contains(db, &s, now_ms())
                })
                .await;
            return if src_exists == Some(true) {
                Frame::Integer(0)
            } else {
                no_such_key()
            };
        }
    }
    // One cross-shard write (`commands::tx`): the source shard takes the
    // value (and TTL), the destination puts it; with NX a key created there
    // in the meantime wins and the value goes back where it came from.
    let step: HolderStep = Box::new(move |sh, now| {
        let Some((value, at)) = sh.take(db, &src, now) else {
            return Err(no_such_key());
        };
        sh.raise(events::GENERIC, "rename_from", db, &src);
        let rebuild = |key: &Bytes| -> Effects {
            std::iter::once(vec![Bytes::from_static(b"DEL"), key.clone()])
                .chain(rewrite::commands_for(key, &value, at))
                .map(|argv| (db, argv))
                .collect()
        };
        Ok(HolderPart {
            reply: done,
            undo: rebuild(&src),
            followers: vec![Follower {
                shard: to,
                guard: if nx {
                    Guard::Absent(vec![dst.clone()])
                } else {
                    Guard::Always
                },
                effects: rebuild(&dst),
                undo: Vec::new(),
                raises: Some(("rename_to", dst.clone())),
            }],
        })
    });
    // RENAME and RENAMENX are `write` without `denyoom` in Redis.
    tx::run(
        node,
        db,
        from,
        vec![from, to],
        Access::Write,
        Frame::Integer(0),
        step,
    )
    .await
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The cursor is the
/// next hash slot to visit: slots are walked in order, shard after shard, so a
/// key that exists for the whole scan is returned exactly once, whatever the
/// tables do meanwhile.
pub(super) async fn scan(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let Some(cursor) = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Frame::error("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut type_name) = (None, 10usize, None);
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return syntax_error();
        };
        if arg_is(&args[i], "match") {
            pattern = Some(value.clone());
        } else if arg_is(&args[i], "count") {
            match int_arg(value) {
                Ok(n) if n >= 1 => count = n as usize,
                Ok(_) => return syntax_error(),
                Err(e) => return e,
            }
        } else if arg_is(&args[i], "type") {
            type_name = Some(String::from_utf8_lossy(value).to_lowercase());
        } else {
            return syntax_error();
        }
        i += 2;
    }
    if cursor >= router::SLOTS as u64 {
        return Frame::Array(vec![Frame::bulk_str("0"), Frame::Array(Vec::new())]);
    }
    // Walk shard after shard until COUNT keys were visited (COUNT is work,
    // as in Redis: with MATCH, fewer may be returned) or the slots ran out.
    let (mut cursor, mut budget, mut keys) = (cursor as usize, count, Vec::new());
    while cursor < router::SLOTS && budget > 0 {
        let shard = router::shard_of_slot(cursor as u16, node.shard_count);
        let (pattern, type_name) = (pattern.clone(), type_name.clone());
        let step = node
            .read_shown(shard, move |n: &Node| {
                let (mut found, mut visited) = (Vec::new(), 0);
                let next = n
                    .shard
                    .borrow_mut()
                    .keyspace
                    .scan(db, cursor, budget, now_ms(), |e| {
                        visited += 1;
                        let type_ok = type_name.as_deref().is_none_or(|t| e.type_name() == t);
                        let match_ok = pattern
                            .as_deref()
                            .is_none_or(|p| glob_match(p, e.key(), false));
                        if type_ok && match_ok {
                            found.push(Frame::bulk_copy(e.key()));
                        }
                    });
                (next, found, visited)
            })
            .await;
        let Some((next, found, visited)) = step else {
            return Frame::error("ERR shard unavailable");
        };
        cursor = next;
        budget = budget.saturating_sub(visited);
        keys.extend(found);
    }
    let next = if cursor >= router::SLOTS { 0 } else { cursor };
    Frame::Array(vec![Frame::bulk_str(&next.to_string()), Frame::Array(keys)])
}

pub(super) async fn randomkey(node: &Node, db: usize) -> Frame {
    let start = crate::util::fastrand_u64() as usize % node.shard_count;
    for i in 0..node.shard_count {
        let shard = (start + i) % node.shard_count;
        let key = node
            .read_shown(shard, move |n: &Node| {
                n.shard
                    .borrow_mut()
                    .keyspace
                    .random_key(db, now_ms(), crate::util::fastrand_u64)
            })
            .await
            .flatten();
        if let Some(k) = key {
            return Frame::Bulk(k);
        }
    }
    Frame::Null
}
