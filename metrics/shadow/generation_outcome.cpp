#include "metrics/shadow/generation_outcome.h"

#include "metrics/llm/generation_tap.h"
#include "metrics/llm/stream_format.h"

namespace mlsidecar::shadow {

GenerationOutcome generation_outcome(std::string_view request_body, std::string_view content_type,
                                     std::string_view body) {
  GenerationOutcome out;
  const llm::StreamFormat format = llm::choose_format(content_type, Route::generate);
  if (format == llm::StreamFormat::none) return out;
  // Times do not matter here (TTFT and TPOT are the primary's, measured on the I/O thread).
  const auto t0 = llm::GenerationTap::Clock::time_point{};
  llm::GenerationTap tap;
  tap.begin(t0, request_body, format);
  tap.on_body(body, t0);
  const llm::GenerationSummary s = tap.finish(llm::StreamEnd::complete, t0);
  if (!s.tapped || s.error != llm::TapError::none) return out;
  out.read = true;
  if (s.output_source != llm::TokenSource::none) out.output_tokens = s.output_tokens;
  out.finish_reason = std::string(s.finish_reason);
  return out;
}

}  // namespace mlsidecar::shadow
