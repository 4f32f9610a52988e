"""The canary templates of manifests/canary gate a canary correctly on a real Prometheus.

Starts, all on 127.0.0.1: six copies of examples/model_server/server.py, each behind its own real
`mlsidecar serve` (with a drift profile of inputs and outputs), and Debian's `prometheus` scraping
the six sidecars with the labels the PodMonitor would give six pods of one app in one namespace.
One sidecar is the stable version (`--model-version`, as a flag); the other four are canaries
whose version comes from MLSIDECAR_MODEL_VERSION, as injection gives an Argo Rollout's pod its
rollouts-pod-template-hash:
  good     the same model as the stable
  errors   answers 20% of its predictions with 500 (--error-ratio)
  slow     takes 300 ms per prediction instead of 110 ms (--predict-ms)
  drifted  its predictions moved (--score-shift): output drift against the reference profile
The test sends the same bounded traffic (V1 predictions and a few streamed chat completions) to
each sidecar, waits for Prometheus to have scraped it, then for every metric of the Argo Rollouts
AnalysisTemplate and every MetricTemplate of the Flagger Canary example: fills in the arguments
(the canary's and the stable's versions; the Argo template's own defaults otherwise), runs the
query on Prometheus' HTTP API, and judges the result with the template's own successCondition and
failureCondition (a small evaluator of the expr forms the template uses) or the Canary's
thresholdRange. The good canary passes every metric; each bad one fails exactly its metric.
It also checks that the dashboard's "Versions side by side" row has a line for every version.

A sixth sidecar, "quiet" (the drifted model too), gets a few predictions at the start and nothing
after: its counters exist but stand still, and its drift windows hold fewer values than the
templates' minimum. Judged over a window that starts after its last request (QUIET_WINDOW): as the
stable, its 0/0 error ratio must count as 0 (the good canary passes, the failing one fails); as
the canary, no requests in the window gives no value (Inconclusive; a failed check in Flagger).
Judged as the canary over the usual window, a drift profile with too few values must not pass
the drift gate (the defect of a vacuous pass when the min-samples filter empties it).

The latencies sit inside the request histogram's buckets (0.1-0.25 s and 0.25-0.5 s) with room to
spare, so that the p99 ratio of two equal versions stays 1 on a loaded machine.

Needs the built sidecar ($MLSIDECAR_BIN or build/sidecar/mlsidecar), /usr/bin/prometheus and
kubectl. The Argo template is validated against @kubernetes-models/argo-rollouts by
`scripts/check-manifests schemas`; the Flagger objects, which no schema package models, here.
About 35 s.
"""
import csv
import importlib.util
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "manifests" / "tools"))

from procs import ModelServer, Sidecar, sidecar_binary, wait_for  # noqa: E402
from prometheus import Prometheus  # noqa: E402
import queries as shipped  # noqa: E402

NAMESPACE, APP, MODEL = "ml", "example-model", "demo"
TRAFFIC = [sys.executable, str(ROOT / "examples" / "traffic.py")]
SECONDS = 20  # of traffic per sidecar
WINDOW = "30s"  # the rate() window of every query: all of the traffic
COMMON_MODEL_FLAGS = ["--model-name", MODEL, "--predict-ms", "110", "--prefill-base-ms", "10",
                      "--prefill-ms-per-token", "0.5", "--token-ms", "3", "--answer-tokens", "4"]
STABLE = "6d4f8b9c7"  # rollouts-pod-template-hash values, as Argo makes them
# canary name -> (version, model server flags added to the common ones, the fault it has)
CANARIES = {
    "good": ("5b8f7c6d9", [], None),
    "errors": ("7f9c5d4b8", ["--error-ratio", "0.2"], "errors"),
    "slow": ("84c6b9f5d", ["--predict-ms", "300"], "latency"),
    "drifted": ("9d7b6c5f4", ["--score-shift", "2"], "drift"),
}
# The quiet sidecar: the drifted model, QUIET_REQUESTS V1 predictions of QUIET_BATCH rows at the
# start, then nothing. Its drift windows hold fewer values than the templates' minimum (200).
QUIET = "3c5e7a9b1"
QUIET_FLAGS = ["--score-shift", "2"]
QUIET_REQUESTS, QUIET_BATCH = 15, 4
# Which metric of each template judges which fault.
ARGO_METRIC = {"error-ratio": "errors", "p99-latency": "latency", "drift-psi": "drift"}
FLAGGER_METRIC = {"mlsidecar-error-ratio-excess": "errors", "mlsidecar-p99-latency-ratio": "latency",
                  "mlsidecar-drift-psi-excess": "drift"}


# ---- Argo Rollouts' conditions: the expr-lang forms the template uses --------------------------

_TOKEN = re.compile(r"\s*(len|isNaN|result|\d+(?:\.\d+)?|&&|\|\||<=|>=|==|!=|<|>|!|\(|\)|\[|\])")
_PYTHON = {"&&": " and ", "||": " or ", "!": " not ", "isNaN": "isnan"}


def argo_condition(expr, result):
    """Evaluates a successCondition/failureCondition of the forms `len(result) > 0`,
    `result[0] <= 0.01`, `isNaN(result[0])`, joined by &&, || and ! (short-circuit, as expr-lang
    does), on `result`, the list of floats Argo's Prometheus provider makes of a vector."""
    pos, out = 0, []
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"unsupported condition syntax at {expr[pos:]!r} in {expr!r}"
        out.append(_PYTHON.get(m.group(1), m.group(1)))
        pos = m.end()
    return bool(eval("".join(out), {"__builtins__": {}}, {"len": len, "isnan": math.isnan, "result": result}))


def argo_phase(metric, result):
    """A measurement's phase as Argo decides it: failure wins, neither is Inconclusive; with one
    condition only, the other is its negation."""
    success = metric.get("successCondition")
    failure = metric.get("failureCondition")
    ok = argo_condition(success, result) if success else None
    bad = argo_condition(failure, result) if failure else None
    if ok is None:
        ok = not bad
    if bad is None:
        bad = not ok
    return "Failed" if bad else "Successful" if ok else "Inconclusive"


def test_condition_evaluator():
    nan = float("nan")
    assert argo_condition("len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.01", [0.005])
    assert not argo_condition("len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.01", [nan])
    assert not argo_condition("len(result) > 0 && result[0] <= 0.01", [])  # no IndexError
    assert argo_condition("len(result) == 0 || isNaN(result[0]) || result[0] <= 0.1", [])
    assert argo_phase({"successCondition": "len(result) > 0 && !isNaN(result[0]) && result[0] <= 0.1",
                       "failureCondition": "len(result) > 0 && !isNaN(result[0]) && result[0] > 0.1"},
                      [nan]) == "Inconclusive"
    assert argo_phase({"successCondition": "result[0] <= 1", "failureCondition": "result[0] > 1"}, [2]) == "Failed"
    assert argo_phase({"successCondition": "len(result) > 0 && result[0] <= 1",
                       "failureCondition": "len(result) > 0 && result[0] > 1"}, []) == "Inconclusive"
    assert argo_phase({"successCondition": "result[0] <= 1"}, [2]) == "Failed"
    with pytest.raises(AssertionError):
        argo_condition("result[0] <= 1; import os", [0])


def flagger_passes(value, threshold):
    """Flagger's thresholdRange: min <= value <= max. An empty result or a NaN is a failed check:
    its Prometheus provider returns ErrNoValuesFound for both (`value == nil ||
    math.IsNaN(*value)`, fluxcd/flagger pkg/metrics/providers/prometheus.go since v1.18.0) and
    the scheduler counts a failed check ("Halt advancement no values found")."""
    if value is None or math.isnan(value):
        return False
    return threshold.get("min", -math.inf) <= value <= threshold.get("max", math.inf)


# ---- the templates themselves ------------------------------------------------------------------

def test_argo_template_shape():
    """What Argo needs beyond the schema (scripts/check-manifests validates that): the four
    arguments a Rollout passes, a condition pair per metric, and arguments that all resolve."""
    doc = yaml.safe_load((ROOT / "manifests/canary/argo-rollouts/analysistemplate.yaml").read_text())
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "AnalysisTemplate"
    args = {a["name"]: a for a in doc["spec"]["args"]}
    for name in ("namespace", "app", "canary-version", "stable-version"):
        assert name in args and "value" not in args[name], name  # the Rollout must pass them
    names = set()
    for m in doc["spec"]["metrics"]:
        names.add(m["name"])
        assert m["successCondition"] and m["failureCondition"], m["name"]
        assert "isNaN" in m["successCondition"], m["name"]  # NaN is no data, never a pass by accident
    assert names == set(ARGO_METRIC)
    metrics = shipped.argo_metrics({"namespace": "ns", "app": "a", "canary-version": "c", "stable-version": "s"})
    assert all("{{" not in m["query"] and "{{" not in m["address"] for m in metrics)
    with pytest.raises(KeyError):
        shipped.argo_metrics({"namespace": "ns"})


def test_flagger_objects():
    """No schema package models Flagger: its fields, checked here."""
    templates = list(yaml.safe_load_all((ROOT / "manifests/canary/flagger/metrictemplate.yaml").read_text()))
    assert {t["metadata"]["name"] for t in templates} == set(FLAGGER_METRIC)
    for t in templates:
        assert t["apiVersion"] == "flagger.app/v1beta1" and t["kind"] == "MetricTemplate"
        assert set(t) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(t["spec"]) == {"provider", "query"}
        assert t["spec"]["provider"]["type"] == "prometheus"
        assert re.fullmatch(r"https?://[^\s/]+(:\d+)?/?", t["spec"]["provider"]["address"])
        placeholders = set(re.findall(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}", t["spec"]["query"]))
        allowed = {"namespace", "target", "interval", "variables.canary_version", "variables.stable_version"}
        assert placeholders <= allowed and {"namespace", "target"} <= placeholders, placeholders
        # Every rate() is over the analysis interval; the drift gauges need none.
        assert ("interval" in placeholders) == ("rate(" in t["spec"]["query"]), t["metadata"]["name"]
    canary = yaml.safe_load((ROOT / "manifests/canary/flagger/canary-example.yaml").read_text())
    assert canary["apiVersion"] == "flagger.app/v1beta1" and canary["kind"] == "Canary"
    for m in canary["spec"]["analysis"]["metrics"]:
        assert m["templateRef"]["name"] in FLAGGER_METRIC
        assert set(m["templateVariables"]) == {"canary_version", "stable_version"}
        assert set(m["thresholdRange"]) <= {"min", "max"} and m["thresholdRange"]
    # kustomize renders both directories.
    for d in ("argo-rollouts", "flagger"):
        subprocess.run(["kubectl", "kustomize", str(ROOT / "manifests" / "canary" / d)], check=True,
                       capture_output=True)


# ---- the real thing -----------------------------------------------------------------------------

def load_model_module():
    spec = importlib.util.spec_from_file_location("model_server", ROOT / "examples" / "model_server" / "server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drift_profile(work):
    """Inputs from the traffic generator's reference data, outputs from the model on the same
    rows, both profiled by the sidecar's own `profile` command."""
    ref = work / "reference.csv"
    subprocess.run(TRAFFIC + ["--emit-csv", str(ref), "--rows", "4000"], check=True, capture_output=True)
    score = load_model_module().score
    preds = work / "predictions.csv"
    with ref.open() as f, preds.open("w") as out:
        out.write("predictions\n")
        for row in csv.DictReader(f):
            out.write(f"{score([float(row[f'f{i}']) for i in range(8)])}\n")
    profile = work / "profile.json"
    subprocess.run([sidecar_binary(), "profile", "--input", str(ref), "--output", str(profile)],
                   check=True, capture_output=True)
    subprocess.run([sidecar_binary(), "profile", "--input", str(preds), "--direction", "output",
                    "--merge", str(profile), "--output", str(profile)], check=True, capture_output=True)
    assert json.loads(profile.read_text())["columns"]["output"] == ["predictions"]
    return profile


def run_traffic(port, errors, done=None):
    """The same bounded traffic for every sidecar; with `done` (a dict), the quiet sidecar's few
    predictions instead, and done["at"] the time they were all answered."""
    if done is None:
        load = ["--seconds", str(SECONDS), "--concurrency", "3", "--batch", "4", "--mix", "v1:9,chat:1",
                "--max-tokens", "4"]
    else:
        load = ["--requests", str(QUIET_REQUESTS), "--concurrency", "1", "--batch", str(QUIET_BATCH),
                "--mix", "v1"]
    out = subprocess.run(TRAFFIC + ["--target", f"http://127.0.0.1:{port}", "--model", MODEL, "--json", *load],
                         capture_output=True, text=True, timeout=SECONDS + 60)
    if done is not None:
        done["at"] = time.time()
    if out.returncode != 0:
        errors.append(out.stderr)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not shutil.which("/usr/bin/prometheus"):
        pytest.fail("/usr/bin/prometheus not installed (apt-get install prometheus)")
    work = tmp_path_factory.mktemp("canary")
    profile = drift_profile(work)
    pods = {"stable": (STABLE, [], None), **CANARIES, "quiet": (QUIET, QUIET_FLAGS, None)}
    procs, sidecars = [], {}
    try:
        for name, (version, flags, _) in pods.items():
            model = ModelServer(*COMMON_MODEL_FLAGS, *flags)
            procs.append(model)
            args = ["--model", MODEL, "--threads", "1", "--drift-profile", str(profile),
                    "--drift-window", "100000", "--drift-interval", "1s", "--drift-sample-rate", "1",
                    "--drain-seconds", "0s"]
            env = None
            if name == "stable":
                args += ["--model-version", version]  # named by a flag (an annotation)
            else:
                env = {**os.environ, "MLSIDECAR_MODEL_VERSION": version}  # the pod label, as injected
            sidecar = Sidecar(upstream_port=model.port, extra_args=args, env=env)
            procs.append(sidecar)
            sidecars[name] = sidecar
        prom = Prometheus(work, {"scrape_configs": [{
            "job_name": "mlsidecar",
            "static_configs": [{"targets": [f"127.0.0.1:{s.admin_port}"],
                                "labels": {"namespace": NAMESPACE, "app": APP, "pod": f"{APP}-{pods[n][0]}-{i}"}}
                               for i, (n, s) in enumerate(sidecars.items())],
        }]})
        procs.append(prom.proc)
        wait_for(lambda: len(prom.query('mlsidecar_build_info{job="mlsidecar"}')) == len(sidecars), 30,
                 interval=0.2, what="Prometheus scraping every sidecar")
        errors, quiet_done = [], {}
        threads = [threading.Thread(target=run_traffic, args=(s.port, errors, quiet_done if n == "quiet" else None))
                   for n, s in sidecars.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        traffic_end = time.time()
        assert not errors, errors
        # Everything counted, scraped, and one more drift computation over the whole window.
        totals = {n: sum(v for (name, _), v in s.scrape_settled().items() if name == "mlsidecar_requests_total")
                  for n, s in sidecars.items()}
        wait_for(lambda: all(
            prom.query(f'sum(mlsidecar_requests_total{{job="mlsidecar", pod="{APP}-{pods[n][0]}-{i}"}}) == {t}')
            for i, (n, t) in enumerate(totals.items())), 20, interval=0.2, what="Prometheus has the final counts")
        time.sleep(2)
        at = time.time()
        # A window that starts once the quiet sidecar's last request has been scraped (1 s scrapes)
        # and still holds several seconds of every other sidecar's traffic.
        quiet_from = quiet_done["at"] + 2.5
        assert traffic_end - quiet_from >= 8, (quiet_done, traffic_end)
        quiet = sidecars.pop("quiet")
        yield {"prom": prom, "sidecars": sidecars, "quiet": quiet, "at": at,
               "quiet_window": f"{int((at - quiet_from) * 1000)}ms"}
    finally:
        for p in reversed(procs):
            p.stop()


def argo_results(stack, canary_version, stable=STABLE, window=WINDOW, **args):
    prom = stack["prom"]
    out = {}
    for m in shipped.argo_metrics({"namespace": NAMESPACE, "app": APP, "canary-version": canary_version,
                                   "stable-version": stable, "window": window, **args}):
        result = [float(r["value"][1]) for r in prom.query(m["query"], at=stack["at"])]
        out[m["name"]] = (argo_phase(m, result), result)
    return out


def flagger_results(stack, canary_version, stable=STABLE, window=WINDOW):
    prom = stack["prom"]
    canary = yaml.safe_load((ROOT / "manifests/canary/flagger/canary-example.yaml").read_text())
    for m in canary["spec"]["analysis"]["metrics"]:
        m["templateVariables"] = {"canary_version": canary_version, "stable_version": stable}
        m["interval"] = window
    out = {}
    for m in shipped.flagger_metrics(NAMESPACE, APP, window, canary=canary):
        result = prom.query(m["query"], at=stack["at"])
        assert len(result) <= 1, (m["template"], result)
        value = float(result[0]["value"][1]) if result else None
        out[m["template"]] = (flagger_passes(value, m["thresholdRange"]), value)
    return out


@pytest.mark.parametrize("canary", list(CANARIES))
def test_argo_analysis_gates_the_canary(stack, canary):
    version, _, fault = CANARIES[canary]
    results = argo_results(stack, version)
    print(f"argo {canary}: {results}")  # shown with pytest -s
    expected = {name: "Failed" if ARGO_METRIC[name] == fault else "Successful" for name in ARGO_METRIC}
    assert {name: phase for name, (phase, _) in results.items()} == expected, results


@pytest.mark.parametrize("canary", list(CANARIES))
def test_flagger_metrics_gate_the_canary(stack, canary):
    version, _, fault = CANARIES[canary]
    results = flagger_results(stack, version)
    print(f"flagger {canary}: {results}")  # shown with pytest -s
    expected = {name: FLAGGER_METRIC[name] != fault for name in FLAGGER_METRIC}
    assert {name: ok for name, (ok, _) in results.items()} == expected, results


def test_a_canary_without_traffic_is_inconclusive_not_promoted(stack):
    results = argo_results(stack, "no-such-version")
    assert results["error-ratio"][0] == "Inconclusive", results
    assert results["p99-latency"][0] == "Inconclusive", results
    assert results["drift-psi"] == ("Successful", [0.0]), results  # no drift series: nothing to judge
    flagger = flagger_results(stack, "no-such-version")
    assert not flagger["mlsidecar-error-ratio-excess"][0] and not flagger["mlsidecar-p99-latency-ratio"][0]
    assert flagger["mlsidecar-drift-psi-excess"] == (True, 0.0), flagger


def test_a_stable_without_requests_in_the_window_counts_as_no_errors(stack):
    """The quiet sidecar as the stable: its request series exist (5xx at 0 included) but did not
    move in the window, so its own ratio is 0/0 = NaN; the gate must count it as 0, not go NaN."""
    prom, window = stack["prom"], stack["quiet_window"]
    quiet = f'job="mlsidecar", version="{QUIET}", route!="health"'
    five = prom.query(f'sum(rate(mlsidecar_requests_total{{{quiet}, code="5xx"}}[{window}]))', at=stack["at"])
    ratio = prom.query(f'sum(rate(mlsidecar_requests_total{{{quiet}, code="5xx"}}[{window}]))'
                       f' / sum(rate(mlsidecar_requests_total{{{quiet}}}[{window}]))', at=stack["at"])
    assert five and float(five[0]["value"][1]) == 0, five  # the series exist and stood still
    assert len(ratio) == 1 and math.isnan(float(ratio[0]["value"][1])), ratio  # the premise: 0/0
    good, bad = CANARIES["good"][0], CANARIES["errors"][0]
    argo = argo_results(stack, good, stable=QUIET, window=window)
    print(f"argo good vs quiet stable: {argo}")
    assert argo["error-ratio"] == ("Successful", [0.0]), argo
    assert argo["p99-latency"][0] == "Inconclusive", argo  # no baseline latency to compare with
    assert argo["drift-psi"][0] == "Successful", argo
    assert argo_results(stack, bad, stable=QUIET, window=window)["error-ratio"][0] == "Failed"
    flagger = flagger_results(stack, good, stable=QUIET, window=window)
    print(f"flagger good vs quiet stable: {flagger}")
    assert flagger["mlsidecar-error-ratio-excess"] == (True, 0.0), flagger
    assert not flagger["mlsidecar-p99-latency-ratio"][0], flagger
    assert not flagger_results(stack, bad, stable=QUIET, window=window)["mlsidecar-error-ratio-excess"][0]


def test_a_canary_without_requests_in_the_window_gives_no_value(stack):
    """The quiet sidecar as the canary over the same window: its series exist but stood still.
    No value (not NaN, not 0): Inconclusive in Argo, a failed check in Flagger."""
    window = stack["quiet_window"]
    argo = argo_results(stack, QUIET, window=window)
    print(f"argo quiet canary, quiet window: {argo}")
    assert argo["error-ratio"] == ("Inconclusive", []), argo
    assert argo["p99-latency"][0] == "Inconclusive", argo
    flagger = flagger_results(stack, QUIET, window=window)
    assert flagger["mlsidecar-error-ratio-excess"] == (False, None), flagger
    assert not flagger["mlsidecar-p99-latency-ratio"][0], flagger


def test_a_drift_profile_with_too_few_values_does_not_pass(stack):
    """The quiet sidecar as the canary over the usual window: it has drift series, its outputs
    drifted, but its windows hold fewer values than drift-min-samples (200, the Flagger
    template's fixed number too). Not judged yet is no value: Inconclusive, a failed check; never
    the pass of a canary without any drift profile."""
    prom = stack["prom"]
    samples = prom.query(f'mlsidecar_drift_window_samples{{job="mlsidecar", pod=~"{APP}-{QUIET}-.*"}}', at=stack["at"])
    assert samples and all(0 < float(r["value"][1]) < 200 for r in samples), samples
    psi = prom.query(f'max(mlsidecar_drift_psi{{job="mlsidecar", pod=~"{APP}-{QUIET}-.*", direction="output"}})',
                     at=stack["at"])
    assert psi and float(psi[0]["value"][1]) > 0.2, psi  # drifted: a pass would promote it
    argo = argo_results(stack, QUIET)
    print(f"argo quiet canary: {argo}")
    assert argo["drift-psi"] == ("Inconclusive", []), argo
    flagger = flagger_results(stack, QUIET)
    print(f"flagger quiet canary: {flagger}")
    assert flagger["mlsidecar-drift-psi-excess"] == (False, None), flagger
    # Judged once its values count: with a minimum below them, the same canary fails the gate.
    low = str(int(min(float(r["value"][1]) for r in samples)))
    assert argo_results(stack, QUIET, **{"drift-min-samples": low})["drift-psi"][0] == "Failed"


def test_versions_come_from_flag_and_environment(stack):
    """The stable's --model-version and the canaries' MLSIDECAR_MODEL_VERSION (the injected pod
    label) label the request, LLM and build-info series alike."""
    for name, sidecar in stack["sidecars"].items():
        version = STABLE if name == "stable" else CANARIES[name][0]
        m = sidecar.scrape()
        build = [dict(ls) for (n, ls), _ in m.items() if n == "mlsidecar_build_info"]
        assert build and build[0]["model_version"] == version
        for family in ("mlsidecar_requests_total", "mlsidecar_output_tokens_total",
                       "mlsidecar_time_to_first_token_seconds_count", "mlsidecar_finish_reason_total"):
            versions = {dict(ls).get("version") for (n, ls), _ in m.items() if n == family}
            assert versions == {version}, (name, family, versions)


def test_dashboard_version_row_shows_every_version(stack):
    prom = stack["prom"]
    versions = {STABLE} | {v for v, _, _ in CANARIES.values()}
    row = [q for q in shipped.dashboard_queries(WINDOW, NAMESPACE)
           if q["source"].startswith("dashboard/") and "version" in q["source"].lower()
           and "Shadow" not in q["source"]]
    assert len(row) >= 7, [q["source"] for q in row]  # error ratio, p50/p99, TTFT p50/p99, tokens, drift
    for q in row:
        result = prom.query(q["expr"], at=stack["at"])
        seen = {r["metric"].get("version", r["metric"].get("model_version")) for r in result}
        assert seen - {QUIET} == versions, (q["source"], seen)  # the quiet one: only a few requests
    # The drifted version's worst PSI stands out; the good canary's does not.
    drift = next(q for q in row if "drift" in q["source"].lower())
    worst = {r["metric"]["model_version"]: float(r["value"][1]) for r in prom.query(drift["expr"], at=stack["at"])}
    assert worst[CANARIES["drifted"][0]] > 0.2 > worst[CANARIES["good"][0]], worst
