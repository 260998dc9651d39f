//! The latency monitor, as Redis's: events (an AOF fsync, a command) that
//! took at least `latency-monitor-threshold` ms (0 = off) are kept per event
//! name, one sample per second (the worst of that second), the last 160
//! samples, plus the worst ever. Some events happen deep in the persistence
//! code, which does not know its core's node, so each core's monitor is a
//! thread-local of its executor thread; LATENCY gathers them from every core.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const HISTORY_LEN: usize = 160;

/// One event's samples.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// `(unix seconds, ms)`, oldest first.
    pub samples: VecDeque<(u64, u64)>,
    /// The worst latency ever seen (ms).
    pub max: u64,
}

impl Series {
    fn add(&mut self, time: u64, ms: u64) {
        self.max = self.max.max(ms);
        match self.samples.back_mut() {
            Some(last) if last.0 == time => last.1 = last.1.max(ms),
            _ => {
                self.samples.push_back((time, ms));
                if self.samples.len() > HISTORY_LEN {
                    self.samples.pop_front();
                }
            }
        }
    }

    /// Adds another core's series of the same event.
    pub fn merge(&mut self, other: &Series) {
        for &(time, ms) in &other.samples {
            let at = self.samples.partition_point(|s| s.0 < time);
            match self.samples.get_mut(at) {
                Some(s) if s.0 == time => s.1 = s.1.max(ms),
                _ => self.samples.insert(at, (time, ms)),
            }
        }
        while self.samples.len() > HISTORY_LEN {
            self.samples.pop_front();
        }
        self.max = self.max.max(other.max);
    }
}

thread_local! {
    static THRESHOLD_MS: Cell<u64> = const { Cell::new(0) };
    static EVENTS: RefCell<BTreeMap<&'static str, Series>> = const { RefCell::new(BTreeMap::new()) };
}

/// Sets this core's `latency-monitor-threshold` (ms; 0 = off).
pub fn set_threshold(ms: u64) {
    THRESHOLD_MS.with(|t| t.set(ms));
}

/// Notes that `event` took `took` on this core, if that reaches the threshold.
pub fn record(event: &'static str, took: Duration) {
    let threshold = THRESHOLD_MS.with(Cell::get);
    let ms = took.as_millis() as u64;
    if threshold == 0 || ms < threshold {
        return;
    }
    let now = crate::util::now_ms() / 1000;
    EVENTS.with(|e| e.borrow_mut().entry(event).or_default().add(now, ms));
}

/// This core's events.
pub fn snapshot() -> BTreeMap<&'static str, Series> {
    EVENTS.with(|e| e.borrow().clone())
}

/// Forgets this core's samples of `events` (all when empty); returns the
/// names it had.
pub fn reset(events: &[String]) -> Vec<&'static str> {
    EVENTS.with(|e| {
        let mut e = e.borrow_mut();
        let gone: Vec<&'static str> = e
            .keys()
            .copied()
            .filter(|k| events.is_empty() || events.iter().any(|w| w.eq_ignore_ascii_case(k)))
            .collect();
        for k in &gone {
            e.remove(k);
        }
        gone
    })
}

/// Every core's events merged by name.
pub fn merge(cores: Vec<BTreeMap<&'static str, Series>>) -> BTreeMap<&'static str, Series> {
    let mut all: BTreeMap<&'static str, Series> = BTreeMap::new();
    for core in cores {
        for (name, series) in core {
            all.entry(name).or_default().merge(&series);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_and_a_bounded_history() {
        let mut s = Series::default();
        s.add(10, 5);
        s.add(10, 9);
        s.add(10, 3);
        s.add(11, 2);
        assert_eq!(Vec::from(s.samples.clone()), vec![(10, 9), (11, 2)]);
        assert_eq!(s.max, 9);
        for t in 0..500 {
            s.add(100 + t, 1);
        }
        assert_eq!(s.samples.len(), HISTORY_LEN);

        let mut a = Series::default();
        a.add(1, 4);
        a.add(3, 4);
        let mut b = Series::default();
        b.add(2, 7);
        b.add(3, 6);
        a.merge(&b);
        assert_eq!(Vec::from(a.samples), vec![(1, 4), (2, 7), (3, 6)]);
        assert_eq!(a.max, 7);
    }

    #[test]
    fn the_threshold_filters_and_zero_turns_it_off() {
        record("test-event", Duration::from_millis(50));
        assert!(snapshot().is_empty());
        set_threshold(10);
        record("test-event", Duration::from_millis(5));
        record("test-event", Duration::from_millis(20));
        assert_eq!(snapshot()["test-event"].max, 20);
        assert_eq!(reset(&[]), vec!["test-event"]);
        assert!(snapshot().is_empty());
    }
}
