//! `Packed`: a small hash's field/value pairs in one buffer, as Redis's
//! listpack. A hash of a few short fields held as `Bytes` pairs cost a block
//! per field and per value plus the vector of pairs (~700 bytes for four
//! 20-byte pairs where Redis needs ~200); packed, it is one block.
//!
//! Layout: the pair count in the first byte, then per pair the field's
//! length (one byte), the field, the value's length (one byte), the value.
//! One byte a length is enough: a compact hash holds at most
//! `HASH_SMALL_MAX_ENTRIES` pairs of at most `HASH_SMALL_MAX_VALUE_BYTES`
//! each (the caller converts to a `Map` beyond that). Lookups scan, which at
//! this size beats hashing.

use super::{HASH_SMALL_MAX_ENTRIES, HASH_SMALL_MAX_VALUE_BYTES};
use crate::keyspace::memory::vec_bytes;
use bytes::Bytes;

const _: () = assert!(HASH_SMALL_MAX_ENTRIES <= u8::MAX as usize);
const _: () = assert!(HASH_SMALL_MAX_VALUE_BYTES <= u8::MAX as usize);

#[derive(Default)]
pub struct Packed(Vec<u8>);

/// Where a pair sits in the buffer.
struct Found {
    /// Offset of the pair's first byte (the field's length).
    start: usize,
    /// Offset of the value's length byte.
    value_at: usize,
    /// Offset just past the pair.
    end: usize,
}

impl Packed {
    pub fn len(&self) -> usize {
        self.0.first().map_or(0, |&n| n as usize)
    }

    /// Whether setting this pair keeps the hash compact (else it must
    /// become a `Map`): both short, and room for it if the field is new.
    pub fn fits(&self, field: &[u8], value: &[u8]) -> bool {
        field.len() <= HASH_SMALL_MAX_VALUE_BYTES
            && value.len() <= HASH_SMALL_MAX_VALUE_BYTES
            && (self.len() < HASH_SMALL_MAX_ENTRIES || self.find(field).is_some())
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
            let value_at = at + 1 + f.len();
            let end = value_at + 1 + v.len();
            if f == field {
                return Some(Found {
                    start: at,
                    value_at,
                    end,
                });
            }
            at = end;
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let f = self.find(field)?;
        Some(&self.0[f.value_at + 1..f.end])
    }

    /// Sets a field that `fits` (lengths past a byte would corrupt the
    /// buffer: `fits` is the caller's duty); true if it is new. The buffer is kept at
    /// its exact size: memory is what a compact hash is for.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(f) = self.find(field) {
            let counted = std::iter::once(value.len() as u8).chain(value.iter().copied());
            self.0.splice(f.value_at..f.end, counted);
            self.0.shrink_to_fit();
            return false;
        }
        if self.0.is_empty() {
            self.0.push(0);
        }
        self.0.reserve_exact(2 + field.len() + value.len());
        self.0.push(field.len() as u8);
        self.0.extend_from_slice(field);
        self.0.push(value.len() as u8);
        self.0.extend_from_slice(value);
        self.0[0] += 1;
        true
    }

    pub fn remove(&mut self, field: &[u8]) -> Option<Bytes> {
        let f = self.find(field)?;
        let value = Bytes::copy_from_slice(&self.0[f.value_at + 1..f.end]);
        self.0.drain(f.start..f.end);
        self.0[0] -= 1;
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

/// A length byte and that many bytes, then the rest.
fn split_counted(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&n, rest) = p.split_first()?;
    rest.split_at_checked(n as usize)
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
        let mut p = Packed::default();
        let long = [b'x'; HASH_SMALL_MAX_VALUE_BYTES + 1];
        assert!(p.fits(&long[1..], &long[1..]));
        assert!(!p.fits(&long, b"v"));
        assert!(!p.fits(b"f", &long));
        for i in 0..HASH_SMALL_MAX_ENTRIES {
            p.insert(i.to_string().as_bytes(), &long[1..]);
        }
        assert_eq!(p.len(), HASH_SMALL_MAX_ENTRIES);
        assert!(!p.fits(b"f", b"v"));
        assert!(p.fits(b"127", b"v"));
        assert!(!p.fits(b"127", &long));
        assert_eq!(p.get(b"127"), Some(&long[1..]));
    }
}
