//! Start-up checks through the real binary: each condition an operator can
//! get wrong (data directory, port, CPUs, locked memory, a memory
//! filesystem) that can be provoked here stops the server with exit code
//! != 0 and one line saying what to change. Malformed profiles are in
//! tests/profiles.rs.

mod common;

use common::{refused, run_binary, scratch};
use std::net::TcpListener;
use std::time::Duration;

fn free_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port().to_string()
}

/// Starting one shard on `port` with data in `dir` (behind `wrapper`) must
/// fail: its exit code and output.
fn refused_on(wrapper: &[&str], port: &str, dir: &str) -> (i32, String) {
    refused(wrapper, &["--port", port, "--shards", "1", "--dir", dir])
}

/// The line of `output` that carries `needle`: the error is one line.
fn line_with<'a>(output: &'a str, needle: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{output}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_data_dir_that_is_a_file_or_cannot_be_made_is_refused() {
    let base = scratch("dir");
    let file = base.join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let port = free_port();
    let f = file.to_str().unwrap();
    let (code, out) = refused_on(&[], &port, f);
    assert_eq!(code, 1, "{out}");
    let line = line_with(&out, "is not a directory");
    assert!(line.contains(f) && line.contains("--dir"), "{line}");

    let under = file.join("sub");
    let (code, out) = refused_on(&[], &port, under.to_str().unwrap());
    assert_eq!(code, 1, "{out}");
    assert!(line_with(&out, "cannot create data directory").contains("--dir"));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_data_dir_that_is_not_writable_is_refused() {
    let base = scratch("readonly");
    let dir = base.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    // root writes anywhere: run the server as nobody instead, in a
    // directory only root may write.
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let wrapper: &[&str] = if is_root() {
        &nobody
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        &[]
    };
    let (code, out) = refused_on(wrapper, &port, dir.to_str().unwrap());
    assert_eq!(code, 1, "{out}");
    let line = line_with(&out, "is not writable");
    assert!(
        line.contains("Permission denied") && line.contains("permissions"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_port_in_use_is_refused() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = scratch("port");
    let (code, out) = refused_on(&[], &port, dir.to_str().unwrap());
    assert_eq!(code, 1, "{out}");
    let line = line_with(&out, "cannot listen on");
    assert!(
        line.contains(&port) && line.contains("already listens"),
        "{line}"
    );
    drop(taken);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cpu_not_online_or_not_allowed_is_refused() {
    let dir = scratch("cpus");
    let d = dir.to_str().unwrap();
    let port = free_port();
    let (code, out) = refused(&[], &["--port", &port, "--dir", d, "--cpus", "4000"]);
    assert_eq!(code, 2, "{out}");
    let line = line_with(&out, "CPU 4000");
    assert!(
        line.contains("not online or not in this process's allowed set"),
        "{line}"
    );
    assert!(line.contains("change `cpus`"), "{line}");

    // Online, but outside the affinity the process was started with.
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    if online.trim() == "0" {
        eprintln!("one CPU online: no CPU outside the allowed set to try");
        return;
    }
    let wrapper = ["taskset", "-c", "0"];
    let (code, out) = refused(&wrapper, &["--port", &port, "--dir", d, "--cpus", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        line_with(&out, "CPU 1 ").contains("allowed set (0)"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_locked_memory_limit_too_low_for_io_uring_is_refused() {
    let dir = scratch("memlock");
    let port = free_port();
    // root could raise the limit again: take that right away first.
    let mut wrapper = vec![];
    if is_root() {
        wrapper.extend(["setpriv", "--bounding-set", "-ipc_lock,-sys_resource"]);
    }
    wrapper.extend(["prlimit", "--memlock=65536:65536"]);
    let (code, out) = refused_on(&wrapper, &port, dir.to_str().unwrap());
    assert_eq!(code, 1, "{out}");
    let line = line_with(&out, "locked-memory limit is 64 KiB");
    assert!(
        line.contains("ulimit -l") && line.contains("LimitMEMLOCK"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tmpfs mounted here, if any.
fn a_tmpfs() -> Option<&'static str> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    ["/dev/shm", "/run", "/tmp"].into_iter().find(|m| {
        mounts.lines().any(|l| {
            l.split_whitespace().nth(1) == Some(*m) && l.split_whitespace().nth(2) == Some("tmpfs")
        })
    })
}

#[test]
fn a_data_dir_on_tmpfs_is_warned_about() {
    let Some(tmpfs) = a_tmpfs() else {
        eprintln!("no tmpfs mounted here: nothing to warn about");
        return;
    };
    let dir = format!("{tmpfs}/ringcache-startup-{}", std::process::id());
    let port = free_port();
    // It starts (a log on tmpfs still survives a crash of the process), says
    // why that is not persistence, and is stopped after a moment.
    let out = run_binary(
        &["timeout", "3"],
        &[
            "--port",
            &port,
            "--shards",
            "1",
            "--dir",
            &dir,
            "--appendonly",
            "yes",
        ],
        Duration::from_secs(15),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ready to accept connections"), "{text}");
    let line = line_with(&text, "is on tmpfs/ramfs");
    assert!(
        line.contains("O_DIRECT") && line.contains("--dir"),
        "{line}"
    );
}

/// A log that goes to a file (stdout is not a terminal) is plain text: no
/// ANSI colour escapes for whoever reads, greps or ships it.
#[test]
fn a_log_written_to_a_file_has_no_colour_escapes() {
    let server = common::Server::start();
    let log = server.log_text();
    assert!(
        log.contains("ringcache starting"),
        "no start-up line in:\n{log}"
    );
    let first = log.lines().next().unwrap_or_default();
    assert!(
        !log.contains('\x1b'),
        "colour escapes in the log file, first line: {first:?}"
    );
}
