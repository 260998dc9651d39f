//! The operator's interface through the real binary: INFO commandstats,
//! latencystats, errorstats and shards, SLOWLOG, LATENCY, and the settings
//! CONFIG SET changes while the server runs (appendfsync, loglevel, slow log,
//! latency monitor), each checked by what it changes.

mod common;

use common::{info_field, keys_on, q, q_err, Server};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The `name:value` lines of one INFO section (or several: "all").
fn info(con: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let text: String = q(con, &["INFO", section]);
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The section headers INFO answers with (`# Server`, ...), lowercase.
fn sections(con: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    let mut all = vec!["INFO"];
    all.extend_from_slice(args);
    let text: String = q(con, &all);
    text.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(|s| s.trim().to_lowercase())
        .collect()
}

/// `calls=3,usec=...` as a map.
fn fields(value: &str) -> HashMap<String, String> {
    value
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cmdstat(con: &mut redis::Connection, name: &str) -> Option<HashMap<String, String>> {
    info_field(con, "commandstats", &format!("cmdstat_{name}")).map(|v| fields(&v))
}

#[test]
fn commandstats_count_calls_rejections_and_failures() {
    let s = Server::with(2, &[]);
    let mut con = s.con();
    let _: () = q(&mut con, &["CONFIG", "RESETSTAT"]);
    for i in 0..5 {
        let _: () = q(&mut con, &["SET", &format!("k{i}"), "v"]);
    }
    let _: Vec<Option<String>> = q(&mut con, &["MGET", "k0", "k1", "k2", "k3", "nokey"]);
    let _: () = q(&mut con, &["HSET", "h", "f", "v"]);
    assert!(q_err(&mut con, &["GET"]).starts_with("ERR wrong number of arguments"));
    assert!(q_err(&mut con, &["GET", "h"]).starts_with("WRONGTYPE"));
    assert!(q_err(&mut con, &["NOSUCHCOMMAND", "x"]).starts_with("ERR unknown command"));
    assert!(q_err(&mut con, &["CONFIG", "NOSUCHSUB"]).starts_with("ERR unknown subcommand"));
    let _: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "hz"]);
    let _: redis::Value = q(&mut con, &["COMMAND"]);

    let set = cmdstat(&mut con, "set").expect("cmdstat_set");
    assert_eq!(set["calls"], "5");
    assert_eq!(
        (set["rejected_calls"].as_str(), set["failed_calls"].as_str()),
        ("0", "0")
    );
    let per_call: f64 = set["usec_per_call"].parse().unwrap();
    let usec: f64 = set["usec"].parse().unwrap();
    assert!((per_call - usec / 5.0).abs() < 0.01, "{set:?}");
    // A command split over both shards is one call.
    assert_eq!(cmdstat(&mut con, "mget").unwrap()["calls"], "1");
    let get = cmdstat(&mut con, "get").unwrap();
    assert_eq!(
        (
            get["calls"].as_str(),
            get["rejected_calls"].as_str(),
            get["failed_calls"].as_str()
        ),
        ("1", "1", "1")
    );
    // Subcommands are counted as Redis 7 names them; an unknown one, and an
    // unknown command, only as errors.
    assert_eq!(cmdstat(&mut con, "config|get").unwrap()["calls"], "1");
    assert!(cmdstat(&mut con, "config").is_none());
    assert_eq!(cmdstat(&mut con, "command").unwrap()["calls"], "1");
    assert!(cmdstat(&mut con, "nosuchcommand").is_none());

    let errors = info(&mut con, "errorstats");
    assert_eq!(errors["errorstat_ERR"], "count=3", "{errors:?}");
    assert_eq!(errors["errorstat_WRONGTYPE"], "count=1", "{errors:?}");

    let latency = info(&mut con, "latencystats");
    let set = &latency["latency_percentiles_usec_set"];
    let parts: Vec<&str> = set.split(',').collect();
    assert_eq!(parts.len(), 3, "{set}");
    for (part, label) in parts.iter().zip(["p50=", "p99=", "p99.9="]) {
        let value = part.strip_prefix(label).unwrap_or_else(|| panic!("{set}"));
        let (int, frac) = value.split_once('.').unwrap_or_else(|| panic!("{set}"));
        assert!(int.parse::<u64>().is_ok() && frac.len() == 3, "{set}");
    }
    // Percentiles of one command never decrease.
    let p: Vec<f64> = parts
        .iter()
        .map(|x| x.split('=').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(p[0] <= p[1] && p[1] <= p[2], "{set}");

    let _: () = q(&mut con, &["CONFIG", "RESETSTAT"]);
    assert!(cmdstat(&mut con, "set").is_none());
    assert!(!info(&mut con, "errorstats").contains_key("errorstat_WRONGTYPE"));
}

#[test]
fn info_sections_follow_redis_7_rules() {
    let s = Server::with(2, &[]);
    let mut con = s.con();
    let _: () = q(&mut con, &["SET", "a", "1"]);
    let default = sections(&mut con, &[]);
    assert!(default.contains(&"errorstats".to_string()), "{default:?}");
    for hidden in ["commandstats", "latencystats", "shards"] {
        assert!(!default.contains(&hidden.to_string()), "{default:?}");
    }
    assert_eq!(sections(&mut con, &["default"]), default);
    for every in ["all", "everything"] {
        let all = sections(&mut con, &[every]);
        for want in [
            "server",
            "stats",
            "commandstats",
            "errorstats",
            "latencystats",
            "keyspace",
            "shards",
        ] {
            assert!(all.contains(&want.to_string()), "INFO {every}: {all:?}");
        }
    }
    assert_eq!(sections(&mut con, &["commandstats"]), vec!["commandstats"]);
    assert_eq!(
        sections(&mut con, &["latencystats", "shards"]),
        vec!["latencystats", "shards"]
    );
}

#[test]
fn the_shards_section_shows_each_shard() {
    let s = Server::with(2, &["--appendonly", "yes"]);
    let mut con = s.con();
    for shard in 0..2 {
        for key in keys_on(&format!("s{shard}"), shard, 2, 3 + shard) {
            let _: () = q(&mut con, &["SET", &key, "v"]);
        }
    }
    let _: () = q(&mut con, &["SET", "ttl", "v", "EX", "100"]);
    let shards = info(&mut con, "shards");
    let mut keys = Vec::new();
    for i in 0..2 {
        let f = fields(&shards[&format!("shard{i}")]);
        for name in [
            "cpu",
            "ops",
            "aof_bytes",
            "aof_fsyncs",
            "jobs_sent",
            "jobs_received",
            "inbox_depth",
            "blocked_waiters",
            "aof_pending_bytes",
        ] {
            assert!(f[name].parse::<u64>().is_ok(), "shard{i}: {f:?}");
        }
        assert!(f["ops"].parse::<u64>().unwrap() >= 3 + i as u64, "{f:?}");
        keys.push(f["keys"].parse::<u64>().unwrap());
        let ttl_shard = common::shard_of("ttl", 2) == i;
        assert_eq!(f["expires"], if ttl_shard { "1" } else { "0" });
    }
    let ttl_shard = common::shard_of("ttl", 2);
    let mut want = vec![3, 4];
    want[ttl_shard] += 1;
    assert_eq!(keys, want);
    // Some of those commands crossed cores: someone sent and someone ran jobs.
    let sent: u64 = (0..2)
        .map(|i| {
            fields(&shards[&format!("shard{i}")])["jobs_sent"]
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert!(sent > 0, "{shards:?}");
}

/// SLOWLOG GET's entries as (id, time, micros, args, addr, name).
type Entry = (i64, i64, i64, Vec<String>, String, String);

fn slowlog(con: &mut redis::Connection, count: Option<&str>) -> Vec<Entry> {
    let mut args = vec!["SLOWLOG", "GET"];
    args.extend(count);
    q(con, &args)
}

#[test]
fn slowlog_logs_commands_over_the_threshold_in_redis_format() {
    let s = Server::with(2, &[]);
    let mut con = s.con();
    let got: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "slowlog-*"]);
    assert_eq!(got["slowlog-log-slower-than"], "10000");
    assert_eq!(got["slowlog-max-len"], "128");
    let _: () = q(&mut con, &["CLIENT", "SETNAME", "slowpoke"]);
    let me: String = q(&mut con, &["CLIENT", "INFO"]);
    let addr = me
        .split_whitespace()
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string();

    let _: () = q(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    let _: () = q(&mut con, &["SLOWLOG", "RESET"]);
    let long = "x".repeat(200);
    let _: () = q(&mut con, &["SET", "key", &long]);
    let many: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let mut del = vec!["DEL"];
    del.extend(many.iter().map(String::as_str));
    let _: i64 = q(&mut con, &del);
    let _: String = q(&mut con, &["PING"]);
    let started = common_now_secs();

    let entries = slowlog(&mut con, Some("-1"));
    // Newest first: PING, DEL, SET, SLOWLOG RESET; ids descending.
    let names: Vec<&str> = entries.iter().map(|e| e.3[0].as_str()).collect();
    assert_eq!(names, vec!["PING", "DEL", "SET", "SLOWLOG"], "{entries:?}");
    assert!(entries.windows(2).all(|w| w[0].0 > w[1].0), "{entries:?}");
    for e in &entries {
        assert!((e.1 - started).abs() <= 5, "timestamp {e:?}");
        assert!(e.2 >= 0);
        assert_eq!((e.4.as_str(), e.5.as_str()), (addr.as_str(), "slowpoke"));
    }
    // Arguments trimmed as Redis trims them.
    let set = &entries[2].3;
    assert_eq!(set[1], "key");
    assert_eq!(set[2], format!("{}... (72 more bytes)", "x".repeat(128)));
    let del = &entries[1].3;
    assert_eq!(del.len(), 32);
    assert_eq!(del[30], "k29");
    assert_eq!(del[31], "... (10 more arguments)");

    assert_eq!(slowlog(&mut con, None).len(), 5); // now with SLOWLOG GET -1
    assert_eq!(slowlog(&mut con, Some("2")).len(), 2);
    assert_eq!(slowlog(&mut con, Some("0")).len(), 0);
    assert_eq!(
        q_err(&mut con, &["SLOWLOG", "GET", "-2"]),
        "ERR count should be greater than or equal to -1"
    );
    assert_eq!(
        q_err(&mut con, &["SLOWLOG", "GET", "x"]),
        "ERR count should be greater than or equal to -1"
    );
    assert!(q_err(&mut con, &["SLOWLOG", "NOPE"]).starts_with("ERR unknown subcommand 'NOPE'"));

    // The length is bounded; RESET empties it (and is logged itself).
    let _: () = q(&mut con, &["CONFIG", "SET", "slowlog-max-len", "5"]);
    for _ in 0..10 {
        let _: String = q(&mut con, &["PING"]);
    }
    let len: i64 = q(&mut con, &["SLOWLOG", "LEN"]);
    assert_eq!(len, 5);
    let _: () = q(&mut con, &["SLOWLOG", "RESET"]);
    let len: i64 = q(&mut con, &["SLOWLOG", "LEN"]);
    assert_eq!(len, 1);

    // Over the threshold only; negative turns it off.
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "slowlog-log-slower-than", "10000000"],
    );
    let _: () = q(&mut con, &["SLOWLOG", "RESET"]);
    let _: String = q(&mut con, &["PING"]);
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "slowlog-log-slower-than", "-1"],
    );
    let _: String = q(&mut con, &["PING"]);
    let len: i64 = q(&mut con, &["SLOWLOG", "LEN"]);
    assert_eq!(len, 0);
}

#[test]
fn slowlog_keeps_commands_of_every_core_and_hides_passwords() {
    let s = Server::with(2, &[]);
    let mut a = s.con();
    let _: () = q(&mut a, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    // One connection on each core (client ids are strided by core).
    let mut on_core: Vec<Option<redis::Connection>> = vec![None, None];
    for _ in 0..64 {
        let mut c = s.con();
        let id: i64 = q(&mut c, &["CLIENT", "ID"]);
        let core = ((id - 1) % 2) as usize;
        on_core[core].get_or_insert(c);
        if on_core.iter().all(Option::is_some) {
            break;
        }
    }
    for (core, con) in on_core.iter_mut().enumerate() {
        let con = con
            .as_mut()
            .expect("no connection landed on one of the cores");
        let _: () = q(con, &["SET", &format!("from-core-{core}"), "v"]);
    }
    let logged: Vec<Entry> = slowlog(&mut a, Some("-1"));
    for core in 0..2 {
        let key = format!("from-core-{core}");
        assert!(
            logged.iter().any(|e| e.3 == ["SET", key.as_str(), "v"]),
            "{key} not in {logged:?}"
        );
    }

    let _ = redis::cmd("AUTH")
        .arg("default")
        .arg("secret")
        .query::<String>(&mut a);
    let logged: Vec<Entry> = slowlog(&mut a, Some("1"));
    assert_eq!(logged[0].3, vec!["AUTH", "(redacted)", "(redacted)"]);
}

fn common_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn latency_monitor_keeps_slow_events() {
    let s = Server::with(2, &[]);
    let mut con = s.con();
    let got: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "latency-monitor-threshold"]);
    assert_eq!(got["latency-monitor-threshold"], "0");
    // A command that takes milliseconds: SMEMBERS of a large set.
    for chunk in 0..300 {
        let mut sadd = redis::cmd("SADD");
        sadd.arg("big");
        for i in 0..1000 {
            sadd.arg(chunk * 1000 + i);
        }
        let _: i64 = sadd.query(&mut con).unwrap();
    }
    let _: Vec<String> = q(&mut con, &["SMEMBERS", "big"]);
    let latest: Vec<(String, i64, i64, i64)> = q(&mut con, &["LATENCY", "LATEST"]);
    assert!(latest.is_empty(), "monitor off, yet {latest:?}");

    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "latency-monitor-threshold", "1"],
    );
    let _: Vec<String> = q(&mut con, &["SMEMBERS", "big"]);
    let latest: Vec<(String, i64, i64, i64)> = q(&mut con, &["LATENCY", "LATEST"]);
    let command = latest
        .iter()
        .find(|e| e.0 == "command")
        .unwrap_or_else(|| panic!("no command event in {latest:?}"));
    assert!((command.1 - common_now_secs()).abs() <= 5, "{command:?}");
    assert!(command.2 >= 1 && command.3 >= command.2, "{command:?}");
    let history: Vec<(i64, i64)> = q(&mut con, &["LATENCY", "HISTORY", "command"]);
    assert!(
        !history.is_empty() && history.iter().all(|h| h.1 >= 1),
        "{history:?}"
    );
    let none: Vec<(i64, i64)> = q(&mut con, &["LATENCY", "HISTORY", "no-such-event"]);
    assert!(none.is_empty());

    // The monitor off again: on a busy machine any command (this RESET, the
    // LATEST after it) can take over 1 ms and would be recorded anew.
    let _: () = q(
        &mut con,
        &["CONFIG", "SET", "latency-monitor-threshold", "0"],
    );
    let reset: i64 = q(&mut con, &["LATENCY", "RESET", "no-such-event"]);
    assert_eq!(reset, 0);
    let reset: i64 = q(&mut con, &["LATENCY", "RESET"]);
    assert!(reset >= 1, "{reset}");
    let latest: Vec<(String, i64, i64, i64)> = q(&mut con, &["LATENCY", "LATEST"]);
    assert!(latest.is_empty(), "{latest:?}");
    assert!(q_err(&mut con, &["LATENCY", "HISTORY"]).starts_with("ERR wrong number of arguments"));
}

/// The sum of `aof_fsyncs` and of `aof_bytes` over the shards.
fn aof_figures(con: &mut redis::Connection) -> (u64, u64) {
    let shards = info(con, "shards");
    shards
        .iter()
        .filter(|(k, _)| k.starts_with("shard") && !k.ends_with("_queues"))
        .map(|(_, v)| {
            let f = fields(v);
            (
                f["aof_fsyncs"].parse::<u64>().unwrap(),
                f["aof_bytes"].parse::<u64>().unwrap(),
            )
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Waits (up to `limit`) until `check` holds; whether it did.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn config_set_appendfsync_changes_every_shards_log() {
    let s = Server::with(2, &["--appendonly", "yes", "--appendfsync", "everysec"]);
    let mut con = s.con();

    // always: every write's reply waits for its own fdatasync.
    let _: () = q(&mut con, &["CONFIG", "SET", "appendfsync", "always"]);
    assert_eq!(
        info_field(&mut con, "persistence", "aof_fsync_policy").as_deref(),
        Some("always")
    );
    let (mut synced, _) = aof_figures(&mut con);
    for i in 0..20 {
        let _: () = q(&mut con, &["SET", &format!("a{i}"), "v"]);
        let (now, _) = aof_figures(&mut con);
        assert!(now > synced, "write {i} was acknowledged without an fsync");
        synced = now;
    }

    // no: data still reaches the file once a second, but is never synced.
    let _: () = q(&mut con, &["CONFIG", "SET", "appendfsync", "no"]);
    let (synced, written) = aof_figures(&mut con);
    for i in 0..10 {
        let _: () = q(&mut con, &["SET", &format!("n{i}"), "v"]);
    }
    assert!(
        eventually(Duration::from_secs(5), || aof_figures(&mut con).1 > written),
        "appendfsync no: the writes never reached the file"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        aof_figures(&mut con).0,
        synced,
        "appendfsync no, yet fsyncs"
    );

    // everysec: synced within about a second, without waiting in the reply.
    let _: () = q(&mut con, &["CONFIG", "SET", "appendfsync", "everysec"]);
    let (synced, _) = aof_figures(&mut con);
    let _: () = q(&mut con, &["SET", "e", "v"]);
    assert!(
        eventually(Duration::from_secs(5), || aof_figures(&mut con).0 > synced),
        "appendfsync everysec: never synced"
    );
    let got: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "appendfsync"]);
    assert_eq!(got["appendfsync"], "everysec");
    assert!(
        q_err(&mut con, &["CONFIG", "SET", "appendfsync", "sometimes"])
            .contains("argument(s) must be one of the following: always, everysec, no")
    );

    // What was written under each policy survives a restart.
    drop(con);
    let mut s = s;
    s.kill9_and_restart();
    let mut con = s.con();
    for key in ["a19", "n9", "e"] {
        let v: Option<String> = q(&mut con, &["GET", key]);
        assert_eq!(v.as_deref(), Some("v"), "{key}");
    }
}

#[test]
fn config_set_loglevel_changes_what_the_log_shows() {
    let s = Server::with(2, &["--loglevel", "notice"]);
    let connected = |s: &Server| s.log_text().matches("client connected").count();
    let mut con = s.con();
    assert_eq!(connected(&s), 0, "notice shows debug lines");
    let _: () = q(&mut con, &["CONFIG", "SET", "loglevel", "debug"]);
    let got: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "loglevel"]);
    assert_eq!(got["loglevel"], "debug");
    let _other = s.con();
    assert!(
        eventually(Duration::from_secs(5), || connected(&s) >= 1),
        "loglevel debug: no debug line"
    );
    let _: () = q(&mut con, &["CONFIG", "SET", "loglevel", "warning"]);
    let before = connected(&s);
    let _third = s.con();
    let _: String = q(&mut con, &["PING"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(connected(&s), before, "warning still shows debug lines");
    assert!(q_err(&mut con, &["CONFIG", "SET", "loglevel", "loud"])
        .contains("argument(s) must be one of the following: debug, verbose, notice, warning"));
}

/// LATENCY HISTOGRAM beside redis-server: the same commands (a container
/// named alone stands for its subcommands, unknown names skipped, one
/// named twice answered twice), the same calls, and cumulative counts at powers of two of µs
/// that end at the calls.
#[test]
fn latency_histogram_answers_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this test compares with it");
        return;
    };
    let server = Server::start();
    // Per command: its name, its calls, its (µs, cumulative count) buckets.
    type Histogram = (String, i64, Vec<(i64, i64)>);
    let histograms = |s: &Server, names: &[&str]| -> Vec<Histogram> {
        let mut con = s.con();
        for i in 0..100 {
            let _: () = q(&mut con, &["SET", &format!("k{i}"), "v"]);
        }
        for i in 0..30 {
            let _: Option<String> = q(&mut con, &["GET", &format!("k{i}")]);
        }
        let _: HashMap<String, String> = q(&mut con, &["CONFIG", "GET", "port"]);
        let mut cmd = vec!["LATENCY", "HISTOGRAM"];
        cmd.extend(names);
        let reply: redis::Value = q(&mut con, &cmd);
        let redis::Value::Array(flat) = reply else {
            panic!("{reply:?}")
        };
        let mut out: Vec<_> = flat
            .chunks(2)
            .map(|pair| {
                let name: String = redis::from_redis_value(&pair[0]).unwrap();
                let body: HashMap<String, redis::Value> =
                    redis::from_redis_value(&pair[1]).unwrap();
                let calls: i64 = redis::from_redis_value(&body["calls"]).unwrap();
                let buckets: Vec<i64> = redis::from_redis_value(&body["histogram_usec"]).unwrap();
                let buckets = buckets.chunks(2).map(|b| (b[0], b[1])).collect();
                (name, calls, buckets)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let names = ["set", "GET", "no-such-command", "config", "set"];
    let (want, got) = (histograms(&redis, &names), histograms(&server, &names));
    let calls = |h: &[Histogram]| -> Vec<(String, i64)> {
        h.iter().map(|(n, c, _)| (n.clone(), *c)).collect()
    };
    assert_eq!(calls(&got), calls(&want));
    assert_eq!(
        calls(&got),
        [
            ("config|get".to_string(), 1),
            ("get".into(), 30),
            ("set".into(), 100),
            ("set".into(), 100)
        ]
    );
    for (name, calls, buckets) in &got {
        assert!(!buckets.is_empty(), "{name}");
        // Buckets double (Redis shows 1, 2, 4, 8, 16, 33, 65, ...).
        assert!(buckets[0].0 >= 1, "{name}: {buckets:?}");
        for pair in buckets.windows(2) {
            assert!(
                pair[0].0 < pair[1].0 && pair[0].1 < pair[1].1,
                "{name}: {buckets:?}"
            );
            assert!(pair[1].0 >= 2 * pair[0].0 - 1, "{name}: {buckets:?}");
        }
        assert_eq!(buckets.last().unwrap().1, *calls, "{name}: {buckets:?}");
    }
    // Without names: every command that ran (LATENCY itself too, once it has).
    let all: Vec<String> = histograms(&server, &[]).into_iter().map(|h| h.0).collect();
    for name in ["set", "get", "config|get", "latency|histogram"] {
        assert!(all.contains(&name.to_string()), "{name} in {all:?}");
    }
}

/// A slow log entry keeps copies of its arguments: a short argument kept as
/// a slice of the request pinned the whole request buffer it came from, so
/// three logged `SET k <64 MB>` held about 200 MB until SLOWLOG RESET.
#[test]
fn the_slow_log_does_not_pin_the_requests_it_logs() {
    let server = Server::shards(1);
    let mut con = server.con();
    let _: () = q(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    let value = vec![b'v'; 64 << 20];
    // From a connection that then closes: its own buffers go with it.
    let mut writer = server.con();
    for i in 0..3 {
        let key = format!("big{i}");
        let set = redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .query::<()>(&mut writer);
        set.unwrap();
        let _: i64 = q(&mut writer, &["DEL", &key]);
    }
    drop(writer);
    std::thread::sleep(Duration::from_millis(300));
    let rss = |con: &mut redis::Connection| -> u64 {
        info_field(con, "memory", "used_memory_rss")
            .and_then(|v| v.parse().ok())
            .expect("used_memory_rss")
    };
    let held = rss(&mut con);
    let _: () = q(&mut con, &["SLOWLOG", "RESET"]);
    std::thread::sleep(Duration::from_millis(200));
    let after_reset = rss(&mut con);
    assert!(
        held.saturating_sub(after_reset) < 32 << 20,
        "SLOWLOG RESET gave back {} MB: the entries held the requests",
        held.saturating_sub(after_reset) >> 20
    );
}
