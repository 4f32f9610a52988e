// The parts of the status page's /status.json that come from the snapshot ring: the chart series,
// the ring's window totals, the newest snapshot's cumulative values and the shadow comparison.
//
// Thread safety: stateless functions.
#pragma once

#include <nlohmann/json.hpp>

#include "metrics/status/status_ring.h"

namespace mlsidecar::status {

// {"interval_seconds", "capacity", "points": {"t": [...], "requests_per_second": [...], ...},
//  "window": {...}, "totals": {...}}; unknown values are null.
nlohmann::json ring_json(const StatusRing& ring, double interval_seconds);

// The newest snapshot's shadow families by version, or null when there are none.
nlohmann::json shadow_json(const StatusRing& ring);

}  // namespace mlsidecar::status
