//! A simulated, faulty disk under `disk`, for tests (in the spirit of
//! TigerBeetle's storage fault injection). Off unless the environment names
//! it; then every call of `disk` passes through here first:
//!
//! ```text
//! RINGCACHE_TEST_DISK=journal=<file>,seed=<n>,fail=<m>
//! ```
//!
//! - About one write or sync in `m` fails (EIO or ENOSPC; `fail=0`: none).
//!   Half of the failed writes are torn first: a prefix of any length
//!   reaches the file, as a real device can leave it.
//! - Every write is journaled before it reaches the file, with the bytes it
//!   overwrites; every completed sync is journaled with the writes it made
//!   durable. A failed sync makes the writes it should have covered
//!   never-durable, as Linux does (the pages are marked clean, the next
//!   sync does not write them).
//! - After the process is killed, `power_cut` turns the files into what a
//!   power cut could have left: each write not made durable by a sync is
//!   lost, kept, or torn at any byte or sector, independently of the
//!   others (so later ones can survive earlier ones: a reordering).
//!
//! The disk is the real one underneath (the server under test is a real
//! process that is killed; its disk must outlive it), and the journal holds
//! what an in-memory disk would: the not-yet-durable writes. Not simulated:
//! the loss of a name (create, rename, remove) whose directory was not
//! synced; `disk` syncs the directory after each rename that matters.

use crate::util::xorshift;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The environment variable that turns the simulated disk on.
pub const ENV: &str = "RINGCACHE_TEST_DISK";

/// Bytes of one entry's body at most: a write larger than this is not
/// journaled whole (the simulation refuses it as an injected failure).
const MAX_ENTRY_BYTES: usize = 256 << 20;

/// A data file's first block: a header, synced when the file is created.
const HEADER_BLOCK_BYTES: u64 = 4096;

const WRITE: u8 = 1;
const SYNC: u8 = 2;
const SYNC_FAILED: u8 = 3;
const CREATE: u8 = 4;
const RENAME: u8 = 5;
const REMOVE: u8 = 6;
/// A write that failed after writing a torn prefix (journaled: the prefix
/// is on the file).
const WRITE_FAILED: u8 = 7;

struct Faults {
    journal: Mutex<Journal>,
}

struct Journal {
    out: File,
    /// Entries written so far: a write's number is its place.
    entries: u64,
    rng: u64,
    fail_one_in: u64,
    /// Read/write descriptors of the files written, for pre-images and torn
    /// writes.
    files: HashMap<PathBuf, File>,
}

static FAULTS: OnceLock<Option<Faults>> = OnceLock::new();

fn active() -> Option<&'static Faults> {
    FAULTS
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok()?;
            match parse_spec(&spec) {
                Ok(f) => Some(f),
                Err(e) => {
                    eprintln!("{ENV}={spec}: {e}");
                    std::process::exit(2);
                }
            }
        })
        .as_ref()
}

fn parse_spec(spec: &str) -> Result<Faults, String> {
    let (mut journal, mut seed, mut fail) = (None, 1u64, 0u64);
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').ok_or("expected key=value pairs")?;
        match k {
            "journal" => journal = Some(PathBuf::from(v)),
            "seed" => seed = v.parse().map_err(|_| "seed: not a number")?,
            "fail" => fail = v.parse().map_err(|_| "fail: not a number")?,
            _ => return Err(format!("unknown key {k}")),
        }
    }
    let journal = journal.ok_or("journal=<file> is required")?;
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&journal)
        .map_err(|e| format!("{}: {e}", journal.display()))?;
    Ok(Faults {
        journal: Mutex::new(Journal {
            out,
            entries: 0,
            rng: seed.max(1),
            fail_one_in: fail,
            files: HashMap::new(),
        }),
    })
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl Journal {
    fn fails(&mut self) -> bool {
        self.fail_one_in > 0 && xorshift(&mut self.rng).is_multiple_of(self.fail_one_in)
    }

    fn append(&mut self, kind: u8, path: &Path, body: &[u8]) {
        // Absolute: `power_cut` runs in another process, maybe elsewhere.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let name = path.as_os_str().as_bytes();
        let mut e = Vec::with_capacity(11 + name.len() + body.len());
        e.push(kind);
        e.extend_from_slice(&((2 + name.len() + body.len()) as u32).to_le_bytes());
        e.extend_from_slice(&(name.len() as u16).to_le_bytes());
        e.extend_from_slice(name);
        e.extend_from_slice(body);
        // One write(2): a kill can only cut it at the end of the journal,
        // before the data write it announces was made.
        if let Err(err) = self.out.write_all(&e) {
            eprintln!("{ENV}: cannot write the journal: {err}");
            std::process::abort();
        }
        self.entries += 1;
    }

    fn file(&mut self, path: &Path) -> std::io::Result<&File> {
        if !self.files.contains_key(path) {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            self.files.insert(path.to_path_buf(), f);
        }
        Ok(&self.files[path])
    }

    /// Journals a write of `data` at `pos`, with the bytes it overwrites.
    fn write(&mut self, path: &Path, pos: u64, data: &[u8], failed: bool) -> std::io::Result<()> {
        let file = match self.file(path) {
            Ok(f) => f,
            // Written through a descriptor of a file removed since: no power
            // cut can bring it back, nothing to journal.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let old_size = file.metadata()?.len();
        let mut pre = vec![0; old_size.saturating_sub(pos).min(data.len() as u64) as usize];
        file.read_exact_at(&mut pre, pos)?;
        let mut body = Vec::with_capacity(24 + pre.len() + data.len());
        body.extend_from_slice(&pos.to_le_bytes());
        body.extend_from_slice(&old_size.to_le_bytes());
        body.extend_from_slice(&(pre.len() as u32).to_le_bytes());
        body.extend_from_slice(&pre);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        self.append(if failed { WRITE_FAILED } else { WRITE }, path, &body);
        Ok(())
    }

    fn forget(&mut self, path: &Path) {
        self.files.remove(path);
    }
}

fn injected(rng: &mut u64) -> std::io::Error {
    let errno = if xorshift(rng).is_multiple_of(2) {
        libc::EIO
    } else {
        libc::ENOSPC
    };
    std::io::Error::from_raw_os_error(errno)
}

/// Before `data` is written at `pos` of `path`: journals it, or fails it
/// (maybe after writing a torn prefix).
pub fn write(path: &Path, pos: u64, data: &[u8]) -> std::io::Result<()> {
    let Some(f) = active() else { return Ok(()) };
    let mut j = f.journal.lock().unwrap_or_else(|e| e.into_inner());
    if data.len() > MAX_ENTRY_BYTES {
        return Err(std::io::Error::from_raw_os_error(libc::EFBIG));
    }
    if !j.fails() {
        return j.write(path, pos, data, false);
    }
    let err = injected(&mut j.rng);
    if xorshift(&mut j.rng).is_multiple_of(2) && !data.is_empty() {
        let torn = (xorshift(&mut j.rng) % data.len() as u64) as usize;
        j.write(path, pos, &data[..torn], true)?;
        if let Ok(f) = j.file(path) {
            f.write_all_at(&data[..torn], pos)?;
        }
    }
    Err(err)
}

/// What a sync covers: the writes journaled before it started.
#[derive(Clone, Copy)]
pub struct Ticket {
    entries: u64,
    started_us: u64,
}

/// Before a sync of `path`: the ticket to hand to `synced`, or an injected
/// failure (the writes so far then never become durable).
pub fn sync_starts(path: &Path) -> std::io::Result<Ticket> {
    let ticket = Ticket {
        entries: 0,
        started_us: 0,
    };
    let Some(f) = active() else { return Ok(ticket) };
    let mut j = f.journal.lock().unwrap_or_else(|e| e.into_inner());
    let upto = j.entries;
    if j.fails() {
        j.append(SYNC_FAILED, path, &upto.to_le_bytes());
        return Err(std::io::Error::from_raw_os_error(libc::EIO));
    }
    Ok(Ticket {
        entries: upto,
        started_us: now_us(),
    })
}

/// After a sync of `path` succeeded.
pub fn synced(path: &Path, ticket: Ticket) {
    let Some(f) = active() else { return };
    let mut j = f.journal.lock().unwrap_or_else(|e| e.into_inner());
    let mut body = ticket.entries.to_le_bytes().to_vec();
    body.extend_from_slice(&ticket.started_us.to_le_bytes());
    j.append(SYNC, path, &body);
}

/// `path` was created empty or cut: its earlier writes are gone.
pub fn created(path: &Path) {
    let Some(f) = active() else { return };
    let mut j = f.journal.lock().unwrap_or_else(|e| e.into_inner());
    j.forget(path);
    j.append(CREATE, path, &[]);
}

/// `path` was cut at a bad record and synced (only at start-up).
pub fn truncated(path: &Path) {
    created(path);
}

pub fn renamed(from: &Path, to: &Path) {
    let Some(f) = active() else { return };
    let mut j = f.journal.lock().unwrap_or_else(|e| e.into_inner());
    j.forget(from);
    j.forget(to);
    let to = std::path::absolute(to).unwrap_or_else(|_| to.to_path_buf());
    j.append(RENAME, from, to.as_os_str().as_bytes());
}

pub fn removed(path: &Path) {
    let Some(f) = active() else { return };
    let mut j = f.journal.lock().unwrap_or_else(|e| e.into_inner());
    j.forget(path);
    j.append(REMOVE, path, &[]);
}

/// The machine's boot (the first 8 characters of the kernel's boot id):
/// logs written in another boot may have lost unsynced writes to a power
/// cut. Tests simulate a reboot with `RINGCACHE_TEST_BOOT_ID`.
pub fn boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        std::env::var("RINGCACHE_TEST_BOOT_ID")
            .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/random/boot_id"))
            .map(|id| id.trim().chars().take(8).collect())
            .unwrap_or_default()
    })
}

/// One journaled write, as `power_cut` sees it.
struct Journaled {
    path: PathBuf,
    pos: u64,
    old_size: u64,
    pre: Vec<u8>,
    data: Vec<u8>,
    durable: bool,
    /// Its sync failed: no later sync writes it.
    lost: bool,
    /// Its file was emptied, replaced or removed since: nothing to undo.
    gone: bool,
    /// The server was told it failed (a torn prefix of it was written).
    failed: bool,
}

/// What `power_cut` did.
#[derive(Debug, Default)]
pub struct PowerCut {
    /// Every unsynced write kept: what a killed process leaves, without a
    /// power cut.
    pub kept_all: bool,
    /// Writes no sync had made durable.
    pub unsynced: usize,
    pub kept: usize,
    pub torn: usize,
    pub lost: usize,
    /// Per file, when the last completed sync that made data past the
    /// header block durable started (µs since the epoch): every write made
    /// before it is durable.
    pub last_sync_started_us: HashMap<PathBuf, u64>,
}

/// Turns the files written by a killed process (its journal at `journal`)
/// into what a power cut at the moment of the kill could have left, and
/// removes the journal. `seed` picks the outcome: all unsynced writes lost,
/// all kept, or each one lost, kept or torn.
pub fn power_cut(journal: &Path, seed: u64) -> Result<PowerCut, String> {
    let bytes = std::fs::read(journal).map_err(|e| format!("{}: {e}", journal.display()))?;
    let mut writes: Vec<Journaled> = Vec::new();
    let mut cut = PowerCut::default();
    let mut at = 0;
    let mut entry = 0u64;
    while let Some((kind, path, body, len)) = parse_entry(&bytes[at..]) {
        at += len;
        let same = |w: &Journaled| w.path == path && !w.gone;
        match kind {
            WRITE | WRITE_FAILED => {
                let Some(mut w) = parse_write(path.clone(), body) else {
                    break;
                };
                w.failed = kind == WRITE_FAILED;
                writes.push(w);
            }
            SYNC | SYNC_FAILED => {
                let upto = body
                    .get(..8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                // A sync after a write the server saw fail gives the
                // history no new durable point: the server wrote that
                // sync's time label last, or a record after it, and knows
                // it is not on disk (seeds 700360, 900074: a torn label,
                // then a sync of the file, counted as if the label held).
                let newest = writes.iter().take(upto as usize).rev().find(|w| same(w));
                let after_a_failure = newest.is_some_and(|w| w.failed);
                let earlier = writes.iter_mut().take(upto as usize);
                let mut data_synced = false;
                for w in earlier.filter(|w| same(w) && !w.durable && !w.lost) {
                    if kind == SYNC {
                        w.durable = true;
                        data_synced |= w.pos >= HEADER_BLOCK_BYTES;
                    } else {
                        w.lost = true;
                    }
                }
                if data_synced && !after_a_failure {
                    let started = body
                        .get(8..16)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                    let last = cut.last_sync_started_us.entry(path).or_default();
                    *last = (*last).max(started);
                }
            }
            CREATE | REMOVE => {
                for w in writes.iter_mut().filter(|w| same(w)) {
                    w.gone = true;
                }
            }
            RENAME => {
                let to = PathBuf::from(OsStr::from_bytes(body));
                for w in writes.iter_mut() {
                    if w.path == to {
                        w.gone = true;
                    } else if w.path == path {
                        w.path = to.clone();
                    }
                }
                if let Some(t) = cut.last_sync_started_us.remove(&path) {
                    cut.last_sync_started_us.insert(to, t);
                }
            }
            _ => break,
        }
        // Writes are numbered by their place among all entries.
        entry += 1;
        if kind != WRITE && kind != WRITE_FAILED {
            // Keep `writes[i]` addressable by entry number: a placeholder.
            writes.push(Journaled {
                path: PathBuf::new(),
                pos: 0,
                old_size: 0,
                pre: Vec::new(),
                data: Vec::new(),
                durable: true,
                lost: false,
                gone: true,
                failed: false,
            });
        }
    }
    debug_assert_eq!(entry as usize, writes.len());
    // Back to the files as they were before the first journaled write:
    // every write undone, newest first. (Undoing only the unsynced ones
    // would put their old bytes over later synced writes to the same place.)
    for w in writes.iter().rev().filter(|w| !w.gone) {
        let Ok(f) = std::fs::OpenOptions::new().write(true).open(&w.path) else {
            continue;
        };
        let io = |e: std::io::Error| format!("{}: {e}", w.path.display());
        f.write_all_at(&w.pre, w.pos).map_err(io)?;
        if w.pos + w.data.len() as u64 > w.old_size {
            f.set_len(w.old_size).map_err(io)?;
        }
    }
    // Then, in order, what the disk could have had: every synced write,
    // and some of the others, in full or torn.
    let mut rng = seed.max(1);
    let mode = xorshift(&mut rng) % 4;
    cut.kept_all = mode == 1;
    for w in writes.iter().filter(|w| !w.gone) {
        let Ok(f) = std::fs::OpenOptions::new().write(true).open(&w.path) else {
            continue;
        };
        let io = |e: std::io::Error| format!("{}: {e}", w.path.display());
        if w.durable {
            f.write_all_at(&w.data, w.pos).map_err(io)?;
            continue;
        }
        cut.unsynced += 1;
        let fate = match mode {
            0 => 0,
            1 => 1,
            _ => xorshift(&mut rng) % 4,
        };
        match fate {
            0 => cut.lost += 1,
            1 => {
                cut.kept += 1;
                f.write_all_at(&w.data, w.pos).map_err(io)?;
            }
            2 => {
                // Torn at any byte.
                cut.torn += 1;
                let n = (xorshift(&mut rng) % (w.data.len() as u64 + 1)) as usize;
                f.write_all_at(&w.data[..n], w.pos).map_err(io)?;
            }
            _ => {
                // Some 512-byte sectors reached the disk, others not.
                cut.torn += 1;
                for (i, sector) in w.data.chunks(512).enumerate() {
                    if xorshift(&mut rng).is_multiple_of(2) {
                        f.write_all_at(sector, w.pos + 512 * i as u64).map_err(io)?;
                    }
                }
            }
        }
    }
    std::fs::remove_file(journal).map_err(|e| format!("{}: {e}", journal.display()))?;
    Ok(cut)
}

/// (kind, path, body, entry length), or None at the end or a cut entry.
fn parse_entry(b: &[u8]) -> Option<(u8, PathBuf, &[u8], usize)> {
    let kind = *b.first()?;
    let len = u32::from_le_bytes(b.get(1..5)?.try_into().ok()?) as usize;
    let body = b.get(5..5 + len)?;
    let name_len = u16::from_le_bytes(body.get(..2)?.try_into().ok()?) as usize;
    let name = body.get(2..2 + name_len)?;
    let path = PathBuf::from(OsStr::from_bytes(name));
    Some((kind, path, &body[2 + name_len..], 5 + len))
}

fn parse_write(path: PathBuf, b: &[u8]) -> Option<Journaled> {
    let u64_at = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
    let pos = u64_at(0)?;
    let old_size = u64_at(8)?;
    let pre_len = u32::from_le_bytes(b.get(16..20)?.try_into().ok()?) as usize;
    let pre = b.get(20..20 + pre_len)?.to_vec();
    let at = 20 + pre_len;
    let data_len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
    let data = b.get(at + 4..at + 4 + data_len)?.to_vec();
    Some(Journaled {
        path,
        pos,
        old_size,
        pre,
        data,
        durable: false,
        lost: false,
        gone: false,
        failed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync only moves the durable point when the file's last write
    /// before it succeeded (seeds 700360 and 900074 of the long run).
    #[test]
    fn a_sync_after_a_failed_write_gives_no_new_durable_point() {
        let dir = std::path::absolute("target/test-data/faults-unit").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("shard-000-00000001.aof");
        std::fs::write(&data, vec![0u8; 3 * HEADER_BLOCK_BYTES as usize]).unwrap();
        let journal = dir.join("journal");
        let mut j = Journal {
            out: File::create(&journal).unwrap(),
            entries: 0,
            rng: 1,
            fail_one_in: 0,
            files: HashMap::new(),
        };
        let sync = |j: &mut Journal, started_us: u64| {
            let mut body = j.entries.to_le_bytes().to_vec();
            body.extend_from_slice(&started_us.to_le_bytes());
            j.append(SYNC, &data, &body);
        };
        j.write(&data, HEADER_BLOCK_BYTES, b"label 1", false)
            .unwrap();
        sync(&mut j, 1_000);
        // The next label is torn: the server got an error for it.
        j.write(&data, 2 * HEADER_BLOCK_BYTES, b"lab", true)
            .unwrap();
        sync(&mut j, 2_000);
        drop(j);
        let cut = power_cut(&journal, 1).unwrap();
        assert_eq!(cut.last_sync_started_us.get(&data), Some(&1_000));
    }
}
