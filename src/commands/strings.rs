//! String commands: GET, SET and its variants, counters, ranges. Values are
//! copied out of the connection's read buffer when stored, so a stored value
//! never pins a whole network buffer.

use super::{arg_is, int_arg, invalid_expire, not_integer, syntax_error, wrong_type};
use crate::config::events as ev;
use crate::keyspace::{Fresh, Value};
use crate::protocol::Frame;
use crate::shard::Ctx;
use bytes::Bytes;

/// Largest string a command may build (Redis's proto-max-bulk-len default).
pub const MAX_STRING_BYTES: usize = 512 * 1024 * 1024;

fn too_big() -> Frame {
    Frame::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// The string at `key`: `Ok(None)` if absent, `Err(WRONGTYPE)` if not a string.
fn read_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => e.str_bytes().map(Some).ok_or_else(wrong_type),
    }
}

/// `read_str` for a write about to change the key: Redis's write lookup,
/// which counts no keyspace hit or miss and raises no `keymiss`.
fn current_str(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => e.str_bytes().map(Some).ok_or_else(wrong_type),
    }
}

fn bulk_or_null(v: Option<Bytes>) -> Frame {
    v.map_or(Frame::Null, Frame::Bulk)
}

/// Stores a string (copied out of the request by the keyspace) and logs it
/// as `SET key value [PXAT t]`: one effect for every command that sets a
/// whole string. The effect may share the request's buffer: it is logged
/// and dropped before the next request.
fn store(ctx: &mut Ctx, key: &Bytes, value: &Bytes, expire_at: Option<u64>) {
    if !ctx.logging {
        ctx.changed();
        return put_str(ctx, key, value, expire_at);
    }
    let mut effect = vec![Bytes::from_static(b"SET"), key.clone(), value.clone()];
    if let Some(at) = expire_at {
        effect.extend([Bytes::from_static(b"PXAT"), Bytes::from(at.to_string())]);
    }
    ctx.effect(effect);
    put_str(ctx, key, value, expire_at);
}

/// Stores a string and raises its events; the caller logs it.
fn put_str(ctx: &mut Ctx, key: &Bytes, value: &Bytes, expire_at: Option<u64>) {
    ctx.ks.insert_str(ctx.db, key, value, expire_at);
    ctx.notify(ev::STRING, "set", key);
    if expire_at.is_some() {
        ctx.notify(ev::GENERIC, "expire", key);
    }
}

/// Removes a key as the effect of a command (an expiry time in the past).
fn delete(ctx: &mut Ctx, key: &Bytes) {
    if ctx.ks.remove(ctx.db, key).is_some() {
        ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

pub fn get(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    read_str(ctx, &args[1]).map_or_else(|e| e, bulk_or_null)
}

/// An expiry option as SET takes it.
#[derive(Clone, Copy, PartialEq)]
enum Expiry {
    None,
    At(u64),
    Keep,
}

/// Parses `EX s | PX ms | EXAT s | PXAT ms` at `args[i]`; returns the absolute
/// time and how many arguments it used, or None if `args[i]` is not one.
fn parse_expiry(ctx: &Ctx, args: &[Bytes], i: usize) -> Option<Result<u64, Frame>> {
    let opt = &args[i];
    let (unit_ms, absolute) = if arg_is(opt, "ex") {
        (1000, false)
    } else if arg_is(opt, "px") {
        (1, false)
    } else if arg_is(opt, "exat") {
        (1000, true)
    } else if arg_is(opt, "pxat") {
        (1, true)
    } else {
        return None;
    };
    let Some(arg) = args.get(i + 1) else {
        return Some(Err(syntax_error()));
    };
    Some(expire_time(ctx.now, arg, unit_ms, absolute, &args[0]))
}

/// Converts a TTL argument to an absolute time in ms, with Redis's checks:
/// an integer, positive, and no overflow.
pub fn expire_time(
    now: u64,
    arg: &Bytes,
    unit_ms: i64,
    absolute: bool,
    cmd: &[u8],
) -> Result<u64, Frame> {
    let n = int_arg(arg)?;
    if n <= 0 {
        return Err(invalid_expire(cmd));
    }
    let ms = n.checked_mul(unit_ms).ok_or_else(|| invalid_expire(cmd))?;
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(now as i64)
    };
    at.map(|t| t as u64).ok_or_else(|| invalid_expire(cmd))
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
pub fn set(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut ttl = None;
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        if arg_is(opt, "nx") && !xx {
            nx = true;
        } else if arg_is(opt, "xx") && !nx {
            xx = true;
        } else if arg_is(opt, "get") {
            get = true;
        } else if let Some(t) = ttl_option(args, i, ttl, "keepttl") {
            if matches!(t, TtlOption::Time(_)) {
                i += 1;
            }
            ttl = Some(t);
        } else {
            return syntax_error();
        }
        i += 1;
    }
    // SET checks its time before anything else, unlike GETEX.
    let expiry = match ttl {
        Some(TtlOption::Time(i)) => match parse_expiry(ctx, args, i) {
            Some(Ok(at)) => Expiry::At(at),
            Some(Err(e)) => return e,
            None => unreachable!("checked by ttl_option"),
        },
        Some(TtlOption::Flag) => Expiry::Keep,
        None => Expiry::None,
    };
    let key = &args[1];
    let old = if get {
        match read_str(ctx, key) {
            Ok(v) => v,
            Err(e) => return e,
        }
    } else {
        None
    };
    let exists = if get {
        old.is_some()
    } else {
        ctx.ks.contains(ctx.db, key, ctx.now)
    };
    let reply = |old: Option<Bytes>| if get { bulk_or_null(old) } else { Frame::OK };
    if (nx && exists) || (xx && !exists) {
        return if get { bulk_or_null(old) } else { Frame::Null };
    }
    let expire_at = match expiry {
        Expiry::At(at) => Some(at),
        Expiry::Keep => ctx
            .ks
            .lookup(ctx.db, key, ctx.now)
            .and_then(|e| e.expire_at()),
        _ => None,
    };
    if expire_at.is_some_and(|at| ctx.past(at)) {
        // Already expired: the key is gone, as if it had been set and expired.
        delete(ctx, key);
        return reply(old);
    }
    if args.len() == 3 {
        // A plain `SET k v`: its text is its effect, no copy to build.
        ctx.changed();
        put_str(ctx, key, &args[2], None);
    } else {
        store(ctx, key, &args[2], expire_at);
    }
    reply(old)
}

pub fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    if ctx.ks.contains(ctx.db, &args[1], ctx.now) {
        return Frame::Integer(0);
    }
    store(ctx, &args[1], &args[2], None);
    Frame::Integer(1)
}

fn set_with_ttl(ctx: &mut Ctx, args: &[Bytes], unit_ms: i64) -> Frame {
    match expire_time(ctx.now, &args[2], unit_ms, false, &args[0]) {
        Ok(at) => {
            store(ctx, &args[1], &args[3], Some(at));
            Frame::OK
        }
        Err(e) => e,
    }
}

pub fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    set_with_ttl(ctx, args, 1000)
}

pub fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    set_with_ttl(ctx, args, 1)
}

pub fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match read_str(ctx, &args[1]) {
        Ok(old) => {
            store(ctx, &args[1], &args[2], None);
            bulk_or_null(old)
        }
        Err(e) => e,
    }
}

pub fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match read_str(ctx, &args[1]) {
        Ok(old) => {
            if old.is_some() {
                delete(ctx, &args[1]);
            }
            bulk_or_null(old)
        }
        Err(e) => e,
    }
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
pub fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    // The options' syntax is checked first, but the time itself only once the
    // key is known to exist: Redis answers `GETEX missing EX 0` with nil.
    let mut ttl = None;
    let mut i = 2;
    while i < args.len() {
        match ttl_option(args, i, ttl, "persist") {
            Some(t) => {
                if matches!(t, TtlOption::Time(_)) {
                    i += 1;
                }
                ttl = Some(t);
            }
            None => return syntax_error(),
        }
        i += 1;
    }
    let (time_option, persist) = match ttl {
        Some(TtlOption::Time(i)) => (Some(i), false),
        Some(TtlOption::Flag) => (None, true),
        None => (None, false),
    };
    let key = &args[1];
    let value = match read_str(ctx, key) {
        Ok(Some(v)) => v,
        other => return other.map_or_else(|e| e, bulk_or_null),
    };
    if let Some(i) = time_option {
        match parse_expiry(ctx, args, i) {
            Some(Ok(at)) if ctx.past(at) => delete(ctx, key),
            Some(Ok(at)) => {
                ctx.ks.set_expire(ctx.db, key, Some(at));
                ctx.effect(vec![
                    Bytes::from_static(b"PEXPIREAT"),
                    key.clone(),
                    Bytes::from(at.to_string()),
                ]);
                ctx.notify(ev::GENERIC, "expire", key);
            }
            Some(Err(e)) => return e,
            None => unreachable!("checked by ttl_option"),
        }
    } else if persist
        && ctx
            .ks
            .lookup(ctx.db, key, ctx.now)
            .is_some_and(|e| e.expire_at().is_some())
    {
        ctx.ks.set_expire(ctx.db, key, None);
        ctx.effect(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
        ctx.notify(ev::GENERIC, "persist", key);
    }
    Frame::Bulk(value)
}

/// The TTL option of SET (KEEPTTL or a time) or GETEX (PERSIST or a time).
#[derive(Clone, Copy)]
enum TtlOption {
    /// KEEPTTL for SET, PERSIST for GETEX.
    Flag,
    /// `EX s`, `PX ms`, `EXAT s` or `PXAT ms`, at this argument index.
    Time(usize),
}

/// Reads `args[i]` as a TTL option given `seen` so far, or None if it is not
/// one or conflicts. As in Redis, the same option may be repeated (the last
/// time wins: `SET k v EX 10 EX 20`), but two different ones conflict.
fn ttl_option(args: &[Bytes], i: usize, seen: Option<TtlOption>, flag: &str) -> Option<TtlOption> {
    let opt = &args[i];
    if arg_is(opt, flag) {
        return matches!(seen, None | Some(TtlOption::Flag)).then_some(TtlOption::Flag);
    }
    let is_time = ["ex", "px", "exat", "pxat"].iter().any(|o| arg_is(opt, o));
    let same = match seen {
        None => true,
        Some(TtlOption::Time(j)) => opt.eq_ignore_ascii_case(&args[j]),
        Some(TtlOption::Flag) => false,
    };
    (is_time && same && i + 1 < args.len()).then_some(TtlOption::Time(i))
}

/// MGET on one shard's share of the keys: one reply per key, nil for a key
/// that is missing or not a string.
pub fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    Frame::Array(
        args[1..]
            .iter()
            .map(|k| {
                read_str(ctx, k)
                    .ok()
                    .flatten()
                    .map_or(Frame::Null, Frame::Bulk)
            })
            .collect(),
    )
}

/// MSET on one shard's share of the pairs.
/// Logged as its own text, which replays to the same keys: one record
/// instead of a `SET` per key.
pub fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    for pair in args[1..].chunks_exact(2) {
        put_str(ctx, &pair[0], &pair[1], None);
    }
    ctx.dirty = true;
    Frame::OK
}

/// Adds `delta` to the integer at `key`, keeping its TTL.
fn incr_by(ctx: &mut Ctx, key: &Bytes, delta: i64) -> Frame {
    let current = match current_str(ctx, key) {
        Ok(None) => 0,
        Ok(Some(v)) => match crate::util::parse_i64(&v) {
            Some(n) => n,
            None => return not_integer(),
        },
        Err(e) => return e,
    };
    let Some(next) = current.checked_add(delta) else {
        return Frame::error("ERR increment or decrement would overflow");
    };
    let digits = itoa::Buffer::new().format(next).as_bytes().to_vec();
    replace_value(ctx, key, Bytes::from(digits));
    ctx.notify(ev::STRING, "incrby", key);
    Frame::Integer(next)
}

/// Replaces a string's bytes, keeping the key's TTL. The command's own text
/// (INCR, APPEND, SETRANGE) replays to the same bytes.
pub(super) fn replace_value(ctx: &mut Ctx, key: &[u8], value: Bytes) {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        Some(e) => e.set_value(Fresh::Value(Value::Str(value))),
        None => ctx.ks.insert(ctx.db, key, Value::Str(value), None),
    }
    ctx.changed();
}

pub fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    incr_by(ctx, &args[1], 1)
}

pub fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    incr_by(ctx, &args[1], -1)
}

pub fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match int_arg(&args[2]) {
        Ok(d) => incr_by(ctx, &args[1], d),
        Err(e) => e,
    }
}

pub fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match int_arg(&args[2]) {
        Ok(i64::MIN) => Frame::error("ERR decrement would overflow"),
        Ok(d) => incr_by(ctx, &args[1], -d),
        Err(e) => e,
    }
}

/// INCRBYFLOAT key increment. Numbers are read as Redis's `string2ld`
/// reads them (strtod's forms: hexadecimal, `inf`; not NaN), the key's
/// type and value checked before the increment, as Redis does.
pub fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let not_float = || Frame::error("ERR value is not a valid float");
    let current = match current_str(ctx, &args[1]) {
        Ok(None) => 0.0,
        Ok(Some(v)) => match crate::util::parse_double(&v) {
            Some(n) => n,
            None => return not_float(),
        },
        Err(e) => return e,
    };
    let Some(delta) = crate::util::parse_double(&args[2]) else {
        return not_float();
    };
    let next = current + delta;
    if !next.is_finite() {
        return Frame::error("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(human_double(next));
    replace_value(ctx, &args[1], text.clone());
    // Floating-point text is not a safe replay: log the result, as Redis does.
    ctx.effect(vec![
        Bytes::from_static(b"SET"),
        args[1].clone(),
        text.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    ctx.notify(ev::STRING, "incrbyfloat", &args[1]);
    Frame::Bulk(text)
}

/// Most decimals Redis prints for a float result (`%.17Lf`).
const HUMAN_DOUBLE_MAX_DECIMALS: usize = 17;

/// A float result as INCRBYFLOAT and HINCRBYFLOAT print it: as Redis's
/// `ld2string` in human mode, at most 17 decimals (trailing zeros trimmed),
/// and never `-0` (a negative result that rounds to zero prints `0`).
pub(super) fn human_double(x: f64) -> String {
    let x = drop_binary_noise(x);
    let mut text = crate::protocol::format_double(x);
    let decimals = text.find('.').map_or(0, |dot| text.len() - dot - 1);
    if decimals > HUMAN_DOUBLE_MAX_DECIMALS {
        text = format!("{x:.HUMAN_DOUBLE_MAX_DECIMALS$}");
        text.truncate(text.trim_end_matches('0').trim_end_matches('.').len());
    }
    if text == "-0" {
        text = "0".to_string();
    }
    text
}

/// Redis adds in `long double` and prints 17 decimals, so a sum of short
/// decimals comes out as the exact decimal (0.1 + 0.2 gives "0.3"), where the
/// f64 sum is 0.30000000000000004. One f64 addition of two parsed decimals is
/// off by at most about 1.5 ulp, so the shortest decimal within 2 ulp of the
/// sum is what Redis prints. (Only operands with 16-17 significant digits,
/// which f64 cannot tell from the noise, may come out shortened.)
fn drop_binary_noise(x: f64) -> f64 {
    let ulp = f64::from_bits(x.abs().to_bits() + 1) - x.abs();
    (0..17)
        .filter_map(|decimals| format!("{x:.decimals$e}").parse::<f64>().ok())
        .find(|c| (c - x).abs() <= 2.0 * ulp)
        .unwrap_or(x)
}

pub fn append(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let old = match current_str(ctx, &args[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e,
    };
    if old.len() + args[2].len() > MAX_STRING_BYTES {
        return too_big();
    }
    let mut joined = Vec::with_capacity(old.len() + args[2].len());
    joined.extend_from_slice(&old);
    joined.extend_from_slice(&args[2]);
    let len = joined.len();
    replace_value(ctx, &args[1], Bytes::from(joined));
    ctx.notify(ev::STRING, "append", &args[1]);
    Frame::Integer(len as i64)
}

pub fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match read_str(ctx, &args[1]) {
        Ok(v) => Frame::Integer(v.map_or(0, |v| v.len() as i64)),
        Err(e) => e,
    }
}

/// GETRANGE key start end, with Redis's treatment of negative and
/// out-of-range indexes.
pub fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (mut start, mut end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let value = match read_str(ctx, &args[1]) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return e,
    };
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Frame::Bulk(Bytes::new());
    }
    if start < 0 {
        start = (len + start).max(0);
    }
    if end < 0 {
        end = (len + end).max(0);
    }
    end = end.min(len - 1);
    if start > end || len == 0 {
        return Frame::Bulk(Bytes::new());
    }
    Frame::Bulk(value.slice(start as usize..=end as usize))
}

pub fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let offset = match int_arg(&args[2]) {
        Ok(o) if o < 0 => return Frame::error("ERR offset is out of range"),
        Ok(o) => o as usize,
        Err(e) => return e,
    };
    let patch = &args[3];
    let old = match current_str(ctx, &args[1]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if patch.is_empty() {
        // Nothing to write: an absent key stays absent.
        return Frame::Integer(old.map_or(0, |v| v.len() as i64));
    }
    if offset.saturating_add(patch.len()) > MAX_STRING_BYTES {
        return too_big();
    }
    let mut value = old.map(|v| v.to_vec()).unwrap_or_default();
    if value.len() < offset + patch.len() {
        value.resize(offset + patch.len(), 0);
    }
    value[offset..offset + patch.len()].copy_from_slice(patch);
    let len = value.len();
    replace_value(ctx, &args[1], Bytes::from(value));
    ctx.notify(ev::STRING, "setrange", &args[1]);
    Frame::Integer(len as i64)
}
