// Appending a model server's own metrics (Prometheus text format 0.0.4, as fetched from its
// /metrics) to the sidecar's, so that one scrape of the admin port carries both, as Istio's and
// KServe's agents do.
//
// Prometheus refuses a whole scrape in which a family appears twice, so a family of the model's
// whose name the sidecar's text already has is left out (and counted); the sidecar renames its
// own process_* families to mlsidecar_process_* when merging (see ProcessMetrics), since the
// pod's process_* belong to the model. Names with colons (vLLM's `vllm:num_requests_running`) are
// valid metric names and pass through. A line that is not a comment, a blank or a well-formed
// sample is left out (and counted) rather than passed on to fail the whole scrape; an OpenMetrics
// `# EOF` is dropped.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mlsidecar::metrics {

struct MergeCounts {
  std::size_t families = 0;            // families of the model's that were appended
  std::size_t duplicate_families = 0;  // left out: the sidecar has a family of that name
  std::size_t invalid_lines = 0;       // left out: not a comment, blank or sample
};

// Appends the model's exposition `model` to `out`, which already holds the sidecar's own.
MergeCounts append_model_metrics(std::string& out, std::string_view model);

}  // namespace mlsidecar::metrics
