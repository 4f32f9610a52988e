// DriftEngine end to end without a proxy: bodies offered as an I/O thread would, statistics and
// counters read back the way a user reads them (Collect() and /drift).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/metric_family.h>
#include <nlohmann/json.hpp>

#include "metrics/drift/drift_engine.h"
#include "metrics/drift/drift_state.h"
#include "metrics/drift/drift_window.h"
#include "metrics/drift/sample_queue.h"
#include "metrics/drift/statistics.h"

using namespace mlsidecar::drift;
using mlsidecar::Route;
using nlohmann::json;

namespace {

ReferenceProfile test_profile() {
  ReferenceProfile p;
  FeatureProfile x;
  x.name = "x";
  x.kind = FeatureKind::numeric;
  x.count = 4;
  x.mean = 0;
  x.std = 1;
  x.min = -1;
  x.max = 1;
  x.edges = {0.0};
  x.ratios = {0.5, 0.5};
  x.sample = {-1.0, -0.5, 0.5, 1.0};
  FeatureProfile color;
  color.name = "color";
  color.kind = FeatureKind::categorical;
  color.count = 10;
  color.categories = {{"red", 0.6}, {"blue", 0.4}};
  FeatureProfile out;
  out.name = "predictions";
  out.direction = Direction::output;
  out.kind = FeatureKind::numeric;
  out.count = 2;
  out.std = 0.5;
  out.edges = {0.5};
  out.ratios = {0.5, 0.5};
  out.sample = {0.0, 1.0};
  p.features = {x, color, out};
  p.input_columns = {"x", "color"};
  return p;
}

DriftSettings small_settings() {
  DriftSettings s;
  s.window = 100;
  s.queue_capacity = 8;
  return s;
}

// Value of a series in Collect() output, NaN when absent.
double series(const DriftEngine& e, const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const auto& fam : e.Collect()) {
    if (fam.name != name) continue;
    for (const auto& m : fam.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (match)
        return fam.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return std::nan("");
}

json feature_doc(const DriftEngine& e, const std::string& name, const std::string& dir = "input") {
  json doc = json::parse(e.drift_json());
  for (const auto& f : doc["features"]) {
    if (f["name"] == name && f["direction"] == dir) return f;
  }
  return {};
}

}  // namespace

TEST_CASE("engine: values reach the windows and the statistics are published") {
  DriftEngine e(small_settings(), 2, test_profile());
  // 3 of 4 x-values above the edge 0, colors 2 red 2 blue; list rows named by the profile.
  REQUIRE(e.offer(0, Direction::input, Route::predict,
                  R"({"instances": [[0.2, "red"], [0.7, "red"]]})"));
  REQUIRE(e.offer(1, Direction::input, Route::predict,
                  R"({"instances": [{"x": -0.3, "color": "blue"}, {"x": 2.0, "color": "blue"}]})"));
  REQUIRE(e.offer(0, Direction::output, Route::predict, R"({"predictions": [0.9, 0.8]})"));
  e.compute_now();

  const std::vector<double> ref{0.5, 0.5}, live{0.25, 0.75};
  CHECK_THAT(series(e, "mlsidecar_drift_psi", {{"feature", "x"}, {"direction", "input"}}),
             Catch::Matchers::WithinRel(psi(ref, live), 1e-12));
  CHECK(series(e, "mlsidecar_drift_window_samples", {{"feature", "x"}}) == 4);
  CHECK(series(e, "mlsidecar_feature_bin_observations_total", {{"feature", "x"}, {"bin", "1"}}) ==
        3);
  CHECK(series(e, "mlsidecar_feature_reference_ratio", {{"feature", "x"}, {"bin", "0"}}) == 0.5);
  CHECK(series(e, "mlsidecar_feature_bin_observations_total",
               {{"feature", "color"}, {"bin", "blue"}}) == 2);
  CHECK(series(e, "mlsidecar_drift_ks_statistic", {{"feature", "x"}}) > 0);
  CHECK(std::isfinite(series(e, "mlsidecar_drift_wasserstein", {{"feature", "x"}})));
  CHECK(std::isfinite(series(e, "mlsidecar_drift_chi2_pvalue", {{"feature", "color"}})));
  // Categorical features have no KS; numeric ones no chi-square.
  CHECK(std::isnan(series(e, "mlsidecar_drift_ks_statistic", {{"feature", "color"}})));
  CHECK(std::isnan(series(e, "mlsidecar_drift_chi2_pvalue", {{"feature", "x"}})));
  CHECK(series(e, "mlsidecar_drift_window_samples",
               {{"feature", "predictions"}, {"direction", "output"}}) == 2);
  CHECK(series(e, "mlsidecar_drift_samples_total", {{"direction", "input"}}) == 2);

  json x = feature_doc(e, "x");
  CHECK(x["window_samples"] == 4);
  CHECK(x["statistics"]["ks_method"] == "exact");
  CHECK(x["bins"][1]["window_ratio"] == 0.75);
  CHECK(x["bins"][0]["upper"] == 0.0);
  CHECK(x["reference"]["sample_size"] == 4);
  CHECK(json::parse(e.drift_json())["computed_at"].is_string());
}

TEST_CASE("engine: a metric prefix and constant labels rename every published family") {
  DriftSettings s = small_settings();
  s.metric_prefix = "mlsidecar_shadow_";
  s.metric_labels = {{"version", "v2"}};
  DriftEngine e(s, 1, test_profile());
  REQUIRE(e.offer(0, Direction::output, Route::predict, R"({"predictions": [0.9, 0.8]})"));
  e.compute_now();
  std::size_t families = 0;
  for (const auto& fam : e.Collect()) {
    ++families;
    CHECK(fam.name.rfind("mlsidecar_shadow_", 0) == 0);
    for (const auto& m : fam.metric) {
      CHECK(std::count_if(m.label.begin(), m.label.end(), [](const auto& l) {
              return l.name == "version" && l.value == "v2";
            }) == 1);
    }
  }
  CHECK(families == DriftEngine(small_settings(), 1, test_profile()).Collect().size());
  CHECK(series(e, "mlsidecar_shadow_drift_window_samples",
               {{"feature", "predictions"}, {"direction", "output"}, {"version", "v2"}}) == 2);
  CHECK(series(e, "mlsidecar_shadow_feature_missing_total", {{"feature", "x"}}) == 0);
  CHECK(std::isnan(series(e, "mlsidecar_drift_window_samples", {{"feature", "predictions"}})));
}

TEST_CASE("engine: missing and non-numeric values are counted, not dropped silently") {
  DriftEngine e(small_settings(), 1, test_profile());
  e.offer(
      0, Direction::input, Route::predict,
      R"({"instances": [{"color": "red"}, {"x": null, "color": "red"}, {"x": "abc", "color": "red"}]})");
  e.compute_now();
  CHECK(series(e, "mlsidecar_feature_missing_total", {{"feature", "x"}}) == 2);
  CHECK(series(e, "mlsidecar_feature_invalid_total", {{"feature", "x"}}) == 1);
  CHECK(series(e, "mlsidecar_feature_missing_total", {{"feature", "color"}}) == 0);
  CHECK(series(e, "mlsidecar_drift_window_samples", {{"feature", "x"}}) == 0);
  // No values: no statistic is published rather than a made-up one.
  CHECK(std::isnan(series(e, "mlsidecar_drift_psi", {{"feature", "x"}})));
  CHECK(feature_doc(e, "x")["statistics"]["psi"].is_null());
}

TEST_CASE("engine: categories never seen in the reference stay finite") {
  DriftEngine e(small_settings(), 1, test_profile());
  e.offer(
      0, Direction::input, Route::predict,
      R"({"instances": [{"x": 1, "color": "green"}, {"x": 1, "color": "purple"}, {"x": 1, "color": 7}]})");
  e.compute_now();
  const double p = series(e, "mlsidecar_drift_chi2_pvalue", {{"feature", "color"}});
  const double psi_v = series(e, "mlsidecar_drift_psi", {{"feature", "color"}});
  CHECK(std::isfinite(p));
  CHECK(p < 1e-6);
  CHECK(std::isfinite(psi_v));
  CHECK(psi_v > 1.0);
  CHECK(series(e, "mlsidecar_drift_js_distance", {{"feature", "color"}}) == 1.0);
  CHECK(series(e, "mlsidecar_feature_bin_observations_total",
               {{"feature", "color"}, {"bin", "__other__"}}) == 3);
}

TEST_CASE("engine: full queues drop and count, large and malformed bodies are skipped") {
  DriftSettings s = small_settings();
  s.queue_capacity = 2;
  s.max_body = 64;
  DriftEngine e(s, 1, test_profile());
  const std::string body = R"({"instances": [[1, "red"]]})";
  CHECK(e.offer(0, Direction::input, Route::predict, body));
  CHECK(e.offer(0, Direction::input, Route::predict, body));
  CHECK_FALSE(e.offer(0, Direction::input, Route::predict, body));  // full: no waiting
  CHECK_FALSE(e.offer(0, Direction::input, Route::predict, std::string(65, ' ')));
  CHECK_FALSE(e.offer(5, Direction::input, Route::predict, body));  // no such producer
  e.drain_now();
  CHECK(e.offer(0, Direction::input, Route::predict, "{not json"));
  CHECK(e.offer(0, Direction::input, Route::health, "{}"));
  e.compute_now();
  CHECK(series(e, "mlsidecar_drift_dropped_samples_total", {}) == 1);
  CHECK(series(e, "mlsidecar_drift_skipped_total", {{"reason", "too_large"}}) == 1);
  CHECK(series(e, "mlsidecar_drift_skipped_total", {{"reason", "invalid_json"}}) == 1);
  CHECK(series(e, "mlsidecar_drift_skipped_total", {{"reason", "unsupported_route"}}) == 1);
  CHECK(series(e, "mlsidecar_drift_window_samples", {{"feature", "x"}}) == 2);
}

TEST_CASE("engine: sampling rate") {
  DriftSettings s = small_settings();
  s.sample_rate = 0.25;
  DriftEngine e(s, 2, test_profile());
  int yes = 0;
  for (int i = 0; i < 100000; ++i) yes += e.should_sample(1) ? 1 : 0;
  CHECK(yes > 24000);
  CHECK(yes < 26000);
  CHECK_FALSE(e.should_sample(2));
  s.sample_rate = 0.0;
  DriftEngine never(s, 1, test_profile());
  s.sample_rate = 1.0;
  DriftEngine always(s, 1, test_profile());
  bool any = false, all = true;
  for (int i = 0; i < 1000; ++i) {
    any = any || never.should_sample(0);
    all = all && always.should_sample(0);
  }
  CHECK_FALSE(any);
  CHECK(all);
}

TEST_CASE("engine: features past --drift-max-features are ignored and counted") {
  DriftSettings s = small_settings();
  s.max_features = 1;
  DriftEngine e(s, 1, test_profile());
  e.offer(0, Direction::input, Route::predict, R"({"instances": [[1, "red"]]})");
  e.compute_now();
  CHECK(series(e, "mlsidecar_drift_window_samples", {{"feature", "x"}}) == 1);
  CHECK(std::isnan(series(e, "mlsidecar_drift_window_samples", {{"feature", "color"}})));
  CHECK(series(e, "mlsidecar_drift_untracked_values_total", {}) == 1);
}

TEST_CASE("engine: only a direction with a profile feature is watched") {
  DriftEngine both(small_settings(), 1, test_profile());
  CHECK(both.watches(Direction::input));
  CHECK(both.watches(Direction::output));
  ReferenceProfile inputs = test_profile();
  inputs.features.pop_back();  // "predictions", the only output
  DriftEngine in_only(small_settings(), 1, inputs);
  CHECK(in_only.watches(Direction::input));
  CHECK_FALSE(in_only.watches(Direction::output));
}

TEST_CASE("reference profile: bin_of is the upper bound of the value among the edges") {
  // The count of edges <= x used for short edge lists must agree with a binary search, on the
  // edges themselves, between them, beyond them and at -0.0; and for long lists too.
  for (std::size_t n :
       {std::size_t{1}, std::size_t{9}, std::size_t{32}, std::size_t{33}, std::size_t{100}}) {
    FeatureProfile f;
    f.kind = FeatureKind::numeric;
    for (std::size_t i = 0; i < n; ++i) f.edges.push_back(static_cast<double>(i) - 4.0);
    std::vector<double> xs = {-1e300, 1e300, -0.0, 0.0};
    for (double e : f.edges) {
      xs.push_back(e);
      xs.push_back(std::nextafter(e, -1e9));
      xs.push_back(e + 0.5);
    }
    // The engine's own copy, counted two edges at a time.
    f.ratios.assign(n + 1, 1.0 / static_cast<double>(n + 1));
    std::vector<DriftCell> cells(n + 1);
    const DriftEngine::FeatureState state(f, 4, f.edges.data(), cells.data());
    for (double x : xs) {
      INFO("edges " << n << ", x " << x);
      const auto expected = static_cast<std::size_t>(
          std::upper_bound(f.edges.begin(), f.edges.end(), x) - f.edges.begin());
      CHECK(f.bin_of(x) == expected);
      CHECK(state.bin_of(x) == expected);
    }
  }
}

TEST_CASE("engine: the worker computes on its interval and stops") {
  DriftSettings s = small_settings();
  s.interval = std::chrono::milliseconds(20);
  DriftEngine e(s, 1, test_profile());
  e.start();
  e.offer(0, Direction::input, Route::predict, R"({"instances": [[1, "red"]]})");
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {  // poll up to 5 s
    seen = series(e, "mlsidecar_drift_window_samples", {{"feature", "x"}}) == 1;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(seen);
  e.stop();
  e.stop();
}

TEST_CASE("engine: a bad profile path fails with one line naming the file") {
  DriftSettings s;
  s.profile_path = "/nonexistent/profile.json";
  try {
    DriftEngine e(s, 1);
    FAIL("no exception");
  } catch (const std::runtime_error& err) {
    const std::string msg = err.what();
    CHECK(msg.find("/nonexistent/profile.json") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  s.profile_path = "";
  CHECK_THROWS_AS(DriftEngine(s, 1), std::runtime_error);
  DriftSettings bad_rate = small_settings();
  bad_rate.sample_rate = 2.0;
  CHECK_THROWS_AS(DriftEngine(bad_rate, 1, test_profile()), std::runtime_error);
}

TEST_CASE("reference profile: JSON round trip and validation") {
  const ReferenceProfile p = test_profile();
  const ReferenceProfile back = parse_profile(profile_to_json(p), "mem");
  REQUIRE(back.features.size() == 3);
  CHECK(back.features[0].sample == p.features[0].sample);
  CHECK(back.features[1].categories[1].value == "blue");
  CHECK(back.features[2].direction == Direction::output);
  CHECK(back.input_columns == p.input_columns);

  auto error_of = [](const std::string& text) {
    try {
      parse_profile(text, "p.json");
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  json doc = json::parse(profile_to_json(p));
  CHECK(error_of("{") == "p.json: not valid JSON");
  json v = doc;
  v["version"] = 2;
  CHECK_THAT(error_of(v.dump()), Catch::Matchers::Contains("unsupported profile version"));
  json r = doc;
  r["features"][0]["bin_ratios"] = {0.5, 0.6};
  CHECK_THAT(error_of(r.dump()), Catch::Matchers::Contains("shares sum to"));
  json u = doc;
  u["features"][0]["bin_edges"] = {1.0, 0.0};
  u["features"][0]["bin_ratios"] = {0.3, 0.3, 0.4};
  CHECK_THAT(error_of(u.dump()), Catch::Matchers::Contains("strictly increasing"));
  json d = doc;
  d["features"][1]["name"] = "x";
  CHECK_THAT(error_of(d.dump()), Catch::Matchers::Contains("appears twice"));
  json k = doc;
  k["features"][0]["kind"] = "text";
  CHECK_THAT(error_of(k.dump()), Catch::Matchers::StartsWith("p.json: features[0] ('x')"));
}

TEST_CASE("engine: the window's bin shares follow values leaving a full window") {
  DriftSettings s = small_settings();
  s.window = 3;
  DriftEngine e(s, 1, test_profile());
  // x: -1, -2 (bin 0), then 5, 6, 7 (bin 1) push both negatives out; colors likewise.
  REQUIRE(e.offer(0, Direction::input, Route::predict,
                  R"({"instances": [[-1, "red"], [-2, "red"], [5, "blue"]]})"));
  e.compute_now();
  CHECK(feature_doc(e, "x")["bins"][0]["window_ratio"] == Approx(2.0 / 3));
  REQUIRE(e.offer(0, Direction::input, Route::predict,
                  R"({"instances": [[6, "blue"], [7, "green"]]})"));
  e.compute_now();
  json x = feature_doc(e, "x");
  CHECK(x["window_samples"] == 3);
  CHECK(x["bins"][0]["window_ratio"] == 0.0);
  CHECK(x["bins"][1]["window_ratio"] == 1.0);
  const std::vector<double> ref{0.5, 0.5}, live{0.0, 1.0};
  CHECK_THAT(x["statistics"]["psi"].get<double>(),
             Catch::Matchers::WithinRel(psi(ref, live), 1e-12));
  // color window: blue, blue, green (__other__): red has left it.
  const std::vector<double> cref{0.6, 0.4, 0.0}, ccounts{0, 2, 1};
  CHECK_THAT(feature_doc(e, "color")["statistics"]["js_distance"].get<double>(),
             Catch::Matchers::WithinRel(js_distance(cref, ccounts), 1e-12));
  // The counters since start still hold every value.
  CHECK(series(e, "mlsidecar_feature_bin_observations_total", {{"feature", "x"}, {"bin", "0"}}) ==
        2);
}

TEST_CASE("DriftWindow keeps the most recent values") {
  DriftWindow<double> w(3);
  for (double x : {1.0, 2.0, 3.0, 4.0}) w.push(x);
  std::vector<double> v;
  w.copy_to(v);
  std::sort(v.begin(), v.end());
  CHECK(v == std::vector<double>{2, 3, 4});
  CHECK(w.size() == 3);
  double evicted = 0;
  CHECK(w.push(5.0, evicted));
  CHECK(evicted == 2.0);
  DriftWindow<double> fresh(2);
  CHECK_FALSE(fresh.push(1.0, evicted));
}

TEST_CASE("SampleQueue is bounded in slots and bytes and hands bodies over in order") {
  SampleQueue q(3, 10);  // rounds up to 4 slots
  CHECK(q.capacity() == 4);
  CHECK(q.try_push(Direction::input, Route::infer, "abcd"));
  CHECK(q.try_push(Direction::output, Route::infer, "efgh"));
  CHECK_FALSE(q.try_push(Direction::input, Route::infer, "ijk"));  // 11 bytes > 10
  std::vector<std::string> got;
  CHECK(q.drain([&](const Sample& s) { got.push_back(s.body); }) == 2);
  CHECK(got == std::vector<std::string>{"abcd", "efgh"});
  for (int i = 0; i < 4; ++i) CHECK(q.try_push(Direction::input, Route::infer, "a"));
  CHECK_FALSE(q.try_push(Direction::input, Route::infer, "a"));

  // One producer thread and one consumer: every pushed body arrives once, in order.
  SampleQueue spsc(64, 1 << 20);
  constexpr int kCount = 20000;
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) {
      const std::string body = std::to_string(i);
      while (!spsc.try_push(Direction::input, Route::infer, body)) std::this_thread::yield();
    }
  });
  int next = 0;
  bool in_order = true;
  while (next < kCount) {
    spsc.drain([&](const Sample& s) { in_order = in_order && s.body == std::to_string(next++); });
  }
  producer.join();
  CHECK(in_order);
}

TEST_CASE("SampleQueue keeps at most its budget of buffers for reuse, whatever the sizes seen") {
  // Buffers of every size come back from the worker; before the total budget, each slot kept the
  // largest body it had held, and memory grew with the traffic's mix of sizes (found by the soak
  // test).
  SampleQueue q(4096, std::size_t{1} << 30);
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 4096; ++i) {
      REQUIRE(q.try_push(Direction::input, Route::infer, std::string(15 * 1024, 'x')));
    }
    q.drain([](const Sample&) {});
    CHECK(q.spare_bytes() > 0);
    CHECK(q.spare_bytes() <= 1024u * 1024);
  }
  // Bodies over 16 KiB are not kept at all.
  for (int i = 0; i < 64; ++i) {
    REQUIRE(q.try_push(Direction::input, Route::infer, std::string(20 * 1024, 'x')));
  }
  q.drain([](const Sample&) {});
  CHECK(q.spare_bytes() <= 1024u * 1024);
}

TEST_CASE("SampleQueue recycles the worker's buffers instead of allocating one per push") {
  // Push and drain in turn through every slot of the ring: the same one or two buffers carry
  // every body (a buffer kept per slot would give one per slot).
  SampleQueue q(256, 1 << 20);
  const std::string body(300, 'b');
  std::set<const char*> buffers;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(q.try_push(Direction::input, Route::infer, body));
    q.drain([&](const Sample& s) {
      CHECK(s.body == body);
      buffers.insert(s.body.data());
    });
  }
  CHECK(buffers.size() <= 2);
}
