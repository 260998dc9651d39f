//! SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE, SHUTDOWN and INFO persistence.
//! Saves are run by core 0 (`node::saves`, `node::shutdown`); these commands ask it from
//! whichever core the client is on.

use super::syntax_error;
use crate::node::saves::{self, SaveRequest};
use crate::node::shutdown;
use crate::node::Node;
use crate::persistence::aof::AofStats;
use crate::process::loading;
use crate::protocol::Frame;
use bytes::Bytes;

/// BGSAVE [SCHEDULE]
pub(super) async fn bgsave(node: &Node, args: &[Bytes]) -> Frame {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if a.eq_ignore_ascii_case(b"schedule") && args.len() == 2 => true,
        Some(_) => return syntax_error(),
    };
    match ask_save(node, schedule).await {
        Some(SaveRequest::Started(_)) => Frame::simple("Background saving started"),
        Some(SaveRequest::Scheduled(_)) => Frame::simple("Background saving scheduled"),
        Some(SaveRequest::InProgress) => Frame::error("ERR Background save already in progress"),
        None => Frame::error("ERR core 0 is gone"),
    }
}

/// BGREWRITEAOF: a rewrite of the log is a snapshot that becomes its base.
pub(super) async fn bgrewriteaof(node: &Node) -> Frame {
    match ask_save(node, true).await {
        Some(SaveRequest::Started(_)) => {
            Frame::simple("Background append only file rewriting started")
        }
        Some(SaveRequest::Scheduled(_)) => {
            Frame::simple("Background append only file rewriting scheduled")
        }
        _ => Frame::error("ERR Background append only file rewriting already in progress"),
    }
}

/// LASTSAVE: when the last save completed (Unix seconds).
pub(super) async fn lastsave(node: &Node) -> Frame {
    let ms = node
        .run_on(0, |n: &Node| n.persist.saves.last_save_ms.get())
        .await
        .unwrap_or(0);
    Frame::Integer((ms / 1000) as i64)
}

async fn ask_save(node: &Node, schedule: bool) -> Option<SaveRequest> {
    node.run_on(0, move |n: &Node| saves::request_save(n.rc(), schedule))
        .await
}

/// SAVE: a save of every shard, replied to once it is durable. (The shards
/// go on serving meanwhile: nothing here needs Redis's blocking save.)
pub(super) async fn save(node: &Node) -> Frame {
    match ask_save(node, false).await {
        Some(SaveRequest::Started(rx)) => match rx.await {
            Ok(Ok(())) => Frame::OK,
            Ok(Err(e)) => {
                tracing::error!("SAVE failed: {e}");
                Frame::error("ERR")
            }
            Err(_) => Frame::error("ERR"),
        },
        Some(_) => Frame::error("ERR Background save already in progress"),
        None => Frame::error("ERR core 0 is gone"),
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], parsed as Redis 7.0 does
/// (a flag may repeat; ABORT stands alone; NOSAVE and SAVE exclude each
/// other). On success the process exits and the client sees the connection
/// close. A failed final save, or logs not durable within
/// `SHUTDOWN_LOG_WAIT`, answer an error and the server goes on, unless
/// FORCE. NOW skips waiting for replicas in Redis; there are none here.
/// ABORT ends the wait of a shutdown waiting for the logs.
pub(super) async fn shutdown(node: &Node, args: &[Bytes]) -> Frame {
    let (mut nosave, mut save, mut force, mut abort, mut now) = (false, false, false, false, false);
    for a in &args[1..] {
        match String::from_utf8_lossy(a).to_ascii_lowercase().as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "now" => now = true,
            "force" => force = true,
            "abort" => abort = true,
            _ => return syntax_error(),
        }
    }
    if (abort && (nosave || save || now || force)) || (nosave && save) {
        return syntax_error();
    }
    if abort {
        let aborted = node.run_on(0, shutdown::abort_shutdown).await;
        return match aborted {
            Some(true) => Frame::OK,
            _ => Frame::error("ERR No shutdown in progress."),
        };
    }
    let save = if nosave {
        Some(false)
    } else if save {
        Some(true)
    } else {
        None
    };
    let reply = node
        .run_on(0, move |n: &Node| {
            let (tx, rx) = futures_channel::oneshot::channel();
            let me = n.rc();
            glommio::spawn_local(async move {
                let _ = tx.send(shutdown::shutdown(me, save, force).await);
            })
            .detach();
            rx
        })
        .await;
    match reply {
        Some(rx) => match rx.await {
            Ok(err) => Frame::error(err),
            Err(_) => Frame::error("ERR Errors trying to SHUTDOWN. Check logs."),
        },
        None => Frame::error("ERR Errors trying to SHUTDOWN. Check logs."),
    }
}

/// What INFO needs of one core's persistence.
#[derive(Default)]
pub struct PersistReport {
    pub aof: Option<(AofStats, &'static str)>,
    pub shard: saves::ShardPersistence,
    pub checkpointing: bool,
    pub progress_keys: u64,
    /// Core 0 only: the saves.
    pub saves: Option<SavesReport>,
}

#[derive(Default)]
pub struct SavesReport {
    in_progress: bool,
    scheduled: bool,
    started_ms: u64,
    last_save_ms: u64,
    last_ok: bool,
    last_duration_ms: Option<u64>,
    count: u64,
}

pub fn report(n: &Node) -> PersistReport {
    let sh = n.shard.borrow();
    let s = &n.persist.saves;
    PersistReport {
        aof: sh.aof.as_ref().map(|a| {
            let a = a.borrow();
            (a.stats_now(), a.policy().name())
        }),
        shard: saves::shard_persistence(n),
        checkpointing: n.persist.checkpointing.get(),
        progress_keys: n.persist.progress_keys.get(),
        saves: (n.id == 0).then(|| SavesReport {
            in_progress: s.in_progress.get(),
            scheduled: s.scheduled.get(),
            started_ms: s.started_ms.get(),
            last_save_ms: s.last_save_ms.get(),
            last_ok: s.last_ok.get(),
            last_duration_ms: s.last_duration_ms.get(),
            count: s.count.get(),
        }),
    }
}

/// INFO persistence: Redis's loading, RDB and AOF fields (a save of all
/// shards is Redis's BGSAVE, and in hybrid mode also its AOF rewrite), then
/// one line per shard.
pub fn info(reports: &[&PersistReport], now_ms: u64) -> String {
    let saves = reports
        .iter()
        .find_map(|r| r.saves.as_ref())
        .map_or_else(SavesReport::default, |s| SavesReport { ..*s });
    let mut s = String::new();
    let loading = loading::in_progress();
    s.push_str(&format!("loading:{}\r\nasync_loading:0\r\n", loading as u8));
    if loading {
        let p = loading::progress();
        s.push_str(&format!(
            "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:{}\r\nloading_loaded_perc:{:.2}\r\nloading_eta_seconds:{}\r\n",
            p.started_s, p.total_bytes, p.loaded_bytes, p.percent, p.eta_s
        ));
    }
    let secs = |ms: Option<u64>| ms.map_or(-1, |ms| (ms / 1000) as i64);
    let current = saves
        .in_progress
        .then(|| now_ms.saturating_sub(saves.started_ms));
    let status = if saves.last_ok { "ok" } else { "err" };
    s.push_str(&format!(
        "rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{status}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\n",
        reports.iter().map(|r| r.shard.changes_since_save).sum::<u64>(),
        saves.in_progress as u8,
        saves.last_save_ms / 1000,
        secs(saves.last_duration_ms),
        secs(current),
        saves.count,
    ));
    let logs: Vec<_> = reports.iter().filter_map(|r| r.aof.as_ref()).collect();
    let rewriting = saves.in_progress && !logs.is_empty();
    s.push_str(&format!(
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{status}\r\naof_rewrites:{}\r\n",
        !logs.is_empty() as u8,
        rewriting as u8,
        saves.scheduled as u8,
        if logs.is_empty() { -1 } else { secs(saves.last_duration_ms) },
        if rewriting { secs(current) } else { -1 },
        if logs.is_empty() { 0 } else { saves.count },
    ));
    if !logs.is_empty() {
        let failing = logs.iter().find_map(|(st, _)| st.last_error.clone());
        s.push_str(&format!(
            "aof_last_write_status:{}\r\naof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:{}\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\naof_fsync_policy:{}\r\n",
            if failing.is_some() { "err" } else { "ok" },
            reports.iter().map(|r| r.shard.log_since_base + r.shard.base_bytes).sum::<u64>(),
            reports.iter().map(|r| r.shard.base_bytes).sum::<u64>(),
            saves.scheduled as u8,
            logs.iter().map(|(st, _)| st.buffer_bytes).sum::<u64>(),
            logs.iter().filter(|(st, _)| st.sync_running).count(),
            logs.iter().map(|(st, _)| st.delayed_fsync).sum::<u64>(),
            logs[0].1,
        ));
        if let Some(e) = failing {
            s.push_str(&format!("aof_last_write_error:{e}\r\n"));
        }
    }
    for (i, r) in reports.iter().enumerate() {
        let log = r.aof.as_ref().map_or(String::new(), |(st, _)| {
            format!(
                ",aof_size={},segment_size={},replayed_records={},aof_status={}",
                r.shard.log_since_base,
                st.segment_bytes,
                st.records_replayed,
                if st.last_error.is_some() { "err" } else { "ok" }
            )
        });
        s.push_str(&format!(
            "shard{i}_persistence:snapshot_size={},snapshot_in_progress={},snapshot_keys_written={},changes_since_save={}{log}\r\n",
            r.shard.base_bytes,
            r.checkpointing as u8,
            r.progress_keys,
            r.shard.changes_since_save,
        ));
    }
    s
}
