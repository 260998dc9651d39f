//! Hash commands: HSET and friends, counters on fields, HRANDFIELD, HSCAN.
//! A hash is compact (a `Vec` of pairs) while small and a hash table past
//! the limits in `keyspace::value`; an emptied hash is removed as a key.
//! HINCRBYFLOAT is logged as the HSET of its result, so replay does not
//! depend on float formatting.

use super::{arg_is, int_arg, syntax_error, wrong_type};
use crate::config::events as ev;
use crate::keyspace::{Hash, Value};
use crate::protocol::Frame;
use crate::shard::Ctx;
use bytes::Bytes;

fn hash_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Hash>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            Some(Value::Hash(h)) => Ok(Some(h)),
            _ => Err(wrong_type()),
        },
    }
}

fn hash_ref<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Hash>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value() {
            Some(Value::Hash(h)) => Ok(Some(h)),
            _ => Err(wrong_type()),
        },
    }
}

/// The hash at `key`, created empty if absent.
fn hash_or_create<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<&'a mut Hash, Frame> {
    if hash_mut(ctx, key)?.is_none() {
        ctx.ks
            .insert(ctx.db, key, Value::Hash(Hash::default()), None);
    }
    hash_mut(ctx, key)?.ok_or_else(|| Frame::error("ERR no such key"))
}

fn copy(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}

/// HSET key field value [field value ...]: the number of new fields.
pub fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    if args.len() < 4 || !(args.len() - 2).is_multiple_of(2) {
        return super::wrong_arity(&String::from_utf8_lossy(&args[0]).to_lowercase());
    }
    let h = match hash_or_create(ctx, &args[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let added = args[2..]
        .chunks_exact(2)
        .filter(|p| h.insert(copy(&p[0]), copy(&p[1])))
        .count();
    ctx.changed();
    ctx.notify(ev::HASH, "hset", &args[1]);
    if arg_is(&args[0], "hmset") {
        Frame::OK
    } else {
        Frame::Integer(added as i64)
    }
}

pub fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match hash_mut(ctx, &args[1]) {
        Ok(Some(h)) if h.get(&args[2]).is_some() => return Frame::Integer(0),
        Err(e) => return e,
        _ => {}
    }
    match hash_or_create(ctx, &args[1]) {
        Ok(h) => {
            h.insert(copy(&args[2]), copy(&args[3]));
            ctx.changed();
            ctx.notify(ev::HASH, "hset", &args[1]);
            Frame::Integer(1)
        }
        Err(e) => e,
    }
}

pub fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match hash_ref(ctx, &args[1]) {
        Ok(h) => h
            .and_then(|h| h.get(&args[2]))
            .map_or(Frame::Null, Frame::bulk_copy),
        Err(e) => e,
    }
}

pub fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match hash_ref(ctx, &args[1]) {
        Ok(h) => Frame::Array(
            args[2..]
                .iter()
                .map(|f| {
                    h.and_then(|h| h.get(f))
                        .map_or(Frame::Null, Frame::bulk_copy)
                })
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let h = match hash_mut(ctx, &args[1]) {
        Ok(Some(h)) => h,
        Ok(None) => return Frame::Integer(0),
        Err(e) => return e,
    };
    let removed = args[2..].iter().filter(|f| h.remove(f).is_some()).count();
    let empty = h.is_empty();
    if removed > 0 {
        ctx.changed();
        ctx.notify(ev::HASH, "hdel", &args[1]);
    }
    if empty {
        ctx.ks.remove(ctx.db, &args[1]);
        ctx.notify(ev::GENERIC, "del", &args[1]);
    }
    Frame::Integer(removed as i64)
}

pub fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match hash_ref(ctx, &args[1]) {
        Ok(h) => Frame::Integer(h.is_some_and(|h| h.get(&args[2]).is_some()) as i64),
        Err(e) => e,
    }
}

pub fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match hash_ref(ctx, &args[1]) {
        Ok(h) => Frame::Integer(h.map_or(0, |h| h.len() as i64)),
        Err(e) => e,
    }
}

pub fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match hash_ref(ctx, &args[1]) {
        Ok(h) => Frame::Integer(
            h.and_then(|h| h.get(&args[2]))
                .map_or(0, |v| v.len() as i64),
        ),
        Err(e) => e,
    }
}

/// HKEYS, HVALS, HGETALL: what to return of each pair.
fn listing(ctx: &mut Ctx, args: &[Bytes], keys: bool, values: bool) -> Frame {
    let h = match hash_ref(ctx, &args[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    if keys && values {
        return Frame::Map(
            h.into_iter()
                .flat_map(|h| h.iter())
                .map(|(f, v)| (Frame::bulk_copy(f), Frame::bulk_copy(v)))
                .collect(),
        );
    }
    Frame::Array(
        h.into_iter()
            .flat_map(|h| h.iter())
            .map(|(f, v)| Frame::bulk_copy(if keys { f } else { v }))
            .collect(),
    )
}

pub fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    listing(ctx, args, true, false)
}

pub fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    listing(ctx, args, false, true)
}

pub fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    listing(ctx, args, true, true)
}

/// HINCRBY key field increment
pub fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let delta = match int_arg(&args[3]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let h = match hash_or_create(ctx, &args[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let current = match h.get(&args[2]) {
        None => 0,
        Some(v) => match crate::util::parse_i64(v) {
            Some(n) => n,
            None => return Frame::error("ERR hash value is not an integer"),
        },
    };
    let Some(next) = current.checked_add(delta) else {
        drop_if_empty(ctx, &args[1]);
        return Frame::error("ERR increment or decrement would overflow");
    };
    let text = Bytes::copy_from_slice(itoa::Buffer::new().format(next).as_bytes());
    h.insert(copy(&args[2]), text);
    ctx.changed();
    ctx.notify(ev::HASH, "hincrby", &args[1]);
    Frame::Integer(next)
}

/// HINCRBYFLOAT key field increment. Computed in f64 (Redis uses long
/// double: results beyond f64's range are refused here).
pub fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    // The increment first (as `string2ld` reads it), then the key: Redis's
    // order.
    let Some(delta) = crate::util::parse_double(&args[3]) else {
        return Frame::error("ERR value is not a valid float");
    };
    if !delta.is_finite() {
        return Frame::error("ERR value is NaN or Infinity");
    }
    let h = match hash_or_create(ctx, &args[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let current = match h.get(&args[2]) {
        None => Some(0.0),
        Some(v) => crate::util::parse_double(v),
    };
    let next = current.map(|c| c + delta);
    let text = match next {
        None => Err(Frame::error("ERR hash value is not a float")),
        Some(n) if !n.is_finite() => {
            Err(Frame::error("ERR increment would produce NaN or Infinity"))
        }
        Some(n) => Ok(Bytes::from(super::strings::human_double(n))),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            drop_if_empty(ctx, &args[1]);
            return e;
        }
    };
    h.insert(copy(&args[2]), text.clone());
    ctx.effect(vec![
        Bytes::from_static(b"HSET"),
        args[1].clone(),
        args[2].clone(),
        text.clone(),
    ]);
    ctx.notify(ev::HASH, "hincrbyfloat", &args[1]);
    Frame::Bulk(text)
}

/// A hash created for a command that then failed is removed again.
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    if matches!(hash_mut(ctx, key), Ok(Some(h)) if h.is_empty()) {
        ctx.ks.remove(ctx.db, key);
    }
}

/// HRANDFIELD key [count [WITHVALUES]]: a positive count gives distinct
/// fields, a negative one may repeat them.
pub fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (count, with_values) = match random_args(args, "withvalues") {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let h = match hash_ref(ctx, &args[1]) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let Some(count) = count else {
        return h
            .and_then(|h| h.random(crate::util::fastrand_u64))
            .map_or(Frame::Null, |(f, _)| Frame::bulk_copy(f));
    };
    let Some(h) = h else {
        return Frame::Array(Vec::new());
    };
    let picks = match random_picks(h.len(), count) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let pairs: Vec<(&[u8], &[u8])> = match &picks {
        Picks::All => h.iter().collect(),
        Picks::Indexes(ix) => {
            let all: Vec<(&[u8], &[u8])> = h.iter().collect();
            ix.iter().map(|&i| all[i]).collect()
        }
    };
    let sizes = pairs
        .iter()
        .map(|(f, v)| f.len() + if with_values { v.len() } else { 0 });
    if let Err(e) = random_reply_fits(sizes) {
        return e;
    }
    // WITHVALUES: a flat array in RESP2, [field, value] pairs in RESP3.
    if with_values {
        Frame::Pairs(
            pairs
                .into_iter()
                .map(|(f, v)| (Frame::bulk_copy(f), Frame::bulk_copy(v)))
                .collect(),
        )
    } else {
        Frame::Array(
            pairs
                .into_iter()
                .map(|(f, _)| Frame::bulk_copy(f))
                .collect(),
        )
    }
}

/// `key [count [WITH…]]` of HRANDFIELD / ZRANDMEMBER: the count, if given,
/// and whether `flag` (WITHVALUES / WITHSCORES) follows it.
pub fn random_args(args: &[Bytes], flag: &str) -> Result<(Option<i64>, bool), Frame> {
    let count = match args.get(2) {
        None => None,
        Some(c) => match int_arg(c)? {
            i64::MIN => return Err(out_of_range_count()),
            n => Some(n),
        },
    };
    let with = match args.get(3) {
        None => false,
        Some(a) if arg_is(a, flag) && args.len() == 4 => true,
        _ => return Err(syntax_error()),
    };
    // Redis 7.0 bounds a count of pairs to half the range, before it looks
    // at the key (twice as many elements must still be countable).
    if with && count.is_some_and(|n| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n)) {
        return Err(Frame::error("ERR value is out of range"));
    }
    Ok((count, with))
}

pub fn out_of_range_count() -> Frame {
    Frame::error(
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
    )
}

/// Which elements a random pick with `count` returns, from `len`.
pub enum Picks {
    /// Every element (a positive count at least the size).
    All,
    /// These positions (distinct for a positive count).
    Indexes(Vec<usize>),
}

/// Most bytes of elements a negative-count random pick returns: repeats
/// let a small key ask for any amount (`SRANDMEMBER s -16777216` of a 1 MB
/// member is 16 TB); past this it gets the range error before anything is
/// built. (Redis builds it until the client's output limit closes it; its
/// default limit for normal clients is none.)
pub const MAX_RANDOM_REPLY_BYTES: usize = 512 << 20;

/// `Err` (the range error) when picks of these sizes pass
/// `MAX_RANDOM_REPLY_BYTES`; reads the sizes only.
pub fn random_reply_fits(sizes: impl Iterator<Item = usize>) -> Result<(), Frame> {
    let mut total = 0usize;
    for size in sizes {
        // Each element's RESP header and line ends, about.
        total += size + 16;
        if total > MAX_RANDOM_REPLY_BYTES {
            return Err(Frame::error("ERR value is out of range"));
        }
    }
    Ok(())
}

/// Most elements a negative-count random pick returns. Redis would build
/// any reply up to 2^63 elements (and run out of memory doing it); a bigger
/// count is refused with Redis's range error (docs/bitmaps.md).
pub const MAX_RANDOM_PICKS: u64 = 1 << 24;

pub fn random_picks(len: usize, count: i64) -> Result<Picks, Frame> {
    let rand = crate::util::fastrand_u64;
    if len == 0 || count == 0 {
        return Ok(Picks::Indexes(Vec::new()));
    }
    if count > 0 {
        let count = count as usize;
        if count >= len {
            return Ok(Picks::All);
        }
        // Partial Fisher-Yates over the positions.
        let mut ix: Vec<usize> = (0..len).collect();
        for i in 0..count {
            let j = i + (rand() % (len - i) as u64) as usize;
            ix.swap(i, j);
        }
        ix.truncate(count);
        return Ok(Picks::Indexes(ix));
    }
    if count.unsigned_abs() > MAX_RANDOM_PICKS {
        return Err(Frame::error("ERR value is out of range"));
    }
    let n = count.unsigned_abs() as usize;
    Ok(Picks::Indexes(
        (0..n).map(|_| (rand() % len as u64) as usize).collect(),
    ))
}

/// Parses a SCAN-family cursor and its MATCH/COUNT options (from `args[3]`).
pub struct ScanArgs {
    pub cursor: usize,
    pub pattern: Option<Bytes>,
    pub count: usize,
}

pub fn scan_args(args: &[Bytes]) -> Result<ScanArgs, Frame> {
    let cursor = std::str::from_utf8(&args[2])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Frame::error("ERR invalid cursor"))?;
    let (mut pattern, mut count) = (None, 10usize);
    let mut i = 3;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            return Err(syntax_error());
        };
        if arg_is(&args[i], "match") {
            pattern = Some(v.clone());
        } else if arg_is(&args[i], "count") {
            match int_arg(v)? {
                n if n >= 1 => count = n as usize,
                _ => return Err(syntax_error()),
            }
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok(ScanArgs {
        cursor: cursor.min(usize::MAX as u64) as usize,
        pattern,
        count,
    })
}

impl ScanArgs {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_deref()
            .is_none_or(|p| crate::util::glob_match(p, item, false))
    }

    pub fn reply(next: usize, items: Vec<Frame>) -> Frame {
        Frame::Array(vec![
            Frame::bulk_str(&next.to_string()),
            Frame::Array(items),
        ])
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let sa = match scan_args(args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let h = match hash_ref(ctx, &args[1]) {
        Ok(Some(h)) => h,
        Ok(None) => return ScanArgs::reply(0, Vec::new()),
        Err(e) => return e,
    };
    let mut items = Vec::new();
    let next = h.scan(sa.cursor, sa.count, |f, v| {
        if sa.matches(f) {
            items.push(Frame::bulk_copy(f));
            items.push(Frame::bulk_copy(v));
        }
    });
    ScanArgs::reply(next, items)
}
