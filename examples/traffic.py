#!/usr/bin/env python3
"""Traffic generator for the mlsidecar demo: KServe V1, Open Inference Protocol V2, OpenAI and
Ollama requests over keep-alive connections, with optionally drifted features.

Standard library only. Each of --concurrency threads keeps one HTTP/1.1 connection to --target
and sends requests picked from --mix until --seconds (or --requests) run out, then one line sums
up: requests, errors by status, p50/p99 latency (and time to first token for streams).

Features f0..f7 are drawn from a fixed normal distribution per feature (FEATURES below);
`--shift f2,f5=+1.5` adds 1.5 to f2 and f5, so the demo can show drift on exactly those.
`--emit-csv FILE --rows N` writes N unshifted rows (the reference data for `mlsidecar profile`).

  examples/traffic.py --target http://127.0.0.1:8080 --seconds 20 --concurrency 4
  examples/traffic.py --mix v1,v2 --shift f1=+2 --seconds 30
  examples/traffic.py --mix chat:1,completions:1 --max-tokens 32
"""

import argparse
import csv
import http.client
import json
import random
import sys
import threading
import time
from urllib.parse import urlsplit

# (mean, standard deviation) of each feature f0..f7 in the reference (unshifted) data.
FEATURES = ((0.0, 1.0), (1.0, 0.5), (-1.0, 2.0), (5.0, 1.5),
            (0.5, 0.2), (10.0, 3.0), (-3.0, 1.0), (2.0, 0.8))
NAMES = ["f%d" % i for i in range(len(FEATURES))]
KINDS = ("v1", "v2", "completions", "chat", "ollama")
WORDS = ("what does the sidecar measure when a model answers slowly under load and how does "
         "drift in the input features show up on the dashboard for each replica").split()


def parse_mix(text):
    """'v1,v2' or 'v1:3,chat:1' -> list of (kind, weight)."""
    mix = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        kind, _, weight = item.partition(":")
        if kind not in KINDS:
            raise argparse.ArgumentTypeError("unknown kind %r (use %s)" % (kind, ", ".join(KINDS)))
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise argparse.ArgumentTypeError("bad weight in %r" % item) from None
        if w < 0:
            raise argparse.ArgumentTypeError("negative weight in %r" % item)
        mix.append((kind, w))
    if not mix or sum(w for _, w in mix) <= 0:
        raise argparse.ArgumentTypeError("empty mix")
    return mix


def parse_shift(text):
    """'f2,f5=+1.5' -> {'f2': 1.5, 'f5': 1.5}."""
    names, sep, delta = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError("expected FEATURES=+DELTA, got %r" % text)
    try:
        d = float(delta)
    except ValueError:
        raise argparse.ArgumentTypeError("bad delta in %r" % text) from None
    out = {}
    for name in names.split(","):
        name = name.strip()
        if name not in NAMES:
            raise argparse.ArgumentTypeError("unknown feature %r (use f0..f%d)"
                                             % (name, len(NAMES) - 1))
        out[name] = d
    return out


def draw_row(rng, shift):
    return [rng.gauss(mu, sd) + shift.get(NAMES[i], 0.0) for i, (mu, sd) in enumerate(FEATURES)]


class Request:
    def __init__(self, kind, path, body, stream):
        self.kind, self.path, self.body, self.stream = kind, path, body, stream


def make_request(kind, rng, args):
    model = args.model
    if kind in ("v1", "v2"):
        rows = [draw_row(rng, args.shift) for _ in range(args.batch)]
        if kind == "v1":
            if args.v1_layout == "lists":
                instances = rows
            else:
                instances = [dict(zip(NAMES, r)) for r in rows]
            return Request(kind, "/v1/models/%s:predict" % model, {"instances": instances}, False)
        if args.v2_layout == "matrix":
            inputs = [{"name": "input-0", "shape": [len(rows), len(NAMES)], "datatype": "FP32",
                       "data": [x for r in rows for x in r]}]
        else:
            inputs = [{"name": n, "shape": [len(rows), 1], "datatype": "FP32",
                       "data": [r[i] for r in rows]} for i, n in enumerate(NAMES)]
        return Request(kind, "/v2/models/%s/infer" % model, {"inputs": inputs}, False)
    prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
    stream = not args.no_stream
    if kind == "completions":
        body = {"model": model, "prompt": prompt, "max_tokens": args.max_tokens, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return Request(kind, "/v1/completions", body, stream)
    if kind == "chat":
        body = {"model": model, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": args.max_tokens, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return Request(kind, "/v1/chat/completions", body, stream)
    body = {"model": model, "prompt": prompt, "stream": stream,
            "options": {"num_predict": args.max_tokens}}
    return Request(kind, "/api/generate", body, stream)


def first_token_time(resp, kind):
    """Reads a streamed body; returns the monotonic time of the first generated content."""
    first = None
    while True:
        line = resp.readline()
        if not line:
            return first
        if first is not None:
            continue
        line = line.strip()
        try:
            if kind == "ollama":
                if line and json.loads(line).get("response"):
                    first = time.monotonic()
            elif line.startswith(b"data:") and line != b"data: [DONE]":
                choices = json.loads(line[5:]).get("choices") or [{}]
                c = choices[0]
                if c.get("text") or (c.get("delta") or {}).get("content"):
                    first = time.monotonic()
        except ValueError:
            pass


class Results:
    """Latencies and outcomes from all workers; guarded by `lock`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.ttfts = []
        self.statuses = {}
        self.errors = {}

    def record(self, status, latency, ttft):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if isinstance(status, int):
                self.latencies.append(latency)
            if ttft is not None:
                self.ttfts.append(ttft)


class Worker(threading.Thread):
    def __init__(self, index, args, results, deadline, budget):
        super().__init__(daemon=True)
        self.args, self.results, self.deadline, self.budget = args, results, deadline, budget
        self.rng = random.Random(args.seed * 1000 + index)
        self.kinds = [k for k, _ in args.mix]
        self.weights = [w for _, w in args.mix]
        url = urlsplit(args.target)
        self.host, self.port = url.hostname, url.port or 80
        self.prefix = url.path.rstrip("/")
        self.conn = None
        self.interval = args.concurrency / args.rate if args.rate > 0 else 0.0

    def run(self):
        next_at = time.monotonic() + self.rng.uniform(0, self.interval)
        while time.monotonic() < self.deadline and self.budget.take():
            if self.interval:
                wait = next_at - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                next_at += self.interval
            kind = self.rng.choices(self.kinds, self.weights)[0]
            self.send(make_request(kind, self.rng, self.args))
        if self.conn:
            self.conn.close()

    def send(self, req):
        body = json.dumps(req.body).encode()
        t0 = time.monotonic()
        ttft = None
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port,
                                                       timeout=self.args.timeout)
            self.conn.request("POST", self.prefix + req.path, body=body,
                              headers={"Content-Type": "application/json"})
            resp = self.conn.getresponse()
            if req.stream and resp.status == 200:
                first = first_token_time(resp, req.kind)
                ttft = None if first is None else first - t0
            else:
                resp.read()
            status = resp.status
            if resp.will_close:
                self.conn.close()
                self.conn = None
        except (OSError, http.client.HTTPException) as e:
            status = "conn:" + type(e).__name__
            if self.conn:
                self.conn.close()
            self.conn = None
        self.results.record(status, time.monotonic() - t0, ttft)
        if not isinstance(status, int):
            time.sleep(0.05)  # the target is down or restarting: do not spin


class Budget:
    """At most `n` requests in total (None = unlimited); thread-safe."""

    def __init__(self, n):
        self.n, self.lock = n, threading.Lock()

    def take(self):
        if self.n is None:
            return True
        with self.lock:
            if self.n <= 0:
                return False
            self.n -= 1
            return True


def quantile(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def summarize(results, elapsed, args):
    total = sum(results.statuses.values())
    ok = sum(n for s, n in results.statuses.items() if isinstance(s, int) and 200 <= s < 300)
    errors = {str(s): n for s, n in sorted(results.statuses.items(), key=lambda kv: str(kv[0]))
              if not (isinstance(s, int) and 200 <= s < 300)}
    summary = {"requests": total, "ok": ok, "errors": errors, "seconds": round(elapsed, 3),
               "rps": round(total / elapsed, 1) if elapsed > 0 else 0.0,
               "p50_ms": ms(quantile(results.latencies, 0.5)),
               "p99_ms": ms(quantile(results.latencies, 0.99))}
    if results.ttfts:
        summary["ttft_p50_ms"] = ms(quantile(results.ttfts, 0.5))
        summary["ttft_p99_ms"] = ms(quantile(results.ttfts, 0.99))
    if args.json:
        return json.dumps(summary)
    err = " ".join("%s=%d" % kv for kv in errors.items()) or "none"
    line = ("traffic: %d requests in %.1fs (%.1f/s), %d ok, errors: %s, latency p50 %s p99 %s"
            % (total, elapsed, summary["rps"], ok, err, text_ms(summary["p50_ms"]),
               text_ms(summary["p99_ms"])))
    if results.ttfts:
        line += ", ttft p50 %s p99 %s" % (text_ms(summary["ttft_p50_ms"]),
                                          text_ms(summary["ttft_p99_ms"]))
    return line


def text_ms(value):
    return "n/a" if value is None else "%.1f ms" % value


def ms(seconds):
    return None if seconds is None else round(seconds * 1e3, 1)


def emit_csv(path, rows, seed, shift):
    rng = random.Random(seed)
    out = sys.stdout if path == "-" else open(path, "w", newline="")
    try:
        w = csv.writer(out)
        w.writerow(NAMES)
        for _ in range(rows):
            w.writerow(["%.6g" % x for x in draw_row(rng, shift)])
    finally:
        if out is not sys.stdout:
            out.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("--target", default="http://127.0.0.1:8080", help="base URL (the sidecar)")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to send (default 10)")
    ap.add_argument("--requests", type=int, default=None, help="stop after N requests in total")
    ap.add_argument("--concurrency", type=int, default=4, help="connections/threads (default 4)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="total requests per second (default 0 = as fast as answered)")
    ap.add_argument("--mix", type=parse_mix, default=parse_mix("v1,v2"),
                    help="kinds to send, optionally weighted: v1,v2,completions,chat,ollama "
                         "(e.g. v1:3,chat:1; default v1,v2)")
    ap.add_argument("--shift", type=parse_shift, action="append", default=[],
                    metavar="FEATURES=+DELTA",
                    help="add DELTA to the listed features, e.g. f2,f5=+1.5 (repeatable)")
    ap.add_argument("--model", default="demo", help="model name in paths and bodies")
    ap.add_argument("--batch", type=int, default=1, help="rows per V1/V2 request (default 1)")
    ap.add_argument("--v1-layout", choices=("objects", "lists"), default="objects",
                    help="V1 rows as objects {f0: ..} or lists (default objects)")
    ap.add_argument("--v2-layout", choices=("columns", "matrix"), default="columns",
                    help="V2 as one [batch,1] tensor per feature named f0..f7, or one "
                         "[batch,8] tensor named input-0 (default columns)")
    ap.add_argument("--max-tokens", type=int, default=16, help="max_tokens of LLM requests")
    ap.add_argument("--no-stream", action="store_true", help="LLM requests without streaming")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-request timeout in s")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    ap.add_argument("--emit-csv", metavar="FILE",
                    help="write --rows rows of reference features (with --shift) and exit")
    ap.add_argument("--rows", type=int, default=5000, help="rows for --emit-csv (default 5000)")
    args = ap.parse_args(argv)
    shift = {}
    for s in args.shift:
        shift.update(s)
    args.shift = shift
    if args.emit_csv:
        emit_csv(args.emit_csv, args.rows, args.seed, shift)
        return 0
    if args.concurrency < 1 or args.batch < 1 or args.seconds <= 0:
        ap.error("--concurrency, --batch and --seconds must be positive")
    url = urlsplit(args.target)
    if url.scheme != "http" or not url.hostname:
        ap.error("--target must be an http:// URL")

    results = Results()
    t0 = time.monotonic()
    budget = Budget(args.requests)
    workers = [Worker(i, args, results, t0 + args.seconds, budget)
               for i in range(args.concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(args.seconds + args.timeout + 5)
    print(summarize(results, time.monotonic() - t0, args), flush=True)
    ok = sum(n for s, n in results.statuses.items() if isinstance(s, int) and 200 <= s < 300)
    return 0 if ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
