// The gRPC call counter. See grpc_metrics.h.
#include "metrics/grpc_metrics.h"

#include <array>
#include <string>
#include <utility>

#include "metrics/request_metrics.h"

namespace mlsidecar::metrics {
namespace {

constexpr std::array<std::string_view, kGrpcCodeCount> kCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

}  // namespace

std::string_view grpc_code_name(std::size_t code) {
  return code < kCodeNames.size() ? kCodeNames[code] : kCodeNames[2];
}

GrpcMetrics::GrpcMetrics(std::size_t threads, const RequestMetrics& requests,
                         std::vector<std::string> refusal_names)
    : requests_(requests),
      series_(requests.series_capacity()),
      methods_(kMethodCapacity),
      refusal_names_(std::move(refusal_names)) {
  for (std::size_t i = 0; i < threads; ++i) {
    shards_.push_back(
        std::make_unique<Shard>(series_ * kMethodCapacity * kGrpcCodeCount, refusal_names_.size()));
  }
}

GrpcMetrics::~GrpcMetrics() = default;

std::size_t GrpcMetrics::method_index(std::string_view service, std::string_view method) {
  char key[256];
  if (service.size() + method.size() + 1 > sizeof key) return methods_.other_index();
  service.copy(key, service.size());
  key[service.size()] = '/';
  method.copy(key + service.size() + 1, method.size());
  return methods_.index(std::string_view(key, service.size() + method.size() + 1));
}

std::vector<prometheus::MetricFamily> GrpcMetrics::Collect() const {
  prometheus::MetricFamily calls{
      "mlsidecar_grpc_requests_total",
      "gRPC calls finished, by model, version, service, method and gRPC status code.",
      prometheus::MetricType::Counter,
      {}};
  for (std::size_t s = 0; s < series_; ++s) {
    if (!requests_.series_in_use(s)) continue;
    const auto [model, version] = requests_.series_labels(s);
    for (std::size_t m = 0; m < kMethodCapacity; ++m) {
      if (!methods_.in_use(m)) continue;
      std::array<std::uint64_t, kGrpcCodeCount> counts{};
      std::uint64_t total = 0;
      for (const auto& shard : shards_) {
        for (std::size_t c = 0; c < kGrpcCodeCount; ++c) {
          const auto n = shard->calls_[(s * kMethodCapacity + m) * kGrpcCodeCount + c].load(
              std::memory_order_relaxed);
          counts[c] += n;
          total += n;
        }
      }
      if (total == 0) continue;
      const std::string_view key = m == methods_.other_index() ? "other/other" : methods_.name(m);
      const std::size_t slash = key.find('/');
      for (std::size_t c = 0; c < kGrpcCodeCount; ++c) {
        // OK exists (at 0) once the method has calls, so an error ratio has its denominator.
        if (counts[c] == 0 && c != 0) continue;
        prometheus::ClientMetric metric;
        metric.label = {{"model", model},
                        {"version", version},
                        {"grpc_service", std::string(key.substr(0, slash))},
                        {"grpc_method", std::string(key.substr(slash + 1))},
                        {"grpc_code", std::string(kCodeNames[c])}};
        metric.counter.value = static_cast<double>(counts[c]);
        calls.metric.push_back(std::move(metric));
      }
    }
  }
  prometheus::MetricFamily refused{
      "mlsidecar_http2_refusals_total",
      "HTTP/2 connections (GOAWAY) and streams (reset) the sidecar refused, by reason.",
      prometheus::MetricType::Counter,
      {}};
  for (std::size_t r = 0; r < refusal_names_.size(); ++r) {
    if (refusal_names_[r].empty()) continue;
    std::uint64_t n = 0;
    for (const auto& shard : shards_) n += shard->refusals_[r].load(std::memory_order_relaxed);
    prometheus::ClientMetric metric;
    metric.label = {{"reason", refusal_names_[r]}};
    metric.counter.value = static_cast<double>(n);
    refused.metric.push_back(std::move(metric));
  }
  std::vector<prometheus::MetricFamily> out;
  out.push_back(std::move(calls));
  if (!refusal_names_.empty()) out.push_back(std::move(refused));
  return out;
}

}  // namespace mlsidecar::metrics
