// The standard process_* families (resident memory, CPU time, open descriptors, start time),
// read from /proc/self when scraped, so that soak tests and dashboards see the sidecar's own cost.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace mlsidecar::metrics {

class ProcessMetrics : public prometheus::Collectable {
 public:
  ProcessMetrics();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_;
};

// Resident set size of this process in bytes (0 if unknown).
double resident_memory_bytes();

}  // namespace mlsidecar::metrics
