#include "metrics/status/escape.h"

#include <cstdint>
#include <cstdio>

#include "metrics/utf8.h"

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

bool shown_escaped(std::uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

std::string message_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char buf[8];
  for (std::size_t i = 0; i < text.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8::sequence_at(text, i, cp);
    if (n == 0 || cp < 0x20 || cp == 0x7F || cp == '\\') {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(text[i]));
      out += buf;
      ++i;
    } else if (shown_escaped(cp)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

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
