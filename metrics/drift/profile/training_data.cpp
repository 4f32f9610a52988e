#include "metrics/drift/profile/training_data.h"

#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/drift/json_values.h"

namespace mlsidecar::drift {
namespace {

[[noreturn]] void fail_line(std::size_t line, const std::string& reason) {
  throw std::runtime_error("line " + std::to_string(line) + ": " + reason);
}

// Splits one CSV record; a quoted field may span lines, so more lines are pulled from `in`.
bool next_record(std::istream& in, std::vector<std::string>& fields, std::size_t& line) {
  fields.clear();
  std::string text;
  if (!std::getline(in, text)) return false;
  ++line;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0;; ++i) {
    if (i == text.size()) {
      if (quoted) {
        std::string more;
        if (!std::getline(in, more)) fail_line(line, "unterminated quoted field");
        ++line;
        field += '\n';
        text = std::move(more);
        i = static_cast<std::size_t>(-1);
        continue;
      }
      break;
    }
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 == text.size()) {
      // CRLF line ending
    } else {
      field += c;
    }
  }
  fields.push_back(std::move(field));
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

FeatureValue csv_value(const std::string& name, std::string_view raw) {
  FeatureValue v;
  v.name = name;
  std::string_view s = trim(raw);
  if (s.empty() || s == "NA" || s == "N/A" || s == "NaN" || s == "nan" || s == "null" ||
      s == "NULL" || s == "None") {
    return v;  // missing
  }
  double x = 0;
  std::string_view num = s.front() == '+' ? s.substr(1) : s;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), x);
  if (ec == std::errc() && ptr == num.data() + num.size() && std::isfinite(x)) {
    v.type = FeatureValue::Type::number;
    v.number = x;
  } else {
    v.type = FeatureValue::Type::text;
    v.text = std::string(s);
  }
  return v;
}

}  // namespace

void read_csv(std::istream& in, ProfileBuilder& builder) {
  std::size_t line = 0;
  std::vector<std::string> header, fields;
  if (!next_record(in, header, line)) throw std::runtime_error("empty file (no CSV header)");
  for (auto& h : header) {
    h = std::string(trim(h));
    if (h.empty()) fail_line(line, "empty column name in the header");
  }
  while (next_record(in, fields, line)) {
    if (fields.size() == 1 && trim(fields[0]).empty()) continue;  // blank line
    if (fields.size() != header.size()) {
      fail_line(line, "ragged row: " + std::to_string(fields.size()) + " fields, the header has " +
                          std::to_string(header.size()));
    }
    for (std::size_t i = 0; i < fields.size(); ++i) builder.add(csv_value(header[i], fields[i]));
    builder.end_rows(1);
  }
}

void read_jsonl(std::istream& in, ProfileBuilder& builder) {
  std::string text;
  std::size_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (trim(text).empty() || trim(text) == "\r") continue;
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) fail_line(line, "not valid JSON");
    if (!doc.is_object()) fail_line(line, "expected a JSON object per line");
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      builder.add(detail::scalar_value(it.key(), *it));
    }
    builder.end_rows(1);
  }
}

void read_bodies(std::istream& in, PayloadFormat format, Direction direction,
                 const FeatureNaming& naming, ProfileBuilder& builder) {
  std::string text;
  std::size_t line = 0;
  std::vector<FeatureValue> values;
  while (std::getline(in, text)) {
    ++line;
    if (trim(text).empty() || trim(text) == "\r") continue;
    values.clear();
    ReadResult r = read_payload(format, Route::other, text, direction, naming, values);
    if (r.status != ReadStatus::ok) {
      fail_line(line, "cannot read the body as " + std::string(payload_format_name(format)) + " (" +
                          std::string(read_status_name(r.status)) + ")");
    }
    for (const auto& v : values) builder.add(v);
    builder.end_rows(r.rows);
  }
}

}  // namespace mlsidecar::drift
