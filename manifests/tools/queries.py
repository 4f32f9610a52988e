#!/usr/bin/python3
"""Every PromQL query mlsidecar ships, in one list, for the checks and the end-to-end test.

  queries.py [--rate-interval 1m] [--namespace RE] [--keda RENDERED.yaml]   -> JSON lines

Each line: {"source", "expr", "records", "instant", "external", "grpc", "canary", "shadow"}:
  source    where the query lives (file and rule, panel or trigger)
  expr      the query with dashboard variables and adapter templates filled in
  records   the recording rule's name, for rules that record
  external  the query needs metrics from outside mlsidecar (kube-state-metrics)
  grpc      the query reads mlsidecar_grpc_requests_total, which only gRPC calls feed: no data for
            pods whose traffic is HTTP only (the gRPC panels of the dashboard)
  canary    a canary analysis query (Argo Rollouts AnalysisTemplate, Flagger MetricTemplate), its
            arguments filled in with placeholders: tests/manifests/test_canary.py runs them with
            real versions
  shadow    the query reads mlsidecar_shadow_* families, which only a sidecar with
            --shadow-upstream has
Sources: manifests/rules/mlsidecar.rules.yaml, the Grafana dashboard, the prometheus-adapter
rules, the KEDA ScaledObject (from a rendered overlay, or the keda overlay rendered with kubectl)
and the canary templates of manifests/canary.
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
RULES = MANIFESTS / "rules" / "mlsidecar.rules.yaml"
ADAPTER = MANIFESTS / "overlays" / "hpa-adapter" / "prometheus-adapter-rules.yaml"
HPA = MANIFESTS / "overlays" / "hpa-adapter" / "hpa.yaml"
KEDA = MANIFESTS / "overlays" / "keda" / "scaledobject.yaml"
GRPC_FAMILY = "mlsidecar_grpc_requests_total"
ARGO_TEMPLATE = MANIFESTS / "canary" / "argo-rollouts" / "analysistemplate.yaml"
FLAGGER_TEMPLATES = MANIFESTS / "canary" / "flagger" / "metrictemplate.yaml"
FLAGGER_CANARY = MANIFESTS / "canary" / "flagger" / "canary-example.yaml"
SHADOW_PREFIX = "mlsidecar_shadow_"


def reads_grpc(expr):
    """Whether a query reads the counter that only gRPC calls feed."""
    return GRPC_FAMILY in expr


def reads_shadow(expr):
    """Whether a query reads the families that only shadow traffic feeds."""
    return SHADOW_PREFIX in expr


def _fill(text, values, pattern, what):
    """Replaces every {{ KEY }} that `pattern` (a regex with one group, the key) matches."""
    def one(m):
        key = m.group(1)
        if key not in values:
            raise KeyError(f"{what}: no value for {m.group(0)}")
        return str(values[key])
    return re.sub(pattern, one, text)


def argo_metrics(args):
    """The AnalysisTemplate's metrics as Argo Rollouts resolves them for these arguments (the
    template's own `value`s are the defaults): [{name, query, address, successCondition,
    failureCondition}]. An argument without a value is an error, as in Argo."""
    spec = yaml.safe_load(ARGO_TEMPLATE.read_text())["spec"]
    values = {a["name"]: a["value"] for a in spec.get("args", []) if "value" in a}
    values.update(args)
    out = []
    for m in spec["metrics"]:
        prom = m["provider"]["prometheus"]
        fill = lambda t: _fill(t, values, r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}", m["name"])
        out.append({"name": m["name"], "query": fill(prom["query"]), "address": fill(prom["address"]),
                    "successCondition": m.get("successCondition"),
                    "failureCondition": m.get("failureCondition")})
    return out


def flagger_templates():
    """{name: MetricTemplate} of manifests/canary/flagger."""
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(FLAGGER_TEMPLATES.read_text()) if d}


def flagger_metrics(namespace, target, interval, canary=None):
    """The Canary example's metrics with their MetricTemplate's query as Flagger renders it
    ({{ namespace }}, {{ target }}, {{ interval }}, {{ variables.X }}): [{name, template, query,
    thresholdRange}]. `canary` replaces the example Canary (a dict), e.g. with other variables."""
    templates = flagger_templates()
    canary = canary or yaml.safe_load(FLAGGER_CANARY.read_text())
    out = []
    for m in canary["spec"]["analysis"]["metrics"]:
        t = templates[m["templateRef"]["name"]]
        values = {"namespace": namespace, "target": target, "interval": m.get("interval", interval),
                  **{f"variables.{k}": v for k, v in m.get("templateVariables", {}).items()}}
        query = _fill(t["spec"]["query"], values, r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}", t["metadata"]["name"])
        out.append({"name": m["name"], "template": t["metadata"]["name"], "query": query,
                    "thresholdRange": m["thresholdRange"]})
    return out


def canary_queries():
    """The canary templates' queries with placeholder arguments, for the parse and name checks."""
    for m in argo_metrics({"namespace": "ns", "app": "app", "canary-version": "canary",
                           "stable-version": "stable"}):
        yield {"source": f"canary/argo-rollouts/{m['name']}", "expr": m["query"], "records": None,
               "instant": True, "external": False, "grpc": False, "canary": True}
    for m in flagger_metrics("ns", "app", "1m"):
        yield {"source": f"canary/flagger/{m['template']}", "expr": m["query"], "records": None,
               "instant": True, "external": False, "grpc": False, "canary": True}


def rule_queries():
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            name = rule.get("record") or rule.get("alert")
            yield {"source": f"rules/{group['name']}/{name}", "expr": rule["expr"],
                   "records": rule.get("record"), "instant": True,
                   "external": "kube_" in rule["expr"], "grpc": reads_grpc(rule["expr"])}


def dashboard_queries(rate_interval, namespace):
    out = subprocess.run([sys.executable, str(MANIFESTS / "tools" / "render-dashboard.py"), "--queries"],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        q = json.loads(line)
        expr = (q["expr"].replace("$__rate_interval", rate_interval).replace("$namespace", namespace)
                .replace("$model", ".+").replace("$version", ".*").replace("$pod", ".+")
                .replace("$deployment", ".+"))
        yield {"source": f"dashboard/{q['panel']}", "expr": expr, "records": None,
               "instant": q["instant"], "external": q["external"], "grpc": reads_grpc(expr)}


def adapter_rules():
    return yaml.safe_load(ADAPTER.read_text())["rules"]


def adapter_queries(namespace):
    """The adapter's queries as it sends them for `kubectl get --raw` of one namespace's pods."""
    for i, rule in enumerate(adapter_rules()):
        metric = rule["name"]["as"]
        yield {"source": f"prometheus-adapter/{metric}/seriesQuery", "expr": rule["seriesQuery"],
               "records": None, "instant": True, "external": False, "grpc": reads_grpc(rule["seriesQuery"])}
        series = rule["seriesQuery"].split("{", 1)[0].strip()
        expr = (rule["metricsQuery"].replace("<<.Series>>", series)
                .replace("<<.LabelMatchers>>", f'namespace=~"{namespace}",pod=~".+"')
                .replace("<<.GroupBy>>", "pod"))
        yield {"source": f"prometheus-adapter/{metric}/metricsQuery", "expr": expr, "records": None,
               "instant": True, "external": False, "grpc": reads_grpc(expr)}


def keda_queries(rendered=None):
    """From a rendered overlay, or else the keda overlay rendered here (its query is filled in by
    kustomize replacements)."""
    if rendered:
        text = pathlib.Path(rendered).read_text()
    else:
        text = subprocess.run(["kubectl", "kustomize", str(KEDA.parent)], check=True,
                              capture_output=True, text=True).stdout
    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        if not doc or doc.get("kind") != "ScaledObject":
            continue
        for i, trig in enumerate(doc["spec"]["triggers"]):
            if trig["type"] == "prometheus":
                expr = trig["metadata"]["query"]
                yield {"source": f"keda/{doc['metadata']['name']}/trigger{i}", "expr": expr,
                       "records": None, "instant": True, "external": False, "grpc": reads_grpc(expr)}


def hpa_metric_names():
    hpa = yaml.safe_load(HPA.read_text())
    return [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]


def all_queries(rate_interval="1m", namespace=".*", keda=None):
    for q in (*rule_queries(), *dashboard_queries(rate_interval, namespace), *adapter_queries(namespace),
              *keda_queries(keda), *canary_queries()):
        yield {"canary": False, **q, "shadow": reads_shadow(q["expr"])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate-interval", default="1m")
    ap.add_argument("--namespace", default=".*")
    ap.add_argument("--keda", help="rendered keda overlay (default: the overlay's scaledobject.yaml)")
    args = ap.parse_args()
    for q in all_queries(args.rate_interval, args.namespace, args.keda):
        print(json.dumps(q))
    return 0


if __name__ == "__main__":
    sys.exit(main())
