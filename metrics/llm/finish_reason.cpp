#include "metrics/llm/finish_reason.h"

namespace mlsidecar::llm {

FinishReason classify_finish_reason(std::string_view r) {
  if (r == "stop" || r == "eos_token" || r == "stop_sequence" || r == "eos" || r == "end_turn") {
    return FinishReason::stop;
  }
  if (r == "length" || r == "max_tokens") return FinishReason::length;
  if (r == "tool_calls" || r == "function_call" || r == "tool_use") return FinishReason::tool_calls;
  if (r == "content_filter") return FinishReason::content_filter;
  if (r == "error") return FinishReason::error;
  if (r == "abort" || r == "cancelled" || r == "canceled") return FinishReason::abort;
  return FinishReason::other;
}

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::content_filter:
      return "content_filter";
    case FinishReason::error:
      return "error";
    case FinishReason::abort:
      return "abort";
    case FinishReason::other:
      break;
  }
  return "other";
}

}  // namespace mlsidecar::llm
