//! Eviction: which key goes when the shard is over its memory budget, by
//! Redis's `maxmemory-policy` names, with 32 bits of state per key.
//!
//! Each entry's `access` word is, under an LRU or non-LFU policy, the low 32
//! bits of the Unix time in ms of its last use (Redis keeps seconds in 24
//! bits; milliseconds tell apart the keys of one busy second, which is what
//! ranks a cache's keys); under an LFU policy, Redis's logarithmic counter
//! (8 bits, `lfu-log-factor`) below the time of its last use in 100 ms ticks
//! (24 bits; Redis keeps minutes in 16): the counter decays by one per
//! `lfu-decay-time` minutes unused, as in Redis, and the finer time breaks
//! ties between equal counters. Switching policy reinterprets the word, as
//! in Redis.
//!
//! LRU and LFU pick their victim as Redis does, from a pool of the best
//! candidates seen in random samples, with changes that keep more hot keys:
//! the samples are uniform over the keys, whatever the length of their slot
//! table (see `sample`: a sampler that favoured keys alone in their table
//! cost 6 points of LFU hit ratio); at least `MIN_SAMPLES` keys are sampled
//! per eviction (a shard is one thread: sampling costs no lock); LFU ties
//! go to the longest idle; and a pool candidate's rank is checked again
//! before it is evicted, so a key used since it was sampled goes back into
//! the pool instead of out.
//! volatile-ttl takes the key that expires first, exactly (the expiry index
//! is ordered by time); the random policies take one random key.
//! See docs/memory.md.

use super::{Db, Entry, Keyspace};
use crate::util::xorshift;
use bytes::Bytes;
use hashbrown::HashTable;
use std::ops::Bound;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Policy {
    #[default]
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// The policy of a `maxmemory-policy` name (as CONFIG SET checks them).
    pub fn from_name(name: &str) -> Option<Policy> {
        Some(match name {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return None,
        })
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

/// Fewest keys sampled per eviction, whatever `maxmemory-samples` says
/// (Redis's default is 5).
const MIN_SAMPLES: usize = 16;
/// Candidates kept between evictions (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// A sample draws at most this many random tables per key it wants before
/// falling back to a walk (a shard with few keys in many slots: a table is
/// kept with probability `len / longest`, so a sparse keyspace needs many).
const PROBES_PER_SAMPLE: usize = 64;
/// Mean keys per slot table up to which `sample` reads whole tables.
const WHOLE_TABLE_KEYS: usize = 32;
/// Random buckets tried in a table before counting its entries instead.
const BUCKET_PROBES: usize = 8;
/// Samples between two measures of the longest table (`longest_table`).
const RESCAN_DRAWS: u32 = 1024;
/// The LFU counter of a new key (Redis's `LFU_INIT_VAL`): not the first
/// to go.
const LFU_INIT: u32 = 5;
const LFU_MAX: u32 = 255;
/// The LFU word's clock: 24 bits of 100 ms ticks (wraps after ~19 days).
const LFU_TICK_MS: u64 = 100;
const LFU_TICKS_PER_MINUTE: u32 = 600;
const LFU_TICKS_MASK: u32 = 0xff_ffff;

/// A key the pool may evict; a higher `rank` goes first.
struct Candidate {
    rank: u64,
    db: usize,
    key: Bytes,
}

/// The eviction settings and state of one keyspace.
pub struct Eviction {
    pub policy: Policy,
    /// `maxmemory-samples`.
    pub samples: usize,
    pub lfu_log_factor: u32,
    /// Minutes per decrement of an unused key's LFU counter (0: never).
    pub lfu_decay_time: u32,
    /// The time (Unix ms) of the command running: stamps new keys.
    pub now: u64,
    rng: u64,
    pool: Pool,
    /// At least the length of the longest slot table (see `sample`).
    table_bound: usize,
    /// Samples taken since `table_bound` was last measured.
    draws: u32,
}

impl Default for Eviction {
    fn default() -> Self {
        Eviction {
            policy: Policy::NoEviction,
            samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            now: crate::util::now_ms(),
            rng: ahash::RandomState::new().hash_one(0u8) | 1,
            pool: Pool(Vec::with_capacity(POOL_SIZE + 1)),
            table_bound: 1,
            draws: RESCAN_DRAWS,
        }
    }
}

impl Eviction {
    /// Changes the policy; candidates ranked under another one are dropped.
    pub fn set_policy(&mut self, policy: Policy) {
        if policy != self.policy {
            self.pool.0.clear();
        }
        self.policy = policy;
    }

    fn rand(&mut self) -> u64 {
        xorshift(&mut self.rng)
    }

    /// Keys sampled per eviction: at least `MIN_SAMPLES`, a closer
    /// approximation of the policy (measured in benches/eviction.py once
    /// sampling was uniform; with the sampler that favoured keys alone in
    /// their table, more samples under LFU had looked worse).
    fn samples_per_eviction(&self) -> usize {
        self.samples.max(MIN_SAMPLES)
    }

    /// The access word of a new key.
    pub fn new_access(&self) -> u32 {
        if self.policy.is_lfu() {
            lfu_word(self.now, LFU_INIT)
        } else {
            self.now as u32
        }
    }

    /// The access word of a key used at `now`: Redis's `updateLFU` (decay,
    /// then a logarithmic increment) or the LRU clock.
    #[inline]
    pub fn touch(&mut self, access: u32, now: u64) -> u32 {
        if !self.policy.is_lfu() {
            return now as u32;
        }
        let mut counter = self.frequency(access, now);
        if counter < LFU_MAX {
            let base = counter.saturating_sub(LFU_INIT) as f64;
            let p = 1.0 / (base * self.lfu_log_factor as f64 + 1.0);
            let r = (self.rand() >> 11) as f64 / (1u64 << 53) as f64;
            counter += (r < p) as u32;
        }
        lfu_word(now, counter)
    }

    /// The LFU counter after decay (OBJECT FREQ; Redis's `LFUDecrAndReturn`).
    pub fn frequency(&self, access: u32, now: u64) -> u32 {
        frequency(access, now, self.lfu_decay_time)
    }

    /// Milliseconds since the key was last used (OBJECT IDLETIME). Cores
    /// read their clocks apart, so a key may have been stamped a little
    /// after `now`: a "negative" idle time (past half the clock's range,
    /// ~24 days) is 0, not a huge one.
    pub fn idle_ms(access: u32, now: u64) -> u64 {
        let idle = (now as u32).wrapping_sub(access);
        if idle > u32::MAX / 2 {
            0
        } else {
            idle as u64
        }
    }

    /// How the policy ranks an entry: see `rank`.
    fn ranker(&self) -> impl Fn(&Entry, u64) -> u64 {
        let (lfu, decay_time) = (self.policy.is_lfu(), self.lfu_decay_time);
        move |e, now| rank(e.access(), now, lfu, decay_time)
    }
}

/// Ticks since the LFU word was stamped (a stamp from a core whose clock
/// is ahead counts as now).
fn lfu_idle_ticks(access: u32, now: u64) -> u32 {
    let elapsed = ticks(now).wrapping_sub(access >> 8) & LFU_TICKS_MASK;
    if elapsed > LFU_TICKS_MASK / 2 {
        0
    } else {
        elapsed
    }
}

fn frequency(access: u32, now: u64, decay_time: u32) -> u32 {
    let counter = access & 0xff;
    if decay_time == 0 {
        return counter;
    }
    let periods = lfu_idle_ticks(access, now) / LFU_TICKS_PER_MINUTE / decay_time;
    counter.saturating_sub(periods)
}

/// How much the policy wants a key gone: the higher, the sooner. Under LFU,
/// the lower counter first and, among equal counters (most keys of a cache
/// sit at the few lowest values), the longer idle first: a key just
/// inserted is not evicted before one that waited as long without a hit.
fn rank(access: u32, now: u64, lfu: bool, decay_time: u32) -> u64 {
    if lfu {
        let rarity = (LFU_MAX - frequency(access, now, decay_time).min(LFU_MAX)) as u64;
        (rarity << 32) | lfu_idle_ticks(access, now) as u64
    } else {
        Eviction::idle_ms(access, now)
    }
}

/// The best candidates seen, the best at the end.
struct Pool(Vec<Candidate>);

impl Pool {
    /// Takes a sampled key if it ranks among the best seen (a copy of its
    /// name: a clone would change the entry's key into a shared one). The
    /// rank is compared first: most samples rank below the whole pool, and
    /// looking for the key among the candidates compares names. A key in
    /// the pool with an older rank keeps it; it is ranked again before it
    /// can go.
    fn offer(&mut self, rank: u64, db: usize, key: &[u8]) {
        let pool = &mut self.0;
        if pool.len() == POOL_SIZE && rank <= pool[0].rank {
            return;
        }
        if let Some(i) = pool.iter().position(|c| c.db == db && c.key == key) {
            pool.remove(i);
        }
        let at = pool.partition_point(|c| c.rank < rank);
        let key = Bytes::copy_from_slice(key);
        pool.insert(at, Candidate { rank, db, key });
        if pool.len() > POOL_SIZE {
            pool.remove(0);
        }
    }
}

fn ticks(now: u64) -> u32 {
    ((now / LFU_TICK_MS) as u32) & LFU_TICKS_MASK
}

fn lfu_word(now: u64, counter: u32) -> u32 {
    (ticks(now) << 8) | counter
}

impl Keyspace {
    /// Evicts one key by the policy, logged as a removal. False if the
    /// policy has nothing it may evict (noeviction, or a volatile policy
    /// and no key with a TTL).
    pub fn evict_one(&mut self) -> bool {
        self.settle();
        let volatile = self.eviction.policy.volatile_only();
        let victim = match self.eviction.policy {
            Policy::NoEviction => None,
            Policy::VolatileTtl => self
                .expiry
                .first()
                .map(|(_, db, k)| (*db as usize, k.clone())),
            Policy::AllKeysRandom | Policy::VolatileRandom => self.random_victim(volatile),
            _ => self.pool_victim(volatile),
        };
        let Some((db, key)) = victim else {
            return false;
        };
        let Some(entry) = self.remove(db, &key) else {
            return false;
        };
        self.stats.evicted += 1;
        if let Some(log) = &mut self.removed_log {
            log.push((db, Bytes::copy_from_slice(entry.key())));
        }
        if let Some(events) = &mut self.removal_events {
            events.push((db, Bytes::copy_from_slice(entry.key()), true));
        }
        true
    }

    fn random_victim(&mut self, volatile: bool) -> Option<(usize, Bytes)> {
        if volatile {
            return self.volatile_sample();
        }
        self.measure_tables();
        let mut victim = None;
        let Eviction {
            rng, table_bound, ..
        } = &mut self.eviction;
        for (db, d) in self.dbs.iter().enumerate() {
            sample(d, self.slot_count, rng, table_bound, 1, |e| {
                victim = Some((db, Bytes::copy_from_slice(e.key())));
            });
            if victim.is_some() {
                break;
            }
        }
        victim
    }

    /// A random key with a TTL: the first in the expiry index at or after a
    /// random time between the first and the last expiry.
    fn volatile_sample(&mut self) -> Option<(usize, Bytes)> {
        let first = self.expiry.first()?.0;
        let last = self.expiry.last()?.0;
        let at = first + self.eviction.rand() % (last - first).saturating_add(1);
        let from = (at, 0u8, Bytes::new());
        self.expiry
            .range((Bound::Included(from), Bound::Unbounded))
            .next()
            .map(|(_, db, key)| (*db as usize, key.clone()))
    }

    /// Samples keys into the pool, then takes its best candidate that still
    /// exists and still ranks first.
    fn pool_victim(&mut self, volatile: bool) -> Option<(usize, Bytes)> {
        let samples = self.eviction.samples_per_eviction();
        let now = self.eviction.now;
        if volatile {
            for _ in 0..samples {
                let Some((db, key)) = self.volatile_sample() else {
                    break;
                };
                if let Some(rank) = self.rank_of(db, &key, now) {
                    self.eviction.pool.offer(rank, db, &key);
                }
            }
        } else {
            self.measure_tables();
            let rank = self.eviction.ranker();
            let Eviction {
                rng,
                pool,
                table_bound,
                ..
            } = &mut self.eviction;
            for (db, d) in self.dbs.iter().enumerate() {
                sample(d, self.slot_count, rng, table_bound, samples, |e| {
                    pool.offer(rank(e, now), db, e.key());
                });
            }
        }
        for _ in 0..2 * POOL_SIZE {
            let c = self.eviction.pool.0.pop()?;
            let Some(rank) = self.rank_of(c.db, &c.key, now) else {
                continue;
            };
            if self
                .eviction
                .pool
                .0
                .last()
                .is_some_and(|next| next.rank > rank)
            {
                // Used since it was sampled: rank it again.
                self.eviction.pool.offer(rank, c.db, &c.key);
                continue;
            }
            return Some((c.db, c.key));
        }
        self.eviction.pool.0.pop().map(|c| (c.db, c.key))
    }

    /// Measures the longest slot table again every `RESCAN_DRAWS` samplings:
    /// between two, `sample` only raises the bound, and a bound left high by
    /// keys since removed would make it reject more tables than it needs.
    fn measure_tables(&mut self) {
        self.eviction.draws += 1;
        if self.eviction.draws >= RESCAN_DRAWS {
            self.eviction.draws = 0;
            self.eviction.table_bound = longest_table(&self.dbs);
        }
    }

    /// The current rank of a key, if it is there.
    fn rank_of(&self, db: usize, key: &[u8], now: u64) -> Option<u64> {
        let hash = self.hasher.hash_one(key);
        let e = self
            .dbs
            .get(db)?
            .tables
            .get(self.table_index(key))?
            .find(hash, |e| e.key() == key)?;
        Some(self.eviction.ranker()(e, now))
    }
}

/// Visits about `n` entries of a database drawn uniformly at random
/// (expired ones included: they are as good to evict): every key is as
/// likely, whatever the number of keys its slot table holds. Taking the
/// first full bucket of a random table instead favoured keys alone in their
/// table, and let crowded tables fill up with keys no sample reached: it
/// cost 6 points of LFU hit ratio and 2 of LRU (see docs/memory.md).
///
/// Two ways, both uniform: while tables are short (under
/// `WHOLE_TABLE_KEYS` keys on average), all the entries of random tables
/// (each key is visited when its table is drawn: 1 in `slots`), which reads
/// a few short tables instead of rejecting most draws; else a random table
/// kept with probability `len / bound` (`bound` is at least the longest
/// table's length), then a uniformly random entry of it.
fn sample(
    d: &Db,
    slots: usize,
    rng: &mut u64,
    bound: &mut usize,
    n: usize,
    mut visit: impl FnMut(&Entry),
) {
    if d.count.keys == 0 {
        return;
    }
    let whole_tables = d.count.keys <= slots * WHOLE_TABLE_KEYS;
    let mut seen = 0;
    for _ in 0..n * PROBES_PER_SAMPLE {
        if seen >= n {
            return;
        }
        let table = &d.tables[xorshift(rng) as usize % slots];
        let len = table.len();
        if len == 0 {
            continue;
        }
        if whole_tables {
            table.iter().for_each(&mut visit);
            seen += len;
            continue;
        }
        // A table grown past the bound since it was measured raises it.
        *bound = (*bound).max(len);
        if xorshift(rng) % *bound as u64 >= len as u64 {
            continue;
        }
        if let Some(e) = uniform_entry(table, rng) {
            visit(e);
            seen += 1;
        }
    }
    if seen < n {
        // Few keys in many slots: walk from a random slot for the rest.
        let start = xorshift(rng) as usize % slots;
        (0..slots)
            .flat_map(|i| d.tables[(start + i) % slots].iter())
            .take(n - seen)
            .for_each(visit);
    }
}

/// A uniformly random entry of a table: random buckets until a full one (a
/// table is at least a quarter full, see `shrink_if_sparse`), else the k-th
/// entry of a random k. Either way each entry is as likely.
fn uniform_entry<'a>(table: &'a HashTable<Entry>, rng: &mut u64) -> Option<&'a Entry> {
    let buckets = table.num_buckets();
    if buckets == 0 {
        return None;
    }
    for _ in 0..BUCKET_PROBES {
        if let Some(e) = table.get_bucket(xorshift(rng) as usize % buckets) {
            return Some(e);
        }
    }
    let len = table.len();
    if len == 0 {
        return None;
    }
    table.iter().nth(xorshift(rng) as usize % len)
}

/// The longest slot table of any database: the bound `sample` keeps tables
/// against (O(slots), so measured again only every `RESCAN_DRAWS` samplings).
fn longest_table(dbs: &[Db]) -> usize {
    dbs.iter()
        .filter(|d| d.count.keys > 0)
        .flat_map(|d| d.tables.iter().map(|t| t.len()))
        .max()
        .unwrap_or(0)
        .max(1)
}

impl Keyspace {
    /// RESTORE's IDLETIME and FREQ: makes `key` look last used `idle_ms`
    /// ago (LRU and other non-LFU policies) or gives it LFU counter `freq`
    /// (LFU policies); as Redis's `objectSetLRUOrLFU`, only the hint that
    /// matches the policy counts. An idle time past half the clock (about
    /// 24 days) is held there, as Redis holds one past its LRU clock.
    pub fn set_access_hint(
        &mut self,
        db: usize,
        key: &[u8],
        idle_ms: Option<u64>,
        freq: Option<u8>,
        now: u64,
    ) {
        let lfu = self.eviction.policy.is_lfu();
        let word = match (lfu, idle_ms, freq) {
            (true, _, Some(f)) => lfu_word(now, f as u32),
            (false, Some(idle), _) => {
                (now as u32).wrapping_sub(idle.min(u32::MAX as u64 / 2) as u32)
            }
            _ => return,
        };
        if let Some(e) = self.lookup(db, key, now) {
            e.set_access(word);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Value;
    use crate::router;
    use std::collections::HashMap;

    /// A keyspace of the first of `shards` shards holding `keys` keys (only
    /// names that route to it), and each key's table length.
    fn keyspace(shards: usize, keys: usize) -> (Keyspace, HashMap<Bytes, usize>) {
        let mut ks = Keyspace::new(0, shards, 1);
        let slots = router::slot_range(0, shards);
        let names: Vec<Bytes> = (0u64..)
            .map(|i| Bytes::from(format!("key:{i}")))
            .filter(|k| slots.contains(&(router::slot(k) as usize)))
            .take(keys)
            .collect();
        for k in &names {
            ks.insert(0, k, Value::Str(Bytes::from_static(b"v")), None);
        }
        let lens = names
            .iter()
            .map(|k| (k.clone(), ks.dbs[0].tables[ks.table_index(k)].len()))
            .collect();
        (ks, lens)
    }

    /// Samples `draws` times and returns the mean visits per key of each
    /// table length, and over all keys.
    fn visits_by_table_len(
        ks: &mut Keyspace,
        lens: &HashMap<Bytes, usize>,
        draws: usize,
    ) -> (HashMap<usize, f64>, f64) {
        let mut visits: HashMap<Bytes, u64> = HashMap::new();
        let mut bound = longest_table(&ks.dbs);
        let mut rng = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..draws {
            sample(&ks.dbs[0], ks.slot_count, &mut rng, &mut bound, 16, |e| {
                *visits.entry(Bytes::copy_from_slice(e.key())).or_default() += 1;
            });
        }
        let mut sums: HashMap<usize, (u64, u64)> = HashMap::new();
        for (k, len) in lens {
            let s = sums.entry(*len).or_default();
            s.0 += visits.get(k).copied().unwrap_or(0);
            s.1 += 1;
        }
        let total: u64 = visits.values().sum();
        let by_len = sums
            .into_iter()
            .filter(|(_, (_, keys))| *keys >= 500)
            .map(|(len, (v, keys))| (len, v as f64 / keys as f64))
            .collect();
        (by_len, total as f64 / lens.len() as f64)
    }

    fn assert_uniform(by_len: &HashMap<usize, f64>, mean: f64) {
        assert!(by_len.len() >= 2, "too few table lengths: {by_len:?}");
        for (len, v) in by_len {
            let off = (v / mean - 1.0).abs();
            assert!(
                off < 0.1,
                "keys in tables of {len}: {v:.2} visits, mean {mean:.2}"
            );
        }
    }

    /// Short tables (read whole): a key alone in its table is sampled no
    /// more often than one among five.
    #[test]
    fn sampling_is_uniform_over_keys_of_short_tables() {
        let (mut ks, lens) = keyspace(1, 30_000);
        let (by_len, mean) = visits_by_table_len(&mut ks, &lens, 40_000);
        assert_uniform(&by_len, mean);
    }

    /// Long tables (one random entry of a table kept by its length).
    #[test]
    fn sampling_is_uniform_over_keys_of_long_tables() {
        // 16 slots: ~600 keys a table, past WHOLE_TABLE_KEYS.
        let (mut ks, lens) = keyspace(1024, 10_000);
        assert!(ks.len(0) > ks.slot_count * WHOLE_TABLE_KEYS);
        let (by_len, mean) = visits_by_table_len(&mut ks, &lens, 40_000);
        assert_uniform(&by_len, mean);
    }
}
