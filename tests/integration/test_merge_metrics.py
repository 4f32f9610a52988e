"""--merge-metrics: the model server's own metrics in the same scrape as the sidecar's.

A real HTTP server on 127.0.0.1 plays the model's /metrics the way vLLM publishes it (colon names,
a histogram, its own process_* families); Prometheus' own tool (promtool) and the tests' strict
parser judge the merged exposition. A model whose /metrics hangs or is 10 MB must not hold up or
break the sidecar's own scrape beyond --merge-metrics-timeout.
"""

import http.server
import shutil
import socket
import subprocess
import threading
import time

import pytest

from common import start_sidecar
from procs import Upstream, metric_value, parse_metrics, scrape, scrape_text, wait_for

VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="gemma"} 3.0
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="gemma"} 0.42
# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency in seconds.
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{le="1.0",model_name="gemma"} 4.0
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="gemma"} 5.0
vllm:e2e_request_latency_seconds_count{model_name="gemma"} 5.0
vllm:e2e_request_latency_seconds_sum{model_name="gemma"} 3.5
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 977.0
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 8.9e+09
"""


# About 10 MB of valid exposition, made once.
HUGE = b"".join(b"filler_metric{i=\"%d\"} 1\n" % i for i in range(400000))


class ModelMetricsServer:
    """The model's /metrics: `mode` is "vllm", "hang" (accepts, never answers) or "huge"."""

    def __init__(self, mode):
        self.mode = mode
        self.requests = 0
        self.accepts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                if outer.mode == "hang":
                    time.sleep(30)
                    return
                body = HUGE if outer.mode == "huge" else VLLM_METRICS.encode()
                outer.accepts.append(self.headers.get("Accept", ""))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def merged_sidecar(up, model, *flags):
    return start_sidecar(up.port, "--merge-metrics",
                         "http://127.0.0.1:%d/metrics" % model.port, *flags)


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool not installed")
def test_merged_scrape_parses_and_keeps_the_models_names():
    with Upstream() as up, ModelMetricsServer("vllm") as model, merged_sidecar(up, model) as sc:
        text = scrape_text(sc.admin_port)
        # Prometheus' parser: no error (its lint remarks on the model's colon names are the model's).
        proc = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                              capture_output=True, timeout=30)
        out = proc.stdout.decode() + proc.stderr.decode()
        assert "error" not in out.lower(), out
        m = parse_metrics(text)  # strict: a family twice or a TYPE after samples fails here
        assert metric_value(m, "vllm:num_requests_running", model_name="gemma") == 3
        assert metric_value(m, "vllm:e2e_request_latency_seconds_count", model_name="gemma") == 5
        # process_* are the model's; the sidecar's own moved aside under its prefix.
        assert metric_value(m, "process_open_fds") == 977
        assert 0 < metric_value(m, "mlsidecar_process_open_fds") < 977
        assert metric_value(m, "mlsidecar_process_resident_memory_bytes") < 8.9e9
        assert "text/plain;version=0.0.4" in model.accepts[0]
        m2 = scrape(sc.admin_port)
        assert metric_value(m2, "mlsidecar_model_metrics_fetches_total", result="ok") >= 1
        assert metric_value(m2, "mlsidecar_model_metrics_dropped_total",
                            reason="duplicate_family") == 0


def test_a_hanging_model_delays_the_scrape_by_the_timeout_at_most():
    with Upstream() as up, ModelMetricsServer("hang") as model, \
            merged_sidecar(up, model, "--merge-metrics-timeout", "500ms") as sc:
        for _ in range(2):
            t0 = time.monotonic()
            m = scrape(sc.admin_port)
            elapsed = time.monotonic() - t0
            assert elapsed < 3, elapsed  # the 500 ms timeout, with a generous margin
            assert "vllm:num_requests_running" not in {n for n, _ in m}
            assert metric_value(m, "mlsidecar_inflight_requests") == 0
        assert metric_value(m, "mlsidecar_model_metrics_fetches_total", result="timeout") >= 1


def test_a_10_mb_model_exposition_is_left_out_and_counted():
    with Upstream() as up, ModelMetricsServer("huge") as model, merged_sidecar(up, model) as sc:
        scrape(sc.admin_port)
        m = scrape(sc.admin_port)
        assert "filler_metric" not in {n for n, _ in m}
        assert metric_value(m, "mlsidecar_model_metrics_fetches_total", result="too_large") >= 1
        assert metric_value(m, "mlsidecar_inflight_requests") == 0


def test_an_unreachable_model_is_counted_and_the_scrape_still_served():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with Upstream() as up, start_sidecar(up.port, "--merge-metrics",
                                         "http://localhost:%d/metrics" % dead) as sc:
        scrape(sc.admin_port)
        m = wait_for(lambda: (lambda m: m if metric_value(
            m, "mlsidecar_model_metrics_fetches_total", result="connect_failed") else None)(
            scrape(sc.admin_port)), 5, what="the failed fetch to be counted")
        assert metric_value(m, "mlsidecar_inflight_requests") == 0
