"""`mlsidecar drift-report`: exit codes 0 (no drift), 1 (drift), 2 (usage or input error, and
features too thin to judge unless --allow-missing), control characters escaped on stderr, and the
standalone HTML opened from disk in headless Chromium: no console error or CSP violation under its
own <meta> policy, the drifted feature first and flagged, features absent from the batch marked
"not enough data", markup in names shown as text. Screenshots under artifacts/.
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
    # f6 and f7 cut off every row: a schema break, the two features absent from the batch.
    partial = work / "partial.jsonl"
    partial.write_text("".join(b + "\n" for b in v1_bodies(
        [row[:6] for row in emit_rows(work / "c.csv", 1000, 4)], BATCH)))
    return {"work": work, "profile": profile, "same": same, "shifted": shifted,
            "partial": partial}


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
    # More samples than the batch holds: not enough data to judge any feature.
    r = run("--profile", data["profile"], "--input", data["shifted"], "-o", out,
            "--min-samples", 1001)
    assert r.returncode == 2, r.stderr
    assert "8 of 8 features have fewer than 1001 values in the batch: " in r.stderr
    r = run("--profile", data["profile"], "--input", data["shifted"], "-o", out,
            "--min-samples", 1001, "--allow-missing")
    assert r.returncode == 0, r.stderr
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


def test_features_missing_from_the_batch_exit_2_by_name(data):
    """A schema break (f6 and f7 absent from every row) must not pass as "no drift"."""
    out = data["work"] / "partial.html"
    r = run("--profile", data["profile"], "--input", data["partial"], "-o", out)
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("mlsidecar drift-report: input error: 2 of 8 features have fewer than 100 "
                        "values in the batch: f6 (0), f7 (0); the report marks them, "
                        "--allow-missing judges the other 6\n")
    # The report is still written, for the CI artifact: the two features marked, with their
    # mlsidecar_feature_missing_total counts (one per row).
    report = embedded(out.read_text())
    by_name = {f["name"]: f for f in report["drift"]["features"]}
    for name in ("f6", "f7"):
        assert by_name[name]["enough_data"] is False and by_name[name]["window_samples"] == 0
        assert by_name[name]["missing"] == 1000 and not by_name[name]["flagged"]
    assert all(by_name["f%d" % i]["enough_data"] for i in range(6))
    assert report["report"]["allow_missing"] is False


def test_allow_missing_judges_the_other_features(data):
    out = data["work"] / "partial-allowed.html"
    r = run("--profile", data["profile"], "--input", data["partial"], "-o", out,
            "--allow-missing")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("mlsidecar drift-report: 0 of 8 features drifted; not enough data "
                        "(fewer than 100 values): f6 (0), f7 (0)\n")
    # Drift in the others still exits 1.
    shifted = data["work"] / "partial-shifted.jsonl"
    shifted.write_text("".join(b + "\n" for b in v1_bodies(
        [row[:6] for row in emit_rows(data["work"] / "d.csv", 1000, 5, shift="f5=+3")], BATCH)))
    r = run("--profile", data["profile"], "--input", shifted, "-o", out, "--allow-missing")
    assert r.returncode == 1, r.stderr
    assert "1 of 8 features drifted (f5); not enough data" in r.stderr


def test_control_characters_in_names_are_escaped_on_stderr(data):
    """Feature names come from the profile and file names from the command line: an ESC or a
    newline in them must not colour a CI log or forge a second line."""
    evil = "f5\x1b[31m\nmlsidecar drift-report: 0 of 8 features drifted"
    profile = json.loads(data["profile"].read_text())
    for f in profile["features"]:
        if f["name"] == "f5":
            f["name"] = evil
    profile["columns"]["input"] = [evil if c == "f5" else c for c in profile["columns"]["input"]]
    path = data["work"] / "evil-profile.json"
    path.write_text(json.dumps(profile))
    out = data["work"] / "evil.html"
    r = run("--profile", path, "--input", data["shifted"], "-o", out)
    assert r.returncode == 1, r.stderr
    assert r.stderr == ("mlsidecar drift-report: 1 of 8 features drifted (f5\\x1b[31m\\x0a"
                        "mlsidecar drift-report: 0 of 8 features drifted)\n")
    assert embedded(out.read_text())["drift"]["features"][0]["name"] == evil  # the page: as is
    # The same in an input error: a file name with a newline and a bell.
    r = run("--profile", data["profile"], "--input", data["work"] / "no\nsuch\afile")
    assert r.returncode == 2
    assert r.stderr.endswith("no\\x0asuch\\x07file: cannot open\n"), r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_help_is_on_stdout_and_listed_by_mlsidecar_help():
    r = run("--help")
    assert r.returncode == 0 and "--psi-threshold" in r.stdout and "--ks-threshold" in r.stdout
    assert "--allow-missing" in r.stdout
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
    assert seen["not_enough_data"] == []
    assert ARTIFACTS


@pytest.mark.skipif(not browser_available(),
                    reason="needs /usr/bin/chromium and npm ci in tests/status/node")
def test_missing_features_are_marked_in_chromium(data):
    out = data["work"] / "partial-browser.html"
    assert run("--profile", data["profile"], "--input", data["partial"], "-o",
               out).returncode == 2
    seen = open_in_browser(out.as_uri(), "drift-report-missing")
    assert seen["problems"] == []
    assert seen["verdict"] == "not enough data"
    assert seen["not_enough_data"] == ["f6", "f7"]
    assert seen["not_enough_text"] == ("Not enough data (fewer than 100 values) for 2 of 8 "
                                       "features: f6 (0), f7 (0).")
    by_name = {f["name"]: f for f in seen["features"]}
    for name in ("f6", "f7"):
        f = by_name[name]
        assert not f["enough_data"] and not f["flagged"] and f["missing"] == 1000
        assert f["badge"] == "not enough data"
        assert "no values · 0 values, 1000 rows without it" in f["sub"]
    assert all(by_name["f%d" % i]["enough_data"] and by_name["f%d" % i]["badge"] is None
               for i in range(6))
