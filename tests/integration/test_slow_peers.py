"""Slow peers with real processes: slowloris clients that trickle a request head
one byte at a time, and a model that reads a large upload slowly."""

import http.client
import re
import select
import socket
import threading
import time

from common import start_sidecar
from procs import Upstream, http_request, metric_value, wait_for

HEADER_TIMEOUT = 2.0
TICK = 0.25  # the sidecar checks its deadlines every 250 ms


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


class Slowloris:
    """`n` connections that send a request head one byte per `every` seconds and never finish it.

    One thread drives them all; `closed_after[i]` is the time from the first byte to the moment
    the sidecar closed connection i, `received[i]` the bytes the sidecar sent it before closing.
    """

    HEAD = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nX-Slow: " + b"a" * 100000

    def __init__(self, port, n, every=0.1, give_up=30.0):
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
        self.every, self.give_up = every, give_up
        self.closed_after = [None] * n
        self.received = [b""] * n
        self.sent = [0] * n
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join(self.give_up + 5)
        for s in self.socks:
            s.close()

    def _run(self):
        t0 = time.monotonic()
        open_ = set(range(len(self.socks)))
        while open_ and time.monotonic() - t0 < self.give_up:
            for i in list(open_):
                s = self.socks[i]
                readable, _, _ = select.select([s], [], [], 0)
                closed = False
                if readable:
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    self.received[i] += data
                    closed = not data
                if not closed:
                    try:
                        s.send(self.HEAD[self.sent[i]:self.sent[i] + 1])
                        self.sent[i] += 1
                    except OSError:
                        closed = True
                if closed:
                    self.closed_after[i] = time.monotonic() - t0
                    open_.discard(i)
            time.sleep(self.every)


def test_slowloris_heads_closed_at_header_timeout_while_others_are_served():
    with Upstream() as up, start_sidecar(up.port, "--header-timeout", "%gs" % HEADER_TIMEOUT,
                                         threads=1) as sc:
        n = 50
        before = metric_value(sc.scrape(), "mlsidecar_refused_requests_total",
                              reason="header_timeout")
        keep = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=5)
        worst = 0.0
        served = 0
        with Slowloris(sc.port, n) as slow:
            # Meanwhile: keep-alive and new-connection clients, each answered at once.
            while slow.thread.is_alive() and served < 400:
                t0 = time.monotonic()
                keep.request("POST", "/echo", b"k%d" % served)
                resp = keep.getresponse()
                assert (resp.status, resp.read()) == (200, b"k%d" % served)
                status, _, body = http_request(sc.port, "POST", "/echo", b"n%d" % served, timeout=5)
                assert (status, body) == (200, b"n%d" % served)
                worst = max(worst, time.monotonic() - t0)
                served += 2
                time.sleep(0.01)
        keep.close()
        assert served >= 40, served
        assert worst < 1.0, worst
        # Every trickling connection was closed at the header timeout, not before, and the
        # trickle did not extend it (each one kept sending a byte per 100 ms until the end).
        closed = slow.closed_after
        assert all(c is not None for c in closed), closed
        assert min(closed) >= HEADER_TIMEOUT - 0.1, closed
        assert max(closed) <= HEADER_TIMEOUT + 2 * TICK + 1.0, closed
        assert min(slow.sent) >= 10, slow.sent
        # Closed without an answer (a 408 would be acceptable too); never forwarded to the model.
        assert all(r == b"" or r.startswith(b"HTTP/1.1 408 ") for r in slow.received), \
            [r[:80] for r in slow.received if r]
        after = metric_value(sc.scrape(), "mlsidecar_refused_requests_total",
                             reason="header_timeout")
        assert after - before == n
        assert up.stats()["requests"] == served


def test_slowloris_at_the_connection_limit_frees_the_slots_at_the_header_timeout():
    """The classic slowloris outage: every connection slot held by a trickling head. New clients
    are refused while the slots are held, and served again once the header timeout frees them."""
    with Upstream() as up, start_sidecar(up.port, "--header-timeout", "%gs" % HEADER_TIMEOUT,
                                         "--max-connections", "20", threads=1) as sc:
        with Slowloris(sc.port, 20) as slow:
            time.sleep(0.5)
            assert all(c is None for c in slow.closed_after)
            try:
                status = http_request(sc.port, "GET", "/status?code=200", timeout=1.0)[0]
            except OSError:
                status = None
            assert status != 200  # refused or not accepted while the slots are held
            t0 = time.monotonic()
            wait_for(lambda: _ok(sc.port), HEADER_TIMEOUT + 3, interval=0.1,
                     what="a new client to be served after the header timeout")
            assert time.monotonic() - t0 <= HEADER_TIMEOUT + 1.5
        m = sc.scrape_settled()
        assert metric_value(m, "mlsidecar_refused_requests_total", reason="header_timeout") == 20


def _ok(port):
    try:
        return http_request(port, "GET", "/status?code=200", timeout=1.0)[0] == 200
    except OSError:
        return False


def test_slow_reading_model_large_upload_memory_bounded():
    """The model reads a 64 MiB upload at 16 MiB/s: the sidecar holds the client back instead of
    buffering the body (backpressure), its memory stays flat, and the model gets every byte."""
    size, rate = 64 << 20, 16 << 20
    with Upstream() as up, start_sidecar(up.port) as sc:
        base = rss_bytes(sc.proc.pid)
        sock = socket.create_connection(("127.0.0.1", sc.port), timeout=30)
        sock.sendall(b"POST /slow-read?bytes_per_sec=%d HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Length: %d\r\n\r\n" % (rate, size))
        sent = [0]
        chunk = b"u" * (256 << 10)

        def upload():
            while sent[0] < size:
                n = sock.send(chunk[:size - sent[0]])
                sent[0] += n

        t = threading.Thread(target=upload, daemon=True)
        t0 = time.monotonic()
        t.start()
        peak, sent_at_1s = base, None
        while t.is_alive():
            peak = max(peak, rss_bytes(sc.proc.pid))
            if sent_at_1s is None and time.monotonic() - t0 >= 1.0:
                sent_at_1s = sent[0]
            time.sleep(0.05)
        t.join()
        elapsed = time.monotonic() - t0
        head_and_body = b""
        while b"\r\n\r\n" not in head_and_body or not head_and_body.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            head_and_body += data
        sock.close()
        assert head_and_body.startswith(b"HTTP/1.1 200 "), head_and_body[:200]
        assert b'"length": %d' % size in head_and_body, head_and_body[-200:]
        # Backpressure: the client could not send much faster than the model read. Without it,
        # all 64 MiB would be in the sidecar within a fraction of a second.
        assert elapsed >= size / rate * 0.6, elapsed
        assert sent_at_1s is not None and sent_at_1s < rate + (24 << 20), sent_at_1s
        assert peak - base < 16 << 20, (base, peak)
        status, _, body = http_request(sc.port, "POST", "/echo", b"after")
        assert (status, body) == (200, b"after")
