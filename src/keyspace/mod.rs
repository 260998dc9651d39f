//! One shard's keyspace: its logical databases, their values, and the expiry
//! index. Each database is partitioned by hash slot (one small hash table per
//! slot the shard owns), which gives three things a single big table cannot:
//! SCAN walks slots with a cursor that stays valid while tables grow, a table
//! resize never pauses the shard on millions of keys at once, and a snapshot or
//! a change of shard count can work slot by slot.
//!
//! The keyspace also keeps the shard's memory account: the heap bytes of its
//! keys, values, tables and expiry index, changed where entries are stored,
//! replaced and removed. A command changes a value in place through the
//! `&mut Entry` that `lookup` hands out; the value is measured when handed
//! out and again before the keyspace's next operation (`settle`), so no
//! command module does any arithmetic of its own. See docs/memory.md.

mod cut;
pub mod encodings;
mod entry;
mod evict;
pub mod memory;
pub mod tracking;
mod value;
pub mod watch;

pub use cut::{CutStats, EncodeFn};
pub use entry::{Entry, Fresh, INLINE_STR_MAX_BYTES};
pub use evict::{Eviction, Policy};
pub use value::stream;
pub use value::{Hash, List, Set, Stream, Value, ZSet};

use cut::Cut;

use crate::router;
use bytes::Bytes;
use hashbrown::HashTable;
use std::collections::BTreeSet;

impl Entry {
    /// What MEMORY USAGE reports: the entry's bucket and what it owns.
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Entry>() + self.heap_bytes()
    }

    /// The heap bytes the entry owns outside its table's bucket, its place
    /// in the expiry index included.
    fn heap_bytes(&self) -> usize {
        let expiry = if self.expire_raw() != 0 {
            memory::expiry_index_bytes(self.key().len())
        } else {
            0
        };
        self.data_bytes() + expiry
    }

    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_raw() != 0).then_some(self.expire_raw())
    }

    /// Not expired at `now` (a key whose time has come is gone for every
    /// reader, even before it is removed).
    fn is_live(&self, now: u64) -> bool {
        self.expire_raw() == 0 || self.expire_raw() > now
    }
}

#[derive(Default)]
struct Db {
    /// One table per owned slot; empty until the database is first written.
    tables: Vec<HashTable<Entry>>,
    count: Counts,
}

/// A read that found no key: a keyspace miss, and the key kept for the
/// `keymiss` event while those are recorded. (Fields of `Keyspace` passed
/// apart: the caller still holds its tables.)
fn read_missed(
    stats: &mut KeyspaceStats,
    missed: &mut Option<Vec<(usize, Bytes)>>,
    db: usize,
    key: &[u8],
) {
    stats.misses += 1;
    if let Some(missed) = missed {
        missed.push((db, Bytes::copy_from_slice(key)));
    }
}

/// A database's figures, apart from its tables so that they can change
/// while a table entry is borrowed.
#[derive(Default)]
struct Counts {
    keys: usize,
    volatile: usize,
    /// Heap bytes of the tables, their entries and their expiry-index
    /// entries.
    bytes: usize,
}

/// The heap bytes of a table's buckets.
fn buckets_bytes(table: &HashTable<Entry>) -> usize {
    memory::table_bytes(table.num_buckets(), std::mem::size_of::<Entry>())
}

/// A table under a quarter full after a removal gives its spare buckets
/// back (an empty one frees them all): a slot's table must not keep the
/// most it ever held, or under eviction the tables' skeletons alone would
/// fill the budget. Tables are small (one per slot), so this is cheap.
fn shrink_if_sparse(table: &mut HashTable<Entry>, count: &mut Counts, hasher: &ahash::RandomState) {
    const MIN_LOAD_QUARTERS: usize = 4;
    if table.len() * MIN_LOAD_QUARTERS >= table.num_buckets() {
        return;
    }
    let before = buckets_bytes(table);
    table.shrink_to(table.len(), |e| hasher.hash_one(e.key()));
    count.bytes = count.bytes + buckets_bytes(table) - before;
}

#[derive(Default, Clone, Copy)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
}

/// The entry `lookup` handed out for a change, and its value's size then:
/// `settle` measures it again. The entry is told apart by its address,
/// which cannot change before `settle` (only an insert moves entries, and
/// every keyspace operation settles first).
struct Pending {
    db: usize,
    idx: usize,
    hash: u64,
    address: usize,
    bytes: usize,
}

pub struct Keyspace {
    dbs: Vec<Db>,
    first_slot: usize,
    slot_count: usize,
    hasher: ahash::RandomState,
    /// Every key with a TTL, ordered by when it expires: active expiry pops
    /// from the front, so expired keys never pile up unseen.
    expiry: BTreeSet<(u64, u8, Bytes)>,
    /// Keys removed because they expired or were evicted, while someone (the
    /// AOF) wants to know: each becomes a logged deletion.
    removed_log: Option<Vec<(usize, Bytes)>>,
    /// The same, for keyspace notifications (`expired`, `evicted`): the
    /// database, the key, and whether it was evicted.
    removal_events: Option<Vec<(usize, Bytes, bool)>>,
    /// Keys created since the last `take_new_keys`, for the `new` event
    /// (notifications of class `n`), when recorded.
    new_keys: Option<Vec<(usize, Bytes)>>,
    /// Keys a read did not find since the last `take_missed_keys`, for the
    /// `keymiss` event (`None`: not recorded).
    missed_keys: Option<Vec<(usize, Bytes)>>,
    /// The snapshot in progress, if any (see `cut`).
    cut: Option<Box<Cut>>,
    /// What the last snapshot's cut did (see `CutStats`).
    pub last_cut: CutStats,
    /// Bytes of tables a flush handed to the snapshot in progress: still in
    /// memory until it ends.
    frozen_bytes: usize,
    pending: Option<Pending>,
    /// The eviction policy, its candidate pool and the access clock.
    pub eviction: Eviction,
    pub stats: KeyspaceStats,
    /// The shard is loading (snapshot, log replay, re-sharding): nothing is
    /// past its deadline, so no lookup removes a key and active expiry does
    /// nothing. A replayed record must find its key as it was when the
    /// record was written, whatever the clock says now; once loading is
    /// done the ordinary expiry paths remove (and log) what is due.
    loading: bool,
    /// WATCHed keys and their versions, touched by every change (`watch`).
    pub watched: watch::Watched,
    /// Keys read by tracking clients and BCAST prefixes, touched by the
    /// same changes (`tracking`).
    pub tracked: tracking::Tracked,
}

/// The bookkeeping of an entry leaving a database: its counts and its place
/// in the expiry index. (Takes the fields, not the keyspace, so a caller can
/// still hold a borrow of the tables.)
fn unindex(d: &mut Counts, expiry: &mut BTreeSet<(u64, u8, Bytes)>, db: usize, entry: &Entry) {
    d.keys -= 1;
    d.bytes -= entry.heap_bytes();
    if entry.expire_raw() != 0 {
        d.volatile -= 1;
        expiry.remove(&(
            entry.expire_raw(),
            db as u8,
            Bytes::copy_from_slice(entry.key()),
        ));
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
            removed_log: None,
            removal_events: None,
            new_keys: None,
            missed_keys: None,
            cut: None,
            last_cut: CutStats::default(),
            frozen_bytes: 0,
            pending: None,
            eviction: Eviction::default(),
            stats: KeyspaceStats::default(),
            loading: false,
            watched: watch::Watched::default(),
            tracked: tracking::Tracked::default(),
        }
    }

    /// Starts or ends loading (see `loading`).
    pub fn set_loading(&mut self, on: bool) {
        self.loading = on;
    }

    pub fn is_loading(&self) -> bool {
        self.loading
    }

    /// Whether `e` counts as present at `now`: always while loading.
    fn live(&self, e: &Entry, now: u64) -> bool {
        self.loading || e.is_live(now)
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    pub fn slots(&self) -> std::ops::Range<usize> {
        self.first_slot..self.first_slot + self.slot_count
    }

    /// The heap bytes the shard's data uses: the figure its memory budget
    /// is checked against.
    pub fn used_bytes(&mut self) -> usize {
        self.settle();
        self.dbs.iter().map(|d| d.count.bytes).sum::<usize>() + self.frozen_bytes
    }

    /// Accounts for the change a command made through `lookup`'s entry.
    #[inline]
    pub fn settle(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let d = &mut self.dbs[p.db];
        let found = d.tables[p.idx].find(p.hash, |e| std::ptr::from_ref(e) as usize == p.address);
        if let Some(e) = found {
            d.count.bytes = d.count.bytes + e.data_bytes() - p.bytes;
        }
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

    /// Brings in what the lookups of `keys` will read (each slot's table,
    /// its control bytes and buckets, the entry with its key) and changes
    /// nothing. A batch does this for all its keys before running any
    /// command, so that the lookups' cache misses (about three a lookup on
    /// this VM, a third of a pipelined SET's time) overlap instead of
    /// stalling the commands one after another: first every table's header
    /// is prefetched, then every table probed for its first candidate,
    /// whose entry is prefetched without waiting for it (the key is not
    /// compared: a wrong candidate only costs a useless prefetch).
    pub fn prefetch<'k>(&self, keys: impl Iterator<Item = (usize, &'k [u8])> + Clone) {
        let table = |db: usize, key: &[u8]| {
            let idx = (router::slot(key) as usize).checked_sub(self.first_slot)?;
            self.dbs.get(db)?.tables.get(idx)
        };
        for (db, key) in keys.clone() {
            if let Some(t) = table(db, key) {
                prefetch_line(std::ptr::from_ref(t).cast());
            }
        }
        for (db, key) in keys {
            if let Some(t) = table(db, key) {
                let hash = self.hasher.hash_one(key);
                if let Some(e) = t.find(hash, |_| true) {
                    prefetch_line(e.address());
                }
            }
        }
    }

    /// Looks a key up for reading: an expired key is removed first, and the
    /// hit/miss counters of INFO are updated.
    pub fn read(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.find(db, key, now, true, true)
    }

    /// `read` that leaves the key's access time alone, as Redis's
    /// `LOOKUP_NOTOUCH` (EXISTS, TYPE, TTL): counted, and a miss raises
    /// `keymiss`, but the key is not made more recently used.
    pub fn read_untouched(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.find(db, key, now, true, false)
    }

    /// Looks a key up (to change it), removing it first if it has expired.
    pub fn lookup(&mut self, db: usize, key: &[u8], now: u64) -> Option<&mut Entry> {
        self.find(db, key, now, false, true)
    }

    /// One probe of the table: a live entry is returned, an expired one is
    /// removed on the spot (this is the hot path of every command).
    /// A read (`count`) leaves a slot the snapshot has not reached alone:
    /// only a change must serialize it first. A hit stamps the entry's
    /// access (one field written, no allocation); an entry handed out for a
    /// change is measured, for `settle`.
    fn find(
        &mut self,
        db: usize,
        key: &[u8],
        now: u64,
        count: bool,
        touch: bool,
    ) -> Option<&mut Entry> {
        self.settle();
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        if !count {
            self.before_change(db, idx, key, hash);
        }
        let unsaved = count && self.cut.as_deref().is_some_and(|c| !c.is_done(idx));
        let d = self.dbs.get_mut(db)?;
        let found = d
            .tables
            .get_mut(idx)
            .map(|t| t.find_entry(hash, |e| e.key() == key));
        // (A database that never had a key on this shard has no tables yet:
        // a miss all the same.)
        let Some(Ok(occupied)) = found else {
            if count {
                read_missed(&mut self.stats, &mut self.missed_keys, db, key);
            }
            return None;
        };
        let e = occupied.get();
        if !self.loading && !e.is_live(now) {
            if unsaved {
                // Not removed by a read while the snapshot still needs its
                // slot as it was: a later change or active expiry will.
                read_missed(&mut self.stats, &mut self.missed_keys, db, key);
                return None;
            }
            let (entry, vacant) = occupied.remove();
            shrink_if_sparse(vacant.into_table(), &mut d.count, &self.hasher);
            unindex(&mut d.count, &mut self.expiry, db, &entry);
            self.stats.expired += 1;
            if count {
                read_missed(&mut self.stats, &mut self.missed_keys, db, key);
            }
            self.watched.touch(db, key);
            self.tracked.touch(key);
            if let Some(log) = &mut self.removed_log {
                log.push((db, Bytes::copy_from_slice(entry.key())));
            }
            if let Some(events) = &mut self.removal_events {
                events.push((db, Bytes::copy_from_slice(entry.key()), false));
            }
            return None;
        }
        self.stats.hits += count as u64;
        let e = occupied.into_mut();
        if touch {
            e.set_access(self.eviction.touch(e.access(), now));
        }
        if !count {
            self.watched.candidate(db, key);
            self.tracked.candidate(key);
            self.pending = Some(Pending {
                db,
                idx,
                hash,
                address: std::ptr::from_ref(e) as usize,
                bytes: e.data_bytes(),
            });
        }
        Some(e)
    }

    /// Looks a key up without counting or stamping it (OBJECT, MEMORY
    /// USAGE: looking at a key is not using it). An expired key is absent.
    pub fn peek(&mut self, db: usize, key: &[u8], now: u64) -> Option<&Entry> {
        self.settle();
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        let e = self
            .dbs
            .get(db)?
            .tables
            .get(idx)?
            .find(hash, |e| e.key() == key)?;
        self.live(e, now).then_some(e)
    }

    pub fn contains(&mut self, db: usize, key: &[u8], now: u64) -> bool {
        self.lookup(db, key, now).is_some()
    }

    /// Stores `value` under `key`, replacing whatever was there (and its TTL).
    pub fn insert(&mut self, db: usize, key: &[u8], value: Value, expire_at: Option<u64>) {
        self.store(db, key, Fresh::Value(value), expire_at);
    }

    /// `insert` of a string, copied from `value` into the key's entry.
    pub fn insert_str(&mut self, db: usize, key: &[u8], value: &[u8], expire_at: Option<u64>) {
        self.store(db, key, Fresh::Str(value), expire_at);
    }

    fn store(&mut self, db: usize, key: &[u8], value: Fresh, expire_at: Option<u64>) {
        self.settle();
        let expire_at = expire_at.unwrap_or(0);
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.before_change(db, idx, key, hash);
        self.watched.touch(db, key);
        self.tracked.touch(key);
        let hasher = &self.hasher;
        let slot_count = self.slot_count;
        let d = &mut self.dbs[db];
        if d.tables.is_empty() {
            d.tables = (0..slot_count).map(|_| HashTable::new()).collect();
            d.count.bytes += memory::vec_bytes::<HashTable<Entry>>(slot_count);
        }
        let table = &mut d.tables[idx];
        let old_expire = match table.find_mut(hash, |e| e.key() == key) {
            Some(e) => {
                let before = e.data_bytes();
                let old = e.expire_raw();
                e.set_value(value);
                e.set_expire_raw(expire_at);
                e.set_access(self.eviction.touch(e.access(), self.eviction.now));
                d.count.bytes = d.count.bytes + e.data_bytes() - before;
                Some(old)
            }
            None => {
                let buckets_before = buckets_bytes(table);
                let entry = Entry::new(key, value, expire_at, self.eviction.new_access());
                // Its place in the expiry index is accounted by `reindex`.
                d.count.bytes += entry.data_bytes();
                table.insert_unique(hash, entry, |e| hasher.hash_one(e.key()));
                d.count.bytes = d.count.bytes + buckets_bytes(table) - buckets_before;
                d.count.keys += 1;
                None
            }
        };

        if old_expire.is_none() {
            if let Some(created) = &mut self.new_keys {
                created.push((db, Bytes::copy_from_slice(key)));
            }
        }
        self.reindex(db, key, old_expire.unwrap_or(0), expire_at);
    }

    /// Sets or clears (`None`) the TTL of an existing key.
    pub fn set_expire(&mut self, db: usize, key: &[u8], expire_at: Option<u64>) {
        self.settle();
        let expire_at = expire_at.unwrap_or(0);
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.before_change(db, idx, key, hash);
        let Some(e) = self.dbs[db]
            .tables
            .get_mut(idx)
            .and_then(|t| t.find_mut(hash, |e| e.key() == key))
        else {
            return;
        };
        let old = e.expire_raw();
        e.set_expire_raw(expire_at);
        self.reindex(db, key, old, expire_at);
        self.watched.touch(db, key);
        self.tracked.touch(key);
    }

    /// Keeps the expiry index, the volatile-key count and the memory account
    /// in step with an entry's TTL changing from `old` to `new` (0 = none).
    fn reindex(&mut self, db: usize, key: &[u8], old: u64, new: u64) {
        if old == new {
            return;
        }
        let d = &mut self.dbs[db];
        let index_bytes = memory::expiry_index_bytes(key.len());
        if old != 0 {
            self.expiry
                .remove(&(old, db as u8, Bytes::copy_from_slice(key)));
            d.count.volatile -= 1;
            d.count.bytes -= index_bytes;
        }
        if new != 0 {
            self.expiry
                .insert((new, db as u8, Bytes::copy_from_slice(key)));
            d.count.volatile += 1;
            d.count.bytes += index_bytes;
        }
    }

    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        self.settle();
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.before_change(db, idx, key, hash);
        let d = self.dbs.get_mut(db)?;
        let (entry, vacant) = d
            .tables
            .get_mut(idx)?
            .find_entry(hash, |e| e.key() == key)
            .ok()?
            .remove();
        shrink_if_sparse(vacant.into_table(), &mut d.count, &self.hasher);
        unindex(&mut d.count, &mut self.expiry, db, &entry);
        self.watched.touch(db, key);
        self.tracked.touch(key);
        Some(entry)
    }

    pub fn len(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |d| d.count.keys)
    }

    pub fn volatile_len(&self, db: usize) -> usize {
        self.dbs.get(db).map_or(0, |d| d.count.volatile)
    }

    pub fn flush_db(&mut self, db: usize) {
        self.settle();
        self.tracked.forget_reads();
        self.touch_watched_present(db, &[db]);
        if db < self.dbs.len() {
            self.empty_db(db);
            self.expiry.retain(|(_, d, _)| *d as usize != db);
        }
    }

    pub fn flush_all(&mut self) {
        self.settle();
        self.tracked.forget_reads();
        (0..self.dbs.len()).for_each(|db| self.touch_watched_present(db, &[db]));
        (0..self.dbs.len()).for_each(|db| self.empty_db(db));
        self.expiry.clear();
    }

    /// SWAPDB: databases `a` and `b` trade their keys (their watchers and
    /// blocked clients stay with the number, as in Redis). A watched key
    /// of either that exists in either (expired or not) is changed by it.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        self.settle();
        if a == b {
            return;
        }
        self.touch_watched_present(a, &[a, b]);
        self.touch_watched_present(b, &[a, b]);
        self.dbs.swap(a, b);
        if let Some(cut) = self.cut.as_deref_mut() {
            cut.swap(a, b);
        }
        // The expiry index names each key's database.
        let (a8, b8) = (a as u8, b as u8);
        let moved: Vec<_> = self
            .expiry
            .iter()
            .filter(|(_, d, _)| *d == a8 || *d == b8)
            .cloned()
            .collect();
        for item in moved.iter() {
            self.expiry.remove(item);
        }
        for (at, d, key) in moved {
            self.expiry.insert((at, if d == a8 { b8 } else { a8 }, key));
        }
    }

    /// Before a flush or swap: the watched keys of `db` that exist (expired
    /// or not, as Redis) in any of `changed` are changed by it; the others
    /// are not.
    fn touch_watched_present(&mut self, db: usize, changed: &[usize]) {
        if !self.watched.active() {
            return;
        }
        for key in self.watched.keys_of(db) {
            let hash = self.hasher.hash_one(&key[..]);
            let idx = self.table_index(&key);
            let present = changed.iter().any(|&d| {
                self.dbs[d]
                    .tables
                    .get(idx)
                    .is_some_and(|t| t.find(hash, |e| e.key() == &key[..]).is_some())
            });
            if present {
                self.watched.touch(db, &key);
            }
        }
    }

    /// WATCH of `key` by one more client: returns the version to compare
    /// at EXEC. A key already expired goes first (logged as usual): its
    /// removal is no change for this watcher, as in Redis, while one that
    /// expires after the WATCH is.
    pub fn watch(&mut self, db: usize, key: &Bytes, now: u64) -> u64 {
        self.settle();
        if !self.loading && db < self.dbs.len() {
            let expired = self.peek_raw(db, key).is_some_and(|e| !e.is_live(now));
            if expired {
                self.remove_expired(db, key);
            }
        }
        self.watched.watch(db, key)
    }

    /// Whether a watched key is unchanged since its watcher saw `version`:
    /// a key whose time has come counts as changed even before it is
    /// removed (Redis 7.0 checks that at EXEC too).
    pub fn watch_holds(&mut self, db: usize, key: &[u8], version: u64, now: u64) -> bool {
        self.settle();
        let expired = !self.loading && self.peek_raw(db, key).is_some_and(|e| !e.is_live(now));
        !expired && self.watched.version(db, key) == Some(version)
    }

    /// The entry of `key`, live or not.
    fn peek_raw(&self, db: usize, key: &[u8]) -> Option<&Entry> {
        let hash = self.hasher.hash_one(key);
        let idx = self.table_index(key);
        self.dbs
            .get(db)?
            .tables
            .get(idx)?
            .find(hash, |e| e.key() == key)
    }

    /// Empties a database; a snapshot in progress keeps its old tables (and
    /// their bytes stay accounted until it ends).
    fn empty_db(&mut self, db: usize) {
        let Db { tables, count } = std::mem::take(&mut self.dbs[db]);
        if let Some(cut) = self.cut.as_deref_mut() {
            if cut.freeze(db, tables) {
                self.frozen_bytes += count.bytes;
            }
        }
    }

    /// The snapshot in progress is over: what it held is gone.
    fn end_cut(&mut self) {
        if let Some(cut) = self.cut.take() {
            self.last_cut = cut.stats;
        }
        self.frozen_bytes = 0;
    }

    /// Called before `key` (hash `hash`, in slot `idx`) of `db` is read for
    /// a change, changed or created: during a snapshot that has not reached
    /// its slot, the key is serialized first (see `cut`).
    #[inline]
    fn before_change(&mut self, db: usize, idx: usize, key: &[u8], hash: u64) {
        if let Some(cut) = self.cut.as_deref_mut() {
            if !cut.is_done(idx) {
                cut.change(idx, db, key, hash, &self.dbs);
            }
        }
    }

    /// Starts a snapshot here, now: the cut. Nothing is copied; see `cut`.
    pub fn begin_cut(&mut self, encode: EncodeFn) {
        self.settle();
        self.cut = Some(Box::new(Cut::new(encode, self.slot_count, self.dbs.len())));
    }

    /// The snapshot writer's step: serializes slots until about `bytes` of
    /// records wait, and appends what waits to `into`. Returns the keys in
    /// it, and whether every slot has been serialized (the cut is then over).
    pub fn cut_step(&mut self, bytes: usize, into: &mut Vec<u8>) -> Option<(u64, bool)> {
        self.settle();
        let cut = self.cut.as_deref_mut()?;
        let done = cut.step(bytes, &self.dbs);
        let keys = cut.drain_into(into);
        if done {
            self.end_cut();
        }
        Some((keys, done))
    }

    /// Abandons the snapshot in progress (its file could not be written).
    pub fn cancel_cut(&mut self) {
        self.end_cut();
    }

    /// Removes keys whose time has come, oldest first, at most `budget` of
    /// them. Returns how many were removed.
    pub fn expire_due(&mut self, now: u64, budget: usize) -> usize {
        if self.loading {
            return 0;
        }
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
        if let Some(log) = &mut self.removed_log {
            log.push((db, Bytes::copy_from_slice(e.key())));
        }
        if let Some(events) = &mut self.removal_events {
            events.push((db, Bytes::copy_from_slice(e.key()), false));
        }
        true
    }

    /// Starts (or stops) recording expired and evicted keys for
    /// `take_removed`.
    pub fn record_removals(&mut self, on: bool) {
        self.removed_log = on.then(Vec::new);
    }

    /// Starts (or stops) recording expired and evicted keys for
    /// `take_removal_events` (keyspace notifications).
    pub fn record_removal_events(&mut self, on: bool) {
        if on != self.removal_events.is_some() {
            self.removal_events = on.then(Vec::new);
        }
    }

    /// Starts (or stops) recording created keys for `take_new_keys`.
    pub fn record_new_keys(&mut self, on: bool) {
        if on != self.new_keys.is_some() {
            self.new_keys = on.then(Vec::new);
        }
    }

    /// Starts (or stops) recording the keys reads miss, for
    /// `take_missed_keys`.
    pub fn record_missed_keys(&mut self, on: bool) {
        if on != self.missed_keys.is_some() {
            self.missed_keys = on.then(Vec::new);
        }
    }

    /// The keys reads did not find since the last call, with their
    /// databases (Redis's `keymiss` event).
    pub fn take_missed_keys(&mut self) -> Vec<(usize, Bytes)> {
        match &mut self.missed_keys {
            Some(missed) if !missed.is_empty() => std::mem::take(missed),
            _ => Vec::new(),
        }
    }

    /// The keys created since the last call, with their databases.
    pub fn take_new_keys(&mut self) -> Vec<(usize, Bytes)> {
        match &mut self.new_keys {
            Some(created) if !created.is_empty() => std::mem::take(created),
            _ => Vec::new(),
        }
    }

    /// The keys that expired or were evicted since the last call, for
    /// keyspace notifications: (database, key, evicted).
    pub fn take_removal_events(&mut self) -> Vec<(usize, Bytes, bool)> {
        match &mut self.removal_events {
            Some(events) if !events.is_empty() => std::mem::take(events),
            _ => Vec::new(),
        }
    }

    /// The keys that expired or were evicted since the last call, with
    /// their databases.
    pub fn take_removed(&mut self) -> Vec<(usize, Bytes)> {
        self.removed_log
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
        self.settle();
        let end = self.first_slot + self.slot_count;
        let Some(d) = self.dbs.get(db) else {
            return end;
        };
        if d.tables.is_empty() {
            return end;
        }
        let mut slot = from.max(self.first_slot);
        let mut seen = 0;
        let loading = self.loading;
        while slot < end && seen < count {
            for e in d.tables[slot - self.first_slot].iter() {
                if loading || e.is_live(now) {
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
                if self.live(e, now) {
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
                .map(|e| Bytes::copy_from_slice(e.key()));
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
            .find(|e| self.live(e, now))
            .map(|e| Bytes::copy_from_slice(e.key()))
    }
}

/// Asks the CPU to bring the cache line at `p` in, without waiting for it.
#[inline]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
