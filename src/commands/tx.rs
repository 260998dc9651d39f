//! Writes that span shards, atomic across a crash (docs/aof.md, "Writes that
//! span shards"). The holder shard does its part and logs `TX` with the
//! whole plan; once that record is on disk the write is decided: each
//! follower checks its guard and does its part (`TXPART`), or refuses, and
//! then everything done is undone (`TXUNDO`, and the holder's undo in
//! `TXEND`). After a crash, start-up replays each record at its place and
//! finishes every `TX` that has no `TXEND` with this same driver. Moves
//! (RENAME, LMOVE, SMOVE) and MSETNX use it; MULTI/EXEC or scripts across
//! shards can too: a holder step, and followers with guards.

use super::apply_logged;
use crate::node::Node;
use crate::persistence::manifest::SplitCut;
use crate::protocol::Frame;
use crate::shard::split;
use crate::shard::tx::{self, Effects, Follower, Guard, PartSeen, Plan};
use crate::shard::{Access, Shard};
use crate::util::now_ms;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a write waits before trying again while a snapshot cut of one of
/// its shards waits for the writes under way to end.
const CUT_RETRY: Duration = Duration::from_millis(1);

/// What the holder's step hands back when the write goes ahead.
pub struct HolderPart {
    /// The client's reply if every follower does its part.
    pub reply: Frame,
    /// What puts the holder back if a follower refuses.
    pub undo: Effects,
    pub followers: Vec<Follower>,
}

/// A holder's step: runs on the holder's shard with its effects captured;
/// `Err` is the reply of a write that does not go ahead (what it logged
/// then is logged as usual).
pub type HolderStep = Box<dyn FnOnce(&mut Shard, u64) -> Result<HolderPart, Frame> + Send>;

/// A transaction id no other write of any run shares: this process's run id
/// and a counter.
pub(super) fn new_txid() -> Bytes {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Bytes::from(format!("{}:{n}", crate::process::run_id()))
}

/// Runs a write across shards: `step` on `holder`, then the followers it
/// names. `involved`: every shard it may touch (a write does not start while
/// one of them waits to cut a snapshot). `refusal`: the reply when a
/// follower's guard fails.
pub async fn run(
    node: &Node,
    db: usize,
    holder: usize,
    involved: Vec<usize>,
    access: Access,
    refusal: Frame,
    step: HolderStep,
) -> Frame {
    let mut step = step;
    // Inside an EXEC that holds its shards (docs/transactions.md), a cut
    // waits for the EXEC: the write must not wait for the cut.
    let in_exec = crate::node::hold::ambient() != crate::node::hold::UNTAGGED;
    let started = loop {
        let involved = involved.clone();
        let out = node
            .run_on(holder, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                if !in_exec && involved.iter().any(|&s| tx::cut_waiting(s)) {
                    // Given back, to try again once the cut is taken.
                    return Err(step);
                }
                Ok(start(&mut sh, db, access, step))
            })
            .await;
        match out {
            None => return super::unavailable(),
            Some(Ok(started)) => break started,
            Some(Err(back)) => {
                step = back;
                glommio::timer::sleep(CUT_RETRY).await;
            }
        }
    };
    match started {
        Started::Done(reply) => reply,
        Started::Plan(plan, reply) => {
            // The write is decided once the holder's record is on disk.
            wait_synced(node, holder).await;
            crate::util::crash_point("cross-after-first-step");
            if crate::util::at_test_point("cross-pause-after-first-step") {
                glommio::timer::sleep(std::time::Duration::from_secs(6)).await;
            }
            let seen = vec![None; plan.followers.len()];
            finish(node, holder, plan, access, refusal, seen)
                .await
                .map_or_else(|e| e, |()| reply)
        }
    }
}

/// The holder's part, done.
enum Started {
    /// Nothing to do across shards: the reply.
    Done(Frame),
    /// `TX` logged: the plan, and the reply if the followers do their part.
    Plan(Plan, Frame),
}

/// The holder's step, on its shard: the checks every write passes, then the
/// step with its effects captured into the `TX` record.
fn start(sh: &mut Shard, db: usize, access: Access, step: HolderStep) -> Started {
    let now = now_ms();
    if let Err(refused) = sh.admit(access, now) {
        return Started::Done(refused);
    }
    sh.log_expired();
    sh.capture = Some(Vec::new());
    let result = step(sh, now);
    let captured = sh.capture.take().unwrap_or_default();
    match result {
        Err(reply) => {
            for (d, argv) in &captured {
                sh.append_record(*d, argv);
            }
            Started::Done(reply)
        }
        Ok(part) => {
            let plan = Plan {
                txid: new_txid(),
                db,
                effects: captured,
                undo: part.undo,
                followers: part.followers,
            };
            sh.append_record(db, &tx::encode_plan(&plan));
            sh.tx.open += 1;
            Started::Plan(plan, part.reply)
        }
    }
}

/// Completes once what `shard` logged so far is written and synced.
async fn wait_synced(node: &Node, shard: usize) {
    if let Some(Some(rx)) = node
        .run_on(shard, |n: &Node| n.shard.borrow_mut().synced())
        .await
    {
        let _ = rx.await;
    }
}

/// Whether a follower's guard holds now.
fn guard_holds(sh: &mut Shard, db: usize, guard: &Guard, now: u64) -> bool {
    match guard {
        Guard::Always => true,
        Guard::Absent(keys) => !keys.iter().any(|k| sh.keyspace.contains(db, k, now)),
        Guard::TypeOrNone(key, t) => sh
            .keyspace
            .lookup(db, key, now)
            .is_none_or(|e| e.type_name().as_bytes() == &t[..]),
    }
}

/// In an undo of a plan only (never in what a record says was done):
/// `DEL key` if the key still holds `value`, so that undoing MSETNX spares a
/// key another client wrote meanwhile. What it did is logged as a `DEL`.
pub const DEL_IF_HOLDS: &[u8] = b"DEL-IF-HOLDS";

/// Applies logged effects through the ordinary handlers (checks done).
fn apply_all(sh: &mut Shard, effects: &Effects, now: u64) -> Result<(), String> {
    for (db, argv) in effects {
        if tx::is_tx_record(&argv[0]) {
            return Err("a transaction record inside another".into());
        }
        if argv[0] == DEL_IF_HOLDS && argv.len() == 3 && *db < sh.keyspace.databases() {
            let holds = sh
                .keyspace
                .lookup(*db, &argv[1], now)
                .is_some_and(|e| e.str() == Some(&argv[2][..]));
            if holds {
                apply_logged(sh, *db, &[Bytes::from_static(b"DEL"), argv[1].clone()], now)?;
            }
            continue;
        }
        apply_logged(sh, *db, argv, now)?;
    }
    Ok(())
}

/// Runs `effects` on `sh` and logs what they did as one `kind` record.
fn apply_as(sh: &mut Shard, kind: &'static [u8], txid: &Bytes, db: usize, effects: &Effects) {
    let now = now_ms();
    sh.log_expired();
    sh.capture = Some(Vec::new());
    if let Err(e) = apply_all(sh, effects, now) {
        // Guards make this unreachable; the record says what was done.
        tracing::error!(shard = sh.id, "cross-shard write step failed: {e}");
    }
    let captured = sh.capture.take().unwrap_or_default();
    sh.append_record(db, &tx::encode_step(kind, txid, &captured));
}

/// A follower's step: the checks, its guard, its part.
fn follower_step(
    sh: &mut Shard,
    plan_db: usize,
    txid: &Bytes,
    f: &Follower,
    access: Access,
    refusal: &Frame,
) -> Result<(), Frame> {
    let now = now_ms();
    sh.admit_decided(access, now)?;
    if !guard_holds(sh, plan_db, &f.guard, now) {
        sh.log_expired();
        return Err(refusal.clone());
    }
    match &f.raises {
        None => apply_as(sh, tx::TXPART, txid, plan_db, &f.effects),
        Some((event, key)) => {
            sh.quietly(|sh| apply_as(sh, tx::TXPART, txid, plan_db, &f.effects));
            sh.raise(crate::config::events::GENERIC, event, plan_db, key);
        }
    }
    sh.tx.open += 1;
    Ok(())
}

/// The followers' steps and the end, from where the logs left the write
/// (`seen`: what each follower's log already holds; all `None` live).
async fn finish(
    node: &Node,
    holder: usize,
    plan: Plan,
    access: Access,
    refusal: Frame,
    seen: Vec<Option<PartSeen>>,
) -> Result<(), Frame> {
    let mut applied = Vec::new();
    let mut failure = None;
    for (i, f) in plan.followers.iter().enumerate() {
        match seen.get(i).copied().flatten() {
            Some(PartSeen::Applied) => applied.push(i),
            Some(PartSeen::Undone) => failure = Some(refusal.clone()),
            None if failure.is_none() => {
                let (txid, f, refusal) = (plan.txid.clone(), f.clone(), refusal.clone());
                let db = plan.db;
                let shard = f.shard;
                let done = node
                    .run_on(shard, move |n: &Node| {
                        follower_step(&mut n.shard.borrow_mut(), db, &txid, &f, access, &refusal)
                    })
                    .await
                    .unwrap_or_else(|| Err(super::unavailable()));
                match done {
                    Ok(()) => applied.push(i),
                    Err(e) => failure = Some(e),
                }
            }
            None => {}
        }
    }
    if failure.is_some() {
        for &i in applied.iter().rev() {
            let f = plan.followers[i].clone();
            let (txid, db) = (plan.txid.clone(), plan.db);
            node.run_on(f.shard, move |n: &Node| {
                apply_as(&mut n.shard.borrow_mut(), tx::TXUNDO, &txid, db, &f.undo)
            })
            .await;
        }
    }
    // What the followers logged is on disk before the end is logged.
    for &i in &applied {
        wait_synced(node, plan.followers[i].shard).await;
    }
    let failed = failure.is_some();
    let (txid, db) = (plan.txid.clone(), plan.db);
    let undo = if failed {
        plan.undo.clone()
    } else {
        Vec::new()
    };
    node.run_on(holder, move |n: &Node| {
        apply_as(&mut n.shard.borrow_mut(), tx::TXEND, &txid, db, &undo);
    })
    .await;
    let mut participants = vec![holder];
    participants.extend(applied.iter().map(|&i| plan.followers[i].shard));
    if failed {
        // "Nothing happened" is said only once it cannot be undone.
        wait_synced(node, holder).await;
        close(node, participants).await;
    } else {
        // The end's durability only frees the shards to cut a snapshot.
        let rc = node.rc();
        glommio::spawn_local(async move {
            wait_synced(&rc, holder).await;
            close(&rc, participants).await;
        })
        .detach();
    }
    failure.map_or(Ok(()), Err)
}

/// The write's `TXEND` is durable: its shards may cut a snapshot again.
async fn close(node: &Node, participants: Vec<usize>) {
    for s in participants {
        node.run_on(s, |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            sh.tx.open = sh.tx.open.saturating_sub(1);
        })
        .await;
    }
}

/// Replays a `TX`, `TXPART`, `TXUNDO` or `TXEND` record at its place: its
/// effects, through the ordinary handler; a `TX` is remembered until its
/// `TXEND`, a follower's record for the holder's resumption.
pub fn replay(shard: &mut Shard, argv: &[Bytes], now: u64) -> Result<(), String> {
    let name = &argv[0];
    if name.eq_ignore_ascii_case(split::SPLIT) {
        let (plan, effects) = split::decode(argv)?;
        apply_all(shard, &effects, now)?;
        shard.tx.split.part(plan);
        return Ok(());
    }
    if name.eq_ignore_ascii_case(tx::TX) {
        let plan = tx::decode_plan(argv)?;
        if plan.db >= shard.keyspace.databases() {
            return Err(format!("transaction record for database {}", plan.db));
        }
        apply_all(shard, &plan.effects, now)?;
        shard.tx.unresolved.push(plan);
        return Ok(());
    }
    let (txid, effects) = tx::decode_step(argv)?;
    apply_all(shard, &effects, now)?;
    if name.eq_ignore_ascii_case(tx::TXPART) {
        shard.tx.parts.insert(txid, PartSeen::Applied);
    } else if name.eq_ignore_ascii_case(tx::TXUNDO) {
        shard.tx.parts.insert(txid, PartSeen::Undone);
    } else {
        shard.tx.ended(&txid);
    }
    Ok(())
}

/// At start-up, once every shard is loaded: finishes the writes this shard
/// holds whose `TXEND` the crash left out of its log.
pub async fn resume(node: &Node) {
    let plans = std::mem::take(&mut node.shard.borrow_mut().tx.unresolved);
    for plan in plans {
        node.shard.borrow_mut().tx.open += 1;
        let mut seen = Vec::with_capacity(plan.followers.len());
        for f in &plan.followers {
            let txid = plan.txid.clone();
            // A follower whose part is done is open again until the end is
            // durable: no cut may drop its record from its tail meanwhile.
            let s = node
                .run_on(f.shard, move |n: &Node| {
                    let mut sh = n.shard.borrow_mut();
                    let seen = sh.tx.parts.get(&txid).copied();
                    if seen == Some(PartSeen::Applied) {
                        sh.tx.open += 1;
                    }
                    seen
                })
                .await
                .flatten();
            seen.push(s);
        }
        tracing::warn!(
            shard = node.id,
            txid = %String::from_utf8_lossy(&plan.txid),
            "finishing a cross-shard write interrupted by the last stop"
        );
        // Refusals are not replies now; Write: no eviction at start-up.
        let _ = finish(node, node.id, plan, Access::Write, Frame::Integer(0), seen).await;
    }
}

/// At start-up, once every shard is loaded: every split write whose part
/// this shard's log holds is rolled forward on the shards that lack theirs
/// (`shard::split`), logged there and synced before the server is ready.
/// Also makes the ids given from now on new ones.
pub async fn resume_split(node: &Node) {
    let plans = {
        let mut sh = node.shard.borrow_mut();
        split::raise(sh.tx.split.max_id.saturating_add(1));
        split::raise(node.persist.files.borrow().split.below);
        sh.tx.split.in_flight()
    };
    for plan in plans {
        let shards: Vec<usize> = plan.parts.iter().map(|(s, _)| *s).collect();
        for shard in shards {
            if shard >= node.shard_count {
                tracing::error!(
                    shard = node.id,
                    id = plan.id,
                    "a multi-key write names shard {shard}, which does not exist: that part is left out"
                );
                continue;
            }
            let plan = plan.clone();
            let synced = node
                .run_on(shard, move |n: &Node| {
                    let base = n.persist.files.borrow().split.clone();
                    let rolled = roll_forward(&mut n.shard.borrow_mut(), &plan, &base);
                    let log = n.shard.borrow().aof.clone();
                    log.filter(|_| rolled)
                        .map(|l| l.borrow_mut().label_now_and_sync())
                })
                .await
                .flatten();
            if let Some(synced) = synced {
                let _ = synced.await;
            }
        }
    }
}

/// Runs this shard's part of `plan` if its data lacks it (`base`: what its
/// base holds), logged as its own `SPLIT` record. True if it ran.
fn roll_forward(sh: &mut Shard, plan: &split::Plan, base: &SplitCut) -> bool {
    if sh.tx.split.has(plan.id, base) {
        return false;
    }
    let Some((_, argv)) = plan.parts.iter().find(|(s, _)| *s == sh.id) else {
        return false;
    };
    tracing::warn!(
        shard = sh.id,
        id = plan.id,
        "finishing a multi-key write interrupted by the last stop"
    );
    // Logged as a live part is (no log when re-sharding: nothing logged).
    let write = split::SplitWrite::of_plan(plan);
    sh.as_split_part(&write, |sh| {
        match apply_logged(sh, plan.db, argv, now_ms()) {
            Ok(()) => Frame::OK,
            Err(e) => {
                tracing::error!(shard = sh.id, id = plan.id, "{e}");
                Frame::error(e)
            }
        }
    });
    sh.tx.split.part(plan.clone());
    true
}

/// Re-sharding: the same resumption on the old shards, all in memory (no
/// log), before their keys are routed to the new layout.
pub fn resume_offline(shards: &mut [Shard], bases: &[SplitCut]) {
    let plans: Vec<split::Plan> = shards
        .iter_mut()
        .flat_map(|sh| sh.tx.split.in_flight())
        .collect();
    for plan in &plans {
        for (s, _) in &plan.parts {
            if let (Some(sh), Some(base)) = (shards.get_mut(*s), bases.get(*s)) {
                roll_forward(sh, plan, base);
            }
        }
    }
    for holder in 0..shards.len() {
        let plans = std::mem::take(&mut shards[holder].tx.unresolved);
        for plan in plans {
            let refusal = Frame::Integer(0);
            let mut applied = Vec::new();
            let mut failed = false;
            for f in &plan.followers {
                let Some(sh) = shards.get_mut(f.shard) else {
                    failed = true;
                    break;
                };
                match sh.tx.parts.get(&plan.txid).copied() {
                    Some(PartSeen::Applied) => applied.push(f),
                    Some(PartSeen::Undone) => failed = true,
                    None if !failed => {
                        match follower_step(sh, plan.db, &plan.txid, f, Access::Write, &refusal) {
                            Ok(()) => applied.push(f),
                            Err(_) => failed = true,
                        }
                    }
                    None => {}
                }
            }
            if failed {
                for f in applied.iter().rev() {
                    apply_as(
                        &mut shards[f.shard],
                        tx::TXUNDO,
                        &plan.txid,
                        plan.db,
                        &f.undo,
                    );
                }
                apply_as(
                    &mut shards[holder],
                    tx::TXEND,
                    &plan.txid,
                    plan.db,
                    &plan.undo,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Proto;

    fn words(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    /// A key named `prefix<n>` that lives on `shard` of 2.
    fn key_on(prefix: &str, shard: usize) -> String {
        (0..)
            .map(|n| format!("{prefix}{n}"))
            .find(|k| crate::router::shard_of(k.as_bytes(), 2) == shard)
            .unwrap_or_default()
    }

    /// Runs a command on a shard and returns its RESP2 reply.
    fn run(sh: &mut Shard, cmd: &str) -> String {
        let argv = words(cmd);
        let run = match super::super::table().get(&argv[0]).map(|c| &c.route) {
            Some(super::super::Route::Key(f)) => *f,
            _ => panic!("no handler for {cmd}"),
        };
        let mut out = Vec::new();
        sh.run(run, 0, &argv, 1, Access::Write)
            .encode(Proto::Resp2, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Old shards 0 and 1 of 2, the holder having replayed an LMOVE's `TX`
    /// (its element popped) whose follower never logged its part.
    fn interrupted_lmove(dst_value: Option<&str>) -> (Vec<Shard>, String, String) {
        let (src, dst) = (key_on("src", 0), key_on("dst", 1));
        let mut shards = vec![Shard::new(0, 2, 1), Shard::new(1, 2, 1)];
        run(&mut shards[0], &format!("RPUSH {src} a b"));
        if let Some(v) = dst_value {
            run(&mut shards[1], &format!("SET {dst} {v}"));
        }
        let plan = Plan {
            txid: Bytes::from_static(b"run:1"),
            db: 0,
            effects: vec![(0, words(&format!("LPOP {src}")))],
            undo: vec![(0, words(&format!("LPUSH {src} a")))],
            followers: vec![Follower {
                shard: 1,
                guard: Guard::TypeOrNone(Bytes::from(dst.clone()), Bytes::from_static(b"list")),
                effects: vec![(0, words(&format!("RPUSH {dst} a")))],
                undo: Vec::new(),
                raises: None,
            }],
        };
        replay(&mut shards[0], &tx::encode_plan(&plan), 1).unwrap();
        (shards, src, dst)
    }

    #[test]
    fn an_interrupted_move_is_finished() {
        let (mut shards, src, dst) = interrupted_lmove(None);
        resume_offline(&mut shards, &[SplitCut::default(), SplitCut::default()]);
        assert_eq!(
            run(&mut shards[0], &format!("LRANGE {src} 0 -1")),
            "*1\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            run(&mut shards[1], &format!("LRANGE {dst} 0 -1")),
            "*1\r\n$1\r\na\r\n"
        );
    }

    #[test]
    fn an_interrupted_move_whose_destination_refuses_is_undone() {
        let (mut shards, src, dst) = interrupted_lmove(Some("str"));
        resume_offline(&mut shards, &[SplitCut::default(), SplitCut::default()]);
        assert_eq!(
            run(&mut shards[0], &format!("LRANGE {src} 0 -1")),
            "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
        );
        assert_eq!(run(&mut shards[1], &format!("GET {dst}")), "$3\r\nstr\r\n");
    }

    #[test]
    fn a_part_already_logged_is_not_done_twice() {
        let (mut shards, _, dst) = interrupted_lmove(None);
        let part = tx::encode_step(
            tx::TXPART,
            &Bytes::from_static(b"run:1"),
            &vec![(0, words(&format!("RPUSH {dst} a")))],
        );
        replay(&mut shards[1], &part, 1).unwrap();
        resume_offline(&mut shards, &[SplitCut::default(), SplitCut::default()]);
        assert_eq!(
            run(&mut shards[1], &format!("LRANGE {dst} 0 -1")),
            "*1\r\n$1\r\na\r\n"
        );
    }

    #[test]
    fn a_transaction_record_for_a_missing_database_is_an_error() {
        let mut sh = Shard::new(0, 1, 1);
        let plan = Plan {
            txid: Bytes::from_static(b"t"),
            db: 5,
            effects: Vec::new(),
            undo: Vec::new(),
            followers: Vec::new(),
        };
        assert!(replay(&mut sh, &tx::encode_plan(&plan), 1).is_err());
    }
}
