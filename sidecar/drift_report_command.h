// `mlsidecar drift-report`: the status page's drift view for a batch, as one standalone HTML file.
//
//   mlsidecar drift-report --profile profile.json --input bodies.jsonl [-o report.html]
//
// Each line of --input is one recorded request (or, with --direction output, response) body in a
// payload format (kserve-v1, v2, tf-serving, openai; auto picks one from the first body's keys).
// The bodies go through the sidecar's own DriftEngine (the same readers, windows and statistics as
// `serve --drift-profile`), then the /drift document becomes the drift view (metrics/status/
// drift_view.h), flagged with the alert rule's thresholds unless the flags say otherwise.
// Exit 0: no feature drifted; 1: at least one did; 2: a usage or input error, one line on stderr.
// A feature of the direction with fewer than --min-samples values in the batch (absent from the
// bodies: a schema break) cannot be judged: exit 2 naming it, with the report written and the
// feature marked "not enough data" there, unless --allow-missing (then 0 or 1 by the others).
// A summary line goes to stderr, its control characters escaped (status::message_escape); the
// HTML to -o FILE, or stdout. The flags read no environment.
#pragma once

#include <string>
#include <vector>

#include "sidecar/cli/flags.h"

namespace mlsidecar::drift {

int run_drift_report_command(const std::vector<std::string>& args, const cli::Environment& env);

}  // namespace mlsidecar::drift
