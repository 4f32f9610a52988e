// Finding the model inside a pod template: which container serves it, on which HTTP and gRPC
// ports, with which readiness check, name and version. Annotations win over what is inferred from
// the container.
//
// Example, Triton's ports http 8000, grpc 8001 and metrics 8002: port 8000 (from containerPort),
// grpc_port 8001 (from containerPort name). TF Serving's args `--port=8500 --rest_api_port=8501`:
// port 8501 and grpc_port 8500 (both from args). A model with only a gRPC port is served on it:
// port == grpc_port (grpc_only()).
//
// Thread-safety: free function without shared state.
#pragma once

#include "sidecar/inject/yaml_bridge.h"

#include <initializer_list>
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
  // The model's gRPC port (0: none found, or the annotation said "none"), the name of its
  // containerPort entry, and how it was found: annotation, containerPort name,
  // readinessProbe.grpc, args, Service appProtocol.
  int grpc_port = 0;
  std::string grpc_port_name;
  std::string grpc_port_source;
  std::string ready_path;  // from the model's HTTP readiness probe; empty if none
  // The sidecar's --ready-grpc: "health" for a model with a readinessProbe.grpc (asking about
  // ready_grpc_service, the probe's `service`), "v2" for a gRPC-only V2 server without a probe
  // (Triton, KServe, MLServer images); empty: --ready-path or a TCP connect, as for HTTP.
  std::string ready_grpc;
  std::string ready_grpc_service;
  // The workload's app name, which monitoring groups by: the label app.kubernetes.io/name, else
  // the label app, else the owning workload's name, else the container name.
  std::string app;
  // Annotation, else `app`.
  std::string model;
  // Annotation, else the label app.kubernetes.io/version, else (an Argo Rollout's template, or a
  // pod with the label rollouts-pod-template-hash) the value of that label at run time (see
  // version_label), else the image tag, else the first 12 hex digits of the image's digest, else
  // "latest".
  std::string version;
  // Non-empty: the version is the value of this pod label, which only exists once the pod does,
  // so the sidecar reads it through the downward API (MLSIDECAR_MODEL_VERSION) and `version` is
  // empty. Argo Rollouts' rollouts-pod-template-hash: every revision of a Rollout gets its own
  // version, the same string Argo passes to an AnalysisTemplate as podTemplateHashValue, while
  // an image tag may stay the same across revisions (a new model file, new flags).
  std::string version_label;

  // The model serves only gRPC: its one port is both `port` and `grpc_port`.
  bool grpc_only() const { return grpc_port != 0 && grpc_port == port; }
  // The model has a gRPC port beside its HTTP port, which capture handles as a second port.
  bool separate_grpc_port() const { return grpc_port != 0 && grpc_port != port; }
};

// What the Services of the same input say about a pod (the command line only; the webhook sees no
// Services).
struct ServiceHints {
  // The numeric targetPort they send to (service_target_port()); 0 when unknown.
  int port = 0;
  // The targetPort, a number or a port name, of their ports whose appProtocol says HTTP/2
  // cleartext or gRPC (service_grpc_target()); null when none or ambiguous.
  Json grpc_target;
};

// Why a model was not found. `unusable` means the template or an annotation is wrong (an error
// for the command line); `not_serving` means there is nothing to put a proxy in front of (a skip).
struct ModelTargetProblem {
  enum class Kind { unusable, not_serving } kind;
  std::string message;
};

// `workload`: the owning workload's name (workload_name()), the model's name when no annotation
// or label gives one; "" leaves the container's name as the last resort.
// `services`: what Services of the same input say: the last hint for the HTTP port of a container
// that declares none, and for the gRPC port.
// `workload_kind`: the kind of the object the template belongs to ("Rollout": an Argo Rollout,
// whose pods will carry rollouts-pod-template-hash); empty when unknown or a Pod.
std::variant<ModelTarget, ModelTargetProblem> find_model_target(
    const Json& pod_template, std::string_view workload = {}, const ServiceHints& services = {},
    std::string_view workload_kind = {});

// The version an image reference names: its tag ("repo:5000/x/y:1.2@sha256:..." -> "1.2"), else
// the first 12 hex digits of its digest ("x@sha256:0123456789abcdef..." -> "0123456789ab"), else
// "latest".
std::string image_tag(std::string_view image);

// The port that one of `flags` names in a container's args or command, as `--flag N` or
// `--flag=N`; nullopt when none or when they disagree.
std::optional<int> port_from_flags(const Json& container,
                                   std::initializer_list<std::string_view> flags);

// The HTTP port a container's command line serves on: `--port`, `--http-port` or `--http_port`
// (KServe), as for port_from_flags; TF Serving's `--rest_api_port` when given, since its `--port`
// is then the gRPC port.
std::optional<int> port_from_args(const Json& container);

// The gRPC port a container's command line serves on: `--grpc-port` (Triton) or `--grpc_port`
// (KServe), else TF Serving's `--port` when `--rest_api_port` is given too.
std::optional<int> grpc_port_from_args(const Json& container);

// A containerPort name that says metrics, never a serving port: `metrics` (Triton's 8002) or a
// name with `metrics` in it (`http-metrics`).
bool is_metrics_port_name(std::string_view name);

// A containerPort name that says gRPC: `grpc` or starting with it (`grpc-port`), or `h2c`
// (Knative's and KServe's name for HTTP/2 cleartext).
bool is_grpc_port_name(std::string_view name);

}  // namespace mlsidecar::inject
