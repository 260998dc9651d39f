//! MONITOR: clients that see every command the server runs, one line each
//! (`+<unix time> [<db> <client address>] "arg" ...`), as Redis writes
//! them. Each core keeps its own monitors; a command's line is sent to
//! every core as a job, and each core queues it in its monitors' outboxes
//! (the same outbox pub/sub messages use, bounded by the `normal` class of
//! `client-output-buffer-limit`, as Redis bounds a monitor). While nobody
//! monitors, a command pays one atomic load (`any`).

use super::pubsub::Subscriber;
use super::Node;
use crate::config::ClassLimit;
use bytes::Bytes;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Monitors on every core together.
static MONITORS: AtomicUsize = AtomicUsize::new(0);

/// Whether any client monitors: the dispatcher's check per command.
#[inline]
pub fn any() -> bool {
    MONITORS.load(Ordering::Relaxed) > 0
}

/// `sub`'s connection starts monitoring (again: no change).
pub fn start(node: &Node, sub: &Rc<Subscriber>) {
    let mut monitors = node.monitors.borrow_mut();
    if !monitors.iter().any(|m| m.id == sub.id) {
        monitors.push(sub.clone());
        MONITORS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The connection of subscriber `id` stops monitoring (RESET, closed).
pub fn stop(node: &Node, id: u64) {
    let mut monitors = node.monitors.borrow_mut();
    let before = monitors.len();
    monitors.retain(|m| m.id != id);
    MONITORS.fetch_sub(before - monitors.len(), Ordering::Relaxed);
}

/// Stops its connection's monitoring when dropped (the connection closed).
pub struct OnClose {
    pub node: Rc<Node>,
    pub id: u64,
}

impl Drop for OnClose {
    fn drop(&mut self) {
        stop(&self.node, self.id);
    }
}

/// A command as a monitor line shows it after its time and source:
/// each argument quoted and escaped as Redis's `sdscatrepr`.
pub fn describe(args: &[Bytes]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in arg.iter() {
            match b {
                b'\\' => out.push_str("\\\\"),
                b'"' => out.push_str("\\\""),
                b'\n' => out.push_str("\\n"),
                b'\r' => out.push_str("\\r"),
                b'\t' => out.push_str("\\t"),
                0x07 => out.push_str("\\a"),
                0x08 => out.push_str("\\b"),
                b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
                b => out.push_str(&format!("\\x{b:02x}")),
            }
        }
        out.push('"');
    }
    out
}

/// Sends a command's line (`described` by `describe`) to every monitor:
/// run in database `db` by the client at `source` (`lua` for a script's).
pub fn feed(node: &Node, db: usize, source: &str, described: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let line = Bytes::from(format!(
        "+{}.{:06} [{db} {source}] {described}\r\n",
        now.as_secs(),
        now.subsec_micros()
    ));
    for core in 0..node.shard_count {
        let line = line.clone();
        node.post(core, move |n: &Node| deliver(n, &line));
    }
}

/// Queues `line` for this core's monitors; one over its output limit is
/// cut off (its connection closes) and stops monitoring.
fn deliver(node: &Node, line: &[u8]) {
    if node.monitors.borrow().is_empty() {
        return;
    }
    let limit = {
        let l = &node.config.borrow().output_limit;
        ClassLimit {
            hard_bytes: l.hard_bytes,
            soft_bytes: l.soft_bytes,
            soft_seconds: l.soft_seconds,
        }
    };
    let cut_off: Vec<u64> = node
        .monitors
        .borrow()
        .iter()
        .filter(|m| !m.push_bytes(line, &limit))
        .map(|m| m.id)
        .collect();
    for id in cut_off {
        stop(node, id);
    }
}
