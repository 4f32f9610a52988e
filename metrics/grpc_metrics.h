// mlsidecar_grpc_requests_total{model,version,grpc_service,grpc_method,grpc_code}: finished gRPC
// calls, named as go-grpc-prometheus names its counter, beside the request families that every
// call (HTTP or gRPC) also feeds.
//
// Service and method come from the call's path, which the client chooses: the first
// kMethodCapacity - 1 distinct service/method pairs get their own labels, later ones fold into
// grpc_service="other", grpc_method="other" (as models fold beyond --max-models). Model and
// version are RequestMetrics' series, so they fold the same way.
//
// Thread safety: as RequestMetrics: shard(i) written by I/O thread i only (relaxed atomics);
// method_index() and Collect() from any thread.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "metrics/label_table.h"

namespace mlsidecar::metrics {

class RequestMetrics;

// gRPC's status codes 0 (OK) to 16 (UNAUTHENTICATED); grpc_code_name(i) is the label value.
inline constexpr std::size_t kGrpcCodeCount = 17;
// "OK", "CANCELLED", ..., "UNAUTHENTICATED"; codes above 16 read as "UNKNOWN".
std::string_view grpc_code_name(std::size_t code);

class GrpcMetrics : public prometheus::Collectable {
 public:
  static constexpr std::size_t kMethodCapacity = 16;  // "other" included

  class Shard {
   public:
    explicit Shard(std::size_t cells) : calls_(new std::atomic<std::uint64_t>[cells]()) {}
    // One finished call: `series` from RequestMetrics::model_index(), `method` from
    // method_index(), `code` its grpc-status (above 16: UNKNOWN).
    void call_finished(std::size_t series, std::size_t method, std::size_t code) {
      if (code >= kGrpcCodeCount) code = 2;
      auto& c = calls_[(series * kMethodCapacity + method) * kGrpcCodeCount + code];
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

   private:
    friend class GrpcMetrics;
    std::unique_ptr<std::atomic<std::uint64_t>[]> calls_;
  };

  // `requests` names the model series; it must outlive this object.
  GrpcMetrics(std::size_t threads, const RequestMetrics& requests);
  ~GrpcMetrics() override;

  Shard& shard(std::size_t thread) { return *shards_[thread]; }
  std::size_t method_index(std::string_view service, std::string_view method);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const RequestMetrics& requests_;
  std::size_t series_;
  LabelTable methods_;  // "service/method"
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace mlsidecar::metrics
