"""The sidecar and its model: streaming, keep-alive reuse, a model that is down, comes back,
closes pooled connections or is slow."""

import http.client
import json
import threading
import time

from common import start_sidecar
from procs import (Upstream, free_port, http_json, http_request, metric_sum,
                   metric_value, read_sse_events, wait_for)


def test_sse_events_arrive_while_the_model_is_still_streaming(upstream, sidecar):
    events, interval = 6, 0.3
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=10)
    try:
        t0 = time.monotonic()
        conn.request("GET", "/sse?events=%d&interval_ms=%d" % (events, interval * 1000))
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "text/event-stream"
        got = list(read_sse_events(resp))
    finally:
        conn.close()
    assert [json.loads(d)["k"] for _, d in got] == list(range(events))
    arrivals = [t - t0 for t, _ in got]
    stream_end = (events - 1) * interval
    # The first event is at the client long before the model has written the last one...
    assert arrivals[0] < stream_end - interval, arrivals
    # ...and the events are spread as the model spaced them (not delivered in one burst).
    assert arrivals[-1] - arrivals[0] >= 0.8 * stream_end, arrivals
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert sum(g > interval / 3 for g in gaps) >= events - 2, gaps


def test_keep_alive_reuse_500_requests_few_upstream_connections():
    with Upstream() as up, start_sidecar(up.port, threads=2) as sc:
        clients, per_client = 4, 125
        failures = []

        def run():
            conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
            try:
                for i in range(per_client):
                    body = b"%d" % i
                    conn.request("POST", "/echo", body)
                    resp = conn.getresponse()
                    if resp.status != 200 or resp.read() != body:
                        failures.append(resp.status)
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(repr(e))
            finally:
                conn.close()

        threads = [threading.Thread(target=run) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        m = sc.scrape_settled()
        opened = metric_value(m, "mlsidecar_upstream_connections_total")
        assert metric_sum(m, "mlsidecar_requests_total", code="2xx") == clients * per_client
        # At most one model connection per concurrent client (plus nothing per request).
        assert 1 <= opened <= clients, opened
        assert up.stats()["connections_opened"] == opened
        assert metric_value(m, "mlsidecar_client_connections_total") == clients


def test_model_down_gives_502_json_then_recovers_without_restart():
    port = free_port()
    with start_sidecar(port, threads=1) as sc:
        status, body = http_json(sc.port, "GET", "/anything")
        assert status == 502
        assert body["code"] == "upstream_unavailable" and body["error"]
        assert metric_value(sc.scrape_settled(), "mlsidecar_upstream_errors_total", kind="connect_failed") == 1
        with Upstream("--port", str(port)):
            status, _, data = http_request(sc.port, "POST", "/echo", b"back")
            assert (status, data) == (200, b"back")
        # The model goes away again, and comes back again: the same sidecar process throughout.
        status, body = http_json(sc.port, "GET", "/anything")
        assert status == 502 and body["code"] in ("upstream_unavailable", "upstream_reset")
        with Upstream("--port", str(port)):
            assert http_request(sc.port, "POST", "/echo", b"again")[2] == b"again"
        assert sc.alive()


def test_model_that_closes_every_connection():
    """--close-after 1: the model answers with Connection: close; nothing is reused, nothing lost."""
    with Upstream("--close-after", "1") as up, \
            start_sidecar(up.port, threads=1) as sc:
        conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
        for i in range(20):
            method = "GET" if i % 2 else "POST"
            conn.request(method, "/echo", b"" if method == "GET" else b"p%d" % i)
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            resp.read()
        conn.close()
        assert up.stats()["requests"] == 20  # each seen exactly once
        m = sc.scrape_settled()
        assert metric_value(m, "mlsidecar_upstream_errors_total", kind="retried") == 0
        assert metric_value(m, "mlsidecar_upstream_connections_total") == 20


def _wait_model_closed_idle(up):
    wait_for(lambda: up.stats()["open_connections"] <= 1, 5, interval=0.005,
             what="the model to close its idle connection")


def test_pooled_connection_closed_by_model_get_retried_post_not_replayed():
    # (open_connections counts the /stats request itself.)
    # The model closes idle connections after 0.1 s without saying so. The sidecar only looks at
    # a pooled connection idle for more than 0.5 s before reusing it, so a request sent right
    # after the close finds a dead pooled connection.
    with Upstream("--idle-timeout", "0.1") as up, \
            start_sidecar(up.port, threads=1) as sc:
        retried = 0
        for _ in range(3):
            assert http_request(sc.port, "GET", "/echo")[0] == 200
            _wait_model_closed_idle(up)
            before = up.stats()["requests"]
            status, _, data = http_request(sc.port, "GET", "/bytes?n=10")
            assert status == 200  # replayed on a fresh connection, transparently
            assert up.stats()["requests"] == before + 1
        retried = metric_value(sc.scrape_settled(), "mlsidecar_upstream_errors_total", kind="retried")
        assert retried >= 1  # at least one request really hit a dead pooled connection

        # A POST is never replayed: the model sees it at most once, the client may get a 502.
        outcomes = []
        for i in range(3):
            assert http_request(sc.port, "GET", "/echo")[0] == 200
            _wait_model_closed_idle(up)
            before = up.stats()["requests"]
            status, _, data = http_request(sc.port, "POST", "/echo", b"once-%d" % i)
            seen = up.stats()["requests"] - before
            assert seen <= 1
            if status == 200:
                assert seen == 1 and data == b"once-%d" % i
            else:
                assert status == 502 and json.loads(data)["code"] == "upstream_reset"
                assert seen == 0
            outcomes.append(status)
        m = sc.scrape_settled()
        assert metric_value(m, "mlsidecar_upstream_errors_total", kind="retried") == retried


def test_slow_model_gives_504_at_upstream_timeout():
    with Upstream() as up, start_sidecar(up.port, "--upstream-timeout", "1s", threads=1) as sc:
        t0 = time.monotonic()
        status, headers, data = http_request(sc.port, "GET", "/delay?ms=6000", timeout=10)
        elapsed = time.monotonic() - t0
        assert status == 504
        body = json.loads(data)
        assert body["code"] == "upstream_timeout"
        assert 0.95 <= elapsed < 3.0, elapsed
        # A model that answers within the timeout is unaffected.
        status, _, data = http_request(sc.port, "GET", "/delay?ms=300")
        assert status == 200 and json.loads(data) == {"slept_ms": 300}
        assert metric_value(sc.scrape_settled(), "mlsidecar_upstream_errors_total", kind="timeout") == 1
