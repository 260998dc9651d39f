//! Start-up recovery (docs/snapshots.md). The coordinator, before any core
//! runs, reads the manifest, checks that every file it names exists, and
//! re-shards the data when the shard count changed. Then every core loads
//! its own shard in parallel — its base (a snapshot, or a log base replayed
//! like the log), then the log segments after it —
//! on a loader thread pinned to the core's CPU, while the core itself already
//! answers clients (`-LOADING` until every shard is in).

use crate::commands;
use crate::config::{Config, Fsync, SnapshotOnCorruption};
use crate::keyspace::Keyspace;
use crate::node::checkpoint::publish_files;
use crate::node::{Node, TaskQueues};
use crate::persistence::manifest::{self, Base, Manifest, ShardFiles};
use crate::persistence::{aof, snapshot};
use crate::process::loading;
use crate::router;
use crate::shard::tx::TxState;
use crate::shard::Shard;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A shard as its files rebuilt it.
pub type Loaded = (Keyspace, ShardFiles, (u64, u64), TxState);

/// How often a loading shard logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// The coordinator's part: the manifest the cores start from, re-sharded to
/// `config.shards` if it was written with another count.
pub fn prepare(config: &Config) -> Result<Manifest, String> {
    let dir = &config.dir;
    remove_unfinished_files(dir);
    let Some(manifest) = Manifest::load(dir)? else {
        refuse_unlisted_files(dir)?;
        loading::begin(config.shards, 0);
        return Ok(Manifest::empty(config.shards));
    };
    CUT_MS.store(
        decided_cut(dir, &manifest)?.unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let missing = manifest.missing_files(dir);
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "{} names files that do not exist: {}. Restore them, or move the data directory aside to start empty",
            crate::persistence::manifest::path(dir).display(),
            names.join(", ")
        ));
    }
    let mut manifest = if manifest.shards.len() != config.shards {
        reshard(config, &manifest)?
    } else {
        manifest
    };
    // A kept file the operator has removed (done inspecting it) is no
    // longer named.
    let kept_before: usize = manifest.shards.iter().map(|f| f.kept.len()).sum();
    for files in &mut manifest.shards {
        files.kept.retain(|p| dir.join(p).exists());
    }
    if manifest.shards.iter().map(|f| f.kept.len()).sum::<usize>() != kept_before {
        manifest.store(dir)?;
    }
    // Leftovers of an interrupted deletion or re-sharding, of a log cut
    // at a bad record: nothing names them, nothing will load them.
    let named = manifest.named(dir);
    let left = manifest::unnamed_files(dir, &named, |_, _| true);
    manifest::remove_files(&left, "not named by the manifest");
    let total = (0..manifest.shards.len())
        .flat_map(|i| manifest.shards[i].paths(dir, i))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    loading::begin(config.shards, total);
    Ok(manifest)
}

/// Where every shard's log is cut at this start (`u64::MAX`: nowhere).
static CUT_MS: AtomicU64 = AtomicU64::new(u64::MAX);

fn consistent_cut() -> Option<u64> {
    Some(CUT_MS.load(Ordering::Relaxed)).filter(|&t| t != u64::MAX)
}

/// The file that holds the moment a start cut the logs at, from before it
/// cuts anything until every shard's log holds a durable label of this
/// boot (`forget_the_cut`).
const CUT_FILE: &str = "power-cut-moment";

/// The moment this start cuts every log at, if any. Decided once: a start
/// that cut the logs and stopped before its own labels were durable leaves
/// logs whose newest labels are older than the ones the cut was computed
/// from, and computing it again from them would cut earlier, dropping what
/// the first cut kept and a client may have read since (the simulated disk,
/// seed 1800227: a start that failed on an injected I/O error, then a start
/// that lost a key the one before had shown). So the moment is written
/// down, durably, before any log is cut, and read back by the next start.
fn decided_cut(dir: &Path, manifest: &Manifest) -> Result<Option<u64>, String> {
    let path = dir.join(CUT_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let cut = text
            .trim()
            .parse()
            .map_err(|_| format!("{}: not a moment in ms: {text:?}", path.display()))?;
        tracing::warn!(
            cut_ms = cut,
            "a start stopped after cutting the logs at this moment after a power cut: cutting them there again"
        );
        return Ok(Some(cut));
    }
    let cut = moment_every_shard_reaches(dir, manifest);
    if let Some(cut) = cut {
        crate::persistence::disk::replace_file(&path, format!("{cut}\n").as_bytes())?;
    }
    Ok(cut)
}

/// Every shard's log now holds a durable label of this boot: a later start
/// computes its own cut, if it needs one.
pub fn forget_the_cut(dir: &Path) -> Result<(), String> {
    let path = dir.join(CUT_FILE);
    if consistent_cut().is_none() || !path.exists() {
        return Ok(());
    }
    crate::persistence::disk::remove(&path)
        .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    crate::persistence::disk::sync_dir(&path)
}

/// After a power cut each shard's log keeps what its own syncs made
/// durable, and the shards sync independently: shard A may keep a write
/// that a client made after seeing a write of shard B that B lost. So when
/// the logs were written in another boot of the machine (a power cut may
/// have happened; a killed process loses nothing, its writes are in the
/// kernel), every log is cut at one moment that every shard's log is known
/// to reach: just before the newest label (`aof::AT`) of the shard whose
/// newest label is oldest. Logs written under `always` reach every moment
/// (every record was durable before anyone saw it). Returns that moment,
/// or None when nothing needs cutting (docs/aof.md, "One moment for all
/// shards").
fn moment_every_shard_reaches(dir: &Path, manifest: &Manifest) -> Option<u64> {
    let n = manifest.shards.len();
    let labels: Vec<Option<aof::Label>> = (0..n)
        .map(|i| aof::newest_label(dir, i, n, &manifest.shards[i].segments))
        .collect();
    let boot = crate::persistence::disk::faults::boot_id().as_bytes();
    let rebooted = labels.iter().flatten().any(|l| l.boot.as_ref() != boot);
    if !rebooted {
        return None;
    }
    let cut = labels
        .iter()
        .flatten()
        .filter(|l| !l.always)
        .map(|l| l.ms.saturating_sub(1))
        .min()?;
    tracing::warn!(
        cut_ms = cut,
        "the logs were written before the machine restarted: cutting every shard's log at the moment all of them reach"
    );
    Some(cut)
}

/// A checkpoint or manifest write cut short by a crash leaves its file
/// under a temporary name (`*.tmp`), which no manifest ever names: delete
/// it, so that it neither fills the disk nor looks like unlisted data.
fn remove_unfinished_files(dir: &Path) {
    for sub in [dir.to_path_buf(), dir.join("aof"), dir.join("snapshot")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for path in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
            if path.extension().is_some_and(|x| x == "tmp") && path.is_file() {
                match crate::persistence::disk::remove(&path) {
                    Ok(()) => {
                        tracing::info!("removed {}, left by an unfinished write", path.display())
                    }
                    Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
                }
            }
        }
    }
}

/// Data files with no manifest naming them: refuse rather than guess (or
/// overwrite them with new segments of the same numbers).
fn refuse_unlisted_files(dir: &Path) -> Result<(), String> {
    for sub in ["aof", "snapshot"] {
        let found = std::fs::read_dir(dir.join(sub))
            .map(|d| d.filter_map(|e| e.ok()).next().is_some())
            .unwrap_or(false);
        if found {
            return Err(format!(
                "{} holds data files but there is no manifest ({}): move them aside to start empty, or restore the manifest",
                dir.join(sub).display(),
                crate::persistence::manifest::path(dir).display()
            ));
        }
    }
    Ok(())
}

/// Rebuilds one shard as its files say, into a keyspace laid out for
/// `shards` shards. Runs on a loader thread (or the coordinator's).
/// Returns the keyspace, the files that remain valid, (records, bytes) of
/// the log replayed, and what the log says of cross-shard writes.
pub fn load_shard(
    config: &Config,
    shard: usize,
    shards: usize,
    files: &ShardFiles,
) -> Result<Loaded, String> {
    let dir = &config.dir;
    let mut sh = Shard::new(shard, shards, config.databases);
    // Nothing expires while loading: a record replays against its key as
    // it was when the record was written (`Keyspace::set_loading`). The
    // core ends loading once its log is attached, so that the keys found
    // past their deadline then go by the ordinary, logged, expiry paths.
    sh.keyspace.set_loading(true);
    // Loaded keys get access words of the policy (an LFU counter, or the
    // LRU clock). Replay never evicts: the log has the evictions as DELs.
    sh.configure(config);
    let started = Instant::now();
    let mut last_log = Instant::now();
    if let Some(g) = files.snapshot() {
        let path = snapshot::path(dir, shard, g);
        let mut progress = |bytes: u64| {
            loading::add_loaded(bytes);
            if last_log.elapsed() >= PROGRESS_EVERY {
                last_log = Instant::now();
                tracing::info!(
                    shard,
                    "loading the snapshot: {:.0}% of all data",
                    loading::progress().percent
                );
            }
        };
        match snapshot::load(&path, (shard, shards, g), &mut sh.keyspace, &|_| true, &mut progress) {
            Ok(loaded) => {
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(
                    shard,
                    keys = loaded.keys,
                    bytes = loaded.bytes,
                    seconds = format!("{secs:.2}"),
                    mb_per_s = format!("{:.0}", loaded.bytes as f64 / 1e6 / secs.max(1e-6)),
                    "snapshot loaded"
                );
            }
            Err(e) if config.snapshot_load_corrupt == SnapshotOnCorruption::StartEmpty => {
                tracing::error!("{e}: shard {shard} starts empty, as --snapshot-load-corrupt start-empty asks (the file is left in place)");
                let mut empty = Shard::new(shard, shards, config.databases).keyspace;
                empty.set_loading(true);
                // The snapshot and the log after it stay, named as kept:
                // never loaded, never deleted, and no new file takes
                // their names (`next_generation`).
                let mut kept = files.kept.clone();
                kept.extend(files.paths(dir, shard).iter().map(|p| manifest::relative(dir, p)));
                let files = ShardFiles {
                    kept,
                    ..ShardFiles::default()
                };
                return Ok((empty, files, (0, 0), TxState::default()));
            }
            Err(e) => {
                return Err(format!(
                    "{e}. Restore the file, or start with --snapshot-load-corrupt start-empty to start shard {shard} without it"
                ))
            }
        }
    }
    // The clock is read for what commands compute from it (a relative TTL,
    // the access clock), never for expiry: the keyspace is loading.
    let now = crate::util::now_ms();
    let mut failure = None;
    let mut applied = 0u64;
    let replayed = aof::replay(
        dir,
        shard,
        shards,
        (files.log_base(), &files.segments),
        config.aof_load_corrupt,
        consistent_cut(),
        |db, argv| {
            if failure.is_none() {
                failure = commands::apply_logged(&mut sh, db, &argv, now).err();
            }
            applied += 1;
            if applied.is_multiple_of(65536) && last_log.elapsed() >= PROGRESS_EVERY {
                last_log = Instant::now();
                tracing::info!(shard, records = applied, "replaying the log");
            }
        },
    )?;
    if let Some(e) = failure {
        return Err(format!("log replay of shard {shard} failed: {e}"));
    }
    loading::add_loaded(replayed.base_bytes + replayed.bytes);
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        shard,
        keys = (0..sh.keyspace.databases())
            .map(|d| sh.keyspace.len(d))
            .sum::<usize>(),
        records = replayed.base_records + replayed.records,
        log_bytes = replayed.base_bytes + replayed.bytes,
        seconds = format!("{secs:.2}"),
        "shard loaded"
    );
    let kept = ShardFiles {
        base: files.base,
        segments: replayed.kept,
        kept: files.kept.clone(),
        split: files.split.clone(),
    };
    // The log's size counts from its base, as after a rewrite.
    let records = replayed.base_records + replayed.records;
    Ok((sh.keyspace, kept, (records, replayed.bytes), sh.tx))
}

/// A core's part: loads its shard on a loader thread pinned to `cpu`, then
/// starts its log in a new segment named in the manifest, its flusher in
/// one of the core's task `queues` (see below). Returns true if this was the
/// last shard to load: the server is then ready.
pub async fn recover(node: &Rc<Node>, cpu: usize, queues: TaskQueues) -> Result<bool, String> {
    let config = node.config.borrow().clone();
    let files = node.persist.files.borrow().clone();
    let (id, shards) = (node.id, node.shard_count);
    let (tx, rx) = futures_channel::oneshot::channel();
    let loader_config = config.clone();
    std::thread::Builder::new()
        .name(format!("load-{id}"))
        .spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            let _ = tx.send(load_shard(&loader_config, id, shards, &files));
        })
        .map_err(|e| format!("cannot start the loader of shard {id}: {e}"))?;
    let (keyspace, mut files, replayed, tx_state) = rx
        .await
        .map_err(|_| format!("the loader of shard {id} died"))??;
    // Its log is cut (after a power cut) and no label of this boot is in it.
    crate::util::crash_point("after-loading-a-shard");
    {
        let mut shard = node.shard.borrow_mut();
        shard.keyspace = keyspace;
        shard.tx = tx_state;
        // The keyspace carries its eviction policy: the one set now.
        shard.configure(&node.config.borrow());
    }
    if let Some(base) = files.base {
        let size = std::fs::metadata(base.path(&config.dir, id)).map_or(0, |m| m.len());
        node.persist.base_bytes.set(size);
    }
    if config.appendonly {
        let seq = files.next_generation();
        let file =
            aof::create_segment(&config.dir, id, shards, seq, config.aof_extent_bytes).await?;
        files.segments.push(seq);
        publish_files(node, files.clone()).await?;
        let settings = aof::Settings {
            policy: config.appendfsync,
            extent_bytes: config.aof_extent_bytes,
            write_threshold_bytes: config.aof_write_threshold_bytes,
        };
        // Where the flusher runs (a task spawned from a queue stays in it).
        // Under `always` its group commit blocks the core for an fdatasync:
        // from the persistence queue it runs once the connections have run
        // out of work, so each commit takes all the writes it can (SET -c 50,
        // 2 shards: ~47-53k/s, against ~35-42k/s from the network queue).
        // Under `everysec`/`no` its write is cheap and every reply waits for
        // it: it runs with the connections, right after the loop turn's
        // commands (-P 16 INCR ~810k/s against ~690k/s). The queue stays if
        // CONFIG SET changes the policy.
        let queue = match config.appendfsync {
            Fsync::Always => queues.persistence,
            Fsync::Everysec | Fsync::No => queues.network,
        };
        let log =
            glommio::spawn_local_into(async move { aof::start(file, settings, replayed) }, queue)
                .map_err(|e| format!("cannot start the AOF of shard {id}: {e}"))?
                .await;
        // The log's first record is a label of this boot, durable before
        // the server is ready: a later start in this boot then knows that no
        // power cut can have happened in between (`moment_every_shard_reaches`).
        let labelled = log.borrow_mut().label_now_and_sync();
        let _ = labelled.await;
        node.shard.borrow_mut().attach_aof(log);
    } else if files != *node.persist.files.borrow() {
        publish_files(node, files.clone()).await?;
    }
    *node.persist.files.borrow_mut() = files;
    // Cross-shard writes a crash interrupted are finished, through the live
    // path and logged as such, once every shard's data is in its core and
    // before the server is ready (docs/aof.md), with the keys as they were.
    loading::shard_attached();
    while !loading::all_attached() {
        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
    }
    // Before any shard is done loading, so before any client writes.
    if id == 0 {
        forget_the_cut(&config.dir)?;
    }
    commands::tx::resume(node).await;
    commands::tx::resume_split(node).await;
    // From here on, lookups and active expiry remove keys past their
    // deadline, and the log (attached above) records each removal as DEL.
    node.shard.borrow_mut().keyspace.set_loading(false);
    Ok(loading::shard_done())
}

/// The shard count changed: every old shard is rebuilt in turn and its keys
/// written into snapshots of the new layout, which a new manifest then
/// names at once; the old files go only after that. A crash meanwhile
/// leaves the old manifest and files as they were.
fn reshard(config: &Config, old: &Manifest) -> Result<Manifest, String> {
    let (dir, shards) = (&config.dir, config.shards);
    let started = Instant::now();
    tracing::warn!(
        "the data was written by {} shards; re-sharding it for {shards}",
        old.shards.len()
    );
    let generation = old
        .shards
        .iter()
        .map(ShardFiles::next_generation)
        .max()
        .unwrap_or(1);
    let mut sinks = (0..shards)
        .map(|j| snapshot::FileSink::create(dir, j, shards, generation))
        .collect::<Result<Vec<_>, _>>()?;
    let now = crate::util::now_ms();
    let mut keys = 0u64;
    // Files kept for inspection (skipped as corrupt, now or before) stay
    // kept in the new layout.
    let mut kept = Vec::new();
    // Every old shard is loaded first: a cross-shard write a crash
    // interrupted is finished across them (in memory) before any key moves.
    let mut old_shards = Vec::with_capacity(old.shards.len());
    for (i, files) in old.shards.iter().enumerate() {
        let (ks, loaded, _, tx) = load_shard(config, i, old.shards.len(), files)?;
        kept.extend(loaded.kept);
        let mut sh = Shard::new(i, old.shards.len(), config.databases);
        sh.keyspace = ks;
        sh.tx = tx;
        old_shards.push(sh);
    }
    let bases: Vec<_> = old.shards.iter().map(|f| f.split.clone()).collect();
    commands::tx::resume_offline(&mut old_shards, &bases);
    for sh in old_shards {
        let mut ks = sh.keyspace;
        // Loaded whole; keys already past their deadline are left out of
        // the new snapshots, which no log follows: their removal is final.
        ks.set_loading(false);
        let mut out: Vec<(Vec<u8>, u64)> = vec![(Vec::new(), 0); shards];
        let mut failure = None;
        for db in 0..ks.databases() {
            ks.keys(db, now, |e| {
                let j = router::shard_of(e.key(), shards);
                snapshot::encode_entry(&mut out[j].0, db, e);
                out[j].1 += 1;
                if out[j].0.len() >= 1 << 20 && failure.is_none() {
                    let (records, n) = std::mem::take(&mut out[j]);
                    failure = sinks[j].write(&records, n).err();
                }
            });
        }
        for (j, (records, n)) in out.into_iter().enumerate() {
            sinks[j].write(&records, n)?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        keys += (0..ks.databases()).map(|d| ks.len(d) as u64).sum::<u64>();
    }
    for sink in sinks {
        sink.finish(now)?;
    }
    let mut manifest = Manifest {
        shards: vec![
            ShardFiles {
                base: Some(Base::Snapshot(generation)),
                segments: Vec::new(),
                kept: Vec::new(),
                split: Default::default(),
            };
            shards
        ],
    };
    // Shard 0 names them (any shard could: a kept file is never loaded).
    manifest.shards[0].kept = kept;
    manifest.store(dir)?;
    // The new files' generation is above every old one: no name is shared.
    let named = manifest.named(dir);
    let old_files: Vec<_> = (0..old.shards.len())
        .flat_map(|i| old.shards[i].paths(dir, i))
        .filter(|p| !named.contains(p))
        .collect();
    manifest::remove_files(&old_files, "re-sharded");
    tracing::warn!(
        keys,
        seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
        "re-sharded into {shards} shards"
    );
    Ok(manifest)
}
