// The model server's own metrics, fetched when the admin port is scraped (--merge-metrics URL)
// and appended to the sidecar's (metrics/exposition_merge.h), so that one scrape carries both.
//
// The fetch runs on the admin thread's io_context as a coroutine: it never touches the I/O
// threads, and other admin requests go on while it waits. It is bounded by
// --merge-metrics-timeout (connect, request and response together) and by kMaxModelMetricsBytes;
// a fetch that fails, times out or is too large leaves the sidecar's own metrics as they are and
// is counted in mlsidecar_model_metrics_fetches_total{result}.
//
// Thread safety: append_to() runs on the admin thread; Collect() may run on any thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <utility>  // before Boost 1.74 awaitable.hpp, which needs std::exchange

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sidecar/metrics_url.h"

namespace mlsidecar {

inline constexpr std::size_t kMaxModelMetricsBytes = 8 * 1024 * 1024;

class ModelMetrics : public prometheus::Collectable {
 public:
  enum class Result { ok, connect_failed, timeout, bad_status, too_large, invalid_response };
  static constexpr std::size_t kResults = 6;

  ModelMetrics(MetricsUrl url, std::chrono::milliseconds timeout);

  // Fetches the model's metrics and appends them to `exposition` (the sidecar's own).
  boost::asio::awaitable<void> append_to(std::string& exposition);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  boost::asio::awaitable<Result> fetch(std::string& body);

  const MetricsUrl url_;
  const std::chrono::milliseconds timeout_;
  std::array<std::atomic<std::uint64_t>, kResults> results_{};
  std::atomic<std::uint64_t> duplicate_families_{0}, invalid_lines_{0};
};

}  // namespace mlsidecar
