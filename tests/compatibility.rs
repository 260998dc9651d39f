//! What ringcache says about itself against what redis-server 7.0 says:
//! COMMAND's metadata (INFO, DOCS, COUNT, LIST with every FILTERBY,
//! GETKEYS, GETKEYSANDFLAGS, HELP) for every command and subcommand
//! ringcache serves, in RESP2 and RESP3; MEMORY STATS / DOCTOR /
//! MALLOC-STATS / HELP in Redis's shape; every subcommand COMMAND lists is
//! served and no other; and docs/compatibility.md, generated from the
//! server's own COMMAND LIST and the configuration table, is current
//! (`RINGCACHE_BLESS=1 cargo test --release --test compatibility` rewrites
//! it). The only normalisation is the order Redis leaves to its dicts' hash
//! seed (commands and subcommands: it changes with every redis-server
//! process) and the subcommands ringcache does not serve (or Redis 7.0 does
//! not have: CLIENT SETINFO), which are left out on both sides. The
//! differential tests are skipped, with a message, when redis-server is not
//! installed (`tests/run.sh` installs it).

mod common;

use common::{both, parsed, Raw, Server};
use redis::Value as V;
use serde_json::Value as Json;
use std::collections::BTreeSet;

/// Subcommands ringcache serves that Redis 7.0 does not have.
const NEWER_THAN_7_0: &[&str] = &["client|setinfo"];

fn text(v: &V) -> String {
    match v {
        V::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        V::SimpleString(s) => s.clone(),
        V::Okay => "OK".into(),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(v: &V) -> Vec<V> {
    match v {
        V::Array(a) | V::Set(a) => a.clone(),
        other => panic!("not an array: {other:?}"),
    }
}

fn names(v: &V) -> Vec<String> {
    items(v).iter().map(text).collect()
}

/// A map's pairs (RESP3), or a flat array's (RESP2).
fn pairs(v: &V) -> Vec<(V, V)> {
    match v {
        V::Map(p) => p.clone(),
        V::Array(a) => a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect(),
        other => panic!("not a map: {other:?}"),
    }
}

/// `pairs` put back in the form `like` had.
fn rebuild(like: &V, pairs: Vec<(V, V)>) -> V {
    match like {
        V::Map(_) => V::Map(pairs),
        _ => V::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
    }
}

/// A COMMAND INFO entry with its subcommands in name order, only those
/// `keep` accepts.
fn norm_info(v: &V, keep: &dyn Fn(&str) -> bool) -> V {
    let V::Array(e) = v else {
        return v.clone();
    };
    let mut e = e.clone();
    let mut subs: Vec<V> = items(&e[9])
        .into_iter()
        .filter(|s| keep(&text(&items(s)[0])))
        .collect();
    subs.sort_by_key(|s| text(&items(s)[0]));
    e[9] = match &e[9] {
        V::Set(_) => V::Set(subs),
        _ => V::Array(subs),
    };
    V::Array(e)
}

/// A COMMAND DOCS entry with its subcommands in name order, only those
/// `keep` accepts.
fn norm_docs(v: &V, keep: &dyn Fn(&str) -> bool) -> V {
    let fields = pairs(v)
        .into_iter()
        .map(|(k, val)| {
            if text(&k) != "subcommands" {
                return (k, val);
            }
            let mut subs: Vec<(V, V)> = pairs(&val)
                .into_iter()
                .filter(|(n, _)| keep(&text(n)))
                .collect();
            subs.sort_by_key(|(n, _)| text(n));
            let subs = rebuild(&val, subs);
            (k, subs)
        })
        .collect();
    rebuild(v, fields)
}

/// COMMAND / COMMAND INFO's entries by name, normalised.
fn info_entries(v: &V, keep: &dyn Fn(&str) -> bool) -> Vec<(String, V)> {
    let mut all: Vec<(String, V)> = items(v)
        .iter()
        .map(|e| (text(&items(e)[0]), norm_info(e, keep)))
        .filter(|(n, _)| keep(n))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn docs_entries(v: &V, keep: &dyn Fn(&str) -> bool) -> Vec<(String, V)> {
    let mut all: Vec<(String, V)> = pairs(v)
        .iter()
        .map(|(n, d)| (text(n), norm_docs(d, keep)))
        .filter(|(n, _)| keep(n))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

fn assert_same_entries(what: &str, got: &[(String, V)], want: &[(String, V)]) {
    let (g, w): (Vec<&String>, Vec<&String>) = (
        got.iter().map(|e| &e.0).collect(),
        want.iter().map(|e| &e.0).collect(),
    );
    assert_eq!(g, w, "{what}: the commands listed");
    for ((name, g), (_, w)) in got.iter().zip(want) {
        assert_eq!(g, w, "{what}: {name}");
    }
}

/// Both servers' COMMAND LIST, and the names both know.
struct Listed {
    ours: Vec<String>,
    known: BTreeSet<String>,
}

impl Listed {
    fn of(r: &mut Raw, o: &mut Raw) -> Listed {
        let ours = names(&parsed(&o.cmd(&["COMMAND", "LIST"])));
        let theirs: BTreeSet<String> = names(&parsed(&r.cmd(&["COMMAND", "LIST"])))
            .into_iter()
            .collect();
        let extra: Vec<&str> = ours
            .iter()
            .filter(|n| !theirs.contains(*n))
            .map(String::as_str)
            .collect();
        assert_eq!(
            extra, NEWER_THAN_7_0,
            "ringcache lists what Redis 7.0 lacks"
        );
        let known = ours
            .iter()
            .filter(|n| theirs.contains(*n))
            .cloned()
            .collect();
        Listed { ours, known }
    }

    fn keep(&self) -> impl Fn(&str) -> bool + '_ {
        |n: &str| self.known.contains(n)
    }
}

#[test]
fn command_info_docs_count_and_list_answer_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the COMMAND differential test needs it");
        return;
    };
    let server = Server::start();
    for proto in ["2", "3"] {
        let (mut r, mut o) = (redis.raw(), server.raw());
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        let listed = Listed::of(&mut r, &mut o);
        let keep = listed.keep();
        let top: Vec<&String> = listed.ours.iter().filter(|n| !n.contains('|')).collect();

        // COUNT is what COMMAND lists.
        assert_eq!(o.cmd(&["COMMAND", "COUNT"]), format!(":{}\r\n", top.len()));
        // COMMAND, COMMAND INFO and COMMAND DOCS without names: every
        // command ringcache serves, each as Redis's.
        for args in [&["COMMAND"][..], &["COMMAND", "INFO"]] {
            let got = info_entries(&parsed(&o.cmd(args)), &keep);
            assert_eq!(
                got.len(),
                top.len(),
                "{args:?} lists what COMMAND LIST does"
            );
            let want = info_entries(&parsed(&r.cmd(args)), &keep);
            assert_same_entries(&format!("{args:?} RESP{proto}"), &got, &want);
        }
        let got = docs_entries(&parsed(&o.cmd(&["COMMAND", "DOCS"])), &keep);
        assert_eq!(got.len(), top.len());
        let want = docs_entries(&parsed(&r.cmd(&["COMMAND", "DOCS"])), &keep);
        assert_same_entries(&format!("COMMAND DOCS RESP{proto}"), &got, &want);

        // By name, subcommands too, in the order asked.
        let mut asked: Vec<&str> = listed.known.iter().map(String::as_str).collect();
        asked.extend(["nosuch", "get|x", "config|get|x", "CONFIG|GET", "Get"]);
        for sub in ["INFO", "DOCS"] {
            let mut args = vec!["COMMAND", sub];
            args.extend(&asked);
            let (got, want) = (parsed(&o.cmd(&args)), parsed(&r.cmd(&args)));
            if sub == "INFO" {
                let (got, want) = (items(&got), items(&want));
                assert_eq!(got.len(), want.len());
                for (name, (g, w)) in asked.iter().zip(got.iter().zip(&want)) {
                    let (g, w) = (norm_info(g, &keep), norm_info(w, &keep));
                    assert_eq!(g, w, "COMMAND INFO {name} RESP{proto}");
                }
            } else {
                let norm = |v: &V| -> Vec<(String, V)> {
                    pairs(v)
                        .iter()
                        .map(|(n, d)| (text(n), norm_docs(d, &keep)))
                        .collect()
                };
                assert_same_entries(
                    &format!("COMMAND DOCS RESP{proto}"),
                    &norm(&got),
                    &norm(&want),
                );
            }
        }

        // LIST with each filter: Redis's names, of those ringcache serves.
        // (Redis's names of what ringcache serves; ringcache's all but
        // those Redis 7.0 lacks.)
        let wanted = |names: Vec<String>, ours: bool| -> Vec<String> {
            let mut names: Vec<String> = names
                .into_iter()
                .filter(|n| {
                    if ours {
                        !NEWER_THAN_7_0.contains(&n.as_str())
                    } else {
                        keep(n)
                    }
                })
                .collect();
            names.sort();
            names
        };
        let list = |raw: &mut Raw, filter: &[&str], ours: bool| -> Vec<String> {
            let mut args = vec!["COMMAND", "LIST"];
            args.extend(filter);
            wanted(names(&parsed(&raw.cmd(&args))), ours)
        };
        let categories = names(&parsed(&r.cmd(&["ACL", "CAT"])));
        let mut filters: Vec<Vec<String>> = categories
            .iter()
            .flat_map(|c| [c.clone(), c.to_uppercase()])
            .chain(["nosuch".to_string()])
            .map(|c| vec!["FILTERBY".into(), "ACLCAT".into(), c])
            .collect();
        for pattern in ["*", "x*", "config|*", "*GET*", "[a-c]*", "?et", "client|*"] {
            filters.push(vec!["filterby".into(), "pattern".into(), pattern.into()]);
        }
        filters.push(vec!["FILTERBY".into(), "MODULE".into(), "nosuch".into()]);
        for filter in &filters {
            let filter: Vec<&str> = filter.iter().map(String::as_str).collect();
            let (got, want) = (list(&mut o, &filter, true), list(&mut r, &filter, false));
            assert_eq!(got, want, "{filter:?}");
        }
        // ACL CAT lists a category's commands as LIST FILTERBY ACLCAT does.
        for category in &categories {
            let cat = |raw: &mut Raw, ours: bool| -> Vec<String> {
                wanted(names(&parsed(&raw.cmd(&["ACL", "CAT", category]))), ours)
            };
            assert_eq!(cat(&mut o, true), cat(&mut r, false), "ACL CAT {category}");
        }
        for args in [
            &["COMMAND", "LIST", "FILTERBY"][..],
            &["COMMAND", "LIST", "FILTERBY", "foo", "bar"],
            &["COMMAND", "LIST", "foo"],
            &["COMMAND", "LIST", "FILTERBY", "PATTERN", "a", "b"],
            &["COMMAND", "HELP"],
            &["COMMAND", "help", "x"],
            &["COMMAND", "COUNT", "x"],
            &["COMMAND", "FOO"],
            &["COMMAND", "INFO", "nosuch"],
            &["COMMAND", "DOCS", "nosuch"],
            &["COMMAND", "DOCS", "get", "GET"],
        ] {
            both(&mut r, &mut o, args);
        }
    }
}

/// One call of `name` (`container|sub`) built from its documented
/// arguments: the mandatory ones (`full`: every optional one too, and
/// repeated ones twice), choosing the `choice`-th alternative of each
/// choice (or the last).
fn synthesized_call(name: &str, doc: &Json, full: bool, choice: usize) -> Vec<String> {
    fn add(args: &[Json], full: bool, choice: usize, keys: &mut usize, out: &mut Vec<String>) {
        for a in args {
            let flags = a["flags"].to_string();
            if flags.contains("optional") && !full {
                continue;
            }
            let times = if flags.contains("\"multiple\"") && full {
                2
            } else {
                1
            };
            for time in 0..times {
                let token = a["token"].as_str();
                if let Some(t) = token {
                    if time == 0 || flags.contains("multiple_token") {
                        out.push(t.to_string());
                    }
                }
                match a["type"].as_str().unwrap_or("string") {
                    "pure-token" => {}
                    "key" => {
                        *keys += 1;
                        out.push(format!("key{keys}"));
                    }
                    "integer" => out.push("1".into()),
                    "double" => out.push("1.5".into()),
                    "unix-time" => out.push("1700000000".into()),
                    "pattern" => out.push("p*".into()),
                    "block" => add(a["arguments"].as_array().unwrap(), full, choice, keys, out),
                    "oneof" => {
                        let alts = a["arguments"].as_array().unwrap();
                        let pick = &alts[choice.min(alts.len() - 1)];
                        add(std::slice::from_ref(pick), full, choice, keys, out);
                    }
                    _ => out.push(format!("{}-value", a["name"].as_str().unwrap_or("arg"))),
                }
            }
        }
    }
    let mut out: Vec<String> = name.split('|').map(String::from).collect();
    let mut keys = 0;
    let args = doc["arguments"].as_array().cloned().unwrap_or_default();
    add(&args, full, choice, &mut keys, &mut out);
    out
}

/// Redis 7.0's COMMAND DOCS by full name, from the embedded copy.
fn redis_docs() -> Vec<(String, Json)> {
    let mut all = Vec::new();
    fn add(name: &str, doc: &Json, all: &mut Vec<(String, Json)>) {
        all.push((name.to_string(), doc.clone()));
        for (sub, d) in doc["subcommands"].as_object().into_iter().flatten() {
            add(sub, d, all);
        }
    }
    for line in include_str!("../src/commands/redis-7.0-command-docs.jsonl").lines() {
        let entry: Json = serde_json::from_str(line).unwrap();
        for (name, doc) in entry.as_object().unwrap() {
            add(name, doc, &mut all);
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn command_getkeys_answers_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the GETKEYS differential test needs it");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.raw(), server.raw());
    r.cmd(&["HELLO", "3"]);
    o.cmd(&["HELLO", "3"]);
    let listed = Listed::of(&mut r, &mut o);
    let mut calls: Vec<Vec<String>> = Vec::new();
    for (name, doc) in redis_docs() {
        if !listed.known.contains(&name) {
            continue;
        }
        for (full, choice) in [(false, 0), (true, 0), (true, 1), (true, 9)] {
            calls.push(synthesized_call(&name, &doc, full, choice));
        }
    }
    // Where the specs cannot say, and the errors.
    for call in [
        "sort k store d",
        "sort k by p store d get x",
        "sort k limit 0 1 store",
        "sort_ro k",
        "set k v get",
        "set k v",
        "bitfield k get u8 0",
        "bitfield k set u8 0 1",
        "bitfield k get u8",
        "zunion 3 a b",
        "zunion x a",
        "zunion -1 a",
        "xread count 1 streams a b 0",
        "xread streams a b c",
        "eval s 0",
        "eval s 2 a b c",
        "eval s 3 a",
        "fcall f 1 k",
        "get",
        "ping",
        "nosuch k",
        "config",
        "config nosuch",
        "config get x",
        "xinfo stream s",
        "object encoding k",
        "memory usage k",
        "latency latest",
        "lmpop 2 a b left",
        "georadius k 1 2 3 m store d storedist e",
        "xreadgroup group g c streams a 0",
    ] {
        calls.push(call.split(' ').map(String::from).collect());
    }
    let mut with_keys = 0;
    for call in &calls {
        for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
            let mut args = vec!["COMMAND", sub];
            args.extend(call.iter().map(String::as_str));
            let (want, got) = (r.cmd(&args), o.cmd(&args));
            assert_eq!(got, want, "{args:?}");
            with_keys += got.starts_with('*') as usize;
        }
    }
    // Not only errors: most calls name keys.
    assert!(with_keys > 500, "only {with_keys} calls found keys");
    both(&mut r, &mut o, &["COMMAND", "GETKEYS"]);
}

/// Every subcommand ringcache lists is served by its handler (refused
/// neither as unknown nor as not supported), and every other subcommand of
/// Redis 7.0's table is refused before its handler runs.
#[test]
fn every_listed_subcommand_is_served_and_no_other() {
    let server = Server::start();
    let mut o = server.raw();
    let listed: BTreeSet<String> = names(&parsed(&o.cmd(&["COMMAND", "LIST"])))
        .into_iter()
        .collect();
    let mut redis_subs = BTreeSet::new();
    for line in include_str!("../src/commands/redis-7.0-command-info.jsonl").lines() {
        let entry: Json = serde_json::from_str(line).unwrap();
        for sub in entry[9].as_array().unwrap() {
            redis_subs.insert((
                sub[0].as_str().unwrap().to_string(),
                sub[1].as_i64().unwrap(),
            ));
        }
    }
    let mut checked = 0;
    for (full, arity) in &redis_subs {
        let (container, sub) = full.split_once('|').unwrap();
        if !listed.contains(container) {
            continue;
        }
        // Enough arguments, none that would act: "x" is no valid client,
        // timeout, mode or key.
        let mut args = vec![container, sub];
        args.extend(std::iter::repeat_n("x", arity.unsigned_abs() as usize - 2));
        let reply = o.cmd(&args);
        let refused =
            reply.contains("is not supported by ringcache") || reply.contains("unknown subcommand");
        if listed.contains(full) {
            assert!(!refused, "{full} is listed but refused: {reply}");
            checked += 1;
        } else {
            assert_eq!(
                reply,
                format!(
                    "-ERR {} {} is not supported by ringcache\r\n",
                    container.to_uppercase(),
                    sub.to_uppercase()
                ),
                "{full} is not listed"
            );
        }
    }
    assert!(checked > 50, "only {checked} subcommands checked");
    assert_eq!(o.cmd(&["PING"]), "+PONG\r\n");
}

/// A reply's kind, and a map's field names with their values' kinds.
fn shape(v: &V) -> String {
    match v {
        V::Map(_) => format!(
            "map{{{}}}",
            pairs(v)
                .iter()
                .map(|(k, v)| format!("{}:{}", text(k), shape(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        V::Array(a) => format!(
            "array[{}]",
            a.iter().map(shape).collect::<Vec<_>>().join(",")
        ),
        V::Int(_) => "int".into(),
        V::Double(_) => "double".into(),
        V::BulkString(_) => "bulk".into(),
        V::SimpleString(_) | V::Okay => "status".into(),
        V::VerbatimString { .. } => "verbatim".into(),
        other => format!("{other:?}"),
    }
}

/// MEMORY STATS's shape in RESP2: a flat array of names and values, a
/// database's entry a flat array too; its values as their kinds.
fn stats_shape(v: &V) -> String {
    match v {
        V::Map(_) => shape(v),
        V::Array(_) => {
            let p = pairs(v);
            let fields: Vec<String> = p
                .iter()
                .map(|(k, v)| {
                    let name = text(k);
                    match v {
                        V::Array(_) => format!("{name}:{}", stats_shape(v)),
                        _ => format!("{name}:{}", shape(v)),
                    }
                })
                .collect();
            format!("pairs{{{}}}", fields.join(","))
        }
        other => shape(other),
    }
}

#[test]
fn memory_replies_have_redis_shape() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; the MEMORY differential test needs it");
        return;
    };
    let server = Server::start();
    for proto in ["2", "3"] {
        let (mut r, mut o) = (redis.raw(), server.raw());
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        // Keys in databases 0 and 3: a `db.N` entry each.
        for args in [
            &["FLUSHALL"][..],
            &["SET", "a", "1"],
            &["SET", "b", "2", "EX", "100"],
            &["SELECT", "3"],
            &["SET", "c", "3"],
            &["SELECT", "0"],
        ] {
            both(&mut r, &mut o, args);
        }
        let stats = |raw: &mut Raw| stats_shape(&parsed(&raw.cmd(&["MEMORY", "STATS"])));
        assert_eq!(stats(&mut o), stats(&mut r), "MEMORY STATS RESP{proto}");
        let malloc = |raw: &mut Raw| shape(&parsed(&raw.cmd(&["MEMORY", "MALLOC-STATS"])));
        assert_eq!(
            malloc(&mut o),
            malloc(&mut r),
            "MEMORY MALLOC-STATS RESP{proto}"
        );
        for args in [
            // Both hold far less than the 5 MB the doctor needs.
            &["MEMORY", "DOCTOR"][..],
            &["MEMORY", "HELP"],
            &["MEMORY", "help", "x"],
            &["MEMORY", "STATS", "x"],
            &["MEMORY", "DOCTOR", "x"],
            &["MEMORY", "MALLOC-STATS", "x"],
            &["MEMORY", "FOO"],
            &["MEMORY"],
            &["MEMORY", "USAGE", "nosuch"],
            &["MEMORY", "USAGE", "a", "SAMPLES"],
            &["MEMORY", "PURGE"],
        ] {
            both(&mut r, &mut o, args);
        }
    }
}

/// Why ringcache does not serve a Redis 7.0 command or subcommand (its
/// full name): the issue that owns it, or the reason. `None` for one
/// without a stated reason, which the generator refuses.
fn why_not(name: &str) -> Option<&'static str> {
    let command = name.split('|').next().unwrap_or(name);
    Some(match command {
        "cluster" | "asking" | "readonly" | "readwrite" | "restore-asking" => {
            "Redis Cluster: issue 26"
        }
        "failover" | "psync" | "replconf" | "replicaof" | "slaveof" | "role" | "sync" => {
            "replication: issue 25"
        }
        _ => match name {
            "latency|doctor" | "latency|graph" => {
                "reports drawn for a human; LATENCY LATEST and HISTORY serve their data"
            }
            "script|debug" => "not yet (no Lua debugger)",
            _ => return None,
        },
    })
}

/// A GitHub heading anchor: lowercase, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// What marks a documented difference in docs/*.md: a heading or a
/// sentence with one of these (case ignored).
const DIFFERENCE_MARKS: &[&str] = &[
    "documented difference",
    "known differences",
    "differences:",
    "different from redis",
    "not done / differences",
    "unlike redis",
];

/// The documented differences: (file, section anchor, sentence), in file
/// and line order.
fn documented_differences(docs: &std::path::Path) -> Vec<(String, String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !p.ends_with("compatibility.md"))
        .collect();
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut section = String::new();
        // Paragraphs: a heading, or lines up to a blank one.
        let mut paragraph = String::new();
        let mut flush = |paragraph: &mut String, section: &str| {
            let p = std::mem::take(paragraph);
            let lower = p.to_lowercase();
            let Some(at) = DIFFERENCE_MARKS.iter().filter_map(|m| lower.find(m)).min() else {
                return;
            };
            // The sentence holding the mark, with the one before when it
            // says no more than that ("... A documented difference.").
            let mut start = p[..at].rfind(". ").map_or(0, |i| i + 2);
            let end = p[at..].find(". ").map_or(p.len(), |i| at + i + 1);
            if end - start < 40 && start > 0 {
                start = p[..start - 2].rfind(". ").map_or(0, |i| i + 2);
            }
            let sentence = p[start..end].trim().trim_start_matches("- ").to_string();
            found.push((file.clone(), section.to_string(), sentence));
        };
        let mut in_code = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            if let Some(h) = line.strip_prefix('#') {
                flush(&mut paragraph, &section);
                section = anchor(h.trim_start_matches('#'));
                paragraph = h.trim_start_matches('#').trim().to_string();
                flush(&mut paragraph, &section);
            } else if line.trim().is_empty() || line.starts_with("- ") {
                flush(&mut paragraph, &section);
                paragraph = line.to_string();
            } else {
                paragraph.push(' ');
                paragraph.push_str(line.trim());
            }
        }
        flush(&mut paragraph, &section);
    }
    found
}

/// docs/compatibility.md: every command and subcommand of Redis 7.0, served
/// or not (from the server's own COMMAND LIST: `listed`), the configuration
/// parameters (from the configuration table), and the documented
/// differences (gathered from docs/*.md).
fn compatibility_doc(listed: &BTreeSet<String>, docs_dir: &std::path::Path) -> String {
    use ringcache::config::{self, redis_params};
    use std::fmt::Write;
    let all = redis_docs();
    let served = |name: &str| listed.contains(name);
    let (tops, subs): (Vec<_>, Vec<_>) = all.iter().partition(|(n, _)| !n.contains('|'));
    let count = |v: &[&(String, Json)]| v.iter().filter(|(n, _)| served(n)).count();
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "# Compatibility with Redis 7.0\n").unwrap();
    writeln!(
        w,
        "<!-- Generated by tests/compatibility.rs from the server's own COMMAND LIST, its \
         configuration table and docs/*.md; do not edit. Regenerate with \
         `RINGCACHE_BLESS=1 cargo test --release --test compatibility`. -->\n"
    )
    .unwrap();
    writeln!(
        w,
        "ringcache answers as redis-server 7.0.15: its COMMAND, COMMAND INFO and COMMAND DOCS give \
         Redis's own metadata for what it serves, and leave out what it does not (tests/compatibility.rs \
         checks them against redis-server). It serves {} of Redis 7.0's {} commands and {} of their {} \
         subcommands, and CLIENT SETINFO (Redis 7.2), which clients send on connect. This page is \
         generated: a test fails when it is stale.\n",
        count(&tops),
        tops.len(),
        count(&subs),
        subs.len()
    )
    .unwrap();
    writeln!(w, "## Commands\n").unwrap();
    writeln!(w, "| Command | Group | Served |\n|---|---|---|").unwrap();
    for (name, doc) in &all {
        let status = if served(name) {
            "yes".to_string()
        } else {
            let why = why_not(name).unwrap_or_else(|| {
                panic!("{name} is not served and why_not gives no reason: add one")
            });
            format!("no: {why}")
        };
        let shown = name.replace('|', " ").to_uppercase();
        let group = doc["group"].as_str().unwrap_or("");
        writeln!(w, "| `{shown}` | {group} | {status} |").unwrap();
    }

    writeln!(w, "\n## Configuration parameters\n").unwrap();
    writeln!(
        w,
        "Every parameter of Redis 7.0's `CONFIG GET *` (src/config/redis-7.0-config.tsv) is accepted \
         by CONFIG SET/GET, flags, profiles and a redis.conf. *Honoured* ones change what ringcache \
         does (src/config/params.rs); *read-only* ones report the value ringcache runs with; the \
         others are *accepted and reported* only: kept, shown by CONFIG GET, not used, with one \
         warning in the log the first time one is set (src/config/redis_params.rs).\n"
    )
    .unwrap();
    let mut redis: Vec<&redis_params::RedisParam> = redis_params::all().iter().collect();
    redis.sort_by_key(|p| p.name);
    writeln!(w, "| Parameter | ringcache |\n|---|---|").unwrap();
    for p in &redis {
        let ours =
            config::param(p.name).or_else(|| config::param(&redis_params::canonical(p.name)));
        let status = match ours {
            Some(o) if o.set.is_none() && o.load.is_none() => "read-only",
            Some(_) => "honoured",
            None => "accepted and reported",
        };
        writeln!(w, "| `{}` | {status} |", p.name).unwrap();
    }
    let own: Vec<String> = config::PARAMS
        .iter()
        .filter(|p| {
            redis_params::find(p.name).is_none()
                && !redis
                    .iter()
                    .any(|r| redis_params::canonical(r.name) == p.name)
        })
        .map(|p| format!("`{}`", p.name))
        .collect();
    writeln!(
        w,
        "\nringcache's own settings (docs/tuning.md), not in Redis: {}.",
        own.join(", ")
    )
    .unwrap();

    writeln!(w, "\n## Documented differences\n").unwrap();
    writeln!(
        w,
        "Behaviour that differs from Redis 7.0 on purpose or for now, as each mechanism's page \
         says it. A differential test normalises only what is listed here (and the order Redis \
         itself leaves unordered). Gathered from docs/*.md: a heading or sentence there that says \
         \"documented difference\", \"Known differences\", \"Differences:\", \"different from \
         Redis\" or \"Unlike Redis\" is listed.\n"
    )
    .unwrap();
    for (file, section, sentence) in documented_differences(docs_dir) {
        let link = if section.is_empty() {
            file.clone()
        } else {
            format!("{file}#{section}")
        };
        writeln!(w, "- [{file}]({link}): {sentence}").unwrap();
    }
    out
}

#[test]
fn compatibility_doc_is_current() {
    let server = Server::start();
    let mut o = server.raw();
    let listed: BTreeSet<String> = names(&parsed(&o.cmd(&["COMMAND", "LIST"])))
        .into_iter()
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = compatibility_doc(&listed, &root.join("docs"));
    let path = root.join("docs/compatibility.md");
    if std::env::var("RINGCACHE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != text {
        let line = current
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(current.lines().count().min(text.lines().count()));
        panic!(
            "docs/compatibility.md is stale (first difference at line {}: {:?}); regenerate it with \
             RINGCACHE_BLESS=1 cargo test --release --test compatibility",
            line + 1,
            text.lines().nth(line)
        );
    }
}
