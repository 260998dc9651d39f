//! Stream commands that run on the key's shard: XADD, XLEN, XRANGE,
//! XREVRANGE, XDEL, XTRIM, XSETID, XGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, XINFO; and `read_key`, the one-stream step of XREAD and
//! XREADGROUP (`stream_reads` runs those across shards and blocks).
//!
//! What goes to the log is what Redis propagates, with every choice the
//! server made spelled out so replay rebuilds the same state: XADD with the
//! ID it got and, when it trimmed, `XTRIM key MAXLEN = <length left>`;
//! a delivery to a group as `XCLAIM ... TIME RETRYCOUNT FORCE JUSTID LASTID`
//! plus `XGROUP SETID ... ENTRIESREAD`; a consumer created on the way as
//! `XGROUP CREATECONSUMER`. See docs/streams.md.

use super::observe::help;
use super::{arg_is, int_arg, syntax_error, wrong_type};
use crate::config::events as ev;
use crate::keyspace::stream::{Group, StreamEntry, StreamId, Trim, ENTRIES_READ_UNKNOWN};
use crate::keyspace::{Stream, Value};
use crate::protocol::Frame;
use crate::shard::Ctx;
use bytes::Bytes;

/// Longest ID argument Redis parses (its buffer is 128 bytes).
const ID_ARG_MAX_BYTES: usize = 127;
/// Delivery attempts per entry XAUTOCLAIM scans for one it returns.
const AUTOCLAIM_ATTEMPTS_FACTOR: i64 = 10;

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn num(n: impl ToString) -> Bytes {
    Bytes::from(n.to_string())
}

pub fn invalid_id() -> Frame {
    Frame::error("ERR Invalid stream ID specified as stream command argument")
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A decimal `u64` as Redis's `string2ull` takes it.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(n) = crate::util::parse_i64(s) {
        return u64::try_from(n).ok();
    }
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses an ID as Redis's `streamGenericParseIDOrReply`: `-` and `+`
/// unless `strict`, `ms` alone (seq `missing_seq`), `ms-seq`, and with
/// `allow_star` `ms-*` (returned with `false`: the sequence is not given).
fn parse_id_full(
    arg: &[u8],
    strict: bool,
    missing_seq: u64,
    allow_star: bool,
) -> Result<(StreamId, bool), Frame> {
    if arg.len() > ID_ARG_MAX_BYTES {
        return Err(invalid_id());
    }
    match arg {
        b"-" | b"+" if strict => return Err(invalid_id()),
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms).ok_or_else(invalid_id)?;
    match seq {
        None => Ok((StreamId::new(ms, missing_seq), true)),
        Some(b"*") if allow_star => Ok((StreamId::new(ms, 0), false)),
        Some(s) => Ok((
            StreamId::new(ms, parse_u64(s).ok_or_else(invalid_id)?),
            true,
        )),
    }
}

pub fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Frame> {
    parse_id_full(arg, false, missing_seq, false).map(|(id, _)| id)
}

pub fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Frame> {
    parse_id_full(arg, true, 0, false).map(|(id, _)| id)
}

/// A range bound: `(id` is exclusive (Redis's `streamParseIntervalIDOrReply`
/// plus the increment or decrement of XRANGE).
fn parse_bound(arg: &[u8], start: bool) -> Result<StreamId, Frame> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id_full(&arg[1..], true, if start { 0 } else { u64::MAX }, false)?.0;
        let moved = if start { id.next() } else { id.prev() };
        moved.ok_or_else(|| {
            Frame::error(if start {
                "ERR invalid start ID for the interval"
            } else {
                "ERR invalid end ID for the interval"
            })
        })
    } else {
        parse_id(arg, if start { 0 } else { u64::MAX })
    }
}

fn id_frame(id: StreamId) -> Frame {
    Frame::Bulk(id.to_bytes())
}

pub fn entry_frame(e: StreamEntry) -> Frame {
    Frame::Array(vec![
        id_frame(e.id),
        Frame::Array(e.fields.into_iter().map(Frame::Bulk).collect()),
    ])
}

fn entries_frame(v: Vec<StreamEntry>) -> Frame {
    pairs_frame(
        v.into_iter()
            .map(|e| {
                (
                    e.id,
                    Frame::Array(e.fields.into_iter().map(Frame::Bulk).collect()),
                )
            })
            .collect(),
    )
}

/// Entries as `[id, fields]` replies, from each ID and its fields' reply.
fn pairs_frame(v: Vec<(StreamId, Frame)>) -> Frame {
    // Every ID's text in one buffer that the replies slice (one allocation
    // instead of one per entry).
    let mut text = Vec::with_capacity(v.len() * 16);
    let mut ends = Vec::with_capacity(v.len());
    for (id, _) in &v {
        id.write_text(&mut text);
        ends.push(text.len());
    }
    let text = Bytes::from(text);
    let mut start = 0;
    Frame::Array(
        v.into_iter()
            .zip(ends)
            .map(|((_, fields), end)| {
                let id = text.slice(start..end);
                start = end;
                Frame::Array(vec![Frame::Bulk(id), fields])
            })
            .collect(),
    )
}

fn stream_ref<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Frame> {
    match ctx.ks.read(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            Some(Value::Stream(s)) => Ok(Some(s)),
            _ => Err(wrong_type()),
        },
    }
}

fn stream_mut<'a>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a mut Stream>, Frame> {
    match ctx.ks.lookup(ctx.db, key, ctx.now) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            Some(Value::Stream(s)) => Ok(Some(s)),
            _ => Err(wrong_type()),
        },
    }
}

fn no_group(key: &[u8], group: &[u8]) -> Frame {
    Frame::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(group)
    ))
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}

/// XADD's and XTRIM's options (Redis's `streamParseAddOrTrimArgsOrReply`).
#[derive(Default)]
struct AddTrimArgs {
    rule: Option<Trim>,
    approx: bool,
    limit: u64,
    no_mkstream: bool,
    /// XADD's ID: `None` for `*`; with whether its sequence was given.
    id: Option<(StreamId, bool)>,
}

fn parse_add_trim(args: &[Bytes], xadd: bool) -> Result<(AddTrimArgs, usize), Frame> {
    let mut a = AddTrimArgs::default();
    let mut limit_given = false;
    let mut i = 2;
    let incompatible = || {
        Frame::error(
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        )
    };
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (arg_is(opt, "maxlen") || arg_is(opt, "minid")) && more > 0 {
            if a.rule.is_some() {
                return Err(incompatible());
            }
            a.approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            if arg_is(opt, "maxlen") {
                let n = int_arg(&args[i + 1])?;
                if n < 0 {
                    return Err(Frame::error("ERR The MAXLEN argument must be >= 0."));
                }
                a.rule = Some(Trim::MaxLen(n as u64));
            } else {
                a.rule = Some(Trim::MinId(parse_strict_id(&args[i + 1])?));
            }
            i += 1;
        } else if arg_is(opt, "limit") && more > 0 {
            let n = int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(Frame::error("ERR The LIMIT argument must be >= 0."));
            }
            a.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && arg_is(opt, "nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, true, 0, true)?);
            break;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if a.limit != 0 && a.rule.is_none() {
        return Err(Frame::error(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.rule.is_none() {
        return Err(Frame::error(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !a.approx {
            return Err(Frame::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if a.approx {
        // Entries one approximate trim removes at most unless LIMIT says
        // (Redis: 100 × `stream-node-max-entries`; 0: no limit).
        a.limit = 100 * crate::keyspace::encodings::stream_node_limits().1 as u64;
    }
    Ok((a, i))
}

/// The effect of a trim that removed entries: an exact trim to the length
/// left, which replays the same whatever the blocks look like then.
fn trim_effect(key: &Bytes, s: &Stream) -> Vec<Bytes> {
    vec![
        word("XTRIM"),
        key.clone(),
        word("MAXLEN"),
        word("="),
        num(s.len()),
    ]
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [...]
pub fn xadd(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (opts, idpos) = tri!(parse_add_trim(args, true));
    let field_pos = idpos + 1;
    if args.len() < field_pos + 2 || !(args.len() - field_pos).is_multiple_of(2) {
        return super::wrong_arity("xadd");
    }
    if let Some((id, true)) = opts.id {
        if id.is_zero() {
            return Frame::error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = &args[1];
    let exists = tri!(stream_mut(ctx, key)).is_some();
    if !exists {
        if opts.no_mkstream {
            return Frame::Null;
        }
        ctx.ks
            .insert(ctx.db, key, Value::Stream(Box::default()), None);
    }
    let now = ctx.now;
    let Ok(Some(s)) = stream_mut(ctx, key) else {
        return Frame::error("ERR no such key");
    };
    if s.last_id == StreamId::MAX {
        return Frame::error(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let last = s.last_id;
    let id = match opts.id {
        Some((id, true)) => Some(id),
        Some((id, false)) if id.ms == last.ms => last.next().filter(|n| n.ms == last.ms),
        Some((id, false)) => Some(id),
        None if now > last.ms => Some(StreamId::new(now, 0)),
        None => last.next(),
    };
    let id =
        match id {
            Some(id) if id > last => id,
            _ => return Frame::error(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ),
        };
    let fields = &args[field_pos..];
    s.append(id, fields);
    let mut effect = vec![word("XADD"), key.clone(), id.to_bytes()];
    effect.extend(fields.iter().cloned());
    let trimmed = match opts.rule {
        Some(rule) => s.trim(rule, opts.approx, opts.limit),
        None => 0,
    };
    let trim = (trimmed > 0).then(|| trim_effect(key, s));
    ctx.effect(effect);
    ctx.notify(ev::STREAM, "xadd", key);
    if let Some(t) = trim {
        ctx.effect(t);
        ctx.notify(ev::STREAM, "xtrim", key);
    }
    id_frame(id)
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (opts, _) = tri!(parse_add_trim(args, false));
    let key = &args[1];
    let Some(s) = tri!(stream_mut(ctx, key)) else {
        return Frame::Integer(0);
    };
    let Some(rule) = opts.rule else {
        return syntax_error();
    };
    let deleted = s.trim(rule, opts.approx, opts.limit);
    if deleted > 0 {
        let effect = trim_effect(key, s);
        ctx.effect(effect);
        ctx.notify(ev::STREAM, "xtrim", key);
    }
    Frame::Integer(deleted as i64)
}

pub fn xlen(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match stream_ref(ctx, &args[1]) {
        Ok(s) => Frame::Integer(s.map_or(0, |s| s.len() as i64)),
        Err(e) => e,
    }
}

/// XRANGE key start end [COUNT n]; XREVRANGE key end start [COUNT n].
pub fn xrange(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let rev = arg_is(&args[0], "xrevrange");
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = tri!(parse_bound(start_arg, true));
    let end = tri!(parse_bound(end_arg, false));
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if arg_is(&args[j], "count") && j + 1 < args.len() {
            count = tri!(int_arg(&args[j + 1])).max(0);
            j += 2;
        } else {
            return syntax_error();
        }
    }
    let s = match stream_ref(ctx, &args[1]) {
        Ok(Some(s)) => s,
        Ok(None) => return Frame::Array(Vec::new()),
        Err(e) => return e,
    };
    if count == 0 {
        return Frame::NullArray;
    }
    // Each entry's fields become reply values directly (no `StreamEntry`).
    let entries = s.range_map((start, end), count.max(0) as usize, rev, |id, fields| {
        (id, Frame::Array(fields.map(Frame::Bulk).collect()))
    });
    pairs_frame(entries)
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    if tri!(stream_mut(ctx, key)).is_none() {
        return Frame::Integer(0);
    }
    let ids: Vec<StreamId> = tri!(args[2..].iter().map(|a| parse_strict_id(a)).collect());
    let Ok(Some(s)) = stream_mut(ctx, key) else {
        return Frame::Integer(0);
    };
    let deleted = ids.into_iter().filter(|id| s.delete(*id)).count();
    if deleted > 0 {
        ctx.changed();
        ctx.notify(ev::STREAM, "xdel", key);
    }
    Frame::Integer(deleted as i64)
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
pub fn xsetid(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let id = tri!(parse_strict_id(&args[2]));
    let mut entries_added: i64 = -1;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if arg_is(&args[i], "entriesadded") && more > 0 {
            entries_added = tri!(int_arg(&args[i + 1]));
            if entries_added < 0 {
                return Frame::error("ERR entries_added must be positive");
            }
        } else if arg_is(&args[i], "maxdeletedid") && more > 0 {
            max_deleted = tri!(parse_strict_id(&args[i + 1]));
            if id < max_deleted {
                return Frame::error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
        } else {
            return syntax_error();
        }
        i += 2;
    }
    let key = &args[1];
    let s = match stream_mut(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return e,
    };
    if !s.is_empty() {
        if s.last().is_some_and(|e| id < e.id) {
            return Frame::error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Frame::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    if id < s.max_deleted_id {
        return Frame::error(
            "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
        );
    }
    s.last_id = id;
    if entries_added != -1 {
        s.entries_added = entries_added as u64;
    }
    if !max_deleted.is_zero() {
        s.max_deleted_id = max_deleted;
    }
    ctx.changed();
    ctx.notify(ev::STREAM, "xsetid", key);
    Frame::OK
}

fn subcommand_syntax_error(args: &[Bytes]) -> Frame {
    Frame::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&args[1])
            .chars()
            .take(128)
            .collect::<String>(),
        lossy(&args[0]).to_uppercase()
    ))
}

/// Checks a container's subcommand and its arity against Redis's table.
fn container_sub(args: &[Bytes]) -> Result<String, Frame> {
    let Some(cmd) = super::table().get(&args[0]) else {
        return Err(syntax_error());
    };
    super::subcommand(cmd, args)
}

fn entries_read_arg(arg: &Bytes) -> Result<i64, Frame> {
    let n = int_arg(arg)?;
    if n < 0 && n != ENTRIES_READ_UNKNOWN {
        return Err(Frame::error(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP
pub fn xgroup(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let sub = tri!(container_sub(args));
    if sub == "help" {
        return help(&[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ]);
    }
    let (key, group) = (&args[2], &args[3]);
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    // Redis parses CREATE's and SETID's options first, checks the key and
    // the group, and only then counts their arguments.
    if sub == "create" || sub == "setid" {
        let mut i = 5;
        while i < args.len() {
            if sub == "create" && arg_is(&args[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if arg_is(&args[i], "entriesread") && i + 1 < args.len() {
                entries_read = tri!(entries_read_arg(&args[i + 1]));
                i += 2;
            } else {
                return subcommand_syntax_error(args);
            }
        }
    }
    let exists = tri!(stream_mut(ctx, key)).is_some();
    if !(exists || sub == "create" && mkstream) {
        return Frame::error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
    }
    let has_group =
        exists && matches!(stream_mut(ctx, key), Ok(Some(s)) if s.groups.contains_key(group));
    if !has_group && matches!(sub.as_str(), "setid" | "createconsumer" | "delconsumer") {
        return Frame::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            lossy(group),
            lossy(key)
        ));
    }
    let counted = match sub.as_str() {
        "create" => args.len() <= 8,
        "setid" => args.len() == 5 || args.len() == 7,
        _ => true,
    };
    if !counted {
        return subcommand_syntax_error(args);
    }
    let now = ctx.now;
    match sub.as_str() {
        "create" => {
            let given = &args[4];
            let id = if given[..] == *b"$" {
                None
            } else {
                Some(tri!(parse_strict_id(given)))
            };
            if has_group {
                return Frame::error("BUSYGROUP Consumer Group name already exists");
            }
            if !exists {
                ctx.ks
                    .insert(ctx.db, key, Value::Stream(Box::default()), None);
            }
            let Ok(Some(s)) = stream_mut(ctx, key) else {
                return Frame::error("ERR no such key");
            };
            let id = id.unwrap_or(s.last_id);
            s.groups.insert(group.clone(), Group::new(id, entries_read));
            let mut effect = vec![word("XGROUP"), word("CREATE"), key.clone(), group.clone()];
            effect.push(id.to_bytes());
            if !exists {
                effect.push(word("MKSTREAM"));
            }
            effect.extend([word("ENTRIESREAD"), num(entries_read)]);
            ctx.effect(effect);
            ctx.notify(ev::STREAM, "xgroup-create", key);
            Frame::OK
        }
        "setid" => {
            let Ok(Some(s)) = stream_mut(ctx, key) else {
                return Frame::error("ERR no such key");
            };
            let id = if args[4][..] == *b"$" {
                s.last_id
            } else {
                tri!(parse_strict_id(&args[4]))
            };
            if let Some(g) = s.groups.get_mut(group) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            let effect = vec![
                word("XGROUP"),
                word("SETID"),
                key.clone(),
                group.clone(),
                id.to_bytes(),
                word("ENTRIESREAD"),
                num(entries_read),
            ];
            ctx.effect(effect);
            ctx.notify(ev::STREAM, "xgroup-setid", key);
            Frame::OK
        }
        "destroy" => {
            let removed = match stream_mut(ctx, key) {
                Ok(Some(s)) => s.groups.remove(group).is_some(),
                _ => false,
            };
            if removed {
                ctx.changed();
                ctx.notify(ev::STREAM, "xgroup-destroy", key);
            }
            Frame::Integer(removed as i64)
        }
        "createconsumer" => {
            let created = match stream_mut(ctx, key) {
                Ok(Some(s)) => s
                    .groups
                    .get_mut(group)
                    .is_some_and(|g| g.consumer(&args[4], now).1),
                _ => false,
            };
            if created {
                ctx.changed();
                ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
            }
            Frame::Integer(created as i64)
        }
        "delconsumer" => {
            let pending = match stream_mut(ctx, key) {
                Ok(Some(s)) => s
                    .groups
                    .get_mut(group)
                    .and_then(|g| g.remove_consumer(&args[4])),
                _ => None,
            };
            if let Some(n) = pending {
                ctx.changed();
                ctx.notify(ev::STREAM, "xgroup-delconsumer", key);
                return Frame::Integer(n as i64);
            }
            Frame::Integer(0)
        }
        _ => subcommand_syntax_error(args),
    }
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (key, group) = (&args[1], &args[2]);
    let s = match stream_mut(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) => return Frame::Integer(0),
        Err(e) => return e,
    };
    let Some(g) = s.groups.get_mut(group) else {
        return Frame::Integer(0);
    };
    let ids: Vec<StreamId> = tri!(args[3..].iter().map(|a| parse_strict_id(a)).collect());
    let acked = ids.into_iter().filter(|id| g.ack(*id)).count();
    if acked > 0 {
        ctx.changed();
    }
    Frame::Integer(acked as i64)
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let n = args.len();
    if n != 3 && !(6..=9).contains(&n) {
        return syntax_error();
    }
    let mut range = None;
    if n >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if arg_is(&args[3], "idle") {
            min_idle = tri!(int_arg(&args[4]));
            if n < 8 {
                return syntax_error();
            }
            at += 2;
        }
        let count = tri!(int_arg(&args[at + 2])).max(0);
        let start = tri!(parse_bound(&args[at], true));
        let end = tri!(parse_bound(&args[at + 1], false));
        let consumer = args.get(at + 3).cloned();
        range = Some((min_idle, start, end, count, consumer));
    }
    let (key, group) = (&args[1], &args[2]);
    let now = ctx.now;
    let s = match stream_ref(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) => return no_group(key, group),
        Err(e) => return e,
    };
    let Some(g) = s.groups.get(group) else {
        return no_group(key, group);
    };
    let Some((min_idle, start, end, mut count, consumer)) = range else {
        let (Some((first, _)), Some((last, _))) = (g.pel.iter().next(), g.pel.iter().next_back())
        else {
            return Frame::Array(vec![
                Frame::Integer(0),
                Frame::Null,
                Frame::Null,
                Frame::NullArray,
            ]);
        };
        let consumers = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(name, c)| {
                Frame::Array(vec![
                    Frame::Bulk(name.clone()),
                    Frame::Bulk(num(c.pending.len())),
                ])
            })
            .collect();
        return Frame::Array(vec![
            Frame::Integer(g.pel.len() as i64),
            id_frame(*first),
            id_frame(*last),
            Frame::Array(consumers),
        ]);
    };
    let ids: Box<dyn Iterator<Item = StreamId>> = match &consumer {
        Some(name) => match g.consumers.get(name) {
            Some(c) => Box::new(c.pending.range(start..).copied()),
            None => return Frame::Array(Vec::new()),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    if start <= end {
        for id in ids {
            if count == 0 || id > end {
                break;
            }
            let Some(p) = g.pel.get(&id) else { continue };
            let idle = now as i64 - p.delivery_time as i64;
            if min_idle != 0 && idle < min_idle {
                continue;
            }
            count -= 1;
            out.push(Frame::Array(vec![
                id_frame(id),
                Frame::Bulk(p.consumer.clone()),
                Frame::Integer(idle.max(0)),
                Frame::Integer(p.delivery_count as i64),
            ]));
        }
    }
    Frame::Array(out)
}

/// The log record of one delivery as Redis propagates it.
fn xclaim_effect(key: &Bytes, group: &Bytes, g: &Group, id: StreamId) -> Vec<Bytes> {
    let (consumer, time, count) = match g.pel.get(&id) {
        Some(p) => (p.consumer.clone(), p.delivery_time, p.delivery_count),
        // An entry dropped from the PEL: the replayed XCLAIM drops it too.
        None => (word(""), 0, 0),
    };
    vec![
        word("XCLAIM"),
        key.clone(),
        group.clone(),
        consumer,
        word("0"),
        id.to_bytes(),
        word("TIME"),
        num(time),
        word("RETRYCOUNT"),
        num(count),
        word("FORCE"),
        word("JUSTID"),
        word("LASTID"),
        g.last_id.to_bytes(),
    ]
}

fn setid_effect(key: &Bytes, group: &Bytes, g: &Group) -> Vec<Bytes> {
    vec![
        word("XGROUP"),
        word("SETID"),
        key.clone(),
        group.clone(),
        g.last_id.to_bytes(),
        word("ENTRIESREAD"),
        num(g.entries_read),
    ]
}

fn createconsumer_effect(key: &Bytes, group: &Bytes, consumer: &Bytes) -> Vec<Bytes> {
    vec![
        word("XGROUP"),
        word("CREATECONSUMER"),
        key.clone(),
        group.clone(),
        consumer.clone(),
    ]
}

fn int_arg_msg(arg: &Bytes, msg: &'static str) -> Result<i64, Frame> {
    crate::util::parse_i64(arg).ok_or_else(|| Frame::error(format!("ERR {msg}")))
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
pub fn xclaim(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (key, group, name) = (&args[1], &args[2], &args[3]);
    let now = ctx.now;
    match stream_mut(ctx, key) {
        Ok(Some(s)) if s.groups.contains_key(group) => {}
        Ok(_) => return no_group(key, group),
        Err(e) => return e,
    }
    let min_idle = tri!(int_arg_msg(
        &args[4],
        "Invalid min-idle-time argument for XCLAIM"
    ))
    .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(&args[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut retry: i64 = -1;
    let mut delivery: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if arg_is(opt, "force") {
            force = true;
        } else if arg_is(opt, "justid") {
            justid = true;
        } else if arg_is(opt, "idle") && more > 0 {
            j += 1;
            delivery = now as i64
                - tri!(int_arg_msg(
                    &args[j],
                    "Invalid IDLE option argument for XCLAIM"
                ));
        } else if arg_is(opt, "time") && more > 0 {
            j += 1;
            delivery = tri!(int_arg_msg(
                &args[j],
                "Invalid TIME option argument for XCLAIM"
            ));
        } else if arg_is(opt, "retrycount") && more > 0 {
            j += 1;
            retry = tri!(int_arg_msg(
                &args[j],
                "Invalid RETRYCOUNT option argument for XCLAIM"
            ));
        } else if arg_is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = tri!(parse_strict_id(&args[j]));
        } else {
            return Frame::error(format!("ERR Unrecognized XCLAIM option '{}'", lossy(opt)));
        }
        j += 1;
    }
    let Ok(Some(s)) = stream_mut(ctx, key) else {
        return no_group(key, group);
    };
    let exists: Vec<bool> = ids.iter().map(|id| s.get(*id).is_some()).collect();
    let mut entries: Vec<Option<StreamEntry>> = Vec::new();
    let mut effects = Vec::new();
    let Some(g) = s.groups.get_mut(group) else {
        return no_group(key, group);
    };
    let mut propagate_last_id = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        propagate_last_id = true;
    }
    let delivery = if delivery < 0 || delivery > now as i64 {
        now
    } else {
        delivery as u64
    };
    let mut claimed = Vec::new();
    for (id, exists) in ids.iter().zip(exists) {
        let id = *id;
        let pending = g.pel.contains_key(&id);
        if !exists {
            if pending {
                g.ack(id);
                effects.push(xclaim_effect(key, group, g, id));
                propagate_last_id = false;
            }
            continue;
        }
        if !pending && !force {
            continue;
        }
        if let Some(p) = g.pel.get(&id) {
            if !p.consumer.is_empty()
                && min_idle != 0
                && (now as i64 - p.delivery_time as i64) < min_idle
            {
                continue;
            }
        }
        let (c, created) = g.consumer(name, now);
        c.seen_time = now;
        if created {
            effects.push(createconsumer_effect(key, group, name));
        }
        let count = match g.pel.get(&id) {
            _ if retry >= 0 => retry as u64,
            Some(p) if !justid => p.delivery_count + 1,
            Some(p) => p.delivery_count,
            // A PEL entry FORCE creates starts at one delivery (Redis's
            // `streamCreateNACK`), then counts this one.
            None if justid => 1,
            None => 2,
        };
        g.assign(id, name, delivery, count);
        claimed.push(id);
        effects.push(xclaim_effect(key, group, g, id));
        propagate_last_id = false;
    }
    if propagate_last_id {
        effects.push(setid_effect(key, group, g));
    }
    if !justid {
        entries = claimed.iter().map(|id| s.get(*id)).collect();
    }
    for e in effects {
        ctx.effect(e);
    }
    if justid {
        Frame::Array(claimed.into_iter().map(id_frame).collect())
    } else {
        Frame::Array(
            entries
                .into_iter()
                .map(|e| e.map_or(Frame::NullArray, entry_frame))
                .collect(),
        )
    }
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (key, group, name) = (&args[1], &args[2], &args[3]);
    let now = ctx.now;
    let min_idle = tri!(int_arg_msg(
        &args[4],
        "Invalid min-idle-time argument for XAUTOCLAIM"
    ))
    .max(0);
    let start = tri!(parse_bound(&args[5], true));
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        if arg_is(&args[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = match crate::util::parse_i64(&args[j + 1]) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => return Frame::error("ERR COUNT must be > 0"),
            };
            j += 1;
        } else if arg_is(&args[j], "justid") {
            justid = true;
        } else {
            return syntax_error();
        }
        j += 1;
    }
    let s = match stream_mut(ctx, key) {
        Ok(Some(s)) if s.groups.contains_key(group) => s,
        Ok(_) => return no_group(key, group),
        Err(e) => return e,
    };
    let pending: Vec<StreamId> = match s.groups.get(group) {
        Some(g) => g.pel.range(start..).map(|(id, _)| *id).collect(),
        None => return no_group(key, group),
    };
    let exists: Vec<bool> = pending.iter().map(|id| s.get(*id).is_some()).collect();
    let Some(g) = s.groups.get_mut(group) else {
        return no_group(key, group);
    };
    let mut attempts = count.saturating_mul(AUTOCLAIM_ATTEMPTS_FACTOR);
    let (mut claimed, mut deleted, mut effects) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = 0;
    while attempts > 0 && count > 0 && at < pending.len() {
        attempts -= 1;
        let id = pending[at];
        let exists = exists[at];
        at += 1;
        if !exists {
            g.ack(id);
            effects.push(xclaim_effect(key, group, g, id));
            deleted.push(id);
            count -= 1;
            continue;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        if min_idle != 0 && (now as i64 - p.delivery_time as i64) < min_idle {
            continue;
        }
        let times = p.delivery_count + u64::from(!justid);
        let (c, created) = g.consumer(name, now);
        c.seen_time = now;
        if created {
            effects.push(createconsumer_effect(key, group, name));
        }
        g.assign(id, name, now, times);
        claimed.push(id);
        count -= 1;
        effects.push(xclaim_effect(key, group, g, id));
    }
    let cursor = pending.get(at).copied().unwrap_or(StreamId::MIN);
    let claimed_frames = if justid {
        claimed.into_iter().map(id_frame).collect()
    } else {
        claimed
            .into_iter()
            .filter_map(|id| s.get(id))
            .map(entry_frame)
            .collect()
    };
    for e in effects {
        ctx.effect(e);
    }
    Frame::Array(vec![
        id_frame(cursor),
        Frame::Array(claimed_frames),
        Frame::Array(deleted.into_iter().map(id_frame).collect()),
    ])
}

fn bulk(s: &'static str) -> Frame {
    Frame::bulk_str(s)
}

fn opt_entry(e: Option<StreamEntry>) -> Frame {
    e.map_or(Frame::Null, entry_frame)
}

/// XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group | HELP
pub fn xinfo(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let sub = tri!(container_sub(args));
    if sub == "help" {
        return help(&[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ]);
    }
    let key = &args[2];
    let now = ctx.now;
    let s = match stream_ref(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) => return Frame::error("ERR no such key"),
        Err(e) => return e,
    };
    match sub.as_str() {
        "consumers" if args.len() == 4 => {
            let Some(g) = s.groups.get(&args[3]) else {
                return Frame::error(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    lossy(&args[3]),
                    lossy(key)
                ));
            };
            Frame::Array(
                g.consumers
                    .iter()
                    .map(|(name, c)| {
                        Frame::Map(vec![
                            (bulk("name"), Frame::Bulk(name.clone())),
                            (bulk("pending"), Frame::Integer(c.pending.len() as i64)),
                            (
                                bulk("idle"),
                                Frame::Integer((now as i64 - c.seen_time as i64).max(0)),
                            ),
                        ])
                    })
                    .collect(),
            )
        }
        "groups" if args.len() == 3 => Frame::Array(
            s.groups
                .iter()
                .map(|(name, g)| {
                    Frame::Map(vec![
                        (bulk("name"), Frame::Bulk(name.clone())),
                        (bulk("consumers"), Frame::Integer(g.consumers.len() as i64)),
                        (bulk("pending"), Frame::Integer(g.pel.len() as i64)),
                        (bulk("last-delivered-id"), id_frame(g.last_id)),
                        (bulk("entries-read"), entries_read_frame(g)),
                        (bulk("lag"), lag_frame(s, g)),
                    ])
                })
                .collect(),
        ),
        "stream" => xinfo_stream(s, args),
        _ => subcommand_syntax_error(args),
    }
}

fn entries_read_frame(g: &Group) -> Frame {
    if g.entries_read == ENTRIES_READ_UNKNOWN {
        Frame::Null
    } else {
        Frame::Integer(g.entries_read)
    }
}

fn lag_frame(s: &Stream, g: &Group) -> Frame {
    s.lag(g).map_or(Frame::Null, Frame::Integer)
}

fn xinfo_stream(s: &Stream, args: &[Bytes]) -> Frame {
    let opts = &args[3..];
    let mut count: i64 = 10;
    let full = !opts.is_empty();
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !arg_is(&opts[0], "full") {
            return subcommand_syntax_error(args);
        }
        if opts.len() == 3 {
            if !arg_is(&opts[1], "count") {
                return subcommand_syntax_error(args);
            }
            count = tri!(int_arg(&opts[2]));
            if count < 0 {
                count = 10;
            }
        }
    }
    let count = count as usize;
    let mut m = vec![
        (bulk("length"), Frame::Integer(s.len() as i64)),
        (bulk("radix-tree-keys"), Frame::Integer(s.blocks() as i64)),
        // Redis counts its radix tree's inner nodes too; blocks here sit in a
        // B-tree, so this is one node per block plus the root.
        (
            bulk("radix-tree-nodes"),
            Frame::Integer(s.blocks() as i64 + 1),
        ),
        (bulk("last-generated-id"), id_frame(s.last_id)),
        (bulk("max-deleted-entry-id"), id_frame(s.max_deleted_id)),
        (
            bulk("entries-added"),
            Frame::Integer(s.entries_added as i64),
        ),
        (bulk("recorded-first-entry-id"), id_frame(s.first_id())),
    ];
    if !full {
        m.push((bulk("groups"), Frame::Integer(s.groups.len() as i64)));
        m.push((bulk("first-entry"), opt_entry(s.first())));
        m.push((bulk("last-entry"), opt_entry(s.last())));
        return Frame::Map(m);
    }
    let take = |n: usize| if count == 0 { n } else { n.min(count) };
    m.push((
        bulk("entries"),
        entries_frame(s.range(StreamId::MIN, StreamId::MAX, count, false)),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pel = g
                .pel
                .iter()
                .take(take(g.pel.len()))
                .map(|(id, p)| {
                    Frame::Array(vec![
                        id_frame(*id),
                        Frame::Bulk(p.consumer.clone()),
                        Frame::Integer(p.delivery_time as i64),
                        Frame::Integer(p.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let pending = c
                        .pending
                        .iter()
                        .take(take(c.pending.len()))
                        .filter_map(|id| g.pel.get(id).map(|p| (id, p)))
                        .map(|(id, p)| {
                            Frame::Array(vec![
                                id_frame(*id),
                                Frame::Integer(p.delivery_time as i64),
                                Frame::Integer(p.delivery_count as i64),
                            ])
                        })
                        .collect();
                    Frame::Map(vec![
                        (bulk("name"), Frame::Bulk(cname.clone())),
                        (bulk("seen-time"), Frame::Integer(c.seen_time as i64)),
                        (bulk("pel-count"), Frame::Integer(c.pending.len() as i64)),
                        (bulk("pending"), Frame::Array(pending)),
                    ])
                })
                .collect();
            Frame::Map(vec![
                (bulk("name"), Frame::Bulk(name.clone())),
                (bulk("last-delivered-id"), id_frame(g.last_id)),
                (bulk("entries-read"), entries_read_frame(g)),
                (bulk("lag"), lag_frame(s, g)),
                (bulk("pel-count"), Frame::Integer(g.pel.len() as i64)),
                (bulk("pending"), Frame::Array(pel)),
                (bulk("consumers"), Frame::Array(consumers)),
            ])
        })
        .collect();
    m.push((bulk("groups"), Frame::Array(groups)));
    Frame::Map(m)
}

/// `RCSTREAMCHECK key [group]`: the first pass of XREAD/XREADGROUP on one
/// key, checked in Redis's order before anything is served: the type, the
/// group, and `$`. Replies `[last_id]`, or a null array when the key is
/// absent (an error without a group is fine then).
pub fn check_key(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    let s = match stream_ref(ctx, key) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if let Some(group) = args.get(2) {
        if !s.as_ref().is_some_and(|s| s.groups.contains_key(group)) {
            return Frame::error(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                lossy(key),
                lossy(group)
            ));
        }
    }
    match s {
        Some(s) => Frame::Array(vec![id_frame(s.last_id)]),
        None => Frame::NullArray,
    }
}

/// `RCSTREAMREAD key after count [group consumer noack]`: serves one stream
/// of XREAD (entries after `after`) or XREADGROUP (`after` `>`: new
/// entries; otherwise the consumer's history). Replies the entries, or a
/// null array when there is nothing to serve (a blocking reader waits
/// then). A group read logs its deliveries as Redis propagates them.
pub fn read_key(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let key = &args[1];
    let count = crate::util::parse_i64(&args[3]).unwrap_or(0).max(0) as usize;
    let now = ctx.now;
    let s = match stream_mut(ctx, key) {
        Ok(Some(s)) => s,
        Ok(None) => return Frame::NullArray,
        Err(e) => return e,
    };
    let Some(group) = args.get(4) else {
        let Ok(after) = parse_id(&args[2], 0) else {
            return invalid_id();
        };
        let Some(start) = after.next() else {
            return Frame::NullArray;
        };
        let v = s.range(start, StreamId::MAX, count, false);
        return if v.is_empty() {
            Frame::NullArray
        } else {
            entries_frame(v)
        };
    };
    let consumer = &args[5];
    let noack = args.get(6).is_some_and(|a| a[..] == *b"1");
    let Some(g) = s.groups.get_mut(group) else {
        return no_group(key, group);
    };
    let mut effects = Vec::new();
    let new_entries = args[2][..] == *b">";
    // A group read with nothing new is not served at all (no consumer is
    // created), as in Redis.
    let fresh = if new_entries {
        let start = g.last_id.next().unwrap_or(StreamId::MAX);
        let v = s.range(start, StreamId::MAX, count, false);
        if v.is_empty() {
            return Frame::NullArray;
        }
        v
    } else {
        Vec::new()
    };
    let Some(g) = s.groups.get_mut(group) else {
        return no_group(key, group);
    };
    let (c, created) = g.consumer(consumer, now);
    c.seen_time = now;
    if created {
        effects.push(createconsumer_effect(key, group, consumer));
    }
    let reply = if new_entries {
        let v = fresh;
        for e in &v {
            s.advance_group(group, e.id);
            let Some(g) = s.groups.get_mut(group) else {
                break;
            };
            if !noack {
                g.assign(e.id, consumer, now, 1);
                effects.push(xclaim_effect(key, group, g, e.id));
            }
        }
        if let Some(g) = s.groups.get(group) {
            effects.push(setid_effect(key, group, g));
        }
        entries_frame(v)
    } else {
        let Ok(after) = parse_id(&args[2], 0) else {
            return invalid_id();
        };
        let Some(start) = after.next() else {
            return Frame::Array(Vec::new());
        };
        let ids: Vec<StreamId> = g
            .consumers
            .get(consumer)
            .map(|c| c.pending.range(start..).copied().collect())
            .unwrap_or_default();
        let ids = if count == 0 {
            ids
        } else {
            ids.into_iter().take(count).collect()
        };
        let mut out = Vec::new();
        for id in ids {
            match s.get(id) {
                Some(e) => {
                    if let Some(g) = s.groups.get_mut(group) {
                        if let Some(p) = g.pel.get_mut(&id) {
                            p.delivery_time = now;
                            p.delivery_count += 1;
                        }
                        effects.push(xclaim_effect(key, group, g, id));
                    }
                    out.push(entry_frame(e));
                }
                None => out.push(Frame::Array(vec![id_frame(id), Frame::NullArray])),
            }
        }
        Frame::Array(out)
    };
    for e in effects {
        ctx.effect(e);
    }
    reply
}
