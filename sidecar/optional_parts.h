// The parts of `serve` that are switched on by configuration: the drift engine (--drift-profile),
// admission control (--container-concurrency), the autoscaling signals and the LLM stream metrics.
// Built once at start-up; each part registers its metric families and, when it hooks the request
// path, publishes itself in SidecarState before the I/O threads start.
#pragma once

#include <prometheus/collectable.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/config.h"
#include "sidecar/state.h"

namespace mlsidecar {

class OptionalParts {
 public:
  // Throws ConfigError for a bad drift profile.
  OptionalParts(const Config& config, SidecarState& state,
                std::vector<std::shared_ptr<prometheus::Collectable>>& collectables);
  ~OptionalParts();
  void start();
  void stop();
  // The /drift document, or an empty function when drift is off.
  std::function<std::string()> drift_json() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlsidecar
