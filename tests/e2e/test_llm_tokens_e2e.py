"""End to end: autoscaling on output tokens (--target-output-tokens-per-second).

The example model streams 20-token answers (first token after 100 ms, then one every 25 ms).
Closed-loop streaming clients generate a token rate that the test measures itself from what it
receives; the sidecar, with --target-output-tokens-per-second 50 and no concurrency target, must
publish `mlsidecar_autoscale_load_ratio` = token rate / 50 over its stable window (from its start
while shorter than 60 s), within a generous margin, and follow the rate when it rises.
"""
import http.client
import json
import threading
import time

import pytest

import e2e_common  # noqa: F401  (puts tests/support on sys.path)
from procs import ModelServer, Sidecar, metric_value, read_sse_events

MODEL = "demo"
TARGET = 50.0
TOKENS = 20


class Streams:
    """Closed-loop streaming chat clients; every finished stream's (end time, tokens)."""

    def __init__(self):
        self.done, self.lock = [], threading.Lock()

    def run(self, port, clients, seconds):
        stop = time.monotonic() + seconds
        body = json.dumps({"model": MODEL, "stream": True, "max_tokens": 100,
                           "messages": [{"role": "user", "content": "a steady stream"}]})

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            while time.monotonic() < stop:
                conn.request("POST", "/v1/chat/completions", body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                assert resp.status == 200
                tokens = 0
                for _, data in read_sse_events(resp):
                    if data != "[DONE]":
                        choice = (json.loads(data)["choices"] or [{}])[0]
                        tokens += bool((choice.get("delta") or {}).get("content"))
                assert tokens == TOKENS
                with self.lock:
                    self.done.append((time.monotonic(), tokens))
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 30)

    def rate(self, start, end):
        with self.lock:
            return sum(n for t, n in self.done if start <= t <= end) / (end - start)


def expected_ratio(streams, born, now):
    """Lowest and highest token rate / TARGET over the uncertainty of the sidecar's start and of
    its last fold of the windows (about once a second)."""
    values = [streams.rate(b, t) / TARGET for b in born for t in (now - 1.2, now)]
    return min(values), max(values)


def ratios(sc):
    m = sc.scrape()
    return (metric_value(m, "mlsidecar_autoscale_load_ratio", window="stable"),
            metric_value(m, "mlsidecar_autoscale_load_ratio", window="panic"))


@pytest.fixture(scope="module")
def stack():
    with ModelServer("--model-name", MODEL, "--prefill-base-ms", "100",
                     "--prefill-ms-per-token", "0", "--token-ms", "25",
                     "--answer-tokens", str(TOKENS)) as model:
        t0 = time.monotonic()
        with Sidecar(upstream_port=model.port, extra_args=[
                "--threads", "2", "--target-output-tokens-per-second", str(TARGET)]) as sc:
            yield {"sc": sc, "born": (t0, time.monotonic()), "streams": Streams()}


def test_load_ratio_follows_the_output_token_rate(stack):
    sc, streams, born = stack["sc"], stack["streams"], stack["born"]
    stable, panic = ratios(sc)
    assert stable == 0 and panic == 0

    streams.run(sc.port, clients=3, seconds=6)
    lo, hi = expected_ratio(streams, born, time.monotonic())
    assert lo > 1.0  # three streams of about 35 tokens/s each, over about 6.5 s
    stable, panic = ratios(sc)
    assert lo * 0.8 <= stable <= hi * 1.2, (stable, lo, hi)
    assert panic == stable  # a steady rate: no panic

    # More streams, more tokens per second: the ratio rises with the rate.
    streams.run(sc.port, clients=6, seconds=4)
    lo2, hi2 = expected_ratio(streams, born, time.monotonic())
    assert lo2 > hi  # the model served more tokens per second (how much more depends on the machine)
    stable2, _ = ratios(sc)
    assert lo2 * 0.8 <= stable2 <= hi2 * 1.2, (stable2, lo2, hi2)
    assert stable2 > stable
