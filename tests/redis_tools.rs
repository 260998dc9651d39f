//! Redis's own tools against the real binary: `redis-benchmark` (with and
//! without pipelining) must finish without a single error, and `redis-cli`
//! must print what it prints for redis-server. Both come from the
//! `redis-tools` package; without it these tests fail (CI installs it).

mod common;

use common::{tool, Server};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command with `stdin` as input; returns (success, stdout+stderr).
/// A tool that hangs fails the test instead of hanging it.
fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> (bool, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tool");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        let mut e = String::new();
        let _ = err.read_to_string(&mut e);
        text + &e
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; output so far:\n{}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.success(), reader.join().unwrap())
}

fn benchmark(extra: &[&str]) {
    let bench = tool("redis-benchmark");
    let s = Server::start();
    let port = s.port.to_string();
    let mut cmd = Command::new(bench);
    cmd.args(["-p", &port, "-t", "ping,set,get,incr,mset"])
        .args(["-n", "20000", "-c", "50", "-q"])
        .args(extra);
    let (ok, out) = run(&mut cmd, b"", Duration::from_secs(60));
    assert!(ok, "redis-benchmark failed:\n{out}");
    let lines: Vec<&str> = out
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for l in &lines {
        assert!(
            !l.to_lowercase().contains("error"),
            "error in output: {l}\n{out}"
        );
    }
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second")),
            "no result for {test}:\n{out}"
        );
    }
    // The work really happened: counters and keys are there.
    let mut con = s.con();
    let counter: i64 = redis::cmd("GET")
        .arg("counter:__rand_int__")
        .query(&mut con)
        .unwrap();
    assert_eq!(counter, 20_000);
    let value: String = redis::cmd("GET")
        .arg("key:__rand_int__")
        .query(&mut con)
        .unwrap();
    assert_eq!(value.len(), 3, "{value:?}");
}

#[test]
fn redis_benchmark_without_pipelining() {
    benchmark(&[]);
}

#[test]
fn redis_benchmark_with_pipelining() {
    benchmark(&["-P", "16"]);
}

#[test]
fn redis_cli_commands_from_stdin() {
    let cli = tool("redis-cli");
    let s = Server::start();
    let port = s.port.to_string();
    let input = "SET a 1\nGET a\nINCR a\nMGET a nokey\nPING\nDBSIZE\nSET b \"x y\"\nGET b\n\
        GET nokey\nFOO bar\nEXPIRE a 100\nTTL a\nSELECT 3\nDBSIZE\n";
    let (ok, out) = run(
        Command::new(&cli).args(["-p", &port]),
        input.as_bytes(),
        Duration::from_secs(20),
    );
    assert!(ok, "redis-cli failed:\n{out}");
    // Exactly what redis-cli prints for redis-server (errors get an empty
    // line after them; nil prints as an empty line).
    assert_eq!(
        out,
        "OK\n1\n2\n2\n\nPONG\n1\nOK\nx y\n\n\
         ERR unknown command 'FOO', with args beginning with: 'bar' \n\n1\n100\nOK\n0\n"
    );
    // One command per invocation, RESP3, SCAN through --scan.
    let (ok, out) = run(
        Command::new(&cli).args(["-3", "-p", &port, "MGET", "a", "nokey"]),
        b"",
        Duration::from_secs(20),
    );
    assert!(ok, "{out}");
    assert_eq!(out, "2\n\n");
    let (ok, out) = run(
        Command::new(&cli).args(["-p", &port, "--scan", "--pattern", "*"]),
        b"",
        Duration::from_secs(20),
    );
    assert!(ok, "{out}");
    let mut keys: Vec<&str> = out.lines().collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    let (ok, out) = run(
        Command::new(&cli).args(["-p", &port, "INFO", "keyspace"]),
        b"",
        Duration::from_secs(20),
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("# Keyspace") && out.contains("db0:keys=2,expires=1"),
        "{out}"
    );
}
