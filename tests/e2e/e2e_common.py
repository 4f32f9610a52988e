"""Shared helpers of the end-to-end tests (tests/e2e/): paths, the traffic generator, waits.

The process helpers themselves live in tests/support/procs.py; this module only adds what the
end-to-end files have in common.
"""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from procs import http_request, metric_value, wait_for  # noqa: E402

TRAFFIC = os.path.join(ROOT, "examples", "traffic.py")


def run_traffic(port, *args, timeout=120):
    """examples/traffic.py against 127.0.0.1:port; returns its JSON summary."""
    out = subprocess.run([sys.executable, TRAFFIC, "--target", "http://127.0.0.1:%d" % port,
                          "--json"] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def emit_csv(path, rows, seed=1, *extra):
    """Reference rows from the traffic generator (the same distribution as its traffic)."""
    subprocess.run([sys.executable, TRAFFIC, "--emit-csv", str(path), "--rows", str(rows),
                    "--seed", str(seed)] + list(extra), check=True, capture_output=True,
                   timeout=60)


def drift_json(sidecar):
    status, _, body = http_request(sidecar.admin_port, "GET", "/drift")
    assert status == 200, body[:300]
    return json.loads(body)


def wait_metric(sidecar, name, predicate, timeout=20.0, **labels):
    """Polls /metrics until `predicate(value)` holds for the series `name{labels}`; returns the
    whole scrape of that moment."""
    def check():
        m = sidecar.scrape()
        v = metric_value(m, name, **labels)
        return m if v is not None and predicate(v) else None
    return wait_for(check, timeout, interval=0.05,
                    what="%s%s to satisfy the condition" % (name, labels))


def wait_drift_computation(sidecar, timeout=20.0):
    """Waits for a drift computation that started after this call; returns that scrape."""
    since = time.time()
    return wait_metric(sidecar, "mlsidecar_drift_last_computation_timestamp_seconds",
                       lambda v: v > since, timeout)


class SlowModel:
    """A slow model in this process that counts its own concurrency exactly.

    GET|POST /delay?ms=M answers 200 {"slept_ms": M} after M ms; GET /ready answers 200 and is not
    counted; GET /stats gives {requests, inflight, peak_inflight}. A request stops counting as in
    flight just before its answer is written: the sidecar cannot send the next one to the model
    before it has that answer, so `peak_inflight` is exactly the concurrency the model saw.
    (tests/support/upstream.py counts a request until after its answer is written, so a proxy
    that forwards the next request as soon as it has the answer can show one more there.)
    """

    def __init__(self):
        import http.server
        import threading
        from urllib.parse import parse_qs, urlsplit
        model = self
        self.lock = threading.Lock()
        self.requests = self.inflight = self.peak_inflight = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def handle_one(self):
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                if url.path == "/ready":
                    return self.answer(200, {"ready": True})
                if url.path == "/stats":
                    with model.lock:
                        return self.answer(200, {"requests": model.requests,
                                                 "inflight": model.inflight,
                                                 "peak_inflight": model.peak_inflight})
                if url.path != "/delay":
                    return self.answer(404, {"error": "not found"})
                ms = int(parse_qs(url.query).get("ms", ["0"])[-1])
                with model.lock:
                    model.requests += 1
                    model.inflight += 1
                    model.peak_inflight = max(model.peak_inflight, model.inflight)
                try:
                    time.sleep(ms / 1000.0)
                finally:
                    with model.lock:
                        model.inflight -= 1
                self.answer(200, {"slept_ms": ms})

            do_GET = do_POST = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "inflight": self.inflight,
                    "peak_inflight": self.peak_inflight}

    def reset_stats(self):
        with self.lock:
            self.requests = 0
            self.peak_inflight = self.inflight

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class EchoModel:
    """A permissive "model": answers 200 to any POST with the request body echoed (a custom
    predictor that accepts anything), so that malformed bodies reach the drift tap."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
