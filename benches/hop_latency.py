#!/usr/bin/env python3
"""Round-trip latency of one client with one request in flight, for a key on the
connection's own shard and for a key on the other shard (issue 19: the other
shard's p50 at most 1.5x the own shard's), beside redis-server in the same run.

    python3 benches/hop_latency.py [--rounds 3] [--requests 5000]

ringcache runs with 2 shards, persistence off. The client does not know which core
accepted its connection, so it measures a key on each shard and calls the faster
one "own"; it also times a MULTI/SET/INCR/EXEC whose keys are on both shards (a
held transaction: several hops one after the other) and, for scale, the same
commands against redis-server. Servers take turns (interleaved rounds, medians of
the rounds' percentiles). Only ratios within one run mean anything: the machine
is shared, and a parked core's wake-up costs much more on a VM than on metal.
"""
import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Server: the side-by-side harness)
from transactions import crc16  # noqa: E402  (Redis's key slot hash)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shard_of(key, shards=2):
    """ringcache's shard of a key without hash tag: slot ranges split evenly."""
    slot = crc16(key.encode()) % 16384
    return next(i for i in range(shards) if slot < ((i + 1) * 16384 + shards - 1) // shards)


def key_on(shard):
    return next(k for k in (f"hop:{i}" for i in range(1000)) if shard_of(k) == shard)


def encode(*args):
    out = f"*{len(args)}\r\n"
    for a in args:
        out += f"${len(a)}\r\n{a}\r\n"
    return out.encode()


def percentiles(port, request, replies_end, n):
    """p50 and p99 (µs) of `n` round trips of `request`; a round trip ends once
    the bytes read end with `replies_end`."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    for i in range(n + n // 10):
        t = time.perf_counter()
        s.sendall(request)
        buf = b""
        while not buf.endswith(replies_end):
            buf += s.recv(65536)
        if i >= n // 10:  # the first tenth warms up
            lat.append((time.perf_counter() - t) * 1e6)
    s.close()
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def measure(port, n):
    own_key, other_key = key_on(0), key_on(1)
    for k in (own_key, other_key):
        percentiles(port, encode("SET", k, "1"), b"+OK\r\n", 10)
    get = {k: percentiles(port, encode("GET", k), b"1\r\n", n) for k in (own_key, other_key)}
    own, other = sorted(get.values())
    tx = (encode("MULTI") + encode("SET", own_key, "1") + encode("SET", other_key, "1")
          + encode("INCR", other_key) + encode("EXEC"))
    exec_ = percentiles(port, tx, b"\r\n:2\r\n", n)
    return {"GET own shard": own, "GET other shard": other, "EXEC on both shards": exec_}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--ringcache", default=os.path.join(REPO, "target/release/ringcache"))
    a = ap.parse_args()
    cfg = argparse.Namespace(start_timeout=30.0, freeze=False, shards=2, server_cpus="",
                             ringcache_args="--appendonly no --save ''",
                             redis_args="--save '' --appendonly no")
    run_dir = tempfile.mkdtemp(prefix="hop-", dir=os.path.join(REPO, "target"))
    results = {}
    try:
        for _ in range(a.rounds):
            for name, binary in (("ringcache", a.ringcache), ("redis", shutil.which("redis-server"))):
                s = bench.Server(name, binary, [], os.path.join(run_dir, name), cfg)
                ok, why = s.start()
                if not ok:
                    sys.exit(f"{name} did not start: {why}")
                for case, (p50, p99) in measure(s.port, a.requests).items():
                    results.setdefault((name, case), []).append((p50, p99))
                s.stop()
    finally:
        bench.cleanup()
        shutil.rmtree(run_dir, ignore_errors=True)
    med = {k: (statistics.median(p for p, _ in v), statistics.median(q for _, q in v))
           for k, v in results.items()}
    print(f"one client, one request in flight, {a.requests} requests, {a.rounds} rounds "
          f"(medians); ringcache --shards 2, persistence off\n")
    print("| case | ringcache p50 µs | p99 µs | redis p50 µs | p99 µs |")
    print("|---|---:|---:|---:|---:|")
    for case in ("GET own shard", "GET other shard", "EXEC on both shards"):
        rc, rd = med[("ringcache", case)], med[("redis", case)]
        print(f"| {case} | {rc[0]:.0f} | {rc[1]:.0f} | {rd[0]:.0f} | {rd[1]:.0f} |")
    own, other = med[("ringcache", "GET own shard")][0], med[("ringcache", "GET other shard")][0]
    print(f"\nother shard / own shard p50: {other / own:.2f}x (issue 19 target: <= 1.5x)")


if __name__ == "__main__":
    main()
