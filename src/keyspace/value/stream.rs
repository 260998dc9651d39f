//! A stream: entries with ever-growing IDs, and its consumer groups.
//!
//! Entries live in blocks of at most `stream-node-max-entries` entries (and
//! about `stream-node-max-bytes`), like Redis's listpacks in its radix tree: a
//! `BTreeMap` from the block's first ID to one packed buffer. A block starts
//! with its "master" field names (those of its first entry); an entry with
//! the same field names stores only its values. IDs are varint deltas from
//! the block's first ID. XDEL marks an entry deleted in place; a block whose
//! entries are all deleted goes. The block limits follow Redis's defaults
//! (`stream-node-max-entries` 100, `stream-node-max-bytes` 4096), so
//! approximate trimming (`~`) removes the same whole blocks Redis removes
//! for entries of ordinary size. See docs/streams.md.

use crate::keyspace::memory::{alloc_size, HeapSize};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Most bytes a block reaches when `stream-node-max-bytes` sets no limit
/// (Redis's `STREAM_LISTPACK_MAX_SIZE`).
const BLOCK_MAX_BYTES: usize = 1 << 30;
/// Most entries (live or deleted) a block counts (`Block::count`).
const BLOCK_MAX_ENTRIES: usize = u16::MAX as usize;
/// Capacity reserved for a decoded list of fields, at most.
const DECODE_CAPACITY_HINT: u64 = 4096;

/// Whether a block of `count` entries (live or deleted) and `bytes` bytes
/// is closed to an entry of `entry_bytes`, as Redis's `streamAppendItem`
/// decides when to start a new listpack (`stream-node-max-bytes`, `-entries`;
/// 0: no limit).
pub fn block_is_full(count: usize, bytes: usize, entry_bytes: usize) -> bool {
    let (max_bytes, max_entries) = crate::keyspace::encodings::stream_node_limits();
    let max_bytes = if max_bytes == 0 {
        BLOCK_MAX_BYTES
    } else {
        max_bytes.min(BLOCK_MAX_BYTES)
    };
    bytes + entry_bytes >= max_bytes
        || (max_entries != 0 && count >= max_entries)
        || count >= BLOCK_MAX_ENTRIES
}
/// What a block's map slot and header cost besides its buffer (a B-tree
/// node holds 11 key/value pairs of 40 bytes, about two thirds full).
const BLOCK_OVERHEAD_BYTES: usize = 64;
/// Estimated heap bytes of one pending entry (a node slot in the group's
/// PEL and in its consumer's) and of one consumer or group besides names.
const PENDING_BYTES: usize = 96;
const CONSUMER_BYTES: usize = 96;
const GROUP_BYTES: usize = 128;
/// Redis's `SCG_INVALID_ENTRIES_READ`: a group's read counter is unknown.
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

const FLAG_DELETED: u8 = 1;
const FLAG_SAME_FIELDS: u8 = 2;

/// An entry ID: milliseconds and a sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::MIN
    }

    /// The next ID, `None` past the largest.
    pub fn next(&self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_add(1).map(|ms| StreamId::new(ms, 0)),
        }
    }

    /// The previous ID, `None` before the smallest.
    pub fn prev(&self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => self.ms.checked_sub(1).map(|ms| StreamId::new(ms, u64::MAX)),
        }
    }

    pub fn to_bytes(self) -> Bytes {
        let mut out = Vec::with_capacity(MAX_ID_TEXT_BYTES);
        self.write_text(&mut out);
        Bytes::from(out)
    }

    /// Appends `ms-seq` in decimal (without `fmt`: an XRANGE writes one per
    /// entry).
    pub fn write_text(self, out: &mut Vec<u8>) {
        write_decimal(self.ms, out);
        out.push(b'-');
        write_decimal(self.seq, out);
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The longest `ms-seq` text: two 20-digit numbers and the dash.
pub const MAX_ID_TEXT_BYTES: usize = 41;

fn write_decimal(mut v: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// One entry read out of a block.
pub struct StreamEntry {
    pub id: StreamId,
    /// Field, value, field, value...
    pub fields: Vec<Bytes>,
}

/// One block: a packed buffer of entries, see the module header.
struct Block {
    data: Vec<u8>,
    /// Entries written into it, deleted ones included.
    count: u16,
    live: u16,
}

impl Block {
    fn heap_bytes(&self) -> usize {
        alloc_size(self.data.capacity()) + BLOCK_OVERHEAD_BYTES
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A reader over a block's buffer. Blocks are built only by this module,
/// so a malformed buffer is a bug; it still ends the read instead of
/// panicking.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *self.data.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
        }
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.varint()? as usize;
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
}

/// One decoded entry of a block: where its flag byte is, and its parts.
struct Raw<'a> {
    at: usize,
    id: StreamId,
    deleted: bool,
    fields: Vec<&'a [u8]>,
}

/// An entry's place in a block, read without its fields: its flag byte's
/// offset, its ID, and where its fields (or values, `same`) start.
#[derive(Clone, Copy)]
struct Head {
    at: usize,
    id: StreamId,
    deleted: bool,
    same: bool,
    body: usize,
}

/// Walks a block's entries in order, reading only their heads: finding an
/// ID or the first live entry builds nothing, and the fields of an entry
/// are read (`fields`) only for the entries a reader returns.
struct Walk<'a> {
    data: &'a [u8],
    base: StreamId,
    master: Vec<&'a [u8]>,
    pos: usize,
}

impl<'a> Walk<'a> {
    fn new(base: StreamId, data: &'a [u8]) -> Walk<'a> {
        let mut r = Reader { data, pos: 0 };
        let mut master = Vec::new();
        let mut ok = false;
        if let Some(n) = r.varint() {
            ok = true;
            for _ in 0..n {
                match r.bytes() {
                    Some(f) => master.push(f),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
        }
        Walk {
            data,
            base,
            master,
            // A malformed header: nothing to walk.
            pos: if ok { r.pos } else { data.len() },
        }
    }

    /// Reads `head`'s fields (field, value, ...).
    fn fields(&self, head: &Head) -> Option<Vec<&'a [u8]>> {
        let mut r = Reader {
            data: self.data,
            pos: head.body,
        };
        if head.same {
            let mut out = Vec::with_capacity(self.master.len() * 2);
            for f in &self.master {
                out.push(*f);
                out.push(r.bytes()?);
            }
            Some(out)
        } else {
            let n = r.varint()?.saturating_mul(2);
            let mut out = Vec::with_capacity(n.min(DECODE_CAPACITY_HINT) as usize);
            for _ in 0..n {
                out.push(r.bytes()?);
            }
            Some(out)
        }
    }

    /// Copies `head`'s fields to the end of `buf`, noting each one's span.
    fn copy_fields(&self, head: &Head, buf: &mut Vec<u8>, spans: &mut Vec<(usize, usize)>) {
        for f in self.fields(head).unwrap_or_default() {
            spans.push((buf.len(), f.len()));
            buf.extend_from_slice(f);
        }
    }
}

impl Iterator for Walk<'_> {
    type Item = Head;

    fn next(&mut self) -> Option<Head> {
        let data = self.data;
        let at = self.pos;
        let flags = *data.get(at)?;
        let mut r = Reader { data, pos: at + 1 };
        let step = |r: &mut Reader| -> Option<Head> {
            let (dms, seq) = (r.varint()?, r.varint()?);
            let id = if dms == 0 {
                StreamId::new(self.base.ms, self.base.seq.wrapping_add(seq))
            } else {
                StreamId::new(self.base.ms.wrapping_add(dms), seq)
            };
            let same = flags & FLAG_SAME_FIELDS != 0;
            let body = r.pos;
            let skip = if same {
                self.master.len() as u64
            } else {
                r.varint()?.saturating_mul(2)
            };
            for _ in 0..skip {
                r.bytes()?;
            }
            Some(Head {
                at,
                id,
                deleted: flags & FLAG_DELETED != 0,
                same,
                body,
            })
        };
        match step(&mut r) {
            Some(head) => {
                self.pos = r.pos;
                Some(head)
            }
            None => {
                // Malformed: end the walk.
                self.pos = data.len();
                None
            }
        }
    }
}

/// The entries of a block whose first ID is `base`, in order, deleted ones
/// included.
fn decode_block(base: StreamId, data: &[u8]) -> Vec<Raw<'_>> {
    let walk = Walk::new(base, data);
    let heads: Vec<Head> = Walk::new(base, data).collect();
    heads
        .iter()
        .map_while(|h| {
            Some(Raw {
                at: h.at,
                id: h.id,
                deleted: h.deleted,
                fields: walk.fields(h)?,
            })
        })
        .collect()
}

fn owned(raw: &Raw) -> StreamEntry {
    StreamEntry {
        id: raw.id,
        fields: raw
            .fields
            .iter()
            .map(|f| Bytes::copy_from_slice(f))
            .collect(),
    }
}

/// The entries a read returns, their fields copied into one buffer that
/// they all share (one allocation, the size of what is returned, instead
/// of one per field or a copy of every block touched).
#[derive(Default)]
struct Collected {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Each entry's ID and how many spans are its.
    entries: Vec<(StreamId, usize)>,
}

impl Collected {
    fn push(&mut self, walk: &Walk, head: &Head) {
        let before = self.spans.len();
        walk.copy_fields(head, &mut self.buf, &mut self.spans);
        self.entries.push((head.id, self.spans.len() - before));
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn finish(self) -> Vec<StreamEntry> {
        self.map_entries(|id, fields| StreamEntry {
            id,
            fields: fields.collect(),
        })
    }

    fn map_entries<T>(
        self,
        mut each: impl FnMut(StreamId, &mut dyn Iterator<Item = Bytes>) -> T,
    ) -> Vec<T> {
        let buf = Bytes::from(self.buf);
        let mut spans = self.spans.into_iter();
        self.entries
            .into_iter()
            .map(|(id, n)| {
                let mut fields = spans
                    .by_ref()
                    .take(n)
                    .map(|(at, len)| buf.slice(at..at + len));
                each(id, &mut fields)
            })
            .collect()
    }
}

/// A pending entry of a group: delivered, not yet acknowledged.
#[derive(Clone, Debug)]
pub struct Pending {
    pub consumer: Bytes,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Consumer {
    pub seen_time: u64,
    pub pending: BTreeSet<StreamId>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer named `name`, created (seen at `now`) if absent; true
    /// if it was created.
    pub fn consumer(&mut self, name: &Bytes, now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self.consumers.entry(name.clone()).or_insert(Consumer {
            seen_time: now,
            pending: BTreeSet::new(),
        });
        (c, created)
    }

    /// Records `id` as delivered to `consumer` (moving it from another
    /// consumer if it was pending there).
    pub fn assign(&mut self, id: StreamId, consumer: &Bytes, time: u64, count: u64) {
        if let Some(old) = self.pel.get(&id) {
            let old = old.consumer.clone();
            if let Some(c) = self.consumers.get_mut(&old) {
                c.pending.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Pending {
                consumer: consumer.clone(),
                delivery_time: time,
                delivery_count: count,
            },
        );
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }

    /// Acknowledges `id`: true if it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Removes a consumer and its pending entries; how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pending {
            self.pel.remove(id);
        }
        Some(c.pending.len())
    }

    fn heap_bytes(&self) -> usize {
        GROUP_BYTES
            + self.pel.len() * 2 * PENDING_BYTES
            + self
                .consumers
                .keys()
                .map(|n| CONSUMER_BYTES + n.heap_size())
                .sum::<usize>()
    }
}

/// How XADD and XTRIM trim.
#[derive(Clone, Copy, Debug)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Default)]
pub struct Stream {
    blocks: BTreeMap<StreamId, Block>,
    length: u64,
    pub last_id: StreamId,
    /// Entries ever added (XSETID ENTRIESADDED may change it).
    pub entries_added: u64,
    pub max_deleted_id: StreamId,
    pub groups: BTreeMap<Bytes, Group>,
    /// The heap bytes of the blocks, kept as they change.
    block_bytes: usize,
}

impl Stream {
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Blocks (Redis's radix-tree keys).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.block_bytes
            + self
                .groups
                .iter()
                .map(|(n, g)| n.heap_size() + g.heap_bytes())
                .sum::<usize>()
    }

    /// Appends an entry; the caller has checked that `id` is above
    /// `last_id`. `fields` is field, value, field, value...
    pub fn append(&mut self, id: StreamId, fields: &[Bytes]) {
        let pairs = fields.len() / 2;
        // Whether the last block takes it: its size and count, as Redis
        // decides when to start a new listpack.
        let entry_bytes: usize = 12 + fields.iter().map(|f| f.len() + 2).sum::<usize>();
        let last = self.blocks.iter_mut().next_back();
        let fits = last
            .as_ref()
            .is_some_and(|(_, b)| !block_is_full(b.count as usize, b.data.len(), entry_bytes));
        let (base, block) = match last {
            Some((base, block)) if fits => (*base, block),
            _ => {
                if let Some((_, b)) = self.blocks.iter_mut().next_back() {
                    // A closed block never grows again.
                    self.block_bytes -= b.heap_bytes();
                    b.data.shrink_to_fit();
                    self.block_bytes += b.heap_bytes();
                }
                let mut data = Vec::with_capacity(entry_bytes * 2);
                put_varint(&mut data, pairs as u64);
                for f in fields.iter().step_by(2) {
                    put_varint(&mut data, f.len() as u64);
                    data.extend_from_slice(f);
                }
                let b = Block {
                    data,
                    count: 0,
                    live: 0,
                };
                self.block_bytes += b.heap_bytes();
                self.blocks.insert(id, b);
                let b = self.blocks.get_mut(&id).expect("just inserted");
                (id, b)
            }
        };
        self.block_bytes -= block.heap_bytes();
        let same = {
            let master = decode_masters(&block.data);
            master.len() == pairs
                && master
                    .iter()
                    .zip(fields.iter().step_by(2))
                    .all(|(m, f)| *m == &f[..])
        };
        let d = &mut block.data;
        d.push(if same { FLAG_SAME_FIELDS } else { 0 });
        let dms = id.ms - base.ms;
        put_varint(d, dms);
        put_varint(d, if dms == 0 { id.seq - base.seq } else { id.seq });
        if same {
            for v in fields.iter().skip(1).step_by(2) {
                put_varint(d, v.len() as u64);
                d.extend_from_slice(v);
            }
        } else {
            put_varint(d, pairs as u64);
            for f in fields {
                put_varint(d, f.len() as u64);
                d.extend_from_slice(f);
            }
        }
        block.count += 1;
        block.live += 1;
        self.block_bytes += block.heap_bytes();
        self.length += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Entries from `start` to `end` (both included), at most `count`
    /// (0: all), backwards if `rev`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        rev: bool,
    ) -> Vec<StreamEntry> {
        self.collect(start, end, count, rev).finish()
    }

    /// `range`, each entry handed to `each` as its ID and its fields
    /// (slices of one shared buffer) instead of built as a `StreamEntry`:
    /// a reply builds its own values without a vector in between.
    pub fn range_map<T>(
        &self,
        (start, end): (StreamId, StreamId),
        count: usize,
        rev: bool,
        each: impl FnMut(StreamId, &mut dyn Iterator<Item = Bytes>) -> T,
    ) -> Vec<T> {
        self.collect(start, end, count, rev).map_entries(each)
    }

    fn collect(&self, start: StreamId, end: StreamId, count: usize, rev: bool) -> Collected {
        let mut out = Collected::default();
        if start > end {
            return out;
        }
        let full = |out: &Collected| count != 0 && out.len() >= count;
        if rev {
            'blocks: for (base, b) in self.blocks.range(..=end).rev() {
                let walk = Walk::new(*base, &b.data);
                let heads: Vec<Head> = Walk::new(*base, &b.data).collect();
                for head in heads.iter().rev() {
                    if head.id < start {
                        break 'blocks;
                    }
                    if head.deleted || head.id > end {
                        continue;
                    }
                    out.push(&walk, head);
                    if full(&out) {
                        break 'blocks;
                    }
                }
            }
        } else {
            let from = self
                .blocks
                .range(..=start)
                .next_back()
                .map_or(StreamId::MIN, |(k, _)| *k);
            'blocks: for (base, b) in self.blocks.range(from..) {
                let mut walk = Walk::new(*base, &b.data);
                while let Some(head) = walk.next() {
                    if head.id > end {
                        break 'blocks;
                    }
                    if head.deleted || head.id < start {
                        continue;
                    }
                    out.push(&walk, &head);
                    if full(&out) {
                        break 'blocks;
                    }
                }
            }
        }
        out
    }

    /// Whether a live entry follows `after` (what a blocked reader waits for).
    pub fn has_entry_after(&self, after: StreamId) -> bool {
        let Some(start) = after.next() else {
            return false;
        };
        let from = self
            .blocks
            .range(..=start)
            .next_back()
            .map_or(StreamId::MIN, |(k, _)| *k);
        self.blocks
            .range(from..)
            .any(|(base, b)| Walk::new(*base, &b.data).any(|h| !h.deleted && h.id >= start))
    }

    /// The first live entry's ID, read from the block heads only.
    fn first_live_id(&self) -> Option<StreamId> {
        self.blocks
            .iter()
            .find_map(|(base, b)| Walk::new(*base, &b.data).find(|h| !h.deleted).map(|h| h.id))
    }

    /// The live entry with ID `id`.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry> {
        self.range(id, id, 1, false).pop()
    }

    pub fn first(&self) -> Option<StreamEntry> {
        self.range(StreamId::MIN, StreamId::MAX, 1, false).pop()
    }

    pub fn last(&self) -> Option<StreamEntry> {
        self.range(StreamId::MIN, StreamId::MAX, 1, true).pop()
    }

    /// The first live entry's ID (0-0 when empty), as Redis's `first_id`.
    pub fn first_id(&self) -> StreamId {
        self.first_live_id().unwrap_or(StreamId::MIN)
    }

    /// Marks entry `id` deleted (XDEL): true if it was there.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&base, _)) = self.blocks.range(..=id).next_back() else {
            return false;
        };
        let Some(b) = self.blocks.get_mut(&base) else {
            return false;
        };
        let Some(at) = decode_block(base, &b.data)
            .iter()
            .find(|r| r.id == id && !r.deleted)
            .map(|r| r.at)
        else {
            return false;
        };
        b.data[at] |= FLAG_DELETED;
        b.live -= 1;
        self.length -= 1;
        if b.live == 0 {
            self.block_bytes -= b.heap_bytes();
            self.blocks.remove(&base);
        }
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        true
    }

    /// Trims as Redis's `streamTrim` does: whole blocks from the front
    /// while the rule allows; then, unless `approx`, entries of the next
    /// block one by one. `limit` (0: none) bounds the entries removed,
    /// counted in whole blocks. Returns the entries removed.
    pub fn trim(&mut self, rule: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&base, b)) = self.blocks.iter().next() {
            if let Trim::MaxLen(n) = rule {
                if self.length <= n {
                    break;
                }
            }
            let live = u64::from(b.live);
            if limit != 0 && deleted + live > limit {
                break;
            }
            // Decoded only when the rule needs the entries: an approximate
            // MAXLEN (the common XADD) decides on the counts alone.
            let remove_whole = match rule {
                Trim::MaxLen(n) => self.length - live >= n,
                Trim::MinId(min) => decode_block(base, &b.data)
                    .last()
                    .is_some_and(|r| r.id < min),
            };
            if remove_whole {
                self.block_bytes -= b.heap_bytes();
                self.blocks.remove(&base);
                self.length -= live;
                deleted += live;
                continue;
            }
            if approx {
                break;
            }
            let raws = decode_block(base, &b.data);
            let marks: Vec<usize> = raws
                .iter()
                .filter(|r| !r.deleted)
                .take_while(|r| match rule {
                    Trim::MaxLen(_) => true,
                    Trim::MinId(min) => r.id < min,
                })
                .map(|r| r.at)
                .collect();
            // For MAXLEN, only as many as bring the length down to n.
            let marks = match rule {
                Trim::MaxLen(n) => {
                    let over = (self.length - n.min(self.length)) as usize;
                    marks[..over.min(marks.len())].to_vec()
                }
                Trim::MinId(_) => marks,
            };
            if let Some(b) = self.blocks.get_mut(&base) {
                for at in &marks {
                    b.data[*at] |= FLAG_DELETED;
                }
                b.live -= marks.len() as u16;
                self.length -= marks.len() as u64;
                deleted += marks.len() as u64;
            }
            break;
        }
        deleted
    }

    /// The live entries from the `skip`th on, in order (whole blocks are
    /// skipped by their counts): for snapshots and rewrites.
    pub fn entries_from(&self, skip: usize) -> impl Iterator<Item = StreamEntry> + '_ {
        let mut left = skip;
        let mut started = false;
        self.blocks
            .iter()
            .filter_map(move |(base, b)| {
                if !started && left >= b.live as usize {
                    left -= b.live as usize;
                    return None;
                }
                // Only the first block kept may start inside.
                started = true;
                let inside = std::mem::take(&mut left);
                let live: Vec<StreamEntry> = decode_block(*base, &b.data)
                    .into_iter()
                    .filter(|r| !r.deleted)
                    .map(|r| owned(&r))
                    .collect();
                Some(live.into_iter().skip(inside))
            })
            .flatten()
    }

    /// Whether a tombstone (an XDEL'd entry) may lie in `start..=end`, as
    /// Redis's `streamRangeHasTombstones`.
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id() > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the entries-read
    /// counter of `id`, or `ENTRIES_READ_UNKNOWN`.
    pub fn estimate_entries_read(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return ENTRIES_READ_UNKNOWN,
            _ => {}
        }
        let first = self.first_id();
        if self.max_deleted_id.is_zero() || self.max_deleted_id < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return added - self.length as i64,
                std::cmp::Ordering::Equal => return added - self.length as i64 + 1,
                _ => {}
            }
        }
        ENTRIES_READ_UNKNOWN
    }

    /// A group's lag (Redis's `streamReplyWithCGLag`), `None` if unknown.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != ENTRIES_READ_UNKNOWN
            && !self.range_has_tombstones(g.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_entries_read(g.last_id);
        (read != ENTRIES_READ_UNKNOWN).then(|| self.entries_added as i64 - read)
    }

    /// Moves a group's cursor past `id`, delivered to it as new (Redis's
    /// update in `streamReplyWithRange`).
    pub fn advance_group(&mut self, group: &Bytes, id: StreamId) {
        let Some(g) = self.groups.get(group) else {
            return;
        };
        if id <= g.last_id {
            return;
        }
        // The estimate (which looks for the first entry) only when the
        // counter cannot simply go up by one.
        let entries_read = if g.entries_read != ENTRIES_READ_UNKNOWN
            && !self.range_has_tombstones(id, StreamId::MAX)
        {
            Some(g.entries_read + 1)
        } else if self.entries_added != 0 {
            Some(self.estimate_entries_read(id))
        } else {
            None
        };
        if let Some(g) = self.groups.get_mut(group) {
            if let Some(n) = entries_read {
                g.entries_read = n;
            }
            g.last_id = id;
        }
    }
}

fn decode_masters(data: &[u8]) -> Vec<&[u8]> {
    let mut r = Reader { data, pos: 0 };
    let n = r.varint().unwrap_or(0);
    (0..n).map_while(|_| r.bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::from(s.to_string())).collect()
    }

    #[test]
    fn entries_round_trip_across_blocks_and_deletes() {
        let mut s = Stream::default();
        for i in 0..250u64 {
            let f = if i % 7 == 0 {
                fields(&["other", "x"])
            } else {
                fields(&["a", &i.to_string(), "b", "v"])
            };
            s.append(StreamId::new(1000 + i / 3, i % 3), &f);
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.blocks(), 3);
        let all = s.range(StreamId::MIN, StreamId::MAX, 0, false);
        assert_eq!(all.len(), 250);
        assert_eq!(all[1].fields, fields(&["a", "1", "b", "v"]));
        assert_eq!(all[7].fields, fields(&["other", "x"]));
        assert!(s.delete(StreamId::new(1000, 1)));
        assert!(!s.delete(StreamId::new(1000, 1)));
        assert_eq!(s.len(), 249);
        let rev = s.range(StreamId::MIN, StreamId::MAX, 3, true);
        assert_eq!(rev[0].id, StreamId::new(1083, 0));
        assert_eq!(s.trim(Trim::MaxLen(120), true, 0), 99);
        assert_eq!(s.trim(Trim::MaxLen(120), false, 0), 30);
        assert_eq!(s.len(), 120);
        assert_eq!(s.first_id(), StreamId::new(1043, 1));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(1050, 0)), false, 0), 20);
        assert_eq!(s.first_id(), StreamId::new(1050, 0));
    }

    /// `entries_from` resumes at any entry, across blocks and deletions
    /// (a snapshot or rewrite written over several steps resumes there).
    #[test]
    fn entries_resume_at_any_position() {
        let mut s = Stream::default();
        for i in 1..=350u64 {
            s.append(StreamId::new(i, 0), &fields(&["f", &i.to_string()]));
        }
        for i in [3u64, 150, 151, 299] {
            s.delete(StreamId::new(i, 0));
        }
        let all: Vec<StreamId> = s.entries_from(0).map(|e| e.id).collect();
        assert_eq!(all.len(), 346);
        for skip in [0, 1, 97, 98, 99, 150, 197, 250, 345, 346, 400] {
            let from: Vec<StreamId> = s.entries_from(skip).map(|e| e.id).collect();
            assert_eq!(from, all[skip.min(all.len())..], "skip {skip}");
        }
    }

    /// The stream against a plain ordered map, over seeded random
    /// appends, deletions, exact and approximate trims, ranges both ways
    /// and group deliveries and acks.
    #[test]
    fn behaves_as_a_plain_ordered_map() {
        let mut rng = 0x5eed_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for round in 0..20 {
            let mut s = Stream::default();
            let mut model: BTreeMap<StreamId, Vec<Bytes>> = BTreeMap::new();
            let mut last = StreamId::MIN;
            let mut group = Group::new(StreamId::MIN, 0);
            let alice = Bytes::from_static(b"alice");
            group.consumer(&alice, 0);
            for step in 0..3000 {
                match next() % 10 {
                    0..=4 => {
                        let id = if next() % 3 == 0 {
                            StreamId::new(last.ms + 1 + next() % 5, 0)
                        } else {
                            last.next().unwrap_or(StreamId::MAX)
                        };
                        let n = next() % 4;
                        let f: Vec<Bytes> = (0..n * 2)
                            .map(|i| Bytes::from(format!("{}{}", i, next() % 50)))
                            .collect();
                        s.append(id, &f);
                        model.insert(id, f);
                        last = id;
                    }
                    5 => {
                        let id = StreamId::new(next() % (last.ms + 2), next() % 3);
                        assert_eq!(s.delete(id), model.remove(&id).is_some(), "delete {id}");
                    }
                    6 if next() % 4 == 0 => {
                        let n = next() % (model.len() as u64 + 5);
                        let approx = next() % 2 == 0;
                        let removed = s.trim(Trim::MaxLen(n), approx, 0);
                        for _ in 0..removed {
                            model.pop_first();
                        }
                        if !approx {
                            assert!(model.len() as u64 <= n);
                        }
                    }
                    7 if next() % 4 == 0 => {
                        let min = StreamId::new(next() % (last.ms + 2), 0);
                        let removed = s.trim(Trim::MinId(min), false, 0);
                        let before = model.len();
                        model.retain(|id, _| *id >= min);
                        assert_eq!(removed as usize, before - model.len());
                    }
                    8 => {
                        let a = StreamId::new(next() % (last.ms + 2), next() % 3);
                        let b = StreamId::new(next() % (last.ms + 2), next() % 3);
                        let count = (next() % 5) as usize;
                        let rev = next() % 2 == 0;
                        let got: Vec<(StreamId, Vec<Bytes>)> = s
                            .range(a, b, count, rev)
                            .into_iter()
                            .map(|e| (e.id, e.fields))
                            .collect();
                        let mut want: Vec<(StreamId, Vec<Bytes>)> = if a <= b {
                            model.range(a..=b).map(|(k, v)| (*k, v.clone())).collect()
                        } else {
                            Vec::new()
                        };
                        if rev {
                            want.reverse();
                        }
                        if count != 0 {
                            want.truncate(count);
                        }
                        assert_eq!(got, want, "round {round} step {step}: range {a}..{b}");
                    }
                    _ => {
                        // Deliver the next entry to alice, or ack a pending one.
                        if next() % 2 == 0 {
                            if let Some((id, _)) = model
                                .range(group.last_id.next().unwrap_or(StreamId::MAX)..)
                                .next()
                            {
                                group.last_id = *id;
                                group.assign(*id, &alice, step, 1);
                            }
                        } else if let Some(id) = group.pel.keys().next().copied() {
                            assert!(group.ack(id));
                        }
                        let mine: Vec<StreamId> =
                            group.consumers[&alice].pending.iter().copied().collect();
                        let all: Vec<StreamId> = group.pel.keys().copied().collect();
                        assert_eq!(mine, all);
                    }
                }
                assert_eq!(s.len() as usize, model.len(), "round {round} step {step}");
                assert_eq!(
                    s.first_id(),
                    model.keys().next().copied().unwrap_or(StreamId::MIN)
                );
            }
        }
    }
}
