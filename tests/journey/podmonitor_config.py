"""What prometheus-operator and Prometheus' Kubernetes discovery would make of a PodMonitor and a
pod, without an API server.

`scrape_configs(podmonitor, namespace, sd_file)` is the scrape job prometheus-operator generates
for each of the PodMonitor's podMetricsEndpoints (pkg/prometheus/promcfg.go,
generatePodMonitorConfig, one shard), with `kubernetes_sd_configs` (role pod) replaced by
`file_sd_configs`. `discovered_targets(pod, namespaces)` is what the pod role of Prometheus'
kubernetes_sd discovers for a running pod (discovery/kubernetes/pod.go): one target per container
port, init containers included (native sidecars are init containers), each with the
`__meta_kubernetes_pod_*` labels, and nothing for a pod outside the namespaces the
PodMonitor's namespaceSelector selects (the discovery would not watch them).
"""

import re

SHARD = "0"  # prometheus-config-reloader's $(SHARD) for a single-shard Prometheus


def sanitize(name):
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _relabeling(crd):
    """A PodMonitor RelabelConfig (camelCase) as Prometheus' relabel_config (promcfg.go
    generateRelabelConfig)."""
    keys = [("sourceLabels", "source_labels"), ("separator", "separator"),
            ("targetLabel", "target_label"), ("regex", "regex"), ("modulus", "modulus"),
            ("replacement", "replacement"), ("action", "action")]
    out = {}
    for crd_key, key in keys:
        if crd.get(crd_key) not in (None, "", []):
            out[key] = crd[crd_key].lower() if key == "action" else crd[crd_key]
    return out


def _selector_relabelings(selector):
    out = []
    for key in sorted(selector.get("matchLabels", {})):
        out.append({"action": "keep",
                    "source_labels": ["__meta_kubernetes_pod_label_" + sanitize(key),
                                      "__meta_kubernetes_pod_labelpresent_" + sanitize(key)],
                    "regex": "(%s);true" % selector["matchLabels"][key]})
    for exp in selector.get("matchExpressions", []):
        label = ["__meta_kubernetes_pod_label_" + sanitize(exp["key"]),
                 "__meta_kubernetes_pod_labelpresent_" + sanitize(exp["key"])]
        present = ["__meta_kubernetes_pod_labelpresent_" + sanitize(exp["key"])]
        values = "(%s);true" % "|".join(exp.get("values", []))
        out.append({
            "In": {"action": "keep", "source_labels": label, "regex": values},
            "NotIn": {"action": "drop", "source_labels": label, "regex": values},
            "Exists": {"action": "keep", "source_labels": present, "regex": "true"},
            "DoesNotExist": {"action": "drop", "source_labels": present, "regex": "true"},
        }[exp["operator"]])
    return out


def scrape_configs(podmonitor, namespace, sd_file, interval=None, scrape_timeout=None):
    """One scrape job per podMetricsEndpoint, as prometheus-operator writes it. `interval` and
    `scrape_timeout`, when given, replace the endpoint's (the tests scrape every second)."""
    name, spec = podmonitor["metadata"]["name"], podmonitor["spec"]
    jobs = []
    for i, ep in enumerate(spec["podMetricsEndpoints"]):
        job = {"job_name": "podMonitor/%s/%s/%d" % (namespace, name, i),
               "honor_labels": bool(ep.get("honorLabels", False)),
               "file_sd_configs": [{"files": [str(sd_file)], "refresh_interval": "1s"}]}
        if interval or ep.get("interval"):
            job["scrape_interval"] = interval or ep["interval"]
        if scrape_timeout or ep.get("scrapeTimeout"):
            job["scrape_timeout"] = scrape_timeout or ep["scrapeTimeout"]
        if ep.get("path"):
            job["metrics_path"] = ep["path"]
        if ep.get("scheme"):
            job["scheme"] = ep["scheme"]
        relabel = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
        if ep.get("filterRunning", True):
            relabel.append({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"],
                            "regex": "(Failed|Succeeded)"})
        relabel += _selector_relabelings(spec.get("selector", {}))
        if ep.get("port"):
            relabel.append({"action": "keep",
                            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                            "regex": ep["port"]})
        elif ep.get("targetPort") is not None:
            by_name = isinstance(ep["targetPort"], str)
            relabel.append({"action": "keep",
                            "source_labels": ["__meta_kubernetes_pod_container_port_" +
                                              ("name" if by_name else "number")],
                            "regex": str(ep["targetPort"])})
        relabel += [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ]
        for label in spec.get("podTargetLabels", []):
            relabel.append({"source_labels": ["__meta_kubernetes_pod_label_" + sanitize(label)],
                            "target_label": sanitize(label), "regex": "(.+)",
                            "replacement": "${1}"})
        relabel.append({"target_label": "job", "replacement": "%s/%s" % (namespace, name)})
        if spec.get("jobLabel"):
            relabel.append({"source_labels": ["__meta_kubernetes_pod_label_" +
                                              sanitize(spec["jobLabel"])],
                            "target_label": "job", "regex": "(.+)", "replacement": "${1}"})
        if ep.get("port") or ep.get("targetPort") is not None:
            relabel.append({"target_label": "endpoint",
                            "replacement": str(ep.get("port") or ep["targetPort"])})
        relabel += [_relabeling(r) for r in ep.get("relabelings", [])]
        relabel += [{"source_labels": ["__address__"], "target_label": "__tmp_hash",
                     "modulus": 1, "action": "hashmod"},
                    {"source_labels": ["__tmp_hash"], "regex": SHARD, "action": "keep"}]
        job["relabel_configs"] = relabel
        if ep.get("metricRelabelings"):
            job["metric_relabel_configs"] = [_relabeling(r) for r in ep["metricRelabelings"]]
        jobs.append(job)
    return jobs


def selected_namespaces(podmonitor, namespace):
    """None for every namespace, else the list the discovery watches (promcfg.go
    generateK8SSDConfig: `any`, `matchNames`, or the PodMonitor's own namespace)."""
    selector = podmonitor["spec"].get("namespaceSelector", {})
    if selector.get("any"):
        return None
    return selector.get("matchNames") or [namespace]


def discovered_targets(pod, namespaces=None):
    """file_sd target groups for a running, ready `pod` (with metadata.name/namespace and
    status.podIP set), as the kubernetes_sd pod role labels them."""
    meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
    if namespaces is not None and meta["namespace"] not in namespaces:
        return []
    common = {
        "__meta_kubernetes_namespace": meta["namespace"],
        "__meta_kubernetes_pod_name": meta["name"],
        "__meta_kubernetes_pod_ip": status["podIP"],
        "__meta_kubernetes_pod_ready": "true",
        "__meta_kubernetes_pod_phase": status["phase"],
        "__meta_kubernetes_pod_node_name": spec.get("nodeName", ""),
        "__meta_kubernetes_pod_host_ip": status.get("hostIP", ""),
        "__meta_kubernetes_pod_uid": meta.get("uid", ""),
    }
    for key, value in meta.get("labels", {}).items():
        common["__meta_kubernetes_pod_label_" + sanitize(key)] = value
        common["__meta_kubernetes_pod_labelpresent_" + sanitize(key)] = "true"
    for key, value in meta.get("annotations", {}).items():
        common["__meta_kubernetes_pod_annotation_" + sanitize(key)] = value
        common["__meta_kubernetes_pod_annotationpresent_" + sanitize(key)] = "true"
    for owner in meta.get("ownerReferences", []):
        if owner.get("controller"):
            common["__meta_kubernetes_pod_controller_kind"] = owner["kind"]
            common["__meta_kubernetes_pod_controller_name"] = owner["name"]
    groups = []
    containers = [(c, False) for c in spec.get("containers", [])]
    containers += [(c, True) for c in spec.get("initContainers", [])]
    for container, init in containers:
        labels = dict(common, __meta_kubernetes_pod_container_name=container["name"],
                      __meta_kubernetes_pod_container_image=container.get("image", ""),
                      __meta_kubernetes_pod_container_init=str(init).lower())
        ports = container.get("ports", [])
        if not ports:
            # A container without ports still gets a target, on the pod's address alone.
            groups.append({"targets": [status["podIP"]], "labels": labels})
        for port in ports:
            groups.append({"targets": ["%s:%d" % (status["podIP"], port["containerPort"])],
                           "labels": dict(labels,
                                          __meta_kubernetes_pod_container_port_name=port.get("name", ""),
                                          __meta_kubernetes_pod_container_port_number=str(port["containerPort"]),
                                          __meta_kubernetes_pod_container_port_protocol=port.get("protocol", "TCP"))})
    return groups
