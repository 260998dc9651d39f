//! The disk as persistence sees it: every write, sync, truncation, rename
//! and removal of a data file (log segments, snapshots, log bases, the
//! manifest) goes through this module, and nothing else in the server
//! writes a data file. Reads stay plain `std::fs` reads: they only ever see
//! what these calls left on the disk.
//!
//! Two kinds of descriptor: `DirectFile` (O_DIRECT, through io_uring or as a
//! plain system call on the core, see `Issue`) and `CachedFile` (the page
//! cache, for the log's write-through and the offline writers).
//!
//! Under test, `faults` sits below every call here (enabled by
//! `RINGCACHE_TEST_DISK`): it fails writes and syncs, tears failed writes,
//! and journals every write that is not yet synced so that a simulated power
//! cut can lose, tear or keep each of them (docs/simulated-disk.md).

pub mod faults;

use glommio::io::{DmaFile, OpenOptions};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// How an O_DIRECT write or a sync reaches the kernel. Through io_uring the
/// core goes on serving while the disk works, but io_uring hands every
/// fdatasync to a worker thread of its own (it cannot be done without
/// blocking), and the kernel finishes an O_DIRECT write into reserved
/// (unwritten) space in a worker too: on busy cores each waits for the
/// scheduler. With `appendfsync always` the clients wait for the sync
/// anyway, so there the flusher makes both as plain system calls on the core
/// (as Redis does): `redis-benchmark -c 50` SET 9.3k/s → 37k/s, INCR 10.8k/s
/// → 45k/s on the 2-core VM (a group commit cycle was 2.2 ms for a sync the
/// disk does in 150 µs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Issue {
    Ring,
    Blocking,
}

/// A data file opened with O_DIRECT: block-aligned writes at block offsets.
pub struct DirectFile {
    file: DmaFile,
    path: PathBuf,
}

impl DirectFile {
    /// Creates `path`, or empties it if it exists.
    pub async fn create(path: &Path) -> Result<DirectFile, String> {
        faults::created(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .dma_open(path)
            .await
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(DirectFile {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `data` at `pos` (block-aligned), zero-padded to whole blocks.
    pub async fn write_padded(&self, data: &[u8], pos: u64, issue: Issue) -> Result<(), String> {
        let padded = super::record::align_up(data.len() as u64) as usize;
        let mut dma = self.file.alloc_dma_buffer(padded);
        let bytes = dma.as_bytes_mut();
        bytes[..data.len()].copy_from_slice(data);
        bytes[data.len()..].fill(0);
        let err = |e: std::io::Error| format!("{}: {e}", self.path.display());
        faults::write(&self.path, pos, dma.as_bytes()).map_err(err)?;
        let written = match issue {
            Issue::Ring => self
                .file
                .write_at(dma, pos)
                .await
                .map_err(|e| e.to_string())?,
            Issue::Blocking => {
                use std::os::unix::io::AsRawFd;
                // SAFETY: `dma` is a live buffer of `padded` bytes, aligned
                // for O_DIRECT (the file's own allocation), and the
                // descriptor is the file's.
                let n = unsafe {
                    libc::pwrite(
                        self.file.as_raw_fd(),
                        dma.as_ptr().cast(),
                        padded,
                        pos as i64,
                    )
                };
                if n < 0 {
                    return Err(err(std::io::Error::last_os_error()));
                }
                n as usize
            }
        };
        if written != padded {
            return Err(format!(
                "{}: short write: {written} of {padded} bytes",
                self.path.display()
            ));
        }
        Ok(())
    }

    /// fdatasync: everything written to the file before the call is durable
    /// when it returns Ok.
    pub async fn sync(&self, issue: Issue) -> Result<(), String> {
        let err = |e: String| format!("{}: {e}", self.path.display());
        let ticket = faults::sync_starts(&self.path).map_err(|e| err(e.to_string()))?;
        match issue {
            Issue::Ring => self
                .file
                .fdatasync()
                .await
                .map_err(|e| err(e.to_string()))?,
            Issue::Blocking => {
                use std::os::unix::io::AsRawFd;
                // SAFETY: a plain system call on the file's own descriptor.
                if unsafe { libc::fdatasync(self.file.as_raw_fd()) } != 0 {
                    return Err(err(std::io::Error::last_os_error().to_string()));
                }
            }
        }
        faults::synced(&self.path, ticket);
        Ok(())
    }

    /// Reserves space for the file up to `size` bytes, so most syncs need
    /// no block allocation. Only an optimization: skipped when the disk is
    /// nearly full (a failed reservation can leave blocks taken that a
    /// write, or the manifest, then lacks). The file keeps its size — the
    /// bytes written — so replay ends where the data does.
    pub async fn reserve(&self, size: u64) -> bool {
        use std::os::unix::io::AsRawFd;
        // SAFETY: fstatvfs fills the struct we pass, for a descriptor we own.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        let free = if unsafe { libc::fstatvfs(self.file.as_raw_fd(), &mut st) } == 0 {
            st.f_bavail as u64 * st.f_frsize as u64
        } else {
            0
        };
        free >= 4 * size && self.file.pre_allocate(size, true).await.is_ok()
    }

    /// A second, page-cache descriptor of the same file.
    pub fn cached(&self) -> Result<CachedFile, String> {
        CachedFile::open(&self.path)
    }

    pub async fn close(self) -> Result<(), String> {
        self.file
            .close()
            .await
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// A data file written through the page cache.
pub struct CachedFile {
    file: File,
    path: PathBuf,
}

impl CachedFile {
    /// Opens an existing file for writing.
    pub fn open(path: &Path) -> Result<CachedFile, String> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(CachedFile {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Creates `path`, or empties it if it exists.
    pub fn create(path: &Path) -> Result<CachedFile, String> {
        faults::created(path);
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(CachedFile {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn write_all_at(&self, data: &[u8], pos: u64) -> Result<(), String> {
        faults::write(&self.path, pos, data)
            .and_then(|()| self.file.write_all_at(data, pos))
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// fdatasync, as `DirectFile::sync`.
    pub fn sync(&self) -> Result<(), String> {
        let err = |e: std::io::Error| format!("{}: {e}", self.path.display());
        let ticket = faults::sync_starts(&self.path).map_err(err)?;
        self.file.sync_data().map_err(err)?;
        faults::synced(&self.path, ticket);
        Ok(())
    }
}

/// Sequential writes into a `CachedFile`, for `std::io::BufWriter`.
pub struct Appender {
    pub file: CachedFile,
    pub pos: u64,
}

impl std::io::Write for Appender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.file
            .write_all_at(data, self.pos)
            .map_err(std::io::Error::other)?;
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `bytes` as the whole content of `path`, atomically and durably:
/// a temporary file, synced, renamed into place.
pub fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let file = CachedFile::create(&tmp)?;
    file.write_all_at(bytes, 0)?;
    file.sync()?;
    publish(&tmp, path)
}

/// Cuts `path` to `len` bytes, durably (a log's bad tail).
pub fn truncate(path: &Path, len: u64) -> Result<(), String> {
    faults::truncated(path);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len).and_then(|_| f.sync_all()))
        .map_err(|e| format!("cannot truncate {}: {e}", path.display()))
}

/// Renames a synced temporary file to its name and makes the rename durable.
pub fn publish(tmp: &Path, path: &Path) -> Result<(), String> {
    faults::renamed(tmp, path);
    std::fs::rename(tmp, path)
        .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
    sync_dir(path)
}

/// fsyncs the directory holding `path`, so a new name in it survives a crash.
pub fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

/// Removes a data file.
pub fn remove(path: &Path) -> std::io::Result<()> {
    faults::removed(path);
    std::fs::remove_file(path)
}

/// Makes sure `dir` exists.
pub fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}
