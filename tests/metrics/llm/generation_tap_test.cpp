// Per-request accounting: timing on a fake clock, tokens with and without usage, finish reasons,
// aborted streams, request fields, and streams the tap must give up on.
#include <catch2/catch.hpp>

#include "metrics/llm/stream_format.h"
#include "recorded_streams.h"
#include "tap_harness.h"

using namespace llm_test;

namespace {

// Drops the events of an SSE body that contain `needle`.
std::vector<std::string> without(const std::vector<std::string>& events,
                                 const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : events) {
    if (e.find(needle) == std::string::npos) out.push_back(e);
  }
  return out;
}

}  // namespace

TEST_CASE("TTFT skips the role chunk; TPOT divides by usage tokens minus one") {
  GenerationTap tap;
  auto events = split_after(kVllmChatUsage, "\n\n");
  REQUIRE(events.size() == 9);
  // role, 5 content chunks 50 ms apart from 0.35 s, finish, usage, [DONE]
  std::vector<double> t = {0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.56, 0.57, 0.58};
  Result r = run_timed(tap, StreamFormat::sse, events, t);
  REQUIRE(r.ttft);
  CHECK(*r.ttft == Approx(0.35));
  REQUIRE(r.tpot);
  CHECK(*r.tpot == Approx((0.55 - 0.35) / (6 - 1)));
  CHECK(r.output_source == TokenSource::usage);
  CHECK(r.prompt_tokens == 17);
}

TEST_CASE("without usage, output tokens are counted from content events") {
  GenerationTap tap;
  auto events = without(split_after(kVllmChatUsage, "\n\n"), "\"usage\":{");
  REQUIRE(events.size() == 8);
  Result r =
      run_timed(tap, StreamFormat::sse, events, {0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.56, 0.57});
  CHECK(r.output_source == TokenSource::counted);
  CHECK(r.output_tokens == 5);
  CHECK(r.prompt_source == TokenSource::none);
  CHECK(*r.tpot == Approx(0.2 / 4));
  CHECK(r.finish_reason == "stop");
}

TEST_CASE("TGI: the special EOS token counts as a token but not as content") {
  GenerationTap tap;
  auto events = split_after(kTgiStream, "\n\n");
  Result r = run_timed(tap, StreamFormat::sse, events, {0.2, 0.3, 0.4, 0.5});
  CHECK(*r.ttft == Approx(0.2));
  CHECK(*r.tpot == Approx((0.5 - 0.2) / 3));
  CHECK(r.output_tokens == 4);
}

TEST_CASE("Ollama NDJSON: TTFT at the first response, counts from the final line") {
  GenerationTap tap;
  auto events = split_after(kOllamaGenerate, "\n");
  Result r = run_timed(tap, StreamFormat::ndjson, events, {1.0, 1.1, 1.2, 1.3, 1.35});
  CHECK(*r.ttft == Approx(1.0));
  CHECK(*r.tpot == Approx(0.3 / 3));
  CHECK(r.prompt_tokens == 26);
  CHECK(r.finish_reason == "stop");
}

TEST_CASE("a stream cut short keeps what was counted and says who cut it") {
  GenerationTap tap;
  auto events = split_after(kVllmChatUsage, "\n\n");
  // role, Hello, there, then half of the fourth event
  std::vector<std::string> sent(events.begin(), events.begin() + 3);
  sent.push_back(events[3].substr(0, events[3].size() / 2));
  Result r =
      run_timed(tap, StreamFormat::sse, sent, {0.3, 0.4, 0.6, 0.7}, StreamEnd::client_aborted);
  CHECK(r.error == TapError::none);
  CHECK(r.end == StreamEnd::client_aborted);
  CHECK(r.output_tokens == 2);
  CHECK(r.output_source == TokenSource::counted);
  CHECK(*r.tpot == Approx(0.2));
  CHECK(r.finish_reason.empty());
  CHECK_FALSE(r.done_marker);

  // An SSE event not ended by a blank line is dropped, as an EventSource client drops it.
  std::string last = events[1].substr(0, events[1].size() - 1);
  r = run_timed(tap, StreamFormat::sse, {events[0], last}, {0.3, 0.4}, StreamEnd::model_aborted);
  CHECK(r.end == StreamEnd::model_aborted);
  CHECK(r.output_tokens == 0);
  CHECK_FALSE(r.ttft);

  // Ollama cut in the middle of a line: the partial line is not an error.
  r = run(tap, StreamFormat::ndjson, kOllamaGenerate.substr(0, 150), {}, StreamEnd::model_aborted);
  CHECK(r.error == TapError::none);
  CHECK(r.output_tokens == 1);
}

TEST_CASE("the model label comes from the request, even cut short, else from the response") {
  GenerationTap tap;
  const std::string req =
      R"({"model":"my-llm","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi th)";
  Result r = run(tap, StreamFormat::sse, kVllmChatUsage, {}, StreamEnd::complete, req);
  CHECK(r.model == "my-llm");
  r = run(tap, StreamFormat::sse, kVllmChatUsage, {}, StreamEnd::complete, "{\"messages\":[]}");
  CHECK(r.model == "meta-llama/Llama-3.1-8B-Instruct");
  r = run(tap, StreamFormat::sse, kTgiStream, {}, StreamEnd::complete, "not json");
  CHECK(r.model.empty());
}

TEST_CASE("an error event finishes the generation with reason error") {
  GenerationTap tap;
  std::string body = split_after(kVllmChatUsage, "\n\n")[1] +
                     R"(data: {"error": {"object": "error", "message": "boom", "code": 500}})"
                     "\n\n";
  Result r = run(tap, StreamFormat::sse, body, {});
  CHECK(r.error == TapError::none);
  CHECK(r.finish_reason == "error");
  CHECK(r.output_tokens == 1);
}

TEST_CASE("the tap gives up on what it does not understand and ignores the rest") {
  GenerationTap tap;
  const std::string good = split_after(kVllmChatUsage, "\n\n")[1];
  struct Bad {
    std::string body;
    TapError error;
  };
  const std::vector<Bad> bad = {
      {"data: {\"choices\": [}\n\n", TapError::malformed},
      {"data: 42\n\n", TapError::malformed},
      {"data: hello world\n\n", TapError::malformed},
      {"data: [DONE] and more\n\n", TapError::malformed},
      {"data: " + std::string(100, '[') + std::string(100, ']') + "\n\n", TapError::too_deep},
  };
  for (const Bad& b : bad) {
    INFO(b.body);
    Result r = run(tap, StreamFormat::sse, b.body + good + good, {3});
    CHECK(r.error == b.error);
    CHECK(r.output_tokens == 0);
    CHECK_FALSE(r.ttft);
  }
  Result r = run(tap, StreamFormat::sse, good + "data: {oops\n\n" + good, {});
  CHECK(r.error == TapError::malformed);

  // A stream of events none of which it knows (Anthropic-shaped) is given up at the end; one
  // unknown event among known ones is just skipped.
  const std::string ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n";
  const std::string delta =
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
  r = run(tap, StreamFormat::sse, ping + delta + delta, {});
  CHECK(r.error == TapError::unrecognized);
  r = run(tap, StreamFormat::sse, ping + good + good, {});
  CHECK(r.error == TapError::none);
  CHECK(r.output_tokens == 2);

  // A JSON body cut short although the response claims to be complete.
  r = run(tap, StreamFormat::json, kChatJson.substr(0, 60), {});
  CHECK(r.error == TapError::malformed);
  // ... but not when the model cut it.
  r = run(tap, StreamFormat::json, kChatJson.substr(0, 60), {}, StreamEnd::model_aborted);
  CHECK(r.error == TapError::none);
  CHECK(r.output_source == TokenSource::none);
}

TEST_CASE("an event larger than the cap gives up the stream") {
  GenerationTap tap(mlsidecar::llm::TapLimits{.max_event_bytes = 512});
  const std::string event = split_after(kVllmChatUsage, "\n\n")[1];  // about 250 bytes
  std::string big =
      R"(data: {"choices":[{"index":0,"delta":{"content":")" + std::string(600, 'x') + "\"}}]}\n\n";
  Result r = run(tap, StreamFormat::sse, event + event, {});
  CHECK(r.error == TapError::none);
  CHECK(r.output_tokens == 2);
  r = run(tap, StreamFormat::sse, event + big + event, {});
  CHECK(r.error == TapError::too_large);
  r = run(tap, StreamFormat::json, std::string(600, ' ') + kChatJson, {});
  CHECK(r.error == TapError::too_large);
}

TEST_CASE("untapped formats produce nothing") {
  GenerationTap tap;
  Result r = run(tap, StreamFormat::none, kVllmChatUsage, {});
  CHECK_FALSE(r.tapped);
  tap.begin(at(0), "", "text/html");
  CHECK_FALSE(tap.active());
}

TEST_CASE("the format follows the response Content-Type and the route") {
  using mlsidecar::Route;
  using mlsidecar::llm::choose_format;
  using mlsidecar::llm::format_for_content_type;
  CHECK(format_for_content_type("text/event-stream; charset=utf-8") == StreamFormat::sse);
  CHECK(format_for_content_type("Text/Event-Stream") == StreamFormat::sse);
  CHECK(format_for_content_type("application/x-ndjson") == StreamFormat::ndjson);
  CHECK(format_for_content_type(" application/json ; charset=utf-8") == StreamFormat::json);
  CHECK(format_for_content_type("application/vnd.api+json") == StreamFormat::json);
  CHECK(format_for_content_type("text/plain") == StreamFormat::none);
  CHECK(format_for_content_type("") == StreamFormat::none);
  CHECK(choose_format("text/event-stream", Route::generate) == StreamFormat::sse);
  CHECK(choose_format("text/event-stream", Route::predict) == StreamFormat::none);
}
