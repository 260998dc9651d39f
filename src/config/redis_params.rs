//! Redis 7.0's parameters that ringcache does not use (replication,
//! clustering, defragmentation, encodings...): accepted, kept and reported
//! by CONFIG GET, so that scripts, tools and test harnesses written for
//! Redis do not stop at the first of them; each one set logs one warning.
//! The table (`redis-7.0-config.tsv`: name, whether CONFIG SET may change
//! it, its kind, Redis's default) is redis-server 7.0.15's own `CONFIG GET
//! *`, each parameter tried with CONFIG SET (a number that takes `1kb` is a
//! memory value). A name ringcache honours (`params.rs`)
//! is served from there instead. docs/compatibility.md lists both.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

const TABLE: &str = include_str!("redis-7.0-config.tsv");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// CONFIG SET may change it.
    Mutable,
    /// Only at start-up.
    Immutable,
    /// CONFIG SET only where `enable-protected-configs` allows it.
    Protected,
}

/// What a value is, as Redis checks and reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    /// Bytes, given with or without units (`1mb`), reported in bytes.
    Memory,
    /// Words, lists, enums: kept as given.
    Text,
}

pub struct RedisParam {
    pub name: &'static str,
    pub change: Change,
    pub kind: Kind,
    pub default: &'static str,
}

/// Every parameter of Redis 7.0, aliases included (`slave-read-only`).
pub fn all() -> &'static [RedisParam] {
    static ALL: OnceLock<Vec<RedisParam>> = OnceLock::new();
    ALL.get_or_init(|| {
        TABLE
            .lines()
            .filter_map(|line| {
                let mut fields = line.splitn(4, '\t');
                let (name, change) = (fields.next()?, fields.next()?);
                let (kind, default) = (fields.next()?, fields.next()?);
                let kind = match kind {
                    "bool" => Kind::Bool,
                    "int" => Kind::Int,
                    "memory" => Kind::Memory,
                    _ => Kind::Text,
                };
                let change = match change {
                    "immutable" => Change::Immutable,
                    "protected" => Change::Protected,
                    _ => Change::Mutable,
                };
                Some(RedisParam {
                    name,
                    change,
                    kind,
                    default,
                })
            })
            .collect()
    })
}

pub fn find(name: &str) -> Option<&'static RedisParam> {
    all().iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// The name an alias stands for: Redis 7.0 renamed `ziplist` settings to
/// `listpack`, `slave` to `replica` and `lua-time-limit` to
/// `busy-reply-threshold`, and keeps the old names as aliases of one value.
pub fn canonical(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name == "lua-time-limit" {
        return "busy-reply-threshold".into();
    }
    name.replace("ziplist", "listpack")
        .replace("slave", "replica")
}

/// Checks `value` as Redis checks a value of `p`'s kind, and returns it
/// as CONFIG GET will report it.
pub fn check(p: &RedisParam, value: &str) -> Result<String, String> {
    let v = value.trim();
    match p.kind {
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            b @ ("yes" | "no") => Ok(b.to_string()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int => v
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| "argument couldn't be parsed into an integer".into()),
        Kind::Memory => crate::util::parse_memory(v)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::Text => Ok(value.to_string()),
    }
}

/// Logs, once per parameter and in one line, that values were taken for
/// `names` and are not used.
pub fn warn_unused<'a>(names: impl IntoIterator<Item = &'a str>) {
    static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    let warned = warned.get_or_insert_with(HashSet::new);
    let new: Vec<&str> = names
        .into_iter()
        .filter(|n| warned.insert(canonical(n)))
        .collect();
    if !new.is_empty() {
        tracing::warn!(
            "Redis settings ringcache accepts and reports but does not use: {}",
            new.join(", ")
        );
    }
}
