#!/usr/bin/env python3
"""SVG charts for the ringcache benchmark harness (standard library only).

Used by benches/bench.py; can also regenerate the charts of a finished run:

    python3 benches/plot.py benches/results/<stem>.json

which writes benches/results/<stem>-*.svg next to the JSON file.
"""

import json
import math
import os
import sys
from xml.sax.saxutils import escape

# Fixed colours so a server looks the same in every chart.
SERVER_COLOURS = {
    "ringcache": "#e8710a",
    "redis": "#c62828",
    "valkey": "#1565c0",
    "disk limit (dd)": "#9e9e9e",
}
EXTRA_COLOURS = ["#2e7d32", "#6a1b9a", "#00838f", "#795548", "#546e7a", "#f9a825", "#ad1457"]


def colour_for(name, i):
    for key, col in SERVER_COLOURS.items():
        if name == key:
            return col
    # "redis rdb", "valkey aof", ...: tint by server, shade by kind
    base = name.split()[0] if name else ""
    shades = {
        "ringcache": ["#e8710a", "#ffb74d", "#bf360c", "#ffe0b2"],
        "redis": ["#c62828", "#ef9a9a", "#7f0000", "#ffcdd2"],
        "valkey": ["#1565c0", "#90caf9", "#0d2b6b", "#bbdefb"],
    }
    if base in shades:
        kinds = ["rdb", "aof", "snapshot", "everysec"]
        kind = name.split()[1] if len(name.split()) > 1 else ""
        idx = kinds.index(kind) if kind in kinds else 0
        return shades[base][idx % 4]
    return EXTRA_COLOURS[i % len(EXTRA_COLOURS)]


def fmt_num(v):
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4 or (a >= 1e3 and v % 1000 == 0):
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.1f}k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def nice_ticks(vmax, count=5):
    """Linear axis ticks 0..>=vmax with 1/2/5 x 10^k steps."""
    if vmax <= 0:
        return [0, 1]
    raw = vmax / count
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            step = m * mag
            break
    n = int(math.ceil(vmax / step - 1e-9))
    return [i * step for i in range(n + 1)]


def log_ticks(vmin, vmax):
    lo = math.floor(math.log10(max(vmin, 1e-12)))
    hi = math.ceil(math.log10(max(vmax, 1e-12)))
    if hi == lo:
        hi = lo + 1
    return [10.0**e for e in range(lo, hi + 1)]


def bar_chart(path, title, groups, series, values, ylabel, log=False, subtitle=None):
    """Grouped bar chart.

    groups: x-axis categories; series: one bar per group each (servers);
    values: {series: {group: number or None}}; None draws a small 'n/a'.
    """
    groups = list(groups)
    series = list(series)
    n_g, n_s = max(len(groups), 1), max(len(series), 1)
    bar_w = 14 if n_s * n_g > 40 else 20
    group_w = n_s * bar_w + 18
    left, right, top = 78, 20, 62 + (16 if subtitle else 0)
    max_label = max([len(str(g)) for g in groups] + [4])
    rotate = max_label * 6.5 > group_w
    bottom = 40 + (int(max_label * 5.2) if rotate else 16)
    # wide enough for the bars and for the title/subtitle text
    text_w = max(len(title) * 9.0, len(subtitle or "") * 6.0) + 40
    plot_w = max(n_g * group_w, 360, text_w - left - right)
    plot_h = 300
    width = left + plot_w + right
    # legend under the axis labels, wrapped into rows that fit the width
    legend, row, x = [], 0, left
    for s in series:
        w = 24 + len(s) * 6.5
        if x + w > width - 8 and x > left:
            row, x = row + 1, left
        legend.append((s, x, row))
        x += w
    height = top + plot_h + bottom + 26 + 18 * row

    nums = [v for s in series for v in values.get(s, {}).values() if isinstance(v, (int, float))]
    nums = [v for v in nums if v is not None and math.isfinite(v)]
    if log:
        pos = [v for v in nums if v > 0]
        ticks = log_ticks(min(pos) if pos else 1, max(pos) if pos else 10)
        lo, hi = math.log10(ticks[0]), math.log10(ticks[-1])

        def ypos(v):
            if v <= 0:
                return top + plot_h
            return top + plot_h - (math.log10(v) - lo) / (hi - lo) * plot_h
    else:
        ticks = nice_ticks(max(nums) if nums else 1)

        def ypos(v):
            return top + plot_h - (v / ticks[-1]) * plot_h

    out = []
    out.append(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="11">'
    )
    out.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>')
    out.append(
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{escape(title)}</text>"
    )
    if subtitle:
        out.append(
            f'<text x="{width / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">'
            f"{escape(subtitle)}</text>"
        )
    # grid + y axis
    for t in ticks:
        y = ypos(t)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#333">{fmt_num(t)}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>'
    )
    yl_y = top + plot_h / 2
    out.append(
        f'<text x="16" y="{yl_y}" text-anchor="middle" transform="rotate(-90 16 {yl_y})" '
        f'fill="#333">{escape(ylabel)}{" (log scale)" if log else ""}</text>'
    )
    # bars
    gw = plot_w / n_g
    show_labels = n_s * n_g <= 36
    for gi, g in enumerate(groups):
        gx = left + gi * gw + (gw - n_s * bar_w) / 2
        for si, s in enumerate(series):
            v = values.get(s, {}).get(g)
            x = gx + si * bar_w
            if not isinstance(v, (int, float)) or v is None or not math.isfinite(v):
                out.append(
                    f'<text x="{x + bar_w / 2 + 3:.1f}" y="{top + plot_h - 4}" text-anchor="start" '
                    f'font-size="8" fill="#999" transform="rotate(-90 {x + bar_w / 2 + 3:.1f} {top + plot_h - 4})">'
                    f"{escape(str(v) if isinstance(v, str) else 'n/a')}</text>"
                )
                continue
            y = ypos(v)
            h = top + plot_h - y
            col = colour_for(s, si)
            out.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2}" height="{max(h, 0.5):.1f}" '
                f'fill="{col}"><title>{escape(s)} / {escape(str(g))}: {fmt_num(v)}</title></rect>'
            )
            if show_labels:
                out.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="8" '
                    f'fill="#333">{fmt_num(v)}</text>'
                )
        lx = left + gi * gw + gw / 2
        ly = top + plot_h + 14
        if rotate:
            out.append(
                f'<text x="{lx:.1f}" y="{ly}" text-anchor="end" transform="rotate(-35 {lx:.1f} {ly})">'
                f"{escape(str(g))}</text>"
            )
        else:
            out.append(f'<text x="{lx:.1f}" y="{ly}" text-anchor="middle">{escape(str(g))}</text>')
    # legend
    for si, (s, lx, lrow) in enumerate(legend):
        ly = top + plot_h + bottom + 12 + 18 * lrow
        out.append(
            f'<rect x="{lx:.1f}" y="{ly - 9}" width="10" height="10" fill="{colour_for(s, si)}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly}">{escape(s)}</text>'
        )
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
    return path


# ----------------------------------------------------------------------------- charts of a run


def median(xs):
    xs = sorted(x for x in xs if isinstance(x, (int, float)))
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def charts_from_results(res, outdir, stem):
    """Writes every chart for a results dict; returns {chart_id: filename}."""
    made = {}
    servers = res["meta"]["servers"]

    def out(chart_id):
        return os.path.join(outdir, f"{stem}-{chart_id}.svg")

    for mode, m in res.get("modes", {}).items():
        for variant, per_server in m.get("rb", {}).items():
            order = res["meta"].get("config", {}).get("rb_tests", [])
            tests = [t for t in order if any(t in per_server.get(s, {}) for s in servers)]
            for s in servers:
                for t in per_server.get(s, {}):
                    if t not in tests:
                        tests.append(t)
            vals = {s: {t: median(per_server.get(s, {}).get(t, [])) for t in tests} for s in servers}
            for s in servers:
                for t in m.get("rb_unsupported", {}).get(s, []):
                    vals[s][t] = "unsupported"
            cid = f"rb-{mode}-{variant}"
            label = res["meta"]["rb_variants"].get(variant, variant)
            bar_chart(
                out(cid),
                f"redis-benchmark {label} — persistence {mode}",
                tests,
                servers,
                vals,
                "requests/s",
                subtitle=f"median of {res['meta']['rounds']} rounds, higher is better",
            )
            made[cid] = os.path.basename(out(cid))
        lat = m.get("latency", {})
        if lat.get("servers"):
            pcts = ["p50_us", "p99_us", "p999_us", "max_us"]
            names = {"p50_us": "p50", "p99_us": "p99", "p999_us": "p99.9", "max_us": "max"}
            vals = {}
            for s in servers:
                runs = lat["servers"].get(s, [])
                vals[s] = {names[p]: median([r.get(p) for r in runs]) for p in pcts}
            cid = f"latency-{mode}"
            bar_chart(
                out(cid),
                f"Latency at {lat.get('rate', 0):.0f} req/s (open loop) — persistence {mode}",
                [names[p] for p in pcts],
                servers,
                vals,
                "microseconds",
                log=True,
                subtitle="80% GET / 20% SET, measured from intended send time, lower is better",
            )
            made[cid] = os.path.basename(out(cid))

    # mixed throughput and CPU efficiency across modes
    modes = list(res.get("modes", {}).keys())
    mixed_vals = {s: {} for s in servers}
    cpu_groups, cpu_vals = [], {s: {} for s in servers}
    for mode in modes:
        m = res["modes"][mode]
        for s in servers:
            runs = m.get("mixed", {}).get(s, [])
            mixed_vals[s][mode] = median([r.get("rps") for r in runs])
        for wl, per_server in m.get("cpu", {}).items():
            g = f"{wl} ({mode})" if len(modes) > 1 else wl
            cpu_groups.append(g)
            for s in servers:
                cpu_vals[s][g] = median(per_server.get(s, []))
    if any(v is not None for s in servers for v in mixed_vals[s].values()):
        cid = "mixed"
        bar_chart(
            out(cid),
            "Mixed 80% GET / 20% SET, closed loop",
            modes,
            servers,
            mixed_vals,
            "requests/s",
            subtitle=f"{res['meta'].get('mixed_desc', '')}; x = persistence mode, higher is better",
        )
        made[cid] = os.path.basename(out(cid))
    if cpu_groups:
        cid = "cpu"
        bar_chart(
            out(cid),
            "Server CPU efficiency",
            cpu_groups,
            servers,
            cpu_vals,
            "requests per server CPU-second",
            subtitle="utime+stime of all server threads (+ reaped children), higher is better",
        )
        made[cid] = os.path.basename(out(cid))

    mem = res.get("memory", {})
    if mem.get("servers"):
        groups, vals = [], {s: {} for s in servers}
        for kind in ("string", "hash"):
            for n in mem.get("sizes", []):
                g = f"{kind} {human_count(n)}"
                groups.append(g)
                for s in servers:
                    v = mem["servers"].get(s, {}).get(kind, {}).get(str(n))
                    vals[s][g] = v.get("bytes_per_key") if isinstance(v, dict) else v
        cid = "memory"
        bar_chart(
            out(cid),
            "Memory: RSS growth per key",
            groups,
            servers,
            vals,
            "bytes per key",
            subtitle=mem.get("desc", "") + "; lower is better",
        )
        made[cid] = os.path.basename(out(cid))

    rs = res.get("restart", {})
    if rs.get("rows"):
        sizes = sorted({r["keys"] for r in rs["rows"]})
        configs = []
        for r in rs["rows"]:
            c = f"{r['server']} {r['kind']}"
            if c not in configs:
                configs.append(c)
        vals = {c: {} for c in configs}
        for r in rs["rows"]:
            vals[f"{r['server']} {r['kind']}"][human_count(r["keys"])] = (
                r.get("seconds") if r.get("status") == "ok" else r.get("status", "n/a")
            )
        series = configs
        if rs.get("dd_bytes_per_s"):
            series = configs + ["disk limit (dd)"]
            vals["disk limit (dd)"] = {}
            for n in sizes:
                b = [r.get("bytes") for r in rs["rows"] if r["keys"] == n and r.get("bytes")]
                if b:
                    vals["disk limit (dd)"][human_count(n)] = min(b) / rs["dd_bytes_per_s"]
        cid = "restart"
        bar_chart(
            out(cid),
            "Restart time vs dataset size",
            [human_count(n) for n in sizes],
            series,
            vals,
            "seconds until PING answers",
            subtitle="disk limit = smallest file set / dd iflag=direct read rate; lower is better",
        )
        made[cid] = os.path.basename(out(cid))
    return made


def human_count(n):
    n = int(n)
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    path = argv[1]
    with open(path) as f:
        res = json.load(f)
    stem = os.path.splitext(os.path.basename(path))[0]
    made = charts_from_results(res, os.path.dirname(os.path.abspath(path)), stem)
    for cid, fn in made.items():
        print(f"{cid}: {fn}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
