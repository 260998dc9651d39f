//! Payloads taken from redis-server 7.0.15 (`DUMP` after the commands
//! named), read here and written back byte for byte where Redis's form is
//! deterministic; round trips of every type; and corrupt payloads, which
//! must be refused without a panic.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// (what made it, payload) from redis-server 7.0.15.
const FROM_REDIS: &[(&str, &str)] = &[
    ("SET s1 hello", "000568656c6c6f0a006372df766534200a"),
    ("SET s2 12345", "00c139300a009d94ea2793fc08b9"),
    ("RPUSH l1 a 1 b", "1201020f0f00000003008161020101816202ff0a009043a34ceb8e1b1c"),
    ("SADD set1 1 2 3", "0b0e02000000030000000100020003000a00a5025ce26d6e4d1b"),
    ("HSET h1 f v n 5", "1012120000000400816602817602816e020501ff0a008490939f57b4f3c2"),
    ("ZADD z1 1.5 a 2 b", "111414000000040081610283312e35048162020201ff0a00fa02b425af188763"),
    (
        "XADD x1 1-1 f v",
        "130110000000000000000100000000000000011d1d0000000a0001010001010181660200010201000100018176020401ff0101010101000001000a00ff55ab626ac035db",
    ),
];

fn strings(v: &[&str]) -> Vec<Bytes> {
    v.iter().map(|s| Bytes::from(s.to_string())).collect()
}

#[test]
fn redis_payloads_read_and_are_written_back_the_same() {
    for (made_by, payload) in FROM_REDIS {
        let payload = hex(payload);
        let value = restore(&payload).unwrap_or_else(|e| panic!("{made_by}: {e:?}"));
        assert_eq!(dump(&value), payload, "{made_by}");
    }
    let s3 = hex("00c3094064016161e057000161610a00e8a3b507b06df271");
    match restore(&s3).unwrap() {
        Value::Str(s) => assert_eq!(&s[..], &[b'a'; 100][..]),
        _ => panic!("not a string"),
    }
    let set2 = hex("0202016201610a0075d99d835ef85f65");
    match restore(&set2).unwrap() {
        Value::Set(s) => assert!(s.contains(b"a") && s.contains(b"b") && s.len() == 2),
        _ => panic!("not a set"),
    }
}

fn round_trip(v: &Value) -> Value {
    let payload = dump(v);
    restore(&payload).unwrap()
}

#[test]
fn every_type_round_trips_small_and_large() {
    for n in [1usize, 5, 200, 3000] {
        let items: Vec<Bytes> = (0..n)
            .map(|i| {
                Bytes::from(if i % 3 == 0 {
                    format!("{}", i as i64 * 7919 - 100000)
                } else {
                    format!("item-{i}-{}", "x".repeat(i % 90))
                })
            })
            .collect();
        let list: VecDeque<Bytes> = items.iter().cloned().collect();
        match round_trip(&Value::List(list.clone().into())) {
            Value::List(l) => assert_eq!(*l, list),
            _ => panic!(),
        }
        let mut set = Set::default();
        let mut ints = Set::default();
        let mut h = Hash::default();
        let mut z = ZSet::new();
        for (i, it) in items.iter().enumerate() {
            set.insert(it.clone());
            ints.insert(Bytes::from((i as i64 * 1_000_003 - 7).to_string()));
            h.insert(it.clone(), Bytes::from(format!("v{i}")));
            z.insert(it.clone(), i as f64 / 3.0 - 5.0);
        }
        match round_trip(&Value::Set(Box::new(set))) {
            Value::Set(s) => {
                assert_eq!(s.len(), items.len());
                assert!(items.iter().all(|i| s.contains(i)));
            }
            _ => panic!(),
        }
        match round_trip(&Value::Set(Box::new(ints))) {
            Value::Set(s) => assert!(s.contains(b"-7") && s.len() == n),
            _ => panic!(),
        }
        match round_trip(&Value::Hash(h)) {
            Value::Hash(h) => {
                assert_eq!(h.len(), items.len());
                assert_eq!(h.get(&items[n - 1]), Some(format!("v{}", n - 1).as_bytes()));
            }
            _ => panic!(),
        }
        let want: Vec<(f64, Bytes)> = z.range(0, n).map(|(s, m)| (s, m.clone())).collect();
        match round_trip(&Value::ZSet(Box::new(z))) {
            Value::ZSet(z) => {
                let got: Vec<(f64, Bytes)> = z.range(0, n).map(|(s, m)| (s, m.clone())).collect();
                assert_eq!(got, want);
            }
            _ => panic!(),
        }
    }
}

#[test]
fn streams_round_trip_with_groups() {
    use crate::keyspace::stream::Group;
    let mut s = crate::keyspace::Stream::default();
    for i in 1..=450u64 {
        let fields = if i % 7 == 0 {
            strings(&["other", "x", "more", "y"])
        } else {
            vec![Bytes::from("f"), Bytes::from(format!("{i}"))]
        };
        s.append(StreamId::new(1000 + i / 4, i % 4), &fields);
        s.last_id = StreamId::new(1000 + i / 4, i % 4);
    }
    s.delete(StreamId::new(1001, 0));
    s.max_deleted_id = StreamId::new(1001, 0);
    s.entries_added = 450;
    let mut g = Group::new(StreamId::new(1050, 0), 200);
    g.consumer(&Bytes::from("alice"), 77);
    g.consumer(&Bytes::from("bob"), 78);
    g.assign(StreamId::new(1002, 1), &Bytes::from("alice"), 500, 2);
    g.assign(StreamId::new(1003, 1), &Bytes::from("bob"), 501, 1);
    s.groups.insert(Bytes::from("g1"), g);
    s.groups
        .insert(Bytes::from("g2"), Group::new(StreamId::MIN, -1));
    let payload = dump(&Value::Stream(Box::new(s)));
    let Value::Stream(back) = restore(&payload).unwrap() else {
        panic!("not a stream");
    };
    assert_eq!(back.len(), 449);
    assert_eq!(back.last_id, StreamId::new(1112, 2));
    assert_eq!(back.max_deleted_id, StreamId::new(1001, 0));
    assert_eq!(back.entries_added, 450);
    assert_eq!(back.groups.len(), 2);
    let g = &back.groups[&Bytes::from("g1")];
    assert_eq!((g.last_id, g.entries_read), (StreamId::new(1050, 0), 200));
    assert_eq!(g.pel.len(), 2);
    assert_eq!(&g.pel[&StreamId::new(1003, 1)].consumer[..], b"bob");
    assert_eq!(g.consumers[&Bytes::from("alice")].seen_time, 77);
    assert_eq!(back.groups[&Bytes::from("g2")].entries_read, -1);
    let e = back.get(StreamId::new(1001, 3)).unwrap();
    assert_eq!(e.fields, strings(&["other", "x", "more", "y"]));
    // And the payload written again is the same.
    assert_eq!(dump(&Value::Stream(back)), payload);
}

#[test]
fn footer_is_checked() {
    let good = hex(FROM_REDIS[0].1);
    assert!(restore(&good).is_ok());
    assert_eq!(
        restore(&good[..9]).err(),
        Some(RestoreError::VersionOrChecksum)
    );
    let mut later = good.clone();
    let n = later.len();
    later[n - 10] = 11;
    assert_eq!(restore(&later).err(), Some(RestoreError::VersionOrChecksum));
    let mut flipped = good.clone();
    flipped[2] ^= 1;
    assert_eq!(
        restore(&flipped).err(),
        Some(RestoreError::VersionOrChecksum)
    );
}

/// Re-signs a body so that only the object is wrong.
fn signed(body: &[u8]) -> Vec<u8> {
    sign(body)
}

#[test]
fn corrupt_objects_are_refused_never_a_panic() {
    // Lying lengths and counts, in a validly signed payload.
    for body in [
        &[TYPE_STRING, 0x80, 0xff, 0xff, 0xff, 0xff][..],
        &[
            TYPE_STRING,
            0x81,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
        ],
        &[TYPE_LIST, 0x80, 0x7f, 0xff, 0xff, 0xff, 0x01, b'a'],
        &[TYPE_STRING, 0xc3, 0x01, 0x80, 0x7f, 0xff, 0xff, 0xff, 0x00],
        &[TYPE_SET, 0x02, 0x01, b'a', 0x01, b'a'],
        &[TYPE_SET, 0x00],
        &[TYPE_ZSET_2, 0x01, 0x01, b'a', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
        &[99],
        &[],
    ] {
        assert!(
            matches!(restore(&signed(body)), Err(RestoreError::Bad(_))),
            "{body:?}"
        );
    }
    // Every truncation and every byte flip of every payload (re-signed, so
    // the object itself is what is wrong), as a fuzzer would try.
    let mut payloads: Vec<Vec<u8>> = FROM_REDIS.iter().map(|(_, p)| hex(p)).collect();
    let mut big = ZSet::new();
    for i in 0..300 {
        big.insert(Bytes::from(format!("m{i}")), i as f64);
    }
    payloads.push(dump(&Value::ZSet(Box::new(big))));
    for p in payloads {
        let body = &p[..p.len() - FOOTER_BYTES];
        for cut in 0..body.len() {
            assert!(restore(&signed(&body[..cut])).is_err());
        }
        for i in 0..body.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut b = body.to_vec();
                b[i] ^= flip;
                let _ = restore(&signed(&b));
            }
        }
    }
}

/// Mutations `random_mutations_never_panic` tries; the environment's
/// `RINGCACHE_RDB_MUTATIONS` asks for more (a long run).
const MUTATIONS: usize = 20_000;

/// Seeded random mutations (bytes changed, inserted, removed, lengths
/// overwritten) of payloads of every type, re-signed: each is refused or
/// restores into a value that dumps and restores again. Never a panic.
#[test]
fn random_mutations_never_panic() {
    let runs_wanted = std::env::var("RINGCACHE_RDB_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MUTATIONS);
    let mut seeds: Vec<Vec<u8>> = FROM_REDIS.iter().map(|(_, p)| hex(p)).collect();
    let mut list = VecDeque::new();
    let mut h = Hash::default();
    for i in 0..200 {
        list.push_back(Bytes::from(format!("e{i}")));
        h.insert(Bytes::from(format!("f{i}")), Bytes::from(i.to_string()));
    }
    seeds.push(dump(&Value::List(list.into())));
    seeds.push(dump(&Value::Hash(h)));
    let mut z = ZSet::new();
    for i in 0..150 {
        z.insert(Bytes::from(format!("m{i}")), i as f64 * 0.5);
    }
    seeds.push(dump(&Value::ZSet(Box::new(z))));
    let mut st = crate::keyspace::Stream::default();
    for i in 1..40u64 {
        let f = if i % 5 == 0 { "g" } else { "f" };
        st.append(
            StreamId::new(i, 0),
            &[Bytes::from(f), Bytes::from(i.to_string())],
        );
        st.last_id = StreamId::new(i, 0);
    }
    let mut g = crate::keyspace::stream::Group::new(StreamId::new(3, 0), 3);
    g.consumer(&Bytes::from("c"), 5);
    g.assign(StreamId::new(2, 0), &Bytes::from("c"), 9, 1);
    st.groups.insert(Bytes::from("g"), g);
    seeds.push(dump(&Value::Stream(Box::new(st))));
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut ok, mut runs) = (0, 0);
    for _ in 0..runs_wanted {
        let seed = &seeds[(next() % seeds.len() as u64) as usize];
        let mut body = seed[..seed.len() - FOOTER_BYTES].to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % body.len().max(1) as u64) as usize;
            match next() % 5 {
                0 if !body.is_empty() => body[at] = next() as u8,
                1 => body.insert(at.min(body.len()), next() as u8),
                2 if !body.is_empty() => {
                    body.remove(at);
                }
                3 if !body.is_empty() => {
                    body[at] =
                        [0x00, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc3, 0xff][(next() % 8) as usize]
                }
                _ => body.truncate(at),
            }
        }
        runs += 1;
        if let Ok(v) = restore(&sign(&body)) {
            ok += 1;
            assert!(restore(&dump(&v)).is_ok(), "{body:?}");
        }
    }
    eprintln!("{runs} mutated payloads, {ok} restored");
    assert!(ok > 0 && ok < runs);
}
