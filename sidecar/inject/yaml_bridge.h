// YAML <-> JSON bridge for Kubernetes manifests. The document model is nlohmann::ordered_json so
// that keys keep their order and a manifest written back out differs only where it was edited.
//
// Reading: a plain `8080` is an integer, a quoted "8080" stays a string, `true`/`false` are
// booleans, `~`/`null`/empty are null, `0644` is octal (YAML 1.1, as Kubernetes reads
// `defaultMode: 0644`). YAML 1.1's `yes`/`no`/`on`/`off` are read as strings, as YAML 1.2 does.
// Numbers are kept by value, not spelling (`1.10` is written back as `1.1`).
// Writing: a fixed block style (two-space indent, sequences not indented under their key, as
// kubectl prints them) that quotes every string a YAML 1.1 or 1.2 reader could take for another
// type, so values keep their types through any conforming parser. Comments and anchors are not
// preserved.
//
// Thread-safety: free functions without shared state; safe to call concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mlsidecar::inject {

using Json = nlohmann::ordered_json;

// One document of a YAML stream: its value and the 1-based line where it starts in the input
// (its `---` line, if it has one).
struct YamlDocument {
  Json value;
  int first_line = 1;
};

// Thrown by parse_yaml_stream with a one-line message naming the document and line.
class YamlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a multi-document YAML stream. Documents that are empty (only comments or blank) are
// dropped. Throws YamlError naming the document (1-based) and line on malformed input.
std::vector<YamlDocument> parse_yaml_stream(std::string_view text);

// Writes one value as a YAML block document (ends with a newline, no leading `---`).
std::string emit_yaml(const Json& value);

// Writes documents separated by `---` lines.
std::string emit_yaml_stream(const std::vector<Json>& documents);

// Classifies a plain (unquoted) YAML scalar the way Kubernetes' YAML reader does.
Json resolve_plain_scalar(std::string_view text);

}  // namespace mlsidecar::inject
