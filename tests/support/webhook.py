"""`mlsidecar webhook` over real TLS, and the API server's side of it, for the tests.

    pki = make_pki(tmp / "pki")                   # scripts/make-webhook-certs: CA + cert for 127.0.0.1
    hook = Webhook(pki / "tls.crt", pki / "tls.key")
    status, answer = post(hook.port, review(pod, namespace="models"), pki / "ca.crt", path="/mutate")
    patched = apply_patch(pod, answer["response"])  # the JSONPatch applied by fast-json-patch (node)
    hook.stop()

The patch is applied by an implementation independent of mlsidecar's, the `fast-json-patch` npm
package in tests/sidecar/inject/node (`npm ci --prefix tests/sidecar/inject/node`).
"""

import base64
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
import uuid

from procs import REPO_ROOT, sidecar_binary

MAKE_CERTS = os.path.join(REPO_ROOT, "scripts", "make-webhook-certs")
NODE_DIR = os.path.join(REPO_ROOT, "tests", "sidecar", "inject", "node")


def make_pki(directory):
    """A CA and a serving certificate for 127.0.0.1 and localhost, valid one day."""
    subprocess.run([MAKE_CERTS, "--out", str(directory), "--dns", "localhost",
                    "--ip", "127.0.0.1", "--days", "1"], check=True, capture_output=True)
    return directory


class Webhook:
    """`mlsidecar webhook` on 127.0.0.1 (a free port), ready once it says where it listens."""

    def __init__(self, cert, key, *flags):
        self.proc = subprocess.Popen(
            [sidecar_binary(), "webhook", "--listen", "127.0.0.1:0", "--tls-cert", str(cert),
             "--tls-key", str(key), "--cert-check-interval", "1", *flags],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines = []
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        try:
            assert ready.wait(20), "webhook did not start"
            match = re.search(r"listening on https://127\.0\.0\.1:(\d+)", "".join(self.lines))
            assert match, "".join(self.lines)
        except BaseException:
            self.proc.kill()
            self.proc.wait(10)
            raise
        self.port = int(match.group(1))

    def stop(self):
        self.proc.terminate()
        assert self.proc.wait(10) == 0


def client_context(ca_file, **kwargs):
    ctx = ssl.create_default_context(cafile=str(ca_file))
    for k, v in kwargs.items():
        setattr(ctx, k, v)
    return ctx


def post(port, body, ca_file, path="/mutate", conn=None):
    """POSTs `body` (bytes, or an object sent as JSON) over HTTPS; returns (status, JSON answer)."""
    conn = conn or http.client.HTTPSConnection("127.0.0.1", port, context=client_context(ca_file),
                                               timeout=10)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def review(pod, uid=None, namespace="models"):
    """The AdmissionReview the API server sends for the creation of `pod`."""
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid or str(uuid.uuid4()),
                        "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "operation": "CREATE", "namespace": namespace, "object": pod}}


def node(script, payload):
    """Runs a script of tests/sidecar/inject/node with `payload` as JSON on stdin."""
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
        raise RuntimeError("run `npm ci --prefix %s` first (kubernetes-models, fast-json-patch)"
                           % NODE_DIR)
    if shutil.which("node") is None:
        raise RuntimeError("node is not installed")
    return subprocess.run(["node", os.path.join(NODE_DIR, script)],
                          input=json.dumps(payload).encode(), capture_output=True, timeout=60)


def apply_patch(document, response):
    """`document` with the AdmissionResponse's base64 JSONPatch applied by fast-json-patch."""
    assert response.get("patchType") == "JSONPatch", response
    patch = json.loads(base64.b64decode(response["patch"]))
    applied = node("apply_patch.js", {"document": document, "patch": patch})
    assert applied.returncode == 0, applied.stderr.decode()
    return json.loads(applied.stdout)
