#include "policies/time_weighted_window.h"

#include <algorithm>
#include <stdexcept>

namespace mlsidecar::policies {
namespace {
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

TimeWeightedWindow::TimeWeightedWindow(Duration max_window, Duration granularity)
    : max_window_(max_window), granularity_(granularity) {
  if (granularity_.count() <= 0 || max_window_ < granularity_) {
    throw std::invalid_argument("window must be at least one granularity long");
  }
  const auto buckets = (max_window_.count() + granularity_.count() - 1) / granularity_.count();
  ring_.assign(static_cast<std::size_t>(buckets + 1), 0.0);
}

std::int64_t TimeWeightedWindow::bucket_of(TimePoint t) const {
  return floor_div(t.time_since_epoch().count(),
                   std::chrono::duration_cast<TimePoint::duration>(granularity_).count());
}

void TimeWeightedWindow::observe(TimePoint t) {
  if (!first_) {
    first_ = t;
    head_ = bucket_of(t);
  }
}

void TimeWeightedWindow::add_to_bucket(std::int64_t bucket, double amount) {
  const auto size = static_cast<std::int64_t>(ring_.size());
  if (bucket > head_) {
    if (bucket - head_ >= size) {
      std::fill(ring_.begin(), ring_.end(), 0.0);
    } else {
      for (std::int64_t b = head_ + 1; b <= bucket; ++b)
        ring_[static_cast<std::size_t>(b % size)] = 0.0;
    }
    head_ = bucket;
  } else if (bucket <= head_ - size) {
    return;  // older than the ring: outside every window
  }
  ring_[static_cast<std::size_t>(((bucket % size) + size) % size)] += amount;
}

void TimeWeightedWindow::add(TimePoint from, TimePoint to, double amount) {
  observe(std::min(from, to));
  if (from >= to) {
    add_to_bucket(bucket_of(to), amount);
    return;
  }
  const double total = seconds(to - from);
  const std::int64_t last = bucket_of(to - Duration(1));
  // Spans longer than the ring only matter for their last ring-full of buckets.
  std::int64_t b = std::max(bucket_of(from), last - static_cast<std::int64_t>(ring_.size()) + 1);
  for (; b <= last; ++b) {
    const TimePoint lo = std::max(from, TimePoint(granularity_ * b));
    const TimePoint hi = std::min(to, TimePoint(granularity_ * (b + 1)));
    add_to_bucket(b, amount * seconds(hi - lo) / total);
  }
}

double TimeWeightedWindow::rate(TimePoint now, Duration window) const {
  if (!first_) return 0.0;
  window = std::min(window, max_window_);
  const TimePoint start = std::max(now - window, *first_);
  if (now <= start) return 0.0;
  const auto size = static_cast<std::int64_t>(ring_.size());
  const std::int64_t first_bucket = bucket_of(start);
  const std::int64_t last_bucket = std::min(bucket_of(now), head_);
  double sum = 0.0;
  for (std::int64_t b = std::max(first_bucket, head_ - size + 1); b <= last_bucket; ++b) {
    double v = ring_[static_cast<std::size_t>(((b % size) + size) % size)];
    if (b == first_bucket && start > *first_) {
      // Only part of this bucket is in the span; its amounts lie in [max(bucket start, first),
      // end).
      const TimePoint bucket_end = TimePoint(granularity_ * (b + 1));
      const TimePoint filled_from = std::max(TimePoint(granularity_ * b), *first_);
      v *= std::min(1.0, seconds(bucket_end - start) / seconds(bucket_end - filled_from));
    }
    sum += v;
  }
  return sum / seconds(now - start);
}

ConcurrencyWindow::ConcurrencyWindow(Duration max_window, Duration granularity)
    : window_(max_window, granularity) {}

void ConcurrencyWindow::advance(TimePoint now) {
  if (!last_) {
    last_ = now;
    window_.observe(now);
    return;
  }
  if (now <= *last_) return;
  if (level_ != 0) window_.add(*last_, now, static_cast<double>(level_) * seconds(now - *last_));
  last_ = now;
}

void ConcurrencyWindow::change(TimePoint now, int delta) {
  advance(now);
  level_ += delta;
}

double ConcurrencyWindow::average(TimePoint now, Duration window) {
  advance(now);
  return window_.rate(now, window);
}

}  // namespace mlsidecar::policies
