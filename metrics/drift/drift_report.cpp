// Publishing of DriftEngine: the Prometheus families (Collect) and the /drift JSON document. Both
// read the latest immutable snapshot (taken under snapshot_mutex_, then used without it) and the
// atomic counters; neither touches the windows.
#include <cmath>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/drift_state.h"
#include "metrics/drift/statistics.h"

namespace mlsidecar::drift {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

// The family under settings' metric_prefix, with their constant labels on every series.
void rename(MetricFamily& f, const std::string& prefix,
            const std::vector<std::pair<std::string, std::string>>& labels) {
  constexpr std::string_view kDefault = "mlsidecar_";
  if (prefix != kDefault && f.name.starts_with(kDefault)) {
    f.name = prefix + f.name.substr(kDefault.size());
  }
  if (labels.empty()) return;
  for (ClientMetric& m : f.metric) {
    for (const auto& [name, value] : labels) m.label.push_back({name, value});
  }
}

// JSON has no NaN: statistics not computed are null.
nlohmann::json number_or_null(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr);
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<MetricFamily> DriftEngine::Collect() const {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard lock(snapshot_mutex_);
    snap = snapshot_;
  }
  auto psi_f =
      family("mlsidecar_drift_psi",
             "Population stability index of the window against the reference (natural log)",
             MetricType::Gauge);
  auto js_f = family("mlsidecar_drift_js_distance",
                     "Jensen-Shannon distance (base 2) of the window's bins or categories",
                     MetricType::Gauge);
  auto ks_f = family("mlsidecar_drift_ks_statistic",
                     "Two-sample Kolmogorov-Smirnov statistic against the reference sample",
                     MetricType::Gauge);
  auto ksp_f =
      family("mlsidecar_drift_ks_pvalue", "P-value of the two-sample KS test", MetricType::Gauge);
  auto w_f = family("mlsidecar_drift_wasserstein",
                    "Wasserstein-1 distance between the window and the reference sample",
                    MetricType::Gauge);
  auto wn_f = family("mlsidecar_drift_wasserstein_normalized",
                     "Wasserstein-1 distance divided by the reference standard deviation",
                     MetricType::Gauge);
  auto chi_f =
      family("mlsidecar_drift_chi2_pvalue",
             "Chi-square goodness-of-fit p-value of the window's categories", MetricType::Gauge);
  auto win_f =
      family("mlsidecar_drift_window_samples", "Values in the feature's window", MetricType::Gauge);
  auto miss_f = family("mlsidecar_feature_missing_total",
                       "Rows in which the feature was absent or null", MetricType::Counter);
  auto inv_f = family("mlsidecar_feature_invalid_total",
                      "Values of a numeric feature that were not numbers", MetricType::Counter);
  auto bin_f = family("mlsidecar_feature_bin_observations_total",
                      "Values observed per reference bin or category (for fleet-wide PSI)",
                      MetricType::Counter);
  auto ref_f = family("mlsidecar_feature_reference_ratio",
                      "Reference share of each bin or category", MetricType::Gauge);

  for (std::size_t i = 0; i < features_.size(); ++i) {
    const FeatureState& f = *features_[i];
    const FeatureResult& r = snap->features[i];
    const std::vector<ClientMetric::Label> labels = {
        {"direction", std::string(direction_name(f.profile->direction))},
        {"feature", f.profile->name}};
    auto put = [&](MetricFamily& fam, double v) {
      if (std::isfinite(v)) add(fam, labels, v);
    };
    put(psi_f, r.psi);
    put(js_f, r.js_distance);
    put(ks_f, r.ks_statistic);
    put(ksp_f, r.ks_pvalue);
    put(w_f, r.wasserstein);
    put(wn_f, r.wasserstein_normalized);
    put(chi_f, r.chi2_pvalue);
    add(win_f, labels, static_cast<double>(r.window_samples));
    add(miss_f, labels, static_cast<double>(f.missing.load(std::memory_order_relaxed)));
    if (f.numeric)
      add(inv_f, labels, static_cast<double>(f.invalid.load(std::memory_order_relaxed)));
    for (std::size_t c = 0; c < f.ref_ratios.size(); ++c) {
      auto bl = labels;
      bl.insert(bl.begin(), {"bin", f.labels[c]});
      add(bin_f, bl, static_cast<double>(f.cells[c].observations.load(std::memory_order_relaxed)));
      add(ref_f, std::move(bl), f.ref_ratios[c]);
    }
  }

  auto dropped_f =
      family("mlsidecar_drift_dropped_samples_total",
             "Sampled bodies dropped because the drift queue was full", MetricType::Counter);
  auto skipped_f = family("mlsidecar_drift_skipped_total", "Bodies not read for drift, by reason",
                          MetricType::Counter);
  auto read_f = family("mlsidecar_drift_samples_total", "Bodies read for drift, by direction",
                       MetricType::Counter);
  auto untracked_f = family("mlsidecar_drift_untracked_values_total",
                            "Values of features not in the profile (or over --drift-max-features)",
                            MetricType::Counter);
  auto last_f = family("mlsidecar_drift_last_computation_timestamp_seconds",
                       "Unix time of the last drift computation", MetricType::Gauge);
  auto dur_f = family("mlsidecar_drift_computation_seconds",
                      "Duration of the last drift computation", MetricType::Gauge);
  double dropped = 0, too_large = 0, compressed = 0;
  for (const auto& p : producers_) {
    dropped += static_cast<double>(p->dropped.load(std::memory_order_relaxed));
    too_large += static_cast<double>(p->too_large.load(std::memory_order_relaxed));
    compressed += static_cast<double>(p->compressed.load(std::memory_order_relaxed));
  }
  add(dropped_f, {}, dropped);
  for (std::size_t s = 1; s < kReadStatusCount; ++s) {
    const auto status = static_cast<ReadStatus>(s);
    double v = static_cast<double>(skipped_[s].load(std::memory_order_relaxed));
    if (status == ReadStatus::too_large) v += too_large;
    if (status == ReadStatus::compressed) v += compressed;
    add(skipped_f, {{"reason", std::string(read_status_name(status))}}, v);
  }
  for (std::size_t d = 0; d < kDirectionCount; ++d) {
    add(read_f, {{"direction", std::string(direction_name(static_cast<Direction>(d)))}},
        static_cast<double>(bodies_read_[d].load(std::memory_order_relaxed)));
  }
  add(untracked_f, {}, static_cast<double>(untracked_values_.load(std::memory_order_relaxed)));
  if (snap->computed) {
    add(last_f, {}, std::chrono::duration<double>(snap->computed_at.time_since_epoch()).count());
    add(dur_f, {}, snap->computation_seconds);
  }

  std::vector<MetricFamily> out;
  for (auto* f : {&psi_f, &js_f, &ks_f, &ksp_f, &w_f, &wn_f, &chi_f, &win_f, &miss_f, &inv_f,
                  &bin_f, &ref_f, &dropped_f, &skipped_f, &read_f, &untracked_f, &last_f, &dur_f}) {
    rename(*f, settings_.metric_prefix, settings_.metric_labels);
    out.push_back(std::move(*f));
  }
  return out;
}

std::string DriftEngine::drift_json() const {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard lock(snapshot_mutex_);
    snap = snapshot_;
  }
  using nlohmann::json;
  json doc;
  doc["profile"] = settings_.profile_path;
  doc["source"] = profile_.source;
  doc["window"] = settings_.window;
  doc["interval_seconds"] = std::chrono::duration<double>(settings_.interval).count();
  doc["sample_rate"] = settings_.sample_rate;
  doc["format"] = payload_format_name(settings_.format);
  doc["psi_epsilon"] = kRatioEpsilon;
  doc["computed_at"] = snap->computed ? json(rfc3339(snap->computed_at)) : json(nullptr);
  doc["computation_seconds"] = snap->computation_seconds;
  json features = json::array();
  for (std::size_t i = 0; i < features_.size(); ++i) {
    const FeatureState& f = *features_[i];
    const FeatureProfile& p = *f.profile;
    const FeatureResult& r = snap->features[i];
    json j;
    j["name"] = p.name;
    j["direction"] = direction_name(p.direction);
    j["kind"] = feature_kind_name(p.kind);
    j["window_samples"] = r.window_samples;
    j["missing"] = f.missing.load(std::memory_order_relaxed);
    j["invalid"] = f.invalid.load(std::memory_order_relaxed);
    json stats;
    stats["psi"] = number_or_null(r.psi);
    stats["js_distance"] = number_or_null(r.js_distance);
    if (f.numeric) {
      stats["ks_statistic"] = number_or_null(r.ks_statistic);
      stats["ks_pvalue"] = number_or_null(r.ks_pvalue);
      stats["ks_method"] = r.ks_exact ? "exact" : "asymptotic";
      stats["wasserstein"] = number_or_null(r.wasserstein);
      stats["wasserstein_normalized"] = number_or_null(r.wasserstein_normalized);
    } else {
      stats["chi2_statistic"] = number_or_null(r.chi2_statistic);
      stats["chi2_pvalue"] = number_or_null(r.chi2_pvalue);
    }
    j["statistics"] = std::move(stats);
    json cells = json::array();
    for (std::size_t c = 0; c < f.ref_ratios.size(); ++c) {
      json cell;
      cell[f.numeric ? "bin" : "category"] = f.labels[c];
      if (f.numeric) {
        cell["lower"] = c == 0 ? json(nullptr) : json(p.edges[c - 1]);
        cell["upper"] = c == p.edges.size() ? json(nullptr) : json(p.edges[c]);
      }
      cell["reference_ratio"] = f.ref_ratios[c];
      cell["window_ratio"] = c < r.window_ratios.size() ? r.window_ratios[c] : 0.0;
      cell["observations_total"] = f.cells[c].observations.load(std::memory_order_relaxed);
      cells.push_back(std::move(cell));
    }
    j[f.numeric ? "bins" : "categories"] = std::move(cells);
    json ref;
    ref["count"] = p.count;
    ref["missing"] = p.missing;
    if (f.numeric) {
      ref["mean"] = p.mean;
      ref["std"] = p.std;
      ref["min"] = p.min;
      ref["max"] = p.max;
      ref["sample_size"] = p.sample.size();
    }
    j["reference"] = std::move(ref);
    features.push_back(std::move(j));
  }
  doc["features"] = std::move(features);
  double dropped = 0;
  for (const auto& p : producers_) dropped += static_cast<double>(p->dropped.load());
  doc["dropped_samples"] = dropped;
  // The profile path comes from a flag: bytes that are not UTF-8 are replaced, not thrown.
  return doc.dump(2, ' ', false, json::error_handler_t::replace);
}

}  // namespace mlsidecar::drift
