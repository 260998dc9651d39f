//! Entry points for the fuzz targets in `fuzz/` (docs/security.md). Each one
//! runs the server's own code on the fuzzer's bytes, without a network and
//! without files: a client's pipeline through `dispatch::run` on a one-shard
//! node, a log segment through the decoder and replay that start-up uses, a
//! snapshot through the loader that start-up uses. Not an API.

use crate::commands::{apply_logged, dispatch, Session};
use crate::config::Config;
use crate::keyspace::Keyspace;
use crate::node::{ClientInfo, Node, Persist};
use crate::persistence::{aof, snapshot};
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
            .io_memory(crate::runtime::IO_MEMORY_BYTES)
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
                let chunk: Vec<Request> = rest.by_ref().take(batch.max(1)).collect();
                let ran = async {
                    dispatch::run(&node, &mut session, chunk, &mut out).await;
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
    let end = aof::decode_segment(bytes, bytes.len() as u64, None, |db, argv| {
        if failure.is_none() {
            failure = apply_logged(&mut sh, db, &argv, now).err();
        }
    })?;
    failure.map_or(Ok(end), Err)
}

/// Loads `bytes` as snapshot 1 of shard 0 of 1, as start-up does; then
/// encodes what it loaded again, which visits every value. The keys loaded.
pub fn load_snapshot(bytes: &[u8]) -> Result<u64, String> {
    let mut ks = Keyspace::new(0, 1, Config::default().databases);
    let loaded = snapshot::decode(bytes, (0, 1, 1), &mut ks, &|_| true, &mut |_| {})?;
    let mut again = Vec::new();
    for db in 0..ks.databases() {
        ks.keys(db, 0, |e| snapshot::encode_entry(&mut again, db, e));
    }
    Ok(loaded.keys)
}
