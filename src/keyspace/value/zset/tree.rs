//! The full form of a large sorted set: members ordered by (score, member),
//! with O(log n) rank and score/lex range queries.
//!
//! Two structures, as in Redis (which pairs a skiplist with a dict):
//! - a member → score table (`Map`), for ZSCORE and membership in O(1);
//! - an order-statistic treap over (score, member): a binary search tree
//!   balanced by random priorities (expected depth O(log n)), each node
//!   carrying the size of its subtree. The sizes give rank → element and
//!   element → rank in O(log n), which is what ZRANK, ZRANGE by index and
//!   ZCOUNT need (a `BTreeSet` would find a score in O(log n) but could only
//!   count ranks in O(n)). Nodes live in one `Vec` arena linked by `u32`
//!   indexes, freed slots reused, so a node costs no allocation of its own.
//!
//! A range of m elements costs O(m log n) (one descent per element).

use super::super::Map;
use super::{before, Score};
use crate::keyspace::memory::{vec_bytes, SHARED_HEADER_BYTES};
use bytes::Bytes;

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

const NIL: u32 = u32::MAX;

struct Node {
    score: Score,
    member: Bytes,
    priority: u32,
    size: u32,
    left: u32,
    right: u32,
}

pub struct Tree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    scores: Map<Score>,
    /// xorshift state for node priorities, seeded per set.
    rng: u32,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            scores: Map::default(),
            // Seeded per set from the process's random state: priorities an
            // attacker cannot predict keep the tree balanced.
            rng: (ahash::RandomState::new().hash_one(0u8) as u32) | 1,
        }
    }

    /// The heap bytes the tree uses: its arena, free list and table (which
    /// counts each member's buffer; the tree holds a clone of it).
    pub fn heap_bytes(&self) -> usize {
        vec_bytes::<Node>(self.nodes.capacity())
            + vec_bytes::<u32>(self.free.capacity())
            + self.scores.heap_bytes()
            + self.len() * SHARED_HEADER_BYTES
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn score(&self, member: &[u8]) -> Option<Score> {
        self.scores.get(member).copied()
    }

    /// Adds a member or changes its score; returns its previous score.
    pub fn insert(&mut self, member: Bytes, score: Score) -> Option<Score> {
        let old = self.score(&member);
        if let Some(old) = old {
            if old == score {
                return Some(old);
            }
            self.tree_remove(old, &member);
        }
        self.tree_insert(score, member.clone());
        self.scores.insert(member, score);
        old
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<Score> {
        let score = self.scores.remove(member)?;
        self.tree_remove(score, member);
        Some(score)
    }

    /// The 0-based rank of a member, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.count_while(|s, m| before(s, m, score, member)))
    }

    /// How many elements, from the lowest, satisfy `pred`; `pred` must hold
    /// for a prefix of the order (e.g. "score < x"). O(log n).
    pub fn count_while(&self, pred: impl Fn(Score, &[u8]) -> bool) -> usize {
        let (mut t, mut n) = (self.root, 0usize);
        while t != NIL {
            let node = &self.nodes[t as usize];
            if pred(node.score, &node.member) {
                n += self.size(node.left) as usize + 1;
                t = node.right;
            } else {
                t = node.left;
            }
        }
        n
    }

    /// The element at `rank` (0 = lowest). O(log n).
    pub fn get(&self, rank: usize) -> Option<(Score, &Bytes)> {
        let mut t = self.root;
        let mut k = rank;
        while t != NIL {
            let node = &self.nodes[t as usize];
            let left = self.size(node.left) as usize;
            if k < left {
                t = node.left;
            } else if k == left {
                return Some((node.score, &node.member));
            } else {
                k -= left + 1;
                t = node.right;
            }
        }
        None
    }

    /// The members from the `skip`th in the member table's order on.
    pub fn iter_from(&self, skip: usize) -> impl Iterator<Item = (&Bytes, Score)> {
        self.scores.iter_from(skip).map(|(m, s)| (m, *s))
    }

    pub fn random(&self, rand: impl FnMut() -> u64) -> Option<(&Bytes, Score)> {
        self.scores.random(rand).map(|(m, s)| (m, *s))
    }

    /// One step of ZSCAN: see `Map::scan`.
    pub fn scan(&self, cursor: usize, count: usize, mut visit: impl FnMut(&Bytes, Score)) -> usize {
        self.scores.scan(cursor, count, |m, s| visit(m, *s))
    }

    fn size(&self, t: u32) -> u32 {
        if t == NIL {
            0
        } else {
            self.nodes[t as usize].size
        }
    }

    fn update(&mut self, t: u32) {
        let (l, r) = {
            let n = &self.nodes[t as usize];
            (n.left, n.right)
        };
        self.nodes[t as usize].size = 1 + self.size(l) + self.size(r);
    }

    fn next_priority(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// Splits tree `t` into (elements satisfying `pred`, the rest); `pred`
    /// holds for a prefix of the order.
    fn split(&mut self, t: u32, pred: &dyn Fn(Score, &[u8]) -> bool) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let node = &self.nodes[t as usize];
        if pred(node.score, &node.member) {
            let (a, b) = self.split(node.right, pred);
            self.nodes[t as usize].right = a;
            self.update(t);
            (t, b)
        } else {
            let (a, b) = self.split(node.left, pred);
            self.nodes[t as usize].left = b;
            self.update(t);
            (a, t)
        }
    }

    /// Joins two trees where every element of `a` comes before those of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].priority > self.nodes[b as usize].priority {
            let r = self.nodes[a as usize].right;
            let m = self.merge(r, b);
            self.nodes[a as usize].right = m;
            self.update(a);
            a
        } else {
            let l = self.nodes[b as usize].left;
            let m = self.merge(a, l);
            self.nodes[b as usize].left = m;
            self.update(b);
            b
        }
    }

    fn tree_insert(&mut self, score: Score, member: Bytes) {
        let priority = self.next_priority();
        let node = Node {
            score,
            member,
            priority,
            size: 1,
            left: NIL,
            right: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let m = self.nodes[idx as usize].member.clone();
        let (l, r) = self.split(self.root, &|s, x| before(s, x, score, &m));
        let l = self.merge(l, idx);
        self.root = self.merge(l, r);
    }

    fn tree_remove(&mut self, score: Score, member: &[u8]) {
        let (l, r) = self.split(self.root, &|s, x| before(s, x, score, member));
        let (mid, r) = self.split(r, &|s, x| !before(score, member, s, x));
        // `mid` holds exactly the element (score, member): the score table
        // and the tree always agree.
        debug_assert!(mid != NIL && self.size(mid) == 1);
        if mid != NIL {
            let n = &mut self.nodes[mid as usize];
            n.member = Bytes::new();
            n.left = NIL;
            n.right = NIL;
            self.free.push(mid);
        }
        self.root = self.merge(l, r);
        if self.root == NIL {
            // Empty: give the arena's memory back.
            self.nodes = Vec::new();
            self.free = Vec::new();
        }
    }
}
