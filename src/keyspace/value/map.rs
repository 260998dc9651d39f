//! `Map`: the hash table behind large hashes, sets and sorted sets, keyed by
//! bytes. One process-wide random seed (not one per table: a table then costs
//! no 32-byte hasher state of its own); a value may move between shards, and
//! every core hashes the same way.
//!
//! Layout, as Redis's dict but without a pointer per entry: the entries sit
//! in one dense `Vec` (iteration and random picks never meet an empty slot),
//! and a power-of-two array of buckets holds, for each hash value masked to
//! its size, the first entry of a chain linked through the entries by `u32`
//! index. The bucket array doubles when there are more entries than buckets
//! and shrinks when under 1/8 full, rebuilt at once (amortized O(1)).
//!
//! SCAN uses Redis's reverse-binary cursor (`dictScan`): the cursor is a
//! bucket index, and the next one is found by incrementing its bits read in
//! reverse (from the high bit of the mask down). An element's bucket is its
//! hash's low bits, so when the table doubles, bucket `b` splits into `b` and
//! `b + size`, which that order visits one right after the other; when it
//! halves, buckets merge into one already in the same place in the order.
//! So a scan returns every element present for its whole duration at least
//! once, however the table grows or shrinks between calls; only elements of
//! a bucket visited both before and after a shrink can come back twice.

use crate::keyspace::memory::{vec_bytes, HeapSize};
use bytes::Bytes;
use std::sync::OnceLock;

fn hash(key: &[u8]) -> u64 {
    static SEED: OnceLock<ahash::RandomState> = OnceLock::new();
    SEED.get_or_init(ahash::RandomState::new).hash_one(key)
}

/// The end of a chain.
const NIL: u32 = u32::MAX;
/// Most entries a map holds: entries are linked by `u32` index (`NIL`
/// reserved). Far beyond what fits in memory at ~40 bytes an entry.
pub const MAP_MAX_ENTRIES: usize = NIL as usize - 1;
/// Fewest buckets a non-empty map has.
const MIN_BUCKETS: usize = 4;
/// The bucket array shrinks once under 1/this full (Redis: under 10%).
const SHRINK_BELOW_ONE_ENTRY_PER_BUCKETS: usize = 8;
/// Most buckets one SCAN call walks per element it asked for, so that a
/// sparse table (after many removals) cannot make one call walk it all.
const SCAN_BUCKETS_PER_COUNT: usize = 10;

struct Entry<V> {
    key: Bytes,
    value: V,
    next: u32,
}

pub struct Map<V> {
    entries: Vec<Entry<V>>,
    buckets: Vec<u32>,
    /// The heap bytes of the keys and values (kept as they change, so the
    /// map's size is known in O(1)).
    payload: usize,
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map {
            entries: Vec::new(),
            buckets: Vec::new(),
            payload: 0,
        }
    }
}

impl<V: HeapSize> Map<V> {
    pub fn with_capacity(n: usize) -> Self {
        let mut m = Map {
            entries: Vec::with_capacity(n),
            buckets: Vec::new(),
            payload: 0,
        };
        m.rebuild(n.next_power_of_two().max(MIN_BUCKETS));
        m
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn bucket_of(&self, h: u64) -> usize {
        h as usize & (self.buckets.len() - 1)
    }

    /// The index of `key`'s entry.
    fn find(&self, key: &[u8]) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut i = self.buckets[self.bucket_of(hash(key))];
        while i != NIL {
            let e = &self.entries[i as usize];
            if e.key == key {
                return Some(i as usize);
            }
            i = e.next;
        }
        None
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|i| &self.entries[i].value)
    }

    /// The heap bytes the map uses: its arrays, keys and values.
    pub fn heap_bytes(&self) -> usize {
        vec_bytes::<Entry<V>>(self.entries.capacity())
            + vec_bytes::<u32>(self.buckets.capacity())
            + self.payload
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        if let Some(i) = self.find(&key) {
            self.payload += value.heap_size();
            let old = std::mem::replace(&mut self.entries[i].value, value);
            self.payload -= old.heap_size();
            return Some(old);
        }
        assert!(self.entries.len() < MAP_MAX_ENTRIES, "Map is full");
        if self.entries.len() >= self.buckets.len() {
            self.rebuild((2 * self.buckets.len()).max(MIN_BUCKETS));
        }
        self.payload += key.heap_size() + value.heap_size();
        let b = self.bucket_of(hash(&key));
        let index = self.entries.len() as u32;
        self.entries.push(Entry {
            key,
            value,
            next: self.buckets[b],
        });
        self.buckets[b] = index;
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        if self.buckets.is_empty() {
            return None;
        }
        let b = self.bucket_of(hash(key));
        let i = self.unlink(b, |e| e.key == key)?;
        // Fill the hole with the last entry, and repoint what pointed at it.
        let last = self.entries.len() - 1;
        if i != last {
            let moved = self.bucket_of(hash(&self.entries[last].key));
            self.relink(moved, last as u32, i as u32);
        }
        let removed = self.entries.swap_remove(i);
        self.payload -= removed.key.heap_size() + removed.value.heap_size();
        let removed = removed.value;
        let shrink = self.buckets.len() > MIN_BUCKETS
            && self.entries.len() * SHRINK_BELOW_ONE_ENTRY_PER_BUCKETS < self.buckets.len();
        if self.entries.is_empty() {
            *self = Map::default();
        } else if shrink {
            self.rebuild(self.entries.len().next_power_of_two().max(MIN_BUCKETS));
        }
        Some(removed)
    }

    /// Takes the first entry of bucket `b` that `is` picks out of its chain;
    /// returns its index.
    fn unlink(&mut self, b: usize, is: impl Fn(&Entry<V>) -> bool) -> Option<usize> {
        let mut i = self.buckets[b];
        let mut prev = NIL;
        while i != NIL {
            let e = &self.entries[i as usize];
            if is(e) {
                let next = e.next;
                if prev == NIL {
                    self.buckets[b] = next;
                } else {
                    self.entries[prev as usize].next = next;
                }
                return Some(i as usize);
            }
            prev = i;
            i = e.next;
        }
        None
    }

    /// In bucket `b`'s chain, makes what pointed at entry `from` point at `to`.
    fn relink(&mut self, b: usize, from: u32, to: u32) {
        if self.buckets[b] == from {
            self.buckets[b] = to;
            return;
        }
        let mut i = self.buckets[b];
        while i != NIL {
            let e = &mut self.entries[i as usize];
            if e.next == from {
                e.next = to;
                return;
            }
            i = e.next;
        }
    }

    /// Re-chains every entry into `n` buckets (a power of two).
    fn rebuild(&mut self, n: usize) {
        debug_assert!(n.is_power_of_two());
        self.buckets = vec![NIL; n];
        for i in 0..self.entries.len() {
            let b = self.bucket_of(hash(&self.entries[i].key));
            self.entries[i].next = self.buckets[b];
            self.buckets[b] = i as u32;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.iter_from(0)
    }

    /// The entries from the `skip`th in iteration order on, in O(1): the
    /// order is stable while the map is not changed, so an iteration can be
    /// resumed by position (a snapshot writing a big value in steps).
    pub fn iter_from(&self, skip: usize) -> impl Iterator<Item = (&Bytes, &V)> {
        self.entries[skip.min(self.entries.len())..]
            .iter()
            .map(|e| (&e.key, &e.value))
    }

    /// An element picked uniformly (`rand` gives the randomness).
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&Bytes, &V)> {
        if self.entries.is_empty() {
            return None;
        }
        let e = &self.entries[(rand() % self.entries.len() as u64) as usize];
        Some((&e.key, &e.value))
    }

    /// Visits whole buckets from `cursor` on, in reverse-binary order, until
    /// at least `count` elements were visited (or `count` × 10 buckets
    /// walked); returns the next cursor, 0 once the scan has gone round.
    pub fn scan(&self, cursor: usize, count: usize, mut visit: impl FnMut(&Bytes, &V)) -> usize {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.buckets.len() - 1;
        let max_buckets = count.saturating_mul(SCAN_BUCKETS_PER_COUNT);
        let (mut v, mut seen, mut walked) = (cursor, 0, 0);
        loop {
            let mut i = self.buckets[v & mask];
            while i != NIL {
                let e = &self.entries[i as usize];
                visit(&e.key, &e.value);
                seen += 1;
                i = e.next;
            }
            walked += 1;
            // Increment the bits under the mask, read from the high end.
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            if v == 0 || seen >= count || walked >= max_buckets {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key(i: usize) -> Bytes {
        Bytes::from(format!("k{i}"))
    }

    impl HeapSize for usize {
        fn heap_size(&self) -> usize {
            0
        }
    }

    #[test]
    fn heap_bytes_follow_inserts_replacements_and_removals() {
        let mut m: Map<Bytes> = Map::default();
        m.insert(key(1), Bytes::from(vec![0; 100]));
        m.insert(key(1), Bytes::from(vec![0; 10]));
        m.insert(key(2), Bytes::from(vec![0; 30]));
        assert_eq!(m.payload, 2 * key(1).heap_size() + 32 + 48);
        m.remove(&key(1));
        m.remove(&key(2));
        assert_eq!(m.heap_bytes(), 0);
    }

    #[test]
    fn insert_get_remove_and_shrink() {
        let mut m = Map::default();
        for i in 0..1000 {
            assert_eq!(m.insert(key(i), i), None);
        }
        assert_eq!(m.insert(key(7), 70), Some(7));
        assert_eq!(m.len(), 1000);
        for i in (0..1000).step_by(2) {
            assert_eq!(m.remove(&key(i)), Some(if i == 7 { 70 } else { i }));
        }
        assert_eq!(m.remove(b"nosuch"), None);
        for i in 0..1000 {
            assert_eq!(m.get(&key(i)).is_some(), i % 2 == 1, "{i}");
        }
        for i in (1..1000).step_by(2).filter(|i| i % 10 != 1) {
            m.remove(&key(i));
        }
        assert_eq!(m.len(), 100);
        assert!(m.buckets.len() <= 128, "{} buckets", m.buckets.len());
        let keys: HashSet<Bytes> = m.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys.len(), 100);
    }

    /// Every element present for the whole scan is returned, however the
    /// table grows or shrinks between the calls.
    #[test]
    fn scan_survives_resizes() {
        let mut m = Map::default();
        for i in 0..100 {
            m.insert(key(i), ());
        }
        let (mut cursor, mut seen, mut round) = (0, HashSet::new(), 0);
        loop {
            cursor = m.scan(cursor, 5, |k, _| {
                seen.insert(k.clone());
            });
            round += 1;
            // Grow a lot, then shrink back, between calls.
            if round % 3 == 0 {
                for i in 0..500 {
                    m.insert(key(10_000 + round * 1000 + i), ());
                }
            } else if round % 3 == 1 {
                for i in 0..500 {
                    m.remove(&key(10_000 + (round - 1) * 1000 + i));
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100 {
            assert!(seen.contains(&key(i)), "k{i} missed");
        }
    }
}
