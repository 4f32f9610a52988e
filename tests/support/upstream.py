#!/usr/bin/env python3
"""A controllable HTTP/1.1 upstream for mlsidecar's integration tests.

Standard library only. Keep-alive (HTTP/1.1), one daemon thread per connection. Prints
`listening on HOST:PORT` (flushed) once the socket is bound; exits 0 on SIGTERM or SIGINT.

Endpoints (any method unless stated; HEAD on any of them sends the headers only, with the
Content-Length the GET would have had):
  /echo[?chunked=1&chunk=SIZE]  200, request body echoed byte for byte (request framed by
                                Content-Length or Transfer-Encoding: chunked); Content-Type copied
                                from the request; header x-upstream-body-sha256 = sha256 of the body.
  /inspect                      JSON {method, path, headers: [[name, value], ...] in received
                                order, body_length, body_sha256, http_version}.
  GET /bytes?n=N&chunked=0|1&chunk=SIZE
                                N deterministic bytes, byte i = (i*31 + 7) mod 256, with
                                Content-Length or chunked in pieces of SIZE (default 16384).
  GET /sse?events=N&interval_ms=M
                                text/event-stream, chunked; event k (k = 0..N-1) is
                                `data: {"k": k, "t": <time.time()>}\\n\\n`, each flushed on its own,
                                M ms apart (defaults 3 and 100).
  /delay?ms=M                   sleeps M ms, then 200 {"slept_ms": M}.
  /status?code=C                answers C with {"status": C} (no body for 204 and 304).
  GET /close                    200 with `Connection: close`, then closes the connection.
  GET /stats                    {connections_opened, connections_accepted, open_connections,
                                requests, inflight, peak_inflight, ready_probes}.
  POST /stats/reset             zeroes the counters (open_connections and inflight stay true).
  GET /ready                    200 or 503 by a flag; POST /ready?value=0|1 sets it.
  POST /slow-read?bytes_per_sec=B
                                reads the body at about B bytes/s, then {"length": n, "seconds": s}.

Counting: /stats, /stats/reset and /ready are control endpoints. They are not counted in
`requests`/`inflight` (GET /ready is counted in `ready_probes`), and a connection is counted in
`connections_opened` only when it carries its first counted request, so a test that polls /stats
or a sidecar that probes /ready does not disturb the numbers it checks. `connections_accepted`
counts every accepted connection.

Flags: --port (0 = any free port), --host (default 127.0.0.1), --close-after N (close each
connection after N requests, 0 = never), --idle-timeout S (close a connection idle for S seconds,
0 = never), --not-ready (start with /ready answering 503), --verbose (log requests to stderr).
"""

import argparse
import hashlib
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PATTERN = bytes((i * 31 + 7) & 0xFF for i in range(256))
MAX_LINE = 65536


def pattern_bytes(offset, size):
    """Bytes offset..offset+size-1 of the /bytes stream (byte i = (i*31 + 7) mod 256)."""
    start = offset % 256
    reps = (start + size + 255) // 256
    return (PATTERN * reps)[start:start + size]


class BadRequest(Exception):
    pass


class Stats:
    """Counters shared by all connection threads; guarded by `lock`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open_connections = 0
        self.inflight = 0
        self.reset()

    def reset(self):
        self.connections_opened = 0
        self.connections_accepted = 0
        self.requests = 0
        self.peak_inflight = self.inflight
        self.ready_probes = 0

    def snapshot(self):
        with self.lock:
            return {
                "connections_opened": self.connections_opened,
                "connections_accepted": self.connections_accepted,
                "open_connections": self.open_connections,
                "requests": self.requests,
                "inflight": self.inflight,
                "peak_inflight": self.peak_inflight,
                "ready_probes": self.ready_probes,
            }


class BodyReader:
    """Reads one request body framed by Content-Length or chunked transfer encoding.

    `throttle` (bytes per second, or None) slows reading down for /slow-read.
    """

    def __init__(self, rfile, headers, throttle=None):
        self.rfile = rfile
        self.throttle = throttle
        te = ",".join(headers.get_all("Transfer-Encoding") or []).lower()
        cl = headers.get_all("Content-Length") or []
        self.chunked = "chunked" in [t.strip() for t in te.split(",") if t.strip()]
        if te and not self.chunked:
            raise BadRequest("unsupported transfer-encoding")
        if self.chunked and cl:
            raise BadRequest("both content-length and chunked")
        self.length = 0
        if cl:
            if len(set(v.strip() for v in cl)) != 1 or not cl[0].strip().isdigit():
                raise BadRequest("bad content-length")
            self.length = int(cl[0].strip())
        self.started = time.monotonic()
        self.consumed = 0

    def _read(self, n):
        out = []
        while n > 0:
            piece = n
            if self.throttle:
                piece = min(n, max(1, int(self.throttle) // 20))
                due = self.started + (self.consumed + piece) / self.throttle
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            data = self.rfile.read(piece)
            if not data:
                raise BadRequest("body ended early")
            out.append(data)
            n -= len(data)
            self.consumed += len(data)
        return b"".join(out)

    def _line(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if not line or len(line) > MAX_LINE or not line.endswith(b"\n"):
            raise BadRequest("bad chunk line")
        return line

    def read_all(self):
        if not self.chunked:
            return self._read(self.length)
        parts = []
        while True:
            size_field = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n"):
                    pass  # trailers are read and ignored
                return b"".join(parts)
            parts.append(self._read(size))
            if self._line() not in (b"\r\n", b"\n"):
                raise BadRequest("missing CRLF after chunk")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlsidecar-test-upstream/1"
    disable_nagle_algorithm = True

    # --- connection lifecycle -------------------------------------------------------------
    def setup(self):
        idle = self.server.idle_timeout
        self.timeout = idle if idle and idle > 0 else None
        super().setup()
        self.served = 0
        self.counted_connection = False
        st = self.server.stats
        with st.lock:
            st.connections_accepted += 1
            st.open_connections += 1

    def finish(self):
        try:
            super().finish()
        finally:
            st = self.server.stats
            with st.lock:
                st.open_connections -= 1

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("upstream: %s - %s\n" % (self.address_string(), fmt % args))

    def __getattr__(self, name):
        # Any method (GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD, custom) is dispatched.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    # --- response helpers -----------------------------------------------------------------
    def _start(self, code, headers):
        self.served += 1
        close_after = self.server.close_after
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        if close_after and self.served >= close_after and not self.close_connection:
            self.send_header("Connection", "close")

    def respond(self, code, body=b"", content_type="application/json", headers=()):
        hdrs = list(headers)
        bodyless = code in (204, 304) or code < 200
        if not bodyless:
            hdrs.append(("Content-Type", content_type))
            hdrs.append(("Content-Length", str(len(body))))
        self._start(code, hdrs)
        # Headers and body leave in one write: no Nagle/delayed-ACK stall, fewer syscalls.
        self._headers_buffer.append(b"\r\n")
        if not bodyless and self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def respond_json(self, code, obj, headers=()):
        self.respond(code, json.dumps(obj).encode(), "application/json", headers)

    def start_chunked(self, code, content_type, headers=()):
        self._start(code, list(headers) + [("Content-Type", content_type),
                                           ("Transfer-Encoding", "chunked")])
        self.end_headers()

    def write_chunk(self, data):
        if self.command != "HEAD" and data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self):
        if self.command != "HEAD":
            self.wfile.write(b"0\r\n\r\n")

    # --- dispatch -------------------------------------------------------------------------
    def dispatch(self):
        url = urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        st = self.server.stats
        control = path in ("/stats", "/stats/reset", "/ready")
        if not control:
            with st.lock:
                st.requests += 1
                st.inflight += 1
                st.peak_inflight = max(st.peak_inflight, st.inflight)
                if not self.counted_connection:
                    self.counted_connection = True
                    st.connections_opened += 1
        try:
            self.route(path, query)
        except BadRequest as e:
            self.close_connection = True
            self.respond_json(400, {"error": str(e), "code": "bad_request"},
                              [("Connection", "close")])
        finally:
            if not control:
                with st.lock:
                    st.inflight -= 1

    def _int(self, query, name, default):
        try:
            return int(query.get(name, default))
        except ValueError:
            raise BadRequest("query parameter %s must be an integer" % name) from None

    def route(self, path, query):
        if path == "/slow-read":
            rate = self._int(query, "bytes_per_sec", 1024)
            if rate <= 0:
                raise BadRequest("bytes_per_sec must be positive")
            reader = BodyReader(self.rfile, self.headers, throttle=rate)
            t0 = time.monotonic()
            body = reader.read_all()
            self.respond_json(200, {"length": len(body), "seconds": time.monotonic() - t0})
            return
        body = BodyReader(self.rfile, self.headers).read_all()
        if path == "/echo":
            ctype = self.headers.get("Content-Type", "application/octet-stream")
            digest = ("x-upstream-body-sha256", hashlib.sha256(body).hexdigest())
            if query.get("chunked") == "1":
                size = max(1, self._int(query, "chunk", 16384))
                self.start_chunked(200, ctype, [digest])
                for i in range(0, len(body), size):
                    self.write_chunk(body[i:i + size])
                self.end_chunked()
            else:
                self.respond(200, body, ctype, [digest])
        elif path == "/inspect":
            self.respond_json(200, {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_length": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "http_version": self.request_version,
            })
        elif path == "/bytes":
            self.send_bytes(query)
        elif path == "/sse":
            self.send_sse(query)
        elif path == "/delay":
            ms = self._int(query, "ms", 100)
            time.sleep(max(0, ms) / 1000.0)
            self.respond_json(200, {"slept_ms": ms})
        elif path == "/status":
            code = self._int(query, "code", 200)
            if not 200 <= code <= 599:
                raise BadRequest("code must be 200..599")
            self.respond_json(code, {"status": code})
        elif path == "/close":
            self.respond_json(200, {"closing": True}, [("Connection", "close")])
        elif path == "/stats" and self.command in ("GET", "HEAD"):
            self.respond_json(200, self.server.stats.snapshot())
        elif path == "/stats/reset" and self.command == "POST":
            with self.server.stats.lock:
                self.server.stats.reset()
            self.respond_json(200, {"reset": True})
        elif path == "/ready" and self.command == "POST":
            value = query.get("value", "1")
            if value not in ("0", "1"):
                raise BadRequest("value must be 0 or 1")
            self.server.ready = value == "1"
            self.respond_json(200, {"ready": self.server.ready})
        elif path == "/ready":
            with self.server.stats.lock:
                self.server.stats.ready_probes += 1
            ready = self.server.ready
            self.respond_json(200 if ready else 503, {"ready": ready})
        else:
            self.respond_json(404, {"error": "no such endpoint: " + path, "code": "not_found"})

    def send_bytes(self, query):
        n = self._int(query, "n", 1024)
        if n < 0:
            raise BadRequest("n must be >= 0")
        if query.get("chunked", "0") == "1":
            size = max(1, self._int(query, "chunk", 16384))
            self.start_chunked(200, "application/octet-stream")
            for pos in range(0, n, size):
                self.write_chunk(pattern_bytes(pos, min(size, n - pos)))
            self.end_chunked()
            return
        if n <= 65536:
            self.respond(200, pattern_bytes(0, n), "application/octet-stream")
            return
        self._start(200, [("Content-Type", "application/octet-stream"),
                          ("Content-Length", str(n))])
        self.end_headers()
        if self.command == "HEAD":
            return
        piece = 1 << 20  # a multiple of 256: every piece starts at pattern offset 0
        block = pattern_bytes(0, piece)
        for pos in range(0, n, piece):
            self.wfile.write(block[:min(piece, n - pos)])

    def send_sse(self, query):
        events = self._int(query, "events", 3)
        interval = self._int(query, "interval_ms", 100) / 1000.0
        self.start_chunked(200, "text/event-stream", [("Cache-Control", "no-cache")])
        if self.command != "HEAD":
            t0 = time.monotonic()
            for k in range(events):
                wait = t0 + k * interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                event = "data: %s\n\n" % json.dumps({"k": k, "t": time.time()})
                self.write_chunk(event.encode())
        self.end_chunked()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return  # a peer that went away is routine in these tests
        super().handle_error(request, client_address)


def serve(server):
    """Serves until SIGTERM/SIGINT; returns the exit code."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0 = any free port)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--close-after", type=int, default=0,
                    help="close each connection after N requests (0 = never)")
    ap.add_argument("--idle-timeout", type=float, default=0,
                    help="close a connection idle for S seconds (0 = never)")
    ap.add_argument("--not-ready", action="store_true", help="start with /ready answering 503")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = ap.parse_args(argv)
    server = Server((args.host, args.port), Handler)
    server.stats = Stats()
    server.close_after = max(0, args.close_after)
    server.idle_timeout = args.idle_timeout
    server.ready = not args.not_ready
    server.verbose = args.verbose
    return serve(server)


if __name__ == "__main__":
    sys.exit(main())
