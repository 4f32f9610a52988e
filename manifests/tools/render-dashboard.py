#!/usr/bin/python3
"""Renders mlsidecar's Grafana dashboard (manifests/monitoring/grafana/mlsidecar-dashboard.json).

The dashboard is written here as a compact list of rows and panels, and expanded into
provisioning-ready Grafana JSON (schemaVersion 39, datasource chosen by a variable, fixed uid).
With --check it writes nothing and exits 1 when the JSON file is out of date; with --queries it
prints every query as JSON lines ({"panel", "expr", "instant", "external"}) for the checks.

Variables: datasource, namespace, model, version (of the chosen models), pod (pods of the chosen
models) and deployment (for the kube-state-metrics replica panel). Metrics without a model label
are filtered by pod; the drift panels of the version row find a pod's version in
mlsidecar_build_info{model_version}.
"""
import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "manifests" / "monitoring" / "grafana" / "mlsidecar-dashboard.json"
VERSION = "0.1.0"

DS = {"type": "prometheus", "uid": "${datasource}"}
# Label filters: M for series with model and version labels, P for the others.
M = 'job="mlsidecar", namespace=~"$namespace", model=~"$model", version=~"$version", pod=~"$pod"'
P = 'job="mlsidecar", namespace=~"$namespace", pod=~"$pod"'
# mlsidecar_build_info of the chosen pods, models and versions (its `version` is mlsidecar's own).
BUILD = f'mlsidecar_build_info{{{P}, model=~"$model", model_version=~"$version"}}'
RI = "$__rate_interval"


def quantiles(family, flt, by=""):
    grouping = f"le, {by}" if by else "le"
    return [(f"histogram_quantile({q}, sum by ({grouping}) (rate({family}_bucket{{{flt}}}[{RI}])))",
             f"p{int(q * 100)}" + (f" {{{{{by}}}}}" if by else "")) for q in (0.5, 0.9, 0.99)]


# What every gRPC panel says: the same calls are in the request panels too.
GRPC_NOTE = ("gRPC calls relayed to --grpc-upstream, by mlsidecar_grpc_requests_total (grpc_code as gRPC "
             "names it). Every call is also counted in the request panels (mlsidecar_requests_total and "
             "the duration and size histograms: requests per second, error ratio, latency): ModelInfer "
             "and ModelStreamInfer as route \"infer\", health methods as route \"health\", the gRPC "
             "status mapped to an HTTP status class (OK 2xx, INVALID_ARGUMENT 4xx, CANCELLED 499 i.e. "
             "4xx, UNAVAILABLE 5xx, ...).")

VERSIONS_NOTE = ("One line per model version (the `version` label: the request path's version, else the "
                 "sidecar's --model-version, which injection sets from mlsidecar.io/model-version or an "
                 "Argo Rollout's rollouts-pod-template-hash). The canary gates of manifests/canary compare "
                 "the same numbers.")
SHADOW_NOTE = ("Shadow traffic (--shadow-upstream): the share of compared request pairs whose status "
               "classes agree, and per output the share whose label or argmax agrees; `version` is the "
               "shadow's version (--shadow-version), not filtered by the version variable. Empty without "
               "a shadow.")

# (title, [panels]); a panel: dict(title, kind, unit, description, targets=[(expr, legend)], ...).
ROWS = [
    ("Traffic and errors", [
        dict(title="Requests per second by route and status", unit="reqps", targets=[
            (f"sum by (route, code) (rate(mlsidecar_requests_total{{{M}}}[{RI}]))", "{{route}} {{code}}")]),
        dict(title="Error ratio (5xx share of non-health requests)", unit="percentunit", targets=[
            (f'sum(rate(mlsidecar_requests_total{{{M}, route!="health", code="5xx"}}[{RI}]))\n/\n'
             f'sum(rate(mlsidecar_requests_total{{{M}, route!="health"}}[{RI}]))', "5xx ratio")]),
        dict(title="Shed requests per second by reason", unit="reqps", targets=[
            (f"sum by (reason) (rate(mlsidecar_shed_requests_total{{{P}}}[{RI}]))", "{{reason}}")]),
        dict(title="Upstream errors per second by kind", unit="reqps", targets=[
            (f"sum by (kind) (rate(mlsidecar_upstream_errors_total{{{P}}}[{RI}]))", "{{kind}}")]),
    ]),
    ("gRPC", [
        dict(title="gRPC calls per second by method and code", unit="reqps", description=GRPC_NOTE, targets=[
            (f"sum by (grpc_method, grpc_code) (rate(mlsidecar_grpc_requests_total{{{M}}}[{RI}]))",
             "{{grpc_method}} {{grpc_code}}")]),
        dict(title="gRPC error ratio by code (non-OK share of calls)", unit="percentunit",
             description=GRPC_NOTE, targets=[
            (f'sum by (model, grpc_code) (rate(mlsidecar_grpc_requests_total{{{M}, grpc_code!="OK"}}[{RI}]))\n'
             f"/ on (model) group_left\n"
             f"sum by (model) (rate(mlsidecar_grpc_requests_total{{{M}}}[{RI}]))", "{{model}} {{grpc_code}}")]),
    ]),
    ("Latency", [
        dict(title="Request duration (client view)", unit="s",
             targets=quantiles("mlsidecar_request_duration_seconds", M)),
        dict(title="Upstream duration (model's own time)", unit="s",
             targets=quantiles("mlsidecar_upstream_duration_seconds", M)),
        dict(title="Time to first byte", unit="s",
             targets=quantiles("mlsidecar_time_to_first_byte_seconds", M)),
    ]),
    ("Concurrency and autoscaling", [
        dict(title="In flight and queued", unit="short", targets=[
            (f"sum by (pod) (mlsidecar_inflight_requests{{{P}}})", "in flight {{pod}}"),
            (f"sum by (pod) (mlsidecar_queued_requests{{{P}}})", "queued {{pod}}")]),
        dict(title="Average concurrency (time-weighted)", unit="short", targets=[
            (f"sum by (pod) (mlsidecar_concurrency_average{{{P}}})", "{{pod}}")]),
        dict(title="Load ratio against target (1.0)", unit="short", target_line=1, targets=[
            (f"max by (pod) (mlsidecar_autoscale_load_ratio{{{P}}})", "{{pod}}"),
            (f"avg(max by (pod) (mlsidecar_autoscale_load_ratio{{{P}}}))", "average (what the HPA sees)")]),
        dict(title="Replicas", unit="short", targets=[
            (f"count(mlsidecar_build_info{{{P}}})", "sidecars scraped"),
            ('sum(kube_deployment_spec_replicas{namespace=~"$namespace", deployment=~"$deployment"})',
             "desired (spec)", True),
            ('sum(kube_deployment_status_replicas_available{namespace=~"$namespace", deployment=~"$deployment"})',
             "available", True),
            ('sum(kube_horizontalpodautoscaler_status_desired_replicas{namespace=~"$namespace", '
             'horizontalpodautoscaler=~"$deployment|keda-hpa-$deployment"})', "HPA desired", True)]),
    ]),
    ("Drift", [
        dict(title="PSI per feature (worst pod)", unit="short", target_line=0.2, targets=[
            (f"max by (feature, direction) (mlsidecar_drift_psi{{{P}}})", "{{feature}} ({{direction}})")]),
        dict(title="Fleet PSI per feature (all pods, last hour)", unit="short", target_line=0.2, targets=[
            ('mlsidecar:fleet_drift_psi:increase1h{namespace=~"$namespace"}\n'
             f'and on (namespace, app)\nmlsidecar_build_info{{{P}}}', "{{feature}} ({{direction}})")]),
        dict(title="Current drift per feature", kind="table", width=24, targets=[
            (f"max by (feature, direction) (mlsidecar_drift_psi{{{P}}})", "PSI"),
            (f"max by (feature, direction) (mlsidecar_drift_js_distance{{{P}}})", "JS distance"),
            (f"max by (feature, direction) (mlsidecar_drift_ks_statistic{{{P}}})", "KS statistic"),
            (f"max by (feature, direction) (mlsidecar_drift_wasserstein{{{P}}})", "Wasserstein"),
            (f"min by (feature, direction) (mlsidecar_drift_chi2_pvalue{{{P}}})", "chi2 p-value"),
            (f"sum by (feature, direction) (mlsidecar_drift_window_samples{{{P}}})", "window samples"),
            (f"sum by (feature, direction) (increase(mlsidecar_feature_missing_total{{{P}}}[1h]))",
             "missing (1h)")]),
    ]),
    ("Versions side by side", [
        dict(title="Error ratio by version (5xx share of non-health requests)", unit="percentunit",
             description=VERSIONS_NOTE, targets=[
            (f'sum by (version) (rate(mlsidecar_requests_total{{{M}, route!="health", code="5xx"}}[{RI}]))\n/\n'
             f'sum by (version) (rate(mlsidecar_requests_total{{{M}, route!="health"}}[{RI}]))', "{{version}}")]),
        dict(title="Request latency p50 and p99 by version", unit="s", description=VERSIONS_NOTE, targets=[
            (f"histogram_quantile({q}, sum by (le, version) (rate(mlsidecar_request_duration_seconds_bucket"
             f'{{{M}, route!="health"}}[{RI}])))', f"p{int(q * 100)} {{{{version}}}}") for q in (0.5, 0.99)]),
        dict(title="Time to first token p50 and p99 by version", unit="s", description=VERSIONS_NOTE, targets=[
            (f"histogram_quantile({q}, sum by (le, version) (rate(mlsidecar_time_to_first_token_seconds_bucket"
             f"{{{M}}}[{RI}])))", f"p{int(q * 100)} {{{{version}}}}") for q in (0.5, 0.99)]),
        dict(title="Output tokens per second by version", unit="short", description=VERSIONS_NOTE, targets=[
            (f"sum by (version) (rate(mlsidecar_output_tokens_total{{{M}}}[{RI}]))", "{{version}}")]),
        dict(title="Worst drift (PSI) by version", unit="short", target_line=0.2,
             description="The largest PSI of any feature, input or output, in the pods of each version. "
                         "Drift series have no version label: the pod's mlsidecar_build_info{model_version} "
                         "gives it.", targets=[
            (f"max by (model_version) (\n  mlsidecar_drift_psi{{{P}}}\n  * on (namespace, pod) group_left (model_version)\n"
             f"  {BUILD}\n)", "{{model_version}}")]),
        dict(title="Shadow agreement by shadow version", unit="percentunit", description=SHADOW_NOTE, targets=[
            (f"sum by (version) (rate(mlsidecar_shadow_status_matches_total{{{P}}}[{RI}]))\n/\n"
             f"sum by (version) (rate(mlsidecar_shadow_compared_total{{{P}}}[{RI}]))", "status {{version}}"),
            (f"sum by (version, output) (rate(mlsidecar_shadow_output_matches_total{{{P}}}[{RI}]))\n/\n"
             f"sum by (version, output) (rate(mlsidecar_shadow_output_compared_total{{{P}}}[{RI}]))",
             "{{output}} {{version}}")]),
    ]),
    ("LLM streams", [
        dict(title="Time to first token", unit="s",
             targets=quantiles("mlsidecar_time_to_first_token_seconds", M)),
        dict(title="Time per output token", unit="s",
             targets=quantiles("mlsidecar_time_per_output_token_seconds", M)),
        dict(title="Tokens per second", unit="short", targets=[
            (f"sum(rate(mlsidecar_output_tokens_total{{{M}}}[{RI}]))", "output"),
            (f"sum(rate(mlsidecar_prompt_tokens_total{{{M}}}[{RI}]))", "prompt")]),
        dict(title="Output tokens per request", unit="short",
             targets=quantiles("mlsidecar_request_output_tokens", M)),
        dict(title="Finish reasons per second", unit="reqps", targets=[
            (f"sum by (reason) (rate(mlsidecar_finish_reason_total{{{M}}}[{RI}]))", "{{reason}}")]),
        dict(title="Aborted streams per second", unit="reqps", targets=[
            (f"sum by (by) (rate(mlsidecar_stream_aborted_total{{{M}}}[{RI}]))", "by {{by}}")]),
    ]),
]


def variable(name, label, query, include_all=True):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "definition": query, "query": {"query": query, "refId": f"var-{name}"},
        "refresh": 2, "sort": 1, "multi": True, "includeAll": include_all, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [],
    }


def panel(spec, pid, x, y, w, h):
    refs = "ABCDEFGHIJKLMNOP"
    targets = []
    for i, t in enumerate(spec["targets"]):
        expr, legend = t[0], t[1]
        target = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": refs[i], "range": True}
        if spec.get("kind") == "table":
            target.update(instant=True, range=False, format="table")
        targets.append(target)
    p = {"id": pid, "type": spec.get("kind", "timeseries"), "title": spec["title"], "datasource": DS,
         "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
         "fieldConfig": {"defaults": {"unit": spec.get("unit", "short")}, "overrides": []},
         "options": {}}
    if "description" in spec:
        p["description"] = spec["description"]
    if spec.get("kind") == "table":
        # One row per (feature, direction), one column per statistic.
        p["transformations"] = [{"id": "merge", "options": {}},
                                {"id": "organize", "options": {"excludeByName": {"Time": True}}}]
        p["options"] = {"showHeader": True, "sortBy": [{"displayName": "Value #A", "desc": True}]}
    else:
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
        if "target_line" in spec:
            p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": [
                {"color": "green", "value": None}, {"color": "red", "value": spec["target_line"]}]}
            p["fieldConfig"]["defaults"]["custom"] = {"thresholdsStyle": {"mode": "line+area"}}
    return p


def dashboard():
    panels, pid, y = [], 1, 0
    for title, specs in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False, "panels": [],
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
        pid, y, x = pid + 1, y + 1, 0
        for spec in specs:
            w = spec.get("width", 8 if len(specs) % 3 == 0 else 12)
            if x + w > 24:
                x, y = 0, y + 8
            panels.append(panel(spec, pid, x, y, w, 8))
            pid, x = pid + 1, x + w
        y += 8
    return {
        "uid": "mlsidecar", "title": "mlsidecar", "description":
            f"mlsidecar {VERSION}: traffic (HTTP and gRPC), latency, autoscaling signal, drift and LLM "
            "streams of models behind the sidecar, and model versions side by side. Generated by "
            "manifests/tools/render-dashboard.py.",
        "tags": ["mlsidecar", "ml", "inference"], "editable": True, "schemaVersion": 39, "version": 1,
        "time": {"from": "now-3h", "to": "now"}, "refresh": "30s", "timezone": "browser",
        "graphTooltip": 1, "links": [], "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "options": [], "refresh": 1, "regex": ""},
            variable("namespace", "Namespace", 'label_values(mlsidecar_build_info{job="mlsidecar"}, namespace)'),
            # The models the requests name (a Triton pod may serve several; the sidecar's own --model
            # labels only requests that name none), so every request panel has the chosen model.
            variable("model", "Model", 'label_values(mlsidecar_requests_total{job="mlsidecar", namespace=~"$namespace"}, model)'),
            # The versions of the chosen models, for the version row (and every panel with a model).
            variable("version", "Version",
                     'label_values(mlsidecar_requests_total{job="mlsidecar", namespace=~"$namespace", model=~"$model"}, version)'),
            variable("pod", "Pod", 'label_values(mlsidecar_build_info{job="mlsidecar", namespace=~"$namespace"}, pod)'),
            variable("deployment", "Deployment (replicas panel)",
                     'label_values(kube_deployment_spec_replicas{namespace=~"$namespace"}, deployment)'),
        ]},
        "panels": panels,
    }


def queries():
    """Every query of the dashboard: panel targets and variable queries."""
    for title, specs in ROWS:
        for spec in specs:
            for t in spec["targets"]:
                yield {"panel": spec["title"], "expr": t[0], "instant": spec.get("kind") == "table",
                       "external": len(t) > 2 and t[2]}
    for v in dashboard()["templating"]["list"][1:]:
        q = v["definition"]
        inner = q[len("label_values("):q.rindex(",")]
        yield {"panel": f"variable {v['name']}", "expr": inner, "instant": True,
               "external": "kube_" in inner}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the JSON file is out of date")
    ap.add_argument("--queries", action="store_true", help="print every query as a JSON line")
    args = ap.parse_args()
    if args.queries:
        for q in queries():
            print(json.dumps(q))
        return 0
    text = json.dumps(dashboard(), indent=2) + "\n"
    current = OUT.read_text() if OUT.exists() else None
    if args.check:
        if current != text:
            print(f"render-dashboard: {OUT.relative_to(ROOT)} is out of date; run manifests/tools/render-dashboard.py",
                  file=sys.stderr)
            return 1
        return 0
    if current != text:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text)
        print(f"render-dashboard: wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
