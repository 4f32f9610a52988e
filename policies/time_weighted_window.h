// TimeWeightedWindow: a sliding window over amounts spread in time (concurrency-seconds, tokens,
// requests), answering "amount per second over the last W". With concurrency-seconds as the
// amount, that is the time-weighted average concurrency of Knative's autoscaler; with tokens, the
// token rate. Amounts are kept in buckets of `granularity` (1 s by default) in a ring that covers
// the largest window asked for, so memory is fixed and a query costs O(window / granularity).
//
// The span averaged over is [max(now - window, first time seen), now]: before a full window has
// passed, the average is over what was seen, so a new replica is not diluted by empty history.
// When the span starts inside a bucket, that bucket counts in proportion to its overlap (amounts
// are assumed even within a bucket); with bucket-aligned times the result is exact.
//
// Example (Knative's): two requests of 500 ms each in one second. add(0 s, 0.5 s, 0.5) and
// add(0.5 s, 1 s, 0.5) concurrency-seconds; rate(1 s, 1 s) = 1.0 / 1 s = 1.0.
//
// Thread safety: none; callers serialize (AutoscaleSignals does, under its sampling mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace mlsidecar::policies {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

class TimeWeightedWindow {
 public:
  explicit TimeWeightedWindow(Duration max_window, Duration granularity = std::chrono::seconds(1));

  // Adds `amount` spread evenly over [from, to); all of it at `to` when from >= to.
  void add(TimePoint from, TimePoint to, double amount);
  // Amount per second over the span described above; 0 when the span is empty.
  double rate(TimePoint now, Duration window) const;
  // Marks `t` as the start of history (when nothing was added yet), so that quiet time counts.
  void observe(TimePoint t);

  Duration max_window() const { return max_window_; }

 private:
  std::int64_t bucket_of(TimePoint t) const;
  void add_to_bucket(std::int64_t bucket, double amount);

  Duration max_window_;
  Duration granularity_;
  std::vector<double> ring_;
  std::int64_t head_ = 0;  // newest bucket index written; ring holds (head_ - size, head_]
  std::optional<TimePoint> first_;
};

// ConcurrencyWindow: time-weighted average concurrency from start/end events, for one thread.
// change(now, +1) when a request starts, change(now, -1) when it ends; average(now, window).
class ConcurrencyWindow {
 public:
  explicit ConcurrencyWindow(Duration max_window, Duration granularity = std::chrono::seconds(1));
  void change(TimePoint now, int delta);
  double average(TimePoint now, Duration window);
  double average(TimePoint now) { return average(now, window_.max_window()); }
  std::int64_t current() const { return level_; }

 private:
  void advance(TimePoint now);

  TimeWeightedWindow window_;
  std::int64_t level_ = 0;
  std::optional<TimePoint> last_;
};

}  // namespace mlsidecar::policies
