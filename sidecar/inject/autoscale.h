// What `mlsidecar autoscale` makes of one workload: a KEDA ScaledObject or an autoscaling/v2 HPA
// (served by prometheus-adapter with the rules in manifests/overlays/hpa-adapter) on the signals
// mlsidecar publishes, whose PromQL selects exactly that workload's series. The series carry the
// labels the shipped PodMonitor gives them: job="mlsidecar", namespace, and app (see
// autoscale_app()). Pure: JSON in, JSON out, no I/O.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/inject/yaml_bridge.h"

namespace mlsidecar::inject {

struct AutoscaleOptions {
  std::string via;                    // "keda" or "hpa-adapter"
  std::string signal = "load-ratio";  // "load-ratio" or "output-tokens"
  std::uint64_t min_replicas = 1;
  std::uint64_t max_replicas = 10;
  // Per replica: the load ratio (1 = every pod at its own target) or output tokens/s. 0: the
  // default (1 for the load ratio; the workload's mlsidecar.io/target-output-tokens-per-second
  // annotation for tokens).
  double target = 0;
  std::string ns;  // for workloads whose metadata names no namespace
  std::string prometheus = "http://prometheus-operated.monitoring.svc:9090";  // KEDA only
  std::vector<std::string> files;
};

struct AutoscaleResult {
  std::optional<Json> object;  // nothing for a skipped or failed workload
  bool failed = false;         // the workload cannot be autoscaled as asked (exit code 1)
  std::string report;          // one line: what was made, or why not
};

// The kinds with a scale subresource that a model runs as: Deployment, StatefulSet, ReplicaSet.
bool is_scalable(const Json& object);

// The `app` label the PodMonitor's relabeling gives the workload's series: the pod template's
// mlsidecar.io/app annotation (written by injection), else its app.kubernetes.io/name label, else
// its app label, else the workload's name, which is what injection would write.
std::string autoscale_app(const Json& workload);

// The autoscaler for one scalable workload.
AutoscaleResult make_autoscaler(const Json& workload, const AutoscaleOptions& options);

}  // namespace mlsidecar::inject
