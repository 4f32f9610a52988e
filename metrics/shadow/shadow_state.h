// Internal state of ShadowAnalysis shared by shadow_analysis.cpp (recording, on the shadow
// worker) and shadow_exposition.cpp (Collect). Not part of the public API.
//
// Every cell is an atomic with one writer: the dropped counts a row per producer (an I/O thread,
// or the worker), the rest the shadow worker; Collect() reads them with relaxed loads, so no lock
// is held and no cache line is written by two threads.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/reference_profile.h"
#include "metrics/label_table.h"
#include "metrics/shadow/disagreement_log.h"
#include "metrics/shadow/output_comparison.h"
#include "metrics/shadow/shadow_analysis.h"
#include "metrics/shard_histogram.h"

namespace mlsidecar::shadow {

using Counter = std::atomic<std::uint64_t>;

// Status classes: 1xx..5xx, then "error" (no answer, or a status outside 100..599).
inline constexpr std::size_t kCodeCount = 6;
inline constexpr std::size_t kErrorCode = 5;

// Ratio buckets (latency, output tokens): powers of two for the tails, and 0.8, 0.9, 1.1, 1.25
// so that "within 10%" and "within 25%" are bucket bounds that rules read without
// interpolation. The same number of bounds on each side of 1 (0.8 is 1/1.25).
const metrics::BucketBounds& ratio_buckets();
// |s - p|: 0 (exactly equal) then decades 1e-6..1e3.
const metrics::BucketBounds& abs_difference_buckets();
// |s - p| / max(|p|, 1e-12): 0, then decades 1e-6 (float32 rounding) .. 10 (1000%).
const metrics::BucketBounds& relative_difference_buckets();

struct RouteCells {
  std::array<Counter, kCodeCount> requests{};
  Counter compared{0};
  Counter status_matches{0};
  metrics::ShardHistogram latency_ratio;
};

struct OutputCells {
  std::atomic<bool> labels{false};   // compared as a label or argmax: counters published
  std::atomic<bool> numbers{false};  // compared as numbers: histograms published
  Counter compared{0};
  Counter matches{0};
  metrics::ShardHistogram absolute;
  metrics::ShardHistogram relative;
};

// One producer's dropped counts, alone on its cache line(s).
struct alignas(64) DropCells {
  std::array<Counter, kDropReasonCount> counts{};
};

struct ShadowAnalysis::Impl {
  explicit Impl(ShadowAnalysisSettings s);

  const ShadowAnalysisSettings settings;
  const std::optional<drift::ReferenceProfile> profile;
  OutputComparison comparison;                // the shadow worker's only
  std::unique_ptr<drift::DriftEngine> drift;  // null without output features in the profile

  metrics::LabelTable outputs{kMaxOutputs + 1};  // kMaxOutputs names, then "other"
  std::unique_ptr<OutputCells[]> output_cells = std::make_unique<OutputCells[]>(kMaxOutputs + 1);

  const std::size_t producer_rows;       // settings.producers, at least 1
  std::unique_ptr<DropCells[]> dropped;  // producer_rows rows
  std::array<RouteCells, kRouteCount> routes;
  std::array<Counter, kSkipReasonCount> skipped{};
  metrics::ShardHistogram token_ratio;
  Counter finish_compared{0};
  Counter finish_matches{0};
  DisagreementLog disagreements;
};

}  // namespace mlsidecar::shadow
