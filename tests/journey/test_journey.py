"""The journey of a model pod, as one test, without a cluster.

For three manifests shaped like the ones serving projects publish (manifests/: GKE's vLLM tutorial,
Triton's Kubernetes deployment, a KServe RawDeployment predictor; each says what it mirrors), the
test plays every part a cluster would, with the real pieces of mlsidecar:

1. The API server: `mlsidecar webhook` runs over TLS on 127.0.0.1 (a CA and certificate from
   scripts/make-webhook-certs). For each Deployment the test builds the Pod its ReplicaSet would
   create (generateName, `pod-template-hash`, the ReplicaSet as controlling owner, the namespace)
   and sends it as an AdmissionReview to the path its namespace's label selects (`/mutate`:
   redirect capture, for vLLM and Triton; `/mutate/port-name` for KServe); the JSONPatch that
   comes back is applied by fast-json-patch (node), and the pod gets its name.
2. The kubelet: each patched pod runs in a network namespace made here (TEST-NET-1, a /30 per
   pod): its init containers in order (`mlsidecar capture-init` with the injected arguments,
   which installs the real iptables rule), then the native sidecar with exactly the injected
   arguments and environment (the image's entrypoint is the mlsidecar binary: only that path is
   replaced; its ConfigMap volume, the KServe pod's drift profile, is mounted in the container's
   own mount namespace), then a stand-in for the model (model_standin.py, playing vLLM, Triton or
   KServe's server) on the model's ports. The kubelet's probes of every container go from the
   root namespace to the pod's address, as from the node.
3. Clients: from outside the pod, to the pod's address and the port the Service's targetPort
   resolves to in the patched pod (a number goes to the model's port and is captured; a name
   follows the rename). The sidecar must count exactly what was sent, and probes of the model's
   port must still reach the model (through the sidecar, as route `health`, where captured).
4. prometheus-operator: the shipped PodMonitor (manifests/monitoring/podmonitor.yaml) made into the
   scrape job prometheus-operator would generate (podmonitor_config.py) with the pods' targets
   as the Kubernetes discovery would list them (every container port, with its
   `__meta_kubernetes_pod_*` labels) in a file_sd file. A real Prometheus scrapes with it, every
   second, and evaluates the shipped rules (groups every second).
5. A user's checks: each pod's admin port, and only it, is a healthy target; every shipped query
   (recording rules, dashboard panels, prometheus-adapter, KEDA, and the autoscaler objects
   `mlsidecar autoscale` writes for the manifest) returns series for that pod whose namespace,
   pod, app, model and version are the pod's; alerts evaluate without error; the model's own
   metrics (vLLM's colon names, Triton's metrics port, KServe's) are in the same scrape with the
   pod's labels, and the model's process_* are the model's. A query may be empty only for a
   reason written below (known_empty). `model` is the injected identity on the sidecar's own
   series (mlsidecar_build_info) and the model the requests name on the request series, which is
   what the dashboard's model variable offers.

Everything listens on 127.0.0.1 or on 192.0.2.x inside namespaces made here; every process,
namespace and veth is removed at the end, also after a failure. Needs root, ip, iptables, node
(with `npm ci --prefix tests/sidecar/inject/node`), kubectl and /usr/bin/prometheus. Takes about
15 s.
"""

import dataclasses
import hashlib
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "manifests" / "tools"))
from netns import PodNamespace  # noqa: E402
from procs import Process, http_request, metric_sum, parse_metrics, sidecar_binary, wait_for  # noqa: E402
from prometheus import PROMETHEUS, Prometheus, fast_rules  # noqa: E402
from webhook import Webhook, apply_patch, make_pki, post, review  # noqa: E402
import podmonitor_config  # noqa: E402
import queries as shipped  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("iptables") or not shutil.which("ip"),
    reason="needs root, ip and iptables")

STANDIN = HERE / "model_standin.py"
PODMONITOR = ROOT / "manifests" / "monitoring" / "podmonitor.yaml"
# Where it is installed: `kubectl apply -k manifests/monitoring -n monitoring` (docs/kubernetes.md).
PODMONITOR_NAMESPACE = "monitoring"
SIDECAR_IMAGE = "mlsidecar"  # the injected containers' image; its entrypoint is the binary
KUBELET_UA = "kube-probe/1.30"
POD_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


@dataclasses.dataclass
class Case:
    """One manifest, where it is created, and what a user expects to see for its pod."""
    manifest: str
    namespace: str
    webhook_path: str        # what the namespace's mlsidecar.io/inject label selects
    standin: list            # the model stand-in's flags: what the real server would serve
    app: str                 # app.kubernetes.io/name, else app, else the owning workload
    model: str               # mlsidecar.io/model, else app.kubernetes.io/name, else app, else
                             # the owning workload
    version: str             # app.kubernetes.io/version, else the image tag, else the digest
    model_metric: str        # one of the model's own metrics, which must ride in the scrape
    model_counter: str       # the model's own count of inference requests ("": none)
    request_model: str       # the model the clients' requests name (path or `model` field)
    llm: bool = False
    drift: bool = False      # the pod has a drift profile (ConfigMap `<model>-drift`)

    @property
    def id(self):
        return self.manifest.split(".")[0]


CASES = [
    Case("vllm-gke.yaml", "gemma", "/mutate",
         ["--flavor", "vllm", "--port", "8000", "--model-name", "google/gemma-3-1b-it",
          "--token-ms", "5", "--prefill-base-ms", "10"],
         app="gemma-server", model="gemma-server", version="20250312_0916_RC01",
         model_metric="vllm:num_requests_running", model_counter="",
         request_model="google/gemma-3-1b-it", llm=True),
    Case("triton.yaml", "triton", "/mutate",
         ["--flavor", "triton", "--port", "8000", "--metrics-port", "8002",
          "--model-name", "densenet_onnx"],
         app="triton-inference-server", model="triton-inference-server", version="24.08",
         model_metric="nv_inference_count", model_counter="nv_inference_request_success",
         request_model="densenet_onnx"),
    Case("kserve-sklearn.yaml", "kserve-test", "/mutate/port-name",
         ["--flavor", "kserve", "--port", "8080", "--model-name", "sklearn-iris"],
         app="isvc.sklearn-iris-predictor", model="sklearn-iris", version="v0.14.1",
         model_metric="request_predict_seconds_bucket",
         model_counter="request_predict_seconds_count", request_model="sklearn-iris",
         drift=True),
]

# Queries that are empty for a pod because nothing here produces what they measure.
DRIFT = "the pod has no drift profile (only the KServe pod has one: tabular features)"
CHI2 = ("chi-square is computed for categorical features only and iris' four are numeric "
        "(tests/manifests/test_prometheus_e2e.py sends a categorical one)")
NOT_LLM = "the pod serves no token streams (not an LLM server)"
NO_LATENCY_SLO_ROUTE = "the pod's traffic is generation only: the latency SLO counts predict|infer"
NO_GRPC = "the pod's clients send no gRPC calls (tests/integration/test_grpc.py covers them)"
NO_SHADOW = "the pod sends no shadow traffic (no --shadow-upstream)"
CANARY = "canary templates compare two versions of one app (tests/manifests/test_canary.py)"


def known_empty(case, source, expr):
    """Why `source` may be empty for `case`'s pod, or None when it must return series."""
    if source.startswith("canary/"):
        return CANARY
    if "mlsidecar_shadow_" in expr:
        return NO_SHADOW
    if not case.drift and ("drift" in expr or "feature_" in expr
                           or source.startswith("rules/mlsidecar-drift/")):
        return DRIFT
    if "chi2" in expr:
        return CHI2
    llm_only = ("time_to_first_token", "time_per_output_token", "output_tokens",
                "prompt_tokens", "finish_reason", "stream_aborted", "slo_ttft")
    if not case.llm and any(word in expr or word in source for word in llm_only):
        return NOT_LLM
    if case.llm and "slo_latency" in source:
        return NO_LATENCY_SLO_ROUTE
    if "mlsidecar_grpc_requests_total" in expr:
        return NO_GRPC
    return None


# --- the API server and the ReplicaSet ------------------------------------------------------

def deployment_and_service(case):
    docs = list(yaml.safe_load_all((HERE / "manifests" / case.manifest).read_text()))
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    return deployment, service


def template_hash(template):
    """A pod-template-hash in the ReplicaSet controller's alphabet (the value is not checked)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def pod_from_replicaset(deployment, namespace):
    """The Pod the Deployment's ReplicaSet sends to the API server: no name yet (generateName),
    the template's metadata plus pod-template-hash, the ReplicaSet as controlling owner."""
    template = deployment["spec"]["template"]
    rs = "%s-%s" % (deployment["metadata"]["name"], template_hash(template))
    meta = template.get("metadata", {})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": rs + "-", "namespace": namespace,
                         "labels": dict(meta.get("labels", {}),
                                        **{"pod-template-hash": rs.rsplit("-", 1)[1]}),
                         **({"annotations": meta["annotations"]} if meta.get("annotations") else {}),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": rs, "uid": "uid-" + rs, "controller": True,
                                              "blockOwnerDeletion": True}]},
            "spec": template["spec"]}


def admit(hook, pki, pod, case):
    """The webhook's answer applied as the API server does; then the pod gets its name."""
    status, answer = post(hook.port, review(pod, namespace=case.namespace), pki / "ca.crt",
                          path=case.webhook_path)
    assert status == 200, answer
    response = answer["response"]
    assert response["allowed"] is True and "patch" in response, response
    patched = apply_patch(pod, response)
    suffix = hashlib.sha256(case.manifest.encode()).hexdigest()[:5]
    patched["metadata"]["name"] = patched["metadata"]["generateName"] + suffix
    return patched, response.get("warnings", [])


# --- the kubelet ----------------------------------------------------------------------------

def container_port(pod, container, port):
    """A probe's or Service's port: a number, or the name of a port of `container` (or of any
    container of the pod when `container` is None, as a Service's named targetPort)."""
    if isinstance(port, int):
        return port
    containers = [container] if container else (pod["spec"]["containers"]
                                                + pod["spec"].get("initContainers", []))
    for c in containers:
        for p in c.get("ports", []):
            if p.get("name") == port:
                return p["containerPort"]
    raise AssertionError("no port named %s in %s" % (port, [c["name"] for c in containers]))


class RunningPod:
    """A patched pod run in a network namespace, as a kubelet would run it. `config_maps`:
    {name: {key: bytes}}, what the API server holds for the pod's ConfigMap volumes."""

    def __init__(self, case, pod, netns, service_port, workdir, config_maps):
        self.case, self.pod, self.netns = case, pod, netns
        self.workdir, self.config_maps = workdir, config_maps
        self.processes = []
        self.probes_through_model_port = 0
        pod["status"] = {"phase": "Running", "podIP": netns.pod_ip, "hostIP": netns.host_ip}
        self.ip = netns.pod_ip
        self.service_port = service_port

    def container_command(self, container):
        assert container["image"].split(":")[0] == SIDECAR_IMAGE, container["image"]
        assert "command" not in container, "the image's entrypoint is mlsidecar"
        env = dict(POD_ENV)
        for e in container.get("env", []):
            assert "value" in e, "only literal env values can be played here: %s" % e
            env[e["name"]] = e["value"]
        command = [sidecar_binary(), *container.get("args", [])]
        mounts = self.volume_mounts(container)
        if mounts:
            command = ["sh", "-c", self.mount_script(mounts), "sh", *command]
        return self.netns.cmd(*command), env

    def volume_mounts(self, container):
        """(directory here, mountPath) for each of the container's volumeMounts: a ConfigMap's
        keys as files, as the kubelet projects them, or an empty directory for an emptyDir."""
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes", [])}
        out = []
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            source = self.workdir / ("volume-" + mount["name"])
            source.mkdir(parents=True, exist_ok=True)
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                assert name in self.config_maps, "no ConfigMap %s: the pod would not start" % name
                for key, data in self.config_maps[name].items():
                    (source / key).write_bytes(data)
            else:
                assert "emptyDir" in volume, volume
            out.append((source, mount["mountPath"]))
        return out

    def mount_script(self, mounts):
        """A shell script that mounts `mounts` and then runs its arguments. `ip netns exec` runs
        it in a mount namespace of its own; the top directories of the mount paths are overlaid
        there, so that the paths can be made without touching the machine's own."""
        lines = ["set -e"]
        for top in sorted({"/" + path.strip("/").split("/")[0] for _, path in mounts}):
            layer = self.workdir / ("overlay" + top.replace("/", "-"))
            (layer / "upper").mkdir(parents=True, exist_ok=True)
            (layer / "work").mkdir(exist_ok=True)
            lines.append("mount -t overlay overlay -o lowerdir=%s,upperdir=%s,workdir=%s %s"
                         % (top, layer / "upper", layer / "work", top))
        for source, path in mounts:
            lines.append("mkdir -p %s && mount --bind %s %s" % (path, source, path))
        return "\n".join(lines + ['exec "$@"'])

    def start(self):
        for container in self.pod["spec"].get("initContainers", []):
            args, env = self.container_command(container)
            if container.get("restartPolicy") == "Always":  # a native sidecar: started, not awaited
                self.processes.append(Process(args, env=env))
                self.wait_probe(container, "startupProbe")
            else:
                done = subprocess.run(args, env=env, capture_output=True, timeout=60)
                assert done.returncode == 0, (container["name"], done.stderr.decode())
        (model,) = self.pod["spec"]["containers"]
        self.model = Process(self.netns.cmd(sys.executable, str(STANDIN), "--host", "0.0.0.0",
                                            *self.case.standin), env=POD_ENV)
        self.processes.append(self.model)
        self.model.wait_line(r"listening on", 20)
        for container in self.pod["spec"]["containers"] + self.pod["spec"]["initContainers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                self.wait_probe(container, probe)

    def probe(self, container, kind):
        """One probe as the kubelet sends it, from the node (the root namespace); None if the
        container has no such HTTP probe."""
        spec = container.get(kind, {}).get("httpGet")
        if not spec:
            return None
        port = container_port(self.pod, container, spec["port"])
        if port == self.model_port:
            self.probes_through_model_port += 1
        try:
            return http_request(port, "GET", spec.get("path", "/"), headers={"User-Agent": KUBELET_UA},
                                timeout=5, host=self.ip)[0]
        except OSError:
            return 0

    def wait_probe(self, container, kind):
        if container.get(kind, {}).get("httpGet"):
            wait_for(lambda: self.probe(container, kind) == 200, 30, interval=0.2,
                     what="%s of %s/%s" % (kind, self.case.id, container["name"]))

    @property
    def model_port(self):
        status = json.loads(self.pod["metadata"]["annotations"]["mlsidecar.io/status"])
        return status["model"]["port"]

    @property
    def admin_port(self):
        return container_port(self.pod, self.sidecar, "mlsidecar-admin")

    @property
    def sidecar(self):
        return next(c for c in self.pod["spec"]["initContainers"] if c["name"] == "mlsidecar")

    def scrape(self):
        status, _, body = http_request(self.admin_port, "GET", "/metrics", host=self.ip)
        assert status == 200
        return parse_metrics(body.decode())

    def stop(self):
        """SIGTERM to every container at once, as at pod deletion; waits for each."""
        for p in self.processes:
            p.send_signal(signal.SIGTERM)
        for p in reversed(self.processes):
            p.stop()


# --- clients --------------------------------------------------------------------------------

def post_all(host, port, path, bodies, check=lambda body: True):
    """POSTs each body in turn; every answer must be 200 (and pass `check`)."""
    for obj in bodies:
        status, _, body = http_request(port, "POST", path, json.dumps(obj).encode(),
                                       {"Content-Type": "application/json"}, 30, host)
        assert status == 200 and check(body), (path, status, body[-200:])
    return len(bodies)


def vllm_traffic(host, port):
    """OpenAI completions, plain and streamed (the token panels read streams)."""
    model = "google/gemma-3-1b-it"
    plain = [{"model": model, "prompt": "tell me %d" % i, "max_tokens": 6} for i in range(6)]
    streamed = [{"model": model, "stream": True, "max_tokens": 8,
                 "stream_options": {"include_usage": True},
                 "messages": [{"role": "user", "content": "story %d" % i}]} for i in range(6)]
    return {"generate": post_all(host, port, "/v1/completions", plain)
            + post_all(host, port, "/v1/chat/completions", streamed,
                       lambda body: body.rstrip().endswith(b"data: [DONE]"))}


def triton_traffic(host, port):
    """Open Inference Protocol V2 inference, as Triton's HTTP clients send it."""
    tensors = [{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [i, 1, 2, 3]}]}
               for i in range(12)]
    return {"infer": post_all(host, port, "/v2/models/densenet_onnx/infer", tensors)}


def kserve_traffic(host, port):
    """KServe V1 predictions of iris rows."""
    rows = [{"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6 + i / 10]]} for i in range(12)]
    return {"predict": post_all(host, port, "/v1/models/sklearn-iris:predict", rows)}


def iris_profile(workdir):
    """The KServe pod's drift reference: `mlsidecar profile` of recorded V1 requests of
    iris-like training rows (deterministic)."""
    rng = random.Random(1)
    means, sds = (5.8, 3.0, 3.8, 1.2), (0.8, 0.4, 1.7, 0.7)
    requests = [{"instances": [[round(rng.gauss(m, sd), 2) for m, sd in zip(means, sds)]
                               for _ in range(10)]} for _ in range(50)]
    recorded = workdir / "iris-requests.jsonl"
    recorded.write_text("".join(json.dumps(r) + "\n" for r in requests))
    done = subprocess.run([sidecar_binary(), "profile", "--format", "kserve-v1",
                           "--input", str(recorded)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


TRAFFIC = {"vllm-gke": vllm_traffic, "triton": triton_traffic, "kserve-sklearn": kserve_traffic}


def service_port(pod, service):
    """The pod port the Service's (first) targetPort resolves to, as kube-proxy resolves it."""
    port = service["spec"]["ports"][0]
    return container_port(pod, None, port.get("targetPort", port["port"]))


def requests_by_route(metrics):
    out = {}
    for (name, labels), value in metrics.items():
        if name == "mlsidecar_requests_total":
            route = dict(labels)["route"]
            out[route] = out.get(route, 0) + value
    return out


def wait_counted(rp, before, sent):
    """The sidecar's metrics once it has counted `sent` more requests (health aside) than in
    `before`: a client has its response a moment before the sidecar counts it."""
    def inference(metrics):
        return sum(v for r, v in requests_by_route(metrics).items() if r != "health")

    def counted():
        metrics = rp.scrape()
        return metrics if inference(metrics) - inference(before) >= sent else None
    return wait_for(counted, 20, interval=0.1, what="the sidecar of %s to count" % rp.case.id)


# --- prometheus-operator and Prometheus -----------------------------------------------------

def podmonitor():
    return yaml.safe_load(PODMONITOR.read_text()), PODMONITOR_NAMESPACE


def write_targets(sd_file, pods):
    """The discovery's targets of `pods` in the file_sd file; returns the names of the pods it
    discovers at all (those in the namespaces the PodMonitor's namespaceSelector selects)."""
    monitor, namespace = podmonitor()
    selected = podmonitor_config.selected_namespaces(monitor, namespace)
    groups = [g for pod in pods for g in podmonitor_config.discovered_targets(pod, selected)]
    tmp = sd_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(groups))
    os.replace(tmp, sd_file)
    return {g["labels"]["__meta_kubernetes_pod_name"] for g in groups}


def start_prometheus(workdir):
    monitor, namespace = podmonitor()
    sd_file = workdir / "pods.json"
    sd_file.write_text("[]")
    jobs = podmonitor_config.scrape_configs(monitor, namespace, sd_file, interval="1s",
                                            scrape_timeout="1s")
    return Prometheus(workdir, {"rule_files": [fast_rules(workdir)], "scrape_configs": jobs}), sd_file


def wait_first_scrape(prom, rp):
    """Until Prometheus has discovered the pod's ports and, if it keeps one of them as a target,
    scraped it once; whether it keeps one. A pod the PodMonitor does not select is left to the
    tests to report."""
    name = rp.pod["metadata"]["name"]

    def discovered():
        data = prom.api("targets", state="any")
        active = [t for t in data["activeTargets"] if t["labels"].get("pod") == name]
        dropped = [t for t in data["droppedTargets"]
                   if t["discoveredLabels"].get("__meta_kubernetes_pod_name") == name]
        return (active or dropped) and (active,)
    (active,) = wait_for(discovered, 30, interval=0.2, what="Prometheus to discover %s" % name)
    if active:
        wait_for(lambda: prom.query('mlsidecar_build_info{pod="%s"}' % name), 30, interval=0.2,
                 what="Prometheus to scrape %s" % name)
    return bool(active)


def wait_scraped(prom, rp, counted, sent):
    """Until Prometheus holds the request counts the sidecar had after the traffic, and the
    recording rules have been evaluated over them (a recorded series for every route sent)."""
    name, total = rp.pod["metadata"]["name"], sum(v for r, v in requests_by_route(counted).items()
                                                  if r != "health")
    expr = 'sum(mlsidecar_requests_total{pod="%s", route!="health"})' % name
    wait_for(lambda: prom.query(expr) and prom.value(expr) >= total, 30, interval=0.2,
             what="Prometheus to scrape the traffic of %s" % name)
    for route in sent:
        wait_for(lambda: prom.query('mlsidecar:requests:rate5m{namespace="%s", route="%s"}'
                                    % (rp.case.namespace, route)), 30, interval=0.2,
                 what="the recording rules over the %s traffic of %s" % (route, name))


# --- the autoscaler objects -------------------------------------------------------------------

def autoscaler_queries(case, prom_url):
    """(source, PromQL) of what `mlsidecar autoscale` writes for the manifest, on the load ratio
    and, for an LLM server, on output tokens: each KEDA trigger's query, and for each HPA Pods
    metric the query the shipped prometheus-adapter rule sends for the pod's namespace."""
    served = {q["source"]: q["expr"] for q in shipped.adapter_queries(case.namespace)}
    signals = [("load-ratio", [])] + ([("output-tokens", ["--target", "200"])] if case.llm else [])
    out = []
    for via in ("keda", "hpa-adapter"):
        for scaling_signal, flags in signals:
            for doc in autoscaler(case, prom_url, via, scaling_signal, flags):
                source = "autoscale/%s/%s" % (via, scaling_signal)
                if doc["kind"] == "ScaledObject":
                    out += [(source, t["metadata"]["query"]) for t in doc["spec"]["triggers"]]
                    continue
                assert doc["kind"] == "HorizontalPodAutoscaler", doc["kind"]
                for metric in doc["spec"]["metrics"]:
                    rule = "prometheus-adapter/%s/metricsQuery" % metric["pods"]["metric"]["name"]
                    assert rule in served, "%s: no prometheus-adapter rule for %s" % (source, rule)
                    out.append((source, served[rule]))
    return out


def autoscaler(case, prom_url, via, scaling_signal, flags):
    """The objects `mlsidecar autoscale` prints for the case's manifest."""
    done = subprocess.run([sidecar_binary(), "autoscale", "-f", str(HERE / "manifests" / case.manifest),
                           "--via", via, "--signal", scaling_signal, "--namespace", case.namespace,
                           "--prometheus", prom_url, *flags], capture_output=True, timeout=60)
    assert done.returncode == 0, (via, scaling_signal, done.stderr.decode())
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert len(docs) == 1, (via, scaling_signal, done.stdout.decode())  # one Deployment, one object
    return docs


# --- the journey ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    for tool in ("node", "kubectl", PROMETHEUS):  # kubectl: queries.py renders the keda overlay
        if not shutil.which(tool):
            pytest.fail("%s is not installed" % tool)
    work = tmp_path_factory.mktemp("journey")
    pki = make_pki(work / "pki")
    state = {"pods": {}, "warnings": {}, "sent": {}, "before": {}, "after": {}, "probes": {}}
    config_maps = {"sklearn-iris-drift": {"profile.json": iris_profile(work)}}
    netnses, running, prom, hook = [], [], None, None
    try:
        hook = Webhook(pki / "tls.crt", pki / "tls.key")
        for case in CASES:
            deployment, service = deployment_and_service(case)
            pod, warnings = admit(hook, pki, pod_from_replicaset(deployment, case.namespace), case)
            state["warnings"][case.id] = warnings
            netns = PodNamespace()
            netns.__enter__()
            netnses.append(netns)
            rp = RunningPod(case, pod, netns, service_port(pod, service), work / case.id,
                            config_maps)
            running.append(rp)
            state["pods"][case.id] = rp
        hook.stop()
        hook = None
        for rp in running:
            rp.start()
        prom, sd_file = start_prometheus(work)
        state["prom"] = prom
        discovered = write_targets(sd_file, [rp.pod for rp in running])
        scraped = [rp for rp in running
                   if rp.pod["metadata"]["name"] in discovered and wait_first_scrape(prom, rp)]
        # Traffic once Prometheus has scraped each sidecar, counted against the sidecar's own
        # /metrics before and after.
        for rp in running:
            state["before"][rp.case.id] = rp.scrape()
            rp.probes_through_model_port = 0
            state["sent"][rp.case.id] = TRAFFIC[rp.case.id](rp.ip, rp.service_port)
            # The kubelet keeps probing the model while clients send.
            for container in rp.pod["spec"]["containers"]:
                for kind in ("livenessProbe", "readinessProbe"):
                    assert rp.probe(container, kind) in (None, 200)
            state["probes"][rp.case.id] = rp.probes_through_model_port
        for rp in running:
            state["after"][rp.case.id] = wait_counted(rp, state["before"][rp.case.id],
                                                      sum(state["sent"][rp.case.id].values()))
        # Until Prometheus has scraped all of it and the rules have been evaluated over it.
        for rp in scraped:
            wait_scraped(prom, rp, state["after"][rp.case.id], state["sent"][rp.case.id])
        yield state
    finally:
        if prom:
            prom.stop()
        for rp in running:
            for p in rp.processes:
                p.send_signal(signal.SIGTERM)  # every pod drains at the same time
        for rp in running:
            rp.stop()
        for netns in netnses:
            netns.__exit__(None, None, None)
        if hook:
            hook.proc.kill()
            hook.proc.wait(10)


def pod_name(journey, case):
    return journey["pods"][case.id].pod["metadata"]["name"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_webhook_injects_the_pod_with_its_identity(journey, case):
    rp = journey["pods"][case.id]
    pod = rp.pod
    assert pod["metadata"]["labels"].get("mlsidecar.io/injected") == "true"
    assert pod["metadata"]["annotations"].get("mlsidecar.io/app") == case.app
    args = rp.sidecar["args"]
    assert args[args.index("--model") + 1] == case.model
    assert args[args.index("--model-version") + 1] == case.version
    init = [c["name"] for c in pod["spec"]["initContainers"]]
    if case.webhook_path == "/mutate":
        assert init == ["mlsidecar-capture", "mlsidecar"]
    else:
        assert init == ["mlsidecar"]
    assert journey["warnings"][case.id] == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_traffic_to_the_pod_is_counted_by_the_sidecar(journey, case):
    rp = journey["pods"][case.id]
    before = requests_by_route(journey["before"][case.id])
    after = requests_by_route(journey["after"][case.id])
    grown = {route: after.get(route, 0) - before.get(route, 0) for route in after}
    sent = journey["sent"][case.id]
    assert {r: n for r, n in grown.items() if r != "health" and n} == sent
    if case.webhook_path == "/mutate":
        # Captured: a client of the model's port reached the sidecar, not the model directly.
        assert rp.service_port == rp.model_port
        assert grown.get("health", 0) == journey["probes"][case.id]
    else:
        # port-name: the Service's named targetPort now names the sidecar's data port.
        assert rp.service_port == container_port(rp.pod, rp.sidecar, "http")
    assert metric_sum(journey["after"][case.id], "mlsidecar_requests_total", code="5xx") == 0
    # Prometheus holds what the sidecar counted.
    total = metric_sum(journey["after"][case.id], "mlsidecar_requests_total")
    assert journey["prom"].value('sum(mlsidecar_requests_total{pod="%s"})'
                                 % pod_name(journey, case)) == total


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_probes_still_reach_the_model(journey, case):
    rp = journey["pods"][case.id]
    (model,) = rp.pod["spec"]["containers"]
    paths = {model[kind]["httpGet"]["path"] for kind in ("livenessProbe", "readinessProbe")
             if model.get(kind, {}).get("httpGet")}
    seen = [line.split() for line in rp.model.lines if line.startswith("probe ")]
    for path in paths:
        peers = {peer for _, _, p, _, peer in seen if p == path}
        # Captured probes come to the model from the sidecar (loopback); others from the node.
        expected = "127.0.0.1" if case.webhook_path == "/mutate" else rp.netns.host_ip
        assert peers == {expected}, (path, seen)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_only_the_admin_port_is_scraped(journey, case):
    prom, rp = journey["prom"], journey["pods"][case.id]
    data = prom.api("targets", state="any")
    mine = [t for t in data["activeTargets"] if t["labels"].get("pod") == pod_name(journey, case)]
    assert [t["labels"].get("endpoint") for t in mine] == ["mlsidecar-admin"], mine
    (target,) = mine
    assert target["scrapeUrl"] == "http://%s:%d/metrics" % (rp.ip, rp.admin_port)
    wait_for(lambda: [t for t in prom.api("targets")["activeTargets"]
                      if t["labels"].get("pod") == pod_name(journey, case)][0]["health"] == "up",
             10, what="the target to be up")
    assert target["labels"]["job"] == "mlsidecar"
    assert target["labels"]["app"] == case.app
    assert target["labels"]["namespace"] == case.namespace
    assert target["labels"]["container"] == "mlsidecar"
    # Every other port of the pod was discovered and dropped: the model's among them (vLLM's
    # container declares none: its target is the bare address).
    dropped = [t["discoveredLabels"] for t in data["droppedTargets"]
               if t["discoveredLabels"].get("__meta_kubernetes_pod_name") == pod_name(journey, case)]
    ports = sum(len(c.get("ports", [])) or 1 for c in rp.pod["spec"]["containers"]
                + rp.pod["spec"]["initContainers"])
    assert len(dropped) == ports - 1
    model_container = rp.pod["spec"]["containers"][0]["name"]
    assert any(t["__meta_kubernetes_pod_container_name"] == model_container for t in dropped)


def identity_errors(series, case, pod):
    """What is wrong with the identity labels of one result series of `case`'s pod."""
    want = {"namespace": case.namespace, "pod": pod, "app": case.app, "model": case.model,
            "version": case.version}
    if series.get("__name__") == "mlsidecar_build_info":
        want["model_version"] = want.pop("version")
    errors = []
    for k, v in want.items():
        if k not in series or series[k] == v:
            continue
        if k == "model" and series[k] == case.request_model and \
                series.get("__name__") != "mlsidecar_build_info":
            continue  # a request series: the model the request names
        errors.append("%s=%r, not %r" % (k, series[k], v))
    return errors


def belongs_to(series, case, pod, filtered):
    """A series is the pod's if its namespace and pod labels say so, or, for a query that
    selects one namespace, if it has neither (an aggregate over that namespace)."""
    if "namespace" not in series and "pod" not in series:
        return filtered
    return series.get("namespace", case.namespace) == case.namespace and \
        series.get("pod", pod) == pod


def the_pods_series(prom, expr, case, pod, deadline=None):
    """The series of `expr`'s answer that are the pod's. With a deadline, asked again until
    there are some: each rule group evaluates on its own schedule, and rate() needs two scrapes
    of a series that the traffic created."""
    filtered = case.namespace in expr
    while True:
        mine = [r["metric"] for r in prom.query(expr) if belongs_to(r["metric"], case, pod, filtered)]
        if mine or deadline is None or time.monotonic() > deadline:
            return mine
        time.sleep(0.5)


def pod_queries(case):
    """(source, PromQL, why it may be empty) for every shipped query, for `case`'s namespace:
    recording rules by their recorded name; dashboard panels as Grafana sends them with the
    namespace chosen and the model variable at All, and again with the requests' model chosen;
    prometheus-adapter as it asks for the namespace's pods; the keda overlay's trigger with the
    namespace and app edited (the autoscaler's own are checked on their own)."""
    out = []
    for q in shipped.all_queries(rate_interval="30s", namespace=case.namespace):
        if q["external"] or q["source"].startswith("rules/mlsidecar-alerts/"):
            continue  # kube-state-metrics is not here; alerts are checked by their evaluation
        expr = q["expr"]
        if q["records"]:
            expr = '%s{namespace="%s"}' % (q["records"], case.namespace)
        elif q["source"].startswith("dashboard/") and 'model=~".+"' in expr:
            # The user picks the pod's model in the dashboard's model variable, which offers the
            # models the requests name.
            chosen = expr.replace('model=~".+"', 'model=~"%s"' % case.request_model)
            source = q["source"] + " (model %s)" % case.request_model
            out.append((source, chosen, known_empty(case, source, chosen)))
        elif q["source"].startswith("keda/"):
            expr = expr.replace('namespace="mlsidecar-example"', 'namespace="%s"' % case.namespace)
            expr = expr.replace('app="example-model"', 'app="%s"' % case.app)
        out.append((q["source"], expr, known_empty(case, q["source"], q["expr"])))
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_shipped_query_returns_the_pods_series(journey, case):
    prom, pod = journey["prom"], pod_name(journey, case)
    empty, wrong, checked = [], [], 0
    deadline = time.monotonic() + 30
    for source, expr, reason in pod_queries(case):
        mine = the_pods_series(prom, expr, case, pod, None if reason else deadline)
        for s in mine:
            errors = identity_errors(s, case, pod)
            if errors:
                wrong.append((source, errors))
        if reason:
            continue
        checked += 1
        if not mine:
            empty.append((source, expr))
    assert not wrong, wrong
    assert not empty, "%d of %d queries returned nothing for %s: %s" % (len(empty), checked,
                                                                         case.id, empty)
    assert checked > 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_autoscalers_query_returns_the_pod(journey, case):
    prom, pod = journey["prom"], pod_name(journey, case)
    deadline = time.monotonic() + 30
    for source, expr in autoscaler_queries(case, prom.url):
        result = the_pods_series(prom, expr, case, pod, deadline)
        assert result, "%s returned nothing: %s" % (source, expr)
        assert all(not identity_errors(s, case, pod) for s in result), (source, result)


def test_the_rules_and_alerts_evaluate_without_error(journey):
    groups = journey["prom"].api("rules")["groups"]
    shipped_rules = yaml.safe_load((ROOT / "manifests" / "rules" / "mlsidecar.rules.yaml").read_text())
    assert len(groups) == len(shipped_rules["groups"])
    bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
           if r["health"] != "ok"]
    assert not bad, bad
    assert sum(len(g["rules"]) for g in groups) == sum(len(g["rules"]) for g in shipped_rules["groups"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_models_metrics_ride_in_the_same_scrape(journey, case):
    prom, pod = journey["prom"], pod_name(journey, case)
    selector = '{job="mlsidecar", namespace="%s", pod="%s", app="%s", container="mlsidecar"}' % (
        case.namespace, pod, case.app)
    assert prom.query(case.model_metric + selector), case.model_metric
    # The pod's process_* are the model's; the sidecar's own are renamed while merging.
    assert prom.query("mlsidecar_process_cpu_seconds_total" + selector)
    start = [float(r["value"][1]) for r in prom.query("process_start_time_seconds" + selector)]
    assert start == ([] if case.id == "triton" else [1700000000.0])  # Triton exports none
    if case.model_counter:
        # The model counted what the clients sent, and that count is in the scrape too.
        sent = sum(journey["sent"][case.id].values())
        assert prom.value("sum(%s%s)" % (case.model_counter, selector)) == sent
    # And the sidecar's own series carry the pod's identity.
    series = prom.query("mlsidecar_requests_total" + selector)
    assert series
    for s in series:
        assert not identity_errors(s["metric"], case, pod), s["metric"]
