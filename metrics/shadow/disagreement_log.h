// DisagreementLog: the last few requests on which the shadow answered differently from the
// primary, for the admin port's /shadow. The counters say how often the versions disagree; this
// says on which requests, so that an engineer can replay one (by its x-request-id) and look.
//
// An entry is a status class that differs (output empty), or the first row of a label or argmax
// output that differs (one entry per output of the pair). Values are the status codes, the label
// texts or the argmax indices, cut at kMaxValueBytes (so are output names, which come from the
// models' answers); numeric outputs have no entry (their
// differences are histograms). Only outputs are kept, never request bodies.
//
// Example of json("v2"):
//   {"version": "v2", "disagreements_total": 51, "capacity": 32, "recent": [
//     {"time": "2026-12-06T10:00:00Z", "request_id": "req-48", "route": "infer",
//      "output": "label", "kind": "label", "row": 0, "primary": "class-0", "shadow": "class-1"},
//     ...]}   (newest first)
//
// Thread safety: add() and json() from any thread; one mutex, held for a copy. The shadow worker
// adds (off the request path), the admin thread reads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

#include "metrics/route.h"

namespace mlsidecar::shadow {

struct Disagreement {
  std::chrono::system_clock::time_point at;
  std::string request_id;
  Route route = Route::other;
  std::string output;  // empty: the status classes differ
  std::string kind;    // "status", "label" or "argmax"
  std::size_t row = 0;
  std::string primary;
  std::string shadow;
};

class DisagreementLog {
 public:
  static constexpr std::size_t kCapacity = 32;
  static constexpr std::size_t kMaxValueBytes = 120;
  // The sidecar keeps request ids of up to 200 bytes; an id is kept whole up to this, to be
  // looked up as it is.
  static constexpr std::size_t kMaxRequestIdBytes = 256;

  // Keeps `d` (its values and output name cut at kMaxValueBytes), forgetting the oldest beyond
  // kCapacity.
  void add(Disagreement d);
  std::uint64_t total() const;
  std::string json(const std::string& version) const;

 private:
  mutable std::mutex mutex_;
  std::deque<Disagreement> entries_;  // oldest first
  std::uint64_t total_ = 0;
};

}  // namespace mlsidecar::shadow
