// Load ratio: the one number the autoscaler targets, where 1.0 means "this replica is at target".
// Each configured signal gives a ratio of what it measures to its per-replica target, over the
// stable window (60 s) and the panic window (6 s):
//   concurrency     time-weighted average concurrency / target_concurrency
//   queue           time-weighted average queue length / target_queue_length
//   output_tokens   output tokens per second / target_output_tokens_per_second
//   request_rate    requests per second / target_requests_per_second
//   latency         latency quantile over the stable window / latency_slo (stable window only;
//                   in both windows, so it can hold the panic ratio up but never trigger panic)
// A window's ratio is the largest of its signals (the busiest resource decides). The reported
// panic ratio follows the panic window only while it is at least panic_threshold (2.0, Knative's
// 200%) times the stable ratio, and equals the stable ratio otherwise, so an HPA on
// max(stable, panic) reacts to a burst within seconds but calms down on the stable window.
//
// Example: T = 10, stable average concurrency 5, panic average 12: stable = 0.5, panic raw = 1.2
// >= 2 * 0.5, so panic = 1.2. With a panic average of 9, raw 0.9 < 1.0, so panic = 0.5.
//
// Thread safety: pure functions on values.
#pragma once

#include <chrono>
#include <cstddef>

namespace mlsidecar::policies {

struct SignalParams {
  double target_concurrency = 0.0;  // 0 disables the signal (likewise for the targets below)
  double target_queue_length = 0.0;
  double target_output_tokens_per_second = 0.0;
  double target_requests_per_second = 0.0;
  double latency_slo_seconds = 0.0;
  double latency_quantile = 0.95;
  std::chrono::nanoseconds stable_window = std::chrono::seconds(60);
  std::chrono::nanoseconds panic_window = std::chrono::seconds(6);
  double panic_threshold = 2.0;
  std::size_t shards = 0;  // AutoscaleSignals only; 0 = std::thread::hardware_concurrency()
};

// What the windows measured.
struct SignalInputs {
  double concurrency_stable = 0.0, concurrency_panic = 0.0;
  double queue_stable = 0.0, queue_panic = 0.0;
  double output_tokens_per_second_stable = 0.0, output_tokens_per_second_panic = 0.0;
  double requests_per_second_stable = 0.0, requests_per_second_panic = 0.0;
  double latency_quantile_seconds = 0.0;  // 0 when no request finished in the stable window
};

enum class Signal { concurrency, queue, output_tokens, request_rate, latency };
inline constexpr std::size_t kSignalCount = 5;
const char* signal_name(Signal s);

struct LoadRatios {
  double stable = 0.0;     // max over signals, stable window
  double panic_raw = 0.0;  // max over signals, panic window
  double panic = 0.0;      // reported: panic_raw while panicking, else stable
  bool panicking = false;
  // Per signal, NaN-free; 0 for a disabled signal. [signal][0 = stable, 1 = panic]
  double by_signal[kSignalCount][2] = {};
  bool enabled[kSignalCount] = {};
};

LoadRatios compute_load_ratios(const SignalParams& params, const SignalInputs& in);

}  // namespace mlsidecar::policies
