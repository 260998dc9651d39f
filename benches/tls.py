#!/usr/bin/env python3
"""TLS throughput of ringcache beside redis-server, both with TLS, same run.

    python3 benches/tls.py                  # 3 interleaved rounds (~3 min)
    python3 benches/tls.py --rounds 1 --requests 50000

Makes a test CA and a server certificate with openssl in a scratch directory,
starts each server with `--tls-port` (persistence off, `tls-auth-clients no`:
the clients need no certificate), and runs `redis-benchmark --tls` (50
clients, SET and GET, plain and `-P 16`) against one server at a time, in
rotated order, with the other frozen (SIGSTOP). Reports medians, the ratio
ringcache / Redis, and server CPU per request from /proc. Issue 24's target
is >= 1.0x Redis's throughput.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Server, free_port, proc_cpu_seconds, git_rev)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_certs(d):
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    run("genrsa", "-out", "ca.key", "2048")
    run("req", "-x509", "-new", "-sha256", "-days", "7", "-key", "ca.key",
        "-subj", "/CN=bench CA", "-out", "ca.crt")
    run("genrsa", "-out", "server.key", "2048")
    run("req", "-new", "-key", "server.key", "-subj", "/CN=localhost", "-out", "server.csr")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-sha256", "-days", "7", "-in", "server.csr", "-CA", "ca.crt",
        "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "server.ext", "-out", "server.crt")


def benchmark(port, ca, test, pipeline, requests):
    """Requests per second reported by redis-benchmark --tls."""
    cmd = ["redis-benchmark", "-p", str(port), "--tls", "--cacert", ca, "-c", "50",
           "-n", str(requests), "-t", test, "--csv"]
    if pipeline > 1:
        cmd += ["-P", str(pipeline)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    for line in out.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0].upper() == test.upper():
            return float(cells[1])
    raise RuntimeError(f"redis-benchmark {test}: {out.stdout}{out.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--ringcache", default=os.path.join(REPO, "target/release/ringcache"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tls-bench-", dir=os.path.join(REPO, "target"))
    make_certs(work)
    ca = os.path.join(work, "ca.crt")
    tls = ["--tls-cert-file", os.path.join(work, "server.crt"),
           "--tls-key-file", os.path.join(work, "server.key"), "--tls-auth-clients", "no"]
    cfg = argparse.Namespace(start_timeout=30.0, freeze=False, shards=a.shards, server_cpus="",
                             ringcache_args="--appendonly no --save ''",
                             redis_args="--save '' --appendonly no", valkey_args="")
    servers = {}
    for name, binary in (("ringcache", a.ringcache), ("redis", shutil.which("redis-server"))):
        tls_port = bench.free_port()
        s = bench.Server(name, binary, ["--tls-port", str(tls_port)] + tls,
                         os.path.join(work, name), cfg)
        ok, why = s.start()
        if not ok:
            sys.exit(f"{name} did not start: {why}")
        s.tls_port = tls_port
        servers[name] = s
    cases = [(t, p) for t in ("set", "get") for p in (1, 16)]
    results = {}  # (name, test, P) -> [(rps, cpu µs per request)]
    try:
        for r in range(a.rounds):
            order = ["ringcache", "redis"] if r % 2 == 0 else ["redis", "ringcache"]
            for name in order:
                s = servers[name]
                for other in servers.values():
                    if other is not s:
                        os.kill(other.proc.pid, signal.SIGSTOP)
                os.kill(s.proc.pid, signal.SIGCONT)
                for test, p in cases:
                    n = a.requests * (10 if p > 1 else 1)
                    cpu0 = bench.proc_cpu_seconds(s.proc.pid)
                    rps = benchmark(s.tls_port, ca, test, p, n)
                    cpu = (bench.proc_cpu_seconds(s.proc.pid) - cpu0) * 1e6 / n
                    results.setdefault((name, test, p), []).append((rps, cpu))
                    print(f"[round {r + 1}] {name} {test} P{p}: {rps:,.0f}/s, "
                          f"{cpu:.2f} µs CPU per request", file=sys.stderr)
                for other in servers.values():
                    os.kill(other.proc.pid, signal.SIGCONT)
    finally:
        for s in servers.values():
            os.kill(s.proc.pid, signal.SIGCONT)
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"# TLS throughput, {time.strftime('%Y-%m-%d %H:%M')} ({bench.git_rev()}, "
          f"{a.rounds} rounds, {a.shards} shards, medians)\n")
    print("| test | ringcache req/s | redis req/s | ratio | CPU µs/request ringcache | redis |")
    print("|---|---:|---:|---:|---:|---:|")
    for test, p in cases:
        ours = results[("ringcache", test, p)]
        theirs = results[("redis", test, p)]
        med = lambda rows, i: statistics.median(row[i] for row in rows)  # noqa: E731
        print(f"| {test} P{p} | {med(ours, 0):,.0f} | {med(theirs, 0):,.0f} | "
              f"{med(ours, 0) / med(theirs, 0):.2f}× | {med(ours, 1):.2f} | {med(theirs, 1):.2f} |")


if __name__ == "__main__":
    main()
