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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  std::atomic<std::uint64_t> compressed{0};
};

// What the worker keeps per cell (bin or category) of a feature: the values of the window in it,
// and the values observed since start (read by Collect()).
struct DriftCell {
  std::atomic<std::uint64_t> observations{0};
  std::uint32_t window = 0;
};

// One window slot: the value and its cell, side by side (one cache line stream per feature).
struct WindowEntry {
  double value = 0.0;  // numeric features only
  std::uint32_t cell = 0;
};

// One (feature, direction) being watched. The shape (cells, labels) is fixed at construction;
// the window belongs to the worker (state_mutex_); counters are atomics read by Collect().
// What ingest touches per value comes first, and the bin edges and cells of all features lie in
// two arrays of the engine, one after the other: the worker reads a body after the I/O thread
// has run for a few ms, so most of this is out of the L1 cache then, and scattered small
// allocations cost a miss each.
struct DriftEngine::FeatureState {
  FeatureState(const FeatureProfile& p, std::size_t window_size, const double* edges_at,
               DriftCell* cells_at)
      : numeric(p.kind == FeatureKind::numeric),
        edge_count(numeric ? p.edges.size() : 0),
        edges(edges_at),
        cells(cells_at),
        window(window_size),
        profile(&p),
        ref_ratios(p.cell_ratios()) {
    for (std::size_t i = 0; i < ref_ratios.size(); ++i) labels.push_back(p.cell_label(i));
  }

  // The bin of a finite value: FeatureProfile::bin_of (the upper bound of x among the sorted
  // edges), on the engine's copy of the edges. Short edge lists are counted (edges <= x, the
  // same position) without branches, two at a time where SSE2 is there: a binary search's
  // mispredicted branches cost more than the handful of compares.
  std::size_t bin_of(double x) const {
    if (edge_count > 32) return profile->bin_of(x);
    std::size_t i = 0, n = 0;
#if defined(__SSE2__)
    const __m128d value = _mm_set1_pd(x);
    __m128i below = _mm_setzero_si128();  // per lane, minus the number of edges <= x
    for (; i + 2 <= edge_count; i += 2) {
      below = _mm_add_epi64(below, _mm_castpd_si128(_mm_cmple_pd(_mm_loadu_pd(edges + i), value)));
    }
    n = static_cast<std::size_t>(
        -(_mm_cvtsi128_si64(below) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(below, below))));
#endif
    for (; i < edge_count; ++i) n += edges[i] <= x ? 1 : 0;
    return n;
  }

  const bool numeric;
  const std::size_t edge_count;
  const double* const edges;  // the profile's bin edges (numeric)
  DriftCell* const cells;     // ref_ratios.size() cells
  DriftWindow<WindowEntry> window;
  std::atomic<std::uint64_t> missing{0};
  std::atomic<std::uint64_t> invalid{0};  // a text where a number was expected
  const FeatureProfile* const profile;
  const std::vector<double> ref_ratios;
  std::vector<std::string> labels;
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
