//! Reading a shard's log back: a segment's records in order up to the first
//! bad one (torn tail or corruption, told apart by looking for a later valid
//! record), replay of a shard's base and segments, and the newest time label
//! (docs/aof.md, "Reading back" and "One moment for all shards").

use super::{base_path, label_of, segment_path, Label};
use crate::config::OnCorruption;
use crate::persistence::disk;
use crate::persistence::record::{self, Framing, SegmentHeader, BLOCK, HEADER_BYTES};
use bytes::Bytes;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

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
                // A write starts its block with a record: a block that
                // starts with zeros was never written, and either the log
                // ends here or a later write reached the disk while this
                // one did not (a power cut keeps unsynced writes in any
                // order; seed 700326 of the simulated disk). Such later
                // records were never synced (a sync covers every byte
                // before its end), and replaying them would skip the lost
                // ones: the log ends here, a torn tail.
                if pos.is_multiple_of(BLOCK as u64) {
                    match reader.after(pos) {
                        // Only zeros (the preallocated extent) from here on.
                        After::Nothing => break,
                        later => return Ok(later.ends(pos, records, true)),
                    }
                }
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

/// How a segment ends when the record at `pos` is bad (the valid records
/// end at `at`): see `After::ends`.
fn end_at<R: ReadAt + ?Sized>(
    reader: &mut Window<'_, R>,
    pos: u64,
    at: u64,
    records: u64,
) -> SegmentEnd {
    reader.after(pos).ends(at, records, false)
}

/// What follows damage in a segment.
enum After {
    /// No valid record.
    Nothing,
    /// Valid records, whose labels say a completed sync covered the segment
    /// up to `durable_bytes` (the most any of them says; `None` when none
    /// says, as in logs written before labels carried it, or when the scan
    /// gave up on a crafted file).
    Records { durable_bytes: Option<u64> },
}

impl After {
    /// How a segment whose valid records end at `at` ends, given what
    /// follows: a torn tail when nothing valid does, or when the labels
    /// after it say no completed sync reached `at` (a power cut lost an
    /// unsynced write and kept a later one: every write after a sync point
    /// starts a fresh block with a label, so a reader finds them); corruption
    /// when a sync covered the damaged bytes. Unlabelled records after bad
    /// ones are corruption, after a never-written block (`zeros`) a torn
    /// tail, as before labels carried sync points.
    fn ends(self, at: u64, records: u64, zeros: bool) -> SegmentEnd {
        let torn = match self {
            After::Nothing => true,
            After::Records {
                durable_bytes: Some(d),
            } => d <= at,
            After::Records {
                durable_bytes: None,
            } => zeros,
        };
        if torn {
            SegmentEnd::Torn { records, at }
        } else {
            SegmentEnd::Corrupt { records, at }
        }
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
/// Bytes `Window::after` may checksum, in lengths of the file.
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

    /// What follows damage at `pos`: valid records start at block
    /// boundaries (every write starts on a fresh block, so a later write
    /// would show there), and from each one found the records that follow
    /// it are read for their labels.
    ///
    /// A header that claims a long record costs a read and a checksum of
    /// that length, so a file whose every block claims a record reaching its
    /// end would take time quadratic in its size. Only a block that starts
    /// like a record (`looks_like_record`) is checked, and the bytes checked
    /// are bounded by `SCAN_BUDGET` times the file's length: past that (a
    /// crafted file) the damage counts as followed by records that say
    /// nothing, which stops start-up and says so, rather than as a torn
    /// tail, which would be cut off.
    fn after(&mut self, pos: u64) -> After {
        let mut budget = SCAN_BUDGET * self.len;
        let mut found = None;
        let mut b = record::align_up(pos + 1);
        while b + HEADER_BYTES as u64 <= self.len {
            if let Some(claimed) = self.looks_like_record(b) {
                if claimed > budget {
                    return After::Records {
                        durable_bytes: None,
                    };
                }
                budget -= claimed;
                if let Read::Record(..) = self.record_at(b, BLOCK as u64) {
                    let (end, durable) = self.labels_from(b);
                    found = found.max(Some(durable));
                    b = record::align_up(end);
                    continue;
                }
            }
            b += BLOCK as u64;
        }
        match found {
            None => After::Nothing,
            Some(durable_bytes) => After::Records { durable_bytes },
        }
    }

    /// Reads the valid records from `pos` (where one starts) on: where they
    /// end, and the most durable bytes their labels say.
    fn labels_from(&mut self, mut pos: u64) -> (u64, Option<u64>) {
        let mut durable = None;
        while pos < self.len {
            let block_left = BLOCK as u64 - pos % BLOCK as u64;
            match self.record_at(pos, block_left) {
                Read::Skip(next) => pos = next,
                Read::Padding(next) if !pos.is_multiple_of(BLOCK as u64) => pos = next,
                Read::Record(f, payload, next) => {
                    // A label is small (one record, never a fragment), and
                    // its payload starts with one database byte, then its
                    // argument count and a two-byte name, "AT".
                    let label = payload.get(5..11) == Some(&[2, 0, 0, 0, b'A', b'T'][..]);
                    if label && !f.more && !f.continuation {
                        let payload = Bytes::copy_from_slice(payload);
                        for (_, argv) in record::decode_payload(&payload, false).unwrap_or_default()
                        {
                            let said = label_of(&argv).and_then(|l| l.durable_bytes);
                            durable = durable.max(said);
                        }
                    }
                    pos = next;
                }
                _ => break,
            }
        }
        (pos, durable)
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
        let later = seq.map_or(segs, |q| {
            &segs[segs.iter().position(|&s| s == q).map_or(0, |p| p + 1)..]
        });
        let what = seq.map_or("the log base".to_string(), |s| format!("segment {s}"));
        let (records, bytes, cut) = match end {
            SegmentEnd::Clean { records, bytes } => (records, bytes, None),
            SegmentEnd::Stopped { records, at } => {
                tracing::warn!(file = %path.display(), offset = at, "cutting the log at the moment every shard's log reaches (the machine restarted since it was written)");
                (records, at, Some(at))
            }
            SegmentEnd::Torn { records, at }
                if newest || (seq.is_some() && hold_no_data(dir, shard, shards, later)) =>
            {
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

/// Whether none of `segs` holds a data record (labels aside). A torn tail
/// followed only by such segments is the last write, not damage: a write
/// that failed (ENOSPC, EIO), whose retry had not yet succeeded when a
/// checkpoint opened the next segment and the process died. Nothing past
/// the tear was acknowledged: replies wait for the retry (seed 2100162 of
/// the simulated disk refused to start on it).
fn hold_no_data(dir: &Path, shard: usize, shards: usize, segs: &[u64]) -> bool {
    segs.iter().all(|&s| {
        let mut data = 0;
        let end = read_segment(
            &segment_path(dir, shard, s),
            Some((shard, shards)),
            Some(s),
            |_, argv| {
                data += label_of(&argv).is_none() as u64;
                true
            },
        );
        matches!(end, Ok(SegmentEnd::Clean { .. })) && data == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::aof::segment_header;
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

    /// A power cut kept a later write (block 3) and lost an earlier one
    /// (block 2, all zeros): the reader read the zero block as padding and
    /// replayed the later record, a state that is no prefix of the log
    /// (simulated disk, seed 700326: a SET kept, the ZINCRBY before it
    /// lost). The log ends at the hole.
    /// A torn tail followed only by segments without data (a failed write,
    /// then a checkpoint opened the next segment, then a crash) is cut like
    /// the newest segment's; followed by data, it is damage.
    #[test]
    fn a_torn_tail_before_empty_segments_is_cut_not_damage() {
        let set = |k: &'static [u8]| [vec![Bytes::from_static(b"SET"), Bytes::from_static(k)]];
        let dir = std::env::temp_dir().join(format!("rc-torn-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("aof")).unwrap();
        for later_data in [false, true] {
            let mut first = segment_header(0, 1, 1);
            record::encode_placed(&mut first, 0, 0, &set(b"a"));
            let torn_at = first.len();
            record::encode_placed(&mut first, 0, 0, &set(b"b"));
            first.truncate(torn_at + HEADER_BYTES + 3);
            std::fs::write(segment_path(&dir, 0, 1), &first).unwrap();
            let mut second = segment_header(0, 1, 2);
            if later_data {
                record::encode_placed(&mut second, 0, 0, &set(b"c"));
            }
            std::fs::write(segment_path(&dir, 0, 2), &second).unwrap();
            let mut keys = Vec::new();
            let done = replay(
                &dir,
                0,
                1,
                (None, &[1, 2]),
                OnCorruption::Stop,
                None,
                |_, argv| keys.push(argv[1].clone()),
            );
            if later_data {
                let e = done.expect_err("damage before data refuses to start");
                assert!(e.contains("bad AOF record at offset"), "{e}");
            } else {
                let done = done.unwrap();
                assert_eq!(keys, [Bytes::from_static(b"a")]);
                assert_eq!(done.kept, [1]);
                let len = std::fs::metadata(segment_path(&dir, 0, 1)).unwrap().len();
                assert_eq!(len, torn_at as u64);
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_after_a_never_written_block_are_not_replayed() {
        let set = |k: &'static [u8]| [vec![Bytes::from_static(b"SET"), Bytes::from_static(k)]];
        let mut file = segment_header(0, 1, 1);
        record::encode_placed(&mut file, 0, 0, &set(b"a"));
        file.resize(3 * BLOCK, 0);
        let base = file.len() as u64;
        record::encode_placed(&mut file, base, 0, &set(b"c"));
        file.resize(8 * BLOCK, 0);
        let mut keys = Vec::new();
        let end = decode_segment(&file[..], file.len() as u64, None, None, |_, argv| {
            keys.push(argv[1].clone());
            true
        })
        .unwrap();
        assert_eq!(keys, [Bytes::from_static(b"a")]);
        assert_eq!(
            end,
            SegmentEnd::Torn {
                records: 1,
                at: 2 * BLOCK as u64
            }
        );
        // Without the later write, the zeros are the unused extent: clean.
        file.truncate(3 * BLOCK);
        file.resize(8 * BLOCK, 0);
        let end = decode_segment(&file[..], file.len() as u64, None, None, |_, _| true).unwrap();
        assert!(
            matches!(end, SegmentEnd::Clean { records: 1, .. }),
            "{end:?}"
        );
    }

    /// A segment as an `everysec` log lays it out around a sync point: a
    /// label saying the header is durable, `SET a`, `SET b`, padding (the
    /// sync point), then on a fresh block a label saying `durable` bytes are
    /// and `SET c`. Returns it and the offset of `SET b`.
    fn synced_then_later(durable: u64) -> (Vec<u8>, usize) {
        let label = |durable: u64| {
            ["AT", "1000", "everysec", "boot", &durable.to_string()]
                .map(|a| Bytes::from(a.to_string()))
        };
        let set = |k: &'static [u8]| [vec![Bytes::from_static(b"SET"), Bytes::from_static(k)]];
        let mut file = segment_header(0, 1, 1);
        record::encode_placed(&mut file, 0, 0, &[label(BLOCK as u64)]);
        record::encode_placed(&mut file, 0, 0, &set(b"a"));
        let b = file.len();
        record::encode_placed(&mut file, 0, 0, &set(b"b"));
        file.resize(2 * BLOCK, 0);
        record::encode_placed(&mut file, 0, 0, &[label(durable)]);
        record::encode_placed(&mut file, 0, 0, &set(b"c"));
        (file, b)
    }

    /// Damage before a sync point whose sync never completed, with a later
    /// write kept: a power cut's torn tail (before labels carried the
    /// durable point, corruption that stopped start-up).
    #[test]
    fn damage_no_completed_sync_covered_is_a_torn_tail() {
        let (mut file, b) = synced_then_later(BLOCK as u64);
        file[b + HEADER_BYTES + 12] ^= 1;
        let (end, keys) = keys_replayed(&file);
        assert_eq!(
            end,
            SegmentEnd::Torn {
                records: 2,
                at: b as u64
            }
        );
        assert_eq!(keys, [b"1000".to_vec(), b"a".to_vec()]);
        // A block lost whole (zeros) reads the same way.
        let (mut file, b) = synced_then_later(BLOCK as u64);
        file[BLOCK..2 * BLOCK].fill(0);
        let (end, _) = keys_replayed(&file);
        assert_eq!(
            end,
            SegmentEnd::Torn {
                records: 0,
                at: BLOCK as u64
            },
            "{b}"
        );
    }

    /// The same damage in bytes a completed sync covered: corruption.
    #[test]
    fn damage_a_completed_sync_covered_is_corruption() {
        let (mut file, b) = synced_then_later(2 * BLOCK as u64);
        file[b + HEADER_BYTES + 12] ^= 1;
        let (end, _) = keys_replayed(&file);
        assert_eq!(
            end,
            SegmentEnd::Corrupt {
                records: 2,
                at: b as u64
            }
        );
        let (mut file, _) = synced_then_later(2 * BLOCK as u64);
        file[BLOCK..2 * BLOCK].fill(0);
        let (end, _) = keys_replayed(&file);
        assert_eq!(
            end,
            SegmentEnd::Corrupt {
                records: 0,
                at: BLOCK as u64
            }
        );
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
