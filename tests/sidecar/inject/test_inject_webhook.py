"""`mlsidecar webhook` over real TLS: a CA and serving certificate made with openssl (by
scripts/make-webhook-certs), AdmissionReviews sent by Python's HTTPS client, the returned patch
applied with fast-json-patch and compared with what `mlsidecar inject` makes of the same pod;
certificate reload without restart; garbage gets 4xx and the server keeps serving."""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import uuid

import pytest
import yaml

from conftest import GOLDEN, binary, run
from webhook import Webhook, apply_patch, client_context, make_pki, post, review


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def webhook(pki):
    server = Webhook(pki / "tls.crt", pki / "tls.key")
    yield server
    server.stop()


WORKLOADS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}


def pods_from_goldens():
    """The pod each golden workload would create, as the API server would send it."""
    pods = []
    for path in sorted(GOLDEN.glob("*.in.yaml")):
        case = path.name[: -len(".in.yaml")]
        args = (GOLDEN / f"{case}.args").read_text().split() if (GOLDEN / f"{case}.args").exists() else []
        for doc in yaml.safe_load_all(path.read_text()):
            items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
            for obj in items:
                if obj.get("kind") not in WORKLOADS:
                    continue
                if obj["kind"] == "Pod":
                    pod = obj
                else:
                    spec = obj["spec"]
                    template = (spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob"
                                else spec["template"])
                    pod = {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"generateName": obj["metadata"]["name"] + "-",
                                        **template.get("metadata", {})},
                           "spec": template["spec"]}
                pods.append(pytest.param(pod, args, id=f"{case}-{obj['kind']}"))
    return pods


@pytest.mark.parametrize("pod,args", pods_from_goldens())
def test_patch_applied_independently_equals_inject_output(tmp_path, pki, pod, args):
    # The webhook takes the same settings flags as inject; run one with this case's flags.
    server = subprocess.Popen(
        [binary(), "webhook", "--listen", "127.0.0.1:0", "--tls-cert", str(pki / "tls.crt"),
         "--tls-key", str(pki / "tls.key"), *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = server.stderr.readline()
        port = int(re.search(r":(\d+)\s*$", line).group(1))
        uid = str(uuid.uuid4())
        status, answer = post(port, review(pod, uid), pki / "ca.crt")
    finally:
        server.terminate()
        server.wait(10)
    assert status == 200
    response = answer["response"]
    assert answer["kind"] == "AdmissionReview" and answer["apiVersion"] == "admission.k8s.io/v1"
    assert response["uid"] == uid and response["allowed"] is True

    pod_file = tmp_path / "pod.yaml"
    pod_file.write_text(yaml.safe_dump(pod, sort_keys=False))
    injected = run("inject", "-f", str(pod_file), *args)
    assert injected.returncode == 0, injected.stderr.decode()
    expected = yaml.safe_load(injected.stdout)

    if "patch" not in response:
        assert expected == pod, "webhook skipped a pod that inject changed"
        assert response["warnings"]
        return
    assert apply_patch(pod, response) == expected


def test_skipped_pod_gets_a_warning_and_no_patch(webhook, pki):
    pod = yaml.safe_load((GOLDEN / "hostnetwork.in.yaml").read_text())["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", **pod}
    status, answer = post(webhook.port, review(pod), pki / "ca.crt")
    assert status == 200
    assert answer["response"]["allowed"] is True
    assert "patch" not in answer["response"]
    assert any("hostNetwork" in w for w in answer["response"]["warnings"])


def test_garbage_gets_4xx_json_and_the_next_review_succeeds(webhook, pki):
    conn = http.client.HTTPSConnection("127.0.0.1", webhook.port,
                                       context=client_context(pki / "ca.crt"), timeout=10)
    for garbage in (b"\x00\xffnot json", b'{"kind": "Pod"}', b"[]"):
        status, body = post(webhook.port, garbage, pki / "ca.crt", conn=conn)
        assert 400 <= status < 500
        assert body["code"] == "bad_admission_review"
    pod = yaml.safe_load((GOLDEN / "pod-nonnative.in.yaml").read_text())
    status, answer = post(webhook.port, review(pod, "after-garbage"), pki / "ca.crt", conn=conn)
    assert status == 200 and answer["response"]["uid"] == "after-garbage"
    assert answer["response"]["patchType"] == "JSONPatch"
    # A TLS client that speaks no HTTP does not stop the server either.
    with socket.create_connection(("127.0.0.1", webhook.port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01 definitely not a TLS hello")
    status, body = post(webhook.port, b"", pki / "ca.crt", path="/healthz")
    assert status == 200 and body["status"] == "ok"


def test_unknown_path_and_method_are_json_errors(webhook, pki):
    status, body = post(webhook.port, b"{}", pki / "ca.crt", path="/nope")
    assert status == 404 and body["code"] == "not_found"
    conn = http.client.HTTPSConnection("127.0.0.1", webhook.port,
                                       context=client_context(pki / "ca.crt"), timeout=10)
    conn.request("GET", "/mutate")
    response = conn.getresponse()
    assert response.status == 405 and json.loads(response.read())["code"] == "method_not_allowed"


def test_tls_1_2_is_accepted_and_1_3_preferred(webhook, pki):
    ctx = client_context(pki / "ca.crt", maximum_version=ssl.TLSVersion.TLSv1_2)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", webhook.port), timeout=5),
                         server_hostname="127.0.0.1") as s:
        assert s.version() == "TLSv1.2"
    with client_context(pki / "ca.crt").wrap_socket(
            socket.create_connection(("127.0.0.1", webhook.port), timeout=5),
            server_hostname="127.0.0.1") as s:
        assert s.version() == "TLSv1.3"


def test_certificate_reload_without_restart(webhook, pki, tmp_path):
    pod = yaml.safe_load((GOLDEN / "pod-nonnative.in.yaml").read_text())
    assert post(webhook.port, review(pod), pki / "ca.crt")[0] == 200
    rotated = make_pki(tmp_path / "rotated")
    # Rotate as kubelet does for a mounted Secret: new files replace the old ones atomically.
    for name in ("tls.key", "tls.crt"):
        shutil.copy(rotated / name, pki / f"{name}.new")
        os.replace(pki / f"{name}.new", pki / name)
    deadline = time.monotonic() + 15
    while True:
        try:
            status, _ = post(webhook.port, review(pod), rotated / "ca.crt")
            break
        except ssl.SSLCertVerificationError:
            assert time.monotonic() < deadline, "new certificate not served within 15 s"
            time.sleep(0.2)
    assert status == 200
    with pytest.raises(ssl.SSLCertVerificationError):
        post(webhook.port, review(pod), pki / "ca.crt")
    assert webhook.proc.poll() is None
    assert any("reloaded" in line for line in webhook.lines)


def test_the_webhook_path_chooses_the_capture(webhook, pki):
    """A namespace's label selects a webhook entry, and the entry's path the capture mode: the
    AdmissionReview itself carries no namespace labels."""
    (deployment, _) = [d for d in yaml.safe_load_all((GOLDEN / "deployment.in.yaml").read_text())]
    pod = {"apiVersion": "v1", "kind": "Pod", **deployment["spec"]["template"]}

    def patched(path):
        status, answer = post(webhook.port, review(pod), pki / "ca.crt", path=path)
        assert status == 200, answer
        response = answer["response"]
        return apply_patch(pod, response), response.get("warnings", [])

    redirected, warnings = patched("/mutate")
    assert [c["name"] for c in redirected["spec"]["initContainers"]][0] == "mlsidecar-capture"
    assert warnings == []
    named, warnings = patched("/mutate/port-name")
    names = [c["name"] for c in named["spec"]["initContainers"]]
    assert "mlsidecar-capture" not in names
    model = named["spec"]["containers"][0]
    assert model["ports"][0]["name"] == "mlsidecar-model"
    sidecar = next(c for c in named["spec"]["initContainers"] if c["name"] == "mlsidecar")
    assert sidecar["ports"][0]["name"] == "http"
    _, warnings = patched("/mutate/service")
    assert any("cannot repoint Services" in w for w in warnings), warnings
    status, answer = post(webhook.port, review(pod), pki / "ca.crt", path="/mutate/tproxy")
    assert status == 404 and answer["code"] == "not_found"
