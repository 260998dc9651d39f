//! DUMP and RESTORE: a key's value in Redis's own serialization (RDB object
//! encoding, RDB version 10, CRC-64 footer; the format is
//! `persistence::rdb`), so that values move between redis-server 7.0 and
//! ringcache both ways, as migration tools move them. See docs/dump.md.
//!
//! RESTORE follows Redis 7.0's `restoreCommand` step by step, errors in the
//! same order: options, then `BUSYKEY` (unless REPLACE), then the TTL, then
//! the payload's footer, then its object. It is logged as `DEL key` and the
//! commands that rebuild the value with its absolute deadline (as COPY is),
//! so that replay never depends on the payload decoder; or as `DEL key`
//! when REPLACE met a TTL already past. A list it creates wakes
//! blocked clients through the shard's ordinary wake-up after a write.

use super::{arg_is, int_arg, syntax_error};
use crate::config::events as ev;
use crate::keyspace::Keyspace;
use crate::persistence::rdb::{self, RestoreError};
use crate::persistence::rewrite;
use crate::protocol::Frame;
use crate::shard::{Ctx, Shard};
use bytes::Bytes;

/// Most seconds RESTORE's IDLETIME takes before it is held at the longest
/// idle time the access clock can show (see `set_access_hint`).
const MAX_IDLE_SECONDS: u64 = u64::MAX / 1000;

/// DUMP key: the serialized value, or nil without the key.
pub fn dump(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match payload(ctx.ks, ctx.db, &args[1], ctx.now) {
        Some((p, _)) => Frame::bulk(p),
        None => Frame::Null,
    }
}

/// A key's DUMP payload and its deadline.
fn payload(ks: &mut Keyspace, db: usize, key: &[u8], now: u64) -> Option<(Vec<u8>, Option<u64>)> {
    let e = ks.read(db, key, now)?;
    let payload = match e.value() {
        Some(v) => rdb::dump(v),
        None => rdb::dump_str(e.str().unwrap_or_default()),
    };
    Some((payload, e.expire_at()))
}

/// What MIGRATE sends of a key: its DUMP payload and its time to live in
/// ms (0: none, at least 1 otherwise, as Redis sends it).
pub(super) fn dumped(sh: &mut Shard, db: usize, key: &[u8], now: u64) -> Option<(Bytes, u64)> {
    let (payload, at) = payload(&mut sh.keyspace, db, key, now)?;
    let ttl = at.map_or(0, |at| at.saturating_sub(now).max(1));
    Some((payload.into(), ttl))
}

/// `_ key payload`: deletes a key MIGRATE moved, logged and notified as
/// DEL, unless it changed since its payload was taken (a write that came
/// after the DUMP is kept, not lost with the key).
pub(super) fn delete_migrated(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    if payload(ctx.ks, ctx.db, key, ctx.now).is_none_or(|(p, _)| p != args[2]) {
        return Frame::Integer(0);
    }
    ctx.ks.remove(ctx.db, key);
    ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
    ctx.notify(ev::GENERIC, "del", key);
    Frame::Integer(1)
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]
pub fn restore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<u64>, Option<u8>) = (None, None);
    let mut j = 4;
    while j < args.len() {
        let more = args.len() - j - 1;
        if arg_is(&args[j], "replace") {
            replace = true;
        } else if arg_is(&args[j], "absttl") {
            absttl = true;
        } else if arg_is(&args[j], "idletime") && more >= 1 && freq.is_none() {
            match int_arg(&args[j + 1]) {
                Ok(n) if n < 0 => return Frame::error("ERR Invalid IDLETIME value, must be >= 0"),
                Ok(n) => idle = Some((n as u64).min(MAX_IDLE_SECONDS) * 1000),
                Err(e) => return e,
            }
            j += 1;
        } else if arg_is(&args[j], "freq") && more >= 1 && idle.is_none() {
            match int_arg(&args[j + 1]) {
                Ok(n) if (0..=255).contains(&n) => freq = Some(n as u8),
                Ok(_) => return Frame::error("ERR Invalid FREQ value, must be >= 0 and <= 255"),
                Err(e) => return e,
            }
            j += 1;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let key = &args[1];
    if !replace && ctx.ks.contains(ctx.db, key, ctx.now) {
        return Frame::error("BUSYKEY Target key name already exists.");
    }
    let ttl = match int_arg(&args[2]) {
        Ok(n) if n < 0 => return Frame::error("ERR Invalid TTL value, must be >= 0"),
        Ok(n) => n as u64,
        Err(e) => return e,
    };
    let value = match rdb::restore(&args[3]) {
        Ok(v) => v,
        Err(RestoreError::VersionOrChecksum) => {
            return Frame::error("ERR DUMP payload version or checksum are wrong")
        }
        Err(RestoreError::Bad(why)) => {
            tracing::debug!("RESTORE of a bad payload: {why}");
            return Frame::error("ERR Bad data format");
        }
    };
    let deleted = replace && ctx.ks.remove(ctx.db, key).is_some();
    let expire_at = match ttl {
        0 => None,
        _ if absttl => Some(ttl),
        _ => Some(ttl.saturating_add(ctx.now)),
    };
    if expire_at.is_some_and(|at| ctx.past(at)) {
        // Already expired: nothing is created; a replaced key is gone.
        if deleted {
            ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.notify(ev::GENERIC, "del", key);
        }
        return Frame::OK;
    }
    // Logged as the commands that rebuild the value (as COPY), not as the
    // payload: replay must never depend on the payload decoder, which a
    // later version may make stricter.
    ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
    for command in rewrite::commands_for(key, &value, expire_at) {
        ctx.effect(command);
    }
    ctx.ks.insert(ctx.db, key, value, expire_at);
    ctx.ks.set_access_hint(ctx.db, key, idle, freq, ctx.now);
    ctx.notify(ev::GENERIC, "restore", key);
    Frame::OK
}
