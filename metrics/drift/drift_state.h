// Internal state of DriftEngine shared by drift_engine.cpp (worker) and drift_report.cpp
// (publishing). Not part of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/drift_window.h"
#include "metrics/drift/sample_queue.h"

namespace mlsidecar::drift {

// One I/O thread's share: its queue, its sampling generator and its drop counters, on their own
// cache lines so producers never write to a line another producer writes.
struct alignas(64) DriftEngine::Producer {
  Producer(std::size_t capacity, std::size_t bytes, std::uint64_t seed)
      : queue(capacity, bytes), rng(seed) {}
  SampleQueue queue;
  std::uint64_t rng;  // xorshift64 state, touched only by the producer
  alignas(64) std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> too_large{0};
};

// One (feature, direction) being watched. The shape (cells, labels) is fixed at construction;
// the windows belong to the worker (state_mutex_); counters are atomics read by Collect().
struct DriftEngine::FeatureState {
  FeatureState(const FeatureProfile& p, std::size_t window)
      : profile(&p),
        numeric(p.kind == FeatureKind::numeric),
        ref_ratios(p.cell_ratios()),
        values(numeric ? window : 1),
        cells(window),
        window_counts(ref_ratios.size(), 0),
        cell_observations(std::make_unique<std::atomic<std::uint64_t>[]>(ref_ratios.size())) {
    for (std::size_t i = 0; i < ref_ratios.size(); ++i) labels.push_back(p.cell_label(i));
  }
  const FeatureProfile* profile;
  bool numeric;
  std::vector<double> ref_ratios;
  std::vector<std::string> labels;
  DriftWindow<double> values;        // numeric features
  // The cell (bin or category) of each value in the window, in step with `values` for numeric
  // features, so that an evicted value's bin is known without searching the edges again.
  DriftWindow<std::uint32_t> cells;
  // Values per cell currently in the window, kept as values enter and leave it, so that the
  // binned statistics need no pass over the window.
  std::vector<std::uint32_t> window_counts;
  std::unique_ptr<std::atomic<std::uint64_t>[]> cell_observations;  // since start
  std::atomic<std::uint64_t> missing{0};
  std::atomic<std::uint64_t> invalid{0};  // a text where a number was expected
};

inline constexpr double kNotComputed = std::numeric_limits<double>::quiet_NaN();

struct FeatureResult {
  std::size_t window_samples = 0;
  std::vector<double> window_ratios;  // per cell
  double psi = kNotComputed;
  double js_distance = kNotComputed;
  double ks_statistic = kNotComputed;
  double ks_pvalue = kNotComputed;
  bool ks_exact = true;
  double wasserstein = kNotComputed;
  double wasserstein_normalized = kNotComputed;
  double chi2_statistic = kNotComputed;
  double chi2_pvalue = kNotComputed;
};

struct DriftEngine::Snapshot {
  bool computed = false;
  std::chrono::system_clock::time_point computed_at;
  double computation_seconds = 0.0;
  std::vector<FeatureResult> features;  // parallel to features_
};

}  // namespace mlsidecar::drift
