//! Pub/sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH,
//! PUBSUB, and RESP2's subscribed mode. The mechanism (subscriptions per
//! core, how a publish reaches the other cores, the output bounds) is in
//! `node::pubsub` and docs/pubsub.md.

use super::{Command, FrontCmd, Route, Session};
use crate::config::ClassLimit;
use crate::node::pubsub::{self, Kind};
use crate::node::Node;
use crate::protocol::{Frame, Proto};
use bytes::Bytes;

/// Confirmations are replies: no output limit cuts a client for them.
const NO_LIMIT: ClassLimit = ClassLimit {
    hard_bytes: 0,
    soft_bytes: 0,
    soft_seconds: 0,
};

/// Hands the confirmations to the client: inside EXEC as part of its reply,
/// otherwise through the outbox, where messages that arrive after them
/// queue behind them (the dispatcher moves the outbox into the replies
/// right after the command).
fn confirm(session: &Session, confirmations: Vec<Frame>) -> Frame {
    if session.in_exec {
        return Frame::Many(confirmations);
    }
    for c in &confirmations {
        session.pubsub.push(c, &NO_LIMIT);
    }
    Frame::Many(Vec::new())
}

/// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE name [name ...]
pub(super) async fn subscribe(
    node: &Node,
    session: &mut Session,
    kind: Kind,
    args: &[Bytes],
) -> Frame {
    let (confirmations, announce) = pubsub::register(node, &session.pubsub, kind, &args[1..]);
    let reply = confirm(session, confirmations);
    // The other cores learn of a first subscriber here before the client
    // sees its confirmation go by (the outbox is written after this).
    pubsub::announce(node, kind, announce).await;
    reply
}

/// UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE [name ...]
pub(super) fn unsubscribe(node: &Node, session: &mut Session, kind: Kind, args: &[Bytes]) -> Frame {
    let confirmations = pubsub::unsubscribe(node, &session.pubsub, kind, &args[1..]);
    confirm(session, confirmations)
}

/// PUBLISH / SPUBLISH channel message
pub(super) async fn publish(node: &Node, cmd: &Command, args: &[Bytes]) -> Frame {
    publish_now(node, cmd, args).await
}

/// PUBLISH / SPUBLISH, sent now; the reply (the receivers count) comes
/// later. The dispatcher runs a batch's publishes this way, so a pipelined
/// publisher does not wait for one message to reach the other cores before
/// it sends the next.
pub(super) fn publish_now(
    node: &Node,
    cmd: &Command,
    args: &[Bytes],
) -> impl std::future::Future<Output = Frame> + 'static {
    let kind = if cmd.name == "spublish" {
        Kind::Shard
    } else {
        Kind::Channel
    };
    let count = pubsub::publish(node, kind, args[1].clone(), args[2].clone());
    async move { Frame::Integer(count.await as i64) }
}

/// PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB|HELP
pub(super) async fn pubsub_cmd(node: &Node, cmd: &Command, args: &[Bytes]) -> Frame {
    let sub = match super::subcommand(cmd, args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match sub.as_str() {
        "channels" | "shardchannels" => {
            let kind = if sub == "channels" { Kind::Channel } else { Kind::Shard };
            let pattern = args.get(2).cloned();
            let names = node
                .run_on_all(move |n: &Node| {
                    pubsub::local_names(n, kind, pattern.as_deref())
                        .into_iter()
                        .map(|(name, _)| name)
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            let mut all: Vec<Bytes> = names.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            Frame::Array(all.into_iter().map(Frame::Bulk).collect())
        }
        "numsub" | "shardnumsub" => {
            let kind = if sub == "numsub" { Kind::Channel } else { Kind::Shard };
            let names: Vec<Bytes> = args[2..].to_vec();
            let asked = names.clone();
            let counts = node
                .run_on_all(move |n: &Node| pubsub::local_counts(n, kind, &asked))
                .await
                .unwrap_or_default();
            // A flat array in both protocols, as Redis 7.0 replies.
            let mut flat = Vec::with_capacity(2 * names.len());
            for (i, name) in names.into_iter().enumerate() {
                let total: usize = counts.iter().filter_map(|c| c.get(i)).sum();
                flat.push(Frame::Bulk(name));
                flat.push(Frame::Integer(total as i64));
            }
            Frame::Array(flat)
        }
        "numpat" => {
            let patterns = node
                .run_on_all(|n: &Node| {
                    pubsub::local_names(n, Kind::Pattern, None)
                        .into_iter()
                        .map(|(p, _)| p)
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            let mut all: Vec<Bytes> = patterns.into_iter().flatten().collect();
            all.sort();
            all.dedup();
            Frame::Integer(all.len() as i64)
        }
        "help" => Frame::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::simple(*s))
            .collect(),
        ),
        _ => super::unknown_subcommand(cmd.name, &args[1]),
    }
}

/// RESP2's subscribed mode: a client subscribed to anything may only
/// (un)subscribe, PING, QUIT and RESET, as in Redis.
pub(super) fn allowed_in_context(
    session: &Session,
    cmd: &Command,
    args: &[Bytes],
) -> Result<(), Frame> {
    if session.proto != Proto::Resp2 || !session.pubsub.subscribed() {
        return Ok(());
    }
    let allowed = matches!(
        cmd.route,
        Route::Front(
            FrontCmd::Subscribe
                | FrontCmd::Psubscribe
                | FrontCmd::Ssubscribe
                | FrontCmd::Unsubscribe
                | FrontCmd::Punsubscribe
                | FrontCmd::Sunsubscribe
                | FrontCmd::Ping
                | FrontCmd::Quit
        )
    ) || cmd.name == "reset";
    if allowed {
        Ok(())
    } else {
        Err(Frame::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.full_name(args.get(1).and_then(|a| cmd.subcommand_index(a)))
        )))
    }
}

/// PING's reply in RESP2's subscribed mode: `pong` and the argument.
pub(super) fn subscribed_ping(session: &Session, args: &[Bytes]) -> Option<Frame> {
    (session.proto == Proto::Resp2 && session.pubsub.subscribed()).then(|| {
        Frame::Array(vec![
            Frame::bulk_str("pong"),
            Frame::Bulk(args.get(1).cloned().unwrap_or_default()),
        ])
    })
}
