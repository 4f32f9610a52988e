// Service repointing. See service_rewrite.h.
#include "sidecar/inject/service_rewrite.h"

#include "sidecar/inject/annotations.h"
#include "sidecar/inject/edit_log.h"
#include "sidecar/inject/pod_template.h"
#include "sidecar/inject/sidecar_container.h"

namespace mlsidecar::inject {
namespace {

std::string namespace_of(const Json& object) {
  if (object.contains("metadata") && object["metadata"].is_object()) {
    const Json& meta = object["metadata"];
    if (meta.contains("namespace") && meta["namespace"].is_string()) return meta["namespace"];
  }
  return {};
}

bool selects(const Json& selector, const Json& labels) {
  if (!selector.is_object() || selector.empty() || !labels.is_object()) return false;
  for (const auto& [key, value] : selector.items()) {
    if (!labels.contains(key) || labels[key] != value) return false;
  }
  return true;
}

// Whether a Service port sends to the container port `number` named `name` ("" when unnamed).
bool targets_port(const Json& port, int number, const std::string& name) {
  if (!port.is_object() || number == 0) return false;
  if (!port.contains("targetPort")) {
    return port.contains("port") && port["port"].is_number_integer() &&
           port["port"].get<int>() == number;
  }
  const Json& target = port["targetPort"];
  if (target.is_number_integer()) return target.get<int>() == number;
  return target.is_string() && !name.empty() && target == name;
}

bool targets_model(const Json& port, const InjectedPods& pods) {
  return targets_port(port, pods.model_port, pods.model_port_name) ||
         targets_port(port, pods.grpc_port, pods.grpc_port_name);
}

// Calls `visit(port, target)` for each port of the Services among `objects` that select pods with
// `labels` in namespace `ns`; `target` is its targetPort, else its port.
template <class Visit>
void for_each_selecting_port(const std::vector<const Json*>& objects, const std::string& ns,
                             const Json& labels, Visit visit) {
  for (const Json* object : objects) {
    const Json& s = *object;
    if (!s.is_object() || s.value("kind", Json()) != "Service" || namespace_of(s) != ns) continue;
    if (!s.contains("spec") || !s["spec"].is_object()) continue;
    const Json& spec = s["spec"];
    if (!spec.contains("selector") || !selects(spec["selector"], labels)) continue;
    if (!spec.contains("ports") || !spec["ports"].is_array()) continue;
    for (const auto& port : spec["ports"]) {
      if (!port.is_object()) continue;
      visit(port, port.contains("targetPort") ? port["targetPort"] : port.value("port", Json()));
    }
  }
}

// A Service port whose appProtocol says HTTP/2 cleartext or gRPC.
bool speaks_grpc(const Json& port) {
  const Json protocol = port.value("appProtocol", Json());
  return protocol == "kubernetes.io/h2c" || protocol == "h2c" || protocol == "grpc";
}

}  // namespace

int service_target_port(const std::vector<const Json*>& objects, const std::string& ns,
                        const Json& labels) {
  int found = 0;
  bool ambiguous = false;
  for_each_selecting_port(objects, ns, labels, [&](const Json& port, const Json& target) {
    if (!target.is_number_integer() || speaks_grpc(port)) return;
    const int number = target.get<int>();
    ambiguous |= found != 0 && found != number;
    found = number;
  });
  return ambiguous ? 0 : found;
}

Json service_grpc_target(const std::vector<const Json*>& objects, const std::string& ns,
                         const Json& labels) {
  Json found;
  bool ambiguous = false;
  for_each_selecting_port(objects, ns, labels, [&](const Json& port, const Json& target) {
    if (!speaks_grpc(port) || !(target.is_number_integer() || target.is_string())) return;
    ambiguous |= !found.is_null() && found != target;
    found = target;
  });
  return ambiguous ? Json() : found;
}

ServiceHints service_hints(const std::vector<const Json*>& objects, const std::string& ns,
                           const Json& labels) {
  return {service_target_port(objects, ns, labels), service_grpc_target(objects, ns, labels)};
}

int repoint_service(Json& service, const std::vector<InjectedPods>& injected) {
  if (!service.is_object() || annotation_of(service, annotation::kStatus)) return 0;
  if (!service.contains("spec") || !service["spec"].is_object()) return 0;
  const Json& spec = service["spec"];
  if (!spec.contains("selector") || !spec.contains("ports") || !spec["ports"].is_array()) return 0;
  const std::string ns = namespace_of(service);

  EditLog log;
  int changed = 0;
  for (std::size_t i = 0; i < spec["ports"].size(); ++i) {
    for (const auto& pods : injected) {
      if (pods.ns != ns || !selects(spec["selector"], pods.labels)) continue;
      if (!targets_model(spec["ports"][i], pods)) continue;
      log.set(service, Json::json_pointer("/spec/ports/" + std::to_string(i) + "/targetPort"),
              kDataPortName);
      ++changed;
      break;
    }
  }
  if (changed == 0) return 0;
  const Json::json_pointer annotations("/metadata/annotations");
  if (!service.contains(annotations)) log.set(service, annotations, Json::object());
  service["metadata"]["annotations"][std::string(annotation::kStatus)] =
      Json{{"restore", log.entries()}}.dump();
  return changed;
}

bool restore_service(Json& service) {
  const auto status_text = annotation_of(service, annotation::kStatus);
  if (!status_text) return false;
  const Json status = Json::parse(*status_text, nullptr, /*allow_exceptions=*/false);
  if (!status.is_object()) return false;
  service["metadata"]["annotations"].erase(std::string(annotation::kStatus));
  EditLog::undo(service, status.value("restore", Json::array()));
  return true;
}

}  // namespace mlsidecar::inject
