#include "metrics/drift/drift_engine.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "metrics/drift/drift_state.h"
#include "metrics/drift/json_values.h"
#include "metrics/drift/ks_pvalue_cache.h"
#include "metrics/drift/statistics.h"

namespace mlsidecar::drift {
namespace {

DriftSettings validated(DriftSettings s) {
  auto bad = [&](const std::string& what) { throw std::runtime_error("drift settings: " + what); };
  if (s.window < 1) bad("--drift-window must be at least 1");
  if (s.interval.count() < 1) bad("--drift-interval must be positive");
  if (!(s.sample_rate >= 0.0 && s.sample_rate <= 1.0)) bad("--drift-sample-rate must be in 0..1");
  if (s.max_features < 1) bad("--drift-max-features must be at least 1");
  if (s.queue_capacity < 1) bad("the drift queue capacity must be at least 1");
  return s;
}

ReferenceProfile load_checked(const DriftSettings& s) {
  if (s.profile_path.empty()) throw std::runtime_error("drift: no profile path (--drift-profile)");
  return load_profile(s.profile_path);
}

// The worker's counters are written only under state_mutex_ (one writer at a time) and read by
// Collect(): a relaxed load and store, without the locked read-modify-write of fetch_add (about
// 20 cycles each, once per value read).
void add_locked(std::atomic<std::uint64_t>& counter, std::uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::uint64_t xorshift64(std::uint64_t& state) {
  std::uint64_t x = state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  state = x;
  return x;
}

}  // namespace

DriftEngine::DriftEngine(const DriftSettings& settings, std::size_t producers)
    : DriftEngine(validated(settings), producers, load_checked(settings)) {}

DriftEngine::DriftEngine(DriftSettings settings, std::size_t producers, ReferenceProfile profile)
    : settings_(validated(std::move(settings))),
      profile_(std::move(profile)),
      ks_cache_(std::make_unique<KsPvalueCache>()) {
  if (producers < 1) producers = 1;
  if (settings_.sample_rate < 1.0) {
    sample_threshold_ = static_cast<std::uint64_t>(std::ldexp(settings_.sample_rate, 64));
  }
  for (std::size_t p = 0; p < producers; ++p) {
    producers_.push_back(std::make_unique<Producer>(settings_.queue_capacity, settings_.queue_bytes,
                                                    0x9E3779B97F4A7C15ULL * (p + 1)));
  }
  init();
}

void DriftEngine::init() {
  // The features kept (the rest count as untracked), then their edges and cells in two runs.
  const std::size_t kept = std::min(profile_.features.size(), settings_.max_features);
  std::size_t edge_total = 0, cell_total = 0;
  for (std::size_t i = 0; i < kept; ++i) {
    const FeatureProfile& f = profile_.features[i];
    if (f.kind == FeatureKind::numeric) edge_total += f.edges.size();
    cell_total += f.cell_count();
  }
  edges_.reserve(edge_total);
  cells_ = std::make_unique<DriftCell[]>(cell_total);
  std::size_t cell_at = 0;
  for (std::size_t i = 0; i < kept; ++i) {
    const FeatureProfile& f = profile_.features[i];
    const auto d = static_cast<std::size_t>(f.direction);
    lookup_[d].emplace(f.name, features_.size());
    by_direction_[d].push_back(features_.size());
    const double* edges_at = edges_.data() + edges_.size();
    if (f.kind == FeatureKind::numeric) edges_.insert(edges_.end(), f.edges.begin(), f.edges.end());
    features_.push_back(
        std::make_unique<FeatureState>(f, settings_.window, edges_at, cells_.get() + cell_at));
    cell_at += f.cell_count();
  }
  for (std::size_t d = 0; d < kDirectionCount; ++d) {
    naming_[d].columns = &profile_.columns(static_cast<Direction>(d));
    naming_[d].tensor_columns = &profile_.tensor_columns;
  }
  auto empty = std::make_shared<Snapshot>();
  empty->features.resize(features_.size());
  for (std::size_t i = 0; i < features_.size(); ++i) {
    empty->features[i].window_ratios.assign(features_[i]->ref_ratios.size(), 0.0);
  }
  snapshot_ = std::move(empty);
}

DriftEngine::~DriftEngine() { stop(); }

void DriftEngine::start() {
  std::lock_guard lock(run_mutex_);
  if (running_) return;
  running_ = true;
  worker_ = std::thread([this] { run(); });
}

void DriftEngine::stop() {
  {
    std::lock_guard lock(run_mutex_);
    if (!running_) return;
    running_ = false;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

bool DriftEngine::should_sample(std::size_t producer) noexcept {
  if (producer >= producers_.size()) return false;
  if (settings_.sample_rate >= 1.0) return true;
  if (sample_threshold_ == 0) return false;
  return xorshift64(producers_[producer]->rng) < sample_threshold_;
}

void DriftEngine::count_too_large(std::size_t producer) noexcept {
  if (producer < producers_.size()) {
    producers_[producer]->too_large.fetch_add(1, std::memory_order_relaxed);
  }
}

void DriftEngine::count_compressed(std::size_t producer) noexcept {
  if (producer < producers_.size()) {
    producers_[producer]->compressed.fetch_add(1, std::memory_order_relaxed);
  }
}

bool DriftEngine::offer(std::size_t producer, Direction direction, Route route,
                        std::string_view body, PayloadFormat format) noexcept {
  if (producer >= producers_.size()) return false;
  Producer& p = *producers_[producer];
  if (body.size() > settings_.max_body) {
    p.too_large.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  if (!p.queue.try_push(direction, route, body, format)) {
    p.dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

// The worker: drain often (so that queues rarely fill), compute every interval, back off to at
// most 50 ms of sleep while idle.
void DriftEngine::run() {
  pthread_setname_np(pthread_self(), "mlsidecar-drift");  // /proc/PID/task/*/comm, top -H
  using clock = std::chrono::steady_clock;
  auto next_compute = clock::now() + settings_.interval;
  std::chrono::milliseconds idle{1};
  std::unique_lock run_lock(run_mutex_);
  while (running_) {
    run_lock.unlock();
    std::size_t drained = 0;
    {
      std::lock_guard state_lock(state_mutex_);
      drained = drain_locked();
      if (clock::now() >= next_compute) {
        compute_locked(true);
        next_compute = clock::now() + settings_.interval;
      }
    }
    // Busy: every 5 ms (a few hundred samples at most, far below the slots of a queue, and
    // 200 wake-ups a second instead of 1000 on the CPU the I/O threads share).
    idle = drained > 0 ? std::chrono::milliseconds{5}
                       : std::min(idle * 2, std::chrono::milliseconds{50});
    const auto until_compute =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_compute - clock::now());
    const auto sleep = std::max(std::chrono::milliseconds{0}, std::min(idle, until_compute));
    run_lock.lock();
    wake_.wait_for(run_lock, sleep, [this] { return !running_; });
  }
}

void DriftEngine::drain_now() {
  std::lock_guard lock(state_mutex_);
  drain_locked();
}

void DriftEngine::compute_now() {
  std::lock_guard lock(state_mutex_);
  drain_locked();
  compute_locked(false);
}

std::size_t DriftEngine::drain_locked() {
  std::size_t n = 0;
  for (auto& p : producers_) {
    n += p->queue.drain([this](const Sample& s) { ingest_locked(s); });
  }
  return n;
}

void DriftEngine::ingest_locked(const Sample& sample) {
  const Direction direction = sample.direction;
  const auto d = static_cast<std::size_t>(direction);
  scratch_values_.clear();
  const PayloadFormat format =
      sample.format == PayloadFormat::automatic ? settings_.format : sample.format;
  const ReadResult r =
      read_payload(format, sample.route, sample.body, direction, naming_[d], scratch_values_);
  if (r.status != ReadStatus::ok) {
    add_locked(skipped_[static_cast<std::size_t>(r.status)], 1);
    return;
  }
  add_locked(bodies_read_[d], 1);
  scratch_seen_.assign(features_.size(), 0);
  // Bodies of one model repeat their feature names in the same order: the feature of position i
  // in the previous body is checked first, and the map is searched only when the name differs.
  std::vector<NameAt>& names = last_names_[d];
  for (std::size_t pos = 0; pos < scratch_values_.size(); ++pos) {
    const FeatureValue& v = scratch_values_[pos];
    if (pos == names.size()) names.emplace_back();
    NameAt& cached = names[pos];
    if (!cached.known || cached.name != v.name) {
      cached.known = true;
      auto it = lookup_[d].find(v.name);
      cached.name = v.name;
      cached.index = it == lookup_[d].end() ? kUntracked : it->second;
    }
    if (cached.index == kUntracked) {
      add_locked(untracked_values_, 1);
      continue;
    }
    FeatureState& f = *features_[cached.index];
    ++scratch_seen_[cached.index];
    if (v.type == FeatureValue::Type::missing) {
      add_locked(f.missing, 1);
      continue;
    }
    WindowEntry entry;
    if (f.numeric) {
      if (v.type != FeatureValue::Type::number || !std::isfinite(v.number)) {
        add_locked(f.invalid, 1);
        continue;
      }
      entry.value = v.number;
      entry.cell = static_cast<std::uint32_t>(f.bin_of(v.number));
    } else {
      entry.cell =
          static_cast<std::uint32_t>(v.type == FeatureValue::Type::number
                                         ? f.profile->category_cell(detail::number_text(v.number))
                                         : f.profile->category_cell(v.text));
    }
    WindowEntry evicted;
    if (f.window.push(entry, evicted)) --f.cells[evicted.cell].window;
    DriftCell& cell = f.cells[entry.cell];
    ++cell.window;
    add_locked(cell.observations, 1);
  }
  // A feature absent from a row is missing in that row.
  for (std::size_t i : by_direction_[d]) {
    if (scratch_seen_[i] < r.rows) {
      add_locked(features_[i]->missing, r.rows - scratch_seen_[i]);
    }
  }
}

void DriftEngine::compute_locked(bool keep_draining) {
  constexpr std::chrono::milliseconds kDrainEvery{2};
  const auto started = std::chrono::steady_clock::now();
  auto drained_at = started;
  auto snap = std::make_shared<Snapshot>();
  snap->features.resize(features_.size());
  std::vector<double> live;
  std::vector<double> counts;
  for (std::size_t i = 0; i < features_.size(); ++i) {
    if (keep_draining && std::chrono::steady_clock::now() - drained_at > kDrainEvery) {
      drain_locked();
      drained_at = std::chrono::steady_clock::now();
    }
    const FeatureState& f = *features_[i];
    FeatureResult& out = snap->features[i];
    const std::size_t cells = f.ref_ratios.size();
    counts.resize(cells);
    for (std::size_t c = 0; c < cells; ++c) counts[c] = f.cells[c].window;
    out.window_samples = f.window.size();
    out.window_ratios.assign(cells, 0.0);
    if (out.window_samples == 0) continue;
    const double n = static_cast<double>(out.window_samples);
    for (std::size_t c = 0; c < cells; ++c) out.window_ratios[c] = counts[c] / n;
    out.psi = psi(f.ref_ratios, out.window_ratios);
    out.js_distance = js_distance(f.ref_ratios, counts);
    if (f.numeric) {
      live.clear();
      f.window.for_each([&live](const WindowEntry& e) { live.push_back(e.value); });
      std::sort(live.begin(), live.end());
      const KsResult ks = ks_2samp(live, f.profile->sample, kEngineKsExactCells, ks_cache_.get());
      out.ks_statistic = ks.statistic;
      out.ks_pvalue = ks.pvalue;
      out.ks_exact = ks.exact;
      out.wasserstein = wasserstein(live, f.profile->sample);
      if (f.profile->std > 0) out.wasserstein_normalized = out.wasserstein / f.profile->std;
    } else {
      // Cells that neither side uses carry no information; an unseen category (reference share
      // 0) gets the epsilon share so the statistic stays finite.
      std::vector<double> observed, expected;
      double total_share = 0.0;
      for (std::size_t c = 0; c < cells; ++c) {
        if (f.ref_ratios[c] <= 0.0 && counts[c] <= 0.0) continue;
        observed.push_back(counts[c]);
        expected.push_back(std::max(f.ref_ratios[c], kRatioEpsilon));
        total_share += expected.back();
      }
      for (double& e : expected) e = e / total_share * n;
      const ChisquareResult chi = chisquare(observed, expected);
      out.chi2_statistic = chi.statistic;
      out.chi2_pvalue = chi.pvalue;
    }
  }
  snap->computed = true;
  snap->computed_at = std::chrono::system_clock::now();
  snap->computation_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(snap);
}

}  // namespace mlsidecar::drift
