//! The slow log: commands that ran at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, in Redis's
//! entry format. Each core logs the commands it coordinated; SLOWLOG merges
//! the cores' logs by entry id. Ids come from one process-wide counter, so
//! they are unique and in logging order across cores; slow commands are rare,
//! so that shared counter costs nothing on the common path.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Arguments an entry keeps; the last kept one says how many more there were.
const MAX_ARGS: usize = 32;
/// Bytes kept of one argument.
const MAX_ARG_BYTES: usize = 128;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One slow command, as SLOWLOG GET shows it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds when it was logged.
    pub time: u64,
    pub micros: u64,
    /// Trimmed as Redis trims them.
    pub args: Vec<Bytes>,
    pub addr: String,
    pub name: String,
}

impl Entry {
    /// An entry for `args`, trimmed to at most 32 arguments of at most 128
    /// bytes each, as Redis does.
    pub fn new(args: &[Bytes], micros: u64, addr: String, name: String) -> Entry {
        let kept = args.len().min(MAX_ARGS);
        let args = (0..kept)
            .map(|j| {
                if kept != args.len() && j == kept - 1 {
                    Bytes::from(format!("... ({} more arguments)", args.len() - kept + 1))
                } else if args[j].len() > MAX_ARG_BYTES {
                    let mut s = args[j][..MAX_ARG_BYTES].to_vec();
                    s.extend_from_slice(
                        format!("... ({} more bytes)", args[j].len() - MAX_ARG_BYTES).as_bytes(),
                    );
                    Bytes::from(s)
                } else {
                    // A copy: a slice would pin the whole request buffer it
                    // came from (a `SET k <500 MB>` kept 500 MB per entry).
                    Bytes::copy_from_slice(&args[j])
                }
            })
            .collect();
        Entry {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            time: crate::util::now_ms() / 1000,
            micros,
            args,
            addr,
            name,
        }
    }
}

/// One core's slow log, newest first.
#[derive(Default)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
}

impl SlowLog {
    /// Adds `entry`, dropping the oldest beyond `max_len`.
    pub fn push(&mut self, entry: Entry, max_len: usize) {
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }
}

/// The cores' logs as one: newest first, at most `max_len` entries.
pub fn merge(logs: Vec<Vec<Entry>>, max_len: usize) -> Vec<Entry> {
    let mut all: Vec<Entry> = logs.into_iter().flatten().collect();
    all.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(max_len);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_trimmed_as_redis_trims_them() {
        let long = Bytes::from(vec![b'x'; 200]);
        let e = Entry::new(
            &[Bytes::from_static(b"SET"), Bytes::from_static(b"k"), long],
            5,
            "a".into(),
            String::new(),
        );
        assert_eq!(e.args.len(), 3);
        let last = String::from_utf8(e.args[2].to_vec()).unwrap();
        assert_eq!(last, format!("{}... (72 more bytes)", "x".repeat(128)));

        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let e = Entry::new(&many, 5, String::new(), String::new());
        assert_eq!(e.args.len(), 32);
        assert_eq!(e.args[30], Bytes::from_static(b"30"));
        assert_eq!(e.args[31], Bytes::from_static(b"... (9 more arguments)"));
    }

    #[test]
    fn the_log_keeps_the_newest_and_merges_by_id() {
        let mut a = SlowLog::default();
        let mut b = SlowLog::default();
        for i in 0..5 {
            let e = Entry::new(
                &[Bytes::from(i.to_string())],
                1,
                String::new(),
                String::new(),
            );
            if i % 2 == 0 { &mut a } else { &mut b }.push(e, 2);
        }
        assert_eq!(a.entries().count(), 2);
        let merged = merge(
            vec![
                a.entries().cloned().collect(),
                b.entries().cloned().collect(),
            ],
            3,
        );
        let args: Vec<&[u8]> = merged.iter().map(|e| &e.args[0][..]).collect();
        assert_eq!(args, vec![&b"4"[..], b"3", b"2"]);
    }
}
