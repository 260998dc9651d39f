//! Pub/sub benchmark: ringcache beside redis-server in the same run.
//!
//! `cargo bench --bench pubsub` (release build). It starts both servers on
//! free loopback ports (RINGCACHE_BIN, default target/release/ringcache with
//! --shards 2; REDIS_SERVER_BIN, default redis-server), and for 1, 100 and
//! 1,000 subscribers of one channel (on ringcache the kernel spreads them
//! over the cores; the split is printed) measures:
//! * throughput: one publisher pipelining PUBLISH (depth 32) for a few
//!   seconds; messages delivered per second = messages the subscribers read
//!   / time;
//! * latency: the publisher paced to about 100,000 deliveries per second in
//!   all (each message carries its send time); subscriber p50/p99 from send
//!   to read.
//!
//! Subscribers are read by a few threads polling their sockets. The client
//! shares the machine with the servers (and, here, with other work), so the
//! absolute figures are those of a shared 2-CPU box: compare the ratios.

use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const CHANNEL: &str = "bench";
/// The payload: the send time in ns since the start, as 20 digits.
const STAMP_DIGITS: usize = 20;
const READER_THREADS: usize = 4;
const PIPELINE: usize = 32;
const PHASE: Duration = Duration::from_secs(3);
/// Paced phase: deliveries per second in all.
const PACED_DELIVERIES: u64 = 100_000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Server {
    name: &'static str,
    port: u16,
    child: Child,
    shards: usize,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &'static str, bin: &str, port: u16, dir: &std::path::Path) -> Server {
    std::fs::create_dir_all(dir).expect("data dir");
    let p = port.to_string();
    let mut cmd = Command::new(bin);
    let shards = if name == "ringcache" {
        cmd.args([
            "--port",
            &p,
            "--bind",
            "127.0.0.1",
            "--shards",
            "2",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(dir);
        2
    } else {
        cmd.args([
            "--port",
            &p,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(dir);
        1
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not start");
        thread::sleep(Duration::from_millis(50));
    }
    Server {
        name,
        port,
        child,
        shards,
    }
}

fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads until `want` bytes came.
fn read_exact_n(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut buf = vec![0u8; want];
    s.read_exact(&mut buf).expect("read");
    buf
}

/// The core a connection landed on: its client id, dealt round-robin.
fn core_of(s: &mut TcpStream, shards: usize) -> usize {
    s.write_all(&encode(&[b"CLIENT", b"ID"])).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut byte).unwrap();
        line.push(byte[0]);
    }
    let id: usize = std::str::from_utf8(&line[1..line.len() - 2])
        .unwrap()
        .parse()
        .unwrap();
    (id - 1) % shards
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// The one message a subscriber reads: its bytes up to the stamp.
fn message_prefix() -> Vec<u8> {
    format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{CHANNEL}\r\n${STAMP_DIGITS}\r\n",
        CHANNEL.len()
    )
    .into_bytes()
}

struct Outcome {
    delivered: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Subscribers' sockets read by a few threads; counts and times messages.
fn read_subscribers(
    subs: Vec<TcpStream>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
) -> Vec<thread::JoinHandle<Histogram<u64>>> {
    let mut groups: Vec<Vec<TcpStream>> = (0..READER_THREADS).map(|_| Vec::new()).collect();
    for (i, s) in subs.into_iter().enumerate() {
        s.set_nonblocking(true).unwrap();
        groups[i % READER_THREADS].push(s);
    }
    let prefix = message_prefix();
    let msg_len = prefix.len() + STAMP_DIGITS + 2;
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|mut socks| {
            let (stop, delivered, prefix) = (stop.clone(), delivered.clone(), prefix.clone());
            thread::spawn(move || {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
                let mut bufs: Vec<Vec<u8>> = socks.iter().map(|_| Vec::new()).collect();
                let mut chunk = vec![0u8; 256 * 1024];
                let mut fds: Vec<libc::pollfd> = socks
                    .iter()
                    .map(|s| libc::pollfd {
                        fd: s.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                while !stop.load(Ordering::Relaxed) {
                    // SAFETY: fds is a valid array of pollfd for the call.
                    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as _, 50) };
                    if n <= 0 {
                        continue;
                    }
                    for (i, pfd) in fds.iter_mut().enumerate() {
                        if pfd.revents == 0 {
                            continue;
                        }
                        pfd.revents = 0;
                        while let Ok(got) = socks[i].read(&mut chunk) {
                            if got == 0 {
                                break;
                            }
                            bufs[i].extend_from_slice(&chunk[..got]);
                        }
                        let now = epoch.elapsed().as_nanos() as u64;
                        let buf = &mut bufs[i];
                        let mut at = 0;
                        let mut count = 0;
                        while buf.len() - at >= msg_len {
                            let m = &buf[at..at + msg_len];
                            assert_eq!(&m[..prefix.len()], &prefix[..], "unexpected reply");
                            let stamp = &m[prefix.len()..prefix.len() + STAMP_DIGITS];
                            let sent: u64 = std::str::from_utf8(stamp).unwrap().parse().unwrap();
                            let _ = hist.record(now.saturating_sub(sent).max(1));
                            at += msg_len;
                            count += 1;
                        }
                        buf.drain(..at);
                        delivered.fetch_add(count, Ordering::Relaxed);
                    }
                }
                hist
            })
        })
        .collect()
}

/// One case: `n` subscribers; `pace`: messages per second (0: as fast as
/// the publisher's pipeline goes).
fn run_case(server: &Server, n: usize, pace: u64) -> (Outcome, (Vec<usize>, Option<usize>)) {
    let mut per_core = vec![0usize; server.shards];
    let mut subs = Vec::with_capacity(n);
    let subscribe = encode(&[b"SUBSCRIBE", CHANNEL.as_bytes()]);
    let confirm_len = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{CHANNEL}\r\n:1\r\n",
        CHANNEL.len()
    )
    .len();
    for _ in 0..n {
        let mut s = connect(server.port);
        if server.shards > 1 {
            per_core[core_of(&mut s, server.shards)] += 1;
        }
        s.write_all(&subscribe).unwrap();
        read_exact_n(&mut s, confirm_len);
        subs.push(s);
    }
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let readers = read_subscribers(subs, epoch, stop.clone(), delivered.clone());
    let mut publisher = connect(server.port);
    let publisher_core = (server.shards > 1).then(|| core_of(&mut publisher, server.shards));
    let started = Instant::now();
    let mut sent = 0u64;
    let mut reply = vec![0u8; 64 * 1024];
    while started.elapsed() < PHASE {
        let depth = if pace == 0 { PIPELINE } else { 1 };
        let mut batch = Vec::new();
        for _ in 0..depth {
            let stamp = format!(
                "{:0width$}",
                epoch.elapsed().as_nanos(),
                width = STAMP_DIGITS
            );
            batch.extend(encode(&[b"PUBLISH", CHANNEL.as_bytes(), stamp.as_bytes()]));
        }
        publisher.write_all(&batch).unwrap();
        // Replies are integers (`:<n>\r\n`): read until `depth` lines.
        let mut lines = 0;
        while lines < depth {
            let got = publisher.read(&mut reply).expect("publisher reply");
            assert!(got > 0, "server closed the publisher");
            lines += reply[..got].iter().filter(|&&b| b == b'\n').count();
        }
        sent += depth as u64;
        if let Some(ns) = (sent * 1_000_000_000).checked_div(pace) {
            let due = started + Duration::from_nanos(ns);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // Let the last messages arrive (a bounded wait).
    let want = sent * n as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < want && Instant::now() < drain_deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let total_seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
    for r in readers {
        hist.add(r.join().expect("reader")).unwrap();
    }
    let got = delivered.load(Ordering::Relaxed);
    assert_eq!(
        got, want,
        "{}: {got} of {want} messages delivered",
        server.name
    );
    let _ = seconds;
    (
        Outcome {
            delivered: got,
            seconds: total_seconds,
            p50_us: hist.value_at_quantile(0.50) as f64 / 1000.0,
            p99_us: hist.value_at_quantile(0.99) as f64 / 1000.0,
        },
        (per_core, publisher_core),
    )
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let ringcache_bin =
        std::env::var("RINGCACHE_BIN").unwrap_or_else(|_| "target/release/ringcache".into());
    let redis_bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
    let root = std::env::temp_dir().join(format!("ringcache-pubsub-bench-{}", std::process::id()));
    let servers = [
        start(
            "ringcache",
            &ringcache_bin,
            free_port(),
            &root.join("ringcache"),
        ),
        start("redis", &redis_bin, free_port(), &root.join("redis")),
    ];
    println!("pub/sub benchmark: one channel, one publisher, RESP2; {PHASE:?} per phase");
    println!(
        "{:<10} {:>5} {:>14} {:>10} {:>10} {:>12}   cores",
        "server", "subs", "delivered/s", "p50 us", "p99 us", "paced p99 us"
    );
    let mut rows = Vec::new();
    for n in [1usize, 100, 1000] {
        for server in &servers {
            let (fast, split) = run_case(server, n, 0);
            let pace = (PACED_DELIVERIES / n as u64).max(100);
            let (paced, _) = run_case(server, n, pace);
            let rate = fast.delivered as f64 / fast.seconds;
            println!(
                "{:<10} {:>5} {:>14.0} {:>10.0} {:>10.0} {:>12.0}   subscribers {:?}, publisher on {:?}",
                server.name, n, rate, fast.p50_us, fast.p99_us, paced.p99_us, split.0, split.1
            );
            rows.push((server.name, n, rate, paced.p99_us));
        }
    }
    println!("\nringcache / redis:");
    for n in [1usize, 100, 1000] {
        let of = |name: &str| rows.iter().find(|r| r.0 == name && r.1 == n).copied();
        if let (Some(a), Some(b)) = (of("ringcache"), of("redis")) {
            println!(
                "  {n:>5} subscribers: deliveries {:.2}x, paced p99 {:.2}x",
                a.2 / b.2,
                a.3 / b.3
            );
        }
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&root);
}
