//! A small harness for the collection tests: runs the real `ringcache`
//! binary (2 shards by default) on a free port with its own data directory
//! under `target/test-data` (the real disk, never a tmpfs), kills it on drop,
//! and places keys on chosen shards with Redis Cluster's slot rule.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const SHARDS: usize = 2;
const START_TIMEOUT: Duration = Duration::from_secs(10);
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Server {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

impl Server {
    pub fn start() -> Server {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("test-data");
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let n = STARTED.fetch_add(1, Ordering::Relaxed);
            let dir = root.join(format!("collections-{}-{n}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("data dir");
            let child = Command::new(env!("CARGO_BIN_EXE_ringcache"))
                .args(["--port", &port.to_string(), "--shards", &SHARDS.to_string()])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn ringcache");
            let mut s = Server { port, child, dir };
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = s.child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return s;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("ringcache did not start");
    }

    pub fn con(&self) -> redis::Connection {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap();
        let con = client.get_connection_with_timeout(REPLY_TIMEOUT).unwrap();
        con.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        con
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command given as words; panics on an error reply.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The raw reply (errors included, as `Err(text)`), for exact comparisons.
pub fn raw(con: &mut redis::Connection, args: &[&str]) -> Result<redis::Value, String> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query::<redis::Value>(con)
        .map_err(|e| match (e.code(), e.detail()) {
            (Some(code), Some(d)) => format!("{code} {d}"),
            (Some(code), None) => code.to_string(),
            _ => format!("{e}"),
        })
}

/// The error text of a command that must fail.
pub fn q_err(con: &mut redis::Connection, args: &[&str]) -> String {
    match raw(con, args) {
        Ok(v) => panic!("{args:?}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Redis Cluster's hash slot (CRC16/XMODEM, `{tag}` rule).
pub fn slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(o) => match key[o + 1..].iter().position(|&c| c == b'}') {
            Some(l) if l > 0 => &key[o + 1..o + 1 + l],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &b in hashed {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc & 16383
}

pub fn shard_of(key: &str) -> usize {
    slot(key.as_bytes()) as usize * SHARDS / 16384
}

/// A key named `prefix:<i>` that lives on `shard`.
pub fn key_on(prefix: &str, shard: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| shard_of(k) == shard)
        .unwrap()
}

/// Sorted copy, for replies whose order Redis leaves unspecified.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
