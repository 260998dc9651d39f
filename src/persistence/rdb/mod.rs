//! Redis's serialization of one value, as DUMP writes it and RESTORE reads
//! it: the value in RDB's object encoding, then a 10-byte footer, the RDB
//! version (2 bytes LE) and a CRC-64/Jones (`crc64`) of everything before
//! the checksum (8 bytes LE). A payload taken from redis-server 7.0
//! restores here and the reverse (tests/dump.rs checks both ways).
//!
//! The object is a type byte and the value in that type's encoding. What is
//! read (every encoding Redis 7.0 loads, but zipmap hashes and modules):
//! - strings (`0`), plain, as 8/16/32-bit integers, or LZF-compressed
//!   (`lzf`: Redis compresses strings over 20 bytes, listpacks included);
//! - lists as a plain list (`1`), a ziplist (`10`), a quicklist of
//!   ziplists (`14`) or of listpacks and plain nodes (`18`, Redis 7.0's);
//! - sets as a list of members (`2`) or an intset (`11`);
//! - sorted sets with text (`3`) or binary (`5`) scores, or as a ziplist
//!   (`12`) or listpack (`17`) of member, score pairs;
//! - hashes as field, value pairs (`4`), or a ziplist (`13`) or listpack
//!   (`16`) of them;
//! - streams, Redis 6's (`15`) and 7.0's (`19`) (`stream`).
//!
//! What is written is what redis-server 7.0 writes for the same value
//! where ringcache has the same form: integer-encoded short strings, a
//! quicklist of listpacks of at most 8 KiB (`list-max-listpack-size -2`)
//! for lists, an intset for a set of at most 512 integers, listpacks for
//! compact hashes and sorted sets, field/value pairs and binary scores
//! (highest first) for large ones, Redis 7.0's stream layout. Strings (and
//! the listpacks, which are strings too) over 20 bytes are LZF-compressed
//! when that saves 4 bytes, as Redis does; the compressor is ringcache's
//! own (`lzf`), so such payloads are not byte-equal to Redis's.
//!
//! Reading never trusts the payload: every length and count is checked
//! against the bytes left before anything is allocated or read, blobs must
//! read whole (`packed`), LZF output is bounded by `MAX_INFLATED_BYTES` per
//! payload, and values Redis refuses to load are refused (empty
//! collections, duplicate members or fields, NaN scores, stream IDs out of
//! order). Any failure is `Bad`, which RESTORE answers as Redis does.
//! Stricter than Redis in one way: Redis 7.0 checks a listpack's inner
//! structure only with `sanitize-dump-payload yes`; here always.

mod crc64;
mod lzf;
mod packed;
mod stream;

use crate::keyspace::stream::StreamId;
use crate::keyspace::{encodings, Hash, Set, Value, ZSet};
use bytes::Bytes;
use packed::{read_intset, read_listpack, read_ziplist, write_intset, Elem, ListpackWriter};
use std::borrow::Cow;
use std::collections::VecDeque;

/// The RDB version of Redis 7.0, written in every payload; a payload of a
/// later version is refused, as Redis refuses it.
pub const RDB_VERSION: u16 = 10;
/// Version (2 bytes) and CRC-64 (8 bytes).
const FOOTER_BYTES: usize = 10;
/// Most bytes the LZF strings of one payload may inflate to, all told
/// (Redis's `proto-max-bulk-len` default): a payload of a few bytes cannot
/// claim gigabytes.
pub const MAX_INFLATED_BYTES: usize = 512 << 20;
/// Strings longer than this are LZF-compressed when that pays (Redis's
/// rule with `rdbcompression yes`, its default).
const LZF_MIN_BYTES: usize = 20;

// RDB object types (Redis's `RDB_TYPE_*`).
const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_SET: u8 = 2;
const TYPE_ZSET: u8 = 3;
const TYPE_HASH: u8 = 4;
const TYPE_ZSET_2: u8 = 5;
const TYPE_LIST_ZIPLIST: u8 = 10;
const TYPE_SET_INTSET: u8 = 11;
const TYPE_ZSET_ZIPLIST: u8 = 12;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_LIST_QUICKLIST: u8 = 14;
const TYPE_STREAM_LISTPACKS: u8 = 15;
const TYPE_HASH_LISTPACK: u8 = 16;
const TYPE_ZSET_LISTPACK: u8 = 17;
const TYPE_LIST_QUICKLIST_2: u8 = 18;
const TYPE_STREAM_LISTPACKS_2: u8 = 19;

/// Quicklist node containers (`QUICKLIST_NODE_CONTAINER_*`).
const NODE_PLAIN: u64 = 1;
const NODE_PACKED: u64 = 2;

// Length encodings: the top two bits of the first byte.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const LEN_ENCODED: u8 = 3;
// Special string encodings (`RDB_ENC_*`), after `LEN_ENCODED`.
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Why a payload cannot be restored.
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreError {
    /// Too short, a later RDB version, or a checksum that does not match.
    VersionOrChecksum,
    /// The object inside does not read (what, for the log and tests).
    Bad(&'static str),
}

type R<T> = Result<T, RestoreError>;

fn bad<T>(what: &'static str) -> R<T> {
    Err(RestoreError::Bad(what))
}

/// The payload DUMP gives for a string.
pub fn dump_str(s: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.out.push(TYPE_STRING);
    w.string(s);
    w.finish()
}

/// The payload DUMP gives for a value.
pub fn dump(value: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    match value {
        Value::Str(s) => return dump_str(s),
        Value::List(l) => write_list(&mut w, l),
        Value::Set(s) => write_set(&mut w, s),
        Value::Hash(h) => write_hash(&mut w, h),
        Value::ZSet(z) => write_zset(&mut w, z),
        Value::Stream(s) => {
            w.out.push(TYPE_STREAM_LISTPACKS_2);
            stream::write(&mut w, s);
        }
    }
    w.finish()
}

/// Checks the footer of a payload (Redis's `verifyDumpPayload`); the object
/// bytes before it.
pub fn verify(payload: &[u8]) -> R<&[u8]> {
    if payload.len() < FOOTER_BYTES {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - FOOTER_BYTES);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION {
        return Err(RestoreError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if crc64::crc64(0, &payload[..payload.len() - 8]) != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    Ok(body)
}

/// `body` (a type byte and an object) made a payload: the footer added,
/// with its checksum (for tests and the fuzz target).
pub fn sign(body: &[u8]) -> Vec<u8> {
    let mut w = Writer::default();
    w.raw(body);
    w.finish()
}

/// Reads a payload back into a value (the footer checked first). Bytes
/// after the object are ignored, as Redis ignores them.
pub fn restore(payload: &[u8]) -> R<Value> {
    let body = verify(payload)?;
    let mut r = Reader {
        p: body,
        at: 0,
        inflate_left: MAX_INFLATED_BYTES,
    };
    let kind = r.byte()?;
    read_value(&mut r, kind)
}

fn read_value(r: &mut Reader, kind: u8) -> R<Value> {
    let value = match kind {
        TYPE_STRING => Value::Str(r.bytes()?),
        TYPE_LIST => {
            let n = r.count(1)?;
            let list = (0..n).map(|_| r.bytes()).collect::<R<VecDeque<_>>>()?;
            Value::List(list.into())
        }
        TYPE_LIST_ZIPLIST => {
            let blob = r.string()?;
            let elems = read_ziplist(&blob).ok_or(RestoreError::Bad("ziplist"))?;
            Value::List(elems.into_iter().map(Elem::to_bytes).collect())
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.count(1)?;
            let mut list = VecDeque::new();
            for _ in 0..nodes {
                let container = if kind == TYPE_LIST_QUICKLIST_2 {
                    r.len()?
                } else {
                    NODE_PACKED
                };
                let blob = r.string()?;
                match container {
                    NODE_PLAIN => list.push_back(Bytes::copy_from_slice(&blob)),
                    NODE_PACKED => {
                        let elems = if kind == TYPE_LIST_QUICKLIST_2 {
                            read_listpack(&blob).ok_or(RestoreError::Bad("listpack"))?
                        } else {
                            read_ziplist(&blob).ok_or(RestoreError::Bad("ziplist"))?
                        };
                        // An empty node is skipped, as Redis skips it.
                        list.extend(elems.into_iter().map(Elem::to_bytes));
                    }
                    _ => return bad("quicklist node container"),
                }
            }
            Value::List(list.into())
        }
        TYPE_SET => {
            let n = r.count(1)?;
            let mut set = Set::default();
            for _ in 0..n {
                if !set.insert(r.bytes()?) {
                    return bad("duplicate set member");
                }
            }
            Value::Set(Box::new(set))
        }
        TYPE_SET_INTSET => {
            let blob = r.string()?;
            let values = read_intset(&blob).ok_or(RestoreError::Bad("intset"))?;
            let mut set = Set::default();
            for v in values {
                set.insert(Bytes::from(v.to_string()));
            }
            Value::Set(Box::new(set))
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            // A member takes at least one byte and a score one (text) or eight.
            let n = r.count(if kind == TYPE_ZSET { 2 } else { 9 })?;
            let mut z = ZSet::new();
            for _ in 0..n {
                let member = r.bytes()?;
                let score = if kind == TYPE_ZSET {
                    r.text_double()?
                } else {
                    r.binary_double()?
                };
                if score.is_nan() {
                    return bad("NaN score");
                }
                if z.insert(member, score).is_some() {
                    return bad("duplicate sorted set member");
                }
            }
            Value::ZSet(Box::new(z))
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = r.string()?;
            let elems = packed_elems(&blob, kind == TYPE_ZSET_LISTPACK)?;
            if elems.len() % 2 != 0 {
                return bad("odd sorted set listpack");
            }
            let mut z = ZSet::new();
            for pair in elems.chunks_exact(2) {
                let score = pair[1].as_score().ok_or(RestoreError::Bad("score"))?;
                if z.insert(pair[0].to_bytes(), score).is_some() {
                    return bad("duplicate sorted set member");
                }
            }
            Value::ZSet(Box::new(z))
        }
        TYPE_HASH => {
            let n = r.count(2)?;
            let mut h = Hash::default();
            for _ in 0..n {
                let (field, value) = (r.bytes()?, r.bytes()?);
                if !h.insert(field, value) {
                    return bad("duplicate hash field");
                }
            }
            Value::Hash(h)
        }
        TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = r.string()?;
            let elems = packed_elems(&blob, kind == TYPE_HASH_LISTPACK)?;
            if elems.len() % 2 != 0 {
                return bad("odd hash listpack");
            }
            let mut h = Hash::default();
            for pair in elems.chunks_exact(2) {
                if !h.insert(pair[0].to_bytes(), pair[1].to_bytes()) {
                    return bad("duplicate hash field");
                }
            }
            Value::Hash(h)
        }
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            Value::Stream(Box::new(stream::read(r, kind == TYPE_STREAM_LISTPACKS_2)?))
        }
        _ => return bad("unknown object type"),
    };
    let empty = match &value {
        Value::Str(_) | Value::Stream(_) => false,
        Value::List(l) => l.is_empty(),
        Value::Set(s) => s.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::ZSet(z) => z.is_empty(),
    };
    if empty {
        // Redis never writes an empty collection, and refuses one.
        return bad("empty collection");
    }
    Ok(value)
}

fn packed_elems(blob: &[u8], listpack: bool) -> R<Vec<Elem<'_>>> {
    let elems = if listpack {
        read_listpack(blob)
    } else {
        read_ziplist(blob)
    };
    elems.ok_or(RestoreError::Bad("listpack or ziplist"))
}

/// A cursor over a payload's object bytes; every read is checked.
pub(super) struct Reader<'a> {
    p: &'a [u8],
    at: usize,
    /// What LZF strings may still inflate to (`MAX_INFLATED_BYTES`).
    inflate_left: usize,
}

/// A length field: a length, or the code of a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.p.len() - self.at
    }

    fn take(&mut self, n: u64) -> R<&'a [u8]> {
        match usize::try_from(n) {
            Ok(n) if n <= self.left() => {
                let s = &self.p[self.at..self.at + n];
                self.at += n;
                Ok(s)
            }
            _ => bad("length beyond the payload"),
        }
    }

    fn byte(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    fn length(&mut self) -> R<Len> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            LEN_6BIT => Len::Plain((b & 0x3f) as u64),
            LEN_14BIT => Len::Plain((((b & 0x3f) as u64) << 8) | self.byte()? as u64),
            LEN_ENCODED => Len::Encoded(b & 0x3f),
            _ if b == LEN_32BIT => {
                Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().expect("4")) as u64)
            }
            _ if b == LEN_64BIT => {
                Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
            }
            _ => return bad("length encoding"),
        })
    }

    /// A plain length (an encoded one is corrupt here).
    pub(super) fn len(&mut self) -> R<u64> {
        match self.length()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => bad("encoded length"),
        }
    }

    /// A count of items that take at least `min_bytes` each: one the
    /// payload cannot hold is refused before anything is sized by it.
    pub(super) fn count(&mut self, min_bytes: usize) -> R<usize> {
        let n = self.len()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.left() / min_bytes => Ok(n),
            _ => bad("count beyond the payload"),
        }
    }

    /// A string in any of its encodings.
    pub(super) fn string(&mut self) -> R<Cow<'a, [u8]>> {
        match self.length()? {
            Len::Plain(n) => Ok(Cow::Borrowed(self.take(n)?)),
            Len::Encoded(ENC_INT8) => Ok(int_text(self.byte()? as i8 as i64)),
            Len::Encoded(ENC_INT16) => {
                let b = self.take(2)?;
                Ok(int_text(i16::from_le_bytes([b[0], b[1]]) as i64))
            }
            Len::Encoded(ENC_INT32) => {
                let b = self.take(4)?;
                Ok(int_text(i32::from_le_bytes(b.try_into().expect("4")) as i64))
            }
            Len::Encoded(ENC_LZF) => {
                let (packed_len, len) = (self.len()?, self.len()?);
                let input = self.take(packed_len)?;
                let len = usize::try_from(len).map_err(|_| RestoreError::Bad("LZF length"))?;
                if len > self.inflate_left || len > input.len().saturating_mul(lzf::MAX_EXPANSION) {
                    return bad("LZF length");
                }
                self.inflate_left -= len;
                lzf::decompress(input, len)
                    .map(Cow::Owned)
                    .ok_or(RestoreError::Bad("LZF data"))
            }
            Len::Encoded(_) => bad("string encoding"),
        }
    }

    pub(super) fn bytes(&mut self) -> R<Bytes> {
        Ok(match self.string()? {
            Cow::Borrowed(s) => Bytes::copy_from_slice(s),
            Cow::Owned(v) => Bytes::from(v),
        })
    }

    /// A score as text (`RDB_TYPE_ZSET`: a length byte, 253/254/255 for
    /// NaN, +inf, -inf).
    fn text_double(&mut self) -> R<f64> {
        let n = self.byte()?;
        Ok(match n {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            _ => {
                let text = self.take(n as u64)?;
                crate::util::strtod(text)
                    .ok_or(RestoreError::Bad("score text"))?
                    .0
            }
        })
    }

    fn binary_double(&mut self) -> R<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// A time in ms, 8 bytes LE (`rdbLoadMillisecondTime`).
    pub(super) fn ms_time(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// A stream ID as 16 raw bytes (ms then seq, big-endian).
    pub(super) fn raw_id(&mut self) -> R<StreamId> {
        id_from_be(self.take(16)?).ok_or(RestoreError::Bad("stream ID"))
    }

    /// A stream ID as two lengths.
    pub(super) fn len_id(&mut self) -> R<StreamId> {
        Ok(StreamId::new(self.len()?, self.len()?))
    }
}

fn int_text(v: i64) -> Cow<'static, [u8]> {
    Cow::Owned(v.to_string().into_bytes())
}

fn id_from_be(b: &[u8]) -> Option<StreamId> {
    if b.len() != 16 {
        return None;
    }
    Some(StreamId::new(
        u64::from_be_bytes(b[..8].try_into().ok()?),
        u64::from_be_bytes(b[8..].try_into().ok()?),
    ))
}

fn id_to_be(id: StreamId) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.ms.to_be_bytes());
    out[8..].copy_from_slice(&id.seq.to_be_bytes());
    out
}

/// Builds a payload.
#[derive(Default)]
pub(super) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(super) fn len(&mut self, n: u64) {
        if n < 1 << 6 {
            self.out.push(n as u8);
        } else if n < 1 << 14 {
            self.out.push((LEN_14BIT << 6) | (n >> 8) as u8);
            self.out.push(n as u8);
        } else if let Ok(n32) = u32::try_from(n) {
            self.out.push(LEN_32BIT);
            self.out.extend_from_slice(&n32.to_be_bytes());
        } else {
            self.out.push(LEN_64BIT);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A string: as an integer if it is a short canonical one that fits 32
    /// bits (Redis's `rdbTryIntegerEncoding`), else LZF-compressed if that
    /// saves 4 bytes, else its bytes.
    pub(super) fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(v) = crate::util::parse_i64(s) {
                let enc = LEN_ENCODED << 6;
                if let Ok(v) = i8::try_from(v) {
                    self.out.extend_from_slice(&[enc | ENC_INT8, v as u8]);
                    return;
                } else if let Ok(v) = i16::try_from(v) {
                    self.out.push(enc | ENC_INT16);
                    self.out.extend_from_slice(&v.to_le_bytes());
                    return;
                } else if let Ok(v) = i32::try_from(v) {
                    self.out.push(enc | ENC_INT32);
                    self.out.extend_from_slice(&v.to_le_bytes());
                    return;
                }
            }
        }
        // Redis's `rdbSaveLzfStringObject`: worth it only if it saves at
        // least 4 bytes.
        if s.len() > LZF_MIN_BYTES {
            if let Some(packed) = lzf::compress(s, s.len() - 4) {
                self.out.push((LEN_ENCODED << 6) | ENC_LZF);
                self.len(packed.len() as u64);
                self.len(s.len() as u64);
                self.out.extend_from_slice(&packed);
                return;
            }
        }
        self.len(s.len() as u64);
        self.out.extend_from_slice(s);
    }

    pub(super) fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Appends the footer: version, then the checksum of all before it.
    fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64::crc64(0, &self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}

/// A list as Redis 7.0's quicklist: listpack nodes cut where Redis's
/// `_quicklistNodeAllowInsert` would start a new node under the
/// `list-max-listpack-size` in force.
fn write_list(w: &mut Writer, l: &VecDeque<Bytes>) {
    let fill = encodings::list_node_fill();
    let mut nodes = Vec::new();
    let mut lp = ListpackWriter::default();
    for e in l {
        // Redis's estimate of what the element adds.
        let overhead = if e.len() < 254 { 1 } else { 5 }
            + match e.len() {
                0..=63 => 1,
                64..=16383 => 2,
                _ => 5,
            };
        if lp.count() > 0 && !node_takes(fill, lp.count(), lp.bytes() + e.len() + overhead) {
            nodes.push(std::mem::take(&mut lp).finish());
        }
        lp.push(e);
    }
    if lp.count() > 0 {
        nodes.push(lp.finish());
    }
    w.out.push(TYPE_LIST_QUICKLIST_2);
    w.len(nodes.len() as u64);
    for node in nodes {
        w.len(NODE_PACKED);
        w.string(&node);
    }
}

/// Whether a quicklist node of `count` entries may grow to `bytes`, as
/// Redis 7.0 decides for `list-max-listpack-size` `fill` (clamped to
/// -5..=32767 as `quicklistSetFill` does): negative, a size class (-1 = 4
/// KiB … -5 = 64 KiB); else an entry count within 8 KiB.
fn node_takes(fill: i64, count: usize, bytes: usize) -> bool {
    const SIZE_CLASSES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
    const SIZE_SAFETY_LIMIT: usize = 8192;
    let fill = fill.clamp(-5, (1 << 15) - 1);
    if fill < 0 {
        return bytes <= SIZE_CLASSES[(-fill - 1) as usize];
    }
    bytes <= SIZE_SAFETY_LIMIT && (count as i64) < fill
}

fn write_set(w: &mut Writer, s: &Set) {
    // The form decides, as Redis writes an intset as one.
    if let Set::Ints(_) = s {
        let ints: Option<Vec<i64>> = s.iter().map(|m| crate::util::parse_i64(m)).collect();
        if let Some(ints) = ints {
            w.out.push(TYPE_SET_INTSET);
            w.string(&write_intset(ints));
            return;
        }
    }
    w.out.push(TYPE_SET);
    w.len(s.len() as u64);
    for m in s.iter() {
        w.string(m);
    }
}

fn write_hash(w: &mut Writer, h: &Hash) {
    match h {
        Hash::Small(_) => {
            let mut lp = ListpackWriter::default();
            for (f, v) in h.iter() {
                lp.push(f);
                lp.push(v);
            }
            w.out.push(TYPE_HASH_LISTPACK);
            w.string(&lp.finish());
        }
        Hash::Big(_) => {
            w.out.push(TYPE_HASH);
            w.len(h.len() as u64);
            for (f, v) in h.iter() {
                w.string(f);
                w.string(v);
            }
        }
    }
}

fn write_zset(w: &mut Writer, z: &ZSet) {
    if z.encoding() == "listpack" {
        let mut lp = ListpackWriter::default();
        for (score, m) in z.range(0, z.len()) {
            lp.push(m);
            push_score(&mut lp, score);
        }
        w.out.push(TYPE_ZSET_LISTPACK);
        w.string(&lp.finish());
    } else {
        // Highest first, as Redis walks its skiplist from the tail (loading
        // then inserts each at the head).
        w.out.push(TYPE_ZSET_2);
        w.len(z.len() as u64);
        for (score, m) in z.range(0, z.len()).rev() {
            w.string(m);
            w.raw(&score.to_le_bytes());
        }
    }
}

/// A score in a listpack as Redis's `zzlInsertAt` writes it: `d2string`
/// (an integer for an integral value within ±2^52, else `%.17g`), then
/// stored as an integer if that text is one.
fn push_score(lp: &mut ListpackWriter, score: f64) {
    const LIMIT: f64 = 4503599627370496.0; // 2^52
    if score.fract() == 0.0 && score > -LIMIT && score < LIMIT {
        lp.push_int(score as i64);
    } else {
        lp.push(crate::util::format_double(score).as_bytes());
    }
}

#[cfg(test)]
mod tests;
