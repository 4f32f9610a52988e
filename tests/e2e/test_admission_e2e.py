"""End to end: admission control in `mlsidecar serve`.

A slow model (e2e_common.SlowModel) answers /delay?ms=M after M ms and reports the peak number of
requests it ever had in flight, exactly. The sidecar runs with --container-concurrency 2,
--queue-depth 2 and --queue-timeout 2s. Bursts bigger than C+Q check that the model never sees
more than C at once, that the excess gets a 503 JSON answer with Retry-After and the right code,
that the counters match the outcomes the clients saw exactly, that probes bypass a full queue and
that a client that hangs up while queued leaves the queue.
"""
import json
import socket
import threading
import time

import pytest

from e2e_common import SlowModel, wait_metric
from procs import Sidecar, http_request, metric_sum, metric_value, wait_for

C, Q = 2, 2
QUEUE_TIMEOUT = 2.0


def burst(port, path, n, timeout=20.0):
    """`n` requests sent at the same moment, each on its own connection (connected first, then
    released together). Returns [(status, headers dict, body, seconds)] in completion order."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(n)]
    gate = threading.Barrier(n)
    results, lock = [], threading.Lock()

    def one(sock):
        gate.wait()
        t0 = time.monotonic()
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: e2e\r\n\r\n" % path.encode())
        status, headers, body = read_response(sock)
        with lock:
            results.append((status, headers, body, time.monotonic() - t0))
        sock.close()

    threads = [threading.Thread(target=one, args=(s,)) for s in conns]
    for t in threads:
        t.start()
    return threads, results


def read_response(sock):
    """A minimal HTTP/1.1 response reader (Content-Length bodies), enough for these answers."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head: %r" % data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk
    return status, headers, body


def join(threads, timeout=30.0):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "a client is still waiting"


def shed_code(result):
    status, headers, body, _ = result
    assert status == 503
    assert headers.get("retry-after") == "1", headers
    assert headers.get("content-type", "").startswith("application/json"), headers
    obj = json.loads(body)
    assert isinstance(obj.get("error"), str) and obj["error"]
    return obj["code"]


@pytest.fixture(scope="module")
def stack():
    with SlowModel() as up, Sidecar(upstream_port=up.port, extra_args=[
            "--threads", "2", "--container-concurrency", str(C), "--queue-depth", str(Q),
            "--queue-timeout", "%gs" % QUEUE_TIMEOUT]) as sc:
        yield {"up": up, "sc": sc}


def test_a_burst_beyond_c_plus_q_is_shed_at_once(stack):
    up, sc = stack["up"], stack["sc"]
    up.reset_stats()
    before = sc.scrape()
    n = 9
    threads, results = burst(sc.port, "/delay?ms=1000", n)
    # While the burst is on: the queue is full, and probes still pass, at once.
    m = wait_metric(sc, "mlsidecar_queued_requests", lambda v: v == Q, timeout=5)
    for path in ("/ready", "/v2/health/ready", "/healthz"):
        t0 = time.monotonic()
        status, _, _ = http_request(sc.port, "GET", path, timeout=5)
        # the model answers /ready (200) and has no other probe route (404): relayed either way.
        assert status == (200 if path == "/ready" else 404), path
        assert time.monotonic() - t0 < 0.5, "%s waited behind the full queue" % path
    assert metric_value(sc.scrape(), "mlsidecar_queued_requests") == Q
    join(threads)

    ok = [r for r in results if r[0] == 200]
    shed = [r for r in results if r[0] != 200]
    assert len(ok) == C + Q, [r[0] for r in results]
    assert [shed_code(r) for r in shed] == ["queue_full"] * (n - C - Q)
    assert all(r[3] < 0.5 for r in shed), "queue_full must be answered at once"
    # Q requests waited for one service time (1 s) before they got a slot.
    waits = sorted(r[3] for r in ok)
    assert waits[C - 1] < 1.8 and waits[-1] >= 1.9, waits
    stats = up.stats()
    assert stats["peak_inflight"] == C
    assert stats["requests"] == C + Q

    m = sc.scrape_settled()  # the clients have their answers a moment before they are counted
    assert (metric_value(m, "mlsidecar_shed_requests_total", reason="queue_full")
            - metric_value(before, "mlsidecar_shed_requests_total", reason="queue_full")) == n - C - Q
    assert (metric_sum(m, "mlsidecar_requests_total", route="other", code="5xx")
            - metric_sum(before, "mlsidecar_requests_total", route="other", code="5xx")) == n - C - Q
    assert (metric_sum(m, "mlsidecar_requests_total", route="other", code="2xx")
            - metric_sum(before, "mlsidecar_requests_total", route="other", code="2xx")) == C + Q
    assert metric_value(m, "mlsidecar_queued_requests") == 0
    # The two that queued waited about one service time.
    assert (metric_sum(m, "mlsidecar_queue_wait_seconds_count")
            - metric_sum(before, "mlsidecar_queue_wait_seconds_count")) == Q
    waited = (metric_sum(m, "mlsidecar_queue_wait_seconds_sum")
              - metric_sum(before, "mlsidecar_queue_wait_seconds_sum"))
    assert 0.8 * Q <= waited <= 1.6 * Q


def test_queued_requests_time_out_and_quitters_leave_the_queue(stack):
    up, sc = stack["up"], stack["sc"]
    up.reset_stats()
    before = sc.scrape()
    long_threads, long_results = burst(sc.port, "/delay?ms=3500", C)
    wait_for(lambda: up.stats()["inflight"] == C, 5, what="C requests at the model")

    # A client that gives up while queued: the queue forgets it long before --queue-timeout.
    quitter = socket.create_connection(("127.0.0.1", sc.port), timeout=5)
    quitter.sendall(b"GET /delay?ms=10 HTTP/1.1\r\nHost: e2e\r\n\r\n")
    wait_metric(sc, "mlsidecar_queued_requests", lambda v: v == 1, timeout=5)
    t0 = time.monotonic()
    quitter.close()
    wait_metric(sc, "mlsidecar_queued_requests", lambda v: v == 0, timeout=QUEUE_TIMEOUT)
    assert time.monotonic() - t0 < QUEUE_TIMEOUT / 2

    # Two that wait the whole --queue-timeout.
    threads, results = burst(sc.port, "/delay?ms=10", Q)
    join(threads)
    assert [shed_code(r) for r in results] == ["queue_timeout"] * Q
    for r in results:
        assert QUEUE_TIMEOUT * 0.9 <= r[3] <= QUEUE_TIMEOUT + 1.5, r[3]
    join(long_threads)
    assert [r[0] for r in long_results] == [200] * C

    stats = up.stats()
    assert stats["peak_inflight"] == C
    assert stats["requests"] == C, "the quitter or a timed-out request reached the model"
    m = sc.scrape_settled()

    def delta(name, **labels):
        return metric_sum(m, name, **labels) - metric_sum(before, name, **labels)
    assert delta("mlsidecar_shed_requests_total", reason="queue_timeout") == Q
    assert delta("mlsidecar_shed_requests_total", reason="queue_full") == 0
    assert delta("mlsidecar_refused_requests_total", reason="client_aborted") == 1
    assert delta("mlsidecar_requests_total", route="other", code="5xx") == Q
    assert delta("mlsidecar_requests_total", route="other", code="2xx") == C
    assert metric_value(m, "mlsidecar_queued_requests") == 0


def test_the_model_never_sees_more_than_c_under_a_long_burst(stack):
    up, sc = stack["up"], stack["sc"]
    up.reset_stats()
    results, lock = [], threading.Lock()

    def client():
        for _ in range(6):
            status, headers, body = http_request(sc.port, "GET", "/delay?ms=50", timeout=10)
            with lock:
                results.append((status, dict((k.lower(), v) for k, v in headers), body, 0))

    threads = [threading.Thread(target=client) for _ in range(12)]
    for t in threads:
        t.start()
    join(threads)
    ok = sum(1 for r in results if r[0] == 200)
    codes = [shed_code(r) for r in results if r[0] != 200]
    assert ok + len(codes) == 72 and set(codes) <= {"queue_full"}
    stats = up.stats()
    assert stats["peak_inflight"] == C
    assert stats["requests"] == ok
