"""The rendered NetworkPolicies admit what manifests/base/networkpolicy.yaml says, and nothing else.

Each shipped kustomization is rendered with `kubectl kustomize`; the policies that select the model
pod are then evaluated by a small, independent reading of the NetworkPolicy rules (a pod selected by
any ingress policy admits a connection only when some rule of one of them matches its source and
port; named ports resolve through the pod's container ports) for the connections a user cares about.
"""
import json
import os
import pathlib
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
NAMESPACE = "mlsidecar-example"
MONITORING = "monitoring"


def render(path):
    out = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def matches(selector, labels):
    """matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist) against `labels`."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": key not in labels or labels[key] not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


class Pod:
    def __init__(self, template, namespace):
        self.labels = template["metadata"]["labels"]
        self.namespace = namespace
        self.ports = {}  # name -> (containerPort, protocol)
        for c in template["spec"].get("containers", []) + template["spec"].get("initContainers", []):
            for p in c.get("ports", []):
                if "name" in p:
                    self.ports[p["name"]] = (p["containerPort"], p.get("protocol", "TCP"))


def admitted(policies, pod, source_ns, source_pod_labels, port, protocol="TCP"):
    """Whether a TCP connection from a pod with `source_pod_labels` in namespace `source_ns` to
    `pod`:`port` is admitted by `policies` (each namespace labelled with its name, as Kubernetes
    does with kubernetes.io/metadata.name)."""
    source_ns_labels = {"kubernetes.io/metadata.name": source_ns}
    selecting = [p for p in policies
                 if p["metadata"]["namespace"] == pod.namespace
                 and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
                 and matches(p["spec"]["podSelector"], pod.labels)]
    if not selecting:
        return True
    for pol in selecting:
        for rule in pol["spec"].get("ingress") or []:
            port_ok = not rule.get("ports") or any(
                _port_matches(rp, pod, port, protocol) for rp in rule["ports"])
            if not port_ok:
                continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                assert "ipBlock" not in peer, "ipBlock peers are not expected here"
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                ns_ok = matches(ns_sel, source_ns_labels) if ns_sel is not None \
                    else source_ns == pod.namespace
                pod_ok = pod_sel is None or matches(pod_sel, source_pod_labels)
                if ns_ok and pod_ok:
                    return True
    return False


def _port_matches(rule_port, pod, port, protocol):
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    p = rule_port.get("port")
    if p is None:
        return True
    if isinstance(p, str):
        named = pod.ports.get(p)
        return named is not None and named == (port, protocol)
    return p <= port <= rule_port.get("endPort", p)


def model_pod_and_policies(objs):
    deployment = next(o for o in objs if o["kind"] == "Deployment"
                      and o["metadata"]["name"] == "example-model")
    pod = Pod(deployment["spec"]["template"], deployment["metadata"]["namespace"])
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    return deployment, pod, policies


def sidecar_ports(deployment):
    """The data and admin ports mlsidecar listens on, from its MLSIDECAR_LISTEN/ADMIN env."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    sidecar = next(c for c in containers if c["name"] == "mlsidecar")
    env = {e["name"]: e.get("value") for e in sidecar.get("env", [])}
    return int(env["MLSIDECAR_LISTEN"].rsplit(":", 1)[1]), int(env["MLSIDECAR_ADMIN"].rsplit(":", 1)[1])


@pytest.mark.parametrize("kustomization", ["base", "overlays/hpa-adapter", "overlays/keda"])
def test_policies_admit_data_from_namespace_and_admin_from_monitoring_only(kustomization):
    deployment, pod, policies = model_pod_and_policies(render(MANIFESTS / kustomization))
    data, admin = sidecar_ports(deployment)
    assert (data, admin) == (8080, 9090)
    # The policies select the model pod, and their named ports are the sidecar's two ports.
    names = {p["metadata"]["name"] for p in policies}
    assert {"mlsidecar-data", "mlsidecar-admin"} <= names, names
    for pol in policies:
        assert matches(pol["spec"]["podSelector"], pod.labels), pol["metadata"]["name"]
        for rule in pol["spec"]["ingress"]:
            for rp in rule["ports"]:
                assert rp["port"] in pod.ports, rp
    assert pod.ports["http"] == (data, "TCP") and pod.ports["mlsidecar-admin"] == (admin, "TCP")

    client = {"app": "some-client"}
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    # Data port: any pod of the namespace, nobody from elsewhere (monitoring included).
    assert admitted(policies, pod, NAMESPACE, client, data)
    assert admitted(policies, pod, NAMESPACE, pod.labels, data)
    assert not admitted(policies, pod, "other-team", client, data)
    assert not admitted(policies, pod, MONITORING, prometheus, data)
    # Admin port: the monitoring namespace only, not the clients beside the model.
    assert admitted(policies, pod, MONITORING, prometheus, admin)
    assert not admitted(policies, pod, NAMESPACE, client, admin)
    assert not admitted(policies, pod, "other-team", prometheus, admin)
    # Nothing else on the pod: not the model's own port, not any other port.
    for port in (8081, 80, 22, 9091):
        assert not admitted(policies, pod, NAMESPACE, client, port), port
        assert not admitted(policies, pod, MONITORING, prometheus, port), port
    # UDP on the data port is not admitted either.
    assert not admitted(policies, pod, NAMESPACE, client, data, "UDP")


def test_monitoring_namespace_is_overridable_with_the_documented_patch(tmp_path):
    """The kustomize patch quoted in networkpolicy.yaml renames the monitoring namespace."""
    text = (MANIFESTS / "base" / "networkpolicy.yaml").read_text()
    lines = text.splitlines()
    first = lines.index("#   patches:")
    patch_lines = []
    for ln in lines[first:]:
        if not ln.startswith("#   "):
            break
        patch_lines.append(ln[4:])
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    rel = os.path.relpath(MANIFESTS / "base", overlay)  # kustomize wants a relative base path
    (overlay / "kustomization.yaml").write_text("resources:\n  - %s\n%s\n" % (rel, "\n".join(patch_lines)))
    deployment, pod, policies = model_pod_and_policies(render(overlay))
    _, admin = sidecar_ports(deployment)
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert admitted(policies, pod, "observability", prometheus, admin)
    assert not admitted(policies, pod, MONITORING, prometheus, admin)


# --- injected pods: manifests/components/injected-networkpolicy beside the team's own policy ---

TEAM = "ml-team"
# A model Deployment as a team has it before injection, and the team's own policy: clients of the
# namespace may reach the model's port, by number (the common case) or by name.
MODEL_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: scorer, namespace: ml-team}
spec:
  selector: {matchLabels: {app: scorer}}
  template:
    metadata: {labels: {app: scorer}}
    spec:
      containers:
      - name: server
        image: registry.example.com/scorer:3
        ports: [{name: http, containerPort: 8000}]
"""


def team_policy(port):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "scorer-clients", "namespace": TEAM},
            "spec": {"podSelector": {"matchLabels": {"app": "scorer"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": port, "protocol": "TCP"}]}]}}


def injected_pod(tmp_path, capture):
    binary = os.environ.get("MLSIDECAR_BIN", str(ROOT / "build" / "sidecar" / "mlsidecar"))
    src = tmp_path / f"in-{capture}.yaml"
    src.write_text(MODEL_DEPLOYMENT)
    out = subprocess.run([binary, "inject", "-f", str(src), "--capture", capture],
                         capture_output=True, text=True, check=True).stdout
    deployment = yaml.safe_load(out)
    status = json.loads(deployment["spec"]["template"]["metadata"]["annotations"]["mlsidecar.io/status"])
    return Pod(deployment["spec"]["template"], TEAM), status["ports"]["data"], status["ports"]["admin"]


def shipped_component(tmp_path):
    """The component rendered as a team's kustomization would include it."""
    team = tmp_path / "team"
    team.mkdir(exist_ok=True)
    rel = os.path.relpath(MANIFESTS / "components" / "injected-networkpolicy", team)
    (team / "kustomization.yaml").write_text(f"namespace: {TEAM}\ncomponents:\n  - {rel}\n")
    objs = render(team)
    assert [o["kind"] for o in objs] == ["NetworkPolicy"]
    return objs


# What the CNI sees of a client's connection in each capture mode: with `redirect` the pod's own
# nat rule moves it to the sidecar only after the policy check, so the model's port is checked;
# with `service` and `port-name` the Service sends it to the sidecar's data port itself.
@pytest.mark.parametrize("capture, team_port, admitted_without_ours", [
    ("redirect", 8000, True),
    ("redirect", "http", True),
    ("service", 8000, False),
    ("service", "http", False),
    ("port-name", "http", True),   # the name moved to the sidecar's data port
])
def test_injected_pods_admit_captured_traffic_with_the_shipped_policy(tmp_path, capture, team_port,
                                                                      admitted_without_ours):
    pod, data, admin = injected_pod(tmp_path, capture)
    ours = shipped_component(tmp_path)
    assert matches(ours[0]["spec"]["podSelector"], pod.labels)
    policies = [team_policy(team_port)] + ours
    port = 8000 if capture == "redirect" else data
    client = {"app": "some-client"}
    assert admitted(policies, pod, TEAM, client, port)
    assert admitted([team_policy(team_port)], pod, TEAM, client, port) == admitted_without_ours
    # Prometheus reaches the admin port from the monitoring namespace only.
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert admitted(policies, pod, MONITORING, prometheus, admin)
    assert not admitted(policies, pod, TEAM, client, admin)
    assert not admitted(policies, pod, "other-team", client, port)


def test_port_name_capture_needs_the_model_port_admitted_by_name(tmp_path):
    """The documented limit: a team policy that admits the model's port by number does not follow
    the name to the sidecar's data port in port-name mode (the data port is another number)."""
    pod, data, _ = injected_pod(tmp_path, "port-name")
    assert data != 8000 and pod.ports["http"][0] == data
    policies = [team_policy(8000)] + shipped_component(tmp_path)
    assert not admitted(policies, pod, TEAM, {"app": "some-client"}, data)
