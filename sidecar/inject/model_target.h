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
  std::string port_name;  // name of the model's containerPort entry, if it has one
  // How the port was found: annotation, containerPort, readinessProbe, args, Service.
  std::string port_source;
  std::string ready_path;  // from the model's HTTP readiness probe; empty if none
  // The workload's app name, which monitoring groups by: the label app.kubernetes.io/name, else
  // the label app, else the owning workload's name, else the container name.
  std::string app;
  // Annotation, else `app`.
  std::string model;
  // Annotation, else the label app.kubernetes.io/version, else the image tag, else the first 12
  // hex digits of the image's digest, else "latest".
  std::string version;
};

// Why a model was not found. `unusable` means the template or an annotation is wrong (an error
// for the command line); `not_serving` means there is nothing to put a proxy in front of (a skip).
struct ModelTargetProblem {
  enum class Kind { unusable, not_serving } kind;
  std::string message;
};

// `workload`: the owning workload's name (workload_name()), the model's name when no annotation
// or label gives one; "" leaves the container's name as the last resort.
// `service_port`: the port a Service of the same input sends to (service_target_port()), the last
// hint for a container that declares no port; 0 when none is known.
std::variant<ModelTarget, ModelTargetProblem> find_model_target(const Json& pod_template,
                                                                std::string_view workload = {},
                                                                int service_port = 0);

// The version an image reference names: its tag ("repo:5000/x/y:1.2@sha256:..." -> "1.2"), else
// the first 12 hex digits of its digest ("x@sha256:0123456789abcdef..." -> "0123456789ab"), else
// "latest".
std::string image_tag(std::string_view image);

// The port a container's command line serves on: `--port N`, `--port=N`, `--http-port N` or
// `--http-port=N` in its args or command; nullopt when none or when they disagree.
std::optional<int> port_from_args(const Json& container);

}  // namespace mlsidecar::inject
