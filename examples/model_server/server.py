#!/usr/bin/env python3
"""mlsidecar's example model server: KServe V1, Open Inference Protocol V2, OpenAI and Ollama APIs.

Standard library only, HTTP/1.1 keep-alive, one daemon thread per connection. Prints
`listening on HOST:PORT` (flushed) when ready to accept; exits 0 on SIGTERM or SIGINT.
See README.md beside this file for every endpoint, the model and the timing of generated tokens.
"""

import argparse
import json
import math
import random
import signal
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# The "model": score = sigmoid(BIAS + sum_i WEIGHTS[i % 8] * x_i), deterministic.
WEIGHTS = (0.8, -0.5, 0.3, 0.05, 1.2, -0.7, 0.25, 0.1)
BIAS = -0.2
MAX_BODY = 64 << 20

V2_INT_RANGES = {
    "INT8": (-(1 << 7), (1 << 7) - 1), "INT16": (-(1 << 15), (1 << 15) - 1),
    "INT32": (-(1 << 31), (1 << 31) - 1), "INT64": (-(1 << 63), (1 << 63) - 1),
    "UINT8": (0, (1 << 8) - 1), "UINT16": (0, (1 << 16) - 1),
    "UINT32": (0, (1 << 32) - 1), "UINT64": (0, (1 << 64) - 1),
}
V2_FLOATS = ("FP16", "FP32", "FP64")

# Words the "language model" speaks; picked deterministically from the prompt.
VOCABULARY = (
    "the model reads your prompt and answers with plain words one at a time so that every token "
    "can be measured as it leaves the server sidecar latency drift metrics stream window quantile "
    "request response batch tensor feature score signal scale replica queue budget error"
).split()


class ClientError(Exception):
    """A request the client got wrong: answered with `code` and a JSON error body."""

    def __init__(self, message, code=400):
        super().__init__(message)
        self.code = code


def fp32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def score(row, shift=0.0):
    """The model's deterministic score for one row of numeric features; `shift` moves every
    logit (--score-shift: a model version whose outputs drifted)."""
    z = BIAS + shift + sum(WEIGHTS[i % len(WEIGHTS)] * x for i, x in enumerate(row))
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def as_number(value, where):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise ClientError("%s: expected a finite number, got %s" % (where, json.dumps(value)))


def v1_rows(body):
    """KServe V1 `instances`: rows as lists of numbers or objects {f0: .., f1: ..}."""
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        raise ClientError('expected a JSON object with an "instances" list')
    rows = []
    for r, inst in enumerate(body["instances"]):
        if isinstance(inst, list):
            rows.append([as_number(v, "instances[%d][%d]" % (r, i)) for i, v in enumerate(inst)])
        elif isinstance(inst, dict):
            row = [0.0] * len(WEIGHTS)
            for key, v in inst.items():
                x = as_number(v, "instances[%d].%s" % (r, key))
                if key.startswith("f") and key[1:].isdigit():
                    idx = int(key[1:])
                    if idx >= len(row):
                        row.extend([0.0] * (idx + 1 - len(row)))
                    row[idx] = x
            rows.append(row)
        elif isinstance(inst, (int, float)):
            rows.append([as_number(inst, "instances[%d]" % r)])
        else:
            raise ClientError("instances[%d]: expected a list or an object" % r)
    return rows


def flatten(data, out):
    if isinstance(data, list):
        for d in data:
            flatten(d, out)
    else:
        out.append(data)
    return out


def v2_columns(tensor, i):
    """One V2 input tensor -> (batch, list of feature columns), validated per the spec."""
    if not isinstance(tensor, dict):
        raise ClientError("inputs[%d]: expected an object" % i)
    name = tensor.get("name")
    shape = tensor.get("shape")
    dtype = tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise ClientError("inputs[%d]: missing name" % i)
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ClientError("input %s: shape must be a list of non-negative integers" % name)
    if dtype not in V2_INT_RANGES and dtype not in V2_FLOATS and dtype not in ("BOOL", "BYTES"):
        raise ClientError("input %s: unsupported datatype %s" % (name, json.dumps(dtype)))
    if "data" not in tensor:
        raise ClientError("input %s: missing data" % name)
    data = flatten(tensor["data"], [])
    count = 1
    for d in shape:
        count *= d
    if len(data) != count:
        raise ClientError("input %s: shape %s needs %d elements, data has %d"
                          % (name, shape, count, len(data)))
    values = []
    for v in data:
        where = "input %s" % name
        if dtype == "BYTES":
            if not isinstance(v, str):
                raise ClientError("%s: BYTES elements must be strings" % where)
            values.append(zlib.crc32(v.encode()) / 4294967296.0)
        elif dtype == "BOOL":
            if not isinstance(v, bool):
                raise ClientError("%s: BOOL elements must be true or false" % where)
            values.append(float(v))
        elif dtype in V2_INT_RANGES:
            lo, hi = V2_INT_RANGES[dtype]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ClientError("%s: %s elements must be integers in range" % (where, dtype))
            values.append(float(v))
        else:
            values.append(as_number(v, where))
    batch = shape[0] if shape else 1
    width = count // batch if batch else 0
    columns = [values[c::width] for c in range(width)] if width else []
    return batch, columns


def v2_rows(body):
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ClientError('expected a JSON object with a non-empty "inputs" list')
    batch = None
    columns = []
    for i, tensor in enumerate(body["inputs"]):
        b, cols = v2_columns(tensor, i)
        if batch is not None and b != batch:
            raise ClientError("inputs disagree on batch size (%d and %d)" % (batch, b))
        batch = b
        columns.extend(cols)
    return [[col[r] for col in columns] for r in range(batch)]


def count_words(text):
    return len(text.split())


def chat_prompt(messages):
    if not isinstance(messages, list) or not messages:
        raise ClientError('"messages" must be a non-empty list')
    parts = []
    for m in messages:
        if not isinstance(m, dict):
            raise ClientError("each message must be an object")
        content = m.get("content", "")
        if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise ClientError("message content must be a string or a list of parts")
        parts.append(content)
    return "\n".join(parts)


class Generation:
    """The deterministic token schedule of one completion.

    Tokens are words from VOCABULARY chosen by the prompt's CRC32. The answer's natural length is
    `answer_tokens` (or 8..47 words derived from the prompt when 0); generation stops at
    min(natural length, max_tokens), finishing with "stop" or "length", or earlier with "stop" at a
    stop string. Token k (k = 0, 1, ...) is ready at prefill + k * token_ms after the request,
    where prefill = prefill_base_ms + prefill_ms_per_token * prompt_tokens.
    """

    def __init__(self, cfg, prompt, max_tokens, stop=None, ignore_eos=False):
        if max_tokens is None:
            max_tokens = 16
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise ClientError("max_tokens must be a non-negative integer")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and (not isinstance(stop, list)
                                 or not all(isinstance(s, str) for s in stop)):
            raise ClientError("stop must be a string or a list of strings")
        seed = zlib.crc32(prompt.encode())
        natural = cfg.answer_tokens if cfg.answer_tokens > 0 else 8 + seed % 40
        if ignore_eos:
            natural = max_tokens
        rng = random.Random(seed)
        self.prompt_tokens = count_words(prompt)
        self.tokens = []
        self.finish_reason = "length" if natural >= max_tokens else "stop"
        for k in range(min(natural, max_tokens)):
            word = VOCABULARY[rng.randrange(len(VOCABULARY))]
            if stop and word in stop:
                self.finish_reason = "stop"
                break
            self.tokens.append(word if k == 0 else " " + word)
        self.prefill = (cfg.prefill_base_ms + cfg.prefill_ms_per_token * self.prompt_tokens) / 1e3
        self.token_interval = cfg.token_ms / 1e3

    def text(self):
        return "".join(self.tokens)

    def usage(self):
        n = len(self.tokens)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": n,
                "total_tokens": self.prompt_tokens + n}

    def timed_tokens(self, start):
        """Yields tokens, each at its scheduled time measured from `start` (monotonic)."""
        for k, tok in enumerate(self.tokens):
            wait = start + self.prefill + k * self.token_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            yield tok

    def wait_all(self, start):
        for _ in self.timed_tokens(start):
            pass
        wait = start + self.prefill - time.monotonic()
        if wait > 0:  # an empty answer still pays the prefill
            time.sleep(wait)


class Stats:
    """Counters for /debug/stats; guarded by `lock`."""

    FIELDS = ("connections_opened", "open_connections", "requests", "inflight",
              "streams_started", "streams_completed", "streams_aborted")

    def __init__(self):
        self.lock = threading.Lock()
        for f in self.FIELDS:
            setattr(self, f, 0)

    def add(self, **deltas):
        with self.lock:
            for k, v in deltas.items():
                setattr(self, k, getattr(self, k) + v)

    def snapshot(self):
        with self.lock:
            return {f: getattr(self, f) for f in self.FIELDS}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlsidecar-example-model/1"
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        self.server.stats.add(connections_opened=1, open_connections=1)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.stats.add(open_connections=-1)

    def log_message(self, fmt, *args):
        if self.server.cfg.verbose:
            sys.stderr.write("model: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    # --- responses ------------------------------------------------------------------------
    def respond(self, code, body, content_type="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()  # one write for headers and body

    def respond_json(self, code, obj):
        self.respond(code, json.dumps(obj).encode())

    def error(self, code, message, kind):
        self.respond_json(code, {"error": message, "code": kind})

    def start_stream(self, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def sse(self, obj):
        self.chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    # --- routing --------------------------------------------------------------------------
    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    raise ClientError("request body too large", 413)
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ClientError("bad or too large Content-Length", 413)
        return self.rfile.read(length)

    def json_body(self):
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ClientError("request body is not valid JSON") from None

    def dispatch(self):
        self.server.stats.add(requests=1, inflight=1)
        try:
            self.route(urlsplit(self.path))
        except ClientError as e:
            self.error(e.code, str(e), "bad_request" if e.code == 400 else "client_error")
        except ValueError as e:  # unreadable framing
            self.close_connection = True
            self.error(400, "malformed request: %s" % e, "bad_request")
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        finally:
            self.server.stats.add(inflight=-1)

    def route(self, url):
        path, cfg, post = url.path, self.server.cfg, self.command == "POST"
        parts = path.strip("/").split("/")
        model = cfg.model_name
        ready = self.server.is_ready()
        try:
            self.body = self.read_body()
        except ClientError:
            self.close_connection = True
            raise
        if not post:
            if path == "/healthz" or path == "/v2/health/live":
                return self.respond_json(200, {"live": True})
            if path == "/v2/health/ready":
                return self.respond_json(200 if ready else 503, {"ready": ready})
            if path == "/v2":
                return self.respond_json(200, {"name": "mlsidecar-example-model", "version": "1",
                                               "extensions": []})
            if path == "/debug/stats":
                return self.respond_json(200, self.server.stats.snapshot())
            if parts[:2] == ["v2", "models"] and len(parts) >= 3:
                name, rest = parts[2], parts[3:]
                if rest[:1] == ["versions"] and len(rest) >= 2:
                    self.check_model(name, rest[1])
                    rest = rest[2:]
                else:
                    self.check_model(name, None)
                if rest == ["ready"]:
                    return self.respond_json(200 if ready else 503, {"name": name, "ready": ready})
                if rest == []:
                    return self.respond_json(200, self.v2_metadata())
            if parts[:2] == ["v1", "models"] and len(parts) == 3:
                self.check_model(parts[2], None)
                return self.respond_json(200 if ready else 503, {"name": model, "ready": ready})
            if path == "/v1/models":  # OpenAI model list
                return self.respond_json(200, {"object": "list", "data": [
                    {"id": model, "object": "model", "created": 0, "owned_by": "mlsidecar"}]})
            return self.error(404, "no such endpoint: %s %s" % (self.command, path), "not_found")

        if path == "/debug/ready":
            value = parse_qs(url.query).get("value", ["1"])[-1]
            self.server.forced_ready = value == "1"
            return self.respond_json(200, {"ready": self.server.is_ready()})
        if parts[:2] == ["v1", "models"] and len(parts) == 3 and parts[2].endswith(":predict"):
            body = self.json_body()
            self.check_model(parts[2][:-len(":predict")], None)
            self.check_ready(ready)
            rows = v1_rows(body)
            self.predict_delay()
            if self.server.draw_failure():
                return self.error(500, "injected failure (--error-ratio)", "internal")
            shift = self.server.cfg.score_shift
            return self.respond_json(200, {"predictions": [score(r, shift) for r in rows]})
        if parts[:2] == ["v2", "models"] and len(parts) >= 4 and parts[-1] == "infer":
            name, rest = parts[2], parts[3:-1]
            version = None
            if rest:
                if len(rest) != 2 or rest[0] != "versions":
                    return self.error(404, "no such endpoint: POST %s" % path, "not_found")
                version = rest[1]
            body = self.json_body()
            self.check_model(name, version)
            self.check_ready(ready)
            return self.v2_infer(name, body)
        if path in ("/v1/completions", "/v1/chat/completions"):
            body = self.json_body()
            self.check_ready(ready)
            return self.openai(body, chat=path.endswith("chat/completions"))
        if path in ("/api/generate", "/api/chat"):
            body = self.json_body()
            self.check_ready(ready)
            return self.ollama(body, chat=path == "/api/chat")
        return self.error(404, "no such endpoint: POST %s" % path, "not_found")

    def check_model(self, name, version):
        cfg = self.server.cfg
        if name != cfg.model_name or (version is not None and version != cfg.model_version):
            raise ClientError("model %s%s not found" % (
                name, "" if version is None else " version " + version), 404)

    def check_ready(self, ready):
        if not ready:
            raise ClientError("model %s is not ready" % self.server.cfg.model_name, 503)

    def predict_delay(self):
        cfg = self.server.cfg
        ms = cfg.predict_ms + (random.uniform(0, cfg.predict_jitter_ms) if cfg.predict_jitter_ms else 0)
        if ms > 0:
            time.sleep(ms / 1e3)

    def v2_metadata(self):
        cfg = self.server.cfg
        return {"name": cfg.model_name, "versions": [cfg.model_version], "platform": "python",
                "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, len(WEIGHTS)]}],
                "outputs": [{"name": "output-0", "datatype": "FP32", "shape": [-1, 1]}]}

    def v2_infer(self, name, body):
        rows = v2_rows(body)
        if "id" in body and not isinstance(body["id"], str):
            raise ClientError("id must be a string")
        self.predict_delay()
        if self.server.draw_failure():
            return self.error(500, "injected failure (--error-ratio)", "internal")
        out = {"model_name": name, "model_version": self.server.cfg.model_version}
        if "id" in body:
            out["id"] = body["id"]
        out["outputs"] = [{"name": "output-0", "shape": [len(rows), 1], "datatype": "FP32",
                           "data": [fp32(score(r, self.server.cfg.score_shift)) for r in rows]}]
        self.respond_json(200, out)

    # --- generation -----------------------------------------------------------------------
    def openai(self, body, chat):
        if not isinstance(body, dict):
            raise ClientError("expected a JSON object")
        if chat:
            prompt = chat_prompt(body.get("messages"))
        else:
            prompt = body.get("prompt", "")
            if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
                prompt = "\n".join(prompt)
            if not isinstance(prompt, str):
                raise ClientError('"prompt" must be a string or a list of strings')
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        gen = Generation(self.server.cfg, prompt, max_tokens, body.get("stop"),
                         bool(body.get("ignore_eos", False)))
        start = time.monotonic()
        model = body.get("model") or self.server.cfg.model_name
        created = int(time.time())
        rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        if not body.get("stream", False):
            gen.wait_all(start)
            if chat:
                choice = {"index": 0, "message": {"role": "assistant", "content": gen.text()},
                          "logprobs": None, "finish_reason": gen.finish_reason}
            else:
                choice = {"index": 0, "text": gen.text(), "logprobs": None,
                          "finish_reason": gen.finish_reason}
            return self.respond_json(200, {
                "id": rid, "object": "chat.completion" if chat else "text_completion",
                "created": created, "model": model, "choices": [choice], "usage": gen.usage()})

        opts = body.get("stream_options") or {}
        include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        obj = "chat.completion.chunk" if chat else "text_completion"

        def event(choice):
            e = {"id": rid, "object": obj, "created": created, "model": model,
                 "choices": [choice]}
            if include_usage:
                e["usage"] = None
            return e

        self.start_stream("text/event-stream")
        self.stream_run(lambda: self._openai_events(gen, start, chat, event, include_usage, rid,
                                                     obj, created, model))

    def _openai_events(self, gen, start, chat, event, include_usage, rid, obj, created, model):
        if chat:  # the role header comes at once, before any generated content
            self.sse(event({"index": 0, "delta": {"role": "assistant", "content": ""},
                            "logprobs": None, "finish_reason": None}))
        for tok in gen.timed_tokens(start):
            if chat:
                self.sse(event({"index": 0, "delta": {"content": tok}, "logprobs": None,
                                "finish_reason": None}))
            else:
                self.sse(event({"index": 0, "text": tok, "logprobs": None,
                                "finish_reason": None}))
        gen.wait_all(start)
        if chat:
            self.sse(event({"index": 0, "delta": {}, "logprobs": None,
                            "finish_reason": gen.finish_reason}))
        else:
            self.sse(event({"index": 0, "text": "", "logprobs": None,
                            "finish_reason": gen.finish_reason}))
        if include_usage:
            self.sse({"id": rid, "object": obj, "created": created, "model": model,
                      "choices": [], "usage": gen.usage()})
        self.chunk(b"data: [DONE]\n\n")

    def ollama(self, body, chat):
        if not isinstance(body, dict):
            raise ClientError("expected a JSON object")
        prompt = chat_prompt(body.get("messages")) if chat else body.get("prompt", "")
        if not isinstance(prompt, str):
            raise ClientError('"prompt" must be a string')
        opts = body.get("options") or {}
        num_predict = opts.get("num_predict", 16) if isinstance(opts, dict) else 16
        gen = Generation(self.server.cfg, prompt, num_predict, opts.get("stop")
                         if isinstance(opts, dict) else None)
        start = time.monotonic()
        model = body.get("model") or self.server.cfg.model_name

        def line(content, done):
            d = {"model": model,
                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            if chat:
                d["message"] = {"role": "assistant", "content": content}
            else:
                d["response"] = content
            d["done"] = done
            if done:
                total = int((time.monotonic() - start) * 1e9)
                prefill = int(gen.prefill * 1e9)
                d.update({"done_reason": gen.finish_reason, "total_duration": total,
                          "load_duration": 0, "prompt_eval_count": gen.prompt_tokens,
                          "prompt_eval_duration": prefill, "eval_count": len(gen.tokens),
                          "eval_duration": max(0, total - prefill)})
            return d

        if not body.get("stream", True):
            gen.wait_all(start)
            return self.respond_json(200, line(gen.text(), True))

        def run():
            for tok in gen.timed_tokens(start):
                self.chunk(json.dumps(line(tok, False)).encode() + b"\n")
            gen.wait_all(start)
            self.chunk(json.dumps(line("", True)).encode() + b"\n")

        self.start_stream("application/x-ndjson")
        self.stream_run(run)

    def stream_run(self, produce):
        """Runs a chunked stream; a client that goes away ends it and is counted."""
        stats = self.server.stats
        stats.add(streams_started=1)
        try:
            produce()
            self.wfile.write(b"0\r\n\r\n")
        except (ConnectionError, socket.timeout):
            stats.add(streams_aborted=1)
            self.close_connection = True
            return
        stats.add(streams_completed=1)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, cfg):
        super().__init__((cfg.host, cfg.port), Handler)
        self.cfg = cfg
        self.stats = Stats()
        self.ready_at = time.monotonic() + max(0.0, cfg.not_ready_for)
        self.forced_ready = None
        self.predictions = 0  # V1/V2 predictions so far, for --error-ratio
        self.predictions_lock = threading.Lock()

    def draw_failure(self):
        """Whether this prediction fails (--error-ratio): prediction n fails when floor(n * R)
        steps up, so any run of predictions fails the configured share, without randomness."""
        ratio = self.cfg.error_ratio
        if ratio <= 0:
            return False
        with self.predictions_lock:
            self.predictions += 1
            n = self.predictions
        return math.floor(n * ratio) > math.floor((n - 1) * ratio)

    def is_ready(self):
        if self.forced_ready is not None:
            return self.forced_ready
        return time.monotonic() >= self.ready_at

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            return
        super().handle_error(request, client_address)


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Example model server: KServe V1, Open Inference Protocol V2, "
                    "OpenAI-style and Ollama-style generation.")
    ap.add_argument("--port", type=int, default=8081, help="port (0 = any free port; default 8081)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--model-name", default="demo", help="served model name (default demo)")
    ap.add_argument("--model-version", default="1", help="served model version (default 1)")
    ap.add_argument("--not-ready-for", type=float, default=0.0, metavar="SECONDS",
                    help="answer readiness probes with 503 for this long after start")
    ap.add_argument("--predict-ms", type=float, default=0.0,
                    help="fixed delay of each V1/V2 prediction in ms (default 0)")
    ap.add_argument("--predict-jitter-ms", type=float, default=0.0,
                    help="extra uniform random delay 0..J ms per V1/V2 prediction (default 0)")
    ap.add_argument("--prefill-base-ms", type=float, default=30.0,
                    help="prefill time of every completion in ms (default 30)")
    ap.add_argument("--prefill-ms-per-token", type=float, default=2.0,
                    help="extra prefill time per prompt token in ms (default 2)")
    ap.add_argument("--token-ms", type=float, default=20.0,
                    help="time between generated tokens in ms (default 20)")
    ap.add_argument("--answer-tokens", type=int, default=0,
                    help="natural answer length in tokens; 0 = 8..47 derived from the prompt")
    ap.add_argument("--error-ratio", type=float, default=0.0,
                    help="answer this share of V1/V2 predictions with 500, evenly spread "
                         "(a failing model version; default 0)")
    ap.add_argument("--score-shift", type=float, default=0.0,
                    help="add this to every prediction's logit (a model version whose outputs "
                         "drifted; default 0)")
    ap.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return ap.parse_args(argv)


def main(argv=None):
    cfg = parse_args(argv)
    server = Server(cfg)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
