//! A snapshot in progress, as the keyspace sees it. At the cut nothing is
//! copied: the snapshot writer then serializes the shard's slots one by one
//! in the background, and a slot that a command is about to touch before the
//! writer got there is serialized first (serialize-before-mutate). Each slot
//! is serialized exactly once, as it was at the cut, so the file is the state
//! at the cut and the extra memory is only the records not yet written.
//!
//! FLUSHDB/FLUSHALL during a snapshot hand their tables to the cut instead of
//! dropping them: the writer serializes the unvisited slots from there.

use super::{Db, Entry};
use hashbrown::HashTable;

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
        }
    }

    pub fn is_done(&self, slot: usize) -> bool {
        self.done[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// Serializes slot `slot` (an index into the shard's slots) of every
    /// database, unless that was done already: a command is about to change
    /// it. A big value the writer left half-written is finished here.
    pub fn visit(&mut self, slot: usize, live: &[Db]) {
        if !self.is_done(slot) {
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
                self.mark_done(slot);
            }
            self.next += 1;
        }
        self.left == 0
    }

    fn mark_done(&mut self, slot: usize) {
        self.done[slot / 64] |= 1 << (slot % 64);
        self.left -= 1;
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
        for (db, d) in live.iter().enumerate().skip(start.db) {
            let tables = self.frozen[db].as_deref().unwrap_or(&d.tables);
            let Some(table) = tables.get(slot) else {
                continue;
            };
            let skip = if db == start.db { start.entry } else { 0 };
            for (entry, e) in table.iter().enumerate().skip(skip) {
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
    pub fn freeze(&mut self, db: usize, tables: Vec<HashTable<Entry>>) -> bool {
        let keep = self.frozen[db].is_none() && self.left > 0;
        if keep {
            self.frozen[db] = Some(tables);
        }
        keep
    }
}
