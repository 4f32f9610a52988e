#include "metrics/status/status_ring.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>

namespace mlsidecar::status {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

std::string_view label(const ClientMetric& m, std::string_view name) {
  for (const auto& l : m.label) {
    if (l.name == name) return l.value;
  }
  return {};
}

double value_of(const MetricFamily& f, const ClientMetric& m) {
  switch (f.type) {
    case prometheus::MetricType::Counter:
      return m.counter.value;
    case prometheus::MetricType::Gauge:
      return m.gauge.value;
    case prometheus::MetricType::Untyped:
      return m.untyped.value;
    default:
      return 0;
  }
}

void add_buckets(BucketCounts& into, const ClientMetric& m) {
  for (const auto& b : m.histogram.bucket) {
    into.cumulative[b.upper_bound] += static_cast<double>(b.cumulative_count);
  }
}

std::optional<double> quantile_or_none(double q, const BucketCounts& b) {
  const double v = histogram_quantile(q, b);
  return std::isnan(v) ? std::nullopt : std::optional<double>(v);
}

// The shadow families, read by name and summed by version; unknown families are ignored.
void read_shadow(const MetricFamily& f, std::map<std::string, ShadowVersion>& shadow) {
  const std::string_view name = f.name;
  for (const auto& m : f.metric) {
    ShadowVersion& v = shadow[std::string(label(m, "version"))];
    const double x = value_of(f, m);
    if (name == "mlsidecar_shadow_compared_total") {
      v.compared += x;
    } else if (name == "mlsidecar_shadow_status_matches_total") {
      v.status_matches += x;
    } else if (name == "mlsidecar_shadow_output_compared_total") {
      v.output_compared[std::string(label(m, "output"))] += x;
    } else if (name == "mlsidecar_shadow_output_matches_total") {
      v.output_matches[std::string(label(m, "output"))] += x;
    } else if (name == "mlsidecar_shadow_latency_ratio") {
      add_buckets(v.latency_ratio, m);
    } else if (name == "mlsidecar_shadow_dropped_total") {
      v.dropped[std::string(label(m, "reason"))] += x;
    } else if (name == "mlsidecar_shadow_requests_total") {
      v.requests[std::string(label(m, "code"))] += x;
    }
  }
}

}  // namespace

BucketCounts bucket_delta(const BucketCounts& later, const BucketCounts& earlier) {
  BucketCounts out;
  for (const auto& [le, count] : later.cumulative) {
    auto it = earlier.cumulative.find(le);
    out.cumulative[le] = std::max(0.0, count - (it == earlier.cumulative.end() ? 0 : it->second));
  }
  return out;
}

double histogram_quantile(double q, const BucketCounts& buckets) {
  // As promql's bucketQuantile: needs a +Inf bucket and one finite bound at least.
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  const auto& c = buckets.cumulative;
  if (c.size() < 2 || !std::isinf(c.rbegin()->first)) return kNaN;
  const double total = c.rbegin()->second;
  if (!(total > 0)) return kNaN;
  double rank = q * total;
  auto b = std::find_if(c.begin(), c.end(), [rank](const auto& kv) { return kv.second >= rank; });
  if (std::next(b) == c.end()) return std::prev(b)->first;  // the +Inf bucket
  if (b == c.begin() && b->first <= 0) return b->first;
  double start = 0;
  double count = b->second;
  if (b != c.begin()) {
    start = std::prev(b)->first;
    count -= std::prev(b)->second;
    rank -= std::prev(b)->second;
  }
  return start + (b->first - start) * (rank / count);
}

StatusSnapshot take_snapshot(const std::vector<MetricFamily>& families,
                             std::chrono::steady_clock::time_point at, double unix_seconds) {
  StatusSnapshot s;
  s.at = at;
  s.unix_seconds = unix_seconds;
  for (const auto& f : families) {
    const std::string_view name = f.name;
    if (name.starts_with("mlsidecar_shadow_")) {
      read_shadow(f, s.shadow);
      continue;
    }
    for (const auto& m : f.metric) {
      if (name == "mlsidecar_requests_total") {
        if (label(m, "route") == "health") continue;
        s.requests += m.counter.value;
        if (label(m, "code") == "5xx") s.errors += m.counter.value;
      } else if (name == "mlsidecar_request_duration_seconds") {
        if (label(m, "route") != "health") add_buckets(s.latency, m);
      } else if (name == "mlsidecar_inflight_requests") {
        s.in_flight += value_of(f, m);
      } else if (name == "mlsidecar_queued_requests") {
        s.queued += value_of(f, m);
      } else if (name == "mlsidecar_autoscale_load_ratio") {
        if (label(m, "window") == "stable") s.load_ratio = value_of(f, m);
      } else if (name == "mlsidecar_time_to_first_token_seconds") {
        add_buckets(s.time_to_first_token, m);
      } else if (name == "mlsidecar_output_tokens_total") {
        s.output_tokens = s.output_tokens.value_or(0) + value_of(f, m);
      }
    }
  }
  return s;
}

StatusRing::StatusRing(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 2)) {}

void StatusRing::push(StatusSnapshot snapshot) {
  if (snapshots_.size() == capacity_) snapshots_.pop_front();
  snapshots_.push_back(std::move(snapshot));
}

std::vector<StatusPoint> StatusRing::series() const {
  std::vector<StatusPoint> out;
  for (std::size_t i = 1; i < snapshots_.size(); ++i) {
    const StatusSnapshot& a = snapshots_[i - 1];
    const StatusSnapshot& b = snapshots_[i];
    StatusPoint p;
    p.unix_seconds = b.unix_seconds;
    p.seconds = std::chrono::duration<double>(b.at - a.at).count();
    const double requests = std::max(0.0, b.requests - a.requests);
    if (p.seconds > 0) p.requests_per_second = requests / p.seconds;
    if (requests > 0) p.error_ratio = std::max(0.0, b.errors - a.errors) / requests;
    const BucketCounts latency = bucket_delta(b.latency, a.latency);
    p.p50 = quantile_or_none(0.5, latency);
    p.p99 = quantile_or_none(0.99, latency);
    p.in_flight = b.in_flight;
    p.queued = b.queued;
    p.load_ratio = b.load_ratio;
    const BucketCounts ttft = bucket_delta(b.time_to_first_token, a.time_to_first_token);
    p.ttft_p50 = quantile_or_none(0.5, ttft);
    p.ttft_p99 = quantile_or_none(0.99, ttft);
    if (b.output_tokens && p.seconds > 0) {
      p.output_tokens_per_second =
          std::max(0.0, *b.output_tokens - a.output_tokens.value_or(0)) / p.seconds;
    }
    out.push_back(p);
  }
  return out;
}

StatusWindow StatusRing::window() const {
  StatusWindow w;
  if (snapshots_.size() < 2) return w;
  const StatusSnapshot& a = snapshots_.front();
  const StatusSnapshot& b = snapshots_.back();
  w.seconds = std::chrono::duration<double>(b.at - a.at).count();
  w.requests = std::max(0.0, b.requests - a.requests);
  w.errors = std::max(0.0, b.errors - a.errors);
  const BucketCounts latency = bucket_delta(b.latency, a.latency);
  w.p50 = quantile_or_none(0.5, latency);
  w.p99 = quantile_or_none(0.99, latency);
  const BucketCounts ttft = bucket_delta(b.time_to_first_token, a.time_to_first_token);
  w.ttft_p50 = quantile_or_none(0.5, ttft);
  w.ttft_p99 = quantile_or_none(0.99, ttft);
  w.output_tokens = std::max(0.0, b.output_tokens.value_or(0) - a.output_tokens.value_or(0));
  return w;
}

}  // namespace mlsidecar::status
