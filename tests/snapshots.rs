//! Snapshots, hybrid persistence and recovery, proven by killing the server:
//! a snapshot is exactly the state at its cut, the hybrid keeps every
//! acknowledged write across snapshots, the data survives a change of shard
//! count, damaged files are refused clearly, SIGTERM loses nothing, the log
//! stops growing (in AOF-only mode too, whose rewrites write log bases of
//! commands), and clients get -LOADING while the data loads.

mod common;

use common::{info_field, q, q_err, shard_of, Server};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SNAPSHOT_ONLY: &[&str] = &["--appendonly", "no", "--save", ""];
const HYBRID_ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];
const HYBRID_EVERYSEC: &[&str] = &["--appendonly", "yes", "--appendfsync", "everysec"];
/// AOF only: the log, with command-form bases (no automatic rewrite here).
const AOF_ONLY: &[&str] = &[
    "--appendonly",
    "yes",
    "--aof-use-rdb-preamble",
    "no",
    "--appendfsync",
    "always",
    "--auto-aof-rewrite-percentage",
    "0",
    "--save",
    "",
];

/// Sets `keys` to `value` in pipelined batches.
fn set_all(con: &mut redis::Connection, keys: &[String], value: &str) {
    for chunk in keys.chunks(1000) {
        let mut p = redis::pipe();
        for k in chunk {
            p.cmd("SET").arg(k).arg(value).ignore();
        }
        let () = p.query(con).expect("pipelined SET");
    }
}

/// Waits until no save runs and at least `saves` have completed.
fn wait_saved(con: &mut redis::Connection, saves: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let running = info_field(con, "persistence", "rdb_bgsave_in_progress");
        let done: u64 = info_field(con, "persistence", "rdb_saves")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if running.as_deref() == Some("0") && done >= saves {
            assert_eq!(
                info_field(con, "persistence", "rdb_last_bgsave_status").as_deref(),
                Some("ok")
            );
            return;
        }
        assert!(Instant::now() < deadline, "the save never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Until every one of `shards` has cut its snapshot and written some of it,
/// and none has finished: what a test changes now lands in mid-snapshot.
fn wait_writing(con: &mut redis::Connection, shards: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text: String = q(con, &["INFO", "persistence"]);
        let writing = text
            .lines()
            .filter(|l| l.contains("snapshot_in_progress=1"))
            .filter(|l| !l.contains("snapshot_keys_written=0,"))
            .count();
        if writing == shards {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot never got going: {text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn saves_done(con: &mut redis::Connection) -> u64 {
    info_field(con, "persistence", "rdb_saves")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_snapshot_is_the_state_at_its_cut() {
    // Snapshot-only: after kill -9 the data is exactly what the snapshot
    // holds. One client overwrites every key, in order, while the snapshot
    // is written: on each shard, the keys found overwritten must be exactly
    // a prefix of that shard's writes (the writes before its cut).
    let mut server = Server::with(2, SNAPSHOT_ONLY);
    let mut con = server.con();
    let keys: Vec<String> = (0..60_000).map(|i| format!("k:{i}")).collect();
    set_all(&mut con, &keys, "old");
    let before = saves_done(&mut con);
    let started: String = q(&mut con, &["BGSAVE"]);
    assert_eq!(started, "Background saving started");
    set_all(&mut con, &keys, "new");
    wait_saved(&mut con, before + 1);
    server.kill9_and_restart();
    let mut con = server.con();
    let values: Vec<Option<String>> = keys
        .chunks(1000)
        .flat_map(|c| {
            redis::cmd("MGET")
                .arg(c)
                .query::<Vec<Option<String>>>(&mut con)
                .expect("MGET")
        })
        .collect();
    for shard in 0..2 {
        let on_shard: Vec<&Option<String>> = keys
            .iter()
            .zip(&values)
            .filter(|(k, _)| shard_of(k, 2) == shard)
            .map(|(_, v)| v)
            .collect();
        let cut = on_shard
            .iter()
            .position(|v| v.as_deref() != Some("new"))
            .unwrap_or(on_shard.len());
        eprintln!(
            "shard {shard}: cut after {cut} of {} writes",
            on_shard.len()
        );
        for (i, v) in on_shard.iter().enumerate() {
            let want = if i < cut { "new" } else { "old" };
            assert_eq!(
                v.as_deref(),
                Some(want),
                "shard {shard}: key {i} of its writes (cut after {cut})"
            );
        }
    }
}

#[test]
fn flushall_during_a_snapshot_leaves_the_snapshot_whole() {
    let slow = [SNAPSHOT_ONLY, &["--snapshot-write-rate", "4mb"]].concat();
    let mut server = Server::with(2, &slow);
    let mut con = server.con();
    let keys: Vec<String> = (0..60_000).map(|i| format!("f:{i}")).collect();
    set_all(&mut con, &keys, &format!("old{}", ".".repeat(100)));
    let before = saves_done(&mut con);
    let _: String = q(&mut con, &["BGSAVE"]);
    wait_writing(&mut con, 2);
    let _: String = q(&mut con, &["FLUSHALL"]);
    let _: String = q(&mut con, &["SET", "after-flush", "x"]);
    wait_saved(&mut con, before + 1);
    server.kill9_and_restart();
    let mut con = server.con();
    // Each shard was cut before the flush, which came while its file was
    // being written: all its old keys, nothing newer.
    for shard in 0..2 {
        let mine: Vec<&String> = keys.iter().filter(|k| shard_of(k, 2) == shard).collect();
        let present: usize = mine
            .chunks(1000)
            .map(|c| {
                let c: Vec<&str> = c.iter().map(|k| k.as_str()).collect();
                redis::cmd("EXISTS")
                    .arg(&c)
                    .query::<usize>(&mut con)
                    .unwrap()
            })
            .sum();
        assert_eq!(
            present,
            mine.len(),
            "shard {shard}: {present} of {} keys survived: a snapshot mixed two states",
            mine.len()
        );
        let n: i64 = q(&mut con, &["EXISTS", "after-flush"]);
        assert_eq!(n, 0);
    }
}

/// SWAPDB during a snapshot renumbers the databases the cut is writing:
/// each shard's file must hold the databases as numbered at its cut. The
/// APPENDs after the swap make keys of the cut's database 1 (now live
/// database 0) serialize before they change, under database 1.
#[test]
fn swapdb_during_a_snapshot_leaves_the_snapshot_whole() {
    // Each shard's file takes a few seconds at this rate: the swap and
    // the APPENDs land while its writer is in the middle.
    let slow = [SNAPSHOT_ONLY, &["--snapshot-write-rate", "4mb"]].concat();
    let mut server = Server::with(2, &slow);
    let keys: Vec<String> = (0..40_000).map(|i| format!("sw:{i}")).collect();
    let (mut db0, mut db1) = (server.con(), server.con_db(1));
    let pad = ".".repeat(200);
    set_all(&mut db0, &keys, &format!("zero{pad}"));
    set_all(&mut db1, &keys, &format!("one{pad}"));
    let before = saves_done(&mut db0);
    let _: String = q(&mut db0, &["BGSAVE"]);
    wait_writing(&mut db0, 2);
    let _: String = q(&mut db0, &["SWAPDB", "0", "1"]);
    for k in keys.iter().step_by(97) {
        let _: i64 = q(&mut db0, &["APPEND", k, "+"]);
    }
    wait_saved(&mut db0, before + 1);
    server.kill9_and_restart();
    for shard in 0..2 {
        let mine: Vec<&str> = keys
            .iter()
            .filter(|k| shard_of(k, 2) == shard)
            .map(|k| k.as_str())
            .collect();
        let mut seen = Vec::new();
        for db in [0, 1] {
            let mut con = server.con_db(db);
            let mut values = std::collections::BTreeSet::new();
            for c in mine.chunks(1000) {
                let got: Vec<Option<String>> = redis::cmd("MGET").arg(c).query(&mut con).unwrap();
                // An APPEND that the cut came after shows; it says nothing
                // of which database the value came from.
                values.extend(
                    got.into_iter()
                        .map(|v| v.map(|v| v.replace(['+', '.'], ""))),
                );
            }
            assert_eq!(
                values.len(),
                1,
                "shard {shard}, db {db}: one database's values, not a mix: {values:?}"
            );
            seen.extend(values);
        }
        assert!(
            seen == [Some("zero".into()), Some("one".into())]
                || seen == [Some("one".into()), Some("zero".into())],
            "shard {shard}: {seen:?}"
        );
    }
}

/// One writer's acknowledged progress: iteration `i` wrote a string, a list
/// element, a hash field and a sorted-set member, all acknowledged.
fn writer(mut con: redis::Connection, w: usize, stop: Arc<AtomicBool>) -> u64 {
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let i = done;
        let ok = redis::pipe()
            .cmd("SET")
            .arg(format!("w{w}:s:{i}"))
            .arg(i)
            .cmd("RPUSH")
            .arg(format!("w{w}:l"))
            .arg(i)
            .cmd("HSET")
            .arg(format!("w{w}:h"))
            .arg(format!("f{i}"))
            .arg(i)
            .cmd("ZADD")
            .arg(format!("w{w}:z"))
            .arg(i)
            .arg(format!("m{i}"))
            .query::<redis::Value>(&mut con)
            .is_ok();
        if !ok {
            break;
        }
        done += 1;
    }
    done
}

#[test]
fn hybrid_always_keeps_every_acknowledged_write_across_snapshots() {
    let mut server = Server::with(2, HYBRID_ALWAYS);
    let mut con = server.con();
    set_all(
        &mut con,
        &(0..30_000).map(|i| format!("base:{i}")).collect::<Vec<_>>(),
        "b",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (c, stop) = (server.con(), stop.clone());
            std::thread::spawn(move || writer(c, w, stop))
        })
        .collect();
    // Two snapshots while they write, the second one killed mid-way or not.
    let before = saves_done(&mut con);
    let _: String = q(&mut con, &["BGSAVE"]);
    wait_saved(&mut con, before + 1);
    let _: String = q(&mut con, &["BGREWRITEAOF"]);
    std::thread::sleep(Duration::from_millis(150));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    server.start_again();
    let mut con = server.con();
    let base: usize = q(&mut con, &["DBSIZE"]);
    assert!(base >= 30_000 + 4 * 3, "keys lost: {base}");
    for (w, &n) in acked.iter().enumerate() {
        assert!(n > 0, "writer {w} acknowledged nothing");
        // What was in flight at the kill may or may not be there; nothing
        // acknowledged may be missing, nothing may be out of order.
        let list: Vec<u64> = q(&mut con, &["LRANGE", &format!("w{w}:l"), "0", "-1"]);
        assert!(
            list.len() as u64 >= n && list.len() as u64 <= n + 1,
            "writer {w}: list {} for {n} acked",
            list.len()
        );
        assert!(
            list.iter().enumerate().all(|(i, &v)| v == i as u64),
            "writer {w}: list out of order"
        );
        let fields: u64 = q(&mut con, &["HLEN", &format!("w{w}:h")]);
        let members: u64 = q(&mut con, &["ZCARD", &format!("w{w}:z")]);
        assert!(
            fields >= n && fields <= n + 1,
            "writer {w}: {fields} fields for {n} acked"
        );
        assert!(
            members >= n && members <= n + 1,
            "writer {w}: {members} members for {n} acked"
        );
        for i in (0..n).step_by(97).chain([n - 1]) {
            let v: Option<u64> = q(&mut con, &["GET", &format!("w{w}:s:{i}")]);
            assert_eq!(v, Some(i), "writer {w}: string {i}");
            let s: Option<f64> = q(&mut con, &["ZSCORE", &format!("w{w}:z"), &format!("m{i}")]);
            assert_eq!(s, Some(i as f64));
        }
    }
}

/// A mix of every type, TTLs and two databases; returns a dump to compare.
fn fill_mixed(server: &Server, tag: &str) {
    for db in [0, 3] {
        let mut con = server.con_db(db);
        for i in 0..300 {
            let _: () = redis::pipe()
                .cmd("SET")
                .arg(format!("{tag}s{i}"))
                .arg(i)
                .ignore()
                .cmd("SET")
                .arg(format!("{tag}t{i}"))
                .arg(i)
                .arg("EX")
                .arg(10_000)
                .ignore()
                .cmd("RPUSH")
                .arg(format!("{tag}l{}", i % 7))
                .arg(i)
                .ignore()
                .cmd("HSET")
                .arg(format!("{tag}h{}", i % 5))
                .arg(format!("f{i}"))
                .arg(i)
                .ignore()
                .cmd("SADD")
                .arg(format!("{tag}set{}", i % 3))
                .arg(i)
                .ignore()
                .cmd("ZADD")
                .arg(format!("{tag}z{}", i % 4))
                .arg(i as f64 / 3.0)
                .arg(format!("m{i}"))
                .ignore()
                .query(&mut con)
                .unwrap();
        }
        // One big collection, split over several snapshot records.
        let members: Vec<String> = (0..5000).map(|i| format!("big{i}")).collect();
        let _: usize = redis::cmd("SADD")
            .arg(format!("{tag}bigset"))
            .arg(&members)
            .query(&mut con)
            .unwrap();
    }
}

/// Every key of databases 0 and 3 with its type, contents and whether it has a TTL.
fn dump(server: &Server) -> BTreeMap<(i64, String), String> {
    let mut out = BTreeMap::new();
    for db in [0, 3] {
        let mut con = server.con_db(db);
        let keys: Vec<String> = q(&mut con, &["KEYS", "*"]);
        for k in keys {
            let kind: String = q(&mut con, &["TYPE", &k]);
            let body = match kind.as_str() {
                "string" => q::<String>(&mut con, &["GET", &k]),
                "list" => format!(
                    "{:?}",
                    q::<Vec<String>>(&mut con, &["LRANGE", &k, "0", "-1"])
                ),
                "hash" => format!(
                    "{:?}",
                    q::<BTreeMap<String, String>>(&mut con, &["HGETALL", &k])
                ),
                "set" => {
                    let mut m: Vec<String> = q(&mut con, &["SMEMBERS", &k]);
                    m.sort();
                    format!("{m:?}")
                }
                _ => format!(
                    "{:?}",
                    q::<Vec<String>>(&mut con, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])
                ),
            };
            let ttl: i64 = q(&mut con, &["TTL", &k]);
            out.insert((db, k), format!("{kind} ttl:{} {body}", ttl > 0));
        }
    }
    out
}

#[test]
fn a_different_shard_count_keeps_every_key() {
    let mut server = Server::with(2, HYBRID_EVERYSEC);
    fill_mixed(&server, "a");
    let mut con = server.con();
    let before = saves_done(&mut con);
    let _: String = q(&mut con, &["SAVE"]);
    assert_eq!(saves_done(&mut con), before + 1);
    // More after the snapshot: these live only in the log's tail.
    fill_mixed(&server, "b");
    let _: String = q(&mut con, &["DEL", "as1", "bs2"]);
    std::thread::sleep(Duration::from_millis(1200)); // everysec: on disk now
    let want = dump(&server);
    assert!(want.len() > 2000, "{} keys", want.len());
    for shards in [1, 3, 2] {
        server.restart_with(shards, HYBRID_EVERYSEC);
        assert_eq!(dump(&server), want, "after restarting with {shards} shards");
        let manifest = std::fs::read_to_string(server.dir().join("manifest")).unwrap();
        assert!(
            manifest.contains(&format!("shards {shards}\n")),
            "{manifest}"
        );
    }
}

/// The path of shard 0's snapshot.
fn shard0_snapshot(server: &Server) -> std::path::PathBuf {
    let dir = server.dir().join("snapshot");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.to_string_lossy().contains("shard-000") && p.extension().is_some_and(|e| e == "snap")
        })
        .expect("a snapshot of shard 0")
}

/// Flips one byte in the middle of shard 0's snapshot.
fn damage_snapshot(server: &Server) -> std::path::PathBuf {
    let path = shard0_snapshot(server);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = 4096 + (bytes.len() - 4096) / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A well-formed record of a list with no elements was loaded as an empty
/// list, a key the keyspace never holds (seen while writing the check the
/// `snapshot_load` fuzz target makes of what it loads). Every checksum here
/// is right: the loader must refuse the record itself.
#[test]
fn a_snapshot_holding_an_empty_collection_is_refused() {
    use ringcache::persistence::{record, snapshot};
    let mut server = Server::with(1, SNAPSHOT_ONLY);
    let mut con = server.con();
    let _: () = q(&mut con, &["RPUSH", "l", "a"]);
    let _: String = q(&mut con, &["SAVE"]);
    server.kill9();
    let path = shard0_snapshot(&server);
    // The same header block (shard, generation), then one entry record:
    // tag 1, db 0, type 1 (list), no expiry, key "l", 0 items; the footer.
    let mut file = std::fs::read(&path).unwrap()[..record::BLOCK].to_vec();
    let mut records = Vec::new();
    record::frame(&mut records, |o| {
        o.extend_from_slice(&[1, 0, 1]);
        o.extend_from_slice(&0u64.to_le_bytes());
        record::put_bytes(o, b"l");
        o.extend_from_slice(&0u32.to_le_bytes());
    });
    let mut totals = snapshot::Totals::default();
    totals.add(&records, 1);
    file.extend_from_slice(&records);
    file.extend_from_slice(&totals.footer(0));
    std::fs::write(&path, file).unwrap();
    let (status, log) = server
        .try_start_with(SNAPSHOT_ONLY, Duration::from_secs(10))
        .expect("an empty list in a snapshot must stop start-up");
    assert!(!status.success());
    assert!(
        log.contains(&format!(
            "{}: bad record at offset 4096: undecodable",
            path.display()
        )),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_damaged_snapshot_is_refused_clearly() {
    let mut server = Server::with(2, HYBRID_EVERYSEC);
    let mut con = server.con();
    set_all(
        &mut con,
        &(0..20_000).map(|i| format!("d:{i}")).collect::<Vec<_>>(),
        "v",
    );
    let _: String = q(&mut con, &["SAVE"]);
    server.kill9();
    let path = damage_snapshot(&server);
    let (status, log) = server
        .try_start_with(HYBRID_EVERYSEC, Duration::from_secs(10))
        .expect("a damaged snapshot must stop start-up");
    assert!(!status.success());
    assert!(
        log.contains(&path.display().to_string()),
        "the file is not named:\n{log}"
    );
    assert!(
        log.contains("snapshot-load-corrupt"),
        "no way out is offered:\n{log}"
    );
    // `ringcache check` finds it too.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .arg("check")
        .arg(server.dir())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(report.contains(&path.display().to_string()), "{report}");
    // The operator may choose to start that shard empty.
    let mut flags = HYBRID_EVERYSEC.to_vec();
    flags.extend(["--snapshot-load-corrupt", "start-empty"]);
    server.restart_with(2, &flags);
    let mut con = server.con();
    let left: usize = q(&mut con, &["DBSIZE"]);
    assert!(left > 0 && left < 20_000, "{left} keys");
}

#[test]
fn a_manifest_naming_a_missing_file_is_refused() {
    let mut server = Server::with(2, HYBRID_EVERYSEC);
    let mut con = server.con();
    let _: String = q(&mut con, &["SET", "k", "v"]);
    let _: String = q(&mut con, &["SAVE"]);
    server.kill9();
    let gone = server.dir().join("snapshot");
    let victim = std::fs::read_dir(&gone)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&victim).unwrap();
    let (status, log) = server
        .try_start_with(HYBRID_EVERYSEC, Duration::from_secs(10))
        .expect("a missing file must stop start-up");
    assert!(!status.success());
    assert!(log.contains("names files that do not exist"), "{log}");
    assert!(log.contains(&victim.display().to_string()), "{log}");
    // And a damaged manifest.
    std::fs::write(
        server.dir().join("manifest"),
        "ringcache-manifest 1\nshards 2\n",
    )
    .unwrap();
    let (status, log) = server
        .try_start_with(HYBRID_EVERYSEC, Duration::from_secs(10))
        .expect("a damaged manifest must stop start-up");
    assert!(!status.success());
    assert!(log.contains("manifest"), "{log}");
}

#[test]
fn sigterm_loses_nothing() {
    // Hybrid, synced only once a second: SIGTERM syncs the log before exit.
    let mut server = Server::with(2, HYBRID_EVERYSEC);
    let mut con = server.con();
    let keys: Vec<String> = (0..5000).map(|i| format!("t:{i}")).collect();
    set_all(&mut con, &keys, "v");
    let status = server
        .terminate(Duration::from_secs(20))
        .expect("SIGTERM must stop the server");
    assert!(status.success(), "{status:?}");
    assert!(
        server.log_text().contains("ready to exit"),
        "{}",
        server.log_text()
    );
    server.start_again();
    let n: usize = q(&mut server.con(), &["DBSIZE"]);
    assert_eq!(n, 5000);

    // Snapshot only, with save points: SIGTERM takes a final snapshot.
    let flags = ["--appendonly", "no", "--save", "3600 1"];
    server.restart_with(2, &flags);
    let mut con = server.con();
    set_all(
        &mut con,
        &(0..3000).map(|i| format!("u:{i}")).collect::<Vec<_>>(),
        "w",
    );
    let status = server
        .terminate(Duration::from_secs(20))
        .expect("SIGTERM must stop the server");
    assert!(status.success());
    server.start_again();
    let n: usize = q(&mut server.con(), &["DBSIZE"]);
    assert_eq!(n, 8000);
}

#[test]
fn shutdown_and_save_commands() {
    let mut server = Server::with(2, HYBRID_EVERYSEC);
    let mut con = server.con();
    assert_eq!(q_err(&mut con, &["BGSAVE", "NOW"]), "ERR syntax error");
    assert_eq!(q_err(&mut con, &["SHUTDOWN", "MAYBE"]), "ERR syntax error");
    let last: i64 = q(&mut con, &["LASTSAVE"]);
    std::thread::sleep(Duration::from_millis(1100));
    let _: String = q(&mut con, &["SET", "k", "v"]);
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_changes_since_last_save").as_deref(),
        Some("1")
    );
    let ok: String = q(&mut con, &["SAVE"]);
    assert_eq!(ok, "OK");
    let now: i64 = q(&mut con, &["LASTSAVE"]);
    assert!(now > last, "LASTSAVE {last} -> {now}");
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_changes_since_last_save").as_deref(),
        Some("0")
    );
    let scheduled: String = q(&mut con, &["BGSAVE", "SCHEDULE"]);
    assert!(
        scheduled == "Background saving started" || scheduled == "Background saving scheduled",
        "{scheduled}"
    );
    let rewrite: String = q(&mut con, &["BGREWRITEAOF"]);
    assert!(
        rewrite.starts_with("Background append only file rewriting"),
        "{rewrite}"
    );
    wait_saved(&mut con, 2);
    // SHUTDOWN NOSAVE: the process exits; the log still holds the write.
    let gone = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query::<redis::Value>(&mut con);
    assert!(gone.is_err(), "SHUTDOWN replied {gone:?}");
    let status = server
        .exited_within(Duration::from_secs(10))
        .expect("SHUTDOWN must end the process");
    assert!(status.success());
    server.start_again();
    let v: Option<String> = q(&mut server.con(), &["GET", "k"]);
    assert_eq!(v.as_deref(), Some("v"));
}

/// Overwrites the same 1 MB of data until ~60 MB were written, with rounds
/// that give the once-a-second rewrite check its chances; then the automatic
/// rewrites must have run and the files stayed small. Returns the server.
fn log_stays_bounded(mode: &[&str]) -> Server {
    let mut flags = vec![
        "--appendfsync",
        "everysec",
        "--auto-aof-rewrite-min-size",
        "1mb",
        "--auto-aof-rewrite-percentage",
        "100",
        "--aof-extent-bytes",
        "1mb",
    ];
    flags.extend_from_slice(mode);
    let server = Server::with(2, &flags);
    let mut con = server.con();
    let keys: Vec<String> = (0..1000).map(|i| format!("g:{i}")).collect();
    let value = "x".repeat(1000);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut written = 0u64;
    while written < 60 << 20 {
        for _ in 0..6 {
            set_all(&mut con, &keys, &value);
            written += 1000 * 1000;
        }
        std::thread::sleep(Duration::from_millis(400));
        assert!(Instant::now() < deadline);
    }
    std::thread::sleep(Duration::from_millis(2500));
    let rewrites: u64 = info_field(&mut con, "persistence", "aof_rewrites")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        rewrites >= 3,
        "only {rewrites} automatic rewrites after {written} bytes"
    );
    let on_disk = du(server.dir());
    assert!(
        on_disk < 16 << 20,
        "{on_disk} bytes on disk after {written} written"
    );
    server
}

#[test]
fn the_log_stops_growing() {
    log_stays_bounded(&["--appendonly", "yes"]);
}

/// AOF-only mode: the automatic rewrite runs too, and writes log bases.
#[test]
fn the_log_stops_growing_in_aof_only_mode() {
    let server = log_stays_bounded(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
    assert_eq!(snapshot_files(&server), 0);
    let manifest = std::fs::read_to_string(server.dir().join("manifest")).unwrap();
    assert_eq!(manifest.matches(" log-base ").count(), 2, "{manifest}");
}

/// Files in the data directory's `snapshot` folder.
fn snapshot_files(server: &Server) -> usize {
    std::fs::read_dir(server.dir().join("snapshot")).map_or(0, |d| d.count())
}

/// Bytes of the shards' log files (bases and segments), as written.
fn log_bytes(server: &Server) -> u64 {
    std::fs::read_dir(server.dir().join("aof"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// AOF-only mode: BGREWRITEAOF rewrites each shard's log as a base of
/// commands (no snapshot), the log shrinks, and base + tail rebuild the
/// keyspace after a kill -9; `ringcache check` verifies such a directory.
#[test]
fn aof_only_rewrites_the_log_as_commands() {
    let mut server = Server::with(2, AOF_ONLY);
    fill_mixed(&server, "a");
    let mut con = server.con();
    // One key overwritten many times: the rewrite keeps its last value.
    set_all(&mut con, &vec!["hot".to_string(); 3000], &"v".repeat(1000));
    let _: i64 = q(&mut con, &["PEXPIRE", "as7", "5000000"]);
    let before = log_bytes(&server);
    let saves = saves_done(&mut con);
    assert_eq!(
        q::<String>(&mut con, &["BGREWRITEAOF"]),
        "Background append only file rewriting started"
    );
    wait_saved(&mut con, saves + 1);
    let after = log_bytes(&server);
    assert!(
        after * 2 < before,
        "the log went from {before} to {after} bytes"
    );
    assert_eq!(snapshot_files(&server), 0);
    let manifest = std::fs::read_to_string(server.dir().join("manifest")).unwrap();
    assert_eq!(manifest.matches(" log-base ").count(), 2, "{manifest}");
    // More after the rewrite: these live only in the tail.
    fill_mixed(&server, "b");
    let _: i64 = q(&mut con, &["DEL", "as1", "bs2", "bbigset"]);
    let _: () = q(&mut con, &["SET", "hot", "last"]);
    let want = dump(&server);
    assert!(want.len() > 2000, "{} keys", want.len());
    server.kill9_and_restart();
    assert_eq!(dump(&server), want);
    let mut con = server.con();
    assert_eq!(q::<String>(&mut con, &["GET", "hot"]), "last");
    let ttl: i64 = q(&mut con, &["PTTL", "as7"]);
    assert!(ttl > 4_000_000 && ttl <= 5_000_000, "{ttl}");
    assert_eq!(snapshot_files(&server), 0);
    let dir = server.dir().to_str().unwrap().to_string();
    let checked = common::run_binary(&[], &["check", &dir], Duration::from_secs(60));
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{report}");
    assert!(report.contains("-base.aof: ok"), "{report}");
    // A second rewrite replaces the first bases, and their files go.
    let first = std::fs::read_to_string(server.dir().join("manifest")).unwrap();
    let saves = saves_done(&mut con);
    let _: String = q(&mut con, &["BGREWRITEAOF"]);
    wait_saved(&mut con, saves + 1);
    let second = std::fs::read_to_string(server.dir().join("manifest")).unwrap();
    assert_ne!(first, second);
    assert_eq!(second.matches(" log-base ").count(), 2, "{second}");
    let bases = || {
        std::fs::read_dir(server.dir().join("aof"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with("-base.aof")
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while bases() != 2 {
        assert!(Instant::now() < deadline, "{} log bases", bases());
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill9_and_restart();
    assert_eq!(dump(&server), want);
    // Re-sharding reads log bases too.
    server.restart_with(3, AOF_ONLY);
    assert_eq!(dump(&server), want);
}

/// Bytes the files under `dir` occupy on disk.
fn du(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            du(&e.path())
        } else {
            m.blocks() * 512
        };
    }
    total
}

#[test]
fn clients_get_loading_while_the_data_loads() {
    let mut server = Server::with(2, SNAPSHOT_ONLY);
    let mut con = server.con();
    let value = "v".repeat(100);
    for start in (0..1_000_000).step_by(10_000) {
        let mut p = redis::pipe();
        for i in start..start + 10_000 {
            p.cmd("SET").arg(format!("key:{i}")).arg(&value).ignore();
        }
        let () = p.query(&mut con).unwrap();
    }
    let _: String = q(&mut con, &["SAVE"]);
    server.kill9();
    // Start without waiting for PING (it is refused while loading).
    let _ = server.try_start_with(SNAPSHOT_ONLY, Duration::from_millis(1));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut saw_loading, mut saw_info) = (false, false);
    loop {
        assert!(Instant::now() < deadline, "never finished loading");
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", server.port)) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET key:1\r\nINFO persistence\r\n").unwrap();
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).unwrap_or(0);
        let reply = String::from_utf8_lossy(&buf[..n]).to_string();
        if reply.starts_with("-LOADING Redis is loading the dataset in memory") {
            saw_loading = true;
            saw_info |= reply.contains("loading:1") && reply.contains("loading_loaded_perc:");
            continue;
        }
        if reply.starts_with("$100") {
            break;
        }
    }
    assert!(saw_loading, "no -LOADING seen while 1M keys loaded");
    assert!(saw_info, "INFO never showed loading:1 with its progress");
    let n: usize = q(&mut server.con(), &["DBSIZE"]);
    assert_eq!(n, 1_000_000);
}

#[test]
fn big_values_are_written_in_steps_and_exactly_as_at_the_cut() {
    // Values far bigger than one step of the writer, with small keys in
    // between; while the snapshot is written, one client changes the big
    // values and the small keys in one sequence. Snapshot-only, one shard:
    // after kill -9, the changes found applied must be exactly a prefix of
    // that sequence, and every big value whole.
    let mut server = Server::with(1, SNAPSHOT_ONLY);
    let mut con = server.con();
    const BIG: usize = 60_000;
    for chunk in (0..BIG).collect::<Vec<_>>().chunks(1000) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("HSET")
                .arg("big:h")
                .arg(format!("f{i}"))
                .arg("v")
                .ignore();
            p.cmd("ZADD")
                .arg("big:z")
                .arg(*i)
                .arg(format!("m{i}"))
                .ignore();
            p.cmd("RPUSH").arg("big:l").arg(format!("e{i}")).ignore();
            p.cmd("SADD").arg("big:s").arg(format!("e{i}")).ignore();
            p.cmd("SET").arg(format!("s:{i}")).arg("old").ignore();
        }
        let () = p.query(&mut con).expect("fill");
    }
    let before = saves_done(&mut con);
    let started: String = q(&mut con, &["BGSAVE"]);
    assert_eq!(started, "Background saving started");
    // Change number j: one of five kinds, in turn, until the save is over.
    let mut changes = 0;
    while saves_done(&mut con) == before && changes < 200_000 {
        let mut p = redis::pipe();
        for j in changes..changes + 50 {
            match j % 5 {
                0 => p.cmd("HSET").arg("big:h").arg(format!("x{j}")).arg("1"),
                1 => p
                    .cmd("ZADD")
                    .arg("big:z")
                    .arg(-(j as i64))
                    .arg(format!("x{j}")),
                2 => p.cmd("RPUSH").arg("big:l").arg(format!("x{j}")),
                3 => p.cmd("SADD").arg("big:s").arg(format!("x{j}")),
                _ => p.cmd("SET").arg(format!("s:{j}")).arg("new"),
            }
            .ignore();
        }
        let () = p.query(&mut con).expect("changes");
        changes += 50;
    }
    wait_saved(&mut con, before + 1);
    server.kill9_and_restart();
    let mut con = server.con();
    let list: Vec<String> = q(&mut con, &["LRANGE", "big:l", "0", "-1"]);
    let applied: Vec<bool> = (0..changes)
        .map(|j| {
            let x = format!("x{j}");
            match j % 5 {
                0 => q::<i64>(&mut con, &["HEXISTS", "big:h", &x]) == 1,
                1 => q::<Option<String>>(&mut con, &["ZSCORE", "big:z", &x]).is_some(),
                2 => list.contains(&x),
                3 => q::<i64>(&mut con, &["SISMEMBER", "big:s", &x]) == 1,
                // (A paced snapshot can outlast 60,000 changes: `s:{j}` is
                // then a new key, absent if not applied.)
                _ => {
                    q::<Option<String>>(&mut con, &["GET", &format!("s:{j}")]).as_deref()
                        == Some("new")
                }
            }
        })
        .collect();
    let cut = applied.iter().position(|a| !a).unwrap_or(changes);
    eprintln!("cut after {cut} of {changes} changes");
    assert!(
        cut < changes,
        "every change came before the cut: nothing was tested"
    );
    assert!(
        applied[cut..].iter().all(|a| !a),
        "the changes applied are not a prefix (cut after {cut})"
    );
    let with_cut = |kind: usize| (0..cut).filter(|j| j % 5 == kind).count();
    assert_eq!(q::<usize>(&mut con, &["HLEN", "big:h"]), BIG + with_cut(0));
    assert_eq!(q::<usize>(&mut con, &["ZCARD", "big:z"]), BIG + with_cut(1));
    assert_eq!(list.len(), BIG + with_cut(2));
    assert_eq!(q::<usize>(&mut con, &["SCARD", "big:s"]), BIG + with_cut(3));
    let new_keys = (BIG..cut).filter(|j| j % 5 == 4).count();
    assert_eq!(q::<usize>(&mut con, &["DBSIZE"]), BIG + 4 + new_keys);
    // The big values' own elements, in order where there is one.
    assert_eq!(&list[..3], ["e0", "e1", "e2"]);
    assert_eq!(list[BIG - 1], format!("e{}", BIG - 1));
    let last: Vec<String> = q(&mut con, &["ZRANGE", "big:z", "-1", "-1", "WITHSCORES"]);
    assert_eq!(last, [format!("m{}", BIG - 1), format!("{}", BIG - 1)]);
    let field: String = q(&mut con, &["HGET", "big:h", &format!("f{}", BIG / 2)]);
    assert_eq!(field, "v");
}

/// Snapshot-only, one shard, `snapshot-write-rate` 256 KiB/s, and ~5 MB of
/// keys: a snapshot of it takes about 20 s (unpaced, well under one).
fn paced_snapshot_server() -> Server {
    let mut flags = SNAPSHOT_ONLY.to_vec();
    flags.extend(["--snapshot-write-rate", "256kb"]);
    let server = Server::with(1, &flags);
    let keys: Vec<String> = (0..40_000).map(|i| format!("k:{i}")).collect();
    set_all(&mut server.con(), &keys, &"v".repeat(100));
    server
}

#[test]
fn the_snapshot_write_rate_paces_the_writer_and_changes_at_run_time() {
    let server = paced_snapshot_server();
    let mut con = server.con();
    let rate: Vec<String> = q(&mut con, &["CONFIG", "GET", "snapshot-write-rate"]);
    assert_eq!(rate, ["snapshot-write-rate", "262144"]);
    let before = saves_done(&mut con);
    let _: String = q(&mut con, &["BGSAVE"]);
    // ~5 MB at 256 KiB/s: about 20 s. Unpaced it takes well under a second.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_bgsave_in_progress").as_deref(),
        Some("1"),
        "the snapshot was not paced"
    );
    // Lifting the limit applies to the snapshot running.
    let ok: String = q(&mut con, &["CONFIG", "SET", "snapshot-write-rate", "0"]);
    assert_eq!(ok, "OK");
    wait_saved(&mut con, before + 1);
}

#[test]
fn a_crash_during_the_first_snapshot_does_not_stop_the_restart() {
    // Snapshot-only: no manifest exists until the first snapshot is
    // published. Killed while writing it (paced, so it is still being
    // written), the server leaves a temporary file, which must not read as
    // data without a manifest at the restart.
    let mut server = paced_snapshot_server();
    let mut con = server.con();
    let _: String = q(&mut con, &["BGSAVE"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_bgsave_in_progress").as_deref(),
        Some("1")
    );
    let tmp_files = |dir: &std::path::Path| -> usize {
        std::fs::read_dir(dir.join("snapshot"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        tmp_files(server.dir()),
        1,
        "the snapshot is written under a temporary name"
    );
    server.kill9_and_restart();
    let mut con = server.con();
    // Nothing was saved: the restart is empty, and the unfinished file gone.
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
    assert_eq!(tmp_files(server.dir()), 0);
}

#[test]
fn a_snapshot_with_more_databases_than_the_server_has_is_refused() {
    // As Redis: keys of database 5 do not vanish on a restart with
    // `--databases 4`; the start stops and says what to change.
    let mut server = Server::with(1, SNAPSHOT_ONLY);
    let mut con = server.con();
    let _: () = redis::pipe()
        .cmd("SELECT")
        .arg(5)
        .ignore()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .ignore()
        .query(&mut con)
        .unwrap();
    let _: String = q(&mut con, &["SAVE"]);
    server.kill9();
    let mut flags = SNAPSHOT_ONLY.to_vec();
    flags.extend(["--databases", "4"]);
    let (status, log) = server
        .try_start_with(&flags, Duration::from_secs(10))
        .expect("a snapshot with database 5 must stop a start with 4 databases");
    assert!(!status.success());
    assert!(
        log.contains("holds keys of database 5, but this server has 4 databases: start it with --databases 6 or more"),
        "{log}"
    );
    // With enough databases the key is there.
    server.restart_with(1, SNAPSHOT_ONLY);
    let mut con = server.con();
    let _: () = redis::cmd("SELECT").arg(5).query(&mut con).unwrap();
    assert_eq!(q::<String>(&mut con, &["GET", "k"]), "v");
}

/// A deterministic shuffle (no rand crate in the tests): xorshift.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

/// One change of the exactness test below; `n` is its place in the order.
fn apply(op: usize, n: usize, key: &str, state: &mut BTreeMap<String, Option<String>>) {
    match op {
        0 | 3 => state.insert(key.to_string(), Some(format!("v{n}"))),
        1 => state.insert(key.to_string(), None),
        _ => state.insert(format!("new:{n}"), Some(format!("v{n}"))),
    };
}

#[test]
fn a_paced_snapshot_copies_single_keys_and_is_still_the_state_at_its_cut() {
    // While the writer is slowed to 1% of the busy core, one client changes
    // keys in random order: overwrites, deletes, and new keys, a third of
    // the keys sharing 40 hash tags (so 40 crowded slots, where the copied
    // keys pass the slot's bound and the rest of the slot is serialized on
    // the spot). Whatever instant the cut fell on, the file must hold
    // exactly the changes before it: some prefix of the sequence.
    let mut flags = SNAPSHOT_ONLY.to_vec();
    flags.extend(["--snapshot-cpu-share", "1"]);
    let mut server = Server::with(1, &flags);
    let mut con = server.con();
    let key = |i: usize| {
        if i.is_multiple_of(3) {
            format!("{{t{}}}:{i}", i % 40)
        } else {
            format!("k:{i}")
        }
    };
    const KEYS: usize = 30_000;
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    set_all(&mut con, &keys, "old");
    let mut ops = Vec::new();
    for round in 0..3u64 {
        ops.extend(shuffled(KEYS, 7 + round).into_iter().map(|i| (i, i % 4)));
    }
    let before = saves_done(&mut con);
    for (chunk, batch) in ops.chunks(500).enumerate() {
        if chunk == 20 {
            let started: String = q(&mut con, &["BGSAVE"]);
            assert_eq!(started, "Background saving started");
        }
        let mut p = redis::pipe();
        for (j, &(i, op)) in batch.iter().enumerate() {
            let n = chunk * 500 + j;
            match op {
                0 | 3 => p.cmd("SET").arg(&keys[i]).arg(format!("v{n}")).ignore(),
                1 => p.cmd("DEL").arg(&keys[i]).ignore(),
                _ => p
                    .cmd("SET")
                    .arg(format!("new:{n}"))
                    .arg(format!("v{n}"))
                    .ignore(),
            };
        }
        let () = p.query(&mut con).expect("pipelined changes");
    }
    let running = info_field(&mut con, "persistence", "rdb_bgsave_in_progress");
    wait_saved(&mut con, before + 1);
    server.kill9_and_restart();
    let mut con = server.con();
    // What the snapshot holds, for every key the sequence could touch.
    let mut all: Vec<String> = keys.clone();
    all.extend(
        (0..ops.len())
            .filter(|&n| ops[n].1 == 2)
            .map(|n| format!("new:{n}")),
    );
    let mut got = BTreeMap::new();
    for c in all.chunks(1000) {
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(c).query(&mut con).unwrap();
        got.extend(c.iter().cloned().zip(values));
    }
    // The cut is after the last change whose value is there (and maybe
    // after deletions that follow it): replay the sequence to there and
    // compare, then step over each following deletion.
    let last_seen = got
        .values()
        .flatten()
        .filter_map(|v| v.strip_prefix('v')?.parse::<usize>().ok())
        .max();
    let mut want: BTreeMap<String, Option<String>> =
        all.iter().map(|k| (k.clone(), None)).collect();
    keys.iter()
        .for_each(|k| drop(want.insert(k.clone(), Some("old".into()))));
    let mut cut = last_seen.map_or(0, |n| n + 1);
    for (n, &(i, op)) in ops.iter().enumerate().take(cut) {
        apply(op, n, &keys[i], &mut want);
    }
    while want != got && cut < ops.len() && ops[cut].1 == 1 {
        apply(1, cut, &keys[ops[cut].0], &mut want);
        cut += 1;
    }
    eprintln!(
        "cut after {cut} of {} changes (snapshot still running after them: {running:?})",
        ops.len()
    );
    let differ: Vec<_> = all.iter().filter(|k| want[*k] != got[*k]).take(5).collect();
    assert!(
        differ.is_empty(),
        "the snapshot is no prefix of the changes (cut after {cut}): e.g. {:?}",
        differ
            .iter()
            .map(|k| (k, &want[*k], &got[*k]))
            .collect::<Vec<_>>()
    );
    assert!(
        cut > 0 && cut < ops.len(),
        "the cut fell outside the changes ({cut}): the test proved nothing"
    );
}

#[test]
fn a_snapshot_takes_its_share_of_a_busy_core_and_all_of_an_idle_one() {
    // One shard with ~200k keys. Idle, a snapshot runs flat out; with
    // clients keeping the core busy it takes `snapshot-cpu-share` percent of
    // it (here 1%), so it is still running a second later; raising the share
    // at run time lets it finish. Changes copy single keys ahead of the
    // writer, not whole slots.
    let mut flags = SNAPSHOT_ONLY.to_vec();
    flags.extend(["--snapshot-cpu-share", "1"]);
    let server = Server::with(1, &flags);
    let mut con = server.con();
    let share: Vec<String> = q(&mut con, &["CONFIG", "GET", "snapshot-cpu-share"]);
    assert_eq!(share, ["snapshot-cpu-share", "1"]);
    let keys: Vec<String> = (0..200_000).map(|i| format!("k:{i}")).collect();
    set_all(&mut con, &keys, &"v".repeat(100));
    let idle_started = Instant::now();
    let before = saves_done(&mut con);
    let _: String = q(&mut con, &["BGSAVE"]);
    wait_saved(&mut con, before + 1);
    let idle = idle_started.elapsed();
    eprintln!("idle snapshot: {idle:?}");
    assert!(
        idle < Duration::from_secs(3),
        "an idle core's snapshot was paced: {idle:?}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (mut con, stop, keys) = (server.con(), stop.clone(), keys.clone());
            std::thread::spawn(move || {
                let mut i = c * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let mut p = redis::pipe();
                    for _ in 0..50 {
                        i = (i + 104_729) % keys.len();
                        p.cmd("GET").arg(&keys[i]).ignore();
                        p.cmd("SET")
                            .arg(&keys[(i * 31) % keys.len()])
                            .arg("w")
                            .ignore();
                    }
                    let () = p.query(&mut con).expect("load");
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let _: String = q(&mut con, &["BGSAVE"]);
    std::thread::sleep(Duration::from_secs(1));
    let running = info_field(&mut con, "persistence", "rdb_bgsave_in_progress");
    let ok: String = q(&mut con, &["CONFIG", "SET", "snapshot-cpu-share", "100"]);
    assert_eq!(ok, "OK");
    wait_saved(&mut con, before + 2);
    stop.store(true, Ordering::Relaxed);
    clients.into_iter().for_each(|c| c.join().unwrap());
    assert_eq!(
        running.as_deref(),
        Some("1"),
        "under load the snapshot did not keep to its share (idle it took {idle:?})"
    );
    // The log's account of the last snapshot: who serialized the slots.
    let log = strip_ansi(&server.log_text());
    let line = log
        .lines()
        .rfind(|l| l.contains("snapshot written"))
        .expect("a snapshot log line");
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {line}"))
    };
    let (writer, on_change, keys_copied) = (
        field("writer_slots"),
        field("slots_on_change"),
        field("keys_on_change"),
    );
    eprintln!("{line}");
    assert!(keys_copied > 0, "no key was changed ahead of the writer");
    // A change copies its key alone; a slot is finished on a change only
    // once more than 8 of its keys were copied so (every key changed here
    // exists). How many slots reach that depends on the machine's speed,
    // so it is not asserted: this is.
    assert!(
        keys_copied > on_change * 8,
        "changes serialized {on_change} slots after copying only {keys_copied} keys (the writer {writer})"
    );
}

/// The log's text without its terminal colours (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// Element `i` of the big list: `ELEMENT_BYTES` bytes whose pattern changes
/// every 4 KiB, so a piece lost, repeated or moved inside it shows.
fn big_element(i: u8, bytes: usize) -> Vec<u8> {
    (0..bytes)
        .map(|j| (j / 4096) as u8 ^ i.wrapping_mul(0x5b))
        .collect()
}

/// Whether `got` is `big_element(i, bytes)`, without building a second copy.
fn is_big_element(got: &[u8], i: u8, bytes: usize) -> bool {
    got.len() == bytes
        && got
            .iter()
            .enumerate()
            .all(|(j, &b)| b == (j / 4096) as u8 ^ i.wrapping_mul(0x5b))
}

/// Issue 16: a list of three 400 MB elements (1.2 GB, more than the 1 GiB the
/// readers used to accept in one record) is saved by BGSAVE (a snapshot, in
/// the hybrid) and by BGREWRITEAOF in AOF-only mode (a log base), and both
/// come back after kill -9. Before, the snapshot held the list as one
/// record of 1.2 GB, the old files were deleted, and every later start
/// failed with "bad record length". The one test of this size: about 1.2 GB
/// in the server and 400 MB in the test at a time.
#[test]
fn a_list_of_three_400_mb_elements_survives_bgsave_and_aof_rewrite() {
    const ELEMENT_BYTES: usize = 400 << 20;
    // No automatic rewrite: 1.2 GB of log would start one, and BGSAVE would
    // then answer "Background save already in progress" (clean-clone CI).
    let hybrid = &[
        "--appendonly",
        "yes",
        "--save",
        "",
        "--auto-aof-rewrite-percentage",
        "0",
    ];
    let mut server = Server::with(1, hybrid);
    let mut con = server.con();
    for i in 0..3u8 {
        let n: i64 = redis::cmd("RPUSH")
            .arg("l")
            .arg(big_element(i, ELEMENT_BYTES))
            .query(&mut con)
            .expect("RPUSH");
        assert_eq!(n, i as i64 + 1);
    }
    let check = |server: &Server, when: &str| {
        let mut con = server.con();
        assert_eq!(q::<i64>(&mut con, &["LLEN", "l"]), 3, "{when}");
        for i in 0..3u8 {
            let got: Vec<u8> = redis::cmd("LINDEX")
                .arg("l")
                .arg(i as i64)
                .query(&mut con)
                .expect("LINDEX");
            assert!(
                is_big_element(&got, i, ELEMENT_BYTES),
                "{when}: element {i} differs ({} bytes)",
                got.len()
            );
        }
    };
    let saves = saves_done(&mut con);
    let _: String = q(&mut con, &["BGSAVE"]);
    wait_saved(&mut con, saves + 1);
    drop(con);
    server.kill9_and_restart();
    check(&server, "after BGSAVE and kill -9");

    // AOF only: the rewrite's log base holds the list as commands.
    server.restart_with(1, AOF_ONLY);
    let mut con = server.con();
    let saves = saves_done(&mut con);
    let _: String = q(&mut con, &["BGREWRITEAOF"]);
    wait_saved(&mut con, saves + 1);
    drop(con);
    let manifest = std::fs::read_to_string(server.dir().join("manifest")).unwrap();
    assert!(manifest.contains(" log-base "), "{manifest}");
    server.kill9_and_restart();
    check(&server, "after BGREWRITEAOF (AOF only) and kill -9");
}
