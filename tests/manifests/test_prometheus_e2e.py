"""End to end: the shipped queries and recording rules against a real Prometheus scraping a real
sidecar in front of the example model.

Starts, all on 127.0.0.1: examples/model_server/server.py, the gRPC model stand-in
(tests/support/grpc/model.py), `mlsidecar serve` (drift profile from the traffic generator's
reference data, admission limit, load-ratio target, --grpc-upstream), and Debian's
`prometheus` binary with a scrape config for the sidecar's admin port (the labels the PodMonitor
would add: job, namespace, app, pod) and the shipped rule file (every group's interval shortened
to 1s; expressions unchanged). Sends traffic: V1/V2 predictions with two features shifted,
streamed chat completions, gRPC ModelInfer calls (some failed by the model with x-fail), one
aborted stream, a burst beyond the admission limit, and requests while the model is down. Then
asks Prometheus's HTTP API for every query of the dashboard, the prometheus-adapter rules and the
KEDA trigger, and for every recording rule: each returns data.
Finally the values Prometheus computes match what the sidecar reports: the load ratio (adapter
and KEDA queries, and the ScaledObject `mlsidecar autoscale` writes), the fleet PSI recording rule
against the sidecar's own per-feature PSI, and the dashboard's gRPC panels against the sidecar's
own gRPC counters.

The reference data gets one categorical column, `tier` (sent as a V2 BYTES tensor in the
reference proportions), so that the categorical statistics (chi-square) have data too. Traffic
starts only once Prometheus has scraped the sidecar's zero counters: `increase()` then counts every
observation, which is what makes the fleet PSI equal to the sidecar's own.

Needs the built sidecar ($MLSIDECAR_BIN or build/sidecar/mlsidecar) and /usr/bin/prometheus.
Takes about two minutes: the sidecar's stable load window is 60 s.
"""
import collections
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "support" / "grpc"))
sys.path.insert(0, str(ROOT / "manifests" / "tools"))

from procs import GrpcModel, ModelServer, Sidecar, http_request, metric_sum, sidecar_binary, wait_for  # noqa: E402
from prometheus import Prometheus, fast_rules  # noqa: E402
import model as grpc_standin  # noqa: E402
import queries as shipped  # noqa: E402

v2, v2_grpc, _, _ = grpc_standin.load_stubs()

NAMESPACE, APP, POD = "mlsidecar-example", "example-model", "example-model-0"
MODEL = "demo"
TARGET_CONCURRENCY = 2.0
CLIENTS = 3  # closed-loop clients: average concurrency ~3, load ratio ~1.5
TRAFFIC = [sys.executable, str(ROOT / "examples" / "traffic.py")]
SHIFT = "f2,f5=+1.5"
# A categorical feature in fixed proportions (2:3:5), the same in the reference and the traffic.
TIERS = ["gold", "gold", "silver", "silver", "silver"] + ["bronze"] * 5
# gRPC ModelInfer calls in cycles of ten: the model fails three on purpose (x-fail), so the error
# ratio by code is 0.2 (INVALID_ARGUMENT, 4xx in the request panels) and 0.1 (UNAVAILABLE, 5xx).
GRPC_CYCLE = ["OK"] * 7 + ["INVALID_ARGUMENT"] * 2 + ["UNAVAILABLE"]
GRPC_WARMUP_HEALTH = 2  # ServerReady calls (route "health") before the counted ones
GRPC_COUNTED_CYCLES = 4

# The TTFT SLO queries need traffic with a TTFT under and over 2.5 s; they once returned nothing
# (no le="2.5" bucket) and are checked on their own by test_ttft_slo_rules_return_data.
TTFT_BUCKET_BUG = ("manifests/alert-policy.yaml sets slo.objectives.ttft.threshold_seconds to "
                   "\"2.5\", but mlsidecar_time_to_first_token_seconds has no le=\"2.5\" bucket "
                   "(metrics/llm/llm_metrics.cpp kTtftBounds: ..., 2, 3, ...): the TTFT SLO rules "
                   "select no series")
KNOWN_EMPTY = {
    "rules/mlsidecar-slo/mlsidecar:slo_ttft_errors:ratio_rate5m": TTFT_BUCKET_BUG,
    "rules/mlsidecar-slo/mlsidecar:slo_ttft_errors:ratio_rate30m": TTFT_BUCKET_BUG,
    "rules/mlsidecar-slo/mlsidecar:slo_ttft_errors:ratio_rate1h": TTFT_BUCKET_BUG,
    "rules/mlsidecar-slo-slow/mlsidecar:slo_ttft_errors:ratio_rate6h": TTFT_BUCKET_BUG,
    "rules/mlsidecar-slo-slow/mlsidecar:slo_ttft_errors:ratio_rate3d": TTFT_BUCKET_BUG,
}


def prometheus(workdir, sidecar_admin_port):
    """Scrapes the sidecar with the labels the PodMonitor would add; the shipped rules, fast."""
    return Prometheus(workdir, {
        "rule_files": [fast_rules(workdir)],
        "scrape_configs": [{
            "job_name": "mlsidecar",
            "static_configs": [{"targets": [f"127.0.0.1:{sidecar_admin_port}"],
                                "labels": {"namespace": NAMESPACE, "app": APP, "pod": POD}}],
        }],
    })


def run_traffic(port, *args):
    out = subprocess.run(TRAFFIC + ["--target", f"http://127.0.0.1:{port}", "--model", MODEL, "--json", *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def abort_one_stream(port):
    """Starts a long streamed chat completion and hangs up after the first bytes."""
    body = json.dumps({"model": MODEL, "stream": True, "max_tokens": 200,
                       "messages": [{"role": "user", "content": "tell me a long story"}]}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        s.recv(4096)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not shutil.which("/usr/bin/prometheus"):
        pytest.fail("/usr/bin/prometheus not installed (apt-get install prometheus)")
    work = tmp_path_factory.mktemp("e2e")
    # Reference profile from unshifted data, built by the sidecar's own `profile` command.
    csv = work / "reference.csv"
    subprocess.run(TRAFFIC + ["--emit-csv", str(csv), "--rows", "4000"], check=True, capture_output=True)
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0] + ",tier"] + [line + "," + TIERS[i % len(TIERS)]
                                                     for i, line in enumerate(lines[1:])]) + "\n")
    profile = work / "profile.json"
    subprocess.run([sidecar_binary(), "profile", "--input", str(csv), "--output", str(profile)],
                   check=True, capture_output=True)
    model = ModelServer("--model-name", MODEL, "--predict-ms", "20", "--token-ms", "5", "--answer-tokens", "12")
    # The next version, shadowed: the same model, so that every shadow panel has data to show.
    shadow_model = ModelServer("--model-name", MODEL, "--token-ms", "1", "--answer-tokens", "12")
    grpc_model = GrpcModel("--model", MODEL)
    sidecar = Sidecar(upstream_port=model.port, extra_args=[
        "--grpc-upstream", f"127.0.0.1:{grpc_model.port}",
        "--shadow-upstream", f"127.0.0.1:{shadow_model.port}", "--shadow-fraction", "1",
        "--shadow-max-rps", "0", "--shadow-version", "2", "--shadow-class-outputs", "output-0,predictions",
        "--model", MODEL, "--model-version", "1", "--ready-path", "/v2/health/ready", "--ready-interval", "200ms",
        "--container-concurrency", "4", "--queue-depth", "2", "--queue-timeout", "5s",
        "--target-concurrency", str(TARGET_CONCURRENCY),
        "--drift-profile", str(profile), "--drift-window", "1000000", "--drift-interval", "1s",
        "--drift-sample-rate", "1", "--threads", "1"])
    prom = prometheus(work, sidecar.admin_port)
    state = {"model": model, "grpc_model": grpc_model, "shadow_model": shadow_model, "sidecar": sidecar,
             "prom": prom, "work": work}
    try:
        traffic(state)
        yield state
    finally:
        prom.proc.stop()
        sidecar.stop()
        grpc_model.stop()
        shadow_model.stop()
        if state["model"].alive():
            state["model"].stop()


def collect_error(errors, fn, *args):
    """Runs fn(*args) in a thread, keeping its exception for the thread that joins it."""
    try:
        fn(*args)
    except Exception as e:
        errors.append(e)


def send_tiers(port, requests=100, batch=10):
    """V2 requests whose only input is the categorical `tier`, in the reference proportions."""
    for r in range(requests):
        data = [TIERS[(r * batch + i) % len(TIERS)] for i in range(batch)]
        body = json.dumps({"inputs": [{"name": "tier", "shape": [batch, 1], "datatype": "BYTES",
                                       "data": data}]}).encode()
        status, _, answer = http_request(port, "POST", f"/v2/models/{MODEL}/infer", body,
                                         {"Content-Type": "application/json"})
        assert status == 200, answer


def wait_first_scrape(prom):
    """Until Prometheus has stored the sidecar's bin counters (all 0: no traffic yet)."""
    deadline = time.monotonic() + 30
    while not prom.query('mlsidecar_feature_bin_observations_total{job="mlsidecar"}'):
        assert time.monotonic() < deadline, "Prometheus did not scrape the sidecar"
        time.sleep(0.2)


def autoscale_query(signal):
    """The query of the ScaledObject `mlsidecar autoscale` writes for the example Deployment."""
    out = subprocess.run([sidecar_binary(), "autoscale", "-f", str(ROOT / "manifests" / "base" / "deployment.yaml"),
                          "--via", "keda", "--signal", signal, "--target", "1", "--namespace", NAMESPACE],
                         capture_output=True, text=True, check=True).stdout
    return yaml.safe_load(out)["spec"]["triggers"][0]["metadata"]["query"]


def send_grpc(port, cycles, gap=0.0, health=0):
    """`health` ServerReady calls, then `cycles` times GRPC_CYCLE as ModelInfer calls `gap` s apart
    (one at a time: never beyond the admission limit); the codes as the client saw them."""
    seen = collections.Counter()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = v2_grpc.GRPCInferenceServiceStub(ch)
        for _ in range(health):
            assert stub.ServerReady(v2.ServerReadyRequest(), timeout=10).ready
        for i in range(cycles * len(GRPC_CYCLE)):
            code = GRPC_CYCLE[i % len(GRPC_CYCLE)]
            req = v2.ModelInferRequest(model_name=MODEL, id=str(i))
            req.inputs.add(name="x", datatype="FP32", shape=[2]).contents.fp32_contents.extend([1.0, 2.0])
            try:
                stub.ModelInfer(req, timeout=10, metadata=[] if code == "OK" else [("x-fail", f"{code}:e2e")])
                seen["OK"] += 1
            except grpc.RpcError as e:
                seen[e.code().name] += 1
            time.sleep(gap)
    return seen


def sidecar_grpc_calls(sidecar, total):
    """{(grpc_method, grpc_code): calls} from the sidecar's /metrics, once it has counted `total`
    calls (a client has its answer a moment before the sidecar counts the call)."""
    def counts():
        c = {(dict(ls)["grpc_method"], dict(ls)["grpc_code"]): v for (n, ls), v in sidecar.scrape().items()
             if n == "mlsidecar_grpc_requests_total" and dict(ls)["model"] == MODEL}
        return c if sum(c.values()) == total else None
    return wait_for(counts, 10, interval=0.1, what=f"{total} gRPC calls counted")


def wait_prometheus_grpc_calls(prom, total):
    wait_for(lambda: prom.query(f'sum(mlsidecar_grpc_requests_total{{job="mlsidecar"}}) == {total}'), 30,
             interval=0.2, what=f"Prometheus scraping {total} gRPC calls")


def grpc_traffic(state, started):
    """gRPC calls beside the HTTP load, and the dashboard's gRPC panels over exactly the counted
    ones. A warm-up first: every series the panels read exists in Prometheus before the counted
    calls (a series born with a count has no rate for it), then the counted calls, all within
    one query window, which starts after the warm-up's scrape and ends with the last one's."""
    sidecar, prom = state["sidecar"], state["prom"]
    warm_total = GRPC_WARMUP_HEALTH + len(GRPC_CYCLE)
    assert send_grpc(sidecar.port, 1, health=GRPC_WARMUP_HEALTH) == collections.Counter(GRPC_CYCLE)
    before = sidecar_grpc_calls(sidecar, warm_total)
    wait_prometheus_grpc_calls(prom, warm_total)
    window_start = time.time()
    # At least one more scrape of the warm-up counts, then the counted calls late in the steady
    # load (the end-of-test queries look back 30 s), done before its load ratio is read at 68 s.
    time.sleep(max(2.0, started + 40 - time.monotonic()))
    seen = send_grpc(sidecar.port, GRPC_COUNTED_CYCLES, gap=0.6)
    assert seen == collections.Counter(GRPC_CYCLE * GRPC_COUNTED_CYCLES)
    after = sidecar_grpc_calls(sidecar, warm_total + sum(seen.values()))
    wait_prometheus_grpc_calls(prom, warm_total + sum(seen.values()))
    window_end = time.time()
    window = f"{int((window_end - window_start) * 1000)}ms"
    state["grpc"] = {
        "calls": {k: v - before.get(k, 0) for k, v in after.items()},
        "window_s": int((window_end - window_start) * 1000) / 1000,
        "panels": {q["source"]: prom.query(q["expr"], at=window_end)
                   for q in shipped.dashboard_queries(window, NAMESPACE) if q["grpc"]},
    }


def traffic(state):
    sidecar, prom = state["sidecar"], state["prom"]
    wait_first_scrape(prom)
    # Steady closed-loop load long enough to fill the 60 s stable window, features shifted.
    started = time.monotonic()
    bg = threading.Thread(target=run_traffic, args=(sidecar.port, "--seconds", "75", "--concurrency", str(CLIENTS),
                                                    "--mix", "v1:4,v2:4,chat:1", "--shift", SHIFT))
    bg.start()
    grpc_errors = []
    grpc_bg = threading.Thread(target=lambda: collect_error(grpc_errors, grpc_traffic, state, started))
    grpc_bg.start()
    send_tiers(sidecar.port)
    time.sleep(max(0.0, started + 68 - time.monotonic()))
    # While it still runs: the load ratio as the sidecar reports it and as Prometheus serves it
    # to the adapter and KEDA, scraped within the same second.
    m = sidecar.scrape()
    state["sidecar_ratio"] = max(metric_sum(m, "mlsidecar_autoscale_load_ratio", window=w) for w in ("stable", "panic"))
    state["adapter_ratio"] = [float(r["value"][1]) for r in prom.query(
        next(q["expr"] for q in shipped.adapter_queries(NAMESPACE) if q["source"].endswith("metricsQuery")))]
    state["keda_value"] = [float(r["value"][1]) for r in prom.query(next(shipped.keda_queries())["expr"])]
    state["autoscale"] = {signal: [float(r["value"][1]) for r in prom.query(autoscale_query(signal))]
                          for signal in ("load-ratio", "output-tokens")}
    bg.join()
    state["steady_end"] = time.time()
    grpc_bg.join()
    if grpc_errors:
        raise grpc_errors[0]
    abort_one_stream(sidecar.port)
    # A burst beyond container-concurrency + queue-depth: some requests are shed with 503.
    burst = run_traffic(sidecar.port, "--requests", "60", "--concurrency", "20", "--mix", "v1")
    state["burst"] = burst
    # The model goes away: upstream errors and 502s, then readiness fails.
    state["model"].stop()
    for _ in range(5):
        http_request(sidecar.port, "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [[1, 2]]}')
    # The gRPC model is still up: calls within the end-of-test queries' 30 s.
    send_grpc(sidecar.port, 1)
    # Until Prometheus has scraped the errors and evaluated the rules over them (on a loaded
    # machine that takes longer than the 1 s intervals suggest), then one more drift computation.
    prom = state["prom"]
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            if (prom.value(f'mlsidecar:slo_availability_errors:ratio_rate5m{{model="{MODEL}"}}') > 0
                    and prom.value('sum(mlsidecar_upstream_errors_total{job="mlsidecar"})') >= 5):
                break
        except Exception:  # no sample yet
            pass
        time.sleep(0.5)
    time.sleep(2)


def test_every_shipped_query_returns_data(stack):
    prom = stack["prom"]
    empty = []
    checked = 0
    for q in shipped.all_queries(rate_interval="30s", namespace=NAMESPACE):
        if q["external"] or q["source"].startswith("rules/mlsidecar-alerts/"):
            continue  # kube-state-metrics is not here; alerts are checked by promtool tests
        if q["canary"]:
            continue  # canary templates need two versions: tests/manifests/test_canary.py
        if q["source"] in KNOWN_EMPTY:
            continue
        checked += 1
        if not prom.query(q["expr"]):
            empty.append(q["source"])
    assert not empty, f"{len(empty)} of {checked} queries returned no data: {empty}"
    assert checked > 60


def test_ttft_slo_rules_return_data(stack):
    prom = stack["prom"]
    queries = [q for q in shipped.all_queries(rate_interval="30s", namespace=NAMESPACE)
               if q["source"] in KNOWN_EMPTY]
    assert len(queries) == len(KNOWN_EMPTY)
    assert all(prom.query(q["expr"]) for q in queries)


def test_load_ratio_matches_the_sidecar(stack):
    expected = stack["sidecar_ratio"]
    # The sidecar's value: about CLIENTS / TARGET_CONCURRENCY (closed loop, 60 s window).
    assert expected == pytest.approx(CLIENTS / TARGET_CONCURRENCY, rel=0.25)
    assert len(stack["adapter_ratio"]) == 1
    # Prometheus' sample is at most one scrape (1 s) older than the sidecar's; the stable window is
    # 60 s long, so in a steady load they differ by little.
    assert stack["adapter_ratio"][0] == pytest.approx(expected, rel=0.05)
    # KEDA: the sum over pods; one pod here.
    assert stack["keda_value"] == pytest.approx([stack["adapter_ratio"][0]], rel=0.05)
    # What `mlsidecar autoscale` writes for the same Deployment asks the same, and its token
    # signal sees the chat completions' tokens.
    assert stack["autoscale"]["load-ratio"] == pytest.approx(stack["keda_value"], rel=0.05)
    assert len(stack["autoscale"]["output-tokens"]) == 1 and stack["autoscale"]["output-tokens"][0] > 0


def test_fleet_psi_matches_the_sidecars_psi(stack):
    prom = stack["prom"]
    m = stack["sidecar"].scrape()
    psi = {dict(labels)["feature"]: v for (name, labels), v in m.items()
           if name == "mlsidecar_drift_psi" and dict(labels)["direction"] == "input"}
    assert psi, "the sidecar reports no PSI"
    fleet = {r["metric"]["feature"]: float(r["value"][1])
             for r in prom.query('mlsidecar:fleet_drift_psi:increase1h{direction="input"}')}
    assert set(fleet) == set(psi)
    # The sidecar's window holds every value it saw, and the counters count the same values:
    # the same PSI, computed once in C++ from the window and once in PromQL from the counters.
    for feature, value in psi.items():
        assert fleet[feature] == pytest.approx(value, rel=1e-6, abs=1e-9), feature
    # The shifted features drifted; the others did not.
    shifted = {"f2", "f5"}
    assert "tier" in psi
    assert all(psi[f] > 0.2 for f in shifted)
    assert all(psi[f] < 0.1 for f in set(psi) - shifted)


@pytest.mark.parametrize("slo, family", [
    ("latency", "mlsidecar_request_duration_seconds_bucket"),
    ("ttft", "mlsidecar_time_to_first_token_seconds_bucket"),
])
def test_policy_thresholds_are_bucket_boundaries(stack, slo, family):
    policy = yaml.safe_load((ROOT / "manifests" / "alert-policy.yaml").read_text())["slo"]["objectives"]
    prom = stack["prom"]
    le = policy[slo]["threshold_seconds"]
    assert prom.query(f'{family}{{job="mlsidecar", le="{le}"}}'), f"{slo}: no bucket le=\"{le}\""


def test_slo_and_saturation_rules_see_the_events(stack):
    prom = stack["prom"]
    assert stack["burst"]["errors"].get("503", 0) > 0, stack["burst"]
    shed = prom.value('sum(mlsidecar_shed_requests_total{job="mlsidecar"})')
    assert shed == stack["burst"]["errors"]["503"]
    assert prom.value('sum(mlsidecar_upstream_errors_total{job="mlsidecar"})') >= 5
    ratio = prom.value(f'mlsidecar:slo_availability_errors:ratio_rate5m{{model="{MODEL}"}}')
    assert 0 < ratio < 1
    assert prom.value('sum(mlsidecar_stream_aborted_total{job="mlsidecar", by="client"})') >= 1


def test_grpc_panels_match_the_sidecar(stack):
    g = stack["grpc"]
    calls = g["calls"]  # the counted calls, by (grpc_method, grpc_code), from the sidecar's /metrics
    n = GRPC_COUNTED_CYCLES
    assert calls == {("ServerReady", "OK"): 0, ("ModelInfer", "OK"): 7 * n,
                     ("ModelInfer", "INVALID_ARGUMENT"): 2 * n, ("ModelInfer", "UNAVAILABLE"): n}
    total = sum(calls.values())
    # Every series of one scrape has the same sample times, so rate() extrapolates each counted
    # increase by the same factor: the shares are exact, the rates within that extrapolation.
    rates = {(r["metric"]["grpc_method"], r["metric"]["grpc_code"]): float(r["value"][1])
             for r in g["panels"]["dashboard/gRPC calls per second by method and code"]}
    assert set(rates) == set(calls)
    for k, v in calls.items():
        assert rates[k] / sum(rates.values()) == pytest.approx(v / total, rel=1e-9, abs=1e-12), k
    assert sum(rates.values()) * g["window_s"] == pytest.approx(total, rel=0.1)
    ratio = {(r["metric"]["model"], r["metric"]["grpc_code"]): float(r["value"][1])
             for r in g["panels"]["dashboard/gRPC error ratio by code (non-OK share of calls)"]}
    assert ratio == pytest.approx({(MODEL, code): calls[("ModelInfer", code)] / total
                                   for code in ("INVALID_ARGUMENT", "UNAVAILABLE")}, rel=1e-9)
    assert ratio[(MODEL, "INVALID_ARGUMENT")] == pytest.approx(0.2)
    # The same calls are in the request families, by HTTP status class (the panels' description).
    m = stack["sidecar"].scrape()
    assert metric_sum(m, "mlsidecar_requests_total", route="health", code="2xx") >= GRPC_WARMUP_HEALTH
    assert metric_sum(m, "mlsidecar_requests_total", route="infer", code="4xx") >= 2 * (n + 2)


def test_shadow_panel_shows_the_agreement_of_an_identical_shadow(stack):
    """The shadow is the same model: every compared pair agrees on status and on its outputs, and
    the dashboard's agreement panel says 1 for the shadow's version, as the sidecar's counters do."""
    m = stack["sidecar"].scrape()
    compared = metric_sum(m, "mlsidecar_shadow_compared_total", version="2")
    assert compared > 0
    assert metric_sum(m, "mlsidecar_shadow_status_matches_total", version="2") == compared
    outputs = {dict(ls)["output"] for (name, ls), v in m.items()
               if name == "mlsidecar_shadow_output_compared_total" and v > 0}
    assert outputs, "no output was compared"
    for output in outputs:
        assert (metric_sum(m, "mlsidecar_shadow_output_matches_total", version="2", output=output)
                == metric_sum(m, "mlsidecar_shadow_output_compared_total", version="2", output=output)), output
    panel = [q for q in shipped.dashboard_queries("30s", NAMESPACE) if "Shadow agreement" in q["source"]]
    assert panel
    for q in panel:
        result = stack["prom"].query(q["expr"], at=stack["steady_end"])  # the steady load's last 30 s
        assert result, q["source"]
        for r in result:
            assert r["metric"]["version"] == "2"
            assert float(r["value"][1]) == pytest.approx(1.0), (q["source"], r)
