//! The on-disk framing that log segments and snapshots share. A file is a
//! 4 KiB header block followed by records
//! `[len+flags: u32 LE][crc32c(payload): u32 LE][payload]`.
//!
//! **One size rule** (format version 2): no record carries more than
//! `MAX_RECORD_PAYLOAD_BYTES` of payload, for every writer (the log, the
//! snapshot, the log base of AOF-only mode) and every reader. A logical
//! record bigger than that (a 400 MB string, a command with many
//! arguments, the commands of one write) is written as a chain of
//! *fragments*, each a record of its own with its own checksum: the top
//! bit of the length word (`FLAG_MORE`) says "the logical record goes on in
//! the next fragment", the next bit (`FLAG_CONTINUATION`) "this fragment
//! continues the one before". A reader joins the chain; a chain cut off at
//! the end of a log is a torn tail (dropped whole), anywhere else it is
//! corruption. A logical record that fits is one record with no flags: the
//! layout of version 1, whose files (records up to `V1_MAX_RECORD_BYTES`,
//! no flags) still load.
//!
//! In a log, a record may span blocks, but its 8-byte header never starts in
//! the last 7 bytes of one. At every sync point the writer pads the tail with
//! zeros to the next block boundary, so the next write starts on a fresh
//! block and a block that holds acknowledged records is never written again.
//! A zero header (`len == 0`) therefore means "padding: skip to the next
//! block"; so does a block remainder too short for a header. Padding never
//! comes inside a chain (a sync point falls between logical records), but a
//! too-short block remainder may.
//!
//! A log's logical record: one or more commands, each
//! `[db: u8][argc: u32 LE]` then `argc` times `[len: u32 LE][bytes]`: the
//! effects of one write, replayed together or not at all.

use bytes::Bytes;

/// Direct I/O block size: writes are whole, aligned blocks.
pub const BLOCK: usize = 4096;
pub const HEADER_BYTES: usize = 8;
/// The one size rule: the most payload one record (fragment) carries, in
/// every file this build writes and reads. 16 blocks: a reader's buffers
/// and a snapshot writer's step stay small, and a chain's headers cost
/// 0.01% of a big value.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = 64 << 10;
/// What version 1 readers accepted in one record (no fragments then).
pub const V1_MAX_RECORD_BYTES: usize = 1 << 30;
/// Length word: the logical record goes on in the next fragment.
pub const FLAG_MORE: u32 = 1 << 31;
/// Length word: this fragment continues the one before it.
pub const FLAG_CONTINUATION: u32 = 1 << 30;
const LEN_MASK: u32 = FLAG_CONTINUATION - 1;

pub const SEGMENT_MAGIC: &[u8; 8] = b"RCAOF\0\0\x01";
/// Version 2: fragments (see the module comment). Version 1 files load.
pub const FORMAT_VERSION: u32 = 2;
const OLDEST_READABLE_VERSION: u32 = 1;

/// How the records of a file are framed, from its header's version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    version: u32,
}

/// One record's header, as a reader sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Payload bytes (0: padding).
    pub len: usize,
    pub crc: u32,
    /// The logical record goes on in the next fragment.
    pub more: bool,
    /// This fragment continues the one before.
    pub continuation: bool,
}

impl Framing {
    pub const CURRENT: Framing = Framing {
        version: FORMAT_VERSION,
    };

    pub fn of_version(version: u32) -> Framing {
        Framing { version }
    }

    /// Decodes a record header; `None` if its length breaks the size rule.
    pub fn header(self, h: &[u8; HEADER_BYTES]) -> Option<Fragment> {
        let word = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let f = if self.version == 1 {
            Fragment {
                len: usize::try_from(word).ok()?,
                crc,
                more: false,
                continuation: false,
            }
        } else {
            Fragment {
                len: usize::try_from(word & LEN_MASK).ok()?,
                crc,
                more: word & FLAG_MORE != 0,
                continuation: word & FLAG_CONTINUATION != 0,
            }
        };
        (f.len <= self.max_record_bytes()).then_some(f)
    }

    pub fn max_record_bytes(self) -> usize {
        if self.version == 1 {
            V1_MAX_RECORD_BYTES
        } else {
            MAX_RECORD_PAYLOAD_BYTES
        }
    }
}

/// What the header block of a log segment or a snapshot says about it. The
/// two kinds share the layout and differ by their magic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentHeader {
    pub magic: &'static [u8; 8],
    pub shard: u32,
    pub shards: u32,
    /// A log segment's number; a snapshot's generation (the number of the
    /// segment that starts at its cut).
    pub sequence: u64,
    pub run_id: String,
    /// The format version the file was written in (`FORMAT_VERSION` when
    /// writing).
    pub version: u32,
}

impl SegmentHeader {
    /// The whole header block: magic, version, fields, crc32c of what precedes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(BLOCK);
        b.extend_from_slice(self.magic);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&self.shard.to_le_bytes());
        b.extend_from_slice(&self.shards.to_le_bytes());
        b.extend_from_slice(&self.sequence.to_le_bytes());
        let run = self.run_id.as_bytes();
        // A run id is a few dozen bytes; the header block bounds it anyway.
        let run_len = u32::try_from(run.len()).unwrap_or(0);
        b.extend_from_slice(&run_len.to_le_bytes());
        b.extend_from_slice(&run[..run_len as usize]);
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b.resize(BLOCK, 0);
        b
    }

    /// Decodes a header block that must carry `magic`.
    pub fn decode(block: &[u8], magic: &'static [u8; 8]) -> Result<SegmentHeader, String> {
        let what = if magic == SEGMENT_MAGIC {
            "AOF segment"
        } else {
            "snapshot"
        };
        let bad = |why: &str| Err(format!("bad {what} header: {why}"));
        if block.len() < 36 || &block[..8] != magic {
            return bad(&format!("not a ringcache {what} (magic)"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(block[o..o + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return bad(&format!(
                "format version {version} (this build reads {OLDEST_READABLE_VERSION} to {FORMAT_VERSION})"
            ));
        }
        let run_len = u32_at(28) as usize;
        let end = 32 + run_len;
        if end + 4 > block.len() {
            return bad("truncated");
        }
        if crc32c::crc32c(&block[..end]) != u32_at(end) {
            return bad("checksum mismatch");
        }
        Ok(SegmentHeader {
            magic,
            shard: u32_at(12),
            shards: u32_at(16),
            sequence: u64::from_le_bytes(block[20..28].try_into().expect("8 bytes")),
            run_id: String::from_utf8_lossy(&block[32..end]).into_owned(),
            version,
        })
    }
}

/// Appends one logical record whose payload `body` writes, as one record
/// if it fits the size rule, else as a chain of fragments (contiguous: a
/// log writer places them with `append_placed`).
pub fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    frame_at(out, None, body);
}

/// `frame`, for a log whose `out[0]` sits at file offset `base` (block
/// aligned): no record header starts in a block's last bytes.
pub fn frame_placed(out: &mut Vec<u8>, base: u64, body: impl FnOnce(&mut Vec<u8>)) {
    frame_at(out, Some(base), body);
}

fn frame_at(out: &mut Vec<u8>, base: Option<u64>, body: impl FnOnce(&mut Vec<u8>)) {
    if let Some(base) = base {
        skip_block_tail(out, base);
    }
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    body(out);
    let len = out.len() - start - HEADER_BYTES;
    if len <= MAX_RECORD_PAYLOAD_BYTES {
        let crc = crc32c::crc32c(&out[start + HEADER_BYTES..]);
        write_header(&mut out[start..start + HEADER_BYTES], len, 0, crc);
        return;
    }
    // Too big for one record: the payload goes out again as fragments.
    let payload = out.split_off(start + HEADER_BYTES);
    out.truncate(start);
    let pieces = payload.len().div_ceil(MAX_RECORD_PAYLOAD_BYTES);
    out.reserve(payload.len() + pieces * (HEADER_BYTES + BLOCK / 512));
    for (i, piece) in payload.chunks(MAX_RECORD_PAYLOAD_BYTES).enumerate() {
        if let Some(base) = base {
            skip_block_tail(out, base);
        }
        let mut flags = 0;
        if i > 0 {
            flags |= FLAG_CONTINUATION;
        }
        if i + 1 < pieces {
            flags |= FLAG_MORE;
        }
        let at = out.len();
        out.extend_from_slice(&[0; HEADER_BYTES]);
        write_header(
            &mut out[at..at + HEADER_BYTES],
            piece.len(),
            flags,
            crc32c::crc32c(piece),
        );
        out.extend_from_slice(piece);
    }
}

/// A record header: `len` is at most `MAX_RECORD_PAYLOAD_BYTES` (checked by
/// the callers), so it fits the length word's low bits with room for flags.
fn write_header(h: &mut [u8], len: usize, flags: u32, crc: u32) {
    debug_assert!(len <= MAX_RECORD_PAYLOAD_BYTES);
    let word = u32::try_from(len).map_or(LEN_MASK, |l| l.min(LEN_MASK)) | flags;
    h[0..4].copy_from_slice(&word.to_le_bytes());
    h[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// The bytes one whole record takes at the start of `framed` (header and
/// payload), for records this build wrote.
pub fn framed_len(framed: &[u8]) -> Option<usize> {
    let h: &[u8; HEADER_BYTES] = framed.get(..HEADER_BYTES)?.try_into().ok()?;
    Some(HEADER_BYTES + Framing::CURRENT.header(h)?.len)
}

/// Appends the framed records `records` (from `frame`) to a log's `out`,
/// whose first byte sits at file offset `base`: a record that would start
/// in a block's last bytes starts on the next block.
pub fn append_placed(out: &mut Vec<u8>, base: u64, records: &[u8]) {
    let mut at = 0;
    while let Some(n) = records.get(at..).and_then(framed_len) {
        skip_block_tail(out, base);
        out.extend_from_slice(&records[at..at + n]);
        at += n;
    }
    debug_assert_eq!(at, records.len(), "records end inside a record");
}

/// Appends `[len: u32 LE][bytes]`. An element is at most `config::MAX_ELEMENT_BYTES`
/// (`proto-max-bulk-len` is capped there, and strings a command builds at
/// 512 MB); were one longer, the length written could not match and the
/// reader would refuse the record rather than load a wrong value.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(b);
}

/// Payload bytes of one command in a log record.
pub fn command_bytes(argv: &[Bytes]) -> usize {
    5 + argv.iter().map(|a| 4 + a.len()).sum::<usize>()
}

fn put_command(out: &mut Vec<u8>, db: usize, argv: &[Bytes]) {
    // Databases are fewer than 256 (`--databases` is capped), commands
    // have fewer than 2^32 arguments (bounded by the request's size).
    out.push(u8::try_from(db).unwrap_or(u8::MAX));
    out.extend_from_slice(&u32::try_from(argv.len()).unwrap_or(u32::MAX).to_le_bytes());
    for a in argv {
        put_bytes(out, a);
    }
}

/// Appends one logical record holding `argv` run in database `db`.
pub fn encode(out: &mut Vec<u8>, db: usize, argv: &[Bytes]) {
    frame(out, |out| put_command(out, db, argv));
}

/// Appends, to a log whose `out[0]` sits at file offset `base`, one logical
/// record holding `commands`, run in database `db` in order: the effects of
/// one write, which a reader applies all or none of.
pub fn encode_placed<A: AsRef<[Bytes]>>(out: &mut Vec<u8>, base: u64, db: usize, commands: &[A]) {
    frame_placed(out, base, |out| {
        for argv in commands {
            put_command(out, db, argv.as_ref());
        }
    });
}

/// `encode_placed` for a record of one command whose arguments `build`
/// writes one by one, when they are not at hand as one slice.
pub fn encode_placed_with(out: &mut Vec<u8>, base: u64, db: usize, build: impl FnOnce(&mut Args)) {
    frame_placed(out, base, |out| {
        out.push(u8::try_from(db).unwrap_or(u8::MAX));
        let argc_at = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut args = Args { out, count: 0 };
        build(&mut args);
        let argc = u32::try_from(args.count).unwrap_or(u32::MAX);
        out[argc_at..argc_at + 4].copy_from_slice(&argc.to_le_bytes());
    });
}

/// The arguments of one command being encoded (`encode_placed_with`).
pub struct Args<'a> {
    out: &'a mut Vec<u8>,
    count: usize,
}

impl Args<'_> {
    pub fn arg(&mut self, a: &[u8]) {
        put_bytes(self.out, a);
        self.count += 1;
    }

    /// A number, in decimal as a client would send it.
    pub fn num(&mut self, n: u64) {
        put_num(self.out, n);
        self.count += 1;
    }

    /// `count` arguments already in this encoding (`put_bytes`, `put_num`).
    pub fn encoded(&mut self, bytes: &[u8], count: usize) {
        self.out.extend_from_slice(bytes);
        self.count += count;
    }
}

/// `put_bytes` of `n` in decimal, with no allocation.
pub fn put_num(out: &mut Vec<u8>, n: u64) {
    put_bytes(out, itoa::Buffer::new().format(n).as_bytes());
}

/// Decodes a logical record's payload (checksums verified) into its
/// commands. With `copy` (a big record), an argument that is not most of
/// `p` gets its own buffer instead of a slice of `p`, whose memory would
/// otherwise live on as long as any of them does; one that is (a big
/// string) keeps the slice.
pub fn decode_payload(p: &Bytes, copy: bool) -> Option<Vec<(usize, Vec<Bytes>)>> {
    let mut commands = Vec::new();
    let mut pos = 0;
    while pos < p.len() {
        let db = *p.get(pos)? as usize;
        let argc = u32::from_le_bytes(p.get(pos + 1..pos + 5)?.try_into().ok()?) as usize;
        pos += 5;
        // Each argument needs at least its 4-byte length: a bound on argc.
        if argc == 0 || argc > (p.len() - pos) / 4 {
            return None;
        }
        let mut argv = Vec::with_capacity(argc);
        for _ in 0..argc {
            let len = u32::from_le_bytes(p.get(pos..pos + 4)?.try_into().ok()?) as usize;
            pos += 4;
            if len > p.len() - pos {
                return None;
            }
            argv.push(if copy && len < p.len() / 2 {
                Bytes::copy_from_slice(&p[pos..pos + len])
            } else {
                p.slice(pos..pos + len)
            });
            pos += len;
        }
        commands.push((db, argv));
    }
    (!commands.is_empty()).then_some(commands)
}

/// Pads `out`, whose first byte sits at file offset `start`, to the next
/// block boundary if a record header would start in the last bytes of a
/// block: the reader takes those as padding.
pub fn skip_block_tail(out: &mut Vec<u8>, start: u64) {
    let left = BLOCK - (start as usize + out.len()) % BLOCK;
    if left < HEADER_BYTES {
        out.resize(out.len() + left, 0);
    }
}

/// Rounds up to the next block boundary.
pub fn align_up(n: u64) -> u64 {
    n.div_ceil(BLOCK as u64) * BLOCK as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut buf = Vec::new();
        let argv = vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k"),
            Bytes::new(),
        ];
        encode(&mut buf, 3, &argv);
        let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
        let payload = Bytes::copy_from_slice(&buf[8..8 + len]);
        assert_eq!(crc, crc32c::crc32c(&payload));
        assert_eq!(decode_payload(&payload, false), Some(vec![(3, argv)]));
        assert_eq!(
            decode_payload(&payload.slice(..payload.len() - 1), false),
            None
        );
    }

    /// Joins the chain of fragments at the start of `framed`: the payload,
    /// the fragments' headers, and the bytes they took.
    fn join(framed: &[u8], base: u64) -> (Vec<u8>, Vec<Fragment>, usize) {
        let (mut payload, mut frags, mut at) = (Vec::new(), Vec::new(), 0);
        loop {
            let left = BLOCK - (base as usize + at) % BLOCK;
            if left < HEADER_BYTES {
                assert!(framed[at..at + left].iter().all(|&b| b == 0));
                at += left;
            }
            let h: [u8; HEADER_BYTES] = framed[at..at + HEADER_BYTES].try_into().unwrap();
            let f = Framing::CURRENT.header(&h).expect("within the size rule");
            let body = &framed[at + HEADER_BYTES..at + HEADER_BYTES + f.len];
            assert_eq!(crc32c::crc32c(body), f.crc);
            payload.extend_from_slice(body);
            frags.push(f);
            at += HEADER_BYTES + f.len;
            if !f.more {
                return (payload, frags, at);
            }
        }
    }

    #[test]
    fn a_big_record_is_a_chain_of_bounded_fragments() {
        let value = Bytes::from(vec![7u8; 3 * MAX_RECORD_PAYLOAD_BYTES + 100]);
        let argv = vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k"), value];
        // `out` starting at a block boundary, 20 bytes and 5 bytes before one.
        for base in [0u64, BLOCK as u64 - 20, BLOCK as u64 - 5] {
            let mut out = Vec::new();
            encode_placed(&mut out, base, 2, std::slice::from_ref(&argv));
            let (payload, frags, used) = join(&out, base);
            assert_eq!(used, out.len());
            assert_eq!(frags.len(), 4);
            assert!(!frags[0].continuation && frags[0].more);
            assert!(frags[1..3].iter().all(|f| f.continuation && f.more));
            assert!(frags[3].continuation && !frags[3].more);
            assert!(frags.iter().all(|f| f.len <= MAX_RECORD_PAYLOAD_BYTES));
            let payload = Bytes::from(payload);
            assert_eq!(
                decode_payload(&payload, true),
                Some(vec![(2, argv.clone())])
            );
        }
        // Unplaced (a snapshot's records): contiguous, and placed afterwards
        // by `append_placed` as a log base does.
        let mut framed = Vec::new();
        encode(&mut framed, 0, &argv);
        let mut log = vec![1u8; BLOCK - 3];
        append_placed(&mut log, 0, &framed);
        assert_eq!(&log[BLOCK - 3..BLOCK], &[0, 0, 0]);
        assert_eq!(join(&log[BLOCK..], 0).0.len(), join(&framed, 0).0.len());
    }

    #[test]
    fn several_commands_make_one_logical_record() {
        let cmds = vec![
            vec![Bytes::from_static(b"DEL"), Bytes::from_static(b"d")],
            vec![
                Bytes::from_static(b"SADD"),
                Bytes::from_static(b"d"),
                Bytes::from_static(b"m"),
            ],
        ];
        let mut out = Vec::new();
        encode_placed(&mut out, 0, 1, &cmds);
        let (payload, frags, _) = join(&out, 0);
        assert_eq!(frags.len(), 1);
        let want: Vec<_> = cmds.into_iter().map(|c| (1, c)).collect();
        assert_eq!(decode_payload(&Bytes::from(payload), false), Some(want));
    }

    #[test]
    fn version_1_records_have_no_flags_and_the_old_bound() {
        let mut h = [0u8; HEADER_BYTES];
        h[0..4].copy_from_slice(&(FLAG_MORE | 5).to_le_bytes());
        assert_eq!(Framing::of_version(1).header(&h), None);
        let v2 = Framing::CURRENT.header(&h).unwrap();
        assert!(v2.more && !v2.continuation && v2.len == 5);
        h[0..4].copy_from_slice(&(100u32 << 20).to_le_bytes());
        assert_eq!(Framing::of_version(1).header(&h).unwrap().len, 100 << 20);
        assert_eq!(Framing::CURRENT.header(&h), None);
    }

    #[test]
    fn a_header_never_starts_in_a_blocks_last_bytes() {
        // `out` starts 12 bytes before a block boundary.
        let start = (BLOCK - 12) as u64;
        let mut out = vec![1; 4];
        skip_block_tail(&mut out, start);
        assert_eq!(out.len(), 4, "8 bytes left: a header fits");
        out.push(1);
        skip_block_tail(&mut out, start);
        assert_eq!(out.len(), 12, "7 bytes left: padded to the boundary");
        assert!(out[5..].iter().all(|&b| b == 0));
    }

    #[test]
    fn header_round_trip_and_corruption() {
        let h = SegmentHeader {
            magic: SEGMENT_MAGIC,
            shard: 1,
            shards: 2,
            sequence: 7,
            run_id: "abc".into(),
            version: FORMAT_VERSION,
        };
        let mut block = h.encode();
        assert_eq!(block.len(), BLOCK);
        assert_eq!(SegmentHeader::decode(&block, SEGMENT_MAGIC), Ok(h));
        assert!(SegmentHeader::decode(&block, b"RCSNAP\0\x01").is_err());
        block[13] ^= 1;
        assert!(SegmentHeader::decode(&block, SEGMENT_MAGIC).is_err());
    }
}
