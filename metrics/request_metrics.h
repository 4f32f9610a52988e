// The proxy's request metrics: counts, latency and size histograms, in-flight gauge, upstream
// errors and refusals, exported as the mlsidecar_* families of ARCHITECTURE.md.
//
// Every I/O thread writes only its own Shard (single-writer relaxed atomics, no lock, no shared
// cache line), and Collect() merges the shards when /metrics is scraped. Series are indexed by
// (model/version label pair, route); the label pair is resolved once per request through a bounded
// LabelTable, so a client cannot grow the series without bound.
//
// Thread safety: shard(i) is used by I/O thread i only; model_index() and Collect() from any
// thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "metrics/label_table.h"
#include "metrics/route.h"
#include "metrics/shard_histogram.h"

namespace mlsidecar::metrics {

enum class UpstreamError : std::uint8_t {
  connect_failed,    // refused or unreachable: 502
  connect_timeout,   // 504
  reset,             // the model closed or reset the connection before a full response: 502
  timeout,           // no response head within --upstream-timeout: 504
  invalid_response,  // unparseable response from the model: 502
  retried,           // a pooled connection had closed; the request was replayed on a fresh one
};
inline constexpr std::size_t kUpstreamErrorKinds = 6;

// Requests the sidecar refuses itself (answered 4xx/503 or dropped) before the model sees them.
enum class Refusal : std::uint8_t {
  bad_request,
  header_too_large,
  body_too_large,
  header_timeout,
  too_many_connections,
  client_aborted,  // the client went away before its response was complete
};
inline constexpr std::size_t kRefusalKinds = 6;

// One finished request, as the proxy saw it.
struct RequestSample {
  std::size_t series = 0;  // from RequestMetrics::model_index()
  Route route = Route::other;
  unsigned status = 0;
  double duration_seconds = 0;       // client view: head received to response end
  double upstream_seconds = -1;      // request sent to response end; <0 if never reached model
  double first_byte_seconds = -1;    // head received to the model's response head; <0 if none
  std::uint64_t request_bytes = 0;   // body bytes
  std::uint64_t response_bytes = 0;  // body bytes
};

class RequestMetrics : public prometheus::Collectable {
 public:
  class Shard;

  RequestMetrics(std::size_t threads, std::size_t max_models, std::string default_model,
                 std::string default_version);
  ~RequestMetrics() override;

  Shard& shard(std::size_t thread) { return *shards_[thread]; }
  // Series index of a model/version pair; empty parts take the configured defaults.
  std::size_t model_index(std::string_view model, std::string_view version);
  std::int64_t in_flight() const;
  // The series indexes model_index() hands out are below this; the labels of one in use (the
  // folded series reads version "other").
  std::size_t series_capacity() const { return max_models_; }
  bool series_in_use(std::size_t series) const { return labels_.in_use(series); }
  std::pair<std::string, std::string> series_labels(std::size_t series) const;

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Cell;
  std::size_t max_models_;
  std::string default_model_, default_version_;
  LabelTable labels_;  // "model\x1fversion"
  std::vector<std::unique_ptr<Shard>> shards_;
};

class RequestMetrics::Shard {
 public:
  explicit Shard(std::size_t cells);
  ~Shard();
  void request_started() { bump(in_flight_, 1); }
  void request_finished(const RequestSample& sample);
  // A request that ended without a sample (its session was torn down): out of the gauge only.
  void request_abandoned() { bump(in_flight_, -1); }
  void upstream_error(UpstreamError kind) { bump(upstream_errors_[static_cast<int>(kind)], 1); }
  void refused(Refusal kind) { bump(refusals_[static_cast<int>(kind)], 1); }
  void connection_opened() { bump(connections_, 1); }
  void upstream_connected() { bump(upstream_connections_, 1); }

 private:
  friend class RequestMetrics;
  template <class T>
  static void bump(std::atomic<T>& c, std::type_identity_t<T> n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::unique_ptr<Cell[]> cells_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::atomic<std::uint64_t> upstream_connections_{0};
  std::array<std::atomic<std::uint64_t>, kUpstreamErrorKinds> upstream_errors_{};
  std::array<std::atomic<std::uint64_t>, kRefusalKinds> refusals_{};
};

}  // namespace mlsidecar::metrics
