// The drift view of the status page and of `mlsidecar drift-report`: every feature of the /drift
// document, flagged against the alert thresholds and sorted by its worst statistic, with the
// reference and live bin ratios for the side-by-side histograms.
//
// A feature's severity is the largest ratio value/threshold over the thresholded statistics (PSI
// always; the KS statistic when a KS threshold is set); its worst statistic is the one that gives
// it. It is flagged when that ratio is above 1 and its window holds at least min_samples values,
// which is the MlsidecarFeatureDrift alert's condition. Example: PSI 0.5 with threshold 0.2 is
// severity 2.5, flagged with 400 samples; the same with 50 samples is sorted first but not flagged.
// A feature with fewer than min_samples values has "enough_data": false: it cannot be judged
// either way (the page says "not enough data", drift-report fails unless --allow-missing).
// Features are sorted by severity (highest first), then direction and name.
//
// Thread safety: stateless functions.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace mlsidecar::status {

struct DriftThresholds {
  // The one definition of the drift alert's thresholds in C++. They come from the
  // MlsidecarFeatureDrift rule of manifests/monitoring/prometheusrule.yaml
  // (mlsidecar_drift_psi > 0.2 and mlsidecar_drift_window_samples >= 100); keep them equal.
  static constexpr double kAlertPsi = 0.2;
  static constexpr double kAlertMinSamples = 100;

  double psi = kAlertPsi;
  std::optional<double> ks;  // the rules have none: off unless asked (drift-report --ks-threshold)
  double min_samples = kAlertMinSamples;
};

// `drift` is the /drift document (DriftEngine::drift_json()); returns
// {"thresholds": {...}, "drifted": N, "features": [{name, direction, kind, window_samples,
// enough_data, missing, invalid, severity, worst: {statistic, value, threshold}, flagged,
// statistics, bins: [{label, reference, live}]}]}; missing and invalid are the feature's
// mlsidecar_feature_missing_total and mlsidecar_feature_invalid_total (null when the document has
// none). Throws nlohmann::json::exception when the document lacks its fields.
nlohmann::json drift_view(const nlohmann::json& drift, const DriftThresholds& thresholds);

// The drift part of the status page's /status.json for the /drift document `drift` (none: drift
// is off): {"drift": view or null}, plus "drift_error" (why, as text) when the document cannot be
// read or viewed, so that the page can tell a broken view from monitoring that is off.
nlohmann::json status_drift(const std::optional<std::string>& drift,
                            const DriftThresholds& thresholds);

}  // namespace mlsidecar::status
