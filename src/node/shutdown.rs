//! Snapshots and shutdown, as the cores run them (docs/snapshots.md).
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
//! through the same cut with another encoder.
//!
//! A **save** is a checkpoint of every shard at once, run by core 0, which
//! also keeps the manifest (every change of it goes through core 0, one at a
//! time) and decides when to save by itself: save points (`save 60 10000`)
//! and log growth (`auto-aof-rewrite-percentage`, `-min-size`).

use super::Node;
use crate::persistence::manifest::{self, Base, Manifest, ShardFiles};
use crate::persistence::{aof, rewrite, snapshot};
use futures_channel::oneshot;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Records the snapshot writer gathers per step before it yields the core:
/// about 50 µs of serialization on the 2-core VM, so a client that comes
/// in meanwhile waits at most that long for the core. (The file is still
/// written in 1 MiB writes: `DmaSink` gathers the steps.)
const STEP_BYTES: usize = 16 << 10;
/// After a failed save, automatic saves wait this long (Redis: 5 s).
const RETRY_FAILED_SAVE_MS: u64 = 5_000;
/// How long a shutdown waits for every shard's log to be written and
/// synced. A log that is failing (a full or broken disk) retries once a
/// second meanwhile; if it is still not durable then, the shutdown is
/// refused (the data is only in memory) unless FORCE.
pub const SHUTDOWN_LOG_WAIT: Duration = Duration::from_secs(5);

/// What one core knows of its shard's files and snapshots.
#[derive(Default)]
pub struct Persist {
    /// This shard's files, as the manifest names them.
    pub files: RefCell<ShardFiles>,
    /// Size of the current base file, snapshot or log base (bytes; 0
    /// without one).
    pub base_bytes: Cell<u64>,
    /// The log's `total_bytes` when the current base was cut: what the log
    /// holds beyond the base is the difference.
    pub log_at_base: Cell<u64>,
    /// The shard's change counter at the last completed snapshot's cut.
    pub saved_changes: Cell<u64>,
    /// A checkpoint of this shard is running; its progress (keys so far).
    pub checkpointing: Cell<bool>,
    pub progress_keys: Cell<u64>,
    /// Core 0 only: the manifest, and the state of saves.
    pub manifest: Option<RefCell<Manifest>>,
    pub saves: Saves,
    /// Core 0 only: shutdowns waiting for the logs; SHUTDOWN ABORT ends
    /// their wait.
    pub shutdowns: RefCell<Vec<oneshot::Sender<()>>>,
}

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

impl Persist {
    pub fn new(files: ShardFiles, manifest: Option<Manifest>) -> Persist {
        let p = Persist {
            files: RefCell::new(files),
            manifest: manifest.map(RefCell::new),
            ..Persist::default()
        };
        p.saves.last_ok.set(true);
        p.saves.last_save_ms.set(crate::util::now_ms());
        p
    }
}

impl Node {
    /// Runs persistence work (saves) in this core's persistence task queue.
    pub fn spawn_persistence(&self, work: impl std::future::Future<Output = ()> + 'static) {
        self.spawn_into(|q| q.persistence, work)
    }

    /// Runs `work` in one of this core's task queues, with its shares.
    pub fn spawn_into(
        &self,
        queue: fn(&super::TaskQueues) -> glommio::TaskQueueHandle,
        work: impl std::future::Future<Output = ()> + 'static,
    ) {
        let spawned = match self.task_queues.get() {
            Some(q) => glommio::spawn_local_into(work, queue(q)),
            None => Ok(glommio::spawn_local(work)),
        };
        match spawned {
            Ok(task) => {
                task.detach();
            }
            Err(e) => tracing::error!(shard = self.id, "cannot start persistence work: {e}"),
        }
    }
}

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
    let (id, shards) = (node.id, node.shards);
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
    let (changes_at_cut, log_at_cut) = {
        let mut sh = node.shard.borrow_mut();
        crate::shard::tx::set_cut_waiting(id, false);
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
        (sh.changes, log_at_cut)
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
    };
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
        kept: Vec::new(),
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

/// Keeps the snapshot writer to its share of a busy core.
///
/// Over each `WINDOW` it measures the CPU time the core's thread used for
/// anything but the writer (clients, jobs from other cores, the log,
/// expiry). Below `BUSY_FRACTION` of the window, or with fewer than
/// `BUSY_REQUESTS` requests in it, the core counts as idle and the writer
/// runs flat out. Otherwise the writer earns CPU time in
/// proportion to the rest — `share` of the two together — but at least
/// `FLOOR_SHARE` of the wall-clock time, so a snapshot under any load ends
/// in bounded time.
///
/// CPU time, from the kernel (`CLOCK_THREAD_CPUTIME_ID`), not wall-clock
/// time: on a shared machine the executor's idle time is no spare CPU
/// (another process, the load generator of a benchmark, may be using it),
/// and its tasks' wall-clock run times count the time it was preempted.
/// Measured on the 2-core VM with other processes busy: a writer held to
/// 10% of the wall clock, or paced by glommio's (wall-clock) run times,
/// took a third of the server's CPU, and clients lost 60% of their
/// throughput. (Those runs also polled INFO while it still called glibc's
/// `mallinfo2`, since removed, which overstated the loss.)
struct Pacer {
    window_started: Instant,
    cpu_at_window: f64,
    /// Client commands and other cores' jobs this core had run when the
    /// window started.
    requests_at_window: u64,
    /// The writer's CPU time in this window.
    writer_in_window: f64,
    busy: bool,
    /// CPU time the writer may still use before it pauses (seconds; below
    /// zero, it owes).
    credit: f64,
    /// For the log: the writer's own CPU time, its pauses, the busy windows.
    worked_s: f64,
    paused_s: f64,
    windows: u64,
    busy_windows: u64,
}

/// How long the clients' activity is measured over before the pacer
/// decides again.
const WINDOW: Duration = Duration::from_millis(10);
/// The share of that window the rest of the core's work must have used for
/// the core to count as busy.
const BUSY_FRACTION: f64 = 0.02;
/// Requests a window must have seen for the core to count as busy (500 a
/// second): a monitoring client polling INFO does not slow a snapshot.
const BUSY_REQUESTS: u64 = 5;
/// The least share of the wall clock the writer gets on a busy core: a
/// snapshot under load takes at most 50 times its CPU time.
const FLOOR_SHARE: f64 = 0.02;
/// Most credit kept: time the writer could not use (waiting on the disk)
/// does not pile up into a long burst later.
const MAX_CREDIT: f64 = 0.002;

/// CPU time this thread has used (seconds).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the kernel to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

impl Pacer {
    fn new() -> Pacer {
        Pacer {
            window_started: Instant::now(),
            cpu_at_window: thread_cpu(),
            requests_at_window: 0,
            writer_in_window: 0.0,
            busy: false,
            credit: 0.0,
            worked_s: 0.0,
            paused_s: 0.0,
            windows: 0,
            busy_windows: 0,
        }
    }

    /// The writer starts a step: its CPU time so far, for `worked`.
    fn start(&self) -> f64 {
        thread_cpu()
    }

    /// The writer's step that began at `started` (`start`) is over.
    fn worked(&mut self, started: f64) {
        let d = (thread_cpu() - started).max(0.0);
        self.worked_s += d;
        self.writer_in_window += d;
        if self.busy {
            self.credit -= d;
        }
    }

    /// Closes the window if it is over: busy or not, and the credit earned.
    /// `requests`: client commands and jobs from other cores run so far.
    fn refresh(&mut self, share_pct: u64, requests: u64) {
        let window = self.window_started.elapsed().as_secs_f64();
        if window < WINDOW.as_secs_f64() {
            return;
        }
        let cpu = thread_cpu();
        let others = (cpu - self.cpu_at_window - self.writer_in_window).max(0.0);
        self.window_started = Instant::now();
        self.cpu_at_window = cpu;
        self.writer_in_window = 0.0;
        // The kernel's work for the writer's own file writes counts in the
        // thread's CPU time: the core is busy only if requests came too.
        let served = requests.saturating_sub(self.requests_at_window);
        self.requests_at_window = requests;
        self.busy = others >= BUSY_FRACTION * window && served >= BUSY_REQUESTS;
        self.windows += 1;
        self.busy_windows += self.busy as u64;
        if self.busy {
            let share = share_pct.clamp(1, 99) as f64 / 100.0;
            let earned = (others * share / (1.0 - share)).max(FLOOR_SHARE * window);
            self.credit = (self.credit + earned).min(MAX_CREDIT);
        } else {
            self.credit = 0.0;
        }
    }

    /// How long to pause now to keep to `share_pct` percent of a busy core
    /// (zero: go on after a yield).
    fn pause(&mut self, share_pct: u64, requests: u64) -> Duration {
        self.refresh(share_pct, requests);
        if !self.busy || share_pct >= 100 || self.credit >= 0.0 {
            return Duration::ZERO;
        }
        // Until the window closes and brings new credit.
        WINDOW
            .saturating_sub(self.window_started.elapsed())
            .max(Duration::from_millis(1))
    }
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

/// Core 0: a graceful stop. Saves first if asked (or, when not said, if save
/// points are set), then syncs every shard's log, then exits the process.
/// Returns only if the save failed and `force` is off.
pub async fn shutdown(node0: Rc<Node>, save: Option<bool>, force: bool) -> String {
    // Nothing to save before the data is loaded.
    let save = !crate::process::loading::in_progress()
        && save.unwrap_or_else(|| !node0.config.borrow().save.is_empty());
    tracing::warn!("shutting down (save: {save})");
    if save {
        // Wait for a save that runs, then take a fresh one.
        let outcome = match request_save(node0.clone(), true) {
            SaveRequest::Started(rx) | SaveRequest::Scheduled(rx) => {
                rx.await.unwrap_or_else(|_| Err("cancelled".into()))
            }
            SaveRequest::InProgress => Err("a save is already running".into()),
        };
        if let Err(e) = outcome {
            // Redis's message; the reason goes to the log.
            tracing::error!("the final save failed: {e}");
            if !force {
                return "ERR Errors trying to SHUTDOWN. Check logs.".into();
            }
        }
    }
    crate::process::set_shutting_down(true);
    let (abort, aborted) = oneshot::channel();
    node0.persist.shutdowns.borrow_mut().push(abort);
    let synced = node0
        .run_on_all(|n: &Node| {
            n.shard
                .borrow()
                .aof
                .as_ref()
                .map(|a| a.borrow_mut().sync_all())
        })
        .await
        .unwrap_or_default();
    #[derive(PartialEq)]
    enum Wait {
        Synced,
        TimedOut,
        Aborted,
    }
    let all_synced = async {
        for rx in synced.into_iter().flatten() {
            let _ = rx.await;
        }
        Wait::Synced
    };
    let timed_out = async {
        glommio::timer::sleep(SHUTDOWN_LOG_WAIT).await;
        Wait::TimedOut
    };
    let abort_asked = async {
        let _ = aborted.await;
        Wait::Aborted
    };
    use futures_lite::FutureExt;
    let waited = all_synced.or(abort_asked).or(timed_out).await;
    node0
        .persist
        .shutdowns
        .borrow_mut()
        .retain(|tx| !tx.is_canceled());
    match waited {
        Wait::Synced => {}
        Wait::Aborted => {
            crate::process::set_shutting_down(false);
            tracing::warn!("shutdown aborted (SHUTDOWN ABORT)");
            return "ERR Errors trying to SHUTDOWN. Check logs.".into();
        }
        Wait::TimedOut => {
            let errors = node0
                .run_on_all(|n: &Node| {
                    let sh = n.shard.borrow();
                    let err = sh
                        .aof
                        .as_ref()
                        .and_then(|a| a.borrow().write_error().map(String::from));
                    err.map(|e| format!("shard {}: {e}", n.id))
                })
                .await
                .unwrap_or_default();
            let why: Vec<String> = errors.into_iter().flatten().collect();
            let why = if why.is_empty() {
                "not done".to_string()
            } else {
                why.join("; ")
            };
            if !force {
                tracing::error!(
                    "the log could not be written and synced within {SHUTDOWN_LOG_WAIT:?} ({why}): not shutting down, the data is only in memory (SHUTDOWN FORCE exits anyway)"
                );
                crate::process::set_shutting_down(false);
                return "ERR Errors trying to SHUTDOWN. Check logs.".into();
            }
            tracing::error!(
                "the log could not be written and synced within {SHUTDOWN_LOG_WAIT:?} ({why}): exiting anyway (FORCE); writes not yet on disk are lost"
            );
        }
    }
    tracing::warn!("ringcache is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// Core 0: SHUTDOWN ABORT. Ends the wait of every shutdown still waiting
/// for the logs (they answer an error and the server goes on); false if
/// none is.
pub fn abort_shutdown(node0: &Node) -> bool {
    let waiting = std::mem::take(&mut *node0.persist.shutdowns.borrow_mut());
    let mut any = false;
    for tx in waiting {
        any |= tx.send(()).is_ok();
    }
    any
}
