// Reading a ShadowAnalysis the way a user does: one scrape (Collect()), series looked up by name
// and labels.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "metrics/shadow/shadow_analysis.h"

namespace shadow_test {

using LabelList = std::vector<std::pair<std::string, std::string>>;

class Scrape {
 public:
  explicit Scrape(const mlsidecar::shadow::ShadowAnalysis& a) : families_(a.Collect()) {}

  const prometheus::MetricFamily* family(const std::string& name) const {
    for (const auto& f : families_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  // The series with all of `labels` (and perhaps others); null when none.
  const prometheus::ClientMetric* find(const std::string& name, const LabelList& labels) const {
    const auto* f = family(name);
    if (f == nullptr) return nullptr;
    for (const auto& m : f->metric) {
      bool all = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        all = all && found;
      }
      if (all) return &m;
    }
    return nullptr;
  }
  // A counter's value; NaN when the series is absent.
  double counter(const std::string& name, const LabelList& labels) const {
    const auto* m = find(name, labels);
    return m == nullptr ? std::nan("") : m->counter.value;
  }
  double gauge(const std::string& name, const LabelList& labels) const {
    const auto* m = find(name, labels);
    return m == nullptr ? std::nan("") : m->gauge.value;
  }
  // A histogram's cumulative count at bound `le`; NaN when absent.
  double bucket(const std::string& name, const LabelList& labels, double le) const {
    const auto* m = find(name, labels);
    if (m == nullptr) return std::nan("");
    for (const auto& b : m->histogram.bucket) {
      if (b.upper_bound == le) return static_cast<double>(b.cumulative_count);
    }
    return std::nan("");
  }
  double count(const std::string& name, const LabelList& labels) const {
    const auto* m = find(name, labels);
    return m == nullptr ? std::nan("") : static_cast<double>(m->histogram.sample_count);
  }
  double sum(const std::string& name, const LabelList& labels) const {
    const auto* m = find(name, labels);
    return m == nullptr ? std::nan("") : m->histogram.sample_sum;
  }
  std::size_t series(const std::string& name) const {
    const auto* f = family(name);
    return f == nullptr ? 0 : f->metric.size();
  }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

}  // namespace shadow_test
