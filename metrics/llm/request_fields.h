// The few request fields the LLM tap needs, read from a request body that may be cut short (the
// proxy keeps only a bounded prefix) or missing: the top-level `model`, `stream` and
// `stream_options.include_usage`. Fields past the cut are simply absent; nothing is allocated.
//
// Thread safety: none; belongs to one stream.
#pragma once

#include <optional>
#include <string_view>

#include "metrics/llm/json_stream_parser.h"
#include "metrics/llm/response_event.h"

namespace mlsidecar::llm {

class RequestFields : public JsonVisitor {
 public:
  // Reads `body` (any prefix of a JSON object) with `scanner`, replacing what was read before.
  void read(std::string_view body, JsonStreamParser& scanner);
  void on_value(const JsonPath& path, const JsonValue& value) override;

  ShortString<128> model;
  std::optional<bool> stream;
  bool include_usage = false;
};

}  // namespace mlsidecar::llm
