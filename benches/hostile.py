#!/usr/bin/env python3
"""Hostile clients against ringcache: does one misbehaving client hurt the others?

Starts ringcache (the release binary), measures a well-behaved client's GET
latency one request at a time (quiet), then again while each hostile client
runs, one scenario at a time (issue 9, docs/security.md):

  idle       5,000 connections opened and held, sending nothing;
  bulk-4gb   a client announcing a 4 GB bulk string and trickling its bytes;
  pipeline   a client pipelining 1M GETs of a 1 MB value without reading its
             replies, until the output-buffer limit disconnects it;
  slowloris  a client sending one byte per 100 ms.

The server's RSS (VmRSS of /proc/PID/status) is read before and sampled every
20 ms during each scenario. Hostile clients run in their own processes, so the
measuring client does not share an interpreter lock with them.

Prints a table and writes it to benches/results/hostile-<date>.md
(`--quick`: fewer GETs and pipelined requests, `hostile-<date>-quick.md`, which
git ignores). Bounded in time (an alarm stops it after --max-seconds) and stops
every process it started, even on error. Standard library only; the RESP
client and server handling come from bench.py.

  python3 benches/hostile.py [--binary target/release/ringcache] [--quick]
"""

import argparse
import datetime
import multiprocessing
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from bench import Resp, Server, cleanup, rss_bytes, on_signal, md_table  # noqa: E402

VALUE_BYTES = 100
BIG_BYTES = 1 << 20
RSS_EVERY_S = 0.02
IDLE_CONNECTIONS = 5000
SLOWLORIS_PERIOD_S = 0.1
# Bytes of the announced 4 GB value the bulk-4gb client trickles per step.
TRICKLE_BYTES = 64 << 10
TRICKLE_PERIOD_S = 0.01
# How long the pipeline client may wait to be disconnected.
PIPELINE_LINGER_S = 75
# poll(2): the peer closed its end (not in Python's select module).
POLLRDHUP = 0x2000


def log(msg):
    print(f"[hostile {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


# ----------------------------------------------------------------------------- hostile clients
# Each runs in its own process until `stop` is set or it is done, and puts one
# line saying what happened on `result`.


def idle(port, stop, ready, result, n=IDLE_CONNECTIONS):
    socks, failed = [], ""
    for _ in range(n):
        try:
            socks.append(connect(port))
        except OSError as e:
            failed = f" (then: {e})"
            break
    ready.set()
    stop.wait()
    # Still open: the server closes idle clients only with `timeout`.
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += s.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.close()
    result.put(f"{len(socks)} opened, {alive} still open{failed}")


def closed_by_server(s):
    """The server's reply (if any) once it has closed `s`."""
    s.settimeout(2)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return got.decode(errors="replace").strip()[:60]


def bulk_4gb(port, stop, ready, result):
    s = connect(port)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhuge\r\n$4294967296\r\n")
    ready.set()
    started, sent, chunk = time.monotonic(), 0, b"x" * TRICKLE_BYTES
    try:
        while not stop.is_set():
            s.sendall(chunk)
            sent += len(chunk)
            time.sleep(TRICKLE_PERIOD_S)
        result.put(f"still connected after {sent >> 20} MB trickled")
    except OSError:
        reply = closed_by_server(s)
        result.put(f"closed after {time.monotonic() - started:.1f}s, {sent >> 10} KB: {reply!r}")
    s.close()


def pipeline(port, stop, ready, result, n):
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    per = resp_command("GET", "big")
    batch = per * 1000
    ready.set()
    started, sent = time.monotonic(), 0
    try:
        while sent < n and not stop.is_set():
            s.sendall(batch)
            sent += 1000
        # Never read the replies: wait for the server to give up on us.
        p = select.poll()
        p.register(s, POLLRDHUP | select.POLLHUP | select.POLLERR)
        while not stop.is_set():
            if p.poll(100):
                raise ConnectionResetError()
        result.put(f"sent {sent} GETs; not disconnected")
    except TimeoutError:
        # Our own send timed out: the server stopped reading (it reads
        # nothing while a batch of replies waits to be written).
        result.put(f"server stopped reading after {sent} GETs sent, "
                   f"{time.monotonic() - started:.1f}s; still connected")
    except OSError:
        result.put(f"disconnected after {sent} GETs sent, {time.monotonic() - started:.1f}s")
    s.close()


def slowloris(port, stop, ready, result):
    s = connect(port)
    request = resp_command("SET", "slow", "x" * 64)
    ready.set()
    sent = 0
    try:
        while not stop.is_set():
            s.sendall(request[sent % len(request):][:1])
            sent += 1
            time.sleep(SLOWLORIS_PERIOD_S)
        result.put(f"{sent} bytes sent, still connected")
    except OSError:
        result.put(f"closed after {sent} bytes: {closed_by_server(s)!r}")
    s.close()


# ----------------------------------------------------------------------------- measuring


def latencies(port, n):
    """n GETs one at a time; their round trips in µs, sorted."""
    c = Resp(port)
    out = []
    try:
        for i in range(n):
            t = time.perf_counter()
            c.call("GET", f"key:{i % 1000}")
            out.append((time.perf_counter() - t) * 1e6)
    finally:
        c.close()
    out.sort()
    return out


def pct(sorted_xs, p):
    return sorted_xs[min(len(sorted_xs) - 1, int(len(sorted_xs) * p / 100))]


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid) or 0)
            time.sleep(RSS_EVERY_S)


def scenario(server, name, fn, args, gets, linger=0):
    """Runs `fn` in its own process while measuring, then up to `linger` s
    more for it to end by itself; the table row."""
    stop, ready = multiprocessing.Event(), multiprocessing.Event()
    result = multiprocessing.Queue()
    before = rss_bytes(server.pid) or 0
    sampler = RssSampler(server.pid)
    sampler.start()
    proc = multiprocessing.Process(target=fn, args=(server.port, stop, ready, result) + args,
                                   daemon=True)
    proc.start()
    try:
        ready.wait(60)
        time.sleep(0.2)  # let the attack start
        lat = latencies(server.port, gets)
        proc.join(linger)
        stop.set()
        proc.join(30)
        outcome = result.get(timeout=5) if not result.empty() else "no report"
    finally:
        stop.set()
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        sampler.done.set()
        sampler.join()
    if not server.alive():
        outcome += "; SERVER DIED"
    return name, lat, before, max(sampler.peak, before), outcome


def mb(b):
    return f"{b / (1 << 20):.1f}"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "ringcache"))
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--gets", type=int, default=20000, help="GETs per measurement")
    ap.add_argument("--pipelined", type=int, default=1_000_000, help="GETs the pipeline client sends")
    ap.add_argument("--quick", action="store_true", help="2,000 GETs, 100k pipelined: a check it works")
    ap.add_argument("--max-seconds", type=int, default=170)
    cfg = ap.parse_args(argv)
    if cfg.quick:
        cfg.gets, cfg.pipelined = 2000, 100_000
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(cfg.max_seconds)
    # 5,000 sockets here and as many in the server, which inherits the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * IDLE_CONNECTIONS + 1000)), hard))

    datadir = os.path.join(HERE, "results", "tmp", "hostile")
    server_cfg = types.SimpleNamespace(shards=cfg.shards, ringcache_args="", server_cpus=None,
                                       start_timeout=30, freeze=False)
    server = Server("ringcache", cfg.binary, ["--save", "", "--appendonly", "no"], datadir, server_cfg)
    try:
        ok, why = server.start()
        if not ok:
            log(f"cannot start {cfg.binary}: {why}")
            return 1
        c = Resp(server.port)
        for i in range(1000):
            c.call("SET", f"key:{i}", "v" * VALUE_BYTES)
        c.call("SET", "big", b"b" * BIG_BYTES)
        c.close()
        log(f"quiet: {cfg.gets} GETs")
        quiet = latencies(server.port, cfg.gets)
        q50, q99 = pct(quiet, 50), pct(quiet, 99)
        rows = []
        for name, fn, args in [
            ("idle 5,000 connections", idle, ()),
            ("4 GB bulk announced, trickled", bulk_4gb, ()),
            (f"{cfg.pipelined:,} pipelined GETs of 1 MB, unread", pipeline, (cfg.pipelined,)),
            ("slowloris, 1 byte / 100 ms", slowloris, ()),
        ]:
            log(name)
            # The pipeline client waits for the output limit to drop it: 60 s
            # above the soft limit by default.
            linger = PIPELINE_LINGER_S if fn is pipeline else 0
            _, lat, before, peak, outcome = scenario(server, name, fn, args, cfg.gets, linger)
            p50, p99 = pct(lat, 50), pct(lat, 99)
            rows.append([name, f"{q99:.0f}", f"{p50:.0f}", f"{p99:.0f}", f"{p99 / q99:.2f}",
                         mb(before), mb(peak), outcome])
            if not server.alive():
                break
    finally:
        signal.alarm(0)
        cleanup()
    headers = ["scenario", "quiet p99 µs", "p50 during µs", "p99 during µs", "p99 ratio",
               "RSS before MB", "RSS peak MB", "outcome"]
    text = "\n".join([
        f"# Hostile clients, {datetime.date.today()}",
        "",
        f"ringcache `{cfg.binary}`, {cfg.shards} shards, {os.cpu_count()} CPUs; {cfg.gets:,} GETs "
        f"of a {VALUE_BYTES} B value one at a time per measurement; quiet p50 {q50:.0f} µs, "
        f"p99 {q99:.0f} µs. Issue 9 asks for p99 within 2x of quiet and a bounded RSS.",
        "",
        md_table(headers, rows),
        "",
    ])
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results",
                       f"hostile-{datetime.date.today()}{'-quick' if cfg.quick else ''}.md")
    with open(out, "w") as f:
        f.write(text)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
