#!/usr/bin/env python3
"""bench/soak_chart.py: the CSV of bench/soak -> an SVG chart and a Markdown summary.

  bench/soak_chart.py soak.csv --svg soak.svg --summary summary.md [--warmup-s S]
                      [--max-growth-kb KB] [--max-growth-pct P] [--check]

The CSV has a header line and one row per sample: t_s, rss_kb, fds, requests, req_per_s,
connections, code_2xx, code_4xx, code_5xx (the request counts are totals since start).
Memory growth is measured from the end of the warm-up (--warmup-s, default a fifth of the run) to
the end: the median of the three samples at each point, so one sample caught mid-allocation does
not decide it. With --check the exit status is 1 when the growth exceeds both --max-growth-kb and
--max-growth-pct percent of the warm RSS. Standard library only; the SVG is written by hand.
"""

import argparse
import csv
import statistics
import sys

COLUMNS = ("t_s", "rss_kb", "fds", "requests", "req_per_s", "connections",
           "code_2xx", "code_4xx", "code_5xx")


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit("soak_chart: %s has no samples" % path)
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        raise SystemExit("soak_chart: %s lacks columns %s" % (path, ", ".join(missing)))
    return [{c: float(r[c]) for c in COLUMNS} for r in rows]


def around(rows, i, key):
    """Median of `key` over the samples i-1..i+1 (clamped to the run)."""
    lo, hi = max(0, i - 1), min(len(rows), i + 2)
    return statistics.median(r[key] for r in rows[lo:hi])


def slope_per_hour(rows, key):
    """Least-squares slope of `key` against t_s, per hour (0 for fewer than 3 samples)."""
    if len(rows) < 3:
        return 0.0
    ts = [r["t_s"] for r in rows]
    vs = [r[key] for r in rows]
    mt, mv = statistics.fmean(ts), statistics.fmean(vs)
    den = sum((t - mt) ** 2 for t in ts)
    return 0.0 if den == 0 else sum((t - mt) * (v - mv) for t, v in zip(ts, vs)) / den * 3600


def summarize(rows, warmup_s):
    end_t = rows[-1]["t_s"]
    if warmup_s is None:
        warmup_s = end_t / 5
    w = next((i for i, r in enumerate(rows) if r["t_s"] >= warmup_s), len(rows) - 1)
    last = len(rows) - 1
    after = rows[w:]
    s = {
        "duration_s": end_t,
        "samples": len(rows),
        "warmup_s": rows[w]["t_s"],
        "rss_start_kb": rows[0]["rss_kb"],
        "rss_warm_kb": around(rows, w, "rss_kb"),
        "rss_end_kb": around(rows, last, "rss_kb"),
        "rss_max_kb": max(r["rss_kb"] for r in rows),
        "rss_max_after_warmup_kb": max(r["rss_kb"] for r in after),
        "rss_slope_kb_per_h": slope_per_hour(after, "rss_kb"),
        "fds_warm": around(rows, w, "fds"),
        "fds_end": around(rows, last, "fds"),
        "fds_max": max(r["fds"] for r in rows),
        "requests": rows[-1]["requests"],
        "requests_after_warmup": rows[-1]["requests"] - rows[w]["requests"],
        "req_per_s_mean": rows[-1]["requests"] / end_t if end_t > 0 else 0.0,
        "code_2xx": rows[-1]["code_2xx"],
        "code_4xx": rows[-1]["code_4xx"],
        "code_5xx": rows[-1]["code_5xx"],
    }
    s["rss_growth_kb"] = s["rss_end_kb"] - s["rss_warm_kb"]
    s["rss_growth_pct"] = 100.0 * s["rss_growth_kb"] / s["rss_warm_kb"] if s["rss_warm_kb"] else 0.0
    return s


def markdown(s, title):
    mb = lambda kb: "%.1f" % (kb / 1024)  # noqa: E731
    return "\n".join([
        "### %s" % title,
        "",
        "| measure | value |",
        "|---|---:|",
        "| duration | %.0f s (%d samples; warm-up until %.0f s) |" % (s["duration_s"], s["samples"], s["warmup_s"]),
        "| requests | %d (mean %.0f/s; 2xx %d, 4xx %d, 5xx %d) |" % (
            s["requests"], s["req_per_s_mean"], s["code_2xx"], s["code_4xx"], s["code_5xx"]),
        "| RSS at start / after warm-up / at end | %s / %s / %s MB |" % (
            mb(s["rss_start_kb"]), mb(s["rss_warm_kb"]), mb(s["rss_end_kb"])),
        "| RSS growth after warm-up | %+.0f kB (%+.1f%%) over %d requests |" % (
            s["rss_growth_kb"], s["rss_growth_pct"], s["requests_after_warmup"]),
        "| RSS peak (after warm-up) | %s MB (%s MB) |" % (mb(s["rss_max_kb"]), mb(s["rss_max_after_warmup_kb"])),
        "| RSS trend after warm-up (least squares) | %+.0f kB/h |" % s["rss_slope_kb_per_h"],
        "| open fds after warm-up / at end / peak | %d / %d / %d |" % (s["fds_warm"], s["fds_end"], s["fds_max"]),
        "",
    ])


# ---- SVG -----------------------------------------------------------------------------------------

W, PANEL_H, LEFT, RIGHT, TOP, GAP = 900, 170, 70, 20, 40, 45


def nice_max(v):
    """A round number >= v for the top of an axis."""
    if v <= 0:
        return 1.0
    step = 10 ** (len(str(int(v))) - 1) if v >= 1 else 0.1
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * step >= v:
            return m * step
    return 10 * step


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel(out, rows, key, scale, label, color, index, t_max, mark_t=None):
    y0 = TOP + index * (PANEL_H + GAP)
    plot_w = W - LEFT - RIGHT
    values = [r[key] * scale for r in rows]
    top = nice_max(max(values) * 1.1 if values else 1)
    bottom = 0.0
    out.append('<text x="%d" y="%d" class="t">%s</text>' % (LEFT, y0 - 8, esc(label)))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>' % (LEFT, y0, plot_w, PANEL_H))
    for k in range(5):
        v = bottom + (top - bottom) * k / 4
        y = y0 + PANEL_H - PANEL_H * k / 4
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>' % (LEFT, y, LEFT + plot_w, y))
        out.append('<text x="%d" y="%.1f" class="y">%s</text>' % (LEFT - 6, y + 4, ("%.1f" % v).rstrip("0").rstrip(".")))
    for k in range(7):
        t = t_max * k / 6
        x = LEFT + plot_w * k / 6
        out.append('<text x="%.1f" y="%d" class="x">%s</text>' % (x, y0 + PANEL_H + 16, fmt_t(t)))
    if mark_t is not None and t_max:
        x = LEFT + plot_w * mark_t / t_max
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999" stroke-dasharray="4 3"/>'
                   % (x, y0, x, y0 + PANEL_H))
        out.append('<text x="%.1f" y="%d" fill="#777">end of warm-up</text>' % (x + 4, y0 + 14))
    pts = " ".join("%.1f,%.1f" % (LEFT + plot_w * (r["t_s"] / t_max if t_max else 0),
                                  y0 + PANEL_H - PANEL_H * (v - bottom) / (top - bottom))
                   for r, v in zip(rows, values))
    out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>' % (pts, color))


def fmt_t(t):
    return "%d min" % round(t / 60) if t >= 300 else "%d s" % round(t)


def svg(rows, title, warmup_s=None):
    t_max = rows[-1]["t_s"] or 1.0
    h = TOP + 3 * (PANEL_H + GAP)
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (W, h, W, h),
           '<style>.frame{fill:#fff;stroke:#888}.grid{stroke:#e4e4e4}.t{font-weight:bold}'
           '.y{text-anchor:end;fill:#444}.x{text-anchor:middle;fill:#444}</style>',
           '<rect width="100%" height="100%" fill="#fafafa"/>',
           '<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>' % (LEFT, esc(title))]
    panel(out, rows, "rss_kb", 1 / 1024, "resident memory (RSS), MB", "#1f77b4", 0, t_max, warmup_s)
    panel(out, rows, "fds", 1, "open file descriptors", "#2ca02c", 1, t_max)
    panel(out, rows, "req_per_s", 1, "requests per second (all kinds, from mlsidecar_requests_total)",
          "#d62728", 2, t_max)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--svg")
    ap.add_argument("--summary")
    ap.add_argument("--title", default="mlsidecar soak")
    ap.add_argument("--warmup-s", type=float, default=None)
    ap.add_argument("--max-growth-kb", type=float, default=4096)
    ap.add_argument("--max-growth-pct", type=float, default=10.0)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    rows = read(args.csv)
    s = summarize(rows, args.warmup_s)
    text = markdown(s, args.title)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(text)
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg(rows, args.title, s["warmup_s"]))
    print(text)
    limit = max(args.max_growth_kb, s["rss_warm_kb"] * args.max_growth_pct / 100)
    if args.check and s["rss_growth_kb"] > limit:
        print("soak_chart: RSS grew %.0f kB after warm-up, over the %.0f kB allowed"
              % (s["rss_growth_kb"], limit), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
