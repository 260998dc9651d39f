//! List commands: pushes and pops at both ends, ranges, indexes, LINSERT,
//! LREM, LTRIM, LPOS, and LMOVE/RPOPLPUSH when both keys live on this shard
//! (`cross` moves an element between shards). A list is a `VecDeque`: O(1)
//! at both ends and by index. Pops are deterministic, so their own text is
//! their effect; an emptied list is removed as a key.

use super::{arg_is, int_arg, syntax_error, wrong_type};
use crate::config::events as ev;
use crate::keyspace::{List, Value};
use crate::protocol::Frame;
use crate::shard::Ctx;
use bytes::Bytes;

/// The list at `key` to change: `Ok(None)` if absent, WRONGTYPE if not a list.
pub fn list_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut List>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            Some(Value::List(l)) => Ok(Some(l)),
            _ => Err(wrong_type()),
        },
    }
}

/// The list at `key` to read (counts a keyspace hit or miss).
fn list_ref<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a List>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value() {
            Some(Value::List(l)) => Ok(Some(l)),
            _ => Err(wrong_type()),
        },
    }
}

/// Removes `key` if it holds an empty list.
fn drop_if_empty(ctx: &mut Ctx, key: &[u8]) {
    if matches!(list_mut(ctx, key), Ok(Some(l)) if l.is_empty()) {
        ctx.ks.remove(ctx.db, key);
        ctx.notify(ev::GENERIC, "del", key);
    }
}

/// Pushes `values` at one end of the list at `key`, creating it unless
/// `existing_only`. Returns the new length (0: no list and `existing_only`).
pub fn push_values(
    ctx: &mut Ctx,
    key: &[u8],
    values: &[Bytes],
    left: bool,
    existing_only: bool,
) -> Result<usize, Frame> {
    if list_mut(ctx, key)?.is_none() {
        if existing_only {
            return Ok(0);
        }
        let list = List::with_capacity(values.len());
        ctx.ks.insert(ctx.db, key, Value::List(list), None);
    }
    let Some(list) = list_mut(ctx, key)? else {
        return Ok(0);
    };
    for v in values {
        let v = Bytes::copy_from_slice(v);
        if left {
            list.push_front(v);
        } else {
            list.push_back(v);
        }
    }
    let len = list.len();
    ctx.changed();
    ctx.notify(ev::LIST, if left { "lpush" } else { "rpush" }, key);
    Ok(len)
}

fn push(ctx: &mut Ctx, args: &[Bytes], left: bool, existing_only: bool) -> Frame {
    match push_values(ctx, &args[1], &args[2..], left, existing_only) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => e,
    }
}

pub fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    push(ctx, args, true, false)
}

pub fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    push(ctx, args, false, false)
}

pub fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    push(ctx, args, true, true)
}

pub fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    push(ctx, args, false, true)
}

/// Pops up to `count` elements from one end; `None` if there is no list.
pub fn pop_values(
    ctx: &mut Ctx,
    key: &[u8],
    left: bool,
    count: usize,
) -> Result<Option<Vec<Bytes>>, Frame> {
    let Some(list) = list_mut(ctx, key)? else {
        return Ok(None);
    };
    let n = count.min(list.len());
    let popped = if left {
        list.take_front(n)
    } else {
        list.take_back(n)
    };
    if n > 0 {
        ctx.changed();
        ctx.notify(ev::LIST, if left { "lpop" } else { "rpop" }, key);
        drop_if_empty(ctx, key);
    }
    Ok(Some(popped))
}

/// LPOP / RPOP key [count]
fn pop(ctx: &mut Ctx, args: &[Bytes], left: bool) -> Frame {
    if args.len() > 3 {
        return super::wrong_arity(&String::from_utf8_lossy(&args[0]).to_lowercase());
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => match crate::util::parse_i64(c) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return Frame::error("ERR value is out of range, must be positive"),
        },
    };
    match (pop_values(ctx, &args[1], left, count.unwrap_or(1)), count) {
        (Err(e), _) => e,
        (Ok(None), None) => Frame::Null,
        (Ok(None), Some(_)) => Frame::NullArray,
        (Ok(Some(mut v)), None) => v.pop().map_or(Frame::Null, Frame::Bulk),
        (Ok(Some(v)), Some(_)) => Frame::Array(v.into_iter().map(Frame::Bulk).collect()),
    }
}

pub fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    pop(ctx, args, true)
}

pub fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    pop(ctx, args, false)
}

pub fn llen(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match list_ref(ctx, &args[1]) {
        Ok(l) => Frame::Integer(l.map_or(0, |l| l.len() as i64)),
        Err(e) => e,
    }
}

/// Redis's index range normalization (LRANGE, LTRIM, ZRANGE by rank):
/// negative indexes count from the end; returns the inclusive range, or
/// `None` when it is empty.
pub fn normalize_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    let stop = stop.min(len - 1);
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop as usize))
}

fn two_ints(a: &Bytes, b: &Bytes) -> Result<(i64, i64), Frame> {
    Ok((int_arg(a)?, int_arg(b)?))
}

/// LRANGE key start stop
pub fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (start, stop) = match two_ints(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let list = match list_ref(ctx, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return Frame::Array(Vec::new()),
        Err(e) => return e,
    };
    match normalize_range(start, stop, list.len()) {
        None => Frame::Array(Vec::new()),
        Some((a, b)) => Frame::Array(list.range(a..=b).cloned().map(Frame::Bulk).collect()),
    }
}

/// An index from the head (negative: from the tail) into a list of `len`.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LINDEX key index: the key before the index, as Redis checks them.
pub fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match list_ref(ctx, &args[1]) {
        Ok(Some(l)) => match int_arg(&args[2]) {
            Ok(i) => index(i, l.len()).map_or(Frame::Null, |i| Frame::Bulk(l[i].clone())),
            Err(e) => e,
        },
        Ok(None) => Frame::Null,
        Err(e) => e,
    }
}

/// LSET key index element: the key before the index, as Redis checks them.
pub fn lset(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let list = match list_mut(ctx, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return e,
    };
    let i = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let Some(i) = index(i, list.len()) else {
        return Frame::error("ERR index out of range");
    };
    list.set(i, Bytes::copy_from_slice(&args[3]));
    ctx.changed();
    ctx.notify(ev::LIST, "lset", &args[1]);
    Frame::OK
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let after = if arg_is(&args[2], "after") {
        true
    } else if arg_is(&args[2], "before") {
        false
    } else {
        return syntax_error();
    };
    let list = match list_mut(ctx, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return Frame::Integer(0),
        Err(e) => return e,
    };
    let Some(at) = list.iter().position(|x| *x == args[3]) else {
        return Frame::Integer(-1);
    };
    list.insert(at + after as usize, Bytes::copy_from_slice(&args[4]));
    let len = list.len();
    ctx.changed();
    ctx.notify(ev::LIST, "linsert", &args[1]);
    Frame::Integer(len as i64)
}

/// LREM key count element: count > 0 from the head, < 0 from the tail, 0 all.
pub fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let count = match int_arg(&args[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let list = match list_mut(ctx, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return Frame::Integer(0),
        Err(e) => return e,
    };
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs().min(usize::MAX as u64) as usize
    };
    // The positions to remove, found in one scan from the head (count >= 0)
    // or the tail, which stops at the limit; then one pass removes them
    // (removing one by one was quadratic on a list full of matches).
    let matching = |(i, v): (usize, &Bytes)| (*v == args[3]).then_some(i);
    let mut positions: Vec<usize> = if count >= 0 {
        list.iter()
            .enumerate()
            .filter_map(matching)
            .take(limit)
            .collect()
    } else {
        list.iter()
            .enumerate()
            .rev()
            .filter_map(matching)
            .take(limit)
            .collect()
    };
    positions.sort_unstable();
    remove_positions(list, &positions);
    let removed = positions.len();
    if removed > 0 {
        ctx.changed();
        ctx.notify(ev::LIST, "lrem", &args[1]);
        drop_if_empty(ctx, &args[1]);
    }
    Frame::Integer(removed as i64)
}

/// Removes the elements at `sorted` (ascending) positions of `list`, moving
/// each element after the first of them at most once.
fn remove_positions(list: &mut List, sorted: &[usize]) {
    match sorted {
        [] => {}
        [one] => {
            list.remove(*one);
        }
        [first, ..] => {
            let mut gone = sorted.iter().peekable();
            let mut write = *first;
            for read in *first..list.len() {
                if gone.next_if_eq(&&read).is_none() {
                    list.swap(write, read);
                    write += 1;
                }
            }
            list.truncate(write);
        }
    }
}

/// LTRIM key start stop
pub fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (start, stop) = match two_ints(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let list = match list_mut(ctx, &args[1]) {
        Ok(Some(l)) => l,
        Ok(None) => return Frame::OK,
        Err(e) => return e,
    };
    let before = list.len();
    match normalize_range(start, stop, list.len()) {
        None => list.clear(),
        Some((a, b)) => {
            list.truncate(b + 1);
            list.take_front(a);
        }
    }
    let trimmed = list.len() != before;
    // Redis raises `ltrim` even when nothing was trimmed.
    ctx.notify(ev::LIST, "ltrim", &args[1]);
    if trimmed {
        ctx.changed();
        drop_if_empty(ctx, &args[1]);
    }
    Frame::OK
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < args.len() {
        let Some(v) = args.get(i + 1) else {
            return syntax_error();
        };
        // COUNT and MAXLEN say their own error for any bad value, as
        // Redis's `getPositiveLongFromObjectOrReply` with a message does.
        let own_error = ["count", "maxlen"]
            .into_iter()
            .find(|o| arg_is(&args[i], o));
        if own_error.is_none() && !arg_is(&args[i], "rank") {
            return syntax_error();
        }
        let n = match (int_arg(v), own_error) {
            (Ok(n), _) => n,
            (Err(_), Some(o)) => {
                return Frame::error(format!("ERR {} can't be negative", o.to_uppercase()))
            }
            (Err(e), None) => return e,
        };
        if arg_is(&args[i], "rank") {
            if n == 0 {
                return Frame::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            // Redis 7.0 takes LONG_MIN, and its negation overflows back to
            // a negative rank that the first match from the tail meets: as
            // -1 (7.2 refuses it).
            rank = if n == i64::MIN { -1 } else { n };
        } else if arg_is(&args[i], "count") {
            if n < 0 {
                return Frame::error("ERR COUNT can't be negative");
            }
            count = Some(n as usize);
        } else if arg_is(&args[i], "maxlen") {
            if n < 0 {
                return Frame::error("ERR MAXLEN can't be negative");
            }
            maxlen = n as usize;
        } else {
            return syntax_error();
        }
        i += 2;
    }
    let list = match list_ref(ctx, &args[1]) {
        Ok(l) => l,
        Err(e) => return e,
    };
    let Some(list) = list else {
        return if count.is_some() {
            Frame::Array(Vec::new())
        } else {
            Frame::Null
        };
    };
    let want = match count {
        Some(0) => usize::MAX,
        Some(c) => c,
        None => 1,
    };
    let limit = if maxlen == 0 {
        list.len()
    } else {
        maxlen.min(list.len())
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    let positions: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..limit)
    } else {
        Box::new((list.len() - limit..list.len()).rev())
    };
    for p in positions {
        if list[p] == args[2] {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(Frame::Integer(p as i64));
            if found.len() >= want {
                break;
            }
        }
    }
    match count {
        Some(_) => Frame::Array(found),
        None => found.pop().unwrap_or(Frame::Null),
    }
}

/// Parses LEFT|RIGHT; true for LEFT.
pub fn side(arg: &[u8]) -> Option<bool> {
    if arg_is(arg, "left") {
        Some(true)
    } else if arg_is(arg, "right") {
        Some(false)
    } else {
        None
    }
}

/// LMOVE src dst LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH src dst, with both keys
/// on this shard.
pub fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (from_left, to_left) = if args.len() == 3 {
        (false, true)
    } else {
        match (side(&args[3]), side(&args[4])) {
            (Some(a), Some(b)) => (a, b),
            _ => return syntax_error(),
        }
    };
    let (src, dst) = (&args[1], &args[2]);
    // Check both types before changing anything.
    match list_mut(ctx, src) {
        Ok(Some(_)) => {}
        Ok(None) => return Frame::Null,
        Err(e) => return e,
    }
    if let Err(e) = list_mut(ctx, dst) {
        return e;
    }
    if src == dst {
        return rotate(ctx, src, from_left, to_left);
    }
    let events_before = ctx.events.len();
    let value = match pop_values(ctx, src, from_left, 1) {
        Ok(Some(mut v)) => match v.pop() {
            Some(x) => x,
            None => return Frame::Null,
        },
        Ok(None) => return Frame::Null,
        Err(e) => return e,
    };
    let events_of_pop = ctx.events.len();
    if let Err(e) = push_values(ctx, dst, std::slice::from_ref(&value), to_left, false) {
        return e;
    }
    // Redis raises the push (after the destination's `new`) before the pop
    // (and the source's `del`).
    ctx.events[events_before..].rotate_left(events_of_pop - events_before);
    log_move(ctx, src, dst, &value, from_left, to_left);
    Frame::Bulk(value)
}

/// LMOVE of a list onto itself: rotated in place. Redis never deletes the
/// list in between, so it keeps its TTL and raises only the push and the
/// pop events, in that order.
fn rotate(ctx: &mut Ctx, key: &Bytes, from_left: bool, to_left: bool) -> Frame {
    let Ok(Some(list)) = list_mut(ctx, key) else {
        return Frame::Null;
    };
    let Some(value) = (if from_left {
        list.pop_front()
    } else {
        list.pop_back()
    }) else {
        return Frame::Null;
    };
    if to_left {
        list.push_front(value.clone());
    } else {
        list.push_back(value.clone());
    }
    let single = list.len() == 1;
    ctx.changed();
    ctx.notify(ev::LIST, if to_left { "lpush" } else { "rpush" }, key);
    ctx.notify(ev::LIST, if from_left { "lpop" } else { "rpop" }, key);
    log_move(ctx, key, key, &value, from_left, to_left);
    // Replayed, the pop of a one-element list deletes it and the push makes
    // a new one without a TTL: the deadline is logged again after them.
    let deadline = ctx
        .ks
        .peek(ctx.db, key, ctx.now)
        .and_then(|e| e.expire_at());
    if let Some(at) = deadline.filter(|_| single) {
        ctx.effect(vec![
            Bytes::from_static(b"PEXPIREAT"),
            key.clone(),
            at.to_string().into(),
        ]);
    }
    Frame::Bulk(value)
}

/// LMOVE runs on the front end, not through a shard's table: its log
/// records are the pop and the push it made.
fn log_move(
    ctx: &mut Ctx,
    src: &Bytes,
    dst: &Bytes,
    value: &Bytes,
    from_left: bool,
    to_left: bool,
) {
    let pop: &'static [u8] = if from_left { b"LPOP" } else { b"RPOP" };
    let push: &'static [u8] = if to_left { b"LPUSH" } else { b"RPUSH" };
    ctx.effect(vec![Bytes::from_static(pop), src.clone()]);
    ctx.effect(vec![Bytes::from_static(push), dst.clone(), value.clone()]);
}

/// LPOP or RPOP by `args[0]`, for moves between shards.
pub fn lpop_or_rpop(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    pop(ctx, args, arg_is(&args[0], "lpop"))
}

/// SORT ... STORE's last step, on the destination's shard: replaces
/// whatever is at `args[1]` with the list of `args[2..]` (none: deletes
/// it, as Redis does); replies with its length. Logged as DEL + RPUSHes of
/// bounded size (`rewrite::commands_for`), one logical record independent
/// of the keys the result was read from, which may live on other shards.
pub fn store(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    let existed = ctx.ks.remove(ctx.db, key).is_some();
    if existed {
        ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
    }
    let items = &args[2..];
    if items.is_empty() {
        if existed {
            ctx.notify(ev::GENERIC, "del", key);
        }
        return Frame::Integer(0);
    }
    // Copied: the items were read on other cores (and as slices of their
    // values); the list owns its own, allocated here.
    let value = Value::List(items.iter().map(|b| Bytes::copy_from_slice(b)).collect());
    for argv in crate::persistence::rewrite::commands_for(key, &value, None) {
        ctx.effect(argv);
    }
    ctx.ks.insert(ctx.db, key, value, None);
    ctx.notify(ev::LIST, "sortstore", key);
    Frame::Integer(items.len() as i64)
}
