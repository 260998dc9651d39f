//! The data directory holds exactly what the manifest names (issue 16, item
//! 6): files it does not name are removed at start-up and after a
//! checkpoint's manifest switch, but never a named one nor a snapshot skipped
//! as corrupt; `ringcache check` lists unnamed files; a segment whose header
//! carries another sequence number than its place in the manifest is refused.

mod common;

use common::{q, Server};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const HYBRID_ALWAYS: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];
const AOF_NO_SAVE: &[&str] = &[
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--save",
    "",
];

/// The files under `aof/` and `snapshot/`, as `aof/name` paths.
fn data_files(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for sub in ["aof", "snapshot"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for e in entries.flatten() {
                found.insert(format!("{sub}/{}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// The files the manifest names (bases, segments, and files it keeps), read
/// from its text independently of the server's code.
fn named_files(dir: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(dir.join("manifest")).expect("a manifest");
    let mut named = BTreeSet::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["shard", id, kind, base, "segments", rest @ ..] = words.as_slice() {
            let id: usize = id.parse().unwrap();
            match (*kind, *base) {
                ("snapshot", "-") => {}
                ("snapshot", g) => {
                    named.insert(format!(
                        "snapshot/shard-{id:03}-{:08}.snap",
                        g.parse::<u64>().unwrap()
                    ));
                }
                ("log-base", g) => {
                    named.insert(format!(
                        "aof/shard-{id:03}-{:08}-base.aof",
                        g.parse::<u64>().unwrap()
                    ));
                }
                other => panic!("unexpected base {other:?}"),
            }
            // After the segments: `split <ids>` (no files), then `kept <paths>`.
            for s in rest.iter().take_while(|w| **w != "kept" && **w != "split") {
                named.insert(format!(
                    "aof/shard-{id:03}-{:08}.aof",
                    s.parse::<u64>().unwrap()
                ));
            }
            if let Some(at) = rest.iter().position(|w| *w == "kept") {
                named.extend(rest[at + 1..].iter().map(|p| p.to_string()));
            }
        }
    }
    named
}

fn assert_only_named_files(server: &Server, when: &str) {
    let found = data_files(server.dir());
    let named = named_files(server.dir());
    let unnamed: Vec<&String> = found.difference(&named).collect();
    assert!(
        unnamed.is_empty(),
        "{when}: files the manifest does not name: {unnamed:?}\nmanifest:\n{}",
        std::fs::read_to_string(server.dir().join("manifest")).unwrap_or_default()
    );
}

fn check_report(dir: &Path) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringcache"))
        .arg("check")
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn fill(con: &mut redis::Connection, tag: &str, n: usize) {
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET").arg(format!("{tag}:{i}")).arg(i).ignore();
    }
    let () = p.query(con).unwrap();
}

fn count(con: &mut redis::Connection, tag: &str, n: usize) -> usize {
    (0..n)
        .filter(|i| q::<Option<usize>>(con, &["GET", &format!("{tag}:{i}")]) == Some(*i))
        .count()
}

/// Files left behind (here planted, as a crash between a manifest switch
/// and the deletion of the old files leaves them) go at the next start; a
/// file that is not one of the server's own stays; `check` lists them.
#[test]
fn files_the_manifest_does_not_name_are_removed_at_start_up() {
    let mut server = Server::with(2, HYBRID_ALWAYS);
    let mut con = server.con();
    fill(&mut con, "a", 2000);
    let _: String = q(&mut con, &["SAVE"]);
    fill(&mut con, "b", 100);
    server.kill9();
    let dir = server.dir().to_path_buf();
    let named: Vec<String> = named_files(&dir).into_iter().collect();
    let segment = named.iter().find(|p| p.ends_with(".aof")).unwrap();
    let snap = named.iter().find(|p| p.ends_with(".snap")).unwrap();
    let planted = [
        "aof/shard-000-00000000.aof",
        "aof/shard-001-00000000-base.aof",
        "aof/shard-003-00000001.aof",
        "snapshot/shard-001-00000000.snap",
        "snapshot/shard-004-00000001.snap",
    ];
    for p in &planted[..3] {
        std::fs::copy(dir.join(segment), dir.join(p)).unwrap();
    }
    for p in &planted[3..] {
        std::fs::copy(dir.join(snap), dir.join(p)).unwrap();
    }
    std::fs::write(dir.join("aof/notes.txt"), "the operator's").unwrap();
    let (code, report) = check_report(&dir);
    for p in planted {
        assert!(
            report.contains(&format!("{p}: not named by the manifest")),
            "check does not list {p}:\n{report}"
        );
    }
    assert_eq!(code, Some(0), "unnamed files are no damage:\n{report}");
    server.start_again();
    let mut con = server.con();
    assert_eq!(count(&mut con, "a", 2000), 2000);
    assert_eq!(count(&mut con, "b", 100), 100);
    for p in planted {
        assert!(!dir.join(p).exists(), "{p} was left");
    }
    assert!(
        dir.join("aof/notes.txt").exists(),
        "a foreign file was removed"
    );
    std::fs::remove_file(dir.join("aof/notes.txt")).unwrap();
    assert_only_named_files(&server, "after the start");
}

/// The 2 → 1 → 2 restart: after each start, and after a save in
/// each layout, the directory holds exactly the named files.
#[test]
fn re_sharding_restarts_leave_only_named_files() {
    let mut server = Server::with(2, HYBRID_ALWAYS);
    let mut con = server.con();
    fill(&mut con, "k", 3000);
    for (round, shards) in [1usize, 2, 1, 2].into_iter().enumerate() {
        server.restart_with(shards, HYBRID_ALWAYS);
        assert_only_named_files(&server, &format!("round {round}: after the start"));
        let mut con = server.con();
        assert_eq!(count(&mut con, "k", 3000), 3000, "round {round}");
        fill(&mut con, &format!("r{round}"), 200);
        let _: String = q(&mut con, &["SAVE"]);
        // The old files go on a thread of their own after the switch.
        std::thread::sleep(Duration::from_millis(300));
        assert_only_named_files(&server, &format!("round {round}: after a save"));
        fill(&mut con, &format!("s{round}"), 200);
    }
}

/// A file of this shard planted while the server runs (a leftover from an
/// interrupted deletion) goes with the next checkpoint's old files.
#[test]
fn a_checkpoint_removes_unnamed_files_of_its_shard() {
    let server = Server::with(1, HYBRID_ALWAYS);
    let mut con = server.con();
    fill(&mut con, "k", 500);
    let dir = server.dir();
    let segment = named_files(dir)
        .into_iter()
        .find(|p| p.ends_with(".aof"))
        .unwrap();
    std::fs::copy(dir.join(&segment), dir.join("aof/shard-000-00000000.aof")).unwrap();
    let _: String = q(&mut con, &["SAVE"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!dir.join("aof/shard-000-00000000.aof").exists());
    assert_only_named_files(&server, "after a save");
}

/// `--snapshot-load-corrupt start-empty` logs that the damaged snapshot "is
/// left in place": neither the checkpoints after it, nor the next start-ups,
/// nor a file of a new generation may delete or overwrite it.
#[test]
fn a_corrupt_snapshot_skipped_at_start_is_left_in_place() {
    let mut server = Server::with(2, HYBRID_ALWAYS);
    let mut con = server.con();
    fill(&mut con, "d", 20_000);
    let _: String = q(&mut con, &["SAVE"]);
    server.kill9();
    let dir = server.dir().to_path_buf();
    let path = named_files(&dir)
        .into_iter()
        .find(|p| p.starts_with("snapshot/shard-000"))
        .map(|p| dir.join(p))
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = 4096 + (bytes.len() - 4096) / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let mut flags = HYBRID_ALWAYS.to_vec();
    flags.extend(["--snapshot-load-corrupt", "start-empty"]);
    server.restart_with(2, &flags);
    assert!(server.log_text().contains("left in place"));
    let mut con = server.con();
    fill(&mut con, "e", 1000);
    for _ in 0..3 {
        let _: String = q(&mut con, &["SAVE"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read(&path).ok().as_deref(),
        Some(bytes.as_slice()),
        "{} was deleted or overwritten",
        path.display()
    );
    for shards in [2, 1, 2] {
        server.restart_with(shards, &flags);
        let mut con = server.con();
        assert_eq!(count(&mut con, "e", 1000), 1000);
        let _: String = q(&mut con, &["SAVE"]);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            std::fs::read(&path).ok().as_deref(),
            Some(bytes.as_slice()),
            "{} was deleted or overwritten ({shards} shards)",
            path.display()
        );
        assert_only_named_files(&server, &format!("{shards} shards"));
    }
    let (_, report) = check_report(&dir);
    assert!(report.contains("kept"), "{report}");
    // Once the operator removes it, the manifest stops naming it.
    server.kill9();
    std::fs::remove_file(&path).unwrap();
    server.start_again();
    let manifest = std::fs::read_to_string(dir.join("manifest")).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!manifest.contains(&name), "{manifest}");
}

/// Segment 2's place holds a copy of segment 1 (its header says sequence
/// 1): replaying it would apply segment 1's records twice.
#[test]
fn a_segment_whose_header_has_another_sequence_is_refused() {
    let mut server = Server::with(1, AOF_NO_SAVE);
    let _: i64 = q(&mut server.con(), &["INCR", "n"]);
    server.kill9_and_restart();
    let _: i64 = q(&mut server.con(), &["INCR", "n"]);
    server.kill9();
    let dir = server.dir().to_path_buf();
    let mut segments: Vec<String> = named_files(&dir)
        .into_iter()
        .filter(|p| p.ends_with(".aof"))
        .collect();
    segments.sort();
    assert!(segments.len() >= 2, "{segments:?}");
    let (first, second) = (&segments[0], &segments[1]);
    std::fs::copy(dir.join(first), dir.join(second)).unwrap();
    let (status, log) = server
        .try_start_with(AOF_NO_SAVE, Duration::from_secs(10))
        .expect("a segment out of sequence must stop start-up");
    assert!(!status.success());
    let wrong = dir.join(second);
    assert!(
        log.contains(&format!("{}: header says sequence", wrong.display())),
        "{log}"
    );
    let (code, report) = check_report(&dir);
    assert_eq!(code, Some(1), "{report}");
    assert!(report.contains("header says sequence"), "{report}");
}

/// SHUTDOWN's arguments as Redis 7.0 parses them.
#[test]
fn shutdown_arguments_as_redis_7() {
    let mut server = Server::with(1, AOF_NO_SAVE);
    let mut con = server.con();
    for bad in [
        &["SHUTDOWN", "ABORT", "NOW"][..],
        &["SHUTDOWN", "NOSAVE", "ABORT"],
        &["SHUTDOWN", "NOSAVE", "SAVE"],
        &["SHUTDOWN", "SAVE", "NOSAVE"],
        &["SHUTDOWN", "LATER"],
    ] {
        assert_eq!(common::q_err(&mut con, bad), "ERR syntax error", "{bad:?}");
    }
    assert_eq!(
        common::q_err(&mut con, &["SHUTDOWN", "ABORT"]),
        "ERR No shutdown in progress."
    );
    let _: String = q(&mut con, &["SET", "k", "v"]);
    // A repeated flag is no error; NOW and FORCE with nothing failing exit.
    let gone = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .arg("NOSAVE")
        .arg("NOW")
        .arg("FORCE")
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
