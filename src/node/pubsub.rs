//! Pub/sub on one core (docs/pubsub.md). Each core keeps the subscriptions
//! of its own connections, and a view, the same on every core, of which
//! cores have subscribers to each channel, pattern and shard channel. A
//! PUBLISH delivers to this core's subscribers directly and sends one job to
//! each other core the view names (for the channel, and for every pattern
//! that matches it); the receivers count comes back with the jobs.
//!
//! A core announces to the others when it gets its first subscriber to a
//! name (and waits for them all to have it before SUBSCRIBE replies, so a
//! publish that starts after the reply reaches the subscriber) and when it
//! loses its last (without waiting: a stale entry costs a job that finds no
//! one). Jobs between two cores keep their order, so the others see a
//! core's announcements in the order it made them.
//!
//! A message is encoded into each subscriber's outbox, which its connection
//! task writes out whenever it has something; the outbox is bounded by the
//! `pubsub` class of `client-output-buffer-limit`: a subscriber over the
//! hard limit, or over the soft limit for longer than its time, is cut off
//! (its pending messages dropped) without slowing anyone else.

use super::{ClientInfo, Node};
use crate::config::{events, ClassLimit};
use crate::protocol::{Frame, Proto};
use crate::shard::KeyEvent;
use bytes::Bytes;
use hashbrown::{HashMap, HashSet};
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// The three namespaces of subscriptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Pattern,
    /// SSUBSCRIBE's shard channels: apart from the others, as in Redis.
    Shard,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];

    fn index(self) -> usize {
        self as usize
    }

    /// The word of the confirmations: `subscribe`, `psubscribe`, ...
    fn word(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Kind::Channel, true) => "subscribe",
            (Kind::Channel, false) => "unsubscribe",
            (Kind::Pattern, true) => "psubscribe",
            (Kind::Pattern, false) => "punsubscribe",
            (Kind::Shard, true) => "ssubscribe",
            (Kind::Shard, false) => "sunsubscribe",
        }
    }
}

/// One connection's side of pub/sub: what it subscribes to, and the
/// messages waiting for its connection task to write them.
pub struct Subscriber {
    pub id: u64,
    info: Rc<RefCell<ClientInfo>>,
    names: [RefCell<HashSet<Bytes>>; 3],
    outbox: RefCell<Vec<u8>>,
    /// Taken from the outbox and not yet written to the socket: still
    /// counts against the limits.
    in_flight: Cell<usize>,
    over_soft_since: Cell<Option<Instant>>,
    /// Why it was cut off (an output limit); its connection closes.
    cut_off: RefCell<Option<String>>,
    waker: RefCell<Option<Waker>>,
}

impl Subscriber {
    pub fn new(info: Rc<RefCell<ClientInfo>>) -> Rc<Subscriber> {
        let id = info.borrow().id;
        Rc::new(Subscriber {
            id,
            info,
            names: Default::default(),
            outbox: RefCell::default(),
            in_flight: Cell::new(0),
            over_soft_since: Cell::new(None),
            cut_off: RefCell::new(None),
            waker: RefCell::new(None),
        })
    }

    pub fn proto(&self) -> Proto {
        self.info.borrow().proto
    }

    /// Channels plus patterns: the count SUBSCRIBE and PSUBSCRIBE report.
    fn channel_count(&self) -> usize {
        self.names[0].borrow().len() + self.names[1].borrow().len()
    }

    fn count_for(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.names[2].borrow().len(),
            _ => self.channel_count(),
        }
    }

    /// Subscribed to anything: RESP2's subscribed mode, the pubsub output
    /// class, no idle timeout.
    pub fn subscribed(&self) -> bool {
        self.names.iter().any(|n| !n.borrow().is_empty())
    }

    fn update_info(&self) {
        let mut info = self.info.borrow_mut();
        info.sub = self.names[0].borrow().len();
        info.psub = self.names[1].borrow().len();
        info.ssub = self.names[2].borrow().len();
    }

    /// Queues encoded bytes for the client, within `limit`. False when the
    /// client is (now) cut off.
    pub(super) fn push_bytes(&self, bytes: &[u8], limit: &ClassLimit) -> bool {
        if self.cut_off.borrow().is_some() {
            return false;
        }
        let mut outbox = self.outbox.borrow_mut();
        let was_empty = outbox.is_empty();
        outbox.extend_from_slice(bytes);
        let pending = outbox.len() + self.in_flight.get();
        let why = if limit.hard_bytes > 0 && pending > limit.hard_bytes {
            Some(format!(
                "{pending} bytes of messages unwritten, over the pubsub output buffer hard limit ({} bytes)",
                limit.hard_bytes
            ))
        } else if limit.soft_bytes > 0 && limit.soft_seconds > 0 && pending > limit.soft_bytes {
            let since = self.over_soft_since.get().unwrap_or_else(Instant::now);
            self.over_soft_since.set(Some(since));
            (since.elapsed().as_secs() >= limit.soft_seconds).then(|| {
                format!(
                    "{pending} bytes of messages unwritten for {}s (pubsub output buffer soft limit {} bytes)",
                    limit.soft_seconds, limit.soft_bytes
                )
            })
        } else {
            self.over_soft_since.set(None);
            None
        };
        if let Some(why) = why {
            // Its messages go now: memory is given back at once.
            *outbox = Vec::new();
            *self.cut_off.borrow_mut() = Some(why);
            self.wake();
            return false;
        }
        if was_empty {
            self.wake();
        }
        true
    }

    /// Queues a frame for the client (a confirmation, a message).
    pub fn push(&self, frame: &Frame, limit: &ClassLimit) -> bool {
        let mut bytes = Vec::new();
        frame.encode(self.proto(), &mut bytes);
        self.push_bytes(&bytes, limit)
    }

    fn wake(&self) {
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Moves what is queued to the end of `out` (a batch's replies, in
    /// order with the messages).
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        let mut outbox = self.outbox.borrow_mut();
        if !outbox.is_empty() {
            out.extend_from_slice(&outbox);
            outbox.clear();
        }
    }

    /// Takes what is queued, to be written; its size counts as in flight
    /// until `written` says it was.
    pub fn take(&self) -> Vec<u8> {
        let taken = std::mem::take(&mut *self.outbox.borrow_mut());
        self.in_flight.set(taken.len());
        taken
    }

    /// What is left unwritten of what `take` gave.
    pub fn set_in_flight(&self, bytes: usize) {
        self.in_flight.set(bytes);
    }

    /// Why the client was cut off, if it was.
    pub fn cut_off(&self) -> Option<String> {
        self.cut_off.borrow().clone()
    }

    pub fn has_pending(&self) -> bool {
        !self.outbox.borrow().is_empty() || self.cut_off.borrow().is_some()
    }

    /// Until there is something to write, or the client was cut off.
    pub async fn pending(&self) {
        poll_fn(|cx| {
            if self.has_pending() {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// A set of core ids, small and sorted.
type Cores = Vec<u32>;

/// This core's pub/sub state.
#[derive(Default)]
pub struct PubSub {
    /// This core's subscribers, by kind and name.
    local: [HashMap<Bytes, Vec<Rc<Subscriber>>>; 3],
    /// Every core's: which cores have subscribers to a name.
    view: [HashMap<Bytes, Cores>; 3],
    /// Announcements of a first subscriber that not every core has
    /// acknowledged yet: a second subscriber waits for one of its own.
    pending_adds: HashMap<(Kind, Bytes), usize>,
    /// Messages for each other core not sent yet: a batch's publishes
    /// travel to a core as one job (`send_pending`).
    outgoing: Vec<Vec<Outgoing>>,
}

/// A message on its way to another core, and where its count goes.
struct Outgoing {
    kind: Kind,
    channel: Bytes,
    message: Bytes,
    count: futures_channel::oneshot::Sender<usize>,
}

impl PubSub {
    /// Every subscription of this core's clients: `(client id, name, is a
    /// pattern)` (ACL changes close the subscribers they no longer allow).
    pub fn subscriptions(&self) -> Vec<(u64, Bytes, bool)> {
        let mut out = Vec::new();
        for kind in Kind::ALL {
            for (name, subs) in &self.local[kind.index()] {
                out.extend(
                    subs.iter()
                        .map(|s| (s.id, name.clone(), kind == Kind::Pattern)),
                );
            }
        }
        out
    }

    /// Distinct channels, patterns and shard channels subscribed on any
    /// core (INFO's `pubsub_channels`, `pubsub_patterns`,
    /// `pubsubshard_channels`), from this core's view.
    pub fn counts(&self) -> [usize; 3] {
        [self.view[0].len(), self.view[1].len(), self.view[2].len()]
    }

    fn view_add(&mut self, kind: Kind, name: &Bytes, core: u32) {
        let cores = self.view[kind.index()].entry(name.clone()).or_default();
        if let Err(at) = cores.binary_search(&core) {
            cores.insert(at, core);
        }
    }

    fn view_remove(&mut self, kind: Kind, name: &Bytes, core: u32) {
        let view = &mut self.view[kind.index()];
        if let Some(cores) = view.get_mut(name) {
            cores.retain(|&c| c != core);
            if cores.is_empty() {
                view.remove(name);
            }
        }
    }
}

/// A message, encoded once per protocol for all its receivers on a core.
struct Encoded {
    frame: Frame,
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl Encoded {
    fn new(frame: Frame) -> Encoded {
        Encoded {
            frame,
            resp2: None,
            resp3: None,
        }
    }

    fn bytes(&mut self, proto: Proto) -> &[u8] {
        let slot = match proto {
            Proto::Resp2 => &mut self.resp2,
            Proto::Resp3 => &mut self.resp3,
        };
        slot.get_or_insert_with(|| {
            let mut out = Vec::new();
            self.frame.encode(proto, &mut out);
            out
        })
    }
}

/// Subscribes `sub` to `names`; returns the confirmations, in order, and
/// the names whose subscription other cores must learn of before the
/// confirmations may be seen (`announce`).
pub fn register(
    node: &Node,
    sub: &Rc<Subscriber>,
    kind: Kind,
    names: &[Bytes],
) -> (Vec<Frame>, Vec<Bytes>) {
    let mut ps = node.pubsub.borrow_mut();
    let mut confirmations = Vec::with_capacity(names.len());
    let mut announce = Vec::new();
    for name in names {
        if sub.names[kind.index()].borrow_mut().insert(name.clone()) {
            let list = ps.local[kind.index()].entry(name.clone()).or_default();
            list.push(sub.clone());
            let key = (kind, name.clone());
            if list.len() == 1 || ps.pending_adds.contains_key(&key) {
                *ps.pending_adds.entry(key).or_default() += 1;
                ps.view_add(kind, name, node.id as u32);
                announce.push(name.clone());
            }
        }
        confirmations.push(confirmation(sub, kind, true, name));
    }
    sub.update_info();
    (confirmations, announce)
}

/// Tells every other core that this one has subscribers to `names`, and
/// waits until they all know.
pub async fn announce(node: &Node, kind: Kind, names: Vec<Bytes>) {
    if names.is_empty() {
        return;
    }
    let core = node.id as u32;
    let others = (0..node.shard_count).filter(|&c| c != node.id).map(|c| {
        let names = names.clone();
        node.run_on(c, move |n: &Node| {
            let mut ps = n.pubsub.borrow_mut();
            for name in &names {
                ps.view_add(kind, name, core);
            }
        })
    });
    super::join_all(others).await;
    let mut ps = node.pubsub.borrow_mut();
    for name in names {
        let key = (kind, name);
        if let Some(n) = ps.pending_adds.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                ps.pending_adds.remove(&key);
            }
        }
    }
}

/// Unsubscribes `sub` from `names` (every name of `kind` if empty); returns
/// the confirmations. Cores that lose their last subscriber to a name tell
/// the others, without waiting.
pub fn unsubscribe(node: &Node, sub: &Rc<Subscriber>, kind: Kind, names: &[Bytes]) -> Vec<Frame> {
    let names: Vec<Bytes> = if names.is_empty() {
        sub.names[kind.index()].borrow().iter().cloned().collect()
    } else {
        names.to_vec()
    };
    let mut confirmations = Vec::with_capacity(names.len().max(1));
    let mut gone = Vec::new();
    {
        let mut ps = node.pubsub.borrow_mut();
        for name in &names {
            if sub.names[kind.index()].borrow_mut().remove(name) {
                let local = &mut ps.local[kind.index()];
                if let Some(list) = local.get_mut(name) {
                    list.retain(|s| !Rc::ptr_eq(s, sub));
                    if list.is_empty() {
                        local.remove(name);
                        ps.view_remove(kind, name, node.id as u32);
                        gone.push(name.clone());
                    }
                }
            }
            confirmations.push(confirmation(sub, kind, false, name));
        }
    }
    if names.is_empty() {
        // Nothing to unsubscribe from: one confirmation without a name.
        confirmations.push(Frame::Push(vec![
            Frame::bulk_str(kind.word(false)),
            Frame::Null,
            Frame::Integer(sub.count_for(kind) as i64),
        ]));
    }
    sub.update_info();
    if !gone.is_empty() {
        let core = node.id as u32;
        for c in (0..node.shard_count).filter(|&c| c != node.id) {
            let gone = gone.clone();
            node.post(c, move |n: &Node| {
                let mut ps = n.pubsub.borrow_mut();
                for name in &gone {
                    ps.view_remove(kind, name, core);
                }
            });
        }
    }
    confirmations
}

/// Drops every subscription of `sub` (its connection is closing, or RESET).
pub fn unsubscribe_all(node: &Node, sub: &Rc<Subscriber>) {
    for kind in Kind::ALL {
        if !sub.names[kind.index()].borrow().is_empty() {
            unsubscribe(node, sub, kind, &[]);
        }
    }
}

/// Unsubscribes its connection from everything when dropped.
pub struct OnClose {
    pub node: Rc<Node>,
    pub sub: Rc<Subscriber>,
}

impl Drop for OnClose {
    fn drop(&mut self) {
        unsubscribe_all(&self.node, &self.sub);
    }
}

/// Delivers a message to this core's subscribers of `channel` (and, for a
/// plain channel, of the patterns that match it); returns how many got it.
pub fn deliver(node: &Node, kind: Kind, channel: &Bytes, message: &Bytes) -> usize {
    let limit = node.config.borrow().output_limit.pubsub;
    let ps = node.pubsub.borrow();
    let mut receivers = 0;
    let direct = if kind == Kind::Shard {
        "smessage"
    } else {
        "message"
    };
    if let Some(list) = ps.local[kind.index()].get(channel) {
        let mut encoded = Encoded::new(Frame::Push(vec![
            Frame::bulk_str(direct),
            Frame::Bulk(channel.clone()),
            Frame::Bulk(message.clone()),
        ]));
        for sub in list {
            receivers += sub.push_bytes(encoded.bytes(sub.proto()), &limit) as usize;
        }
    }
    if kind == Kind::Channel {
        for (pattern, list) in &ps.local[Kind::Pattern.index()] {
            if !crate::util::glob_match(pattern, channel, false) {
                continue;
            }
            let mut encoded = Encoded::new(Frame::Push(vec![
                Frame::bulk_str("pmessage"),
                Frame::Bulk(pattern.clone()),
                Frame::Bulk(channel.clone()),
                Frame::Bulk(message.clone()),
            ]));
            for sub in list {
                receivers += sub.push_bytes(encoded.bytes(sub.proto()), &limit) as usize;
            }
        }
    }
    receivers
}

/// The other cores that may have receivers for `channel`, from the view.
fn remote_targets(node: &Node, kind: Kind, channel: &Bytes) -> Cores {
    let ps = node.pubsub.borrow();
    let mut cores: Cores = ps.view[kind.index()]
        .get(channel)
        .cloned()
        .unwrap_or_default();
    if kind == Kind::Channel {
        for (pattern, with) in &ps.view[Kind::Pattern.index()] {
            if with.iter().any(|c| cores.binary_search(c).is_err())
                && crate::util::glob_match(pattern, channel, false)
            {
                for &c in with {
                    if let Err(at) = cores.binary_search(&c) {
                        cores.insert(at, c);
                    }
                }
            }
        }
    }
    cores.retain(|&c| c as usize != node.id);
    cores
}

/// PUBLISH / SPUBLISH: delivers here and queues the message for the other
/// cores that may have receivers; the future counts the receivers. What is
/// queued leaves, one job per core, at the next `send_pending` (the
/// dispatcher calls it before it runs anything else, so messages leave in
/// the order they were published), or when a count is awaited.
pub fn publish(
    node: &Node,
    kind: Kind,
    channel: Bytes,
    message: Bytes,
) -> impl std::future::Future<Output = usize> + 'static {
    let targets = remote_targets(node, kind, &channel);
    let here = deliver(node, kind, &channel, &message);
    let mut counts = Vec::with_capacity(targets.len());
    if !targets.is_empty() {
        let mut ps = node.pubsub.borrow_mut();
        if ps.outgoing.len() < node.shard_count {
            ps.outgoing.resize_with(node.shard_count, Vec::new);
        }
        for c in targets {
            let (count, rx) = futures_channel::oneshot::channel();
            ps.outgoing[c as usize].push(Outgoing {
                kind,
                channel: channel.clone(),
                message: message.clone(),
                count,
            });
            counts.push(rx);
        }
    }
    let node = node.rc();
    async move {
        send_pending(&node);
        let there: usize = super::join_all(counts)
            .await
            .into_iter()
            .map(|r| r.unwrap_or(0))
            .sum();
        here + there
    }
}

/// Sends the queued messages, one job per core.
pub fn send_pending(node: &Node) {
    let batches: Vec<(usize, Vec<Outgoing>)> = {
        let mut ps = node.pubsub.borrow_mut();
        ps.outgoing
            .iter_mut()
            .enumerate()
            .filter(|(_, q)| !q.is_empty())
            .map(|(c, q)| (c, std::mem::take(q)))
            .collect()
    };
    for (c, batch) in batches {
        node.post(c, move |n: &Node| {
            for o in batch {
                let _ = o.count.send(deliver(n, o.kind, &o.channel, &o.message));
            }
        });
    }
}

/// Publishes without waiting for the count (keyspace events from a shard).
pub fn publish_detached(node: &Node, channel: Bytes, message: Bytes) {
    for c in remote_targets(node, Kind::Channel, &channel) {
        let (channel, message) = (channel.clone(), message.clone());
        node.post(c as usize, move |n: &Node| {
            deliver(n, Kind::Channel, &channel, &message);
        });
    }
    deliver(node, Kind::Channel, &channel, &message);
}

/// This core's subscription names of `kind` matching `pattern` (all if
/// None), with their local subscriber counts (PUBSUB CHANNELS, NUMSUB).
pub fn local_names(node: &Node, kind: Kind, pattern: Option<&[u8]>) -> Vec<(Bytes, usize)> {
    node.pubsub.borrow().local[kind.index()]
        .iter()
        .filter(|(name, _)| pattern.is_none_or(|p| crate::util::glob_match(p, name, false)))
        .map(|(name, list)| (name.clone(), list.len()))
        .collect()
}

/// This core's subscriber count for each of `names`.
pub fn local_counts(node: &Node, kind: Kind, names: &[Bytes]) -> Vec<usize> {
    let ps = node.pubsub.borrow();
    names
        .iter()
        .map(|n| ps.local[kind.index()].get(n).map_or(0, Vec::len))
        .collect()
}

/// Makes this core's shard publish its keyspace events here.
pub fn install_event_sink(node: &Rc<Node>) {
    let me = Rc::downgrade(node);
    let sink: crate::shard::EventSink = Rc::new(move |event: &KeyEvent| {
        if let Some(node) = me.upgrade() {
            publish_key_event(&node, event);
        }
    });
    node.shard.borrow_mut().event_sink = Some(sink);
}

/// Publishes one keyspace event as `notify-keyspace-events` says: the
/// event on `__keyspace@<db>__:<key>`, the key on
/// `__keyevent@<db>__:<event>`.
fn publish_key_event(node: &Node, event: &KeyEvent) {
    let flags = node.config.borrow().notify_keyspace_events;
    if flags & events::KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{}__:", event.db).into_bytes();
        channel.extend_from_slice(&event.key);
        publish_detached(
            node,
            channel.into(),
            Bytes::from_static(event.event.as_bytes()),
        );
    }
    if flags & events::KEYEVENT != 0 {
        let channel = format!("__keyevent@{}__:{}", event.db, event.event);
        publish_detached(node, channel.into(), event.key.clone());
    }
}

impl Node {
    /// Sends `f` to run on core `target` without waiting for it (itself:
    /// runs now). False if the core has gone.
    pub fn post(&self, target: usize, f: impl FnOnce(&Node) + Send + 'static) -> bool {
        if target == self.id {
            f(self);
            return true;
        }
        let job: super::Job = Box::new(move |node: &Node| {
            node.stats
                .jobs_received
                .set(node.stats.jobs_received.get() + 1);
            f(node)
        });
        let sent = self
            .peers
            .get(target)
            .is_some_and(|p| p.unbounded_send(job).is_ok());
        if let (true, Some(n)) = (sent, self.stats.jobs_sent_to.get(target)) {
            n.set(n.get() + 1);
        }
        sent
    }
}

/// A (un)subscribe confirmation: the word, the name, the client's count of
/// that kind now.
fn confirmation(sub: &Subscriber, kind: Kind, subscribe: bool, name: &Bytes) -> Frame {
    Frame::Push(vec![
        Frame::bulk_str(kind.word(subscribe)),
        Frame::Bulk(name.clone()),
        Frame::Integer(sub.count_for(kind) as i64),
    ])
}
