#include "policies/autoscale_signals.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>

namespace mlsidecar::policies {
namespace {
std::atomic<std::size_t> next_thread_index{0};
thread_local std::size_t thread_index = next_thread_index.fetch_add(1, std::memory_order_relaxed);

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

struct alignas(64) AutoscaleSignals::Shard {
  std::atomic<bool> locked{false};
  // Guarded by `locked`:
  TimePoint last{};
  std::int64_t concurrency = 0;
  std::int64_t queue = 0;
  double concurrency_seconds = 0.0;  // integrals since the last update
  double queue_seconds = 0.0;
  std::uint64_t starts = 0;
  std::uint64_t tokens = 0;
  LatencyWindow::Counts latency{};

  void lock() {
    while (locked.exchange(true, std::memory_order_acquire)) {
      while (locked.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() { locked.store(false, std::memory_order_release); }
  void advance(TimePoint now) {
    if (now <= last) return;  // an event stamped before the last update: counts from there
    const double dt = seconds(now - last);
    concurrency_seconds += static_cast<double>(concurrency) * dt;
    queue_seconds += static_cast<double>(queue) * dt;
    last = now;
  }
};

AutoscaleSignals::AutoscaleSignals(SignalParams params, TimePoint start)
    : params_(params),
      shard_count_(params.shards != 0 ? params.shards
                                      : std::max(1u, std::thread::hardware_concurrency())),
      last_update_(start),
      concurrency_(std::max(params.stable_window, params.panic_window)),
      queue_(std::max(params.stable_window, params.panic_window)),
      tokens_(std::max(params.stable_window, params.panic_window)),
      requests_(std::max(params.stable_window, params.panic_window)) {
  shards_ = std::make_unique<Shard[]>(shard_count_);
  for (std::size_t i = 0; i < shard_count_; ++i) shards_[i].last = start;
  for (auto* w : {&concurrency_, &queue_, &tokens_, &requests_}) w->observe(start);
  if (params_.latency_slo_seconds > 0) {
    latency_ = std::make_unique<LatencyWindow>(params_.stable_window);
  }
  ratios_ = compute_load_ratios(params_, inputs_);
}

AutoscaleSignals::~AutoscaleSignals() = default;

AutoscaleSignals::Shard& AutoscaleSignals::my_shard() {
  return shards_[thread_index % shard_count_];
}

void AutoscaleSignals::change_level(TimePoint now, int concurrency_delta, int queue_delta) {
  Shard& s = my_shard();
  s.lock();
  s.advance(now);
  s.concurrency += concurrency_delta;
  s.queue += queue_delta;
  if (concurrency_delta > 0) ++s.starts;
  s.unlock();
}

void AutoscaleSignals::on_request_start(TimePoint now) { change_level(now, +1, 0); }
void AutoscaleSignals::on_request_end(TimePoint now) { change_level(now, -1, 0); }
void AutoscaleSignals::on_queue_enter(TimePoint now) { change_level(now, 0, +1); }
void AutoscaleSignals::on_queue_leave(TimePoint now) { change_level(now, 0, -1); }

void AutoscaleSignals::on_request_end(TimePoint now, Duration latency) {
  Shard& s = my_shard();
  const std::size_t bucket = LatencyWindow::bucket_of(seconds(latency));
  s.lock();
  s.advance(now);
  s.concurrency -= 1;
  ++s.latency[bucket];
  s.unlock();
}

void AutoscaleSignals::on_output_tokens(std::uint64_t tokens, TimePoint now) {
  Shard& s = my_shard();
  s.lock();
  s.advance(now);
  s.tokens += tokens;
  s.unlock();
}

LoadRatios AutoscaleSignals::update(TimePoint now) {
  std::lock_guard lock(update_mutex_);
  if (now <= last_update_) return ratios();
  double concurrency_seconds = 0, queue_seconds = 0;
  std::uint64_t starts = 0, tokens = 0;
  LatencyWindow::Counts latency{};
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& s = shards_[i];
    s.lock();
    s.advance(now);
    concurrency_seconds += s.concurrency_seconds;
    queue_seconds += s.queue_seconds;
    starts += s.starts;
    tokens += s.tokens;
    for (std::size_t b = 0; b < LatencyWindow::kBuckets; ++b) latency[b] += s.latency[b];
    s.concurrency_seconds = s.queue_seconds = 0;
    s.starts = s.tokens = 0;
    s.latency.fill(0);
    s.unlock();
  }
  concurrency_.add(last_update_, now, concurrency_seconds);
  queue_.add(last_update_, now, queue_seconds);
  tokens_.add(last_update_, now, static_cast<double>(tokens));
  requests_.add(last_update_, now, static_cast<double>(starts));
  if (latency_) latency_->add(now - Duration(1), latency);
  last_update_ = now;

  SignalInputs in;
  in.concurrency_stable = concurrency_.rate(now, params_.stable_window);
  in.concurrency_panic = concurrency_.rate(now, params_.panic_window);
  in.queue_stable = queue_.rate(now, params_.stable_window);
  in.queue_panic = queue_.rate(now, params_.panic_window);
  in.output_tokens_per_second_stable = tokens_.rate(now, params_.stable_window);
  in.output_tokens_per_second_panic = tokens_.rate(now, params_.panic_window);
  in.requests_per_second_stable = requests_.rate(now, params_.stable_window);
  in.requests_per_second_panic = requests_.rate(now, params_.panic_window);
  if (latency_)
    in.latency_quantile_seconds = latency_->quantile(now - Duration(1), params_.latency_quantile);
  const LoadRatios r = compute_load_ratios(params_, in);
  std::lock_guard snap(snapshot_mutex_);
  inputs_ = in;
  ratios_ = r;
  return r;
}

LoadRatios AutoscaleSignals::ratios() const {
  std::lock_guard snap(snapshot_mutex_);
  return ratios_;
}

SignalInputs AutoscaleSignals::inputs() const {
  std::lock_guard snap(snapshot_mutex_);
  return inputs_;
}

std::vector<prometheus::MetricFamily> AutoscaleSignals::Collect() const {
  LoadRatios r;
  SignalInputs in;
  {
    std::lock_guard snap(snapshot_mutex_);
    r = ratios_;
    in = inputs_;
  }
  auto gauge = [](std::string name, std::string help) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = prometheus::MetricType::Gauge;
    return f;
  };
  auto point = [](double v, std::vector<prometheus::ClientMetric::Label> labels = {}) {
    prometheus::ClientMetric m;
    m.label = std::move(labels);
    m.gauge.value = v;
    return m;
  };
  std::vector<prometheus::MetricFamily> out;
  auto ratio = gauge("mlsidecar_autoscale_load_ratio",
                     "Load of this replica relative to its target (1 = at target); scale on the "
                     "larger of the two windows");
  ratio.metric.push_back(point(r.stable, {{"window", "stable"}}));
  ratio.metric.push_back(point(r.panic, {{"window", "panic"}}));
  out.push_back(std::move(ratio));

  auto panic = gauge("mlsidecar_autoscale_panic_mode",
                     "1 while the panic window's load is at least the panic threshold times the "
                     "stable window's");
  panic.metric.push_back(point(r.panicking ? 1.0 : 0.0));
  out.push_back(std::move(panic));

  auto signals = gauge("mlsidecar_autoscale_signal_ratio",
                       "Each configured autoscaling signal relative to its target, per window");
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    if (!r.enabled[i]) continue;
    const std::string name = signal_name(static_cast<Signal>(i));
    signals.metric.push_back(point(r.by_signal[i][0], {{"signal", name}, {"window", "stable"}}));
    signals.metric.push_back(point(r.by_signal[i][1], {{"signal", name}, {"window", "panic"}}));
  }
  out.push_back(std::move(signals));

  auto avg = gauge("mlsidecar_concurrency_average",
                   "Time-weighted average of requests in the sidecar (queued or at the model) "
                   "over the stable window");
  avg.metric.push_back(point(in.concurrency_stable));
  out.push_back(std::move(avg));

  if (latency_) {
    auto lat = gauge("mlsidecar_autoscale_latency_quantile_seconds",
                     "Request latency quantile over the stable window, for the latency-SLO signal");
    char q[32];
    std::snprintf(q, sizeof q, "%g", params_.latency_quantile);
    lat.metric.push_back(point(in.latency_quantile_seconds, {{"quantile", q}}));
    out.push_back(std::move(lat));
  }
  return out;
}

}  // namespace mlsidecar::policies
