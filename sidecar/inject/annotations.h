// The annotation and label keys injection reads and writes, in one place. Users set them on the pod
// template (`spec.template.metadata` of a Deployment, or the Pod itself), which is what both the
// command line and the webhook see.
#pragma once

#include <string_view>

namespace mlsidecar::inject::annotation {

inline constexpr std::string_view kInject = "mlsidecar.io/inject";  // "false" opts out
inline constexpr std::string_view kModelContainer = "mlsidecar.io/model-container";
inline constexpr std::string_view kModelPort = "mlsidecar.io/model-port";  // number or port name
// The model's gRPC port: a number, a port name, or "none" (the model's gRPC port is not captured).
inline constexpr std::string_view kGrpcPort = "mlsidecar.io/grpc-port";
inline constexpr std::string_view kGrpcPortNone = "none";
inline constexpr std::string_view kModel = "mlsidecar.io/model";
inline constexpr std::string_view kModelVersion = "mlsidecar.io/model-version";
inline constexpr std::string_view kNative = "mlsidecar.io/native";  // "false": ordinary container
// Every serve flag of per_pod_flags() (sidecar/config.h) is also an annotation: the prefix and the
// flag's name, such as mlsidecar.io/container-concurrency or mlsidecar.io/latency-slo-seconds.
inline constexpr std::string_view kServeFlagPrefix = "mlsidecar.io/";
inline constexpr std::string_view kDriftProfile = "mlsidecar.io/drift-profile";  // CONFIGMAP[/KEY]
inline constexpr std::string_view kCpuRequest = "mlsidecar.io/cpu-request";
inline constexpr std::string_view kCpuLimit = "mlsidecar.io/cpu-limit";
inline constexpr std::string_view kMemoryRequest = "mlsidecar.io/memory-request";
inline constexpr std::string_view kMemoryLimit = "mlsidecar.io/memory-limit";
inline constexpr std::string_view kImage = "mlsidecar.io/image";
inline constexpr std::string_view kCapture = "mlsidecar.io/capture";  // redirect|port-name|service
inline constexpr std::string_view kStatus = "mlsidecar.io/status";    // written by injection
// Written by injection for monitoring: the label the shipped PodMonitor selects injected pods by
// (in every namespace), and the workload's app name, which its relabeling copies into `app`
// when the pod has neither an app.kubernetes.io/name nor an app label.
inline constexpr std::string_view kInjectedLabel = "mlsidecar.io/injected";  // "true"
inline constexpr std::string_view kApp = "mlsidecar.io/app";
// Set by Argo Rollouts on every pod of a Rollout (its ReplicaSet's pod-template hash): the
// sidecar's model version when nothing else names one (model_target.h).
inline constexpr std::string_view kRolloutsHashLabel = "rollouts-pod-template-hash";

inline constexpr std::string_view kDefaultContainer = "kubectl.kubernetes.io/default-container";
inline constexpr std::string_view kPrometheusScrape = "prometheus.io/scrape";
inline constexpr std::string_view kPrometheusPort = "prometheus.io/port";
inline constexpr std::string_view kPrometheusPath = "prometheus.io/path";

}  // namespace mlsidecar::inject::annotation
