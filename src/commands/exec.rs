//! EXEC (docs/transactions.md): the queued commands run with no other
//! client's command between the first and the last, on every shard they
//! touch, and only if no watched key changed.
//!
//! - Fast path: every queued command is a key command and every key, and
//!   every watched key, lives on one shard. The commands travel as the one
//!   job they would be anyway, with the watch check in front: a job runs
//!   whole, so nothing can come between. Their log records are appended as
//!   one logical record (replayed all or nothing).
//! - Otherwise the transaction holds its shards (`node::hold`) in shard
//!   order, checks the watched keys, runs the commands as a pipeline would,
//!   and lets go. A command that runs on the connection's core (RENAME,
//!   SCAN, INFO, ...) may reach any shard: a transaction with one holds
//!   them all.

use super::watch::{self, Watches};
use super::{table, FrontCmd, Route, Session};
use crate::node::hold::{self, HeldShards};
use crate::node::Node;
use crate::protocol::{Frame, Request};
use crate::router;
use bytes::Bytes;

/// The shards a transaction's commands touch.
struct Reach {
    shards: Vec<usize>,
    /// A command runs on the connection's core and may reach any shard.
    front: bool,
}

fn reach(queued: &[Request], shard_count: usize) -> Reach {
    let mut shards = Vec::new();
    let mut front = false;
    for Request { args } in queued {
        let Some(cmd) = table().get(&args[0]) else {
            continue;
        };
        match cmd.route {
            Route::Front(FrontCmd::Ping | FrontCmd::Echo) => {}
            Route::Front(_) => front = true,
            Route::Key(_) => {
                if args.len() > 1 {
                    shards.push(router::shard_of(super::key_of(args), shard_count));
                }
            }
            Route::Keys { stride, .. } => {
                for chunk in args[1..].chunks(stride.max(1)) {
                    shards.push(router::shard_of(&chunk[0], shard_count));
                }
            }
            Route::All { .. } => shards.extend(0..shard_count),
        }
    }
    shards.sort_unstable();
    shards.dedup();
    Reach { shards, front }
}

/// What a transaction on one shard checks in the same job that runs its
/// commands: the keys watched there, unchanged. Its commands' log records
/// are appended as one logical record (`log_atomically`).
pub struct ExecGuard {
    pub shard: usize,
    pub watched: Vec<(usize, Bytes, u64)>,
}

/// How `dispatch` runs the queued commands of an EXEC that goes ahead.
pub(super) enum ExecPlan {
    /// On one shard, in one job with `guard` in front.
    Fast(Vec<Request>, ExecGuard),
    /// Nothing touches a shard (PING, ECHO); the watched keys held.
    Free(Vec<Request>),
    /// The shards are held (until `HeldShards::release`) by `tag`, whose
    /// work the commands must be run as (`Tagged`); the watched keys held.
    /// With `capture`, their effects are to be logged by `commit`.
    Held(Vec<Request>, u64, HeldShards, Option<Vec<usize>>),
}

/// The start of EXEC for `session`: ends the transaction and the watches,
/// and says how to run the queued commands. `Err`: EXEC's whole reply
/// (an error, or the null array when a watched key changed).
pub(super) async fn begin(node: &Node, session: &mut Session) -> Result<ExecPlan, Frame> {
    let Some(tx) = session.multi.take() else {
        return Err(Frame::error("ERR EXEC without MULTI"));
    };
    session.info.borrow_mut().multi = None;
    let watched = session.watches.take();
    session.info.borrow_mut().watched_keys = 0;
    if tx.failed {
        // Discarded: what was watched is forgotten too.
        session.watches.restore(watched);
        watch::unwatch_all(node, session);
        return Err(Frame::error(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    let queued = tx.queued;
    let r = reach(&queued, node.shard_count);
    let watch_shards = Watches::shards(&watched);
    let mut all: Vec<usize> = r.shards.iter().chain(&watch_shards).copied().collect();
    all.sort_unstable();
    all.dedup();
    if !r.front && r.shards.len() == 1 && all.len() == 1 {
        let shard = r.shards[0];
        let guard = ExecGuard {
            shard,
            watched: watch::on_shard(&watched, shard),
        };
        return Ok(ExecPlan::Fast(queued, guard));
    }
    if !r.front && r.shards.is_empty() {
        // Nothing runs on a shard: the check alone decides.
        return if watch::check_all(node, hold::UNTAGGED, &watched).await {
            Ok(ExecPlan::Free(queued))
        } else {
            Err(Frame::NullArray)
        };
    }
    // The shards, held in shard order.
    let shards: Vec<usize> = if r.front {
        (0..node.shard_count).collect()
    } else {
        all
    };
    let tag = hold::new_tag();
    let held = HeldShards::new(node.rc(), tag, shards.clone());
    // Commands run on the connection's core may log through the
    // cross-shard driver themselves: those are logged as they run.
    let capture = !r.front && node.config.borrow().appendonly;
    // As each shard is taken, in the same job: its watched keys checked
    // (nothing can change them afterwards) and its log captured.
    let watched: Vec<(usize, watch::ShardKeys)> = shards
        .iter()
        .map(|&s| (s, watch::on_shard(&watched, s)))
        .collect();
    let on_take = move |n: &Node| {
        let mut sh = n.shard.borrow_mut();
        let mine = watched.iter().find(|(s, _)| *s == n.id);
        let holds = mine.is_none_or(|(_, keys)| watch::check_and_forget(&mut sh, keys));
        if capture && sh.aof.is_some() {
            sh.capture = Some(Vec::new());
        }
        holds
    };
    match node.hold_shards(tag, &shards, on_take).await {
        Some(true) => {}
        Some(false) => {
            discard_capture(node, tag, &shards, capture).await;
            held.release().await;
            return Err(Frame::NullArray);
        }
        None => {
            discard_capture(node, tag, &shards, capture).await;
            held.release().await;
            return Err(super::unavailable());
        }
    }
    Ok(ExecPlan::Held(queued, tag, held, capture.then_some(shards)))
}

/// Appends a transaction's effects on one shard as one logical record, so
/// that replay applies all of them or none: one multi-command record when
/// they are all in one database (the usual case); otherwise a `TX` record
/// with no followers (each effect names its database) and its `TXEND`
/// right after it (start-up finishes a `TX` whose end a crash cut off).
pub(super) fn log_atomically(sh: &mut crate::shard::Shard, effects: crate::shard::tx::Effects) {
    let Some(&(db, _)) = effects.first() else {
        return;
    };
    let Some(aof) = sh.aof.clone() else {
        return;
    };
    if effects.iter().all(|(d, _)| *d == db) {
        let commands: Vec<Vec<Bytes>> = effects.into_iter().map(|(_, argv)| argv).collect();
        aof.borrow_mut().append_all(db, &commands);
        return;
    }
    use crate::shard::tx::{self as txlog, Plan};
    let plan = Plan {
        txid: super::tx::new_txid(),
        db,
        effects,
        undo: Vec::new(),
        followers: Vec::new(),
    };
    sh.append_record(db, &txlog::encode_plan(&plan));
    sh.append_record(
        db,
        &txlog::encode_step(txlog::TXEND, &plan.txid, &Vec::new()),
    );
}

/// A transaction called off after its shards started capturing: nothing
/// ran, nothing is to be logged.
async fn discard_capture(node: &Node, tag: u64, shards: &[usize], capture: bool) {
    if !capture {
        return;
    }
    let calls = shards.iter().map(|&s| {
        node.run_tagged(s, tag, |n: &Node| {
            n.shard.borrow_mut().capture = None;
        })
    });
    crate::node::join_all(calls).await;
}

/// Completes once what the shard logged so far is safe as replies need
/// it (`durable`, `appendfsync always`), or synced whatever the policy
/// (`synced`: a record another shard's step depends on).
async fn wait_log(node: &Node, tag: u64, shard: usize, synced: bool) {
    let rx = node
        .run_tagged(shard, tag, move |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            if synced {
                sh.synced()
            } else {
                let at = sh.log_position();
                sh.durable(at)
            }
        })
        .await
        .flatten();
    if let Some(rx) = rx {
        let _ = rx.await;
    }
}

/// Logs what a held transaction captured (`capture`), while it still
/// holds its shards, so that replay shows all of it or none: on one shard
/// as one logical record; across shards with the records of the
/// cross-shard driver (docs/aof.md): the first shard logs `TX` with every
/// shard's effects and syncs it, then each other shard logs `TXPART` with
/// its own, then the first `TXEND`. A crash after the `TX` is durable is
/// finished at start-up (`tx::resume`); before, nothing of it is in a log.
pub(super) async fn commit(node: &Node, tag: u64, shards: &[usize]) {
    let calls = shards.iter().map(|&s| {
        node.run_tagged(s, tag, move |n: &Node| {
            let captured = n.shard.borrow_mut().capture.take().unwrap_or_default();
            (s, captured)
        })
    });
    let parts: Vec<(usize, crate::shard::tx::Effects)> = crate::node::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .filter(|(_, e)| !e.is_empty())
        .collect();
    let Some(((holder, holder_effects), rest)) = parts.split_first() else {
        return;
    };
    let holder = *holder;
    if rest.is_empty() {
        let effects = holder_effects.clone();
        node.run_tagged(holder, tag, move |n: &Node| {
            log_atomically(&mut n.shard.borrow_mut(), effects)
        })
        .await;
        wait_log(node, tag, holder, false).await;
        return;
    }
    use crate::shard::tx::{self as txlog, Follower, Guard, Plan};
    let plan = Plan {
        txid: super::tx::new_txid(),
        db: holder_effects[0].0,
        effects: holder_effects.clone(),
        undo: Vec::new(),
        followers: rest
            .iter()
            .map(|(shard, effects)| Follower {
                shard: *shard,
                guard: Guard::Always,
                effects: effects.clone(),
                undo: Vec::new(),
                raises: None,
            })
            .collect(),
    };
    let (txid, db) = (plan.txid.clone(), plan.db);
    let record = txlog::encode_plan(&plan);
    // `open`: no snapshot cut drops a record of it before its end is
    // durable.
    node.run_tagged(holder, tag, move |n: &Node| {
        let mut sh = n.shard.borrow_mut();
        sh.append_record(db, &record);
        sh.tx.open += 1;
    })
    .await;
    wait_log(node, tag, holder, true).await;
    crate::util::crash_point("exec-after-first-step");
    let steps = plan.followers.iter().map(|f| {
        let record = txlog::encode_step(txlog::TXPART, &txid, &f.effects);
        let shard = f.shard;
        async move {
            node.run_tagged(shard, tag, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                sh.append_record(db, &record);
                sh.tx.open += 1;
            })
            .await;
            wait_log(node, tag, shard, true).await;
        }
    });
    crate::node::join_all(steps).await;
    let end = txlog::encode_step(txlog::TXEND, &txid, &Vec::new());
    node.run_tagged(holder, tag, move |n: &Node| {
        n.shard.borrow_mut().append_record(db, &end);
    })
    .await;
    wait_log(node, tag, holder, true).await;
    let participants = std::iter::once(holder).chain(rest.iter().map(|(s, _)| *s));
    let closes = participants.map(|s| {
        node.run_tagged(s, tag, |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            sh.tx.open = sh.tx.open.saturating_sub(1);
        })
    });
    crate::node::join_all(closes).await;
}
