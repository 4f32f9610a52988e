#include "metrics/exposition_merge.h"

#include <charconv>
#include <cstdint>
#include <set>

namespace mlsidecar::metrics {
namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

// The metric name at the start of `line` (empty if none).
std::string_view metric_name(std::string_view line) {
  if (line.empty() || !name_start(line[0])) return {};
  std::size_t i = 1;
  while (i < line.size() && name_char(line[i])) ++i;
  return line.substr(0, i);
}

// `{name="value",...}` at `i` (escapes \\, \" and \n inside values); returns the index after the
// closing brace, or npos when malformed.
std::size_t skip_labels(std::string_view line, std::size_t i) {
  ++i;  // '{'
  for (;;) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '}') return i + 1;
    if (i >= line.size() || !name_start(line[i]) || line[i] == ':') return std::string_view::npos;
    while (i < line.size() && name_char(line[i]) && line[i] != ':') ++i;
    if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return std::string_view::npos;
    for (i += 2; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\') ++i;
    }
    if (i >= line.size()) return std::string_view::npos;
    ++i;  // closing quote
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == ',') ++i;
  }
}

bool is_number(std::string_view v) {
  if (v == "+Inf" || v == "-Inf" || v == "Inf" || v == "NaN") return true;
  double d = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  return ec == std::errc{} && end == v.data() + v.size();
}

// `name[{labels}] value [timestamp]`.
bool is_sample(std::string_view line, std::string_view name) {
  std::size_t i = name.size();
  if (i < line.size() && line[i] == '{') {
    i = skip_labels(line, i);
    if (i == std::string_view::npos) return false;
  }
  if (i >= line.size() || line[i] != ' ') return false;
  std::string_view rest = line.substr(i);
  std::size_t a = rest.find_first_not_of(' ');
  if (a == std::string_view::npos) return false;
  rest = rest.substr(a);
  std::size_t space = rest.find(' ');
  if (!is_number(rest.substr(0, space))) return false;
  if (space == std::string_view::npos) return true;
  std::string_view ts = rest.substr(space + 1);
  std::int64_t t = 0;
  auto [end, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), t);
  return ec == std::errc{} && end == ts.data() + ts.size();
}

// The family a sample belongs to: the family of the last TYPE or HELP line when the sample's name
// is that family's name or one of its suffixed series, else the sample's own name.
std::string_view family_of(std::string_view name, std::string_view current) {
  if (current.empty() || name.substr(0, current.size()) != current) return name;
  std::string_view suffix = name.substr(current.size());
  for (std::string_view s : {"", "_bucket", "_sum", "_count", "_total", "_created", "_info"}) {
    if (suffix == s) return current;
  }
  return name;
}

// "# HELP name ..." or "# TYPE name ...": the name, else empty.
std::string_view described_family(std::string_view line) {
  for (std::string_view kind : {"# HELP ", "# TYPE "}) {
    if (line.substr(0, kind.size()) == kind) return metric_name(line.substr(kind.size()));
  }
  return {};
}

}  // namespace

MergeCounts append_model_metrics(std::string& out, std::string_view model) {
  std::set<std::string, std::less<>> own;
  for (std::size_t at = 0; at < out.size();) {
    std::size_t end = out.find('\n', at);
    if (end == std::string::npos) end = out.size();
    std::string_view line(out.data() + at, end - at);
    if (std::string_view f = described_family(line); !f.empty()) {
      own.emplace(f);
    } else if (std::string_view n = metric_name(line); !n.empty()) {
      own.emplace(n);
    }
    at = end + 1;
  }
  if (!out.empty() && out.back() != '\n') out += '\n';

  MergeCounts counts;
  std::set<std::string, std::less<>> seen, dropped;
  std::string_view current;  // the family of the last HELP or TYPE line
  for (std::size_t at = 0; at < model.size();) {
    std::size_t end = model.find('\n', at);
    if (end == std::string_view::npos) end = model.size();
    std::string_view line = model.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.find_first_not_of(' ') == std::string_view::npos) continue;
    std::string_view family, name;
    if (line[0] == '#') {
      family = name = described_family(line);
      if (family.empty()) continue;  // a plain comment, or OpenMetrics' # EOF
      current = family;
    } else {
      name = metric_name(line);
      if (name.empty() || !is_sample(line, name)) {
        ++counts.invalid_lines;
        continue;
      }
      family = family_of(name, current);
    }
    if (own.count(family) != 0 || own.count(name) != 0) {
      if (dropped.emplace(family).second) ++counts.duplicate_families;
      continue;
    }
    if (seen.emplace(family).second) ++counts.families;
    out.append(line);
    out += '\n';
  }
  return counts;
}

}  // namespace mlsidecar::metrics
