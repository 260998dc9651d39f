//! `Map`: the hash table behind large hashes, sets and sorted sets, keyed by
//! bytes. One process-wide random seed (not one per table: a table then costs
//! no 32-byte hasher state of its own); a value may move between shards, and
//! every core hashes the same way.
//!
//! SCAN over a `Map` uses the bucket index as its cursor: a scan that runs
//! while the table does not resize sees every element exactly once; a resize
//! in between may make it return some elements twice or miss some that moved
//! behind the cursor (Redis's reverse-binary cursor avoids the miss for its
//! power-of-two chained tables; hashbrown's probing tables do not allow it).

use bytes::Bytes;
use hashbrown::HashTable;
use std::sync::OnceLock;

fn hash(key: &[u8]) -> u64 {
    static SEED: OnceLock<ahash::RandomState> = OnceLock::new();
    SEED.get_or_init(ahash::RandomState::new).hash_one(key)
}

pub struct Map<V> {
    table: HashTable<(Bytes, V)>,
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map {
            table: HashTable::new(),
        }
    }
}

impl<V> Map<V> {
    pub fn with_capacity(n: usize) -> Self {
        Map {
            table: HashTable::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.table
            .find(hash(key), |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.table
            .find_mut(hash(key), |(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        let h = hash(&key);
        match self.table.find_mut(h, |(k, _)| *k == key) {
            Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
            None => {
                self.table.insert_unique(h, (key, value), |(k, _)| hash(k));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let entry = self.table.find_entry(hash(key), |(k, _)| k == key).ok()?;
        Some(entry.remove().0 .1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &V)> {
        self.table.iter().map(|(k, v)| (k, v))
    }

    /// An element picked by probing from a random bucket (slightly biased
    /// towards elements after empty runs, like Redis's own picks).
    pub fn random(&self, mut rand: impl FnMut() -> u64) -> Option<(&Bytes, &V)> {
        if self.table.is_empty() {
            return None;
        }
        let n = self.table.num_buckets();
        let start = (rand() % n as u64) as usize;
        (0..n)
            .find_map(|i| self.table.get_bucket((start + i) % n))
            .map(|(k, v)| (k, v))
    }

    /// Visits the elements of buckets `cursor..` until `count` elements were
    /// visited; returns the next cursor, 0 when the table has been walked.
    pub fn scan(&self, cursor: usize, count: usize, mut visit: impl FnMut(&Bytes, &V)) -> usize {
        let n = self.table.num_buckets();
        let (mut b, mut seen) = (cursor, 0);
        while b < n && seen < count {
            if let Some((k, v)) = self.table.get_bucket(b) {
                visit(k, v);
                seen += 1;
            }
            b += 1;
        }
        if b >= n {
            0
        } else {
            b
        }
    }
}
