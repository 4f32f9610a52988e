"""Memory, not time: the sidecar's resident memory after 200k requests is within
a small margin of what it was after 20k.

A fast upstream (nginx answering every route from memory) sits behind mlsidecar (--threads 2,
drift on with a profile built by `mlsidecar profile`); wrk drives keep-alive traffic that rotates
through a V1 prediction (drift sampled), a V2 inference, an upstream 404, an upstream 500 and a
path the sidecar classifies as `other`. RSS is read from /proc while the load runs, as soon as
/metrics counts 20k requests and again at 200k: everything that should be warm (pools, metric
series, drift windows, parser buffers) is warm by 20k, so growth after that is a leak.
"""

import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))

from procs import Sidecar, free_port, metric_sum, scrape, sidecar_binary, wait_for  # noqa: E402

FIRST, SECOND = 20_000, 200_000
# Allowed growth from the first reading to the second: 2 MiB or 5 %, whichever is larger.
MARGIN_BYTES, MARGIN_FRACTION = 2 << 20, 0.05

V1 = '{"predictions":[0.7310585786300049]}'
V2 = ('{"model_name":"m","model_version":"1","outputs":[{"name":"score","shape":[1,1],'
      '"datatype":"FP32","data":[0.73105857]}]}')

NGINX_CONF = """daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port};
    default_type application/json;
    location /v2/ {{ return 200 '{v2}'; }}
    location /v1/ {{ return 200 '{v1}'; }}
    location /fail {{ return 500 '{{"error":"boom"}}'; }}
    location /status {{ return 200 '{{"ok":true}}'; }}
    location / {{ return 404 '{{"error":"not found"}}'; }}
  }}
}}
"""

# Each wrk connection rotates through these requests (keep-alive); with LARGE_EVERY > 0, every
# LARGE_EVERY-th request is instead a V1 prediction of about 12 KiB (a larger batch).
WRK_SCRIPT = """
local reqs = {}
local i = 0
local n = 0
local large = nil
local large_every = LARGE_EVERY
function init(args)
  local h = {["Content-Type"] = "application/json"}
  reqs[1] = wrk.format("POST", "/v1/models/m:predict", h,
    '{"instances":[{"f0":0.1,"f1":1.2,"f2":-0.7,"f3":5.1},{"f0":-0.3,"f1":0.9,"f2":1.4,"f3":4.2}]}')
  reqs[2] = wrk.format("POST", "/v2/models/m/infer", h,
    '{"inputs":[{"name":"f0","shape":[2,1],"datatype":"FP32","data":[0.2,-1.1]},' ..
    '{"name":"f1","shape":[2,1],"datatype":"FP32","data":[1.0,0.7]}]}')
  reqs[3] = wrk.format("GET", "/missing/thing")
  reqs[4] = wrk.format("POST", "/fail", h, '{"x":1}')
  reqs[5] = wrk.format("GET", "/status")
  local rows = {}
  for k = 1, 200 do
    rows[k] = string.format('{"f0":%.4f,"f1":%.4f,"f2":%.4f,"f3":%.4f}', k / 200, 1 - k / 900, k / 77 - 5, 5 + k / 400)
  end
  large = wrk.format("POST", "/v1/models/m:predict", h, '{"instances":[' .. table.concat(rows, ",") .. ']}')
end
function request()
  n = n + 1
  if large_every > 0 and n % large_every == 0 then
    return large
  end
  i = i % #reqs + 1
  return reqs[i]
end
"""


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024


def make_profile(work):
    rng = random.Random(3)
    csv = work / "reference.csv"
    with open(csv, "w") as f:
        f.write("f0,f1,f2,f3\n")
        for _ in range(2000):
            f.write("%.5f,%.5f,%.5f,%.5f\n" % (rng.gauss(0, 1), rng.gauss(1, 0.5),
                                               rng.gauss(-1, 2), rng.gauss(5, 1.5)))
    profile = work / "profile.json"
    subprocess.run([sidecar_binary(), "profile", "--input", str(csv), "--output", str(profile)],
                   check=True, capture_output=True, timeout=60)
    return profile


def requests_served(admin_port):
    return metric_sum(scrape(admin_port), "mlsidecar_requests_total")


def rss_when(sc, count, wrk, timeout):
    """Waits until /metrics counts `count` requests; returns the median of three RSS readings
    taken 50 ms apart right then (one reading may catch a burst of allocation)."""
    wait_for(lambda: wrk.poll() is None and requests_served(sc.admin_port) >= count or
             wrk.poll() is not None, timeout, interval=0.05, what="%d requests" % count)
    assert wrk.poll() is None, "wrk ended early: %s" % wrk.stdout.read().decode()
    readings = []
    for _ in range(3):
        readings.append(rss_bytes(sc.proc.pid))
        time.sleep(0.05)
    return statistics.median(readings)


# Memory is what these tests measure; under ASan, RSS is mostly the sanitizer's own.
pytestmark = pytest.mark.skipif(os.environ.get("MLSIDECAR_SANITIZED") == "1",
                                reason="RSS under ASan measures the sanitizer, not the sidecar")

# The drift hand-off (metrics/drift/sample_queue.h) reuses the buffers of its ring slots. Each
# slot used to keep the largest body it had held, so with an occasional larger body more and more
# slots kept a large buffer as the ring cycled and RSS kept climbing (found by this test); what
# the slots keep is now bounded in total. 12 KiB bodies are below the per-slot bound, so only the
# total bound keeps memory flat here.
OCCASIONAL_LARGE = pytest.param(100, id="one-12KiB-body-in-100")


@pytest.mark.skipif(not shutil.which("wrk") or not shutil.which("nginx") and
                    not os.path.exists("/usr/sbin/nginx"), reason="needs wrk and nginx")
@pytest.mark.parametrize("large_every", [pytest.param(0, id="uniform-bodies"), OCCASIONAL_LARGE])
def test_rss_after_200k_requests_within_margin_of_rss_after_20k(tmp_path, large_every):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    up_port = free_port()
    (tmp_path / "nginx.conf").write_text(NGINX_CONF.format(dir=tmp_path, port=up_port, v1=V1, v2=V2))
    ngx = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                            "-e", str(tmp_path / "error.log")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wrk = None
    try:
        profile = make_profile(tmp_path)
        with Sidecar(upstream_port=up_port, extra_args=[
                "--threads", "2", "--model", "m", "--drift-profile", str(profile),
                "--drift-interval", "1s", "--log-level", "warn",
                "--drain-seconds", "0", "--shutdown-timeout", "2s"]) as sc:
            (tmp_path / "mix.lua").write_text(WRK_SCRIPT.replace("LARGE_EVERY", str(large_every)))
            wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d600s", "--timeout", "5s",
                                    "-s", str(tmp_path / "mix.lua"), sc.url + "/"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            t0 = time.monotonic()
            first = rss_when(sc, FIRST, wrk, 60)
            second = rss_when(sc, SECOND, wrk, 170 - (time.monotonic() - t0))
            wrk.send_signal(signal.SIGINT)
            out = wrk.communicate(timeout=10)[0].decode()
            m = sc.scrape()
            # The load was the mix it claims to be: every kind of answer was counted.
            for route, code in (("predict", "2xx"), ("infer", "2xx"), ("other", "4xx"),
                                ("other", "5xx"), ("other", "2xx")):
                assert metric_sum(m, "mlsidecar_requests_total", route=route, code=code) > SECOND / 10, \
                    (route, code, out)
            assert metric_sum(m, "mlsidecar_upstream_errors_total") == 0, out
            samples = metric_sum(m, "mlsidecar_drift_window_samples")
            assert samples > 0, "drift was not fed"
            allowed = max(MARGIN_BYTES, first * MARGIN_FRACTION)
            print("RSS after %d requests: %.1f MiB, after %d: %.1f MiB (allowed growth %.1f MiB)"
                  % (FIRST, first / 2**20, SECOND, second / 2**20, allowed / 2**20))
            assert second - first <= allowed, (first, second)
    finally:
        if wrk is not None and wrk.poll() is None:
            wrk.kill()
            wrk.wait(5)
        ngx.send_signal(signal.SIGTERM)
        try:
            ngx.wait(5)
        except subprocess.TimeoutExpired:
            ngx.kill()
