"""Shared helpers of the status page tests: paths, the headless browser run, reference data, and
promql's histogram_quantile over the strict scrape of tests/support/procs.py."""
import json
import math
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from procs import sidecar_binary  # noqa: E402

NODE_DIR = os.path.join(ROOT, "tests", "status", "node")
BROWSER = os.path.join(NODE_DIR, "browser.mjs")
CHROMIUM = "/usr/bin/chromium"
TRAFFIC = os.path.join(ROOT, "examples", "traffic.py")
# Screenshots and the browser's findings: kept under the ctest working directory (build/...).
ARTIFACTS = os.path.join(os.getcwd(), "artifacts")
MARKUP = "<img src=x onerror=alert(1)>\"'&"


def browser_available():
    return (os.path.exists(CHROMIUM) and shutil.which("node") is not None
            and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "puppeteer-core")))


def open_in_browser(url, name, timeout=90, status_json=None):
    """Runs node/browser.mjs on `url`; returns what it saw (and saves it beside the screenshots).
    `status_json` (a file) answers the page's /status.json requests instead of the sidecar."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    extra = ["--status-json", str(status_json)] if status_json else []
    out = subprocess.run(["node", BROWSER, "--url", url, "--out", ARTIFACTS, "--name", name] + extra,
                         capture_output=True, text=True, timeout=timeout, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    with open(os.path.join(ARTIFACTS, name + ".json"), "w") as f:
        json.dump(seen, f, indent=1)
    return seen


def emit_rows(path, rows, seed, shift=None):
    """Rows of traffic.py's feature distribution as CSV (header f0..f7), optionally shifted."""
    extra = ["--shift", shift] if shift else []
    subprocess.run([sys.executable, TRAFFIC, "--emit-csv", str(path), "--rows", str(rows),
                    "--seed", str(seed)] + extra, check=True, capture_output=True, timeout=60)
    lines = open(path).read().splitlines()
    return [[float(x) for x in line.split(",")] for line in lines[1:]]


def reference_profile(work):
    """A drift profile of 3000 reference rows (features f0..f7), made by `mlsidecar profile`."""
    emit_rows(work / "reference.csv", 3000, seed=1)
    profile = work / "profile.json"
    subprocess.run([sidecar_binary(), "profile", "--input", str(work / "reference.csv"),
                    "--output", str(profile)], check=True, capture_output=True, timeout=60)
    return profile


def v1_bodies(rows, batch):
    """KServe V1 bodies of `batch` list rows each, as the sidecar and drift-report read them."""
    return [json.dumps({"instances": rows[i:i + batch]}) for i in range(0, len(rows), batch)]


def merged_buckets(metrics, name, keep=lambda labels: True):
    """Cumulative buckets of every series of histogram `name` whose labels pass `keep`, summed by
    upper bound (what the status page merges)."""
    series = {}
    for (sample, labelset), value in metrics.items():
        if sample != name + "_bucket":
            continue
        lab = dict(labelset)
        if not keep(lab):
            continue
        le = float(lab["le"])
        series[le] = series.get(le, 0.0) + value
    return sorted(series.items())


def histogram_quantile(q, buckets):
    """promql's bucketQuantile over [(le, cumulative)] sorted by le, +Inf last."""
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    b = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count)


__all__ = ["ROOT", "ARTIFACTS", "MARKUP", "TRAFFIC", "browser_available", "open_in_browser", "emit_rows",
           "reference_profile", "v1_bodies", "merged_buckets", "histogram_quantile"]
