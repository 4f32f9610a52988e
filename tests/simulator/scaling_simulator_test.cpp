#include "simulator/scaling_simulator.h"

#include <catch2/catch.hpp>

#include "simulator/simulation_report.h"

using namespace mlsidecar::policies;
using namespace std::chrono_literals;

namespace {
SimulationParams one_replica() {
  SimulationParams p;
  p.admission = {1, 2, 950ms};
  p.service.distribution = ServiceModel::Distribution::fixed;
  p.service.mean_seconds = 1.3;
  p.poisson = false;
  p.hpa.min_replicas = p.hpa.max_replicas = 1;
  p.initial_replicas = 1;
  p.latency_slo_seconds = 2.05;
  p.duration_seconds = 9.9;
  return p;
}
}  // namespace

// Arrivals every 0.5 s (0.5 .. 9.5, 19 of them) at one replica with C = 1, Q = 2, a 0.95 s queue
// timeout and 1.3 s of service. By hand: 0.5 runs to 1.8; 1.0 and 1.5 queue; at 1.8 the slot goes
// to 1.0 (runs to 3.1) and 1.5 times out at 2.45; 2.0 times out at 2.95; 2.5 gets the slot at 3.1;
// and so on: every other queued request times out. 8 are served, with latencies
// 1.3, 1.8, 1.9, 1.9, 2.0, 2.1, 2.1, 2.2, and 11 time out; the queue never overflows.
TEST_CASE("simulator: one replica, admission queue with timeouts, pinned by hand") {
  const LoadTrace trace("const2", {{0, 2, 0}, {20, 2, 0}});
  const auto r = simulate(trace, one_replica(), SignalChoice::concurrency);
  CHECK(r.requests == 19);
  CHECK(r.served == 8);
  CHECK(r.shed_queue_timeout == 11);
  CHECK(r.shed_queue_full == 0);
  CHECK(r.shed_no_replica == 0);
  CHECK(r.p50_seconds == Approx(1.9).margin(1e-6));
  CHECK(r.p99_seconds == Approx(2.2).margin(1e-6));
  CHECK(r.slo_violations == 3 + 11);  // 2.1, 2.1, 2.2 over 2.05, plus every shed request
  CHECK(r.replica_seconds == 9);      // one pod, counted at each whole second up to 9.9
  CHECK(r.scale_events == 0);
}

TEST_CASE("simulator: a full queue rejects at once") {
  auto p = one_replica();
  p.admission.queue_depth = 0;
  const LoadTrace trace("const2", {{0, 2, 0}, {20, 2, 0}});
  const auto r = simulate(trace, p, SignalChoice::concurrency);
  // 0.5 runs to 1.8, 1.0 and 1.5 rejected, 2.0 runs to 3.3, 2.5 3.0 rejected, 3.5 ... : one in
  // three is served: 0.5, 2.0, 3.5, 5.0, 6.5, 8.0, 9.5 -> 7 served, 12 rejected.
  CHECK(r.served == 7);
  CHECK(r.shed_queue_full == 12);
  CHECK(r.p99_seconds == Approx(1.3).margin(1e-6));
}

// 4 req/s of 1 s each at one replica (C = 8): concurrency climbs to 4 within the first second.
// At the first sync (15 s, no metric lag) the stable average is (56 * 1 + 0.75 + 0.5 + 0.25) / 15
// = 3.833, / target 2 = 1.917: ceil(1.917 * 1) = 2 replicas. The new pod is ready at 20 s.
TEST_CASE("simulator: the first HPA decision, by hand") {
  SimulationParams p;
  p.admission = {8, 0, 0ns};
  p.service.distribution = ServiceModel::Distribution::fixed;
  p.service.mean_seconds = 1.0;
  p.poisson = false;
  p.initial_replicas = 1;
  p.target_concurrency = 2;
  p.metric_lag_seconds = 0;
  p.startup_delay_seconds = 5;
  p.duration_seconds = 20;
  const LoadTrace trace("const4", {{0, 4, 0}, {60, 4, 0}});
  const auto r = simulate(trace, p, SignalChoice::concurrency);
  CHECK(r.scale_events == 1);
  CHECK(r.peak_replicas == 2);
  CHECK(r.shed() == 0);
  // Ticks 1..15 see one pod, ticks 16..20 two (the second exists from 15 s, starting).
  CHECK(r.replica_seconds == 25);
  REQUIRE(r.timeline.size() == 5);  // 0, 5, 10, 15, 20
  CHECK(r.timeline[3].replicas == 2);
  CHECK(r.timeline[3].ready == 1);
  CHECK(r.timeline[3].metric == Approx(57.5 / 15 / 2).epsilon(1e-3));
  CHECK(r.timeline[4].ready == 2);
}

TEST_CASE("simulator: every signal choice sees the same requests; reports render") {
  SimulationParams p;
  p.duration_seconds = 300;
  const auto trace = LoadTrace::builtin("spike");
  std::vector<SimulationResult> results;
  for (auto c : {SignalChoice::cpu, SignalChoice::concurrency_panic}) {
    results.push_back(simulate(trace, p, c));
  }
  CHECK(results[0].requests == results[1].requests);
  CHECK(results[0].requests > 2500);  // about 10 req/s for 300 s
  const auto table = render_table(results);
  CHECK(table.find("concurrency_panic") != std::string::npos);
  const auto csv = render_summary_csv(results);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 3);
  const auto svg = render_svg(trace, resolve_defaults(p, trace), results);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
}

TEST_CASE("load traces: CSV parsing, interpolation, errors") {
  const auto t = LoadTrace::from_csv_text("x",
                                          "time_seconds,requests_per_second,mean_output_tokens\n"
                                          "0,10,100\n60,20,300\n");
  CHECK(t.rate_at(30) == Approx(15));
  CHECK(t.mean_output_tokens_at(30) == Approx(200));
  CHECK(t.rate_at(100) == Approx(20));
  CHECK(t.duration() == 60);
  CHECK_THROWS_WITH(LoadTrace::from_csv_text("x", "0,1\n0,2\n"), Catch::Contains("increase"));
  CHECK_THROWS_WITH(LoadTrace::from_csv_text("x", "0,abc\n5,1\n"), Catch::Contains("line 1"));
  for (const auto& name : LoadTrace::builtin_names()) {
    const auto b = LoadTrace::builtin(name);
    const auto again = LoadTrace::from_csv_text(name, b.to_csv());
    CHECK(again.points().size() == b.points().size());
  }
}
