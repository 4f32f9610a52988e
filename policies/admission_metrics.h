// AdmissionMetrics: the metric table of the admission controller, declared once:
//   mlsidecar_queued_requests                     gauge, requests waiting in the admission queue
//   mlsidecar_shed_requests_total{reason}         counter, reason =
//   queue_full|queue_timeout|draining mlsidecar_queue_wait_seconds                  histogram, time
//   a queued request waited before it
//                                                 was granted a slot (requests admitted at once are
//                                                 not observed: the fast path stays one atomic op)
//
// Thread safety: record_shed() and observe_queue_wait() may be called from any thread (relaxed
// atomics); collect() from any thread, concurrently with them.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace mlsidecar::policies {

enum class ShedReason { queue_full, queue_timeout, draining };
inline constexpr std::size_t kShedReasonCount = 3;
std::string_view shed_reason_name(ShedReason reason);

class AdmissionMetrics {
 public:
  static constexpr std::array<double, 13> kQueueWaitBounds{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0};

  void record_shed(ShedReason reason) {
    shed_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
  void observe_queue_wait(double seconds);

  std::uint64_t shed(ShedReason reason) const {
    return shed_[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
  }
  std::uint64_t queue_wait_count() const { return wait_count_.load(std::memory_order_relaxed); }

  // The three families, with `queued` as the gauge's value.
  std::vector<prometheus::MetricFamily> collect(std::size_t queued) const;

 private:
  std::array<std::atomic<std::uint64_t>, kShedReasonCount> shed_{};
  std::array<std::atomic<std::uint64_t>, kQueueWaitBounds.size() + 1>
      wait_buckets_{};  // last: +Inf
  std::atomic<std::uint64_t> wait_count_{0};
  std::atomic<std::uint64_t> wait_sum_ns_{0};
};

}  // namespace mlsidecar::policies
