//! `Packed`: a small hash's field/value pairs in one buffer, as Redis's
//! listpack. A hash of a few short fields held as `Bytes` pairs cost a block
//! per field and per value plus the vector of pairs (~700 bytes for four
//! 20-byte pairs where Redis needs ~200); packed, it is one block.
//!
//! Layout: the pair count in the first byte (255: "255 or more", counted by
//! walking, as a listpack counts past 65,535), then per pair the field's
//! length (a varint: one byte below 128), the field, the value's length, the
//! value. The caller converts to a `Map` past Redis's limits
//! (`hash-max-listpack-*`, see `fits`). Lookups scan, which at this size
//! beats hashing.

use crate::keyspace::memory::vec_bytes;
use bytes::Bytes;

/// Most bytes a packed hash grows to, whatever the settings (Redis's
/// `LISTPACK_MAX_SAFETY_SIZE`).
const MAX_BYTES: usize = 1 << 30;
/// The count byte's "count them" value.
const MANY: u8 = u8::MAX;

#[derive(Default)]
pub struct Packed(Vec<u8>);

/// Where a pair sits in the buffer.
struct Found {
    /// Offset of the pair's first byte (the field's length).
    start: usize,
    /// Offset of the value's length.
    value_at: usize,
    /// Offset of the value's first byte.
    value_start: usize,
    /// Offset just past the pair.
    end: usize,
}

impl Packed {
    pub fn len(&self) -> usize {
        match self.0.first() {
            None => 0,
            Some(&MANY) => self.iter().count(),
            Some(&n) => n as usize,
        }
    }

    /// Whether setting this pair keeps the hash compact under `limits`
    /// (`hash-max-listpack-entries`, `-value`), else it must become a `Map`:
    /// both short enough, and room for it if the field is new.
    pub fn fits(&self, field: &[u8], value: &[u8], limits: (usize, usize)) -> bool {
        let (entries, longest) = limits;
        field.len() <= longest
            && value.len() <= longest
            && self.0.len() + field.len() + value.len() < MAX_BYTES
            && (self.len() < entries || self.find(field).is_some())
    }

    pub fn heap_bytes(&self) -> usize {
        vec_bytes::<u8>(self.0.capacity())
    }

    pub fn iter(&self) -> Pairs<'_> {
        Pairs {
            rest: self.0.get(1..).unwrap_or_default(),
        }
    }

    fn find(&self, field: &[u8]) -> Option<Found> {
        let mut at = 1;
        for (f, v) in self.iter() {
            let value_at = at + varint_len(f.len()) + f.len();
            let value_start = value_at + varint_len(v.len());
            let end = value_start + v.len();
            if f == field {
                return Some(Found {
                    start: at,
                    value_at,
                    value_start,
                    end,
                });
            }
            at = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let f = self.find(field)?;
        Some(&self.0[f.value_start..f.end])
    }

    /// Sets a field (one that `fits`); true if it is new. The buffer is kept
    /// at its exact size: memory is what a compact hash is for.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(f) = self.find(field) {
            let mut counted = Vec::with_capacity(varint_len(value.len()) + value.len());
            put_counted(&mut counted, value);
            self.0.splice(f.value_at..f.end, counted);
            self.0.shrink_to_fit();
            return false;
        }
        if self.0.is_empty() {
            self.0.push(0);
        }
        self.0.reserve_exact(
            varint_len(field.len()) + field.len() + varint_len(value.len()) + value.len(),
        );
        put_counted(&mut self.0, field);
        put_counted(&mut self.0, value);
        if self.0[0] != MANY {
            self.0[0] += 1;
        }
        true
    }

    pub fn remove(&mut self, field: &[u8]) -> Option<Bytes> {
        let f = self.find(field)?;
        let value = Bytes::copy_from_slice(&self.0[f.value_start..f.end]);
        self.0.drain(f.start..f.end);
        if self.0[0] == MANY {
            // Counted again: below 255 it is a number once more.
            self.0[0] = self.iter().count().min(MANY as usize) as u8;
        } else {
            self.0[0] -= 1;
        }
        if self.0[0] == 0 {
            self.0 = Vec::new();
        } else {
            self.0.shrink_to_fit();
        }
        Some(value)
    }
}

/// The pairs in order.
pub struct Pairs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (field, rest) = split_counted(self.rest)?;
        let (value, rest) = split_counted(rest)?;
        self.rest = rest;
        Some((field, value))
    }
}

/// Bytes of `n` as a varint (seven bits a byte, low first).
fn varint_len(n: usize) -> usize {
    (usize::BITS - (n | 1).leading_zeros()).div_ceil(7) as usize
}

/// Appends `bytes` after its length.
fn put_counted(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut n = bytes.len();
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
}

/// A length and that many bytes, then the rest.
fn split_counted(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let (mut n, mut shift, mut at) = (0usize, 0, 0);
    loop {
        let b = *p.get(at)?;
        at += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    p[at..].split_at_checked(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_set_replaced_and_removed_in_place() {
        let mut p = Packed::default();
        assert_eq!((p.len(), p.heap_bytes()), (0, 0));
        assert!(p.insert(b"a", b"1"));
        assert!(p.insert(b"bb", b""));
        assert!(p.insert(b"", b"empty field"));
        assert!(!p.insert(b"a", b"one"));
        assert_eq!(p.len(), 3);
        assert_eq!(p.get(b"a"), Some(&b"one"[..]));
        assert_eq!(p.get(b"bb"), Some(&b""[..]));
        assert_eq!(p.get(b""), Some(&b"empty field"[..]));
        assert_eq!(p.get(b"zz"), None);
        let all: Vec<_> = p.iter().collect();
        assert_eq!(
            all,
            [
                (&b"a"[..], &b"one"[..]),
                (&b"bb"[..], &b""[..]),
                (&b""[..], &b"empty field"[..])
            ]
        );
        assert_eq!(p.remove(b"bb").as_deref(), Some(&b""[..]));
        assert_eq!(p.remove(b"bb"), None);
        assert_eq!(p.len(), 2);
        assert_eq!(p.get(b""), Some(&b"empty field"[..]));
        p.remove(b"a");
        p.remove(b"");
        assert_eq!((p.len(), p.heap_bytes()), (0, 0));
    }

    #[test]
    fn fits_stops_at_the_compact_limits() {
        let limits = (128, 64);
        let mut p = Packed::default();
        let long = [b'x'; 65];
        assert!(p.fits(&long[1..], &long[1..], limits));
        assert!(!p.fits(&long, b"v", limits));
        assert!(!p.fits(b"f", &long, limits));
        for i in 0..128 {
            p.insert(i.to_string().as_bytes(), &long[1..]);
        }
        assert_eq!(p.len(), 128);
        assert!(!p.fits(b"f", b"v", limits));
        assert!(p.fits(b"127", b"v", limits));
        assert!(!p.fits(b"127", &long, limits));
        assert_eq!(p.get(b"127"), Some(&long[1..]));
        assert!(!p.fits(b"f", b"v", (0, 64)));
    }

    #[test]
    fn long_pairs_and_counts_past_a_byte() {
        let mut p = Packed::default();
        let big = vec![b'v'; 20_000];
        for i in 0..300 {
            let value = &big[..i * 60];
            assert!(p.insert(format!("f{i}").as_bytes(), value));
            assert_eq!(p.len(), i + 1);
        }
        for i in 0..300 {
            assert_eq!(
                p.get(format!("f{i}").as_bytes()).map(<[u8]>::len),
                Some(i * 60)
            );
        }
        assert!(!p.insert(b"f7", &big));
        assert_eq!(p.get(b"f7").map(<[u8]>::len), Some(20_000));
        for i in (0..300).rev() {
            assert_eq!(
                p.remove(format!("f{i}").as_bytes()).map(|v| v.len()),
                Some(if i == 7 { 20_000 } else { i * 60 })
            );
            assert_eq!(p.len(), i);
        }
        assert_eq!(p.heap_bytes(), 0);
        assert_eq!((varint_len(0), varint_len(127), varint_len(128)), (1, 1, 2));
        assert_eq!((varint_len(16383), varint_len(16384)), (2, 3));
    }
}
