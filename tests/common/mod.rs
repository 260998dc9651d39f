//! Shared by the integration tests: a `Server` that runs the real `ringcache`
//! binary on a free port with its own data directory, a raw RESP client for
//! byte-exact protocol checks, and Redis Cluster's key → slot → shard mapping,
//! computed here independently of the server's code so tests can place keys on
//! chosen shards.
//!
//! Setting `RINGCACHE_TEST_SERVER=redis-server` runs the same tests against a
//! real Redis instead: the way to check that an expected reply really is what
//! Redis says (tests of ringcache-only behaviour look at `Server::is_redis`).

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// A start-up normally takes milliseconds; one not listening after this long
/// has hung.
const HUNG_START: Duration = Duration::from_secs(5);

/// How a start-up attempt ended.
#[derive(Debug, PartialEq)]
pub enum Start {
    Ready,
    /// The process exited (e.g. the port was taken meanwhile).
    Exited,
    /// Still running, but not answering.
    Hung,
}
/// How long any single reply may take before a test fails instead of hanging.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server, killed (and its data directory removed) on drop.
pub struct Server {
    pub port: u16,
    pub shards: usize,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    redis: bool,
    extra: Vec<String>,
    /// Environment variables set for the next starts (`set_env`).
    env: Vec<(String, String)>,
}

/// Ports handed out by this test process: two servers started at the same
/// time must never be given the same one.
static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// A free port on 127.0.0.1, never handed out twice by this test process.
pub fn free_port() -> u16 {
    let mut used = PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let used = used.get_or_insert_with(HashSet::new);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if used.insert(port) {
            return port;
        }
    }
}

/// `target/test-data`: on the real disk (a tmpfs /tmp would silently turn
/// O_DIRECT off), next to cargo's own per-target scratch directory.
/// The server binary: this build's, or `RINGCACHE_TEST_BINARY` (a long run
/// that must not pick up a rebuild halfway).
pub fn server_binary() -> PathBuf {
    std::env::var_os("RINGCACHE_TEST_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ringcache")))
}

/// Cargo's target directory (`target/`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf()
}

fn data_root() -> PathBuf {
    target_dir().join("test-data")
}

/// A scratch directory on the real disk (tmpfs would hide O_DIRECT), unique
/// to this test process and `name`; made if missing.
pub fn scratch(name: &str) -> PathBuf {
    let dir = data_root().join(format!("scratch-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

impl Server {
    /// A server with 2 shards.
    pub fn start() -> Server {
        Server::with(2, &[])
    }

    pub fn shards(shards: usize) -> Server {
        Server::with(shards, &[])
    }

    /// A server with `shards` shards and extra command-line flags.
    pub fn with(shards: usize, extra: &[&str]) -> Server {
        let mut last_log = String::new();
        // A port taken by another process between our probe and the server's
        // bind makes it exit at once: try again on another port. A start-up
        // that hangs is a server bug that `server::startup_never_hangs`
        // reports; here it is retried so that it does not fail whichever
        // test happened to hit it.
        for _attempt in 0..3 {
            match Server::start_once(shards, extra, HUNG_START) {
                Ok(server) => return server,
                Err((Start::Hung, log)) => {
                    eprintln!(
                        "WARNING: the server hung at start-up (not listening after {HUNG_START:?}); retrying. Log:\n{log}"
                    );
                    last_log = log;
                }
                Err((_, log)) => last_log = log,
            }
        }
        panic!("the server did not start; its last log:\n{last_log}");
    }

    /// One attempt to start a server: the server if it answers PING within
    /// `timeout`, else whether it exited or hung, and its log.
    pub fn start_once(
        shards: usize,
        extra: &[&str],
        timeout: Duration,
    ) -> Result<Server, (Start, String)> {
        let redis = std::env::var("RINGCACHE_TEST_SERVER").is_ok_and(|v| v == "redis-server");
        Server::start_as(redis, shards, extra, timeout)
    }

    /// A real redis-server (Debian's 7.0) beside ringcache, as the oracle of
    /// a differential test; `None` if it is not installed or does not start.
    pub fn redis_oracle() -> Option<Server> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            return None;
        }
        Server::start_as(true, 1, &[], START_TIMEOUT).ok()
    }

    fn start_as(
        redis: bool,
        shards: usize,
        extra: &[&str],
        timeout: Duration,
    ) -> Result<Server, (Start, String)> {
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let port = free_port();
        let name = format!("{}-{}-{port}", std::process::id(), n);
        let dir = data_root().join(&name);
        let log = data_root().join(format!("{name}.log"));
        std::fs::create_dir_all(&dir).expect("create test data dir");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn(redis, port, shards, &dir, &log, &extra, &[]);
        let mut server = Server {
            port,
            shards,
            child,
            dir,
            log,
            redis,
            extra,
            env: Vec::new(),
        };
        match server.wait_ready(timeout) {
            Start::Ready => Ok(server),
            // Dropping the server kills it (if still alive) and cleans up.
            failed => Err((failed, server.log_text())),
        }
    }

    /// Kills the server with SIGKILL (no chance to flush anything) and starts
    /// it again on the same port and data directory, with the same flags.
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.start_again();
    }

    /// Kills the server and starts it again with another shard count and
    /// other flags, on the same port and data directory.
    pub fn restart_with(&mut self, shards: usize, extra: &[&str]) {
        self.kill9();
        self.shards = shards;
        self.extra = extra.iter().map(|s| s.to_string()).collect();
        self.start_again();
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.exited_within(wait)
    }

    /// Whether the process has exited, waiting at most `wait`.
    pub fn exited_within(&mut self, wait: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the (stopped) server again on the same port and directory;
    /// panics with its log if it does not come up.
    pub fn start_again(&mut self) {
        self.respawn();
        match self.wait_ready(START_TIMEOUT) {
            Start::Ready => {}
            Start::Hung => panic!(
                "the server did not restart (hung); its log:\n{}\nits threads:\n{}",
                self.log_text(),
                thread_dump(self.pid())
            ),
            Start::Exited => panic!("the server did not restart; its log:\n{}", self.log_text()),
        }
    }

    /// Starts the stopped server with other flags and returns its exit
    /// status and log if it exits within `wait` (a refused start).
    pub fn try_start_with(
        &mut self,
        extra: &[&str],
        wait: Duration,
    ) -> Option<(std::process::ExitStatus, String)> {
        self.extra = extra.iter().map(|s| s.to_string()).collect();
        self.respawn();
        self.exited_within(wait)
            .map(|status| (status, self.log_text()))
    }

    /// Starts the process again with the server's current settings.
    fn respawn(&mut self) {
        self.child = spawn(
            self.redis,
            self.port,
            self.shards,
            &self.dir,
            &self.log,
            &self.extra,
            &self.env,
        );
    }

    /// Sets the environment of the server's next starts (a test-only fault
    /// point such as `RINGCACHE_TEST_CRASH_AT`); empty: none.
    pub fn set_env(&mut self, vars: &[(&str, &str)]) {
        self.env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Waits (bounded) for the process to exit by itself (a fault point
    /// aborting it) and returns whether it did.
    pub fn crashed_within(&mut self, wait: Duration) -> bool {
        self.exited_within(wait).is_some()
    }

    /// Waits until the server answers PING, it exits, or `timeout` passes.
    fn wait_ready(&mut self, timeout: Duration) -> Start {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Start::Exited;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    // A server with a password answers -NOAUTH even while it
                    // loads (as Redis): its log says when it is ready.
                    && (&buf == b"+PONG\r\n"
                        || (&buf == b"-NOAUTH"
                            && self
                                .log_text()
                                .to_lowercase()
                                .contains("ready to accept connections")))
                {
                    return Start::Ready;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Start::Hung
    }

    /// True when the tests run against a real redis-server.
    /// The server process's id (while it runs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_redis(&self) -> bool {
        self.redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A new connection (RESP2, database 0) with timeouts, so a server that
    /// stops answering fails the test instead of hanging it.
    pub fn con(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("client");
        let con = client
            .get_connection_with_timeout(REPLY_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url()));
        con.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        con.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
        con
    }

    /// A connection with database `db` selected.
    pub fn con_db(&self, db: i64) -> redis::Connection {
        let mut con = self.con();
        let ok: String = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
        assert_eq!(ok, "OK");
        con
    }

    /// A raw TCP connection, for byte-exact protocol tests.
    pub fn raw(&self) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends `bytes` on a new connection and returns the first reply.
    pub fn roundtrip(&self, bytes: &[u8]) -> String {
        self.raw().call(bytes)
    }

    /// True while the server process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Starts the server process, its output appended to `log`.
fn spawn(
    redis: bool,
    port: u16,
    shards: usize,
    dir: &Path,
    log: &Path,
    extra: &[String],
    env: &[(String, String)],
) -> Child {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open server log");
    let mut cmd = if redis {
        let mut c = Command::new("redis-server");
        c.args(["--save", "", "--appendonly", "no"]);
        c
    } else {
        let mut c = Command::new(server_binary());
        c.args(["--shards", &shards.to_string()]);
        c
    };
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log fd"))
        .stderr(log_file);
    // If the test process dies without unwinding (killed by a timeout), the
    // server must not outlive it. The signal is tied to the spawning thread,
    // which is the test's own thread and drops the server before it ends.
    // SAFETY: prctl is async-signal-safe; nothing else runs here.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().expect("spawn the server binary")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // The test failed: its output shows what the server logged.
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- server log (last lines, port {}) ---", self.port);
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One step of a differential test: `args` to redis-server and to
/// ringcache, the replies compared byte for byte.
pub fn both(redis: &mut Raw, ours: &mut Raw, args: &[&str]) {
    let (want, got) = (redis.cmd(args), ours.cmd(args));
    assert_eq!(got, want, "{args:?}");
}

/// A reply of `Raw::cmd` as a typed value (RESP2 or RESP3), for tests that
/// compare replies in part or after putting Redis's unordered parts in
/// order.
pub fn parsed(reply: &str) -> redis::Value {
    redis::parse_redis_value(reply.as_bytes())
        .unwrap_or_else(|e| panic!("not a RESP reply ({e}): {reply:?}"))
}

/// A raw RESP connection.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Sends a command as a RESP multibulk and returns its reply.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        let bytes = encode(args);
        self.call(&bytes)
    }

    /// Sends `bytes` and returns the first complete reply.
    pub fn call(&mut self, bytes: &[u8]) -> String {
        self.send(bytes);
        self.read_reply()
    }

    /// The next complete reply, as text; panics on EOF or timeout.
    pub fn read_reply(&mut self) -> String {
        match self.try_read_reply() {
            Some(r) => r,
            None => panic!(
                "connection closed before a complete reply; got {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// The next complete reply, or None if the server closed the connection.
    pub fn try_read_reply(&mut self) -> Option<String> {
        loop {
            if let Some(n) = reply_len(&self.buf, 0) {
                let reply: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&reply).into_owned());
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!(
                    "no complete reply within {REPLY_TIMEOUT:?} ({e}); got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// True if the server closes the connection (after any unread replies,
    /// which are discarded) within the reply timeout.
    pub fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The length of the complete RESP2/RESP3 reply at `buf[pos..]`, if complete.
fn reply_len(buf: &[u8], pos: usize) -> Option<usize> {
    let line_end = |from: usize| -> Option<usize> {
        buf.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| from + i)
    };
    let kind = *buf.get(pos)?;
    let end = line_end(pos + 1)?;
    let after = end + 2;
    let header = std::str::from_utf8(&buf[pos + 1..end]).ok()?;
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(after - pos),
        b'$' | b'=' | b'!' => {
            let n: i64 = header.parse().ok()?;
            if n < 0 {
                return Some(after - pos);
            }
            let total = after + n as usize + 2;
            (buf.len() >= total).then_some(total - pos)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = header.parse().ok()?;
            let items = if matches!(kind, b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut at = after;
            for _ in 0..items.max(0) {
                at += reply_len(buf, at)?;
            }
            Some(at - pos)
        }
        _ => panic!(
            "not a RESP reply: {:?}",
            String::from_utf8_lossy(&buf[pos..])
        ),
    }
}

/// The server's error text ("ERR ...") of a failed command.
pub fn err<T: std::fmt::Debug>(r: redis::RedisResult<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error reply, got {v:?}"),
        Err(e) => match (e.code(), e.detail()) {
            (Some(code), Some(detail)) => format!("{code} {detail}"),
            (Some(code), None) => code.to_string(),
            _ => panic!("not a server error: {e:?}"),
        },
    }
}

/// Runs one command given as words, for brevity in tests.
pub fn q<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// The error reply to a command given as words.
pub fn q_err(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    match c.query::<redis::Value>(con) {
        Ok(v) => panic!("{args:?}: expected an error reply, got {v:?}"),
        r => err(r),
    }
}

/// One field of INFO (`section` may be "" for the default sections).
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let mut c = redis::cmd("INFO");
    if !section.is_empty() {
        c.arg(section);
    }
    let text: String = c.query(con).expect("INFO");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim_end().to_string())
}

/// Redis Cluster's hash slot of a key (CRC16/XMODEM, `{tag}` rules).
pub fn slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&c| c == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&c| c == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
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

/// The shard that owns a key: shard i owns slots
/// [ceil(i*16384/n), ceil((i+1)*16384/n)).
pub fn shard_of(key: &str, shards: usize) -> usize {
    let s = slot(key.as_bytes()) as usize;
    (0..shards)
        .find(|&i| s < ((i + 1) * 16384).div_ceil(shards))
        .expect("slot below 16384")
}

/// The core a connection landed on (client ids are strided by core).
pub fn core_of(id: i64, shards: usize) -> usize {
    ((id - 1) % shards as i64) as usize
}

/// A raw connection's client id.
pub fn id_of(r: &mut Raw) -> i64 {
    r.cmd(&["CLIENT", "ID"])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap()
}

/// A raw connection on core `core` (the kernel spreads accepts: retry).
pub fn raw_on(s: &Server, core: usize) -> Raw {
    for _ in 0..200 {
        let mut r = s.raw();
        if core_of(id_of(&mut r), s.shards) == core {
            return r;
        }
    }
    panic!("no connection landed on core {core}");
}

/// A `redis` crate connection on core `core`.
pub fn con_on(s: &Server, core: usize) -> redis::Connection {
    for _ in 0..200 {
        let mut c = s.con();
        let id: i64 = q(&mut c, &["CLIENT", "ID"]);
        if core_of(id, s.shards) == core {
            return c;
        }
    }
    panic!("no connection landed on core {core}");
}

/// `n` distinct keys `prefix:<i>` that live on `shard` of `shards`.
pub fn keys_on(prefix: &str, shard: usize, shards: usize, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| shard_of(k, shards) == shard)
        .take(n)
        .collect()
}

/// The path of a redis-tools binary; fails the test (it must not pass
/// silently) when it is not installed.
pub fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`{name}` is not on PATH: install redis-tools (apt-get install redis-tools) to run this test")
    })
}

/// Every thread's stack of process `pid` (a server that hangs), from gdb;
/// a note instead when gdb is missing.
/// Each thread's kernel stack comes first (`/proc/<pid>/task/*/stack`, as
/// root): a thread waiting in the kernel (an fdatasync stuck behind the
/// filesystem's journal, say) shows there, not in gdb.
pub fn thread_dump(pid: u32) -> String {
    let mut out = liveness(pid);
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for task in tasks.flatten() {
        let read = |f: &str| std::fs::read_to_string(task.path().join(f)).unwrap_or_default();
        out += &format!(
            "task {:?} {}:\n{}",
            task.file_name(),
            read("comm").trim(),
            read("stack")
        );
    }
    let gdb = Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(no user-space stacks: gdb: {e})"));
    // And a core file, to read the executors' state (their run queues) later.
    let core = data_root().join(format!("hang-{pid}"));
    let saved = Command::new("gcore")
        .args(["-o", &core.to_string_lossy(), &pid.to_string()])
        .output()
        .is_ok_and(|o| o.status.success());
    let note = if saved {
        format!("core file: {}.{pid}\n", core.display())
    } else {
        "no core file (gcore failed)\n".into()
    };
    out + &gdb + &note
}

/// Tells a stuck executor from a waiting one: each thread's count of times
/// it ran over 2 s (`/proc/<pid>/task/*/schedstat`; an executor whose timers
/// still fire runs at least 10 times a second, one parked for good runs 0),
/// and whether new connections still get a PING answered.
fn liveness(pid: u32) -> String {
    let runs = || -> Vec<(String, u64)> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten();
        tasks
            .flatten()
            .map(|t| {
                let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
                let slices = read("schedstat")
                    .split_whitespace()
                    .nth(2)
                    .and_then(|n| n.parse().ok());
                (read("comm").trim().to_string(), slices.unwrap_or(0))
            })
            .collect()
    };
    let before = runs();
    std::thread::sleep(Duration::from_secs(2));
    let after = runs();
    let mut out = String::from("times each thread ran in 2 s:");
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        out += &format!(" {name}={}", b.saturating_sub(*a));
    }
    out += &kernel_side(pid);
    out += "\nPING on new connections:";
    for _ in 0..4 {
        out += &format!(" {}", ping_listener_of(pid));
    }
    out + "\n"
}

/// Where in the kernel each thread waits: its state (`D`: blocked on I/O,
/// say a write stuck behind the journal; `S`: asleep until an event) and the
/// top of its kernel stack, which tells a stalled disk from a lost wake-up.
fn kernel_side(pid: u32) -> String {
    let mut out = String::from("\nkernel side of each thread:");
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for t in tasks.flatten() {
        let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
        // The state follows the parenthesised name in `stat`.
        let stat = read("stat");
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        let stack: Vec<String> = read("stack")
            .lines()
            .take(6)
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(1)?
                    .split('+')
                    .next()
                    .map(String::from)
            })
            .collect();
        out += &format!(
            "\n  {} state={} wchan={} stack: {}",
            read("comm").trim(),
            state.unwrap_or("?"),
            read("wchan").trim(),
            stack.join(" < ")
        );
    }
    out
}

/// One PING on a new connection to the port `pid` listens on (from `ss`).
fn ping_listener_of(pid: u32) -> String {
    let listing = Command::new("ss").args(["-ltnpH"]).output();
    let listing = listing
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let port = listing
        .lines()
        .find(|l| l.contains(&format!("pid={pid},")))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse::<u16>().ok());
    let Some(port) = port else {
        return "no-listener".into();
    };
    let started = Instant::now();
    let answered = TcpStream::connect(("127.0.0.1", port)).and_then(|mut c| {
        c.set_read_timeout(Some(Duration::from_secs(2)))?;
        c.write_all(b"PING\r\n")?;
        let mut reply = [0u8; 7];
        c.read_exact(&mut reply)
    });
    match answered {
        Ok(()) => format!("ok({}ms)", started.elapsed().as_millis()),
        Err(e) => format!("none({e})"),
    }
}

/// The Python that has redis-py, from the virtualenv `tests/run.sh` makes
/// (`target/pyenv`); fails the test (it must not pass silently) when missing.
pub fn python_client() -> PathBuf {
    let python = target_dir().join("pyenv/bin/python");
    let has_redis_py = Command::new(&python)
        .args(["-c", "import redis"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_redis_py,
        "{} has no redis-py: run the tests through `bash tests/run.sh`, which installs it",
        python.display()
    );
    python
}

/// Runs a Python script (redis-py available) against `server` with a time
/// limit; its stdout, or the test fails with what it printed.
pub fn run_python(server: &Server, script: &str, limit: Duration) -> String {
    let mut child = Command::new(python_client())
        .args(["-c", script, &server.port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait python").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("python output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python script failed ({:?}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs the server binary to completion, behind `wrapper` (e.g. `taskset
/// -c 0`; empty: none), killed after `limit`: a server that should have
/// refused to start but did not fails the test instead of hanging it.
pub fn run_binary(wrapper: &[&str], args: &[&str], limit: Duration) -> Output {
    let bin = env!("CARGO_BIN_EXE_ringcache");
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {wrapper:?} ringcache: {e}"));
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "ringcache {args:?} still running after {limit:?}; output: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Starting the server with `args` (behind `wrapper`) must fail at once:
/// its exit code and its stderr; stdout (the log) follows stderr.
pub fn refused(wrapper: &[&str], args: &[&str]) -> (i32, String) {
    let out = run_binary(wrapper, args, Duration::from_secs(15));
    assert!(!out.status.success(), "ringcache {args:?} started");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The next number of a xorshift64 sequence: random moments (kill times)
/// that a seed reproduces.
pub fn xorshift(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// A small ext4 filesystem on a loop device, mounted over a directory and
/// unmounted on drop: a disk that can really fill up.
pub struct SmallDisk {
    pub mnt: PathBuf,
    img: PathBuf,
}

impl SmallDisk {
    pub fn mount_at(mnt: &std::path::Path, mb: u64) -> SmallDisk {
        // One image per disk: tests of one file run in parallel.
        static DISKS: AtomicUsize = AtomicUsize::new(0);
        let n = DISKS.fetch_add(1, Ordering::Relaxed);
        let img = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("smalldisk-{}-{n}.img", std::process::id()));
        let mnt = mnt.to_path_buf();
        let run = |cmd: &str, args: &[&str]| {
            let out = std::process::Command::new(cmd)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("{cmd}: {e}"));
            assert!(
                out.status.success(),
                "{cmd} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            "truncate",
            &["-s", &format!("{mb}M"), img.to_str().unwrap()],
        );
        run("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
        run(
            "mount",
            &["-o", "loop", img.to_str().unwrap(), mnt.to_str().unwrap()],
        );
        SmallDisk { mnt, img }
    }
}

impl SmallDisk {
    /// Takes all but the first preallocated extent of a log segment (60 of
    /// the 64 MiB, or what there is) in one file, returned.
    pub fn fill(&self) -> PathBuf {
        let filler = self.mnt.join("filler");
        let status = Command::new("fallocate")
            .args(["-l", "60M", filler.to_str().unwrap()])
            .status()
            .unwrap();
        if !status.success() {
            // Less than 60 MiB free: take what there is.
            let _ = Command::new("dd")
                .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=1M"])
                .stderr(Stdio::null())
                .status();
        }
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mnt)
            .status();
        let _ = std::fs::remove_file(&self.img);
    }
}
