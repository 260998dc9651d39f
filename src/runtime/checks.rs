//! Start-up checks: what would otherwise fail later and obscurely (a core
//! dying at its first log write, glommio refusing to start an executor) is
//! refused before any core starts, with one line saying what to change. The
//! port (net::check_port_free) and the CPUs (Config::finish) are checked
//! where they are used.

use crate::config::Config;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// glommio refuses to start an executor below this locked-memory limit
/// (io_uring's rings and registered buffers are locked memory).
pub const MIN_MEMLOCK_BYTES: u64 = 512 << 10;

pub fn before_start(config: &Config) -> Result<(), String> {
    data_dir(&config.dir, config.appendonly)?;
    memlock()
}

/// The data directory must be a directory this process can write; with
/// persistence on, on a filesystem that honours O_DIRECT.
fn data_dir(dir: &Path, persistent: bool) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() && !dir.is_dir() {
        return Err(format!(
            "data directory {shown} is not a directory: change --dir (or `dir` in the profile)"
        ));
    }
    let in_memory = crate::util::on_memory_fs(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| {
        format!("cannot create data directory {shown} ({e}): change --dir, or create it writable by this user")
    })?;
    // tmpfs takes O_DIRECT and ignores it: only a disk filesystem is probed.
    let direct = persistent && !in_memory;
    match probe(dir, direct) {
        Ok(()) => {}
        Err(e) if direct && e.raw_os_error() == Some(libc::EINVAL) && probe(dir, false).is_ok() => {
            return Err(format!(
                "the filesystem of data directory {shown} does not support O_DIRECT, which the append-only log needs: put --dir on a disk filesystem (ext4, xfs) or run without persistence (--appendonly no)"
            ));
        }
        Err(e) => {
            return Err(format!(
                "data directory {shown} is not writable ({e}): change --dir or its permissions"
            ))
        }
    }
    if persistent && in_memory {
        tracing::warn!(
            "data directory {shown} is on tmpfs/ramfs (memory): O_DIRECT is silently ignored there and the append-only log vanishes at reboot; put --dir on a disk filesystem (ext4, xfs) for persistence"
        );
    }
    Ok(())
}

/// Creates and removes a file in `dir`, opened with O_DIRECT if `direct`.
fn probe(dir: &Path, direct: bool) -> std::io::Result<()> {
    let path = dir.join(format!(".ringcache-probe-{}", std::process::id()));
    let flags = if direct { libc::O_DIRECT } else { 0 };
    let opened = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(flags)
        .open(&path);
    let _ = std::fs::remove_file(&path);
    opened.map(drop)
}

/// The locked-memory limit (already raised as far as allowed) must reach
/// what glommio needs, or no executor starts.
fn memlock() -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return Ok(());
    }
    if lim.rlim_cur == libc::RLIM_INFINITY || lim.rlim_cur >= MIN_MEMLOCK_BYTES {
        return Ok(());
    }
    Err(format!(
        "the locked-memory limit is {} KiB, below the {} KiB io_uring needs: raise it (ulimit -l unlimited; systemd LimitMEMLOCK=infinity; docker run --ulimit memlock=-1)",
        lim.rlim_cur / 1024,
        MIN_MEMLOCK_BYTES / 1024
    ))
}
