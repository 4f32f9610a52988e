"""The admin status page in a real browser (headless Chromium driven by puppeteer-core).

A stand-in model (examples/model_server) sits behind a real mlsidecar whose --model carries markup
and whose drift profile comes from traffic.py's reference rows. The test sends KServe V1 bodies in
which f2 is shifted by +4 (so f2 alone drifts), then LLM completions at a concurrency above
--container-concurrency (so some are shed with 503: the error chart has something to show), waits
until the page's snapshot ring has seen all of it, and opens / in Chromium. What the charts drew
(their data-* attributes) must equal what /metrics and /drift say; the drifted feature must come
first and be flagged; the model name must show as text; nothing may be logged to the console.
The same bodies go through `mlsidecar drift-report` with the sidecar's window: its statistics must
be exactly the live sidecar's. A second sidecar copies calls to a real shadow version that
disagrees on a known quarter of them: the page's shadow section must say what /metrics says.
Screenshots (desktop, phone) are kept under artifacts/.
"""
import json
import math
import os
import subprocess
import sys
import time

import pytest

from status_common import (ARTIFACTS, MARKUP, TRAFFIC, browser_available, emit_rows,
                           histogram_quantile, merged_buckets, open_in_browser,
                           reference_profile, v1_bodies)
import procs
from procs import (ModelServer, Sidecar, VersionedModel, http_request, metric_sum, metric_value, sidecar_binary,
                   wait_for)

pytestmark = pytest.mark.skipif(not browser_available(),
                                reason="needs /usr/bin/chromium and npm ci in tests/status/node")

MODEL = "demo"
WINDOW = 400
BATCH = 8
DRIFTED = "f2"


SHADOW_VERSION = "v3<script>"  # client-chosen text: shown as text
SHADOW_CALLS = 40  # ids 0..39 with --disagree-every 4: 10 disagree


def not_health(labels):
    return labels.get("route") != "health"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("status")
    profile = reference_profile(work)
    rows = emit_rows(work / "live.csv", 480, seed=7, shift=DRIFTED + "=+4")
    bodies = v1_bodies(rows, BATCH)
    with ModelServer("--model-name", MODEL, "--token-ms", "5") as model, \
            Sidecar(upstream_port=model.port, extra_args=[
                "--threads", "1", "--model", MARKUP, "--model-version", "v2<b>",
                "--drift-profile", str(profile), "--drift-interval", "1s",
                "--drift-window", str(WINDOW), "--container-concurrency", "2",
                "--queue-timeout", "20ms"]) as sidecar:
        for body in bodies:
            status, _, answer = http_request(sidecar.port, "POST",
                                             "/v1/models/%s:predict" % MODEL, body.encode(),
                                             {"Content-Type": "application/json"})
            assert status == 200, answer[:200]
        wait_for(lambda: metric_value(sidecar.scrape(), "mlsidecar_drift_samples_total",
                                      direction="input") == len(bodies), 20, what="bodies read")
        llm = subprocess.run([sys.executable, TRAFFIC, "--target", sidecar.url, "--json",
                              "--mix", "completions", "--requests", "40", "--concurrency", "6",
                              "--max-tokens", "16", "--seconds", "60"],
                             capture_output=True, text=True, timeout=120)
        summary = json.loads(llm.stdout.strip().splitlines()[-1])
        assert summary["ok"] > 0 and summary["errors"].get("503", 0) > 0, summary
        # A drift computation after the traffic, then a ring snapshot of the final counts.
        since = time.time()
        wait_for(lambda: (metric_value(sidecar.scrape(),
                                       "mlsidecar_drift_last_computation_timestamp_seconds")
                          or 0) > since, 20, what="a drift computation")
        final = sidecar.scrape_settled()
        total = metric_sum(final, "mlsidecar_requests_total")

        def ring_caught_up():
            status_doc = procs.http_json(sidecar.admin_port, "GET", "/status.json")[1]
            totals = status_doc["ring"]["totals"]
            return totals["requests"] == total and totals["in_flight"] == 0
        wait_for(ring_caught_up, 20, interval=0.5, what="a snapshot after the traffic")
        seen = open_in_browser("http://127.0.0.1:%d/" % sidecar.admin_port, "status-page")
        metrics = sidecar.scrape()
        drift = procs.http_json(sidecar.admin_port, "GET", "/drift")[1]
        heads = {path: http_request(sidecar.admin_port, "GET", path)
                 for path in ("/", "/status.js", "/status.css", "/status.json", "/metrics")}
        yield {"seen": seen, "metrics": metrics, "drift": drift, "heads": heads, "work": work,
               "profile": profile, "bodies": bodies, "llm": summary,
               "admin_port": sidecar.admin_port}


@pytest.fixture(scope="module")
def shadow_stack():
    """A real shadow: a second version of a V2 classifier that disagrees on exactly a quarter of
    the calls (tests/support/versioned_model.py), behind --shadow-upstream."""
    infer = "/v2/models/iris/infer"
    with VersionedModel() as primary, \
            VersionedModel("--disagree-every", "4") as shadow, \
            Sidecar(upstream_port=primary.port, extra_args=[
                "--threads", "1", "--model", "iris",
                "--shadow-upstream", "127.0.0.1:%d" % shadow.port, "--shadow-fraction", "1",
                "--shadow-max-rps", "0", "--shadow-version", SHADOW_VERSION,
                "--shadow-class-outputs", "label", "--shadow-argmax-outputs", "probs"]) as sidecar:
        def compared():
            return metric_sum(sidecar.scrape(), "mlsidecar_shadow_compared_total")
        for k in range(SHADOW_CALLS):
            body = json.dumps({"inputs": [{"name": "id", "datatype": "INT64", "shape": [1],
                                           "data": [k]}]}).encode()
            status, _, answer = http_request(sidecar.port, "POST", infer, body,
                                             {"Content-Type": "application/json"})
            assert status == 200, answer[:200]
            # Paced so that no copy is dropped for a full queue: the counts are then exact.
            wait_for(lambda: compared() >= k - 16, 10, what="copies compared")
        wait_for(lambda: compared() == SHADOW_CALLS, 20, what="every copy compared")

        def ring_caught_up():
            doc = procs.http_json(sidecar.admin_port, "GET", "/status.json")[1]
            versions = (doc.get("shadow") or {}).get("versions") or []
            return versions and versions[0]["compared"] == SHADOW_CALLS
        wait_for(ring_caught_up, 20, interval=0.5, what="a snapshot after the copies")
        seen = open_in_browser("http://127.0.0.1:%d/" % sidecar.admin_port, "status-page-shadow")
        # No traffic since: /shadow still lists what the page was given.
        log = procs.http_json(sidecar.admin_port, "GET", "/shadow")[1]
        yield {"seen": seen, "metrics": sidecar.scrape(), "log": log}


def test_a_drift_view_that_cannot_be_built_is_shown_as_an_error(stack):
    """/status.json's drift_error (the /drift document could not be viewed) is said as text, not
    as "Drift monitoring is off". The sidecar cannot be made to fail so: the browser gets a real
    /status.json with drift replaced by an error that carries markup."""
    doc = json.loads(stack["heads"]["/status.json"][2])
    doc["drift"] = None
    doc["drift_error"] = "the /drift document cannot be shown: " + MARKUP
    path = stack["work"] / "status-drift-error.json"
    path.write_text(json.dumps(doc))
    seen = open_in_browser("http://127.0.0.1:%d/" % stack["admin_port"], "status-page-drift-error",
                           status_json=path)
    assert seen["problems"] == []
    assert seen["drift_error"] == "Drift monitoring is on, but " + doc["drift_error"]
    assert seen["drift_off"] is None and seen["features"] == []
    assert seen["imgs"] == 0 and seen["onerror_attributes"] == 0


def test_drift_off_is_said_without_a_profile(shadow_stack):
    assert shadow_stack["seen"]["drift_off"] == "Drift monitoring is off (no --drift-profile)."
    assert shadow_stack["seen"]["drift_error"] is None


def test_page_loads_without_console_errors_or_csp_violations(stack):
    assert stack["seen"]["problems"] == []
    assert set(stack["seen"]["links"]) >= {"/metrics", "/drift", "/config", "/readyz"}
    assert stack["seen"]["ready"] == "ready"


def test_model_name_with_markup_is_shown_as_text(stack):
    seen = stack["seen"]
    assert seen["model"] == MARKUP
    assert MARKUP in seen["body_text"]
    assert seen["imgs"] == 0 and seen["onerror_attributes"] == 0
    assert not any(p["kind"] == "dialog" for p in seen["problems"])
    assert seen["title"] == "mlsidecar · " + MARKUP


def test_every_admin_response_carries_the_policy(stack):
    want = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    types = {"/": "text/html", "/status.js": "text/javascript", "/status.css": "text/css",
             "/status.json": "application/json", "/metrics": "text/plain"}
    for path, (status, headers, body) in stack["heads"].items():
        h = {k.lower(): v for k, v in headers}
        assert status == 200, path
        assert h["content-security-policy"] == want, path
        assert h["x-content-type-options"] == "nosniff", path
        assert h["content-type"].startswith(types[path]), path
    # Served from the binary, small, nothing from elsewhere, no inline script or style.
    for path in ("/", "/status.js", "/status.css"):
        body = stack["heads"][path][2].replace(b"http://www.w3.org/2000/svg", b"")
        assert len(body) < 20000, path
        assert b"http://" not in body and b"https://" not in body, path
    page = stack["heads"]["/"][2]
    assert b"<style" not in page and b"style=" not in page
    assert page.count(b"<script") == 1 and b'<script src="/status.js"' in page
    assert b"innerHTML" not in stack["heads"]["/status.js"][2]
    # The names from clients are escaped in the JSON too.
    assert b"<" not in stack["heads"]["/status.json"][2]


def test_charts_draw_the_numbers_of_metrics(stack):
    charts, m = stack["seen"]["charts"], stack["metrics"]
    for name, chart in charts.items():
        assert chart["drawn"] > 0, name
    requests = metric_sum(m, "mlsidecar_requests_total") - metric_sum(
        m, "mlsidecar_requests_total", route="health")
    errors = metric_sum(m, "mlsidecar_requests_total", code="5xx")
    rps = charts["requests_per_second"]
    # The ring began before the first request, so its window is the whole life of the process.
    assert rps["windowRequests"] == requests
    assert math.fsum(v * s for v, s in zip(rps["series"]["requests_per_second"],
                                           rps["seconds"])) == pytest.approx(requests, rel=1e-9)
    assert charts["error_ratio"]["windowErrorRatio"] == pytest.approx(errors / requests, rel=1e-12)
    assert errors > 0
    latency = merged_buckets(m, "mlsidecar_request_duration_seconds", not_health)
    assert charts["latency"]["windowP50"] == pytest.approx(histogram_quantile(0.5, latency),
                                                           rel=1e-12)
    assert charts["latency"]["windowP99"] == pytest.approx(histogram_quantile(0.99, latency),
                                                           rel=1e-12)
    ttft = merged_buckets(m, "mlsidecar_time_to_first_token_seconds")
    assert charts["ttft"]["windowP50"] == pytest.approx(histogram_quantile(0.5, ttft), rel=1e-12)
    assert charts["ttft"]["windowP99"] == pytest.approx(histogram_quantile(0.99, ttft), rel=1e-12)
    tokens = charts["output_tokens_per_second"]
    assert tokens["windowTokens"] == metric_sum(m, "mlsidecar_output_tokens_total") > 0
    assert math.fsum(v * s for v, s in zip(tokens["series"]["output_tokens_per_second"],
                                           tokens["seconds"])) == pytest.approx(
        tokens["windowTokens"], rel=1e-9)
    # Gauges: the newest point against the scrape after it (nothing in flight any more).
    assert charts["in_flight"]["series"]["in_flight"][-1] == metric_sum(
        m, "mlsidecar_inflight_requests") == 0
    assert charts["queued"]["series"]["queued"][-1] == metric_sum(m, "mlsidecar_queued_requests")
    # The load ratio is a time-weighted average that keeps moving after the traffic: a tolerance.
    load = metric_value(m, "mlsidecar_autoscale_load_ratio", window="stable")
    assert charts["load_ratio"]["series"]["load_ratio"][-1] == pytest.approx(load, abs=0.5)
    # Some interval saw both the predictions and their p50 <= p99.
    p50s, p99s = charts["latency"]["series"]["p50_seconds"], charts["latency"]["series"][
        "p99_seconds"]
    assert any(a is not None for a in p50s)
    assert all(a <= b for a, b in zip(p50s, p99s) if a is not None)


def test_drift_view_agrees_with_drift_json(stack):
    features, drift = stack["seen"]["features"], stack["drift"]
    by_name = {(f["name"], f["direction"]): f for f in drift["features"]}
    assert len(features) == len(by_name)
    assert features[0]["name"] == DRIFTED and features[0]["flagged"]
    assert [f["name"] for f in features if f["flagged"]] == [DRIFTED]
    assert stack["seen"]["drifted"] == 1
    severities = [f["severity"] for f in features]
    assert severities == sorted(severities, reverse=True)
    for f in features:
        d = by_name[(f["name"], f["direction"])]
        assert f["psi"] == pytest.approx(d["statistics"]["psi"], rel=1e-12), f["name"]
        assert f["window_samples"] == d["window_samples"] == WINDOW
        assert f["flagged"] == (d["statistics"]["psi"] > 0.2 and d["window_samples"] >= 100)
        assert f["reference"] == pytest.approx([b["reference_ratio"] for b in d["bins"]])
        assert f["live"] == pytest.approx([b["window_ratio"] for b in d["bins"]])
        assert f["bars"] == 2 * len(d["bins"])


def test_shadow_section_is_hidden_without_shadow_families(stack):
    assert not any(name.startswith("mlsidecar_shadow_") for name, _ in stack["metrics"])
    assert stack["seen"]["shadow_section"] is False


def test_shadow_section_shows_what_metrics_says_of_a_real_shadow(shadow_stack):
    seen, m = shadow_stack["seen"], shadow_stack["metrics"]
    assert seen["problems"] == []
    assert seen["shadow_section"] is True
    assert seen["imgs"] == 0 and seen["onerror_attributes"] == 0
    [card] = seen["shadow"]
    assert card["version"] == card["shown_version"] == SHADOW_VERSION
    rows = card["rows"]

    def total(name, **labels):
        return metric_sum(m, name, version=SHADOW_VERSION, **labels)
    compared = total("mlsidecar_shadow_compared_total")
    assert compared == SHADOW_CALLS
    assert float(rows["compared"]) == compared
    assert float(rows["status agreement"].rstrip(" %")) == pytest.approx(
        100 * total("mlsidecar_shadow_status_matches_total") / compared, rel=5e-3)
    for output in ("label", "probs"):
        matches = total("mlsidecar_shadow_output_matches_total", output=output)
        out_compared = total("mlsidecar_shadow_output_compared_total", output=output)
        assert matches / out_compared == 0.75, output  # the known disagreement
        assert float(rows["output %s agreement" % output].rstrip(" %")) == pytest.approx(75.0)
    buckets = merged_buckets(m, "mlsidecar_shadow_latency_ratio",
                             lambda lab: lab.get("version") == SHADOW_VERSION)
    p50, p99 = (float(x) for x in rows["latency ratio p50 / p99"].split(" / "))
    assert p50 == pytest.approx(histogram_quantile(0.5, buckets), rel=5e-3)
    assert p99 == pytest.approx(histogram_quantile(0.99, buckets), rel=5e-3)
    assert float(rows["shadow 2xx"]) == total("mlsidecar_shadow_requests_total", code="2xx")


def test_shadow_card_lists_the_requests_that_disagreed(shadow_stack):
    seen, log = shadow_stack["seen"], shadow_stack["log"]
    [card] = seen["shadow"]
    # Every 4th call disagrees on its label and its argmax: two entries per such call.
    assert log["disagreements_total"] == 2 * len(range(0, SHADOW_CALLS, 4))
    assert card["disagreements_heading"] == (
        "Recent disagreements (%d in all; /shadow has the last %d)"
        % (log["disagreements_total"], log["capacity"]))
    want = [{"request_id": e["request_id"], "what": e["output"] or "status",
             "primary": e["primary"], "shadow": e["shadow"]} for e in log["recent"][:8]]
    got = [{k: d[k] for k in ("request_id", "what", "primary", "shadow")}
           for d in card["disagreements"]]
    assert got == want and len(got) == 8
    for d in card["disagreements"]:
        assert d["what"] in ("label", "probs")
        assert d["text"] == "%s %s: %s \u2192 %s" % (d["request_id"], d["what"], d["primary"],
                                                   d["shadow"])


def test_phone_viewport_has_no_horizontal_overflow(stack):
    phone = stack["seen"]["phone"]
    assert phone["inner_width"] == 390
    assert phone["scroll_width"] <= phone["inner_width"], phone
    assert phone["widest"] <= phone["inner_width"] + 0.5, phone
    for shot in ("status-page-desktop.png", "status-page-phone.png"):
        assert os.path.getsize(os.path.join(ARTIFACTS, shot)) > 10000, shot


def test_drift_report_over_the_same_bodies_has_the_sidecars_statistics(stack):
    bodies = stack["work"] / "bodies.jsonl"
    bodies.write_text("".join(b + "\n" for b in stack["bodies"]))
    html = stack["work"] / "report.html"
    out = subprocess.run([sidecar_binary(), "drift-report", "--profile", str(stack["profile"]),
                          "--input", str(bodies), "--window", str(WINDOW), "-o", str(html)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    text = html.read_text()
    start = text.index('<script type="application/json" id="report-data">') + len(
        '<script type="application/json" id="report-data">')
    report = json.loads(text[start:text.index("</script>", start)])
    live = {f["name"]: f for f in stack["drift"]["features"]}
    for f in report["drift"]["features"]:
        for stat, value in f["statistics"].items():
            assert value == live[f["name"]]["statistics"][stat], (f["name"], stat)
