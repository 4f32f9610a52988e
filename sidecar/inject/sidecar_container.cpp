// Building the sidecar container. See sidecar_container.h.
#include "sidecar/inject/sidecar_container.h"

namespace mlsidecar::inject {
namespace {

Json http_probe(std::string_view path, int period, int failure_threshold) {
  return Json{{"httpGet", {{"path", path}, {"port", kAdminPortName}}},
              {"periodSeconds", period},
              {"failureThreshold", failure_threshold}};
}

}  // namespace

int first_free_port(int preferred, const std::set<int>& used) {
  for (int i = 0; i < 65535; ++i) {
    const int port = 1 + (preferred - 1 + i) % 65535;
    if (!used.contains(port)) return port;
  }
  return 0;
}

std::set<int> ports_in_use(const Json& pod_spec) {
  std::set<int> used;
  for (const char* list : {"containers", "initContainers"}) {
    const auto containers = pod_spec.find(list);
    if (containers == pod_spec.end() || !containers->is_array()) continue;
    for (const auto& c : *containers) {
      if (!c.is_object() || !c.contains("ports") || !c["ports"].is_array()) continue;
      for (const auto& p : c["ports"]) {
        if (!p.is_object()) continue;
        for (const char* field : {"containerPort", "hostPort"}) {
          if (p.contains(field) && p[field].is_number_integer()) used.insert(p[field].get<int>());
        }
      }
    }
  }
  return used;
}

Json build_sidecar_container(const SidecarPlan& plan, const InjectionSettings& settings) {
  Json args = Json::array({"serve"});
  auto flag = [&args](const char* name, const std::string& value) {
    args.push_back(std::string("--") + name);
    args.push_back(value);
  };
  flag("listen", "0.0.0.0:" + std::to_string(plan.data_port));
  flag("admin", "0.0.0.0:" + std::to_string(plan.admin_port));
  flag("upstream", "127.0.0.1:" + std::to_string(plan.model.port));
  for (const auto& [name, value] : plan.grpc_flags) flag(name.c_str(), value);
  if (!plan.model.ready_path.empty()) flag("ready-path", plan.model.ready_path);
  flag("model", plan.model.model);
  // A version from a pod label comes from the environment (below); flags would win over it.
  if (plan.model.version_label.empty()) flag("model-version", plan.model.version);
  for (const auto& [name, value] : plan.serve_flags) flag(name.c_str(), value);
  if (!plan.merge_metrics.empty()) flag("merge-metrics", plan.merge_metrics);
  if (!plan.drift_config_map.empty()) {
    flag("drift-profile", std::string(kDriftMountPath) + "/" + plan.drift_key);
  }
  flag("drain-seconds", duration_argument(settings.drain));
  flag("shutdown-timeout", duration_argument(settings.shutdown_timeout));

  Json c = Json::object();
  c["name"] = settings.container_name;
  c["image"] = plan.image;
  c["imagePullPolicy"] = settings.image_pull_policy;
  if (plan.native) c["restartPolicy"] = "Always";
  c["args"] = std::move(args);
  if (!plan.model.version_label.empty()) {
    // A label missing at run time reads as "": the sidecar then labels no version, as without
    // --model-version.
    c["env"] = Json::array({Json{
        {"name", "MLSIDECAR_MODEL_VERSION"},
        {"valueFrom",
         {{"fieldRef", {{"fieldPath", "metadata.labels['" + plan.model.version_label + "']"}}}}}}});
  }
  auto port = [](std::string_view name, int number) {
    return Json{{"name", name}, {"containerPort", number}, {"protocol", "TCP"}};
  };
  c["ports"] = Json::array({port(plan.data_port_name, plan.data_port)});
  if (plan.grpc_listen_port != 0) {
    c["ports"].push_back(port(plan.model.grpc_port_name, plan.grpc_listen_port));
  }
  c["ports"].push_back(port(kAdminPortName, plan.admin_port));
  Json resources = Json::object();
  Json requests = Json::object(), limits = Json::object();
  if (!plan.cpu_request.empty()) requests["cpu"] = plan.cpu_request;
  if (!plan.memory_request.empty()) requests["memory"] = plan.memory_request;
  if (!plan.cpu_limit.empty()) limits["cpu"] = plan.cpu_limit;
  if (!plan.memory_limit.empty()) limits["memory"] = plan.memory_limit;
  if (!requests.empty()) resources["requests"] = std::move(requests);
  if (!limits.empty()) resources["limits"] = std::move(limits);
  c["resources"] = std::move(resources);
  c["securityContext"] = Json{
      {"runAsNonRoot", true},
      {"runAsUser", settings.run_as_user},
      {"runAsGroup", settings.run_as_user},
      {"readOnlyRootFilesystem", true},
      {"allowPrivilegeEscalation", false},
      {"capabilities", {{"drop", Json::array({"ALL"})}}},
      {"seccompProfile", {{"type", "RuntimeDefault"}}},
  };
  // The startup probe gates the start of the model container (native sidecars start in order). It
  // checks the sidecar's own liveness, not /readyz, which waits for the model and would deadlock.
  if (plan.native) c["startupProbe"] = http_probe("/healthz", 1, 30);
  c["readinessProbe"] = http_probe("/readyz", 5, 2);
  c["livenessProbe"] = http_probe("/healthz", 10, 3);
  if (!plan.drift_config_map.empty()) {
    c["volumeMounts"] = Json::array(
        {Json{{"name", kDriftVolumeName}, {"mountPath", kDriftMountPath}, {"readOnly", true}}});
  }
  return c;
}

Json build_capture_container(const SidecarPlan& plan, const InjectionSettings& settings) {
  Json c = Json::object();
  c["name"] = kCaptureContainerName;
  c["image"] = plan.image;
  c["imagePullPolicy"] = settings.image_pull_policy;
  // Both serving ports go to the one data port, which tells HTTP/1.1 and HTTP/2 apart; never the
  // metrics port.
  Json args = Json::array({"capture-init", "--model-port", std::to_string(plan.model.port)});
  if (plan.model.separate_grpc_port()) {
    args.push_back("--model-port");
    args.push_back(std::to_string(plan.model.grpc_port));
  }
  args.push_back("--data-port");
  args.push_back(std::to_string(plan.data_port));
  c["args"] = std::move(args);
  c["resources"] = Json{{"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}},
                        {"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}}};
  // iptables needs root in the pod's user namespace and these two capabilities; nothing else.
  c["securityContext"] = Json{
      {"runAsNonRoot", false},
      {"runAsUser", 0},
      {"readOnlyRootFilesystem", true},
      {"allowPrivilegeEscalation", false},
      {"capabilities",
       {{"drop", Json::array({"ALL"})}, {"add", Json::array({"NET_ADMIN", "NET_RAW"})}}},
      {"seccompProfile", {{"type", "RuntimeDefault"}}},
  };
  return c;
}

}  // namespace mlsidecar::inject
