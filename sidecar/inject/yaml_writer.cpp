// Writing ordered JSON as block-style YAML that any YAML 1.1 or 1.2 reader reads back with the
// same types. See yaml_bridge.h.
#include "sidecar/inject/yaml_bridge.h"

#include <cmath>
#include <cstdio>

namespace mlsidecar::inject {
namespace {

bool looks_numeric_in_some_yaml(std::string_view s) {
  // YAML 1.1 also reads 1_000 (int), 1:30 (base 60) and 2024-01-02 (timestamp) as non-strings.
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+' || s[i] == '.')) ++i;
  if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) &&
        std::string_view("xXoO._:+-eE tT").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  if (!resolve_plain_scalar(s).is_string()) return true;
  if (looks_numeric_in_some_yaml(s)) return true;
  if (s == "=" || s == "<<") return true;
  static constexpr std::string_view kYaml11Booleans[] = {"y",   "Y",   "n",   "N",  "yes", "Yes",
                                                         "YES", "no",  "No",  "NO", "on",  "On",
                                                         "ON",  "off", "Off", "OFF"};
  for (auto b : kYaml11Booleans) {
    if (s == b) return true;
  }
  const char first = s.front();
  if (std::string_view("?:,[]{}#&*!|>'\"%@`").find(first) != std::string_view::npos) return true;
  if (first == '-' && (s.size() == 1 || s[1] == ' ')) return true;
  // At the start of a line `---` and `...` are document markers (YAML 1.2, 9.1.4), so a plain
  // scalar may not begin with them: a key `... x` would end the document and drop what follows.
  if (s.starts_with("---") || s.starts_with("...")) return true;
  if (first == ' ' || s.back() == ' ' || s.back() == ':') return true;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return true;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string double_quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

// A literal block keeps multi-line text (scripts, configs) readable. It is used only when it can
// represent the text exactly: no leading space on the first line, no control characters, no
// trailing blanks that a reader could fold away.
bool fits_literal_block(std::string_view s) {
  if (s.find('\n') == std::string_view::npos) return false;
  if (s.front() == ' ' || s.front() == '\n') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
    if (c == '\n' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t')) return false;
  }
  return s.back() != ' ' && s.back() != '\t';
}

std::string literal_block(std::string_view s, int indent) {
  std::size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  std::string out = trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
  out.push_back('\n');
  std::string_view body = s.substr(0, s.size() - trailing);
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t eol = body.find('\n', pos);
    if (eol == std::string_view::npos) eol = body.size();
    std::string_view line = body.substr(pos, eol - pos);
    if (!line.empty()) out += pad;
    out.append(line).push_back('\n');
    pos = eol + 1;
  }
  for (std::size_t i = 1; i < trailing; ++i) out.push_back('\n');
  return out;
}

std::string format_float(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d > 0 ? ".inf" : "-.inf";
  std::string text = Json(d).dump();
  // YAML 1.1 readers need a dot to see a float ("1e+20" would be a string to them).
  if (text.find('.') == std::string::npos) {
    const std::size_t e = text.find_first_of("eE");
    text.insert(e == std::string::npos ? text.size() : e, ".0");
  }
  return text;
}

std::string format_string(std::string_view s) {
  return needs_quotes(s) ? double_quoted(s) : std::string(s);
}

// Scalars and empty collections, which are written on the line of their key or dash.
bool is_inline(const Json& v) {
  if (v.is_object() || v.is_array()) return v.empty();
  return !(v.is_string() && fits_literal_block(v.get_ref<const std::string&>()));
}

std::string format_inline(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return v.dump();
    case Json::value_t::number_float:
      return format_float(v.get<double>());
    case Json::value_t::string:
      return format_string(v.get_ref<const std::string&>());
    case Json::value_t::object:
      return "{}";
    case Json::value_t::array:
      return "[]";
    default:
      return "null";
  }
}

void write_block(const Json& v, int indent, std::string& out);

// Writes a collection as the content of a "- " item at `indent`.
void write_item(const Json& item, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (is_inline(item)) {
    out += pad + "- " + format_inline(item) + "\n";
  } else if (item.is_string()) {
    out += pad + "- " + literal_block(item.get_ref<const std::string&>(), indent + 2);
  } else {
    std::string nested;
    write_block(item, indent + 2, nested);
    nested.replace(0, static_cast<std::size_t>(indent) + 2, pad + "- ");
    out += nested;
  }
}

// YAML limits an implicit key (`key: value`) to 1024 characters (YAML 1.2, 7.4.2); readers such
// as yaml-cpp refuse a longer one ("illegal map value"). Such a key is written as an explicit key,
// `? key` on its own line and `: value` on the next, which has no limit. Counted in bytes, which
// are never fewer than characters, and with room for the colon.
constexpr std::size_t kMaxImplicitKeyBytes = 1000;

// Writes what follows a key's colon: a scalar on the same line, a literal block, or a collection
// on the next lines (a sequence at `sequence_indent`, a mapping two deeper than `indent`).
void write_mapping_value(const Json& value, int indent, int sequence_indent, std::string& out) {
  if (is_inline(value)) {
    // Appended piece by piece: `" " + string` trips GCC 12's -Wrestrict at -O3 (a false
    // positive), which breaks Release builds.
    out += ' ';
    out += format_inline(value);
    out += '\n';
  } else if (value.is_string()) {
    out += ' ';
    out += literal_block(value.get_ref<const std::string&>(), indent + 2);
  } else {
    out += '\n';
    write_block(value, value.is_array() ? sequence_indent : indent + 2, out);
  }
}

void write_block(const Json& v, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      const std::string key_text = format_string(key);
      if (key_text.size() > kMaxImplicitKeyBytes) {
        // `? key` then `: value`, the value's collections indented under the colon.
        out += pad;
        out += "? ";
        out += key_text;
        out += '\n';
        out += pad;
        out += ':';
        write_mapping_value(value, indent, indent + 2, out);
      } else {
        out += pad;
        out += key_text;
        out += ':';
        // kubectl style: a sequence's items at the key's indent.
        write_mapping_value(value, indent, indent, out);
      }
    }
  } else if (v.is_array()) {
    for (const auto& item : v) write_item(item, indent, out);
  } else if (is_inline(v)) {
    out += pad + format_inline(v) + "\n";
  } else {
    out += pad + literal_block(v.get_ref<const std::string&>(), indent + 2);
  }
}

}  // namespace

std::string emit_yaml(const Json& value) {
  std::string out;
  if (value.is_object() || value.is_array()) {
    if (value.empty()) return format_inline(value) + "\n";
  }
  write_block(value, 0, out);
  return out;
}

std::string emit_yaml_stream(const std::vector<Json>& documents) {
  std::string out;
  for (std::size_t i = 0; i < documents.size(); ++i) {
    if (i > 0) out += "---\n";
    out += emit_yaml(documents[i]);
  }
  return out;
}

}  // namespace mlsidecar::inject
