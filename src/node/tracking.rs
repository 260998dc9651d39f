//! Client-side caching across cores (docs/pubsub.md, "Client tracking").
//! A shard remembers which clients read which of its keys, and which BCAST
//! prefixes every core's clients follow (`keyspace::tracking`); when one of
//! those keys changes, the invalidations it owes go to the cores of the
//! clients owed, as pub/sub messages do (`Node::post`, FIFO per pair of
//! cores), and there into the client's outbox (`pubsub::Subscriber`): a
//! RESP3 push `invalidate [keys]`, or through the redirect client, on
//! whatever core it lives, a push in RESP3 or a `__redis__:invalidate`
//! message for a RESP2 subscriber, as Redis sends them.
//!
//! Each core runs one sender task (`sender`), woken when its shard first
//! owes something; it takes everything owed and sends one job per core:
//! Redis's "before sleep" step, here per shard. Who a client is, and how it
//! tracks, is known only on its own core (`ClientInfo::tracking`), so the
//! checks that depend on it (still tracking, BCAST or not, NOLOOP, where to
//! redirect) are made there.

use super::clients::Clients;
use super::pubsub::Subscriber;
use super::Node;
use crate::config::ClassLimit;
use crate::keyspace::tracking::{Invalidation, Tracked};
use crate::protocol::{Frame, Proto};
use bytes::Bytes;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

/// The channel RESP2 redirect clients get invalidations on.
pub const CHANNEL: &str = "__redis__:invalidate";

/// One message for a tracking client: keys that changed, or (`None`) the
/// null of a flush.
struct Message {
    client: u64,
    keys: Option<Vec<Bytes>>,
    /// Owed through a BCAST prefix; a flush's null goes to every mode.
    bcast: bool,
    flush: bool,
    writer: u64,
}

/// This core's sender: sends what its shard owes, whenever it owes
/// something. Runs as long as the core.
pub async fn sender(node: Rc<Node>) {
    loop {
        let owed = poll_fn(|cx| {
            let mut sh = node.shard.borrow_mut();
            let t = &mut sh.keyspace.tracked;
            if t.has_pending() {
                Poll::Ready(t.take_pending())
            } else {
                t.set_waker(cx.waker());
                Poll::Pending
            }
        })
        .await;
        send(&node, owed);
    }
}

/// Groups what is owed into messages (one per key in default mode, one
/// per client with all its keys for BCAST, as Redis) and sends one job to
/// each core with clients owed.
fn send(node: &Node, owed: Vec<Invalidation>) {
    let mut per_core: Vec<Vec<Message>> = (0..node.shard_count).map(|_| Vec::new()).collect();
    let mut bcast: Vec<Message> = Vec::new();
    // A key changed twice since the last send (or seen twice by one
    // command: looked up for a change, then stored) is named once per
    // client, as Redis collects a prefix's keys between two sleeps.
    let mut named: hashbrown::HashSet<(u64, Bytes)> = hashbrown::HashSet::new();
    for i in owed {
        if i.bcast {
            if !named.insert((i.client, i.key.clone())) {
                continue;
            }
            let found = bcast
                .iter_mut()
                .find(|m| m.client == i.client && m.writer == i.writer);
            match found {
                Some(m) => m.keys.get_or_insert_with(Vec::new).push(i.key),
                None => bcast.push(Message {
                    client: i.client,
                    keys: Some(vec![i.key]),
                    bcast: true,
                    flush: false,
                    writer: i.writer,
                }),
            }
        } else {
            per_core[Clients::core_of(i.client, node.shard_count)].push(Message {
                client: i.client,
                keys: Some(vec![i.key]),
                bcast: false,
                flush: false,
                writer: i.writer,
            });
        }
    }
    for m in bcast {
        per_core[Clients::core_of(m.client, node.shard_count)].push(m);
    }
    for (core, messages) in per_core.into_iter().enumerate() {
        if !messages.is_empty() {
            node.post(core, move |n: &Node| deliver(n, messages));
        }
    }
}

/// FLUSHDB / FLUSHALL (after every shard forgot its reads): a null
/// invalidation to every tracking client, on every core.
pub fn flushed(node: &Node) {
    for core in 0..node.shard_count {
        node.post(core, |n: &Node| {
            let clients: Vec<u64> = n
                .clients
                .borrow()
                .connected
                .iter()
                .filter(|(_, c)| c.borrow().tracking.is_some())
                .map(|(&id, _)| id)
                .collect();
            let messages = clients
                .into_iter()
                .map(|client| Message {
                    client,
                    keys: None,
                    bcast: false,
                    flush: true,
                    writer: 0,
                })
                .collect();
            deliver(n, messages);
        });
    }
}

/// On the tracking clients' core: sends each message as the client's
/// settings say.
fn deliver(node: &Node, messages: Vec<Message>) {
    for m in messages {
        let info = node.clients.borrow().connected.get(&m.client).cloned();
        let Some(info) = info else { continue };
        let redirect = {
            let info = info.borrow();
            let Some(t) = &info.tracking else { continue };
            let wanted = m.flush || (t.bcast == m.bcast && !(t.noloop && m.writer == m.client));
            if !wanted {
                continue;
            }
            t.redirect
        };
        if redirect == 0 {
            if let Some(sub) = node.clients.borrow().pushes.get(&m.client) {
                push_invalidation(node, sub, m.keys, false);
            }
            continue;
        }
        let (client, keys) = (m.client, m.keys);
        let core = Clients::core_of(redirect, node.shard_count);
        node.post(core, move |n: &Node| redirected(n, client, redirect, keys));
    }
}

/// On the redirect client's core.
fn redirected(node: &Node, from: u64, redirect: u64, keys: Option<Vec<Bytes>>) {
    let sub = node.clients.borrow().pushes.get(&redirect).cloned();
    match sub {
        Some(sub) => push_invalidation(node, &sub, keys, true),
        None => {
            // Gone: the tracking client is told, on its own core.
            let core = Clients::core_of(from, node.shard_count);
            node.post(core, move |n: &Node| redirect_broken(n, from, redirect));
        }
    }
}

/// The redirect client of `client` is gone: flag `R`, and in RESP3 a
/// `tracking-redir-broken` push, as Redis sends at each invalidation.
fn redirect_broken(node: &Node, client: u64, redirect: u64) {
    let info = node.clients.borrow().connected.get(&client).cloned();
    let Some(info) = info else { return };
    let proto = {
        let mut info = info.borrow_mut();
        match &mut info.tracking {
            Some(t) if t.redirect == redirect => t.broken_redirect = true,
            _ => return,
        }
        info.proto
    };
    if proto == Proto::Resp3 {
        if let Some(sub) = node.clients.borrow().pushes.get(&client) {
            let frame = Frame::Push(vec![
                Frame::bulk_str("tracking-redir-broken"),
                Frame::Integer(redirect as i64),
            ]);
            sub.push(&frame, &limit_for(node, sub));
        }
    }
}

/// Queues one invalidation for `sub`: a push in RESP3; for a RESP2 client
/// that receives others' invalidations (`redirected`) and is subscribed,
/// a message on `__redis__:invalidate`; nothing otherwise (RESP2 has no
/// way to say it on the same connection), as Redis does.
fn push_invalidation(node: &Node, sub: &Subscriber, keys: Option<Vec<Bytes>>, redirected: bool) {
    let payload = match keys {
        Some(keys) => Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
        None => Frame::Null,
    };
    let frame = if sub.proto() == Proto::Resp3 {
        Frame::Push(vec![Frame::bulk_str("invalidate"), payload])
    } else if redirected && sub.subscribed() {
        Frame::Push(vec![
            Frame::bulk_str("message"),
            Frame::bulk_str(CHANNEL),
            payload,
        ])
    } else {
        return;
    };
    sub.push(&frame, &limit_for(node, sub));
}

/// The output limit of a client's class: `pubsub` for a subscriber,
/// `normal` otherwise.
fn limit_for(node: &Node, sub: &Subscriber) -> ClassLimit {
    let c = node.config.borrow();
    if sub.subscribed() {
        c.output_limit.pubsub
    } else {
        c.output_limit.normal()
    }
}

/// Runs `f` on every shard's tracking table, in order with this core's
/// other changes to them (jobs between two cores keep their order; this
/// bookkeeping does not wait for a transaction's hold), and waits until all
/// have run it.
pub async fn on_every_shard(node: &Node, f: impl Fn(&mut Tracked) + Send + Clone + 'static) {
    let acks = (0..node.shard_count).map(|core| {
        let (tx, rx) = futures_channel::oneshot::channel();
        let f = f.clone();
        node.post(core, move |n: &Node| {
            f(&mut n.shard.borrow_mut().keyspace.tracked);
            let _ = tx.send(());
        });
        rx
    });
    super::join_all(acks.collect::<Vec<_>>()).await;
}

/// Forgets everything of `client` on every shard, without waiting (it
/// turned tracking off, or went away).
pub fn forget_everywhere(node: &Node, client: u64) {
    for core in 0..node.shard_count {
        node.post(core, move |n: &Node| {
            n.shard.borrow_mut().keyspace.tracked.forget_client(client);
        });
    }
}

/// Whether client `id` is connected (on its own core).
pub async fn exists(node: &Node, id: u64) -> bool {
    let core = Clients::core_of(id, node.shard_count);
    node.run_on(core, move |n: &Node| {
        n.clients
            .borrow()
            .connected
            .get(&id)
            .is_some_and(|c| !c.borrow().killed)
    })
    .await
    .unwrap_or(false)
}

/// This core's tracking clients (INFO's `tracking_clients`).
pub fn local_clients(node: &Node) -> usize {
    node.clients
        .borrow()
        .connected
        .values()
        .filter(|c| c.borrow().tracking.is_some())
        .count()
}
