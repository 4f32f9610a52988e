// A histogram with fixed bucket bounds that exactly one thread writes and any thread reads: the
// per-thread shard behind every hot-path latency and size histogram. Observing is a short scan of
// the bounds and three relaxed stores (no read-modify-write, no lock); a scrape merges the shards.
#pragma once

#include <prometheus/client_metric.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

namespace mlsidecar::metrics {

// Upper bounds of the finite buckets, ascending; +Inf is implicit.
class BucketBounds {
 public:
  static constexpr std::size_t kMax = 24;
  BucketBounds(std::initializer_list<double> bounds);
  std::size_t size() const { return size_; }
  double operator[](std::size_t i) const { return upper_[i]; }
  // Index of the bucket that counts `value`; size() for +Inf.
  std::size_t bucket_of(double value) const {
    std::size_t i = 0;
    while (i < size_ && value > upper_[i]) ++i;
    return i;
  }

 private:
  std::array<double, kMax> upper_{};
  std::size_t size_ = 0;
};

// Latency buckets for inference: 1 ms to 5 minutes.
const BucketBounds& latency_buckets();
// Size buckets: 128 B to 64 MiB.
const BucketBounds& size_buckets();

class ShardHistogram {
 public:
  // Only the owning thread calls observe().
  void observe(double value, const BucketBounds& bounds) {
    bump(counts_[bounds.bucket_of(value)], 1);
    sum_.store(sum_.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
  }
  std::uint64_t count() const;
  // Adds this shard into a (cumulative) Prometheus histogram sized for `bounds`.
  void add_to(prometheus::ClientMetric::Histogram& out, const BucketBounds& bounds) const;

 private:
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::array<std::atomic<std::uint64_t>, BucketBounds::kMax + 1> counts_{};
  std::atomic<double> sum_{0};
};

// An empty cumulative histogram with the buckets of `bounds`, ready for add_to().
prometheus::ClientMetric::Histogram empty_histogram(const BucketBounds& bounds);

}  // namespace mlsidecar::metrics
