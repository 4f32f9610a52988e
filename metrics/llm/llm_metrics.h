// The LLM serving metrics, labelled by model:
//   mlsidecar_time_to_first_token_seconds      histogram, 1 ms .. 320 s
//   mlsidecar_time_per_output_token_seconds    histogram, 1 ms .. 1 s
//   mlsidecar_request_output_tokens            histogram, 1 .. 32768 tokens
//   mlsidecar_prompt_tokens_total              counter (from usage only)
//   mlsidecar_output_tokens_total{source}      counter, source "usage" | "counted"
//   mlsidecar_finish_reason_total{reason}      counter, reason folded by classify_finish_reason
//   mlsidecar_stream_aborted_total{by}         counter, by "client" | "model"
// and, without a model label, mlsidecar_llm_tap_errors_total{reason} for streams the tap gave up
// on ("malformed", "too_large", "too_deep", "unrecognized"). The model label is the summary's
// model (else `default_model`), folded by a LabelTable of `model_cap` entries ("other" past it).
//
// Storage: one shard per I/O thread, each with a cell block per model slot; record() does a few
// relaxed atomic increments in its thread's shard and takes no lock (except the LabelTable's, the
// first time a model name is seen). Collect() sums the shards when /metrics is scraped.
//
// Thread safety: record() may be called from any thread, ideally with its own `thread` index
// (taken modulo `threads`; sharing an index is correct, only slower); Collect() from any thread
// at any time. Collect() emits only models recorded at least once, with every label value of
// the fixed sets (zeros included) so that rate() and alerts see series from the start.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "metrics/label_table.h"
#include "metrics/llm/generation_tap.h"

namespace mlsidecar::llm {

class LlmMetrics : public prometheus::Collectable {
 public:
  LlmMetrics(std::size_t threads, std::size_t model_cap, std::string default_model = "unknown");
  ~LlmMetrics() override;
  LlmMetrics(const LlmMetrics&) = delete;
  LlmMetrics& operator=(const LlmMetrics&) = delete;

  void record(std::size_t thread, const GenerationSummary& summary);
  std::vector<prometheus::MetricFamily> Collect() const override;

  static const std::vector<double>& ttft_bounds();
  static const std::vector<double>& tpot_bounds();
  static const std::vector<double>& output_token_bounds();

 private:
  struct ModelCells;
  struct Shard;

  std::size_t model_slot(std::string_view model);

  const std::size_t threads_;
  const std::string default_model_;
  metrics::LabelTable models_;
  std::unique_ptr<std::atomic<bool>[]> used_;  // slot recorded at least once (release/acquire)
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace mlsidecar::llm
