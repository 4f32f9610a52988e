// The injection core. See injector.h; docs/injection.md explains each edit.
#include "sidecar/inject/injector.h"

#include "sidecar/inject/annotations.h"
#include "sidecar/inject/edit_log.h"
#include "sidecar/inject/model_target.h"
#include "sidecar/inject/pod_template.h"
#include "sidecar/inject/sidecar_container.h"

#include <charconv>

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

bool is_non_negative_integer(std::string_view s) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
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
  if (auto cc = annotation_of(tpl, annotation::kContainerConcurrency)) {
    if (!is_non_negative_integer(*cc)) {
      return std::string(annotation::kContainerConcurrency) +
             " must be a non-negative integer, not \"" + *cc + "\"";
    }
    plan.container_concurrency = *cc;
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
  plan.image = annotation_of(tpl, annotation::kImage).value_or(settings.image);
  plan.cpu_request = annotation_of(tpl, annotation::kCpuRequest).value_or(settings.cpu_request);
  plan.cpu_limit = annotation_of(tpl, annotation::kCpuLimit).value_or(settings.cpu_limit);
  plan.memory_request =
      annotation_of(tpl, annotation::kMemoryRequest).value_or(settings.memory_request);
  plan.memory_limit = annotation_of(tpl, annotation::kMemoryLimit).value_or(settings.memory_limit);

  std::set<int> used = ports_in_use(tpl["spec"]);
  used.insert(plan.model.port);
  plan.data_port = first_free_port(settings.data_port, used);
  used.insert(plan.data_port);
  plan.admin_port = first_free_port(settings.admin_port, used);
  return plan;
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
    if (!metadata.is_object() && !metadata.is_null()) return "pod template metadata is not a mapping";
    if (metadata.is_object() && metadata.contains("annotations") &&
        !metadata["annotations"].is_object() && !metadata["annotations"].is_null()) {
      return "pod template annotations are not a mapping";
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

InjectionResult inject_checked(const Json& tpl, const InjectionSettings& settings) {
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
  auto target = find_model_target(tpl);
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
  if (settings.model_prestop_sleep_seconds > 0 &&
      !out.contains(model_container / "lifecycle" / "preStop")) {
    log.set(out, model_container / "lifecycle" / "preStop",
            Json{{"sleep", {{"seconds", settings.model_prestop_sleep_seconds}}}});
  }
  const int needed_grace = settings.model_prestop_sleep_seconds + settings.drain_seconds +
                           settings.shutdown_timeout_seconds;
  const Json& grace = out["spec"].value("terminationGracePeriodSeconds", Json());
  const int current_grace =
      grace.is_number_integer() ? grace.get<int>() : kKubernetesDefaultGraceSeconds;
  if (current_grace < needed_grace) {
    log.set(out, spec / "terminationGracePeriodSeconds", needed_grace);
  }

  if (!annotation_of(out, annotation::kDefaultContainer)) {
    log.set(out, annotation_pointer(annotation::kDefaultContainer), plan.model.container_name);
  }
  log.set(out, annotation_pointer(annotation::kPrometheusScrape), "true");
  log.set(out, annotation_pointer(annotation::kPrometheusPort), std::to_string(plan.admin_port));
  log.set(out, annotation_pointer(annotation::kPrometheusPath), "/metrics");

  if (!plan.drift_config_map.empty()) {
    if (!out["spec"].contains("volumes")) log.set(out, spec / "volumes", Json::array());
    out["spec"]["volumes"].push_back(
        Json{{"name", kDriftVolumeName}, {"configMap", {{"name", plan.drift_config_map}}}});
  }

  const char* list = plan.native ? "initContainers" : "containers";
  if (!out["spec"].contains(list)) log.set(out, spec / list, Json::array());
  Json& containers = out["spec"][list];
  containers.insert(containers.begin(), build_sidecar_container(plan, settings));

  Json status = Json::object();
  status["image"] = plan.image;
  status["container"] = settings.container_name;
  status["native"] = plan.native;
  status["model"] = {{"container", plan.model.container_name}, {"port", plan.model.port}};
  status["ports"] = {{"data", plan.data_port}, {"admin", plan.admin_port}};
  if (!plan.drift_config_map.empty()) status["volume"] = kDriftVolumeName;
  status["restore"] = log.entries();
  out["metadata"]["annotations"][std::string(annotation::kStatus)] = status.dump();

  InjectionResult result{std::move(out), {}};
  Report& r = result.report;
  r.outcome = Outcome::injected;
  r.model_container = plan.model.container_name;
  r.model_port = plan.model.port;
  r.model_port_name = plan.model.port_name;
  r.data_port = plan.data_port;
  r.admin_port = plan.admin_port;
  r.native = plan.native;
  r.reason = "model container " + plan.model.container_name + " port " +
             std::to_string(plan.model.port) + ", sidecar " +
             (plan.native ? "native" : "ordinary container") + " on data port " +
             std::to_string(plan.data_port) + " and admin port " + std::to_string(plan.admin_port);
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
InjectionResult inject(const Json& tpl, const InjectionSettings& settings) {
  if (auto problem = shape_problem(tpl)) return unchanged(tpl, Outcome::failed, *problem);
  try {
    return inject_checked(tpl, settings);
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
