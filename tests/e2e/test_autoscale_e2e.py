"""End to end: the autoscaling signals of `mlsidecar serve` follow the load.

The sidecar (--target-concurrency 2, no admission limit) sits in front of a slow model. Closed-loop
clients keep a known number of requests in flight; the test records every request's start and end
and computes, independently, what Knative's time-weighted averaging gives over the stable window
(60 s, from the sidecar's start while shorter) and the panic window (6 s). The gauges
`mlsidecar_concurrency_average` and `mlsidecar_autoscale_load_ratio{window}` must match those
numbers within generous margins (the sidecar folds its windows about once a second), and the
panic series must follow the panic window only while it is at least twice the stable one.
"""
import threading
import time

import pytest

from e2e_common import SlowModel
from procs import Sidecar, http_request, metric_value, wait_for

TARGET = 2.0
PANIC_WINDOW = 6.0


class Load:
    """Closed-loop clients; every request's [start, end] in monotonic seconds."""

    def __init__(self):
        self.intervals, self.lock = [], threading.Lock()

    def run(self, port, clients, seconds, ms=200):
        stop = time.monotonic() + seconds

        def client():
            while time.monotonic() < stop:
                t0 = time.monotonic()
                status, _, _ = http_request(port, "GET", "/delay?ms=%d" % ms)
                t1 = time.monotonic()
                assert status == 200
                with self.lock:
                    self.intervals.append((t0, t1))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 10)

    def average(self, start, end):
        """Time-weighted concurrency over [start, end]."""
        with self.lock:
            busy = sum(max(0.0, min(b, end) - max(a, start)) for a, b in self.intervals)
        return busy / (end - start)


def expected_range(load, born, now):
    """(stable, panic) lowest and highest over the uncertainty of the sidecar's start (between
    `born` = (before launch, when healthy)) and of its last fold (now - 1.2 s .. now)."""
    stables, panics = [], []
    for t in (now - 1.2, now):
        for b in born:
            stables.append(load.average(max(b, t - 60.0), t))
        panics.append(load.average(max(born[0], t - PANIC_WINDOW), t))
    return (min(stables), max(stables)), (min(panics), max(panics))


def within(value, bounds, margin=0.2):
    lo, hi = bounds
    return lo * (1 - margin) <= value <= hi * (1 + margin)


@pytest.fixture(scope="module")
def stack():
    with SlowModel() as model:
        t0 = time.monotonic()
        with Sidecar(upstream_port=model.port, extra_args=[
                "--threads", "2", "--target-concurrency", str(TARGET)]) as sc:
            yield {"sc": sc, "born": (t0, time.monotonic()), "load": Load()}


def gauges(sc):
    m = sc.scrape()
    return {"concurrency": metric_value(m, "mlsidecar_concurrency_average"),
            "stable": metric_value(m, "mlsidecar_autoscale_load_ratio", window="stable"),
            "panic": metric_value(m, "mlsidecar_autoscale_load_ratio", window="panic"),
            "panic_mode": metric_value(m, "mlsidecar_autoscale_panic_mode")}


def test_steady_load_gives_its_concurrency(stack):
    sc, load, born = stack["sc"], stack["load"], stack["born"]
    load.run(sc.port, clients=2, seconds=5)
    now = time.monotonic()
    (s_lo, s_hi), _ = expected_range(load, born, now)
    assert 1.2 < s_lo  # two clients for 5 of about 5.5 s
    g = gauges(sc)
    assert within(g["concurrency"], (s_lo, s_hi)), (g, s_lo, s_hi)
    assert g["stable"] == pytest.approx(g["concurrency"] / TARGET, rel=1e-6)
    # Steady: the panic window holds no more than twice the stable one, so panic = stable.
    assert g["panic_mode"] == 0
    assert g["panic"] == g["stable"]


def test_a_burst_after_a_quiet_spell_panics(stack):
    sc, load, born = stack["sc"], stack["load"], stack["born"]
    # Quiet until the sidecar is 22 s old, so that the stable window is long next to the panic one.
    wait_for(lambda: time.monotonic() >= born[1] + 22.0, 30, interval=0.2, what="a quiet spell")
    g = gauges(sc)
    assert g["panic_mode"] == 0 and g["panic"] == g["stable"]
    load.run(sc.port, clients=8, seconds=5)
    now = time.monotonic()
    g = gauges(sc)
    (s_lo, s_hi), (p_lo, p_hi) = expected_range(load, born, now)
    assert p_lo >= 2.2 * s_hi  # the computed windows are clearly in panic territory
    assert within(g["concurrency"], (s_lo, s_hi)), (g, s_lo, s_hi)
    assert g["stable"] == pytest.approx(g["concurrency"] / TARGET, rel=1e-6)
    assert g["panic_mode"] == 1
    assert within(g["panic"] * TARGET, (p_lo, p_hi)), (g, p_lo, p_hi)
    # And the panic ends once the burst has left the panic window.
    wait_for(lambda: gauges(sc)["panic_mode"] == 0, PANIC_WINDOW + 4, interval=0.2,
             what="the panic to end")
    g = gauges(sc)
    assert g["panic"] == g["stable"]
