"""`mlsidecar autoscale` and the KEDA overlay: autoscalers that target the right workload and whose
queries select its series.

What a user checks before applying the output: it validates against the KEDA and autoscaling/v2
schemas (manifests/tools/validate.mjs, unknown fields included); the queries parse (promtool);
they name the workload's namespace and the app label the PodMonitor gives its series; the HPA asks
for a metric the shipped prometheus-adapter rules serve; bad input is refused with one line. That
the queries return series on a real Prometheus is checked in test_prometheus_e2e.py.
"""
import os
import pathlib
import re
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
TOOLS = MANIFESTS / "tools"
GOLDEN = ROOT / "tests" / "sidecar" / "inject" / "golden"


def binary():
    return os.environ.get("MLSIDECAR_BIN", str(ROOT / "build" / "sidecar" / "mlsidecar"))


def autoscale(*args, stdin=None):
    return subprocess.run([binary(), "autoscale", *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


def validate(tmp_path, text):
    path = tmp_path / "objects.yaml"
    path.write_text(text)
    subprocess.run(["bash", "-c", f'source <(sed -n "/^npm_tools()/,/^}}/p" {ROOT}/scripts/check-manifests); '
                    f'm={MANIFESTS}; npm_tools'], check=True, capture_output=True)
    out = subprocess.run(["node", str(TOOLS / "validate.mjs"), str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def promtool_parses(tmp_path, queries):
    rules = tmp_path / "q.rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": [
        {"record": f"check:q{i}:expr", "expr": q} for i, q in enumerate(queries)]}]}))
    out = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def adapter_served():
    rules = yaml.safe_load((MANIFESTS / "overlays" / "hpa-adapter" / "prometheus-adapter-rules.yaml").read_text())
    return {r["name"]["as"] for r in rules["rules"]}


GKE_VLLM = """apiVersion: apps/v1
kind: Deployment
metadata: {name: vllm-gemma-deployment, namespace: llm}
spec:
  selector: {matchLabels: {app: gemma-server}}
  template:
    metadata:
      labels: {app: gemma-server}
      annotations: {mlsidecar.io/target-output-tokens-per-second: "400"}
    spec:
      containers:
      - name: inference-server
        image: us-docker.pkg.dev/vertex-ai/vertex-vision-model-garden-dockers/pytorch-vllm-serve:20250312_0916_RC01
        args: ["--model=$(MODEL_ID)", "--port=8000"]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: triton}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: triton}}
  template:
    metadata: {labels: {app.kubernetes.io/name: triton}}
    spec:
      containers: [{name: triton, image: "nvcr.io/nvidia/tritonserver:24.08-py3", ports: [{containerPort: 8000}]}]
---
apiVersion: v1
kind: Service
metadata: {name: llm-service, namespace: llm}
spec: {selector: {app: gemma-server}, ports: [{port: 8000, targetPort: 8000}]}
"""


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("signal", ["load-ratio", "output-tokens"])
def test_keda_scaledobjects_validate_and_select_each_workload(tmp_path, signal):
    text = GKE_VLLM
    if signal == "output-tokens":  # each pod states its own token target
        text = text.replace("metadata: {labels: {app.kubernetes.io/name: triton}}",
                            "metadata: {labels: {app.kubernetes.io/name: triton}, "
                            "annotations: {mlsidecar.io/target-output-tokens-per-second: '250'}}")
    (tmp_path / "in.yaml").write_text(text)
    out = autoscale("-f", str(tmp_path / "in.yaml"), "--via", "keda", "--signal", signal,
                    "--namespace", "models", "--min-replicas", "2", "--max-replicas", "12")
    assert out.returncode == 0, out.stderr
    scaled = objects(out.stdout)
    # One per workload, none for the Service; the report says so, one line each.
    assert [o["kind"] for o in scaled] == ["ScaledObject", "ScaledObject"]
    assert len(out.stderr.strip().splitlines()) == 2, out.stderr
    vllm, triton = scaled
    assert vllm["metadata"] == {"name": "vllm-gemma-deployment", "namespace": "llm",
                                "labels": {"app.kubernetes.io/managed-by": "mlsidecar-autoscale"}}
    assert vllm["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "vllm-gemma-deployment"}
    assert triton["metadata"]["namespace"] == "models"  # --namespace for a workload without one
    assert triton["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    for o in scaled:
        assert (o["spec"]["minReplicaCount"], o["spec"]["maxReplicaCount"]) == (2, 12)
    queries = [o["spec"]["triggers"][0]["metadata"]["query"] for o in scaled]
    # The series the PodMonitor labels: the app label of a pod with only `app`, and the
    # recommended label of the other.
    assert 'namespace="llm",app="gemma-server"' in queries[0]
    assert 'namespace="models",app="triton"' in queries[1]
    if signal == "output-tokens":
        assert all("rate(mlsidecar_output_tokens_total{" in q for q in queries)
        # The target: the pod's own token target, else (no annotation, no --target) refused.
        assert vllm["spec"]["triggers"][0]["metadata"]["threshold"] == "400"
        assert triton["spec"]["triggers"][0]["metadata"]["threshold"] == "250"
    else:
        assert all("mlsidecar_autoscale_load_ratio{" in q for q in queries)
        assert all(o["spec"]["triggers"][0]["metadata"]["threshold"] == "1" for o in scaled)
    promtool_parses(tmp_path, queries)
    validate(tmp_path, out.stdout)


def test_output_tokens_without_a_target_is_refused_naming_what_to_set(tmp_path):
    (tmp_path / "in.yaml").write_text(GKE_VLLM)
    out = autoscale("-f", str(tmp_path / "in.yaml"), "--via", "keda", "--signal", "output-tokens", "-n", "m")
    assert out.returncode == 1 and out.stdout == ""
    assert "StatefulSet/triton: failed (--signal output-tokens needs --target" in out.stderr
    ok = autoscale("-f", str(tmp_path / "in.yaml"), "--via", "keda", "--signal", "output-tokens",
                   "-n", "m", "--target", "150.5")
    assert ok.returncode == 0, ok.stderr
    assert [o["spec"]["triggers"][0]["metadata"]["threshold"] for o in objects(ok.stdout)] == ["150.5"] * 2


@pytest.mark.parametrize("signal, metric", [("load-ratio", "mlsidecar_autoscale_load_ratio"),
                                            ("output-tokens", "mlsidecar_output_tokens_per_second")])
def test_hpa_asks_for_a_metric_the_adapter_serves(tmp_path, signal, metric):
    (tmp_path / "in.yaml").write_text(GKE_VLLM)
    out = autoscale("-f", str(tmp_path / "in.yaml"), "--via", "hpa-adapter", "--signal", signal,
                    "--target", "0.8")
    assert out.returncode == 0, out.stderr
    hpas = objects(out.stdout)
    assert [h["kind"] for h in hpas] == ["HorizontalPodAutoscaler"] * 2
    for h in hpas:
        m = h["spec"]["metrics"][0]["pods"]
        assert m["metric"]["name"] == metric and metric in adapter_served()
        assert m["target"] == {"type": "AverageValue", "averageValue": "800m"}
    # A Pods metric is asked for in the HPA's own namespace: none is needed for the triton one.
    assert "namespace" not in hpas[1]["metadata"]
    validate(tmp_path, out.stdout)


def test_an_injected_workload_is_selected_by_the_app_injection_recorded(tmp_path):
    # The golden deployment injected by `mlsidecar inject`: its app comes from the annotation.
    out = autoscale("-f", str(GOLDEN / "deployment.out.yaml"), "--via", "keda")
    assert out.returncode == 0, out.stderr
    (so,) = objects(out.stdout)
    injected = objects((GOLDEN / "deployment.out.yaml").read_text())[0]
    app = injected["spec"]["template"]["metadata"]["annotations"]["mlsidecar.io/app"]
    assert f'app="{app}"' in so["spec"]["triggers"][0]["metadata"]["query"]


@pytest.mark.parametrize("args, message", [
    (["--via", "keda"], "no namespace: KEDA's query must name it"),
    (["--via", "hpa"], "--via"),
    (["--via", "keda", "-n", "x", "--min-replicas", "5", "--max-replicas", "2"], "--min-replicas 5 is above --max-replicas 2"),
    ([], "--via is required"),
])
def test_bad_usage_is_one_line(tmp_path, args, message):
    (tmp_path / "d.yaml").write_text(GKE_VLLM.split("---")[1])
    out = autoscale("-f", str(tmp_path / "d.yaml"), *args)
    assert out.returncode in (1, 2) and out.stdout == ""
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_no_workload_in_the_input_is_an_error(tmp_path):
    (tmp_path / "s.yaml").write_text(GKE_VLLM.split("---")[2])
    out = autoscale("-f", str(tmp_path / "s.yaml"), "--via", "keda", "-n", "x")
    assert out.returncode == 1 and "no Deployment, StatefulSet or ReplicaSet" in out.stderr


def render(path):
    out = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return objects(out.stdout)


def keda_query(objs):
    (so,) = [o for o in objs if o["kind"] == "ScaledObject"]
    return so, so["spec"]["triggers"][0]["metadata"]["query"]


def test_keda_overlay_takes_namespace_and_app_from_the_deployment():
    objs = render(MANIFESTS / "overlays" / "keda")
    so, query = keda_query(objs)
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    ns = deployment["metadata"]["namespace"]
    app = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    assert so["metadata"]["namespace"] == ns
    assert so["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert f'namespace="{ns}",app="{app}"' in query
    assert "NAMESPACE" not in query and "APP" not in query


def test_keda_overlay_retargets_with_the_documented_replacements(tmp_path):
    """An overlay of a team on top of the KEDA overlay, with another namespace and name prefix and
    the replacements block copied as kustomization.yaml says: the ScaledObject follows."""
    text = (MANIFESTS / "overlays" / "keda" / "kustomization.yaml").read_text()
    block = text[text.index("replacements:"):].replace("name: example-model", "name: team-example-model")
    team = tmp_path / "team"
    team.mkdir()
    rel = os.path.relpath(MANIFESTS / "overlays" / "keda", team)
    (team / "kustomization.yaml").write_text(
        f"namespace: ml-team\nnamePrefix: team-\nresources:\n  - {rel}\n{block}")
    so, query = keda_query(render(team))
    assert so["metadata"]["namespace"] == "ml-team"
    assert so["spec"]["scaleTargetRef"]["name"] == "team-example-model"
    assert re.search(r'namespace="ml-team",app="example-model"', query), query
