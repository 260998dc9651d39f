//! Durability, per shard: each shard logs the effects of its writes to its own
//! append-only log (`aof`), written with O_DIRECT through io_uring, and takes
//! point-in-time snapshots (`snapshot`) that become the log's base; the
//! `manifest` names which files hold the data. `record` is the on-disk
//! framing they share. Formats and guarantees: docs/aof.md, docs/snapshots.md.

pub mod aof;
pub mod disk;
pub mod manifest;
pub mod record;
pub mod rewrite;
pub mod snapshot;

use std::path::Path;

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
        let (aof_lines, aof_ok) = aof::check(dir, fix, &leftovers)?;
        lines.extend(aof_lines);
        healthy &= aof_ok;
    }
    Ok((lines, healthy))
}
