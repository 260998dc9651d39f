//! Property tests: random operation sequences on a list and on a sorted set
//! (ZMPOP, ZUNION and ZINTERCARD included),
//! run against the real server and against a simple model (a `VecDeque`, a
//! `BTreeMap`), comparing every reply. Sorted sets run in both forms: a case
//! starts compact or already converted, and bulk adds (past 128 members) and
//! a long member (past 64 bytes) convert it midway; OBJECT ENCODING is
//! checked against the model after every step.

mod collections_common;
use collections_common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};

fn strs(v: impl IntoIterator<Item = String>) -> R {
    R::Arr(v.into_iter().map(R::Str).collect())
}

fn norm(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let s = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let e = if stop < 0 { len + stop } else { stop }.min(len - 1);
    (s <= e && s < len).then_some((s as usize, e as usize))
}

#[derive(Debug, Clone)]
enum ListOp {
    Push(bool, Vec<u8>),
    Pop(bool, Option<usize>),
    Range(i64, i64),
    Index(i64),
    Set(i64, u8),
    Rem(i64, u8),
    Trim(i64, i64),
    Insert(bool, u8, u8),
    Len,
    Pos(u8),
}

fn list_op() -> impl Strategy<Value = ListOp> {
    let v = 0u8..4;
    let i = -6i64..6;
    prop_oneof![
        3 => (any::<bool>(), prop::collection::vec(v.clone(), 1..4)).prop_map(|(l, v)| ListOp::Push(l, v)),
        2 => (any::<bool>(), prop::option::of(0usize..4)).prop_map(|(l, c)| ListOp::Pop(l, c)),
        2 => (i.clone(), i.clone()).prop_map(|(a, b)| ListOp::Range(a, b)),
        1 => i.clone().prop_map(ListOp::Index),
        1 => (i.clone(), v.clone()).prop_map(|(a, b)| ListOp::Set(a, b)),
        1 => (-3i64..3, v.clone()).prop_map(|(a, b)| ListOp::Rem(a, b)),
        1 => (i.clone(), i).prop_map(|(a, b)| ListOp::Trim(a, b)),
        1 => (any::<bool>(), v.clone(), v.clone()).prop_map(|(a, p, x)| ListOp::Insert(a, p, x)),
        1 => Just(ListOp::Len),
        1 => v.prop_map(ListOp::Pos),
    ]
}

/// Applies `op` to the model; returns the command and the expected reply.
fn list_step(m: &mut VecDeque<String>, op: &ListOp) -> (Vec<String>, R) {
    let s = |x: &str| x.to_string();
    let e = |x: &u8| format!("e{x}");
    match op {
        ListOp::Push(left, vals) => {
            let mut cmd = vec![s(if *left { "LPUSH" } else { "RPUSH" }), s("l")];
            for v in vals {
                cmd.push(e(v));
                if *left {
                    m.push_front(e(v));
                } else {
                    m.push_back(e(v));
                }
            }
            (cmd, R::Int(m.len() as i64))
        }
        ListOp::Pop(left, count) => {
            let mut cmd = vec![s(if *left { "LPOP" } else { "RPOP" }), s("l")];
            let existed = !m.is_empty();
            let n = count.unwrap_or(1).min(m.len());
            let popped: Vec<String> = (0..n)
                .filter_map(|_| if *left { m.pop_front() } else { m.pop_back() })
                .collect();
            match count {
                None => (cmd, popped.into_iter().next().map_or(R::Nil, R::Str)),
                Some(c) => {
                    cmd.push(c.to_string());
                    (cmd, if existed { strs(popped) } else { R::Nil })
                }
            }
        }
        ListOp::Range(a, b) => {
            let r =
                norm(*a, *b, m.len()).map_or(vec![], |(x, y)| m.range(x..=y).cloned().collect());
            (
                vec![s("LRANGE"), s("l"), a.to_string(), b.to_string()],
                strs(r),
            )
        }
        ListOp::Index(i) => {
            let ix = if *i < 0 { m.len() as i64 + i } else { *i };
            let r = (ix >= 0).then(|| m.get(ix as usize).cloned()).flatten();
            (
                vec![s("LINDEX"), s("l"), i.to_string()],
                r.map_or(R::Nil, R::Str),
            )
        }
        ListOp::Set(i, v) => {
            let cmd = vec![s("LSET"), s("l"), i.to_string(), e(v)];
            if m.is_empty() {
                return (cmd, R::Err(s("ERR no such key")));
            }
            let ix = if *i < 0 { m.len() as i64 + i } else { *i };
            if ix < 0 || ix as usize >= m.len() {
                return (cmd, R::Err(s("ERR index out of range")));
            }
            m[ix as usize] = e(v);
            (cmd, R::Str(s("OK")))
        }
        ListOp::Rem(count, v) => {
            let cmd = vec![s("LREM"), s("l"), count.to_string(), e(v)];
            let target = e(v);
            let limit = if *count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut removed = 0;
            let mut idx: Vec<usize> = (0..m.len()).collect();
            if *count < 0 {
                idx.reverse();
            }
            let mut gone = Vec::new();
            for i in idx {
                if removed < limit && m[i] == target {
                    gone.push(i);
                    removed += 1;
                }
            }
            gone.sort_unstable();
            for i in gone.into_iter().rev() {
                m.remove(i);
            }
            (cmd, R::Int(removed as i64))
        }
        ListOp::Trim(a, b) => {
            match norm(*a, *b, m.len()) {
                None => m.clear(),
                Some((x, y)) => {
                    m.truncate(y + 1);
                    m.drain(..x);
                }
            }
            (
                vec![s("LTRIM"), s("l"), a.to_string(), b.to_string()],
                R::Str(s("OK")),
            )
        }
        ListOp::Insert(after, p, x) => {
            let cmd = vec![
                s("LINSERT"),
                s("l"),
                s(if *after { "AFTER" } else { "BEFORE" }),
                e(p),
                e(x),
            ];
            if m.is_empty() {
                return (cmd, R::Int(0));
            }
            match m.iter().position(|v| *v == e(p)) {
                None => (cmd, R::Int(-1)),
                Some(i) => {
                    m.insert(i + *after as usize, e(x));
                    (cmd, R::Int(m.len() as i64))
                }
            }
        }
        ListOp::Len => (vec![s("LLEN"), s("l")], R::Int(m.len() as i64)),
        ListOp::Pos(v) => {
            let r = m.iter().position(|x| *x == e(v));
            (
                vec![s("LPOS"), s("l"), e(v)],
                r.map_or(R::Nil, |i| R::Int(i as i64)),
            )
        }
    }
}

#[derive(Debug, Clone)]
enum ZOp {
    Add(Vec<(i8, u8)>, u8),
    Rem(u8),
    Incr(i8, u8),
    Range(i64, i64, bool),
    ByScore(i8, i8, bool),
    Rank(u8),
    Count(i8, i8),
    Pop(bool, u8),
    RemRank(i64, i64),
    Card,
    /// ZMPOP from a missing key and `z`: MIN or MAX, COUNT.
    MPop(bool, u8),
    /// ZUNION 2 z z WEIGHTS 1 w WITHSCORES.
    UnionSelf(i8),
    /// ZINTERCARD 2 z z LIMIT n.
    InterCard(u8),
    /// ZADD of `GROW_MEMBERS` members `g<batch>-<i>`, score i % 5 - 2.
    Grow(u8),
    /// ZADD of a member longer than the compact form holds.
    AddLong(i8),
}

/// Members one `Grow` adds: two batches pass the compact form's 128.
const GROW_MEMBERS: usize = 70;
/// Longer than the compact form's longest member (64 bytes).
const LONG_MEMBER_BYTES: usize = 65;

fn long_member() -> String {
    format!("L{}", "x".repeat(LONG_MEMBER_BYTES - 1))
}

fn z_op() -> impl Strategy<Value = ZOp> {
    let m = 0u8..8;
    let sc = -4i8..5;
    prop_oneof![
        4 => (prop::collection::vec((sc.clone(), m.clone()), 1..4), 0u8..4).prop_map(|(p, f)| ZOp::Add(p, f)),
        1 => m.clone().prop_map(ZOp::Rem),
        1 => (sc.clone(), m.clone()).prop_map(|(a, b)| ZOp::Incr(a, b)),
        2 => (-6i64..6, -6i64..6, any::<bool>()).prop_map(|(a, b, r)| ZOp::Range(a, b, r)),
        2 => (sc.clone(), sc.clone(), any::<bool>()).prop_map(|(a, b, x)| ZOp::ByScore(a, b, x)),
        1 => m.prop_map(ZOp::Rank),
        1 => (sc.clone(), sc).prop_map(|(a, b)| ZOp::Count(a, b)),
        1 => (any::<bool>(), 0u8..3).prop_map(|(a, b)| ZOp::Pop(a, b)),
        1 => (-4i64..4, -4i64..4).prop_map(|(a, b)| ZOp::RemRank(a, b)),
        1 => Just(ZOp::Card),
        1 => (any::<bool>(), 1u8..4).prop_map(|(a, b)| ZOp::MPop(a, b)),
        1 => (-2i8..3).prop_map(ZOp::UnionSelf),
        1 => (0u8..4).prop_map(ZOp::InterCard),
        1 => (0u8..3).prop_map(ZOp::Grow),
        1 => (-4i8..5).prop_map(ZOp::AddLong),
    ]
}

/// The model's elements in (score, member) order.
fn ordered(m: &BTreeMap<String, i64>) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = m.iter().map(|(k, s)| (*s, k.clone())).collect();
    v.sort();
    v
}

/// Takes the `count` lowest (or highest) elements out of the model.
fn pop_model(m: &mut BTreeMap<String, i64>, max: bool, count: u8) -> Vec<(i64, String)> {
    let mut o = ordered(m);
    if max {
        o.reverse();
    }
    let taken: Vec<(i64, String)> = o.into_iter().take(count as usize).collect();
    for (_, k) in &taken {
        m.remove(k);
    }
    taken
}

fn z_step(m: &mut BTreeMap<String, i64>, op: &ZOp) -> (Vec<String>, R) {
    let s = |x: &str| x.to_string();
    let mem = |x: &u8| format!("m{x}");
    match op {
        ZOp::Add(pairs, flag) => {
            // 0: none, 1: NX, 2: XX, 3: GT CH
            let mut cmd = vec![s("ZADD"), s("z")];
            match flag {
                1 => cmd.push(s("NX")),
                2 => cmd.push(s("XX")),
                3 => cmd.extend([s("GT"), s("CH")]),
                _ => {}
            }
            let mut n = 0;
            for (sc, x) in pairs {
                cmd.push(sc.to_string());
                cmd.push(mem(x));
                let sc = *sc as i64;
                match m.get(&mem(x)).copied() {
                    Some(cur) => {
                        let update = match flag {
                            1 => false,
                            3 => sc > cur,
                            _ => true,
                        };
                        if update && sc != cur {
                            m.insert(mem(x), sc);
                            if *flag == 3 {
                                n += 1;
                            }
                        }
                    }
                    None if *flag != 2 => {
                        m.insert(mem(x), sc);
                        n += 1;
                    }
                    None => {}
                }
            }
            (cmd, R::Int(n))
        }
        ZOp::Rem(x) => (
            vec![s("ZREM"), s("z"), mem(x)],
            R::Int(m.remove(&mem(x)).is_some() as i64),
        ),
        ZOp::Incr(d, x) => {
            let v = m.get(&mem(x)).copied().unwrap_or(0) + *d as i64;
            m.insert(mem(x), v);
            (
                vec![s("ZINCRBY"), s("z"), d.to_string(), mem(x)],
                R::Str(v.to_string()),
            )
        }
        ZOp::Range(a, b, rev) => {
            let mut o = ordered(m);
            if *rev {
                o.reverse();
            }
            let r = norm(*a, *b, o.len()).map_or(vec![], |(x, y)| {
                o[x..=y]
                    .iter()
                    .flat_map(|(s, k)| [k.clone(), s.to_string()])
                    .collect()
            });
            let mut cmd = vec![s("ZRANGE"), s("z"), a.to_string(), b.to_string()];
            if *rev {
                cmd.push(s("REV"));
            }
            cmd.push(s("WITHSCORES"));
            (cmd, strs(r))
        }
        ZOp::ByScore(lo, hi, excl) => {
            let (lo, hi) = (*lo as i64, *hi as i64);
            let r = ordered(m)
                .into_iter()
                .filter(|(s, _)| {
                    if *excl {
                        *s > lo && *s < hi
                    } else {
                        *s >= lo && *s <= hi
                    }
                })
                .map(|(_, k)| k);
            let b = |x: i64| {
                if *excl {
                    format!("({x}")
                } else {
                    x.to_string()
                }
            };
            (vec![s("ZRANGEBYSCORE"), s("z"), b(lo), b(hi)], strs(r))
        }
        ZOp::Rank(x) => {
            let r = ordered(m).iter().position(|(_, k)| *k == mem(x));
            (
                vec![s("ZRANK"), s("z"), mem(x)],
                r.map_or(R::Nil, |i| R::Int(i as i64)),
            )
        }
        ZOp::Count(lo, hi) => {
            let n = m
                .values()
                .filter(|&&v| v >= *lo as i64 && v <= *hi as i64)
                .count();
            (
                vec![s("ZCOUNT"), s("z"), lo.to_string(), hi.to_string()],
                R::Int(n as i64),
            )
        }
        ZOp::Pop(max, count) => {
            let taken = pop_model(m, *max, *count);
            let cmd = vec![
                s(if *max { "ZPOPMAX" } else { "ZPOPMIN" }),
                s("z"),
                count.to_string(),
            ];
            (
                cmd,
                strs(taken.into_iter().flat_map(|(s, k)| [k, s.to_string()])),
            )
        }
        ZOp::RemRank(a, b) => {
            let o = ordered(m);
            let gone = norm(*a, *b, o.len()).map_or(vec![], |(x, y)| o[x..=y].to_vec());
            for (_, k) in &gone {
                m.remove(k);
            }
            (
                vec![s("ZREMRANGEBYRANK"), s("z"), a.to_string(), b.to_string()],
                R::Int(gone.len() as i64),
            )
        }
        ZOp::Card => (vec![s("ZCARD"), s("z")], R::Int(m.len() as i64)),
        ZOp::MPop(max, count) => {
            let taken = pop_model(m, *max, *count);
            let cmd = vec![
                s("ZMPOP"),
                s("2"),
                s("nokey"),
                s("z"),
                s(if *max { "MAX" } else { "MIN" }),
                s("COUNT"),
                count.to_string(),
            ];
            let want = if taken.is_empty() {
                R::Nil
            } else {
                R::Arr(vec![
                    R::Str(s("z")),
                    R::Arr(
                        taken
                            .into_iter()
                            .map(|(s, k)| strs([k, s.to_string()]))
                            .collect(),
                    ),
                ])
            };
            (cmd, want)
        }
        ZOp::UnionSelf(w) => {
            let f = 1 + *w as i64;
            let mut v: Vec<(i64, String)> = m.iter().map(|(k, s)| (s * f, k.clone())).collect();
            v.sort();
            let cmd = [
                "ZUNION",
                "2",
                "z",
                "z",
                "WEIGHTS",
                "1",
                &w.to_string(),
                "WITHSCORES",
            ];
            (
                cmd.iter().map(|x| x.to_string()).collect(),
                strs(v.into_iter().flat_map(|(s, k)| [k, s.to_string()])),
            )
        }
        ZOp::Grow(batch) => {
            let mut cmd = vec![s("ZADD"), s("z")];
            let mut n = 0;
            for i in 0..GROW_MEMBERS {
                let (score, member) = (i as i64 % 5 - 2, format!("g{batch}-{i}"));
                cmd.extend([score.to_string(), member.clone()]);
                n += m.insert(member, score).is_none() as i64;
            }
            (cmd, R::Int(n))
        }
        ZOp::AddLong(score) => {
            let new = m.insert(long_member(), *score as i64).is_none();
            (
                vec![s("ZADD"), s("z"), score.to_string(), long_member()],
                R::Int(new as i64),
            )
        }
        ZOp::InterCard(limit) => {
            let n = match *limit as usize {
                0 => m.len(),
                l => m.len().min(l),
            };
            let cmd = ["ZINTERCARD", "2", "z", "z", "LIMIT", &limit.to_string()];
            (
                cmd.iter().map(|x| x.to_string()).collect(),
                R::Int(n as i64),
            )
        }
    }
}

/// Cases per property: enough to shake out ordering and edge cases while
/// the whole file stays within about a second.
const CASES: u32 = 48;

#[test]
fn lists_match_a_vecdeque() {
    let server = Server::start();
    let con = std::cell::RefCell::new(server.con());
    let mut runner = TestRunner::new(Config::with_cases(CASES));
    let ops = prop::collection::vec(list_op(), 1..40);
    runner
        .run(&ops, |ops| {
            let mut con = con.borrow_mut();
            let con = &mut *con;
            run(con, &["DEL".into(), "l".into()]);
            let mut model = VecDeque::new();
            for op in &ops {
                let (cmd, want) = list_step(&mut model, op);
                let got = run(con, &cmd);
                prop_assert_eq!(&got, &want, "{:?}", cmd);
                let exists = run(con, &["EXISTS".into(), "l".into()]);
                prop_assert_eq!(
                    exists,
                    R::Int(!model.is_empty() as i64),
                    "an empty list must vanish"
                );
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

/// How a sorted-set case starts: empty (compact), or holding `m0` in the
/// full form, converted by a long member or by more than 128 members that
/// were then removed (a set never converts back).
fn z_start(con: &mut redis::Connection, start: u8) -> BTreeMap<String, i64> {
    let s = |x: &str| x.to_string();
    run(con, &[s("DEL"), s("z")]);
    let extra: Vec<String> = match start {
        0 => return BTreeMap::new(),
        1 => vec![long_member()],
        _ => (0..=128).map(|i| format!("f{i}")).collect(),
    };
    let mut add = vec![s("ZADD"), s("z"), s("0"), s("m0")];
    add.extend(extra.iter().flat_map(|m| [s("1"), m.clone()]));
    run(con, &add);
    let mut rem = vec![s("ZREM"), s("z")];
    rem.extend(extra);
    run(con, &rem);
    BTreeMap::from([(s("m0"), 0)])
}

/// OBJECT ENCODING z as the model predicts it: compact until it has held
/// more than 128 members or a member over 64 bytes, and compact again once
/// the key is gone and recreated.
fn z_encoding(model: &BTreeMap<String, i64>, converted: &mut bool) -> R {
    if model.is_empty() {
        *converted = false;
        return R::Nil;
    }
    *converted |= model.len() > 128 || model.keys().any(|k| k.len() > 64);
    R::Str(if *converted { "skiplist" } else { "listpack" }.into())
}

#[test]
fn sorted_sets_match_a_btreemap() {
    let server = Server::start();
    let con = std::cell::RefCell::new(server.con());
    let mut runner = TestRunner::new(Config::with_cases(CASES));
    let ops = (0u8..3, prop::collection::vec(z_op(), 1..40));
    // Steps run in each form, and conversions seen midway.
    let (compact_steps, full_steps, conversions) = (Cell::new(0), Cell::new(0), Cell::new(0));
    runner
        .run(&ops, |(start, ops)| {
            let mut con = con.borrow_mut();
            let con = &mut *con;
            let mut model = z_start(con, start);
            let mut converted = start > 0;
            for op in &ops {
                let was_converted = converted;
                let (cmd, want) = z_step(&mut model, op);
                let got = run(con, &cmd);
                prop_assert_eq!(&got, &want, "{:?}", cmd);
                let encoding = run(con, &["OBJECT".into(), "ENCODING".into(), "z".into()]);
                prop_assert_eq!(
                    &encoding,
                    &z_encoding(&model, &mut converted),
                    "after {:?}",
                    cmd
                );
                let count = if converted {
                    &full_steps
                } else {
                    &compact_steps
                };
                count.set(count.get() + 1);
                conversions.set(conversions.get() + (converted && !was_converted) as u32);
            }
            let exists = run(con, &["EXISTS".into(), "z".into()]);
            prop_assert_eq!(exists, R::Int(!model.is_empty() as i64));
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
    let (compact, full, conversions) = (compact_steps.get(), full_steps.get(), conversions.get());
    assert!(
        compact > 100 && full > 100 && conversions > 3,
        "both forms exercised: {compact} compact steps, {full} full, {conversions} conversions"
    );
}
