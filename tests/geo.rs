//! GEO commands against redis-server 7.0, byte for byte, in RESP2 and
//! RESP3: seeded random geo sets (clusters, repeated positions, the edges
//! of the map, the poles, plain sorted-set scores) and random searches of
//! every form (GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and
//! the `_RO` forms; radius and box, every unit, WITH* options, COUNT with
//! and without ANY, ASC/DESC), with sources and destinations on both shards
//! of a 2-shard ringcache; then targeted edge cases (errors in Redis's
//! order, wrong types, missing keys and members, NaN/inf/overflowing
//! numbers, huge radius and COUNT, the empty key, binary members), and the
//! log replay of GEOADD and a cross-shard store. Every stored set is read
//! back with ZRANGE ... WITHSCORES and compared too. Skipped, with a
//! message, when redis-server is not installed (`tests/run.sh` installs it).
//!
//! `RINGCACHE_GEO_SEED=n` runs the random test with seed `n` only;
//! `RINGCACHE_GEO_TRACE=1` prints every command sent.

mod common;

use common::{keys_on, xorshift, Raw, Server};

/// Points per random geo set.
const POINTS: usize = 250;
/// Random commands per (seed, protocol).
const COMMANDS: usize = 500;
/// Seeds in a default run.
const SEEDS: &[u64] = &[0x6e0_5eed, 0xdead_beef_1234, 42];

fn oracle() -> Option<Server> {
    let redis = Server::redis_oracle();
    if redis.is_none() {
        eprintln!(
            "SKIPPED: redis-server is not installed (apt-get install -y redis-server); \
             the GEO differential test needs it as its oracle"
        );
    }
    redis
}

/// Sends `args` to both servers; their replies must be the same bytes.
fn both(r: &mut Raw, o: &mut Raw, args: &[&str], context: &str) -> String {
    if std::env::var_os("RINGCACHE_GEO_TRACE").is_some() {
        eprintln!("{context}: {args:?}");
    }
    let (want, got) = (r.cmd(args), o.cmd(args));
    if got != want {
        // Long replies: show where they part.
        let at = want
            .bytes()
            .zip(got.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len()));
        let window = |s: &str| {
            String::from_utf8_lossy(&s.as_bytes()[at.saturating_sub(80)..(at + 200).min(s.len())])
                .into_owned()
        };
        panic!(
            "{context}: {args:?}\nreplies differ at byte {at}:\n  redis: {:?}\n  ours:  {:?}",
            window(&want),
            window(&got)
        );
    }
    want
}

struct Gen {
    rng: u64,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        xorshift(&mut self.rng) % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A uniform double in [lo, hi].
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (xorshift(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }

    /// A coordinate text: mostly plain decimals, sometimes the limits,
    /// exponent forms or a few digits.
    fn coord(&mut self, lo: f64, hi: f64) -> String {
        match self.below(20) {
            0 => lo.to_string(),
            1 => hi.to_string(),
            2 => format!("{:e}", self.uniform(lo, hi)),
            3 => format!("{:.2}", self.uniform(lo, hi)),
            _ => self.uniform(lo, hi).to_string(),
        }
    }

    /// A position near one of a few centres, or anywhere.
    fn position(&mut self, centres: &[(f64, f64)]) -> (String, String) {
        if self.chance(70) {
            let (x, y) = centres[self.below(centres.len() as u64) as usize];
            let spread = [0.0001, 0.01, 0.5, 5.0][self.below(4) as usize];
            let lon = (x + self.uniform(-spread, spread)).clamp(-180.0, 180.0);
            let lat = (y + self.uniform(-spread, spread)).clamp(-85.05112878, 85.05112878);
            (lon.to_string(), lat.to_string())
        } else {
            (
                self.coord(-180.0, 180.0),
                self.coord(-85.05112878, 85.05112878),
            )
        }
    }

    fn unit(&mut self) -> &'static str {
        self.pick(&["m", "km", "ft", "mi", "KM", "Mi"])
    }

    /// A distance: from zero to beyond the world, log-spread.
    fn distance(&mut self, unit: &str) -> String {
        let metres = match self.below(12) {
            0 => 0.0,
            1 => 1e9,
            2 => self.uniform(0.0, 5.0),
            _ => 10f64.powf(self.uniform(0.0, 7.3)),
        };
        let per = match unit.to_ascii_lowercase().as_str() {
            "km" => 1000.0,
            "ft" => 0.3048,
            "mi" => 1609.34,
            _ => 1.0,
        };
        format!("{}", metres / per)
    }
}

/// The shape and options of a random search, as argument lists.
fn search_args(g: &mut Gen, members: &[String], store: bool) -> (Vec<String>, Vec<String>) {
    let member = |g: &mut Gen| {
        if g.chance(95) {
            members[g.below(members.len() as u64) as usize].clone()
        } else {
            "no-such-member".to_string()
        }
    };
    let mut from = Vec::new();
    if g.chance(50) {
        from.extend(["FROMMEMBER".to_string(), member(g)]);
    } else {
        let (lon, lat) = g.position(&[(13.36, 38.11), (-179.9, 0.0), (2.35, 48.85)]);
        from.extend(["FROMLONLAT".to_string(), lon, lat]);
    }
    let unit = g.unit();
    if g.chance(50) {
        from.extend(["BYRADIUS".to_string(), g.distance(unit), unit.to_string()]);
    } else {
        let (w, h) = (g.distance(unit), g.distance(unit));
        from.extend(["BYBOX".to_string(), w, h, unit.to_string()]);
    }
    let mut opts = Vec::new();
    if !store {
        for w in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
            if g.chance(35) {
                opts.push(w.to_string());
            }
        }
    }
    if g.chance(40) {
        opts.push("COUNT".into());
        let n = [1, 2, 3, 5, 10, 50, 1_000_000][g.below(7) as usize];
        opts.push(n.to_string());
        if g.chance(30) {
            opts.push("ANY".into());
        }
    }
    match g.below(3) {
        0 => opts.push("ASC".into()),
        1 => opts.push("DESC".into()),
        _ => {}
    }
    // Options come in any order.
    for i in (1..opts.len()).rev() {
        if g.chance(30) && opts[i - 1] != "COUNT" && opts[i] != "ANY" && !is_count_value(&opts, i) {
            opts.swap(i, i - 1);
        }
    }
    (from, opts)
}

fn is_count_value(opts: &[String], i: usize) -> bool {
    i > 0 && opts[i - 1] == "COUNT" || (i + 1 < opts.len() && opts[i] == "COUNT")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// How many searches a sequence ran, and how many found something: a
/// sequence whose searches all come back empty would test nothing.
#[derive(Default, Debug)]
struct Tally {
    searches: usize,
    found: usize,
}

impl Tally {
    fn add(&mut self, reply: &str) {
        self.searches += 1;
        let empty = reply.starts_with("*0\r\n") || reply.starts_with(":0\r\n");
        if !empty && !reply.starts_with('-') {
            self.found += 1;
        }
    }
}

/// One random sequence: geo sets on both shards, then random commands.
fn random_sequence(r: &mut Raw, o: &mut Raw, seed: u64, proto: &str, tally: &mut Tally) {
    let mut g = Gen { rng: seed | 1 };
    let ctx = format!("seed {seed} RESP{proto}");
    let srcs = [
        keys_on("geo-src", 0, 2, 1).remove(0),
        keys_on("geo-src", 1, 2, 1).remove(0),
    ];
    let dsts = [
        keys_on("geo-dst", 0, 2, 1).remove(0),
        keys_on("geo-dst", 1, 2, 1).remove(0),
    ];
    let wrong = keys_on("geo-str", 1, 2, 1).remove(0);
    for k in srcs.iter().chain(&dsts).chain([&wrong]) {
        both(r, o, &["DEL", k], &ctx);
    }
    both(r, o, &["SET", &wrong, "x"], &ctx);
    let centres: Vec<(f64, f64)> = (0..4)
        .map(|_| (g.uniform(-180.0, 180.0), g.uniform(-85.0, 85.0)))
        .chain([(179.99, 10.0), (0.0, 84.9), (0.0, -84.9), (13.36, 38.11)])
        .collect();
    let mut members: Vec<String> = Vec::new();
    for src in &srcs {
        let mut positions: Vec<(String, String)> = Vec::new();
        for i in 0..POINTS {
            let m = format!("m{i}");
            // Some points share a position: equal distances, ties in order.
            let (lon, lat) = if !positions.is_empty() && g.chance(15) {
                positions[g.below(positions.len() as u64) as usize].clone()
            } else {
                g.position(&centres)
            };
            positions.push((lon.clone(), lat.clone()));
            let mut args = vec!["GEOADD", src.as_str()];
            let opt = g.pick(&["", "", "", "NX", "XX", "CH", "CH NX"]);
            args.extend(opt.split_whitespace());
            args.extend([lon.as_str(), lat.as_str(), m.as_str()]);
            both(r, o, &args, &ctx);
            if !members.contains(&m) {
                members.push(m);
            }
        }
        // A few plain sorted-set scores: GEOPOS and searches read them too.
        for s in ["-1", "0", "1.5", "4503599627370496", "1e300", "-inf"] {
            both(r, o, &["ZADD", src, s, &format!("z{s}")], &ctx);
        }
        both(r, o, &["ZRANGE", src, "0", "-1", "WITHSCORES"], &ctx);
    }
    members.extend(["z-1", "z0", "z1.5"].map(String::from));
    for step in 0..COMMANDS {
        let ctx = format!("{ctx} step {step}");
        let si = g.below(2) as usize;
        let src = if g.chance(3) {
            wrong.clone()
        } else if g.chance(3) {
            "geo-missing".to_string()
        } else {
            srcs[si].clone()
        };
        let dst = dsts[g.below(2) as usize].clone();
        let m = |g: &mut Gen| members[g.below(members.len() as u64) as usize].clone();
        match g.below(10) {
            0 => {
                let (a, b) = (m(&mut g), m(&mut g));
                let mut args = vec!["GEODIST".to_string(), src, a, b];
                if g.chance(70) {
                    args.push(g.unit().to_string());
                }
                both(r, o, &strs(&args), &ctx);
            }
            1 => {
                let cmd = g.pick(&["GEOPOS", "GEOHASH"]);
                let mut args = vec![cmd.to_string(), src];
                for _ in 0..g.below(5) {
                    args.push(m(&mut g));
                }
                both(r, o, &strs(&args), &ctx);
            }
            2..=4 => {
                let (from, opts) = search_args(&mut g, &members, false);
                let mut args = vec!["GEOSEARCH".to_string(), src];
                args.extend(from);
                args.extend(opts);
                tally.add(&both(r, o, &strs(&args), &ctx));
            }
            5 | 6 => {
                let (from, opts) = search_args(&mut g, &members, true);
                let mut args = vec!["GEOSEARCHSTORE".to_string(), dst.clone(), src];
                args.extend(from);
                args.extend(opts);
                if g.chance(50) {
                    args.push("STOREDIST".into());
                }
                tally.add(&both(r, o, &strs(&args), &ctx));
                both(r, o, &["ZRANGE", &dst, "0", "-1", "WITHSCORES"], &ctx);
            }
            _ => {
                let (_, opts) = search_args(&mut g, &members, false);
                let unit = g.unit();
                let radius = g.distance(unit);
                let by_member = g.chance(50);
                let ro = g.chance(30);
                let name = match (by_member, ro) {
                    (false, false) => "GEORADIUS",
                    (false, true) => "GEORADIUS_RO",
                    (true, false) => "GEORADIUSBYMEMBER",
                    (true, true) => "GEORADIUSBYMEMBER_RO",
                };
                let mut args = vec![name.to_string(), src];
                if by_member {
                    args.push(m(&mut g));
                } else {
                    let (lon, lat) = g.position(&centres);
                    args.extend([lon, lat]);
                }
                args.extend([radius, unit.to_string()]);
                let store = !ro && g.chance(40);
                if store {
                    args.extend(opts.into_iter().filter(|a| !a.starts_with("WITH")));
                    args.push(g.pick(&["STORE", "STOREDIST"]).to_string());
                    args.push(dst.clone());
                } else {
                    args.extend(opts);
                }
                tally.add(&both(r, o, &strs(&args), &ctx));
                if store {
                    both(r, o, &["ZRANGE", &dst, "0", "-1", "WITHSCORES"], &ctx);
                }
            }
        }
    }
}

#[test]
fn random_geo_commands_answer_as_redis() {
    let Some(redis) = oracle() else { return };
    let server = Server::start();
    let seeds: Vec<u64> = match std::env::var("RINGCACHE_GEO_SEED") {
        Ok(s) => vec![s.parse().expect("RINGCACHE_GEO_SEED is a number")],
        Err(_) => SEEDS.to_vec(),
    };
    let mut tally = Tally::default();
    for &seed in &seeds {
        for proto in ["2", "3"] {
            let (mut r, mut o) = (redis.raw(), server.raw());
            r.cmd(&["HELLO", proto]);
            o.cmd(&["HELLO", proto]);
            random_sequence(&mut r, &mut o, seed, proto, &mut tally);
        }
    }
    eprintln!("searches: {tally:?}");
    assert!(
        tally.found * 3 >= tally.searches,
        "too few searches found anything: {tally:?}"
    );
}

/// Fixed cases, each compared with Redis (no expected text here).
#[test]
fn geo_edge_cases_answer_as_redis() {
    let Some(redis) = oracle() else { return };
    let server = Server::start();
    let s0 = keys_on("geo-edge", 0, 2, 2);
    let s1 = keys_on("geo-edge", 1, 2, 2);
    for proto in ["2", "3"] {
        let (mut r, mut o) = (redis.raw(), server.raw());
        let ctx = format!("RESP{proto}");
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        // A source and destinations on the same shard and on the other.
        let (src, dst_same, dst_other, wrong) = (&s0[0], &s0[1], &s1[0], &s1[1]);
        let mut run = |args: &[&str]| {
            let args: Vec<String> = args
                .iter()
                .map(|a| {
                    a.replace("$S", src)
                        .replace("$D", dst_same)
                        .replace("$O", dst_other)
                        .replace("$W", wrong)
                })
                .collect();
            both(&mut r, &mut o, &strs(&args), &ctx);
        };
        for case in [
            "DEL $S $D $O $W",
            "SET $W str",
            // GEOADD's options and errors, in Redis's order.
            "GEOADD $S 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEOADD $S CH 13.361389 38.115556 Palermo 15 37 Catania 2.35 48.85 Paris",
            "GEOADD $S NX XX 1 1 a",
            "GEOADD $S NX 1 1",
            "GEOADD $S CH NX 1 1 a 2 2",
            "GEOADD $S GT 1 1 a",
            "GEOADD $S XX 1 1 newone",
            "GEOADD $S 181 0 a",
            "GEOADD $S 0 85.06 a",
            "GEOADD $S 180 85.05112878 top-right -180 -85.05112878 bottom-left",
            "GEOADD $S 0 0 origin -0 -0 neg-origin",
            "GEOADD $S abc 0 a",
            "GEOADD $S 0 nan a",
            "GEOADD $S inf 0 a",
            "GEOADD $S 1e400 0 a",
            "GEOADD $S 1e-400 0 a",
            "GEOADD $S 0x10 0 a",
            "GEOADD $S ' 1' 0 a",
            "GEOADD $S 1 1 ",
            "GEOADD $W 1 1 a",
            "GEOADD $S",
            "GEOADD",
            "ZRANGE $S 0 -1 WITHSCORES",
            // Reads.
            "GEOPOS $S Palermo nosuch top-right bottom-left origin neg-origin",
            "GEOPOS $S",
            "GEOPOS nosuchkey a b",
            "GEOPOS $W a",
            "GEOHASH $S Palermo Catania Paris top-right bottom-left nosuch",
            "GEOHASH nosuchkey a",
            "GEOHASH $W a",
            "GEODIST $S Palermo Catania",
            "GEODIST $S Palermo Catania KM",
            "GEODIST $S Palermo Catania mi",
            "GEODIST $S Palermo Catania ft",
            "GEODIST $S Palermo Catania yards",
            "GEODIST $S Palermo Catania km extra",
            "GEODIST $S Palermo nosuch",
            "GEODIST nosuchkey a b",
            "GEODIST nosuchkey a b furlongs",
            "GEODIST $W a b",
            "GEODIST $S top-right bottom-left",
            "GEODIST $S origin neg-origin",
            "ZADD $S -5 zneg 1e300 zbig 0.5 zhalf",
            "GEOPOS $S zneg zbig zhalf",
            "GEOHASH $S zneg zbig zhalf",
            "GEODIST $S zneg zbig",
            // Searches: errors in order.
            "GEOSEARCH $S",
            "GEOSEARCH $S FROMMEMBER Palermo",
            "GEOSEARCH $S BYRADIUS 10 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10",
            "GEOSEARCH $S FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 10 km",
            "GEOSEARCH $S FROMLONLAT 1 1 FROMMEMBER Palermo BYRADIUS 10 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km BYBOX 1 1 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYBOX 1 1 km BYRADIUS 10 km",
            "GEOSEARCH $S FROMMEMBER nosuch BYRADIUS 10 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS -1 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS x km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS nan km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 parsec",
            "GEOSEARCH $S FROMMEMBER Palermo BYBOX -1 1 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYBOX 1 x km",
            "GEOSEARCH $S FROMMEMBER Palermo BYBOX x 1 km",
            "GEOSEARCH $S FROMLONLAT 200 1 BYRADIUS 10 km",
            "GEOSEARCH $S FROMLONLAT 1 x BYRADIUS 10 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km COUNT 0",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km COUNT -3",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km COUNT x",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km COUNT",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km ANY",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km STORE x",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km STOREDIST",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 10 km WITHDIST FOO",
            "geosearch $S byradius 10 km",
            "GeoSearch $S frommember Palermo",
            "GEOSEARCH nosuchkey FROMMEMBER x BYRADIUS 10 km",
            "GEOSEARCH nosuchkey FROMMEMBER x BYRADIUS -1 km",
            "GEOSEARCH nosuchkey FROMMEMBER x",
            "GEOSEARCH $W FROMMEMBER x BYRADIUS 10 km",
            "GEOSEARCH $W FOO",
            // Searches: results.
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 200 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 200 km WITHCOORD WITHHASH WITHDIST",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 200 km withhash withdist DESC",
            "GEOSEARCH $S FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHDIST",
            "GEOSEARCH $S FROMLONLAT 15 37 BYBOX 0 0 km",
            "GEOSEARCH $S FROMMEMBER Palermo BYRADIUS 0 m WITHDIST",
            "GEOSEARCH $S FROMLONLAT 0 0 BYRADIUS 1e9 km COUNT 3 WITHDIST",
            "GEOSEARCH $S FROMLONLAT 0 0 BYRADIUS inf m",
            "GEOSEARCH $S FROMLONLAT 0 0 BYBOX inf inf m",
            "GEOSEARCH $S FROMLONLAT 0 0 BYRADIUS 1e-300 m",
            "GEOSEARCH $S FROMLONLAT 0 0 BYRADIUS 20000 km COUNT 9223372036854775807 DESC",
            "GEOSEARCH $S FROMLONLAT 0 0 BYRADIUS 20000 km COUNT 2 ANY",
            "GEOSEARCH $S FROMLONLAT 0 0 BYRADIUS 20000 km COUNT 2 ANY DESC",
            "GEOSEARCH $S FROMLONLAT 180 85.05112878 BYRADIUS 100 km WITHCOORD",
            "GEOSEARCH $S FROMLONLAT -180 -85.05112878 BYBOX 5000 5000 km WITHCOORD",
            // GEORADIUS family.
            "GEORADIUS $S 15 37 200 km",
            "GEORADIUS $S 15 37 200 km WITHDIST WITHCOORD COUNT 1",
            "GEORADIUS $S 15 37 -1 km",
            "GEORADIUS $S 15 37 200 light-years",
            "GEORADIUS $S 15 100 200 km",
            "GEORADIUS $S 15 37 200 km STORE",
            "GEORADIUS $S 15 37 200 km STORE $D WITHDIST",
            "GEORADIUS $S 15 37 200 km FROMMEMBER Palermo",
            "GEORADIUS_RO $S 15 37 200 km STORE $D",
            "GEORADIUS_RO $S 15 37 200 km WITHDIST",
            "GEORADIUSBYMEMBER $S Palermo 200 km WITHDIST DESC",
            "GEORADIUSBYMEMBER $S nosuch 200 km",
            "GEORADIUSBYMEMBER nosuchkey nosuch -5 parsec",
            "GEORADIUSBYMEMBER nosuchkey nosuch 5 km FOO",
            "GEORADIUSBYMEMBER_RO $S Palermo 200 km WITHHASH",
            "GEORADIUSBYMEMBER $W Palermo 200 km",
            // Stores, into a key on this shard and on the other.
            "SET $D old EX 100",
            "GEORADIUS $S 15 37 200 km STORE $D",
            "TTL $D",
            "ZRANGE $D 0 -1 WITHSCORES",
            "GEORADIUS $S 15 37 200 km STOREDIST $O",
            "ZRANGE $O 0 -1 WITHSCORES",
            "GEORADIUSBYMEMBER $S Palermo 200 km STORE $O COUNT 1 DESC",
            "ZRANGE $O 0 -1 WITHSCORES",
            "GEOSEARCHSTORE $O $S FROMMEMBER Palermo BYRADIUS 500 km STOREDIST",
            "ZRANGE $O 0 -1 WITHSCORES",
            "GEOSEARCHSTORE $D $S FROMMEMBER Palermo BYBOX 500 500 mi COUNT 2",
            "ZRANGE $D 0 -1 WITHSCORES",
            "GEOSEARCHSTORE $O $S FROMMEMBER Palermo BYRADIUS 500 km WITHDIST",
            "GEOSEARCHSTORE $O $S FROMMEMBER nosuch BYRADIUS 500 km",
            "GEOSEARCHSTORE $O $W FROMMEMBER Palermo BYRADIUS 500 km",
            "SET $O str",
            "GEOSEARCHSTORE $O $S FROMLONLAT 0 0 BYRADIUS 1 m",
            "EXISTS $O",
            "GEOSEARCHSTORE $O $S FROMLONLAT 15 37 BYRADIUS 500 km",
            "GEOSEARCHSTORE $O nosuchkey FROMLONLAT 15 37 BYRADIUS 500 km",
            "EXISTS $O",
            "GEORADIUS nosuchkey 15 37 200 km STORE $D",
            "EXISTS $D",
            "GEORADIUS $S 15 37 200 km STORE $D STOREDIST $O",
            // On one meridian Redis takes a shortcut that differs in the last bit.
            "GEOADD $S 180 55.58939790995723 meridian",
            "GEOSEARCHSTORE $O $S FROMLONLAT 180 -58.50172094201581 BYRADIUS 20000 km STOREDIST",
            "ZRANGE $O 0 -1 WITHSCORES",
            "GEOSEARCHSTORE $O $S FROMLONLAT 180 -58.50172094201581 BYBOX 1 30000 km STOREDIST",
            "ZRANGE $O 0 -1 WITHSCORES",
            "ZREM $S meridian",
            "ZRANGE $O 0 -1 WITHSCORES",
            "EXISTS $D",
            // The empty key and binary members.
            "GEOADD '' 1 2 ''",
            "GEOPOS '' ''",
            "GEOADD $S 1 2 a\r\nb 1 2 \0",
            "GEOSEARCH $S FROMMEMBER a\r\nb BYRADIUS 1 km WITHDIST",
            "DEL ''",
        ] {
            let args: Vec<&str> = split_case(case);
            run(&args);
        }
    }
}

/// Splits a case on spaces; `''` is the empty argument.
fn split_case(case: &str) -> Vec<&str> {
    let mut args: Vec<&str> = case
        .split(' ')
        .map(|a| if a == "''" { "" } else { a })
        .collect();
    if case.ends_with(' ') {
        args.pop();
    }
    // "' 1'" is an argument with a leading space.
    if let Some(i) = args.iter().position(|a| *a == "'") {
        args[i] = " 1";
        args.remove(i + 1);
    }
    args
}

/// GEOADD is logged as the ZADD it made and a cross-shard store as its
/// result: after a kill -9 the sets are the same, read back as Redis reads
/// the same commands' sets.
#[test]
fn geo_sets_survive_a_restart() {
    let Some(redis) = oracle() else { return };
    let mut server = Server::with(2, &["--appendonly", "yes", "--appendfsync", "always"]);
    let src = keys_on("geo-log", 0, 2, 1).remove(0);
    let dst = keys_on("geo-log", 1, 2, 1).remove(0);
    let mut r = redis.raw();
    let mut g = Gen { rng: 7 };
    let mut cmds: Vec<Vec<String>> = Vec::new();
    for i in 0..100 {
        let (lon, lat) = (g.uniform(-20.0, 20.0), g.uniform(-20.0, 20.0));
        cmds.push(
            [
                "GEOADD",
                &src,
                &lon.to_string(),
                &lat.to_string(),
                &format!("p{i}"),
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    cmds.push(
        [
            "GEOSEARCHSTORE",
            &dst,
            &src,
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1000",
            "km",
        ]
        .map(String::from)
        .to_vec(),
    );
    {
        let mut o = server.raw();
        for c in &cmds {
            both(&mut r, &mut o, &strs(c), "before restart");
        }
    }
    server.kill9_and_restart();
    let mut o = server.raw();
    for key in [&src, &dst] {
        both(
            &mut r,
            &mut o,
            &["ZRANGE", key, "0", "-1", "WITHSCORES"],
            "after restart",
        );
    }
}

/// The STORE forms inside MULTI/EXEC and scripts, with the destination on
/// the other shard, and GEOPOS's doubles as a script sees them.
#[test]
fn geo_in_transactions_and_scripts_answer_as_redis() {
    let Some(redis) = oracle() else { return };
    let server = Server::start();
    let src = keys_on("geo-tx", 1, 2, 1).remove(0);
    let near = keys_on("geo-tx", 1, 2, 2).remove(1);
    let far = keys_on("geo-tx", 0, 2, 2);
    let (mut r, mut o) = (redis.raw(), server.raw());
    let (s, n, f0, f1) = (
        src.as_str(),
        near.as_str(),
        far[0].as_str(),
        far[1].as_str(),
    );
    let cases: Vec<Vec<&str>> = vec![
        vec!["DEL", s, n, f0, f1],
        vec![
            "GEOADD",
            s,
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
        vec!["MULTI"],
        vec![
            "GEOSEARCHSTORE",
            f0,
            s,
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
            "STOREDIST",
        ],
        vec!["GEORADIUS", s, "15", "37", "200", "km", "STORE", n],
        vec![
            "GEORADIUSBYMEMBER",
            s,
            "Palermo",
            "200",
            "km",
            "STORE",
            f1,
            "COUNT",
            "1",
        ],
        vec!["ZRANGE", f0, "0", "-1", "WITHSCORES"],
        vec!["EXEC"],
        vec!["ZRANGE", f1, "0", "-1", "WITHSCORES"],
        vec![
            "EVAL",
            "return redis.call('GEOPOS', KEYS[1], 'Palermo', 'nope')",
            "1",
            s,
        ],
        vec![
            "EVAL",
            "redis.setresp(3); return redis.call('GEOPOS', KEYS[1], 'Palermo')",
            "1",
            s,
        ],
        vec![
            "EVAL",
            "return redis.call('GEORADIUS', KEYS[1], 15, 37, 200, 'km', 'STOREDIST', KEYS[2])",
            "2",
            s,
            f1,
        ],
        vec!["ZRANGE", f1, "0", "-1", "WITHSCORES"],
        vec![
            "EVAL",
            "return redis.call('GEODIST', KEYS[1], 'Palermo', 'Catania', 'km')",
            "1",
            s,
        ],
        vec![
            "COMMAND",
            "GETKEYS",
            "GEORADIUS",
            s,
            "1",
            "1",
            "1",
            "km",
            "STORE",
            f0,
            "STOREDIST",
            f1,
        ],
        vec![
            "COMMAND",
            "GETKEYS",
            "GEOSEARCHSTORE",
            f0,
            s,
            "FROMMEMBER",
            "a",
            "BYRADIUS",
            "1",
            "m",
        ],
    ];
    for proto in ["2", "3"] {
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        for c in &cases {
            both(&mut r, &mut o, c, &format!("RESP{proto}"));
        }
    }
}
