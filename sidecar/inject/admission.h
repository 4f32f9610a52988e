// The admission logic of the webhook, without the network: an AdmissionReview body in, the HTTP
// status and JSON body to answer with out. An injected pod is allowed with a base64 JSONPatch; a
// skipped one is allowed with a `warnings` entry and no patch; a body that is not an
// admission.k8s.io/v1 AdmissionReview gets 400 and a JSON error. Never denies a pod: injection
// must not stop workloads from starting.
//
// Thread-safety: free function without shared state.
#pragma once

#include "sidecar/inject/settings.h"

#include <string>
#include <string_view>

namespace mlsidecar::inject {

struct AdmissionAnswer {
  unsigned status = 200;
  std::string body;  // application/json
  std::string log;   // one line for the server's log
};

AdmissionAnswer review_admission(std::string_view body, const InjectionSettings& settings);

}  // namespace mlsidecar::inject
