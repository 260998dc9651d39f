//! A stream in RDB's encoding (`RDB_TYPE_STREAM_LISTPACKS_2`, Redis 7.0;
//! `RDB_TYPE_STREAM_LISTPACKS`, Redis 5 and 6, is read too):
//!
//! ```text
//! [node count] then per node [16-byte master ID, BE][listpack]
//! [length][last ID: ms, seq]
//! v2 only: [first ID: ms, seq][max deleted ID: ms, seq][entries added]
//! [group count] then per group:
//!   [name][last ID: ms, seq] v2 only: [entries read]
//!   [PEL size] then per entry [16-byte ID][delivery time: 8 LE][deliveries]
//!   [consumer count] then per consumer:
//!     [name][seen time: 8 LE][PEL size] then per entry [16-byte ID]
//! ```
//! (numbers are RDB lengths unless said otherwise).
//!
//! A node's listpack (Redis's `t_stream.c`) starts with its master entry,
//! `[live count][deleted count][field count][field names…][0]`, then each
//! entry is `[flags][ms - master ms][seq - master seq]`, then either the
//! values alone (flag `SAMEFIELDS`: its fields are the master's) or
//! `[field count][field, value…]`, and last the number of elements the
//! entry took before it (for walking backwards). Entries flagged `DELETED`
//! are tombstones; they are not restored (XDEL's effect is kept in the max
//! deleted ID).
//!
//! Written as Redis writes it, with nodes cut at Redis's defaults
//! (`stream-node-max-entries` 100, `stream-node-max-bytes` 4096).

use super::packed::{read_listpack, Elem, ListpackWriter};
use super::{bad, id_from_be, id_to_be, Reader, RestoreError, Writer, R};
use crate::keyspace::stream::{block_is_full, Group, StreamEntry, StreamId};
use crate::keyspace::Stream;
use bytes::Bytes;
use std::collections::BTreeMap;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;
/// Bytes of an ID written raw.
const RAW_ID_BYTES: usize = 16;

pub(super) fn read(r: &mut Reader, v2: bool) -> R<Stream> {
    let mut s = Stream::default();
    // A node is at least its key (17 bytes) and a listpack (8).
    let nodes = r.count(RAW_ID_BYTES + 9)?;
    let mut prev = StreamId::MIN;
    for _ in 0..nodes {
        let key = r.string()?;
        let master = id_from_be(&key).ok_or(RestoreError::Bad("stream node key"))?;
        let blob = r.string()?;
        let elems = read_listpack(&blob).ok_or(RestoreError::Bad("stream listpack"))?;
        read_node(&mut s, master, &elems, &mut prev)?;
    }
    let length = r.len()?;
    let last_id = r.len_id()?;
    let (max_deleted, entries_added) = if v2 {
        let _first_id = r.len_id()?;
        (r.len_id()?, r.len()?)
    } else {
        (StreamId::MIN, length)
    };
    if length != s.len() {
        return bad("stream length");
    }
    if s.last().is_some_and(|e| e.id > last_id) {
        return bad("stream last ID below an entry");
    }
    s.last_id = last_id;
    s.max_deleted_id = max_deleted;
    s.entries_added = entries_added;

    let groups = r.count(1)?;
    for _ in 0..groups {
        let name = r.bytes()?;
        let last = r.len_id()?;
        let entries_read = if v2 {
            r.len()? as i64
        } else {
            s.estimate_entries_read(last)
        };
        if s.groups.contains_key(&name) {
            return bad("duplicate consumer group");
        }
        // The group's PEL first; each entry's consumer comes with the
        // consumers after it.
        let mut pel: BTreeMap<StreamId, (u64, u64, Option<Bytes>)> = BTreeMap::new();
        let pending = r.count(RAW_ID_BYTES + 9)?;
        for _ in 0..pending {
            let id = r.raw_id()?;
            let time = r.ms_time()?;
            let count = r.len()?;
            if pel.insert(id, (time, count, None)).is_some() {
                return bad("duplicate PEL entry");
            }
        }
        let mut group = Group::new(last, entries_read);
        let consumers = r.count(10)?;
        for _ in 0..consumers {
            let cname = r.bytes()?;
            let seen = r.ms_time()?;
            if group.consumers.contains_key(&cname) {
                return bad("duplicate consumer");
            }
            group.consumer(&cname, seen);
            let owned = r.count(RAW_ID_BYTES)?;
            for _ in 0..owned {
                let id = r.raw_id()?;
                match pel.get_mut(&id) {
                    Some((_, _, owner @ None)) => *owner = Some(cname.clone()),
                    _ => return bad("consumer PEL entry not in the group's PEL"),
                }
            }
        }
        for (id, (time, count, owner)) in pel {
            let Some(owner) = owner else {
                return bad("PEL entry without a consumer");
            };
            group.assign(id, &owner, time, count);
        }
        s.groups.insert(name, group);
    }
    Ok(s)
}

fn int<'a>(it: &mut impl Iterator<Item = Elem<'a>>) -> R<i64> {
    it.next()
        .and_then(Elem::as_i64)
        .ok_or(RestoreError::Bad("stream listpack integer"))
}

/// Appends the live entries of one node to `s`; `prev` is the last ID
/// appended (entries must come in ascending order).
fn read_node(s: &mut Stream, master: StreamId, elems: &[Elem], prev: &mut StreamId) -> R<()> {
    let mut it = elems.iter().copied();
    let live = int(&mut it)?;
    let deleted = int(&mut it)?;
    let nfields = int(&mut it)?;
    // Every entry has a field (XADD needs one), the master entry too.
    if nfields < 1 || nfields as usize > elems.len() {
        return bad("stream master fields");
    }
    let master_fields: Vec<Bytes> = (0..nfields)
        .map(|_| it.next().map(Elem::to_bytes))
        .collect::<Option<_>>()
        .ok_or(RestoreError::Bad("stream master fields"))?;
    if int(&mut it)? != 0 {
        return bad("stream master terminator");
    }
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    let mut fields: Vec<Bytes> = Vec::new();
    let mut rest = it.peekable();
    while rest.peek().is_some() {
        let flags = int(&mut rest)?;
        let ms = master.ms.wrapping_add(int(&mut rest)? as u64);
        let seq = master.seq.wrapping_add(int(&mut rest)? as u64);
        let id = StreamId::new(ms, seq);
        fields.clear();
        let took = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                let v = rest.next().ok_or(RestoreError::Bad("stream entry"))?;
                fields.push(f.clone());
                fields.push(v.to_bytes());
            }
            nfields + 3
        } else {
            let n = int(&mut rest)?;
            if n < 1 || n as usize > elems.len() {
                return bad("stream entry field count");
            }
            for _ in 0..2 * n {
                fields.push(
                    rest.next()
                        .ok_or(RestoreError::Bad("stream entry"))?
                        .to_bytes(),
                );
            }
            2 * n + 4
        };
        if int(&mut rest)? != took {
            return bad("stream entry element count");
        }
        if flags & FLAG_DELETED != 0 {
            seen_deleted += 1;
            continue;
        }
        seen_live += 1;
        if id <= *prev {
            return bad("stream IDs out of order");
        }
        *prev = id;
        s.append(id, &fields);
    }
    if seen_live != live || seen_deleted != deleted || seen_live + seen_deleted == 0 {
        return bad("stream node counts");
    }
    Ok(())
}

pub(super) fn write(w: &mut Writer, s: &Stream) {
    // Nodes cut as Redis's `streamAppendItem` cuts them.
    let mut nodes: Vec<Vec<StreamEntry>> = Vec::new();
    let mut node: Vec<StreamEntry> = Vec::new();
    let mut node_bytes = 0;
    for e in s.entries_from(0) {
        let bytes: usize = e.fields.iter().map(|f| f.len() + 2).sum::<usize>() + 12;
        if !node.is_empty() && block_is_full(node.len(), node_bytes, bytes) {
            nodes.push(std::mem::take(&mut node));
            node_bytes = 0;
        }
        node_bytes += bytes;
        node.push(e);
    }
    if !node.is_empty() {
        nodes.push(node);
    }
    w.len(nodes.len() as u64);
    for node in &nodes {
        let master = node[0].id;
        w.string(&id_to_be(master));
        w.string(&write_node(master, node));
    }
    w.len(s.len());
    write_id(w, s.last_id);
    write_id(w, s.first().map_or(StreamId::MIN, |e| e.id));
    write_id(w, s.max_deleted_id);
    w.len(s.entries_added);
    w.len(s.groups.len() as u64);
    for (name, g) in &s.groups {
        w.string(name);
        write_id(w, g.last_id);
        w.len(g.entries_read as u64);
        w.len(g.pel.len() as u64);
        for (id, p) in &g.pel {
            w.raw(&id_to_be(*id));
            w.raw(&p.delivery_time.to_le_bytes());
            w.len(p.delivery_count);
        }
        w.len(g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            w.string(cname);
            w.raw(&c.seen_time.to_le_bytes());
            w.len(c.pending.len() as u64);
            for id in &c.pending {
                w.raw(&id_to_be(*id));
            }
        }
    }
}

fn write_id(w: &mut Writer, id: StreamId) {
    w.len(id.ms);
    w.len(id.seq);
}

/// One node's listpack: the master entry, then each entry.
fn write_node(master: StreamId, entries: &[StreamEntry]) -> Vec<u8> {
    let names = |e: &StreamEntry| -> Vec<Bytes> { e.fields.iter().step_by(2).cloned().collect() };
    let master_fields = names(&entries[0]);
    let mut lp = ListpackWriter::default();
    lp.push_int(entries.len() as i64);
    lp.push_int(0);
    lp.push_int(master_fields.len() as i64);
    for f in &master_fields {
        lp.push(f);
    }
    lp.push_int(0);
    for e in entries {
        let same = names(e) == master_fields;
        lp.push_int(if same { FLAG_SAMEFIELDS } else { 0 });
        lp.push_int(e.id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(e.id.seq.wrapping_sub(master.seq) as i64);
        let pairs = (e.fields.len() / 2) as i64;
        if same {
            for v in e.fields.iter().skip(1).step_by(2) {
                lp.push(v);
            }
            lp.push_int(pairs + 3);
        } else {
            lp.push_int(pairs);
            for f in &e.fields {
                lp.push(f);
            }
            lp.push_int(2 * pairs + 4);
        }
    }
    lp.finish()
}
