"""Shadow traffic (--shadow-upstream): a copy of sampled model calls goes to a second model, whose
answers are compared with the primary's; the client only ever gets the primary's.

Two stand-ins of tests/support/versioned_model.py answer as a pure function of the request, so
the shadow's disagreement is known exactly: with --disagree-every 4, ids 0..4n-1 disagree on
exactly a quarter. The shadow is also made slow, failing, refusing, hanging and endless, and the
client's answers, the sidecar's latency, file descriptors and memory are checked each time.
"""

import http.client
import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))

from common import start_sidecar  # noqa: E402
from procs import VersionedModel, free_port, metric_sum, wait_for  # noqa: E402

INFER = "/v2/models/iris/infer"


def infer_body(k):
    return json.dumps({"inputs": [{"name": "id", "datatype": "INT64", "shape": [1],
                                   "data": [k]}]}).encode()


class Client:
    """One keep-alive connection; returns (status, body bytes, seconds) per request."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path, body, request_id=None):
        headers = {"Content-Type": "application/json"}
        if request_id:
            headers["x-request-id"] = request_id
        start = time.monotonic()
        self.conn.request("POST", path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, data, time.monotonic() - start

    def close(self):
        self.conn.close()


def shadow_sidecar(primary, shadow_port, *flags):
    return start_sidecar(primary.port, "--shadow-upstream", "127.0.0.1:%d" % shadow_port,
                         "--shadow-fraction", "1", "--shadow-max-rps", "0",
                         "--shadow-version", "v2", *flags, threads=2)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def sent(metrics):
    return metric_sum(metrics, "mlsidecar_shadow_requests_total", version="v2")


def dropped(metrics, reason):
    return metric_sum(metrics, "mlsidecar_shadow_dropped_total", version="v2", reason=reason)


@pytest.fixture(scope="module")
def primary():
    with VersionedModel() as p:
        yield p


def expected_answer(primary, k):
    conn = http.client.HTTPConnection("127.0.0.1", primary.port, timeout=10)
    try:
        conn.request("POST", INFER, body=infer_body(k),
                     headers={"Content-Type": "application/json"})
        return conn.getresponse().read()
    finally:
        conn.close()


def test_agreement_matches_the_known_fraction_and_the_client_gets_the_primary(primary):
    n = 200  # ids 0..199: 50 disagree
    with VersionedModel("--disagree-every", "4", "--delay-ms", "5") as shadow, \
         shadow_sidecar(primary, shadow.port, "--shadow-class-outputs", "label",
                        "--shadow-argmax-outputs", "probs") as sc:
        client = Client(sc.port)
        for k in range(n):
            status, body, _ = client.post(INFER, infer_body(k), request_id="req-%d" % k)
            assert status == 200
            assert body == expected_answer(primary, k), k  # byte for byte, never the shadow's
            # Paced so that no copy is dropped: the counts below are then exact.
            wait_for(lambda: sent(sc.scrape()) >= k - 32, timeout=10, what="copies sent")
        client.close()
        m = wait_for(lambda: (lambda m: m if sent(m) == n else None)(sc.scrape()), timeout=20,
                     what="every copy answered")
        assert metric_sum(m, "mlsidecar_shadow_requests_total", version="v2", route="infer",
                          code="2xx") == n
        for reason in ("queue_full", "rate_limited", "too_large", "shutdown"):
            assert dropped(m, reason) == 0, reason
        compared = metric_sum(m, "mlsidecar_shadow_compared_total", version="v2", route="infer")
        assert compared == n
        assert metric_sum(m, "mlsidecar_shadow_status_matches_total", version="v2") == n
        for output in ("label", "probs"):
            out_compared = metric_sum(m, "mlsidecar_shadow_output_compared_total", version="v2",
                                      output=output)
            out_matches = metric_sum(m, "mlsidecar_shadow_output_matches_total", version="v2",
                                     output=output)
            assert out_compared == n, output
            assert out_matches / out_compared == pytest.approx(0.75), output

        # The shadow saw every copy marked, with the client's request id and content type.
        stats = shadow.stats()
        assert stats["requests"] == n and stats["marked"] == n
        assert ["req-%d" % (n - 1), "1", "application/json"] in stats["last"]


def test_only_repeatable_model_calls_small_enough_are_copied(primary):
    with VersionedModel() as shadow, \
         shadow_sidecar(primary, shadow.port, "--shadow-max-body", "1000") as sc:
        client = Client(sc.port)
        # Not model calls: never copied (the primary answers 404, the client gets it).
        for path in ("/v2/models/iris", "/other"):
            assert client.post(path, b"{}")[0] == 404
        # A body over --shadow-max-body: answered by the primary, copy dropped as too large.
        big = json.dumps({"inputs": [{"name": "id", "datatype": "INT64", "shape": [1],
                                      "data": [1]}], "pad": "x" * 2000}).encode()
        status, body, _ = client.post(INFER, big)
        assert status == 200 and json.loads(body)["outputs"][0]["data"] == ["class-1"]
        client.close()
        m = wait_for(lambda: (lambda m: m if dropped(m, "too_large") == 1 else None)(sc.scrape()),
                     what="the large copy counted")
        assert sent(m) == 0
        assert shadow.stats()["requests"] == 0


def test_a_failing_shadow_is_counted_and_disagrees_on_status(primary):
    n = 40
    with VersionedModel("--status", "503") as shadow, shadow_sidecar(primary, shadow.port) as sc:
        client = Client(sc.port)
        for k in range(n):
            status, body, _ = client.post(INFER, infer_body(k))
            assert status == 200 and body == expected_answer(primary, k)
            wait_for(lambda: sent(sc.scrape()) >= k - 32, what="copies sent")
        client.close()
        m = wait_for(lambda: (lambda m: m if sent(m) == n else None)(sc.scrape()),
                     what="every copy answered")
        assert metric_sum(m, "mlsidecar_shadow_requests_total", version="v2", code="5xx") == n
        assert metric_sum(m, "mlsidecar_shadow_compared_total", version="v2") == n
        assert metric_sum(m, "mlsidecar_shadow_status_matches_total", version="v2") == 0


def test_a_refusing_shadow_costs_the_client_nothing(primary):
    n = 100
    nobody = free_port()  # nothing listens there
    with shadow_sidecar(primary, nobody) as sc:
        base_fds = open_fds(sc.proc.pid)
        client = Client(sc.port)
        for k in range(n):
            status, body, _ = client.post(INFER, infer_body(k))
            assert status == 200 and body == expected_answer(primary, k)
        client.close()
        m = wait_for(lambda: (lambda m: m if sent(m) + dropped(m, "queue_full") == n else None)(
            sc.scrape()), what="every copy accounted for")
        assert metric_sum(m, "mlsidecar_shadow_requests_total", version="v2", code="error") == sent(m)
        assert sent(m) > 0
        assert open_fds(sc.proc.pid) <= base_fds + 4


def test_a_hanging_shadow_neither_slows_the_client_nor_grows_the_sidecar(primary):
    # 8 copies hang until --shadow-timeout; 2 x 64 wait in the queues; the rest are dropped.
    n = 400
    with VersionedModel("--hang") as shadow, \
         shadow_sidecar(primary, shadow.port, "--shadow-timeout", "3s") as sc:
        pid = sc.proc.pid
        client = Client(sc.port)
        client.post(INFER, infer_body(0))
        base_fds, base_rss = open_fds(pid), rss_bytes(pid)
        worst = 0.0
        for k in range(1, n):
            status, body, seconds = client.post(INFER, infer_body(k))
            assert status == 200 and body == expected_answer(primary, k)
            worst = max(worst, seconds)
        # The client never waits for the shadow: far below the shadow's 3 s timeout.
        assert worst < 1.5, worst
        m = sc.scrape()
        assert dropped(m, "queue_full") >= n - 8 - 2 * 64 - 1
        # Bounded: the worker's 8 connections, little memory (the copies are small).
        assert open_fds(pid) <= base_fds + 8 + 4
        assert rss_bytes(pid) < base_rss + 64 * 1024 * 1024
        # After the timeout, the hung exchanges end as errors (no answer) and their sockets close.
        m = wait_for(lambda: (lambda m: m if metric_sum(
            m, "mlsidecar_shadow_requests_total", version="v2", code="error") >= 8 else None)(
            sc.scrape()), timeout=15, what="timed-out copies counted")
        assert open_fds(pid) <= base_fds + 8 + 4
        client.close()
        # SIGTERM with copies hung and queued: a prompt, clean exit; the queued ones count as
        # dropped at shutdown (the process is gone, so that is checked by the unit tests).
        start = time.monotonic()
        assert sc.stop() == 0
        assert time.monotonic() - start < 5


def test_an_endless_shadow_answer_is_cut_at_the_cap(primary):
    n = 10
    with VersionedModel("--endless") as shadow, \
         shadow_sidecar(primary, shadow.port, "--shadow-max-body", "20000") as sc:
        client = Client(sc.port)
        for k in range(n):
            status, body, _ = client.post(INFER, infer_body(k))
            assert status == 200 and body == expected_answer(primary, k)
        client.close()
        m = wait_for(lambda: (lambda m: m if sent(m) == n else None)(sc.scrape()), timeout=20,
                     what="every endless answer cut")
        # Answered 200, then cut at 20 kB: the shadow sees its stream closed by the sidecar.
        assert metric_sum(m, "mlsidecar_shadow_requests_total", version="v2", code="2xx") == n
        wait_for(lambda: shadow.stats()["streams_cut"] == n, what="the shadow to see the cuts")
