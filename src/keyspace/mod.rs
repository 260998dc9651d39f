//! One shard's keyspace: its logical databases, their values, and the expiry
//! index. Each database is partitioned by hash slot (one small hash table per
//! slot the shard owns), which gives three things a single big table cannot:
//! SCAN walks slots with a cursor that stays valid while tables grow, a table
//! resize never pauses the shard on millions of keys at once, and a snapshot or
//! a change of shard count can work slot by slot.

mod cut;
mod value;

pub use cut::EncodeFn;
pub use value::{Hash, Set, Value, ZSet};

use cut::Cut;

use crate::router;
use bytes::Bytes;
use hashbrown::HashTable;
use std::collections::BTreeSet;

/// A key and what it holds. `expire_at` is an absolute Unix time in
/// milliseconds (0 = no expiry); only the keyspace changes it, so the expiry
/// index always agrees with it.
pub struct Entry {
    key: Bytes,
    pub value: Value,
    expire_at: u64,
}

impl Entry {
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }
}

#[derive(Default)]
struct Db {
    /// One table per owned slot; empty until the database is first written.
    tables: Vec<HashTable<Entry>>,
    keys: usize,
    volatile: usize,
}

#[derive(Default, Clone, Copy)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

pub struct Keyspace {
    dbs: Vec<Db>,
    first_slot: usize,
    slot_count: usize,
    hasher: ahash::RandomState,
    /// Every key with a TTL, ordered by when it expires: active expiry pops
    /// from the front, so expired keys never pile up unseen.
    expiry: BTreeSet<(u64, u8, Bytes)>,
    /// Keys removed because they expired, while someone (the AOF) wants to
    /// know: each becomes a logged deletion.
    expired_log: Option<Vec<(usize, Bytes)>>,
    /// The snapshot in progress, if any (see `cut`).
    cut: Option<Box<Cut>>,
    pub stats: KeyspaceStats,
}

/// The bookkeeping of an entry leaving a database: its counts and its place
/// in the expiry index. (Takes the fields, not the keyspace, so a caller can
/// still hold a borrow of the tables.)
fn unindex(
    keys: &mut usize,
    volatile: &mut usize,
    expiry: &mut BTreeSet<(u64, u8, Bytes)>,
    db: usize,
    entry: &Entry,
) {
    *keys -= 1;
    if entry.expire_at != 0 {
        *volatile -= 1;
        expiry.remove(&(entry.expire_at, db as u8, entry.key.clone()));
    }
}

impl Keyspace {
    pub fn new(shard: usize, shards: usize, databases: usize) -> Keyspace {
        let range = router::slot_range(shard, shards);
        Keyspace {
            dbs: (0..databases).map(|_| Db::default()).collect(),
            first_slot: range.start,
            slot_count: range.len(),
            hasher: ahash::RandomState::new(),
            expiry: BTreeSet::new(),
            expired_log: None,
            cut: None,
            stats: KeyspaceStats::default(),
        }
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    pub fn slots(&self) -> std::ops::Range<usize> {
        self.first_slot..self.first_slot + self.slot_count
    }

    fn table_index(&self, key: &[u8]) -> usize {
        let slot = router::slot(key) as usize;
        debug_assert!(
            self.slots().contains(&slot),
            "key routed to the wrong shard"
        );
        // Wrong routing is a bug, but must not panic in release: fold it in.
        slot.wrapping_sub(self.first_slot) % self.slot_count
    }

    /// Looks a key up for reading: an expired key is removed first, and the
    /// hit/miss counters of INFO are updated.
    pub fn read(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.find(db, key, now, true)
    }

    /// Looks a key up (to change it), removing it first if it has expired.
    pub fn lookup(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.find(db, key, now, false)
    }

    /// One probe of the table: a live entry is returned, an expired one is
    /// removed on the spot (this is the hot path of every command).
    /// A read (`count`) leaves a slot the snapshot has not reached alone:
    /// only a change must serialize it first.
    fn find(&mut self, db: usize, key: &[u8], now: u64, count: bool) -> Option<&mut Entry> {
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        if !count {
            self.before_change(idx);
        }
        let unsaved = count && self.cut.as_deref().is_some_and(|c| !c.is_done(idx));
        let d = self.dbs.get_mut(db)?;
        let found = d.tables.get_mut(idx)?.find_entry(hash, |e| e.key == key);
        let Ok(occupied) = found else {
            self.stats.misses += count as u64;
            return None;
        };
        let e = occupied.get();
        if e.expire_at != 0 && e.expire_at <= now {
            if unsaved {
                // Not removed by a read while the snapshot still needs its
                // slot as it was: a later change or active expiry will.
                self.stats.misses += 1;
                return None;
            }
            let entry = occupied.remove().0;
            unindex(&mut d.keys, &mut d.volatile, &mut self.expiry, db, &entry);
            self.stats.expired += 1;
            self.stats.misses += count as u64;
            if let Some(log) = &mut self.expired_log {
                log.push((db, entry.key));
            }
            return None;
        }
        self.stats.hits += count as u64;
        Some(occupied.into_mut())
    }

    pub fn contains(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        self.lookup(db, key, now).is_some()
    }

    /// Stores `value` under `key`, replacing whatever was there (and its TTL).
    pub fn insert(&mut self, db: usize, key: &[u8], value: Value, expire_at: Option<u64>) {
        let expire_at = expire_at.unwrap_or(0);
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.before_change(idx);
        let hasher = &self.hasher;
        let slot_count = self.slot_count;
        let d = &mut self.dbs[db];
        if d.tables.is_empty() {
            d.tables = (0..slot_count).map(|_| HashTable::new()).collect();
        }
        let table = &mut d.tables[idx];
        let old_expire = match table.find_mut(hash, |e| e.key == key) {
            Some(e) => {
                let old = e.expire_at;
                e.value = value;
                e.expire_at = expire_at;
                Some(old)
            }
            None => {
                let key = Bytes::copy_from_slice(key);
                table.insert_unique(
                    hash,
                    Entry {
                        key,
                        value,
                        expire_at,
                    },
                    |e| hasher.hash_one(&e.key),
                );
                d.keys += 1;
                None
            }
        };
        self.reindex(db, key, hash, idx, old_expire.unwrap_or(0), expire_at);
    }

    /// Sets or clears (`None`) the TTL of an existing key.
    pub fn set_expire(&mut self, db: usize, key: &[u8], expire_at: Option<u64>) {
        let expire_at = expire_at.unwrap_or(0);
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.before_change(idx);
        let Some(e) = self.dbs[db]
            .tables
            .get_mut(idx)
            .and_then(|t| t.find_mut(hash, |e| e.key == key))
        else {
            return;
        };
        let old = std::mem::replace(&mut e.expire_at, expire_at);
        self.reindex(db, key, hash, idx, old, expire_at);
    }

    /// Keeps the expiry index and the volatile-key count in step with an
    /// entry's TTL changing from `old` to `new` (0 = none).
    fn reindex(&mut self, db: usize, key: &[u8], hash: u64, idx: usize, old: u64, new: u64) {
        if old == new {
            return;
        }
        let d = &mut self.dbs[db];
        if old != 0 {
            self.expiry
                .remove(&(old, db as u8, Bytes::copy_from_slice(key)));
            d.volatile -= 1;
        }
        if new != 0 {
            let stored = d.tables[idx]
                .find(hash, |e| e.key == key)
                .map(|e| e.key.clone())
                .unwrap_or_else(|| Bytes::copy_from_slice(key));
            self.expiry.insert((new, db as u8, stored));
            d.volatile += 1;
        }
    }

    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.before_change(idx);
        let d = self.dbs.get_mut(db)?;
        let entry = d
            .tables
            .get_mut(idx)?
            .find_entry(hash, |e| e.key == key)
            .ok()?
            .remove()
            .0;
        unindex(&mut d.keys, &mut d.volatile, &mut self.expiry, db, &entry);
        Some(entry)
    }

    pub fn len(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |d| d.keys)
    }

    pub fn volatile_len(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |d| d.volatile)
    }

    pub fn flush_db(&mut self, db: usize) {
        if db < self.dbs.len() {
            self.empty_db(db);
            self.expiry.retain(|(_, d, _)| *d as usize != db);
        }
    }

    pub fn flush_all(&mut self) {
        (0..self.dbs.len()).for_each(|db| self.empty_db(db));
        self.expiry.clear();
    }

    /// Empties a database; a snapshot in progress keeps its old tables.
    fn empty_db(&mut self, db: usize) {
        let tables = std::mem::take(&mut self.dbs[db]).tables;
        if let Some(cut) = self.cut.as_deref_mut() {
            cut.freeze(db, tables);
        }
    }

    /// Called before anything in slot `idx` is read for a change or changed:
    /// during a snapshot, the slot is serialized first if it was not yet.
    #[inline]
    fn before_change(&mut self, idx: usize) {
        if let Some(cut) = self.cut.as_deref_mut() {
            if !cut.is_done(idx) {
                cut.visit(idx, &self.dbs);
            }
        }
    }

    /// Starts a snapshot here, now: the cut. Nothing is copied; see `cut`.
    pub fn begin_cut(&mut self, encode: EncodeFn) {
        self.cut = Some(Box::new(Cut::new(encode, self.slot_count, self.dbs.len())));
    }

    /// The snapshot writer's step: serializes slots until about `bytes` of
    /// records wait, and appends what waits to `into`. Returns the keys in
    /// it, and whether every slot has been serialized (the cut is then over).
    pub fn cut_step(&mut self, bytes: usize, into: &mut Vec<u8>) -> Option<(u64, bool)> {
        let cut = self.cut.as_deref_mut()?;
        let done = cut.step(bytes, &self.dbs);
        let keys = cut.drain_into(into);
        if done {
            self.cut = None;
        }
        Some((keys, done))
    }

    /// Abandons the snapshot in progress (its file could not be written).
    pub fn cancel_cut(&mut self) {
        self.cut = None;
    }

    /// Removes keys whose time has come, oldest first, at most `budget` of
    /// them. Returns how many were removed.
    pub fn expire_due(&mut self, now: u64, budget: usize) -> usize {
        let mut removed = 0;
        while removed < budget {
            let Some((when, db, key)) = self.expiry.first().cloned() else {
                break;
            };
            if when > now {
                break;
            }
            if !self.remove_expired(db as usize, &key) {
                // Cannot happen while the index is exact; never loop on it.
                self.expiry.remove(&(when, db, key));
            }
            removed += 1;
        }
        removed
    }

    fn remove_expired(&mut self, db: usize, key: &[u8]) -> bool {
        let Some(e) = self.remove(db, key) else {
            return false;
        };
        self.stats.expired += 1;
        if let Some(log) = &mut self.expired_log {
            log.push((db, e.key));
        }
        true
    }

    /// Starts (or stops) recording expired keys for `take_expired`.
    pub fn record_expirations(&mut self, on: bool) {
        self.expired_log = on.then(Vec::new);
    }

    /// The keys that expired since the last call, with their databases.
    pub fn take_expired(&mut self) -> Vec<(usize, Bytes)> {
        self.expired_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Visits the live keys of slots `from..` (global slot numbers) in this
    /// shard, slot by slot, until `count` keys were passed to `visit` or the
    /// shard's range ends. Returns the next slot to visit. Empty slots cost a
    /// length check, so one call is bounded by the shard's slot count.
    pub fn scan(
        &mut self,
        db: usize,
        from: usize,
        count: usize,
        now: u64,
        mut visit: impl FnMut(&Entry),
    ) -> usize {
        let end = self.first_slot + self.slot_count;
        let Some(d) = self.dbs.get(db) else {
            return end;
        };
        if d.tables.is_empty() {
            return end;
        }
        let mut slot = from.max(self.first_slot);
        let mut seen = 0;
        while slot < end && seen < count {
            for e in d.tables[slot - self.first_slot].iter() {
                if e.expire_at == 0 || e.expire_at > now {
                    visit(e);
                    seen += 1;
                }
            }
            slot += 1;
        }
        slot
    }

    /// Every live key of a database.
    pub fn keys(&self, db: usize, now: u64, mut visit: impl FnMut(&Entry)) {
        if let Some(d) = self.dbs.get(db) {
            for e in d.tables.iter().flat_map(|t| t.iter()) {
                if e.expire_at == 0 || e.expire_at > now {
                    visit(e);
                }
            }
        }
    }

    /// A random live key of a database, if it has any.
    pub fn random_key(
        &mut self,
        db: usize,
        now: u64,
        mut rand: impl FnMut() -> u64,
    ) -> Option<Bytes> {
        // Probe random slots, then random buckets within them; a bounded number
        // of probes, then an exhaustive walk from a random slot.
        const PROBES: usize = 64;
        for _ in 0..PROBES {
            if self.len(db) == 0 {
                return None;
            }
            let d = &self.dbs[db];
            let t = &d.tables[rand() as usize % self.slot_count];
            if t.is_empty() {
                continue;
            }
            let n = t.num_buckets();
            let start = rand() as usize % n;
            let key = (0..n)
                .find_map(|i| t.get_bucket((start + i) % n))
                .map(|e| e.key.clone());
            if let Some(key) = key {
                if self.lookup(db, &key, now).is_some() {
                    return Some(key);
                }
            }
        }
        let start = rand() as usize % self.slot_count.max(1);
        let d = self.dbs.get(db)?;
        (0..d.tables.len())
            .map(|i| &d.tables[(start + i) % d.tables.len()])
            .flat_map(|t| t.iter())
            .find(|e| e.expire_at == 0 || e.expire_at > now)
            .map(|e| e.key.clone())
    }
}
