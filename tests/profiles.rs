//! Tuning profiles through the real binary: every file in tuning/ is what the
//! server runs with (CONFIG GET), precedence defaults < profile < flags,
//! refused profiles name file, line and key, a core with `accept = false`
//! still owns its shard, and the `check-profile` and `calibrate` tools.

mod common;

use common::{keys_on, q, scratch, Server};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn write_profile(name: &str, text: &str) -> PathBuf {
    let path = scratch("files").join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str], limit: Duration) -> Output {
    common::run_binary(&[], args, limit)
}

fn refused(args: &[&str]) -> String {
    common::refused(&[], args).1
}

fn config(server: &Server) -> HashMap<String, String> {
    let mut con = server.con();
    let flat: Vec<String> = q(&mut con, &["CONFIG", "GET", "*"]);
    flat.chunks_exact(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

fn tuning_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning")
}

/// What each shipped profile is for, as CONFIG GET must show it.
fn expected(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "cache" => &[
            ("appendonly", "no"),
            ("save", ""),
            ("maxmemory-policy", "allkeys-lru"),
            ("executor.io-memory", "524288"),
            ("shares.persistence", "100"),
        ],
        "snapshot" => &[
            ("appendonly", "no"),
            ("save", "3600 1 300 100 60 10000"),
            ("shares.persistence", "300"),
        ],
        "balanced" => &[
            ("appendonly", "yes"),
            ("appendfsync", "everysec"),
            ("save", "3600 1 300 100 60 10000"),
            ("aof-use-rdb-preamble", "yes"),
            ("executor.preempt-timer-ms", "5"),
            ("shares.network", "1000"),
            ("shares.persistence", "500"),
            ("shares.expiry", "100"),
        ],
        "durable" => &[
            ("appendonly", "yes"),
            ("appendfsync", "always"),
            ("save", "3600 1 300 100 60 10000"),
            ("aof-use-rdb-preamble", "yes"),
            ("executor.preempt-timer-ms", "2"),
            ("shares.persistence", "1000"),
        ],
        other => panic!("tuning/{other}.toml has no expectations in tests/profiles.rs"),
    }
}

#[test]
fn every_tuning_file_is_what_the_server_runs() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(tuning_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let name = file.file_stem().unwrap().to_str().unwrap().to_string();
        let path = file.to_str().unwrap();
        // By path and by built-in name: the same settings.
        for profile in [path, name.as_str()] {
            let server = Server::with(2, &["--profile", profile]);
            let got = config(&server);
            assert_eq!(got["profile"], profile);
            for (key, want) in expected(&name) {
                assert_eq!(&got[*key], want, "{profile}: CONFIG GET {key}");
            }
        }
        let out = run(&["check-profile", path], Duration::from_secs(10));
        assert!(out.status.success(), "check-profile {path}");
    }
}

#[test]
fn the_default_profile_is_balanced() {
    let server = Server::with(2, &[]);
    let got = config(&server);
    assert_eq!(got["profile"], "balanced");
    assert_eq!(got["appendonly"], "yes");
    assert_eq!(got["appendfsync"], "everysec");
    assert!(server.dir().join("aof").is_dir(), "no AOF directory");
}

#[test]
fn flags_override_the_profile_which_overrides_the_defaults() {
    let file = write_profile(
        "precedence",
        "maxmemory = \"100mb\"\nappendfsync = \"always\"\nhz = 20\n[executor]\nring-depth = 64\n[network]\nmax-batch-requests = 16\n",
    );
    let file = file.to_str().unwrap();

    let server = Server::with(2, &["--profile", file]);
    let got = config(&server);
    assert_eq!(got["maxmemory"], "104857600");
    assert_eq!(got["appendfsync"], "always");
    assert_eq!(got["hz"], "20");
    assert_eq!(got["executor.ring-depth"], "64");
    assert_eq!(got["network.max-batch-requests"], "16");
    // Not in the file: the built-in default (not balanced's value).
    assert_eq!(got["appendonly"], "no");
    assert_eq!(got["tcp-keepalive"], "300");
    // A pipeline longer than a batch still gets every reply, in order.
    let mut con = server.con();
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    for i in 0..100 {
        pipe.cmd("GET").arg(format!("p{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(values, (0..100).collect::<Vec<i64>>());
    drop(server);

    let server = Server::with(
        2,
        &[
            "--profile",
            file,
            "--maxmemory",
            "200mb",
            "--appendfsync",
            "everysec",
            "--appendonly",
            "yes",
            "--set",
            "executor.ring-depth=32",
            "--preempt-timer-ms",
            "3",
        ],
    );
    let got = config(&server);
    assert_eq!(got["maxmemory"], "209715200");
    assert_eq!(got["appendfsync"], "everysec");
    assert_eq!(got["appendonly"], "yes");
    assert_eq!(got["hz"], "20");
    assert_eq!(got["executor.ring-depth"], "32");
    assert_eq!(got["executor.preempt-timer-ms"], "3");
}

#[test]
fn bad_profiles_are_refused_naming_file_line_and_key() {
    let unknown = write_profile("unknown", "port = 7000\n\n[executor]\nring-dept = 4\n");
    let f = unknown.to_str().unwrap();
    let err = refused(&["--profile", f, "--port", "0"]);
    assert!(
        err.contains(&format!("{f}:4: unknown key 'executor.ring-dept'")),
        "{err}"
    );

    let top = write_profile("unknown-top", "maxmemroy = \"1gb\"\n");
    let f = top.to_str().unwrap();
    let err = refused(&["--profile", f]);
    assert!(err.contains(f) && err.contains("'maxmemroy'"), "{err}");

    let bad = write_profile("bad-value", "# comment\nappendfsync = \"sometimes\"\n");
    let f = bad.to_str().unwrap();
    let err = refused(&["--profile", f]);
    assert!(err.contains(&format!("{f}:2:")), "{err}");
    assert!(
        err.contains("'appendfsync'") && err.contains("sometimes"),
        "{err}"
    );

    let zero = write_profile("zero-ring", "[cores.0]\nring-depth = 0\n");
    let err = refused(&["--profile", zero.to_str().unwrap()]);
    assert!(err.contains("cores.0.ring-depth"), "{err}");

    let syntax = write_profile("syntax", "port = \n");
    let err = refused(&["--profile", syntax.to_str().unwrap()]);
    assert!(
        err.contains("syntax.toml") && err.contains("line 1"),
        "{err}"
    );

    let err = refused(&["--profile", "no-such-profile"]);
    assert!(err.contains("unknown profile 'no-such-profile'"), "{err}");
    let err = refused(&["--appendfsync", "sometimes"]);
    assert!(
        err.contains("--appendfsync") && err.contains("sometimes"),
        "{err}"
    );
    let err = refused(&["--set", "cores.0.bogus=1"]);
    assert!(err.contains("cores.0.bogus"), "{err}");
    let err = refused(&["--shards", "2", "--set", "cores.2.accept=no"]);
    assert!(err.contains("cores.2"), "{err}");

    // check-profile says the same, and exits non-zero.
    let out = run(
        &["check-profile", unknown.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("executor.ring-dept"));
}

#[test]
fn at_least_one_core_accepts() {
    let err = refused(&[
        "--shards",
        "2",
        "--set",
        "cores.0.accept=no",
        "--set",
        "cores.1.accept=false",
    ]);
    assert!(err.contains("at least one"), "{err}");
}

#[test]
fn a_core_that_accepts_no_connections_still_owns_its_shard() {
    let file = write_profile(
        "no-accept",
        "[cores.1]\naccept = false\npreempt-timer-ms = 2\n",
    );
    let server = Server::with(2, &["--profile", file.to_str().unwrap()]);
    assert_eq!(config(&server)["cores"], "1:accept=no,preempt-timer-ms=2");
    // Every connection lands on core 0; keys of both shards still work.
    for _ in 0..8 {
        let mut con = server.con();
        for shard in 0..2 {
            for key in keys_on(&format!("own{shard}"), shard, 2, 5) {
                let _: () = q(&mut con, &["SET", &key, &key]);
                let v: String = q(&mut con, &["GET", &key]);
                assert_eq!(v, key);
            }
        }
    }
    let mut con = server.con();
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 10);
    // The same by flag, on the other core.
    let server = Server::with(2, &["--set", "cores.0.accept=no"]);
    let mut con = server.con();
    for key in keys_on("flag", 0, 2, 3)
        .into_iter()
        .chain(keys_on("flag", 1, 2, 3))
    {
        let _: () = q(&mut con, &["SET", &key, "1"]);
    }
    let n: i64 = q(&mut con, &["DBSIZE"]);
    assert_eq!(n, 6);
}

#[test]
fn check_profile_prints_the_effective_settings() {
    let out = run(&["check-profile", "durable"], Duration::from_secs(10));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(line("appendfsync").as_deref(), Some("always"));
    assert_eq!(line("appendonly").as_deref(), Some("yes"));
    assert!(line("pinned-cpus").is_some_and(|v| !v.is_empty()));
}

#[test]
fn calibrate_measures_and_writes_a_loadable_profile() {
    let dir = scratch("calibrate");
    let out_file = dir.join("calibrated.toml");
    let out = run(
        &[
            "calibrate",
            "--dir",
            dir.join("dev").to_str().unwrap(),
            "--size",
            "4mb",
            "--fsyncs",
            "10",
            "--random-seconds",
            "0.2",
            "--out",
            out_file.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for figure in [
        "fdatasync latency",
        "sequential write",
        "sequential read",
        "IOPS",
        "CPUs online",
    ] {
        assert!(stdout.contains(figure), "no {figure} in:\n{stdout}");
    }
    let check = run(
        &["check-profile", out_file.to_str().unwrap()],
        Duration::from_secs(10),
    );
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Scratch files are gone.
    let left: Vec<_> = std::fs::read_dir(dir.join("dev")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// True if `path` exists and is on tmpfs.
fn on_tmpfs(path: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: statfs fills the struct we pass.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == 0x0102_1994 }
}

#[test]
fn calibrate_refuses_tmpfs() {
    let Some(tmpfs) = ["/dev/shm", "/run", "/tmp"]
        .into_iter()
        .find(|p| on_tmpfs(p))
    else {
        eprintln!("no tmpfs mounted here: nothing to refuse");
        return;
    };
    let target = format!("{tmpfs}/ringcache-calibrate-{}", std::process::id());
    let out = run(
        &["calibrate", "--dir", &target, "--size", "1mb"],
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tmpfs") && err.contains("O_DIRECT"), "{err}");
    assert!(!Path::new(&target).exists(), "calibrate created {target}");
}

/// `shardN_queues` of INFO shards: each queue's shares.
fn queue_shares(server: &Server, shard: usize) -> HashMap<String, String> {
    let mut con = server.con();
    let line = common::info_field(&mut con, "shards", &format!("shard{shard}_queues"))
        .unwrap_or_else(|| panic!("no shard{shard}_queues in INFO shards"));
    line.split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| k.ends_with("_shares"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn task_queue_shares_are_in_effect_per_core() {
    let file = write_profile(
        "shares",
        "appendonly = true\n[shares]\nnetwork = 900\npersistence = 400\nexpiry = 30\n[cores.1.shares]\nexpiry = 70\npersistence = 1000\n",
    );
    let server = Server::with(2, &["--profile", file.to_str().unwrap()]);
    let got = config(&server);
    assert_eq!(got["shares.expiry"], "30");
    assert_eq!(got["cores"], "1:shares.persistence=1000,shares.expiry=70");
    // What the executors run with, as glommio reports it.
    let want = |n: &str, p: &str, e: &str| {
        HashMap::from([
            ("network_shares".to_string(), n.to_string()),
            ("persistence_shares".to_string(), p.to_string()),
            ("expiry_shares".to_string(), e.to_string()),
        ])
    };
    assert_eq!(queue_shares(&server, 0), want("900", "400", "30"));
    assert_eq!(queue_shares(&server, 1), want("900", "1000", "70"));
    // A checkpoint runs in the persistence queue: it has had CPU time.
    let mut con = server.con();
    let _: () = q(&mut con, &["SET", "k", "v"]);
    let _: String = q(&mut con, &["SAVE"]);
    let line = common::info_field(&mut con, "shards", "shard0_queues").unwrap();
    let runtime: u64 = line
        .split(',')
        .find_map(|kv| kv.strip_prefix("persistence_runtime_us="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(runtime > 0, "{line}");

    let err = refused(&["--set", "shares.network=0"]);
    assert!(
        err.contains("shares.network") && err.contains("between 1 and 1000"),
        "{err}"
    );
    let err = refused(&["--shards", "2", "--set", "cores.1.shares.expiry=5000"]);
    assert!(err.contains("cores.1.shares.expiry"), "{err}");
}

/// A redis.conf file in the scratch directory.
fn write_conf(name: &str, text: &str) -> PathBuf {
    let path = scratch("files").join(format!("{name}.conf"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Debian's own redis.conf starts the server (`--config`): its settings are
/// in force, Redis's defaults fill what it leaves out, INFO names the
/// file, and the log lists in one line the directives ringcache accepts
/// but does not use. (The harness's flags set port, bind and dir over it.)
#[test]
fn debians_redis_conf_starts_the_server() {
    let debian = Path::new("/etc/redis/redis.conf");
    let Ok(text) = std::fs::read_to_string(debian) else {
        eprintln!(
            "SKIPPED: {} is not installed (redis-server)",
            debian.display()
        );
        return;
    };
    let conf = write_conf("debian", &text);
    let conf_text = conf.display().to_string();
    let server = Server::with(2, &["--config", &conf_text]);
    let got = config(&server);
    for (name, want) in [
        ("appendonly", "no"),
        ("appendfsync", "everysec"),
        // Commented out in the file: Redis's built-in points.
        ("save", "3600 1 300 100 60 10000"),
        ("hash-max-listpack-entries", "512"),
        (
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        ("timeout", "0"),
        ("tcp-keepalive", "300"),
        ("slowlog-log-slower-than", "10000"),
        ("daemonize", "yes"),
        ("pidfile", "/run/redis/redis-server.pid"),
        ("protected-mode", "yes"),
    ] {
        assert_eq!(got.get(name).map(String::as_str), Some(want), "{name}");
    }
    let info: String = q(&mut server.con(), &["INFO", "server"]);
    assert!(
        info.contains(&format!("config_file:{conf_text}\r\n")),
        "{info}"
    );
    let log = server.log_text();
    let unused = log
        .lines()
        .find(|l| l.contains("accepts and reports but does not use"))
        .unwrap_or_else(|| panic!("no line of unused settings in:\n{log}"));
    for name in [
        "daemonize",
        "logfile",
        "dbfilename",
        "lazyfree-lazy-eviction",
    ] {
        assert!(unused.contains(name), "{name} not in {unused}");
    }
}

/// Redis's syntax: quotes and escapes, comments, `include`, `save` lines
/// that add up, `user` lines, aliases; errors name file and line, and
/// directives ringcache cannot honour (`rename-command`) are refused.
#[test]
fn redis_conf_syntax_and_errors() {
    let included = write_conf("included", "maxmemory-policy allkeys-lru\n");
    let conf = write_conf(
        "syntax",
        &format!(
            "# a comment with \"an unbalanced quote\n\
             \n\
             save 900 1\n\
             save 300 10\n\
             notify-keyspace-events \"KEA\"\n\
             hash-max-ziplist-entries 20\n\
             maxmemory 10mb\n\
             lazyfree-lazy-eviction yes\n\
             user alice on >secret ~app:* +get\n\
             include {}\n",
            included.display()
        ),
    );
    let server = Server::with(2, &["--config", &conf.display().to_string()]);
    let got = config(&server);
    for (name, want) in [
        ("save", "900 1 300 10"),
        ("notify-keyspace-events", "AKE"),
        ("hash-max-listpack-entries", "20"),
        ("hash-max-ziplist-entries", "20"),
        ("maxmemory", "10485760"),
        ("lazyfree-lazy-eviction", "yes"),
        ("maxmemory-policy", "allkeys-lru"),
    ] {
        assert_eq!(got.get(name).map(String::as_str), Some(want), "{name}");
    }
    let mut alice = server.con();
    let _: () = q(&mut alice, &["AUTH", "alice", "secret"]);
    let _: Option<String> = q(&mut alice, &["GET", "app:x"]);
    drop(server);

    for (name, text, want) in [
        (
            "unknown",
            "port 7000\nno-such-directive 1\n",
            ":2: >>> 'no-such-directive 1': Bad directive or wrong number of arguments",
        ),
        (
            "bad-value",
            "\n\nmaxmemory lots\n",
            ":3: >>> 'maxmemory lots': argument must be a memory value",
        ),
        (
            "quotes",
            "notify-keyspace-events \"KEA\n",
            ":1: >>> 'notify-keyspace-events \"KEA': Unbalanced quotes in configuration line",
        ),
        (
            "rename",
            "rename-command CONFIG \"\"\n",
            ":1: >>> 'rename-command CONFIG \"\"': 'rename-command' is not supported by ringcache",
        ),
        (
            "no-args",
            "appendonly\n",
            ":1: >>> 'appendonly': Bad directive or wrong number of arguments",
        ),
    ] {
        let path = write_conf(name, text);
        let dir = scratch(&format!("conf-{name}"));
        let out = refused(&[
            "--config",
            &path.display().to_string(),
            "--dir",
            &dir.display().to_string(),
        ]);
        assert!(
            out.contains(&format!("{}{want}", path.display())),
            "{name}: {out}"
        );
    }
}

/// CONFIG REWRITE writes the running values into the redis.conf the server
/// started from (comments kept, changed directives in place, new ones at
/// the end) and a restart from it has them; without a file it is Redis's
/// error.
#[test]
fn config_rewrite_writes_the_redis_conf_back() {
    let conf = write_conf(
        "rewrite",
        "# keep this comment\nhash-max-listpack-entries 100\nsave 900 1\nmaxmemory 1mb\n",
    );
    let args = ["--config".to_string(), conf.display().to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::with(2, &args);
    let mut c = server.con();
    for (name, value) in [
        ("hash-max-ziplist-entries", "7"),
        ("save", ""),
        ("maxmemory", "64mb"),
        ("lazyfree-lazy-eviction", "yes"),
        ("notify-keyspace-events", "Ex"),
    ] {
        let _: () = q(&mut c, &["CONFIG", "SET", name, value]);
    }
    let _: () = q(
        &mut c,
        &["ACL", "SETUSER", "bob", "on", ">pw", "~b:*", "+get"],
    );
    let _: () = q(&mut c, &["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(
        text.starts_with(
            "# keep this comment\nhash-max-listpack-entries 7\nsave \"\"\nmaxmemory 64mb\n"
        ),
        "{text}"
    );
    assert!(text.contains("\n# Generated by CONFIG REWRITE\n"), "{text}");
    assert!(text.contains("\nlazyfree-lazy-eviction yes\n"), "{text}");
    server.kill9_and_restart();
    let got = config(&server);
    for (name, want) in [
        ("hash-max-listpack-entries", "7"),
        ("save", ""),
        ("maxmemory", "67108864"),
        ("lazyfree-lazy-eviction", "yes"),
        ("notify-keyspace-events", "xE"),
    ] {
        assert_eq!(got.get(name).map(String::as_str), Some(want), "{name}");
    }
    let mut bob = server.con();
    let _: () = q(&mut bob, &["AUTH", "bob", "pw"]);

    let plain = Server::start();
    let err = common::q_err(&mut plain.con(), &["CONFIG", "REWRITE"]);
    assert_eq!(err, "ERR The server is running without a config file");
}

/// CONFIG REWRITE of a server started from a profile file writes the
/// running values into that TOML file, in place, comments and per-core
/// tables kept; the file still loads and gives the same settings.
#[test]
fn config_rewrite_writes_the_profile_back() {
    let profile = write_profile(
        "rewrite",
        "# keep me\nhash-max-listpack-entries = 100\nappendonly = false\nsave = [\"900 1\"]\n\n[executor]\nring-depth = 64\n\n[cores.1]\naccept = true\n",
    );
    let args = ["--profile".to_string(), profile.display().to_string()];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::with(2, &args);
    let mut c = server.con();
    for (name, value) in [
        ("hash-max-ziplist-entries", "7"),
        ("save", "60 5 30 100"),
        ("maxmemory", "64mb"),
        ("notify-keyspace-events", "Ex"),
    ] {
        let _: () = q(&mut c, &["CONFIG", "SET", name, value]);
    }
    let _: () = q(&mut c, &["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(
        text.starts_with(
            "# keep me\nhash-max-listpack-entries = 7\nappendonly = false\nsave = \"60 5 30 100\"\n"
        ),
        "{text}"
    );
    let (added, tables) = text.split_once("[executor]").expect("tables kept");
    assert!(
        added.contains("\n# Generated by CONFIG REWRITE\n"),
        "{text}"
    );
    assert!(added.contains("\nmaxmemory = 67108864\n"), "{text}");
    assert!(
        added.contains("\nnotify-keyspace-events = \"xE\"\n"),
        "{text}"
    );
    assert_eq!(tables, "\nring-depth = 64\n\n[cores.1]\naccept = true\n");
    server.kill9_and_restart();
    let got = config(&server);
    for (name, want) in [
        ("hash-max-listpack-entries", "7"),
        ("save", "60 5 30 100"),
        ("maxmemory", "67108864"),
        ("notify-keyspace-events", "xE"),
        ("appendonly", "no"),
    ] {
        assert_eq!(got.get(name).map(String::as_str), Some(want), "{name}");
    }
    let info: String = q(&mut server.con(), &["INFO", "server"]);
    assert!(
        info.contains(&format!("config_file:{}", profile.display())),
        "{info}"
    );
    // A built-in profile is no file to write.
    let builtin = Server::with(1, &["--profile", "cache"]);
    let err = common::q_err(&mut builtin.con(), &["CONFIG", "REWRITE"]);
    assert_eq!(err, "ERR The server is running without a config file");
}

/// Any Redis setting can be given on the command line as redis-server takes
/// it: `--name value...`, `save` points adding up.
#[test]
fn redis_settings_are_taken_as_flags() {
    let server = Server::with(
        2,
        &[
            "--hash-max-ziplist-entries",
            "7",
            "--save",
            "60",
            "5",
            "--save",
            "30",
            "100",
            "--lazyfree-lazy-eviction",
            "yes",
        ],
    );
    let got = config(&server);
    for (name, want) in [
        ("hash-max-listpack-entries", "7"),
        ("save", "60 5 30 100"),
        ("lazyfree-lazy-eviction", "yes"),
    ] {
        assert_eq!(got.get(name).map(String::as_str), Some(want), "{name}");
    }
}
