//! Open-loop RESP load generator for the ringcache benchmark harness.
//!
//! Run it with `cargo bench --bench loadgen -- ARGS` (release build) or through
//! `benches/compare.sh`. It talks RESP2 over plain TCP to a loopback server.
//!
//! Modes:
//! * run, closed loop (`--rate 0`): every connection sends a batch of `--pipeline`
//!   commands, waits for the replies, repeats. Latency is measured from the send of
//!   the batch. This measures maximum throughput.
//! * run, open loop (`--rate R`): every connection has a writer thread that sends
//!   batches of `--pipeline` commands at fixed intended times (R/connections
//!   requests/s per connection) whether or not earlier replies came back, and a
//!   reader thread that matches replies to batches in order. Latency is measured
//!   from the *intended* send time, so a stalled server or a late client is charged
//!   in full (no coordinated omission). The lag between the intended and the actual
//!   send is reported separately (`lag_*`), so client-side lateness is visible.
//! * fill (`--fill N`): SET (or HSET with `--fill-type hash`) keys 0..N-1 in order,
//!   pipelined, split over the connections, then exit.
//!
//! Keys are `<prefix><12-digit number>` like redis-benchmark's `__rand_int__`.
//! Every loop is bounded by a request count and a deadline.
//!
//! Output: a human-readable table followed by one machine-readable line starting
//! with `RESULT ` (space-separated key=value pairs).

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Dist {
    /// every key equally likely
    Uniform,
    /// Zipf-like: key rank k has probability proportional to 1/k^s (see --zipf-s)
    Zipf,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum FillType {
    /// SET key value
    String,
    /// HSET key f0 v f1 v ... (--hash-fields pairs)
    Hash,
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadgen",
    about = "Open-loop RESP load generator (loopback only) for ringcache benchmarks"
)]
struct Args {
    /// Server host: only 127.0.0.1, ::1 or localhost are accepted
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port
    #[arg(short, long, default_value_t = 6379)]
    port: u16,
    /// Number of TCP connections (one thread each; two in open-loop mode)
    #[arg(short = 'c', long, default_value_t = 8)]
    connections: usize,
    /// Commands per batch (pipelining depth)
    #[arg(short = 'P', long, default_value_t = 1)]
    pipeline: usize,
    /// Target total rate in requests/s (open loop); 0 = closed loop, as fast as possible
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Fraction of GETs; the rest are SETs
    #[arg(long, default_value_t = 0.8)]
    get_ratio: f64,
    /// Key space size (keys 0..keys-1)
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Key distribution
    #[arg(long, value_enum, default_value_t = Dist::Uniform)]
    dist: Dist,
    /// Zipf exponent for --dist zipf
    #[arg(long, default_value_t = 0.99)]
    zipf_s: f64,
    /// Value size in bytes (SET values, hash field values)
    #[arg(short = 'd', long, default_value_t = 100)]
    value_size: usize,
    /// Run duration in seconds (including warm-up)
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Closed loop: stop early once this file exists (checked every 5 ms);
    /// throughput is then over the time actually run. The harness uses it to
    /// load a server exactly while a snapshot runs, however long it takes.
    #[arg(long)]
    stop_file: Option<std::path::PathBuf>,
    /// Seconds at the start whose requests are not recorded
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Fill mode: write keys 0..N-1 sequentially (pipelined) and exit
    #[arg(long)]
    fill: Option<u64>,
    /// What --fill writes
    #[arg(long, value_enum, default_value_t = FillType::String)]
    fill_type: FillType,
    /// Field/value pairs per hash for --fill-type hash
    #[arg(long, default_value_t = 4)]
    hash_fields: usize,
    /// Key prefix
    #[arg(long, default_value = "key:")]
    key_prefix: String,
    /// RNG seed (each connection derives its own stream)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Socket connect/read timeout and drain time at the end, in seconds
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Hard cap on requests sent per connection
    #[arg(long, default_value_t = 50_000_000)]
    max_requests: u64,
    /// Open loop: max requests in flight per connection before the writer waits
    #[arg(long, default_value_t = 100_000)]
    max_outstanding: u64,
    /// Open loop: busy-wait the last N microseconds before each send (costs CPU)
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// Hard wall-clock cap for --fill, in seconds
    #[arg(long, default_value_t = 1800.0)]
    fill_timeout: f64,
    /// Run internal consistency checks and exit
    #[arg(long, hide = true)]
    self_test: bool,
    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    bench: bool,
}

// ---------------------------------------------------------------- random numbers

/// SplitMix64: small, fast, good enough for key selection.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Zipf sampler on 1..=n by rejection-inversion (Hörmann & Derflinger 1996),
/// O(1) setup and expected O(1) per sample.
struct Zipf {
    n: f64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    cut: f64,
}

fn helper1(x: f64) -> f64 {
    // ln(1+x)/x
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

fn helper2(x: f64) -> f64 {
    // (e^x - 1)/x
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

impl Zipf {
    fn new(n: u64, s: f64) -> Self {
        let mut z = Zipf {
            n: n as f64,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            cut: 0.0,
        };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(z.n + 0.5);
        z.cut = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }
    fn h_integral(&self, x: f64) -> f64 {
        let lx = x.ln();
        helper2((1.0 - self.s) * lx) * lx
    }
    fn h_integral_inv(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }
    /// Returns a rank in 1..=n.
    fn sample(&self, rng: &mut Rng) -> u64 {
        // The acceptance rate is high; the bound only guards against NaN surprises.
        for _ in 0..1000 {
            let u = self.h_n + rng.next_f64() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.cut || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
        1
    }
}

enum KeyGen {
    Uniform(u64),
    Zipf(Zipf, u64),
}

impl KeyGen {
    fn new(args: &Args) -> Self {
        let n = args.keys.max(1);
        match args.dist {
            Dist::Uniform => KeyGen::Uniform(n),
            Dist::Zipf => KeyGen::Zipf(Zipf::new(n, args.zipf_s), n),
        }
    }
    fn next(&self, rng: &mut Rng) -> u64 {
        match self {
            KeyGen::Uniform(n) => rng.below(*n),
            // Scatter the ranks over the key space so hot keys are not all adjacent
            // numbers; multiplication by an odd constant mod 2^64 then mod n is not a
            // bijection on 0..n, but it spreads the hot set, which is all we need.
            KeyGen::Zipf(z, n) => (z.sample(rng) - 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) % n,
        }
    }
}

// ---------------------------------------------------------------- RESP encoding

fn push_bulk(buf: &mut Vec<u8>, data: &[u8]) {
    buf.push(b'$');
    buf.extend_from_slice(data.len().to_string().as_bytes());
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(data);
    buf.extend_from_slice(b"\r\n");
}

fn push_array_header(buf: &mut Vec<u8>, n: usize) {
    buf.push(b'*');
    buf.extend_from_slice(n.to_string().as_bytes());
    buf.extend_from_slice(b"\r\n");
}

fn key_bytes(prefix: &str, n: u64) -> Vec<u8> {
    format!("{prefix}{n:012}").into_bytes()
}

fn push_get(buf: &mut Vec<u8>, key: &[u8]) {
    buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
    push_bulk(buf, key);
}

fn push_set(buf: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    push_bulk(buf, key);
    push_bulk(buf, value);
}

fn push_hset(buf: &mut Vec<u8>, key: &[u8], fields: usize, value: &[u8]) {
    push_array_header(buf, 2 + 2 * fields);
    push_bulk(buf, b"HSET");
    push_bulk(buf, key);
    for f in 0..fields {
        push_bulk(buf, format!("f{f}").as_bytes());
        push_bulk(buf, value);
    }
}

fn make_value(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..size)
        .map(|_| b'a' + (rng.next_u64() % 26) as u8)
        .collect()
}

// ---------------------------------------------------------------- RESP decoding

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Value,
    Nil,
    Error(String),
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    if from >= buf.len() {
        return None;
    }
    buf[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

fn parse_int(line: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            bad_data(format!(
                "bad RESP length {:?}",
                String::from_utf8_lossy(line)
            ))
        })
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses one RESP2/RESP3 value starting at `pos`. Returns the end offset and the
/// kind of the top-level value, or None if the buffer does not hold it all yet.
fn parse_value(buf: &[u8], pos: usize, depth: u32) -> io::Result<Option<(usize, Reply)>> {
    if depth > 64 {
        return Err(bad_data("RESP nesting too deep".into()));
    }
    if pos >= buf.len() {
        return Ok(None);
    }
    let Some(line_end) = find_crlf(buf, pos + 1) else {
        return Ok(None);
    };
    let line = &buf[pos + 1..line_end];
    let after = line_end + 2;
    match buf[pos] {
        b'+' | b':' | b',' | b'#' | b'(' => Ok(Some((after, Reply::Value))),
        b'_' => Ok(Some((after, Reply::Nil))),
        b'-' => Ok(Some((
            after,
            Reply::Error(String::from_utf8_lossy(line).into_owned()),
        ))),
        t @ (b'$' | b'=' | b'!') => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some((after, Reply::Nil)));
            }
            let end = after + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if t == b'!' {
                let msg = String::from_utf8_lossy(&buf[after..end - 2]).into_owned();
                return Ok(Some((end, Reply::Error(msg))));
            }
            Ok(Some((end, Reply::Value)))
        }
        t @ (b'*' | b'~' | b'>' | b'%' | b'|') => {
            let n = parse_int(line)?;
            if n < 0 {
                return Ok(Some((after, Reply::Nil)));
            }
            let count = if t == b'%' || t == b'|' { 2 * n } else { n };
            let mut p = after;
            for _ in 0..count {
                match parse_value(buf, p, depth + 1)? {
                    None => return Ok(None),
                    Some((e, _)) => p = e,
                }
            }
            if t == b'|' {
                // RESP3 attribute: the real reply follows it.
                return parse_value(buf, p, depth + 1);
            }
            Ok(Some((p, Reply::Value)))
        }
        other => Err(bad_data(format!("unexpected RESP type byte 0x{other:02x}"))),
    }
}

/// Buffered reply reader over a blocking socket with a read timeout.
struct ReplyReader {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReplyReader {
    fn new(stream: TcpStream) -> Self {
        ReplyReader {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        // Bounded: every pass either returns, reads at least one byte, or errors
        // (the socket has a read timeout); a reply larger than 1 GiB is refused.
        loop {
            if let Some((end, reply)) = parse_value(&self.buf[..self.end], self.start, 0)? {
                self.start = end;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                return Ok(reply);
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                if self.buf.len() >= 1 << 30 {
                    return Err(bad_data("reply larger than 1 GiB".into()));
                }
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
            let n = self.stream.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.end += n;
        }
    }
}

// ---------------------------------------------------------------- connections

fn resolve_loopback(host: &str, port: u16) -> Result<SocketAddr, String> {
    let allowed = ["127.0.0.1", "localhost", "::1", "[::1]"];
    if !allowed.contains(&host) {
        return Err(format!(
            "refusing host {host:?}: only 127.0.0.1, ::1 and localhost are allowed"
        ));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {host}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.ip().is_loopback())
        .copied()
        .ok_or_else(|| format!("{host} does not resolve to a loopback address"))
}

fn connect(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(addr, timeout)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

// ---------------------------------------------------------------- statistics

fn new_hist() -> Histogram<u64> {
    // 1 us .. 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("histogram bounds")
}

struct Stats {
    lat: Histogram<u64>,
    lag: Histogram<u64>,
    sent: u64,
    completed: u64,
    recorded: u64,
    errors: u64,
    nils: u64,
    timeouts: u64,
    first_error: Option<String>,
    io_error: Option<String>,
    /// Completion time of the last recorded reply.
    last_done: Option<Instant>,
}

impl Stats {
    fn new() -> Self {
        Stats {
            lat: new_hist(),
            lag: new_hist(),
            sent: 0,
            completed: 0,
            recorded: 0,
            errors: 0,
            nils: 0,
            timeouts: 0,
            first_error: None,
            io_error: None,
            last_done: None,
        }
    }

    fn merge(&mut self, o: Stats) {
        self.lat.add(&o.lat).expect("same histogram bounds");
        self.lag.add(&o.lag).expect("same histogram bounds");
        self.sent += o.sent;
        self.completed += o.completed;
        self.recorded += o.recorded;
        self.errors += o.errors;
        self.nils += o.nils;
        self.timeouts += o.timeouts;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        if self.io_error.is_none() {
            self.io_error = o.io_error;
        }
        self.last_done = self.last_done.max(o.last_done);
    }

    fn note_reply(&mut self, r: Reply) {
        self.completed += 1;
        match r {
            Reply::Value => {}
            Reply::Nil => self.nils += 1,
            Reply::Error(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(e);
                }
            }
        }
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

// ---------------------------------------------------------------- run mode

struct Plan {
    addr: SocketAddr,
    args: Args,
    start: Instant,
    warm_end: Instant,
    deadline: Instant,
    /// Microseconds after `start` at which `--stop-file` appeared
    /// (`u64::MAX` until then).
    stopped_us: AtomicU64,
}

impl Plan {
    /// When the run ends: its deadline, or earlier if `--stop-file` appeared.
    fn end(&self) -> Instant {
        match self.stopped_us.load(Ordering::Relaxed) {
            u64::MAX => self.deadline,
            us => self.deadline.min(self.start + Duration::from_micros(us)),
        }
    }
}

/// Builds one batch of `n` random GET/SET commands into `out`.
fn build_batch(
    out: &mut Vec<u8>,
    n: usize,
    args: &Args,
    keys: &KeyGen,
    rng: &mut Rng,
    value: &[u8],
) {
    out.clear();
    for _ in 0..n {
        let key = key_bytes(&args.key_prefix, keys.next(rng));
        if rng.next_f64() < args.get_ratio {
            push_get(out, &key);
        } else {
            push_set(out, &key, value);
        }
    }
}

fn closed_loop_conn(plan: Arc<Plan>, idx: usize) -> Stats {
    let args = &plan.args;
    let mut st = Stats::new();
    let timeout = Duration::from_secs_f64(args.timeout);
    let stream = match connect(&plan.addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            st.io_error = Some(format!("connect: {e}"));
            return st;
        }
    };
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            st.io_error = Some(format!("clone socket: {e}"));
            return st;
        }
    };
    let mut reader = ReplyReader::new(stream);
    let mut rng = Rng::new(args.seed.wrapping_mul(1_000_003).wrapping_add(idx as u64));
    let keys = KeyGen::new(args);
    let value = make_value(args.value_size, args.seed ^ idx as u64);
    let mut batch = Vec::new();
    let p = args.pipeline.max(1);
    while st.sent < args.max_requests {
        let now = Instant::now();
        if now >= plan.end() {
            break;
        }
        build_batch(&mut batch, p, args, &keys, &mut rng, &value);
        let t_send = Instant::now();
        if let Err(e) = writer.write_all(&batch) {
            st.io_error = Some(format!("write: {e}"));
            break;
        }
        st.sent += p as u64;
        for _ in 0..p {
            match reader.read_reply() {
                Ok(r) => {
                    let done = Instant::now();
                    st.note_reply(r);
                    if t_send >= plan.warm_end && done <= plan.end() {
                        st.recorded += 1;
                        st.last_done = Some(done);
                        st.lat.saturating_record(micros(done - t_send));
                    }
                }
                Err(e) => {
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        st.timeouts += 1;
                    }
                    st.io_error = Some(format!("read: {e}"));
                    return st;
                }
            }
        }
    }
    st
}

fn open_loop_conn(plan: Arc<Plan>, idx: usize) -> Stats {
    let args = plan.args.clone();
    let mut st = Stats::new();
    let timeout = Duration::from_secs_f64(args.timeout);
    let stream = match connect(&plan.addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            st.io_error = Some(format!("connect: {e}"));
            return st;
        }
    };
    let writer_stream = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            st.io_error = Some(format!("clone socket: {e}"));
            return st;
        }
    };
    let p = args.pipeline.max(1);
    let conns = args.connections.max(1);
    let per_conn_rate = args.rate / conns as f64;
    let interval = Duration::from_secs_f64(p as f64 / per_conn_rate);
    // Spread the connections' schedules evenly over one interval.
    let phase = interval.mul_f64(idx as f64 / conns as f64);
    let received = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Instant>();

    let wplan = plan.clone();
    let wreceived = received.clone();
    let writer = thread::spawn(move || {
        let args = &wplan.args;
        let mut w = writer_stream;
        let mut lag = new_hist();
        let mut rng = Rng::new(args.seed.wrapping_mul(1_000_003).wrapping_add(idx as u64));
        let keys = KeyGen::new(args);
        let value = make_value(args.value_size, args.seed ^ idx as u64);
        let mut batch = Vec::new();
        let mut sent: u64 = 0;
        let mut err = None;
        let spin = Duration::from_micros(args.spin_us);
        let max_batches = args.max_requests / p as u64 + 1;
        for k in 0..max_batches {
            let intended = wplan.start + phase + interval.mul_f64(k as f64);
            if intended >= wplan.deadline {
                break;
            }
            let now = Instant::now();
            if intended > now + spin {
                thread::sleep(intended - now - spin);
            }
            while Instant::now() < intended {
                std::hint::spin_loop();
            }
            // Back-pressure bound: wait (still charged to latency) if too much is in flight.
            while sent - wreceived.load(Ordering::Relaxed) > args.max_outstanding {
                if Instant::now() >= wplan.deadline {
                    break;
                }
                thread::sleep(Duration::from_micros(100));
            }
            build_batch(&mut batch, p, args, &keys, &mut rng, &value);
            let actual = Instant::now();
            if intended >= wplan.warm_end {
                lag.saturating_record(micros(actual.saturating_duration_since(intended)));
            }
            if tx.send(intended).is_err() {
                break;
            }
            if let Err(e) = w.write_all(&batch) {
                err = Some(format!("write: {e}"));
                break;
            }
            sent += p as u64;
        }
        drop(tx);
        (lag, sent, err)
    });

    let mut reader = ReplyReader::new(stream);
    let hard_end = plan.deadline + timeout;
    'outer: loop {
        let wait = hard_end.saturating_duration_since(Instant::now());
        let intended = match rx.recv_timeout(wait) {
            Ok(t) => t,
            Err(_) => break, // writer finished (disconnected) or drain time is over
        };
        for _ in 0..p {
            if Instant::now() > hard_end {
                st.timeouts += 1;
                break 'outer;
            }
            match reader.read_reply() {
                Ok(r) => {
                    let done = Instant::now();
                    received.fetch_add(1, Ordering::Relaxed);
                    st.note_reply(r);
                    if intended >= plan.warm_end && intended < plan.deadline {
                        st.recorded += 1;
                        st.last_done = Some(done);
                        st.lat.saturating_record(micros(done - intended));
                    }
                }
                Err(e) => {
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) {
                        st.timeouts += 1;
                    }
                    st.io_error = Some(format!("read: {e}"));
                    break 'outer;
                }
            }
        }
    }
    // Unblock the writer if it is stuck on a full socket, then collect it.
    let _ = reader.stream.shutdown(std::net::Shutdown::Both);
    match writer.join() {
        Ok((lag, sent, err)) => {
            st.lag = lag;
            st.sent = sent;
            if st.io_error.is_none() {
                st.io_error = err;
            }
        }
        Err(_) => st.io_error = Some("writer thread panicked".into()),
    }
    let missing = st.sent.saturating_sub(st.completed);
    if missing > 0 {
        st.timeouts = st.timeouts.max(missing);
    }
    st
}

fn run(args: Args, addr: SocketAddr) -> ExitCode {
    let warmup = args.warmup.max(0.0).min(args.duration);
    let start = Instant::now() + Duration::from_millis(50);
    let plan = Arc::new(Plan {
        addr,
        start,
        warm_end: start + Duration::from_secs_f64(warmup),
        deadline: start + Duration::from_secs_f64(args.duration),
        stopped_us: AtomicU64::new(u64::MAX),
        args: args.clone(),
    });
    if let Some(file) = args.stop_file.clone() {
        let plan = plan.clone();
        thread::spawn(move || loop {
            if file.exists() {
                let us = Instant::now()
                    .saturating_duration_since(plan.start)
                    .as_micros();
                plan.stopped_us.store(us as u64, Ordering::Relaxed);
                return;
            }
            if Instant::now() >= plan.deadline {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        });
    }
    let open = args.rate > 0.0;
    let handles: Vec<_> = (0..args.connections.max(1))
        .map(|i| {
            let plan = plan.clone();
            thread::spawn(move || {
                if open {
                    open_loop_conn(plan, i)
                } else {
                    // Closed-loop connections start together at `start`.
                    thread::sleep(plan.start.saturating_duration_since(Instant::now()));
                    closed_loop_conn(plan, i)
                }
            })
        })
        .collect();
    let mut total = Stats::new();
    for h in handles {
        match h.join() {
            Ok(s) => total.merge(s),
            Err(_) => total.io_error = Some("worker thread panicked".into()),
        }
    }
    // Throughput = recorded replies over the measurement window, stretched to the
    // last recorded reply if the server fell behind an open-loop schedule.
    let mut window = (args.duration - warmup).max(1e-9);
    if plan.stopped_us.load(Ordering::Relaxed) != u64::MAX {
        window = (plan.end().saturating_duration_since(plan.warm_end))
            .as_secs_f64()
            .max(1e-9);
    }
    if let Some(last) = total.last_done {
        window = window.max((last - plan.warm_end).as_secs_f64());
    }
    let rps = total.recorded as f64 / window;
    report(&args, &total, rps, if open { "open" } else { "closed" })
}

fn q(h: &Histogram<u64>, quantile: f64) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(quantile)
    }
}

fn report(args: &Args, st: &Stats, rps: f64, mode: &str) -> ExitCode {
    let h = &st.lat;
    println!(
        "loadgen {mode}-loop  {}:{}  conns={} pipeline={} target_rps={} get_ratio={} keys={} dist={:?} value={}B duration={}s warmup={}s",
        args.host,
        args.port,
        args.connections,
        args.pipeline,
        args.rate,
        args.get_ratio,
        args.keys,
        args.dist,
        args.value_size,
        args.duration,
        args.warmup
    );
    println!("  {:<22} {:>14}", "requests sent", st.sent);
    println!("  {:<22} {:>14}", "replies", st.completed);
    println!("  {:<22} {:>14}", "recorded (in window)", st.recorded);
    println!("  {:<22} {:>14.0}", "throughput (req/s)", rps);
    println!("  {:<22} {:>14}", "error replies", st.errors);
    println!("  {:<22} {:>14}", "nil replies", st.nils);
    println!("  {:<22} {:>14}", "timeouts/unanswered", st.timeouts);
    println!(
        "  latency (us, from {}):",
        if mode == "open" {
            "intended send"
        } else {
            "send"
        }
    );
    for (name, quant) in [
        ("p50", 0.5),
        ("p90", 0.9),
        ("p99", 0.99),
        ("p99.9", 0.999),
        ("p99.99", 0.9999),
    ] {
        println!("    {:<8} {:>12}", name, q(h, quant));
    }
    println!("    {:<8} {:>12}", "max", h.max());
    println!("    {:<8} {:>12.1}", "mean", h.mean());
    if mode == "open" {
        println!(
            "  send lag behind schedule (us): p50={} p99={} max={}",
            q(&st.lag, 0.5),
            q(&st.lag, 0.99),
            st.lag.max()
        );
    }
    if let Some(e) = &st.first_error {
        eprintln!("loadgen: first error reply: {e}");
    }
    if let Some(e) = &st.io_error {
        eprintln!("loadgen: connection problem: {e}");
    }
    println!(
        "RESULT mode={mode} rps={:.0} requests={} sent={} replies={} errors={} nil={} timeouts={} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} mean_us={:.1} lag_p50_us={} lag_p99_us={} lag_max_us={} target_rps={} conns={} pipeline={} io_error={}",
        rps,
        st.recorded,
        st.sent,
        st.completed,
        st.errors,
        st.nils,
        st.timeouts,
        q(h, 0.5),
        q(h, 0.9),
        q(h, 0.99),
        q(h, 0.999),
        h.max(),
        h.mean(),
        q(&st.lag, 0.5),
        q(&st.lag, 0.99),
        st.lag.max(),
        args.rate,
        args.connections,
        args.pipeline,
        if st.io_error.is_some() { 1 } else { 0 },
    );
    if st.io_error.is_some() || st.completed == 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

// ---------------------------------------------------------------- fill mode

fn fill_conn(addr: SocketAddr, args: Args, from: u64, to: u64, deadline: Instant) -> Stats {
    let mut st = Stats::new();
    let timeout = Duration::from_secs_f64(args.timeout);
    let stream = match connect(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            st.io_error = Some(format!("connect: {e}"));
            return st;
        }
    };
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            st.io_error = Some(format!("clone socket: {e}"));
            return st;
        }
    };
    let mut reader = ReplyReader::new(stream);
    let value = make_value(args.value_size, args.seed);
    let p = args.pipeline.max(1) as u64;
    let mut batch = Vec::new();
    let mut next = from;
    while next < to {
        if Instant::now() >= deadline {
            st.io_error = Some("fill deadline reached".into());
            break;
        }
        let end = (next + p).min(to);
        batch.clear();
        for k in next..end {
            let key = key_bytes(&args.key_prefix, k);
            match args.fill_type {
                FillType::String => push_set(&mut batch, &key, &value),
                FillType::Hash => push_hset(&mut batch, &key, args.hash_fields, &value),
            }
        }
        let t = Instant::now();
        if let Err(e) = writer.write_all(&batch) {
            st.io_error = Some(format!("write: {e}"));
            break;
        }
        st.sent += end - next;
        for _ in next..end {
            match reader.read_reply() {
                Ok(r) => {
                    st.note_reply(r);
                    st.recorded += 1;
                    st.lat.saturating_record(micros(t.elapsed()));
                }
                Err(e) => {
                    st.io_error = Some(format!("read: {e}"));
                    return st;
                }
            }
        }
        next = end;
    }
    st
}

fn fill(args: Args, addr: SocketAddr, n: u64) -> ExitCode {
    let conns = (args.connections.max(1) as u64).min(n.max(1));
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(args.fill_timeout);
    let chunk = n.div_ceil(conns);
    let handles: Vec<_> = (0..conns)
        .map(|i| {
            let args = args.clone();
            let from = (i * chunk).min(n);
            let to = ((i + 1) * chunk).min(n);
            thread::spawn(move || fill_conn(addr, args, from, to, deadline))
        })
        .collect();
    let mut total = Stats::new();
    for h in handles {
        match h.join() {
            Ok(s) => total.merge(s),
            Err(_) => total.io_error = Some("fill thread panicked".into()),
        }
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    let rps = total.completed as f64 / secs;
    let mut a = args.clone();
    a.duration = secs;
    a.keys = n;
    let code = report(&a, &total, rps, "fill");
    if total.completed != n {
        eprintln!("loadgen: fill wrote {} of {n} keys", total.completed);
        return ExitCode::from(2);
    }
    code
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = Args::parse();
    if args.self_test {
        return self_test();
    }
    let addr = match resolve_loopback(&args.host, args.port) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(1);
        }
    };
    let bad = |m: &str| {
        eprintln!("loadgen: {m}");
        ExitCode::from(1)
    };
    if args.connections == 0 || args.connections > 4096 {
        return bad("--connections must be in 1..=4096");
    }
    if args.pipeline == 0 || args.pipeline > 100_000 {
        return bad("--pipeline must be in 1..=100000");
    }
    if !(0.0..=1.0).contains(&args.get_ratio) {
        return bad("--get-ratio must be in [0, 1]");
    }
    if args.stop_file.is_some() && args.rate > 0.0 {
        return bad("--stop-file is for the closed loop (--rate 0)");
    }
    if !(args.duration > 0.0 && args.duration <= 86_400.0) {
        return bad("--duration must be in (0, 86400] seconds");
    }
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return bad("--timeout must be in (0, 3600] seconds");
    }
    if args.rate < 0.0 || !args.rate.is_finite() {
        return bad("--rate must be >= 0");
    }
    if args.dist == Dist::Zipf && !(args.zipf_s > 0.0 && args.zipf_s.is_finite()) {
        return bad("--zipf-s must be > 0");
    }
    if args.keys == 0 {
        return bad("--keys must be > 0");
    }
    match args.fill {
        Some(n) => fill(args, addr, n),
        None => run(args, addr),
    }
}

/// Internal consistency checks (`--self-test`): RESP parsing and the Zipf sampler.
/// `cargo bench` builds this target without the test harness, so they live here.
fn self_test() -> ExitCode {
    let b = b"+OK\r\n$3\r\nabc\r\n$-1\r\n-ERR x\r\n*2\r\n:1\r\n$1\r\na\r\n";
    let expect = [
        (5, Reply::Value),
        (14, Reply::Value),
        (19, Reply::Nil),
        (27, Reply::Error("ERR x".into())),
        (b.len(), Reply::Value),
    ];
    let mut pos = 0;
    for (end, kind) in expect {
        let got = parse_value(b, pos, 0).ok().flatten();
        if got != Some((end, kind)) {
            eprintln!("self-test: RESP parse mismatch at {pos}: {got:?}");
            return ExitCode::from(1);
        }
        pos = end;
    }
    for partial in [&b"$3\r\nab"[..], b"*2\r\n:1\r\n", b"+OK\r"] {
        if !matches!(parse_value(partial, 0, 0), Ok(None)) {
            eprintln!("self-test: partial reply not reported as incomplete");
            return ExitCode::from(1);
        }
    }
    let z = Zipf::new(1000, 0.99);
    let mut rng = Rng::new(7);
    let mut ones = 0;
    for _ in 0..100_000 {
        let k = z.sample(&mut rng);
        if !(1..=1000).contains(&k) {
            eprintln!("self-test: zipf sample {k} out of range");
            return ExitCode::from(1);
        }
        if k == 1 {
            ones += 1;
        }
    }
    // P(rank 1) = 1/H(1000, 0.99) ~= 0.13
    if !(10_000..16_000).contains(&ones) {
        eprintln!("self-test: zipf rank-1 frequency {ones}/100000 not ~13%");
        return ExitCode::from(1);
    }
    println!("self-test ok");
    ExitCode::SUCCESS
}
