// The injection core: pod template in, mutated pod template and a report out. No I/O; both the
// command line (`mlsidecar inject`) and the admission webhook call it, so both produce the same
// pod.
//
// A pod template is an object with `metadata` and `spec` (a Pod, or the `template` of a workload).
// inject() is idempotent (an injected template comes back unchanged, reported as skipped) and
// uninject() undoes it exactly, using the record kept in the `mlsidecar.io/status` annotation.
//
// Thread-safety: free functions without shared state.
#pragma once

#include "sidecar/inject/model_target.h"
#include "sidecar/inject/settings.h"
#include "sidecar/inject/yaml_bridge.h"

#include <string>
#include <vector>

namespace mlsidecar::inject {

enum class Outcome {
  injected,    // the sidecar was added
  uninjected,  // the sidecar was removed
  skipped,     // left unchanged on purpose; `reason` says why
  failed,      // the template or its annotations are unusable; `reason` says what is wrong
};
std::string_view outcome_name(Outcome outcome);

struct Report {
  Outcome outcome = Outcome::skipped;
  std::string reason;  // for skipped and failed; a summary for injected
  // Set when injected (used to repoint Services at the sidecar).
  std::string model_container;
  int model_port = 0;
  std::string model_port_name;
  int grpc_port = 0;  // the model's gRPC port; 0: none (for a gRPC-only model, model_port too)
  std::string grpc_port_name;
  int data_port = 0;
  int admin_port = 0;
  bool native = true;
  std::string capture;                // how traffic reaches the sidecar (settings.h)
  std::vector<std::string> warnings;  // injected, but something the user should know
};

struct InjectionResult {
  Json pod_template;  // the input, unchanged unless outcome is injected/uninjected
  Report report;
};

// `workload`: the name of the workload the pod template belongs to (workload_name()), for the
// model's name when neither an annotation nor a label gives one.
// `services`: what Services of the same input say about the pod's ports (the command line only).
// `workload_kind`: the kind of the object the template belongs to (find_model_target()).
InjectionResult inject(const Json& pod_template, const InjectionSettings& settings,
                       std::string_view workload = {}, const ServiceHints& services = {},
                       std::string_view workload_kind = {});
InjectionResult uninject(const Json& pod_template);

}  // namespace mlsidecar::inject
