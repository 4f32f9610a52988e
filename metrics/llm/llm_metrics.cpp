#include "metrics/llm/llm_metrics.h"

#include <array>
#include <cmath>

#include "metrics/llm/finish_reason.h"
#include "metrics/request_metrics.h"

namespace mlsidecar::llm {
namespace {

// Every latency a shipped SLO names (2.5 s for TTFT) is a bucket bound, so rules can select it.
constexpr std::array<double, 27> kTtftBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
    1,     1.5,    2,     2.5,  3,    5,    7.5,  10,   20,  40,   80,  160, 320};
constexpr std::array<double, 19> kTpotBounds = {0.001, 0.0025, 0.005, 0.0075, 0.01,  0.015, 0.02,
                                                0.025, 0.03,   0.04,  0.05,   0.075, 0.1,   0.15,
                                                0.2,   0.3,    0.5,   0.75,   1};
constexpr std::array<double, 16> kTokenBounds = {1,   2,   4,    8,    16,   32,   64,    128,
                                                 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};

using Counter = std::atomic<std::uint64_t>;

void add(Counter& c, std::uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }
std::uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }

// Non-cumulative bucket counts (the last one is +Inf) and the sum in 1/scale units.
template <std::size_t N>
struct HistogramCells {
  std::array<Counter, N + 1> buckets{};
  Counter sum{};

  void observe(const std::array<double, N>& bounds, double value, double scale) {
    std::size_t i = 0;
    while (i < N && value > bounds[i]) ++i;
    add(buckets[i], 1);
    add(sum, static_cast<std::uint64_t>(std::llround(value * scale)));
  }
};

std::vector<double> to_vector(const auto& a) { return std::vector<double>(a.begin(), a.end()); }

prometheus::ClientMetric::Label label(std::string name, std::string_view value) {
  return {std::move(name), std::string(value)};
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

}  // namespace

struct LlmMetrics::ModelCells {
  HistogramCells<kTtftBounds.size()> ttft;         // sum in nanoseconds
  HistogramCells<kTpotBounds.size()> tpot;         // sum in nanoseconds
  HistogramCells<kTokenBounds.size()> out_tokens;  // sum in tokens
  Counter prompt_tokens{};
  std::array<Counter, 2> output_tokens{};  // usage, counted
  std::array<Counter, kFinishReasonCount> finish{};
  std::array<Counter, 2> aborted{};  // client, model
};

struct alignas(64) LlmMetrics::Shard {
  std::unique_ptr<ModelCells[]> models;
  std::array<Counter, kTapErrorCount> tap_errors{};
};

const std::vector<double>& LlmMetrics::ttft_bounds() {
  static const std::vector<double> v = to_vector(kTtftBounds);
  return v;
}
const std::vector<double>& LlmMetrics::tpot_bounds() {
  static const std::vector<double> v = to_vector(kTpotBounds);
  return v;
}
const std::vector<double>& LlmMetrics::output_token_bounds() {
  static const std::vector<double> v = to_vector(kTokenBounds);
  return v;
}

LlmMetrics::LlmMetrics(std::size_t threads, const metrics::RequestMetrics& series)
    : threads_(threads == 0 ? 1 : threads),
      series_(series),
      capacity_(series.series_capacity()),
      used_(new std::atomic<bool>[capacity_]()),
      shards_(new Shard[threads_]) {
  for (std::size_t t = 0; t < threads_; ++t) {
    shards_[t].models.reset(new ModelCells[capacity_]());
  }
}

LlmMetrics::~LlmMetrics() = default;

void LlmMetrics::record(std::size_t thread, std::size_t series, const GenerationSummary& s) {
  if (!s.tapped || series >= capacity_) return;
  if (!used_[series].load(std::memory_order_relaxed))
    used_[series].store(true, std::memory_order_release);
  Shard& shard = shards_[thread % threads_];
  ModelCells& m = shard.models[series];
  if (s.end != StreamEnd::complete) add(m.aborted[s.end == StreamEnd::client_aborted ? 0 : 1], 1);
  if (s.error != TapError::none) {
    add(shard.tap_errors[static_cast<std::size_t>(s.error)], 1);
    return;
  }
  if (s.ttft_seconds) m.ttft.observe(kTtftBounds, *s.ttft_seconds, 1e9);
  if (s.tpot_seconds) m.tpot.observe(kTpotBounds, *s.tpot_seconds, 1e9);
  if (s.prompt_source != TokenSource::none) add(m.prompt_tokens, s.prompt_tokens);
  if (s.output_source != TokenSource::none) {
    add(m.output_tokens[s.output_source == TokenSource::usage ? 0 : 1], s.output_tokens);
    m.out_tokens.observe(kTokenBounds, static_cast<double>(s.output_tokens), 1.0);
  }
  if (!s.finish_reason.empty()) {
    add(m.finish[static_cast<std::size_t>(classify_finish_reason(s.finish_reason))], 1);
  }
}

std::vector<prometheus::MetricFamily> LlmMetrics::Collect() const {
  using prometheus::ClientMetric;
  using prometheus::MetricType;
  auto ttft = family("mlsidecar_time_to_first_token_seconds",
                     "Time from the request to the first generated token of a stream.",
                     MetricType::Histogram);
  auto tpot = family("mlsidecar_time_per_output_token_seconds",
                     "(last token time - first token time) / (output tokens - 1), per stream.",
                     MetricType::Histogram);
  auto out_hist = family("mlsidecar_request_output_tokens", "Output tokens per request.",
                         MetricType::Histogram);
  auto prompt = family("mlsidecar_prompt_tokens_total", "Prompt tokens, from the server's usage.",
                       MetricType::Counter);
  auto output = family("mlsidecar_output_tokens_total",
                       "Output tokens; source: usage (server-reported) or counted (stream events).",
                       MetricType::Counter);
  auto finish =
      family("mlsidecar_finish_reason_total", "Generations by finish reason.", MetricType::Counter);
  auto aborted = family("mlsidecar_stream_aborted_total",
                        "Responses cut short, by the client or by the model.", MetricType::Counter);
  auto errors = family("mlsidecar_llm_tap_errors_total",
                       "Responses the LLM tap gave up on (relayed untouched), by reason.",
                       MetricType::Counter);

  auto histogram = [&](prometheus::MetricFamily& f, const std::vector<ClientMetric::Label>& series,
                       const auto& bounds, auto cells_of, double scale) {
    ClientMetric cm;
    cm.label = series;
    std::vector<std::uint64_t> counts(bounds.size() + 1, 0);
    std::uint64_t sum = 0;
    for (std::size_t t = 0; t < threads_; ++t) {
      const auto& cells = cells_of(shards_[t]);
      for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += get(cells.buckets[i]);
      sum += get(cells.sum);
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      cm.histogram.bucket.push_back(
          {cumulative, i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity()});
    }
    cm.histogram.sample_count = cumulative;
    cm.histogram.sample_sum = static_cast<double>(sum) / scale;
    f.metric.push_back(std::move(cm));
  };
  auto counter = [&](prometheus::MetricFamily& f, std::vector<ClientMetric::Label> labels,
                     auto counter_of) {
    ClientMetric cm;
    cm.label = std::move(labels);
    std::uint64_t total = 0;
    for (std::size_t t = 0; t < threads_; ++t) total += get(counter_of(shards_[t]));
    cm.counter.value = static_cast<double>(total);
    f.metric.push_back(std::move(cm));
  };

  // The series' labels plus one more.
  auto with = [](std::vector<ClientMetric::Label> labels, std::string name,
                 std::string_view value) {
    labels.push_back(label(std::move(name), value));
    return labels;
  };
  for (std::size_t slot = 0; slot < capacity_; ++slot) {
    if (!used_[slot].load(std::memory_order_acquire)) continue;
    auto [model, version] = series_.series_labels(slot);
    const std::vector<ClientMetric::Label> series = {label("model", model),
                                                     label("version", version)};
    auto cells = [slot](const Shard& s) -> const ModelCells& { return s.models[slot]; };
    histogram(
        ttft, series, kTtftBounds, [&](const Shard& s) -> auto& { return cells(s).ttft; }, 1e9);
    histogram(
        tpot, series, kTpotBounds, [&](const Shard& s) -> auto& { return cells(s).tpot; }, 1e9);
    histogram(
        out_hist, series,
        kTokenBounds, [&](const Shard& s) -> auto& { return cells(s).out_tokens; }, 1.0);
    counter(
        prompt, series, [&](const Shard& s) -> auto& { return cells(s).prompt_tokens; });
    for (std::size_t i = 0; i < 2; ++i) {
      counter(
          output,
          with(series, "source", i == 0 ? "usage" : "counted"), [&](const Shard& s) -> auto& {
            return cells(s).output_tokens[i];
          });
      counter(
          aborted, with(series, "by", i == 0 ? "client" : "model"), [&](const Shard& s) -> auto& {
            return cells(s).aborted[i];
          });
    }
    for (std::size_t r = 0; r < kFinishReasonCount; ++r) {
      counter(
          finish, with(series, "reason", finish_reason_name(static_cast<FinishReason>(r))),
          [&](const Shard& s) -> auto& { return cells(s).finish[r]; });
    }
  }
  for (std::size_t e = 1; e < kTapErrorCount; ++e) {
    counter(
        errors,
        {label("reason", tap_error_name(static_cast<TapError>(e)))}, [&](const Shard& s) -> auto& {
          return s.tap_errors[e];
        });
  }
  return {std::move(ttft),   std::move(tpot),   std::move(out_hist), std::move(prompt),
          std::move(output), std::move(finish), std::move(aborted),  std::move(errors)};
}

}  // namespace mlsidecar::llm
