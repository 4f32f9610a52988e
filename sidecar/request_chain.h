// The request chain: every part that watches or gates a proxied request, built once in the order
// a request meets them (docs/architecture.md, "The life of a request", has the same numbers):
//
//   1. request metrics   counts, latency and size histograms, the in-flight gauge (always on)
//   2. autoscale signals concurrency, queue, latency and tokens -> the load ratio (always on)
//   3. admission         concurrency limit and FIFO queue; without --container-concurrency it
//                        admits at once and the session does not call it
//   4. LLM tap           tokens and their timing on generation routes (always on)
//   5. drift tap         sampled, bounded body copies for the drift worker; a no-op without
//                        --drift-profile
//   6. shadow tap        a sampled, rate-capped copy of model calls and the primary's answer,
//                        queued for the shadow worker that repeats them to --shadow-upstream and
//                        compares the answers (shadow_traffic.h); a no-op without
//                        --shadow-upstream
//
// The chain owns these parts and the thread that advances the autoscaling windows; every I/O
// thread gets it by reference at construction, and each session builds its RequestTaps (the
// per-connection state of parts 4 to 6) and InFlight guards (parts 1 and 2) from it. Nothing in
// it is null and nothing in it is virtual: the request path calls concrete types.
//
// Thread safety: built and started before the I/O threads run, stopped after they end. The parts
// themselves state their own promises (per-thread shards, lock-free queues).
#pragma once

#include <prometheus/collectable.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/direction.h"
#include "metrics/request_metrics.h"
#include "metrics/route.h"
#include "sidecar/config.h"
#include "sidecar/shadow_traffic.h"

namespace mlsidecar {

namespace drift {
class DriftEngine;
}
namespace llm {
class LlmMetrics;
}
namespace metrics {
class GrpcMetrics;
}
namespace policies {
class AdmissionController;
class AutoscaleSignals;
}  // namespace policies

// Part 5 as the request path sees it: which bodies of a request to copy, and where they go. Off
// (no profile), it picks nothing, so nothing is copied.
class DriftTap {
 public:
  struct Pick {
    bool input = false;   // copy the request body
    bool output = false;  // copy the response body
  };

  DriftTap() = default;  // off
  explicit DriftTap(drift::DriftEngine& engine) : engine_(&engine) {}

  // The sampling draw for one request on `thread`: only model calls are read, and only the
  // directions the profile has features for.
  Pick pick(std::size_t thread, Route route) const;
  // Hands a finished body to the drift worker (or counts it as too large). Called only for a
  // direction pick() chose.
  void hand_over(std::size_t thread, drift::Direction direction, Route route, bool overflow,
                 std::string_view body) const;
  // The same for one gRPC message of the Open Inference Protocol V2 on `route` (a
  // ModelInferRequest as input, a ModelInferResponse as output): one whole message, its 5-byte
  // prefix stripped and uncompressed; `overflow` when it was over the cap and not kept. It is
  // read as protobuf whatever --drift-format says.
  void hand_over_v2_grpc(std::size_t thread, drift::Direction direction, Route route, bool overflow,
                         std::string_view message) const;
  // Counts a sampled gRPC message that is not handed over because it is compressed in a
  // grpc-encoding the relay does not decompress (mlsidecar_drift_skipped_total{reason=
  // "compressed"}).
  void count_compressed(std::size_t thread) const;

 private:
  drift::DriftEngine* engine_ = nullptr;
};

class RequestChain {
 public:
  // Builds parts 1 to 6 from the configuration; throws ConfigError for a bad drift profile.
  explicit RequestChain(const Config& config);
  ~RequestChain();
  RequestChain(const RequestChain&) = delete;
  RequestChain& operator=(const RequestChain&) = delete;

  // Starts the drift worker, the shadow worker and the signal sampler; stop() ends and joins
  // them (idempotent).
  void start();
  void stop();

  const Config& config() const { return config_; }
  metrics::RequestMetrics& metrics() const { return *metrics_; }
  // Part 1's gRPC counter (mlsidecar_grpc_requests_total), fed by the HTTP/2 path.
  metrics::GrpcMetrics& grpc() const { return *grpc_; }
  policies::AutoscaleSignals& signals() const { return *signals_; }
  policies::AdmissionController& admission() const { return *admission_; }
  bool admission_limited() const { return admission_limited_; }
  llm::LlmMetrics& llm() const { return *llm_; }
  const DriftTap& drift() const { return drift_tap_; }
  const ShadowTap& shadow() const { return shadow_tap_; }

  // What /metrics collects, in the order of the chain.
  const std::vector<std::shared_ptr<prometheus::Collectable>>& collectables() const {
    return collectables_;
  }
  // The /drift document (with the shadow's output drift under "shadow" when there is one);
  // nullopt when drift is off.
  std::optional<std::string> drift_json() const;
  // The /shadow document (the last requests the shadow answered differently); nullopt when
  // shadow traffic is off.
  std::optional<std::string> shadow_json() const;

 private:
  struct Sampler;

  const Config& config_;
  std::shared_ptr<metrics::RequestMetrics> metrics_;
  std::shared_ptr<metrics::GrpcMetrics> grpc_;
  std::shared_ptr<policies::AutoscaleSignals> signals_;
  std::shared_ptr<policies::AdmissionController> admission_;
  bool admission_limited_ = false;
  std::shared_ptr<llm::LlmMetrics> llm_;
  std::shared_ptr<drift::DriftEngine> drift_;  // null when off; the request path sees drift_tap_
  DriftTap drift_tap_;
  std::unique_ptr<ShadowTraffic> shadow_;  // null when off; the request path sees shadow_tap_
  ShadowTap shadow_tap_;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::unique_ptr<Sampler> sampler_;
};

// Parts 1 and 2 for one request: started by the constructor, ended on every path. finish() ends
// the request with its sample (status, latency, sizes); a guard destroyed without finish() (a
// session torn down by shutdown) takes the request out of the in-flight gauge and the concurrency
// signal without a latency sample, so neither drifts upward.
//
// Thread safety: none; lives in one session's coroutine on its I/O thread.
class InFlight {
 public:
  using Clock = std::chrono::steady_clock;
  // `load`: whether the request counts toward the autoscaling signals; health checks do not (as
  // Knative's queue-proxy leaves probes out), so kubelet probes never look like traffic.
  InFlight(metrics::RequestMetrics::Shard& metrics, policies::AutoscaleSignals& signals,
           Clock::time_point now, bool load = true);
  ~InFlight();
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

  void finish(const metrics::RequestSample& sample, Clock::time_point now);

 private:
  metrics::RequestMetrics::Shard& metrics_;
  policies::AutoscaleSignals& signals_;
  bool load_;
  bool open_ = true;
};

}  // namespace mlsidecar
