//! XREAD and XREADGROUP: their streams may live on several shards, so they
//! run on the connection's core. First every stream is checked in argument
//! order on its shard (type, group, `$`), so an error stops the command
//! before anything is served, as in Redis; then each stream is served on
//! its shard (`streams::read_key`, which logs a group's deliveries there).
//! With BLOCK and nothing to serve, the client registers on each key's
//! shard (`Shard::wait_for_stream`) and waits through the same machinery
//! as the blocking pops (`blocking::wait_blocked`: wake-up, timeout, CLIENT
//! UNBLOCK, hang-up); any write that gives a stream what a reader waits
//! for wakes it, whichever core the write came from. Group readers woken
//! for entries are served one at a time in the order they blocked, with the
//! blocking pops' tickets (`shard::Waiters`).

use super::blocking::{release, take_late_tickets, wait_blocked, Wait};
use super::cross::{run_shard_cmd_as, run_shard_cmd_with_ticket, shard_of};
use super::streams::{self, parse_strict_id};
use super::{arg_is, int_arg, syntax_error, Session};
use crate::keyspace::stream::StreamId;
use crate::node::Node;
use crate::protocol::Frame;
use crate::shard::{Access, StreamWait, Ticket};
use crate::util::now_ms;
use bytes::Bytes;
use std::time::{Duration, Instant};

struct ReadArgs<'a> {
    block: Option<Option<Duration>>,
    count: i64,
    keys: &'a [Bytes],
    ids: &'a [Bytes],
    group: Option<(Bytes, Bytes)>,
    noack: bool,
}

fn parse(args: &[Bytes], xreadgroup: bool) -> Result<ReadArgs<'_>, Frame> {
    let mut r = ReadArgs {
        block: None,
        count: 0,
        keys: &[],
        ids: &[],
        group: None,
        noack: false,
    };
    let mut streams_at = 0;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i];
        if arg_is(o, "block") && more > 0 {
            i += 1;
            let ms = crate::util::parse_i64(&args[i])
                .ok_or_else(|| Frame::error("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Frame::error("ERR timeout is negative"));
            }
            r.block = Some((ms > 0).then(|| Duration::from_millis(ms as u64)));
        } else if arg_is(o, "count") && more > 0 {
            i += 1;
            r.count = int_arg(&args[i])?.max(0);
        } else if arg_is(o, "streams") && more > 0 {
            streams_at = i + 1;
            let n = args.len() - streams_at;
            if !n.is_multiple_of(2) {
                let (name, symbol) = if xreadgroup {
                    ("xreadgroup", '>')
                } else {
                    ("xread", '$')
                };
                return Err(Frame::error(format!(
                    "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{symbol}' must be specified."
                )));
            }
            r.keys = &args[streams_at..streams_at + n / 2];
            r.ids = &args[streams_at + n / 2..];
            break;
        } else if arg_is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(Frame::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if arg_is(o, "noack") {
            if !xreadgroup {
                return Err(Frame::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if streams_at == 0 {
        return Err(syntax_error());
    }
    if xreadgroup && r.group.is_none() {
        return Err(Frame::error("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Where a stream is read from: after an ID, or (`None`) a group's `>`.
type After = Option<StreamId>;

/// XREAD [COUNT n] [BLOCK ms] STREAMS key [key ...] id [id ...];
/// XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS key [...] id [...]
pub(super) async fn xread(
    node: &Node,
    session: &mut Session,
    args: &[Bytes],
    xreadgroup: bool,
) -> Frame {
    let r = match parse(args, xreadgroup) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let db = session.db;
    // Every stream checked, in order, before anything is served.
    let mut after: Vec<After> = Vec::with_capacity(r.keys.len());
    for (key, id) in r.keys.iter().zip(r.ids) {
        let mut check = vec![word("RCSTREAMCHECK"), key.clone()];
        if let Some((g, _)) = &r.group {
            check.push(g.clone());
        }
        let shard = shard_of(node, key);
        let last = match run_shard_cmd_as(node, shard, streams::check_key, db, check, Access::Read)
            .await
        {
            e @ Frame::Error(_) => return e,
            Frame::Array(v) => match v.first() {
                Some(Frame::Bulk(b)) => streams::parse_id(b, 0).unwrap_or(StreamId::MIN),
                _ => StreamId::MIN,
            },
            _ => StreamId::MIN,
        };
        if id[..] == *b"$" {
            if xreadgroup {
                return Frame::error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            after.push(Some(last));
        } else if id[..] == *b">" {
            if !xreadgroup {
                return Frame::error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            after.push(None);
        } else {
            match parse_strict_id(id) {
                Ok(id) => after.push(Some(id)),
                Err(e) => return e,
            }
        }
    }
    let blocks = r.block.is_some() && !session.in_exec;
    let deadline = r.block.flatten().map(|t| Instant::now() + t);
    let mut woken = false;
    // The tickets of the last wake-up, by key (see `shard::Waiters`).
    let mut tickets: Vec<Option<Ticket>> = Vec::new();
    loop {
        let served = serve(node, db, &r, &after, woken, &mut tickets).await;
        release(node, r.keys, &mut tickets).await;
        let served = match served {
            Ok(served) => served,
            Err(e) => return e,
        };
        if !served.is_empty() {
            // RESP3: a map of key to entries; RESP2: [key, entries] pairs.
            return if session.proto == crate::protocol::Proto::Resp3 {
                Frame::Map(served)
            } else {
                Frame::Array(
                    served
                        .into_iter()
                        .map(|(k, v)| Frame::Array(vec![k, v]))
                        .collect(),
                )
            };
        }
        if !blocks {
            return Frame::NullArray;
        }
        let mut receivers = Vec::with_capacity(r.keys.len());
        let mut ready = false;
        for (key, a) in r.keys.iter().zip(&after) {
            let wait = StreamWait {
                after: a.unwrap_or(StreamId::MAX),
                group: match a {
                    None => r.group.as_ref().map(|(g, _)| g.clone()),
                    Some(_) => None,
                },
            };
            let k = key.clone();
            let registered = node
                .run_on(shard_of(node, key), move |n: &Node| {
                    n.shard.borrow_mut().wait_for_stream(db, k, wait, now_ms())
                })
                .await;
            match registered {
                None => return super::unavailable(),
                Some(None) => {
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
        if !matches!(wait, Wait::Woken) {
            release(node, r.keys, &mut tickets).await;
        }
        match wait {
            Wait::Woken => woken = true,
            Wait::TimedOut => return Frame::NullArray,
            Wait::HungUp => {
                session.closing = true;
                return Frame::NullArray;
            }
            Wait::Unblocked(true) => {
                return Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
            }
            Wait::Unblocked(false) => return Frame::NullArray,
        }
    }
}

/// One round: serves every stream that has something, in argument order.
/// After a wake-up, a group reader whose key or group went (or whose key
/// now holds another type) gets Redis's error; an XREAD reader passes over
/// a key of another type and waits on. A key's ticket goes back on its
/// shard right before its read, whose delivery wakes the next group reader.
async fn serve(
    node: &Node,
    db: usize,
    r: &ReadArgs<'_>,
    after: &[After],
    woken: bool,
    tickets: &mut [Option<Ticket>],
) -> Result<Vec<(Frame, Frame)>, Frame> {
    let mut served = Vec::new();
    for (i, (key, a)) in r.keys.iter().zip(after).enumerate() {
        let mut argv = vec![
            word("RCSTREAMREAD"),
            key.clone(),
            match a {
                Some(id) => id.to_bytes(),
                None => word(">"),
            },
            Bytes::from(r.count.to_string()),
        ];
        let access = match &r.group {
            Some((g, c)) => {
                argv.extend([g.clone(), c.clone(), word(if r.noack { "1" } else { "0" })]);
                Access::Write
            }
            None => Access::Read,
        };
        let shard = shard_of(node, key);
        // Only a group reader's ticket stands for a place in line.
        let ticket = tickets.get_mut(i).and_then(Option::take);
        let read = match ticket.filter(|_| r.group.is_some()) {
            Some(ticket) => {
                run_shard_cmd_with_ticket(node, shard, streams::read_key, db, argv, Some(ticket))
                    .await
            }
            None => run_shard_cmd_as(node, shard, streams::read_key, db, argv, access).await,
        };
        let gone = || Err(Frame::error("UNBLOCKED the stream key no longer exists"));
        let group_wait = woken && r.group.is_some() && a.is_none();
        match read {
            Frame::NullArray if group_wait => {
                // Woken, but the stream is gone.
                if !stream_exists(node, db, key).await {
                    return gone();
                }
            }
            Frame::NullArray => {}
            Frame::Error(e) if woken && e.starts_with("WRONGTYPE") => {
                if group_wait {
                    return gone();
                }
            }
            Frame::Error(e) if woken && e.starts_with("NOGROUP") => {
                return Err(Frame::error(
                    "NOGROUP the consumer group this client was blocked on no longer exists",
                ))
            }
            e @ Frame::Error(_) => return Err(e),
            entries => served.push((Frame::Bulk(key.clone()), entries)),
        }
    }
    Ok(served)
}

async fn stream_exists(node: &Node, db: usize, key: &Bytes) -> bool {
    let check = vec![word("RCSTREAMCHECK"), key.clone()];
    let shard = shard_of(node, key);
    matches!(
        run_shard_cmd_as(node, shard, streams::check_key, db, check, Access::Read).await,
        Frame::Array(_)
    )
}
