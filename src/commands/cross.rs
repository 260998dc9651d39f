//! Collection commands whose keys may live on different shards: LMOVE and
//! RPOPLPUSH, SMOVE, SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD,
//! ZUNION/ZINTER/ZDIFF and their STORE forms, ZINTERCARD, ZRANGESTORE. They run on the connection's core and coordinate
//! the owning shards with jobs over the mesh.
//!
//! When every key lives on one shard, moves run there as one step. Across
//! shards a move is one cross-shard write (`commands::tx`): the source shard
//! pops or removes the element (after checking both keys' types), the
//! destination pushes or adds it if its type still fits, else the element
//! goes back; after a crash at any moment the move happened entirely or not
//! at all. The STORE forms gather the inputs (read-only), compute on this
//! core, and replace the destination in one step logged as DEL + SADD/ZADD
//! of the result, so each shard's log replays on its own (ZRANGESTORE with
//! both keys on one shard runs there as one step).

use super::tx::{self, HolderPart, HolderStep};
use super::{arg_is, int_arg, syntax_error, unavailable, wrong_type};
use super::{lists, sets, zsets};
use crate::keyspace::Value;
use crate::node::{join_all, Node};
use crate::protocol::Frame;
use crate::router;
use crate::shard::tx::{Follower, Guard};
use crate::shard::{Access, Ctx, ShardFn, Ticket};
use crate::util::now_ms;
use bytes::Bytes;
use hashbrown::{HashMap, HashSet};

/// LMOVE, RPOPLPUSH and their blocking forms are `write` and `denyoom` in
/// Redis: over maxmemory they evict first, or are refused.
const MOVE_ACCESS: Access = Access::Grow;

pub(super) fn shard_of(node: &Node, key: &[u8]) -> usize {
    router::shard_of(key, node.shard_count)
}

/// Runs a shard command on `shard`, with its effects logged there; with
/// `appendfsync always` the reply waits until they are durable.
pub(super) async fn run_shard_cmd(
    node: &Node,
    shard: usize,
    f: ShardFn,
    db: usize,
    argv: Vec<Bytes>,
) -> Frame {
    run_shard_cmd_as(node, shard, f, db, argv, Access::Write).await
}

/// `run_shard_cmd` for a command with other flags than `write` alone: `Grow`
/// (`denyoom`) evicts first or is refused over maxmemory, as Redis does.
pub(super) async fn run_shard_cmd_as(
    node: &Node,
    shard: usize,
    f: ShardFn,
    db: usize,
    argv: Vec<Bytes>,
    access: Access,
) -> Frame {
    run_on_shard(node, shard, f, db, argv, None, access).await
}

/// `run_shard_cmd` for a woken blocked client: its `ticket` is handed back on the
/// shard right before the command runs, so the command's own write wakes the
/// next client in line (see `shard::Waiters`).
pub(super) async fn run_shard_cmd_with_ticket(
    node: &Node,
    shard: usize,
    f: ShardFn,
    db: usize,
    argv: Vec<Bytes>,
    ticket: Option<Ticket>,
) -> Frame {
    run_on_shard(node, shard, f, db, argv, ticket, Access::Write).await
}

async fn run_on_shard(
    node: &Node,
    shard: usize,
    f: ShardFn,
    db: usize,
    argv: Vec<Bytes>,
    ticket: Option<Ticket>,
    access: Access,
) -> Frame {
    let done = node
        .run_durably(shard, move |n: &Node| {
            drop(ticket);
            let mut sh = n.shard.borrow_mut();
            let position = sh.log_position();
            (sh.run(f, db, &argv, now_ms(), access), position)
        })
        .await;
    done.unwrap_or_else(unavailable)
}

/// The type name of the value at `key` ("none" if absent).
/// The source's type for a move, after the checks every write passes on its
/// shard: as in Redis, a refused write (MISCONF, OOM) says so before any
/// reply about the keys.
async fn admitted_type_of(
    node: &Node,
    db: usize,
    key: &Bytes,
    access: Access,
) -> Result<&'static str, Frame> {
    let k = key.clone();
    node.run_on(shard_of(node, key), move |n: &Node| {
        let mut sh = n.shard.borrow_mut();
        let now = now_ms();
        sh.admit(access, now)?;
        Ok(sh
            .keyspace
            .lookup(db, &k, now)
            .map_or("none", |e| e.type_name()))
    })
    .await
    .unwrap_or_else(|| Err(unavailable()))
}

pub(super) async fn type_of(node: &Node, db: usize, key: &Bytes) -> &'static str {
    let k = key.clone();
    node.run_on(shard_of(node, key), move |n: &Node| {
        n.shard
            .borrow_mut()
            .keyspace
            .lookup(db, &k, now_ms())
            .map_or("none", |e| e.type_name())
    })
    .await
    .unwrap_or("none")
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// LMOVE src dst LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH src dst.
pub(super) async fn lmove(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let (from_left, to_left) = if args.len() == 3 {
        (false, true)
    } else {
        match (lists::side(&args[3]), lists::side(&args[4])) {
            (Some(a), Some(b)) => (a, b),
            _ => return syntax_error(),
        }
    };
    let (src, dst) = (&args[1], &args[2]);
    let (from, to) = (shard_of(node, src), shard_of(node, dst));
    if from == to {
        return run_shard_cmd_as(node, from, lists::lmove, db, args.to_vec(), MOVE_ACCESS).await;
    }
    match admitted_type_of(node, db, src, MOVE_ACCESS).await {
        Err(refused) => return refused,
        Ok("none") => return Frame::Null,
        Ok("list") => {}
        Ok(_) => return wrong_type(),
    }
    if !matches!(type_of(node, db, dst).await, "none" | "list") {
        return wrong_type();
    }
    let pop: &'static [u8] = if from_left { b"LPOP" } else { b"RPOP" };
    let push: &'static [u8] = if to_left { b"LPUSH" } else { b"RPUSH" };
    let back: &'static [u8] = if from_left { b"LPUSH" } else { b"RPUSH" };
    let (src, dst) = (src.clone(), dst.clone());
    let step: HolderStep = Box::new(move |sh, now| {
        let popped = sh.run(
            lists::lpop_or_rpop,
            db,
            &argv(&[pop, &src]),
            now,
            MOVE_ACCESS,
        );
        let Frame::Bulk(v) = popped else {
            return Err(popped);
        };
        Ok(HolderPart {
            reply: Frame::Bulk(v.clone()),
            // The destination changed type meanwhile: the element goes back.
            undo: vec![(db, argv(&[back, &src, &v]))],
            followers: vec![Follower {
                shard: to,
                guard: Guard::TypeOrNone(dst.clone(), Bytes::from_static(b"list")),
                effects: vec![(db, argv(&[push, &dst, &v]))],
                undo: Vec::new(),
                raises: None,
            }],
        })
    });
    tx::run(
        node,
        db,
        from,
        vec![from, to],
        MOVE_ACCESS,
        wrong_type(),
        step,
    )
    .await
}

/// SMOVE with both keys on this shard: one step. The destination is only
/// looked at until the member is known to be new there: as in Redis, it
/// counts as changed (WATCH, tracking) only when the member is added.
fn smove_here(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    match sets::set_mut(ctx, src) {
        Ok(Some(_)) => {}
        Ok(None) => return Frame::Integer(0),
        Err(e) => return e,
    }
    let in_dst = match ctx.ks.peek(ctx.db, dst, ctx.now).map(|e| e.value()) {
        None => false,
        Some(Some(Value::Set(s))) => s.contains(member),
        Some(_) => return wrong_type(),
    };
    if src == dst {
        return Frame::Integer(in_dst as i64);
    }
    match sets::remove_members(ctx, src, std::slice::from_ref(member)) {
        Ok(0) => return Frame::Integer(0),
        Ok(_) => {}
        Err(e) => return e,
    }
    // SMOVE cannot be replayed through a shard: log its halves.
    ctx.effect(vec![
        Bytes::from_static(b"SREM"),
        src.clone(),
        member.clone(),
    ]);
    if !in_dst {
        if let Err(e) = sets::add_members(ctx, dst, std::slice::from_ref(member)) {
            return e;
        }
        ctx.effect(vec![
            Bytes::from_static(b"SADD"),
            dst.clone(),
            member.clone(),
        ]);
    }
    Frame::Integer(1)
}

/// SMOVE src dst member
pub(super) async fn smove(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let (from, to) = (shard_of(node, src), shard_of(node, dst));
    if from == to {
        return run_shard_cmd(node, from, smove_here, db, args.to_vec()).await;
    }
    match admitted_type_of(node, db, src, Access::Write).await {
        Err(refused) => return refused,
        Ok("none") => return Frame::Integer(0),
        Ok("set") => {}
        Ok(_) => return wrong_type(),
    }
    if !matches!(type_of(node, db, dst).await, "none" | "set") {
        return wrong_type();
    }
    let (src, dst, member) = (src.clone(), dst.clone(), member.clone());
    let step: HolderStep = Box::new(move |sh, now| {
        match sh.run(
            sets::srem,
            db,
            &argv(&[b"SREM", &src, &member]),
            now,
            Access::Write,
        ) {
            Frame::Integer(1) => {}
            other => return Err(other),
        }
        Ok(HolderPart {
            reply: Frame::Integer(1),
            undo: vec![(db, argv(&[b"SADD", &src, &member]))],
            followers: vec![Follower {
                shard: to,
                guard: Guard::TypeOrNone(dst.clone(), Bytes::from_static(b"set")),
                effects: vec![(db, argv(&[b"SADD", &dst, &member]))],
                undo: Vec::new(),
                raises: None,
            }],
        })
    });
    // SMOVE has no `denyoom` flag in Redis.
    tx::run(
        node,
        db,
        from,
        vec![from, to],
        Access::Write,
        wrong_type(),
        step,
    )
    .await
}

/// Reads every key on its own shard, all in parallel, through `extract`
/// (`None` from it: the key holds the wrong type). A missing key gives `None`
/// in the result; a wrong type anywhere gives WRONGTYPE.
async fn fetch_all<T: Send + 'static>(
    node: &Node,
    db: usize,
    keys: &[Bytes],
    extract: fn(&Value) -> Option<T>,
) -> Result<Vec<Option<T>>, Frame> {
    let fetched = join_all(keys.iter().map(|k| {
        let k = k.clone();
        node.read_shown(shard_of(node, &k), move |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            match sh.keyspace.read(db, &k, now_ms()) {
                None => Ok(None),
                // A string (held inline: no `Value`) is never what a
                // collection command extracts.
                Some(e) => e.value().and_then(extract).map(Some).ok_or(()),
            }
        })
    }))
    .await;
    let mut out = Vec::with_capacity(keys.len());
    for f in fetched {
        match f {
            None => return Err(unavailable()),
            Some(Err(())) => return Err(wrong_type()),
            Some(Ok(s)) => out.push(s),
        }
    }
    Ok(out)
}

/// The members of each key's set (`None`: no such key).
async fn fetch_sets(
    node: &Node,
    db: usize,
    keys: &[Bytes],
) -> Result<Vec<Option<Vec<Bytes>>>, Frame> {
    fetch_all(node, db, keys, |v| match v {
        Value::Set(s) => Some(s.iter().cloned().collect()),
        _ => None,
    })
    .await
}

#[derive(Clone, Copy)]
pub(super) enum SetOp {
    Inter,
    Union,
    Diff,
}

fn compute(op: SetOp, sets: Vec<Option<Vec<Bytes>>>, limit: usize) -> Vec<Bytes> {
    match op {
        SetOp::Inter => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sets: Vec<Vec<Bytes>> = sets.into_iter().flatten().collect();
            sets.sort_by_key(Vec::len);
            let Some((first, rest)) = sets.split_first() else {
                return Vec::new();
            };
            let rest: Vec<HashSet<&Bytes>> = rest.iter().map(|s| s.iter().collect()).collect();
            first
                .iter()
                .filter(|m| rest.iter().all(|s| s.contains(m)))
                .take(limit)
                .cloned()
                .collect()
        }
        SetOp::Union => {
            let mut seen = HashSet::new();
            sets.into_iter()
                .flatten()
                .flatten()
                .filter(|m| seen.insert(m.clone()))
                .collect()
        }
        SetOp::Diff => {
            let mut it = sets.into_iter();
            let Some(Some(first)) = it.next() else {
                return Vec::new();
            };
            let rest: HashSet<Bytes> = it.flatten().flatten().collect();
            first.into_iter().filter(|m| !rest.contains(m)).collect()
        }
    }
}

/// SINTER/SUNION/SDIFF key..., and with `dst` their STORE forms.
pub(super) async fn set_op(
    node: &Node,
    db: usize,
    op: SetOp,
    keys: &[Bytes],
    dst: Option<&Bytes>,
) -> Frame {
    let sets = match fetch_sets(node, db, keys).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let result = compute(op, sets, usize::MAX);
    match dst {
        None => Frame::Set(result.into_iter().map(Frame::Bulk).collect()),
        Some(dst) => {
            let mut argv = Vec::with_capacity(result.len() + 2);
            argv.push(Bytes::from_static(match op {
                SetOp::Inter => b"SINTERSTORE",
                SetOp::Union => b"SUNIONSTORE",
                SetOp::Diff => b"SDIFFSTORE",
            }));
            argv.push(dst.clone());
            argv.extend(result);
            run_shard_cmd_as(
                node,
                shard_of(node, dst),
                sets::store,
                db,
                argv,
                Access::Grow,
            )
            .await
        }
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub(super) async fn sintercard(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let numkeys = match crate::util::parse_i64(&args[1]) {
        Some(n) if n > 0 => n as usize,
        _ => return Frame::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Frame::error("ERR Number of keys can't be greater than number of args");
    }
    let keys = &args[2..2 + numkeys];
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if arg_is(&args[i], "limit") && i + 1 < args.len() {
            match crate::util::parse_i64(&args[i + 1]) {
                Some(n) if n >= 0 => limit = n as usize,
                Some(_) => return Frame::error("ERR LIMIT can't be negative"),
                None => return Frame::error("ERR LIMIT can't be negative"),
            }
            i += 2;
        } else {
            return syntax_error();
        }
    }
    let sets = match fetch_sets(node, db, keys).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let limit = if limit == 0 { usize::MAX } else { limit };
    Frame::Integer(compute(SetOp::Inter, sets, limit).len() as i64)
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            // inf + -inf is NaN: Redis makes it 0.
            Aggregate::Sum => {
                let s = a + b;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}

/// The (member, score) pairs of a sorted set or set (score 1) per key.
async fn fetch_scored(
    node: &Node,
    db: usize,
    keys: &[Bytes],
) -> Result<Vec<Option<Vec<(Bytes, f64)>>>, Frame> {
    fetch_all(node, db, keys, |v| match v {
        Value::ZSet(z) => Some(z.iter().map(|(m, s)| (m.clone(), s)).collect()),
        Value::Set(s) => Some(s.iter().map(|m| (m.clone(), 1.0)).collect()),
        _ => None,
    })
    .await
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ZOp {
    Union,
    Inter,
    Diff,
}

/// What a ZUNION/ZINTER/ZDIFF form does with its result.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum ZOut {
    /// ZUNION, ZINTER, ZDIFF: reply with it.
    Reply,
    /// The STORE forms: replace the key at `args[1]` with it.
    Store,
    /// ZINTERCARD: reply with its size.
    Card,
}

/// The options after the keys of a ZUNION/ZINTER/ZDIFF form.
struct ZOptions {
    weights: Vec<f64>,
    agg: Aggregate,
    with_scores: bool,
    /// ZINTERCARD's LIMIT; 0: none.
    limit: usize,
}

/// Parses `[WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES] [LIMIT n]`
/// as far as the form allows each (ZDIFF: no WEIGHTS or AGGREGATE; only
/// ZINTERCARD has LIMIT, and neither it nor the STORE forms WITHSCORES).
fn zop_options(op: ZOp, out: ZOut, numkeys: usize, opts: &[Bytes]) -> Result<ZOptions, Frame> {
    let mut o = ZOptions {
        weights: vec![1.0; numkeys],
        agg: Aggregate::Sum,
        with_scores: false,
        limit: 0,
    };
    let scored = op != ZOp::Diff && out != ZOut::Card;
    let mut i = 0;
    while i < opts.len() {
        let (word, rest) = (&opts[i], &opts[i + 1..]);
        if scored && arg_is(word, "weights") && rest.len() >= numkeys {
            for (w, arg) in o.weights.iter_mut().zip(rest) {
                *w = crate::util::parse_double(arg)
                    .ok_or_else(|| Frame::error("ERR weight value is not a float"))?;
            }
            i += 1 + numkeys;
        } else if scored && arg_is(word, "aggregate") && !rest.is_empty() {
            let a = &rest[0];
            o.agg = if arg_is(a, "sum") {
                Aggregate::Sum
            } else if arg_is(a, "min") {
                Aggregate::Min
            } else if arg_is(a, "max") {
                Aggregate::Max
            } else {
                return Err(syntax_error());
            };
            i += 2;
        } else if out == ZOut::Reply && arg_is(word, "withscores") {
            o.with_scores = true;
            i += 1;
        } else if out == ZOut::Card && arg_is(word, "limit") && !rest.is_empty() {
            o.limit = match crate::util::parse_i64(&rest[0]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(Frame::error("ERR LIMIT can't be negative")),
            };
            i += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(o)
}

/// ZUNION, ZINTER, ZDIFF numkeys key... [options], their STORE forms (which
/// take `dst` first) and ZINTERCARD; sets count as sorted sets with score 1.
pub(super) async fn zset_op(
    node: &Node,
    db: usize,
    name: &str,
    args: &[Bytes],
    op: ZOp,
    out: ZOut,
) -> Frame {
    let numkeys_at = if out == ZOut::Store { 2 } else { 1 };
    let numkeys = match int_arg(&args[numkeys_at]) {
        Ok(n) if n >= 1 => n as usize,
        Ok(_) => {
            return Frame::error(format!(
                "ERR at least 1 input key is needed for '{name}' command"
            ))
        }
        Err(e) => return e,
    };
    let after = &args[numkeys_at + 1..];
    if numkeys > after.len() {
        return syntax_error();
    }
    let (keys, opts) = after.split_at(numkeys);
    let options = zop_options(op, out, numkeys, opts);
    // As in Redis, a key of the wrong type is reported before a bad option.
    let inputs = match fetch_scored(node, db, keys).await {
        Ok(s) => s,
        Err(e) => return e,
    };
    let o = match options {
        Ok(o) => o,
        Err(e) => return e,
    };
    let result = combine(op, inputs, &o.weights, o.agg);
    match out {
        ZOut::Card if o.limit > 0 => Frame::Integer(result.len().min(o.limit) as i64),
        ZOut::Card => Frame::Integer(result.len() as i64),
        ZOut::Reply if o.with_scores => Frame::Pairs(
            result
                .into_iter()
                .map(|(m, s)| (Frame::Bulk(m), zsets::score_frame(s)))
                .collect(),
        ),
        ZOut::Reply => Frame::Array(result.into_iter().map(|(m, _)| Frame::Bulk(m)).collect()),
        ZOut::Store => {
            // The command's name: its keyspace event.
            let mut argv = vec![args[0].clone(), args[1].clone()];
            for (m, s) in result {
                argv.push(Bytes::from(crate::util::format_double(s + 0.0)));
                argv.push(m);
            }
            run_shard_cmd_as(
                node,
                shard_of(node, &args[1]),
                zsets::store,
                db,
                argv,
                Access::Grow,
            )
            .await
        }
    }
}

/// The result of a ZUNION/ZINTER/ZDIFF over `inputs` (`None`: no such key),
/// ordered by score then member, as Redis replies with it.
fn combine(
    op: ZOp,
    inputs: Vec<Option<Vec<(Bytes, f64)>>>,
    weights: &[f64],
    agg: Aggregate,
) -> Vec<(Bytes, f64)> {
    // A weight times a score can be NaN (0 * inf): Redis makes it 0.
    let weigh = |s: f64, w: f64| {
        let x = s * w;
        if x.is_nan() {
            0.0
        } else {
            x
        }
    };
    let numkeys = inputs.len();
    let mut result: Vec<(Bytes, f64)> = match op {
        ZOp::Diff => {
            let mut it = inputs.into_iter();
            let first = it.next().flatten().unwrap_or_default();
            let rest: HashSet<Bytes> = it.flatten().flatten().map(|(m, _)| m).collect();
            first
                .into_iter()
                .filter(|(m, _)| !rest.contains(m))
                .collect()
        }
        ZOp::Inter if inputs.iter().any(Option::is_none) => Vec::new(),
        ZOp::Union | ZOp::Inter => {
            // Member → (aggregated score, how many inputs hold it).
            let mut acc: HashMap<Bytes, (f64, usize)> = HashMap::new();
            for (input, &w) in inputs.into_iter().zip(weights) {
                for (m, s) in input.into_iter().flatten() {
                    let x = weigh(s, w);
                    acc.entry(m)
                        .and_modify(|(v, n)| {
                            *v = agg.apply(*v, x);
                            *n += 1;
                        })
                        .or_insert((x, 1));
                }
            }
            acc.into_iter()
                .filter(|(_, (_, n))| op == ZOp::Union || *n == numkeys)
                .map(|(m, (s, _))| (m, s))
                .collect()
        }
    };
    // -0 and 0 are one score in the order (ties by member); the reply keeps
    // the sign (`ZUNION ... WEIGHTS -1` of a 0 is -0 in Redis), a stored set
    // does not.
    result.sort_by(|a, b| {
        (a.1 + 0.0)
            .total_cmp(&(b.1 + 0.0))
            .then_with(|| a.0.cmp(&b.0))
    });
    result
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub(super) async fn zrangestore(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let (dst, src) = (&args[1], &args[2]);
    let (from, to) = (shard_of(node, src), shard_of(node, dst));
    if from == to {
        return run_shard_cmd_as(
            node,
            from,
            zsets::zrangestore,
            db,
            args.to_vec(),
            Access::Grow,
        )
        .await;
    }
    let picked = match run_shard_cmd_as(
        node,
        from,
        zsets::rangestore_source,
        db,
        args.to_vec(),
        Access::Read,
    )
    .await
    {
        Frame::Array(items) => items,
        other => return other,
    };
    let mut argv = vec![Bytes::from_static(b"ZRANGESTORE"), dst.clone()];
    argv.extend(picked.into_iter().filter_map(|f| match f {
        Frame::Bulk(b) => Some(b),
        _ => None,
    }));
    run_shard_cmd_as(node, to, zsets::store, db, argv, Access::Grow).await
}
