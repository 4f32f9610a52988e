#include "metrics/llm/stream_format.h"

namespace mlsidecar::llm {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view format_name(StreamFormat format) {
  switch (format) {
    case StreamFormat::sse:
      return "sse";
    case StreamFormat::ndjson:
      return "ndjson";
    case StreamFormat::json:
      return "json";
    case StreamFormat::none:
      break;
  }
  return "none";
}

StreamFormat format_for_content_type(std::string_view content_type) {
  std::string_view type = trim(content_type.substr(0, content_type.find(';')));
  if (iequals(type, "text/event-stream")) return StreamFormat::sse;
  if (iequals(type, "application/x-ndjson") || iequals(type, "application/ndjson") ||
      iequals(type, "application/jsonl") || iequals(type, "application/x-jsonlines")) {
    return StreamFormat::ndjson;
  }
  if (iequals(type, "application/json")) return StreamFormat::json;
  constexpr std::string_view kApp = "application/", kSuffix = "+json";
  if (type.size() > kApp.size() + kSuffix.size() && iequals(type.substr(0, kApp.size()), kApp) &&
      iequals(type.substr(type.size() - kSuffix.size()), kSuffix)) {
    return StreamFormat::json;
  }
  return StreamFormat::none;
}

StreamFormat choose_format(std::string_view content_type, Route route) {
  return route == Route::generate ? format_for_content_type(content_type) : StreamFormat::none;
}

}  // namespace mlsidecar::llm
