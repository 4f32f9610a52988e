// RFC 6902 JSON Patch between two documents: the admission webhook answers with the patch that
// turns the submitted pod into the pod inject() produced. Objects are compared key by key; an
// array that only gained a contiguous run of items (a sidecar inserted first, a volume appended)
// gets `add` operations at those indexes; any other changed array is replaced whole.
//
// Thread-safety: free functions without shared state.
#pragma once

#include "sidecar/inject/yaml_bridge.h"

#include <string>
#include <string_view>

namespace mlsidecar::inject {

// The operations that turn `from` into `to` (an empty array when they are equal).
Json json_patch_diff(const Json& from, const Json& to);

// A reference token escaped for a JSON pointer ("a/b~c" -> "a~1b~0c").
std::string escape_pointer_token(std::string_view token);

// Standard base64 with padding (RFC 4648), as AdmissionReview's `patch` field wants it.
std::string base64_encode(std::string_view bytes);

}  // namespace mlsidecar::inject
