// Publishing of ShadowAnalysis: the mlsidecar_shadow_* families from relaxed loads of the cells
// (no lock), then the shadow drift engine's families.
#include <string>
#include <utility>

#include "metrics/shadow/shadow_state.h"

namespace mlsidecar::shadow {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// The routes that may be shadowed (safe to repeat): their series exist from the start.
constexpr Route kShadowedRoutes[] = {Route::predict, Route::infer, Route::generate};
constexpr std::string_view kCodeNames[kCodeCount] = {"1xx", "2xx", "3xx", "4xx", "5xx", "error"};

// The families, declared once; Collect() fills them in this order.
enum Family : std::uint8_t {
  requests,
  dropped,
  compared,
  status_matches,
  latency_ratio,
  output_skipped,
  output_compared,
  output_matches,
  output_abs,
  output_relative,
  token_ratio,
  finish_compared,
  finish_matches,
  kFamilyCount,
};

struct FamilySpec {
  const char* name;
  const char* help;
  MetricType type;
};

constexpr FamilySpec kFamilies[kFamilyCount] = {
    {"mlsidecar_shadow_requests_total",
     "Copies of requests sent to the shadow model, by the shadow's status class (error: no "
     "answer)",
     MetricType::Counter},
    {"mlsidecar_shadow_dropped_total", "Copies of requests not sent to the shadow model, by reason",
     MetricType::Counter},
    {"mlsidecar_shadow_compared_total", "Pairs of answers compared (the shadow answered)",
     MetricType::Counter},
    {"mlsidecar_shadow_status_matches_total", "Compared pairs whose status classes agree",
     MetricType::Counter},
    {"mlsidecar_shadow_latency_ratio", "Shadow latency divided by primary latency, per pair",
     MetricType::Histogram},
    {"mlsidecar_shadow_output_skipped_total",
     "Compared pairs whose outputs were not compared, by reason", MetricType::Counter},
    {"mlsidecar_shadow_output_compared_total", "Rows of label and argmax outputs compared",
     MetricType::Counter},
    {"mlsidecar_shadow_output_matches_total",
     "Rows of label and argmax outputs on which the models agree", MetricType::Counter},
    {"mlsidecar_shadow_output_abs_difference",
     "Absolute difference |shadow - primary| of numeric outputs, per row", MetricType::Histogram},
    {"mlsidecar_shadow_output_relative_difference",
     "Relative difference |shadow - primary| / max(|primary|, 1e-12) of numeric outputs",
     MetricType::Histogram},
    {"mlsidecar_shadow_output_token_ratio",
     "LLM output tokens of the shadow divided by the primary's, per pair", MetricType::Histogram},
    {"mlsidecar_shadow_finish_reason_compared_total",
     "LLM pairs in which both answers gave a finish reason", MetricType::Counter},
    {"mlsidecar_shadow_finish_reason_matches_total", "LLM pairs whose finish reasons agree",
     MetricType::Counter},
};

std::uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }

void add_counter(MetricFamily& f, Labels labels, std::uint64_t value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = static_cast<double>(value);
  f.metric.push_back(std::move(m));
}

void add_histogram(MetricFamily& f, Labels labels, const metrics::ShardHistogram& h,
                   const metrics::BucketBounds& bounds) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram = metrics::empty_histogram(bounds);
  h.add_to(m.histogram, bounds);
  f.metric.push_back(std::move(m));
}

bool fixed_route(Route route) {
  for (Route r : kShadowedRoutes) {
    if (r == route) return true;
  }
  return false;
}

}  // namespace

const metrics::BucketBounds& ratio_buckets() {
  static const metrics::BucketBounds b{0.125, 0.25, 0.5, 0.8, 0.9, 1, 1.1, 1.25, 2, 4, 8, 16};
  return b;
}

const metrics::BucketBounds& abs_difference_buckets() {
  static const metrics::BucketBounds b{0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000};
  return b;
}

const metrics::BucketBounds& relative_difference_buckets() {
  static const metrics::BucketBounds b{0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10};
  return b;
}

std::vector<MetricFamily> ShadowAnalysis::Collect() const {
  const Impl& m = *impl_;
  const ClientMetric::Label version{"version", m.settings.version};
  std::vector<MetricFamily> out(kFamilyCount);
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    out[i].name = kFamilies[i].name;
    out[i].help = kFamilies[i].help;
    out[i].type = kFamilies[i].type;
  }

  for (std::size_t r = 0; r < kRouteCount; ++r) {
    const RouteCells& cells = m.routes[r];
    const bool fixed = fixed_route(static_cast<Route>(r));
    const Labels labels = {{"route", std::string(route_name(static_cast<Route>(r)))}, version};
    for (std::size_t c = 0; c < kCodeCount; ++c) {
      const std::uint64_t n = get(cells.requests[c]);
      // 1xx is never a final status in practice: published only when seen.
      if (n == 0 && (!fixed || c == 0)) continue;
      Labels l = labels;
      l.insert(l.begin(), {"code", std::string(kCodeNames[c])});
      add_counter(out[requests], std::move(l), n);
    }
    if (!fixed && get(cells.compared) == 0) continue;
    add_counter(out[compared], labels, get(cells.compared));
    add_counter(out[status_matches], labels, get(cells.status_matches));
    add_histogram(out[latency_ratio], labels, cells.latency_ratio, ratio_buckets());
  }
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const std::string reason(drop_reason_name(static_cast<DropReason>(i)));
    std::uint64_t n = 0;
    for (std::size_t row = 0; row < m.producer_rows; ++row) n += get(m.dropped[row].counts[i]);
    add_counter(out[dropped], {{"reason", reason}, version}, n);
  }
  for (std::size_t i = 0; i < kSkipReasonCount; ++i) {
    const std::string reason(skip_reason_name(static_cast<SkipReason>(i)));
    add_counter(out[output_skipped], {{"reason", reason}, version}, get(m.skipped[i]));
  }
  for (std::size_t i = 0; i < m.outputs.capacity(); ++i) {
    if (!m.outputs.in_use(i)) continue;
    const OutputCells& cells = m.output_cells[i];
    const Labels labels = {{"output", std::string(m.outputs.name(i))}, version};
    if (cells.labels.load(std::memory_order_relaxed)) {
      add_counter(out[output_compared], labels, get(cells.compared));
      add_counter(out[output_matches], labels, get(cells.matches));
    }
    if (cells.numbers.load(std::memory_order_relaxed)) {
      add_histogram(out[output_abs], labels, cells.absolute, abs_difference_buckets());
      add_histogram(out[output_relative], labels, cells.relative, relative_difference_buckets());
    }
  }
  add_histogram(out[token_ratio], {version}, m.token_ratio, ratio_buckets());
  add_counter(out[finish_compared], {version}, get(m.finish_compared));
  add_counter(out[finish_matches], {version}, get(m.finish_matches));

  // The shadow's output drift, under mlsidecar_shadow_ with the version label (its settings).
  if (m.drift) {
    for (MetricFamily& f : m.drift->Collect()) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace mlsidecar::shadow
