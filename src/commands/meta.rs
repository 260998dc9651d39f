//! COMMAND: the command table as Redis 7.0 reports it, for what ringcache
//! serves. COMMAND / COMMAND INFO give each command's metadata (arity,
//! flags, key positions and key specs, ACL categories: the embedded
//! `redis-7.0-command-info.jsonl`), COMMAND DOCS its documentation (the
//! embedded `redis-7.0-command-docs.jsonl`, redis-server 7.0.15's own COMMAND
//! DOCS), COMMAND LIST the names, subcommands included (`config|get`), with
//! Redis's FILTERBY MODULE / ACLCAT / PATTERN; COMMAND GETKEYS and
//! GETKEYSANDFLAGS find a call's keys as ACL does (`key_specs`). A
//! subcommand ringcache does not serve (`NOT_SERVED`) is left out of every
//! reply, as a command it does not serve is. tests/compatibility.rs checks
//! every reply against redis-server 7.0 and generates docs/compatibility.md
//! from them.

use super::key_specs::{self, BeginSearch, FindKeys, KeySpec};
use super::observe::help;
use super::{arg_is, subcommand, syntax_error, table, Command, Spec};
use crate::protocol::Frame;
use crate::util::glob_match;
use bytes::Bytes;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::OnceLock;

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

/// COMMAND [subcommand ...].
pub(super) fn command(cmd: &Command, args: &[Bytes]) -> Frame {
    if args.len() == 1 {
        return Frame::Array(table().iter().map(info).collect());
    }
    let sub = match subcommand(cmd, args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match sub.as_str() {
        "count" => Frame::Integer(table().len() as i64),
        "list" => list(&args[2..]),
        "info" if args.len() == 2 => Frame::Array(table().iter().map(info).collect()),
        "info" => Frame::Array(
            args[2..]
                .iter()
                .map(|name| match lookup(name) {
                    Some((c, None)) => info(c),
                    Some((c, Some((sub, spec)))) => command_info(&c.full_name_of(sub), spec, &[]),
                    None => Frame::Null,
                })
                .collect(),
        ),
        "docs" => {
            // Commands without docs (CLIENT SETINFO, newer than 7.0) are
            // left out; a container's entry holds its served subcommands'.
            let entry = |c: &Command, sub: Option<&str>| {
                let full = sub.map_or_else(|| c.name.to_string(), |s| c.full_name_of(s));
                let doc = docs().get(&full)?;
                let reply = doc_reply(doc, sub.is_none().then_some(c));
                Some((Frame::bulk_str(&full), reply))
            };
            let entries = if args.len() == 2 {
                table().iter().filter_map(|c| entry(c, None)).collect()
            } else {
                args[2..]
                    .iter()
                    .filter_map(|name| {
                        let (c, sub) = lookup(name)?;
                        entry(c, sub.map(|(s, _)| s.as_str()))
                    })
                    .collect()
            };
            Frame::Map(entries)
        }
        "getkeys" => getkeys(args, false),
        "getkeysandflags" => getkeys(args, true),
        // HELP: `subcommand` admitted no other.
        _ => help(COMMAND_HELP),
    }
}

/// A command or served subcommand by its full name (`get`, `config|get`),
/// as Redis's `lookupCommandBySds` finds it.
fn lookup(name: &[u8]) -> Option<(&'static Command, Option<&'static (String, Spec)>)> {
    let mut parts = name.splitn(3, |&b| b == b'|');
    let c = table().get(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some((c, None)),
        (Some(sub), None) => {
            let i = c.subcommand_index(sub)?;
            let found = &c.subcommands[i];
            c.serves(&found.0).then_some((c, Some(found)))
        }
        _ => None,
    }
}

fn info(c: &Command) -> Frame {
    let subs: Vec<&(String, Spec)> = c.served_subcommands().collect();
    command_info(c.name, &c.spec, &subs)
}

/// One entry of COMMAND / COMMAND INFO, in Redis 7's layout.
fn command_info(name: &str, spec: &Spec, subs: &[&(String, Spec)]) -> Frame {
    let statuses = |v: &[String]| Frame::Set(v.iter().map(|s| Frame::simple(s.clone())).collect());
    let subs: Vec<Frame> = subs
        .iter()
        .map(|(sub, s)| command_info(&format!("{name}|{sub}"), s, &[]))
        .collect();
    Frame::Array(vec![
        Frame::bulk_str(name),
        Frame::Integer(spec.arity),
        statuses(&spec.flags),
        Frame::Integer(spec.first_key),
        Frame::Integer(spec.last_key),
        Frame::Integer(spec.step),
        statuses(&spec.acl_categories),
        Frame::Set(spec.tips.iter().map(|t| Frame::bulk_str(t)).collect()),
        Frame::Set(spec.key_specs.iter().map(key_spec_info).collect()),
        // Redis's quirk: no subcommands is an empty set, some are an array.
        if subs.is_empty() {
            Frame::Set(subs)
        } else {
            Frame::Array(subs)
        },
    ])
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]:
/// every command's and served subcommand's full name that passes the
/// filter. No module is loaded, so a MODULE filter passes none; an unknown
/// category none either, as in Redis.
fn list(args: &[Bytes]) -> Frame {
    enum Filter<'a> {
        All,
        Module,
        Category(&'a [u8]),
        Pattern(&'a [u8]),
    }
    let filter = match args {
        [] => Filter::All,
        [by, kind, arg] if arg_is(by, "filterby") => {
            if arg_is(kind, "module") {
                Filter::Module
            } else if arg_is(kind, "aclcat") {
                Filter::Category(arg)
            } else if arg_is(kind, "pattern") {
                Filter::Pattern(arg)
            } else {
                return syntax_error();
            }
        }
        _ => return syntax_error(),
    };
    let passes = |name: &str, spec: &Spec| match filter {
        Filter::All => true,
        Filter::Module => false,
        Filter::Category(cat) => spec.acl_categories.iter().any(|c| {
            c.strip_prefix('@')
                .is_some_and(|c| c.as_bytes().eq_ignore_ascii_case(cat))
        }),
        Filter::Pattern(pattern) => glob_match(pattern, name.as_bytes(), true),
    };
    let mut names = Vec::new();
    for c in table().iter() {
        if passes(c.name, &c.spec) {
            names.push(Frame::bulk_str(c.name));
        }
        for (sub, spec) in c.served_subcommands() {
            let full = c.full_name_of(sub);
            if passes(&full, spec) {
                names.push(Frame::bulk_str(&full));
            }
        }
    }
    Frame::Array(names)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS command arg ...: the keys (and what
/// the command does with each) as ACL finds them, with Redis's errors
/// (`getKeysSubcommandImpl`): a container names its subcommand, and one
/// that is not served is no command.
fn getkeys(args: &[Bytes], with_flags: bool) -> Frame {
    let call = &args[2..];
    let found = table().get(&call[0]).and_then(|cmd| {
        if cmd.subcommands.is_empty() || call.len() == 1 {
            return Some((cmd, &cmd.spec));
        }
        let i = cmd.subcommand_index(&call[1])?;
        let (sub, spec) = &cmd.subcommands[i];
        cmd.serves(sub).then_some((cmd, spec))
    });
    let Some((cmd, spec)) = found else {
        return Frame::error("ERR Invalid command specified");
    };
    let no_keys = spec
        .key_specs
        .iter()
        .all(|k| k.flags.iter().any(|f| f == "not_key"));
    if no_keys {
        return Frame::error("ERR The command has no key arguments");
    }
    if !super::arity_ok(spec.arity, call.len()) {
        return Frame::error("ERR Invalid number of arguments specified for command");
    }
    let found = key_specs::keys(cmd.name, &spec.key_specs, call);
    // EVAL, FCALL, ...: no key is an answer, not an error.
    if found.is_empty() && !spec.flags.iter().any(|f| f == "no_mandatory_keys") {
        return Frame::error("ERR Invalid arguments specified for command");
    }
    Frame::Array(
        found
            .into_iter()
            .map(|k| {
                let key = Frame::bulk(call[k.at].clone());
                if !with_flags {
                    return key;
                }
                let flags = k.flags.iter().map(|f| Frame::simple(f.to_string()));
                Frame::Array(vec![key, Frame::Set(flags.collect())])
            })
            .collect(),
    )
}

/// Redis 7.0's COMMAND DOCS, by full name (`set`, `config|get`): the
/// embedded `redis-7.0-command-docs.jsonl`, one `{name: docs}` a line, a
/// container's subcommands nested under `subcommands`.
fn docs() -> &'static HashMap<String, Json> {
    static DOCS: OnceLock<HashMap<String, Json>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut all = HashMap::new();
        fn add(name: &str, doc: &Json, all: &mut HashMap<String, Json>) {
            for (sub, d) in doc["subcommands"].as_object().into_iter().flatten() {
                add(sub, d, all);
            }
            all.insert(name.to_string(), doc.clone());
        }
        let lines = include_str!("redis-7.0-command-docs.jsonl").lines();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let entry: Json = serde_json::from_str(line).expect("embedded docs are valid JSON");
            for (name, doc) in entry.as_object().into_iter().flatten() {
                add(name, doc, &mut all);
            }
        }
        all
    })
}

/// One command's docs in Redis's layout (`addReplyCommandDocs`): its
/// fields in Redis's order and types, and for a container (`cmd`) the
/// subcommands it serves.
fn doc_reply(doc: &Json, cmd: Option<&Command>) -> Frame {
    let mut fields = Vec::new();
    let text = |fields: &mut Vec<(Frame, Frame)>, name: &str| {
        if let Some(v) = doc[name].as_str() {
            fields.push((Frame::bulk_str(name), Frame::bulk_str(v)));
        }
    };
    for name in ["summary", "since", "group", "complexity", "module"] {
        text(&mut fields, name);
    }
    if !doc["doc_flags"].is_null() {
        fields.push((Frame::bulk_str("doc_flags"), statuses(&doc["doc_flags"])));
    }
    for name in ["deprecated_since", "replaced_by"] {
        text(&mut fields, name);
    }
    if let Some(history) = doc["history"].as_array() {
        let entry =
            |h: &Json| Frame::Array(strings(h).iter().map(|s| Frame::bulk_str(s)).collect());
        let history = Frame::Set(history.iter().map(entry).collect());
        fields.push((Frame::bulk_str("history"), history));
    }
    if let Some(args) = doc["arguments"].as_array() {
        fields.push((Frame::bulk_str("arguments"), arguments(args)));
    }
    if let (Some(subs), Some(cmd)) = (doc["subcommands"].as_object(), cmd) {
        let served = cmd.served_subcommands().filter_map(|(sub, _)| {
            let full = cmd.full_name_of(sub);
            let d = subs.get(&full)?;
            Some((Frame::bulk_str(&full), doc_reply(d, None)))
        });
        fields.push((Frame::bulk_str("subcommands"), Frame::Map(served.collect())));
    }
    Frame::Map(fields)
}

/// A command's arguments as COMMAND DOCS gives them
/// (`addReplyCommandArgList`), nested blocks and choices included.
fn arguments(args: &[Json]) -> Frame {
    Frame::Array(
        args.iter()
            .map(|a| {
                let mut fields = Vec::new();
                for name in [
                    "name",
                    "type",
                    "key_spec_index",
                    "token",
                    "summary",
                    "since",
                ] {
                    let value = match &a[name] {
                        Json::String(s) => Frame::bulk_str(s),
                        Json::Number(n) => Frame::Integer(n.as_i64().unwrap_or(0)),
                        _ => continue,
                    };
                    fields.push((Frame::bulk_str(name), value));
                }
                if let Some(v) = a["deprecated_since"].as_str() {
                    fields.push((Frame::bulk_str("deprecated_since"), Frame::bulk_str(v)));
                }
                if !a["flags"].is_null() {
                    fields.push((Frame::bulk_str("flags"), statuses(&a["flags"])));
                }
                if let Some(nested) = a["arguments"].as_array() {
                    fields.push((Frame::bulk_str("arguments"), arguments(nested)));
                }
                Frame::Map(fields)
            })
            .collect(),
    )
}

/// A set of flags as status strings.
fn statuses(flags: &Json) -> Frame {
    Frame::Set(strings(flags).into_iter().map(Frame::simple).collect())
}

/// A JSON list of strings. The embedded docs hold a two-flag list as an
/// object (`{"optional": "multiple"}`: the tool that made the file took a
/// flat two-string array for a map); its key and value are the flags.
fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Json::Object(o) => o
            .iter()
            .flat_map(|(k, v)| [Some(k.clone()), v.as_str().map(String::from)])
            .flatten()
            .collect(),
        _ => Vec::new(),
    }
}

/// One key spec as COMMAND INFO shows it (Redis 7's maps).
fn key_spec_info(k: &KeySpec) -> Frame {
    let map = |pairs: Vec<(&str, Frame)>| {
        Frame::Map(
            pairs
                .into_iter()
                .map(|(n, v)| (Frame::bulk_str(n), v))
                .collect(),
        )
    };
    let typed = |kind: &str, spec: Vec<(&str, Frame)>| {
        map(vec![("type", Frame::bulk_str(kind)), ("spec", map(spec))])
    };
    let int = |n: usize| Frame::Integer(n as i64);
    let begin = match &k.begin {
        BeginSearch::Index(i) => typed("index", vec![("index", int(*i))]),
        BeginSearch::Keyword {
            keyword,
            start_from,
        } => typed(
            "keyword",
            vec![
                ("keyword", Frame::bulk_str(keyword)),
                ("startfrom", Frame::Integer(*start_from)),
            ],
        ),
        BeginSearch::Unknown => typed("unknown", Vec::new()),
    };
    let find = match k.find {
        FindKeys::Range {
            last_key,
            step,
            limit,
        } => typed(
            "range",
            vec![
                ("lastkey", Frame::Integer(last_key)),
                ("keystep", int(step)),
                ("limit", Frame::Integer(limit)),
            ],
        ),
        FindKeys::Count {
            count_at,
            first,
            step,
        } => typed(
            "keynum",
            vec![
                ("keynumidx", int(count_at)),
                ("firstkey", int(first)),
                ("keystep", int(step)),
            ],
        ),
        FindKeys::Unknown => typed("unknown", Vec::new()),
    };
    let flags = Frame::Set(k.flags.iter().map(|f| Frame::simple(f.clone())).collect());
    let notes = k.notes.iter().map(|n| ("notes", Frame::bulk_str(n)));
    map(notes
        .chain([
            ("flags", flags),
            ("begin_search", begin),
            ("find_keys", find),
        ])
        .collect())
}
