//! WATCH and UNWATCH (docs/transactions.md): a client's watched keys, each
//! with the version its shard gave it at WATCH (`keyspace::watch`). EXEC
//! compares the versions on the shards, in one step with running the
//! transaction (`exec`), and every way out of a transaction (EXEC, DISCARD,
//! RESET, UNWATCH, the client going away) tells the shards to forget them.

use super::Session;
use crate::node::Node;
use crate::protocol::Frame;
use crate::router;
use crate::shard::Shard;
use crate::util::now_ms;
use bytes::Bytes;
use std::rc::Rc;

/// One watched key: its shard, database, name and version at WATCH.
#[derive(Clone)]
pub struct WatchedKey {
    pub shard: usize,
    pub db: usize,
    pub key: Bytes,
    pub version: u64,
}

/// A client's watched keys.
#[derive(Default)]
pub struct Watches {
    keys: Vec<WatchedKey>,
    /// Set by the first WATCH: what a client that goes away tells its
    /// shards through.
    node: Option<Rc<Node>>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The watched keys, now no longer this client's to forget.
    pub fn take(&mut self) -> Vec<WatchedKey> {
        std::mem::take(&mut self.keys)
    }

    /// Gives keys back (EXEC without MULTI keeps them, as Redis).
    pub fn restore(&mut self, keys: Vec<WatchedKey>) {
        self.keys = keys;
    }

    /// The shards the watched keys live on.
    pub fn shards(keys: &[WatchedKey]) -> Vec<usize> {
        let mut s: Vec<usize> = keys.iter().map(|k| k.shard).collect();
        s.sort_unstable();
        s.dedup();
        s
    }
}

impl Drop for Watches {
    /// A client that goes away leaves nothing watched behind.
    fn drop(&mut self) {
        if let (Some(node), false) = (self.node.take(), self.keys.is_empty()) {
            forget(&node, std::mem::take(&mut self.keys));
        }
    }
}

/// WATCH key [key ...]
pub(super) async fn watch(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    if session.multi.is_some() {
        return Frame::error("ERR WATCH inside MULTI is not allowed");
    }
    let db = session.db;
    let shards = node.shard_count;
    let mut per_shard: Vec<Vec<Bytes>> = vec![Vec::new(); shards];
    for key in &args[1..] {
        let seen = session
            .watches
            .keys
            .iter()
            .any(|w| w.db == db && w.key == key)
            || per_shard.iter().flatten().any(|k| k == key);
        if !seen {
            per_shard[router::shard_of(key, shards)].push(key.clone());
        }
    }
    let calls = per_shard
        .into_iter()
        .enumerate()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(shard, keys)| async move {
            let versions = node
                .run_on(shard, move |n: &Node| {
                    let mut sh = n.shard.borrow_mut();
                    let now = now_ms();
                    let versions: Vec<u64> =
                        keys.iter().map(|k| sh.keyspace.watch(db, k, now)).collect();
                    // A key that had expired went: logged as a deletion.
                    sh.log_expired();
                    (keys, versions)
                })
                .await;
            (shard, versions)
        });
    for (shard, got) in crate::node::join_all(calls).await {
        let Some((keys, versions)) = got else {
            return super::unavailable();
        };
        for (key, version) in keys.into_iter().zip(versions) {
            session.watches.keys.push(WatchedKey {
                shard,
                db,
                key,
                version,
            });
        }
    }
    if session.watches.node.is_none() {
        session.watches.node = Some(node.rc());
    }
    session.info.borrow_mut().watched_keys = session.watches.len();
    Frame::OK
}

/// UNWATCH, and what EXEC, DISCARD and RESET do too.
pub(super) fn unwatch_all(node: &Node, session: &mut Session) {
    let keys = session.watches.take();
    session.info.borrow_mut().watched_keys = 0;
    if !keys.is_empty() {
        forget(node, keys);
    }
}

/// Tells the shards to forget `keys`, in the background: a new WATCH of
/// the same key only adds a watcher, so the order does not matter.
fn forget(node: &Node, keys: Vec<WatchedKey>) {
    let node = node.rc();
    glommio::spawn_local(async move {
        for shard in Watches::shards(&keys) {
            let mine: Vec<(usize, Bytes)> = keys
                .iter()
                .filter(|k| k.shard == shard)
                .map(|k| (k.db, k.key.clone()))
                .collect();
            node.run_on(shard, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                for (db, key) in &mine {
                    sh.keyspace.watched.unwatch(*db, key);
                }
            })
            .await;
        }
    })
    .detach();
}

/// On the shard, in the step that runs the transaction: whether the keys
/// watched here are unchanged; then they are forgotten here, whatever the
/// answer.
pub fn check_and_forget(sh: &mut Shard, keys: &[(usize, Bytes, u64)]) -> bool {
    let now = now_ms();
    let holds = keys
        .iter()
        .all(|(db, key, version)| sh.keyspace.watch_holds(*db, key, *version, now));
    for (db, key, _) in keys {
        sh.keyspace.watched.unwatch(*db, key);
    }
    holds
}

/// The keys watched on one shard: (database, key, version at WATCH).
pub type ShardKeys = Vec<(usize, Bytes, u64)>;

/// The keys watched on `shard`, as `check_and_forget` takes them.
pub fn on_shard(keys: &[WatchedKey], shard: usize) -> ShardKeys {
    keys.iter()
        .filter(|k| k.shard == shard)
        .map(|k| (k.db, k.key.clone(), k.version))
        .collect()
}

/// Checks (and forgets) watched keys shard by shard, for a transaction
/// (`tag`) that holds those shards or runs nothing on them.
pub async fn check_all(node: &Node, tag: u64, keys: &[WatchedKey]) -> bool {
    let calls = Watches::shards(keys).into_iter().map(|shard| {
        let mine = on_shard(keys, shard);
        node.run_tagged(shard, tag, move |n: &Node| {
            check_and_forget(&mut n.shard.borrow_mut(), &mine)
        })
    });
    crate::node::join_all(calls)
        .await
        .into_iter()
        .all(|ok| ok == Some(true))
}
