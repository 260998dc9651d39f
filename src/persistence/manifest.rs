//! The manifest: which files hold the data, per shard — its snapshot (if
//! any) and the log segments written after it, in order. Recovery loads
//! exactly these files and nothing else, so a leftover file (a snapshot cut
//! short, a segment from before the last snapshot) is never mixed in.
//!
//! One small text file, `<dir>/manifest`, replaced atomically (temporary
//! file, fsync, rename, directory fsync) each time a shard's files change:
//!
//! ```text
//! ringcache-manifest 1
//! shards 2
//! shard 0 snapshot 7 segments 7 8
//! shard 1 snapshot - segments 1 2
//! crc32c 1a2b3c4d
//! ```
//!
//! Numbers are generations: snapshot `g` is `snapshot/shard-NNN-g.snap`,
//! segment `s` is `aof/shard-NNN-s.aof`; the segment that starts at a
//! snapshot's cut has the snapshot's number.

use super::snapshot;
use std::path::{Path, PathBuf};

const FIRST_LINE: &str = "ringcache-manifest 1";

/// One shard's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardFiles {
    pub snapshot: Option<u64>,
    pub segments: Vec<u64>,
}

impl ShardFiles {
    /// The paths of these files of shard `shard`: its snapshot, then its
    /// segments in order.
    pub fn paths(&self, dir: &Path, shard: usize) -> Vec<PathBuf> {
        self.snapshot
            .map(|g| snapshot::path(dir, shard, g))
            .into_iter()
            .chain(
                self.segments
                    .iter()
                    .map(|&s| super::aof::segment_path(dir, shard, s)),
            )
            .collect()
    }

    /// The number for the next snapshot or segment: above every one in use.
    pub fn next_generation(&self) -> u64 {
        self.segments
            .iter()
            .chain(self.snapshot.iter())
            .max()
            .map_or(1, |g| g + 1)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub shards: Vec<ShardFiles>,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join("manifest")
}

impl Manifest {
    pub fn empty(shards: usize) -> Manifest {
        Manifest {
            shards: vec![ShardFiles::default(); shards],
        }
    }

    /// Reads `<dir>/manifest`; `Ok(None)` if there is none (a new data
    /// directory).
    pub fn load(dir: &Path) -> Result<Option<Manifest>, String> {
        let p = path(dir);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", p.display())),
        };
        Manifest::parse(&text).map(Some).map_err(|e| {
            format!(
                "{}: {e} (the manifest is damaged; `ringcache check` tells more)",
                p.display()
            )
        })
    }

    fn parse(text: &str) -> Result<Manifest, String> {
        let body_end = text
            .rfind("crc32c ")
            .ok_or("no checksum line (the file is truncated)")?;
        let (body, crc_line) = text.split_at(body_end);
        let crc = u32::from_str_radix(crc_line["crc32c ".len()..].trim(), 16)
            .map_err(|_| "unreadable checksum line")?;
        if crc32c::crc32c(body.as_bytes()) != crc {
            return Err("checksum mismatch".into());
        }
        let mut lines = body.lines();
        if lines.next() != Some(FIRST_LINE) {
            return Err(format!("does not start with \"{FIRST_LINE}\""));
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.strip_prefix("shards "))
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0 && n <= crate::router::SLOTS)
            .ok_or("no valid \"shards N\" line")?;
        let mut m = Manifest::empty(count);
        let mut seen = vec![false; count];
        for line in lines {
            let bad = || format!("bad line \"{line}\"");
            let words: Vec<&str> = line.split_whitespace().collect();
            let ["shard", id, "snapshot", snap, "segments", segs @ ..] = words.as_slice() else {
                return Err(bad());
            };
            let id: usize = id.parse().map_err(|_| bad())?;
            if id >= count || std::mem::replace(&mut seen[id], true) {
                return Err(bad());
            }
            let number = |w: &str| w.parse::<u64>().map_err(|_| bad());
            m.shards[id] = ShardFiles {
                snapshot: if *snap == "-" {
                    None
                } else {
                    Some(number(snap)?)
                },
                segments: segs.iter().map(|w| number(w)).collect::<Result<_, _>>()?,
            };
        }
        Ok(m)
    }

    fn render(&self) -> String {
        let mut s = format!("{FIRST_LINE}\nshards {}\n", self.shards.len());
        for (i, f) in self.shards.iter().enumerate() {
            let snap = f.snapshot.map_or("-".into(), |g| g.to_string());
            let segs: Vec<String> = f.segments.iter().map(u64::to_string).collect();
            s.push_str(&format!(
                "shard {i} snapshot {snap} segments {}\n",
                segs.join(" ")
            ));
        }
        let crc = crc32c::crc32c(s.as_bytes());
        s.push_str(&format!("crc32c {crc:08x}\n"));
        s
    }

    /// Replaces `<dir>/manifest` atomically and durably.
    pub fn store(&self, dir: &Path) -> Result<(), String> {
        use std::io::Write;
        let p = path(dir);
        let tmp = p.with_extension("tmp");
        let io = |e: std::io::Error| format!("cannot write {}: {e}", tmp.display());
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(self.render().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        snapshot::publish(&tmp, &p)
    }

    /// Every file the manifest names that is missing, as paths.
    pub fn missing_files(&self, dir: &Path) -> Vec<PathBuf> {
        (0..self.shards.len())
            .flat_map(|i| self.shards[i].paths(dir, i))
            .filter(|p| !p.exists())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = Manifest {
            shards: vec![
                ShardFiles {
                    snapshot: Some(7),
                    segments: vec![7, 8],
                },
                ShardFiles::default(),
            ],
        };
        let text = m.render();
        assert_eq!(Manifest::parse(&text), Ok(m.clone()));
        assert_eq!(m.shards[0].next_generation(), 9);
        assert_eq!(m.shards[1].next_generation(), 1);
        assert!(Manifest::parse(&text.replace("segments 7 8", "segments 7 9")).is_err());
        assert!(Manifest::parse(&text[..text.len() - 12]).is_err());
    }
}
