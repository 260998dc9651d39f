//! WATCH on one shard (docs/transactions.md): a version per watched key,
//! bumped by every change of the key, whatever made it (a command, expiry,
//! eviction, FLUSHDB/FLUSHALL, a key moved or popped). The keyspace calls
//! `touch` from the few places every change passes (store, TTL change,
//! removal, flush), Redis's `signalModifiedKey`; a change made in place
//! through an entry handed out for a change is a candidate until the
//! command ends, and counts only if the command changed data (a failed
//! INCR on a list is no change). A client remembers the version it saw at
//! WATCH; EXEC runs only if every version is still the same.
//!
//! Nobody watching costs one length check per change; a key is tracked
//! only while some client watches it (a count of watchers).

use bytes::Bytes;
use hashbrown::HashMap;

struct WatchedKey {
    /// Clients watching the key (each counts once).
    watchers: u32,
    /// Bumped by every change of the key.
    version: u64,
}

#[derive(Default)]
pub struct Watched {
    /// By database: the watched keys.
    dbs: Vec<HashMap<Bytes, WatchedKey>>,
    /// How many keys are watched, all databases together.
    keys: usize,
    /// Watched keys handed out for a change by the command now running.
    candidates: Vec<(usize, Bytes)>,
}

impl Watched {
    /// Whether any key of the shard is watched: the only check a change
    /// pays when nobody watches.
    #[inline]
    pub fn active(&self) -> bool {
        self.keys != 0
    }

    /// One more watcher of `key`; returns its version now.
    pub fn watch(&mut self, db: usize, key: &Bytes) -> u64 {
        if self.dbs.len() <= db {
            self.dbs.resize_with(db + 1, HashMap::new);
        }
        let map = &mut self.dbs[db];
        if let Some(w) = map.get_mut(&key[..]) {
            w.watchers += 1;
            return w.version;
        }
        map.insert(
            key.clone(),
            WatchedKey {
                watchers: 1,
                version: 0,
            },
        );
        self.keys += 1;
        0
    }

    /// One watcher fewer; the key is forgotten with its last watcher.
    pub fn unwatch(&mut self, db: usize, key: &[u8]) {
        let Some(map) = self.dbs.get_mut(db) else {
            return;
        };
        let Some(w) = map.get_mut(key) else {
            return;
        };
        w.watchers -= 1;
        if w.watchers == 0 {
            map.remove(key);
            self.keys -= 1;
            if map.is_empty() && map.capacity() > 64 {
                map.shrink_to_fit();
            }
        }
    }

    /// The version of a watched key (`None`: nobody watches it).
    pub fn version(&self, db: usize, key: &[u8]) -> Option<u64> {
        self.dbs.get(db)?.get(key).map(|w| w.version)
    }

    /// `key` changed.
    #[inline]
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if self.active() {
            self.bump(db, key);
        }
    }

    fn bump(&mut self, db: usize, key: &[u8]) {
        if let Some(w) = self.dbs.get_mut(db).and_then(|m| m.get_mut(key)) {
            w.version += 1;
        }
    }

    /// `key` was handed out for a change: it changed if the command did.
    #[inline]
    pub fn candidate(&mut self, db: usize, key: &[u8]) {
        if self.active() && self.version(db, key).is_some() {
            self.candidates.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// A command begins: candidates of anything before it are not its.
    #[inline]
    pub fn begin_command(&mut self) {
        if !self.candidates.is_empty() {
            self.candidates.clear();
        }
    }

    /// A command ended; `changed`: it changed data (Redis's dirty).
    #[inline]
    pub fn end_command(&mut self, changed: bool) {
        if self.candidates.is_empty() {
            return;
        }
        let candidates = std::mem::take(&mut self.candidates);
        if changed {
            for (db, key) in &candidates {
                self.bump(*db, key);
            }
        }
        // Keep the buffer, emptied.
        self.candidates = candidates;
        self.candidates.clear();
    }

    /// The watched keys of `db`, for FLUSHDB/FLUSHALL to touch those that
    /// exist.
    pub fn keys_of(&self, db: usize) -> Vec<Bytes> {
        self.dbs
            .get(db)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_changes_and_keys_go_with_their_last_watcher() {
        let mut w = Watched::default();
        let k = Bytes::from_static(b"k");
        assert!(!w.active());
        assert_eq!(w.watch(0, &k), 0);
        assert_eq!(w.watch(0, &k), 0);
        w.touch(0, b"k");
        w.touch(0, b"other");
        assert_eq!(w.version(0, b"k"), Some(1));
        w.candidate(0, b"k");
        w.end_command(false);
        assert_eq!(w.version(0, b"k"), Some(1));
        w.candidate(0, b"k");
        w.end_command(true);
        assert_eq!(w.version(0, b"k"), Some(2));
        w.unwatch(0, b"k");
        assert!(w.active());
        w.unwatch(0, b"k");
        assert!(!w.active());
        assert_eq!(w.version(0, b"k"), None);
        // An unwatch of what is not watched changes nothing.
        w.unwatch(3, b"k");
        assert!(!w.active());
    }
}
