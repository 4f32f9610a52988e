// ScaledObjects and HPAs for injected workloads. See autoscale.h.
#include "sidecar/inject/autoscale.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "sidecar/inject/annotations.h"
#include "sidecar/inject/pod_template.h"

namespace mlsidecar::inject {
namespace {

std::string metadata_field(const Json& object, const char* key) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return {};
  const Json& value = object["metadata"].value(key, Json());
  return value.is_string() ? value.get<std::string>() : std::string();
}

const Json* pod_template_of(const Json& workload) {
  const auto pointer = pod_template_pointer(workload.value("kind", ""));
  if (!pointer || !workload.contains(*pointer)) return nullptr;
  const Json& tpl = workload.at(*pointer);
  return tpl.is_object() ? &tpl : nullptr;
}

// A PromQL string literal's content: backslashes and double quotes escaped.
std::string promql_escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out;
}

// "1", "250", "0.5": the shortest decimal that reads back as the same number, never in exponent
// form (KEDA parses thresholds as plain decimals).
std::string plain_number(double value) {
  char text[64];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, value, std::chars_format::fixed);
  return ec == std::errc() ? std::string(text, end) : std::string("0");
}

// A Kubernetes quantity for an HPA's averageValue: whole numbers as they are, others in
// thousandths ("500m"), the finest unit an HPA compares.
std::string quantity(double value) {
  if (value == std::floor(value) && value < 1e15) return plain_number(value);
  return std::to_string(static_cast<long long>(std::llround(value * 1000))) + "m";
}

// Up at once (at most double, or +4 pods, per 15 s); down only after 5 minutes at the lower
// value and by at most half per minute: the behaviour of the shipped overlays.
Json behavior() {
  return Json::parse(R"({
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
      {"type": "Percent", "value": 100, "periodSeconds": 15},
      {"type": "Pods", "value": 4, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
      {"type": "Percent", "value": 50, "periodSeconds": 60}]}})");
}

Json scale_target(const Json& workload) {
  return Json{{"apiVersion", workload.value("apiVersion", "apps/v1")},
              {"kind", workload["kind"]},
              {"name", metadata_field(workload, "name")}};
}

Json object_metadata(const std::string& name, const std::string& ns) {
  Json meta{{"name", name}};
  if (!ns.empty()) meta["namespace"] = ns;
  meta["labels"] = {{"app.kubernetes.io/managed-by", "mlsidecar-autoscale"}};
  return meta;
}

}  // namespace

bool is_scalable(const Json& object) {
  if (!object.is_object()) return false;
  const std::string kind = object.value("kind", "");
  return kind == "Deployment" || kind == "StatefulSet" || kind == "ReplicaSet";
}

std::string autoscale_app(const Json& workload) {
  if (const Json* tpl = pod_template_of(workload)) {
    for (const auto& value : {annotation_of(*tpl, annotation::kApp),
                              label_of(*tpl, "app.kubernetes.io/name"), label_of(*tpl, "app")}) {
      if (value && !value->empty()) return *value;
    }
  }
  return metadata_field(workload, "name");
}

AutoscaleResult make_autoscaler(const Json& workload, const AutoscaleOptions& options) {
  AutoscaleResult result;
  const std::string where = describe_object(workload);
  const std::string name = metadata_field(workload, "name");
  if (name.empty()) {
    result.failed = true;
    result.report = where + ": failed (no metadata.name)";
    return result;
  }
  std::string ns = metadata_field(workload, "namespace");
  if (ns.empty()) ns = options.ns;
  const bool tokens = options.signal == "output-tokens";

  double target = options.target;
  if (target <= 0 && !tokens) target = 1;
  if (target <= 0) {
    const Json* tpl = pod_template_of(workload);
    const auto annotated = tpl ? annotation_of(*tpl, std::string(annotation::kServeFlagPrefix) +
                                                         "target-output-tokens-per-second")
                               : std::nullopt;
    char* end = nullptr;
    if (annotated) target = std::strtod(annotated->c_str(), &end);
    if (!annotated || end == annotated->c_str() || *end != '\0' || !(target > 0)) {
      result.failed = true;
      result.report = where +
                      ": failed (--signal output-tokens needs --target, output tokens/s per "
                      "replica, or the pod's mlsidecar.io/target-output-tokens-per-second)";
      return result;
    }
  }
  const std::string app = autoscale_app(workload);
  const std::string signal_text = tokens
                                      ? "output tokens/s, " + plain_number(target) + " per replica"
                                      : "load ratio, target " + plain_number(target);

  if (options.via == "hpa-adapter") {
    // A Pods metric: the HPA asks the adapter for the scale target's own pods, so the query
    // needs no namespace or app (the adapter's rule adds namespace and pod).
    const char* metric =
        tokens ? "mlsidecar_output_tokens_per_second" : "mlsidecar_autoscale_load_ratio";
    Json hpa{{"apiVersion", "autoscaling/v2"},
             {"kind", "HorizontalPodAutoscaler"},
             {"metadata", object_metadata(name, ns)}};
    hpa["spec"] = {
        {"scaleTargetRef", scale_target(workload)},
        {"minReplicas", options.min_replicas},
        {"maxReplicas", options.max_replicas},
        {"metrics",
         Json::array({Json{
             {"type", "Pods"},
             {"pods",
              {{"metric", {{"name", metric}}},
               {"target", {{"type", "AverageValue"}, {"averageValue", quantity(target)}}}}}}})},
        {"behavior", behavior()}};
    result.object = std::move(hpa);
    result.report = where + ": HorizontalPodAutoscaler " + name + " on " + signal_text +
                    " (pods metric " + metric + " from prometheus-adapter)";
    return result;
  }

  if (ns.empty()) {
    result.failed = true;
    result.report = where +
                    ": failed (no namespace: KEDA's query must name it; set metadata.namespace "
                    "or pass --namespace)";
    return result;
  }
  const std::string selector = "{job=\"mlsidecar\",namespace=\"" + promql_escaped(ns) +
                               "\",app=\"" + promql_escaped(app) + "\"}";
  // The sum over the workload's pods; with AverageValue KEDA divides it by the replica count,
  // so the HPA sizes the workload for every pod to sit at `target`.
  const std::string query =
      tokens ? "sum(rate(mlsidecar_output_tokens_total" + selector + "[1m]))"
             : "sum(max by (pod) (mlsidecar_autoscale_load_ratio" + selector + "))";
  const std::uint64_t fallback =
      std::min(options.max_replicas, std::max<std::uint64_t>(options.min_replicas, 2));
  Json scaled{{"apiVersion", "keda.sh/v1alpha1"},
              {"kind", "ScaledObject"},
              {"metadata", object_metadata(name, ns)}};
  scaled["spec"] = {{"scaleTargetRef", scale_target(workload)},
                    {"pollingInterval", 15},
                    {"minReplicaCount", options.min_replicas},
                    {"maxReplicaCount", options.max_replicas},
                    // Prometheus unreachable, or the query empty (a broken scrape, a renamed
                    // label), three polls in a row: hold this many replicas instead of guessing.
                    {"fallback", {{"failureThreshold", 3}, {"replicas", fallback}}},
                    {"advanced", {{"horizontalPodAutoscalerConfig", {{"behavior", behavior()}}}}},
                    {"triggers", Json::array({Json{{"type", "prometheus"},
                                                   {"metricType", "AverageValue"},
                                                   {"metadata",
                                                    {{"serverAddress", options.prometheus},
                                                     {"query", query},
                                                     {"threshold", plain_number(target)},
                                                     {"ignoreNullValues", "false"}}}}})}};
  result.object = std::move(scaled);
  result.report = where + ": ScaledObject " + ns + "/" + name + " on " + signal_text +
                  " (series of app=" + app + ")";
  return result;
}

}  // namespace mlsidecar::inject
