"""`mlsidecar drift-report`: exit codes 0 (no drift), 1 (drift), 2 (usage or input error), and the
standalone HTML opened from disk in headless Chromium: no console error or CSP violation under its
own <meta> policy, the drifted feature first and flagged, markup in names shown as text.
Screenshots under artifacts/.
"""
import json
import subprocess

import pytest

from status_common import (ARTIFACTS, browser_available, emit_rows, open_in_browser,
                           reference_profile, v1_bodies)
from procs import sidecar_binary

BATCH = 10
# A file name with markup: it lands in the report's <title> and header (escaped there) and in
# the embedded JSON (as \u003c...).
MARKUP_NAME = "<img src=x onerror=alert(1)>.jsonl"


def run(*args):
    return subprocess.run([sidecar_binary(), "drift-report", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    work = tmp_path_factory.mktemp("report")
    profile = reference_profile(work)
    same = work / "same.jsonl"
    same.write_text("".join(b + "\n" for b in v1_bodies(emit_rows(work / "a.csv", 1000, 2),
                                                        BATCH)))
    shifted = work / MARKUP_NAME
    shifted.write_text("".join(b + "\n" for b in v1_bodies(
        emit_rows(work / "b.csv", 1000, 3, shift="f5=+3"), BATCH)))
    return {"work": work, "profile": profile, "same": same, "shifted": shifted}


def embedded(html):
    tag = '<script type="application/json" id="report-data">'
    start = html.index(tag) + len(tag)
    return json.loads(html[start:html.index("</script>", start)])


def test_no_drift_exits_0(data):
    out = data["work"] / "same.html"
    r = run("--profile", data["profile"], "--input", data["same"], "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "mlsidecar drift-report: 0 of 8 features drifted"
    report = embedded(out.read_text())
    assert report["drift"]["drifted"] == 0 and report["report"]["bodies"] == 100
    assert report["report"]["format"] == "kserve-v1"  # auto, from the first body's keys
    assert all(f["window_samples"] == 1000 for f in report["drift"]["features"])


def test_drift_exits_1_and_thresholds_come_from_flags(data):
    out = data["work"] / "shifted.html"
    r = run("--profile", data["profile"], "--input", data["shifted"], "--output", out)
    assert r.returncode == 1, r.stderr
    assert "1 of 8 features drifted (f5)" in r.stderr
    html = out.read_text()
    assert "<img" not in html.split("<body>")[1].split('<script type="application/json"')[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    report = embedded(html)
    assert report["drift"]["features"][0]["name"] == "f5"
    assert report["drift"]["thresholds"]["psi"] == 0.2
    assert report["drift"]["thresholds"]["min_samples"] == 100
    # A threshold above the drifted PSI, or more samples than the batch holds: no drift.
    psi = report["drift"]["features"][0]["statistics"]["psi"]
    assert run("--profile", data["profile"], "--input", data["shifted"], "-o", out,
               "--psi-threshold", psi * 1.01).returncode == 0
    assert run("--profile", data["profile"], "--input", data["shifted"], "-o", out,
               "--min-samples", 1001).returncode == 0
    # The KS statistic can flag on its own when asked.
    r = run("--profile", data["profile"], "--input", data["same"], "-o", out,
            "--psi-threshold", 100, "--ks-threshold", 0.001)
    assert r.returncode == 1, r.stderr


@pytest.mark.parametrize("args, message", [
    ([], "--profile"),
    (["--profile", "P", "--input", "I", "--format", "xml"], "--format"),
    (["--profile", "P", "--input", "I", "--psi-threshold", "-1"], "--psi-threshold"),
    (["--profile", "{work}/nope.json", "--input", "{same}"], "nope.json"),
    (["--profile", "{profile}", "--input", "{work}/nope.jsonl"], "nope.jsonl: cannot open"),
    (["--profile", "{profile}", "--input", "{bad}"], "body 2 is not JSON"),
    (["--profile", "{profile}", "--input", "{empty}"], "no bodies"),
    (["--profile", "{profile}", "--input", "{same}", "--format", "v2"], "could not be read as v2"),
    (["--profile", "{profile}", "--input", "{same}", "--direction", "output"], "no feature"),
])
def test_usage_and_input_errors_exit_2_with_one_line(data, args, message):
    (data["work"] / "bad.jsonl").write_text('{"instances": [[1]]}\nnot json\n')
    (data["work"] / "empty.jsonl").write_text("\n")
    names = {k: str(v) for k, v in data.items()}
    names.update(bad=str(data["work"] / "bad.jsonl"), empty=str(data["work"] / "empty.jsonl"))
    r = run(*[a.format(**names) for a in args])
    assert r.returncode == 2, (args, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlsidecar drift-report: "), r.stderr
    assert message in lines[0], r.stderr
    assert r.stdout == ""


def test_help_is_on_stdout_and_listed_by_mlsidecar_help():
    r = run("--help")
    assert r.returncode == 0 and "--psi-threshold" in r.stdout and "--ks-threshold" in r.stdout
    top = subprocess.run([sidecar_binary(), "--help"], capture_output=True, text=True, timeout=10)
    assert "drift-report" in top.stdout


@pytest.mark.skipif(not browser_available(),
                    reason="needs /usr/bin/chromium and npm ci in tests/status/node")
def test_report_in_chromium(data):
    out = data["work"] / "browser.html"
    assert run("--profile", data["profile"], "--input", data["shifted"], "-o", out).returncode == 1
    html = out.read_text()
    outside = html.replace("http://www.w3.org/2000/svg", "")  # the SVG namespace, not a URL
    assert "http://" not in outside and "https://" not in outside
    assert '<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;' in html
    seen = open_in_browser(out.as_uri(), "drift-report")
    assert seen["problems"] == []
    assert seen["verdict"] == "drift"
    assert seen["title"] == "mlsidecar drift report: " + str(data["shifted"])
    assert seen["imgs"] == 0 and seen["onerror_attributes"] == 0
    assert str(data["shifted"]) in seen["body_text"]
    report = embedded(html)
    assert [f["name"] for f in seen["features"]] == [f["name"] for f in
                                                     report["drift"]["features"]]
    first = seen["features"][0]
    assert first["name"] == "f5" and first["flagged"]
    assert not any(f["flagged"] for f in seen["features"][1:])
    want = report["drift"]["features"][0]
    assert first["psi"] == pytest.approx(want["statistics"]["psi"], rel=1e-12)
    assert first["reference"] == pytest.approx([b["reference"] for b in want["bins"]])
    assert first["live"] == pytest.approx([b["live"] for b in want["bins"]])
    assert seen["phone"]["scroll_width"] <= seen["phone"]["inner_width"], seen["phone"]
    assert ARTIFACTS
