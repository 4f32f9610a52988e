// The container spec of the injected sidecar, built from resolved values. Port names are fixed so
// that Services, PodMonitors and probes can refer to them.
//
// Thread-safety: free functions without shared state.
#pragma once

#include "sidecar/inject/model_target.h"
#include "sidecar/inject/settings.h"
#include "sidecar/inject/yaml_bridge.h"

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mlsidecar::inject {

inline constexpr std::string_view kDataPortName = "mlsidecar-http";
inline constexpr std::string_view kAdminPortName = "mlsidecar-admin";
// The capture init container, and the name the model's port takes in port-name mode.
inline constexpr std::string_view kCaptureContainerName = "mlsidecar-capture";
inline constexpr std::string_view kModelPortName = "mlsidecar-model";
// The name the model's gRPC port takes in port-name mode (a port name has at most 15 characters).
inline constexpr std::string_view kModelGrpcPortName = "mlsidecar-mgrpc";
inline constexpr std::string_view kDriftVolumeName = "mlsidecar-drift-profile";
inline constexpr std::string_view kDriftMountPath = "/etc/mlsidecar/drift";

// Everything about one sidecar that depends on the pod; the rest comes from InjectionSettings.
struct SidecarPlan {
  ModelTarget model;
  bool native = true;
  int data_port = 0;
  int admin_port = 0;
  std::string image;
  // serve flags set by annotation (per_pod_flags order): name without dashes, value as given.
  std::vector<std::pair<std::string, std::string>> serve_flags;
  std::string merge_metrics;                  // the model's own metrics URL for --merge-metrics
  std::string capture = "redirect";           // InjectionSettings::capture, or the annotation
  std::string data_port_name{kDataPortName};  // the model port's name in port-name mode
  // port-name mode with a named gRPC port beside the HTTP one: the sidecar's second data port
  // (--grpc-listen), which takes the gRPC port's name; 0: none.
  int grpc_listen_port = 0;
  // The gRPC flags injection infers (--grpc-upstream, --grpc-listen, --ready-grpc,
  // --ready-grpc-service), less those an annotation sets: name without dashes, value.
  std::vector<std::pair<std::string, std::string>> grpc_flags;
  std::string drift_config_map;  // empty: no drift profile
  std::string drift_key = "profile.json";
  std::string cpu_request, cpu_limit, memory_request, memory_limit;
};

// The first port at or above `preferred` that is not in `used` (and wraps below 65536); 0 if none.
int first_free_port(int preferred, const std::set<int>& used);

// Every containerPort (and hostPort) declared by the pod's containers and init containers.
std::set<int> ports_in_use(const Json& pod_spec);

Json build_sidecar_container(const SidecarPlan& plan, const InjectionSettings& settings);

// The init container of the redirect mode: `mlsidecar capture-init` with NET_ADMIN and NET_RAW,
// nothing else; it runs before the sidecar and the model and exits.
Json build_capture_container(const SidecarPlan& plan, const InjectionSettings& settings);

}  // namespace mlsidecar::inject
