//! Property tests: random operation sequences on a hash and on a set, run
//! against the real server and against a simple model (a `BTreeMap`, a
//! `BTreeSet`), comparing every reply. Small alphabets make collisions
//! common; occasional bulk ops (>128 fields or members) and long values
//! (>64 bytes) push the encodings from compact to table.

mod collections_common;
use collections_common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::{BTreeMap, BTreeSet};

/// The strings of an array reply (a non-array or non-string is a failure).
fn arr_strs(r: &R) -> Result<Vec<String>, TestCaseError> {
    match r {
        R::Arr(a) => a
            .iter()
            .map(|x| match x {
                R::Str(s) => Ok(s.clone()),
                other => Err(TestCaseError::fail(format!("not a string: {other:?}"))),
            })
            .collect(),
        other => Err(TestCaseError::fail(format!("not an array: {other:?}"))),
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

// ---------------------------------------------------------------- hashes

/// Field names: `f0`..`f7`; bulk fields are `b<i>`.
fn fld(x: u8) -> String {
    format!("f{x}")
}

/// Values: 0..=3 are numbers, 4..=6 words, 7 a long (>64 bytes) word.
fn val(x: u8) -> String {
    match x {
        0..=3 => format!("{}", x as i64 - 1),
        4..=6 => format!("v{x}"),
        _ => "L".repeat(70),
    }
}

#[derive(Debug, Clone)]
enum HOp {
    Set(Vec<(u8, u8)>),
    SetNx(u8, u8),
    Del(Vec<u8>),
    Get(u8),
    MGet(Vec<u8>),
    Exists(u8),
    Len,
    StrLen(u8),
    IncrBy(u8, i8),
    Keys,
    Vals,
    GetAll,
    Bulk(u16),
    KeyExists,
    Type,
}

fn h_op() -> impl Strategy<Value = HOp> {
    let f = 0u8..8;
    let v = 0u8..8;
    prop_oneof![
        5 => prop::collection::vec((f.clone(), v.clone()), 1..4).prop_map(HOp::Set),
        1 => (f.clone(), v).prop_map(|(a, b)| HOp::SetNx(a, b)),
        3 => prop::collection::vec(f.clone(), 1..3).prop_map(HOp::Del),
        2 => f.clone().prop_map(HOp::Get),
        1 => prop::collection::vec(f.clone(), 1..4).prop_map(HOp::MGet),
        1 => f.clone().prop_map(HOp::Exists),
        1 => Just(HOp::Len),
        1 => f.clone().prop_map(HOp::StrLen),
        2 => (f, -3i8..4).prop_map(|(a, d)| HOp::IncrBy(a, d)),
        1 => Just(HOp::Keys),
        1 => Just(HOp::Vals),
        1 => Just(HOp::GetAll),
        1 => (100u16..160).prop_map(HOp::Bulk),
        1 => Just(HOp::KeyExists),
        1 => Just(HOp::Type),
    ]
}

/// What to compare: an exact reply, or an array compared as a multiset.
enum Want {
    Exact(R),
    Unordered(Vec<String>),
    /// HGETALL: pairs in any order.
    Pairs(Vec<(String, String)>),
}

fn h_step(m: &mut BTreeMap<String, String>, op: &HOp) -> (Vec<String>, Want) {
    use Want::*;
    let k = || s("h");
    match op {
        HOp::Set(pairs) => {
            let mut cmd = vec![s("HSET"), k()];
            let mut added = 0;
            for (f, v) in pairs {
                cmd.push(fld(*f));
                cmd.push(val(*v));
                added += m.insert(fld(*f), val(*v)).is_none() as i64;
            }
            (cmd, Exact(R::Int(added)))
        }
        HOp::SetNx(f, v) => {
            let cmd = vec![s("HSETNX"), k(), fld(*f), val(*v)];
            let new = !m.contains_key(&fld(*f));
            if new {
                m.insert(fld(*f), val(*v));
            }
            (cmd, Exact(R::Int(new as i64)))
        }
        HOp::Del(fs) => {
            let mut cmd = vec![s("HDEL"), k()];
            let mut n = 0;
            for f in fs {
                cmd.push(fld(*f));
                n += m.remove(&fld(*f)).is_some() as i64;
            }
            (cmd, Exact(R::Int(n)))
        }
        HOp::Get(f) => (
            vec![s("HGET"), k(), fld(*f)],
            Exact(m.get(&fld(*f)).cloned().map_or(R::Nil, R::Str)),
        ),
        HOp::MGet(fs) => {
            let mut cmd = vec![s("HMGET"), k()];
            let mut r = Vec::new();
            for f in fs {
                cmd.push(fld(*f));
                r.push(m.get(&fld(*f)).cloned().map_or(R::Nil, R::Str));
            }
            (cmd, Exact(R::Arr(r)))
        }
        HOp::Exists(f) => (
            vec![s("HEXISTS"), k(), fld(*f)],
            Exact(R::Int(m.contains_key(&fld(*f)) as i64)),
        ),
        HOp::Len => (vec![s("HLEN"), k()], Exact(R::Int(m.len() as i64))),
        HOp::StrLen(f) => (
            vec![s("HSTRLEN"), k(), fld(*f)],
            Exact(R::Int(m.get(&fld(*f)).map_or(0, |v| v.len() as i64))),
        ),
        HOp::IncrBy(f, d) => {
            let cmd = vec![s("HINCRBY"), k(), fld(*f), d.to_string()];
            let cur = match m.get(&fld(*f)) {
                None => 0,
                Some(v) => match v.parse::<i64>() {
                    Ok(n) => n,
                    Err(_) => return (cmd, Exact(R::Err(s("ERR hash value is not an integer")))),
                },
            };
            let next = cur + *d as i64;
            m.insert(fld(*f), next.to_string());
            (cmd, Exact(R::Int(next)))
        }
        HOp::Keys => (
            vec![s("HKEYS"), k()],
            Unordered(m.keys().cloned().collect()),
        ),
        HOp::Vals => (
            vec![s("HVALS"), k()],
            Unordered(m.values().cloned().collect()),
        ),
        HOp::GetAll => (
            vec![s("HGETALL"), k()],
            Pairs(m.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
        ),
        HOp::Bulk(n) => {
            let mut cmd = vec![s("HSET"), k()];
            let mut added = 0;
            for i in 0..*n {
                let (f, v) = (format!("b{i}"), format!("w{}", i % 5));
                added += m.insert(f.clone(), v.clone()).is_none() as i64;
                cmd.push(f);
                cmd.push(v);
            }
            (cmd, Exact(R::Int(added)))
        }
        HOp::KeyExists => (vec![s("EXISTS"), k()], Exact(R::Int(!m.is_empty() as i64))),
        HOp::Type => (
            vec![s("TYPE"), k()],
            Exact(R::Str(s(if m.is_empty() { "none" } else { "hash" }))),
        ),
    }
}

fn check(got: &R, want: &Want, cmd: &[String]) -> Result<(), TestCaseError> {
    match want {
        Want::Exact(w) => prop_assert_eq!(got, w, "{:?}", cmd),
        Want::Unordered(w) => {
            prop_assert_eq!(sorted(arr_strs(got)?), sorted(w.clone()), "{:?}", cmd)
        }
        Want::Pairs(w) => {
            let flat = arr_strs(got)?;
            prop_assert!(flat.len() % 2 == 0, "odd HGETALL reply {:?}", flat);
            let mut pairs: Vec<(String, String)> = flat
                .chunks(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            pairs.sort();
            let mut w = w.clone();
            w.sort();
            prop_assert_eq!(pairs, w, "{:?}", cmd);
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ sets

/// Members: `m0`..`m8`, and 9 a long (>64 bytes) one.
fn mem(x: u8) -> String {
    match x {
        9 => "M".repeat(70),
        _ => format!("m{x}"),
    }
}

#[derive(Debug, Clone)]
enum SOp {
    Add(Vec<u8>),
    Rem(Vec<u8>),
    IsMember(u8),
    MIsMember(Vec<u8>),
    Card,
    Members,
    Pop(u16),
    RandPos(u16),
    RandNeg(u16),
    Bulk(u16),
    KeyExists,
    Type,
}

fn s_op() -> impl Strategy<Value = SOp> {
    let m = 0u8..10;
    prop_oneof![
        5 => prop::collection::vec(m.clone(), 1..4).prop_map(SOp::Add),
        3 => prop::collection::vec(m.clone(), 1..3).prop_map(SOp::Rem),
        2 => m.clone().prop_map(SOp::IsMember),
        1 => prop::collection::vec(m, 1..4).prop_map(SOp::MIsMember),
        1 => Just(SOp::Card),
        2 => Just(SOp::Members),
        2 => prop_oneof![0u16..5, 100u16..200].prop_map(SOp::Pop),
        2 => prop_oneof![1u16..6, 100u16..200].prop_map(SOp::RandPos),
        2 => prop_oneof![1u16..6, 100u16..200].prop_map(SOp::RandNeg),
        1 => (100u16..170).prop_map(SOp::Bulk),
        1 => Just(SOp::KeyExists),
        1 => Just(SOp::Type),
    ]
}

fn s_check(
    con: &mut redis::Connection,
    m: &mut BTreeSet<String>,
    op: &SOp,
) -> Result<(), TestCaseError> {
    let k = || s("s");
    let exact = |con: &mut redis::Connection, cmd: Vec<String>, want: R| {
        let got = run(con, &cmd);
        prop_assert_eq!(got, want, "{:?}", cmd);
        Ok(())
    };
    match op {
        SOp::Add(ms) => {
            let mut cmd = vec![s("SADD"), k()];
            let mut n = 0;
            for x in ms {
                cmd.push(mem(*x));
                n += m.insert(mem(*x)) as i64;
            }
            exact(con, cmd, R::Int(n))
        }
        SOp::Rem(ms) => {
            let mut cmd = vec![s("SREM"), k()];
            let mut n = 0;
            for x in ms {
                cmd.push(mem(*x));
                n += m.remove(&mem(*x)) as i64;
            }
            exact(con, cmd, R::Int(n))
        }
        SOp::IsMember(x) => exact(
            con,
            vec![s("SISMEMBER"), k(), mem(*x)],
            R::Int(m.contains(&mem(*x)) as i64),
        ),
        SOp::MIsMember(xs) => {
            let mut cmd = vec![s("SMISMEMBER"), k()];
            cmd.extend(xs.iter().map(|x| mem(*x)));
            let want = R::Arr(
                xs.iter()
                    .map(|x| R::Int(m.contains(&mem(*x)) as i64))
                    .collect(),
            );
            exact(con, cmd, want)
        }
        SOp::Card => exact(con, vec![s("SCARD"), k()], R::Int(m.len() as i64)),
        SOp::Members => {
            let cmd = vec![s("SMEMBERS"), k()];
            let got = sorted(arr_strs(&run(con, &cmd))?);
            prop_assert_eq!(got, m.iter().cloned().collect::<Vec<_>>(), "{:?}", cmd);
            Ok(())
        }
        SOp::Pop(c) => {
            let cmd = vec![s("SPOP"), k(), c.to_string()];
            let got = arr_strs(&run(con, &cmd))?;
            prop_assert_eq!(got.len(), (*c as usize).min(m.len()), "{:?}", cmd);
            for x in &got {
                prop_assert!(m.remove(x), "{:?}: popped {} twice or not a member", cmd, x);
            }
            Ok(())
        }
        SOp::RandPos(c) => {
            let cmd = vec![s("SRANDMEMBER"), k(), c.to_string()];
            let got = arr_strs(&run(con, &cmd))?;
            prop_assert_eq!(got.len(), (*c as usize).min(m.len()), "{:?}", cmd);
            let distinct: BTreeSet<String> = got.iter().cloned().collect();
            prop_assert_eq!(distinct.len(), got.len(), "{:?}: repeats {:?}", cmd, got);
            prop_assert!(distinct.is_subset(m), "{:?}: {:?} not in model", cmd, got);
            Ok(())
        }
        SOp::RandNeg(c) => {
            let cmd = vec![s("SRANDMEMBER"), k(), format!("-{c}")];
            let got = arr_strs(&run(con, &cmd))?;
            let want_len = if m.is_empty() { 0 } else { *c as usize };
            prop_assert_eq!(got.len(), want_len, "{:?}", cmd);
            prop_assert!(
                got.iter().all(|x| m.contains(x)),
                "{:?}: {:?} not in model",
                cmd,
                got
            );
            Ok(())
        }
        SOp::Bulk(n) => {
            let mut cmd = vec![s("SADD"), k()];
            let mut added = 0;
            for i in 0..*n {
                let x = format!("b{i}");
                added += m.insert(x.clone()) as i64;
                cmd.push(x);
            }
            exact(con, cmd, R::Int(added))
        }
        SOp::KeyExists => exact(con, vec![s("EXISTS"), k()], R::Int(!m.is_empty() as i64)),
        SOp::Type => exact(
            con,
            vec![s("TYPE"), k()],
            R::Str(s(if m.is_empty() { "none" } else { "set" })),
        ),
    }
}

/// Cases per property: enough to shake out edge cases while the whole file
/// stays within a few seconds.
const CASES: u32 = 48;

#[test]
fn hashes_match_a_btreemap() {
    let server = Server::start();
    let con = std::cell::RefCell::new(server.con());
    let mut runner = TestRunner::new(Config::with_cases(CASES));
    let ops = prop::collection::vec(h_op(), 1..60);
    runner
        .run(&ops, |ops| {
            let mut con = con.borrow_mut();
            let con = &mut *con;
            run(con, &["DEL".into(), "h".into()]);
            let mut model = BTreeMap::new();
            for op in &ops {
                let (cmd, want) = h_step(&mut model, op);
                let got = run(con, &cmd);
                check(&got, &want, &cmd)?;
                let exists = run(con, &["EXISTS".into(), "h".into()]);
                prop_assert_eq!(
                    exists,
                    R::Int(!model.is_empty() as i64),
                    "an empty hash must vanish (after {:?})",
                    cmd
                );
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

#[test]
fn sets_match_a_btreeset() {
    let server = Server::start();
    let con = std::cell::RefCell::new(server.con());
    let mut runner = TestRunner::new(Config::with_cases(CASES));
    let ops = prop::collection::vec(s_op(), 1..60);
    runner
        .run(&ops, |ops| {
            let mut con = con.borrow_mut();
            let con = &mut *con;
            run(con, &["DEL".into(), "s".into()]);
            let mut model = BTreeSet::new();
            for op in &ops {
                s_check(con, &mut model, op)?;
                let exists = run(con, &["EXISTS".into(), "s".into()]);
                prop_assert_eq!(
                    exists,
                    R::Int(!model.is_empty() as i64),
                    "an empty set must vanish (after {:?})",
                    op
                );
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}
