// Renders simulation results for people and for tools: a fixed-width table, a CSV of the summary,
// a CSV of the timelines, and an SVG chart (offered load on top, replicas per signal choice below,
// with the replicas the load would need at the target drawn dashed for reference).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "simulator/load_trace.h"
#include "simulator/scaling_simulator.h"

namespace mlsidecar::policies {

std::string render_table(const std::vector<SimulationResult>& results);
std::string render_summary_csv(const std::vector<SimulationResult>& results);
std::string render_timeline_csv(const std::vector<SimulationResult>& results);
std::string render_svg(const LoadTrace& trace, const SimulationParams& resolved,
                       const std::vector<SimulationResult>& results);

}  // namespace mlsidecar::policies
