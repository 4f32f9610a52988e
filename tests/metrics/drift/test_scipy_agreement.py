"""Numeric validation of the drift engine against SciPy, run in the same test.

Data in several shapes (normal, shifted, scaled, heavy-tailed, discrete, categorical with unseen
categories) goes through the project's own code: `mlsidecar profile` (the real binary) builds
the reference profile from a CSV, and a DriftEngine (drift_tool engine) reads live KServe V1 or
Open Inference V2 bodies and computes every statistic. The same numbers are then computed here
with scipy.stats.ks_2samp, wasserstein_distance, scipy.spatial.distance.jensenshannon(base=2),
chisquare, and PSI from its formula with numpy, and must agree to 1e-9 relative.

Run: MLSIDECAR_BIN=build/sidecar/mlsidecar DRIFT_TOOL=build/tests/metrics/drift/drift_tool \
     /usr/bin/python3 -m pytest -q FILE
"""

import json
import math
import os
import subprocess
import zlib

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

TOOL = os.environ.get("DRIFT_TOOL", "build/tests/metrics/drift/drift_tool")
MLSIDECAR = os.environ.get("MLSIDECAR_BIN", "build/sidecar/mlsidecar")
EPS = 1e-4  # kRatioEpsilon in metrics/drift/statistics.h
RTOL = 1e-9
N_REF = 6000
SAMPLE_CAP = 4000  # below N_REF, so the reference sample is a reservoir sample
WINDOW = 1000


def close(ours, theirs, rtol=RTOL, atol=1e-300):
    assert ours is not None, "statistic missing"
    assert math.isfinite(ours)
    assert abs(ours - theirs) <= max(rtol * abs(theirs), atol), (ours, theirs)


def run(*args, stdin=None):
    """drift_tool for `stats` and `engine`, the real mlsidecar for `profile`."""
    binary = MLSIDECAR if args[0] == "profile" else TOOL
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True)


def psi_numpy(expected, actual):
    e = np.maximum(np.asarray(expected, float), EPS)
    a = np.maximum(np.asarray(actual, float), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def reference_frame(rng):
    return {
        "normal": rng.normal(10.0, 2.0, N_REF),
        "heavy": rng.standard_t(2.0, N_REF),
        "discrete": rng.poisson(3.0, N_REF).astype(float),
        "color": rng.choice(["red", "green", "blue"], N_REF, p=[0.5, 0.3, 0.2]),
    }


# Live data per scenario: functions of a generator, one per feature.
SCENARIOS = {
    "unshifted": lambda rng: {
        "normal": rng.normal(10.0, 2.0, WINDOW),
        "heavy": rng.standard_t(2.0, WINDOW),
        "discrete": rng.poisson(3.0, WINDOW).astype(float),
        "color": rng.choice(["red", "green", "blue"], WINDOW, p=[0.5, 0.3, 0.2]),
    },
    "shifted": lambda rng: {
        "normal": rng.normal(11.0, 2.0, WINDOW),
        "heavy": rng.standard_t(2.0, WINDOW) + 0.5,
        "discrete": rng.poisson(4.0, WINDOW).astype(float),
        "color": rng.choice(["red", "green", "blue"], WINDOW, p=[0.2, 0.3, 0.5]),
    },
    "scaled": lambda rng: {
        "normal": rng.normal(10.0, 4.0, WINDOW),
        "heavy": rng.standard_t(2.0, WINDOW) * 3.0,
        "discrete": rng.poisson(3.0, WINDOW).astype(float) * 2.0,
        # categories the reference never saw
        "color": rng.choice(["red", "purple", "orange"], WINDOW, p=[0.4, 0.4, 0.2]),
    },
}


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    rng = np.random.default_rng(20240601)
    ref = reference_frame(rng)
    d = tmp_path_factory.mktemp("drift")
    csv = d / "train.csv"
    with open(csv, "w") as f:
        f.write("normal,heavy,discrete,color\n")
        for i in range(N_REF):
            f.write(f"{ref['normal'][i]!r},{ref['heavy'][i]!r},{ref['discrete'][i]!r},{ref['color'][i]}\n")
    out = d / "profile.json"
    r = run("profile", "--input", str(csv), "--output", str(out), "--sample-cap", str(SAMPLE_CAP))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    return {"path": out, "doc": doc, "ref": ref, "dir": d}


def feature(doc, name):
    return next(f for f in doc["features"] if f["name"] == name)


def test_profile_matches_numpy(profile):
    doc, ref = profile["doc"], profile["ref"]
    assert doc["format"] == "mlsidecar-drift-profile" and doc["version"] == 1
    for name in ("normal", "heavy", "discrete"):
        f = feature(doc, name)
        x = ref[name]
        assert f["kind"] == "numeric"
        assert f["count"] == N_REF and f["missing"] == 0
        close(f["mean"], float(np.mean(x)), rtol=1e-12)
        close(f["std"], float(np.std(x)), rtol=1e-9)
        assert f["min"] == float(np.min(x)) and f["max"] == float(np.max(x))
        q = np.quantile(x, np.arange(1, 10) / 10.0)
        expected_edges = []
        for e in q:
            if e > x.min() and (not expected_edges or e > expected_edges[-1]):
                expected_edges.append(float(e))
        np.testing.assert_allclose(f["bin_edges"], expected_edges, rtol=1e-12)
        counts = np.bincount(np.searchsorted(expected_edges, x, side="right"),
                             minlength=len(expected_edges) + 1)
        np.testing.assert_allclose(f["bin_ratios"], counts / N_REF, rtol=1e-12)
        sample = np.asarray(f["sample"])
        assert len(sample) == SAMPLE_CAP
        assert np.all(np.isin(sample, x)), "the sample holds reference values only"
    color = feature(doc, "color")
    assert color["kind"] == "categorical"
    values, counts = np.unique(ref["color"], return_counts=True)
    shares = dict(zip(values, counts / N_REF))
    assert {c["value"]: c["ratio"] for c in color["categories"]} == pytest.approx(shares, rel=1e-12)
    assert color["other_ratio"] == 0


def write_v1_bodies(path, live, batch=10):
    names = list(live)
    with open(path, "w") as f:
        for start in range(0, WINDOW, batch):
            rows = []
            for i in range(start, start + batch):
                row = {}
                for n in names:
                    v = live[n][i]
                    row[n] = str(v) if n == "color" else float(v)
                rows.append(row)
            f.write(json.dumps({"instances": rows}) + "\n")


def write_v2_bodies(path, live, batch=25):
    numeric = ["normal", "heavy", "discrete"]
    with open(path, "w") as f:
        for start in range(0, WINDOW, batch):
            sl = slice(start, start + batch)
            # One [batch, 1] tensor per numeric feature (nested data), and a BYTES tensor.
            inputs = [{"name": n, "shape": [batch, 1], "datatype": "FP64",
                       "data": [[float(v)] for v in live[n][sl]]} for n in numeric]
            inputs.append({"name": "color", "shape": [batch], "datatype": "BYTES",
                           "data": [str(v) for v in live["color"][sl]]})
            f.write(json.dumps({"inputs": inputs}) + "\n")


def check_against_scipy(drift, doc, live):
    by_name = {f["name"]: f for f in drift["features"]}
    for name in ("normal", "heavy", "discrete"):
        ref = feature(doc, name)
        got = by_name[name]
        x = np.asarray(live[name], float)
        assert got["window_samples"] == WINDOW
        edges, ratios = ref["bin_edges"], np.asarray(ref["bin_ratios"])
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
        s = got["statistics"]
        close(s["psi"], psi_numpy(ratios, counts / len(x)))
        close(s["js_distance"], float(jensenshannon(ratios, counts, base=2)))
        ks = stats.ks_2samp(x, np.asarray(ref["sample"]))
        close(s["ks_statistic"], float(ks.statistic))
        close(s["ks_pvalue"], float(ks.pvalue))
        w = stats.wasserstein_distance(x, ref["sample"])
        close(s["wasserstein"], float(w))
        close(s["wasserstein_normalized"], float(w) / ref["std"])
    ref = feature(doc, "color")
    got = by_name["color"]
    cats = [c["value"] for c in ref["categories"]]
    shares = np.array([c["ratio"] for c in ref["categories"]] + [ref["other_ratio"]])
    observed = np.array([np.sum(live["color"] == c) for c in cats] +
                        [np.sum(~np.isin(live["color"], cats))], float)
    s = got["statistics"]
    close(s["psi"], psi_numpy(shares, observed / observed.sum()))
    close(s["js_distance"], float(jensenshannon(shares, observed, base=2)))
    # Cells used by neither side are dropped; an unseen category's expected share is epsilon.
    keep = (shares > 0) | (observed > 0)
    exp_share = np.maximum(shares[keep], EPS)
    expected = exp_share / exp_share.sum() * observed.sum()
    chi = stats.chisquare(observed[keep], expected)
    close(s["chi2_statistic"], float(chi.statistic))
    close(s["chi2_pvalue"], float(chi.pvalue))
    return by_name


@pytest.mark.parametrize("protocol", ["v1", "v2"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_engine_statistics_match_scipy(profile, scenario, protocol):
    rng = np.random.default_rng(zlib.crc32(f"{scenario}/{protocol}".encode()))
    live = SCENARIOS[scenario](rng)
    bodies = profile["dir"] / f"{scenario}-{protocol}.jsonl"
    if protocol == "v1":
        write_v1_bodies(bodies, live)
        route = "predict"
    else:
        write_v2_bodies(bodies, live)
        route = "infer"
    r = run("engine", "--profile", str(profile["path"]), "--bodies", str(bodies), "--route", route,
            "--window", str(WINDOW))
    assert r.returncode == 0, r.stderr
    drift = json.loads(r.stdout)
    by_name = check_against_scipy(drift, profile["doc"], live)
    # And the verdict a user reads: low drift without a shift, high with one.
    psi_normal = by_name["normal"]["statistics"]["psi"]
    if scenario == "unshifted":
        assert psi_normal < 0.1
        assert by_name["normal"]["statistics"]["ks_pvalue"] > 1e-3
    else:
        assert psi_normal > 0.2
        assert by_name["normal"]["statistics"]["ks_pvalue"] < 1e-6


def stats_cases(cases):
    r = run("stats", stdin=json.dumps({"cases": cases}))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["results"]


def test_ks_exact_and_asymptotic_sizes():
    """ks_2samp with method='auto': exact up to 10000 per sample, asymptotic beyond."""
    rng = np.random.default_rng(7)
    shapes = [
        (1000, 10000, lambda n: rng.normal(0, 1, n), lambda n: rng.normal(0, 1, n)),
        (1000, 10000, lambda n: rng.normal(0.1, 1, n), lambda n: rng.normal(0, 1, n)),
        (137, 911, lambda n: rng.standard_t(2, n), lambda n: rng.standard_t(2, n) * 1.3),
        (500, 500, lambda n: rng.poisson(3, n).astype(float), lambda n: rng.poisson(3.3, n).astype(float)),
        (40, 40, lambda n: rng.normal(0.5, 1, n), lambda n: rng.normal(0, 1, n)),
        (2000, 20000, lambda n: rng.normal(0.05, 1, n), lambda n: rng.normal(0, 1, n)),
        (300, 15000, lambda n: rng.normal(0, 1, n), lambda n: rng.normal(0, 1, n)),
        (20000, 20000, lambda n: rng.normal(0.02, 1, n), lambda n: rng.normal(0, 1, n)),
    ]
    cases, expected = [], []
    for n1, n2, fa, fb in shapes:
        a, b = fa(n1), fb(n2)
        cases.append({"op": "ks", "a": a.tolist(), "b": b.tolist()})
        expected.append((stats.ks_2samp(a, b), max(n1, n2) <= 10000))
    for got, (want, exact) in zip(stats_cases(cases), expected):
        assert got["exact"] == exact
        close(got["statistic"], float(want.statistic))
        close(got["pvalue"], float(want.pvalue))


def test_wasserstein_js_psi_chisquare_direct():
    rng = np.random.default_rng(11)
    cases, want = [], []
    for a, b in [(rng.normal(0, 1, 300), rng.normal(0.3, 2, 700)),
                 (rng.poisson(2, 100).astype(float), rng.poisson(2, 50).astype(float)),
                 (rng.standard_cauchy(400), rng.standard_cauchy(400))]:
        cases.append({"op": "wasserstein", "a": a.tolist(), "b": b.tolist()})
        want.append(stats.wasserstein_distance(a, b))
    p, q = [0.1, 0.2, 0.7, 0.0], [5, 0, 10, 3]
    cases.append({"op": "js", "p": p, "q": q})
    want.append(jensenshannon(p, q, base=2))
    cases.append({"op": "js", "p": [1, 0], "q": [0, 1]})
    want.append(1.0)
    e, a = [0.25, 0.25, 0.5, 0.0], [0.1, 0.4, 0.45, 0.05]
    cases.append({"op": "psi", "expected": e, "actual": a})
    want.append(psi_numpy(e, a))
    obs, exp = [16, 18, 16, 14, 12, 12], [16, 16, 16, 16, 16, 8]
    cases.append({"op": "chisquare", "observed": obs, "expected": exp})
    want.append(stats.chisquare(obs, exp).pvalue)
    got = stats_cases(cases)
    for g, w in zip(got, want):
        close(g.get("value", g.get("pvalue")), float(w))


@pytest.mark.parametrize("content,needle", [
    ("a,b\n1,2\n3\n", "ragged row"),
    ("name,color\nx,red\ny,blue\n", "no numeric column"),
    ("", "empty file"),
])
def test_profile_bad_input_is_one_line_exit_2(tmp_path, content, needle):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    r = run("profile", "--input", str(src), "--output", str(tmp_path / "p.json"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and needle in r.stderr, r.stderr
    assert str(src) in r.stderr


def test_profile_missing_file_and_bad_flag(tmp_path):
    r = run("profile", "--input", str(tmp_path / "nope.csv"))
    assert r.returncode == 2 and "cannot open" in r.stderr and r.stderr.count("\n") == 1
    r = run("profile", "--input", "x.csv", "--bins", "zero")
    assert r.returncode == 2 and "--bins" in r.stderr
    r = run("profile", "--help")
    assert r.returncode == 0 and "--sample-cap" in r.stdout
