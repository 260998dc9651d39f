//! Micro-benchmarks (criterion): the costs under every request and every
//! persisted byte, measured alone. `cargo bench --bench micro`.
//!
//! - RESP: parsing a pipelined batch of SETs, encoding bulk replies;
//! - a shard running GET and SET (the command table, the keyspace, no network);
//! - the log: encoding records, and a group commit (append + write + fdatasync
//!   through O_DIRECT) on the real disk under target/;
//! - snapshots: encoding a shard's entries, and loading a snapshot file.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringcache::commands::apply_logged;
use ringcache::persistence::{aof, record, snapshot};
use ringcache::protocol::{Frame, Parser, Proto};
use ringcache::shard::Shard;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const BATCH: usize = 1000;

fn resp(c: &mut Criterion) {
    let mut wire = Vec::new();
    for i in 0..BATCH {
        let key = format!("key:{i:012}");
        wire.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$100\r\n", key.len()).as_bytes(),
        );
        wire.extend_from_slice(&[b'v'; 100]);
        wire.extend_from_slice(b"\r\n");
    }
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("parse 1000 pipelined SETs", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |mut buf| {
                let mut parser = Parser::new(512 << 20, 1 << 20);
                let mut out = Vec::with_capacity(BATCH);
                parser.parse(&mut buf, &mut out, usize::MAX).unwrap();
                assert_eq!(out.len(), BATCH);
                out
            },
            BatchSize::SmallInput,
        )
    });
    let reply = Frame::Bulk(Bytes::from(vec![b'v'; 100]));
    g.bench_function("encode 1000 bulk replies", |b| {
        let mut out = Vec::with_capacity(BATCH * 110);
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                reply.encode(Proto::Resp2, &mut out);
            }
            out.len()
        })
    });
    g.finish();
}

fn argv(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn shard(c: &mut Criterion) {
    let mut sh = Shard::new(0, 1, 16);
    let keys: Vec<String> = (0..100_000).map(|i| format!("key:{i:012}")).collect();
    let value = "v".repeat(100);
    for k in &keys {
        apply_logged(&mut sh, 0, &argv(&["SET", k, &value]), 0).unwrap();
    }
    let mut g = c.benchmark_group("shard");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    let sets: Vec<Vec<Bytes>> = keys.iter().map(|k| argv(&["SET", k, &value])).collect();
    let gets: Vec<Vec<Bytes>> = keys.iter().map(|k| argv(&["GET", k])).collect();
    g.bench_function("SET (100k keys, 100 B)", |b| {
        b.iter(|| {
            i = (i + 7919) % sets.len();
            apply_logged(&mut sh, 0, &sets[i], 0)
        })
    });
    g.bench_function("GET (100k keys, 100 B)", |b| {
        b.iter(|| {
            i = (i + 7919) % gets.len();
            apply_logged(&mut sh, 0, &gets[i], 0)
        })
    });
    g.finish();
}

/// A scratch directory on the real disk (O_DIRECT must not be silently off).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("micro-bench")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn log(c: &mut Criterion) {
    let mut g = c.benchmark_group("aof");
    let set = argv(&["SET", "key:000000000042", &"v".repeat(100)]);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("encode 1000 SET records", |b| {
        let mut out = Vec::with_capacity(BATCH * 160);
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                record::encode(&mut out, 0, &set);
            }
            out.len()
        })
    });
    // One group commit of 64 records: append, then wait for the write and
    // fdatasync that hold them. Timed inside a glommio executor.
    g.throughput(Throughput::Elements(64));
    g.sample_size(20);
    g.bench_function("group commit of 64 SETs (write + fdatasync)", |b| {
        b.iter_custom(|iters| {
            let dir = scratch("aof");
            let set = set.clone();
            glommio::LocalExecutorBuilder::default()
                .spawn(move || async move {
                    let file = aof::create_segment(&dir, 0, 1, 1, 16 << 20).await.unwrap();
                    let settings = aof::Settings {
                        policy: ringcache::config::Fsync::Always,
                        extent_bytes: 16 << 20,
                        write_threshold_bytes: 256 << 10,
                    };
                    let log = aof::start(file, settings, (0, 0));
                    let started = Instant::now();
                    for _ in 0..iters {
                        let ticket = {
                            let mut l = log.borrow_mut();
                            let since = l.appended();
                            for _ in 0..64 {
                                l.append(0, &set);
                            }
                            l.ticket(since)
                        };
                        if let Some(t) = ticket {
                            t.await.unwrap();
                        }
                    }
                    started.elapsed()
                })
                .unwrap()
                .join()
                .unwrap()
        })
    });
    g.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut sh = Shard::new(0, 1, 16);
    let n = 100_000;
    let value = "v".repeat(100);
    for i in 0..n {
        apply_logged(
            &mut sh,
            0,
            &argv(&["SET", &format!("key:{i:012}"), &value]),
            0,
        )
        .unwrap();
    }
    let mut g = c.benchmark_group("snapshot");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("encode 100k string entries", |b| {
        let mut out = Vec::with_capacity(n * 140);
        b.iter(|| {
            out.clear();
            sh.keyspace
                .keys(0, 0, |e| snapshot::encode_entry(&mut out, 0, e));
            out.len()
        })
    });
    let dir = scratch("snapshot");
    let mut sink = snapshot::FileSink::create(&dir, 0, 1, 1).unwrap();
    let mut records = Vec::new();
    sh.keyspace
        .keys(0, 0, |e| snapshot::encode_entry(&mut records, 0, e));
    sink.write(&records, n as u64).unwrap();
    let path = sink.finish(0).unwrap();
    g.bench_function("load 100k string entries", |b| {
        b.iter(|| {
            let mut ks = ringcache::keyspace::Keyspace::new(0, 1, 16);
            let loaded = snapshot::load(&path, (0, 1, 1), &mut ks, &|_| true, &mut |_| {}).unwrap();
            assert_eq!(loaded.keys, n as u64);
            ks
        })
    });
    g.finish();
}

criterion_group!(benches, resp, shard, log, snapshots);
criterion_main!(benches);
