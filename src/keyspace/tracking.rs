//! Client-side caching on one shard (docs/pubsub.md, "Client tracking"):
//! which clients may have cached which keys of this shard, and the
//! invalidations owed to them. Redis's `TrackingTable` and `PrefixTable`,
//! cut by shard.
//!
//! - Default mode: a read by a tracking client remembers `key → client`
//!   here, in the same step as the read. The first change of the key
//!   (whatever made it: a command, expiry, eviction) forgets the key and
//!   owes one invalidation to each of its clients; a later read remembers
//!   it again. Keys are names only: as in Redis, the database does not
//!   count.
//! - BCAST: every core's prefixes with their clients are kept on every
//!   shard; a change of a key under a prefix owes that prefix's clients an
//!   invalidation, every time.
//!
//! The keyspace calls `touch` and `candidate` from the places where it
//! calls WATCH's (`watch`), so both see the same changes. Invalidations
//! owed pile up in `pending` until the node's sender (`node::tracking`)
//! takes them; it is woken when the first one comes.
//!
//! Bounds: the number of keys remembered is at most `max_keys` (this
//! shard's share of `tracking-table-max-keys`); past it, keys are forgotten
//! with an invalidation, as Redis does. A client's keys are forgotten when
//! it turns tracking off or goes away (`forget_client`), so a client's
//! entries live no longer than it does. `pending` is emptied every time
//! the sender runs.

use bytes::Bytes;
use hashbrown::{HashMap, HashSet};
use std::task::Waker;

/// An invalidation owed to a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalidation {
    pub client: u64,
    pub key: Bytes,
    /// Owed through a BCAST prefix (else through a remembered read).
    pub bcast: bool,
    /// The client whose command made the change (0: none, e.g. expiry):
    /// NOLOOP clients get nothing for their own changes.
    pub writer: u64,
}

#[derive(Default)]
pub struct Tracked {
    /// Remembered reads: key → the clients that read it.
    keys: HashMap<Bytes, Vec<u64>>,
    /// The same, by client, to forget a client's keys.
    by_client: HashMap<u64, HashSet<Bytes>>,
    /// `key, client` pairs remembered (Redis's `tracking_total_items`).
    items: usize,
    /// BCAST prefixes of every core's clients, with their clients.
    prefixes: Vec<(Bytes, Vec<u64>)>,
    /// Most keys remembered (0: no limit).
    pub max_keys: usize,
    /// The client whose command runs now (NOLOOP), 0 otherwise.
    pub writer: u64,
    pending: Vec<Invalidation>,
    /// Keys handed out for a change by the command now running.
    candidates: Vec<Bytes>,
    waker: Option<Waker>,
}

impl Tracked {
    /// Whether any client tracks anything here: the only check a change
    /// pays when nobody does.
    #[inline]
    pub fn active(&self) -> bool {
        !self.keys.is_empty() || !self.prefixes.is_empty()
    }

    /// Remembers that `client` read `key`.
    pub fn remember(&mut self, client: u64, key: &[u8]) {
        let clients = match self.keys.get_mut(key) {
            Some(c) => c,
            None => self.keys.entry(Bytes::copy_from_slice(key)).or_default(),
        };
        if clients.contains(&client) {
            return;
        }
        clients.push(client);
        self.items += 1;
        let stored = self
            .keys
            .get_key_value(key)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Bytes::copy_from_slice(key));
        self.by_client.entry(client).or_default().insert(stored);
        while self.max_keys != 0 && self.keys.len() > self.max_keys {
            // Any key: hashbrown's order is as good as Redis's random pick.
            let Some(victim) = self.keys.keys().next().cloned() else {
                break;
            };
            self.invalidate_remembered(&victim, 0);
        }
    }

    /// Forgets `key` and owes its clients an invalidation.
    fn invalidate_remembered(&mut self, key: &[u8], writer: u64) {
        let Some((key, clients)) = self.keys.remove_entry(key) else {
            return;
        };
        self.items -= clients.len();
        for client in clients {
            if let Some(set) = self.by_client.get_mut(&client) {
                set.remove(&key);
                if set.is_empty() {
                    self.by_client.remove(&client);
                }
            }
            self.owe(Invalidation {
                client,
                key: key.clone(),
                bcast: false,
                writer,
            });
        }
    }

    fn owe(&mut self, invalidation: Invalidation) {
        self.pending.push(invalidation);
        if self.pending.len() == 1 {
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    /// `key` changed.
    #[inline]
    pub fn touch(&mut self, key: &[u8]) {
        if self.active() {
            self.changed(key);
        }
    }

    fn changed(&mut self, key: &[u8]) {
        let writer = self.writer;
        self.invalidate_remembered(key, writer);
        if self.prefixes.is_empty() {
            return;
        }
        let mut owed = Vec::new();
        for (prefix, clients) in &self.prefixes {
            if key.starts_with(prefix) {
                let key = Bytes::copy_from_slice(key);
                owed.extend(clients.iter().map(|&client| Invalidation {
                    client,
                    key: key.clone(),
                    bcast: true,
                    writer,
                }));
            }
        }
        for o in owed {
            self.owe(o);
        }
    }

    /// `key` was handed out for a change: it changed if the command did.
    #[inline]
    pub fn candidate(&mut self, key: &[u8]) {
        if self.active() {
            self.candidates.push(Bytes::copy_from_slice(key));
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
            for key in &candidates {
                self.changed(key);
            }
        }
        self.candidates = candidates;
        self.candidates.clear();
    }

    /// FLUSHDB / FLUSHALL: every remembered read is forgotten (the clients
    /// get one null invalidation from the node instead, as in Redis).
    pub fn forget_reads(&mut self) {
        self.keys = HashMap::new();
        self.by_client = HashMap::new();
        self.items = 0;
    }

    /// Forgets everything of `client`: its remembered reads and prefixes.
    pub fn forget_client(&mut self, client: u64) {
        if let Some(keys) = self.by_client.remove(&client) {
            for key in keys {
                if let Some(clients) = self.keys.get_mut(&key) {
                    clients.retain(|&c| c != client);
                    self.items -= 1;
                    if clients.is_empty() {
                        self.keys.remove(&key);
                    }
                }
            }
        }
        self.remove_prefixes(client);
    }

    /// `client` (BCAST) is told of changes under `prefixes` from now on.
    pub fn add_prefixes(&mut self, client: u64, prefixes: &[Bytes]) {
        for p in prefixes {
            match self.prefixes.iter_mut().find(|(q, _)| q == p) {
                Some((_, clients)) => {
                    if !clients.contains(&client) {
                        clients.push(client);
                    }
                }
                None => self.prefixes.push((p.clone(), vec![client])),
            }
        }
    }

    fn remove_prefixes(&mut self, client: u64) {
        for (_, clients) in &mut self.prefixes {
            clients.retain(|&c| c != client);
        }
        self.prefixes.retain(|(_, clients)| !clients.is_empty());
    }

    /// The invalidations owed so far, now the caller's to send.
    pub fn take_pending(&mut self) -> Vec<Invalidation> {
        std::mem::take(&mut self.pending)
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Who to wake when the next invalidation is owed.
    pub fn set_waker(&mut self, waker: &Waker) {
        self.waker = Some(waker.clone());
    }

    /// INFO's `tracking_total_keys`, `tracking_total_items`,
    /// `tracking_total_prefixes` (of this shard).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.items, self.prefixes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &[Invalidation]) -> Vec<(u64, &[u8], bool)> {
        p.iter().map(|i| (i.client, &i.key[..], i.bcast)).collect()
    }

    #[test]
    fn a_read_key_is_invalidated_once_then_forgotten() {
        let mut t = Tracked::default();
        assert!(!t.active());
        t.remember(7, b"k");
        t.remember(7, b"k");
        t.remember(9, b"k");
        assert_eq!(t.counts(), (1, 2, 0));
        t.touch(b"other");
        assert!(!t.has_pending());
        t.writer = 9;
        t.touch(b"k");
        let p = t.take_pending();
        assert_eq!(keys(&p), vec![(7, &b"k"[..], false), (9, &b"k"[..], false)]);
        assert!(p.iter().all(|i| i.writer == 9));
        t.touch(b"k");
        assert!(!t.has_pending());
        assert_eq!(t.counts(), (0, 0, 0));
        assert!(!t.active());
    }

    #[test]
    fn candidates_count_only_when_the_command_changed_data() {
        let mut t = Tracked::default();
        t.remember(1, b"k");
        t.begin_command();
        t.candidate(b"k");
        t.end_command(false);
        assert!(!t.has_pending());
        t.begin_command();
        t.candidate(b"k");
        t.end_command(true);
        assert_eq!(t.take_pending().len(), 1);
    }

    #[test]
    fn prefixes_invalidate_every_change_and_go_with_their_client() {
        let mut t = Tracked::default();
        t.add_prefixes(3, &[Bytes::from_static(b"user:")]);
        t.add_prefixes(4, &[Bytes::from_static(b"")]);
        t.touch(b"user:1");
        t.touch(b"user:1");
        t.touch(b"item:1");
        let p = t.take_pending();
        assert_eq!(p.iter().filter(|i| i.client == 3).count(), 2);
        assert_eq!(p.iter().filter(|i| i.client == 4).count(), 3);
        t.forget_client(3);
        t.forget_client(4);
        assert!(!t.active());
    }

    #[test]
    fn the_table_is_bounded_and_a_client_leaves_nothing_behind() {
        let mut t = Tracked {
            max_keys: 2,
            ..Tracked::default()
        };
        for k in [&b"a"[..], b"b", b"c"] {
            t.remember(5, k);
        }
        assert_eq!(t.counts().0, 2);
        // The key let go was invalidated.
        assert_eq!(t.take_pending().len(), 1);
        t.max_keys = 0;
        t.remember(6, b"shared");
        t.remember(5, b"shared");
        t.forget_client(5);
        // The key client 6 read too stays, for it alone.
        assert_eq!(t.counts(), (1, 1, 0));
        t.forget_client(6);
        assert_eq!(t.counts(), (0, 0, 0));
        assert!(t.by_client.is_empty());
    }
}
