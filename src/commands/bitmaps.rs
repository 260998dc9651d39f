//! Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, on plain strings as Redis 7.0 does them (bit 0 is the most
//! significant bit of the first byte; a missing key is an endless run of
//! zeros; writes pad the string with zero bytes up to the bit they reach).
//!
//! Offsets stop at 2^32 - 1 bits, a 512 MB string (`MAX_STRING_BYTES`, Redis's
//! proto-max-bulk-len). A write changes a long string in place when nothing
//! else holds its bytes (a GET reply still being written does: then it is
//! copied once), so setting bits one by one in a big bitmap does not copy it
//! every time. SETBIT and BITFIELD are logged as their own text (their
//! replay is deterministic); BITOP, whose keys may live on several shards,
//! is logged as the SET or DEL it made of its destination (docs/bitmaps.md).

use super::cross::{run_shard_cmd_as, shard_of};
use super::strings::MAX_STRING_BYTES;
use super::unavailable;
use super::{arg_is, int_arg, syntax_error, wrong_type};
use crate::config::events as ev;
use crate::keyspace::{Fresh, Value};
use crate::node::{join_all, Node};
use crate::protocol::Frame;
use crate::shard::{Access, Ctx};
use crate::util::{now_ms, parse_i64};
use bytes::Bytes;

fn bit_offset_error() -> Frame {
    Frame::error("ERR bit offset is not an integer or out of range")
}

/// A bit offset argument, checked as Redis checks it: an integer, not
/// negative, inside a string of at most `MAX_STRING_BYTES`. With
/// `hash_bits` (BITFIELD), `#N` means N times the field's width.
fn bit_offset(arg: &[u8], hash_bits: Option<u32>) -> Result<u64, Frame> {
    let (digits, times) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], bits as i64),
        _ => (arg, 1),
    };
    let n = parse_i64(digits)
        .ok_or_else(bit_offset_error)?
        .wrapping_mul(times);
    if n < 0 || (n >> 3) as u64 >= MAX_STRING_BYTES as u64 {
        return Err(bit_offset_error());
    }
    Ok(n as u64)
}

/// Runs `f` on the bytes of the string at `key` (`None`: no such key);
/// WRONGTYPE if it holds something else. Nothing is copied.
fn with_str<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => e.str().map(|s| Some(f(s))).ok_or_else(wrong_type),
    }
}

/// Runs `f` on the string at `key`, first created or padded with zero bytes
/// to at least `min_len` bytes, as Redis's bit commands do. Returns what `f`
/// returned and whether the string was created or grew. The key keeps its
/// TTL. A long string nothing else shares is changed in place.
pub(super) fn with_str_mut<R>(
    ctx: &mut Ctx,
    key: &[u8],
    min_len: usize,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Result<(R, bool), Frame> {
    let Some(e) = ctx.ks.lookup(ctx.db, key, ctx.now) else {
        let mut bytes = vec![0u8; min_len];
        let r = f(&mut bytes);
        ctx.ks
            .insert(ctx.db, key, Value::Str(Bytes::from(bytes)), None);
        return Ok((r, true));
    };
    if let Some(Value::Str(held)) = e.value_mut() {
        match std::mem::take(held).try_into_mut() {
            Ok(mut unique) => {
                let grew = unique.len() < min_len;
                if grew {
                    unique.resize(min_len, 0);
                }
                let r = f(&mut unique);
                *held = unique.freeze();
                return Ok((r, grew));
            }
            Err(shared) => *held = shared,
        }
    }
    let mut bytes = e.str().ok_or_else(wrong_type)?.to_vec();
    let grew = bytes.len() < min_len;
    if grew {
        bytes.resize(min_len, 0);
    }
    let r = f(&mut bytes);
    e.set_value(Fresh::Value(Value::Str(Bytes::from(bytes))));
    Ok((r, grew))
}

fn bit_at(s: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    s.get(byte).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

fn set_bit_at(s: &mut [u8], offset: u64, on: bool) {
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
}

/// GETBIT key offset
pub fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let offset = match bit_offset(&args[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match with_str(ctx, &args[1], |s| bit_at(s, offset)) {
        Ok(bit) => Frame::Integer(bit.unwrap_or(0) as i64),
        Err(e) => e,
    }
}

/// SETBIT key offset 0|1: replies with the bit's old value.
pub fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let offset = match bit_offset(&args[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match parse_i64(&args[3]) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Frame::error("ERR bit is not an integer or out of range"),
    };
    let min_len = (offset >> 3) as usize + 1;
    match with_str_mut(ctx, &args[1], min_len, |s| {
        let old = bit_at(s, offset);
        set_bit_at(s, offset, on);
        old
    }) {
        Ok((old, grew)) => {
            if grew || (old == 1) != on {
                ctx.changed();
            }
            ctx.notify(ev::STRING, "setbit", &args[1]);
            Frame::Integer(old as i64)
        }
        Err(e) => e,
    }
}

/// A range of BITCOUNT/BITPOS, in bits, resolved as Redis resolves it:
/// negative ends count from the end, both are clamped to the string. `None`:
/// the range is empty.
fn resolve_range(len_bytes: usize, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = if in_bits {
        len_bytes as i64 * 8
    } else {
        len_bytes as i64
    };
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits {
        (start, end)
    } else {
        (start * 8, end * 8 + 7)
    })
}

/// `BYTE` or `BIT` at `arg`.
fn unit_arg(arg: &[u8]) -> Result<bool, Frame> {
    if arg_is(arg, "bit") {
        Ok(true)
    } else if arg_is(arg, "byte") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

/// Set bits in the bit range `first..=last` of `s`.
fn count_bits(s: &[u8], first: u64, last: u64) -> i64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut n: i64 = s[fb..=lb].iter().map(|b| b.count_ones() as i64).sum();
    // Take off the bits of the edge bytes that lie outside the range.
    n -= (s[fb] & !(0xffu8 >> (first & 7))).count_ones() as i64;
    n -= (s[lb] & 0xffu8.checked_shr((last & 7) as u32 + 1).unwrap_or(0)).count_ones() as i64;
    n
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    // As in Redis, a missing key answers 0 before the arguments are read.
    let value = match ctx.ks.read(ctx.db, &args[1], ctx.now) {
        None => return Frame::Integer(0),
        Some(e) => match e.str() {
            Some(s) => s,
            None => return wrong_type(),
        },
    };
    let (first, last) = match args.len() {
        2 if value.is_empty() => return Frame::Integer(0),
        2 => (0, value.len() as u64 * 8 - 1),
        4 | 5 => {
            let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            if start < 0 && end < 0 && start > end {
                return Frame::Integer(0);
            }
            let in_bits = match args.get(4).map(|a| unit_arg(a)) {
                None => false,
                Some(Ok(b)) => b,
                Some(Err(e)) => return e,
            };
            match resolve_range(value.len(), start, end, in_bits) {
                Some(r) => r,
                None => return Frame::Integer(0),
            }
        }
        _ => return syntax_error(),
    };
    Frame::Integer(count_bits(value, first, last))
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the first bit equal to `bit` in
/// the range. Looking for a 0 without an end given, the string counts as
/// followed by zeros (the answer may be its length in bits); with an end
/// given, or looking for a 1, "none" is -1.
pub fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let bit = match int_arg(&args[2]) {
        Ok(b @ (0 | 1)) => b as u8,
        Ok(_) => return Frame::error("ERR The bit argument must be 1 or 0."),
        Err(e) => return e,
    };
    let value = match ctx.ks.read(ctx.db, &args[1], ctx.now) {
        None => return Frame::Integer(if bit == 1 { -1 } else { 0 }),
        Some(e) => match e.str() {
            Some(s) => s,
            None => return wrong_type(),
        },
    };
    let len = value.len();
    let mut end_given = false;
    let range = match args.len() {
        3 => resolve_range(len, 0, len as i64 - 1, false),
        4..=6 => {
            let start = match int_arg(&args[3]) {
                Ok(s) => s,
                Err(e) => return e,
            };
            let in_bits = match args.get(5).map(|a| unit_arg(a)) {
                None => false,
                Some(Ok(b)) => b,
                Some(Err(e)) => return e,
            };
            let end = match args.get(4) {
                Some(a) => match int_arg(a) {
                    Ok(e) => {
                        end_given = true;
                        e
                    }
                    Err(e) => return e,
                },
                None if in_bits => (len as i64) * 8 + 7,
                None => len as i64 - 1,
            };
            resolve_range(len, start, end, in_bits)
        }
        _ => return syntax_error(),
    };
    let Some((first, last)) = range else {
        return Frame::Integer(-1);
    };
    let found = find_bit(value, first, last, bit);
    Frame::Integer(match found {
        Some(pos) => pos as i64,
        None if bit == 0 && !end_given => len as i64 * 8,
        None => -1,
    })
}

/// The first bit equal to `bit` in `first..=last`, a byte at a time.
fn find_bit(s: &[u8], first: u64, last: u64, bit: u8) -> Option<u64> {
    let skip = if bit == 1 { 0x00 } else { 0xff };
    let mut pos = first;
    while pos <= last {
        if pos & 7 == 0 && pos + 7 <= last && s[(pos >> 3) as usize] == skip {
            pos += 8;
            continue;
        }
        if bit_at(s, pos) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// BITOP's operation.
#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Parses `BITOP op dst src...` as Redis does, before any key is read.
fn bitop_args(args: &[Bytes]) -> Result<BitOp, Frame> {
    let op = match &args[1] {
        a if arg_is(a, "and") => BitOp::And,
        a if arg_is(a, "or") => BitOp::Or,
        a if arg_is(a, "xor") => BitOp::Xor,
        a if arg_is(a, "not") => BitOp::Not,
        _ => return Err(syntax_error()),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(Frame::error(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(op)
}

/// The result of `op` over `sources` (`None`: a missing key, an empty
/// string), as long as the longest source; shorter ones count as padded
/// with zeros.
fn bitop_compute(op: BitOp, sources: &[Option<Bytes>]) -> Vec<u8> {
    let len = sources.iter().flatten().map(Bytes::len).max().unwrap_or(0);
    let byte =
        |s: &Option<Bytes>, i: usize| s.as_ref().and_then(|s| s.get(i).copied()).unwrap_or(0);
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let first = byte(&sources[0], i);
        let v = sources[1..].iter().fold(first, |acc, s| match op {
            BitOp::And => acc & byte(s, i),
            BitOp::Or => acc | byte(s, i),
            BitOp::Xor => acc ^ byte(s, i),
            BitOp::Not => acc,
        });
        out.push(if op == BitOp::Not { !v } else { v });
    }
    out
}

/// Replaces `dst` with `result` (no TTL), or deletes it for an empty result,
/// logged as that SET or DEL. Returns the result's length, BITOP's reply.
fn bitop_store(ctx: &mut Ctx, dst: &Bytes, result: Bytes) -> Frame {
    let len = result.len() as i64;
    if result.is_empty() {
        if ctx.ks.remove(ctx.db, dst).is_some() {
            ctx.effect(vec![Bytes::from_static(b"DEL"), dst.clone()]);
            ctx.notify(ev::GENERIC, "del", dst);
        }
    } else {
        ctx.ks.remove(ctx.db, dst);
        ctx.ks.insert(ctx.db, dst, Value::Str(result.clone()), None);
        ctx.effect(vec![Bytes::from_static(b"SET"), dst.clone(), result]);
        ctx.notify(ev::STRING, "set", dst);
    }
    Frame::Integer(len)
}

/// BITOP with every key on this shard: one step.
fn bitop_here(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let op = match bitop_args(args) {
        Ok(op) => op,
        Err(e) => return e,
    };
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        match ctx.ks.read(ctx.db, key, ctx.now) {
            None => sources.push(None),
            Some(e) => match e.str_bytes() {
                Some(s) => sources.push(Some(s)),
                None => return wrong_type(),
            },
        }
    }
    let result = Bytes::from(bitop_compute(op, &sources));
    bitop_store(ctx, &args[2], result)
}

/// The destination's half of a BITOP across shards: `args` is `[_, dst,
/// result]`.
fn bitop_store_step(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    bitop_store(ctx, &args[1], args[2].clone())
}

/// BITOP AND|OR|XOR|NOT dst src... with keys on any shard. On one shard it
/// is one step there; across shards the sources are read (in parallel, each
/// on its own shard), the result computed here and stored on the
/// destination's shard in one step, as SUNIONSTORE does.
pub async fn bitop(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let op = match bitop_args(args) {
        Ok(op) => op,
        Err(e) => return e,
    };
    let dst_shard = shard_of(node, &args[2]);
    if args[3..].iter().all(|k| shard_of(node, k) == dst_shard) {
        return run_shard_cmd_as(node, dst_shard, bitop_here, db, args.to_vec(), Access::Grow)
            .await;
    }
    // The first key (in order) that is not a string gives the error.
    let fetched = fetch_strings(node, db, &args[3..]).await;
    let sources = match fetched.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(s) => s,
        Err(e) => return e,
    };
    let result = Bytes::from(bitop_compute(op, &sources));
    let argv = vec![Bytes::from_static(b"BITOP"), args[2].clone(), result];
    run_shard_cmd_as(node, dst_shard, bitop_store_step, db, argv, Access::Grow).await
}

/// The string at each key, read on its own shard, all in parallel: `None`
/// for no such key, WRONGTYPE for a key that holds something else.
pub(super) async fn fetch_strings(
    node: &Node,
    db: usize,
    keys: &[Bytes],
) -> Vec<Result<Option<Bytes>, Frame>> {
    let fetched = join_all(keys.iter().map(|k| {
        let k = k.clone();
        node.read_shown(shard_of(node, &k), move |n: &Node| {
            let mut sh = n.shard.borrow_mut();
            match sh.keyspace.read(db, &k, now_ms()) {
                None => Ok(None),
                Some(e) => e.str_bytes().map(Some).ok_or(()),
            }
        })
    }))
    .await;
    fetched
        .into_iter()
        .map(|f| match f {
            None => Err(unavailable()),
            Some(Err(())) => Err(wrong_type()),
            Some(Ok(s)) => Ok(s),
        })
        .collect()
}

/// BITFIELD's OVERFLOW modes.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation on a field of `bits` bits at `offset`.
#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63`.
fn field_type(arg: &[u8]) -> Result<(bool, u32), Frame> {
    let err = || {
        Frame::error(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    match parse_i64(&arg[1..]) {
        Some(n) if n >= 1 && (n <= 63 || (signed && n == 64)) => Ok((signed, n as u32)),
        _ => Err(err()),
    }
}

/// Parses every BITFIELD operation, in Redis's order of checks.
fn bitfield_args(args: &[Bytes]) -> Result<Vec<Field>, Frame> {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let (word, left) = (&args[j], args.len() - j - 1);
        let op = if arg_is(word, "get") && left >= 2 {
            FieldOp::Get
        } else if arg_is(word, "set") && left >= 3 {
            FieldOp::Set(0)
        } else if arg_is(word, "incrby") && left >= 3 {
            FieldOp::IncrBy(0)
        } else if arg_is(word, "overflow") && left >= 1 {
            let mode = &args[j + 1];
            overflow = if arg_is(mode, "wrap") {
                Overflow::Wrap
            } else if arg_is(mode, "sat") {
                Overflow::Sat
            } else if arg_is(mode, "fail") {
                Overflow::Fail
            } else {
                return Err(Frame::error("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(syntax_error());
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(bits))?;
        let op = match op {
            FieldOp::Get => FieldOp::Get,
            FieldOp::Set(_) => FieldOp::Set(int_arg(&args[j + 3])?),
            FieldOp::IncrBy(_) => FieldOp::IncrBy(int_arg(&args[j + 3])?),
        };
        fields.push(Field {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(fields)
}

/// The `bits`-bit unsigned field at bit `offset` (most significant bit
/// first); bytes past the end read as zeros.
fn get_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, j| (v << 1) | bit_at(s, offset + j) as u64)
}

fn set_field(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits as u64 {
        set_bit_at(s, offset + j, (value >> (bits as u64 - 1 - j)) & 1 == 1);
    }
}

/// Sign-extends a `bits`-bit field.
fn signed_field(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// `value + incr` into an unsigned field of `bits` bits, as Redis's
/// `checkUnsignedBitfieldOverflow`: the stored value, or `None` when the
/// mode is FAIL and it overflows.
fn unsigned_result(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1; // bits <= 63
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = (value as i64).wrapping_neg();
    let high = value > max || (incr > 0 && incr > max_incr);
    let low = !high && incr < 0 && incr < min_incr;
    if !high && !low {
        return Some(value.wrapping_add(incr as u64));
    }
    match mode {
        Overflow::Fail => None,
        Overflow::Sat => Some(if high { max } else { 0 }),
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & max),
    }
}

/// As `unsigned_result` for a signed field (Redis's
/// `checkSignedBitfieldOverflow`).
fn signed_result(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let high = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    let low = !high
        && (value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr));
    if !high && !low {
        return Some(value.wrapping_add(incr));
    }
    match mode {
        Overflow::Fail => None,
        Overflow::Sat => Some(if high { max } else { min }),
        Overflow::Wrap => {
            let sum = (value as u64).wrapping_add(incr as u64);
            Some(signed_field(sum & (u64::MAX >> (64 - bits)), bits))
        }
    }
}

/// Runs one SET or INCRBY on the field, storing what it computed; its
/// reply (nil when OVERFLOW FAIL refused it).
fn write_field(s: &mut [u8], f: &Field) -> Frame {
    let raw = get_field(s, f.offset, f.bits);
    let old = signed_field(raw, f.bits);
    // (bits to store, reply)
    let done: Option<(u64, i64)> = match (f.signed, f.op) {
        (_, FieldOp::Get) => return read_field(s, f),
        (true, FieldOp::IncrBy(d)) => {
            signed_result(old, d, f.bits, f.overflow).map(|v| (v as u64, v))
        }
        (true, FieldOp::Set(v)) => signed_result(v, 0, f.bits, f.overflow).map(|v| (v as u64, old)),
        (false, FieldOp::IncrBy(d)) => {
            unsigned_result(raw, d, f.bits, f.overflow).map(|v| (v, v as i64))
        }
        (false, FieldOp::Set(v)) => {
            unsigned_result(v as u64, 0, f.bits, f.overflow).map(|v| (v, raw as i64))
        }
    };
    match done {
        Some((bits, reply)) => {
            set_field(s, f.offset, f.bits, bits);
            Frame::Integer(reply)
        }
        None => Frame::Null,
    }
}

fn read_field(s: &[u8], f: &Field) -> Frame {
    let raw = get_field(s, f.offset, f.bits);
    Frame::Integer(if f.signed {
        signed_field(raw, f.bits)
    } else {
        raw as i64
    })
}

fn bitfield_generic(ctx: &mut Ctx, args: &[Bytes], read_only: bool) -> Frame {
    let fields = match bitfield_args(args) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let last_written = fields
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + f.bits as u64 - 1)
        .max();
    let Some(last_written) = last_written else {
        // Only GETs: a read; a missing key reads as zeros.
        let replies = with_str(ctx, &args[1], |s| {
            fields.iter().map(|f| read_field(s, f)).collect::<Vec<_>>()
        });
        return match replies {
            Ok(Some(r)) => Frame::Array(r),
            Ok(None) => Frame::Array(fields.iter().map(|f| read_field(&[], f)).collect()),
            Err(e) => e,
        };
    };
    if read_only {
        return Frame::error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let min_len = (last_written >> 3) as usize + 1;
    match with_str_mut(ctx, &args[1], min_len, |s| {
        fields.iter().map(|f| write_field(s, f)).collect::<Vec<_>>()
    }) {
        Ok((replies, _)) => {
            // Redis counts every SET/INCRBY as a change, even one that failed.
            ctx.changed();
            ctx.notify(ev::STRING, "setbit", &args[1]);
            Frame::Array(replies)
        }
        Err(e) => e,
    }
}

/// BITFIELD key [GET type offset | SET type offset value | INCRBY type
/// offset increment | OVERFLOW WRAP|SAT|FAIL]...
pub fn bitfield(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset]...
pub fn bitfield_ro(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_rules_match_redis() {
        assert_eq!(unsigned_result(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_result(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_result(250, 10, 8, Overflow::Fail), None);
        assert_eq!(unsigned_result(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_result(u64::MAX, 0, 8, Overflow::Wrap), Some(255));
        assert_eq!(signed_result(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_result(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_result(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(signed_result(i64::MIN, -1, 64, Overflow::Fail), None);
        assert_eq!(signed_result(300, 0, 8, Overflow::Wrap), Some(44));
    }

    #[test]
    fn counts_and_finds_bits_in_ranges() {
        let s = b"foobar";
        assert_eq!(count_bits(s, 0, 47), 26);
        assert_eq!(count_bits(s, 5, 30), 17);
        assert_eq!(find_bit(&[0xff, 0xf0], 0, 15, 0), Some(12));
        assert_eq!(find_bit(&[0x00, 0x01], 0, 15, 1), Some(15));
    }
}
