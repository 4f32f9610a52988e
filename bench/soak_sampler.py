#!/usr/bin/env python3
"""bench/soak_sampler.py: samples one mlsidecar process every --interval seconds into a CSV.

  bench/soak_sampler.py --pid PID --port DATA_PORT --admin ADMIN_PORT --seconds S --interval I
                        --out soak.csv

Columns: t_s, rss_kb (VmRSS), fds (entries of /proc/PID/fd), requests (sum of
mlsidecar_requests_total), req_per_s (since the previous sample), connections (established TCP
connections on the data port, from /proc/PID/net/tcp), code_2xx, code_4xx, code_5xx. One process
for the whole run, no fork per sample, so the samples stay on time on a busy machine. Exits 3 when
the process is gone before the end (the rows so far are kept). Standard library only.
"""

import argparse
import os
import re
import sys
import time
import urllib.request

SERIES = re.compile(r'^mlsidecar_requests_total\{[^}]*code="(\dxx)"[^}]*\}\s+(\S+)', re.M)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def established(pid, port):
    """Established TCP connections whose local port is `port` (IPv4 and IPv6 tables)."""
    n = 0
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        n += 1
        except FileNotFoundError:
            pass
    return n


def counts(admin_port):
    by = {"2xx": 0.0, "4xx": 0.0, "5xx": 0.0}
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port, timeout=5) as r:
            text = r.read().decode("utf-8", "replace")
    except OSError:
        return None
    for code, value in SERIES.findall(text):
        by[code] = by.get(code, 0.0) + float(value)
    return by


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--admin", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    prev_t, prev_req = None, 0.0
    last = {"2xx": 0.0, "4xx": 0.0, "5xx": 0.0}
    k = 0
    with open(args.out, "w") as out:
        out.write("t_s,rss_kb,fds,requests,req_per_s,connections,code_2xx,code_4xx,code_5xx\n")
        while True:
            t = time.monotonic() - t0
            try:
                rss = rss_kb(args.pid)
                fds = len(os.listdir("/proc/%d/fd" % args.pid))
                conns = established(args.pid, args.port)
            except (FileNotFoundError, ProcessLookupError, AttributeError):
                print("soak_sampler: process %d is gone at %.1f s" % (args.pid, t), file=sys.stderr)
                return 3
            c = counts(args.admin) or last  # a missed scrape repeats the last counts
            last = c
            req = c["2xx"] + c["4xx"] + c["5xx"]
            rate = (req - prev_req) / (t - prev_t) if prev_t is not None and t > prev_t else 0.0
            prev_t, prev_req = t, req
            out.write("%.1f,%d,%d,%d,%.1f,%d,%d,%d,%d\n" % (
                t, rss, fds, req, rate, conns, c["2xx"], c["4xx"], c["5xx"]))
            out.flush()
            if t >= args.seconds:
                return 0
            k += 1
            due = min(k * args.interval, args.seconds)
            time.sleep(max(0.0, due - (time.monotonic() - t0)))


if __name__ == "__main__":
    sys.exit(main())
