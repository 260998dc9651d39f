//! Set commands on one key: SADD, SREM, membership, SPOP, SRANDMEMBER,
//! SSCAN. A set is compact (a `Vec`) while small and a hash table past the
//! limits in `keyspace::value`. The multi-key forms (SINTER, SUNION, SDIFF,
//! their STORE forms, SINTERCARD, SMOVE) work across shards and live in
//! `cross`. SPOP's random picks are logged as the SREM (or DEL) they made.

use super::hashes::{
    out_of_range_count, random_picks, random_reply_fits, scan_args, Picks, ScanArgs,
};
use super::{int_arg, wrong_type};
use crate::config::events as ev;
use crate::keyspace::{Set, Value};
use crate::protocol::Frame;
use crate::shard::Ctx;
use bytes::Bytes;

pub fn set_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Set>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            Some(Value::Set(s)) => Ok(Some(s)),
            _ => Err(wrong_type()),
        },
    }
}

pub fn set_ref<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a Set>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value() {
            Some(Value::Set(s)) => Ok(Some(s)),
            _ => Err(wrong_type()),
        },
    }
}

/// Adds members to the set at `key` (created if absent); how many were new.
pub fn add_members(ctx: &mut Ctx, key: &[u8], members: &[Bytes]) -> Result<usize, Frame> {
    if set_mut(ctx, key)?.is_none() {
        ctx.ks.insert(ctx.db, key, Value::Set(Box::default()), None);
    }
    let Some(set) = set_mut(ctx, key)? else {
        return Ok(0);
    };
    let added = members
        .iter()
        .filter(|m| set.insert(Bytes::copy_from_slice(m)))
        .count();
    if added > 0 {
        ctx.changed();
        ctx.notify(ev::SET, "sadd", key);
    }
    Ok(added)
}

pub fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match add_members(ctx, &args[1], &args[2..]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => e,
    }
}

/// Removes members; removes the key once the set is empty.
pub fn remove_members(ctx: &mut Ctx, key: &[u8], members: &[Bytes]) -> Result<usize, Frame> {
    let Some(set) = set_mut(ctx, key)? else {
        return Ok(0);
    };
    let removed = members.iter().filter(|m| set.remove(m)).count();
    let empty = set.is_empty();
    if removed > 0 {
        ctx.changed();
        ctx.notify(ev::SET, "srem", key);
    }
    if empty {
        ctx.ks.remove(ctx.db, key);
        ctx.notify(ev::GENERIC, "del", key);
    }
    Ok(removed)
}

pub fn srem(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match remove_members(ctx, &args[1], &args[2..]) {
        Ok(n) => Frame::Integer(n as i64),
        Err(e) => e,
    }
}

pub fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match set_ref(ctx, &args[1]) {
        Ok(s) => Frame::Integer(s.is_some_and(|s| s.contains(&args[2])) as i64),
        Err(e) => e,
    }
}

pub fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match set_ref(ctx, &args[1]) {
        Ok(s) => Frame::Array(
            args[2..]
                .iter()
                .map(|m| Frame::Integer(s.is_some_and(|s| s.contains(m)) as i64))
                .collect(),
        ),
        Err(e) => e,
    }
}

pub fn scard(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match set_ref(ctx, &args[1]) {
        Ok(s) => Frame::Integer(s.map_or(0, |s| s.len() as i64)),
        Err(e) => e,
    }
}

pub fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match set_ref(ctx, &args[1]) {
        Ok(s) => Frame::Set(
            s.into_iter()
                .flat_map(|s| s.iter())
                .map(|m| Frame::Bulk(m.clone()))
                .collect(),
        ),
        Err(e) => e,
    }
}

/// A SPOP/SRANDMEMBER count: SPOP wants it positive, SRANDMEMBER allows a
/// negative one (repeats allowed).
fn count_arg(args: &[Bytes], negative_ok: bool) -> Result<Option<i64>, Frame> {
    if args.len() > 3 {
        return Err(super::syntax_error());
    }
    match args.get(2) {
        None => Ok(None),
        Some(c) => match int_arg(c) {
            Ok(i64::MIN) if negative_ok => Err(out_of_range_count()),
            Ok(n) if n < 0 && !negative_ok => {
                Err(Frame::error("ERR value is out of range, must be positive"))
            }
            Ok(n) => Ok(Some(n)),
            Err(_) if !negative_ok => {
                Err(Frame::error("ERR value is out of range, must be positive"))
            }
            Err(e) => Err(e),
        },
    }
}

/// SPOP key [count]
pub fn spop(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let count = match count_arg(args, false) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let key = &args[1];
    if count.is_some() {
        // SPOP with a count looks its key up as a read in Redis: a hit or
        // a miss (and `keymiss`) is counted.
        let _ = ctx.ks.read(ctx.db, key, ctx.now);
    }
    let set = match set_mut(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) if count.is_some() => return Frame::Set(Vec::new()),
        Ok(None) => return Frame::Null,
        Err(e) => return e,
    };
    let want = count.unwrap_or(1) as usize;
    if want == 0 {
        return Frame::Set(Vec::new());
    }
    let popped: Vec<Bytes> = if want >= set.len() {
        let all: Vec<Bytes> = set.iter().cloned().collect();
        ctx.ks.remove(ctx.db, key);
        ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
        ctx.notify(ev::SET, "spop", key);
        ctx.notify(ev::GENERIC, "del", key);
        all
    } else {
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let Some(m) = set.random(crate::util::fastrand_u64).cloned() else {
                break;
            };
            set.remove(&m);
            out.push(m);
        }
        let mut effect = Vec::with_capacity(out.len() + 2);
        effect.push(Bytes::from_static(b"SREM"));
        effect.push(key.clone());
        effect.extend(out.iter().cloned());
        ctx.effect(effect);
        ctx.notify(ev::SET, "spop", key);
        out
    };
    match count {
        None => popped.into_iter().next().map_or(Frame::Null, Frame::Bulk),
        Some(_) => Frame::Set(popped.into_iter().map(Frame::Bulk).collect()),
    }
}

/// SRANDMEMBER key [count]: read-only.
pub fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let count = match count_arg(args, true) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let set = match set_ref(ctx, &args[1]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let Some(count) = count else {
        return set
            .and_then(|s| s.random(crate::util::fastrand_u64))
            .map_or(Frame::Null, |m| Frame::Bulk(m.clone()));
    };
    let Some(set) = set else {
        return Frame::Array(Vec::new());
    };
    let members: Vec<&Bytes> = set.iter().collect();
    let picked: Vec<Frame> = match random_picks(members.len(), count) {
        Err(e) => return e,
        Ok(Picks::All) => members
            .into_iter()
            .map(|m| Frame::Bulk(m.clone()))
            .collect(),
        Ok(Picks::Indexes(ix)) => {
            if let Err(e) = random_reply_fits(ix.iter().map(|&i| members[i].len())) {
                return e;
            }
            ix.into_iter()
                .map(|i| Frame::Bulk(members[i].clone()))
                .collect()
        }
    };
    // Repeats possible with a negative count: an array, not a set.
    if count < 0 {
        Frame::Array(picked)
    } else {
        Frame::Set(picked)
    }
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let sa = match scan_args(args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let set = match set_ref(ctx, &args[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return ScanArgs::reply(0, Vec::new()),
        Err(e) => return e,
    };
    let mut items = Vec::new();
    let next = set.scan(sa.cursor, sa.count, |m| {
        if sa.matches(m) {
            items.push(Frame::Bulk(m.clone()));
        }
    });
    ScanArgs::reply(next, items)
}

/// Replaces whatever is at `args[1]` with the set of `args[2..]` (the STORE
/// forms, once the members were gathered from every shard; `args[0]` names
/// the command, for its keyspace event); an empty result deletes the key.
/// Logged as DEL + SADDs of bounded size (`rewrite::commands_for`), one
/// logical record: replay must not depend on the source keys, which may
/// live on other shards.
pub fn store(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    // Replaced in place (no `new` event, as Redis), logged as a DEL first.
    let existed = ctx.ks.contains(ctx.db, key, ctx.now);
    if existed {
        ctx.effect(vec![Bytes::from_static(b"DEL"), key.clone()]);
    }
    if args.len() == 2 && existed {
        ctx.ks.remove(ctx.db, key);
        ctx.notify(ev::GENERIC, "del", key);
    }
    if args.len() > 2 {
        let event = match args[0].to_ascii_lowercase().as_slice() {
            b"sinterstore" => "sinterstore",
            b"sdiffstore" => "sdiffstore",
            _ => "sunionstore",
        };
        let mut set = Set::default();
        for m in &args[2..] {
            set.insert(m.clone());
        }
        let n = set.len();
        let value = Value::Set(Box::new(set));
        for argv in crate::persistence::rewrite::commands_for(key, &value, None) {
            ctx.effect(argv);
        }
        ctx.ks.insert(ctx.db, key, value, None);
        ctx.notify(ev::SET, event, key);
        return Frame::Integer(n as i64);
    }
    Frame::Integer(0)
}
