#include "metrics/request_metrics.h"

#include <array>

namespace mlsidecar::metrics {

namespace {
constexpr std::array<const char*, 5> kClasses = {"1xx", "2xx", "3xx", "4xx", "5xx"};
constexpr std::array<const char*, kUpstreamErrorKinds> kUpstreamErrorNames = {
    "connect_failed", "connect_timeout", "reset", "timeout", "invalid_response", "retried"};
constexpr std::array<const char*, kRefusalKinds> kRefusalNames = {
    "bad_request",    "header_too_large",     "body_too_large",
    "header_timeout", "too_many_connections", "client_aborted"};

std::size_t status_class(unsigned status) {
  return status >= 100 && status < 600 ? status / 100 - 1 : 4;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type) {
  return prometheus::MetricFamily{name, help, type, {}};
}
}  // namespace

// Everything recorded for one (model/version, route) series on one thread.
struct RequestMetrics::Cell {
  std::array<std::atomic<std::uint64_t>, 5> requests{};  // by status class
  ShardHistogram duration, upstream, first_byte, request_size, response_size;
};

RequestMetrics::Shard::Shard(std::size_t cells) : cells_(new Cell[cells]) {}
RequestMetrics::Shard::~Shard() = default;

void RequestMetrics::Shard::request_finished(const RequestSample& s) {
  Cell& cell = cells_[s.series * kRouteCount + static_cast<std::size_t>(s.route)];
  bump(cell.requests[status_class(s.status)], std::uint64_t{1});
  cell.duration.observe(s.duration_seconds, latency_buckets());
  if (s.upstream_seconds >= 0) cell.upstream.observe(s.upstream_seconds, latency_buckets());
  if (s.first_byte_seconds >= 0) cell.first_byte.observe(s.first_byte_seconds, latency_buckets());
  cell.request_size.observe(static_cast<double>(s.request_bytes), size_buckets());
  cell.response_size.observe(static_cast<double>(s.response_bytes), size_buckets());
  bump(in_flight_, std::int64_t{-1});
}

RequestMetrics::RequestMetrics(std::size_t threads, std::size_t max_models,
                               std::string default_model, std::string default_version)
    : max_models_(max_models),
      default_model_(std::move(default_model)),
      default_version_(std::move(default_version)),
      labels_(max_models) {
  for (std::size_t i = 0; i < threads; ++i) {
    shards_.push_back(std::make_unique<Shard>(max_models_ * kRouteCount));
  }
  model_index(default_model_, default_version_);  // the configured model is always series 0
}

RequestMetrics::~RequestMetrics() = default;

std::size_t RequestMetrics::model_index(std::string_view model, std::string_view version) {
  if (model.empty()) model = default_model_;
  if (version.empty()) version = default_version_;
  char key[256];
  if (model.size() + version.size() + 1 > sizeof key) return labels_.other_index();
  model.copy(key, model.size());
  key[model.size()] = '\x1f';
  version.copy(key + model.size() + 1, version.size());
  return labels_.index(std::string_view(key, model.size() + version.size() + 1));
}

std::int64_t RequestMetrics::in_flight() const {
  std::int64_t n = 0;
  for (const auto& s : shards_) n += s->in_flight_.load(std::memory_order_relaxed);
  return n;
}

std::pair<std::string, std::string> RequestMetrics::series_labels(std::size_t m) const {
  const std::string_view key = labels_.name(m);
  const std::size_t sep = key.find('\x1f');
  std::string model(key.substr(0, sep));
  std::string version(sep == std::string_view::npos ? std::string_view{} : key.substr(sep + 1));
  if (m == labels_.other_index()) version = "other";
  return {std::move(model), std::move(version)};
}

std::vector<prometheus::MetricFamily> RequestMetrics::Collect() const {
  using prometheus::MetricType;
  auto requests =
      family("mlsidecar_requests_total",
             "Requests answered, by model, version, route and status class.", MetricType::Counter);
  auto duration = family("mlsidecar_request_duration_seconds",
                         "Request latency as the client sees it.", MetricType::Histogram);
  auto upstream =
      family("mlsidecar_upstream_duration_seconds",
             "Time the model took, from request sent to response end.", MetricType::Histogram);
  auto first_byte =
      family("mlsidecar_time_to_first_byte_seconds",
             "Time from the request head to the model's response head.", MetricType::Histogram);
  auto req_size =
      family("mlsidecar_request_size_bytes", "Request body sizes.", MetricType::Histogram);
  auto resp_size =
      family("mlsidecar_response_size_bytes", "Response body sizes.", MetricType::Histogram);

  for (std::size_t m = 0; m < max_models_; ++m) {
    if (!labels_.in_use(m)) continue;
    const auto [model, version] = series_labels(m);
    for (std::size_t r = 0; r < kRouteCount; ++r) {
      std::array<std::uint64_t, 5> counts{};
      // One declaration each: clang-tidy 14 takes `auto a = ..., b = a;` in a loop for a use of `a`
      // after the move at the end of the previous iteration.
      auto dur = empty_histogram(latency_buckets());
      auto up = empty_histogram(latency_buckets());
      auto fb = empty_histogram(latency_buckets());
      auto rq = empty_histogram(size_buckets());
      auto rs = empty_histogram(size_buckets());
      for (const auto& shard : shards_) {
        const Cell& cell = shard->cells_[m * kRouteCount + r];
        for (std::size_t c = 0; c < 5; ++c)
          counts[c] += cell.requests[c].load(std::memory_order_relaxed);
        cell.duration.add_to(dur, latency_buckets());
        cell.upstream.add_to(up, latency_buckets());
        cell.first_byte.add_to(fb, latency_buckets());
        cell.request_size.add_to(rq, size_buckets());
        cell.response_size.add_to(rs, size_buckets());
      }
      if (dur.sample_count == 0) continue;
      std::vector<prometheus::ClientMetric::Label> labels = {
          {"model", model},
          {"version", version},
          {"route", std::string(route_name(static_cast<Route>(r)))}};
      for (std::size_t c = 0; c < 5; ++c) {
        // 2xx, 4xx and 5xx exist (at 0) as soon as the route has traffic: a series that first
        // appears with a count already in it loses that count to rate(), and the first burst of
        // errors would never show in an SLO rule.
        bool always = c == 1 || c == 3 || c == 4;
        if (counts[c] == 0 && !always) continue;
        prometheus::ClientMetric metric;
        metric.label = labels;
        metric.label.push_back({"code", kClasses[c]});
        metric.counter.value = static_cast<double>(counts[c]);
        requests.metric.push_back(std::move(metric));
      }
      auto push = [&labels](prometheus::MetricFamily& f, prometheus::ClientMetric::Histogram h) {
        prometheus::ClientMetric metric;
        metric.label = labels;
        metric.histogram = std::move(h);
        f.metric.push_back(std::move(metric));
      };
      push(duration, std::move(dur));
      push(upstream, std::move(up));
      push(first_byte, std::move(fb));
      push(req_size, std::move(rq));
      push(resp_size, std::move(rs));
    }
  }

  auto inflight = family("mlsidecar_inflight_requests", "Requests in flight through the sidecar.",
                         MetricType::Gauge);
  inflight.metric.emplace_back();
  inflight.metric.back().gauge.value = static_cast<double>(in_flight());

  auto errors = family("mlsidecar_upstream_errors_total", "Failures talking to the model, by kind.",
                       MetricType::Counter);
  auto refused =
      family("mlsidecar_refused_requests_total",
             "Requests the sidecar refused or lost before the model answered them, by reason.",
             MetricType::Counter);
  auto connections = family("mlsidecar_client_connections_total", "Client connections accepted.",
                            MetricType::Counter);
  std::array<std::uint64_t, kUpstreamErrorKinds> e{};
  std::array<std::uint64_t, kRefusalKinds> f{};
  std::uint64_t conns = 0, upstream_conns = 0;
  for (const auto& shard : shards_) {
    for (std::size_t i = 0; i < e.size(); ++i)
      e[i] += shard->upstream_errors_[i].load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < f.size(); ++i)
      f[i] += shard->refusals_[i].load(std::memory_order_relaxed);
    conns += shard->connections_.load(std::memory_order_relaxed);
    upstream_conns += shard->upstream_connections_.load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < e.size(); ++i) {
    prometheus::ClientMetric metric;
    metric.label = {{"kind", kUpstreamErrorNames[i]}};
    metric.counter.value = static_cast<double>(e[i]);
    errors.metric.push_back(std::move(metric));
  }
  for (std::size_t i = 0; i < f.size(); ++i) {
    prometheus::ClientMetric metric;
    metric.label = {{"reason", kRefusalNames[i]}};
    metric.counter.value = static_cast<double>(f[i]);
    refused.metric.push_back(std::move(metric));
  }
  connections.metric.emplace_back();
  connections.metric.back().counter.value = static_cast<double>(conns);
  auto upstream_connections = family(
      "mlsidecar_upstream_connections_total",
      "Connections opened to the model (keep-alive reuse keeps this low).", MetricType::Counter);
  upstream_connections.metric.emplace_back();
  upstream_connections.metric.back().counter.value = static_cast<double>(upstream_conns);

  auto build =
      family("mlsidecar_build_info", "Build and model identity; always 1.", MetricType::Gauge);
  build.metric.emplace_back();
  build.metric.back().label = {{"version", MLSIDECAR_VERSION},
                               {"model", default_model_},
                               {"model_version", default_version_}};
  build.metric.back().gauge.value = 1;

  return {std::move(requests),
          std::move(duration),
          std::move(upstream),
          std::move(first_byte),
          std::move(req_size),
          std::move(resp_size),
          std::move(inflight),
          std::move(errors),
          std::move(refused),
          std::move(connections),
          std::move(upstream_connections),
          std::move(build)};
}

}  // namespace mlsidecar::metrics
