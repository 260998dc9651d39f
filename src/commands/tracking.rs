//! Client-side caching commands (docs/pubsub.md, "Client tracking"): CLIENT
//! TRACKING, CACHING, GETREDIR, TRACKINGINFO with Redis 7.0's replies and
//! errors, and what the dispatcher asks of a tracking client: whether a
//! command's reads are remembered (`reads_tracked`), remembering the keys
//! of a read that runs on the connection's core (`remember_before`), and
//! the end of a CLIENT CACHING (`after_command`). The tables and how
//! invalidations travel are in `keyspace::tracking` and `node::tracking`.

use super::{arg_is, int_arg, syntax_error, Command, Session};
use crate::node::{tracking, Node, Tracking};
use crate::protocol::Frame;
use crate::router;
use bytes::Bytes;
use std::rc::Rc;

/// A connection's side of tracking: whether it is on (the one check a
/// command pays), and, once it was ever on, what forgets its entries on
/// every shard when the connection goes away.
#[derive(Default)]
pub struct TrackingState {
    pub on: bool,
    node: Option<Rc<Node>>,
    id: u64,
}

impl Drop for TrackingState {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            tracking::forget_everywhere(&node, self.id);
        }
    }
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]
pub(super) async fn tracking_cmd(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let mut wanted = Tracking::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if arg_is(a, "redirect") && more {
            j += 1;
            if wanted.redirect != 0 {
                return Frame::error("ERR A client can only redirect to a single other client");
            }
            let id = match int_arg(&args[j]) {
                Ok(id) => id,
                Err(e) => return e,
            };
            if id <= 0 || !tracking::exists(node, id as u64).await {
                return Frame::error("ERR The client ID you want redirect to does not exist");
            }
            wanted.redirect = id as u64;
        } else if arg_is(a, "bcast") {
            wanted.bcast = true;
        } else if arg_is(a, "optin") {
            wanted.optin = true;
        } else if arg_is(a, "optout") {
            wanted.optout = true;
        } else if arg_is(a, "noloop") {
            wanted.noloop = true;
        } else if arg_is(a, "prefix") && more {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return syntax_error();
        }
        j += 1;
    }
    if arg_is(&args[2], "off") {
        disable(node, session);
        return Frame::OK;
    }
    if !arg_is(&args[2], "on") {
        return syntax_error();
    }
    let current = session.info.borrow().tracking.clone();
    if !wanted.bcast && !prefixes.is_empty() {
        return Frame::error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    if current.as_ref().is_some_and(|c| c.bcast != wanted.bcast) {
        return Frame::error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    if wanted.bcast && (wanted.optin || wanted.optout) {
        return Frame::error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if wanted.optin && wanted.optout {
        return Frame::error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if current
        .as_ref()
        .is_some_and(|c| (wanted.optin && c.optout) || (wanted.optout && c.optin))
    {
        return Frame::error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.");
    }
    // Re-enabling keeps CLIENT CACHING's word and the prefixes, as Redis.
    wanted.caching = current.as_ref().is_some_and(|c| c.caching);
    let existing = current.map(|c| c.prefixes).unwrap_or_default();
    if wanted.bcast {
        if let Err(e) = check_prefixes(&existing, &prefixes) {
            return e;
        }
        // No prefix: every key (the empty prefix), as Redis.
        if prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
    }
    let added: Vec<Bytes> =
        prefixes
            .into_iter()
            .filter(|p| !existing.contains(p))
            .fold(Vec::new(), |mut v, p| {
                if !v.contains(&p) {
                    v.push(p);
                }
                v
            });
    wanted.prefixes = existing;
    wanted.prefixes.extend(added.iter().cloned());
    let id = session.id;
    session.info.borrow_mut().tracking = Some(wanted);
    session.tracking.on = true;
    if session.tracking.node.is_none() {
        session.tracking.node = Some(node.rc());
        session.tracking.id = id;
    }
    if !added.is_empty() {
        // Every shard knows the prefixes before the client sees OK: a
        // change that starts after the reply is reported.
        tracking::on_every_shard(node, move |t| t.add_prefixes(id, &added)).await;
    }
    Frame::OK
}

/// Prefixes must not overlap one another, or the client's existing ones
/// (Redis's `checkPrefixCollisionsOrReply`).
fn check_prefixes(existing: &[Bytes], given: &[Bytes]) -> Result<(), Frame> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in given.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Err(Frame::error(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(e)
            )));
        }
        if let Some(q) = given[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(Frame::error(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(q)
            )));
        }
    }
    Ok(())
}

/// CLIENT TRACKING OFF, RESET: the client's settings go, and its entries on
/// every shard.
pub(super) fn disable(node: &Node, session: &mut Session) {
    if session.info.borrow_mut().tracking.take().is_some() {
        tracking::forget_everywhere(node, session.id);
    }
    session.tracking.on = false;
}

/// CLIENT CACHING YES|NO
pub(super) fn caching(session: &mut Session, args: &[Bytes]) -> Frame {
    let mut info = session.info.borrow_mut();
    let Some(t) = info.tracking.as_mut() else {
        return Frame::error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
    };
    if arg_is(&args[2], "yes") {
        if !t.optin {
            return Frame::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if arg_is(&args[2], "no") {
        if !t.optout {
            return Frame::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return syntax_error();
    }
    t.caching = true;
    Frame::OK
}

/// CLIENT GETREDIR: the redirect client, 0 for none, -1 when not tracking.
pub(super) fn getredir(session: &Session) -> Frame {
    Frame::Integer(
        session
            .info
            .borrow()
            .tracking
            .as_ref()
            .map_or(-1, |t| t.redirect as i64),
    )
}

/// CLIENT TRACKINGINFO, as Redis 7.0 prints it.
pub(super) fn trackinginfo(session: &Session) -> Frame {
    let info = session.info.borrow();
    let mut flags = Vec::new();
    let (redirect, prefixes) = match &info.tracking {
        None => {
            flags.push("off");
            (-1, Vec::new())
        }
        Some(t) => {
            flags.push("on");
            if t.bcast {
                flags.push("bcast");
            }
            if t.optin {
                flags.push("optin");
                if t.caching {
                    flags.push("caching-yes");
                }
            }
            if t.optout {
                flags.push("optout");
                if t.caching {
                    flags.push("caching-no");
                }
            }
            if t.noloop {
                flags.push("noloop");
            }
            if t.broken_redirect {
                flags.push("broken_redirect");
            }
            (t.redirect as i64, t.prefixes.clone())
        }
    };
    Frame::Map(vec![
        (
            Frame::bulk_str("flags"),
            Frame::Set(flags.into_iter().map(Frame::bulk_str).collect()),
        ),
        (Frame::bulk_str("redirect"), Frame::Integer(redirect)),
        (
            Frame::bulk_str("prefixes"),
            Frame::Array(prefixes.into_iter().map(Frame::Bulk).collect()),
        ),
    ])
}

/// Whether the keys `cmd` reads are remembered for this client: tracking
/// on, not BCAST, a read-only command, and for OPTIN only after CLIENT
/// CACHING YES, for OPTOUT unless CLIENT CACHING NO (Redis's
/// `trackingRememberKeys`). A script's commands are tracked for its caller
/// (`scripting` gives the script's connection the caller's settings).
pub(super) fn reads_tracked(session: &Session, cmd: &Command) -> bool {
    if !session.tracking.on || !cmd.spec.flags.iter().any(|f| f == "readonly") {
        return false;
    }
    // A read-only script's own keys are not: those its commands read are.
    if matches!(cmd.name, "eval_ro" | "evalsha_ro" | "fcall_ro") {
        return false;
    }
    let info = session.info.borrow();
    info.tracking.as_ref().is_some_and(|t| {
        !t.bcast
            && if t.optin {
                t.caching
            } else if t.optout {
                !t.caching
            } else {
                true
            }
    })
}

/// A command ran: CLIENT CACHING's word holds for one command (a whole
/// transaction, MULTI to EXEC; CLIENT commands do not use it up), as in
/// Redis.
pub(super) fn after_command(session: &Session, cmd: &Command) {
    let keeps = matches!(cmd.name, "client" | "multi");
    if session.tracking.on && session.multi.is_none() && !session.in_exec && !keeps {
        if let Some(t) = session.info.borrow_mut().tracking.as_mut() {
            t.caching = false;
        }
    }
}

/// A read-only command run on the connection's core (SINTER, ZUNION, LCS,
/// XREAD, ...): its keys are remembered on their shards before it reads
/// them, so no change after its read can go unreported.
pub(super) async fn remember_before(node: &Node, session: &Session, cmd: &Command, args: &[Bytes]) {
    let keys = super::key_specs::keys(cmd.name, &cmd.spec.key_specs, args);
    if keys.is_empty() {
        return;
    }
    let mut per_shard: Vec<Vec<Bytes>> = vec![Vec::new(); node.shard_count];
    for k in keys {
        if let Some(key) = args.get(k.at) {
            per_shard[router::shard_of(key, node.shard_count)].push(key.clone());
        }
    }
    let id = session.id;
    let acks = per_shard
        .into_iter()
        .enumerate()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(shard, keys)| {
            let (tx, rx) = futures_channel::oneshot::channel();
            node.post(shard, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                for key in &keys {
                    sh.keyspace.tracked.remember(id, key);
                }
                let _ = tx.send(());
            });
            rx
        })
        .collect::<Vec<_>>();
    crate::node::join_all(acks).await;
}
