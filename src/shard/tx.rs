//! The log records of a write that spans shards, and what a shard keeps of
//! them (docs/aof.md, "Writes that span shards"). One shard, the holder,
//! logs `TX` with its own effects and the whole plan: what each other shard
//! (a follower) is to check and do, and how to undo each part. Each follower
//! logs `TXPART` with what it did (or `TXUNDO` when it undid it); the holder
//! closes the write with `TXEND`, carrying its own undo when the write was
//! called off. Each record wraps the effect records of its shard, replayed
//! one by one through the ordinary handler (`commands::apply_logged`).

pub use super::effects::Effects;
use super::effects::{num, put_effects, Reader};
use bytes::Bytes;
use hashbrown::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub const TX: &[u8] = b"TX";
pub const TXPART: &[u8] = b"TXPART";
pub const TXUNDO: &[u8] = b"TXUNDO";
pub const TXEND: &[u8] = b"TXEND";

/// Whether `name` (a record's first argument) is one of these records, or
/// a split write's (`split`).
pub fn is_tx_record(name: &[u8]) -> bool {
    [TX, TXPART, TXUNDO, TXEND, super::split::SPLIT]
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
}

/// What a follower checks, in one step with applying its effects; if the
/// check fails the follower changes nothing and the write is undone.
#[derive(Clone, Debug, PartialEq)]
pub enum Guard {
    Always,
    /// None of these keys exists (RENAMENX, MSETNX).
    Absent(Vec<Bytes>),
    /// The key is absent or holds this type ("list", "set").
    TypeOrNone(Bytes, Bytes),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Follower {
    pub shard: usize,
    pub guard: Guard,
    pub effects: Effects,
    /// Applied on the follower if a later follower refuses.
    pub undo: Effects,
    /// The event raised on the follower in place of its effects' (RENAME's
    /// `rename_to` on the destination); not logged: replay raises none.
    pub raises: Option<(&'static str, Bytes)>,
}

/// A write across shards as its holder logs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub txid: Bytes,
    pub db: usize,
    /// What the holder did (replayed at the record's place).
    pub effects: Effects,
    /// What puts the holder back if a follower refuses.
    pub undo: Effects,
    pub followers: Vec<Follower>,
}

/// Cross-shard writes this process has going: one bit per shard (ids below
/// 64) whose snapshot cut waits for its writes to end; no new write that
/// involves such a shard starts meanwhile.
static CUT_WAITING: AtomicU64 = AtomicU64::new(0);

fn bit(shard: usize) -> u64 {
    if shard < 64 {
        1 << shard
    } else {
        0
    }
}

pub fn set_cut_waiting(shard: usize, waiting: bool) {
    if waiting {
        CUT_WAITING.fetch_or(bit(shard), Ordering::SeqCst);
    } else {
        CUT_WAITING.fetch_and(!bit(shard), Ordering::SeqCst);
    }
}

pub fn cut_waiting(shard: usize) -> bool {
    CUT_WAITING.load(Ordering::SeqCst) & bit(shard) != 0
}

/// What a follower's log says of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSeen {
    Applied,
    Undone,
}

/// A shard's side of cross-shard writes.
#[derive(Default)]
pub struct TxState {
    /// Writes this shard logged a record of whose `TXEND` is not yet known
    /// durable: the shard's snapshot cut waits until none is left.
    pub open: usize,
    /// Replay: `TX` records without their `TXEND`, in log order.
    pub unresolved: Vec<Plan>,
    /// Replay: the follower records seen in this shard's log.
    pub parts: HashMap<Bytes, PartSeen>,
    /// Replay: split writes whose part this log holds (`split`).
    pub split: super::split::Seen,
}

impl TxState {
    /// Replay met `TXEND txid`.
    pub fn ended(&mut self, txid: &[u8]) {
        if let Some(i) = self.unresolved.iter().rposition(|p| p.txid == txid) {
            self.unresolved.remove(i);
        }
    }
}

fn guard_argv(g: &Guard) -> Vec<Bytes> {
    match g {
        Guard::Always => vec![Bytes::from_static(b"ALWAYS")],
        Guard::Absent(keys) => {
            let mut v = vec![Bytes::from_static(b"ABSENT")];
            v.extend(keys.iter().cloned());
            v
        }
        Guard::TypeOrNone(key, t) => vec![Bytes::from_static(b"TYPE"), key.clone(), t.clone()],
    }
}

/// `TX txid db holder-effects holder-undo n (shard guard effects undo)*`.
pub fn encode_plan(plan: &Plan) -> Vec<Bytes> {
    let mut out = vec![Bytes::from_static(TX), plan.txid.clone(), num(plan.db)];
    put_effects(&mut out, &plan.effects);
    put_effects(&mut out, &plan.undo);
    out.push(num(plan.followers.len()));
    for f in &plan.followers {
        out.push(num(f.shard));
        let g = guard_argv(&f.guard);
        out.push(num(g.len()));
        out.extend(g);
        put_effects(&mut out, &f.effects);
        put_effects(&mut out, &f.undo);
    }
    out
}

/// `TXPART|TXUNDO|TXEND txid effects`.
pub fn encode_step(kind: &'static [u8], txid: &Bytes, effects: &Effects) -> Vec<Bytes> {
    let mut out = vec![Bytes::from_static(kind), txid.clone()];
    put_effects(&mut out, effects);
    out
}

/// A follower's guard, as `guard_argv` wrote it.
fn read_guard(r: &mut Reader) -> Result<Guard, String> {
    let n = r.count(1)?;
    let g = r.argv(n)?;
    match g.first().map(|b| b.as_ref()) {
        Some(b"ALWAYS") => Ok(Guard::Always),
        Some(b"ABSENT") => Ok(Guard::Absent(g[1..].to_vec())),
        Some(b"TYPE") if g.len() == 3 => Ok(Guard::TypeOrNone(g[1].clone(), g[2].clone())),
        _ => Err("bad guard in a transaction record".into()),
    }
}

pub fn decode_plan(argv: &[Bytes]) -> Result<Plan, String> {
    let mut r = Reader::new(argv);
    let txid = r.next()?.clone();
    let db = r.num()?;
    let effects = r.effects()?;
    let undo = r.effects()?;
    let n = r.count(4)?;
    let mut followers = Vec::with_capacity(n);
    for _ in 0..n {
        let shard = r.num()?;
        let guard = read_guard(&mut r)?;
        let effects = r.effects()?;
        let undo = r.effects()?;
        followers.push(Follower {
            shard,
            guard,
            effects,
            undo,
            raises: None,
        });
    }
    r.end()?;
    Ok(Plan {
        txid,
        db,
        effects,
        undo,
        followers,
    })
}

/// (txid, effects) of a `TXPART`, `TXUNDO` or `TXEND` record.
pub fn decode_step(argv: &[Bytes]) -> Result<(Bytes, Effects), String> {
    let mut r = Reader::new(argv);
    let txid = r.next()?.clone();
    let effects = r.effects()?;
    r.end()?;
    Ok((txid, effects))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn plan_and_steps_round_trip() {
        let plan = Plan {
            txid: b("run-0-1"),
            db: 3,
            effects: vec![(3, vec![b("LPOP"), b("src")])],
            undo: vec![(3, vec![b("LPUSH"), b("src"), b("v")])],
            followers: vec![
                Follower {
                    shard: 1,
                    guard: Guard::TypeOrNone(b("dst"), b("list")),
                    effects: vec![(3, vec![b("RPUSH"), b("dst"), b("v")])],
                    undo: vec![],
                    raises: None,
                },
                Follower {
                    shard: 2,
                    guard: Guard::Absent(vec![b("a"), b("b")]),
                    effects: vec![],
                    undo: vec![(3, vec![b("DEL"), b("a")])],
                    raises: None,
                },
            ],
        };
        let argv = encode_plan(&plan);
        assert_eq!(decode_plan(&argv), Ok(plan.clone()));
        let step = encode_step(TXPART, &plan.txid, &plan.effects);
        assert_eq!(decode_step(&step), Ok((plan.txid.clone(), plan.effects)));
    }

    #[test]
    fn damaged_records_are_errors() {
        let plan = Plan {
            txid: b("t"),
            db: 0,
            effects: vec![(0, vec![b("DEL"), b("k")])],
            undo: vec![],
            followers: vec![],
        };
        let argv = encode_plan(&plan);
        for cut in 1..argv.len() {
            assert!(decode_plan(&argv[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = argv.clone();
        huge[3] = b("18446744073709551615");
        assert!(decode_plan(&huge).is_err());
        assert!(decode_step(&[b("TXEND")]).is_err());
    }
}
