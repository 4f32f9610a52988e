#include "policies/latency_window.h"

#include <algorithm>
#include <cmath>

namespace mlsidecar::policies {
namespace {
constexpr double kMin = 1e-4;       // upper bound of bucket 0
constexpr double kPerDoubling = 8;  // buckets per factor of two
}  // namespace

std::size_t LatencyWindow::bucket_of(double seconds) {
  if (!(seconds > kMin)) return 0;
  const double b = std::ceil(std::log2(seconds / kMin) * kPerDoubling);
  return static_cast<std::size_t>(std::min<double>(b, kBuckets - 1));
}

double LatencyWindow::upper_bound(std::size_t bucket) {
  return kMin * std::exp2(static_cast<double>(bucket) / kPerDoubling);
}

LatencyWindow::LatencyWindow(Duration window, Duration granularity) : granularity_(granularity) {
  const auto n =
      static_cast<std::size_t>((window.count() + granularity.count() - 1) / granularity.count());
  ring_.assign(n, Counts{});
  ring_slot_.assign(n, INT64_MIN);
}

std::int64_t LatencyWindow::slot_of(TimePoint t) const {
  const auto ns = t.time_since_epoch().count();
  const auto g = granularity_.count();
  return ns >= 0 ? ns / g : -((-ns + g - 1) / g);
}

void LatencyWindow::add(TimePoint t, const Counts& counts) {
  const std::int64_t slot = slot_of(t);
  const auto n = static_cast<std::int64_t>(ring_.size());
  const auto i = static_cast<std::size_t>(((slot % n) + n) % n);
  if (ring_slot_[i] != slot) {
    ring_[i].fill(0);
    ring_slot_[i] = slot;
  }
  for (std::size_t b = 0; b < kBuckets; ++b) ring_[i][b] += counts[b];
}

double LatencyWindow::quantile(TimePoint now, double q) const {
  const std::int64_t newest = slot_of(now);
  const auto n = static_cast<std::int64_t>(ring_.size());
  Counts merged{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    if (ring_slot_[i] > newest - n && ring_slot_[i] <= newest) {
      for (std::size_t b = 0; b < kBuckets; ++b) merged[b] += ring_[i][b];
    }
  }
  for (auto c : merged) total += c;
  if (total == 0) return 0.0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  double seen = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    if (merged[b] == 0) continue;
    if (seen + merged[b] >= rank) {
      // Geometric interpolation inside the bucket.
      const double hi = upper_bound(b);
      const double lo = b == 0 ? hi / 2 : upper_bound(b - 1);
      const double f = (rank - seen) / merged[b];
      return lo * std::pow(hi / lo, f);
    }
    seen += merged[b];
  }
  return upper_bound(kBuckets - 1);
}

}  // namespace mlsidecar::policies
