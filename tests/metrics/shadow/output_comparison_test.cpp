// The numbers behind the difference histograms, checked independently: the expected absolute and
// relative differences are computed here straight from the JSON documents with nlohmann (not
// through the payload readers), bucketed by the bounds docs/shadow.md documents, and compared with
// what OutputComparison returns and what ShadowAnalysis publishes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "metrics/shadow/output_comparison.h"
#include "metrics/shadow/shadow_analysis.h"
#include "shadow_test_support.h"

using namespace mlsidecar::shadow;
using mlsidecar::Route;
using nlohmann::json;

namespace {

// docs/shadow.md, "Metrics".
const std::vector<double> kAbsBounds = {0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000};
const std::vector<double> kRelBounds = {0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10};
constexpr std::size_t kRows = 60;

struct Expected {
  std::vector<double> absolute, relative;
};

void expect(std::map<std::string, Expected>& out, const std::string& name, double p, double s) {
  const double d = std::fabs(s - p);
  out[name].absolute.push_back(d);
  out[name].relative.push_back(d / std::max(std::fabs(p), 1e-12));
}

// Values with every scale the buckets cover: exact ties, float32-like noise, sign flips, zeros in
// the primary (relative difference over 1e-12) and large numbers.
std::pair<double, double> value_pair(std::mt19937_64& rng, std::size_t i) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const double p = u(rng) * std::pow(10.0, static_cast<double>(i % 7) - 3.0);
  switch (i % 6) {
    case 0:
      return {p, p};
    case 1:
      return {p, p * (1 + 1e-7)};
    case 2:
      return {p, -p};
    case 3:
      return {0.0, u(rng)};
    case 4:
      return {p, p + u(rng) * 50};
    default:
      return {p, p + u(rng) * 1e-3};
  }
}

std::size_t bucket_count_at(const std::vector<double>& values, double le) {
  return static_cast<std::size_t>(
      std::count_if(values.begin(), values.end(), [le](double v) { return v <= le; }));
}

double total(const std::vector<double>& values) {
  double t = 0;
  for (double v : values) t += v;
  return t;
}

}  // namespace

TEST_CASE("output comparison: differences agree with the JSON, computed independently") {
  std::mt19937_64 rng(18);
  // V2: a [rows] tensor "y" and a [rows, 2] tensor "z" (not an argmax vector: its columns are
  // numbers z[0], z[1]).
  json py = json::array(), sy = json::array(), pz = json::array(), sz = json::array();
  std::map<std::string, Expected> want;
  for (std::size_t i = 0; i < kRows; ++i) {
    const auto [p, s] = value_pair(rng, i);
    py.push_back(p);
    sy.push_back(s);
    for (std::size_t j = 0; j < 2; ++j) {
      const auto [pj, sj] = value_pair(rng, i + j + 3);
      pz.push_back(pj);
      sz.push_back(sj);
    }
  }
  auto body = [](const json& y, const json& z) {
    return json{
        {"outputs",
         {{{"name", "y"}, {"shape", json::array({kRows})}, {"datatype", "FP64"}, {"data", y}},
          {{"name", "z"}, {"shape", json::array({kRows, 2})}, {"datatype", "FP64"}, {"data", z}}}}}
        .dump();
  };
  const std::string primary = body(py, pz), shadow_body = body(sy, sz);
  // Expected, from the documents as they will be read back (after a dump and parse).
  const json pd = json::parse(primary), sd = json::parse(shadow_body);
  for (std::size_t i = 0; i < kRows; ++i) {
    expect(want, "y", pd["outputs"][0]["data"][i].get<double>(),
           sd["outputs"][0]["data"][i].get<double>());
    for (std::size_t j = 0; j < 2; ++j) {
      expect(want, "z[" + std::to_string(j) + "]",
             pd["outputs"][1]["data"][2 * i + j].get<double>(),
             sd["outputs"][1]["data"][2 * i + j].get<double>());
    }
  }

  SECTION("OutputComparison returns exactly these differences, row by row") {
    OutputComparison c({}, nullptr);
    const ComparisonOutcome got = c.compare(Route::infer, primary, shadow_body);
    REQUIRE_FALSE(got.skipped);
    REQUIRE(got.outputs.size() == 3);
    for (const OutputOutcome& o : got.outputs) {
      INFO(o.name);
      CHECK(o.kind == OutputKind::number);
      const Expected& e = want.at(o.name);
      REQUIRE(o.differences.size() == kRows);
      for (std::size_t i = 0; i < kRows; ++i) {
        CHECK(o.differences[i].absolute == e.absolute[i]);
        CHECK(o.differences[i].relative == e.relative[i]);
      }
    }
  }

  SECTION("ShadowAnalysis publishes them in the documented buckets") {
    ShadowAnalysisSettings st;
    st.version = "v2";
    ShadowAnalysis a(st);
    ShadowPair pair;
    pair.route = Route::infer;
    pair.primary = {200, 0.1, "application/json", primary, false};
    pair.shadow = {200, 0.1, "application/json", shadow_body, false};
    a.record_pair(pair);
    const shadow_test::Scrape s(a);
    for (const auto& [name, e] : want) {
      INFO(name);
      const shadow_test::LabelList l = {{"output", name}, {"version", "v2"}};
      for (double le : kAbsBounds) {
        CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", l, le) ==
              static_cast<double>(bucket_count_at(e.absolute, le)));
      }
      for (double le : kRelBounds) {
        CHECK(s.bucket("mlsidecar_shadow_output_relative_difference", l, le) ==
              static_cast<double>(bucket_count_at(e.relative, le)));
      }
      CHECK(s.bucket("mlsidecar_shadow_output_abs_difference", l, INFINITY) == kRows);
      CHECK_THAT(s.sum("mlsidecar_shadow_output_abs_difference", l),
                 Catch::Matchers::WithinRel(total(e.absolute), 1e-12));
      CHECK_THAT(s.sum("mlsidecar_shadow_output_relative_difference", l),
                 Catch::Matchers::WithinRel(total(e.relative), 1e-12));
    }
    // Every scale was exercised: some exact ties, some differences in the tails.
    CHECK(bucket_count_at(want.at("y").absolute, 0) > 0);
    CHECK(bucket_count_at(want.at("y").absolute, 10) < kRows);
    CHECK(bucket_count_at(want.at("y").relative, 10) < kRows);
  }
}

TEST_CASE("output comparison: argmax per row, the first of equal values wins") {
  OutputComparison c({mlsidecar::drift::PayloadFormat::automatic, {}, {"predictions"}}, nullptr);
  // The header's example, then ties: [0.5, 0.5] is class 0 on both sides; [0.5, 0.5] against
  // [0.4, 0.6] is not.
  const ComparisonOutcome got = c.compare(
      Route::predict, R"({"predictions": [[0.1, 0.9], [0.8, 0.2], [0.5, 0.5], [0.5, 0.5]]})",
      R"({"predictions": [[0.3, 0.7], [0.4, 0.6], [0.5, 0.5], [0.4, 0.6]]})");
  REQUIRE_FALSE(got.skipped);
  REQUIRE(got.outputs.size() == 1);
  CHECK(got.outputs[0].name == "predictions");
  CHECK(got.outputs[0].kind == OutputKind::argmax);
  CHECK(got.outputs[0].compared == 4);
  CHECK(got.outputs[0].matches == 2);
}

TEST_CASE("output comparison: labels with missing values, outputs only one side has") {
  OutputComparison c({mlsidecar::drift::PayloadFormat::automatic, {"label"}, {}}, nullptr);
  // Row 0: both null (not compared); row 1: one null (a disagreement); row 2: equal.
  const ComparisonOutcome got =
      c.compare(Route::predict,
                R"({"predictions": [{"label": null}, {"label": "a"}, {"label": "b", "extra": 1}]})",
                R"({"predictions": [{"label": null}, {"label": null}, {"label": "b"}]})");
  REQUIRE_FALSE(got.skipped);
  REQUIRE(got.outputs.size() == 1);  // "extra" is only in the primary's answer
  CHECK(got.outputs[0].kind == OutputKind::label);
  CHECK(got.outputs[0].compared == 2);
  CHECK(got.outputs[0].matches == 1);
}

TEST_CASE("output comparison: argmax columns named by the profile") {
  mlsidecar::drift::ReferenceProfile profile;
  profile.tensor_columns["probs"] = {"p_cat", "p_dog"};
  OutputComparison c({mlsidecar::drift::PayloadFormat::automatic, {}, {"probs"}}, &profile);
  CHECK(c.is_argmax_column("p_dog"));
  CHECK(c.is_argmax_column("probs[7]"));
  CHECK_FALSE(c.is_argmax_column("probs[x]"));
  CHECK_FALSE(c.is_argmax_column("probs"));
  const ComparisonOutcome got =
      c.compare(Route::infer,
                R"({"outputs": [{"name": "probs", "shape": [2, 2], "datatype": "FP32",
                       "data": [0.9, 0.1, 0.2, 0.8]}]})",
                R"({"outputs": [{"name": "probs", "shape": [2, 2], "datatype": "FP32",
                       "data": [0.6, 0.4, 0.7, 0.3]}]})");
  REQUIRE(got.outputs.size() == 1);
  CHECK(got.outputs[0].name == "probs");
  CHECK(got.outputs[0].compared == 2);
  CHECK(got.outputs[0].matches == 1);
}

TEST_CASE("output comparison: argmax of a vector in KServe V1 object rows") {
  // {"label": .., "probs": [..]} per row: probs is compared by its argmax, label as a label.
  OutputComparison c({mlsidecar::drift::PayloadFormat::automatic, {}, {"probs"}}, nullptr);
  const ComparisonOutcome got =
      c.compare(Route::predict,
                R"({"predictions": [{"label": "dog", "probs": [0.1, 0.2, 0.7]},
                          {"label": "cat", "probs": [0.6, 0.3, 0.1]},
                          {"label": "cat", "probs": [0.5, 0.4, 0.1]}]})",
                R"({"predictions": [{"label": "dog", "probs": [0.2, 0.1, 0.7]},
                          {"label": "dog", "probs": [0.1, 0.3, 0.6]},
                          {"label": "cat", "probs": [0.9, 0.0, 0.1]}]})");
  REQUIRE_FALSE(got.skipped);
  REQUIRE(got.outputs.size() == 2);
  CHECK(got.outputs[0].name == "probs");
  CHECK(got.outputs[0].kind == OutputKind::argmax);
  CHECK(got.outputs[0].compared == 3);
  CHECK(got.outputs[0].matches == 2);
  CHECK(got.outputs[1].name == "label");
  CHECK(got.outputs[1].kind == OutputKind::label);
  CHECK(got.outputs[1].matches == 2);
  // A shadow whose vector has another width answers another schema.
  const ComparisonOutcome wider =
      c.compare(Route::predict, R"({"predictions": [{"probs": [0.1, 0.9]}]})",
                R"({"predictions": [{"probs": [0.1, 0.8, 0.1]}]})");
  CHECK(wider.skipped == SkipReason::shape_mismatch);
}
