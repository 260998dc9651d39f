//! Durability, per shard: each shard logs the effects of its writes to its own
//! append-only log (`aof`), written with O_DIRECT through io_uring, and takes
//! point-in-time snapshots (`snapshot`) that become the log's base; the
//! `manifest` names which files hold the data. `record` is the on-disk
//! framing they share. Formats and guarantees: docs/aof.md, docs/snapshots.md.

pub mod aof;
pub mod disk;
pub mod manifest;
pub mod rdb;
pub mod record;
pub mod rewrite;
pub mod snapshot;

use std::path::{Path, PathBuf};

/// `ringcache check`: verifies the manifest, every snapshot it names and
/// every log segment, one line each, and lists the files it does not name. With `fix`, cuts each shard's log at its
/// first bad record. Returns the report and whether all is (now) well.
pub fn check(dir: &Path, fix: bool) -> Result<(Vec<String>, bool), String> {
    let mut lines = Vec::new();
    let mut healthy = true;
    // Files the manifest does not name: listed, not verified (no start
    // loads them).
    let mut leftovers = std::collections::HashSet::new();
    match manifest::Manifest::load(dir) {
        Ok(None) => lines.push("manifest: none (a new or pre-manifest data directory)".into()),
        Err(e) => {
            healthy = false;
            lines.push(format!("manifest: {e}"));
        }
        Ok(Some(m)) => {
            lines.push(format!("manifest: ok, {} shards", m.shards.len()));
            // Leftovers are no damage: the next start removes them.
            let named = m.named(dir);
            for p in manifest::unnamed_files(dir, &named, |_, _| true) {
                lines.push(format!(
                    "{}: not named by the manifest (a leftover; the next start removes it)",
                    manifest::relative(dir, &p)
                ));
                leftovers.insert(p);
            }
            for kept in m.shards.iter().flat_map(|f| &f.kept) {
                lines.push(format!(
                    "{kept}: kept (skipped as corrupt at a start; never loaded, never removed)"
                ));
            }
            for p in m.missing_files(dir) {
                healthy = false;
                lines.push(format!(
                    "{}: named by the manifest but missing",
                    p.display()
                ));
            }
            for (i, files) in m.shards.iter().enumerate() {
                // A log base is checked with the segments, below.
                let Some(g) = files.snapshot() else { continue };
                let path = snapshot::path(dir, i, g);
                if !path.exists() {
                    continue;
                }
                let mut scratch = crate::keyspace::Keyspace::new(0, 1, 1);
                match snapshot::load(
                    &path,
                    (i, m.shards.len(), g),
                    &mut scratch,
                    &|_| false,
                    &mut |_| {},
                ) {
                    Ok(l) => lines.push(format!("{}: ok, {} keys", path.display(), l.keys)),
                    Err(e) => {
                        healthy = false;
                        lines.push(e);
                    }
                }
            }
        }
    }
    if dir.join("aof").exists() {
        let (aof_lines, aof_ok) = check_segments(dir, fix, &leftovers)?;
        lines.extend(aof_lines);
        healthy &= aof_ok;
    }
    Ok((lines, healthy))
}

/// `ringcache check`: verifies every segment under `dir`, one line each, and
/// with `fix` cuts each shard's log at its first bad record (later segments of
/// that shard are removed). Files in `skip` (leftovers the manifest does not
/// name) are neither read nor changed. Returns the report and whether all
/// is (now) well.
fn check_segments(
    dir: &Path,
    fix: bool,
    skip: &std::collections::HashSet<PathBuf>,
) -> Result<(Vec<String>, bool), String> {
    let mut lines = Vec::new();
    let mut healthy = true;
    let mut cut_shards = std::collections::HashSet::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("aof"))
        .map_err(|e| format!("{}: {e}", dir.join("aof").display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "aof") && !skip.contains(p))
        .collect();
    files.sort();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shard = name.get(6..9).unwrap_or("?").to_string();
        if cut_shards.contains(&shard) {
            let _ = disk::remove(&path);
            lines.push(format!("{name}: removed (written after a bad record)"));
            continue;
        }
        // The name says the segment's place: its header must agree.
        let sequence = manifest::parse_name("aof", &name).map(|(_, _, g)| g);
        // Records counted are the data's: time labels are left out.
        let mut labels = 0u64;
        let read = aof::read_segment(&path, None, sequence, |_, argv| {
            labels += aof::label_of(&argv).is_some() as u64;
            true
        });
        let bad_at = match read {
            Err(e) => {
                healthy = false;
                lines.push(format!("{name}: unreadable: {e}"));
                continue;
            }
            Ok(
                aof::SegmentEnd::Clean { records, .. } | aof::SegmentEnd::Stopped { records, .. },
            ) => {
                lines.push(format!("{name}: ok, {} records", records - labels));
                continue;
            }
            Ok(aof::SegmentEnd::Torn { records, at }) => {
                lines.push(format!(
                    "{name}: torn tail at offset {at} after {} valid records",
                    records - labels
                ));
                at
            }
            Ok(aof::SegmentEnd::Corrupt { records, at }) => {
                lines.push(format!(
                    "{name}: bad record at offset {at} after {} valid records, valid records follow",
                    records - labels
                ));
                at
            }
        };
        if fix {
            disk::truncate(&path, bad_at)?;
            lines.push(format!("{name}: truncated to {bad_at} bytes"));
            cut_shards.insert(shard);
        } else {
            healthy = false;
        }
    }
    Ok((lines, healthy))
}
