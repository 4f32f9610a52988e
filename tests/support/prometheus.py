"""A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1, for the end-to-end tests.

    prom = Prometheus(workdir, {"scrape_configs": [...], "rule_files": [fast_rules(workdir)]})
    prom.query('up{job="mlsidecar"}')    # the instant vector, as the HTTP API returns it
    prom.stop()

The global scrape and evaluation intervals default to 1 s; `fast_rules` writes the shipped rule
file with every group evaluated every second (expressions unchanged).
"""

import json
import os
import urllib.parse
import urllib.request

import yaml

from procs import REPO_ROOT, free_port, start_process

PROMETHEUS = "/usr/bin/prometheus"
RULES = os.path.join(REPO_ROOT, "manifests", "rules", "mlsidecar.rules.yaml")


def fast_rules(workdir):
    """The shipped rule file with every group evaluated every second."""
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    for group in rules["groups"]:
        group["interval"] = "1s"
    out = os.path.join(str(workdir), "mlsidecar.rules.yaml")
    with open(out, "w") as f:
        yaml.safe_dump(rules, f, sort_keys=False)
    return out


class Prometheus:
    """Prometheus with `config` (global intervals 1 s unless given), ready when /-/ready is 200."""

    def __init__(self, workdir, config):
        self.port = free_port()
        config = dict(config)
        config.setdefault("global", {"scrape_interval": "1s", "scrape_timeout": "900ms",
                                     "evaluation_interval": "1s"})
        cfg = os.path.join(str(workdir), "prometheus.yml")
        with open(cfg, "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
        self.proc = start_process(
            [PROMETHEUS, "--config.file=" + cfg,
             "--storage.tsdb.path=" + os.path.join(str(workdir), "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=warn"],
            ready_url="http://127.0.0.1:%d/-/ready" % self.port, timeout=30)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def api(self, path, **params):
        """GET /api/v1/<path>; returns `data` of a successful answer."""
        url = "%s/api/v1/%s?%s" % (self.url, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr, at=None):
        """The instant query's result, evaluated now or at `at` (Unix seconds)."""
        if at is None:
            return self.api("query", query=expr)["result"]
        return self.api("query", query=expr, time="%.3f" % at)["result"]

    def value(self, expr):
        result = self.query(expr)
        assert len(result) == 1, "%s: %s" % (expr, result)
        return float(result[0]["value"][1])

    def stop(self):
        self.proc.stop()
