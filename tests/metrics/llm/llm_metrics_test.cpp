// LlmMetrics bookkeeping, read back through Collect() and the text exposition.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>
#include <thread>

#include "metrics/llm/llm_metrics.h"
#include "metrics/request_metrics.h"

using mlsidecar::llm::GenerationSummary;
using mlsidecar::llm::LlmMetrics;
using mlsidecar::llm::StreamEnd;
using mlsidecar::llm::StreamFormat;
using mlsidecar::llm::TapError;
using mlsidecar::llm::TokenSource;
using mlsidecar::metrics::RequestMetrics;
using Labels = std::vector<std::pair<std::string, std::string>>;

namespace {

const prometheus::ClientMetric* find(const std::vector<prometheus::MetricFamily>& families,
                                     const std::string& name, const Labels& labels) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      bool all = m.label.size() == labels.size();
      for (const auto& [k, v] : labels) {
        bool hit = false;
        for (const auto& l : m.label) hit |= l.name == k && l.value == v;
        all &= hit;
      }
      if (all) return &m;
    }
  }
  return nullptr;
}

double counter(const std::vector<prometheus::MetricFamily>& f, const std::string& name,
               const Labels& labels) {
  const auto* m = find(f, name, labels);
  return m ? m->counter.value : -1;
}

std::uint64_t bucket(const prometheus::ClientMetric& m, double le) {
  for (const auto& b : m.histogram.bucket) {
    if (b.upper_bound == Approx(le)) return b.cumulative_count;
  }
  FAIL("no bucket le=" << le);
  return 0;
}

GenerationSummary streamed(std::string_view model) {
  GenerationSummary s;
  s.tapped = true;
  s.format = StreamFormat::sse;
  s.model = model;
  return s;
}

}  // namespace

TEST_CASE("summaries land in the right series, summed over thread shards") {
  // The request families' series: default-model/v1 is series 0; room for two more, then "other".
  RequestMetrics requests(2, 4, "default-model", "v1");
  LlmMetrics metrics(2, requests);
  const std::size_t a = requests.model_index("a", "");  // version from --model-version
  const std::size_t av2 = requests.model_index("a", "v2");
  const std::size_t unnamed_series = requests.model_index("", "");
  const std::size_t b = requests.model_index("b", "");  // past the cap: folds into "other"
  REQUIRE(b == requests.series_capacity() - 1);
  const Labels av1 = {{"model", "a"}, {"version", "v1"}};
  auto with = [](Labels l, std::string k, std::string v) {
    l.emplace_back(std::move(k), std::move(v));
    return l;
  };

  GenerationSummary a1 = streamed("a");
  a1.ttft_seconds = 0.35;
  a1.tpot_seconds = 0.04;
  a1.prompt_tokens = 17;
  a1.prompt_source = TokenSource::usage;
  a1.output_tokens = 6;
  a1.output_source = TokenSource::usage;
  a1.finish_reason = "stop";
  metrics.record(0, a, a1);

  GenerationSummary a2 = streamed("a");
  a2.ttft_seconds = 2.0;
  a2.output_tokens = 5;
  a2.output_source = TokenSource::counted;
  a2.finish_reason = "eos_token";  // TGI's, folded into stop
  a2.end = StreamEnd::client_aborted;
  metrics.record(1, a, a2);

  GenerationSummary failed = streamed("a");
  failed.error = TapError::malformed;
  failed.end = StreamEnd::model_aborted;
  failed.ttft_seconds = 9.0;  // ignored: the tap gave up
  metrics.record(1, a, failed);

  GenerationSummary unnamed = streamed("");
  unnamed.finish_reason = "weird";
  metrics.record(0, unnamed_series, unnamed);
  metrics.record(0, b, streamed("b"));
  metrics.record(0, a, GenerationSummary{});  // not tapped: nothing
  GenerationSummary other_version = streamed("a");
  other_version.output_tokens = 4;
  other_version.output_source = TokenSource::usage;
  metrics.record(1, av2, other_version);  // same model, another version: its own series
  metrics.record(0, requests.series_capacity(), streamed("x"));  // not a series: ignored

  const auto f = metrics.Collect();
  const auto* ttft = find(f, "mlsidecar_time_to_first_token_seconds", av1);
  REQUIRE(ttft != nullptr);
  CHECK(ttft->histogram.sample_count == 2);
  CHECK(ttft->histogram.sample_sum == Approx(2.35));
  CHECK(bucket(*ttft, 0.3) == 0);
  CHECK(bucket(*ttft, 0.5) == 1);
  CHECK(bucket(*ttft, 2) == 2);
  CHECK(std::isinf(ttft->histogram.bucket.back().upper_bound));
  CHECK(ttft->histogram.bucket.back().cumulative_count == 2);

  const auto* tpot = find(f, "mlsidecar_time_per_output_token_seconds", av1);
  REQUIRE(tpot != nullptr);
  CHECK(tpot->histogram.sample_count == 1);
  CHECK(bucket(*tpot, 0.03) == 0);
  CHECK(bucket(*tpot, 0.04) == 1);

  const auto* out = find(f, "mlsidecar_request_output_tokens", av1);
  REQUIRE(out != nullptr);
  CHECK(out->histogram.sample_count == 2);
  CHECK(out->histogram.sample_sum == Approx(11));
  CHECK(bucket(*out, 4) == 0);
  CHECK(bucket(*out, 8) == 2);

  CHECK(counter(f, "mlsidecar_prompt_tokens_total", av1) == 17);
  CHECK(counter(f, "mlsidecar_output_tokens_total", with(av1, "source", "usage")) == 6);
  CHECK(counter(f, "mlsidecar_output_tokens_total", with(av1, "source", "counted")) == 5);
  CHECK(counter(f, "mlsidecar_finish_reason_total", with(av1, "reason", "stop")) == 2);
  CHECK(counter(f, "mlsidecar_finish_reason_total", with(av1, "reason", "length")) == 0);
  CHECK(counter(f, "mlsidecar_stream_aborted_total", with(av1, "by", "client")) == 1);
  CHECK(counter(f, "mlsidecar_stream_aborted_total", with(av1, "by", "model")) == 1);
  CHECK(counter(f, "mlsidecar_llm_tap_errors_total", {{"reason", "malformed"}}) == 1);
  CHECK(counter(f, "mlsidecar_llm_tap_errors_total", {{"reason", "too_large"}}) == 0);
  CHECK(counter(f, "mlsidecar_finish_reason_total",
                {{"model", "default-model"}, {"version", "v1"}, {"reason", "other"}}) == 1);
  CHECK(find(f, "mlsidecar_prompt_tokens_total", {{"model", "other"}, {"version", "other"}}) !=
        nullptr);
  CHECK(find(f, "mlsidecar_prompt_tokens_total", {{"model", "b"}, {"version", "v1"}}) == nullptr);
  CHECK(counter(f, "mlsidecar_output_tokens_total",
                {{"model", "a"}, {"version", "v2"}, {"source", "usage"}}) == 4);
  // Every LLM family has exactly the labels model, version (+ its own).
  for (const auto& family : f) {
    if (family.name == "mlsidecar_llm_tap_errors_total") continue;
    for (const auto& m : family.metric) {
      REQUIRE(m.label.size() >= 2);
      CHECK(m.label[0].name == "model");
      CHECK(m.label[1].name == "version");
    }
  }

  const std::string text = prometheus::TextSerializer().Serialize(f);
  CHECK_THAT(
      text,
      Catch::Contains(
          "mlsidecar_time_to_first_token_seconds_bucket{model=\"a\",version=\"v1\",le=\"0.5\"} 1"));
  CHECK_THAT(text, Catch::Contains("# TYPE mlsidecar_output_tokens_total counter"));
}

TEST_CASE("bucket ranges: TTFT 1 ms to minutes, TPOT 1 ms to 1 s") {
  CHECK(LlmMetrics::ttft_bounds().front() == Approx(0.001));
  CHECK(LlmMetrics::ttft_bounds().back() >= 120);
  CHECK(LlmMetrics::tpot_bounds().front() == Approx(0.001));
  CHECK(LlmMetrics::tpot_bounds().back() == Approx(1));
  CHECK(std::is_sorted(LlmMetrics::output_token_bounds().begin(),
                       LlmMetrics::output_token_bounds().end()));
}

TEST_CASE("concurrent recording from every thread loses nothing") {
  constexpr int kThreads = 4, kEach = 20000;
  RequestMetrics requests(kThreads, 8, "default", "");
  LlmMetrics metrics(kThreads, requests);
  const std::size_t odd = requests.model_index("odd", "1"),
                    even = requests.model_index("even", "1");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t, odd, even] {
      GenerationSummary s = streamed(t % 2 ? "odd" : "even");
      s.output_tokens = 3;
      s.output_source = TokenSource::counted;
      s.ttft_seconds = 0.01;
      for (int i = 0; i < kEach; ++i) {
        metrics.record(t, t % 2 ? odd : even, s);
        if (i % 1000 == 0) metrics.Collect();  // scrapes while recording
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto f = metrics.Collect();
  for (const char* model : {"odd", "even"}) {
    CHECK(counter(f, "mlsidecar_output_tokens_total",
                  {{"model", model}, {"version", "1"}, {"source", "counted"}}) ==
          3.0 * kEach * kThreads / 2);
    CHECK(find(f, "mlsidecar_time_to_first_token_seconds", {{"model", model}, {"version", "1"}})
              ->histogram.sample_count == std::uint64_t{kEach} * kThreads / 2);
  }
}
