// Fuzz target: mlsidecar::llm::GenerationTap (metrics/llm/generation_tap.h), fed a request body and
// a response body split at fuzz-chosen points, as the proxy relays it.
//
// Input (FuzzedDataProvider): from the end, the stream format, how the stream ended and a seed for
// the split points; from the front, the request body (up to a lone backslash), then the response.
//
// Invariants: the summary does not depend on how the body was split (only the times do); a tap
// reused for the next request (begin() again) gives what a fresh tap gives; times are never
// negative and fit in the stream's duration; counts without a source are zero.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "metrics/llm/generation_tap.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace mlsidecar::llm;
using Clock = GenerationTap::Clock;

// A summary with its views copied, comparable after its tap moved on.
struct Outcome {
  bool tapped;
  StreamFormat format;
  StreamEnd end;
  TapError error;
  std::string model;
  std::optional<bool> request_stream;
  bool done_marker;
  bool has_ttft, has_tpot;
  std::uint64_t prompt_tokens, output_tokens;
  TokenSource prompt_source, output_source;
  std::string finish_reason;

  explicit Outcome(const GenerationSummary& s)
      : tapped(s.tapped),
        format(s.format),
        end(s.end),
        error(s.error),
        model(s.model),
        request_stream(s.request_stream),
        done_marker(s.done_marker),
        has_ttft(s.ttft_seconds.has_value()),
        has_tpot(s.tpot_seconds.has_value()),
        prompt_tokens(s.prompt_tokens),
        output_tokens(s.output_tokens),
        prompt_source(s.prompt_source),
        output_source(s.output_source),
        finish_reason(s.finish_reason) {}
  bool operator==(const Outcome&) const = default;
};

constexpr TapLimits kLimits{512};  // small, so that too_large is reachable with short inputs

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto format = static_cast<StreamFormat>(in.ConsumeIntegralInRange<int>(0, 3));
  const auto how = static_cast<StreamEnd>(in.ConsumeIntegralInRange<int>(0, 2));
  std::uint64_t seed = in.ConsumeIntegral<std::uint64_t>();
  const std::string request = in.ConsumeRandomLengthString(4096);
  const std::string body = in.ConsumeRemainingBytesAsString();

  const Clock::time_point start{std::chrono::seconds(1000)};
  const auto ms = [](std::int64_t n) { return std::chrono::milliseconds(n); };

  // Split: pieces of 1..(seed % 64 + 1) bytes, each relayed 1 ms after the previous one.
  GenerationTap split(kLimits);
  split.begin(start, request, format);
  std::size_t at = 0, pieces = 0;
  const std::size_t max_piece = seed % 64 + 1;
  while (at < body.size()) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    std::size_t n = std::min<std::size_t>(body.size() - at, (seed >> 33) % max_piece + 1);
    split.on_body(std::string_view(body).substr(at, n),
                  start + ms(static_cast<std::int64_t>(++pieces)));
    at += n;
  }
  const Clock::time_point end = start + ms(static_cast<std::int64_t>(pieces) + 1);
  const GenerationSummary s = split.finish(how, end);
  const Outcome a(s);

  FUZZ_CHECK(a.tapped == (format != StreamFormat::none));
  FUZZ_CHECK(!split.active());
  if (a.tapped) FUZZ_CHECK(a.format == format && a.end == how);
  if (a.prompt_source == TokenSource::none) FUZZ_CHECK(a.prompt_tokens == 0);
  if (a.output_source == TokenSource::none) FUZZ_CHECK(a.output_tokens == 0);
  if (a.error != TapError::none) FUZZ_CHECK(!a.has_ttft && !a.has_tpot);
  if (s.ttft_seconds) {
    FUZZ_CHECK(format == StreamFormat::sse || format == StreamFormat::ndjson);
    FUZZ_CHECK(*s.ttft_seconds >= 0 &&
               *s.ttft_seconds <= std::chrono::duration<double>(end - start).count());
  }
  if (s.tpot_seconds) {
    FUZZ_CHECK(std::isfinite(*s.tpot_seconds) && *s.tpot_seconds >= 0);
    FUZZ_CHECK(a.output_tokens >= 2);
  }

  // The whole body at once, on a fresh tap: the same summary.
  GenerationTap whole(kLimits);
  whole.begin(start, request, format);
  whole.on_body(body, start + ms(1));
  const Outcome b(whole.finish(how, start + ms(2)));
  FUZZ_CHECK(a == b);

  // The split tap reused for the next request: no state carried over.
  split.begin(start, request, format);
  split.on_body(body, start + ms(1));
  const Outcome c(split.finish(how, start + ms(2)));
  FUZZ_CHECK(b == c);
  return 0;
}
