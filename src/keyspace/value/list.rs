//! A list: a `VecDeque` of elements (one ring buffer: O(1) at both ends,
//! O(1) by index) that keeps the heap bytes of its elements as they change,
//! so that memory accounting and eviction see every byte of a long list
//! in O(1) (an estimate from sampled elements let `LSET` on the others hide
//! gigabytes from `maxmemory`). Reads go through `Deref`; every change goes
//! through a method here, which keeps the count.

use super::super::memory::{vec_bytes, HeapSize};
use bytes::Bytes;
use std::collections::VecDeque;
use std::ops::Deref;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    items: VecDeque<Bytes>,
    /// Heap bytes of the elements (`HeapSize`), not of the ring buffer.
    element_bytes: usize,
}

impl Deref for List {
    type Target = VecDeque<Bytes>;
    fn deref(&self) -> &VecDeque<Bytes> {
        &self.items
    }
}

impl From<VecDeque<Bytes>> for List {
    fn from(items: VecDeque<Bytes>) -> List {
        let element_bytes = items.iter().map(HeapSize::heap_size).sum();
        List {
            items,
            element_bytes,
        }
    }
}

impl FromIterator<Bytes> for List {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> List {
        List::from(iter.into_iter().collect::<VecDeque<_>>())
    }
}

impl List {
    pub fn with_capacity(n: usize) -> List {
        List::from(VecDeque::with_capacity(n))
    }

    /// The heap bytes the list owns: its ring buffer and its elements.
    pub fn heap_bytes(&self) -> usize {
        vec_bytes::<Bytes>(self.items.capacity()) + self.element_bytes
    }

    fn added(&mut self, v: &Bytes) {
        self.element_bytes += v.heap_size();
    }

    fn taken(&mut self, v: Option<Bytes>) -> Option<Bytes> {
        if let Some(v) = &v {
            self.element_bytes -= v.heap_size();
        }
        v
    }

    pub fn push_front(&mut self, v: Bytes) {
        self.added(&v);
        self.items.push_front(v);
    }

    pub fn push_back(&mut self, v: Bytes) {
        self.added(&v);
        self.items.push_back(v);
    }

    pub fn pop_front(&mut self) -> Option<Bytes> {
        let v = self.items.pop_front();
        self.taken(v)
    }

    pub fn pop_back(&mut self) -> Option<Bytes> {
        let v = self.items.pop_back();
        self.taken(v)
    }

    /// Replaces the element at `i` (which must exist).
    pub fn set(&mut self, i: usize, v: Bytes) {
        self.added(&v);
        let old = std::mem::replace(&mut self.items[i], v);
        self.taken(Some(old));
    }

    pub fn insert(&mut self, i: usize, v: Bytes) {
        self.added(&v);
        self.items.insert(i, v);
    }

    pub fn remove(&mut self, i: usize) -> Option<Bytes> {
        let v = self.items.remove(i);
        self.taken(v)
    }

    pub fn swap(&mut self, i: usize, j: usize) {
        self.items.swap(i, j);
    }

    /// Keeps the first `n` elements.
    pub fn truncate(&mut self, n: usize) {
        while self.items.len() > n {
            self.pop_back();
        }
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.element_bytes = 0;
    }

    /// Removes and returns the first `n` elements, in order.
    pub fn take_front(&mut self, n: usize) -> Vec<Bytes> {
        let n = n.min(self.items.len());
        (0..n).filter_map(|_| self.pop_front()).collect()
    }

    /// Removes and returns the last `n` elements, the last first.
    pub fn take_back(&mut self, n: usize) -> Vec<Bytes> {
        let n = n.min(self.items.len());
        (0..n).filter_map(|_| self.pop_back()).collect()
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = Bytes>) {
        for v in items {
            self.push_back(v);
        }
    }
}
