#!/usr/bin/env python3
"""bench/soak_traffic.py: the traffic of bench/soak that examples/traffic.py does not send.

Standard library only; every request goes to 127.0.0.1. Threads, each looping until --seconds:
  fresh    a new connection per request (`Connection: close`): V1 predict and readiness GETs
  upload   a V1 predict of about --upload-kb KiB (over --drift-max-body, so not sampled), and a
           POST of the same size to a path the model does not serve (404 after the body is read)
  errors   GET and POST to unknown paths (404), malformed JSON to predict (400)
  abort    a streamed completion the client closes after its first event (stream aborted)
Keep-alive V1/V2/completion/chat traffic with drifted features comes from examples/traffic.py,
which bench/soak runs beside this script. At the end one JSON line sums up: requests by kind and
outcome (HTTP status or the connection error's class name).
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time


class Tally:
    """Outcome counts by (kind, status); thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, kind, status):
        key = "%s:%s" % (kind, status)
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def one_request(port, method, path, body=None, headers=None, close=True, timeout=30.0):
    """One request on a new connection; returns the status or the error's class name."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if close:
            h["Connection"] = "close"
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__
    finally:
        conn.close()


def row(rng):
    return {"f%d" % i: rng.gauss(0.0, 1.0) for i in range(8)}


def fresh(port, model, rng):
    if rng.random() < 0.5:
        return one_request(port, "GET", "/v2/health/ready")
    body = json.dumps({"instances": [row(rng)]}).encode()
    return one_request(port, "POST", "/v1/models/%s:predict" % model, body,
                       {"Content-Type": "application/json"})


def upload_body(rng, kib):
    rows = []
    size = 0
    while size < kib * 1024:
        r = row(rng)
        rows.append(r)
        size += len(json.dumps(r)) + 1
    return json.dumps({"instances": rows}).encode()


def upload(port, model, rng, kib, conn_box):
    body = upload_body(rng, kib)
    path = "/v1/models/%s:predict" % model if rng.random() < 0.5 else "/upload/nowhere"
    # Keep-alive: uploads reuse their connection, so the body is read on a warm connection too.
    try:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn_box[0].request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn_box[0].getresponse()
        resp.read()
        if resp.will_close:
            conn_box[0].close()
            conn_box[0] = None
        return resp.status
    except (OSError, http.client.HTTPException) as e:
        if conn_box[0] is not None:
            conn_box[0].close()
        conn_box[0] = None
        return type(e).__name__


def errors(port, model, rng):
    pick = rng.random()
    if pick < 0.4:
        return one_request(port, "GET", "/no/such/path/%d" % rng.randrange(1000), close=False)
    if pick < 0.7:
        return one_request(port, "POST", "/v1/models/%s:predict" % model, b'{"instances": [1, 2',
                           {"Content-Type": "application/json"})
    return one_request(port, "POST", "/v1/models/unknown-model:predict",
                       json.dumps({"instances": [row(rng)]}).encode(),
                       {"Content-Type": "application/json"})


def abort(port, model, rng):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = {"model": model, "prompt": "tell me about drift " * rng.randint(1, 8),
                "max_tokens": 64, "stream": True}
        conn.request("POST", "/v1/completions", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status == 200:
            resp.readline()  # the first event, then the client goes away mid-stream
        return resp.status
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__
    finally:
        conn.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True, help="the sidecar's data port on 127.0.0.1")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--model", default="demo")
    ap.add_argument("--upload-kb", type=int, default=1536, help="upload size in KiB (default 1536)")
    ap.add_argument("--kinds", default="fresh,upload,errors,abort",
                    help="which of the kinds to run (default all)")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="sleep between requests of one thread in s (default 0)")
    args = ap.parse_args(argv)

    tally = Tally()
    deadline = time.monotonic() + args.seconds

    def loop(kind, index, fn):
        rng = random.Random(1000 + index)
        conn_box = [None]
        while time.monotonic() < deadline:
            if kind == "upload":
                status = fn(args.port, args.model, rng, args.upload_kb, conn_box)
            else:
                status = fn(args.port, args.model, rng)
            tally.add(kind, status)
            if not isinstance(status, int):
                time.sleep(0.05)  # the model or the sidecar is down: do not spin
            elif args.pause:
                time.sleep(args.pause)
        if conn_box[0] is not None:
            conn_box[0].close()

    plan = [("fresh", fresh), ("fresh", fresh), ("upload", upload), ("errors", errors),
            ("abort", abort)]
    kinds = set(args.kinds.split(","))
    threads = [threading.Thread(target=loop, args=(k, i, f), daemon=True)
               for i, (k, f) in enumerate(plan) if k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.seconds + 90)
    print(json.dumps({"requests": sum(tally.counts.values()), "by_kind_status": tally.counts},
                     sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
