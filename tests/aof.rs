//! The append-only log, proven by killing the server: SIGKILL at random moments
//! while a client writes, restart on the same directory, and compare what the
//! client saw acknowledged with what the server has. Also torn and corrupt
//! segments, and the MISCONF path's absence of surprises.

mod common;

use common::{q, Server, SmallDisk};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const AOF_ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];
const AOF_EVERYSEC: &[&str] = &["--appendonly", "yes", "--appendfsync", "everysec"];

/// What one writer had acknowledged when the server died.
struct Acked {
    /// `cycle:i` keys set to `i`, for i < count.
    count: u64,
    /// Time each write was acknowledged.
    at: Vec<Instant>,
}

/// Writes `c<cycle>:<i> = i` (alternating SET with and without a TTL far
/// away, INCR of a shared counter, RPUSH to a list) until the server dies or
/// `limit` passes; returns what was acknowledged.
fn write_until_killed(mut con: redis::Connection, cycle: u32, limit: Duration) -> Acked {
    let start = Instant::now();
    let mut acked = Acked {
        count: 0,
        at: Vec::new(),
    };
    while start.elapsed() < limit {
        let i = acked.count;
        let key = format!("c{cycle}:{i}");
        let set = if i.is_multiple_of(2) {
            redis::cmd("SET").arg(&key).arg(i).query::<String>(&mut con)
        } else {
            redis::cmd("SET")
                .arg(&key)
                .arg(i)
                .arg("EX")
                .arg(3600)
                .query::<String>(&mut con)
        };
        let incr = redis::cmd("INCR").arg("counter").query::<i64>(&mut con);
        let push = redis::cmd("RPUSH")
            .arg(format!("list{cycle}"))
            .arg(i)
            .query::<i64>(&mut con);
        if set.is_err() || incr.is_err() || push.is_err() {
            break;
        }
        acked.count += 1;
        acked.at.push(Instant::now());
    }
    acked
}

/// Checks that the first `must` writes of a cycle are all there after a
/// restart, and that whatever else is there is a prefix of what was sent.
fn check_cycle(server: &Server, cycle: u32, must: u64, sent: u64) {
    let mut con = server.con();
    for i in 0..must {
        let v: Option<u64> = q(&mut con, &["GET", &format!("c{cycle}:{i}")]);
        assert_eq!(v, Some(i), "cycle {cycle}: acknowledged write {i} lost");
    }
    let list: Vec<u64> = q(&mut con, &["LRANGE", &format!("list{cycle}"), "0", "-1"]);
    assert!(
        list.len() as u64 >= must,
        "cycle {cycle}: list has {} of {must} acknowledged",
        list.len()
    );
    assert!(
        list.len() as u64 <= sent + 1,
        "cycle {cycle}: list longer than what was sent"
    );
    assert_eq!(
        list,
        (0..list.len() as u64).collect::<Vec<_>>(),
        "cycle {cycle}: list out of order"
    );
    // A key with a TTL kept it (logged as an absolute time).
    if must > 1 {
        let ttl: i64 = q(&mut con, &["TTL", &format!("c{cycle}:1")]);
        assert!(
            (3000..=3600).contains(&ttl),
            "cycle {cycle}: TTL after replay is {ttl}"
        );
    }
}

#[test]
fn always_loses_no_acknowledged_write_across_20_kills() {
    let mut server = Server::with(2, AOF_ALWAYS);
    let mut total_acked = 0;
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for cycle in 0..20u32 {
        // Kill at a random moment 30–230 ms into the writes.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = Duration::from_millis(30 + rng % 200);
        let acked = std::thread::scope(|s| {
            let con = server.con();
            let writer = s.spawn(move || write_until_killed(con, cycle, Duration::from_secs(10)));
            std::thread::sleep(kill_after);
            server.kill9();
            writer.join().expect("writer")
        });
        server.start_again();
        check_cycle(&server, cycle, acked.count, acked.count);
        total_acked += acked.count;
        let counter: i64 = q(&mut server.con(), &["GET", "counter"]);
        assert!(
            counter as u64 >= total_acked,
            "counter {counter} < {total_acked} acknowledged INCRs"
        );
        assert!(
            counter as u64 <= total_acked + cycle as u64 + 1,
            "counter {counter} counts writes never sent"
        );
        total_acked = counter as u64;
    }
    assert!(
        total_acked > 20,
        "the writer got almost nothing acknowledged: {total_acked}"
    );
    // Every earlier cycle is still intact after all the restarts.
    let mut con = server.con();
    let first: Option<u64> = q(&mut con, &["GET", "c0:0"]);
    assert_eq!(first, Some(0));
}

#[test]
fn everysec_loses_at_most_the_last_two_seconds() {
    let mut server = Server::with(2, AOF_EVERYSEC);
    for cycle in 0..3u32 {
        let acked = std::thread::scope(|s| {
            let con = server.con();
            let writer = s.spawn(move || write_until_killed(con, cycle, Duration::from_secs(10)));
            std::thread::sleep(Duration::from_millis(2500));
            let killed = Instant::now();
            server.kill9();
            (writer.join().expect("writer"), killed)
        });
        let (acked, killed) = acked;
        server.start_again();
        let must = acked
            .at
            .iter()
            .filter(|t| killed.duration_since(**t) > Duration::from_secs(2))
            .count() as u64;
        assert!(
            must > 0,
            "nothing was acknowledged more than 2 s before the kill"
        );
        check_cycle(&server, cycle, must, acked.count);
    }
}

/// The newest segment of shard `shard`.
fn newest_segment(dir: &std::path::Path, shard: usize) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir.join("aof"))
        .expect("aof dir")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("shard-{shard:03}-"))
        })
        .collect();
    segs.sort();
    segs.pop().expect("a segment")
}

/// Runs `ringcache check DIR [--fix]`: its exit code and report.
fn check_tool(dir: &std::path::Path, fix: bool) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"));
    cmd.arg("check").arg(dir);
    if fix {
        cmd.arg("--fix");
    }
    let out = cmd.output().expect("run ringcache check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Truncates shard 0's newest segment `bytes` before the end of its data,
/// as a crash in the middle of a write would.
fn cut_tail(dir: &std::path::Path, bytes: u64) {
    let seg = newest_segment(dir, 0);
    let end = data_end(&seg);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(end - bytes)
        .unwrap();
}

/// Offset just past the last non-zero byte: where the written records end.
fn data_end(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p as u64 + 1)
}

#[test]
fn torn_tail_is_cut_with_a_warning() {
    let mut server = Server::with(1, AOF_ALWAYS);
    let mut con = server.con();
    for i in 0..100 {
        let _: String = q(&mut con, &["SET", &format!("k{i}"), &i.to_string()]);
    }
    let big = "x".repeat(100_000);
    let _: String = q(&mut con, &["SET", "big", &big]);
    server.kill9();
    // Cut the last record (the big value) in the middle.
    cut_tail(server.dir(), 5000);
    server.start_again();
    let mut con = server.con();
    let v: Option<String> = q(&mut con, &["GET", "k99"]);
    assert_eq!(v.as_deref(), Some("99"));
    let big: Option<String> = q(&mut con, &["GET", "big"]);
    assert_eq!(big, None, "a torn record must not be applied");
    assert!(
        server.log_text().contains("torn record"),
        "no warning in the log:\n{}",
        server.log_text()
    );
}

#[test]
fn corruption_in_the_middle_stops_startup_naming_file_and_offset() {
    let mut server = Server::with(1, AOF_ALWAYS);
    let mut con = server.con();
    for i in 0..200 {
        let _: String = q(&mut con, &["SET", &format!("k{i}"), &"v".repeat(100)]);
    }
    server.kill9();
    let seg = newest_segment(server.dir(), 0);
    // Flip one byte inside an early record's payload.
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[4096 + 20] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();

    let (status, log) = server
        .try_start_with(AOF_ALWAYS, Duration::from_secs(10))
        .expect("the server must refuse to start on a corrupt log");
    assert!(!status.success());
    assert!(log.contains("bad AOF record at offset 4096"), "log:\n{log}");
    assert!(
        log.contains(&seg.file_name().unwrap().to_string_lossy().into_owned()),
        "log does not name the file:\n{log}"
    );

    // The check tool finds the same record, and --fix cuts the log there.
    let (code, report) = check_tool(server.dir(), false);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("bad record at offset 4096"), "{report}");

    // Asked to keep the valid prefix, it starts (with nothing: the first record was bad).
    let mut flags = AOF_ALWAYS.to_vec();
    flags.extend(["--aof-load-corrupt", "skip-tail"]);
    assert!(
        server
            .try_start_with(&flags, Duration::from_millis(1500))
            .is_none(),
        "{}",
        server.log_text()
    );
    server.kill9();
    server.start_again();
    let n: i64 = q(&mut server.con(), &["DBSIZE"]);
    assert_eq!(n, 0);
}

#[test]
fn check_fix_cuts_a_torn_tail() {
    let mut server = Server::with(1, AOF_ALWAYS);
    let mut con = server.con();
    for i in 0..50 {
        let _: String = q(&mut con, &["SET", &format!("k{i}"), &"v".repeat(1000)]);
    }
    server.kill9();
    cut_tail(server.dir(), 100);
    let (code, report) = check_tool(server.dir(), false);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report.contains("torn tail at offset") && report.contains("after 49 valid records"),
        "{report}"
    );
    let (code, report) = check_tool(server.dir(), true);
    assert_eq!(code, Some(0), "{report}");
    let (code, report) = check_tool(server.dir(), false);
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("ok, 49 records"), "{report}");
    server.start_again();
    let n: i64 = q(&mut server.con(), &["DBSIZE"]);
    assert_eq!(n, 49);
}

#[test]
fn replay_rebuilds_every_type_and_expiry() {
    let mut server = Server::with(2, AOF_EVERYSEC);
    let mut con = server.con();
    let cmds: &[&[&str]] = &[
        &["SET", "s", "v"],
        &["SET", "gone", "v", "PX", "1"],
        &["SET", "ttl", "v", "EX", "1000"],
        &["INCRBYFLOAT", "f", "1.1"],
        &["RPUSH", "l", "a", "b", "c"],
        &["LPOP", "l"],
        &["HSET", "h", "f1", "1", "f2", "2"],
        &["SADD", "set", "x", "y", "z"],
        &["SREM", "set", "y"],
        &["ZADD", "z", "1.5", "a", "2", "b"],
        &["RENAME", "s", "s2"],
        &["MSET", "m1", "1", "m2", "2"],
        &["DEL", "m2"],
    ];
    for c in cmds {
        let _: redis::Value = q(&mut con, c);
    }
    std::thread::sleep(Duration::from_millis(1300)); // one everysec sync
    server.kill9_and_restart();
    let mut con = server.con();
    let dump = |con: &mut redis::Connection| -> Vec<String> {
        vec![
            format!("{:?}", q::<Option<String>>(con, &["GET", "s2"])),
            format!("{:?}", q::<Option<String>>(con, &["GET", "gone"])),
            format!("{:?}", q::<Option<String>>(con, &["GET", "f"])),
            format!("{:?}", q::<Vec<String>>(con, &["LRANGE", "l", "0", "-1"])),
            format!("{:?}", q::<Vec<String>>(con, &["HGETALL", "h"])),
            format!("{:?}", q::<i64>(con, &["SCARD", "set"])),
            format!(
                "{:?}",
                q::<Vec<String>>(con, &["ZRANGE", "z", "0", "-1", "WITHSCORES"])
            ),
            format!("{:?}", q::<i64>(con, &["EXISTS", "s", "m1", "m2"])),
        ]
    };
    assert_eq!(
        dump(&mut con),
        vec![
            "Some(\"v\")",
            "None",
            "Some(\"1.1\")",
            "[\"b\", \"c\"]",
            "[\"f1\", \"1\", \"f2\", \"2\"]",
            "2",
            "[\"a\", \"1.5\", \"b\", \"2\"]",
            "1",
        ]
    );
    let ttl: i64 = q(&mut con, &["TTL", "ttl"]);
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
}

#[test]
fn full_disk_refuses_writes_keeps_reads_and_loses_nothing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: mounting a small filesystem needs root (CI runs as root)");
        return;
    }
    // The server's data directory becomes a 64 MiB filesystem.
    let mut server = Server::with(1, AOF_ALWAYS);
    server.kill9();
    let disk = SmallDisk::mount_at(server.dir(), 64);
    server.start_again();
    // Fill the disk but for the segment's first preallocated extent.
    let filler = disk.mnt.join("filler");
    let status = std::process::Command::new("fallocate")
        .args(["-l", "60M", filler.to_str().unwrap()])
        .status()
        .unwrap();
    if !status.success() {
        // Less than 60 MiB free: take what there is.
        let _ = std::process::Command::new("dd")
            .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=1M"])
            .stderr(std::process::Stdio::null())
            .status();
    }
    // Writes of 1 MiB values fill the extent; the log then needs more space.
    let value = "v".repeat(1 << 20);
    let writer = {
        let mut con = server.con();
        let value = value.clone();
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            for i in 0..40 {
                match redis::cmd("SET")
                    .arg(format!("big{i}"))
                    .arg(&value)
                    .query::<String>(&mut con)
                {
                    Ok(_) => acked.push(i),
                    Err(e) => return (acked, Some(e.to_string())),
                }
            }
            (acked, None)
        })
    };
    let mut con = server.con();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = common::info_field(&mut con, "persistence", "aof_last_write_status");
        if status.as_deref() == Some("err") {
            break;
        }
        assert!(Instant::now() < deadline, "the disk never filled up");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Writes are refused with a clear error; reads go on.
    let err = common::q_err(&mut con, &["SET", "during", "x"]);
    assert!(
        err.starts_with("MISCONF Errors writing to the AOF file"),
        "{err}"
    );
    let first: Option<String> = q(&mut con, &["GET", "big0"]);
    assert_eq!(first.map(|v| v.len()), Some(1 << 20));
    // Space comes back: the held write completes, writes are accepted again.
    std::fs::remove_file(&filler).unwrap();
    let (acked, error) = writer.join().unwrap();
    assert_eq!(
        error, None,
        "a write failed instead of waiting for the disk"
    );
    assert_eq!(acked.len(), 40);
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::info_field(&mut con, "persistence", "aof_last_write_status").as_deref()
        != Some("ok")
    {
        assert!(Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _: String = q(&mut con, &["SET", "after", "y"]);
    // Nothing acknowledged was lost.
    server.kill9_and_restart();
    let mut con = server.con();
    for i in acked {
        let v: Option<String> = q(&mut con, &["GET", &format!("big{i}")]);
        assert_eq!(v.map(|v| v.len()), Some(1 << 20), "big{i} lost");
    }
    let after: Option<String> = q(&mut con, &["GET", "after"]);
    assert_eq!(after.as_deref(), Some("y"));
    drop(server);
    drop(disk);
}
