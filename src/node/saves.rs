//! Saves: a checkpoint of every shard at once, run by core 0, which also
//! keeps the manifest (every change of it goes through core 0, one at a
//! time) and decides when to save by itself: save points (`save 60 10000`)
//! and log growth (`auto-aof-rewrite-percentage`, `-min-size`), checked once
//! a second (`cron`).

use super::checkpoint::checkpoint;
use super::Node;
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

/// After a failed save, automatic saves wait this long (Redis: 5 s).
const RETRY_FAILED_SAVE_MS: u64 = 5_000;

/// Core 0's record of saves (Redis's rdb_* fields of INFO persistence).
#[derive(Default)]
pub struct Saves {
    pub in_progress: Cell<bool>,
    pub scheduled: Cell<bool>,
    pub started_ms: Cell<u64>,
    pub last_save_ms: Cell<u64>,
    pub last_ok: Cell<bool>,
    pub last_duration_ms: Cell<Option<u64>>,
    pub last_attempt_ms: Cell<u64>,
    pub count: Cell<u64>,
    waiting: RefCell<Vec<oneshot::Sender<Result<(), String>>>>,
}

/// What became of a request to save.
#[derive(Debug)]
pub enum SaveRequest {
    /// A save started; the receiver gets its outcome.
    Started(SaveOutcome),
    /// One was running: another starts after it (`schedule`).
    Scheduled(SaveOutcome),
    /// One was running, and no scheduling was asked for.
    InProgress,
}

pub type SaveOutcome = oneshot::Receiver<Result<(), String>>;

/// Core 0: starts a save of every shard, unless one runs. With `schedule`,
/// a save asked for while one runs starts once it ends.
pub fn request_save(node0: Rc<Node>, schedule: bool) -> SaveRequest {
    let saves = &node0.persist.saves;
    let (tx, rx) = oneshot::channel();
    if saves.in_progress.get() {
        if !schedule {
            return SaveRequest::InProgress;
        }
        saves.scheduled.set(true);
        saves.waiting.borrow_mut().push(tx);
        return SaveRequest::Scheduled(rx);
    }
    saves.in_progress.set(true);
    node0.spawn_persistence(save_all(node0.clone(), tx));
    SaveRequest::Started(rx)
}

/// Core 0: checkpoints every shard in parallel and records the outcome.
async fn save_all(node0: Rc<Node>, done: oneshot::Sender<Result<(), String>>) {
    let saves = &node0.persist.saves;
    let started = crate::util::now_ms();
    saves.started_ms.set(started);
    saves.last_attempt_ms.set(started);
    let outcomes = node0
        .run_on_all(|n: &Node| {
            let (tx, rx) = oneshot::channel();
            let me = n.rc();
            n.spawn_into(|q| q.snapshot, async move {
                let _ = tx.send(checkpoint(me).await);
            });
            rx
        })
        .await;
    let mut result = Ok(());
    match outcomes {
        None => result = Err("a core is gone".to_string()),
        Some(receivers) => {
            for (shard, rx) in receivers.into_iter().enumerate() {
                match rx.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => result = Err(format!("shard {shard}: {e}")),
                    Err(_) => result = Err(format!("shard {shard}: cancelled")),
                }
            }
        }
    }
    let now = crate::util::now_ms();
    saves.last_duration_ms.set(Some(now - started));
    saves.last_ok.set(result.is_ok());
    if result.is_ok() {
        saves.last_save_ms.set(now);
        saves.count.set(saves.count.get() + 1);
    }
    let _ = done.send(result);
    saves.in_progress.set(false);
    if saves.scheduled.replace(false) {
        let waiting = std::mem::take(&mut *saves.waiting.borrow_mut());
        if let SaveRequest::Started(rx) = request_save(node0.clone(), false) {
            node0.spawn_persistence(async move {
                let outcome = rx.await.unwrap_or_else(|_| Err("cancelled".into()));
                for w in waiting {
                    let _ = w.send(outcome.clone());
                }
            });
        }
    }
}

/// What core 0's cron needs from each shard, once a second.
#[derive(Clone, Copy, Default)]
pub struct ShardPersistence {
    pub changes_since_save: u64,
    /// Log bytes beyond the base, and the base's size.
    pub log_since_base: u64,
    pub base_bytes: u64,
}

pub fn shard_persistence(n: &Node) -> ShardPersistence {
    let sh = n.shard.borrow();
    let log_since_base = sh.aof.as_ref().map_or(0, |a| {
        let a = a.borrow();
        (a.stats.total_bytes + a.pending_bytes()).saturating_sub(n.persist.log_at_base.get())
    });
    ShardPersistence {
        changes_since_save: sh.changes - n.persist.saved_changes.get(),
        log_since_base,
        base_bytes: n.persist.base_bytes.get(),
    }
}

/// Core 0: once a second, starts a save when a save point is reached or a
/// shard's log has grown past its rewrite threshold.
pub async fn cron(node0: Rc<Node>) {
    loop {
        glommio::timer::sleep(Duration::from_secs(1)).await;
        // A shutdown may still be refused (a failing log) or aborted: wait.
        if crate::process::shutting_down() {
            continue;
        }
        let saves = &node0.persist.saves;
        if saves.in_progress.get() || crate::process::loading::in_progress() {
            continue;
        }
        let Some(shards) = node0.run_on_all(shard_persistence).await else {
            continue;
        };
        let now = crate::util::now_ms();
        let (save_points, log_on, pct, min_size) = {
            let c = node0.config.borrow();
            (
                c.save.clone(),
                c.appendonly,
                c.auto_aof_rewrite_percentage,
                c.auto_aof_rewrite_min_size,
            )
        };
        let changes: u64 = shards.iter().map(|s| s.changes_since_save).sum();
        let since_save = now.saturating_sub(saves.last_save_ms.get()) / 1000;
        let may_retry = saves.last_ok.get()
            || now.saturating_sub(saves.last_attempt_ms.get()) >= RETRY_FAILED_SAVE_MS;
        let save_point = save_points
            .iter()
            .any(|&(secs, n)| changes >= n && since_save >= secs);
        // As Redis: a shard without a base yet counts its base as 1 byte.
        let log_grown = log_on
            && pct > 0
            && shards.iter().any(|s| {
                let base = s.base_bytes.max(1);
                s.log_since_base >= min_size && s.log_since_base * 100 >= base * pct
            });
        if (save_point || log_grown) && may_retry {
            let why = if save_point {
                "save point reached"
            } else {
                "log grew past auto-aof-rewrite-percentage"
            };
            tracing::info!(changes, "{why}: saving");
            let _ = request_save(node0.clone(), false);
        }
    }
}
