// mlsidecar_grpc_requests_total{model,version,grpc_service,grpc_method,grpc_code}: finished gRPC
// calls, named as go-grpc-prometheus names its counter, beside the request families that every
// call (HTTP or gRPC) also feeds; and mlsidecar_http2_refusals_total{reason}: HTTP/2 connections
// and streams the sidecar refused (floods, oversized header lists and messages).
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
#include <string>
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
    Shard(std::size_t cells, std::size_t refusal_kinds)
        : calls_(new std::atomic<std::uint64_t>[cells]()),
          refusals_(new std::atomic<std::uint64_t>[refusal_kinds]()),
          refusal_kinds_(refusal_kinds) {}
    // One finished call: `series` from RequestMetrics::model_index(), `method` from
    // method_index(), `code` its grpc-status (above 16: UNKNOWN).
    void call_finished(std::size_t series, std::size_t method, std::size_t code) {
      if (code >= kGrpcCodeCount) code = 2;
      auto& c = calls_[(series * kMethodCapacity + method) * kGrpcCodeCount + code];
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    // One HTTP/2 refusal; `reason` indexes the names given to GrpcMetrics (others ignored).
    void http2_refused(std::size_t reason) {
      if (reason >= refusal_kinds_) return;
      auto& c = refusals_[reason];
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

   private:
    friend class GrpcMetrics;
    std::unique_ptr<std::atomic<std::uint64_t>[]> calls_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> refusals_;
    std::size_t refusal_kinds_;
  };

  // `requests` names the model series; it must outlive this object. `refusal_names`: the
  // `reason` label of each HTTP/2 refusal index (h2::refusal_name, which metrics/ cannot see).
  GrpcMetrics(std::size_t threads, const RequestMetrics& requests,
              std::vector<std::string> refusal_names = {});
  ~GrpcMetrics() override;

  Shard& shard(std::size_t thread) { return *shards_[thread]; }
  std::size_t method_index(std::string_view service, std::string_view method);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const RequestMetrics& requests_;
  std::size_t series_;
  LabelTable methods_;  // "service/method"
  std::vector<std::string> refusal_names_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace mlsidecar::metrics
