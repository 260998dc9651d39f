//! HyperLogLog: PFADD, PFCOUNT, PFMERGE (and PFDEBUG, PFSELFTEST), in Redis
//! 7.0's own representation, so that a value copied between redis-server
//! and ringcache (GET, SET) keeps working both ways and PFCOUNT gives the
//! same number for the same elements.
//!
//! An HLL is a plain string: a 16-byte header (`HYLL`, the encoding byte,
//! three unused bytes, the cached cardinality as 8 little-endian bytes whose
//! top bit set means "stale"), then 16384 registers of 6 bits. An element
//! is hashed with MurmurHash64A (seed 0xadc83b19); the low 14 bits pick the
//! register, the run of zeros above them (plus one) is the candidate value.
//! Registers are stored either *dense* (12288 bytes, each register's 6 bits
//! from the least significant bit up) or *sparse*, a run-length code of
//! three opcodes: ZERO `00xxxxxx` (1-64 zero registers), XZERO `01xxxxxx
//! yyyyyyyy` (1-16384 zero registers), VAL `1vvvvvxx` (1-4 registers of
//! value 1-32). A new HLL is sparse; it turns dense for good when a register
//! needs a value above 32 or the sparse form would pass
//! `HLL_SPARSE_MAX_BYTES` (Redis's `hll-sparse-max-bytes` default). The
//! sparse update below follows Redis's `hllSparseSet` step for step (how a
//! run is split, which neighbours are merged after), since its bytes are
//! what GET shows. The count is Redis 7's estimator (Ertl's improved
//! estimator with `sigma` and `tau`, arXiv:1702.01284) over the register
//! histogram.
//!
//! Logging: PFADD is logged as its text (replay is deterministic). PFCOUNT
//! of one key stores the cardinality it computed in the header, as Redis
//! does, logged as `SETRANGE key 8 <8 bytes>`; PFMERGE, whose keys may
//! live on several shards, is logged as `SET dst <bytes> KEEPTTL`, and so
//! is an HLL that PFDEBUG GETREG or TODENSE turned dense.

use super::bitmaps::{fetch_strings, with_str_mut};
use super::cross::{run_shard_cmd_as, shard_of};
use super::strings::replace_value;
use super::wrong_type;
use crate::config::events as ev;
use crate::node::Node;
use crate::protocol::Frame;
use crate::shard::{Access, Ctx};
use bytes::Bytes;

/// Index bits: 2^14 registers.
const HLL_P: u32 = 14;
const REGISTERS: usize = 1 << HLL_P;
/// Hash bits left to count zeros in.
const HLL_Q: usize = 64 - HLL_P as usize;
const REGISTER_BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << REGISTER_BITS) - 1;
const HEADER_BYTES: usize = 16;
const DENSE_BYTES: usize = HEADER_BYTES + (REGISTERS * REGISTER_BITS).div_ceil(8);
/// Largest sparse HLL, header included (Redis's `hll-sparse-max-bytes`).
const HLL_SPARSE_MAX_BYTES: usize = 3000;
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
const MAGIC: &[u8; 4] = b"HYLL";
/// Where the encoding byte and the cached cardinality sit in the header.
const ENCODING_AT: usize = 4;
const CARD_AT: usize = 8;
/// Redis's seed for the element hash.
const HASH_SEED: u64 = 0xadc8_3b19;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// 1 / (2 ln 2), the estimator's constant for m → ∞.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

fn not_hll() -> Frame {
    Frame::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn invalid_obj() -> Frame {
    Frame::error("INVALIDOBJ Corrupted HLL object detected")
}

/// A sparse HLL whose opcodes do not add up to the registers.
#[derive(Debug)]
struct Corrupt;

/// Redis's MurmurHash64A (little-endian words, as Redis reads them).
fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut k = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and its run of zeros plus one.
fn register_and_count(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HASH_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the count at Q + 1.
    let rest = (hash >> HLL_P) | (1u64 << HLL_Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HLL: sparse, one XZERO run over every register, cached
/// cardinality 0.
fn new_hll() -> Vec<u8> {
    let mut h = vec![0u8; HEADER_BYTES];
    h[..4].copy_from_slice(MAGIC);
    h[ENCODING_AT] = ENCODING_SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        h.extend_from_slice(&xzero_op(run));
        left -= run;
    }
    h
}

/// Whether `s` is an HLL Redis accepts: magic, a known encoding, and the
/// exact size if dense.
fn is_hll(s: &[u8]) -> bool {
    s.len() >= HEADER_BYTES
        && &s[..4] == MAGIC
        && s[ENCODING_AT] <= ENCODING_SPARSE
        && (s[ENCODING_AT] != ENCODING_DENSE || s.len() == DENSE_BYTES)
}

fn cached_card(h: &[u8]) -> Option<u64> {
    let card: [u8; 8] = h[CARD_AT..CARD_AT + 8].try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

fn invalidate_cache(h: &mut [u8]) {
    h[CARD_AT + 7] |= 0x80;
}

// Dense registers. The last register's bits end inside the last byte, so
// the byte after it (outside the string) is read as 0 and never written.

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let (byte, fb) = (i * REGISTER_BITS / 8, (i * REGISTER_BITS) & 7);
    let b0 = regs.get(byte).copied().unwrap_or(0) as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u16) as u8
}

fn dense_set(regs: &mut [u8], i: usize, value: u8) {
    let (byte, fb) = (i * REGISTER_BITS / 8, (i * REGISTER_BITS) & 7);
    let v = value as u16;
    let max = REGISTER_MAX as u16;
    regs[byte] = ((regs[byte] as u16 & !(max << fb)) | (v << fb)) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next = ((*next as u16 & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// Raises register `i` to `count`; true if it was lower.
fn dense_raise(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

// Sparse opcodes.

fn is_zero_op(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero_op(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val_op(b: u8) -> bool {
    b & 0x80 != 0
}

fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}

fn xzero_len(b0: u8, b1: u8) -> usize {
    ((((b0 & 0x3f) as usize) << 8) | b1 as usize) + 1
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    (b & 0x3) as usize + 1
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | 0x80
}

fn xzero_op(len: usize) -> [u8; 2] {
    let l = len - 1;
    [(l >> 8) as u8 | 0x40, (l & 0xff) as u8]
}

/// Appends the shortest opcode for a run of `len` zero registers.
fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero_op(len));
    } else {
        seq.push(len as u8 - 1);
    }
}

/// The sparse opcodes of `h` as (register value, run length), checked to
/// cover exactly the registers.
fn sparse_runs(h: &[u8]) -> Result<Vec<(u8, usize)>, Corrupt> {
    let mut runs = Vec::new();
    let (mut p, mut idx) = (HEADER_BYTES, 0usize);
    while p < h.len() {
        let b = h[p];
        let (value, len, oplen) = if is_zero_op(b) {
            (0, zero_len(b), 1)
        } else if is_xzero_op(b) {
            (0, xzero_len(b, h.get(p + 1).copied().unwrap_or(0)), 2)
        } else {
            (val_value(b), val_len(b), 1)
        };
        if idx + len > REGISTERS {
            return Err(Corrupt);
        }
        runs.push((value, len));
        idx += len;
        p += oplen;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(runs)
}

/// Turns a sparse HLL dense (header kept, cached cardinality included).
fn sparse_to_dense(h: &mut Vec<u8>) -> Result<(), Corrupt> {
    if h[ENCODING_AT] == ENCODING_DENSE {
        return Ok(());
    }
    let runs = sparse_runs(h)?;
    let mut dense = vec![0u8; DENSE_BYTES];
    dense[..HEADER_BYTES].copy_from_slice(&h[..HEADER_BYTES]);
    dense[ENCODING_AT] = ENCODING_DENSE;
    let regs = &mut dense[HEADER_BYTES..];
    let mut idx = 0;
    for (value, len) in runs {
        if value != 0 {
            (idx..idx + len).for_each(|i| dense_set(regs, i, value));
        }
        idx += len;
    }
    *h = dense;
    Ok(())
}

/// Raises register `index` of a sparse HLL to `count` if lower, as Redis's
/// `hllSparseSet`: splits the run holding it, merges equal VAL neighbours,
/// and turns the HLL dense when the sparse form cannot hold the result.
/// True if the register changed.
fn sparse_raise(h: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(h, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = h.len();
    let (mut p, mut first, mut span) = (HEADER_BYTES, 0usize, 0usize);
    let mut prev = None;
    while p < end {
        let b = h[p];
        let oplen;
        (span, oplen) = if is_zero_op(b) {
            (zero_len(b), 1)
        } else if is_val_op(b) {
            (val_len(b), 1)
        } else {
            (xzero_len(b, h.get(p + 1).copied().unwrap_or(0)), 2)
        };
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = h[p];
    let (zero, xzero) = (is_zero_op(op), is_xzero_op(op));
    let old_len = if xzero { 2 } else { 1 };
    let runlen = span;
    // Step 2: the easy cases change one byte in place.
    let simple = if !zero && !xzero {
        if val_value(op) >= count {
            return Ok(false);
        }
        runlen == 1
    } else {
        zero && runlen == 1
    };
    if simple {
        h[p] = val_op(count, 1);
    } else {
        // Otherwise the run is split around the register: at most
        // XZERO-VAL-XZERO, five bytes.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if zero || xzero {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        } else {
            let current = val_value(op);
            if index != first {
                seq.push(val_op(current, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(current, last - index));
            }
        }
        // Step 3: too long for the sparse form: dense from now on.
        if seq.len() > old_len && h.len() + seq.len() - old_len > HLL_SPARSE_MAX_BYTES {
            return promote(h, index, count);
        }
        if p + old_len <= h.len() {
            h.splice(p..p + old_len, seq);
        } else {
            // A corrupt HLL ending in half an XZERO: Redis read the missing
            // byte as its string's terminating 0 and writes the new opcodes
            // over it; whatever lands past the string's new length is lost.
            let new_len = h.len() + seq.len() - old_len;
            h.truncate(p);
            h.extend_from_slice(&seq);
            h.truncate(new_len);
        }
    }
    // Step 4: merge adjacent VAL opcodes of one value, scanning at most five
    // opcodes from the one before the change.
    let mut q = prev.unwrap_or(HEADER_BYTES);
    let mut scan = 5;
    while q < h.len() && scan > 0 {
        scan -= 1;
        let b = h[q];
        if is_xzero_op(b) {
            q += 2;
            continue;
        }
        if is_zero_op(b) {
            q += 1;
            continue;
        }
        if let Some(&next) = h.get(q + 1) {
            if is_val_op(next) && val_value(b) == val_value(next) {
                let len = val_len(b) + val_len(next);
                if len <= SPARSE_VAL_MAX_LEN {
                    h[q + 1] = val_op(val_value(b), len);
                    h.remove(q);
                    // Try the merged opcode with its right neighbour too.
                    continue;
                }
            }
        }
        q += 1;
    }
    invalidate_cache(h);
    Ok(true)
}

/// Turns the HLL dense and raises the register there.
fn promote(h: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(h)?;
    Ok(dense_raise(&mut h[HEADER_BYTES..], index, count))
}

/// Raises register `index` to `count` in either encoding.
fn raise(h: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    if h[ENCODING_AT] == ENCODING_DENSE {
        Ok(dense_raise(&mut h[HEADER_BYTES..], index, count))
    } else {
        sparse_raise(h, index, count)
    }
}

/// Raises each `max[i]` to register i of `h` (a valid HLL).
fn merge_into(max: &mut [u8], h: &[u8]) -> Result<(), Corrupt> {
    if h[ENCODING_AT] == ENCODING_DENSE {
        let regs = &h[HEADER_BYTES..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let mut idx = 0;
    for (value, len) in sparse_runs(h)? {
        for m in &mut max[idx..idx + len] {
            *m = (*m).max(value);
        }
        idx += len;
    }
    Ok(())
}

/// How many registers hold each value.
type Histogram = [u32; 64];

fn histogram(h: &[u8]) -> Result<Histogram, Corrupt> {
    let mut histo = [0u32; 64];
    if h[ENCODING_AT] == ENCODING_DENSE {
        let regs = &h[HEADER_BYTES..];
        (0..REGISTERS).for_each(|i| histo[dense_get(regs, i) as usize] += 1);
    } else {
        for (value, len) in sparse_runs(h)? {
            histo[value as usize] += len as u32;
        }
    }
    Ok(histo)
}

fn raw_histogram(registers: &[u8]) -> Histogram {
    let mut histo = [0u32; 64];
    registers
        .iter()
        .for_each(|&r| histo[(r & REGISTER_MAX) as usize] += 1);
    histo
}

/// Ertl's sigma (arXiv:1702.01284), as Redis computes it.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau, as Redis computes it.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a register histogram (Redis's `hllCount`).
fn estimate(histo: &Histogram) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[HLL_Q + 1] as f64) / m);
    for j in (1..=HLL_Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The HLL at `key` as bytes to change (`None`: no such key), or the error
/// Redis gives for a key that holds something else.
/// (A write's lookup, as Redis's PFADD, PFMERGE and PFDEBUG make: no
/// keyspace miss counted, no `keymiss` raised.)
fn read_hll(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Vec<u8>>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.str() {
            None => Err(wrong_type()),
            Some(s) if is_hll(s) => Ok(Some(s.to_vec())),
            Some(_) => Err(not_hll()),
        },
    }
}

/// PFADD key [element...]: 1 if a register changed (or the key was made).
pub fn pfadd(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    let (mut h, mut updated) = match read_hll(ctx, key) {
        Ok(Some(h)) => (h, false),
        Ok(None) => (new_hll(), true),
        Err(e) => return e,
    };
    for element in &args[2..] {
        let (index, count) = register_and_count(element);
        match raise(&mut h, index, count) {
            Ok(changed) => updated |= changed,
            Err(Corrupt) => {
                // Redis keeps the registers raised before the bad one (and
                // does not propagate them): keep them too, logged as the
                // value they made, since replaying the PFADD would fail.
                if updated {
                    let h = Bytes::from(h);
                    replace_value(ctx, key, h.clone());
                    ctx.effect(vec![
                        Bytes::from_static(b"SET"),
                        key.clone(),
                        h,
                        Bytes::from_static(b"KEEPTTL"),
                    ]);
                }
                return invalid_obj();
            }
        }
    }
    if updated {
        invalidate_cache(&mut h);
        replace_value(ctx, key, Bytes::from(h));
        ctx.notify(ev::STRING, "pfadd", key);
    }
    Frame::Integer(updated as i64)
}

/// PFCOUNT of one key: the cached cardinality, or computed and cached.
fn pfcount_one(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    let card = match ctx.ks.read(ctx.db, key, ctx.now) {
        None => return Frame::Integer(0),
        Some(e) => match e.str() {
            None => return wrong_type(),
            Some(s) if !is_hll(s) => return not_hll(),
            Some(s) => match cached_card(s) {
                Some(card) => return Frame::Integer(card as i64),
                None => match histogram(s) {
                    Ok(histo) => estimate(&histo),
                    Err(Corrupt) => return invalid_obj(),
                },
            },
        },
    };
    let bytes = card.to_le_bytes();
    if let Err(e) = with_str_mut(ctx, key, 0, |s| {
        s[CARD_AT..CARD_AT + 8].copy_from_slice(&bytes)
    }) {
        return e;
    }
    ctx.effect(vec![
        Bytes::from_static(b"SETRANGE"),
        key.clone(),
        Bytes::from_static(b"8"),
        Bytes::copy_from_slice(&bytes),
    ]);
    Frame::Integer(card as i64)
}

/// Merges each key's HLL (in order: the first bad one gives the error) into
/// `max`; true if any was dense.
fn merge_all(
    max: &mut [u8],
    values: impl IntoIterator<Item = Result<Option<Bytes>, Frame>>,
) -> Result<bool, Frame> {
    let mut any_dense = false;
    for v in values {
        let Some(h) = v? else { continue };
        if !is_hll(&h) {
            return Err(not_hll());
        }
        any_dense |= h[ENCODING_AT] == ENCODING_DENSE;
        merge_into(max, &h).map_err(|Corrupt| invalid_obj())?;
    }
    Ok(any_dense)
}

/// PFCOUNT key...: one key's cardinality (cached as Redis caches it), or
/// the cardinality of the union of several, read on their own shards.
pub async fn pfcount(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    if args.len() == 2 {
        let shard = shard_of(node, &args[1]);
        return run_shard_cmd_as(node, shard, pfcount_one, db, args.to_vec(), Access::Read).await;
    }
    let values = fetch_strings(node, db, &args[1..]).await;
    let mut max = vec![0u8; REGISTERS];
    match merge_all(&mut max, values) {
        Ok(_) => Frame::Integer(estimate(&raw_histogram(&max)) as i64),
        Err(e) => e,
    }
}

/// Stores the union `max` into `dst` (made if missing, turned dense if any
/// input was), logged as `SET dst <bytes> KEEPTTL`.
fn store_merged(ctx: &mut Ctx, dst: &Bytes, max: &[u8], any_dense: bool) -> Frame {
    // Another command may have changed `dst` since it was read: check again.
    let mut h = match read_hll(ctx, dst) {
        Ok(Some(h)) => h,
        Ok(None) => new_hll(),
        Err(e) => return e,
    };
    if any_dense && sparse_to_dense(&mut h).is_err() {
        return invalid_obj();
    }
    for (i, &count) in max.iter().enumerate() {
        if count != 0 && raise(&mut h, i, count).is_err() {
            return invalid_obj();
        }
    }
    invalidate_cache(&mut h);
    let h = Bytes::from(h);
    replace_value(ctx, dst, h.clone());
    ctx.effect(vec![
        Bytes::from_static(b"SET"),
        dst.clone(),
        h,
        Bytes::from_static(b"KEEPTTL"),
    ]);
    ctx.notify(ev::STRING, "pfadd", dst);
    Frame::OK
}

/// PFMERGE with every key on this shard: one step.
fn pfmerge_here(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let mut max = vec![0u8; REGISTERS];
    let mut values = Vec::with_capacity(args.len() - 1);
    for key in &args[1..] {
        let v = match ctx.ks.read(ctx.db, key, ctx.now) {
            None => Ok(None),
            Some(e) => e.str_bytes().map(Some).ok_or_else(wrong_type),
        };
        let failed = v.is_err();
        values.push(v);
        if failed {
            break;
        }
    }
    match merge_all(&mut max, values) {
        Ok(any_dense) => store_merged(ctx, &args[1], &max, any_dense),
        Err(e) => e,
    }
}

/// The destination's half of a PFMERGE across shards: `args` is `[_, dst,
/// registers (one byte each), "1" if any input was dense]`.
fn pfmerge_store(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    if args.len() != 4 || args[2].len() != REGISTERS {
        return invalid_obj();
    }
    store_merged(ctx, &args[1], &args[2], &args[3][..] == b"1")
}

/// PFMERGE dst [src...]: the union of every key's HLL, `dst` included,
/// into `dst`. On one shard it is one step; across shards the inputs are
/// read in parallel, merged here, and stored on `dst`'s shard in one step,
/// as SUNIONSTORE does.
pub async fn pfmerge(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let dst_shard = shard_of(node, &args[1]);
    if args[2..].iter().all(|k| shard_of(node, k) == dst_shard) {
        return run_shard_cmd_as(
            node,
            dst_shard,
            pfmerge_here,
            db,
            args.to_vec(),
            Access::Grow,
        )
        .await;
    }
    let values = fetch_strings(node, db, &args[1..]).await;
    let mut max = vec![0u8; REGISTERS];
    let any_dense = match merge_all(&mut max, values) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let argv = vec![
        Bytes::from_static(b"PFMERGE"),
        args[1].clone(),
        Bytes::from(max),
        Bytes::from_static(if any_dense { b"1" } else { b"0" }),
    ];
    run_shard_cmd_as(node, dst_shard, pfmerge_store, db, argv, Access::Grow).await
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key: Redis's introspection of an
/// HLL. GETREG and TODENSE turn a sparse HLL dense, as Redis does, logged
/// as the value they made.
pub fn pfdebug(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[2];
    let mut h = match read_hll(ctx, key) {
        Ok(Some(h)) => h,
        Ok(None) => return Frame::error("ERR The specified key does not exist"),
        Err(e) => return e,
    };
    let sub = String::from_utf8_lossy(&args[1]).to_lowercase();
    let sparse = h[ENCODING_AT] == ENCODING_SPARSE;
    let densify = |ctx: &mut Ctx, h: &mut Vec<u8>| -> Result<(), Frame> {
        sparse_to_dense(h).map_err(|Corrupt| invalid_obj())?;
        let value = Bytes::from(h.clone());
        replace_value(ctx, key, value.clone());
        ctx.effect(vec![
            Bytes::from_static(b"SET"),
            key.clone(),
            value,
            Bytes::from_static(b"KEEPTTL"),
        ]);
        Ok(())
    };
    match sub.as_str() {
        "getreg" => {
            if sparse {
                if let Err(e) = densify(ctx, &mut h) {
                    return e;
                }
            }
            let regs = &h[HEADER_BYTES..];
            Frame::Array(
                (0..REGISTERS)
                    .map(|i| Frame::Integer(dense_get(regs, i) as i64))
                    .collect(),
            )
        }
        "decode" if !sparse => Frame::error("ERR HLL encoding is not sparse"),
        "decode" => match decode_sparse(&h) {
            Some(text) => Frame::bulk(text),
            None => invalid_obj(),
        },
        "encoding" => Frame::simple(if sparse { "sparse" } else { "dense" }),
        "todense" => {
            if sparse {
                if let Err(e) = densify(ctx, &mut h) {
                    return e;
                }
            }
            Frame::Integer(sparse as i64)
        }
        _ => Frame::error(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

/// A sparse HLL's opcodes as PFDEBUG DECODE shows them: `z:len` (ZERO),
/// `Z:len` (XZERO), `v:value,len` (VAL).
fn decode_sparse(h: &[u8]) -> Option<String> {
    sparse_runs(h).ok()?;
    let mut ops = Vec::new();
    let mut p = HEADER_BYTES;
    while p < h.len() {
        let b = h[p];
        if is_zero_op(b) {
            ops.push(format!("z:{}", zero_len(b)));
            p += 1;
        } else if is_xzero_op(b) {
            ops.push(format!("Z:{}", xzero_len(b, *h.get(p + 1)?)));
            p += 2;
        } else {
            ops.push(format!("v:{},{}", val_value(b), val_len(b)));
            p += 1;
        }
    }
    Some(ops.join(" "))
}

/// PFSELFTEST: checks the register code and the estimator: every dense
/// register set and read back, a sparse and a dense HLL given the same
/// elements hold the same registers, and the count stays within Redis's
/// error bound as elements are added.
pub fn pfselftest() -> Frame {
    // Dense registers: each set to a value, then all read back.
    let mut regs = vec![0u8; DENSE_BYTES - HEADER_BYTES];
    let value = |i: usize| ((i * 7 + 3) % (REGISTER_MAX as usize + 1)) as u8;
    (0..REGISTERS).for_each(|i| dense_set(&mut regs, i, value(i)));
    if let Some(i) = (0..REGISTERS).find(|&i| dense_get(&regs, i) != value(i)) {
        return Frame::error(format!("ERR TESTFAILED Register error at index {i}"));
    }
    // Sparse and dense agree, and the estimate stays close.
    let (mut sparse, mut dense) = (new_hll(), new_hll());
    if sparse_to_dense(&mut dense).is_err() {
        return Frame::error("ERR TESTFAILED a new HLL cannot be made dense");
    }
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 10u64;
    for n in 1..=100_000u64 {
        let (index, count) = register_and_count(&n.to_le_bytes());
        if raise(&mut sparse, index, count).is_err() || raise(&mut dense, index, count).is_err() {
            return Frame::error("ERR TESTFAILED a register could not be raised");
        }
        if n != checkpoint {
            continue;
        }
        checkpoint *= 10;
        let mut promoted = sparse.clone();
        if sparse_to_dense(&mut promoted).is_err()
            || promoted[HEADER_BYTES..] != dense[HEADER_BYTES..]
        {
            return Frame::error(format!(
                "ERR TESTFAILED sparse and dense registers differ after {n} elements"
            ));
        }
        let Ok(histo) = histogram(&dense) else {
            return Frame::error("ERR TESTFAILED the registers cannot be read");
        };
        let estimate = estimate(&histo) as f64;
        // Redis's bound: 5 standard errors below 100 elements, 6 above.
        let bound = if n < 100 { 5.0 } else { 6.0 } * relative_error * n as f64;
        if (estimate - n as f64).abs() > bound.max(1.0) {
            return Frame::error(format!(
                "ERR TESTFAILED too big error. card:{n} abserr:{}",
                (estimate - n as f64).abs()
            ));
        }
    }
    Frame::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_is_redis_bytes() {
        let h = new_hll();
        assert_eq!(h.len(), 18);
        assert_eq!(&h[16..], &[0x7f, 0xff]);
        assert_eq!(estimate(&histogram(&h).unwrap()), 0);
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut sparse = new_hll();
        let mut dense = new_hll();
        sparse_to_dense(&mut dense).unwrap();
        for i in 0..5000u32 {
            let e = i.to_string();
            let (index, count) = register_and_count(e.as_bytes());
            raise(&mut sparse, index, count).unwrap();
            raise(&mut dense, index, count).unwrap();
        }
        assert_eq!(dense.len(), DENSE_BYTES);
        let (a, b) = (histogram(&sparse).unwrap(), histogram(&dense).unwrap());
        assert_eq!(estimate(&a), estimate(&b));
        let n = estimate(&a) as f64;
        assert!((n - 5000.0).abs() < 5000.0 * 0.05, "{n}");
    }
}
