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
//! candidates seen in random samples, with two changes that keep more hot
//! keys: at least `MIN_SAMPLES` keys are sampled per eviction (a shard is
//! one thread: sampling costs no lock, and 16 samples are a few hundred ns),
//! and a pool candidate's rank is checked again before it is evicted, so a
//! key used since it was sampled goes back into the pool instead of out.
//! volatile-ttl takes the key that expires first, exactly (the expiry index
//! is ordered by time); the random policies take one random key.
//! See docs/memory.md.

use super::{Db, Entry, Keyspace};
use bytes::Bytes;
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
/// A sample draws at most this many random buckets per key it wants before
/// falling back to a walk (a shard with few keys in many slots).
const PROBES_PER_SAMPLE: usize = 8;
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

    /// Keys sampled per eviction: at least `MIN_SAMPLES` under LRU, where a
    /// closer approximation of LRU keeps more hot keys. LFU samples as Redis
    /// does (`maxmemory-samples`): an exact LFU evicts every new key (counter
    /// 5) before any key that ever had a hit, so a new key never lives long
    /// enough for its second hit and the cache freezes with keys hit once
    /// early; the looser sample lets new keys in (measured in
    /// benches/eviction.py: 16 samples lost ~4 points of hit ratio).
    fn samples_per_eviction(&self) -> usize {
        if self.policy.is_lfu() {
            self.samples
        } else {
            self.samples.max(MIN_SAMPLES)
        }
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
    /// name: a clone would change the entry's key into a shared one).
    fn offer(&mut self, rank: u64, db: usize, key: &[u8]) {
        let pool = &mut self.0;
        if let Some(i) = pool.iter().position(|c| c.db == db && c.key == key) {
            pool.remove(i);
        } else if pool.len() == POOL_SIZE && rank <= pool[0].rank {
            return;
        }
        let at = pool.partition_point(|c| c.rank < rank);
        let key = Bytes::copy_from_slice(key);
        pool.insert(at, Candidate { rank, db, key });
        if pool.len() > POOL_SIZE {
            pool.remove(0);
        }
    }
}

/// xorshift64: cheap, and eviction needs no stronger randomness.
fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
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
        true
    }

    fn random_victim(&mut self, volatile: bool) -> Option<(usize, Bytes)> {
        if volatile {
            return self.volatile_sample();
        }
        let mut victim = None;
        for (db, d) in self.dbs.iter().enumerate() {
            sample(d, self.slot_count, &mut self.eviction.rng, 1, |e| {
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
            let rank = self.eviction.ranker();
            let Eviction { rng, pool, .. } = &mut self.eviction;
            for (db, d) in self.dbs.iter().enumerate() {
                sample(d, self.slot_count, rng, samples, |e| {
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

/// Visits up to `n` random entries of a database (expired ones included:
/// they are as good to evict). Each draw takes the first full bucket from a
/// random bucket of a random slot's table.
fn sample(d: &Db, slots: usize, rng: &mut u64, n: usize, mut visit: impl FnMut(&Entry)) {
    if d.count.keys == 0 {
        return;
    }
    let mut seen = 0;
    for _ in 0..n * PROBES_PER_SAMPLE {
        if seen == n {
            return;
        }
        let table = &d.tables[xorshift(rng) as usize % slots];
        if table.is_empty() {
            continue;
        }
        let buckets = table.num_buckets();
        let start = xorshift(rng) as usize % buckets;
        if let Some(e) = (0..buckets).find_map(|i| table.get_bucket((start + i) % buckets)) {
            visit(e);
            seen += 1;
        }
    }
    if seen == 0 {
        // Few keys in many slots: walk from a random slot instead.
        let start = xorshift(rng) as usize % slots;
        (0..slots)
            .flat_map(|i| d.tables[(start + i) % slots].iter())
            .take(n)
            .for_each(visit);
    }
}
