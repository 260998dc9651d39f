//! MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
//! [AUTH password | AUTH2 username password] [KEYS key ...]
//!
//! As Redis 7.0's `migrateCommand`: the keys' DUMP payloads go to the
//! target as `RESTORE key ttl payload [REPLACE]`, after `AUTH` and
//! `SELECT`, in one write; each `+OK` deletes its key here (unless COPY),
//! the first error is the reply. `timeout` bounds each connect, write and
//! read (not the whole transfer). See docs/dump.md.
//!
//! Where it differs, because Redis blocks its one thread for the transfer
//! and ringcache does not: a key written by another client after its DUMP
//! was taken is kept here (the target has the older value) rather than
//! deleted with its newer value; a MIGRATE to this server itself fails at
//! once instead of after its timeout. No connection is cached between
//! calls (Redis keeps one per target for 10 s), so no retry is needed for a
//! cached connection that went stale.

use super::cross::run_shard_cmd;
use super::{arg_is, int_arg, syntax_error};
use crate::node::{join_all, Node};
use crate::protocol::Frame;
use crate::router;
use crate::util::now_ms;
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::time::Duration;

/// The longest reply line read from the target (Redis reads into 1 KiB).
const MAX_REPLY_LINE: usize = 64 * 1024;

struct Options {
    copy: bool,
    replace: bool,
    /// `AUTH2`'s username, `AUTH`'s or `AUTH2`'s password.
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

fn options(args: &[Bytes]) -> Result<Options, Frame> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: vec![args[3].clone()],
    };
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - j - 1;
        if arg_is(&args[j], "copy") {
            o.copy = true;
        } else if arg_is(&args[j], "replace") {
            o.replace = true;
        } else if arg_is(&args[j], "auth") {
            if more == 0 {
                return Err(syntax_error());
            }
            o.auth = Some((None, args[j + 1].clone()));
            j += 1;
        } else if arg_is(&args[j], "auth2") {
            if more < 2 {
                return Err(syntax_error());
            }
            o.auth = Some((Some(args[j + 1].clone()), args[j + 2].clone()));
            j += 2;
        } else if arg_is(&args[j], "keys") {
            if !args[3].is_empty() {
                return Err(Frame::error(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            // Every argument after KEYS is a key.
            o.keys = args[j + 1..].to_vec();
            break;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(o)
}

pub(super) async fn migrate(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    let o = match options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    // Redis reads the timeout first, then the database.
    let (timeout, dst_db) = match (int_arg(&args[5]), int_arg(&args[4])) {
        (Err(e), _) | (_, Err(e)) => return e,
        (Ok(t), Ok(d)) => (t, d),
    };
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    // Each key's payload and time to live, read where it lives.
    let reads = o.keys.iter().map(|key| {
        let key = key.clone();
        let shard = router::shard_of(&key, node.shard_count);
        node.run_on(shard, move |n: &Node| {
            super::dump::dumped(&mut n.shard.borrow_mut(), db, &key, now_ms())
        })
    });
    let mut found = Vec::new();
    for (key, read) in o.keys.iter().zip(join_all(reads).await) {
        match read {
            None => return super::unavailable(),
            Some(Some(dumped)) => found.push((key.clone(), dumped)),
            Some(None) => {}
        }
    }
    if found.is_empty() {
        return Frame::simple("NOKEY");
    }
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let port = String::from_utf8_lossy(&args[2]).into_owned();
    let mut target = match connect(node, &host, &port, timeout).await {
        Ok(target) => target,
        Err(reply) => return reply,
    };
    let mut out = Vec::new();
    let command = |out: &mut Vec<u8>, parts: &[&[u8]]| Frame::encode_request(parts, out);
    match &o.auth {
        Some((Some(user), password)) => command(&mut out, &[b"AUTH", user, password]),
        Some((None, password)) => command(&mut out, &[b"AUTH", password]),
        None => {}
    }
    command(&mut out, &[b"SELECT", dst_db.to_string().as_bytes()]);
    for (key, (payload, ttl)) in &found {
        let ttl = ttl.to_string();
        let restore: &[&[u8]] = &[b"RESTORE", key, ttl.as_bytes(), payload];
        if o.replace {
            command(&mut out, &[restore, &[b"REPLACE"]].concat());
        } else {
            command(&mut out, restore);
        }
    }
    if target.write_all(&out).await.is_err() || target.flush().await.is_err() {
        return Frame::error("IOERR error or timeout writing to target instance");
    }
    // AUTH's and SELECT's replies come first; an error in them, or the
    // target's first error for a key, is the reply. A key the target took
    // goes from here even after another key's error, as in Redis.
    let mut replies = Replies::default();
    let setup = 1 + o.auth.is_some() as usize;
    let (mut first_error, mut setup_failed) = (None, false);
    let (mut read, mut migrated) = (0, Vec::new());
    while read < setup + found.len() {
        let Ok(line) = replies.next(&mut target).await else {
            break;
        };
        if let Some(error) = line.strip_prefix(b"-") {
            first_error.get_or_insert_with(|| error.to_vec());
            setup_failed |= read < setup;
        } else if read >= setup && !setup_failed {
            migrated.push(found[read - setup].clone());
        }
        read += 1;
    }
    // Each key the target took goes from here (unless COPY), logged as DEL.
    if !o.copy {
        let deletes = migrated.into_iter().map(|(key, (payload, _))| {
            let shard = router::shard_of(&key, node.shard_count);
            let argv = vec![Bytes::from_static(b"MIGRATE-DEL"), key, payload];
            run_shard_cmd(node, shard, super::dump::delete_migrated, db, argv)
        });
        join_all(deletes).await;
    }
    match first_error {
        Some(e) => Frame::error(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&e)
        )),
        None if read < setup + found.len() => {
            Frame::error("IOERR error or timeout reading from target instance")
        }
        None => Frame::OK,
    }
}

/// A connection to the target, with `timeout` on every read and write,
/// or Redis's reply when there is none: a refused connection is its write
/// error (Redis's non-blocking connect reports it at the first write), a
/// name that does not resolve or a connect that times out its connect
/// error. Refused when it is this server (Redis, blocked in the call,
/// would answer a timeout).
async fn connect(
    node: &Node,
    host: &str,
    port: &str,
    timeout: Duration,
) -> Result<TcpStream, Frame> {
    let connecting = || Frame::error("IOERR error or timeout connecting to the client");
    let port: u16 = port.parse().map_err(|_| connecting())?;
    let stream = match TcpStream::connect_timeout((host, port), timeout).await {
        Ok(stream) => stream,
        Err(e) => {
            return Err(match std::io::Error::from(e).kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    Frame::error("IOERR error or timeout writing to target instance")
                }
                _ => connecting(),
            })
        }
    };
    let addresses = (stream.peer_addr(), stream.local_addr());
    let (Ok(peer), Ok(local)) = addresses else {
        return Err(connecting());
    };
    let ours = node.config.borrow().port;
    if peer.port() == ours && (peer.ip() == local.ip() || peer.ip().is_loopback()) {
        return Err(connecting());
    }
    let timeouts = stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)));
    timeouts.map(|()| stream).map_err(|_| connecting())
}

/// Reply lines read from the target.
#[derive(Default)]
struct Replies {
    buf: Vec<u8>,
}

impl Replies {
    async fn next(&mut self, stream: &mut TcpStream) -> Result<Vec<u8>, ()> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..end].to_vec();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_REPLY_LINE {
                return Err(());
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}
