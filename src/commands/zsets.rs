//! Sorted set commands: ZADD with its flags, scores, ranks, ranges by rank,
//! score and lex (ZRANGE and its older forms), removals by range, pops,
//! ZRANDMEMBER, ZSCAN. Ranges cost O(log n) to locate plus O(log n) per
//! element returned (see `keyspace::value::zset`). ZUNIONSTORE/ZINTERSTORE
//! gather their inputs across shards in `cross`.
//!
//! Scores are written as Redis 7.0 writes them (`%.17g`: ZSCORE of 1.1 is
//! "1.1000000000000001"): bulk strings in RESP2, doubles in RESP3, except in
//! ZSCAN, whose scores are bulk strings in both. WITHSCORES replies are one
//! flat array in RESP2 and [member, score] pairs in RESP3 (`Frame::Pairs`).
//! ZPOPMIN/ZPOPMAX are logged as the ZREM of what they removed.

use super::hashes::{random_args, random_picks, random_reply_fits, scan_args, Picks, ScanArgs};
use super::lists::normalize_range;
use super::{arg_is, int_arg, syntax_error, wrong_type};
use crate::config::events as ev;
use crate::keyspace::{Value, ZSet};
use crate::protocol::Frame;
use crate::shard::Ctx;
use crate::util::format_double;
use bytes::Bytes;

pub fn zset_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut ZSet>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            Some(Value::ZSet(z)) => Ok(Some(z)),
            _ => Err(wrong_type()),
        },
    }
}

pub(super) fn zset_ref<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a ZSet>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value() {
            Some(Value::ZSet(z)) => Ok(Some(z)),
            _ => Err(wrong_type()),
        },
    }
}

fn not_float() -> Frame {
    Frame::error("ERR value is not a valid float")
}

/// A score argument as Redis reads it (`string2d`): a float, `inf`/`-inf`,
/// hexadecimal; never NaN, never a finite text out of range.
pub fn score_arg(arg: &[u8]) -> Result<f64, Frame> {
    crate::util::parse_double(arg).ok_or_else(not_float)
}

/// A score in a reply: a bulk string in RESP2, a double in RESP3.
pub fn score_frame(x: f64) -> Frame {
    Frame::Double(x)
}

/// Members with their scores, in order: flat in RESP2, pairs in RESP3.
fn with_scores<'a>(items: impl Iterator<Item = (&'a Bytes, f64)>) -> Frame {
    Frame::Pairs(
        items
            .map(|(m, s)| (Frame::Bulk(m.clone()), score_frame(s)))
            .collect(),
    )
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if arg_is(a, "nx") {
            nx = true;
        } else if arg_is(a, "xx") {
            xx = true;
        } else if arg_is(a, "gt") {
            gt = true;
        } else if arg_is(a, "lt") {
            lt = true;
        } else if arg_is(a, "ch") {
            ch = true;
        } else if arg_is(a, "incr") {
            incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return syntax_error();
    }
    if nx && xx {
        return Frame::error("ERR XX and NX options at the same time are not compatible");
    }
    if (gt && lt) || (nx && (gt || lt)) {
        return Frame::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if incr && pairs.len() > 2 {
        return Frame::error("ERR INCR option supports a single increment-element pair");
    }
    // Every score is checked before anything changes.
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks_exact(2) {
        match score_arg(&p[0]) {
            Ok(s) => scores.push(s),
            Err(e) => return e,
        }
    }
    let key = &args[1];
    match zset_mut(ctx, key) {
        Err(e) => return e,
        Ok(None) if xx => return if incr { Frame::Null } else { Frame::Integer(0) },
        Ok(None) => ctx
            .ks
            .insert(ctx.db, key, Value::ZSet(Box::default()), None),
        Ok(Some(_)) => {}
    }
    let Ok(Some(z)) = zset_mut(ctx, key) else {
        return wrong_type();
    };
    let (mut added, mut updated) = (0, 0);
    let mut incr_result = None;
    let mut nan = false;
    for (p, &score) in pairs.chunks_exact(2).zip(&scores) {
        let member = &p[1];
        match z.score(member) {
            Some(cur) => {
                if nx {
                    continue;
                }
                let new = if incr { cur + score } else { score };
                if new.is_nan() {
                    nan = true;
                    break;
                }
                if (gt && new <= cur) || (lt && new >= cur) {
                    continue;
                }
                incr_result = Some(new);
                if new != cur {
                    z.insert(member.clone(), new);
                    updated += 1;
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.insert(Bytes::copy_from_slice(member), score);
                incr_result = Some(score);
                added += 1;
            }
        }
    }
    let empty = z.is_empty();
    if added + updated > 0 {
        ctx.changed();
        ctx.notify(ev::ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
    if empty {
        ctx.ks.remove(ctx.db, key);
        ctx.notify(ev::GENERIC, "del", key);
    }
    if nan {
        return Frame::error("ERR resulting score is not a number (NaN)");
    }
    if incr {
        return incr_result.map_or(Frame::Null, score_frame);
    }
    Frame::Integer(if ch { added + updated } else { added })
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let argv = [
        args[0].clone(),
        args[1].clone(),
        Bytes::from_static(b"INCR"),
        args[2].clone(),
        args[3].clone(),
    ];
    zadd(ctx, &argv)
}

pub fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match zset_ref(ctx, &args[1]) {
        Ok(z) => z
            .and_then(|z| z.score(&args[2]))
            .map_or(Frame::Null, score_frame),
        Err(e) => e,
    }
}

pub fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match zset_ref(ctx, &args[1]) {
        Ok(z) => Frame::Array(
            args[2..]
                .iter()
                .map(|m| z.and_then(|z| z.score(m)).map_or(Frame::Null, score_frame))
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match zset_ref(ctx, &args[1]) {
        Ok(z) => Frame::Integer(z.map_or(0, |z| z.len() as i64)),
        Err(e) => e,
    }
}

/// ZRANK / ZREVRANK key member
pub fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let rev = arg_is(&args[0], "zrevrank");
    match zset_ref(ctx, &args[1]) {
        Ok(z) => z
            .and_then(|z| {
                z.rank(&args[2])
                    .map(|r| if rev { z.len() - 1 - r } else { r })
            })
            .map_or(Frame::Null, |r| Frame::Integer(r as i64)),
        Err(e) => e,
    }
}

/// One end of a score range: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    // As Redis's `zslParseRange`: strtod, out-of-range values as it
    // returns them; an empty text is strtod's 0 (it reads nothing and
    // stops at the end).
    if text.is_empty() {
        return Some(ScoreBound {
            value: 0.0,
            exclusive,
        });
    }
    crate::util::strtod(text).map(|(value, _)| ScoreBound { value, exclusive })
}

/// One end of a lex range: `-`, `+`, `[x` (inclusive), `(x` (exclusive).
#[derive(Clone)]
enum LexBound {
    Min,
    Max,
    At(Bytes, bool),
}

fn lex_bound(arg: &Bytes) -> Option<LexBound> {
    match arg.first() {
        Some(b'-') if arg.len() == 1 => Some(LexBound::Min),
        Some(b'+') if arg.len() == 1 => Some(LexBound::Max),
        Some(b'[') => Some(LexBound::At(arg.slice(1..), false)),
        Some(b'(') => Some(LexBound::At(arg.slice(1..), true)),
        _ => None,
    }
}

/// The ranks `lo..hi` (ascending order) of the elements within a range.
enum Range {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

impl Range {
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let len = z.len();
        match self {
            Range::Rank(start, stop) => match normalize_range(*start, *stop, len) {
                Some((a, b)) => (a, b + 1),
                None => (0, 0),
            },
            Range::Score(min, max) => {
                let lo = z.count_while(|s, _| {
                    if min.exclusive {
                        s <= min.value
                    } else {
                        s < min.value
                    }
                });
                let hi = z.count_while(|s, _| {
                    if max.exclusive {
                        s < max.value
                    } else {
                        s <= max.value
                    }
                });
                (lo, hi.max(lo))
            }
            Range::Lex(min, max) => {
                let lo = match min {
                    LexBound::Min => 0,
                    LexBound::Max => len,
                    LexBound::At(v, excl) => {
                        z.count_while(|_, m| if *excl { m <= &v[..] } else { m < &v[..] })
                    }
                };
                let hi = match max {
                    LexBound::Min => 0,
                    LexBound::Max => len,
                    LexBound::At(v, excl) => {
                        z.count_while(|_, m| if *excl { m < &v[..] } else { m <= &v[..] })
                    }
                };
                (lo, hi.max(lo))
            }
        }
    }
}

/// Parses a range of `kind` from two arguments (already in min, max order).
fn parse_range(kind: u8, a: &Bytes, b: &Bytes) -> Result<Range, Frame> {
    match kind {
        b'r' => Ok(Range::Rank(int_arg(a)?, int_arg(b)?)),
        b's' => match (score_bound(a), score_bound(b)) {
            (Some(x), Some(y)) => Ok(Range::Score(x, y)),
            _ => Err(Frame::error("ERR min or max is not a float")),
        },
        _ => match (lex_bound(a), lex_bound(b)) {
            (Some(x), Some(y)) => Ok(Range::Lex(x, y)),
            _ => Err(Frame::error("ERR min or max not valid string range item")),
        },
    }
}

/// A parsed range query: which elements, in which direction, which slice.
struct Query {
    range: Range,
    rev: bool,
    offset: i64,
    count: i64,
    with_scores: bool,
}

impl Query {
    /// The ranks selected, in reply order.
    fn ranks(&self, z: &ZSet) -> Vec<usize> {
        if self.offset < 0 {
            return Vec::new();
        }
        let (lo, hi) = match self.range {
            // A rank range with REV counts from the top.
            Range::Rank(..) if self.rev => {
                let (a, b) = self.range.ranks(z);
                let len = z.len();
                (len - b, len - a)
            }
            _ => self.range.ranks(z),
        };
        let take = if self.count < 0 {
            usize::MAX
        } else {
            self.count as usize
        };
        let skip = (self.offset as u64).min(usize::MAX as u64) as usize;
        if self.rev {
            (lo..hi).rev().skip(skip).take(take).collect()
        } else {
            (lo..hi).skip(skip).take(take).collect()
        }
    }
}

/// Parses the options after `key a b` for the given command form.
/// `kind`: b'r' rank, b's' score, b'l' lex, 0 = ZRANGE (BYSCORE/BYLEX decide).
/// `store`: ZRANGESTORE, which takes ZRANGE's options but WITHSCORES.
fn parse_query(args: &[Bytes], mut kind: u8, mut rev: bool, store: bool) -> Result<Query, Frame> {
    let (mut with_scores, mut limit) = (false, None);
    let zrange = kind == 0;
    let mut i = 4;
    while i < args.len() {
        let a = &args[i];
        if arg_is(a, "withscores") && (zrange || kind != b'l') && !store {
            with_scores = true;
        } else if arg_is(a, "limit") && (zrange || kind != b'r') && i + 2 < args.len() {
            limit = Some((int_arg(&args[i + 1])?, int_arg(&args[i + 2])?));
            i += 2;
        } else if zrange && arg_is(a, "byscore") && kind != b'l' {
            kind = b's';
        } else if zrange && arg_is(a, "bylex") && kind != b's' {
            kind = b'l';
        } else if zrange && arg_is(a, "rev") {
            rev = true;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if zrange {
        if kind == 0 {
            kind = b'r';
        }
        // Redis checks the count alone: `LIMIT offset -1` ("no limit") is
        // taken, and ignored, by a rank range.
        if kind == b'r' && limit.is_some_and(|(_, count)| count != -1) {
            return Err(Frame::error(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if kind == b'r' {
            limit = None;
        }
        if with_scores && kind == b'l' {
            return Err(Frame::error(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
    }
    // Score and lex ranges are given as max, min when reversed.
    let (a, b) = if rev && kind != b'r' {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let range = parse_range(kind, a, b)?;
    let (offset, count) = limit.unwrap_or((0, -1));
    Ok(Query {
        range,
        rev,
        offset,
        count,
        with_scores,
    })
}

fn range_reply(z: Option<&ZSet>, q: &Query) -> Frame {
    let Some(z) = z else {
        return Frame::Array(Vec::new());
    };
    let picked = q.ranks(z).into_iter().filter_map(|r| z.get(r));
    if q.with_scores {
        with_scores(picked.map(|(s, m)| (m, s)))
    } else {
        Frame::Array(picked.map(|(_, m)| Frame::Bulk(m.clone())).collect())
    }
}

fn range_cmd(ctx: &mut Ctx, args: &[Bytes], kind: u8, rev: bool) -> Frame {
    let q = match parse_query(args, kind, rev, false) {
        Ok(q) => q,
        Err(e) => return e,
    };
    match zset_ref(ctx, &args[1]) {
        Ok(z) => range_reply(z, &q),
        Err(e) => e,
    }
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    range_cmd(ctx, args, 0, false)
}

pub fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    range_cmd(ctx, args, b'r', true)
}

pub fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    range_cmd(ctx, args, b's', false)
}

pub fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    range_cmd(ctx, args, b's', true)
}

pub fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    range_cmd(ctx, args, b'l', false)
}

pub fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    range_cmd(ctx, args, b'l', true)
}

fn count_cmd(ctx: &mut Ctx, args: &[Bytes], kind: u8) -> Frame {
    let range = match parse_range(kind, &args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match zset_ref(ctx, &args[1]) {
        Ok(z) => Frame::Integer(z.map_or(0, |z| {
            let (lo, hi) = range.ranks(z);
            (hi - lo) as i64
        })),
        Err(e) => e,
    }
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    count_cmd(ctx, args, b's')
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    count_cmd(ctx, args, b'l')
}

/// Removes `members`; removes the key once the set is empty. How many went.
/// Removes members, raising `event` if any went (and `del` once the
/// sorted set is empty).
pub fn remove_members(
    ctx: &mut Ctx,
    key: &[u8],
    members: &[Bytes],
    event: &'static str,
) -> Result<usize, Frame> {
    let Some(z) = zset_mut(ctx, key)? else {
        return Ok(0);
    };
    let removed = members.iter().filter(|m| z.remove(m).is_some()).count();
    let empty = z.is_empty();
    if removed > 0 {
        ctx.notify(ev::ZSET, event, key);
    }
    if empty {
        ctx.ks.remove(ctx.db, key);
        ctx.notify(ev::GENERIC, "del", key);
    }
    Ok(removed)
}

pub fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match remove_members(ctx, &args[1], &args[2..], "zrem") {
        Ok(n) => {
            if n > 0 {
                ctx.changed();
            }
            Frame::Integer(n as i64)
        }
        Err(e) => e,
    }
}

fn remrange(ctx: &mut Ctx, args: &[Bytes], kind: u8) -> Frame {
    let range = match parse_range(kind, &args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    // A write's lookup, as Redis's: no keyspace hit or miss counted.
    let members: Vec<Bytes> = match zset_mut(ctx, &args[1]) {
        Ok(Some(z)) => {
            let (lo, hi) = range.ranks(z);
            z.range(lo, hi).map(|(_, m)| m.clone()).collect()
        }
        Ok(None) => return Frame::Integer(0),
        Err(e) => return e,
    };
    let event = match kind {
        b'r' => "zremrangebyrank",
        b's' => "zremrangebyscore",
        _ => "zremrangebylex",
    };
    match remove_members(ctx, &args[1], &members, event) {
        Ok(n) => {
            if n > 0 {
                ctx.changed();
            }
            Frame::Integer(n as i64)
        }
        Err(e) => e,
    }
}

pub fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    remrange(ctx, args, b'r')
}

pub fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    remrange(ctx, args, b's')
}

pub fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    remrange(ctx, args, b'l')
}

/// Pops up to `count` lowest (or highest) elements; logged as their ZREM.
pub fn pop_elements(
    ctx: &mut Ctx,
    key: &Bytes,
    max: bool,
    count: usize,
) -> Result<Vec<(Bytes, f64)>, Frame> {
    let Some(z) = zset_mut(ctx, key)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(count.min(z.len()));
    while out.len() < count {
        let pick = if max { z.len().checked_sub(1) } else { Some(0) };
        let Some((s, m)) = pick.and_then(|r| z.get(r)).map(|(s, m)| (s, m.clone())) else {
            break;
        };
        z.remove(&m);
        out.push((m, s));
    }
    let empty = z.is_empty();
    if !out.is_empty() {
        ctx.notify(ev::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    if empty {
        ctx.ks.remove(ctx.db, key);
        ctx.notify(ev::GENERIC, "del", key);
    }
    if !out.is_empty() {
        let mut effect = Vec::with_capacity(out.len() + 2);
        effect.push(Bytes::from_static(b"ZREM"));
        effect.push(key.clone());
        effect.extend(out.iter().map(|(m, _)| m.clone()));
        ctx.effect(effect);
    }
    Ok(out)
}

/// ZPOPMIN / ZPOPMAX key [count]
pub fn zpop(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let max = arg_is(&args[0], "zpopmax");
    if args.len() > 3 {
        return syntax_error();
    }
    let count = match args.get(2) {
        None => 1,
        Some(c) => match crate::util::parse_i64(c) {
            Some(n) if n >= 0 => n as usize,
            _ => return Frame::error("ERR value is out of range, must be positive"),
        },
    };
    match pop_elements(ctx, &args[1], max, count) {
        // With a count, RESP3 gets [member, score] pairs; without, one pair flat.
        Ok(v) if args.len() == 3 => with_scores(v.iter().map(|(m, s)| (m, *s))),
        Ok(v) => Frame::Array(
            v.into_iter()
                .flat_map(|(m, s)| [Frame::Bulk(m), score_frame(s)])
                .collect(),
        ),
        Err(e) => e,
    }
}

/// ZRANDMEMBER key [count [WITHSCORES]]: read-only.
pub fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (count, with_scores) = match random_args(args, "withscores") {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let z = match zset_ref(ctx, &args[1]) {
        Ok(z) => z,
        Err(e) => return e,
    };
    let Some(count) = count else {
        return z
            .and_then(|z| z.random(crate::util::fastrand_u64))
            .map_or(Frame::Null, |(m, _)| Frame::Bulk(m.clone()));
    };
    let Some(z) = z else {
        return Frame::Array(Vec::new());
    };
    let ranks: Vec<usize> = match random_picks(z.len(), count) {
        Err(e) => return e,
        Ok(Picks::All) => (0..z.len()).collect(),
        Ok(Picks::Indexes(ix)) => ix,
    };
    let sizes = ranks.iter().filter_map(|&r| z.get(r)).map(|(_, m)| m.len());
    if let Err(e) = random_reply_fits(sizes) {
        return e;
    }
    let picked = ranks.into_iter().filter_map(|r| z.get(r));
    if with_scores {
        self::with_scores(picked.map(|(s, m)| (m, s)))
    } else {
        Frame::Array(picked.map(|(_, m)| Frame::Bulk(m.clone())).collect())
    }
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let sa = match scan_args(args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let z = match zset_ref(ctx, &args[1]) {
        Ok(Some(z)) => z,
        Ok(None) => return ScanArgs::reply(0, Vec::new()),
        Err(e) => return e,
    };
    let mut items = Vec::new();
    // A compact sorted set comes back whole, as Redis does with a listpack.
    let next = z.scan(sa.cursor, sa.count, |m, s| {
        if sa.matches(m) {
            items.push(Frame::Bulk(m.clone()));
            // ZSCAN's scores are bulk strings, in RESP3 too.
            items.push(Frame::Bulk(Bytes::from(format_double(s))));
        }
    });
    ScanArgs::reply(next, items)
}

/// The (member, score) pairs ZRANGESTORE dst src min max [options] selects
/// from `src`, in range order.
fn rangestore_pairs(ctx: &mut Ctx, args: &[Bytes]) -> Result<Vec<(Bytes, f64)>, Frame> {
    // `src min max [options]` sit where ZRANGE has `key min max [options]`.
    let q = parse_query(&args[1..], 0, false, true)?;
    Ok(match zset_ref(ctx, &args[2])? {
        None => Vec::new(),
        Some(z) => q
            .ranks(z)
            .into_iter()
            .filter_map(|r| z.get(r))
            .map(|(s, m)| (m.clone(), s))
            .collect(),
    })
}

/// ZRANGESTORE with both keys on this shard: one step.
pub fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match rangestore_pairs(ctx, args) {
        Ok(pairs) => store_pairs(ctx, &args[1], pairs, "zrangestore"),
        Err(e) => e,
    }
}

/// The source half of a ZRANGESTORE across shards (read-only): the pairs
/// selected, as the (score, member) arguments `store` takes.
pub fn rangestore_source(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match rangestore_pairs(ctx, args) {
        Ok(pairs) => Frame::Array(
            pairs
                .into_iter()
                .flat_map(|(m, s)| [Frame::Bulk(Bytes::from(format_double(s))), Frame::Bulk(m)])
                .collect(),
        ),
        Err(e) => e,
    }
}

/// Replaces whatever is at `args[1]` with the sorted set of the
/// (score, member) pairs in `args[2..]`, scores as `format_double` text (the
/// STORE forms, once the inputs were gathered from every shard; `args[0]`
/// names the command, for its keyspace event).
pub fn store(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let mut pairs = Vec::with_capacity(args.len().saturating_sub(2) / 2);
    for p in args[2..].chunks_exact(2) {
        let Some(s) = crate::util::parse_f64(&p[0]) else {
            return not_float();
        };
        pairs.push((p[1].clone(), s));
    }
    let event = match args[0].to_ascii_lowercase().as_slice() {
        b"zinterstore" => "zinterstore",
        b"zdiffstore" => "zdiffstore",
        b"zrangestore" => "zrangestore",
        _ => "zunionstore",
    };
    store_pairs(ctx, &args[1], pairs, event)
}

/// Replaces whatever is at `key` with the sorted set of `pairs` (none:
/// deletes it), raising `event` (or `del`) as Redis; replies with its size. Logged as DEL + ZADDs of bounded
/// size (`rewrite::commands_for`), one logical record, independent of the
/// source keys, which may live on other shards.
pub(super) fn store_pairs(
    ctx: &mut Ctx,
    key: &Bytes,
    pairs: Vec<(Bytes, f64)>,
    event: &'static str,
) -> Frame {
    // Replaced in place (no `new` event, as Redis), logged as a DEL first.
    let existed = ctx.ks.contains(ctx.db, key, ctx.now);
    if existed {
        ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
    }
    if pairs.is_empty() {
        if existed {
            ctx.ks.remove(ctx.db, key);
            ctx.notify(ev::GENERIC, "del", key);
        }
        return Frame::Integer(0);
    }
    let mut z = ZSet::new();
    for (m, s) in pairs {
        z.insert(m, s);
    }
    let n = z.len();
    let value = Value::ZSet(Box::new(z));
    for argv in crate::persistence::rewrite::commands_for(key, &value, None) {
        ctx.effect(argv);
    }
    ctx.ks.insert(ctx.db, key, value, None);
    ctx.notify(ev::ZSET, event, key);
    Frame::Integer(n as i64)
}
