#!/usr/bin/env python3
"""Lua scripts and streams, ringcache beside redis-server 7.0 in the same run
(issues 22 and 23; docs/scripting.md, docs/streams.md).

    python3 benches/scripts_streams.py [--rounds 3] [--shards 1,2] [--cases evalsha-set,...]

Servers: redis-server and one ringcache per `--shards` value, all with
persistence off. Rounds are interleaved (every case runs on every server in
turn, the order rotated each round; the servers not being measured are
stopped with SIGSTOP so they cannot steal the shared CPUs); each figure is the
median over rounds. Two measures per run:
  * requests/s (client-bound on a 2-core machine: only the ratio within one
    run means anything);
  * the server's CPU time per request (utime+stime of every thread from
    /proc, divided by the requests): the load-independent measure. Hardware
    counters (`perf stat -e instructions`) are not available on this VM.

Cases (50 clients, P1 and P16 unless noted):
  evalsha-set     EVALSHA of `return redis.call('SET', KEYS[1], ARGV[1])`,
                  random keys (the issue's benchmark)
  evalsha-lock    EVALSHA of redis-py Lock's release script (GET, compare,
                  DEL), random keys (mostly absent: GET and return 0)
  eval-two-shards EVALSHA of a script reading two keys that ringcache puts on
                  two shards (on one shard when --shards 1)
  xadd, xadd-maxlen  XADD s * f v, and with MAXLEN ~ 1000
  xrange-100      XRANGE of 100 entries of a 1000-entry stream
  xreadgroup-xack cycles of XREADGROUP GROUP g c COUNT 1 STREAMS s > and
                  XACK of the entry read, per client its own stream (so the
                  ID is known and the replies are checked byte for byte);
                  --xclients client processes, 1 or 16 cycles per round trip
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing import Process, Queue

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from bench import median, proc_cpu_seconds  # noqa: E402
from transactions import enc, free_port, key_on, wait_port  # noqa: E402

SET_SCRIPT = "return redis.call('SET', KEYS[1], ARGV[1])"
# redis-py 5's Lock.LUA_RELEASE_SCRIPT.
LOCK_RELEASE_SCRIPT = """
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
redis.call('del', KEYS[1])
return 1
"""
TWO_KEYS_SCRIPT = "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}"
CASES = ["evalsha-set", "evalsha-lock", "eval-two-shards", "xadd", "xadd-maxlen",
         "xrange-100", "xreadgroup-xack"]


def call(port, *args):
    """One command, its reply's raw bytes (enough for the set-up here)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(enc(*[a if isinstance(a, bytes) else str(a).encode() for a in args]))
        buf = b""
        while not buf.endswith(b"\r\n") or (buf.startswith(b"$") and buf.count(b"\r\n") < 2):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            buf += chunk
        return buf


def replies_in(buf):
    """How many whole top-level replies `buf` holds (simple, error, integer,
    bulk and flat arrays of those: what the fills get back), and whether one
    is an error."""
    i, n, err = 0, 0, False
    while i < len(buf):
        end = buf.find(b"\r\n", i)
        if end < 0:
            break
        kind, head = buf[i:i + 1], buf[i + 1:end]
        if kind == b"$" and int(head) >= 0:
            end = end + 2 + int(head)
            if len(buf) < end + 2:
                break
        elif kind == b"*":
            raise SystemExit("pipe(): array replies are not counted")
        err |= kind == b"-"
        i, n = end + 2, n + 1
    return n, err


def pipe(port, commands):
    """Sends many commands pipelined; returns when every reply came."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"".join(commands))
        buf = b""
        while True:
            n, err = replies_in(buf)
            if err:
                raise SystemExit(f"fill error: {buf[:300]!r}")
            if n >= len(commands):
                return
            chunk = s.recv(1 << 20)
            if not chunk:
                raise SystemExit("server closed the connection during a fill")
            buf += chunk


class Server:
    def __init__(self, name, cmd, tmp):
        self.name, self.port = name, free_port()
        d = os.path.join(tmp, name)
        os.makedirs(d)
        self.proc = subprocess.Popen(cmd + ["--port", str(self.port), "--dir", d],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)
        self.sha = {}

    def freeze(self, stopped):
        os.kill(self.proc.pid, signal.SIGSTOP if stopped else signal.SIGCONT)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def load_scripts(s, shards):
    for name, body in (("set", SET_SCRIPT), ("lock", LOCK_RELEASE_SCRIPT), ("two", TWO_KEYS_SCRIPT)):
        reply = call(s.port, "SCRIPT", "LOAD", body)
        s.sha[name] = reply.split(b"\r\n")[1].decode()
    a, b = key_on("ka", 0, shards), key_on("kb", shards - 1, shards)
    s.two_keys = (a, b)
    pipe(s.port, [enc(b"SET", a, b"va"), enc(b"SET", b, b"vb")])
    pipe(s.port, [enc(b"DEL", b"bench:s1000")]
         + [enc(b"XADD", b"bench:s1000", b"*", b"f", b"v") for _ in range(1000)])


def rb_args(s, case):
    if case == "evalsha-set":
        return ["evalsha", s.sha["set"], "1", "key:__rand_int__", "v"]
    if case == "evalsha-lock":
        return ["evalsha", s.sha["lock"], "1", "key:__rand_int__", "token"]
    if case == "eval-two-shards":
        return ["evalsha", s.sha["two"], "2", s.two_keys[0].decode(), s.two_keys[1].decode()]
    if case == "xadd":
        return ["xadd", "bench:s", "*", "f", "v"]
    if case == "xadd-maxlen":
        return ["xadd", "bench:sm", "MAXLEN", "~", "1000", "*", "f", "v"]
    if case == "xrange-100":
        return ["xrange", "bench:s1000", "-", "+", "COUNT", "100"]
    raise ValueError(case)


def redis_benchmark(s, case, p, args):
    n = args.requests * (4 if p > 1 else 1)
    cmd = ["redis-benchmark", "-p", str(s.port), "-n", str(n), "-c", "50", "-P", str(p),
           "-r", "100000", "-q"] + rb_args(s, case)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    m = re.findall(r"([0-9.]+) requests per second", out.replace("\r", "\n"))
    if not m:
        raise SystemExit(f"redis-benchmark gave no figure: {out[-300:]}")
    errs = call(s.port, "INFO", "errorstats")
    return float(m[-1]), n, errs


# ------------------------------------------------------------ XREADGROUP + XACK

def xreply(stream, n):
    sid = b"%d-1" % n
    return (b"*1\r\n*2\r\n$%d\r\n%s\r\n*1\r\n*2\r\n$%d\r\n%s\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
            % (len(stream), stream, len(sid), sid)) + b":1\r\n"


def xclient(port, stream, group, cycles, depth, q):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    done, bad = 0, 0
    t0 = time.perf_counter()
    while done < cycles:
        batch, want = [], []
        for n in range(done + 1, min(done + depth, cycles) + 1):
            batch.append(enc(b"XREADGROUP", b"GROUP", group, b"c", b"COUNT", b"1",
                             b"STREAMS", stream, b">"))
            batch.append(enc(b"XACK", stream, group, b"%d-1" % n))
            want.append(xreply(stream, n))
        s.sendall(b"".join(batch))
        expect = b"".join(want)
        buf = b""
        while len(buf) < len(expect):
            chunk = s.recv(1 << 16)
            if not chunk:
                raise SystemExit("server closed the connection")
            buf += chunk
        bad += buf != expect
        done += len(want)
    q.put((done, time.perf_counter() - t0, bad))


def xreadgroup_prepare(s, args, rnd):
    """Each client's stream holds `cycles` entries 1-1, 2-1, ...; a fresh
    group per run reads them again from the start."""
    group = b"g%d" % rnd
    first = not getattr(s, "x_filled", False)
    s.x_filled = True
    for i in range(args.xclients):
        stream = b"bench:x%d" % i
        if first:
            pipe(s.port, [enc(b"XADD", stream, b"%d-1" % n, b"f", b"v")
                          for n in range(1, args.xcycles + 1)])
        pipe(s.port, [enc(b"XGROUP", b"CREATE", stream, group, b"0")])
    return group


def xreadgroup_run(s, depth, group, args):
    q = Queue()
    cycles = args.xcycles if depth > 1 else args.xcycles // 8
    ps = [Process(target=xclient, args=(s.port, b"bench:x%d" % i, group, cycles, depth, q))
          for i in range(args.xclients)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    elapsed = time.perf_counter() - t0
    for p in ps:
        p.join()
    done = sum(r[0] for r in res)
    if any(r[2] for r in res):
        raise SystemExit(f"{s.name}: XREADGROUP/XACK replies differ from the expected bytes")
    # Two commands per cycle.
    return 2 * done / elapsed, 2 * done


# ------------------------------------------------------------ driver

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shards", default="1,2", help="ringcache shard counts, comma-separated")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--requests", type=int, default=50000, help="requests per P1 run (P16: 4x)")
    ap.add_argument("--xclients", type=int, default=8)
    ap.add_argument("--xcycles", type=int, default=20000, help="XREADGROUP+XACK cycles per client at P16 (P1: /8)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/ringcache"))
    ap.add_argument("--before", help="another ringcache binary (e.g. the code before a change), "
                    "run beside the others as ringcache-before-N")
    ap.add_argument("--markdown", help="append the table to this file")
    args = ap.parse_args()
    cases = args.cases.split(",")
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tmp = tempfile.mkdtemp(prefix="ssbench-", dir=os.path.join(ROOT, "target"))
    specs = [("redis", ["redis-server", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"], 1)]
    binaries = [("ringcache", args.binary)] + ([("ringcache-before", args.before)] if args.before else [])
    for label, binary in binaries:
        for n in args.shards.split(","):
            specs.append((f"{label}-{n}", [binary, "--shards", n, "--save", "", "--appendonly", "no",
                                           "--bind", "127.0.0.1"], int(n)))
    servers, results = [], {}
    try:
        for name, cmd, shards in specs:
            s = Server(name, cmd, tmp)
            load_scripts(s, shards)
            servers.append(s)
        for s in servers:
            s.freeze(True)
        for rnd in range(args.rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for case in cases:
                for p in pipelines:
                    for s in order:
                        s.freeze(False)
                        try:
                            group = xreadgroup_prepare(s, args, rnd * 10 + p) if case == "xreadgroup-xack" else None
                            cpu0 = proc_cpu_seconds(s.proc.pid)
                            if case == "xreadgroup-xack":
                                rps, n = xreadgroup_run(s, p, group, args)
                                errs = b""
                            else:
                                rps, n, errs = redis_benchmark(s, case, p, args)
                            cpu = proc_cpu_seconds(s.proc.pid) - cpu0
                        finally:
                            s.freeze(True)
                        if b"errorstat_" in errs:
                            raise SystemExit(f"{s.name} {case}: error replies: {errs!r}")
                        results.setdefault((case, p, s.name), []).append((rps, cpu * 1e6 / n))
                        print(f"round {rnd} {case} P{p} {s.name}: {rps:,.0f} req/s, "
                              f"{cpu * 1e6 / n:.1f} us CPU/req", flush=True)
    finally:
        for s in servers:
            try:
                s.freeze(False)
            except OSError:
                pass
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    names = [s.name for s in servers]
    rc = [n for n in names if n != "redis"]
    head = "| case | P | redis req/s | " + " | ".join(f"{n} req/s | ratio" for n in rc) + \
           " | redis µs CPU/req | " + " | ".join(f"{n} µs CPU/req" for n in rc) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for case in cases:
        for p in pipelines:
            if (case, p, "redis") not in results:
                continue
            med = {n: (median([r for r, _ in results[(case, p, n)]]),
                       median([c for _, c in results[(case, p, n)]])) for n in names}
            row = [case, str(p), f"{med['redis'][0]:,.0f}"]
            for n in rc:
                row += [f"{med[n][0]:,.0f}", f"{med[n][0] / med['redis'][0]:.2f}"]
            row.append(f"{med['redis'][1]:.1f}")
            row += [f"{med[n][1]:.1f}" for n in rc]
            lines.append("| " + " | ".join(row) + " |")
    table = "\n".join(lines)
    print(f"\n{args.rounds} rounds, medians; 50 clients (xreadgroup-xack: {args.xclients} clients), "
          f"persistence off\n{table}")
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    sys.exit(main())
