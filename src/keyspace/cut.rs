//! A snapshot in progress, as the keyspace sees it. At the cut nothing is
//! copied: the snapshot writer then serializes the shard's slots one by one
//! in the background. A key that a command is about to change in a slot the
//! writer has not reached is serialized first, alone (serialize-before-mutate,
//! per key), and remembered, so that the writer skips it when it gets to its
//! slot; so is a key created there after the cut. Each key is thus serialized
//! exactly once, as it was at the cut, so the file is the state at the cut
//! and the extra memory is the records not yet written plus the keys
//! remembered, a bounded share of each slot (`SKIP_SHARE`).
//!
//! Serializing the whole slot instead (as this did first) made a change cost
//! its slot's every key: with a few hundred keys per slot and random keys,
//! nearly every write early in a snapshot serialized a slot on the request
//! path, so the clients did most of the snapshot's work, unpaced, in its
//! first second (docs/snapshots.md has the figures).
//!
//! FLUSHDB/FLUSHALL during a snapshot hand their tables to the cut instead of
//! dropping them: the writer serializes the unvisited slots from there.
//! SWAPDB during a snapshot only renumbers: the cut keeps, for each
//! database as numbered at the cut, which live database now holds its
//! tables, and writes every record under the number of the cut.

use super::{Db, Entry};
use bytes::Bytes;
use hashbrown::{HashMap, HashSet, HashTable};

/// A slot's remembered keys (see the module comment) may reach this
/// fraction of its keys (1/8), and at least `SKIP_MIN`; one more serializes
/// the rest of the slot on the spot. That bounds the memory they take, and
/// the slot's serialization is then paid for by the changes that led to it.
const SKIP_SHARE: usize = 8;
const SKIP_MIN: usize = 8;

type KeySet = HashSet<Bytes, ahash::RandomState>;

/// The writer asks the CPU for the key of the entry this many places ahead
/// while it serializes one: a key lives in its own heap allocation, and
/// waiting for it to come from memory was the writer's largest cost
/// (perf: a third of its time in the copy of the key's bytes).
const PREFETCH_AHEAD: usize = 8;

/// What a snapshot's cut did, for its log line and for measuring where the
/// work went: slots the writer serialized, slots a change made serialize
/// on the request path, and keys serialized alone before their change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutStats {
    pub writer_slots: u64,
    pub forced_slots: u64,
    pub forced_keys: u64,
}

/// Appends the records of entry `e` of database `db` (the snapshot format)
/// from its item `from` on. Between two records it stops once the buffer
/// holds `stop_at` bytes, and returns the item to go on from; `None` once
/// the entry is complete. So a big value is written over several steps.
pub type EncodeFn = fn(&mut Vec<u8>, usize, &Entry, usize, usize) -> Option<usize>;

/// Where the writer stopped inside a slot, in the middle of a big value.
/// The slot's tables and the value are unchanged until it goes on: any
/// change to the slot first serializes the rest of it.
#[derive(Clone, Copy)]
struct Resume {
    slot: usize,
    db: usize,
    /// The entry's position in its table's iteration order.
    entry: usize,
    item: usize,
}

pub struct Cut {
    encode: EncodeFn,
    /// One bit per slot of the shard: serialized already.
    done: Vec<u64>,
    left: usize,
    /// The next slot the writer visits.
    next: usize,
    resume: Option<Resume>,
    /// Records serialized and not yet taken by the writer, and their keys.
    out: Vec<u8>,
    keys: u64,
    /// Per database, the tables a flush detached after the cut.
    frozen: Vec<Option<Vec<HashTable<Entry>>>>,
    /// Per database as numbered at the cut, the live database that holds
    /// its tables now (SWAPDB since the cut); `cut_of` is the inverse.
    /// Everything else here is numbered as at the cut.
    live_of: Vec<usize>,
    cut_of: Vec<usize>,
    /// Per (slot, database) not yet serialized, the keys the writer must
    /// skip there: serialized already before a change, or created after
    /// the cut. `skipping` has a bit per slot that has any.
    skips: HashMap<(u32, u8), KeySet, ahash::RandomState>,
    skipping: Vec<u64>,
    pub stats: CutStats,
}

impl Cut {
    pub fn new(encode: EncodeFn, slots: usize, databases: usize) -> Cut {
        Cut {
            encode,
            done: vec![0; slots.div_ceil(64)],
            left: slots,
            next: 0,
            resume: None,
            out: Vec::new(),
            keys: 0,
            frozen: (0..databases).map(|_| None).collect(),
            live_of: (0..databases).collect(),
            cut_of: (0..databases).collect(),
            skips: HashMap::default(),
            skipping: vec![0; slots.div_ceil(64)],
            stats: CutStats::default(),
        }
    }

    pub fn is_done(&self, slot: usize) -> bool {
        self.done[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// A command is about to change (or create) `key` of live database
    /// `live_db`, whose hash in the keyspace's hasher is `hash`, in slot `slot` (an
    /// index into the shard's slots). If the writer has not reached the slot,
    /// the key is serialized first, as it is now (still as at the cut: this
    /// is its first change), and the writer will skip it.
    pub fn change(&mut self, slot: usize, live_db: usize, key: &[u8], hash: u64, live: &[Db]) {
        if self.is_done(slot) {
            return;
        }
        let db = self.cut_of[live_db];
        if self.resume.is_some_and(|r| r.slot == slot) {
            // The writer is in the middle of a big value here, at a
            // position in the table's order that a change could move:
            // finish the slot.
            self.stats.forced_slots += 1;
            self.serialize(slot, live, usize::MAX);
            self.mark_done(slot);
            return;
        }
        if self.frozen.get(db).is_none_or(|f| f.is_some()) {
            // A flush detached the database's tables since the cut: the
            // writer reads those, which no command changes any more.
            return;
        }
        let set = self.skips.entry((slot as u32, db as u8)).or_default();
        if set.contains(key) {
            return;
        }
        self.skipping[slot / 64] |= 1 << (slot % 64);
        let table = live[live_db].tables.get(slot);
        match table.and_then(|t| t.find(hash, |e| e.key() == key)) {
            Some(e) => {
                let done = (self.encode)(&mut self.out, db, e, 0, usize::MAX);
                debug_assert!(done.is_none(), "an unlimited encode completes");
                self.keys += 1;
                self.stats.forced_keys += 1;
                set.insert(Bytes::copy_from_slice(e.key()));
            }
            None => {
                set.insert(Bytes::copy_from_slice(key));
            }
        }
        let len = table.map_or(0, |t| t.len());
        if set.len() > SKIP_MIN && set.len() * SKIP_SHARE > len {
            self.stats.forced_slots += 1;
            self.serialize(slot, live, usize::MAX);
            self.mark_done(slot);
        }
    }

    /// The writer's step: visits slots in order until about `bytes` of
    /// records are waiting or every slot is done. True when every slot is.
    pub fn step(&mut self, bytes: usize, live: &[Db]) -> bool {
        while self.left > 0 && self.out.len() < bytes {
            let slot = self.next;
            if !self.is_done(slot) {
                if !self.serialize(slot, live, bytes) {
                    break;
                }
                self.stats.writer_slots += 1;
                self.mark_done(slot);
            }
            self.next += 1;
        }
        self.left == 0
    }

    fn mark_done(&mut self, slot: usize) {
        self.done[slot / 64] |= 1 << (slot % 64);
        self.left -= 1;
        if self.skipping[slot / 64] & (1 << (slot % 64)) != 0 {
            self.skipping[slot / 64] &= !(1 << (slot % 64));
            for db in 0..self.frozen.len() {
                self.skips.remove(&(slot as u32, db as u8));
            }
        }
    }

    /// Serializes `slot`'s entries (from where the writer stopped in it, if
    /// it did), stopping inside a value once `stop_at` bytes wait. True when
    /// the slot is complete.
    fn serialize(&mut self, slot: usize, live: &[Db], stop_at: usize) -> bool {
        let start = match self.resume {
            Some(r) if r.slot == slot => {
                self.resume = None;
                r
            }
            // Another slot may be in the middle of a value: its records
            // then have this slot's between them (the format allows it).
            _ => Resume {
                slot,
                db: 0,
                entry: 0,
                item: 0,
            },
        };
        for db in start.db..self.frozen.len() {
            let live_tables = &live[self.live_of[db]].tables;
            let tables = self.frozen[db].as_deref().unwrap_or(live_tables);
            let Some(table) = tables.get(slot) else {
                continue;
            };
            let skipped = match self.skipping[slot / 64] & (1 << (slot % 64)) {
                0 => None,
                _ => self.skips.get(&(slot as u32, db as u8)),
            };
            let skip = if db == start.db { start.entry } else { 0 };
            let mut ahead = table.iter().skip(skip + PREFETCH_AHEAD);
            for (entry, e) in table.iter().enumerate().skip(skip) {
                if let Some(a) = ahead.next() {
                    a.prefetch();
                }
                if skipped.is_some_and(|k| k.contains(e.key())) {
                    continue;
                }
                let from = if db == start.db && entry == start.entry {
                    start.item
                } else {
                    0
                };
                self.keys += (from == 0) as u64;
                if let Some(item) = (self.encode)(&mut self.out, db, e, from, stop_at) {
                    self.resume = Some(Resume {
                        slot,
                        db,
                        entry,
                        item,
                    });
                    return false;
                }
            }
        }
        true
    }

    /// Moves the records waiting for the writer to `into` (both buffers
    /// keep their capacity: no allocation per step) and says how many keys
    /// they hold.
    pub fn drain_into(&mut self, into: &mut Vec<u8>) -> u64 {
        into.extend_from_slice(&self.out);
        self.out.clear();
        std::mem::take(&mut self.keys)
    }

    /// Keeps the tables a flush of `db` is dropping, for the slots not yet
    /// serialized; true if it kept them. (A second flush drops its tables:
    /// every unvisited slot is still empty since the first one.)
    pub fn freeze(&mut self, live_db: usize, tables: Vec<HashTable<Entry>>) -> bool {
        let db = self.cut_of[live_db];
        let keep = self.frozen[db].is_none() && self.left > 0;
        if keep {
            self.frozen[db] = Some(tables);
        }
        keep
    }

    /// Live databases `a` and `b` traded their tables (SWAPDB).
    pub fn swap(&mut self, a: usize, b: usize) {
        self.cut_of.swap(a, b);
        self.live_of[self.cut_of[a]] = a;
        self.live_of[self.cut_of[b]] = b;
    }
}
