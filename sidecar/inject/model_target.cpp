// Locating the model container and its port. See model_target.h.
#include "sidecar/inject/model_target.h"

#include "sidecar/inject/annotations.h"
#include "sidecar/inject/pod_template.h"

#include <charconv>

namespace mlsidecar::inject {
namespace {

std::optional<int> port_number(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return value;
}

// The containerPort entry of `container` named `name`, or with number `number`.
const Json* find_port(const Json& container, const std::string* name, int number) {
  const auto ports = container.find("ports");
  if (ports == container.end() || !ports->is_array()) return nullptr;
  for (const auto& p : *ports) {
    if (!p.is_object()) continue;
    if (name) {
      if (auto n = p.find("name"); n != p.end() && n->is_string() && *n == *name) return &p;
    } else if (auto c = p.find("containerPort");
               c != p.end() && c->is_number_integer() && c->get<int>() == number) {
      return &p;
    }
  }
  return nullptr;
}

// TF Serving's REST port flag: where it is, `--port` is the gRPC port.
constexpr std::string_view kRestApiPort = "--rest_api_port";

// Calls `visit` with the text of each `--flag N` or `--flag=N` among the container's command and
// args, for the flags `flags`.
template <class Visit>
void visit_flag_values(const Json& container, std::initializer_list<std::string_view> flags,
                       Visit visit) {
  for (const char* list : {"command", "args"}) {
    const auto words = container.find(list);
    if (words == container.end() || !words->is_array()) continue;
    for (std::size_t i = 0; i < words->size(); ++i) {
      const Json& w = (*words)[i];
      if (!w.is_string()) continue;
      const std::string& word = w.get_ref<const std::string&>();
      for (std::string_view flag : flags) {
        if (word == flag && i + 1 < words->size() && (*words)[i + 1].is_string()) {
          visit((*words)[i + 1].get_ref<const std::string&>());
        } else if (word.size() > flag.size() && word.starts_with(flag) &&
                   word[flag.size()] == '=') {
          visit(std::string_view(word).substr(flag.size() + 1));
        }
      }
    }
  }
}

// Whether the container's command line gives `flag` a value, whatever it is.
bool names_flag(const Json& container, std::string_view flag) {
  bool named = false;
  visit_flag_values(container, {flag}, [&named](std::string_view) { named = true; });
  return named;
}

std::string name_of_port(const Json* port) {
  if (!port) return {};
  auto n = port->find("name");
  return (n != port->end() && n->is_string()) ? n->get<std::string>() : std::string();
}

ModelTargetProblem unusable(std::string message) {
  return {ModelTargetProblem::Kind::unusable, std::move(message)};
}

// A port as an annotation gives it: a number, or the name of a containerPort of `model`.
struct PortChoice {
  int number = 0;
  std::string name;
};
std::variant<PortChoice, ModelTargetProblem> port_of_annotation(const Json& model,
                                                                std::string_view key,
                                                                const std::string& wanted) {
  if (auto number = port_number(wanted)) {
    return PortChoice{*number, name_of_port(find_port(model, nullptr, *number))};
  }
  if (const Json* p = find_port(model, &wanted, 0)) {
    return PortChoice{(*p)["containerPort"].get<int>(), wanted};
  }
  return unusable(std::string(key) + " \"" + wanted +
                  "\" is neither a port number nor a port name of container \"" +
                  model["name"].get<std::string>() + "\"");
}

// The model's readinessProbe handler `handler` (httpGet, grpc), or nullptr.
const Json* readiness_handler(const Json& model, const char* handler) {
  const auto rp = model.find("readinessProbe");
  if (rp == model.end() || !rp->is_object()) return nullptr;
  const auto h = rp->find(handler);
  return h != rp->end() && h->is_object() ? &*h : nullptr;
}

// The model's gRPC port: the annotation (a number, a name or "none"), else the first containerPort
// whose name says gRPC, else the port of its readinessProbe.grpc, else its args, else the port
// that Services with a gRPC appProtocol target.
std::optional<ModelTargetProblem> find_grpc_port(const Json& tpl, const Json& model,
                                                 const Json& service_target, ModelTarget& target) {
  auto set = [&target](int number, std::string name, const char* source) {
    target.grpc_port = number;
    target.grpc_port_name = std::move(name);
    target.grpc_port_source = source;
  };
  if (auto wanted = annotation_of(tpl, annotation::kGrpcPort)) {
    if (*wanted == annotation::kGrpcPortNone) return std::nullopt;
    auto choice = port_of_annotation(model, annotation::kGrpcPort, *wanted);
    if (auto* problem = std::get_if<ModelTargetProblem>(&choice)) return std::move(*problem);
    auto& [number, name] = std::get<PortChoice>(choice);
    set(number, std::move(name), "annotation");
    return std::nullopt;
  }
  if (const auto ports = model.find("ports"); ports != model.end() && ports->is_array()) {
    for (const auto& p : *ports) {
      if (!p.is_object()) continue;
      const std::string name = name_of_port(&p);
      const auto number = p.value("containerPort", Json());
      if (is_grpc_port_name(name) && number.is_number_integer()) {
        set(number.get<int>(), name, "containerPort name");
        return std::nullopt;
      }
    }
  }
  if (const Json* probe = readiness_handler(model, "grpc")) {
    if (const auto port = probe->value("port", Json()); port.is_number_integer()) {
      const int number = port.get<int>();
      set(number, name_of_port(find_port(model, nullptr, number)), "readinessProbe.grpc");
      return std::nullopt;
    }
  }
  if (const auto number = grpc_port_from_args(model)) {
    set(*number, name_of_port(find_port(model, nullptr, *number)), "args");
  } else if (service_target.is_number_integer()) {
    const int number = service_target.get<int>();
    set(number, name_of_port(find_port(model, nullptr, number)), "Service appProtocol");
  } else if (service_target.is_string()) {
    const std::string& name = service_target.get_ref<const std::string&>();
    if (const Json* p = find_port(model, &name, 0)) {
      set((*p)["containerPort"].get<int>(), name, "Service appProtocol");
    }
  }
  return std::nullopt;
}

// The first containerPort that serves HTTP: not the gRPC port, not a metrics port.
// nullptr when there is none; a problem when an entry has no numeric containerPort.
std::variant<const Json*, ModelTargetProblem> first_http_port(const Json& model,
                                                              const ModelTarget& target) {
  const auto ports = model.find("ports");
  if (ports == model.end() || !ports->is_array()) return nullptr;
  for (const auto& p : *ports) {
    if (!p.is_object() || !p.contains("containerPort") || !p["containerPort"].is_number_integer()) {
      return unusable("container \"" + target.container_name +
                      "\" has a port without a numeric containerPort");
    }
    if (p["containerPort"].get<int>() != target.grpc_port &&
        !is_metrics_port_name(name_of_port(&p))) {
      return &p;
    }
  }
  return nullptr;
}

// The model's HTTP port: the annotation, else its first HTTP containerPort, else its HTTP
// readiness probe's port, else its args, else the Services' port; a gRPC-only model's gRPC port.
std::optional<ModelTargetProblem> find_http_port(const Json& tpl, const Json& model,
                                                 int service_port, ModelTarget& target) {
  if (auto wanted = annotation_of(tpl, annotation::kModelPort)) {
    auto choice = port_of_annotation(model, annotation::kModelPort, *wanted);
    if (auto* problem = std::get_if<ModelTargetProblem>(&choice)) return std::move(*problem);
    target.port = std::get<PortChoice>(choice).number;
    target.port_name = std::move(std::get<PortChoice>(choice).name);
    target.port_source = "annotation";
    return std::nullopt;
  }
  auto first = first_http_port(model, target);
  if (auto* problem = std::get_if<ModelTargetProblem>(&first)) return std::move(*problem);
  const Json* probe_get = readiness_handler(model, "httpGet");
  if (const Json* port = std::get<const Json*>(first)) {
    target.port = (*port)["containerPort"].get<int>();
    target.port_name = name_of_port(port);
    target.port_source = "containerPort";
  } else if (probe_get && probe_get->contains("port")) {
    const Json& port = (*probe_get)["port"];
    target.port_source = "readinessProbe";
    if (port.is_number_integer()) {
      target.port = port.get<int>();
    } else if (port.is_string()) {
      if (auto number = port_number(port.get<std::string>())) {
        target.port = *number;
      } else {
        return unusable("readiness probe port \"" + port.get<std::string>() +
                        "\" names no port of container \"" + target.container_name + "\"");
      }
    }
  }
  if (target.port != 0) return std::nullopt;
  if (auto from_args = port_from_args(model)) {
    target.port = *from_args;
    target.port_source = "args";
  } else if (service_port > 0) {
    target.port = service_port;
    target.port_source = "Service";
  } else if (target.grpc_port != 0) {
    target.port = target.grpc_port;
    target.port_source = target.grpc_port_source;
  }
  // Found by number: its name, if it has one (the gRPC port's, when they are the same port).
  if (target.port == target.grpc_port) target.port_name = target.grpc_port_name;
  return std::nullopt;
}

// Images of servers that speak the Open Inference Protocol (V2) over gRPC, and so answer
// inference.GRPCInferenceService/ServerReady.
bool is_v2_server_image(std::string_view image) {
  image = image.substr(0, image.find('@'));
  const std::string_view repo = image.substr(image.rfind('/') + 1);  // with its tag
  return repo.starts_with("tritonserver") || repo.starts_with("mlserver") ||
         image.find("kserve/") != std::string_view::npos;
}

// Readiness: the HTTP probe's path; for a gRPC model, its readinessProbe.grpc (the health
// service), or V2 ServerReady for a gRPC-only V2 server that has no readiness probe at all.
void choose_readiness(const Json& model, std::string_view image, ModelTarget& target) {
  if (const Json* get = readiness_handler(model, "httpGet")) {
    if (auto path = get->find("path"); path != get->end() && path->is_string()) {
      target.ready_path = path->get<std::string>();
    }
  }
  if (target.grpc_port == 0) return;
  if (const Json* probe = readiness_handler(model, "grpc")) {
    target.ready_grpc = "health";
    const auto service = probe->value("service", Json());
    if (service.is_string()) target.ready_grpc_service = service.get<std::string>();
  } else if (target.grpc_only() && !model.contains("readinessProbe") && is_v2_server_image(image)) {
    target.ready_grpc = "v2";
  }
}

}  // namespace

std::string image_tag(std::string_view image) {
  std::string_view digest;
  if (const auto at = image.find('@'); at != std::string_view::npos) {
    digest = image.substr(at + 1);
    image = image.substr(0, at);
  }
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    return std::string(image.substr(colon + 1));
  }
  if (const auto c = digest.find(':'); c != std::string_view::npos && digest.size() > c + 1) {
    return std::string(digest.substr(c + 1, 12));
  }
  return "latest";
}

std::optional<int> port_from_flags(const Json& container,
                                   std::initializer_list<std::string_view> flags) {
  std::optional<int> found;
  bool ambiguous = false;
  visit_flag_values(container, flags, [&](std::string_view text) {
    const auto port = port_number(text);
    if (!port) return;
    if (found && *found != *port) ambiguous = true;
    found = port;
  });
  return ambiguous ? std::nullopt : found;
}

std::optional<int> port_from_args(const Json& container) {
  // TF Serving's REST port, and its --port is gRPC even when REST is off (--rest_api_port=0).
  if (names_flag(container, kRestApiPort)) return port_from_flags(container, {kRestApiPort});
  return port_from_flags(container, {"--port", "--http-port", "--http_port"});
}

std::optional<int> grpc_port_from_args(const Json& container) {
  if (auto grpc = port_from_flags(container, {"--grpc-port", "--grpc_port"})) return grpc;
  if (names_flag(container, kRestApiPort)) return port_from_flags(container, {"--port"});
  return std::nullopt;
}

bool is_metrics_port_name(std::string_view name) {
  return name.find("metrics") != std::string_view::npos;
}

bool is_grpc_port_name(std::string_view name) {
  return (name.starts_with("grpc") || name == "h2c") && !is_metrics_port_name(name);
}

std::variant<ModelTarget, ModelTargetProblem> find_model_target(const Json& tpl,
                                                                std::string_view workload,
                                                                const ServiceHints& services,
                                                                std::string_view workload_kind) {
  const Json* containers = nullptr;
  if (tpl.is_object() && tpl.contains("spec") && tpl["spec"].is_object()) {
    const auto c = tpl["spec"].find("containers");
    if (c != tpl["spec"].end()) containers = &*c;
  }
  if (!containers || !containers->is_array() || containers->empty()) {
    return unusable("pod template has no spec.containers");
  }
  for (const auto& c : *containers) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) {
      return unusable("every container needs a name");
    }
  }

  ModelTarget target;
  if (auto wanted = annotation_of(tpl, annotation::kModelContainer)) {
    bool found = false;
    for (std::size_t i = 0; i < containers->size(); ++i) {
      if ((*containers)[i]["name"] == *wanted) {
        target.container_index = i;
        found = true;
      }
    }
    if (!found) {
      return unusable(std::string(annotation::kModelContainer) + " names no container \"" +
                      *wanted + "\"");
    }
  }
  const Json& model = (*containers)[target.container_index];
  target.container_name = model["name"].get<std::string>();

  if (auto problem = find_grpc_port(tpl, model, services.grpc_target, target)) {
    return std::move(*problem);
  }
  if (auto problem = find_http_port(tpl, model, services.port, target)) {
    return std::move(*problem);
  }
  if (target.port == 0) {
    return ModelTargetProblem{ModelTargetProblem::Kind::not_serving,
                              "container \"" + target.container_name +
                                  "\" declares no port (no containerPort, probe or --port "
                                  "argument); set " +
                                  std::string(annotation::kModelPort)};
  }
  std::string image;
  if (auto i = model.find("image"); i != model.end() && i->is_string()) image = *i;
  choose_readiness(model, image, target);

  target.app = label_of(tpl, "app.kubernetes.io/name")
                   .value_or(label_of(tpl, "app")
                                 .value_or(workload.empty() ? target.container_name
                                                            : std::string(workload)));
  target.model = annotation_of(tpl, annotation::kModel).value_or(target.app);
  if (auto named = annotation_of(tpl, annotation::kModelVersion)) {
    target.version = std::move(*named);
  } else if (auto label = label_of(tpl, "app.kubernetes.io/version")) {
    target.version = std::move(*label);
  } else if (workload_kind == "Rollout" || label_of(tpl, annotation::kRolloutsHashLabel)) {
    target.version_label = annotation::kRolloutsHashLabel;
  } else {
    target.version = image_tag(image);
  }
  return target;
}

}  // namespace mlsidecar::inject
