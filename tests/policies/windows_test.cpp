#include <catch2/catch.hpp>

#include "policies/latency_window.h"
#include "policies/load_ratio.h"
#include "policies/time_weighted_window.h"

using namespace mlsidecar::policies;
using namespace std::chrono_literals;

namespace {
TimePoint at(std::chrono::nanoseconds d) { return TimePoint(d); }
}  // namespace

TEST_CASE("Knative's example: two 500 ms requests in one second average to 1.0") {
  SECTION("one after the other") {
    ConcurrencyWindow w(1s);
    w.change(at(0ms), +1);
    w.change(at(500ms), -1);
    w.change(at(500ms), +1);
    w.change(at(1000ms), -1);
    CHECK(w.average(at(1s)) == Approx(1.0));
  }
  SECTION("both at once") {
    ConcurrencyWindow w(1s);
    w.change(at(0ms), +1);
    w.change(at(0ms), +1);
    w.change(at(500ms), -2);
    CHECK(w.average(at(1s)) == Approx(1.0));
  }
}

TEST_CASE("time-weighted averages over a stable and a panic window, by hand") {
  // Concurrency 4 during [0, 30 s), 1 during [30 s, 54 s), 10 during [54 s, 60 s).
  ConcurrencyWindow w(60s);
  w.change(at(0s), 4);
  w.change(at(30s), -3);
  w.change(at(54s), 9);
  // Stable: (4*30 + 1*24 + 10*6) / 60 = 204 / 60 = 3.4. Panic (last 6 s): 10.
  CHECK(w.average(at(60s), 60s) == Approx(3.4));
  CHECK(w.average(at(60s), 6s) == Approx(10.0));
  // 15 s later at concurrency 10: stable = (4*15 + 1*24 + 10*21) / 60 = 294 / 60 = 4.9.
  CHECK(w.average(at(75s), 60s) == Approx(4.9));
  // A window starting mid-bucket counts the bucket in proportion: last 6.5 s at 10 -> 10.
  CHECK(w.average(at(75s), 6500ms) == Approx(10.0));
}

TEST_CASE("before a full window the average is over the time seen") {
  ConcurrencyWindow w(60s);
  w.change(at(100s), 2);
  // 10 s of concurrency 2: the average is 2, not 20/60.
  CHECK(w.average(at(110s)) == Approx(2.0));
  CHECK(w.current() == 2);
}

TEST_CASE("old amounts fall out of the window") {
  TimeWeightedWindow w(10s);
  w.observe(at(0s));
  w.add(at(0s), at(1s), 50.0);
  CHECK(w.rate(at(10s), 10s) == Approx(5.0));
  CHECK(w.rate(at(11s), 10s) == Approx(0.0));
  w.add(at(100s), at(101s), 7.0);  // after a long gap: the ring is cleared
  CHECK(w.rate(at(101s), 10s) == Approx(0.7));
}

TEST_CASE("latency quantile within the bucket resolution") {
  LatencyWindow w(60s);
  LatencyWindow::Counts c{};
  // 90 requests of 100 ms, 10 of 1 s: p50 about 0.1, p95 about 1.0.
  c[LatencyWindow::bucket_of(0.1)] += 90;
  c[LatencyWindow::bucket_of(1.0)] += 10;
  w.add(at(5s), c);
  CHECK(w.quantile(at(5s), 0.5) == Approx(0.1).epsilon(0.09));
  CHECK(w.quantile(at(5s), 0.95) == Approx(1.0).epsilon(0.09));
  CHECK(w.quantile(at(64s), 0.95) == Approx(1.0).epsilon(0.09));
  CHECK(w.quantile(at(65s), 0.95) == 0.0);  // out of the 60 s window
  CHECK(LatencyWindow::upper_bound(LatencyWindow::bucket_of(0.25)) >= 0.25);
  CHECK(LatencyWindow::upper_bound(LatencyWindow::bucket_of(0.25)) < 0.25 * 1.091);
}

TEST_CASE("panic gating: the panic ratio is reported only at twice the stable ratio") {
  SignalParams p;
  p.target_concurrency = 10;
  SignalInputs in;
  in.concurrency_stable = 5;
  in.concurrency_panic = 12;
  auto r = compute_load_ratios(p, in);
  CHECK(r.stable == Approx(0.5));
  CHECK(r.panicking);
  CHECK(r.panic == Approx(1.2));

  in.concurrency_panic = 9;  // 0.9 < 2 * 0.5
  r = compute_load_ratios(p, in);
  CHECK_FALSE(r.panicking);
  CHECK(r.panic == Approx(0.5));
  CHECK(r.panic_raw == Approx(0.9));

  in.concurrency_panic = 10;  // exactly 2x: panics (>=)
  r = compute_load_ratios(p, in);
  CHECK(r.panicking);
  CHECK(r.panic == Approx(1.0));
}

TEST_CASE("the load ratio is the largest configured signal") {
  SignalParams p;
  p.target_concurrency = 10;
  p.latency_slo_seconds = 0.5;
  p.target_output_tokens_per_second = 1000;
  p.target_queue_length = 4;
  SignalInputs in;
  in.concurrency_stable = in.concurrency_panic = 5;  // 0.5
  in.latency_quantile_seconds = 0.4;                 // 0.8
  in.output_tokens_per_second_stable = 700;          // 0.7
  in.output_tokens_per_second_panic = 1900;          // 1.9 (panic window)
  in.queue_stable = 1;                               // 0.25
  auto r = compute_load_ratios(p, in);
  CHECK(r.stable == Approx(0.8));
  CHECK(r.panic_raw == Approx(1.9));
  CHECK(r.panicking);  // 1.9 >= 1.6
  CHECK(r.panic == Approx(1.9));
  CHECK(r.by_signal[static_cast<int>(Signal::latency)][1] == Approx(0.8));
  CHECK_FALSE(r.enabled[static_cast<int>(Signal::request_rate)]);

  // The latency signal alone never triggers panic: it is the same in both windows.
  in.output_tokens_per_second_panic = 700;
  in.latency_quantile_seconds = 2.0;  // 4.0
  r = compute_load_ratios(p, in);
  CHECK(r.stable == Approx(4.0));
  CHECK_FALSE(r.panicking);
  CHECK(r.panic == Approx(4.0));
}
