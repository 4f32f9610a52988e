"""Per-pod settings by annotation: every serve flag that `mlsidecar inject --help` lists as a
per-pod annotation (mlsidecar.io/<flag>) is tested both ways. A valid value reaches the injected
sidecar's effective configuration (the real `mlsidecar serve`, started with the injected
container's arguments, shows it on /config); an invalid one fails the injection with a message
that names the annotation, instead of a sidecar that would crash-loop."""
import json
import re
import subprocess
import sys
import pathlib
import time
import urllib.request

import pytest
import yaml

from conftest import binary, run

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "support"))
from procs import Upstream, free_port  # noqa: E402

# flag: (valid annotation value, what /config then shows, an invalid value)
TABLE = {
    "threads": ("2", "2", "many"),
    "ready-path": ("/v2/health/ready", "/v2/health/ready", "v2/health"),
    "ready-interval": ("2s", "2s", "soon"),
    "max-header-bytes": ("8192", "8192", "-1"),
    "max-body-bytes": ("1000000", "1000000", "1MB"),
    "max-connections": ("500", "500", "lots"),
    "header-timeout": ("5s", "5s", "5 s"),
    "idle-timeout": ("90s", "90s", "forever"),
    "connect-timeout": ("500ms", "500ms", "0.5x"),
    "upstream-timeout": ("5m", "300s", "never"),
    "upstream-idle-timeout": ("30s", "30s", "x"),
    "upstream-max-idle": ("64", "64", "-3"),
    "container-concurrency": ("4", "4", "four"),
    "queue-depth": ("12", "12", "1e9"),
    "queue-timeout": ("3s", "3s", "3"+"q"),
    "target-concurrency": ("2.5", "2.5", "high"),
    "latency-slo-seconds": ("1.5", "1.5", "-1"),
    "latency-slo-quantile": ("0.95", "0.95", "95"),
    "target-output-tokens-per-second": ("800", "800", "fast"),
    "drift-window": ("500", "500", "0"),
    "drift-interval": ("30s", "30s", "often"),
    "drift-sample-rate": ("0.25", "0.25", "2"),
    "drift-max-body": ("65536", "65536", "big"),
    "drift-max-features": ("64", "64", "all"),
    "drift-format": ("v2", "v2", "xml"),
    "max-models": ("8", "8", "1"),
    "log-level": ("warn", "warn", "loud"),
    "access-log-sample": ("0.01", "0.01", "1.5"),
    "merge-metrics": ("http://127.0.0.1:8002/metrics", "http://127.0.0.1:8002/metrics",
                      "https://model/metrics"),
    "merge-metrics-timeout": ("1s", "1s", "1 second"),
    "grpc-upstream": ("127.0.0.1:8001", "127.0.0.1:8001", "8001"),
    "grpc-listen": ("127.0.0.1:0", "127.0.0.1:0", "grpc"),
    "ready-grpc": ("off", "off", "maybe"),
    "ready-grpc-service": ("inference.v2", "inference.v2", "bad service!"),
    "h2-max-streams": ("50", "50", "0"),
    "grpc-max-message-bytes": ("16777216", "16777216", "16MB"),
    "shadow-upstream": ("127.0.0.1:8009", "127.0.0.1:8009", "shadow"),
    "shadow-fraction": ("0.25", "0.25", "2"),
    "shadow-version": ("v2", "v2", "v 2"),
    "shadow-max-body": ("65536", "65536", "1MiB"),
    "shadow-max-rps": ("20", "20", "fast"),
    "shadow-timeout": ("2s", "2s", "later"),
    "shadow-class-outputs": ("label,kind", "label,kind", "bad name"),
    "shadow-argmax-outputs": ("probs", "probs", "bad name"),
}

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: model
  annotations: {annotations}
spec:
  containers:
  - name: model
    image: example/model:1.0
    ports: [{{containerPort: 8000}}]
"""


def per_pod_flags():
    text = run("inject", "--help").stdout.decode()
    listed = text.split("for these flags:")[1].split("\n\n")[0]
    return re.findall(r"[a-z][a-z0-9-]+", listed.split("\n  -")[0])


def inject(annotations):
    return run("inject", "-f", "-",
               stdin=POD.format(annotations=json.dumps(annotations)).encode())


def test_every_per_pod_annotation_has_a_row():
    assert sorted(per_pod_flags()) == sorted(TABLE)


def test_valid_annotations_reach_the_sidecars_effective_configuration():
    annotations = {"mlsidecar.io/" + f: v for f, (v, _, _) in TABLE.items()}
    result = inject(annotations)
    assert result.returncode == 0, result.stderr.decode()
    pod = yaml.safe_load(result.stdout)
    sidecar = next(c for c in pod["spec"]["initContainers"] if c["name"] == "mlsidecar")
    args = sidecar["args"]
    assert args[0] == "serve"
    with Upstream() as up:
        admin = free_port()
        # The injected arguments as they are, then this machine's addresses (the last value wins).
        proc = subprocess.Popen([binary(), *args, "--listen", "127.0.0.1:0",
                                 "--admin", "127.0.0.1:%d" % admin,
                                 "--upstream", "127.0.0.1:%d" % up.port,
                                 "--drain-seconds", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            config = None
            deadline = time.monotonic() + 10
            while config is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/config" % admin,
                                                timeout=2) as r:
                        config = json.load(r)
                except OSError:
                    assert proc.poll() is None, proc.stderr.read().decode()
                    time.sleep(0.05)
            assert config is not None
        finally:
            proc.terminate()
            proc.wait(10)
    for flag, (_, shown, _) in TABLE.items():
        assert config[flag] == shown, flag


@pytest.mark.parametrize("flag", sorted(TABLE))
def test_an_invalid_annotation_is_refused_naming_it(flag):
    result = inject({"mlsidecar.io/" + flag: TABLE[flag][2]})
    assert result.returncode != 0
    message = result.stderr.decode()
    assert "mlsidecar.io/" + flag in message, message
    assert result.stdout == b""


def test_a_queue_without_a_limit_is_refused_naming_the_rule():
    result = inject({"mlsidecar.io/queue-depth": "4"})
    assert result.returncode != 0
    assert "--queue-depth needs --container-concurrency" in result.stderr.decode()
