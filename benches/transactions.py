#!/usr/bin/env python3
"""MULTI/SET/INCR/EXEC throughput, ringcache beside redis-server in the same run
(issue 21; docs/transactions.md). redis-benchmark cannot send MULTI/EXEC, so each
client process writes `--depth` whole transactions per round trip on a raw socket
and counts EXEC replies; Python only copies bytes, the servers do the work.

    python3 benches/transactions.py [--seconds 5] [--clients 4] [--depth 32] [--shards 2]

Cases: `one-shard` (both keys share a hash tag: ringcache's fast path) and
`two-shards` (a key on each of ringcache's shards: the held path). Only the
ratio within one run means anything: the machine is shared.
"""
import argparse, os, shutil, socket, subprocess, sys, tempfile, time
from multiprocessing import Process, Queue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def slot(key):
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


def key_on(prefix, shard, shards):
    n = 0
    while True:
        k = f"{prefix}{n}".encode()
        if slot(k) * shards // 16384 == shard:
            return k
        n += 1


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def client(port, a, b, depth, seconds, q):
    tx = enc(b"MULTI") + enc(b"SET", a, b"v") + enc(b"INCR", b) + enc(b"EXEC")
    batch = tx * depth
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done, lat = 0, []
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        s.sendall(batch)
        seen, buf = 0, b""
        while seen < depth:
            chunk = s.recv(1 << 16)
            if not chunk:
                raise SystemExit("server closed the connection")
            buf += chunk
            # Each EXEC reply starts with "*2\r\n"; nothing else does.
            seen = buf.count(b"*2\r\n")
        lat.append(time.perf_counter() - t)
        done += depth
    q.put((done, lat))


def run_case(port, a, b, args):
    q = Queue()
    ps = [Process(target=client, args=(port, a, b, args.depth, args.seconds, q)) for _ in range(args.clients)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    total = sum(r[0] for r in res)
    lat = sorted(x for r in res for x in r[1])
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0
    return total / args.seconds, p99


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            raise SystemExit("server exited at start-up")
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/ringcache"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="txbench-", dir=os.path.join(ROOT, "target"))
    servers = {
        "redis-server": ["redis-server", "--save", "", "--appendonly", "no"],
        "ringcache": [args.binary, "--shards", str(args.shards), "--save", "", "--appendonly", "no"],
    }
    one = (b"{t}a", b"{t}b")
    two = (key_on("txa", 0, args.shards), key_on("txb", args.shards - 1, args.shards))
    results = {}
    try:
        for name, cmd in servers.items():
            port = free_port()
            d = os.path.join(tmp, name)
            os.makedirs(d)
            proc = subprocess.Popen(cmd + ["--port", str(port), "--bind", "127.0.0.1", "--dir", d],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(port, proc)
                for case, (a, b) in (("one-shard", one), ("two-shards", two)):
                    results[(name, case)] = run_case(port, a, b, args)
            finally:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"MULTI/SET/INCR/EXEC, {args.clients} clients x {args.depth} transactions per round trip, "
          f"{args.seconds}s per case, ringcache --shards {args.shards}, persistence off")
    print(f"{'case':<12}{'redis tx/s':>14}{'ringcache tx/s':>16}{'ratio':>8}{'redis p99 ms':>14}{'rc p99 ms':>11}")
    for case in ("one-shard", "two-shards"):
        r, rp = results[("redis-server", case)]
        c, cp = results[("ringcache", case)]
        print(f"{case:<12}{r:>14.0f}{c:>16.0f}{c / r:>8.2f}{rp:>14.2f}{cp:>11.2f}")


if __name__ == "__main__":
    sys.exit(main())
