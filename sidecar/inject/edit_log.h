// A record of edits made to a JSON document, precise enough to undo them byte for byte: for each
// path first touched, either its previous value or the fact that it (or its first missing
// ancestor) was absent. Injection stores the record in the `mlsidecar.io/status` annotation and
// uninjection replays it backwards. Values restored in place keep their key position, so a
// manifest written back out matches the original.
//
// Example: with annotations {a: "1"}, set(/metadata/annotations/a, "2") records {path, value: "1"}
// and set(/metadata/annotations/b, "x") records {path: .../b, absent: true}; undo puts "1" back
// at a's position and erases b.
//
// Thread-safety: a plain value; not for concurrent mutation.
#pragma once

#include "sidecar/inject/yaml_bridge.h"

namespace mlsidecar::inject {

class EditLog {
 public:
  // Sets root[pointer] = value, creating missing parent objects, and records what was there
  // unless this path (or an ancestor) was already recorded.
  void set(Json& root, const Json::json_pointer& pointer, Json value);

  // The record: [{"path": "/a/b", "value": old} | {"path": "/a/b", "absent": true}, ...].
  const Json& entries() const { return entries_; }

  // Replays `entries` backwards onto root. Paths that no longer exist are ignored.
  static void undo(Json& root, const Json& entries);

 private:
  bool recorded(const std::string& path) const;
  Json entries_ = Json::array();
};

}  // namespace mlsidecar::inject
