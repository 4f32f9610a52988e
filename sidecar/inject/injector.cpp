// The injection core. See injector.h; docs/injection.md explains each edit.
#include "sidecar/inject/injector.h"

#include <algorithm>

#include "sidecar/config.h"
#include "sidecar/metrics_url.h"

#include "sidecar/inject/annotations.h"
#include "sidecar/inject/edit_log.h"
#include "sidecar/inject/model_target.h"
#include "sidecar/inject/pod_template.h"
#include "sidecar/inject/sidecar_container.h"

namespace mlsidecar::inject {
namespace {

constexpr int kKubernetesDefaultGraceSeconds = 30;

Json::json_pointer annotation_pointer(std::string_view key) {
  return Json::json_pointer("/metadata/annotations") / std::string(key);
}

InjectionResult unchanged(const Json& tpl, Outcome outcome, std::string reason) {
  InjectionResult r{tpl, {}};
  r.report.outcome = outcome;
  r.report.reason = std::move(reason);
  return r;
}

// port-name capture: a port of the model is renamed `new_name` (and so are the model container's
// probes that named it), and a port of the sidecar takes its old name, so that Services and probes
// that target the port by name reach the sidecar. A port without a name cannot be taken over:
// traffic to it by number goes around the sidecar, which the warning says. `what` is "port" or
// "gRPC port".
std::vector<std::string> take_over_port_name(Json& out, EditLog& log, std::size_t container_index,
                                             std::string_view what, int number,
                                             const std::string& name, std::string_view new_name) {
  if (name.empty()) {
    return {"capture port-name: the model's " + std::string(what) + " " + std::to_string(number) +
            " has no name, so Services that target it by number bypass the sidecar (name the "
            "port, or use mlsidecar.io/capture: redirect)"};
  }
  const Json::json_pointer container("/spec/containers/" + std::to_string(container_index));
  const Json& ports = out[container / "ports"];
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (ports[i].is_object() && ports[i].value("name", Json()) == name) {
      log.set(out, container / "ports" / std::to_string(i) / "name", std::string(new_name));
    }
  }
  for (const char* probe : {"readinessProbe", "livenessProbe", "startupProbe"}) {
    for (const char* handler : {"httpGet", "tcpSocket", "grpc"}) {
      const Json::json_pointer port = container / probe / handler / "port";
      if (out.contains(port) && out[port] == name) log.set(out, port, std::string(new_name));
    }
  }
  return {};
}

// port-name capture of the model's HTTP port and, beside it, of its gRPC port when the sidecar
// has a second data port for it (a gRPC-only model's one port is the HTTP port here).
std::vector<std::string> take_over_port_names(Json& out, EditLog& log, const SidecarPlan& plan) {
  const ModelTarget& model = plan.model;
  std::vector<std::string> warnings = take_over_port_name(
      out, log, model.container_index, "port", model.port, model.port_name, kModelPortName);
  if (model.separate_grpc_port()) {
    auto grpc = take_over_port_name(out, log, model.container_index, "gRPC port", model.grpc_port,
                                    model.grpc_port_name, kModelGrpcPortName);
    warnings.insert(warnings.end(), grpc.begin(), grpc.end());
  }
  return warnings;
}

// The model container's metrics port (is_metrics_port_name), else the model's own HTTP port;
// nothing for a
// gRPC-only model without a metrics port (its one port speaks no HTTP/1.1).
std::optional<int> metrics_port(const Json& tpl, const ModelTarget& model) {
  const Json& container = tpl["spec"]["containers"][model.container_index];
  if (const auto ports = container.find("ports"); ports != container.end() && ports->is_array()) {
    for (const auto& p : *ports) {
      if (p.is_object() && p.value("name", Json()).is_string() &&
          is_metrics_port_name(p["name"].get_ref<const std::string&>()) &&
          p.value("containerPort", Json()).is_number_integer()) {
        return p["containerPort"].get<int>();
      }
    }
  }
  if (model.grpc_only()) return std::nullopt;
  return model.port;
}

bool sets_serve_flag(const SidecarPlan& plan, std::string_view name) {
  return std::any_of(plan.serve_flags.begin(), plan.serve_flags.end(),
                     [name](const auto& flag) { return flag.first == name; });
}

// The gRPC flags of the sidecar, from the model's gRPC port and readiness, less those that an
// annotation sets (the annotation wins, as for every per-pod flag).
std::vector<std::pair<std::string, std::string>> grpc_flags(const SidecarPlan& plan) {
  const ModelTarget& model = plan.model;
  std::vector<std::pair<std::string, std::string>> flags;
  auto add = [&](const char* name, std::string value) {
    if (!value.empty() && !sets_serve_flag(plan, name)) flags.emplace_back(name, std::move(value));
  };
  if (model.grpc_port == 0) return flags;
  add("grpc-upstream", "127.0.0.1:" + std::to_string(model.grpc_port));
  if (plan.grpc_listen_port != 0) {
    add("grpc-listen", "0.0.0.0:" + std::to_string(plan.grpc_listen_port));
  }
  add("ready-grpc", model.ready_grpc);
  add("ready-grpc-service", model.ready_grpc_service);
  return flags;
}

// Resolves annotations and settings into a plan; an error message when an annotation is invalid.
std::variant<SidecarPlan, std::string> make_plan(const Json& tpl, ModelTarget model,
                                                 const InjectionSettings& settings) {
  SidecarPlan plan;
  plan.model = std::move(model);
  plan.native = settings.native;
  if (auto native = annotation_of(tpl, annotation::kNative)) {
    if (*native != "true" && *native != "false") {
      return std::string(annotation::kNative) + " must be \"true\" or \"false\", not \"" + *native +
             "\"";
    }
    plan.native = *native == "true";
  }
  // Per-pod serve flags, checked by serve's own parser so that a bad value fails here, with the
  // annotation's name, instead of in a sidecar that would crash-loop.
  Config checked;
  for (std::string_view name : per_pod_flags()) {
    const std::string key = std::string(annotation::kServeFlagPrefix) + std::string(name);
    const auto value = annotation_of(tpl, key);
    if (!value) continue;
    try {
      apply_serve_flag(checked, name, *value);
    } catch (const ConfigError& e) {
      return key + ": " + e.what();
    }
    plan.serve_flags.emplace_back(std::string(name), *value);
  }
  // The gRPC upstream injection adds counts for the rules (--ready-grpc needs it).
  if (checked.grpc_upstream.empty() && plan.model.grpc_port != 0) {
    checked.grpc_upstream = "127.0.0.1:" + std::to_string(plan.model.grpc_port);
  }
  try {
    validate_config(checked);
  } catch (const ConfigError& e) {
    // The rule's message starts with the flag it is about: name its annotation.
    const std::string_view what = e.what();
    const std::size_t start = what.starts_with("--") ? 2 : 0;
    const std::string_view flag = what.substr(start, what.find_first_of(" '", start) - start);
    return std::string(annotation::kServeFlagPrefix) + std::string(flag) + ": " + e.what();
  }
  // The model's own metrics ride in the sidecar's scrape (prometheus.io/* below is repointed to
  // the sidecar): from where the pod's annotations said they were, else the model container's port
  // named "metrics" (Triton's 8002) or like it, else the model port's /metrics (none for a
  // gRPC-only model).
  if (!annotation_of(tpl, std::string(annotation::kServeFlagPrefix) + "merge-metrics")) {
    const auto known = metrics_port(tpl, plan.model);
    const auto port = annotation_of(tpl, annotation::kPrometheusPort)
                          .value_or(known ? std::to_string(*known) : std::string());
    const std::string path = annotation_of(tpl, annotation::kPrometheusPath).value_or("/metrics");
    if (!port.empty()) {
      plan.merge_metrics = "http://127.0.0.1:" + port + (path.starts_with('/') ? "" : "/") + path;
      if (!parse_metrics_url(plan.merge_metrics)) {
        return std::string(annotation::kPrometheusPort) + " \"" + port + "\" is not a port number";
      }
    }
  }
  if (auto drift = annotation_of(tpl, annotation::kDriftProfile)) {
    const auto slash = drift->find('/');
    plan.drift_config_map = drift->substr(0, slash);
    if (slash != std::string::npos) plan.drift_key = drift->substr(slash + 1);
    if (plan.drift_config_map.empty() || plan.drift_key.empty() ||
        plan.drift_key.find('/') != std::string::npos) {
      return std::string(annotation::kDriftProfile) +
             " must be CONFIGMAP or CONFIGMAP/KEY, not \"" + *drift + "\"";
    }
  }
  plan.capture = annotation_of(tpl, annotation::kCapture).value_or(settings.capture);
  if (std::find(capture_modes().begin(), capture_modes().end(), plan.capture) ==
      capture_modes().end()) {
    return std::string(annotation::kCapture) + " must be redirect, port-name or service, not \"" +
           plan.capture + "\"";
  }
  if (plan.capture == "port-name" && !plan.model.port_name.empty()) {
    plan.data_port_name = plan.model.port_name;
  }
  plan.image = annotation_of(tpl, annotation::kImage).value_or(settings.image);
  plan.cpu_request = annotation_of(tpl, annotation::kCpuRequest).value_or(settings.cpu_request);
  plan.cpu_limit = annotation_of(tpl, annotation::kCpuLimit).value_or(settings.cpu_limit);
  plan.memory_request =
      annotation_of(tpl, annotation::kMemoryRequest).value_or(settings.memory_request);
  plan.memory_limit = annotation_of(tpl, annotation::kMemoryLimit).value_or(settings.memory_limit);

  std::set<int> used = ports_in_use(tpl["spec"]);
  used.insert(plan.model.port);
  if (plan.model.grpc_port != 0) used.insert(plan.model.grpc_port);
  plan.data_port = first_free_port(settings.data_port, used);
  used.insert(plan.data_port);
  plan.admin_port = first_free_port(settings.admin_port, used);
  used.insert(plan.admin_port);
  // The gRPC port's name moves to a second data port, above the first.
  if (plan.capture == "port-name" && plan.model.separate_grpc_port() &&
      !plan.model.grpc_port_name.empty() && !sets_serve_flag(plan, "grpc-listen")) {
    plan.grpc_listen_port = first_free_port(plan.data_port + 1, used);
  }
  plan.grpc_flags = grpc_flags(plan);
  return plan;
}

// "port 8000 (from containerPort), grpc port 8001 (from containerPort name)", or for a gRPC-only
// model "grpc port 8500 (from args) only".
std::string describe_ports(const ModelTarget& model) {
  const std::string grpc =
      "grpc port " + std::to_string(model.grpc_port) + " (from " + model.grpc_port_source + ")";
  if (model.grpc_only()) return grpc + " only";
  std::string text = "port " + std::to_string(model.port) + " (from " + model.port_source + ")";
  if (model.grpc_port != 0) text += ", " + grpc;
  return text;
}

bool has_container_named(const Json& spec, const std::string& name) {
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const auto& c : spec[list]) {
      if (c.is_object() && c.value("name", "") == name) return true;
    }
  }
  return false;
}

void erase_named(Json& spec, const char* list, const std::string& name) {
  if (!spec.contains(list) || !spec[list].is_array()) return;
  Json& items = spec[list];
  for (auto it = items.begin(); it != items.end();) {
    if (it->is_object() && it->value("name", "") == name) {
      it = items.erase(it);
    } else {
      ++it;
    }
  }
}

// Why the fields injection writes into cannot take it, or nothing. Kubernetes would refuse such
// an object anyway; saying so beats failing halfway through the edit.
std::optional<std::string> shape_problem(const Json& tpl) {
  if (!tpl.is_object() || !tpl.contains("spec") || !tpl["spec"].is_object()) {
    return "pod template has no spec";
  }
  if (tpl.contains("metadata")) {
    const Json& metadata = tpl["metadata"];
    if (!metadata.is_object() && !metadata.is_null())
      return "pod template metadata is not a mapping";
    for (const char* map : {"annotations", "labels"}) {
      if (metadata.is_object() && metadata.contains(map) && !metadata[map].is_object() &&
          !metadata[map].is_null()) {
        return std::string("pod template ") + map + " are not a mapping";
      }
    }
  }
  for (const char* list : {"containers", "initContainers", "volumes"}) {
    if (tpl["spec"].contains(list) && !tpl["spec"][list].is_array() &&
        !tpl["spec"][list].is_null()) {
      return std::string("spec.") + list + " is not a list";
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::injected:
      return "injected";
    case Outcome::uninjected:
      return "uninjected";
    case Outcome::skipped:
      return "skipped";
    case Outcome::failed:
      return "failed";
  }
  return "failed";
}

namespace {

InjectionResult inject_checked(const Json& tpl, const InjectionSettings& settings,
                               std::string_view workload, const ServiceHints& services,
                               std::string_view workload_kind) {
  if (label_of(tpl, annotation::kInject) == "false" ||
      annotation_of(tpl, annotation::kInject) == "false") {
    return unchanged(tpl, Outcome::skipped, "opted out by mlsidecar.io/inject=false");
  }
  if (annotation_of(tpl, annotation::kStatus)) {
    return unchanged(tpl, Outcome::skipped, "already injected");
  }
  if (tpl["spec"].value("hostNetwork", false)) {
    return unchanged(tpl, Outcome::skipped,
                     "hostNetwork pod: the sidecar's ports would be the node's ports");
  }
  if (has_container_named(tpl["spec"], settings.container_name)) {
    return unchanged(tpl, Outcome::failed,
                     "a container named \"" + settings.container_name + "\" already exists");
  }
  auto target = find_model_target(tpl, workload, services, workload_kind);
  if (auto* problem = std::get_if<ModelTargetProblem>(&target)) {
    return unchanged(
        tpl,
        problem->kind == ModelTargetProblem::Kind::unusable ? Outcome::failed : Outcome::skipped,
        problem->message);
  }
  auto planned = make_plan(tpl, std::get<ModelTarget>(std::move(target)), settings);
  if (auto* error = std::get_if<std::string>(&planned)) {
    return unchanged(tpl, Outcome::failed, *error);
  }
  const SidecarPlan& plan = std::get<SidecarPlan>(planned);
  if (plan.data_port == 0 || plan.admin_port == 0) {
    return unchanged(tpl, Outcome::failed, "no free port for the sidecar");
  }

  Json out = tpl;
  EditLog log;
  const Json::json_pointer spec("/spec");
  const Json::json_pointer model_container =
      spec / "containers" / std::to_string(plan.model.container_index);

  // The model container gets a preStop pause only if it has none, so that it keeps serving while
  // endpoints are removed (see docs/injection.md, "What changes in the pod").
  if (settings.model_prestop_sleep.count() > 0 &&
      !out.contains(model_container / "lifecycle" / "preStop")) {
    log.set(out, model_container / "lifecycle" / "preStop",
            Json{{"sleep", {{"seconds", settings.model_prestop_sleep.count()}}}});
  }
  const int needed_grace = needed_grace_seconds(settings);
  const Json& grace = out["spec"].value("terminationGracePeriodSeconds", Json());
  const int current_grace =
      grace.is_number_integer() ? grace.get<int>() : kKubernetesDefaultGraceSeconds;
  if (current_grace < needed_grace) {
    log.set(out, spec / "terminationGracePeriodSeconds", needed_grace);
  }

  if (!annotation_of(out, annotation::kDefaultContainer)) {
    log.set(out, annotation_pointer(annotation::kDefaultContainer), plan.model.container_name);
  }
  log.set(out, Json::json_pointer("/metadata/labels") / std::string(annotation::kInjectedLabel),
          "true");
  log.set(out, annotation_pointer(annotation::kApp), plan.model.app);
  log.set(out, annotation_pointer(annotation::kPrometheusScrape), "true");
  log.set(out, annotation_pointer(annotation::kPrometheusPort), std::to_string(plan.admin_port));
  log.set(out, annotation_pointer(annotation::kPrometheusPath), "/metrics");

  if (!plan.drift_config_map.empty()) {
    if (!out["spec"].contains("volumes")) log.set(out, spec / "volumes", Json::array());
    out["spec"]["volumes"].push_back(
        Json{{"name", kDriftVolumeName}, {"configMap", {{"name", plan.drift_config_map}}}});
  }

  std::vector<std::string> warnings;
  if (plan.capture == "port-name") warnings = take_over_port_names(out, log, plan);

  const char* list = plan.native ? "initContainers" : "containers";
  if (!out["spec"].contains(list)) log.set(out, spec / list, Json::array());
  Json& containers = out["spec"][list];
  containers.insert(containers.begin(), build_sidecar_container(plan, settings));
  if (plan.capture == "redirect") {
    // First of all: the redirect is in place before the sidecar and the model start.
    if (!out["spec"].contains("initContainers")) {
      log.set(out, spec / "initContainers", Json::array());
    }
    Json& init = out["spec"]["initContainers"];
    init.insert(init.begin(), build_capture_container(plan, settings));
  }

  Json status = Json::object();
  status["injector"] = MLSIDECAR_VERSION;  // which release wrote it, for later uninjects
  status["image"] = plan.image;
  status["container"] = settings.container_name;
  status["native"] = plan.native;
  status["model"] = {{"container", plan.model.container_name}, {"port", plan.model.port}};
  if (plan.model.grpc_port != 0) status["model"]["grpcPort"] = plan.model.grpc_port;
  status["ports"] = {{"data", plan.data_port}, {"admin", plan.admin_port}};
  if (plan.grpc_listen_port != 0) status["ports"]["grpc"] = plan.grpc_listen_port;
  if (!plan.drift_config_map.empty()) status["volume"] = kDriftVolumeName;
  status["capture"] = plan.capture;
  if (plan.capture == "redirect") status["captureContainer"] = kCaptureContainerName;
  status["restore"] = log.entries();
  out["metadata"]["annotations"][std::string(annotation::kStatus)] = status.dump();

  InjectionResult result{std::move(out), {}};
  Report& r = result.report;
  r.outcome = Outcome::injected;
  r.model_container = plan.model.container_name;
  r.model_port = plan.model.port;
  r.model_port_name = plan.model.port_name;
  r.grpc_port = plan.model.grpc_port;
  r.grpc_port_name = plan.model.grpc_port_name;
  r.data_port = plan.data_port;
  r.admin_port = plan.admin_port;
  r.native = plan.native;
  r.capture = plan.capture;
  r.warnings = std::move(warnings);
  r.reason = "model container " + plan.model.container_name + " " + describe_ports(plan.model) +
             ", capture " + plan.capture + ", sidecar " +
             (plan.native ? "native" : "ordinary container") + " on data port " +
             std::to_string(plan.data_port) + " and admin port " + std::to_string(plan.admin_port);
  if (!plan.model.version_label.empty()) {
    r.reason += ", model version from the pod label " + plan.model.version_label;
  }
  return result;
}

InjectionResult uninject_checked(const Json& tpl) {
  const auto status_text = annotation_of(tpl, annotation::kStatus);
  if (!status_text) return unchanged(tpl, Outcome::skipped, "not injected");
  const Json status = Json::parse(*status_text, nullptr, /*allow_exceptions=*/false);
  if (!status.is_object() || !status.contains("container") || !status["container"].is_string()) {
    return unchanged(tpl, Outcome::failed, "unreadable mlsidecar.io/status annotation");
  }
  if (auto problem = shape_problem(tpl)) return unchanged(tpl, Outcome::failed, *problem);
  Json out = tpl;
  const std::string container = status["container"].get<std::string>();
  erase_named(out["spec"], "initContainers", container);
  erase_named(out["spec"], "containers", container);
  if (status.contains("captureContainer") && status["captureContainer"].is_string()) {
    erase_named(out["spec"], "initContainers", status["captureContainer"].get<std::string>());
  }
  if (status.contains("volume") && status["volume"].is_string()) {
    erase_named(out["spec"], "volumes", status["volume"].get<std::string>());
  }
  out["metadata"]["annotations"].erase(std::string(annotation::kStatus));
  EditLog::undo(out, status.value("restore", Json::array()));
  InjectionResult result{std::move(out), {}};
  result.report.outcome = Outcome::uninjected;
  result.report.reason = "removed container " + container;
  return result;
}

}  // namespace

// A field of a type nothing expects deeper in the template (a container's `lifecycle` that is a
// string, say) fails the one template with a message instead of escaping as an exception.
InjectionResult inject(const Json& tpl, const InjectionSettings& settings,
                       std::string_view workload, const ServiceHints& services,
                       std::string_view workload_kind) {
  if (auto problem = shape_problem(tpl)) return unchanged(tpl, Outcome::failed, *problem);
  try {
    return inject_checked(tpl, settings, workload, services, workload_kind);
  } catch (const Json::exception& e) {
    return unchanged(tpl, Outcome::failed, std::string("unexpected field type: ") + e.what());
  }
}

InjectionResult uninject(const Json& tpl) {
  try {
    return uninject_checked(tpl);
  } catch (const Json::exception& e) {
    return unchanged(tpl, Outcome::failed, std::string("unexpected field type: ") + e.what());
  }
}

}  // namespace mlsidecar::inject
