//! GEO commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, and the
//! searches GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their
//! `_RO` forms, with Redis 7.0's arguments, errors and replies. A geo set is
//! a plain sorted set whose scores are 52-bit geohashes (`geohash`), so
//! ZSCORE, ZRANGE and a set copied to or from redis-server agree.
//!
//! A search reads the score ranges of the centre's box and its neighbours
//! (`geohash::search_boxes`) in Redis's order, keeps the points inside the
//! shape, and sorts them as Redis does: with glibc's merge sort when every
//! result is returned, with Redis's partial quicksort (`pqsort`) when COUNT
//! cuts the list, so that points at equal distances come out in the same
//! order. Distances are written `%.4f`, coordinates `%.17Lf` without
//! trailing zeros (`Frame::HumanDouble`).
//!
//! GEOADD is logged as the ZADD it makes. The STORE forms (GEORADIUS ...
//! STORE, GEOSEARCHSTORE) run on the source's shard when the destination
//! lives there too; otherwise the source's shard computes the result
//! (read-only) and the destination's shard replaces its key with it, logged
//! as DEL + ZADDs, as ZRANGESTORE does (`cross`).

use super::cross::{run_shard_cmd_as, shard_of};
use super::geohash::{self, Search, Shape};
use super::qsort::{merge_sort, partial_sort};
use super::zsets::{self, zset_ref};
use super::{arg_is, not_integer, syntax_error, Command};
use crate::keyspace::ZSet;
use crate::node::Node;
use crate::protocol::Frame;
use crate::shard::{Access, Ctx};
use bytes::Bytes;

/// A float argument as Redis's `getDoubleFromObject` reads it: no NaN, no
/// overflow to infinity or underflow to zero from a finite text. `what`
/// names it in the error (`need numeric radius`), else the generic one.
fn double_arg(arg: &[u8], what: Option<&'static str>) -> Result<f64, Frame> {
    let err = || match what {
        Some(msg) => Frame::error(format!("ERR {msg}")),
        None => Frame::error("ERR value is not a valid float"),
    };
    crate::util::parse_double(arg).ok_or_else(err)
}

/// A longitude and latitude argument pair, checked against the limits.
fn lon_lat_args(args: &[Bytes]) -> Result<(f64, f64), Frame> {
    let lon = double_arg(&args[0], None)?;
    let lat = double_arg(&args[1], None)?;
    if !(geohash::LON_MIN..=geohash::LON_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Frame::error(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit: m, km, ft, mi (any case).
fn unit_arg(arg: &[u8]) -> Result<f64, Frame> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(Frame::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// A distance as GEODIST and WITHDIST write it: `%.4f`.
fn distance_frame(d: f64) -> Frame {
    Frame::Bulk(Bytes::from(format!("{d:.4}")))
}

/// GEOADD key [NX|XX] [CH] longitude latitude member [...]: the ZADD of
/// the members at their geohash scores, logged as that ZADD.
pub fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < args.len() {
        let a = &args[first];
        if arg_is(a, "nx") {
            nx = true;
        } else if arg_is(a, "xx") {
            xx = true;
        } else if !arg_is(a, "ch") {
            break;
        }
        first += 1;
    }
    let triples = &args[first..];
    if !triples.len().is_multiple_of(3) || (nx && xx) {
        return syntax_error();
    }
    let mut zadd = Vec::with_capacity(first + triples.len() / 3 * 2);
    zadd.push(Bytes::from_static(b"ZADD"));
    zadd.extend_from_slice(&args[1..first]);
    for t in triples.chunks_exact(3) {
        let (lon, lat) = match lon_lat_args(&t[..2]) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let score = geohash::score_of(lon, lat) as u64;
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(t[2].clone());
    }
    let reply = zsets::zadd(ctx, &zadd);
    if ctx.dirty && ctx.effects.is_empty() {
        ctx.effect(zadd);
    }
    reply
}

/// The position stored for `member`, if it is there.
fn position(z: &ZSet, member: &[u8]) -> Option<(f64, f64)> {
    z.score(member).map(geohash::decode_score)
}

/// GEODIST key member1 member2 [unit]
pub fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let to_m = match args.len() {
        4 => 1.0,
        5 => match unit_arg(&args[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        _ => return syntax_error(),
    };
    let z = match zset_ref(ctx, &args[1]) {
        Ok(Some(z)) => z,
        Ok(None) => return Frame::Null,
        Err(e) => return e,
    };
    match (position(z, &args[2]), position(z, &args[3])) {
        (Some((x1, y1)), Some((x2, y2))) => {
            distance_frame(geohash::distance(x1, y1, x2, y2) / to_m)
        }
        _ => Frame::Null,
    }
}

/// GEOHASH key [member ...]: 11-character standard geohashes.
pub fn geohash_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let z = match zset_ref(ctx, &args[1]) {
        Ok(z) => z,
        Err(e) => return e,
    };
    Frame::Array(
        args[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                Some(s) => Frame::Bulk(Bytes::copy_from_slice(&geohash::geohash_string(s))),
                None => Frame::Null,
            })
            .collect(),
    )
}

fn coords_frame((lon, lat): (f64, f64)) -> Frame {
    Frame::Array(vec![Frame::HumanDouble(lon), Frame::HumanDouble(lat)])
}

/// GEOPOS key [member ...]
pub fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let z = match zset_ref(ctx, &args[1]) {
        Ok(z) => z,
        Err(e) => return e,
    };
    Frame::Array(
        args[2..]
            .iter()
            .map(|m| {
                z.and_then(|z| position(z, m))
                    .map_or(Frame::NullArray, coords_frame)
            })
            .collect(),
    )
}

/// Which search command, by its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GEORADIUS key lon lat radius unit ...
    Radius { ro: bool },
    /// GEORADIUSBYMEMBER key member radius unit ...
    ByMember { ro: bool },
    /// GEOSEARCH key ...
    Search,
    /// GEOSEARCHSTORE dst src ...
    SearchStore,
}

impl Kind {
    fn of(name: &[u8]) -> Kind {
        match name.to_ascii_lowercase().as_slice() {
            b"georadius" => Kind::Radius { ro: false },
            b"georadius_ro" => Kind::Radius { ro: true },
            b"georadiusbymember" => Kind::ByMember { ro: false },
            b"georadiusbymember_ro" => Kind::ByMember { ro: true },
            b"geosearchstore" => Kind::SearchStore,
            _ => Kind::Search,
        }
    }

    /// Where the options start, and where the source key is.
    fn layout(self) -> (usize, usize) {
        match self {
            Kind::Radius { .. } => (6, 1),
            Kind::ByMember { .. } => (5, 1),
            Kind::Search => (2, 1),
            Kind::SearchStore => (3, 2),
        }
    }

    fn geosearch(self) -> bool {
        matches!(self, Kind::Search | Kind::SearchStore)
    }

    fn accepts_store(self) -> bool {
        matches!(
            self,
            Kind::Radius { ro: false } | Kind::ByMember { ro: false }
        )
    }
}

/// The key a search stores into (STORE/STOREDIST, GEOSEARCHSTORE's
/// destination), found by walking the options as the parser does; `None`
/// when there is none, or when the arguments are bad before it (the search
/// then fails on its own).
fn store_key(args: &[Bytes]) -> Option<Bytes> {
    let kind = Kind::of(&args[0]);
    if kind == Kind::SearchStore {
        return args.get(1).cloned();
    }
    if !kind.accepts_store() {
        return None;
    }
    let (base, _) = kind.layout();
    let opts = args.get(base..)?;
    let mut store = None;
    let mut i = 0;
    while i < opts.len() {
        let a = &opts[i];
        let has_next = i + 1 < opts.len();
        if ["withdist", "withhash", "withcoord", "any", "asc", "desc"]
            .iter()
            .any(|w| arg_is(a, w))
        {
        } else if (arg_is(a, "count") || arg_is(a, "store") || arg_is(a, "storedist")) && has_next {
            if !arg_is(a, "count") {
                store = Some(opts[i + 1].clone());
            }
            i += 1;
        } else {
            return None;
        }
        i += 1;
    }
    store
}

/// One point found.
struct Point {
    member: Bytes,
    lon: f64,
    lat: f64,
    /// Metres until the reply converts it to the unit asked for.
    dist: f64,
    score: f64,
}

/// What a search produces.
enum Outcome {
    /// The reply to the client.
    Reply(Frame),
    /// The (member, score) pairs to store at `key`, in result order.
    Store {
        key: Bytes,
        pairs: Vec<(Bytes, f64)>,
    },
}

/// The parsed options of a search.
#[derive(Default)]
struct Options {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    /// Ascending (`Some(false)`), descending, or unsorted.
    desc: Option<bool>,
    count: u64,
    store: Option<Bytes>,
    store_dist: bool,
    center: Option<(f64, f64)>,
    from_member: bool,
    from_lonlat: bool,
    shape: Option<(Shape, f64)>,
}

/// A radius and its unit (`BYRADIUS`, GEORADIUS's own).
fn radius_args(args: &[Bytes]) -> Result<(Shape, f64), Frame> {
    let r = double_arg(&args[0], Some("need numeric radius"))?;
    if r < 0.0 {
        return Err(Frame::error("ERR radius cannot be negative"));
    }
    Ok((Shape::Radius(r), unit_arg(&args[1])?))
}

/// A box's width, height and unit (`BYBOX`).
fn box_args(args: &[Bytes]) -> Result<(Shape, f64), Frame> {
    let w = double_arg(&args[0], Some("need numeric width"))?;
    let h = double_arg(&args[1], Some("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(Frame::error("ERR height or width cannot be negative"));
    }
    Ok((Shape::Box(w, h), unit_arg(&args[2])?))
}

fn member_position(z: &ZSet, member: &[u8]) -> Result<(f64, f64), Frame> {
    position(z, member).ok_or_else(|| Frame::error("ERR could not decode requested zset member"))
}

/// Parses a search's arguments in Redis's order (its errors come in the
/// same order), with `z` the source set, if any.
fn parse(z: Option<&ZSet>, args: &[Bytes], kind: Kind) -> Result<Options, Frame> {
    let mut o = Options::default();
    let (base, _) = kind.layout();
    match kind {
        Kind::Radius { .. } => {
            o.center = Some(lon_lat_args(&args[2..4])?);
            o.shape = Some(radius_args(&args[4..6])?);
        }
        // Without the set, the radius is not even read.
        Kind::ByMember { .. } => {
            if let Some(z) = z {
                o.center = Some(member_position(z, &args[2])?);
                o.shape = Some(radius_args(&args[3..5])?);
            }
        }
        Kind::SearchStore => o.store = Some(args[1].clone()),
        Kind::Search => {}
    }
    let opts = &args[base.min(args.len())..];
    let mut i = 0;
    while i < opts.len() {
        let a = &opts[i];
        let left = opts.len() - i - 1;
        if arg_is(a, "withdist") {
            o.with_dist = true;
        } else if arg_is(a, "withhash") {
            o.with_hash = true;
        } else if arg_is(a, "withcoord") {
            o.with_coord = true;
        } else if arg_is(a, "any") {
            o.any = true;
        } else if arg_is(a, "asc") {
            o.desc = Some(false);
        } else if arg_is(a, "desc") {
            o.desc = Some(true);
        } else if arg_is(a, "count") && left >= 1 {
            let n = crate::util::parse_i64(&opts[i + 1]).ok_or_else(not_integer)?;
            if n <= 0 {
                return Err(Frame::error("ERR COUNT must be > 0"));
            }
            o.count = n as u64;
            i += 1;
        } else if (arg_is(a, "store") || arg_is(a, "storedist"))
            && left >= 1
            && kind.accepts_store()
        {
            o.store = Some(opts[i + 1].clone());
            o.store_dist = arg_is(a, "storedist");
            i += 1;
        } else if arg_is(a, "storedist") && kind == Kind::SearchStore {
            o.store_dist = true;
        } else if arg_is(a, "frommember") && left >= 1 && kind.geosearch() && !o.from_lonlat {
            if let Some(z) = z {
                o.center = Some(member_position(z, &opts[i + 1])?);
            }
            o.from_member = true;
            i += 1;
        } else if arg_is(a, "fromlonlat") && left >= 2 && kind.geosearch() && !o.from_member {
            o.center = Some(lon_lat_args(&opts[i + 1..i + 3])?);
            o.from_lonlat = true;
            i += 2;
        } else if arg_is(a, "byradius")
            && left >= 2
            && kind.geosearch()
            && !matches!(o.shape, Some((Shape::Box(..), _)))
        {
            o.shape = Some(radius_args(&opts[i + 1..i + 3])?);
            i += 2;
        } else if arg_is(a, "bybox")
            && left >= 3
            && kind.geosearch()
            && !matches!(o.shape, Some((Shape::Radius(_), _)))
        {
            o.shape = Some(box_args(&opts[i + 1..i + 4])?);
            i += 3;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        let what = if kind == Kind::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Frame::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    let name = || String::from_utf8_lossy(&args[0]).into_owned();
    if kind.geosearch() && !(o.from_member || o.from_lonlat) {
        return Err(Frame::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )));
    }
    if kind.geosearch() && o.shape.is_none() {
        return Err(Frame::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )));
    }
    if o.any && o.count == 0 {
        return Err(Frame::error("ERR the ANY argument requires COUNT argument"));
    }
    Ok(o)
}

/// The points of `z` inside `search`, in the order Redis finds them: box by
/// box, each box's score range in order; at most `limit` (0: no limit).
fn points_within(z: &ZSet, search: &Search, limit: u64) -> Vec<Point> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let reached = |found: &Vec<Point>| limit != 0 && !found.is_empty() && found.len() >= limit;
    let boxes = geohash::search_boxes(search);
    let mut found = Vec::new();
    let mut last: Option<usize> = None;
    for (i, b) in boxes.iter().enumerate() {
        let Some(b) = b else { continue };
        // With a huge radius, neighbours can be the same box: skip one
        // equal to the last box read (Redis never compares with box 0).
        if let Some(l) = last.filter(|&l| l != 0) {
            if boxes[l] == Some(*b) {
                continue;
            }
        }
        if reached(&found) {
            break;
        }
        let (min, max) = geohash::score_range(*b);
        let first = z.count_while(|s, _| s < min);
        for (score, member) in z.range(first, z.len()) {
            if score >= max {
                break;
            }
            let (lon, lat) = geohash::decode_score(score);
            if let Some(dist) = search.contains(lon, lat) {
                found.push(Point {
                    member: member.clone(),
                    lon,
                    lat,
                    dist,
                    score,
                });
            }
            if reached(&found) {
                break;
            }
        }
        last = Some(i);
    }
    found
}

/// Redis's distance comparator (`sort_gp_asc`), NaN and all.
fn cmp_dist(a: &Point, b: &Point) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

/// Runs a search on `z` (the source set, if any): the reply, or what to
/// store.
fn search(z: Option<&ZSet>, args: &[Bytes]) -> Result<Outcome, Frame> {
    let kind = Kind::of(&args[0]);
    let o = parse(z, args, kind)?;
    let (Some(z), Some(center), Some((shape, to_m))) = (z, o.center, o.shape) else {
        // No source set.
        return Ok(match o.store {
            Some(key) => Outcome::Store {
                key,
                pairs: Vec::new(),
            },
            None => Outcome::Reply(Frame::Array(Vec::new())),
        });
    };
    let search = Search {
        center,
        shape,
        to_m,
    };
    // COUNT alone means the nearest: ascending.
    let desc = match o.desc {
        None if o.count != 0 && !o.any => Some(false),
        d => d,
    };
    let mut found = points_within(z, &search, if o.any { o.count } else { 0 });
    let returned = if o.count == 0 {
        found.len()
    } else {
        found
            .len()
            .min(usize::try_from(o.count).unwrap_or(usize::MAX))
    };
    if let Some(desc) = desc {
        let cmp = |a: &Point, b: &Point| {
            let c = cmp_dist(a, b);
            if desc {
                -c
            } else {
                c
            }
        };
        if returned == found.len() {
            merge_sort(&mut found, &cmp);
        } else if returned > 0 {
            partial_sort(&mut found, 0, returned - 1, &cmp);
        }
    }
    found.truncate(returned);
    for p in &mut found {
        p.dist /= to_m;
    }
    if let Some(key) = o.store {
        let pairs = found
            .into_iter()
            .map(|p| {
                let score = if o.store_dist { p.dist } else { p.score };
                (p.member, score)
            })
            .collect();
        return Ok(Outcome::Store { key, pairs });
    }
    let extra = o.with_dist as usize + o.with_hash as usize + o.with_coord as usize;
    let items = found.into_iter().map(|p| {
        if extra == 0 {
            return Frame::Bulk(p.member);
        }
        let mut item = Vec::with_capacity(extra + 1);
        item.push(Frame::Bulk(p.member));
        if o.with_dist {
            item.push(distance_frame(p.dist));
        }
        if o.with_hash {
            item.push(Frame::Integer(p.score as i64));
        }
        if o.with_coord {
            item.push(coords_frame((p.lon, p.lat)));
        }
        Frame::Array(item)
    });
    Ok(Outcome::Reply(Frame::Array(items.collect())))
}

fn search_on(ctx: &mut Ctx, args: &[Bytes]) -> Result<Outcome, Frame> {
    let (_, src) = Kind::of(&args[0]).layout();
    let z = zset_ref(ctx, &args[src])?;
    search(z, args)
}

/// Any search, on the source's shard; a STORE form stores here too (the
/// front sends it here only when the destination lives on this shard).
pub fn geosearch(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match search_on(ctx, args) {
        Ok(Outcome::Reply(f)) => f,
        Ok(Outcome::Store { key, pairs }) => {
            let event = if Kind::of(&args[0]).geosearch() {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            store_result(ctx, &key, event, pairs)
        }
        Err(e) => e,
    }
}

/// The source half of a STORE form whose destination is on another shard
/// (read-only): the pairs to store, as (score, member) arguments, scores in
/// `format_double` text; or the error or reply that ends the command.
fn geosearch_source(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    match search_on(ctx, args) {
        Ok(Outcome::Reply(f)) => Frame::Array(vec![f]),
        Ok(Outcome::Store { pairs, .. }) => Frame::Array(vec![
            Frame::Integer(pairs.len() as i64),
            Frame::Array(
                pairs
                    .into_iter()
                    .flat_map(|(m, s)| {
                        [
                            Frame::Bulk(Bytes::from(crate::util::format_double(s))),
                            Frame::Bulk(m),
                        ]
                    })
                    .collect(),
            ),
        ]),
        Err(e) => e,
    }
}

/// The destination half: `GEOSTORE dst event [score member ...]`.
fn geostore(ctx: &mut Ctx, args: &[Bytes]) -> Frame {
    let mut pairs = Vec::with_capacity(args.len().saturating_sub(3) / 2);
    for p in args[3..].chunks_exact(2) {
        let Some(s) = crate::util::parse_f64(&p[0]) else {
            return Frame::error("ERR value is not a valid float");
        };
        pairs.push((p[1].clone(), s));
    }
    let event = if arg_is(&args[2], "geosearchstore") {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    store_result(ctx, &args[1], event, pairs)
}

/// Replaces `key` with the sorted set of `pairs` (none: deletes it),
/// raising Redis's events; replies with how many were found.
fn store_result(
    ctx: &mut Ctx,
    key: &Bytes,
    event: &'static str,
    mut pairs: Vec<(Bytes, f64)>,
) -> Frame {
    let n = pairs.len();
    // A NaN distance (antipodal rounding) cannot be a score.
    pairs
        .iter_mut()
        .filter(|(_, s)| s.is_nan())
        .for_each(|(_, s)| *s = 0.0);
    zsets::store_pairs(ctx, key, pairs, event);
    Frame::Integer(n as i64)
}

/// GEORADIUS, GEORADIUSBYMEMBER and GEOSEARCHSTORE, which may store into a
/// key on another shard: run where the source lives, and if the
/// destination lives elsewhere, store the result there.
pub(super) async fn search_front(node: &Node, db: usize, cmd: &Command, args: &[Bytes]) -> Frame {
    let (_, src) = Kind::of(&args[0]).layout();
    let from = shard_of(node, &args[src]);
    let dst = store_key(args).filter(|k| shard_of(node, k) != from);
    let Some(dst) = dst else {
        return run_shard_cmd_as(node, from, geosearch, db, args.to_vec(), cmd.access).await;
    };
    let to = shard_of(node, &dst);
    let reply = run_shard_cmd_as(
        node,
        from,
        geosearch_source,
        db,
        args.to_vec(),
        Access::Read,
    );
    let mut parts = match reply.await {
        Frame::Array(parts) => parts.into_iter(),
        other => return other,
    };
    let pairs = match (parts.next(), parts.next()) {
        (Some(Frame::Integer(_)), Some(Frame::Array(pairs))) => pairs,
        (Some(reply), _) => return reply,
        _ => return super::unavailable(),
    };
    let event = if Kind::of(&args[0]).geosearch() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let mut argv = vec![
        Bytes::from_static(b"GEOSTORE"),
        dst,
        Bytes::from_static(event.as_bytes()),
    ];
    argv.extend(pairs.into_iter().filter_map(|f| match f {
        Frame::Bulk(b) => Some(b),
        _ => None,
    }));
    run_shard_cmd_as(node, to, geostore, db, argv, Access::Grow).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(dists: &[f64]) -> Vec<Point> {
        dists
            .iter()
            .enumerate()
            .map(|(i, &d)| Point {
                member: Bytes::from(i.to_string()),
                lon: 0.0,
                lat: 0.0,
                dist: d,
                score: 0.0,
            })
            .collect()
    }

    /// Both sorts put the nearest first; the partial one at least up to
    /// the position asked for.
    #[test]
    fn sorts_order_by_distance() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for n in [0usize, 1, 6, 7, 8, 41, 100, 300] {
            let dists: Vec<f64> = (0..n)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    (rng % 50) as f64
                })
                .collect();
            let mut sorted = dists.clone();
            sorted.sort_by(f64::total_cmp);
            let mut all = points(&dists);
            merge_sort(&mut all, &cmp_dist);
            assert_eq!(all.iter().map(|p| p.dist).collect::<Vec<_>>(), sorted);
            for k in [1usize, 3, 10] {
                if k >= n {
                    continue;
                }
                let mut part = points(&dists);
                partial_sort(&mut part, 0, k - 1, &cmp_dist);
                let got: Vec<f64> = part.iter().take(k).map(|p| p.dist).collect();
                assert_eq!(got, sorted[..k], "n {n} k {k}");
            }
        }
    }
}
