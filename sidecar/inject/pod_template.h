// Where the pod template sits inside each workload kind, and typed reads of its metadata.
//
// Thread-safety: free functions without shared state.
#pragma once

#include "sidecar/inject/yaml_bridge.h"

#include <optional>
#include <string>
#include <string_view>

namespace mlsidecar::inject {

// JSON pointer to the pod template of an object of this kind ("" for a Pod itself), or nothing
// for a kind that holds no pod template injection handles.
//   Pod: ""   Deployment, StatefulSet, DaemonSet, ReplicaSet, Job: "/spec/template"
//   CronJob: "/spec/jobTemplate/spec/template"
std::optional<Json::json_pointer> pod_template_pointer(std::string_view kind);

// The value of an annotation (or label) on a pod template, as text. Non-string scalars, which
// Kubernetes would reject but YAML writers produce (`mlsidecar.io/inject: false`), are rendered.
std::optional<std::string> annotation_of(const Json& pod_template, std::string_view key);
std::optional<std::string> label_of(const Json& pod_template, std::string_view key);

// The name of the workload an object is or belongs to, for a model name that nothing else gives:
// a Pod made by a controller is named after its owner (a ReplicaSet's pod-template-hash suffix
// removed, so that it names the Deployment and stays the same across rollouts), else after its
// generateName ("llama-" -> "llama"); any other object by its own name. "" when none is known.
std::string workload_name(const Json& object);

// "Kind/namespace/name" for reports and errors; parts that are missing are left out.
std::string describe_object(const Json& object);

}  // namespace mlsidecar::inject
