"""Faults with real processes: a model killed mid-stream, a model that never
answers, clients that go away or read slowly, thousands of idle connections, a scrape storm."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from common import start_sidecar
from procs import (Upstream, free_port, http_request, metric_value, read_sse_events, scrape,
                   wait_for)
from rawhttp import RawClient, RawUpstream


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime in clock ticks


def test_model_killed_mid_sse_stream_ends_the_clients_stream_then_recovers():
    port = free_port()
    up = Upstream("--port", str(port))
    with start_sidecar(port) as sc:
        conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=5)
        conn.request("GET", "/sse?events=100&interval_ms=100")
        resp = conn.getresponse()
        assert resp.status == 200
        events, ended = [], None
        t_kill = None
        try:
            for _, data in read_sse_events(resp):
                events.append(json.loads(data)["k"])
                if len(events) == 3:
                    up.stop(signal.SIGKILL)
                    t_kill = time.monotonic()
            ended = "eof"
        except http.client.IncompleteRead:
            ended = "incomplete"
        except socket.timeout:
            ended = "hung"
        conn.close()
        assert ended in ("eof", "incomplete"), ended  # ended, not hanging until a timeout
        assert time.monotonic() - t_kill < 3
        assert 3 <= len(events) < 100 and events == list(range(len(events)))
        m = sc.scrape_settled()
        # Counted as "invalid_response" today (Beast reports the cut body as partial_message),
        # though "reset" would describe it better.
        assert (metric_value(m, "mlsidecar_upstream_errors_total", kind="reset")
                + metric_value(m, "mlsidecar_upstream_errors_total", kind="invalid_response")) >= 1
        # The model restarts on the same port: the same sidecar serves again.
        with Upstream("--port", str(port)):
            status, _, data = http_request(sc.port, "POST", "/echo", b"after restart")
            assert (status, data) == (200, b"after restart")
        assert sc.alive()


def test_model_that_never_answers_504_and_connection_freed():
    with RawUpstream(lambda req, conn: None) as up, \
            start_sidecar(up.port, "--upstream-timeout", "1s") as sc:
        for _ in range(2):
            t0 = time.monotonic()
            status, _, data = http_request(sc.port, "GET", "/never", timeout=10)
            elapsed = time.monotonic() - t0
            assert status == 504 and json.loads(data)["code"] == "upstream_timeout"
            assert 0.95 <= elapsed < 3.0, elapsed
        # Every connection the model got was closed by the sidecar (nothing left half-used).
        used = [c for c in up.connections if c.requests]
        assert len(used) == 2
        wait_for(lambda: all(c.closed_by_peer.is_set() for c in used), 3,
                 what="the sidecar to close the model connections")


def test_client_gone_while_model_works_closes_the_model_connection():
    with RawUpstream(lambda req, conn: None) as up, start_sidecar(up.port) as sc:
        c = RawClient(sc.port)
        c.send(b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        conn = wait_for(lambda: next((x for x in up.connections if x.requests), None), 5,
                        what="the request at the model")
        t0 = time.monotonic()
        c.close()
        assert conn.closed_by_peer.wait(3), "the model connection stayed open"
        assert conn.closed_at - t0 < 2
        wait_for(lambda: metric_value(sc.scrape(), "mlsidecar_refused_requests_total",
                                      reason="client_aborted") == 1, 3, what="client_aborted")
        assert metric_value(sc.scrape(), "mlsidecar_inflight_requests") == 0


def test_client_gone_mid_download_frees_the_model_connection():
    with Upstream() as up, start_sidecar(up.port) as sc:
        conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
        conn.request("GET", "/bytes?n=%d" % (500 << 20))
        resp = conn.getresponse()
        assert len(resp.read(1 << 20)) == 1 << 20
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        # open_connections counts the /stats request itself.
        wait_for(lambda: up.stats()["open_connections"] <= 1, 5,
                 what="the model's connection to be closed")
        assert http_request(sc.port, "GET", "/bytes?n=10")[0] == 200


def test_slow_reading_client_large_response_memory_bounded():
    with Upstream() as up, start_sidecar(up.port) as sc:
        base = rss_bytes(sc.proc.pid)
        s = socket.create_connection(("127.0.0.1", sc.port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /bytes?n=%d HTTP/1.1\r\nHost: t\r\n\r\n" % (300 << 20))
        got = len(s.recv(65536))
        # The client reads nothing more for a while; the model wants to send 300 MB.
        peak = base
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            peak = max(peak, rss_bytes(sc.proc.pid))
            time.sleep(0.05)
        # Then it reads 20 MB slowly.
        while got < (20 << 20):
            got += len(s.recv(1 << 20))
            peak = max(peak, rss_bytes(sc.proc.pid))
        s.close()
        assert peak - base < 16 << 20, (base, peak)  # backpressure, not buffering


def test_2000_idle_client_connections_while_requests_flow():
    with Upstream() as up, start_sidecar(up.port, threads=2) as sc:
        idle = [socket.create_connection(("127.0.0.1", sc.port), timeout=10) for _ in range(2000)]
        try:
            wait_for(lambda: metric_value(sc.scrape(), "mlsidecar_client_connections_total") >= 2000,
                     10, what="2000 connections accepted")
            worst = 0.0
            for i in range(100):
                t0 = time.monotonic()
                status, _, data = http_request(sc.port, "POST", "/echo", b"r%d" % i, timeout=5)
                worst = max(worst, time.monotonic() - t0)
                assert (status, data) == (200, b"r%d" % i)
            assert worst < 1.0, worst
            assert http_request(sc.admin_port, "GET", "/healthz")[0] == 200
            # The idle connections are still open and usable.
            for s in idle[::200]:
                s.sendall(b"GET /bytes?n=5 HTTP/1.1\r\nHost: t\r\n\r\n")
            for s in idle[::200]:
                assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        finally:
            for s in idle:
                s.close()


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk not installed")
def test_scrape_storm_does_not_stall_the_data_path():
    with Upstream() as up, start_sidecar(up.port, threads=1) as sc:
        conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=5)

        def latencies(n):
            out = []
            for i in range(n):
                t0 = time.monotonic()
                conn.request("POST", "/echo", b"%d" % i)
                resp = conn.getresponse()
                assert resp.status == 200 and resp.read() == b"%d" % i
                out.append(time.monotonic() - t0)
            return sorted(out)

        for i in range(50):  # series exist, so every scrape serializes real histograms
            http_request(sc.port, "POST", "/v1/models/m%d:predict" % (i % 10), b"{}")
        baseline = latencies(200)
        storm = subprocess.Popen(["wrk", "-t1", "-c8", "-d4s",
                                  "http://127.0.0.1:%d/metrics" % sc.admin_port],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            time.sleep(0.5)  # the storm is under way
            during = latencies(200)
        finally:
            out = storm.communicate(timeout=30)[0].decode()
        scrapes = int(re.search(r"(\d+) requests in", out).group(1))
        assert scrapes >= 200, out
        p50_base, p50_storm = baseline[100], during[100]
        assert p50_storm < max(5 * p50_base, p50_base + 0.02), (p50_base, p50_storm)
        assert during[-1] < 0.5, during[-5:]
        conn.close()


# ASan's own descriptors and slower accept loop do not fit the 128-descriptor budget this test
# gives the process; the normal build runs it.
@pytest.mark.skipif(os.environ.get("MLSIDECAR_SANITIZED") == "1",
                    reason="descriptor budget too small for the ASan runtime")
def test_fd_limit_caps_connections_admin_answers_no_spinning():
    """The sidecar at its file descriptor limit (128 here): it accepts only as many clients as the
    limit allows with a model connection each and descriptors to spare (here (128-64)/2 = 32),
    so the admin port still answers; at the limit nothing spins, and it serves again after."""
    from procs import Process, sidecar_binary
    with Upstream() as up:
        port, admin = free_port(), free_port()
        sc = Process(["prlimit", "--nofile=128:128", sidecar_binary(), "serve",
                      "--listen", "127.0.0.1:%d" % port, "--admin", "127.0.0.1:%d" % admin,
                      "--upstream", "127.0.0.1:%d" % up.port, "--threads", "1",
                      "--drain-seconds", "0"])
        clients, admins = [], []
        try:
            sc.wait_url("http://127.0.0.1:%d/healthz" % admin, 10)
            clients = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(200)]

            def scrape_once():
                m = scrape(admin)
                return m if metric_value(m, "mlsidecar_refused_requests_total",
                                         reason="too_many_connections") > 0 else None
            m = wait_for(scrape_once, 10, what="the connection cap to be reached")
            assert metric_value(m, "mlsidecar_client_connections_total") == 32
            # The accepted connections work at the cap.
            clients[0].sendall(b"GET /bytes?n=3 HTTP/1.1\r\nHost: t\r\n\r\n")
            assert clients[0].recv(4096).startswith(b"HTTP/1.1 200 ")
            assert http_request(admin, "GET", "/healthz", timeout=3)[0] == 200
            # Exhaust the descriptors through the admin port too: accepting must back off.
            admins = [socket.create_connection(("127.0.0.1", admin), timeout=3) for _ in range(100)]
            c0 = cpu_seconds(sc.proc.pid)
            time.sleep(1.0)  # the interval over which CPU use is measured
            busy = cpu_seconds(sc.proc.pid) - c0
            assert busy < 0.3, "spinning at the fd limit: %.2f CPU s in 1 s" % busy
        finally:
            for s in clients + admins:
                s.close()
        try:
            # Connections left in the backlog while descriptors ran out may be reset as the
            # sidecar catches up; what matters is that it serves again soon.
            def answers(p, path):
                try:
                    return http_request(p, "GET", path, timeout=2)[0] == 200
                except OSError:
                    return False
            wait_for(lambda: answers(port, "/bytes?n=3"), 10, what="serving again")
            wait_for(lambda: answers(admin, "/healthz"), 10, what="admin again")
        finally:
            sc.stop()
