// Finding the model inside a pod template: which container serves it, on which port, under which
// readiness path, name and version. Annotations win over what is inferred from the container.
//
// Thread-safety: free function without shared state.
#pragma once

#include "sidecar/inject/yaml_bridge.h"

#include <optional>
#include <string>
#include <variant>

namespace mlsidecar::inject {

struct ModelTarget {
  std::size_t container_index = 0;  // in spec.containers
  std::string container_name;
  int port = 0;
  std::string port_name;   // name of the model's containerPort entry, if it has one
  std::string ready_path;  // from the model's HTTP readiness probe; empty if none
  std::string model;       // annotation, else the container name
  std::string version;     // annotation, else the image tag ("latest" when none)
};

// Why a model was not found. `unusable` means the template or an annotation is wrong (an error
// for the command line); `not_serving` means there is nothing to put a proxy in front of (a skip).
struct ModelTargetProblem {
  enum class Kind { unusable, not_serving } kind;
  std::string message;
};

std::variant<ModelTarget, ModelTargetProblem> find_model_target(const Json& pod_template);

// The tag of an image reference ("repo:5000/x/y:1.2@sha256:..." -> "1.2"), "latest" if none.
std::string image_tag(std::string_view image);

}  // namespace mlsidecar::inject
