#!/usr/bin/env python3
"""Per-request cost of ringcache beside redis-server: the breakdown issue 19 asks
every request-path change to be judged by.

    python3 benches/request_cost.py                 # both scenarios, 3 rounds (~10 min)
    python3 benches/request_cost.py --quick         # 1 round, fewer requests
    python3 benches/request_cost.py --out benches/results/DATE-request-cost.md

For each scenario, test and pipeline depth, servers take turns (interleaved rounds;
medians reported), each measured over one redis-benchmark run (50 clients,
-r 100000) by `perf stat` attached to the server: CPU time (task-clock), context
switches and system calls by kind, all per request. /proc/interrupts gives the
rescheduling and function-call IPIs per request (machine-wide), ringcache's INFO
the cross-core jobs per request. A separate, shorter pass counts heap
allocations per request with uprobes on malloc (glibc for ringcache, jemalloc
for Redis); uprobes slow the server down, so that pass is not timed.

Scenarios:
  pinned  one core each: ringcache --shards 1 --cpus 0, taskset -c 0 redis-server,
          redis-benchmark on CPU 1 (no cross-core hop, no client on the core);
  two     ringcache --shards 2 beside redis-server, nothing pinned (the default
          deployment on this 2-CPU machine; half of the keys live on the other core).

Needs root (perf, uprobes), perf, redis-server and redis-benchmark; run it on a
machine as quiet as you can get, and compare ratios, not absolute figures.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (Server, Resp, free_port: the side-by-side harness)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSCALLS = ["recvfrom", "sendto", "read", "write", "epoll_wait", "io_uring_enter",
            "membarrier", "fcntl", "close", "futex"]
SCENARIOS = {
    "pinned": dict(shards=1, server_cpus="0", client_cpus="1", tests=["set", "get"],
                   ringcache_args="--cpus 0"),
    "two": dict(shards=2, server_cpus="", client_cpus="",
                tests=["set", "get", "incr", "lpush", "hset", "mset"], ringcache_args=""),
}


def interrupts():
    """Machine-wide rescheduling (RES) and function-call (CAL) interrupts."""
    counts = {}
    with open("/proc/interrupts") as f:
        for line in f:
            name, _, rest = line.strip().partition(":")
            if name in ("RES", "CAL"):
                counts[name] = sum(int(x) for x in rest.split() if x.isdigit())
    return counts


def jobs_sent(port):
    try:
        c = bench.Resp(port)
        info = c.call("INFO", "shards")
        c.close()
    except (OSError, ConnectionError, ValueError):
        return 0
    text = info.decode() if isinstance(info, bytes) else str(info)
    return sum(int(n) for n in re.findall(r"jobs_sent=(\d+)", text))


def run_benchmark(port, test, pipeline, requests, client_cpus):
    cmd = ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(requests), "-c", "50",
           "-P", str(pipeline), "-r", "100000", "-q"]
    if client_cpus:
        cmd = ["taskset", "-c", client_cpus] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    rates = re.findall(r"([0-9.]+) requests per second", out.replace("\r", "\n"))
    return float(rates[-1]) if rates else 0.0


def measured(server, test, pipeline, requests, client_cpus, stat_file):
    events = ["task-clock", "context-switches"] + [f"syscalls:sys_enter_{s}" for s in SYSCALLS]
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(events), "-p",
                             str(server.pid), "-o", stat_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    irq0, jobs0 = interrupts(), jobs_sent(server.port)
    rate = run_benchmark(server.port, test, pipeline, requests, client_cpus)
    irq1, jobs1 = interrupts(), jobs_sent(server.port)
    perf.send_signal(2)
    perf.wait(timeout=30)
    row = {"req/s": rate}
    for line in open(stat_file):
        f = line.strip().split(",")
        if len(f) < 3 or not f[0].replace(".", "").isdigit():
            continue
        value, name = float(f[0]), f[2].replace("syscalls:sys_enter_", "")
        if name == "task-clock":  # milliseconds
            row["cpu µs"] = value * 1000 / requests
        else:
            row[name] = value / requests
    row["syscalls"] = sum(row.get(s, 0) for s in SYSCALLS)
    for k in ("RES", "CAL"):
        row[k + " IPIs"] = (irq1.get(k, 0) - irq0.get(k, 0)) / requests
    row["jobs"] = (jobs1 - jobs0) / requests
    return row


def count_allocations(server, malloc_event, test, pipeline, requests, client_cpus, stat_file):
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", malloc_event, "-p", str(server.pid),
                             "-o", stat_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    run_benchmark(server.port, test, pipeline, requests, client_cpus)
    perf.send_signal(2)
    perf.wait(timeout=30)
    for line in open(stat_file):
        f = line.strip().split(",")
        if len(f) >= 3 and f[0].isdigit():
            return int(f[0]) / requests
    return float("nan")


def add_uprobes():
    """malloc probes: ringcache's (glibc) and Redis's (jemalloc). Names of the events."""
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    ldd = subprocess.run(["ldd", shutil.which("redis-server")], capture_output=True,
                         text=True).stdout
    jemalloc = next((l.split()[2] for l in ldd.splitlines() if "jemalloc" in l), None)
    events = {}
    for name, lib, probe in (("ringcache", libc, "malloc"),
                             ("redis", jemalloc, "rc_jemalloc_malloc=malloc")):
        if lib is None:
            continue
        subprocess.run(["perf", "probe", "-q", "-x", lib, "--add", probe],
                       capture_output=True)
        base = os.path.basename(lib).split(".")[0].replace("-", "_")
        events[name] = f"probe_{base}:{probe.split('=')[0]}"
    return events


def start(name, scenario, run_dir, cfg):
    sc = SCENARIOS[scenario]
    cfg.shards = sc["shards"]
    cfg.server_cpus = sc["server_cpus"]
    cfg.ringcache_args = f"--appendonly no --save '' {sc['ringcache_args']}"
    cfg.redis_args = "--save '' --appendonly no"
    binary = cfg.ringcache if name == "ringcache" else shutil.which("redis-server")
    s = bench.Server(name, binary, [], os.path.join(run_dir, name), cfg)
    ok, why = s.start()
    if not ok:
        sys.exit(f"{name} did not start: {why}")
    return s


def fmt(v, key):
    if key == "req/s":
        return f"{v / 1000:.0f}k"
    if key == "cpu µs":
        return f"{v:.2f}"
    return f"{v:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default="pinned,two")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--tests", default="", help="comma list overriding the scenarios' tests")
    ap.add_argument("--ringcache", default=os.path.join(REPO, "target/release/ringcache"))
    ap.add_argument("--no-allocations", action="store_true")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    rounds = 1 if a.quick else a.rounds
    cfg = argparse.Namespace(start_timeout=30.0, freeze=False, ringcache=a.ringcache,
                             valkey_args="")
    run_dir = tempfile.mkdtemp(prefix="request-cost-", dir=os.path.join(REPO, "target"))
    requests = {1: 40000 if a.quick else 150000, 16: 200000 if a.quick else 1000000}
    results = {}  # (scenario, test, P, server) -> [row]
    allocs = {}
    events = {} if a.no_allocations else add_uprobes()
    stat_file = os.path.join(run_dir, "perf-stat")
    pipelines = [int(p) for p in a.pipelines.split(",")]
    for r in range(rounds):
        for scenario in a.scenarios.split(","):
            tests = a.tests.split(",") if a.tests else SCENARIOS[scenario]["tests"]
            client_cpus = SCENARIOS[scenario]["client_cpus"]
            order = ["ringcache", "redis"] if r % 2 == 0 else ["redis", "ringcache"]
            for name in order:
                server = start(name, scenario, run_dir, cfg)
                try:
                    for test in tests:
                        for p in pipelines:
                            row = measured(server, test, p, requests[p], client_cpus, stat_file)
                            results.setdefault((scenario, test, p, name), []).append(row)
                            print(f"[round {r + 1}] {scenario} {name} {test} P{p}: "
                                  f"{row['req/s']:.0f}/s, {row['cpu µs']:.2f} µs CPU, "
                                  f"{row['syscalls']:.2f} syscalls", file=sys.stderr)
                            if r == 0 and name in events:
                                allocs[(scenario, test, p, name)] = count_allocations(
                                    server, events[name], test, p, requests[p] // 5,
                                    client_cpus, stat_file)
                finally:
                    server.stop()
    keys = ["req/s", "cpu µs", "syscalls"] + SYSCALLS + ["context-switches", "RES IPIs",
                                                         "CAL IPIs", "jobs"]
    lines = [f"# Per-request cost, {time.strftime('%Y-%m-%d %H:%M')} "
             f"({bench.git_rev()}, {rounds} round(s), medians)", ""]
    for scenario in a.scenarios.split(","):
        lines += [f"## {scenario}: {SCENARIOS[scenario]}", ""]
        head = ["test", "server", "allocs"] + keys
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for (sc, test, p, name), rows in results.items():
            if sc != scenario:
                continue
            med = {k: statistics.median(r.get(k, 0) for r in rows) for k in keys}
            alloc = allocs.get((sc, test, p, name))
            cells = [f"{test} P{p}", name, "-" if alloc is None else f"{alloc:.2f}"]
            lines.append("| " + " | ".join(cells + [fmt(med[k], k) for k in keys]) + " |")
        lines.append("")
        lines += ["ringcache / redis (medians): throughput, CPU per request", ""]
        for (sc, test, p, name), rows in results.items():
            if sc != scenario or name != "ringcache":
                continue
            other = results.get((sc, test, p, "redis"))
            if not other:
                continue
            rate = statistics.median(r["req/s"] for r in rows) / max(
                statistics.median(r["req/s"] for r in other), 1)
            cpu = statistics.median(r["cpu µs"] for r in rows) / max(
                statistics.median(r["cpu µs"] for r in other), 1e-9)
            lines.append(f"- {test} P{p}: {rate:.2f}× throughput, {cpu:.2f}× CPU per request")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
