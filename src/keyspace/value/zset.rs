//! The sorted set: members ordered by (score, member), with rank and
//! score/lex range queries.
//!
//! Two forms behind one API, as Redis has a listpack and a skiplist:
//! - compact, while the set holds at most `zset-max-listpack-entries`
//!   members of at most `zset-max-listpack-value` bytes: one `Vec` of
//!   (score, member) kept sorted by (score, member). Rank, range and count
//!   are a binary search and a slice; a member's score is a linear scan,
//!   which at this size costs less than hashing and no table overhead;
//! - full (`tree`): an order-statistic treap plus a member → score table,
//!   O(log n) for everything.
//!
//! A set converts once, when an insert passes a limit, and never back (as
//! in Redis). Callers never see the form, except through `encoding` (OBJECT
//! ENCODING) and ZSCAN, which returns a compact set whole as Redis does.
//!
//! Scores are never NaN (commands refuse them), so `<` on f64 is a total
//! order here; -0 is stored as 0, which Redis also treats as equal.

mod tree;

use super::random_index;
use crate::keyspace::encodings;
use crate::keyspace::memory::{alloc_size, vec_bytes, HeapSize};
use bytes::Bytes;
use tree::Tree;

pub type Score = f64;

/// (score, member) strictly before (score2, member2).
fn before(s: Score, m: &[u8], s2: Score, m2: &[u8]) -> bool {
    s < s2 || (s == s2 && m < m2)
}

pub struct ZSet {
    form: Form,
}

enum Form {
    Small(Vec<(Score, Bytes)>),
    /// Boxed: a compact set then costs one `Vec`, not the tree's fields.
    Big(Box<Tree>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet {
            form: Form::Small(Vec::new()),
        }
    }

    /// OBJECT ENCODING's name for the form, as Redis 7.0 says it.
    pub fn encoding(&self) -> &'static str {
        match &self.form {
            Form::Small(_) => "listpack",
            Form::Big(_) => "skiplist",
        }
    }

    /// The heap bytes the set uses: bounded work for the compact form, O(1)
    /// for the tree.
    pub fn heap_bytes(&self) -> usize {
        match &self.form {
            Form::Small(v) => {
                vec_bytes::<(Score, Bytes)>(v.capacity())
                    + v.iter().map(|(_, m)| m.heap_size()).sum::<usize>()
            }
            Form::Big(t) => alloc_size(std::mem::size_of::<Tree>()) + t.heap_bytes(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.form {
            Form::Small(v) => v.len(),
            Form::Big(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<Score> {
        match &self.form {
            Form::Small(v) => v.iter().find(|(_, m)| m == member).map(|(s, _)| *s),
            Form::Big(t) => t.score(member),
        }
    }

    /// Adds a member or changes its score; returns its previous score.
    pub fn insert(&mut self, member: Bytes, score: Score) -> Option<Score> {
        debug_assert!(!score.is_nan());
        let score = score + 0.0; // -0 → 0
        let v = match &mut self.form {
            Form::Big(t) => return t.insert(member, score),
            Form::Small(v) => v,
        };
        let old = match v.iter().position(|(_, m)| *m == member) {
            Some(i) if v[i].0 == score => return Some(score),
            Some(i) => Some(v.remove(i).0),
            None => None,
        };
        let (entries, longest) = encodings::zset_limits();
        if member.len() <= longest && v.len() < entries {
            let at = v.partition_point(|(s, m)| before(*s, m, score, &member));
            // Sized exactly, as a listpack is: growing one slot at a time
            // costs a copy of the entries, and no slack stays behind.
            v.reserve_exact(1);
            v.insert(at, (score, member));
        } else {
            // Past a limit: convert, once. `old` is already out of `v`.
            let mut t = Box::new(Tree::new());
            for (s, m) in v.drain(..) {
                t.insert(m, s);
            }
            t.insert(member, score);
            self.form = Form::Big(t);
        }
        old
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<Score> {
        match &mut self.form {
            Form::Small(v) => {
                let i = v.iter().position(|(_, m)| m == member)?;
                Some(v.remove(i).0)
            }
            Form::Big(t) => t.remove(member),
        }
    }

    /// The 0-based rank of a member, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.form {
            Form::Small(v) => v.iter().position(|(_, m)| m == member),
            Form::Big(t) => t.rank(member),
        }
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order (e.g. "score < x"). O(log n).
    pub fn count_while(&self, pred: impl Fn(Score, &[u8]) -> bool) -> usize {
        match &self.form {
            Form::Small(v) => v.partition_point(|(s, m)| pred(*s, m)),
            Form::Big(t) => t.count_while(pred),
        }
    }

    /// The element at `rank` (0 = lowest).
    pub fn get(&self, rank: usize) -> Option<(Score, &Bytes)> {
        match &self.form {
            Form::Small(v) => v.get(rank).map(|(s, m)| (*s, m)),
            Form::Big(t) => t.get(rank),
        }
    }

    /// The elements of ranks `from..to`, in order.
    pub fn range(
        &self,
        from: usize,
        to: usize,
    ) -> impl DoubleEndedIterator<Item = (Score, &Bytes)> {
        (from..to.min(self.len())).filter_map(move |r| self.get(r))
    }

    /// Every (member, score), in no particular order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&Bytes, Score)> + '_> {
        self.iter_from(0)
    }

    /// `iter` from its `skip`th member on, in O(1) (see `Map::iter_from`):
    /// the order is stable while the set is not changed.
    pub fn iter_from(&self, skip: usize) -> Box<dyn Iterator<Item = (&Bytes, Score)> + '_> {
        match &self.form {
            Form::Small(v) => Box::new(v[skip.min(v.len())..].iter().map(|(s, m)| (m, *s))),
            Form::Big(t) => Box::new(t.iter_from(skip)),
        }
    }

    pub fn random(&self, rand: impl FnMut() -> u64) -> Option<(&Bytes, Score)> {
        match &self.form {
            Form::Small(v) => random_index(v.len(), rand).map(|i| (&v[i].1, v[i].0)),
            Form::Big(t) => t.random(rand),
        }
    }

    /// One step of ZSCAN: see `Map::scan`. A compact set is returned whole.
    pub fn scan(&self, cursor: usize, count: usize, mut visit: impl FnMut(&Bytes, Score)) -> usize {
        match &self.form {
            Form::Small(v) => {
                v.iter().for_each(|(s, m)| visit(m, *s));
                0
            }
            Form::Big(t) => t.scan(cursor, count, visit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same operations on a compact and a converted set give the same
    /// answers.
    #[test]
    fn ranks_and_ranges_follow_score_then_member_in_both_forms() {
        let long = Bytes::from(vec![b'z'; encodings::zset_limits().1 + 1]);
        for big in [false, true] {
            let mut z = ZSet::new();
            if big {
                z.insert(long.clone(), 100.0);
                z.remove(&long);
            }
            assert_eq!(z.encoding(), if big { "skiplist" } else { "listpack" });
            for (i, m) in ["d", "a", "c", "b", "e"].iter().enumerate() {
                z.insert(Bytes::from(*m), (i % 2) as f64);
            }
            // scores: d0 a1 c0 b1 e0 → order c d e a b
            let order: Vec<&[u8]> = z.range(0, 10).map(|(_, m)| m.as_ref()).collect();
            assert_eq!(order, [b"c", b"d", b"e", b"a", b"b"]);
            assert_eq!(z.rank(b"a"), Some(3));
            assert_eq!(z.count_while(|s, _| s < 1.0), 3);
            assert_eq!(z.insert(Bytes::from("c"), 5.0), Some(0.0));
            assert_eq!(z.rank(b"c"), Some(4));
            assert_eq!(z.insert(Bytes::from("c"), -0.0), Some(5.0));
            assert_eq!(z.score(b"c").map(f64::to_bits), Some(0.0f64.to_bits()));
            assert_eq!(z.remove(b"d"), Some(0.0));
            assert_eq!(z.len(), 4);
            assert_eq!(z.get(0).map(|(_, m)| m.clone()), Some(Bytes::from("c")));
            for m in ["a", "b", "c", "e"] {
                z.remove(m.as_bytes());
            }
            assert!(z.is_empty());
            assert!(z.get(0).is_none());
        }
    }

    #[test]
    fn converts_past_the_limits_keeping_every_element() {
        let mut z = ZSet::new();
        for i in 0..encodings::zset_limits().0 {
            z.insert(Bytes::from(format!("m{i}")), (i % 7) as f64);
        }
        // Rescoring a member of a full compact set does not convert it.
        z.insert(Bytes::from("m0"), 3.5);
        assert_eq!(z.encoding(), "listpack");
        let before_conversion: Vec<(f64, Bytes)> =
            z.range(0, z.len()).map(|(s, m)| (s, m.clone())).collect();
        z.insert(Bytes::from("extra"), 2.0);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(b"extra");
        let after: Vec<(f64, Bytes)> = z.range(0, z.len()).map(|(s, m)| (s, m.clone())).collect();
        assert_eq!(before_conversion, after);
        assert_eq!(z.score(b"m0"), Some(3.5));
    }

    #[test]
    fn many_elements_stay_consistent() {
        let mut z = ZSet::new();
        for i in 0..2000u32 {
            z.insert(Bytes::from(i.to_string()), (i * 7919 % 1000) as f64);
        }
        for i in (0..2000u32).step_by(3) {
            z.remove(i.to_string().as_bytes());
        }
        let all: Vec<(f64, Bytes)> = z.range(0, z.len()).map(|(s, m)| (s, m.clone())).collect();
        assert_eq!(all.len(), z.len());
        for w in all.windows(2) {
            assert!(before(w[0].0, &w[0].1, w[1].0, &w[1].1));
        }
        for (r, (_, m)) in all.iter().enumerate() {
            assert_eq!(z.rank(m), Some(r));
        }
    }
}
