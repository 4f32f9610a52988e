// GenerationOutcome: what one whole LLM answer generated (output tokens, finish reason), read by
// the same GenerationTap that watches the primary's streams on the I/O threads, fed the body in
// one piece. The format comes from the answer's Content-Type (llm::choose_format): an SSE stream,
// JSON Lines or one JSON document.
//
// Thread safety: a plain value; generation_outcome() is stateless.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mlsidecar::shadow {

struct GenerationOutcome {
  bool read = false;  // false: not an LLM answer the tap understands (nothing below is set)
  std::optional<std::uint64_t> output_tokens;  // from usage, or counted in a stream
  std::string finish_reason;                   // empty when the answer sent none
};

GenerationOutcome generation_outcome(std::string_view request_body, std::string_view content_type,
                                     std::string_view body);

}  // namespace mlsidecar::shadow
