#include "policies/admission_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlsidecar::policies {

std::string_view shed_reason_name(ShedReason reason) {
  switch (reason) {
    case ShedReason::queue_full:
      return "queue_full";
    case ShedReason::queue_timeout:
      return "queue_timeout";
    case ShedReason::draining:
      return "draining";
  }
  return "unknown";
}

void AdmissionMetrics::observe_queue_wait(double seconds) {
  seconds = std::max(seconds, 0.0);
  const auto it = std::lower_bound(kQueueWaitBounds.begin(), kQueueWaitBounds.end(), seconds);
  wait_buckets_[static_cast<std::size_t>(it - kQueueWaitBounds.begin())].fetch_add(
      1, std::memory_order_relaxed);
  wait_sum_ns_.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e9)),
                         std::memory_order_relaxed);
  wait_count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<prometheus::MetricFamily> AdmissionMetrics::collect(std::size_t queued) const {
  std::vector<prometheus::MetricFamily> out(3);

  out[0].name = "mlsidecar_queued_requests";
  out[0].help = "Requests waiting in the sidecar's admission queue for a free slot";
  out[0].type = prometheus::MetricType::Gauge;
  out[0].metric.resize(1);
  out[0].metric[0].gauge.value = static_cast<double>(queued);

  out[1].name = "mlsidecar_shed_requests_total";
  out[1].help = "Requests answered 503 by the sidecar without reaching the model, by reason";
  out[1].type = prometheus::MetricType::Counter;
  for (std::size_t i = 0; i < kShedReasonCount; ++i) {
    prometheus::ClientMetric m;
    m.label.push_back({"reason", std::string(shed_reason_name(static_cast<ShedReason>(i)))});
    m.counter.value = static_cast<double>(shed_[i].load(std::memory_order_relaxed));
    out[1].metric.push_back(std::move(m));
  }

  out[2].name = "mlsidecar_queue_wait_seconds";
  out[2].help = "Time a queued request waited in the admission queue before reaching the model";
  out[2].type = prometheus::MetricType::Histogram;
  prometheus::ClientMetric h;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kQueueWaitBounds.size(); ++i) {
    cumulative += wait_buckets_[i].load(std::memory_order_relaxed);
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound =
        i < kQueueWaitBounds.size() ? kQueueWaitBounds[i] : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back(b);
  }
  // The count is the +Inf bucket, so that count and buckets agree within one scrape.
  h.histogram.sample_count = cumulative;
  h.histogram.sample_sum = static_cast<double>(wait_sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  out[2].metric.push_back(std::move(h));
  return out;
}

}  // namespace mlsidecar::policies
