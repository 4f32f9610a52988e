// HpaModel: a model of the Kubernetes HorizontalPodAutoscaler v2 controller, for the simulator and
// for reasoning about the recipe in docs/autoscaling.md. It follows the controller's own steps:
//  1. per metric (Pods/Object metric with an AverageValue target), calcPlainMetricReplicas:
//     ratio = average of the pods' values / target; inside the tolerance (|1 - ratio| <= 0.1) keep
//     the current count, else ceil(ratio * pods with metrics). Pods still starting (unready) count
//     as 0 when scaling up; running pods without a sample yet count as 0 when scaling up and as the
//     target when scaling down; if that flips the direction, or lands inside the tolerance, keep.
//  2. the largest proposal over metrics wins; with some metrics invalid (no samples), only a scale
//     up is allowed.
//  3. stabilization: the recommendation is clamped between the lowest recommendation of the last
//     scale-up window (0 s by default) and the highest of the last scale-down window (300 s).
//  4. rate limits from `behavior` policies, counted against the scale events of each policy's
//     period: up by max(100%, 4 pods) per 15 s, down by 100% per 15 s by default.
//  5. min/max replicas.
// Example (Kubernetes docs): 1 pod at 10 with target 5 -> ratio 2.0 -> 2 pods; 10 pods at 1.05 ->
// within tolerance, stay at 10.
//
// Thread safety: none; one controller per simulated HPA, driven by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "policies/time_weighted_window.h"

namespace mlsidecar::policies {

struct HpaScalingPolicy {
  enum class Type { pods, percent };
  Type type = Type::pods;
  int value = 0;
  Duration period = std::chrono::seconds(15);
};

struct HpaScalingRules {
  enum class Select { max, min, disabled };
  Duration stabilization_window{};
  Select select = Select::max;
  std::vector<HpaScalingPolicy> policies;
};

struct HpaBehavior {
  // Kubernetes' defaults.
  HpaScalingRules scale_up{std::chrono::seconds(0),
                           HpaScalingRules::Select::max,
                           {{HpaScalingPolicy::Type::percent, 100, std::chrono::seconds(15)},
                            {HpaScalingPolicy::Type::pods, 4, std::chrono::seconds(15)}}};
  HpaScalingRules scale_down{std::chrono::seconds(300),
                             HpaScalingRules::Select::max,
                             {{HpaScalingPolicy::Type::percent, 100, std::chrono::seconds(15)}}};
};

struct HpaParams {
  int min_replicas = 1;
  int max_replicas = 10;
  double tolerance = 0.1;
  Duration sync_period = std::chrono::seconds(15);
  HpaBehavior behavior;
};

// What the HPA sees of one metric at one sync.
struct HpaMetricInput {
  double target_average_value = 1.0;
  std::vector<double> ready_values;  // one per ready pod that has a sample
  int missing_pods = 0;              // ready pods without a sample yet
  int unready_pods = 0;              // pods still starting
};

// Step 1 alone: the replica count one metric proposes, or nullopt when it has no samples.
std::optional<int> hpa_replicas_for_metric(const HpaMetricInput& metric, int current_replicas,
                                           double tolerance);

class HpaModel {
 public:
  explicit HpaModel(HpaParams params) : params_(std::move(params)) {}

  // One reconcile at `now` with `current_replicas` (the Deployment's spec): returns the new spec
  // and records a scale event when it differs.
  int reconcile(TimePoint now, int current_replicas, const std::vector<HpaMetricInput>& metrics);

  const HpaParams& params() const { return params_; }

 private:
  struct Recommendation {
    TimePoint at;
    int replicas;
  };
  struct ScaleEvent {
    TimePoint at;
    int change;
  };
  int stabilize(TimePoint now, int current, int desired);
  int limit_rate(TimePoint now, int current, int desired) const;
  static int change_in_period(TimePoint now, Duration period,
                              const std::vector<ScaleEvent>& events);

  HpaParams params_;
  std::vector<Recommendation> recommendations_;
  std::vector<ScaleEvent> up_events_, down_events_;
};

}  // namespace mlsidecar::policies
