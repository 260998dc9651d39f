#!/usr/bin/env python3
"""Eviction quality: hit ratio (and throughput) of a cache workload, ringcache
beside redis-server with the same maxmemory, for allkeys-lru and allkeys-lfu.

Workload: keys drawn from a Zipf(s) distribution (default s=0.99) over N keys
(default 200k); each request is a GET, and a miss is followed by a SET of the
key (a cache filled on demand). `maxmemory` is chosen so that about a tenth of
the keys fit (--fit), the same number for both servers (Redis counts its own
overhead in it; that is its rule). The first --warmup GETs fill the cache and are
not counted; then --requests GETs are measured (counts, not seconds: see
run_case).

--equal-keys compares the policies per key held instead: for each policy Redis
runs first, then ringcache gets the maxmemory at which it holds as many keys as
Redis held at the end (found by a calibration run that SETs that many keys of
the same shape into an unbounded ringcache and reads its used_memory, then
corrected from the keys it holds half-way through the warm-up and at its end).
The keys each server held and its final maxmemory are reported either way.

Hit ratio = GET hits / GETs in the measured part. It does not depend on timing,
so a modest scale is enough. Throughput is requests/s of this one Python client
(pipelined --depth deep): it bounds both servers the same way and is reported
for completeness, not as a server figure (benches/compare.sh is for that).

Standard library only. Binaries: RINGCACHE_BIN (default target/release/
ringcache), REDIS_SERVER_BIN (default redis-server on PATH; benches/compare.sh
installs it). Example:
    benches/eviction.py --keys 200000 --requests 2000000
    benches/eviction.py --keys 200000 --equal-keys
"""

import argparse
import bisect
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True


class Conn:
    """A minimal pipelining RESP2 client."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def send(self, cmds):
        out = []
        for args in cmds:
            out.append(b"*%d\r\n" % len(args))
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if kind == b":":
            return int(rest)
        if kind == b"-":
            return RuntimeError(rest.decode())
        return rest.decode()

    def call(self, *args):
        self.send([args])
        return self.reply()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, binary, maxmemory, policy, datadir):
    port = free_port()
    common = ["--port", str(port), "--maxmemory", str(maxmemory),
              "--maxmemory-policy", policy, "--appendonly", "no", "--save", ""]
    if name == "ringcache":
        argv = [binary, "--shards", "1", "--dir", datadir] + common
    else:
        argv = [binary, "--dir", datadir, "--bind", "127.0.0.1"] + common
    log = open(os.path.join(datadir, "server.log"), "w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            c = Conn(port)
            if c.call("PING") == "PONG":
                return proc, c
        except (OSError, ConnectionError):
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{name} did not start: see {datadir}/server.log")


def zipf_sampler(n, s, seed):
    weights = [1.0 / (i ** s) for i in range(1, n + 1)]
    total = sum(weights)
    cdf, acc = [], 0.0
    for w in weights:
        acc += w / total
        cdf.append(acc)
    rng = random.Random(seed)
    # Rank i is key perm[i]: popularity unrelated to key order (and slot).
    perm = list(range(n))
    rng.shuffle(perm)
    return lambda: perm[min(bisect.bisect_left(cdf, rng.random()), n - 1)]


def run_case(conn, sample, value, depth, warmup, measured, adjust=None):
    """GET-or-SET-on-miss for `warmup` then `measured` GETs; returns (hits,
    gets, requests, seconds) of the measured part. Counted in requests, not
    seconds: a policy's hit ratio depends on how many requests it has seen,
    and a faster server would otherwise be judged after a longer warm-up.
    `adjust`, if given, is called half-way through the warm-up and at its end."""
    hits = gets = requests = 0
    measuring_from = None
    adjusted = 0
    while True:
        if adjust and adjusted < 2 and gets >= warmup * (adjusted + 1) // 2:
            adjust()
            adjusted += 1
        if measuring_from is None and gets >= warmup:
            measuring_from = time.time()
            hits = gets = requests = 0
        if measuring_from is not None and gets >= measured:
            return hits, gets, requests, time.time() - measuring_from
        keys = [b"key:%d" % sample() for _ in range(depth)]
        conn.send([(b"GET", k) for k in keys])
        missed = [k for k in keys if conn.reply() is None]
        if missed:
            conn.send([(b"SET", k, value) for k in missed])
            for _ in missed:
                r = conn.reply()
                if isinstance(r, Exception):
                    sys.exit(f"SET failed: {r}")
        gets += len(keys)
        hits += len(keys) - len(missed)
        requests += len(keys) + len(missed)


def maxmemory_for_keys(binary, count, value, scratch):
    """The maxmemory at which ringcache holds `count` keys of the workload's
    shape: the used_memory of an unbounded ringcache holding exactly those
    (keys and tables as they are at that size)."""
    datadir = tempfile.mkdtemp(prefix="eviction-calibrate-", dir=scratch)
    proc, conn = start("ringcache", binary, 0, "noeviction", datadir)
    try:
        for at in range(0, count, 1000):
            batch = range(at, min(at + 1000, count))
            conn.send([(b"SET", b"key:%d" % i, value) for i in batch])
            for _ in batch:
                conn.reply()
        return int(info(conn, "used_memory"))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(datadir, ignore_errors=True)


def keep_keys(conn, count):
    """An `adjust` for run_case: sets maxmemory so that the server holds about
    `count` keys, from the bytes per key it holds now (under churn its tables
    are not as full as after a plain fill, so the calibration run is only
    the starting point)."""
    def adjust():
        held = conn.call("DBSIZE")
        limit = int(conn.call("CONFIG", "GET", "maxmemory")[1])
        if held:
            conn.call("CONFIG", "SET", "maxmemory", str(limit * count // held))
    return adjust


def info(conn, field):
    text = conn.call("INFO", "all").decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--zipf", type=float, default=0.99)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--fit", type=float, default=0.1,
                    help="fraction of the keys maxmemory is sized for")
    ap.add_argument("--bytes-per-key", type=int, default=250,
                    help="estimate used to size maxmemory from --fit")
    ap.add_argument("--maxmemory", type=int, default=0, help="bytes; overrides --fit")
    ap.add_argument("--ringcache-scale", type=float, default=1.0,
                    help="ringcache's maxmemory = this x Redis's (1: the same, the"
                    " fair comparison; >1 compares policies at an equal number of keys)")
    ap.add_argument("--equal-keys", action="store_true",
                    help="give ringcache the maxmemory at which it holds as many keys"
                    " as Redis did (per-key comparison; overrides --ringcache-scale)")
    ap.add_argument("--requests", type=int, default=2_000_000,
                    help="GETs measured, per case")
    ap.add_argument("--warmup", type=int, default=1_000_000,
                    help="GETs before measuring (filling the cache)")
    ap.add_argument("--depth", type=int, default=64)
    ap.add_argument("--policies", default="allkeys-lru,allkeys-lfu")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    binaries = {
        "ringcache": os.environ.get("RINGCACHE_BIN",
                                    os.path.join(REPO, "target", "release", "ringcache")),
        "redis": os.environ.get("REDIS_SERVER_BIN", shutil.which("redis-server") or ""),
    }
    for name, b in binaries.items():
        if not b or not os.access(b, os.X_OK):
            sys.exit(f"no {name} binary ({b!r}): set RINGCACHE_BIN / REDIS_SERVER_BIN")
    maxmemory = args.maxmemory or int(args.keys * args.fit * args.bytes_per_key)
    value = b"v" * args.value_bytes
    # On the real disk, as benches/bench.py does (a tmpfs /tmp hides O_DIRECT).
    scratch = os.path.join(HERE, "results", "tmp")
    os.makedirs(scratch, exist_ok=True)
    rows = []
    for policy in args.policies.split(","):
        redis_keys = None
        for name in ["redis", "ringcache"] if args.equal_keys else ["ringcache", "redis"]:
            datadir = tempfile.mkdtemp(prefix=f"eviction-{name}-", dir=scratch)
            limit = int(maxmemory * (args.ringcache_scale if name == "ringcache" else 1))
            if name == "ringcache" and args.equal_keys:
                limit = maxmemory_for_keys(binaries[name], redis_keys, value, scratch)
            proc, conn = start(name, binaries[name], limit, policy, datadir)
            try:
                sample = zipf_sampler(args.keys, args.zipf, args.seed)
                adjust = (keep_keys(conn, redis_keys)
                          if name == "ringcache" and args.equal_keys else None)
                hits, gets, requests, secs = run_case(conn, sample, value, args.depth,
                                                      args.warmup, args.requests, adjust)
                limit = int(conn.call("CONFIG", "GET", "maxmemory")[1])
                keys = conn.call("DBSIZE")
                redis_keys = keys if name == "redis" else redis_keys
                rows.append((policy, name, hits / max(gets, 1), requests / secs, keys, limit,
                             info(conn, "used_memory"), info(conn, "evicted_keys")))
            finally:
                proc.kill()
                proc.wait()
                shutil.rmtree(datadir, ignore_errors=True)
    ringcache_memory = ("as many keys as Redis" if args.equal_keys
                        else f"x{args.ringcache_scale}")
    print(f"Zipf({args.zipf}) over {args.keys} keys, {args.value_bytes}-byte values, "
          f"maxmemory {maxmemory} bytes (ringcache: {ringcache_memory}), "
          f"{args.requests} GETs measured after {args.warmup}")
    print()
    print("| policy | server | hit ratio | requests/s (1 client) | keys held | maxmemory"
          " | used_memory | evicted |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for policy, name, ratio, rate, keys, limit, used, evicted in rows:
        print(f"| {policy} | {name} | {ratio:.4f} | {rate:,.0f} | {keys} | {limit} | {used}"
              f" | {evicted} |")


if __name__ == "__main__":
    main()
