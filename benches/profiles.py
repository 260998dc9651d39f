#!/usr/bin/env python3
"""The four tuning profiles side by side, each beside redis-server set up the
nearest way, measured in one run (benches/compare.sh --profiles starts this).

Per profile (tuning/*.toml) and its Redis counterpart:
  1. redis-benchmark SET and GET (-c 50, -d 100, -r keys): requests/s and p99;
  2. a fill of --keys 100-byte strings, then the bytes the data directory holds
     2 s later (what the persistence mode has put on disk by then);
  3. the loss window: one client writes `seq:i` one at a time for 3 s, then the
     server is killed with SIGKILL and restarted; acknowledged writes missing
     after the restart, and the time they span at the client's rate;
  4. the restart time of that restart (spawn to PONG) with everything in it.

Standard library only; uses benches/bench.py's server handling. Prints a
Markdown table and writes it to benches/results/profiles-<date>.md.
"""

import argparse
import datetime
import os
import subprocess
import sys
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import bench  # noqa: E402

# Profile -> the redis-server flags nearest to it.
PROFILES = {
    "cache": "--save '' --appendonly no",
    "snapshot": "--save '3600 1 300 100 60 10000' --appendonly no",
    "balanced": "--save '3600 1 300 100 60 10000' --appendonly yes --appendfsync everysec",
    "durable": "--save '3600 1 300 100 60 10000' --appendonly yes --appendfsync always",
}


def rb(server, cfg, keys):
    """SET/GET requests/s and p99 (ms) from redis-benchmark's CSV."""
    cmd = [cfg.rb_bin, "-p", str(server.port), "-t", "set,get", "-n", str(cfg.requests),
           "-c", "50", "-d", "100", "-r", str(keys), "--csv"]
    out = subprocess.run(bench.pin(cmd, cfg.client_cpus), capture_output=True, text=True,
                         timeout=600).stdout
    rows = {}
    for line in out.splitlines()[1:]:
        f = [x.strip('"') for x in line.split(",")]
        if len(f) >= 7:
            rows[f[0]] = (float(f[1]), float(f[6]))
    return rows


def fill(port, keys):
    """SETs key:0..keys-1 to 100-byte values, 1000 to a pipeline."""
    c = bench.Resp(port, timeout=30.0)
    value = b"v" * 100
    for start in range(0, keys, 1000):
        batch = range(start, min(start + 1000, keys))
        c.sock.sendall(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n"
                                % (len(k), k, value) for k in (b"key:%d" % i for i in batch)))
        for _ in batch:
            c._reply()
    c.close()


def loss_window(server, seconds=3.0):
    """Writes seq:i one at a time, then SIGKILL. Returns (acknowledged, rate)."""
    c = bench.Resp(server.port, timeout=5.0)
    acked, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        if c.call("SET", f"seq:{acked}", str(acked)) != "OK":
            break
        acked += 1
    rate = acked / (time.monotonic() - t0)
    server.proc.kill()
    server.proc.wait()
    c.close()
    return acked, rate


def count_present(port, acked):
    c = bench.Resp(port, timeout=30.0)
    present = 0
    for start in range(0, acked, 1000):
        names = [f"seq:{i}" for i in range(start, min(start + 1000, acked))]
        present += sum(v is not None for v in c.call("MGET", *names))
    c.close()
    return present


def measure(name, kind, binary, flags, cfg, run_dir):
    datadir = os.path.join(run_dir, name.replace(" ", "-"))
    srv = bench.Server(kind, binary, flags, datadir, cfg)
    ok, why = srv.start()
    if not ok:
        return {"error": why}
    r = {}
    try:
        res = rb(srv, cfg, cfg.keys)
        r["set_rps"], r["set_p99"] = res.get("SET", (0, 0))
        r["get_rps"], r["get_p99"] = res.get("GET", (0, 0))
        bench.one_call(srv.port, "FLUSHALL")
        fill(srv.port, cfg.keys)
        time.sleep(2)
        r["disk"] = bench.dir_bytes(datadir)
        acked, rate = loss_window(srv)
        t0 = time.monotonic()
        ok, why = srv._start(srv.flags, 600)
        if not ok:
            r["error"] = f"restart: {why}"
            return r
        r["restart_s"] = time.monotonic() - t0
        r["lost"] = acked - count_present(srv.port, acked)
        r["lost_ms"] = r["lost"] / rate * 1000 if rate else 0
        r["keys_after"] = int(bench.one_call(srv.port, "DBSIZE"))
    finally:
        srv.stop()
    return r


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args(argv)
    cfg = types.SimpleNamespace(
        shards=a.shards, ringcache_args="", redis_args="", valkey_args="",
        server_cpus=os.environ.get("SERVER_CPUS", ""), client_cpus=os.environ.get("CLIENT_CPUS", ""),
        start_timeout=60.0, freeze=False, requests=a.requests, keys=a.keys,
        rb_bin=os.environ.get("REDIS_BENCHMARK_BIN", "redis-benchmark"))
    ringcache = os.environ.get("RINGCACHE_BIN", os.path.join(bench.REPO, "target/release/ringcache"))
    redis = os.environ.get("REDIS_SERVER_BIN", "redis-server")
    run_dir = os.path.join(a.out, "tmp", "profiles")
    os.makedirs(run_dir, exist_ok=True)
    rows = []
    for p in a.profiles.split(","):
        for kind, name, binary, flags in [
            ("ringcache", f"ringcache {p}", ringcache, ["--profile", p]),
            ("redis", f"redis ~{p}", redis, bench.shlex.split(PROFILES[p])),
        ]:
            bench.log(f"{name}: measuring")
            r = measure(name, kind, binary, flags, cfg, run_dir)
            bench.log(f"{name}: {r}")
            rows.append((name, r))
    headers = ["server / profile", "SET req/s", "SET p99 ms", "GET req/s", "GET p99 ms",
               f"disk after {a.keys:,} keys", "acked writes lost at kill -9", "restart s"]
    table = []
    for name, r in rows:
        if "error" in r and "set_rps" not in r:
            table.append([name, r["error"][:60]] + [""] * 6)
            continue
        table.append([
            name, bench.fnum(r.get("set_rps")), f"{r.get('set_p99', 0):.2f}",
            bench.fnum(r.get("get_rps")), f"{r.get('get_p99', 0):.2f}",
            f"{r.get('disk', 0) / 2**20:.0f} MiB",
            f"{r.get('lost', '?')} (~{r.get('lost_ms', 0):.0f} ms)",
            f"{r.get('restart_s', 0):.2f}" + (f" ({r['error']})" if "error" in r else ""),
        ])
    md = (f"# Profiles side by side ({datetime.date.today()})\n\n"
          f"{bench.machine_info()}\n\n"
          f"Command: `bash benches/compare.sh --profiles --keys {a.keys}`; ringcache {a.shards} "
          f"shards; Redis set up the nearest way (`redis ~profile`: {PROFILES}).\n\n"
          + bench.md_table(headers, table) + "\n")
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f"profiles-{datetime.date.today()}.md")
    with open(path, "w") as f:
        f.write(md)
    print(md)
    print(f"wrote {os.path.relpath(path, bench.REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
