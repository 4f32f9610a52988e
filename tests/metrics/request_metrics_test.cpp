#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "metrics/request_metrics.h"

using namespace mlsidecar;
using namespace mlsidecar::metrics;

namespace {

// Finds the metric of `family` whose labels include all of `want`.
const prometheus::ClientMetric* find(const std::vector<prometheus::MetricFamily>& families,
                                     const std::string& family,
                                     std::map<std::string, std::string> want) {
  for (const auto& f : families) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      std::size_t hits = 0;
      for (const auto& l : m.label) {
        auto it = want.find(l.name);
        if (it != want.end() && it->second == l.value) ++hits;
      }
      if (hits == want.size()) return &m;
    }
  }
  return nullptr;
}

RequestSample sample(std::size_t series, Route route, unsigned status, double seconds) {
  RequestSample s;
  s.series = series;
  s.route = route;
  s.status = status;
  s.duration_seconds = seconds;
  s.upstream_seconds = seconds / 2;
  s.first_byte_seconds = seconds / 4;
  s.request_bytes = 100;
  s.response_bytes = 5000;
  return s;
}

}  // namespace

TEST_CASE("requests are counted per model, version, route and status class") {
  RequestMetrics metrics(2, 8, "default", "1");
  auto& a = metrics.shard(0);
  auto& b = metrics.shard(1);
  std::size_t iris = metrics.model_index("iris", "2");
  for (int i = 0; i < 3; ++i) {
    a.request_started();
    a.request_finished(sample(iris, Route::predict, 200, 0.004));
  }
  b.request_started();
  b.request_finished(sample(iris, Route::predict, 503, 0.3));
  b.request_started();
  b.request_finished(sample(metrics.model_index("", ""), Route::infer, 404, 0.02));

  auto families = metrics.Collect();
  auto* ok = find(families, "mlsidecar_requests_total",
                  {{"model", "iris"}, {"version", "2"}, {"route", "predict"}, {"code", "2xx"}});
  REQUIRE(ok);
  CHECK(ok->counter.value == 3);
  auto* err = find(families, "mlsidecar_requests_total", {{"model", "iris"}, {"code", "5xx"}});
  REQUIRE(err);
  CHECK(err->counter.value == 1);
  auto* dflt = find(families, "mlsidecar_requests_total",
                    {{"model", "default"}, {"version", "1"}, {"route", "infer"}, {"code", "4xx"}});
  REQUIRE(dflt);
  CHECK(dflt->counter.value == 1);
  CHECK(find(families, "mlsidecar_inflight_requests", {})->gauge.value == 0);
}

TEST_CASE("error classes exist at zero once a route has traffic, so rate() sees the first errors") {
  RequestMetrics metrics(1, 4, "m", "");
  metrics.shard(0).request_started();
  metrics.shard(0).request_finished(sample(0, Route::predict, 200, 0.01));
  auto families = metrics.Collect();
  for (const char* code : {"2xx", "4xx", "5xx"}) {
    auto* m = find(families, "mlsidecar_requests_total", {{"route", "predict"}, {"code", code}});
    REQUIRE(m);
    CHECK(m->counter.value == (std::string(code) == "2xx" ? 1 : 0));
  }
  CHECK_FALSE(find(families, "mlsidecar_requests_total", {{"route", "infer"}}));
}

TEST_CASE("latency histograms are cumulative, with +Inf equal to the count") {
  RequestMetrics metrics(1, 4, "m", "");
  auto& s = metrics.shard(0);
  for (double v : {0.0005, 0.003, 0.003, 0.2, 400.0}) {
    s.request_started();
    s.request_finished(sample(0, Route::infer, 200, v));
  }
  auto families = metrics.Collect();
  auto* h = find(families, "mlsidecar_request_duration_seconds", {{"route", "infer"}});
  REQUIRE(h);
  const auto& hist = h->histogram;
  CHECK(hist.sample_count == 5);
  CHECK(hist.sample_sum == Approx(0.0005 + 0.003 + 0.003 + 0.2 + 400.0));
  REQUIRE(std::isinf(hist.bucket.back().upper_bound));
  CHECK(hist.bucket.back().cumulative_count == 5);
  for (std::size_t i = 1; i < hist.bucket.size(); ++i) {
    CHECK(hist.bucket[i].cumulative_count >= hist.bucket[i - 1].cumulative_count);
  }
  // le=0.001 holds one, le=0.005 three, le=0.25 four, le=300 still four.
  auto count_at = [&](double le) {
    for (const auto& b : hist.bucket) {
      if (b.upper_bound == le) return b.cumulative_count;
    }
    return std::uint64_t{999};
  };
  CHECK(count_at(0.001) == 1);
  CHECK(count_at(0.005) == 3);
  CHECK(count_at(0.25) == 4);
  CHECK(count_at(300) == 4);
}

TEST_CASE("too many model names fold into 'other' instead of new series") {
  RequestMetrics metrics(1, 3, "default", "");  // default + one more + other
  auto& s = metrics.shard(0);
  for (int i = 0; i < 10; ++i) {
    std::size_t series = metrics.model_index("random-" + std::to_string(i), "");
    s.request_started();
    s.request_finished(sample(series, Route::predict, 200, 0.01));
  }
  auto families = metrics.Collect();
  std::set<std::string> models;
  for (const auto& f : families) {
    if (f.name != "mlsidecar_requests_total") continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "model") models.insert(l.value);
      }
    }
  }
  CHECK(models == std::set<std::string>{"random-0", "other"});
  auto* other = find(families, "mlsidecar_requests_total", {{"model", "other"}});
  REQUIRE(other);
  CHECK(other->counter.value == 9);
}

TEST_CASE("counting from several threads at once is exact") {
  constexpr int kThreads = 4, kPerThread = 20000;
  RequestMetrics metrics(kThreads, 4, "m", "");
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto& shard = metrics.shard(static_cast<std::size_t>(t));
      for (int i = 0; i < kPerThread; ++i) {
        shard.request_started();
        shard.request_finished(sample(0, Route::predict, 200, 0.001));
      }
    });
  }
  // Scrapes while the threads count must not disturb them.
  for (int i = 0; i < 20; ++i) (void)metrics.Collect();
  for (auto& th : threads) th.join();
  auto families = metrics.Collect();
  CHECK(find(families, "mlsidecar_requests_total", {{"code", "2xx"}})->counter.value ==
        kThreads * kPerThread);
  CHECK(find(families, "mlsidecar_request_duration_seconds", {})->histogram.sample_count ==
        static_cast<std::uint64_t>(kThreads * kPerThread));
}
