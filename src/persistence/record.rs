//! The AOF's on-disk framing. A segment is a 4 KiB header block followed by
//! records `[len: u32 LE][crc32c(payload): u32 LE][payload]`; a record may
//! span blocks, but its 8-byte header never starts in the last 7 bytes of
//! one. At every sync point the writer pads the tail with zeros to the next
//! block boundary, so the next write starts on a fresh block and a block that
//! holds acknowledged records is never written again. A zero header
//! (`len == 0`) therefore means "padding: skip to the next block"; so does a
//! block remainder too short for a header.
//!
//! Payload: `[db: u8][argc: u32 LE]` then `argc` times `[len: u32 LE][bytes]`:
//! one command, the effect of a write, replayed through the command table.

use bytes::Bytes;

/// Direct I/O block size: writes are whole, aligned blocks.
pub const BLOCK: usize = 4096;
pub const HEADER_BYTES: usize = 8;
/// The largest record a reader accepts: a 512 MB value plus its key and framing.
pub const MAX_RECORD_BYTES: usize = 1 << 30;

pub const SEGMENT_MAGIC: &[u8; 8] = b"RCAOF\0\0\x01";
pub const FORMAT_VERSION: u32 = 1;

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
}

impl SegmentHeader {
    /// The whole header block: magic, version, fields, crc32c of what precedes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(BLOCK);
        b.extend_from_slice(self.magic);
        b.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        b.extend_from_slice(&self.shard.to_le_bytes());
        b.extend_from_slice(&self.shards.to_le_bytes());
        b.extend_from_slice(&self.sequence.to_le_bytes());
        let run = self.run_id.as_bytes();
        b.extend_from_slice(&(run.len() as u32).to_le_bytes());
        b.extend_from_slice(run);
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
        if u32_at(8) != FORMAT_VERSION {
            return bad(&format!(
                "format version {} (this build reads {FORMAT_VERSION})",
                u32_at(8)
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
        })
    }
}

/// Appends one record whose payload `body` writes: the header is filled in
/// once the payload's length and checksum are known.
pub fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    body(out);
    let len = (out.len() - start - HEADER_BYTES) as u32;
    let crc = crc32c::crc32c(&out[start + HEADER_BYTES..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends `[len: u32 LE][bytes]`.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Appends one framed record holding `argv` run in database `db`.
pub fn encode(out: &mut Vec<u8>, db: usize, argv: &[Bytes]) {
    frame(out, |out| {
        out.push(db as u8);
        out.extend_from_slice(&(argv.len() as u32).to_le_bytes());
        for a in argv {
            put_bytes(out, a);
        }
    });
}

/// Decodes a payload whose checksum has been verified.
pub fn decode_payload(p: &Bytes) -> Option<(usize, Vec<Bytes>)> {
    let db = *p.first()? as usize;
    let argc = u32::from_le_bytes(p.get(1..5)?.try_into().ok()?) as usize;
    let mut pos = 5;
    // Each argument needs at least its 4-byte length: a bound on argc.
    if argc > (p.len() - pos) / 4 {
        return None;
    }
    let mut argv = Vec::with_capacity(argc);
    for _ in 0..argc {
        let len = u32::from_le_bytes(p.get(pos..pos + 4)?.try_into().ok()?) as usize;
        pos += 4;
        if len > p.len() - pos {
            return None;
        }
        argv.push(p.slice(pos..pos + len));
        pos += len;
    }
    (pos == p.len() && argc > 0).then_some((db, argv))
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
        assert_eq!(decode_payload(&payload), Some((3, argv)));
        assert_eq!(decode_payload(&payload.slice(..payload.len() - 1)), None);
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
        };
        let mut block = h.encode();
        assert_eq!(block.len(), BLOCK);
        assert_eq!(SegmentHeader::decode(&block, SEGMENT_MAGIC), Ok(h));
        assert!(SegmentHeader::decode(&block, b"RCSNAP\0\x01").is_err());
        block[13] ^= 1;
        assert!(SegmentHeader::decode(&block, SEGMENT_MAGIC).is_err());
    }
}
