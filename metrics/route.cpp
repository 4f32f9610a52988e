#include "metrics/route.h"

namespace mlsidecar {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

// Splits "<model>[/versions/<version>]<rest>" for the V1 and V2 model paths.
struct ModelPath {
  std::string_view model;
  std::string_view version;
  std::string_view rest;  // what follows: ":predict", "/infer", "/ready", ...
};

ModelPath split_model_path(std::string_view s) {
  ModelPath out;
  std::size_t end = s.find_first_of("/:");
  out.model = s.substr(0, end);
  if (end == std::string_view::npos) return out;
  s.remove_prefix(end);
  constexpr std::string_view kVersions = "/versions/";
  if (starts_with(s, kVersions)) {
    s.remove_prefix(kVersions.size());
    std::size_t vend = s.find_first_of("/:");
    out.version = s.substr(0, vend);
    s = vend == std::string_view::npos ? std::string_view{} : s.substr(vend);
  }
  out.rest = s;
  return out;
}

bool is_health_path(std::string_view p) {
  return p == "/health" || p == "/healthz" || p == "/ready" || p == "/readyz" || p == "/live" ||
         p == "/livez" || p == "/ping" || starts_with(p, "/v2/health/") || p == "/v2" ||
         p == "/v1/models" || p == "/api/tags";
}

}  // namespace

std::string_view route_name(Route route) {
  switch (route) {
    case Route::predict:
      return "predict";
    case Route::infer:
      return "infer";
    case Route::generate:
      return "generate";
    case Route::health:
      return "health";
    case Route::other:
      break;
  }
  return "other";
}

RouteInfo classify_target(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  RouteInfo info;
  if (starts_with(path, "/v2/models/")) {
    ModelPath mp = split_model_path(path.substr(11));
    info.model = mp.model;
    info.version = mp.version;
    if (mp.rest == "/infer") {
      info.route = Route::infer;
    } else if (mp.rest.empty() || mp.rest == "/ready") {
      info.route = Route::health;
    }
    return info;
  }
  if (starts_with(path, "/v1/models/")) {
    ModelPath mp = split_model_path(path.substr(11));
    info.model = mp.model;
    info.version = mp.version;
    if (mp.rest == ":predict" || mp.rest == ":classify" || mp.rest == ":regress") {
      info.route = Route::predict;
    } else if (mp.rest.empty() || mp.rest == "/metadata") {
      info.route = Route::health;
    }
    return info;
  }
  if (path == "/v1/completions" || path == "/v1/chat/completions" || path == "/v1/embeddings" ||
      path == "/api/generate" || path == "/api/chat" || path == "/api/embed") {
    info.route = Route::generate;
    return info;
  }
  if (is_health_path(path)) info.route = Route::health;
  return info;
}

}  // namespace mlsidecar
