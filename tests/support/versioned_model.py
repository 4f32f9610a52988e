#!/usr/bin/env python3
"""A stand-in for one version of a classifier behind the Open Inference Protocol V2, for the
shadow traffic tests: its answer is a pure function of the request, so a test knows exactly how
often two versions disagree.

Standard library only; HTTP/1.1 keep-alive, one thread per connection. Prints
`listening on HOST:PORT` once bound; exits on SIGTERM or SIGINT.

  POST /v2/models/NAME/infer   body {"inputs": [{"name": "id", "datatype": "INT64", "shape": [1],
                               "data": [K]}]} -> 200 {"model_name": NAME, "outputs": [
                               {"name": "label", "datatype": "BYTES", "shape": [1],
                                "data": ["class-C"]},
                               {"name": "probs", "datatype": "FP32", "shape": [1, 3],
                                "data": [...0.7 at index C, 0.15 elsewhere]}]}
                               with C = K mod 3, or with --disagree-every N, C = (K+1) mod 3 when
                               K mod N == 0 (so exactly 1/N of the ids 0..N*M-1 disagree).
  GET /stats                   {"requests", "marked" (with x-mlsidecar-shadow: 1), "last": the
                               last 100 [x-request-id, x-mlsidecar-shadow, content-type],
                               "streams_cut" (--endless answers the client closed)}

Behaviour flags: --delay-ms M (answer after M ms), --status C (answer every infer with C and a
JSON error), --hang (read the request, never answer; the connection stays open), --endless (a
200 text/event-stream that never ends, one event every 10 ms), --idle-close-ms M (close a
keep-alive connection idle for M ms, as uvicorn does after 5 s), --gzip (gzip the answer, with
Content-Encoding: gzip, when the request's Accept-Encoding names gzip).
"""

import argparse
import gzip
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.marked = 0
        self.last = []
        self.streams_cut = 0


def answer(model, k, disagree_every):
    c = k % 3
    if disagree_every and k % disagree_every == 0:
        c = (c + 1) % 3
    probs = [0.15, 0.15, 0.15]
    probs[c] = 0.7
    return {"model_name": model, "outputs": [
        {"name": "label", "datatype": "BYTES", "shape": [1], "data": ["class-%d" % c]},
        {"name": "probs", "datatype": "FP32", "shape": [1, 3], "data": probs}]}


def make_handler(args, state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The head and the body leave in two writes: without this, Nagle holds the body until the
        # client's delayed ACK of the head, 40 ms on every answer.
        disable_nagle_algorithm = True
        # socketserver applies it to every read: an idle keep-alive connection is closed after it.
        timeout = args.idle_close_ms / 1000.0 if args.idle_close_ms else None

        def log_message(self, fmt, *a):
            pass

        def send(self, code, obj):
            body = json.dumps(obj, separators=(",", ":")).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            if args.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                body = gzip.compress(body)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != "/stats":
                return self.send(404, {"error": "not found"})
            with state.lock:
                self.send(200, {"requests": state.requests, "marked": state.marked,
                                "last": list(state.last), "streams_cut": state.streams_cut})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            marker = self.headers.get("x-mlsidecar-shadow", "")
            with state.lock:
                state.requests += 1
                state.marked += marker == "1"
                state.last.append([self.headers.get("x-request-id", ""), marker,
                                   self.headers.get("Content-Type", "")])
                del state.last[:-100]
            parts = self.path.split("/")
            if len(parts) != 5 or parts[1] != "v2" or parts[4] != "infer":
                return self.send(404, {"error": "not found"})
            if args.hang:
                time.sleep(3600)
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000.0)
            if args.status:
                return self.send(args.status, {"error": "failing on purpose"})
            if args.endless:
                return self.stream_forever()
            k = int(json.loads(body)["inputs"][0]["data"][0])
            self.send(200, answer(parts[3], k, args.disagree_every))

        def stream_forever(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            event = b"data: " + b"x" * 1000 + b"\n\n"
            chunk = b"%x\r\n%s\r\n" % (len(event), event)
            try:
                while True:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    time.sleep(0.01)
            except OSError:
                with state.lock:
                    state.streams_cut += 1
                self.close_connection = True

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--disagree-every", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--status", type=int, default=0)
    parser.add_argument("--hang", action="store_true")
    parser.add_argument("--endless", action="store_true")
    parser.add_argument("--idle-close-ms", type=int, default=0)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 256  # tests open a hundred connections at once
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args, State()))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("listening on %s:%d" % server.server_address[:2], flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
