#include "metrics/shard_histogram.h"

#include <limits>
#include <stdexcept>

namespace mlsidecar::metrics {

BucketBounds::BucketBounds(std::initializer_list<double> bounds) {
  if (bounds.size() > kMax) throw std::invalid_argument("too many histogram buckets");
  for (double b : bounds) {
    if (size_ > 0 && b <= upper_[size_ - 1]) throw std::invalid_argument("bounds must ascend");
    upper_[size_++] = b;
  }
}

const BucketBounds& latency_buckets() {
  static const BucketBounds b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                              1,     2.5,    5,     10,   30,    60,   120, 300};
  return b;
}

const BucketBounds& size_buckets() {
  static const BucketBounds b{128,    512,     1024,    4096,     16384,   65536,
                              262144, 1048576, 4194304, 16777216, 67108864};
  return b;
}

std::uint64_t ShardHistogram::count() const {
  std::uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

prometheus::ClientMetric::Histogram empty_histogram(const BucketBounds& bounds) {
  prometheus::ClientMetric::Histogram h;
  h.bucket.resize(bounds.size() + 1);
  for (std::size_t i = 0; i < bounds.size(); ++i) h.bucket[i].upper_bound = bounds[i];
  h.bucket.back().upper_bound = std::numeric_limits<double>::infinity();
  return h;
}

void ShardHistogram::add_to(prometheus::ClientMetric::Histogram& out,
                            const BucketBounds& bounds) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out.bucket[i].cumulative_count += cumulative;
  }
  out.sample_count += cumulative;
  out.sample_sum += sum_.load(std::memory_order_relaxed);
}

}  // namespace mlsidecar::metrics
