// Finish reasons folded into a small fixed set, so that the `reason` label is bounded and means the
// same for every server: OpenAI/vLLM "stop", TGI "eos_token" and "stop_sequence", Ollama "stop" are
// all `stop`; "length" (and "max_tokens") is `length`; "tool_calls"/"function_call" is
// `tool_calls`; "content_filter"; "error"; "abort"/"cancelled" (vLLM's aborted requests) is
// `abort`; everything else (Ollama's "load"/"unload", unknown values) is `other`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mlsidecar::llm {

enum class FinishReason : std::uint8_t {
  stop,
  length,
  tool_calls,
  content_filter,
  error,
  abort,
  other
};
inline constexpr std::size_t kFinishReasonCount = 7;

FinishReason classify_finish_reason(std::string_view reason);
std::string_view finish_reason_name(FinishReason reason);

}  // namespace mlsidecar::llm
