// Injection over a whole multi-document manifest, as `mlsidecar inject`/`uninject` do it: every
// Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob (also inside `kind: List`)
// goes through the core; Services selecting injected pods on the model's port are repointed at the
// sidecar; everything else passes through unchanged. Text in, text out, no I/O.
//
// Thread-safety: free function without shared state.
#pragma once

#include "sidecar/inject/settings.h"

#include <string>
#include <string_view>
#include <vector>

namespace mlsidecar::inject {

enum class Direction { inject, uninject };

struct ManifestResult {
  bool ok = false;
  std::string yaml;                  // the whole output; empty when !ok
  std::vector<std::string> reports;  // one line per object: "Kind/ns/name: outcome (reason)"
  std::string error;                 // one line naming the document, when !ok
};

ManifestResult transform_manifest(std::string_view yaml, Direction direction,
                                  const InjectionSettings& settings);

}  // namespace mlsidecar::inject
