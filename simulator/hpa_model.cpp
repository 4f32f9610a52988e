#include "simulator/hpa_model.h"

#include <algorithm>
#include <climits>
#include <cmath>

namespace mlsidecar::policies {

namespace {
// The controller works in milli-units (resource.Quantity.MilliValue() rounds up), and averages
// with integer division, so 0.2 / 0.1 is exactly 2 there; doubles are converted the same way
// (less a hair, so that 0.2 * 1000 = 200.00000000000003 is 200 as it was meant).
std::int64_t milli(double v) { return static_cast<std::int64_t>(std::ceil(v * 1000.0 - 1e-6)); }

double usage_ratio(std::int64_t total, std::size_t count, std::int64_t target) {
  const std::int64_t average = total / static_cast<std::int64_t>(count);
  return static_cast<double>(average) / static_cast<double>(target);
}
}  // namespace

std::optional<int> hpa_replicas_for_metric(const HpaMetricInput& m, int current, double tolerance) {
  if (m.ready_values.empty()) return std::nullopt;
  const std::int64_t target = std::max<std::int64_t>(1, milli(m.target_average_value));
  std::int64_t total = 0;
  for (double v : m.ready_values) total += milli(v);
  const double ratio = usage_ratio(total, m.ready_values.size(), target);
  const bool scale_up_with_unready = m.unready_pods > 0 && ratio > 1.0;
  if (!scale_up_with_unready && m.missing_pods == 0) {
    if (std::abs(1.0 - ratio) <= tolerance) return current;
    return static_cast<int>(std::ceil(ratio * static_cast<double>(m.ready_values.size())));
  }
  // Fill in the pods without samples conservatively, then recompute.
  std::size_t count = m.ready_values.size();
  if (m.missing_pods > 0) {
    if (ratio < 1.0) total += target * m.missing_pods;
    count += static_cast<std::size_t>(m.missing_pods);
  }
  if (scale_up_with_unready) count += static_cast<std::size_t>(m.unready_pods);
  const double new_ratio = usage_ratio(total, count, target);
  if (std::abs(1.0 - new_ratio) <= tolerance || (ratio < 1.0 && new_ratio > 1.0) ||
      (ratio > 1.0 && new_ratio < 1.0)) {
    return current;
  }
  const int replicas = static_cast<int>(std::ceil(new_ratio * static_cast<double>(count)));
  if ((new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current)) {
    return current;
  }
  return replicas;
}

int HpaModel::change_in_period(TimePoint now, Duration period,
                               const std::vector<ScaleEvent>& events) {
  int change = 0;
  for (const auto& e : events) {
    if (e.at > now - period) change += e.change;
  }
  return change;
}

int HpaModel::stabilize(TimePoint now, int current, int desired) {
  const auto& up = params_.behavior.scale_up;
  const auto& down = params_.behavior.scale_down;
  int up_rec = desired, down_rec = desired;
  const Duration longest = std::max(up.stabilization_window, down.stabilization_window);
  std::optional<std::size_t> old;
  for (std::size_t i = 0; i < recommendations_.size(); ++i) {
    const auto& r = recommendations_[i];
    if (r.at > now - up.stabilization_window) up_rec = std::min(up_rec, r.replicas);
    if (r.at > now - down.stabilization_window) down_rec = std::max(down_rec, r.replicas);
    if (r.at < now - longest) old = i;
  }
  int rec = current;
  if (rec < up_rec) rec = up_rec;
  if (rec > down_rec) rec = down_rec;
  if (old) {
    recommendations_[*old] = {now, desired};
  } else {
    recommendations_.push_back({now, desired});
  }
  return rec;
}

int HpaModel::limit_rate(TimePoint now, int current, int desired) const {
  using Select = HpaScalingRules::Select;
  using Type = HpaScalingPolicy::Type;
  if (desired > current) {
    const auto& rules = params_.behavior.scale_up;
    int limit = current;
    if (rules.select != Select::disabled) {
      limit = rules.select == Select::min ? INT_MAX : INT_MIN;
      for (const auto& p : rules.policies) {
        const int start = current - change_in_period(now, p.period, up_events_) +
                          change_in_period(now, p.period, down_events_);
        const int proposed =
            p.type == Type::pods
                ? start + p.value
                : static_cast<int>(std::ceil(static_cast<double>(start) * (1.0 + p.value / 100.0)));
        limit = rules.select == Select::min ? std::min(limit, proposed) : std::max(limit, proposed);
      }
    }
    limit = std::max(limit, current);
    return std::min({desired, limit, params_.max_replicas});
  }
  if (desired < current) {
    const auto& rules = params_.behavior.scale_down;
    int limit = current;
    if (rules.select != Select::disabled) {
      // Select::max means the largest change, i.e. the fewest replicas.
      limit = rules.select == Select::min ? INT_MIN : INT_MAX;
      for (const auto& p : rules.policies) {
        // Down events are stored as positive counts of removed pods.
        const int start = current - change_in_period(now, p.period, up_events_) +
                          change_in_period(now, p.period, down_events_);
        const int proposed =
            p.type == Type::pods
                ? start - p.value
                : static_cast<int>(static_cast<double>(start) * (1.0 - p.value / 100.0));
        limit = rules.select == Select::min ? std::max(limit, proposed) : std::min(limit, proposed);
      }
    }
    limit = std::min(limit, current);
    return std::max({desired, limit, params_.min_replicas});
  }
  return desired;
}

int HpaModel::reconcile(TimePoint now, int current, const std::vector<HpaMetricInput>& metrics) {
  int desired = current;
  if (current > params_.max_replicas) {
    desired = params_.max_replicas;
  } else if (current < params_.min_replicas) {
    desired = params_.min_replicas;
  } else {
    std::optional<int> best;
    int invalid = 0;
    for (const auto& m : metrics) {
      const auto r = hpa_replicas_for_metric(m, current, params_.tolerance);
      if (!r) {
        ++invalid;
        continue;
      }
      if (!best || *r > *best) best = r;
    }
    // All metrics invalid, or some invalid and the rest would scale down: no change.
    if (!best || (invalid > 0 && *best < current)) return current;
    desired = limit_rate(now, current, stabilize(now, current, *best));
  }
  if (desired > current) {
    up_events_.push_back({now, desired - current});
  } else if (desired < current) {
    down_events_.push_back({now, current - desired});
  }
  // Forget events older than every policy period.
  Duration longest{};
  for (const auto* rules : {&params_.behavior.scale_up, &params_.behavior.scale_down}) {
    for (const auto& p : rules->policies) longest = std::max(longest, p.period);
  }
  for (auto* events : {&up_events_, &down_events_}) {
    std::erase_if(*events, [&](const ScaleEvent& e) { return e.at <= now - longest; });
  }
  return desired;
}

}  // namespace mlsidecar::policies
