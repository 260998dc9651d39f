//! Where a command's keys are, from Redis 7's key specifications (the
//! `key_specs` of COMMAND INFO, embedded with the command table): ACL checks
//! every key a command names with it, and COMMAND GETKEYS / GETKEYSANDFLAGS
//! answer from it. The search is Redis's (`getKeysUsingKeySpecs`): a spec
//! begins at an index or after a keyword, then takes a range or a counted
//! run of keys. Where the specs cannot say (SORT's STORE, a bad key count)
//! Redis falls back to one function per command; SORT's (`sort_store`) and
//! MIGRATE's (`migrate_keys`) are written here too, the others find no
//! keys, and the command then fails on its own arguments.

use bytes::Bytes;
use serde_json::Value as Json;

/// One key specification.
#[derive(Clone, Debug)]
pub struct KeySpec {
    /// RO/RW/OW/RM and access/update/insert/delete, as Redis names them.
    pub flags: Vec<String>,
    pub notes: Option<String>,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

#[derive(Clone, Debug)]
pub enum BeginSearch {
    /// The key run starts at this argument.
    Index(usize),
    /// After the first `keyword` found from `start_from` (negative: from
    /// the end, searching backwards).
    Keyword { keyword: String, start_from: i64 },
    /// Only the command itself knows (SORT's STORE).
    Unknown,
}

#[derive(Clone, Debug)]
pub enum FindKeys {
    /// Keys up to `last_key` (relative to the start; negative: from the
    /// end of the arguments, or, with `limit`, that fraction of them).
    Range {
        last_key: i64,
        step: usize,
        limit: i64,
    },
    /// A count at `count_at` (relative to the start), the first key
    /// `first` after the start.
    Count {
        count_at: usize,
        first: usize,
        step: usize,
    },
    Unknown,
}

/// A key a command names: its argument and Redis's flags for what the
/// command does with it (RO/RW/OW/RM, access/update/insert/delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key<'a> {
    pub at: usize,
    pub flags: Vec<&'a str>,
}

impl Key<'_> {
    /// Whether the command reads and whether it writes the key, as Redis's
    /// ACL derives them (`%R~`, `%W~`): `access` reads; `insert`, `update`,
    /// `delete` write; none of them is both.
    pub fn reads_writes(&self) -> (bool, bool) {
        let has = |f: &str| self.flags.contains(&f);
        let read = has("access");
        let write = has("insert") || has("update") || has("delete");
        if read || write {
            (read, write)
        } else {
            (true, true)
        }
    }
}

impl KeySpec {
    /// Parses one spec of COMMAND INFO's JSON; `None` if it is malformed
    /// (the embedded table is not).
    pub fn from_json(v: &Json) -> Option<KeySpec> {
        let spec = |part: &str| &v[part]["spec"];
        let int = |j: &Json, k: &str| j[k].as_i64();
        let begin = match v["begin_search"]["type"].as_str()? {
            "index" => BeginSearch::Index(int(spec("begin_search"), "index")? as usize),
            "keyword" => BeginSearch::Keyword {
                keyword: spec("begin_search")["keyword"].as_str()?.to_string(),
                start_from: int(spec("begin_search"), "startfrom")?,
            },
            _ => BeginSearch::Unknown,
        };
        let s = spec("find_keys");
        let find = match v["find_keys"]["type"].as_str()? {
            "range" => FindKeys::Range {
                last_key: int(s, "lastkey")?,
                step: int(s, "keystep")? as usize,
                limit: int(s, "limit")?,
            },
            "keynum" => FindKeys::Count {
                count_at: int(s, "keynumidx")? as usize,
                first: int(s, "firstkey")? as usize,
                step: int(s, "keystep")? as usize,
            },
            _ => FindKeys::Unknown,
        };
        let flags = v["flags"]
            .as_array()?
            .iter()
            .filter_map(|f| f.as_str().map(String::from))
            .collect();
        Some(KeySpec {
            flags,
            notes: v["notes"].as_str().map(String::from),
            begin,
            find,
        })
    }

    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The positions of this spec's keys in `args`; `Err` when the specs
    /// cannot say (Redis's `invalid_spec`), `Ok(empty)` when the keyword
    /// is absent.
    fn positions(&self, args: &[Bytes]) -> Result<Vec<usize>, ()> {
        let argc = args.len();
        let first = match &self.begin {
            BeginSearch::Index(i) => *i,
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => {
                // Forwards to the last argument but one, or backwards to
                // the second (Redis's loop bounds).
                let found = if *start_from > 0 {
                    (*start_from as usize..argc.saturating_sub(1))
                        .find(|&i| args[i].eq_ignore_ascii_case(keyword.as_bytes()))
                } else {
                    let from = argc as i64 + start_from;
                    (1..=from.max(0) as usize)
                        .rev()
                        .take_while(|&i| i < argc)
                        .find(|&i| args[i].eq_ignore_ascii_case(keyword.as_bytes()))
                };
                match found {
                    Some(i) => i + 1,
                    None => return Ok(Vec::new()),
                }
            }
            BeginSearch::Unknown => return Err(()),
        };
        let (first, last, step) = match self.find {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                let last = if last_key >= 0 {
                    first as i64 + last_key
                } else if limit == 0 {
                    argc as i64 + last_key
                } else {
                    first as i64 + ((argc as i64 - first as i64) / limit + last_key)
                };
                (first as i64, last, step)
            }
            FindKeys::Count {
                count_at,
                first: first_key,
                step,
            } => {
                let count = args
                    .get(first + count_at)
                    .and_then(|a| crate::util::parse_i64(a))
                    .filter(|n| *n >= 0)
                    .ok_or(())?;
                let start = (first + first_key) as i64;
                (start, start.saturating_add(count) - 1, step)
            }
            FindKeys::Unknown => return Err(()),
        };
        // Out of bounds is a syntax error: the command reports it.
        if last >= argc as i64 || last < first || first >= argc as i64 || step == 0 {
            return Err(());
        }
        let positions = (first as usize..=last as usize).step_by(step).collect();
        if self.has("incomplete") {
            return Err(());
        }
        Ok(positions)
    }
}

/// Every key `args` names, as Redis finds them for ACL and COMMAND
/// GETKEYS; empty when the command names none (or its arguments are wrong,
/// which it reports itself).
pub fn keys<'a>(name: &str, specs: &'a [KeySpec], args: &[Bytes]) -> Vec<Key<'a>> {
    let real: Vec<&KeySpec> = specs.iter().filter(|s| !s.has("not_key")).collect();
    let variable = real.iter().any(|s| s.has("variable_flags"));
    if !real.is_empty() && !variable {
        let mut found = Vec::new();
        let all = real.iter().try_for_each(|s| {
            let flags: Vec<&str> = s.flags.iter().map(String::as_str).collect();
            let at = s.positions(args)?;
            found.extend(at.into_iter().map(|at| Key {
                at,
                flags: flags.clone(),
            }));
            Ok::<(), ()>(())
        });
        if all.is_ok() {
            return found;
        }
    }
    // Redis's per-command key functions, where the specs cannot say.
    let key = |at: usize, flags: &[&'static str]| Key {
        at,
        flags: flags.to_vec(),
    };
    const READ: &[&str] = &["RO", "access"];
    const READ_WRITE: &[&str] = &["RW", "access", "update"];
    match name {
        "sort" | "sort_ro" if args.len() > 1 => {
            let store = sort_store(args).map(|at| key(at, &["OW", "update"]));
            [key(1, READ)].into_iter().chain(store).collect()
        }
        // The key at 3, or every key after KEYS (Redis's `migrateGetKeys`,
        // which skips the arguments of AUTH and AUTH2).
        "migrate" if args.len() > 3 => {
            let keys = match migrate_keys(args) {
                // KEYS wants the key argument empty: no keys otherwise.
                Some(_) if !args[3].is_empty() => 0..0,
                Some(first) => first..args.len(),
                None => 3..4,
            };
            keys.map(|at| key(at, &["RW", "access", "delete"]))
                .collect()
        }
        // SET writes the key, and reads it too with GET.
        "set" if args.len() > 1 => {
            let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            vec![key(1, if get { READ_WRITE } else { &["OW", "update"] })]
        }
        "bitfield" if args.len() > 1 => {
            vec![key(
                1,
                if bitfield_reads_only(args) {
                    READ
                } else {
                    READ_WRITE
                },
            )]
        }
        _ => Vec::new(),
    }
}

/// BITFIELD key with only GET (and OVERFLOW) operations, well formed
/// (Redis's `bitfieldGetKeys`: anything else may write).
fn bitfield_reads_only(args: &[Bytes]) -> bool {
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let is = |w: &[u8]| args[i].eq_ignore_ascii_case(w);
        if is(b"get") && left >= 2 {
            i += 2;
        } else if is(b"overflow") && left >= 1 {
            i += 1;
        } else {
            return false;
        }
        i += 1;
    }
    true
}

/// Where MIGRATE's KEYS option starts its keys, if it has one.
fn migrate_keys(args: &[Bytes]) -> Option<usize> {
    let mut i = 6;
    while i < args.len() {
        let is = |w: &[u8]| args[i].eq_ignore_ascii_case(w);
        if is(b"keys") {
            return Some(i + 1);
        }
        i += if is(b"auth") {
            2
        } else if is(b"auth2") {
            3
        } else {
            1
        };
    }
    None
}

/// SORT key [BY p] [LIMIT o c] [GET p ...] [ASC|DESC] [ALPHA] [STORE dest]:
/// the last STORE's destination (Redis's `sortGetKeys`, which skips the
/// arguments of LIMIT, GET and BY, and not STORE's).
fn sort_store(args: &[Bytes]) -> Option<usize> {
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let skip = [("limit", 2), ("get", 1), ("by", 1)]
            .iter()
            .find(|(w, _)| args[i].eq_ignore_ascii_case(w.as_bytes()))
            .map(|(_, n)| *n);
        match skip {
            Some(n) => i += n,
            None if args[i].eq_ignore_ascii_case(b"store") && i + 1 < args.len() => {
                store = Some(i + 1)
            }
            None => {}
        }
        i += 1;
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ').map(|a| Bytes::from(a.to_string())).collect()
    }

    fn spec(json: &str) -> KeySpec {
        KeySpec::from_json(&serde_json::from_str(json).unwrap()).unwrap()
    }

    fn positions(specs: &[KeySpec], name: &str, a: &str) -> Vec<usize> {
        keys(name, specs, &args(a))
            .into_iter()
            .map(|k| k.at)
            .collect()
    }

    #[test]
    fn counted_keys_follow_their_count() {
        let zunion = spec(
            r#"{"flags":["RO","access"],"begin_search":{"type":"index","spec":{"index":1}},
                "find_keys":{"type":"keynum","spec":{"keynumidx":0,"firstkey":1,"keystep":1}}}"#,
        );
        let s = [zunion];
        assert_eq!(positions(&s, "zunion", "zunion 2 a b WITHSCORES"), [2, 3]);
        // More keys than arguments, a bad or negative count: none found.
        assert!(positions(&s, "zunion", "zunion 3 a").is_empty());
        assert!(positions(&s, "zunion", "zunion x a").is_empty());
        assert!(positions(&s, "zunion", "zunion -1 a").is_empty());
    }

    #[test]
    fn keyword_ranges_split_by_their_limit() {
        let xread = spec(
            r#"{"flags":["RO","access"],"begin_search":{"type":"keyword","spec":{"keyword":"STREAMS","startfrom":1}},
                "find_keys":{"type":"range","spec":{"lastkey":-1,"keystep":1,"limit":2}}}"#,
        );
        let s = [xread];
        assert_eq!(
            positions(&s, "xread", "xread COUNT 2 streams a b 1 2"),
            [4, 5]
        );
        assert!(positions(&s, "xread", "xread COUNT 2").is_empty());
    }

    #[test]
    fn sort_finds_the_last_store_past_option_arguments() {
        assert_eq!(positions(&[], "sort", "sort k by store get store"), [1]);
        assert_eq!(positions(&[], "sort", "sort k limit 0 1 store d"), [1, 6]);
    }

    #[test]
    fn set_reads_only_with_get() {
        let set = spec(
            r#"{"flags":["RW","access","update","variable_flags"],"begin_search":{"type":"index","spec":{"index":1}},
                "find_keys":{"type":"range","spec":{"lastkey":0,"keystep":1,"limit":0}}}"#,
        );
        let uses = |a: &str| keys("set", std::slice::from_ref(&set), &args(a))[0].reads_writes();
        assert_eq!(uses("set k v"), (false, true));
        assert_eq!(uses("set k v GET"), (true, true));
    }
}
