"""SIGTERM under steady load loses no request.

What Kubernetes does in a rolling update: the pod gets SIGTERM; the endpoints controller takes it
out of the Service once its readiness fails, and clients stop sending to it shortly after. The
sidecar must answer everything it receives until then, finish what is in flight, and exit 0.
"""

import http.client
import signal
import threading
import time

from procs import Sidecar, Upstream, http_json, http_request, metric_sum, wait_for

DRAIN = 2.0
CLIENTS = 3
ENDPOINTS_LAG = 0.3  # how long after not-ready the clients keep sending


def test_sigterm_under_steady_load_loses_no_request():
    with Upstream() as up, Sidecar(upstream_port=up.port, extra_args=[
            "--threads", "2", "--drain-seconds", "%gs" % DRAIN, "--shutdown-timeout", "10s"]) as sc:
        stop_sending = threading.Event()
        results, lock = [], threading.Lock()

        def client(k):
            conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
            i = 0
            while not stop_sending.is_set():
                body = b"c%d-%d" % (k, i)
                try:
                    conn.request("POST", "/echo", body)
                    resp = conn.getresponse()
                    ok = resp.status == 200 and resp.read() == body
                    outcome = resp.status if ok else "bad body"
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()  # http.client reconnects on the next request
                except Exception as e:  # noqa: BLE001 - a lost request is what we look for
                    outcome = repr(e)
                    conn.close()
                with lock:
                    results.append((time.monotonic(), outcome))
                i += 1
            conn.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        # Steady load first.
        deadline = time.monotonic() + 10
        while len(results) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(results) >= 100

        # A slow request in flight across the whole drain and the listener's close.
        slow = {}
        slow_thread = threading.Thread(target=lambda: slow.update(
            r=http_request(sc.port, "GET", "/delay?ms=%d" % ((DRAIN + 0.8) * 1000), timeout=15)))
        slow_thread.start()
        time.sleep(0.2)  # lets the slow request reach the model before SIGTERM (part of the setup)

        t_sig = time.monotonic()
        sc.send_signal(signal.SIGTERM)
        # /readyz fails at once.
        while http_json(sc.admin_port, "GET", "/readyz")[0] != 503:
            assert time.monotonic() - t_sig < 1.0, "readyz still ready 1 s after SIGTERM"
            time.sleep(0.01)
        t_not_ready = time.monotonic()
        status, body = http_json(sc.admin_port, "GET", "/readyz")
        assert status == 503 and body["code"] == "draining"
        # The "endpoints controller" reacts, the clients stop.
        time.sleep(ENDPOINTS_LAG)
        stop_sending.set()
        for t in threads:
            t.join(15)
        served_while_draining = sum(1 for t, _ in results if t > t_sig)

        code = sc.wait_exit(DRAIN + 10)
        t_exit = time.monotonic()
        slow_thread.join(15)

        failures = [o for _, o in results if o != 200]
        assert failures == [], failures[:10]
        assert served_while_draining > 0
        assert slow["r"][0] == 200, slow  # in flight at the listener's close, finished
        assert code == 0, sc.describe()
        assert t_not_ready - t_sig < 1.0
        assert t_exit - t_sig >= DRAIN - 0.05  # served for the whole drain
        assert t_exit - t_sig < DRAIN + 6, t_exit - t_sig
        assert up.stats()["requests"] == len(results) + 1
        assert "draining" in sc.errors() + sc.output()


def test_sigterm_idle_exits_after_drain_and_refuses_afterwards():
    with Upstream() as up:
        sc = Sidecar(upstream_port=up.port, extra_args=["--threads", "1", "--drain-seconds", "1s"])
        try:
            assert http_request(sc.port, "GET", "/echo")[0] == 200
            t0 = time.monotonic()
            sc.send_signal(signal.SIGTERM)
            # Still serving during the drain.
            assert http_request(sc.port, "POST", "/echo", b"x")[2] == b"x"
            assert sc.wait_exit(10) == 0
            assert time.monotonic() - t0 >= 0.95
        finally:
            sc.stop()
        try:
            http_request(sc.port, "GET", "/echo", timeout=2)
            refused = False
        except OSError:
            refused = True
        assert refused


def test_metrics_during_drain_still_scraped():
    with Upstream() as up:
        sc = Sidecar(upstream_port=up.port, extra_args=["--threads", "1", "--drain-seconds", "1s"])
        try:
            for _ in range(5):
                http_request(sc.port, "GET", "/echo")
            # A request is counted just after its response is written: wait for the fifth.
            wait_for(lambda: metric_sum(sc.scrape(), "mlsidecar_requests_total") == 5, 5,
                     what="five requests counted")
            sc.send_signal(signal.SIGTERM)
            assert metric_sum(sc.scrape(), "mlsidecar_requests_total") == 5
            assert sc.wait_exit(10) == 0
        finally:
            sc.stop()


def _slow_request_in_flight(sc, seconds):
    """Starts a request the model holds for `seconds`; returns its thread and result dict."""
    result = {}

    def run():
        try:
            result["r"] = http_request(sc.port, "GET", "/delay?ms=%d" % (seconds * 1000),
                                       timeout=seconds + 10)
        except OSError as e:
            result["error"] = repr(e)
    t = threading.Thread(target=run)
    t.start()
    wait_for(lambda: metric_sum(sc.scrape(), "mlsidecar_inflight_requests") == 1, 5,
             what="the slow request to be in flight")
    return t, result


def test_shutdown_timeout_holds_after_a_second_signal_past_the_drain():
    """A repeated signal never extends the shutdown: one sent after the drain has ended (the
    listeners are closed, a request is still in flight) stops the process at once. It used to
    cancel the timer that enforces --shutdown-timeout, so only SIGKILL ended the process."""
    with Upstream() as up, Sidecar(upstream_port=up.port, extra_args=[
            "--threads", "1", "--drain-seconds", "200ms", "--shutdown-timeout", "3s"]) as sc:
        slow, result = _slow_request_in_flight(sc, 30)
        t0 = time.monotonic()
        sc.send_signal(signal.SIGTERM)
        wait_for(lambda: "listeners_closed" in sc.errors(), 5, what="the listeners to close")
        sc.send_signal(signal.SIGTERM)
        code = sc.wait_exit(10)
        assert code == 0, sc.describe()
        assert time.monotonic() - t0 < 3, "the second signal did not stop the process at once"
        assert "stop_forced" in sc.errors() + sc.output()
        slow.join(15)
        assert "r" not in result, result  # the request in flight was cut, not answered


def test_shutdown_timeout_holds_with_a_second_signal_during_the_drain():
    """A second signal during the drain skips the rest of it; --shutdown-timeout still bounds the
    wait for the request in flight, and the process exits 0."""
    with Upstream() as up, Sidecar(upstream_port=up.port, extra_args=[
            "--threads", "1", "--drain-seconds", "20s", "--shutdown-timeout", "2s"]) as sc:
        slow, _ = _slow_request_in_flight(sc, 30)
        t0 = time.monotonic()
        sc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sc.send_signal(signal.SIGINT)
        code = sc.wait_exit(15)
        elapsed = time.monotonic() - t0
        assert code == 0, sc.describe()
        assert 1.8 <= elapsed < 8, elapsed  # the 20 s drain skipped, the 2 s timeout enforced
        slow.join(15)
