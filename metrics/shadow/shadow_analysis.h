// ShadowAnalysis: what the shadow worker learns from each pair of answers to one request, the
// primary model's (the one the client got) and the shadow model's (a copy of the request sent to
// --shadow-upstream), exported per shadow version as the mlsidecar_shadow_* families
// (docs/shadow.md):
//
//   mlsidecar_shadow_requests_total{version,route,code}      copies sent; code is the shadow's
//                                                            status class (2xx..5xx) or "error"
//                                                            (no answer: refused, reset, timeout)
//   mlsidecar_shadow_dropped_total{version,reason}           copies not sent: queue_full,
//                                                            rate_limited, too_large, memory,
//                                                            abandoned, primary_failed, shutdown
//   mlsidecar_shadow_compared_total{version,route}           pairs compared (shadow answered)
//   mlsidecar_shadow_status_matches_total{version,route}     ... whose status classes agree
//   mlsidecar_shadow_latency_ratio{version,route}            histogram: shadow / primary latency
//   mlsidecar_shadow_output_compared_total{version,output}   label or argmax outputs compared
//   mlsidecar_shadow_output_matches_total{version,output}    ... that agree
//   mlsidecar_shadow_output_abs_difference{version,output}   histogram, numeric outputs
//   mlsidecar_shadow_output_relative_difference{version,output} histogram, |s-p| / max(|p|, eps)
//   mlsidecar_shadow_output_skipped_total{version,reason}   answered pairs whose outputs were not
//                                                            compared: not_2xx, truncated,
//                                                            unreadable, shape_mismatch,
//                                                            encoded
//   mlsidecar_shadow_output_token_ratio{version}             histogram, LLM: shadow / primary
//                                                            output tokens
//   mlsidecar_shadow_finish_reason_compared_total{version}   LLM pairs with both finish reasons
//   mlsidecar_shadow_finish_reason_matches_total{version}    ... that agree
//   mlsidecar_shadow_drift_{psi,js_distance,ks_statistic,wasserstein,chi2_pvalue,window_samples}
//                         {version,feature,direction="output"}  the shadow's outputs against the
//                                                            reference profile (with a profile
//                                                            that has output features); every
//                                                            other family of the drift engine
//                                                            too, renamed the same way
//                                                            (mlsidecar_shadow_feature_*, ...)
//
// What is compared, and how, is in output_comparison.h and docs/shadow.md.
//
// `output` is a feature name from the payload readers (bounded: the profile's output features,
// the --shadow-*-outputs flags, at most kMaxOutputs; others fold into "other").
//
// Thread safety: record_dropped(producer, ...) from one thread per producer index at a time (each
// producer has its own cache line of counters, written with a relaxed load and store, no locked
// instruction; Collect() sums them); record_pair() from the one shadow worker thread; Collect()
// from any thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/drift/payload.h"
#include "metrics/route.h"

namespace mlsidecar::shadow {

inline constexpr std::size_t kMaxOutputs = 64;

enum class DropReason : std::uint8_t {
  queue_full,      // the I/O thread's queue to the worker is full
  rate_limited,    // --shadow-max-rps spent
  too_large,       // the request body is over --shadow-max-body (declared or chunked)
  memory,          // the I/O thread's budget for copies being gathered is spent
  abandoned,       // the client left, or its body never arrived whole
  primary_failed,  // the primary model gave no answer (shed, refused, timed out, reset)
  shutdown,        // queued or in flight when the sidecar stopped
};
inline constexpr std::size_t kDropReasonCount = 7;
std::string_view drop_reason_name(DropReason reason);

struct ShadowAnalysisSettings {
  std::string version = "shadow";  // --shadow-version: the `version` label
  std::string profile_path;        // --drift-profile (may be empty: no categorical hints, no
                                   // shadow drift)
  drift::PayloadFormat format = drift::PayloadFormat::automatic;  // --drift-format
  std::vector<std::string> class_outputs;   // --shadow-class-outputs: compared as labels
  std::vector<std::string> argmax_outputs;  // --shadow-argmax-outputs: vectors, argmax compared
  std::size_t drift_window = 1000;          // --drift-window
  std::size_t producers = 1;  // threads that record drops: the I/O threads and the worker
  // The shadow drift engine's queue: bytes of bodies waiting for its worker. It sees at most
  // --shadow-max-rps bodies/s, so less than the primary's drift engine (16 MiB per producer).
  std::size_t drift_queue_bytes = 4 << 20;
  std::chrono::milliseconds drift_interval{10000};  // --drift-interval
};

// One answer, as the worker saw it. `body` is at most --shadow-max-body; `truncated` when the
// answer was longer (a truncated body is not compared for outputs).
struct Answer {
  int status = 0;  // 0: no answer (refused, reset, timed out)
  double seconds = 0;
  std::string_view content_type;
  std::string_view body;
  bool truncated = false;
  bool encoded = false;  // a Content-Encoding other than identity: the body is not compared
};

struct ShadowPair {
  Route route = Route::other;
  std::string_view request_id;    // the client's x-request-id, as the shadow got it
  std::string_view request_body;  // the request both models got
  Answer primary;
  Answer shadow;
};

class ShadowAnalysis : public prometheus::Collectable {
 public:
  // Throws std::runtime_error (one line) for an unreadable profile.
  explicit ShadowAnalysis(ShadowAnalysisSettings settings);
  ~ShadowAnalysis() override;
  ShadowAnalysis(const ShadowAnalysis&) = delete;
  ShadowAnalysis& operator=(const ShadowAnalysis&) = delete;

  void start();  // starts the shadow drift engine's worker, if any
  void stop();   // stops and joins it; idempotent

  // `producer` < settings.producers; one thread at a time per producer.
  void record_dropped(std::size_t producer, DropReason reason) noexcept;
  // A copy that was sent, with the shadow's answer (status 0: none) beside the primary's.
  void record_pair(const ShadowPair& pair);

  // Computes the shadow drift statistics now instead of on the drift interval (tests).
  void compute_drift_now();
  // The shadow drift engine's /drift document with "version" (--shadow-version) added; nullopt
  // when there is no shadow drift (no profile, or no output features in it). Any thread.
  std::optional<std::string> drift_json() const;
  // The last pairs that disagreed (DisagreementLog::json()), for /shadow. Any thread.
  std::string disagreements_json() const;

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Impl;
  void compare_outputs(const ShadowPair& pair);  // two 2xx whole bodies
  std::unique_ptr<Impl> impl_;
};

}  // namespace mlsidecar::shadow
