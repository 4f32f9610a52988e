#!/usr/bin/python3
"""Renders mlsidecar's recording and alerting rules from the alert policy.

Reads manifests/alert-policy.yaml (every threshold lives there) and writes
  manifests/rules/mlsidecar.rules.yaml   a plain Prometheus rule file
  manifests/monitoring/prometheusrule.yaml the same groups in a prometheus-operator PrometheusRule
With --check it writes nothing and exits 1 when either file differs from what it would write.

Rule names follow Prometheus' level:metric:operations convention. Every alert carries a
`severity` label and summary, description and runbook_url annotations; runbook_url points at
the section of docs/runbook.md named in RUNBOOK_SECTIONS.
"""
import argparse
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
POLICY = ROOT / "manifests" / "alert-policy.yaml"
RULE_FILE = ROOT / "manifests" / "rules" / "mlsidecar.rules.yaml"
PROMETHEUS_RULE = ROOT / "manifests" / "monitoring" / "prometheusrule.yaml"

# Alert name -> heading of its section in docs/runbook.md (one section may serve several alerts).
RUNBOOK_SECTIONS = {}

# Label matchers used in several rules.
NOT_HEALTH = 'route!="health"'
IS_5XX = 'code="5xx"'
GENERATE = 'route="generate"'
BY_MODEL = 'by="model"'
# A value for people: 0.35 rather than humanize's 350m.
VALUE3 = '{{ $value | printf "%.3g" }}'


def seconds(duration):
    """'90s', '5m', '1h', '3d' -> seconds."""
    m = re.fullmatch(r"(\d+)([smhdw])", duration)
    if not m:
        raise SystemExit(f"render-rules: bad duration {duration!r}")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def number(x):
    """A float as PromQL writes it: shortest form that round-trips, no trailing zeros."""
    return repr(round(float(x), 12)).removesuffix(".0")


def percent(x):
    return f"{float(x) * 100:g}%"


class Rules:
    """Builds the rule groups from one policy dict."""

    def __init__(self, policy):
        self.p = policy
        self.sel = policy["selector"]
        self.by = ", ".join(policy["group_by"])
        self.base_url = policy["runbook_base_url"]

    def sel_with(self, *matchers):
        return "{" + ", ".join([self.sel, *matchers]) + "}"

    def annotations(self, name, section, summary, description):
        RUNBOOK_SECTIONS[name] = section
        anchor = section.lower()
        return {"summary": summary, "description": description,
                "runbook_url": f"{self.base_url}#{anchor}"}

    def where(self):
        return "{{ $labels.namespace }}/{{ $labels.app }}"

    # ---- SLO error ratios -------------------------------------------------------------------

    def slo_ratio_expr(self, slo, window):
        o = self.p["slo"]["objectives"][slo]
        by = f"{self.by}, model"
        if slo == "availability":
            total = f'sum by ({by}) (rate(mlsidecar_requests_total{self.sel_with(NOT_HEALTH)}[{window}]))'
            bad = f'sum by ({by}) (rate(mlsidecar_requests_total{self.sel_with(NOT_HEALTH, IS_5XX)}[{window}]))'
            # With no 5xx series yet the ratio is 0, not absent.
            return f"({bad}\n  or\n{total} * 0)\n/\n{total}"
        if slo == "latency":
            fam, extra = "mlsidecar_request_duration_seconds", [f'route=~"{o["routes"]}"']
        elif slo == "ttft":
            fam, extra = "mlsidecar_time_to_first_token_seconds", []
        else:
            raise SystemExit(f"render-rules: unknown SLO {slo!r}")
        le = f'le="{o["threshold_seconds"]}"'
        good = f"sum by ({by}) (rate({fam}_bucket{self.sel_with(*extra, le)}[{window}]))"
        total = f"sum by ({by}) (rate({fam}_count{self.sel_with(*extra)}[{window}]))"
        return f"1 - (\n{good}\n/\n{total}\n)"

    def slo_groups(self):
        windows = sorted({w for b in self.p["slo"]["burn_rate_windows"] for w in (b["long"], b["short"])},
                         key=seconds)
        fast, slow = [], []
        for slo in self.p["slo"]["objectives"]:
            for w in windows:
                rule = {"record": f"mlsidecar:slo_{slo}_errors:ratio_rate{w}", "expr": self.slo_ratio_expr(slo, w)}
                (slow if seconds(w) >= 6 * 3600 else fast).append(rule)
        return [
            {"name": "mlsidecar-slo", "interval": self.p["interval"], "rules": fast},
            # Ratios over hours and days move slowly; evaluating them every 5m keeps their cost low.
            {"name": "mlsidecar-slo-slow", "interval": "5m", "rules": slow},
        ]

    def burn_alerts(self):
        out = []
        for slo, o in self.p["slo"]["objectives"].items():
            budget = 1 - float(o["objective"])
            camel = "".join(part.capitalize() for part in slo.split("_"))
            for b in self.p["slo"]["burn_rate_windows"]:
                limit = number(float(b["factor"]) * budget)
                name = f"Mlsidecar{camel}BudgetBurn{b['name']}"
                days_left = seconds(self.p["slo"]["period"]) / float(b["factor"]) / 86400
                out.append({
                    "alert": name,
                    "expr": (f"mlsidecar:slo_{slo}_errors:ratio_rate{b['long']} > {limit}\n"
                             f"and\nmlsidecar:slo_{slo}_errors:ratio_rate{b['short']} > {limit}"),
                    "for": b["for"],
                    "labels": {"severity": b["severity"], "slo": slo, "burn_window": b["long"]},
                    "annotations": self.annotations(
                        name, f"Mlsidecar{camel}BudgetBurn",
                        f"{o['title']} error budget of {self.where()} model {{{{ $labels.model }}}} burns "
                        f"{b['factor']}x too fast",
                        f"{{{{ $value | humanizePercentage }}}} of requests missed the {o['title'].lower()} "
                        f"objective ({percent(o['objective'])} good) over the last {b['long']} and "
                        f"{b['short']}. At this pace the {self.p['slo']['period']} error budget is gone in "
                        f"{days_left:.3g} days."),
                })
        return out

    # ---- everything else --------------------------------------------------------------------

    def recording_group(self):
        by = self.by
        return {"name": "mlsidecar-recording", "interval": self.p["interval"], "rules": [
            {"record": "mlsidecar:requests:rate5m",
             "expr": f"sum by ({by}, model, route, code) (rate(mlsidecar_requests_total{{{self.sel}}}[5m]))"},
            {"record": "mlsidecar:autoscale_load_ratio:max",
             "expr": f"max by ({by}, pod) (mlsidecar_autoscale_load_ratio{{{self.sel}}})"},
            {"record": "mlsidecar:output_tokens:rate5m",
             "expr": f"sum by ({by}, model) (rate(mlsidecar_output_tokens_total{{{self.sel}}}[5m]))"},
        ]}

    def drift_group(self):
        f = self.p["drift"]["fleet_psi"]
        w, eps = f["window"], number(f["epsilon"])
        by = f"{self.by}, feature, direction"
        bins = f"mlsidecar:feature_bin_observations:increase{w}"
        total = f"mlsidecar:feature_observations:increase{w}"
        share = f"mlsidecar:feature_bin_share:ratio_increase{w}"
        ref = "mlsidecar:feature_reference_ratio:max"
        # p: the fleet's share per bin over the window; bins no pod has seen yet count as 0.
        p = f"clamp_min(({share} or on({by}, bin) {ref} * 0), {eps})"
        q = f"clamp_min({ref}, {eps})"
        return {"name": "mlsidecar-drift", "interval": "1m", "rules": [
            {"record": bins,
             "expr": f"sum by ({by}, bin) (increase(mlsidecar_feature_bin_observations_total{{{self.sel}}}[{w}]))"},
            {"record": total, "expr": f"sum by ({by}) ({bins})"},
            {"record": share, "expr": f"{bins}\n/ ignoring(bin) group_left\n{total}"},
            # Every pod of a workload loads the same reference profile; max picks one copy.
            {"record": ref, "expr": f"max by ({by}, bin) (mlsidecar_feature_reference_ratio{{{self.sel}}})"},
            # PSI = sum over bins of (p - q) * ln(p / q), both shares smoothed up to epsilon.
            {"record": f"mlsidecar:fleet_drift_psi:increase{w}",
             "expr": f"sum by ({by}) (\n  ({p} - {q})\n  *\n  ln({p} / {q})\n)"},
        ]}

    def alert_group(self):
        p, by, where = self.p, self.by, self.where()
        sat, err, health, drift, llm = p["saturation"], p["errors"], p["health"], p["drift"], p["llm"]
        traffic = f'sum by ({by}) (rate(mlsidecar_requests_total{self.sel_with(NOT_HEALTH)}[5m]))'
        rules = self.burn_alerts()

        qb = sat["queue_building"]
        rules.append({
            "alert": "MlsidecarQueueBuilding",
            "expr": f"sum by ({by}) (mlsidecar_queued_requests{{{self.sel}}}) >= {number(qb['min_queued'])}",
            "for": qb["for"], "labels": {"severity": qb["severity"]},
            "annotations": self.annotations(
                "MlsidecarQueueBuilding", "MlsidecarQueueBuilding",
                f"Requests keep queueing in front of {where}",
                f"{{{{ $value }}}} requests have been waiting in the sidecars' admission queues for "
                f"{qb['for']}: the model replicas are at their concurrency limit.")})
        sh = sat["shedding"]
        rules.append({
            "alert": "MlsidecarShedding",
            "expr": f"sum by ({by}) (rate(mlsidecar_shed_requests_total{{{self.sel}}}[5m]))\n/\n{traffic}\n"
                    f"> {number(sh['ratio'])}",
            "for": sh["for"], "labels": {"severity": sh["severity"]},
            "annotations": self.annotations(
                "MlsidecarShedding", "MlsidecarShedding",
                f"{where} sheds requests with 503",
                f"{{{{ $value | humanizePercentage }}}} of requests were refused by admission control "
                f"(queue full, queue timeout or draining) over 5m; the policy allows {percent(sh['ratio'])}.")})
        lr = sat["load_ratio_pinned"]
        rules.append({
            "alert": "MlsidecarLoadRatioPinned",
            "expr": f"avg by ({by}) (max by ({by}, pod) (mlsidecar_autoscale_load_ratio{{{self.sel}}})) "
                    f"> {number(lr['ratio'])}",
            "for": lr["for"], "labels": {"severity": lr["severity"]},
            "annotations": self.annotations(
                "MlsidecarLoadRatioPinned", "MlsidecarLoadRatioPinned",
                f"{where} stays above its autoscaling target",
                f"The average load ratio is {VALUE3} (target 1.0) and has been above "
                f"{lr['ratio']} for {lr['for']}: the autoscaler is not adding the replicas the load needs.")})
        ue = err["upstream_errors"]
        rules.append({
            "alert": "MlsidecarUpstreamErrors",
            "expr": f"sum by ({by}) (rate(mlsidecar_upstream_errors_total{{{self.sel}}}[5m]))\n/\n{traffic}\n"
                    f"> {number(ue['ratio'])}",
            "for": ue["for"], "labels": {"severity": ue["severity"]},
            "annotations": self.annotations(
                "MlsidecarUpstreamErrors", "MlsidecarUpstreamErrors",
                f"The sidecars of {where} fail to reach their model",
                f"{{{{ $value | humanizePercentage }}}} of requests hit an upstream error (connect, reset "
                f"or timeout) over 5m; the policy allows {percent(ue['ratio'])}. "
                f"mlsidecar_upstream_errors_total{{kind}} tells which.")})
        td = health["target_down"]
        rules.append({
            "alert": "MlsidecarDown",
            "expr": f"up{{{self.sel}}} == 0",
            "for": td["for"], "labels": {"severity": td["severity"]},
            "annotations": self.annotations(
                "MlsidecarDown", "MlsidecarDown",
                "Prometheus cannot scrape the sidecar in {{ $labels.namespace }}/{{ $labels.pod }}",
                f"The admin port of {{{{ $labels.instance }}}} has not answered /metrics for {td['for']}.")})
        nr = health["not_ready"]
        c = nr["container"]
        rules.append({
            "alert": "MlsidecarNotReady",
            "expr": f'max by (namespace, pod) (\n  kube_pod_container_status_ready{{container="{c}"}}\n  or\n'
                    f'  kube_pod_init_container_status_ready{{container="{c}"}}\n) == 0',
            "for": nr["for"], "labels": {"severity": nr["severity"]},
            "annotations": self.annotations(
                "MlsidecarNotReady", "MlsidecarNotReady",
                "The sidecar in {{ $labels.namespace }}/{{ $labels.pod }} is not ready",
                f"Its /readyz has failed for {nr['for']}: the model's readiness path does not answer 2xx, "
                f"so the pod receives no traffic.")})
        fp = drift["feature_psi"]
        rules.append({
            "alert": "MlsidecarFeatureDrift",
            "expr": f"max by ({by}, feature, direction) (\n"
                    f"  mlsidecar_drift_psi{{{self.sel}}} > {number(fp['threshold'])}\n  and\n"
                    f"  mlsidecar_drift_window_samples{{{self.sel}}} >= {number(fp['min_window_samples'])}\n)",
            "for": fp["for"], "labels": {"severity": fp["severity"]},
            "annotations": self.annotations(
                "MlsidecarFeatureDrift", "MlsidecarFeatureDrift",
                f"Feature {{{{ $labels.feature }}}} ({{{{ $labels.direction }}}}) of {where} has drifted",
                f"PSI against the reference profile is {VALUE3} (policy: above "
                f"{fp['threshold']} for {fp['for']}) in at least one pod.")})
        fl = drift["fleet_psi"]
        w = fl["window"]
        rules.append({
            "alert": "MlsidecarFleetDrift",
            "expr": f"mlsidecar:fleet_drift_psi:increase{w} > {number(fl['threshold'])}\nand\n"
                    f"mlsidecar:feature_observations:increase{w} >= {number(fl['min_observations'])}",
            "for": fl["for"], "labels": {"severity": fl["severity"]},
            "annotations": self.annotations(
                "MlsidecarFleetDrift", "MlsidecarFleetDrift",
                f"Feature {{{{ $labels.feature }}}} ({{{{ $labels.direction }}}}) of {where} has drifted "
                f"across the fleet",
                f"PSI of all pods' observations over the last {w} against the reference is "
                f"{VALUE3} (policy: above {fl['threshold']} for {fl['for']}).")})
        ab = llm["model_aborted_streams"]
        rules.append({
            "alert": "MlsidecarModelAbortedStreams",
            "expr": f'sum by ({by}, model) (rate(mlsidecar_stream_aborted_total{self.sel_with(BY_MODEL)}[5m]))\n/\n'
                    f'sum by ({by}, model) (rate(mlsidecar_requests_total{self.sel_with(GENERATE)}[5m]))\n'
                    f"> {number(ab['ratio'])}",
            "for": ab["for"], "labels": {"severity": ab["severity"]},
            "annotations": self.annotations(
                "MlsidecarModelAbortedStreams", "MlsidecarModelAbortedStreams",
                f"The model behind {where} cuts token streams short",
                f"{{{{ $value | humanizePercentage }}}} of streamed completions of model "
                f"{{{{ $labels.model }}}} ended without a finish from the model over 5m; the policy allows "
                f"{percent(ab['ratio'])}.")})
        sf = p["shadow"]["failing"]
        copies = "sum by ({by}, version) (rate(mlsidecar_shadow_requests_total{sel}[5m]))"
        rules.append({
            "alert": "MlsidecarShadowFailing",
            "expr": copies.format(by=by, sel=self.sel_with('code=~"5xx|error"')) + "\n/\n" +
                    copies.format(by=by, sel=self.sel_with()) + f"\n> {number(sf['ratio'])}",
            "for": sf["for"], "labels": {"severity": sf["severity"]},
            "annotations": self.annotations(
                "MlsidecarShadowFailing", "MlsidecarShadowFailing",
                f"Shadow version {{{{ $labels.version }}}} of {where} fails the copies sent to it",
                f"{{{{ $value | humanizePercentage }}}} of the copies sent to the shadow answered 5xx or "
                f"nothing over 5m; the policy allows {percent(sf['ratio'])}. Its agreement numbers "
                f"measure its failures, not the new model.")})
        return {"name": "mlsidecar-alerts", "interval": p["interval"], "rules": rules}

    def groups(self):
        return [self.recording_group(), *self.slo_groups(), self.drift_group(), self.alert_group()]


class Dumper(yaml.SafeDumper):
    pass


def _str(dumper, s):
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


Dumper.add_representer(str, _str)

HEADER = ("# GENERATED by manifests/tools/render-rules.py from manifests/alert-policy.yaml: "
          "edit the policy, not this file.\n")


def render(policy):
    groups = Rules(policy).groups()
    dump = lambda obj: yaml.dump(obj, Dumper=Dumper, sort_keys=False, width=120)
    plain = HEADER + dump({"groups": groups})
    crd = HEADER + dump({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "mlsidecar", "labels": {"app.kubernetes.io/name": "mlsidecar"}},
        "spec": {"groups": groups},
    })
    return {RULE_FILE: plain, PROMETHEUS_RULE: crd}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the generated files are out of date")
    ap.add_argument("--runbook-sections", action="store_true",
                    help="print 'ALERT SECTION' per alert (for the docs check) and exit")
    args = ap.parse_args()
    policy = yaml.safe_load(POLICY.read_text())
    files = render(policy)
    if args.runbook_sections:
        for alert, section in RUNBOOK_SECTIONS.items():
            print(alert, section)
        return 0
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"render-rules: {path.relative_to(ROOT)} is out of date; run manifests/tools/render-rules.py",
                  file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[path])
        print(f"render-rules: wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
