// LlmMetrics bookkeeping, read back through Collect() and the text exposition.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>
#include <thread>

#include "metrics/llm/llm_metrics.h"

using mlsidecar::llm::GenerationSummary;
using mlsidecar::llm::LlmMetrics;
using mlsidecar::llm::StreamEnd;
using mlsidecar::llm::StreamFormat;
using mlsidecar::llm::TapError;
using mlsidecar::llm::TokenSource;
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
  LlmMetrics metrics(2, 3, "default-model");

  GenerationSummary a1 = streamed("a");
  a1.ttft_seconds = 0.35;
  a1.tpot_seconds = 0.04;
  a1.prompt_tokens = 17;
  a1.prompt_source = TokenSource::usage;
  a1.output_tokens = 6;
  a1.output_source = TokenSource::usage;
  a1.finish_reason = "stop";
  metrics.record(0, a1);

  GenerationSummary a2 = streamed("a");
  a2.ttft_seconds = 2.0;
  a2.output_tokens = 5;
  a2.output_source = TokenSource::counted;
  a2.finish_reason = "eos_token";  // TGI's, folded into stop
  a2.end = StreamEnd::client_aborted;
  metrics.record(1, a2);

  GenerationSummary failed = streamed("a");
  failed.error = TapError::malformed;
  failed.end = StreamEnd::model_aborted;
  failed.ttft_seconds = 9.0;  // ignored: the tap gave up
  metrics.record(1, failed);

  GenerationSummary unnamed = streamed("");
  unnamed.finish_reason = "weird";
  metrics.record(0, unnamed);
  metrics.record(0, streamed("b"));        // past the cap of 3: folds into "other"
  metrics.record(0, GenerationSummary{});  // not tapped: nothing

  const auto f = metrics.Collect();
  const auto* ttft = find(f, "mlsidecar_time_to_first_token_seconds", {{"model", "a"}});
  REQUIRE(ttft != nullptr);
  CHECK(ttft->histogram.sample_count == 2);
  CHECK(ttft->histogram.sample_sum == Approx(2.35));
  CHECK(bucket(*ttft, 0.3) == 0);
  CHECK(bucket(*ttft, 0.5) == 1);
  CHECK(bucket(*ttft, 2) == 2);
  CHECK(std::isinf(ttft->histogram.bucket.back().upper_bound));
  CHECK(ttft->histogram.bucket.back().cumulative_count == 2);

  const auto* tpot = find(f, "mlsidecar_time_per_output_token_seconds", {{"model", "a"}});
  REQUIRE(tpot != nullptr);
  CHECK(tpot->histogram.sample_count == 1);
  CHECK(bucket(*tpot, 0.03) == 0);
  CHECK(bucket(*tpot, 0.04) == 1);

  const auto* out = find(f, "mlsidecar_request_output_tokens", {{"model", "a"}});
  REQUIRE(out != nullptr);
  CHECK(out->histogram.sample_count == 2);
  CHECK(out->histogram.sample_sum == Approx(11));
  CHECK(bucket(*out, 4) == 0);
  CHECK(bucket(*out, 8) == 2);

  CHECK(counter(f, "mlsidecar_prompt_tokens_total", {{"model", "a"}}) == 17);
  CHECK(counter(f, "mlsidecar_output_tokens_total", {{"model", "a"}, {"source", "usage"}}) == 6);
  CHECK(counter(f, "mlsidecar_output_tokens_total", {{"model", "a"}, {"source", "counted"}}) == 5);
  CHECK(counter(f, "mlsidecar_finish_reason_total", {{"model", "a"}, {"reason", "stop"}}) == 2);
  CHECK(counter(f, "mlsidecar_finish_reason_total", {{"model", "a"}, {"reason", "length"}}) == 0);
  CHECK(counter(f, "mlsidecar_stream_aborted_total", {{"model", "a"}, {"by", "client"}}) == 1);
  CHECK(counter(f, "mlsidecar_stream_aborted_total", {{"model", "a"}, {"by", "model"}}) == 1);
  CHECK(counter(f, "mlsidecar_llm_tap_errors_total", {{"reason", "malformed"}}) == 1);
  CHECK(counter(f, "mlsidecar_llm_tap_errors_total", {{"reason", "too_large"}}) == 0);
  CHECK(counter(f, "mlsidecar_finish_reason_total",
                {{"model", "default-model"}, {"reason", "other"}}) == 1);
  CHECK(find(f, "mlsidecar_prompt_tokens_total", {{"model", "other"}}) != nullptr);
  CHECK(find(f, "mlsidecar_prompt_tokens_total", {{"model", "b"}}) == nullptr);

  const std::string text = prometheus::TextSerializer().Serialize(f);
  CHECK_THAT(text, Catch::Contains(
                       "mlsidecar_time_to_first_token_seconds_bucket{model=\"a\",le=\"0.5\"} 1"));
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
  LlmMetrics metrics(kThreads, 8);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      GenerationSummary s = streamed(t % 2 ? "odd" : "even");
      s.output_tokens = 3;
      s.output_source = TokenSource::counted;
      s.ttft_seconds = 0.01;
      for (int i = 0; i < kEach; ++i) {
        metrics.record(t, s);
        if (i % 1000 == 0) metrics.Collect();  // scrapes while recording
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto f = metrics.Collect();
  for (const char* model : {"odd", "even"}) {
    CHECK(counter(f, "mlsidecar_output_tokens_total", {{"model", model}, {"source", "counted"}}) ==
          3.0 * kEach * kThreads / 2);
    CHECK(find(f, "mlsidecar_time_to_first_token_seconds", {{"model", model}})
              ->histogram.sample_count == std::uint64_t{kEach} * kThreads / 2);
  }
}
