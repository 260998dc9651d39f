//! A multi-key write the dispatcher splits by shard (MSET, DEL, UNLINK whose
//! keys live on several shards; FLUSHDB, FLUSHALL and SWAPDB, which run on
//! every shard) comes back whole or not at all after a crash
//! (docs/aof.md, "Split writes"). Its parts run in parallel, each in its
//! shard's batch as before; each part logs one `SPLIT` record: its own
//! effects, and the commands of the other parts. At start-up, a part that
//! one shard's log holds and another's lacks is rolled forward on the other,
//! at the end of its log (everything that came after it there was lost with
//! it: a log is replayed as a prefix).
//!
//! Telling a lost part from one that is simply not in the log tail takes two
//! numbers, no extra record:
//! - Every split write gets an id from one counter, in dispatch order, and
//!   stays *open* until every part's reply may be shown (in the kernel;
//!   under `always` on disk). A record carries `done_below`: the lowest id
//!   open when its write was dispatched. Every write below it had shown all
//!   its parts before this record was appended, so a log that keeps this
//!   record kept them too (a kill -9 loses nothing the kernel has; after a
//!   power cut the logs are cut to one moment before which every shard's
//!   records survived). Replay forgets what is below the highest
//!   `done_below` it met, which bounds what it keeps to the writes that were
//!   in flight.
//! - A checkpoint's cut notes which writes' parts on its shard ran before it
//!   (`SplitCut`: ids below the counter's value, but those whose part there
//!   had not run yet), kept with the base in the manifest: their part is in
//!   the base, not the tail. Before the base replaces the old log, those
//!   writes end and every log is synced, so their other parts are on disk.

use super::effects::{Effects, Reader};
use crate::persistence::manifest::SplitCut;
use crate::persistence::record::{put_bytes, put_num, Args};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub const SPLIT: &[u8] = b"SPLIT";

/// One part of a split write: the shard and the command it runs there.
pub type Part = (usize, Vec<Bytes>);

/// A split write as a record holds it (`decode`): the other parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub id: u64,
    pub done_below: u64,
    pub db: usize,
    pub parts: Vec<Part>,
}

/// A split write ready to be logged by each of its parts: the parts'
/// commands are encoded once, as the records carry them (`shard argc
/// argv…`), and each part's record copies the others' bytes. (Cloning each
/// argument per part instead took one reference count per argument, shared
/// between cores, and made MSET's log twice as costly.)
#[derive(Debug)]
pub struct SplitWrite {
    pub id: u64,
    pub done_below: u64,
    pub db: usize,
    encoded: Vec<u8>,
    /// Also in the registry while the write is open.
    parts: Arc<[PartAt]>,
}

/// Where a part's command ends in `encoded` (it starts where the one
/// before ends), and whether it ran.
#[derive(Debug)]
struct PartAt {
    shard: usize,
    args: usize,
    end: usize,
    ran: AtomicBool,
}

impl SplitWrite {
    fn new<'a>(db: usize, parts: impl Iterator<Item = (usize, &'a [Bytes])> + Clone) -> Self {
        // Sized first: growing it would reallocate once per few arguments.
        let bytes = |argv: &[Bytes]| 2 * 24 + argv.iter().map(|a| 4 + a.len()).sum::<usize>();
        let mut encoded = Vec::with_capacity(parts.clone().map(|(_, argv)| bytes(argv)).sum());
        let mut at = Vec::with_capacity(parts.clone().count());
        for (shard, argv) in parts {
            put_num(&mut encoded, shard as u64);
            put_num(&mut encoded, argv.len() as u64);
            for a in argv {
                put_bytes(&mut encoded, a);
            }
            at.push(PartAt {
                shard,
                args: 2 + argv.len(),
                end: encoded.len(),
                ran: AtomicBool::new(false),
            });
        }
        SplitWrite {
            id: 0,
            done_below: 0,
            db,
            encoded,
            parts: at.into(),
        }
    }

    /// The write a decoded record names (start-up's roll-forward).
    pub fn of_plan(plan: &Plan) -> Self {
        let parts = plan.parts.iter().map(|(s, argv)| (*s, &argv[..]));
        SplitWrite {
            id: plan.id,
            done_below: plan.done_below,
            ..SplitWrite::new(plan.db, parts)
        }
    }

    /// The part on `shard` ran. Called on that shard's core, as its cut is
    /// (`at_cut`): a cut sees a part before or after it, never halfway.
    pub fn ran(&self, shard: usize) {
        for p in self.parts.iter().filter(|p| p.shard == shard) {
            p.ran.store(true, Ordering::Relaxed);
        }
    }

    /// `SPLIT id done_below db n (shard argc argv…)* effects`: the other
    /// parts' commands, then this shard's effects.
    pub fn encode(&self, shard: usize, effects: &Effects, out: &mut Args) {
        out.arg(SPLIT);
        out.num(self.id);
        out.num(self.done_below);
        out.num(self.db as u64);
        let others = self.parts.iter().filter(|p| p.shard != shard).count();
        out.num(others as u64);
        let mut start = 0;
        for p in self.parts.iter() {
            if p.shard != shard {
                out.encoded(&self.encoded[start..p.end], p.args);
            }
            start = p.end;
        }
        out.num(effects.len() as u64);
        for (db, argv) in effects {
            out.num(argv.len() as u64);
            out.num(*db as u64);
            for a in argv {
                out.arg(a);
            }
        }
    }
}

/// Split writes this process has open, and the next id (above every id a
/// log or the manifest names: `raise`).
struct Registry {
    next: u64,
    /// Open writes: id → their parts.
    open: BTreeMap<u64, Arc<[PartAt]>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 1,
    open: BTreeMap::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// An open split write: it ends when the last part drops its handle (each
/// part's command holds one until its reply may be shown).
#[derive(Debug)]
pub struct Open {
    pub write: SplitWrite,
}

impl Drop for Open {
    fn drop(&mut self) {
        registry().open.remove(&self.write.id);
    }
}

/// Opens a split write of `parts` (one per shard) in database `db`.
pub fn open<'a>(db: usize, parts: impl Iterator<Item = (usize, &'a [Bytes])> + Clone) -> Open {
    let mut write = SplitWrite::new(db, parts);
    let mut r = registry();
    write.id = r.next;
    r.next += 1;
    write.done_below = r.open.keys().next().copied().unwrap_or(write.id);
    r.open.insert(write.id, write.parts.clone());
    Open { write }
}

/// Start-up: ids from here on are at least `id`.
pub fn raise(id: u64) {
    let mut r = registry();
    r.next = r.next.max(id);
}

/// `shard`'s base is cut now: which split writes it holds (`SplitCut`), and
/// those of them still open, which must end (their other parts shown, then
/// synced) before the base replaces the log that holds their records.
pub fn at_cut(shard: usize) -> (SplitCut, Vec<u64>) {
    let r = registry();
    let mut cut = SplitCut {
        below: r.next,
        pending: Vec::new(),
    };
    let mut in_base = Vec::new();
    for (&id, parts) in &r.open {
        for p in parts.iter().filter(|p| p.shard == shard) {
            if p.ran.load(Ordering::Relaxed) {
                in_base.push(id);
            } else {
                cut.pending.push(id);
            }
        }
    }
    (cut, in_base)
}

/// Whether any of these writes is still open.
pub fn any_open(ids: &[u64]) -> bool {
    let r = registry();
    ids.iter().any(|id| r.open.contains_key(id))
}

/// The plan (other parts only) and this shard's effects of a `SPLIT` record.
pub fn decode(argv: &[Bytes]) -> Result<(Plan, Effects), String> {
    let mut r = Reader::new(argv);
    let id = r.num()? as u64;
    let done_below = r.num()? as u64;
    let db = r.num()?;
    let n = r.count(3)?;
    let mut parts = Vec::with_capacity(n);
    for _ in 0..n {
        let shard = r.num()?;
        let argc = r.count(1)?;
        if argc == 0 {
            return Err("empty part in a split record".into());
        }
        parts.push((shard, r.argv(argc)?));
    }
    let effects = r.effects()?;
    r.end()?;
    Ok((
        Plan {
            id,
            done_below,
            db,
            parts,
        },
        effects,
    ))
}

/// What replay keeps of split writes on one shard: the writes that may
/// still have been in flight when the log ends.
#[derive(Default)]
pub struct Seen {
    /// The highest `done_below` met: every write below it is whole.
    pub done_below: u64,
    /// Writes at or above `done_below` whose part this log holds, with the
    /// other parts, to roll forward what other shards lack.
    pub plans: BTreeMap<u64, Plan>,
    /// How many plans were left after the last sweep below `done_below`.
    swept: usize,
    /// The highest id met.
    pub max_id: u64,
}

impl Seen {
    /// Replay met this shard's part of `plan`.
    pub fn part(&mut self, plan: Plan) {
        self.max_id = self.max_id.max(plan.id);
        self.done_below = self.done_below.max(plan.done_below);
        if plan.id >= self.done_below {
            self.plans.insert(plan.id, plan);
        }
        // Amortized: once the map has doubled since the last sweep.
        if self.plans.len() >= 2 * self.swept.max(32) {
            self.forget_whole();
        }
    }

    fn forget_whole(&mut self) {
        self.plans = self.plans.split_off(&self.done_below);
        self.swept = self.plans.len();
    }

    /// Whether this shard's part of write `id` is in its data: replayed from
    /// the tail, whole before a `done_below` the tail holds, or in the base.
    pub fn has(&self, id: u64, base: &SplitCut) -> bool {
        id < self.done_below || base.holds(id) || self.plans.contains_key(&id)
    }

    /// The writes to check on the other shards, now that replay is done.
    pub fn in_flight(&mut self) -> Vec<Plan> {
        self.forget_whole();
        self.plans.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::record::{decode_payload, encode_placed_with, HEADER_BYTES};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn plan(id: u64, done_below: u64) -> Plan {
        Plan {
            id,
            done_below,
            db: 2,
            parts: vec![
                (0, vec![b("MSET"), b("a"), b("1")]),
                (1, vec![b("MSET"), b("b"), b("2"), b("c"), b("3")]),
            ],
        }
    }

    #[test]
    fn a_record_holds_the_other_parts_and_its_own_effects() {
        let p = plan(7, 5);
        let effects = vec![(2, vec![b("SET"), b("a"), b("1")])];
        let mut record = Vec::new();
        let write = SplitWrite::of_plan(&p);
        encode_placed_with(&mut record, 0, 2, |args| write.encode(0, &effects, args));
        let payload = Bytes::copy_from_slice(&record[HEADER_BYTES..]);
        let [(2, argv)] = &decode_payload(&payload, false).unwrap()[..] else {
            panic!("one command in database 2");
        };
        let (got, got_effects) = decode(argv).unwrap();
        assert_eq!(got_effects, effects);
        assert_eq!(got.parts, vec![p.parts[1].clone()]);
        assert_eq!((got.id, got.done_below, got.db), (7, 5, 2));
        for cut in 1..argv.len() {
            assert!(decode(&argv[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = argv.to_vec();
        huge[4] = b("18446744073709551615");
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn replay_keeps_only_what_may_have_been_in_flight() {
        let mut seen = Seen::default();
        for id in 1..1000 {
            seen.part(plan(id, id.saturating_sub(3)));
        }
        assert!(seen.plans.len() < 200, "{}", seen.plans.len());
        assert_eq!(seen.max_id, 999);
        let none = SplitCut::default();
        assert!(seen.has(10, &none), "whole before a later done_below");
        assert!(seen.has(998, &none));
        assert!(!seen.has(1000, &none));
        let base = SplitCut {
            below: 1002,
            pending: vec![1001],
        };
        assert!(seen.has(1000, &base), "in the base");
        assert!(!seen.has(1001, &base), "its part ran after the cut");
        let left: Vec<u64> = seen.in_flight().iter().map(|p| p.id).collect();
        assert_eq!(left, vec![996, 997, 998, 999]);
    }

    #[test]
    fn a_cut_knows_which_parts_ran_before_it() {
        let (x, y, z, w) = (
            [b("DEL"), b("x")],
            [b("DEL"), b("y")],
            [b("DEL"), b("z")],
            [b("DEL"), b("w")],
        );
        let a = open(0, [(0, &x[..]), (1, &y[..])].into_iter());
        let c = open(0, [(1, &z[..]), (2, &w[..])].into_iter());
        let (a_id, c_id) = (a.write.id, c.write.id);
        assert!(c.write.done_below <= a_id);
        a.write.ran(1);
        let (cut, in_base) = at_cut(1);
        assert!(cut.below > c_id);
        assert!(cut.pending.contains(&c_id) && !cut.pending.contains(&a_id));
        assert!(in_base.contains(&a_id) && !in_base.contains(&c_id));
        assert!(cut.holds(a_id) && !cut.holds(c_id));
        assert!(any_open(&in_base));
        drop(c);
        assert!(any_open(&in_base));
        drop(a);
        assert!(!any_open(&in_base));
    }
}
