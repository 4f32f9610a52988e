#include "policies/autoscale_signals.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>

using namespace mlsidecar::policies;
using namespace std::chrono_literals;

namespace {
TimePoint at(std::chrono::nanoseconds d) { return TimePoint(d); }

double gauge(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const std::string& window = "") {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      bool match = window.empty();
      for (const auto& l : m.label) match = match || (l.name == "window" && l.value == window);
      if (match) return m.gauge.value;
    }
  }
  FAIL("no " << name << " " << window);
  return 0;
}
}  // namespace

TEST_CASE("signals: Knative's example through the sharded recorder") {
  SignalParams p;
  p.target_concurrency = 0.5;
  p.shards = 4;
  AutoscaleSignals s(p, at(0s));
  s.on_request_start(at(0ms));
  s.on_request_end(at(500ms), 500ms);
  s.on_request_start(at(500ms));
  s.on_request_end(at(1000ms), 500ms);
  const auto r = s.update(at(1s));
  CHECK(s.inputs().concurrency_stable == Approx(1.0));
  CHECK(r.stable == Approx(2.0));  // 1.0 / 0.5
  const auto f = s.Collect();
  CHECK(gauge(f, "mlsidecar_concurrency_average") == Approx(1.0));
  CHECK(gauge(f, "mlsidecar_autoscale_load_ratio", "stable") == Approx(2.0));
}

TEST_CASE("signals: a burst panics, then the stable window takes over") {
  SignalParams p;
  p.target_concurrency = 10;
  AutoscaleSignals s(p, at(0s));
  // 54 s at concurrency 5, then 30 more requests at once.
  for (int i = 0; i < 5; ++i) s.on_request_start(at(0s));
  for (int t = 1; t <= 54; ++t) s.update(at(std::chrono::seconds(t)));
  CHECK(s.ratios().stable == Approx(0.5));
  CHECK_FALSE(s.ratios().panicking);
  for (int i = 0; i < 30; ++i) s.on_request_start(at(54s));
  for (int t = 55; t <= 60; ++t) s.update(at(std::chrono::seconds(t)));
  // Stable: (5 * 54 + 35 * 6) / 60 = 8.0 -> 0.8; panic: 35 -> 3.5 >= 1.6: panicking.
  auto r = s.ratios();
  CHECK(r.stable == Approx(0.8));
  CHECK(r.panicking);
  CHECK(r.panic == Approx(3.5));
  CHECK(gauge(s.Collect(), "mlsidecar_autoscale_panic_mode") == 1.0);
  // Another minute at 35: stable 3.5 too, so the panic window no longer doubles it.
  for (int t = 61; t <= 120; ++t) s.update(at(std::chrono::seconds(t)));
  r = s.ratios();
  CHECK(r.stable == Approx(3.5));
  CHECK_FALSE(r.panicking);
  CHECK(r.panic == Approx(3.5));
}

TEST_CASE("signals: tokens, request rate, queue and latency") {
  SignalParams p;
  p.target_output_tokens_per_second = 100;
  p.target_requests_per_second = 2;
  p.target_queue_length = 2;
  p.latency_slo_seconds = 0.5;
  p.latency_quantile = 0.5;
  AutoscaleSignals s(p, at(0s));
  for (int t = 0; t < 10; ++t) {
    const auto now = at(std::chrono::seconds(t));
    s.on_request_start(now);
    s.on_queue_enter(now);
    s.on_queue_leave(now + 500ms);
    s.on_output_tokens(50, now + 900ms);
    s.on_request_end(now + 900ms, 900ms);
  }
  s.update(at(10s));
  const auto in = s.inputs();
  CHECK(in.output_tokens_per_second_stable == Approx(50));
  CHECK(in.requests_per_second_stable == Approx(1));
  CHECK(in.queue_stable == Approx(0.5));
  CHECK(in.latency_quantile_seconds == Approx(0.9).epsilon(0.09));
  const auto r = s.ratios();
  CHECK(r.by_signal[static_cast<int>(Signal::output_tokens)][0] == Approx(0.5));
  CHECK(r.by_signal[static_cast<int>(Signal::request_rate)][0] == Approx(0.5));
  CHECK(r.by_signal[static_cast<int>(Signal::queue)][0] == Approx(0.25));
  CHECK(r.stable == Approx(1.8).epsilon(0.09));  // latency 0.9 / 0.5 dominates
}

TEST_CASE("signals: reporting threads and the sampler run at once, counts add up") {
  SignalParams p;
  p.target_concurrency = 1;
  p.target_requests_per_second = 1;
  p.shards = 2;
  AutoscaleSignals s(p, at(0s));
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    int t = 0;
    // Time stays below 10 s however often this loop runs while the reporters wait for a core.
    while (!done.load()) s.update(at(std::chrono::milliseconds(std::min(++t, 9999))));
  });
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < kEach; ++k) {
        s.on_request_start(at(10s));
        s.on_request_end(at(10s));
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  sampler.join();
  s.update(at(60s));
  // All requests started at 10 s: rate over [0, 60] = 80000 / 60; concurrency back to 0.
  CHECK(s.inputs().requests_per_second_stable == Approx(kThreads * kEach / 60.0));
  CHECK(s.inputs().concurrency_panic == Approx(0.0));
}
