//! One shard's append-only log. Commands append the effects of their writes to
//! an in-memory buffer (`AofBuffer`, owned by the shard); a flusher task hands
//! them to the current segment and syncs it according to `appendfsync`:
//!
//! - `always`: every flush is a group commit — everything appended since the
//!   last one, one O_DIRECT write, one fdatasync — and replies wait for it;
//! - `everysec`: every loop turn's records are written to the kernel (the
//!   page cache) before the replies that acknowledge them leave, as Redis
//!   does, so a crash of the process loses nothing; once a second a
//!   background fdatasync makes them durable;
//! - `no`: the same, without fdatasync.
//!
//! The tail is padded to a block boundary at every sync point, so a block that
//! holds synced records is never written again; the bytes since the last
//! completed sync stay in memory until it completes, so a failed write or
//! sync is retried with exactly the same bytes at the same offsets (see
//! docs/aof.md). At start-up each shard replays its segments (`reader`:
//! `replay`) before it serves, then starts a new segment. This file is the
//! writer; `reader` reads segments back.

mod reader;

pub use reader::*;

use super::disk::{self, CachedFile, DirectFile, Issue};
use super::record::{self, SegmentHeader, BLOCK};
use crate::config::Fsync;
use bytes::Bytes;
use futures_channel::oneshot;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spare capacity the log buffer keeps after a sync drained it; above
/// this it gives memory back.
const SPARE_BUFFER_BYTES: usize = 1 << 20;
/// How long a failed write waits before it is retried.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often a sync waiting for the clock to pass the newest labelled
/// millisecond looks again.
const LABEL_TICK: Duration = Duration::from_micros(200);

/// How a shard's log is written (profile `appendfsync` and `[aof]`).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub policy: Fsync,
    /// Segment space reserved at a time.
    pub extent_bytes: u64,
    /// Bytes written but not yet synced that make `everysec` sync early.
    pub write_threshold_bytes: usize,
}

#[derive(Default, Clone)]
pub struct AofStats {
    /// Bytes of the current segment written so far (padding included).
    pub segment_bytes: u64,
    /// Bytes replayed at start-up plus bytes written since.
    pub total_bytes: u64,
    pub delayed_fsync: u64,
    /// fdatasync calls completed since start-up.
    pub fsyncs: u64,
    /// Whether a background fdatasync is running (Redis's
    /// `aof_pending_bio_fsync`).
    pub sync_running: bool,
    /// Bytes appended and not yet written to the kernel (Redis's
    /// `aof_buffer_length`): filled in by `AofBuffer::stats_now`.
    pub buffer_bytes: u64,
    pub last_error: Option<String>,
    pub records_replayed: u64,
}

/// The log's in-memory side: the records since the last completed sync, how
/// far the kernel has them, and the replies waiting for either.
pub struct AofBuffer {
    policy: Fsync,
    write_threshold_bytes: usize,
    /// Every byte since the last completed sync (under `no`, since the last
    /// block written), starting on a block boundary of the current segment:
    /// what a failed write or sync must write again, at the same offsets.
    log: Vec<u8>,
    /// How much of `log` has been written to the kernel.
    handed: usize,
    /// Where `log[0]` belongs in the current segment (a block boundary),
    /// and the segment's page-cache descriptor.
    base: u64,
    cached: Rc<CachedFile>,
    /// Records appended so far; of those, written to the kernel; durable.
    appended: u64,
    written: u64,
    durable: u64,
    /// Replies waiting for their records to reach the kernel (`everysec`,
    /// `no`) or the disk (`always`, a shutdown), by the record count they
    /// need.
    write_waiters: VecDeque<(u64, Waiter)>,
    sync_waiters: VecDeque<(u64, Waiter)>,
    wake: LocalSender<()>,
    /// A switch to a new segment, at a snapshot's cut: what is in `log`
    /// before it goes to the old segment.
    rotation: Option<Rotation>,
    /// Sync at the next flush whatever the policy (shutdown).
    sync_requested: bool,
    /// The time label (`AT` record) the records appended now fall under.
    labelled_ms: u64,
    /// Bytes of the current segment a completed sync covers. Every label
    /// carries it, so that reading back tells damage in bytes a sync covered
    /// (corruption) from damage a power cut left in unsynced ones.
    durable_bytes: u64,
    /// The next record appended is a label whatever its millisecond: it
    /// starts a fresh block after a sync point, where a reader looking past
    /// damage finds it (see `label`).
    label_due: bool,
    pub stats: AofStats,
}

/// The time label record: `AT <ms> <policy> <boot> <durable bytes>`. Every
/// record after it in the log was applied at or after `<ms>` (and before the
/// next label), by the wall clock every core shares. At start-up every
/// shard's log is cut at one common label, so that what the shards bring back
/// is the state at one moment (docs/aof.md, "One moment for all shards").
/// `<durable bytes>`: how much of the segment a completed sync had covered
/// when the label was appended (docs/aof.md, "Reading back").
pub const AT: &[u8] = b"AT";

/// The newest label any shard of this process has logged: a shard whose
/// own label is older logs a fresh one at its next sync, so that its log
/// vouches for the moments other shards logged.
static NEWEST_LABEL_MS: AtomicU64 = AtomicU64::new(0);

/// The logs of this process that cannot be written right now (flusher id,
/// error). While any is failing every shard refuses writes, as Redis's one
/// AOF does: recovery after a power cut cuts every log at the failing one's
/// last label, so writes other shards acknowledged meanwhile would all be
/// lost (docs/aof.md, "When the disk fails").
static FAILING: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
/// Whether `FAILING` holds anything: the check every write makes.
static ANY_FAILING: AtomicBool = AtomicBool::new(false);

/// The error of a log of this process that cannot be written, if any:
/// writes on every shard are refused while there is one.
pub fn failing_log_error() -> Option<String> {
    if !ANY_FAILING.load(Ordering::Acquire) {
        return None;
    }
    let failing = FAILING.lock().unwrap_or_else(|e| e.into_inner());
    failing.first().map(|(_, err)| err.clone())
}

/// Marks the log `id` failing with `err`, or (`None`) written again.
fn mark_failing(id: u64, err: Option<&str>) {
    let mut failing = FAILING.lock().unwrap_or_else(|e| e.into_inner());
    failing.retain(|(other, _)| *other != id);
    if let Some(err) = err {
        failing.push((id, err.to_string()));
    }
    ANY_FAILING.store(!failing.is_empty(), Ordering::Release);
}

/// An `AT` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub ms: u64,
    /// Written under `always`: every record before it was durable before
    /// anyone saw it.
    pub always: bool,
    /// The machine's boot the writer ran in (`disk::faults::boot_id`).
    pub boot: Bytes,
    /// Bytes of the segment a completed sync covered when it was appended
    /// (`None` in logs written before labels carried it).
    pub durable_bytes: Option<u64>,
}

pub fn label_of(argv: &[Bytes]) -> Option<Label> {
    if !(4..=5).contains(&argv.len()) || argv[0].as_ref() != AT {
        return None;
    }
    let number = |a: &Bytes| std::str::from_utf8(a).ok()?.parse().ok();
    Some(Label {
        ms: number(&argv[1])?,
        always: argv[2].as_ref() == b"always",
        boot: argv[3].clone(),
        durable_bytes: match argv.get(4) {
            Some(a) => Some(number(a)?),
            None => None,
        },
    })
}

/// What waits for records to be safe to show.
enum Waiter {
    /// A reply on this core, awaiting the receiver.
    Signal(oneshot::Sender<()>),
    /// A reply going to another core, sent from here once it may leave: the
    /// requester is woken once, not once for the result and again for this
    /// (a cross-core wake can cost a parked core's wake-up).
    Run(Box<dyn FnOnce()>),
}

impl Waiter {
    fn release(self) {
        match self {
            Waiter::Signal(tx) => {
                let _ = tx.send(());
            }
            Waiter::Run(then) => then(),
        }
    }
}

impl Drop for AofBuffer {
    /// A log that goes away (appendonly turned off) sends the replies it
    /// held, as the dropped signals of local ones release theirs.
    fn drop(&mut self) {
        let waiting = self
            .write_waiters
            .drain(..)
            .chain(self.sync_waiters.drain(..));
        for (_, waiter) in waiting {
            if let Waiter::Run(then) = waiter {
                then();
            }
        }
    }
}

/// The next segment, and where in `log` the old one ends.
struct Rotation {
    segment: Segment,
    at: usize,
    upto: u64,
}

/// An open segment: O_DIRECT for group commits and syncs through io_uring,
/// and a second, page-cache descriptor of the same file for `everysec` and
/// `no`, whose records must reach the kernel before every reply (an O_DIRECT
/// write per loop turn would be a device write each time).
pub struct Segment {
    direct: Rc<DirectFile>,
    cached: Rc<CachedFile>,
}

impl AofBuffer {
    pub fn append(&mut self, db: usize, argv: &[Bytes]) {
        self.append_all(db, std::slice::from_ref(&argv));
    }

    /// Appends the effects of one write as one logical record: replay
    /// applies all of them or, if a crash tore the record, none.
    pub fn append_all<A: AsRef<[Bytes]>>(&mut self, db: usize, commands: &[A]) {
        if commands.is_empty() {
            return;
        }
        // `log` starts on a block boundary.
        self.append_encoded(|log| record::encode_placed(log, 0, db, commands));
    }

    /// Appends a record of one command whose arguments `build` writes
    /// (`record::encode_placed_with`): no argument list to allocate.
    pub fn append_with(&mut self, db: usize, build: impl FnOnce(&mut record::Args)) {
        self.append_encoded(|log| record::encode_placed_with(log, 0, db, build));
    }

    fn append_encoded(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        self.label(crate::util::now_ms());
        encode(&mut self.log);
        self.appended += 1;
        if self.policy == Fsync::Always {
            let _ = self.wake.try_send(());
        }
    }

    /// Logs a label and completes once it is durable (start-up).
    pub fn label_now_and_sync(&mut self) -> oneshot::Receiver<()> {
        self.label(crate::util::now_ms());
        self.sync_all()
    }

    /// Logs an `AT now` record if the current label is older, or one is due
    /// (the first record after a sync point: every write that starts a fresh
    /// block starts with a label).
    fn label(&mut self, now: u64) {
        if now <= self.labelled_ms && !self.label_due {
            return;
        }
        self.label_due = false;
        let now = now.max(self.labelled_ms);
        self.labelled_ms = now;
        NEWEST_LABEL_MS.fetch_max(now, Ordering::Relaxed);
        let policy = Bytes::from_static(match self.policy {
            Fsync::Always => b"always",
            Fsync::Everysec => b"everysec",
            Fsync::No => b"no",
        });
        let boot = Bytes::from(super::disk::faults::boot_id());
        let argv = [
            Bytes::from_static(AT),
            Bytes::from(now.to_string()),
            policy,
            boot,
            Bytes::from(self.durable_bytes.to_string()),
        ];
        record::encode_placed(&mut self.log, 0, 0, &[&argv[..]]);
        self.appended += 1;
    }

    /// Bytes appended and not yet handed to the kernel.
    pub fn pending_bytes(&self) -> u64 {
        (self.log.len() - self.handed) as u64
    }

    /// How many records have been appended so far.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Memory the log's buffer holds (INFO's `mem_aof_buffer`).
    pub fn buffer_capacity(&self) -> usize {
        self.log.capacity()
    }

    /// The statistics as of now, for INFO.
    pub fn stats_now(&self) -> AofStats {
        AofStats {
            buffer_bytes: self.pending_bytes(),
            ..self.stats.clone()
        }
    }

    /// A receiver that completes once every record appended so far may be
    /// shown to a client: durable under `always`, in the kernel otherwise.
    /// `None` when that is already so. Every reply waits on it, reads too: a
    /// read can show a write that is not yet safe. While the log is failing,
    /// a batch that appended nothing since `since` does not wait, so reads
    /// go on (docs/aof.md).
    pub fn ticket(&mut self, since: u64) -> Option<oneshot::Receiver<()>> {
        if self.shown(since) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        self.wait(Waiter::Signal(tx));
        Some(rx)
    }

    /// `ticket` for a reply that leaves from here: runs `then` once it may
    /// (at once if it may now).
    pub fn when_shown(&mut self, since: u64, then: Box<dyn FnOnce()>) {
        if self.shown(since) {
            then();
        } else {
            self.wait(Waiter::Run(then));
        }
    }

    /// Whether a reply of commands that ran since `since` may leave now.
    fn shown(&self, since: u64) -> bool {
        let done = match self.policy {
            Fsync::Always => self.durable,
            _ => self.written,
        };
        done >= self.appended || (self.appended == since && self.stats.last_error.is_some())
    }

    /// Queues `waiter` until every record appended so far may be shown.
    fn wait(&mut self, waiter: Waiter) {
        let queue = match self.policy {
            Fsync::Always => &mut self.sync_waiters,
            _ => &mut self.write_waiters,
        };
        queue.push_back((self.appended, waiter));
        let _ = self.wake.try_send(());
    }

    /// Writes are refused while the log cannot be written.
    pub fn write_error(&self) -> Option<&str> {
        self.stats.last_error.as_deref()
    }

    pub fn policy(&self) -> Fsync {
        self.policy
    }

    /// From now on, records go to `next` (a segment made by `create_segment`);
    /// what was appended before goes to the current one, synced.
    pub fn rotate(&mut self, next: Segment) {
        // The old segment ends with a label its last sync vouches for.
        self.label(crate::util::now_ms());
        // The old segment's tail is padded: the new one starts on its own.
        pad_to_block(&mut self.log);
        self.rotation = Some(Rotation {
            segment: next,
            at: self.log.len(),
            upto: self.appended,
        });
        // The new segment's records get a label of their own; its header
        // was synced when it was created.
        self.labelled_ms = 0;
        self.durable_bytes = BLOCK as u64;
        let _ = self.wake.try_send(());
    }

    /// Completes once everything appended so far is written and fdatasync'd,
    /// whatever the policy (a graceful shutdown).
    pub fn sync_all(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.durable >= self.appended && self.rotation.is_none() {
            let _ = tx.send(());
            return rx;
        }
        self.sync_requested = true;
        self.sync_waiters
            .push_back((self.appended, Waiter::Signal(tx)));
        let _ = self.wake.try_send(());
        rx
    }

    /// Switches the fsync policy (CONFIG SET appendfsync). The flusher reads
    /// the policy each turn; waking it lets it leave a wait that belonged to
    /// the old one (`always` waits for appends only, with no timer).
    pub fn set_policy(&mut self, policy: Fsync) {
        self.policy = policy;
        if policy == Fsync::Always {
            // Replies waiting for the kernel now wait for the disk. (Those
            // waiting for the disk keep waiting for it: the next sync.)
            let mut all: Vec<_> = self.write_waiters.drain(..).collect();
            all.extend(self.sync_waiters.drain(..));
            all.sort_by_key(|(n, _)| *n);
            self.sync_waiters.extend(all);
        }
        let _ = self.wake.try_send(());
    }

    /// Completes the waits that what is written and durable now allows.
    fn release_waiters(&mut self) {
        for (queue, done) in [
            (&mut self.write_waiters, self.written),
            (&mut self.sync_waiters, self.durable),
        ] {
            while queue.front().is_some_and(|(n, _)| *n <= done) {
                if let Some((_, waiter)) = queue.pop_front() {
                    waiter.release();
                }
            }
        }
    }
}

/// Drops the first `n` bytes of `log` (they are safe on disk), giving back
/// memory a burst of writes took.
fn drain_front(log: &mut Vec<u8>, n: usize) {
    log.drain(..n);
    if log.capacity() > 2 * log.len() + SPARE_BUFFER_BYTES {
        log.shrink_to(log.len() + SPARE_BUFFER_BYTES);
    }
}

/// Pads `log` (which starts on a block boundary) with zeros to the next one.
fn pad_to_block(log: &mut Vec<u8>) {
    log.resize(record::align_up(log.len() as u64) as usize, 0);
}

/// Where a shard's segments live: `<dir>/aof/shard-<id>-<seq>.aof`.
pub fn segment_path(dir: &Path, shard: usize, seq: u64) -> PathBuf {
    dir.join("aof")
        .join(format!("shard-{shard:03}-{seq:08}.aof"))
}

/// Where a shard's log base of generation `g` lives (AOF-only mode:
/// docs/snapshots.md): `<dir>/aof/shard-<id>-<g>-base.aof`, named to sort
/// just before segment `g`, which follows it.
pub fn base_path(dir: &Path, shard: usize, g: u64) -> PathBuf {
    dir.join("aof")
        .join(format!("shard-{shard:03}-{g:08}-base.aof"))
}

/// The header block of segment (or log base) `seq` of `shard`.
pub fn segment_header(shard: usize, shards: usize, seq: u64) -> Vec<u8> {
    SegmentHeader {
        magic: record::SEGMENT_MAGIC,
        shard: shard as u32,
        shards: shards as u32,
        sequence: seq,
        run_id: crate::process::run_id().to_string(),
        version: record::FORMAT_VERSION,
    }
    .encode()
}

/// Creates segment `seq` of `shard`: its header block written and synced,
/// its name durable, space reserved.
pub async fn create_segment(
    dir: &Path,
    shard: usize,
    shards: usize,
    seq: u64,
    extent: u64,
) -> Result<Segment, String> {
    let path = segment_path(dir, shard, seq);
    disk::create_dir(&dir.join("aof"))?;
    let file = DirectFile::create(&path).await?;
    if !file.reserve(extent).await {
        tracing::warn!(
            "not reserving space ahead for {}: the disk is nearly full",
            path.display()
        );
    }
    file.write_padded(&segment_header(shard, shards, seq), 0, Issue::Ring)
        .await?;
    file.sync(Issue::Ring).await?;
    disk::sync_dir(&path)?;
    let cached = Rc::new(file.cached()?);
    Ok(Segment {
        direct: Rc::new(file),
        cached,
    })
}

/// Starts logging into `segment` (a new one from `create_segment`). Returns
/// the buffer the shard appends to. `replayed` is (records, bytes) read at
/// start-up, for INFO. The queue it is spawned in decides when it runs:
/// see `runtime::recovery::recover`.
pub fn start(segment: Segment, settings: Settings, replayed: (u64, u64)) -> Rc<RefCell<AofBuffer>> {
    let (wake, woken) = local_channel::new_bounded(1);
    let buffer = Rc::new(RefCell::new(AofBuffer {
        policy: settings.policy,
        write_threshold_bytes: settings.write_threshold_bytes,
        log: Vec::new(),
        handed: 0,
        base: BLOCK as u64,
        cached: segment.cached.clone(),
        appended: 0,
        written: 0,
        durable: 0,
        write_waiters: VecDeque::new(),
        sync_waiters: VecDeque::new(),
        wake,
        rotation: None,
        sync_requested: false,
        labelled_ms: 0,
        durable_bytes: BLOCK as u64,
        label_due: false,
        stats: AofStats {
            segment_bytes: BLOCK as u64,
            total_bytes: replayed.1 + BLOCK as u64,
            records_replayed: replayed.0,
            ..AofStats::default()
        },
    }));
    static FLUSHERS: AtomicU64 = AtomicU64::new(0);
    let flusher = Flusher {
        id: FLUSHERS.fetch_add(1, Ordering::Relaxed),
        buf: buffer.clone(),
        segment,
        allocated: settings.extent_bytes,
        extent: settings.extent_bytes,
        running_sync: None,
        earlier_bytes: replayed.1,
    };
    glommio::spawn_local(flusher.run(woken)).detach();
    buffer
}

/// A background fdatasync (`everysec`): it covers `log[..bytes]`, which
/// holds the first `records` records.
struct RunningSync {
    bytes: usize,
    records: u64,
    started: Instant,
    result: Rc<Cell<Option<Result<(), String>>>>,
}

/// The task that writes one shard's log: it alone syncs, rotates and
/// retries (a busy connection may hand its records to the kernel itself:
/// `AofBuffer::write_now`).
struct Flusher {
    /// Names this log among the failing ones (`FAILING`).
    id: u64,
    buf: Rc<RefCell<AofBuffer>>,
    segment: Segment,
    allocated: u64,
    extent: u64,
    running_sync: Option<RunningSync>,
    /// Bytes of the segments before this one (and replayed), for INFO.
    earlier_bytes: u64,
}

impl Drop for Flusher {
    /// A log that is no longer written (appendonly turned off) stops
    /// refusing other shards' writes.
    fn drop(&mut self) {
        mark_failing(self.id, None);
    }
}

/// What one turn of the flusher did.
enum Turn {
    Done,
    /// A write or sync failed: writes are refused until a retry succeeds.
    Failed(String),
}

impl Flusher {
    /// Writes the buffer out as the policy says, forever.
    async fn run(mut self, woken: LocalReceiver<()>) {
        let second = Duration::from_secs(1);
        let mut last_tick = Instant::now();
        // One timer for the whole second, not one per turn (a turn per loop
        // turn of the connections).
        let mut next_tick = glommio::timer::Timer::new(second);
        loop {
            let policy = self.buf.borrow().policy;
            if policy == Fsync::Everysec {
                futures_lite::future::or(
                    async {
                        woken.recv().await;
                    },
                    async {
                        (&mut next_tick).await;
                    },
                )
                .await;
            } else if woken.recv().await.is_none() {
                return;
            }
            let tick = policy == Fsync::Everysec && last_tick.elapsed() >= second;
            if tick {
                last_tick = Instant::now();
                next_tick.reset(second);
            }
            let turn = self.turn(tick).await;
            let failed = {
                let mut b = self.buf.borrow_mut();
                b.release_waiters();
                self.update_stats(&mut b);
                match turn {
                    Turn::Done => {
                        if b.stats.last_error.take().is_some() {
                            mark_failing(self.id, None);
                            tracing::warn!("AOF writes succeed again; accepting writes");
                        }
                        false
                    }
                    Turn::Failed(msg) => {
                        if b.stats.last_error.is_none() {
                            tracing::error!(
                                "AOF write failed: {msg}; refusing writes on every shard until it succeeds"
                            );
                        }
                        mark_failing(self.id, Some(&msg));
                        b.stats.last_error = Some(msg);
                        true
                    }
                }
            };
            if failed {
                glommio::timer::sleep(RETRY_AFTER).await;
                let _ = self.buf.borrow().wake.try_send(());
            }
        }
    }

    /// One turn: take note of a finished background sync, finish a rotation,
    /// write what is new, and sync if it is time.
    async fn turn(&mut self, tick: bool) -> Turn {
        if let Err(e) = self.finish_sync() {
            return Turn::Failed(e);
        }
        if self.running_sync.is_none() && self.buf.borrow().rotation.is_some() {
            if let Err(e) = self.rotate().await {
                return Turn::Failed(e);
            }
        }
        let policy = self.buf.borrow().policy;
        let result = match policy {
            // A group commit waits for a background sync of the old policy.
            Fsync::Always if self.running_sync.is_none() => self.group_commit().await,
            Fsync::Always => Ok(()),
            Fsync::Everysec | Fsync::No => self.write_cached(),
        };
        if let Err(e) = result {
            return Turn::Failed(e);
        }
        let newest = match self.sync_due(tick, policy) {
            Ok(Some(newest)) => newest,
            Ok(None) => return Turn::Done,
            Err(e) => return Turn::Failed(e),
        };
        // The sync's label must be newer than every record it covers:
        // after a power cut the logs are cut just before the oldest of
        // the shards' newest labels, and a record of the label's own
        // millisecond would be cut with it, acknowledged before the sync
        // began (simulated disk, seed 310007). So it waits for the clock
        // to pass the newest labelled millisecond (under 1 ms).
        while crate::util::now_ms() <= newest {
            glommio::timer::sleep(LABEL_TICK).await;
        }
        let mut b = self.buf.borrow_mut();
        if b.rotation.is_some() {
            // Asked for meanwhile: the rotation syncs first.
            b.sync_requested = true;
            return Turn::Done;
        }
        b.sync_requested = false;
        drop(b);
        if let Err(e) = self.start_sync() {
            return Turn::Failed(e);
        }
        Turn::Done
    }

    /// The bookkeeping of a turn's end: a delayed sync counted, a label for
    /// newer moments of other shards written; `Some(newest labelled ms)` when
    /// a sync is to start now.
    fn sync_due(&mut self, tick: bool, policy: Fsync) -> Result<Option<u64>, String> {
        let mut b = self.buf.borrow_mut();
        if let Some(running) = &self.running_sync {
            if tick && running.started.elapsed() >= 2 * Duration::from_secs(1) {
                // Redis's aof_delayed_fsync: a sync still running after 2 s.
                b.stats.delayed_fsync += 1;
            }
            return Ok(None);
        }
        if tick && b.labelled_ms < NEWEST_LABEL_MS.load(Ordering::Relaxed) {
            // Other shards logged newer moments: this log vouches for them
            // too (a label, written and synced now).
            b.label(crate::util::now_ms());
            drop(b);
            self.write_cached()?;
            b = self.buf.borrow_mut();
        }
        let due = b.sync_requested
            || (policy == Fsync::Everysec && (tick || b.handed >= b.write_threshold_bytes));
        let sync_now =
            due && policy != Fsync::Always && b.rotation.is_none() && b.durable < b.written;
        if due && !sync_now && b.durable >= b.written {
            b.sync_requested = false;
        }
        Ok(sync_now.then_some(b.labelled_ms))
    }

    /// Applies the outcome of a background sync that has finished.
    fn finish_sync(&mut self) -> Result<(), String> {
        let Some(running) = &self.running_sync else {
            return Ok(());
        };
        let Some(result) = running.result.take() else {
            return Ok(());
        };
        let running = self.running_sync.take().expect("checked above");
        let mut b = self.buf.borrow_mut();
        match result {
            Ok(()) => {
                crate::stats::latency::record("aof-fsync-everysec", running.started.elapsed());
                b.stats.fsyncs += 1;
                b.durable = b.durable.max(running.records);
                // The synced bytes will never be written again.
                drain_front(&mut b.log, running.bytes);
                b.handed -= running.bytes;
                if let Some(r) = &mut b.rotation {
                    r.at -= running.bytes;
                }
                b.base += running.bytes as u64;
                if b.rotation.is_none() {
                    // (With a rotation waiting, labels already go to the
                    // next segment.)
                    b.durable_bytes = b.base;
                }
                Ok(())
            }
            Err(e) => {
                // The kernel may have dropped the pages the sync failed to
                // write: write everything since the last good sync again,
                // at the same offsets, before the next sync.
                b.handed = 0;
                b.written = b.durable;
                b.sync_requested = true;
                Err(e)
            }
        }
    }

    /// The log up to the rotation point goes to the old segment, written and
    /// synced; the segment after it takes over.
    async fn rotate(&mut self) -> Result<(), String> {
        let (data, upto, direct, base) = {
            let b = self.buf.borrow();
            let Some(r) = &b.rotation else {
                return Ok(());
            };
            (
                b.log[..r.at].to_vec(),
                r.upto,
                b.policy == Fsync::Always,
                b.base,
            )
        };
        // Under `always` the whole block-aligned range, through O_DIRECT;
        // otherwise what the kernel does not have yet.
        let from = if direct { 0 } else { self.buf.borrow().handed };
        self.reserve_for(data.len()).await;
        let written = if data.len() <= from {
            Ok(())
        } else if direct {
            self.segment
                .direct
                .write_padded(&data, base, Issue::Blocking)
                .await
        } else {
            self.buf.borrow_mut().hand_over(data.len())
        };
        written?;
        self.buf.borrow_mut().handed = data.len();
        let started = Instant::now();
        if let Err(e) = self.segment.direct.sync(Issue::Ring).await {
            // The kernel may have dropped the pages the sync failed to
            // write (a later sync would not write them): the retry writes
            // them again, at the same offsets.
            self.buf.borrow_mut().handed = 0;
            return Err(e);
        }
        crate::stats::latency::record("aof-fsync-always", started.elapsed());
        let mut b = self.buf.borrow_mut();
        let Some(r) = b.rotation.take() else {
            return Ok(());
        };
        b.stats.fsyncs += 1;
        drain_front(&mut b.log, r.at);
        b.handed = 0;
        b.durable = b.durable.max(upto);
        b.written = b.written.max(upto);
        self.earlier_bytes += b.base + r.at as u64;
        let old = std::mem::replace(&mut self.segment, r.segment);
        b.cached = self.segment.cached.clone();
        b.base = BLOCK as u64;
        if let Ok(file) = Rc::try_unwrap(old.direct) {
            glommio::spawn_local(async move {
                let _ = file.close().await;
            })
            .detach();
        }
        self.allocated = self.extent;
        // Whatever followed the rotation point is the new segment's.
        if !b.log.is_empty() {
            let _ = b.wake.try_send(());
        }
        Ok(())
    }

    /// `always`: everything appended since the last commit, padded to a
    /// block, one O_DIRECT write at its place and one fdatasync, as plain
    /// system calls on the core (see `Issue`).
    async fn group_commit(&mut self) -> Result<(), String> {
        let (data, records) = {
            let mut b = self.buf.borrow_mut();
            if b.durable >= b.appended && !b.sync_requested {
                return Ok(());
            }
            b.sync_requested = false;
            pad_to_block(&mut b.log);
            b.handed = 0;
            b.label_due = true;
            (std::mem::take(&mut b.log), b.appended)
        };
        // Records appended meanwhile start a new block after `data`: their
        // place does not depend on how this commit ends.
        let result = self.commit(&data).await;
        let mut b = self.buf.borrow_mut();
        match result {
            Ok(()) => {
                b.base += data.len() as u64;
                b.written = b.written.max(records);
                b.durable = b.durable.max(records);
                if b.rotation.is_none() {
                    b.durable_bytes = b.base;
                }
                Ok(())
            }
            Err(e) => {
                // The same bytes go to the same place on the retry.
                let newer = std::mem::replace(&mut b.log, data);
                let retried = b.log.len();
                b.log.extend_from_slice(&newer);
                // A rotation asked for meanwhile counted only the newer
                // records: the retried ones come before its point too.
                if let Some(r) = &mut b.rotation {
                    r.at += retried;
                }
                b.sync_requested = true;
                Err(e)
            }
        }
    }

    async fn commit(&mut self, data: &[u8]) -> Result<(), String> {
        // A test's kill lands while a group commit is in flight: every
        // commit after the first one never ends.
        let fsyncs = self.buf.borrow().stats.fsyncs;
        if fsyncs > 0 && crate::util::at_test_point("always-commit-never-ends") {
            std::future::pending::<()>().await;
        }
        self.reserve_for(data.len()).await;
        if !data.is_empty() {
            let base = self.buf.borrow().base;
            self.segment
                .direct
                .write_padded(data, base, Issue::Blocking)
                .await?;
        }
        let started = Instant::now();
        self.segment.direct.sync(Issue::Blocking).await?;
        crate::stats::latency::record("aof-fsync-always", started.elapsed());
        self.buf.borrow_mut().stats.fsyncs += 1;
        Ok(())
    }

    /// `everysec` and `no`: what the kernel does not have yet, through the
    /// page cache (up to the rotation point while one waits).
    fn write_cached(&mut self) -> Result<(), String> {
        let syncing = self.running_sync.is_some();
        self.buf.borrow_mut().write_cached(syncing)
    }

    /// Pads what is written to a block boundary and starts a background
    /// fdatasync of it: writers go on meanwhile, after the padding.
    fn start_sync(&mut self) -> Result<(), String> {
        let mut b = self.buf.borrow_mut();
        // The sync vouches for the moment it starts (see `AT`).
        b.label(crate::util::now_ms());
        pad_to_block(&mut b.log);
        b.label_due = true;
        let end = b.log.len();
        b.hand_over(end)?;
        b.written = b.appended;
        b.stats.sync_running = true;
        let result = Rc::new(Cell::new(None));
        self.running_sync = Some(RunningSync {
            bytes: end,
            records: b.written,
            started: Instant::now(),
            result: result.clone(),
        });
        // A test's power cut lands while a sync is in flight: every sync
        // after the start-up one never ends.
        let hang = b.stats.fsyncs > 0 && crate::util::at_test_point("everysec-sync-never-ends");
        // The task may run at once (a sync that fails before it reaches the
        // ring), and it borrows the buffer.
        drop(b);
        let (file, buf) = (self.segment.direct.clone(), self.buf.clone());
        glommio::spawn_local(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            let synced = file.sync(Issue::Ring).await;
            result.set(Some(synced));
            let _ = buf.borrow().wake.try_send(());
        })
        .detach();
        Ok(())
    }

    /// Reserves space ahead when `more` bytes would pass the reservation.
    async fn reserve_for(&mut self, more: usize) {
        let end = self.buf.borrow().base + more as u64;
        if end > self.allocated {
            // Best effort, like at start: only a failed write is an error.
            self.allocated = end.div_ceil(self.extent) * self.extent + self.extent;
            if !self.segment.direct.reserve(self.allocated).await {
                self.allocated = end;
            }
        }
    }

    fn update_stats(&self, b: &mut AofBuffer) {
        let in_file = b.base + b.handed as u64;
        b.stats.segment_bytes = in_file;
        b.stats.total_bytes = self.earlier_bytes + in_file;
        b.stats.sync_running = self.running_sync.is_some();
    }
}

impl AofBuffer {
    /// Hands `log` up to `end` to the kernel: what it does not have yet,
    /// through the page cache, at its place in the segment. On failure
    /// nothing counts as handed, so the retry writes the same bytes at the
    /// same offsets.
    fn hand_over(&mut self, end: usize) -> Result<(), String> {
        if self.handed < end {
            let at = self.base + self.handed as u64;
            self.cached.write_all_at(&self.log[self.handed..end], at)?;
            self.handed = end;
        }
        Ok(())
    }

    /// `everysec` and `no`: what the kernel does not have yet, through the
    /// page cache (up to the rotation point while one waits). `syncing`: a
    /// sync is running, which may fail and need every byte since the last
    /// good one again.
    fn write_cached(&mut self, syncing: bool) -> Result<(), String> {
        let (end, records) = match &self.rotation {
            Some(r) => (r.at, r.upto),
            None => (self.log.len(), self.appended),
        };
        self.hand_over(end)?;
        self.written = self.written.max(records);
        if self.policy == Fsync::No && !syncing && self.rotation.is_none() {
            // Nothing is synced, so nothing is kept for a retry but the
            // partial block the next write continues.
            let full = self.handed / BLOCK * BLOCK;
            drain_front(&mut self.log, full);
            self.handed -= full;
            self.base += full as u64;
        }
        Ok(())
    }

    /// `everysec` and `no`: hands the records appended so far to the kernel
    /// now, from the caller, and releases the replies that waited for them.
    /// A batch of at least `WRITE_NOW_RECORDS` records pays for its own
    /// write this way, and its replies leave without waiting for the end of
    /// the loop turn, where the flusher writes. Left to the flusher while a
    /// rotation waits or the log is failing (it retries), and under `always`.
    pub fn write_now(&mut self) {
        if self.policy == Fsync::Always
            || self.rotation.is_some()
            || self.stats.last_error.is_some()
            || self.handed == self.log.len()
        {
            return;
        }
        if self.write_cached(self.stats.sync_running).is_ok() {
            self.release_waiters();
            // The flusher starts the sync that `write-threshold-bytes` asks
            // for: without this wake, no reply waits for it and the buffer
            // grew until the tick (tests/memory.rs, three times maxmemory).
            if self.handed >= self.write_threshold_bytes {
                let _ = self.wake.try_send(());
            }
        } else {
            let _ = self.wake.try_send(());
        }
    }
}

/// Records a batch appends from which it writes them itself
/// (`AofBuffer::write_now`): a write per 8 records costs less than the
/// wait for the loop turn's end (docs/aof.md).
pub const WRITE_NOW_RECORDS: u64 = 8;
