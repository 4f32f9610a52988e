// Cases from the Kubernetes HPA documentation ("Algorithm details", "Configurable scaling
// behavior"), worked by hand.
#include "simulator/hpa_model.h"

#include <catch2/catch.hpp>

using namespace mlsidecar::policies;
using namespace std::chrono_literals;

namespace {
TimePoint at(std::chrono::seconds s) { return TimePoint(s); }
HpaMetricInput pods(std::vector<double> values, double target = 1.0) {
  HpaMetricInput m;
  m.target_average_value = target;
  m.ready_values = std::move(values);
  return m;
}
}  // namespace

TEST_CASE("desired = ceil(current * value / target); within the 0.1 tolerance nothing changes") {
  // Docs: current 200m, desired 100m -> double; 50m -> halve.
  CHECK(hpa_replicas_for_metric(pods({0.2, 0.2, 0.2}, 0.1), 3, 0.1) == 6);
  CHECK(hpa_replicas_for_metric(pods({0.05, 0.05, 0.05, 0.05}, 0.1), 4, 0.1) == 2);
  // Ratio 1.05 and 0.92: inside the tolerance.
  CHECK(hpa_replicas_for_metric(pods(std::vector<double>(10, 1.05)), 10, 0.1) == 10);
  CHECK(hpa_replicas_for_metric(pods(std::vector<double>(10, 0.92)), 10, 0.1) == 10);
  // Ratio 1.15: outside: ceil(1.15 * 10) = 12.
  CHECK(hpa_replicas_for_metric(pods(std::vector<double>(10, 1.15)), 10, 0.1) == 12);
  CHECK_FALSE(hpa_replicas_for_metric(pods({}), 3, 0.1).has_value());
}

TEST_CASE("missing and unready pods are filled in conservatively") {
  // Scale down with a pod lacking a sample: it counts as at target.
  // (0.5 + 0.5 + 1.0) / 3 = 0.667 -> ceil(0.667 * 3) = 2.
  auto m = pods({0.5, 0.5});
  m.missing_pods = 1;
  CHECK(hpa_replicas_for_metric(m, 3, 0.1) == 2);
  // Scale up with 2 pods still starting: they count as 0. (2 + 2 + 0 + 0) / 4 = 1.0: stay at 4.
  m = pods({2.0, 2.0});
  m.unready_pods = 2;
  CHECK(hpa_replicas_for_metric(m, 4, 0.1) == 4);
  // Same with 3 at 3.0 and 1 starting: (9 + 0) / 4 = 2.25 -> ceil(2.25 * 4) = 9.
  m = pods({3.0, 3.0, 3.0});
  m.unready_pods = 1;
  CHECK(hpa_replicas_for_metric(m, 4, 0.1) == 9);
  // A missing pod that would flip a scale-up into a scale-down keeps the count:
  // ratio 1.2 with 1 ready pod, 3 missing counted as 0 -> 0.3 < 1: stay.
  m = pods({1.2});
  m.missing_pods = 3;
  CHECK(hpa_replicas_for_metric(m, 4, 0.1) == 4);
}

TEST_CASE("the largest proposal over metrics wins") {
  HpaParams p;
  p.max_replicas = 100;
  HpaModel hpa(p);
  // 4 pods: metric A proposes ceil(1.5 * 4) = 6, metric B ceil(2.0 * 4) = 8.
  CHECK(hpa.reconcile(at(0s), 4, {pods({1.5, 1.5, 1.5, 1.5}), pods({2, 2, 2, 2})}) == 8);
}

TEST_CASE("with a metric missing, only scaling up is allowed") {
  HpaModel hpa(HpaParams{});
  CHECK(hpa.reconcile(at(0s), 4, {pods({0.2, 0.2, 0.2, 0.2}), pods({})}) == 4);
  CHECK(hpa.reconcile(at(15s), 4, {pods({2, 2, 2, 2}), pods({})}) == 8);
  CHECK(hpa.reconcile(at(30s), 8, {pods({}), pods({})}) == 8);
}

TEST_CASE("default scale-up policy: the larger of 100% and 4 pods per 15 s") {
  HpaParams p;
  p.max_replicas = 100;
  HpaModel hpa(p);
  // 1 pod at 10x target wants 10: limited to max(1 * 2, 1 + 4) = 5.
  CHECK(hpa.reconcile(at(0s), 1, {pods({10})}) == 5);
  // 15 s later the event has left the 15 s period: from 5, max(10, 9) = 10.
  CHECK(hpa.reconcile(at(15s), 5, {pods(std::vector<double>(5, 4.0))}) == 10);
  // A second sync within the same period counts the earlier scale-up against the limit.
  HpaModel hpa2(p);
  CHECK(hpa2.reconcile(at(0s), 1, {pods({10})}) == 5);
  // At 10 s the period start is 1 pod again: limit 5, so no more growth yet.
  CHECK(hpa2.reconcile(at(10s), 5, {pods(std::vector<double>(5, 4.0))}) == 5);
}

TEST_CASE("default scale-down stabilization: the highest recommendation of the last 300 s") {
  HpaParams p;
  p.max_replicas = 20;
  HpaModel hpa(p);
  CHECK(hpa.reconcile(at(0s), 10, {pods(std::vector<double>(10, 1.0))}) == 10);
  // The load drops to a fifth: the recommendation is 2, but 10 was recommended within 300 s.
  for (int t = 15; t < 300; t += 15) {
    INFO("t = " << t);
    CHECK(hpa.reconcile(at(std::chrono::seconds(t)), 10, {pods(std::vector<double>(10, 0.2))}) ==
          10);
  }
  // At 300 s the recommendation made at 0 s has left the window; 100% per 15 s allows 10 -> 2.
  CHECK(hpa.reconcile(at(300s), 10, {pods(std::vector<double>(10, 0.2))}) == 2);
}

TEST_CASE("docs example: scale down by the larger of 4 pods and 10% per minute") {
  HpaParams p;
  p.min_replicas = 1;
  p.max_replicas = 100;
  p.behavior.scale_down.stabilization_window = 0s;
  p.behavior.scale_down.policies = {{HpaScalingPolicy::Type::pods, 4, 60s},
                                    {HpaScalingPolicy::Type::percent, 10, 60s}};
  HpaModel hpa(p);
  const auto low = [](int n) {
    return pods(std::vector<double>(static_cast<std::size_t>(n), 0.1));
  };
  // 80 pods want 8: 10% of 80 = 8 > 4 pods, so 72.
  CHECK(hpa.reconcile(at(0s), 80, {low(80)}) == 72);
  // Within the same minute the 8 already removed count: no further step.
  CHECK(hpa.reconcile(at(15s), 72, {low(72)}) == 72);
  CHECK(hpa.reconcile(at(45s), 72, {low(72)}) == 72);
  // A minute later: 10% of 72 = 7.2, and the docs round the reduction up to 8: 64.
  CHECK(hpa.reconcile(at(60s), 72, {low(72)}) == 64);
  // selectPolicy Min picks the smaller change: 4 pods.
  p.behavior.scale_down.select = HpaScalingRules::Select::min;
  HpaModel cautious(p);
  CHECK(cautious.reconcile(at(0s), 80, {low(80)}) == 76);
  // Disabled: never down.
  p.behavior.scale_down.select = HpaScalingRules::Select::disabled;
  HpaModel never(p);
  CHECK(never.reconcile(at(0s), 80, {low(80)}) == 80);
}

TEST_CASE("min and max replicas bound the result") {
  HpaParams p;
  p.min_replicas = 2;
  p.max_replicas = 6;
  p.behavior.scale_down.stabilization_window = 0s;
  HpaModel hpa(p);
  CHECK(hpa.reconcile(at(0s), 4, {pods({5, 5, 5, 5})}) == 6);
  CHECK(hpa.reconcile(at(15s), 6, {pods(std::vector<double>(6, 0.01))}) == 2);
  CHECK(hpa.reconcile(at(30s), 9, {pods({1})}) == 6);  // above max: back to max
}
