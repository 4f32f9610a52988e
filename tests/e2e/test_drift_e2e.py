"""End to end: data drift seen through `mlsidecar serve`.

A reference data set from the traffic generator is profiled with `mlsidecar profile` (inputs
f0..f7 from its CSV; outputs from the example model's own answers to those rows). The sidecar,
started with that profile and a 1 s drift interval, sits in front of the example model server.
KServe V1 and Open Inference V2 traffic goes through it: first unshifted, then with f2 and f5
shifted by +4. /metrics and /drift must show low drift everywhere first, then high drift on
exactly f2 and f5 (and on the model's outputs, which depend on them), and nowhere else.
Malformed bodies are counted and never change what the client receives.

The traffic is seeded and sent on one connection, so the windows hold the same values on every
run: the thresholds below are not a matter of luck.
"""
import json
import subprocess

import pytest

from e2e_common import (EchoModel, drift_json, emit_csv, run_traffic, wait_drift_computation,
                        wait_metric)
import procs
from procs import ModelServer, Sidecar, http_request, metric_sum, metric_value, sidecar_binary

MODEL = "demo"
WINDOW = 400
SHIFT = 4.0
SHIFTED = {"f2", "f5"}
INPUTS = ["f%d" % i for i in range(8)]
OUTPUTS = ["predictions", "output-0"]  # V1 and V2 answers of the model
SMALL = dict(requests=5, batch=4)      # first phase: the window is not full yet
PHASE = dict(requests=60, batch=8)     # per protocol, per phase: 480 rows > WINDOW


def snapshot(sidecar):
    m = sidecar.scrape()
    return {"metrics": m, "drift": drift_json(sidecar)}


def stat(snap, name, feature, direction="input"):
    return metric_value(snap["metrics"], "mlsidecar_drift_" + name, feature=feature,
                        direction=direction)


def send_phase(sidecar, seed, shift, requests, batch):
    """V1 (list rows, named by the profile's columns) then V2 (one [batch,1] tensor per feature),
    each `requests` requests of `batch` rows, on one connection; all must succeed."""
    extra = ["--shift", "f2,f5=+%g" % SHIFT] if shift else []
    for mix, s in (("v1", seed), ("v2", seed + 1)):
        summary = run_traffic(sidecar.port, "--mix", mix, "--v1-layout", "lists", "--model", MODEL,
                              "--requests", requests, "--batch", batch, "--concurrency", 1,
                              "--seconds", 60, "--seed", s, *extra)
        assert summary["ok"] == requests, summary


def bodies_read(sidecar, n):
    """Waits until the worker has read `n` request and `n` response bodies, then for a
    computation after that; returns the snapshot."""
    for direction in ("input", "output"):
        wait_metric(sidecar, "mlsidecar_drift_samples_total", lambda v: v >= n,
                    direction=direction)
    wait_drift_computation(sidecar)
    return snapshot(sidecar)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("drift")
    csv = work / "reference.csv"
    emit_csv(csv, 3000, seed=1)
    model = ModelServer("--model-name", MODEL)
    try:
        # Output reference: the model's own answers to the reference rows.
        rows = [[float(x) for x in line.split(",")] for line in csv.read_text().splitlines()[1:]]
        status, obj = procs.http_json(model.port, "POST", "/v1/models/%s:predict" % MODEL,
                                      {"instances": rows})
        assert status == 200 and len(obj["predictions"]) == len(rows)
        outputs = work / "outputs.jsonl"
        outputs.write_text("".join(json.dumps({"predictions": p, "output-0": p}) + "\n"
                                   for p in obj["predictions"]))
        profile = work / "profile.json"
        subprocess.run([sidecar_binary(), "profile", "--input", str(csv), "--output", str(profile)],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([sidecar_binary(), "profile", "--input", str(outputs), "--format", "jsonl",
                        "--direction", "output", "--merge", str(profile), "--output", str(profile)],
                       check=True, capture_output=True, timeout=60)
        sidecar = Sidecar(upstream_port=model.port, extra_args=[
            "--threads", "1", "--model", MODEL, "--drift-profile", str(profile),
            "--drift-interval", "1s", "--drift-window", str(WINDOW), "--drift-max-body", "16384"])
    except BaseException:
        model.stop()
        raise
    state = {"model": model, "sidecar": sidecar, "profile": json.loads(profile.read_text())}
    try:
        run_phases(state)
        yield state
    finally:
        sidecar.stop()
        model.stop()


def run_phases(state):
    sidecar = state["sidecar"]
    n = 0
    send_phase(sidecar, 100, False, **SMALL)
    n += 2 * SMALL["requests"]
    state["small"] = bodies_read(sidecar, n)
    send_phase(sidecar, 200, False, **PHASE)
    n += 2 * PHASE["requests"]
    state["unshifted"] = bodies_read(sidecar, n)
    send_phase(sidecar, 300, True, **PHASE)
    n += 2 * PHASE["requests"]
    state["shifted"] = bodies_read(sidecar, n)
    state["bodies"] = n


def test_profile_has_the_inputs_and_the_outputs(stack):
    features = {(f["name"], f["direction"]): f for f in stack["profile"]["features"]}
    assert set(features) == {(f, "input") for f in INPUTS} | {(f, "output") for f in OUTPUTS}
    assert all(f["kind"] == "numeric" and f["count"] == 3000 for f in features.values())
    # traffic.py draws f2 from N(-1, 2) and f5 from N(10, 3).
    assert features[("f2", "input")]["mean"] == pytest.approx(-1.0, abs=0.15)
    assert features[("f5", "input")]["std"] == pytest.approx(3.0, rel=0.06)


def test_window_samples_follow_the_rows_sent(stack):
    rows = SMALL["requests"] * SMALL["batch"]
    m = stack["small"]["metrics"]
    for f in INPUTS:  # V1 and V2 rows both feed the input window
        assert metric_value(m, "mlsidecar_drift_window_samples", feature=f,
                            direction="input") == 2 * rows, f
    for f in OUTPUTS:
        assert metric_value(m, "mlsidecar_drift_window_samples", feature=f,
                            direction="output") == rows, f
    # Then the windows fill up to --drift-window and stay there.
    for phase in ("unshifted", "shifted"):
        m = stack[phase]["metrics"]
        for f, d in [(f, "input") for f in INPUTS] + [(f, "output") for f in OUTPUTS]:
            assert metric_value(m, "mlsidecar_drift_window_samples", feature=f,
                                direction=d) == WINDOW, (phase, f, d)
    # Every body was read, none dropped or skipped, every value counted in the bin counters.
    m = stack["shifted"]["metrics"]
    assert metric_value(m, "mlsidecar_drift_samples_total", direction="input") == stack["bodies"]
    assert metric_value(m, "mlsidecar_drift_samples_total", direction="output") == stack["bodies"]
    assert metric_value(m, "mlsidecar_drift_dropped_samples_total") == 0
    assert metric_sum(m, "mlsidecar_drift_skipped_total") == 0
    rows_per_protocol = rows + 2 * PHASE["requests"] * PHASE["batch"]
    for f in INPUTS:
        assert metric_sum(m, "mlsidecar_feature_bin_observations_total", feature=f,
                          direction="input") == 2 * rows_per_protocol, f
        assert metric_value(m, "mlsidecar_feature_missing_total", feature=f,
                            direction="input") == 0
    for f in OUTPUTS:
        assert metric_sum(m, "mlsidecar_feature_bin_observations_total", feature=f,
                          direction="output") == rows_per_protocol, f


def test_unshifted_traffic_shows_low_drift_everywhere(stack):
    snap = stack["unshifted"]
    for f, d in [(f, "input") for f in INPUTS] + [(f, "output") for f in OUTPUTS]:
        assert stat(snap, "psi", f, d) < 0.1, (f, d)
        assert stat(snap, "ks_statistic", f, d) < 0.1, (f, d)
        assert stat(snap, "ks_pvalue", f, d) > 1e-3, (f, d)
        assert stat(snap, "js_distance", f, d) < 0.15, (f, d)


def test_shifted_traffic_shows_high_drift_on_exactly_the_shifted_features(stack):
    snap = stack["shifted"]
    for f in INPUTS:
        psi, ks = stat(snap, "psi", f), stat(snap, "ks_statistic", f)
        if f in SHIFTED:
            assert psi > 0.5 and ks > 0.3, (f, psi, ks)
            assert stat(snap, "ks_pvalue", f) < 1e-12, f
            # A pure location shift moves every quantile by SHIFT: Wasserstein-1 is about SHIFT.
            assert stat(snap, "wasserstein", f) == pytest.approx(SHIFT, abs=0.6), f
        else:
            assert psi < 0.1 and ks < 0.1, (f, psi, ks)
            assert stat(snap, "ks_pvalue", f) > 1e-3, f
    # The score depends on f2 and f5 (weights 0.3 and -0.7): its log-odds move by -1.6, about
    # 0.7 of their standard deviation, so both output features drift, less than the inputs.
    for f in OUTPUTS:
        psi, ks = stat(snap, "psi", f, "output"), stat(snap, "ks_statistic", f, "output")
        assert psi > 0.15 and ks > 0.15, (f, psi, ks)
        assert stat(snap, "ks_pvalue", f, "output") < 1e-6, f


def test_drift_endpoint_agrees_with_metrics(stack):
    for phase in ("unshifted", "shifted"):
        snap = stack[phase]
        doc = snap["drift"]
        by_name = {(f["name"], f["direction"]): f for f in doc["features"]}
        assert set(by_name) == ({(f, "input") for f in INPUTS}
                                | {(f, "output") for f in OUTPUTS})
        for (name, direction), f in by_name.items():
            assert f["window_samples"] == WINDOW
            s = f["statistics"]
            for key in ("psi", "js_distance", "ks_statistic", "ks_pvalue", "wasserstein"):
                assert s[key] == pytest.approx(stat(snap, key, name, direction), rel=1e-9,
                                               abs=1e-300), (phase, name, key)
            assert sum(b["window_ratio"] for b in f["bins"]) == pytest.approx(1.0)
            assert f["reference"]["count"] == 3000
    shifted = {f["name"] for f in stack["shifted"]["drift"]["features"]
               if f["direction"] == "input" and f["statistics"]["psi"] > 0.2}
    assert shifted == SHIFTED


def test_rejected_bodies_never_reach_the_windows_and_are_relayed_unchanged(stack):
    """Bodies the model refuses (4xx) are relayed byte for byte and say nothing about the data
    the model sees: neither read nor counted as skipped."""
    sidecar, model = stack["sidecar"], stack["model"]
    before = sidecar.scrape()
    cases = [("/v1/models/%s:predict" % MODEL, b"{not json"),
             ("/v1/models/%s:predict" % MODEL, b'{"rows": [[1, 2]]}'),
             ("/v2/models/%s/infer" % MODEL, b'{"inputs": [{"name": "f0"'),
             ("/v2/models/%s/infer" % MODEL, b'{"inputs": "f0"}')]
    for path, body in cases:
        direct = http_request(model.port, "POST", path, body)
        proxied = http_request(sidecar.port, "POST", path, body)
        assert proxied[0] == direct[0] == 400, (path, body, proxied)
        assert proxied[2] == direct[2], (path, body)
    wait_drift_computation(sidecar)
    after = sidecar.scrape()
    for name in ("mlsidecar_drift_samples_total", "mlsidecar_drift_skipped_total",
                 "mlsidecar_drift_window_samples"):
        assert ({k: v for k, v in after.items() if k[0] == name}
                == {k: v for k, v in before.items() if k[0] == name}), name


@pytest.fixture(scope="module")
def echo_sidecar(stack, tmp_path_factory):
    profile = tmp_path_factory.mktemp("echo") / "profile.json"
    profile.write_text(json.dumps(stack["profile"]))
    echo = EchoModel()
    try:
        with Sidecar(upstream_port=echo.port, extra_args=[
                "--threads", "1", "--drift-profile", str(profile), "--drift-interval", "1s",
                "--drift-max-body", "4096"]) as sc:
            yield sc
    finally:
        echo.close()


def test_malformed_bodies_are_counted_and_never_change_the_response(echo_sidecar):
    sc = echo_sidecar
    cases = {  # body -> reason counted for the request and again for the echoed response
        b"{not json": "invalid_json",
        b'{"instances": [[1, 2]': "invalid_json",
        b"\xff\xfe binary": "invalid_json",
        b'{"rows": [[1, 2]]}': "unexpected_shape",
        b"[1, 2, 3]": "unexpected_shape",
    }
    for body in cases:
        status, headers, got = http_request(sc.port, "POST", "/v1/models/%s:predict" % MODEL, body,
                                            {"Content-Type": "application/json"})
        assert status == 200 and got == body
    v2 = b'{"inputs": {"name": "f0"}}'
    status, _, got = http_request(sc.port, "POST", "/v2/models/%s/infer" % MODEL, v2)
    assert status == 200 and got == v2
    expected = {"invalid_json": 0, "unexpected_shape": 0}
    for reason in cases.values():
        expected[reason] += 2
    expected["unexpected_shape"] += 2

    def counted():
        m = sc.scrape()
        got = {r: metric_value(m, "mlsidecar_drift_skipped_total", reason=r) for r in expected}
        return m if got == expected else None
    m = procs.wait_for(counted, 10, what="skipped bodies counted by reason: %s" % expected)
    assert metric_sum(m, "mlsidecar_drift_window_samples") == 0
    assert metric_sum(m, "mlsidecar_drift_samples_total") == 0


def test_bodies_over_max_body_are_counted_as_too_large(echo_sidecar):
    sc = echo_sidecar
    big = json.dumps({"instances": [[0.5] * 8] * 200}).encode()
    assert len(big) > 4096
    before = metric_value(sc.scrape(), "mlsidecar_drift_skipped_total", reason="too_large")
    status, _, got = http_request(sc.port, "POST", "/v1/models/%s:predict" % MODEL, big)
    assert status == 200 and got == big
    # Request and response are both over the limit.
    wait_metric(sc, "mlsidecar_drift_skipped_total", lambda v: v == before + 2, timeout=5,
                reason="too_large")


def test_a_profile_of_inputs_only_reads_no_responses(stack, tmp_path_factory):
    """With no output feature in the profile, responses are neither copied nor read: the echoed
    bodies (requests, not `predictions`) would otherwise count as unexpected_shape."""
    doc = dict(stack["profile"])
    doc["features"] = [f for f in doc["features"] if f["direction"] == "input"]
    assert doc["features"] and len(doc["features"]) < len(stack["profile"]["features"])
    profile = tmp_path_factory.mktemp("inputs-only") / "profile.json"
    profile.write_text(json.dumps(doc))
    echo = EchoModel()
    try:
        with Sidecar(upstream_port=echo.port, extra_args=[
                "--threads", "1", "--drift-profile", str(profile), "--drift-interval", "1s"]) as sc:
            body = json.dumps({"instances": [[0.5] * 8, [1.5] * 8]}).encode()
            for _ in range(20):
                status, _, got = http_request(sc.port, "POST", "/v1/models/%s:predict" % MODEL,
                                              body, {"Content-Type": "application/json"})
                assert status == 200 and got == body
            wait_metric(sc, "mlsidecar_drift_samples_total", lambda v: v == 20, timeout=10,
                        direction="input")
            wait_drift_computation(sc)
            m = sc.scrape_settled()
            assert metric_value(m, "mlsidecar_drift_samples_total", direction="output") == 0
            assert metric_sum(m, "mlsidecar_drift_skipped_total") == 0
            assert metric_value(m, "mlsidecar_drift_window_samples", feature="f0",
                                direction="input") == 40
    finally:
        echo.close()
