#include "metrics/status/escape.h"

namespace mlsidecar::status {
namespace {

// Copies `text`, replacing each character `replacement` gives a non-null string for.
template <class Replacement>
std::string replace_chars(std::string_view text, Replacement replacement) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (const char* r = replacement(c)) {
      out += r;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string html_escape(std::string_view text) {
  return replace_chars(text, [](char c) -> const char* {
    switch (c) {
      case '<':
        return "&lt;";
      case '>':
        return "&gt;";
      case '&':
        return "&amp;";
      case '"':
        return "&quot;";
      case '\'':
        return "&#39;";
      default:
        return nullptr;
    }
  });
}

std::string json_for_script(const nlohmann::json& value) {
  const std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return replace_chars(text, [](char c) -> const char* {
    switch (c) {
      case '<':
        return "\\u003c";
      case '>':
        return "\\u003e";
      case '&':
        return "\\u0026";
      default:
        return nullptr;
    }
  });
}

}  // namespace mlsidecar::status
