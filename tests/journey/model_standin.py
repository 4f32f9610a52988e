#!/usr/bin/env python3
"""A stand-in for the model server of a published manifest: the example model server
(examples/model_server/server.py: KServe V1, Open Inference Protocol V2, OpenAI) plus what the
real server adds that the journey test needs, for one of three flavors:

  vllm    vLLM's OpenAI server: /health, and /metrics on the serving port with vLLM's colon names
          (vllm:num_requests_running, vllm:prompt_tokens_total, ...) and the Python process
          metrics (process_cpu_seconds_total, ...) that prometheus_client exports
  triton  Triton: HTTP/REST (V2) on --port, /metrics on --metrics-port only, with Triton's
          nv_inference_* names labelled by model and version
  kserve  KServe's Python model server (V1): /metrics on the serving port with its
          request_predict_seconds histogram and the process metrics

  model_standin.py --flavor vllm --host 0.0.0.0 --port 8000 --model-name google/gemma-3-1b-it

Every request whose User-Agent is the kubelet's (`kube-probe/...`) is printed on stdout as
`probe GET PATH from PEER`, so that a test sees which probes reached the model and by which way
(127.0.0.1: through the sidecar; the pod's address: directly). The process metrics carry a fixed
process_start_time_seconds (PROCESS_START) so that a test can tell them from the sidecar's.
"""

import argparse
import os
import signal
import sys
import threading
from http.server import ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "model_server"))
import server as example  # noqa: E402

PROCESS_START = 1700000000.0  # what the model's process_start_time_seconds says


class Counts:
    """Inference requests answered, and tokens, for the flavor's own metrics (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.values = {"inference": 0, "prompt_tokens": 0, "output_tokens": 0}

    def add(self, **kv):
        with self._lock:
            for k, v in kv.items():
                self.values[k] += v

    def snapshot(self):
        with self._lock:
            return dict(self.values)


def process_metrics():
    return ("# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
            "# TYPE process_cpu_seconds_total counter\n"
            "process_cpu_seconds_total %.2f\n"
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            "process_start_time_seconds %.1f\n"
            "# HELP python_info Python platform information\n"
            "# TYPE python_info gauge\n"
            'python_info{implementation="CPython",major="3",minor="11",patchlevel="2",version="3.11.2"} 1.0\n'
            % (os.times().user + os.times().system, PROCESS_START))


def vllm_metrics(model, counts, running):
    labels = '{model_name="%s"}' % model
    return ("# HELP vllm:num_requests_running Number of requests currently running on GPU.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            "vllm:num_requests_running%s %d.0\n"
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE vllm:num_requests_waiting gauge\n"
            "vllm:num_requests_waiting%s 0.0\n"
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
            "# TYPE vllm:gpu_cache_usage_perc gauge\n"
            "vllm:gpu_cache_usage_perc%s 0.0\n"
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
            "# TYPE vllm:prompt_tokens_total counter\n"
            "vllm:prompt_tokens_total%s %d.0\n"
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.\n"
            "# TYPE vllm:generation_tokens_total counter\n"
            "vllm:generation_tokens_total%s %d.0\n"
            % (labels, running, labels, labels, labels, counts["prompt_tokens"], labels,
               counts["output_tokens"])) + process_metrics()


def triton_metrics(model, version, counts):
    labels = '{model="%s",version="%s"}' % (model, version)
    return ("# HELP nv_inference_request_success Number of successful inference requests, all batch sizes\n"
            "# TYPE nv_inference_request_success counter\n"
            "nv_inference_request_success%s %d\n"
            "# HELP nv_inference_request_failure Number of failed inference requests, all batch sizes\n"
            "# TYPE nv_inference_request_failure counter\n"
            "nv_inference_request_failure%s 0\n"
            "# HELP nv_inference_count Number of inferences performed (does not include cached requests)\n"
            "# TYPE nv_inference_count counter\n"
            "nv_inference_count%s %d\n"
            % (labels, counts["inference"], labels, labels, counts["inference"]))


def kserve_metrics(model, counts):
    n = counts["inference"]
    labels = 'model_name="%s"' % model
    return ("# HELP request_predict_seconds predict latency\n"
            "# TYPE request_predict_seconds histogram\n"
            'request_predict_seconds_bucket{%s,le="0.005"} %d\n'
            'request_predict_seconds_bucket{%s,le="+Inf"} %d\n'
            "request_predict_seconds_count{%s} %d\n"
            "request_predict_seconds_sum{%s} %.4f\n"
            % (labels, n, labels, n, labels, n, labels, n * 0.001)) + process_metrics()


class StandinHandler(example.Handler):
    def route(self, url):
        flavor = self.server.flavor
        if self.headers.get("User-Agent", "").startswith("kube-probe/"):
            print("probe %s %s from %s" % (self.command, url.path, self.client_address[0]), flush=True)
        if self.command == "GET" and url.path == "/metrics" and flavor != "triton":
            self.body = self.read_body()
            return self.metrics()
        if self.command == "GET" and url.path == "/health" and flavor == "vllm":
            self.body = self.read_body()
            return self.respond(200, b"")
        self.server.running.add(1)
        try:
            return super().route(url)
        finally:
            self.server.running.add(-1)
            self.count(url.path)

    def count(self, path):
        if self.command != "POST":
            return
        if path.endswith("/infer") or path.endswith(":predict") or path.startswith("/v1/") and (
                path.endswith("completions")):
            self.server.counts.add(inference=1)

    def count_usage(self, obj):
        usage = obj.get("usage") if isinstance(obj, dict) else None
        if usage:
            self.server.counts.add(prompt_tokens=usage.get("prompt_tokens", 0),
                                   output_tokens=usage.get("completion_tokens", 0))

    def respond_json(self, code, obj):
        self.count_usage(obj)
        super().respond_json(code, obj)

    def sse(self, obj):
        self.count_usage(obj)
        super().sse(obj)

    def metrics(self):
        cfg, flavor, counts = self.server.cfg, self.server.flavor, self.server.counts.snapshot()
        if flavor == "vllm":
            text = vllm_metrics(cfg.model_name, counts, self.server.running.value)
        elif flavor == "kserve":
            text = kserve_metrics(cfg.model_name, counts)
        else:
            text = triton_metrics(cfg.model_name, cfg.model_version, counts)
        self.respond(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")


class Gauge:
    def __init__(self):
        self._lock = threading.Lock()
        self.value = 0

    def add(self, d):
        with self._lock:
            self.value += d


class MetricsOnly(StandinHandler):
    """Triton's metrics port: /metrics and nothing else."""

    def route(self, url):
        self.body = self.read_body()
        if self.command == "GET" and url.path == "/metrics":
            return self.metrics()
        return self.error(404, "no such endpoint", "not_found")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    ap.add_argument("--flavor", choices=("vllm", "triton", "kserve"), required=True)
    ap.add_argument("--metrics-port", type=int, default=0, help="Triton's metrics port")
    own, rest = ap.parse_known_args(argv)
    cfg = example.parse_args(rest)
    servers = [example.Server(cfg)]
    if own.metrics_port:
        servers.append(ThreadingHTTPServer((cfg.host, own.metrics_port), MetricsOnly))
        servers[-1].cfg, servers[-1].stats = cfg, servers[0].stats
        servers[-1].daemon_threads = True
    counts, running = Counts(), Gauge()
    for s in servers:
        s.RequestHandlerClass = MetricsOnly if s is not servers[0] else StandinHandler
        s.flavor, s.counts, s.running = own.flavor, counts, running
        threading.Thread(target=s.serve_forever, daemon=True).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for s in servers[1:]:
        print("metrics on %s:%d" % s.server_address[:2], flush=True)
    print("listening on %s:%d" % servers[0].server_address[:2], flush=True)
    while not stop.wait(0.5):
        pass
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
