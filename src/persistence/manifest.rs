//! The manifest: which files hold the data, per shard — its base (if any: a
//! snapshot, or in AOF-only mode a log of commands) and the log segments
//! written after it, in order. Recovery loads exactly these files and
//! nothing else, so a leftover file (a base cut short, a segment from before
//! the last base) is never mixed in.
//!
//! One small text file, `<dir>/manifest`, replaced atomically (temporary
//! file, fsync, rename, directory fsync) each time a shard's files change:
//!
//! ```text
//! ringcache-manifest 1
//! shards 3
//! shard 0 snapshot 7 segments 7 8
//! shard 1 snapshot - segments 1 2
//! shard 2 log-base 5 segments 5
//! crc32c 1a2b3c4d
//! ```
//!
//! After its segments, a shard's line may say `split <below> <pending> …`:
//! which split writes its base holds (`SplitCut`). It may end with
//! `kept <path> …`: files skipped as corrupt at
//! a start (`--snapshot-load-corrupt start-empty`), left in place for
//! inspection, never loaded and never deleted (paths relative to the data
//! directory). Every other file of the server's own naming under `aof/` and
//! `snapshot/` that the manifest does not name is a leftover
//! (`unnamed_files`): start-up and checkpoints remove it.
//!
//! Numbers are generations: snapshot `g` is `snapshot/shard-NNN-g.snap`,
//! log base `g` is `aof/shard-NNN-g-base.aof`, segment `s` is
//! `aof/shard-NNN-s.aof`; the segment that starts at a base's cut has the
//! base's number. (Manifests written before log bases existed say
//! `snapshot` on every line, and load unchanged.)

use super::{disk, snapshot};
use std::path::{Path, PathBuf};

const FIRST_LINE: &str = "ringcache-manifest 1";

/// What a shard's segments follow: the state at a cut, in one of two forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// A snapshot file (the hybrid, and snapshot-only mode).
    Snapshot(u64),
    /// A log of commands that rebuild every key (AOF-only mode: Redis's
    /// rewritten AOF without the RDB preamble).
    Log(u64),
}

impl Base {
    pub fn generation(self) -> u64 {
        match self {
            Base::Snapshot(g) | Base::Log(g) => g,
        }
    }

    pub fn path(self, dir: &Path, shard: usize) -> PathBuf {
        match self {
            Base::Snapshot(g) => snapshot::path(dir, shard, g),
            Base::Log(g) => super::aof::base_path(dir, shard, g),
        }
    }
}

/// One shard's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardFiles {
    pub base: Option<Base>,
    pub segments: Vec<u64>,
    /// Files skipped as corrupt, kept for inspection (see the module
    /// comment): relative to the data directory.
    pub kept: Vec<String>,
    /// Which split writes the base holds (`shard::split`).
    pub split: SplitCut,
}

/// Which split writes (multi-key writes whose parts ran on several shards,
/// `shard::split`) a base holds its part of: those with an id below
/// `below`, except `pending`, whose part on this shard ran after the cut.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SplitCut {
    pub below: u64,
    pub pending: Vec<u64>,
}

impl SplitCut {
    pub fn holds(&self, id: u64) -> bool {
        id < self.below && !self.pending.contains(&id)
    }
}

/// The kinds of file the server names itself (`parse_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Snapshot,
    Segment,
    LogBase,
}

/// The directories, under the data directory, that hold data files.
pub const DATA_SUBDIRS: [&str; 2] = ["aof", "snapshot"];

/// Reads a data file's name as the server writes them —
/// `snapshot/shard-NNN-G.snap`, `aof/shard-NNN-G.aof`,
/// `aof/shard-NNN-G-base.aof` — into its kind, shard and generation; None
/// for any other name (the operator's files, `*.tmp`).
pub fn parse_name(sub: &str, name: &str) -> Option<(FileKind, usize, u64)> {
    let rest = name.strip_prefix("shard-")?;
    let (kind, rest) = match sub {
        "snapshot" => (FileKind::Snapshot, rest.strip_suffix(".snap")?),
        "aof" => match rest.strip_suffix("-base.aof") {
            Some(r) => (FileKind::LogBase, r),
            None => (FileKind::Segment, rest.strip_suffix(".aof")?),
        },
        _ => return None,
    };
    let (shard, generation) = rest.split_once('-')?;
    let digits = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
    if !digits(shard) || !digits(generation) {
        return None;
    }
    Some((kind, shard.parse().ok()?, generation.parse().ok()?))
}

/// `parse_name` of a path relative to the data directory (`aof/…`).
fn parse_relative(path: &str) -> Option<(FileKind, usize, u64)> {
    let (sub, name) = path.split_once('/')?;
    parse_name(sub, name)
}

/// `path` relative to `dir`, as the manifest writes it.
pub fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

impl ShardFiles {
    /// The paths of these files of shard `shard`: its base, then its
    /// segments in order.
    pub fn paths(&self, dir: &Path, shard: usize) -> Vec<PathBuf> {
        self.base
            .map(|b| b.path(dir, shard))
            .into_iter()
            .chain(
                self.segments
                    .iter()
                    .map(|&s| super::aof::segment_path(dir, shard, s)),
            )
            .collect()
    }

    /// The snapshot's generation, if the base is one.
    pub fn snapshot(&self) -> Option<u64> {
        match self.base {
            Some(Base::Snapshot(g)) => Some(g),
            _ => None,
        }
    }

    /// The log base's generation, if the base is one.
    pub fn log_base(&self) -> Option<u64> {
        match self.base {
            Some(Base::Log(g)) => Some(g),
            _ => None,
        }
    }

    /// The number for the next base or segment: above every one in use,
    /// and above every kept file's, so that no new file takes a kept one's
    /// name.
    pub fn next_generation(&self) -> u64 {
        self.segments
            .iter()
            .copied()
            .chain(self.base.map(Base::generation))
            .chain(
                self.kept
                    .iter()
                    .filter_map(|p| parse_relative(p).map(|(_, _, g)| g)),
            )
            .max()
            .map_or(1, |g| g + 1)
    }

    /// The kept files, as paths.
    pub fn kept_paths(&self, dir: &Path) -> Vec<PathBuf> {
        self.kept.iter().map(|p| dir.join(p)).collect()
    }

    /// Every file these name: loaded ones and kept ones.
    pub fn all_paths(&self, dir: &Path, shard: usize) -> Vec<PathBuf> {
        let mut paths = self.paths(dir, shard);
        paths.extend(self.kept_paths(dir));
        paths
    }
}

/// The data files under `dir` of the server's own naming (`parse_name`)
/// that `named` does not hold and whose (shard, generation) `pick` accepts:
/// leftovers of an interrupted deletion, of a re-sharding, of a log cut at
/// a bad record.
pub fn unnamed_files(
    dir: &Path,
    named: &std::collections::HashSet<PathBuf>,
    pick: impl Fn(usize, u64) -> bool,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for sub in DATA_SUBDIRS {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some((_, shard, generation)) = parse_name(sub, &name) else {
                continue;
            };
            let path = dir.join(sub).join(&name);
            if pick(shard, generation) && !named.contains(&path) && path.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Removes `paths` (files nothing names any more), logging each.
pub fn remove_files(paths: &[PathBuf], why: &str) {
    for path in paths {
        match disk::remove(path) {
            Ok(()) => tracing::info!("removed {} ({why})", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
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
            let ["shard", id, kind, base, "segments", segs @ ..] = words.as_slice() else {
                return Err(bad());
            };
            let id: usize = id.parse().map_err(|_| bad())?;
            if id >= count || std::mem::replace(&mut seen[id], true) {
                return Err(bad());
            }
            let number = |w: &str| w.parse::<u64>().map_err(|_| bad());
            let (segs, kept) = match segs.iter().position(|w| *w == "kept") {
                Some(at) => (&segs[..at], &segs[at + 1..]),
                None => (segs, &[][..]),
            };
            let (segs, split) = match segs.iter().position(|w| *w == "split") {
                Some(at) => (&segs[..at], &segs[at + 1..]),
                None => (segs, &[][..]),
            };
            let split = match split.split_first() {
                None => SplitCut::default(),
                Some((below, pending)) => SplitCut {
                    below: number(below)?,
                    pending: pending
                        .iter()
                        .map(|w| number(w))
                        .collect::<Result<_, _>>()?,
                },
            };
            // A kept file is one of the server's own, under the data
            // directory: nothing else may be named (or protected) here.
            if kept.iter().any(|p| parse_relative(p).is_none()) {
                return Err(bad());
            }
            m.shards[id] = ShardFiles {
                base: match (*kind, *base) {
                    ("snapshot", "-") => None,
                    ("snapshot", g) => Some(Base::Snapshot(number(g)?)),
                    ("log-base", g) => Some(Base::Log(number(g)?)),
                    _ => return Err(bad()),
                },
                segments: segs.iter().map(|w| number(w)).collect::<Result<_, _>>()?,
                kept: kept.iter().map(|p| p.to_string()).collect(),
                split,
            };
        }
        Ok(m)
    }

    fn render(&self) -> String {
        let mut s = format!("{FIRST_LINE}\nshards {}\n", self.shards.len());
        for (i, f) in self.shards.iter().enumerate() {
            let base = match f.base {
                None => "snapshot -".to_string(),
                Some(Base::Snapshot(g)) => format!("snapshot {g}"),
                Some(Base::Log(g)) => format!("log-base {g}"),
            };
            let segs: Vec<String> = f.segments.iter().map(u64::to_string).collect();
            let kept = if f.kept.is_empty() {
                String::new()
            } else {
                format!(" kept {}", f.kept.join(" "))
            };
            let split = if f.split == SplitCut::default() {
                String::new()
            } else {
                let pending: String = f.split.pending.iter().map(|id| format!(" {id}")).collect();
                format!(" split {}{pending}", f.split.below)
            };
            s.push_str(&format!(
                "shard {i} {base} segments {}{split}{kept}\n",
                segs.join(" ")
            ));
        }
        let crc = crc32c::crc32c(s.as_bytes());
        s.push_str(&format!("crc32c {crc:08x}\n"));
        s
    }

    /// Replaces `<dir>/manifest` atomically and durably.
    pub fn store(&self, dir: &Path) -> Result<(), String> {
        disk::replace_file(&path(dir), self.render().as_bytes())
    }

    /// Every file the manifest names, loaded or kept.
    pub fn named(&self, dir: &Path) -> std::collections::HashSet<PathBuf> {
        (0..self.shards.len())
            .flat_map(|i| self.shards[i].all_paths(dir, i))
            .collect()
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
                    base: Some(Base::Snapshot(7)),
                    segments: vec![7, 8],
                    kept: Vec::new(),
                    split: SplitCut {
                        below: 40,
                        pending: vec![31, 38],
                    },
                },
                ShardFiles::default(),
                ShardFiles {
                    base: Some(Base::Log(12)),
                    segments: vec![12],
                    kept: vec!["snapshot/shard-002-00000011.snap".into()],
                    split: SplitCut {
                        below: 9,
                        pending: vec![],
                    },
                },
            ],
        };
        let text = m.render();
        assert!(
            text.contains(
                "shard 2 log-base 12 segments 12 split 9 kept snapshot/shard-002-00000011.snap\n"
            ),
            "{text}"
        );
        assert!(text.contains("shard 0 snapshot 7 segments 7 8 split 40 31 38\n"));
        assert_eq!(Manifest::parse(&text), Ok(m.clone()));
        assert_eq!(m.shards[0].next_generation(), 9);
        assert_eq!(m.shards[1].next_generation(), 1);
        assert_eq!(m.shards[2].next_generation(), 13);
        assert!(Manifest::parse(&text.replace("segments 7 8", "segments 7 9")).is_err());
        assert!(Manifest::parse(&text[..text.len() - 12]).is_err());
        // Only the server's own file names may be kept.
        let mut other = m.clone();
        other.shards[2].kept = vec!["../etc/passwd".into()];
        assert!(Manifest::parse(&other.render()).is_err());
    }

    #[test]
    fn data_file_names() {
        assert_eq!(
            parse_name("aof", "shard-001-00000007.aof"),
            Some((FileKind::Segment, 1, 7))
        );
        assert_eq!(
            parse_name("aof", "shard-000-00000012-base.aof"),
            Some((FileKind::LogBase, 0, 12))
        );
        assert_eq!(
            parse_name("snapshot", "shard-1024-123456789.snap"),
            Some((FileKind::Snapshot, 1024, 123456789))
        );
        for (sub, name) in [
            ("aof", "shard-001-00000007.aof.tmp"),
            ("aof", "notes.txt"),
            ("aof", "shard-001-.aof"),
            ("snapshot", "shard-001-00000007.aof"),
            ("aof", "shard-x-1.aof"),
        ] {
            assert_eq!(parse_name(sub, name), None, "{sub}/{name}");
        }
    }

    #[test]
    fn manifests_from_before_log_bases_load() {
        let body = "ringcache-manifest 1\nshards 2\nshard 0 snapshot 7 segments 7 8\nshard 1 snapshot - segments 1 2\n";
        let text = format!("{body}crc32c {:08x}\n", crc32c::crc32c(body.as_bytes()));
        let m = Manifest::parse(&text).expect("an older manifest");
        assert_eq!(m.shards[0].base, Some(Base::Snapshot(7)));
        assert_eq!(m.shards[0].snapshot(), Some(7));
        assert_eq!(m.shards[1].base, None);
        assert_eq!(m.shards[1].segments, [1, 2]);
        assert_eq!(m.render(), text);
    }
}
