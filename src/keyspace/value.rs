//! The values a key can hold: strings, lists, hashes, sets, sorted sets and
//! streams (`stream`).
//!
//! Collections keep a compact form while small, as Redis's listpacks and
//! intsets do: a hash or a set of a few hundred short elements is one packed
//! buffer or a plain `Vec` (scanned linearly, which beats hashing at that
//! size and costs no table overhead), and turns into a hash table once it
//! passes a limit (Redis's settings, `encodings`). It never turns back, as
//! in Redis. A list is a `VecDeque` that counts its bytes (`list`). A sorted set is a sorted `Vec` while
//! small and an order-statistic tree plus a member → score table past its
//! limits (see `zset`).

mod list;
mod map;
mod packed;
pub mod stream;
mod zset;

pub use list::List;
pub use map::Map;
use packed::Packed;
pub use stream::Stream;
pub use zset::ZSet;

use super::encodings;
use super::memory::{alloc_size, vec_bytes, HeapSize};
use bytes::Bytes;

/// Most members a set that is not all integers keeps in its compact form,
/// and the longest (Redis 7.0 has no such form and no setting for it: it
/// reports these sets as `hashtable`, see `Set`).
const SMALL_SET_MAX_ENTRIES: usize = 128;
const SMALL_SET_MAX_VALUE_BYTES: usize = 64;
/// Longest string OBJECT ENCODING calls `embstr` (Redis's
/// `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`); longer is `raw`.
const EMBSTR_MAX_BYTES: usize = 44;

pub enum Value {
    Str(Bytes),
    List(List),
    Hash(Hash),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

impl Value {
    /// The name TYPE and SCAN TYPE use.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING gives, Redis 7.0's for the closest form (see
    /// docs/collections.md): a string is named by its content, as Redis
    /// encodes a string when it is stored.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => str_encoding(s),
            // Redis 7.0 keeps every list in a quicklist.
            Value::List(_) => "quicklist",
            Value::Hash(h) => match h {
                Hash::Small(_) => "listpack",
                Hash::Big(_) => "hashtable",
            },
            Value::Set(s) => match &**s {
                Set::Ints(_) => "intset",
                // Redis 7.0 has no compact set of strings (7.2 calls it
                // `listpack`).
                Set::Small(_) | Set::Big(_) => "hashtable",
            },
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// The heap bytes the value owns. O(1) for strings, lists and large
    /// collections (which keep their own count), bounded for compact ones.
    /// A function of the
    /// value alone, so the keyspace's running total stays exact when it
    /// subtracts what it once added.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
            Value::List(l) => l.heap_bytes(),
            Value::Hash(h) => h.heap_bytes(),
            Value::Set(s) => alloc_size(std::mem::size_of::<Set>()) + s.heap_bytes(),
            Value::ZSet(z) => alloc_size(std::mem::size_of::<ZSet>()) + z.heap_bytes(),
            Value::Stream(s) => alloc_size(std::mem::size_of::<Stream>()) + s.heap_bytes(),
        }
    }
}

/// The encoding Redis gives a string when it stores it: by its content.
pub fn str_encoding(s: &[u8]) -> &'static str {
    if crate::util::parse_i64(s).is_some() {
        "int"
    } else if s.len() <= EMBSTR_MAX_BYTES {
        "embstr"
    } else {
        "raw"
    }
}

/// A hash: field → value. Compact (one packed buffer) while small, a
/// `Map` past the limits above.
pub enum Hash {
    Small(Packed),
    Big(Box<Map<Bytes>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Small(Packed::default())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Small(p) => p.len(),
            Hash::Big(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes: O(1) in both forms.
    fn heap_bytes(&self) -> usize {
        match self {
            Hash::Small(p) => p.heap_bytes(),
            Hash::Big(m) => alloc_size(std::mem::size_of::<Map<Bytes>>()) + m.heap_bytes(),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Small(p) => p.get(field),
            Hash::Big(m) => m.get(field).map(|v| &v[..]),
        }
    }

    /// Sets a field; true if it is new.
    pub fn insert(&mut self, field: Bytes, value: Bytes) -> bool {
        if let Hash::Small(p) = self {
            if p.fits(&field, &value, encodings::hash_limits()) {
                return p.insert(&field, &value);
            }
            let mut m = Map::with_capacity(p.len() + 1);
            for (f, x) in p.iter() {
                m.insert(Bytes::copy_from_slice(f), Bytes::copy_from_slice(x));
            }
            *self = Hash::Big(Box::new(m));
        }
        match self {
            Hash::Big(m) => m.insert(field, value).is_none(),
            Hash::Small(_) => unreachable!("converted above"),
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> Option<Bytes> {
        match self {
            Hash::Small(p) => p.remove(field),
            Hash::Big(m) => m.remove(field),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        self.iter_from(0)
    }

    /// `iter` from its `skip`th field on (O(1) for a `Map`, see
    /// `Map::iter_from`; a packed hash is short).
    pub fn iter_from(&self, skip: usize) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Small(p) => Box::new(p.iter().skip(skip)),
            Hash::Big(m) => Box::new(m.iter_from(skip).map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// The entry at a random position (`rand` gives the randomness).
    pub fn random(&self, rand: impl FnMut() -> u64) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Small(p) => random_index(p.len(), rand).and_then(|i| p.iter().nth(i)),
            Hash::Big(m) => m.random(rand).map(|(f, v)| (&f[..], &v[..])),
        }
    }

    /// One step of HSCAN: see `Map::scan`. A compact hash is returned whole.
    pub fn scan(&self, cursor: usize, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> usize {
        match self {
            Hash::Small(p) => {
                p.iter().for_each(|(f, x)| visit(f, x));
                0
            }
            Hash::Big(m) => m.scan(cursor, count, |f, v| visit(f, v)),
        }
    }
}

/// A set of members. Compact while small, as Redis's intset: integers
/// only, up to `set-max-intset-entries`; a small set with other members
/// stays compact too (within fixed limits) but is a `hashtable` to OBJECT
/// ENCODING, which is what Redis 7.0 makes of it.
pub enum Set {
    /// Every member an integer (`parse_i64`), in the order added.
    Ints(Vec<Bytes>),
    Small(Vec<Bytes>),
    Big(Map<()>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

impl Set {
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) | Set::Small(v) => v.len(),
            Set::Big(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes: bounded work for a compact set, O(1) for a large one.
    fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(v) | Set::Small(v) => {
                vec_bytes::<Bytes>(v.capacity()) + v.iter().map(HeapSize::heap_size).sum::<usize>()
            }
            Set::Big(m) => m.heap_bytes(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) | Set::Small(v) => v.iter().any(|m| m == member),
            Set::Big(m) => m.get(member).is_some(),
        }
    }

    /// Adds a member; true if it is new. A set of integers passing
    /// `set-max-intset-entries` converts to a table, as Redis's intset; one
    /// that takes another member stays compact within the fixed limits.
    pub fn insert(&mut self, member: Bytes) -> bool {
        if self.contains(&member) {
            return false;
        }
        let int = matches!(self, Set::Ints(_)) && crate::util::parse_i64(&member).is_some();
        match self {
            Set::Big(m) => return m.insert(member, ()).is_none(),
            Set::Ints(v) if int && v.len() < encodings::intset_entries() => v.push(member),
            Set::Ints(v) | Set::Small(v)
                if !int
                    && member.len() <= SMALL_SET_MAX_VALUE_BYTES
                    && v.len() < SMALL_SET_MAX_ENTRIES =>
            {
                let mut v = std::mem::take(v);
                v.push(member);
                *self = Set::Small(v);
            }
            Set::Ints(v) | Set::Small(v) => {
                let mut m = Map::with_capacity(v.len() + 1);
                for x in v.drain(..) {
                    m.insert(x, ());
                }
                m.insert(member, ());
                *self = Set::Big(m);
            }
        }
        true
    }

    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) | Set::Small(v) => match v.iter().position(|m| m == member) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            Set::Big(m) => m.remove(member).is_some(),
        }
    }

    pub fn iter(&self) -> Box<dyn Iterator<Item = &Bytes> + '_> {
        self.iter_from(0)
    }

    /// `iter` from its `skip`th member on, in O(1) (see `Map::iter_from`).
    pub fn iter_from(&self, skip: usize) -> Box<dyn Iterator<Item = &Bytes> + '_> {
        match self {
            Set::Ints(v) | Set::Small(v) => Box::new(v[skip.min(v.len())..].iter()),
            Set::Big(m) => Box::new(m.iter_from(skip).map(|(k, _)| k)),
        }
    }

    pub fn random(&self, rand: impl FnMut() -> u64) -> Option<&Bytes> {
        match self {
            Set::Ints(v) | Set::Small(v) => random_index(v.len(), rand).map(|i| &v[i]),
            Set::Big(m) => m.random(rand).map(|(k, _)| k),
        }
    }

    /// One step of SSCAN: see `Map::scan`. A compact set is returned whole.
    pub fn scan(&self, cursor: usize, count: usize, mut visit: impl FnMut(&Bytes)) -> usize {
        match self {
            Set::Ints(v) | Set::Small(v) => {
                v.iter().for_each(&mut visit);
                0
            }
            Set::Big(m) => m.scan(cursor, count, |k, _| visit(k)),
        }
    }
}

fn random_index(len: usize, mut rand: impl FnMut() -> u64) -> Option<usize> {
    (len > 0).then(|| (rand() % len as u64) as usize)
}
