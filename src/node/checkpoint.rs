//! Checkpoints, as the cores run them (docs/snapshots.md).
//!
//! A **checkpoint** of one shard: pick the next generation `g`; with the log
//! on, create log segment `g` and name it in the manifest; then, in one step
//! on the shard's core, cut (the keyspace starts serialize-before-mutate) and
//! rotate the log to segment `g`; write base `g` in the background; once it
//! is durable, the manifest says "base g + segments from g" and the older
//! files are deleted. A failure at any point leaves the manifest naming
//! files that together hold every acknowledged write. The base is a snapshot,
//! except in AOF-only mode (`aof-use-rdb-preamble no`): there it is a log
//! base, the commands that rebuild each key (Redis's rewritten AOF), written
//! through the same cut with another encoder. The writer keeps to its share
//! of a busy core (`pacer`). Saves of every shard: `saves`.

use super::pacer::Pacer;
use super::Node;
use crate::persistence::manifest::{self, Base, ShardFiles};
use crate::persistence::{aof, rewrite, snapshot};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Records the snapshot writer gathers per step before it yields the core:
/// about 50 µs of serialization on the 2-core VM, so a client that comes
/// in meanwhile waits at most that long for the core. (The file is still
/// written in 1 MiB writes: `DmaSink` gathers the steps.)
const STEP_BYTES: usize = 16 << 10;

/// Records `files` as shard `shard`'s in the manifest (core 0 writes it).
pub async fn publish_files(node: &Node, files: ShardFiles) -> Result<(), String> {
    let shard = node.id;
    node.run_on(0, move |n: &Node| {
        let dir = n.config.borrow().dir.clone();
        let m = n
            .persist
            .manifest
            .as_ref()
            .ok_or("core 0 holds no manifest")?;
        let mut m = m.borrow_mut();
        let before = std::mem::replace(&mut m.shards[shard], files);
        m.store(&dir).inspect_err(|_| m.shards[shard] = before)
    })
    .await
    .unwrap_or_else(|| Err("core 0 is gone".into()))
}

/// One shard's checkpoint (see the module comment). Returns the keys
/// written.
pub async fn checkpoint(node: Rc<Node>) -> Result<u64, String> {
    if node.persist.checkpointing.replace(true) {
        return Err("a snapshot of this shard is already running".into());
    }
    let result = run_checkpoint(&node).await;
    node.persist.checkpointing.set(false);
    if let Err(e) = &result {
        tracing::error!(shard = node.id, "snapshot failed: {e}");
    }
    result
}

async fn run_checkpoint(node: &Node) -> Result<u64, String> {
    let (dir, extent, preamble) = {
        let c = node.config.borrow();
        (c.dir.clone(), c.aof_extent_bytes, c.aof_use_rdb_preamble)
    };
    let (id, shards) = (node.id, node.shard_count);
    let before = node.persist.files.borrow().clone();
    let generation = before.next_generation();
    let log = node.shard.borrow().aof.clone();
    // AOF-only mode: the base is a log of commands, not a snapshot.
    let log_base = log.is_some() && !preamble;
    let (sink, encode): (_, crate::keyspace::EncodeFn) = if log_base {
        let sink = snapshot::DmaSink::create_log_base(&dir, id, shards, generation).await?;
        (sink, rewrite::encode_entry_from)
    } else {
        let sink = snapshot::DmaSink::create(&dir, id, shards, generation).await?;
        (sink, snapshot::encode_entry_from)
    };
    // With the log on, its next segment exists and is named before the cut,
    // so every record appended after the cut lands in a listed file.
    let next_segment = match &log {
        None => None,
        Some(_) => {
            let prepared = async {
                let file = aof::create_segment(&dir, id, shards, generation, extent).await?;
                let mut during = before.clone();
                during.segments.push(generation);
                publish_files(node, during.clone()).await?;
                Ok::<_, String>((file, during))
            };
            match prepared.await {
                Ok(p) => Some(p),
                Err(e) => {
                    sink.abandon().await;
                    return Err(e);
                }
            }
        }
    };
    // A cross-shard write this shard takes part in ends (its TXEND is
    // durable) before the cut, so that a log tail holding one of its
    // records holds the record's whole story (docs/aof.md); new ones wait.
    if log.is_some() {
        crate::shard::tx::set_cut_waiting(id, true);
        let since = std::time::Instant::now();
        let mut warned = false;
        while node.shard.borrow().tx.open > 0 {
            if !warned && since.elapsed() > std::time::Duration::from_secs(10) {
                tracing::warn!(
                    shard = id,
                    "the snapshot cut still waits for cross-shard writes to end"
                );
                warned = true;
            }
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    // The cut: one synchronous step on this core.
    let cut_ms = crate::util::now_ms();
    let (changes_at_cut, log_at_cut, split_cut, split_in_base) = {
        let mut sh = node.shard.borrow_mut();
        crate::shard::tx::set_cut_waiting(id, false);
        // Which split writes' parts here the base holds (docs/aof.md).
        let (split_cut, split_in_base) = crate::shard::split::at_cut(id);
        // The log's tail starts here: what replay saw before is history.
        sh.tx.parts.clear();
        sh.keyspace.begin_cut(encode);
        let mut log_at_cut = 0;
        if let (Some(log), Some((file, during))) = (&log, next_segment) {
            let mut log = log.borrow_mut();
            log.rotate(file);
            log_at_cut = log.stats.total_bytes + log.pending_bytes();
            *node.persist.files.borrow_mut() = during;
        }
        (sh.changes, log_at_cut, split_cut, split_in_base)
    };
    node.persist.progress_keys.set(0);
    let written = write_base(node, sink, cut_ms).await;
    let (bytes, keys) = match written {
        Ok(w) => w,
        Err(e) => {
            node.shard.borrow_mut().keyspace.cancel_cut();
            return Err(e);
        }
    };
    let after = ShardFiles {
        base: Some(if log_base {
            Base::Log(generation)
        } else {
            Base::Snapshot(generation)
        }),
        segments: if log.is_some() {
            vec![generation]
        } else {
            Vec::new()
        },
        kept: before.kept.clone(),
        split: if log.is_some() {
            split_cut
        } else {
            Default::default()
        },
    };
    if log.is_some() {
        // A split write whose part the base holds ends (its other parts
        // shown) before the base replaces the log holding its records; the
        // sync below puts those parts on disk.
        while crate::shard::split::any_open(&split_in_base) {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        every_log_durable_past(node, cut_ms).await?;
    }
    publish_files(node, after.clone()).await?;
    let named: std::collections::HashSet<_> = after.all_paths(&dir, id).into_iter().collect();
    let superseded = std::mem::replace(&mut *node.persist.files.borrow_mut(), after);
    // The segment starting at the cut (`generation`) stays: it follows the
    // new base.
    let old_files = ShardFiles {
        base: superseded.base,
        segments: superseded
            .segments
            .into_iter()
            .filter(|&s| s < generation)
            .collect(),
        ..ShardFiles::default()
    }
    .paths(&dir, id);
    // Unlinking a big file takes the filesystem tens of milliseconds: not on
    // the core. (Nothing names these files any more.) Any other file of this
    // shard that the manifest does not name goes too: a leftover of a
    // deletion a crash interrupted. Only this shard's core makes this
    // shard's files, and the next ones it makes (a later checkpoint's,
    // maybe already started when this thread runs) have higher
    // generations: only files below this one's can be taken for leftovers.
    std::thread::spawn(move || {
        manifest::remove_files(&old_files, "superseded by a checkpoint");
        let left = manifest::unnamed_files(&dir, &named, |shard, g| shard == id && g < generation);
        manifest::remove_files(&left, "not named by the manifest");
    });
    node.persist.base_bytes.set(bytes);
    node.persist.log_at_base.set(log_at_cut);
    node.persist.saved_changes.set(changes_at_cut);
    let what = if log_base { "log base" } else { "snapshot" };
    // Where the serialization ran: slots by the writer (paced), slots and
    // single keys on the request path, before a change.
    let cut = node.shard.borrow().keyspace.last_cut;
    tracing::info!(
        shard = id,
        generation,
        keys,
        bytes,
        seconds = (crate::util::now_ms().saturating_sub(cut_ms)) as f64 / 1000.0,
        writer_slots = cut.writer_slots,
        slots_on_change = cut.forced_slots,
        keys_on_change = cut.forced_keys,
        "{what} written"
    );
    Ok(keys)
}

/// How long a checkpoint waits for every shard's log to vouch for its cut
/// before it gives up (the old files stay named; the next save tries again).
const LOGS_DURABLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Under `everysec` and `no`: completes once every shard's log holds a
/// durable label newer than `cut_ms`. After a power cut every log is cut at
/// one moment, just before the oldest of the shards' newest labels
/// (docs/aof.md, "One moment for all shards"), and a base cannot be cut: so
/// before the base replaces the older files, that moment must be at or after
/// the cut, or this shard would come back ahead of the others. One label and
/// one fdatasync per shard per checkpoint. (Under `always` every record is
/// durable before anyone sees it; labels do not count there.)
async fn every_log_durable_past(node: &Node, cut_ms: u64) -> Result<(), String> {
    if node.config.borrow().appendfsync == crate::config::Fsync::Always {
        return Ok(());
    }
    while crate::util::now_ms() <= cut_ms {
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let synced = super::join_all((0..node.shard_count).map(|s| async move {
        let labelled = node
            .run_on(s, |n: &Node| {
                let log = n.shard.borrow().aof.clone();
                log.map(|l| l.borrow_mut().label_now_and_sync())
            })
            .await
            .flatten();
        if let Some(rx) = labelled {
            let _ = rx.await;
        }
    }));
    let timeout = glommio::timer::sleep(LOGS_DURABLE_TIMEOUT);
    match futures_lite::future::or(async { Some(synced.await) }, async {
        timeout.await;
        None
    })
    .await
    {
        Some(_) => Ok(()),
        None => Err(format!(
            "the shards' logs were not durable past the cut within {LOGS_DURABLE_TIMEOUT:?}"
        )),
    }
}

/// Drives the cut to its end, writing what it serializes. Returns the file's
/// size and its keys.
///
/// Pacing: the writer serializes `STEP_BYTES` per step and leaves the core
/// to the other task queues between steps. While clients keep the core busy
/// (`Pacer`), it takes `snapshot-cpu-share` percent of the CPU time the
/// shard uses, and pauses when it has; when they leave the core idle it
/// runs flat out. `snapshot-write-rate`, if set, also caps its bytes a
/// second.
async fn write_base(
    node: &Node,
    mut sink: snapshot::DmaSink,
    cut_ms: u64,
) -> Result<(u64, u64), String> {
    let mut records = Vec::with_capacity(2 * STEP_BYTES);
    let started = Instant::now();
    let mut written = 0u64;
    let mut pacer = Pacer::new();
    loop {
        let step_started = pacer.start();
        records.clear();
        let step = node
            .shard
            .borrow_mut()
            .keyspace
            .cut_step(STEP_BYTES, &mut records);
        let Some((keys, done)) = step else {
            sink.abandon().await;
            return Err("the snapshot was cancelled".into());
        };
        sink.push(&records, keys);
        pacer.worked(step_started);
        if let Err(e) = sink.write_full_blocks().await {
            sink.abandon().await;
            return Err(e);
        }
        node.persist
            .progress_keys
            .set(node.persist.progress_keys.get() + keys);
        if done {
            break;
        }
        written += records.len() as u64;
        // `snapshot-write-rate` and `snapshot-cpu-share` are read at each
        // step, so CONFIG SET applies to a snapshot running.
        let (rate, share) = {
            let c = node.config.borrow();
            (c.snapshot_write_rate, c.snapshot_cpu_share)
        };
        // The rate: wait until this much may have been written.
        let early = (rate > 0)
            .then(|| Duration::from_secs_f64(written as f64 / rate as f64))
            .and_then(|due| due.checked_sub(started.elapsed()))
            .unwrap_or_default();
        let requests = node.stats.commands_processed.get() + node.stats.jobs_received.get();
        let wait = early.max(pacer.pause(share, requests));
        if !wait.is_zero() {
            let slept = Instant::now();
            glommio::timer::sleep(wait).await;
            pacer.paused_s += slept.elapsed().as_secs_f64();
        } else {
            // Leave the core to the other task queues (clients first, by
            // their shares) between steps: a plain yield would keep running
            // this queue until the preemption timer.
            glommio::executor().yield_task_queue_now().await;
        }
    }
    let (path, totals) = sink.finish(cut_ms).await?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        shard = node.id,
        seconds = started.elapsed().as_secs_f64(),
        serializing = pacer.worked_s,
        paused = pacer.paused_s,
        busy_windows = pacer.busy_windows,
        windows = pacer.windows,
        "snapshot writer"
    );
    Ok((bytes, totals.keys))
}
