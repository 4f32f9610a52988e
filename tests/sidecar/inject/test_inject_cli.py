"""`mlsidecar inject`/`uninject` end to end: golden files per kind, idempotency, round trip,
schema validation with kubernetes-models, parsing with PyYAML (not the writer's parser), errors.

Set MLSIDECAR_UPDATE_GOLDEN=1 to rewrite the .out.yaml/.report files (then review the diff)."""
import os

import pytest
import yaml

from conftest import GOLDEN, node, run

CASES = sorted(p.name[: -len(".in.yaml")] for p in GOLDEN.glob("*.in.yaml"))


def extra_args(case):
    args_file = GOLDEN / f"{case}.args"
    return args_file.read_text().split() if args_file.exists() else []


def inject(case):
    return run("inject", "-f", str(GOLDEN / f"{case}.in.yaml"), *extra_args(case))


def load_all(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    result = inject(case)
    assert result.returncode == 0, result.stderr.decode()
    out_file, report_file = GOLDEN / f"{case}.out.yaml", GOLDEN / f"{case}.report"
    if os.environ.get("MLSIDECAR_UPDATE_GOLDEN") == "1":
        out_file.write_bytes(result.stdout)
        report_file.write_bytes(result.stderr)
    assert result.stdout.decode() == out_file.read_text()
    assert result.stderr.decode() == report_file.read_text()


@pytest.mark.parametrize("case", CASES)
def test_inject_twice_is_byte_identical(case):
    once = (GOLDEN / f"{case}.out.yaml").read_bytes()
    twice = run("inject", "-f", "-", *extra_args(case), stdin=once)
    assert twice.returncode == 0, twice.stderr.decode()
    assert twice.stdout == once


@pytest.mark.parametrize("case", CASES)
def test_uninject_gives_the_input_back(case):
    source = (GOLDEN / f"{case}.in.yaml").read_bytes()
    back = run("uninject", "-f", "-", stdin=(GOLDEN / f"{case}.out.yaml").read_bytes())
    assert back.returncode == 0, back.stderr.decode()
    # Same values as the hand-written input, read by an independent parser...
    assert load_all(back.stdout) == load_all(source)
    # ...and byte for byte the input as the tool writes it (comments and spelling normalised).
    canonical = run("uninject", "-f", "-", stdin=source)
    assert back.stdout == canonical.stdout
    # Canonical input round-trips byte for byte.
    again = run("uninject", "-f", "-",
                stdin=run("inject", "-f", "-", *extra_args(case), stdin=canonical.stdout).stdout)
    assert again.stdout == canonical.stdout


def test_every_output_validates_against_kubernetes_schemas():
    objects = []
    for case in CASES:
        for doc in load_all((GOLDEN / f"{case}.out.yaml").read_text()):
            objects.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    result = node("validate.js", objects)
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert sum(line.startswith("valid ") for line in lines) >= len(CASES)
    assert lines.count("unchecked ModelRoute/fraud") == 1  # the CRD, which has no schema here


def test_schema_validation_can_fail():
    doc = load_all((GOLDEN / "deployment.out.yaml").read_text())[0]
    doc["spec"]["template"]["spec"]["initContainers"][0]["ports"][0]["containerPort"] = "8081"
    assert node("validate.js", [doc]).returncode == 1


def sidecar_of(pod_spec):
    for c in pod_spec.get("initContainers", []) + pod_spec["containers"]:
        if c["name"] == "mlsidecar":
            return c
    raise AssertionError("no sidecar")


def flag(container, name):
    args = container["args"]
    return args[args.index(name) + 1] if name in args else None


def test_deployment_sidecar_wiring_and_service_repointed():
    deployment, service = load_all((GOLDEN / "deployment.out.yaml").read_text())
    source, _ = load_all((GOLDEN / "deployment.in.yaml").read_text())
    pod = deployment["spec"]["template"]
    side = sidecar_of(pod["spec"])
    assert side["restartPolicy"] == "Always"
    assert side["args"][0] == "serve"
    assert flag(side, "--upstream") == "127.0.0.1:8080"
    assert flag(side, "--listen") == "0.0.0.0:8081"  # 8080 belongs to the model
    assert flag(side, "--ready-path") == "/health"
    assert flag(side, "--model") == "llama-3.1-8b-instruct"
    assert flag(side, "--model-version") == "v0.6.3"
    assert flag(side, "--container-concurrency") == "8"
    assert side["resources"]["limits"]["memory"] == "512Mi"
    assert service["spec"]["ports"][0]["targetPort"] == "mlsidecar-http"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9090"
    # Types kept: the quoted "8080" argument and the "off" env value are still strings.
    model = pod["spec"]["containers"][0]
    assert model["args"][-1] == "8080"
    assert model["env"][2]["value"] == "off"
    model.pop("lifecycle")
    assert model == source["spec"]["template"]["spec"]["containers"][0]


def test_collision_with_admin_port_moves_the_sidecar():
    (daemonset,) = load_all((GOLDEN / "daemonset.out.yaml").read_text())
    side = sidecar_of(daemonset["spec"]["template"]["spec"])
    assert flag(side, "--upstream") == "127.0.0.1:9090"
    assert flag(side, "--admin") == "0.0.0.0:9091"
    assert flag(side, "--model-version") == "2"


def test_passthrough_documents_are_unchanged():
    source = load_all((GOLDEN / "multidoc-crd.in.yaml").read_text())
    output = load_all((GOLDEN / "multidoc-crd.out.yaml").read_text())
    assert output[0] == source[0] and output[1] == source[1]
    assert output[0]["spec"]["version"] == "1.10"


@pytest.mark.parametrize("case,reason", [("optout", "opted out"), ("hostnetwork", "hostNetwork")])
def test_skips_leave_the_manifest_alone(case, reason):
    result = inject(case)
    assert result.returncode == 0
    assert reason in result.stderr.decode()
    assert load_all(result.stdout) == load_all((GOLDEN / f"{case}.in.yaml").read_text())


def test_nonnative_mode_makes_an_ordinary_first_container():
    for case in ("pod-nonnative", "flag-nonnative"):
        (pod,) = load_all((GOLDEN / f"{case}.out.yaml").read_text())
        assert pod["spec"]["containers"][0]["name"] == "mlsidecar"
        assert "restartPolicy" not in pod["spec"]["containers"][0]
        # Only the capture's init container, which runs to completion before the others.
        assert [c["name"] for c in pod["spec"]["initContainers"]] == ["mlsidecar-capture"]
        assert pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] != "mlsidecar"


def test_malformed_yaml_is_one_line_naming_the_document_and_nothing_on_stdout():
    text = (GOLDEN / "job.in.yaml").read_text() + "---\nkind: Pod\nspec: [unclosed\n"
    result = run("inject", "-f", "-", stdin=text.encode())
    assert result.returncode != 0
    assert result.stdout == b""
    message = result.stderr.decode().strip()
    assert "\n" not in message and "document 2" in message


def test_unusable_object_is_an_error_naming_it():
    text = (GOLDEN / "job.in.yaml").read_text().replace(
        "      labels:\n", "      annotations:\n        mlsidecar.io/model-container: nope\n      labels:\n")
    result = run("inject", "-f", "-", stdin=text.encode())
    assert result.returncode == 1
    assert result.stdout == b""
    assert "Job/nightly-scoring" in result.stderr.decode()
    assert "model-container" in result.stderr.decode()


def test_bad_usage_exits_2():
    assert run("inject").returncode == 2
    assert run("inject", "-f", "x.yaml", "--data-port", "http").returncode == 2


# Shaped like GKE's vLLM example, trimmed to what injection reads: no containerPort, no probe; the
# port only in the Service's numeric targetPort (and, in the second case, in the args).
GKE_STYLE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm-gemma-deployment}
spec:
  selector: {matchLabels: {app: gemma-server}}
  template:
    metadata:
      labels: {app: gemma-server}
    spec:
      containers:
      - name: inference-server
        image: us-docker.pkg.dev/vertex-ai/vllm-serve:20250312_0916_RC01
        args: [%s]
---
apiVersion: v1
kind: Service
metadata: {name: llm-service}
spec:
  selector: {app: gemma-server}
  ports:
  - {protocol: TCP, port: 8000, targetPort: 8000}
"""


@pytest.mark.parametrize("args,source", [
    ('"--model=$(MODEL_ID)"', "Service"),
    ('"--model=$(MODEL_ID)", "--port=8000"', "args"),
])
def test_a_model_without_a_declared_port_is_found_and_captured(args, source):
    result = run("inject", "-f", "-", stdin=(GKE_STYLE % args).encode())
    assert result.returncode == 0, result.stderr.decode()
    report = result.stderr.decode()
    assert "port 8000 (from %s)" % source in report, report
    assert "capture redirect" in report
    deployment, service = load_all(result.stdout)
    spec = deployment["spec"]["template"]["spec"]
    capture = spec["initContainers"][0]
    assert capture["name"] == "mlsidecar-capture"
    assert capture["args"][:3] == ["capture-init", "--model-port", "8000"]
    sidecar = spec["initContainers"][1]
    assert sidecar["args"][sidecar["args"].index("--model") + 1] == "gemma-server"
    assert sidecar["args"][sidecar["args"].index("--model-version") + 1] == "20250312_0916_RC01"
    # The Service is left as it is: the redirect captures its traffic inside the pod.
    assert service["spec"]["ports"][0]["targetPort"] == 8000
