// The standard process_* families (resident memory, CPU time, open descriptors, start time),
// read from /proc/self when scraped, so that soak tests and dashboards see the sidecar's own cost.
// With a prefix (mlsidecar_ when the model's own metrics are merged into the same scrape, whose
// process_* are the model's) every family name starts with it.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace mlsidecar::metrics {

class ProcessMetrics : public prometheus::Collectable {
 public:
  explicit ProcessMetrics(std::string prefix = "");
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string prefix_;
  double start_time_seconds_;
};

// Resident set size of this process in bytes (0 if unknown).
double resident_memory_bytes();

}  // namespace mlsidecar::metrics
