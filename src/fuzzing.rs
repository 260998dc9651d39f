//! Entry points for the fuzz targets in `fuzz/` (docs/security.md). Each one
//! runs the server's own code on the fuzzer's bytes, without a network and
//! without files: a client's pipeline through `dispatch::run` on a one-shard
//! node, a log segment through the decoder and replay that start-up uses, a
//! snapshot through the loader that start-up uses, a DUMP payload through
//! RESTORE's decoder. Not an API.
//!
//! The persistence targets take a mode byte first: even, the rest is the
//! file as is; odd, the rest follows a valid header block and every
//! checksum in it is set right first (`with_checksums`), so that random
//! bytes reach the decoders behind the checksums.

use crate::commands::{apply_logged, dispatch, Session};
use crate::config::Config;
use crate::keyspace::{Keyspace, Value};
use crate::node::{ClientInfo, Node, Persist};
use crate::persistence::record::{
    SegmentHeader, BLOCK, FLAG_CONTINUATION, FLAG_MORE, FORMAT_VERSION, HEADER_BYTES, SEGMENT_MAGIC,
};
use crate::persistence::{aof, rdb, snapshot};
use crate::protocol::Request;
use crate::shard::Shard;
use bytes::Bytes;
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Commands the harness does not run: they write files or end the process,
/// and what they parse is a few fixed words.
const SKIPPED: &[&str] = &["shutdown", "save", "bgsave", "bgrewriteaof"];

/// How long a batch may wait (a blocking command with nothing to pop)
/// before the harness gives up on it.
const BLOCKED_AFTER: Duration = Duration::from_millis(1);

/// Runs clients' pipelines on a glommio executor of the calling thread.
pub struct Commands {
    executor: LocalExecutor,
}

impl Commands {
    pub fn new() -> Result<Commands, String> {
        let executor = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(crate::config::IO_MEMORY_BYTES)
            .make()
            .map_err(|e| format!("cannot start a glommio executor: {e}"))?;
        Ok(Commands { executor })
    }

    /// Runs `requests` as one client's pipeline, in batches of `batch`, on
    /// a fresh one-shard node with the default settings; the encoded replies.
    pub fn run(&self, requests: Vec<Vec<Bytes>>, batch: usize) -> Vec<u8> {
        let requests: Vec<Request> = requests
            .into_iter()
            .filter(|args| {
                !args.is_empty()
                    && !SKIPPED
                        .iter()
                        .any(|s| s.as_bytes().eq_ignore_ascii_case(&args[0]))
            })
            .map(|args| Request { args })
            .collect();
        self.executor.run(async move {
            let config = Config {
                shards: 1,
                ..Config::default()
            };
            let node = Node::new(0, config, Vec::new(), Persist::default());
            let info = ClientInfo::new(1, "127.0.0.1:1".into(), "127.0.0.1:6379".into(), 0);
            let info = Rc::new(RefCell::new(info));
            node.clients.borrow_mut().connected.insert(1, info.clone());
            let mut session = Session::new(info);
            session.authenticated = true;
            let mut out = Vec::new();
            let mut rest = requests.into_iter().peekable();
            while rest.peek().is_some() && !session.closing {
                let mut chunk: Vec<Request> = rest.by_ref().take(batch.max(1)).collect();
                let ran = async {
                    dispatch::run(&node, &mut session, &mut chunk, &mut out).await;
                    true
                };
                let blocked = async {
                    glommio::timer::sleep(BLOCKED_AFTER).await;
                    false
                };
                if !futures_lite::future::or(ran, blocked).await {
                    break;
                }
            }
            out
        })
    }
}

/// Decodes `bytes` as a log segment and replays its records on an empty
/// shard, as start-up does (`runtime::recovery::load_shard`).
pub fn replay_segment(bytes: &[u8]) -> Result<aof::SegmentEnd, String> {
    let mut sh = Shard::new(0, 1, Config::default().databases);
    let now = crate::util::now_ms();
    let mut failure = None;
    let end = aof::decode_segment(bytes, bytes.len() as u64, None, None, |db, argv| {
        if failure.is_none() {
            failure = apply_logged(&mut sh, db, &argv, now).err();
        }
        true
    })?;
    failure.map_or(Ok(end), Err)
}

/// Loads `bytes` as snapshot 1 of shard 0 of 1, as start-up does; then
/// encodes what it loaded again, which visits every value. The keys loaded.
/// Panics if a loaded collection is empty: the keyspace never holds one
/// (commands delete a key whose last element goes), so neither may a load.
pub fn load_snapshot(bytes: &[u8]) -> Result<u64, String> {
    let mut ks = Keyspace::new(0, 1, Config::default().databases);
    let loaded = snapshot::decode(bytes, (0, 1, 1), &mut ks, &|_| true, &mut |_| {})?;
    let mut again = Vec::new();
    for db in 0..ks.databases() {
        ks.keys(db, 0, |e| {
            let empty = match e.value() {
                None | Some(Value::Str(_)) => false,
                Some(Value::List(l)) => l.is_empty(),
                Some(Value::Hash(h)) => h.is_empty(),
                Some(Value::Set(s)) => s.is_empty(),
                Some(Value::ZSet(z)) => z.is_empty(),
                // A stream may be empty (XADD MAXLEN 0, XGROUP CREATE MKSTREAM).
                Some(Value::Stream(_)) => false,
            };
            assert!(!empty, "an empty {} was loaded", e.type_name());
            snapshot::encode_entry(&mut again, db, e)
        });
    }
    Ok(loaded.keys)
}

/// The `aof_replay` target: a mode byte, then a segment (see the module).
pub fn fuzz_aof_replay(data: &[u8]) {
    by_mode(data, segment_with_checksums, |file| {
        let _ = replay_segment(file);
    });
}

/// The `snapshot_load` target: a mode byte, then a snapshot (see the module).
pub fn fuzz_snapshot_load(data: &[u8]) {
    by_mode(data, snapshot_with_checksums, |file| {
        let _ = load_snapshot(file);
    });
}

/// RESTORE's payload decoder (`persistence::rdb`); the mode byte as for
/// the files: odd, the rest gets a footer with the right checksum, so
/// random bytes reach the object decoder. A payload that restores must
/// dump again into one that restores.
pub fn fuzz_rdb_restore(data: &[u8]) {
    by_mode(data, rdb::sign, |payload| {
        if let Ok(value) = rdb::restore(payload) {
            let again = rdb::dump(&value);
            assert!(rdb::restore(&again).is_ok(), "a DUMP that does not RESTORE");
        }
    });
}

/// Hands `decode` the file `data` stands for: after its mode byte, the
/// rest as is (even) or made right by `fix` (odd).
fn by_mode(data: &[u8], fix: fn(&[u8]) -> Vec<u8>, decode: impl Fn(&[u8])) {
    match data.split_first() {
        Some((&mode, rest)) if mode & 1 == 0 => decode(rest),
        Some((_, rest)) => decode(&fix(rest)),
        None => {}
    }
}

/// A valid segment header, then `records` with their checksums made right,
/// walking the file as the reader does (padding, block ends).
fn segment_with_checksums(records: &[u8]) -> Vec<u8> {
    let mut file = SegmentHeader {
        magic: SEGMENT_MAGIC,
        shard: 0,
        shards: 1,
        sequence: 1,
        run_id: "fuzz".into(),
        version: FORMAT_VERSION,
    }
    .encode();
    file.extend_from_slice(records);
    let mut pos = BLOCK;
    while pos + HEADER_BYTES <= file.len() {
        let block_left = BLOCK - pos % BLOCK;
        if block_left < HEADER_BYTES {
            pos += block_left;
            continue;
        }
        let len = payload_len(&file, pos);
        if len == 0 {
            file[pos + 4..pos + 8].fill(0);
            pos += block_left;
            continue;
        }
        let start = pos + HEADER_BYTES;
        let Some(end) = start.checked_add(len).filter(|&e| e <= file.len()) else {
            break;
        };
        let crc = crc32c::crc32c(&file[start..end]);
        file[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
    file
}

/// A valid snapshot header (shard 0 of 1, generation 1), then `records`
/// with their checksums, and a footer's totals, made right.
fn snapshot_with_checksums(records: &[u8]) -> Vec<u8> {
    let mut file = snapshot::header(0, 1, 1);
    file.extend_from_slice(records);
    let (mut pos, mut keys, mut crc) = (BLOCK, 0u64, 0u32);
    while pos + HEADER_BYTES < file.len() {
        let len = payload_len(&file, pos);
        let start = pos + HEADER_BYTES;
        let Some(end) = start
            .checked_add(len)
            .filter(|&e| len > 0 && e <= file.len())
        else {
            break;
        };
        if file[start] == snapshot::TAG_FOOTER && len == snapshot::FOOTER_BYTES {
            let bytes = (pos - BLOCK) as u64;
            file[start + 1..start + 9].copy_from_slice(&keys.to_le_bytes());
            file[start + 9..start + 17].copy_from_slice(&bytes.to_le_bytes());
            file[start + 25..start + 29].copy_from_slice(&crc.to_le_bytes());
        }
        // A fragment that continues a record starts with no tag.
        let continues = u32_at(&file, pos) & FLAG_CONTINUATION != 0;
        keys += (!continues && snapshot::starts_key(file[start])) as u64;
        let record_crc = crc32c::crc32c(&file[start..end]);
        file[pos + 4..pos + 8].copy_from_slice(&record_crc.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &file[pos..end]);
        pos = end;
    }
    file
}

/// The payload length a record header at `pos` claims, without its
/// fragment flags.
fn payload_len(b: &[u8], pos: usize) -> usize {
    (u32_at(b, pos) & !(FLAG_MORE | FLAG_CONTINUATION)) as usize
}

fn u32_at(b: &[u8], pos: usize) -> u32 {
    u32::from_le_bytes(b[pos..pos + 4].try_into().expect("4 bytes"))
}
