"""Injection of gRPC models, end to end: what the goldens show about the gRPC port (found, captured,
relayed), and a sidecar started with exactly the arguments injection gave it, in front of the gRPC
model stand-in (tests/support/grpc/model.py): ready through the gRPC readiness injection chose, and
a V2 call through its data port reaches the model."""
import json
import pathlib
import subprocess
import sys
import urllib.request

import grpc
import pytest
import yaml

from conftest import GOLDEN, binary, run

SUPPORT = pathlib.Path(__file__).resolve().parents[2] / "support"
sys.path[:0] = [str(SUPPORT), str(SUPPORT / "grpc")]
from procs import GrpcModel, free_port, http_request, wait_for  # noqa: E402

import model as standin  # noqa: E402  tests/support/grpc/model.py

v2, v2_grpc, _, _ = standin.load_stubs()


def load_all(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def named(containers, name):
    return next(c for c in containers if c["name"] == name)


def flag(container, name):
    args = container["args"]
    return args[args.index(name) + 1] if name in args else None


def test_triton_port_name_moves_both_serving_names_to_the_sidecar():
    deployment, service = load_all((GOLDEN / "triton-grpc.out.yaml").read_text())
    spec = deployment["spec"]["template"]["spec"]
    model = named(spec["containers"], "triton")
    assert [p["name"] for p in model["ports"]] == ["mlsidecar-model", "mlsidecar-mgrpc", "metrics"]
    assert all(len(p["name"]) <= 15 for p in model["ports"])  # Kubernetes' limit for port names
    sidecar = named(spec["initContainers"], "mlsidecar")
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    assert flag(sidecar, "--grpc-listen") == "0.0.0.0:%d" % ports["grpc"]
    assert flag(sidecar, "--listen") == "0.0.0.0:%d" % ports["http"]
    assert flag(sidecar, "--grpc-upstream") == "127.0.0.1:8001"
    assert [c["name"] for c in spec["initContainers"]] == ["mlsidecar"]  # no NET_ADMIN
    # The Service targets the names, which now belong to the sidecar: it is left alone.
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http", "grpc"]


def test_tf_serving_rest_and_grpc_ports_from_its_args_and_the_service_repointed():
    deployment, service = load_all((GOLDEN / "tfserving.out.yaml").read_text())
    sidecar = named(deployment["spec"]["template"]["spec"]["initContainers"], "mlsidecar")
    assert flag(sidecar, "--upstream") == "127.0.0.1:8500"  # --rest_api_port
    assert flag(sidecar, "--grpc-upstream") == "127.0.0.1:9000"  # --port
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["mlsidecar-http"] * 2
    report = (GOLDEN / "tfserving.report").read_text()
    assert "port 8500 (from containerPort), grpc port 9000 (from args)" in report


POD = """
apiVersion: v1
kind: Pod
metadata: {name: triton-grpc}
spec:
  containers:
  - name: triton
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    args: [tritonserver, --allow-http=false, "--grpc-port=%d"]
"""
HEALTH_PROBE = """    readinessProbe:
      grpc: {port: %d, service: inference}
"""


@pytest.mark.parametrize("readiness", ["health", "v2"])
def test_an_injected_sidecar_serves_a_grpc_only_model(readiness):
    with GrpcModel() as model:
        manifest = POD % model.port + (HEALTH_PROBE % model.port if readiness == "health" else "")
        result = run("inject", "-f", "-", stdin=manifest.encode())
        assert result.returncode == 0, result.stderr.decode()
        assert "grpc port %d (from %s) only" % (
            model.port, "readinessProbe.grpc" if readiness == "health" else "args"
        ) in result.stderr.decode()
        (pod,) = load_all(result.stdout)
        sidecar = named(pod["spec"]["initContainers"], "mlsidecar")
        assert flag(sidecar, "--ready-grpc") == readiness
        assert flag(sidecar, "--upstream") == flag(sidecar, "--grpc-upstream")
        data, admin = free_port(), free_port()
        # The injected arguments as they are, then this machine's addresses (the last value wins).
        proc = subprocess.Popen([binary(), *sidecar["args"], "--listen", "127.0.0.1:%d" % data,
                                 "--admin", "127.0.0.1:%d" % admin, "--ready-interval", "200ms",
                                 "--drain-seconds", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def ready():
                assert proc.poll() is None, proc.stderr.read().decode()
                try:
                    return http_request(admin, "GET", "/readyz")[0] == 200
                except OSError:
                    return False
            wait_for(ready, timeout=10, what="the injected sidecar ready")
            with urllib.request.urlopen("http://127.0.0.1:%d/config" % admin, timeout=5) as r:
                config = json.load(r)
            assert config["ready-grpc"] == readiness
            with grpc.insecure_channel("127.0.0.1:%d" % data) as channel:
                stub = v2_grpc.GRPCInferenceServiceStub(channel)
                assert stub.ServerReady(v2.ServerReadyRequest(), timeout=10).ready
        finally:
            proc.terminate()
            proc.wait(10)


# No containerPort, no probe, nothing in the args: the Service's ports are the only hints, and its
# appProtocol tells which one is gRPC.
UNDECLARED = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: triton}
spec:
  selector: {matchLabels: {app: triton}}
  template:
    metadata: {labels: {app: triton}}
    spec:
      containers:
      - {name: triton, image: "nvcr.io/nvidia/tritonserver:24.08-py3"}
---
apiVersion: v1
kind: Service
metadata: {name: triton}
spec:
  selector: {app: triton}
  ports:
  - {name: http, port: 80, targetPort: 8000}
  - {name: grpc, port: 8001, targetPort: 8001, appProtocol: kubernetes.io/h2c}
"""


def test_a_services_grpc_app_protocol_names_the_grpc_port():
    result = run("inject", "-f", "-", stdin=UNDECLARED.encode())
    assert result.returncode == 0, result.stderr.decode()
    report = result.stderr.decode()
    assert "port 8000 (from Service), grpc port 8001 (from Service appProtocol)" in report, report
    deployment, service = load_all(result.stdout)
    spec = deployment["spec"]["template"]["spec"]
    capture = named(spec["initContainers"], "mlsidecar-capture")
    assert capture["args"][:5] == ["capture-init", "--model-port", "8000", "--model-port", "8001"]
    assert flag(named(spec["initContainers"], "mlsidecar"), "--grpc-upstream") == "127.0.0.1:8001"
    assert service["spec"]["ports"][1]["targetPort"] == 8001  # the redirect captures it in the pod
