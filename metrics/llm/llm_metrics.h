// The LLM serving metrics, labelled by model and version:
//   mlsidecar_time_to_first_token_seconds      histogram, 1 ms .. 320 s
//   mlsidecar_time_per_output_token_seconds    histogram, 1 ms .. 1 s
//   mlsidecar_request_output_tokens            histogram, 1 .. 32768 tokens
//   mlsidecar_prompt_tokens_total              counter (from usage only)
//   mlsidecar_output_tokens_total{source}      counter, source "usage" | "counted"
//   mlsidecar_finish_reason_total{reason}      counter, reason folded by classify_finish_reason
//   mlsidecar_stream_aborted_total{by}         counter, by "client" | "model"
// and, without a model label, mlsidecar_llm_tap_errors_total{reason} for streams the tap gave up
// on ("malformed", "too_large", "too_deep", "unrecognized"). Model and version are the request's
// series in RequestMetrics (`series` of record(), from RequestMetrics::model_index()): the same
// labels as the request families of that request, folded the same way past --max-models, so one
// model/version selector picks a version's requests and its tokens alike (canary gates, the
// dashboard's version comparison).
//
// Storage: one shard per I/O thread, each with a cell block per series; record() does a few
// relaxed atomic increments in its thread's shard and takes no lock. Collect() sums the shards
// when /metrics is scraped.
//
// Thread safety: record() may be called from any thread, ideally with its own `thread` index
// (taken modulo `threads`; sharing an index is correct, only slower); Collect() from any thread
// at any time. Collect() emits only series recorded at least once, with every label value of
// the fixed sets (zeros included) so that rate() and alerts see series from the start. The
// RequestMetrics must outlive this object.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "metrics/llm/generation_tap.h"

namespace mlsidecar::metrics {
class RequestMetrics;
}

namespace mlsidecar::llm {

class LlmMetrics : public prometheus::Collectable {
 public:
  LlmMetrics(std::size_t threads, const metrics::RequestMetrics& series);
  ~LlmMetrics() override;
  LlmMetrics(const LlmMetrics&) = delete;
  LlmMetrics& operator=(const LlmMetrics&) = delete;

  // One finished generation of the request whose series (model/version) is `series`.
  void record(std::size_t thread, std::size_t series, const GenerationSummary& summary);
  std::vector<prometheus::MetricFamily> Collect() const override;

  static const std::vector<double>& ttft_bounds();
  static const std::vector<double>& tpot_bounds();
  static const std::vector<double>& output_token_bounds();

 private:
  struct ModelCells;
  struct Shard;

  const std::size_t threads_;
  const metrics::RequestMetrics& series_;
  const std::size_t capacity_;                 // series_.series_capacity()
  std::unique_ptr<std::atomic<bool>[]> used_;  // series recorded at least once (release/acquire)
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace mlsidecar::llm
