// Every recorded stream, cut at every byte and at random sets of points, sums up the same way as
// the counts written down by hand from the stream itself.
#include <catch2/catch.hpp>

#include <random>

#include "recorded_streams.h"
#include "tap_harness.h"

using namespace llm_test;

namespace {

struct Case {
  const char* name;
  StreamFormat format;
  std::string body;
  Result expected;
};

Result expect(std::string model, std::string finish, std::uint64_t out, TokenSource out_src,
              std::uint64_t prompt, bool done, bool streamed = true) {
  Result r;
  r.tapped = true;
  r.model = std::move(model);
  r.finish_reason = std::move(finish);
  r.output_tokens = out;
  r.output_source = out_src;
  r.prompt_tokens = prompt;
  r.prompt_source = prompt > 0 ? TokenSource::usage : TokenSource::none;
  r.done_marker = done;
  if (streamed) {
    r.ttft = 1.0;  // every piece arrives at 1 s
    if (out >= 2) r.tpot = 0.0;
  }
  return r;
}

std::vector<Case> cases() {
  const std::string llama = "meta-llama/Llama-3.1-8B-Instruct";
  std::vector<Case> v = {
      {"vllm chat + usage", StreamFormat::sse, kVllmChatUsage,
       expect(llama, "stop", 6, TokenSource::usage, 17, true)},
      {"vllm completions, n=2, no usage", StreamFormat::sse, kVllmCompletionsNoUsage,
       expect("facebook/opt-125m", "length", 5, TokenSource::counted, 0, true)},
      {"tgi", StreamFormat::sse, kTgiStream,
       expect("", "eos_token", 4, TokenSource::usage, 0, false)},
      {"ollama generate", StreamFormat::ndjson, kOllamaGenerate,
       expect("llama3.2", "stop", 4, TokenSource::usage, 26, false)},
      {"ollama chat", StreamFormat::ndjson, kOllamaChat,
       expect("llama3.2", "length", 3, TokenSource::usage, 26, false)},
      {"chat json", StreamFormat::json, kChatJson,
       expect("qwen", "stop", 3, TokenSource::usage, 9, false, false)},
      {"embeddings json", StreamFormat::json, kEmbeddingsJson,
       expect("bge", "", 0, TokenSource::none, 8, false, false)},
  };
  for (const char* eol : {"\r\n", "\r"}) {
    for (std::size_t i = 0; i < 3; ++i) {
      Case c = v[i];
      c.body = with_line_ends(c.body, eol);
      v.push_back(c);
    }
  }
  return v;
}

}  // namespace

TEST_CASE("recorded streams sum up as counted by hand, whole and cut at every byte") {
  GenerationTap tap;
  for (const Case& c : cases()) {
    INFO(c.name << " (" << c.body.size() << " bytes)");
    REQUIRE(run(tap, c.format, c.body, {}) == c.expected);
    for (std::size_t cut = 0; cut <= c.body.size(); ++cut) {
      INFO("cut at " << cut);
      REQUIRE(run(tap, c.format, c.body, {cut}) == c.expected);
    }
    std::vector<std::size_t> bytes(c.body.size());
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = i;
    REQUIRE(run(tap, c.format, c.body, bytes) == c.expected);
  }
}

TEST_CASE("recorded streams sum up the same when cut at random points") {
  GenerationTap tap;
  std::mt19937 rng(2024);
  for (const Case& c : cases()) {
    INFO(c.name);
    for (int n = 0; n < 300; ++n) {
      std::vector<std::size_t> cuts(1 + rng() % 40);
      for (auto& x : cuts) x = rng() % (c.body.size() + 1);
      std::sort(cuts.begin(), cuts.end());
      REQUIRE(run(tap, c.format, c.body, cuts) == c.expected);
    }
  }
}

TEST_CASE("a tap reused for the next request forgets the previous one") {
  GenerationTap tap;
  run(tap, StreamFormat::sse, kVllmChatUsage.substr(0, 700), {}, StreamEnd::client_aborted);
  Result r = run(tap, StreamFormat::ndjson, kOllamaGenerate, {100});
  CHECK(r.output_tokens == 4);
  CHECK(r.model == "llama3.2");
  CHECK_FALSE(r.done_marker);
}
