#include "metrics/status/drift_view.h"

#include <algorithm>
#include <string>
#include <tuple>

namespace mlsidecar::status {
namespace {

using nlohmann::json;

double number_or(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

}  // namespace

json drift_view(const json& drift, const DriftThresholds& thresholds) {
  json features = json::array();
  std::size_t drifted = 0;
  for (const json& f : drift.at("features")) {
    const json& stats = f.at("statistics");
    json out;
    out["name"] = f.at("name");
    out["direction"] = f.at("direction");
    out["kind"] = f.at("kind");
    const double samples = f.at("window_samples").get<double>();
    out["window_samples"] = samples;
    out["enough_data"] = samples >= thresholds.min_samples;
    out["missing"] = f.value("missing", json(nullptr));
    out["invalid"] = f.value("invalid", json(nullptr));
    double severity = 0;
    json worst = nullptr;
    auto consider = [&](const char* statistic, double threshold) {
      auto it = stats.find(statistic);
      if (it == stats.end() || !it->is_number() || !(threshold > 0)) return;
      const double value = it->get<double>();
      const double ratio = value / threshold;
      if (worst.is_null() || ratio > severity) {
        severity = ratio;
        worst = {{"statistic", statistic}, {"value", value}, {"threshold", threshold}};
      }
    };
    consider("psi", thresholds.psi);
    if (thresholds.ks) consider("ks_statistic", *thresholds.ks);
    const bool flagged = severity > 1 && samples >= thresholds.min_samples;
    drifted += flagged ? 1 : 0;
    out["severity"] = severity;
    out["worst"] = std::move(worst);
    out["flagged"] = flagged;
    out["statistics"] = stats;
    json bins = json::array();
    const bool numeric = f.contains("bins");
    for (const json& cell : f.at(numeric ? "bins" : "categories")) {
      bins.push_back({{"label", cell.at(numeric ? "bin" : "category")},
                      {"reference", number_or(cell, "reference_ratio", 0)},
                      {"live", number_or(cell, "window_ratio", 0)}});
    }
    out["bins"] = std::move(bins);
    features.push_back(std::move(out));
  }
  std::stable_sort(features.begin(), features.end(), [](const json& a, const json& b) {
    const double sa = a["severity"].get<double>();
    const double sb = b["severity"].get<double>();
    if (sa != sb) return sa > sb;
    return std::tie(a["direction"].get_ref<const std::string&>(),
                    a["name"].get_ref<const std::string&>()) <
           std::tie(b["direction"].get_ref<const std::string&>(),
                    b["name"].get_ref<const std::string&>());
  });
  json th = {{"psi", thresholds.psi},
             {"ks_statistic", thresholds.ks ? json(*thresholds.ks) : json(nullptr)},
             {"min_samples", thresholds.min_samples},
             {"source", "MlsidecarFeatureDrift in manifests/monitoring/prometheusrule.yaml"}};
  return {{"thresholds", std::move(th)},
          {"drifted", drifted},
          {"computed_at", drift.value("computed_at", json(nullptr))},
          {"window", drift.value("window", json(nullptr))},
          {"features", std::move(features)}};
}

json status_drift(const std::optional<std::string>& drift, const DriftThresholds& thresholds) {
  json out = {{"drift", nullptr}};
  if (!drift) return out;
  try {
    out["drift"] = drift_view(json::parse(*drift), thresholds);
  } catch (const json::exception& e) {
    out["drift_error"] = std::string("the /drift document cannot be shown: ") + e.what();
  }
  return out;
}

}  // namespace mlsidecar::status
