//! A key and what it holds, in one heap allocation behind one pointer.
//!
//! The table of a slot stores an `Entry`: a single pointer (8 bytes a
//! bucket, where a key `Bytes` plus a `Value` plus TTL and access word took
//! 88). The allocation holds a small header (TTL, access word, lengths), the
//! key's bytes and, for a string of at most `INLINE_STR_MAX_BYTES`, the
//! string's bytes, as Redis embeds short strings in their object: a
//! typical cache key costs one allocation instead of three (key, value,
//! the shared header of the first `Bytes` clone), which is what decides how
//! many keys fit in `maxmemory`. A collection, or a longer string (whose
//! GET should not copy it), is a `Value` placed in the allocation between
//! the header and the key.
//!
//! The layout is private to this module; everything else sees accessors.
//! See docs/memory.md.

use super::memory::alloc_size;
use super::Value;
use bytes::Bytes;
use std::alloc::{self, Layout};
use std::mem::{align_of, size_of, ManuallyDrop};
use std::ptr::NonNull;

/// Longest string stored in the entry's own allocation. Longer ones stay a
/// `Bytes`, so that GET hands them out without copying.
pub const INLINE_STR_MAX_BYTES: usize = 4096;

/// `Header::str_len` of an entry whose `Value` follows the header.
const HOLDS_VALUE: u32 = u32::MAX;

#[repr(C)]
struct Header {
    /// Absolute Unix time in ms (0 = no expiry).
    expire_at: u64,
    /// The eviction policy's word (see `evict`).
    access: u32,
    key_len: u32,
    /// The inline string's length, or `HOLDS_VALUE`.
    str_len: u32,
}

const HEADER: usize = size_of::<Header>();
const ALIGN: usize = align_of::<Header>();
const _: () = assert!(align_of::<Value>() <= ALIGN && HEADER.is_multiple_of(align_of::<Value>()));

/// What a key is given to hold: a string's bytes (copied in: a request's
/// or a file's buffer is never kept), or a value.
pub enum Fresh<'a> {
    Str(&'a [u8]),
    Value(Value),
}

impl Fresh<'_> {
    /// The bytes to store inline, if the value is a short string.
    fn inline_str(&self) -> Option<&[u8]> {
        let s = match self {
            Fresh::Str(s) => s,
            Fresh::Value(Value::Str(s)) => &s[..],
            Fresh::Value(_) => return None,
        };
        (s.len() <= INLINE_STR_MAX_BYTES).then_some(s)
    }

    fn into_value(self) -> Value {
        match self {
            Fresh::Str(s) => Value::Str(Bytes::copy_from_slice(s)),
            Fresh::Value(v) => v,
        }
    }
}

/// Owns its allocation: header, then either `key ++ string` or
/// `Value ++ key`.
pub struct Entry {
    ptr: NonNull<Header>,
}

// An entry owns its allocation outright (no sharing, no interior
// mutability): it moves between threads as a `Box` would.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

fn layout(size: usize) -> Layout {
    // Sizes come from lengths the keyspace accepted (each ≤ 512 MB): the
    // layout is valid; failing here would be a bug, not bad input.
    Layout::from_size_align(size, ALIGN).expect("entry size")
}

impl Entry {
    /// A new entry for `key` holding `value`.
    pub fn new(key: &[u8], value: Fresh, expire_at: u64, access: u32) -> Entry {
        let mut header = Header {
            expire_at,
            access,
            key_len: key.len() as u32,
            str_len: HOLDS_VALUE,
        };
        if let Some(s) = value.inline_str() {
            header.str_len = s.len() as u32;
            let e = Entry::alloc(HEADER + key.len() + s.len(), header);
            // SAFETY: the allocation has room for key and string after the
            // header, and is not shared yet.
            unsafe {
                let body = e.body();
                std::ptr::copy_nonoverlapping(key.as_ptr(), body, key.len());
                std::ptr::copy_nonoverlapping(s.as_ptr(), body.add(key.len()), s.len());
            }
            return e;
        }
        let e = Entry::alloc(HEADER + size_of::<Value>() + key.len(), header);
        // SAFETY: the body is aligned for a `Value` (checked above) and has
        // room for it and the key.
        unsafe {
            let body = e.body();
            std::ptr::write(body.cast::<Value>(), value.into_value());
            let k = body.add(size_of::<Value>());
            std::ptr::copy_nonoverlapping(key.as_ptr(), k, key.len());
        }
        e
    }

    fn alloc(size: usize, header: Header) -> Entry {
        let layout = layout(size);
        // SAFETY: the size is at least the header's, never zero.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<Header>()) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: freshly allocated, aligned for the header.
        unsafe { ptr.as_ptr().write(header) };
        Entry { ptr }
    }

    fn header(&self) -> &Header {
        // SAFETY: the header is written at creation and lives as long as self.
        unsafe { self.ptr.as_ref() }
    }

    fn header_mut(&mut self) -> &mut Header {
        // SAFETY: as `header`, and `&mut self` is the only access.
        unsafe { self.ptr.as_mut() }
    }

    fn holds_value(&self) -> bool {
        self.header().str_len == HOLDS_VALUE
    }

    /// Where the bytes after the header start.
    fn body(&self) -> *mut u8 {
        // SAFETY: within the allocation (it is at least the header long).
        unsafe { self.ptr.as_ptr().cast::<u8>().add(HEADER) }
    }

    fn size(&self) -> usize {
        let h = self.header();
        let tail = if self.holds_value() {
            size_of::<Value>()
        } else {
            h.str_len as usize
        };
        HEADER + h.key_len as usize + tail
    }

    /// Asks the CPU to fetch the entry's allocation (a hint: a walk over
    /// many entries, such as a snapshot's, calls it a few entries ahead).
    #[inline]
    pub fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint; it never faults, whatever the address.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.ptr.as_ptr().cast());
        }
    }

    /// Where the entry's header and (short) key are: for a prefetch.
    pub fn address(&self) -> *const u8 {
        self.ptr.as_ptr().cast()
    }

    pub fn key(&self) -> &[u8] {
        let offset = if self.holds_value() {
            size_of::<Value>()
        } else {
            0
        };
        // SAFETY: the key's bytes were copied there at creation.
        unsafe {
            std::slice::from_raw_parts(self.body().add(offset), self.header().key_len as usize)
        }
    }

    /// The string the key holds (either form); `None` if it is a collection.
    pub fn str(&self) -> Option<&[u8]> {
        if self.holds_value() {
            return match self.value() {
                Some(Value::Str(s)) => Some(s),
                _ => None,
            };
        }
        let h = self.header();
        // SAFETY: the string's bytes follow the key's.
        Some(unsafe {
            std::slice::from_raw_parts(self.body().add(h.key_len as usize), h.str_len as usize)
        })
    }

    /// The string as `Bytes`, for a reply: a short one is copied, a long one
    /// shared.
    pub fn str_bytes(&self) -> Option<Bytes> {
        match self.value() {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(_) => None,
            None => self.str().map(Bytes::copy_from_slice),
        }
    }

    /// The `Value` the entry holds, for a collection or a long string;
    /// `None` for a short string (see `str`).
    pub fn value(&self) -> Option<&Value> {
        // SAFETY: a `Value` was written after the header at creation.
        self.holds_value()
            .then(|| unsafe { &*self.body().cast::<Value>() })
    }

    /// As `value`, to change it in place. A command may change what a
    /// collection holds, not turn the entry into another type: that is
    /// `set_value`.
    pub fn value_mut(&mut self) -> Option<&mut Value> {
        // SAFETY: as `value`, and `&mut self` is the only access.
        self.holds_value()
            .then(|| unsafe { &mut *self.body().cast::<Value>() })
    }

    /// Replaces what the key holds, keeping its TTL and access word. A
    /// short string of the same length is overwritten in place.
    pub fn set_value(&mut self, value: Fresh) {
        match value.inline_str() {
            Some(s) if !self.holds_value() && self.header().str_len as usize == s.len() => {
                // SAFETY: the inline string has exactly this many bytes.
                unsafe {
                    let at = self.body().add(self.header().key_len as usize);
                    std::ptr::copy_nonoverlapping(s.as_ptr(), at, s.len());
                }
                return;
            }
            None if self.holds_value() => {
                if let Some(held) = self.value_mut() {
                    *held = value.into_value();
                }
                return;
            }
            _ => {}
        }
        let (expire_at, access) = (self.header().expire_at, self.header().access);
        *self = Entry::new(self.key(), value, expire_at, access);
    }

    /// Takes the value out, dropping the entry.
    pub fn into_value(self) -> Value {
        if !self.holds_value() {
            return Value::Str(self.str().map(Bytes::copy_from_slice).unwrap_or_default());
        }
        let this = ManuallyDrop::new(self);
        // SAFETY: the value is read out once and the allocation freed
        // without dropping it again (`this` is never dropped).
        unsafe {
            let value = std::ptr::read(this.body().cast::<Value>());
            alloc::dealloc(this.ptr.as_ptr().cast(), layout(this.size()));
            value
        }
    }

    pub fn type_name(&self) -> &'static str {
        self.value().map_or("string", Value::type_name)
    }

    /// OBJECT ENCODING's name (see `Value::encoding`).
    pub fn encoding(&self) -> &'static str {
        match self.value() {
            Some(v) => v.encoding(),
            None => super::value::str_encoding(self.str().unwrap_or_default()),
        }
    }

    /// Absolute expiry time in ms, 0 for none (the keyspace's own view).
    pub(super) fn expire_raw(&self) -> u64 {
        self.header().expire_at
    }

    /// Only the keyspace changes a TTL: its expiry index must agree.
    pub(super) fn set_expire_raw(&mut self, at: u64) {
        self.header_mut().expire_at = at;
    }

    /// Its eviction state (see `evict`).
    pub fn access(&self) -> u32 {
        self.header().access
    }

    pub(super) fn set_access(&mut self, access: u32) {
        self.header_mut().access = access;
    }

    /// Heap bytes of the allocation and the value it holds, as the allocator
    /// counts them (the TTL's index entry is the keyspace's to add).
    pub(super) fn data_bytes(&self) -> usize {
        alloc_size(self.size()) + self.value().map_or(0, Value::heap_bytes)
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let size = self.size();
        // SAFETY: the value (if any) was written at creation and is dropped
        // once, here; then the allocation is freed with its own layout.
        unsafe {
            if self.holds_value() {
                std::ptr::drop_in_place(self.body().cast::<Value>());
            }
            alloc::dealloc(self.ptr.as_ptr().cast(), layout(size));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::List;

    #[test]
    fn short_strings_are_inline_and_long_ones_shared() {
        let e = Entry::new(b"k", Fresh::Str(b"hello"), 7, 9);
        assert_eq!(e.key(), b"k");
        assert_eq!(e.str(), Some(&b"hello"[..]));
        assert!(e.value().is_none());
        assert_eq!((e.expire_raw(), e.access()), (7, 9));
        assert_eq!(e.data_bytes(), alloc_size(HEADER + 1 + 5));

        let long = Bytes::from(vec![b'x'; INLINE_STR_MAX_BYTES + 1]);
        let e = Entry::new(b"key", Fresh::Value(Value::Str(long.clone())), 0, 0);
        assert_eq!(e.key(), b"key");
        assert_eq!(e.str(), Some(&long[..]));
        assert_eq!(e.str_bytes().unwrap().as_ptr(), long.as_ptr());
        assert_eq!(e.type_name(), "string");
    }

    #[test]
    fn values_change_in_place_or_by_reallocation() {
        let mut e = Entry::new(b"key", Fresh::Str(b"abc"), 5, 1);
        e.set_value(Fresh::Str(b"xyz"));
        assert_eq!(e.str(), Some(&b"xyz"[..]));
        e.set_value(Fresh::Value(Value::Str(Bytes::from_static(b"longer"))));
        assert_eq!((e.key(), e.str()), (&b"key"[..], Some(&b"longer"[..])));
        assert_eq!(e.expire_raw(), 5);
        e.set_value(Fresh::Value(Value::List(List::from_iter([
            Bytes::from_static(b"a"),
        ]))));
        assert!(e.str().is_none());
        assert_eq!(e.type_name(), "list");
        if let Some(Value::List(l)) = e.value_mut() {
            l.push_back(Bytes::from_static(b"b"));
        }
        match e.into_value() {
            Value::List(l) => assert_eq!(l.len(), 2),
            _ => panic!("not a list"),
        }
        let e = Entry::new(b"", Fresh::Str(b""), 0, 0);
        assert_eq!((e.key(), e.str()), (&b""[..], Some(&b""[..])));
        assert!(matches!(e.into_value(), Value::Str(s) if s.is_empty()));
    }
}
