//! A shard's snapshot file: every key of the shard as it was at one cut
//! point. Layout (docs/snapshots.md):
//!
//! ```text
//! [header block 4 KiB: magic "RCSNAP\0\x01", version, shard, shards, generation, run id, crc32c]
//! [record]* [footer record] [zeros to a 4 KiB boundary]
//! record = [len: u32 LE][crc32c(payload): u32 LE][payload]
//! entry  = 1, db u8, type u8, expire_at u64 (0 = none), key, count u32, items
//! more   = 2, db u8, type u8, key, count u32, items   (the next items of that key)
//! open   = 3, as entry                                 (a key whose `more` records may come later)
//! footer = 0xFF, keys u64, record bytes u64, cut_ms u64, crc32c of every record before it
//! ```
//!
//! Strings are `[len: u32][bytes]`; a collection's items are its elements
//! (a hash's as field, value; a sorted set's as score f64 LE, member). A big
//! collection is split into records of about `MAX_RECORD_PAYLOAD_BYTES`
//! (the size rule, `record`), so no record grows with the value; a record
//! that passes the rule (a big string or element) is a chain of fragments,
//! which the reader joins. The records of one key follow each other,
//! but for the one `open` key at a time: a value the writer serialized over
//! several steps, between which other keys' records may come. Keys come in
//! no particular order (slots are serialized as the writer
//! reaches them, or earlier when a command is about to change one).
//!
//! The encoder here only makes bytes; the shard's core writes them with
//! O_DIRECT (`DmaSink`), the offline re-sharding with plain writes
//! (`FileSink`). Loading is a sequential read with checksums all the way.

use super::disk::{self, Appender, CachedFile, DirectFile, Issue};
use super::record::{self, Framing, SegmentHeader, BLOCK, HEADER_BYTES, MAX_RECORD_PAYLOAD_BYTES};
use crate::keyspace::stream::{Group, StreamId};
use crate::keyspace::{Entry, Hash, Keyspace, Set, Stream, Value, ZSet};
use bytes::Bytes;
use std::fs::File;
use std::io::Read;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const SNAPSHOT_MAGIC: &[u8; 8] = b"RCSNAP\0\x01";

const TAG_ENTRY: u8 = 1;
const TAG_MORE: u8 = 2;
/// The first record of a key written over several steps of the writer.
const TAG_OPEN: u8 = 3;

/// Whether a record with this tag is a key's first (the footer counts them).
pub(crate) fn starts_key(tag: u8) -> bool {
    tag == TAG_ENTRY || tag == TAG_OPEN
}
pub(crate) const TAG_FOOTER: u8 = 0xFF;
/// tag, keys u64, record bytes u64, cut_ms u64, crc u32.
pub(crate) const FOOTER_BYTES: usize = 29;

const TYPE_STR: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_HASH: u8 = 2;
const TYPE_SET: u8 = 3;
const TYPE_ZSET: u8 = 4;
/// A stream's items are self-describing blobs (`stream_items`).
const TYPE_STREAM: u8 = 5;

/// Where a shard's snapshot of generation `generation` lives.
pub fn path(dir: &Path, shard: usize, generation: u64) -> PathBuf {
    dir.join("snapshot")
        .join(format!("shard-{shard:03}-{generation:08}.snap"))
}

/// The header block of a snapshot.
pub fn header(shard: usize, shards: usize, generation: u64) -> Vec<u8> {
    SegmentHeader {
        magic: SNAPSHOT_MAGIC,
        shard: shard as u32,
        shards: shards as u32,
        sequence: generation,
        run_id: crate::process::run_id().to_string(),
        version: record::FORMAT_VERSION,
    }
    .encode()
}

/// Appends the records of one whole entry.
pub fn encode_entry(out: &mut Vec<u8>, db: usize, e: &Entry) {
    encode_entry_from(out, db, e, 0, usize::MAX);
}

/// Appends the records of an entry from its item `from` on, stopping
/// between records once `out` holds `stop_at` bytes: this is the
/// `EncodeFn` the keyspace's cut calls (see `keyspace::cut`). A value that
/// may not fit the step starts with an `open` record, whose parts may have
/// other keys' records between them.
pub fn encode_entry_from(
    out: &mut Vec<u8>,
    db: usize,
    e: &Entry,
    from: usize,
    stop_at: usize,
) -> Option<usize> {
    // A collection of two items or more may take several records (an item
    // is never split between records; a record bigger than the size rule
    // is a chain of fragments).
    let first_tag = if stop_at != usize::MAX && e.value().map_or(1, items) > 1 {
        TAG_OPEN
    } else {
        TAG_ENTRY
    };
    let head = Head {
        db,
        key: e.key(),
        expire: e.expire_at().unwrap_or(0),
        first_tag,
    };
    let stop = (from, stop_at);
    // A string, held inline or as a `Value`.
    if let Some(s) = e.str() {
        return parts(
            out,
            &head,
            TYPE_STR,
            std::iter::once(s),
            stop,
            record::put_bytes,
        );
    }
    let put = |o: &mut Vec<u8>, b: &Bytes| record::put_bytes(o, b);
    match e.value()? {
        // Written above.
        Value::Str(_) => None,
        Value::List(l) => parts(
            out,
            &head,
            TYPE_LIST,
            l.range(from.min(l.len())..),
            stop,
            put,
        ),
        Value::Set(s) => parts(out, &head, TYPE_SET, s.iter_from(from), stop, put),
        Value::Hash(h) => parts(
            out,
            &head,
            TYPE_HASH,
            h.iter_from(from),
            stop,
            |o, (f, v)| {
                record::put_bytes(o, f);
                record::put_bytes(o, v);
            },
        ),
        Value::ZSet(z) => parts(
            out,
            &head,
            TYPE_ZSET,
            z.iter_from(from),
            stop,
            |o, (m, s)| {
                o.extend_from_slice(&s.to_le_bytes());
                put(o, m);
            },
        ),
        Value::Stream(s) => parts(
            out,
            &head,
            TYPE_STREAM,
            stream_items(s, from),
            stop,
            |o, b| put(o, &b),
        ),
    }
}

/// How many items a value's records carry.
fn items(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::Hash(h) => h.len(),
        Value::ZSet(z) => z.len(),
        Value::Stream(s) => s.len() as usize + stream_tail(s).len(),
    }
}

// A stream's items: one per entry (`ITEM_ENTRY`: ms, seq, count, then
// field, value...), then per group the group (`ITEM_GROUP`: last ID,
// entries read, name), its consumers (`ITEM_CONSUMER`: seen time, group,
// name) and its pending entries (`ITEM_PENDING`: ID, delivery time,
// deliveries, group, consumer), and last the stream's counters
// (`ITEM_META`: last ID, entries added, max deleted ID), which loading
// sets after the entries are in. Numbers are u64 LE, strings u32-length
// prefixed.
const ITEM_META: u8 = 0;
const ITEM_ENTRY: u8 = 1;
const ITEM_GROUP: u8 = 2;
const ITEM_CONSUMER: u8 = 3;
const ITEM_PENDING: u8 = 4;

fn put_id(o: &mut Vec<u8>, id: StreamId) {
    o.extend_from_slice(&id.ms.to_le_bytes());
    o.extend_from_slice(&id.seq.to_le_bytes());
}

/// A stream's items from the `from`th on.
fn stream_items(s: &Stream, from: usize) -> impl Iterator<Item = Bytes> + '_ {
    let n = s.len() as usize;
    let entries = s.entries_from(from.min(n)).map(|e| {
        let mut o = vec![ITEM_ENTRY];
        put_id(&mut o, e.id);
        o.extend_from_slice(&(e.fields.len() as u32).to_le_bytes());
        e.fields.iter().for_each(|f| record::put_bytes(&mut o, f));
        Bytes::from(o)
    });
    entries.chain(stream_tail(s).into_iter().skip(from.saturating_sub(n)))
}

/// The items after a stream's entries: groups, consumers, PEL, counters.
fn stream_tail(s: &Stream) -> Vec<Bytes> {
    let mut out = Vec::new();
    for (name, g) in &s.groups {
        let mut o = vec![ITEM_GROUP];
        put_id(&mut o, g.last_id);
        o.extend_from_slice(&g.entries_read.to_le_bytes());
        record::put_bytes(&mut o, name);
        out.push(Bytes::from(o));
        for (cname, c) in &g.consumers {
            let mut o = vec![ITEM_CONSUMER];
            o.extend_from_slice(&c.seen_time.to_le_bytes());
            record::put_bytes(&mut o, name);
            record::put_bytes(&mut o, cname);
            out.push(Bytes::from(o));
        }
        for (id, p) in &g.pel {
            let mut o = vec![ITEM_PENDING];
            put_id(&mut o, *id);
            o.extend_from_slice(&p.delivery_time.to_le_bytes());
            o.extend_from_slice(&p.delivery_count.to_le_bytes());
            record::put_bytes(&mut o, name);
            record::put_bytes(&mut o, &p.consumer);
            out.push(Bytes::from(o));
        }
    }
    let mut o = vec![ITEM_META];
    put_id(&mut o, s.last_id);
    o.extend_from_slice(&s.entries_added.to_le_bytes());
    put_id(&mut o, s.max_deleted_id);
    out.push(Bytes::from(o));
    out
}

/// Applies one stream item read back; `None` if it is malformed or does
/// not fit what came before (an entry not above the last, a consumer of
/// a group not seen).
fn restore_stream_item(s: &mut Stream, item: &Bytes) -> Option<()> {
    let mut c = Cursor { p: item, pos: 0 };
    let id = |c: &mut Cursor| Some(StreamId::new(c.u64()?, c.u64()?));
    match c.u8()? {
        ITEM_ENTRY => {
            let at = id(&mut c)?;
            let n = c.u32()? as usize;
            if !n.is_multiple_of(2)
                || n > item.len() / 4
                || (at <= s.last_id && !s.is_empty())
                || at.is_zero()
            {
                return None;
            }
            let fields = (0..n).map(|_| c.bytes()).collect::<Option<Vec<_>>>()?;
            if at <= s.last_id {
                return None;
            }
            s.append(at, &fields);
        }
        ITEM_GROUP => {
            let last = id(&mut c)?;
            let read = c.u64()? as i64;
            let name = c.bytes()?;
            s.groups.insert(name, Group::new(last, read));
        }
        ITEM_CONSUMER => {
            let seen = c.u64()?;
            let group = c.bytes()?;
            let name = c.bytes()?;
            s.groups.get_mut(&group)?.consumer(&name, seen);
        }
        ITEM_PENDING => {
            let at = id(&mut c)?;
            let (time, count) = (c.u64()?, c.u64()?);
            let group = c.bytes()?;
            let consumer = c.bytes()?;
            let g = s.groups.get_mut(&group)?;
            g.consumers.get(&consumer)?;
            g.assign(at, &consumer, time, count);
        }
        ITEM_META => {
            let last = id(&mut c)?;
            // Never below an entry: later IDs are deltas from the blocks'.
            if s.last().is_some_and(|e| e.id > last) {
                return None;
            }
            s.last_id = last;
            s.entries_added = c.u64()?;
            s.max_deleted_id = id(&mut c)?;
        }
        _ => return None,
    }
    c.done().then_some(())
}

/// What the first record of a key says about it.
struct Head<'a> {
    db: usize,
    key: &'a [u8],
    expire: u64,
    /// `TAG_ENTRY` or `TAG_OPEN`.
    first_tag: u8,
}

/// Records of about `MAX_RECORD_PAYLOAD_BYTES` each, the first (when `from` is
/// 0) an entry or open record and the rest `more` records, until the items
/// end (`None`) or `out` holds `stop_at` bytes (the item to go on from).
fn parts<I>(
    out: &mut Vec<u8>,
    head: &Head,
    kind: u8,
    items: impl Iterator<Item = I>,
    (from, stop_at): (usize, usize),
    put: impl Fn(&mut Vec<u8>, I),
) -> Option<usize> {
    let mut items = items.peekable();
    let mut at = from;
    loop {
        let first = at == 0;
        record::frame(out, |o| {
            let tag = if first { head.first_tag } else { TAG_MORE };
            o.extend_from_slice(&[tag, head.db as u8, kind]);
            if first {
                o.extend_from_slice(&head.expire.to_le_bytes());
            }
            record::put_bytes(o, head.key);
            let count_at = o.len();
            o.extend_from_slice(&[0; 4]);
            // Items until the record reaches the size rule's bytes (the last
            // one may pass it: the record is then fragmented).
            let mut n = 0u32;
            while o.len() - count_at < MAX_RECORD_PAYLOAD_BYTES {
                let Some(item) = items.next() else { break };
                put(o, item);
                n += 1;
            }
            o[count_at..count_at + 4].copy_from_slice(&n.to_le_bytes());
            at += n as usize;
        });
        // No items left: the entry is complete.
        items.peek()?;
        if out.len() >= stop_at {
            return Some(at);
        }
    }
}

/// The running totals a snapshot's footer records: keys, the bytes of the
/// records, and their crc32c (the whole-file checksum).
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub keys: u64,
    pub bytes: u64,
    crc: u32,
}

impl Totals {
    /// Adds whole framed records holding `keys` keys, in file order.
    pub fn add(&mut self, records: &[u8], keys: u64) {
        self.crc = crc32c::crc32c_append(self.crc, records);
        self.bytes += records.len() as u64;
        self.keys += keys;
    }

    /// The footer record, padded with zeros to the end of its block: the
    /// last bytes of the file.
    pub fn footer(&self, cut_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        record::frame(&mut out, |o| {
            o.push(TAG_FOOTER);
            o.extend_from_slice(&self.keys.to_le_bytes());
            o.extend_from_slice(&self.bytes.to_le_bytes());
            o.extend_from_slice(&cut_ms.to_le_bytes());
            o.extend_from_slice(&self.crc.to_le_bytes());
        });
        let written = BLOCK as u64 + self.bytes;
        let end = record::align_up(written + out.len() as u64);
        out.resize((end - written) as usize, 0);
        out
    }
}

/// What a snapshot held, once loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loaded {
    pub keys: u64,
    pub bytes: u64,
    pub cut_ms: u64,
}

/// Reads a snapshot into `ks`, checking every record and the footer.
/// `expect` is the (shard, shards, generation) the manifest names; `keep`
/// says which keys belong in `ks` (all of them unless re-sharding);
/// `progress` is told of each megabyte read.
pub fn load(
    file: &Path,
    expect: (usize, usize, u64),
    ks: &mut Keyspace,
    keep: &dyn Fn(&[u8]) -> bool,
    progress: &mut dyn FnMut(u64),
) -> Result<Loaded, String> {
    let bad = |what: String| format!("{}: {what}", file.display());
    let f = File::open(file).map_err(|e| bad(e.to_string()))?;
    decode(f, expect, ks, keep, progress).map_err(bad)
}

/// `load` from any reader of a snapshot's bytes (the file, or in memory
/// when fuzzing); errors do not name the file.
pub fn decode(
    mut f: impl Read,
    expect: (usize, usize, u64),
    ks: &mut Keyspace,
    keep: &dyn Fn(&[u8]) -> bool,
    progress: &mut dyn FnMut(u64),
) -> Result<Loaded, String> {
    let mut block = vec![0u8; BLOCK];
    f.read_exact(&mut block)
        .map_err(|e| format!("cannot read the header: {e}"))?;
    let h = SegmentHeader::decode(&block, SNAPSHOT_MAGIC)?;
    if (h.shard as usize, h.shards as usize, h.sequence) != expect {
        return Err(format!(
            "is shard {} of {}, generation {}, but the manifest expects shard {} of {}, generation {}",
            h.shard, h.shards, h.sequence, expect.0, expect.1, expect.2
        ));
    }
    let mut reader = Records::new(f, BLOCK as u64, Framing::of_version(h.version));
    let mut keys = 0;
    // The key whose records came last, and the one key whose records may
    // still come after others' (written over several steps: `TAG_OPEN`).
    let mut current: Option<Building> = None;
    let mut open: Option<Building> = None;
    let mut reported = 0;
    loop {
        if reader.pos - reported >= 1 << 20 {
            progress(reader.pos - reported);
            reported = reader.pos;
        }
        let at = reader.pos;
        let read = Totals {
            keys,
            bytes: at - BLOCK as u64,
            crc: reader.crc,
        };
        let Some(record) = reader.next()? else {
            return Err(format!(
                "ends at offset {at} without its footer (the file is truncated)"
            ));
        };
        let corrupt = |what: &str| format!("bad record at offset {at}: {what}");
        let too_few_databases = |db: usize| {
            format!(
                "holds keys of database {db}, but this server has {} databases: start it with --databases {} or more",
                ks.databases(),
                db + 1
            )
        };
        let payload = reader.payload(&record);
        if let Some((db, expire, key, value)) = whole_string(payload) {
            // Most keys of a cache: stored straight from the read buffer.
            if db >= ks.databases() {
                return Err(too_few_databases(db));
            }
            keys += 1;
            if let Some(done) = current.take() {
                done.store(ks, keep);
            }
            if keep(key) {
                ks.insert_str(db, key, value, (expire != 0).then_some(expire));
            }
            reader.joined = Vec::new();
            continue;
        }
        // A chain's payload is moved, not copied (and not kept for the
        // next chain: it may be hundreds of megabytes).
        let payload = match record {
            Payload::Buffered(r) => Bytes::copy_from_slice(&reader.buf[r]),
            Payload::Joined => Bytes::from(std::mem::take(&mut reader.joined)),
        };
        if payload.first() == Some(&TAG_FOOTER) {
            let (footer, cut_ms) = Footer::decode(&payload).ok_or_else(|| corrupt("footer"))?;
            if footer != read {
                return Err(format!(
                    "whole-file check failed: the footer says {footer:?}, the file holds {read:?}"
                ));
            }
            for b in [current.take(), open.take()].into_iter().flatten() {
                b.store(ks, keep);
            }
            return Ok(Loaded {
                keys,
                bytes: reader.pos,
                cut_ms,
            });
        }
        keys += payload.first().is_some_and(|&tag| starts_key(tag)) as u64;
        let item = Item::decode(&payload).ok_or_else(|| corrupt("undecodable"))?;
        match item {
            Item::Entry { building, open: o } => {
                // As Redis: data of a database this server does not have
                // stops the start rather than vanishing.
                if building.db >= ks.databases() {
                    return Err(too_few_databases(building.db));
                }
                let slot = if o { &mut open } else { &mut current };
                if let Some(done) = slot.replace(building) {
                    done.store(ks, keep);
                }
            }
            Item::More { db, key, items } => {
                let continued = [&mut current, &mut open]
                    .into_iter()
                    .find_map(|b| b.as_mut().filter(|b| b.db == db && b.key == key));
                match continued {
                    Some(b) => b.extend(items)?,
                    None => return Err(corrupt("continues a key that did not come before it")),
                }
            }
        }
    }
}

/// A record that is a whole string key (the first and only record of a
/// key of type string): its database, expiry, key and value, borrowed.
/// Anything else, well-formed or not, is left to `Item::decode`.
fn whole_string(p: &[u8]) -> Option<(usize, u64, &[u8], &[u8])> {
    fn take<'a>(p: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = p.split_at_checked(n)?;
        *p = rest;
        Some(head)
    }
    fn u32_at(p: &mut &[u8]) -> Option<usize> {
        Some(u32::from_le_bytes(take(p, 4)?.try_into().ok()?) as usize)
    }
    let mut p = p;
    let [tag, db, kind] = take(&mut p, 3)? else {
        return None;
    };
    if (*tag, *kind) != (TAG_ENTRY, TYPE_STR) {
        return None;
    }
    let expire = u64::from_le_bytes(take(&mut p, 8)?.try_into().ok()?);
    let key_len = u32_at(&mut p)?;
    let key = take(&mut p, key_len)?;
    if u32_at(&mut p)? != 1 {
        return None;
    }
    let value_len = u32_at(&mut p)?;
    let value = take(&mut p, value_len)?;
    p.is_empty().then_some((*db as usize, expire, key, value))
}

/// A key being rebuilt from its records.
struct Building {
    db: usize,
    key: Bytes,
    expire: u64,
    value: Value,
}

impl Building {
    fn extend(&mut self, items: Items) -> Result<(), String> {
        match (&mut self.value, items) {
            (Value::List(l), Items::Plain(v)) => l.extend(v),
            (Value::Set(s), Items::Plain(v)) => v.into_iter().for_each(|m| {
                s.insert(m);
            }),
            (Value::Hash(h), Items::Pairs(v)) => v.into_iter().for_each(|(f, x)| {
                h.insert(f, x);
            }),
            (Value::ZSet(z), Items::Scored(v)) => v.into_iter().for_each(|(s, m)| {
                z.insert(m, s);
            }),
            (Value::Stream(s), Items::Plain(v)) => {
                for item in &v {
                    restore_stream_item(s, item).ok_or("a malformed stream item")?;
                }
            }
            _ => return Err("a continuation record of another type".into()),
        }
        Ok(())
    }

    fn store(self, ks: &mut Keyspace, keep: &dyn Fn(&[u8]) -> bool) {
        if keep(&self.key) {
            ks.insert(
                self.db,
                &self.key,
                self.value,
                (self.expire != 0).then_some(self.expire),
            );
        }
    }
}

enum Items {
    Plain(Vec<Bytes>),
    Pairs(Vec<(Bytes, Bytes)>),
    Scored(Vec<(f64, Bytes)>),
}

enum Item {
    /// A key's first record; `open` when its later records may come after
    /// other keys' (`TAG_OPEN`).
    Entry {
        building: Building,
        open: bool,
    },
    More {
        db: usize,
        key: Bytes,
        items: Items,
    },
}

/// A cursor over a verified payload; every read is bounds-checked.
struct Cursor<'a> {
    p: &'a Bytes,
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.p.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<Bytes> {
        let n = self.u32()? as usize;
        let start = self.pos;
        self.take(n)?;
        Some(self.p.slice(start..start + n))
    }
    fn done(&self) -> bool {
        self.pos == self.p.len()
    }
}

impl Item {
    fn decode(p: &Bytes) -> Option<Item> {
        let mut c = Cursor { p, pos: 0 };
        let tag = c.u8()?;
        let db = c.u8()? as usize;
        let kind = c.u8()?;
        let first = starts_key(tag);
        let expire = if first { c.u64()? } else { 0 };
        let key = c.bytes()?;
        let n = c.u32()? as usize;
        // Every item takes at least 4 bytes: a bound on what to reserve.
        if n > p.len() / 4 {
            return None;
        }
        let items = match kind {
            TYPE_STR | TYPE_LIST | TYPE_SET | TYPE_STREAM => {
                Items::Plain((0..n).map(|_| c.bytes()).collect::<Option<_>>()?)
            }
            TYPE_HASH => Items::Pairs(
                (0..n)
                    .map(|_| Some((c.bytes()?, c.bytes()?)))
                    .collect::<Option<_>>()?,
            ),
            TYPE_ZSET => Items::Scored(
                (0..n)
                    .map(|_| {
                        let s = f64::from_le_bytes(c.take(8)?.try_into().ok()?);
                        Some((s, c.bytes()?)).filter(|_| !s.is_nan())
                    })
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        };
        if !c.done() {
            return None;
        }
        if tag == TAG_MORE {
            return Some(Item::More { db, key, items });
        }
        if !first {
            return None;
        }
        let open = tag == TAG_OPEN;
        // A key's first record holds at least one element: the keyspace
        // never holds an empty collection, so a file cannot bring one.
        if n == 0 {
            return None;
        }
        // Collections start empty and are filled through their own insert,
        // which picks the compact or the full form.
        let value = match (kind, items) {
            (TYPE_STR, Items::Plain(mut v)) if v.len() == 1 => {
                let value = Value::Str(v.pop()?);
                let building = Building {
                    db,
                    key,
                    expire,
                    value,
                };
                return Some(Item::Entry { building, open });
            }
            (TYPE_LIST, items) => (Value::List(Default::default()), items),
            (TYPE_SET, items) => (Value::Set(Box::<Set>::default()), items),
            (TYPE_HASH, items) => (Value::Hash(Hash::default()), items),
            (TYPE_ZSET, items) => (Value::ZSet(Box::<ZSet>::default()), items),
            (TYPE_STREAM, items) => (Value::Stream(Box::<Stream>::default()), items),
            _ => return None,
        };
        let mut b = Building {
            db,
            key,
            expire,
            value: value.0,
        };
        b.extend(value.1).ok()?;
        Some(Item::Entry { building: b, open })
    }
}

struct Footer;

impl Footer {
    /// The totals a footer records, and the cut time.
    fn decode(p: &Bytes) -> Option<(Totals, u64)> {
        let mut c = Cursor { p, pos: 1 };
        let (keys, bytes, cut_ms, crc) = (c.u64()?, c.u64()?, c.u64()?, c.u32()?);
        c.done().then_some((Totals { keys, bytes, crc }, cut_ms))
    }
}

/// Framed records read one after another from a file; a chain of
/// fragments comes out as the one logical record it makes.
struct Records<R> {
    file: R,
    framing: Framing,
    buf: Vec<u8>,
    start: usize,
    /// File offset of `buf[start]`.
    pos: u64,
    /// crc32c of every record read so far.
    crc: u32,
    eof: bool,
    /// The payload of the last record if it was a chain of fragments, joined.
    joined: Vec<u8>,
}

/// Where the payload of the record `Records::next` read is.
enum Payload {
    /// In the read buffer.
    Buffered(std::ops::Range<usize>),
    /// In `joined`: a chain of fragments.
    Joined,
}

const READ_BYTES: usize = 4 << 20;

impl<R: Read> Records<R> {
    fn new(file: R, pos: u64, framing: Framing) -> Records<R> {
        Records {
            file,
            framing,
            buf: Vec::new(),
            start: 0,
            pos,
            crc: 0,
            eof: false,
            joined: Vec::new(),
        }
    }

    /// Makes at least `n` bytes available from `start`, unless the file ends.
    fn fill(&mut self, n: usize) -> Result<bool, String> {
        while self.buf.len() - self.start < n && !self.eof {
            self.buf.drain(..self.start);
            self.start = 0;
            // Grown a read at a time: a length field claiming a gigabyte
            // costs memory only as far as the file really goes.
            let have = self.buf.len();
            self.buf.resize(have + READ_BYTES, 0);
            let got = self
                .file
                .read(&mut self.buf[have..])
                .map_err(|e| e.to_string())?;
            self.buf.truncate(have + got);
            self.eof = got == 0;
        }
        Ok(self.buf.len() - self.start >= n)
    }

    /// The next logical record's payload; `None` at the end of the file. A
    /// bad checksum, or a chain of fragments that does not hold together,
    /// is an error.
    fn next(&mut self) -> Result<Option<Payload>, String> {
        let Some((first, payload)) = self.fragment()? else {
            return Ok(None);
        };
        if first.continuation {
            return Err(format!(
                "a record fragment continues nothing, at offset {}",
                self.pos - (HEADER_BYTES + first.len) as u64
            ));
        }
        self.joined = Vec::new();
        if !first.more {
            return Ok(Some(Payload::Buffered(payload)));
        }
        let mut joined = Vec::new();
        joined.extend_from_slice(&self.buf[payload]);
        loop {
            let Some((f, payload)) = self.fragment()? else {
                return Ok(None);
            };
            if !f.continuation {
                return Err(format!(
                    "a chain of record fragments breaks off before offset {}",
                    self.pos - (HEADER_BYTES + f.len) as u64
                ));
            }
            joined.extend_from_slice(&self.buf[payload]);
            if !f.more {
                break;
            }
        }
        self.joined = joined;
        Ok(Some(Payload::Joined))
    }

    fn payload(&self, p: &Payload) -> &[u8] {
        match p {
            Payload::Buffered(r) => &self.buf[r.clone()],
            Payload::Joined => &self.joined,
        }
    }

    /// The next record (one fragment): its header and where its payload is
    /// in `buf`; `None` at the end of the file.
    fn fragment(&mut self) -> Result<Option<(record::Fragment, std::ops::Range<usize>)>, String> {
        if !self.fill(HEADER_BYTES)? {
            return Ok(None);
        }
        let h: [u8; HEADER_BYTES] = self.buf[self.start..self.start + HEADER_BYTES]
            .try_into()
            .map_err(|_| "short header".to_string())?;
        let f = match self.framing.header(&h) {
            Some(f) if f.len > 0 => f,
            _ => {
                let word = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
                return Err(format!(
                    "bad record length {word:#x} at offset {} (records carry at most {} bytes)",
                    self.pos,
                    self.framing.max_record_bytes()
                ));
            }
        };
        if !self.fill(HEADER_BYTES + f.len)? {
            return Ok(None);
        }
        let framed = &self.buf[self.start..self.start + HEADER_BYTES + f.len];
        if crc32c::crc32c(&framed[HEADER_BYTES..]) != f.crc {
            return Err(format!("checksum mismatch at offset {}", self.pos));
        }
        self.crc = crc32c::crc32c_append(self.crc, framed);
        let payload = self.start + HEADER_BYTES..self.start + HEADER_BYTES + f.len;
        self.start += HEADER_BYTES + f.len;
        self.pos += (HEADER_BYTES + f.len) as u64;
        Ok(Some((f, payload)))
    }
}

/// Bytes gathered before a write: large sequential writes, few of them.
const WRITE_BYTES: usize = 1 << 20;

/// A base being written by its shard's core, with O_DIRECT, under a
/// temporary name until `finish` publishes it: a snapshot, or (AOF-only
/// mode) a log base, a segment of the commands that rebuild every key.
pub struct DmaSink {
    file: DirectFile,
    tmp: PathBuf,
    path: PathBuf,
    /// File offset of `pending[0]` (always block-aligned).
    pos: u64,
    pending: Vec<u8>,
    totals: Totals,
    /// A log base: no footer, and no record header in a block's last bytes.
    log: bool,
}

impl DmaSink {
    /// Snapshot `generation` of `shard`.
    pub async fn create(
        dir: &Path,
        shard: usize,
        shards: usize,
        generation: u64,
    ) -> Result<DmaSink, String> {
        let (path, tmp) = paths(dir, shard, generation)?;
        DmaSink::open(path, tmp, header(shard, shards, generation), false).await
    }

    /// Log base `generation` of `shard`: records from `rewrite::encode_entry_from`.
    pub async fn create_log_base(
        dir: &Path,
        shard: usize,
        shards: usize,
        generation: u64,
    ) -> Result<DmaSink, String> {
        let path = super::aof::base_path(dir, shard, generation);
        disk::create_dir(&dir.join("aof"))?;
        let tmp = path.with_extension("aof.tmp");
        let header = super::aof::segment_header(shard, shards, generation);
        DmaSink::open(path, tmp, header, true).await
    }

    async fn open(
        path: PathBuf,
        tmp: PathBuf,
        header: Vec<u8>,
        log: bool,
    ) -> Result<DmaSink, String> {
        let file = DirectFile::create(&tmp).await?;
        Ok(DmaSink {
            file,
            tmp,
            path,
            pos: 0,
            pending: {
                let mut p = Vec::with_capacity(2 * WRITE_BYTES);
                p.extend_from_slice(&header);
                p
            },
            totals: Totals::default(),
            log,
        })
    }

    /// Takes whole records holding `keys` keys (checksummed as they come);
    /// `write_full_blocks` writes them out once a write's worth is waiting.
    /// Two calls, so that the writer can tell its CPU time (this one) from
    /// its waits on the disk.
    pub fn push(&mut self, records: &[u8], keys: u64) {
        self.totals.add(records, keys);
        if self.log {
            // The log reader takes a block's last bytes for padding: a
            // record that would start there starts on the next block.
            record::append_placed(&mut self.pending, self.pos, records);
        } else {
            self.pending.extend_from_slice(records);
        }
    }

    /// Writes what `push` gathered once it is at least `WRITE_BYTES`.
    pub async fn write_full_blocks(&mut self) -> Result<(), String> {
        if self.pending.len() >= WRITE_BYTES {
            // Whole blocks go; the partial tail moves to the front. The
            // buffer keeps its capacity: no allocation per write.
            let whole = self.pending.len() / BLOCK * BLOCK;
            self.flush(whole).await?;
            self.pending.drain(..whole);
        }
        Ok(())
    }

    /// Writes `pending[..n]` at the current position.
    async fn flush(&mut self, n: usize) -> Result<(), String> {
        self.file
            .write_padded(&self.pending[..n], self.pos, Issue::Ring)
            .await?;
        self.pos += n as u64;
        Ok(())
    }

    /// Writes the footer (a log base: zeros to the end of the block, which
    /// the log reader skips), syncs, and renames the file into place.
    pub async fn finish(mut self, cut_ms: u64) -> Result<(PathBuf, Totals), String> {
        if self.log {
            let end = record::align_up(self.pos + self.pending.len() as u64);
            self.pending.resize((end - self.pos) as usize, 0);
        } else {
            let footer = self.totals.footer(cut_ms);
            self.pending.extend_from_slice(&footer);
        }
        self.flush(self.pending.len()).await?;
        self.file.sync(Issue::Ring).await?;
        self.file.close().await?;
        disk::publish(&self.tmp, &self.path)?;
        Ok((self.path, self.totals))
    }

    /// Gives up: the temporary file is removed.
    pub async fn abandon(self) {
        let _ = self.file.close().await;
        let _ = disk::remove(&self.tmp);
    }
}

/// A snapshot written with ordinary buffered writes: the offline re-sharding
/// at start-up, before any executor runs.
pub struct FileSink {
    out: std::io::BufWriter<Appender>,
    tmp: PathBuf,
    path: PathBuf,
    totals: Totals,
}

impl FileSink {
    pub fn create(
        dir: &Path,
        shard: usize,
        shards: usize,
        generation: u64,
    ) -> Result<FileSink, String> {
        let (path, tmp) = paths(dir, shard, generation)?;
        let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
        let file = CachedFile::create(&tmp)?;
        let mut out = std::io::BufWriter::with_capacity(WRITE_BYTES, Appender { file, pos: 0 });
        out.write_all(&header(shard, shards, generation))
            .map_err(io)?;
        Ok(FileSink {
            out,
            tmp,
            path,
            totals: Totals::default(),
        })
    }

    pub fn write(&mut self, records: &[u8], keys: u64) -> Result<(), String> {
        self.totals.add(records, keys);
        self.out
            .write_all(records)
            .map_err(|e| format!("{}: {e}", self.tmp.display()))
    }

    pub fn finish(mut self, cut_ms: u64) -> Result<PathBuf, String> {
        let io = |e: std::io::Error| format!("{}: {e}", self.tmp.display());
        self.out
            .write_all(&self.totals.footer(cut_ms))
            .map_err(io)?;
        let appender = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        appender.file.sync()?;
        disk::publish(&self.tmp, &self.path)?;
        Ok(self.path)
    }
}

/// A snapshot's name and the temporary name it is written under; makes
/// sure their directory exists.
fn paths(dir: &Path, shard: usize, generation: u64) -> Result<(PathBuf, PathBuf), String> {
    let path = path(dir, shard, generation);
    disk::create_dir(&dir.join("snapshot"))?;
    let tmp = path.with_extension("snap.tmp");
    Ok((path, tmp))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot file of `records` (framed), its footer's totals right.
    fn file_of(records: &[u8], version: u32) -> Vec<u8> {
        let mut file = SegmentHeader {
            magic: SNAPSHOT_MAGIC,
            shard: 0,
            shards: 1,
            sequence: 1,
            run_id: "test".into(),
            version,
        }
        .encode();
        let mut totals = Totals::default();
        let mut at = 0;
        let framing = Framing::of_version(version);
        let mut keys = 0;
        while at < records.len() {
            let h: [u8; HEADER_BYTES] = records[at..at + HEADER_BYTES].try_into().unwrap();
            let f = framing.header(&h).unwrap();
            keys += (!f.continuation && starts_key(records[at + HEADER_BYTES])) as u64;
            at += HEADER_BYTES + f.len;
        }
        totals.add(records, keys);
        file.extend_from_slice(records);
        file.extend_from_slice(&totals.footer(7));
        file
    }

    fn load(file: &[u8]) -> Result<Keyspace, String> {
        let mut ks = Keyspace::new(0, 1, 2);
        decode(file, (0, 1, 1), &mut ks, &|_| true, &mut |_| {})?;
        Ok(ks)
    }

    /// Every record of `records` within the size rule (its header reads).
    fn assert_records_within_the_rule(records: &[u8]) {
        let mut at = 0;
        while at < records.len() {
            let h: [u8; HEADER_BYTES] = records[at..at + HEADER_BYTES].try_into().unwrap();
            let f = Framing::CURRENT
                .header(&h)
                .expect("a record within the rule");
            at += HEADER_BYTES + f.len;
        }
    }

    #[test]
    fn big_strings_and_elements_are_chains_of_bounded_records() {
        let big = |b: u8| Bytes::from(vec![b; 2 * MAX_RECORD_PAYLOAD_BYTES + 3]);
        let mut ks = Keyspace::new(0, 1, 2);
        ks.insert(1, b"s", Value::Str(big(1)), Some(99));
        let list: crate::keyspace::List = (0..5).map(|i| big(10 + i)).collect();
        ks.insert(1, b"l", Value::List(list.clone()), None);
        let mut records = Vec::new();
        ks.keys(1, 0, |e| encode_entry(&mut records, 1, e));
        assert_records_within_the_rule(&records);
        let mut back = load(&file_of(&records, record::FORMAT_VERSION)).unwrap();
        let s = back.lookup(1, b"s", 0).unwrap();
        assert_eq!(s.str_bytes(), Some(big(1)));
        assert_eq!(s.expire_at(), Some(99));
        match back.lookup(1, b"l", 0).unwrap().value() {
            Some(Value::List(l)) => assert!(*l == list),
            _ => panic!("not the list"),
        }
        // A chain cut short is an error, not a shorter value.
        let mut file = file_of(&records, record::FORMAT_VERSION);
        let second = BLOCK + HEADER_BYTES + MAX_RECORD_PAYLOAD_BYTES;
        file.drain(second..second + HEADER_BYTES + MAX_RECORD_PAYLOAD_BYTES);
        assert!(load(&file).is_err());
    }

    /// A stream of 60k entries with groups, a PEL and deletions, written in
    /// small steps (as a cut does, other keys' records in between): every
    /// record within the size rule, and it loads back the same.
    #[test]
    fn a_big_stream_is_bounded_records_written_in_steps() {
        use crate::keyspace::stream::StreamId;
        let mut st = Stream::default();
        for i in 1..=60_000u64 {
            let v = Bytes::from(i.to_string());
            st.append(
                StreamId::new(1000 + i / 3, i % 3),
                &[
                    Bytes::from_static(b"f"),
                    v,
                    Bytes::from_static(b"g"),
                    Bytes::from_static(b"x"),
                ],
            );
        }
        for i in (1..60_000u64).step_by(7) {
            st.delete(StreamId::new(1000 + i / 3, i % 3));
        }
        st.entries_added = 70_000;
        let mut g = Group::new(StreamId::new(5000, 0), 123);
        g.consumer(&Bytes::from_static(b"alice"), 77);
        g.consumer(&Bytes::from_static(b"idle"), 78);
        for i in 2..5_000u64 {
            g.assign(
                StreamId::new(1000 + i / 3, i % 3),
                &Bytes::from_static(b"alice"),
                900 + i,
                i % 5,
            );
        }
        st.groups.insert(Bytes::from_static(b"g1"), g);
        let want = format!(
            "{:?}",
            (
                st.len(),
                st.last_id,
                st.entries_added,
                st.max_deleted_id,
                &st.groups
            )
        );
        let want_entries: Vec<_> = st.entries_from(0).map(|e| (e.id, e.fields)).collect();
        let mut ks = Keyspace::new(0, 1, 2);
        ks.insert(1, b"st", Value::Stream(Box::new(st)), None);
        ks.insert(1, b"other", Value::Str(Bytes::from_static(b"v")), None);
        let mut records = Vec::new();
        let mut from = 0;
        let mut steps = 0;
        ks.keys(1, 0, |e| {
            if e.key() == b"st" {
                loop {
                    steps += 1;
                    let stop_at = records.len() + 100_000;
                    match encode_entry_from(&mut records, 1, e, from, stop_at) {
                        Some(next) => from = next,
                        None => break,
                    }
                }
            }
        });
        ks.keys(1, 0, |e| {
            if e.key() != b"st" {
                encode_entry(&mut records, 1, e);
            }
        });
        assert!(steps > 5, "{steps} steps");
        assert_records_within_the_rule(&records);
        let mut back = load(&file_of(&records, record::FORMAT_VERSION)).unwrap();
        match back.lookup(1, b"st", 0).unwrap().value() {
            Some(Value::Stream(s)) => {
                let got = format!(
                    "{:?}",
                    (
                        s.len(),
                        s.last_id,
                        s.entries_added,
                        s.max_deleted_id,
                        &s.groups
                    )
                );
                assert_eq!(got, want);
                let entries: Vec<_> = s.entries_from(0).map(|e| (e.id, e.fields)).collect();
                assert!(entries == want_entries);
            }
            _ => panic!("not the stream"),
        }
    }

    #[test]
    fn a_version_1_snapshot_with_a_big_record_still_loads() {
        // Version 1: a string entry of 200 KB in one record, no flags.
        let value = vec![3u8; 200_000];
        let mut payload = vec![TAG_ENTRY, 0, TYPE_STR];
        payload.extend_from_slice(&0u64.to_le_bytes());
        record::put_bytes(&mut payload, b"k");
        payload.extend_from_slice(&1u32.to_le_bytes());
        record::put_bytes(&mut payload, &value);
        let mut records = (payload.len() as u32).to_le_bytes().to_vec();
        records.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        records.extend_from_slice(&payload);
        let mut ks = load(&file_of(&records, 1)).unwrap();
        assert_eq!(
            ks.lookup(0, b"k", 0).unwrap().str_bytes(),
            Some(Bytes::from(value))
        );
        // The same record in a version 2 file breaks the size rule.
        assert!(load(&file_of_unchecked(&records)).is_err());
    }

    /// A version 2 file around `records`, whatever they hold.
    fn file_of_unchecked(records: &[u8]) -> Vec<u8> {
        let mut file = header(0, 1, 1);
        let mut totals = Totals::default();
        totals.add(records, 1);
        file.extend_from_slice(records);
        file.extend_from_slice(&totals.footer(7));
        file
    }
}
