// Route classification: which inference protocol a request-target belongs to, and the model and
// version the protocol puts in its path. Pure string work on the hot path: no allocation, the
// returned views point into the target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlsidecar {

enum class Route : std::uint8_t {
  predict,   // KServe V1 / TF Serving `:predict` (also `:classify`, `:regress`)
  infer,     // Open Inference Protocol V2 `/v2/models/<m>[/versions/<v>]/infer`
  generate,  // OpenAI-style `/v1/completions`, `/v1/chat/completions`, `/v1/embeddings`, Ollama
  health,    // the model's health, readiness and metadata endpoints
  other,
};
inline constexpr std::size_t kRouteCount = 5;

std::string_view route_name(Route route);

struct RouteInfo {
  Route route = Route::other;
  std::string_view model;    // empty when the path does not name one
  std::string_view version;  // empty when the path does not name one
};

// Classifies an origin-form request-target ("/v2/models/m/infer?x=1"); the query is ignored.
RouteInfo classify_target(std::string_view target);

}  // namespace mlsidecar
