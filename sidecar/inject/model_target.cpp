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

std::string name_of_port(const Json* port) {
  if (!port) return {};
  auto n = port->find("name");
  return (n != port->end() && n->is_string()) ? n->get<std::string>() : std::string();
}

ModelTargetProblem unusable(std::string message) {
  return {ModelTargetProblem::Kind::unusable, std::move(message)};
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

std::optional<int> port_from_args(const Json& container) {
  std::optional<int> found;
  bool ambiguous = false;
  for (const char* list : {"command", "args"}) {
    const auto words = container.find(list);
    if (words == container.end() || !words->is_array()) continue;
    for (std::size_t i = 0; i < words->size(); ++i) {
      const Json& w = (*words)[i];
      if (!w.is_string()) continue;
      const std::string& word = w.get_ref<const std::string&>();
      std::optional<int> port;
      for (std::string_view flag : {"--port", "--http-port"}) {
        if (word == flag && i + 1 < words->size() && (*words)[i + 1].is_string()) {
          port = port_number((*words)[i + 1].get<std::string>());
        } else if (word.size() > flag.size() && word.compare(0, flag.size(), flag) == 0 &&
                   word[flag.size()] == '=') {
          port = port_number(std::string_view(word).substr(flag.size() + 1));
        }
      }
      if (!port) continue;
      if (found && *found != *port) ambiguous = true;
      found = port;
    }
  }
  return ambiguous ? std::nullopt : found;
}

std::variant<ModelTarget, ModelTargetProblem> find_model_target(const Json& tpl,
                                                                std::string_view workload,
                                                                int service_port) {
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

  const Json* probe_get = nullptr;
  if (auto rp = model.find("readinessProbe"); rp != model.end() && rp->is_object()) {
    if (auto hg = rp->find("httpGet"); hg != rp->end() && hg->is_object()) probe_get = &*hg;
  }
  if (probe_get) {
    if (auto path = probe_get->find("path"); path != probe_get->end() && path->is_string()) {
      target.ready_path = path->get<std::string>();
    }
  }

  if (auto wanted = annotation_of(tpl, annotation::kModelPort)) {
    target.port_source = "annotation";
    if (auto number = port_number(*wanted)) {
      target.port = *number;
      target.port_name = name_of_port(find_port(model, nullptr, *number));
    } else if (const Json* p = find_port(model, &*wanted, 0)) {
      target.port = (*p)["containerPort"].get<int>();
      target.port_name = *wanted;
    } else {
      return unusable(std::string(annotation::kModelPort) + " \"" + *wanted +
                      "\" is neither a port number nor a port name of container \"" +
                      target.container_name + "\"");
    }
  } else if (auto ports = model.find("ports");
             ports != model.end() && ports->is_array() && !ports->empty()) {
    const Json& first = (*ports)[0];
    if (!first.is_object() || !first.contains("containerPort") ||
        !first["containerPort"].is_number_integer()) {
      return unusable("container \"" + target.container_name +
                      "\" has a port without a numeric "
                      "containerPort");
    }
    target.port = first["containerPort"].get<int>();
    target.port_name = name_of_port(&first);
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
  if (target.port == 0) {
    if (auto from_args = port_from_args(model)) {
      target.port = *from_args;
      target.port_source = "args";
    } else if (service_port > 0) {
      target.port = service_port;
      target.port_source = "Service";
    }
  }
  if (target.port == 0) {
    return ModelTargetProblem{ModelTargetProblem::Kind::not_serving,
                              "container \"" + target.container_name +
                                  "\" declares no port (no containerPort, probe or --port "
                                  "argument); set " +
                                  std::string(annotation::kModelPort)};
  }

  target.app = label_of(tpl, "app.kubernetes.io/name")
                   .value_or(label_of(tpl, "app")
                                 .value_or(workload.empty() ? target.container_name
                                                            : std::string(workload)));
  target.model = annotation_of(tpl, annotation::kModel).value_or(target.app);
  std::string image;
  if (auto i = model.find("image"); i != model.end() && i->is_string()) image = *i;
  target.version =
      annotation_of(tpl, annotation::kModelVersion)
          .value_or(label_of(tpl, "app.kubernetes.io/version").value_or(image_tag(image)));
  return target;
}

}  // namespace mlsidecar::inject
