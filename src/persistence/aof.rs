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
//! docs/aof.md). At start-up each shard replays its segments (`replay`)
//! before it serves, then starts a new segment.

use super::disk::{self, CachedFile, DirectFile, Issue};
use super::record::{self, Framing, SegmentHeader, BLOCK, HEADER_BYTES};
use crate::config::{Fsync, OnCorruption};
use bytes::Bytes;
use futures_channel::oneshot;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Spare capacity the log buffer keeps after a sync drained it; above
/// this it gives memory back.
const SPARE_BUFFER_BYTES: usize = 1 << 20;
/// How long a failed write waits before it is retried.
const RETRY_AFTER: Duration = Duration::from_secs(1);

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
    /// Records appended so far; of those, written to the kernel; durable.
    appended: u64,
    written: u64,
    durable: u64,
    /// Replies waiting for their records to reach the kernel (`everysec`,
    /// `no`) or the disk (`always`, a shutdown), by the record count they
    /// need.
    write_waiters: VecDeque<(u64, oneshot::Sender<()>)>,
    sync_waiters: VecDeque<(u64, oneshot::Sender<()>)>,
    wake: LocalSender<()>,
    /// A switch to a new segment, at a snapshot's cut: what is in `log`
    /// before it goes to the old segment.
    rotation: Option<Rotation>,
    /// Sync at the next flush whatever the policy (shutdown).
    sync_requested: bool,
    /// The time label (`AT` record) the records appended now fall under.
    labelled_ms: u64,
    pub stats: AofStats,
}

/// The time label record: `AT <ms> <policy>`. Every record after it in the
/// log was applied at or after `<ms>` (and before the next label), by the
/// wall clock every core shares. At start-up every shard's log is cut at
/// one common label, so that what the shards bring back is the state at one
/// moment (docs/aof.md, "One moment for all shards").
pub const AT: &[u8] = b"AT";

/// The newest label any shard of this process has logged: a shard whose
/// own label is older logs a fresh one at its next sync, so that its log
/// vouches for the moments other shards logged.
static NEWEST_LABEL_MS: AtomicU64 = AtomicU64::new(0);

/// An `AT` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub ms: u64,
    /// Written under `always`: every record before it was durable before
    /// anyone saw it.
    pub always: bool,
    /// The machine's boot the writer ran in (`disk::faults::boot_id`).
    pub boot: Bytes,
}

pub fn label_of(argv: &[Bytes]) -> Option<Label> {
    if argv.len() != 4 || argv[0].as_ref() != AT {
        return None;
    }
    Some(Label {
        ms: std::str::from_utf8(&argv[1]).ok()?.parse().ok()?,
        always: argv[2].as_ref() == b"always",
        boot: argv[3].clone(),
    })
}

/// The newest label of a shard's log (its segments, newest first), if any.
pub fn newest_label(dir: &Path, shard: usize, shards: usize, segs: &[u64]) -> Option<Label> {
    for &seq in segs.iter().rev() {
        let mut newest = None;
        let path = segment_path(dir, shard, seq);
        let _ = read_segment(&path, Some((shard, shards)), Some(seq), |_, argv| {
            if let Some(l) = label_of(&argv) {
                newest = Some(l);
            }
            true
        });
        if newest.is_some() {
            return newest;
        }
    }
    None
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
    cached: CachedFile,
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
        self.label(crate::util::now_ms());
        // `log` starts on a block boundary.
        record::encode_placed(&mut self.log, 0, db, commands);
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

    /// Logs an `AT now` record if the current label is older.
    fn label(&mut self, now: u64) {
        if now <= self.labelled_ms {
            return;
        }
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
        let (done, queue) = match self.policy {
            Fsync::Always => (self.durable, &mut self.sync_waiters),
            _ => (self.written, &mut self.write_waiters),
        };
        if done >= self.appended || (self.appended == since && self.stats.last_error.is_some()) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        queue.push_back((self.appended, tx));
        let _ = self.wake.try_send(());
        Some(rx)
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
        // The new segment's records get a label of their own.
        self.labelled_ms = 0;
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
        self.sync_waiters.push_back((self.appended, tx));
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
                if let Some((_, tx)) = queue.pop_front() {
                    let _ = tx.send(());
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

/// How reading a segment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SegmentEnd {
    /// Every record was valid.
    Clean { records: u64, bytes: u64 },
    /// A bad record with nothing valid after it: a write torn by a crash. The
    /// valid records end at `at`.
    Torn { records: u64, at: u64 },
    /// A bad record followed by valid ones: real corruption, at `at`.
    Corrupt { records: u64, at: u64 },
    /// The caller stopped the reading at the record that starts at `at`.
    Stopped { records: u64, at: u64 },
}

/// Reads a segment and calls `apply` for each valid record, in order, until
/// the first bad one. With `expect`, checks the header's shard id and count;
/// with `sequence`, its sequence number (the segment's place in the log).
pub fn read_segment(
    path: &Path,
    expect: Option<(usize, usize)>,
    sequence: Option<u64>,
    apply: impl FnMut(usize, Vec<Bytes>) -> bool,
) -> Result<SegmentEnd, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let len = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    decode_segment(&file, len, expect, sequence, apply)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Positional reads from a segment's bytes: the file itself, or (fuzzing)
/// the same bytes in memory, so both take the one decoder.
pub trait ReadAt {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, pos)
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
        let src = usize::try_from(pos)
            .ok()
            .and_then(|at| self.get(at..at.checked_add(buf.len())?))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// `read_segment` over the `len` bytes of `src`; errors do not name the file.
pub fn decode_segment(
    src: &(impl ReadAt + ?Sized),
    len: u64,
    expect: Option<(usize, usize)>,
    sequence: Option<u64>,
    mut apply: impl FnMut(usize, Vec<Bytes>) -> bool,
) -> Result<SegmentEnd, String> {
    let mut header = vec![0u8; BLOCK.min(len as usize)];
    src.read_exact_at(&mut header, 0)
        .map_err(|e| e.to_string())?;
    let h = SegmentHeader::decode(&header, record::SEGMENT_MAGIC)?;
    let (shard, shards) = expect.unwrap_or((h.shard as usize, h.shards as usize));
    if h.shard as usize != shard || h.shards as usize != shards {
        return Err(format!(
            "written by shard {} of {}, but this server runs {} shards (start it with --shards {})",
            h.shard, h.shards, shards, h.shards
        ));
    }
    // A file in another's place (copied, renamed, restored from elsewhere)
    // would replay records twice or out of order.
    if let Some(want) = sequence.filter(|&q| q != h.sequence) {
        return Err(format!(
            "header says sequence {}, but it is read as sequence {want} (a file of another place in the log; restore the right one)",
            h.sequence
        ));
    }
    let mut reader = Window::new(src, len, Framing::of_version(h.version));
    let mut pos = BLOCK as u64;
    let mut records = 0;
    // The logical record being joined from its fragments: where it starts,
    // and its payload so far.
    let mut chain: Option<(u64, Vec<u8>)> = None;
    while pos < len {
        let block_left = BLOCK as u64 - pos % BLOCK as u64;
        let bad = match reader.record_at(pos, block_left) {
            Read::Skip(next) => {
                pos = next;
                continue;
            }
            // Padding comes only between logical records (at sync points).
            Read::Padding(next) if chain.is_none() => {
                pos = next;
                continue;
            }
            Read::Padding(_) | Read::Bad => true,
            Read::Record(f, payload, next) => {
                let complete = match (&mut chain, f.continuation) {
                    (None, false) if !f.more => Some(Bytes::copy_from_slice(payload)),
                    (None, false) => {
                        chain = Some((pos, payload.to_vec()));
                        None
                    }
                    (Some((_, joined)), true) => {
                        joined.extend_from_slice(payload);
                        (!f.more).then(|| Bytes::from(std::mem::take(joined)))
                    }
                    // A continuation of nothing, or a new record where the
                    // chain should go on: not what a writer makes.
                    _ => {
                        let at = chain_or_here(&chain, pos);
                        return Ok(end_at(&mut reader, pos, at, records));
                    }
                };
                if let Some(payload) = complete {
                    let start = chain.take().map_or(pos, |(s, _)| s);
                    // A record of several fragments: each argument gets its
                    // own buffer rather than pinning the whole record.
                    let copy = payload.len() > record::MAX_RECORD_PAYLOAD_BYTES;
                    match record::decode_payload(&payload, copy) {
                        Some(commands) => {
                            for (db, argv) in commands {
                                if !apply(db, argv) {
                                    return Ok(SegmentEnd::Stopped { records, at: start });
                                }
                            }
                        }
                        None => return Ok(SegmentEnd::Corrupt { records, at: start }),
                    }
                    records += 1;
                }
                pos = next;
                false
            }
        };
        if bad {
            let at = chain_or_here(&chain, pos);
            return Ok(end_at(&mut reader, pos, at, records));
        }
    }
    if let Some((start, _)) = chain {
        // The file ends inside a chain: its last fragments were never
        // written, a torn tail.
        return Ok(SegmentEnd::Torn { records, at: start });
    }
    Ok(SegmentEnd::Clean {
        records,
        bytes: len,
    })
}

/// Where the damage found at `pos` counts from: the start of the logical
/// record it cuts short, if any.
fn chain_or_here(chain: &Option<(u64, Vec<u8>)>, pos: u64) -> u64 {
    chain.as_ref().map_or(pos, |(start, _)| *start)
}

/// How a segment ends when the record at `pos` is bad: corruption if a
/// valid record starts after it, else a torn tail; the valid records end at
/// `at`.
fn end_at<R: ReadAt + ?Sized>(
    reader: &mut Window<'_, R>,
    pos: u64,
    at: u64,
    records: u64,
) -> SegmentEnd {
    if reader.valid_record_after(pos) {
        SegmentEnd::Corrupt { records, at }
    } else {
        SegmentEnd::Torn { records, at }
    }
}

/// Buffered positional reads over a segment.
struct Window<'a, R: ReadAt + ?Sized> {
    src: &'a R,
    len: u64,
    framing: Framing,
    start: u64,
    data: Vec<u8>,
}

/// What `Window::record_at` found.
enum Read<'a> {
    /// A valid record (a whole logical record or one fragment of one), and
    /// where the next one starts.
    Record(record::Fragment, &'a [u8], u64),
    /// A zero header: padding to the next block, where reading goes on.
    Padding(u64),
    /// A block remainder too short for a header: reading goes on at `next`.
    Skip(u64),
    /// A bad or cut-off record.
    Bad,
}

const WINDOW_BYTES: usize = 1 << 20;
/// Bytes `valid_record_after` may checksum, in lengths of the file.
const SCAN_BUDGET: u64 = 2;
/// Longest command name a log record may start with (Redis's longest is 20).
const COMMAND_NAME_MAX_BYTES: u64 = 64;

impl<'a, R: ReadAt + ?Sized> Window<'a, R> {
    fn new(src: &'a R, len: u64, framing: Framing) -> Window<'a, R> {
        Window {
            src,
            len,
            framing,
            start: 0,
            data: Vec::new(),
        }
    }

    /// `n` bytes at `pos`, or None past the end of the file.
    fn get(&mut self, pos: u64, n: usize) -> Option<&[u8]> {
        if pos + n as u64 > self.len {
            return None;
        }
        let in_window = pos >= self.start && pos + n as u64 <= self.start + self.data.len() as u64;
        if !in_window {
            let want = n.max(WINDOW_BYTES).min((self.len - pos) as usize);
            self.data.resize(want, 0);
            self.src.read_exact_at(&mut self.data, pos).ok()?;
            self.start = pos;
        }
        let off = (pos - self.start) as usize;
        Some(&self.data[off..off + n])
    }

    /// The record at `pos`, with `block_left` bytes left in its block.
    fn record_at(&mut self, pos: u64, block_left: u64) -> Read<'_> {
        if block_left < HEADER_BYTES as u64 {
            return Read::Skip(pos + block_left);
        }
        let framing = self.framing;
        let Some(h) = self
            .get(pos, HEADER_BYTES)
            .and_then(|h| <[u8; HEADER_BYTES]>::try_from(h).ok())
        else {
            return Read::Bad;
        };
        let Some(f) = framing.header(&h) else {
            return Read::Bad;
        };
        if f.len == 0 {
            // Padding is all zeros: no flags, no checksum.
            return if h == [0; HEADER_BYTES] {
                Read::Padding(pos + block_left)
            } else {
                Read::Bad
            };
        }
        let next = pos + (HEADER_BYTES + f.len) as u64;
        match self.get(pos + HEADER_BYTES as u64, f.len) {
            Some(payload) if crc32c::crc32c(payload) == f.crc => Read::Record(f, payload, next),
            _ => Read::Bad,
        }
    }

    /// Whether any valid record starts at a block boundary after `pos`: every
    /// write starts on a fresh block, so a later write would show there.
    ///
    /// A header that claims a long record costs a read and a checksum of
    /// that length, so a file whose every block claims a record reaching its
    /// end would take time quadratic in its size. Only a block that starts
    /// like a record (`looks_like_record`) is checked, and the bytes checked
    /// are bounded by `SCAN_BUDGET` times the file's length: past that (a
    /// crafted file) the damage counts as corruption, which stops start-up
    /// and says so, rather than as a torn tail, which would be cut off.
    fn valid_record_after(&mut self, pos: u64) -> bool {
        let mut budget = SCAN_BUDGET * self.len;
        let mut b = record::align_up(pos + 1);
        while b + HEADER_BYTES as u64 <= self.len {
            if let Some(claimed) = self.looks_like_record(b) {
                if claimed > budget {
                    return true;
                }
                budget -= claimed;
                if let Read::Record(..) = self.record_at(b, BLOCK as u64) {
                    return true;
                }
            }
            b += BLOCK as u64;
        }
        false
    }

    /// The payload length the header at `b` claims, if it starts a logical
    /// record (not a fragment continuing one), the record would end within
    /// the file, and its payload starts as a command's does: at least one
    /// argument, the first (the command's name) at most
    /// `COMMAND_NAME_MAX_BYTES` long. The blocks of a torn record of
    /// arbitrary bytes almost never pass.
    fn looks_like_record(&mut self, b: u64) -> Option<u64> {
        let framing = self.framing;
        let h = self.get(b, HEADER_BYTES + 9)?;
        let f = framing.header(h[..HEADER_BYTES].try_into().ok()?)?;
        let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) as u64;
        let (len, argc, name) = (
            f.len as u64,
            u32_at(HEADER_BYTES + 1),
            u32_at(HEADER_BYTES + 5),
        );
        let fits = b + HEADER_BYTES as u64 + len <= self.len;
        (fits && !f.continuation && argc >= 1 && name <= COMMAND_NAME_MAX_BYTES && 9 + name <= len)
            .then_some(len)
    }
}

/// What replaying a shard's log found.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Records and bytes of the segments (the log base's are apart: the log
    /// grows from the base, and a rewrite is judged by that growth).
    pub records: u64,
    pub bytes: u64,
    pub base_records: u64,
    pub base_bytes: u64,
    /// The segments that remain valid (all of them, unless damage cut the
    /// log short and the segments after it were dropped).
    pub kept: Vec<u64>,
}

/// Replays `shard`'s log base `base` (if any), then its segments `segs`,
/// through `apply`, in order. A torn tail of the last segment is cut off with
/// a warning; other bad records (a log base is written whole, so any bad
/// record in it) stop start-up unless `on_corruption` says to keep the valid
/// prefix. With `cut`, the log ends before the first label past it (see
/// `AT`): that label and what follows are cut off like a torn tail.
pub fn replay(
    dir: &Path,
    shard: usize,
    shards: usize,
    (base, segs): (Option<u64>, &[u64]),
    on_corruption: OnCorruption,
    cut: Option<u64>,
    mut apply: impl FnMut(usize, Vec<Bytes>),
) -> Result<Replayed, String> {
    let mut apply = |db, argv: Vec<Bytes>| match label_of(&argv) {
        Some(label) => cut.is_none_or(|t| label.ms <= t),
        None => {
            apply(db, argv);
            true
        }
    };
    let mut done = Replayed::default();
    let chain = base
        .map(|g| (base_path(dir, shard, g), None))
        .into_iter()
        .chain(segs.iter().map(|&s| (segment_path(dir, shard, s), Some(s))));
    let files = segs.len() + base.is_some() as usize;
    for (i, (path, seq)) in chain.enumerate() {
        // A log base's header carries its generation.
        let sequence = seq.or(base);
        let end = read_segment(&path, Some((shard, shards)), sequence, &mut apply)?;
        let newest = i + 1 == files && seq.is_some();
        let what = seq.map_or("the log base".to_string(), |s| format!("segment {s}"));
        let (records, bytes, cut) = match end {
            SegmentEnd::Clean { records, bytes } => (records, bytes, None),
            SegmentEnd::Stopped { records, at } => {
                tracing::warn!(file = %path.display(), offset = at, "cutting the log at the moment every shard's log reaches (the machine restarted since it was written)");
                (records, at, Some(at))
            }
            SegmentEnd::Torn { records, at } if newest => {
                tracing::warn!(file = %path.display(), offset = at, "AOF ends with a torn record (a write cut by a crash): truncating it");
                (records, at, Some(at))
            }
            SegmentEnd::Torn { records, at } | SegmentEnd::Corrupt { records, at } => {
                if on_corruption == OnCorruption::Stop {
                    return Err(format!(
                        "{}: bad AOF record at offset {at} ({what} of shard {shard}). Start with --aof-load-corrupt skip-tail to keep the {} valid records before it and drop the rest, or repair it with `ringcache check --fix`",
                        path.display(),
                        done.records + done.base_records + records
                    ));
                }
                tracing::warn!(file = %path.display(), offset = at, "bad AOF record: keeping the valid prefix as asked, dropping the rest");
                (records, at, Some(at))
            }
        };
        if let Some(at) = cut {
            disk::truncate(&path, at)?;
        }
        match seq {
            None => {
                done.base_records += records;
                done.base_bytes += bytes;
            }
            Some(s) => {
                done.records += records;
                done.bytes += bytes;
                done.kept.push(s);
            }
        }
        if cut.is_some() && !newest {
            // Later segments came after the damage: they cannot be applied.
            // The caller's manifest drops them (`kept`).
            for later in segs.iter().filter(|&&s| seq.is_none_or(|q| s > q)) {
                tracing::warn!(
                    segment = later,
                    shard,
                    "dropping a segment written after a bad record"
                );
            }
            break;
        }
    }
    Ok(done)
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
    let cached = file.cached()?;
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
        appended: 0,
        written: 0,
        durable: 0,
        write_waiters: VecDeque::new(),
        sync_waiters: VecDeque::new(),
        wake,
        rotation: None,
        sync_requested: false,
        labelled_ms: 0,
        stats: AofStats {
            segment_bytes: BLOCK as u64,
            total_bytes: replayed.1 + BLOCK as u64,
            records_replayed: replayed.0,
            ..AofStats::default()
        },
    }));
    let flusher = Flusher {
        buf: buffer.clone(),
        segment,
        base: BLOCK as u64,
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

/// The task that writes one shard's log. It alone knows where the bytes go:
/// `log[0]` belongs at offset `base` of `segment` (a block boundary).
struct Flusher {
    buf: Rc<RefCell<AofBuffer>>,
    segment: Segment,
    base: u64,
    allocated: u64,
    extent: u64,
    running_sync: Option<RunningSync>,
    /// Bytes of the segments before this one (and replayed), for INFO.
    earlier_bytes: u64,
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
        loop {
            let policy = self.buf.borrow().policy;
            if policy == Fsync::Everysec {
                let until_tick = second.saturating_sub(last_tick.elapsed());
                futures_lite::future::or(
                    async {
                        woken.recv().await;
                    },
                    glommio::timer::sleep(until_tick),
                )
                .await;
            } else if woken.recv().await.is_none() {
                return;
            }
            let tick = policy == Fsync::Everysec && last_tick.elapsed() >= second;
            if tick {
                last_tick = Instant::now();
            }
            let turn = self.turn(tick).await;
            let failed = {
                let mut b = self.buf.borrow_mut();
                b.release_waiters();
                self.update_stats(&mut b);
                match turn {
                    Turn::Done => {
                        if b.stats.last_error.take().is_some() {
                            tracing::warn!("AOF writes succeed again; accepting writes");
                        }
                        false
                    }
                    Turn::Failed(msg) => {
                        if b.stats.last_error.is_none() {
                            tracing::error!(
                                "AOF write failed: {msg}; refusing writes until it succeeds"
                            );
                        }
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
        let mut b = self.buf.borrow_mut();
        if let Some(running) = &self.running_sync {
            if tick && running.started.elapsed() >= 2 * Duration::from_secs(1) {
                // Redis's aof_delayed_fsync: a sync still running after 2 s.
                b.stats.delayed_fsync += 1;
            }
            return Turn::Done;
        }
        if tick && b.labelled_ms < NEWEST_LABEL_MS.load(Ordering::Relaxed) {
            // Other shards logged newer moments: this log vouches for them
            // too (a label, written and synced now).
            b.label(crate::util::now_ms());
            drop(b);
            if let Err(e) = self.write_cached() {
                return Turn::Failed(e);
            }
            b = self.buf.borrow_mut();
        }
        let due = b.sync_requested
            || (policy == Fsync::Everysec && (tick || b.handed >= b.write_threshold_bytes));
        if due && policy != Fsync::Always && b.rotation.is_none() && b.durable < b.written {
            b.sync_requested = false;
            drop(b);
            if let Err(e) = self.start_sync() {
                return Turn::Failed(e);
            }
        } else if due && b.durable >= b.written {
            b.sync_requested = false;
        }
        Turn::Done
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
                self.base += running.bytes as u64;
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
        let (data, upto, direct) = {
            let b = self.buf.borrow();
            let Some(r) = &b.rotation else {
                return Ok(());
            };
            (b.log[..r.at].to_vec(), r.upto, b.policy == Fsync::Always)
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
                .write_padded(&data, self.base, Issue::Blocking)
                .await
        } else {
            let mut b = self.buf.borrow_mut();
            hand_over(&self.segment.cached, self.base, &mut b, data.len())
        };
        written?;
        self.buf.borrow_mut().handed = data.len();
        let started = Instant::now();
        self.segment.direct.sync(Issue::Ring).await?;
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
        self.earlier_bytes += self.base + r.at as u64;
        let old = std::mem::replace(&mut self.segment, r.segment);
        if let Ok(file) = Rc::try_unwrap(old.direct) {
            glommio::spawn_local(async move {
                let _ = file.close().await;
            })
            .detach();
        }
        self.base = BLOCK as u64;
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
            (std::mem::take(&mut b.log), b.appended)
        };
        // Records appended meanwhile start a new block after `data`: their
        // place does not depend on how this commit ends.
        let result = self.commit(&data).await;
        let mut b = self.buf.borrow_mut();
        match result {
            Ok(()) => {
                self.base += data.len() as u64;
                b.written = b.written.max(records);
                b.durable = b.durable.max(records);
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
        self.reserve_for(data.len()).await;
        if !data.is_empty() {
            self.segment
                .direct
                .write_padded(data, self.base, Issue::Blocking)
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
        let mut b = self.buf.borrow_mut();
        let (end, records) = match &b.rotation {
            Some(r) => (r.at, r.upto),
            None => (b.log.len(), b.appended),
        };
        hand_over(&self.segment.cached, self.base, &mut b, end)?;
        b.written = b.written.max(records);
        if b.policy == Fsync::No && self.running_sync.is_none() && b.rotation.is_none() {
            // Nothing is synced, so nothing is kept for a retry but the
            // partial block the next write continues.
            let full = b.handed / BLOCK * BLOCK;
            drain_front(&mut b.log, full);
            b.handed -= full;
            self.base += full as u64;
        }
        Ok(())
    }

    /// Pads what is written to a block boundary and starts a background
    /// fdatasync of it: writers go on meanwhile, after the padding.
    fn start_sync(&mut self) -> Result<(), String> {
        let mut b = self.buf.borrow_mut();
        // The sync vouches for the moment it starts (see `AT`).
        b.label(crate::util::now_ms());
        pad_to_block(&mut b.log);
        let end = b.log.len();
        hand_over(&self.segment.cached, self.base, &mut b, end)?;
        b.written = b.appended;
        b.stats.sync_running = true;
        let result = Rc::new(Cell::new(None));
        self.running_sync = Some(RunningSync {
            bytes: end,
            records: b.written,
            started: Instant::now(),
            result: result.clone(),
        });
        // The task may run at once (a sync that fails before it reaches the
        // ring), and it borrows the buffer.
        drop(b);
        let (file, buf) = (self.segment.direct.clone(), self.buf.clone());
        glommio::spawn_local(async move {
            let synced = file.sync(Issue::Ring).await;
            result.set(Some(synced));
            let _ = buf.borrow().wake.try_send(());
        })
        .detach();
        Ok(())
    }

    /// Reserves space ahead when `more` bytes would pass the reservation.
    async fn reserve_for(&mut self, more: usize) {
        let end = self.base + more as u64;
        if end > self.allocated {
            // Best effort, like at start: only a failed write is an error.
            self.allocated = end.div_ceil(self.extent) * self.extent + self.extent;
            if !self.segment.direct.reserve(self.allocated).await {
                self.allocated = end;
            }
        }
    }

    fn update_stats(&self, b: &mut AofBuffer) {
        let in_file = self.base + b.handed as u64;
        b.stats.segment_bytes = in_file;
        b.stats.total_bytes = self.earlier_bytes + in_file;
        b.stats.sync_running = self.running_sync.is_some();
    }
}

/// Hands `b.log` up to `end` to the kernel: what it does not have yet,
/// through the page cache, at its place in the segment (`log[0]` is at
/// `base`). On failure nothing counts as handed, so the retry writes the
/// same bytes at the same offsets.
fn hand_over(cached: &CachedFile, base: u64, b: &mut AofBuffer, end: usize) -> Result<(), String> {
    if b.handed < end {
        cached.write_all_at(&b.log[b.handed..end], base + b.handed as u64)?;
        b.handed = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A segment in memory that counts the bytes read from it.
    struct Counted<'a> {
        bytes: &'a [u8],
        read: Cell<u64>,
    }

    impl ReadAt for Counted<'_> {
        fn read_exact_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
            self.read.set(self.read.get() + buf.len() as u64);
            self.bytes.read_exact_at(buf, pos)
        }
    }

    #[test]
    fn a_file_of_headers_claiming_long_records_is_read_in_linear_time() {
        // After one valid record, every block claims a record as long as
        // the format allows (version 1: reaching the end of the file;
        // version 2: the size rule's bound), with a wrong checksum.
        for version in [1, record::FORMAT_VERSION] {
            let blocks = 2048;
            let mut file = SegmentHeader {
                magic: record::SEGMENT_MAGIC,
                shard: 0,
                shards: 1,
                sequence: 1,
                run_id: "test".into(),
                version,
            }
            .encode();
            file.resize(BLOCK * blocks, 0);
            let mut first = Vec::new();
            record::encode(
                &mut first,
                0,
                &[Bytes::from_static(b"SET"), Bytes::from_static(b"k")],
            );
            file[BLOCK..BLOCK + first.len()].copy_from_slice(&first);
            let most = Framing::of_version(version).max_record_bytes();
            for b in 2..blocks {
                let at = b * BLOCK;
                let claimed = (file.len() - at - HEADER_BYTES).min(most) as u32;
                file[at..at + 4].copy_from_slice(&claimed.to_le_bytes());
                file[at + 4..at + 8].copy_from_slice(&1u32.to_le_bytes());
                // db 0, one argument, a 3-byte name: it looks like a record.
                file[at + 9..at + 13].copy_from_slice(&1u32.to_le_bytes());
                file[at + 13..at + 17].copy_from_slice(&3u32.to_le_bytes());
            }
            // The record after the valid one is damaged: a bad checksum.
            file[BLOCK + 4] ^= 0xff;
            let src = Counted {
                bytes: &file,
                read: Cell::new(0),
            };
            let end = decode_segment(&src, file.len() as u64, None, None, |_, _| true).unwrap();
            assert!(
                matches!(end, SegmentEnd::Corrupt { records: 0, .. }),
                "version {version}: {end:?}"
            );
            let len = file.len() as u64;
            assert!(
                src.read.get() <= (SCAN_BUDGET + 2) * len,
                "version {version}: read {} bytes of a {len}-byte file",
                src.read.get()
            );
        }
    }

    #[test]
    fn a_long_record_torn_in_the_middle_is_a_torn_tail() {
        // A valid record, then a write of one long record of arbitrary bytes
        // cut short by a crash: its length reaches past the file's end.
        let mut file = segment_header(0, 1, 1);
        record::encode(
            &mut file,
            0,
            &[Bytes::from_static(b"SET"), Bytes::from_static(b"k")],
        );
        file.resize(2 * BLOCK, 0);
        let value: Vec<u8> = (0..4 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut torn = Vec::new();
        record::encode(
            &mut torn,
            0,
            &[
                Bytes::from_static(b"SET"),
                Bytes::from_static(b"k"),
                value.into(),
            ],
        );
        file.extend_from_slice(&torn[..torn.len() / 2]);
        let mut records = 0;
        let end = decode_segment(&file[..], file.len() as u64, None, None, |_, _| {
            records += 1;
            true
        })
        .unwrap();
        assert_eq!(records, 1);
        assert_eq!(
            end,
            SegmentEnd::Torn {
                records: 1,
                at: 2 * BLOCK as u64
            }
        );
    }

    /// A segment holding a small record, then one logical record of four
    /// fragments, then (`after`) another small record written later, on a
    /// fresh block; and the offsets where the big record's fragments start.
    fn segment_with_a_chain(after: bool) -> (Vec<u8>, Vec<usize>) {
        let set =
            |k: &'static [u8], v: Bytes| vec![Bytes::from_static(b"SET"), Bytes::from_static(k), v];
        let mut file = segment_header(0, 1, 1);
        record::encode_placed(&mut file, 0, 0, &[set(b"a", Bytes::from_static(b"1"))]);
        file.resize(2 * BLOCK, 0);
        let start = file.len();
        let big = Bytes::from(vec![9u8; 3 * record::MAX_RECORD_PAYLOAD_BYTES + 10]);
        let del = vec![Bytes::from_static(b"DEL"), Bytes::from_static(b"a")];
        record::encode_placed(&mut file, 0, 0, &[del, set(b"big", big)]);
        let mut starts = vec![start];
        let mut at = start;
        while let Some(n) = record::framed_len(&file[at..]) {
            at += n;
            if at + HEADER_BYTES > file.len() {
                break;
            }
            if BLOCK - at % BLOCK < HEADER_BYTES {
                at = record::align_up(at as u64) as usize;
            }
            starts.push(at);
        }
        if after {
            file.resize(record::align_up(file.len() as u64) as usize, 0);
            record::encode_placed(&mut file, 0, 0, &[set(b"c", Bytes::from_static(b"3"))]);
        }
        (file, starts)
    }

    fn keys_replayed(file: &[u8]) -> (SegmentEnd, Vec<Vec<u8>>) {
        let mut keys = Vec::new();
        let end = decode_segment(file, file.len() as u64, None, None, |_, argv| {
            keys.push(argv[1].to_vec());
            true
        })
        .unwrap();
        (end, keys)
    }

    #[test]
    fn a_record_torn_between_its_fragments_is_a_torn_tail() {
        let (file, starts) = segment_with_a_chain(false);
        assert_eq!(starts.len(), 4, "{starts:?}");
        let (end, keys) = keys_replayed(&file);
        assert_eq!(
            end,
            SegmentEnd::Clean {
                records: 2,
                bytes: file.len() as u64
            }
        );
        assert_eq!(keys, [b"a".to_vec(), b"a".to_vec(), b"big".to_vec()]);
        // Cut right after a whole fragment (between two), or inside one:
        // the record is dropped whole, the segment ends where it started.
        let chain = starts[0] as u64;
        for cut in [
            starts[1],
            starts[2],
            starts[3],
            starts[3] + 4,
            starts[2] + 1000,
            file.len() - 1,
        ] {
            let (end, keys) = keys_replayed(&file[..cut]);
            assert_eq!(
                end,
                SegmentEnd::Torn {
                    records: 1,
                    at: chain
                },
                "cut at {cut}"
            );
            assert_eq!(
                keys,
                [b"a".to_vec()],
                "cut at {cut}: nothing of the torn record"
            );
        }
    }

    #[test]
    fn a_broken_chain_followed_by_valid_records_is_corruption() {
        let (mut file, starts) = segment_with_a_chain(true);
        assert_eq!(
            keys_replayed(&file).0,
            SegmentEnd::Clean {
                records: 3,
                bytes: file.len() as u64
            }
        );
        // The third fragment damaged: a later record exists, so this is
        // not a torn tail, and nothing of the chain was applied.
        file[starts[2] + HEADER_BYTES + 5] ^= 1;
        let (end, keys) = keys_replayed(&file);
        assert_eq!(
            end,
            SegmentEnd::Corrupt {
                records: 1,
                at: starts[0] as u64
            }
        );
        assert_eq!(keys, [b"a".to_vec()]);
        // A fragment's "more" flag cleared: the chain ends early and the
        // next fragment continues nothing.
        let (mut file, starts) = segment_with_a_chain(true);
        file[starts[1] + 3] &= !0x80;
        let (end, _) = keys_replayed(&file);
        assert!(matches!(end, SegmentEnd::Corrupt { .. }), "{end:?}");
    }

    #[test]
    fn a_version_1_segment_with_a_big_record_still_loads() {
        let mut file = SegmentHeader {
            magic: record::SEGMENT_MAGIC,
            shard: 0,
            shards: 1,
            sequence: 1,
            run_id: "old".into(),
            version: 1,
        }
        .encode();
        // Version 1 framing: one record, however long, no flags.
        let value = vec![5u8; 300_000];
        let argv = [
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::from(value.clone()),
        ];
        let mut payload = vec![0u8];
        payload.extend_from_slice(&3u32.to_le_bytes());
        for a in &argv {
            payload.extend_from_slice(&(a.len() as u32).to_le_bytes());
            payload.extend_from_slice(a);
        }
        file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
        let mut got = Vec::new();
        let end = decode_segment(&file[..], file.len() as u64, None, None, |_, argv| {
            got = argv;
            true
        })
        .unwrap();
        assert!(
            matches!(end, SegmentEnd::Clean { records: 1, .. }),
            "{end:?}"
        );
        assert_eq!(got, argv);
    }
}
