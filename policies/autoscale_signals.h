// AutoscaleSignals: what one replica tells the autoscaler. I/O threads report request starts and
// ends, queue entries and exits, and generated output tokens; a sampling thread calls update(now)
// about once a second, which folds what happened since the last update into the stable and panic
// windows and recomputes the load ratios (see load_ratio.h); Collect() publishes them:
//   mlsidecar_autoscale_load_ratio{window="stable"|"panic"}   gauge, 1.0 = at target
//   mlsidecar_autoscale_panic_mode                             gauge, 1 while panicking
//   mlsidecar_autoscale_signal_ratio{signal,window}            gauge, each configured signal
//   mlsidecar_concurrency_average                              gauge, stable window
//   mlsidecar_autoscale_latency_quantile_seconds{quantile}     gauge, when a latency SLO is set
// Concurrency counts a request from on_request_start (its arrival at the sidecar, so queued
// requests count, as in Knative's queue-proxy) to on_request_end.
//
// Thread safety: the on_* methods may be called from any thread. They are sharded by thread (each
// thread is given a shard on its first call, round-robin; with `shards` >= the number of I/O
// threads no two share one) and each shard has a tiny spin lock that only its thread and the
// sampler touch, so the reporting threads never contend with each other and never wait for a
// mutex. update() and Collect() may be called from any thread; they serialize on mutexes that the
// reporting threads never take.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "policies/latency_window.h"
#include "policies/load_ratio.h"
#include "policies/time_weighted_window.h"

namespace mlsidecar::policies {

class AutoscaleSignals : public prometheus::Collectable {
 public:
  // `start` is the beginning of history: the windows average over [start, now] until full.
  AutoscaleSignals(SignalParams params, TimePoint start);
  ~AutoscaleSignals() override;

  void on_request_start(TimePoint now);
  void on_request_end(TimePoint now, Duration latency);  // adds a latency sample
  void on_request_end(TimePoint now);                    // no latency sample (a shed request)
  void on_queue_enter(TimePoint now);
  void on_queue_leave(TimePoint now);
  void on_output_tokens(std::uint64_t tokens, TimePoint now);

  // Folds the shards into the windows up to `now` and recomputes the ratios.
  LoadRatios update(TimePoint now);

  LoadRatios ratios() const;
  SignalInputs inputs() const;
  const SignalParams& params() const { return params_; }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Shard;
  Shard& my_shard();
  void change_level(TimePoint now, int concurrency_delta, int queue_delta);

  const SignalParams params_;
  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_count_;

  std::mutex update_mutex_;  // guards the windows and last_update_
  TimePoint last_update_;
  TimeWeightedWindow concurrency_;
  TimeWeightedWindow queue_;
  TimeWeightedWindow tokens_;
  TimeWeightedWindow requests_;
  std::unique_ptr<LatencyWindow> latency_;  // null when no latency SLO is set
  std::vector<std::uint32_t> latency_scratch_;

  mutable std::mutex snapshot_mutex_;  // guards inputs_ and ratios_
  SignalInputs inputs_;
  LoadRatios ratios_;
};

}  // namespace mlsidecar::policies
