// The drift view of the status page and of `mlsidecar drift-report`: every feature of the /drift
// document, flagged against the alert thresholds and sorted by its worst statistic, with the
// reference and live bin ratios for the side-by-side histograms.
//
// A feature's severity is the largest ratio value/threshold over the thresholded statistics (PSI
// always; the KS statistic when a KS threshold is set); its worst statistic is the one that gives
// it. It is flagged when that ratio is above 1 and its window holds at least min_samples values,
// which is the MlsidecarFeatureDrift alert's condition. Example: PSI 0.5 with threshold 0.2 is
// severity 2.5, flagged with 400 samples; the same with 50 samples is sorted first but not flagged.
// Features are sorted by severity (highest first), then direction and name.
//
// Thread safety: stateless functions.
#pragma once

#include <optional>

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
// severity, worst: {statistic, value, threshold}, flagged, statistics, bins: [{label, reference,
// live}]}]}. Throws nlohmann::json::exception when the document lacks its fields.
nlohmann::json drift_view(const nlohmann::json& drift, const DriftThresholds& thresholds);

}  // namespace mlsidecar::status
