//! Blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN, BZPOPMAX,
//! BLMPOP, BZMPOP; and LMPOP/ZMPOP, which try once like their blocking
//! forms inside MULTI (their keys may live on several shards too).
//!
//! They run on the connection's core. Each round tries the non-blocking pop
//! on every key in argument order (on the key's shard, through the same
//! handlers as LPOP/RPOP/LMOVE/ZPOPMIN/ZPOPMAX, so the log records the pop
//! that happened); if every key was empty, the client registers on the shard
//! of each key (`Shard::wait_for`) and awaits a wake-up, or the timeout. A
//! write that leaves a waited-on key holding a list (or sorted set) wakes the
//! client that has waited longest on it, as Redis serves them, and only it:
//! the shard gives it a ticket and wakes no one else for that key until the
//! ticket comes back, with the client's pop (whose write then wakes the next
//! client if elements are left) or, if it popped elsewhere or stopped
//! waiting, on its own (`release`).
//!
//! Only the blocked connection waits (its later pipelined commands too, as in
//! Redis); the core keeps serving the others. Inside MULTI/EXEC nothing
//! blocks: an empty key replies as if the timeout had passed.
//!
//! A blocked client that hangs up is noticed within `HANGUP_CHECK` (its socket
//! is polled for POLLRDHUP), and stops waiting without popping anything.
//! INFO's `blocked_clients` counts the clients waiting right now.

use super::cross::{lmove, run_shard_cmd_with_ticket, shard_of, type_of};
use super::{lists, zsets, Session};
use crate::node::{join_all, Node};
use crate::protocol::Frame;
use crate::shard::{ShardFn, Ticket, WaitKind};
use crate::util::now_ms;
use bytes::Bytes;
use futures_channel::oneshot;
use std::future::Future;
use std::os::fd::RawFd;
use std::task::Poll;
use std::time::{Duration, Instant};

/// How often a blocked client's socket is checked for a hang-up.
const HANGUP_CHECK: Duration = Duration::from_millis(100);

/// How a wait ended.
#[derive(PartialEq)]
pub(super) enum Wait {
    Woken,
    TimedOut,
    HungUp,
    /// CLIENT UNBLOCK (`true`: with an error).
    Unblocked(bool),
}

pub(super) enum Op {
    /// BLPOP (left) / BRPOP.
    Pop { left: bool },
    /// BZPOPMIN / BZPOPMAX (max).
    ZPop { max: bool },
    /// BLMOVE / BRPOPLPUSH.
    Move { dst: Bytes, from: Bytes, to: Bytes },
    /// [B]LMPOP / [B]ZMPOP: up to `count` elements from the first non-empty
    /// key; `first`: LEFT (lists) or MIN (sorted sets).
    MPop {
        zset: bool,
        first: bool,
        count: Bytes,
    },
}

/// BLPOP, BRPOP, BZPOPMIN, BZPOPMAX key [key ...] timeout
pub(super) async fn pop(node: &Node, session: &mut Session, args: &[Bytes], op: Op) -> Frame {
    let (keys, timeout) = (&args[1..args.len() - 1], &args[args.len() - 1]);
    wait_and_pop(node, session, op, keys, Some(timeout)).await
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub(super) async fn blmove(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    if lists::side(&args[3]).is_none() || lists::side(&args[4]).is_none() {
        return super::syntax_error();
    }
    let op = Op::Move {
        dst: args[2].clone(),
        from: args[3].clone(),
        to: args[4].clone(),
    };
    wait_and_pop(node, session, op, &args[1..2], Some(&args[5])).await
}

/// BRPOPLPUSH source destination timeout
pub(super) async fn brpoplpush(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let op = Op::Move {
        dst: args[2].clone(),
        from: Bytes::from_static(b"RIGHT"),
        to: Bytes::from_static(b"LEFT"),
    };
    wait_and_pop(node, session, op, &args[1..2], Some(&args[3])).await
}

/// LMPOP / ZMPOP numkeys key [key ...] LEFT|RIGHT (MIN|MAX) [COUNT count];
/// BLMPOP / BZMPOP (`blocks`) take a timeout first.
pub(super) async fn mpop(
    node: &Node,
    session: &mut Session,
    args: &[Bytes],
    zset: bool,
    blocks: bool,
) -> Frame {
    let at = if blocks { 2 } else { 1 };
    match parse_mpop(args, at, zset) {
        Ok((op, keys)) => wait_and_pop(node, session, op, keys, blocks.then(|| &args[1])).await,
        Err(e) => e,
    }
}

/// Pops for `op` from the first of `keys` that has something; with a
/// `timeout`, waits for one to fill up.
async fn wait_and_pop(
    node: &Node,
    session: &mut Session,
    op: Op,
    keys: &[Bytes],
    timeout: Option<&Bytes>,
) -> Frame {
    let db = session.db;
    // LMPOP and ZMPOP never block: they behave as if their timeout had passed.
    let blocks = timeout.is_some() && !session.in_exec;
    let timeout = match timeout.map(|t| parse_timeout(t)).transpose() {
        Ok(t) => t.flatten(),
        Err(e) => return e,
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    let kind = match op {
        Op::ZPop { .. } | Op::MPop { zset: true, .. } => WaitKind::ZSet,
        _ => WaitKind::List,
    };
    let timed_out = match op {
        Op::Move { .. } => Frame::Null,
        _ => Frame::NullArray,
    };
    // The tickets of the last wake-up, by key (see `shard::Waiters`).
    let mut tickets: Vec<Option<Ticket>> = Vec::new();
    let mut woken = false;
    loop {
        let reply = try_pop(node, db, &op, keys, &mut tickets, woken).await;
        woken = true;
        release(node, keys, &mut tickets).await;
        if let Some(reply) = reply {
            return reply;
        }
        if !blocks {
            return timed_out;
        }
        let mut receivers = Vec::with_capacity(keys.len());
        let mut ready = false;
        for key in keys {
            let k = key.clone();
            let registered = node
                .run_on(shard_of(node, key), move |n: &Node| {
                    n.shard.borrow_mut().wait_for(db, k, kind, now_ms())
                })
                .await;
            match registered {
                None => return Frame::error("ERR shard unavailable"),
                Some(None) => {
                    // The key filled up since we looked: try again now.
                    ready = true;
                    break;
                }
                Some(Some(rx)) => receivers.push(rx),
            }
        }
        tickets = receivers.iter().map(|_| None).collect();
        let wait = if ready {
            Wait::Woken
        } else {
            wait_blocked(node, session, &mut receivers, &mut tickets, deadline).await
        };
        // A wake-up may have come in alongside another, or a timeout.
        take_late_tickets(&mut receivers, &mut tickets);
        match wait {
            Wait::Woken => {}
            Wait::TimedOut => {
                release(node, keys, &mut tickets).await;
                return timed_out;
            }
            Wait::HungUp => {
                release(node, keys, &mut tickets).await;
                session.closing = true;
                return timed_out;
            }
            // CLIENT UNBLOCK: as a timeout, or with Redis's error.
            Wait::Unblocked(error) => {
                release(node, keys, &mut tickets).await;
                if error {
                    return Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                }
                return timed_out;
            }
        }
    }
}

/// Puts in `tickets` those that came on `receivers` after the wait ended.
pub(super) fn take_late_tickets(
    receivers: &mut [oneshot::Receiver<Ticket>],
    tickets: &mut [Option<Ticket>],
) {
    for (rx, t) in receivers.iter_mut().zip(tickets.iter_mut()) {
        if t.is_none() {
            *t = rx.try_recv().ok().flatten();
        }
    }
}

/// Hands back the tickets a round did not use for a pop (the element went to
/// another of the client's keys, or it stopped waiting), and has each of
/// their shards wake the next client in line.
pub(super) async fn release(node: &Node, keys: &[Bytes], tickets: &mut Vec<Option<Ticket>>) {
    let unused = keys
        .iter()
        .zip(tickets.drain(..))
        .filter_map(|(key, t)| t.map(|t| (shard_of(node, key), t)))
        .map(|(shard, ticket)| {
            node.run_on(shard, move |n: &Node| {
                drop(ticket);
                n.shard.borrow_mut().wake_ready(now_ms());
            })
        });
    join_all(unused).await;
}

/// Counts a client in INFO's `blocked_clients` while it lives.
pub(super) struct Blocked<'a>(&'a Node);

impl<'a> Blocked<'a> {
    pub(super) fn new(node: &'a Node) -> Self {
        let n = &node.stats.blocked_clients;
        n.set(n.get() + 1);
        Blocked(node)
    }
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        let n = &self.0.stats.blocked_clients;
        n.set(n.get().saturating_sub(1));
    }
}

/// Parses `numkeys key... LEFT|RIGHT (or MIN|MAX) [COUNT count]` from
/// `args[at]` on, with Redis's errors, checked in Redis's order.
fn parse_mpop(args: &[Bytes], at: usize, zset: bool) -> Result<(Op, &[Bytes]), Frame> {
    let numkeys = match crate::util::parse_i64(&args[at]) {
        Some(n) if n >= 1 => n as usize,
        _ => return Err(Frame::error("ERR numkeys should be greater than 0")),
    };
    let keys_end = match (at + 1).checked_add(numkeys) {
        Some(end) if end < args.len() => end,
        _ => return Err(super::syntax_error()),
    };
    let word = &args[keys_end];
    let (a, b) = if zset {
        ("min", "max")
    } else {
        ("left", "right")
    };
    let first = if super::arg_is(word, a) {
        true
    } else if super::arg_is(word, b) {
        false
    } else {
        return Err(super::syntax_error());
    };
    // Options one by one, as Redis reads them: COUNT once, its value
    // checked before anything after it.
    let mut count = None;
    let mut rest = args[keys_end + 1..].iter();
    while let Some(opt) = rest.next() {
        match rest.as_slice().first() {
            Some(n) if count.is_none() && super::arg_is(opt, "count") => {
                match crate::util::parse_i64(n) {
                    Some(x) if x >= 1 => count = Some(n.clone()),
                    _ => return Err(Frame::error("ERR count should be greater than 0")),
                }
                rest.next();
            }
            _ => return Err(super::syntax_error()),
        }
    }
    let count = count.unwrap_or_else(|| Bytes::from_static(b"1"));
    let op = Op::MPop { zset, first, count };
    Ok((op, &args[at + 1..keys_end]))
}

/// Parses a timeout in seconds (fractional allowed) as Redis does: it counts
/// in whole milliseconds, and 0 means forever (None).
fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, Frame> {
    let secs: f64 = std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.is_empty() && !s.starts_with(char::is_whitespace))
        .filter(|s| !s.ends_with(char::is_whitespace))
        .and_then(|s| s.parse().ok())
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| Frame::error("ERR timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0) as i64;
    if ms < 0 {
        return Err(Frame::error("ERR timeout is negative"));
    }
    if ms as f64 >= 9.0e15 {
        return Err(Frame::error("ERR timeout is out of range"));
    }
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// One round: pops from the first key that has something, in argument order.
/// None if every key was empty. After a wake-up (`woken`), a key that no
/// longer holds a list (or sorted set) counts as empty: Redis serves blocked
/// clients only from keys of the awaited type, so a transaction that pushed
/// to the key and then made it a string leaves them waiting.
async fn try_pop(
    node: &Node,
    db: usize,
    op: &Op,
    keys: &[Bytes],
    tickets: &mut [Option<Ticket>],
    woken: bool,
) -> Option<Frame> {
    let passed_over = |reply: &Frame| woken && *reply == super::wrong_type();
    for (i, key) in keys.iter().enumerate() {
        // This key's ticket goes back with the pop (a move keeps it: it is
        // released after, as the move may pop nothing).
        let ticket = match op {
            Op::Move { .. } => None,
            _ => tickets.get_mut(i).and_then(Option::take),
        };
        match op {
            Op::Pop { left } => {
                let name: &[u8] = if *left { b"LPOP" } else { b"RPOP" };
                let shard = shard_of(node, key);
                let args = argv(&[name, key]);
                match run_shard_cmd_with_ticket(node, shard, lists::lpop_or_rpop, db, args, ticket)
                    .await
                {
                    Frame::Null => {}
                    Frame::Bulk(v) => {
                        return Some(Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Bulk(v)]))
                    }
                    other if passed_over(&other) => {}
                    other => return Some(other),
                }
            }
            Op::ZPop { max } => {
                let name: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                let shard = shard_of(node, key);
                let args = argv(&[name, key]);
                match run_shard_cmd_with_ticket(node, shard, zsets::zpop, db, args, ticket).await {
                    Frame::Array(v) if v.is_empty() => {}
                    Frame::Array(v) => {
                        let mut reply = vec![Frame::Bulk(key.clone())];
                        reply.extend(v);
                        return Some(Frame::Array(reply));
                    }
                    other if passed_over(&other) => {}
                    other => return Some(other),
                }
            }
            Op::MPop { zset, first, count } => {
                let (f, name): (ShardFn, &[u8]) = match (zset, first) {
                    (false, true) => (lists::lpop_or_rpop, b"LPOP"),
                    (false, false) => (lists::lpop_or_rpop, b"RPOP"),
                    (true, true) => (zsets::zpop, b"ZPOPMIN"),
                    (true, false) => (zsets::zpop, b"ZPOPMAX"),
                };
                let shard = shard_of(node, key);
                let args = argv(&[name, key, count]);
                let popped = match run_shard_cmd_with_ticket(node, shard, f, db, args, ticket).await
                {
                    Frame::NullArray => continue,
                    Frame::Array(v) if v.is_empty() => continue,
                    Frame::Array(v) => v,
                    // [member, score] pairs, in RESP2 too.
                    Frame::Pairs(p) if p.is_empty() => continue,
                    Frame::Pairs(p) => p
                        .into_iter()
                        .map(|(m, s)| Frame::Array(vec![m, s]))
                        .collect(),
                    other if passed_over(&other) => continue,
                    other => return Some(other),
                };
                return Some(Frame::Array(vec![
                    Frame::Bulk(key.clone()),
                    Frame::Array(popped),
                ]));
            }
            Op::Move { dst, from, to } => {
                let args = argv(&[b"LMOVE", key, dst, from, to]);
                match lmove(node, db, &args).await {
                    Frame::Null => {}
                    // The destination's wrong type is the client's error.
                    other if passed_over(&other) && type_of(node, db, key).await != "list" => {}
                    other => return Some(other),
                }
            }
        }
    }
    None
}

/// Waits until one of `receivers` fires (its ticket, if any, put in
/// `tickets`), the deadline passes, or the client hangs up. A receiver whose
/// sender went away counts as a wake-up: the caller retries and registers
/// again.
/// Waits as a blocked client (counted in `blocked_clients`, reachable by
/// CLIENT UNBLOCK) for a wake-up, the deadline, a hang-up or CLIENT UNBLOCK:
/// the blocking pops' wait and XREAD's.
pub(super) async fn wait_blocked(
    node: &Node,
    session: &Session,
    receivers: &mut [oneshot::Receiver<Ticket>],
    tickets: &mut [Option<Ticket>],
    deadline: Option<Instant>,
) -> Wait {
    let _blocked = Blocked::new(node);
    let (unblock, mut unblocked) = oneshot::channel();
    session.info.borrow_mut().unblock = Some(unblock);
    let wait = wait_any(receivers, tickets, deadline, session.socket, &mut unblocked).await;
    session.info.borrow_mut().unblock = None;
    wait
}

async fn wait_any(
    receivers: &mut [oneshot::Receiver<Ticket>],
    tickets: &mut [Option<Ticket>],
    deadline: Option<Instant>,
    socket: Option<RawFd>,
    unblocked: &mut oneshot::Receiver<bool>,
) -> Wait {
    let woken = std::future::poll_fn(|cx| {
        let mut any = false;
        for (rx, t) in receivers.iter_mut().zip(tickets.iter_mut()) {
            match std::pin::Pin::new(rx).poll(cx) {
                Poll::Ready(ticket) => {
                    *t = ticket.ok();
                    any = true;
                }
                Poll::Pending => {}
            }
        }
        if any {
            Poll::Ready(Wait::Woken)
        } else {
            Poll::Pending
        }
    });
    let hangup = async {
        loop {
            let now = Instant::now();
            let pause = match deadline {
                Some(at) if at <= now => return Wait::TimedOut,
                Some(at) => HANGUP_CHECK.min(at - now),
                None => HANGUP_CHECK,
            };
            glommio::timer::sleep(pause).await;
            if socket.is_some_and(hung_up) {
                return Wait::HungUp;
            }
        }
    };
    let unblock = async {
        match unblocked.await {
            Ok(error) => Wait::Unblocked(error),
            Err(_) => std::future::pending().await,
        }
    };
    futures_lite::future::or(futures_lite::future::or(woken, unblock), hangup).await
}

/// Whether the peer of `fd` has closed its end (or the socket failed).
fn hung_up(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout: only reads the socket's state.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0
}
