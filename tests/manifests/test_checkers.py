"""The manifest checkers catch what they exist to catch.

scripts/check-manifests passes on the shipped manifests; these tests feed the same checkers
broken input (a misspelt field, a wrong type, an unknown kind, an unknown metric, a query that
does not parse, a stale generated file) and assert that each one fails and names the problem.
"""
import json
import pathlib
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOLS = ROOT / "manifests" / "tools"


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def tools():
    # The same install step as the check script (npm ci on first use).
    r = run("bash", "-c", f'source <(sed -n "/^npm_tools()/,/^}}/p" {ROOT}/scripts/check-manifests); '
                          f'm={ROOT}/manifests; fail() {{ echo "$*" >&2; exit 1; }}; need() {{ :; }}; npm_tools')
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def rendered_once():
    out = run("kubectl", "kustomize", str(ROOT / "manifests" / "overlays" / "hpa-adapter"))
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def rendered(rendered_once):
    """A fresh copy of the rendered hpa-adapter overlay for each test to break."""
    return list(yaml.safe_load_all(rendered_once))


def validate(tmp_path, docs):
    f = tmp_path / "objects.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    return run("node", str(TOOLS / "validate.mjs"), str(f))


def find(docs, kind):
    return next(d for d in docs if d["kind"] == kind)


def test_shipped_overlay_is_valid(tools, rendered, tmp_path):
    r = validate(tmp_path, rendered)
    assert r.returncode == 0, r.stderr
    assert f"{len(rendered)} objects, 0 problems" in r.stdout


def test_misspelt_nested_field_is_rejected(tools, rendered, tmp_path):
    sidecar = find(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][1]
    sidecar["readinesProbe"] = sidecar.pop("readinessProbe")
    r = validate(tmp_path, rendered)
    assert r.returncode == 1
    assert "Deployment/example-model" in r.stderr and "readinesProbe" in r.stderr


def test_wrong_type_is_rejected(tools, rendered, tmp_path):
    find(rendered, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] = "twenty"
    r = validate(tmp_path, rendered)
    assert r.returncode == 1
    assert "maxReplicas must be integer" in r.stderr


def test_crd_field_is_checked(tools, rendered, tmp_path):
    pm = find(rendered, "PodMonitor")
    pm["spec"]["podMetricsEndpoints"][0]["intervall"] = "15s"
    r = validate(tmp_path, rendered)
    assert r.returncode == 1
    assert "PodMonitor/mlsidecar" in r.stderr and "intervall" in r.stderr


def test_unknown_kind_is_an_error(tools, tmp_path):
    r = validate(tmp_path, [{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])
    assert r.returncode == 1
    assert "no schema for apiVersion example.com/v1" in r.stderr


def metric_check(tools, queries):
    lines = "".join(json.dumps(q) + "\n" for q in queries)
    return run("node", str(TOOLS / "metric-names.mjs"), str(ROOT / "manifests" / "metric-names.txt"), input=lines)


def test_metric_names_accept_contract_and_recorded_names(tools):
    r = metric_check(tools, [
        {"source": "a", "expr": "rate(mlsidecar_request_duration_seconds_bucket[5m])"},
        {"source": "b", "expr": "sum(x)", "records": "mlsidecar:x:sum"},
        {"source": "c", "expr": "mlsidecar:x:sum > 1"},
    ])
    # "sum(x)" names x, which is neither listed nor recorded.
    assert r.returncode == 1
    assert "b: unknown metric x" in r.stderr
    assert "unknown metric mlsidecar" not in r.stderr


def test_metric_names_reject_a_misnamed_metric(tools):
    r = metric_check(tools, [{"source": "panel", "expr": 'sum(rate(mlsidecar_request_total{code="5xx"}[5m]))'}])
    assert r.returncode == 1
    assert "panel: unknown metric mlsidecar_request_total" in r.stderr


def test_metric_names_reject_unparsable_query(tools):
    r = metric_check(tools, [{"source": "panel", "expr": "sum(rate(mlsidecar_requests_total[5m])"}])
    assert r.returncode == 1
    assert "does not parse" in r.stderr


def test_stale_generated_rules_are_detected(tmp_path):
    copy = tmp_path / "repo"
    for sub in ("manifests/alert-policy.yaml", "manifests/tools/render-rules.py",
                "manifests/rules/mlsidecar.rules.yaml", "manifests/monitoring/prometheusrule.yaml"):
        (copy / sub).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / sub, copy / sub)
    script = copy / "manifests/tools/render-rules.py"
    assert run("/usr/bin/python3", str(script), "--check").returncode == 0
    policy = copy / "manifests/alert-policy.yaml"
    policy.write_text(policy.read_text().replace("threshold: 0.2\n", "threshold: 0.25\n", 1))
    r = run("/usr/bin/python3", str(script), "--check")
    assert r.returncode == 1
    assert "mlsidecar.rules.yaml is out of date" in r.stderr
