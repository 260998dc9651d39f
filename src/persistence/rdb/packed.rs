//! The compact blobs an RDB payload carries inside its strings: Redis's
//! listpack (read and written), ziplist (read: Redis before 7.0 wrote
//! them, and 7.0 still loads them) and intset (read and written).
//!
//! Listpack (`listpack.c`): `[total bytes: u32 LE][count: u16 LE]`, the
//! entries, then `0xFF`. An entry is its encoding and data, then its own
//! size again as a "backlen" of 1..5 bytes (7 bits a byte, for walking
//! backwards). Integers take the smallest of 7-bit unsigned, 13-bit,
//! 16-, 24-, 32- and 64-bit signed; strings a 6-bit, 12-bit or 32-bit
//! length. A string that reads as a canonical integer is stored as one, as
//! Redis's `lpAppend` does. A count of 65535 means "count them".
//!
//! Ziplist (`ziplist.c`): `[bytes: u32 LE][tail offset: u32 LE]
//! [count: u16 LE]`, entries `[previous entry's size: 1 or 5 bytes]
//! [encoding][data]`, then `0xFF`.
//!
//! Intset (`intset.c`): `[width: u32 LE, 2, 4 or 8][count: u32 LE]` and
//! the integers in ascending order, each `width` bytes LE.
//!
//! Readers check every length against the blob before reading, check the
//! header's totals, and refuse anything left over: a blob either reads
//! whole or is corrupt (`None`), never read past or half-trusted.

use crate::util::parse_i64;
use bytes::Bytes;

/// One element of a listpack or ziplist.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    /// The element as Redis hands it to a client: an integer in decimal.
    pub fn to_bytes(self) -> Bytes {
        match self {
            Elem::Str(s) => Bytes::copy_from_slice(s),
            Elem::Int(i) => Bytes::from(i.to_string()),
        }
    }

    /// The element as an integer (stream fields are written as integers;
    /// a string that reads as one is taken, as Redis's `lpGetInteger`).
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Elem::Int(i) => Some(i),
            Elem::Str(s) => parse_i64(s),
        }
    }

    /// A sorted-set score kept in a listpack or ziplist: an integer, or a
    /// float as `strtod` reads it (Redis's `zzlStrtod`). Never NaN.
    pub fn as_score(self) -> Option<f64> {
        let v = match self {
            Elem::Int(i) => i as f64,
            Elem::Str(s) => crate::util::strtod(s)?.0,
        };
        (!v.is_nan()).then_some(v)
    }
}

const LP_HEADER_BYTES: usize = 6;
const LP_EOF: u8 = 0xff;
/// A listpack count at this value means "unknown: count the entries".
const LP_COUNT_UNKNOWN: usize = u16::MAX as usize;

/// Reads a whole listpack; `None` if it is corrupt in any way.
pub fn read_listpack(lp: &[u8]) -> Option<Vec<Elem<'_>>> {
    if lp.len() < LP_HEADER_BYTES + 1 {
        return None;
    }
    let total = u32::from_le_bytes(lp[0..4].try_into().ok()?) as usize;
    let count = u16::from_le_bytes(lp[4..6].try_into().ok()?) as usize;
    if total != lp.len() || lp[lp.len() - 1] != LP_EOF {
        return None;
    }
    let body = &lp[LP_HEADER_BYTES..lp.len() - 1];
    // Each entry takes at least two bytes: the count cannot pass this.
    let mut out = Vec::with_capacity(count.min(body.len() / 2));
    let mut at = 0;
    while at < body.len() {
        let (elem, size) = lp_entry(&body[at..])?;
        let backlen = backlen_bytes(size);
        let stored = body.get(at + size..at + size + backlen)?;
        if decode_backlen(stored)? != size {
            return None;
        }
        out.push(elem);
        at += size + backlen;
    }
    if count != LP_COUNT_UNKNOWN && count != out.len() {
        return None;
    }
    Some(out)
}

/// One listpack entry at the start of `p`: the element and the bytes of its
/// encoding and data (not its backlen).
fn lp_entry(p: &[u8]) -> Option<(Elem<'_>, usize)> {
    let b = *p.first()?;
    let int = |n: usize| -> Option<i64> {
        let data = p.get(1..1 + n)?;
        let mut v: u64 = 0;
        for (i, &byte) in data.iter().enumerate() {
            v |= (byte as u64) << (8 * i);
        }
        // Sign-extend from n bytes.
        let shift = 64 - 8 * n as u32;
        Some(((v << shift) as i64) >> shift)
    };
    let string = |header: usize, len: usize| -> Option<(Elem<'_>, usize)> {
        let s = p.get(header..header.checked_add(len)?)?;
        Some((Elem::Str(s), header + len))
    };
    match b {
        0x00..=0x7f => Some((Elem::Int(b as i64), 1)),
        0x80..=0xbf => string(1, (b & 0x3f) as usize),
        0xc0..=0xdf => {
            let u = (((b & 0x1f) as i64) << 8) | *p.get(1)? as i64;
            let v = if u >= 1 << 12 { u - (1 << 13) } else { u };
            Some((Elem::Int(v), 2))
        }
        0xe0..=0xef => string(2, (((b & 0x0f) as usize) << 8) | *p.get(1)? as usize),
        0xf0 => {
            let len = u32::from_le_bytes(p.get(1..5)?.try_into().ok()?) as usize;
            string(5, len)
        }
        0xf1 => Some((Elem::Int(int(2)?), 3)),
        0xf2 => Some((Elem::Int(int(3)?), 4)),
        0xf3 => Some((Elem::Int(int(4)?), 5)),
        0xf4 => Some((Elem::Int(int(8)?), 9)),
        _ => None,
    }
}

/// Bytes of the backlen of an entry of `size` bytes (`lpEncodeBacklen`).
fn backlen_bytes(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// A backlen read forwards: its first byte carries the highest 7 bits, and
/// every byte after it has its top bit set.
fn decode_backlen(b: &[u8]) -> Option<usize> {
    let mut v: usize = 0;
    for (i, &byte) in b.iter().enumerate() {
        let continued = byte & 0x80 != 0;
        if continued != (i > 0) {
            return None;
        }
        v = (v << 7) | (byte & 0x7f) as usize;
    }
    Some(v)
}

fn encode_backlen(size: usize, out: &mut Vec<u8>) {
    let n = backlen_bytes(size);
    for i in (0..n).rev() {
        let seven = ((size >> (7 * i)) & 0x7f) as u8;
        out.push(if i == n - 1 { seven } else { seven | 0x80 });
    }
}

/// Builds a listpack, element by element.
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter {
            buf: vec![0; LP_HEADER_BYTES],
            count: 0,
        }
    }
}

impl ListpackWriter {
    /// Bytes so far (with the terminator still to come).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends a string, as an integer if it reads as a canonical one.
    pub fn push(&mut self, s: &[u8]) {
        match parse_i64(s) {
            Some(i) if s.len() <= 20 => self.push_int(i),
            _ => self.push_str(s),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        match v {
            0..=127 => b.push(v as u8),
            -4096..=4095 => {
                let u = if v < 0 { (1 << 13) + v } else { v } as u16;
                b.push(0xc0 | (u >> 8) as u8);
                b.push(u as u8);
            }
            -32768..=32767 => {
                b.push(0xf1);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8388608..=8388607 => {
                b.push(0xf2);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            -2147483648..=2147483647 => {
                b.push(0xf3);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                b.push(0xf4);
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.end_entry(start);
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let b = &mut self.buf;
        match s.len() {
            n @ 0..=63 => b.push(0x80 | n as u8),
            n @ 64..=4095 => {
                b.push(0xe0 | (n >> 8) as u8);
                b.push(n as u8);
            }
            n => {
                b.push(0xf0);
                b.extend_from_slice(&(n as u32).to_le_bytes());
            }
        }
        b.extend_from_slice(s);
        self.end_entry(start);
    }

    fn end_entry(&mut self, start: usize) {
        let size = self.buf.len() - start;
        encode_backlen(size, &mut self.buf);
        self.count += 1;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(LP_COUNT_UNKNOWN) as u16;
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

const ZL_HEADER_BYTES: usize = 10;
const ZL_END: u8 = 0xff;
/// A ziplist count at this value means "count the entries".
const ZL_COUNT_UNKNOWN: usize = u16::MAX as usize;

/// Reads a whole ziplist; `None` if it is corrupt in any way.
pub fn read_ziplist(zl: &[u8]) -> Option<Vec<Elem<'_>>> {
    if zl.len() < ZL_HEADER_BYTES + 1 {
        return None;
    }
    let total = u32::from_le_bytes(zl[0..4].try_into().ok()?) as usize;
    let tail = u32::from_le_bytes(zl[4..8].try_into().ok()?) as usize;
    let count = u16::from_le_bytes(zl[8..10].try_into().ok()?) as usize;
    if total != zl.len() || zl[zl.len() - 1] != ZL_END {
        return None;
    }
    let end = zl.len() - 1;
    let mut out = Vec::with_capacity(count.min(end / 2));
    let (mut at, mut prev_size, mut last_start) = (ZL_HEADER_BYTES, 0usize, ZL_HEADER_BYTES);
    while at < end {
        let p = &zl[at..end];
        let (prevlen, mut n) = match *p.first()? {
            b if b < 254 => (b as usize, 1),
            254 => (
                u32::from_le_bytes(p.get(1..5)?.try_into().ok()?) as usize,
                5,
            ),
            _ => return None,
        };
        if prevlen != prev_size {
            return None;
        }
        let enc = *p.get(n)?;
        n += 1;
        let int = |from: usize, bytes: usize| -> Option<i64> {
            let data = p.get(from..from + bytes)?;
            let mut v: u64 = 0;
            for (i, &byte) in data.iter().enumerate() {
                v |= (byte as u64) << (8 * i);
            }
            let shift = 64 - 8 * bytes as u32;
            Some(((v << shift) as i64) >> shift)
        };
        let (elem, size) = match enc {
            0x00..=0x3f => {
                let len = (enc & 0x3f) as usize;
                (Elem::Str(p.get(n..n + len)?), n + len)
            }
            0x40..=0x7f => {
                let len = (((enc & 0x3f) as usize) << 8) | *p.get(n)? as usize;
                (Elem::Str(p.get(n + 1..n + 1 + len)?), n + 1 + len)
            }
            0x80 => {
                let len = u32::from_be_bytes(p.get(n..n + 4)?.try_into().ok()?) as usize;
                let s = p.get(n + 4..(n + 4).checked_add(len)?)?;
                (Elem::Str(s), n + 4 + len)
            }
            0xc0 => (Elem::Int(int(n, 2)?), n + 2),
            0xd0 => (Elem::Int(int(n, 4)?), n + 4),
            0xe0 => (Elem::Int(int(n, 8)?), n + 8),
            0xf0 => (Elem::Int(int(n, 3)?), n + 3),
            0xfe => (Elem::Int(int(n, 1)?), n + 1),
            0xf1..=0xfd => (Elem::Int((enc & 0x0f) as i64 - 1), n),
            _ => return None,
        };
        out.push(elem);
        last_start = at;
        prev_size = size;
        at += size;
    }
    let tail_ok = if out.is_empty() {
        tail == ZL_HEADER_BYTES
    } else {
        tail == last_start
    };
    if !tail_ok || (count != ZL_COUNT_UNKNOWN && count != out.len()) {
        return None;
    }
    Some(out)
}

/// Reads an intset's integers; `None` if it is corrupt or not strictly
/// ascending (Redis looks members up by binary search).
pub fn read_intset(is: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(is.get(0..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(is.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || Some(is.len()) != count.checked_mul(width)?.checked_add(8) {
        return None;
    }
    let values: Vec<i64> = is[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
        .collect();
    values.windows(2).all(|w| w[0] < w[1]).then_some(values)
}

/// An intset of `values` (sorted here), with the narrowest width that holds
/// them all, as Redis's.
pub fn write_intset(mut values: Vec<i64>) -> Vec<u8> {
    values.sort_unstable();
    let width = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_round_trip_of_every_encoding() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            32767,
            40000,
            -8388608,
            8388607,
            1 << 30,
            -(1 << 31),
            1 << 40,
            i64::MIN,
            i64::MAX,
        ];
        let mut w = ListpackWriter::default();
        for i in ints {
            w.push_int(i);
        }
        w.push(b"hello");
        w.push(b"");
        w.push(&mid);
        w.push(&long);
        w.push(b"007");
        w.push(b"-12");
        let lp = w.finish();
        let got = read_listpack(&lp).unwrap();
        let mut want: Vec<Elem> = ints.iter().map(|&i| Elem::Int(i)).collect();
        want.extend([
            Elem::Str(b"hello"),
            Elem::Str(b""),
            Elem::Str(&mid),
            Elem::Str(&long),
            Elem::Str(b"007"),
            Elem::Int(-12),
        ]);
        assert_eq!(got, want);
        // Every truncation and every single-byte change is refused or reads
        // as something else, never past the end.
        for cut in 0..lp.len() {
            assert!(read_listpack(&lp[..cut]).is_none());
        }
        for i in 0..lp.len() {
            let mut bad = lp.clone();
            bad[i] ^= 0x5a;
            let _ = read_listpack(&bad);
        }
    }

    #[test]
    fn intset_widths_and_order() {
        for values in [vec![1, -5, 3], vec![70000, -2], vec![1 << 40, 0]] {
            let blob = write_intset(values.clone());
            let mut sorted = values.clone();
            sorted.sort();
            assert_eq!(read_intset(&blob).unwrap(), sorted);
        }
        assert_eq!(write_intset(vec![1, 2])[0], 2);
        assert!(read_intset(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0, 1, 0]).is_none());
        assert!(read_intset(&[2, 0, 0, 0, 2, 0, 0, 0, 5, 0]).is_none());
    }

    #[test]
    fn ziplist_entries() {
        // A ziplist of "ab", 5 (immediate), 300 (int16): built by hand.
        let mut zl = vec![0u8; 10];
        let entries: [&[u8]; 3] = [&[0, 0x02, b'a', b'b'], &[4, 0xf6], &[2, 0xc0, 0x2c, 0x01]];
        let mut tail = 10;
        for e in entries {
            tail = zl.len();
            zl.extend_from_slice(e);
        }
        zl.push(0xff);
        let n = zl.len() as u32;
        zl[0..4].copy_from_slice(&n.to_le_bytes());
        zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        zl[8..10].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(
            read_ziplist(&zl).unwrap(),
            vec![Elem::Str(b"ab"), Elem::Int(5), Elem::Int(300)]
        );
        for cut in 0..zl.len() {
            assert!(read_ziplist(&zl[..cut]).is_none());
        }
    }
}
