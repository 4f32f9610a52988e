// Injection settings: the defaults a platform team chooses once (image, ports, resources, timing),
// which per-pod annotations may override. One typed struct whose flags (settings_flags()) are
// shared by `mlsidecar inject` and `mlsidecar webhook`; the injection core only reads it.
//
// Thread-safety: a plain value; share it read-only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::inject {

struct InjectionSettings {
  std::string image = "mlsidecar:0.1.0";
  std::string image_pull_policy = "IfNotPresent";
  std::string container_name = "mlsidecar";
  bool native = true;     // init container with restartPolicy: Always
  int data_port = 8080;   // preferred; moved up to the next free port on collision
  int admin_port = 9090;  // preferred; likewise
  std::string cpu_request = "100m";
  std::string memory_request = "64Mi";
  std::string cpu_limit = "1";
  std::string memory_limit = "256Mi";
  std::chrono::milliseconds drain{5000};              // the sidecar's --drain-seconds
  std::chrono::milliseconds shutdown_timeout{30000};  // the sidecar's --shutdown-timeout
  // preStop sleep added to the model container so it outlives endpoint removal; 0 adds nothing.
  // Whole seconds: Kubernetes' sleep action counts seconds.
  std::chrono::seconds model_prestop_sleep{5};
  int run_as_user = 65532;
  // How clients' traffic to the model's port reaches the sidecar (kCaptureModes): redirect (an
  // init container with NET_ADMIN installs an inbound nat redirect), port-name (the sidecar takes
  // over the name of the model's port; no privileges), service (Services in the same input are
  // repointed; the command line only).
  std::string capture = "redirect";
};

inline const std::vector<std::string>& capture_modes() {
  static const std::vector<std::string> modes = {"redirect", "port-name", "service"};
  return modes;
}

// The settings' flags (--image, --native, --drain-seconds, ...), each also read from
// MLSIDECAR_<FLAG>.
const std::vector<cli::Flag<InjectionSettings>>& settings_flags();

// The time Kubernetes must allow the pod to stop: the model's preStop sleep, the sidecar's drain
// and its shutdown timeout, in whole seconds rounded up.
int needed_grace_seconds(const InjectionSettings& settings);

// A duration as the sidecar's argument: plain seconds when whole ("5", as injection always wrote
// it, so that re-injecting an older manifest changes nothing), else milliseconds ("500ms").
std::string duration_argument(std::chrono::milliseconds d);

}  // namespace mlsidecar::inject
