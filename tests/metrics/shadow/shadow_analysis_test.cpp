// ShadowAnalysis end to end without a proxy: pairs of real answers in every protocol the payload
// readers know, with a known share of disagreeing rows, recorded as the shadow worker does and
// read back from Collect() as a scrape would.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/shadow/disagreement_log.h"
#include "metrics/shadow/shadow_analysis.h"
#include "shadow_test_support.h"

using namespace mlsidecar::shadow;
using mlsidecar::Route;
using nlohmann::json;
using shadow_test::Scrape;

namespace {

ShadowAnalysisSettings settings(std::vector<std::string> class_outputs = {},
                                std::vector<std::string> argmax_outputs = {}) {
  ShadowAnalysisSettings s;
  s.version = "v2";
  s.class_outputs = std::move(class_outputs);
  s.argmax_outputs = std::move(argmax_outputs);
  return s;
}

// The bodies must outlive the pair (Answer holds views).
struct Bodies {
  std::string primary, shadow;
  std::string primary_type = "application/json", shadow_type = "application/json";
};

ShadowPair pair_of(Route route, const Bodies& b, int primary_status = 200,
                   int shadow_status = 200) {
  ShadowPair p;
  p.route = route;
  p.primary = {primary_status, 0.1, b.primary_type, b.primary, false};
  p.shadow = {shadow_status, 0.1, b.shadow_type, b.shadow, false};
  return p;
}

// A probability row of width k whose largest value is at `top`.
json probability_row(std::size_t k, std::size_t top) {
  json row = json::array();
  for (std::size_t j = 0; j < k; ++j) row.push_back(j == top ? 0.7 : 0.3 / double(k - 1));
  return row;
}

json v2_outputs(const std::vector<std::size_t>& tops, const std::vector<std::string>& labels) {
  json probs = json::array();
  for (std::size_t top : tops) {
    for (const auto& v : probability_row(3, top)) probs.push_back(v);
  }
  return {{"model_name", "m"},
          {"outputs",
           {{{"name", "probs"},
             {"shape", json::array({tops.size(), 3})},
             {"datatype", "FP32"},
             {"data", probs}},
            {{"name", "label"},
             {"shape", json::array({labels.size()})},
             {"datatype", "BYTES"},
             {"data", labels}}}}};
}

}  // namespace

TEST_CASE("shadow: the fixed series exist at zero before any copy") {
  ShadowAnalysis a(settings({"label"}, {"probs"}));
  Scrape s(a);
  for (const char* route : {"predict", "infer", "generate"}) {
    for (const char* code : {"2xx", "3xx", "4xx", "5xx", "error"}) {
      CHECK(s.counter("mlsidecar_shadow_requests_total",
                      {{"route", route}, {"code", code}, {"version", "v2"}}) == 0);
    }
    CHECK(s.counter("mlsidecar_shadow_compared_total", {{"route", route}}) == 0);
    CHECK(s.counter("mlsidecar_shadow_status_matches_total", {{"route", route}}) == 0);
    CHECK(s.count("mlsidecar_shadow_latency_ratio", {{"route", route}}) == 0);
  }
  CHECK(s.series("mlsidecar_shadow_requests_total") == 15);  // no 1xx, no health/other
  for (const char* reason : {"queue_full", "rate_limited", "too_large", "memory", "abandoned",
                             "primary_failed", "shutdown"}) {
    CHECK(s.counter("mlsidecar_shadow_dropped_total", {{"reason", reason}}) == 0);
  }
  for (const char* reason : {"not_2xx", "truncated", "unreadable", "shape_mismatch", "encoded"}) {
    CHECK(s.counter("mlsidecar_shadow_output_skipped_total", {{"reason", reason}}) == 0);
  }
  // Outputs named by flags are there from the start, as labels.
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == 0);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "probs"}}) == 0);
  CHECK(s.series("mlsidecar_shadow_output_abs_difference") == 0);
  CHECK(s.count("mlsidecar_shadow_output_token_ratio", {{"version", "v2"}}) == 0);
  CHECK(s.counter("mlsidecar_shadow_finish_reason_compared_total", {}) == 0);
  for (const auto* f : {s.family("mlsidecar_shadow_requests_total"),
                        s.family("mlsidecar_shadow_output_relative_difference")}) {
    REQUIRE(f != nullptr);
    CHECK_FALSE(f->help.empty());
  }
  // No profile: no shadow drift.
  CHECK(s.family("mlsidecar_shadow_drift_psi") == nullptr);
}

TEST_CASE("shadow: status classes, error answers and status agreement") {
  ShadowAnalysis a(settings());
  const Bodies b{R"({"predictions": [1]})", R"({"predictions": [1]})"};
  a.record_pair(pair_of(Route::predict, b, 200, 0));    // no answer
  a.record_pair(pair_of(Route::predict, b, 200, 503));  // disagrees
  a.record_pair(pair_of(Route::predict, b, 200, 201));  // agrees (both 2xx)
  a.record_pair(pair_of(Route::predict, b, 404, 404));  // agrees, outputs not compared
  a.record_pair(pair_of(Route::infer, b, 200, 200));    // agrees, unreadable as V2
  a.record_pair(pair_of(Route::predict, b, 0, 200));    // the primary failed: disagree
  Scrape s(a);
  auto req = [&](const char* route, const char* code) {
    return s.counter("mlsidecar_shadow_requests_total", {{"route", route}, {"code", code}});
  };
  CHECK(req("predict", "error") == 1);
  CHECK(req("predict", "5xx") == 1);
  CHECK(req("predict", "2xx") == 2);
  CHECK(req("predict", "4xx") == 1);
  CHECK(req("infer", "2xx") == 1);
  CHECK(s.counter("mlsidecar_shadow_compared_total", {{"route", "predict"}}) == 4);
  CHECK(s.counter("mlsidecar_shadow_status_matches_total", {{"route", "predict"}}) == 2);
  CHECK(s.counter("mlsidecar_shadow_compared_total", {{"route", "infer"}}) == 1);
  CHECK(s.counter("mlsidecar_shadow_status_matches_total", {{"route", "infer"}}) == 1);
  CHECK(s.counter("mlsidecar_shadow_output_skipped_total", {{"reason", "not_2xx"}}) == 3);
  CHECK(s.counter("mlsidecar_shadow_output_skipped_total", {{"reason", "unreadable"}}) == 1);
  // The one readable 2xx pair compared its scalar predictions as numbers (equal).
  CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", {{"output", "predictions"}}, 0) == 1);
}

TEST_CASE("shadow: dropped copies by reason") {
  ShadowAnalysis a(settings());
  ShadowAnalysisSettings st = settings();
  st.producers = 3;
  ShadowAnalysis b(st);
  a.record_dropped(0, DropReason::queue_full);
  a.record_dropped(0, DropReason::queue_full);
  a.record_dropped(0, DropReason::shutdown);
  a.record_dropped(7, DropReason::memory);  // past the rows: the last row
  b.record_dropped(0, DropReason::abandoned);
  b.record_dropped(1, DropReason::abandoned);
  b.record_dropped(2, DropReason::primary_failed);
  Scrape s(a);
  CHECK(s.counter("mlsidecar_shadow_dropped_total", {{"reason", "queue_full"}}) == 2);
  CHECK(s.counter("mlsidecar_shadow_dropped_total", {{"reason", "shutdown"}}) == 1);
  CHECK(s.counter("mlsidecar_shadow_dropped_total", {{"reason", "memory"}}) == 1);
  CHECK(s.counter("mlsidecar_shadow_dropped_total", {{"reason", "too_large"}}) == 0);
  Scrape t(b);  // summed over the producers' rows
  CHECK(t.counter("mlsidecar_shadow_dropped_total", {{"reason", "abandoned"}}) == 2);
  CHECK(t.counter("mlsidecar_shadow_dropped_total", {{"reason", "primary_failed"}}) == 1);
  CHECK(t.counter("mlsidecar_shadow_dropped_total", {{"reason", "rate_limited"}}) == 0);
}

TEST_CASE("shadow: latency ratio buckets") {
  ShadowAnalysis a(settings());
  const Bodies b{R"({"predictions": [1]})", R"({"predictions": [1]})"};
  // shadow / primary: 0.4, 1.05, 1.2, 3, 40
  for (double shadow_seconds : {0.04, 0.105, 0.12, 0.3, 4.0}) {
    ShadowPair p = pair_of(Route::predict, b);
    p.shadow.seconds = shadow_seconds;
    a.record_pair(p);
  }
  Scrape s(a);
  const shadow_test::LabelList l = {{"route", "predict"}, {"version", "v2"}};
  CHECK(s.bucket("mlsidecar_shadow_latency_ratio", l, 0.5) == 1);
  CHECK(s.bucket("mlsidecar_shadow_latency_ratio", l, 1) == 1);
  CHECK(s.bucket("mlsidecar_shadow_latency_ratio", l, 1.1) == 2);
  CHECK(s.bucket("mlsidecar_shadow_latency_ratio", l, 1.25) == 3);
  CHECK(s.bucket("mlsidecar_shadow_latency_ratio", l, 4) == 4);
  CHECK(s.bucket("mlsidecar_shadow_latency_ratio", l, 16) == 4);
  CHECK(s.count("mlsidecar_shadow_latency_ratio", l) == 5);
  CHECK_THAT(s.sum("mlsidecar_shadow_latency_ratio", l),
             Catch::Matchers::WithinRel(0.4 + 1.05 + 1.2 + 3 + 40, 1e-12));
}

TEST_CASE("shadow: KServe V1 object rows, labels and a known share of disagreement") {
  ShadowAnalysis a(settings({"label"}));
  // 10 pairs of 10 rows; row n (0..99) disagrees on the label when n % 4 == 0: 25 of 100.
  std::vector<Bodies> pairs(10);
  for (std::size_t k = 0; k < 10; ++k) {
    json p = json::array(), s = json::array();
    for (std::size_t r = 0; r < 10; ++r) {
      const std::size_t n = 10 * k + r;
      p.push_back({{"label", n % 3 == 0 ? "cat" : "dog"}, {"score", 0.5}});
      s.push_back({{"label", n % 4 == 0 ? "bird" : (n % 3 == 0 ? "cat" : "dog")}, {"score", 0.5}});
    }
    pairs[k] = {json{{"predictions", p}}.dump(), json{{"predictions", s}}.dump()};
    a.record_pair(pair_of(Route::predict, pairs[k]));
  }
  Scrape s(a);
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == 100);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "label"}}) == 75);
  // The score agrees exactly on every row.
  CHECK(s.count("mlsidecar_shadow_output_abs_difference", {{"output", "score"}}) == 100);
  CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", {{"output", "score"}}, 0) == 100);
  CHECK(s.find("mlsidecar_shadow_output_compared_total", {{"output", "score"}}) == nullptr);
}

TEST_CASE("shadow: KServe V1 list rows compared by argmax") {
  ShadowAnalysis a(settings({}, {"predictions"}));
  // 30 rows of 4 classes; the shadow's top class moves on rows 0, 5, .., 25: 6 of 30 disagree.
  json p = json::array(), s = json::array();
  for (std::size_t i = 0; i < 30; ++i) {
    p.push_back(probability_row(4, i % 4));
    s.push_back(probability_row(4, i % 5 == 0 ? (i + 1) % 4 : i % 4));
  }
  const Bodies b{json{{"predictions", p}}.dump(), json{{"predictions", s}}.dump()};
  a.record_pair(pair_of(Route::predict, b));
  Scrape sc(a);
  CHECK(sc.counter("mlsidecar_shadow_output_compared_total", {{"output", "predictions"}}) == 30);
  CHECK(sc.counter("mlsidecar_shadow_output_matches_total", {{"output", "predictions"}}) == 24);
  // The columns are not compared one by one.
  CHECK(sc.series("mlsidecar_shadow_output_abs_difference") == 0);
  CHECK(sc.series("mlsidecar_shadow_output_compared_total") == 1);
}

TEST_CASE("shadow: V2 probability tensor (argmax) and BYTES label tensor") {
  ShadowAnalysis a(settings({}, {"probs"}));
  // 4 pairs of 10 rows, n = 0..39: argmax disagrees when n % 4 == 1 (10 of 40), the label when
  // n % 5 == 2 (8 of 40).
  std::vector<Bodies> pairs(4);
  for (std::size_t k = 0; k < 4; ++k) {
    std::vector<std::size_t> pt, st;
    std::vector<std::string> pl, sl;
    for (std::size_t r = 0; r < 10; ++r) {
      const std::size_t n = 10 * k + r;
      pt.push_back(n % 3);
      st.push_back(n % 4 == 1 ? (n + 1) % 3 : n % 3);
      pl.push_back(n % 2 == 0 ? "spam" : "ham");
      sl.push_back(n % 5 == 2 ? "unsure" : pl.back());
    }
    pairs[k] = {v2_outputs(pt, pl).dump(), v2_outputs(st, sl).dump()};
    a.record_pair(pair_of(Route::infer, pairs[k]));
  }
  Scrape s(a);
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "probs"}}) == 40);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "probs"}}) == 30);
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == 40);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "label"}}) == 32);
  CHECK(s.find("mlsidecar_shadow_output_abs_difference", {{"output", "probs[0]"}}) == nullptr);
  CHECK(s.counter("mlsidecar_shadow_compared_total", {{"route", "infer"}}) == 4);
}

TEST_CASE("shadow: TF Serving columnar outputs, numbers and classes") {
  ShadowAnalysis a(settings({"class"}));
  // 8 rows; the class differs on 2, the score by 0.25 on 4 (relative 0.25 / 0.5 = 0.5).
  const Bodies b{R"({"outputs": {"class": [1, 2, 3, 1, 2, 3, 1, 1],
                                 "score": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]}})",
                 R"({"outputs": {"class": [1, 2, 3, 1, 3, 3, 2, 1.0],
                                 "score": [0.75, 0.5, 0.75, 0.5, 0.75, 0.5, 0.75, 0.5]}})"};
  a.record_pair(pair_of(Route::predict, b));
  Scrape s(a);
  // 1.0 and 1 are the same class, as drift categories; 2 vs 3 and 1 vs 2 are not.
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "class"}}) == 8);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "class"}}) == 6);
  const shadow_test::LabelList score = {{"output", "score"}};
  CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", score, 0) == 4);
  CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", score, 0.1) == 4);
  CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", score, 1) == 8);
  CHECK(s.bucket("mlsidecar_shadow_output_relative_difference", score, 0.1) == 4);
  CHECK(s.bucket("mlsidecar_shadow_output_relative_difference", score, 1) == 8);
  CHECK_THAT(s.sum("mlsidecar_shadow_output_relative_difference", score),
             Catch::Matchers::WithinRel(4 * 0.5, 1e-12));
}

namespace {

std::string chat_json(std::size_t tokens, const char* finish) {
  return json{{"id", "c"},
              {"object", "chat.completion"},
              {"model", "m"},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", std::string(tokens, 'x')}}},
                 {"finish_reason", finish}}}},
              {"usage",
               {{"prompt_tokens", 5}, {"completion_tokens", tokens}, {"total_tokens", 5 + tokens}}}}
      .dump();
}

std::string chat_sse(std::size_t tokens, const char* finish) {
  std::string out;
  auto event = [&out](const json& j) { out += "data: " + j.dump() + "\n\n"; };
  event({{"object", "chat.completion.chunk"},
         {"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}}}}}}});
  for (std::size_t i = 0; i < tokens; ++i) {
    event({{"object", "chat.completion.chunk"},
           {"choices", {{{"index", 0}, {"delta", {{"content", "y"}}}}}}});
  }
  event({{"object", "chat.completion.chunk"},
         {"choices", {{{"index", 0}, {"delta", json::object()}, {"finish_reason", finish}}}}});
  out += "data: [DONE]\n\n";
  return out;
}

}  // namespace

TEST_CASE("shadow: LLM answers, JSON against SSE streams") {
  ShadowAnalysis a(settings());
  // 20 pairs: the primary a JSON answer of 10 tokens ("stop"), the shadow a stream of 10, 12 or
  // 20 tokens; the shadow stops for "length" on 5 of them.
  std::vector<Bodies> pairs;
  pairs.reserve(20);
  for (std::size_t i = 0; i < 20; ++i) {
    const std::size_t shadow_tokens = i < 10 ? 10 : (i < 15 ? 12 : 20);
    pairs.push_back({chat_json(10, "stop"), chat_sse(shadow_tokens, i % 4 == 3 ? "length" : "stop"),
                     "application/json", "text/event-stream"});
    ShadowPair p = pair_of(Route::generate, pairs.back());
    p.request_body = R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})";
    a.record_pair(p);
  }
  Scrape s(a);
  CHECK(s.counter("mlsidecar_shadow_finish_reason_compared_total", {{"version", "v2"}}) == 20);
  CHECK(s.counter("mlsidecar_shadow_finish_reason_matches_total", {{"version", "v2"}}) == 15);
  const shadow_test::LabelList v = {{"version", "v2"}};
  CHECK(s.count("mlsidecar_shadow_output_token_ratio", v) == 20);
  CHECK(s.bucket("mlsidecar_shadow_output_token_ratio", v, 1) == 10);
  CHECK(s.bucket("mlsidecar_shadow_output_token_ratio", v, 1.25) == 15);
  CHECK(s.bucket("mlsidecar_shadow_output_token_ratio", v, 2) == 20);
  CHECK_THAT(s.sum("mlsidecar_shadow_output_token_ratio", v),
             Catch::Matchers::WithinRel(10 * 1.0 + 5 * 1.2 + 5 * 2.0, 1e-12));
  // The OpenAI reader's completion length is compared as a number too (10 of 20 equal).
  CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", {{"output", "completion_chars"}}, 0) ==
        10);
  CHECK(s.counter("mlsidecar_shadow_output_skipped_total", {{"reason", "unreadable"}}) == 0);
}

TEST_CASE("shadow: truncated, unreadable and mismatched answers are skipped and counted") {
  ShadowAnalysis a(settings({}, {"probs"}));
  const std::string two = v2_outputs({0, 1}, {"a", "b"}).dump();
  const std::string three = v2_outputs({0, 1, 2}, {"a", "b", "c"}).dump();
  json wide = json::parse(two);
  wide["outputs"][0]["shape"] = {2, 4};
  wide["outputs"][0]["data"] = {0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1};
  const std::string wide_body = wide.dump();

  const Bodies same{two, two}, rows{two, three}, width{two, wide_body}, junk{two, "{not json"};
  ShadowPair truncated = pair_of(Route::infer, same);
  truncated.shadow.truncated = true;
  a.record_pair(truncated);
  // A gzip answer from the primary: its body was not copied; status and latency still count.
  ShadowPair encoded = pair_of(Route::infer, same);
  encoded.primary.encoded = true;
  encoded.primary.body = {};
  a.record_pair(encoded);
  a.record_pair(pair_of(Route::infer, rows));
  a.record_pair(pair_of(Route::infer, width));
  a.record_pair(pair_of(Route::infer, junk));
  // Object rows where one answer lacks a key in a row: values of "score" do not line up.
  const Bodies ragged{
      R"({"predictions": [{"label": "a", "score": 1}, {"label": "b", "score": 2}]})",
      R"({"predictions": [{"label": "a", "score": 1}, {"label": "b"}]})"};
  a.record_pair(pair_of(Route::predict, ragged));
  Scrape s(a);
  auto skipped = [&](const char* reason) {
    return s.counter("mlsidecar_shadow_output_skipped_total", {{"reason", reason}});
  };
  CHECK(skipped("truncated") == 1);
  CHECK(skipped("shape_mismatch") == 3);
  CHECK(skipped("unreadable") == 1);
  CHECK(skipped("encoded") == 1);
  // All of these were compared for status, none for outputs.
  CHECK(s.counter("mlsidecar_shadow_compared_total", {{"route", "infer"}}) == 5);
  CHECK(s.counter("mlsidecar_shadow_status_matches_total", {{"route", "infer"}}) == 5);
  CHECK(s.count("mlsidecar_shadow_latency_ratio", {{"route", "infer"}}) == 5);
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "probs"}}) == 0);
  CHECK(s.find("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == nullptr);
}

TEST_CASE("shadow: output names beyond kMaxOutputs fold into other") {
  ShadowAnalysis a(settings());
  // One row with 70 text outputs f00..f69, each a label; the first 64 (in key order) keep their
  // name, the last 6 are counted together as "other".
  json p = json::object(), s = json::object();
  for (std::size_t i = 0; i < 70; ++i) {
    const std::string name = (i < 10 ? "f0" : "f") + std::to_string(i);
    p[name] = "a";
    s[name] = i % 2 == 0 ? "a" : "b";
  }
  const Bodies b{json{{"predictions", {p}}}.dump(), json{{"predictions", {s}}}.dump()};
  a.record_pair(pair_of(Route::predict, b));
  a.record_pair(pair_of(Route::predict, b));
  Scrape sc(a);
  CHECK(sc.series("mlsidecar_shadow_output_compared_total") == kMaxOutputs + 1);
  CHECK(sc.counter("mlsidecar_shadow_output_compared_total", {{"output", "f63"}}) == 2);
  CHECK(sc.find("mlsidecar_shadow_output_compared_total", {{"output", "f64"}}) == nullptr);
  // f64..f69, twice: 12 rows, the even ones (f64, f66, f68) agree.
  CHECK(sc.counter("mlsidecar_shadow_output_compared_total", {{"output", "other"}}) == 12);
  CHECK(sc.counter("mlsidecar_shadow_output_matches_total", {{"output", "other"}}) == 6);
}

namespace {

// An input feature x (not part of the shadow's drift), a numeric output score and a categorical
// output label, as `mlsidecar profile` writes them (docs/drift.md).
constexpr const char* kProfile = R"({
  "format": "mlsidecar-drift-profile", "version": 1, "source": "shadow test",
  "columns": {"input": [], "output": []},
  "features": [
    {"name": "x", "direction": "input", "kind": "numeric", "count": 4, "missing": 0,
     "mean": 0, "std": 1, "min": -1, "max": 1, "bin_edges": [0], "bin_ratios": [0.5, 0.5],
     "sample": [-1, -0.5, 0.5, 1]},
    {"name": "score", "direction": "output", "kind": "numeric", "count": 4, "missing": 0,
     "mean": 0.5, "std": 0.5, "min": 0, "max": 1, "bin_edges": [0.5],
     "bin_ratios": [0.5, 0.5], "sample": [0, 0.25, 0.75, 1]},
    {"name": "label", "direction": "output", "kind": "categorical", "count": 10, "missing": 0,
     "categories": [{"value": "0", "ratio": 0.5}, {"value": "1", "ratio": 0.5}],
     "other_ratio": 0}
  ]})";

}  // namespace

TEST_CASE(
    "shadow: a profile's categorical outputs are labels, and the shadow's drift is published") {
  const std::string path = "shadow_analysis_test_profile.json";
  std::ofstream(path) << kProfile;
  ShadowAnalysisSettings st = settings();
  st.profile_path = path;
  ShadowAnalysis a(st);
  std::remove(path.c_str());
  {
    Scrape s(a);  // declared outputs at zero from the start
    CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == 0);
    CHECK(s.count("mlsidecar_shadow_output_abs_difference", {{"output", "score"}}) == 0);
    CHECK(s.find("mlsidecar_shadow_output_compared_total", {{"output", "x"}}) == nullptr);
  }
  // Class ids as numbers: compared as labels since the profile says categorical. 6 rows, 2
  // disagree. The shadow's scores are all above the reference median.
  const Bodies b{
      R"({"predictions": [{"label": 0, "score": 0.1}, {"label": 1, "score": 0.2},
                          {"label": 0, "score": 0.3}, {"label": 1, "score": 0.4},
                          {"label": 0, "score": 0.6}, {"label": 1, "score": 0.7}]})",
      R"({"predictions": [{"label": 1, "score": 0.9}, {"label": 1, "score": 0.9},
                          {"label": 0, "score": 0.9}, {"label": 0, "score": 0.9},
                          {"label": 0, "score": 0.9}, {"label": 1, "score": 0.9}]})"};
  a.record_pair(pair_of(Route::predict, b));
  a.compute_drift_now();
  Scrape s(a);
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == 6);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "label"}}) == 4);
  const shadow_test::LabelList score = {
      {"feature", "score"}, {"direction", "output"}, {"version", "v2"}};
  CHECK(s.gauge("mlsidecar_shadow_drift_window_samples", score) == 6);
  CHECK(s.gauge("mlsidecar_shadow_drift_psi", score) > 1);  // all in one bin of two
  CHECK(s.gauge("mlsidecar_shadow_drift_window_samples",
                {{"feature", "label"}, {"direction", "output"}}) == 6);
  CHECK(s.find("mlsidecar_shadow_drift_window_samples", {{"feature", "x"}}) == nullptr);
  CHECK(s.family("mlsidecar_drift_psi") == nullptr);
}

TEST_CASE("shadow: an unreadable profile fails with one line") {
  ShadowAnalysisSettings st = settings();
  st.profile_path = "/nonexistent/profile.json";
  CHECK_THROWS_WITH(ShadowAnalysis(st), Catch::Contains("/nonexistent/profile.json"));
}

TEST_CASE("shadow: drops from I/O threads while the worker records and a scrape reads") {
  ShadowAnalysisSettings st = settings({"label"});
  st.producers = 3;
  ShadowAnalysis a(st);
  a.start();
  std::atomic<bool> go{false};
  std::vector<std::thread> io;
  for (int t = 0; t < 3; ++t) {
    io.emplace_back([&a, &go, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 5000; ++i) a.record_dropped(t, static_cast<DropReason>((i + t) % 7));
    });
  }
  std::thread worker([&a, &go] {
    const Bodies b{R"({"predictions": [{"label": "a", "score": 1}]})",
                   R"({"predictions": [{"label": "b", "score": 2}]})"};
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < 500; ++i) a.record_pair(pair_of(Route::predict, b));
  });
  go = true;
  for (int i = 0; i < 50; ++i) (void)a.Collect();
  for (auto& t : io) t.join();
  worker.join();
  a.stop();
  Scrape s(a);
  double dropped = 0;
  for (const char* r : {"queue_full", "rate_limited", "too_large", "memory", "abandoned",
                        "primary_failed", "shutdown"}) {
    dropped += s.counter("mlsidecar_shadow_dropped_total", {{"reason", r}});
  }
  CHECK(dropped == 15000);
  CHECK(s.counter("mlsidecar_shadow_output_compared_total", {{"output", "label"}}) == 500);
  CHECK(s.counter("mlsidecar_shadow_output_matches_total", {{"output", "label"}}) == 0);
  CHECK(s.count("mlsidecar_shadow_output_abs_difference", {{"output", "score"}}) == 500);
}

TEST_CASE("shadow: the requests the versions disagreed on, newest first") {
  ShadowAnalysis a(settings({"label"}, {"probs"}));
  // Pair k answers 3 rows; the shadow's row 1 differs in label and argmax when k is even, and
  // pair 5's shadow fails with a 503. Numbers (score) never make an entry.
  std::vector<Bodies> bodies(6);
  std::vector<std::string> ids(6);
  for (std::size_t k = 0; k < 6; ++k) {
    const std::vector<std::size_t> tops{0, 1, 2};
    std::vector<std::size_t> shadow_tops = tops;
    std::vector<std::string> labels{"a", "b", "c"}, shadow_labels = labels;
    if (k % 2 == 0) {
      shadow_tops[1] = 2;
      shadow_labels[1] = "c";
    }
    bodies[k] = {v2_outputs(tops, labels).dump(), v2_outputs(shadow_tops, shadow_labels).dump()};
    ids[k] = "req-" + std::to_string(k);
    ShadowPair p = pair_of(Route::infer, bodies[k], 200, k == 5 ? 503 : 200);
    p.request_id = ids[k];
    a.record_pair(p);
  }
  const json doc = json::parse(a.disagreements_json());
  CHECK(doc["version"] == "v2");
  CHECK(doc["capacity"] == 32);
  // Pairs 0, 2, 4: label and probs each; pair 5: its status.
  CHECK(doc["disagreements_total"] == 7);
  const json& recent = doc["recent"];
  REQUIRE(recent.size() == 7);
  CHECK(recent[0]["request_id"] == "req-5");
  CHECK(recent[0]["kind"] == "status");
  CHECK(recent[0]["output"].is_null());
  CHECK(recent[0]["primary"] == "200");
  CHECK(recent[0]["shadow"] == "503");
  std::vector<std::string> seen;
  for (std::size_t i = 1; i < recent.size(); ++i) {
    const json& e = recent[i];
    seen.push_back(e["request_id"].get<std::string>() + " " + e["output"].get<std::string>());
    CHECK(e["route"] == "infer");
    CHECK(e["row"] == 1);
    CHECK(e["primary"] == (e["kind"] == "argmax" ? "1" : "b"));
    CHECK(e["shadow"] == (e["kind"] == "argmax" ? "2" : "c"));
    CHECK(e["kind"] == (e["output"] == "probs" ? "argmax" : "label"));
  }
  // Within a pair, outputs in the order compared: argmax vectors first.
  CHECK(seen == std::vector<std::string>{"req-4 label", "req-4 probs", "req-2 label", "req-2 probs",
                                         "req-0 label", "req-0 probs"});
}

TEST_CASE("shadow: the disagreement log keeps the last 32, values cut whole") {
  DisagreementLog log;
  // 'é' is two bytes: at 119..120 it would straddle the 120-byte cut, so it goes whole.
  const std::string long_value = std::string(119, 'x') + "\xC3\xA9" + "tail";
  for (int i = 0; i < 40; ++i) {
    log.add({std::chrono::system_clock::now(), "id-" + std::to_string(i), Route::predict, "label",
             "label", 0, long_value, "\xFF not UTF-8"});
  }
  CHECK(log.total() == 40);
  const json doc = json::parse(log.json("canary"));
  REQUIRE(doc["recent"].size() == DisagreementLog::kCapacity);
  CHECK(doc["recent"][0]["request_id"] == "id-39");
  CHECK(doc["recent"][31]["request_id"] == "id-8");
  CHECK(doc["recent"][0]["primary"] == std::string(119, 'x') + "...");
  CHECK(doc["recent"][0]["shadow"] == "\xEF\xBF\xBD not UTF-8");  // replaced, not thrown
  CHECK(doc["recent"][0]["time"].get<std::string>().ends_with("Z"));
}
