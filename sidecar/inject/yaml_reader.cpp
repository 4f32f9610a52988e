// Reading YAML streams into ordered JSON with Kubernetes' scalar rules. See yaml_bridge.h.
#include "sidecar/inject/yaml_bridge.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace mlsidecar::inject {
namespace {

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> options) {
  for (auto o : options) {
    if (s == o) return true;
  }
  return false;
}

// Parses digits in `base` (with optional sign already stripped); false if anything is off.
bool parse_integer(std::string_view digits, int base, bool negative, Json& out) {
  if (digits.empty()) return false;
  std::string text(digits);
  for (char c : text) {
    const bool ok = (base == 2)    ? (c == '0' || c == '1')
                    : (base == 8)  ? (c >= '0' && c <= '7')
                    : (base == 10) ? (c >= '0' && c <= '9')
                                   : std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (!ok) return false;
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long magnitude = std::strtoull(text.c_str(), &end, base);
  if (errno == ERANGE || end != text.c_str() + text.size()) return false;
  if (negative) {
    if (magnitude > static_cast<unsigned long long>(std::numeric_limits<long long>::max()) + 1ULL) {
      return false;
    }
    out = magnitude == 0 ? 0LL : -static_cast<long long>(magnitude - 1) - 1;
  } else if (magnitude <= static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
    out = static_cast<long long>(magnitude);
  } else {
    out = magnitude;
  }
  return true;
}

bool parse_float(std::string_view s, Json& out) {
  // [-+]?( \.[0-9]+ | [0-9]+ ( \.[0-9]* )? )( [eE][-+]?[0-9]+ )?
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++int_digits;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++frac_digits;
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  bool exponent = false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    exponent = true;
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != s.size() || (!dot && !exponent)) return false;
  out = std::strtod(std::string(s).c_str(), nullptr);
  return true;
}

Json convert(const YAML::Node& node);

Json convert_scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return Json(text);
  return resolve_plain_scalar(text);
}

Json convert(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return convert_scalar(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(convert(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          throw YamlError("line " + std::to_string(kv.first.Mark().line + 1) +
                          ": mapping keys must be scalars");
        }
        const std::string& key = kv.first.Scalar();
        if (out.contains(key)) {
          throw YamlError("line " + std::to_string(kv.first.Mark().line + 1) +
                          ": duplicate key \"" + key + "\"");
        }
        out[key] = convert(kv.second);
      }
      return out;
    }
  }
  return Json(nullptr);
}

bool is_document_start(std::string_view line) {
  return line.substr(0, 3) == "---" && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
}
bool is_document_end(std::string_view line) {
  return line.substr(0, 3) == "..." && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
}

struct RawDocument {
  std::string text;
  int first_line = 1;
};

// Splits at `---` and `...` lines at column 0. Top-level block scalars are the only place such a
// line could be content, and Kubernetes objects are mappings, so the split is safe for them.
std::vector<RawDocument> split_documents(std::string_view text) {
  std::vector<RawDocument> docs(1);
  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    if (is_document_start(line)) {
      docs.push_back({std::string(line.substr(3)) + "\n", line_no});
    } else if (is_document_end(line)) {
      docs.push_back({"", line_no + 1});
    } else {
      if (docs.back().text.empty()) docs.back().first_line = line_no;
      docs.back().text.append(line).push_back('\n');
    }
    pos = eol + 1;
  }
  return docs;
}

// True when the text holds more than blank lines and comments.
bool has_content(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') return true;
    pos = eol + 1;
  }
  return false;
}

}  // namespace

Json resolve_plain_scalar(std::string_view s) {
  if (is_one_of(s, {"", "~", "null", "Null", "NULL"})) return Json(nullptr);
  // Booleans as in YAML 1.2: YAML 1.1's yes/no/on/off stay strings (the writer quotes them), so a
  // `value: yes` in an env var is not turned into `true`.
  if (is_one_of(s, {"true", "True", "TRUE"})) return Json(true);
  if (is_one_of(s, {"false", "False", "FALSE"})) return Json(false);
  if (is_one_of(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})) {
    return Json(std::numeric_limits<double>::infinity());
  }
  if (is_one_of(s, {"-.inf", "-.Inf", "-.INF"})) {
    return Json(-std::numeric_limits<double>::infinity());
  }
  std::string_view body = s;
  bool negative = false;
  if (body[0] == '-' || body[0] == '+') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  Json number;
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
    if (parse_integer(body.substr(2), 16, negative, number)) return number;
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'o' || body[1] == 'O')) {
    if (parse_integer(body.substr(2), 8, negative, number)) return number;
  } else if (body.size() > 2 && body[0] == '0' && (body[1] == 'b' || body[1] == 'B')) {
    if (parse_integer(body.substr(2), 2, negative, number)) return number;
  } else if (body.size() > 1 && body[0] == '0') {
    if (parse_integer(body.substr(1), 8, negative, number)) return number;  // YAML 1.1 octal
  } else if (parse_integer(body, 10, negative, number)) {
    return number;
  }
  if (parse_float(s, number)) return number;
  return Json(std::string(s));
}

namespace {

// The line (1-based) of the first byte sequence that is not UTF-8, or 0 when all of it is.
// Kubernetes objects are UTF-8; anything else would be copied out unchanged and could be read
// back differently (yaml-cpp takes output beginning FE FF for UTF-16).
int first_line_not_utf8(std::string_view text) {
  int line = 1;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    std::size_t extra = 0;
    unsigned min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      min = 0x10000;
    } else {
      return line;
    }
    if (text.size() - i <= extra) return line;
    unsigned code = c & (0x3F >> extra);
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return line;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return line;
    i += extra + 1;
  }
  return 0;
}

}  // namespace

std::vector<YamlDocument> parse_yaml_stream(std::string_view text) {
  if (const int line = first_line_not_utf8(text); line != 0) {
    throw YamlError("line " + std::to_string(line) +
                    ": not UTF-8 (Kubernetes manifests are UTF-8)");
  }
  std::vector<YamlDocument> out;
  int index = 0;
  for (const RawDocument& raw : split_documents(text)) {
    if (!has_content(raw.text)) continue;
    ++index;
    YAML::Node node;
    try {
      node = YAML::Load(raw.text);
    } catch (const YAML::Exception& e) {
      throw YamlError("document " + std::to_string(index) + " (line " +
                      std::to_string(raw.first_line + e.mark.line) + "): " + e.msg);
    }
    if (!node.IsDefined() || node.IsNull()) continue;
    try {
      out.push_back({convert(node), raw.first_line});
    } catch (const YamlError& e) {
      throw YamlError("document " + std::to_string(index) + " starting at line " +
                      std::to_string(raw.first_line) + ": " + e.what());
    }
  }
  return out;
}

}  // namespace mlsidecar::inject
