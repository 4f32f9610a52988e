// GenerationTap watches one LLM response go by and sums up the generation: time to first token,
// time per output token, prompt and output tokens, finish reason, and who cut the stream short.
//
// The proxy calls begin() when the response head is known, on_body() with every piece of the body
// as it is relayed (decoded from chunked framing; any split, any size), and finish() once at the
// end. The tap never sees the bytes after on_body() returns, never changes them and cannot delay
// them; it holds no event (see EventStream), so its memory is fixed: about 2 KiB per connection.
// When it cannot understand a stream it gives up (summary.error), ignores the rest of the body,
// and the stream is counted in mlsidecar_llm_tap_errors_total.
//
// Definitions:
//   TTFT  = time of the first event with generated content (not the role header, not an empty
//           delta) - request start. Streams only (sse, ndjson): a non-streamed body has none.
//   TPOT  = (time of the last token event - time of the first) / (output tokens - 1), as vLLM
//           defines it; only with 2 or more output tokens.
//   output tokens: `usage.completion_tokens` (or Ollama `eval_count`, TGI
//           `details.generated_tokens`) when the server sends it (source usage), else the count
//           of content events, one per choice (source counted); a non-streamed body without usage
//           has none (source none).
//   prompt tokens: `usage.prompt_tokens` or Ollama `prompt_eval_count`; absent otherwise.
//   finish reason: the last one sent (choices[].finish_reason, done_reason, details.finish_reason),
//           else "error" after an error event; empty if none.
//
// Example (vLLM, stream_options.include_usage): request at t=0, role chunk at 0.30 s, tokens at
// 0.35, 0.40, 0.45, a chunk with finish_reason "length" and usage {prompt_tokens: 12,
// completion_tokens: 3}, then [DONE]: TTFT 0.35 s, TPOT (0.45 - 0.35) / 2 = 0.05 s, 3 output
// tokens from usage, 12 prompt tokens, finish reason "length".
//
// Thread safety: none. One per connection, reset by begin() for each request, used by the
// connection's I/O thread only. The views in a GenerationSummary stay valid until the next begin().
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "metrics/llm/event_stream.h"
#include "metrics/llm/request_fields.h"
#include "metrics/llm/response_event.h"
#include "metrics/llm/stream_format.h"

namespace mlsidecar::llm {

enum class StreamEnd : std::uint8_t { complete, client_aborted, model_aborted };
enum class TokenSource : std::uint8_t { none, usage, counted };

struct GenerationSummary {
  bool tapped = false;  // false: the response was not tapped (format none); record nothing
  StreamFormat format = StreamFormat::none;
  StreamEnd end = StreamEnd::complete;
  TapError error = TapError::none;  // set: the tap gave up; only `end` and `model` are meaningful
  std::string_view model;           // the request's `model`, else the response's; may be empty
  std::optional<bool> request_stream;  // the request's `stream`, when it was read
  bool done_marker = false;            // SSE `[DONE]` seen
  std::optional<double> ttft_seconds;
  std::optional<double> tpot_seconds;
  std::uint64_t prompt_tokens = 0;
  TokenSource prompt_source = TokenSource::none;  // none or usage
  std::uint64_t output_tokens = 0;
  TokenSource output_source = TokenSource::none;
  std::string_view finish_reason;  // as the server wrote it; empty when none was sent
};

struct TapLimits {
  std::size_t max_event_bytes = std::size_t{8} << 20;  // one event's data, or a whole JSON body
};

class GenerationTap : private EventSink {
 public:
  using Clock = std::chrono::steady_clock;
  using End = StreamEnd;

  explicit GenerationTap(TapLimits limits = {}) : stream_(limits.max_event_bytes) {}

  // Starts a request. `request_body` may be empty or cut short; the format comes from the
  // response's Content-Type (see format_for_content_type), or is given.
  void begin(Clock::time_point request_start, std::string_view request_body,
             std::string_view content_type);
  void begin(Clock::time_point request_start, std::string_view request_body, StreamFormat format);
  void on_body(std::string_view bytes, Clock::time_point now);
  GenerationSummary finish(End how, Clock::time_point now);

  bool active() const { return active_; }
  // The model the request names (its `model`), else the response's so far; may be empty.
  std::string_view model() const {
    return request_.model.empty() ? response_model_.view() : request_.model.view();
  }
  bool gave_up() const { return stream_.failed(); }

 private:
  void on_event(const ResponseEvent& event) override;
  void on_done() override { done_marker_ = true; }

  EventStream stream_;
  JsonStreamParser request_scanner_;
  RequestFields request_;
  StreamFormat format_ = StreamFormat::none;
  bool active_ = false;
  Clock::time_point start_{}, now_{}, first_token_{}, last_token_{};
  bool have_first_ = false;
  bool have_last_ = false;
  bool recognized_ = false;
  bool error_seen_ = false;
  bool done_marker_ = false;
  std::uint64_t events_ = 0;
  std::uint64_t counted_ = 0;
  std::optional<std::uint64_t> usage_prompt_;
  std::optional<std::uint64_t> usage_output_;
  ShortString<128> response_model_;
  ShortString<32> finish_reason_;
};

}  // namespace mlsidecar::llm
