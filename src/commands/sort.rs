//! SORT and SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...]
//! [ASC|DESC] [ALPHA] [STORE destination], as Redis 7.0's `sort.c`: the
//! elements of a list, set or sorted set, sorted as numbers or (ALPHA) as
//! bytes, by themselves or by the values of the keys a BY pattern makes from
//! each element; a LIMIT range of them, each replaced by the values of GET
//! patterns; with STORE the result replaces the destination as a list.
//!
//! Where it runs. The keys a pattern makes (`weight_*`, `data_*->field`)
//! may live on any shard, and are known only once the elements are read.
//! When they cannot be elsewhere — one shard, or every pattern's keys carry
//! a `{hash tag}` before the `*` that puts them on the sorted key's shard,
//! and the destination is there too (what Redis Cluster asks of SORT) — the
//! whole command is one step on that shard, atomic as in Redis. Otherwise it
//! runs on the connection's core, in steps:
//!
//! 1. the sorted key's shard admits the command (SORT is `write` and
//!    `denyoom` in Redis, even without STORE) and reads the elements (only
//!    the LIMIT range when nothing is to be sorted);
//! 2. the BY keys of every element are grouped by shard and read, one job
//!    per shard at a time, all shards in parallel (`read_across`);
//! 3. the elements are sorted here and the LIMIT range kept, with Redis's
//!    sorts (`qsort`), so that equal items come out in its order;
//! 4. the GET keys of the kept elements are read the same way;
//! 5. the reply, or with STORE one step on the destination's shard that
//!    replaces it, logged there as DEL + RPUSH of the result, so each
//!    shard's log replays on its own (`lists::store`).
//!
//! Between the steps other clients' writes may land, as with SUNIONSTORE
//! across shards. Inside MULTI/EXEC and scripts the command holds every
//! shard (it runs on the connection's core), so nothing comes in between.
//! Memory: what is read and replied is bounded by the sorted key's size
//! (times the GET patterns); the reply passes the connection's output
//! limits like any other.

use super::cross::shard_of;
use super::{
    arg_is, int_arg, lists, qsort, syntax_error, unavailable, wrong_type, Command, Session,
};
use crate::keyspace::{Keyspace, Value};
use crate::node::{join_all, Node};
use crate::protocol::Frame;
use crate::shard::{Access, Shard};
use crate::util::now_ms;
use bytes::Bytes;
use std::cmp::Ordering;

/// Most pattern keys one job reads on a shard: a sort by a million keys
/// leaves each shard free for other clients between batches of this many.
const LOOKUPS_PER_JOB: usize = 4096;

/// SORT's options, as Redis parses them.
struct Options {
    /// The last BY pattern; unused once `dontsort`.
    by: Option<Bytes>,
    /// A BY pattern without `*` was given (`BY nosort`): no sorting, and it
    /// stays so whatever BY follows, as in Redis.
    dontsort: bool,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    /// LIMIT offset and count as given (count -1: no limit).
    limit: (i64, i64),
    store: Option<Bytes>,
}

/// SORT, and SORT_RO (not `write`: no STORE).
pub(super) async fn sort(node: &Node, session: &Session, cmd: &Command, args: &[Bytes]) -> Frame {
    let readonly = !cmd.write;
    let every_key = || super::acl::reads_every_key(session, cmd, args);
    let o = match parse(args, readonly, &every_key) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (db, in_script, access) = (session.db, session.in_script, cmd.access);
    let key = args[1].clone();
    let home = shard_of(node, &key);
    if all_on(node, home, &o) {
        return node
            .run_durably(home, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                let position = sh.log_position();
                (sort_here(&mut sh, db, &key, o, access, in_script), position)
            })
            .await
            .unwrap_or_else(unavailable);
    }
    let loaded = node
        .read_shown(home, move |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            let now = now_ms();
            sh.admit(access, now)?;
            load(&mut sh.keyspace, db, &key, o, in_script, now)
        })
        .await;
    let (o, mut v) = match loaded {
        None => return unavailable(),
        Some(Err(e)) => return e,
        Some(Ok(loaded)) => loaded,
    };
    let by = match by_targets(&o, &v) {
        Some(targets) => match read_across(node, db, targets).await {
            Ok(values) => Some(values),
            Err(e) => return e,
        },
        None => None,
    };
    if let Err(e) = sort_vector(&mut v, &o, by) {
        return e;
    }
    let got = match read_across(node, db, get_targets(&o, &v)).await {
        Ok(values) => values,
        Err(e) => return e,
    };
    match output(o, v, got) {
        Output::Reply(frame) => frame,
        Output::Store { to, argv } => {
            let shard = shard_of(node, &to);
            super::cross::run_shard_cmd_as(node, shard, lists::store, db, argv, Access::Grow).await
        }
    }
}

/// Parses the options after the key, in order, as Redis does: the first
/// bad one answers (a bad LIMIT number, a BY or GET pattern the user may not
/// use, a syntax error), before the key is looked at. `every_key`: whether
/// the user may read every key (asked only when a pattern comes).
fn parse(args: &[Bytes], readonly: bool, every_key: &dyn Fn() -> bool) -> Result<Options, Frame> {
    let mut o = Options {
        by: None,
        dontsort: false,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        limit: (0, -1),
        store: None,
    };
    let mut j = 2;
    while j < args.len() {
        let (word, left) = (&args[j], args.len() - j - 1);
        if arg_is(word, "asc") {
            o.desc = false;
        } else if arg_is(word, "desc") {
            o.desc = true;
        } else if arg_is(word, "alpha") {
            o.alpha = true;
        } else if arg_is(word, "limit") && left >= 2 {
            o.limit = (int_arg(&args[j + 1])?, int_arg(&args[j + 2])?);
            j += 2;
        } else if !readonly && arg_is(word, "store") && left >= 1 {
            o.store = Some(args[j + 1].clone());
            j += 1;
        } else if arg_is(word, "by") && left >= 1 {
            let pattern = &args[j + 1];
            // A pattern without `*` names the same key for every element:
            // nothing to sort by (`BY nosort`).
            if memchr::memchr(b'*', c_str(pattern)).is_none() {
                o.dontsort = true;
            } else if !every_key() {
                return Err(Frame::error(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.by = Some(pattern.clone());
            j += 1;
        } else if arg_is(word, "get") && left >= 1 {
            if !every_key() {
                return Err(Frame::error(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(args[j + 1].clone());
            j += 1;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(o)
}

/// The part of `s` before its first NUL byte: Redis looks for `#`, `*` and
/// `->` in a pattern, compares ALPHA elements (`strcoll`) and reads numbers
/// (`strtod`) as C strings.
fn c_str(s: &[u8]) -> &[u8] {
    memchr::memchr(0, s).map_or(s, |end| &s[..end])
}

/// What a pattern names for one element (Redis's `lookupKeyByPattern`).
enum Target {
    /// `#`: the element itself.
    Element(Bytes),
    /// A pattern without `*`: nothing.
    Nothing,
    /// The string at `key`, or the field `field` of the hash at `key`.
    Key { key: Bytes, field: Option<Bytes> },
}

/// The first `*` of `pattern` replaced by `element`; a `->` after it
/// (with something after the arrow) names a hash field.
fn target(pattern: &[u8], element: &Bytes) -> Target {
    let c = c_str(pattern);
    if c == b"#" {
        return Target::Element(element.clone());
    }
    let Some(star) = memchr::memchr(b'*', c) else {
        return Target::Nothing;
    };
    let arrow = memchr::memmem::find(&c[star + 1..], b"->")
        .map(|at| star + 1 + at)
        .filter(|&at| at + 2 < c.len());
    let (key_end, field) = match arrow {
        Some(at) => (at, Some(Bytes::copy_from_slice(&pattern[at + 2..]))),
        None => (pattern.len(), None),
    };
    let mut key = Vec::with_capacity(key_end - 1 + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    Target::Key {
        key: Bytes::from(key),
        field,
    }
}

/// Where the keys a pattern makes live, known before any element is read:
/// `None` when that depends on the element; `Some(None)` when it makes no
/// key (`#`, no `*`); `Some(Some(shard))` when a `{hash tag}` before the
/// `*` fixes their slot.
fn pattern_shard(node: &Node, pattern: &[u8]) -> Option<Option<usize>> {
    let c = c_str(pattern);
    if c == b"#" {
        return Some(None);
    }
    let Some(star) = memchr::memchr(b'*', c) else {
        return Some(None);
    };
    let prefix = &pattern[..star];
    let open = memchr::memchr(b'{', prefix)?;
    match memchr::memchr(b'}', &prefix[open + 1..]) {
        Some(len) if len > 0 => Some(Some(shard_of(node, prefix))),
        _ => None,
    }
}

/// Whether every key the command may touch lives on `home`.
fn all_on(node: &Node, home: usize, o: &Options) -> bool {
    if node.shard_count == 1 {
        return true;
    }
    let on_home = |p: &Bytes| match pattern_shard(node, p) {
        Some(Some(shard)) => shard == home,
        Some(None) => true,
        None => false,
    };
    let by = o.dontsort || o.by.as_ref().is_none_or(on_home);
    by && o.gets.iter().all(on_home) && o.store.as_ref().is_none_or(|d| shard_of(node, d) == home)
}

/// The elements, and the range of them to output.
struct Vector {
    elements: Vec<Bytes>,
    /// `start..end` of `elements` to output.
    out: std::ops::Range<usize>,
}

/// Redis's checks and load of the sorted key: WRONGTYPE for a key that is
/// not a list, set or sorted set (a missing key sorts as an empty list);
/// with nothing to sort, a list or sorted set gives only the LIMIT range,
/// in its own order (reversed with DESC). A set with nothing to sort is
/// sorted ALPHA all the same under STORE or in a script, so that the
/// result does not depend on the set's internal order. Hands the options
/// back (`sort_here` and the steps across shards go on with them).
fn load(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    mut o: Options,
    in_script: bool,
    now: u64,
) -> Result<(Options, Vector), Frame> {
    let value = match ks.read(db, key, now) {
        None => None,
        Some(e) => match e.value() {
            Some(v @ (Value::List(_) | Value::Set(_) | Value::ZSet(_))) => Some(v),
            _ => return Err(wrong_type()),
        },
    };
    let is_set = matches!(value, Some(Value::Set(_)));
    if o.dontsort && is_set && (o.store.is_some() || in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = match value {
        Some(Value::List(l)) => l.len(),
        Some(Value::Set(s)) => s.len(),
        Some(Value::ZSet(z)) => z.len(),
        _ => 0,
    } as i64;
    // Redis's LIMIT arithmetic, clamped to the size.
    let mut start = o.limit.0.clamp(0, len);
    let count = o.limit.1.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        (start, end) = (len - 1, len - 2);
    }
    end = end.min(len - 1);
    let wanted = if end >= start {
        (end - start + 1) as usize
    } else {
        0
    };
    let start = start.max(0) as usize;
    let direct = o.dontsort && !is_set;
    let elements: Vec<Bytes> = match value {
        // Nothing to sort in a list or sorted set: the range, in order.
        Some(Value::List(l)) if direct => {
            let n = l.len();
            if o.desc {
                l.range(n - start - wanted..n - start)
                    .rev()
                    .cloned()
                    .collect()
            } else {
                l.range(start..start + wanted).cloned().collect()
            }
        }
        Some(Value::ZSet(z)) if direct => {
            let n = z.len();
            if o.desc {
                z.range(n - start - wanted, n - start)
                    .rev()
                    .map(|(_, m)| m.clone())
                    .collect()
            } else {
                z.range(start, start + wanted)
                    .map(|(_, m)| m.clone())
                    .collect()
            }
        }
        Some(Value::List(l)) => l.iter().cloned().collect(),
        Some(Value::Set(s)) => s.iter().cloned().collect(),
        Some(Value::ZSet(z)) => z.range(0, z.len()).map(|(_, m)| m.clone()).collect(),
        _ => Vec::new(),
    };
    let out = if direct {
        0..elements.len()
    } else {
        start..start + wanted
    };
    Ok((o, Vector { elements, out }))
}

/// The BY keys to read, one per element, when sorting by a pattern.
fn by_targets(o: &Options, v: &Vector) -> Option<Vec<Target>> {
    let by = o.by.as_ref().filter(|_| !o.dontsort)?;
    Some(v.elements.iter().map(|e| target(by, e)).collect())
}

/// The GET values to read: each output element's, pattern by pattern.
fn get_targets(o: &Options, v: &Vector) -> Vec<Target> {
    let mut targets = Vec::with_capacity(v.out.len() * o.gets.len());
    for e in &v.elements[v.out.clone()] {
        targets.extend(o.gets.iter().map(|p| target(p, e)));
    }
    targets
}

/// What a target is worth on this shard: the string at its key, or the
/// hash field; nothing for a missing key or another type.
fn read_key(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    field: Option<&[u8]>,
    now: u64,
) -> Option<Bytes> {
    let e = ks.read(db, key, now)?;
    match field {
        Some(f) => match e.value() {
            Some(Value::Hash(h)) => h.get(f).map(Bytes::copy_from_slice),
            _ => None,
        },
        None => e.str_bytes(),
    }
}

/// The targets' values, every key read on this shard.
fn read_here(ks: &mut Keyspace, db: usize, targets: Vec<Target>, now: u64) -> Vec<Option<Bytes>> {
    targets
        .into_iter()
        .map(|t| match t {
            Target::Element(e) => Some(e),
            Target::Nothing => None,
            Target::Key { key, field } => read_key(ks, db, &key, field.as_deref(), now),
        })
        .collect()
}

/// The targets' values, each key read on its own shard: the keys grouped by
/// shard, at most `LOOKUPS_PER_JOB` per job, one job per shard at a time and
/// the shards in parallel.
async fn read_across(
    node: &Node,
    db: usize,
    targets: Vec<Target>,
) -> Result<Vec<Option<Bytes>>, Frame> {
    type Read = (usize, Bytes, Option<Bytes>);
    let mut values: Vec<Option<Bytes>> = vec![None; targets.len()];
    let mut per_shard: Vec<Vec<Read>> = vec![Vec::new(); node.shard_count];
    for (i, t) in targets.into_iter().enumerate() {
        match t {
            Target::Element(e) => values[i] = Some(e),
            Target::Nothing => {}
            Target::Key { key, field } => per_shard[shard_of(node, &key)].push((i, key, field)),
        }
    }
    let mut queues: Vec<(usize, std::vec::IntoIter<Read>)> = per_shard
        .into_iter()
        .enumerate()
        .filter(|(_, reads)| !reads.is_empty())
        .map(|(shard, reads)| (shard, reads.into_iter()))
        .collect();
    while !queues.is_empty() {
        let jobs = queues.iter_mut().map(|(shard, reads)| {
            let batch: Vec<Read> = reads.by_ref().take(LOOKUPS_PER_JOB).collect();
            node.read_shown(*shard, move |n: &Node| {
                let mut sh = n.shard.borrow_mut();
                let now = now_ms();
                batch
                    .into_iter()
                    .map(|(i, key, field)| {
                        (
                            i,
                            read_key(&mut sh.keyspace, db, &key, field.as_deref(), now),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        });
        for done in join_all(jobs.collect::<Vec<_>>()).await {
            for (i, value) in done.ok_or_else(unavailable)? {
                values[i] = value;
            }
        }
        queues.retain(|(_, reads)| !reads.as_slice().is_empty());
    }
    Ok(values)
}

/// What an element is compared by.
enum SortKey {
    /// A number: its own or its BY value's (0 for a missing BY key).
    Score(f64),
    /// ALPHA by a pattern: the BY value (`None`: missing, first).
    Text(Option<Bytes>),
    /// ALPHA: the element itself.
    Itself,
}

/// Sorts, as Redis's `sortCompare` (`by`: the BY pattern's values, one per
/// element, when sorting by one): numbers compared as doubles, equal ones
/// by the elements' bytes; ALPHA compares the BY values or the elements as
/// C strings in a reply (`strcoll` in the C locale) and byte for byte
/// under STORE. DESC reverses the comparison. Redis's two sorts
/// (`qsort`), so that equal items come out in its order.
fn sort_vector(v: &mut Vector, o: &Options, by: Option<Vec<Option<Bytes>>>) -> Result<(), Frame> {
    if o.dontsort {
        return Ok(());
    }
    let not_double = || Frame::error("ERR One or more scores can't be converted into double");
    let mut by = by.map(Vec::into_iter);
    let mut keyed = Vec::with_capacity(v.elements.len());
    for e in std::mem::take(&mut v.elements) {
        let key = match by.as_mut() {
            Some(values) => match (values.next().flatten(), o.alpha) {
                (value, true) => SortKey::Text(value),
                (None, false) => SortKey::Score(0.0),
                (Some(value), false) => SortKey::Score(score(&value).ok_or_else(not_double)?),
            },
            None if o.alpha => SortKey::Itself,
            None => SortKey::Score(score(&e).ok_or_else(not_double)?),
        };
        keyed.push((key, e));
    }
    let bytewise = o.store.is_some();
    let as_text = |x: &[u8], y: &[u8]| {
        if bytewise {
            x.cmp(y)
        } else {
            c_str(x).cmp(c_str(y))
        }
    };
    let compare = |(ka, a): &(SortKey, Bytes), (kb, b): &(SortKey, Bytes)| -> i32 {
        let cmp = match (ka, kb) {
            (SortKey::Score(x), SortKey::Score(y)) => match x.partial_cmp(y) {
                Some(Ordering::Equal) | None => a.cmp(b),
                Some(order) => order,
            },
            (SortKey::Text(x), SortKey::Text(y)) => match (x, y) {
                (Some(x), Some(y)) => as_text(x, y),
                (x, y) => x.is_some().cmp(&y.is_some()),
            },
            _ => as_text(a, b),
        };
        let cmp = if o.desc { cmp.reverse() } else { cmp };
        cmp as i32
    };
    let out = v.out.clone();
    if out.is_empty() {
        // Nothing is output: the order does not show.
    } else if by.is_some() && out != (0..keyed.len()) {
        // By a pattern, with a LIMIT: Redis sorts only the range kept, with
        // its partial quicksort, whose order for equal items this follows.
        qsort::partial_sort(&mut keyed, out.start, out.end - 1, &compare);
    } else {
        // glibc's qsort is a stable merge sort: a stable sort gives its order.
        keyed.sort_by(|a, b| compare(a, b).cmp(&0));
    }
    v.elements = keyed.into_iter().map(|(_, e)| e).collect();
    Ok(())
}

/// A sort value as Redis reads it with `strtod`: leading spaces allowed,
/// nothing after the number (up to a NUL byte), no NaN, nothing out of
/// range (overflow, or underflow to zero or a subnormal, for decimal text).
/// An empty string is 0, as `strtod` leaves it.
fn score(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let text = &s[start..];
    let (value, out_of_range) = crate::util::strtod(text)?;
    let digits = text
        .strip_prefix(b"-")
        .or_else(|| text.strip_prefix(b"+"))
        .unwrap_or(text);
    let hex = digits.len() > 1 && digits[..2].eq_ignore_ascii_case(b"0x");
    let subnormal = value != 0.0 && value.abs() < f64::MIN_POSITIVE && !hex;
    (!out_of_range && !subnormal).then_some(value)
}

/// The command's result.
enum Output {
    Reply(Frame),
    /// STORE's: the arguments of `lists::store` (the destination, then the
    /// items of its new list).
    Store {
        to: Bytes,
        argv: Vec<Bytes>,
    },
}

/// The output range, each element or (with GET) the values its patterns
/// name: nil in a reply, an empty string in a stored list.
fn output(o: Options, v: Vector, got: Vec<Option<Bytes>>) -> Output {
    let Vector {
        mut elements, out, ..
    } = v;
    elements.truncate(out.end);
    let kept = elements.drain(out.start..);
    let Some(to) = o.store else {
        return Output::Reply(Frame::Array(if o.gets.is_empty() {
            kept.map(Frame::Bulk).collect()
        } else {
            got.into_iter()
                .map(|g| g.map_or(Frame::Null, Frame::Bulk))
                .collect()
        }));
    };
    let mut argv = Vec::with_capacity(2 + kept.len().max(got.len()));
    argv.push(Bytes::from_static(b"SORTSTORE"));
    argv.push(to.clone());
    if o.gets.is_empty() {
        argv.extend(kept);
    } else {
        argv.extend(got.into_iter().map(Option::unwrap_or_default));
    }
    Output::Store { to, argv }
}

/// The whole command on the shard that holds every key it may touch: one
/// step, as in Redis.
fn sort_here(
    sh: &mut Shard,
    db: usize,
    key: &[u8],
    o: Options,
    access: Access,
    in_script: bool,
) -> Frame {
    let now = now_ms();
    if let Err(refused) = sh.admit(access, now) {
        return refused;
    }
    let (o, mut v) = match load(&mut sh.keyspace, db, key, o, in_script, now) {
        Ok(loaded) => loaded,
        Err(e) => return e,
    };
    let by = by_targets(&o, &v).map(|t| read_here(&mut sh.keyspace, db, t, now));
    if let Err(e) = sort_vector(&mut v, &o, by) {
        return e;
    }
    let got = read_here(&mut sh.keyspace, db, get_targets(&o, &v), now);
    match output(o, v, got) {
        Output::Reply(frame) => frame,
        Output::Store { argv, .. } => sh.run(lists::store, db, &argv, now, Access::Grow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(t: Target) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        match t {
            Target::Key { key, field } => Some((key.to_vec(), field.map(|f| f.to_vec()))),
            _ => None,
        }
    }

    #[test]
    fn patterns_name_keys_and_fields_as_redis() {
        let e = Bytes::from_static(b"7");
        assert_eq!(key_of(target(b"w_*", &e)), Some((b"w_7".to_vec(), None)));
        assert_eq!(
            key_of(target(b"h_*->f", &e)),
            Some((b"h_7".to_vec(), Some(b"f".to_vec())))
        );
        // An arrow with nothing after it is part of the key name.
        assert_eq!(
            key_of(target(b"h_*->", &e)),
            Some((b"h_7->".to_vec(), None))
        );
        // Only the first `*` is replaced; an arrow before it does not count.
        assert_eq!(
            key_of(target(b"a->*b*", &e)),
            Some((b"a->7b*".to_vec(), None))
        );
        assert_eq!(
            key_of(target(b"*->f->g", &e)),
            Some((b"7".to_vec(), Some(b"f->g".to_vec())))
        );
        assert!(matches!(target(b"#", &e), Target::Element(_)));
        assert!(matches!(target(b"nostar", &e), Target::Nothing));
        // Searched as a C string: a `*` after a NUL byte is not seen.
        assert!(matches!(target(b"a\0*", &e), Target::Nothing));
    }

    #[test]
    fn scores_read_as_strtod() {
        assert_eq!(score(b""), Some(0.0));
        assert_eq!(score(b"  -3"), Some(-3.0));
        assert_eq!(score(b"0x10"), Some(16.0));
        assert_eq!(score(b"12\0junk"), Some(12.0));
        assert_eq!(score(b"inf"), Some(f64::INFINITY));
        for bad in [
            &b" "[..],
            b"5 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"1e-310",
            b"abc",
            b"1e",
        ] {
            assert_eq!(score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(score(b"0x1p-1074"), Some(f64::from_bits(1)));
    }
}
