//! Generic key commands that run on one shard: DEL, EXISTS, TYPE, the
//! EXPIRE/TTL family, MOVE, KEYS, DBSIZE, FLUSHDB. SCAN, RANDOMKEY and
//! RENAME span shards and live in `cross_keys`.

use super::{arg_is, int_arg, syntax_error};
use crate::config::events as ev;
use crate::protocol::Frame;
use crate::shard::Ctx;
use crate::util::parse_i64;
use bytes::Bytes;

/// DEL / UNLINK on one shard's share of the keys.
pub fn del(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let mut n = 0;
    for key in &args[1..] {
        if ctx.ks.contains(ctx.db, key, ctx.now) {
            ctx.ks.remove(ctx.db, key);
            ctx.notify(ev::GENERIC, "del", key);
            n += 1;
        }
    }
    if n > 0 {
        ctx.changed();
    }
    Frame::Integer(n)
}

/// EXISTS / TOUCH: a key named twice counts twice, as in Redis. Both are
/// reads (a missing key raises `keymiss`); TOUCH makes its keys recently
/// used, EXISTS leaves them (Redis's `LOOKUP_NOTOUCH`).
pub fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let touch = args[0].eq_ignore_ascii_case(b"touch");
    let mut found = |k: &Bytes| match touch {
        true => ctx.ks.read(ctx.db, k, ctx.now).is_some(),
        false => ctx.ks.read_untouched(ctx.db, k, ctx.now).is_some(),
    };
    Frame::Integer(args[1..].iter().filter(|k| found(k)).count() as i64)
}

pub fn type_(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let name = ctx
        .ks
        .read_untouched(ctx.db, &args[1], ctx.now)
        .map_or("none", |e| e.type_name());
    Frame::simple(name)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]
pub fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let cmd = args[0].to_ascii_lowercase();
    let (unit_ms, absolute) = match cmd.as_slice() {
        b"expire" => (1000, false),
        b"pexpire" => (1, false),
        b"expireat" => (1000, true),
        _ => (1, true),
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                return Frame::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Frame::error("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return Frame::error("ERR GT and LT options at the same time are not compatible");
    }
    let n = match int_arg(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    // Unlike SET, a zero or negative time is allowed: it deletes the key.
    let invalid = || super::invalid_expire(&cmd);
    let Some(ms) = n.checked_mul(unit_ms) else {
        return invalid();
    };
    let Some(when) = (if absolute {
        Some(ms)
    } else {
        ms.checked_add(ctx.now as i64)
    }) else {
        return invalid();
    };
    let key = &args[1];
    let Some(entry) = ctx.ks.lookup(ctx.db, key, ctx.now) else {
        return Frame::Integer(0);
    };
    let current = entry.expire_at();
    let allowed = match current {
        _ if nx => current.is_none(),
        None => !(xx || gt),
        Some(cur) => !((gt && when <= cur as i64) || (lt && when >= cur as i64)),
    };
    if !allowed {
        return Frame::Integer(0);
    }
    // Logged as an absolute time (or the deletion), never as a relative TTL.
    if when <= 0 || ctx.past(when as u64) {
        ctx.ks.remove(ctx.db, key);
        ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
        ctx.notify(ev::GENERIC, "del", key);
    } else {
        ctx.ks.set_expire(ctx.db, key, Some(when as u64));
        ctx.effect(vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            Bytes::from(when.to_string()),
        ]);
        ctx.notify(ev::GENERIC, "expire", key);
    }
    Frame::Integer(1)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 without the key, -1 without a TTL.
pub fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let Some(entry) = ctx.ks.read_untouched(ctx.db, &args[1], ctx.now) else {
        return Frame::Integer(-2);
    };
    let Some(at) = entry.expire_at() else {
        return Frame::Integer(-1);
    };
    let left = at.saturating_sub(ctx.now);
    Frame::Integer(match args[0].to_ascii_lowercase().as_slice() {
        b"ttl" => (left + 500) / 1000,
        b"pttl" => left,
        b"expiretime" => at / 1000,
        _ => at,
    } as i64)
}

pub fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let has_ttl = ctx
        .ks
        .lookup(ctx.db, &args[1], ctx.now)
        .is_some_and(|e| e.expire_at().is_some());
    if has_ttl {
        ctx.ks.set_expire(ctx.db, &args[1], None);
        ctx.changed();
        ctx.notify(ev::GENERIC, "persist", &args[1]);
    }
    Frame::Integer(has_ttl as i64)
}

/// MOVE key db: to another database of the same shard (a key's shard does
/// not depend on its database), with its TTL. Its text replays as it ran.
pub fn move_(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let dst = match super::db_index(&args[2], ctx.ks.databases()) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if dst == ctx.db {
        return Frame::error("ERR source and destination objects are the same");
    }
    let key = &args[1];
    if ctx.ks.lookup(ctx.db, key, ctx.now).is_none() || ctx.ks.contains(dst, key, ctx.now) {
        return Frame::Integer(0);
    }
    let Some(entry) = ctx.ks.remove(ctx.db, key) else {
        return Frame::Integer(0);
    };
    let at = entry.expire_at();
    ctx.ks.insert(dst, key, entry.into_value(), at);
    ctx.changed();
    ctx.notify(ev::GENERIC, "move_from", key);
    ctx.notify_in(dst, ev::GENERIC, "move_to", key);
    Frame::Integer(1)
}

/// KEYS pattern, on one shard.
pub fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let pattern = &args[1];
    let all = pattern.as_ref() == b"*";
    let mut out = Vec::new();
    ctx.ks.keys(ctx.db, ctx.now, |e| {
        if all || crate::util::glob_match(pattern, e.key(), false) {
            out.push(Frame::bulk_copy(e.key()));
        }
    });
    Frame::Array(out)
}

pub fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Frame {
    Frame::Integer(ctx.ks.len(ctx.db) as i64)
}

/// FLUSHDB / FLUSHALL [ASYNC|SYNC]: both free memory before replying here.
fn flush_mode_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => arg_is(&args[1], "async") || arg_is(&args[1], "sync"),
        _ => false,
    }
}

pub fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    if !flush_mode_ok(args) {
        return syntax_error();
    }
    ctx.ks.flush_db(ctx.db);
    ctx.changed();
    Frame::OK
}

/// SWAPDB index1 index2, on every shard: its part of each database trades
/// places. Blocked clients of either now served by the other's keys are
/// woken by the change, as Redis wakes them.
pub fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    // Both are read before either is checked against the range, as Redis.
    let (a, b) = match (parse_i64(&args[1]), parse_i64(&args[2])) {
        (None, _) => return Frame::error("ERR invalid first DB index"),
        (_, None) => return Frame::error("ERR invalid second DB index"),
        (Some(a), Some(b)) => (a, b),
    };
    let databases = ctx.ks.databases() as i64;
    if !(0..databases).contains(&a) || !(0..databases).contains(&b) {
        return Frame::error("ERR DB index is out of range");
    }
    let (a, b) = (a as usize, b as usize);
    ctx.ks.swap_dbs(a, b);
    ctx.changed();
    Frame::OK
}

pub fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    if !flush_mode_ok(args) {
        return syntax_error();
    }
    ctx.ks.flush_all();
    ctx.changed();
    Frame::OK
}
