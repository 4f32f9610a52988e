#include "policies/load_ratio.h"

#include <algorithm>

namespace mlsidecar::policies {

const char* signal_name(Signal s) {
  switch (s) {
    case Signal::concurrency:
      return "concurrency";
    case Signal::queue:
      return "queue";
    case Signal::output_tokens:
      return "output_tokens";
    case Signal::request_rate:
      return "request_rate";
    case Signal::latency:
      return "latency";
  }
  return "unknown";
}

LoadRatios compute_load_ratios(const SignalParams& p, const SignalInputs& in) {
  LoadRatios r;
  auto set = [&r](Signal s, double target, double stable, double panic) {
    if (target <= 0.0) return;
    const auto i = static_cast<std::size_t>(s);
    r.enabled[i] = true;
    r.by_signal[i][0] = stable / target;
    r.by_signal[i][1] = panic / target;
  };
  set(Signal::concurrency, p.target_concurrency, in.concurrency_stable, in.concurrency_panic);
  set(Signal::queue, p.target_queue_length, in.queue_stable, in.queue_panic);
  set(Signal::output_tokens, p.target_output_tokens_per_second, in.output_tokens_per_second_stable,
      in.output_tokens_per_second_panic);
  set(Signal::request_rate, p.target_requests_per_second, in.requests_per_second_stable,
      in.requests_per_second_panic);
  set(Signal::latency, p.latency_slo_seconds, in.latency_quantile_seconds,
      in.latency_quantile_seconds);
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    r.stable = std::max(r.stable, r.by_signal[i][0]);
    r.panic_raw = std::max(r.panic_raw, r.by_signal[i][1]);
  }
  r.panicking = r.panic_raw > 0.0 && r.panic_raw >= p.panic_threshold * r.stable;
  r.panic = r.panicking ? r.panic_raw : r.stable;
  return r;
}

}  // namespace mlsidecar::policies
