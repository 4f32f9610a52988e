"""Tests of the integration-test support: upstream.py, the example model server, procs.py.

Run: /usr/bin/python3 -m pytest -q tests/support/test_support.py
"""

import hashlib
import http.client
import json
import math
import os
import signal
import socket
import sys
import textwrap
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import procs  # noqa: E402
from procs import (ModelServer, MetricsFormatError, Sidecar, Upstream, expected_bytes,  # noqa: E402
                   http_json, http_request, parse_metrics, read_sse_events, start_process)


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as up:
        yield up


def connect(port, timeout=10):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


# --- upstream.py ---------------------------------------------------------------------------

def test_echo_of_chunked_1mb_body_is_byte_identical(upstream):
    body = os.urandom(1 << 20)
    pieces = [body[i:i + 7919] for i in range(0, len(body), 7919)]  # odd sizes on purpose
    conn = connect(upstream.port)
    conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True,
                 headers={"Content-Type": "application/x-test"})
    resp = conn.getresponse()
    got = resp.read()
    assert resp.status == 200
    assert got == body
    assert resp.getheader("Content-Type") == "application/x-test"
    assert resp.getheader("x-upstream-body-sha256") == hashlib.sha256(body).hexdigest()
    # The connection stays usable: the chunked framing was consumed exactly.
    conn.request("POST", "/echo", body=b"again")
    resp = conn.getresponse()
    assert resp.read() == b"again"
    conn.close()


def test_echo_can_answer_chunked(upstream):
    body = os.urandom(100000)
    conn = connect(upstream.port)
    conn.request("PUT", "/echo?chunked=1&chunk=999", body=body)
    resp = conn.getresponse()
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.read() == body
    conn.close()


def test_inspect_reports_headers_in_order_with_duplicates(upstream):
    conn = connect(upstream.port)
    conn.putrequest("PATCH", "/inspect?x=1", skip_accept_encoding=True)
    conn.putheader("X-B", "2")
    conn.putheader("x-a", "1")
    conn.putheader("X-B", "3")
    conn.putheader("Content-Length", "5")
    conn.endheaders(b"hello")
    resp = conn.getresponse()
    info = json.loads(resp.read())
    conn.close()
    assert info["method"] == "PATCH"
    assert info["path"] == "/inspect?x=1"
    assert info["http_version"] == "HTTP/1.1"
    names = [h for h in info["headers"] if h[0].lower() in ("x-a", "x-b")]
    assert names == [["X-B", "2"], ["x-a", "1"], ["X-B", "3"]]
    assert info["body_length"] == 5
    assert info["body_sha256"] == hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize("query", ["n=0", "n=1000", "n=3000000", "n=100000&chunked=1&chunk=777",
                                   "n=5&chunked=1"])
def test_bytes_are_deterministic_and_framed_as_asked(upstream, query):
    n = int(query.split("&")[0][2:])
    conn = connect(upstream.port)
    conn.request("GET", "/bytes?" + query)
    resp = conn.getresponse()
    assert resp.read() == expected_bytes(n)
    chunked = "chunked=1" in query
    assert (resp.getheader("Transfer-Encoding") == "chunked") == chunked
    assert (resp.getheader("Content-Length") == (None if chunked else str(n)))
    conn.request("HEAD", "/bytes?" + query)
    resp = conn.getresponse()
    assert resp.read() == b""
    assert resp.getheader("Content-Length") == (None if chunked else str(n))
    conn.close()


def test_expected_bytes_formula():
    data = expected_bytes(600)
    assert all(data[i] == (i * 31 + 7) % 256 for i in range(600))


def test_sse_events_arrive_one_by_one_spaced_in_time(upstream):
    conn = connect(upstream.port)
    conn.request("GET", "/sse?events=5&interval_ms=150")
    resp = conn.getresponse()
    assert resp.getheader("Content-Type") == "text/event-stream"
    assert resp.getheader("Transfer-Encoding") == "chunked"
    events = [(t, json.loads(d)) for t, d in read_sse_events(resp)]
    conn.close()
    assert [e["k"] for _, e in events] == [0, 1, 2, 3, 4]
    # Event k is produced 150 ms after event k-1 and reaches the client then, not at the end:
    # never earlier than its schedule, and the first long before the last.
    arrivals = [t - events[0][0] for t, _ in events]
    assert all(a >= k * 0.15 - 0.03 for k, a in enumerate(arrivals)), arrivals
    assert 0.57 <= arrivals[-1] < 3, arrivals
    stamps = [e["t"] - events[0][1]["t"] for _, e in events]
    assert all(k * 0.15 - 0.005 <= st < k * 0.15 + 1.5 for k, st in enumerate(stamps)), stamps


def test_status_delay_close_and_head(upstream):
    assert http_json(upstream.port, "GET", "/status?code=503") == (503, {"status": 503})
    status, headers, body = http_request(upstream.port, "DELETE", "/status?code=204")
    assert (status, body) == (204, b"")
    status, headers, body = http_request(upstream.port, "HEAD", "/status?code=404")
    assert status == 404 and body == b""
    assert dict(headers)["Content-Length"] == str(len(json.dumps({"status": 404})))
    t0 = time.monotonic()
    assert http_json(upstream.port, "POST", "/delay?ms=250", {"x": 1}) == (200, {"slept_ms": 250})
    assert time.monotonic() - t0 >= 0.25
    assert http_json(upstream.port, "GET", "/nope")[0] == 404
    # /close answers with Connection: close, then the server closes the socket.
    with socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as s:
        s.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    assert data.startswith(b"HTTP/1.1 200")
    assert b"\r\nConnection: close\r\n" in data


def test_stats_count_requests_connections_and_inflight():
    with Upstream() as up:
        conn = connect(up.port)
        for _ in range(20):
            conn.request("GET", "/status?code=200")
            conn.getresponse().read()
        conn.close()
        # A request is counted out just after its answer is written: the client may read the
        # answer first.
        procs.wait_for(lambda: up.stats()["inflight"] == 0, 5, what="the last request counted out")
        stats = up.stats()
        assert stats["requests"] == 20
        assert stats["connections_opened"] == 1  # keep-alive; /stats polls are not counted
        up.reset_stats()
        threads = [threading.Thread(target=http_request, args=(up.port, "GET", "/delay?ms=400"))
                   for _ in range(4)]
        for t in threads:
            t.start()
        procs.wait_for(lambda: up.stats()["inflight"] == 4, 5, what="4 in flight")
        for t in threads:
            t.join()
        procs.wait_for(lambda: up.stats()["inflight"] == 0, 5, what="all 4 counted out")
        stats = up.stats()
        assert stats["peak_inflight"] == 4
        assert stats["requests"] == 4 and stats["connections_opened"] == 4


def test_ready_flag_toggles_and_probes_are_counted_apart(upstream):
    upstream.reset_stats()
    assert http_request(upstream.port, "GET", "/ready")[0] == 200
    upstream.set_ready(False)
    assert http_request(upstream.port, "GET", "/ready")[0] == 503
    upstream.set_ready(True)
    assert http_request(upstream.port, "GET", "/ready")[0] == 200
    stats = upstream.stats()
    assert stats["ready_probes"] == 3 and stats["requests"] == 0


def test_not_ready_flag():
    with Upstream("--not-ready") as up:
        assert http_request(up.port, "GET", "/ready")[0] == 503


def test_close_after_n_requests():
    with Upstream("--close-after", "2") as up:
        conn = connect(up.port)
        conn.request("GET", "/status?code=200")
        r1 = conn.getresponse()
        r1.read()
        conn.request("GET", "/status?code=200")
        r2 = conn.getresponse()
        r2.read()
        assert r1.getheader("Connection") is None
        assert r2.getheader("Connection") == "close"
        conn.close()
        assert up.stats()["connections_opened"] == 1


def test_idle_timeout_closes_idle_connection():
    with Upstream("--idle-timeout", "0.3") as up:
        with socket.create_connection(("127.0.0.1", up.port), timeout=5) as s:
            s.sendall(b"GET /status?code=200 HTTP/1.1\r\nHost: x\r\n\r\n")
            t0 = time.monotonic()
            data = b""
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                data += piece
            idle = time.monotonic() - t0
        assert data.startswith(b"HTTP/1.1 200")
        assert 0.25 < idle < 3, idle


def test_slow_read_takes_about_length_over_rate(upstream):
    body = os.urandom(30000)
    t0 = time.monotonic()
    status, _, data = http_request(upstream.port, "POST", "/slow-read?bytes_per_sec=30000", body)
    elapsed = time.monotonic() - t0
    assert status == 200
    assert json.loads(data)["length"] == 30000
    assert 0.9 < elapsed < 3, elapsed


def test_malformed_chunked_body_gets_400(upstream):
    with socket.create_connection(("127.0.0.1", upstream.port), timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"zz\r\nabc\r\n0\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 400")


def test_sigterm_exits_cleanly_with_connection_open():
    up = Upstream()
    conn = connect(up.port)
    conn.request("GET", "/status?code=200")
    conn.getresponse().read()
    assert up.stop(signal.SIGTERM, timeout=5) == 0
    conn.close()


# --- procs.py -----------------------------------------------------------------------------

def test_start_process_fails_fast_when_the_process_exits():
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="exited"):
        start_process([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                      ready_line_regex=r"listening on .*:(\d+)", timeout=20)
    assert time.monotonic() - t0 < 5


def test_start_process_times_out_and_kills():
    with pytest.raises(TimeoutError):
        start_process([sys.executable, "-c", "import time; time.sleep(60)"],
                      ready_line_regex="never", timeout=0.5)


def test_start_process_parses_port_and_ready_url():
    p = start_process([sys.executable, procs.UPSTREAM_SCRIPT, "--port", "0"],
                      ready_line_regex=procs.LISTENING_RE)
    try:
        p.wait_url("http://127.0.0.1:%d/ready" % p.port, timeout=5)
        assert http_request(p.port, "GET", "/ready")[0] == 200
    finally:
        assert p.stop() == 0


def test_free_port_is_bindable():
    port = procs.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


FAKE_SIDECAR = textwrap.dedent('''
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    args = sys.argv[1:]
    assert args[0] == "serve"
    admin = int(args[args.index("--admin") + 1].rsplit(":", 1)[1])
    metrics = ("# HELP mlsidecar_requests_total Requests.\\n"
               "# TYPE mlsidecar_requests_total counter\\n"
               'mlsidecar_requests_total{model="m",route="predict",code="2xx"} 3\\n')
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = {"/healthz": b"ok", "/metrics": metrics.encode(),
                    "/args": json.dumps(args).encode()}.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    HTTPServer(("127.0.0.1", admin), H).serve_forever()
''')


def test_sidecar_helper_builds_the_command_and_scrapes(tmp_path):
    fake = tmp_path / "fake-mlsidecar"
    fake.write_text("#!%s\n%s" % (sys.executable, FAKE_SIDECAR))
    fake.chmod(0o755)
    with Sidecar(binary=str(fake), upstream_port=4321, extra_args=["--threads", "1"]) as sc:
        status, _, body = http_request(sc.admin_port, "GET", "/args")
        args = json.loads(body)
        assert args == ["serve", "--listen", "127.0.0.1:%d" % sc.port,
                        "--admin", "127.0.0.1:%d" % sc.admin_port,
                        "--upstream", "127.0.0.1:4321", "--threads", "1"]
        metrics = sc.scrape()
        assert procs.metric_value(metrics, "mlsidecar_requests_total",
                                  model="m", route="predict", code="2xx") == 3
    assert not sc.alive()


def test_sidecar_helper_reports_a_missing_binary(tmp_path):
    with pytest.raises(FileNotFoundError, match="MLSIDECAR_BIN"):
        Sidecar(binary=str(tmp_path / "nope"), upstream_port=1)


GOOD_METRICS = '''# HELP req_total Requests "served".
# TYPE req_total counter
req_total{route="predict",code="2xx"} 10
req_total{route="infer",code="5xx"} 2
# TYPE temp gauge
temp{path="a\\\\b \\"q\\" \\nz"} -1.5e-3
temp{path="x"} NaN
# A free comment
# TYPE lat histogram
lat_bucket{route="predict",le="0.1"} 1
lat_bucket{route="predict",le="1"} 4
lat_bucket{route="predict",le="+Inf"} 5
lat_sum{route="predict"} 3.25
lat_count{route="predict"} 5
untyped_thing 7 1700000000000
'''


def test_metrics_parser_reads_the_text_format():
    m = parse_metrics(GOOD_METRICS)
    assert procs.metric_value(m, "req_total", route="predict", code="2xx") == 10
    assert procs.metric_sum(m, "req_total") == 12
    assert procs.metric_value(m, "temp", path='a\\b "q" \nz') == -0.0015
    assert math.isnan(procs.metric_value(m, "temp", path="x"))
    assert procs.histogram_buckets(m, "lat", route="predict") == [(0.1, 1), (1.0, 4),
                                                                   (math.inf, 5)]
    assert procs.metric_value(m, "lat_count", route="predict") == 5
    assert procs.metric_value(m, "untyped_thing") == 7
    assert len(m) == 10


@pytest.mark.parametrize("bad", [
    "x{a=\"1\"} one\n",                                           # bad value
    "x{a=1} 1\n",                                                 # unquoted label value
    "x{a=\"1\",a=\"2\"} 1\n",                                     # duplicate label
    "x{a=\"\\t\"} 1\n",                                           # bad escape
    "x 1\nx 2\n",                                                 # duplicate series
    "# TYPE x counter\n# TYPE x counter\nx 1\n",                  # second TYPE
    "x 1\n# TYPE x counter\n",                                    # TYPE after samples
    "# TYPE x counter\nx -1\n",                                   # negative counter
    "# TYPE x wibble\n",                                          # unknown type
    "x 1\ny 1\nx{a=\"b\"} 1\n",                                   # family not grouped
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
    "h_sum 1\nh_count 1\n",                                       # not cumulative
    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",  # +Inf != count
    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n",     # no +Inf bucket
    "# TYPE h histogram\nh 1\n",                                  # histogram without suffix
    "9x 1\n",                                                     # bad name
])
def test_metrics_parser_is_strict(bad):
    with pytest.raises(MetricsFormatError):
        parse_metrics(bad)


# --- examples/model_server/server.py --------------------------------------------------------

WEIGHTS = (0.8, -0.5, 0.3, 0.05, 1.2, -0.7, 0.25, 0.1)  # as documented in the README


def reference_score(row):
    z = -0.2 + sum(WEIGHTS[i % 8] * x for i, x in enumerate(row))
    return 1 / (1 + math.exp(-z))


@pytest.fixture(scope="module")
def model():
    with ModelServer("--model-name", "iris", "--model-version", "3",
                     "--prefill-base-ms", "200", "--prefill-ms-per-token", "10",
                     "--token-ms", "40", "--answer-tokens", "100") as m:
        yield m


def test_model_health_endpoints(model):
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/iris/ready",
                 "/v2/models/iris/versions/3/ready", "/v1/models/iris", "/healthz"):
        assert http_request(model.port, "GET", path)[0] == 200, path
    assert http_request(model.port, "GET", "/v2/models/other/ready")[0] == 404
    assert http_json(model.port, "GET", "/v1/models/iris")[1] == {"name": "iris", "ready": True}


def test_model_starts_not_ready_then_becomes_ready():
    with ModelServer("--not-ready-for", "0.6") as m:
        t0 = time.monotonic()
        assert http_request(m.port, "GET", "/v2/health/ready")[0] == 503
        assert http_request(m.port, "GET", "/v2/health/live")[0] == 200
        status, obj = http_json(m.port, "POST", "/v1/models/demo:predict", {"instances": [[1]]})
        assert status == 503 and "error" in obj
        procs.wait_for(lambda: http_request(m.port, "GET", "/v1/models/demo")[0] == 200, 5,
                       what="ready")
        assert time.monotonic() - t0 >= 0.4
        m.set_ready(False)
        assert http_request(m.port, "GET", "/v2/models/demo/ready")[0] == 503


def test_v1_predict_rows_as_lists_and_objects(model):
    rows = [[0.5, -1.0, 2.0, 0, 0, 0, 0, 1.5], [3.0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]
    status, obj = http_json(model.port, "POST", "/v1/models/iris:predict", {"instances": rows})
    assert status == 200
    assert obj["predictions"] == pytest.approx([reference_score(r) for r in rows], rel=1e-12)
    objects = [{"f%d" % i: v for i, v in enumerate(rows[0])}]
    status, obj2 = http_json(model.port, "POST", "/v1/models/iris:predict", {"instances": objects})
    assert obj2["predictions"] == pytest.approx([reference_score(rows[0])], rel=1e-12)


@pytest.mark.parametrize("body", [{"instances": [["a"]]}, {"rows": []}, [1, 2],
                                  {"instances": [None]}])
def test_v1_malformed_gets_400_json(model, body):
    status, obj = http_json(model.port, "POST", "/v1/models/iris:predict", body)
    assert status == 400 and isinstance(obj["error"], str)


def test_v2_infer_flat_nested_and_echoes(model):
    rows = [[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]]
    nested = {"id": "req-7", "inputs": [
        {"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [[1.0, 2.0], [-1.0, 0.0]]},
        {"name": "b", "shape": [2], "datatype": "FP64", "data": [0.5, 3.0]}]}
    status, out = http_json(model.port, "POST", "/v2/models/iris/versions/3/infer", nested)
    assert status == 200
    assert out["model_name"] == "iris" and out["model_version"] == "3" and out["id"] == "req-7"
    (tensor,) = out["outputs"]
    assert tensor["shape"] == [2, 1] and tensor["datatype"] == "FP32"
    assert tensor["data"] == pytest.approx([reference_score(r) for r in rows], rel=1e-6)
    flat = {"inputs": [{"name": "a", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, -1, 0]},
                       {"name": "b", "shape": [2, 1], "datatype": "FP32", "data": [0.5, 3.0]}]}
    status, out2 = http_json(model.port, "POST", "/v2/models/iris/infer", flat)
    assert status == 200 and "id" not in out2
    assert out2["outputs"][0]["data"] == tensor["data"]
    status, out3 = http_json(model.port, "POST", "/v2/models/iris/infer", {"inputs": [
        {"name": "c", "shape": [3], "datatype": "BYTES", "data": ["x", "y", "x"]}]})
    assert status == 200 and out3["outputs"][0]["shape"] == [3, 1]
    assert out3["outputs"][0]["data"][0] == out3["outputs"][0]["data"][2]


@pytest.mark.parametrize("body", [
    {"inputs": [{"name": "a", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]},
    {"inputs": [{"name": "a", "shape": [2], "datatype": "FP99", "data": [1, 2]}]},
    {"inputs": [{"name": "a", "shape": [2], "datatype": "INT8", "data": [1, 200]}]},
    {"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2]},
                {"name": "b", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]},
    {"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]},
    {"inputs": []},
    {"instances": [[1]]},
])
def test_v2_malformed_gets_400_json(model, body):
    status, obj = http_json(model.port, "POST", "/v2/models/iris/infer", body)
    assert status == 400 and isinstance(obj["error"], str)


def test_v2_unknown_model_or_version_is_404(model):
    body = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}
    assert http_json(model.port, "POST", "/v2/models/x/infer", body)[0] == 404
    assert http_json(model.port, "POST", "/v2/models/iris/versions/9/infer", body)[0] == 404
    status, _, body = http_request(model.port, "POST", "/v2/models/iris/infer", b"{not json")
    assert status == 400


def stream(port, path, body):
    conn = connect(port, timeout=30)
    t0 = time.monotonic()
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    return conn, resp, t0


def test_openai_chat_stream_follows_the_spec_and_the_schedule(model):
    prompt = "tell me about sidecars please"  # 5 words -> prefill 200 + 5*10 = 250 ms
    conn, resp, t0 = stream(model.port, "/v1/chat/completions", {
        "model": "my-llm", "messages": [{"role": "user", "content": prompt}], "max_tokens": 6,
        "stream": True, "stream_options": {"include_usage": True}})
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    events = list(read_sse_events(resp))
    conn.close()
    assert events[-1][1] == "[DONE]"
    chunks = [(t, json.loads(d)) for t, d in events[:-1]]
    for _, c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == "my-llm"
        assert c["id"] == chunks[0][1]["id"] and c["id"].startswith("chatcmpl-")
    first = chunks[0][1]["choices"][0]
    assert first["delta"] == {"role": "assistant", "content": ""}
    assert first["finish_reason"] is None
    content = chunks[1:7]
    assert all(set(c["choices"][0]["delta"]) == {"content"} for _, c in content)
    assert all(c["usage"] is None for _, c in chunks[:-1])
    final = chunks[7][1]
    assert final["choices"][0]["finish_reason"] == "length" and final["choices"][0]["delta"] == {}
    usage_chunk = chunks[8][1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 5, "completion_tokens": 6,
                                    "total_tokens": 11}
    assert len(chunks) == 9
    # Timing: the role at once; token k never before 250 ms + k * 40 ms, and not much after.
    assert chunks[0][0] - t0 < 0.2
    due = [0.25 + k * 0.04 for k in range(6)]
    at = [t - t0 for t, _ in content]
    assert all(d - 0.005 <= a < d + 0.5 for d, a in zip(due, at)), (due, at)
    assert at[0] < due[-1] - 0.05  # streamed: the first token came before the last was due
    # Deterministic: the same request without streaming gives the same text and usage.
    status, full = http_json(model.port, "POST", "/v1/chat/completions", {
        "model": "my-llm", "messages": [{"role": "user", "content": prompt}], "max_tokens": 6})
    assert status == 200 and full["object"] == "chat.completion"
    streamed = "".join(c["choices"][0]["delta"]["content"] for _, c in content)
    assert full["choices"][0]["message"] == {"role": "assistant", "content": streamed}
    assert full["choices"][0]["finish_reason"] == "length"
    assert full["usage"] == usage_chunk["usage"]
    assert len(streamed.split()) == 6


def test_openai_completions_stream_without_usage_and_stop_reason():
    with ModelServer("--prefill-base-ms", "0", "--prefill-ms-per-token", "0", "--token-ms", "1",
                     "--answer-tokens", "4") as m:
        conn, resp, _ = stream(m.port, "/v1/completions",
                               {"prompt": "a b c", "max_tokens": 10, "stream": True})
        events = list(read_sse_events(resp))
        conn.close()
        assert events[-1][1] == "[DONE]"
        chunks = [json.loads(d) for _, d in events[:-1]]
        assert all(c["object"] == "text_completion" and "usage" not in c for c in chunks)
        assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["stop"]
        assert chunks[-1]["choices"][0]["text"] == ""
        status, full = http_json(m.port, "POST", "/v1/completions",
                                 {"prompt": "a b c", "max_tokens": 2})
        assert full["choices"][0]["finish_reason"] == "length"
        assert full["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        status, full = http_json(m.port, "POST", "/v1/completions", {"prompt": "a b c"})
        assert full["usage"]["completion_tokens"] == 4  # max_tokens 16 > answer of 4
        assert full["choices"][0]["text"] == "".join(c["choices"][0]["text"] for c in chunks)


def test_default_max_tokens_is_16():
    with ModelServer("--prefill-base-ms", "0", "--prefill-ms-per-token", "0", "--token-ms", "0",
                     "--answer-tokens", "50") as m:
        status, full = http_json(m.port, "POST", "/v1/completions", {"prompt": "x"})
        assert status == 200 and full["usage"]["completion_tokens"] == 16


def test_ollama_ndjson_stream(model):
    conn, resp, t0 = stream(model.port, "/api/chat", {
        "model": "llama", "messages": [{"role": "user", "content": "hello there"}],
        "options": {"num_predict": 3}})
    assert resp.getheader("Content-Type") == "application/x-ndjson"
    lines = [json.loads(line) for line in resp.read().decode().splitlines()]
    conn.close()
    assert [d["done"] for d in lines] == [False, False, False, True]
    assert all(d["model"] == "llama" and d["message"]["role"] == "assistant" for d in lines)
    final = lines[-1]
    assert final["eval_count"] == 3 and final["prompt_eval_count"] == 2
    assert final["done_reason"] == "length" and final["message"]["content"] == ""
    status, single = http_json(model.port, "POST", "/api/generate",
                               {"prompt": "hello there", "stream": False,
                                "options": {"num_predict": 3}})
    assert status == 200 and single["done"] is True and single["eval_count"] == 3
    assert single["response"] == "".join(d["message"]["content"] for d in lines)


def test_client_that_leaves_mid_stream_is_counted(model):
    before = model.stats()["streams_aborted"]
    conn, resp, _ = stream(model.port, "/v1/completions",
                           {"prompt": "go", "max_tokens": 50, "stream": True})
    events = read_sse_events(resp)
    next(events)  # one token, then leave
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    procs.wait_for(lambda: model.stats()["streams_aborted"] == before + 1, 10,
                   what="aborted stream counted")
    procs.wait_for(lambda: model.stats()["inflight"] == 1, 5, what="only /debug/stats in flight")


def test_model_server_sigterm_exits_zero():
    m = ModelServer()
    assert http_request(m.port, "GET", "/healthz")[0] == 200
    assert m.stop(signal.SIGTERM, timeout=5) == 0


# --- examples/traffic.py ---------------------------------------------------------------------

TRAFFIC = os.path.join(procs.REPO_ROOT, "examples", "traffic.py")


def run_traffic(*args):
    import subprocess
    out = subprocess.run([sys.executable, TRAFFIC] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr


def test_traffic_sends_every_kind_and_sums_up():
    with ModelServer("--prefill-base-ms", "1", "--prefill-ms-per-token", "0",
                     "--token-ms", "1") as m:
        rc, out, err = run_traffic("--target", m.url, "--requests", 60, "--concurrency", 3,
                                   "--mix", "v1,v2,completions,chat,ollama", "--json",
                                   "--max-tokens", 4)
        assert rc == 0, err
        summary = json.loads(out)
        assert summary["requests"] == 60 and summary["ok"] == 60 and summary["errors"] == {}
        assert summary["p50_ms"] <= summary["p99_ms"]
        assert summary["ttft_p50_ms"] > 0
        stats = m.stats()
        assert stats["requests"] == 60 + 1  # + this /debug/stats
        assert stats["connections_opened"] == 3 + 1  # keep-alive: one per worker
        assert 0 < stats["streams_started"] < 60
        rc, out, _ = run_traffic("--target", m.url, "--requests", 5, "--mix", "v2",
                                 "--model", "nope")
        assert rc == 1 and "errors: 404=5" in out and out.startswith("traffic: 5 requests")


def test_traffic_shift_moves_only_the_chosen_features(tmp_path):
    import csv
    means = {}
    for name, shift in (("ref", []), ("shifted", ["--shift", "f2,f5=+3"])):
        path = tmp_path / (name + ".csv")
        rc, _, err = run_traffic("--emit-csv", path, "--rows", 4000, *shift)
        assert rc == 0, err
        with open(path) as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 4000
        means[name] = {k: sum(float(r[k]) for r in rows) / len(rows) for k in rows[0]}
    expected = [0.0, 1.0, -1.0, 5.0, 0.5, 10.0, -3.0, 2.0]
    for i, mu in enumerate(expected):
        f = "f%d" % i
        assert abs(means["ref"][f] - mu) < 0.15, (f, means["ref"][f])
        delta = means["shifted"][f] - means["ref"][f]
        assert abs(delta - (3.0 if f in ("f2", "f5") else 0.0)) < 1e-6, (f, delta)
