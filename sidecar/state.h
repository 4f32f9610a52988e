// What every I/O thread and the admin thread share: the configuration, the metric registries and
// the few process-wide flags. Read-mostly: the hot path only loads the flags (relaxed) and writes
// its own thread's metric shard.
#pragma once

#include <atomic>
#include <cstddef>

#include "metrics/request_metrics.h"
#include "sidecar/config.h"

namespace mlsidecar {

namespace drift {
class DriftEngine;
}
namespace llm {
class LlmMetrics;
}
namespace policies {
class AdmissionController;
class AutoscaleSignals;
}  // namespace policies

struct SidecarState {
  SidecarState(const Config& c, metrics::RequestMetrics& m) : config(c), metrics(m) {}

  const Config& config;
  metrics::RequestMetrics& metrics;
  // Optional parts, null when off; set before the I/O threads start, never changed after.
  drift::DriftEngine* drift = nullptr;
  llm::LlmMetrics* llm = nullptr;
  policies::AdmissionController* admission = nullptr;
  policies::AutoscaleSignals* signals = nullptr;

  std::atomic<bool> draining{false};      // SIGTERM seen: not ready, close keep-alive connections
  std::atomic<bool> stopping{false};      // listeners closed: finish what is in flight
  std::atomic<bool> model_ready{false};   // last readiness probe of the model succeeded
  std::atomic<std::size_t> connections{0};  // open client connections (per connection, not request)
};

}  // namespace mlsidecar
