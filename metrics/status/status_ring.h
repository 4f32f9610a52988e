// The recent minutes of the status page: a bounded ring of snapshots of the same Prometheus
// families /metrics serves, and the series derived from consecutive snapshots.
//
// A StatusSnapshot holds cumulative values (counters, merged histogram buckets) and gauges, read
// from a list of MetricFamily by name (take_snapshot). The series are what Prometheus would
// compute over each interval: rate() of a counter is its delta over the seconds between two
// snapshots; a quantile is histogram_quantile() of the bucket deltas. Example, 5 s apart: 40 -> 90
// requests is 10 requests/s; latency buckets {0.01: 30, 0.1: 40, +Inf: 40} -> {0.01: 60, 0.1: 90,
// +Inf: 90} are deltas {0.01: 30, 0.1: 50, +Inf: 50}, whose p50 is rank 25 of 50, inside the first
// bucket at 25/30 of (0, 0.01], i.e. 0.00833 s.
//
// Thread safety: none. The admin thread owns the ring (its timer pushes, its handlers read).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

namespace mlsidecar::status {

// Cumulative bucket counts by upper bound (+Inf included), merged over series.
struct BucketCounts {
  std::map<double, double> cumulative;  // le -> count of observations <= le
  double count() const { return cumulative.empty() ? 0 : cumulative.rbegin()->second; }
};

// `later` minus `earlier`, bound by bound (a bound missing from `earlier` counts from 0).
BucketCounts bucket_delta(const BucketCounts& later, const BucketCounts& earlier);

// Prometheus' histogram_quantile(): linear interpolation inside the bucket where rank q*count
// falls; the lowest bucket starts at 0 (when its bound is positive); a rank in the +Inf bucket
// gives the highest finite bound. NaN when there are no observations.
double histogram_quantile(double q, const BucketCounts& buckets);

// The shadow families of one shadow version (mlsidecar_shadow_*), summed over their other labels.
struct ShadowVersion {
  double compared = 0;        // mlsidecar_shadow_compared_total
  double status_matches = 0;  // mlsidecar_shadow_status_matches_total
  std::map<std::string, double> output_compared, output_matches;  // by output
  BucketCounts latency_ratio;              // mlsidecar_shadow_latency_ratio (shadow / primary)
  std::map<std::string, double> dropped;   // by reason
  std::map<std::string, double> requests;  // by code class
};

struct StatusSnapshot {
  std::chrono::steady_clock::time_point at;  // for the seconds between snapshots
  double unix_seconds = 0;                   // for the charts' time axis
  // mlsidecar_requests_total and _request_duration_seconds without route="health", as the
  // availability and latency SLO rules count them; errors are code="5xx".
  double requests = 0, errors = 0;
  BucketCounts latency;
  double in_flight = 0;                 // mlsidecar_inflight_requests
  double queued = 0;                    // mlsidecar_queued_requests
  std::optional<double> load_ratio;     // mlsidecar_autoscale_load_ratio{window="stable"}
  BucketCounts time_to_first_token;     // mlsidecar_time_to_first_token_seconds
  std::optional<double> output_tokens;  // mlsidecar_output_tokens_total (absent: no LLM family)
  std::map<std::string, ShadowVersion> shadow;  // by version; empty without shadow families
};

StatusSnapshot take_snapshot(const std::vector<prometheus::MetricFamily>& families,
                             std::chrono::steady_clock::time_point at, double unix_seconds);

// One point of the charts: the interval that ends at a snapshot. Optional values are unknown
// (no request in the interval for a ratio or a quantile, no such family).
struct StatusPoint {
  double unix_seconds = 0;
  double seconds = 0;  // length of the interval
  double requests_per_second = 0;
  std::optional<double> error_ratio, p50, p99;
  double in_flight = 0, queued = 0;
  std::optional<double> load_ratio;
  std::optional<double> ttft_p50, ttft_p99, output_tokens_per_second;
};

// What the whole ring covers, from its oldest snapshot to its newest.
struct StatusWindow {
  double seconds = 0;
  double requests = 0, errors = 0;
  std::optional<double> p50, p99, ttft_p50, ttft_p99;
  double output_tokens = 0;
};

class StatusRing {
 public:
  // Keeps the newest `capacity` snapshots (at least 2: one interval).
  explicit StatusRing(std::size_t capacity);

  void push(StatusSnapshot snapshot);
  std::size_t size() const { return snapshots_.size(); }
  std::size_t capacity() const { return capacity_; }
  const StatusSnapshot* newest() const { return snapshots_.empty() ? nullptr : &snapshots_.back(); }

  std::vector<StatusPoint> series() const;  // size() - 1 points, oldest first
  StatusWindow window() const;

 private:
  std::size_t capacity_;
  std::deque<StatusSnapshot> snapshots_;
};

}  // namespace mlsidecar::status
