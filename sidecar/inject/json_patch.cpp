// JSON Patch generation. See json_patch.h.
#include "sidecar/inject/json_patch.h"

namespace mlsidecar::inject {
namespace {

void diff(const Json& a, const Json& b, const std::string& path, Json& ops);

void diff_arrays(const Json& a, const Json& b, const std::string& path, Json& ops) {
  if (a.size() == b.size()) {
    for (std::size_t i = 0; i < a.size(); ++i)
      diff(a[i], b[i], path + "/" + std::to_string(i), ops);
    return;
  }
  if (b.size() > a.size()) {
    std::size_t prefix = 0;
    while (prefix < a.size() && a[prefix] == b[prefix]) ++prefix;
    std::size_t suffix = 0;
    while (suffix < a.size() - prefix && a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
      ++suffix;
    }
    if (prefix + suffix == a.size()) {
      for (std::size_t i = prefix; i < b.size() - suffix; ++i) {
        ops.push_back(
            Json{{"op", "add"}, {"path", path + "/" + std::to_string(i)}, {"value", b[i]}});
      }
      return;
    }
  }
  ops.push_back(Json{{"op", "replace"}, {"path", path}, {"value", b}});
}

void diff(const Json& a, const Json& b, const std::string& path, Json& ops) {
  if (a == b) return;
  if (a.is_object() && b.is_object()) {
    for (const auto& [key, value] : a.items()) {
      if (!b.contains(key)) {
        ops.push_back(Json{{"op", "remove"}, {"path", path + "/" + escape_pointer_token(key)}});
      }
    }
    for (const auto& [key, value] : b.items()) {
      const std::string child = path + "/" + escape_pointer_token(key);
      if (!a.contains(key)) {
        ops.push_back(Json{{"op", "add"}, {"path", child}, {"value", value}});
      } else {
        diff(a[key], value, child, ops);
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    diff_arrays(a, b, path, ops);
    return;
  }
  ops.push_back(Json{{"op", "replace"}, {"path", path}, {"value", b}});
}

}  // namespace

std::string escape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Json json_patch_diff(const Json& from, const Json& to) {
  Json ops = Json::array();
  diff(from, to, "", ops);
  return ops;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace mlsidecar::inject
