"""`mlsidecar capture-init` for real, in a network namespace that plays the pod.

The test makes a namespace with a veth pair on TEST-NET-1 (192.0.2.0/24, a /30 of its own) and
runs inside it what an injected pod runs: the model (bound to all addresses, as a container is),
the sidecar in front of it on its own data port, and `mlsidecar capture-init` as the init
container would. A client outside the "pod" calls the pod's address on the model's port, as a
Service would: before the capture the request goes around the sidecar; after it, the sidecar
counts it. A probe of the model's health path, as the kubelet sends from the node, still reaches
the model through the sidecar, and is counted as `health`, outside the autoscaling signals. The
namespace (and its veth pair) is deleted at the end. Needs root and iptables.
"""

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from netns import PodNamespace  # noqa: E402
from procs import Process, metric_sum, parse_metrics, sidecar_binary, wait_for  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("iptables") or not shutil.which("ip"),
    reason="needs root, ip and iptables")

MODEL_PORT, DATA_PORT, ADMIN_PORT = 8000, 8081, 9090


def get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


def test_redirect_sends_the_model_port_through_the_sidecar_and_probes_still_work():
    upstream = os.path.join(HERE, "..", "support", "upstream.py")
    with PodNamespace() as pod:
        model = Process(pod.cmd("/usr/bin/python3", upstream, "--host", "0.0.0.0",
                                "--port", str(MODEL_PORT)))
        sidecar = Process(pod.cmd(sidecar_binary(), "serve",
                                  "--listen", "0.0.0.0:%d" % DATA_PORT,
                                  "--admin", "0.0.0.0:%d" % ADMIN_PORT,
                                  "--upstream", "127.0.0.1:%d" % MODEL_PORT,
                                  "--threads", "1", "--drain-seconds", "0"))
        try:
            model.wait_line(r"listening on", 10)
            admin = "http://%s:%d" % (pod.pod_ip, ADMIN_PORT)
            wait_for(lambda: get(admin + "/readyz", 1)[0] == 200, 10, what="the sidecar ready")
            at_model_port = "http://%s:%d" % (pod.pod_ip, MODEL_PORT)

            def counted():
                m = parse_metrics(get(admin + "/metrics")[1].decode())
                return metric_sum(m, "mlsidecar_requests_total")

            # Before the capture, a client on the model's port goes around the sidecar.
            assert get(at_model_port + "/echo")[0] == 200
            assert counted() == 0

            init = subprocess.run(pod.cmd(sidecar_binary(), "capture-init", "--model-port",
                                          str(MODEL_PORT), "--data-port", str(DATA_PORT)),
                                  capture_output=True, timeout=30)
            assert init.returncode == 0, init.stderr.decode()
            # A second run (the init container restarted with the pod) changes nothing.
            again = subprocess.run(pod.cmd(sidecar_binary(), "capture-init", "--model-port",
                                           str(MODEL_PORT), "--data-port", str(DATA_PORT)),
                                   capture_output=True, timeout=30)
            assert again.returncode == 0, again.stderr.decode()
            rules = subprocess.run(pod.cmd("iptables", "-t", "nat", "-S"), capture_output=True,
                                   timeout=30).stdout.decode()
            assert rules.count("-A PREROUTING -p tcp -j MLSIDECAR_INBOUND") == 1, rules
            assert rules.count("--dport %d" % MODEL_PORT) == 1, rules

            for _ in range(3):
                status, body = get(at_model_port + "/echo")
                assert status == 200
            # The kubelet's probe of the model's health path, from the node's side.
            assert get(at_model_port + "/ready")[0] == 200

            def settled():
                m = parse_metrics(get(admin + "/metrics")[1].decode())
                if metric_sum(m, "mlsidecar_requests_total") < 4:
                    return None
                return m
            m = wait_for(settled, 5, what="the captured requests to be counted")
            assert metric_sum(m, "mlsidecar_requests_total", route="other") == 3
            assert metric_sum(m, "mlsidecar_requests_total", route="health") == 1
            assert metric_sum(m, "mlsidecar_requests_total", code="2xx") == 4
            # The sidecar's own connection to the model (loopback) is not redirected: it works.
            assert metric_sum(m, "mlsidecar_upstream_errors_total") == 0
        finally:
            sidecar.stop()
            model.stop()
