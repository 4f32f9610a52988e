// LatencyWindow: a latency quantile over a sliding window, for the latency-SLO signal. Latencies go
// into log-spaced buckets (8 per doubling, from 100 us to about 55 min; about 9% wide, so a
// quantile is within ~4.5% of the exact one), one histogram per `granularity` in a ring covering
// the window; quantile() merges the ring. Memory is fixed: (window / granularity + 1) * 256 counts.
//
// Thread safety: none; AutoscaleSignals serializes access.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "policies/time_weighted_window.h"

namespace mlsidecar::policies {

class LatencyWindow {
 public:
  static constexpr std::size_t kBuckets = 256;
  using Counts = std::array<std::uint32_t, kBuckets>;

  static std::size_t bucket_of(double seconds);
  static double upper_bound(std::size_t bucket);

  LatencyWindow(Duration window, Duration granularity = std::chrono::seconds(1));
  // Adds a histogram of latencies that ended at about time `t`.
  void add(TimePoint t, const Counts& counts);
  // The q-quantile of the latencies added over (now - window, now]; 0 when there are none.
  double quantile(TimePoint now, double q) const;

 private:
  std::int64_t slot_of(TimePoint t) const;

  Duration granularity_;
  std::vector<Counts> ring_;
  std::vector<std::int64_t> ring_slot_;  // which granularity slot each ring entry holds
};

}  // namespace mlsidecar::policies
